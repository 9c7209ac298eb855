#!/usr/bin/env bash
# The price table: USD per 1M tokens for input, output, cached input and
# cache writes, per model with "*" as the fallback.  A record's cost is
# computed at record time (a later price change rewrites nothing), a given
# --cost wins, and a check's cost estimate comes from the same table.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

nano() { jqv "$1 * 1e9 | round"; }	# nano FILTER: a USD value in $out, in nano-USD
prices() { jqv '[.prices[] | "\(.model):\(.input)/\(.output)/\(.cached)/\(.cache_write)"] | sort | join(" ")'; }

start_tokqd
tq clock set 2026-12-01T10:00:00Z

# --- set, list, rm ---------------------------------------------------------------
tqj price list
is "$(jqv '.prices | length')" 0 "no prices at first"
tqj price set claude-sonnet-4 --input 3 --output 15 --cached 0.30 --cache-write 3.75
is "$rc" 0 "price set claude-sonnet-4 --input 3 --output 15 --cached 0.30 --cache-write 3.75"
is "$(jqv '.price | "\(.model):\(.input)/\(.output)/\(.cached)/\(.cache_write)"')" \
	"claude-sonnet-4:3/15/0.3/3.75" "the reply has all four prices"
tqj price set gpt-4o-mini --input 0.15 --output 0.60
is "$(jqv '.price | "\(.cached)/\(.cache_write)"')" "0.15/0.15" "cached and cache-write default to the input price"
tqj price set '*' --input 1 --output 2
is "$rc" 0 "price set '*' (the fallback)"
tqj price list
is "$(prices)" "*:1/2/1/1 claude-sonnet-4:3/15/0.3/3.75 gpt-4o-mini:0.15/0.6/0.15/0.15" "price list: all three"
tqj price set gpt-4o-mini --input 0.15 --output 0.60 --cached 0.075
tqj price list
is "$(jqv '[.prices[] | select(.model == "gpt-4o-mini")] | length')" 1 "setting a price again replaces it"
is "$(jqv '.prices[] | select(.model == "gpt-4o-mini") | .cached')" 0.075 "with the new cached price"

# --- cost at record time ---------------------------------------------------------
tqj record --user u --model gpt-4o-mini --prompt 1000000 --completion 1000000
is "$(jqv .cost_usd)" 0.75 "gpt-4o-mini: 1M in at 0.15 + 1M out at 0.60 = \$0.75"
tqj record --user u --model gpt-4o-mini --prompt 1000000 --cached 400000 --completion 0
is "$(nano .cost_usd)" 120000000 "600k plain input at 0.15 + 400k cached at 0.075 = \$0.12"
tqj record --user u --model o3-mini --prompt 2000 --completion 500 --reasoning 300
is "$(nano .cost_usd)" 3000000 "an unpriced model uses '*': 2000 x 1 + 500 x 2 per 1M = \$0.003"

# Anthropic with cache writes and cache reads, from the usage JSON
tqj record --user u --model claude-sonnet-4 --usage-json - <<'JSON'
{"input_tokens": 50, "cache_creation_input_tokens": 1000, "cache_read_input_tokens": 188086, "output_tokens": 393}
JSON
is "$rc" 0 "record an Anthropic usage with cache creation and cache read"
is "$(jqv '[.prompt, .cached, .cache_write, .completion] | join(" ")')" "189136 188086 1000 393" \
	"prompt 189136 = 50 + 1000 + 188086; cached 188086; cache_write 1000"
# 50 x 3 + 188086 x 0.30 + 1000 x 3.75 + 393 x 15 = 66220.8 per 1M
is "$(nano .cost_usd)" 66220800 "cost: plain input, cache reads, cache writes and output each at their price (\$0.0662208)"

# --cost given wins
tqj record --user u --model claude-sonnet-4 --prompt 1000000 --completion 0 --cost 0.01
is "$(jqv .cost_usd)" 0.01 "--cost given wins over the price table"
tqj record --user u --model claude-sonnet-4 --prompt 1 --completion 0 --cost 0
is "$(jqv .cost_usd)" 0 "--cost 0 given wins too"
tqj record --user u --cost 0.5 --usage-json "$TEST_ROOT/tests/data/usage/dspy_history_entry.json"
is "$(jqv .cost_usd)" 0.5 "--cost wins over a DSPy entry's own cost"
tqj record --user u --usage-json "$TEST_ROOT/tests/data/usage/dspy_history_entry.json"
is "$(jqv .cost_usd)" 0.000123 "a DSPy entry's own cost wins over the price table (its model is priced by '*')"

# --- a later price change rewrites nothing ---------------------------------------
tqj usage --user u
before=$(jqv '[.periods.all.cost_usd, (.by_model | map("\(.model)=\(.cost_usd)") | sort | join(","))] | join(" ")')
tq price set gpt-4o-mini --input 100 --output 100
tq price set '*' --input 100 --output 100
tq price set claude-sonnet-4 --input 100 --output 100
tqj usage --user u
is "$(jqv '[.periods.all.cost_usd, (.by_model | map("\(.model)=\(.cost_usd)") | sort | join(","))] | join(" ")')" \
	"$before" "after the prices changed, every recorded cost is what it was"
tqj record --user u --model gpt-4o-mini --prompt 1000 --completion 0
is "$(nano .cost_usd)" 100000000 "a new record uses the new price (1000 x 100 per 1M = \$0.1)"

# --- rm -------------------------------------------------------------------------
tqj price rm gpt-4o-mini
is "$rc" 0 "price rm gpt-4o-mini"
is "$(jqv .removed)" true "removed"
tq price rm gpt-4o-mini
is "$rc" 65 "price rm again: no such price, exit 65"
is "$(stderr_lines)" 1 "one stderr line"
tq price set '*' --input 2 --output 2
tqj record --user u --model gpt-4o-mini --prompt 1000 --completion 0
is "$(nano .cost_usd)" 2000000 "without its own price gpt-4o-mini falls back to '*'"
tq price rm '*'
tqj record --user u --model gpt-4o-mini --prompt 1000 --completion 0
is "$(jqv .cost_usd)" 0 "without any price: cost 0"
tqj price list
is "$(prices)" "claude-sonnet-4:100/100/100/100" "price list: only claude-sonnet-4 is left"

# --- a check's cost estimate ---------------------------------------------------------
tq price set gemini-2.5-flash --input 0.30 --output 2.50
tq limit set --user v --cost 0.25 --per day
tqj check --user v --model gemini-2.5-flash --tokens 100000
is "$rc" 0 "check --tokens 100000 against \$0.25: allowed"
is "$(nano .estimate.cost_usd)" 250000000 "the estimate prices tokens not yet split at the dearer price (2.50): \$0.25"
tqj check --user v --model gemini-2.5-flash --tokens 100001
is "$rc" 1 "100001 tokens (\$0.2500025) do not fit \$0.25"
is "$(jqv '.denied_by | [.metric, .window] | join(" ")')" "cost day" "denied by the cost rule"
tqj check --user v --model gemini-2.5-flash --cost 0.25
is "$rc" 0 "check --cost 0.25 fits"
tqj check --user v --model gemini-2.5-flash --cost 0.250000001
is "$rc" 1 "check --cost 0.250000001 does not (nano-USD precision)"

stop_tokqd
done_testing
