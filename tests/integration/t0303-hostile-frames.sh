#!/usr/bin/env bash
# Hostile clients harm no one.  Many at once (t0008 has the single cases):
#  1. 300 connections that send half a header and stall, 64 that send all
#     but the last byte of a 1 MiB frame and stall, and a few hundred
#     oversize, garbage and malformed frames from 16 clients at a time,
#     while a good client keeps asking `tokq status`: each answer within
#     3 s, every hostile frame refused on its own connection, nothing
#     recorded, tokqd alive.  With max_pending_bytes = 8M the unfinished
#     frames hold at most 8 MiB: the oldest are closed, and tokqd's RSS
#     grows by that bound plus slack, not by the 64 MiB sent.
#  2. A client that pipelines requests and never reads the replies: tokqd
#     must stop reading from it (backpressure) rather than buffer replies
#     without bound.  And one that pipelines without pause while reading
#     every reply: it gets its turn, not the daemon to itself.
#  3. More stalled connections than tokqd has file descriptors (its
#     RLIMIT_NOFILE, as systemd sets it): no busy loop on EMFILE, no flood
#     of log lines, and a good client is answered once they go.
#  4. More stalled connections than tokqd's connection cap (1024): a good
#     client is still answered within 5 s (not after the 60 s idle timeout).
#  5. A frame that stops half way is closed 10 s later.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq python3 prlimit timeout

# Only the main shell cleans up (lib.sh's watchdog subshells inherit the
# EXIT trap).
trap '[ "$BASHPID" = "$$" ] && _cleanup' EXIT

PYTHON=$(command -v /usr/bin/python3 || command -v python3)
HOSTILE=$TEST_ROOT/tests/tools/hostile_clients.py
ulimit -n 4096 2>/dev/null	# the stalling clients need file descriptors too

ms() { echo $(($(date +%s%N) / 1000000)); }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$TOKQD_PID/status"; }
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$TOKQD_PID/stat"; }

# wait_ready FILE: until the helper wrote "ready N" into FILE (30 s at most).
wait_ready() {
	for _ in $(seq 600); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# good_status: one `tokq status`; sets $lat (ms) and $rc.
good_status() {
	local t0
	t0=$(ms)
	rc=0
	timeout 6 "$TOKQ" --socket "$SOCK" status >/dev/null 2>"$T/good.err" || rc=$?
	lat=$(($(ms) - t0))
}

# start_with_nofile N: start tokqd with RLIMIT_NOFILE soft limit N.
start_with_nofile() {
	local real=$TOKQD
	printf '#!/bin/sh\nexec prlimit --nofile=%s:%s "%s" "$@"\n' "$1" "$(ulimit -Hn)" "$real" \
		>"$T/tokqd-nofile"
	chmod +x "$T/tokqd-nofile"
	TOKQD=$T/tokqd-nofile
	start_tokqd
	TOKQD=$real
}

# ---- 1. a crowd of hostile clients ----------------------------------------------
PENDING_MIB=8
echo "max_pending_bytes = ${PENDING_MIB}M" >"$T/pending.conf"
start_tokqd --config "$T/pending.conf"
tq clock set 2026-12-01T10:00:00Z
rss0=$(rss_kb)

"$PYTHON" "$HOSTILE" stall "$SOCK" 300 "$T/stop1" "$T/ready1" >"$T/stall1.json" &
s1=$!
"$PYTHON" "$HOSTILE" stall "$SOCK" 64 "$T/stop1" "$T/ready1b" 1mib >"$T/stall1b.json" &
s1b=$!
EXTRA_PIDS+=("$s1" "$s1b")
if ! wait_ready "$T/ready1" || ! wait_ready "$T/ready1b"; then
	bail "the stalling clients connected"
fi
diag "stalled: $(cat "$T/ready1") half headers, $(cat "$T/ready1b") 1 MiB frames short of a byte"

"$PYTHON" "$HOSTILE" garbage "$SOCK" 1400 16 >"$T/garbage.json" &
g=$!
EXTRA_PIDS+=("$g")
good=0 slow=0 maxlat=0 failed=0
while kill -0 "$g" 2>/dev/null || [ "$good" -lt 5 ]; do
	good_status
	if [ "$rc" = 0 ]; then good=$((good + 1)); else failed=$((failed + 1)); fi
	[ "$lat" -gt 3000 ] && slow=$((slow + 1))
	[ "$lat" -gt "$maxlat" ] && maxlat=$lat
	[ $((good + failed)) -ge 500 ] && break
	sleep 0.05
done
wait "$g"
rss1=$(rss_kb)
: >"$T/stop1"
wait "$s1" "$s1b"
EXTRA_PIDS=()

garb=$(cat "$T/garbage.json")
jq -e . >/dev/null 2>&1 <<<"$garb" || bail "the garbage client reported" "  $garb"
diag "garbage: $(jq -c '{sent, closed, error_reply, ok_reply, hung, connect_failed}' <<<"$garb")"
is "$(jq '.ok_reply + .hung + .connect_failed' <<<"$garb")" 0 \
	"every hostile frame was refused (closed or answered with an error), none hung"
is "$(jq .sent <<<"$garb")" 1400 "all 1400 hostile frames were sent"
is "$failed" 0 "the good client got every answer ($good of them) meanwhile"
is "$slow" 0 "each within 3 s (slowest: $maxlat ms)"
is "$(jq .refused "$T/stall1.json")+$(jq .refused "$T/stall1b.json")" "0+0" \
	"all 364 stalling clients were let in"
grow=$(((rss1 - rss0) / 1024))
diag "tokqd RSS: $rss0 kB before, $rss1 kB with 364 stalled clients (+$grow MiB)"
ok "RSS grew by at most max_pending_bytes + 16 MiB ($grow <= $((PENDING_MIB + 16)) MiB), not by the 64 MiB sent" \
	test "$grow" -le $((PENDING_MIB + 16))
closed=$(jq .closed_early "$T/stall1b.json")
ok "the oldest unfinished 1 MiB frames were closed to stay within ${PENDING_MIB} MiB ($closed of 64 >= 56)" \
	test "$closed" -ge 56
is "$(jq .closed_early "$T/stall1.json")" 0 "the 300 half headers (600 bytes in all) were left alone"
ok "tokqd is still running" kill -0 "$TOKQD_PID"
tqj status
is "$(jqv .events)" 0 "none of it recorded anything"
survived=$(jq '.closed + .error_reply' <<<"$garb")
kill -0 "$TOKQD_PID" 2>/dev/null || survived=0
diag "hostile frames survived: $survived"

# ---- 2. a client that never reads its replies -----------------------------------
rss0=$(rss_kb)
"$PYTHON" "$HOSTILE" flood "$SOCK" 120000 "$T/stop2" "$T/ready2" >/dev/null &
f=$!
EXTRA_PIDS+=("$f")
wait_ready "$T/ready2" || bail "the flooding client finished sending"
good_status
rss1=$(rss_kb)
: >"$T/stop2"
wait "$f"
EXTRA_PIDS=()
is "$rc" 0 "a good client is answered while another never reads ($lat ms)"
grow=$(((rss1 - rss0) / 1024))
diag "never-reading client: $(cut -d' ' -f2 "$T/ready2") requests taken, tokqd RSS grew by $grow MiB"
ok "tokqd's memory grows by at most 16 MiB for a client that never reads (grew $grow MiB)" \
	test "$grow" -le 16

# ---- 2b. a client that pipelines without pause and reads every reply -------
# It always has more to read than one turn takes: it must wait behind the
# others, not take the daemon for itself.
"$PYTHON" "$HOSTILE" greedy "$SOCK" "$T/stop2b" "$T/ready2b" >"$T/greedy.json" &
f=$!
EXTRA_PIDS+=("$f")
wait_ready "$T/ready2b" || bail "the greedy client got no replies"
good_status
: >"$T/stop2b"
wait "$f"
EXTRA_PIDS=()
diag "greedy client: $(jq .replies "$T/greedy.json") replies; a good client waited $lat ms"
is "$rc" 0 "a good client is answered while another pipelines without pause"
stop_tokqd

# ---- 3. more connections than file descriptors ----------------------------------
start_with_nofile 64
lines0=$(wc -l <"$T/tokqd.log")
"$PYTHON" "$HOSTILE" stall "$SOCK" 80 "$T/stop3" "$T/ready3" >/dev/null &
s3=$!
EXTRA_PIDS+=("$s3")
wait_ready "$T/ready3" || bail "the stalling clients connected"
c0=$(cpu_ticks)
sleep 1
c1=$(cpu_ticks)
lines=$(($(wc -l <"$T/tokqd.log") - lines0))
cpu=$(((c1 - c0) * 100 / $(getconf CLK_TCK)))
: >"$T/stop3"
wait "$s3"
EXTRA_PIDS=()
diag "out of file descriptors: tokqd used $cpu% CPU for 1 s and logged $lines lines"
ok "out of file descriptors, tokqd does not spin (CPU $cpu% <= 20%)" test "$cpu" -le 20
ok "nor floods its log ($lines lines <= 20)" test "$lines" -le 20
good_status
is "$rc" 0 "once the stalled clients left, a good client is answered"
stop_tokqd

# ---- 4. more connections than the cap -----------------------------------------------
start_with_nofile 4096
"$PYTHON" "$HOSTILE" stall "$SOCK" 1100 "$T/stop4" "$T/ready4" >"$T/stall4.json" &
s4=$!
EXTRA_PIDS+=("$s4")
wait_ready "$T/ready4" || bail "the stalling clients connected"
good_status
: >"$T/stop4"
wait "$s4"
EXTRA_PIDS=()
diag "1100 stalling clients: $(cat "$T/stall4.json")"
diag "1100 stalled connections: a good tokq status took $lat ms, rc $rc ($(cat "$T/good.err"))"
ok "with 1100 stalled connections a good client is answered within 5 s" \
	test "$rc" = 0 -a "$lat" -le 5000
ok "tokqd is still running" kill -0 "$TOKQD_PID"
stop_tokqd

# ---- 5. the deadline of a started frame --------------------------------------------
# Half a header, then silence: tokqd hangs up once the frame is 10 s late (its
# deadlines are checked once a second), not before, and not at the 60 s idle
# limit.
start_tokqd
secs=$("$PYTHON" - "$SOCK" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'\0\0')
t = time.time()
s.settimeout(30)
try:
    print('%.1f' % (time.time() - t) if s.recv(16) == b'' else 'reply')
except OSError:
    print('open')
PY
)
diag "a frame stalled after 2 bytes was closed after ${secs} s"
ok "a stalled frame is closed between 10 and 13 s ($secs s)" \
	awk -v s="$secs" 'BEGIN { exit !(s + 0 >= 9.9 && s + 0 <= 13) }'
stop_tokqd

done_testing
