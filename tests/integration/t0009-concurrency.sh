#!/usr/bin/env bash
# Two concurrent checks can never both get the last room: 40 parallel
# `check --reserve` of 100 tokens against a 1000-token rule allow exactly
# 10 and deny 30.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

start_tokqd
tq clock set 2026-12-01T10:00:00Z
tq limit set --user U --tokens 1000 --per 30d
is "$rc" 0 "limit set --user U --tokens 1000"

pids=()
for i in $(seq 40); do
	(
		"$TOKQ" --socket "$SOCK" --json check --user U --tokens 100 --reserve \
			>"$T/check.$i.out" 2>"$T/check.$i.err"
		echo $? >"$T/check.$i.rc"
	) &
	pids+=($!)
done
wait "${pids[@]}"

allowed=0 denied=0 other=0
for i in $(seq 40); do
	case $(cat "$T/check.$i.rc" 2>/dev/null) in
	0) allowed=$((allowed + 1)) ;;
	1) denied=$((denied + 1)) ;;
	*)
		other=$((other + 1))
		diag "check $i: exit $(cat "$T/check.$i.rc" 2>/dev/null): $(cat "$T/check.$i.err")"
		;;
	esac
done
is "$allowed" 10 "exactly 10 of 40 parallel checks are allowed (exit 0)"
is "$denied" 30 "exactly 30 are denied (exit 1)"
is "$other" 0 "none fails otherwise"

holds=$(cat "$T"/check.*.out | jq -r 'select(.allowed) | .hold' | sort -u | grep -c .)
is "$holds" 10 "each allowed check got its own hold id"
tqj status
is "$(jqv .holds)" 10 "tokqd holds 10 reservations"

tqj check --user U --tokens 1
is "$rc" 1 "the held 1000 tokens leave no room for one more"
is "$(jqv '.denied_by | [.used, .held] | join(" ")')" "0 1000" "denied_by: 0 used, 1000 held"

stop_tokqd
done_testing
