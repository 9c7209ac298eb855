#!/usr/bin/env bash
# tokqd in a bot's own PostgreSQL database, as a role that must log in with
# a password (scram-sha-256, on the Unix socket too).  Without the password
# tokqd cannot log in: every request answers 75, nothing kept, and its log
# says why; with the password in PGPASSFILE tokqd serves, and the password
# is in no log line, no status and not on its command line.  tokqd's
# tables all live in its own schema (tokq), beside the bot's table, which
# stays as it was.  (t0507 covers db_schema and a password in the URI.)
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
pg_own_cluster
# shellcheck source=../pg/cross.sh
. "$TEST_ROOT/tests/pg/cross.sh"

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
for _ in $(seq 100); do	# the postmaster rereads pg_hba.conf on SIGHUP, in its own time
	PGPASSFILE=$T/none "$pg_bin/psql" -w -h "$pg_host" -p "$pg_port" -U bot -d "$pg_name" \
		-c 'SELECT 1' >/dev/null 2>&1 || break
	sleep 0.05
done
DB="postgresql:///$pg_name?host=$pg_host&port=$pg_port&user=bot"

# --- no password: 75, and the log says why ----------------------------------------------
PGPASSFILE=$T/none "$TOKQD" --socket "$SOCK" --db "$DB" --test-clock 2>"$T/nopw.err" &
TOKQD_PID=$!
for _ in $(seq 200); do
	tq status
	[ "$rc" != 69 ] && break
	sleep 0.05
done
tq record --user u --model m --prompt 1 --key p0
is "$rc" 75 "without its password: a record answers 75 (nothing kept)"
like "$(cat "$T/nopw.err")" "$pg_name.*password" "the log names the database and the missing password"
diag "it said: $(head -n 3 "$T/nopw.err")"
kill_tokqd

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

# --- a key refused without the password counts once with it ----------------------------------
tqj record --user u --model m --prompt 1 --key p0
is "$rc $(jqv .duplicate)" "0 false" "the record refused without the password: recorded now, once"

stop_tokqd
unlike "$(cat "$T/tokqd.log" "$T/nopw.err")" "$PW" "the logs hold no password"
done_testing
