#!/usr/bin/env bash
# Only admins administer.  Every operation (the reporting ones included) is tried as `nobody` (a real
# other uid, connecting through a socket it may open, as a bot would) and as
# root: the bot operations work for both; every admin operation (and
# record --at) exits 77 for nobody with one stderr line and changes nothing
# an admin can see, then works for root and does change it (so the
# "nothing changed" comparison is one that can fail).  A member of
# admin_group, by supplementary or primary group, is an admin; the same uid
# without the group is not.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq setpriv

# Only the main shell cleans up: lib.sh's watchdog subshells inherit the
# EXIT trap and may run it when killed before they reset it.
trap '[ "$BASHPID" = "$$" ] && _cleanup' EXIT

[ "$(id -u)" = 0 ] || skip_all "needs root to run the client as nobody"
if ! getent passwd nobody >/dev/null || ! getent group nogroup >/dev/null; then
	skip_all "no user nobody / group nogroup"
fi

# nobody must reach the socket: it may traverse $T (not list or write it),
# and the socket (mode 0660, as tokqd makes it) gets the group nogroup, as
# tokqd.socket gives it SocketGroup=tokq.  Nothing else is opened up.
chmod 0711 "$T"

NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

# tqn ARGS...: tq, but as nobody (sets $out, $err, $rc).
tqn() {
	"${NOBODY[@]}" "$TOKQ" --socket "$SOCK" "$@" >"$T/.out" 2>"$T/.err"
	rc=$?
	out=$(<"$T/.out")
	err=$(<"$T/.err")
}

open_socket() {
	chgrp nogroup "$SOCK" && chmod 0660 "$SOCK"
}

# Everything an admin can see of the state, as one line (run as root).
snap() {
	local s='' c
	for c in "limit list" "price list" "plan list" "bypass list"; do
		# shellcheck disable=SC2086
		tqj $c
		s+="$c: $rc $out | "
	done
	tqj status
	s+="status: $(jqv '[.events, .users, .holds, .rules, .now[0:13]] | tostring') | "
	tqj usage --user u1
	s+="u1: $(jqv '[.limits[] | [.used, .limit]] | tostring')"
	echo "$s"
}

start_tokqd
open_socket
tq clock set 2026-12-01T10:00:00Z
is "$rc" 0 "root sets the test clock"

tqn status
is "$rc" 0 "nobody reaches the socket (tokq status exits 0)"
[ "$rc" = 0 ] || bail "nobody can talk to tokqd" "  $err"

unauthorized=0

# admin_op NAME ARGS...: nobody is refused and nothing changes; then root
# succeeds and (for a change) the state differs.
admin_op() {
	local kind=$1
	shift
	local before after
	before=$(snap)
	tqn "$@"
	local nrc=$rc nerr=$err nlines
	nlines=$(stderr_lines)
	after=$(snap)
	is "$nrc" 77 "nobody: tokq $* exits 77"
	is "$nlines" 1 "nobody: tokq $*: one stderr line"
	like "$nerr" 'admin' "nobody: tokq $*: the line says an admin is needed"
	is "$after" "$before" "nobody: tokq $*: nothing changed"
	if [ "$nrc" != 77 ] || [ "$after" != "$before" ]; then
		unauthorized=$((unauthorized + 1))
	fi
	tq "$@"
	is "$rc" 0 "root: tokq $* exits 0"
	if [ "$kind" = change ]; then
		isnt "$(snap)" "$before" "root: tokq $* changed the state"
	fi
}

# any_op WANT ARGS...: nobody and root both get WANT.
any_op() {
	local want=$1
	shift
	tqn "$@"
	is "$rc" "$want" "nobody: tokq $* exits $want"
	tq "$@"
	is "$rc" "$want" "root: tokq $* exits $want"
}

# The bot operations: open to anyone who can open the socket.
any_op 0 status
any_op 0 check --user u1 --model m1 --tokens 10
any_op 0 usage --user u1
tqn record --user u1 --model m1 --prompt 100 --completion 5 --key n-1
is "$rc" 0 "nobody: tokq record exits 0"
tq record --user u1 --model m1 --prompt 100 --completion 5 --key r-1
is "$rc" 0 "root: tokq record exits 0"
tqj usage --user u1
is "$(jqv .periods.all.total)" 210 "both records counted: 210 tokens"
for who in nobody root; do
	if [ $who = nobody ]; then tqn --json check --user u1 --tokens 5 --reserve
	else tqj check --user u1 --tokens 5 --reserve; fi
	is "$rc" 0 "$who: tokq check --reserve exits 0"
	hold=$(jqv .hold)
	if [ $who = nobody ]; then tqn release "$hold"; else tq release "$hold"; fi
	is "$rc" 0 "$who: tokq release of that hold exits 0"
done

# The admin operations, each refused for nobody, then done by root.
admin_op change limit set --user u1 --tokens 1000 --per 30d
admin_op read limit list
admin_op read limit list --user u1
admin_op change plan assign --user u1 gold
admin_op read plan list
admin_op change plan unassign --user u1
admin_op change bypass add --user u1
admin_op read bypass list
admin_op change bypass rm --user u1
admin_op change bypass add --guild g1
admin_op change price set gpt-x --input 1 --output 2 --cached 0.5
admin_op read price list
admin_op change price rm gpt-x
admin_op change reset --user u1
admin_op change record --user u1 --model m1 --prompt 7 --at 2026-12-01T09:00:00Z
admin_op change clock advance 1d
# (forward, and within the retention: maintenance must not change the
# state between two snapshots)
admin_op change clock set 2026-12-03T00:00:00Z
admin_op change limit rm --user u1 --tokens --per 30d
# The reporting commands (admin: they show every user's usage) and import.
admin_op read stats
admin_op read report
admin_op read log
admin_op read export --format jsonl
printf '%s\n' '{"at":"2026-12-03T06:00:00Z","user":"u9","model":"m1","prompt":3,"completion":1}' \
	>"$T/import.jsonl"
chmod 0644 "$T/import.jsonl"
admin_op change import --format jsonl "$T/import.jsonl"

# An admin-only argument smuggled into a bot operation through the raw
# protocol, and an op name in another case: refused too.
PYTHON=$(command -v /usr/bin/python3 || command -v python3)
if [ -n "$PYTHON" ]; then
	cat >"$T/raw.py" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
body = bytes.fromhex(sys.argv[2])
s.sendall(struct.pack('>I', len(body)) + body)
hdr = s.recv(4)
n = struct.unpack('>I', hdr)[0]
buf = b''
while len(buf) < n:
    buf += s.recv(n - len(buf))
# the reply map starts {"v":1,"code":N: fixmap, a1 76 01, a4 code, N
i = buf.find(b'\xa4code')
print(buf[i + 5] if i >= 0 else 'no-code')
PY
	chmod 0644 "$T/raw.py"
	# {"v":1,"op":"limit_set","selector":"global","metric":"tokens","limit":1}
	ls_hex=85a17601a26f70a96c696d69745f736574a873656c6563746f72a6676c6f62616ca66d6574726963a6746f6b656e73a56c696d697401
	before=$(snap)
	got=$("${NOBODY[@]}" "$PYTHON" "$T/raw.py" "$SOCK" "$ls_hex" 2>&1)
	is "$got" 3 "nobody, raw protocol: limit_set gets code 3 (permission)"
	is "$(snap)" "$before" "and changes nothing"
	[ "$got" = 3 ] || unauthorized=$((unauthorized + 1))
else
	skip "raw protocol as nobody" "no python3"
fi

diag "unauthorized successes: $unauthorized"
is "$unauthorized" 0 "no admin operation succeeded for nobody"

# ---- admin_group ---------------------------------------------------------------
stop_tokqd
GRP=tokqt$$
if groupadd "$GRP" 2>/dev/null; then
	trap '[ "$BASHPID" = "$$" ] && { _cleanup; groupdel "$GRP" 2>/dev/null; }' EXIT
	printf 'admin_group = %s\n' "$GRP" >"$T/tokqd.conf"
	start_tokqd --config "$T/tokqd.conf"
	open_socket
	before=$(snap)
	tqn limit set --global --tokens 5
	is "$rc" 77 "nobody without $GRP: still 77"
	is "$(snap)" "$before" "and nothing changed"
	"${NOBODY[@]:0:2}" --regid=nogroup --groups "$GRP" \
		"$TOKQ" --socket "$SOCK" limit set --global --tokens 5 >"$T/.out" 2>"$T/.err"
	is "$?" 0 "nobody with supplementary group $GRP: limit set exits 0"
	tqj limit list --global
	is "$(jqv '.rules | length')" 1 "and the rule is there"
	# Primary group $GRP; nogroup as a supplementary only to open the socket.
	"${NOBODY[@]:0:2}" --regid="$GRP" --groups nogroup \
		"$TOKQ" --socket "$SOCK" limit rm --global --tokens >"$T/.out" 2>"$T/.err"
	src=$?
	is "$src" 0 "nobody with primary group $GRP: limit rm exits 0"
	tqj limit list --global
	is "$(jqv '.rules | length')" 0 "and the rule is gone"
	stop_tokqd
else
	skip "admin_group membership" "groupadd is not allowed here"
fi

done_testing
