#!/usr/bin/env bash
# One quota across hosts, exact both ways: two tokqd (A and B, two sockets)
# on one PostgreSQL database, and concurrent `check --reserve` split over
# both (released together behind a gate).  For each kind of rule (global,
# user, guild, per model, cost, plan, default) the holds granted never pass
# the limit and fill it to the last unit: the room left is granted, one
# unit more is not, on either daemon.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
[ -n "${TOKQ_TEST_PG:-}" ] || skip_all "PostgreSQL store only (TOKQ_TEST_PG is not set)"
# shellcheck source=../pg/cross.sh
. "$TEST_ROOT/tests/pg/cross.sh"

# lines N ARGS...: N lines "A ARGS" / "B ARGS" in turn ({i} becomes the line's index)
lines() {
	local n=$1 i
	shift
	for i in $(seq "$n"); do
		if [ $((i % 2)) = 1 ]; then printf 'A '; else printf 'B '; fi
		echo "${*//\{i\}/$i}"
	done
}

# phase NAME WANT_OK WANT_DENIED: race $T/lines and judge it
phase() {
	race "$T/lines"
	is "$race_ok $race_denied $race_other" "$2 $3 0" \
		"$1: $race_n checks over two daemons: $2 allowed, $3 denied, no other answer"
	local holds
	holds=$(for i in $(seq "$race_n"); do race_out "$i"; done | jq -r 'select(.allowed == true) | .hold // empty' | sort -u | grep -c .)
	is "$holds" "$2" "$1: each allowed check has a hold of its own"
}

# room ARGS...: on A and on B, the first limit's "used held remaining" for ARGS
room() {
	tqj check "$@"
	local a b
	a=$(jqv '.limits[0] | [.used, .held, .remaining] | join(" ")')
	tqj2 check "$@"
	b=$(jqv '.limits[0] | [.used, .held, .remaining] | join(" ")')
	echo "$a / $b"
}

start_tokqd
start_tokqd2
clocks 2026-12-01T10:00:00Z

# --- global: 40 users, 100 tokens each, 1000 for everything ---------------------------
tq limit set --global --tokens 1000 --per day
is "$rc" 0 "limit set --global on A"
lines 40 check --user g{i} --tokens 100 --reserve >"$T/lines"
phase global 10 30
is "$(room --user nobody-yet)" "0 1000 0 / 0 1000 0" "global: 1000 held, seen alike on A and B"
tq2 check --user x --tokens 1 --reserve
is "$rc" 1 "global: one token more is denied on B"
tq limit rm --global --tokens --per day
is "$rc" 0 "limit rm --global on A (the rest is about other rules)"

# --- user: 40 checks of 30 tokens against 1000: 33 fit, 10 tokens left --------------
tq2 limit set --user U --tokens 1000
lines 40 check --user U --tokens 30 --reserve >"$T/lines"
phase user 33 7
is "$(room --user U)" "0 990 10 / 0 990 10" "user: 990 held, 10 left, seen alike on A and B"
tq2 check --user U --tokens 11 --reserve
is "$rc" 1 "user: 11 tokens more are denied on B"
tq check --user U --tokens 10 --reserve
is "$rc" 0 "user: the last 10 tokens are granted on A"
tq2 check --user U --tokens 1 --reserve
is "$rc" 1 "user: then one token more is denied on B"

# --- guild: 40 members, pooled 1000 ----------------------------------------------------
tq limit set --guild G --tokens 1000 --per week
lines 40 check --user m{i} --guild G --tokens 100 --reserve >"$T/lines"
phase guild 10 30
tq2 check --user m99 --guild G --tokens 1 --reserve
is "$rc" 1 "guild: a new member's one token is denied on B"
tq check --user m99 --guild H --tokens 100 --reserve
is "$rc" 0 "guild: the same user in another guild is allowed"

# --- per model: gpt capped, another model not -------------------------------------------
tq2 limit set --user V --model gpt --tokens 1000
{
	lines 40 check --user V --model gpt --tokens 100 --reserve
	lines 10 check --user V --model other --tokens 100 --reserve
} >"$T/lines"
phase per-model 20 30
gpt_ok=0 other_ok=0
for i in $(seq "$race_n"); do
	[ "$(race_rc "$i")" = 0 ] || continue
	if [ "$i" -le 40 ]; then gpt_ok=$((gpt_ok + 1)); else other_ok=$((other_ok + 1)); fi
done
is "$gpt_ok $other_ok" "10 10" "per-model: 10 gpt checks fill its 1000; all 10 of the other model pass"
tq check --user V --model gpt --tokens 1 --reserve
is "$rc" 1 "per-model: one gpt token more is denied on A"

# --- cost: $0.001 in checks of $0.00003: 33 fit, $0.00001 left ---------------------------
tq limit set --user C --cost 0.001 --per month
lines 40 check --user C --model m --cost 0.00003 --reserve >"$T/lines"
phase cost 33 7
tq2 check --user C --model m --cost 0.000011 --reserve
is "$rc" 1 "cost: \$0.000011 more is denied on B"
tq check --user C --model m --cost 0.00001 --reserve
is "$rc" 0 "cost: the last \$0.00001 is granted on A"
tq2 check --user C --model m --cost 0.000000001 --reserve
is "$rc" 1 "cost: then one nano-dollar more is denied on B"

# --- plan: its users each capped -----------------------------------------------------------
tq limit set --plan pro --tokens 500 --per day
tq2 plan assign --user P pro
lines 20 check --user P --tokens 50 --reserve >"$T/lines"
phase plan 10 10

# --- default: every user, the last rule so it holds no other phase back --------------------
tq2 limit set --default --tokens 700 --per 24h
lines 30 check --user D --tokens 70 --reserve >"$T/lines"
phase default 10 20
is "$(room --user D)" "0 700 0 / 0 700 0" "default: 700 held, seen alike on A and B"

# --- the holds, counted by both ----------------------------------------------------------
tqj status
a=$(jqv .holds)
tqj2 status
is "$(jqv .holds)" "$a" "status: A and B count the same holds ($a)"
is "$a" $((10 + 33 + 1 + 10 + 1 + 20 + 33 + 1 + 10 + 10)) "status: every granted hold, none more"

stop_tokqd2
stop_tokqd
done_testing
