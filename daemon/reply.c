/*
 * reply.c: what every handler uses: its arguments by name, its failure's
 * reason, and the packers of the reply's values (strings always valid
 * UTF-8, times, USD, rules, evaluated limits, totals).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

const char *const sel_names[] = {
	[SEL_USER] = "user", [SEL_MEMBERS] = "members", [SEL_PLAN] = "plan",
	[SEL_DEFAULT] = "default", [SEL_GUILD] = "guild", [SEL_GLOBAL] = "global",
};
const char *const metric_names[] = {
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

void
pk_rule(msgpack_packer *pk, const struct rule *r)
{
	msgpack_pack_map(pk, 6);
	pk_rule_keys(pk, r);
}

/* An evaluated limit, as the contract's "limit" object. */
void
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

void
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

