#!/usr/bin/env bash
# tokq check allows while used + estimate fits every applicable rule and
# denies (exit 1) naming the binding rule otherwise; records always succeed.
# Each scenario uses its own users and guilds; the rules that apply to
# everyone (--default, --global) come last.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

start_tokqd
tq clock set 2026-12-01T10:00:00Z
is "$rc" 0 "clock set"

rec() {	# rec USER TOKENS [FLAGS...]: record TOKENS prompt tokens
	local u=$1 n=$2
	shift 2
	tq record --user "$u" --model "${MODEL:-gpt-4o}" --prompt "$n" --completion 0 "$@"
	[ "$rc" = 0 ] || diag "record --user $u --prompt $n $* exited $rc: $err"
}

# --- a user rule over a rolling 30 days -------------------------------------
tq limit set --user alice --tokens 1000 --per 30d

tqj check --user alice
is "$rc" 0 "check with nothing used is allowed (exit 0)"
is "$(jqv .allowed)" true "allowed is true"
is "$(jqv .denied_by)" null "denied_by is null"
is "$(jqv '.limits | length')" 1 "the user's rule applies"

rec alice 900
tqj check --user alice --tokens 200
is "$rc" 1 "900 used + 200 estimated > 1000: denied (exit 1)"
is "$(jqv .allowed)" false "allowed is false"
is "$(jqv '.denied_by | [.selector, .subject, .metric, .window] | join(" ")')" \
	"user alice tokens 30d" "denied_by names the rule"
is "$(jqv .denied_by.limit)" 1000 "denied_by.limit is 1000"
is "$(jqv .denied_by.used)" 900 "denied_by.used is 900"
like "$(jqv .denied_by.resets_at)" '^2026-12-31T(10:[0-5][0-9]:[0-5][0-9]|11:00:00)Z$' \
	"denied_by.resets_at: when the usage leaves the 30-day window"

tq check --user alice --tokens 200
is "$rc" 1 "denied without --json too"
like "$out$err" '1[,. ]?000' "the human denial names the limit"
like "$out$err" '900' "and the usage"

tq check --user alice --tokens 100
is "$rc" 0 "900 + 100 = 1000 still fits (used + estimate <= limit)"
tq check --user alice
is "$rc" 0 "a check without an estimate is allowed while usage is below the limit"

tqj record --user alice --model gpt-4o --prompt 200 --completion 0
is "$rc" 0 "a record past the limit still succeeds (exit 0)"
is "$(jqv .recorded)" true "and is recorded"
is "$(jqv .allowed)" false "its reply says the user is no longer within limits"

tqj check --user alice
is "$rc" 1 "1100 used: a check without an estimate is denied"
is "$(jqv .denied_by.used)" 1100 "denied_by.used counts the record past the limit"

tq clock advance 31d
tqj check --user alice --tokens 200
is "$rc" 0 "31 days later the usage left the rolling window: allowed"
is "$(jqv '.limits[0].used')" 0 "and nothing is counted"

# --- a per-model rule only judges requests naming that model ----------------
tq limit set --user bob --model gpt-4o --tokens 100
rec bob 150
tq check --user bob
is "$rc" 0 "per-model rule: a check without --model is not judged by it"
tqj check --user bob --model gpt-4o
is "$rc" 1 "per-model rule: a check for that model is denied"
is "$(jqv .denied_by.model)" gpt-4o "denied_by.model names the model"
tq check --user bob --model claude-3-haiku
is "$rc" 0 "per-model rule: another model is allowed"

# --- --each-model counts each model separately ------------------------------
tq limit set --user carol --each-model --tokens 100
rec carol 150
tqj check --user carol --model gpt-4o
is "$rc" 1 "each-model: the model that used 150 of 100 is denied"
is "$(jqv .denied_by.model)" '*' "denied_by.model is \"*\" for an each-model rule"
tq check --user carol --model claude-3-haiku
is "$rc" 0 "each-model: another model has its own 100"
MODEL=claude-3-haiku rec carol 90
tq check --user carol --model claude-3-haiku --tokens 10
is "$rc" 0 "each-model: 90 + 10 fits the second model's own limit"
tq check --user carol --model claude-3-haiku --tokens 11
is "$rc" 1 "each-model: 90 + 11 does not"

# --- a guild pool counts every member ---------------------------------------
tq limit set --guild g1 --tokens 1000
rec dave 600 --guild g1
rec erin 500 --guild g1
rec dave 5000 --guild g2
tqj check --user frank --guild g1
is "$rc" 1 "guild pool: 600 + 500 by two members deny a third member"
is "$(jqv '.denied_by | [.selector, .subject, .used] | join(" ")')" "guild g1 1100" \
	"denied_by names the guild and its pooled usage"
tq check --user frank --guild g2
is "$rc" 0 "the guild rule does not judge another guild"
tq check --user frank
is "$rc" 0 "nor a request without --guild"

# --- -1 is unlimited but still tracked --------------------------------------
tq limit set --user gina --tokens -1
rec gina 1000000000
tqj check --user gina --tokens 1000000
is "$rc" 0 "unlimited: allowed after a billion tokens"
is "$(jqv '.limits[] | select(.selector == "user") | [.limit, .used] | join(" ")')" "-1 1000000000" \
	"unlimited: the usage is tracked"
is "$(jqv '.limits[] | select(.selector == "user") | .remaining')" null "unlimited: remaining is null"

# --- a user rule beats a --default rule of the same metric and window ---------
tq limit set --default --tokens 100
tq limit set --user hank --tokens 10000
rec hank 500
rec ivan 500
tqj check --user hank
is "$rc" 0 "the user rule (10000) applies to hank, not the default (100)"
is "$(jqv '[.limits[] | select(.metric == "tokens" and .window == "30d") | .selector] | join(",")')" \
	user "only the most specific rule of that metric and window is listed"
tqj check --user ivan
is "$rc" 1 "the default rule judges a user without a rule of his own"
is "$(jqv .denied_by.selector)" default "denied_by.selector is default"
tq check --user newcomer --tokens 100
is "$rc" 0 "the default rule gives a newcomer 100 tokens"
tq check --user newcomer --tokens 101
is "$rc" 1 "and not 101"

# --- --global counts everything ---------------------------------------------
# Everything since alice's usage left the window (now is 2027-01-01T10:00Z):
# bob 150, carol 150 + 90, dave 600 + 5000, erin 500, gina 1e9, hank 500,
# ivan 500.  zed gets an unlimited rule of his own, so that only the global
# rule can judge him.
all=$((150 + 150 + 90 + 600 + 5000 + 500 + 1000000000 + 500 + 500))
tq limit set --user zed --tokens -1
tq limit set --global --tokens $((all + 1000)) --per 30d
tqj check --user zed --tokens 1000
is "$rc" 0 "global: everything used + 1000 fits"
is "$(jqv '.limits[] | select(.selector == "global") | .used')" "$all" "global: used counts every user's usage"
tqj check --user zed --tokens 1001
is "$rc" 1 "global: + 1001 does not"
is "$(jqv .denied_by.selector)" global "denied_by.selector is global"

stop_tokqd
done_testing
