#!/usr/bin/env bash
# tokq batch (contract: Batch mode): each stdin line is a JSON array of the
# arguments after tokq; each answer is one stdout line, in order: the object
# tokq --json prints for them, plus "exit" and, on failure, "error".  Here
# through a real tokqd: the answer is tokq --json's object, the exit codes
# 0, 1, 64 and 65, malformed lines in the middle, 1,000 lines written
# before any answer is read, and the end of stdin (exit 0).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need jq

start_tokqd
tq clock set 2026-12-10T12:00:00Z
tq limit set --default --tokens 1000
tq record --user a --model m --prompt 100 --completion 20

# batch FILE: tokq batch with FILE as stdin; answers in $ans, $berr, $brc.
batch() {
	"$TOKQ" --socket "$SOCK" batch <"$1" >"$T/.ans" 2>"$T/.berr"
	brc=$?
	ans=$(<"$T/.ans")
	berr=$(<"$T/.berr")
}
# nth N: the Nth answer of the last batch.
nth() { sed -n "${1}p" <<<"$ans"; }

cat >"$T/l1" <<'L'
["usage","--user","a"]
["check","--user","a","--tokens","100"]
["check","--user","a","--tokens","5000"]
["release","no-such-hold"]
["check","--user","a","--tokens","-5"]
["--json","limit","list"]
L
batch "$T/l1"
is "$brc" 0 "at the end of stdin tokq batch exits 0"
is "$berr" "" "nothing on stderr"
is "$(wc -l <<<"$ans")" 6 "one answer a line"

tqj usage --user a
is "$(nth 1 | jq -c 'del(.exit)')" "$(jq -c . <<<"$out")" \
	"usage: the very object tokq --json prints, plus exit"
is "$(nth 1 | jq -c '[.exit, has("error")]')" "[0,false]" "success: exit 0, no error"
tqj check --user a --tokens 100
is "$(nth 2 | jq -c 'del(.exit)')" "$(jq -c . <<<"$out")" "check: the object tokq --json prints"
is "$(nth 2 | jq -r .exit)" 0 "an allowed check: exit 0"
tqj check --user a --tokens 5000
is "$rc" 1 "(tokq check denies: exit 1)"
is "$(nth 3 | jq -c 'del(.exit)')" "$(jq -c . <<<"$out")" "a denied check: the full check object"
is "$(nth 3 | jq -c '[.exit, .allowed, .denied_by.limit, has("error")]')" "[1,false,1000,false]" \
	"a denied check: exit 1, denied_by, no error"
tq release no-such-hold
is "$(nth 4 | jq -c 'keys')" '["error","exit"]' "a refused request: exit and error only"
is "$(nth 4 | jq -r .exit)" "$rc" "tokqd refuses an unknown hold: the exit tokq has (65)"
is "$(nth 4 | jq -r .error)" "${err#tokq: }" "error: tokq's stderr line without 'tokq: '"
tq check --user a --tokens -5
is "$(nth 5 | jq -r .exit)" 64 "a bad value: exit 64"
is "$(nth 5 | jq -r .error)" "${err#tokq: }" "error: the usage error tokq gives"
tqj limit list
is "$(nth 6 | jq -c 'del(.exit)')" "$(jq -c . <<<"$out")" "--json in a line is allowed (implied anyway)"

# --- malformed lines answer 64, and the batch goes on ------------------------------
cat >"$T/l2" <<'L'
["status"]
not json
{"check":1}
[]
["check","--user",42]
["chek","--user","a"]
["limit"]
["check","--user","a","--bogus"]
["check","--user","a"]

["usage","--user","a"]
L
printf '["usage","--user","last"]' >>"$T/l2"	# no newline at the end
batch "$T/l2"
is "$brc" 0 "malformed lines: still exit 0 at the end"
is "$(jq -c .exit <<<"$ans" | tr '\n' ' ')" "0 64 64 64 64 64 64 64 0 64 0 0 " \
	"each malformed line answers 64 in its place; the good ones around it 0"
like "$(nth 2 | jq -r .error)" "^batch: line 2 is not JSON" "not JSON: said, with its line"
like "$(nth 3 | jq -r .error)" "^batch: line 3: give a JSON array of strings" "an object: refused"
like "$(nth 4 | jq -r .error)" "^batch: line 4: give a JSON array of strings" "an empty array: refused"
is "$(nth 5 | jq -r .error)" "batch: line 5: argument 3 is not a string" "a number in the array: refused"
like "$(nth 6 | jq -r .error)" "^unknown command 'chek' \(did you mean check\?\)" \
	"an unknown command: tokq's own words"
is "$(nth 7 | jq -r .error)" "limit: missing subcommand: set, rm or list" "a group alone: its words"
like "$(nth 8 | jq -r .error)" "^check: unknown flag '--bogus'" "an unknown flag: tokq's words"
like "$(nth 10 | jq -r .error)" "^batch: line 10 " "an empty line is answered too"
is "$(nth 12 | jq -r .user)" last "a last line without its newline is answered"
is "$(nth 9 | jq -r 'has("error")')" false "the line after the malformed ones is served normally"

: >"$T/empty"
batch "$T/empty"
is "$brc:$ans:$berr" "0::" "empty stdin: no answer, exit 0"

# --- 1,000 lines written ahead, answered in order ----------------------------------
for i in $(seq 1000); do
	if [ $((i % 100)) = 50 ]; then
		echo "[\"usage\" --user u$i]"		# not JSON
	elif [ $((i % 10)) = 3 ]; then
		printf '["check","--user","u%d","--tokens","5000"]\n' "$i"
	else
		printf '["usage","--user","u%d"]\n' "$i"
	fi
done >"$T/l3"
# Through a pipe that holds all of it before the first answer is read.
cat "$T/l3" | "$TOKQ" --socket "$SOCK" batch >"$T/a3" 2>"$T/e3"
is "${PIPESTATUS[1]}" 0 "1,000 lines through a pipe: exit 0"
is "$(wc -l <"$T/a3" | tr -d ' ')" 1000 "1,000 answers"
want=$(for i in $(seq 1000); do
	if [ $((i % 100)) = 50 ]; then echo 64
	elif [ $((i % 10)) = 3 ]; then echo 1
	else echo "0 u$i"; fi
done)
got=$(jq -r 'if .user then "\(.exit) \(.user)" else .exit end' "$T/a3")
is "$got" "$want" "every answer in its line's place: the right user, exit 0, 1 or 64"
is "$(grep -c 'line [0-9]* is not JSON' "$T/a3")" 10 "the ten malformed lines each answered"
is "$(jq -r 'select(.exit == 64) | .error' "$T/a3" | sed -n 3p)" \
	"batch: line 250 is not JSON (']' expected near '-')" "the error names its line and what is wrong"

done_testing
