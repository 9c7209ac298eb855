#!/usr/bin/env bash
# A history moved whole: `tokq export --all` on an SQLite store writes the
# settings (prices, limits, plans, bypass lists) as the requests that set
# them, the daily totals of days already pruned to their totals, then the
# raw events; `tokq import` on a new, empty store (the store under test:
# SQLite, or PostgreSQL in the second pass) sends them back in that order.
# Afterwards the new store answers as the old one did: stats and report over
# the whole history, status's counts, every list, a user's usage, and the
# limits bind the same.  --all refuses filters and CSV (64); an unknown type
# is refused with its line (65).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# The old store: always an SQLite file, as a user moving to PostgreSQL has.
OLD=$T/old.db
DEST=$DB
DB=$OLD
start_tokqd
tq clock set 2026-09-01T12:00:00Z
tq price set gpt-4o --input 2.5 --output 10 --cached 1.25
tq price set '*' --input 1 --output 2
tq limit set --user alice --model gpt-4o --tokens 100000 --per 30d
tq limit set --default --cost 5 --per month
tq limit set --plan pro --requests 50 --per 1h
tq limit set --guild g1 --tokens 900000 --per week
tq plan assign --user bob pro
tq bypass add --user carol
tq bypass add --guild g9
# September: six events, to be pruned to their daily totals.
for d in 01 02 03; do
	tq clock set "2026-09-${d}T10:00:00Z"
	tq record --user alice --guild g1 --model gpt-4o --prompt 1000 --completion 200 --service web
	tq record --user bob --model mini --prompt 70 --completion 30 --kind chat
done
# October and November: kept as raw events (retention 30 days).
tq clock set 2026-10-20T10:00:00Z
tq record --user alice --guild g1 --model gpt-4o --prompt 5000 --completion 100
tq clock set 2026-11-10T10:00:00Z
tq record --user bob --model mini --prompt 9 --completion 1 --key k-nov
tq record --user dave --model gpt-4o --prompt 40 --completion 2 --meta '{"t":1}'
tqj status
like "$(jqv '"\(.events) \(.events_all_time)"')" '^3 9$' \
	"the old store pruned September: 3 raw events kept of 9"

snapshot() {	# snapshot NAME: what an admin and a bot see
	tqj stats --since 2026-08-01 --until 2026-12-01
	jqv 'del(.since, .until)' >"$T/$1.stats"
	tqj report --period month
	jqv "del(.generated_at)" >"$T/$1.report"
	tqj status
	jqv '{events, events_all_time, users, holds}' >"$T/$1.status"
	for l in "limit list" "price list" "plan list" "bypass list"; do
		# shellcheck disable=SC2086
		tqj $l
		jqv '.'
	done >"$T/$1.lists"
	for u in alice bob dave; do
		tqj usage --user "$u"
		jqv 'del(.now)'
	done >"$T/$1.usage"
	for u in alice bob carol; do
		tq check --user "$u" --guild g1 --model gpt-4o --tokens 95000
		echo "$u $rc"
	done >"$T/$1.checks"
}
snapshot old

"$TOKQ" --socket "$SOCK" export --all >"$T/all.jsonl"
is "$?" 0 "export --all exits 0"
is "$(grep -c '"type":"price_set"' "$T/all.jsonl")" 2 "two prices"
is "$(grep -c '"type":"limit_set"' "$T/all.jsonl")" 4 "four limits"
is "$(grep -c '"type":"plan_assign"' "$T/all.jsonl")" 1 "one plan assignment"
is "$(grep -c '"type":"bypass_add"' "$T/all.jsonl")" 2 "two bypass entries"
is "$(grep -c '"type":"total"' "$T/all.jsonl")" 6 "six daily totals of pruned days"
is "$(grep -vc '"type"' "$T/all.jsonl")" 3 "and the three raw events"
tq export --all --since 2026-10-01
is "$rc" 64 "--all with --since: 64"
like "$err" "no --since" "naming the flag"
tq export --all --format csv
is "$rc" 64 "--all with --format csv: 64"
stop_tokqd

# The new store, empty: the store under test.
DB=$DEST
empty_db
start_tokqd
tq clock set 2026-11-10T10:00:00Z
tq import "$T/all.jsonl"
is "$rc" 0 "import of the whole history exits 0"
like "$out" "imported 9 settings and 6 daily totals" "it tells the settings and totals"
like "$out" "imported 3 events" "and the events"
tq clock set 2026-11-10T10:00:00Z
snapshot new
for f in stats report status lists usage checks; do
	is "$(cat "$T/new.$f")" "$(cat "$T/old.$f")" "the new store's $f are the old one's"
done
tq record --user bob --model mini --prompt 9 --completion 1 --key k-nov
like "$out" "." "(a key of the old store, sent again)"
tqj status
is "$(jqv .events_all_time)" 10 "keys are not moved: a record with an old key counts anew"

# A typed line tokq does not know is refused with its line, before anything is sent.
printf '{"type":"price_set","model":"x","input":1,"output":1}\n{"type":"holds","id":"h"}\n' \
	>"$T/bad.jsonl"
tq import "$T/bad.jsonl"
is "$rc" 65 "an unknown type: 65"
like "$err" "bad.jsonl line 2" "naming the line"
tqj price list
is "$(jqv '[.prices[].model] | index("x")')" null "and nothing of the file was kept"

done_testing
