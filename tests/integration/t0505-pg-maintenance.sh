#!/usr/bin/env bash
# Maintenance runs once for the whole database, on one daemon at a time, and
# another takes over when that one dies.  Two tokqd (A and B) on one
# PostgreSQL database, usage recorded on both in November; both clocks
# moved into December: November is archived once, by one of them (its log
# says so, the other's does not), and both show the same rollover.  That
# one is killed (kill -9); the other's clock moved into January: it takes
# maintenance over and archives December, within 20 s.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
[ -n "${TOKQ_TEST_PG:-}" ] || skip_all "PostgreSQL store only (TOKQ_TEST_PG is not set)"
# shellcheck source=../pg/cross.sh
. "$TEST_ROOT/tests/pg/cross.sh"

# archived MONTH: how many times the two logs say MONTH was archived
archived() { cat "$T/tokqd.log" "$T/tokqd2.log" 2>/dev/null | grep -c "rollover: archived $1"; }
month() { jqv '.periods.month | [.requests, .total] | join(" ")'; }
alltime() { jqv '.periods.all | [.requests, .total] | join(" ")'; }

start_tokqd -v
start_tokqd2 -v
clocks 2026-11-20T12:00:00Z
tq record --user u1 --model m --prompt 100 --key n1
tq2 record --user u2 --model m --prompt 200 --key n2
tq2 record --user u1 --model m --prompt 10 --key n3
tqj usage --user u1
is "$(month)" "2 110" "November: u1's records on A and B count in A's month"

# --- into December: November archived once --------------------------------------------
clocks 2026-12-01T00:10:00Z
is "$(archived 2026-11)" 1 "November is archived once, by one daemon"
if grep -q 'rollover: archived 2026-11' "$T/tokqd.log"; then
	owner=A other=B
else
	owner=B other=A
fi
diag "the daemon that archived November: $owner"
tqj status
a=$(jqv '[.last_rollover, .next_rollover] | join(" ")')
tqj2 status
is "$(jqv '[.last_rollover, .next_rollover] | join(" ")')" "$a" "A and B show the same rollover ($a)"
like "$a" ' 2027-01-01T00:00:00Z$' "the next one: January 1st"
tqj2 usage --user u1
is "$(month) / $(alltime)" "0 0 / 2 110" "B: u1's December is empty, all-time keeps November"
tqj usage --user u1
is "$(month) / $(alltime)" "0 0 / 2 110" "A: the same"
tq record --user u1 --model m --prompt 5 --key d1

# --- the one that ran it dies: the other takes over -------------------------------------
if [ "$owner" = A ]; then
	kill -KILL "$TOKQD_PID"; wait "$TOKQD_PID" 2>/dev/null; TOKQD_PID=
	SOCK=$SOCK2
else
	kill -KILL "$TOKQD2_PID"; wait "$TOKQD2_PID" 2>/dev/null; TOKQD2_PID=
fi
t0=$(date +%s%N)
for _ in $(seq 100); do
	tq clock set 2027-01-01T00:10:00Z
	[ "$(archived 2026-12)" -ge 1 ] && break
	sleep 0.2
done
is "$(archived 2026-12)" 1 "$owner killed: $other takes maintenance over, December archived once ($(ms_since "$t0") ms)"
tqj status
is "$(jqv .next_rollover)" 2027-02-01T00:00:00Z "$other: the next rollover is February 1st"
tqj usage --user u1
is "$(month) / $(alltime)" "0 0 / 3 115" "$other: u1's January is empty, all-time keeps all 3"
is "$(archived 2026-11)" 1 "November still archived once"

if [ -n "$TOKQD_PID" ]; then stop_tokqd; else stop_tokqd2; fi
done_testing
