/*
 * batch.c: the group commit, and what memory forgets when writes are undone.
 *
 * Every write goes into one open transaction, the batch.  A request that
 * wrote has its reply held (control.c) until the batch commits: when the
 * loop is next idle (an idle-priority defer source), or at once when the
 * batch is large (BATCH_MAX writes) or old (BATCH_USEC).  Then the answer
 * hook, given at start-up, sends the held replies, or on failure turns
 * them into temporary-failure replies.
 *
 * When writes that memory already knows of are undone (a failed commit, or
 * one request's savepoint rolled back), memory forgets them: the quota
 * reloads from the database, and each undo hook, registered at start-up
 * (maintenance's), starts its work afresh.  After a failed commit the
 * events the written totals lack are replayed too.  Nothing here calls up
 * into the modules that use it: they hand it their hooks.
 */
#include "tokqd.h"

#define BATCH_MAX	512		/* writes in one transaction */
#define BATCH_USEC	5000		/* age of a batch that commits at once */
#define UNDO_HOOKS	4

static struct {
	sd_event_source	*commit;	/* idle-priority defer: commit the batch */
	size_t		 n;		/* writes in the open transaction */
	uint64_t	 start;		/* monotonic usec of the first */
	void		(*answer)(int);
	void		(*undo[UNDO_HOOKS])(void);
	size_t		 nundo;
} b;

/* Writes were undone: memory forgets them (see the top). */
void
batch_undo(void)
{
	size_t	 i;

	quota_invalidate();
	for (i = 0; i < b.nundo; i++)
		b.undo[i]();
}

/*
 * Commit the open batch and hand the result to the answer hook.  On failure
 * memory is reloaded from the database, which again holds exactly what was
 * acknowledged.  Returns the commit's result (0 when no batch was open).
 */
int
batch_commit(void)
{
	int	 rc;

	if (b.commit)
		sd_event_source_set_enabled(b.commit, SD_EVENT_OFF);
	if (!store_in_tx())
		return 0;
	if ((rc = batch_end()) < 0)
		log_warnx("commit of %zu writes failed; none was acknowledged", b.n);
	b.n = 0;
	if (b.answer)
		b.answer(rc);
	return rc;
}

/*
 * Commit the open transaction, if any, and on failure make memory forget
 * what it knew of it: the commit alone, for the worker's rounds (exec.c),
 * which answer for themselves.
 */
int
batch_end(void)
{
	int	 rc;

	if (!store_in_tx())
		return 0;
	if ((rc = store_commit()) < 0) {
		batch_undo();
		if (quota_replay() < 0)
			log_warnx("the totals lack events until a restart replays them");
	}
	return rc;
}

/*
 * A write whose reply waits for the commit joined the batch: commit when
 * the loop is next idle.
 */
void
batch_add(void)
{
	if (b.n++ == 0)
		b.start = mono_usec();
	sd_event_source_set_enabled(b.commit, SD_EVENT_ONESHOT);
}

/* Is the batch large or old enough to commit now rather than when idle? */
bool
batch_due(void)
{
	return b.n >= BATCH_MAX || (b.n > 0 && mono_usec() - b.start > BATCH_USEC);
}

/* Writes whose replies wait for the commit. */
size_t
batch_size(void)
{
	return b.n;
}

/*
 * Commit the open transaction when the loop is idle, as a write's reply
 * does, although no reply may wait for it: a read that wrote the pending
 * totals out, a round of maintenance.
 */
void
batch_commit_soon(void)
{
	if (b.commit && store_in_tx())
		sd_event_source_set_enabled(b.commit, SD_EVENT_ONESHOT);
}

static int
commit_cb(sd_event_source *s, void *arg)
{
	batch_commit();
	return 0;
}

/* answer(rc) runs after every commit of a batch, with its result. */
int
batch_init(sd_event *ev, void (*answer)(int))
{
	b.answer = answer;
	if (sd_event_add_defer(ev, &b.commit, commit_cb, NULL) < 0)
		return -TOKQ_E_INTERNAL;
	sd_event_source_set_priority(b.commit, SD_EVENT_PRIORITY_IDLE);
	sd_event_source_set_enabled(b.commit, SD_EVENT_OFF);
	return 0;
}

/* fn runs whenever writes are undone (batch_undo); at start-up. */
void
batch_on_undo(void (*fn)(void))
{
	if (b.nundo == UNDO_HOOKS)
		fatalx("batch: too many undo hooks");
	b.undo[b.nundo++] = fn;
}

/* Commit what is in flight and answer it; stop. */
void
batch_shutdown(void)
{
	batch_commit();
	b.commit = sd_event_source_disable_unref(b.commit);
	b.answer = NULL;
}
