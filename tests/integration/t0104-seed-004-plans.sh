#!/usr/bin/env bash
# Setup 4 (token meter): plans.  Free users get 40,000 tokens a day, Pro
# (and Max) users 1,500,000 tokens a month, reset on the 1st at 00:00 UTC;
# warnings at 80 % and 95 %; blocked at 100 % until the period ends.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

rec() {	# rec USER TOKENS: TOKENS prompt tokens
	tqj record --user "$1" --model openrouter/auto --prompt "$2" --completion 0
	[ "$rc" = 0 ] || diag "record --user $1 --prompt $2 exited $rc: $err"
}
# the single applicable limit in $out as "selector subject window used limit"
only() { jqv '.limits | if length == 1 then .[0] | [.selector, .subject, .window, .used, .limit] | map(tostring) | join(" ") else "\(length) limits" end'; }

U1=6f1c2b1e-0c1a-4d5e-9f00-000000000001	# Supabase user ids are UUIDs
U2=6f1c2b1e-0c1a-4d5e-9f00-000000000002

start_tokqd
tq clock set 2026-12-15T10:00:00Z

tq limit set --plan free --tokens 40000 --per day
is "$rc" 0 "limit set --plan free --tokens 40000 --per day"
tq limit set --plan pro --tokens 1500000 --per month
is "$rc" 0 "limit set --plan pro --tokens 1500000 --per month"
tq limit set --plan max --tokens 1500000 --per month
is "$rc" 0 "limit set --plan max --tokens 1500000 --per month"

tqj plan assign --user $U1 free
is "$rc" 0 "plan assign --user U1 free"
is "$(jqv '[.user, .plan] | join(" ")')" "$U1 free" "the reply names user and plan"
tq plan assign --user $U2 pro
is "$rc" 0 "plan assign --user U2 pro"
tq plan assign --user u3 pro
tqj plan list
is "$rc" 0 "plan list"
is "$(jqv '[.plans[] | "\(.plan)=\(.users)"] | sort | join(" ")')" "free=1 pro=2" \
	"plan list: free has 1 user, pro 2"
is "$(jqv '[.assignments[] | "\(.user)=\(.plan)"] | sort | join(" ")')" "$U1=free $U2=pro u3=pro" \
	"plan list: the assignments"

# --- free: 40,000 tokens a day ----------------------------------------------------
tqj check --user nobody --tokens 1000000
is "$rc" 0 "a user on no plan is not judged by any plan's rule"
is "$(jqv '.limits | length')" 0 "no limits apply to him"

rec $U1 39000
tqj check --user $U1 --tokens 1000
is "$rc" 0 "free: 39000 + 1000 fits 40000"
is "$(only)" "plan free day 39000 40000" "the free plan's day rule judges U1"
tqj check --user $U1 --tokens 1001
is "$rc" 1 "free: 39000 + 1001 is denied"
is "$(jqv '.denied_by | [.selector, .subject] | join(" ")')" "plan free" "denied_by: plan free"
is "$(jqv .retry_at)" 2026-12-16T00:00:00Z "retry_at: the next 00:00 UTC"
rec $U1 2000
is "$(jqv .allowed)" false "a record past 40000 succeeds and says the user is over"
at 2026-12-15T23:59:59Z tqj check --user $U1
is "$rc" 1 "free: still denied at 23:59:59"
tq clock set 2026-12-16T00:00:00Z
tqj check --user $U1 --tokens 40000
is "$rc" 0 "free: allowed again at 00:00:00 UTC, with the whole 40000"
is "$(only)" "plan free day 0 40000" "the day counts 0"
is "$(jqv '.limits[0].resets_at')" 2026-12-17T00:00:00Z "resets_at: the next midnight"

# --- pro: 1,500,000 tokens a month, warnings at 80 % and 95 % -----------------------
tq clock set 2026-12-16T09:00:00Z
rec $U2 1100000
is "$(jqv .crossed)" null "pro: 1.1M of 1.5M (73 %): nothing crossed"
rec $U2 100000
is "$(jqv .crossed)" 80 "pro: 1.2M (80 %): crossed 80"
rec $U2 100000
is "$(jqv .crossed)" null "pro: 1.3M: nothing newly crossed"
rec $U2 125000
is "$(jqv .crossed)" 95 "pro: 1.425M (95 %): crossed 95"
is "$(jqv .warning)" 95 "warning 95"
tqj check --user $U2 --tokens 75000
is "$rc" 0 "pro: 1.425M + 75000 fits 1.5M"
is "$(only)" "plan pro month 1425000 1500000" "the pro plan's month rule judges U2"
tqj check --user $U2 --tokens 75001
is "$rc" 1 "pro: 1.425M + 75001 is denied"
is "$(jqv .retry_at)" 2027-01-01T00:00:00Z "retry_at: the 1st of next month"
rec $U2 100000
is "$(jqv .crossed)" 100 "pro: 1.525M: crossed 100"
tq clock set 2026-12-25T00:00:00Z
tqj check --user $U2
is "$rc" 1 "pro: blocked for the rest of the month"
at 2026-12-31T23:59:59Z tqj check --user $U2
is "$rc" 1 "pro: still denied at 23:59:59 on the last day"
is "$(jqv .denied_by.resets_at)" 2027-01-01T00:00:00Z "resets_at: the 1st, 00:00 UTC"
tq clock set 2027-01-01T00:00:00Z
tqj check --user $U2 --tokens 1500000
is "$rc" 0 "pro: at 00:00:00 on the 1st the whole 1.5M is there again"
is "$(only)" "plan pro month 0 1500000" "the month counts 0"
is "$(jqv '.limits[0].resets_at')" 2027-02-01T00:00:00Z "resets_at: February 1st"
tqj usage --user $U2
is "$(jqv .periods.all.total)" 1525000 "usage all-time keeps December's 1.525M"
is "$(jqv .periods.month.total)" 0 "this month is empty"

# --- the gauge on a terminal: green below 80 %, yellow to 95 %, red above --------
# (the seed: green < 80 %, yellow 80-95 %, red > 95 %)
colour_of() {	# colour_of USER: the gauge's colour in `tokq usage` on a terminal
	local o
	o=$(NO_COLOR='' script -qec "'$TOKQ' --socket '$SOCK' usage --user $1" /dev/null 2>&1 | head -n 1)
	case $o in
	*$'\033[32m'*) echo green ;;
	*$'\033[33m'*) echo yellow ;;
	*$'\033[31m'*) echo red ;;
	*) echo "none: $o" ;;
	esac
}
for p in 79:31600 80:32000 95:38000 96:38400; do
	tq plan assign --user "gauge$p" free
	rec "gauge$p" "${p#*:}"
done
if command -v script >/dev/null 2>&1; then
	is "$(colour_of gauge79:31600)" green "gauge at 79 %: green"
	is "$(colour_of gauge80:32000)" yellow "gauge at 80 %: yellow"
	is "$(colour_of gauge95:38000)" yellow "gauge at exactly 95 %: yellow (red is above 95 %)"
	is "$(colour_of gauge96:38400)" red "gauge at 96 %: red"
else
	for p in 79 80 95 96; do skip "gauge colour at $p %" "no script(1) to give tokq a terminal"; done
fi
tq usage --user gauge80:32000
unlike "$out" $'\033' "not on a terminal: no colour"

# --- changing and removing a plan -------------------------------------------------
tq plan assign --user $U1 max
is "$rc" 0 "plan assign again: U1 moves to max"
tqj check --user $U1
is "$(only)" "plan max month 0 1500000" "U1 is judged by the max plan now"
tqj plan unassign --user $U1
is "$rc" 0 "plan unassign --user U1"
is "$(jqv '[.user, .plan] | join(" ")')" "$U1 max" "the reply names the former plan"
tqj check --user $U1 --tokens 10000000
is "$rc" 0 "without a plan U1 has no limits"
is "$(jqv '.limits | length')" 0 "none apply"
tqj plan unassign --user $U1
is "$rc" 0 "unassigning a user on no plan: exit 0"
is "$(jqv .plan)" null "the former plan is null"
tqj plan list
is "$(jqv '[.plans[] | "\(.plan)=\(.users)"] | sort | join(" ")')" "free=4 pro=2" "plan list: U1 is gone from free (4 gauge users left), pro has 2"

# --- a default rule for those without a plan ---------------------------------------
tq limit set --default --tokens 1000 --per day
tqj check --user $U1 --tokens 1001
is "$rc" 1 "a user without a plan falls back to the default rule"
tqj check --user $U2 --tokens 1001
is "$rc" 1 "a pro user is judged by the default day rule as well (another window)"
is "$(jqv '.denied_by | [.selector, .window] | join(" ")')" "default day" "denied_by: the default day rule"
tq limit set --plan pro --tokens 50000 --per day
tqj check --user $U2 --tokens 50000
is "$rc" 0 "a pro plan day rule beats the default day rule"
is "$(jqv '[.limits[] | "\(.selector):\(.window)"] | sort | join(" ")')" "plan:day plan:month" \
	"pro user: the plan's day and month rules, not the default's day"

stop_tokqd
done_testing
