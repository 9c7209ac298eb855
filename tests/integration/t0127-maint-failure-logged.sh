#!/usr/bin/env bash
# A maintenance round that fails is logged, with its reason, never dropped
# in silence; tokqd goes on serving, and once the cause is gone maintenance
# works again.  The failure is made with a trigger that refuses tokqd's
# bookkeeping writes (the table meta), as a damaged or foreign-edited
# database would: the round at start-up fails in its prune step.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need jq sqlite3
requires_sqlite "a trigger written into the SQLite file makes maintenance fail"

start_tokqd
tq clock set 2026-12-01T10:00:00Z
stop_tokqd
sqlite3 "$DB" "CREATE TRIGGER refuse_meta_ins BEFORE INSERT ON meta
	BEGIN SELECT RAISE(ABORT, 'meta refused by a test trigger'); END;
	CREATE TRIGGER refuse_meta_upd BEFORE UPDATE ON meta
	BEGIN SELECT RAISE(ABORT, 'meta refused by a test trigger'); END;"
lines0=$(wc -l <"$T/tokqd.log")

start_tokqd
# The first round runs as tokqd starts; give it a moment to log.
for _ in $(seq 100); do
	grep -q "maintenance: a round failed" "$T/tokqd.log" && break
	sleep 0.05
done
log=$(tail -n +"$((lines0 + 1))" "$T/tokqd.log")
like "$log" "maintenance: a round failed \\(internal error\\); next try in 60 s" \
	"a failed maintenance round is logged with its reason and when it is tried again"
like "$log" "meta refused by a test trigger" "  the store's own line says what failed"
tq status
is "$rc" 0 "tokqd still answers"
tq record --user u1 --model m1 --prompt 10
is "$rc" 0 "and records"

sqlite3 "$DB" "DROP TRIGGER refuse_meta_ins; DROP TRIGGER refuse_meta_upd;"
tqj clock advance 2h
is "$rc" 0 "the trigger gone, a move of the clock runs maintenance without error"
tqj status
is "$(jqv '.last_prune >= "2026-12-01T12:00:00Z"')" true \
	"and recorded its prune at the new time ($(jqv .last_prune))"
stop_tokqd
done_testing
