#!/usr/bin/env bash
# Every figure in `tokq status` stays true through prune, rollover, reset
# and import: events (the raw events the database holds, as log and export
# see them), events_all_time (every event ever recorded), users (every
# user ever recorded), holds (active ones), db_bytes (the database's size),
# and last/next rollover and prune, which follow the daemon's clock, the
# test clock included, also when it is set back.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq stat

fig() { tqj status; jqv "[$1] | map(tostring) | join(\" \")"; }
exported() { "$TOKQ" --socket "$SOCK" export | grep -c .; }
kept() { "$TOKQ" --socket "$SOCK" --json status | jq -r .events; }

# A new database meets its first maintenance at the real time; the test
# clock then goes back years: every time status shows is on that clock.
start_tokqd
tq clock set 2020-06-10T10:00:00Z
tqj status
like "$(jqv .last_rollover)" '^2020-06-10T10:00:0[0-9]Z$' \
	"last_rollover follows the clock set back (not the real time of the first round)"
is "$(jqv .next_rollover)" 2020-07-01T00:00:00Z "next_rollover: the next 1st"
like "$(jqv .last_prune)" '^2020-06-10T10:00:0[0-9]Z$' "last_prune on the test clock"
like "$(jqv .next_prune)" '^2020-06-10T10:01:0[0-9]Z$' "next_prune a minute on"
is "$(fig '.events, .events_all_time, .users, .holds')" "0 0 0 0" "an empty database: zeros"

for u in a a b c c; do
	tq record --user "$u" --model m --prompt 10
done
is "$(fig '.events, .events_all_time, .users')" "5 5 3" "5 events of 3 users"
is "$(exported)" 5 "export shows the 5 events status counts"

# holds: counted while active
tq check --user a --tokens 5 --reserve --ttl 60
is "$(fig .holds)" 1 "a hold placed: holds 1"
tq clock advance 61s
is "$(fig .holds)" 0 "the hold expired: holds 0"

# reset: the history stays
tq reset --user a
is "$(fig '.events, .events_all_time, .users')" "5 5 3" "reset keeps every figure"

# import: one recent event of a new user, one older than the retention,
# which the next maintenance prunes
cat >"$T/imp.jsonl" <<'JSONL'
{"at":"2020-06-10T09:00:00Z","user":"d","model":"m","prompt":7}
{"at":"2020-04-01T09:00:00Z","user":"d","model":"m","prompt":7}
JSONL
tq import "$T/imp.jsonl"
is "$rc" 0 "import of two events"
tq clock advance 1m
is "$(fig '.events, .events_all_time, .users')" "6 7 4" \
	"after import and prune: 6 kept, 7 all-time, 4 users"
is "$(exported)" 6 "export shows the 6 events status counts"

# prune and rollover: 31 days on, every raw event has gone
tq clock set 2020-07-11T10:00:00Z
is "$(fig '.events, .events_all_time, .users')" "0 7 4" \
	"31 days on: no raw event kept, 7 all-time, 4 users"
is "$(exported)" 0 "export shows none"
tqj log
is "$(jqv '.events | length')" 0 "log shows none"
like "$(fig .last_rollover)" '^2020-07-11T10:00:0[0-9]Z$' "the July rollover ran when the clock reached it"
is "$(fig .next_rollover)" 2020-08-01T00:00:00Z "next_rollover: August 1st"
like "$(fig .last_prune)" '^2020-07-11T10:00:0[0-9]Z$' "last_prune: now"

# the clock set back before the last rollover: status never shows one ahead of now
tq clock set 2020-05-02T00:00:00Z
tqj status
like "$(jqv .last_rollover)" '^2020-05-02T00:00:0[0-9]Z$' "clock set back: last_rollover is not in the future"
is "$(jqv .next_rollover)" 2020-06-01T00:00:00Z "next_rollover: June 1st"
like "$(jqv .last_prune)" '^2020-05-02T00:00:0[0-9]Z$' "last_prune not in the future either"

# db_bytes is the database's size: the file's, once closed and opened again
requires_sqlite "db_bytes against the SQLite file's size"
stop_tokqd
size=$(stat -c %s "$DB")
start_tokqd
is "$(fig .db_bytes)" "$size" "db_bytes: the size of the database file ($size)"
is "$(fig '.events, .events_all_time, .users')" "0 7 4" "a restart keeps every figure"

stop_tokqd
done_testing
