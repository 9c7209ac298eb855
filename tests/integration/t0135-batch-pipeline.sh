#!/usr/bin/env bash
# tokq batch pipelines (contract: Batch mode): lines written ahead are sent
# to tokqd without waiting for each answer, and still answered one a line in
# input order, each with its own contents, whatever their mix (records with
# and without keys, checks, a denied check, usage, a malformed line); tokqd's
# group commit then takes many records of one batch in one commit; and after
# kill -9 of tokqd under pipelined records, every record answered 0 is kept,
# and a retry of the others with the same key counts each exactly once.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need jq

start_tokqd
tq clock set 2026-12-10T12:00:00Z
tq limit set --default --tokens 1000

# --- 1,000 mixed lines written ahead: answers in order, right contents -----------
# Each line carries its number in what its answer shows (a record's prompt, a
# check's estimate, usage's user, the malformed line's number in its error).
: >"$T/lines"
: >"$T/want"
for i in $(seq 1000); do
	case $((i % 5)) in
	0)	printf '["record","--user","r%d","--model","m","--prompt","%d","--key","k%d"]\n' \
			"$i" "$i" "$i"
		echo "rec $i 0" >>"$T/want" ;;
	1)	printf '["check","--user","c%d","--tokens","%d"]\n' "$i" $((i % 900 + 1))
		echo "chk $((i % 900 + 1)) 0 true" >>"$T/want" ;;
	2)	printf '["usage","--user","u%d"]\n' "$i"
		echo "use u$i 0" >>"$T/want" ;;
	3)	if [ $((i % 50)) -eq 3 ]; then
			printf '["check",\n'
			echo "bad 64 $i" >>"$T/want"
		else
			printf '["check","--user","d%d","--tokens","%d"]\n' "$i" $((1000 + i))
			echo "chk $((1000 + i)) 1 false" >>"$T/want"
		fi ;;
	4)	printf '["record","--user","r%d","--model","m","--prompt","%d"]\n' "$i" "$i"
		echo "rec $i 0" >>"$T/want" ;;
	esac
done >"$T/lines"
"$TOKQ" --socket "$SOCK" batch <"$T/lines" >"$T/ans" 2>"$T/batch.err"
is "$?" 0 "1,000 lines written ahead: exit 0"
is "$(wc -l <"$T/ans" | tr -d ' ')" 1000 "1,000 answers"
jq -r 'if .exit == 64 then "bad 64 \(.error | capture("line (?<n>[0-9]+)").n)"
	elif has("recorded") then "rec \(.prompt) \(.exit)"
	elif has("allowed") then "chk \(.estimate.tokens) \(.exit) \(.allowed)"
	elif has("user") then "use \(.user) \(.exit)"
	else "other \(.exit)" end' "$T/ans" >"$T/got"
if cmp -s "$T/want" "$T/got"; then
	ok "each answer is its own line's, in input order" true
else
	ok "each answer is its own line's, in input order" false
	diag "$(diff "$T/want" "$T/got" | head -n 10)"
fi
is "$(jq -s 'map(select(.exit == 1 and .allowed == false)) | length' "$T/ans")" 180 \
	"the 180 denied checks answer exit 1"
"$TOKQ" --socket "$SOCK" export >"$T/export"
is "$(wc -l <"$T/export" | tr -d ' ')" 400 "the 400 records are kept, each once"
is "$(jq -s 'map(.prompt) | add' "$T/export")" \
	"$(seq 1000 | awk '$1 % 5 == 0 || $1 % 5 == 4 { s += $1 } END { print s }')" \
	"with their own figures"
"$TOKQ" --socket "$SOCK" batch <"$T/lines" >"$T/ans2" 2>/dev/null
is "$(jq -r 'select(has("recorded")) | .duplicate' "$T/ans2" | sort | uniq -c |
	awk '{ printf "%s:%s ", $2, $1 }')" "false:200 true:200 " \
	"sent again: the 200 keyed records are duplicates, the 200 without a key count anew"

# --- many records of one batch in one commit --------------------------------------
# Each commit syncs the WAL (synchronous=FULL): count fsync/fdatasync calls of
# tokqd while one batch records 300 keyed events written ahead.  One commit a
# record (a batch that waits for each answer, a tokqd that stops reading a
# connection whose write waits) would be 300 or more.
for i in $(seq 300); do
	printf '["record","--user","g%d","--model","m","--prompt","1","--key","g%d"]\n' "$i" "$i"
done >"$T/group"
if [ -n "${TOKQ_TEST_PG:-}" ]; then	# the commits are the server's, not tokqd's syncs
	skip "300 keyed records written ahead: all answered 0" "the SQLite store's syncs"
	skip "they took fewer commits than records" "the SQLite store's syncs"
elif command -v strace >/dev/null && strace -o /dev/null true 2>/dev/null; then
	strace -f -qq -e trace=fsync,fdatasync -o "$T/sync" -p "$TOKQD_PID" 2>"$T/strace.err" &
	SPID=$!
	EXTRA_PIDS+=("$SPID")
	for _ in $(seq 100); do
		grep -q attached "$T/strace.err" 2>/dev/null && break
		[ -s "$T/sync" ] && break
		tq status
		sleep 0.05
	done
	sleep 0.2
	before=$(grep -c 'sync(' "$T/sync" 2>/dev/null)
	"$TOKQ" --socket "$SOCK" batch <"$T/group" >"$T/gans" 2>/dev/null
	tq status	# one more request: its reply comes after every commit above
	kill -INT "$SPID" 2>/dev/null
	wait "$SPID" 2>/dev/null
	syncs=$(( $(grep -c 'sync(' "$T/sync") - ${before:-0} ))
	is "$(jq -r .exit "$T/gans" | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')" "0:300 " \
		"300 keyed records written ahead: all answered 0"
	ok "they took fewer commits than records ($syncs syncs for 300 records)" \
		test "$syncs" -gt 0 -a "$syncs" -lt 150
else
	skip "300 keyed records written ahead: all answered 0" "no strace"
	skip "they took fewer commits than records" "no strace"
fi

# --- kill -9 of tokqd under pipelined records ---------------------------------------
for i in $(seq 3000); do
	printf '["record","--user","z","--model","m","--prompt","1","--session","s%d","--key","z%d"]\n' \
		"$i" "$i"
done >"$T/kill"
# Fed in chunks of 100 lines, paced until tokqd is killed, so the kill falls
# amid the records, whatever the machine's speed.
for c in $(seq 0 29); do
	sed -n "$((c * 100 + 1)),$((c * 100 + 100))p" "$T/kill"
	[ -e "$T/killed" ] || sleep 0.05
done | "$TOKQ" --socket "$SOCK" batch >"$T/kans" 2>/dev/null &
BPID=$!
EXTRA_PIDS+=("$BPID")
for _ in $(seq 400); do
	tqj usage --user z
	[ "$(jqv '.periods.all.total // 0')" -ge 300 ] 2>/dev/null && break
	sleep 0.01
done
kill_tokqd
: >"$T/killed"
wait "$BPID"
is "$?" 0 "the batch outlives tokqd killed under it: exit 0"
is "$(wc -l <"$T/kans" | tr -d ' ')" 3000 "every line answered"
is "$(jq -r 'select(.exit != 0 and .exit != 75 and .exit != 69) | .exit' "$T/kans" | head -n 3)" "" \
	"each answer is 0, 75 (a request in flight when tokqd died) or 69 (tokqd down)"
is "$(jq -r 'select(.exit == 75 and .temporary != "unknown") | .exit' "$T/kans" | head -n 1)" "" \
	"a 75 (if the kill fell amid requests in flight) says its outcome is unknown"
acked=$(jq -r .exit "$T/kans" | grep -c '^0$')
ok "some were answered 0 before the kill ($acked)" test "$acked" -gt 0
start_tokqd
"$TOKQ" --socket "$SOCK" export >"$T/kexport"
jq -r 'select(.user == "z") | .session' "$T/kexport" | sort >"$T/kept"
jq -r .exit "$T/kans" | paste -d ' ' - <(seq 3000) | awk '$1 == 0 { print "s" $2 }' |
	sort >"$T/acked"
is "$(comm -23 "$T/acked" "$T/kept" | head -n 3)" "" \
	"every record answered 0 is in tokq export after the kill"
# Retry every line not answered 0, with its key, on the new tokqd.
jq -r .exit "$T/kans" | paste -d ' ' - <(seq 3000) | awk '$1 != 0 { print $2 }' |
	while read -r i; do sed -n "${i}p" "$T/kill"; done >"$T/retry"
"$TOKQ" --socket "$SOCK" batch <"$T/retry" >"$T/rans" 2>/dev/null
is "$(jq -r .exit "$T/rans" | sort -u)" 0 "the retries with the same keys: all 0"
tqj usage --user z
is "$(jqv .periods.all.total)" 3000 "each of the 3,000 keyed records counts exactly once"

done_testing
