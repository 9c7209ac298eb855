#!/usr/bin/env bash
# cluster.sh: a throw-away PostgreSQL cluster for the tests.
#
#   cluster.sh start DIR [--tcp [ADDR]]   initdb in DIR/data (once), start it, wait
#   cluster.sh stop DIR                   stop it (fast, then immediate); nothing left running
#   cluster.sh env DIR                    pg_bin= pg_host= pg_port= pg_user= lines, for eval
#
# For a failover (a standby promoted to be the new primary):
#
#   cluster.sh standby DIR PRIMARY_DIR [--sync]
#                         a streaming standby of PRIMARY_DIR's (running)
#                         cluster in DIR/data: its base backup, its socket
#                         in DIR on the primary's port, started; waits until
#                         it streams.  --sync: then the primary commits only
#                         once the standby has the commit's WAL
#                         (synchronous_standby_names), and this waits until
#                         the primary names it its synchronous standby
#   cluster.sh crash DIR                  stop it as a crash would: immediate
#                                         mode, no shutdown checkpoint, its
#                                         clients and standbys just lose it
#   cluster.sh promote DIR                promote the standby in DIR; waits
#                                         until it accepts writes
#
# The server runs as an unprivileged user (PostgreSQL refuses root): `nobody`
# when we are root, else ourselves.  Trust authentication; the Unix socket
# only in DIR (listen_addresses = '').  With --tcp it also listens on ADDR
# (default 127.0.0.1) on a free port, trusting clients on the same networks
# (a second "host" in a network namespace behind a veth pair).  The
# cluster's superuser is `postgres`.  Durability is tokqd's business, not
# the test cluster's: fsync is off, but synchronous_commit stays on, so a
# commit is still answered only after the server wrote its WAL record.
set -eu

usage() {
	echo "usage: $0 start DIR [--tcp [ADDR]] | stop DIR | env DIR |" \
	    "standby DIR PRIMARY_DIR [--sync] | crash DIR | promote DIR" >&2
	exit 64
}
[ $# -ge 2 ] || usage
cmd=$1 dir=$2
shift 2

# The newest installed server's binaries (Debian: /usr/lib/postgresql/N/bin).
pg_bin() {
	local b
	b=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5n | tail -n 1)
	if [ -z "$b" ] && command -v pg_config >/dev/null; then
		b=$(pg_config --bindir)
	fi
	[ -x "$b/initdb" ] || { echo "cluster.sh: no PostgreSQL server (initdb) installed" >&2; exit 69; }
	echo "$b"
}

# as_owner CMD...: run CMD as the cluster's owner.
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		(cd / && runuser -u nobody -- "$@")
	else
		"$@"
	fi
}

# own_dir DIR: DIR (made, absolute on stdout) the owner's alone; as root,
# nobody must reach it: every directory above it searchable.
own_dir() {
	local d
	mkdir -p "$1"
	d=$(cd "$1" && pwd)
	if [ "$(id -u)" = 0 ]; then
		chown nobody "$d"
		chmod 700 "$d"
		local up=$d
		while [ "$up" != / ]; do
			up=$(dirname "$up")
			runuser -u nobody -- test -x "$up" || {
				echo "cluster.sh: $up is not searchable by nobody" >&2; exit 77; }
		done
	fi
	echo "$d"
}

# sql DIR QUERY: QUERY's one value on DIR's running server, "" when it fails.
sql() {
	# shellcheck disable=SC2034  # pg_addr: set by the eval, unused here
	local pg_bin pg_host pg_port pg_user pg_addr
	eval "$(tr ' ' '\n' <"$1/env")"
	"$pg_bin/psql" -X -q -A -t -h "$pg_host" -p "$pg_port" -U "$pg_user" -d postgres \
		-c "$2" 2>/dev/null || true
}

# until_sql DIR QUERY WANT WHAT: poll (0.1 s steps, up to 30 s) until QUERY says WANT.
until_sql() {
	local got
	for _ in $(seq 300); do
		got=$(sql "$1" "$2")
		[ "$got" = "$3" ] && return 0
		sleep 0.1
	done
	echo "cluster.sh: $4: not within 30 s ($2: '$got', not '$3')" >&2
	exit 70
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case $cmd in
start)
	tcp= addr=127.0.0.1
	if [ "${1:-}" = --tcp ]; then
		tcp=1
		[ -n "${2:-}" ] && addr=$2
	fi
	bin=$(pg_bin)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [ "$(id -u)" = 0 ]; then
		# nobody must reach DIR: every directory above it searchable.
		chown nobody "$dir"
		chmod 700 "$dir"
		d=$dir
		while [ "$d" != / ]; do
			d=$(dirname "$d")
			runuser -u nobody -- test -x "$d" || {
				echo "cluster.sh: $d is not searchable by nobody" >&2; exit 77; }
		done
	fi
	if [ -f "$dir/data/PG_VERSION" ]; then	# again after a stop: the same cluster
		as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start >/dev/null ||
			{ tail -n 20 "$dir/server.log" >&2; exit 70; }
		exit 0
	fi
	port=5432
	listen=
	[ -n "$tcp" ] && port=$(free_port) && listen=$addr
	as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C \
		--no-sync --no-instructions >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 70; }
	cat >>"$dir/data/postgresql.conf" <<-EOF
		# cluster.sh: a throw-away test cluster
		listen_addresses = '$listen'
		port = $port
		unix_socket_directories = '$dir'
		max_connections = 200
		shared_buffers = 16MB
		fsync = off
		full_page_writes = off
		synchronous_commit = on
		log_min_messages = warning
		log_connections = off
	EOF
	if [ -n "$tcp" ]; then
		echo "host all all samenet trust" >>"$dir/data/pg_hba.conf"
	fi
	echo "pg_bin=$bin pg_host=$dir pg_port=$port pg_user=postgres${tcp:+ pg_addr=$addr}" >"$dir/env"
	as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start >/dev/null ||
		{ tail -n 20 "$dir/server.log" >&2; exit 70; }
	;;
stop)
	[ -d "$dir/data" ] || exit 0
	bin=$(pg_bin)
	if [ -f "$dir/data/postmaster.pid" ]; then
		# A test may have stopped the server (SIGSTOP, as if hung): go on first.
		pid=$(head -n 1 "$dir/data/postmaster.pid")
		kill -CONT "$pid" 2>/dev/null || true
		pkill -CONT -P "$pid" 2>/dev/null || true
		as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 20 stop >/dev/null 2>&1 ||
			as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
	fi
	# Nothing may be left running: the postmaster's pid file names it.
	if [ -f "$dir/data/postmaster.pid" ]; then
		pid=$(head -n 1 "$dir/data/postmaster.pid")
		kill -KILL "$pid" 2>/dev/null || true
		echo "cluster.sh: killed postmaster $pid" >&2
		exit 1
	fi
	;;
standby)
	[ $# -ge 1 ] || usage
	primary=$(cd "$1" && pwd) sync=
	[ "${2:-}" = --sync ] && sync=1
	[ -f "$primary/env" ] || { echo "cluster.sh: no cluster in $primary" >&2; exit 69; }
	bin=$(pg_bin)
	dir=$(own_dir "$dir")
	# shellcheck disable=SC2046
	eval $(tr ' ' '\n' <"$primary/env" | grep '^pg_port=')
	# The backup carries the primary's postgresql.conf; -R adds
	# primary_conninfo (its socket and port) and standby.signal.
	as_owner "$bin/pg_basebackup" -D "$dir/data" -h "$primary" -p "$pg_port" -U postgres \
		-R -X stream -c fast --no-sync >"$dir/basebackup.log" 2>&1 ||
		{ cat "$dir/basebackup.log" >&2; exit 70; }
	# Its own socket directory (the same port: a Unix socket's address is
	# the directory), and nothing on TCP (the primary's address is taken).
	cat >>"$dir/data/postgresql.conf" <<-EOF
		# cluster.sh: a standby of $primary
		listen_addresses = ''
		unix_socket_directories = '$dir'
	EOF
	echo "pg_bin=$bin pg_host=$dir pg_port=$pg_port pg_user=postgres" >"$dir/env"
	as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start >/dev/null ||
		{ tail -n 20 "$dir/server.log" >&2; exit 70; }
	until_sql "$dir" "SELECT status FROM pg_stat_wal_receiver" streaming "the standby streams"
	if [ -n "$sync" ]; then
		# Set on the primary only, after the backup: the standby, once
		# promoted, has no standby to wait for.
		sql "$primary" "ALTER SYSTEM SET synchronous_standby_names = '*'" >/dev/null
		[ "$(sql "$primary" "SELECT pg_reload_conf()")" = t ] ||
			{ echo "cluster.sh: the primary would not require its standby" >&2; exit 70; }
		until_sql "$primary" "SELECT string_agg(sync_state, ',') FROM pg_stat_replication" sync \
			"the primary commits synchronously to its standby"
	fi
	;;
crash)
	[ -f "$dir/data/postmaster.pid" ] || { echo "cluster.sh: nothing runs in $dir" >&2; exit 69; }
	as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -m immediate -w -t 20 stop >/dev/null ||
		{ echo "cluster.sh: the server in $dir would not stop" >&2; exit 70; }
	;;
promote)
	[ -f "$dir/data/standby.signal" ] || { echo "cluster.sh: no standby in $dir" >&2; exit 69; }
	as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -w -t 30 promote >/dev/null ||
		{ tail -n 20 "$dir/server.log" >&2; exit 70; }
	until_sql "$dir" "SELECT pg_is_in_recovery()" f "the promoted server accepts writes"
	;;
env)
	[ -f "$dir/env" ] || { echo "cluster.sh: no cluster in $dir" >&2; exit 69; }
	tr ' ' '\n' <"$dir/env"
	;;
*)
	usage
	;;
esac
