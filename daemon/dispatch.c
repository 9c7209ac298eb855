/*
 * dispatch.c: the request table and the one way into it.
 *
 * Each operation names its handler, whether it needs an admin, what it
 * writes, and the shape of its arguments.  dispatch() checks the version,
 * finds the operation, refuses non-admins before anything runs, and checks
 * every argument's name, type and value against the table; a handler only
 * ever sees arguments that are present, typed and valid.  Handlers return 0
 * or a negative TOKQ_E_* code with a one-line reason in req->err; the bot's
 * are in ops_bot.c, the admins' in ops_admin.c, the views in report.c.  A
 * request goes down from here (handler, ledger or quota, store) and its
 * answer comes back up here once, into the caller's buffer.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "reply.h"


/*
 * Every number has its bound (docs/protocol.md): tokens and cost of an
 * event or an estimate as tokq.h gives them, the others as named here.
 */
#define TOKENS(n)	{ n, A_COUNT, .max = TOKQ_TOKENS_MAX }
#define COST(n)		{ n, A_USD, .max = TOKQ_COST_MAX }
#define COUNT(n, m)	{ n, A_COUNT, .max = (m) }

/*
 * An event's fields, as record takes them and each event of an import:
 * one table, so both check them alike.  In this order: record's key
 * fingerprint numbers its arguments by their place.
 */
#define EVENT_ARGS \
	{ "user", A_ID, true }, { "guild", A_ID }, { "channel", A_ID }, \
	{ "model", A_ID }, TOKENS("prompt"), TOKENS("completion"), \
	TOKENS("total"), TOKENS("cached"), TOKENS("cache_write"), \
	TOKENS("reasoning"), COST("cost"), { "service", A_ID }, \
	{ "kind", A_ID }, { "session", A_ID }, COUNT("call", TOKQ_CALL_MAX)

/*
 * One event of an import: its time is required, and its meta may be any
 * text (ops_admin.c keeps text that is no JSON as a JSON string).
 */
static const struct op import_event = { .name = "an event", .args = {
	EVENT_ARGS, { "meta", A_STR }, { "at", A_TIME, true } } };
/* A row of daily totals no raw event stands for (export --all, import). */
static const struct op import_total = { .name = "a total", .args = {
	{ "day", A_TIME, true }, { "user", A_ID, true }, { "guild", A_ID },
	{ "model", A_ID }, { "service", A_ID }, { "kind", A_ID },
	COUNT("requests", INT64_MAX), COUNT("prompt", INT64_MAX),
	COUNT("completion", INT64_MAX), COUNT("total", INT64_MAX),
	COUNT("cached", INT64_MAX), COUNT("cache_write", INT64_MAX),
	COUNT("reasoning", INT64_MAX), COUNT("cost_nusd", INT64_MAX) } };

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
		{ "reserve", A_BOOL }, COUNT("ttl", TOKQ_TTL_MAX) } },
	{ .name = "record", .handler = h_record, .writes = WRITES_ADDS, .args = {
		EVENT_ARGS, { "meta", A_JSON }, { "key", A_STR }, { "hold", A_STR },
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
	{ .name = "export_totals", .handler = report_totals, .admin = true, .args = {
		{ "after_day", A_TIME }, { "after_user", A_STR },
		{ "after_guild", A_STR }, { "after_model", A_STR },
		{ "after_service", A_STR }, { "after_kind", A_STR },
		COUNT("limit", TOKQ_PAGE_MAX) } },
	{ .name = "import_totals", .handler = h_import_totals, .admin = true,
	    .writes = WRITES_CHANGES, .args = { { "rows", A_EVENTS, true,
		.max = TOKQ_IMPORT_MAX, .each = &import_total } } },
	{ .name = "import", .handler = h_import, .admin = true,
	    .writes = WRITES_ADDS, .args = { { "events", A_EVENTS, true,
		.max = TOKQ_IMPORT_MAX, .each = &import_event } } },
};


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

static int	take_args(struct request *, const msgpack_object *, bool);

/*
 * Each event of an array against the table as->each names, as a request
 * of its own; a failure names the event (events[i]: why).
 */
static int
take_events(struct request *rq, const struct argspec *as, const msgpack_object *o,
    struct argval *v)
{
	uint32_t	 i, n;
	int		 rc;

	if (o->type != MSGPACK_OBJECT_ARRAY)
		return rq_fail(rq, TOKQ_E_USAGE, "%s must be an array", as->name);
	if ((n = o->via.array.size) > as->max)
		return rq_fail(rq, TOKQ_E_USAGE, "at most %lld %s per %s",
		    (long long)as->max, as->name, rq->op->name);
	if ((v->items = calloc(n ? n : 1, sizeof(*v->items))) == NULL)
		return -TOKQ_E_INTERNAL;
	for (i = 0; i < n; i++) {
		struct request	*e = &v->items[i];

		v->nitems = i + 1;
		e->op = as->each;
		e->peer = rq->peer;
		if (o->via.array.ptr[i].type != MSGPACK_OBJECT_MAP)
			return rq_fail(rq, TOKQ_E_USAGE, "%s[%u]: an event is a map",
			    as->name, i);
		if ((rc = take_args(e, &o->via.array.ptr[i], false)) < 0)
			return e->err[0] ? rq_fail(rq, -rc, "%s[%u]: %s", as->name, i,
			    e->err) : rc;
	}
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
		if (!obj_int(o, &v->i) || v->i < 0 || v->i > TOKQ_TIME_MAX)
			return rq_fail(rq, TOKQ_E_INVALID, "%s must be a time from 1970 "
			    "to 9999-12-31T23:59:59Z (Unix seconds 0 to %lld)", n,
			    (long long)TOKQ_TIME_MAX);
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
	case A_EVENTS:
		return take_events(rq, as, o, v);
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
	return take_args(rq, req, true);
}

/*
 * Take every argument of map m against rq->op's table: each known, given
 * once, checked and filled; every required one there.  A request's own
 * map (top) also holds "v" and "op".
 */
static int
take_args(struct request *rq, const msgpack_object *m, bool top)
{
	uint32_t	 i;
	size_t		 k;
	int		 rc;

	for (i = 0; i < m->via.map.size; i++) {
		const msgpack_object_kv	*kv = &m->via.map.ptr[i];

		if (top && (key_is(&kv->key, "v") || key_is(&kv->key, "op")))
			continue;
		for (k = 0; k < MAX_ARGS && rq->op->args[k].name; k++)
			if (key_is(&kv->key, rq->op->args[k].name))
				break;
		if (k == MAX_ARGS || rq->op->args[k].name == NULL) {
			if (!top)	/* an event's fields are keys, as export wrote them */
				return rq_fail(rq, TOKQ_E_USAGE, "unknown key '%.*s'",
				    kv->key.type == MSGPACK_OBJECT_STR ?
				    (int)(kv->key.via.str.size > 64 ? 64 : kv->key.via.str.size) : 1,
				    kv->key.type == MSGPACK_OBJECT_STR ? kv->key.via.str.ptr : "?");
			if (kv->key.type != MSGPACK_OBJECT_STR)
				return rq_fail(rq, TOKQ_E_USAGE, "argument names are strings");
			return rq_fail(rq, TOKQ_E_USAGE, "%s takes no argument '%.*s'",
			    rq->op->name, (int)(kv->key.via.str.size > 64 ? 64 :
			    kv->key.via.str.size), kv->key.via.str.ptr);
		}
		if (rq->v[k].set)
			return rq_fail(rq, TOKQ_E_USAGE, top ? "argument '%s' given twice" :
			    "%s given twice", rq->op->args[k].name);
		if (kv->val.type == MSGPACK_OBJECT_NIL)
			continue;
		if ((rc = take_arg(rq, &rq->op->args[k], &kv->val, &rq->v[k])) < 0)
			return rc;
		rq->v[k].set = true;
	}
	for (k = 0; k < MAX_ARGS && rq->op->args[k].name; k++)
		if (rq->op->args[k].required && !rq->v[k].set)
			return top ? rq_fail(rq, TOKQ_E_USAGE, "%s needs '%s'", rq->op->name,
			    rq->op->args[k].name) : rq_fail(rq, TOKQ_E_USAGE, "needs '%s'",
			    rq->op->args[k].name);
	return 0;
}

/*
 * What a request will need, said before its round runs (exec.c): a check
 * or a record names the counters it may load (quota_want), which the
 * store can then fetch for the whole round at once.  Only a hint: nothing
 * is checked here (dispatch() does that when it runs), and a string that
 * is no id is skipped.
 */
void
dispatch_want(const msgpack_object *req)
{
	const msgpack_object	*opo = NULL, *v;
	char			 s[3][TOKQ_ID_MAX + 1];
	bool			 set[3] = { false, false, false };
	static const char *const names[3] = { "user", "guild", "model" };
	uint32_t		 i;
	int			 k;

	if (req->type != MSGPACK_OBJECT_MAP)
		return;
	for (i = 0; i < req->via.map.size; i++)
		if (key_is(&req->via.map.ptr[i].key, "op"))
			opo = &req->via.map.ptr[i].val;
	if (opo == NULL || !(key_is(opo, "check") || key_is(opo, "record")))
		return;
	for (i = 0; i < req->via.map.size; i++)
		for (k = 0; k < 3; k++) {
			if (!key_is(&req->via.map.ptr[i].key, names[k]))
				continue;
			v = &req->via.map.ptr[i].val;
			if (v->type != MSGPACK_OBJECT_STR || v->via.str.size == 0 ||
			    v->via.str.size > TOKQ_ID_MAX ||
			    memchr(v->via.str.ptr, '\0', v->via.str.size) != NULL)
				return;
			memcpy(s[k], v->via.str.ptr, v->via.str.size);
			s[k][v->via.str.size] = '\0';
			set[k] = true;
		}
	if (set[0])
		quota_want(s[0], set[1] ? s[1] : NULL, set[2] ? s[2] : NULL);
}

/* Free what the arguments' values hold. */
static void
args_free(struct request *rq)
{
	uint32_t	 j;
	size_t		 i;

	for (i = 0; i < MAX_ARGS; i++) {
		free(rq->v[i].s);
		if (rq->v[i].items == NULL)
			continue;
		for (j = 0; j < rq->v[i].nitems; j++)
			args_free(&rq->v[i].items[j]);
		free(rq->v[i].items);
	}
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
	args_free(&rq);
	msgpack_sbuffer_destroy(&rp.sb);
	return rc < 0 ? -rc : 0;
}
