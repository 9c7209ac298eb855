#!/usr/bin/env bash
# The admin screens as people see them (stats, report in text and markdown,
# log), compared byte for byte with tests/golden/*.out.  Fixed test clock,
# NO_COLOR, output to a file (no TTY).  TOKQ_GOLDEN_REGEN=1 (what
# tests/golden/regen.sh sets) writes the files instead of comparing.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

GOLDEN=$TEST_ROOT/tests/golden
export NO_COLOR=1

start_tokqd
# The clock stands at the end of the story; every event says when it was
# (record --at), so no second of real time shows in a screen.
tq clock set 2026-12-01T13:00:00Z
tq price set gpt-4o --input 2.5 --output 10
tq price set gpt-4o-mini --input 0.15 --output 0.6 --cached 0.075

# Five days of traffic in two guilds, direct messages, three models.
rec() { tq record "$@"; [ "$rc" = 0 ] || bail "record $*" "  rc=$rc: $err"; }
day() {	# day N (27 + N - 1 November): alice, bob, carol, dave in guilds 100, 200, none
	local n=$1 d
	d=2026-11-$((26 + n))
	rec --at "${d}T08:00:00Z" --user alice --guild 100 --model gpt-4o --prompt $((1200 * n)) --completion 300 --service helpdesk --kind chat
	rec --at "${d}T09:30:00Z" --user bob --guild 200 --model gpt-4o-mini --prompt 4000 --completion $((500 * n)) --cached 1000 --service summarizer --kind summary
	rec --at "${d}T12:15:00Z" --user carol --guild 100 --model gpt-4o-mini --prompt 800 --completion 200 --service helpdesk --kind chat
	[ $((n % 2)) = 1 ] && rec --at "${d}T18:00:00Z" --user 123456789012345678 --model claude-sonnet --prompt 2500 --completion 700 --cost 0.018
	[ "$n" -ge 3 ] && rec --at "${d}T23:59:59Z" --user dave --guild 200 --model gpt-4o --prompt 100 --completion 50 --kind chat
	return 0
}
for n in 1 2 3 4; do day "$n"; done
rec --at 2026-12-01T10:00:00Z --user alice --guild 100 --model gpt-4o --prompt 900 --completion 100 --service helpdesk --kind chat --session s-9 --call 0
rec --at 2026-12-01T12:59:00Z --user bob --guild 200 --model gpt-4o-mini --prompt 2000 --completion 400 --service summarizer --kind summary

# name, then the tokq arguments
screens=(
	"stats|stats --days 7"
	"stats-guild|stats --days 7 --guild 100 --top 2"
	"stats-since|stats --since 2026-11-28T12:00:00Z --until 2026-11-30T01:00:00Z"
	"report|report"
	"report-week|report --period week --top 3"
	"report-month-markdown|report --period month --format markdown"
	"report-empty|report --guild 999"
	"log|log --last 6"
	"log-user|log --user bob --last 3"
)
for s in "${screens[@]}"; do
	name=${s%%|*}
	# shellcheck disable=SC2086
	tq ${s#*|}
	if [ "$rc" != 0 ]; then
		_result 1 "$name: tokq ${s#*|} exits 0" "  rc=$rc: $err"
		continue
	fi
	if [ "${TOKQ_GOLDEN_REGEN:-}" = 1 ]; then
		printf '%s\n' "$out" >"$GOLDEN/$name.out"
		_result 0 "$name: regenerated $GOLDEN/$name.out"
		continue
	fi
	if [ ! -f "$GOLDEN/$name.out" ]; then
		_result 1 "$name: tests/golden/$name.out exists" "  run tests/golden/regen.sh"
		continue
	fi
	if d=$(diff -u "$GOLDEN/$name.out" <(printf '%s\n' "$out")); then
		_result 0 "$name: tokq ${s#*|} matches tests/golden/$name.out"
	else
		_result 1 "$name: tokq ${s#*|} matches tests/golden/$name.out" "$d"
	fi
done

# No escape sequences when piped, even without NO_COLOR.
unset NO_COLOR
tq stats --days 7
unlike "$out" $'\033' "stats piped writes no escape sequences without NO_COLOR"

stop_tokqd
done_testing
