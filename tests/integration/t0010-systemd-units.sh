#!/usr/bin/env bash
# The shipped units are valid: systemd-analyze verify accepts tokqd.socket
# and tokqd.service (with @SBINDIR@ substituted as `make install` does)
# without a warning, and the service is locked down.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

units=$TEST_ROOT/systemd
if ! command -v systemd-analyze >/dev/null 2>&1; then
	skip "systemd-analyze verify" "systemd-analyze is not installed"
	done_testing
fi
[ -x "$TOKQD" ] || bail "tokqd is built" "  no executable $TOKQD: run make first"

mkdir "$T/units"
cp "$units/tokqd.socket" "$T/units/"
sed "s|@SBINDIR@|$TOKQ_BUILD|" "$units/tokqd.service" >"$T/units/tokqd.service"

ok "no @SBINDIR@ is left after the substitution" \
	test "$(grep -c '@SBINDIR@' "$T/units/tokqd.service")" = 0
like "$(grep '^ExecStart=' "$T/units/tokqd.service")" "^ExecStart=$TOKQ_BUILD/tokqd\$" \
	"ExecStart runs the built tokqd"

(cd "$T/units" && systemd-analyze verify ./tokqd.socket ./tokqd.service) \
	>"$T/verify.out" 2>"$T/verify.err"
rc=$?
is "$rc" 0 "systemd-analyze verify exits 0"
is "$(cat "$T/verify.out" "$T/verify.err")" "" "and prints no warning"

# The socket and service agree with the contract.
sock=$(cat "$units/tokqd.socket")
svc=$(cat "$units/tokqd.service")
like "$sock" $'\nListenStream=/run/tokq/tokq.sock\n' "the socket is /run/tokq/tokq.sock"
like "$sock" $'\nSocketGroup=tokq\n' "owned by group tokq"
like "$sock" $'\nSocketMode=0660\n' "mode 0660: root and group tokq only"
like "$svc" $'\nType=notify\n' "the service is Type=notify"
like "$svc" $'\nWatchdogSec=' "with a watchdog"
like "$svc" $'\nStateDirectory=tokq\n' "its database lives in StateDirectory=tokq"

# systemd-analyze security --offline exists since systemd 250.
(cd "$T/units" && systemd-analyze security --offline=true --no-pager ./tokqd.service) \
	>"$T/security.out" 2>"$T/security.err"
if grep -q 'Overall exposure' "$T/security.out"; then
	level=$(sed -n 's/.*Overall exposure level for tokqd.service: \([0-9.]*\).*/\1/p' "$T/security.out")
	diag "systemd-analyze security: exposure $level"
	ok "systemd-analyze security rates the service's exposure below 2.0" \
		awk -v l="$level" 'BEGIN { exit !(l != "" && l + 0 < 2.0) }'
else
	skip "systemd-analyze security" "this systemd-analyze has no --offline"
fi

done_testing
