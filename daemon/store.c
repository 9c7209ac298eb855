/*
 * store.c: the store's face.  Every store_* function of tokqd.h is here, a
 * call forwarded to the backend store_open() chose (store_backend.h):
 *
 *	store_sqlite.c, store_*.c	SQLite, a file of this host's
 *	store_pg.c, store_pg_*.c	PostgreSQL, shared by several hosts
 *
 * A postgresql:// or postgres:// URI selects PostgreSQL; anything else is
 * an SQLite path.  Until a store is open, the SQLite backend answers (it
 * says no transaction is open, and refuses writes).
 */
#include <string.h>

#include "store_backend.h"

static const struct store_backend *be = &store_sqlite;

/* Is arg a PostgreSQL URI, as libpq spells one? */
static bool
is_pg_uri(const char *arg)
{
	return strncmp(arg, "postgresql://", 13) == 0 ||
	    strncmp(arg, "postgres://", 11) == 0;
}

/* Open the store that arg names, with the backend that serves it. */
int
store_open(const char *arg)
{
	const struct store_backend *nb = is_pg_uri(arg) ? &store_pg : &store_sqlite;
	int	 rc;

	if ((rc = nb->open(arg)) < 0)
		return rc;
	be = nb;
	return 0;
}

void
store_close(void)
{
	be->close();
}

int
store_begin(void)
{
	return be->begin();
}

int
store_commit(void)
{
	return be->commit();
}

void
store_begin_next(void)
{
	if (be->begin_next)
		be->begin_next();
}

void
store_rollback(void)
{
	be->rollback();
}

bool
store_in_tx(void)
{
	return be->in_tx();
}

int
store_mark(enum write_kind w)
{
	return be->mark(w);
}

int
store_unmark(int rc)
{
	return be->unmark(rc);
}

int
store_settle(void)
{
	return be->settle();
}

bool
store_remote(void)
{
	return be->remote();
}

void
store_on_stale(void (*fn)(const struct stale *))
{
	be->on_stale(fn);
}

bool
store_maint_owner(void)
{
	return be->maint_owner();
}

int64_t
store_db_bytes(void)
{
	return be->db_bytes();
}

int
store_bulk(bool on)
{
	return be->bulk(on);
}

int
store_meta_get(const char *name, int64_t *val)
{
	return be->meta_get(name, val);
}

int
store_meta_set(const char *name, int64_t val)
{
	return be->meta_set(name, val);
}

int
store_event_add(struct event *ev)
{
	return be->event_add(ev);
}

int
store_replay(int (*cb)(void *, const struct event *), void *arg)
{
	return be->replay(cb, arg);
}

void
store_tune_parts(uint64_t usec, size_t min)
{
	be->tune_parts(usec, min);
}

int
store_bucket_add(enum scope sc, const char *subject, const char *model,
	    const struct bucket *b)
{
	return be->bucket_add(sc, subject, model, b);
}

int
store_bucket_load(enum scope sc, const char *subject, const char *model,
	    int64_t since, int (*cb)(void *, const struct bucket *), void *arg)
{
	return be->bucket_load(sc, subject, model, since, cb, arg);
}

int
store_bucket_prefetch(const struct bucket_want *w, size_t n)
{
	return be->bucket_prefetch(w, n);
}

int
store_bucket_clear(enum scope sc, const char *subject, const char *model)
{
	return be->bucket_clear(sc, subject, model);
}

int
store_counts(int64_t *events, int64_t *users)
{
	return be->counts(events, users);
}

int
store_rule_put(const struct rule *r)
{
	return be->rule_put(r);
}

int
store_rule_del(const struct rule *r)
{
	return be->rule_del(r);
}

int
store_rule_load(int (*cb)(void *, const struct rule *), void *arg)
{
	return be->rule_load(cb, arg);
}

int
store_plan_set(const char *user, const char *plan)
{
	return be->plan_set(user, plan);
}

int
store_plan_load(int (*cb)(void *, const char *user, const char *plan),
	    void *arg)
{
	return be->plan_load(cb, arg);
}

int
store_bypass_set(bool guild, const char *id, bool on)
{
	return be->bypass_set(guild, id, on);
}

int
store_bypass_load(int (*cb)(void *, bool guild, const char *id), void *arg)
{
	return be->bypass_load(cb, arg);
}

int
store_price_put(const struct price *p)
{
	return be->price_put(p);
}

int
store_price_del(const char *model)
{
	return be->price_del(model);
}

int
store_price_load(int (*cb)(void *, const struct price *), void *arg)
{
	return be->price_load(cb, arg);
}

int
store_hold_put(const struct hold *h)
{
	return be->hold_put(h);
}

int
store_hold_del(const char *id)
{
	return be->hold_del(id);
}

int
store_hold_load(int (*cb)(void *, const struct hold *), void *arg)
{
	return be->hold_load(cb, arg);
}

int
store_key_get(const char *key, uint64_t *fp, int64_t *first, int64_t *count)
{
	return be->key_get(key, fp, first, count);
}

int
store_key_put(const char *key, uint64_t fp, int64_t first, int64_t count,
	    int64_t created)
{
	return be->key_put(key, fp, first, count, created);
}

int
store_events_sum(int64_t first, int64_t count, struct usage *u)
{
	return be->events_sum(first, count, u);
}

int
store_bucket_compact(int64_t before, int limit)
{
	return be->bucket_compact(before, limit);
}

int
store_bucket_prune(int64_t before, int limit)
{
	return be->bucket_prune(before, limit);
}

int
store_events_prune(int64_t before, int limit)
{
	return be->events_prune(before, limit);
}

int
store_hourly_prune(int64_t before, int limit)
{
	return be->hourly_prune(before, limit);
}

int
store_month_archive(int64_t month_start, int64_t month_end, char *cursor,
	    size_t cursorlen, int users)
{
	return be->month_archive(month_start, month_end, cursor, cursorlen, users);
}

int
store_user_hours_totals(const char *user, int64_t since, int64_t until,
	    struct usage *u)
{
	return be->user_hours_totals(user, since, until, u);
}

int
store_user_daily_totals(const char *user, int64_t day_from, int64_t day_to,
	    struct usage *u)
{
	return be->user_daily_totals(user, day_from, day_to, u);
}

int
store_user_models_totals(const char *user, int (*cb)(void *, const char *model,
	    const struct usage *), void *arg)
{
	return be->user_models_totals(user, cb, arg);
}

int
store_user_models_since(const char *user, int64_t since, int (*cb)(void *,
	    const char *), void *arg)
{
	return be->user_models_since(user, since, cb, arg);
}

int
store_view_totals(const struct view *v, struct usage *u, int64_t *users,
	    int64_t *guilds)
{
	return be->view_totals(v, u, users, guilds);
}

int
store_view_group(const struct view *v, enum view_group g, int64_t limit,
	    int (*cb)(void *, const char *name, int64_t day,
	    const struct usage *), void *arg)
{
	return be->view_group(v, g, limit, cb, arg);
}

int
store_view_user_all(const char *user, const char *guild, struct usage *u)
{
	return be->view_user_all(user, guild, u);
}

int
store_events_page(const struct event_filter *f, bool newest_first, int64_t at,
	    int64_t id, int64_t limit, int (*cb)(void *, const struct event *),
	    void *arg)
{
	return be->events_page(f, newest_first, at, id, limit, cb, arg);
}

int
store_daily_page(const struct daily_row *after, int64_t limit,
    int (*cb)(void *, const struct daily_row *), void *arg)
{
	return be->daily_page(after, limit, cb, arg);
}

int
store_daily_events(int64_t from, int64_t to,
    int (*cb)(void *, const struct daily_row *), void *arg)
{
	return be->daily_events(from, to, cb, arg);
}

int
store_daily_add(const struct daily_row *r)
{
	return be->daily_add(r);
}
