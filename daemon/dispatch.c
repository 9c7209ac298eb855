/*
 * dispatch.c: the request table.
 *
 * Each operation names its handler, whether it needs an admin, and the
 * shape of its arguments.  dispatch() checks the version, finds the
 * operation, refuses non-admins before anything runs, and checks every
 * argument's name, type and value against the table; a handler only ever
 * sees arguments that are present, typed and valid.  Handlers return 0 or a
 * negative TOKQ_E_* code with a one-line reason in req->err.  The types and
 * the reply packers are in reply.h; the admin views' handlers in report.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "reply.h"

static int	h_check(struct request *, struct reply *);
static int	h_record(struct request *, struct reply *);
static int	h_release(struct request *, struct reply *);
static int	h_usage(struct request *, struct reply *);
static int	h_status(struct request *, struct reply *);
static int	h_limit_set(struct request *, struct reply *);
static int	h_limit_rm(struct request *, struct reply *);
static int	h_limit_list(struct request *, struct reply *);
static int	h_plan_assign(struct request *, struct reply *);
static int	h_plan_unassign(struct request *, struct reply *);
static int	h_plan_list(struct request *, struct reply *);
static int	h_bypass_add(struct request *, struct reply *);
static int	h_bypass_rm(struct request *, struct reply *);
static int	h_bypass_list(struct request *, struct reply *);
static int	h_reset(struct request *, struct reply *);
static int	h_price_set(struct request *, struct reply *);
static int	h_price_list(struct request *, struct reply *);
static int	h_price_rm(struct request *, struct reply *);
static int	h_clock_set(struct request *, struct reply *);
static int	h_clock_advance(struct request *, struct reply *);

/* How long a move of the test clock runs maintenance before answering. */
#define CLOCK_MAINT_USEC	(200 * 1000)

/*
 * Every number has its bound (docs/protocol.md): tokens and cost of an
 * event or an estimate as tokq.h gives them, the others as named here.
 */
#define TOKENS(n)	{ n, A_COUNT, .max = TOKQ_TOKENS_MAX }
#define COST(n)		{ n, A_USD, .max = TOKQ_COST_MAX }
#define COUNT(n, m)	{ n, A_COUNT, .max = (m) }
#define TTL_MAX		DAY		/* of a hold */

#define RULE_ARGS \
	{ "selector", A_STR, true }, { "subject", A_ID }, { "model", A_MODEL }, \
	{ "metric", A_STR, true }, { "window", A_WINDOW }

/*
 * The operations.  .admin: only an admin may ask.  .writes: WRITES_ADDS
 * (adds usage or holds) and WRITES_CHANGES (anything else) run under a
 * savepoint of their own and their replies wait for the commit; without
 * it an operation answers at once (check places its hold in the batch
 * all the same).  .args: each argument's name, kind, and bound.
 */
static const struct op ops[] = {
	{ .name = "check", .handler = h_check, .args = {
		{ "user", A_ID, true }, { "guild", A_ID }, { "channel", A_ID },
		{ "model", A_ID }, TOKENS("tokens"), COST("cost"),
		{ "reserve", A_BOOL }, COUNT("ttl", TTL_MAX) } },
	{ .name = "record", .handler = h_record, .writes = WRITES_ADDS, .args = {
		{ "user", A_ID, true }, { "guild", A_ID }, { "channel", A_ID },
		{ "model", A_ID }, TOKENS("prompt"), TOKENS("completion"),
		TOKENS("total"), TOKENS("cached"), TOKENS("cache_write"),
		TOKENS("reasoning"), COST("cost"), { "service", A_ID },
		{ "kind", A_ID }, { "session", A_ID }, COUNT("call", CALL_MAX),
		{ "meta", A_JSON }, { "key", A_STR }, { "hold", A_STR },
		{ "usage_json", A_STR }, { "at", A_TIME, false, true } } },
	{ .name = "release", .handler = h_release, .writes = WRITES_ADDS, .args = {
		{ "hold", A_STR, true } } },
	{ .name = "usage", .handler = h_usage, .args = {
		{ "user", A_ID, true }, { "guild", A_ID }, { "model", A_ID } } },
	{ .name = "status", .handler = h_status },
	{ .name = "limit_set", .handler = h_limit_set, .admin = true,
	    .writes = WRITES_CHANGES, .args = { RULE_ARGS, { "limit", A_LIMIT, true } } },
	{ .name = "limit_rm", .handler = h_limit_rm, .admin = true,
	    .writes = WRITES_CHANGES, .args = { RULE_ARGS } },
	{ .name = "limit_list", .handler = h_limit_list, .admin = true, .args = {
		{ "selector", A_STR }, { "subject", A_ID } } },
	{ .name = "plan_assign", .handler = h_plan_assign, .admin = true,
	    .writes = WRITES_CHANGES, .args = {
		{ "user", A_ID, true }, { "plan", A_ID, true } } },
	{ .name = "plan_unassign", .handler = h_plan_unassign, .admin = true,
	    .writes = WRITES_CHANGES, .args = { { "user", A_ID, true } } },
	{ .name = "plan_list", .handler = h_plan_list, .admin = true },
	{ .name = "bypass_add", .handler = h_bypass_add, .admin = true,
	    .writes = WRITES_CHANGES, .args = { { "user", A_ID }, { "guild", A_ID } } },
	{ .name = "bypass_rm", .handler = h_bypass_rm, .admin = true,
	    .writes = WRITES_CHANGES, .args = { { "user", A_ID }, { "guild", A_ID } } },
	{ .name = "bypass_list", .handler = h_bypass_list, .admin = true },
	{ .name = "reset", .handler = h_reset, .admin = true, .writes = WRITES_CHANGES,
	    .args = { { "user", A_ID, true }, { "model", A_ID } } },
	{ .name = "price_set", .handler = h_price_set, .admin = true,
	    .writes = WRITES_CHANGES, .args = {
		{ "model", A_MODEL, true }, { "input", A_USD, true, .max = TOKQ_COST_MAX },
		{ "output", A_USD, true, .max = TOKQ_COST_MAX }, COST("cached"),
		COST("cache_write") } },
	{ .name = "price_list", .handler = h_price_list, .admin = true },
	{ .name = "price_rm", .handler = h_price_rm, .admin = true,
	    .writes = WRITES_CHANGES, .args = { { "model", A_MODEL, true } } },
	{ .name = "clock_set", .handler = h_clock_set, .admin = true,
	    .writes = WRITES_CHANGES, .args = { { "at", A_TIME, true } } },
	{ .name = "clock_advance", .handler = h_clock_advance, .admin = true,
	    .writes = WRITES_CHANGES, .args = {
		{ "seconds", A_COUNT, true, .max = TOKQ_WINDOW_MAX_SECS } } },
	/* the admin views, in report.c, whose handlers bound days, top, last, limit */
	{ .name = "stats", .handler = report_stats, .admin = true, .args = {
		COUNT("days", INT64_MAX), { "since", A_TIME }, { "until", A_TIME },
		{ "guild", A_ID }, COUNT("top", INT64_MAX) } },
	{ .name = "report", .handler = report_report, .admin = true, .args = {
		{ "period", A_STR }, COUNT("top", INT64_MAX), { "guild", A_ID } } },
	{ .name = "log", .handler = report_log, .admin = true, .args = {
		{ "user", A_ID }, { "guild", A_ID }, COUNT("last", INT64_MAX) } },
	{ .name = "export", .handler = report_export, .admin = true, .args = {
		{ "since", A_TIME }, { "until", A_TIME }, { "user", A_ID },
		{ "guild", A_ID }, { "after_at", A_TIME }, COUNT("after_id", INT64_MAX),
		COUNT("limit", INT64_MAX) } },
	{ .name = "import", .handler = report_import, .admin = true,
	    .writes = WRITES_ADDS, .args = { { "events", A_ARRAY, true } } },
};

static const char *const sel_names[] = {
	[SEL_USER] = "user", [SEL_MEMBERS] = "members", [SEL_PLAN] = "plan",
	[SEL_DEFAULT] = "default", [SEL_GUILD] = "guild", [SEL_GLOBAL] = "global",
};
static const char *const metric_names[] = {
	[MET_TOKENS] = "tokens", [MET_COST] = "cost", [MET_REQUESTS] = "requests",
};

/* Argument access: by name, as the table spells it. */

const struct argval *
rq_arg(const struct request *rq, const char *name)
{
	size_t	 i;

	for (i = 0; i < MAX_ARGS && rq->op->args[i].name; i++)
		if (strcmp(rq->op->args[i].name, name) == 0)
			return rq->v[i].set ? &rq->v[i] : NULL;
	abort();		/* a handler asked for an argument its table lacks */
}

const char *
rq_str(const struct request *rq, const char *name)
{
	const struct argval	*a = rq_arg(rq, name);

	return a ? a->s : NULL;
}

int64_t
rq_int(const struct request *rq, const char *name, int64_t dflt)
{
	const struct argval	*a = rq_arg(rq, name);

	return a ? a->i : dflt;
}

/*
 * The reason of a failure, formatted.  One cut short ends on a whole
 * character: a UTF-8 sequence the cut split is dropped, not left for
 * pk_str to escape byte by byte.
 */
int
rq_fail(struct request *rq, int code, const char *fmt, ...)
{
	va_list	 ap;
	size_t	 n, lead;
	int	 len;

	va_start(ap, fmt);
	len = vsnprintf(rq->err, sizeof(rq->err), fmt, ap);
	va_end(ap);
	if (len >= (int)sizeof(rq->err)) {
		n = sizeof(rq->err) - 1;
		for (lead = n; lead > 0 && n - lead < 4 &&
		    ((unsigned char)rq->err[lead - 1] & 0xc0) == 0x80; lead--)
			;
		if (lead > 0 && (unsigned char)rq->err[lead - 1] >= 0xc0 &&
		    !tokq_utf8_valid(rq->err + lead - 1, n - lead + 1))
			rq->err[lead - 1] = '\0';
	}
	return -code;
}

/* Store failures carry no words of their own; give them some. */
int
rq_failed(struct request *rq, int rc)
{
	if (rc >= 0)
		return rc;
	if (rq->err[0] == '\0')
		rq_fail(rq, -rc, rc == -TOKQ_E_TEMP ?
		    "the database is busy or full; nothing was kept, retry" :
		    "internal error in the database layer");
	return rc;
}

/* Reply packing. */

/*
 * Every string tokqd sends is valid UTF-8, so that strict decoders (Python's
 * msgpack with raw=False) read every reply: bytes that are not, echoed from
 * a request, go out as \xHH.  ASCII, nearly all of it, costs one OR a byte.
 */
void
pk_str(msgpack_packer *pk, const char *s)
{
	const unsigned char	*p;
	unsigned char		 high = 0;
	size_t			 len;
	char			*esc;

	if (s == NULL) {
		msgpack_pack_nil(pk);
		return;
	}
	for (p = (const unsigned char *)s; *p; p++)
		high |= *p;
	len = (size_t)((const char *)p - s);
	if ((high & 0x80) && !tokq_utf8_valid(s, len)) {
		if ((esc = malloc(4 * len)) == NULL) {
			msgpack_pack_str(pk, 1);
			msgpack_pack_str_body(pk, "?", 1);
			return;
		}
		len = tokq_utf8_escape(s, len, esc);
		msgpack_pack_str(pk, len);
		msgpack_pack_str_body(pk, esc, len);
		free(esc);
		return;
	}
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, s, len);
}

void
pk_time(msgpack_packer *pk, int64_t t)
{
	char	 buf[32];

	if (t == 0)
		msgpack_pack_nil(pk);
	else
		pk_str(pk, tokq_fmt_time(t, buf, sizeof(buf)));
}

void
pk_usd(msgpack_packer *pk, int64_t nusd)
{
	msgpack_pack_double(pk, (double)nusd / 1e9);
}

msgpack_packer *
rp_key(struct reply *rp, const char *k)
{
	rp->n++;
	pk_str(&rp->pk, k);
	return &rp->pk;
}

void
kv_str(struct reply *rp, const char *k, const char *v)
{
	pk_str(rp_key(rp, k), v);
}

void
kv_int(struct reply *rp, const char *k, int64_t v)
{
	msgpack_pack_int64(rp_key(rp, k), v);
}

void
kv_bool(struct reply *rp, const char *k, bool v)
{
	if (v)
		msgpack_pack_true(rp_key(rp, k));
	else
		msgpack_pack_false(rp_key(rp, k));
}

void
kv_time(struct reply *rp, const char *k, int64_t t)
{
	pk_time(rp_key(rp, k), t);
}

/* A metric's amount: money as USD, the rest as integers. */
static void
pk_amount(msgpack_packer *pk, enum metric m, int64_t v)
{
	if (m == MET_COST && v != -1)
		pk_usd(pk, v);
	else
		msgpack_pack_int64(pk, v);
}

static void
pk_window(msgpack_packer *pk, const struct tokq_window *w)
{
	char	 buf[32];

	pk_str(pk, tokq_fmt_window(w, buf, sizeof(buf)));
}

/* A rule: the six keys of its identity and value. */
static void
pk_rule_keys(msgpack_packer *pk, const struct rule *r)
{
	pk_str(pk, "selector");
	pk_str(pk, sel_names[r->sel]);
	pk_str(pk, "subject");
	pk_str(pk, r->subject);
	pk_str(pk, "model");
	pk_str(pk, r->model);
	pk_str(pk, "metric");
	pk_str(pk, metric_names[r->metric]);
	pk_str(pk, "window");
	pk_window(pk, &r->win);
	pk_str(pk, "limit");
	pk_amount(pk, r->metric, r->limit);
}

static void
pk_rule(msgpack_packer *pk, const struct rule *r)
{
	msgpack_pack_map(pk, 6);
	pk_rule_keys(pk, r);
}

/* An evaluated limit, as the contract's "limit" object. */
static void
pk_limit(msgpack_packer *pk, const struct limit_eval *e)
{
	msgpack_pack_map(pk, 13);
	pk_rule_keys(pk, e->r);
	pk_str(pk, "used");
	pk_amount(pk, e->r->metric, e->used);
	pk_str(pk, "held");
	pk_amount(pk, e->r->metric, e->held);
	pk_str(pk, "remaining");
	if (e->remaining < 0)
		msgpack_pack_nil(pk);
	else
		pk_amount(pk, e->r->metric, e->remaining);
	pk_str(pk, "percent");
	msgpack_pack_double(pk, round(e->percent * 100.0) / 100.0);
	pk_str(pk, "resets_at");
	pk_time(pk, e->resets_at);
	pk_str(pk, "applies_to");
	pk_str(pk, e->model);
	pk_str(pk, "denies");
	if (e->denies)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

static void
kv_limits(struct reply *rp, const char *k, const struct judgement *j)
{
	msgpack_packer	*pk = rp_key(rp, k);
	size_t		 i;

	msgpack_pack_array(pk, j->n);
	for (i = 0; i < j->n; i++)
		pk_limit(pk, &j->e[i]);
}

void
pk_totals_keys(msgpack_packer *pk, const struct usage *u)
{
	static const char *const names[] = { "requests", "prompt", "completion",
	    "total", "cached", "cache_write", "reasoning" };
	const int64_t	 vals[] = { u->requests, u->prompt, u->completion, u->total,
	    u->cached, u->cache_write, u->reasoning };
	size_t		 i;

	for (i = 0; i < 7; i++) {
		pk_str(pk, names[i]);
		msgpack_pack_int64(pk, vals[i]);
	}
	pk_str(pk, "cost_usd");
	pk_usd(pk, u->cost);
}

void
pk_totals(msgpack_packer *pk, const struct usage *u)
{
	msgpack_pack_map(pk, 8);
	pk_totals_keys(pk, u);
}

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

/* Handlers. */

static int
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

	if (ttl < 1 || ttl > TTL_MAX)
		return rq_fail(rq, TOKQ_E_INVALID, "ttl must be 1 to %d seconds", TTL_MAX);
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

static int
h_record(struct request *rq, struct reply *rp)
{
	const char		*user = rq_str(rq, "user"), *guild = rq_str(rq, "guild");
	const char		*kstr = rq_str(rq, "key"), *hid = rq_str(rq, "hold");
	const char		*model;
	struct norm_item	*items = NULL;
	size_t			 n = 0, i;
	struct usage		 sum = { 0 };
	/*
	 * On the stack, as check's: at 4.6 KB each, their mallocs made glibc
	 * consolidate its free lists twice a record.
	 */
	struct judgement	 before, after;
	int64_t			 t = rq_int(rq, "at", now()), first = 0, cnt;
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
	model = rq_str(rq, "model") ? rq_str(rq, "model") : items[0].model;

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
		struct event		 ev = {
			.at = t, .user = user, .guild = guild,
			.channel = rq_str(rq, "channel"),
			.model = rq_str(rq, "model") ? rq_str(rq, "model") : it->model,
			.service = rq_str(rq, "service"), .kind = rq_str(rq, "kind"),
			.session = rq_str(rq, "session"), .call = it->call,
			.meta = rq_str(rq, "meta"), .u = it->u,
		};

		const char		*why;

		if (n == 1 && rq_arg(rq, "cost"))
			ev.u.cost = rq_int(rq, "cost", 0);
		else if (!it->has_cost)
			ev.u.cost = quota_cost(ev.model, &ev.u);
		/*
		 * The event as it will be kept, whatever made it (flags or
		 * usage JSON): bounded, and consistent (contract, Values).
		 */
		if ((why = quota_usage_check(&ev.u)) != NULL) {
			rc = n == 1 ? rq_fail(rq, TOKQ_E_INVALID, "%s", why) :
			    rq_fail(rq, TOKQ_E_INVALID, "usage item %zu: %s", i, why);
			goto out;
		}
		if ((rc = store_event_add(&ev)) < 0 ||
		    (rc = quota_add(user, guild, ev.model, t, ev.u.total, ev.u.cost)) < 0)
			goto out;
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

static int
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
static int
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

static int
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

static int
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

static int
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

static int
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

static int
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

static int
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
static int
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

static int
h_bypass_add(struct request *rq, struct reply *rp)
{
	return bypass_change(rq, rp, true);
}

static int
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

static int
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

static int
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

static int
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

static int
h_price_list(struct request *rq, struct reply *rp)
{
	msgpack_packer	*pk = rp_key(rp, "prices");
	size_t		 i, n = quota_nprices();

	msgpack_pack_array(pk, n);
	for (i = 0; i < n; i++)
		pk_price(pk, quota_price(i));
	return 0;
}

static int
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

static int
h_clock_set(struct request *rq, struct reply *rp)
{
	return clock_to(rq, rp, rq_int(rq, "at", 0));
}

static int
h_clock_advance(struct request *rq, struct reply *rp)
{
	int64_t	 t = now() + rq_int(rq, "seconds", 0);	/* both bounded: no overflow */

	if (t > TIME_MAX)
		return rq_fail(rq, TOKQ_E_INVALID, "the clock would pass 9999-12-31T23:59:59Z");
	return clock_to(rq, rp, t);
}

/* Argument checking, once for every operation. */

static bool
obj_is_int(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
}

static bool
obj_int(const msgpack_object *o, int64_t *v)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (o->via.u64 > INT64_MAX)
			return false;
		*v = (int64_t)o->via.u64;
		return true;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*v = o->via.i64;
		return true;
	}
	return false;
}

static bool
obj_num(const msgpack_object *o, double *d)
{
	int64_t	 v;

	if (obj_int(o, &v)) {
		*d = (double)v;
		return true;
	}
	if (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32) {
		*d = o->via.f64;
		return isfinite(*d);
	}
	return false;
}

/* USD to nano-USD, 0 to max nano-USD; compared before any product can overflow. */
static int
usd_of(struct request *rq, const char *name, double d, int64_t max, int64_t *nusd)
{
	if (d < 0 || d > (double)max / 1e9)
		return rq_fail(rq, TOKQ_E_INVALID, "%s must be 0 to %lld USD", name,
		    (long long)(max / TOKQ_NUSD_PER_USD));
	*nusd = llround(d * 1e9);
	if (*nusd > max)
		*nusd = max;
	return 0;
}

/* Check one argument against its spec and fill its value. */
static int
take_arg(struct request *rq, const struct argspec *as, const msgpack_object *o,
    struct argval *v)
{
	const char	*n = as->name;
	double		 d;

	if (as->admin && !rq->peer->admin)
		return rq_fail(rq, TOKQ_E_PERM, "only an admin may give %s", n);
	switch (as->kind) {
	case A_ID:
	case A_MODEL:
	case A_STR:
	case A_JSON:
	case A_WINDOW:
		if (o->type != MSGPACK_OBJECT_STR)
			return rq_fail(rq, TOKQ_E_USAGE, "%s must be a string", n);
		if (memchr(o->via.str.ptr, '\0', o->via.str.size))
			return rq_fail(rq, TOKQ_E_INVALID, "%s contains a NUL byte", n);
		if ((v->s = strndup(o->via.str.ptr, o->via.str.size)) == NULL)
			return -TOKQ_E_INTERNAL;
		break;
	case A_COUNT:
		if (!obj_is_int(o))
			return rq_fail(rq, TOKQ_E_USAGE, "%s must be an integer", n);
		if (!obj_int(o, &v->i))
			return rq_fail(rq, TOKQ_E_INVALID, "%s must be at most %lld", n,
			    (long long)as->max);
		if (v->i < 0)
			return rq_fail(rq, TOKQ_E_INVALID, "%s must not be negative", n);
		if (v->i > as->max)
			return rq_fail(rq, TOKQ_E_INVALID, "%s must be at most %lld", n,
			    (long long)as->max);
		break;
	case A_TIME:
		/* A huge integer is a time still: out of range, not mistyped. */
		if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER &&
		    o->type != MSGPACK_OBJECT_NEGATIVE_INTEGER)
			return rq_fail(rq, TOKQ_E_USAGE, "%s must be an integer time", n);
		if (!obj_int(o, &v->i) || v->i < 0 || v->i > TIME_MAX)
			return rq_fail(rq, TOKQ_E_INVALID, "%s must be a time from 1970 "
			    "to 9999-12-31T23:59:59Z (Unix seconds 0 to %lld)", n,
			    (long long)TIME_MAX);
		break;
	case A_USD:
		if (!obj_num(o, &d))
			return rq_fail(rq, TOKQ_E_USAGE, "%s must be a number of USD", n);
		return usd_of(rq, n, d, as->max, &v->i);
	case A_LIMIT:
		/* Bounded by metric in h_limit_set. */
		if (obj_is_int(o)) {
			if (!obj_int(o, &v->i))
				v->i = INT64_MAX;
			if (v->i < -1)
				return rq_fail(rq, TOKQ_E_INVALID, "%s must be >= 0, or -1", n);
			return 0;
		}
		if (!obj_num(o, &d))
			return rq_fail(rq, TOKQ_E_USAGE, "%s must be a number", n);
		v->is_float = true;
		if (d == -1) {
			v->i = -1;
			return 0;
		}
		return usd_of(rq, n, d, TOKQ_LIMIT_COST_MAX, &v->i);
	case A_BOOL:
		if (o->type != MSGPACK_OBJECT_BOOLEAN)
			return rq_fail(rq, TOKQ_E_USAGE, "%s must be true or false", n);
		v->b = o->via.boolean;
		break;
	case A_ARRAY:
		if (o->type != MSGPACK_OBJECT_ARRAY)
			return rq_fail(rq, TOKQ_E_USAGE, "%s must be an array", n);
		v->o = o;
		break;
	}
	switch (as->kind) {
	case A_ID:
		if (!tokq_id_valid(v->s))
			return rq_fail(rq, TOKQ_E_INVALID,
			    "invalid %s: an id is 1 to %d bytes of UTF-8 without control characters",
			    n, TOKQ_ID_MAX);
		break;
	case A_MODEL:
		if (strcmp(v->s, "*") != 0 && !tokq_id_valid(v->s))
			return rq_fail(rq, TOKQ_E_INVALID, "invalid %s", n);
		break;
	case A_WINDOW:
		if (tokq_parse_window(v->s, &v->w) == -1)
			return rq_fail(rq, TOKQ_E_INVALID,
			    "invalid window '%s': use Nm, Nh, Nd, day, week or month", v->s);
		break;
	case A_JSON: {
		json_error_t	 je;
		json_t		*js = json_loads(v->s, JSON_DECODE_ANY, &je);

		if (js == NULL)
			return rq_fail(rq, TOKQ_E_INVALID, "%s is not JSON: %s", n, je.text);
		json_decref(js);
		break;
	}
	default:
		break;
	}
	return 0;
}

static const struct op *
op_find(const msgpack_object *o)
{
	size_t	 i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strlen(ops[i].name) == o->via.str.size &&
		    memcmp(ops[i].name, o->via.str.ptr, o->via.str.size) == 0)
			return &ops[i];
	return NULL;
}

static bool
key_is(const msgpack_object *k, const char *s)
{
	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(s) &&
	    memcmp(k->via.str.ptr, s, k->via.str.size) == 0;
}

/* Find the op, check who asks, and take every argument. */
static int
parse_request(struct request *rq, const msgpack_object *req)
{
	const msgpack_object	*vo = NULL, *opo = NULL;
	uint32_t		 i;
	size_t			 k;
	int			 rc;

	if (req->type != MSGPACK_OBJECT_MAP)
		return rq_fail(rq, TOKQ_E_USAGE, "a request is a map");
	for (i = 0; i < req->via.map.size; i++) {
		const msgpack_object_kv	*kv = &req->via.map.ptr[i];

		if (key_is(&kv->key, "v"))
			vo = &kv->val;
		else if (key_is(&kv->key, "op"))
			opo = &kv->val;
	}
	if (vo == NULL || vo->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return rq_fail(rq, TOKQ_E_USAGE, "the request has no version 'v'");
	if (vo->via.u64 != TOKQ_PROTOCOL)
		return rq_fail(rq, TOKQ_E_PROTO, "protocol version %" PRIu64
		    " is not spoken here (this tokqd speaks %d)", vo->via.u64, TOKQ_PROTOCOL);
	if (opo == NULL || opo->type != MSGPACK_OBJECT_STR)
		return rq_fail(rq, TOKQ_E_USAGE, "the request has no 'op'");
	if ((rq->op = op_find(opo)) == NULL)
		return rq_fail(rq, TOKQ_E_USAGE, "unknown operation '%.*s'",
		    (int)(opo->via.str.size > 64 ? 64 : opo->via.str.size), opo->via.str.ptr);
	if (rq->op->admin && !rq->peer->admin)
		return rq_fail(rq, TOKQ_E_PERM, "%s needs an admin (root, the daemon's user, "
		    "or a member of the admin group)", rq->op->name);

	for (i = 0; i < req->via.map.size; i++) {
		const msgpack_object_kv	*kv = &req->via.map.ptr[i];

		if (key_is(&kv->key, "v") || key_is(&kv->key, "op"))
			continue;
		for (k = 0; k < MAX_ARGS && rq->op->args[k].name; k++)
			if (key_is(&kv->key, rq->op->args[k].name))
				break;
		if (k == MAX_ARGS || rq->op->args[k].name == NULL) {
			if (kv->key.type != MSGPACK_OBJECT_STR)
				return rq_fail(rq, TOKQ_E_USAGE, "argument names are strings");
			return rq_fail(rq, TOKQ_E_USAGE, "%s takes no argument '%.*s'",
			    rq->op->name, (int)(kv->key.via.str.size > 64 ? 64 :
			    kv->key.via.str.size), kv->key.via.str.ptr);
		}
		if (rq->v[k].set)
			return rq_fail(rq, TOKQ_E_USAGE, "argument '%s' given twice",
			    rq->op->args[k].name);
		if (kv->val.type == MSGPACK_OBJECT_NIL)
			continue;
		if ((rc = take_arg(rq, &rq->op->args[k], &kv->val, &rq->v[k])) < 0)
			return rc;
		rq->v[k].set = true;
	}
	for (k = 0; k < MAX_ARGS && rq->op->args[k].name; k++)
		if (rq->op->args[k].required && !rq->v[k].set)
			return rq_fail(rq, TOKQ_E_USAGE, "%s needs '%s'", rq->op->name,
			    rq->op->args[k].name);
	return 0;
}

static void
reply_head(msgpack_sbuffer *out, uint32_t n, int code)
{
	msgpack_packer	 pk;

	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, n + 2);
	pk_str(&pk, "v");
	msgpack_pack_int(&pk, TOKQ_PROTOCOL);
	pk_str(&pk, "code");
	msgpack_pack_int(&pk, code);
}

/* An error reply: {v, code, error}. */
int
dispatch_error(msgpack_sbuffer *out, int code, const char *msg)
{
	msgpack_packer	 pk;

	reply_head(out, 1, code);
	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	pk_str(&pk, "error");
	pk_str(&pk, msg);
	return 0;
}

/*
 * Answer one request into out.  *wrote is set when the reply may only be
 * sent once the current transaction committed.  Returns the result code.
 */
int
dispatch(const msgpack_object *req, const struct peer *peer, msgpack_sbuffer *out,
    bool *wrote)
{
	struct request	 rq;
	struct reply	 rp;
	size_t		 i;
	int		 rc;

	memset(&rq, 0, sizeof(rq));
	rq.peer = peer;
	msgpack_sbuffer_init(&rp.sb);
	msgpack_packer_init(&rp.pk, &rp.sb, msgpack_sbuffer_write);
	rp.n = 0;

	if ((rc = parse_request(&rq, req)) == 0) {
		if (rq.op->writes == WRITES_NONE)
			rc = rq.op->handler(&rq, &rp);
		else if ((rc = store_mark(rq.op->writes)) == 0)
			rc = store_unmark(rq.op->handler(&rq, &rp));
		if (rc < 0 && rq.wrote) {
			/* Its writes were undone: memory must forget them too. */
			batch_undo();
			rq.wrote = false;
		}
	}
	if (rc < 0) {
		if (rq.err[0] == '\0')
			snprintf(rq.err, sizeof(rq.err), "%s", tokq_code_name(-rc));
		log_debug("%s: %s", rq.op ? rq.op->name : "request", rq.err);
		dispatch_error(out, -rc, rq.err);
	} else {
		reply_head(out, rp.n, TOKQ_OK);
		if (rp.sb.size > 0)
			msgpack_sbuffer_write(out, rp.sb.data, rp.sb.size);
	}
	*wrote = rq.wrote;
	for (i = 0; i < MAX_ARGS; i++)
		free(rq.v[i].s);
	msgpack_sbuffer_destroy(&rp.sb);
	return rc < 0 ? -rc : 0;
}
