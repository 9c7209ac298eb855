/*
 * store_maint.c: what maintenance (maint.c) asks of the store, a bounded
 * step at a time: folding minute buckets into hours, pruning buckets, raw
 * events with their idempotency keys and users' hours, and archiving a
 * month's daily totals.  A step returns how many rows it did: fewer than
 * it was allowed means there are none left.  A step that reads or rewrites
 * totals first writes out the pending rows older than what it touches
 * (pend_flush_older), never all of them; raw events go only once the
 * totals hold their amounts ('totals_through').
 */
#include <stdio.h>

#include "store_db.h"

/*
 * Fold up to limit minute buckets that start before `before` into the hour
 * buckets of their counters, adding to ones that exist.  The amounts move,
 * they are never counted twice.  Returns the number folded: fewer than
 * limit means none is left.
 */
int
sq_bucket_compact(int64_t before, int limit)
{
	int	 rc, n = 0;

	if ((rc = pend_flush_older("bucket_compact", INT64_MIN, before)) < 0 ||
	    (rc = sp_begin("bucket_compact")) < 0)
		return rc;
	sqlite3_bind_int64(stmt(S_BUCKET_FOLD), 1, before);
	sqlite3_bind_int(stmt(S_BUCKET_FOLD), 2, limit);
	if ((rc = run(stmt(S_BUCKET_FOLD), "bucket_compact")) >= 0) {
		sqlite3_bind_int64(stmt(S_BUCKET_DROP_MINUTES), 1, before);
		sqlite3_bind_int(stmt(S_BUCKET_DROP_MINUTES), 2, limit);
		n = rc = run(stmt(S_BUCKET_DROP_MINUTES), "bucket_compact");
	}
	return sp_end(rc < 0 ? rc : n, "bucket_compact");
}

/*
 * Drop up to limit buckets that end at or before `before` (the store holds
 * minute and hour buckets only).  Returns the number dropped.
 */
int
sq_bucket_prune(int64_t before, int limit)
{
	static const int spans[] = { BUCKET_HOUR, BUCKET_MINUTE };
	sqlite3_stmt	*st = stmt(S_BUCKET_PRUNE);
	int		 rc, n = 0;
	size_t		 i;

	if ((rc = writable("bucket_prune")) < 0 ||
	    (rc = pend_flush_older("bucket_prune", INT64_MIN, before)) < 0)
		return rc;
	for (i = 0; i < sizeof(spans) / sizeof(spans[0]) && n < limit; i++) {
		sqlite3_bind_int64(st, 1, before);
		sqlite3_bind_int(st, 2, spans[i]);
		sqlite3_bind_int(st, 3, limit - n);
		if ((rc = run(st, "bucket_prune")) < 0)
			return rc;
		n += rc;
	}
	return n;
}

/*
 * Delete up to limit raw events older than before, oldest first, and every
 * idempotency key dated before it.  Returns the number of events deleted:
 * fewer than limit means none are left.  Daily totals are untouched.
 */
int
sq_events_prune(int64_t before, int limit)
{
	int	 rc, n;

	if ((rc = sp_begin("events_prune")) < 0)
		return rc;
	sqlite3_bind_int64(stmt(S_EVENTS_PRUNE), 1, before);
	sqlite3_bind_int(stmt(S_EVENTS_PRUNE), 2, limit);
	if ((n = rc = run(stmt(S_EVENTS_PRUNE), "events_prune")) >= 0 &&
	    (n == 0 || (rc = meta_add("events_pruned", n)) >= 0)) {
		sqlite3_bind_int64(stmt(S_KEYS_PRUNE), 1, before);
		rc = run(stmt(S_KEYS_PRUNE), "events_prune");
	}
	return sp_end(rc < 0 ? rc : n, "events_prune");
}

/*
 * Delete up to limit of the users' hours that start before `before`,
 * oldest first.  Returns the number deleted.
 */
int
sq_hourly_prune(int64_t before, int limit)
{
	int	 rc;

	if ((rc = writable("hourly_prune")) < 0)
		return rc;
	sqlite3_bind_int64(stmt(S_HOURLY_PRUNE), 1, before);
	sqlite3_bind_int(stmt(S_HOURLY_PRUNE), 2, limit);
	return run(stmt(S_HOURLY_PRUNE), "hourly_prune");
}

/*
 * Archive the month [month_start, month_end) for up to `users` users that
 * sort after *cursor ("" to begin): their per-(user, guild, model) sums of
 * the daily totals replace what was archived for them before, so a batch
 * done twice (after a restart) changes nothing.  *cursor becomes the last
 * user archived.  Returns the number of users: fewer than `users` means the
 * month is done.
 */
int
sq_month_archive(int64_t month_start, int64_t month_end, char *cursor,
    size_t cursorlen, int users)
{
	sqlite3_stmt	*st = stmt(S_MONTH_USERS);
	char		 last[TOKQ_ID_MAX + 1];
	int		 rc, n;

	if ((rc = writable("month_archive")) < 0 ||
	    (rc = pend_flush_older("month_archive", month_end, INT64_MIN)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, month_start);
	sqlite3_bind_int64(st, 2, month_end);
	bind_text(st, 3, cursor);
	sqlite3_bind_int(st, 4, users);
	if ((rc = row(st, "month_archive")) <= 0)
		return rc;
	n = sqlite3_column_int(st, 1);
	snprintf(last, sizeof(last), "%s", n > 0 ? column_text(st, 0, false) : "");
	stmt_done(st);
	if (n == 0)
		return 0;

	st = stmt(S_MONTH_ARCHIVE);
	sqlite3_bind_int64(st, 1, month_start);
	sqlite3_bind_int64(st, 2, month_end);
	bind_text(st, 3, cursor);
	bind_text(st, 4, last);
	if ((rc = run(st, "month_archive")) < 0)
		return rc;
	snprintf(cursor, cursorlen, "%s", last);
	return n;
}
