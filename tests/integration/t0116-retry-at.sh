#!/usr/bin/env bash
# retry_at keeps its word for every kind of window, after any move of the
# clock: at retry_at the same check is allowed, a second before it still
# denied.  Maintenance folds minute buckets older than 25 hours into their
# hours; a rolling window longer than a day counts each minute to the end
# of its hour from the start, so retry_at (and resets_at) say the end the
# usage has when it leaves, not the end of its minute (the 30d retry_at
# was up to 59 minutes early).  A check that can never fit is denied with
# retry_at null.  Time comes from the test clock only.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq date

iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
epoch() { date -u -d "$1" +%s; }

# keeps_word NAME USER TOKENS WANT CHECK_AT: a check of TOKENS at CHECK_AT is
# denied with retry_at WANT (and the binding rule's resets_at unless
# RESETS is given), denied at WANT - 1 s, allowed at WANT.
keeps_word() {
	local name=$1 u=$2 n=$3 want=$4 chk=$5 resets=${6:-$4} r
	at "$chk" tqj check --user "$u" --model m --tokens "$n"
	is "$rc $(jqv .allowed)" "1 false" "$name: denied at $chk (exit 1)"
	r=$(jqv .retry_at)
	is "$r" "$want" "$name: retry_at $want"
	is "$(jqv .denied_by.resets_at)" "$resets" "$name: resets_at $resets"
	[ "$r" = null ] && return
	at "$(iso $(($(epoch "$r") - 1)))" tqj check --user "$u" --model m --tokens "$n"
	is "$rc $(jqv .allowed)" "1 false" "$name: still denied a second before retry_at"
	at "$r" tqj check --user "$u" --model m --tokens "$n"
	is "$rc $(jqv .allowed)" "0 true" "$name: allowed at retry_at"
}

# one NAME WINDOW RECORD_AT WANT: a 100-token rule of WINDOW for user NAME,
# 100 tokens recorded at RECORD_AT (the clock moved there first), a check
# of 1 token 5 s later.
one() {
	local name=$1 w=$2 rec=$3 want=$4
	tq limit set --user "$name" --tokens 100 --per "$w"
	tq clock set "$rec"
	tq record --user "$name" --model m --prompt 100
	[ "$rc" = 0 ] || diag "record for $name exited $rc: $err"
	keeps_word "$name ($w)" "$name" 1 "$want" "$(iso $(($(epoch "$rec") + 5)))"
}

start_tokqd
tq clock set 2026-12-01T00:00:00Z

# Rolling windows up to a day: to the minute.
one r1h 1h 2027-01-05T10:30:15Z 2027-01-05T11:31:00Z
one r90m 90m 2027-01-06T08:59:30Z 2027-01-06T10:30:00Z
one r24h 24h 2027-01-07T10:30:15Z 2027-01-08T10:31:00Z
# Longer: to the end of the hour the minute folds into.
one r25h 25h 2027-01-10T10:30:15Z 2027-01-11T12:00:00Z
one r7d 7d 2027-01-12T10:30:15Z 2027-01-19T11:00:00Z
# The issue's case: the clock moved to a new date, a record at 10:30, a
# check at 10:30:20 (here :05): room frees at 11:00 thirty days on.
one r30d 30d 2027-02-01T10:30:00Z 2027-03-03T11:00:00Z
# Calendar windows: the next boundary.
one cday day 2027-03-10T10:30:00Z 2027-03-11T00:00:00Z
one cweek week 2027-03-10T10:30:00Z 2027-03-15T00:00:00Z
one cmonth month 2027-03-20T10:30:00Z 2027-04-01T00:00:00Z
# After the clock went back two months, and in the last minute of an hour.
one back30d 30d 2027-01-20T23:59:40Z 2027-02-20T00:00:00Z

# Two records an hour apart under a 30d rule of 300: room for 50 comes
# when the first leaves, room for 150 only when the second has left too.
tq limit set --user two --tokens 300 --per 30d
tq clock set 2027-05-01T10:10:00Z
tq record --user two --model m --prompt 100
tq clock set 2027-05-01T11:20:00Z
tq record --user two --model m --prompt 200
keeps_word "two records, room for 50" two 50 2027-05-31T11:00:00Z 2027-05-01T11:30:00Z
keeps_word "two records, room for 150" two 150 2027-05-31T12:00:00Z 2027-05-01T11:30:00Z \
	2027-05-31T11:00:00Z

# An estimate over the limit never fits: denied, and no retry_at.
at 2027-05-01T11:40:00Z tqj check --user two --model m --tokens 301
is "$rc $(jqv .allowed) $(jqv .retry_at)" "1 false null" \
	"an estimate over the limit: denied, retry_at null"
at 2027-05-01T11:40:00Z tqj check --user cmonth --model m --tokens 101
is "$rc $(jqv .allowed) $(jqv .retry_at)" "1 false null" \
	"over a calendar limit too: denied, retry_at null"

stop_tokqd
done_testing
