#!/usr/bin/env bash
# lib.sh: the harness every tests/integration/tNNNN-*.sh sources.
#
# TAP out (run them with `prove`), one real tokqd per script on a temporary
# socket and database, driven only through the tokq client.  Time comes
# from the daemon's test clock (`tq clock set`, `tq clock advance`), never
# from sleeping.
#
#   ok NAME CMD...           passes when CMD succeeds
#   is GOT WANT NAME         string equality
#   isnt GOT UNWANTED NAME
#   like GOT ERE NAME        bash =~ match
#   unlike GOT ERE NAME
#   skip NAME REASON         ok N - NAME # SKIP REASON
#   skip_all REASON          1..0 # SKIP REASON, exit 0
#   diag TEXT...             "# TEXT" lines on stdout
#   plan N | done_testing    the plan, before or after
#
#   start_tokqd [FLAGS...]   start tokqd (--test-clock) in $T, wait for it
#   stop_tokqd               SIGTERM, wait, assert exit status 0
#   kill_tokqd               SIGKILL, wait
#   tq ARGS...               run tokq: sets $out, $err, $rc (stdin passes through)
#   tqj ARGS...              tq --json ARGS...
#   jqv FILTER               jq -r FILTER over $out ("JQ-ERROR" when $out is no JSON)
#   stderr_lines             number of lines in $err
#
#   start_tokqd2 [FLAGS...], stop_tokqd2, kill_tokqd2, tq2, tqj2: a second
#                            tokqd on $SOCK2, the same $DB (a shared store)
#   requires_sqlite WHY      this script (or the rest of it) tests the SQLite
#                            file itself: skipped on the PostgreSQL store
#   empty_db                 a new empty database at $DB (tokqd stopped)
#   pg_own_cluster [--tcp ADDR]  PostgreSQL store only: this script's own
#                            cluster in $T/pg (to stop and start it), $DB on it
#
# Variables: $TOKQ_BUILD (absolute), $TOKQ, $TOKQD, $T (temp dir, removed on
# exit), $SOCK, $DB, $TOKQD_PID, $SOCK2, $TOKQD2_PID; add other background
# pids to EXTRA_PIDS and the exit trap kills them too.
#
# The store is a parameter: with TOKQ_TEST_PG=DIR (a cluster started by
# tests/pg/cluster.sh) each script gets a fresh PostgreSQL database of its
# own, dropped at exit, and $DB is its postgresql:// URI.

set -u

# Run by itself (prove tests/integration/*.sh picks it up), it is no test.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	echo "1..0 # SKIP lib.sh is the harness the tNNNN-*.sh scripts source"
	exit 0
fi

TEST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TOKQ_BUILD=${TOKQ_BUILD:-build}
case $TOKQ_BUILD in
/*) ;;
*) TOKQ_BUILD=$TEST_ROOT/$TOKQ_BUILD ;;
esac
TOKQ=$TOKQ_BUILD/tokq
TOKQD=$TOKQ_BUILD/tokqd
export TOKQ_BUILD

# Never let the caller's environment choose another daemon or database.
unset TOKQ_SOCKET TOKQ_DB PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGSERVICE PGOPTIONS

T=$(mktemp -d "${TMPDIR:-/tmp}/tokq-test.XXXXXX") || exit 1
SOCK=$T/tokq.sock
DB=$T/tokq.db
TOKQD_PID=
SOCK2=$T/tokq2.sock
TOKQD2_PID=
EXTRA_PIDS=()

# PostgreSQL: pg_bin, pg_host, pg_port, pg_user from cluster.sh; pg_name is ours.
pg_name= pg_own=
_pg_createdb() {
	pg_name=$(basename "$0" .sh | tr -c 'a-zA-Z0-9\n' _ | tr A-Z a-z)_$$
	"$pg_bin/createdb" -h "$pg_host" -p "$pg_port" -U "$pg_user" "$pg_name" ||
		{ echo "Bail out! createdb $pg_name on $pg_host failed"; exit 1; }
	DB="postgresql:///$pg_name?host=$pg_host&port=$pg_port&user=$pg_user"
}
_pg_dropdb() {
	[ -n "$pg_name" ] || return 0
	"$pg_bin/dropdb" -h "$pg_host" -p "$pg_port" -U "$pg_user" --force "$pg_name" 2>/dev/null
	pg_name=
}
if [ -n "${TOKQ_TEST_PG:-}" ]; then
	eval "$("$TEST_ROOT/tests/pg/cluster.sh" env "$TOKQ_TEST_PG")" || exit 1
	_pg_createdb
fi

_tap_n=0
_tap_fail=0
_tap_planned=

out='' err='' rc=''

_cleanup() {
	local p
	# A forked subshell (a watchdog) inherits this trap: only the test cleans up.
	[ "$BASHPID" = "$$" ] || return 0
	for p in ${TOKQD_PID:+"$TOKQD_PID"} ${TOKQD2_PID:+"$TOKQD2_PID"} \
	    ${EXTRA_PIDS[@]+"${EXTRA_PIDS[@]}"}; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	_pg_dropdb
	[ -n "$pg_own" ] && "$TEST_ROOT/tests/pg/cluster.sh" stop "$pg_own"
	rm -rf "$T"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# ---- TAP -------------------------------------------------------------------

diag() {	# each argument on its own line(s)
	local arg line
	for arg in "$@"; do
		while IFS= read -r line; do
			printf '# %s\n' "$line"
		done <<<"$arg"
	done
}

plan() {
	_tap_planned=$1
	echo "1..$1"
}

_result() {	# _result PASS(0/1) NAME [DIAG...]
	local pass=$1 name=$2
	shift 2
	_tap_n=$((_tap_n + 1))
	if [ "$pass" = 0 ]; then
		echo "ok $_tap_n - $name"
		return 0
	fi
	_tap_fail=$((_tap_fail + 1))
	echo "not ok $_tap_n - $name"
	local caller="${BASH_SOURCE[2]:-?}:${BASH_LINENO[1]:-?}"
	diag "  at $caller"
	[ $# -gt 0 ] && diag "$@"
	return 1
}

ok() {
	local name=$1
	shift
	if "$@"; then
		_result 0 "$name"
	else
		_result 1 "$name" "  command failed: $*" "  last tokq: rc=$rc" "  stdout: $out" "  stderr: $err"
	fi
}

is() {
	if [ "$1" = "$2" ]; then
		_result 0 "$3"
	else
		_result 1 "$3" "  got:      '$1'" "  expected: '$2'"
	fi
}

isnt() {
	if [ "$1" != "$2" ]; then
		_result 0 "$3"
	else
		_result 1 "$3" "  got:      '$1'" "  expected anything else"
	fi
}

like() {
	if [[ $1 =~ $2 ]]; then
		_result 0 "$3"
	else
		_result 1 "$3" "  got:      '$1'" "  expected to match /$2/"
	fi
}

unlike() {
	if [[ $1 =~ $2 ]]; then
		_result 1 "$3" "  got:      '$1'" "  expected not to match /$2/"
	else
		_result 0 "$3"
	fi
}

skip() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $1 # SKIP $2"
}

skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

# Print the plan if none was given, show the daemon's log when something
# failed, and exit non-zero on failure.
done_testing() {
	# Under make check-asan a sanitizer report in the daemon's log fails the script.
	local log
	for log in tokqd.log tokqd2.log; do
		if grep -q 'Sanitizer\|runtime error:' "$T/$log" 2>/dev/null; then
			_result 1 "$log holds a sanitizer report" \
			    "$(grep -m 5 -A 5 'Sanitizer\|runtime error:' "$T/$log")"
		fi
	done
	if [ -z "$_tap_planned" ]; then
		echo "1..$_tap_n"
	fi
	if [ "$_tap_fail" -gt 0 ]; then
		for log in tokqd.log tokqd2.log; do
			if [ -s "$T/$log" ]; then
				diag "$log (last 30 lines):"
				diag "$(tail -n 30 "$T/$log")"
			fi
		done
		exit 1
	fi
	exit 0
}

# Give up on this script: one failing test point, the log, and out.
bail() {
	_result 1 "$1" "${@:2}"
	done_testing
}

# at TIME CMD...: run CMD with the test clock at TIME.  The test clock runs on
# from where it is set, so retry if its second ticked over meanwhile.
at() {
	local t=$1
	shift
	for _ in 1 2 3 4 5; do
		"$TOKQ" --socket "$SOCK" clock set "$t" >/dev/null 2>&1
		"$@"
		[ "$("$TOKQ" --socket "$SOCK" --json status | jq -r .now)" = "$t" ] && return 0
	done
	diag "the test clock would not stay at $t"
}

# ---- the client --------------------------------------------------------------

tq() {
	"$TOKQ" --socket "$SOCK" "$@" >"$T/.out" 2>"$T/.err"
	rc=$?
	out=$(<"$T/.out")
	err=$(<"$T/.err")
	return 0
}

tqj() {
	tq --json "$@"
}

jqv() {
	local v
	if v=$(jq -rc "$1" <<<"$out" 2>/dev/null); then
		printf '%s\n' "$v"
	else
		echo "JQ-ERROR"
	fi
}

stderr_lines() {
	if [ -z "$err" ]; then
		echo 0
	else
		printf '%s\n' "$err" | wc -l | tr -d ' '
	fi
}

# ---- the daemon --------------------------------------------------------------

# Poll (50 ms steps, up to ~5 s) until `tokq status` answers on $SOCK.
# Returns 1 when it does not, or when the process $1 died meanwhile.
wait_for_status() {
	local pid=${1:-}
	for _ in $(seq 300); do
		if "$TOKQ" --socket "$SOCK" status >/dev/null 2>&1; then
			return 0
		fi
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		sleep 0.05
	done
	return 1
}

# Start tokqd on $SOCK and $DB with the test clock and wait until it answers.
# A second start after stop_tokqd/kill_tokqd reuses the same database.
start_tokqd() {
	[ -x "$TOKQD" ] || bail "tokqd is built" "  no executable $TOKQD: run make first"
	"$TOKQD" --socket "$SOCK" --db "$DB" --test-clock "$@" 2>>"$T/tokqd.log" &
	TOKQD_PID=$!
	if ! wait_for_status "$TOKQD_PID"; then
		bail "tokqd answers on $SOCK" "  tokqd $* did not answer within 15 s" \
			"$(tail -n 20 "$T/tokqd.log" 2>/dev/null | sed 's/^/  log: /')"
	fi
}

# Wait for pid $1 for at most ~10 s, then SIGKILL it; sets $wait_rc.
_wait_bounded() {
	local pid=$1 dog
	# The watchdog's output is /dev/null from its birth: killed before it
	# could redirect, its inherited traps would speak on our stderr.
	{ ( for _ in $(seq 100); do sleep 0.1; done; kill -KILL "$pid" ) & } >/dev/null 2>&1
	dog=$!
	wait "$pid" 2>/dev/null
	wait_rc=$?
	kill "$dog" 2>/dev/null
	wait "$dog" 2>/dev/null
}

stop_tokqd() {
	[ -n "$TOKQD_PID" ] || bail "tokqd is running" "  stop_tokqd without start_tokqd"
	kill -TERM "$TOKQD_PID" 2>/dev/null
	_wait_bounded "$TOKQD_PID"
	TOKQD_PID=
	is "$wait_rc" 0 "tokqd exits 0 on SIGTERM"
}

kill_tokqd() {
	[ -n "$TOKQD_PID" ] || bail "tokqd is running" "  kill_tokqd without start_tokqd"
	kill -KILL "$TOKQD_PID" 2>/dev/null
	_wait_bounded "$TOKQD_PID"
	TOKQD_PID=
}

need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip_all "$c is not installed"
	done
}

# requires_sqlite WHY: what follows tests the SQLite file itself (its size,
# its lock, its WAL, writing it behind tokqd's back).  On the PostgreSQL
# store: at the top, the whole script is skipped; further down, the script
# ends there, its plan the tests run so far.
requires_sqlite() {
	[ -n "${TOKQ_TEST_PG:-}" ] || return 0
	[ "$_tap_n" = 0 ] && skip_all "SQLite store only: $1"
	diag "the rest is for the SQLite store only: $1"
	done_testing
}

# empty_db: a new, empty database at $DB for the next start_tokqd.
empty_db() {
	if [ -n "$pg_name" ]; then
		_pg_dropdb
		_pg_createdb
	else
		rm -f "$DB" "$DB-wal" "$DB-shm"
	fi
}

# pg_own_cluster [--tcp ADDR]: this script's own PostgreSQL cluster in $T/pg
# (so it may stop and start it), a database on it, $DB its URI.  Only on
# the PostgreSQL store: skip_all otherwise.
pg_own_cluster() {
	[ -n "${TOKQ_TEST_PG:-}" ] || skip_all "PostgreSQL store only (TOKQ_TEST_PG is not set)"
	_pg_dropdb
	pg_own=$T/pg
	chmod 711 "$T"	# the server's user reaches $T/pg, and lists nothing
	"$TEST_ROOT/tests/pg/cluster.sh" start "$pg_own" "$@" ||
		{ pg_own=; bail "a cluster of our own starts" "  cluster.sh start $*"; }
	eval "$("$TEST_ROOT/tests/pg/cluster.sh" env "$pg_own")"
	_pg_createdb
}

# ---- a second daemon on the same database (PostgreSQL: a second host) --------

tq2() { SOCK=$SOCK2 tq "$@"; }
tqj2() { SOCK=$SOCK2 tq --json "$@"; }

# TOKQD2_WRAP (an array: a command prefix, say `ip netns exec NS`) and DB2
# (another URI for the same database) place it on another "host".
TOKQD2_WRAP=()
DB2=
start_tokqd2() {
	${TOKQD2_WRAP[@]+"${TOKQD2_WRAP[@]}"} "$TOKQD" --socket "$SOCK2" --db "${DB2:-$DB}" \
		--test-clock "$@" 2>>"$T/tokqd2.log" &
	TOKQD2_PID=$!
	if ! SOCK=$SOCK2 wait_for_status "$TOKQD2_PID"; then
		bail "the second tokqd answers on $SOCK2" "  tokqd $* did not answer" \
			"$(tail -n 20 "$T/tokqd2.log" 2>/dev/null | sed 's/^/  log: /')"
	fi
}

stop_tokqd2() {
	kill -TERM "$TOKQD2_PID" 2>/dev/null
	_wait_bounded "$TOKQD2_PID"
	TOKQD2_PID=
	is "$wait_rc" 0 "the second tokqd exits 0 on SIGTERM"
}

kill_tokqd2() {
	kill -KILL "$TOKQD2_PID" 2>/dev/null
	_wait_bounded "$TOKQD2_PID"
	TOKQD2_PID=
}
