#!/usr/bin/env bash
# cross.sh: what the cross-host scripts (tests/integration/t05xx-pg-*.sh)
# share, sourced after lib.sh.  Two tokqd ("A" on $SOCK, "B" on $SOCK2) on
# one PostgreSQL database, each with its own test clock.
#
#   clocks TIME              set both daemons' test clocks to TIME
#   sock_of A|B              the socket of daemon A or B
#   race FILE                run FILE's lines ("A|B tokq-args...") at once;
#                            sets race_n, race_ok, race_denied, race_other
#   race_rc I / race_out I   line I's exit code and --json reply
#   ms_since T0              milliseconds since T0 (date +%s%N)
#   pg_pids                  the processes of this script's own cluster

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	echo "1..0 # SKIP cross.sh is sourced by the t05xx-pg-*.sh scripts"
	exit 0
fi

need jq flock

clocks() {
	tq clock set "$1"
	[ "$rc" = 0 ] || bail "A's clock is set to $1" "  $err"
	tq2 clock set "$1"
	[ "$rc" = 0 ] || bail "B's clock is set to $1" "  $err"
}

sock_of() { if [ "$1" = B ]; then echo "$SOCK2"; else echo "$SOCK"; fi; }

# All children are started first, each waits at a gate (a lock the parent
# holds) after saying it is ready; once all are ready the gate opens and
# they call tokq together.
race() {
	local who args i=0 gate pids=() s
	rm -f "$T"/race.*
	: >"$T/race.gate"
	exec {gate}<"$T/race.gate"
	flock -x "$gate"
	while read -r who args; do
		[ -n "$who" ] || continue
		i=$((i + 1))
		s=$(sock_of "$who")
		(
			exec {gate}<&-
			: >"$T/race.$i.ready"
			flock -s "$T/race.gate" true
			# shellcheck disable=SC2086
			"$TOKQ" --socket "$s" --json $args >"$T/race.$i.out" 2>"$T/race.$i.err"
			echo $? >"$T/race.$i.rc"
		) &
		pids+=($!)
	done <"$1"
	race_n=$i
	for _ in $(seq 400); do
		[ "$(find "$T" -maxdepth 1 -name 'race.*.ready' | wc -l)" -ge "$race_n" ] && break
		sleep 0.025
	done
	flock -u "$gate"
	exec {gate}<&-
	wait "${pids[@]}"
	race_ok=0 race_denied=0 race_other=0
	for i in $(seq "$race_n"); do
		case $(race_rc "$i") in
		0) race_ok=$((race_ok + 1)) ;;
		1) race_denied=$((race_denied + 1)) ;;
		*)
			race_other=$((race_other + 1))
			diag "race line $i: exit $(race_rc "$i"): $(cat "$T/race.$i.err")"
			;;
		esac
	done
}
race_rc() { cat "$T/race.$1.rc" 2>/dev/null || echo none; }
race_out() { cat "$T/race.$1.out" 2>/dev/null; }

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# until_ok TRIES A|B ARGS...: tokq ARGS on daemon A or B, again every
# 0.1 s until it exits 0, at most TRIES times; $rc its last exit, $n the
# tries made.
until_ok() {
	local tries=$1 s
	s=$(sock_of "$2")
	shift 2
	for n in $(seq "$tries"); do
		SOCK=$s tq "$@"
		[ "$rc" = 0 ] && break
		sleep 0.1
	done
}

# back WHEN: the same daemons serve again: each retries its refused record
# (key WHEN-A or WHEN-B) until it is acknowledged, within 30 s.
back() {
	local w t0
	for w in A B; do
		t0=$(date +%s%N)
		until_ok 300 "$w" --json record --user x --model m --prompt 1 --key "$1-$w"
		is "$rc" 0 "$1 over: $w serves again ($n tries, $(ms_since "$t0") ms), the refused record retried"
	done
	ok "neither daemon was restarted" kill -0 "$A" "$B"
	is "$TOKQD_PID $TOKQD2_PID" "$A $B" "the same daemons"
}

# writers_start N EVENTS: N writers (tests/tools/tokq_writers.py) recording
# with keys on both daemons until $T/stop exists, their report in
# $T/writers.json (wpid: their pid); returns once daemon A counts EVENTS
# events, so that they are under way.
writers_start() {
	local _
	python3 "$TEST_ROOT/tests/tools/tokq_writers.py" "$TOKQ" "$SOCK,$SOCK2" "$1" "$T/stop" \
		>"$T/writers.json" 2>"$T/writers.err" &
	wpid=$!
	EXTRA_PIDS+=("$wpid")
	for _ in $(seq 100); do
		tqj status
		[ "$(jqv .events)" -ge "$2" ] 2>/dev/null && break
		sleep 0.05
	done
}

# writers_counted REPORT: each writer's acknowledged records (the report
# writers_start's writers wrote) count exactly once, on both daemons.
writers_counted() {
	local w want
	for w in 0 1; do
		want="$(jq -r ".writers[$w] | \"\(.acked) \(.tokens)\"" <<<"$1")"
		tqj usage --user "w$w"
		is "$(jqv '.periods.all | [.requests, .total] | join(" ")')" "$want" \
			"A: w$w's acknowledged records (requests tokens: $want) count exactly once"
		tqj2 usage --user "w$w"
		is "$(jqv '.periods.all | [.requests, .total] | join(" ")')" "$want" "B: the same"
	done
}

# probe NAME A|B ARGS...: time one tokq call to daemon A ($SOCK) or B
# ($SOCK2); "rc ms" in $T/probe.NAME, its stderr in $T/probe.NAME.err.
probe() {
	local name=$1 s t0
	s=$(sock_of "$2")
	shift 2
	t0=$(date +%s%N)
	timeout 30 "$TOKQ" --socket "$s" "$@" >/dev/null 2>"$T/probe.$name.err"
	echo "$? $(ms_since "$t0")" >"$T/probe.$name"
}

# probes WHEN: while the database is out of reach: records (keys WHEN-A,
# WHEN-B), reserves and checks on A and B, all at once; each must exit 75
# (temporary, nothing kept) within 2 s.
probes() {
	local w pids=() name prc pms
	for w in A B; do
		probe "$1-rec-$w" "$w" record --user x --model m --prompt 1 --key "$1-$w" & pids+=($!)
		probe "$1-res-$w" "$w" check --user x --tokens 1 --reserve & pids+=($!)
		probe "$1-chk-$w" "$w" check --user x --tokens 1 & pids+=($!)
	done
	wait "${pids[@]}"
	for name in rec res chk; do
		for w in A B; do
			read -r prc pms <"$T/probe.$1-$name-$w"
			is "exit $prc, $( ((pms < 2000)) && echo within || echo after) 2 s" "exit 75, within 2 s" \
				"$1: $name on $w exits 75 within 2 s (exit $prc after $pms ms)"
			[ "$prc" = 75 ] || diag "  stderr: $(cat "$T/probe.$1-$name-$w.err")"
		done
	done
}

# The postmaster of this script's own cluster and its children.
pg_pids() {
	local pm
	pm=$(head -n 1 "$pg_own/data/postmaster.pid" 2>/dev/null) || return 0
	echo "$pm"
	pgrep -P "$pm"
}
