/*
 * maint.c: rollover and pruning, inside the daemon, on a timer.
 *
 * Each run does a bounded amount of work inside the current transaction:
 * forget long-expired holds, archive every month that ended since the last
 * rollover, prune raw events past retention (their amounts already live in
 * the daily totals, kept forever), and once an hour fold minute buckets
 * older than a day into hour buckets and drop buckets past the horizon.
 * It runs at start (catching up after downtime), every minute, sooner while
 * a prune has more to do, and whenever the test clock moves.
 */
#include "tokqd.h"

#define MAINT_USEC	(60ULL * 1000000)
#define MAINT_SOON_USEC	(50ULL * 1000)
#define PRUNE_BATCH	2000

static sd_event_source	*maint_timer;

/* Archive the months that ended since the last rollover. */
static int
rollover(int64_t t)
{
	int64_t	 last, month = tokq_period_start(TOKQ_W_MONTH, t), m;
	int	 rc, n = 0;

	if (store_meta_get("rollover_month", &last) != 1) {
		/* A new database: nothing ended yet. */
		if ((rc = store_meta_set("rollover_month", month)) < 0)
			return rc;
		return store_meta_set("last_rollover", t);
	}
	for (m = last; m < month && n < 24; m = tokq_period_next(TOKQ_W_MONTH, m), n++)
		if ((rc = store_month_archive(m, tokq_period_next(TOKQ_W_MONTH, m))) < 0)
			return rc;
	if (m == last)
		return 0;
	log_info("rollover: archived %d month(s)", n);
	if ((rc = store_meta_set("rollover_month", m)) < 0)
		return rc;
	return store_meta_set("last_rollover", t);
}

/*
 * One round of maintenance at the daemon's time, in the open transaction.
 * Returns 1 when more is left to do, 0 when done, or a negative code.
 */
int
maint_run(void)
{
	int64_t	 t = now(), last = 0;
	int	 rc, pruned;

	if ((rc = store_begin()) < 0 || (rc = quota_sweep_holds(t)) < 0 ||
	    (rc = rollover(t)) < 0)
		return rc;
	if ((pruned = store_events_prune(t - quota_retention(), PRUNE_BATCH)) < 0)
		return pruned;
	if (pruned > 0)
		log_debug("prune: %d raw events", pruned);
	if ((rc = store_meta_set("last_prune", t)) < 0 ||
	    (rc = store_meta_set("next_prune", t + MAINT_USEC / 1000000)) < 0)
		return rc;
	store_meta_get("last_compact", &last);
	if (t - last >= BUCKET_HOUR || t < last) {
		if ((rc = store_bucket_compact(t - 25 * 3600)) < 0 ||
		    (rc = store_bucket_prune(t - quota_horizon())) < 0 ||
		    (rc = store_meta_set("last_compact", t)) < 0)
			return rc;
		quota_flush_counters();
	}
	if (pruned == PRUNE_BATCH && maint_timer) {
		/* More to prune: come back soon, after the requests waiting now. */
		sd_event_source_set_time_relative(maint_timer, MAINT_SOON_USEC);
		sd_event_source_set_enabled(maint_timer, SD_EVENT_ONESHOT);
	}
	return pruned == PRUNE_BATCH;
}

static int
maint_cb(sd_event_source *s, uint64_t usec, void *arg)
{
	int	 rc = maint_run();

	control_commit_now();
	sd_event_source_set_time_relative(s, rc == 1 ? MAINT_SOON_USEC : MAINT_USEC);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

/* Catch up now, then keep at it on a timer. */
int
maint_init(sd_event *ev)
{
	if (sd_event_add_time_relative(ev, &maint_timer, CLOCK_MONOTONIC, 0, 0,
	    maint_cb, NULL) < 0)
		return -TOKQ_E_INTERNAL;
	sd_event_source_set_priority(maint_timer, SD_EVENT_PRIORITY_IDLE);
	return 0;
}

void
maint_shutdown(void)
{
	maint_timer = sd_event_source_disable_unref(maint_timer);
}
