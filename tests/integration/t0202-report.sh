#!/usr/bin/env bash
# tokq report: the period's top users with medals, their period and
# all-time tokens and cost, grand totals; text, markdown and JSON.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need jq

start_tokqd
tq clock set 2026-12-10T12:00:00Z	# a Thursday; the week began on 2026-12-07
tq price set '*' --input 1 --output 1
rec() { tq record "$@"; [ "$rc" = 0 ] || bail "record $*" "  rc=$rc: $err"; }
rec --at 2026-12-01T10:00:00Z --user u4 --guild g1 --model m --prompt 10000
rec --at 2026-12-08T10:00:00Z --user u2 --guild g1 --model m --prompt 2000
rec --at 2026-12-10T01:00:00Z --user u1 --guild g1 --model m --prompt 400 --completion 100
rec --at 2026-12-10T02:00:00Z --user u2 --guild g2 --model m --prompt 300
rec --at 2026-12-10T03:00:00Z --user u3 --guild g2 --model m --prompt 1000
rec --at 2026-12-10T04:00:00Z --user u4 --guild g1 --model m --completion 50

tqj report
is "$rc" 0 "report exits 0"
is "$(jqv '[.period, .since, .until] | join(" ")')" "day 2026-12-10T00:00:00Z 2026-12-11T00:00:00Z" \
	"the default period is today"
is "$(jqv '[.rows[] | "\(.rank):\(.user)=\(.period_total)/\(.all_time_total)"] | join(" ")')" \
	"1:u3=1000/1000 2:u1=500/500 3:u2=300/2300 4:u4=50/10050" "rows: rank, period and all-time tokens"
is "$(jqv '[.rows[] | .cost_usd * 100000 | round] | join(" ")')" "100 50 30 5" \
	"rows: the period's cost (in 1e-5 USD)"
is "$(jqv '.totals | [.total, .cost_usd, .users, .requests, .all_time_total] | join(" ")')" \
	"1850 0.00185 4 4 13850" "totals of the period, and all time"

tq report
is "$rc" 0 "text report exits 0"
like "$out" $'🥇 1\\. u3\n.*1,000 tokens today · 1,000 all time' "text: gold for the first, with its tokens"
like "$out" "🥈 2\\. u1" "text: silver for the second"
like "$out" "🥉 3\\. u2" "text: bronze for the third"
like "$out" $'\n   4\\. u4\n' "text: no medal from the fourth on"
like "$out" "Grand totals: 1,850 tokens today" "text: grand totals"

tq report --format markdown
like "$out" "^## 📊" "markdown: a heading"
like "$out" "🥇 \\*\\*1\\.\\*\\* u3 · \\*\\*1,000\\*\\* tokens today" "markdown: medal, bold rank, tokens"

tq report --format json
is "$(jq -r '.rows[0].user' <<<"$out")" u3 "--format json prints the JSON reply"

tqj report --top 2
is "$(jqv '.rows | length')" 2 "--top 2"
tqj report --period week
is "$(jqv '[.rows[] | "\(.user)=\(.period_total)"] | join(" ")')" "u2=2300 u3=1000 u1=500 u4=50" \
	"--period week starts on Monday"
tqj report --period month
is "$(jqv '.rows[0] | "\(.user)=\(.period_total)"')" "u4=10050" "--period month"
tqj report --guild g2
is "$(jqv '[.rows[] | "\(.user)=\(.period_total)/\(.all_time_total)"] | join(" ")')" "u3=1000/1000 u2=300/300" \
	"--guild: period and all-time within the guild"
tq report --period year
is "$rc" 64 "an unknown period is a usage error"
tq report --format html
is "$rc" 64 "an unknown format is a usage error"

stop_tokqd
done_testing
