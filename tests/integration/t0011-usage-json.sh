#!/usr/bin/env bash
# record --usage-json maps what the providers return onto the stored
# fields, end to end: OpenAI, Anthropic, Gemini, a DSPy history entry (with
# its model and cost), a JSON array (one event per call) and stdin; a usage
# JSON that names no model needs --model, and never hurts the daemon.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

data=$TEST_ROOT/tests/data/usage
fields='[.model, .prompt, .completion, .total, .cached, .cache_write, .reasoning] | map(tostring) | join(" ")'

start_tokqd
tq clock set 2026-12-01T10:00:00Z

tqj record --user 1 --usage-json "$data/openai_chat_completion.json"
is "$rc" 0 "an OpenAI chat completion: exit 0"
is "$(jqv "$fields")" "o3-mini-2025-01-31 2006 300 2306 1920 0 192" \
	"OpenAI: model, prompt, completion, total, cached, reasoning from the response"

tqj record --user 2 --usage-json "$data/anthropic_message.json"
is "$rc" 0 "an Anthropic message: exit 0"
is "$(jqv "$fields")" "claude-sonnet-4-20250514 188107 393 188500 0 188086 0" \
	"Anthropic: prompt = input + cache creation + cache read; cache creation = cache_write"

tqj record --user 2 --model claude-sonnet-4 --usage-json "$data/anthropic_cache_read.json"
is "$rc" 0 "a bare Anthropic usage object with --model: exit 0"
is "$(jqv "$fields")" "claude-sonnet-4 188136 393 188529 188086 0 0" \
	"Anthropic: cache read = cached"

tqj record --user 3 --usage-json "$data/gemini_response.json"
is "$rc" 0 "a Gemini response: exit 0"
is "$(jqv "$fields")" "gemini-2.5-flash 4210 508 4718 4096 0 421" \
	"Gemini: completion = candidates + thoughts; thoughts = reasoning"

tqj record --user 4 --usage-json "$data/dspy_history_entry.json"
is "$rc" 0 "a DSPy lm.history entry without --model: exit 0"
is "$(jqv "$fields")" "groq/moonshotai/kimi-k2-instruct 3721 117 3838 0 0 0" \
	"DSPy: the entry's model and usage"
is "$(jqv .cost_usd)" 0.000123 "DSPy: the entry's cost"

tqj status
n0=$(jqv .events)
tqj record --user 5 --model kimi-k2 --session s-1 --usage-json "$data/dspy_usage_array.json"
is "$rc" 0 "a JSON array of three usage objects: exit 0"
is "$(jqv '.events | length')" 3 "the reply names three events"
tqj status
is "$(jqv .events)" $((n0 + 3)) "three events were recorded"
tqj usage --user 5
is "$(jqv '.periods.all | [.requests, .prompt, .completion, .total] | join(" ")')" \
	"3 10302 219 10521" "one request per element, their tokens added up"

tqj record --user 6 --model gpt-4o-mini --usage-json - \
	<<<'{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}'
is "$rc" 0 "--usage-json - reads stdin: exit 0"
is "$(jqv "$fields")" "gpt-4o-mini 10 5 15 0 0 0" "stdin: the bare usage object"

# No model anywhere.
tqj status
n0=$(jqv .events)
tq record --user 7 --usage-json "$data/litellm_usage.json"
is "$rc" 64 "usage JSON naming no model, without --model: exit 64"
is "$(stderr_lines)" 1 "with one line on stderr"
like "$err" 'model' "that says the model is missing"
tq record --user 7 --usage-json "$data/dspy_usage_array.json"
is "$rc" 64 "an array naming no model, without --model: exit 64"
tq status
is "$rc" 0 "tokqd still answers"
tq record --user 7 --model gpt-4o --usage-json - <<<'{"prompt_tokens": '
like "$rc" '^6[45]$' "usage JSON that is not JSON is refused (64 or 65)"
tqj status
is "$rc" 0 "tokqd still answers"
is "$(jqv .events)" "$n0" "none of the refused records was recorded"

stop_tokqd
done_testing
