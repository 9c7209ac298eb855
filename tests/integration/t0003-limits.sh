#!/usr/bin/env bash
# tokq limit set / list / rm: every selector, model kind and metric; a
# rule's identity is (selector, model, metric, window) and setting it again
# replaces its value.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

start_tokqd

nrules() { tqj limit list; jqv '.rules | length'; }
# The one rule matching a jq condition, compact.
rule() { tqj limit list; jqv "[.rules[] | select($1)] | if length == 1 then .[0] else \"\(length) rules\" end"; }

tqj limit list
is "$rc" 0 "limit list exits 0 with no rules"
is "$(jqv '.rules')" "[]" "and lists none"

tq limit set --user U1 --tokens 1000 --per 30d
is "$rc" 0 "limit set --user exits 0"
tqj limit list
is "$(jqv '.rules | length')" 1 "limit list has one rule"
is "$(jqv '.rules[0] | [.selector, .subject, .model, .metric, .window, .limit] | map(tostring) | join(" ")')" \
	"user U1 null tokens 30d 1000" "the rule: selector subject model metric window limit"

tqj limit set --user U1 --tokens 2000 --per 30d
is "$rc" 0 "setting the same rule again exits 0"
is "$(jqv .replaced)" true "the reply says it replaced one"
is "$(nrules)" 1 "setting it again replaces: still one rule"
is "$(rule '.selector == "user"' | jq -r .limit)" 2000 "with the new value"

tq limit set --user U1 --tokens 3000 --per 1h
is "$(nrules)" 2 "another window is another rule"

tq limit set --default --each-model --tokens 100000
is "$rc" 0 "limit set --default --each-model exits 0"
is "$(rule '.selector == "default"' | jq -c '[.subject, .model, .window, .limit]')" \
	'[null,"*","30d",100000]' "default, each-model: subject null, model \"*\", window 30d by default"

tq limit set --guild G1 --tokens 500000 --per month
is "$rc" 0 "limit set --guild exits 0"
is "$(rule '.selector == "guild"' | jq -c '[.subject, .model, .window, .limit]')" \
	'["G1",null,"month",500000]' "guild pool rule"

tq limit set --global --tokens 10000000 --per week
is "$rc" 0 "limit set --global exits 0"
is "$(rule '.selector == "global"' | jq -c '[.subject, .model, .window, .limit]')" \
	'[null,null,"week",10000000]' "global rule: no subject"

tq limit set --user U1 --model gpt-4o --tokens 500
is "$rc" 0 "limit set --model exits 0"
is "$(rule '.selector == "user" and .model == "gpt-4o"' | jq -c '[.metric, .window, .limit]')" \
	'["tokens","30d",500]' "a per-model rule is its own rule"

tq limit set --user U1 --cost 2.50 --per day
is "$rc" 0 "limit set --cost exits 0"
is "$(rule '.metric == "cost"' | jq -c '[.selector, .subject, .window, .limit]')" \
	'["user","U1","day",2.5]' "cost rule: limit in USD, calendar day"

tq limit set --user U1 --requests 20 --per 1h
is "$rc" 0 "limit set --requests exits 0"
is "$(rule '.metric == "requests"' | jq -c '[.selector, .subject, .window, .limit]')" \
	'["user","U1","1h",20]' "requests rule over a rolling hour"

tq limit set --user U2 --tokens -1
is "$rc" 0 "limit set --tokens -1 exits 0"
is "$(rule '.subject == "U2"' | jq -c '.limit')" -1 "-1 is kept as unlimited"

is "$(nrules)" 9 "nine rules in all"
tqj limit list --user U1
is "$rc" 0 "limit list --user exits 0"
is "$(jqv '[.rules[].subject] | unique | join(",")')" U1 "limit list --user U1 lists only U1's rules"
is "$(jqv '.rules | length')" 5 "all five of them"

tq limit rm --user U1 --tokens --per 30d
is "$rc" 0 "limit rm exits 0"
is "$(nrules)" 8 "the rule is gone"
is "$(rule '.selector == "user" and .subject == "U1" and .model == null and .metric == "tokens" and .window == "30d"')" \
	"0 rules" "exactly that rule is gone"
is "$(rule '.selector == "user" and .subject == "U1" and .model == null and .metric == "tokens" and .window == "1h"' | jq -r .limit)" \
	3000 "the same rule in another window stays"
is "$(rule '.selector == "user" and .model == "gpt-4o"' | jq -r .limit)" 500 "the per-model rule stays"

tq limit rm --user U1 --tokens --per 30d
is "$rc" 65 "removing a rule that does not exist exits 65"
is "$(stderr_lines)" 1 "with one line on stderr"

tq limit rm --user U1 --model gpt-4o --tokens
is "$rc" 0 "limit rm --model exits 0"
tq limit rm --default --each-model --tokens
is "$rc" 0 "limit rm --default --each-model exits 0"
tq limit rm --global --tokens --per week
is "$rc" 0 "limit rm --global exits 0"
is "$(nrules)" 5 "five rules left"

stop_tokqd
done_testing
