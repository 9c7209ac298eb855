#!/usr/bin/env bash
# check --reserve holds the estimate against every applicable rule until a
# record settles it (record --hold), tokq release frees it, or its --ttl
# runs out; an unknown hold is invalid data (65); concurrent reservations
# never share the last room.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

# uh: "used held remaining" of the first limit in $out
uh() { jqv '.limits[0] | [.used, .held, .remaining] | join(" ")'; }
events() { "$TOKQ" --socket "$SOCK" --json status | jq -r .events; }
holds() { "$TOKQ" --socket "$SOCK" --json status | jq -r .holds; }

start_tokqd
tq clock set 2026-12-01T10:00:00Z
tq limit set --user U --tokens 1000 --per 30d

# --- reserve, see it held, settle it ------------------------------------------
tqj check --user U --model m --tokens 300 --reserve
is "$rc" 0 "check --reserve --tokens 300: allowed"
h1=$(jqv .hold)
like "$h1" '^[^ ]+$' "the reply has a hold id"
like "$(jqv .hold_expires_at)" '^2026-12-01T10:05:0[0-9]Z$' "the hold expires in 300 s (the default --ttl)"
tqj check --user U
is "$(uh)" "0 300 700" "a later check sees 300 held"
is "$(holds)" 1 "status: 1 hold"
tqj check --user U --tokens 700
is "$rc" 0 "0 used + 300 held + 700 = 1000 fits"
tqj check --user U --tokens 701
is "$rc" 1 "0 used + 300 held + 701 does not"
is "$(jqv '.denied_by | [.used, .held] | join(" ")')" "0 300" "denied_by: 0 used, 300 held"
tqj usage --user U
is "$(uh)" "0 300 700" "usage shows the hold too"

n0=$(events)
tqj record --user U --model m --prompt 250 --completion 0 --hold "$h1"
is "$rc" 0 "record --hold settles it: exit 0"
is "$(uh)" "250 0 750" "held back to 0, used 250 (what was really used, not the estimate)"
is "$(holds)" 0 "status: no holds"
is "$(events)" $((n0 + 1)) "one event recorded"
tq record --user U --model m --prompt 250 --completion 0 --hold "$h1"
is "$rc" 65 "a settled hold cannot be settled again: exit 65 (unknown hold)"
is "$(stderr_lines)" 1 "one stderr line"
is "$(events)" $((n0 + 1)) "nothing recorded"

# --- release --------------------------------------------------------------------
tqj check --user U --tokens 400 --reserve
h2=$(jqv .hold)
tqj check --user U
is "$(uh)" "250 400 350" "a second hold: 400 held"
tqj release "$h2"
is "$rc" 0 "release HOLD: exit 0"
is "$(jqv '[.released, .hold] | map(tostring) | join(" ")')" "true $h2" "released true, the hold id"
tqj check --user U
is "$(uh)" "250 0 750" "released: held back to 0, nothing used"
tq release "$h2"
is "$rc" 65 "releasing it again: exit 65"
tq record --user U --model m --prompt 1 --hold "$h2"
is "$rc" 65 "recording against a released hold: exit 65"

# --- expiry after --ttl ----------------------------------------------------------
tqj check --user U --tokens 500 --reserve --ttl 60
h3=$(jqv .hold)
like "$(jqv .hold_expires_at)" '^2026-12-01T10:01:0[0-9]Z$' "--ttl 60: expires a minute later"
tq clock advance 30s
tqj check --user U
is "$(uh)" "250 500 250" "30 s later it is still held"
tq clock advance 45s
tqj check --user U
is "$(uh)" "250 0 750" "75 s later (past the ttl) it freed itself"
is "$(holds)" 0 "status: no holds"
# Usage that happened is recorded even when its hold ran out meanwhile.
n0=$(events)
tqj record --user U --model m --prompt 100 --completion 0 --hold "$h3"
is "$rc" 0 "record --hold with an expired hold still records (the usage happened)"
is "$(uh)" "350 0 650" "used 350, nothing held"
is "$(events)" $((n0 + 1)) "one event recorded"

# --- unknown holds -----------------------------------------------------------------
n0=$(events)
tq record --user U --model m --prompt 10 --hold no-such-hold
is "$rc" 65 "record --hold with an unknown hold: exit 65"
is "$(stderr_lines)" 1 "one stderr line"
like "$err" 'hold' "that names the hold"
is "$(events)" "$n0" "nothing recorded"
tq release no-such-hold
is "$rc" 65 "release of an unknown hold: exit 65"
is "$(stderr_lines)" 1 "one stderr line"

# another user's hold
tqj check --user U --tokens 100 --reserve
h4=$(jqv .hold)
tq record --user V --model m --prompt 10 --hold "$h4"
is "$rc" 65 "settling another user's hold: exit 65"
is "$(events)" "$n0" "nothing recorded"
tq release "$h4"

# --- a hold counts against the guild pool as well ---------------------------------
tq limit set --guild G --tokens 5000
tqj check --user U --guild G --tokens 600 --reserve
h5=$(jqv .hold)
tqj check --user other --guild G
is "$(jqv '.limits[] | select(.selector == "guild") | [.used, .held] | join(" ")')" "0 600" \
	"another member of G sees U's 600 held in the guild pool"
tq record --user U --guild G --model m --prompt 600 --hold "$h5"
tqj check --user other --guild G
is "$(jqv '.limits[] | select(.selector == "guild") | [.used, .held] | join(" ")')" "600 0" \
	"settled: the pool counts 600 used, nothing held"

# --- 40 parallel reservations of 100 against room for 1000 ------------------------
tq limit set --user P --tokens 1000 --per 30d
pids=()
for i in $(seq 40); do
	(
		"$TOKQ" --socket "$SOCK" --json check --user P --tokens 100 --reserve \
			>"$T/check.$i.out" 2>"$T/check.$i.err"
		echo $? >"$T/check.$i.rc"
	) &
	pids+=($!)
done
wait "${pids[@]}"
allowed=0 denied=0 other=0
for i in $(seq 40); do
	case $(cat "$T/check.$i.rc") in
	0) allowed=$((allowed + 1)) ;;
	1) denied=$((denied + 1)) ;;
	*) other=$((other + 1)); diag "check $i: $(cat "$T/check.$i.err")" ;;
	esac
done
is "$allowed/$denied/$other" "10/30/0" "40 parallel reservations: exactly 10 allowed, 30 denied"
ids=$(cat "$T"/check.*.out | jq -r 'select(.allowed) | .hold' | sort -u)
is "$(grep -c . <<<"$ids")" 10 "10 distinct hold ids"
is "$(cat "$T"/check.*.out | jq -s '[.[] | select(.allowed) | .estimate.tokens] | add')" 1000 \
	"the 10 allowed estimates add up to 1000"
tqj check --user P
is "$(uh)" "0 1000 0" "the user's rule: 0 used, 1000 held, 0 remaining"
is "$(holds)" 10 "status: 10 holds"
for id in $ids; do
	tq release "$id"
	[ "$rc" = 0 ] || diag "release $id exited $rc: $err"
done
tqj check --user P
is "$(uh)" "0 0 1000" "all 10 released: nothing held"

stop_tokqd
done_testing
