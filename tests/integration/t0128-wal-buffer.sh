#!/usr/bin/env bash
# wal_buffer in tokqd.conf.  auto (the default): on the SQLite versions
# walbuf.c was checked against, a record's commit reaches the kernel in one
# write; on any other tokqd says so in one log line and writes the WAL as
# SQLite does.  off: one log line, and SQLite's own writes (several per
# record), with everything recorded kept across a restart.  The count of
# write calls comes from /proc/PID/io (syscw), which replies (send) do not
# touch.  A reload that changes the setting says it waits for a restart.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need jq sqlite3
requires_sqlite "the SQLite WAL's write buffer"
[ -r /proc/self/io ] || skip_all "no /proc/PID/io here"

syscw() { awk '/^syscw:/ { print $2 }' "/proc/$TOKQD_PID/io"; }

# writes_per_record PREFIX: record 40 events one by one; prints the daemon's
# write calls per record (rounded down).
writes_per_record() {
	local a b i
	tq record --user warm --model m --prompt 1
	a=$(syscw)
	for i in $(seq 40); do
		tq record --user "$1$i" --model m --prompt 1 --key "$1-$i"
	done
	b=$(syscw)
	echo $(((b - a) / 40))
}

conf=$T/tokqd.conf
echo "wal_buffer = auto" >"$conf"
start_tokqd --config "$conf"
tq clock set 2026-12-01T10:00:00Z
auto=$(writes_per_record a)
if grep -q "WAL buffering was checked against" "$T/tokqd.log"; then
	diag "$(grep "WAL buffering" "$T/tokqd.log")"
	ok "auto on an SQLite not checked: SQLite's own writes ($auto per record)" test "$auto" -ge 4
else
	ok "auto: a record's commit is about one write call ($auto per record <= 2)" test "$auto" -le 2
fi
echo "wal_buffer = off" >"$conf"
kill -HUP "$TOKQD_PID"
for _ in $(seq 100); do
	grep -q "takes effect at the next start" "$T/tokqd.log" && break
	sleep 0.05
done
like "$(<"$T/tokqd.log")" "wal_buffer = off takes effect at the next start" \
	"a reload that changes wal_buffer says it waits for a restart"
stop_tokqd

start_tokqd --config "$conf"
is "$(grep -c "wal_buffer = off: the WAL is written as SQLite writes it" "$T/tokqd.log")" 1 \
	"off: one log line says so"
off=$(writes_per_record o)
ok "off: SQLite's own writes, several per record ($off >= 4)" test "$off" -ge 4
tqj status
is "$(jqv .events)" 82 "off: every record counted (82)"
kill_tokqd
start_tokqd --config "$conf"
tqj status
is "$(jqv .events)" 82 "off: and all still there after kill -9"
stop_tokqd
is "$(sqlite3 "$DB" 'PRAGMA integrity_check')" ok "integrity_check ok"
done_testing
