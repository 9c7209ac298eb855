#!/usr/bin/env bash
# Stats and reports stay exact after raw events are pruned: ranges past
# the retention come from the daily totals.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need jq

start_tokqd
tq clock set 2026-11-01T12:00:00Z
tq price set '*' --input 1 --output 2
for d in 01 02 03 15; do
	tq record --at "2026-11-${d}T10:00:00Z" --user a --guild g1 --model m --prompt 1000 --completion 100
	tq record --at "2026-11-${d}T11:00:00Z" --user b --guild g2 --model n --prompt 10 --completion 1 --cost 0.5
done
tqj stats --days 60 --until 2026-11-30
before=$(jqv 'del(.since, .until, .days) | tostring')
is "$(jqv '.totals | [.requests, .total, .cost_usd] | join(" ")')" "8 4444 2.0048" "the totals before"

tq clock advance 40d
tqj status
tqj export
is "$(printf '%s\n' "$out" | jq -r .at | tr '\n' ' ')" "2026-11-15T10:00:00Z 2026-11-15T11:00:00Z " \
	"40 days on, the raw events of November 1-3 are pruned, those of the 15th kept"
tqj stats --days 60 --until 2026-11-30
is "$(jqv 'del(.since, .until, .days) | tostring')" "$before" "stats over the pruned days are unchanged"
tqj stats --days 60
is "$(jqv '.totals | [.requests, .prompt, .completion, .total, .cost_usd, .users, .guilds] | join(" ")')" \
	"8 4040 404 4444 2.0048 2 2" "stats --days 60 from today: exact"
is "$(jqv '[.by_day[] | select(.requests > 0) | "\(.date)=\(.total)"] | join(" ")')" \
	"2026-11-01=1111 2026-11-02=1111 2026-11-03=1111 2026-11-15=1111" "by_day from the daily totals"
is "$(jqv '[.top_users[] | "\(.user)=\(.total)/\(.cost_usd)"] | join(" ")')" "a=4400/0.0048 b=44/2" \
	"rankings and cost from the daily totals"
tqj report --period month
is "$(jqv '.rows | length')" 0 "this month's report is empty"
is "$(jqv '.totals.all_time_total')" 4444 "all-time totals survive pruning"

stop_tokqd
done_testing
