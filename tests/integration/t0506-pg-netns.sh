#!/usr/bin/env bash
# A second host, as near as one machine gets: tokqd B runs in a network
# namespace of its own and reaches PostgreSQL over TCP through a veth pair;
# tokqd A on the Unix socket.  One quota: concurrent reserves split over
# both fill a rule exactly; a limit set on A binds on B, a key recorded on B
# counts once when retried on A.  B's link cut (no hang-up, packets just
# lost): B answers 75 within 2 s while A serves on; the link back, B serves
# again by itself and nothing it acknowledged is lost.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
[ -n "${TOKQ_TEST_PG:-}" ] || skip_all "PostgreSQL store only (TOKQ_TEST_PG is not set)"
[ "$(id -u)" = 0 ] || skip_all "a network namespace and a veth pair need root"
need unshare nsenter ip
unshare -n true 2>/dev/null || skip_all "unshare -n is refused here (no network namespaces)"

# The namespace lives as long as its holder; with it go the veth pair.
unshare -n sleep 600 &
holder=$!
EXTRA_PIDS+=("$holder")
for _ in $(seq 100); do
	[ "$(readlink "/proc/$holder/ns/net")" != "$(readlink /proc/self/ns/net)" ] && break
	sleep 0.02
done
# 198.18.0.0/15 is for tests (RFC 2544); the pid keeps parallel runs apart.
net=198.$((18 + $$ % 2)).$(($$ / 2 % 256))
if_a=tq$$a if_b=tq$$b
in_ns() { nsenter -t "$holder" -n "$@"; }
ip link add "$if_a" type veth peer name "$if_b" netns "$holder" 2>"$T/veth.err" ||
	skip_all "no veth pair here: $(head -n 1 "$T/veth.err")"
ip addr add "$net.1/30" dev "$if_a" && ip link set "$if_a" up &&
	in_ns ip addr add "$net.2/30" dev "$if_b" && in_ns ip link set "$if_b" up &&
	in_ns ip link set lo up || bail "the veth pair is configured"

pg_own_cluster --tcp "$net.1"
# shellcheck source=../pg/cross.sh
. "$TEST_ROOT/tests/pg/cross.sh"

start_tokqd
TOKQD2_WRAP=(nsenter -t "$holder" -n)
DB2="postgresql://$pg_user@$net.1:$pg_port/$pg_name"
start_tokqd2
clocks 2026-12-01T10:00:00Z
peers=$("$pg_bin/psql" -h "$pg_host" -p "$pg_port" -U "$pg_user" -At -d "$pg_name" \
	-c "SELECT DISTINCT host(client_addr) FROM pg_stat_activity WHERE client_addr IS NOT NULL")
is "$peers" "$net.2" "B talks to PostgreSQL over TCP from its own namespace ($net.2)"

# --- one quota --------------------------------------------------------------------------
tq limit set --user U --tokens 1000 --per day
tq2 check --user U --tokens 1001
is "$rc" 1 "a limit set on A binds on B at once"
for i in $(seq 30); do
	if [ $((i % 2)) = 1 ]; then echo "A check --user U --tokens 40 --reserve"; else echo "B check --user U --tokens 40 --reserve"; fi
done >"$T/lines"
race "$T/lines"
is "$race_ok $race_denied $race_other" "25 5 0" "30 reserves of 40 over A and B: exactly 25 fill the 1000"
tq2 check --user U --tokens 1 --reserve
is "$rc" 1 "B: one token more is denied"
tqj2 record --user K --model m --prompt 3 --key nk1
is "$rc $(jqv .duplicate)" "0 false" "B records key nk1"
tqj record --user K --model m --prompt 3 --key nk1
is "$rc $(jqv .duplicate)" "0 true" "A: the retry is a duplicate"

# --- B's link cut -----------------------------------------------------------------------------
tq2 record --user K --model m --prompt 3 --key nk2
acked_before=$rc
in_ns ip link set "$if_b" down
t0=$(date +%s%N)
timeout 30 "$TOKQ" --socket "$SOCK2" record --user K --model m --prompt 3 --key nk3 >/dev/null 2>"$T/cut.err"
crc=$? cms=$(ms_since "$t0")
is "exit $crc, $( ((cms < 2000)) && echo within || echo after) 2 s" "exit 75, within 2 s" \
	"link cut: B's record exits 75 within 2 s (exit $crc after $cms ms)"
t0=$(date +%s%N)
timeout 30 "$TOKQ" --socket "$SOCK2" check --user K --tokens 1 >/dev/null 2>>"$T/cut.err"
crc=$? cms=$(ms_since "$t0")
is "exit $crc, $( ((cms < 2000)) && echo within || echo after) 2 s" "exit 75, within 2 s" \
	"link cut: B's check exits 75 within 2 s (exit $crc after $cms ms)"
[ -s "$T/cut.err" ] && diag "B said: $(cat "$T/cut.err")"
tqj record --user K --model m --prompt 3 --key nk4
is "$rc" 0 "A serves on meanwhile"
in_ns ip link set "$if_b" up
t0=$(date +%s%N)
for n in $(seq 300); do
	tq2 record --user K --model m --prompt 3 --key nk3
	[ "$rc" = 0 ] && break
	sleep 0.1
done
is "$rc" 0 "the link back: B serves again by itself ($n tries, $(ms_since "$t0") ms), nk3 retried"
ok "B was not restarted" kill -0 "$TOKQD2_PID"
tqj usage --user K
is "$acked_before $(jqv .periods.all.requests)" "0 4" "A: nk1, nk2, nk3, nk4 each count once"

stop_tokqd2
stop_tokqd
done_testing
