/*
 * maint.c: rollover and pruning, inside the daemon, on a timer.
 *
 * Each round works inside the current transaction for a bounded time
 * (MAINT_BUDGET_USEC), in small steps: forget long-expired holds, archive
 * the months that ended since the last rollover (a few users at a time),
 * prune raw events past retention (their amounts already live in the daily
 * totals, kept forever), and once an hour fold minute buckets older than a
 * day into hour buckets and drop buckets past the horizon.  A round that
 * leaves work comes back after MAINT_SOON_USEC, so requests are served in
 * between, and its writes commit with the requests' batch; rounds run at
 * start (catching up after downtime), every minute, and whenever the test
 * clock moves (then until done).
 */
#include "tokqd.h"

#define MAINT_USEC		(60ULL * 1000000)
#define MAINT_SOON_USEC		(10ULL * 1000)
#define MAINT_BUDGET_USEC	2000
/*
 * A step must fit in the budget on a cold database too: at these sizes
 * each took 0.5-0.7 ms on average on one of 2M events, page cache dropped,
 * where 20 users, 250 buckets and 100 events took 4.3, 3.7 and 1.2 ms and
 * rounds of 9 ms made the p99 of requests.
 */
#define PRUNE_STEP		50	/* raw events */
#define BUCKET_STEP		50	/* bucket rows folded or dropped */
#define ARCHIVE_STEP		4	/* users of a month's archive */

static struct {
	sd_event_source	*timer;
	int64_t		 month;		/* being archived; 0: none */
	char		 cursor[TOKQ_ID_MAX + 1]; /* its last user archived */
	bool		 compacting;	/* folding and dropping buckets */
	int64_t		 fold_before;	/* of the fold under way */
	size_t		 turn;		/* the kind of step a round starts with */
	struct job	 job;		/* a round, on the worker */
	bool		 job_out;	/* handed to the worker, not back yet */
} m;

/*
 * One step of archiving the months that ended since the last rollover.
 * Returns 1 when more is left, 0 when done, or a negative code.
 */
static int
rollover(int64_t t)
{
	int64_t	 last, month = tokq_period_start(TOKQ_W_MONTH, t), next, when;
	char	 buf[32];
	int	 rc, n;

	/*
	 * The last rollover is a time on the daemon's clock: when that went
	 * back before it (the test clock set back, or the system's), the
	 * month it stands in was entered no later than now.
	 */
	if (store_meta_get("last_rollover", &when) == 1 && when > t &&
	    (rc = store_meta_set("last_rollover", t)) < 0)
		return rc;
	if (store_meta_get("rollover_month", &last) != 1) {
		/* A new database: nothing ended yet. */
		if ((rc = store_meta_set("rollover_month", month)) < 0)
			return rc;
		return store_meta_set("last_rollover", t);
	}
	if (last == month)
		return 0;
	/*
	 * The clock went back before the month the archive stands at (the
	 * test clock set back, or the system's): archive again from the
	 * month it is now, as it would have from a start at this time.  An
	 * archive replaces what one before it wrote, so one done again
	 * changes nothing it should not.
	 */
	if (last > month) {
		m.month = 0;
		return store_meta_set("rollover_month", month);
	}
	if (m.month != last) {
		m.month = last;
		m.cursor[0] = '\0';
	}
	next = tokq_period_next(TOKQ_W_MONTH, last);
	if ((n = store_month_archive(last, next, m.cursor, sizeof(m.cursor),
	    ARCHIVE_STEP)) < 0)
		return n;
	if (n == ARCHIVE_STEP)
		return 1;
	log_info("rollover: archived %.7s", tokq_fmt_time(last, buf, sizeof(buf)));
	m.month = 0;
	if ((rc = store_meta_set("rollover_month", next)) < 0 ||
	    (rc = store_meta_set("last_rollover", t)) < 0)
		return rc;
	return next < month;
}

/* One step of the hourly fold and drop of buckets: 1 more, 0 done, or < 0. */
static int
compact(int64_t t)
{
	int64_t	 last = 0;
	int	 n;

	if (!m.compacting) {
		if ((n = store_meta_get("last_compact", &last)) < 0)
			return n;
		if (t - last < BUCKET_HOUR && t >= last)
			return 0;
		m.compacting = true;
		m.fold_before = t - FOLD_AGE;		/* the fold policy: tokqd.h */
		counter_fold(m.fold_before);
	}
	if ((n = store_bucket_compact(m.fold_before, BUCKET_STEP)) != 0)
		return n < 0 ? n : 1;
	if ((n = store_bucket_prune(t - counter_horizon(), BUCKET_STEP)) != 0)
		return n < 0 ? n : 1;
	m.compacting = false;
	return store_meta_set("last_compact", t);
}

/*
 * One step of pruning raw events, then the users' hours (kept as long as
 * the events, and at least the RECENT_SPAN and an hour `usage` reads): 1
 * more, 0 done, or < 0.
 */
static int
prune(int64_t t)
{
	int64_t	 keep = quota_retention(), hours;
	int	 n, rc;

	if ((n = store_events_prune(t - keep, PRUNE_STEP)) < 0)
		return n;
	if (n > 0)
		log_debug("prune: %d raw events", n);
	if (n == PRUNE_STEP)
		return 1;
	hours = (keep > RECENT_SPAN ? keep : RECENT_SPAN) + HOUR;
	if ((n = store_hourly_prune(t - hours, PRUNE_STEP)) < 0)
		return n;
	if (n == PRUNE_STEP)
		return 1;
	if ((rc = store_meta_set("last_prune", t)) < 0 ||
	    (rc = store_meta_set("next_prune", t + MAINT_USEC / 1000000)) < 0)
		return rc;
	return 0;
}

/*
 * One round of maintenance at the daemon's time, in the open transaction:
 * steps of each kind in turn, until none has work left or the round has
 * used MAINT_BUDGET_USEC (looked at after every step, and the kind that
 * goes first moves round by round, so that a slow kind does not starve
 * the others).  Returns 1 when more is left to do, 0 when done, or a
 * negative code.
 */
int
maint_run(void)
{
	static int	 (*const step[])(int64_t) = { rollover, prune, compact };
	int64_t		 t = now();
	uint64_t	 start = mono_usec();
	int		 rc, left[3] = { 1, 1, 1 };	/* kinds with work left */
	size_t		 i, k;

	if (!store_maint_owner())
		return 0;	/* another daemon of a shared store runs it */
	if ((rc = store_begin()) < 0 || (rc = quota_sweep_holds(t)) < 0)
		return rc;
	m.turn = (m.turn + 1) % 3;
	for (i = 0; left[0] || left[1] || left[2]; i++) {
		k = (m.turn + i) % 3;
		if (left[k] && (left[k] = step[k](t)) < 0)
			return left[k];
		if (mono_usec() - start >= MAINT_BUDGET_USEC)
			break;
	}
	return left[0] || left[1] || left[2];
}

/* Come back soon: there is more to do than a round did. */
void
maint_soon(void)
{
	if (exec_worker()) {
		exec_to_loop(maint_soon);	/* the timer is the loop's */
		return;
	}
	if (m.timer == NULL)
		return;
	sd_event_source_set_time_relative(m.timer, MAINT_SOON_USEC);
	sd_event_source_set_enabled(m.timer, SD_EVENT_ONESHOT);
}

/* A transaction holding maintenance was undone: start its steps afresh. */
static void
maint_forget(void)
{
	m.month = 0;
	m.compacting = false;
}

/*
 * A round's writes commit with the batch, as a request's do: under load
 * that is the batch open anyway, and a round of its own took one more
 * fsync every 20 ms.  Until it commits the round is undone with a failed
 * batch (maint_forget, an undo hook of the batch), and the next round does
 * it again.
 */
static void
maint_next(int rc)
{
	if (rc < 0)
		log_warnx("maintenance: a round failed (%s); next try in %llu s",
		    tokq_code_name(-rc), MAINT_USEC / 1000000);
	if (m.timer == NULL)
		return;
	sd_event_source_set_time_relative(m.timer, rc == 1 ? MAINT_SOON_USEC : MAINT_USEC);
	sd_event_source_set_enabled(m.timer, SD_EVENT_ONESHOT);
}

/* With the worker (exec.c) a round is its job, in the worker's round. */
static void
maint_job_run(struct job *j)
{
	j->rc = maint_run();
	j->wrote = j->rc >= 0;
}

static void
maint_job_done(struct job *j)
{
	m.job_out = false;
	maint_next(j->rc);
}

static int
maint_cb(sd_event_source *s, uint64_t usec, void *arg)
{
	int	 rc;

	if (exec_on()) {
		if (!m.job_out) {
			m.job_out = true;
			exec_submit(&m.job);
		}
		return 0;
	}
	rc = maint_run();
	batch_commit_soon();
	maint_next(rc);
	return 0;
}

/* Catch up now, then keep at it on a timer. */
int
maint_init(sd_event *ev)
{
	if (sd_event_add_time_relative(ev, &m.timer, CLOCK_MONOTONIC, 0, 0,
	    maint_cb, NULL) < 0)
		return -TOKQ_E_INTERNAL;
	sd_event_source_set_priority(m.timer, SD_EVENT_PRIORITY_IDLE);
	m.job.run = maint_job_run;
	m.job.done = maint_job_done;
	batch_on_undo(maint_forget);
	return 0;
}

void
maint_shutdown(void)
{
	m.timer = sd_event_source_disable_unref(m.timer);
}
