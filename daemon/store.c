/*
 * store.c: the store's face: opening and closing the database, and the
 * batch's transaction.
 *
 * The store is the only part of tokqd that includes sqlite3.h, with
 * walbuf.c, the VFS beneath it.  Its files share store_db.h, and their
 * calls run one way, from the top down:
 *
 *	store.c			open, close, the batch, a request's mark
 *	store_views.c		a user's totals, the admin views, events
 *	store_maint.c		folding, pruning, the monthly archive
 *	store_settings.c	rules, plans, bypass, prices, holds, keys
 *	store_totals.c		the record, savepoints, the totals written
 *				behind and their replay
 *	store_pendset.c		the pending rows' memory and their order
 *	store_db.c		the connection, schema, statements, meta
 *
 * Writes run inside one transaction that the event loop opens with
 * store_begin() and closes with store_commit() for a whole batch of
 * requests (group commit); a request's writes run under a savepoint
 * (store_mark, store_unmark), so that a request happens whole or not at
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
store_open(const char *path)
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
store_close(void)
{
	if (db == NULL)
		return;
	if (!tx_open && (pend.first != 0 || out.open) &&
	    (store_settle() < 0 || store_commit() < 0))
		log_warnx("store: totals left to replay at the next start");
	store_rollback();
	totals_free();
	db_close();
}

/* Open the batch's transaction; a no-op when it is open already. */
int
store_begin(void)
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
store_commit(void)
{
	int	 rc;

	if (!tx_open)
		return 0;
	if (!tx_failed)
		pend_step();
	if (tx_failed) {
		store_rollback();
		log_warnx("store: batch not committed");
		return -TOKQ_E_TEMP;
	}
	if ((rc = sqlite3_step(stmt(S_COMMIT))) != SQLITE_DONE) {
		log_warnx("store: commit: %s", sqlite3_errmsg(db));
		stmt_done(stmt(S_COMMIT));
		store_rollback();
		return -TOKQ_E_TEMP;
	}
	stmt_done(stmt(S_COMMIT));
	tx_open = false;
	return 0;
}

/* Undo the batch, if one is open. */
void
store_rollback(void)
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
store_in_tx(void)
{
	return tx_open;
}

/*
 * One request's writes, inside the batch: store_mark() opens the batch if
 * needed and sets a savepoint; store_unmark(rc) releases it when rc >= 0
 * and undoes the request's writes when rc < 0, so a request that fails half
 * way leaves nothing behind while the rest of the batch carries on.
 * Unless it only adds usage or holds (WRITES_ADDS: record and import, which
 * add to the totals, and release, which touches none), a request writes the
 * pending totals out first, outside its savepoint: it may clear or read them.
 */
int
store_mark(enum write_kind w)
{
	int	 rc;

	if ((rc = store_begin()) < 0)
		return rc;
	if (w != WRITES_ADDS && (rc = pend_flush("request")) < 0)
		return rc;
	return sp_begin("request");
}

int
store_unmark(int rc)
{
	return sp_end(rc, "request");
}

/*
 * Write what waits into the batch, opening one if none is: before the
 * daily totals are read.  Returns 1 when it wrote, 0 when nothing waited,
 * or a negative code.
 */
int
store_settle(void)
{
	int	 rc;

	if (!out.open && pend.first == 0)
		return 0;
	if ((rc = store_begin()) < 0 || (rc = pend_flush("settle")) < 0)
		return rc;
	return 1;
}

/* The SQLite store is this host's alone: its calls wait on no network. */
bool
store_remote(void)
{
	return false;
}

/* No other daemon writes an SQLite store: nothing ever goes stale. */
void
store_on_stale(void (*fn)(const struct stale *))
{
}

/* The only daemon of its database runs its maintenance. */
bool
store_maint_owner(void)
{
	return true;
}
