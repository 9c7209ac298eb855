#!/usr/bin/env bash
# bench/run.sh: what `make bench` runs.  See bench/README.md for what each
# figure means and how it is measured.
#
#   bench/run.sh [--with-redis] [--scale] [--quick]
#
#   --with-redis (or BENCH_REDIS=1)  apt-get install redis-server/redis-tools
#                                    if they are missing (needs the network);
#                                    without it Redis is compared only when
#                                    it is already installed.
#   --scale (or BENCH_SCALE=1)       the history target instead: 10M events,
#                                    100k users, 30 days (BENCH_EVENTS,
#                                    BENCH_USERS scale it down).
#   --quick                          one run per figure instead of three.
#   BENCH_SECONDS                    seconds per load run (default 3).
set -u
cd "$(dirname "$0")/.."
B=${TOKQ_BUILD:-build}
BENCH=$B/tokq-bench
SECS=${BENCH_SECONDS:-3}
RUNS=3
WITH_REDIS=${BENCH_REDIS:-0}
SCALE=${BENCH_SCALE:-0}
for a in "$@"; do
	case $a in
	--with-redis) WITH_REDIS=1 ;;
	--scale) SCALE=1 ;;
	--quick) RUNS=1 ;;
	*) echo "usage: bench/run.sh [--with-redis] [--scale] [--quick]" >&2; exit 64 ;;
	esac
done
for p in "$B/tokqd" "$B/tokq" "$BENCH"; do
	[ -x "$p" ] || { echo "bench: $p is not built (make all)" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "bench: needs jq (make deps)" >&2; exit 1; }

T=$(mktemp -d /tmp/tokq-bench.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }

# The median of the numbers on stdin, one a line.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "nan" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }

DPID=
SOCK=
# Start a tokqd on the database $1 (socket next to it), extra args after.
daemon_start() {
	local db=$1; shift
	SOCK=$T/tokq.sock
	"$B/tokqd" --socket "$SOCK" --db "$db" "$@" 2>>"$T/tokqd.log" &
	DPID=$!
	PIDS+=("$DPID")
	"$BENCH" --socket "$SOCK" --wait-ready 10000 >/dev/null ||
		{ log "bench: tokqd did not start:"; cat "$T/tokqd.log" >&2; exit 1; }
}
daemon_stop() {
	[ -n "$DPID" ] || return 0
	kill "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	DPID=
}
tq() { "$B/tokq" --socket "$SOCK" "$@" >/dev/null; }

# A realistic rule set: every check and record evaluates five rules and
# touches the user's, the user's model's, the guild's and the global counters.
rules() {
	tq price set '*' --input 2.5 --output 10
	tq price set m0 --input 0.15 --output 0.6
	tq limit set --default --tokens 1000000000 --per 30d
	tq limit set --default --requests 1000000 --per 1h
	tq limit set --default --each-model --tokens 100000000 --per day
	tq limit set --default --cost 100000 --per month
	tq limit set --global --cost 100000000 --per month
}

# Count the daemon's fsync + fdatasync calls while "$@" runs: perf
# tracepoints when perf can use them (no overhead on other syscalls), else
# strace -c (which slows every syscall it stops, so the load figure of that
# run is lower; the ratio is still a count).
SYNC_TOOL=none
if perf stat -e syscalls:sys_enter_fdatasync -- true >/dev/null 2>&1; then
	SYNC_TOOL=perf
elif command -v strace >/dev/null; then
	SYNC_TOOL=strace
fi
with_sync_count() {
	local out=$T/sync.out rc
	case $SYNC_TOOL in
	perf)
		perf stat -x, -e syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync \
			-p "$DPID" -o "$out" &
		local sp=$!
		sleep 0.2
		"$@"; rc=$?
		kill -INT $sp 2>/dev/null; wait $sp 2>/dev/null
		awk -F, '/sys_enter_f/ { n += $1 } END { print n + 0 }' "$out" >"$T/syncs"
		;;
	strace)
		strace -c -f -e trace=fdatasync,fsync -p "$DPID" -o "$out" &
		local sp=$!
		sleep 0.5
		"$@"; rc=$?
		kill -INT $sp 2>/dev/null; wait $sp 2>/dev/null
		awk '$NF ~ /^f(data)?sync$/ { n += $4 } END { print n + 0 }' "$out" >"$T/syncs"
		;;
	*)
		"$@"; rc=$?
		echo 0 >"$T/syncs"
		;;
	esac
	return $rc
}

# One load run: prints its JSON line plus "syncs".
load() {
	local clients=$1 mix=$2 users=${3:-10000}
	with_sync_count "$BENCH" --socket "$SOCK" --clients "$clients" --seconds "$SECS" \
		--mix "$mix" --users "$users" --json >"$T/load.json" || true
	jq -c --argjson s "$(cat "$T/syncs")" '. + {syncs: $s}' "$T/load.json"
}

# Medians over RUNS runs of load $@: "ops_per_s p50 p99 p999 errors recs_per_sync".
load_median() {
	local i f=$T/runs.jsonl
	: >"$f"
	for i in $(seq "$RUNS"); do load "$@" >>"$f"; done
	printf '%s %s %s %s %s %s\n' \
		"$(jq .ops_per_s "$f" | median)" "$(jq .p50_us "$f" | median)" \
		"$(jq .p99_us "$f" | median)" "$(jq .p999_us "$f" | median)" \
		"$(jq .errors "$f" | awk '{ n += $1 } END { print n + 0 }')" \
		"$(jq 'if .syncs > 0 then .records / .syncs else 0 end' "$f" | median)"
}

machine() {
	log "machine: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	local busy
	busy=$(ps -eo pcpu=,comm= | awk '$1 > 5 && $2 != "tokqd" && $2 != "tokq-bench" { n++ } END { print n + 0 }')
	[ "$busy" -gt 0 ] && log "machine: note: $busy other busy processes; figures are noisier"
}

# ---------------------------------------------------------------------------
# The default bench: client cost, throughput, Redis.
# ---------------------------------------------------------------------------
bench_default() {
	machine
	daemon_start "$T/tokq.db"
	rules

	# 1. Client cost: tokq check as a subprocess vs an empty dynamic C program.
	printf 'int main(void) { return 0; }\n' >"$T/empty.c"
	cc -O2 -o "$T/empty" "$T/empty.c" || { log "bench: no C compiler"; exit 1; }
	local i e c er cr n=${BENCH_SPAWNS:-1000}
	local check=("$B/tokq" --socket "$SOCK" check --user u1 --guild g1 --model m0 --tokens 500)
	: >"$T/spawn.e"; : >"$T/spawn.c"
	for i in $(seq "$RUNS"); do
		"$BENCH" --spawn "$n" --json -- "$T/empty" | jq .mean_us >>"$T/spawn.e"
		"$BENCH" --spawn "$n" --json -- "${check[@]}" | jq .mean_us >>"$T/spawn.c"
	done
	e=$(median <"$T/spawn.e"); c=$(median <"$T/spawn.c")
	local hf=""
	if command -v hyperfine >/dev/null; then
		hyperfine -N --warmup 50 --runs 500 --export-json "$T/hf.json" \
			"$T/empty" "${check[*]}" >/dev/null 2>&1 &&
			hf=$(jq -r '[.results[].mean * 1e6] | "\(.[0]|floor) us, \(.[1]|floor) us, ratio \((.[1] / .[0]) * 100 | floor / 100)"' "$T/hf.json")
	fi

	# 2. Throughput and latency.
	declare -A R
	local k
	for k in 1 8 50 64; do
		log "bench: mixed, $k clients ($RUNS x ${SECS}s)"
		R[mixed$k]=$(load_median "$k" mixed)
	done
	log "bench: check and record alone, 50 clients"
	R[check50]=$(load_median 50 check)
	R[record50]=$(load_median 50 record)
	"$B/tokq" --socket "$SOCK" --json status | jq -c '{events, db_bytes}' >"$T/status.json"
	daemon_stop

	# 2b. The same mixed load on the PostgreSQL store, one daemon and two.
	local pg=""
	bench_pg && pg=1

	# 3. Redis INCR over a Unix socket, 50 clients.
	local redis_none="" redis_always=""
	if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
		if [ "$WITH_REDIS" = 1 ]; then
			log "bench: installing redis-server and redis-tools"
			SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
			$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
				$SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
		fi
	fi
	if command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
		redis_none=$(redis_median no)
		redis_always=$(redis_median always)
	fi

	# The table.
	set -- ${R[mixed50]}
	local m50=$1
	printf '\n== tokq bench: %s, medians of %d runs of %ss (events at the end: %s)\n' \
		"$(date -u +%FT%TZ)" "$RUNS" "$SECS" "$(cat "$T/status.json")"
	printf '%-44s %10s %9s %9s %9s %6s %10s\n' load ops/s p50_us p99_us p999_us errors recs/fsync
	for k in mixed1 mixed8 mixed50 mixed64 check50 record50; do
		set -- ${R[$k]}
		printf '%-44s %10.0f %9.1f %9.1f %9.1f %6s %10.1f\n' \
			"tokq $k (synchronous=FULL, ack after commit)" "$1" "$2" "$3" "$4" "$5" "$6"
	done
	if [ -n "$redis_none" ]; then
		set -- $redis_none
		printf '%-44s %10.0f %9.1f %9.1f %9s %6s %10s\n' "redis INCR 50 clients, no persistence" "$1" "$2" "$3" - - -
		set -- $redis_always
		printf '%-44s %10.0f %9.1f %9.1f %9s %6s %10s\n' "redis INCR 50 clients, appendfsync always" "$1" "$2" "$3" - - -
	fi
	printf '\n%-58s %12s %8s %s\n' figure measured target verdict
	row() { printf '%-58s %12s %8s %s\n' "$1" "$2" "$3" "$(awk -v m="$2" -v t="$4" -v op="$5" 'BEGIN { if (m == "n/a") print "n/a"; else if ((op == "<=" && m + 0 <= t + 0) || (op == ">=" && m + 0 >= t + 0)) print "met"; else print "MISSED" }')"; }
	printf '%-58s %12s\n' "spawn: empty C program, mean us" "$e"
	printf '%-58s %12s\n' "spawn: tokq check, mean us" "$c"
	row "client cost: tokq check / empty program" "$(ratio "$c" "$e")" "<=1.25" 1.25 "<="
	[ -n "$hf" ] && printf '%-58s %s\n' "  (hyperfine -N cross-check: empty, check, ratio)" "$hf"
	if [ -n "$redis_none" ]; then
		row "mixed@50 / redis INCR appendfsync always" "$(ratio "$m50" "${redis_always%% *}")" ">=1.5" 1.5 ">="
		row "mixed@50 / redis INCR no persistence" "$(ratio "$m50" "${redis_none%% *}")" ">=1.0" 1.0 ">="
	else
		printf '%-58s %12s\n' "redis comparison" "skipped (not installed; --with-redis)"
	fi
	for k in 1 8 64; do
		set -- ${R[mixed$k]}
		printf '%-58s %12.1f\n' "records per fsync at $k clients ($SYNC_TOOL)" "$6"
	done
	if [ -n "$pg" ]; then
		printf '\n%-44s %10s %9s %9s %9s %6s\n' "PostgreSQL store (fsync on)" ops/s p50_us p99_us p999_us errors
		set -- ${R[pg1]}
		printf '%-44s %10.0f %9.1f %9.1f %9.1f %6s\n' "tokq mixed50, one tokqd" "$1" "$2" "$3" "$4" "$5"
		set -- ${R[pg2]}
		printf '%-44s %10.0f %9.1f %9.1f %9.1f %6s\n' "tokq mixed50, two tokqd (25 clients each)" "$1" "$2" "$3" "$4" "$5"
		printf '%-58s %12s\n' "spawn: tokq check on PostgreSQL, mean us" "$PG_SPAWN"
		row "PostgreSQL mixed@50, one tokqd / SQLite mixed@50" "$(ratio "${R[pg1]%% *}" "$m50")" ">=0.25" 0.25 ">="
		row "PostgreSQL mixed@50, two tokqd / SQLite mixed@50" "$(ratio "${R[pg2]%% *}" "$m50")" ">=0.25" 0.25 ">="
	else
		printf '%-58s %12s\n' "PostgreSQL store" "skipped (no PostgreSQL server installed)"
	fi
}

# Two loads at once, one on each daemon: "ops_per_s p50 p99 p999 errors",
# ops summed, latencies the larger of the two.
load2() {
	local clients=$1 mix=$2
	"$BENCH" --socket "$SOCK" --clients "$clients" --seconds "$SECS" --mix "$mix" \
		--users 10000 --json >"$T/l1.json" &
	local p=$!
	"$BENCH" --socket "$SOCK2" --clients "$clients" --seconds "$SECS" --mix "$mix" \
		--users 10000 --json >"$T/l2.json"
	wait $p
	jq -s -c '{ops_per_s: (.[0].ops_per_s + .[1].ops_per_s),
		p50_us: ([.[].p50_us] | max), p99_us: ([.[].p99_us] | max),
		p999_us: ([.[].p999_us] | max), errors: (.[0].errors + .[1].errors)}' \
		"$T/l1.json" "$T/l2.json"
}

# The PostgreSQL store: a throw-away cluster (tests/pg/cluster.sh) made
# durable as a production server is (fsync and full-page writes on, commit
# waits for the WAL flush), on this machine's Unix socket; the same rules;
# mixed load at 50 clients on one tokqd, then split over two tokqd sharing
# the database.  Sets R[pg1], R[pg2], PG_SPAWN; returns 1 when skipped.
bench_pg() {
	local d=$T/pg i f
	[ -x tests/pg/cluster.sh ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || return 1
	log "bench: PostgreSQL: a cluster of its own in $d"
	# The SQLite runs just before left their file's pages to be written
	# back: flushed now, so that they do not share the disk with the
	# cluster's fsyncs.
	sync
	chmod 711 "$T"	# the cluster runs as another user, under $T
	tests/pg/cluster.sh start "$d" >/dev/null || { log "bench: no PostgreSQL cluster"; return 1; }
	eval "$(tests/pg/cluster.sh env "$d")"
	"$pg_bin/psql" -q -h "$pg_host" -p "$pg_port" -U "$pg_user" -d postgres \
		-c "ALTER SYSTEM SET fsync = on" -c "ALTER SYSTEM SET full_page_writes = on" \
		-c "SELECT pg_reload_conf()" >/dev/null
	"$pg_bin/createdb" -h "$pg_host" -p "$pg_port" -U "$pg_user" tokqbench
	local uri="postgresql:///tokqbench?host=$pg_host&port=$pg_port&user=$pg_user"
	daemon_start "$uri"
	rules
	log "bench: PostgreSQL, mixed, 50 clients, one tokqd ($RUNS x ${SECS}s)"
	R[pg1]=$(load_median 50 mixed)
	: >"$T/spawn.pg"
	for i in $(seq "$RUNS"); do
		"$BENCH" --spawn "${BENCH_SPAWNS:-1000}" --json -- "$B/tokq" --socket "$SOCK" \
			check --user u1 --guild g1 --model m0 --tokens 500 | jq .mean_us >>"$T/spawn.pg"
	done
	PG_SPAWN=$(median <"$T/spawn.pg")
	SOCK2=$T/tokq2.sock
	"$B/tokqd" --socket "$SOCK2" --db "$uri" 2>>"$T/tokqd2.log" &
	local d2=$!
	PIDS+=("$d2")
	"$BENCH" --socket "$SOCK2" --wait-ready 10000 >/dev/null ||
		{ log "bench: the second tokqd did not start"; cat "$T/tokqd2.log" >&2; }
	log "bench: PostgreSQL, mixed, 50 clients over two tokqd ($RUNS x ${SECS}s)"
	f=$T/runs2.jsonl
	: >"$f"
	for i in $(seq "$RUNS"); do load2 25 mixed >>"$f"; done
	R[pg2]=$(printf '%s %s %s %s %s\n' \
		"$(jq .ops_per_s "$f" | median)" "$(jq .p50_us "$f" | median)" \
		"$(jq .p99_us "$f" | median)" "$(jq .p999_us "$f" | median)" \
		"$(jq .errors "$f" | awk '{ n += $1 } END { print n + 0 }')")
	kill "$d2"; wait "$d2" 2>/dev/null
	daemon_stop
	tests/pg/cluster.sh stop "$d"
	return 0
}

# Medians over RUNS runs of redis-benchmark INCR: "rps p50_us p99_us".
redis_median() {
	local fsync=$1 i d=$T/redis f=$T/redis.csv
	rm -rf "$d"; mkdir -p "$d"
	local args=(--port 0 --unixsocket "$d/redis.sock" --dir "$d" --save '' --daemonize no)
	if [ "$fsync" = always ]; then
		args+=(--appendonly yes --appendfsync always)
	else
		args+=(--appendonly no)
	fi
	redis-server "${args[@]}" >"$d/log" 2>&1 &
	local rp=$!
	PIDS+=("$rp")
	for i in $(seq 100); do [ -S "$d/redis.sock" ] && break; sleep 0.05; done
	log "bench: redis INCR, 50 clients, appendfsync $fsync ($RUNS runs)"
	: >"$f"
	for i in $(seq "$RUNS"); do
		redis-benchmark -s "$d/redis.sock" -c 50 -n "${BENCH_REDIS_N:-200000}" -t incr --csv 2>/dev/null |
			awk -F, '$1 ~ /INCR/ { gsub(/"/, ""); print $2, $5 * 1000, $7 * 1000 }' >>"$f"
	done
	kill "$rp"; wait "$rp" 2>/dev/null
	printf '%s %s %s\n' "$(cut -d' ' -f1 "$f" | median)" "$(cut -d' ' -f2 "$f" | median)" \
		"$(cut -d' ' -f3 "$f" | median)"
}

# ---------------------------------------------------------------------------
# The scale bench: flat with history, cold start, maintenance.
# ---------------------------------------------------------------------------
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$DPID/status"; }
hwm_kib() { awk '/^VmHWM/ { print $2 }' "/proc/$DPID/status"; }

bench_scale() {
	local events=${BENCH_EVENTS:-10000000} users=${BENCH_USERS:-100000} days=30
	local db=$T/scale.db t0 now
	machine
	log "bench: scale: $events events, $users users, $days days"

	# The daemon runs with --test-clock so that the month rollover and the
	# prune can be brought on at will.  The clock sits at 12:00 on the
	# 29th of this month: the preloaded 30 days end there.
	daemon_start "$db" --test-clock
	rules
	now=$(date -u +%s)
	t0=$(date -u -d "$(date -u +%Y-%m-29) 12:00:00" +%s 2>/dev/null) || t0=$now
	tq clock set "$(date -u -d "@$t0" +%FT%TZ)"

	# Check latency on the empty database (1 client).
	log "bench: scale: check latency, empty database"
	"$BENCH" --socket "$SOCK" --clients 1 --seconds "$SECS" --mix check --users "$users" \
		--json >"$T/empty_check.json"

	daemon_stop

	# Preload offline with the daemon's own store code (tokq-preload): the
	# events, daily totals, buckets and month archive a month of live use
	# would have left.  Going through the socket would take about an hour.
	log "bench: scale: preloading $events events"
	local ts=$SECONDS
	"$B/tokq-preload" --db "$db" --events "$events" --users "$users" --days "$days" \
		--end "$t0" >"$T/preload.json" || { log "bench: preload failed"; exit 1; }
	local preload_s=$((SECONDS - ts))
	log "bench: scale: preload took ${preload_s}s"

	# Cold start: drop the page cache if allowed, time start to first answer.
	sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null && local dropped=yes || dropped=no
	local start_ns=$(date +%s%N)
	"$B/tokqd" --socket "$SOCK" --db "$db" --test-clock 2>>"$T/tokqd.log" &
	DPID=$!; PIDS+=("$DPID")
	"$BENCH" --socket "$SOCK" --wait-ready 30000 --json >"$T/cold.json"
	local cold_ms=$(jq --argjson s "$start_ns" '(.answered_at_ns - $s) / 1e6 | . * 10 | floor / 10' "$T/cold.json")
	"$B/tokq" --socket "$SOCK" --json status >"$T/status.json"

	# Check latency with history: the first pass loads counters from the
	# store; the second, random users again, mostly does too.
	log "bench: scale: check latency with history"
	"$BENCH" --socket "$SOCK" --clients 1 --seconds "$SECS" --mix check --users "$users" \
		--json >"$T/hist_check1.json"
	"$BENCH" --socket "$SOCK" --clients 1 --seconds "$SECS" --mix check --users "$users" \
		--json >"$T/hist_check2.json"
	# Counters in memory: 5,000 of the users (each with its month of
	# history) checked until all are loaded, then measured; random users
	# among 100,000 are mostly first touches, as above.
	local active=$((users < 5000 ? users : 5000))
	"$BENCH" --socket "$SOCK" --clients 1 --seconds "$SECS" --mix check --users "$active" \
		--json >/dev/null
	"$BENCH" --socket "$SOCK" --clients 1 --seconds "$SECS" --mix check --users "$active" \
		--json >"$T/hist_check_mem.json"
	log "bench: scale: mixed load, 50 clients, every user"
	"$BENCH" --socket "$SOCK" --clients 50 --seconds "$((SECS * 3))" --mix mixed \
		--users "$users" --json >"$T/hist_mixed.json"
	local rss=$(rss_kib) hwm=$(hwm_kib)

	# The same load as during maintenance below, before the clock jumps:
	# what the p99 is at this size with only the minute's prune due.
	log "bench: scale: mixed load, 8 clients, before the clock jumps"
	"$BENCH" --socket "$SOCK" --clients 8 --seconds "${BENCH_BASE_SECONDS:-30}" --mix mixed \
		--users "$users" --json >"$T/base8.json"

	# Maintenance under load: advance 3 days, past the month's end, so that
	# 10% of the events leave retention, the month rolls over and a day of
	# minute buckets folds, while 8 clients keep checking and recording.
	local msecs=${BENCH_MAINT_SECONDS:-90}
	log "bench: scale: maintenance under load (prune + rollover + fold), ${msecs}s"
	"$BENCH" --socket "$SOCK" --clients 8 --seconds "$msecs" --mix mixed \
		--users "$users" --json >"$T/maint.json" &
	local bp=$!
	sleep 1
	local raw0=n/a
	command -v sqlite3 >/dev/null && raw0=$(sqlite3 -readonly "$db" 'SELECT count(*) FROM events')
	ts=$SECONDS
	"$B/tokq" --socket "$SOCK" clock advance 3d >/dev/null
	log "bench: scale: clock advance answered after $((SECONDS - ts))s"
	wait $bp
	"$B/tokq" --socket "$SOCK" --json status >"$T/status2.json"
	daemon_stop
	local raw=n/a
	command -v sqlite3 >/dev/null && raw=$(sqlite3 -readonly "$db" 'SELECT count(*) FROM events')

	printf '\n== tokq bench --scale: %s events, %s users, %s days (%s)\n' \
		"$events" "$users" "$days" "$(date -u +%FT%TZ)"
	printf 'preload: %ss offline (tokq-preload: %s)\n' "$preload_s" "$(cat "$T/preload.json")"
	printf 'database: %s\n' "$(jq -c '{events, users, db_bytes}' "$T/status.json")"
	printf '%-52s %10s %9s %9s %9s\n' "check, 1 client" ops/s p50_us p99_us p999_us
	for f in empty_check "hist_check1" "hist_check2" "hist_check_mem"; do
		jq -r --arg n "$f" '[$n, .ops_per_s, .p50_us, .p99_us, .p999_us] | @tsv' "$T/$f.json" |
			awk -F'\t' '{ printf "%-52s %10.0f %9.1f %9.1f %9.1f\n", $1, $2, $3, $4, $5 }'
	done
	jq -r '["mixed, 50 clients", .ops_per_s, .p50_us, .p99_us, .p999_us] | @tsv' "$T/hist_mixed.json" |
		awk -F'\t' '{ printf "%-52s %10.0f %9.1f %9.1f %9.1f\n", $1, $2, $3, $4, $5 }'
	jq -r '["mixed, 8 clients, before the clock jumps", .ops_per_s, .p50_us, .p99_us, .p999_us, .max_us] | @tsv' "$T/base8.json" |
		awk -F'\t' '{ printf "%-52s %10.0f %9.1f %9.1f %9.1f (max %.0f)\n", $1, $2, $3, $4, $5, $6 }'
	jq -r '["mixed, 8 clients, during prune + rollover", .ops_per_s, .p50_us, .p99_us, .p999_us, .max_us] | @tsv' "$T/maint.json" |
		awk -F'\t' '{ printf "%-52s %10.0f %9.1f %9.1f %9.1f (max %.0f)\n", $1, $2, $3, $4, $5, $6 }'
	local e50 h50 h99
	e50=$(jq .p50_us "$T/empty_check.json"); h50=$(jq .p50_us "$T/hist_check2.json")
	h99=$(jq .p99_us "$T/hist_check1.json")
	printf '\n%-58s %12s %8s\n' figure measured target
	printf '%-58s %12s %8s\n' "check p50 with history / empty db (counters in memory)" \
		"$(ratio "$(jq .p50_us "$T/hist_check_mem.json")" "$e50")" "<=1.2"
	printf '%-58s %12s %8s\n' "check p99 us with history (counters in memory)" \
		"$(jq .p99_us "$T/hist_check_mem.json")" "<250"
	printf '%-58s %12s %8s\n' "check p50 with history / empty db (second pass)" "$(ratio "$h50" "$e50")" "<=1.2"
	printf '%-58s %12s %8s\n' "check p50 with history / empty db (first touch)" \
		"$(ratio "$(jq .p50_us "$T/hist_check1.json")" "$e50")" "<=1.2"
	printf '%-58s %12s %8s\n' "check p99 us with history (first touch)" "$h99" "<250"
	printf '%-58s %12s %8s\n' "check p99 us with history (second pass)" "$(jq .p99_us "$T/hist_check2.json")" "<250"
	printf '%-58s %12s %8s\n' "RSS MiB after the loads (peak)" "$((rss / 1024)) ($((hwm / 1024)))" "<256"
	printf '%-58s %12s %8s\n' "cold start to first answer, ms (page cache dropped: $dropped)" "$cold_ms" "<200"
	printf '%-58s %12s %8s\n' "p99 us during prune + rollover" "$(jq .p99_us "$T/maint.json")" "<5000"
	printf '%-58s %12s %8s\n' "p99 us, the same load before the clock jumps" "$(jq .p99_us "$T/base8.json")" "-"
	printf 'maintenance: raw events %s before, %s after %ss; %s\n' "$raw0" "$raw" "$msecs" \
		"$(jq -c '{events, last_rollover, last_prune}' "$T/status2.json")"
}

if [ "$SCALE" = 1 ]; then
	bench_scale
else
	bench_default
fi

# tokq batch against one spawn per check, as a Python bot would call either.
[ "$SCALE" = 1 ] || python3 bench/batch_cost.py --build "$B" --n "${BENCH_SPAWNS:-1000}" ||
	log "bench: batch_cost.py failed"
# A Python bot's view: check + record per LLM call, spawned, through the
# library over tokq batch, and with a hand-made SQLite table (py_bot_bench.py).
if [ "$SCALE" != 1 ] && command -v python3 >/dev/null; then
	python3 bench/py_bot_bench.py --build "$B" --seconds "$SECS"
fi
