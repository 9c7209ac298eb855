/*
 * store_pg_sql.c: the PostgreSQL store's SQL: the schema's migrations and
 * every statement, prepared on each connection from the one table below.
 *
 * The tables are the SQLite store's (store_db.c), in a schema of their own
 * (env.db_schema, default "tokq"), with these differences:
 *  - the user's column is user_id (USER is reserved); every text column is
 *    COLLATE "C", so that orders and comparisons are byte orders, as in
 *    SQLite and in quota.c's memory;
 *  - a record's counters' buckets are written in its round's transaction
 *    (in bulk, store_pg_log.c), and so are its event, daily row, user's
 *    hour and user when the daemon is alone: there is no 'totals_through'
 *    and no replay; with other daemons there, the round's events go in as
 *    an outbox row, whose reports are written after the commit, outside
 *    the write lock (schema 4), or first by whatever reads or changes the
 *    reports;
 *  - users: each user with a daily row, for status's count;
 *  - journal: what each commit changed that another daemon keeps in
 *    memory, by generation (store_pg.c), a counter's row with the bucket
 *    it added; meta 'gen' is the last generation, 'journal_floor' the
 *    last one pruned or not journaled (a daemon alone), 'next_id' the id of
 *    the next event (ids are given under the write lock: one record's
 *    events have consecutive ids, which store_events_sum relies on).
 * Sums saturate (clamp64 of a numeric sum, sadd), never wrap nor fail.
 *
 * Version n of the schema is pg_migrations[0..n-1]; meta 'schema_version'
 * counts the steps applied.  Append, never edit.
 */
#include "store_pg_sql.h"

#define USAGE_COLS \
	"requests, prompt, completion, total, cached, cache_write, reasoning, cost"
#define USAGE_SUMS \
	"COALESCE(clamp64(SUM(requests)), 0), COALESCE(clamp64(SUM(prompt)), 0)," \
	" COALESCE(clamp64(SUM(completion)), 0), COALESCE(clamp64(SUM(total)), 0)," \
	" COALESCE(clamp64(SUM(cached)), 0), COALESCE(clamp64(SUM(cache_write)), 0)," \
	" COALESCE(clamp64(SUM(reasoning)), 0), COALESCE(clamp64(SUM(cost)), 0)"
#define USAGE_ADD(t) \
	"requests = sadd(" t ".requests, excluded.requests)," \
	" prompt = sadd(" t ".prompt, excluded.prompt)," \
	" completion = sadd(" t ".completion, excluded.completion)," \
	" total = sadd(" t ".total, excluded.total)," \
	" cached = sadd(" t ".cached, excluded.cached)," \
	" cache_write = sadd(" t ".cache_write, excluded.cache_write)," \
	" reasoning = sadd(" t ".reasoning, excluded.reasoning)," \
	" cost = sadd(" t ".cost, excluded.cost)"
/* Eight bigint arrays, the usage columns', as $a..$h. */
#define USAGE_ARRAYS(a, b, c, d, e, f, g, h) \
	"$" #a "::bigint[], $" #b "::bigint[], $" #c "::bigint[], $" #d "::bigint[]," \
	" $" #e "::bigint[], $" #f "::bigint[], $" #g "::bigint[], $" #h "::bigint[]"
#define USAGE_SET \
	"requests = excluded.requests, prompt = excluded.prompt," \
	" completion = excluded.completion, total = excluded.total," \
	" cached = excluded.cached, cache_write = excluded.cache_write," \
	" reasoning = excluded.reasoning, cost = excluded.cost"
#define USAGE_TYPES \
	"requests bigint NOT NULL, prompt bigint NOT NULL," \
	" completion bigint NOT NULL, total bigint NOT NULL," \
	" cached bigint NOT NULL, cache_write bigint NOT NULL," \
	" reasoning bigint NOT NULL, cost bigint NOT NULL"
/* The events of the outbox rows o, as rows of events' columns (EVENT_COLS). */
#define EVENT_COLS \
	"at, user_id, guild, channel, model, service, kind, session, call, meta, " \
	USAGE_COLS ", id"
#define OUTBOX_EVENTS \
	"SELECT u.* FROM o, unnest(o.at, o.user_id, o.guild, o.channel," \
	" o.model, o.service, o.kind, o.session, o.call, o.meta, o.requests," \
	" o.prompt, o.completion, o.total, o.cached, o.cache_write, o.reasoning," \
	" o.cost, o.ids) AS u(" EVENT_COLS ")"
/* The reports' writes run unless an outbox_claim before them found nothing. */
#define CLAIMED	"current_setting('tokq.claimed', true) IS DISTINCT FROM '0'"
#define TEXT	"text COLLATE \"C\""

const char *const pg_migrations[] = {
	/* 1: the initial schema */
	"CREATE FUNCTION clamp64(x numeric) RETURNS bigint LANGUAGE sql"
	"  IMMUTABLE PARALLEL SAFE AS"
	"  'SELECT (CASE WHEN x > 9223372036854775807 THEN 9223372036854775807"
	"  WHEN x < -9223372036854775808 THEN -9223372036854775808 ELSE x END)::bigint';"
	"CREATE FUNCTION sadd(a bigint, b bigint) RETURNS bigint LANGUAGE sql"
	"  IMMUTABLE PARALLEL SAFE AS 'SELECT clamp64(a::numeric + b)';"
	"CREATE TABLE events ("
	"  id bigint PRIMARY KEY, at bigint NOT NULL, user_id " TEXT " NOT NULL,"
	"  guild " TEXT ", channel " TEXT ", model " TEXT ", service " TEXT ","
	"  kind " TEXT ", session " TEXT ", call bigint, meta text, "
	USAGE_TYPES ");"
	"CREATE INDEX events_at ON events(at, id);"
	"CREATE INDEX events_user_at ON events(user_id, at, id);"
	"CREATE TABLE daily ("
	"  day bigint NOT NULL, user_id " TEXT " NOT NULL, guild " TEXT " NOT NULL,"
	"  model " TEXT " NOT NULL, service " TEXT " NOT NULL, kind " TEXT " NOT NULL, "
	USAGE_TYPES ","
	"  PRIMARY KEY (day, user_id, guild, model, service, kind));"
	"CREATE INDEX daily_user_day ON daily(user_id, day);"
	"CREATE INDEX daily_guild_day ON daily(guild, day);"
	"CREATE TABLE hourly ("
	"  hour bigint NOT NULL, user_id " TEXT " NOT NULL, " USAGE_TYPES ","
	"  first bigint NOT NULL, last bigint NOT NULL,"
	"  PRIMARY KEY (hour, user_id));"
	"CREATE INDEX hourly_user_hour ON hourly(user_id, hour);"
	"CREATE TABLE monthly ("
	"  month bigint NOT NULL, user_id " TEXT " NOT NULL, guild " TEXT " NOT NULL,"
	"  model " TEXT " NOT NULL, " USAGE_TYPES ","
	"  PRIMARY KEY (month, user_id, guild, model));"
	"CREATE TABLE users (user_id " TEXT " PRIMARY KEY);"
	"CREATE TABLE keys ("
	"  key " TEXT " PRIMARY KEY, fp bigint NOT NULL, first bigint NOT NULL,"
	"  count bigint NOT NULL, created bigint NOT NULL);"
	"CREATE INDEX keys_created ON keys(created);"
	"CREATE TABLE buckets ("
	"  scope integer NOT NULL, subject " TEXT " NOT NULL, model " TEXT " NOT NULL,"
	"  start bigint NOT NULL, span bigint NOT NULL, tokens bigint NOT NULL,"
	"  cost bigint NOT NULL, requests bigint NOT NULL,"
	"  PRIMARY KEY (scope, subject, model, start, span));"
	"CREATE INDEX buckets_span_start ON buckets(span, start);"
	"CREATE TABLE rules ("
	"  sel integer NOT NULL, subject " TEXT " NOT NULL, model " TEXT " NOT NULL,"
	"  metric integer NOT NULL, wkind integer NOT NULL, wsecs bigint NOT NULL,"
	"  lim bigint NOT NULL,"
	"  PRIMARY KEY (sel, subject, model, metric, wkind, wsecs));"
	"CREATE TABLE plans (user_id " TEXT " PRIMARY KEY, plan " TEXT " NOT NULL);"
	"CREATE TABLE bypass ("
	"  guild integer NOT NULL, id " TEXT " NOT NULL, PRIMARY KEY (guild, id));"
	"CREATE TABLE prices ("
	"  model " TEXT " PRIMARY KEY, input bigint NOT NULL, output bigint NOT NULL,"
	"  cached bigint NOT NULL, cache_write bigint NOT NULL);"
	"CREATE TABLE holds ("
	"  id " TEXT " PRIMARY KEY, created bigint NOT NULL, expires bigint NOT NULL,"
	"  user_id " TEXT " NOT NULL, guild " TEXT ", model " TEXT ","
	"  tokens bigint NOT NULL, cost bigint NOT NULL);"
	"CREATE TABLE journal ("
	"  gen bigint NOT NULL, kind integer NOT NULL, scope integer,"
	"  subject " TEXT ", model " TEXT ", hold " TEXT ","
	"  at timestamptz NOT NULL DEFAULT clock_timestamp());"
	"CREATE INDEX journal_gen ON journal(gen);"
	"CREATE INDEX journal_at ON journal(at);"
	"INSERT INTO meta(name, val) VALUES ('gen', 0), ('journal_floor', 0),"
	"  ('next_id', 1), ('daily_requests', 0), ('events_pruned', 0)"
	"  ON CONFLICT (name) DO NOTHING;",
	/*
	 * 2: a counter's journal row may carry the bucket added to it, which
	 * other daemons add to their memory rather than reload the counter
	 * (a row without one still means: reload it).
	 */
	"ALTER TABLE journal ADD COLUMN start bigint, ADD COLUMN span bigint,"
	"  ADD COLUMN tokens bigint, ADD COLUMN cost bigint,"
	"  ADD COLUMN requests bigint;",
	/*
	 * 3: sadd in bigint arithmetic, not numeric (the upserts of every
	 * round run it for each amount): the same saturating sum.  Each bound
	 * is computed without overflow whatever the signs, as SQL does not
	 * promise to test the conditions in order.
	 */
	"CREATE OR REPLACE FUNCTION sadd(a bigint, b bigint) RETURNS bigint"
	"  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS"
	"  'SELECT CASE WHEN a > 9223372036854775807 - GREATEST(b, 0)"
	"  THEN 9223372036854775807"
	"  WHEN a < ''-9223372036854775808''::bigint - LEAST(b, 0)"
	"  THEN ''-9223372036854775808''::bigint ELSE a + b END';",
	/*
	 * 4: the outbox.  With other daemons there, a round's events go in as
	 * one row of arrays (id: its first event's), and the reports (events,
	 * daily, hourly, users, meta 'daily_requests') are written from it
	 * after the round's commit, outside the write lock, or before
	 * anything reads or changes them (outbox_apply).  Each row is applied
	 * once, by whoever deletes it: outbox_apply, or outbox_claim, which
	 * writes the row's events, after which the round's own writes of the
	 * rest (P_LOG_*) run only if it deleted it (the transaction's
	 * 'tokq.claimed').  Both lock meta
	 * 'daily_requests' first, so that two run one after the other and no
	 * two writers of the reports wait on each other in a circle.
	 */
	"CREATE TABLE outbox ("
	"  id bigint PRIMARY KEY, at bigint[] NOT NULL, user_id text[] NOT NULL,"
	"  guild text[] NOT NULL, channel text[] NOT NULL, model text[] NOT NULL,"
	"  service text[] NOT NULL, kind text[] NOT NULL, session text[] NOT NULL,"
	"  call bigint[] NOT NULL, meta text[] NOT NULL,"
	"  requests bigint[] NOT NULL, prompt bigint[] NOT NULL,"
	"  completion bigint[] NOT NULL, total bigint[] NOT NULL,"
	"  cached bigint[] NOT NULL, cache_write bigint[] NOT NULL,"
	"  reasoning bigint[] NOT NULL, cost bigint[] NOT NULL,"
	"  ids bigint[] NOT NULL) WITH (toast_tuple_target = 8160);"
	"CREATE FUNCTION outbox_apply(lo bigint, hi bigint) RETURNS void"
	"  LANGUAGE plpgsql AS $f$"
	" BEGIN"
	"  PERFORM 1 FROM meta WHERE name = 'daily_requests' FOR UPDATE;"
	"  WITH o AS (DELETE FROM outbox WHERE id BETWEEN lo AND hi RETURNING *),"
	"  e AS (" OUTBOX_EVENTS "),"
	"  ev AS (INSERT INTO events(" EVENT_COLS ") SELECT * FROM e),"
	/* An event of no amounts has no totals, as in the rounds' own writes. */
	"  z AS (SELECT * FROM e WHERE requests <> 0 OR prompt <> 0"
	"   OR completion <> 0 OR total <> 0 OR cached <> 0 OR cache_write <> 0"
	"   OR reasoning <> 0 OR cost <> 0),"
	"  d AS (INSERT INTO daily(day, user_id, guild, model, service, kind, "
	USAGE_COLS ")"
	"   SELECT at - (at % 86400 + 86400) % 86400, user_id,"
	"   COALESCE(guild, ''), COALESCE(model, ''), COALESCE(service, ''),"
	"   COALESCE(kind, ''), " USAGE_SUMS " FROM z GROUP BY 1, 2, 3, 4, 5, 6"
	"   ORDER BY 1, 2, 3, 4, 5, 6"
	"   ON CONFLICT (day, user_id, guild, model, service, kind)"
	"   DO UPDATE SET " USAGE_ADD("daily") "),"
	"  h AS (INSERT INTO hourly(hour, user_id, " USAGE_COLS ", first, last)"
	"   SELECT at - (at % 3600 + 3600) % 3600, user_id, " USAGE_SUMS ","
	"   MIN(id), MAX(id) FROM z GROUP BY 1, 2 ORDER BY 1, 2"
	"   ON CONFLICT (hour, user_id) DO UPDATE SET " USAGE_ADD("hourly") ","
	"   first = LEAST(hourly.first, excluded.first),"
	"   last = GREATEST(hourly.last, excluded.last)),"
	"  us AS (INSERT INTO users(user_id) SELECT DISTINCT user_id FROM z"
	"   ORDER BY 1 ON CONFLICT DO NOTHING)"
	"  UPDATE meta SET val = sadd(val, (SELECT COALESCE(clamp64(SUM(requests)),"
	"   0) FROM z)) WHERE name = 'daily_requests';"
	" END $f$;"
	"CREATE FUNCTION outbox_claim(lo bigint, hi bigint) RETURNS void"
	"  LANGUAGE plpgsql AS $f$"
	" BEGIN"
	"  PERFORM 1 FROM meta WHERE name = 'daily_requests' FOR UPDATE;"
	/* A row holds one event at least: events written, rows deleted. */
	"  WITH o AS (DELETE FROM outbox WHERE id BETWEEN lo AND hi RETURNING *)"
	"  INSERT INTO events(" EVENT_COLS ") " OUTBOX_EVENTS ";"
	"  PERFORM set_config('tokq.claimed', CASE WHEN FOUND THEN '1'"
	"   ELSE '0' END, true);"
	" END $f$;",
};
const int pg_nmigrations = sizeof(pg_migrations) / sizeof(pg_migrations[0]);

/*
 * The admin views read the daily totals of the days [$1, $2), of guild $3
 * or of every guild when $3 is NULL; the groupings list the largest total
 * first, at most $4 rows (-1: all).
 */
#define VIEW_WHERE \
	" FROM daily WHERE day >= $1 AND day < $2" \
	" AND ($3::text IS NULL OR guild = $3::text)"
#define VIEW_GROUP(col) \
	"SELECT NULLIF(" col ", ''), " USAGE_SUMS VIEW_WHERE " GROUP BY " col \
	" ORDER BY clamp64(SUM(total)) DESC, " col \
	" LIMIT CASE WHEN $4::bigint < 0 THEN NULL ELSE $4::bigint END"

/*
 * Pages of raw events in (at, id) order: of user $1 (the _USER forms) and
 * guild $2 (NULL: any), after (or, newest first, before) the cursor ($3
 * at, $4 id), at in [$5, $6), at most $7 rows.
 */
#define EVENT_SELECT \
	"SELECT id, at, user_id, guild, channel, model, service, kind, session," \
	" call, meta, " USAGE_COLS " FROM events"
#define EVENT_FILTER(user) \
	" WHERE " user " ($2::text IS NULL OR guild = $2::text)" \
	" AND at >= $5 AND at < $6"
#define EVENTS_ASC(user) \
	EVENT_SELECT EVENT_FILTER(user) " AND (at, id) > ($3, $4)" \
	" ORDER BY at, id LIMIT $7"
#define EVENTS_DESC(user) \
	EVENT_SELECT EVENT_FILTER(user) " AND (at, id) < ($3, $4)" \
	" ORDER BY at DESC, id DESC LIMIT $7"
#define ANY_USER	"$1::text IS NULL AND"
#define ONE_USER	"user_id = $1::text AND"


/* The first $2 minute buckets before $1, in the order of buckets_span_start. */
#define FOLD_BATCH \
	"SELECT scope, subject, model, start, span, tokens, cost, requests" \
	" FROM buckets WHERE span = " PG_NUM(BUCKET_MINUTE) " AND start < $1" \
	" ORDER BY span, start LIMIT $2"

const char *const pg_sql[P_MAX] = {
	/* store_pg.c: the transaction, the lock, the journal */
	[P_BEGIN] =		"BEGIN",
	[P_LOCK] =		"SELECT pg_advisory_xact_lock($1::bigint)",
	/*
	 * The generation, the journal's floor, the next event id, and
	 * whether another daemon is connected to the schema: each holds the
	 * shared lock $1 (P_ALIVE), so that this one cannot take it
	 * exclusive (its own hold does not count), nor while another waits
	 * for it; 1 when another is there, else 0.  Taken and given back at
	 * once, so that a daemon connecting never waits on it.  A lock tried,
	 * not pg_locks read: reading the view copies the whole lock table.
	 */
	[P_GEN] =
	    "SELECT (SELECT val FROM meta WHERE name = 'gen'),"
	    " (SELECT val FROM meta WHERE name = 'journal_floor'),"
	    " (SELECT val FROM meta WHERE name = 'next_id'),"
	    " CASE WHEN pg_try_advisory_lock($1::bigint) THEN"
	    " CASE WHEN pg_advisory_unlock($1::bigint) THEN 0 ELSE 0 END"
	    " ELSE 1 END",
	/*
	 * Bounded on both sides, so that the planner takes the index however
	 * little it knows of the table (one side alone it guesses a third).
	 */
	[P_JOURNAL] =
	    "SELECT kind, scope, subject, model, hold, start, span, tokens, cost,"
	    " requests FROM journal WHERE gen > $1::bigint"
	    " AND gen <= (SELECT val FROM meta WHERE name = 'gen')"
	    " ORDER BY gen LIMIT " PG_NUM(PG_JOURNAL_MAX) " + 1",
	/*
	 * Around the begin's reads (the journal, the counters fetched ahead):
	 * planned by index whatever the tables' statistics say.  Their plans
	 * are made once and kept (a generic plan), and one made while the
	 * tables were new and empty would scan them whole once they are not.
	 */
	[P_INDEXED] =		"SET LOCAL enable_seqscan = off",
	[P_INDEXED_END] =	"RESET enable_seqscan",
	/*
	 * With other daemons waiting for the lock: the round commits without
	 * waiting for its WAL to be flushed, so that the lock is free for
	 * them at once, and then a transaction of its own that commits as the
	 * server's settings say (flushed, or on a synchronous standby too)
	 * and is written after it: once it answered, the round is as durable.
	 */
	[P_ASYNC] =		"SET LOCAL synchronous_commit = off",
	[P_DURABLE] =		"SELECT pg_logical_emit_message(true, 'tokq', '')",
	[P_COMMIT] =		"COMMIT",
	[P_ROLLBACK] =		"ROLLBACK",
	[P_SAVEPOINT] =		"SAVEPOINT w",
	[P_RELEASE] =		"RELEASE w",
	[P_ROLLBACK_TO] =	"ROLLBACK TO w",
	/* The last round's reports, carried by the round begun ahead. */
	[P_REPORTS_SAVE] =	"SAVEPOINT r",
	[P_REPORTS_RELEASE] =	"RELEASE r",
	[P_REPORTS_UNDO] =	"ROLLBACK TO r",
	[P_GEN_SET] =		"UPDATE meta SET val = $1::bigint WHERE name = 'gen'",
	/* A generation without journal rows: a daemon that saw less reloads all. */
	[P_FLOOR_SET] =
	    "UPDATE meta SET val = $1::bigint WHERE name = 'journal_floor'",
	[P_ALIVE] =		"SELECT pg_advisory_lock_shared($1::bigint)",
	[P_JOURNAL_ADD] =
	    "INSERT INTO journal(gen, kind, scope, subject, model, hold)"
	    " SELECT $1::bigint, * FROM unnest($2::integer[], $3::integer[],"
	    " $4::text[], $5::text[], $6::text[])",
	/* Rows older than 10 minutes or 100,000 generations; the floor moves up. */
	[P_JOURNAL_PRUNE] =
	    "WITH d AS (DELETE FROM journal WHERE at < clock_timestamp() -"
	    " interval '10 minutes' OR gen <= $1::bigint - 100000 RETURNING gen)"
	    " UPDATE meta SET val = GREATEST(val, (SELECT MAX(gen) FROM d))"
	    " WHERE name = 'journal_floor' AND EXISTS (SELECT 1 FROM d)",
	[P_NEXT_ID_SET] =
	    "UPDATE meta SET val = $1::bigint WHERE name = 'next_id'",
	[P_MAINT_TRY] =		"SELECT pg_try_advisory_lock($1::bigint)",
	/* store_pg_ops.c: meta, size */
	[P_META_GET] =		"SELECT val FROM meta WHERE name = $1",
	[P_META_SET] =
	    "INSERT INTO meta(name, val) VALUES ($1, $2)"
	    " ON CONFLICT (name) DO UPDATE SET val = excluded.val",
	[P_DB_BYTES] =
	    "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint"
	    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
	    " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')",
	/*
	 * The round's writes in bulk (store_pg_log.c), each table's rows as
	 * arrays, one per column, summed by the key its upsert conflicts on.
	 * The events: at, user, guild, channel, model, service, kind, session,
	 * call, meta, the eight amounts, id.
	 */
	[P_LOG_EVENTS] =
	    "INSERT INTO events(" EVENT_COLS ") SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[],"
	    " $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[],"
	    " $10::text[], " USAGE_ARRAYS(11, 12, 13, 14, 15, 16, 17, 18) ", $19::bigint[])",
	[P_LOG_DAILY] =
	    "INSERT INTO daily(day, user_id, guild, model, service, kind, "
	    USAGE_COLS ") SELECT * FROM unnest($1::bigint[], $2::text[],"
	    " $3::text[], $4::text[], $5::text[], $6::text[], " USAGE_ARRAYS(7, 8, 9, 10, 11, 12, 13, 14)
	    ") WHERE " CLAIMED " ON CONFLICT (day, user_id, guild, model, service, kind)"
	    " DO UPDATE SET " USAGE_ADD("daily"),
	[P_LOG_HOURLY] =
	    "INSERT INTO hourly(hour, user_id, " USAGE_COLS ", first, last)"
	    " SELECT * FROM unnest($1::bigint[], $2::text[], " USAGE_ARRAYS(3, 4, 5, 6, 7, 8, 9, 10)
	    ", $11::bigint[], $12::bigint[]) WHERE " CLAIMED " ON CONFLICT (hour, user_id)"
	    " DO UPDATE SET " USAGE_ADD("hourly") ","
	    " first = LEAST(hourly.first, excluded.first),"
	    " last = GREATEST(hourly.last, excluded.last)",
	/* The users of the events with amounts, and their requests. */
	[P_LOG_USERS] =
	    "WITH u AS (INSERT INTO users(user_id) SELECT u FROM"
	    " unnest($1::text[]) u WHERE " CLAIMED " ON CONFLICT DO NOTHING)"
	    " UPDATE meta SET val = sadd(val, $2::bigint) WHERE name = 'daily_requests'"
	    " AND " CLAIMED,
	/* A stretch of a round's events, as the outbox keeps them (schema 4). */
	[P_OUTBOX_ADD] =
	    "INSERT INTO outbox(at, user_id, guild, channel, model, service,"
	    " kind, session, call, meta, " USAGE_COLS ", ids, id) VALUES"
	    " ($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],"
	    " $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[], "
	    USAGE_ARRAYS(11, 12, 13, 14, 15, 16, 17, 18) ", $19::bigint[],"
	    " $20::bigint)",
	/*
	 * The reports of the outbox rows of ids $1 to $2: a round's, after its
	 * commit; every row (the whole range of bigint), before the reports
	 * are read or changed.
	 */
	[P_OUTBOX_APPLY] =	"SELECT outbox_apply($1::bigint, $2::bigint)",
	/* The same, the round writing the rest of its reports itself (P_LOG_*). */
	[P_OUTBOX_CLAIM] =	"SELECT outbox_claim($1::bigint, $2::bigint)",
	/*
	 * First in a segment of the reports' own (an implicit transaction up
	 * to its Sync), never in a round: that commit need not wait for its
	 * WAL, as the outbox row did.
	 */
	[P_REPORTS_ASYNC] =
	    "SELECT set_config('synchronous_commit', 'off', true)",
	/*
	 * The bucket adds, and each as a journal row of generation $9 (kind
	 * $10, STALE_COUNTER) unless $11 is false (no other daemon): in one
	 * statement, so that a rollback to a savepoint takes back both.
	 */
	[P_LOG_BUCKETS] =
	    "WITH a AS (SELECT * FROM unnest($1::integer[], $2::text[],"
	    " $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],"
	    " $7::bigint[], $8::bigint[]) AS a(scope, subject, model, start,"
	    " span, tokens, cost, requests)),"
	    " j AS (INSERT INTO journal(gen, kind, scope, subject, model, start,"
	    " span, tokens, cost, requests) SELECT $9::bigint, $10::integer, *"
	    " FROM a WHERE $11::boolean)"
	    " INSERT INTO buckets(scope, subject, model, start, span, tokens,"
	    " cost, requests) SELECT * FROM a"
	    " ON CONFLICT (scope, subject, model, start, span) DO UPDATE SET"
	    " tokens = sadd(buckets.tokens, excluded.tokens),"
	    " cost = sadd(buckets.cost, excluded.cost),"
	    " requests = sadd(buckets.requests, excluded.requests)",
	[P_LOG_KEYS] =
	    "INSERT INTO keys(key, fp, first, count, created) SELECT * FROM"
	    " unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[],"
	    " $5::bigint[]) ON CONFLICT (key) DO UPDATE SET"
	    " fp = excluded.fp, first = excluded.first, count = excluded.count,"
	    " created = excluded.created",
	/*
	 * The buckets of counters ($1 scope, $2 subject, $3 model, $4 since:
	 * each as P_BUCKET_LOAD), by the counter's place in the arrays (from
	 * 1), then start.
	 */
	[P_BUCKET_PREFETCH] =
	    "SELECT k.i, b.start, b.span, b.tokens, b.cost, b.requests FROM"
	    " unnest($1::integer[], $2::text[], $3::text[], $4::bigint[])"
	    " WITH ORDINALITY AS k(sc, subject, model, since, i)"
	    " JOIN LATERAL (SELECT start, span, tokens, cost, requests"
	    " FROM buckets WHERE scope = k.sc AND subject = k.subject"
	    " AND model = k.model AND start > k.since - " PG_NUM(BUCKET_HOUR)
	    " AND start + span > k.since) b ON true ORDER BY k.i, b.start, b.span",
	/* No bucket spans more than an hour: the range on start uses the key. */
	[P_BUCKET_LOAD] =
	    "SELECT start, span, tokens, cost, requests FROM buckets"
	    " WHERE scope = $1 AND subject = $2 AND model = $3"
	    " AND start > $4::bigint - " PG_NUM(BUCKET_HOUR)
	    " AND start + span > $4::bigint ORDER BY start, span",
	[P_BUCKET_CLEAR] =
	    "DELETE FROM buckets WHERE scope = $1 AND subject = $2",
	[P_BUCKET_CLEAR_MODEL] =
	    "DELETE FROM buckets WHERE scope = $1 AND subject = $2 AND model = $3",
	[P_COUNTS] =
	    "SELECT (SELECT val FROM meta WHERE name = 'daily_requests'),"
	    " (SELECT COUNT(*) FROM users)",
	/* settings, holds, keys */
	[P_KEY_GET] =		"SELECT fp, first, count FROM keys WHERE key = $1",
	[P_EVENTS_SUM] =
	    "SELECT " USAGE_SUMS " FROM events WHERE id >= $1::bigint"
	    " AND id < $1::bigint + $2::bigint",
	/* The number of rules replaced: 1, or 0 when it inserted one. */
	[P_RULE_PUT] =
	    "WITH u AS (UPDATE rules SET lim = $7 WHERE sel = $1 AND subject = $2"
	    " AND model = $3 AND metric = $4 AND wkind = $5 AND wsecs = $6"
	    " RETURNING 1), i AS (INSERT INTO rules(sel, subject, model, metric,"
	    " wkind, wsecs, lim) SELECT $1, $2, $3, $4, $5, $6, $7"
	    " WHERE NOT EXISTS (SELECT 1 FROM u)) SELECT COUNT(*) FROM u",
	[P_RULE_DEL] =
	    "DELETE FROM rules WHERE sel = $1 AND subject = $2 AND model = $3"
	    " AND metric = $4 AND wkind = $5 AND wsecs = $6",
	[P_RULE_LOAD] =
	    "SELECT sel, subject, model, metric, wkind, wsecs, lim FROM rules"
	    " ORDER BY sel, subject, model, metric, wkind, wsecs",
	[P_PLAN_SET] =
	    "INSERT INTO plans(user_id, plan) VALUES ($1, $2)"
	    " ON CONFLICT (user_id) DO UPDATE SET plan = excluded.plan",
	[P_PLAN_DEL] =		"DELETE FROM plans WHERE user_id = $1",
	[P_PLAN_LOAD] =		"SELECT user_id, plan FROM plans ORDER BY user_id",
	[P_BYPASS_ADD] =
	    "INSERT INTO bypass(guild, id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
	[P_BYPASS_DEL] =	"DELETE FROM bypass WHERE guild = $1 AND id = $2",
	[P_BYPASS_LOAD] =	"SELECT guild, id FROM bypass ORDER BY guild, id",
	[P_PRICE_PUT] =
	    "INSERT INTO prices(model, input, output, cached, cache_write)"
	    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (model) DO UPDATE SET"
	    " input = excluded.input, output = excluded.output,"
	    " cached = excluded.cached, cache_write = excluded.cache_write",
	[P_PRICE_DEL] =		"DELETE FROM prices WHERE model = $1",
	[P_PRICE_LOAD] =
	    "SELECT model, input, output, cached, cache_write FROM prices"
	    " ORDER BY model",
	[P_HOLD_PUT] =
	    "INSERT INTO holds(id, created, expires, user_id, guild, model,"
	    " tokens, cost) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
	    " ON CONFLICT (id) DO UPDATE SET created = excluded.created,"
	    " expires = excluded.expires, user_id = excluded.user_id,"
	    " guild = excluded.guild, model = excluded.model,"
	    " tokens = excluded.tokens, cost = excluded.cost",
	[P_HOLD_DEL] =		"DELETE FROM holds WHERE id = $1",
	[P_HOLD_LOAD] =
	    "SELECT id, created, expires, user_id, guild, model, tokens, cost"
	    " FROM holds ORDER BY created, id",
	/* views */
	[P_USER_HOURS] =
	    "SELECT " USAGE_SUMS " FROM hourly WHERE user_id = $1"
	    " AND hour >= $2::bigint AND hour < $3::bigint",
	[P_USER_DAILY_TOTALS] =
	    "SELECT " USAGE_SUMS " FROM daily WHERE user_id = $1"
	    " AND day >= $2::bigint AND day < $3::bigint",
	[P_USER_MODELS_TOTALS] =
	    "SELECT model, " USAGE_SUMS " FROM daily WHERE user_id = $1"
	    " GROUP BY model ORDER BY model",
	[P_USER_MODELS_SINCE] =
	    "SELECT DISTINCT model FROM daily WHERE user_id = $1"
	    " AND day >= $2::bigint AND model <> '' ORDER BY model",
	[P_VIEW_TOTALS] =
	    "SELECT " USAGE_SUMS ", COUNT(DISTINCT user_id),"
	    " COUNT(DISTINCT NULLIF(guild, ''))" VIEW_WHERE,
	[P_VIEW_BY_USER] =	VIEW_GROUP("user_id"),
	[P_VIEW_BY_GUILD] =	VIEW_GROUP("guild"),
	[P_VIEW_BY_MODEL] =	VIEW_GROUP("model"),
	[P_VIEW_BY_SERVICE] =	VIEW_GROUP("service"),
	[P_VIEW_BY_DAY] =
	    "SELECT day, " USAGE_SUMS VIEW_WHERE " GROUP BY day ORDER BY day",
	[P_VIEW_USER_ALL] =
	    "SELECT " USAGE_SUMS " FROM daily WHERE user_id = $1"
	    " AND ($2::text IS NULL OR guild = $2::text)",
	[P_EVENTS_ASC] =	EVENTS_ASC(ANY_USER),
	[P_EVENTS_DESC] =	EVENTS_DESC(ANY_USER),
	[P_EVENTS_USER_ASC] =	EVENTS_ASC(ONE_USER),
	[P_EVENTS_USER_DESC] =	EVENTS_DESC(ONE_USER),
	/*
	 * Maintenance.  The fold: the first $2 minute buckets before $1 are
	 * added to their hour buckets and deleted, in one statement; it
	 * returns how many.  The hour is start - start % HOUR, as SQLite's.
	 */
	[P_BUCKET_FOLD] =
	    "WITH b AS (" FOLD_BATCH "),"
	    " d AS (DELETE FROM buckets x USING b WHERE x.scope = b.scope"
	    " AND x.subject = b.subject AND x.model = b.model"
	    " AND x.start = b.start AND x.span = b.span),"
	    " i AS (INSERT INTO buckets(scope, subject, model, start, span,"
	    " tokens, cost, requests) SELECT scope, subject, model,"
	    " start - start % " PG_NUM(BUCKET_HOUR) " AS hour, "
	    PG_NUM(BUCKET_HOUR) ", clamp64(SUM(tokens)), clamp64(SUM(cost)),"
	    " clamp64(SUM(requests)) FROM b GROUP BY scope, subject, model, hour"
	    " ON CONFLICT (scope, subject, model, start, span) DO UPDATE SET"
	    " tokens = sadd(buckets.tokens, excluded.tokens),"
	    " cost = sadd(buckets.cost, excluded.cost),"
	    " requests = sadd(buckets.requests, excluded.requests))"
	    " SELECT COUNT(*) FROM b",
	/* Up to $3 buckets of span $2 that end at or before $1. */
	[P_BUCKET_PRUNE] =
	    "DELETE FROM buckets WHERE (scope, subject, model, start, span)"
	    " IN (SELECT scope, subject, model, start, span FROM buckets"
	    " WHERE span = $2::bigint AND start <= $1::bigint - $2::bigint"
	    " ORDER BY start LIMIT $3)",
	/* Up to $2 events before $1, oldest first, and the keys dated before. */
	[P_EVENTS_PRUNE] =
	    "WITH d AS (DELETE FROM events WHERE id IN (SELECT id FROM events"
	    " WHERE at < $1::bigint ORDER BY at, id LIMIT $2) RETURNING 1),"
	    " m AS (UPDATE meta SET val = sadd(val, (SELECT COUNT(*) FROM d))"
	    " WHERE name = 'events_pruned'),"
	    " k AS (DELETE FROM keys WHERE created < $1::bigint)"
	    " SELECT COUNT(*) FROM d",
	[P_HOURLY_PRUNE] =
	    "DELETE FROM hourly WHERE (hour, user_id) IN (SELECT hour, user_id"
	    " FROM hourly WHERE hour < $1::bigint ORDER BY hour LIMIT $2)",
	/* The $4-th user after $3 with usage in the month [$1, $2), or the last. */
	[P_MONTH_USERS] =
	    "SELECT MAX(user_id), COUNT(*) FROM (SELECT DISTINCT user_id FROM daily"
	    " WHERE user_id > $3::text AND day >= $1::bigint AND day < $2::bigint"
	    " ORDER BY user_id LIMIT $4) s",
	[P_MONTH_ARCHIVE] =
	    "INSERT INTO monthly(month, user_id, guild, model, " USAGE_COLS ")"
	    " SELECT $1::bigint, user_id, guild, model, " USAGE_SUMS
	    " FROM daily WHERE user_id > $3::text AND user_id <= $4::text"
	    " AND day >= $1::bigint AND day < $2::bigint"
	    " GROUP BY user_id, guild, model"
	    " ON CONFLICT (month, user_id, guild, model) DO UPDATE SET " USAGE_SET,
	/* store_pg_move.c: the daily totals in key order, for a history moved */
#define DAILY_COLS \
	"SELECT day, user_id, guild, model, service, kind, " USAGE_COLS " FROM daily"
#define DAILY_ORDER \
	" ORDER BY day, user_id, guild, model, service, kind LIMIT "
	[P_DAILY_FIRST] =	DAILY_COLS DAILY_ORDER "$1::bigint",
	[P_DAILY_PAGE] =	DAILY_COLS " WHERE (day, user_id, guild, model, service,"
	    " kind) > ($1::bigint, $2, $3, $4, $5, $6)" DAILY_ORDER "$7::bigint",
	[P_DAILY_EVENTS] =
	    "SELECT at / " PG_NUM(DAY) " * " PG_NUM(DAY) ", user_id,"
	    " COALESCE(guild, ''), COALESCE(model, ''), COALESCE(service, ''),"
	    " COALESCE(kind, ''), " USAGE_SUMS " FROM events"
	    " WHERE at >= $1::bigint AND at < $2::bigint GROUP BY 1, 2, 3, 4, 5, 6",
	/* Requests no raw event stands for: all time, and pruned. */
	[P_DAILY_IMPORT] =
	    "WITH d AS (INSERT INTO daily(day, user_id, guild, model, service,"
	    " kind, " USAGE_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
	    " $10, $11, $12, $13, $14) ON CONFLICT (day, user_id, guild, model,"
	    " service, kind) DO UPDATE SET " USAGE_ADD("daily") "),"
	    " u AS (INSERT INTO users(user_id) VALUES ($2) ON CONFLICT DO NOTHING)"
	    " UPDATE meta SET val = sadd(val, $7) WHERE name IN"
	    " ('daily_requests', 'events_pruned')",
};
