#!/usr/bin/env bash
# Idempotency keys and holds are global: two tokqd (A and B) on one
# PostgreSQL database.  A key recorded on A and retried on B counts once
# (duplicate, the first result); with other fields it is refused (65); the
# same key sent at once to both counts once.  A hold taken on A is seen on
# B, settled there (record --hold) or released there, and then gone on both;
# a settle and a release of one hold racing on two daemons: one wins.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
[ -n "${TOKQ_TEST_PG:-}" ] || skip_all "PostgreSQL store only (TOKQ_TEST_PG is not set)"
# shellcheck source=../pg/cross.sh
. "$TEST_ROOT/tests/pg/cross.sh"

alltime() { jqv '.periods.all | [.requests, .total] | join(" ")'; }
# uh: "used held" of the first limit in $out
uh() { jqv '.limits[0] | [.used, .held] | join(" ")'; }

start_tokqd
start_tokqd2
clocks 2026-12-01T10:00:00Z
tq price set m --input 1 --output 1
tq limit set --user H --tokens 1000 --per day

# --- a key recorded on A, retried on B ---------------------------------------------------
tqj record --user K --guild g --model m --prompt 100 --completion 20 --key k1
is "$rc $(jqv .recorded) $(jqv .duplicate)" "0 true false" "A: record --key k1, recorded"
ev=$(jqv .event)
tqj2 record --user K --guild g --model m --prompt 100 --completion 20 --key k1
is "$rc $(jqv .recorded) $(jqv .duplicate)" "0 false true" "B: the same key again: a duplicate"
is "$(jqv .event)" "$ev" "B answers A's event id"
tqj2 usage --user K
is "$(alltime)" "1 120" "B's usage counts it once"
tqj usage --user K
is "$(alltime)" "1 120" "A's too"
tq2 record --user K --guild g --model m --prompt 100 --completion 21 --key k1
is "$rc" 65 "B: key k1 with other fields: 65"

# --- one key sent to both at once -----------------------------------------------------------
for i in $(seq 20); do
	if [ $((i % 2)) = 1 ]; then printf 'A '; else printf 'B '; fi
	echo "record --user K2 --model m --prompt 7 --key k2"
done >"$T/lines"
race "$T/lines"
is "$race_ok $race_other" "20 0" "20 records with key k2 at once over both daemons: all exit 0"
recorded=$(for i in $(seq "$race_n"); do race_out "$i"; done | jq -r 'select(.recorded == true) | .event' | grep -c .)
is "$recorded" 1 "exactly one says recorded, the others duplicate"
is "$(for i in $(seq "$race_n"); do race_out "$i"; done | jq -r .event | sort -u | grep -c .)" 1 \
	"all name the same event"
tqj2 usage --user K2
is "$(alltime)" "1 7" "it counts once"

# --- a hold taken on A, settled on B ---------------------------------------------------------
tqj check --user H --model m --tokens 300 --reserve
is "$rc" 0 "A: check --reserve 300"
h1=$(jqv .hold)
tqj2 check --user H
is "$(uh)" "0 300" "B sees the 300 held"
tqj2 record --user H --model m --prompt 250 --hold "$h1"
is "$rc" 0 "B: record --hold (A's hold) settles it"
tqj check --user H
is "$(uh)" "250 0" "A at once: 250 used, nothing held"
tq record --user H --model m --prompt 250 --hold "$h1"
is "$rc" 65 "A: settling it again: 65 (no such hold)"

# --- a hold taken on A, released on B -----------------------------------------------------------
tqj check --user H --model m --tokens 400 --reserve
h2=$(jqv .hold)
tqj2 release "$h2"
is "$rc $(jqv .released)" "0 true" "B: release (A's hold)"
tqj check --user H
is "$(uh)" "250 0" "A at once: nothing held"
tq release "$h2"
is "$rc" 65 "A: releasing it again: 65"
tqj status
a=$(jqv .holds)
tqj2 status
is "$a $(jqv .holds)" "0 0" "status: no hold on either"

# --- a settle and a release of one hold, at once on two daemons ------------------------------
for n in $(seq 5); do
	tqj check --user H --model m --tokens 10 --reserve
	h=$(jqv .hold)
	printf 'B record --user H --model m --prompt 10 --hold %s\nA release %s\n' "$h" "$h" >"$T/lines"
	race "$T/lines"
	echo "$(race_rc 1)$(race_rc 2)" >>"$T/outcomes"
done
is "$(grep -cv '^\(065\|650\)$' "$T/outcomes")" 0 \
	"5 races of a settle on B and a release on A: each time exactly one wins, the other 65 ($(paste -sd ' ' "$T/outcomes"))"
settled=$(grep -c '^065$' "$T/outcomes")
tqj2 check --user H
is "$(uh)" "$((250 + 10 * settled)) 0" "used counts exactly the $settled settled, nothing held"

stop_tokqd2
stop_tokqd
done_testing
