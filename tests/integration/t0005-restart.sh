#!/usr/bin/env bash
# What tokqd acknowledged survives a restart: after SIGTERM (exit 0) and
# after kill -9, a new tokqd on the same database shows the same usage,
# the same all-time totals and event count, keeps the idempotency keys, and
# its limits still deny.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

# Everything a user or admin can see of the stored state, as one line.
snapshot() {
	local u s
	tqj usage --user 42
	u=$(jqv '{all: .periods.all, today: .periods.today, by_model: (.by_model | sort_by(.model))}')
	tqj usage --user 43
	u="$u $(jqv '.periods.all')"
	tqj status
	s=$(jqv '[.events, .users] | map(tostring) | join(" ")')
	echo "$u events/users: $s"
}

start_tokqd
tq clock set 2026-12-01T10:00:00Z
tq limit set --user 42 --tokens 5000 --per 30d
is "$rc" 0 "limit set"

for i in 1 2 3; do
	tq record --user 42 --guild 900 --model gpt-4o --prompt $((1000 * i)) \
		--completion 100 --cached 10 --reasoning 5 --key "k-$i"
	is "$rc" 0 "record $i with --key k-$i acknowledged"
done
tq record --user 43 --model gpt-4o-mini --prompt 7 --completion 3 --cost 0.001 --key k-43
is "$rc" 0 "record of a second user acknowledged"

before=$(snapshot)
tqj usage --user 42
is "$(jqv .periods.all.total)" 6300 "usage before the restart: 6300 tokens"

stop_tokqd
tq status
is "$rc" 69 "while tokqd is down, tokq exits 69"

start_tokqd
tq clock set 2026-12-01T12:00:00Z
is "$(snapshot)" "$before" "after SIGTERM and a restart: the same usage, totals and counts"

tqj check --user 42 --tokens 1
is "$rc" 1 "the limit still denies after the restart"
is "$(jqv '.denied_by | [.limit, .used] | join(" ")')" "5000 6300" "with the same numbers"

tqj record --user 42 --guild 900 --model gpt-4o --prompt 2000 \
	--completion 100 --cached 10 --reasoning 5 --key k-2
is "$rc" 0 "a key from before the restart, same fields: exit 0"
is "$(jqv .duplicate)" true "it is a duplicate: the keys survived"
is "$(snapshot)" "$before" "and nothing was counted twice"

# kill -9 right after the acknowledgements
for i in 4 5; do
	tq record --user 42 --guild 900 --model gpt-4o --prompt 100 --completion 10 --key "k-$i"
	is "$rc" 0 "record $i acknowledged"
done
tq limit set --user 43 --tokens 10 --per 30d
is "$rc" 0 "limit set acknowledged"
before=$(snapshot)
kill_tokqd

start_tokqd
tq clock set 2026-12-01T13:00:00Z
is "$(snapshot)" "$before" "after kill -9: everything acknowledged is there"
tqj usage --user 42
is "$(jqv .periods.all.total)" 6520 "6300 + 2 x 110 tokens"
tq check --user 43 --tokens 1
is "$rc" 1 "the rule set just before kill -9 denies (10 used + 1 > 10)"
tqj record --user 42 --guild 900 --model gpt-4o --prompt 100 --completion 10 --key k-5
is "$(jqv .duplicate)" true "a key acknowledged just before kill -9 is still known"

stop_tokqd
done_testing
