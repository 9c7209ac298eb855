#!/usr/bin/env bash
# Admin commands through tokq batch: the permission is the batch process's,
# as for tokq itself (contract: Who may do what).  Root's batch sets limits
# and prices; a batch run as nobody is answered 77 for every admin command,
# nothing changes, and its bot commands are served on the same connection.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need jq setpriv

trap '[ "$BASHPID" = "$$" ] && _cleanup' EXIT
[ "$(id -u)" = 0 ] || skip_all "needs root to run the client as nobody"
if ! getent passwd nobody >/dev/null || ! getent group nogroup >/dev/null; then
	skip_all "no user nobody / group nogroup"
fi
chmod 0711 "$T"
NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

start_tokqd
chgrp nogroup "$SOCK" && chmod 0660 "$SOCK"
tq clock set 2026-12-10T12:00:00Z

cat >"$T/admin" <<'L'
["limit","set","--default","--tokens","500"]
["price","set","m","--input","1","--output","2"]
["limit","list"]
["check","--user","u1","--tokens","400"]
["stats"]
["clock","advance","1h"]
L

# As root: every admin command is served.
"$TOKQ" --socket "$SOCK" batch <"$T/admin" >"$T/root.ans" 2>"$T/root.err"
is "$?" 0 "root's batch exits 0"
is "$(jq -c .exit "$T/root.ans" | tr '\n' ' ')" "0 0 0 0 0 0 " "root: every admin command answers 0"
is "$(sed -n 3p "$T/root.ans" | jq -c '[.rules[] | [.selector, .limit]]')" '[["default",500]]' \
	"root: the rule set in the batch is listed by it"

# As nobody: the admin commands answer 77, the bot commands 0 or 1.
cat >"$T/nobody" <<'L'
["limit","set","--default","--tokens","1"]
["check","--user","u2","--tokens","400"]
["price","rm","m"]
["limit","list"]
["check","--user","u2","--tokens","600"]
["stats"]
["clock","advance","1h"]
["usage","--user","u2"]
["record","--user","u2","--model","m","--prompt","5","--at","2026-12-01"]
L
"${NOBODY[@]}" "$TOKQ" --socket "$SOCK" batch <"$T/nobody" >"$T/nobody.ans" 2>"$T/nobody.err"
is "$?" 0 "nobody's batch exits 0"
is "$(jq -c .exit "$T/nobody.ans" | tr '\n' ' ')" "77 0 77 77 1 77 77 0 77 " \
	"nobody: admin commands 77, check 0 and 1, usage 0, in order"
like "$(sed -n 1p "$T/nobody.ans" | jq -r .error)" "^limit set needs an admin" \
	"77: the error says an admin is needed"
"${NOBODY[@]}" "$TOKQ" --socket "$SOCK" limit set --default --tokens 1 >/dev/null 2>"$T/one.err"
is "$(sed -n 1p "$T/nobody.ans" | jq -r .error)" "$(sed 's/^tokq: //' "$T/one.err")" \
	"77: the same words as tokq limit set run as nobody"
is "$(sed -n 9p "$T/nobody.ans" | jq -r .error)" "record: only an admin may give --at" \
	"an admin-only flag: 77 in the command's words"
is "$(<"$T/nobody.err")" "" "nothing on stderr"
tqj limit list
is "$(jqv '[.rules[] | [.selector, .limit]]')" '[["default",500]]' "nobody changed nothing"
tqj price list
like "$out" '"m"' "the price nobody tried to remove is still there"

done_testing
