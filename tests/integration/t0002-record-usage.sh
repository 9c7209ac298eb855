#!/usr/bin/env bash
# tokq record keeps every token field; tokq usage adds them up per period
# and per model; total is prompt + completion unless --total is given.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

start_tokqd
tq clock set 2026-12-01T10:00:00Z
is "$rc" 0 "clock set"

tqj record --user 42 --guild 900 --channel 7 --model gpt-4o \
	--prompt 1000 --completion 300 --cached 400 --reasoning 120 \
	--cache-write 50 --service helpdesk --kind chat --session s-1 \
	--call 0 --meta '{"a":1}'
is "$rc" 0 "record with every field exits 0"
is "$(jqv .recorded)" true "recorded is true"
is "$(jqv .duplicate)" false "duplicate is false"
is "$(jqv '.event | type')" number "event is an id"
is "$(jqv '[.prompt, .completion, .total] | join(" ")')" "1000 300 1300" \
	"the reply echoes prompt, completion and total = prompt + completion"

tqj usage --user 42
is "$rc" 0 "usage exits 0"
is "$(jqv .user)" 42 "usage names the user"
for p in all today month 30d; do
	is "$(jqv ".periods[\"$p\"] | [.requests, .prompt, .completion, .total, .cached, .reasoning] | join(\" \")")" \
		"1 1000 300 1300 400 120" "periods.$p: requests prompt completion total cached reasoning"
done
is "$(jqv '.periods.all.cache_write')" 50 "periods.all.cache_write"
is "$(jqv '.by_model | length')" 1 "by_model has one model"
is "$(jqv '.by_model[0] | [.model, .requests, .total] | join(" ")')" "gpt-4o 1 1300" \
	"by_model: the model, its requests and total"

# Two days later: total omitted, then total given.
tq clock advance 2d
tqj record --user 42 --model gpt-4o-mini --prompt 10 --completion 5
is "$rc" 0 "record without --total exits 0"
is "$(jqv .total)" 15 "total defaults to prompt + completion"
tqj record --user 42 --model gpt-4o-mini --prompt 10 --completion 5 --total 20
is "$rc" 0 "record with --total exits 0"
is "$(jqv .total)" 20 "--total given wins over prompt + completion"
tqj record --user 42 --model gpt-4o-mini --prompt 0 --completion 0 --cost 0.0125
is "$(jqv .cost_usd)" 0.0125 "--cost given is the event's cost"

tqj usage --user 42
is "$(jqv '.periods.today | [.requests, .prompt, .completion, .total] | join(" ")')" \
	"3 20 10 35" "periods.today holds only today's three events"
is "$(jqv '.periods.all | [.requests, .prompt, .completion, .total] | join(" ")')" \
	"4 1020 310 1335" "periods.all holds all four"
is "$(jqv '.periods.all.cost_usd')" 0.0125 "periods.all.cost_usd adds the costs"
is "$(jqv '[.by_model[] | "\(.model)=\(.requests)/\(.total)"] | sort | join(" ")')" \
	"gpt-4o-mini=3/35 gpt-4o=1/1300" "by_model splits the usage by model"

tqj usage --user 43
is "$rc" 0 "usage of a user who never recorded exits 0"
is "$(jqv '.periods.all.total')" 0 "and shows 0 tokens"

tqj status
is "$(jqv .events)" 4 "status counts 4 events"
is "$(jqv .users)" 1 "status counts 1 user"

# periods.30d is rolling: it starts at 2026-11-03T10:00Z, inside a day.
# That day counts from its raw events, the later days from the daily totals.
tq record --user 44 --model m --prompt 1 --at 2026-11-03T08:00:00Z
tq record --user 44 --model m --prompt 20 --at 2026-11-03T12:00:00Z
tq record --user 44 --model m --prompt 300 --at 2026-11-10T00:00:00Z
tqj usage --user 44
is "$(jqv '[.periods["30d"].requests, .periods["30d"].prompt] | join(" ")')" "2 320" \
	"periods.30d counts the first day's events after its start, and the days after"
is "$(jqv '.periods.all.prompt')" 321 "periods.all counts all three"

# Half an hour on, the 30 days start at 10:30: the hour that holds that
# start counts whole (up to an hour late, never early, as the contract
# lets a 30d window count).
tq clock advance 30m
tq record --user 45 --model m --prompt 1 --at 2026-11-03T09:50:00Z
tq record --user 45 --model m --prompt 20 --at 2026-11-03T10:10:00Z
tq record --user 45 --model m --prompt 300 --at 2026-11-03T11:00:00Z
tqj usage --user 45
is "$(jqv '[.periods["30d"].requests, .periods["30d"].total] | join(" ")')" "2 320" \
	"periods.30d counts the hour that holds its start whole"

stop_tokqd
done_testing
