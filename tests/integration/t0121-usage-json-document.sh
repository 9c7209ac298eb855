#!/usr/bin/env bash
# --usage-json FILE|-|DOCUMENT: a value that starts with { or [ is the JSON
# document itself (a shell one-liner, a batch line); anything else is a
# file, - is stdin.  Explicit counts (--prompt, --completion, --total,
# --cached, --cache-write, --reasoning) beside --usage-json are a usage
# error (64), not a silent override, and nothing is recorded.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

start_tokqd
tq clock set 2026-12-01T10:00:00Z
events() { "$TOKQ" --socket "$SOCK" --json status | jq -r .events; }

# --- the document itself ------------------------------------------------------------
tqj record --user u1 --model gpt-4o --usage-json '{"usage":{"prompt_tokens":120,"completion_tokens":30}}'
is "$rc" 0 "a value starting with { is the document: exit 0"
is "$(jqv '[.prompt, .completion, .total] | join(" ")')" "120 30 150" "its counts are recorded"

tqj record --user u2 --model gpt-4o --usage-json \
	'[{"prompt_tokens":10,"completion_tokens":1},{"prompt_tokens":20,"completion_tokens":2}]'
is "$rc" 0 "a value starting with [ is an array document: exit 0"
tqj usage --user u2
is "$(jqv '.periods.all | "\(.requests) \(.total)"')" "2 33" "one event per element (2 requests, 33 tokens)"

tqj record --user u3 --usage-json '{"model":"gpt-4o-mini","usage":{"prompt_tokens":5,"completion_tokens":5},"cost":0.001}'
is "$rc" 0 "a DSPy-like document names the model itself: --model not needed"

# files and stdin still work
tqj record --user u4 --model o3-mini --usage-json "$TEST_ROOT/tests/data/usage/openai_chat_completion.json"
is "$rc $(jqv .total)" "0 2306" "a file name is still read as a file"
tqj record --user u5 --model o3-mini --usage-json - <"$TEST_ROOT/tests/data/usage/openai_chat_completion.json"
is "$rc $(jqv .total)" "0 2306" "- is still stdin"
tq record --user u6 --model m --usage-json "$T/no-such-file.json"
is "$rc" 64 "a missing file is a usage error (64)"
like "$err" 'no-such-file\.json' "naming the file"

# a document that is no JSON is data the daemon refuses
n0=$(events)
tq record --user u7 --model m --usage-json '{"usage": '
is "$rc" 65 "a document that is not JSON: 65 from tokqd"
is "$(stderr_lines)" 1 "with one stderr line"
is "$(events)" "$n0" "and nothing is recorded"

# --- explicit counts beside --usage-json: 64 ----------------------------------------
n0=$(events)
doc='{"usage":{"prompt_tokens":100,"completion_tokens":10}}'
for fl in prompt completion total cached cache-write reasoning; do
	tq record --user u8 --model m --usage-json "$doc" "--$fl" 1
	is "$rc" 64 "--$fl with --usage-json: exit 64"
	is "$(stderr_lines)" 1 "--$fl with --usage-json: one stderr line"
	like "$err" "^tokq: record: --$fl and --usage-json cannot be combined" "--$fl with --usage-json: it says why"
done
tq record --user u8 --model m --prompt 1 --usage-json - <<<"$doc"
is "$rc" 64 "--prompt before --usage-json - (stdin): exit 64 too"
is "$(events)" "$n0" "none of them recorded anything"

# the other flags still go with it
tqj record --user u8 --model m --usage-json "$doc" --cost 0.5 --key k-doc --service bot
is "$rc $(jqv .cost_usd)" "0 0.5" "--cost, --key and --service are fine beside --usage-json"

stop_tokqd
done_testing
