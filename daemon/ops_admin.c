/*
 * ops_admin.c: what an admin changes: limits, plans, bypass lists, prices,
 * resets, the test clock, and imports of events.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "reply.h"

/* How long a move of the test clock runs maintenance before answering. */
#define CLOCK_MAINT_USEC	(200 * 1000)
#define IMPORT_SKEW	DAY		/* how far ahead of now an event may be */

/* The rule named by a limit_set/limit_rm request; limit left at 0. */
static int
rule_of(struct request *rq, struct rule *r)
{
	const char		*sel = rq_str(rq, "selector"), *met = rq_str(rq, "metric");
	const struct argval	*w = rq_arg(rq, "window");
	size_t			 i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < 6; i++)
		if (strcmp(sel, sel_names[i]) == 0)
			break;
	if (i == 6)
		return rq_fail(rq, TOKQ_E_USAGE, "unknown selector '%s'", sel);
	r->sel = (enum selector)i;
	for (i = 0; i < 3; i++)
		if (strcmp(met, metric_names[i]) == 0)
			break;
	if (i == 3)
		return rq_fail(rq, TOKQ_E_USAGE, "unknown metric '%s'", met);
	r->metric = (enum metric)i;
	r->subject = (char *)rq_str(rq, "subject");
	if ((r->sel == SEL_DEFAULT || r->sel == SEL_GLOBAL) && r->subject)
		return rq_fail(rq, TOKQ_E_USAGE, "selector %s takes no subject", sel);
	if (!(r->sel == SEL_DEFAULT || r->sel == SEL_GLOBAL) && !r->subject)
		return rq_fail(rq, TOKQ_E_USAGE, "selector %s needs a subject", sel);
	r->model = (char *)rq_str(rq, "model");
	if (w)
		r->win = w->w;
	else
		r->win = (struct tokq_window){ TOKQ_W_ROLLING, 30 * DAY };
	return 0;
}

int
h_limit_set(struct request *rq, struct reply *rp)
{
	const struct argval	*l = rq_arg(rq, "limit");
	struct rule		 r;
	bool			 replaced;
	int			 rc;

	if ((rc = rule_of(rq, &r)) < 0)
		return rc;
	if (l->is_float && r.metric != MET_COST)
		return rq_fail(rq, TOKQ_E_INVALID, "a %s limit is a whole number",
		    metric_names[r.metric]);
	if (r.metric == MET_COST && !l->is_float && l->i != -1) {
		if (l->i > TOKQ_LIMIT_COST_MAX / TOKQ_NUSD_PER_USD)
			return rq_fail(rq, TOKQ_E_INVALID, "a cost limit must be -1, "
			    "or 0 to %lld USD", TOKQ_LIMIT_COST_MAX / TOKQ_NUSD_PER_USD);
		r.limit = l->i * TOKQ_NUSD_PER_USD;
	} else
		r.limit = l->i;
	if (r.metric != MET_COST && r.limit > TOKQ_LIMIT_MAX)
		return rq_fail(rq, TOKQ_E_INVALID, "a %s limit must be -1, or 0 to %lld",
		    metric_names[r.metric], TOKQ_LIMIT_MAX);
	if ((rc = store_begin()) < 0 || (rc = quota_rule_set(&r, &replaced)) < 0)
		return rq_failed(rq, rc);
	rq->wrote = true;
	pk_rule(rp_key(rp, "rule"), &r);
	kv_bool(rp, "replaced", replaced);
	return 0;
}

int
h_limit_rm(struct request *rq, struct reply *rp)
{
	struct rule	 r;
	int		 rc;

	if ((rc = rule_of(rq, &r)) < 0)
		return rc;
	if ((rc = store_begin()) < 0 || (rc = quota_rule_rm(&r)) < 0)
		return rq_failed(rq, rc);
	if (rc == 0)
		return rq_fail(rq, TOKQ_E_INVALID, "no such rule");
	rq->wrote = true;
	pk_rule(rp_key(rp, "rule"), &r);
	kv_bool(rp, "removed", true);
	return 0;
}

int
h_limit_list(struct request *rq, struct reply *rp)
{
	const char	*sel = rq_str(rq, "selector"), *subj = rq_str(rq, "subject");
	const struct rule *r;
	msgpack_packer	*pk;
	size_t		 i, n = 0;

	for (i = 0; (r = quota_rule(i)) != NULL; i++)
		if ((!sel || strcmp(sel, sel_names[r->sel]) == 0) &&
		    (!subj || (r->subject && strcmp(subj, r->subject) == 0)))
			n++;
	pk = rp_key(rp, "rules");
	msgpack_pack_array(pk, n);
	for (i = 0; (r = quota_rule(i)) != NULL; i++)
		if ((!sel || strcmp(sel, sel_names[r->sel]) == 0) &&
		    (!subj || (r->subject && strcmp(subj, r->subject) == 0)))
			pk_rule(pk, r);
	return 0;
}

int
h_plan_assign(struct request *rq, struct reply *rp)
{
	int	 rc;

	if ((rc = store_begin()) < 0 ||
	    (rc = quota_plan_set(rq_str(rq, "user"), rq_str(rq, "plan"))) < 0)
		return rq_failed(rq, rc);
	rq->wrote = true;
	kv_str(rp, "user", rq_str(rq, "user"));
	kv_str(rp, "plan", rq_str(rq, "plan"));
	return 0;
}

int
h_plan_unassign(struct request *rq, struct reply *rp)
{
	const char	*user = rq_str(rq, "user"), *p = quota_plan(user);
	char		*former = p ? strdup(p) : NULL;
	int		 rc;

	if ((rc = store_begin()) < 0 || (rc = quota_plan_set(user, NULL)) < 0) {
		free(former);
		return rq_failed(rq, rc);
	}
	rq->wrote = true;
	kv_str(rp, "user", user);
	kv_str(rp, "plan", former);
	free(former);
	return 0;
}

struct list_ctx {
	msgpack_packer	*pk;
	size_t		 n;
	char		 kind;
};

static void
plan_pack(void *arg, const char *user, void *plan)
{
	struct list_ctx	*lc = arg;

	lc->n++;
	if (lc->pk == NULL)
		return;
	msgpack_pack_map(lc->pk, 2);
	pk_str(lc->pk, "user");
	pk_str(lc->pk, user);
	pk_str(lc->pk, "plan");
	pk_str(lc->pk, plan);
}

struct plan_count {
	char	*plan[256];
	int64_t	 users[256];
	size_t	 n;
};

static void
plan_count(void *arg, const char *user, void *plan)
{
	struct plan_count	*pc = arg;
	size_t			 i;

	for (i = 0; i < pc->n; i++)
		if (strcmp(pc->plan[i], plan) == 0)
			break;
	if (i == pc->n) {
		if (pc->n == 256)
			return;
		pc->plan[pc->n++] = plan;
	}
	pc->users[i]++;
}

/* The plans in use with their number of users, and every assignment. */
int
h_plan_list(struct request *rq, struct reply *rp)
{
	struct list_ctx		 lc = { NULL, 0, 0 };
	struct plan_count	 pc = { .n = 0 };
	msgpack_packer		*pk;
	size_t			 i;

	quota_plan_foreach(plan_count, &pc);
	pk = rp_key(rp, "plans");
	msgpack_pack_array(pk, pc.n);
	for (i = 0; i < pc.n; i++) {
		msgpack_pack_map(pk, 2);
		pk_str(pk, "plan");
		pk_str(pk, pc.plan[i]);
		pk_str(pk, "users");
		msgpack_pack_int64(pk, pc.users[i]);
	}
	quota_plan_foreach(plan_pack, &lc);
	lc.pk = rp_key(rp, "assignments");
	msgpack_pack_array(lc.pk, lc.n);
	quota_plan_foreach(plan_pack, &lc);
	return 0;
}

static int
bypass_change(struct request *rq, struct reply *rp, bool on)
{
	const char	*u = rq_str(rq, "user"), *g = rq_str(rq, "guild");
	int		 rc;

	if ((u == NULL) == (g == NULL))
		return rq_fail(rq, TOKQ_E_USAGE, "give exactly one of --user and --guild");
	if ((rc = store_begin()) < 0 || (rc = quota_bypass_set(g != NULL, g ? g : u, on)) < 0)
		return rq_failed(rq, rc);
	rq->wrote = true;
	kv_str(rp, "kind", g ? "guild" : "user");
	kv_str(rp, "id", g ? g : u);
	kv_bool(rp, "changed", rc == 1);
	return 0;
}

int
h_bypass_add(struct request *rq, struct reply *rp)
{
	return bypass_change(rq, rp, true);
}

int
h_bypass_rm(struct request *rq, struct reply *rp)
{
	return bypass_change(rq, rp, false);
}

static void
bypass_pack(void *arg, const char *k, void *unused)
{
	struct list_ctx	*lc = arg;

	if (k[0] != lc->kind)
		return;
	lc->n++;
	if (lc->pk)
		pk_str(lc->pk, k + 2);
}

int
h_bypass_list(struct request *rq, struct reply *rp)
{
	static const char *const names[] = { "users", "guilds" };
	int	 i;

	for (i = 0; i < 2; i++) {
		struct list_ctx	 lc = { NULL, 0, i ? 'g' : 'u' };

		quota_bypass_foreach(bypass_pack, &lc);
		lc.pk = rp_key(rp, names[i]);
		msgpack_pack_array(lc.pk, lc.n);
		quota_bypass_foreach(bypass_pack, &lc);
	}
	return 0;
}

int
h_reset(struct request *rq, struct reply *rp)
{
	int	 rc;

	if ((rc = store_begin()) < 0 ||
	    (rc = quota_reset(rq_str(rq, "user"), rq_str(rq, "model"))) < 0)
		return rq_failed(rq, rc);
	rq->wrote = true;
	kv_str(rp, "user", rq_str(rq, "user"));
	kv_str(rp, "model", rq_str(rq, "model"));
	kv_time(rp, "reset_at", now());
	return 0;
}

static void
pk_price(msgpack_packer *pk, const struct price *p)
{
	msgpack_pack_map(pk, 5);
	pk_str(pk, "model");
	pk_str(pk, p->model);
	pk_str(pk, "input");
	pk_usd(pk, p->input);
	pk_str(pk, "output");
	pk_usd(pk, p->output);
	pk_str(pk, "cached");
	pk_usd(pk, p->cached >= 0 ? p->cached : p->input);
	pk_str(pk, "cache_write");
	pk_usd(pk, p->cache_write >= 0 ? p->cache_write : p->input);
}

int
h_price_set(struct request *rq, struct reply *rp)
{
	struct price	 p = {
		.model = (char *)rq_str(rq, "model"),
		.input = rq_int(rq, "input", 0), .output = rq_int(rq, "output", 0),
		.cached = rq_int(rq, "cached", -1),
		.cache_write = rq_int(rq, "cache_write", -1),
	};
	int		 rc;

	if ((rc = store_begin()) < 0 || (rc = quota_price_set(&p)) < 0)
		return rq_failed(rq, rc);
	rq->wrote = true;
	pk_price(rp_key(rp, "price"), &p);
	return 0;
}

int
h_price_list(struct request *rq, struct reply *rp)
{
	msgpack_packer	*pk = rp_key(rp, "prices");
	size_t		 i, n = quota_nprices();

	msgpack_pack_array(pk, n);
	for (i = 0; i < n; i++)
		pk_price(pk, quota_price(i));
	return 0;
}

int
h_price_rm(struct request *rq, struct reply *rp)
{
	int	 rc;

	if ((rc = store_begin()) < 0 || (rc = quota_price_rm(rq_str(rq, "model"))) < 0)
		return rq_failed(rq, rc);
	if (rc == 0)
		return rq_fail(rq, TOKQ_E_INVALID, "no price for '%s'", rq_str(rq, "model"));
	rq->wrote = true;
	kv_bool(rp, "removed", true);
	return 0;
}

static int
clock_to(struct request *rq, struct reply *rp, int64_t t)
{
	uint64_t start;
	int	 rc;

	if (!env.test_clock)
		return rq_fail(rq, TOKQ_E_PERM,
		    "the test clock is off: start tokqd with --test-clock");
	if ((rc = store_begin()) < 0 || (rc = clock_set(t)) < 0)
		return rq_failed(rq, rc);
	rq->wrote = true;
	quota_expire(t);
	/* A test sees small maintenance done; a big one goes on in rounds. */
	start = mono_usec();
	while ((rc = maint_run()) == 1 && mono_usec() - start < CLOCK_MAINT_USEC)
		;
	if (rc < 0)
		return rq_failed(rq, rc);
	if (rc == 1)
		maint_soon();
	kv_time(rp, "now", now());
	return 0;
}

int
h_clock_set(struct request *rq, struct reply *rp)
{
	return clock_to(rq, rp, rq_int(rq, "at", 0));
}

int
h_clock_advance(struct request *rq, struct reply *rp)
{
	int64_t	 t = now() + rq_int(rq, "seconds", 0);	/* both bounded: no overflow */

	if (t > TOKQ_TIME_MAX)
		return rq_fail(rq, TOKQ_E_INVALID, "the clock would pass 9999-12-31T23:59:59Z");
	return clock_to(rq, rp, t);
}

/*
 * An import's meta is a JSON document, as record's is: the text export
 * wrote.  Tables from other tools carry free text there too, and a JSON
 * line's reader may hand over a string document decoded: text that is no
 * JSON document is kept as the JSON string holding it (in *kept, the
 * caller's to free), so that no event is refused for its meta.
 */
static int
imp_meta(struct request *rq, uint32_t i, const char *meta, char **kept)
{
	json_error_t	 je;
	json_t		*js = json_loads(meta, JSON_DECODE_ANY, &je);

	if (js != NULL) {
		json_decref(js);
		return 0;
	}
	if ((js = json_string(meta)) == NULL)
		return rq_fail(rq, TOKQ_E_INVALID, "events[%u]: meta is neither JSON "
		    "nor UTF-8 text", i);
	*kept = json_dumps(js, JSON_ENCODE_ANY | JSON_COMPACT);
	json_decref(js);
	if (*kept == NULL)
		return -TOKQ_E_INTERNAL;
	return 0;
}

/*
 * Event i of an import, its fields checked by the table (dispatch.c,
 * import_event), into ev: it must not lie ahead of now, and it is priced
 * and bounded here (ledger_check), so that every event is checked before
 * any enters.
 */
static int
imp_event(struct request *rq, uint32_t i, const struct request *e, struct event *ev,
    char **meta)
{
	const char	*why;
	bool		 priced = rq_arg(e, "cost") != NULL;
	int		 rc;

	*ev = (struct event){
		.at = rq_int(e, "at", 0), .user = rq_str(e, "user"),
		.guild = rq_str(e, "guild"), .channel = rq_str(e, "channel"),
		.model = rq_str(e, "model"), .service = rq_str(e, "service"),
		.kind = rq_str(e, "kind"), .session = rq_str(e, "session"),
		.call = rq_int(e, "call", -1), .meta = rq_str(e, "meta"),
		.u = { .requests = 1, .prompt = rq_int(e, "prompt", 0),
		    .completion = rq_int(e, "completion", 0),
		    .cached = rq_int(e, "cached", 0),
		    .cache_write = rq_int(e, "cache_write", 0),
		    .reasoning = rq_int(e, "reasoning", 0),
		    .cost = rq_int(e, "cost", 0) },
	};
	/* Each count is at most 10^12 (the table): no sum here overflows. */
	ev->u.total = rq_arg(e, "total") ? rq_int(e, "total", 0) :
	    ev->u.prompt + ev->u.completion;
	if (ev->meta && (rc = imp_meta(rq, i, ev->meta, meta)) < 0)
		return rc;
	if (*meta)
		ev->meta = *meta;
	if (ev->at > now() + IMPORT_SKEW)
		return rq_fail(rq, TOKQ_E_INVALID, "events[%u]: at is in the future", i);
	if ((why = ledger_check(ev, priced)) != NULL)
		return rq_fail(rq, TOKQ_E_INVALID, "events[%u]: %s", i, why);
	return 0;
}

/*
 * import: a batch of up to TOKQ_IMPORT_MAX events with their times.  Every
 * event is checked before any enters, and the batch runs under the
 * request's savepoint: it lands whole or not at all.  Events without a
 * cost are priced from today's price table.  Those still inside the
 * counters' horizon count toward the limits, as record --at does.
 */
int
h_import(struct request *rq, struct reply *rp)
{
	const struct argval	*arr = rq_arg(rq, "events");
	uint32_t		 n = arr->nitems, i;
	struct event		*evs;
	char			**metas;
	const char		*why;
	int			 rc = 0;

	evs = calloc(n ? n : 1, sizeof(*evs));
	metas = calloc(n ? n : 1, sizeof(*metas));
	if (evs == NULL || metas == NULL) {
		rc = -TOKQ_E_INTERNAL;
		goto out;
	}
	for (i = 0; i < n && rc == 0; i++)
		rc = imp_event(rq, i, &arr->items[i], &evs[i], &metas[i]);
	if (rc < 0 || (rc = store_begin()) < 0)
		goto out;
	rq->wrote = true;
	for (i = 0; i < n; i++)
		if ((rc = ledger_add(&evs[i], true, &why)) < 0) {
			if (why != NULL)
				rc = rq_fail(rq, TOKQ_E_INVALID, "events[%u]: %s", i, why);
			goto out;
		}
	kv_int(rp, "imported", n);
	kv_int(rp, "first_event", n ? evs[0].id : 0);
	kv_int(rp, "last_event", n ? evs[n - 1].id : 0);
	rc = 0;
out:
	for (i = 0; metas && i < n; i++)
		free(metas[i]);
	free(metas);
	free(evs);
	return rq_failed(rq, rc);
}

/*
 * import_totals: up to TOKQ_IMPORT_MAX rows of daily totals that no raw
 * event stands for (what export_totals gives: the days another store
 * pruned to their totals).  They count in stats, report, usage's all-time
 * figures and status's events_all_time, and nowhere else: not as events,
 * and not in the counters, since every rolling window lies inside the
 * raw events kept (retention_days is never less than the longest).  Each
 * row is checked before any is added; they land whole or not at all.
 */
int
h_import_totals(struct request *rq, struct reply *rp)
{
	const struct argval	*arr = rq_arg(rq, "rows");
	struct daily_row	 r;
	uint32_t		 i;
	int64_t			 t = now();
	int			 rc;

	for (i = 0; i < arr->nitems; i++) {
		int64_t	 day = rq_int(&arr->items[i], "day", 0);

		if (day < 0 || day % DAY != 0 || day > t)
			return rq_fail(rq, TOKQ_E_INVALID, "rows[%u]: day must be the "
			    "start of a UTC day, not ahead of now", i);
	}
	if ((rc = store_begin()) < 0)
		return rq_failed(rq, rc);
	for (i = 0; i < arr->nitems; i++) {
		const struct request	*e = &arr->items[i];
		const char		*s;

		r = (struct daily_row){ .day = rq_int(e, "day", 0),
		    .user = rq_str(e, "user"),
		    .guild = (s = rq_str(e, "guild")) ? s : "",
		    .model = (s = rq_str(e, "model")) ? s : "",
		    .service = (s = rq_str(e, "service")) ? s : "",
		    .kind = (s = rq_str(e, "kind")) ? s : "",
		    .u = { .requests = rq_int(e, "requests", 0),
			.prompt = rq_int(e, "prompt", 0),
			.completion = rq_int(e, "completion", 0),
			.total = rq_int(e, "total", 0),
			.cached = rq_int(e, "cached", 0),
			.cache_write = rq_int(e, "cache_write", 0),
			.reasoning = rq_int(e, "reasoning", 0),
			.cost = rq_int(e, "cost_nusd", 0) } };
		if ((rc = store_daily_add(&r)) < 0)
			return rq_failed(rq, rc);
	}
	kv_int(rp, "imported", arr->nitems);
	return 0;
}
