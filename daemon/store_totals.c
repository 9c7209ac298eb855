/*
 * store_totals.c: the record, and the totals written behind it.
 *
 * The raw events are the record.  sq_event_add writes one at once, with
 * an id given here and never reused; what it adds to the daily totals and
 * to its user's hour, and what quota.c adds to the quota buckets
 * (sq_bucket_add), waits in memory, added up per row (struct pendset),
 * and goes out about a second later (PEND_USEC), or once PEND_MAX rows
 * wait, in key order.  A record touches a dozen b-tree pages when it
 * writes them itself: an event, a daily row, an hour and six buckets with
 * their indexes, each page copied whole into the WAL; written behind, a
 * second's records share the pages.
 *
 * In parts.  Under load a second's rows are ~25,000, and written in one
 * commit they stalled every request for 75-125 ms.  So when they are due
 * they become the set going out (`out`), sorted once, and each commit
 * (pend_step) writes the next part of it, FLUSH_MIN rows or 1/FLUSH_PARTS
 * of the set, whichever is more, while new records start the next pending
 * set.  Sets go out one after the other: the next waits until the last
 * part of the one before is written (or, past PEND_MAX, writes its rest at
 * once).
 *
 * Recovery.  Nothing is lost in a crash: meta 'totals_through' is the last
 * event id whose amounts are in the tables, moved up in the transaction of
 * a set's last part, and at start sq_replay() adds the events after it
 * again.  As ids are never reused, an event is after the mark exactly when
 * its amounts are not all written.  Within a set cut short, some rows are:
 * each row written says in `thru` the last event id of its set, and meta
 * 'flushing_through' names the set going out, so the replay takes back the
 * rows that set wrote before it stopped (pend_unwritten).  When a batch
 * fails, memory is dropped (sq_rollback) and replayed the same way from
 * what the database kept.
 *
 * Readers of the tables see the pending amounts: sq_bucket_load adds
 * those not yet written to what it reads, and so do a user's own totals
 * and hours (store_views.c, through daily_pending and hourly_get, and
 * sq_counts here); the other daily totals' readers (stats and reports)
 * call sq_settle() first (they do it themselves), and so does every
 * other write (sq_mark) and maintenance before it reads or rewrites
 * totals or prunes events: they write all that waits.
 *
 * Savepoints.  A write made of several statements, and each request, runs
 * under a savepoint (sp_begin, sp_end) that covers the pending amounts
 * too: an undo log, with a mark per savepoint level, puts back what a
 * savepoint rolled back had added.  Writing the pending rows out inside a
 * savepoint would let a rollback drop them from the table after they left
 * memory: refused.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_db.h"

#define PEND_USEC	(1000 * 1000)
#define PEND_MAX	50000
#define FLUSH_MIN	256		/* rows, at ~4 us each */
#define FLUSH_PARTS	64
#define SP_DEPTH_MAX	8

struct pendset		 pend;
struct pend_out		 out;
int64_t			 next_id;
static uint64_t		 pend_usec = PEND_USEC;
static size_t		 part_min = FLUSH_MIN;
/*
 * Users known to have a daily row, in the table or in the open batch
 * (forgotten with the batch): a daily row of a user not known is looked
 * for once, and counts a new user in meta 'daily_users' when none is found.
 */
struct hmap		 known_users;
/* The undo log of the pending additions, and its mark at each savepoint. */
static struct pend_undo	*undo;
static size_t		 undo_n, undo_cap;
static size_t		 undo_mark[SP_DEPTH_MAX];
int			 sp_depth;

/*
 * Append s and its NUL to the key at *len; false when it does not fit.
 * NULL is "", as the keyed tables spell an absent name.
 */
static bool
key_cat(char *key, size_t size, size_t *len, const char *s)
{
	size_t	 l = s ? strlen(s) : 0;

	if (*len + l + 1 > size)
		return false;
	memcpy(key + *len, s ? s : "", l + 1);
	*len += l + 1;
	return true;
}

/*
 * The pending-map key of a counter: scope, subject and model, NUL apart, so
 * that pend_write reads them back out of the key.  0 when too long.
 */
static size_t
pend_key(char *key, size_t size, enum scope sc, const char *subject,
    const char *model)
{
	size_t	 len = 1;

	key[0] = (char)('0' + sc);
	if (!key_cat(key, size, &len, subject) || !key_cat(key, size, &len, model))
		return 0;
	return len - 1;
}

/*
 * The pending-map key of a daily row: the day as 16 hex digits, sign bit
 * flipped (so that keys sort by day), then user, guild, model, service and
 * kind, each ended by a NUL.  Returns its length, 0 when too long.  The
 * row (struct dpend) keeps the day as a number too.
 */
static void
time_key(char *key, int64_t t)
{
	static const char	 hex[] = "0123456789abcdef";
	uint64_t		 d = (uint64_t)t ^ (1ULL << 63);
	int			 i;

	for (i = 15; i >= 0; i--, d >>= 4)
		key[i] = hex[d & 0xf];
	key[16] = '\0';
}

static size_t
daily_key(char *key, size_t size, int64_t day, const struct event *ev)
{
	size_t			 len = TIME_KEY;

	if (size < len)
		return 0;
	time_key(key, day);
	if (!key_cat(key, size, &len, ev->user) ||
	    !key_cat(key, size, &len, ev->guild) ||
	    !key_cat(key, size, &len, ev->model) ||
	    !key_cat(key, size, &len, ev->service) ||
	    !key_cat(key, size, &len, ev->kind))
		return 0;
	return len - 1;
}

/*
 * The pending-map key of a user's hour: the hour as a daily key has its
 * day, then the user; (hour, user) is the order of the table's key.
 */
static size_t
hourly_key(char *key, size_t size, int64_t hour, const char *user)
{
	size_t	 len = TIME_KEY;

	if (size < len)
		return 0;
	time_key(key, hour);
	if (!key_cat(key, size, &len, user))
		return 0;
	return len - 1;
}

static void
pend_started(void)
{
	if (pend.first == 0)
		pend.first = mono_usec();
}

/*
 * Log an addition for the savepoints open, if any: the amounts before it
 * (old), which an undo puts back exactly, even where the sum saturated.
 */
static int
undo_log(struct pend *p, size_t i, struct usage *du, const struct usage *d)
{
	if (sp_depth == 0)
		return 0;
	if (undo_n == undo_cap) {
		size_t			 ncap = undo_cap ? undo_cap * 2 : 64;
		struct pend_undo	*nu = reallocarray(undo, ncap, sizeof(*nu));

		if (nu == NULL)
			return -TOKQ_E_INTERNAL;
		undo = nu;
		undo_cap = ncap;
	}
	undo[undo_n++] = (struct pend_undo){ p, i, du, *d };
	return 0;
}

/* Undo the additions logged since mark: their savepoint rolled back. */
static void
pend_undo(size_t mark)
{
	while (undo_n > mark) {
		struct pend_undo	*u = &undo[--undo_n];
		struct bucket		*b;

		if (u->p == NULL) {
			*u->du = u->d;
			continue;
		}
		b = &u->p->b[u->i];
		b->tokens = u->d.total;
		b->cost = u->d.cost;
		b->requests = u->d.requests;
	}
}

/*
 * A write made of several statements runs under a savepoint: sp_begin,
 * the statements, then sp_end with their result, which releases the
 * savepoint or undoes them.  Returns rc, or the savepoint's failure.
 */
int
sp_begin(const char *what)
{
	int	 rc;

	if ((rc = writable(what)) < 0)
		return rc;
	if (sp_depth == SP_DEPTH_MAX) {
		log_warnx("store: %s: savepoints nested too deep", what);
		return -TOKQ_E_INTERNAL;
	}
	if ((rc = run(stmt(S_SAVEPOINT), what)) < 0)
		return rc;
	undo_mark[sp_depth++] = undo_n;
	return 0;
}

int
sp_end(int rc, const char *what)
{
	int	 r;

	sp_depth--;
	if (rc < 0)
		pend_undo(undo_mark[sp_depth]);
	else if (sp_depth == 0)
		undo_n = 0;
	if (rc < 0 && !tx_failed && !sqlite3_get_autocommit(db))
		run(stmt(S_ROLLBACK_TO), what);
	if (tx_failed || sqlite3_get_autocommit(db))
		return rc < 0 ? rc : -TOKQ_E_TEMP;
	if ((r = run(stmt(S_RELEASE), what)) < 0)
		return r;
	return rc;
}

/* The set going out is written, or given up. */
static void
out_clear(void)
{
	pendset_clear(&out.set);
	out.next = 0;
	out.open = false;
}

/* Forget every pending row: the batch is lost, and a replay comes next. */
void
pend_clear(void)
{
	pendset_clear(&pend);
	out_clear();
	undo_n = 0;
}

/*
 * Add the event's amounts to the pending rows of its UTC day (with its
 * guild, model, service and kind) and of its user's hour.
 */
static int
totals_pend(const struct event *ev)
{
	char		 key[6 * TOKQ_ID_MAX + 64];
	int64_t		 day = tokq_period_start(TOKQ_W_DAY, ev->at);
	int64_t		 hour = tokq_floor(ev->at, BUCKET_HOUR);
	size_t		 klen;
	struct dpend	*d;
	struct hpend	*h;

	if ((klen = daily_key(key, sizeof(key), day, ev)) == 0) {
		log_warnx("store: daily key too long");
		return -TOKQ_E_INTERNAL;
	}
	if ((d = hmap_getn(&pend.daily, key, klen)) == NULL) {
		if ((d = pend_row_new(&pend, ROW_DAILY, key, klen, day,
		    sizeof(*d))) == NULL)
			return -TOKQ_E_INTERNAL;
		d->day = day;
		if (day < pend.min_day)
			pend.min_day = day;
	}
	if (undo_log(NULL, 0, &d->u, &d->u) < 0)
		return -TOKQ_E_INTERNAL;
	usage_add(&d->u, &ev->u);

	klen = hourly_key(key, sizeof(key), hour, ev->user);
	if ((h = hmap_getn(&pend.hourly, key, klen)) == NULL) {
		if ((h = pend_row_new(&pend, ROW_HOURLY, key, klen, hour,
		    sizeof(*h))) == NULL)
			return -TOKQ_E_INTERNAL;
		h->hour = hour;
		h->first = h->last = ev->id;
	}
	if (undo_log(NULL, 0, &h->u, &h->u) < 0)
		return -TOKQ_E_INTERNAL;
	usage_add(&h->u, &ev->u);
	if (ev->id < h->first)
		h->first = ev->id;
	if (ev->id > h->last)
		h->last = ev->id;
	pend_started();
	return 0;
}

/*
 * Insert the event, set ev->id, and add its amounts to the daily totals
 * of its UTC day, user, guild, model, service and kind (pending, written
 * behind): both or neither.
 */
int
sq_event_add(struct event *ev)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((rc = sp_begin("event_add")) < 0)
		return rc;
	st = stmt(S_EVENT_ADD);
	sqlite3_bind_int64(st, 1, ev->at);
	bind_text(st, 2, ev->user);
	bind_text(st, 3, ev->guild);
	bind_text(st, 4, ev->channel);
	bind_text(st, 5, ev->model);
	bind_text(st, 6, ev->service);
	bind_text(st, 7, ev->kind);
	bind_text(st, 8, ev->session);
	if (ev->call >= 0)
		sqlite3_bind_int64(st, 9, ev->call);
	bind_text(st, 10, ev->meta);
	bind_usage(st, 11, &ev->u);
	sqlite3_bind_int64(st, 19, next_id);
	if ((rc = run(st, "event_add")) < 0)
		return sp_end(rc, "event_add");
	ev->id = next_id++;
	rc = totals_pend(ev);
	return sp_end(rc < 0 ? rc : 0, "event_add");
}

/* All its additions undone. */
static bool
bucket_empty(const struct bucket *b)
{
	return b->requests == 0 && b->tokens == 0 && b->cost == 0;
}

/* Bind a bucket's identity to ?1..?5. */
static void
bind_bucket(sqlite3_stmt *st, enum scope sc, const char *subject,
    const char *model, const struct bucket *b)
{
	sqlite3_bind_int(st, 1, sc);
	bind_key(st, 2, subject);
	bind_key(st, 3, model);
	sqlite3_bind_int64(st, 4, b->start);
	sqlite3_bind_int64(st, 5, b->span);
}

/*
 * Add the amounts of b to the counter's bucket at b's start and span, and
 * mark it written by the part of the totals that ends at event `thru`.
 */
static int
bucket_upsert(enum scope sc, const char *subject, const char *model,
    const struct bucket *b, int64_t thru)
{
	sqlite3_stmt	*st = stmt(S_BUCKET_ADD);
	int		 rc;

	bind_bucket(st, sc, subject, model, b);
	sqlite3_bind_int64(st, 6, b->tokens);
	sqlite3_bind_int64(st, 7, b->cost);
	sqlite3_bind_int64(st, 8, b->requests);
	sqlite3_bind_int64(st, 9, thru);
	rc = run(st, "bucket_add");
	return rc < 0 ? rc : 0;
}

/* Bind a daily row's key to ?1..?6: its day, then the fields past the day. */
static void
bind_daily(sqlite3_stmt *st, const struct pend_row *r)
{
	const struct dpend	*d = r->val;
	const char		*f = r->key + TIME_KEY;
	int			 i;

	sqlite3_bind_int64(st, 1, d->day);
	for (i = 2; i <= DAILY_FIELDS; i++, f += strlen(f) + 1)
		bind_key(st, i, f);
}

/* Has user a daily row, written?  1 yes, 0 no, or < 0. */
static int
user_written(const char *user)
{
	sqlite3_stmt	*st = stmt(S_USER_WRITTEN);
	int		 rc;

	if (hmap_get(&known_users, user) != NULL)
		return 1;
	bind_text(st, 1, user);
	if ((rc = row(st, "user_written")) == 1) {
		stmt_done(st);
		if (hmap_put(&known_users, user, &known_users) == -1)
			return -TOKQ_E_INTERNAL;
	}
	return rc;
}

/* Write a daily row, counting its requests and a user new to the table. */
static int
daily_write(const struct pend_row *r, int64_t *requests, int64_t *users)
{
	sqlite3_stmt		*st = stmt(S_DAILY_ADD);
	const struct dpend	*d = r->val;
	const char		*user = r->key + TIME_KEY;
	int			 rc;

	if (usage_empty(&d->u))
		return 0;
	if ((rc = user_written(user)) < 0)
		return rc;
	if (rc == 0) {
		if (hmap_put(&known_users, user, &known_users) == -1)
			return -TOKQ_E_INTERNAL;
		(*users)++;
	}
	*requests = sat_add(*requests, d->u.requests);
	bind_daily(st, r);
	bind_usage(st, 7, &d->u);
	sqlite3_bind_int64(st, 15, out.through);
	rc = run(st, "daily_add");
	return rc < 0 ? rc : 0;
}

/* Write a user's hour. */
static int
hourly_write(const struct pend_row *r)
{
	sqlite3_stmt	*st = stmt(S_HOURLY_ADD);
	struct hpend	*h = r->val;
	int		 rc;

	h->written = true;
	if (usage_empty(&h->u))
		return 0;
	sqlite3_bind_int64(st, 1, h->hour);
	bind_key(st, 2, r->key + TIME_KEY);
	bind_usage(st, 3, &h->u);
	sqlite3_bind_int64(st, 11, h->first);
	sqlite3_bind_int64(st, 12, h->last);
	sqlite3_bind_int64(st, 13, out.through);
	rc = run(st, "hourly_add");
	return rc < 0 ? rc : 0;
}

/* The counter in a pending row's key: scope, subject, model. */
static void
pend_row_counter(const struct pend_row *r, enum scope *sc,
    const char **subject, const char **model)
{
	*sc = r->key[0] - '0';
	*subject = r->key + 1;
	*model = *subject + strlen(*subject) + 1;
}

static int
pend_write(const struct pend_row *r)
{
	struct pend	*p = r->val;
	const char	*subject, *model;
	enum scope	 sc;
	size_t		 i;
	int		 rc = 0;

	pend_row_counter(r, &sc, &subject, &model);
	for (i = 0; i < p->n && rc == 0; i++)
		if (!bucket_empty(&p->b[i]))
			rc = bucket_upsert(sc, subject, model, &p->b[i], out.through);
	p->written = true;
	return rc;
}

/*
 * The pending rows become the set going out, through the last event given
 * an id.  Only when no set is going out.
 */
static void
pend_freeze(void)
{
	pendset_sort(&pend);
	out.set = pend;
	pendset_init(&pend);
	out.next = 0;
	out.through = next_id - 1;
	out.open = true;
}

/*
 * Write the next part of the set going out into the open batch, or all of
 * it.  The first of several parts names the set in 'flushing_through'; the
 * last moves 'totals_through' up to it, and the set is gone.
 */
static int
out_write(bool all)
{
	size_t	 end = out.set.nrows, step = out.set.nrows / FLUSH_PARTS;
	int64_t	 requests = 0, users = 0;
	int	 rc = 0;

	if (!out.open)
		return 0;
	if (step < part_min)
		step = part_min;
	if (!all && out.set.nrows - out.next > step)
		end = out.next + step;
	if (out.next == 0 && end < out.set.nrows)
		rc = sq_meta_set("flushing_through", out.through);
	for (; out.next < end && rc == 0; out.next++) {
		const struct pend_row	*r = &out.set.rows[out.next];

		rc = r->kind == ROW_DAILY ? daily_write(r, &requests, &users) :
		    r->kind == ROW_HOURLY ? hourly_write(r) : pend_write(r);
	}
	if (rc == 0 && requests != 0)
		rc = meta_add("daily_requests", requests);
	if (rc == 0 && users != 0)
		rc = meta_add("daily_users", users);
	if (rc == 0 && out.next == out.set.nrows) {
		rc = sq_meta_set("totals_through", out.through);
		out_clear();
	}
	return rc;
}

/*
 * Write every pending row into the open batch, and move 'totals_through'
 * up to the last event given an id.  On failure the batch is lost
 * (sq_commit says so) and memory is replayed.
 */
int
pend_flush(const char *what)
{
	int	 rc;

	if (!out.open && pend.first == 0)
		return 0;
	if (sp_depth > 0) {
		log_warnx("store: %s: pending totals inside a savepoint", what);
		return -TOKQ_E_INTERNAL;
	}
	if ((rc = writable(what)) < 0)
		return rc;
	if ((rc = out_write(true)) == 0 && pend.first != 0) {
		pend_freeze();
		rc = out_write(true);
	}
	if (rc < 0)
		tx_failed = true;	/* part of them may be written: all or none */
	return rc;
}

/*
 * Write every pending row when some is of a day before `day` or a bucket
 * starting before `start`: what maintenance is about to read or rewrite.
 * Rows of the present, which it leaves alone, need not go out at every
 * step (a full write per step made the steps of a month's archive 3.5 ms).
 */
int
pend_flush_older(const char *what, int64_t day, int64_t start)
{
	if ((out.open && (out.set.min_day < day || out.set.min_start < start)) ||
	    pend.min_day < day || pend.min_start < start)
		return pend_flush(what);
	return 0;
}

/*
 * At a commit: the next part of the set going out, if one is; the pending
 * rows become the next set once they are due (a second old, or too many),
 * and when they are too many before the set going out is done, its rest
 * goes at once.
 */
void
pend_step(void)
{
	bool	 full = pend.nrows >= PEND_MAX;
	int	 rc = 0;

	if (sp_depth > 0 || writable("commit") < 0)
		return;
	if (out.open && full)
		rc = out_write(true);
	if (rc == 0 && !out.open && pend.first != 0 &&
	    (full || mono_usec() - pend.first >= pend_usec))
		pend_freeze();
	if (rc == 0)
		rc = out_write(false);
	if (rc < 0)
		tx_failed = true;
}

/* Tests: pending rows due after usec, and parts of at least min rows. */
void
sq_tune_parts(uint64_t usec, size_t min)
{
	pend_usec = usec;
	part_min = min > 0 ? min : 1;
}

/* Is the row's thru `through`: written by that set? 1 yes, 0 no, or < 0. */
static int
thru_is(sqlite3_stmt *st, int64_t through)
{
	int	 rc;

	if ((rc = row(st, "replay")) == 1) {
		rc = sqlite3_column_int64(st, 0) == through;
		stmt_done(st);
	}
	return rc;
}

/*
 * The replay added again the events of a set that went out in parts and
 * stopped short: take back the pending amounts of the rows it wrote.
 */
static int
pend_unwritten(int64_t through)
{
	size_t		 i, j;
	int		 rc = 0;

	for (i = 0; i < pend.nrows && rc >= 0; i++) {
		struct pend_row	*r = &pend.rows[i];
		struct pend	*p = r->val;
		sqlite3_stmt	*st;
		const char	*subject, *model;
		enum scope	 sc;

		if (r->kind == ROW_DAILY) {
			bind_daily(stmt(S_DAILY_THRU), r);
			if ((rc = thru_is(stmt(S_DAILY_THRU), through)) == 1)
				memset(&((struct dpend *)r->val)->u, 0,
				    sizeof(struct usage));
			continue;
		}
		if (r->kind == ROW_HOURLY) {
			st = stmt(S_HOURLY_THRU);
			sqlite3_bind_int64(st, 1, ((struct hpend *)r->val)->hour);
			bind_key(st, 2, r->key + TIME_KEY);
			if ((rc = thru_is(st, through)) == 1)
				memset(&((struct hpend *)r->val)->u, 0,
				    sizeof(struct usage));
			continue;
		}
		pend_row_counter(r, &sc, &subject, &model);
		for (j = 0; j < p->n && rc >= 0; j++) {
			bind_bucket(stmt(S_BUCKET_THRU), sc, subject, model, &p->b[j]);
			if ((rc = thru_is(stmt(S_BUCKET_THRU), through)) == 1)
				p->b[j].tokens = p->b[j].cost = p->b[j].requests = 0;
		}
	}
	return rc < 0 ? rc : 0;
}

/*
 * Add the amounts of the events after 'totals_through' to the pending
 * totals, and call cb with each (to add them to the quota buckets): what
 * a crash, or a failed batch, left unwritten.  Of a set cut short (those
 * up to 'flushing_through'), what its parts wrote is taken back before
 * the later events are added.  Inside a batch, after a rollback or at
 * start.  Returns the number of events, or a code.
 */
int
sq_replay(int (*cb)(void *, const struct event *), void *arg)
{
	sqlite3_stmt	*st = stmt(S_EVENTS_AFTER);
	struct event	 ev;
	int64_t		 through = 0, flushing = 0;
	bool		 parted;
	int		 rc, cbrc = 0, n = 0;

	if ((rc = writable("replay")) < 0)
		return rc;
	pend_clear();
	if ((rc = sq_meta_get("totals_through", &through)) < 0 ||
	    (rc = sq_meta_get("flushing_through", &flushing)) < 0)
		return rc;
	parted = flushing > through;
	sqlite3_bind_int64(st, 1, through);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		column_event(st, &ev);
		if (parted && ev.id > flushing) {
			if ((cbrc = pend_unwritten(flushing)) < 0)
				break;
			parted = false;
		}
		if ((cbrc = totals_pend(&ev)) < 0 || (cbrc = cb(arg, &ev)) != 0)
			break;
		n++;
	}
	if ((rc = rows_done(st, rc, cbrc, "replay")) < 0 ||
	    (parted && (rc = pend_unwritten(flushing)) < 0))
		return rc;
	return n;
}

/* Add b's amounts to the bucket of the counter at b's start and span. */
int
sq_bucket_add(enum scope sc, const char *subject, const char *model,
    const struct bucket *b)
{
	char		 key[2 * TOKQ_ID_MAX + 64];
	size_t		 klen, i;
	struct pend	*p;
	int		 rc;

	if ((rc = writable("bucket_add")) < 0)
		return rc;
	if ((klen = pend_key(key, sizeof(key), sc, subject, model)) == 0)
		return bucket_upsert(sc, subject, model, b, 0);
	if ((p = hmap_getn(&pend.buckets, key, klen)) == NULL) {
		if ((p = pend_row_new(&pend, ROW_COUNTER, key, klen, 0,
		    sizeof(*p))) == NULL)
			return -TOKQ_E_INTERNAL;
		p->b = p->in;
		p->cap = PEND_INLINE;
	}
	if (b->start < pend.min_start)
		pend.min_start = b->start;
	for (i = 0; i < p->n; i++)
		if (p->b[i].start == b->start && p->b[i].span == b->span)
			break;
	if (i == p->n) {
		if (p->n == p->cap) {
			struct bucket	*nb = pend_alloc(&pend, 2 * p->cap * sizeof(*nb));

			if (nb == NULL)
				return -TOKQ_E_INTERNAL;
			memcpy(nb, p->b, p->n * sizeof(*nb));
			p->b = nb;
			p->cap *= 2;
		}
		p->b[p->n++] = (struct bucket){ b->start, b->span, 0, 0, 0 };
	}
	if (undo_log(p, i, NULL, &(struct usage){ .total = p->b[i].tokens,
	    .cost = p->b[i].cost, .requests = p->b[i].requests }) < 0)
		return -TOKQ_E_INTERNAL;
	p->b[i].tokens = sat_add(p->b[i].tokens, b->tokens);
	p->b[i].cost = sat_add(p->b[i].cost, b->cost);
	p->b[i].requests = sat_add(p->b[i].requests, b->requests);
	pend_started();
	return 0;
}

/*
 * Call cb with each bucket of the counter that ends after since, by start
 * (a minute and the hour it lies in, if both exist, minute second), then
 * with the open batch's pending additions to the counter, which may repeat
 * a bucket already given.
 */
int
sq_bucket_load(enum scope sc, const char *subject, const char *model,
    int64_t since, int (*cb)(void *, const struct bucket *), void *arg)
{
	sqlite3_stmt	*st = stmt(S_BUCKET_LOAD);
	const struct pendset *sets[] = { &out.set, &pend };
	struct bucket	 b;
	struct pend	*p;
	char		 key[2 * TOKQ_ID_MAX + 64];
	size_t		 klen, i, s;
	int		 rc, cbrc = 0;

	sqlite3_bind_int(st, 1, sc);
	bind_key(st, 2, subject);
	bind_key(st, 3, model);
	sqlite3_bind_int64(st, 4, since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		b.start = sqlite3_column_int64(st, 0);
		b.span = sqlite3_column_int64(st, 1);
		b.tokens = sqlite3_column_int64(st, 2);
		b.cost = sqlite3_column_int64(st, 3);
		b.requests = sqlite3_column_int64(st, 4);
		if ((cbrc = cb(arg, &b)) != 0)
			break;
	}
	if ((rc = rows_done(st, rc, cbrc, "bucket_load")) != 0)
		return rc;
	/* And what waits, not yet written. */
	if ((klen = pend_key(key, sizeof(key), sc, subject, model)) == 0)
		return rc;
	for (s = 0; s < 2; s++) {
		if (sets[s]->buckets.len == 0 ||
		    (p = hmap_getn(&sets[s]->buckets, key, klen)) == NULL ||
		    p->written)
			continue;
		for (i = 0; i < p->n && rc == 0; i++)
			if (p->b[i].start + p->b[i].span > since &&
			    !bucket_empty(&p->b[i]))
				rc = cb(arg, &p->b[i]);
	}
	return rc;
}

/* Drop the subject's buckets: of model only, or of every model and pooled. */
int
sq_bucket_clear(enum scope sc, const char *subject, const char *model)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((rc = writable("bucket_clear")) < 0 || (rc = pend_flush("bucket_clear")) < 0)
		return rc;
	st = stmt(model ? S_BUCKET_CLEAR_MODEL : S_BUCKET_CLEAR);
	sqlite3_bind_int(st, 1, sc);
	bind_key(st, 2, subject);
	if (model)
		bind_key(st, 3, model);
	rc = run(st, "bucket_clear");
	return rc < 0 ? rc : 0;
}

/*
 * The sums of user's hour that starts at `hour`, from the table and what
 * waits in memory, and the ids that bound its events (first INT64_MAX,
 * last INT64_MIN when none).  Returns 1 when the user has the hour, 0
 * when not, or a negative code.
 */
int
hourly_get(int64_t hour, const char *user, struct usage *u, int64_t *first,
    int64_t *last)
{
	const struct pendset	*sets[] = { &out.set, &pend };
	sqlite3_stmt		*st = stmt(S_HOURLY_GET);
	char			 key[TOKQ_ID_MAX + 64];
	const struct hpend	*h;
	size_t			 klen, s;
	int			 found;

	memset(u, 0, sizeof(*u));
	*first = INT64_MAX;
	*last = INT64_MIN;
	sqlite3_bind_int64(st, 1, hour);
	bind_key(st, 2, user);
	if ((found = row(st, "hourly_get")) < 0)
		return found;
	if (found == 1) {
		column_usage(st, 0, u);
		*first = sqlite3_column_int64(st, 8);
		*last = sqlite3_column_int64(st, 9);
		stmt_done(st);
	}
	if ((klen = hourly_key(key, sizeof(key), hour, user)) == 0)
		return found;
	for (s = 0; s < 2; s++) {
		if (sets[s]->hourly.len == 0 ||
		    (h = hmap_getn(&sets[s]->hourly, key, klen)) == NULL ||
		    h->written)
			continue;
		usage_add(u, &h->u);
		if (h->first < *first)
			*first = h->first;
		if (h->last > *last)
			*last = h->last;
		found = 1;
	}
	return found;
}

/*
 * A user's own totals are read with what waits in memory added, not
 * written out first (sq_settle): under mixed load at 50 clients a
 * `tokq usage` wrote a second's ~25,000 rows at once and held every
 * request up for 80-140 ms.  daily_pending() calls cb with each of the
 * user's daily rows not yet in the table: the unwritten part of the set
 * going out, and the pending set.  Each row is listed once, as one UTC day
 * of one (guild, model, service, kind).
 */
int
daily_pending(const char *user,
    int (*cb)(void *, int64_t day, const char *model, const struct usage *),
    void *arg)
{
	const struct pendset	*sets[] = { &out.set, &pend };
	size_t			 i, s;
	int			 rc;

	for (s = 0; s < 2; s++) {
		if (s == 0 && !out.open)
			continue;
		for (i = s == 0 ? out.next : 0; i < sets[s]->nrows; i++) {
			const struct pend_row	*r = &sets[s]->rows[i];
			const struct dpend	*d = r->val;
			const char		*f = r->key + TIME_KEY, *model;

			if (r->kind != ROW_DAILY || strcmp(f, user) != 0 ||
			    usage_empty(&d->u))
				continue;
			model = f + strlen(f) + 1;		/* the guild */
			model += strlen(model) + 1;
			if ((rc = cb(arg, d->day, model, &d->u)) != 0)
				return rc;
		}
	}
	return 0;
}

/*
 * All-time events recorded (pruned ones included) and distinct users: what
 * the daily rows count (meta, kept up as they are written), and the rows
 * not yet written, each of whose users is looked for once.
 */
int
sq_counts(int64_t *events, int64_t *users)
{
	const struct pendset	*sets[] = { &out.set, &pend };
	struct hmap		 seen = { 0 };
	size_t			 i, s;
	int			 rc;

	*events = *users = 0;
	if ((rc = sq_meta_get("daily_requests", events)) < 0 ||
	    (rc = sq_meta_get("daily_users", users)) < 0)
		return rc;
	for (s = 0, rc = 0; s < 2 && rc >= 0; s++) {
		if (s == 0 && !out.open)
			continue;
		for (i = s == 0 ? out.next : 0; i < sets[s]->nrows && rc >= 0; i++) {
			const struct pend_row	*r = &sets[s]->rows[i];
			const struct dpend	*d = r->val;
			const char		*user = r->key + TIME_KEY;

			if (r->kind != ROW_DAILY || usage_empty(&d->u))
				continue;
			*events = sat_add(*events, d->u.requests);
			if (hmap_get(&seen, user) != NULL ||
			    (rc = user_written(user)) != 0)
				continue;
			if (hmap_put(&seen, user, &seen) == -1)
				rc = -TOKQ_E_INTERNAL;
			else
				(*users)++;
		}
	}
	hmap_clear(&seen, NULL);
	return rc < 0 ? rc : 0;
}

/* Free what the store keeps between batches: it is closing. */
void
totals_free(void)
{
	free(undo);
	undo = NULL;
	undo_cap = 0;
	pendset_sort_free();
}

/*
 * Amounts no event stands for (a history moved from another store, where
 * its events were pruned) added to a daily row.  The totals waiting are
 * written first, so that the row's thru stays what their replay needs.
 */
int
sq_daily_add(const struct daily_row *r)
{
	sqlite3_stmt	*st = stmt(S_DAILY_IMPORT);
	int		 rc, known;

	if ((rc = store_settle()) < 0 || (known = rc = user_written(r->user)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, r->day);
	bind_key(st, 2, r->user);
	bind_key(st, 3, r->guild);
	bind_key(st, 4, r->model);
	bind_key(st, 5, r->service);
	bind_key(st, 6, r->kind);
	bind_usage(st, 7, &r->u);
	/* Requests no raw event stands for: all time, and pruned. */
	if ((rc = run(st, "daily_add")) < 0 ||
	    (rc = meta_add("daily_requests", r->u.requests)) < 0 ||
	    (rc = meta_add("events_pruned", r->u.requests)) < 0)
		return rc;
	return known ? 0 : meta_add("daily_users", 1);
}
