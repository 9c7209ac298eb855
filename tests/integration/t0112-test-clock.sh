#!/usr/bin/env bash
# tokq clock set|advance move the clock of a tokqd started with
# --test-clock (and it stays in that future across a restart); a tokqd
# without --test-clock refuses them and its clock stays the real one.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

status_now() { "$TOKQ" --socket "$SOCK" --json status 2>/dev/null | jq -r .now; }
epoch() { date -u -d "$1" +%s; }

start_tokqd
tqj status
is "$(jqv .test_clock)" true "status: test_clock true"

# --- set --------------------------------------------------------------------------
tqj clock set 2026-12-01T10:00:00Z
is "$rc" 0 "clock set 2026-12-01T10:00:00Z: exit 0"
is "$(jqv .now)" 2026-12-01T10:00:00Z "the reply says the new now"
like "$(status_now)" '^2026-12-01T10:00:0[0-9]Z$' "status now follows"
tq clock set 2026-12-01T10:00:00Z
is "$out" "clock: now 2026-12-01T10:00:00Z" "the human reply says the new now"
tqj clock set 2027-03-15
is "$(jqv .now)" 2027-03-15T00:00:00Z "clock set takes a date: its 00:00 UTC"
tqj clock set 2026-01-01T00:00:00Z
is "$(jqv .now)" 2026-01-01T00:00:00Z "clock set may go back"

# --- advance ------------------------------------------------------------------------
tq clock set 2026-12-01T10:00:00Z
tqj clock advance 90s
like "$(jqv .now)" '^2026-12-01T10:01:3[0-9]Z$' "advance 90s"
tq clock set 2026-12-01T10:00:00Z
tqj clock advance 15m
like "$(jqv .now)" '^2026-12-01T10:15:0[0-9]Z$' "advance 15m"
tq clock set 2026-12-01T10:00:00Z
tqj clock advance 2h
like "$(jqv .now)" '^2026-12-01T12:00:0[0-9]Z$' "advance 2h"
tq clock set 2026-12-01T10:00:00Z
tqj clock advance 3d
like "$(jqv .now)" '^2026-12-04T10:00:0[0-9]Z$' "advance 3d"
tq clock set 2026-12-31T23:00:00Z
tqj clock advance 2h
like "$(jqv .now)" '^2027-01-01T01:00:0[0-9]Z$' "advance 2h across a year"

# --- the daemon behaves as if the time had come: records are stamped with it --------
tq clock set 2026-12-01T10:00:00Z
tq limit set --user u --tokens 100 --per day
tq record --user u --model m --prompt 100
tq clock advance 1d
tqj check --user u --tokens 100
is "$rc" 0 "a day later (by the test clock) the day rule is empty"
is "$(jqv '.limits[0].resets_at')" 2026-12-03T00:00:00Z "and resets at the next test-clock midnight"

# --- bad values ------------------------------------------------------------------------
for v in 2026-13-01T00:00:00Z 2026-12-01T25:00:00Z yesterday ''; do
	tq clock set "$v"
	is "$rc" 64 "clock set '$v': exit 64"
	is "$(stderr_lines)" 1 "one stderr line"
done
for v in 0s 1w -5s 1.5h 2x; do
	tq clock advance "$v"
	is "$rc" 64 "clock advance '$v': exit 64"
done
like "$(status_now)" '^2026-12-02T10:00:0[0-9]Z$' "none of them moved the clock"

# --- a restart keeps the test clock's time ---------------------------------------------
tq clock set 2030-06-01T12:00:00Z
stop_tokqd
start_tokqd
like "$(status_now)" '^2030-06-01T12:00:[0-5][0-9]Z$' "after a restart tokqd still lives in 2030-06-01T12:00"

# --- without --test-clock: refused ------------------------------------------------------
real_sock=$T/real.sock
"$TOKQD" --socket "$real_sock" --db "$T/real.db" 2>>"$T/tokqd.log" &
EXTRA_PIDS+=($!)
SOCK_SAVED=$SOCK
SOCK=$real_sock
wait_for_status || bail "a tokqd without --test-clock answers"
tqj status
is "$(jqv .test_clock)" false "status: test_clock false"
before=$(epoch "$(jqv .now)")
events0=$(jqv .events)
tq clock set 2030-01-01T00:00:00Z
# The contract says "refused"; tokqd answers "permission" (exit 77).
is "$rc" 77 "clock set without --test-clock: refused, exit 77"
is "$(stderr_lines)" 1 "one stderr line"
like "$err" 'test.clock' "that says the test clock is off"
tq clock advance 1d
is "$rc" 77 "clock advance without --test-clock: refused, exit 77"
tqj status
now=$(epoch "$(jqv .now)")
real=$(date -u +%s)
ok "its clock is still the real time (within 5 s)" test $((now - real)) -le 5 -a $((real - now)) -le 5
ok "and did not jump" test $((now - before)) -le 5
is "$(jqv .events)" "$events0" "nothing else changed"
SOCK=$SOCK_SAVED

stop_tokqd
done_testing
