#!/usr/bin/env bash
# A full disk loses nothing and counts nothing twice.  While commits fail,
# every write (record, an admin change) exits 75 with one stderr line and is
# not counted; check, usage and status keep being answered.  Once there is
# room again, a retry with the same --key succeeds and counts once; SQLite's
# integrity_check says ok.  Two ways to fill the disk: a small tmpfs filled
# up with a filler file (ENOSPC), and a file size limit on tokqd
# (RLIMIT_FSIZE: EFBIG, and SIGXFSZ, which must not kill it).
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq sqlite3 prlimit
requires_sqlite "a full disk under the SQLite file (tmpfs, file size limit)"

# Only the main shell cleans up (lib.sh's watchdog subshells inherit the
# EXIT trap), and the tmpfs goes before $T does.
trap '[ "$BASHPID" = "$$" ] && { _cleanup_fs; _cleanup; }' EXIT
FS=$T/fs
_cleanup_fs() {
	if [ -n "$TOKQD_PID" ]; then
		kill -KILL "$TOKQD_PID" 2>/dev/null
		wait "$TOKQD_PID" 2>/dev/null
		TOKQD_PID=
	fi
	mountpoint -q "$FS" 2>/dev/null && umount -l "$FS"
}

# usage_all USER: "requests total" of USER's all-time usage.
usage_all() {
	tqj usage --user "$1"
	jqv '"\(.periods.all.requests) \(.periods.all.total)"'
}

# ---- 1. a full tmpfs ------------------------------------------------------------
mkdir "$FS"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=2m,mode=0700 tokq-t0302 "$FS" 2>/dev/null; then
	DB=$FS/tokq.db
	start_tokqd
	tq clock set 2026-12-01T10:00:00Z
	tq record --user u1 --model m1 --prompt 100 --key k-1
	is "$rc" 0 "tmpfs: a record before the disk fills: exit 0"
	tq record --user u1 --model m1 --prompt 200 --key k-2
	is "$rc" 0 "tmpfs: a second one: exit 0"

	dd if=/dev/zero of="$FS/filler" bs=4k >/dev/null 2>&1
	is "$(df --output=avail "$FS" | tail -n 1 | tr -d ' ')" 0 "tmpfs: the filesystem is full"

	fails=0
	for i in 1 2 3 4 5; do
		tq record --user u1 --model m1 --prompt 1000 --key "full-$i"
		[ "$rc" = 75 ] && [ "$(stderr_lines)" = 1 ] && fails=$((fails + 1))
		[ "$i" = 1 ] && first_err=$err
	done
	is "$fails" 5 "tmpfs full: 5 records exit 75 with one stderr line each"
	like "$first_err" 'retry' "tmpfs full: the line says to retry"
	diag "tmpfs full, record: $first_err"
	tq limit set --global --tokens 1000000
	is "$rc" 75 "tmpfs full: an admin change (limit set) exits 75 too"
	tq check --user u1 --model m1 --tokens 10
	is "$rc" 0 "tmpfs full: check is still answered (allowed)"
	tq status
	is "$rc" 0 "tmpfs full: status is still answered"
	is "$(usage_all u1)" "2 300" "tmpfs full: usage is answered and counts none of the failed records"
	tqj limit list
	is "$(jqv '.rules | length')" 0 "tmpfs full: the failed limit set left no rule"

	rm -f "$FS/filler"
	for i in 1 2 3 4 5; do
		tqj record --user u1 --model m1 --prompt 1000 --key "full-$i"
		if [ "$rc" != 0 ] || [ "$(jqv .duplicate)" != false ]; then break; fi
	done
	is "$rc $(jqv .duplicate)" "0 false" "room again: the same 5 keys retried: exit 0, not duplicates"
	tqj record --user u1 --model m1 --prompt 1000 --key full-3
	is "$rc $(jqv .duplicate)" "0 true" "room again: a third try of full-3 is a duplicate"
	is "$(usage_all u1)" "7 5300" "room again: each record counted once (7 records, 5300 tokens)"
	stop_tokqd
	is "$(sqlite3 "$DB" 'PRAGMA integrity_check')" ok "tmpfs: integrity_check ok"
	start_tokqd
	is "$(usage_all u1)" "7 5300" "tmpfs: after a restart, still 7 records and 5300 tokens"
	stop_tokqd
	_cleanup_fs
else
	skip "tmpfs disk full" "cannot mount a tmpfs here (needs root)"
fi

# ---- 2. a file size limit (RLIMIT_FSIZE) ----------------------------------------
# tokqd runs under prlimit --fsize: writing past the limit fails with EFBIG,
# and the kernel sends SIGXFSZ, whose default action kills the process.  A
# daemon must ignore it and report the failed commit as temporary.
DB=$T/fsize.db
LIMIT=393216		# 384 KiB: the database and its WAL start well below
REAL_TOKQD=$TOKQD
cat >"$T/tokqd-fsize" <<EOF
#!/bin/sh
exec prlimit --fsize=$LIMIT:unlimited "$REAL_TOKQD" "\$@"
EOF
chmod +x "$T/tokqd-fsize"
TOKQD=$T/tokqd-fsize
start_tokqd
TOKQD=$REAL_TOKQD
tq clock set 2026-12-01T10:00:00Z

# 16 KiB of meta per record: the WAL passes the limit within ~20 records.
META="\"$(head -c 16384 /dev/zero | tr '\0' x)\""
acked=0 acked_tok=0 hit=
for i in $(seq 1 60); do
	tq record --user u2 --model m1 --prompt "$i" --key "fs-$i" --meta "$META"
	if [ "$rc" = 0 ]; then
		acked=$((acked + 1))
		acked_tok=$((acked_tok + i))
		continue
	fi
	hit=$i
	break
done
ok "fsize: a record fails once the WAL would pass $LIMIT bytes" test -n "$hit"
is "$rc" 75 "fsize: that record exits 75"
diag "fsize: record $hit: rc $rc: $err"
sleep 0.2
if ! kill -0 "$TOKQD_PID" 2>/dev/null; then
	wait "$TOKQD_PID"
	died=$?
	TOKQD_PID=
	is "exited with status $died$( [ "$died" = 153 ] && echo ' (SIGXFSZ: not ignored)')" \
		running "fsize: tokqd is still running after the failed commit"
	diag "tokqd.log: $(tail -n 3 "$T/tokqd.log")"
	# What was acknowledged must still be there.
	start_tokqd
	is "$(usage_all u2)" "$acked $acked_tok" "fsize: after a restart, the acknowledged records are all there"
	stop_tokqd
	done_testing
fi
# Here kill -0 found it alive; it must also still answer.
tqj status
is "$rc $(kill -0 "$TOKQD_PID" 2>/dev/null && echo running)" "0 running" \
	"fsize: tokqd is still running and answers status after the failed commit"
tq record --user u2 --model m1 --prompt "$hit" --key "fs-$hit" --meta "$META"
is "$rc" 75 "fsize: the same key retried while still full: 75 again"
tq check --user u2 --tokens 1
is "$rc" 0 "fsize: check is still answered"
is "$(usage_all u2)" "$acked $acked_tok" "fsize: the failed record is not counted"

prlimit --pid "$TOKQD_PID" --fsize=unlimited:unlimited
is "$(prlimit --pid "$TOKQD_PID" --fsize --noheadings --output SOFT | tr -d " ")" unlimited "fsize: the limit is lifted"
tqj record --user u2 --model m1 --prompt "$hit" --key "fs-$hit" --meta "$META"
is "$rc $(jqv .duplicate)" "0 false" "fsize: limit lifted: the same key succeeds, not a duplicate"
is "$(usage_all u2)" "$((acked + 1)) $((acked_tok + hit))" "fsize: and counts once"
stop_tokqd
is "$(sqlite3 "$DB" 'PRAGMA integrity_check')" ok "fsize: integrity_check ok"
done_testing
