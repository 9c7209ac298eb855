#!/usr/bin/env bash
# Setup 3 (technical-analysis bot): every user has $10 a month, $2 a day
# and 20 requests an hour, all at once; an admin overrides one of them for
# one user; a warning at 80 % (tokq: 80, 95 and 100, each exactly once).
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

# spend USER USD [FLAGS...]: record a call that cost USD (a price is set too)
spend() {
	local u=$1 c=$2
	shift 2
	tqj record --user "$u" --model llama-3.3-70b --prompt 1000 --completion 100 --cost "$c" --service groq "$@"
	[ "$rc" = 0 ] || diag "record --user $u --cost $c $* exited $rc: $err"
}
# rule SELECTOR METRIC WINDOW: "used limit" of that limit in $out
rule() { jqv "[.limits[] | select(.selector == \"$1\" and .metric == \"$2\" and .window == \"$3\") | \"\(.used) \(.limit)\"] | join(\",\")"; }

start_tokqd
tq clock set 2026-12-01T10:00:00Z

# --- DEFAULT_MONTHLY_LIMIT, DEFAULT_DAILY_LIMIT, DEFAULT_HOURLY_REQUESTS -------
tq limit set --default --cost 10 --per month
is "$rc" 0 "limit set --default --cost 10 --per month"
tq limit set --default --cost 2 --per day
is "$rc" 0 "limit set --default --cost 2 --per day"
tq limit set --default --requests 20 --per 1h
is "$rc" 0 "limit set --default --requests 20 --per 1h"
tqj limit list
is "$(jqv '[.rules[] | "\(.selector):\(.metric):\(.window):\(.limit)"] | sort | join(" ")')" \
	"default:cost:day:2 default:cost:month:10 default:requests:1h:20" "limit list: the three rules"

tqj check --user alice
is "$rc" 0 "a new user is allowed"
is "$(jqv '.limits | length')" 3 "all three rules apply at once"

# --- USAGE_ALERT_THRESHOLD: 80 % (and 95 %, 100 %) crossed once each ------------
spend alice 1.50
is "$(jqv .crossed)" null "\$1.50 of \$2 a day (75 %): nothing crossed"
is "$(jqv .warning)" 0 "warning 0"
spend alice 0.10
is "$(jqv .crossed)" 80 "\$1.60 (80 % exactly): crossed 80"
is "$(jqv .warning)" 80 "warning 80"
spend alice 0.10
is "$(jqv .crossed)" null "\$1.70 (85 %): nothing newly crossed"
is "$(jqv .warning)" 80 "warning still 80"
spend alice 0.20
is "$(jqv .crossed)" 95 "\$1.90 (95 % exactly): crossed 95"
spend alice 0.05
is "$(jqv .crossed)" null "\$1.95: nothing newly crossed"
is "$(jqv .warning)" 95 "warning 95"
spend alice 0.05
is "$(jqv .crossed)" 100 "\$2.00 (100 %): crossed 100"
# "allowed" in a record's reply answers what a check without an estimate
# would: at exactly the limit (used = limit) no further call is allowed.
is "$(jqv .allowed)" false "at exactly the limit: allowed is false, as a check would say"
tq check --user alice
is "$rc" 1 "a check without an estimate at exactly the limit is denied"
spend alice 0.01
is "$rc" 0 "a record past the limit succeeds"
is "$(jqv .crossed)" null "\$2.01: nothing newly crossed"
is "$(jqv .allowed)" false "and the user is no longer within limits"
is "$(jqv .warning)" 100 "warning 100"
tqj check --user alice
is "$rc" 1 "alice is denied for the rest of the day"
is "$(jqv '.denied_by | [.selector, .metric, .window] | join(" ")')" "default cost day" \
	"by the \$2/day rule"
is "$(jqv .denied_by.resets_at)" 2026-12-02T00:00:00Z "which resets at the next 00:00 UTC"
is "$(jqv .retry_at)" 2026-12-02T00:00:00Z "retry_at: the next 00:00 UTC"
is "$(rule default cost month)" "2.01 10" "the month rule counts \$2.01 of \$10"
is "$(rule default requests 1h)" "7 20" "the hour rule counts 7 requests"

tq clock set 2026-12-02T00:00:00Z
tqj check --user alice --cost 2
is "$rc" 0 "the next day: \$2 fits again"
is "$(rule default cost day)" "0 2" "the day rule counts 0"
is "$(rule default cost month)" "2.01 10" "the month rule still counts \$2.01"

# --- 20 requests per rolling hour ----------------------------------------------
tq clock set 2026-12-03T10:00:00Z
for _ in $(seq 10); do spend bob 0.001; done
tq clock set 2026-12-03T10:30:00Z
for _ in $(seq 9); do spend bob 0.001; done
tqj check --user bob
is "$rc" 0 "the 20th request in the hour is allowed"
spend bob 0.001
is "$(jqv '[.limits[] | select(.metric == "requests") | .used] | join(" ")')" 20 "20 requests in an hour counted"
tqj check --user bob
is "$rc" 1 "the 21st request in the hour is denied"
is "$(jqv '.denied_by | [.selector, .metric, .window, .used, .limit] | map(tostring) | join(" ")')" \
	"default requests 1h 20 20" "by the 20 requests/1h rule, 20 of 20"
like "$(jqv .retry_at)" '^2026-12-03T11:0(0:[0-5][0-9]|1:00)Z$' \
	"retry_at: when the first requests leave the hour (11:00, at most a minute late)"
spend bob 0.001
is "$rc" 0 "a 21st record still succeeds (the call happened)"
is "$(jqv .allowed)" false "and says the user is past the limit"
at 2026-12-03T10:59:59Z tqj check --user bob
is "$rc" 1 "at 10:59:59 the first 10 requests still count: denied"
tq clock set 2026-12-03T11:01:00Z
tqj check --user bob
is "$rc" 0 "at 11:01 (an hour and a minute later) they left the window: allowed"
is "$(rule default requests 1h)" "11 20" "the hour counts the 11 from 10:30 on"
tq clock set 2026-12-03T11:31:00Z
tqj check --user bob
is "$(rule default requests 1h)" "0 20" "at 11:31 the hour is empty"

# --- /set_user_limits vip monthly_limit:50 -----------------------------------------
tq limit set --user vip --cost 50 --per month
is "$rc" 0 "limit set --user vip --cost 50 --per month"
for d in 01 02 03 04 05 06; do
	tq clock set 2026-12-${d}T12:00:00Z
	spend vip 1.90
	spend plain 1.90
done
tq clock set 2026-12-07T12:00:00Z
tqj check --user vip --cost 1
is "$rc" 0 "vip: \$11.40 this month + \$1 fits his \$50 month"
is "$(rule user cost month)" "11.4 50" "vip's own month rule applies"
is "$(rule default cost month)" "" "and the default month rule does not"
is "$(rule default cost day)" "0 2" "the default day rule still applies to vip"
is "$(rule default requests 1h)" "0 20" "and so does the hour rule"
tqj check --user vip --cost 2.01
is "$rc" 1 "vip: \$2.01 in one day is denied"
is "$(jqv '.denied_by | [.selector, .window] | join(" ")')" "default day" "by the default day rule"
tqj check --user plain --cost 1
is "$rc" 1 "a plain user with the same \$11.40 is denied"
is "$(jqv '.denied_by | [.selector, .window, .used, .limit] | map(tostring) | join(" ")')" \
	"default month 11.4 10" "by the default \$10 month"
is "$(jqv .retry_at)" 2027-01-01T00:00:00Z "until the 1st of next month"

# --- the month resets on the 1st -----------------------------------------------------
at 2026-12-31T23:59:59Z tqj check --user plain --cost 1
is "$rc" 1 "at 23:59:59 on Dec 31 the plain user is still denied"
tq clock set 2027-01-01T00:00:00Z
tqj check --user plain --cost 1
is "$rc" 0 "at 00:00:00 on Jan 1 he is allowed"
is "$(rule default cost month)" "0 10" "the month counts 0"

tqj usage --user plain
is "$(jqv '.periods.all | [.requests, .cost_usd] | join(" ")')" "6 11.4" "usage all-time keeps \$11.40"

stop_tokqd
done_testing
