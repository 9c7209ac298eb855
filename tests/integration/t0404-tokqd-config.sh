#!/usr/bin/env bash
# tokqd.conf: `tokqd -n` accepts a good file and the shipped example, and
# refuses a bad key or value naming file:line; tokqd will not start with a
# bad file; SIGHUP rereads warn_thresholds, so that `record --json .crossed`
# follows the new thresholds, and a bad file on SIGHUP changes nothing.
# A --config that cannot be read (missing, a directory) is one line and
# exit 1, for -n, at start, and on SIGHUP (not a silent return to the
# defaults).  max_pending_bytes and wal_buffer take their values.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2317
. "$(dirname "$0")/lib.sh"
need jq
[ -x "$TOKQD" ] || bail "tokqd is built" "  no executable $TOKQD: run make first"

conf=$T/tokqd.conf

# tokqd_n FILE: run tokqd -n --config FILE; sets $rc, $out (stdout + stderr).
tokqd_n() {
	out=$("$TOKQD" -n --config "$1" 2>&1)
	rc=$?
}

# --- tokqd -n -------------------------------------------------------------------
cat >"$conf" <<'CONF'
# a good file: every key, comments, blank lines, spaces around =

retention_days = 90
warn_thresholds = 50, 75,90   # spaces after commas are fine
admin_group=tokq-admin
idle_exit = 15m
counter_cache_mib = 64
max_pending_bytes = 16M
wal_buffer = off
CONF
tokqd_n "$conf"
is "$rc" 0 "tokqd -n: a good file exits 0"
like "$out" "configuration OK" "and says so"

tokqd_n "$TEST_ROOT/etc/tokqd.conf.example"
is "$rc" 0 "tokqd -n: the shipped etc/tokqd.conf.example is good"
sed 's/^#\([a-z_]* = \)/\1/' "$TEST_ROOT/etc/tokqd.conf.example" >"$T/example-uncommented.conf"
tokqd_n "$T/example-uncommented.conf"
is "$rc" 0 "tokqd -n: and so are its defaults, uncommented"
is "$(grep -cE '^(retention_days|warn_thresholds|admin_group|idle_exit|counter_cache_mib|max_pending_bytes|wal_buffer) = ' "$T/example-uncommented.conf")" 7 \
	"the example names all seven settings"

bad() {	# bad NAME LINE2: a file whose line 2 is LINE2 is refused, naming line 2
	printf '# line 1\n%s\nretention_days = 30\n' "$2" >"$T/bad.conf"
	tokqd_n "$T/bad.conf"
	isnt "$rc" 0 "tokqd -n refuses $1"
	like "$out" "$T/bad.conf:2: " "  naming $T/bad.conf:2"
}
bad "an unknown key" "retention_dayz = 30"
bad "a line without =" "retention_days 30"
bad "retention_days = 0" "retention_days = 0"
bad "retention_days = -1" "retention_days = -1"
bad "retention_days = soon" "retention_days = soon"
bad "descending warn_thresholds" "warn_thresholds = 95,80"
bad "a warn threshold above 100" "warn_thresholds = 80,150"
bad "an empty warn_thresholds" "warn_thresholds ="
bad "a bad idle_exit" "idle_exit = 5 minutes"
bad "counter_cache_mib = 0" "counter_cache_mib = 0"
bad "max_pending_bytes below 4 MiB" "max_pending_bytes = 1M"
bad "max_pending_bytes with a bad unit" "max_pending_bytes = 64MB"
bad "max_pending_bytes past 64 GiB" "max_pending_bytes = 65G"
bad "wal_buffer = on" "wal_buffer = on"
for v in 4194304 4096K 64M 64m 1G 64G; do
	printf 'max_pending_bytes = %s\n' "$v" >"$T/size.conf"
	tokqd_n "$T/size.conf"
	is "$rc" 0 "tokqd -n takes max_pending_bytes = $v"
done

"$TOKQD" -n --config "$T/does-not-exist.conf" >"$T/n.out" 2>&1
isnt "$?" 0 "tokqd -n refuses a named config file that does not exist"
is "$(wc -l <"$T/n.out" | tr -d ' ')" 1 "  with one line"
like "$(<"$T/n.out")" "^tokqd: $T/does-not-exist.conf: cannot read the configuration: No such file or directory\$" \
	"  naming the file and why"
tokqd_n "$T"
is "$rc" 1 "tokqd -n refuses a directory as its config file"
like "$out" "^tokqd: $T: cannot read the configuration: Is a directory\$" "  in one line"
"$TOKQD" --socket "$SOCK" --db "$DB" --config "$T/does-not-exist.conf" >"$T/start.out" 2>&1 &
pid=$!
_wait_bounded "$pid"
is "$wait_rc" 1 "tokqd will not start with a named config file that does not exist"
is "$(wc -l <"$T/start.out" | tr -d ' ')" 1 "  and says so in one line"
ok "  and does not listen" test ! -S "$SOCK"

printf 'retention_dayz = 30\n' >"$T/bad.conf"
"$TOKQD" --socket "$SOCK" --db "$DB" --config "$T/bad.conf" >"$T/start.out" 2>&1 &
pid=$!
_wait_bounded "$pid"
isnt "$wait_rc" 0 "tokqd will not start with a bad config"
like "$(<"$T/start.out")" "bad.conf:1: " "  and names the file and line"
ok "  and does not listen" test ! -S "$SOCK"

# --- SIGHUP reloads warn_thresholds ------------------------------------------------
# wait_log TEXT N: until the log has TEXT at least N times (~5 s).
wait_log() {
	for _ in $(seq 100); do
		[ "$(grep -c -- "$1" "$T/tokqd.log")" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

printf 'warn_thresholds = 50\n' >"$conf"
start_tokqd --config "$conf"
tq clock set 2026-12-01T10:00:00Z
tq limit set --user u1 --tokens 1000 --per day
tq limit set --user u2 --tokens 1000 --per day
tq limit set --user u3 --tokens 1000 --per day

tqj record --user u1 --model m --prompt 600 --completion 0
is "$(jqv .crossed)" 50 "thresholds 50: 600 of 1000 crosses 50"
tqj record --user u1 --model m --prompt 150 --completion 0
is "$(jqv .crossed)" null "thresholds 50: 750 crosses nothing new"

printf '# edited\nwarn_thresholds = 70,90\n' >"$conf"
kill -HUP "$TOKQD_PID"
ok "SIGHUP: tokqd logs that it reloaded the config" wait_log "config reloaded" 1
ok "and keeps running" kill -0 "$TOKQD_PID"
tqj record --user u2 --model m --prompt 600 --completion 0
is "$(jqv .crossed)" null "thresholds 70,90: 600 of 1000 crosses nothing"
tqj record --user u2 --model m --prompt 150 --completion 0
is "$(jqv .crossed)" 70 "thresholds 70,90: 750 crosses 70"
tqj record --user u2 --model m --prompt 150 --completion 0
is "$(jqv .crossed)" 90 "thresholds 70,90: 900 crosses 90"
tqj record --user u2 --model m --prompt 100 --completion 0
is "$(jqv .crossed)" 100 "and 1000 crosses 100, always a threshold"

# A bad file on SIGHUP: logged, and the thresholds stay 70,90.
printf 'warn_thresholds = 60\nretention_dayz = 30\n' >"$conf"
kill -HUP "$TOKQD_PID"
ok "SIGHUP with a bad file: tokqd logs that it did not reload" wait_log "config not reloaded" 1
like "$(<"$T/tokqd.log")" "$conf:2: " "  naming file:line"
ok "and keeps running" kill -0 "$TOKQD_PID"
# A failed reload applies nothing, not even the good lines before the bad one.
tqj record --user u3 --model m --prompt 650 --completion 0
is "$(jqv .crossed)" null "a bad file changes nothing: 650 does not cross 60"
tqj record --user u3 --model m --prompt 100 --completion 0
is "$(jqv .crossed)" 70 "the thresholds are still 70,90"

# A key removed from the file goes back to its default (80,95).
printf '# nothing set\n' >"$conf"
kill -HUP "$TOKQD_PID"
ok "SIGHUP with an empty file reloads" wait_log "config reloaded" 2
tq limit set --user u4 --tokens 1000 --per day
tqj record --user u4 --model m --prompt 850 --completion 0
is "$(jqv .crossed)" 80 "a setting removed from the file is back to its default: 850 crosses 80"

# The named file gone: SIGHUP keeps what it had, not the defaults.
printf 'warn_thresholds = 30\n' >"$conf"
kill -HUP "$TOKQD_PID"
ok "SIGHUP: thresholds 30" wait_log "config reloaded" 3
rm -f "$conf"
kill -HUP "$TOKQD_PID"
ok "SIGHUP with the named file gone: tokqd logs that it did not reload" \
	wait_log "config not reloaded" 2
like "$(<"$T/tokqd.log")" "$conf: cannot read the configuration: No such file" "  and why"
tq limit set --user u5 --tokens 1000 --per day
tqj record --user u5 --model m --prompt 350 --completion 0
is "$(jqv .crossed)" 30 "the thresholds are still 30, not the defaults"

stop_tokqd
done_testing
