#!/usr/bin/env bash
# Exit 75 in its two cases, which the stderr line and --json tell apart:
# refused as temporary (tokqd's TOKQ_E_TEMP: busy, disk full; nothing was
# kept: "temporary":"refused") and the connection lost after the request
# was sent (the outcome is unknown: "temporary":"unknown").  Both say to
# retry with the same --key.  The refusal comes from a real tokqd whose
# commits fail (a file size limit, as t0302) and from a stand-in answering
# the temporary code; the lost answer from a stand-in that reads the
# request and hangs up, as a tokqd killed between commit and reply would.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq python3

# fake MODE: a stand-in on $SOCK that logs each request's op to $FAKE_LOG
fake() {
	FAKE_LOG=$T/fake-$1.log
	rm -f "$T/fake.ready" "$SOCK"
	: >"$FAKE_LOG"
	python3 "$TEST_ROOT/tests/tools/fake_tokqd.py" "$1" "$SOCK" "$T/fake.ready" "$FAKE_LOG" &
	FAKE_PID=$!
	EXTRA_PIDS+=("$FAKE_PID")
	for _ in $(seq 100); do [ -e "$T/fake.ready" ] && break; sleep 0.05; done
}
unfake() { kill "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null; }

# --- the answer is lost after the request was sent: unknown -------------------------
fake hangup
tq record --user u --model m --prompt 10 --key k-lost
is "$rc" 75 "hang-up after the request: exit 75"
is "$(stderr_lines)" 1 "one stderr line"
is "$err" "tokq: record: tokqd closed the connection before answering: the outcome is unknown; retry with the same --key, which never counts twice" \
	"it says the outcome is unknown and to retry with the same --key"
is "$(cat "$FAKE_LOG")" record "the request did reach the socket"
tqj record --user u --model m --prompt 10 --key k-lost
is "$rc" 75 "--json: exit 75"
is "$(jqv '"\(.exit) \(.temporary)"')" "75 unknown" "--json: {\"exit\":75,\"temporary\":\"unknown\"}"
like "$(jqv .error)" 'the outcome is unknown; retry with the same --key' "--json: error carries the same words"
tq record --user u --model m --prompt 10
like "$err" 'the outcome is unknown; retry, and give --key next time: the same key never counts twice' \
	"without --key it says to give one"
tq check --user u --tokens 5
is "$rc" 75 "check: exit 75 too"
is "$err" "tokq: check: tokqd closed the connection before answering: the outcome is unknown; retry" \
	"check: in its own words"
unfake

# --- refused as temporary: nothing was kept ------------------------------------------
fake temp
tq record --user u --model m --prompt 10 --key k-busy
is "$rc" 75 "TOKQ_E_TEMP: exit 75"
is "$(stderr_lines)" 1 "one stderr line"
is "$err" "tokq: record: tokqd refused the request for now (the store is busy): nothing was kept; retry with the same --key, which never counts twice" \
	"it says nothing was kept and to retry with the same --key"
tqj record --user u --model m --prompt 10 --key k-busy
is "$(jqv '"\(.exit) \(.temporary)"')" "75 refused" "--json: {\"exit\":75,\"temporary\":\"refused\"}"
unfake

# --- a real tokqd whose commits fail: refused, and the retry counts once ------------
requires_sqlite "commits failing under a file size limit on the SQLite file"
if command -v prlimit >/dev/null 2>&1; then
	REAL_TOKQD=$TOKQD
	cat >"$T/tokqd-fsize" <<SH
#!/bin/sh
exec prlimit --fsize=393216:unlimited "$REAL_TOKQD" "\$@"
SH
	chmod +x "$T/tokqd-fsize"
	rm -f "$SOCK"
	TOKQD=$T/tokqd-fsize
	start_tokqd
	TOKQD=$REAL_TOKQD
	tq clock set 2026-12-01T10:00:00Z
	META="\"$(head -c 16384 /dev/zero | tr '\0' x)\""
	hit=
	for i in $(seq 1 60); do
		tqj record --user d --model m --prompt 1 --key "fs-$i" --meta "$META"
		[ "$rc" = 0 ] && continue
		hit=$i
		break
	done
	ok "disk full: a record fails once the file size limit is hit" test -n "$hit"
	is "$rc" 75 "disk full: exit 75"
	is "$(jqv .temporary)" refused "disk full: --json says refused"
	like "$err" '^tokq: record: tokqd refused the request for now \(.+\): nothing was kept; retry with the same --key, which never counts twice$' \
		"disk full: the line says nothing was kept"
	unlike "$err" 'nothing was kept.*nothing was kept' "disk full: and says it once"
	diag "disk full: $err"
	prlimit --pid "$TOKQD_PID" --fsize=unlimited:unlimited
	tqj record --user d --model m --prompt 1 --key "fs-$hit" --meta "$META"
	is "$rc $(jqv .duplicate)" "0 false" "disk full: the retry with the same key is recorded, not a duplicate (nothing was kept)"
	stop_tokqd
else
	skip "disk full: a real refusal" "prlimit is not installed"
fi

done_testing
