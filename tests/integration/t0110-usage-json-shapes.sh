#!/usr/bin/env bash
# record --usage-json maps each provider shape onto prompt / completion /
# total / cached / cache_write / reasoning (and cost, for DSPy), as the
# contract's normalisation says: OpenAI (and LiteLLM, DSPy) usage, a whole
# OpenAI chat completion, an Anthropic message, a Gemini response, a DSPy
# lm.history entry, a bare usage object with --model, and arrays of these.
# No model anywhere: exit 64; JSON that does not parse: exit 65; neither
# records anything.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

data=$TEST_ROOT/tests/data/usage
fields() { jqv '[.model, .prompt, .completion, .total, .cached, .cache_write, .reasoning] | map(tostring) | join(" ")'; }
nano() { jqv "$1 * 1e9 | round"; }
events() { "$TOKQ" --socket "$SOCK" --json status 2>/dev/null | jq -r .events; }

start_tokqd
tq clock set 2026-12-01T10:00:00Z
tq price set '*' --input 1 --output 2 --cached 0.5 --cache-write 1.25

# --- OpenAI chat completion: the model from the response ------------------------------
tqj record --user 1 --usage-json "$data/openai_chat_completion.json"
is "$rc" 0 "an OpenAI chat completion without --model: exit 0"
is "$(fields)" "o3-mini-2025-01-31 2006 300 2306 1920 0 192" \
	"model, prompt_tokens, completion_tokens, total_tokens, cached_tokens, reasoning_tokens"
# 86 plain x 1 + 1920 cached x 0.5 + 300 x 2 = 1646 per 1M
is "$(nano .cost_usd)" 1646000 "cost from the price table: plain input, cached input and output (\$0.001646)"

tqj record --user 1 --model gpt-4o --usage-json "$data/openai_chat_completion.json"
is "$(jqv .model)" gpt-4o "--model, when given, beats the response's own model (limits and prices use the bot's name)"

# --- a bare OpenAI / LiteLLM usage object with --model -----------------------------------
tqj record --user 1 --model kimi-k2 --usage-json "$data/litellm_usage.json"
is "$rc" 0 "a bare usage object with --model: exit 0"
is "$(fields)" "kimi-k2 3856 63 3919 0 0 0" "LiteLLM: null details count as 0"
tqj record --user 1 --model gpt-4o --usage-json - <<'JSON'
{"prompt_tokens": 100, "completion_tokens": 50}
JSON
is "$(fields)" "gpt-4o 100 50 150 0 0 0" "no total_tokens: total = prompt + completion"
tqj record --user 1 --model gpt-4o --usage-json - <<'JSON'
{"usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 175}}
JSON
is "$(fields)" "gpt-4o 100 50 175 0 0 0" "a given total_tokens is kept as given"

# --- Anthropic message -----------------------------------------------------------------
tqj record --user 2 --usage-json "$data/anthropic_message.json"
is "$rc" 0 "an Anthropic message without --model: exit 0"
is "$(fields)" "claude-sonnet-4-20250514 188107 393 188500 0 188086 0" \
	"prompt = input + cache creation + cache read; cache creation = cache_write"
# 21 x 1 + 188086 x 1.25 + 393 x 2 = 235914.5 per 1M
is "$(nano .cost_usd)" 235914500 "cost: cache writes at the cache-write price (\$0.2359145)"
tqj record --user 2 --model claude-sonnet-4 --usage-json "$data/anthropic_cache_read.json"
is "$(fields)" "claude-sonnet-4 188136 393 188529 188086 0 0" "cache read = cached"

# --- Gemini -------------------------------------------------------------------------------
tqj record --user 3 --usage-json "$data/gemini_response.json"
is "$rc" 0 "a Gemini response without --model: exit 0"
is "$(fields)" "gemini-2.5-flash 4210 508 4718 4096 0 421" \
	"promptTokenCount; candidates + thoughts = completion; cachedContentTokenCount; thoughts = reasoning"
tqj record --user 3 --model gemini-2.0-flash --usage-json - <<'JSON'
{"usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}}
JSON
is "$(fields)" "gemini-2.0-flash 10 5 15 0 0 0" "usageMetadata without model: --model, missing counts are 0"

# --- DSPy lm.history entry: its model and its cost ------------------------------------------
tqj record --user 4 --usage-json "$data/dspy_history_entry.json"
is "$rc" 0 "a DSPy history entry without --model: exit 0"
is "$(fields)" "groq/moonshotai/kimi-k2-instruct 3721 117 3838 0 0 0" "the entry's model (not response_model) and usage"
is "$(jqv .cost_usd)" 0.000123 "the entry's own cost"

# --- OpenAI Responses API (not named by the contract; what a bot author expects) ---------
tqj record --user 5 --usage-json "$data/responses_api.json"
is "$rc" 0 "an OpenAI Responses API response: exit 0"
is "$(fields)" "gpt-4.1-2025-04-14 1536 310 1846 1024 0 256" \
	"input_tokens, output_tokens, input_tokens_details.cached_tokens, output_tokens_details.reasoning_tokens"

# --- arrays: one event per element, in one session, call 0, 1, 2 ---------------------------
n0=$(events)
tqj record --user 6 --model kimi-k2 --session s1 --usage-json "$data/dspy_usage_array.json"
is "$rc" 0 "an array of three bare usage objects: exit 0"
is "$(jqv '.events | length')" 3 "three events"
is "$(fields)" "kimi-k2 10302 219 10521 0 0 0" "the reply adds them up"
is "$(events)" $((n0 + 3)) "status counts three more events"

jq -s . "$data/openai_chat_completion.json" "$data/anthropic_message.json" "$data/gemini_response.json" \
	"$data/dspy_history_entry.json" >"$T/mixed.json"
tqj record --user 7 --session s2 --usage-json "$T/mixed.json"
is "$rc" 0 "an array of four whole responses of four providers: exit 0"
is "$(jqv '.events | length')" 4 "four events"
is "$(jqv '[.prompt, .completion, .total] | join(" ")')" \
	"$((2006 + 188107 + 4210 + 3721)) $((300 + 393 + 508 + 117)) $((2306 + 188500 + 4718 + 3838))" \
	"the reply adds up all four"
tqj usage --user 7
is "$(jqv '[.by_model[] | "\(.model)=\(.total)"] | sort | join(" ")')" \
	"claude-sonnet-4-20250514=188500 gemini-2.5-flash=4718 groq/moonshotai/kimi-k2-instruct=3838 o3-mini-2025-01-31=2306" \
	"each element is recorded under its own model"
is "$(jqv .periods.all.cached)" $((1920 + 4096)) "usage: cached adds up"
is "$(jqv .periods.all.reasoning)" $((192 + 421)) "usage: reasoning adds up"

# --- invalid usage JSON records nothing --------------------------------------------------------
n0=$(events)
tq record --user 8 --model gpt-4o --usage-json - <<<'{"prompt_tokens": '
is "$rc" 65 "usage JSON that does not parse: exit 65"
is "$(stderr_lines)" 1 "one stderr line"
tq record --user 8 --model gpt-4o --usage-json - <<<'{"prompt_tokens": -5, "completion_tokens": 1}'
is "$rc" 65 "negative token counts: exit 65"
tq record --user 8 --model gpt-4o --usage-json - <<<'[{"prompt_tokens": 1, "completion_tokens": 1}, {"prompt_tokens": -1}]'
is "$rc" 65 "an array with one bad element: exit 65"
tq record --user 8 --model gpt-4o --usage-json "$T/no-such-file.json"
is "$rc" 64 "a usage JSON file that does not exist: exit 64"
is "$(events)" "$n0" "none of these recorded anything (not even the array's good element)"

# --- no model anywhere: exit 64 --------------------------------------------------------------
tq record --user 9 --usage-json "$data/litellm_usage.json"
is "$rc" 64 "a bare usage object without --model: exit 64"
is "$(stderr_lines)" 1 "one stderr line"
like "$err" model "that says the model is missing"
tq status
is "$rc" 0 "tokqd still answers"
tq record --user 9 --usage-json "$data/dspy_usage_array.json"
is "$rc" 64 "an array naming no model, without --model: exit 64"
tq status
is "$rc" 0 "tokqd still answers"
is "$(events)" "$n0" "nothing recorded"

stop_tokqd
done_testing
