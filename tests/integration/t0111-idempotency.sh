#!/usr/bin/env bash
# record --key: the same key with the same fields again returns the first
# result (duplicate: true) and counts nothing; with other fields it is
# invalid data (65); keys survive a restart of tokqd.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

events() { "$TOKQ" --socket "$SOCK" --json status 2>/dev/null | jq -r .events; }
alltime() { "$TOKQ" --socket "$SOCK" --json usage --user "$1" 2>/dev/null | jq -c '.periods.all | [.requests, .total, .cost_usd]'; }
reply() { jqv '[.recorded, .duplicate, .event, .prompt, .completion, .total, .cost_usd] | map(tostring) | join(" ")'; }

# crash: SIGKILL tokqd and reap it (lib.sh's kill_tokqd races its watchdog:
# a SIGTERM to the just-forked watchdog can run the EXIT trap there)
crash() { kill -KILL "$TOKQD_PID"; wait "$TOKQD_PID" 2>/dev/null; TOKQD_PID=; }

start_tokqd
tq clock set 2026-12-01T10:00:00Z
tq price set gpt-4o --input 2.5 --output 10
tq limit set --user u --tokens 10000 --per day

# --- the same key, the same fields -----------------------------------------------
n0=$(events)
tqj record --user u --guild g --model gpt-4o --prompt 1000 --completion 200 --key req-1
is "$rc" 0 "record --key req-1: exit 0"
first=$(reply)
ev=$(jqv .event)
is "$first" "true false $ev 1000 200 1200 0.0045" "recorded, not a duplicate, cost \$0.0045"
is "$(events)" $((n0 + 1)) "one event"
tqj record --user u --guild g --model gpt-4o --prompt 1000 --completion 200 --key req-1
is "$rc" 0 "the same record again with the same key: exit 0"
is "$(jqv .duplicate)" true "duplicate: true"
is "$(jqv .recorded)" false "recorded: false"
is "$(jqv '[.event, .prompt, .completion, .total, .cost_usd] | map(tostring) | join(" ")')" "$ev 1000 200 1200 0.0045" \
	"the first result: the same event id, tokens and cost"
is "$(events)" $((n0 + 1)) "still one event"
is "$(alltime u)" "[1,1200,0.0045]" "usage all-time counts it once"
is "$(jqv '.limits[0].used')" 1200 "the limit counts it once"
tq clock advance 1h
tqj record --user u --guild g --model gpt-4o --prompt 1000 --completion 200 --key req-1
is "$(jqv .duplicate)" true "an hour later the retry is still a duplicate"
is "$(alltime u)" "[1,1200,0.0045]" "and still counted once"

# A price change between the first record and the retry changes nothing.
tq price set gpt-4o --input 5 --output 20
tqj record --user u --guild g --model gpt-4o --prompt 1000 --completion 200 --key req-1
is "$(jqv .cost_usd)" 0.0045 "a retry after a price change returns the first cost"

# --- the same key, other fields: 65 ------------------------------------------------------
n0=$(events)
for args in "--user u --guild g --model gpt-4o --prompt 1000 --completion 201" \
	"--user v --guild g --model gpt-4o --prompt 1000 --completion 200" \
	"--user u --guild h --model gpt-4o --prompt 1000 --completion 200" \
	"--user u --guild g --model gpt-4o-mini --prompt 1000 --completion 200" \
	"--user u --guild g --model gpt-4o --prompt 1000 --completion 200 --cost 1"; do
	# shellcheck disable=SC2086
	tq record $args --key req-1
	is "$rc" 65 "key req-1 with other fields ($args): exit 65"
	is "$(stderr_lines)" 1 "one stderr line"
done
like "$err" 'key' "the error names the key"
is "$(events)" "$n0" "none of them recorded anything"
is "$(alltime u)" "[1,1200,0.0045]" "u's usage unchanged"
is "$(alltime v)" "[0,0,0]" "v has nothing"

# --- keys are per record, not per user: another key records ------------------------------
tqj record --user u --guild g --model gpt-4o --prompt 1000 --completion 200 --key req-2
is "$(jqv .duplicate)" false "another key with the same fields records"
is "$(alltime u)" "[2,2400,0.0135]" "u's usage: two records (the second at the new price)"

# --- an array under one key ---------------------------------------------------------
tqj record --user w --model kimi-k2 --session s --key batch-1 --usage-json "$TEST_ROOT/tests/data/usage/dspy_usage_array.json"
evs=$(jqv '.events | join(",")')
is "$(jqv '.events | length')" 3 "an array under key batch-1: three events"
tqj record --user w --model kimi-k2 --session s --key batch-1 --usage-json "$TEST_ROOT/tests/data/usage/dspy_usage_array.json"
is "$(jqv '[.duplicate, (.events | join(",")), .total] | map(tostring) | join(" ")')" "true $evs 10521" \
	"again: duplicate, the same three events, the same total"
is "$(alltime w)" "[3,10521,0]" "w: counted once"
tq record --user w --model kimi-k2 --session s --key batch-1 --usage-json "$TEST_ROOT/tests/data/usage/litellm_usage.json"
is "$rc" 65 "the same key with another usage JSON: exit 65"

# --- key length: at most 255 bytes ------------------------------------------------------
k255=$(printf 'k%.0s' $(seq 255))
tqj record --user x --model m --prompt 1 --key "$k255"
is "$rc" 0 "a 255-byte key is fine"
n0=$(events)
tq record --user x --model m --prompt 1 --key "${k255}k"
like "$rc" '^6[45]$' "a 256-byte key is refused (64 or 65)"
is "$(stderr_lines)" 1 "one stderr line"
is "$(events)" "$n0" "nothing recorded"

# --- keys survive a restart -------------------------------------------------------------
stop_tokqd
start_tokqd
tqj record --user u --guild g --model gpt-4o --prompt 1000 --completion 200 --key req-1
is "$rc" 0 "after a restart, the retry: exit 0"
is "$(jqv '[.duplicate, .event, .cost_usd] | map(tostring) | join(" ")')" "true $ev 0.0045" \
	"is a duplicate with the first event and cost"
tq record --user u --guild g --model gpt-4o --prompt 1 --completion 200 --key req-1
is "$rc" 65 "after a restart, the key with other fields: exit 65"
tqj record --user w --model kimi-k2 --session s --key batch-1 --usage-json "$TEST_ROOT/tests/data/usage/dspy_usage_array.json"
is "$(jqv .duplicate)" true "the array's key too"
is "$(alltime u)" "[2,2400,0.0135]" "u's usage unchanged by the retries"
# and after kill -9: what was acknowledged (the key with it) is kept
tqj record --user u --model gpt-4o --prompt 1 --completion 0 --key req-3
crash
start_tokqd
tqj record --user u --model gpt-4o --prompt 1 --completion 0 --key req-3
is "$(jqv .duplicate)" true "a key acknowledged just before kill -9 is still known"
is "$(alltime u | jq -c '.[:2]')" "[3,2401]" "and its record counted once"


# --- the same usage, spelled another way, is the same record ---------------------------
uj='{"usage":{"prompt_tokens":300,"completion_tokens":40,"total_tokens":340}}'
printf '{ "usage" : {\n  "total_tokens": 340, "prompt_tokens": 300,\n  "completion_tokens": 40 } }\n' \
	>"$T/spaced.json"
tqj record --user sp --model gpt-4o --key spell-1 --usage-json "$uj"
is "$rc" 0 "usage JSON given inline: recorded"
ev_sp=$(jqv .event)
tqj record --user sp --model gpt-4o --key spell-1 --usage-json "$T/spaced.json"
is "$rc" 0 "the retry from a file with other spacing and key order: exit 0"
is "$(jqv '[.duplicate, .event] | map(tostring) | join(" ")')" "true $ev_sp" \
	"is a duplicate of the first event"
tq record --user sp --model gpt-4o --key spell-1 \
	--usage-json '{"usage":{"prompt_tokens":300,"completion_tokens":41}}'
is "$rc" 65 "other counts under the same key: exit 65"
is "$(alltime sp | jq -c '.[:2]')" "[1,340]" "sp's usage counted once"

stop_tokqd
done_testing
