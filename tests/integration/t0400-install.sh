#!/usr/bin/env bash
# make install puts every file where a Linux system looks for it, with
# modes 0755 (programs) and 0644 (data), substitutes @SBINDIR@ in the
# units, installs units that systemd-analyze verify accepts and a
# sysusers.d file that creates the user and groups the units name; make
# uninstall removes every file it installed.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need make

# make_in ARGS...: make in the source tree, with this run's build directory.
make_in() {
	make -s --no-print-directory -C "$TEST_ROOT" B="$TOKQ_BUILD" "$@" >"$T/make.out" 2>&1
}

dest=$T/dest
make_in install DESTDIR="$dest" PREFIX=/usr
is "$?" 0 "make install DESTDIR=… PREFIX=/usr succeeds" || diag "$(<"$T/make.out")"

expect=(
	"755 usr/bin/tokq"
	"755 usr/sbin/tokqd"
	"644 usr/lib/systemd/system/tokqd.socket"
	"644 usr/lib/systemd/system/tokqd.service"
	"644 usr/lib/sysusers.d/tokq.conf"
	"644 usr/share/man/man1/tokq.1"
	"644 usr/share/man/man5/tokqd.conf.5"
	"644 usr/share/man/man8/tokqd.8"
	"644 usr/share/bash-completion/completions/tokq"
	"644 usr/share/doc/tokq/tokqd.conf.example"
	"644 usr/share/doc/tokq/examples/python_bot.py"
	"644 usr/share/doc/tokq/examples/node_bot.js"
)
for e in "${expect[@]}"; do
	f=${e#* }
	is "$(stat -c %a "$dest/$f" 2>/dev/null || echo missing)" "${e%% *}" "$f: installed, mode ${e%% *}"
done
got=$(cd "$dest" && find . -type f -printf '%P\n' | sort)
want=$(printf '%s\n' "${expect[@]#* }" | sort)
is "$got" "$want" "nothing else is installed (nothing in /etc, no database)"
is "$(cd "$dest" && find . -type d ! -perm 755 -printf '%P\n')" "" "the directories it made are mode 0755"

svc=$dest/usr/lib/systemd/system/tokqd.service
is "$(grep -c '@SBINDIR@' "$svc")" 0 "no @SBINDIR@ is left in the installed service"
is "$(grep '^ExecStart=' "$svc")" "ExecStart=/usr/sbin/tokqd" "ExecStart is \$(PREFIX)/sbin/tokqd"
ok "the installed programs are the built ones" cmp -s "$dest/usr/bin/tokq" "$TOKQ"
ok "the installed completion is completion/tokq.bash" \
	cmp -s "$dest/usr/share/bash-completion/completions/tokq" "$TEST_ROOT/completion/tokq.bash"

# --- sysusers.d: the user and groups the units and tokqd.conf name -------------
if command -v systemd-sysusers >/dev/null 2>&1; then
	mkdir -p "$T/sysroot/etc"
	systemd-sysusers --root="$T/sysroot" "$dest/usr/lib/sysusers.d/tokq.conf" >"$T/sysusers.out" 2>&1
	is "$?" 0 "systemd-sysusers accepts tokq.conf"
	like "$(cut -d: -f1,6,7 "$T/sysroot/etc/passwd")" '(^|'$'\n'')tokq:/var/lib/tokq:/usr/sbin/nologin($|'$'\n'')' \
		"  it creates the system user tokq (home /var/lib/tokq, no login shell)"
	uid=$(awk -F: '$1 == "tokq" { print $3 }' "$T/sysroot/etc/passwd")
	ok "  a system uid (< 1000)" test -n "$uid" -a "${uid:-1000}" -lt 1000
	gid=$(awk -F: '$1 == "tokq" { print $4 }' "$T/sysroot/etc/passwd")
	is "$(awk -F: -v g="$gid" '$3 == g { print $1 }' "$T/sysroot/etc/group")" tokq \
		"  whose primary group is tokq"
	like "$(cut -d: -f1 "$T/sysroot/etc/group")" $'(^|\n)tokq-admin($|\n)' "  and the group tokq-admin"
	# What the units use, sysusers creates.
	for kv in "User=tokq" "Group=tokq"; do
		like "$(<"$svc")" $'\n'"$kv"$'\n' "  tokqd.service has $kv"
	done
	like "$(<"$dest/usr/lib/systemd/system/tokqd.socket")" $'\nSocketGroup=tokq\n' "  tokqd.socket has SocketGroup=tokq"
else
	skip "sysusers.d" "systemd-sysusers is not installed"
fi

# --- the installed units verify ---------------------------------------------------
# systemd 252's `systemd-analyze verify --root=DESTDIR` looks for everything in
# DESTDIR (sysinit.target, /bin/kill), so it fails on any bare DESTDIR.  We
# verify the installed unit files by path instead, from an install whose
# ExecStart points at a tokqd that exists: PREFIX=$T/prefix, no DESTDIR.
if command -v systemd-analyze >/dev/null 2>&1; then
	make_in install PREFIX="$T/prefix"
	is "$?" 0 "make install PREFIX=$T/prefix succeeds"
	units=$T/prefix/lib/systemd/system
	is "$(grep '^ExecStart=' "$units/tokqd.service")" "ExecStart=$T/prefix/sbin/tokqd" \
		"  its ExecStart is that prefix's tokqd"
	(cd "$units" && systemd-analyze verify ./tokqd.socket ./tokqd.service) >"$T/verify.out" 2>&1
	is "$?" 0 "systemd-analyze verify accepts the installed units"
	is "$(<"$T/verify.out")" "" "  without a warning"
	make_in uninstall PREFIX="$T/prefix"
	is "$(find "$T/prefix" -type f)" "" "make uninstall PREFIX=… leaves no file"
else
	skip "systemd-analyze verify" "systemd-analyze is not installed"
fi

# --- uninstall ----------------------------------------------------------------------
touch "$dest/usr/bin/other-program"
make_in uninstall DESTDIR="$dest" PREFIX=/usr
is "$?" 0 "make uninstall DESTDIR=… PREFIX=/usr succeeds"
is "$(cd "$dest" && find . -type f -printf '%P\n')" "usr/bin/other-program" \
	"it removes every file it installed, and only those"
ok "and the doc directory it made" test ! -e "$dest/usr/share/doc/tokq"
make_in uninstall DESTDIR="$dest" PREFIX=/usr
is "$?" 0 "make uninstall again (nothing there) succeeds"

done_testing
