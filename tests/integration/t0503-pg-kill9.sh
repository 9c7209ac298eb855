#!/usr/bin/env bash
# kill -9 of one host under load loses nothing acknowledged and doubles
# nothing: two tokqd (A and B) on one PostgreSQL database, four writers
# recording with unique keys, each record's first attempt on one daemon and
# every retry (same key) on the other in turn, until acknowledged.  A and B
# are killed with SIGKILL in turn, at random moments, each restarted on the
# same database at once.  At the end each writer's acknowledged records are
# counted exactly once, alike on both daemons; no first attempt was called a
# duplicate.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
[ -n "${TOKQ_TEST_PG:-}" ] || skip_all "PostgreSQL store only (TOKQ_TEST_PG is not set)"
# shellcheck source=../pg/cross.sh
. "$TEST_ROOT/tests/pg/cross.sh"
need python3

WRITERS=4
KILLS=8

start_tokqd
start_tokqd2

# Let the writers get going (their first acknowledged records), then kill.
writers_start "$WRITERS" 8
kills=0
for k in $(seq "$KILLS"); do
	sleep "0.$((10 + RANDOM % 80))"
	if [ $((k % 2)) = 1 ]; then
		pid=$TOKQD_PID
	else
		pid=$TOKQD2_PID
	fi
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	st=$?
	if [ $((k % 2)) = 1 ]; then
		TOKQD_PID=
		start_tokqd
	else
		TOKQD2_PID=
		start_tokqd2
	fi
	[ "$st" = 137 ] && kills=$((kills + 1)) || diag "kill $k: the daemon exited $st, not by SIGKILL"
done
: >"$T/stop"
wait "$wpid"
is "$?" 0 "the writers finished"
res=$(cat "$T/writers.json")
[ -n "$res" ] || bail "the writers reported" "$(cat "$T/writers.err")"
is "$kills" "$KILLS" "$KILLS daemons died of SIGKILL under load (A and B in turn) and were restarted"
is "$(jq -r '[.writers[].unexpected[]] | length' <<<"$res")" 0 \
	"no unexpected answer ($(jq -c '[.writers[].unexpected[]][:3]' <<<"$res"))"
is "$(jq '[.writers[].first_try_duplicates] | add' <<<"$res")" 0 \
	"no record was called a duplicate on its first attempt"

acked_total=0
for w in $(seq 0 $((WRITERS - 1))); do
	acked=$(jq ".writers[$w].acked" <<<"$res")
	tokens=$(jq ".writers[$w].tokens" <<<"$res")
	acked_total=$((acked_total + acked))
	tqj usage --user "w$w"
	is "$(jqv '.periods.all | [.requests, .total] | join(" ")')" "$acked $tokens" \
		"A: w$w's $acked acknowledged records ($tokens tokens) count exactly once"
	tqj2 usage --user "w$w"
	is "$(jqv '.periods.all | [.requests, .total] | join(" ")')" "$acked $tokens" "B: the same"
done
tqj status
is "$(jqv .events)" "$acked_total" "status on A: $acked_total events, one per acknowledged record"
tqj2 status
is "$(jqv .events)" "$acked_total" "status on B: the same"
ok "the writers recorded something worth testing (>= 50 records)" test "$acked_total" -ge 50
diag "records acknowledged: $acked_total"
diag "retries answered as duplicate: $(jq '[.writers[].duplicates] | add' <<<"$res")"
diag "exit codes seen: $(jq -c '[.writers[].rcs] | reduce .[] as $r ({}; . as $a | $r | to_entries | reduce .[] as $e ($a; .[$e.key] += $e.value))' <<<"$res")"
diag "longest retry: $(jq '[.writers[].longest_retry_s] | max' <<<"$res") s"

stop_tokqd2
stop_tokqd
done_testing
