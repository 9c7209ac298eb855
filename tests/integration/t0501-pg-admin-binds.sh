#!/usr/bin/env bash
# An admin change on one host binds on every host at once: two tokqd (A and
# B) on one PostgreSQL database; a limit, a plan, a bypass, a price or a
# reset set on one is obeyed by the other's very next request, and usage
# recorded on one counts on the other.  Each change is made on A and on B
# in turn, so neither is the only writer.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
[ -n "${TOKQ_TEST_PG:-}" ] || skip_all "PostgreSQL store only (TOKQ_TEST_PG is not set)"
# shellcheck source=../pg/cross.sh
. "$TEST_ROOT/tests/pg/cross.sh"

start_tokqd
start_tokqd2
clocks 2026-12-01T10:00:00Z

# --- limits --------------------------------------------------------------------------
tq limit set --user U --tokens 100 --per day
is "$rc" 0 "A: limit set --user U --tokens 100"
tq2 check --user U --tokens 101
is "$rc" 1 "B at once: 101 tokens denied"
tq2 check --user U --tokens 100
is "$rc" 0 "B: 100 tokens allowed"
tq2 limit set --user U --tokens 300 --per day
is "$rc" 0 "B: the same rule again, 300"
tq check --user U --tokens 301
is "$rc" 1 "A at once: 301 denied"
tq check --user U --tokens 300
is "$rc" 0 "A: 300 allowed"
tqj limit list
a=$(jqv .)
tqj2 limit list
is "$(jqv .)" "$a" "limit list: the same on A and B"
tq limit rm --user U --tokens --per day
is "$rc" 0 "A: limit rm"
tqj2 check --user U --tokens 100000
is "$rc $(jqv '.limits | length')" "0 0" "B at once: no rule left, allowed"

# --- plans ---------------------------------------------------------------------------
tq limit set --default --tokens 100 --per day
tq2 limit set --plan pro --tokens 1000 --per day
tq check --user P --tokens 500
is "$rc" 1 "A: a user on no plan is held to the default 100 (set on A, plan rule on B)"
tq plan assign --user P pro
is "$rc" 0 "A: plan assign --user P pro"
tq2 check --user P --tokens 500
is "$rc" 0 "B at once: P is judged by pro's 1000"
tq2 plan unassign --user P
is "$rc" 0 "B: plan unassign --user P"
tq check --user P --tokens 500
is "$rc" 1 "A at once: P is back on the default 100"
tq limit set --plan pro --tokens 200 --per day
tq2 plan assign --user P pro
tq check --user P --tokens 201
is "$rc" 1 "a plan's rule changed on A and the user assigned on B: A denies 201"
tq2 check --user P --tokens 200
is "$rc" 0 "B allows 200"

# --- bypass ----------------------------------------------------------------------------
tq bypass add --user Z
tqj2 check --user Z --tokens 5000
is "$rc $(jqv .bypass)" "0 true" "A bypasses Z: B at once allows Z past the default"
tq2 bypass rm --user Z
tq check --user Z --tokens 5000
is "$rc" 1 "B removes it: A at once denies"
tq2 bypass add --guild G
tqj check --user Z --guild G --tokens 5000
is "$rc $(jqv .bypass)" "0 true" "B bypasses guild G: A at once allows Z in G"
tq bypass rm --guild G
tq2 check --user Z --guild G --tokens 5000
is "$rc" 1 "A removes it: B at once denies"
tqj bypass list
a=$(jqv .)
tqj2 bypass list
is "$(jqv .)" "$a" "bypass list: the same on A and B"

# --- prices ----------------------------------------------------------------------------
tq limit rm --default --tokens --per day
tq price set m --input 1 --output 2
tqj2 record --user R --model m --prompt 1000000 --completion 1000000
is "$rc $(jqv .cost_usd)" "0 3" "A sets m's price: B's next record costs \$1 + \$2"
tq2 price set m --input 2 --output 2
tqj record --user R --model m --prompt 1000000 --completion 1000000
is "$rc $(jqv .cost_usd)" "0 4" "B changes it: A's next record costs \$4"
tqj price list
a=$(jqv .)
tqj2 price list
is "$(jqv .)" "$a" "price list: the same on A and B"
tq2 limit set --user R --cost 7.5
tqj check --user R --model m --cost 0.51
is "$rc $(jqv .limits[0].used)" "1 7" "A counts B's \$3 and its own \$4 against the \$7.5 rule set on B: \$0.51 more denied"
tq check --user R --model m --cost 0.5
is "$rc" 0 "the last \$0.50 allowed"
tq price rm m
tqj2 record --user R2 --model m --prompt 1000000
is "$rc $(jqv .cost_usd)" "0 0" "A removes the price: B's next record has no cost"

# --- reset, and usage recorded on one counted on the other --------------------------------
tq limit set --user S --tokens 1000 --per day
tq record --user S --model m --prompt 800
tq2 check --user S --tokens 201
is "$rc" 1 "800 recorded on A: B denies 201"
tq2 check --user S --tokens 200
is "$rc" 0 "B allows the last 200"
tq2 reset --user S
is "$rc" 0 "B: reset --user S"
tqj check --user S --tokens 1000
is "$rc $(jqv .limits[0].used)" "0 0" "A at once: S counts from zero"
tq2 record --user S --model m --prompt 900
tq check --user S --tokens 101
is "$rc" 1 "900 recorded on B after the reset: A denies 101"
tqj usage --user S
a=$(jqv .periods)
tqj2 usage --user S
is "$(jqv .periods)" "$a" "usage: the same periods on A and B"
is "$(jqv .periods.all.total)" 1700 "history stays: 1700 tokens all-time"

stop_tokqd2
stop_tokqd
done_testing
