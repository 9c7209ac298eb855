/*
 * store_pg_sql.h: the PostgreSQL backend's private header: its statements
 * (store_pg_sql.c), its types, and each of its files' functions; only
 * store_pg*.c include it (and only they include libpq-fe.h).  Their calls
 * run one way, from the top down:
 *
 *	store_pg_ops.c,		what the rest of tokqd reads and writes;
 *	store_pg_move.c		the daily totals of a history moved
 *	store_pg.c		open and close, the round's transaction, the
 *				write lock and the journal, maintenance's lock
 *	store_pg_log.c		the round's writes, buffered and sent in
 *				bulk; requests' marks; counters fetched ahead;
 *				the statements that go after the log
 *	store_pg_conn.c		the connection, its session and migrations,
 *				parameters and results, the bounded waits
 *	store_pg_sql.c		the schema, its migrations, every statement
 */
#ifndef STORE_PG_SQL_H
#define STORE_PG_SQL_H

#include <libpq-fe.h>

#include "store_backend.h"

/* A constant of tokqd.h as SQL text. */
#define PG_NUM_(x)	#x
#define PG_NUM(x)	PG_NUM_(x)

/* Journal rows read at a begin; past them, STALE_ALL is cheaper. */
#define PG_JOURNAL_MAX	10000

/* The statements, prepared on every connection (store_pg_sql.c has their SQL). */
enum pg_stmt {
	/* store_pg.c: the transaction, the lock, the journal, maintenance's lock */
	P_BEGIN,
	P_LOCK,
	P_GEN,
	P_JOURNAL,
	P_INDEXED,
	P_INDEXED_END,
	P_ASYNC,
	P_DURABLE,
	P_COMMIT,
	P_ROLLBACK,
	P_SAVEPOINT,
	P_RELEASE,
	P_ROLLBACK_TO,
	P_REPORTS_SAVE,
	P_REPORTS_RELEASE,
	P_REPORTS_UNDO,
	P_GEN_SET,
	P_FLOOR_SET,
	P_ALIVE,
	P_JOURNAL_ADD,
	P_JOURNAL_PRUNE,
	P_NEXT_ID_SET,
	P_MAINT_TRY,
	/* store_pg_ops.c: meta, size */
	P_META_GET,
	P_META_SET,
	P_DB_BYTES,
	/* store_pg_log.c: the round's writes, in bulk; counters ahead */
	P_LOG_EVENTS,
	P_LOG_DAILY,
	P_LOG_HOURLY,
	P_LOG_USERS,
	P_OUTBOX_ADD,
	P_OUTBOX_APPLY,
	P_OUTBOX_CLAIM,
	P_REPORTS_ASYNC,
	P_LOG_BUCKETS,
	P_LOG_KEYS,
	P_BUCKET_PREFETCH,
	/* the buckets, the counts */
	P_BUCKET_LOAD,
	P_BUCKET_CLEAR,
	P_BUCKET_CLEAR_MODEL,
	P_COUNTS,
	/* settings, holds, keys */
	P_KEY_GET,
	P_EVENTS_SUM,
	P_RULE_PUT,
	P_RULE_DEL,
	P_RULE_LOAD,
	P_PLAN_SET,
	P_PLAN_DEL,
	P_PLAN_LOAD,
	P_BYPASS_ADD,
	P_BYPASS_DEL,
	P_BYPASS_LOAD,
	P_PRICE_PUT,
	P_PRICE_DEL,
	P_PRICE_LOAD,
	P_HOLD_PUT,
	P_HOLD_DEL,
	P_HOLD_LOAD,
	/* views */
	P_USER_HOURS,
	P_USER_DAILY_TOTALS,
	P_USER_MODELS_TOTALS,
	P_USER_MODELS_SINCE,
	P_VIEW_TOTALS,
	P_VIEW_BY_USER,
	P_VIEW_BY_GUILD,
	P_VIEW_BY_MODEL,
	P_VIEW_BY_SERVICE,
	P_VIEW_BY_DAY,
	P_VIEW_USER_ALL,
	P_EVENTS_ASC,
	P_EVENTS_DESC,
	P_EVENTS_USER_ASC,
	P_EVENTS_USER_DESC,
	/* maintenance */
	P_BUCKET_FOLD,
	P_BUCKET_PRUNE,
	P_EVENTS_PRUNE,
	P_HOURLY_PRUNE,
	P_MONTH_USERS,
	P_MONTH_ARCHIVE,
	/* store_pg_move.c: a history moved whole */
	P_DAILY_FIRST,
	P_DAILY_PAGE,
	P_DAILY_EVENTS,
	P_DAILY_IMPORT,
	P_MAX
};

/* store_pg_sql.c */
extern const char *const pg_sql[P_MAX];
extern const char *const pg_migrations[];
extern const int	 pg_nmigrations;

/* A statement's parameters, as text (SQL NULL: a NULL pointer). */
#define PGQ_MAX		24
struct pgq {
	int		 n;
	const char	*v[PGQ_MAX];
	char		 num[PGQ_MAX][24];
};

/* store_pg_conn.c: the connection, parameters and results, the waits */
extern char	 pg_where[256];		/* "database D on H": logs, never the URI */
extern int64_t	 pg_lock_key, pg_maint_key, pg_alive_key;
extern uint64_t	 pg_drops;		/* connections dropped so far */
extern bool	 pg_tx_open, pg_tx_failed;	/* the round's transaction */
extern bool	 pg_ahead;		/* the commit sends the next round's begin */
int	 pg_conn_open(const char *uri);	/* no connection yet */
void	 pg_conn_close(void);
bool	 pg_connected(void);
int	 pg_ready(void);			/* connected, or connect now */
void	 pg_drop(const char *why);
void	 pgq_int(struct pgq *q, int64_t x);
void	 pgq_text(struct pgq *q, const char *s);	/* NULL as SQL NULL */
void	 pgq_key(struct pgq *q, const char *s);		/* NULL as '' */
int	 pg_enqueue(enum pg_stmt id, const struct pgq *q);	/* queued, unwaited */
int	 pg_queue(enum pg_stmt id, const struct pgq *q);	/* no flush of the log */
int	 pg_sync(void);			/* end a segment, unwaited */
int	 pg_sync_detached(enum pg_stmt undo);
int	 pg_wait(PGresult **keep, size_t nkeep);
void	 pg_unkeep(PGresult **keep, size_t nkeep);
int64_t	 pg_int(const PGresult *r, int row, int col);
const char *pg_text(const PGresult *r, int row, int col, bool empty_null);
void	 pg_usage(const PGresult *r, int row, int col, struct usage *u);

/* store_pg.c: the round's transaction, the journal */
int	 pg_next_id(int64_t *id);
void	 pg_note(enum stale_kind kind, enum scope sc, const char *subject,
	    const char *model, const char *hold_id);

/*
 * store_pg_log.c: the round's writes, marks, and counters fetched ahead;
 * the statements that go after the log (a write unwaited, a read waited)
 */
int	 pg_writable(const char *what);
int	 pg_send(enum pg_stmt id, const struct pgq *q);
PGresult *pg_query(enum pg_stmt id, const struct pgq *q, int *rc);
int	 pg_exec(enum pg_stmt id, const struct pgq *q);	/* rows changed */
void	 pglog_round(int64_t gen, bool rows);	/* at the begin */
bool	 pglog_journaled(void);
bool	 pglog_outbox(int64_t *, int64_t *);
int	 pglog_flush_final(void);
int	 pglog_reports_send(int64_t lo, int64_t hi, bool own_tx);
int	 pglog_event(const struct event *ev, int64_t id);
int	 pglog_bucket(enum scope sc, const char *subject, const char *model,
	    const struct bucket *b);
int	 pglog_key(const char *key, uint64_t fp, int64_t first, int64_t count,
	    int64_t created);
int	 pglog_flush(bool write);	/* before any statement is sent */
int	 pglog_mark(void);
bool	 pglog_unmark(bool undo);	/* true: its SAVEPOINT was sent */
void	 pglog_clear(void);		/* the round ends */
void	 pglog_free(void);
void	 pgpf_clear(void);
int	 pgpf_queue(void);		/* at the begin: 1 when one was queued */
void	 pgpf_queued(PGresult *r);
void	 pgpf_drop(enum scope sc, const char *subject, const char *model);
int	 pgpf_take(enum scope sc, const char *subject, const char *model,
	    int64_t since, int (*cb)(void *, const struct bucket *), void *arg);

/*
 * The PostgreSQL backend's side of each store_* function of tokqd.h
 * (store_backend.h): the transaction's in store_pg.c, the rest in
 * store_pg_ops.c.
 */
int	 pg_daily_page(const struct daily_row *after, int64_t limit,
	    int (*cb)(void *, const struct daily_row *), void *arg);
int	 pg_daily_events(int64_t from, int64_t to,
	    int (*cb)(void *, const struct daily_row *), void *arg);
int	 pg_daily_add(const struct daily_row *r);
int	 pg_open(const char *path);
void	 pg_close(void);
int	 pg_begin(void);
int	 pg_commit(void);
void	 pg_begin_next(void);
void	 pg_rollback(void);
bool	 pg_in_tx(void);
int	 pg_mark(enum write_kind w);
int	 pg_unmark(int rc);
int	 pg_settle(void);
bool	 pg_remote(void);
void	 pg_on_stale(void (*fn)(const struct stale *));
bool	 pg_maint_owner(void);
int64_t	 pg_db_bytes(void);
int	 pg_bulk(bool on);
int	 pg_meta_get(const char *name, int64_t *val);
int	 pg_meta_set(const char *name, int64_t val);
int	 pg_event_add(struct event *ev);
int	 pg_replay(int (*cb)(void *, const struct event *), void *arg);
void	 pg_tune_parts(uint64_t usec, size_t min);
int	 pg_bucket_add(enum scope sc, const char *subject, const char *model,
	    const struct bucket *b);
int	 pg_bucket_load(enum scope sc, const char *subject, const char *model,
	    int64_t since, int (*cb)(void *, const struct bucket *),
	    void *arg);
int	 pg_bucket_prefetch(const struct bucket_want *w, size_t n);
int	 pg_bucket_clear(enum scope sc, const char *subject,
	    const char *model);
int	 pg_counts(int64_t *events, int64_t *users);
int	 pg_rule_put(const struct rule *r);
int	 pg_rule_del(const struct rule *r);
int	 pg_rule_load(int (*cb)(void *, const struct rule *), void *arg);
int	 pg_plan_set(const char *user, const char *plan);
int	 pg_plan_load(int (*cb)(void *, const char *user, const char *plan),
	    void *arg);
int	 pg_bypass_set(bool guild, const char *id, bool on);
int	 pg_bypass_load(int (*cb)(void *, bool guild, const char *id),
	    void *arg);
int	 pg_price_put(const struct price *p);
int	 pg_price_del(const char *model);
int	 pg_price_load(int (*cb)(void *, const struct price *), void *arg);
int	 pg_hold_put(const struct hold *h);
int	 pg_hold_del(const char *id);
int	 pg_hold_load(int (*cb)(void *, const struct hold *), void *arg);
int	 pg_key_get(const char *key, uint64_t *fp, int64_t *first,
	    int64_t *count);
int	 pg_key_put(const char *key, uint64_t fp, int64_t first, int64_t count,
	    int64_t created);
int	 pg_events_sum(int64_t first, int64_t count, struct usage *u);
int	 pg_bucket_compact(int64_t before, int limit);
int	 pg_bucket_prune(int64_t before, int limit);
int	 pg_events_prune(int64_t before, int limit);
int	 pg_hourly_prune(int64_t before, int limit);
int	 pg_month_archive(int64_t month_start, int64_t month_end, char *cursor,
	    size_t cursorlen, int users);
int	 pg_user_hours_totals(const char *user, int64_t since, int64_t until,
	    struct usage *u);
int	 pg_user_daily_totals(const char *user, int64_t day_from,
	    int64_t day_to, struct usage *u);
int	 pg_user_models_totals(const char *user, int (*cb)(void *,
	    const char *model, const struct usage *), void *arg);
int	 pg_user_models_since(const char *user, int64_t since, int (*cb)(void *,
	    const char *), void *arg);
int	 pg_view_totals(const struct view *v, struct usage *u, int64_t *users,
	    int64_t *guilds);
int	 pg_view_group(const struct view *v, enum view_group g, int64_t limit,
	    int (*cb)(void *, const char *name, int64_t day,
	    const struct usage *), void *arg);
int	 pg_view_user_all(const char *user, const char *guild,
	    struct usage *u);
int	 pg_events_page(const struct event_filter *f, bool newest_first,
	    int64_t at, int64_t id, int64_t limit, int (*cb)(void *,
	    const struct event *), void *arg);

#endif
