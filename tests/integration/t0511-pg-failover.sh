#!/usr/bin/env bash
# A failover under load: the primary crashes, its synchronous standby is
# promoted, and the new primary answers behind the same URI.  Meanwhile
# every request answers at once, 0 or 75 (temporary, nothing kept), never
# hanging past 2 s; with no primary, records, reserves and checks answer 75.
# Then the same tokqd (no restart) serves again by itself; nothing it
# acknowledged is lost (usage equals exactly what the writers were told was
# kept), refused records retried with their keys count once, a hold taken
# before settles after, and a limit still fills to its last unit and no
# further.  Last, the address leads to a read-only standby for a while
# (no primary behind the URI): requests must answer 75, a standby is never
# used (its advisory locks exclude nobody on the primary), and tokqd
# serves again once the address leads to a primary again.
#
# Synchronous replication (the primary commits only once its standby has
# the commit) is what makes "nothing acknowledged lost" PostgreSQL's
# promise across a failover: with an asynchronous standby the last commits
# may be gone after it, whatever tokqd does.  So the standby is synchronous.
#
# "The same URI": in production a failover moves an address (a DNS name, a
# virtual IP) to the promoted server.  Here the address is a Unix socket
# directory, $T/pgaddr, a symbolic link to the primary's socket directory
# (both servers use the same port number, each in its own directory); at
# the failover it is swapped, atomically, to the standby's once that is
# promoted.  tokqd's URI never changes and the promoted server is not
# restarted.  A names the address in its URI.  B names both servers with
# target_session_attrs=read-write (the multi-host URI docs/install.md
# describes): it must never write to the standby while that is read-only,
# and it finds the new primary by itself.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
pg_own_cluster
# shellcheck source=../pg/cross.sh
. "$TEST_ROOT/tests/pg/cross.sh"
need python3 timeout

cluster=$TEST_ROOT/tests/pg/cluster.sh
standby=$T/pg2
# At exit the standby stops first; the database is thrown away with the
# clusters (a DROP DATABASE on a primary whose synchronous standby is gone
# would wait for it).
# shellcheck disable=SC2317  # run by the EXIT trap
_cleanup_failover() {
	[ "$BASHPID" = "$$" ] || return 0
	pg_name=
	"$cluster" stop "$T/pg3"
	"$cluster" stop "$standby"
	_cleanup
}
trap _cleanup_failover EXIT

"$cluster" standby "$standby" "$pg_own" --sync ||
	bail "a synchronous standby of our cluster streams" "  cluster.sh standby failed"
is "$("$pg_bin/psql" -X -A -t -h "$pg_own" -p "$pg_port" -U "$pg_user" -d postgres \
	-c 'SELECT sync_state FROM pg_stat_replication')" sync \
	"the primary commits synchronously to its standby"
ln -s "$pg_own" "$T/pgaddr"
DB="postgresql:///$pg_name?host=$T/pgaddr&port=$pg_port&user=$pg_user"
DB2="postgresql:///$pg_name?host=$pg_own,$standby&port=$pg_port,$pg_port&user=$pg_user"
DB2+="&target_session_attrs=read-write"

start_tokqd
start_tokqd2
A=$TOKQD_PID B=$TOKQD2_PID
clocks 2026-12-01T10:00:00Z
tq limit set --user x --tokens 1000000 --per day
tq limit set --user L --tokens 100 --per day
tq record --user L --model m --prompt 60 --completion 0 --key L-1
is "$rc" 0 "before: L records 60 of its 100 tokens"
tqj check --user L --model m --tokens 30 --reserve
is "$rc" 0 "before: A holds 30 more for L"
hold=$(jqv .hold)

writers_start 2 10

# A probe loop per daemon, through the whole failover: a record (user pA
# or pB, each key retried until acknowledged) and a check, each timed:
# "rc ms what" lines in $T/loop.W, and the records acknowledged in
# $T/loop.W.acked.
probe_loop() {
	local w=$1 s i=0 t0 rc
	s=$(sock_of "$w")
	while [ ! -e "$T/stop.loops" ]; do
		t0=$(date +%s%N)
		timeout 10 "$TOKQ" --socket "$s" record --user "p$w" --model m --prompt 1 \
			--completion 0 --key "p$w-$i" >/dev/null 2>>"$T/loop.$w.err"
		rc=$?
		echo "$rc $(ms_since "$t0") record p$w-$i" >>"$T/loop.$w"
		[ "$rc" = 0 ] && i=$((i + 1))
		t0=$(date +%s%N)
		timeout 10 "$TOKQ" --socket "$s" check --user x --tokens 1 >/dev/null 2>>"$T/loop.$w.err"
		echo "$? $(ms_since "$t0") check" >>"$T/loop.$w"
		sleep 0.02
	done
	echo "$i" >"$T/loop.$w.acked"
}
probe_loop A & EXTRA_PIDS+=($!)
probe_loop B & EXTRA_PIDS+=($!)
lpids=("${EXTRA_PIDS[@]: -2}")

# --- the failover -----------------------------------------------------------------------
sleep 0.3	# the probe loops' first rounds, against the old primary
"$cluster" crash "$pg_own"
is "$?" 0 "the primary crashes (immediate stop) under load"
t_down=$(date +%s%N)
probes down
sleep 1.2	# the outage lasts: the daemons' reconnections fail again and again
probes down2
"$cluster" promote "$standby"
is "$?" 0 "the standby is promoted"
ln -s "$standby" "$T/pgaddr.new" && mv -T "$T/pgaddr.new" "$T/pgaddr"
is "$(readlink "$T/pgaddr")" "$standby" "the address moves to it: a new primary behind the same URI"
diag "no primary for $(ms_since "$t_down") ms"

# The same daemons serve again: each retries its refused records (same
# keys) until acknowledged, within a bounded number of tries.
back down
for w in A B; do
	SOCK=$(sock_of "$w") tq record --user x --model m --prompt 1 --key "down2-$w"
	is "$rc" 0 "after: $w's second refused record, retried, is kept"
done

# The writers and the loops go on a little on the new primary.
tqj status
ev=$(jqv .events)
for _ in $(seq 100); do
	tqj status
	[ "$(jqv .events)" -ge $((ev + 10)) ] 2>/dev/null && break
	sleep 0.05
done
: >"$T/stop.loops"
wait "${lpids[@]}"
: >"$T/stop"
wait "$wpid"

# --- every request answered 0 or 75 within 2 s -------------------------------------------------
for w in A B; do
	n=$(wc -l <"$T/loop.$w")
	bad=$(awk '!(($1 == 0 || $1 == 75) && $2 < 2000)' "$T/loop.$w")
	is "$bad" "" "$w: each of $n requests through the failover exits 0 or 75 within 2 s"
	n75=$(awk '$1 == 75' "$T/loop.$w" | wc -l)
	ok "$w: the loop ran through the failover ($n75 of its requests answered 75)" test "$n75" -ge 1
	diag "$w: longest request $(sort -k2,2n "$T/loop.$w" | tail -n 1 | cut -d' ' -f2) ms"
done

res=$(cat "$T/writers.json")
[ -n "$res" ] || bail "the writers reported" "$(cat "$T/writers.err")"
is "$(jq -r '[.writers[].unexpected[]] | length' <<<"$res")" 0 \
	"the writers saw no unexpected answer ($(jq -c '[.writers[].unexpected[]][:3]' <<<"$res"))"
is "$(jq -r '[.writers[].rcs | keys[]] | unique | join(" ")' <<<"$res")" "0 75" \
	"the writers' calls exited 0 or 75, nothing else (tokqd never went away)"
is "$(jq '[.writers[].first_try_duplicates] | add' <<<"$res")" 0 "no first attempt was a duplicate"
diag "writers' exit codes: $(jq -c '[.writers[].rcs]' <<<"$res"); longest retry $(jq '[.writers[].longest_retry_s] | max' <<<"$res") s"

# --- nothing acknowledged lost, nothing doubled ----------------------------------------------
writers_counted "$res"
total=$(jq '[.writers[0, 1].acked] | add' <<<"$res")
for w in A B; do
	acked=$(cat "$T/loop.$w.acked")
	total=$((total + acked))
	tqj usage --user "p$w"
	is "$(jqv .periods.all.requests)" "$acked" \
		"the probe loop on $w: its $acked acknowledged records count once each"
done
tqj usage --user x
is "$(jqv .periods.all.requests)" 4 "the 4 refused records, retried with their keys, count once each"
total=$((total + 4 + 1))	# and L's record
tqj status
is "$(jqv .events)" "$total" "status on A: $total events, one per acknowledged record"
tqj2 status
is "$(jqv .events)" "$total" "status on B: the same"
ok "the writers recorded something worth testing (>= 30 records)" test "$total" -ge 30

# --- limits still hold exactly ------------------------------------------------------------
# L: 60 recorded and 30 held (by A) before the failover, 10 left.
tq2 check --user L --model m --tokens 11
is "$rc" 1 "after: B denies L 11 tokens (60 used + 30 held before the failover)"
tqj2 check --user L --model m --tokens 10 --reserve
is "$rc" 0 "after: B reserves L's last 10"
tq check --user L --model m --tokens 1
is "$rc" 1 "after: A denies L one more token"
tq2 record --user L --model m --prompt 30 --completion 0 --hold "$hold"
is "$rc" 0 "after: B settles the hold A took before the failover"
tq2 record --user L --model m --prompt 30 --completion 0 --hold "$hold"
is "$rc" 65 "after: settling it again: 65 (no such hold)"
tqj check --user L --model m --tokens 1
is "$rc $(jqv '.limits[0] | [.used, .held, .remaining] | join(" ")')" "1 90 10 0" \
	"after: A: L used 90, held 10, nothing left"

# --- a read-only server behind the URI ----------------------------------------------------
# The address leads to a standby (of the new primary) while A reconnects:
# a failover tool that moves the address before it promotes, or a DNS name
# that still names a demoted server.  There is no primary behind A's URI,
# so A must answer 75, keep nothing, and leave that server once the
# address leads to a primary again.
psql_on() {
	"$pg_bin/psql" -X -A -t -h "$1" -p "$pg_port" -U "$pg_user" -d postgres -c "$2"
}
ro=$T/pg3
"$cluster" standby "$ro" "$standby" || bail "a standby of the new primary streams"
ln -s "$ro" "$T/pgaddr.new" && mv -T "$T/pgaddr.new" "$T/pgaddr"
psql_on "$standby" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	WHERE application_name = 'tokqd'" >/dev/null
rcs=
for _ in $(seq 20); do	# A's connection broke: 75, then it reconnects (0.5 s)
	tq record --user x --model m --prompt 1 --key ro-A
	rcs+=" $rc"
	sleep 0.1
done
is "$(tr ' ' '\n' <<<"$rcs" | grep -v '^$' | grep -vx 75 | sort -u | paste -sd ' ')" "" \
	"read-only: A's record answers 75 while only a standby is behind its URI (exits:$rcs)" ||
	diag "$(grep -m 2 'read-only' "$T/tokqd.log")"
like "$(grep -c 'read-only\|standby' "$T/tokqd.log")" '^[1-9]' "read-only: A found only a standby there, and refused it (its log says so)"
tq check --user x --tokens 1 --reserve
is "$rc" 75 "read-only: A's reserve answers 75"
tq limit set --user y --tokens 5 --per day
is "$rc" 75 "read-only: A's limit set answers 75 (temporary), not 70"
tq check --user x --tokens 1
is "$rc" 75 "read-only: A's check answers 75, not judged on a standby without the write lock"
until_ok 30 B record --user x --model m --prompt 1 --key ro-B	# its session ended too
is "$rc" 0 "read-only: B, on the primary, serves meanwhile ($n tries)"
ln -s "$standby" "$T/pgaddr.new" && mv -T "$T/pgaddr.new" "$T/pgaddr"
until_ok 30 A record --user x --model m --prompt 1 --key ro-A
is "$rc" 0 "read-only: the address leads to the primary again: A serves again ($n tries)"
"$cluster" crash "$ro"
until_ok 100 A record --user x --model m --prompt 1 --key ro-A
is "$rc" 0 "read-only: once that server is gone, A serves again ($n tries), its record retried"
tqj usage --user x
is "$(jqv .periods.all.requests)" 6 "the refused records ro-A and ro-B count once each"

stop_tokqd2
stop_tokqd
done_testing
