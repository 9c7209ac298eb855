#!/usr/bin/env bash
# Bad input is refused with the contract's exit code and one clear stderr
# line: 64 for usage errors and values outside their range, ids included
# (caught by tokq before anything is sent), 65 for invalid data (refused by
# tokqd, and nothing is recorded), 69 when tokqd cannot be reached.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

start_tokqd
tq clock set 2026-12-01T10:00:00Z

events() { tqj status; jqv .events; }

# --- usage errors: 64 ---------------------------------------------------------
tq check
is "$rc" 64 "check without --user exits 64"
is "$(stderr_lines)" 1 "with one line on stderr"
like "$err" '--user' "which names --user"
is "$out" "" "and nothing on stdout"

tq record --model gpt-4o --prompt 1
is "$rc" 64 "record without --user exits 64"
tq record --user 42 --prompt 1
is "$rc" 64 "record without --model (and without --usage-json) exits 64"
tq check --user 42 --tokens abc
is "$rc" 64 "--tokens abc exits 64"
like "$err" 'abc' "the message quotes the bad value"
tq record --user 42 --model gpt-4o --prompt -5
is "$rc" 64 "--prompt -5 exits 64 (a count below its range is a usage error)"
tq limit set --user 42 --tokens 5 --per 3x
is "$rc" 64 "--per 3x exits 64"
like "$err" '3x' "the message quotes the bad window"
tq limit set --user 42 --cost 1.2.3
is "$rc" 64 "--cost 1.2.3 exits 64"
tq limit set --user 42 --guild 9 --tokens 5
is "$rc" 64 "two selectors exit 64"
tq limit set --user 42 --tokens 5 --requests 5
is "$rc" 64 "two metrics exit 64"
tq chekc --user 42
is "$rc" 64 "an unknown command exits 64"
like "$err" 'check' "and suggests the close one"
tqj limit list
is "$(jqv '.rules | length')" 0 "none of the refused limit commands set a rule"

# --- unreachable: 69 -----------------------------------------------------------
"$TOKQ" --socket "$T/nowhere.sock" status >"$T/.out" 2>"$T/.err"
rc=$? err=$(<"$T/.err")
is "$rc" 69 "a socket nobody listens on exits 69"
is "$(stderr_lines)" 1 "with one line on stderr"
like "$err" "$T/nowhere.sock" "that names the socket path"

# --- bad ids: 64 (judged by tokq), nothing recorded ---------------------------
n0=$(events)
is "$n0" 0 "no events yet"

tq record --user $'a\tb' --model gpt-4o --prompt 1
is "$rc" 64 "a user id with a tab exits 64"
is "$(stderr_lines)" 1 "with one line on stderr"
tq record --user 42 --model $'gpt\x01' --prompt 1
is "$rc" 64 "a model id with a control character exits 64"
tq check --user $'a\nb'
is "$rc" 64 "check with a newline in the user id exits 64"
id129=$(printf 'x%.0s' $(seq 129))
tq record --user "$id129" --model gpt-4o --prompt 1
is "$rc" 64 "a 129-byte user id exits 64"
tq record --user 42 --guild "$id129" --model gpt-4o --prompt 1
is "$rc" 64 "a 129-byte guild id exits 64"

# --- invalid data: 65, nothing recorded ---------------------------------------
tq record --user 42 --model gpt-4o --prompt 1 --hold no-such-hold
is "$rc" 65 "record --hold with an unknown hold exits 65"
tq release no-such-hold
is "$rc" 65 "release of an unknown hold exits 65"
is "$(stderr_lines)" 1 "with one line on stderr"
is "$(events)" "$n0" "none of the refused records was recorded"

id128=${id129:1}
tq record --user "$id128" --model gpt-4o --prompt 1
is "$rc" 0 "a 128-byte user id is fine"
tq record --user 'Zoë 🤖' --model gpt-4o --prompt 1
is "$rc" 0 "a UTF-8 id with a space and an emoji is fine"
is "$(events)" $((n0 + 2)) "both were recorded"

# --- idempotency keys ----------------------------------------------------------
tqj record --user 42 --model gpt-4o --prompt 100 --completion 10 --key call-1
is "$rc" 0 "a record with --key exits 0"
first=$(jqv .event)
n1=$(events)

tqj record --user 42 --model gpt-4o --prompt 100 --completion 10 --key call-1
is "$rc" 0 "the same key with the same fields exits 0"
is "$(jqv .duplicate)" true "duplicate is true"
is "$(jqv .recorded)" false "recorded is false"
is "$(jqv .event)" "$first" "the reply names the first event"

tq record --user 42 --model gpt-4o --prompt 101 --completion 10 --key call-1
is "$rc" 65 "the same key with other fields exits 65"
is "$(stderr_lines)" 1 "with one line on stderr"
tq record --user 43 --model gpt-4o --prompt 100 --completion 10 --key call-1
is "$rc" 65 "the same key for another user exits 65"

is "$(events)" "$n1" "the key's repeats recorded nothing"
tqj usage --user 42
is "$(jqv .periods.all.total)" 110 "and counted nothing twice"

keylong=$(printf 'k%.0s' $(seq 256))
tq record --user 42 --model gpt-4o --prompt 1 --key "$keylong"
is "$rc" 64 "a 256-byte key is refused (64, judged by tokq)"
is "$(events)" "$n1" "and is not recorded"

stop_tokqd
done_testing
