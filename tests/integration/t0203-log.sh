#!/usr/bin/env bash
# tokq log: recent raw events newest first, --last, --user, --guild.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need jq

start_tokqd
tq clock set 2026-12-10T12:00:00Z
for i in $(seq 1 12); do
	g=g$((i % 2))
	tq record --at "2026-12-10T$(printf %02d "$i"):00:00Z" --user "u$((i % 3))" --guild "$g" \
		--model m --prompt "$i" --kind chat --service bot --session s --call "$i"
done
tq record --at 2026-12-10T12:00:00Z --user u0 --model m --prompt 100
tq record --at 2026-12-10T12:00:00Z --user u1 --model m --prompt 200

tqj log
is "$rc" 0 "log exits 0"
is "$(jqv '.events | length')" 10 "ten events by default"
is "$(jqv '[.events[] | .prompt] | join(" ")')" "200 100 12 11 10 9 8 7 6 5" \
	"newest first; at the same time the later event first"
is "$(jqv '.events[2] | [.at, .user, .guild, .model, .kind, .service, .session, .call, .total, .requests] | join(" ")')" \
	"2026-12-10T12:00:00Z u0 g0 m chat bot s 12 12 1" "an event's keys"
tqj log --last 3
is "$(jqv '[.events[] | .prompt] | join(" ")')" "200 100 12" "--last 3"
tqj log --user u1 --last 100
is "$(jqv '[.events[] | .prompt] | join(" ")')" "200 10 7 4 1" "--user"
tqj log --guild g1 --last 100
is "$(jqv '[.events[] | .prompt] | join(" ")')" "11 9 7 5 3 1" "--guild"
tqj log --user u1 --guild g1
is "$(jqv '[.events[] | .prompt] | join(" ")')" "7 1" "--user and --guild"
tq log --last 0
is "$rc" 64 "--last 0 is refused (a usage error, judged by tokq)"
tq log --last 2
like "$out" $'^time \\(UTC\\) +user +guild.*\n2026-12-10 12:00:00  u1 ' "human log: a table, newest first"
tq log --user nobody
is "$out" "no events" "human log of nothing"

stop_tokqd
done_testing
