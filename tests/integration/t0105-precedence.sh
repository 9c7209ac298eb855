#!/usr/bin/env bash
# Which rules judge a user: among per-user rules of the same metric, window
# and model kind (per-model or pooled) only the most specific applies,
# --user > --members G > --plan > --default, and at equal selector
# --model M > --each-model; rules of other metrics, windows or model kinds
# apply together, and --guild and --global rules always apply as well.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

# applied: the applicable limits of $out as "selector[:subject][/model]=limit", sorted
applied() { jqv '[.limits[] | "\(.selector)\(if .subject then ":" + .subject else "" end)\(if .model then "/" + .model else "" end)/\(.metric)/\(.window)=\(.limit)"] | sort | join(" ")'; }

start_tokqd
tq clock set 2026-12-01T10:00:00Z

tq limit set --default --tokens 100
tq limit set --plan p --tokens 200
tq limit set --members G --tokens 300
tq limit set --user u --tokens 400
tq plan assign --user u p
tq plan assign --user v p

# --- user > members > plan > default --------------------------------------------
tqj check --user u --guild G
is "$(applied)" "user:u/tokens/30d=400" "u (own rule, on plan p, in G): only his user rule"
tqj check --user v --guild G
is "$(applied)" "members:G/tokens/30d=300" "v (on plan p, in G): the members rule beats the plan"
tqj check --user v
is "$(applied)" "plan:p/tokens/30d=200" "v without --guild: the plan rule (a members rule needs --guild)"
tqj check --user v --guild H
is "$(applied)" "plan:p/tokens/30d=200" "v in another guild: the plan rule"
tqj check --user w --guild G
is "$(applied)" "members:G/tokens/30d=300" "w (no plan) in G: the members rule beats the default"
tqj check --user w
is "$(applied)" "default/tokens/30d=100" "w alone: the default"

# The numbers behind it: 250 tokens deny w (default 100) but not in G (300).
tq record --user w --model m1 --prompt 250 --completion 0
tq check --user w
is "$rc" 1 "w with 250 used: denied by the default 100"
tq check --user w --guild G --tokens 50
is "$rc" 0 "the same w in G: 250 + 50 fits the members' 300"
tq check --user w --guild G --tokens 51
is "$rc" 1 "and 250 + 51 does not"

# Removing the most specific rule falls back to the next one.
tq limit rm --user u --tokens
is "$rc" 0 "limit rm --user u --tokens"
tqj check --user u --guild G
is "$(applied)" "members:G/tokens/30d=300" "without his own rule u in G gets the members rule"
tq limit rm --members G --tokens
tqj check --user u --guild G
is "$(applied)" "plan:p/tokens/30d=200" "without the members rule: the plan rule"
tq plan unassign --user u
tqj check --user u --guild G
is "$(applied)" "default/tokens/30d=100" "without the plan: the default"

# --- other metrics and windows apply together --------------------------------------
tq limit set --user u --tokens 400
tq limit set --default --tokens 1000 --per day
tq limit set --default --cost 5
tq limit set --default --requests 10 --per 1h
tqj check --user u
is "$(applied)" \
	"default/cost/30d=5 default/requests/1h=10 default/tokens/day=1000 user:u/tokens/30d=400" \
	"u: his tokens/30d, and the default's tokens/day, cost/30d, requests/1h"
tq limit set --user u --tokens 2000 --per day
tqj check --user u
is "$(applied)" \
	"default/cost/30d=5 default/requests/1h=10 user:u/tokens/30d=400 user:u/tokens/day=2000" \
	"a user rule on the day window replaces only the default's day rule"
tq limit set --user u --tokens 3000 --per 24h
tqj check --user u
# (tokqd names the 24h window "1d": the same length, so the same rule)
like "$(applied)" "user:u/tokens/(24h|1d)=3000" "24h (rolling) and day (calendar) are different windows: both apply"
like "$(applied)" "user:u/tokens/day=2000" "(the day rule stays)"
tq limit rm --user u --tokens --per 24h
tq limit rm --user u --tokens --per day
tq limit rm --default --tokens --per day
tq limit rm --default --cost
tq limit rm --default --requests --per 1h

# --- per-model and pooled are different kinds ------------------------------------
tq limit set --default --each-model --tokens 50
tqj check --user u --model m1
is "$(applied)" "default/*/tokens/30d=50 user:u/tokens/30d=400" \
	"with --model: u's pooled rule and the default per-model rule both apply (other kind)"
tqj check --user u
is "$(applied)" "user:u/tokens/30d=400" "without --model: the pooled rules only"

# --model M beats --each-model at equal selector
tq limit set --user u --each-model --tokens 60
tq limit set --user u --model m1 --tokens 70
tqj check --user u --model m1
is "$(applied)" "user:u/m1/tokens/30d=70 user:u/tokens/30d=400" "u on m1: --model m1 beats --each-model"
tqj check --user u --model m2
is "$(applied)" "user:u/*/tokens/30d=60 user:u/tokens/30d=400" "u on m2: his --each-model rule"
# ... but the selector comes first: a user's --each-model beats a default's --model M
tq limit set --default --model m2 --tokens 10
tqj check --user u --model m2
is "$(applied)" "user:u/*/tokens/30d=60 user:u/tokens/30d=400" \
	"u on m2: his own --each-model beats the default's --model m2"
tqj check --user w --model m2
is "$(applied)" "default/m2/tokens/30d=10 default/tokens/30d=100" \
	"w on m2: the default's --model m2 beats the default's --each-model"
tqj check --user w --model m3
is "$(applied)" "default/*/tokens/30d=50 default/tokens/30d=100" \
	"w on m3: the default's --each-model"
# the numbers: w used 250 on m1; default --each-model 50 judges m1
tq limit set --members G --tokens 1000
tqj check --user w --guild G --model m1
is "$rc" 1 "w on m1 in G: 250 used on m1 is denied by the per-model 50 (the members' pooled 1000 has room)"
is "$(jqv '.denied_by | [.selector, .model, .applies_to] | join(" ")')" "default * m1" "denied_by: default, each model, m1"
tqj check --user w --guild G --model m3 --tokens 50
is "$rc" 0 "w on m3 in G: 0 + 50 fits the per-model 50 and 250 + 50 the members' 1000"

# --- guild and global rules always apply in addition -------------------------------
tq limit set --guild G --tokens 5000
tq limit set --global --tokens 100000
tqj check --user u --guild G
is "$(applied)" "global/tokens/30d=100000 guild:G/tokens/30d=5000 user:u/tokens/30d=400" \
	"u in G: his user rule, and the guild pool, and the global pool"
tqj check --user u
is "$(applied)" "global/tokens/30d=100000 user:u/tokens/30d=400" "u alone: his rule and the global pool"

# setting a rule again replaces its value
tqj limit set --user u --tokens 450
is "$(jqv .replaced)" true "setting the same rule again: replaced"
tqj check --user u
is "$(applied)" "global/tokens/30d=100000 user:u/tokens/30d=450" "with the new value"

stop_tokqd
done_testing
