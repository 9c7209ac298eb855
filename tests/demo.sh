#!/usr/bin/env bash
# demo.sh: a real tokqd on a temporary socket and a short bot session
# against it, each command shown as `$ tokq …` before its output.
#
# `make demo` runs it.  It stops with a non-zero exit, loudly, as soon as a
# command does not end the way it should (a check meant to be denied must
# exit 1, everything else 0).  The daemon runs with --test-clock, so that
# the demo's "now" is always 2026-12-01 10:00 UTC.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TOKQ_BUILD:-build}
case $build in
/*) ;;
*) build=$root/$build ;;
esac
for b in tokqd tokq; do
	if [ ! -x "$build/$b" ]; then
		echo "demo: $build/$b is missing: run make first" >&2
		exit 1
	fi
done
export PATH="$build:$PATH"

dir=$(mktemp -d "${TMPDIR:-/tmp}/tokq-demo.XXXXXX")
tokqd_pid=
cleanup() {
	if [ -n "$tokqd_pid" ]; then
		kill -KILL "$tokqd_pid" 2>/dev/null || true
		wait "$tokqd_pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
export TOKQ_SOCKET=$dir/tokq.sock	# tokq (and tokqd) use it unless given --socket

if [ -t 1 ]; then
	B=$'\e[1m' D=$'\e[2m' R=$'\e[0m'
else
	B='' D='' R=''
fi

fail() {
	echo "demo: FAILED: $*" >&2
	if [ -s "$dir/tokqd.log" ]; then
		echo "demo: tokqd's log:" >&2
		sed 's/^/  /' "$dir/tokqd.log" >&2
	fi
	exit 1
}

# Show an argument as a user would type it.
shown() {
	local a out=''
	for a in "$@"; do
		if [[ $a =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
			out+=" $a"
		else
			out+=" '${a//\'/\'\\\'\'}'"
		fi
	done
	printf '%s' "${out# }"
}

section() {
	printf '\n%s## %s%s\n' "$B" "$*" "$R"
}

say() {
	printf '%s# %s%s\n' "$D" "$*" "$R"
}

# run WANT CMD...: show and run CMD; its exit status must be WANT.
run() {
	local want=$1 rc=0
	shift
	printf '%s$ %s%s\n' "$B" "$(shown "$@")" "$R"
	"$@" || rc=$?
	[ "$rc" = "$want" ] || fail "'$(shown "$@")' exited $rc, not $want"
	[ "$rc" = 0 ] || say "(exit $rc)"
}

# pipe WANT INPUT CMD...: the same, with INPUT on CMD's stdin.
pipe() {
	local want=$1 input=$2 rc=0
	shift 2
	printf '%s$ echo %s | %s%s\n' "$B" "$(shown "$input")" "$(shown "$@")" "$R"
	printf '%s\n' "$input" | "$@" || rc=$?
	[ "$rc" = "$want" ] || fail "'$(shown "$@")' exited $rc, not $want"
}

section "tokqd starts (with the test clock: now is 2026-12-01 10:00 UTC)"
printf '%s$ %s &%s\n' "$B" "tokqd --socket $TOKQ_SOCKET --db $dir/tokq.db --test-clock" "$R"
tokqd --socket "$TOKQ_SOCKET" --db "$dir/tokq.db" --test-clock 2>"$dir/tokqd.log" &
tokqd_pid=$!
for _ in $(seq 100); do
	tokq status >/dev/null 2>&1 && break
	kill -0 "$tokqd_pid" 2>/dev/null || fail "tokqd exited at start"
	sleep 0.05
done
tokq status >/dev/null 2>&1 || fail "tokqd did not answer within 5 s"
run 0 tokq clock set 2026-12-01T10:00:00Z

section "The admin sets the rules (the bot's admin slash commands run these)"
say "every user: 10,000 tokens per rolling 30 days"
run 0 tokq limit set --default --tokens 10000 --per 30d
say "what gpt-4o-mini costs, in USD per 1M tokens"
run 0 tokq price set gpt-4o-mini --input 0.15 --output 0.60
say "user 1111 pays for the pro plan, which gets more"
run 0 tokq plan assign --user 1111 pro
run 0 tokq limit set --plan pro --tokens 1500000 --per 30d
run 0 tokq limit list

section "The bot serves two users in guild 9000"
say "before each LLM call: may I? (exit 0 yes, 1 no)"
run 0 tokq check --user 1111 --guild 9000 --model gpt-4o-mini --tokens 3000
say "after it: what the call used"
run 0 tokq record --user 1111 --guild 9000 --model gpt-4o-mini \
	--prompt 2400 --completion 600 --session s-1 --call 0
run 0 tokq check --user 2222 --guild 9000 --model gpt-4o-mini --tokens 3000
say "or hand over the provider's usage object as it came (OpenAI shape here)"
pipe 0 '{"prompt_tokens":2600,"completion_tokens":900,"total_tokens":3500,"prompt_tokens_details":{"cached_tokens":1024}}' \
	tokq record --user 2222 --guild 9000 --model gpt-4o-mini --usage-json -
run 0 tokq check --user 2222 --guild 9000 --model gpt-4o-mini --tokens 3000
run 0 tokq record --user 2222 --guild 9000 --model gpt-4o-mini \
	--prompt 3900 --completion 1300

section "User 2222 reaches the limit"
say "8,700 of 10,000 used: another 3,000-token call would not fit"
run 1 tokq check --user 2222 --guild 9000 --model gpt-4o-mini --tokens 3000
say "the pro user is still fine"
run 0 tokq check --user 1111 --guild 9000 --model gpt-4o-mini --tokens 3000
say "what /usage shows user 2222"
run 0 tokq usage --user 2222

section "The daemon"
run 0 tokq status

section "tokqd stops (SIGTERM)"
kill -TERM "$tokqd_pid"
rc=0
wait "$tokqd_pid" || rc=$?
tokqd_pid=
[ "$rc" = 0 ] || fail "tokqd exited $rc on SIGTERM"
say "tokqd exited 0"
