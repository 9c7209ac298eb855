#!/usr/bin/env bash
# Setup 2 (Redis counters): all-time and daily token counters per user and
# an estimated cost at gpt-4o-mini's $0.15 per 1M tokens.  tokq prices the
# model once, computes cost_usd at record time without rounding small
# amounts to zero, and `usage` shows today (reset at 00:00 UTC), this month,
# the last 30 days and all time.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

# nano: the cost_usd of $out's JSON path $1 in nano-USD (an integer)
nano() { jqv "$1 * 1e9 | round"; }
# period P: "requests total cost-in-nano-USD" of usage's period P
period() { jqv ".periods[\"$1\"] | [.requests, .total, (.cost_usd * 1e9 | round)] | join(\" \")"; }

start_tokqd
tq clock set 2026-12-01T10:00:00Z

# --- COST_PER_MILLION_TOKENS = 0.15 ----------------------------------------------
tqj price set gpt-4o-mini --input 0.15 --output 0.15
is "$rc" 0 "price set gpt-4o-mini --input 0.15 --output 0.15"
is "$(jqv '.price | [.model, .input, .output] | map(tostring) | join(" ")')" "gpt-4o-mini 0.15 0.15" \
	"the price: 0.15 in, 0.15 out per 1M"
tqj price list
is "$(jqv '[.prices[] | select(.model == "gpt-4o-mini") | .input] | join(" ")')" 0.15 "price list shows it"

# The seed's /tokenstats example: 125,430 tokens -> $0.0188145 ("$0.02").
tqj record --user JohnDoe --guild g1 --model gpt-4o-mini --prompt 100000 --completion 25430 --kind mention
is "$rc" 0 "record 100000 + 25430 tokens of gpt-4o-mini"
is "$(jqv .total)" 125430 "total 125430"
is "$(jqv .cost_usd)" 0.0188145 "cost_usd = 125430 * 0.15 / 1e6 = 0.0188145 exactly"
tqj record --user JohnDoe --guild g1 --model gpt-4o-mini --prompt 1 --completion 0
is "$(nano .cost_usd)" 150 "one token costs 150 nano-USD: not rounded to zero"
tqj record --user JohnDoe --guild g1 --model gpt-4o-mini --prompt 7 --completion 0
is "$(nano .cost_usd)" 1050 "7 tokens cost 1050 nano-USD"

tqj usage --user JohnDoe
is "$(period all)" "3 125438 18815700" "all-time: 3 requests, 125438 tokens, \$0.0188157"
is "$(period today)" "3 125438 18815700" "today: the same"

tqj check --user JohnDoe --model gpt-4o-mini --tokens 1000000
is "$(nano .estimate.cost_usd)" 150000000 "check: 1M estimated tokens are estimated at \$0.15"

# --- today resets at 00:00 UTC; all-time never --------------------------------------
tq clock set 2026-12-01T23:59:00Z
tq record --user JohnDoe --guild g1 --model gpt-4o-mini --prompt 3245 --completion 0 --kind reply
at 2026-12-01T23:59:59Z tqj usage --user JohnDoe
is "$(period today)" "4 128683 19302450" "at 23:59:59 today counts all four records"
at 2026-12-02T00:00:00Z tqj usage --user JohnDoe
is "$(period today)" "0 0 0" "at 00:00:00 UTC the next day, today is empty"
is "$(period all)" "4 128683 19302450" "and all-time keeps them"
is "$(period month)" "4 128683 19302450" "and this month"
is "$(period 30d)" "4 128683 19302450" "and the last 30 days"

tq record --user JohnDoe --guild g2 --model gpt-4o-mini --prompt 230 --completion 0
tqj usage --user JohnDoe
is "$(period today)" "1 230 34500" "today: only the new day's record (230 tokens, \$0.0000345)"
is "$(period all)" "5 128913 19336950" "all-time: every record, in every guild"
is "$(jqv '.by_model | map("\(.model)=\(.total)") | join(" ")')" "gpt-4o-mini=128913" "by model, all-time"

# --- a month later: this month and 30 days are empty, all-time is not ----------
tq clock set 2027-01-05T12:00:00Z
tqj usage --user JohnDoe
is "$(period today)" "0 0 0" "a month later: today empty"
is "$(period month)" "0 0 0" "this month (January) empty"
is "$(period 30d)" "0 0 0" "the last 30 days empty"
is "$(period all)" "5 128913 19336950" "all-time unchanged"

# --- a price change rewrites nothing that was recorded ------------------------------
tq price set gpt-4o-mini --input 0.60 --output 2.40
tqj usage --user JohnDoe
is "$(period all)" "5 128913 19336950" "a later price change leaves the recorded cost alone"
tqj record --user JohnDoe --model gpt-4o-mini --prompt 1000000 --completion 1000000
is "$(jqv .cost_usd)" 3 "a new record uses the new price: 0.60 + 2.40 = \$3"

stop_tokqd
done_testing
