#!/usr/bin/env bash
# Socket activation as systemd does it: systemd-socket-activate holds the
# listening socket and starts tokqd on the first connection, passing the
# socket (LISTEN_FDS); tokqd serves it, says socket_activated, and what is
# recorded through it survives a restart.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq systemd-socket-activate

[ -x "$TOKQD" ] || bail "tokqd is built" "  no executable $TOKQD: run make first"

systemd-socket-activate -l "$SOCK" "$TOKQD" --db "$DB" --test-clock \
	2>>"$T/tokqd.log" &
TOKQD_PID=$!

# Wait until the socket listens: systemd-socket-activate logs "Listening on"
# once bind() and listen() are done.
for _ in $(seq 100); do
	grep -q 'Listening on' "$T/tokqd.log" 2>/dev/null && break
	kill -0 "$TOKQD_PID" 2>/dev/null || break
	sleep 0.05
done
ok "systemd-socket-activate listens on $SOCK" test -S "$SOCK"
is "$(cat "/proc/$TOKQD_PID/comm" 2>/dev/null)" systemd-socket- \
	"before the first connection tokqd is not running"

tqj status
is "$rc" 0 "the first tokq status starts tokqd and gets an answer"
is "$(jqv .socket_activated)" true "socket_activated is true"
is "$(cat "/proc/$TOKQD_PID/comm" 2>/dev/null)" tokqd "tokqd now serves the socket"

tq clock set 2026-12-01T10:00:00Z
tqj record --user 42 --model gpt-4o --prompt 120 --completion 30 --key act-1
is "$rc" 0 "record through the activated socket exits 0"
is "$(jqv .total)" 150 "and counts 150 tokens"
tq limit set --user 42 --tokens 100
is "$rc" 0 "limit set through the activated socket exits 0"

stop_tokqd

# Started by hand on the same database: the record survived.
start_tokqd
tq clock set 2026-12-01T11:00:00Z
tqj status
is "$(jqv .socket_activated)" false "started by hand: socket_activated is false"
is "$(jqv .events)" 1 "the activated daemon's event is in the database"
tqj usage --user 42
is "$(jqv .periods.all.total)" 150 "with its 150 tokens"
tq check --user 42
is "$rc" 1 "and the rule set through it denies"

stop_tokqd
done_testing
