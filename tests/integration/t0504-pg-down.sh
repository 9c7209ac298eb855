#!/usr/bin/env bash
# PostgreSQL unreachable under load: requests answer 75 within 2 s, never
# hang; once it is back the same daemons serve again, without a restart,
# and nothing they acknowledged is lost.  Two tokqd (A and B) on a cluster
# of this script's own, two writers recording with keys on both.  Twice:
# the server hung (every process SIGSTOPped: no answer, no hang-up; twice,
# the second while the daemons' first waits are over), then
# the server stopped (pg_ctl stop).  Each time, records, reserves and
# checks sent to A and B meanwhile are timed; each exits 75 within 2 s.
# Then the server goes on (SIGCONT, pg_ctl start) and a retry of each
# refused record with its key counts it once.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
pg_own_cluster
# shellcheck source=../pg/cross.sh
. "$TEST_ROOT/tests/pg/cross.sh"
need python3 timeout pkill

start_tokqd
start_tokqd2
A=$TOKQD_PID B=$TOKQD2_PID
tq limit set --user x --tokens 1000000 --per day

writers_start 2 8

# --- hung: every process of the server stopped -------------------------------------
pids=$(pg_pids | paste -sd ' ')
[ -n "$pids" ] || bail "the cluster's processes are found"
# shellcheck disable=SC2086
kill -STOP $pids
probes hung
probes hung2	# again, with the first requests' waits over: reconnecting to a hung server
# shellcheck disable=SC2086
kill -CONT $pids
back hung
back hung2

# --- down: the server stopped ----------------------------------------------------------
"$TEST_ROOT/tests/pg/cluster.sh" stop "$pg_own"
is "$?" 0 "PostgreSQL stopped under load"
probes down
probes down2
"$TEST_ROOT/tests/pg/cluster.sh" start "$pg_own"
is "$?" 0 "PostgreSQL started again"
back down
back down2

# --- nothing acknowledged lost, nothing doubled ---------------------------------------------
: >"$T/stop"
wait "$wpid"
res=$(cat "$T/writers.json")
[ -n "$res" ] || bail "the writers reported" "$(cat "$T/writers.err")"
is "$(jq -r '[.writers[].unexpected[]] | length' <<<"$res")" 0 \
	"the writers saw no unexpected answer ($(jq -c '[.writers[].unexpected[]][:3]' <<<"$res"))"
is "$(jq '[.writers[].first_try_duplicates] | add' <<<"$res")" 0 "no first attempt was a duplicate"
writers_counted "$res"
tqj usage --user x
is "$(jqv .periods.all.requests)" 8 "the 8 refused records, retried with their keys, count once each"
diag "writers' exit codes: $(jq -c '[.writers[].rcs]' <<<"$res"); longest retry $(jq '[.writers[].longest_retry_s] | max' <<<"$res") s"

stop_tokqd2
stop_tokqd
done_testing
