#!/usr/bin/env bash
# Where a PostgreSQL store comes from, and what is shown of it: `db =` in
# tokqd.conf selects it (without --db or $TOKQ_DB); `db_schema =` keeps a
# daemon's tables in a schema of its own, a separate set of quotas in the
# same database; a password in the URI reaches neither `tokq status` nor
# the log; a bad schema name is a configuration error naming its line.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
[ -n "${TOKQ_TEST_PG:-}" ] || skip_all "PostgreSQL store only (TOKQ_TEST_PG is not set)"

psql_q() { "$pg_bin/psql" -X -A -t -q -h "$pg_host" -p "$pg_port" -U "$pg_user" -d "$pg_name" -c "$1"; }

# --- db = in tokqd.conf -------------------------------------------------------------
printf 'db = %s\n' "$DB" >"$T/a.conf"
"$TOKQD" --socket "$SOCK" --config "$T/a.conf" --test-clock 2>>"$T/tokqd.log" &
TOKQD_PID=$!
wait_for_status "$TOKQD_PID" || bail "tokqd with db = in its config answers"
tqj status
is "$(jqv .db)" "$DB" "status: the database is the config's URI"
tq limit set --user U --tokens 100 --per day
tq record --user U --model m --prompt 60 --completion 0
is "$rc" 0 "a record is kept"
is "$(psql_q 'SELECT count(*) FROM tokq.events')" 1 "in the schema tokq of that database"
tq check --user U --tokens 41
is "$rc" 1 "the limit holds: 41 more denied"

# --- db_schema = another: the same database, a quota of its own ---------------------
printf 'db = %s\ndb_schema = bot_b\n' "$DB" >"$T/b.conf"
"$TOKQD" --socket "$SOCK2" --config "$T/b.conf" --test-clock 2>>"$T/tokqd2.log" &
TOKQD2_PID=$!
SOCK=$SOCK2 wait_for_status "$TOKQD2_PID" || bail "tokqd with db_schema = bot_b answers"
tq2 check --user U --tokens 41
is "$rc" 0 "db_schema = bot_b: no rule of schema tokq applies"
tqj2 limit list
is "$(jqv ".rules | length")" 0 "and its limit list is empty"
tq2 record --user U --model m --prompt 5 --completion 0
is "$(psql_q 'SELECT count(*) FROM bot_b.events') $(psql_q 'SELECT count(*) FROM tokq.events')" \
	"1 1" "each schema holds its own events"
kill_tokqd2
kill_tokqd

# --- a password never shown -----------------------------------------------------------
# Trust authentication accepts any password: the URI carries one all the same.
secret=s3cret-pw
uri="postgresql://$pg_user:$secret@/$pg_name?host=$pg_host&port=$pg_port"
"$TOKQD" --socket "$SOCK" --db "$uri" --test-clock -v 2>>"$T/tokqd.log" &
TOKQD_PID=$!
wait_for_status "$TOKQD_PID" || bail "tokqd with a password in its URI answers"
tqj status
is "$(jqv .db)" "postgresql://$pg_user@/$pg_name?host=$pg_host&port=$pg_port" \
	"status: the URI without its password"
tq status
unlike "$out" "$secret" "tokq status (text) shows no password"
stop_tokqd
ok "tokqd.log holds no password" bash -c "! grep -q '$secret' '$T/tokqd.log'"
like "$(cat "$T/tokqd.log")" "ready on" "(the log is there: tokqd said it was ready)"
"$TOKQD" --socket "$SOCK" --db "postgresql:///$pg_name?host=$pg_host&port=$pg_port&user=$pg_user&password=$secret" \
	--test-clock 2>>"$T/tokqd.log" &
TOKQD_PID=$!
wait_for_status "$TOKQD_PID" || bail "tokqd with password= in its URI answers"
tqj status
unlike "$(jqv .db)" "$secret" "status: a password= parameter is cut out too"
stop_tokqd
ok "and the log holds none" bash -c "! grep -q '$secret' '$T/tokqd.log'"

# --- a bad schema name -----------------------------------------------------------------
printf 'db_schema = Bad-Name\n' >"$T/bad.conf"
"$TOKQD" -n --config "$T/bad.conf" >"$T/n.out" 2>"$T/n.err"
is "$?" 1 "db_schema = Bad-Name: tokqd -n exits 1"
like "$(cat "$T/n.err")" "bad.conf:1" "naming the file and line"

done_testing
