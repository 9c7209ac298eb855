#!/usr/bin/env bash
# tokq speaks in the command's own words: a non-admin reads "tokq: limit set
# needs an admin …", never the wire op (limit_set), and "only an admin may
# give --at", never the wire key.  A denial at exactly 100 % says the limit
# is reached, beyond it exceeded, and below it with an estimate that does
# not fit, that there is no room.  `tokq help` and tokq(1) state the exit
# code rule: 64 judged by tokq before sending, 65 refused by tokqd, 75 in
# its two cases with the retry under the same --key.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq groff

start_tokqd
tq clock set 2026-12-01T10:00:00Z

# --- reached, exceeded, no room -----------------------------------------------------
tq limit set --user r --tokens 100 --per day
tq record --user r --model m --prompt 50
tq check --user r --tokens 60
is "$rc" 1 "50/100 and 60 asked: denied"
like "$out" '^denied: no room: user r tokens/day: 50 used \+ 0 held \+ 60 asked > 100 ' \
	"below the limit, an estimate that does not fit: no room"
tq record --user r --model m --prompt 50
like "$out" $'\nlimit reached: user r tokens/day \\(100 / 100\\)$' "a record to exactly 100 %: limit reached"
unlike "$out" 'exceeded' "not exceeded"
tq check --user r
is "$rc" 1 "at 100 %: a check is denied"
like "$out" '^denied: limit reached: user r tokens/day: 100 used \+ 0 held = 100 ' "at exactly 100 %: limit reached"
tq record --user r --model m --prompt 1
like "$out" $'\nlimit exceeded: user r tokens/day \\(101 / 100\\)$' "a record beyond 100 %: limit exceeded"
tq check --user r
like "$out" '^denied: limit exceeded: user r tokens/day: 101 used \+ 0 held > 100 ' "beyond 100 %: limit exceeded"
tq limit set --user c --cost 1 --per day
tq record --user c --model m --prompt 1 --cost 1
tq check --user c
like "$out" '^denied: limit reached: user c cost/day: \$1\.00 used' "cost at exactly \$1 of \$1: limit reached"

# --- the help states the exit code rule ----------------------------------------------
tq help
like "$out" $'\n  64  usage error: a missing, unknown or malformed flag, or a value outside\n' \
	"tokq help: 64 is a usage error, values outside their range included"
like "$out" 'judged by tokq before anything is sent' "tokq help: 64 is judged before anything is sent"
like "$out" $'\n  65  invalid data: tokqd refused it' "tokq help: 65 is what tokqd refuses"
like "$out" 'refused for now \(nothing was kept\)' "tokq help: 75, refused, nothing kept"
like "$out" 'the outcome is unknown' "tokq help: 75, the outcome unknown"
like "$out" 'retry with the same --key' "tokq help: retry with the same --key"
groff -man -Tutf8 -rLL=200n "$TEST_ROOT/man/tokq.1" 2>/dev/null | col -bx | tr -s ' \n' '  ' >"$T/man.txt"
inman() { grep -qE -- "$1" "$T/man.txt"; }
ok "tokq(1): 64 is judged before anything is sent" inman 'judged by tokq before anything is sent'
ok "tokq(1): 75 refused: nothing was kept" inman 'nothing was kept'
ok "tokq(1): 75 lost: the outcome is unknown" inman 'the outcome is unknown'
ok "tokq(1): names the --json key temporary" inman '"temporary".*"refused".*"unknown"'
ok "tokq(1): documents the dollar amounts' precision" inman 'at most 9 decimals'
ok "tokq(1): documents the token bound" inman '1000000000000'

# --- a non-admin reads the command's words ------------------------------------------
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1 && getent passwd nobody >/dev/null &&
	getent group nogroup >/dev/null; then
	chmod 0711 "$T"
	chgrp nogroup "$SOCK" && chmod 0660 "$SOCK"
	tqn() {
		setpriv --reuid=nobody --regid=nogroup --clear-groups \
			"$TOKQ" --socket "$SOCK" "$@" >"$T/.out" 2>"$T/.err"
		rc=$? out=$(<"$T/.out") err=$(<"$T/.err")
	}
	while IFS='|' read -r words args; do
		# shellcheck disable=SC2086
		tqn $words $args
		is "$rc" 77 "nobody: $words: exit 77"
		like "$err" "^tokq: $words needs an admin \\(" "nobody: $words: 'tokq: $words needs an admin'"
		unlike "$err" '[a-z]_[a-z]' "nobody: $words: no wire op in the line"
	done <<'END'
limit set|--user u --tokens 5
limit rm|--user u --tokens
limit list|
plan assign|--user u gold
bypass add|--user u
price set|m --input 1 --output 1
price list|
clock advance|1h
END
	tqn record --user u --model m --prompt 1 --at 2026-11-01
	is "$rc" 77 "nobody: record --at: exit 77"
	is "$err" "tokq: record: only an admin may give --at" "nobody: record --at: names the flag, not the wire key"
else
	skip "a non-admin's words" "needs root, setpriv and the user nobody"
fi

stop_tokqd
done_testing
