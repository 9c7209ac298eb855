/*
 * tokqd.h: the daemon's table of contents.
 *
 * One process, one sd-event loop, one SQLite writer.  A request goes down
 * and its answer comes back up once:
 *
 *   main.c       start-up, tokqd.conf, signals, the loop; owns env and
 *                wires the hooks below (batch_init, batch_on_undo)
 *   control.c    the socket, connections, frames; holds a write's reply
 *                until the batch commits
 *   dispatch.c   the request table, argument checks, the one entry point
 *                (reply.h: the request layer's types; reply.c: arguments
 *                by name, reply packers)
 *   ops_bot.c    check, record, release, usage, status
 *   ops_admin.c  limits, plans, bypass, prices, reset, clock, import
 *   report.c     the admin views: stats, report, log, export
 *   ledger.c     the one way usage enters: cost, bounds, row, counters
 *   maint.c      rollover, pruning, the hourly fold, on a timer
 *   batch.c      the group commit, and what memory forgets when writes
 *                are undone
 *   exec.c       the worker thread that runs requests for a shared
 *                (PostgreSQL) store, so the loop never waits on it
 *   quota.c      rules, judging, holds, plans, bypass lists (in memory)
 *   counter.c    the counter cache: windows' history, loaded from buckets
 *   price.c      the price table and the cost of usage
 *   normalize.c  provider usage JSON into usage items
 *   store*.c     the database: store.c forwards to a backend, SQLite
 *                (store_sqlite.c, store_*.c; walbuf.c the VFS beneath)
 *                or PostgreSQL (store_pg*.c), the only files that
 *                include sqlite3.h or libpq-fe.h
 *   clock.c      the daemon's clock (the test clock too)
 *   hmap.c       a string-keyed hash map; log.c the logging
 *
 * Below, the shared types, then each file's functions under its name.
 */
#ifndef TOKQD_H
#define TOKQD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <msgpack.h>
#include <systemd/sd-event.h>

#include "tokq.h"

/* Amounts of usage; cost in nano-USD.  One event has requests == 1. */
struct usage {
	int64_t	 requests, prompt, completion, total, cached, cache_write, reasoning;
	int64_t	 cost;
};
void	 usage_add(struct usage *sum, const struct usage *u);	/* store_db.c, saturating */

/*
 * Sums of amounts saturate at INT64_MAX (INT64_MIN below): each amount
 * that enters is bounded (TOKQ_TOKENS_MAX, TOKQ_COST_MAX), but a sum over
 * any history, or a database written before the bounds, must never wrap
 * into a small or negative count that lets a check pass (contract, Values).
 */
static inline int64_t
sat_add(int64_t a, int64_t b)
{
	int64_t	 r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static inline int64_t
sat_sub(int64_t a, int64_t b)
{
	int64_t	 r;

	if (__builtin_sub_overflow(a, b, &r))
		return b < 0 ? INT64_MAX : INT64_MIN;
	return r;
}

/* A raw usage event as stored.  Strings are borrowed; NULL when absent. */
struct event {
	int64_t		 id;		/* set by store_event_add */
	int64_t		 at;		/* Unix seconds */
	const char	*user, *guild, *channel, *model, *service, *kind, *session;
	int64_t		 call;		/* call index, -1 when absent */
	const char	*meta;		/* JSON text */
	struct usage	 u;
};

/* Whose usage a counter adds up; the subject of SCOPE_GLOBAL is "". */
enum scope { SCOPE_USER = 0, SCOPE_GUILD, SCOPE_GLOBAL };

/* Spans of time, in seconds. */
#define HOUR		3600
#define DAY		86400

/*
 * A time bucket of a counter: usage whose time falls in [start, start+span).
 * New usage lands in minute buckets (span BUCKET_MINUTE); maintenance folds
 * minute buckets older than FOLD_AGE into hour buckets (span BUCKET_HOUR).
 */
struct bucket {
	int64_t	 start;
	int64_t	 span;
	int64_t	 tokens, cost, requests;
};
#define BUCKET_MINUTE	60
#define BUCKET_HOUR	HOUR
/*
 * The fold policy.  Maintenance folds minute buckets that start FOLD_AGE
 * before its time into their hours.  A rolling window of FOLD_WINDOW or
 * less lets a minute bucket go before that age, so it counts every bucket
 * to its own end (a minute late at most); a longer window may still count
 * a bucket when it is folded, so it counts each minute bucket to the end
 * of its hour from the start: what it counts, and so its retry_at and
 * resets_at, never depend on when maintenance ran (an hour late at most).
 * quota.c's counter_fold() and store.c's bucket_compact fold by this rule.
 */
#define FOLD_AGE	(DAY + HOUR)
#define FOLD_WINDOW	DAY
_Static_assert(FOLD_AGE >= FOLD_WINDOW + BUCKET_HOUR, "a short window never sees a fold");

/*
 * The end bucket b has while rolling window w counts it: its own, or for
 * a window longer than FOLD_WINDOW the end of the hour it will be folded
 * into.  A window counts b until this end plus the window: never early,
 * and the same before and after any fold.  Inline: judging calls it for
 * every bucket of a window.
 */
static inline int64_t
bucket_end(const struct bucket *b, const struct tokq_window *w)
{
	int64_t	 end = b->start + b->span, hour;

	if (w->kind == TOKQ_W_ROLLING && w->secs > FOLD_WINDOW &&
	    b->span < BUCKET_HOUR) {
		hour = tokq_floor(b->start, BUCKET_HOUR) + BUCKET_HOUR;
		if (end < hour)
			end = hour;
	}
	return end;
}

/*
 * How much history is kept for what.  `usage` reports the last RECENT_SPAN
 * (its "30d" period, and the models of its per-model rules) from the daily
 * totals and the users' hours, so maintenance keeps the hours at least that
 * long, and an hour (the hour that holds its start counts whole).  Counters
 * keep at least COUNTER_SPAN (a month of any length), more for a longer
 * retention or rolling window.  A hold is remembered HOLD_GRACE after it
 * expired, so that a late record can still settle it.
 */
#define RECENT_SPAN	(30 * DAY)
#define COUNTER_SPAN	(32 * DAY)
#define HOLD_GRACE	DAY

enum selector { SEL_USER = 0, SEL_MEMBERS, SEL_PLAN, SEL_DEFAULT, SEL_GUILD, SEL_GLOBAL };
enum metric { MET_TOKENS = 0, MET_COST, MET_REQUESTS };

/*
 * A limit rule.  Its identity is (sel, subject, model, metric, window).
 * subject is NULL for SEL_DEFAULT and SEL_GLOBAL; model is NULL for pooled,
 * "*" for each-model.  limit is tokens, requests or nano-USD; -1 unlimited.
 */
struct rule {
	enum selector		 sel;
	char			*subject;
	char			*model;
	enum metric		 metric;
	struct tokq_window	 win;
	int64_t			 limit;
};

/* Prices in nano-USD per 1M tokens; cached/cache_write -1: priced as input. */
struct price {
	char	*model;
	int64_t	 input, output, cached, cache_write;
};

/* A reservation made by check --reserve. */
#define HOLD_ID_LEN	24
struct hold {
	char	 id[HOLD_ID_LEN + 1];
	int64_t	 created, expires;
	char	*user, *guild, *model;		/* guild, model may be NULL */
	int64_t	 tokens, cost;			/* requests held: 1 */
};

/*
 * env: the options and tokqd.conf as main.c applied them.  Only main.c
 * writes it; every other file reads it.  (It is defined with its defaults
 * in clock.c, so that the unit tests, which have no main, link.)
 */
extern struct tokqd_env {
	const char	*socket_path;
	const char	*db_path;		/* as shown: a URI without its password */
	const char	*db_schema;		/* PostgreSQL: the store's schema */
	const char	*config_path;
	bool		 socket_activated;
	bool		 test_clock;
	int64_t		 started;		/* real time of start */
	uid_t		 uid;
	gid_t		 admin_gid;		/* (gid_t)-1: no admin group */
	int		 retention_days;
	int		 warn[8];		/* ascending thresholds, then 100 */
	int		 nwarn;
	size_t		 counter_cache;		/* bytes of counters kept; 0: no bound */
	size_t		 max_pending;		/* bytes of unanswered input, all connections */
} env;
/* clock.c */
int64_t	 now(void);			/* the daemon's clock (test clock aware) */
int	 clock_init(void);
int	 clock_set(int64_t t);

/*
 * Microseconds of the monotonic clock, for deadlines, budgets and the
 * write-behind's pacing: never the test clock.  Inline, so that the store
 * times itself without calling clock.c, which calls the store.
 */
static inline uint64_t
mono_usec(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* hmap.c: string keys (copied) -> the caller's pointers */
#define HASH_SEED	1469598103934665603ULL
uint64_t hash_bytes(uint64_t h, const void *p, size_t n);
struct hmap_slot {
	char	*key;
	size_t	 klen;
	void	*val;
};
struct hmap {
	struct hmap_slot	*slots;
	size_t			 cap, len, used;
	bool			 refkeys;	/* the keys are the caller's */
};
void	*hmap_get(const struct hmap *m, const char *key);
void	*hmap_getn(const struct hmap *m, const char *key, size_t klen);
int	 hmap_put(struct hmap *m, const char *key, void *val);
int	 hmap_putn(struct hmap *m, const char *key, size_t klen, void *val);
int	 hmap_putn_ref(struct hmap *m, const char *key, size_t klen, void *val);
void	*hmap_del(struct hmap *m, const char *key);
void	*hmap_deln(struct hmap *m, const char *key, size_t klen);
void	 hmap_foreach(const struct hmap *m, void (*cb)(void *, const char *, void *),
	    void *arg);
void	 hmap_clear(struct hmap *m, void (*freeval)(void *));

/* log.c */
void	 log_init(int verbose, int to_journal);
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	 fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * The store: store.c, which forwards each call to one of two backends
 * (below), the only files that include sqlite3.h (with walbuf.c, the VFS
 * beneath them) or libpq-fe.h; store_sqlite.c's and store_pg_sql.h's head
 * comments map them.  Every
 * function returns 0 on success (or a count, where said) and a negative
 * TOKQ_E_* code on failure, logged where it happened.  Writes must happen
 * between store_begin() and store_commit() (outside, they fail with
 * -TOKQ_E_INTERNAL); store_commit() rolls back by itself when the commit
 * fails.  Strings passed in are copied or bound, never kept.  Callbacks
 * return 0 to go on, > 0 to stop, < 0 to fail the call.
 */
/* store.c: open, close, the batch's transaction, a request's mark */
int	 store_open(const char *path);
void	 store_close(void);
int	 store_begin(void);			/* BEGIN IMMEDIATE unless open */
int	 store_commit(void);			/* no-op when none is open */
void	 store_begin_next(void);	/* the commit may open the next round */
void	 store_rollback(void);
bool	 store_in_tx(void);
/* What a request writes: adds usage or holds only, or changes anything else. */
enum write_kind { WRITES_NONE = 0, WRITES_ADDS, WRITES_CHANGES };
int	 store_mark(enum write_kind w);	/* a savepoint for one request */
int	 store_unmark(int rc);			/* release it, or undo it if rc < 0 */
int	 store_settle(void);		/* write the pending totals; 1 if any */

/*
 * Two backends behind these functions (issue 21): SQLite (store_db.c and
 * the files beside it) for a path, PostgreSQL (store_pg*.c) for a
 * postgresql:// or postgres:// URI; store_open() picks one by its argument.
 * A PostgreSQL store is shared by the tokqd of several hosts, so:
 *  - store_remote(): its calls may wait on the network; requests then run
 *    on the worker thread (exec.c), never on the event loop.
 *  - store_begin() takes the database's write lock for the round and tells
 *    the stale hook, before it returns, every change another daemon
 *    committed since this one last looked: memory judges from no stale
 *    counter, rule or hold.  The SQLite store, the only writer of its file,
 *    never calls the hook.
 *  - store_begin_next(): the next round's jobs are known (and have asked
 *    for their counters); the commit may open its transaction in its own
 *    round trip, and tell the stale hook then; store_begin() then returns
 *    at once.
 *  - store_maint_owner(): whether this daemon runs maintenance now (one
 *    daemon at a time for the whole database; another takes over when it
 *    dies).
 */
enum stale_kind {
	STALE_ALL = 0,		/* everything: reload rules, prices, holds, counters */
	STALE_COUNTER,		/* a counter's buckets; model NULL: every model of subject */
	STALE_SETTINGS,		/* rules, plans, bypass lists or prices */
	STALE_HOLD		/* one hold, added or removed */
};
struct stale {
	enum stale_kind	 kind;
	enum scope	 sc;		/* STALE_COUNTER */
	const char	*subject, *model;	/* STALE_COUNTER; model "" pooled */
	const char	*hold_id;	/* STALE_HOLD */
	/*
	 * STALE_COUNTER: when not NULL, the counter's only change was this
	 * bucket added (a counter in memory may add it rather than reload).
	 */
	const struct bucket *add;
};
bool	 store_remote(void);
void	 store_on_stale(void (*fn)(const struct stale *));
bool	 store_maint_owner(void);

/* store_db.c: the database's size and mode, the meta table */
int64_t	 store_db_bytes(void);
int	 store_bulk(bool on);			/* tokq-preload: no fsync, big cache */
int	 store_meta_get(const char *name, int64_t *val);	/* 1 found, 0 not */
int	 store_meta_set(const char *name, int64_t val);

/* store_totals.c: the record and the totals written behind it */
int	 store_event_add(struct event *ev);	/* sets ev->id; adds to daily totals */
int	 store_replay(int (*cb)(void *, const struct event *), void *arg);
void	 store_tune_parts(uint64_t, size_t);	/* tests only */
int	 store_bucket_add(enum scope sc, const char *subject, const char *model,
	    const struct bucket *b);		/* model "" = pooled; adds to an existing one */
int	 store_bucket_load(enum scope sc, const char *subject, const char *model,
	    int64_t since, int (*cb)(void *, const struct bucket *), void *arg);
/*
 * The counters a round will load, asked for ahead in one round trip (a
 * remote store keeps the rows for its transaction and serves each load of
 * them once; SQLite does nothing): each as store_bucket_load's arguments.
 */
struct bucket_want {
	enum scope	 sc;
	const char	*subject, *model;	/* model "" = pooled */
	int64_t		 since;
};
int	 store_bucket_prefetch(const struct bucket_want *w, size_t n);
int	 store_bucket_clear(enum scope sc, const char *subject,
	    const char *model);			/* model NULL: every model and pooled */
int	 store_counts(int64_t *events, int64_t *users);

/* store_settings.c: what quota.c loads; idempotency keys */
int	 store_rule_put(const struct rule *r);	/* returns 1 when it replaced one */
int	 store_rule_del(const struct rule *r);	/* returns 1 when one was removed */
int	 store_rule_load(int (*cb)(void *, const struct rule *), void *arg);
int	 store_plan_set(const char *user, const char *plan);	/* plan NULL: unassign */
int	 store_plan_load(int (*cb)(void *, const char *user, const char *plan), void *arg);
int	 store_bypass_set(bool guild, const char *id, bool on);	/* returns 1 when changed */
int	 store_bypass_load(int (*cb)(void *, bool guild, const char *id), void *arg);
int	 store_price_put(const struct price *p);
int	 store_price_del(const char *model);	/* returns 1 when removed */
int	 store_price_load(int (*cb)(void *, const struct price *), void *arg);
int	 store_hold_put(const struct hold *h);
int	 store_hold_del(const char *id);
int	 store_hold_load(int (*cb)(void *, const struct hold *), void *arg);
int	 store_key_get(const char *key, uint64_t *fp, int64_t *first, int64_t *count); /* 1/0 */
int	 store_key_put(const char *key, uint64_t fp, int64_t first, int64_t count,
	    int64_t created);
int	 store_events_sum(int64_t first, int64_t count, struct usage *u);

/* store_maint.c: maintenance's bounded steps */
int	 store_bucket_compact(int64_t before, int limit); /* minutes before -> hours; n */
int	 store_bucket_prune(int64_t before, int limit);	/* drop ones ending by before; n */
int	 store_events_prune(int64_t before, int limit);	/* returns rows deleted */
int	 store_hourly_prune(int64_t before, int limit);	/* returns rows deleted */
int	 store_month_archive(int64_t month_start, int64_t month_end, char *cursor,
	    size_t cursorlen, int users);	/* returns users archived */

/*
 * store_views.c: a user's own totals, with what waits in memory, then the
 * admin views (stats, report, log, export), read only.  A view is whole UTC
 * days [from, to) of the daily totals, which are kept forever, so its sums
 * stay exact after the raw events are pruned.
 */
int	 store_user_hours_totals(const char *user, int64_t since, int64_t until,
	    struct usage *u);			/* the hours that overlap [since, until) */
int	 store_user_daily_totals(const char *user, int64_t day_from, int64_t day_to,
	    struct usage *u);			/* days [from, to), day starts in Unix s */
int	 store_user_models_totals(const char *user,
	    int (*cb)(void *, const char *model, const struct usage *), void *arg);
int	 store_user_models_since(const char *user, int64_t since,
	    int (*cb)(void *, const char *), void *arg);	/* from the daily totals */
struct view {
	int64_t		 from, to;	/* day starts, Unix s */
	const char	*guild;		/* NULL: every guild */
};
enum view_group { VG_USER = 0, VG_GUILD, VG_MODEL, VG_SERVICE, VG_DAY };
/* Which raw events a page holds: user/guild NULL for any, at in [since, until). */
struct event_filter {
	const char	*user, *guild;
	int64_t		 since, until;
};
int	 store_view_totals(const struct view *v, struct usage *u, int64_t *users,
	    int64_t *guilds);
int	 store_view_group(const struct view *v, enum view_group g, int64_t limit,
	    int (*cb)(void *, const char *name, int64_t day, const struct usage *),
	    void *arg);
int	 store_view_user_all(const char *user, const char *guild, struct usage *u);
int	 store_events_page(const struct event_filter *f, bool newest_first,
	    int64_t at, int64_t id, int64_t limit,
	    int (*cb)(void *, const struct event *), void *arg);

/*
 * A history moved whole (export --all, import): the daily totals as rows.
 * store_daily_page: the rows in key order after `after` (NULL: from the
 * first); store_daily_events: the raw events' sums by the same key, of the
 * days [from, to); store_daily_add: amounts added to a row, and to nothing
 * else (no event, no counter).  Strings "" when none.
 */
struct daily_row {
	int64_t		 day;
	const char	*user, *guild, *model, *service, *kind;
	struct usage	 u;
};
int	 store_daily_page(const struct daily_row *after, int64_t limit,
	    int (*cb)(void *, const struct daily_row *), void *arg);
int	 store_daily_events(int64_t from, int64_t to,
	    int (*cb)(void *, const struct daily_row *), void *arg);
int	 store_daily_add(const struct daily_row *r);

/*
 * walbuf.c: an SQLite VFS that writes the WAL in runs of frames.  It is
 * registered under WALBUF_VFS always; with WALBUF_OFF, or an SQLite it was
 * not checked against, that name is the default VFS itself.
 */
#define WALBUF_VFS	"tokq-walbuf"
enum { WALBUF_AUTO = 0, WALBUF_OFF };
void	 walbuf_configure(int mode);	/* before walbuf_register */
int	 walbuf_register(void);		/* 0, or -1 */

/* normalize.c: provider usage JSON -> events */
struct norm_item {
	struct usage	 u;		/* requests = 1; cost only when has_cost */
	bool		 has_cost;
	bool		 has_total;
	char		*model;		/* NULL when the JSON names none */
	int64_t		 call;		/* index in an array, else -1 */
};
int	 normalize_usage_json(const char *json, size_t len, struct norm_item **items,
	    size_t *nitems, char *err, size_t errlen);
void	 normalize_free(struct norm_item *items, size_t nitems);

/* counter.c: the counter cache, the history the quota judges from */
struct counter {
	struct bucket	*b;		/* ascending start, none overlapping */
	size_t		 n, cap;
	int64_t		 maxspan;	/* no bucket spans more */
	int64_t		 held[3];	/* by metric, of active holds (quota.c) */
	int64_t		 folded;	/* minute buckets before this are hours */
	struct counter	*older, *newer;	/* in the order of last use */
	size_t		 charged;	/* bytes it counts in the cache's total */
	size_t		 klen;
	char		 key[];		/* the cache's key too (hmap_putn_ref) */
};
typedef void (*counter_hook)(struct counter *, enum scope, const char *subject,
    const char *model);
void	 counter_init(counter_hook loaded);
void	 counter_shutdown(void);
struct counter *counter_get(enum scope sc, const char *subject, const char *model);
struct counter *counter_find(enum scope sc, const char *subject, const char *model);
int	 counter_add(struct counter *c, const struct bucket *b);
int	 counter_drop(enum scope sc, const char *subject, const char *model);
void	 counter_flush(void);
size_t	 counter_bytes(void);
void	 counter_fold(int64_t before);		/* as maintenance folds buckets */
void	 counter_set_horizon(int64_t h);
int64_t	 counter_horizon(void);
void	 counter_want(enum scope sc, const char *subject, const char *model);
int	 counter_prefetch(void);		/* the wanted ones memory lacks, ahead */

/* quota.c */
#define QUOTA_MAX_EVAL	64		/* applicable rules judged per request */
struct estimate {
	int64_t	 tokens, cost, requests;
};
/* One applicable rule, evaluated. */
struct limit_eval {
	const struct rule	*r;
	const char		*model;		/* the model it counted; NULL pooled */
	int64_t			 used, held;
	int64_t			 remaining;	/* -1: unlimited */
	double			 percent;
	int64_t			 resets_at;	/* 0: none */
	int64_t			 retry_at;	/* when it has room for the estimate; 0: unknown */
	bool			 denies;
};
struct judgement {
	struct limit_eval	 e[QUOTA_MAX_EVAL];
	size_t			 n;
	int			 denied;	/* index of the binding rule, or -1 */
	int64_t			 retry_at;
	bool			 bypass;
};
int	 quota_init(void);
void	 quota_shutdown(void);
void	 quota_invalidate(void);
int	 quota_holds_sync(void);		/* holds as the store has them */
int	 quota_replay(void);
int64_t	 quota_retention(void);
bool	 rule_same(const struct rule *a, const struct rule *b);
int	 quota_judge(const char *user, const char *guild, const char *model, int64_t t,
	    const struct estimate *est, struct judgement *res);
int	 quota_threshold(double pct);
bool	 quota_bypassed(const char *user, const char *guild);
struct counter_id {
	enum scope	 sc;
	const char	*subject, *model;	/* model "" for pooled */
};
#define QUOTA_NCOUNTERS	6
size_t	 quota_counters(const char *user, const char *guild, const char *model,
	    struct counter_id k[QUOTA_NCOUNTERS]);
int	 quota_add(const char *user, const char *guild, const char *model, int64_t t,
	    int64_t tokens, int64_t cost);
void	 quota_want(const char *user, const char *guild, const char *model);
int	 quota_prefetch(void);		/* what the round's quota_want()s asked for */
int	 quota_reset(const char *user, const char *model);
int	 quota_hold(const char *user, const char *guild, const char *model, int64_t t,
	    int64_t ttl, const struct estimate *est, struct hold *h);
const struct hold *quota_hold_find(const char *id, bool *active);
int	 quota_hold_drop(const char *id);
void	 quota_expire(int64_t t);
int	 quota_sweep_holds(int64_t t);
size_t	 quota_nholds(void);
size_t	 quota_nrules(void);
const struct rule *quota_rule(size_t i);
int	 quota_rule_set(const struct rule *r, bool *replaced);
int	 quota_rule_rm(const struct rule *r);
const char *quota_plan(const char *user);
int	 quota_plan_set(const char *user, const char *plan);
void	 quota_plan_foreach(void (*cb)(void *, const char *, void *), void *arg);
int	 quota_bypass_set(bool guild, const char *id, bool on);
void	 quota_bypass_foreach(void (*cb)(void *, const char *, void *), void *arg);

/*
 * price.c: the price table.  Its functions keep the quota_ prefix they had
 * in quota.c, which the bench's preloader and the unit tests call.
 */
int	 price_init(void);
void	 price_shutdown(void);
size_t	 quota_nprices(void);
const struct price *quota_price(size_t i);
int	 quota_price_set(const struct price *p);
int	 quota_price_rm(const char *model);
int64_t	 quota_cost(const char *model, const struct usage *u);
int64_t	 quota_cost_estimate(const char *model, int64_t tokens);

/* ledger.c: the one way usage enters (record, import) */
const char *ledger_usage_check(const struct usage *u);	/* NULL: a valid event */
const char *ledger_check(struct event *ev, bool priced);	/* NULL: it may enter */
int	 ledger_add(struct event *ev, bool priced, const char **why);

/* dispatch.c: one request in, one reply out */
struct peer {
	uid_t	 uid;
	gid_t	 gid;
	pid_t	 pid;
	bool	 admin;		/* uid 0, the daemon's uid, or in admin_group */
};
int	 dispatch(const msgpack_object *req, const struct peer *peer,
	    msgpack_sbuffer *out, bool *wrote);
int	 dispatch_error(msgpack_sbuffer *out, int code, const char *msg);
void	 dispatch_want(const msgpack_object *req);	/* what it will need: quota_want */

/* control.c */
int	 control_init(sd_event *ev);
void	 control_shutdown(void);
void	 control_answer(int rc);	/* batch.c's answer hook */
void	 control_drained(void);		/* exec.c's: replies came back */
bool	 control_activated(void);	/* the socket came from systemd */
size_t	 control_nconns(void);

/* maint.c */
int	 maint_init(sd_event *ev);
void	 maint_shutdown(void);
int	 maint_run(void);			/* 1: more to do */
void	 maint_soon(void);			/* another round shortly */

/*
 * exec.c: the worker thread, for a store whose calls wait on the network
 * (store_remote(); TOKQD_WORKER=1 in the environment forces it, for the
 * tests).  A job runs on the worker inside a round's transaction; its
 * done() runs on the loop after the round committed, rc < 0 (why says
 * what) when it did not run or its writes were not kept.  Before any job
 * of a round runs, each one's want() says what it will need (quota_want),
 * and the prefetch hook asks the store for all of it at once.
 */
struct job {
	struct job	*next;
	void		(*want)(struct job *);	/* on the worker, before run; may be NULL */
	void		(*run)(struct job *);	/* on the worker */
	void		(*done)(struct job *);	/* on the loop, afterwards */
	int		 rc;			/* < 0: refused or not kept */
	const char	*why;			/* with rc < 0 */
	bool		 wrote;			/* run() wrote */
	bool		 refusable;		/* may be refused while waiting */
	uint64_t	 queued;		/* monotonic usec */
};
int	 exec_init(sd_event *ev, bool (*caught_up)(void), int (*prefetch)(void),
	    void (*drained)(void));
void	 exec_shutdown(void);
bool	 exec_on(void);			/* requests run on the worker */
bool	 exec_worker(void);		/* the caller is the worker */
void	 exec_submit(struct job *j);
void	 exec_to_loop(void (*fn)(void));	/* from the worker: fn on the loop, soon */

/* batch.c: the group commit; it calls up only through the hooks it is given */
int	 batch_init(sd_event *ev, void (*answer)(int rc));
void	 batch_on_undo(void (*fn)(void));
void	 batch_shutdown(void);		/* commits and answers what is in flight */
void	 batch_add(void);		/* a held reply's write joined the batch */
size_t	 batch_size(void);
bool	 batch_due(void);		/* large or old: commit now */
int	 batch_commit(void);		/* the commit's result */
int	 batch_end(void);		/* commit, undo on failure; no answer */
void	 batch_commit_soon(void);	/* when the loop is idle */
void	 batch_undo(void);		/* writes memory knew of were undone */

#endif
