#!/usr/bin/env bash
# Setup 0 (GePeTo, "simplified token management"): per-user per-model
# limits, 100k tokens per user per model per 30 days by default, a user's
# own limit on one model, a limit for all members of a server on one model,
# unlimited users (-1, still tracked) and resetting a user's usage.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

rec() {	# rec USER MODEL TOKENS [FLAGS...]: TOKENS prompt tokens on MODEL
	local u=$1 m=$2 n=$3
	shift 3
	tq record --user "$u" --model "$m" --prompt "$n" --completion 0 "$@"
	[ "$rc" = 0 ] || diag "record --user $u --model $m --prompt $n $* exited $rc: $err"
}
# lim FILTER: the limit in $out's .limits that FILTER (a jq condition) selects
lim() { jqv "[.limits[] | select($1)] | if length == 1 then .[0] | [.selector, .model, .applies_to, .limit, .used, .remaining] | map(tostring) | join(\" \") else \"\(length) limits\" end"; }

start_tokqd
tq clock set 2026-12-01T10:00:00Z

# --- the default: 100,000 tokens per user per model per 30 days --------------
tqj limit set --default --each-model --tokens 100000 --per 30d
is "$rc" 0 "limit set --default --each-model --tokens 100000 --per 30d"
is "$(jqv '.rule | [.selector, .subject, .model, .metric, .window, .limit] | map(tostring) | join(" ")')" \
	"default null * tokens 30d 100000" "the rule: default, each model, 100000 tokens per 30d"

rec ann gpt-4o 60000
rec ann kimi-k2 30000
tqj check --user ann --model gpt-4o --tokens 40000
is "$rc" 0 "default: 60000 + 40000 on gpt-4o fits 100000"
is "$(lim '.applies_to == "gpt-4o"')" "default * gpt-4o 100000 60000 40000" \
	"check names the default each-model rule counting gpt-4o: 60000 used, 40000 left"
tqj check --user ann --model gpt-4o --tokens 40001
is "$rc" 1 "default: 60000 + 40001 on gpt-4o is denied"
is "$(jqv '.denied_by | [.selector, .model, .applies_to] | map(tostring) | join(" ")')" "default * gpt-4o" \
	"denied_by is the default rule, for gpt-4o"
tqj check --user ann --model kimi-k2 --tokens 70000
is "$rc" 0 "default: kimi-k2 has its own 100000 (30000 + 70000 fits)"
is "$(lim '.applies_to == "kimi-k2"')" "default * kimi-k2 100000 30000 70000" \
	"kimi-k2 counts only kimi-k2's 30000"
tqj check --user ann --model claude-3-haiku --tokens 100000
is "$rc" 0 "a model never used: the full 100000"

tqj usage --user ann
is "$rc" 0 "usage --user ann"
is "$(jqv '[.limits[] | select(.selector == "default") | "\(.applies_to)=\(.used)/\(.limit)"] | sort | join(" ")')" \
	"gpt-4o=60000/100000 kimi-k2=30000/100000" \
	"usage lists the default rule once for each model ann used"
is "$(jqv '.periods.all | [.requests, .total] | join(" ")')" "2 90000" "usage: all-time 2 requests, 90000 tokens"
is "$(jqv '[.by_model[] | "\(.model)=\(.total)"] | sort | join(" ")')" "gpt-4o=60000 kimi-k2=30000" \
	"usage: by model"

# --- /token-set-limit user:@john limit:50000 on the current model ------------
tqj limit set --user john --model gpt-4o --tokens 50000
is "$rc" 0 "limit set --user john --model gpt-4o --tokens 50000"
is "$(jqv '.rule | [.selector, .subject, .model, .window, .limit] | map(tostring) | join(" ")')" \
	"user john gpt-4o 30d 50000" "john's rule: gpt-4o, 30d (the default window), 50000"
rec john gpt-4o 49000
rec john kimi-k2 80000
tqj check --user john --model gpt-4o --tokens 1000
is "$rc" 0 "john: 49000 + 1000 on gpt-4o fits his 50000"
is "$(lim '.metric == "tokens"')" "user gpt-4o gpt-4o 50000 49000 1000" \
	"only john's own rule judges gpt-4o (not the default 100000 as well)"
tqj check --user john --model gpt-4o --tokens 1001
is "$rc" 1 "john: 49000 + 1001 on gpt-4o is denied"
is "$(jqv '.denied_by | [.selector, .subject, .limit, .used] | map(tostring) | join(" ")')" \
	"user john 50000 49000" "denied_by: john's rule, 49000 of 50000"
tqj check --user john --model kimi-k2 --tokens 20000
is "$rc" 0 "john on another model: the default 100000 (80000 + 20000 fits)"
is "$(lim '.metric == "tokens"')" "default * kimi-k2 100000 80000 20000" \
	"john on kimi-k2 is judged by the default each-model rule"
tq check --user john --model kimi-k2 --tokens 20001
is "$rc" 1 "john: 80000 + 20001 on kimi-k2 is denied"
rec john gpt-4o 2000
tqj check --user john --model gpt-4o
is "$rc" 1 "john past 50000 on gpt-4o (51000): a check without estimate is denied"
tqj usage --user john
is "$(jqv '[.limits[] | "\(.selector):\(.applies_to)=\(.used)/\(.limit)/\(.remaining)"] | sort | join(" ")')" \
	"default:kimi-k2=80000/100000/20000 user:gpt-4o=51000/50000/0" \
	"usage --user john: his rule on gpt-4o (remaining 0, not negative), the default on kimi-k2"
tqj usage --user john --model gpt-4o
is "$(jqv '[.limits[] | "\(.selector):\(.applies_to)=\(.used)/\(.limit)"] | join(" ")')" \
	"user:gpt-4o=51000/50000" "usage --user john --model gpt-4o: just that model's rule"

# --- /token-set-limit-all limit:200000 for the server's members --------------
tqj limit set --members G1 --model gpt-4o --tokens 200000
is "$rc" 0 "limit set --members G1 --model gpt-4o --tokens 200000"
rec mia gpt-4o 150000 --guild G1
tqj check --user mia --guild G1 --model gpt-4o --tokens 50000
is "$rc" 0 "member of G1: 150000 + 50000 fits the members' 200000"
is "$(lim '.metric == "tokens"')" "members gpt-4o gpt-4o 200000 150000 50000" \
	"the members rule, not the default, judges mia in G1"
tqj check --user mia --guild G1 --model gpt-4o --tokens 50001
is "$rc" 1 "member of G1: 150000 + 50001 is denied"
is "$(jqv '.denied_by | [.selector, .subject] | join(" ")')" "members G1" "denied_by: members G1"
tqj check --user mia --model gpt-4o --tokens 1
is "$rc" 1 "mia outside G1 (no --guild): the default 100000 judges her 150000"
is "$(jqv .denied_by.selector)" default "denied_by: the default rule"
tqj check --user mia --guild G2 --model gpt-4o
is "$rc" 1 "mia in another guild: the default rule as well"
tqj check --user john --guild G1 --model gpt-4o --tokens 1
is "$rc" 1 "john in G1: his own 50000 beats the members' 200000"
is "$(jqv .denied_by.selector)" user "denied_by: john's user rule"

# --- /token-set-unlimited user:@admin ------------------------------------------
tqj limit set --user boss --each-model --tokens -1
is "$rc" 0 "limit set --user boss --each-model --tokens -1"
is "$(jqv .rule.limit)" -1 "the rule's limit is -1"
rec boss gpt-4o 5000000
rec boss kimi-k2 7000000 --guild G1
tqj check --user boss --model gpt-4o --tokens 1000000
is "$rc" 0 "unlimited: allowed on gpt-4o after 5M tokens"
is "$(lim '.metric == "tokens"')" "user * gpt-4o -1 5000000 null" \
	"unlimited: limit -1, 5000000 used (still tracked), remaining null"
tqj check --user boss --guild G1 --model kimi-k2 --tokens 1000000
is "$rc" 0 "unlimited: allowed on kimi-k2 in G1 too (the user rule beats members and default)"
tqj usage --user boss
is "$(jqv '.periods.all | [.requests, .total] | join(" ")')" "2 12000000" "unlimited user: usage is tracked"
# The alternative: a bypass
tq bypass add --user boss2
is "$rc" 0 "bypass add --user boss2"
rec boss2 gpt-4o 500000
tqj check --user boss2 --model gpt-4o --tokens 1000000
is "$rc" 0 "bypassed user: allowed past the default"
is "$(jqv .bypass)" true "check says bypass"

# --- /token-reset-usage user:@spammer ------------------------------------------
rec spam gpt-4o 90000
rec spam kimi-k2 95000
tq check --user spam --model gpt-4o --tokens 20000
is "$rc" 1 "spam: 90000 + 20000 on gpt-4o is denied before the reset"
tq clock advance 1m
tqj reset --user spam
is "$rc" 0 "reset --user spam"
is "$(jqv .user)" spam "reset names the user"
# The test clock keeps running from where it was set: allow a few seconds.
like "$(jqv .reset_at)" '^2026-12-01T10:01:0[0-9]Z$' "reset_at is now"
tqj check --user spam --model gpt-4o --tokens 100000
is "$rc" 0 "after the reset the full 100000 is there again on gpt-4o"
is "$(lim '.metric == "tokens"')" "default * gpt-4o 100000 0 100000" "and used counts from zero"
tq check --user spam --model kimi-k2 --tokens 100000
is "$rc" 0 "and on kimi-k2 (a reset without --model resets every model)"
rec spam gpt-4o 100
tqj usage --user spam
is "$(jqv '[.limits[] | "\(.applies_to)=\(.used)"] | sort | join(" ")')" "gpt-4o=100 kimi-k2=0" \
	"usage after the reset: only what came after it counts"
is "$(jqv '.periods.all | [.requests, .total] | join(" ")')" "3 185100" \
	"usage all-time keeps the events from before the reset"
is "$(jqv '.periods.today.total')" 185100 "and so does today"

# reset --model: only that model
rec sam gpt-4o 90000
rec sam kimi-k2 90000
tq clock advance 1m
tqj reset --user sam --model gpt-4o
is "$rc" 0 "reset --user sam --model gpt-4o"
is "$(jqv .model)" gpt-4o "reset names the model"
tqj usage --user sam
is "$(jqv '[.limits[] | "\(.applies_to)=\(.used)"] | sort | join(" ")')" "gpt-4o=0 kimi-k2=90000" \
	"reset --model gpt-4o: gpt-4o counts from zero, kimi-k2 keeps its 90000"

# --- the reset and the 30 days ---------------------------------------------------
# 30 days and 2 hours later, everything recorded on the first day left the
# window: ann has her full 100000 on gpt-4o again.
tq clock advance 30d
tq clock advance 2h
tqj check --user ann --model gpt-4o --tokens 100000
is "$rc" 0 "30 days later ann's 60000 left the window"
is "$(lim '.metric == "tokens"')" "default * gpt-4o 100000 0 100000" "nothing counted"

stop_tokqd
done_testing
