#!/usr/bin/env bash
# Pipelined requests on one connection (docs/protocol.md, Framing): tokqd
# answers them in request order even when a write's reply waits for the
# group commit and reads follow it (each read sees the writes before it);
# if the commit fails, the writes' replies are temporary failures and the
# reads' go out as they are; and tokq batch, while tokqd is down, answers the lines already waiting 69
# at once instead of a second of connect retries each, while a line that
# comes later gets the full retries again.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need jq python3 timeout

start_tokqd
tq clock set 2026-12-10T12:00:00Z
tq limit set --default --tokens 1000

pipe() { python3 "$TEST_ROOT/tests/tools/pipelined_client.py" "$SOCK" "$1" >"$T/replies"; rc=$?; }

# --- a held write, then reads: replies in request order ----------------------------
cat >"$T/reqs" <<'JSON'
{"op":"record","user":"p","model":"m","prompt":10,"key":"a1"}
{"op":"usage","user":"p"}
{"op":"check","user":"p","tokens":5}
{"op":"record","user":"p","model":"m","prompt":20,"key":"a2"}
{"op":"usage","user":"p"}
{"op":"status"}
{"op":"record","user":"p","model":"m","prompt":-1}
{"op":"record","user":"p","model":"m","prompt":10,"key":"a1"}
{"op":"usage","user":"p"}
JSON
pipe "$T/reqs"
is "$rc" 0 "nine requests sent at once: nine replies"
is "$(jq -r 'if .code != 0 then "error \(.code)"
	elif has("recorded") then "record \(.prompt) \(.duplicate)"
	elif has("allowed") then "check \(.allowed) \(.limits[0].used)"
	elif has("periods") then "usage \(.periods.all.total)"
	elif has("now") then "status" else "other" end' "$T/replies" | paste -sd ,)" \
	"record 10 false,usage 10,check true 10,record 20 false,usage 30,status,error 2,record 10 true,usage 30" \
	"replies in request order, each read seeing the writes before it"

# 200 requests: a keyed record and a usage of it, by turns.
for i in $(seq 100); do
	printf '{"op":"record","user":"q","model":"m","prompt":1,"key":"b%d"}\n{"op":"usage","user":"q"}\n' "$i"
done >"$T/reqs"
pipe "$T/reqs"
is "$rc" 0 "200 requests sent at once: 200 replies"
is "$(jq -r 'select(has("periods")) | .periods.all.total' "$T/replies" | paste -sd ,)" \
	"$(seq -s , 100)" "each usage counts exactly the records before it"
tq usage --user q --json
is "$(jqv .periods.all.total)" 100 "the 100 records are kept"

# --- a failed commit: the writes' replies are temporary failures, nothing kept -------
requires_sqlite "a failing commit made by a file size limit on the SQLite file"
# tokqd under a file size limit (as t0302): once the WAL would pass it, every
# commit fails.  Pipelined behind each other, two records and two reads: the
# records answer code 4 (TOKQ_E_TEMP), the reads code 0, in request order.
stop_tokqd
if command -v prlimit >/dev/null; then
	DB=$T/fsize.db
	REAL_TOKQD=$TOKQD
	printf '#!/bin/sh\nexec prlimit --fsize=393216:unlimited "%s" "$@"\n' "$REAL_TOKQD" \
		>"$T/tokqd-fsize"
	chmod +x "$T/tokqd-fsize"
	TOKQD=$T/tokqd-fsize
	start_tokqd
	TOKQD=$REAL_TOKQD
	tq clock set 2026-12-10T12:00:00Z
	META="\"$(head -c 16384 /dev/zero | tr '\0' x)\""
	for i in $(seq 60); do
		tq record --user f --model m --prompt 1 --key "f$i" --meta "$META"
		[ "$rc" = 0 ] || break
	done
	is "$rc" 75 "a record fails once the WAL would pass the file size limit"
	meta=$(jq -c -n --arg m "$META" '$m')
	{
		printf '{"op":"record","user":"f","model":"m","prompt":1,"key":"x1","meta":%s}\n' "$meta"
		printf '{"op":"usage","user":"f"}\n'
		printf '{"op":"record","user":"f","model":"m","prompt":1,"key":"x2","meta":%s}\n' "$meta"
		printf '{"op":"check","user":"f","tokens":1}\n'
	} >"$T/reqs"
	pipe "$T/reqs"
	is "$rc" 0 "four requests behind a failing commit: four replies"
	is "$(jq -r 'if has("periods") then "usage \(.code)" elif has("allowed") then
		"check \(.code)" else "\(.code)" end' "$T/replies" | paste -sd ,)" \
		"4,usage 0,4,check 0" \
		"the records' replies are temporary failures, the reads' answered, in order"
	like "$(jq -r 'select(.code == 4) | .error' "$T/replies" | head -n 1)" "could not commit" \
		"a record's failure says the commit failed"
	prlimit --pid "$TOKQD_PID" --fsize=unlimited:unlimited
	tqj record --user f --model m --prompt 1 --key x1
	is "$rc $(jqv .duplicate)" "0 false" "limit lifted: the same key is no duplicate: nothing was kept"
	stop_tokqd
else
	skip "a record fails once the WAL would pass the file size limit" "no prlimit"
	skip "four requests behind a failing commit: four replies" "no prlimit"
	skip "the records' replies are temporary failures, the reads' answered, in order" "no prlimit"
	skip "a record's failure says the commit failed" "no prlimit"
	skip "limit lifted: the same key is no duplicate: nothing was kept" "no prlimit"
fi

# --- tokqd down: the lines waiting answer 69 at once -------------------------------
coproc BATCH { exec "$TOKQ" --socket "$SOCK" batch 2>"$T/batch.err"; }
BPID=$BATCH_PID
BIN=${BATCH[1]}
BOUT=${BATCH[0]}
EXTRA_PIDS+=("$BPID")
for i in $(seq 20); do printf '["check","--user","w%d"]\n' "$i"; done >"$T/lines"
t0=$(date +%s%N)
cat "$T/lines" >&"$BIN"
got=
for _ in $(seq 20); do
	IFS= read -r -t 30 ans <&"$BOUT" || break
	got+="$(jq -r .exit <<<"$ans")"
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
is "$got" "$(printf '69%.0s' $(seq 20))" "20 lines written while tokqd is down: each answers 69"
ok "well under a second each: 20 answers in ${ms} ms (< 5 s)" test "$ms" -lt 5000
# A line that comes after the batch waited for input gets the full connect
# retries: a socket that starts listening meanwhile is reached.
rm -f "$T/fake.ready"
( sleep 0.1; exec python3 "$TEST_ROOT/tests/tools/fake_tokqd.py" temp "$SOCK" "$T/fake.ready" \
	"$T/fake.log" ) &
FAKE_PID=$!
EXTRA_PIDS+=("$FAKE_PID")
printf '["check","--user","u1"]\n' >&"$BIN"
IFS= read -r -t 20 ans <&"$BOUT"
is "$(jq -c '[.exit, .temporary]' <<<"$ans")" '[75,"refused"]' \
	"a later line retries its connect again: reaches a socket that listens 0.1 s on"
kill "$FAKE_PID"
wait "$FAKE_PID" 2>/dev/null
exec {BIN}>&-
wait "$BPID"
is "$?" 0 "the batch ends at the end of its input: exit 0"

done_testing
