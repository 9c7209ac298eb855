#!/usr/bin/env bash
# tokq stats: totals, rankings, by model/service/day and per-guild figures,
# to the token and to the cent, over whole UTC days.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need jq

start_tokqd
tq clock set 2026-12-10T12:00:00Z
tq price set gpt-4o --input 2.5 --output 10
tq price set gpt-4o-mini --input 0.15 --output 0.6
rec() { tq record "$@"; [ "$rc" = 0 ] || bail "record $*" "  rc=$rc: $err"; }
rec --at 2026-12-01T10:00:00Z --user alice --guild g1 --model gpt-4o --prompt 1000 --completion 200
rec --at 2026-12-01T11:00:00Z --user bob --guild g1 --model gpt-4o-mini --prompt 2000 --completion 1000
rec --at 2026-12-03T09:00:00Z --user bob --guild g2 --model gpt-4o --prompt 4000 --completion 1000 --cached 500 --reasoning 100
rec --at 2026-12-05T23:59:59Z --user carol --guild g2 --model gpt-4o-mini --prompt 100 --completion 50 --cost 1.25 --service s1
rec --at 2026-12-10T08:00:00Z --user alice --model gpt-4o --prompt 10 --completion 1
# gpt-4o with 500 cached priced as input: 4000 * 2.5e-6 + 1000 * 1e-5 = 0.02

tqj stats
is "$rc" 0 "stats exits 0"
is "$(jqv '[.since, .until, .days] | join(" ")')" "2026-11-11T00:00:00Z 2026-12-11T00:00:00Z 30" \
	"default: the 30 whole days ending today"
is "$(jqv '.totals | [.requests, .prompt, .completion, .total, .cached, .reasoning, .users, .guilds] | join(" ")')" \
	"5 7110 2251 9361 500 100 3 2" "totals: requests, tokens by type, users, guilds"
is "$(jqv .totals.cost_usd)" 1.275435 "totals.cost_usd to the nano-dollar"
is "$(jqv '[.top_users[] | "\(.user)=\(.total)/\(.cost_usd)"] | join(" ")')" \
	"bob=8000/0.0209 alice=1211/0.004535 carol=150/1.25" "top_users ranked by tokens, with cost"
is "$(jqv '[.top_guilds[] | "\(.guild)=\(.total)"] | join(" ")')" "g2=5150 g1=4200 null=11" \
	"top_guilds ranked; usage outside a guild has guild null"
is "$(jqv '[.by_model[] | "\(.model)=\(.requests)/\(.total)/\(.cost_usd)"] | join(" ")')" \
	"gpt-4o=3/6211/0.024535 gpt-4o-mini=2/3150/1.2509" "by_model"
is "$(jqv '[.by_service[] | "\(.service)=\(.total)"] | join(" ")')" "null=9211 s1=150" "by_service"
is "$(jqv '.by_day | length')" 30 "by_day lists every day of the range"
is "$(jqv '[.by_day[] | select(.total > 0) | "\(.date)=\(.total)"] | join(" ")')" \
	"2026-12-01=4200 2026-12-03=5000 2026-12-05=150 2026-12-10=11" "by_day: the days with usage"
is "$(jqv '[.by_day[0].date, .by_day[-1].date, .by_day[1].total] | join(" ")')" \
	"2026-11-11 2026-12-10 0" "by_day runs from the first day to today, zeros included"
is "$(jqv '[.by_day[].total] | add')" 9361 "by_day adds up to the total"

tqj stats --guild g1
is "$(jqv '.totals | [.total, .users, .guilds, .cost_usd] | join(" ")')" "4200 2 1 0.0054" \
	"--guild: that guild's totals, users and cost"
is "$(jqv '[.top_users[] | .user] | join(" ")')" "bob alice" "--guild: its users only"

tqj stats --top 1
is "$(jqv '[(.top_users | length), (.top_guilds | length)] | join(" ")')" "1 1" "--top 1"
is "$(jqv '.by_model | length')" 2 "--top leaves by_model whole"

tqj stats --since 2026-12-03T12:00:00Z --until 2026-12-05T01:00:00Z
is "$(jqv '[.since, .until, .days, .totals.total] | join(" ")')" \
	"2026-12-03T00:00:00Z 2026-12-06T00:00:00Z 3 5150" "--since/--until widen to whole days"
tqj stats --days 1
is "$(jqv '[.days, .totals.total] | join(" ")')" "1 11" "--days 1: today"
tqj stats --since 2026-12-01
is "$(jqv '[.days, .totals.total] | join(" ")')" "10 9361" "--since alone runs to today"

tq stats --days 3 --since 2026-12-01
is "$rc" 64 "--days with --since is a usage error"
tq stats --days 0
is "$rc" 64 "--days 0 is refused (a usage error, judged by tokq)"
tq stats --since 2026-12-05 --until 2026-12-01
is "$rc" 64 "--until before --since is refused (a usage error, judged by tokq)"

tq stats
is "$rc" 0 "human stats exits 0"
like "$out" "total +9,361" "human stats: thousands separators"
like "$out" "[▁▂▃▄▅▆▇█]{30}" "human stats: a sparkline of 30 days"
like "$out" $'top users\n  # +user' "human stats: a top users table"

stop_tokqd
done_testing
