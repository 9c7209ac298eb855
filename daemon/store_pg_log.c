/*
 * store_pg_log.c: the PostgreSQL store's round in memory: its writes,
 * buffered and sent in bulk, the requests' marks over them, and the
 * counters' buckets fetched ahead.
 *
 * The log.  What a record writes (its events, and so their daily rows,
 * hours, users and meta 'daily_requests'; the counters' bucket adds; the
 * idempotency keys) is not sent one statement each: it is appended here.
 * With other daemons there, the events go as one outbox row instead, and
 * their reports are written after the commit, outside the write lock
 * (pg_commit), or before the first statement that reads or changes the
 * reports (reports_first): the lock is held for the counters alone.
 * Before any other statement goes to the server, and at the commit, the
 * log is flushed (pglog_flush): its entries are summed by the key each
 * table's upsert conflicts on (a bucket by scope, subject, model, start
 * and span; a daily row by day, user, guild, model, service and kind; an
 * hour by hour and user; a key by itself, the last put winning) and sent
 * as one statement per table of arrays, queued in the pipeline in front
 * of the statement that caused the flush, in its round trip.  The order
 * within a log does not matter: its inserts are of distinct rows, its
 * upserts add amounts that are never negative (ledger.c bounds every
 * event), so saturating sums of sums are the sums one by one, and its
 * LEAST/GREATEST and last-wins are the same in any grouping.  Everything
 * else is sent in the order it was asked, after the log before it.
 *
 * Marks.  A request's mark (pg_mark) is a position in the log, not a
 * server savepoint: undoing the request (pg_unmark with rc < 0) drops its
 * entries, which were never sent.  Only when a flush must send entries of
 * a request still open (a read in the middle of it after its writes), or
 * it sends one of its other writes, is a SAVEPOINT sent first, once;
 * pg_unmark then releases it, or rolls back to it.
 *
 * Ahead.  A round's counters that memory lacks are asked for in one
 * statement before its jobs run (pg_bucket_prefetch); pg_bucket_load
 * serves each from those rows once.  A write to a counter in the round
 * drops its rows (they would be stale), and so does every fold or prune,
 * and the commit or rollback drops them all; a counter they do not serve
 * is loaded as before, after a flush.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_pg_sql.h"

#define MARK_MAX	8
#define NOSTR		SIZE_MAX	/* a string offset that is NULL */

enum lkind { L_EVENT, L_BUCKET, L_KEY };

/* The round's generation, as its begin told (pglog_round). */
static int64_t	 round_gen;
static bool	 round_rows;		/* other daemons read its journal rows */
static bool	 journaled;		/* bucket adds went out with journal rows */
static int64_t	 outbox_lo, outbox_hi;	/* its events in the outbox: ids, inclusive */
static bool	 final;			/* the commit's flush (pglog_flush_final) */

/* One write; strings are offsets into the log's text. */
struct lent {
	enum lkind	 kind;
	union {
		struct {
			int64_t	 id, at, call;
			size_t	 user, guild, channel, model, service, kind,
				 session, meta;
			struct usage u;
		} ev;
		struct {
			int	 sc;
			size_t	 subject, model;
			struct bucket b;
		} bk;
		struct {
			size_t	 key;
			int64_t	 fp, first, count, created;
		} key;
	};
};

struct lmark {
	size_t	 pos, spos;		/* the log's entries and text at the mark */
	bool	 sp;			/* its SAVEPOINT was sent */
};

static struct {
	struct lent	*e;
	size_t		 n, cap;
	char		*s;		/* the entries' strings, each NUL-ended */
	size_t		 slen, scap;
	struct lmark	 marks[MARK_MAX];
	int		 nmarks;
	bool		 oom;		/* an append failed: the round fails */
} L;

/* Append s to the log's text: its offset, NOSTR for NULL. */
static size_t
lstr(const char *s)
{
	size_t	 len, off;

	if (s == NULL)
		return NOSTR;
	len = strlen(s) + 1;
	if (L.slen + len > L.scap) {
		size_t	 ncap = L.scap ? L.scap : 4096;
		char	*ns;

		while (ncap < L.slen + len)
			ncap *= 2;
		if ((ns = realloc(L.s, ncap)) == NULL) {
			L.oom = true;
			return NOSTR;
		}
		L.s = ns;
		L.scap = ncap;
	}
	off = L.slen;
	memcpy(L.s + off, s, len);
	L.slen += len;
	return off;
}

static const char *
S(size_t off)
{
	return off == NOSTR ? NULL : L.s + off;
}

/* A new entry at the log's end, or NULL (the round fails). */
static struct lent *
lnew(enum lkind kind)
{
	if (L.n == L.cap) {
		size_t		 ncap = L.cap ? 2 * L.cap : 256;
		struct lent	*ne = reallocarray(L.e, ncap, sizeof(*ne));

		if (ne == NULL) {
			L.oom = true;
			return NULL;
		}
		L.e = ne;
		L.cap = ncap;
	}
	L.e[L.n].kind = kind;
	return &L.e[L.n++];
}

/* The append's result: out of memory fails the transaction. */
static int
lcheck(void)
{
	if (!L.oom)
		return 0;
	log_warnx("store: out of memory for the round's writes");
	pg_tx_failed = true;
	return -TOKQ_E_TEMP;
}

int
pglog_event(const struct event *ev, int64_t id)
{
	struct lent	*e;

	if ((e = lnew(L_EVENT)) == NULL)
		return lcheck();
	e->ev.id = id;
	e->ev.at = ev->at;
	e->ev.call = ev->call;
	e->ev.u = ev->u;
	e->ev.user = lstr(ev->user);
	e->ev.guild = lstr(ev->guild);
	e->ev.channel = lstr(ev->channel);
	e->ev.model = lstr(ev->model);
	e->ev.service = lstr(ev->service);
	e->ev.kind = lstr(ev->kind);
	e->ev.session = lstr(ev->session);
	e->ev.meta = lstr(ev->meta);
	return lcheck();
}

int
pglog_bucket(enum scope sc, const char *subject, const char *model,
    const struct bucket *b)
{
	struct lent	*e;

	if ((e = lnew(L_BUCKET)) == NULL)
		return lcheck();
	e->bk.sc = sc;
	e->bk.subject = lstr(subject ? subject : "");
	e->bk.model = lstr(model ? model : "");
	e->bk.b = *b;
	return lcheck();
}

int
pglog_key(const char *key, uint64_t fp, int64_t first, int64_t count,
    int64_t created)
{
	struct lent	*e;

	if ((e = lnew(L_KEY)) == NULL)
		return lcheck();
	e->key.key = lstr(key);
	e->key.fp = (int64_t)fp;
	e->key.first = first;
	e->key.count = count;
	e->key.created = created;
	return lcheck();
}

/*
 * Array literals, as PostgreSQL reads them: {1,2}, {"a\"b",NULL}.
 */
struct arr {
	char	*p;
	size_t	 len, cap;
	bool	 oom;
};

static void
arr_put(struct arr *a, const char *s, size_t n)
{
	if (a->len + n + 2 > a->cap) {
		size_t	 ncap = a->cap ? a->cap : 256;
		char	*np;

		while (ncap < a->len + n + 2)
			ncap *= 2;
		if ((np = realloc(a->p, ncap)) == NULL) {
			a->oom = true;
			return;
		}
		a->p = np;
		a->cap = ncap;
	}
	memcpy(a->p + a->len, s, n);
	a->len += n;
	a->p[a->len] = '\0';
}

static void
arr_sep(struct arr *a)
{
	arr_put(a, a->len == 0 ? "{" : ",", 1);
}

/* v in decimal: by hand, as a round formats thousands of them. */
static void
arr_int(struct arr *a, int64_t v)
{
	char		 num[24], *p = num + sizeof(num);
	uint64_t	 u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	arr_sep(a);
	arr_put(a, p, (size_t)(num + sizeof(num) - p));
}

static void
arr_text(struct arr *a, const char *s)
{
	const char	*p;

	arr_sep(a);
	if (s == NULL) {
		arr_put(a, "NULL", 4);
		return;
	}
	arr_put(a, "\"", 1);
	for (p = s; *p; p = s) {
		s = p + strcspn(p, "\"\\");
		arr_put(a, p, (size_t)(s - p));
		if (*s == '\0')
			break;
		arr_put(a, "\\", 1);
		arr_put(a, s++, 1);
	}
	arr_put(a, "\"", 1);
}

/*
 * Close the arrays and queue statement id with them as $1..$n, and the
 * number last, when not NULL, as $n+1.
 */
static int
arr_send(enum pg_stmt id, struct arr *a, int n, const int64_t *last)
{
	struct pgq	 q = { 0 };
	int		 i, rc = 0;

	for (i = 0; i < n; i++) {
		if (a[i].len == 0)
			arr_put(&a[i], "{", 1);
		arr_put(&a[i], "}", 1);
		if (a[i].oom)
			rc = -TOKQ_E_TEMP;
		pgq_text(&q, a[i].p);
	}
	if (last)
		pgq_int(&q, *last);
	if (rc < 0) {
		log_warnx("store: out of memory for the round's writes");
		pg_tx_failed = true;
	} else
		rc = pg_queue(id, &q);
	for (i = 0; i < n; i++) {
		free(a[i].p);
		a[i] = (struct arr){ 0 };
	}
	return rc;
}

/*
 * The reports of a round's events, kept from the commit's flush for the
 * round to write after its commit (pglog_reports_send), when that flush
 * put the round's only outbox row: each statement's arrays, or none.
 */
static struct {
	bool		 on;
	struct arr	 users[1], daily[14], hourly[12];
	int64_t		 requests;
} st;

/* Move n arrays from a to keep, for a later arr_send. */
static void
arr_keep(struct arr *keep, struct arr *a, int n)
{
	int	 i;

	for (i = 0; i < n; i++) {
		keep[i] = a[i];
		a[i] = (struct arr){ 0 };
	}
}

static void
st_clear(void)
{
	struct arr	*sets[] = { st.users, st.daily, st.hourly };
	const int	 n[] = { 1, 14, 12 };
	size_t		 i;
	int		 j;

	for (i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
		for (j = 0; j < n[i]; j++) {
			free(sets[i][j].p);
			sets[i][j] = (struct arr){ 0 };
		}
	st.on = false;
	st.requests = 0;
}

static void
arr_usage(struct arr *a, const struct usage *u)
{
	arr_int(&a[0], u->requests);
	arr_int(&a[1], u->prompt);
	arr_int(&a[2], u->completion);
	arr_int(&a[3], u->total);
	arr_int(&a[4], u->cached);
	arr_int(&a[5], u->cache_write);
	arr_int(&a[6], u->reasoning);
	arr_int(&a[7], u->cost);
}

static bool
usage_zero(const struct usage *u)
{
	static const struct usage	 zero;

	return memcmp(u, &zero, sizeof(zero)) == 0;
}

/*
 * Group keys, in bytes: each part a tag, then its length and its bytes
 * (a string) or its eight bytes (a number), so that no part's content can
 * run into the next.
 */
struct gkey {
	char	 b[8 * (TOKQ_ID_MAX + 24) + 64];
	size_t	 len;
	bool	 over;
};

static void
gk_put(struct gkey *k, const void *p, size_t n)
{
	if (k->len + n > sizeof(k->b)) {
		k->over = true;
		return;
	}
	memcpy(k->b + k->len, p, n);
	k->len += n;
}

static void
gk_str(struct gkey *k, const char *s)
{
	size_t	 n = s ? strlen(s) : 0;

	gk_put(k, s ? "s" : "n", 1);
	gk_put(k, &n, sizeof(n));
	gk_put(k, s ? s : "", n);
}

static void
gk_int(struct gkey *k, int64_t v)
{
	gk_put(k, "i", 1);
	gk_put(k, &v, sizeof(v));
}

/*
 * The index of k's group in m, a new one (*fresh) at *n when k is new;
 * SIZE_MAX when memory ran out.  A key too long to build (no id is) gets
 * a group of its own, which the upsert would refuse as a double: fail.
 */
static size_t
group(struct hmap *m, const struct gkey *k, size_t *n, bool *fresh)
{
	void	*v;

	if (k->over)
		return SIZE_MAX;
	if ((v = hmap_getn(m, k->b, k->len)) != NULL) {
		*fresh = false;
		return (size_t)(uintptr_t)v - 1;
	}
	if (hmap_putn(m, k->b, k->len, (void *)(uintptr_t)(*n + 1)) == -1)
		return SIZE_MAX;
	*fresh = true;
	return (*n)++;
}

/*
 * The bucket adds in a[0..7]: sent with their journal rows, of the
 * generation the commit will write (pglog_round).
 */
static int
buckets_send(struct arr *a)
{
	struct pgq	 q = { 0 };
	int		 i, rc = 0;

	for (i = 0; i < 8; i++) {
		arr_put(&a[i], "}", 1);
		if (a[i].oom)
			rc = -TOKQ_E_TEMP;
		pgq_text(&q, a[i].p);
	}
	journaled = true;
	pgq_int(&q, round_gen);
	pgq_int(&q, STALE_COUNTER);
	pgq_text(&q, round_rows ? "t" : "f");
	if (rc < 0) {
		log_warnx("store: out of memory for the round's writes");
		pg_tx_failed = true;
	} else
		rc = pg_queue(P_LOG_BUCKETS, &q);
	for (i = 0; i < 8; i++) {
		free(a[i].p);
		a[i] = (struct arr){ 0 };
	}
	return rc;
}

/* The summed writes of a stretch of the log, one record per row to upsert. */
struct day_row {
	const struct lent	*e;	/* the first event of the row */
	struct usage		 u;
};
struct hour_row {
	const struct lent	*e;
	struct usage		 u;
	int64_t			 first, last;
};
struct bucket_row {
	const struct lent	*e;
	struct bucket		 b;
};

/*
 * Send entries [from, to) of the log, summed: one statement per table
 * with rows, queued.
 */
static int
send_range(size_t from, size_t to)
{
	struct hmap	 dm = { 0 }, hm = { 0 }, bm = { 0 }, km = { 0 }, um = { 0 };
	struct day_row *dr = NULL;
	struct hour_row	*hr = NULL;
	struct bucket_row *br = NULL;
	const struct lent **kr = NULL, **ur = NULL;
	struct arr	 a[19] = { 0 };
	struct gkey	 k;
	size_t		 i, g, nd = 0, nh = 0, nb = 0, nk = 0, nu = 0, nev = 0;
	int64_t		 requests = 0, lo = INT64_MAX, hi = INT64_MIN;
	bool		 fresh, totals = false, outbox, keep;
	int		 rc = -TOKQ_E_TEMP;

	if (from >= to)
		return 0;
	/*
	 * With other daemons there, the events go to the outbox; their
	 * reports are kept for the round to write after its commit when
	 * this is the commit's flush and the round's first to the outbox,
	 * and left to outbox_apply otherwise.
	 */
	outbox = round_rows || (final && pg_ahead);
	keep = outbox && final && outbox_lo == INT64_MAX;
	if ((dr = calloc(to - from, sizeof(*dr))) == NULL ||
	    (hr = calloc(to - from, sizeof(*hr))) == NULL ||
	    (br = calloc(to - from, sizeof(*br))) == NULL ||
	    (kr = calloc(to - from, sizeof(*kr))) == NULL ||
	    (ur = calloc(to - from, sizeof(*ur))) == NULL)
		goto oom;
	/* The events as they are; their totals, buckets and keys summed. */
	for (i = from; i < to; i++) {
		const struct lent	*e = &L.e[i];

		switch (e->kind) {
		case L_EVENT:
			nev++;
			arr_int(&a[0], e->ev.at);
			arr_text(&a[1], S(e->ev.user));
			arr_text(&a[2], S(e->ev.guild));
			arr_text(&a[3], S(e->ev.channel));
			arr_text(&a[4], S(e->ev.model));
			arr_text(&a[5], S(e->ev.service));
			arr_text(&a[6], S(e->ev.kind));
			arr_text(&a[7], S(e->ev.session));
			if (e->ev.call >= 0)
				arr_int(&a[8], e->ev.call);
			else
				arr_text(&a[8], NULL);
			arr_text(&a[9], S(e->ev.meta));
			arr_usage(&a[10], &e->ev.u);
			arr_int(&a[18], e->ev.id);
			if (e->ev.id < lo)
				lo = e->ev.id;
			if (e->ev.id > hi)
				hi = e->ev.id;
			/* An event of no amounts: no totals, as SQLite's. */
			if ((outbox && !keep) || usage_zero(&e->ev.u))
				break;
			totals = true;
			requests = sat_add(requests, e->ev.u.requests);
			k.len = 0;
			k.over = false;
			gk_int(&k, tokq_period_start(TOKQ_W_DAY, e->ev.at));
			gk_str(&k, S(e->ev.user));
			gk_str(&k, S(e->ev.guild) ? S(e->ev.guild) : "");
			gk_str(&k, S(e->ev.model) ? S(e->ev.model) : "");
			gk_str(&k, S(e->ev.service) ? S(e->ev.service) : "");
			gk_str(&k, S(e->ev.kind) ? S(e->ev.kind) : "");
			if ((g = group(&dm, &k, &nd, &fresh)) == SIZE_MAX)
				goto oom;
			if (fresh)
				dr[g].e = e;
			usage_add(&dr[g].u, &e->ev.u);
			k.len = 0;
			gk_int(&k, tokq_floor(e->ev.at, BUCKET_HOUR));
			gk_str(&k, S(e->ev.user));
			if ((g = group(&hm, &k, &nh, &fresh)) == SIZE_MAX)
				goto oom;
			if (fresh) {
				hr[g].e = e;
				hr[g].first = hr[g].last = e->ev.id;
			}
			usage_add(&hr[g].u, &e->ev.u);
			if (e->ev.id < hr[g].first)
				hr[g].first = e->ev.id;
			if (e->ev.id > hr[g].last)
				hr[g].last = e->ev.id;
			k.len = 0;
			gk_str(&k, S(e->ev.user));
			if ((g = group(&um, &k, &nu, &fresh)) == SIZE_MAX)
				goto oom;
			if (fresh)
				ur[g] = e;
			break;
		case L_BUCKET:
			k.len = 0;
			k.over = false;
			gk_int(&k, e->bk.sc);
			gk_str(&k, S(e->bk.subject));
			gk_str(&k, S(e->bk.model));
			gk_int(&k, e->bk.b.start);
			gk_int(&k, e->bk.b.span);
			if ((g = group(&bm, &k, &nb, &fresh)) == SIZE_MAX)
				goto oom;
			if (fresh) {
				br[g].e = e;
				br[g].b = e->bk.b;
			} else {
				br[g].b.tokens = sat_add(br[g].b.tokens, e->bk.b.tokens);
				br[g].b.cost = sat_add(br[g].b.cost, e->bk.b.cost);
				br[g].b.requests = sat_add(br[g].b.requests,
				    e->bk.b.requests);
			}
			break;
		case L_KEY:
			k.len = 0;
			k.over = false;
			gk_str(&k, S(e->key.key));
			if ((g = group(&km, &k, &nk, &fresh)) == SIZE_MAX)
				goto oom;
			kr[g] = e;	/* the last put of a key wins */
			break;
		}
	}
	/*
	 * Alone, the reports are written now, the users first, as the
	 * outbox's writers lock meta 'daily_requests' before the daily rows.
	 */
	if (nev > 0 && outbox) {
		if (lo < outbox_lo)
			outbox_lo = lo;
		if (hi > outbox_hi)
			outbox_hi = hi;
		st.on = keep;	/* outbox_claim writes the events themselves */
		if ((rc = arr_send(P_OUTBOX_ADD, a, 19, &lo)) < 0)
			goto out;
	} else if (nev > 0 && (rc = arr_send(P_LOG_EVENTS, a, 19, NULL)) < 0)
		goto out;
	if (totals) {
		for (i = 0; i < nu; i++)
			arr_text(&a[0], S(ur[i]->ev.user));
		if (outbox) {
			arr_keep(st.users, a, 1);
			st.requests = requests;
		} else if ((rc = arr_send(P_LOG_USERS, a, 1, &requests)) < 0)
			goto out;
	}
	for (i = 0; i < nd; i++) {
		const struct lent	*e = dr[i].e;

		arr_int(&a[0], tokq_period_start(TOKQ_W_DAY, e->ev.at));
		arr_text(&a[1], S(e->ev.user));
		arr_text(&a[2], S(e->ev.guild) ? S(e->ev.guild) : "");
		arr_text(&a[3], S(e->ev.model) ? S(e->ev.model) : "");
		arr_text(&a[4], S(e->ev.service) ? S(e->ev.service) : "");
		arr_text(&a[5], S(e->ev.kind) ? S(e->ev.kind) : "");
		arr_usage(&a[6], &dr[i].u);
	}
	if (nd > 0 && outbox)
		arr_keep(st.daily, a, 14);
	else if (nd > 0 && (rc = arr_send(P_LOG_DAILY, a, 14, NULL)) < 0)
		goto out;
	for (i = 0; i < nh; i++) {
		arr_int(&a[0], tokq_floor(hr[i].e->ev.at, BUCKET_HOUR));
		arr_text(&a[1], S(hr[i].e->ev.user));
		arr_usage(&a[2], &hr[i].u);
		arr_int(&a[10], hr[i].first);
		arr_int(&a[11], hr[i].last);
	}
	if (nh > 0 && outbox)
		arr_keep(st.hourly, a, 12);
	else if (nh > 0 && (rc = arr_send(P_LOG_HOURLY, a, 12, NULL)) < 0)
		goto out;
	for (i = 0; i < nb; i++) {
		arr_int(&a[0], br[i].e->bk.sc);
		arr_text(&a[1], S(br[i].e->bk.subject));
		arr_text(&a[2], S(br[i].e->bk.model));
		arr_int(&a[3], br[i].b.start);
		arr_int(&a[4], br[i].b.span);
		arr_int(&a[5], br[i].b.tokens);
		arr_int(&a[6], br[i].b.cost);
		arr_int(&a[7], br[i].b.requests);
	}
	if (nb > 0 && (rc = buckets_send(a)) < 0)
		goto out;
	for (i = 0; i < nk; i++) {
		arr_text(&a[0], S(kr[i]->key.key));
		arr_int(&a[1], kr[i]->key.fp);
		arr_int(&a[2], kr[i]->key.first);
		arr_int(&a[3], kr[i]->key.count);
		arr_int(&a[4], kr[i]->key.created);
	}
	if (nk > 0 && (rc = arr_send(P_LOG_KEYS, a, 5, NULL)) < 0)
		goto out;
	rc = 0;
	goto out;
oom:
	log_warnx("store: out of memory for the round's writes");
	pg_tx_failed = true;
	rc = -TOKQ_E_TEMP;
out:
	for (i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		free(a[i].p);
	hmap_clear(&dm, NULL);
	hmap_clear(&hm, NULL);
	hmap_clear(&bm, NULL);
	hmap_clear(&km, NULL);
	hmap_clear(&um, NULL);
	free(dr);
	free(hr);
	free(br);
	free(kr);
	free(ur);
	return rc;
}

/* Empty the log: what it held was sent, or is dropped. */
static void
lreset(void)
{
	int	 i;

	L.n = L.slen = 0;
	for (i = 0; i < L.nmarks; i++)
		L.marks[i].pos = L.marks[i].spos = 0;
}

/*
 * Before any statement is sent: queue the log's entries, summed, and a
 * SAVEPOINT in front of those of each open request that has any (or, when
 * the statement is a write, that has none yet: it is the request's).
 */
int
pglog_flush(bool write)
{
	size_t	 from = 0;
	int	 i, rc;

	if ((rc = lcheck()) < 0)
		return rc;
	for (i = 0; i < L.nmarks; i++) {
		struct lmark	*m = &L.marks[i];

		if (m->sp || (L.n <= m->pos && !write))
			continue;
		if ((rc = send_range(from, m->pos)) < 0 ||
		    (rc = pg_queue(P_SAVEPOINT, NULL)) < 0) {
			lreset();
			return rc;
		}
		from = m->pos;
		m->sp = true;
	}
	rc = send_range(from, L.n);
	lreset();
	return rc;
}

/* A request's mark; -TOKQ_E_INTERNAL when marks nest too deep. */
int
pglog_mark(void)
{
	if (L.nmarks == MARK_MAX) {
		log_warnx("store: requests nested too deep");
		return -TOKQ_E_INTERNAL;
	}
	L.marks[L.nmarks++] = (struct lmark){ L.n, L.slen, false };
	return 0;
}

/*
 * The innermost mark ends; with undo its entries not sent are dropped.
 * Returns whether its SAVEPOINT was sent (the caller releases it or rolls
 * back to it).
 */
bool
pglog_unmark(bool undo)
{
	struct lmark	*m;

	if (L.nmarks == 0)
		return false;
	m = &L.marks[--L.nmarks];
	if (undo) {
		L.n = m->pos;
		L.slen = m->spos;
	}
	return m->sp;
}

/* The commit's flush: the last of the round. */
int
pglog_flush_final(void)
{
	int	 rc;

	final = true;
	rc = pglog_flush(false);
	final = false;
	return rc;
}

/*
 * After the commit, in a segment of its own: the reports of the events the
 * round put in the outbox, ids lo to hi, in a transaction of their own
 * that need not wait for its WAL (own_tx), or in the round begun ahead.
 * outbox_claim (which writes the events) and the rest as the commit's
 * flush kept them, or outbox_apply.
 */
int
pglog_reports_send(int64_t lo, int64_t hi, bool own_tx)
{
	struct pgq	 q = { 0 };
	int		 rc;

	pgq_int(&q, lo);
	pgq_int(&q, hi);
	if (!((own_tx && (rc = pg_enqueue(P_REPORTS_ASYNC, NULL)) < 0) ||
	    (rc = pg_enqueue(st.on ? P_OUTBOX_CLAIM : P_OUTBOX_APPLY, &q)) < 0 ||
	    (st.users[0].p != NULL &&
	    (rc = arr_send(P_LOG_USERS, st.users, 1, &st.requests)) < 0) ||
	    (st.daily[0].p != NULL &&
	    (rc = arr_send(P_LOG_DAILY, st.daily, 14, NULL)) < 0) ||
	    (st.hourly[0].p != NULL &&
	    (rc = arr_send(P_LOG_HOURLY, st.hourly, 12, NULL)) < 0)))
		rc = 0;
	st_clear();
	return rc;
}

/* The round ends: nothing of it is kept here. */
void
pglog_clear(void)
{
	st_clear();
	L.n = L.slen = 0;
	L.nmarks = 0;
	L.oom = false;
	pgpf_clear();
}

static void	 pend_clear(void);

void
pglog_free(void)
{
	pglog_clear();
	pend_clear();
	free(L.e);
	free(L.s);
	memset(&L, 0, sizeof(L));
}

/*
 * The rows fetched ahead: by counter, the buckets at and after since,
 * kept for this transaction and served once.
 */
struct pf {
	int64_t		 since;
	size_t		 n;
	struct bucket	 b[];
};

static struct hmap	 pfm;		/* counter key -> struct pf */

static size_t
pf_key(char *buf, size_t len, enum scope sc, const char *subject,
    const char *model)
{
	size_t	 ls = subject ? strlen(subject) : 0, lm = model ? strlen(model) : 0;

	/* "<scope>\037<subject>\037<model>", as counter.c's keys */
	if ((int)sc < 0 || (int)sc > 9 || ls + lm + 4 > len)
		return 0;
	buf[0] = (char)('0' + (int)sc);
	buf[1] = '\037';
	memcpy(buf + 2, subject ? subject : "", ls);
	buf[2 + ls] = '\037';
	memcpy(buf + 3 + ls, model ? model : "", lm);
	buf[3 + ls + lm] = '\0';
	return 3 + ls + lm;
}

void
pgpf_clear(void)
{
	hmap_clear(&pfm, free);
}

/* A write to the counter: what was fetched of it is stale. */
void
pgpf_drop(enum scope sc, const char *subject, const char *model)
{
	char	 key[3 * TOKQ_ID_MAX + 16];
	size_t	 klen;

	if (pfm.len == 0)
		return;
	if (model == NULL) {	/* every model of the subject: rare, drop all */
		pgpf_clear();
		return;
	}
	if ((klen = pf_key(key, sizeof(key), sc, subject, model)) == 0)
		pgpf_clear();
	else
		free(hmap_deln(&pfm, key, klen));
}

/*
 * Serve the counter's buckets after since from the rows fetched ahead,
 * once: 1 when served (cb called as a load calls it), 0 when they were
 * not fetched, or < 0 when cb failed.  Rows fetched for an earlier since
 * are filtered as the load would filter them.
 */
int
pgpf_take(enum scope sc, const char *subject, const char *model,
    int64_t since, int (*cb)(void *, const struct bucket *), void *arg)
{
	char		 key[3 * TOKQ_ID_MAX + 16];
	struct pf	*p;
	size_t		 klen, i;
	int		 cbrc = 0;

	if (pfm.len == 0 ||
	    (klen = pf_key(key, sizeof(key), sc, subject, model)) == 0 ||
	    (p = hmap_getn(&pfm, key, klen)) == NULL || p->since > since)
		return 0;
	hmap_deln(&pfm, key, klen);
	for (i = 0; i < p->n && cbrc == 0; i++)
		if (p->b[i].start > since - BUCKET_HOUR &&
		    p->b[i].start + p->b[i].span > since)
			cbrc = cb(arg, &p->b[i]);
	free(p);
	return cbrc < 0 ? -TOKQ_E_INTERNAL : 1;
}

/* The wants asked before the round's transaction: sent with its begin. */
static struct {
	struct bucket_want	*w;
	size_t			 n;
} pend;

static void
pend_clear(void)
{
	size_t	 i;

	for (i = 0; i < pend.n; i++) {
		free((char *)pend.w[i].subject);
		free((char *)pend.w[i].model);
	}
	free(pend.w);
	pend.w = NULL;
	pend.n = 0;
}

/* The query's arrays of the wants w[0..n-1], into q; a[] holds them. */
static int
pf_arrays(const struct bucket_want *w, size_t n, struct arr a[4],
    struct pgq *q)
{
	size_t	 i;
	int	 rc = 0;

	for (i = 0; i < n; i++) {
		arr_int(&a[0], w[i].sc);
		arr_text(&a[1], w[i].subject ? w[i].subject : "");
		arr_text(&a[2], w[i].model ? w[i].model : "");
		arr_int(&a[3], w[i].since);
	}
	for (i = 0; i < 4; i++) {
		arr_put(&a[i], "}", 1);
		if (a[i].oom)
			rc = -TOKQ_E_INTERNAL;
		pgq_text(q, a[i].p);
	}
	return rc;
}

/*
 * Keep the rows of P_BUCKET_PREFETCH for the wants w[0..n-1] it was sent
 * (index in w, start, span, tokens, cost, requests; by index and start).
 */
static void
pf_fill(PGresult *r, const struct bucket_want *w, size_t n)
{
	char		 key[3 * TOKQ_ID_MAX + 16];
	struct pf	*p;
	size_t		 i, j, klen, row, nrows, first;

	nrows = (size_t)PQntuples(r);
	for (i = 0, row = 0; i < n; i++) {
		for (first = row; row < nrows &&
		    pg_int(r, (int)row, 0) == (int64_t)i + 1; row++)
			;
		if ((klen = pf_key(key, sizeof(key), w[i].sc, w[i].subject,
		    w[i].model)) == 0 || hmap_getn(&pfm, key, klen) != NULL)
			continue;
		if ((p = malloc(sizeof(*p) + (row - first) *
		    sizeof(struct bucket))) == NULL)
			return;
		p->since = w[i].since;
		p->n = row - first;
		for (j = 0; j < p->n; j++) {
			p->b[j].start = pg_int(r, (int)(first + j), 1);
			p->b[j].span = pg_int(r, (int)(first + j), 2);
			p->b[j].tokens = pg_int(r, (int)(first + j), 3);
			p->b[j].cost = pg_int(r, (int)(first + j), 4);
			p->b[j].requests = pg_int(r, (int)(first + j), 5);
		}
		if (hmap_putn(&pfm, key, klen, p) == -1) {
			free(p);
			return;
		}
	}
}

/*
 * Fetch the buckets of the n counters w ahead, in one statement.  Before
 * the round's transaction, or for the next round when this one's commit
 * sends its begin (pg_ahead), they are only kept, and sent in the begin's
 * round trip (pgpf_queue); in it, those not fetched yet are asked now.
 */
int
pg_bucket_prefetch(const struct bucket_want *w, size_t n)
{
	char			 key[3 * TOKQ_ID_MAX + 16];
	struct bucket_want	*sel;
	struct arr		 a[4] = { 0 };
	struct pgq		 q = { 0 };
	PGresult		*r;
	size_t			 i, k, klen;
	int			 rc;

	if (n == 0)
		return 0;
	if ((sel = calloc(n, sizeof(*sel))) == NULL)
		return -TOKQ_E_INTERNAL;
	/* Fetched already in this round, unless they are for the next. */
	for (i = k = 0; i < n; i++)
		if ((klen = pf_key(key, sizeof(key), w[i].sc, w[i].subject,
		    w[i].model)) != 0 && (pg_ahead || hmap_getn(&pfm, key, klen) == NULL))
			sel[k++] = w[i];
	if (!pg_tx_open || pg_ahead) {
		pend_clear();
		for (i = 0; i < k; i++)
			if ((sel[i].subject = strdup(sel[i].subject ?
			    sel[i].subject : "")) == NULL ||
			    (sel[i].model = strdup(sel[i].model ?
			    sel[i].model : "")) == NULL) {
				free((char *)sel[i].subject);
				break;
			}
		pend.w = sel;
		pend.n = i;
		return 0;
	}
	if (k == 0 || (rc = pg_writable("bucket_prefetch")) < 0) {
		free(sel);
		return 0;
	}
	/* Planned by index, as in the begin (P_INDEXED). */
	if ((rc = pf_arrays(sel, k, a, &q)) == 0)
		rc = pg_send(P_INDEXED, NULL);
	r = rc < 0 ? NULL : pg_query(P_BUCKET_PREFETCH, &q, &rc);
	if (r != NULL && (rc = pg_send(P_INDEXED_END, NULL)) < 0) {
		PQclear(r);
		r = NULL;
	}
	for (i = 0; i < 4; i++)
		free(a[i].p);
	if (r != NULL) {
		pf_fill(r, sel, k);
		PQclear(r);
	}
	free(sel);
	return r == NULL ? rc : 0;
}

/*
 * At the begin: queue the prefetch asked before it, if any; 1 when one
 * was queued (its result comes after the begin's), 0 when none.
 */
int
pgpf_queue(void)
{
	struct arr	 a[4] = { 0 };
	struct pgq	 q = { 0 };
	size_t		 i;
	int		 rc;

	if (pend.n == 0) {
		pend_clear();
		return 0;
	}
	if ((rc = pf_arrays(pend.w, pend.n, a, &q)) == 0)
		rc = pg_queue(P_BUCKET_PREFETCH, &q);
	for (i = 0; i < 4; i++)
		free(a[i].p);
	if (rc < 0)
		pend_clear();
	return rc < 0 ? rc : 1;
}

/* The begin's prefetch came back (r), or failed (NULL). */
void
pgpf_queued(PGresult *r)
{
	if (r != NULL)
		pf_fill(r, pend.w, pend.n);
	pend_clear();
}

/* ---- statements after the round's log --------------------------------- */

/* Statements that read the reports (events, daily, hourly, users, meta 'daily_requests'). */
static bool
reads_reports(enum pg_stmt id)
{
	switch (id) {
	case P_COUNTS:
	case P_EVENTS_SUM:
	case P_USER_HOURS:
	case P_USER_DAILY_TOTALS:
	case P_USER_MODELS_TOTALS:
	case P_USER_MODELS_SINCE:
	case P_VIEW_TOTALS:
	case P_VIEW_BY_USER:
	case P_VIEW_BY_GUILD:
	case P_VIEW_BY_MODEL:
	case P_VIEW_BY_SERVICE:
	case P_VIEW_BY_DAY:
	case P_VIEW_USER_ALL:
	case P_EVENTS_ASC:
	case P_EVENTS_DESC:
	case P_EVENTS_USER_ASC:
	case P_EVENTS_USER_DESC:
	case P_MONTH_USERS:
		return true;
	default:
		return false;
	}
}

/*
 * Statements that read or change the reports: the outbox is applied
 * before each (reports_first), so that they see every event acknowledged,
 * this round's too, and no event applied after a change of them undoes it.
 */
static bool
reports(enum pg_stmt id)
{
	switch (id) {
	case P_EVENTS_PRUNE:
	case P_HOURLY_PRUNE:
	case P_MONTH_ARCHIVE:
	case P_DAILY_FIRST:
	case P_DAILY_PAGE:
	case P_DAILY_EVENTS:
	case P_DAILY_IMPORT:
		return true;
	default:
		return reads_reports(id);
	}
}

static int
reports_first(enum pg_stmt id)
{
	struct pgq	 q = { 0 };

	if (!reports(id))
		return 0;
	pgq_int(&q, INT64_MIN);
	pgq_int(&q, INT64_MAX);
	return pg_enqueue(P_OUTBOX_APPLY, &q);
}

/*
 * Queue a write whose result is not needed, after the round's log: it is
 * checked at the next wait (a read's, or the commit's).
 */
int
pg_send(enum pg_stmt id, const struct pgq *q)
{
	int	 rc;

	if (pg_tx_failed)
		return -TOKQ_E_TEMP;
	if ((rc = pglog_flush(true)) < 0 || (rc = reports_first(id)) < 0)
		return rc;
	return pg_queue(id, q);
}

/* Statements that read only: the others are a request's writes. */
static bool
reads_only(enum pg_stmt id)
{
	switch (id) {
	case P_GEN:
	case P_JOURNAL:
	case P_INDEXED:
	case P_INDEXED_END:
	case P_ASYNC:
	case P_DURABLE:
	case P_MAINT_TRY:
	case P_META_GET:
	case P_DB_BYTES:
	case P_BUCKET_PREFETCH:
	case P_BUCKET_LOAD:
	case P_KEY_GET:
	case P_RULE_LOAD:
	case P_PLAN_LOAD:
	case P_BYPASS_LOAD:
	case P_PRICE_LOAD:
	case P_HOLD_LOAD:
		return true;
	default:
		return reads_reports(id);
	}
}

/*
 * Run a statement and return its result (the caller PQclears it), after
 * the round's log and every statement queued before it; NULL with *rc set
 * on failure.
 */
PGresult *
pg_query(enum pg_stmt id, const struct pgq *q, int *rc)
{
	PGresult	*r;

	if (pg_tx_failed) {
		*rc = -TOKQ_E_TEMP;
		return NULL;
	}
	if ((pg_tx_open && (*rc = pglog_flush(!reads_only(id))) < 0) ||
	    (*rc = pg_ready()) < 0 || (*rc = reports_first(id)) < 0 ||
	    (*rc = pg_enqueue(id, q)) < 0)
		return NULL;
	if ((*rc = pg_wait(&r, 1)) < 0) {
		if (pg_tx_open)
			pg_tx_failed = true;
		return NULL;
	}
	if (r == NULL) {
		log_warnx("store: %s: statement %d returned nothing", pg_where, (int)id);
		*rc = -TOKQ_E_INTERNAL;
	}
	return r;
}

/* Run a statement that returns no rows; the number of rows it changed. */
int
pg_exec(enum pg_stmt id, const struct pgq *q)
{
	PGresult	*r;
	int		 rc;

	if ((r = pg_query(id, q, &rc)) == NULL)
		return rc;
	rc = atoi(PQcmdTuples(r));
	PQclear(r);
	return rc;
}

/* Writes only inside the round's transaction, and not after it failed. */
int
pg_writable(const char *what)
{
	if (!pg_tx_open) {
		log_warnx("store: %s outside a transaction", what);
		return -TOKQ_E_INTERNAL;
	}
	if (pg_tx_failed || !pg_connected())
		return -TOKQ_E_TEMP;
	return 0;
}

/*
 * The round began: the generation its commit will write, and whether
 * other daemons are there to read journal rows of it.
 */
void
pglog_round(int64_t gen, bool rows)
{
	round_gen = gen;
	round_rows = rows;
	journaled = false;
	outbox_lo = INT64_MAX;
	outbox_hi = INT64_MIN;
}

/*
 * The ids [*lo, *hi] of the events the round put in the outbox; false
 * when it put none.
 */
bool
pglog_outbox(int64_t *lo, int64_t *hi)
{
	*lo = outbox_lo;
	*hi = outbox_hi;
	return outbox_lo <= outbox_hi;
}

/* Bucket adds went out with journal rows: the commit writes a generation. */
bool
pglog_journaled(void)
{
	return journaled;
}
