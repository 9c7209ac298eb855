#!/usr/bin/env bash
# Every window kind at and around its boundary.  Rolling windows (Nm, Nh,
# Nd) count usage from T until T + window, at most a minute late for
# windows up to 24h and an hour late for longer ones, never early; calendar
# windows reset at 00:00 UTC (day), Monday 00:00 UTC (week) and the 1st
# 00:00 UTC (month).  resets_at in check and usage says when.
# Each window has its own user, with a 1000-token user rule of that window.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

# rec_at TIME USER TOKENS: set the clock to TIME and record TOKENS there
rec_at() {
	tq clock set "$1"
	tq record --user "$2" --model m --prompt "$3" --completion 0
	[ "$rc" = 0 ] || diag "record --user $2 at $1 exited $rc: $err"
}
used() { jqv '.limits[0].used'; }
resets() { jqv '.limits[0].resets_at'; }

start_tokqd
tq clock set 2026-12-01T00:00:00Z
for w in 1h 90m 24h 30d day week month; do
	tq limit set --user "u$w" --tokens 1000 --per "$w"
	[ "$rc" = 0 ] || diag "limit set --per $w exited $rc: $err"
done
tqj limit list
is "$(jqv '.rules | length')" 7 "seven rules, one per window"

# --- 1h rolling: minute precision -----------------------------------------------
rec_at 2026-12-01T10:00:00Z u1h 100
at 2026-12-01T10:00:00Z tqj check --user u1h
is "$(used)" 100 "1h: counted right away"
like "$(resets)" '^2026-12-01T11:0(0:[0-5][0-9]|1:00)Z$' "1h: check resets_at is T+1h (at most a minute late)"
at 2026-12-01T10:59:59Z tqj check --user u1h
is "$(used)" 100 "1h: still counted at T+1h-1s"
at 2026-12-01T10:59:59Z tqj usage --user u1h
is "$(used)" 100 "1h: usage shows it at T+1h-1s"
like "$(resets)" '^2026-12-01T11:0(0:[0-5][0-9]|1:00)Z$' "1h: usage resets_at is T+1h (at most a minute late)"
tq clock set 2026-12-01T11:01:00Z
tqj check --user u1h
is "$(used)" 0 "1h: gone at T+1h+60s"
is "$(resets)" null "1h: nothing counted, resets_at null"
# two records a quarter apart leave one by one
rec_at 2026-12-01T12:00:00Z u1h 100
rec_at 2026-12-01T12:15:00Z u1h 200
at 2026-12-01T12:59:59Z tqj check --user u1h
is "$(used)" 300 "1h: both counted at 12:59:59"
tq clock set 2026-12-01T13:01:00Z
tqj check --user u1h
is "$(used)" 200 "1h: at 13:01 only the 12:15 record counts"
like "$(resets)" '^2026-12-01T13:1(5:[0-5][0-9]|6:00)Z$' "1h: resets_at is now when the 12:15 record leaves"
at 2026-12-01T13:14:59Z tqj check --user u1h
is "$(used)" 200 "1h: still counted at 13:14:59"
tq clock set 2026-12-01T13:16:00Z
tqj check --user u1h
is "$(used)" 0 "1h: gone at 13:16"

# --- 90m rolling -------------------------------------------------------------------
rec_at 2026-12-01T10:00:00Z u90m 100
at 2026-12-01T11:29:59Z tqj check --user u90m
is "$(used)" 100 "90m: counted at T+90m-1s"
like "$(resets)" '^2026-12-01T11:3(0:[0-5][0-9]|1:00)Z$' "90m: resets_at is T+90m (at most a minute late)"
tq clock set 2026-12-01T11:31:00Z
tqj check --user u90m
is "$(used)" 0 "90m: gone at T+90m+60s"

# --- 24h rolling ---------------------------------------------------------------------
rec_at 2026-12-01T10:00:00Z u24h 100
at 2026-12-02T00:00:00Z tqj check --user u24h
is "$(used)" 100 "24h: not reset at midnight (rolling, not calendar)"
at 2026-12-02T09:59:59Z tqj check --user u24h
is "$(used)" 100 "24h: counted at T+24h-1s"
like "$(resets)" '^2026-12-02T10:0(0:[0-5][0-9]|1:00)Z$' "24h: resets_at is T+24h (at most a minute late)"
tq clock set 2026-12-02T10:01:00Z
tqj check --user u24h
is "$(used)" 0 "24h: gone at T+24h+60s"

# --- 30d rolling: hour precision --------------------------------------------------
rec_at 2026-12-01T10:00:00Z u30d 100
rec_at 2026-12-15T10:00:00Z u30d 200
at 2026-12-31T09:59:59Z tqj check --user u30d
is "$(used)" 300 "30d: counted at T+30d-1s"
like "$(resets)" '^2026-12-31T(10:[0-5][0-9]:[0-5][0-9]|11:00:00)Z$' \
	"30d: check resets_at is T+30d (at most an hour late)"
at 2026-12-31T09:59:59Z tqj usage --user u30d
like "$(resets)" '^2026-12-31T(10:[0-5][0-9]:[0-5][0-9]|11:00:00)Z$' "30d: usage resets_at the same"
tq clock set 2026-12-31T11:00:00Z
tqj check --user u30d
is "$(used)" 200 "30d: the first record is gone at T+30d+1h, the second still counts"
like "$(resets)" '^2027-01-14T(10:[0-5][0-9]:[0-5][0-9]|11:00:00)Z$' "30d: resets_at moves to the second record's"
tq clock set 2027-01-14T11:00:00Z
tqj check --user u30d
is "$(used)" 0 "30d: both gone"

# --- day: 00:00 UTC --------------------------------------------------------------
rec_at 2026-12-01T00:00:00Z uday 100
rec_at 2026-12-01T23:00:00Z uday 200
at 2026-12-01T23:59:59Z tqj check --user uday
is "$(used)" 300 "day: everything since 00:00 counts at 23:59:59"
is "$(resets)" 2026-12-02T00:00:00Z "day: resets_at the next 00:00 UTC"
at 2026-12-01T23:59:59Z tqj usage --user uday
is "$(resets)" 2026-12-02T00:00:00Z "day: usage resets_at the same"
tq clock set 2026-12-02T00:00:00Z
tqj check --user uday
is "$(used)" 0 "day: 0 at 00:00:00 UTC"
is "$(resets)" 2026-12-03T00:00:00Z "day: resets_at the next day's 00:00, even with nothing used"

# --- week: Monday 00:00 UTC (2026-12-07 is a Monday) ----------------------------------
rec_at 2026-11-30T00:00:00Z uweek 50
rec_at 2026-12-06T12:00:00Z uweek 100
at 2026-12-06T23:59:59Z tqj check --user uweek
is "$(used)" 150 "week: Monday 00:00 to Sunday 23:59:59 counts"
is "$(resets)" 2026-12-07T00:00:00Z "week: resets_at Monday 00:00 UTC"
tq clock set 2026-12-07T00:00:00Z
tqj check --user uweek
is "$(used)" 0 "week: 0 at Monday 00:00:00"
is "$(resets)" 2026-12-14T00:00:00Z "week: resets_at the next Monday"
rec_at 2026-12-07T00:00:00Z uweek 70
at 2026-12-13T23:59:59Z tqj check --user uweek
is "$(used)" 70 "week: a Monday 00:00 record counts until Sunday 23:59:59"
tq clock set 2026-12-14T00:00:00Z
tqj usage --user uweek
is "$(used)" 0 "week: and not on the next Monday"

# --- month: the 1st 00:00 UTC -----------------------------------------------------
rec_at 2026-12-01T00:00:00Z umonth 100
rec_at 2026-12-31T23:59:00Z umonth 200
at 2026-12-31T23:59:59Z tqj check --user umonth
is "$(used)" 300 "month: the whole of December counts at 23:59:59 on the 31st"
is "$(resets)" 2027-01-01T00:00:00Z "month: resets_at January 1st 00:00 UTC"
tq clock set 2027-01-01T00:00:00Z
tqj check --user umonth
is "$(used)" 0 "month: 0 at 00:00:00 on the 1st"
is "$(resets)" 2027-02-01T00:00:00Z "month: resets_at February 1st"
rec_at 2027-02-15T10:00:00Z umonth 100
tqj usage --user umonth
is "$(resets)" 2027-03-01T00:00:00Z "month: in February, resets_at March 1st"
at 2027-02-28T23:59:59Z tqj check --user umonth
is "$(used)" 100 "month: counted at 23:59:59 on February 28th"
tq clock set 2028-02-29T12:00:00Z
tqj check --user umonth
is "$(resets)" 2028-03-01T00:00:00Z "month: on a leap day, resets_at March 1st"

# --- a window that does not parse ---------------------------------------------------
for w in 3x 0d -1h 1.5h d 30 hour; do
	tq limit set --user bad --tokens 1 --per "$w"
	is "$rc" 64 "--per $w does not parse: exit 64"
done

stop_tokqd
done_testing
