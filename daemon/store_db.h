/*
 * store_db.h: the SQLite backend's private header; only its files include
 * it.  It belongs with store_db.c, the bottom of the store: the
 * statements, the connection and the helpers that bind and step them; and
 * it carries the pending rows' types and what store_pendset.c and
 * store_totals.c offer the files above them.
 *
 * The store's calls run one way, from the top down: store_sqlite.c (open,
 * close, the batch's transaction); store_views.c, store_maint.c and
 * store_settings.c (what the rest of tokqd reads and writes); store_totals.c
 * (the record, savepoints and the totals written behind); store_pendset.c
 * (the pending rows' memory and order); store_db.c (the connection, schema,
 * statements and meta), which calls no other store file.
 */
#ifndef STORE_DB_H
#define STORE_DB_H

#include <stddef.h>
#include <string.h>

#include <sqlite3.h>

#include "store_backend.h"

/* A constant of tokqd.h as SQL text: the fold policy lives there once. */
#define SQL_NUM_(x)	#x
#define SQL_NUM(x)	SQL_NUM_(x)

/* The statements, by the file that uses them (store_db.c has their SQL). */
enum stmt_id {
	/* store_sqlite.c: the batch's transaction */
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	/* store_db.c: the meta table, the next event id, the size */
	S_META_GET,
	S_META_SET,
	S_META_ADD,
	S_NEXT_ID,
	S_PAGE_COUNT,
	S_PAGE_SIZE,
	/* store_totals.c: savepoints, the record, the totals written behind, the replay */
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_EVENT_ADD,
	S_EVENTS_AFTER,
	S_DAILY_ADD,
	S_DAILY_THRU,
	S_USER_WRITTEN,
	S_HOURLY_ADD,
	S_HOURLY_THRU,
	S_HOURLY_GET,
	S_BUCKET_ADD,
	S_BUCKET_THRU,
	S_BUCKET_LOAD,
	S_BUCKET_CLEAR,
	S_BUCKET_CLEAR_MODEL,
	/* store_settings.c: idempotency keys, rules, plans, bypass, prices, holds */
	S_KEY_GET,
	S_KEY_PUT,
	S_EVENTS_SUM,
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
	/* store_views.c: a user's totals, the admin views, pages of events */
	S_USER_DAILY_TOTALS,
	S_USER_MODELS_TOTALS,
	S_USER_MODELS_SINCE,
	S_VIEW_TOTALS,
	S_VIEW_BY_USER,
	S_VIEW_BY_GUILD,
	S_VIEW_BY_MODEL,
	S_VIEW_BY_SERVICE,
	S_VIEW_BY_DAY,
	S_VIEW_USER_ALL,
	S_USER_DAYS,
	S_EVENTS_MIN_AT,
	S_EVENTS_ASC,
	S_EVENTS_IDS_ASC,
	S_EVENTS_DESC,
	S_EVENTS_IDS_DESC,
	S_DAILY_PAGE,
	S_DAILY_FIRST,
	S_DAILY_EVENTS,
	S_DAILY_IMPORT,
	/* store_maint.c: folding and pruning buckets, pruning events, keys and hours, the monthly archive */
	S_BUCKET_FOLD,
	S_BUCKET_DROP_MINUTES,
	S_BUCKET_PRUNE,
	S_EVENTS_PRUNE,
	S_KEYS_PRUNE,
	S_HOURLY_PRUNE,
	S_MONTH_USERS,
	S_MONTH_ARCHIVE,
	S_MAX
};

/*
 * The SQLite backend's side of each store_* function of tokqd.h
 * (store_backend.h), in the store file named there.
 */
int	 sq_open(const char *path);
void	 sq_close(void);
int	 sq_begin(void);
int	 sq_commit(void);
void	 sq_rollback(void);
bool	 sq_in_tx(void);
int	 sq_mark(enum write_kind w);
int	 sq_unmark(int rc);
int	 sq_settle(void);
bool	 sq_remote(void);
void	 sq_on_stale(void (*fn)(const struct stale *));
bool	 sq_maint_owner(void);
int	 sq_bucket_prefetch(const struct bucket_want *w, size_t n);
int64_t	 sq_db_bytes(void);
int	 sq_bulk(bool on);
int	 sq_meta_get(const char *name, int64_t *val);
int	 sq_meta_set(const char *name, int64_t val);
int	 sq_event_add(struct event *ev);
int	 sq_replay(int (*cb)(void *, const struct event *), void *arg);
void	 sq_tune_parts(uint64_t usec, size_t min);
int	 sq_bucket_add(enum scope sc, const char *subject, const char *model,
	    const struct bucket *b);
int	 sq_bucket_load(enum scope sc, const char *subject, const char *model,
	    int64_t since, int (*cb)(void *, const struct bucket *),
	    void *arg);
int	 sq_bucket_clear(enum scope sc, const char *subject,
	    const char *model);
int	 sq_counts(int64_t *events, int64_t *users);
int	 sq_rule_put(const struct rule *r);
int	 sq_rule_del(const struct rule *r);
int	 sq_rule_load(int (*cb)(void *, const struct rule *), void *arg);
int	 sq_plan_set(const char *user, const char *plan);
int	 sq_plan_load(int (*cb)(void *, const char *user, const char *plan),
	    void *arg);
int	 sq_bypass_set(bool guild, const char *id, bool on);
int	 sq_bypass_load(int (*cb)(void *, bool guild, const char *id),
	    void *arg);
int	 sq_price_put(const struct price *p);
int	 sq_price_del(const char *model);
int	 sq_price_load(int (*cb)(void *, const struct price *), void *arg);
int	 sq_hold_put(const struct hold *h);
int	 sq_hold_del(const char *id);
int	 sq_hold_load(int (*cb)(void *, const struct hold *), void *arg);
int	 sq_key_get(const char *key, uint64_t *fp, int64_t *first,
	    int64_t *count);
int	 sq_key_put(const char *key, uint64_t fp, int64_t first, int64_t count,
	    int64_t created);
int	 sq_events_sum(int64_t first, int64_t count, struct usage *u);
int	 sq_bucket_compact(int64_t before, int limit);
int	 sq_bucket_prune(int64_t before, int limit);
int	 sq_events_prune(int64_t before, int limit);
int	 sq_hourly_prune(int64_t before, int limit);
int	 sq_month_archive(int64_t month_start, int64_t month_end, char *cursor,
	    size_t cursorlen, int users);
int	 sq_user_hours_totals(const char *user, int64_t since, int64_t until,
	    struct usage *u);
int	 sq_user_daily_totals(const char *user, int64_t day_from,
	    int64_t day_to, struct usage *u);
int	 sq_user_models_totals(const char *user, int (*cb)(void *,
	    const char *model, const struct usage *), void *arg);
int	 sq_user_models_since(const char *user, int64_t since, int (*cb)(void *,
	    const char *), void *arg);
int	 sq_view_totals(const struct view *v, struct usage *u, int64_t *users,
	    int64_t *guilds);
int	 sq_view_group(const struct view *v, enum view_group g, int64_t limit,
	    int (*cb)(void *, const char *name, int64_t day,
	    const struct usage *), void *arg);
int	 sq_view_user_all(const char *user, const char *guild,
	    struct usage *u);
int	 sq_events_page(const struct event_filter *f, bool newest_first,
	    int64_t at, int64_t id, int64_t limit, int (*cb)(void *,
	    const struct event *), void *arg);
int	 sq_daily_page(const struct daily_row *after, int64_t limit,
	    int (*cb)(void *, const struct daily_row *), void *arg);
int	 sq_daily_events(int64_t from, int64_t to,
	    int (*cb)(void *, const struct daily_row *), void *arg);
int	 sq_daily_add(const struct daily_row *r);

/* store_db.c: the connection and its state */
extern sqlite3		*db;
extern sqlite3_stmt	*stmts[S_MAX];
extern bool		 tx_open;	/* between sq_begin and commit/rollback */
extern bool		 tx_failed;	/* SQLite rolled the batch back by itself */
int	 db_open(const char *path, int64_t *next);
void	 db_close(void);
int	 exec(const char *sql);
int	 store_fail(const char *what, int rc);
int	 run(sqlite3_stmt *st, const char *what);
void	 bind_usage(sqlite3_stmt *st, int i, const struct usage *u);
void	 column_usage(sqlite3_stmt *st, int i, struct usage *u);
void	 column_event(sqlite3_stmt *st, struct event *ev);
int	 meta_add(const char *name, int64_t n);

/* The statement id, ready to bind: the last use reset and unbound it. */
static inline sqlite3_stmt *
stmt(enum stmt_id id)
{
	return stmts[id];
}

static inline void
stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Bind s, NULL as SQL NULL.  The statement must be stepped before return. */
static inline void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Bind s, NULL as '': for the columns that are part of a key. */
static inline void
bind_key(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_STATIC);
}

/* A text column; NULL when it is NULL or, with empty_null, ''. */
static inline const char *
column_text(sqlite3_stmt *st, int i, bool empty_null)
{
	const char	*s = (const char *)sqlite3_column_text(st, i);

	if (s != NULL && empty_null && *s == '\0')
		return NULL;
	return s;
}

/*
 * Step the bound statement st that returns at most one row.  Returns 1 with
 * the row current (the caller reads it, then calls stmt_done), 0 when there
 * was none and a negative code on failure; both already reset.
 */
static inline int
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
static inline int
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
static inline int
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

/* All amounts zero: none added, or every addition undone. */
static inline bool
usage_empty(const struct usage *u)
{
	static const struct usage	 zero;

	return memcmp(u, &zero, sizeof(zero)) == 0;
}

/*
 * The pending rows of the totals written behind (store_totals.c), in a set
 * (store_pendset.c).  A row's value is a struct pend (a counter's buckets),
 * dpend (a daily total) or hpend (a user's hour); its key follows it.
 */
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
struct pendset {
	struct hmap	 buckets;	/* counter key -> struct pend */
	struct hmap	 daily;		/* daily key -> struct dpend */
	struct hmap	 hourly;	/* hourly key -> struct hpend */
	struct pend_row	*rows;		/* of all three */
	size_t		 nrows, caprows;
	uint64_t	 first;		/* stopwatch_usec of the oldest; 0: none */
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
struct pend_out {
	bool		 open;		/* a set is going out */
	struct pendset	 set;		/* rows: daily, hourly, then counters,
					   each in key order */
	size_t		 next;		/* the first row not written */
	int64_t		 through;	/* its last event id */
};
/* A daily or hourly row's key: its time's 16 hex digits and NUL, fields. */
#define TIME_KEY	17
#define DAILY_FIELDS	6		/* of a daily key: day, user ... kind */

/* store_pendset.c */
void	*pend_alloc(struct pendset *ps, size_t n);
void	*pend_row_new(struct pendset *ps, enum row_kind kind, const char *key,
	    size_t klen, int64_t t, size_t vsize);
void	 pendset_init(struct pendset *ps);
void	 pendset_clear(struct pendset *ps);
void	 pendset_sort(struct pendset *ps);
void	 pendset_sort_free(void);

/* store_totals.c */
extern struct pendset	 pend;		/* records add to it */
extern struct pend_out	 out;		/* the set going out */
extern int64_t		 next_id;	/* of the next event */
extern struct hmap	 known_users;
extern int		 sp_depth;	/* savepoints open */
int	 sp_begin(const char *what);
int	 sp_end(int rc, const char *what);
void	 pend_clear(void);
int	 pend_flush(const char *what);
int	 pend_flush_older(const char *what, int64_t day, int64_t start);
void	 pend_step(void);
void	 totals_free(void);
int	 hourly_get(int64_t hour, const char *user, struct usage *u,
	    int64_t *first, int64_t *last);
int	 daily_pending(const char *user,
	    int (*cb)(void *, int64_t day, const char *model, const struct usage *),
	    void *arg);

#endif
