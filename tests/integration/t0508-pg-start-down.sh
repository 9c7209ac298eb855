#!/usr/bin/env bash
# tokqd starts while its PostgreSQL does not answer (a host that booted
# before its database): it serves, every request answering 75 (temporary,
# nothing kept) at once, never hanging; once the database answers the same
# tokqd migrates its schema, loads what the database holds and serves,
# without a restart.  What another daemon wrote meanwhile binds at once.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
pg_own_cluster
need timeout

# A rule, written by a first daemon, then everything stops.
start_tokqd
tq limit set --user u --tokens 100 --per day
tq record --user u --model m --prompt 60 --completion 0 --key k1
stop_tokqd
"$TEST_ROOT/tests/pg/cluster.sh" stop "$pg_own"

"$TOKQD" --socket "$SOCK" --db "$DB" --test-clock 2>>"$T/tokqd.log" &
TOKQD_PID=$!
for _ in $(seq 200); do	# its socket answers: 75, not 69 (nobody there)
	tq status
	[ "$rc" != 69 ] && break
	sleep 0.05
done
is "$rc" 75 "tokqd starts with its database down; even status answers 75"
t0=$(date +%s%N)
timeout 10 "$TOKQ" --socket "$SOCK" check --user u --tokens 10 >/dev/null 2>"$T/e1"
rc=$? ms=$(( ($(date +%s%N) - t0) / 1000000 ))
is "$rc" 75 "a check meanwhile: 75"
ok "within 2 s ($ms ms)" test "$ms" -lt 2000
like "$(cat "$T/e1")" "retry" "telling the caller to retry"
timeout 10 "$TOKQ" --socket "$SOCK" record --user u --model m --prompt 1 --completion 0 \
	--key k2 >/dev/null 2>&1
is "$?" 75 "a record meanwhile: 75, nothing kept"
ok "tokqd is still running" kill -0 "$TOKQD_PID"
like "$(cat "$T/tokqd.log")" "does not answer" "its log says the database does not answer"

"$TEST_ROOT/tests/pg/cluster.sh" start "$pg_own"
# The store retries at most every half second: wait for the first round that connects.
for _ in $(seq 100); do
	tq check --user u --tokens 40
	[ "$rc" != 75 ] && break
	sleep 0.05
done
is "$rc" 0 "the database is back: 40 more tokens allowed (60 recorded before)"
tq check --user u --tokens 41
is "$rc" 1 "the rule it loaded binds: 41 denied"
tq record --user u --model m --prompt 1 --completion 0 --key k2
is "$rc" 0 "the refused record, retried with its key, is kept"
tq record --user u --model m --prompt 60 --completion 0 --key k1
tqj status
is "$(jqv .events)" 2 "k1 sent again is the same event: 2 events in all"
stop_tokqd

done_testing
