#!/usr/bin/env bash
# A record's reply names the warning threshold it newly crossed (80, 95,
# 100 by default), so a bot warns exactly once; check and usage say the
# highest reached.  warn_thresholds in the config file changes them, and
# SIGHUP reloads the file.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

rec() {	# rec USER TOKENS: record TOKENS prompt tokens; $out has the reply
	tqj record --user "$1" --model m --prompt "$2" --completion 0
	[ "$rc" = 0 ] || diag "record --user $1 --prompt $2 exited $rc: $err"
}
# crossings USER N...: record each N in turn, print the crossed values
crossings() {
	local u=$1 n acc=
	shift
	for n in "$@"; do
		rec "$u" "$n"
		acc="$acc $(jqv .crossed)"
	done
	echo "${acc# }"
}

start_tokqd
tq clock set 2026-12-01T10:00:00Z
tq limit set --default --tokens 1000 --per day

# --- the defaults: 80, 95, 100 --------------------------------------------------
is "$(crossings a 700 99 1 100 49 1 49 1 500)" "null null 80 null null 95 null 100 null" \
	"700, 799, 800 (80), 900, 949, 950 (95), 999, 1000 (100), 1500: each crossed exactly once"
tqj check --user a
is "$(jqv .warning)" 100 "check: warning 100"
tqj usage --user a
is "$(jqv .warning)" 100 "usage: warning 100"

is "$(crossings b 790 170 40)" "null 95 100" "a record jumping 80 and 95 at once names the highest: 95"
is "$(crossings c 2000 10)" "100 null" "a first record past everything: 100"
tqj check --user d
is "$(jqv .warning)" 0 "a user with nothing used: warning 0"
rec d 850
tqj check --user d
is "$(jqv .warning)" 80 "check at 85 %: warning 80"
rec d 100
tqj check --user d
is "$(jqv .warning)" 95 "check at 95 %: warning 95"

# The next period starts from zero: the thresholds are crossed anew.
tq clock set 2026-12-02T00:00:00Z
is "$(crossings a 800 150 50)" "80 95 100" "the next day a's thresholds are crossed again, once each"

# Several rules: the highest threshold any rule newly crossed.
# e: 1000 tokens a month, 5 requests an hour (and 100000 a day instead of 1000)
tq limit set --user e --tokens 100000 --per day
tq limit set --user e --tokens 1000 --per month
tq limit set --user e --requests 5 --per 1h
is "$(crossings e 100 100 100 100)" "null null null 80" \
	"several rules: the 4th request crosses 80 % of 5 requests/1h (tokens are at 40 %)"
is "$(crossings e 400)" 100 "the 5th crosses 100 % of the requests and 80 % of the tokens: the highest, 100"
tq clock advance 62m
is "$(crossings e 150)" 95 "an hour later 950 of 1000 tokens a month crosses 95"

# An unlimited rule never warns.
tq limit set --user f --tokens -1 --per day
is "$(crossings f 5000000)" null "an unlimited user never crosses anything"
tqj check --user f
is "$(jqv .warning)" 0 "and his warning is 0"

# A bypassed user's rules still count and warn.
tq bypass add --user g
is "$(crossings g 800)" 80 "a bypassed user is still warned"

# --- warn_thresholds = 50,90 ----------------------------------------------------------
cat >"$T/tokqd.conf" <<'CONF'
# thresholds at half and nine tenths
warn_thresholds = 50,90
CONF
"$TOKQD" -n --config "$T/tokqd.conf" --socket "$SOCK.check" --db "$T/check.db" >/dev/null 2>"$T/n.err"
is "$?" 0 "tokqd -n --config FILE accepts the file"
stop_tokqd
start_tokqd --config "$T/tokqd.conf"
tq clock set 2026-12-03T00:00:00Z
is "$(crossings h 499 1 399 1 99 1)" "null 50 null 90 null 100" \
	"with warn_thresholds = 50,90: 50, 90 and 100 are crossed, once each"
is "$(crossings i 850)" 50 "85 % crosses 50 (80 is no threshold now)"
tqj check --user i
is "$(jqv .warning)" 50 "check: warning 50"
is "$(crossings i 100)" 90 "95 % crosses 90"
tqj check --user i
is "$(jqv .warning)" 90 "check: warning 90"

# --- SIGHUP reloads the file ------------------------------------------------------------
echo 'warn_thresholds = 60' >"$T/tokqd.conf"
kill -HUP "$TOKQD_PID"
# the reload is asynchronous: poll (50 ms steps, 5 s at most) until it shows
for _ in $(seq 100); do
	tq record --user "probe$_" --model m --prompt 600 --completion 0 --json
	[ "$(jqv .crossed)" = 60 ] && break
	sleep 0.05
done
is "$(jqv .crossed)" 60 "after SIGHUP with warn_thresholds = 60: 60 % crosses 60"
is "$(crossings j 500 100 300 100)" "null 60 null 100" "and only 60 and 100 are thresholds"

# a file that does not parse is refused by tokqd -n
echo 'warn_thresholds = 50,lots' >"$T/bad.conf"
"$TOKQD" -n --config "$T/bad.conf" --socket "$SOCK.check" --db "$T/check.db" >/dev/null 2>"$T/n.err"
isnt "$?" 0 "tokqd -n refuses warn_thresholds = 50,lots"
like "$(cat "$T/n.err")" 'bad\.conf:1' "naming the file and line"

stop_tokqd
done_testing
