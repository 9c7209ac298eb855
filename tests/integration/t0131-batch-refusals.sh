#!/usr/bin/env bash
# What a batch line may not do (contract: Batch mode, "reading stdin or files
# is refused inside a batch"): --usage-json takes the document itself, never
# a file name or - (the batch's stdin is its lines); import (reads a file or
# stdin) and export (writes a stream of lines) are refused; --socket, help
# and --version in a line are refused.  Each answers 64 and the batch goes
# on.  A line up to 1 MiB is served; a longer one answers 64 without dying.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need jq python3

start_tokqd
tq clock set 2026-12-10T12:00:00Z

batch() {
	"$TOKQ" --socket "$SOCK" batch <"$1" >"$T/.ans" 2>"$T/.berr"
	brc=$?
	ans=$(<"$T/.ans")
	berr=$(<"$T/.berr")
}
nth() { sed -n "${1}p" <<<"$ans"; }

doc='{"model":"gpt-x","prompt_tokens":30,"completion_tokens":12}'
printf '%s\n' "$doc" >"$T/usage.json"
python3 - "$T/usage.json" >"$T/l1" <<'PY'
import json, sys
doc = open(sys.argv[1]).read().strip()
for a in (
    ["record", "--user", "d", "--usage-json", doc],
    ["record", "--user", "f", "--usage-json", sys.argv[1]],
    ["record", "--user", "s", "--usage-json", "-"],
    ["import", sys.argv[1]],
    ["import", "-"],
    ["export"],
    ["check", "--user", "a", "--socket", "/nonexistent.sock"],
    ["check", "--user", "a", "--socket=/nonexistent.sock"],
    ["check", "--help"],
    ["help", "check"],
    ["--version"],
    ["batch"],
    ["usage", "--user", "d"],
):
    print(json.dumps(a))
PY
batch "$T/l1"
is "$brc" 0 "refusals: the batch ends with 0"
is "$(jq -c .exit <<<"$ans" | tr '\n' ' ')" "0 64 64 64 64 64 64 64 64 64 64 64 0 " \
	"the inline document is recorded; every refusal answers 64 in its place"
is "$(nth 1 | jq -c '[.recorded, .prompt, .completion, .model]')" '[true,30,12,"gpt-x"]' \
	"--usage-json with the document itself: recorded from it"
is "$(nth 2 | jq -r .error)" \
	"record: --usage-json: in a batch give the document itself ({...} or [...]), not a file name or -" \
	"--usage-json FILE: refused, saying to give the document"
is "$(nth 3 | jq -r .error)" "$(nth 2 | jq -r .error)" "--usage-json -: refused alike"
is "$(nth 4 | jq -r .error)" "import: not in a batch: it reads a file or stdin; run tokq import" \
	"import FILE: refused"
is "$(nth 5 | jq -r .error)" "$(nth 4 | jq -r .error)" "import -: refused"
is "$(nth 6 | jq -r .error)" "export: not in a batch: it writes a stream of lines; run tokq export" \
	"export: refused"
is "$(nth 7 | jq -r .error)" "batch: --socket cannot be given in a line; give it to tokq batch" \
	"--socket in a line: refused"
is "$(nth 8 | jq -r .error)" "$(nth 7 | jq -r .error)" "--socket=PATH in a line: refused"
like "$(nth 9 | jq -r .error)" "^batch: help and --version are not answered in a batch" "--help: refused"
like "$(nth 10 | jq -r .error)" "^batch: help and --version" "help: refused"
like "$(nth 11 | jq -r .error)" "^batch: help and --version" "--version: refused"
is "$(nth 12 | jq -r .error)" "batch: a batch cannot start another" "batch in a batch: refused"
tqj usage --user d
is "$(nth 13 | jq -c 'del(.exit)')" "$(jq -c . <<<"$out")" \
	"after the refusals the batch serves on: one event recorded, from the document"
tqj usage --user f
is "$(jqv .periods.all.requests)" 0 "the refused file was never read or recorded"
is "$berr" "" "nothing on stderr"

# --- long lines ------------------------------------------------------------------
# A line up to 1 MiB (1,048,576 bytes before its newline) is served; a longer
# one answers 64 once the limit is passed, the rest of it is skipped, and the
# next line is served.
python3 - >"$T/l2" <<'PY'
import json
pad = "x" * (860 * 1024)
doc = json.dumps({"model": "m", "prompt_tokens": 7, "completion_tokens": 1, "pad": pad})
print(json.dumps(["record", "--user", "big", "--usage-json", doc]))
print(json.dumps(["check", "--user", "big", "--guild", "y" * (1100 * 1024)]))
print(json.dumps(["status", "z" * (3 * 1024 * 1024)]))
print(json.dumps(["usage", "--user", "big"]))
line = json.dumps(["usage", "--user", "edge"])
print(line[:-1] + " " * (1024 * 1024 - len(line)) + "]")
print(line + " " * (1024 * 1024 - len(line) + 1))
print(line)
PY
is "$(awk '{ print length($0) }' "$T/l2" | sed -n '5,6p' | tr '\n' ' ')" "1048576 1048577 " \
	"(lines 5 and 6 are 1 MiB and 1 MiB + 1 byte long)"
batch "$T/l2"
is "$brc" 0 "long lines: the batch ends with 0"
is "$(jq -c .exit <<<"$ans" | tr '\n' ' ')" "0 64 64 0 0 64 0 " \
	"lines up to 1 MiB are served, longer ones answer 64, in their places"
is "$(nth 1 | jq -c '[.recorded, .prompt]')" "[true,7]" \
	"an 880 KB line carrying its usage document: recorded"
is "$(nth 2 | jq -r .error)" "batch: line 2 is longer than 1024 KiB" "a line over 1 MiB: said so"
is "$(nth 3 | jq -r .error)" "batch: line 3 is longer than 1024 KiB" "a 3 MiB line: said so too"
is "$(nth 4 | jq -c '[.user, .periods.all.requests]')" '["big",1]' \
	"the line after them is served (the long ones sent nothing)"
is "$(nth 5 | jq -r .user)" edge "a line of exactly 1 MiB is served"
is "$(nth 6 | jq -r .error)" "batch: line 6 is longer than 1024 KiB" "1 MiB + 1 byte: 64"
is "$(nth 7 | jq -r .user)" edge "and the batch goes on"
is "$berr" "" "nothing on stderr"

done_testing
