/*
 * report.c: what admins look at: stats, report, log and export.
 *
 * stats and report add up the daily totals (kept forever) over whole UTC
 * days, so a range that reaches past the raw-event retention is as exact
 * as yesterday's.  log and export read the raw events, export a bounded
 * page per request (the client loops on the cursor), so a large export
 * neither holds the loop for long nor grows the daemon.  They only read
 * (import, a write, is in ops_admin.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "reply.h"

#define VIEW_DAYS	30
#define TOP_DEFAULT	10
#define LOG_DEFAULT	10
#define PAGE_BYTES	(768 * 1024)	/* an export page stops growing here */

/*
 * An array under construction: items are packed into a buffer of their
 * own and counted, then list_end() writes the array under its key.
 */
struct list {
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	uint32_t	 n;
};

static void
list_init(struct list *l)
{
	msgpack_sbuffer_init(&l->sb);
	msgpack_packer_init(&l->pk, &l->sb, msgpack_sbuffer_write);
	l->n = 0;
}

static void
list_end(struct reply *rp, const char *k, struct list *l)
{
	msgpack_pack_array(rp_key(rp, k), l->n);
	if (l->sb.size > 0)
		msgpack_sbuffer_write(&rp->sb, l->sb.data, l->sb.size);
	msgpack_sbuffer_destroy(&l->sb);
}

static void
list_free(struct list *l)
{
	msgpack_sbuffer_destroy(&l->sb);
}

static int64_t
day_floor(int64_t t)
{
	return tokq_period_start(TOKQ_W_DAY, t);
}

static int64_t
day_ceil(int64_t t)
{
	int64_t	 d = day_floor(t);

	return d == t ? t : d + DAY;
}

/* "2026-12-01" */
static void
pk_date(msgpack_packer *pk, int64_t day)
{
	char	 buf[32];

	tokq_fmt_time(day, buf, sizeof(buf));
	buf[10] = '\0';
	pk_str(pk, buf);
}

/* One row of a grouping: {name_key: name, usage totals}. */
struct group_ctx {
	struct list	 l;
	const char	*name_key;
	int64_t		 next_day, to;	/* VG_DAY: the days still to list */
};

static void
pk_day_row(struct group_ctx *g, int64_t day, const struct usage *u)
{
	msgpack_pack_map(&g->l.pk, 9);
	pk_str(&g->l.pk, "date");
	pk_date(&g->l.pk, day);
	pk_totals_keys(&g->l.pk, u);
	g->l.n++;
}

static int
group_row(void *arg, const char *name, int64_t day, const struct usage *u)
{
	struct group_ctx	*g = arg;
	static const struct usage zero;

	if (g->name_key == NULL) {
		/* by day: every day of the range, those without usage as zeros */
		for (; g->next_day < day && g->next_day < g->to; g->next_day += DAY)
			pk_day_row(g, g->next_day, &zero);
		pk_day_row(g, day, u);
		g->next_day = day + DAY;
		return 0;
	}
	msgpack_pack_map(&g->l.pk, 9);
	pk_str(&g->l.pk, g->name_key);
	pk_str(&g->l.pk, name);
	pk_totals_keys(&g->l.pk, u);
	g->l.n++;
	return 0;
}

/* Pack the view's grouping g under k. */
static int
kv_group(struct reply *rp, const char *k, const struct view *v, enum view_group g,
    const char *name_key, int64_t top)
{
	struct group_ctx	 gc = { .name_key = name_key, .next_day = v->from,
	    .to = v->to };
	static const struct usage zero;
	int			 rc;

	list_init(&gc.l);
	if ((rc = store_view_group(v, g, top, group_row, &gc)) < 0) {
		list_free(&gc.l);
		return rc;
	}
	if (g == VG_DAY)
		for (; gc.next_day < v->to; gc.next_day += DAY)
			pk_day_row(&gc, gc.next_day, &zero);
	list_end(rp, k, &gc.l);
	return 0;
}

/*
 * stats: whole UTC days.  --days N: the N days ending with today; --since
 * and --until are widened to the days that hold them (until exclusive: a
 * time inside a day takes that whole day).
 */
int
report_stats(struct request *rq, struct reply *rp)
{
	const struct argval	*days = rq_arg(rq, "days"), *since = rq_arg(rq, "since");
	const struct argval	*until = rq_arg(rq, "until");
	struct view		 v = { .guild = rq_str(rq, "guild") };
	struct usage		 u;
	int64_t			 n = days ? days->i : VIEW_DAYS, top, users, guilds;
	msgpack_packer		*pk;
	int			 rc;

	/* The daily totals with what waits written into the batch. */
	if ((rc = store_settle()) < 0)
		return rc;
	if (days && since)
		return rq_fail(rq, TOKQ_E_USAGE, "give days or since, not both");
	if (n < 1 || n > TOKQ_DAYS_MAX)
		return rq_fail(rq, TOKQ_E_INVALID, "days must be 1 to %d", TOKQ_DAYS_MAX);
	top = rq_int(rq, "top", TOP_DEFAULT);
	if (top < 1 || top > TOKQ_TOP_MAX)
		return rq_fail(rq, TOKQ_E_INVALID, "top must be 1 to %d", TOKQ_TOP_MAX);
	v.to = until ? day_ceil(until->i) : day_floor(now()) + DAY;
	v.from = since ? day_floor(since->i) : v.to - n * DAY;
	if (v.to <= v.from)
		return rq_fail(rq, TOKQ_E_INVALID, "until must be after since");
	if ((v.to - v.from) / DAY > TOKQ_DAYS_MAX)
		return rq_fail(rq, TOKQ_E_INVALID, "a range of at most %d days",
		    TOKQ_DAYS_MAX);
	if ((rc = store_view_totals(&v, &u, &users, &guilds)) < 0)
		return rq_failed(rq, rc);

	kv_time(rp, "since", v.from);
	kv_time(rp, "until", v.to);
	kv_int(rp, "days", (v.to - v.from) / DAY);
	kv_str(rp, "guild", v.guild);
	kv_int(rp, "top", top);
	pk = rp_key(rp, "totals");
	msgpack_pack_map(pk, 10);
	pk_totals_keys(pk, &u);
	pk_str(pk, "users");
	msgpack_pack_int64(pk, users);
	pk_str(pk, "guilds");
	msgpack_pack_int64(pk, guilds);
	if ((rc = kv_group(rp, "top_users", &v, VG_USER, "user", top)) < 0 ||
	    (rc = kv_group(rp, "top_guilds", &v, VG_GUILD, "guild", top)) < 0 ||
	    (rc = kv_group(rp, "by_model", &v, VG_MODEL, "model", -1)) < 0 ||
	    (rc = kv_group(rp, "by_service", &v, VG_SERVICE, "service", -1)) < 0 ||
	    (rc = kv_group(rp, "by_day", &v, VG_DAY, NULL, -1)) < 0)
		return rq_failed(rq, rc);
	return 0;
}

struct top_ctx {
	struct report_row {
		char		 user[TOKQ_ID_MAX + 1];
		struct usage	 u;
	}		*rows;
	size_t		 n, cap;
};

static int
top_row(void *arg, const char *name, int64_t day, const struct usage *u)
{
	struct top_ctx	*tc = arg;

	if (tc->n == tc->cap || name == NULL)
		return 0;
	snprintf(tc->rows[tc->n].user, sizeof(tc->rows[0].user), "%s", name);
	tc->rows[tc->n++].u = *u;
	return 0;
}

/*
 * report: the top users of the current calendar period by tokens, with
 * their all-time tokens, in one guild or all of them.
 */
int
report_report(struct request *rq, struct reply *rp)
{
	static const char *const names[] = { "day", "week", "month" };
	static const enum tokq_wkind kinds[] = { TOKQ_W_DAY, TOKQ_W_WEEK, TOKQ_W_MONTH };
	const char	*period = rq_str(rq, "period");
	struct view	 v = { .guild = rq_str(rq, "guild") };
	struct view	 all = { INT64_MIN / 2, INT64_MAX / 2, v.guild };
	struct top_ctx	 tc = { NULL, 0, 0 };
	struct usage	 u, au;
	int64_t		 top = rq_int(rq, "top", TOP_DEFAULT), t = now();
	int64_t		 users, guilds, ausers, aguilds;
	msgpack_packer	*pk;
	size_t		 i, k;
	int		 rc;

	/* The daily totals with what waits written into the batch. */
	if ((rc = store_settle()) < 0)
		return rc;
	for (k = 0; k < 3; k++)
		if (period == NULL || strcmp(period, names[k]) == 0)
			break;
	if (k == 3)
		return rq_fail(rq, TOKQ_E_USAGE, "period must be day, week or month");
	if (top < 1 || top > TOKQ_REPORT_TOP_MAX)
		return rq_fail(rq, TOKQ_E_INVALID, "top must be 1 to %d", TOKQ_REPORT_TOP_MAX);
	v.from = tokq_period_start(kinds[k], t);
	v.to = tokq_period_next(kinds[k], t);
	if ((tc.rows = calloc(top, sizeof(*tc.rows))) == NULL)
		return -TOKQ_E_INTERNAL;
	tc.cap = top;
	if ((rc = store_view_group(&v, VG_USER, top, top_row, &tc)) < 0 ||
	    (rc = store_view_totals(&all, &au, &ausers, &aguilds)) < 0 ||
	    (rc = store_view_totals(&v, &u, &users, &guilds)) < 0)
		goto out;

	kv_str(rp, "period", names[k]);
	kv_time(rp, "since", v.from);
	kv_time(rp, "until", v.to);
	kv_str(rp, "guild", v.guild);
	kv_time(rp, "generated_at", t);
	pk = rp_key(rp, "rows");
	msgpack_pack_array(pk, tc.n);
	for (i = 0; i < tc.n; i++) {
		struct usage	 ua;

		if ((rc = store_view_user_all(tc.rows[i].user, v.guild, &ua)) < 0)
			goto out;
		msgpack_pack_map(pk, 9);
		pk_str(pk, "rank");
		msgpack_pack_int64(pk, (int64_t)i + 1);
		pk_str(pk, "user");
		pk_str(pk, tc.rows[i].user);
		pk_str(pk, "period_total");
		msgpack_pack_int64(pk, tc.rows[i].u.total);
		pk_str(pk, "all_time_total");
		msgpack_pack_int64(pk, ua.total);
		pk_str(pk, "cost_usd");
		pk_usd(pk, tc.rows[i].u.cost);
		pk_str(pk, "all_time_cost_usd");
		pk_usd(pk, ua.cost);
		pk_str(pk, "requests");
		msgpack_pack_int64(pk, tc.rows[i].u.requests);
		pk_str(pk, "prompt");
		msgpack_pack_int64(pk, tc.rows[i].u.prompt);
		pk_str(pk, "completion");
		msgpack_pack_int64(pk, tc.rows[i].u.completion);
	}
	pk = rp_key(rp, "totals");
	msgpack_pack_map(pk, 12);
	pk_totals_keys(pk, &u);
	pk_str(pk, "users");
	msgpack_pack_int64(pk, users);
	pk_str(pk, "guilds");
	msgpack_pack_int64(pk, guilds);
	pk_str(pk, "all_time_total");
	msgpack_pack_int64(pk, au.total);
	pk_str(pk, "all_time_cost_usd");
	pk_usd(pk, au.cost);
	rc = 0;
out:
	free(tc.rows);
	return rq_failed(rq, rc);
}

/* A raw event as the protocol's "event" object. */
static void
pk_event(msgpack_packer *pk, const struct event *ev)
{
	msgpack_pack_map(pk, 19);
	pk_str(pk, "id");
	msgpack_pack_int64(pk, ev->id);
	pk_str(pk, "at");
	pk_time(pk, ev->at);
	pk_str(pk, "user");
	pk_str(pk, ev->user);
	pk_str(pk, "guild");
	pk_str(pk, ev->guild);
	pk_str(pk, "channel");
	pk_str(pk, ev->channel);
	pk_str(pk, "model");
	pk_str(pk, ev->model);
	pk_str(pk, "service");
	pk_str(pk, ev->service);
	pk_str(pk, "kind");
	pk_str(pk, ev->kind);
	pk_str(pk, "session");
	pk_str(pk, ev->session);
	pk_str(pk, "call");
	if (ev->call < 0)
		msgpack_pack_nil(pk);
	else
		msgpack_pack_int64(pk, ev->call);
	pk_str(pk, "meta");
	pk_str(pk, ev->meta);
	pk_totals_keys(pk, &ev->u);
}

struct page_ctx {
	struct list	 l;
	int64_t		 last_at, last_id;
	bool		 full;		/* stopped at the byte budget */
};

static int
page_row(void *arg, const struct event *ev)
{
	struct page_ctx	*pc = arg;

	pk_event(&pc->l.pk, ev);
	pc->l.n++;
	pc->last_at = ev->at;
	pc->last_id = ev->id;
	if (pc->l.sb.size >= PAGE_BYTES) {
		pc->full = true;
		return 1;
	}
	return 0;
}

/* log: the last N raw events, newest first. */
int
report_log(struct request *rq, struct reply *rp)
{
	struct event_filter	 f = { rq_str(rq, "user"), rq_str(rq, "guild"),
	    INT64_MIN, INT64_MAX };
	struct page_ctx		 pc = { .full = false };
	int64_t			 last = rq_int(rq, "last", LOG_DEFAULT);
	int			 rc;

	if (last < 1 || last > TOKQ_PAGE_MAX)
		return rq_fail(rq, TOKQ_E_INVALID, "last must be 1 to %d", TOKQ_PAGE_MAX);
	list_init(&pc.l);
	if ((rc = store_events_page(&f, true, INT64_MAX, INT64_MAX, last, page_row,
	    &pc)) < 0) {
		list_free(&pc.l);
		return rq_failed(rq, rc);
	}
	list_end(rp, "events", &pc.l);
	return 0;
}

/*
 * export: one page of raw events in (at, id) order after the cursor
 * (after_at, after_id), at most limit of them and about PAGE_BYTES.  next
 * is the cursor of the following page, nil when this one was the last.
 */
int
report_export(struct request *rq, struct reply *rp)
{
	const struct argval	*aat = rq_arg(rq, "after_at"), *aid = rq_arg(rq, "after_id");
	struct event_filter	 f = { rq_str(rq, "user"), rq_str(rq, "guild"),
	    rq_int(rq, "since", INT64_MIN), rq_int(rq, "until", INT64_MAX) };
	struct page_ctx		 pc = { .full = false };
	int64_t			 limit = rq_int(rq, "limit", TOKQ_PAGE_MAX);
	msgpack_packer		*pk;
	int			 rc;

	if ((aat == NULL) != (aid == NULL))
		return rq_fail(rq, TOKQ_E_USAGE, "after_at and after_id go together");
	if (limit < 1 || limit > TOKQ_PAGE_MAX)
		return rq_fail(rq, TOKQ_E_INVALID, "limit must be 1 to %d", TOKQ_PAGE_MAX);
	list_init(&pc.l);
	if ((rc = store_events_page(&f, false, aat ? aat->i : INT64_MIN,
	    aid ? aid->i : INT64_MIN, limit, page_row, &pc)) < 0) {
		list_free(&pc.l);
		return rq_failed(rq, rc);
	}
	kv_int(rp, "count", pc.l.n);
	list_end(rp, "events", &pc.l);
	pk = rp_key(rp, "next");
	if (pc.full || (int64_t)pc.l.n == limit) {
		msgpack_pack_map(pk, 2);
		pk_str(pk, "after_at");
		msgpack_pack_int64(pk, pc.last_at);
		pk_str(pk, "after_id");
		msgpack_pack_int64(pk, pc.last_id);
	} else
		msgpack_pack_nil(pk);
	return 0;
}

/*
 * export_totals: one page of what only the daily totals know, for a
 * history moved whole (tokq export --all): each daily row after the cursor
 * (after_day, after_user ... after_kind) in key order, less what the raw
 * events still held add up to under its key, leaving out the rows those
 * events explain whole.  What remains is the days pruned to their totals
 * (and totals imported so).  At most limit rows are read; next is the
 * cursor of the following page, nil when this one was the last.
 */
struct totals_ctx {
	struct daily_row	*rows;
	char			**keys;		/* each row's key, joined */
	size_t			 n, cap;
	struct hmap		 events;	/* key -> struct usage * */
	int			 rc;
};

/* day, user, guild, model, service, kind: one string, unit separators between. */
static char *
daily_key(const struct daily_row *r)
{
	char	*k;

	if (asprintf(&k, "%lld\037%s\037%s\037%s\037%s\037%s", (long long)r->day,
	    r->user, r->guild, r->model, r->service, r->kind) == -1)
		return NULL;
	return k;
}

static int
totals_row(void *arg, const struct daily_row *r)
{
	struct totals_ctx	*tc = arg;
	struct daily_row	*p;
	char			**kp, *k;

	if (tc->n == tc->cap) {
		tc->cap = tc->cap ? 2 * tc->cap : 64;
		if ((p = reallocarray(tc->rows, tc->cap, sizeof(*p))) == NULL)
			return -1;
		tc->rows = p;
		if ((kp = reallocarray(tc->keys, tc->cap, sizeof(*kp))) == NULL)
			return -1;
		tc->keys = kp;
	}
	if ((k = daily_key(r)) == NULL)
		return -1;
	/* The strings point into the key: day, then each field after a separator. */
	p = &tc->rows[tc->n];
	*p = *r;
	p->user = strchr(k, '\037') + 1;
	p->guild = strchr(p->user, '\037') + 1;
	p->model = strchr(p->guild, '\037') + 1;
	p->service = strchr(p->model, '\037') + 1;
	p->kind = strchr(p->service, '\037') + 1;
	tc->keys[tc->n++] = k;
	return 0;
}

static int
totals_event(void *arg, const struct daily_row *r)
{
	struct totals_ctx	*tc = arg;
	struct usage		*u;
	char			*k;

	if ((k = daily_key(r)) == NULL || (u = malloc(sizeof(*u))) == NULL) {
		free(k);
		return -1;
	}
	*u = r->u;
	if (hmap_put(&tc->events, k, u) == -1) {
		free(k);
		free(u);
		return -1;
	}
	free(k);
	return 0;
}

/* a less b, field by field, never below 0; true when anything is left. */
static bool
usage_less(struct usage *a, const struct usage *b)
{
	int64_t	*x = &a->requests;
	const int64_t *y = &b->requests;
	bool	 left = false;
	size_t	 i;

	for (i = 0; i < sizeof(*a) / sizeof(int64_t); i++) {
		x[i] = sat_sub(x[i], y[i]);
		if (x[i] < 0)
			x[i] = 0;
		left |= x[i] != 0;
	}
	return left;
}

/* Cut each row's key into its fields again (totals_row joined them). */
static void
pk_total(msgpack_packer *pk, const struct daily_row *r)
{
	const char	*names[] = { "guild", "model", "service", "kind" };
	const char	*vals[] = { r->guild, r->model, r->service, r->kind };
	const int64_t	 amounts[] = { r->u.requests, r->u.prompt, r->u.completion,
			    r->u.total, r->u.cached, r->u.cache_write,
			    r->u.reasoning, r->u.cost };
	static const char *const anames[] = { "requests", "prompt", "completion",
	    "total", "cached", "cache_write", "reasoning", "cost_nusd" };
	size_t		 i, n = 2 + 8;

	for (i = 0; i < 4; i++)
		n += *vals[i] != '\0' && *vals[i] != '\037';
	msgpack_pack_map(pk, n);
	pk_str(pk, "day");
	msgpack_pack_int64(pk, r->day);
	pk_str(pk, "user");
	msgpack_pack_str_with_body(pk, r->user, strcspn(r->user, "\037"));
	for (i = 0; i < 4; i++)
		if (*vals[i] != '\0' && *vals[i] != '\037') {
			pk_str(pk, names[i]);
			msgpack_pack_str_with_body(pk, vals[i], strcspn(vals[i], "\037"));
		}
	for (i = 0; i < 8; i++) {
		pk_str(pk, anames[i]);
		msgpack_pack_int64(pk, amounts[i]);
	}
}

int
report_totals(struct request *rq, struct reply *rp)
{
	struct totals_ctx	 tc = { .rc = 0 };
	struct daily_row	 after, *last;
	struct usage		*ev;
	struct list		 l;
	msgpack_packer		*pk;
	int64_t			 limit = rq_int(rq, "limit", TOKQ_PAGE_MAX);
	const char		*s;
	size_t			 i;
	int			 rc;

	if (limit < 1)
		return rq_fail(rq, TOKQ_E_INVALID, "limit must be 1 to %d", TOKQ_PAGE_MAX);
	after = (struct daily_row){ .day = rq_int(rq, "after_day", 0),
	    .user = (s = rq_str(rq, "after_user")) ? s : "",
	    .guild = (s = rq_str(rq, "after_guild")) ? s : "",
	    .model = (s = rq_str(rq, "after_model")) ? s : "",
	    .service = (s = rq_str(rq, "after_service")) ? s : "",
	    .kind = (s = rq_str(rq, "after_kind")) ? s : "" };
	rc = store_daily_page(rq_arg(rq, "after_day") ? &after : NULL, limit,
	    totals_row, &tc);
	/* The raw events of the page's days, by the same keys. */
	if (rc >= 0 && tc.n > 0)
		rc = store_daily_events(tc.rows[0].day, tc.rows[tc.n - 1].day + DAY,
		    totals_event, &tc);
	list_init(&l);
	for (i = 0; rc >= 0 && i < tc.n; i++) {
		ev = hmap_get(&tc.events, tc.keys[i]);
		if (ev != NULL && !usage_less(&tc.rows[i].u, ev))
			continue;	/* its events explain it whole */
		pk_total(&l.pk, &tc.rows[i]);
		l.n++;
	}
	if (rc >= 0) {
		list_end(rp, "rows", &l);
		pk = rp_key(rp, "next");
		if ((int64_t)tc.n == limit) {
			last = &tc.rows[tc.n - 1];
			msgpack_pack_map(pk, 6);
			pk_str(pk, "after_day");
			msgpack_pack_int64(pk, last->day);
			pk_str(pk, "after_user");
			msgpack_pack_str_with_body(pk, last->user, strcspn(last->user, "\037"));
			pk_str(pk, "after_guild");
			msgpack_pack_str_with_body(pk, last->guild, strcspn(last->guild, "\037"));
			pk_str(pk, "after_model");
			msgpack_pack_str_with_body(pk, last->model, strcspn(last->model, "\037"));
			pk_str(pk, "after_service");
			msgpack_pack_str_with_body(pk, last->service,
			    strcspn(last->service, "\037"));
			pk_str(pk, "after_kind");
			pk_str(pk, last->kind);
		} else
			msgpack_pack_nil(pk);
	} else
		list_free(&l);	/* list_end took it otherwise */
	for (i = 0; i < tc.n; i++)
		free(tc.keys[i]);
	free(tc.keys);
	free(tc.rows);
	hmap_clear(&tc.events, free);
	return rc < 0 ? rq_failed(rq, rc) : 0;
}
