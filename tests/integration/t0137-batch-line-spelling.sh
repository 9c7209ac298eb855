#!/usr/bin/env bash
# tokq batch reads a line of plain strings in place and leaves any other
# line to a full JSON parser: however a line spells its arguments (spaces,
# tabs, a CR before the newline, \" and \uXXXX escapes, UTF-8), the answer
# is the one its plain spelling gets; what JSON refuses (bytes that are not
# UTF-8, a raw control character) is refused, 64, as JSON's error.  And the
# answers of many lines in one write come back whole, each on its line.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need jq python3

start_tokqd
tq clock set 2026-12-10T12:00:00Z
tq limit set --default --tokens 1000
tq record --user 'a"b' --model m --prompt 100 --completion 20
tq record --user 'é🥇' --model m --prompt 7 --completion 1

# One line each: pairs of the same arguments, plain then spelt otherwise.
{
	printf '%s\n' '["usage","--user","u1"]'
	printf '%s\n' '  [ "usage" ,	"--user" ,"u1" ]	 '
	printf '%s\r\n' '["usage","--user","u1"]'
	printf '%s\n' '["\u0075sage","--user","\u00751"]'
	printf '%s\n' '["usage","--user","a\"b"]'
	printf '%s\n' '["usage","--user","é🥇"]'
	printf '%s\n' '["usage","--user","\u00e9\ud83e\udd47"]'
	printf '["usage","--user","bad\377"]\n'
	printf '["usage","--user","ctl\001"]\n'
	printf '%s\n' '["check","--user","u1","--tokens","5"] x'
} >"$T/lines"
"$TOKQ" --socket "$SOCK" batch <"$T/lines" >"$T/ans" 2>"$T/err"
is "$?" 0 "exit 0 at the end"
is "$(wc -l <"$T/ans" | tr -d ' ')" 10 "one answer a line"
nth() { sed -n "${1}p" "$T/ans"; }

tqj usage --user u1
plain=$(jq -c . <<<"$out")
is "$(nth 1 | jq -c 'del(.exit)')" "$plain" "a plain line: tokq --json's object"
is "$(nth 2)" "$(nth 1)" "spaces and tabs around the tokens: the same answer"
is "$(nth 3)" "$(nth 1)" "a CR before the newline: the same answer"
is "$(nth 4)" "$(nth 1)" "\\u escapes: the same answer"
is "$(nth 5 | jq -r '[.exit, .user, .periods.all.total] | @tsv')" "$(printf '0\ta"b\t120')" \
	"an escaped quote reaches the user id it spells"
is "$(nth 6 | jq -r '[.exit, .user, .periods.all.total] | @tsv')" "$(printf '0\té🥇\t8')" \
	"UTF-8 as it is"
is "$(nth 7)" "$(nth 6)" "the same characters as \\u escapes and a surrogate pair: the same answer"
is "$(nth 8 | jq -c '[.exit, (.error | test("^batch: line 8 is not JSON \\(unable to decode byte 0xff"))]')" \
	"[64,true]" "bytes that are not UTF-8: not JSON, 64"
is "$(nth 9 | jq -c '[.exit, (.error | test("^batch: line 9 is not JSON \\(control character 0x1"))]')" \
	"[64,true]" "a raw control character: not JSON, 64"
is "$(nth 10 | jq -c '[.exit, (.error | test("^batch: line 10 is not JSON \\(end of file expected"))]')" \
	"[64,true]" "anything after the array: not JSON, 64"

# 300 answers of about 800 bytes, one write of lines: each whole on its line.
for i in $(seq 300); do printf '["check","--user","v%d","--tokens","5"]\n' "$i"; done >"$T/many"
"$TOKQ" --socket "$SOCK" batch <"$T/many" >"$T/many.ans"
is "$(jq -r '"\(.exit) \(.limits[0].limit)"' "$T/many.ans" | sort | uniq -c | tr -s ' ')" \
	" 300 0 1000" "300 answers, each a whole object: exit 0 and its limit"

# A caller's non-blocking pipe, full while it waits: the writes that meet
# EAGAIN wait for room, and nothing is lost or cut.
PYTHON=$(command -v /usr/bin/python3 || command -v python3)
for i in $(seq 3000); do printf '["check","--user","n%d","--tokens","5"]\n' "$i"; done >"$T/nb"
"$PYTHON" "$TEST_ROOT/tests/tools/slow_nonblocking_reader.py" "$T/nb" -- \
	"$TOKQ" --socket "$SOCK" batch >"$T/nb.out"
is "$(head -1 "$T/nb.out")" 0 "a non-blocking stdout, full: tokq batch still exits 0"
is "$(tail -n +2 "$T/nb.out" | jq -r '.exit' 2>&1 | sort | uniq -c | tr -s ' ')" " 3000 0" \
	"3,000 whole answers through it, each exit 0"

done_testing
