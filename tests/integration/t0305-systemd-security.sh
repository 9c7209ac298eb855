#!/usr/bin/env bash
# The shipped tokqd.service is locked down: `systemd-analyze security`
# rates its exposure at 1.0 or below (with @SBINDIR@ substituted as `make
# install` does), `systemd-analyze verify` stays silent, and the few
# settings the daemon's trust model depends on are as they must be: only
# AF_UNIX sockets, no network, no PrivateUsers= (the admin check reads the
# real uid and groups of each peer), and enough file descriptors for its
# 1024 connections.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need systemd-analyze

units=$TEST_ROOT/systemd
mkdir "$T/units"
cp "$units/tokqd.socket" "$T/units/"
sed "s|@SBINDIR@|$TOKQ_BUILD|" "$units/tokqd.service" >"$T/units/tokqd.service"
[ -x "$TOKQD" ] || bail "tokqd is built" "  no executable $TOKQD: run make first"

(cd "$T/units" && systemd-analyze verify ./tokqd.socket ./tokqd.service) \
	>"$T/verify.out" 2>&1
is "$?" 0 "systemd-analyze verify exits 0"
is "$(cat "$T/verify.out")" "" "and prints no warning"

(cd "$T/units" && systemd-analyze security --offline=true --no-pager ./tokqd.service) \
	>"$T/security.out" 2>&1
if ! grep -q 'Overall exposure level' "$T/security.out"; then
	skip "systemd-analyze security exposure" "this systemd-analyze has no --offline"
else
	level=$(sed -n 's/.*Overall exposure level for tokqd.service: \([0-9.]*\).*/\1/p' \
		"$T/security.out")
	diag "systemd-analyze security exposure: $level"
	diag "what is still open: $(grep '✗' "$T/security.out" | awk '{ print $2 }' | tr '\n' ' ')"
	ok "the exposure level ($level) is 1.0 or below" \
		awk -v l="$level" 'BEGIN { exit !(l != "" && l + 0 <= 1.0) }'
fi

# The drop-in for a PostgreSQL server on another host opens the network,
# IP sockets and the one address, and nothing more: still verified clean,
# and exposure at most 1.5 (the network settings weigh 1.0 in all).
mkdir "$T/units/tokqd.service.d"
cp "$units/tokqd-postgresql.conf" "$T/units/tokqd.service.d/postgresql.conf"
(cd "$T/units" && systemd-analyze verify ./tokqd.socket ./tokqd.service) \
	>"$T/verify-pg.out" 2>&1
is "$?" 0 "with tokqd-postgresql.conf: systemd-analyze verify exits 0"
is "$(cat "$T/verify-pg.out")" "" "and prints no warning"
(cd "$T/units" && systemd-analyze security --offline=true --no-pager ./tokqd.service) \
	>"$T/security-pg.out" 2>&1
if grep -q 'Overall exposure level' "$T/security-pg.out"; then
	level=$(sed -n 's/.*Overall exposure level for tokqd.service: \([0-9.]*\).*/\1/p' \
		"$T/security-pg.out")
	diag "with tokqd-postgresql.conf: exposure $level"
	ok "with tokqd-postgresql.conf the exposure ($level) is 1.5 or below" \
		awk -v l="$level" 'BEGIN { exit !(l != "" && l + 0 <= 1.5) }'
	like "$(grep 'PrivateNetwork=' "$T/security-pg.out")" 'host.s network' \
		"the drop-in is what opened the network"
fi
rm -r "$T/units/tokqd.service.d"
pg=$(cat "$units/tokqd-postgresql.conf")
is "$(sed -n 's/^IPAddressAllow=//p' <<<"$pg" | wc -l)" 1 "the drop-in allows one address list"
is "$(grep -c '^IPAddressDeny=' <<<"$pg")" 0 "and keeps IPAddressDeny=any of the unit"

svc=$(cat "$units/tokqd.service")
# setting NAME: the last value the [Service] section gives NAME.
setting() { sed -n "s/^$1=//p" <<<"$svc" | tail -n 1; }
is "$(setting RestrictAddressFamilies)" AF_UNIX "RestrictAddressFamilies=AF_UNIX"
is "$(setting PrivateNetwork)" yes "PrivateNetwork=yes"
is "$(grep '^CapabilityBoundingSet=' <<<"$svc" | tail -n 1)" "CapabilityBoundingSet=" \
	"CapabilityBoundingSet= is empty: no capabilities at all"
is "$(setting ProtectSystem)" strict "ProtectSystem=strict"
is "$(setting StateDirectory)" tokq "StateDirectory=tokq (the one place it writes)"
is "$(grep -c '^PrivateUsers=' <<<"$svc")" 0 \
	"no PrivateUsers=: peers' real uid and groups decide who is an admin"
nofile=$(setting LimitNOFILE)
nofile=${nofile%%:*}
ok "LimitNOFILE ($nofile) leaves room for 1024 connections and the database" \
	test "${nofile:-0}" -ge 2048
is "$(setting Type)" notify "Type=notify"
like "$(setting WatchdogSec)" '^[0-9]+' "a watchdog"
# MemoryMax= caps tokqd, above what its defaults may use: counters 128 MiB,
# page cache 32 MiB, unfinished frames 64 MiB (max_pending_bytes), + 128 MiB.
mem=$(setting MemoryMax)
case $mem in
*G) mem_mib=$((${mem%G} * 1024)) ;;
*M) mem_mib=${mem%M} ;;
*) mem_mib=0 ;;
esac
ok "MemoryMax=$mem caps tokqd's memory, with room for its defaults (>= 352 MiB)" \
	test "$mem_mib" -ge 352

done_testing
