#!/usr/bin/env bash
# Maintenance inside tokqd: raw events older than retention_days (30 by
# default, never less than the longest rolling window) are pruned after
# they were rolled into daily totals, so all-time, monthly and 30-day
# usage stay right; the month rollover happens at the 1st; and a restart
# (SIGTERM or kill -9) on the same database changes no total and no limit.
# 40 days of usage, one call every other day at 12:00, moved along by the
# test clock.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

# forty_days USER: one call of 100 + 50 tokens every other day at 12:00,
# 2026-11-10, 11-12, ... 12-18 (20 calls), then the clock at 2026-12-20T13:30
# (away from every boundary).  The last 30 days (from 11-20T13:30) hold the
# 14 calls from 11-22 on, December the 9 from 12-02 on.
forty_days() {
	local d
	tq clock set 2026-11-10T12:00:00Z
	for d in $(seq 20); do
		tq record --user "$1" --guild g --model m --prompt 100 --completion 50
		[ "$rc" = 0 ] || diag "record $d exited $rc: $err"
		tq clock advance 2d
	done
	tq clock set 2026-12-20T13:30:00Z
}
# pruned: the raw events tokqd -v logged as pruned
pruned() { grep -o 'prune: [0-9]* raw events' "$T/tokqd.log" | awk '{ n += $2 } END { print n + 0 }'; }
period() { jqv ".periods[\"$1\"] | [.requests, .total, (.cost_usd * 1e9 | round)] | join(\" \")"; }
# snapshot USER: every total and limit usage and check show, as one JSON line
snapshot() {
	"$TOKQ" --socket "$SOCK" --json usage --user "$1" --guild g |
		jq -c '{periods, by_model, limits: [.limits[] | del(.percent)]}'
	"$TOKQ" --socket "$SOCK" --json check --user "$1" --guild g --model m |
		jq -c '{allowed, limits: [.limits[] | del(.percent)]}'
}

# crash: SIGKILL tokqd and reap it (lib.sh's kill_tokqd races its watchdog:
# a SIGTERM to the just-forked watchdog can run the EXIT trap there)
crash() { kill -KILL "$TOKQD_PID"; wait "$TOKQD_PID" 2>/dev/null; TOKQD_PID=; }

start_tokqd -v
tq price set m --input 1 --output 1	# 150 tokens: 150 nano-USD x 1000
tq limit set --default --tokens 1000000 --per 30d
tq limit set --default --cost 100 --per month
tq limit set --guild g --tokens 1000000 --per week
forty_days u

# --- pruning: 6 raw events (2026-11-10 .. 2026-11-20) are older than 30 days ----
is "$(pruned)" 6 "tokqd pruned the 6 raw events older than 30 days"
tqj status
is "$(jqv .events)" 14 "status .events counts the 14 raw events the database still holds"
is "$(jqv .events_all_time)" 20 "status .events_all_time is still the all-time count: 20"
like "$(jqv .last_prune)" '^2026-12-20T13:[23][0-9]:[0-9][0-9]Z$' "last_prune: now"
tqj usage --user u
is "$(period all)" "20 3000 3000000" "usage all-time: 20 requests, 3000 tokens, \$0.003 (nothing lost)"
is "$(period 30d)" "14 2100 2100000" "usage 30d: the 14 calls since 2026-11-20T13:30"
is "$(period month)" "9 1350 1350000" "usage month: the 9 calls in December"
is "$(period today)" "0 0 0" "usage today: none"
is "$(jqv '.by_model | map("\(.model)=\(.requests)/\(.total)") | join(" ")')" "m=20/3000" "by model, all-time"
is "$(jqv '.limits[] | select(.window == "30d") | .used')" 2100 "the 30d rule counts 14 calls"
is "$(jqv '.limits[] | select(.window == "month") | .used')" 0.00135 "the month cost rule counts December's \$0.00135"

# --- the month rollover ---------------------------------------------------------
tqj status
like "$(jqv .last_rollover)" '^2026-12-02T12:00:0[0-9]Z$' \
	"last_rollover: 2026-12-02T12:00, the first time the clock moved into December"
is "$(jqv .next_rollover)" 2027-01-01T00:00:00Z "next_rollover: 2027-01-01T00:00:00Z"

# --- a restart changes nothing -------------------------------------------------------
before=$(snapshot u)
stop_tokqd
start_tokqd -v
tq clock set 2026-12-20T13:30:00Z
is "$(snapshot u)" "$before" "after SIGTERM and a restart: the same totals and limits"
crash
start_tokqd -v
tq clock set 2026-12-20T13:30:00Z
is "$(snapshot u)" "$before" "after kill -9 and a restart: the same totals and limits"
tqj status
is "$(jqv '[.events, .events_all_time] | join(" ")')" "14 20" "status .events: 14 kept, 20 all-time"

# --- and the next month ----------------------------------------------------------------
tq clock set 2027-01-01T00:30:00Z
tqj status
like "$(jqv .last_rollover)" '^2027-01-01T00:30:0[0-9]Z$' "the January rollover ran when the clock reached it"
tqj usage --user u
is "$(period month)" "0 0 0" "January: this month is empty"
is "$(period all)" "20 3000 3000000" "all-time unchanged"
is "$(jqv '.limits[] | select(.window == "month") | .used')" 0 "the month cost rule counts 0"

# --- retention_days below a rolling window: the window wins --------------------------
stop_tokqd
DB=$T/b.db
: >"$T/tokqd.log"
printf 'retention_days = 10\n' >"$T/b.conf"
start_tokqd -v --config "$T/b.conf"
tq limit set --user v --tokens 1000000 --per 45d
forty_days v
is "$(pruned)" 0 "retention_days = 10 with a 45d rule: no raw event is pruned"
tqj check --user v
is "$(jqv '.limits[0].used')" 3000 "the 45d rule counts all 20 calls"
tqj usage --user v
is "$(period 30d)" "14 2100 0" "usage 30d is right (no prices in this database)"

# --- retention_days = 10 and no long window: totals still right ----------------------
stop_tokqd
DB=$T/c.db
: >"$T/tokqd.log"
start_tokqd -v --config "$T/b.conf"
tq limit set --user w --tokens 1000000 --per day
forty_days w
is "$(pruned)" 16 "retention_days = 10: the 16 raw events older than 10 days are pruned"
tqj usage --user w
is "$(period all)" "20 3000 0" "usage all-time: all 20 calls"
is "$(period month)" "9 1350 0" "usage month: December's 9"
is "$(period 30d)" "14 2100 0" "usage 30d: still the 14 calls of the last 30 days"

stop_tokqd
done_testing
