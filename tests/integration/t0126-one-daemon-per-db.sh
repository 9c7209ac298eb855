#!/usr/bin/env bash
# One tokqd per database.  A second tokqd started on the same database, on
# another socket, exits at once, non-zero, with one line naming the database
# and the pid of the one serving it (written in DB.lock); it never answers on
# its socket.  The first goes on serving and recording.  `tokqd -n` checks a
# config without the lock; once the first stops (or dies by SIGKILL), a new
# one starts on the database.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need jq timeout
requires_sqlite "one tokqd per SQLite file, its DB.lock (a shared store serves several by design)"

start_tokqd
tq clock set 2026-12-01T10:00:00Z
tq record --user u1 --model m1 --prompt 100 --key k1
is "$rc" 0 "the first tokqd records"
is "$(tr -d '\n' <"$DB.lock")" "$TOKQD_PID" "DB.lock holds the first tokqd's pid"

OTHER=$T/other.sock
rc2=0
timeout 10 "$TOKQD" --socket "$OTHER" --db "$DB" --test-clock >"$T/second.out" 2>"$T/second.err" || rc2=$?
isnt "$rc2" 0 "a second tokqd on the same database exits non-zero"
isnt "$rc2" 124 "  at once (not killed by the 10 s timeout)"
is "$(wc -l <"$T/second.err" | tr -d ' ')" 1 "  with one line on stderr"
like "$(cat "$T/second.err")" "^tokqd: $DB: another tokqd \\(pid $TOKQD_PID\\) serves this database\$" \
	"  naming the database and the pid that holds it"
ok "  and it never made its socket" test ! -e "$OTHER"

tq record --user u1 --model m1 --prompt 50 --key k2
is "$rc" 0 "the first tokqd still records"
tqj usage --user u1
is "$(jqv .periods.all.requests) $(jqv .periods.all.total)" "2 150" \
	"and counts both records (2 requests, 150 tokens)"
tqj status
is "$(jqv .events)" 2 "status counts 2 events"

out=$("$TOKQD" -n --db "$DB" --config /dev/null 2>&1)
is "$?:$out" "0:/dev/null: configuration OK" "tokqd -n checks a config while another serves the database"

# Killed, its lock goes with it: a new one starts at once.
kill_tokqd
start_tokqd
is "$(tr -d '\n' <"$DB.lock")" "$TOKQD_PID" "after kill -9 a new tokqd takes the database, DB.lock names it"
tqj usage --user u1
is "$(jqv .periods.all.requests)" 2 "and serves what was recorded"
stop_tokqd
start_tokqd
tq status
is "$rc" 0 "after a clean stop too"
stop_tokqd
done_testing
