#!/usr/bin/env bash
# The README's snippets do what the README says: the Python and Node bot
# snippets (taken from README.md as written) check, then record with a key
# once per call; Setup 4's jq filter picks the plan's rule by its fields,
# whatever the order of the rules in the reply.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq python3

README=$TEST_ROOT/README.md
# snippet LANG: the first ```LANG block after the line "LANG-TITLE:" of the quick start
snippet() {
	awk -v title="$1:" -v fence="\`\`\`$2" '
		$0 == title { want = 1; next }
		want && $0 == fence { inb = 1; next }
		inb && $0 == "```" { exit }
		inb { print }' "$README"
}

# A tokq on PATH that talks to this test's tokqd.
mkdir "$T/bin"
printf '#!/bin/sh\nexec "%s" --socket "%s" "$@"\n' "$TOKQ" "$SOCK" >"$T/bin/tokq"
chmod +x "$T/bin/tokq"

start_tokqd
tq clock set 2026-12-01T10:00:00Z

# --- the Python snippet --------------------------------------------------------------
snippet Python python >"$T/readme.py"
ok "README has a Python snippet that records with --key" grep -q -- '"--key", key' "$T/readme.py"
PATH=$T/bin:$PATH python3 "$T/readme.py" >"$T/py.out" 2>&1
is "$?" 0 "the README's Python snippet runs (exit 0)"
tqj usage --user 1234
is "$(jqv '.periods.all | "\(.requests) \(.total)"')" "1 1500" "it recorded the call once (1 request, 1500 tokens)"
PATH=$T/bin:$PATH python3 "$T/readme.py" >/dev/null 2>&1
tqj usage --user 1234
is "$(jqv '.periods.all.requests')" 1 "run again, the same key counts nothing twice"

# --- the Node snippet ----------------------------------------------------------------
if command -v node >/dev/null 2>&1; then
	snippet Node js >"$T/readme.js"
	ok "README has a Node snippet that records with --key" grep -q -- '"--key"' "$T/readme.js"
	PATH=$T/bin:$PATH node "$T/readme.js" >"$T/node.out" 2>&1
	is "$?" 0 "the README's Node snippet runs (exit 0)"
	tqj usage --user 1234
	is "$(jqv '.periods.all | "\(.requests) \(.total)"')" "2 3000" "it recorded its call once (2 requests in all now)"
	PATH=$T/bin:$PATH node "$T/readme.js" >/dev/null 2>&1
	tqj usage --user 1234
	is "$(jqv '.periods.all.requests')" 2 "run again, the same key counts nothing twice"
else
	skip "the README's Node snippet" "node is not installed"
fi

# --- Setup 4: the plan's rule, by its fields ------------------------------------------
filter=$(sed -n "s/^tokq --json usage --user UUID | jq '\\(.*\\)'\$/\\1/p" "$README")
isnt "$filter" "" "README Setup 4 has the usage | jq line"
unlike "$filter" '\[0\]' "and it does not pick a rule by its position"
tq limit set --default --requests 1000 --per 1h          # set first: listed before the plan's
tq limit set --plan pro --tokens 1500000 --per month
tq limit set --global --tokens 100000000 --per day
tq plan assign --user 6f1c2b1e-0c1a-4d5e-9f00-000000000002 pro
tq record --user 6f1c2b1e-0c1a-4d5e-9f00-000000000002 --model openrouter/auto --prompt 3000 --completion 900
tqj usage --user 6f1c2b1e-0c1a-4d5e-9f00-000000000002
is "$(jq -c "$filter" <<<"$out" | jq -c '[.used, .cap]')" "[3900,1500000]" \
	"the filter gives the plan's used and cap, with other rules around it"

stop_tokqd
done_testing
