#!/usr/bin/env bash
# Every flag of every command has a documented range, judged by tokq before
# anything is sent: a value that does not parse or lies outside it exits 64
# with one stderr line in one form,
#	tokq: CMD: --FLAG: must be WANT (got "VALUE")
# and nothing reaches the socket.  The cases run twice: against a real
# tokqd (its events, rules and prices do not move) and against a stand-in
# that logs every request it gets (it gets none).  The edges of each range
# are accepted.  The int64 extremes, 10^12 and 10^12+1, exponents and huge
# decimals go through every numeric flag.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq python3

id129=$(printf 'x%.0s' $(seq 129))
key256=$(printf 'k%.0s' $(seq 256))

# The refusals: "CMD WORDS|FLAG|other args" then the bad values, one case a line.
# FLAG is --name, or a positional's name (its value goes last, after --).
# Values are bash $'...' words, so control bytes can be written.
CASES=$(cat <<'END'
check|--tokens|--user u
record|--prompt|--user u --model m
record|--completion|--user u --model m
record|--total|--user u --model m
record|--cached|--user u --model m --prompt 5
record|--cache-write|--user u --model m --prompt 5
record|--reasoning|--user u --model m --completion 5
END
)
TOKEN_BAD=(-5 -1 12abc 1.5 1e12 '' ' 5' +5 0x10 9223372036854775807 9223372036854775808
	-9223372036854775808 1000000000001 99999999999999999999999)
COST_BAD=(-1 -0.01 abc 1,5 1e3 1000000.000000001 1000001 0.0000000001
	9223372036854775807 9223372036854775808 -9223372036854775808
	99999999999999999999.5 1000000000000)
ID_BAD=('' "$id129" $'a\tb' $'a\nb' $'a\001b' $'a\177b' $'\377\376')

# bad WORDS FLAG VALUE [ARGS...]: tokq WORDS ARGS FLAG VALUE exits 64 with
# the one form naming FLAG and quoting VALUE; nothing else on stdout.
bad() {
	local words=$1 flag=$2 val=$3 w
	shift 3
	read -ra w <<<"$words"
	if [[ $flag == --* ]]; then
		tq "${w[@]}" "$@" "$flag" "$val"
	else
		tq "${w[@]}" "$@" -- "$val"
	fi
	local what="$words $flag $(printf '%q' "$val")"
	if [ "$rc" = 64 ] && [ "$(stderr_lines)" = 1 ] && [ -z "$out" ] &&
		[[ $err =~ ^tokq:\ $words:\ $flag:\ must\ be\ .+\ \(got\ \".*\"\)$ ]]; then
		nbad=$((nbad + 1))
	else
		_result 1 "$what: exit 64, one line in the one form" "  rc=$rc" "  out: $out" "  err: $err"
	fi
}

# every_case: all the refusals; counts them in $ncases and the good ones in $nbad.
every_case() {
	local line words flag args v
	nbad=0 ncases=0
	while IFS='|' read -r words flag args; do
		# shellcheck disable=SC2086
		for v in "${TOKEN_BAD[@]}"; do bad "$words" "$flag" "$v" $args; ncases=$((ncases + 1)); done
	done <<<"$CASES"
	for v in "${COST_BAD[@]}"; do
		bad check --cost "$v" --user u; bad record --cost "$v" --user u --model m --prompt 1
		bad "price set" --input "$v" --output 1 m; bad "price set" --output "$v" --input 1 m
		bad "price set" --cached "$v" --input 1 --output 1 m
		bad "price set" --cache-write "$v" --input 1 --output 1 m
		ncases=$((ncases + 6))
	done
	for v in -2 -0.5 1000000000.01 1000000001 9223372036854775807 9223372036854775808 \
		-9223372036854775808 abc 1e9; do
		bad "limit set" --cost "$v" --user u; ncases=$((ncases + 1))
	done
	for v in -2 1.5 1000000000000001 9223372036854775807 9223372036854775808 \
		-9223372036854775808 1e15 abc ''; do
		bad "limit set" --tokens "$v" --user u; bad "limit set" --requests "$v" --default
		ncases=$((ncases + 2))
	done
	for v in 0d 0m 3661d 87841h 5270401m 3x 1s -1d 9223372036854775807m d ''; do
		bad "limit set" --per "$v" --user u --tokens 5; bad "limit rm" --per "$v" --user u --tokens
		ncases=$((ncases + 2))
	done
	for v in -1 1000000001 9223372036854775808 x; do
		bad record --call "$v" --user u --model m --prompt 1; ncases=$((ncases + 1))
	done
	for v in 0 86401 -1 9223372036854775808 5m; do
		bad check --ttl "$v" --user u --reserve; ncases=$((ncases + 1))
	done
	for v in 0 3661 -1 9223372036854775808 7d; do
		bad stats --days "$v"; ncases=$((ncases + 1))
	done
	for v in 0 1001 -1 9223372036854775808; do
		bad stats --top "$v"; bad log --last "$v"; ncases=$((ncases + 2))
	done
	for v in 0 101 -1 9223372036854775808; do
		bad report --top "$v"; ncases=$((ncases + 1))
	done
	for v in 2026-13-01 2026-02-30 yesterday 1e9 '' 2026-12-01T25:00:00Z; do
		bad stats --since "$v"; bad stats --until "$v" --since 2026-11-01
		bad export --since "$v"; bad export --until "$v"
		bad record --at "$v" --user u --model m --prompt 1; bad "clock set" TIME "$v"
		ncases=$((ncases + 6))
	done
	for v in 0 0s -5m 3661d 9223372036854775807s 1w ''; do
		bad "clock advance" DURATION "$v"; ncases=$((ncases + 1))
	done
	bad report --period year; bad report --format html
	bad export --format xml; bad import --format xml "$T/none.jsonl"
	ncases=$((ncases + 4))
	for v in "${ID_BAD[@]}"; do
		bad check --user "$v"; bad check --guild "$v" --user u; bad check --channel "$v" --user u
		bad check --model "$v" --user u
		bad record --user "$v" --model m --prompt 1; bad record --model "$v" --user u --prompt 1
		bad record --service "$v" --user u --model m --prompt 1
		bad record --kind "$v" --user u --model m --prompt 1
		bad record --session "$v" --user u --model m --prompt 1
		bad record --hold "$v" --user u --model m --prompt 1
		bad release HOLD "$v"; bad usage --user "$v"; bad usage --model "$v" --user u
		bad "limit set" --user "$v" --tokens 1; bad "limit set" --members "$v" --tokens 1
		bad "limit set" --plan "$v" --tokens 1; bad "limit set" --guild "$v" --tokens 1
		bad "limit set" --model "$v" --default --tokens 1; bad "limit rm" --user "$v" --tokens
		bad "limit list" --user "$v"
		bad "plan assign" --user "$v" gold; bad "plan assign" PLAN "$v" --user u
		bad "plan unassign" --user "$v"; bad "bypass add" --user "$v"
		bad "bypass rm" --guild "$v"; bad reset --user "$v"; bad reset --model "$v" --user u
		bad "price set" MODEL "$v" --input 1 --output 1; bad "price rm" MODEL "$v"
		bad stats --guild "$v"; bad report --guild "$v"; bad log --user "$v"
		bad export --guild "$v"
		ncases=$((ncases + 33))
	done
	for v in '' "$key256" $'k\n1' $'k\t1'; do
		bad record --key "$v" --user u --model m --prompt 1; ncases=$((ncases + 1))
	done
}

state() {
	"$TOKQ" --socket "$SOCK" --json status | jq -r .events
	"$TOKQ" --socket "$SOCK" --json limit list | jq -c .rules
	"$TOKQ" --socket "$SOCK" --json price list | jq -c .
	"$TOKQ" --socket "$SOCK" --json plan list | jq -c .
	"$TOKQ" --socket "$SOCK" --json bypass list | jq -c .
}

# ---- against a real tokqd ---------------------------------------------------------
start_tokqd
tq clock set 2026-12-01T10:00:00Z
tq record --user u --model m --prompt 10
s0=$(state)
every_case
is "$nbad" "$ncases" "all $ncases bad values exit 64 with one line in the one form"
is "$(state)" "$s0" "and none of them changed anything: events, rules, prices, plans, bypasses"

# the message says the range
tq check --user u --tokens 1000000000001
is "$err" 'tokq: check: --tokens: must be a whole number from 0 to 1000000000000 (got "1000000000001")' \
	"check --tokens 10^12+1: the message names the range"
tq record --user u --model m --prompt -5
is "$err" 'tokq: record: --prompt: must be a whole number from 0 to 1000000000000 (got "-5")' \
	"record --prompt -5: the same form, not 65"
tq check --user u --cost 1000000.000000001
like "$err" '^tokq: check: --cost: must be a dollar amount from 0 to 1000000 ' "check --cost above \$1M: the range"
tq limit set --user u --cost 1000000001
like "$err" 'from 0 to 1000000000 .*or -1 for unlimited' "limit set --cost above \$10^9: the range and -1"
tq log --last 0
is "$err" 'tokq: log: --last: must be a whole number from 1 to 1000 (got "0")' "log --last 0: 64, the range"
tq record --user $'a\nb' --model m --prompt 1
is "$err" 'tokq: record: --user: must be an id of 1 to 128 bytes of UTF-8 without control characters (got "a\x0ab")' \
	"a newline in an id is shown escaped, on one line"
tq record --user "$id129" --model m --prompt 1
like "$err" '\(got "x{48}…"\)$' "a long value is cut in the message"
for c in stats export; do
	for span in "2026-12-05 2026-12-01" "2026-12-01 2026-12-01" "2026-12-01T10:00:01Z 2026-12-01T10:00:00Z"; do
		read -r a b <<<"$span"
		tq $c --since "$a" --until "$b"
		is "$rc $(stderr_lines)" "64 1" "$c --since $a --until $b: an empty or reversed span exits 64"
	done
	like "$err" "^tokq: $c: --until must be after --since" "$c: it says so"
done
tq export --since 2026-12-01 --until 2026-12-01T00:00:01Z
is "$rc" 0 "export: a span of one second is fine"
tq --json check --user u --tokens -5
is "$rc $out" "64 " "--json: still 64, nothing on stdout"

# the edges of each range are accepted
tqj record --user edge --model m --prompt 1000000000000 --completion 0 --call 1000000000 --cost 1000000
is "$rc $(jqv .prompt)" "0 1000000000000" "record --prompt 10^12 --cost 1000000 --call 10^9: accepted"
tqj check --user edge --tokens 1000000000000 --cost 0 --reserve --ttl 86400
is "$rc $(jqv .allowed)" "0 true" "check --tokens 10^12 --ttl 86400 (no rules): allowed"
tq release "$(jqv .hold)"
tq check --user edge --tokens 0 --cost 1000000 --ttl 1 --reserve
is "$rc" 0 "check --tokens 0 --cost 1000000 --ttl 1: accepted"
tq limit set --user edge --tokens 1000000000000000 --per 3660d
is "$rc" 0 "limit set --tokens 10^15 --per 3660d: accepted"
tq limit set --user edge --requests -1 --per 1m
is "$rc" 0 "limit set --requests -1 --per 1m: accepted"
tq limit set --user edge --cost 1000000000 --per month
is "$rc" 0 "limit set --cost 1000000000: accepted"
tq limit set --user edge --cost -1 --per day
is "$rc" 0 "limit set --cost -1: accepted"
tq price set edge-model --input 1000000 --output 0 --cached 0.000000001 --cache-write 0
is "$rc" 0 "price set --input 1000000 --cached 0.000000001: accepted"
tq stats --days 3660 --top 1000
is "$rc" 0 "stats --days 3660 --top 1000: accepted"
tq stats --days 1 --top 1
is "$rc" 0 "stats --days 1 --top 1: accepted"
tq report --top 100 --period month --format markdown
is "$rc" 0 "report --top 100: accepted"
tq log --last 1000
is "$rc" 0 "log --last 1000: accepted"
tq log --last 1
is "$rc" 0 "log --last 1: accepted"
tq record --user "$(printf 'x%.0s' $(seq 128))" --model m --prompt 0 --key "$(printf 'k%.0s' $(seq 255))"
is "$rc" 0 "a 128-byte id and a 255-byte key: accepted"
stop_tokqd

# ---- against a stand-in that logs what it gets ------------------------------------
FAKE_LOG=$T/fake.log
: >"$FAKE_LOG"
python3 "$TEST_ROOT/tests/tools/fake_tokqd.py" temp "$SOCK" "$T/fake.ready" "$FAKE_LOG" &
EXTRA_PIDS+=($!)
for _ in $(seq 100); do [ -e "$T/fake.ready" ] && break; sleep 0.05; done
every_case
is "$nbad" "$ncases" "stand-in: all $ncases bad values exit 64 in the one form"
is "$(wc -l <"$FAKE_LOG" | tr -d ' ')" 0 "stand-in: not one request reached the socket"
tq status
is "$rc" 75 "stand-in: it does log what is sent (status reaches it, and it says 75)"
is "$(cat "$FAKE_LOG")" status "stand-in: its log names that one request"

done_testing
