#!/usr/bin/env bash
# tokqd in a bot's own PostgreSQL database, as a role that logs in with a
# password.  Without the password tokqd does not start, and says so; with
# it in PGPASSFILE tokqd serves, and the password is in no log line, no
# status and not on its command line; even one written into the URI is
# cut out of the log and the status.  tokqd's tables all live in its own
# schema (tokq), beside the bot's table, which stays as it was; with
# db_schema in tokqd.conf another schema is another, separate store.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
pg_own_cluster
# shellcheck source=../pg/cross.sh
. "$TEST_ROOT/tests/pg/cross.sh"
need timeout

PW=sekret-4711-pw
psql_su() { "$pg_bin/psql" -h "$pg_host" -p "$pg_port" -U "$pg_user" -d "$pg_name" -Atq -v ON_ERROR_STOP=1 "$@"; }
psql_su -c "CREATE ROLE bot LOGIN PASSWORD '$PW'" \
	-c "ALTER DATABASE $pg_name OWNER TO bot" \
	-c "CREATE TABLE public.bot_usage (id int PRIMARY KEY, tokens int)" \
	-c "INSERT INTO public.bot_usage VALUES (1, 42), (2, 7)" \
	-c "ALTER TABLE public.bot_usage OWNER TO bot" || bail "the bot's role and table are made"
# The role must give its password, on the socket too.
sed -i '1i local all bot scram-sha-256' "$pg_own/data/pg_hba.conf"
psql_su -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.2	# the postmaster rereads pg_hba.conf on SIGHUP, asynchronously
DB="postgresql:///$pg_name?host=$pg_host&port=$pg_port&user=bot"

# --- no password: no start -------------------------------------------------------------
PGPASSFILE=$T/none timeout 20 "$TOKQD" --socket "$SOCK" --db "$DB" --test-clock >"$T/nopw.out" 2>"$T/nopw.err"
nrc=$?
ok "without its password tokqd does not start (exit $nrc)" test "$nrc" != 0 -a "$nrc" != 124
like "$(cat "$T/nopw.err")" "$pg_name" "it says which database it could not open"
diag "it said: $(head -n 3 "$T/nopw.err")"

# --- the password in PGPASSFILE -----------------------------------------------------------
printf '*:*:*:bot:%s\n' "$PW" >"$T/pgpass"
chmod 600 "$T/pgpass"
export PGPASSFILE=$T/pgpass
start_tokqd
unset PGPASSFILE
tq clock set 2026-12-01T10:00:00Z
tq limit set --user u --tokens 1000
tqj record --user u --model m --prompt 300 --key p1
is "$rc" 0 "with PGPASSFILE tokqd serves: a record"
tqj check --user u --tokens 701
is "$rc $(jqv .limits[0].used)" "1 300" "and a check against it"
tqj status
unlike "$out" "$PW" "status shows no password"
unlike "$(tr '\0' ' ' <"/proc/$TOKQD_PID/cmdline")" "$PW" "the command line holds no password"

# --- beside the bot's tables ---------------------------------------------------------------
is "$(psql_su -c "SELECT string_agg(DISTINCT schemaname, ',' ORDER BY schemaname) FROM pg_tables
	WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")" "public,tokq" \
	"tables in two schemas only: the bot's (public) and tokq"
is "$(psql_su -c "SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'public'")" \
	bot_usage "public holds the bot's table only"
is "$(psql_su -c "SELECT string_agg(id || ':' || tokens, ',' ORDER BY id) FROM public.bot_usage")" \
	"1:42,2:7" "the bot's rows are as they were"

# --- a password in the URI: cut out of log and status ---------------------------------------
DB2="postgresql://bot:$PW@/$pg_name?host=$pg_host&port=$pg_port"
start_tokqd2
tqj2 status
unlike "$out" "$PW" "a password in the URI: status shows none"
like "$(jqv .db)" "$pg_name" "status still names the database"
tqj2 usage --user u
is "$(jqv .periods.all.total)" 300 "B on the same store"
stop_tokqd2

# --- another schema is another store ----------------------------------------------------------
printf 'db_schema = tq_other\n' >"$T/other.conf"
DB2=
export PGPASSFILE=$T/pgpass
start_tokqd2 --config "$T/other.conf"
unset PGPASSFILE
tqj2 usage --user u
is "$rc $(jqv .periods.all.total)" "0 0" "db_schema = tq_other: a store of its own, without u's usage"
is "$(psql_su -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'tq_other'")" \
	"$(psql_su -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'tokq'")" \
	"its tables are in schema tq_other, as many as in tokq"
stop_tokqd2

stop_tokqd
for log in tokqd.log tokqd2.log; do
	unlike "$(cat "$T/$log" "$T/nopw.err" 2>/dev/null)" "$PW" "$log holds no password"
done
done_testing
