#!/usr/bin/env bash
# Nothing acknowledged is lost, and nothing is counted twice, across kill -9:
# four writers record with unique keys, each retrying the same key until
# tokq exits 0, while tokqd is killed with SIGKILL at random moments (at
# least 10 times) and restarted on the same database.  At the end each
# writer's acknowledged records are counted exactly once (requests and
# tokens per user, events in status), a retry of a record whose reply was
# lost says "duplicate", and SQLite's integrity_check says ok.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq sqlite3 python3

# lib.sh's _wait_bounded forks a watchdog subshell and kills it at once; a
# subshell signalled before it reset its traps runs the inherited EXIT trap
# (_cleanup: kill the daemon and writers, rm -rf $T).  Only the main shell
# may clean up.
trap '[ "$BASHPID" = "$$" ] && _cleanup' EXIT

PYTHON=$(command -v /usr/bin/python3 || command -v python3)
WRITERS=4
KILLS=12

start_tokqd
tq clock set 2026-12-01T10:00:00Z
is "$rc" 0 "test clock set"

"$PYTHON" "$TEST_ROOT/tests/tools/tokq_writers.py" "$TOKQ" "$SOCK" "$WRITERS" \
	"$T/stop" >"$T/writers.json" 2>"$T/writers.err" &
wpid=$!
EXTRA_PIDS+=("$wpid")

# Let the writers get going, then kill tokqd at random moments.
#
# A kill counts only when the daemon was alive just before it and died of
# SIGKILL (status 137), and a new one took its place.  The shell's reports
# of those expected deaths ("Killed", and bash's "wait_for: No record of
# process" when SIGCHLD reaped a child before `wait` asked for it) go to a
# file, so that what reaches the terminal is what went wrong.
sleep 0.5
kills=0
{
for _ in $(seq "$KILLS"); do
	# 0.10 .. 0.89 s of writing between kills
	sleep "0.$((10 + RANDOM % 80))"
	before=$(sqlite3 "$DB" 'SELECT count(*) FROM events' 2>/dev/null || echo '?')
	old=$TOKQD_PID
	kill -0 "$old" 2>/dev/null && alive=1 || alive=0
	kill_tokqd
	start_tokqd
	if [ "$alive" = 1 ] && [ "$wait_rc" = 137 ] && [ "$TOKQD_PID" != "$old" ] &&
	    ! kill -0 "$old" 2>/dev/null; then
		kills=$((kills + 1))
	else
		diag "kill of pid $old: alive before: $alive, exit status $wait_rc"
	fi
	diag "kill $kills: about $before events in the database when killed"
done
} 2>>"$T/jobs.err"
sleep 0.5
: >"$T/stop"
# Writers finish the record they are on; bounded in case one cannot.
_wait_bounded "$wpid"
is "$wait_rc" 0 "the writers finished"
EXTRA_PIDS=()		# reaped: nothing left for _cleanup to wait for
res=$(cat "$T/writers.json")
jq -e . >/dev/null 2>&1 <<<"$res" || bail "the writers' report is JSON" "  $res" \
	"  $(cat "$T/writers.err")"

unexpected=$(jq -r '[.writers[].unexpected[]] | .[]' <<<"$res")
is "$unexpected" "" "no writer saw an exit code other than 0, 69 or 75"
diag "exit codes seen: $(jq -c '[.writers[].rcs] | map(to_entries) | add | group_by(.key) | map({(.[0].key): (map(.value) | add)}) | add' <<<"$res")"
diag "longest wait for an acknowledgement: $(jq '[.writers[].longest_retry_s] | max * 1000 | floor' <<<"$res") ms"

acked_total=0 lost=0 doubled=0
for w in $(seq 0 $((WRITERS - 1))); do
	user=$(jq -r ".writers[$w].user" <<<"$res")
	acked=$(jq ".writers[$w].acked" <<<"$res")
	tokens=$(jq ".writers[$w].tokens" <<<"$res")
	tqj usage --user "$user"
	got_req=$(jqv .periods.all.requests)
	got_tok=$(jqv .periods.all.total)
	is "$got_req $got_tok" "$acked $tokens" \
		"$user: requests and tokens counted = acknowledged ($acked records, $tokens tokens)"
	if [ "$got_req" -lt "$acked" ] 2>/dev/null; then
		lost=$((lost + acked - got_req))
	elif [ "$got_req" -gt "$acked" ] 2>/dev/null; then
		doubled=$((doubled + got_req - acked))
	fi
	acked_total=$((acked_total + acked))
done
tqj status
is "$(jqv .events)" "$acked_total" "status counts $acked_total events: one per acknowledged record"
ok "the writers recorded something worth testing (>= 100 records)" test "$acked_total" -ge 100

dups=$(jq '[.writers[].duplicates] | add' <<<"$res")
first=$(jq '[.writers[].first_try_duplicates] | add' <<<"$res")
is "$first" 0 "no record was called a duplicate on its first attempt"
diag "records acknowledged: $acked_total"
diag "retries answered as duplicate (first reply lost to a kill): $dups"

stop_tokqd
requires_sqlite "the SQLite file's integrity_check and rows"
is "$(sqlite3 "$DB" 'PRAGMA integrity_check')" ok "sqlite3 integrity_check: ok"
is "$(sqlite3 "$DB" 'SELECT count(*) FROM events')" "$acked_total" \
	"the database holds exactly the acknowledged events"

diag "acknowledged lost: $lost"
diag "doubled: $doubled"
diag "kills survived: $kills"
is "$kills" "$KILLS" "tokqd was running, died of SIGKILL and was replaced, $KILLS times"
done_testing
