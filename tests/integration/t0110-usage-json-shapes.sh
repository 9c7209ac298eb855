#!/usr/bin/env bash
# record --usage-json maps each provider shape onto prompt / completion /
# total / cached / cache_write / reasoning (and cost, for DSPy), as the
# contract's normalisation says: OpenAI (and LiteLLM, DSPy) usage, a whole
# OpenAI chat completion, an Anthropic message, a Gemini response, a DSPy
# lm.history entry, a bare usage object with --model, and arrays of these;
# and the shapes of current SDKs (docs/usage-shapes.md): OpenAI's
# cache_write_tokens, Anthropic's thinking_tokens and stream events, Gemini's
# tool-use prompt and Python dumps, a Responses event, OpenRouter's cost,
# Bedrock, Cohere, Groq's stream, each checked in the reply and the log.
# No model anywhere: exit 64; JSON that does not parse, a total below
# prompt + completion, a count over 10^12 or no counts at all: exit 65;
# none records anything.
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

# --- the shapes of current SDKs (issue 19): what the reply and the event log say ---------
logged() { tqj log --user "$1" --last 1; jqv '.events[0] | [.model, .prompt, .completion, .total, .cached, .cache_write, .reasoning] | map(tostring) | join(" ")'; }
shape() {	# user, expected fields, what, then record's arguments
	local u=$1 want=$2 what=$3
	shift 3
	tqj record --user "$u" "$@"
	is "$rc" 0 "$what: exit 0"
	is "$(fields)" "$want" "$what: the reply's counts"
	is "$(logged "$u")" "$want" "$what: the event as logged"
}
shape 20 "gpt-5.1-2025-11-13 6144 512 6656 2048 4096 384" \
	"OpenAI chat with prompt_tokens_details.cache_write_tokens" --usage-json "$data/openai_chat_cache_write.json"
shape 21 "claude-opus-4-7 12600 1450 14050 10240 2048 1210" \
	"Anthropic message with output_tokens_details.thinking_tokens" --usage-json "$data/anthropic_thinking.json"
shape 22 "claude-sonnet-4-6 12600 1 12601 10240 2048 0" \
	"Anthropic message_start event: the input side, output as of the start" --usage-json "$data/anthropic_message_start.json"
shape 23 "claude-sonnet-4-6 12600 1450 14050 10240 2048 1210" \
	"Anthropic message_delta event (cumulative usage at the top)" --model claude-sonnet-4-6 \
	--usage-json "$data/anthropic_message_delta.json"
shape 24 "gemini-2.5-pro 2544 1246 3790 1024 0 1150" \
	"Gemini with toolUsePromptTokenCount: prompt + completion = totalTokenCount" --usage-json "$data/gemini_tool_use.json"
# 1520 plain x 1 + 1024 cached x 0.5 + 1246 x 2 = 4524 per 1M: the tool-use input is paid for
is "$(nano .cost_usd)" 4524000 "Gemini: the tool-use prompt tokens are priced as input (\$0.004524)"
shape 25 "gemini-2.5-pro 2544 1246 3790 1024 0 1150" \
	"Gemini as a Python SDK dumps it (usage_metadata, snake_case)" --usage-json "$data/gemini_python_dump.json"
shape 26 "gpt-5-mini-2025-08-07 3300 720 4020 2048 1024 640" \
	"OpenAI Responses response.completed event" --usage-json "$data/responses_completed_event.json"
shape 27 "openai/gpt-4o-mini 1940 18 1958 1792 0 0" \
	"OpenRouter chat completion" --usage-json "$data/openrouter_chat.json"
is "$(nano .cost_usd)" 169800 "OpenRouter: usage.cost is the event's cost (\$0.0001698)"
tqj record --user 27 --cost 0.5 --usage-json "$data/openrouter_chat.json"
is "$(jqv .cost_usd)" 0.5 "OpenRouter: an explicit --cost beats usage.cost"
shape 28 "claude-sonnet-4 1211 378 1589 0 1201 0" \
	"AWS Bedrock Converse: prompt adds the cache reads and writes to inputTokens" --model claude-sonnet-4 \
	--usage-json "$data/bedrock_converse.json"
shape 29 "command-r 17 12 29 0 0 0" \
	"Cohere v2 chat: usage.billed_units" --model command-r --usage-json "$data/cohere_v2_chat.json"
shape 30 "llama-3.3-70b-versatile 244 31 275 0 0 0" \
	"Groq stream's last chunk: x_groq.usage" --usage-json "$data/groq_stream_x_groq.json"

# --- refused: a total below prompt + completion, counts over 10^12, no counts at all ----------
n0=$(events)
tq record --user 31 --usage-json "$data/refused_total_below_sum.json"
is "$rc" 65 "total_tokens below prompt + completion: exit 65"
is "$(stderr_lines)" 1 "one stderr line"
like "$err" 'total_tokens \(120\) is less than prompt \+ completion \(150\)' "that names both numbers"
tq record --user 31 --usage-json "$data/refused_count_over_max.json"
is "$rc" 65 "a count over 10^12: exit 65"
like "$err" 'promptTokenCount .* more than 10\^12' "that names the field"
tq record --user 31 --usage-json "$data/refused_prompt_sum_over_max.json"
is "$rc" 65 "a prompt that adds up to over 10^12: exit 65"
tq record --user 31 --usage-json "$data/refused_cost_over_max.json"
is "$rc" 65 "a usage.cost over \$1,000,000: exit 65"
tq record --user 31 --model gpt-4o --usage-json "$data/openai_chat_stream_chunk_without_usage.json"
is "$rc" 65 "a stream chunk without usage: exit 65"
is "$(stderr_lines)" 1 "one stderr line"
like "$err" 'no token counts found: looked for usage, usageMetadata, usage_metadata' "that says where it looked"
is "$(events)" "$n0" "none of these recorded anything"

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
