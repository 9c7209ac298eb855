#!/usr/bin/env bash
# tokq batch as a stream: an answer is out as soon as it is known while the
# caller keeps stdin open (never held waiting for more input); lines written
# ahead are answered with few writes (buffered while more input waits); a
# reader that goes away ends the batch quietly; and the command explains
# itself (--help, tokq help, the completion).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need jq timeout

start_tokqd
tq clock set 2026-12-10T12:00:00Z

# --- answers come while stdin stays open -------------------------------------------
coproc BATCH { exec "$TOKQ" --socket "$SOCK" batch 2>"$T/batch.err"; }
BPID=$BATCH_PID
BIN=${BATCH[1]}
BOUT=${BATCH[0]}
EXTRA_PIDS+=("$BPID")
printf '%s\n' '["usage","--user","a"]' '["usage","--user","b"]' '["usage","--user","c"]' >&"$BIN"
got=
for _ in 1 2 3; do
	IFS= read -r -t 20 ans <&"$BOUT" || break
	got+="$(jq -r .user <<<"$ans") "
done
is "$got" "a b c " "three lines in one write: three answers, in order, with stdin still open"
printf '["usage","--user","d"]' >&"$BIN"	# half a line: no answer yet
IFS= read -r -t 0.3 ans <&"$BOUT"
is "$?" 142 "half a line is not answered before its newline"
printf '\n' >&"$BIN"
IFS= read -r -t 20 ans <&"$BOUT"
is "$(jq -r .user <<<"$ans")" d "its newline comes: answered"
exec {BIN}>&-
wait "$BPID"
is "$?" 0 "stdin closed: exit 0"
is "$(<"$T/batch.err")" "" "nothing on stderr"

# --- lines written ahead: buffered answers ---------------------------------------
# 1,000 lines all waiting on stdin: the answers go out in few writes, not one
# write a line (they are flushed only when no more input is waiting).
for i in $(seq 1000); do printf '["check","--user","u%d"]\n' "$i"; done >"$T/lines"
if command -v strace >/dev/null && strace -f -o /dev/null true 2>/dev/null; then
	strace -f -e trace=write -o "$T/strace" "$TOKQ" --socket "$SOCK" batch <"$T/lines" \
		>"$T/ans" 2>/dev/null
	writes=$(grep -c '^[0-9]* *write(1,' "$T/strace")
	is "$(wc -l <"$T/ans" | tr -d ' ')" 1000 "1,000 answers"
	ok "they took few writes to stdout (got $writes)" test "$writes" -gt 0 -a "$writes" -lt 100
else
	skip "1,000 answers" "no strace"
	skip "they took few writes to stdout" "no strace"
fi

# --- the reader goes away: the batch ends quietly ------------------------------------
# An endless stream of lines, and a reader that takes one answer and leaves.
timeout 20 bash -c 'yes "[\"status\"]" | "$1" --socket "$2" batch 2>"$3" | head -n 1 >"$4"
	exit "${PIPESTATUS[1]}"' _ "$TOKQ" "$SOCK" "$T/pipe.err" "$T/pipe.out"
is "$?" 0 "stdout closed by its reader: tokq batch ends (exit 0, no SIGPIPE death)"
is "$(<"$T/pipe.err")" "" "quietly: nothing on stderr"
is "$(jq -r .exit "$T/pipe.out")" 0 "the reader had its one answer"

# --- the command explains itself -----------------------------------------------------
tq batch --help
is "$rc" 0 "tokq batch --help: exit 0"
like "$out" "usage: tokq batch" "its synopsis"
like "$out" "JSON array of strings" "it says what a line is"
like "$out" '"exit"' "and what an answer holds"
tq help
like "$out" "  batch  " "tokq help lists batch"
tq batch extra
is "$rc" 64 "tokq batch takes no arguments: 64"
comp=$(bash --norc --noprofile -c 'source "$1"; COMP_WORDS=("$2" ba); COMP_CWORD=1; _tokq
	printf "%s\n" "${COMPREPLY[@]}"' _ "$TEST_ROOT/completion/tokq.bash" "$TOKQ")
is "$comp" batch "the bash completion completes 'tokq ba' to batch"

done_testing
