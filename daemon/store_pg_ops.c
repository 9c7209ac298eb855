/*
 * store_pg_ops.c: what the rest of tokqd reads and writes, on PostgreSQL:
 * each function gives what its SQLite twin gives (store_*.c), from the
 * same tables (store_pg_sql.c).
 *
 * The record's writes (its event and totals, the buckets, the key) go
 * into the round's log (store_pg_log.c), sent in bulk before the next
 * statement or at the commit.  Other writes whose results nobody needs
 * are queued in the pipeline (pg_send) and cost no round trip: plans,
 * prices, holds, meta; they are checked at the next read or at the
 * commit.  Writes that answer (a rule
 * replaced, a bypass changed, a price removed) and reads wait for their
 * result (pg_query), which carries the queued writes in its round trip.
 * Nothing is written behind: there are no pending totals to settle or
 * replay.  Each write that changes what other daemons keep in memory notes
 * it for the journal (pg_note, store_pg.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_pg_sql.h"

/* A callback's wish: < 0 fails the call (-TOKQ_E_INTERNAL), > 0 stops it. */
static int
cb_done(PGresult *r, int cbrc)
{
	PQclear(r);
	return cbrc < 0 ? -TOKQ_E_INTERNAL : 0;
}

/* One row of eight sums from statement id into u. */
static int
sums(enum pg_stmt id, const struct pgq *q, struct usage *u)
{
	PGresult	*r;
	int		 rc;

	memset(u, 0, sizeof(*u));
	if ((r = pg_query(id, q, &rc)) == NULL)
		return rc;
	if (PQntuples(r) == 1)
		pg_usage(r, 0, 0, u);
	PQclear(r);
	return 0;
}

/* A write, queued, after the transaction's checks. */
static int
queue_write(enum pg_stmt id, const struct pgq *q, const char *what)
{
	int	 rc;

	if ((rc = pg_writable(what)) < 0)
		return rc;
	return pg_send(id, q);
}

/* A write whose count of rows changed is its answer. */
static int
write_count(enum pg_stmt id, const struct pgq *q, const char *what)
{
	int	 rc;

	if ((rc = pg_writable(what)) < 0)
		return rc;
	return pg_exec(id, q);
}

/* The schema's tables with their indexes and TOAST; -1 on failure. */
int64_t
pg_db_bytes(void)
{
	PGresult	*r;
	int64_t		 n;
	int		 rc;

	if ((r = pg_query(P_DB_BYTES, NULL, &rc)) == NULL)
		return -1;
	n = PQntuples(r) == 1 ? pg_int(r, 0, 0) : -1;
	PQclear(r);
	return n;
}

/* Bulk loading is the SQLite store's (tokq-preload). */
int
pg_bulk(bool on)
{
	return 0;
}

int
pg_meta_get(const char *name, int64_t *val)
{
	struct pgq	 q = { 0 };
	PGresult	*r;
	int		 rc;

	pgq_text(&q, name);
	if ((r = pg_query(P_META_GET, &q, &rc)) == NULL)
		return rc;
	if ((rc = PQntuples(r) == 1))
		*val = pg_int(r, 0, 0);
	PQclear(r);
	return rc;
}

int
pg_meta_set(const char *name, int64_t val)
{
	struct pgq	 q = { 0 };

	pgq_text(&q, name);
	pgq_int(&q, val);
	return queue_write(P_META_SET, &q, "meta_set");
}

/*
 * The event with the next id, and its totals (its daily row, its user's
 * hour, the counts): into the round's log, sent with the next flush.
 */
int
pg_event_add(struct event *ev)
{
	int64_t		 id;
	int		 rc;

	if ((rc = pg_writable("event_add")) < 0 || (rc = pg_next_id(&id)) < 0 ||
	    (rc = pglog_event(ev, id)) < 0)
		return rc;
	ev->id = id;
	return 0;
}

/* Nothing is written behind: nothing to replay. */
int
pg_replay(int (*cb)(void *, const struct event *), void *arg)
{
	return 0;
}

void
pg_tune_parts(uint64_t usec, size_t min)
{
}

static void
pgq_counter(struct pgq *q, enum scope sc, const char *subject, const char *model)
{
	pgq_int(q, sc);
	pgq_key(q, subject);
	pgq_key(q, model);
}

/*
 * Add b's amounts to the counter's bucket at b's start and span: into the
 * round's log, which sends it with its journal row (other daemons add it
 * to their memory); what was fetched ahead of the counter is stale now.
 */
int
pg_bucket_add(enum scope sc, const char *subject, const char *model,
    const struct bucket *b)
{
	int	 rc;

	if ((rc = pg_writable("bucket_add")) < 0 ||
	    (rc = pglog_bucket(sc, subject, model, b)) < 0)
		return rc;
	pgpf_drop(sc, subject ? subject : "", model ? model : "");
	return 0;
}

/*
 * Call cb with each bucket of the counter that ends after since, by start:
 * from the rows fetched ahead when they hold it, else from the server.
 */
int
pg_bucket_load(enum scope sc, const char *subject, const char *model,
    int64_t since, int (*cb)(void *, const struct bucket *), void *arg)
{
	struct pgq	 q = { 0 };
	struct bucket	 b;
	PGresult	*r;
	int		 rc, i, cbrc = 0;

	if ((rc = pgpf_take(sc, subject ? subject : "", model ? model : "",
	    since, cb, arg)) != 0)
		return rc < 0 ? rc : 0;
	pgq_counter(&q, sc, subject, model);
	pgq_int(&q, since);
	if ((r = pg_query(P_BUCKET_LOAD, &q, &rc)) == NULL)
		return rc;
	for (i = 0; i < PQntuples(r) && cbrc == 0; i++) {
		b.start = pg_int(r, i, 0);
		b.span = pg_int(r, i, 1);
		b.tokens = pg_int(r, i, 2);
		b.cost = pg_int(r, i, 3);
		b.requests = pg_int(r, i, 4);
		cbrc = cb(arg, &b);
	}
	return cb_done(r, cbrc);
}

/* Drop the subject's buckets: of model only, or of every model and pooled. */
int
pg_bucket_clear(enum scope sc, const char *subject, const char *model)
{
	struct pgq	 q = { 0 };
	int		 rc;

	pgq_int(&q, sc);
	pgq_key(&q, subject);
	if (model)
		pgq_key(&q, model);
	rc = queue_write(model ? P_BUCKET_CLEAR_MODEL : P_BUCKET_CLEAR, &q,
	    "bucket_clear");
	pgpf_drop(sc, subject ? subject : "", model);
	if (rc == 0)
		pg_note(STALE_COUNTER, sc, subject ? subject : "", model, NULL);
	return rc;
}

/* All-time events recorded (pruned ones included) and distinct users. */
int
pg_counts(int64_t *events, int64_t *users)
{
	PGresult	*r;
	int		 rc;

	*events = *users = 0;
	if ((r = pg_query(P_COUNTS, NULL, &rc)) == NULL)
		return rc;
	if (PQntuples(r) == 1) {
		*events = pg_int(r, 0, 0);
		*users = pg_int(r, 0, 1);
	}
	PQclear(r);
	return 0;
}

/* The sums of the events with ids in [first, first + count). */
int
pg_events_sum(int64_t first, int64_t count, struct usage *u)
{
	struct pgq	 q = { 0 };

	pgq_int(&q, first);
	pgq_int(&q, count);
	return sums(P_EVENTS_SUM, &q, u);
}

int
pg_key_get(const char *key, uint64_t *fp, int64_t *first, int64_t *count)
{
	struct pgq	 q = { 0 };
	PGresult	*r;
	int		 rc;

	pgq_text(&q, key);
	if ((r = pg_query(P_KEY_GET, &q, &rc)) == NULL)
		return rc;
	if ((rc = PQntuples(r) == 1)) {
		*fp = (uint64_t)pg_int(r, 0, 0);
		*first = pg_int(r, 0, 1);
		*count = pg_int(r, 0, 2);
	}
	PQclear(r);
	return rc;
}

int
pg_key_put(const char *key, uint64_t fp, int64_t first, int64_t count,
    int64_t created)
{
	int	 rc;

	if ((rc = pg_writable("key_put")) < 0)
		return rc;
	return pglog_key(key, fp, first, count, created);
}

/* A rule's identity as $1..$6; a calendar window has no length. */
static void
pgq_rule(struct pgq *q, const struct rule *r)
{
	pgq_int(q, r->sel);
	pgq_key(q, r->subject);
	pgq_key(q, r->model);
	pgq_int(q, r->metric);
	pgq_int(q, r->win.kind);
	pgq_int(q, r->win.kind == TOKQ_W_ROLLING ? r->win.secs : 0);
}

/* A change of settings, for every daemon's memory. */
static int
settings_changed(int rc)
{
	if (rc >= 0)
		pg_note(STALE_SETTINGS, 0, NULL, NULL, NULL);
	return rc;
}

/* Store r; 1 when it replaced the limit of a rule of the same identity. */
int
pg_rule_put(const struct rule *r)
{
	struct pgq	 q = { 0 };
	PGresult	*res;
	int		 rc;

	if ((rc = pg_writable("rule_put")) < 0)
		return rc;
	pgq_rule(&q, r);
	pgq_int(&q, r->limit);
	if ((res = pg_query(P_RULE_PUT, &q, &rc)) == NULL)
		return rc;
	rc = PQntuples(res) == 1 && pg_int(res, 0, 0) > 0;
	PQclear(res);
	return settings_changed(rc);
}

int
pg_rule_del(const struct rule *r)
{
	struct pgq	 q = { 0 };
	int		 rc;

	pgq_rule(&q, r);
	rc = write_count(P_RULE_DEL, &q, "rule_del");
	return settings_changed(rc < 0 ? rc : rc > 0);
}

int
pg_rule_load(int (*cb)(void *, const struct rule *), void *arg)
{
	struct rule	 ru;
	PGresult	*r;
	int		 rc, i, cbrc = 0;

	if ((r = pg_query(P_RULE_LOAD, NULL, &rc)) == NULL)
		return rc;
	for (i = 0; i < PQntuples(r) && cbrc == 0; i++) {
		ru.sel = pg_int(r, i, 0);
		ru.subject = (char *)pg_text(r, i, 1, true);
		ru.model = (char *)pg_text(r, i, 2, true);
		ru.metric = pg_int(r, i, 3);
		ru.win.kind = pg_int(r, i, 4);
		ru.win.secs = pg_int(r, i, 5);
		ru.limit = pg_int(r, i, 6);
		cbrc = cb(arg, &ru);
	}
	return cb_done(r, cbrc);
}

int
pg_plan_set(const char *user, const char *plan)
{
	struct pgq	 q = { 0 };

	pgq_text(&q, user);
	if (plan)
		pgq_text(&q, plan);
	return settings_changed(queue_write(plan ? P_PLAN_SET : P_PLAN_DEL, &q,
	    "plan_set"));
}

int
pg_plan_load(int (*cb)(void *, const char *user, const char *plan), void *arg)
{
	PGresult	*r;
	int		 rc, i, cbrc = 0;

	if ((r = pg_query(P_PLAN_LOAD, NULL, &rc)) == NULL)
		return rc;
	for (i = 0; i < PQntuples(r) && cbrc == 0; i++)
		cbrc = cb(arg, pg_text(r, i, 0, false), pg_text(r, i, 1, false));
	return cb_done(r, cbrc);
}

int
pg_bypass_set(bool guild, const char *id, bool on)
{
	struct pgq	 q = { 0 };
	int		 rc;

	pgq_int(&q, guild);
	pgq_text(&q, id);
	rc = write_count(on ? P_BYPASS_ADD : P_BYPASS_DEL, &q, "bypass_set");
	return settings_changed(rc < 0 ? rc : rc > 0);
}

int
pg_bypass_load(int (*cb)(void *, bool guild, const char *id), void *arg)
{
	PGresult	*r;
	int		 rc, i, cbrc = 0;

	if ((r = pg_query(P_BYPASS_LOAD, NULL, &rc)) == NULL)
		return rc;
	for (i = 0; i < PQntuples(r) && cbrc == 0; i++)
		cbrc = cb(arg, pg_int(r, i, 0) != 0, pg_text(r, i, 1, false));
	return cb_done(r, cbrc);
}

int
pg_price_put(const struct price *p)
{
	struct pgq	 q = { 0 };

	pgq_text(&q, p->model);
	pgq_int(&q, p->input);
	pgq_int(&q, p->output);
	pgq_int(&q, p->cached);
	pgq_int(&q, p->cache_write);
	return settings_changed(queue_write(P_PRICE_PUT, &q, "price_put"));
}

int
pg_price_del(const char *model)
{
	struct pgq	 q = { 0 };
	int		 rc;

	pgq_text(&q, model);
	rc = write_count(P_PRICE_DEL, &q, "price_del");
	return settings_changed(rc < 0 ? rc : rc > 0);
}

int
pg_price_load(int (*cb)(void *, const struct price *), void *arg)
{
	struct price	 p;
	PGresult	*r;
	int		 rc, i, cbrc = 0;

	if ((r = pg_query(P_PRICE_LOAD, NULL, &rc)) == NULL)
		return rc;
	for (i = 0; i < PQntuples(r) && cbrc == 0; i++) {
		p.model = (char *)pg_text(r, i, 0, false);
		p.input = pg_int(r, i, 1);
		p.output = pg_int(r, i, 2);
		p.cached = pg_int(r, i, 3);
		p.cache_write = pg_int(r, i, 4);
		cbrc = cb(arg, &p);
	}
	return cb_done(r, cbrc);
}

int
pg_hold_put(const struct hold *h)
{
	struct pgq	 q = { 0 };
	int		 rc;

	pgq_text(&q, h->id);
	pgq_int(&q, h->created);
	pgq_int(&q, h->expires);
	pgq_text(&q, h->user);
	pgq_text(&q, h->guild);
	pgq_text(&q, h->model);
	pgq_int(&q, h->tokens);
	pgq_int(&q, h->cost);
	if ((rc = queue_write(P_HOLD_PUT, &q, "hold_put")) == 0)
		pg_note(STALE_HOLD, 0, NULL, NULL, h->id);
	return rc;
}

/* Forget hold id; 0 whether it existed or not. */
int
pg_hold_del(const char *id)
{
	struct pgq	 q = { 0 };
	int		 rc;

	pgq_text(&q, id);
	if ((rc = queue_write(P_HOLD_DEL, &q, "hold_del")) == 0)
		pg_note(STALE_HOLD, 0, NULL, NULL, id);
	return rc;
}

/* Call cb with each hold, oldest first, expired ones included. */
int
pg_hold_load(int (*cb)(void *, const struct hold *), void *arg)
{
	struct hold	 h;
	PGresult	*r;
	int		 rc, i, cbrc = 0;

	if ((r = pg_query(P_HOLD_LOAD, NULL, &rc)) == NULL)
		return rc;
	for (i = 0; i < PQntuples(r) && cbrc == 0; i++) {
		memset(&h, 0, sizeof(h));
		snprintf(h.id, sizeof(h.id), "%s", PQgetvalue(r, i, 0));
		h.created = pg_int(r, i, 1);
		h.expires = pg_int(r, i, 2);
		h.user = (char *)pg_text(r, i, 3, false);
		h.guild = (char *)pg_text(r, i, 4, false);
		h.model = (char *)pg_text(r, i, 5, false);
		h.tokens = pg_int(r, i, 6);
		h.cost = pg_int(r, i, 7);
		cbrc = cb(arg, &h);
	}
	return cb_done(r, cbrc);
}

/*
 * Maintenance.  The folds and prunes of buckets change no count (tokqd.h,
 * FOLD): they note nothing for the journal.
 */
int
pg_bucket_compact(int64_t before, int limit)
{
	struct pgq	 q = { 0 };
	PGresult	*r;
	int		 rc;

	if ((rc = pg_writable("bucket_compact")) < 0)
		return rc;
	pgpf_clear();
	pgq_int(&q, before);
	pgq_int(&q, limit);
	if ((r = pg_query(P_BUCKET_FOLD, &q, &rc)) == NULL)
		return rc;
	rc = PQntuples(r) == 1 ? (int)pg_int(r, 0, 0) : 0;
	PQclear(r);
	return rc;
}

int
pg_bucket_prune(int64_t before, int limit)
{
	static const int spans[] = { BUCKET_HOUR, BUCKET_MINUTE };
	size_t		 i;
	int		 rc, n = 0;

	pgpf_clear();
	for (i = 0; i < sizeof(spans) / sizeof(spans[0]) && n < limit; i++) {
		struct pgq	 q = { 0 };

		pgq_int(&q, before);
		pgq_int(&q, spans[i]);
		pgq_int(&q, limit - n);
		if ((rc = write_count(P_BUCKET_PRUNE, &q, "bucket_prune")) < 0)
			return rc;
		n += rc;
	}
	return n;
}

int
pg_events_prune(int64_t before, int limit)
{
	struct pgq	 q = { 0 };
	PGresult	*r;
	int		 rc;

	if ((rc = pg_writable("events_prune")) < 0)
		return rc;
	pgq_int(&q, before);
	pgq_int(&q, limit);
	if ((r = pg_query(P_EVENTS_PRUNE, &q, &rc)) == NULL)
		return rc;
	rc = PQntuples(r) == 1 ? (int)pg_int(r, 0, 0) : 0;
	PQclear(r);
	return rc;
}

int
pg_hourly_prune(int64_t before, int limit)
{
	struct pgq	 q = { 0 };

	pgq_int(&q, before);
	pgq_int(&q, limit);
	return write_count(P_HOURLY_PRUNE, &q, "hourly_prune");
}

/*
 * Archive the month for up to `users` users after *cursor, as the SQLite
 * store does: the archive itself is queued, the cursor moves at once.
 */
int
pg_month_archive(int64_t month_start, int64_t month_end, char *cursor,
    size_t cursorlen, int users)
{
	char		 last[TOKQ_ID_MAX + 1];
	struct pgq	 q = { 0 };
	PGresult	*r;
	int		 rc, n;

	if ((rc = pg_writable("month_archive")) < 0)
		return rc;
	pgq_int(&q, month_start);
	pgq_int(&q, month_end);
	pgq_text(&q, cursor);
	pgq_int(&q, users);
	if ((r = pg_query(P_MONTH_USERS, &q, &rc)) == NULL)
		return rc;
	n = PQntuples(r) == 1 ? (int)pg_int(r, 0, 1) : 0;
	snprintf(last, sizeof(last), "%s", n > 0 ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	if (n == 0)
		return 0;
	q.n = 3;
	pgq_text(&q, last);
	if ((rc = pg_send(P_MONTH_ARCHIVE, &q)) < 0)
		return rc;
	snprintf(cursor, cursorlen, "%s", last);
	return n;
}

/* Views, read only. */
int
pg_user_hours_totals(const char *user, int64_t since, int64_t until,
    struct usage *u)
{
	struct pgq	 q = { 0 };

	pgq_text(&q, user);
	pgq_int(&q, tokq_floor(since, BUCKET_HOUR));
	pgq_int(&q, until);
	return sums(P_USER_HOURS, &q, u);
}

int
pg_user_daily_totals(const char *user, int64_t day_from, int64_t day_to,
    struct usage *u)
{
	struct pgq	 q = { 0 };

	pgq_text(&q, user);
	pgq_int(&q, day_from);
	pgq_int(&q, day_to);
	return sums(P_USER_DAILY_TOTALS, &q, u);
}

/* Call cb with the user's all-time totals per model, by name; "" for none. */
int
pg_user_models_totals(const char *user,
    int (*cb)(void *, const char *model, const struct usage *), void *arg)
{
	struct pgq	 q = { 0 };
	struct usage	 u;
	PGresult	*r;
	int		 rc, i, cbrc = 0;

	pgq_text(&q, user);
	if ((r = pg_query(P_USER_MODELS_TOTALS, &q, &rc)) == NULL)
		return rc;
	for (i = 0; i < PQntuples(r) && cbrc == 0; i++) {
		pg_usage(r, i, 1, &u);
		cbrc = cb(arg, PQgetvalue(r, i, 0), &u);
	}
	PQclear(r);
	return cbrc < 0 ? cbrc : 0;
}

int
pg_user_models_since(const char *user, int64_t since,
    int (*cb)(void *, const char *), void *arg)
{
	struct pgq	 q = { 0 };
	PGresult	*r;
	int		 rc, i, cbrc = 0;

	pgq_text(&q, user);
	pgq_int(&q, tokq_period_start(TOKQ_W_DAY, since));
	if ((r = pg_query(P_USER_MODELS_SINCE, &q, &rc)) == NULL)
		return rc;
	for (i = 0; i < PQntuples(r) && cbrc == 0; i++)
		cbrc = cb(arg, PQgetvalue(r, i, 0));
	PQclear(r);
	return cbrc < 0 ? cbrc : 0;
}

static void
pgq_view(struct pgq *q, const struct view *v)
{
	pgq_int(q, v->from);
	pgq_int(q, v->to);
	pgq_text(q, v->guild);
}

int
pg_view_totals(const struct view *v, struct usage *u, int64_t *users,
    int64_t *guilds)
{
	struct pgq	 q = { 0 };
	PGresult	*r;
	int		 rc;

	memset(u, 0, sizeof(*u));
	*users = *guilds = 0;
	pgq_view(&q, v);
	if ((r = pg_query(P_VIEW_TOTALS, &q, &rc)) == NULL)
		return rc;
	if (PQntuples(r) == 1) {
		pg_usage(r, 0, 0, u);
		*users = pg_int(r, 0, 8);
		*guilds = pg_int(r, 0, 9);
	}
	PQclear(r);
	return 0;
}

int
pg_view_group(const struct view *v, enum view_group g, int64_t limit,
    int (*cb)(void *, const char *name, int64_t day, const struct usage *),
    void *arg)
{
	static const enum pg_stmt ids[] = { [VG_USER] = P_VIEW_BY_USER,
	    [VG_GUILD] = P_VIEW_BY_GUILD, [VG_MODEL] = P_VIEW_BY_MODEL,
	    [VG_SERVICE] = P_VIEW_BY_SERVICE, [VG_DAY] = P_VIEW_BY_DAY };
	struct pgq	 q = { 0 };
	struct usage	 u;
	PGresult	*r;
	int		 rc, i, cbrc = 0;

	pgq_view(&q, v);
	if (g != VG_DAY)
		pgq_int(&q, limit);
	if ((r = pg_query(ids[g], &q, &rc)) == NULL)
		return rc;
	for (i = 0; i < PQntuples(r) && cbrc == 0; i++) {
		pg_usage(r, i, 1, &u);
		if (g == VG_DAY)
			cbrc = cb(arg, NULL, pg_int(r, i, 0), &u);
		else
			cbrc = cb(arg, pg_text(r, i, 0, false), 0, &u);
	}
	return cb_done(r, cbrc);
}

int
pg_view_user_all(const char *user, const char *guild, struct usage *u)
{
	struct pgq	 q = { 0 };

	pgq_text(&q, user);
	pgq_text(&q, guild);
	return sums(P_VIEW_USER_ALL, &q, u);
}

/*
 * Call cb with up to limit raw events matching f, from the cursor (at, id)
 * on, excluded: oldest first, or with newest_first newest first.
 */
int
pg_events_page(const struct event_filter *f, bool newest_first, int64_t at,
    int64_t id, int64_t limit, int (*cb)(void *, const struct event *), void *arg)
{
	struct pgq	 q = { 0 };
	struct event	 ev;
	enum pg_stmt	 st;
	PGresult	*r;
	int		 rc, i, cbrc = 0;

	if (f->user != NULL)
		st = newest_first ? P_EVENTS_USER_DESC : P_EVENTS_USER_ASC;
	else
		st = newest_first ? P_EVENTS_DESC : P_EVENTS_ASC;
	pgq_text(&q, f->user);
	pgq_text(&q, f->guild);
	pgq_int(&q, at);
	pgq_int(&q, id);
	pgq_int(&q, f->since);
	pgq_int(&q, f->until);
	pgq_int(&q, limit);
	if ((r = pg_query(st, &q, &rc)) == NULL)
		return rc;
	for (i = 0; i < PQntuples(r) && cbrc == 0; i++) {
		ev.id = pg_int(r, i, 0);
		ev.at = pg_int(r, i, 1);
		ev.user = pg_text(r, i, 2, false);
		ev.guild = pg_text(r, i, 3, false);
		ev.channel = pg_text(r, i, 4, false);
		ev.model = pg_text(r, i, 5, false);
		ev.service = pg_text(r, i, 6, false);
		ev.kind = pg_text(r, i, 7, false);
		ev.session = pg_text(r, i, 8, false);
		ev.call = PQgetisnull(r, i, 9) ? -1 : pg_int(r, i, 9);
		ev.meta = pg_text(r, i, 10, false);
		pg_usage(r, i, 11, &ev.u);
		cbrc = cb(arg, &ev);
	}
	return cb_done(r, cbrc);
}
