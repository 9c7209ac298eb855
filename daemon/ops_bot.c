/*
 * ops_bot.c: what a bot asks: check, record, release, usage, status.
 *
 * check and record are the hot path: each runs for every message a bot
 * answers, so both judge from the counters in memory and write only into
 * the open batch.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reply.h"

/* The highest threshold any limited rule has reached. */
static int
warning_of(const struct judgement *j)
{
	size_t	 i;
	int	 w = 0, t;

	for (i = 0; i < j->n; i++)
		if (j->e[i].r->limit >= 0 &&
		    (t = quota_threshold(j->e[i].percent)) > w)
			w = t;
	return w;
}

static bool
within_limits(const struct judgement *j)
{
	size_t	 i;

	if (j->bypass)
		return true;
	for (i = 0; i < j->n; i++)
		if (j->e[i].denies)
			return false;
	return true;
}

/*
 * check: may user send this request now?  The contract:
 * - It judges every applicable rule against the estimate (tokens, cost
 *   priced at the model's price when not given, one request) from the
 *   counters in memory; it never reads the database on a warm counter.
 * - With --reserve and allowed, the check and the hold it places are one
 *   step: the loop runs one request at a time, so no other request comes
 *   between the judgement and the hold.  The hold counts at once against
 *   every counter the request touches, until a record settles it, a
 *   release drops it, or its ttl runs out.
 * - A hold is a write: its reply waits for the batch's commit (rq->wrote),
 *   as a record's does; a plain check answers at once and writes nothing.
 * - Denied is an answer, not a failure: code 0, allowed false, the rule
 *   that binds (denied_by) and when it has room (retry_at, 0: unknown).
 */
int
h_check(struct request *rq, struct reply *rp)
{
	const char	*user = rq_str(rq, "user"), *guild = rq_str(rq, "guild");
	const char	*model = rq_str(rq, "model");
	struct estimate	 est = { 0, 0, 1 };
	struct judgement j;
	struct hold	 h;
	int64_t		 t = now(), ttl = rq_int(rq, "ttl", 300);
	const struct argval *reserve = rq_arg(rq, "reserve");
	bool		 allowed;
	msgpack_packer	*pk;
	int		 rc;

	if (ttl < 1 || ttl > TOKQ_TTL_MAX)
		return rq_fail(rq, TOKQ_E_INVALID, "ttl must be 1 to %d seconds", TOKQ_TTL_MAX);
	est.tokens = rq_int(rq, "tokens", 0);
	if (rq_arg(rq, "cost"))
		est.cost = rq_int(rq, "cost", 0);
	else if (est.tokens > 0)
		est.cost = quota_cost_estimate(model, est.tokens);
	/* An estimate is bounded as an event is, its priced cost too. */
	if (est.cost > TOKQ_COST_MAX)
		return rq_fail(rq, TOKQ_E_INVALID, "the estimate's cost at the price of "
		    "%s exceeds 1000000 USD", model ? model : "*");
	if ((rc = quota_judge(user, guild, model, t, &est, &j)) < 0)
		return rq_failed(rq, rc);
	allowed = j.denied == -1;

	kv_bool(rp, "allowed", allowed);
	kv_bool(rp, "bypass", j.bypass);
	kv_int(rp, "warning", warning_of(&j));
	kv_limits(rp, "limits", &j);
	pk = rp_key(rp, "denied_by");
	if (allowed)
		msgpack_pack_nil(pk);
	else
		pk_limit(pk, &j.e[j.denied]);
	kv_time(rp, "retry_at", allowed ? 0 : j.retry_at);
	pk = rp_key(rp, "estimate");
	msgpack_pack_map(pk, 3);
	pk_str(pk, "tokens");
	msgpack_pack_int64(pk, est.tokens);
	pk_str(pk, "cost_usd");
	pk_usd(pk, est.cost);
	pk_str(pk, "requests");
	msgpack_pack_int64(pk, est.requests);

	if (reserve && reserve->b && allowed) {
		if ((rc = store_begin()) < 0 ||
		    (rc = quota_hold(user, guild, model, t, ttl, &est, &h)) < 0)
			return rq_failed(rq, rc);
		rq->wrote = true;
		kv_str(rp, "hold", h.id);
		kv_time(rp, "hold_expires_at", h.expires);
	} else if (reserve && reserve->b) {
		kv_str(rp, "hold", NULL);
		kv_time(rp, "hold_expires_at", 0);
	}
	return 0;
}

/*
 * A fingerprint of a record's arguments but its key: the same key with
 * the same fields is a retry, with other fields a mistake.  Usage JSON
 * counts by what it says, not how it is spelled: the same usage sent from
 * a file and inline, or re-serialised by a retrying bot, is the same
 * record.  With raw_json the JSON's text is hashed instead, as earlier
 * builds did, so a key they stored still matches its retry.
 */
static uint64_t
fingerprint(const struct request *rq, const struct norm_item *items, size_t n,
    bool raw_json)
{
	uint64_t	 h = HASH_SEED;
	size_t		 i;
	char		 num[32];
	int		 l;

	for (i = 0; i < MAX_ARGS && rq->op->args[i].name; i++) {
		const struct argval	*a = &rq->v[i];
		const char		*name = rq->op->args[i].name;

		if (!a->set || strcmp(name, "key") == 0 ||
		    (!raw_json && strcmp(name, "usage_json") == 0))
			continue;
		l = snprintf(num, sizeof(num), "%zu=%" PRId64 "/%d", i, a->i, a->b);
		h = hash_bytes(h, num, (size_t)l);
		if (a->s)
			h = hash_bytes(h, a->s, strlen(a->s));
		h = hash_bytes(h, "\xff", 1);
	}
	if (raw_json || rq_str(rq, "usage_json") == NULL)
		return h;
	for (i = 0; i < n; i++) {
		const struct norm_item	*it = &items[i];
		int64_t			 f[] = { it->call, it->has_cost, it->has_total,
		    it->u.prompt, it->u.completion, it->u.total, it->u.cached,
		    it->u.cache_write, it->u.reasoning, it->has_cost ? it->u.cost : 0 };

		h = hash_bytes(h, f, sizeof(f));
		if (it->model)
			h = hash_bytes(h, it->model, strlen(it->model) + 1);
		h = hash_bytes(h, "\xfe", 1);
	}
	return h;
}

/* The record's usage items: from usage_json, or one from the flags. */
static int
record_items(struct request *rq, struct norm_item **items, size_t *n)
{
	const char		*uj = rq_str(rq, "usage_json");
	struct norm_item	*it;
	static const char *const fields[] = { "prompt", "completion", "total",
	    "cached", "cache_write", "reasoning" };
	size_t			 i;
	int			 rc;

	if (uj) {
		if ((rc = normalize_usage_json(uj, strlen(uj), items, n, rq->err,
		    sizeof(rq->err))) < 0)
			return rc;
		for (i = 0; i < *n; i++)
			if ((*items)[i].model == NULL && rq_str(rq, "model") == NULL) {
				/* the caller frees *items: leave it nothing to free twice */
				normalize_free(*items, *n);
				*items = NULL;
				*n = 0;
				return rq_fail(rq, TOKQ_E_USAGE,
				    "--model is required: the usage JSON names no model");
			}
		return 0;
	}
	if (rq_str(rq, "model") == NULL)
		return rq_fail(rq, TOKQ_E_USAGE, "--model is required");
	for (i = 0; i < 6; i++)
		if (rq_arg(rq, fields[i]))
			break;
	if (i == 6 && !rq_arg(rq, "cost"))
		return rq_fail(rq, TOKQ_E_USAGE,
		    "nothing to record: give token counts, --cost or --usage-json");
	if ((it = calloc(1, sizeof(*it))) == NULL)
		return -TOKQ_E_INTERNAL;
	it->u.requests = 1;
	it->u.prompt = rq_int(rq, "prompt", 0);
	it->u.completion = rq_int(rq, "completion", 0);
	it->u.cached = rq_int(rq, "cached", 0);
	it->u.cache_write = rq_int(rq, "cache_write", 0);
	it->u.reasoning = rq_int(rq, "reasoning", 0);
	it->has_total = rq_arg(rq, "total") != NULL;
	it->u.total = it->has_total ? rq_int(rq, "total", 0) :
	    it->u.prompt + it->u.completion;
	it->call = rq_int(rq, "call", -1);
	*items = it;
	*n = 1;
	/* Each count is at most 10^12 (the table): no sum here overflows. */
	if (it->u.cached + it->u.cache_write > it->u.prompt && rq_arg(rq, "prompt"))
		return rq_fail(rq, TOKQ_E_INVALID,
		    "cached and cache-write tokens are part of the prompt: they cannot exceed it");
	if (it->u.reasoning > it->u.completion && rq_arg(rq, "completion"))
		return rq_fail(rq, TOKQ_E_INVALID,
		    "reasoning tokens are part of the completion: they cannot exceed it");
	return 0;
}

static void
pk_record_reply(struct reply *rp, bool dup, int64_t first, int64_t count,
    const char *model, const struct usage *sum, const struct judgement *j, int crossed)
{
	msgpack_packer	*pk;
	int64_t		 i;

	kv_bool(rp, "recorded", !dup);
	kv_bool(rp, "duplicate", dup);
	kv_int(rp, "event", first);
	pk = rp_key(rp, "events");
	msgpack_pack_array(pk, count);
	for (i = 0; i < count; i++)
		msgpack_pack_int64(pk, first + i);
	kv_str(rp, "model", model);
	pk_totals_keys(&rp->pk, sum);
	rp->n += 8;
	kv_bool(rp, "allowed", within_limits(j));
	kv_int(rp, "warning", warning_of(j));
	pk = rp_key(rp, "crossed");
	if (crossed)
		msgpack_pack_int(pk, crossed);
	else
		msgpack_pack_nil(pk);
	kv_limits(rp, "limits", j);
}

static double
used_pct(const struct limit_eval *e)
{
	if (e->r->limit < 0)
		return 0;
	if (e->r->limit == 0)
		return e->used > 0 ? 100 : 0;
	return (double)e->used * 100.0 / (double)e->r->limit;
}

/*
 * The highest threshold some rule's usage crossed between before and after
 * (both judged in the same request, so their rules line up), or 0.
 */
static int
crossed_of(const struct judgement *before, const struct judgement *after)
{
	size_t	 i;
	int	 k, c = 0;

	for (i = 0; i < after->n && i < before->n; i++) {
		double	 b = used_pct(&before->e[i]), a = used_pct(&after->e[i]);

		for (k = 0; k < env.nwarn; k++)
			if (b < env.warn[k] && a >= env.warn[k] && env.warn[k] > c)
				c = env.warn[k];
	}
	return c;
}

/*
 * record: usage happened; count it.  The contract:
 * - Valid input is always recorded, over a limit or not: the usage
 *   happened.  Whether it was within the limits is told (allowed, warning,
 *   crossed), never enforced here.  Only invalid input is refused, and
 *   then nothing is kept.
 * - Each usage item (one from the flags, or each of the usage JSON) enters
 *   through ledger_add(): priced unless a cost was given, bounded, kept as
 *   an event row, counted.  A hold named by --hold is settled in the same
 *   step (it stops counting as the real usage starts).
 * - Acknowledged only after commit: the writes go into the open batch and
 *   the reply waits for its commit (rq->wrote); a failed commit turns the
 *   reply into a temporary failure and nothing was kept.
 * - Idempotent under --key: a retry with the same key and the same fields
 *   gets the first record's reply again (duplicate true), with the totals
 *   it kept; the same key with other fields is refused.
 */
int
h_record(struct request *rq, struct reply *rp)
{
	const char		*user = rq_str(rq, "user"), *guild = rq_str(rq, "guild");
	const char		*kstr = rq_str(rq, "key"), *hid = rq_str(rq, "hold");
	const char		*model, *given = rq_str(rq, "model");
	const struct argval	*cost = rq_arg(rq, "cost");
	/* What every event of the record shares; model, call and usage are the item's. */
	const struct event	 base = {
		.at = rq_int(rq, "at", now()), .user = user, .guild = guild,
		.channel = rq_str(rq, "channel"), .model = given,
		.service = rq_str(rq, "service"), .kind = rq_str(rq, "kind"),
		.session = rq_str(rq, "session"), .meta = rq_str(rq, "meta"),
	};
	struct norm_item	*items = NULL;
	size_t			 n = 0, i;
	struct usage		 sum = { 0 };
	/*
	 * On the stack, as check's: at 4.6 KB each, their mallocs made glibc
	 * consolidate its free lists twice a record.
	 */
	struct judgement	 before, after;
	int64_t			 t = base.at, first = 0, cnt;
	uint64_t		 fp = 0, ofp;
	const struct hold	*h = NULL;
	bool			 active;
	int			 rc;

	if (kstr && (strlen(kstr) == 0 || strlen(kstr) > TOKQ_KEY_MAX))
		return rq_fail(rq, TOKQ_E_INVALID, "key must be 1 to %d bytes", TOKQ_KEY_MAX);
	if ((rc = record_items(rq, &items, &n)) < 0)
		goto out;
	/* --model, when given, names the model for limits and prices: it beats
	 * the provider's own (often dated) name in the usage JSON. */
	model = given ? given : items[0].model;

	if (kstr) {
		fp = fingerprint(rq, items, n, false);
		if ((rc = store_key_get(kstr, &ofp, &first, &cnt)) < 0)
			goto out;
		if (rc == 1 && ofp != fp && (rq_str(rq, "usage_json") == NULL ||
		    ofp != fingerprint(rq, items, n, true))) {
			rc = rq_fail(rq, TOKQ_E_INVALID,
			    "key '%s' was used before for a different record", kstr);
			goto out;
		}
		if (rc == 1) {
			if ((rc = store_events_sum(first, cnt, &sum)) < 0 ||
			    (rc = quota_judge(user, guild, model, now(), NULL, &after)) < 0)
				goto out;
			pk_record_reply(rp, true, first, cnt, model, &sum, &after, 0);
			rc = 0;
			goto out;
		}
	}
	if (hid) {
		if ((h = quota_hold_find(hid, &active)) == NULL) {
			rc = rq_fail(rq, TOKQ_E_INVALID, "unknown hold '%s'", hid);
			goto out;
		}
		if (strcmp(h->user, user) != 0) {
			rc = rq_fail(rq, TOKQ_E_INVALID, "hold '%s' belongs to another user", hid);
			goto out;
		}
	}

	if ((rc = store_begin()) < 0 ||
	    (rc = quota_judge(user, guild, model, t, NULL, &before)) < 0)
		goto out;
	rq->wrote = true;
	for (i = 0; i < n; i++) {
		struct norm_item	*it = &items[i];
		struct event		 ev = base;
		const char		*why;
		bool			 priced = it->has_cost;

		ev.model = given ? given : it->model;
		ev.call = it->call;
		ev.u = it->u;
		if (n == 1 && cost) {
			ev.u.cost = cost->i;
			priced = true;
		}
		if ((rc = ledger_add(&ev, priced, &why)) < 0) {
			if (why != NULL)
				rc = n == 1 ? rq_fail(rq, TOKQ_E_INVALID, "%s", why) :
				    rq_fail(rq, TOKQ_E_INVALID, "usage item %zu: %s", i, why);
			goto out;
		}
		if (i == 0)
			first = ev.id;
		usage_add(&sum, &ev.u);
	}
	if ((hid && (rc = quota_hold_drop(hid)) < 0) ||
	    (kstr && (rc = store_key_put(kstr, fp, first, (int64_t)n, now())) < 0) ||
	    (rc = quota_judge(user, guild, model, t, NULL, &after)) < 0)
		goto out;
	pk_record_reply(rp, false, first, (int64_t)n, model, &sum, &after,
	    crossed_of(&before, &after));
	rc = 0;
out:
	if (items)
		normalize_free(items, n);
	return rq_failed(rq, rc);
}

int
h_release(struct request *rq, struct reply *rp)
{
	const char	*hid = rq_str(rq, "hold");
	bool		 active;
	int		 rc;

	if (quota_hold_find(hid, &active) == NULL)
		return rq_fail(rq, TOKQ_E_INVALID, "unknown hold '%s'", hid);
	if ((rc = store_begin()) < 0 || (rc = quota_hold_drop(hid)) < 0)
		return rq_failed(rq, rc);
	rq->wrote = true;
	kv_bool(rp, "released", true);
	kv_str(rp, "hold", hid);
	return 0;
}

struct models_ctx {
	char	*m[QUOTA_MAX_EVAL];
	size_t	 n;
};

static int
collect_model(void *arg, const char *model)
{
	struct models_ctx	*mc = arg;

	if (mc->n == QUOTA_MAX_EVAL || (mc->m[mc->n] = strdup(model)) == NULL)
		return 1;
	mc->n++;
	return 0;
}

static int
pk_model_totals(void *arg, const char *model, const struct usage *u)
{
	msgpack_packer	*pk = arg;

	msgpack_pack_map(pk, 9);
	pk_str(pk, "model");
	pk_str(pk, model);
	pk_totals_keys(pk, u);
	return 0;
}

static int
count_models(void *arg, const char *model, const struct usage *u)
{
	(*(size_t *)arg)++;
	return 0;
}

/*
 * The user's usage in the RECENT_SPAN (30 days) before t: the whole days
 * from the daily totals (kept forever), the part of the first day from the
 * user's hours (maintenance keeps them RECENT_SPAN and an hour at least).
 * The hour that holds t - 30d counts whole, as a 30d rule counts it: up to
 * an hour late, never early.
 */
static int
usage_30d(const char *user, int64_t t, struct usage *u)
{
	int64_t		 from = t - RECENT_SPAN, day = tokq_period_start(TOKQ_W_DAY, from);
	struct usage	 part;
	int		 rc;

	if (day < from)
		day += DAY;
	if ((rc = store_user_daily_totals(user, day, INT64_MAX / 2, u)) < 0 ||
	    (rc = store_user_hours_totals(user, from, day, &part)) < 0)
		return rc;
	usage_add(u, &part);
	return 0;
}

/*
 * A user's limits and usage.  Without a model: the pooled rules, and the
 * per-model rules of each model the user used in the last 30 days.
 */
int
h_usage(struct request *rq, struct reply *rp)
{
	const char		*user = rq_str(rq, "user"), *guild = rq_str(rq, "guild");
	const char		*model = rq_str(rq, "model");
	struct judgement	*j, *jm;
	struct models_ctx	 mc = { .n = 0 };
	struct usage		 per[4];
	int64_t			 t = now(), day = tokq_period_start(TOKQ_W_DAY, t);
	int64_t			 month = tokq_period_start(TOKQ_W_MONTH, t);
	size_t			 i, k, nm = 0;
	msgpack_packer		*pk;
	int			 rc = 0;

	if ((j = malloc(sizeof(*j))) == NULL || (jm = malloc(sizeof(*jm))) == NULL) {
		free(j);
		return -TOKQ_E_INTERNAL;
	}
	if ((rc = quota_judge(user, guild, model, t, NULL, j)) < 0)
		goto out;
	if (model == NULL &&
	    (rc = store_user_models_since(user, t - RECENT_SPAN, collect_model, &mc)) < 0)
		goto out;
	for (i = 0; i < mc.n; i++) {
		if ((rc = quota_judge(user, guild, mc.m[i], t, NULL, jm)) < 0)
			goto out;
		for (k = 0; k < jm->n && j->n < QUOTA_MAX_EVAL; k++)
			if (jm->e[k].r->model != NULL)
				j->e[j->n++] = jm->e[k];
	}
	memset(per, 0, sizeof(per));
	if ((rc = store_user_daily_totals(user, day, day + DAY, &per[0])) < 0 ||
	    (rc = store_user_daily_totals(user, month,
	    tokq_period_next(TOKQ_W_MONTH, t), &per[1])) < 0 ||
	    (rc = usage_30d(user, t, &per[2])) < 0 ||
	    (rc = store_user_daily_totals(user, INT64_MIN / 2, INT64_MAX / 2, &per[3])) < 0 ||
	    (rc = store_user_models_totals(user, count_models, &nm)) < 0)
		goto out;

	kv_str(rp, "user", user);
	kv_str(rp, "plan", quota_plan(user));
	kv_bool(rp, "bypass", quota_bypassed(user, guild));
	kv_limits(rp, "limits", j);
	kv_int(rp, "warning", warning_of(j));
	pk = rp_key(rp, "periods");
	msgpack_pack_map(pk, 4);
	pk_str(pk, "today");
	pk_totals(pk, &per[0]);
	pk_str(pk, "month");
	pk_totals(pk, &per[1]);
	pk_str(pk, "30d");
	pk_totals(pk, &per[2]);
	pk_str(pk, "all");
	pk_totals(pk, &per[3]);
	pk = rp_key(rp, "by_model");
	msgpack_pack_array(pk, nm);
	rc = store_user_models_totals(user, pk_model_totals, pk);
out:
	for (i = 0; i < mc.n; i++)
		free(mc.m[i]);
	free(j);
	free(jm);
	return rq_failed(rq, rc);
}

int
h_status(struct request *rq, struct reply *rp)
{
	int64_t	 events = 0, users = 0, pruned = 0, v;
	int	 rc;

	/*
	 * events: the raw events the database holds (log and export show
	 * them); events_all_time: every event ever recorded, which the daily
	 * totals keep; users: every user ever recorded.
	 */
	if ((rc = store_counts(&events, &users)) < 0 ||
	    (rc = store_meta_get("events_pruned", &pruned)) < 0)
		return rq_failed(rq, rc);
	kv_str(rp, "version", TOKQ_VERSION);
	kv_int(rp, "protocol", TOKQ_PROTOCOL);
	kv_int(rp, "uptime_s", (int64_t)time(NULL) - env.started);
	kv_str(rp, "socket", env.socket_path);
	kv_str(rp, "db", env.db_path);
	kv_int(rp, "db_bytes", store_db_bytes());
	kv_int(rp, "events", events - pruned > 0 ? events - pruned : 0);
	kv_int(rp, "events_all_time", events);
	kv_int(rp, "users", users);
	kv_int(rp, "holds", (int64_t)quota_nholds());
	kv_int(rp, "rules", (int64_t)quota_nrules());
	kv_bool(rp, "socket_activated", env.socket_activated);
	kv_bool(rp, "test_clock", env.test_clock);
	kv_time(rp, "now", now());
	kv_int(rp, "retention_days", env.retention_days);
	kv_time(rp, "last_rollover", store_meta_get("last_rollover", &v) == 1 ? v : 0);
	kv_time(rp, "next_rollover", tokq_period_next(TOKQ_W_MONTH, now()));
	kv_time(rp, "last_prune", store_meta_get("last_prune", &v) == 1 ? v : 0);
	kv_time(rp, "next_prune", store_meta_get("next_prune", &v) == 1 ? v : 0);
	return 0;
}

