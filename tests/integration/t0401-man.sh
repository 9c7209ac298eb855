#!/usr/bin/env bash
# The man pages render without a single groff or man warning, carry their
# sections, and tokq(1) names every command `tokq help` lists and every flag
# of each (from `tokq CMD --help`), and every exit code.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need groff

pages=(tokq.1 tokqd.8 tokqd.conf.5)
for p in "${pages[@]}"; do
	f=$TEST_ROOT/man/$p
	[ -r "$f" ] || { _result 1 "man/$p exists"; continue; }
	w=$(groff -man -Tutf8 -ww -z "$f" 2>&1)
	is "$w" "" "man/$p: groff -man -ww renders it without warnings"
	if command -v man >/dev/null 2>&1; then
		w=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
		is "$w" "" "man/$p: man -l renders it without warnings"
	else
		skip "man/$p: man -l" "man (man-db) is not installed"
	fi
	text=$(MANWIDTH=80 groff -man -Tutf8 -rLL=80n "$f" 2>/dev/null | col -bx 2>/dev/null)
	for s in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
		like "$text" $'(^|\n)'"$s"$'\n' "man/$p has $s"
	done
	long=$(perl -CSD -ne 'chomp; print "$_\n" if length > 80' <<<"$text")
	is "$long" "" "man/$p: no rendered line is wider than 80 columns"
done

text=$(groff -man -Tutf8 -rLL=200n "$TEST_ROOT/man/tokq.1" 2>/dev/null | col -bx)
[ -x "$TOKQ" ] || bail "tokq is built" "  no executable $TOKQ: run make first"
# Every command of `tokq help`, and each command's flags from its --help.
nl=$'\n'
cmds=$("$TOKQ" help | sed -n 's/^  \([a-z][a-z]*\( [a-z][a-z]*\)\?\)  .*/\1/p')
isnt "$cmds" "" "tokq help lists commands"
while IFS= read -r c; do
	[ -n "$c" ] || continue
	like "$text" "tokq $c([ ,.]|$nl)" "tokq(1) documents 'tokq $c'"
	# shellcheck disable=SC2086
	flags=$("$TOKQ" $c --help | sed -n 's/^  \(--[a-z-]*\).*/\1/p' | sort -u)
	missing=
	for fl in $flags; do
		grep -qF -- "$fl" <<<"$text" || missing="$missing $fl"
	done
	is "$missing" "" "tokq(1) names every flag of 'tokq $c'"
done <<<"$cmds"
for g in --socket --json --help --version; do
	like "$text" "$g" "tokq(1) documents the global $g"
done
for code in 0 1 64 65 69 70 75 77; do
	like "$text" $'\n       '"$code"' ' "tokq(1) lists exit code $code"
done
for k in allowed denied_by retry_at crossed duplicate hold periods by_model remaining resets_at; do
	like "$text" "$k" "tokq(1) documents the JSON key $k"
done

d8=$(groff -man -Tutf8 -rLL=200n "$TEST_ROOT/man/tokqd.8" 2>/dev/null | col -bx)
for o in --socket --db --config --idle-exit --test-clock -n -v SIGTERM SIGHUP tokqd.socket \
	admin_group SO_PEERCRED retention_days JOURNAL_STREAM; do
	like "$d8" -- "$o" "tokqd(8) documents $o"
done
usage=$("$TOKQD" --help 2>&1)
# shellcheck disable=SC2013
for o in $(grep -o -- '--[a-z-]*' <<<"$usage" | sort -u); do
	like "$d8" -- "$o" "tokqd(8) documents $o from tokqd --help"
done
d5=$(groff -man -Tutf8 -rLL=200n "$TEST_ROOT/man/tokqd.conf.5" 2>/dev/null | col -bx)
for k in retention_days warn_thresholds admin_group idle_exit; do
	like "$d5" "$k" "tokqd.conf(5) documents $k"
done

done_testing
