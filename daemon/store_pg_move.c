/*
 * store_pg_move.c: the daily totals as rows, for a history moved whole
 * from one store to another (tokq export --all, tokq import): the
 * PostgreSQL side of store_daily_page, store_daily_events and
 * store_daily_add (tokqd.h).
 */
#include <string.h>

#include "store_pg_sql.h"

static int
daily_rows(enum pg_stmt id, const struct pgq *q,
    int (*cb)(void *, const struct daily_row *), void *arg)
{
	struct daily_row r;
	PGresult	*res;
	int		 rc, i, cbrc = 0;

	if ((res = pg_query(id, q, &rc)) == NULL)
		return rc;
	for (i = 0; i < PQntuples(res) && cbrc == 0; i++) {
		r.day = pg_int(res, i, 0);
		r.user = pg_text(res, i, 1, false);
		r.guild = pg_text(res, i, 2, false);
		r.model = pg_text(res, i, 3, false);
		r.service = pg_text(res, i, 4, false);
		r.kind = pg_text(res, i, 5, false);
		pg_usage(res, i, 6, &r.u);
		cbrc = cb(arg, &r);
	}
	PQclear(res);
	return cbrc < 0 ? -TOKQ_E_INTERNAL : 0;
}

/* The daily totals after `after` in key order, at most limit rows. */
int
pg_daily_page(const struct daily_row *after, int64_t limit,
    int (*cb)(void *, const struct daily_row *), void *arg)
{
	struct pgq	 q = { 0 };

	if (after == NULL) {
		pgq_int(&q, limit);
		return daily_rows(P_DAILY_FIRST, &q, cb, arg);
	}
	pgq_int(&q, after->day);
	pgq_key(&q, after->user);
	pgq_key(&q, after->guild);
	pgq_key(&q, after->model);
	pgq_key(&q, after->service);
	pgq_key(&q, after->kind);
	pgq_int(&q, limit);
	return daily_rows(P_DAILY_PAGE, &q, cb, arg);
}

/* The raw events of the days [from, to), summed by their daily row's key. */
int
pg_daily_events(int64_t from, int64_t to,
    int (*cb)(void *, const struct daily_row *), void *arg)
{
	struct pgq	 q = { 0 };

	pgq_int(&q, from);
	pgq_int(&q, to);
	return daily_rows(P_DAILY_EVENTS, &q, cb, arg);
}

/* Amounts no event stands for, added to a daily row: nothing else. */
int
pg_daily_add(const struct daily_row *r)
{
	struct pgq	 q = { 0 };
	const int64_t	 v[] = { r->u.requests, r->u.prompt, r->u.completion,
			    r->u.total, r->u.cached, r->u.cache_write,
			    r->u.reasoning, r->u.cost };
	size_t		 i;
	int		 rc;

	if ((rc = pg_writable("daily_add")) < 0)
		return rc;
	pgq_int(&q, r->day);
	pgq_key(&q, r->user);
	pgq_key(&q, r->guild);
	pgq_key(&q, r->model);
	pgq_key(&q, r->service);
	pgq_key(&q, r->kind);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		pgq_int(&q, v[i]);
	return pg_send(P_DAILY_IMPORT, &q);
}
