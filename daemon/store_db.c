/*
 * store_db.c: the database beneath the store: the connection, its schema
 * and migrations, the SQL functions sadd and ssum, the table of every
 * statement, the meta table, and the helpers with which the store's files
 * bind and step statements (more in store_db.h).  It calls no other
 * store file.
 *
 * The daemon is the single writer of one SQLite file in WAL mode with
 * synchronous=FULL (which walbuf.c relies on).  Every statement is
 * prepared once at open from the one table below, grouped by the file
 * that uses it, reset and unbound after every use (stmt_done), and
 * finalized at close.  A failure that makes SQLite roll the batch's
 * transaction back marks it failed (store_fail): nothing more lands in it.
 *
 * Schema changes are steps in migrations[]; PRAGMA user_version counts the
 * steps applied.  Append, never edit.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_db.h"


#define USAGE_COLS \
	"requests, prompt, completion, total, cached, cache_write, reasoning, cost"
/*
 * Sums in SQL saturate at INT64_MAX (ssum, sadd: sq_open registers
 * them), where SQLite's SUM() fails with "integer overflow" and its +
 * turns to a float: no history fails a view or wraps a total.
 */
#define USAGE_SUMS \
	"COALESCE(ssum(requests), 0), COALESCE(ssum(prompt), 0)," \
	" COALESCE(ssum(completion), 0), COALESCE(ssum(total), 0)," \
	" COALESCE(ssum(cached), 0), COALESCE(ssum(cache_write), 0)," \
	" COALESCE(ssum(reasoning), 0), COALESCE(ssum(cost), 0)"

/*
 * A value of a sum's column as an integer: a float (which SQLite's + made
 * of an overflowing sum before ssum and sadd) taken at its nearest
 * integer, saturating; NULL as 0.
 */
static int64_t
sql_int(sqlite3_value *v)
{
	double	 d;

	switch (sqlite3_value_type(v)) {
	case SQLITE_INTEGER:
		return sqlite3_value_int64(v);
	case SQLITE_FLOAT:
		d = sqlite3_value_double(v);
		if (!(d < 9223372036854775807.0))
			return d != d ? 0 : INT64_MAX;
		if (d < -9223372036854775807.0)
			return INT64_MIN;
		return (int64_t)d;
	case SQLITE_NULL:
		return 0;
	default:
		return sqlite3_value_int64(v);
	}
}

/* sadd(a, b): a + b, saturating. */
static void
sql_sadd(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3_result_int64(ctx, sat_add(sql_int(argv[0]), sql_int(argv[1])));
}

/* ssum(x): SUM(x) that saturates instead of failing; NULL over no row, as SUM. */
static void
sql_ssum_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	int64_t	*sum = sqlite3_aggregate_context(ctx, sizeof(*sum));

	if (sum == NULL) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	if (sqlite3_value_type(argv[0]) != SQLITE_NULL)
		*sum = sat_add(*sum, sql_int(argv[0]));
}

static void
sql_ssum_final(sqlite3_context *ctx)
{
	int64_t	*sum = sqlite3_aggregate_context(ctx, 0);

	if (sum == NULL)
		sqlite3_result_null(ctx);
	else
		sqlite3_result_int64(ctx, *sum);
}

/*
 * Version n of the schema is migrations[0..n-1] applied in order.  Times
 * are Unix seconds, money nano-USD.  In events absent strings are NULL; in
 * the keyed tables (daily, monthly, buckets, rules) they are '' so that the
 * primary keys work.
 */
static const char *const migrations[] = {
	/* 1: the initial schema */
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY, at INTEGER NOT NULL, user TEXT NOT NULL,"
	"  guild TEXT, channel TEXT, model TEXT, service TEXT, kind TEXT,"
	"  session TEXT, call INTEGER, meta TEXT,"
	"  requests INTEGER NOT NULL, prompt INTEGER NOT NULL,"
	"  completion INTEGER NOT NULL, total INTEGER NOT NULL,"
	"  cached INTEGER NOT NULL, cache_write INTEGER NOT NULL,"
	"  reasoning INTEGER NOT NULL, cost INTEGER NOT NULL);"
	"CREATE INDEX events_user_at ON events(user, at);"
	"CREATE INDEX events_at ON events(at);"
	"CREATE INDEX events_guild_at ON events(guild, at);"
	"CREATE TABLE daily ("
	"  day INTEGER NOT NULL, user TEXT NOT NULL, guild TEXT NOT NULL,"
	"  model TEXT NOT NULL, service TEXT NOT NULL, kind TEXT NOT NULL,"
	"  requests INTEGER NOT NULL, prompt INTEGER NOT NULL,"
	"  completion INTEGER NOT NULL, total INTEGER NOT NULL,"
	"  cached INTEGER NOT NULL, cache_write INTEGER NOT NULL,"
	"  reasoning INTEGER NOT NULL, cost INTEGER NOT NULL,"
	"  PRIMARY KEY (day, user, guild, model, service, kind)) WITHOUT ROWID;"
	"CREATE INDEX daily_user_day ON daily(user, day);"
	"CREATE INDEX daily_guild_day ON daily(guild, day);"
	"CREATE TABLE monthly ("
	"  month INTEGER NOT NULL, user TEXT NOT NULL, guild TEXT NOT NULL,"
	"  model TEXT NOT NULL,"
	"  requests INTEGER NOT NULL, prompt INTEGER NOT NULL,"
	"  completion INTEGER NOT NULL, total INTEGER NOT NULL,"
	"  cached INTEGER NOT NULL, cache_write INTEGER NOT NULL,"
	"  reasoning INTEGER NOT NULL, cost INTEGER NOT NULL,"
	"  PRIMARY KEY (month, user, guild, model)) WITHOUT ROWID;"
	"CREATE TABLE keys ("
	"  key TEXT PRIMARY KEY, fp INTEGER NOT NULL, first INTEGER NOT NULL,"
	"  count INTEGER NOT NULL, created INTEGER NOT NULL);"
	"CREATE INDEX keys_created ON keys(created);"
	/* span is in the key: a minute and an hour may both start at 10:00 */
	"CREATE TABLE buckets ("
	"  scope INTEGER NOT NULL, subject TEXT NOT NULL, model TEXT NOT NULL,"
	"  start INTEGER NOT NULL, span INTEGER NOT NULL,"
	"  tokens INTEGER NOT NULL, cost INTEGER NOT NULL,"
	"  requests INTEGER NOT NULL,"
	"  PRIMARY KEY (scope, subject, model, start, span)) WITHOUT ROWID;"
	"CREATE INDEX buckets_span_start ON buckets(span, start);"
	"CREATE TABLE rules ("
	"  sel INTEGER NOT NULL, subject TEXT NOT NULL, model TEXT NOT NULL,"
	"  metric INTEGER NOT NULL, wkind INTEGER NOT NULL,"
	"  wsecs INTEGER NOT NULL, lim INTEGER NOT NULL,"
	"  PRIMARY KEY (sel, subject, model, metric, wkind, wsecs));"
	"CREATE TABLE plans (user TEXT PRIMARY KEY, plan TEXT NOT NULL);"
	"CREATE TABLE bypass ("
	"  guild INTEGER NOT NULL, id TEXT NOT NULL, PRIMARY KEY (guild, id));"
	"CREATE TABLE prices ("
	"  model TEXT PRIMARY KEY, input INTEGER NOT NULL,"
	"  output INTEGER NOT NULL, cached INTEGER NOT NULL,"
	"  cache_write INTEGER NOT NULL);"
	"CREATE TABLE holds ("
	"  id TEXT PRIMARY KEY, created INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL, user TEXT NOT NULL, guild TEXT,"
	"  model TEXT, tokens INTEGER NOT NULL, cost INTEGER NOT NULL);"
	"CREATE TABLE meta (name TEXT PRIMARY KEY, val INTEGER NOT NULL);",
	/* 2: totals written behind the events; version 1 wrote them at once */
	"INSERT OR REPLACE INTO meta(name, val)"
	"  SELECT 'totals_through', COALESCE(MAX(id), 0) FROM events;",
	/*
	 * 3: a record no longer writes an index of 100-odd guilds' hot pages
	 * (records +24 % in make bench's load); log and export --guild walk
	 * events_at and filter.
	 */
	"DROP INDEX IF EXISTS events_guild_at;",
	/*
	 * 4: the pending totals go out a part per commit, not all in one
	 * (a 75-125 ms stall a second under load); each row written says the
	 * last event id of the part that wrote it, so a replay after a crash
	 * in the middle of the parts adds no event twice.
	 */
	"ALTER TABLE daily ADD COLUMN thru INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE buckets ADD COLUMN thru INTEGER NOT NULL DEFAULT 0;",
	/*
	 * 5: the counts `status` gives, kept up as the daily rows are
	 * written: a scan of daily took 420-650 ms at 2M events, and held
	 * every request up as long.
	 */
	"INSERT OR REPLACE INTO meta(name, val)"
	"  SELECT 'daily_requests', COALESCE(SUM(requests), 0) FROM daily;"
	"INSERT OR REPLACE INTO meta(name, val)"
	"  SELECT 'daily_users', COUNT(DISTINCT user) FROM daily;",
	/*
	 * 6: a record no longer writes events_user_at, an index entry at a
	 * random page per event (mixed load +25-35 %, and a prune that
	 * deletes only pages in time order).  What read it reads `hourly`
	 * instead, a user's sums per UTC hour written behind as the daily
	 * totals are, in (hour, user) order: appended, and pruned from the
	 * front.  first and last bound the ids of the user's events of the
	 * hour.  The events past 'totals_through' are replayed at start.
	 */
	"CREATE TABLE hourly ("
	"  hour INTEGER NOT NULL, user TEXT NOT NULL,"
	"  requests INTEGER NOT NULL, prompt INTEGER NOT NULL,"
	"  completion INTEGER NOT NULL, total INTEGER NOT NULL,"
	"  cached INTEGER NOT NULL, cache_write INTEGER NOT NULL,"
	"  reasoning INTEGER NOT NULL, cost INTEGER NOT NULL,"
	"  first INTEGER NOT NULL, last INTEGER NOT NULL,"
	"  thru INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (hour, user)) WITHOUT ROWID;"
	"INSERT INTO hourly(hour, user, " USAGE_COLS ", first, last)"
	"  SELECT at - ((at % " SQL_NUM(HOUR) ") + " SQL_NUM(HOUR) ") % " SQL_NUM(HOUR) ", user, " USAGE_SUMS ","
	"  MIN(id), MAX(id) FROM events WHERE id <= COALESCE((SELECT val"
	"  FROM meta WHERE name = 'totals_through'), 0) GROUP BY 1, 2;"
	"DROP INDEX IF EXISTS events_user_at;",
	/*
	 * 7: how many raw events maintenance pruned, kept up as it prunes,
	 * so that status counts the events the database still holds (all
	 * events ever, in the daily totals, less these) without a scan.
	 */
	"INSERT OR REPLACE INTO meta(name, val)"
	"  SELECT 'events_pruned', MAX(0, COALESCE((SELECT val FROM meta"
	"  WHERE name = 'daily_requests'), 0) - (SELECT COUNT(*) FROM events"
	"  WHERE id <= COALESCE((SELECT val FROM meta"
	"  WHERE name = 'totals_through'), 0)));",
};
#define NMIGRATIONS	((int)(sizeof(migrations) / sizeof(migrations[0])))

#define FOLD_BATCH \
	"SELECT * FROM buckets INDEXED BY buckets_span_start" \
	" WHERE span = " SQL_NUM(BUCKET_MINUTE) " AND start < ?1" \
	" ORDER BY span, start LIMIT ?2"

/*
 * The admin views read the daily totals of the days [?1, ?2), of guild ?3
 * or of every guild when ?3 is NULL; the groupings list the largest total
 * first, at most ?4 rows (-1: all).  '' (no guild, model or service) comes
 * back as NULL.
 */
#define VIEW_WHERE \
	" FROM daily WHERE day >= ?1 AND day < ?2 AND (?3 IS NULL OR guild = ?3)"
#define VIEW_GROUP(col) \
	"SELECT NULLIF(" col ", ''), " USAGE_SUMS VIEW_WHERE " GROUP BY " col \
	" ORDER BY ssum(total) DESC, " col " LIMIT ?4"

/*
 * Pages of raw events in (at, id) order: ?1 user and ?2 guild (NULL: any),
 * after (or, newest first, before) the cursor (?3 at, ?4 id), at in
 * [?5, ?6), at most ?7 rows.  Without a user they walk events_at; a
 * user's are read an hour at a time, by the ids [?8, ?9] that the user's
 * row in `hourly` bounds (the _IDS forms), as no index leads with user
 * (migration 6).
 */
#define EVENT_SELECT \
	"SELECT id, at, user, guild, channel, model, service, kind, session," \
	" call, meta, " USAGE_COLS " FROM events"
#define EVENT_COLS	EVENT_SELECT " WHERE "
#define EVENT_FILTER \
	"(?1 IS NULL OR user = ?1) AND (?2 IS NULL OR guild = ?2)" \
	" AND at >= ?5 AND at < ?6"
#define EVENTS_IDS	" NOT INDEXED WHERE id >= ?8 AND id <= ?9 AND "
#define EVENTS_ASC(from) \
	EVENT_SELECT from EVENT_FILTER " AND (at, id) > (?3, ?4)" \
	" ORDER BY at, id LIMIT ?7"
#define EVENTS_DESC(from) \
	EVENT_SELECT from EVENT_FILTER " AND (at, id) < (?3, ?4)" \
	" ORDER BY at DESC, id DESC LIMIT ?7"

#define USAGE_ADD \
	"requests = sadd(requests, excluded.requests)," \
	" prompt = sadd(prompt, excluded.prompt)," \
	" completion = sadd(completion, excluded.completion)," \
	" total = sadd(total, excluded.total), cached = sadd(cached, excluded.cached)," \
	" cache_write = sadd(cache_write, excluded.cache_write)," \
	" reasoning = sadd(reasoning, excluded.reasoning), cost = sadd(cost, excluded.cost)"

static const struct {
	enum stmt_id	 id;
	const char	*sql;
} stmt_sql[] = {
	/* store_sqlite.c: the batch's transaction */
	{ S_BEGIN,		"BEGIN IMMEDIATE" },
	{ S_COMMIT,		"COMMIT" },
	{ S_ROLLBACK,		"ROLLBACK" },
	/* store_db.c: the meta table, the next event id, the size */
	{ S_META_GET,		"SELECT val FROM meta WHERE name = ?1" },
	{ S_META_SET,
	    "INSERT INTO meta(name, val) VALUES (?1, ?2)"
	    " ON CONFLICT(name) DO UPDATE SET val = excluded.val" },
	{ S_META_ADD,
	    "INSERT INTO meta(name, val) VALUES (?1, ?2)"
	    " ON CONFLICT(name) DO UPDATE SET val = sadd(val, excluded.val)" },
	/* Past every id in use or behind the totals: ids are never reused. */
	{ S_NEXT_ID,
	    "SELECT MAX(COALESCE((SELECT MAX(id) FROM events), 0),"
	    " COALESCE((SELECT val FROM meta WHERE name = 'totals_through'), 0))"
	    " + 1" },
	{ S_PAGE_COUNT,		"PRAGMA page_count" },
	{ S_PAGE_SIZE,		"PRAGMA page_size" },
	/* store_totals.c: savepoints, the record, the totals written behind, the replay */
	{ S_SAVEPOINT,		"SAVEPOINT w" },
	{ S_RELEASE,		"RELEASE w" },
	{ S_ROLLBACK_TO,	"ROLLBACK TO w" },
	{ S_EVENT_ADD,
	    "INSERT INTO events(id, at, user, guild, channel, model, service,"
	    " kind, session, call, meta, " USAGE_COLS ") VALUES (?19, ?1, ?2,"
	    " ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
	    " ?18)" },
	{ S_EVENTS_AFTER,	EVENT_COLS "id > ?1 ORDER BY id" },
	{ S_DAILY_ADD,
	    "INSERT INTO daily(day, user, guild, model, service, kind, "
	    USAGE_COLS ", thru) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
	    " ?11, ?12, ?13, ?14, ?15)"
	    " ON CONFLICT(day, user, guild, model, service, kind)"
	    " DO UPDATE SET " USAGE_ADD ", thru = excluded.thru" },
	{ S_DAILY_THRU,
	    "SELECT thru FROM daily WHERE day = ?1 AND user = ?2 AND guild = ?3"
	    " AND model = ?4 AND service = ?5 AND kind = ?6" },
	{ S_USER_WRITTEN,
	    "SELECT 1 FROM daily INDEXED BY daily_user_day WHERE user = ?1 LIMIT 1" },
	{ S_HOURLY_ADD,
	    "INSERT INTO hourly(hour, user, " USAGE_COLS ", first, last, thru)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
	    " ON CONFLICT(hour, user) DO UPDATE SET " USAGE_ADD ","
	    " first = MIN(first, excluded.first), last = MAX(last, excluded.last),"
	    " thru = excluded.thru" },
	{ S_HOURLY_THRU,
	    "SELECT thru FROM hourly WHERE hour = ?1 AND user = ?2" },
	{ S_HOURLY_GET,
	    "SELECT " USAGE_COLS ", first, last FROM hourly"
	    " WHERE hour = ?1 AND user = ?2" },
	{ S_BUCKET_ADD,
	    "INSERT INTO buckets(scope, subject, model, start, span, tokens,"
	    " cost, requests, thru) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
	    " ON CONFLICT(scope, subject, model, start, span) DO UPDATE SET"
	    " tokens = sadd(tokens, excluded.tokens), cost = sadd(cost, excluded.cost),"
	    " requests = sadd(requests, excluded.requests), thru = excluded.thru" },
	{ S_BUCKET_THRU,
	    "SELECT thru FROM buckets WHERE scope = ?1 AND subject = ?2"
	    " AND model = ?3 AND start = ?4 AND span = ?5" },
	/* No bucket spans more than an hour: the range on start uses the key. */
	{ S_BUCKET_LOAD,
	    "SELECT start, span, tokens, cost, requests FROM buckets"
	    " WHERE scope = ?1 AND subject = ?2 AND model = ?3"
	    " AND start > ?4 - " SQL_NUM(BUCKET_HOUR) " AND start + span > ?4"
	    " ORDER BY start, span" },
	{ S_BUCKET_CLEAR,
	    "DELETE FROM buckets WHERE scope = ?1 AND subject = ?2" },
	{ S_BUCKET_CLEAR_MODEL,
	    "DELETE FROM buckets WHERE scope = ?1 AND subject = ?2 AND model = ?3" },
	/* store_settings.c: idempotency keys, rules, plans, bypass, prices, holds */
	{ S_KEY_GET,		"SELECT fp, first, count FROM keys WHERE key = ?1" },
	{ S_KEY_PUT,
	    "INSERT OR REPLACE INTO keys(key, fp, first, count, created)"
	    " VALUES (?1, ?2, ?3, ?4, ?5)" },
	{ S_EVENTS_SUM,
	    "SELECT " USAGE_SUMS " FROM events WHERE id >= ?1 AND id < ?1 + ?2" },
	{ S_RULE_UPDATE,
	    "UPDATE rules SET lim = ?7 WHERE sel = ?1 AND subject = ?2"
	    " AND model = ?3 AND metric = ?4 AND wkind = ?5 AND wsecs = ?6" },
	{ S_RULE_INSERT,
	    "INSERT INTO rules(sel, subject, model, metric, wkind, wsecs, lim)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)" },
	{ S_RULE_DEL,
	    "DELETE FROM rules WHERE sel = ?1 AND subject = ?2 AND model = ?3"
	    " AND metric = ?4 AND wkind = ?5 AND wsecs = ?6" },
	{ S_RULE_LOAD,
	    "SELECT sel, subject, model, metric, wkind, wsecs, lim FROM rules"
	    " ORDER BY sel, subject, model, metric, wkind, wsecs" },
	{ S_PLAN_SET,
	    "INSERT INTO plans(user, plan) VALUES (?1, ?2)"
	    " ON CONFLICT(user) DO UPDATE SET plan = excluded.plan" },
	{ S_PLAN_DEL,		"DELETE FROM plans WHERE user = ?1" },
	{ S_PLAN_LOAD,		"SELECT user, plan FROM plans ORDER BY user" },
	{ S_BYPASS_ADD,
	    "INSERT OR IGNORE INTO bypass(guild, id) VALUES (?1, ?2)" },
	{ S_BYPASS_DEL,		"DELETE FROM bypass WHERE guild = ?1 AND id = ?2" },
	{ S_BYPASS_LOAD,	"SELECT guild, id FROM bypass ORDER BY guild, id" },
	{ S_PRICE_PUT,
	    "INSERT OR REPLACE INTO prices(model, input, output, cached,"
	    " cache_write) VALUES (?1, ?2, ?3, ?4, ?5)" },
	{ S_PRICE_DEL,		"DELETE FROM prices WHERE model = ?1" },
	{ S_PRICE_LOAD,
	    "SELECT model, input, output, cached, cache_write FROM prices"
	    " ORDER BY model" },
	{ S_HOLD_PUT,
	    "INSERT OR REPLACE INTO holds(id, created, expires, user, guild,"
	    " model, tokens, cost) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)" },
	{ S_HOLD_DEL,		"DELETE FROM holds WHERE id = ?1" },
	{ S_HOLD_LOAD,
	    "SELECT id, created, expires, user, guild, model, tokens, cost"
	    " FROM holds ORDER BY created, id" },
	/* store_views.c: a user's totals, the admin views, pages of events */
	{ S_USER_DAILY_TOTALS,
	    "SELECT " USAGE_SUMS " FROM daily WHERE user = ?1 AND day >= ?2"
	    " AND day < ?3" },
	{ S_USER_MODELS_TOTALS,
	    "SELECT model, " USAGE_SUMS " FROM daily WHERE user = ?1"
	    " GROUP BY model ORDER BY model" },
	{ S_USER_MODELS_SINCE,
	    "SELECT DISTINCT model FROM daily WHERE user = ?1 AND day >= ?2"
	    " AND model <> '' ORDER BY model" },
	{ S_VIEW_TOTALS,
	    "SELECT " USAGE_SUMS ", COUNT(DISTINCT user),"
	    " COUNT(DISTINCT NULLIF(guild, ''))" VIEW_WHERE },
	{ S_VIEW_BY_USER,	VIEW_GROUP("user") },
	{ S_VIEW_BY_GUILD,	VIEW_GROUP("guild") },
	{ S_VIEW_BY_MODEL,	VIEW_GROUP("model") },
	{ S_VIEW_BY_SERVICE,	VIEW_GROUP("service") },
	{ S_VIEW_BY_DAY,
	    "SELECT day, " USAGE_SUMS VIEW_WHERE " GROUP BY day ORDER BY day" },
	{ S_VIEW_USER_ALL,
	    "SELECT " USAGE_SUMS " FROM daily WHERE user = ?1"
	    " AND (?2 IS NULL OR guild = ?2)" },
	{ S_USER_DAYS,
	    "SELECT DISTINCT day FROM daily INDEXED BY daily_user_day"
	    " WHERE user = ?1 AND day >= ?2 AND day < ?3 ORDER BY day" },
	/* The daily totals in key order (the primary key's), for a history moved. */
	{ S_DAILY_PAGE,
	    "SELECT day, user, guild, model, service, kind, " USAGE_COLS
	    " FROM daily WHERE (day, user, guild, model, service, kind) >"
	    " (?1, ?2, ?3, ?4, ?5, ?6) ORDER BY day, user, guild, model, service,"
	    " kind LIMIT ?7" },
	{ S_DAILY_FIRST,
	    "SELECT day, user, guild, model, service, kind, " USAGE_COLS
	    " FROM daily ORDER BY day, user, guild, model, service, kind LIMIT ?1" },
	{ S_DAILY_EVENTS,
	    "SELECT at / " SQL_NUM(DAY) " * " SQL_NUM(DAY) ", user,"
	    " COALESCE(guild, ''), COALESCE(model, ''), COALESCE(service, ''),"
	    " COALESCE(kind, ''), " USAGE_SUMS " FROM events"
	    " WHERE at >= ?1 AND at < ?2 GROUP BY 1, 2, 3, 4, 5, 6" },
	/* Amounts that no event stands for: thru as it was (0 for a new row). */
	{ S_DAILY_IMPORT,
	    "INSERT INTO daily(day, user, guild, model, service, kind, "
	    USAGE_COLS ", thru) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
	    " ?11, ?12, ?13, ?14, 0)"
	    " ON CONFLICT(day, user, guild, model, service, kind)"
	    " DO UPDATE SET " USAGE_ADD },
	{ S_EVENTS_MIN_AT,	"SELECT MIN(at) FROM events" },
	{ S_EVENTS_ASC,		EVENTS_ASC(" WHERE ") },
	{ S_EVENTS_IDS_ASC,	EVENTS_ASC(EVENTS_IDS) },
	{ S_EVENTS_DESC,	EVENTS_DESC(" WHERE ") },
	{ S_EVENTS_IDS_DESC,	EVENTS_DESC(EVENTS_IDS) },
	/* store_maint.c: folding and pruning buckets, pruning events, keys and hours, the monthly archive */
	/*
	 * The first ?2 minute buckets before ?1, in the order of the index
	 * buckets_span_start: the fold adds them to their hour buckets, then
	 * the drop deletes the same rows (the fold added only hour buckets).
	 */
	{ S_BUCKET_FOLD,
	    "INSERT INTO buckets(scope, subject, model, start, span, tokens,"
	    " cost, requests)"
	    " SELECT scope, subject, model, start - start % " SQL_NUM(BUCKET_HOUR) " AS hour, "
	    SQL_NUM(BUCKET_HOUR) ","
	    " ssum(tokens), ssum(cost), ssum(requests) FROM (" FOLD_BATCH ")"
	    " GROUP BY scope, subject, model, hour"
	    " ON CONFLICT(scope, subject, model, start, span) DO UPDATE SET"
	    " tokens = sadd(tokens, excluded.tokens), cost = sadd(cost, excluded.cost),"
	    " requests = sadd(requests, excluded.requests)" },
	{ S_BUCKET_DROP_MINUTES,
	    "DELETE FROM buckets WHERE (scope, subject, model, start, span)"
	    " IN (SELECT scope, subject, model, start, span FROM (" FOLD_BATCH "))" },
	/* Up to ?3 buckets of span ?2 that end at or before ?1. */
	{ S_BUCKET_PRUNE,
	    "DELETE FROM buckets WHERE (scope, subject, model, start, span)"
	    " IN (SELECT scope, subject, model, start, span FROM buckets"
	    " WHERE span = ?2 AND start <= ?1 - ?2 ORDER BY start LIMIT ?3)" },
	/* Only events whose amounts the totals hold: not the pending ones. */
	{ S_EVENTS_PRUNE,
	    "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < ?1"
	    " AND id <= (SELECT val FROM meta WHERE name = 'totals_through')"
	    " ORDER BY at, id LIMIT ?2)" },
	{ S_KEYS_PRUNE,		"DELETE FROM keys WHERE created < ?1" },
	/* Up to ?2 rows of the hours before ?1, oldest first. */
	{ S_HOURLY_PRUNE,
	    "DELETE FROM hourly WHERE (hour, user) IN (SELECT hour, user"
	    " FROM hourly WHERE hour < ?1 ORDER BY hour LIMIT ?2)" },
	/* The ?4-th user after ?3 with usage in the month [?1, ?2), or the last. */
	{ S_MONTH_USERS,
	    "SELECT MAX(user), COUNT(*) FROM (SELECT DISTINCT user FROM daily"
	    " INDEXED BY daily_user_day"
	    " WHERE user > ?3 AND day >= ?1 AND day < ?2 ORDER BY user LIMIT ?4)" },
	{ S_MONTH_ARCHIVE,
	    "INSERT OR REPLACE INTO monthly(month, user, guild, model, "
	    USAGE_COLS ") SELECT ?1, user, guild, model, " USAGE_SUMS
	    " FROM daily INDEXED BY daily_user_day"
	    " WHERE user > ?3 AND user <= ?4 AND day >= ?1 AND day < ?2"
	    " GROUP BY user, guild, model" },
};

sqlite3		*db;
sqlite3_stmt	*stmts[S_MAX];
bool		 tx_open;
bool		 tx_failed;

/*
 * Log a failure of what and map the SQLite result code rc to a TOKQ_E_*
 * code: resource trouble that a retry may cure is -TOKQ_E_TEMP, anything
 * else -TOKQ_E_INTERNAL.  If the failure made SQLite roll the open
 * transaction back, the batch is marked failed.
 */
int
store_fail(const char *what, int rc)
{
	log_warnx("store: %s: %s", what, sqlite3_errmsg(db));
	if (tx_open && !tx_failed && sqlite3_get_autocommit(db)) {
		log_warnx("store: the transaction was rolled back");
		tx_failed = true;
	}
	switch (rc & 0xff) {
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_NOMEM:
		return -TOKQ_E_TEMP;
	default:
		return -TOKQ_E_INTERNAL;
	}
}

void
bind_usage(sqlite3_stmt *st, int i, const struct usage *u)
{
	sqlite3_bind_int64(st, i, u->requests);
	sqlite3_bind_int64(st, i + 1, u->prompt);
	sqlite3_bind_int64(st, i + 2, u->completion);
	sqlite3_bind_int64(st, i + 3, u->total);
	sqlite3_bind_int64(st, i + 4, u->cached);
	sqlite3_bind_int64(st, i + 5, u->cache_write);
	sqlite3_bind_int64(st, i + 6, u->reasoning);
	sqlite3_bind_int64(st, i + 7, u->cost);
}

void
column_usage(sqlite3_stmt *st, int i, struct usage *u)
{
	u->requests = sqlite3_column_int64(st, i);
	u->prompt = sqlite3_column_int64(st, i + 1);
	u->completion = sqlite3_column_int64(st, i + 2);
	u->total = sqlite3_column_int64(st, i + 3);
	u->cached = sqlite3_column_int64(st, i + 4);
	u->cache_write = sqlite3_column_int64(st, i + 5);
	u->reasoning = sqlite3_column_int64(st, i + 6);
	u->cost = sqlite3_column_int64(st, i + 7);
}

/* An event from a row of EVENT_COLS; its strings live until the next step. */
void
column_event(sqlite3_stmt *st, struct event *ev)
{
	ev->id = sqlite3_column_int64(st, 0);
	ev->at = sqlite3_column_int64(st, 1);
	ev->user = column_text(st, 2, false);
	ev->guild = column_text(st, 3, false);
	ev->channel = column_text(st, 4, false);
	ev->model = column_text(st, 5, false);
	ev->service = column_text(st, 6, false);
	ev->kind = column_text(st, 7, false);
	ev->session = column_text(st, 8, false);
	ev->call = sqlite3_column_type(st, 9) == SQLITE_NULL ? -1 :
	    sqlite3_column_int64(st, 9);
	ev->meta = column_text(st, 10, false);
	column_usage(st, 11, &ev->u);
}

/*
 * Step the bound statement st, which returns no rows, to its end, then
 * reset and unbind it.  Returns the number of rows it changed, or a
 * negative TOKQ_E_* code.
 */
int
run(sqlite3_stmt *st, const char *what)
{
	int	 rc;

	if ((rc = sqlite3_step(st)) != SQLITE_DONE && rc != SQLITE_ROW) {
		rc = store_fail(what, rc);
		stmt_done(st);
		return rc;
	}
	stmt_done(st);
	return sqlite3_changes(db);
}

/* mkdir -p of the directory that holds path, new ones with mode 0750. */
static int
mkparent(const char *path)
{
	char	 dir[PATH_MAX];
	char	*p, c;

	if ((size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir)) {
		log_warnx("store: %s: path too long", path);
		return -1;
	}
	if ((p = strrchr(dir, '/')) == NULL || p == dir)
		return 0;
	*p = '\0';
	for (p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(dir, 0750) == -1 && errno != EEXIST) {
			log_warn("store: mkdir %s", dir);
			return -1;
		}
		if ((*p = c) == '\0')
			break;
	}
	return 0;
}

/* Run one PRAGMA or statement that may return a row, ignoring it. */
int
exec(const char *sql)
{
	char	*err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_warnx("store: %s: %s", sql, err ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static int
user_version(int *v)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/*
 * Bring the schema up to date: every step after the file's user_version,
 * and the new version, in one transaction.  A file from a newer tokqd is
 * refused rather than guessed at.
 */
static int
migrate(void)
{
	char	 sql[64];
	int	 v, i;

	if (exec("BEGIN IMMEDIATE") == -1)
		return -1;
	if (user_version(&v) == -1) {
		log_warnx("store: user_version: %s", sqlite3_errmsg(db));
		goto fail;
	}
	if (v > NMIGRATIONS) {
		log_warnx("store: schema version %d is newer than this tokqd's %d",
		    v, NMIGRATIONS);
		goto fail;
	}
	if (v == NMIGRATIONS)
		return exec("COMMIT");
	for (i = v; i < NMIGRATIONS; i++)
		if (exec(migrations[i]) == -1)
			goto fail;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", NMIGRATIONS);
	if (exec(sql) == -1 || exec("COMMIT") == -1)
		goto fail;
	log_info("store: schema version %d -> %d", v, NMIGRATIONS);
	return 0;
fail:
	if (!sqlite3_get_autocommit(db))
		exec("ROLLBACK");
	return -1;
}

/*
 * Open (creating it and its directory if need be) the database at path,
 * bring its schema up to date, prepare every statement and read the id of
 * the next event into *next.  On failure everything is closed again
 * and -TOKQ_E_TEMP (busy) or -TOKQ_E_INTERNAL is returned.
 */
int
db_open(const char *path, int64_t *next)
{
	sqlite3_stmt	*st;
	const char	*mode;
	size_t		 i;
	int		 rc;

	if (mkparent(path) == -1)
		return -TOKQ_E_INTERNAL;
	/*
	 * A request's savepoint journals the pages it changes.  Past 64 KiB
	 * (SQLite's default) that journal moves to a temporary file for the
	 * rest of the batch, two pwrites a page: ~15 pwrite64 per record.
	 * -1 keeps it in memory always; it is emptied at each request's
	 * RELEASE, so one request's pages bound it (a maintenance round, an
	 * import of 500 events: a few MiB).  Not a larger threshold: SQLite
	 * then spills in chunks of the threshold's size, and the unix VFS
	 * cuts a write to 128 KiB and calls the rest a full disk.  SQLite
	 * takes this only before it initializes (the first sq_open).
	 */
	sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, -1);
	/*
	 * One thread uses SQLite: no mutexes, and no memory statistics, whose
	 * counters take a mutex on every malloc (2 % of tokqd under records).
	 */
	sqlite3_config(SQLITE_CONFIG_SINGLETHREAD);
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (walbuf_register() == -1) {
		log_warnx("store: cannot register the %s VFS", WALBUF_VFS);
		return -TOKQ_E_INTERNAL;
	}
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, WALBUF_VFS);
	if (rc != SQLITE_OK) {
		log_warnx("store: %s: %s", path,
		    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_create_function(db, "sadd", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC |
	    SQLITE_INNOCUOUS, NULL, sql_sadd, NULL, NULL) != SQLITE_OK ||
	    sqlite3_create_function(db, "ssum", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC |
	    SQLITE_INNOCUOUS, NULL, NULL, sql_ssum_step, sql_ssum_final) != SQLITE_OK) {
		log_warnx("store: cannot register sadd and ssum: %s", sqlite3_errmsg(db));
		goto fail;
	}
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st,
	    NULL) != SQLITE_OK) {
		log_warnx("store: journal_mode: %s", sqlite3_errmsg(db));
		goto fail;
	}
	mode = (rc = sqlite3_step(st)) == SQLITE_ROW ?
	    (const char *)sqlite3_column_text(st, 0) : NULL;
	if (mode == NULL || strcmp(mode, "wal") != 0)
		log_warnx("store: %s: cannot use WAL mode: %s", path,
		    mode ? mode : sqlite3_errmsg(db));
	sqlite3_finalize(st);
	/*
	 * A 32 MiB page cache keeps the b-trees' upper pages in memory, and a
	 * checkpoint every 10,000 WAL pages (not 1,000) writes a hot page back
	 * once for many commits: together +30-50 % records/s in make bench.
	 */
	if (exec("PRAGMA synchronous = FULL") == -1 ||
	    exec("PRAGMA foreign_keys = ON") == -1 ||
	    exec("PRAGMA cache_size = -32768") == -1 ||
	    exec("PRAGMA wal_autocheckpoint = 10000") == -1 ||
	    exec("PRAGMA journal_size_limit = 16777216") == -1 || migrate() == -1)
		goto fail;
	for (i = 0; i < sizeof(stmt_sql) / sizeof(stmt_sql[0]); i++) {
		if (sqlite3_prepare_v2(db, stmt_sql[i].sql, -1,
		    &stmts[stmt_sql[i].id], NULL) != SQLITE_OK) {
			log_warnx("store: prepare \"%s\": %s", stmt_sql[i].sql,
			    sqlite3_errmsg(db));
			goto fail;
		}
	}
	for (i = 0; i < S_MAX; i++)
		if (stmts[i] == NULL)
			fatalx("store: statement %zu has no SQL", i);
	if (row(stmt(S_NEXT_ID), "next_id") != 1)
		goto fail;
	*next = sqlite3_column_int64(stmt(S_NEXT_ID), 0);
	stmt_done(stmt(S_NEXT_ID));
	return 0;
fail:
	rc = db && (sqlite3_errcode(db) & 0xff) == SQLITE_BUSY ?
	    -TOKQ_E_TEMP : -TOKQ_E_INTERNAL;
	db_close();
	return rc;
}

/* Finalize every statement and close the connection. */
void
db_close(void)
{
	size_t	 i;

	for (i = 0; i < S_MAX; i++) {
		sqlite3_finalize(stmts[i]);
		stmts[i] = NULL;
	}
	if (sqlite3_close(db) != SQLITE_OK)
		log_warnx("store: close: %s", sqlite3_errmsg(db));
	db = NULL;
}

/* The database's size: its pages, committed or not.  -1 on failure. */
int64_t
sq_db_bytes(void)
{
	int64_t	 count, size;

	if (row(stmt(S_PAGE_COUNT), "page_count") != 1)
		return -1;
	count = sqlite3_column_int64(stmt(S_PAGE_COUNT), 0);
	stmt_done(stmt(S_PAGE_COUNT));
	if (row(stmt(S_PAGE_SIZE), "page_size") != 1)
		return -1;
	size = sqlite3_column_int64(stmt(S_PAGE_SIZE), 0);
	stmt_done(stmt(S_PAGE_SIZE));
	return count * size;
}

/*
 * Bulk loading (tokq-preload, never tokqd): no fsync and a large page
 * cache while on; back to synchronous=FULL when off.  Without fsyncs
 * walbuf.c may hold commits in memory for a while: fine for a process alone
 * with its file that stops at the first error.
 */
int
sq_bulk(bool on)
{
	if (exec(on ? "PRAGMA synchronous = OFF" : "PRAGMA synchronous = FULL") == -1 ||
	    exec(on ? "PRAGMA cache_size = -524288" : "PRAGMA cache_size = -32768") == -1)
		return -TOKQ_E_INTERNAL;
	return 0;
}

int
sq_meta_get(const char *name, int64_t *val)
{
	sqlite3_stmt	*st = stmt(S_META_GET);
	int		 rc;

	bind_text(st, 1, name);
	if ((rc = row(st, "meta_get")) == 1) {
		*val = sqlite3_column_int64(st, 0);
		stmt_done(st);
	}
	return rc;
}

int
sq_meta_set(const char *name, int64_t val)
{
	sqlite3_stmt	*st = stmt(S_META_SET);
	int		 rc;

	if ((rc = writable("meta_set")) < 0)
		return rc;
	bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, val);
	rc = run(st, "meta_set");
	return rc < 0 ? rc : 0;
}

/* Add n to the meta value name (0 when absent), inside the batch. */
int
meta_add(const char *name, int64_t n)
{
	sqlite3_stmt	*st = stmt(S_META_ADD);
	int		 rc;

	bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, n);
	rc = run(st, "meta_add");
	return rc < 0 ? rc : 0;
}

/* sum += u, each amount saturating (tokqd.h, sat_add). */
void
usage_add(struct usage *sum, const struct usage *u)
{
	sum->requests = sat_add(sum->requests, u->requests);
	sum->prompt = sat_add(sum->prompt, u->prompt);
	sum->completion = sat_add(sum->completion, u->completion);
	sum->total = sat_add(sum->total, u->total);
	sum->cached = sat_add(sum->cached, u->cached);
	sum->cache_write = sat_add(sum->cache_write, u->cache_write);
	sum->reasoning = sat_add(sum->reasoning, u->reasoning);
	sum->cost = sat_add(sum->cost, u->cost);
}
