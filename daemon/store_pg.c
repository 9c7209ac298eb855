/*
 * store_pg.c: the PostgreSQL backend's top: open and close, the round's
 * transaction, the write lock and the journal that keep several daemons'
 * memories exact, maintenance's lock; and the backend's table for
 * store.c.  The round's writes wait in its log (store_pg_log.c), over the
 * connection (store_pg_conn.c).  A write is acknowledged only after COMMIT
 * returned COMMIT; any error fails the round: its commit returns
 * -TOKQ_E_TEMP and rolls back.
 *
 * Exact across daemons.  store_begin opens a transaction, takes the one
 * write lock of the schema (pg_advisory_xact_lock, held to the commit),
 * and reads the generation (meta 'gen') and the journal rows after the
 * last generation this daemon saw, in one round trip; it tells the stale
 * hook each of them (or STALE_ALL when it cannot know: no generation yet,
 * a reconnect, or rows pruned before it looked), so that memory is the
 * database's before anything is judged.  Meanwhile the backend notes what
 * this daemon changes that others keep in memory (pg_note); the commit
 * bumps 'gen' and writes those notes as the journal rows of the new
 * generation, in the commit's round trip.  As every writer holds the
 * lock, generations are the order of the commits, and a daemon that saw
 * generation g has seen every change up to g.
 */
#include <stdlib.h>
#include <string.h>

#include "store_pg_sql.h"

#define PG_MAINT_USEC	(5 * 1000 * 1000)	/* between tries for maintenance */
#define PG_PRUNE_EVERY	256		/* generations between journal prunes */


static int64_t	 seen_gen = -1;		/* the last generation seen; -1 unknown */
static int64_t	 tx_gen;		/* the generation at the open transaction's begin */
static bool	 alone;			/* no other daemon was connected at its begin */
static int64_t	 next_id;		/* of the next event, in the open transaction */
static int64_t	 next_id_begin;
static bool	 maint_owned;
static uint64_t	 drops;		/* pg_drops when seen_gen and maint_owned were right */
static uint64_t	 maint_tried;
static void	(*stale_fn)(const struct stale *);

/* What this daemon changed in the open transaction, for the journal. */
struct note {
	enum stale_kind	 kind;
	enum scope	 sc;
	char		*subject, *model, *hold;
};
static struct note	*notes;
static size_t		 nnotes, capnotes;
static struct hmap	 noted;		/* the notes' keys, each once */

/*
 * Open the store at the URI: connect (within the connect timeout), create
 * or migrate the schema env.db_schema, prepare the statements, and read
 * the generation: what memory loads next is at least as new.
 */
int
pg_open(const char *path)
{
	struct pgq	 q = { 0 };
	PGresult	*r;
	int		 rc;

	/*
	 * A database that does not answer yet (the host booted before it)
	 * is no reason not to start: requests are refused, temporary, until
	 * a round's begin connects (pg_begin), which then reports STALE_ALL
	 * (seen_gen unknown) so memory loads everything.  The failure was
	 * logged, in one line.
	 */
	seen_gen = -1;
	drops = pg_drops;
	if ((rc = pg_conn_open(path)) < 0)
		return rc;
	pgq_int(&q, pg_alive_key);
	if (pg_ready() < 0 || (r = pg_query(P_GEN, &q, &rc)) == NULL)
		return 0;
	seen_gen = pg_int(r, 0, 0);
	PQclear(r);
	return 0;
}

static void
notes_clear(void)
{
	size_t	 i;

	for (i = 0; i < nnotes; i++) {
		free(notes[i].subject);
		free(notes[i].model);
		free(notes[i].hold);
	}
	nnotes = 0;
	hmap_clear(&noted, NULL);
}

void
pg_close(void)
{
	pg_rollback();
	pg_conn_close();
	notes_clear();
	pglog_free();
	free(notes);
	notes = NULL;
	capnotes = 0;
	seen_gen = -1;
	maint_owned = false;
}

/*
 * A connection dropped since seen_gen and maint_owned were right: what
 * others changed meanwhile is unknown (STALE_ALL at the begin), and the
 * maintenance lock went with the session.
 */
static void
drops_seen(void)
{
	if (drops == pg_drops)
		return;
	drops = pg_drops;
	seen_gen = -1;
	maint_owned = false;
}

/* Tell the stale hook. */
static void
stale(enum stale_kind kind, enum scope sc, const char *subject,
    const char *model, const char *hold_id, const struct bucket *add)
{
	struct stale	 s = { kind, sc, subject, model, hold_id, add };

	if (stale_fn)
		stale_fn(&s);
}

/*
 * Queue the begin of a round (BEGIN, the lock, the generation, the journal
 * after the generation seen, and the counters asked for ahead:
 * store_bucket_prefetch); *nkeep is how many of its results begin_take
 * reads.  seen is the generation this daemon will have seen when the
 * statements run.
 */
static int
begin_queue(int64_t seen, size_t *nkeep)
{
	struct pgq	 q = { 0 }, aq = { 0 }, jq = { 0 };
	int		 rc, pf = 0;

	pgq_int(&q, pg_lock_key);
	pgq_int(&aq, pg_alive_key);
	pgq_int(&jq, seen);
	if ((rc = pg_enqueue(P_BEGIN, NULL)) < 0 || (rc = pg_enqueue(P_LOCK, &q)) < 0 ||
	    (rc = pg_enqueue(P_INDEXED, NULL)) < 0 ||
	    (rc = pg_enqueue(P_GEN, &aq)) < 0 ||
	    (seen >= 0 && (rc = pg_enqueue(P_JOURNAL, &jq)) < 0) ||
	    (rc = pf = pgpf_queue()) < 0 ||
	    (rc = pg_enqueue(P_INDEXED_END, NULL)) < 0) {
		pgpf_queued(NULL);
		return rc;
	}
	/* Kept: the generation, the journal, the prefetch, and the end's. */
	*nkeep = (seen >= 0 ? 3 : 2) + (size_t)pf;
	return 0;
}

/*
 * The begin's results came (res[0..nkeep-1], freed here): the transaction
 * is open; tell the stale hook what other daemons committed since.
 */
static void
begin_take(PGresult **res, size_t nkeep)
{
	PGresult	*g = res[0], *j;
	int64_t		 gen, floor;
	size_t		 pf;
	int		 i;
	bool		 all;

	pf = seen_gen >= 0 ? 2 : 1;
	j = seen_gen >= 0 ? res[1] : NULL;
	pg_tx_open = true;
	gen = pg_int(g, 0, 0);
	floor = pg_int(g, 0, 1);
	next_id = next_id_begin = pg_int(g, 0, 2);
	alone = pg_int(g, 0, 3) <= 0;
	tx_gen = gen;
	pglog_round(gen + 1, !alone);
	all = seen_gen < 0 || seen_gen < floor || seen_gen > gen ||
	    (j != NULL && PQntuples(j) > PG_JOURNAL_MAX);
	if (all)
		stale(STALE_ALL, 0, NULL, NULL, NULL, NULL);
	else if (j != NULL)
		for (i = 0; i < PQntuples(j); i++) {
			struct bucket	 b = { pg_int(j, i, 5), pg_int(j, i, 6),
			    pg_int(j, i, 7), pg_int(j, i, 8), pg_int(j, i, 9) };

			stale((enum stale_kind)pg_int(j, i, 0),
			    (enum scope)pg_int(j, i, 1), pg_text(j, i, 2, false),
			    pg_text(j, i, 3, false), pg_text(j, i, 4, false),
			    PQgetisnull(j, i, 5) ? NULL : &b);
		}
	pgpf_queued(nkeep > pf + 1 ? res[pf] : NULL);
	seen_gen = gen;
	pg_unkeep(res, nkeep);
}

/* A begin that failed after BEGIN: end what it opened. */
static void
begin_undo(void)
{
	if (pg_connected() && (pg_enqueue(P_ROLLBACK, NULL) < 0 || pg_wait(NULL, 0) < 0))
		pg_drop("rollback failed");
}

/*
 * Open the round's transaction under the write lock, and tell the stale
 * hook what other daemons committed since this one last looked: one round
 * trip (begin_queue), or none when the last commit sent it (pg_ahead).
 */
int
pg_begin(void)
{
	PGresult	*res[4] = { NULL, NULL, NULL, NULL };
	size_t		 nkeep;
	int		 rc;

	if (pg_tx_open)
		return 0;
	pg_ahead = false;
	if ((rc = pg_ready()) < 0) {
		pgpf_queued(NULL);
		return rc;
	}
	drops_seen();
	pg_tx_failed = false;
	pglog_clear();
	notes_clear();
	if ((rc = begin_queue(seen_gen, &nkeep)) < 0)
		return rc;
	if ((rc = pg_wait(res, nkeep)) < 0) {
		pgpf_queued(NULL);
		begin_undo();
		return rc;
	}
	begin_take(res, nkeep);
	return 0;
}

/*
 * The next round's jobs are known before this one commits: send its begin
 * in the commit's round trip (pg_commit), with the counters they asked for
 * (store_bucket_prefetch keeps them for it meanwhile).  Only for a daemon
 * alone at its last begin: its lock is free, so the commit's replies do
 * not wait on another daemon's round; with others, the next begin waits
 * for the lock on its own.
 */
void
pg_begin_next(void)
{
	if (pg_tx_open && alone)
		pg_ahead = true;
}

/* A Postgres array literal of the texts v[0..n-1] (NULL elements as NULL). */
static char *
text_array(const char *const *v, size_t n)
{
	size_t	 len = 3, i;
	char	*a, *p;
	const char *s;

	for (i = 0; i < n; i++)
		len += v[i] ? 2 * strlen(v[i]) + 3 : 5;
	if ((a = p = malloc(len)) == NULL)
		return NULL;
	*p++ = '{';
	for (i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		if (v[i] == NULL) {
			memcpy(p, "NULL", 4);
			p += 4;
			continue;
		}
		*p++ = '"';
		for (s = v[i]; *s; s++) {
			if (*s == '"' || *s == '\\')
				*p++ = '\\';
			*p++ = *s;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return a;
}

static char *
int_array(const int *v, size_t n)
{
	char	*a, *p;
	size_t	 i;

	if ((a = p = malloc(n * 12 + 3)) == NULL)
		return NULL;
	*p++ = '{';
	for (i = 0; i < n; i++)
		p += sprintf(p, i > 0 ? ",%d" : "%d", v[i]);
	*p++ = '}';
	*p = '\0';
	return a;
}

/*
 * Queue the journal rows of the new generation: the notes, in one
 * statement of arrays, and 'gen' itself.  A daemon that was alone at its
 * begin writes no rows (nobody would read them) but raises the journal's
 * floor to the new generation: a daemon that connected meanwhile, and saw
 * an older one, hears STALE_ALL at its first begin.
 */
static int
journal_write(int64_t gen)
{
	const char	**subj = NULL, **model = NULL, **hold = NULL;
	int		*kind = NULL, *sc = NULL;
	char		*a[5] = { NULL };
	struct pgq	 q = { 0 }, gq = { 0 };
	size_t		 i;
	int		 rc = -TOKQ_E_INTERNAL;

	if ((subj = calloc(nnotes, sizeof(*subj))) == NULL ||
	    (model = calloc(nnotes, sizeof(*model))) == NULL ||
	    (hold = calloc(nnotes, sizeof(*hold))) == NULL ||
	    (kind = calloc(nnotes, sizeof(*kind))) == NULL ||
	    (sc = calloc(nnotes, sizeof(*sc))) == NULL)
		goto out;
	for (i = 0; i < nnotes; i++) {
		kind[i] = notes[i].kind;
		sc[i] = notes[i].sc;
		subj[i] = notes[i].subject;
		model[i] = notes[i].model;
		hold[i] = notes[i].hold;
	}
	if ((a[0] = int_array(kind, nnotes)) == NULL ||
	    (a[1] = int_array(sc, nnotes)) == NULL ||
	    (a[2] = text_array(subj, nnotes)) == NULL ||
	    (a[3] = text_array(model, nnotes)) == NULL ||
	    (a[4] = text_array(hold, nnotes)) == NULL)
		goto out;
	pgq_int(&gq, gen);
	pgq_int(&q, gen);
	for (i = 0; i < 5; i++)
		pgq_text(&q, a[i]);
	if ((rc = pg_enqueue(P_GEN_SET, &gq)) == 0 && alone)
		rc = pg_enqueue(P_FLOOR_SET, &gq);
	else if (rc == 0 && nnotes > 0)
		rc = pg_enqueue(P_JOURNAL_ADD, &q);
	if (rc == 0 && gen % PG_PRUNE_EVERY == 0)
		rc = pg_enqueue(P_JOURNAL_PRUNE, &gq);
out:
	for (i = 0; i < 5; i++)
		free(a[i]);
	free(subj);
	free(model);
	free(hold);
	free(kind);
	free(sc);
	return rc;
}

/*
 * Commit the round: the journal rows of a new generation when this daemon
 * changed anything others keep in memory, the next event id when it gave
 * any, then COMMIT, in one round trip.  Nothing is acknowledged unless the
 * server answered COMMIT; otherwise everything is rolled back and
 * -TOKQ_E_TEMP returned.  With other daemons there, the COMMIT does not
 * wait for its WAL's flush, so that the lock is theirs at once, and the
 * round is acknowledged only once a later commit that does wait
 * (P_DURABLE) answered; that one failing makes the round's outcome
 * unknown: -TOKQ_E_TEMP too.
 */
int
pg_commit(void)
{
	PGresult	*cr[2] = { NULL, NULL }, *res[4] = { NULL, NULL, NULL, NULL };
	struct pgq	 q = { 0 };
	int64_t		 gen = tx_gen + 1, lo, hi;
	size_t		 nkeep = 0;
	int		 rc;
	bool		 ahead = false, async;

	if (!pg_tx_open)
		return 0;
	if (pg_tx_failed || !pg_connected() || pglog_flush_final() < 0)
		goto fail;
	if ((nnotes > 0 || pglog_journaled()) && journal_write(gen) < 0)
		goto fail;
	if (next_id != next_id_begin) {
		pgq_int(&q, next_id);
		if (pg_enqueue(P_NEXT_ID_SET, &q) < 0)
			goto fail;
	}
	if ((async = !alone) && pg_enqueue(P_ASYNC, NULL) < 0)
		goto fail;
	if (pg_enqueue(P_COMMIT, NULL) < 0 || (async && pg_enqueue(P_DURABLE, NULL) < 0))
		goto fail;
	/*
	 * The reports of the events it put in the outbox, in a segment of
	 * their own that nobody waits for (read before the next statement
	 * goes): their failure leaves the row, which the next reader of the
	 * reports applies (outbox_apply), and does not make the round's
	 * outcome unknown.
	 */
	if (pglog_outbox(&lo, &hi) && !pg_ahead) {
		if (pg_sync() < 0)
			goto fail;
		(void)pglog_reports_send(lo, hi, true);	/* failing, logged */
		if (pg_sync_detached(P_MAX) < 0)
			goto fail;
	}
	/*
	 * The next round's begin goes in the same round trip, after a Sync:
	 * a segment of its own, which no failure of the commit's takes down
	 * (nor the reverse), and which runs seeing the generation the
	 * commit leaves.
	 */
	ahead = pg_ahead;
	pg_ahead = false;
	if (ahead && (pg_sync() < 0 || begin_queue(nnotes > 0 ||
	    pglog_journaled() ? gen : seen_gen, &nkeep) < 0))
		ahead = false;
	/*
	 * A daemon alone that begins the next round ahead puts this one's
	 * events in the outbox too, and the next round carries their
	 * reports, under a savepoint: the server writes them while the
	 * worker judges that round's jobs, and nobody waits for them.
	 */
	if (ahead && pglog_outbox(&lo, &hi) && pg_sync() == 0 &&
	    pg_enqueue(P_REPORTS_SAVE, NULL) == 0) {
		(void)pglog_reports_send(lo, hi, false);	/* failing, undone */
		if (pg_enqueue(P_REPORTS_RELEASE, NULL) == 0)
			(void)pg_sync_detached(P_REPORTS_UNDO);
	}
	if ((rc = pg_wait(cr, async ? 2 : 1)) < 0)
		goto fail;
	if (strcmp(PQcmdStatus(cr[0]), "COMMIT") != 0) {
		log_warnx("store: %s: the commit rolled back", pg_where);
		pg_unkeep(cr, 2);
		goto fail;
	}
	pg_unkeep(cr, 2);
	if (nnotes > 0 || pglog_journaled())
		seen_gen = gen;
	pg_tx_open = false;
	notes_clear();
	pglog_clear();
	if (ahead) {
		pg_tx_failed = false;
		if (pg_wait(res, nkeep) == 0)
			begin_take(res, nkeep);
		else {
			pgpf_queued(NULL);
			begin_undo();
		}
	}
	return 0;
fail:
	log_warnx("store: %s: batch not committed", pg_where);
	if (ahead && pg_connected() && pg_wait(res, nkeep) == 0)
		pg_unkeep(res, nkeep);	/* its BEGIN failed, or rollback ends it */
	pgpf_queued(NULL);
	pg_rollback();
	return -TOKQ_E_TEMP;
}

/* Undo the round, if one is open; the write lock goes with it. */
void
pg_rollback(void)
{
	pg_ahead = false;
	notes_clear();
	pglog_clear();
	if (!pg_tx_open)
		return;
	pg_tx_open = pg_tx_failed = false;
	if (!pg_connected())
		return;
	if (pg_enqueue(P_ROLLBACK, NULL) < 0 || pg_wait(NULL, 0) < 0)
		pg_drop("rollback failed");
}

bool
pg_in_tx(void)
{
	return pg_tx_open;
}

/*
 * A request's mark: a place in the round's log, no statement; a
 * savepoint is sent only if a statement must go out while it is open
 * (store_pg_log.c).
 */
int
pg_mark(enum write_kind w)
{
	int	 rc;

	if ((rc = pg_begin()) < 0 || (rc = pg_writable("mark")) < 0)
		return rc;
	return pglog_mark();
}

/*
 * The request ends: when rc < 0 its writes are undone, those still in the
 * log dropped, those sent rolled back to its savepoint.  Its notes stay:
 * telling others of a change undone costs them a reload, never a wrong
 * answer.
 */
int
pg_unmark(int rc)
{
	bool	 sp = pglog_unmark(rc < 0);
	int	 r;

	if (pg_tx_failed || !pg_connected())
		return rc < 0 ? rc : -TOKQ_E_TEMP;
	if (!sp)
		return rc;
	if (rc < 0 && (r = pg_queue(P_ROLLBACK_TO, NULL)) < 0)
		return rc;
	if ((r = pg_queue(P_RELEASE, NULL)) < 0)
		return rc < 0 ? rc : r;
	return rc;
}

/* Nothing waits: every total is written in its own transaction. */
int
pg_settle(void)
{
	return 0;
}

/* Its calls wait on the network. */
bool
pg_remote(void)
{
	return true;
}

void
pg_on_stale(void (*fn)(const struct stale *))
{
	stale_fn = fn;
}

/*
 * Whether this daemon runs maintenance: it holds the maintenance lock
 * (session level: it goes with the session, and another daemon takes
 * over), or wins it now.  A daemon that lost tries again every
 * PG_MAINT_USEC.
 */
bool
pg_maint_owner(void)
{
	struct pgq	 q = { 0 };
	PGresult	*r;
	int		 rc;

	drops_seen();
	if (maint_owned || pg_tx_failed ||
	    (maint_tried != 0 && mono_usec() - maint_tried < PG_MAINT_USEC))
		return maint_owned;
	maint_tried = mono_usec();
	pgq_int(&q, pg_maint_key);
	if ((r = pg_query(P_MAINT_TRY, &q, &rc)) == NULL)
		return false;
	maint_owned = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (maint_owned)
		log_info("store: this daemon runs maintenance for %s", pg_where);
	return maint_owned;
}

/*
 * Note a change others keep in memory, for the journal of this round's
 * commit; each once.  Out of memory, the commit fails (nothing is lost,
 * nothing goes unreported).
 */
void
pg_note(enum stale_kind kind, enum scope sc, const char *subject,
    const char *model, const char *hold_id)
{
	char		 key[3 * TOKQ_ID_MAX + 64];
	struct note	*n;
	int		 len;

	len = snprintf(key, sizeof(key), "%d %d %s%c%s%c%s", kind, sc,
	    subject ? subject : "", 0, model ? model : "\x01", 0,
	    hold_id ? hold_id : "");
	if (len < 0 || (size_t)len >= sizeof(key))
		len = 0;		/* too long to look for: noted again */
	else if (hmap_getn(&noted, key, (size_t)len) != NULL)
		return;
	if (nnotes == capnotes) {
		size_t		 ncap = capnotes ? 2 * capnotes : 64;
		struct note	*nn = reallocarray(notes, ncap, sizeof(*nn));

		if (nn == NULL)
			goto oom;
		notes = nn;
		capnotes = ncap;
	}
	n = &notes[nnotes];
	*n = (struct note){ kind, sc, NULL, NULL, NULL };
	if ((subject && (n->subject = strdup(subject)) == NULL) ||
	    (model && (n->model = strdup(model)) == NULL) ||
	    (hold_id && (n->hold = strdup(hold_id)) == NULL)) {
		free(n->subject);
		free(n->model);
		goto oom;
	}
	nnotes++;
	if (len > 0 && hmap_putn(&noted, key, (size_t)len, &noted) == -1)
		goto oom;
	return;
oom:
	log_warnx("store: out of memory for the journal");
	pg_tx_failed = true;
}

/* The id of the next event: given under the write lock, consecutive. */
int
pg_next_id(int64_t *id)
{
	*id = next_id++;
	return 0;
}

const struct store_backend store_pg = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.begin_next = pg_begin_next,
	.rollback = pg_rollback,
	.in_tx = pg_in_tx,
	.mark = pg_mark,
	.unmark = pg_unmark,
	.settle = pg_settle,
	.remote = pg_remote,
	.on_stale = pg_on_stale,
	.maint_owner = pg_maint_owner,
	.db_bytes = pg_db_bytes,
	.bulk = pg_bulk,
	.meta_get = pg_meta_get,
	.meta_set = pg_meta_set,
	.event_add = pg_event_add,
	.replay = pg_replay,
	.tune_parts = pg_tune_parts,
	.bucket_add = pg_bucket_add,
	.bucket_load = pg_bucket_load,
	.bucket_prefetch = pg_bucket_prefetch,
	.bucket_clear = pg_bucket_clear,
	.counts = pg_counts,
	.rule_put = pg_rule_put,
	.rule_del = pg_rule_del,
	.rule_load = pg_rule_load,
	.plan_set = pg_plan_set,
	.plan_load = pg_plan_load,
	.bypass_set = pg_bypass_set,
	.bypass_load = pg_bypass_load,
	.price_put = pg_price_put,
	.price_del = pg_price_del,
	.price_load = pg_price_load,
	.hold_put = pg_hold_put,
	.hold_del = pg_hold_del,
	.hold_load = pg_hold_load,
	.key_get = pg_key_get,
	.key_put = pg_key_put,
	.events_sum = pg_events_sum,
	.bucket_compact = pg_bucket_compact,
	.bucket_prune = pg_bucket_prune,
	.events_prune = pg_events_prune,
	.hourly_prune = pg_hourly_prune,
	.month_archive = pg_month_archive,
	.user_hours_totals = pg_user_hours_totals,
	.user_daily_totals = pg_user_daily_totals,
	.user_models_totals = pg_user_models_totals,
	.user_models_since = pg_user_models_since,
	.view_totals = pg_view_totals,
	.view_group = pg_view_group,
	.view_user_all = pg_view_user_all,
	.events_page = pg_events_page,
	.daily_page = pg_daily_page,
	.daily_events = pg_daily_events,
	.daily_add = pg_daily_add,
};
