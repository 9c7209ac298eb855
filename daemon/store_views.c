/*
 * store_views.c: the store's readers: a user's own totals (usage), the
 * admin views (stats, report, log, export) and pages of raw events.  Read
 * only.
 *
 * A user's totals and hours are read with what waits in memory added
 * (store_totals.c: daily_pending, hourly_get), never written out first.
 * The admin views read whole UTC days of the daily totals, which are kept
 * forever, once the caller wrote out what waits (sq_settle): their sums
 * stay exact after the raw events are pruned.  A user's events are found
 * an hour at a time through the user's hours, as no index of the events
 * leads with user.
 */
#include <stdlib.h>
#include <string.h>

#include "store_db.h"

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
 * The sums of the user's usage in the hours that overlap [since, until),
 * whole: one look-up an hour, for a range of a day or so (`usage` asks
 * for the first day of its 30 days).
 */
int
sq_user_hours_totals(const char *user, int64_t since, int64_t until,
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
sq_user_daily_totals(const char *user, int64_t day_from, int64_t day_to,
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
sq_user_models_totals(const char *user,
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
sq_view_totals(const struct view *v, struct usage *u, int64_t *users,
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
sq_view_group(const struct view *v, enum view_group g, int64_t limit,
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
sq_view_user_all(const char *user, const char *guild, struct usage *u)
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
 * A user's events for sq_events_page, read an hour at a time: the days
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
sq_events_page(const struct event_filter *f, bool newest_first, int64_t at,
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
sq_user_models_since(const char *user, int64_t since,
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

/* A daily row (columns 0..5 its key, then the amounts) into r. */
static void
column_daily(sqlite3_stmt *st, struct daily_row *r)
{
	r->day = sqlite3_column_int64(st, 0);
	r->user = column_text(st, 1, false);
	r->guild = column_text(st, 2, false);
	r->model = column_text(st, 3, false);
	r->service = column_text(st, 4, false);
	r->kind = column_text(st, 5, false);
	column_usage(st, 6, &r->u);
}

static int
daily_rows(sqlite3_stmt *st, int (*cb)(void *, const struct daily_row *),
    void *arg, const char *what)
{
	struct daily_row r;
	int		 rc, cbrc = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		column_daily(st, &r);
		if ((cbrc = cb(arg, &r)) != 0)
			break;
	}
	return rows_done(st, rc, cbrc, what);
}

/* The daily totals after `after` in key order, at most limit rows. */
int
sq_daily_page(const struct daily_row *after, int64_t limit,
    int (*cb)(void *, const struct daily_row *), void *arg)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((rc = store_settle()) < 0)
		return rc;
	if (after == NULL) {
		st = stmt(S_DAILY_FIRST);
		sqlite3_bind_int64(st, 1, limit);
	} else {
		st = stmt(S_DAILY_PAGE);
		sqlite3_bind_int64(st, 1, after->day);
		bind_key(st, 2, after->user);
		bind_key(st, 3, after->guild);
		bind_key(st, 4, after->model);
		bind_key(st, 5, after->service);
		bind_key(st, 6, after->kind);
		sqlite3_bind_int64(st, 7, limit);
	}
	return daily_rows(st, cb, arg, "daily_page");
}

/* The raw events of the days [from, to), summed by their daily row's key. */
int
sq_daily_events(int64_t from, int64_t to,
    int (*cb)(void *, const struct daily_row *), void *arg)
{
	sqlite3_stmt	*st = stmt(S_DAILY_EVENTS);

	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to);
	return daily_rows(st, cb, arg, "daily_events");
}
