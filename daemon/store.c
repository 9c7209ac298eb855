/*
 * store.c: the database, and the only file that includes sqlite3.h but
 * for walbuf.c, the VFS it opens the database with.
 *
 * The daemon is the single writer of one SQLite file in WAL mode with
 * synchronous=FULL (which walbuf.c relies on).  Every statement is
 * prepared once at open from the table below, reset and unbound after
 * every use, and finalized at close.  Writes run inside one transaction
 * that the event loop opens with store_begin() and closes with
 * store_commit() for a whole batch of requests (group commit); a write
 * that needs several statements runs them under a savepoint, so it either
 * happens whole or not at all while the rest of the batch goes on.  If
 * SQLite itself rolls the transaction back (disk full, I/O error), the
 * batch is marked failed: later writes and the commit return -TOKQ_E_TEMP,
 * so nothing of it is acknowledged.
 *
 * The raw events are the record: the daily totals, the users' hours and
 * the quota buckets derived from them are written behind (see "Totals
 * written behind").
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

#include <sqlite3.h>

#include "tokqd.h"

#define DAY	86400

#define USAGE_COLS \
	"requests, prompt, completion, total, cached, cache_write, reasoning, cost"
/*
 * Sums in SQL saturate at INT64_MAX (ssum, sadd: store_open registers
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
	"  SELECT at - ((at % 3600) + 3600) % 3600, user, " USAGE_SUMS ","
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
	" WHERE span = 60 AND start < ?1" \
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

enum stmt_id {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_PAGE_COUNT,
	S_PAGE_SIZE,
	S_META_GET,
	S_META_SET,
	S_EVENT_ADD,
	S_DAILY_ADD,
	S_DAILY_THRU,
	S_EVENTS_SUM,
	S_EVENTS_AFTER,
	S_NEXT_ID,
	S_KEY_GET,
	S_KEY_PUT,
	S_BUCKET_ADD,
	S_BUCKET_THRU,
	S_BUCKET_LOAD,
	S_BUCKET_CLEAR,
	S_BUCKET_CLEAR_MODEL,
	S_BUCKET_FOLD,
	S_BUCKET_DROP_MINUTES,
	S_BUCKET_PRUNE,
	S_RULE_UPDATE,
	S_RULE_INSERT,
	S_RULE_DEL,
	S_RULE_LOAD,
	S_PLAN_SET,
	S_PLAN_DEL,
	S_PLAN_LOAD,
	S_BYPASS_ADD,
	S_BYPASS_DEL,
	S_BYPASS_LOAD,
	S_PRICE_PUT,
	S_PRICE_DEL,
	S_PRICE_LOAD,
	S_HOLD_PUT,
	S_HOLD_DEL,
	S_HOLD_LOAD,
	S_HOURLY_ADD,
	S_HOURLY_THRU,
	S_HOURLY_GET,
	S_HOURLY_PRUNE,
	S_USER_DAILY_TOTALS,
	S_USER_MODELS_TOTALS,
	S_META_ADD,
	S_USER_WRITTEN,
	S_EVENTS_PRUNE,
	S_KEYS_PRUNE,
	S_MONTH_USERS,
	S_MONTH_ARCHIVE,
	S_VIEW_TOTALS,
	S_VIEW_BY_USER,
	S_VIEW_BY_GUILD,
	S_VIEW_BY_MODEL,
	S_VIEW_BY_SERVICE,
	S_VIEW_BY_DAY,
	S_VIEW_USER_ALL,
	S_USER_MODELS_SINCE,
	S_EVENTS_ASC,
	S_EVENTS_IDS_ASC,
	S_EVENTS_DESC,
	S_EVENTS_IDS_DESC,
	S_EVENTS_MIN_AT,
	S_USER_DAYS,
	S_MAX
};

static const struct {
	enum stmt_id	 id;
	const char	*sql;
} stmt_sql[] = {
	{ S_BEGIN,		"BEGIN IMMEDIATE" },
	{ S_COMMIT,		"COMMIT" },
	{ S_ROLLBACK,		"ROLLBACK" },
	{ S_SAVEPOINT,		"SAVEPOINT w" },
	{ S_RELEASE,		"RELEASE w" },
	{ S_ROLLBACK_TO,	"ROLLBACK TO w" },
	{ S_PAGE_COUNT,		"PRAGMA page_count" },
	{ S_PAGE_SIZE,		"PRAGMA page_size" },
	{ S_META_GET,		"SELECT val FROM meta WHERE name = ?1" },
	{ S_META_SET,
	    "INSERT INTO meta(name, val) VALUES (?1, ?2)"
	    " ON CONFLICT(name) DO UPDATE SET val = excluded.val" },
	{ S_EVENT_ADD,
	    "INSERT INTO events(id, at, user, guild, channel, model, service,"
	    " kind, session, call, meta, " USAGE_COLS ") VALUES (?19, ?1, ?2,"
	    " ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
	    " ?18)" },
	{ S_DAILY_ADD,
	    "INSERT INTO daily(day, user, guild, model, service, kind, "
	    USAGE_COLS ", thru) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
	    " ?11, ?12, ?13, ?14, ?15)"
	    " ON CONFLICT(day, user, guild, model, service, kind)"
	    " DO UPDATE SET " USAGE_ADD ", thru = excluded.thru" },
	{ S_DAILY_THRU,
	    "SELECT thru FROM daily WHERE day = ?1 AND user = ?2 AND guild = ?3"
	    " AND model = ?4 AND service = ?5 AND kind = ?6" },
	{ S_EVENTS_SUM,
	    "SELECT " USAGE_SUMS " FROM events WHERE id >= ?1 AND id < ?1 + ?2" },
	{ S_EVENTS_AFTER,	EVENT_COLS "id > ?1 ORDER BY id" },
	/* Past every id in use or behind the totals: ids are never reused. */
	{ S_NEXT_ID,
	    "SELECT MAX(COALESCE((SELECT MAX(id) FROM events), 0),"
	    " COALESCE((SELECT val FROM meta WHERE name = 'totals_through'), 0))"
	    " + 1" },
	{ S_KEY_GET,		"SELECT fp, first, count FROM keys WHERE key = ?1" },
	{ S_KEY_PUT,
	    "INSERT OR REPLACE INTO keys(key, fp, first, count, created)"
	    " VALUES (?1, ?2, ?3, ?4, ?5)" },
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
	    " AND start > ?4 - 3600 AND start + span > ?4"
	    " ORDER BY start, span" },
	{ S_BUCKET_CLEAR,
	    "DELETE FROM buckets WHERE scope = ?1 AND subject = ?2" },
	{ S_BUCKET_CLEAR_MODEL,
	    "DELETE FROM buckets WHERE scope = ?1 AND subject = ?2 AND model = ?3" },
	/*
	 * The first ?2 minute buckets before ?1, in the order of the index
	 * buckets_span_start: the fold adds them to their hour buckets, then
	 * the drop deletes the same rows (the fold added only hour buckets).
	 */
	{ S_BUCKET_FOLD,
	    "INSERT INTO buckets(scope, subject, model, start, span, tokens,"
	    " cost, requests)"
	    " SELECT scope, subject, model, start - start % 3600 AS hour, 3600,"
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
	/* Up to ?2 rows of the hours before ?1, oldest first. */
	{ S_HOURLY_PRUNE,
	    "DELETE FROM hourly WHERE (hour, user) IN (SELECT hour, user"
	    " FROM hourly WHERE hour < ?1 ORDER BY hour LIMIT ?2)" },
	{ S_USER_DAILY_TOTALS,
	    "SELECT " USAGE_SUMS " FROM daily WHERE user = ?1 AND day >= ?2"
	    " AND day < ?3" },
	{ S_USER_MODELS_TOTALS,
	    "SELECT model, " USAGE_SUMS " FROM daily WHERE user = ?1"
	    " GROUP BY model ORDER BY model" },
	{ S_META_ADD,
	    "INSERT INTO meta(name, val) VALUES (?1, ?2)"
	    " ON CONFLICT(name) DO UPDATE SET val = sadd(val, excluded.val)" },
	{ S_USER_WRITTEN,
	    "SELECT 1 FROM daily INDEXED BY daily_user_day WHERE user = ?1 LIMIT 1" },
	/* Only events whose amounts the totals hold: not the pending ones. */
	{ S_EVENTS_PRUNE,
	    "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < ?1"
	    " AND id <= (SELECT val FROM meta WHERE name = 'totals_through')"
	    " ORDER BY at, id LIMIT ?2)" },
	{ S_KEYS_PRUNE,		"DELETE FROM keys WHERE created < ?1" },
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
	{ S_USER_MODELS_SINCE,
	    "SELECT DISTINCT model FROM daily WHERE user = ?1 AND day >= ?2"
	    " AND model <> '' ORDER BY model" },
	{ S_EVENTS_ASC,		EVENTS_ASC(" WHERE ") },
	{ S_EVENTS_IDS_ASC,	EVENTS_ASC(EVENTS_IDS) },
	{ S_EVENTS_DESC,	EVENTS_DESC(" WHERE ") },
	{ S_EVENTS_IDS_DESC,	EVENTS_DESC(EVENTS_IDS) },
	{ S_EVENTS_MIN_AT,	"SELECT MIN(at) FROM events" },
	{ S_USER_DAYS,
	    "SELECT DISTINCT day FROM daily INDEXED BY daily_user_day"
	    " WHERE user = ?1 AND day >= ?2 AND day < ?3 ORDER BY day" },
};

static sqlite3		*db;
static sqlite3_stmt	*stmts[S_MAX];
static bool		 tx_open;	/* between store_begin and commit/rollback */
static bool		 tx_failed;	/* SQLite rolled the batch back by itself */

/*
 * Totals written behind.  A record writes its raw event at once; what it
 * adds to the daily totals, to its user's hour and to the quota buckets
 * waits in memory, added up per row, and goes out about a second later
 * (PEND_USEC), or once PEND_MAX rows wait, in key order.  A record touches
 * a dozen b-tree pages when it writes them itself: an event, a daily row,
 * an hour and six buckets with their indexes, each page copied whole into
 * the WAL; written behind, a second's records share the pages.
 *
 * In parts.  Under load a second's rows are ~25,000, and written in one
 * commit they stalled every request for 75-125 ms.  So when they are due
 * they become the set going out (`out`), sorted once, and each commit
 * writes the next part of it, FLUSH_MIN rows or 1/FLUSH_PARTS of the set,
 * whichever is more, while new records start the next pending set.  Sets
 * go out one after the other: the next waits until the last part of the
 * one before is written (or, past PEND_MAX, writes its rest at once).
 *
 * Nothing is lost in a crash: meta 'totals_through' is the last event id
 * whose amounts are in the tables, moved up in the transaction of a set's
 * last part, and at start store_replay() adds the events after it again.
 * Ids are given here and never reused, so an event is after the mark
 * exactly when its amounts are not all written.  Within a set cut short,
 * some rows are: each row written says in `thru` the last event id of its
 * set, and meta 'flushing_through' names the set going out, so the replay
 * takes back the rows that set wrote before it stopped.  When a batch
 * fails, memory is dropped and replayed the same way from what the
 * database kept.
 *
 * Readers of the tables see the pending amounts: store_bucket_load adds
 * those not yet written to what it reads, and so do a user's own totals
 * and hours (store_user_*: `usage`, and a user's events, which are found
 * by the user's hours); the other daily totals' readers (stats and
 * reports) call store_settle() first (dispatch does, for them),
 * and so does every other write (store_mark) and maintenance before it
 * reads or rewrites totals or prunes events: they write all that waits.
 * A request's additions are undone with its savepoint (undo log, one mark
 * per savepoint level).  Writing them out inside a savepoint would let a
 * rollback drop them from the table after they left memory: refused.
 */
#define PEND_USEC	(1000 * 1000)
#define PEND_MAX	50000
#define FLUSH_MIN	256		/* rows, at ~4 us each */
#define FLUSH_PARTS	64
#define PEND_INLINE	2		/* a second's buckets of a counter */
struct pend {				/* the counter is in its map key */
	struct bucket	*b;		/* amounts to add, by bucket */
	size_t		 n, cap;
	bool		 written;	/* of the set going out: in the table */
	struct bucket	 in[PEND_INLINE]; /* b, until it needs more */
};
struct dpend {
	int64_t		 day;
	struct usage	 u;
};
struct hpend {				/* a user's hour: key hour, user */
	int64_t		 hour;
	struct usage	 u;
	int64_t		 first, last;	/* event ids; an undone one may stay */
	bool		 written;	/* of the set going out: in the table */
};
/*
 * A pending row: its key (fields NUL apart), its amounts, its kind (daily
 * rows are written first, then hourly, then counters), a daily or hourly
 * row's time, and for the sort the first 8 bytes of the fields past the
 * time as a big-endian number (row_bytes), which pendset_sort turns into
 * the row's sort number.
 */
enum row_kind { ROW_DAILY, ROW_HOURLY, ROW_COUNTER };
struct pend_row {
	const char	*key;
	void		*val;
	int64_t		 t;
	uint64_t	 sk;
	enum row_kind	 kind;
};
/*
 * Rows waiting: the counters' buckets, the daily totals and the users'
 * hours, and a list of them in the order added.  Their amounts and keys live in blocks of the
 * set's own, freed at once when the set is written: freed one by one,
 * a second's 30,000 rows took 11-13 ms, and walking a map to list them
 * 8-12 ms, all in one commit.
 */
struct pend_block {
	struct pend_block *next;
	size_t		 used, size;
	max_align_t	 mem[];
};
#define PEND_BLOCK	(256 * 1024)
struct pendset {
	struct hmap	 buckets;	/* counter key -> struct pend */
	struct hmap	 daily;		/* daily key -> struct dpend */
	struct hmap	 hourly;	/* hourly key -> struct hpend */
	struct pend_row	*rows;		/* of all three */
	size_t		 nrows, caprows;
	uint64_t	 first;		/* mono_usec of the oldest; 0: none */
	int64_t		 min_day;	/* of its daily rows, INT64_MAX: none */
	int64_t		 min_start;	/* of its buckets, INT64_MAX: none */
	struct pend_block *blocks;
};
struct pend_undo {
	struct pend	*p;		/* a bucket's addition, p->b[i] */
	size_t		 i;
	struct usage	*du;		/* or, when p is NULL, a daily total's */
	struct usage	 d;		/* the amounts before the addition (a
					   bucket's: total, cost, requests) */
};
#define SP_DEPTH_MAX	8
static void	pend_undo(size_t);
static int	pend_flush(const char *);
static void	pend_step(void);
static int	totals_pend(const struct event *);
static bool	usage_empty(const struct usage *);
static void	pend_clear(void);
static uint64_t		 pend_usec = PEND_USEC;
static size_t		 part_min = FLUSH_MIN;
static struct pendset	 pend;		/* records add to it */
static struct {
	bool		 open;		/* a set is going out */
	struct pendset	 set;		/* rows: daily, hourly, then counters,
					   each in key order */
	size_t		 next;		/* the first row not written */
	int64_t		 through;	/* its last event id */
} out;
static int64_t		 next_id;	/* of the next event */
static struct pend_row	*sort_tmp;	/* pendset_sort's, kept for the next */
static size_t		 sort_cap;
/*
 * Users known to have a daily row, in the table or in the open batch
 * (forgotten with the batch): a daily row of a user not known is looked
 * for once, and counts a new user in meta 'daily_users' when none is found.
 */
static struct hmap	 known_users;
static struct pend_undo	*undo;
static size_t		 undo_n, undo_cap;
static size_t		 undo_mark[SP_DEPTH_MAX];
static int		 sp_depth;

/*
 * Log a failure of what and map the SQLite result code rc to a TOKQ_E_*
 * code: resource trouble that a retry may cure is -TOKQ_E_TEMP, anything
 * else -TOKQ_E_INTERNAL.  If the failure made SQLite roll the open
 * transaction back, the batch is marked failed.
 */
static int
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

/* The statement id, ready to bind: the last use reset and unbound it. */
static sqlite3_stmt *
stmt(enum stmt_id id)
{
	return stmts[id];
}

static void
stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Bind s, NULL as SQL NULL.  The statement must be stepped before return. */
static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Bind s, NULL as '': for the columns that are part of a key. */
static void
bind_key(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_STATIC);
}

static void
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

static void
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

/* A text column; NULL when it is NULL or, with empty_null, ''. */
static const char *
column_text(sqlite3_stmt *st, int i, bool empty_null)
{
	const char	*s = (const char *)sqlite3_column_text(st, i);

	if (s != NULL && empty_null && *s == '\0')
		return NULL;
	return s;
}

/* An event from a row of EVENT_COLS; its strings live until the next step. */
static void
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
static int
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

/*
 * Step the bound statement st that returns at most one row.  Returns 1 with
 * the row current (the caller reads it, then calls stmt_done), 0 when there
 * was none and a negative code on failure; both already reset.
 */
static int
row(sqlite3_stmt *st, const char *what)
{
	int	 rc;

	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		rc = store_fail(what, rc);
	else
		rc = 0;
	stmt_done(st);
	return rc;
}

/*
 * Finish a loop over the rows of st that ended with step result rc, or
 * with cbrc from a callback that asked to stop.  A callback's negative
 * value is a failure (-TOKQ_E_INTERNAL), a positive one a wish.
 */
static int
rows_done(sqlite3_stmt *st, int rc, int cbrc, const char *what)
{
	if (cbrc != 0)
		rc = cbrc < 0 ? -TOKQ_E_INTERNAL : 0;
	else if (rc != SQLITE_DONE)
		rc = store_fail(what, rc);
	else
		rc = 0;
	stmt_done(st);
	return rc;
}

/*
 * Writes happen inside the batch's transaction only; once SQLite rolled it
 * back, nothing more may land in it.
 */
static int
writable(const char *what)
{
	if (db == NULL || !tx_open) {
		log_warnx("store: %s outside a transaction", what);
		return -TOKQ_E_INTERNAL;
	}
	if (tx_failed)
		return -TOKQ_E_TEMP;
	return 0;
}

/*
 * A write made of several statements runs under a savepoint: sp_begin,
 * the statements, then sp_end with their result, which releases the
 * savepoint or undoes them.  Returns rc, or the savepoint's failure.
 */
static int
sp_begin(const char *what)
{
	int	 rc;

	if ((rc = writable(what)) < 0)
		return rc;
	if (sp_depth == SP_DEPTH_MAX) {
		log_warnx("store: %s: savepoints nested too deep", what);
		return -TOKQ_E_INTERNAL;
	}
	if ((rc = run(stmt(S_SAVEPOINT), what)) < 0)
		return rc;
	undo_mark[sp_depth++] = undo_n;
	return 0;
}

static int
sp_end(int rc, const char *what)
{
	int	 r;

	sp_depth--;
	if (rc < 0)
		pend_undo(undo_mark[sp_depth]);
	else if (sp_depth == 0)
		undo_n = 0;
	if (rc < 0 && !tx_failed && !sqlite3_get_autocommit(db))
		run(stmt(S_ROLLBACK_TO), what);
	if (tx_failed || sqlite3_get_autocommit(db))
		return rc < 0 ? rc : -TOKQ_E_TEMP;
	if ((r = run(stmt(S_RELEASE), what)) < 0)
		return r;
	return rc;
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
static int
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
 * bring its schema up to date and prepare every statement.  On failure
 * everything is closed again and -TOKQ_E_TEMP (busy) or -TOKQ_E_INTERNAL
 * is returned.
 */
int
store_open(const char *path)
{
	sqlite3_stmt	*st;
	const char	*mode;
	size_t		 i;
	int		 rc;

	if (db != NULL)
		return -TOKQ_E_INTERNAL;
	if (mkparent(path) == -1)
		return -TOKQ_E_INTERNAL;
	pend_clear();
	/*
	 * A request's savepoint journals the pages it changes.  Past 64 KiB
	 * (SQLite's default) that journal moves to a temporary file for the
	 * rest of the batch, two pwrites a page: ~15 pwrite64 per record.
	 * -1 keeps it in memory always; it is emptied at each request's
	 * RELEASE, so one request's pages bound it (a maintenance round, an
	 * import of 500 events: a few MiB).  Not a larger threshold: SQLite
	 * then spills in chunks of the threshold's size, and the unix VFS
	 * cuts a write to 128 KiB and calls the rest a full disk.  SQLite
	 * takes this only before it initializes (the first store_open).
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
	next_id = sqlite3_column_int64(stmt(S_NEXT_ID), 0);
	stmt_done(stmt(S_NEXT_ID));
	tx_open = tx_failed = false;
	return 0;
fail:
	rc = db && (sqlite3_errcode(db) & 0xff) == SQLITE_BUSY ?
	    -TOKQ_E_TEMP : -TOKQ_E_INTERNAL;
	store_close();
	return rc;
}

/* Roll back what is uncommitted, finalize every statement, close. */
void
store_close(void)
{
	size_t	 i;

	if (db == NULL)
		return;
	if (!tx_open && (pend.first != 0 || out.open) &&
	    (store_settle() < 0 || store_commit() < 0))
		log_warnx("store: totals left to replay at the next start");
	store_rollback();
	free(undo);
	undo = NULL;
	undo_cap = 0;
	free(sort_tmp);
	sort_tmp = NULL;
	sort_cap = 0;
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
store_db_bytes(void)
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
store_bulk(bool on)
{
	if (exec(on ? "PRAGMA synchronous = OFF" : "PRAGMA synchronous = FULL") == -1 ||
	    exec(on ? "PRAGMA cache_size = -524288" : "PRAGMA cache_size = -32768") == -1)
		return -TOKQ_E_INTERNAL;
	return 0;
}

/* Open the batch's transaction; a no-op when it is open already. */
int
store_begin(void)
{
	int	 rc;

	if (tx_open)
		return 0;
	if ((rc = run(stmt(S_BEGIN), "begin")) < 0)
		return rc;
	tx_open = true;
	tx_failed = false;
	return 0;
}

/*
 * Commit the batch.  When that fails, or SQLite already rolled the batch
 * back, nothing of it is kept (an explicit ROLLBACK makes sure) and
 * -TOKQ_E_TEMP is returned: the caller acknowledges none of it.
 */
int
store_commit(void)
{
	int	 rc;

	if (!tx_open)
		return 0;
	if (!tx_failed)
		pend_step();
	if (tx_failed) {
		store_rollback();
		log_warnx("store: batch not committed");
		return -TOKQ_E_TEMP;
	}
	if ((rc = sqlite3_step(stmt(S_COMMIT))) != SQLITE_DONE) {
		log_warnx("store: commit: %s", sqlite3_errmsg(db));
		stmt_done(stmt(S_COMMIT));
		store_rollback();
		return -TOKQ_E_TEMP;
	}
	stmt_done(stmt(S_COMMIT));
	tx_open = false;
	return 0;
}

/* Undo the batch, if one is open. */
void
store_rollback(void)
{
	pend_clear();
	hmap_clear(&known_users, NULL);
	sp_depth = 0;
	if (!tx_open)
		return;
	if (!sqlite3_get_autocommit(db) &&
	    sqlite3_step(stmt(S_ROLLBACK)) != SQLITE_DONE)
		log_warnx("store: rollback: %s", sqlite3_errmsg(db));
	stmt_done(stmt(S_ROLLBACK));
	tx_open = tx_failed = false;
}

bool
store_in_tx(void)
{
	return tx_open;
}

/*
 * One request's writes, inside the batch: store_mark() opens the batch if
 * needed and sets a savepoint; store_unmark(rc) releases it when rc >= 0
 * and undoes the request's writes when rc < 0, so a request that fails half
 * way leaves nothing behind while the rest of the batch carries on.
 * Unless it only adds usage or holds (WRITES_ADDS: record and import, which
 * add to the totals, and release, which touches none), a request writes the
 * pending totals out first, outside its savepoint: it may clear or read them.
 */
int
store_mark(enum write_kind w)
{
	int	 rc;

	if ((rc = store_begin()) < 0)
		return rc;
	if (w != WRITES_ADDS && (rc = pend_flush("request")) < 0)
		return rc;
	return sp_begin("request");
}

int
store_unmark(int rc)
{
	return sp_end(rc, "request");
}

int
store_meta_get(const char *name, int64_t *val)
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
store_meta_set(const char *name, int64_t val)
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
static int
meta_add(const char *name, int64_t n)
{
	sqlite3_stmt	*st = stmt(S_META_ADD);
	int		 rc;

	bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, n);
	rc = run(st, "meta_add");
	return rc < 0 ? rc : 0;
}

/*
 * Insert the event, set ev->id, and add its amounts to the daily totals
 * of its UTC day, user, guild, model, service and kind (pending, written
 * behind): both or neither.
 */
int
store_event_add(struct event *ev)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((rc = sp_begin("event_add")) < 0)
		return rc;
	st = stmt(S_EVENT_ADD);
	sqlite3_bind_int64(st, 1, ev->at);
	bind_text(st, 2, ev->user);
	bind_text(st, 3, ev->guild);
	bind_text(st, 4, ev->channel);
	bind_text(st, 5, ev->model);
	bind_text(st, 6, ev->service);
	bind_text(st, 7, ev->kind);
	bind_text(st, 8, ev->session);
	if (ev->call >= 0)
		sqlite3_bind_int64(st, 9, ev->call);
	bind_text(st, 10, ev->meta);
	bind_usage(st, 11, &ev->u);
	sqlite3_bind_int64(st, 19, next_id);
	if ((rc = run(st, "event_add")) < 0)
		return sp_end(rc, "event_add");
	ev->id = next_id++;
	rc = totals_pend(ev);
	return sp_end(rc < 0 ? rc : 0, "event_add");
}

/* The sums of the events with ids in [first, first + count). */
int
store_events_sum(int64_t first, int64_t count, struct usage *u)
{
	sqlite3_stmt	*st = stmt(S_EVENTS_SUM);
	int		 rc;

	sqlite3_bind_int64(st, 1, first);
	sqlite3_bind_int64(st, 2, count);
	memset(u, 0, sizeof(*u));
	if ((rc = row(st, "events_sum")) == 1) {
		column_usage(st, 0, u);
		stmt_done(st);
	}
	return rc < 0 ? rc : 0;
}

/* 1 and the key's fingerprint and events when key is known, else 0. */
int
store_key_get(const char *key, uint64_t *fp, int64_t *first, int64_t *count)
{
	sqlite3_stmt	*st = stmt(S_KEY_GET);
	int		 rc;

	bind_text(st, 1, key);
	if ((rc = row(st, "key_get")) == 1) {
		*fp = (uint64_t)sqlite3_column_int64(st, 0);
		*first = sqlite3_column_int64(st, 1);
		*count = sqlite3_column_int64(st, 2);
		stmt_done(st);
	}
	return rc;
}

/*
 * Remember an idempotency key: its fingerprint (a uint64 kept bit for bit
 * as a signed integer), the events it made, and when, by the daemon's clock;
 * store_events_prune drops keys older than the raw events it prunes.
 */
int
store_key_put(const char *key, uint64_t fp, int64_t first, int64_t count,
    int64_t created)
{
	sqlite3_stmt	*st = stmt(S_KEY_PUT);
	int		 rc;

	if ((rc = writable("key_put")) < 0)
		return rc;
	bind_text(st, 1, key);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)fp);
	sqlite3_bind_int64(st, 3, first);
	sqlite3_bind_int64(st, 4, count);
	sqlite3_bind_int64(st, 5, created);
	rc = run(st, "key_put");
	return rc < 0 ? rc : 0;
}
/* Bind a bucket's identity to ?1..?5. */
static void
bind_bucket(sqlite3_stmt *st, enum scope sc, const char *subject,
    const char *model, const struct bucket *b)
{
	sqlite3_bind_int(st, 1, sc);
	bind_key(st, 2, subject);
	bind_key(st, 3, model);
	sqlite3_bind_int64(st, 4, b->start);
	sqlite3_bind_int64(st, 5, b->span);
}

/*
 * Add the amounts of b to the counter's bucket at b's start and span, and
 * mark it written by the part of the totals that ends at event `thru`.
 */
static int
bucket_upsert(enum scope sc, const char *subject, const char *model,
    const struct bucket *b, int64_t thru)
{
	sqlite3_stmt	*st = stmt(S_BUCKET_ADD);
	int		 rc;

	bind_bucket(st, sc, subject, model, b);
	sqlite3_bind_int64(st, 6, b->tokens);
	sqlite3_bind_int64(st, 7, b->cost);
	sqlite3_bind_int64(st, 8, b->requests);
	sqlite3_bind_int64(st, 9, thru);
	rc = run(st, "bucket_add");
	return rc < 0 ? rc : 0;
}

/*
 * Append s and its NUL to the key at *len; false when it does not fit.
 * NULL is "", as the keyed tables spell an absent name.
 */
static bool
key_cat(char *key, size_t size, size_t *len, const char *s)
{
	size_t	 l = s ? strlen(s) : 0;

	if (*len + l + 1 > size)
		return false;
	memcpy(key + *len, s ? s : "", l + 1);
	*len += l + 1;
	return true;
}

/*
 * The pending-map key of a counter: scope, subject and model, NUL apart, so
 * that pend_write reads them back out of the key.  0 when too long.
 */
static size_t
pend_key(char *key, size_t size, enum scope sc, const char *subject,
    const char *model)
{
	size_t	 len = 1;

	key[0] = (char)('0' + sc);
	if (!key_cat(key, size, &len, subject) || !key_cat(key, size, &len, model))
		return 0;
	return len - 1;
}

/*
 * The pending-map key of a daily row: the day as 16 hex digits, sign bit
 * flipped (so that keys sort by day), then user, guild, model, service and
 * kind, each ended by a NUL.  Returns its length, 0 when too long.  The
 * row (struct dpend) keeps the day as a number too.
 */
#define DAILY_FIELDS	6
#define TIME_KEY	17		/* a time's 16 hex digits and NUL */
static void
time_key(char *key, int64_t t)
{
	static const char	 hex[] = "0123456789abcdef";
	uint64_t		 d = (uint64_t)t ^ (1ULL << 63);
	int			 i;

	for (i = 15; i >= 0; i--, d >>= 4)
		key[i] = hex[d & 0xf];
	key[16] = '\0';
}

static size_t
daily_key(char *key, size_t size, int64_t day, const struct event *ev)
{
	size_t			 len = TIME_KEY;

	if (size < len)
		return 0;
	time_key(key, day);
	if (!key_cat(key, size, &len, ev->user) ||
	    !key_cat(key, size, &len, ev->guild) ||
	    !key_cat(key, size, &len, ev->model) ||
	    !key_cat(key, size, &len, ev->service) ||
	    !key_cat(key, size, &len, ev->kind))
		return 0;
	return len - 1;
}

/*
 * The pending-map key of a user's hour: the hour as a daily key has its
 * day, then the user; (hour, user) is the order of the table's key.
 */
static size_t
hourly_key(char *key, size_t size, int64_t hour, const char *user)
{
	size_t	 len = TIME_KEY;

	if (size < len)
		return 0;
	time_key(key, hour);
	if (!key_cat(key, size, &len, user))
		return 0;
	return len - 1;
}

/*
 * The first 8 bytes of the key's fields past a daily or hourly row's
 * time, or of a counter's past its scope (which goes in the top 2 bits,
 * the bytes after it), as a number: it orders as the key does (the NUL
 * between fields first), zeros past the key's end as the NUL that ends it.
 * Read as the row is made, while its key is at hand.
 */
static uint64_t
row_bytes(enum row_kind kind, const char *key, size_t klen)
{
	const unsigned char	*k = (const unsigned char *)key;
	uint64_t		 bytes = 0;
	size_t			 i, skip = kind == ROW_COUNTER ? 1 : TIME_KEY;

	for (i = 0; i < 8 && skip + i < klen; i++)
		bytes |= (uint64_t)k[skip + i] << (56 - 8 * i);
	if (kind == ROW_COUNTER)
		bytes = (uint64_t)(k[0] - '0') << 62 | bytes >> 2;
	return bytes;
}

/* n bytes of the set's memory, aligned as malloc's; NULL when out of it. */
static void *
pend_alloc(struct pendset *ps, size_t n)
{
	struct pend_block	*b = ps->blocks;
	size_t			 align = sizeof(max_align_t);
	void			*m;

	n = (n + align - 1) / align * align;
	if (b == NULL || b->size - b->used < n) {
		size_t	 size = n > PEND_BLOCK ? n : PEND_BLOCK;

		if ((b = malloc(sizeof(*b) + size)) == NULL)
			return NULL;
		b->next = ps->blocks;
		b->used = 0;
		b->size = size;
		ps->blocks = b;
	}
	m = (char *)b->mem + b->used;
	b->used += n;
	return m;
}

/*
 * A new row of klen key bytes and a value of vsize bytes, zeroed, in the
 * set's map and list; t is a daily or hourly row's time.  Returns the
 * value, its key following it; NULL when out of memory.
 */
static void *
pend_row_new(struct pendset *ps, enum row_kind kind, const char *key,
    size_t klen, int64_t t, size_t vsize)
{
	struct pend_row	*r;
	char		*val, *k;

	if (ps->nrows == ps->caprows) {
		size_t	 ncap = ps->caprows ? ps->caprows * 2 : 1024;

		if ((r = reallocarray(ps->rows, ncap, sizeof(*r))) == NULL)
			return NULL;
		ps->rows = r;
		ps->caprows = ncap;
	}
	if ((val = pend_alloc(ps, vsize + klen + 1)) == NULL)
		return NULL;
	memset(val, 0, vsize);
	k = val + vsize;
	memcpy(k, key, klen);
	k[klen] = '\0';
	if (hmap_putn_ref(kind == ROW_DAILY ? &ps->daily : kind == ROW_HOURLY ?
	    &ps->hourly : &ps->buckets, k, klen, val) == -1)
		return NULL;
	r = &ps->rows[ps->nrows++];
	*r = (struct pend_row){ k, val, t, row_bytes(kind, k, klen), kind };
	return val;
}

static void
pendset_init(struct pendset *ps)
{
	memset(ps, 0, sizeof(*ps));
	ps->min_day = ps->min_start = INT64_MAX;
}

static void
pendset_clear(struct pendset *ps)
{
	struct pend_block	*b;

	hmap_clear(&ps->buckets, NULL);
	hmap_clear(&ps->daily, NULL);
	hmap_clear(&ps->hourly, NULL);
	while ((b = ps->blocks) != NULL) {
		ps->blocks = b->next;
		free(b);
	}
	free(ps->rows);
	pendset_init(ps);
}

/* The set going out is written, or given up. */
static void
out_clear(void)
{
	pendset_clear(&out.set);
	out.next = 0;
	out.open = false;
}

/* Forget every pending row: the batch is lost, and a replay comes next. */
static void
pend_clear(void)
{
	pendset_clear(&pend);
	out_clear();
	undo_n = 0;
}

/*
 * Log an addition for the savepoints open, if any: the amounts before it
 * (old), which an undo puts back exactly, even where the sum saturated.
 */
static int
undo_log(struct pend *p, size_t i, struct usage *du, const struct usage *d)
{
	if (sp_depth == 0)
		return 0;
	if (undo_n == undo_cap) {
		size_t			 ncap = undo_cap ? undo_cap * 2 : 64;
		struct pend_undo	*nu = reallocarray(undo, ncap, sizeof(*nu));

		if (nu == NULL)
			return -TOKQ_E_INTERNAL;
		undo = nu;
		undo_cap = ncap;
	}
	undo[undo_n++] = (struct pend_undo){ p, i, du, *d };
	return 0;
}

/* Undo the additions logged since mark: their savepoint rolled back. */
static void
pend_undo(size_t mark)
{
	while (undo_n > mark) {
		struct pend_undo	*u = &undo[--undo_n];
		struct bucket		*b;

		if (u->p == NULL) {
			*u->du = u->d;
			continue;
		}
		b = &u->p->b[u->i];
		b->tokens = u->d.total;
		b->cost = u->d.cost;
		b->requests = u->d.requests;
	}
}

static void
pend_started(void)
{
	if (pend.first == 0)
		pend.first = mono_usec();
}

/*
 * Add the event's amounts to the pending rows of its UTC day (with its
 * guild, model, service and kind) and of its user's hour.
 */
static int
totals_pend(const struct event *ev)
{
	char		 key[6 * TOKQ_ID_MAX + 64];
	int64_t		 day = tokq_period_start(TOKQ_W_DAY, ev->at);
	int64_t		 hour = tokq_floor(ev->at, BUCKET_HOUR);
	size_t		 klen;
	struct dpend	*d;
	struct hpend	*h;

	if ((klen = daily_key(key, sizeof(key), day, ev)) == 0) {
		log_warnx("store: daily key too long");
		return -TOKQ_E_INTERNAL;
	}
	if ((d = hmap_getn(&pend.daily, key, klen)) == NULL) {
		if ((d = pend_row_new(&pend, ROW_DAILY, key, klen, day,
		    sizeof(*d))) == NULL)
			return -TOKQ_E_INTERNAL;
		d->day = day;
		if (day < pend.min_day)
			pend.min_day = day;
	}
	if (undo_log(NULL, 0, &d->u, &d->u) < 0)
		return -TOKQ_E_INTERNAL;
	usage_add(&d->u, &ev->u);

	klen = hourly_key(key, sizeof(key), hour, ev->user);
	if ((h = hmap_getn(&pend.hourly, key, klen)) == NULL) {
		if ((h = pend_row_new(&pend, ROW_HOURLY, key, klen, hour,
		    sizeof(*h))) == NULL)
			return -TOKQ_E_INTERNAL;
		h->hour = hour;
		h->first = h->last = ev->id;
	}
	if (undo_log(NULL, 0, &h->u, &h->u) < 0)
		return -TOKQ_E_INTERNAL;
	usage_add(&h->u, &ev->u);
	if (ev->id < h->first)
		h->first = ev->id;
	if (ev->id > h->last)
		h->last = ev->id;
	pend_started();
	return 0;
}

/* All its additions undone. */
static bool
bucket_empty(const struct bucket *b)
{
	return b->requests == 0 && b->tokens == 0 && b->cost == 0;
}

/*
 * Keys of NUL-ended fields, field by field: the order of the primary key.
 * Two keys of one map differ within their fields, so a counter's key (two
 * fields) is never read past its end.
 */
static int
row_cmp(const void *a, const void *b)
{
	const struct pend_row	*ra = a, *rb = b;
	const char		*ka = ra->key, *kb = rb->key;
	int			 c, i;

	if (ra->kind != rb->kind)
		return ra->kind < rb->kind ? -1 : 1;
	for (i = 0; i < DAILY_FIELDS; i++) {
		if ((c = strcmp(ka, kb)) != 0)
			return c;
		ka += strlen(ka) + 1;
		kb += strlen(kb) + 1;
	}
	return 0;
}

/*
 * The set's rows in the order they are written: by kind, then by key.
 * qsort with row_cmp over a second's ~50,000 rows took 8-13 ms in one
 * commit, and held every request in it up as long.  So each row gets a
 * sort number: its kind in the top 2 bits, then for a daily or hourly row
 * its day or hour counted from the set's first of its kind (in as few
 * bits as the set's span needs: none, most often), then as many of the
 * first bits of row_bytes as are left; a radix sort of those, a byte a
 * pass (a pass where all share the byte is skipped): 1-1.5 ms.  Rows
 * alike in all that (a user's daily rows of two guilds, say) keep the
 * order they were made in: they go to the same pages all the same, and
 * putting them in order by row_cmp took 2 ms more.  A set that spans too
 * many days or hours to count that way is sorted by row_cmp.
 */
#define SORT_TIME_BITS	30

/* Bits to count n + 1 values. */
static int
bits_for(uint64_t n)
{
	int	 b = 0;

	while (b < 64 && n >> b != 0)
		b++;
	return b;
}

static void
pendset_sort(struct pendset *ps)
{
	struct pend_row	*src = ps->rows, *dst = sort_tmp, *t;
	size_t		 count[256], n = ps->nrows, i, sum;
	int64_t		 lo[2] = { INT64_MAX, INT64_MAX }, hi[2] = { INT64_MIN, INT64_MIN };
	const int64_t	 unit[2] = { DAY, 3600 };
	int		 shift, bits[2], k;

	if (n < 2)
		return;
	for (i = 0; i < n; i++) {
		if ((k = src[i].kind) == ROW_COUNTER)
			continue;
		if (src[i].t < lo[k])
			lo[k] = src[i].t;
		if (src[i].t > hi[k])
			hi[k] = src[i].t;
	}
	for (k = 0; k < 2; k++)
		bits[k] = lo[k] > hi[k] ? 0 :
		    bits_for((uint64_t)(hi[k] - lo[k]) / (uint64_t)unit[k]);
	if (bits[0] > SORT_TIME_BITS || bits[1] > SORT_TIME_BITS ||
	    (sort_cap < n && (dst = reallocarray(sort_tmp, n, sizeof(*dst))) == NULL)) {
		qsort(ps->rows, n, sizeof(*ps->rows), row_cmp);
		return;
	}
	if (sort_cap < n) {
		sort_tmp = dst;
		sort_cap = n;
	}
	for (i = 0; i < n; i++) {
		struct pend_row	*p = &src[i];
		uint64_t	 sk = (uint64_t)p->kind << 62;

		if ((k = p->kind) == ROW_COUNTER)
			p->sk = sk | p->sk >> 2;
		else
			p->sk = sk | (uint64_t)(p->t - lo[k]) / (uint64_t)unit[k] <<
			    (62 - bits[k]) | p->sk >> (2 + bits[k]);
	}
	for (shift = 0; shift < 64; shift += 8) {
		memset(count, 0, sizeof(count));
		for (i = 0; i < n; i++)
			count[(src[i].sk >> shift) & 0xff]++;
		if (count[(src[0].sk >> shift) & 0xff] == n)
			continue;
		for (i = sum = 0; i < 256; i++) {
			size_t	 c = count[i];

			count[i] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			dst[count[(src[i].sk >> shift) & 0xff]++] = src[i];
		t = src;
		src = dst;
		dst = t;
	}
	if (src != ps->rows)
		memcpy(ps->rows, src, n * sizeof(*src));
}

/* Bind a daily row's key to ?1..?6: its day, then the fields past the day. */
static void
bind_daily(sqlite3_stmt *st, const struct pend_row *r)
{
	const struct dpend	*d = r->val;
	const char		*f = r->key + TIME_KEY;
	int			 i;

	sqlite3_bind_int64(st, 1, d->day);
	for (i = 2; i <= DAILY_FIELDS; i++, f += strlen(f) + 1)
		bind_key(st, i, f);
}

/* Has user a daily row, written?  1 yes, 0 no, or < 0. */
static int
user_written(const char *user)
{
	sqlite3_stmt	*st = stmt(S_USER_WRITTEN);
	int		 rc;

	if (hmap_get(&known_users, user) != NULL)
		return 1;
	bind_text(st, 1, user);
	if ((rc = row(st, "user_written")) == 1) {
		stmt_done(st);
		if (hmap_put(&known_users, user, &known_users) == -1)
			return -TOKQ_E_INTERNAL;
	}
	return rc;
}

/* Write a daily row, counting its requests and a user new to the table. */
static int
daily_write(const struct pend_row *r, int64_t *requests, int64_t *users)
{
	sqlite3_stmt		*st = stmt(S_DAILY_ADD);
	const struct dpend	*d = r->val;
	const char		*user = r->key + TIME_KEY;
	int			 rc;

	if (usage_empty(&d->u))
		return 0;
	if ((rc = user_written(user)) < 0)
		return rc;
	if (rc == 0) {
		if (hmap_put(&known_users, user, &known_users) == -1)
			return -TOKQ_E_INTERNAL;
		(*users)++;
	}
	*requests = sat_add(*requests, d->u.requests);
	bind_daily(st, r);
	bind_usage(st, 7, &d->u);
	sqlite3_bind_int64(st, 15, out.through);
	rc = run(st, "daily_add");
	return rc < 0 ? rc : 0;
}

/* Write a user's hour. */
static int
hourly_write(const struct pend_row *r)
{
	sqlite3_stmt	*st = stmt(S_HOURLY_ADD);
	struct hpend	*h = r->val;
	int		 rc;

	h->written = true;
	if (usage_empty(&h->u))
		return 0;
	sqlite3_bind_int64(st, 1, h->hour);
	bind_key(st, 2, r->key + TIME_KEY);
	bind_usage(st, 3, &h->u);
	sqlite3_bind_int64(st, 11, h->first);
	sqlite3_bind_int64(st, 12, h->last);
	sqlite3_bind_int64(st, 13, out.through);
	rc = run(st, "hourly_add");
	return rc < 0 ? rc : 0;
}

/* The counter in a pending row's key: scope, subject, model. */
static void
pend_row_counter(const struct pend_row *r, enum scope *sc,
    const char **subject, const char **model)
{
	*sc = r->key[0] - '0';
	*subject = r->key + 1;
	*model = *subject + strlen(*subject) + 1;
}

static int
pend_write(const struct pend_row *r)
{
	struct pend	*p = r->val;
	const char	*subject, *model;
	enum scope	 sc;
	size_t		 i;
	int		 rc = 0;

	pend_row_counter(r, &sc, &subject, &model);
	for (i = 0; i < p->n && rc == 0; i++)
		if (!bucket_empty(&p->b[i]))
			rc = bucket_upsert(sc, subject, model, &p->b[i], out.through);
	p->written = true;
	return rc;
}

/*
 * The pending rows become the set going out, through the last event given
 * an id.  Only when no set is going out.
 */
static void
pend_freeze(void)
{
	pendset_sort(&pend);
	out.set = pend;
	pendset_init(&pend);
	out.next = 0;
	out.through = next_id - 1;
	out.open = true;
}

/*
 * Write the next part of the set going out into the open batch, or all of
 * it.  The first of several parts names the set in 'flushing_through'; the
 * last moves 'totals_through' up to it, and the set is gone.
 */
static int
out_write(bool all)
{
	size_t	 end = out.set.nrows, step = out.set.nrows / FLUSH_PARTS;
	int64_t	 requests = 0, users = 0;
	int	 rc = 0;

	if (!out.open)
		return 0;
	if (step < part_min)
		step = part_min;
	if (!all && out.set.nrows - out.next > step)
		end = out.next + step;
	if (out.next == 0 && end < out.set.nrows)
		rc = store_meta_set("flushing_through", out.through);
	for (; out.next < end && rc == 0; out.next++) {
		const struct pend_row	*r = &out.set.rows[out.next];

		rc = r->kind == ROW_DAILY ? daily_write(r, &requests, &users) :
		    r->kind == ROW_HOURLY ? hourly_write(r) : pend_write(r);
	}
	if (rc == 0 && requests != 0)
		rc = meta_add("daily_requests", requests);
	if (rc == 0 && users != 0)
		rc = meta_add("daily_users", users);
	if (rc == 0 && out.next == out.set.nrows) {
		rc = store_meta_set("totals_through", out.through);
		out_clear();
	}
	return rc;
}

/*
 * Write every pending row into the open batch, and move 'totals_through'
 * up to the last event given an id.  On failure the batch is lost
 * (store_commit says so) and memory is replayed.
 */
static int
pend_flush(const char *what)
{
	int	 rc;

	if (!out.open && pend.first == 0)
		return 0;
	if (sp_depth > 0) {
		log_warnx("store: %s: pending totals inside a savepoint", what);
		return -TOKQ_E_INTERNAL;
	}
	if ((rc = writable(what)) < 0)
		return rc;
	if ((rc = out_write(true)) == 0 && pend.first != 0) {
		pend_freeze();
		rc = out_write(true);
	}
	if (rc < 0)
		tx_failed = true;	/* part of them may be written: all or none */
	return rc;
}

/*
 * Write every pending row when some is of a day before `day` or a bucket
 * starting before `start`: what maintenance is about to read or rewrite.
 * Rows of the present, which it leaves alone, need not go out at every
 * step (a full write per step made the steps of a month's archive 3.5 ms).
 */
static int
pend_flush_older(const char *what, int64_t day, int64_t start)
{
	if ((out.open && (out.set.min_day < day || out.set.min_start < start)) ||
	    pend.min_day < day || pend.min_start < start)
		return pend_flush(what);
	return 0;
}

/*
 * At a commit: the next part of the set going out, if one is; the pending
 * rows become the next set once they are due (a second old, or too many),
 * and when they are too many before the set going out is done, its rest
 * goes at once.
 */
static void
pend_step(void)
{
	bool	 full = pend.nrows >= PEND_MAX;
	int	 rc = 0;

	if (sp_depth > 0 || writable("commit") < 0)
		return;
	if (out.open && full)
		rc = out_write(true);
	if (rc == 0 && !out.open && pend.first != 0 &&
	    (full || mono_usec() - pend.first >= pend_usec))
		pend_freeze();
	if (rc == 0)
		rc = out_write(false);
	if (rc < 0)
		tx_failed = true;
}

/* Tests: pending rows due after usec, and parts of at least min rows. */
void
store_tune_parts(uint64_t usec, size_t min)
{
	pend_usec = usec;
	part_min = min > 0 ? min : 1;
}

/*
 * Write what waits into the batch, opening one if none is: before the
 * daily totals are read.  Returns 1 when it wrote, 0 when nothing waited,
 * or a negative code.
 */
int
store_settle(void)
{
	int	 rc;

	if (!out.open && pend.first == 0)
		return 0;
	if ((rc = store_begin()) < 0 || (rc = pend_flush("settle")) < 0)
		return rc;
	return 1;
}

/* Is the row's thru `through`: written by that set? 1 yes, 0 no, or < 0. */
static int
thru_is(sqlite3_stmt *st, int64_t through)
{
	int	 rc;

	if ((rc = row(st, "replay")) == 1) {
		rc = sqlite3_column_int64(st, 0) == through;
		stmt_done(st);
	}
	return rc;
}

/*
 * The replay added again the events of a set that went out in parts and
 * stopped short: take back the pending amounts of the rows it wrote.
 */
static int
pend_unwritten(int64_t through)
{
	size_t		 i, j;
	int		 rc = 0;

	for (i = 0; i < pend.nrows && rc >= 0; i++) {
		struct pend_row	*r = &pend.rows[i];
		struct pend	*p = r->val;
		sqlite3_stmt	*st;
		const char	*subject, *model;
		enum scope	 sc;

		if (r->kind == ROW_DAILY) {
			bind_daily(stmt(S_DAILY_THRU), r);
			if ((rc = thru_is(stmt(S_DAILY_THRU), through)) == 1)
				memset(&((struct dpend *)r->val)->u, 0,
				    sizeof(struct usage));
			continue;
		}
		if (r->kind == ROW_HOURLY) {
			st = stmt(S_HOURLY_THRU);
			sqlite3_bind_int64(st, 1, ((struct hpend *)r->val)->hour);
			bind_key(st, 2, r->key + TIME_KEY);
			if ((rc = thru_is(st, through)) == 1)
				memset(&((struct hpend *)r->val)->u, 0,
				    sizeof(struct usage));
			continue;
		}
		pend_row_counter(r, &sc, &subject, &model);
		for (j = 0; j < p->n && rc >= 0; j++) {
			bind_bucket(stmt(S_BUCKET_THRU), sc, subject, model, &p->b[j]);
			if ((rc = thru_is(stmt(S_BUCKET_THRU), through)) == 1)
				p->b[j].tokens = p->b[j].cost = p->b[j].requests = 0;
		}
	}
	return rc < 0 ? rc : 0;
}

/*
 * Add the amounts of the events after 'totals_through' to the pending
 * totals, and call cb with each (to add them to the quota buckets): what
 * a crash, or a failed batch, left unwritten.  Of a set cut short (those
 * up to 'flushing_through'), what its parts wrote is taken back before
 * the later events are added.  Inside a batch, after a rollback or at
 * start.  Returns the number of events, or a code.
 */
int
store_replay(int (*cb)(void *, const struct event *), void *arg)
{
	sqlite3_stmt	*st = stmt(S_EVENTS_AFTER);
	struct event	 ev;
	int64_t		 through = 0, flushing = 0;
	bool		 parted;
	int		 rc, cbrc = 0, n = 0;

	if ((rc = writable("replay")) < 0)
		return rc;
	pend_clear();
	if ((rc = store_meta_get("totals_through", &through)) < 0 ||
	    (rc = store_meta_get("flushing_through", &flushing)) < 0)
		return rc;
	parted = flushing > through;
	sqlite3_bind_int64(st, 1, through);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		column_event(st, &ev);
		if (parted && ev.id > flushing) {
			if ((cbrc = pend_unwritten(flushing)) < 0)
				break;
			parted = false;
		}
		if ((cbrc = totals_pend(&ev)) < 0 || (cbrc = cb(arg, &ev)) != 0)
			break;
		n++;
	}
	if ((rc = rows_done(st, rc, cbrc, "replay")) < 0 ||
	    (parted && (rc = pend_unwritten(flushing)) < 0))
		return rc;
	return n;
}

/* Add b's amounts to the bucket of the counter at b's start and span. */
int
store_bucket_add(enum scope sc, const char *subject, const char *model,
    const struct bucket *b)
{
	char		 key[2 * TOKQ_ID_MAX + 64];
	size_t		 klen, i;
	struct pend	*p;
	int		 rc;

	if ((rc = writable("bucket_add")) < 0)
		return rc;
	if ((klen = pend_key(key, sizeof(key), sc, subject, model)) == 0)
		return bucket_upsert(sc, subject, model, b, 0);
	if ((p = hmap_getn(&pend.buckets, key, klen)) == NULL) {
		if ((p = pend_row_new(&pend, ROW_COUNTER, key, klen, 0,
		    sizeof(*p))) == NULL)
			return -TOKQ_E_INTERNAL;
		p->b = p->in;
		p->cap = PEND_INLINE;
	}
	if (b->start < pend.min_start)
		pend.min_start = b->start;
	for (i = 0; i < p->n; i++)
		if (p->b[i].start == b->start && p->b[i].span == b->span)
			break;
	if (i == p->n) {
		if (p->n == p->cap) {
			struct bucket	*nb = pend_alloc(&pend, 2 * p->cap * sizeof(*nb));

			if (nb == NULL)
				return -TOKQ_E_INTERNAL;
			memcpy(nb, p->b, p->n * sizeof(*nb));
			p->b = nb;
			p->cap *= 2;
		}
		p->b[p->n++] = (struct bucket){ b->start, b->span, 0, 0, 0 };
	}
	if (undo_log(p, i, NULL, &(struct usage){ .total = p->b[i].tokens,
	    .cost = p->b[i].cost, .requests = p->b[i].requests }) < 0)
		return -TOKQ_E_INTERNAL;
	p->b[i].tokens = sat_add(p->b[i].tokens, b->tokens);
	p->b[i].cost = sat_add(p->b[i].cost, b->cost);
	p->b[i].requests = sat_add(p->b[i].requests, b->requests);
	pend_started();
	return 0;
}

/*
 * Call cb with each bucket of the counter that ends after since, by start
 * (a minute and the hour it lies in, if both exist, minute second), then
 * with the open batch's pending additions to the counter, which may repeat
 * a bucket already given.
 */
int
store_bucket_load(enum scope sc, const char *subject, const char *model,
    int64_t since, int (*cb)(void *, const struct bucket *), void *arg)
{
	sqlite3_stmt	*st = stmt(S_BUCKET_LOAD);
	const struct pendset *sets[] = { &out.set, &pend };
	struct bucket	 b;
	struct pend	*p;
	char		 key[2 * TOKQ_ID_MAX + 64];
	size_t		 klen, i, s;
	int		 rc, cbrc = 0;

	sqlite3_bind_int(st, 1, sc);
	bind_key(st, 2, subject);
	bind_key(st, 3, model);
	sqlite3_bind_int64(st, 4, since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		b.start = sqlite3_column_int64(st, 0);
		b.span = sqlite3_column_int64(st, 1);
		b.tokens = sqlite3_column_int64(st, 2);
		b.cost = sqlite3_column_int64(st, 3);
		b.requests = sqlite3_column_int64(st, 4);
		if ((cbrc = cb(arg, &b)) != 0)
			break;
	}
	if ((rc = rows_done(st, rc, cbrc, "bucket_load")) != 0)
		return rc;
	/* And what waits, not yet written. */
	if ((klen = pend_key(key, sizeof(key), sc, subject, model)) == 0)
		return rc;
	for (s = 0; s < 2; s++) {
		if (sets[s]->buckets.len == 0 ||
		    (p = hmap_getn(&sets[s]->buckets, key, klen)) == NULL ||
		    p->written)
			continue;
		for (i = 0; i < p->n && rc == 0; i++)
			if (p->b[i].start + p->b[i].span > since &&
			    !bucket_empty(&p->b[i]))
				rc = cb(arg, &p->b[i]);
	}
	return rc;
}

/* Drop the subject's buckets: of model only, or of every model and pooled. */
int
store_bucket_clear(enum scope sc, const char *subject, const char *model)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((rc = writable("bucket_clear")) < 0 || (rc = pend_flush("bucket_clear")) < 0)
		return rc;
	st = stmt(model ? S_BUCKET_CLEAR_MODEL : S_BUCKET_CLEAR);
	sqlite3_bind_int(st, 1, sc);
	bind_key(st, 2, subject);
	if (model)
		bind_key(st, 3, model);
	rc = run(st, "bucket_clear");
	return rc < 0 ? rc : 0;
}

/*
 * Fold up to limit minute buckets that start before `before` into the hour
 * buckets of their counters, adding to ones that exist.  The amounts move,
 * they are never counted twice.  Returns the number folded: fewer than
 * limit means none is left.
 */
int
store_bucket_compact(int64_t before, int limit)
{
	int	 rc, n = 0;

	if ((rc = pend_flush_older("bucket_compact", INT64_MIN, before)) < 0 ||
	    (rc = sp_begin("bucket_compact")) < 0)
		return rc;
	sqlite3_bind_int64(stmt(S_BUCKET_FOLD), 1, before);
	sqlite3_bind_int(stmt(S_BUCKET_FOLD), 2, limit);
	if ((rc = run(stmt(S_BUCKET_FOLD), "bucket_compact")) >= 0) {
		sqlite3_bind_int64(stmt(S_BUCKET_DROP_MINUTES), 1, before);
		sqlite3_bind_int(stmt(S_BUCKET_DROP_MINUTES), 2, limit);
		n = rc = run(stmt(S_BUCKET_DROP_MINUTES), "bucket_compact");
	}
	return sp_end(rc < 0 ? rc : n, "bucket_compact");
}

/*
 * Drop up to limit buckets that end at or before `before` (the store holds
 * minute and hour buckets only).  Returns the number dropped.
 */
int
store_bucket_prune(int64_t before, int limit)
{
	static const int spans[] = { BUCKET_HOUR, BUCKET_MINUTE };
	sqlite3_stmt	*st = stmt(S_BUCKET_PRUNE);
	int		 rc, n = 0;
	size_t		 i;

	if ((rc = writable("bucket_prune")) < 0 ||
	    (rc = pend_flush_older("bucket_prune", INT64_MIN, before)) < 0)
		return rc;
	for (i = 0; i < sizeof(spans) / sizeof(spans[0]) && n < limit; i++) {
		sqlite3_bind_int64(st, 1, before);
		sqlite3_bind_int(st, 2, spans[i]);
		sqlite3_bind_int(st, 3, limit - n);
		if ((rc = run(st, "bucket_prune")) < 0)
			return rc;
		n += rc;
	}
	return n;
}

/* Bind a rule's identity to ?1..?6; a calendar window has no length. */
static void
bind_rule(sqlite3_stmt *st, const struct rule *r)
{
	sqlite3_bind_int(st, 1, r->sel);
	bind_key(st, 2, r->subject);
	bind_key(st, 3, r->model);
	sqlite3_bind_int(st, 4, r->metric);
	sqlite3_bind_int(st, 5, r->win.kind);
	sqlite3_bind_int64(st, 6, r->win.kind == TOKQ_W_ROLLING ? r->win.secs : 0);
}

/* Store r; 1 when it replaced the limit of a rule of the same identity. */
int
store_rule_put(const struct rule *r)
{
	sqlite3_stmt	*st = stmt(S_RULE_UPDATE);
	int		 rc;

	if ((rc = writable("rule_put")) < 0)
		return rc;
	bind_rule(st, r);
	sqlite3_bind_int64(st, 7, r->limit);
	if ((rc = run(st, "rule_put")) != 0)
		return rc < 0 ? rc : 1;
	st = stmt(S_RULE_INSERT);
	bind_rule(st, r);
	sqlite3_bind_int64(st, 7, r->limit);
	rc = run(st, "rule_put");
	return rc < 0 ? rc : 0;
}

/* Remove the rule with r's identity (r->limit is ignored); 1 if there was one. */
int
store_rule_del(const struct rule *r)
{
	sqlite3_stmt	*st = stmt(S_RULE_DEL);
	int		 rc;

	if ((rc = writable("rule_del")) < 0)
		return rc;
	bind_rule(st, r);
	rc = run(st, "rule_del");
	return rc < 0 ? rc : rc > 0;
}

/* Call cb with each rule; subject and model '' come back as NULL. */
int
store_rule_load(int (*cb)(void *, const struct rule *), void *arg)
{
	sqlite3_stmt	*st = stmt(S_RULE_LOAD);
	struct rule	 r;
	int		 rc, cbrc = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r.sel = sqlite3_column_int(st, 0);
		r.subject = (char *)column_text(st, 1, true);
		r.model = (char *)column_text(st, 2, true);
		r.metric = sqlite3_column_int(st, 3);
		r.win.kind = sqlite3_column_int(st, 4);
		r.win.secs = sqlite3_column_int64(st, 5);
		r.limit = sqlite3_column_int64(st, 6);
		if ((cbrc = cb(arg, &r)) != 0)
			break;
	}
	return rows_done(st, rc, cbrc, "rule_load");
}

/* Put user on plan, or with plan NULL on none. */
int
store_plan_set(const char *user, const char *plan)
{
	sqlite3_stmt	*st = stmt(plan ? S_PLAN_SET : S_PLAN_DEL);
	int		 rc;

	if ((rc = writable("plan_set")) < 0)
		return rc;
	bind_text(st, 1, user);
	if (plan)
		bind_text(st, 2, plan);
	rc = run(st, "plan_set");
	return rc < 0 ? rc : 0;
}

int
store_plan_load(int (*cb)(void *, const char *user, const char *plan), void *arg)
{
	sqlite3_stmt	*st = stmt(S_PLAN_LOAD);
	int		 rc, cbrc = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((cbrc = cb(arg, column_text(st, 0, false),
		    column_text(st, 1, false))) != 0)
			break;
	return rows_done(st, rc, cbrc, "plan_load");
}

/* Put the user or guild id on the bypass list or off it; 1 when that changed it. */
int
store_bypass_set(bool guild, const char *id, bool on)
{
	sqlite3_stmt	*st = stmt(on ? S_BYPASS_ADD : S_BYPASS_DEL);
	int		 rc;

	if ((rc = writable("bypass_set")) < 0)
		return rc;
	sqlite3_bind_int(st, 1, guild);
	bind_text(st, 2, id);
	rc = run(st, "bypass_set");
	return rc < 0 ? rc : rc > 0;
}

int
store_bypass_load(int (*cb)(void *, bool guild, const char *id), void *arg)
{
	sqlite3_stmt	*st = stmt(S_BYPASS_LOAD);
	int		 rc, cbrc = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((cbrc = cb(arg, sqlite3_column_int(st, 0) != 0,
		    column_text(st, 1, false))) != 0)
			break;
	return rows_done(st, rc, cbrc, "bypass_load");
}

int
store_price_put(const struct price *p)
{
	sqlite3_stmt	*st = stmt(S_PRICE_PUT);
	int		 rc;

	if ((rc = writable("price_put")) < 0)
		return rc;
	bind_text(st, 1, p->model);
	sqlite3_bind_int64(st, 2, p->input);
	sqlite3_bind_int64(st, 3, p->output);
	sqlite3_bind_int64(st, 4, p->cached);
	sqlite3_bind_int64(st, 5, p->cache_write);
	rc = run(st, "price_put");
	return rc < 0 ? rc : 0;
}

int
store_price_del(const char *model)
{
	sqlite3_stmt	*st = stmt(S_PRICE_DEL);
	int		 rc;

	if ((rc = writable("price_del")) < 0)
		return rc;
	bind_text(st, 1, model);
	rc = run(st, "price_del");
	return rc < 0 ? rc : rc > 0;
}

int
store_price_load(int (*cb)(void *, const struct price *), void *arg)
{
	sqlite3_stmt	*st = stmt(S_PRICE_LOAD);
	struct price	 p;
	int		 rc, cbrc = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		p.model = (char *)column_text(st, 0, false);
		p.input = sqlite3_column_int64(st, 1);
		p.output = sqlite3_column_int64(st, 2);
		p.cached = sqlite3_column_int64(st, 3);
		p.cache_write = sqlite3_column_int64(st, 4);
		if ((cbrc = cb(arg, &p)) != 0)
			break;
	}
	return rows_done(st, rc, cbrc, "price_load");
}

int
store_hold_put(const struct hold *h)
{
	sqlite3_stmt	*st = stmt(S_HOLD_PUT);
	int		 rc;

	if ((rc = writable("hold_put")) < 0)
		return rc;
	bind_text(st, 1, h->id);
	sqlite3_bind_int64(st, 2, h->created);
	sqlite3_bind_int64(st, 3, h->expires);
	bind_text(st, 4, h->user);
	bind_text(st, 5, h->guild);
	bind_text(st, 6, h->model);
	sqlite3_bind_int64(st, 7, h->tokens);
	sqlite3_bind_int64(st, 8, h->cost);
	rc = run(st, "hold_put");
	return rc < 0 ? rc : 0;
}

/* Forget hold id; 0 whether it existed or not. */
int
store_hold_del(const char *id)
{
	sqlite3_stmt	*st = stmt(S_HOLD_DEL);
	int		 rc;

	if ((rc = writable("hold_del")) < 0)
		return rc;
	bind_text(st, 1, id);
	rc = run(st, "hold_del");
	return rc < 0 ? rc : 0;
}

/* Call cb with each hold, oldest first, expired ones included. */
int
store_hold_load(int (*cb)(void *, const struct hold *), void *arg)
{
	sqlite3_stmt	*st = stmt(S_HOLD_LOAD);
	struct hold	 h;
	int		 rc, cbrc = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&h, 0, sizeof(h));
		snprintf(h.id, sizeof(h.id), "%s", column_text(st, 0, false));
		h.created = sqlite3_column_int64(st, 1);
		h.expires = sqlite3_column_int64(st, 2);
		h.user = (char *)column_text(st, 3, false);
		h.guild = (char *)column_text(st, 4, false);
		h.model = (char *)column_text(st, 5, false);
		h.tokens = sqlite3_column_int64(st, 6);
		h.cost = sqlite3_column_int64(st, 7);
		if ((cbrc = cb(arg, &h)) != 0)
			break;
	}
	return rows_done(st, rc, cbrc, "hold_load");
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

static bool
usage_empty(const struct usage *u)
{
	static const struct usage	 zero;

	return memcmp(u, &zero, sizeof(zero)) == 0;
}

/* One row of eight sums from the bound statement st into u. */
static int
sums(sqlite3_stmt *st, int col, struct usage *u, const char *what)
{
	int	 rc;

	memset(u, 0, sizeof(*u));
	if ((rc = row(st, what)) == 1) {
		column_usage(st, col, u);
		stmt_done(st);
	}
	return rc < 0 ? rc : 0;
}

/*
 * The sums of user's hour that starts at `hour`, from the table and what
 * waits in memory, and the ids that bound its events (first INT64_MAX,
 * last INT64_MIN when none).  Returns 1 when the user has the hour, 0
 * when not, or a negative code.
 */
static int
hourly_get(int64_t hour, const char *user, struct usage *u, int64_t *first,
    int64_t *last)
{
	const struct pendset	*sets[] = { &out.set, &pend };
	sqlite3_stmt		*st = stmt(S_HOURLY_GET);
	char			 key[TOKQ_ID_MAX + 64];
	const struct hpend	*h;
	size_t			 klen, s;
	int			 found;

	memset(u, 0, sizeof(*u));
	*first = INT64_MAX;
	*last = INT64_MIN;
	sqlite3_bind_int64(st, 1, hour);
	bind_key(st, 2, user);
	if ((found = row(st, "hourly_get")) < 0)
		return found;
	if (found == 1) {
		column_usage(st, 0, u);
		*first = sqlite3_column_int64(st, 8);
		*last = sqlite3_column_int64(st, 9);
		stmt_done(st);
	}
	if ((klen = hourly_key(key, sizeof(key), hour, user)) == 0)
		return found;
	for (s = 0; s < 2; s++) {
		if (sets[s]->hourly.len == 0 ||
		    (h = hmap_getn(&sets[s]->hourly, key, klen)) == NULL ||
		    h->written)
			continue;
		usage_add(u, &h->u);
		if (h->first < *first)
			*first = h->first;
		if (h->last > *last)
			*last = h->last;
		found = 1;
	}
	return found;
}

/*
 * The sums of the user's usage in the hours that overlap [since, until),
 * whole: one look-up an hour, for a range of a day or so (`usage` asks
 * for the first day of its 30 days).
 */
int
store_user_hours_totals(const char *user, int64_t since, int64_t until,
    struct usage *u)
{
	struct usage	 h;
	int64_t		 hour, first, last;
	int		 rc;

	memset(u, 0, sizeof(*u));
	for (hour = tokq_floor(since, BUCKET_HOUR); hour < until;
	    hour += BUCKET_HOUR) {
		if ((rc = hourly_get(hour, user, &h, &first, &last)) < 0)
			return rc;
		usage_add(u, &h);
	}
	return 0;
}

/*
 * A user's own totals are read with what waits in memory added, not
 * written out first (store_settle): under mixed load at 50 clients a
 * `tokq usage` wrote a second's ~25,000 rows at once and held every
 * request up for 80-140 ms.  daily_pending() calls cb with each of the
 * user's daily rows not yet in the table: the unwritten part of the set
 * going out, and the pending set.  Each row is listed once, as one UTC day
 * of one (guild, model, service, kind).
 */
static int
daily_pending(const char *user,
    int (*cb)(void *, int64_t day, const char *model, const struct usage *),
    void *arg)
{
	const struct pendset	*sets[] = { &out.set, &pend };
	size_t			 i, s;
	int			 rc;

	for (s = 0; s < 2; s++) {
		if (s == 0 && !out.open)
			continue;
		for (i = s == 0 ? out.next : 0; i < sets[s]->nrows; i++) {
			const struct pend_row	*r = &sets[s]->rows[i];
			const struct dpend	*d = r->val;
			const char		*f = r->key + TIME_KEY, *model;

			if (r->kind != ROW_DAILY || strcmp(f, user) != 0 ||
			    usage_empty(&d->u))
				continue;
			model = f + strlen(f) + 1;		/* the guild */
			model += strlen(model) + 1;
			if ((rc = cb(arg, d->day, model, &d->u)) != 0)
				return rc;
		}
	}
	return 0;
}

struct days_sum {
	int64_t		 from, to;
	struct usage	*u;
};

static int
days_sum_cb(void *arg, int64_t day, const char *model, const struct usage *u)
{
	struct days_sum	*ds = arg;

	(void)model;
	if (day >= ds->from && day < ds->to)
		usage_add(ds->u, u);
	return 0;
}

/* The sums of the user's daily totals of the days [day_from, day_to). */
int
store_user_daily_totals(const char *user, int64_t day_from, int64_t day_to,
    struct usage *u)
{
	sqlite3_stmt	*st = stmt(S_USER_DAILY_TOTALS);
	struct days_sum	 ds = { day_from, day_to, u };
	int		 rc;

	bind_text(st, 1, user);
	sqlite3_bind_int64(st, 2, day_from);
	sqlite3_bind_int64(st, 3, day_to);
	if ((rc = sums(st, 0, u, "user_daily_totals")) < 0)
		return rc;
	return daily_pending(user, days_sum_cb, &ds);
}

/* A user's models, from the table and from memory: by name, each once. */
struct model_sum {
	char		*model;
	struct usage	 u;
};
struct model_sums {
	struct model_sum *v;
	size_t		 n, cap;
	int64_t		 since;		/* rows of days before count nothing */
};

static int
model_sums_add(void *arg, int64_t day, const char *model, const struct usage *u)
{
	struct model_sums *ms = arg;
	size_t		 i;

	if (day < ms->since)
		return 0;
	for (i = 0; i < ms->n && strcmp(ms->v[i].model, model) != 0; i++)
		;
	if (i == ms->n) {
		if (ms->n == ms->cap) {
			size_t		 ncap = ms->cap ? 2 * ms->cap : 8;
			struct model_sum *nv = reallocarray(ms->v, ncap, sizeof(*nv));

			if (nv == NULL)
				return -TOKQ_E_INTERNAL;
			ms->v = nv;
			ms->cap = ncap;
		}
		if ((ms->v[i].model = strdup(model)) == NULL)
			return -TOKQ_E_INTERNAL;
		memset(&ms->v[i].u, 0, sizeof(ms->v[i].u));
		ms->n++;
	}
	usage_add(&ms->v[i].u, u);
	return 0;
}

static int
model_sum_cmp(const void *a, const void *b)
{
	return strcmp(((const struct model_sum *)a)->model,
	    ((const struct model_sum *)b)->model);
}

static void
model_sums_free(struct model_sums *ms)
{
	size_t	 i;

	for (i = 0; i < ms->n; i++)
		free(ms->v[i].model);
	free(ms->v);
}

/*
 * The table's rows of st (model, then the usage sums from column 1 when
 * sums), with the user's pending daily rows, by model.
 */
static int
model_sums_load(sqlite3_stmt *st, bool sums, const char *user,
    struct model_sums *ms, const char *what)
{
	struct usage	 u = { 0 };
	int		 rc, cbrc = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sums)
			column_usage(st, 1, &u);
		if ((cbrc = model_sums_add(ms, ms->since,
		    column_text(st, 0, false), &u)) != 0)
			break;
	}
	if ((rc = rows_done(st, rc, cbrc, what)) < 0 ||
	    (rc = daily_pending(user, model_sums_add, ms)) < 0)
		return rc;
	if (ms->n > 1)
		qsort(ms->v, ms->n, sizeof(*ms->v), model_sum_cmp);
	return 0;
}

/* Call cb with the user's all-time totals per model, by name; "" for none. */
int
store_user_models_totals(const char *user,
    int (*cb)(void *, const char *model, const struct usage *), void *arg)
{
	sqlite3_stmt	*st = stmt(S_USER_MODELS_TOTALS);
	struct model_sums ms = { .since = INT64_MIN };
	size_t		 i;
	int		 rc;

	bind_text(st, 1, user);
	if ((rc = model_sums_load(st, true, user, &ms, "user_models_totals")) == 0)
		for (i = 0; i < ms.n && rc == 0; i++)
			rc = cb(arg, ms.v[i].model, &ms.v[i].u);
	model_sums_free(&ms);
	return rc < 0 ? rc : 0;
}

/*
 * All-time events recorded (pruned ones included) and distinct users: what
 * the daily rows count (meta, kept up as they are written), and the rows
 * not yet written, each of whose users is looked for once.
 */
int
store_counts(int64_t *events, int64_t *users)
{
	const struct pendset	*sets[] = { &out.set, &pend };
	struct hmap		 seen = { 0 };
	size_t			 i, s;
	int			 rc;

	*events = *users = 0;
	if ((rc = store_meta_get("daily_requests", events)) < 0 ||
	    (rc = store_meta_get("daily_users", users)) < 0)
		return rc;
	for (s = 0, rc = 0; s < 2 && rc >= 0; s++) {
		if (s == 0 && !out.open)
			continue;
		for (i = s == 0 ? out.next : 0; i < sets[s]->nrows && rc >= 0; i++) {
			const struct pend_row	*r = &sets[s]->rows[i];
			const struct dpend	*d = r->val;
			const char		*user = r->key + TIME_KEY;

			if (r->kind != ROW_DAILY || usage_empty(&d->u))
				continue;
			*events = sat_add(*events, d->u.requests);
			if (hmap_get(&seen, user) != NULL ||
			    (rc = user_written(user)) != 0)
				continue;
			if (hmap_put(&seen, user, &seen) == -1)
				rc = -TOKQ_E_INTERNAL;
			else
				(*users)++;
		}
	}
	hmap_clear(&seen, NULL);
	return rc < 0 ? rc : 0;
}

/*
 * Delete up to limit raw events older than before, oldest first, and every
 * idempotency key dated before it.  Returns the number of events deleted:
 * fewer than limit means none are left.  Daily totals are untouched.
 */
int
store_events_prune(int64_t before, int limit)
{
	int	 rc, n;

	if ((rc = sp_begin("events_prune")) < 0)
		return rc;
	sqlite3_bind_int64(stmt(S_EVENTS_PRUNE), 1, before);
	sqlite3_bind_int(stmt(S_EVENTS_PRUNE), 2, limit);
	if ((n = rc = run(stmt(S_EVENTS_PRUNE), "events_prune")) >= 0 &&
	    (n == 0 || (rc = meta_add("events_pruned", n)) >= 0)) {
		sqlite3_bind_int64(stmt(S_KEYS_PRUNE), 1, before);
		rc = run(stmt(S_KEYS_PRUNE), "events_prune");
	}
	return sp_end(rc < 0 ? rc : n, "events_prune");
}

/*
 * Delete up to limit of the users' hours that start before `before`,
 * oldest first.  Returns the number deleted.
 */
int
store_hourly_prune(int64_t before, int limit)
{
	int	 rc;

	if ((rc = writable("hourly_prune")) < 0)
		return rc;
	sqlite3_bind_int64(stmt(S_HOURLY_PRUNE), 1, before);
	sqlite3_bind_int(stmt(S_HOURLY_PRUNE), 2, limit);
	return run(stmt(S_HOURLY_PRUNE), "hourly_prune");
}

/*
 * Archive the month [month_start, month_end) for up to `users` users that
 * sort after *cursor ("" to begin): their per-(user, guild, model) sums of
 * the daily totals replace what was archived for them before, so a batch
 * done twice (after a restart) changes nothing.  *cursor becomes the last
 * user archived.  Returns the number of users: fewer than `users` means the
 * month is done.
 */
int
store_month_archive(int64_t month_start, int64_t month_end, char *cursor,
    size_t cursorlen, int users)
{
	sqlite3_stmt	*st = stmt(S_MONTH_USERS);
	char		 last[TOKQ_ID_MAX + 1];
	int		 rc, n;

	if ((rc = writable("month_archive")) < 0 ||
	    (rc = pend_flush_older("month_archive", month_end, INT64_MIN)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, month_start);
	sqlite3_bind_int64(st, 2, month_end);
	bind_text(st, 3, cursor);
	sqlite3_bind_int(st, 4, users);
	if ((rc = row(st, "month_archive")) <= 0)
		return rc;
	n = sqlite3_column_int(st, 1);
	snprintf(last, sizeof(last), "%s", n > 0 ? column_text(st, 0, false) : "");
	stmt_done(st);
	if (n == 0)
		return 0;

	st = stmt(S_MONTH_ARCHIVE);
	sqlite3_bind_int64(st, 1, month_start);
	sqlite3_bind_int64(st, 2, month_end);
	bind_text(st, 3, cursor);
	bind_text(st, 4, last);
	if ((rc = run(st, "month_archive")) < 0)
		return rc;
	snprintf(cursor, cursorlen, "%s", last);
	return n;
}

/* The admin views: read only, from the daily totals and the raw events. */

static void
bind_view(sqlite3_stmt *st, const struct view *v)
{
	sqlite3_bind_int64(st, 1, v->from);
	sqlite3_bind_int64(st, 2, v->to);
	bind_text(st, 3, v->guild);
}

/* The sums of the view's days, with the distinct users and guilds in them. */
int
store_view_totals(const struct view *v, struct usage *u, int64_t *users,
    int64_t *guilds)
{
	sqlite3_stmt	*st = stmt(S_VIEW_TOTALS);
	int		 rc;

	bind_view(st, v);
	memset(u, 0, sizeof(*u));
	*users = *guilds = 0;
	if ((rc = row(st, "view_totals")) == 1) {
		column_usage(st, 0, u);
		*users = sqlite3_column_int64(st, 8);
		*guilds = sqlite3_column_int64(st, 9);
		stmt_done(st);
	}
	return rc < 0 ? rc : 0;
}

/*
 * Call cb with the view's sums grouped by g, the largest total first (by
 * day: in day order, days without usage left out), at most limit rows (-1:
 * all).  name is NULL for "none" and for VG_DAY; day is set for VG_DAY only.
 */
int
store_view_group(const struct view *v, enum view_group g, int64_t limit,
    int (*cb)(void *, const char *name, int64_t day, const struct usage *),
    void *arg)
{
	static const enum stmt_id ids[] = { [VG_USER] = S_VIEW_BY_USER,
	    [VG_GUILD] = S_VIEW_BY_GUILD, [VG_MODEL] = S_VIEW_BY_MODEL,
	    [VG_SERVICE] = S_VIEW_BY_SERVICE, [VG_DAY] = S_VIEW_BY_DAY };
	sqlite3_stmt	*st = stmt(ids[g]);
	struct usage	 u;
	int		 rc, cbrc = 0;

	bind_view(st, v);
	if (g != VG_DAY)
		sqlite3_bind_int64(st, 4, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		column_usage(st, 1, &u);
		if (g == VG_DAY)
			cbrc = cb(arg, NULL, sqlite3_column_int64(st, 0), &u);
		else
			cbrc = cb(arg, column_text(st, 0, false), 0, &u);
		if (cbrc != 0)
			break;
	}
	return rows_done(st, rc, cbrc, "view_group");
}

/* A user's all-time sums, in guild only when guild is not NULL. */
int
store_view_user_all(const char *user, const char *guild, struct usage *u)
{
	sqlite3_stmt	*st = stmt(S_VIEW_USER_ALL);

	bind_text(st, 1, user);
	bind_text(st, 2, guild);
	return sums(st, 0, u, "view_user_all");
}

/* Days, each once, in order. */
struct days {
	int64_t		*v;
	size_t		 n, cap;
	int64_t		 from, to;	/* only those in [from, to) */
};

static int
days_add(void *arg, int64_t day, const char *model, const struct usage *u)
{
	struct days	*d = arg;

	(void)model;
	(void)u;
	if (day < d->from || day >= d->to)
		return 0;
	if (d->n == d->cap) {
		size_t	 ncap = d->cap ? d->cap * 2 : 64;
		int64_t	*nv = reallocarray(d->v, ncap, sizeof(*nv));

		if (nv == NULL)
			return -1;
		d->v = nv;
		d->cap = ncap;
	}
	d->v[d->n++] = day;
	return 0;
}

static int
day_cmp(const void *a, const void *b)
{
	int64_t	 x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* The days in [d->from, d->to) of the user's daily rows, written or not. */
static int
user_days(const char *user, struct days *d)
{
	sqlite3_stmt	*st = stmt(S_USER_DAYS);
	size_t		 i, n;
	int		 rc, cbrc = 0;

	bind_text(st, 1, user);
	sqlite3_bind_int64(st, 2, d->from);
	sqlite3_bind_int64(st, 3, d->to);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((cbrc = days_add(d, sqlite3_column_int64(st, 0), NULL, NULL)) != 0)
			break;
	if ((rc = rows_done(st, rc, cbrc, "user_days")) < 0 ||
	    (rc = daily_pending(user, days_add, d)) < 0)
		return rc < 0 ? rc : -TOKQ_E_INTERNAL;
	if (d->n > 1)
		qsort(d->v, d->n, sizeof(*d->v), day_cmp);
	for (i = n = 0; i < d->n; i++)
		if (n == 0 || d->v[n - 1] != d->v[i])
			d->v[n++] = d->v[i];
	d->n = n;
	return 0;
}

/*
 * Step the page statement st, bound, calling cb with each event; *n
 * counts them.  Returns 1 when cb asked to stop, 0, or a negative code.
 */
static int
events_rows(sqlite3_stmt *st, int64_t *n, int (*cb)(void *, const struct event *),
    void *arg)
{
	struct event	 ev;
	int		 rc, cbrc = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		column_event(st, &ev);
		(*n)++;
		if ((cbrc = cb(arg, &ev)) != 0)
			break;
	}
	rc = rows_done(st, rc, cbrc, "events_page");
	return rc < 0 ? rc : cbrc > 0;
}

static void
bind_page(sqlite3_stmt *st, const struct event_filter *f, int64_t at,
    int64_t id, int64_t since, int64_t until, int64_t limit)
{
	bind_text(st, 1, f->user);
	bind_text(st, 2, f->guild);
	sqlite3_bind_int64(st, 3, at);
	sqlite3_bind_int64(st, 4, id);
	sqlite3_bind_int64(st, 5, since);
	sqlite3_bind_int64(st, 6, until);
	sqlite3_bind_int64(st, 7, limit);
}

/*
 * A user's events for store_events_page, read an hour at a time: the days
 * of the user's daily rows, the hours of those days that the user has,
 * and of each hour the ids its row bounds.  Only hours from the oldest
 * raw event on: the daily rows outlive them.
 */
static int
user_events_page(const struct event_filter *f, bool newest_first, int64_t at,
    int64_t id, int64_t limit, int (*cb)(void *, const struct event *), void *arg)
{
	sqlite3_stmt	*st = stmt(S_EVENTS_MIN_AT);
	struct days	 d = { NULL, 0, 0, 0, 0 };
	struct usage	 u;
	int64_t		 lo = f->since, hi = f->until, n = 0, hour, end, first, last;
	size_t		 i, k;
	int		 rc;

	if (!newest_first && at > lo)
		lo = at;
	if (newest_first && at < INT64_MAX && at + 1 < hi)
		hi = at + 1;
	if ((rc = row(st, "events_min_at")) <= 0)
		return rc;
	if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
		stmt_done(st);
		return 0;
	}
	if (sqlite3_column_int64(st, 0) > lo)
		lo = sqlite3_column_int64(st, 0);
	stmt_done(st);
	if (lo >= hi)
		return 0;
	d.from = tokq_period_start(TOKQ_W_DAY, lo);
	d.to = hi;
	if ((rc = user_days(f->user, &d)) < 0)
		goto out;
	st = stmt(newest_first ? S_EVENTS_IDS_DESC : S_EVENTS_IDS_ASC);
	for (i = 0; i < d.n && rc == 0 && n < limit; i++) {
		int64_t	 day = d.v[newest_first ? d.n - 1 - i : i];

		for (k = 0; k < 24 && rc == 0 && n < limit; k++) {
			hour = day + BUCKET_HOUR * (int64_t)(newest_first ? 23 - k : k);
			end = hour + BUCKET_HOUR;
			if (end <= lo || hour >= hi)
				continue;
			if ((rc = hourly_get(hour, f->user, &u, &first, &last)) != 1)
				continue;
			bind_page(st, f, at, id, hour > lo ? hour : lo,
			    end < hi ? end : hi, limit - n);
			sqlite3_bind_int64(st, 8, first);
			sqlite3_bind_int64(st, 9, last);
			rc = events_rows(st, &n, cb, arg);
		}
	}
out:
	free(d.v);
	return rc < 0 ? rc : 0;
}

/*
 * Call cb with up to limit raw events matching f, from the cursor (at, id)
 * on, excluded: oldest first, or with newest_first newest first.  The
 * event's strings live until cb returns.
 */
int
store_events_page(const struct event_filter *f, bool newest_first, int64_t at,
    int64_t id, int64_t limit, int (*cb)(void *, const struct event *), void *arg)
{
	sqlite3_stmt	*st = stmt(newest_first ? S_EVENTS_DESC : S_EVENTS_ASC);
	int64_t		 n = 0;
	int		 rc;

	if (f->user != NULL)
		return user_events_page(f, newest_first, at, id, limit, cb, arg);
	bind_page(st, f, at, id, f->since, f->until, limit);
	rc = events_rows(st, &n, cb, arg);
	return rc < 0 ? rc : 0;
}

/*
 * Call cb with each model the user's daily totals name from the day
 * holding since on: what the user used, whatever a reset did to the
 * counters.
 */
int
store_user_models_since(const char *user, int64_t since,
    int (*cb)(void *, const char *), void *arg)
{
	sqlite3_stmt	*st = stmt(S_USER_MODELS_SINCE);
	struct model_sums ms = { .since = tokq_period_start(TOKQ_W_DAY, since) };
	size_t		 i;
	int		 rc;

	bind_text(st, 1, user);
	sqlite3_bind_int64(st, 2, ms.since);
	if ((rc = model_sums_load(st, false, user, &ms, "user_models_since")) == 0)
		for (i = 0; i < ms.n && rc == 0; i++)
			if (ms.v[i].model[0] != '\0')
				rc = cb(arg, ms.v[i].model);
	model_sums_free(&ms);
	return rc < 0 ? rc : 0;
}
