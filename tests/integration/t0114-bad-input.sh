#!/usr/bin/env bash
# Bad input is refused with the contract's exit code and one clear stderr
# line, and changes nothing: values that do not parse or lie outside their
# range (64, judged by tokq: an id with control characters, empty or over
# 128 bytes, negative tokens), and data the daemon rejects (65): an unknown
# hold, a key reused with other fields, counts that do not add up.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

events() { "$TOKQ" --socket "$SOCK" --json status 2>/dev/null | jq -r .events; }
rules() { "$TOKQ" --socket "$SOCK" --json limit list 2>/dev/null | jq -c .rules; }
# refused CODE WHAT ARGS...: tq ARGS must exit CODE with one stderr line
# and record nothing ($e0: the events before; the rules are compared once
# per block, against $r0)
refused() {
	local code=$1 what=$2
	shift 2
	tq "$@"
	is "$rc" "$code" "$what: exit $code"
	is "$(stderr_lines)" 1 "$what: one stderr line"
	like "$err" '^tokq: .{10,}' "$what: the line says what is wrong"
	is "$out" "" "$what: nothing on stdout"
	is "$(events)" "$e0" "$what: nothing recorded"
}

start_tokqd
tq clock set 2026-12-01T10:00:00Z
tq limit set --user u --tokens 1000
tq record --user u --model m --prompt 10 --key k1

id128=$(printf 'x%.0s' $(seq 128))
id129=${id128}x

e0=$(events) r0=$(rules)

# --- data the daemon rejects: 65 ---------------------------------------------------
refused 65 "record --hold with an unknown hold" record --user u --model m --prompt 10 --hold no-such-hold
refused 65 "release of an unknown hold" release no-such-hold
refused 65 "key k1 reused with other fields" record --user u --model m --prompt 11 --key k1
refused 65 "cached tokens beyond the prompt" record --user u --model m --prompt 10 --cached 11
refused 65 "reasoning tokens beyond the completion" record --user u --model m --completion 10 --reasoning 11
refused 65 "limit rm of no such rule" limit rm --user nobody --tokens
refused 65 "price rm of no such price" price rm no-such-model

is "$(rules)" "$r0" "none of them changed a rule"

# ids at the limits are fine
tqj record --user "$id128" --model m --prompt 10
is "$rc" 0 "a 128-byte user id is fine"
tqj record --user "ユーザー🎉" --guild "サーバー" --model m --prompt 10
is "$rc" 0 "a UTF-8 id is fine"
tqj usage --user "ユーザー🎉"
is "$(jqv .user)" "ユーザー🎉" "and comes back as it was"

# --- values that do not parse or lie outside their range: 64 ---------------------------
# Judged by tokq before anything is sent (the contract, Values): ids and
# negative counts too; tokqd would refuse them from a raw client with 65.
e0=$(events) r0=$(rules)
refused 64 "a user id with a tab" record --user "$(printf 'a\tb')" --model m --prompt 10
refused 64 "a user id with a newline" check --user "$(printf 'a\nb')"
refused 64 "a user id with DEL" record --user "$(printf 'a\177b')" --model m --prompt 10
refused 64 "a model id with an escape" record --user u --model "$(printf 'gpt\033[31m')" --prompt 10
refused 64 "a guild id with a ^A (0x01) byte" record --user u --guild "$(printf 'g\001')" --model m --prompt 10
refused 64 "a 129-byte user id" record --user "$id129" --model m --prompt 10
refused 64 "a 129-byte subject in limit set" limit set --user "$id129" --tokens 5
refused 64 "an id that is not UTF-8" record --user "$(printf '\377\376')" --model m --prompt 10
refused 64 "an empty user id" record --user "" --model m --prompt 10
refused 64 "a 129-byte session id" record --user u --model m --prompt 10 --session "$id129"
refused 64 "negative prompt tokens" record --user u --model m --prompt -5
refused 64 "--per 3x" limit set --user u --tokens 1 --per 3x
refused 64 "--per 0d" limit set --user u --tokens 1 --per 0d
refused 64 "--cost 1.2.3 in limit set" limit set --user u --cost 1.2.3
refused 64 "--cost 1.2.3 in record" record --user u --model m --prompt 1 --cost 1.2.3
refused 64 "--cost 1.2.3 in check" check --user u --cost 1.2.3
refused 64 "--cost abc in price set" price set m --input abc --output 1
refused 64 "--tokens 1.5" limit set --user u --tokens 1.5
refused 64 "--tokens -2" limit set --user u --tokens -2
refused 64 "--prompt 12abc" record --user u --model m --prompt 12abc
refused 64 "--at that is no time" record --user u --model m --prompt 1 --at 2026-99-01
refused 64 "two selectors" limit set --user u --default --tokens 1
refused 64 "two metrics" limit set --user u --tokens 1 --cost 1
refused 64 "no metric" limit set --user u
refused 64 "--model and --each-model" limit set --user u --model m --each-model --tokens 1
refused 64 "record without --model" record --user u --prompt 1
refused 64 "record without anything to record" record --user u --model m
refused 64 "check without --user" check --tokens 5
refused 64 "an unknown flag" record --user u --model m --prompt 1 --bogus
refused 64 "an unknown command" frobnicate

is "$(rules)" "$r0" "none of them changed a rule"

# tokqd is still fine
tqj status
is "$rc" 0 "tokqd still answers"

stop_tokqd
done_testing
