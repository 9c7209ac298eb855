/*
 * store_sqlite.c: the SQLite backend's top: opening and closing the
 * database, and the batch's transaction; and its table of functions for
 * store.c (store_backend.h).
 *
 * The SQLite backend is the only part of tokqd that includes sqlite3.h,
 * with walbuf.c, the VFS beneath it.  Its files share store_db.h, and
 * their calls run one way, from the top down:
 *
 *	store_sqlite.c		open, close, the batch, a request's mark
 *	store_views.c		a user's totals, the admin views, events
 *	store_maint.c		folding, pruning, the monthly archive
 *	store_settings.c	rules, plans, bypass, prices, holds, keys
 *	store_totals.c		the record, savepoints, the totals written
 *				behind and their replay
 *	store_pendset.c		the pending rows' memory and their order
 *	store_db.c		the connection, schema, statements, meta
 *
 * Each function is the sq_ side of the store_* function of tokqd.h with
 * the same name (sq_open is store_open's).
 *
 * Writes run inside one transaction that the event loop opens with
 * sq_begin() and closes with sq_commit() for a whole batch of
 * requests (group commit); a request's writes run under a savepoint
 * (sq_mark, sq_unmark), so that a request happens whole or not at
 * all while the rest of the batch goes on.  If SQLite itself rolls the
 * transaction back (disk full, I/O error), the batch is marked failed:
 * later writes and the commit return -TOKQ_E_TEMP, so nothing of it is
 * acknowledged.  A commit also writes the next part of the totals written
 * behind, and a rollback forgets those waiting: the replay adds them again
 * from the events the database kept (store_totals.c).
 */
#include "store_db.h"

/*
 * Open (creating it and its directory if need be) the database at path,
 * bring its schema up to date and prepare every statement.  On failure
 * everything is closed again and -TOKQ_E_TEMP (busy) or -TOKQ_E_INTERNAL
 * is returned.
 */
int
sq_open(const char *path)
{
	int	 rc;

	if (db != NULL)
		return -TOKQ_E_INTERNAL;
	pend_clear();
	if ((rc = db_open(path, &next_id)) < 0)
		return rc;
	tx_open = tx_failed = false;
	return 0;
}

/* Roll back what is uncommitted, finalize every statement, close. */
void
sq_close(void)
{
	if (db == NULL)
		return;
	if (!tx_open && (pend.first != 0 || out.open) &&
	    (sq_settle() < 0 || sq_commit() < 0))
		log_warnx("store: totals left to replay at the next start");
	sq_rollback();
	totals_free();
	db_close();
}

/* Open the batch's transaction; a no-op when it is open already. */
int
sq_begin(void)
{
	int	 rc;

	if (tx_open)
		return 0;
	if ((rc = run(stmt(S_BEGIN), "begin")) < 0)
		return rc;
	tx_open = true;
	tx_failed = false;
	return 0;
}

/*
 * Commit the batch.  When that fails, or SQLite already rolled the batch
 * back, nothing of it is kept (an explicit ROLLBACK makes sure) and
 * -TOKQ_E_TEMP is returned: the caller acknowledges none of it.
 */
int
sq_commit(void)
{
	int	 rc;

	if (!tx_open)
		return 0;
	if (!tx_failed)
		pend_step();
	if (tx_failed) {
		sq_rollback();
		log_warnx("store: batch not committed");
		return -TOKQ_E_TEMP;
	}
	if ((rc = sqlite3_step(stmt(S_COMMIT))) != SQLITE_DONE) {
		log_warnx("store: commit: %s", sqlite3_errmsg(db));
		stmt_done(stmt(S_COMMIT));
		sq_rollback();
		return -TOKQ_E_TEMP;
	}
	stmt_done(stmt(S_COMMIT));
	tx_open = false;
	return 0;
}

/* Undo the batch, if one is open. */
void
sq_rollback(void)
{
	pend_clear();
	hmap_clear(&known_users, NULL);
	sp_depth = 0;
	if (!tx_open)
		return;
	if (!sqlite3_get_autocommit(db) &&
	    sqlite3_step(stmt(S_ROLLBACK)) != SQLITE_DONE)
		log_warnx("store: rollback: %s", sqlite3_errmsg(db));
	stmt_done(stmt(S_ROLLBACK));
	tx_open = tx_failed = false;
}

bool
sq_in_tx(void)
{
	return tx_open;
}

/*
 * One request's writes, inside the batch: sq_mark() opens the batch if
 * needed and sets a savepoint; sq_unmark(rc) releases it when rc >= 0
 * and undoes the request's writes when rc < 0, so a request that fails half
 * way leaves nothing behind while the rest of the batch carries on.
 * Unless it only adds usage or holds (WRITES_ADDS: record and import, which
 * add to the totals, and release, which touches none), a request writes the
 * pending totals out first, outside its savepoint: it may clear or read them.
 */
int
sq_mark(enum write_kind w)
{
	int	 rc;

	if ((rc = sq_begin()) < 0)
		return rc;
	if (w != WRITES_ADDS && (rc = pend_flush("request")) < 0)
		return rc;
	return sp_begin("request");
}

int
sq_unmark(int rc)
{
	return sp_end(rc, "request");
}

/*
 * Write what waits into the batch, opening one if none is: before the
 * daily totals are read.  Returns 1 when it wrote, 0 when nothing waited,
 * or a negative code.
 */
int
sq_settle(void)
{
	int	 rc;

	if (!out.open && pend.first == 0)
		return 0;
	if ((rc = sq_begin()) < 0 || (rc = pend_flush("settle")) < 0)
		return rc;
	return 1;
}

/* The SQLite store is this host's alone: its calls wait on no network. */
bool
sq_remote(void)
{
	return false;
}

/* No other daemon writes an SQLite store: nothing ever goes stale. */
void
sq_on_stale(void (*fn)(const struct stale *))
{
}

/* Loads are local and cheap: nothing is worth fetching ahead. */
int
sq_bucket_prefetch(const struct bucket_want *w, size_t n)
{
	return 0;
}

/* The only daemon of its database runs its maintenance. */
bool
sq_maint_owner(void)
{
	return true;
}

const struct store_backend store_sqlite = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.in_tx = sq_in_tx,
	.mark = sq_mark,
	.unmark = sq_unmark,
	.settle = sq_settle,
	.remote = sq_remote,
	.on_stale = sq_on_stale,
	.maint_owner = sq_maint_owner,
	.db_bytes = sq_db_bytes,
	.bulk = sq_bulk,
	.meta_get = sq_meta_get,
	.meta_set = sq_meta_set,
	.event_add = sq_event_add,
	.replay = sq_replay,
	.tune_parts = sq_tune_parts,
	.bucket_add = sq_bucket_add,
	.bucket_load = sq_bucket_load,
	.bucket_prefetch = sq_bucket_prefetch,
	.bucket_clear = sq_bucket_clear,
	.counts = sq_counts,
	.rule_put = sq_rule_put,
	.rule_del = sq_rule_del,
	.rule_load = sq_rule_load,
	.plan_set = sq_plan_set,
	.plan_load = sq_plan_load,
	.bypass_set = sq_bypass_set,
	.bypass_load = sq_bypass_load,
	.price_put = sq_price_put,
	.price_del = sq_price_del,
	.price_load = sq_price_load,
	.hold_put = sq_hold_put,
	.hold_del = sq_hold_del,
	.hold_load = sq_hold_load,
	.key_get = sq_key_get,
	.key_put = sq_key_put,
	.events_sum = sq_events_sum,
	.bucket_compact = sq_bucket_compact,
	.bucket_prune = sq_bucket_prune,
	.events_prune = sq_events_prune,
	.hourly_prune = sq_hourly_prune,
	.month_archive = sq_month_archive,
	.user_hours_totals = sq_user_hours_totals,
	.user_daily_totals = sq_user_daily_totals,
	.user_models_totals = sq_user_models_totals,
	.user_models_since = sq_user_models_since,
	.view_totals = sq_view_totals,
	.view_group = sq_view_group,
	.view_user_all = sq_view_user_all,
	.events_page = sq_events_page,
	.daily_page = sq_daily_page,
	.daily_events = sq_daily_events,
	.daily_add = sq_daily_add,
};
