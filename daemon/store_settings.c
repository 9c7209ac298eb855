/*
 * store_settings.c: the tables an admin sets, which quota.c loads at start
 * and keeps in memory: rules, plans, the bypass list, prices and holds;
 * and the idempotency keys, with the sums of the events a key made.  A
 * write is a statement or two inside the batch (sq_mark's savepoint
 * makes a request's writes whole); a load calls back row by row in a fixed
 * order.  None of them reads or writes the totals.
 */
#include <string.h>

#include "store_db.h"

/* The sums of the events with ids in [first, first + count). */
int
sq_events_sum(int64_t first, int64_t count, struct usage *u)
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
sq_key_get(const char *key, uint64_t *fp, int64_t *first, int64_t *count)
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
 * sq_events_prune drops keys older than the raw events it prunes.
 */
int
sq_key_put(const char *key, uint64_t fp, int64_t first, int64_t count,
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
sq_rule_put(const struct rule *r)
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
sq_rule_del(const struct rule *r)
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
sq_rule_load(int (*cb)(void *, const struct rule *), void *arg)
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
sq_plan_set(const char *user, const char *plan)
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
sq_plan_load(int (*cb)(void *, const char *user, const char *plan), void *arg)
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
sq_bypass_set(bool guild, const char *id, bool on)
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
sq_bypass_load(int (*cb)(void *, bool guild, const char *id), void *arg)
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
sq_price_put(const struct price *p)
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
sq_price_del(const char *model)
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
sq_price_load(int (*cb)(void *, const struct price *), void *arg)
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
sq_hold_put(const struct hold *h)
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
sq_hold_del(const char *id)
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
sq_hold_load(int (*cb)(void *, const struct hold *), void *arg)
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
