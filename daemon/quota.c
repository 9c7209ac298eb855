/*
 * quota.c: rules, judging, holds, plans and bypass lists, all in memory.
 *
 * A request is judged against the rules that apply to it, each counting
 * its window of a counter (counter.c, the cache of the store's buckets).
 * Each record adds to its counters in memory and to the store's pending
 * buckets within the same transaction (quota_add, called by the ledger);
 * when a transaction fails, quota_invalidate() throws everything away and
 * reloads it, quota_replay() adds back what the database kept past its
 * written totals, and counters reload from that.
 *
 * Checks are answered from the counters alone.  Because the daemon has one
 * thread and one loop, a check and the hold it places happen in one step:
 * no other request can slip in between.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "tokqd.h"

struct qhold {
	struct hold	 h;
	bool		 active;	/* still counted: now < expires */
};


static struct {
	struct rule	*rules;
	size_t		 nrules, caprules;
	struct hmap	 plans;		/* user -> plan (char *) */
	struct hmap	 bypass;	/* "u\037id" or "g\037id" -> &q */
	struct hmap	 holds;		/* id -> struct qhold */
	int64_t		 next_expiry;	/* earliest expiry of an active hold */
} q;

static const int sel_rank[] = {
	[SEL_USER] = 0, [SEL_MEMBERS] = 1, [SEL_PLAN] = 2, [SEL_DEFAULT] = 3,
};

static bool
per_user(enum selector sel)
{
	return sel == SEL_USER || sel == SEL_MEMBERS || sel == SEL_PLAN ||
	    sel == SEL_DEFAULT;
}

static bool
streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool
window_eq(const struct tokq_window *a, const struct tokq_window *b)
{
	return a->kind == b->kind && (a->kind != TOKQ_W_ROLLING || a->secs == b->secs);
}

bool
rule_same(const struct rule *a, const struct rule *b)
{
	return a->sel == b->sel && streq(a->subject, b->subject) &&
	    streq(a->model, b->model) && a->metric == b->metric &&
	    window_eq(&a->win, &b->win);
}

static void
rule_free(struct rule *r)
{
	free(r->subject);
	free(r->model);
}

static int
rule_copy(struct rule *dst, const struct rule *src)
{
	*dst = *src;
	dst->subject = src->subject ? strdup(src->subject) : NULL;
	dst->model = src->model ? strdup(src->model) : NULL;
	if ((src->subject && !dst->subject) || (src->model && !dst->model)) {
		rule_free(dst);
		return -TOKQ_E_INTERNAL;
	}
	return 0;
}

/*
 * The history counters must keep: retention, the longest rolling window, a
 * month.  Counters loaded for a shorter horizon lack older usage that a new
 * longer rule counts: they are dropped and reload.
 */
static void
update_horizon(void)
{
	int64_t	 h = (int64_t)env.retention_days * DAY;
	size_t	 i;

	if (h < COUNTER_SPAN)
		h = COUNTER_SPAN;
	for (i = 0; i < q.nrules; i++)
		if (q.rules[i].win.kind == TOKQ_W_ROLLING && q.rules[i].win.secs > h)
			h = q.rules[i].win.secs;
	counter_set_horizon(h + BUCKET_HOUR);
}

/* How long raw events are kept: retention_days, but never less than a rolling window. */
int64_t
quota_retention(void)
{
	int64_t	 r = (int64_t)env.retention_days * DAY;
	size_t	 i;

	for (i = 0; i < q.nrules; i++)
		if (q.rules[i].win.kind == TOKQ_W_ROLLING && q.rules[i].win.secs > r)
			r = q.rules[i].win.secs;
	return r;
}

static bool
hold_matches(const struct hold *h, enum scope sc, const char *subject, const char *model)
{
	if (sc == SCOPE_USER && !streq(h->user, subject))
		return false;
	if (sc == SCOPE_GUILD && (h->guild == NULL || strcmp(h->guild, subject) != 0))
		return false;
	return *model == '\0' || (h->model != NULL && strcmp(h->model, model) == 0);
}

struct held_sum {
	struct counter	*c;
	enum scope	 sc;
	const char	*subject, *model;
};

static void
held_sum_cb(void *arg, const char *key, void *val);

/* A counter just loaded (counter.c's hook): its held sums, from the holds. */
static void
counter_loaded(struct counter *c, enum scope sc, const char *subject, const char *model)
{
	struct held_sum	 hs = { c, sc, subject, model };

	hmap_foreach(&q.holds, held_sum_cb, &hs);
}

static void
held_sum_cb(void *arg, const char *key, void *val)
{
	struct held_sum	*hs = arg;
	struct qhold	*qh = val;

	if (qh->active && hold_matches(&qh->h, hs->sc, hs->subject, hs->model)) {
		hs->c->held[MET_TOKENS] = sat_add(hs->c->held[MET_TOKENS], qh->h.tokens);
		hs->c->held[MET_COST] = sat_add(hs->c->held[MET_COST], qh->h.cost);
		hs->c->held[MET_REQUESTS] = sat_add(hs->c->held[MET_REQUESTS], 1);
	}
}

static int64_t
bucket_amount(const struct bucket *b, enum metric m)
{
	return m == MET_TOKENS ? b->tokens : m == MET_COST ? b->cost : b->requests;
}

/*
 * Does bucket b count in window w at time t?  A rolling window counts a
 * bucket until its end (bucket_end) plus the window: never early,
 * at most a minute late for windows up to a day, an hour for longer ones.
 */
static bool
bucket_counts(const struct bucket *b, const struct tokq_window *w, int64_t from)
{
	if (w->kind == TOKQ_W_ROLLING)
		return bucket_end(b, w) > from;
	return b->start >= from;
}

/*
 * Where window w at time t begins (*from: what bucket_counts compares), and
 * the first bucket that may count: buckets are sorted by start and none
 * spans more than maxspan, so a binary search skips the old history and a
 * check costs the same however long the counter's past.
 */
static size_t
window_first(const struct counter *c, const struct tokq_window *w, int64_t t,
    int64_t *from)
{
	size_t	 lo = 0, hi = c->n, mid;
	int64_t	 key;

	if (w->kind == TOKQ_W_ROLLING) {
		*from = t - w->secs;
		key = *from - c->maxspan;
		if (w->secs > FOLD_WINDOW && c->maxspan < BUCKET_HOUR)
			key = *from - BUCKET_HOUR;
	} else {
		*from = tokq_period_start(w->kind, t);
		key = *from - 1;
	}
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (c->b[mid].start > key)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Evaluation. */

/*
 * The rules that apply to a request by user in guild for model (each may be
 * NULL but user), and the model each one counts.  Among per-user rules of
 * the same metric, window and model kind only the most specific applies:
 * user > members > plan > default, and a named model beats each-model.
 */
static size_t
gather(const char *user, const char *guild, const char *model,
    const struct rule **out, const char **outmodel, size_t max)
{
	const char	*plan = user ? hmap_get(&q.plans, user) : NULL;
	int		 rank[QUOTA_MAX_EVAL];
	size_t		 i, j, n = 0;

	for (i = 0; i < q.nrules && n < max; i++) {
		const struct rule	*r = &q.rules[i];
		const char		*cm = NULL;
		int			 rk;

		if (r->model != NULL) {
			if (model == NULL)
				continue;
			if (strcmp(r->model, "*") != 0 && strcmp(r->model, model) != 0)
				continue;
			cm = model;
		}
		switch (r->sel) {
		case SEL_USER:
			if (!streq(r->subject, user))
				continue;
			break;
		case SEL_MEMBERS:
		case SEL_GUILD:
			if (guild == NULL || strcmp(r->subject, guild) != 0)
				continue;
			break;
		case SEL_PLAN:
			if (plan == NULL || strcmp(r->subject, plan) != 0)
				continue;
			break;
		case SEL_DEFAULT:
		case SEL_GLOBAL:
			break;
		}
		if (!per_user(r->sel)) {
			rank[n] = 0;
			outmodel[n] = cm;
			out[n++] = r;
			continue;
		}
		rk = sel_rank[r->sel] * 2 + (r->model && strcmp(r->model, "*") == 0);
		for (j = 0; j < n; j++) {
			const struct rule *o = out[j];

			if (per_user(o->sel) && o->metric == r->metric &&
			    window_eq(&o->win, &r->win) &&
			    (o->model == NULL) == (r->model == NULL))
				break;
		}
		if (j < n) {
			if (rk < rank[j]) {
				rank[j] = rk;
				out[j] = r;
				outmodel[j] = cm;
			}
			continue;
		}
		rank[n] = rk;
		outmodel[n] = cm;
		out[n++] = r;
	}
	return n;
}

static enum scope
rule_scope(const struct rule *r, const char **subject, const char *user, const char *guild)
{
	if (r->sel == SEL_GUILD) {
		*subject = guild;
		return SCOPE_GUILD;
	}
	if (r->sel == SEL_GLOBAL) {
		*subject = "";
		return SCOPE_GLOBAL;
	}
	*subject = user;
	return SCOPE_USER;
}

/*
 * Evaluate one applicable rule at time t against an estimate (amount 0:
 * "is usage below the limit").  Fills e; returns -code when its counter
 * cannot be loaded.
 */
static int
evaluate(struct limit_eval *e, const struct rule *r, const char *cmodel,
    const char *user, const char *guild, int64_t t, int64_t amount)
{
	const char	*subject;
	enum scope	 sc = rule_scope(r, &subject, user, guild);
	struct counter	*c = counter_get(sc, subject, cmodel ? cmodel : "");
	int64_t		 used = 0, occupied, room, need, freed = 0, from;
	size_t		 i, first = SIZE_MAX;

	if (c == NULL)
		return -TOKQ_E_TEMP;
	memset(e, 0, sizeof(*e));
	e->r = r;
	e->model = cmodel;
	for (i = window_first(c, &r->win, t, &from); i < c->n; i++)
		if (bucket_counts(&c->b[i], &r->win, from)) {
			used = sat_add(used, bucket_amount(&c->b[i], r->metric));
			if (first == SIZE_MAX)
				first = i;
		}
	e->used = used;
	e->held = c->held[r->metric];
	if (r->limit < 0) {
		e->remaining = -1;
		return 0;
	}
	/* Every sum saturates: a huge history denies, it never wraps. */
	occupied = sat_add(used, e->held);
	e->remaining = occupied < r->limit ? r->limit - occupied : 0;
	if (r->limit > 0)
		e->percent = (double)occupied * 100.0 / (double)r->limit;
	else
		e->percent = 100.0;
	/*
	 * room: what used + held may be for the request to fit (the limit
	 * less the estimate, or less one with none); < 0: it never fits,
	 * and no retry_at is foreseeable.
	 */
	room = amount > 0 ? (amount > r->limit ? -1 : r->limit - amount) : r->limit - 1;
	e->denies = room < 0 || occupied > room;

	if (r->win.kind != TOKQ_W_ROLLING) {
		e->resets_at = tokq_period_next(r->win.kind, t);
		/* At the boundary the usage is gone; what is held stays until it expires. */
		e->retry_at = room >= 0 && e->held <= room ? e->resets_at : 0;
		return 0;
	}
	if (first == SIZE_MAX)
		return 0;
	e->resets_at = bucket_end(&c->b[first], &r->win) + r->win.secs;
	if (!e->denies || room < 0)
		return 0;
	/*
	 * Room frees when enough of the oldest counted usage has left the
	 * window, each bucket at the end it has while it counts; holds stay.
	 */
	need = occupied - room;
	for (i = first; i < c->n && need <= used; i++) {
		if (!bucket_counts(&c->b[i], &r->win, from))
			continue;
		freed = sat_add(freed, bucket_amount(&c->b[i], r->metric));
		if (freed >= need) {
			e->retry_at = bucket_end(&c->b[i], &r->win) + r->win.secs;
			break;
		}
	}
	return 0;
}

static int64_t
est_amount(const struct estimate *est, enum metric m)
{
	return m == MET_TOKENS ? est->tokens : m == MET_COST ? est->cost : est->requests;
}

/* The bypass map's key of a user or guild id ("u\037id", "g\037id"). */
#define BYPASS_KEY_MAX	(TOKQ_ID_MAX + 4)
static const char *
bypass_key(char *key, bool guild, const char *id)
{
	size_t	 l = strnlen(id, BYPASS_KEY_MAX - 3);

	key[0] = guild ? 'g' : 'u';
	key[1] = '\037';
	memcpy(key + 2, id, l);
	key[l + 2] = '\0';
	return key;
}

/* Every judge asks: no printf, and no look-up while nobody is bypassed. */
bool
quota_bypassed(const char *user, const char *guild)
{
	char	 key[BYPASS_KEY_MAX];

	if (q.bypass.len == 0)
		return false;
	if (hmap_get(&q.bypass, bypass_key(key, false, user)))
		return true;
	return guild && hmap_get(&q.bypass, bypass_key(key, true, guild));
}

/*
 * Judge a request: evaluate every applicable rule against the estimate (NULL:
 * none).  res->denied is the index of the binding rule (the one whose room
 * frees last), or -1; retry_at is when every denying rule has room again (0:
 * not foreseeable).  A bypassed user or guild is evaluated but never denied.
 */
int
quota_judge(const char *user, const char *guild, const char *model, int64_t t,
    const struct estimate *est, struct judgement *res)
{
	const struct rule	*rules[QUOTA_MAX_EVAL];
	const char		*models[QUOTA_MAX_EVAL];
	size_t			 i, n;
	int			 rc;

	quota_expire(t);
	memset(res, 0, sizeof(*res));
	res->denied = -1;
	res->bypass = quota_bypassed(user, guild);
	n = gather(user, guild, model, rules, models, QUOTA_MAX_EVAL);
	for (i = 0; i < n; i++) {
		struct limit_eval	*e = &res->e[i];
		int64_t			 amount = est ? est_amount(est, rules[i]->metric) : 0;

		if ((rc = evaluate(e, rules[i], models[i], user, guild, t, amount)) < 0)
			return rc;
		res->n++;
		if (res->bypass || !e->denies)
			continue;
		if (res->denied == -1 || (res->retry_at != 0 &&
		    (e->retry_at == 0 || e->retry_at > res->retry_at))) {
			res->denied = (int)i;
			res->retry_at = e->retry_at;
		}
	}
	return 0;
}

/* The highest warning threshold at or under pct, or 0. */
int
quota_threshold(double pct)
{
	int	 i, t = 0;

	for (i = 0; i < env.nwarn; i++)
		if (pct >= env.warn[i])
			t = env.warn[i];
	return t;
}

/* Usage. */

/*
 * The counters that usage of user in guild (or NULL) for model (or NULL)
 * adds to: the user's, the guild's and everything's, pooled and per model.
 */
size_t
quota_counters(const char *user, const char *guild, const char *model,
    struct counter_id k[QUOTA_NCOUNTERS])
{
	size_t	 n = 0;

	k[n++] = (struct counter_id){ SCOPE_USER, user, "" };
	k[n++] = (struct counter_id){ SCOPE_GLOBAL, "", "" };
	if (guild)
		k[n++] = (struct counter_id){ SCOPE_GUILD, guild, "" };
	if (model) {
		k[n++] = (struct counter_id){ SCOPE_USER, user, model };
		k[n++] = (struct counter_id){ SCOPE_GLOBAL, "", model };
		if (guild)
			k[n++] = (struct counter_id){ SCOPE_GUILD, guild, model };
	}
	return n;
}

/* One request's usage at time t, as a minute bucket. */
static struct bucket
minute_bucket(int64_t t, int64_t tokens, int64_t cost)
{
	return (struct bucket){ tokq_floor(t, BUCKET_MINUTE), BUCKET_MINUTE,
	    tokens, cost, 1 };
}

/*
 * Add usage at time t to every counter it belongs to, in memory and in the
 * store's buckets (the caller holds a transaction).
 */
int
quota_add(const char *user, const char *guild, const char *model, int64_t t,
    int64_t tokens, int64_t cost)
{
	struct counter_id k[QUOTA_NCOUNTERS];
	size_t		 i, n = quota_counters(user, guild, model, k);
	struct bucket	 b = minute_bucket(t, tokens, cost);
	int		 rc;

	for (i = 0; i < n; i++) {
		struct counter	*c = counter_get(k[i].sc, k[i].subject, k[i].model);

		if (c == NULL)
			return -TOKQ_E_TEMP;
		if ((rc = store_bucket_add(k[i].sc, k[i].subject, k[i].model, &b)) < 0)
			return rc;
		if (counter_add(c, &b) < 0)
			return -TOKQ_E_INTERNAL;
	}
	return 0;
}

/*
 * A request of user in guild (or NULL) for model (or NULL) will be judged
 * and may add usage: the counters it may load, for quota_prefetch().
 */
void
quota_want(const char *user, const char *guild, const char *model)
{
	struct counter_id k[QUOTA_NCOUNTERS];
	size_t		 i, n = quota_counters(user, guild, model, k);

	for (i = 0; i < n; i++)
		counter_want(k[i].sc, k[i].subject, k[i].model);
}

/*
 * Before a round's requests run: the counters they will load, asked of
 * the store at once (one round trip to a remote store, not one each).
 */
int
quota_prefetch(void)
{
	return counter_prefetch();
}

/*
 * An event's amounts into the pending buckets of its counters, and not
 * into memory: no counter is loaded during a replay, and each loads them
 * from the store when first used.
 */
static int
replay_cb(void *arg, const struct event *ev)
{
	struct counter_id k[QUOTA_NCOUNTERS];
	size_t		 i, n = quota_counters(ev->user, ev->guild, ev->model, k);
	struct bucket	 b = minute_bucket(ev->at, ev->u.total, ev->u.cost);
	int		 rc;

	(void)arg;
	for (i = 0; i < n; i++)
		if ((rc = store_bucket_add(k[i].sc, k[i].subject, k[i].model, &b)) < 0)
			return rc;
	return 0;
}

/*
 * Add the events the written totals lack (after a crash, or a failed
 * batch that took the pending totals with it) back into the pending totals.
 * Call with no counter in memory (at start, or after quota_invalidate).
 */
int
quota_replay(void)
{
	int	 rc, n;

	if ((rc = store_begin()) < 0)
		return rc;
	if ((n = store_replay(replay_cb, NULL)) < 0) {
		store_rollback();
		quota_invalidate();
		return n;
	}
	if (n > 0)
		log_info("replayed %d events into the totals", n);
	return store_commit();
}

/* From now on, limits count user's usage (of model, if given) from zero. */
int
quota_reset(const char *user, const char *model)
{
	int	 rc;

	if ((rc = store_bucket_clear(SCOPE_USER, user, model)) < 0)
		return rc;
	return counter_drop(SCOPE_USER, user, model);
}

/* Holds. */

/* A counter's held sum with a hold's amount added (sign 1) or taken away (-1). */
static int64_t
held_move(int64_t held, int sign, int64_t v)
{
	held = sign > 0 ? sat_add(held, v) : sat_sub(held, v);
	return held < 0 ? 0 : held;
}

static void
hold_account(const struct hold *h, int sign)
{
	struct counter_id k[QUOTA_NCOUNTERS];
	size_t		 i, n = quota_counters(h->user, h->guild, h->model, k);

	for (i = 0; i < n; i++) {
		struct counter	*c = counter_find(k[i].sc, k[i].subject, k[i].model);

		/* A counter not in memory sums its holds when it loads. */
		if (c == NULL)
			continue;
		/*
		 * A saturated sum less a hold is no sum: add up the active
		 * holds again (the one going has been made inactive).
		 */
		if (sign < 0 && (c->held[MET_TOKENS] == INT64_MAX ||
		    c->held[MET_COST] == INT64_MAX)) {
			struct held_sum	 hs = { c, k[i].sc, k[i].subject, k[i].model };

			memset(c->held, 0, sizeof(c->held));
			hmap_foreach(&q.holds, held_sum_cb, &hs);
			continue;
		}
		c->held[MET_TOKENS] = held_move(c->held[MET_TOKENS], sign, h->tokens);
		c->held[MET_COST] = held_move(c->held[MET_COST], sign, h->cost);
		c->held[MET_REQUESTS] = held_move(c->held[MET_REQUESTS], sign, 1);
	}
}

static void
qhold_free(void *p)
{
	struct qhold	*qh = p;

	if (qh) {
		free(qh->h.user);
		free(qh->h.guild);
		free(qh->h.model);
		free(qh);
	}
}

static struct qhold *
qhold_add(const struct hold *h, int64_t t)
{
	struct qhold	*qh = calloc(1, sizeof(*qh));

	if (qh == NULL)
		return NULL;
	qh->h = *h;
	qh->h.user = strdup(h->user);
	qh->h.guild = h->guild ? strdup(h->guild) : NULL;
	qh->h.model = h->model ? strdup(h->model) : NULL;
	if (qh->h.user == NULL || (h->guild && !qh->h.guild) ||
	    (h->model && !qh->h.model) || hmap_put(&q.holds, qh->h.id, qh) == -1) {
		qhold_free(qh);
		return NULL;
	}
	qh->active = h->expires > t;
	if (qh->active) {
		hold_account(&qh->h, 1);
		if (q.next_expiry == 0 || h->expires < q.next_expiry)
			q.next_expiry = h->expires;
	}
	return qh;
}

/*
 * Place a hold of the estimate for ttl seconds against every counter the
 * request touches; fills h (its id is new and random).  The caller holds a
 * transaction.
 */
int
quota_hold(const char *user, const char *guild, const char *model, int64_t t,
    int64_t ttl, const struct estimate *est, struct hold *h)
{
	unsigned char	 rnd[HOLD_ID_LEN / 2];
	size_t		 i;
	int		 rc;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -TOKQ_E_INTERNAL;
	memset(h, 0, sizeof(*h));
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(h->id + 2 * i, 3, "%02x", rnd[i]);
	h->created = t;
	h->expires = t + ttl;
	h->user = (char *)user;
	h->guild = (char *)guild;
	h->model = (char *)model;
	h->tokens = est->tokens;
	h->cost = est->cost;
	if ((rc = store_hold_put(h)) < 0)
		return rc;
	if (qhold_add(h, t) == NULL)
		return -TOKQ_E_INTERNAL;
	return 0;
}

/* The hold with that id (active or recently expired), or NULL. */
const struct hold *
quota_hold_find(const char *id, bool *active)
{
	struct qhold	*qh = hmap_get(&q.holds, id);

	if (qh == NULL)
		return NULL;
	*active = qh->active;
	return &qh->h;
}

/* Memory forgets a hold: it stops counting. */
static void
qhold_forget(struct qhold *qh)
{
	if (qh->active) {
		qh->active = false;	/* before hold_account, which may sum the rest */
		hold_account(&qh->h, -1);
	}
	qhold_free(hmap_del(&q.holds, qh->h.id));
}

/* Settle or release a hold: it stops counting and is forgotten. */
int
quota_hold_drop(const char *id)
{
	struct qhold	*qh = hmap_get(&q.holds, id);
	int		 rc;

	if (qh == NULL)
		return -TOKQ_E_INVALID;
	if ((rc = store_hold_del(id)) < 0)
		return rc;
	qhold_forget(qh);
	return 0;
}

struct hold_sync {
	struct hmap	 seen;		/* ids the store has */
	struct qhold	**gone;		/* in memory, not in the store */
	size_t		 ngone, capgone;
	int64_t		 t;
};

static int
sync_hold(void *arg, const struct hold *h)
{
	struct hold_sync	*hs = arg;

	if (hmap_put(&hs->seen, h->id, &hs->seen) == -1)
		return -1;
	if (hmap_get(&q.holds, h->id) == NULL && qhold_add(h, hs->t) == NULL)
		return -1;
	return 0;
}

static void
sync_gone(void *arg, const char *id, void *val)
{
	struct hold_sync	*hs = arg;
	struct qhold		**p;

	if (hmap_get(&hs->seen, id) != NULL)
		return;
	if (hs->ngone == hs->capgone) {
		hs->capgone = hs->capgone ? hs->capgone * 2 : 16;
		if ((p = reallocarray(hs->gone, hs->capgone, sizeof(*p))) == NULL) {
			hs->capgone = hs->ngone;
			return;		/* forgotten at the next sync */
		}
		hs->gone = p;
	}
	hs->gone[hs->ngone++] = val;
}

/*
 * Another daemon of a shared store placed, settled or released holds:
 * make memory's holds the store's, each counted or no longer.  The caller
 * holds the round's transaction.
 */
int
quota_holds_sync(void)
{
	struct hold_sync	 hs = { .t = now() };
	size_t			 i;
	int			 rc;

	if ((rc = store_hold_load(sync_hold, &hs)) >= 0) {
		hmap_foreach(&q.holds, sync_gone, &hs);
		for (i = 0; i < hs.ngone; i++)
			qhold_forget(hs.gone[i]);
	}
	free(hs.gone);
	hmap_clear(&hs.seen, NULL);
	return rc < 0 ? rc : 0;
}

static void
expire_cb(void *arg, const char *key, void *val)
{
	int64_t		 t = *(int64_t *)arg;
	struct qhold	*qh = val;

	if (!qh->active)
		return;
	if (qh->h.expires <= t) {
		qh->active = false;
		hold_account(&qh->h, -1);
	} else if (q.next_expiry == 0 || qh->h.expires < q.next_expiry)
		q.next_expiry = qh->h.expires;
}

/* Expired holds stop counting (in memory; maint removes them for good). */
void
quota_expire(int64_t t)
{
	if (q.next_expiry == 0 || t < q.next_expiry)
		return;
	q.next_expiry = 0;
	hmap_foreach(&q.holds, expire_cb, &t);
}

struct sweep_ctx {
	int64_t	 t;
	char	 (*ids)[HOLD_ID_LEN + 1];
	size_t	 n, cap;
};

static void
sweep_collect(void *arg, const char *key, void *val)
{
	struct sweep_ctx	*s = arg;
	struct qhold		*qh = val;

	if (qh->h.expires + HOLD_GRACE > s->t || s->n == s->cap)
		return;
	memcpy(s->ids[s->n++], qh->h.id, HOLD_ID_LEN + 1);
}

/* Forget holds expired for longer than the grace period; in a transaction. */
int
quota_sweep_holds(int64_t t)
{
	char			 ids[256][HOLD_ID_LEN + 1];
	struct sweep_ctx	 s = { t, ids, 0, 256 };
	size_t			 i;
	int			 rc;

	quota_expire(t);
	hmap_foreach(&q.holds, sweep_collect, &s);
	for (i = 0; i < s.n; i++)
		if ((rc = quota_hold_drop(ids[i])) < 0)
			return rc;
	return (int)s.n;
}

static void
count_active(void *arg, const char *key, void *val)
{
	if (((struct qhold *)val)->active)
		(*(size_t *)arg)++;
}

size_t
quota_nholds(void)
{
	size_t	 n = 0;

	quota_expire(now());
	hmap_foreach(&q.holds, count_active, &n);
	return n;
}

/* Rules. */

size_t
quota_nrules(void)
{
	return q.nrules;
}

const struct rule *
quota_rule(size_t i)
{
	return i < q.nrules ? &q.rules[i] : NULL;
}

static int
rule_append(const struct rule *r)
{
	if (q.nrules == q.caprules) {
		size_t		 ncap = q.caprules ? q.caprules * 2 : 16;
		struct rule	*nr = reallocarray(q.rules, ncap, sizeof(*nr));

		if (nr == NULL)
			return -TOKQ_E_INTERNAL;
		q.rules = nr;
		q.caprules = ncap;
	}
	if (rule_copy(&q.rules[q.nrules], r) < 0)
		return -TOKQ_E_INTERNAL;
	q.nrules++;
	return 0;
}

/* Set a rule (replacing one of the same identity); *replaced says which. */
int
quota_rule_set(const struct rule *r, bool *replaced)
{
	size_t	 i;
	int	 rc;

	if ((rc = store_rule_put(r)) < 0)
		return rc;
	*replaced = false;
	for (i = 0; i < q.nrules; i++)
		if (rule_same(&q.rules[i], r)) {
			q.rules[i].limit = r->limit;
			*replaced = true;
			return 0;
		}
	if ((rc = rule_append(r)) < 0)
		return rc;
	update_horizon();
	return 0;
}

/* Remove a rule; 1 removed, 0 none such. */
int
quota_rule_rm(const struct rule *r)
{
	size_t	 i;
	int	 rc;

	for (i = 0; i < q.nrules; i++)
		if (rule_same(&q.rules[i], r))
			break;
	if (i == q.nrules)
		return 0;
	if ((rc = store_rule_del(r)) < 0)
		return rc;
	rule_free(&q.rules[i]);
	memmove(&q.rules[i], &q.rules[i + 1], (q.nrules - i - 1) * sizeof(*q.rules));
	q.nrules--;
	update_horizon();
	return 1;
}

/* Plans and bypass lists. */

const char *
quota_plan(const char *user)
{
	return hmap_get(&q.plans, user);
}

int
quota_plan_set(const char *user, const char *plan)
{
	char	*old, *p = NULL;
	int	 rc;

	if (plan && (p = strdup(plan)) == NULL)
		return -TOKQ_E_INTERNAL;
	if ((rc = store_plan_set(user, plan)) < 0) {
		free(p);
		return rc;
	}
	old = p ? hmap_get(&q.plans, user) : hmap_del(&q.plans, user);
	if (p && hmap_put(&q.plans, user, p) == -1) {
		free(p);
		return -TOKQ_E_INTERNAL;
	}
	free(old);
	return 0;
}

void
quota_plan_foreach(void (*cb)(void *, const char *user, void *plan), void *arg)
{
	hmap_foreach(&q.plans, cb, arg);
}

int
quota_bypass_set(bool guild, const char *id, bool on)
{
	char	 key[BYPASS_KEY_MAX];
	int	 rc;

	bypass_key(key, guild, id);
	if ((rc = store_bypass_set(guild, id, on)) < 0)
		return rc;
	if (on)
		return hmap_put(&q.bypass, key, &q) == -1 ? -TOKQ_E_INTERNAL : rc;
	hmap_del(&q.bypass, key);
	return rc;
}

void
quota_bypass_foreach(void (*cb)(void *, const char *key, void *), void *arg)
{
	hmap_foreach(&q.bypass, cb, arg);
}

/* Start-up and shutdown. */

static int
load_rule(void *arg, const struct rule *r)
{
	return rule_append(r);
}

static int
load_plan(void *arg, const char *user, const char *plan)
{
	char	*p = strdup(plan);

	if (p == NULL || hmap_put(&q.plans, user, p) == -1) {
		free(p);
		return -1;
	}
	return 0;
}

static int
load_bypass(void *arg, bool guild, const char *id)
{
	char	 key[BYPASS_KEY_MAX];

	return hmap_put(&q.bypass, bypass_key(key, guild, id), &q);
}

static int
load_hold(void *arg, const struct hold *h)
{
	return qhold_add(h, *(int64_t *)arg) == NULL ? -1 : 0;
}

/* Load rules, plans, bypass lists, prices and holds; counters load lazily. */
int
quota_init(void)
{
	int64_t	 t = now();

	memset(&q, 0, sizeof(q));
	counter_init(counter_loaded);
	if (store_rule_load(load_rule, NULL) < 0 ||
	    store_plan_load(load_plan, NULL) < 0 ||
	    store_bypass_load(load_bypass, NULL) < 0 ||
	    price_init() < 0 ||
	    store_hold_load(load_hold, &t) < 0) {
		quota_shutdown();
		return -TOKQ_E_INTERNAL;
	}
	update_horizon();
	return 0;
}

void
quota_shutdown(void)
{
	size_t	 i;

	for (i = 0; i < q.nrules; i++)
		rule_free(&q.rules[i]);
	free(q.rules);
	price_shutdown();
	hmap_clear(&q.plans, free);
	hmap_clear(&q.bypass, NULL);
	counter_shutdown();
	hmap_clear(&q.holds, qhold_free);
	memset(&q, 0, sizeof(q));
}

/* After a failed commit: forget everything and reload what the store holds. */
void
quota_invalidate(void)
{
	quota_shutdown();
	if (quota_init() < 0)
		log_warnx("quota: reload after a failed commit failed; retrying later");
}
