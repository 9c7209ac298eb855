/*
 * store_pg_conn.c: the PostgreSQL backend's bottom: the connection, its
 * session and schema, the statements' parameters and results, and the
 * bounded waits.
 *
 * The connection is non-blocking and in pipeline mode.  A statement is
 * queued (pg_enqueue, pg_queue) and its result waited for with those
 * before it (pg_wait).  Every wait, the connection's too, polls the socket
 * against a deadline (PG_WAIT_USEC, or the URI's connect_timeout for a
 * connection): past it, or on a broken connection, the connection is
 * dropped (pg_drop, which counts pg_drops: what others changed meanwhile
 * is unknown), the call returns -TOKQ_E_TEMP, and the next one reconnects
 * by itself, at most once per PG_RETRY_USEC.  The round's log (store_pg_log.c)
 * and the transaction (store_pg.c) sit above it.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_pg_sql.h"

/*
 * Any round trip's wait, and a connection's unless the URI sets
 * connect_timeout: under the contract's 2 s for a temporary failure, with
 * room for the request's way there and back.
 */
#define PG_WAIT_USEC	(1500 * 1000)
#define PG_MIGRATE_USEC	(120 * 1000 * 1000)	/* the migrations' */
#define PG_RETRY_USEC	(500 * 1000)	/* between reconnections */
#define PG_IDLE_MSEC	5000		/* a session idle in a transaction ends */
#define PG_QUEUE_MAX	2048		/* statements queued before a wait */

static PGconn	*conn;
static char	*uri;			/* never logged: it may hold a password */
static char	*schema;		/* quoted, for SET search_path */
static uint64_t	 wait_usec = PG_WAIT_USEC;
static uint64_t	 last_try;		/* of a connection, mono_usec */
static size_t	 nsent;			/* statements queued since the last Sync */
static size_t	 synced[3];		/* of each Sync sent but not waited for */
static bool	 detached[3];		/* unwaited (pg_sync_detached) */
static enum pg_stmt undo[3];		/* ... and what goes first if it failed */
static bool	 draining;
static size_t	 nsynced;

char		 pg_where[256];		/* "database D on H", for the logs */
int64_t		 pg_lock_key, pg_maint_key, pg_alive_key;
uint64_t	 pg_drops;		/* connections dropped so far */
bool		 pg_tx_open, pg_tx_failed;
bool		 pg_ahead;		/* the commit sends the next round's begin */

/* Parameters. */
void
pgq_int(struct pgq *q, int64_t x)
{
	if (q->n >= PGQ_MAX)
		fatalx("store: too many parameters");
	snprintf(q->num[q->n], sizeof(q->num[q->n]), "%lld", (long long)x);
	q->v[q->n] = q->num[q->n];
	q->n++;
}

void
pgq_text(struct pgq *q, const char *s)
{
	if (q->n >= PGQ_MAX)
		fatalx("store: too many parameters");
	q->v[q->n++] = s;
}

void
pgq_key(struct pgq *q, const char *s)
{
	pgq_text(q, s ? s : "");
}

/* Column values: text results, NULL as 0 or NULL. */
int64_t
pg_int(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return 0;
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

const char *
pg_text(const PGresult *r, int row, int col, bool empty_null)
{
	const char	*s;

	if (PQgetisnull(r, row, col))
		return NULL;
	s = PQgetvalue(r, row, col);
	return empty_null && *s == '\0' ? NULL : s;
}

void
pg_usage(const PGresult *r, int row, int col, struct usage *u)
{
	u->requests = pg_int(r, row, col);
	u->prompt = pg_int(r, row, col + 1);
	u->completion = pg_int(r, row, col + 2);
	u->total = pg_int(r, row, col + 3);
	u->cached = pg_int(r, row, col + 4);
	u->cache_write = pg_int(r, row, col + 5);
	u->reasoning = pg_int(r, row, col + 6);
	u->cost = pg_int(r, row, col + 7);
}

/*
 * The advisory locks' keys: a 64-bit FNV-1a of "tokq:", what and the
 * schema's name.  Its own code, not hmap.c's: every daemon of every host
 * and version must take the same key, whatever becomes of the map's hash.
 */
static int64_t
key_of(const char *what, const char *s)
{
	const char	*parts[] = { "tokq:", what, s };
	uint64_t	 h = 14695981039346656037ULL;
	size_t		 i;

	for (i = 0; i < 3; i++)
		for (s = parts[i]; *s; s++) {
			h ^= (unsigned char)*s;
			h *= 1099511628211ULL;
		}
	return (int64_t)h;
}

/* libpq's notices (CREATE ... IF NOT EXISTS) go to the debug log. */
static void
notice(void *arg, const char *msg)
{
	log_debug("store: %s: %.*s", pg_where, (int)strcspn(msg, "\n"), msg);
}

/*
 * Wait until the socket is ready for what libpq wants (in, or out too
 * while output is unflushed), until deadline.  0, or -1 when it passed or
 * the socket failed.
 */
static int
wait_sock(bool out, uint64_t deadline)
{
	struct pollfd	 pfd;
	uint64_t	 t;
	int		 rc;

	if ((pfd.fd = PQsocket(conn)) < 0)
		return -1;
	pfd.events = POLLIN | (out ? POLLOUT : 0);
	for (;;) {
		if ((t = mono_usec()) >= deadline)
			return -1;
		rc = poll(&pfd, 1, (int)((deadline - t + 999) / 1000));
		if (rc > 0)
			return 0;
		if (rc == 0)
			return -1;
		if (errno != EINTR)
			return -1;
	}
}

/*
 * A statement failed: log its message, in one line, and return its
 * TOKQ_E_* code.  A server that turned read-only (a standby behind the
 * URI after a failover) sets read_only: the connection is dropped, and
 * the next one finds the primary.
 */
static int
result_failed(const PGresult *r, bool *read_only)
{
	const char	*st = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	log_warnx("store: %s: %.*s", pg_where,
	    (int)strcspn(PQresultErrorMessage(r), "\n"), PQresultErrorMessage(r));

	if (st == NULL)
		return -TOKQ_E_TEMP;
	if (strcmp(st, "25006") == 0) {		/* read_only_sql_transaction */
		*read_only = true;
		return -TOKQ_E_TEMP;
	}
	/* connection, serialization, resources, operator, lock not available */
	if (strncmp(st, "08", 2) == 0 || strncmp(st, "40", 2) == 0 ||
	    strncmp(st, "53", 2) == 0 || strncmp(st, "57", 2) == 0 ||
	    strcmp(st, "55P03") == 0)
		return -TOKQ_E_TEMP;
	return -TOKQ_E_INTERNAL;
}

/* Free the results kept so far: the wait failed. */
void
pg_unkeep(PGresult **keep, size_t nkeep)
{
	size_t	 i;

	for (i = 0; i < nkeep; i++) {
		PQclear(keep[i]);
		keep[i] = NULL;
	}
}

/*
 * End a segment of the pipeline with a Sync, unwaited: the statements
 * queued after it are another segment, which an error in this one does not
 * abort, and whose results the next pg_wait after this one's reads.  So two
 * segments go in one round trip (a commit and the next round's begin).
 */
int
pg_sync(void)
{
	if (conn == NULL || nsynced == sizeof(synced) / sizeof(synced[0]) || PQpipelineSync(conn) != 1) {
		pg_drop(conn ? PQerrorMessage(conn) : "no connection");
		return -TOKQ_E_TEMP;
	}
	detached[nsynced] = false;
	synced[nsynced++] = nsent;
	nsent = 0;
	return 0;
}

/*
 * End a segment that nobody waits for: its results are read before the
 * next statement is queued (or the next wait), and if one of them failed,
 * statement u goes first unless it is P_MAX (a ROLLBACK TO, so that the
 * transaction it ran in goes on).  So the server runs it while the daemon
 * does something else.
 */
int
pg_sync_detached(enum pg_stmt u)
{
	if (pg_sync() < 0)
		return -TOKQ_E_TEMP;
	detached[nsynced - 1] = true;
	undo[nsynced - 1] = u;
	return 0;
}

static int	 wait_head(PGresult **, size_t);

/*
 * Read the detached segments at the head, if any, and queue the undo of
 * one that failed; 0, or -TOKQ_E_TEMP when the connection went.
 */
static int
drain(void)
{
	enum pg_stmt	 u = P_MAX, mine;

	if (draining || nsynced == 0 || !detached[0])
		return 0;
	draining = true;
	while (conn != NULL && nsynced > 0 && detached[0]) {
		mine = undo[0];
		if (wait_head(NULL, 0) < 0 && conn != NULL)
			u = mine;
	}
	draining = false;
	if (conn == NULL || (u != P_MAX && pg_enqueue(u, NULL) < 0))
		return -TOKQ_E_TEMP;
	return 0;
}

/*
 * Read every result of the oldest segment (pg_sync; one is ended now if
 * none was): those of its statements are checked and freed, those of its
 * last nkeep are kept in keep[0..nkeep-1] (the caller PQclears them).
 * Returns 0, or a negative code: a failed statement (the transaction
 * fails), or a wait past wait_usec or a broken connection (the connection
 * is dropped).
 */
int
pg_wait(PGresult **keep, size_t nkeep)
{
	if (drain() < 0)
		return -TOKQ_E_TEMP;
	return wait_head(keep, nkeep);
}

static int
wait_head(PGresult **keep, size_t nkeep)
{
	uint64_t	 deadline = mono_usec() + wait_usec;
	PGresult	*r;
	size_t		 done = 0, first, n;
	int		 rc = 0, fl;
	bool		 ended = false;	/* the current statement's results ended */
	bool		 read_only = false;

	for (fl = 0; (size_t)fl < nkeep; fl++)
		keep[fl] = NULL;
	if (conn == NULL || (nsynced == 0 && pg_sync() < 0))
		goto broken;
	n = synced[0];
	first = n - nkeep;
	for (;;) {
		if ((fl = PQflush(conn)) < 0)
			goto broken;
		while (!PQisBusy(conn)) {
			r = PQgetResult(conn);
			if (r == NULL) {
				/* one statement's results end; twice: wait */
				if (ended)
					break;
				done++;
				ended = true;
				continue;
			}
			ended = false;
			switch (PQresultStatus(r)) {
			case PGRES_PIPELINE_SYNC:
				PQclear(r);
				if (--nsynced > 0) {
					memmove(synced, synced + 1,
					    nsynced * sizeof(synced[0]));
					memmove(undo, undo + 1,
					    nsynced * sizeof(undo[0]));
					memmove(detached, detached + 1,
					    nsynced * sizeof(detached[0]));
				}
				if (rc < 0)
					pg_unkeep(keep, nkeep);
				if (read_only)
					pg_drop("the server is read-only (a standby?)");
				return rc;
			case PGRES_COMMAND_OK:
			case PGRES_TUPLES_OK:
				if (done >= first && done < n &&
				    keep[done - first] == NULL) {
					keep[done - first] = r;
					continue;
				}
				break;
			case PGRES_PIPELINE_ABORTED:
				if (rc == 0)
					rc = -TOKQ_E_TEMP;
				break;
			default:
				if (rc == 0)
					rc = result_failed(r, &read_only);
				break;
			}
			PQclear(r);
		}
		if (PQstatus(conn) == CONNECTION_BAD)
			goto broken;
		if (wait_sock(fl == 1, deadline) == -1) {
			pg_unkeep(keep, nkeep);
			pg_drop(mono_usec() >= deadline ? "no answer in time" :
			    "connection lost");
			return -TOKQ_E_TEMP;
		}
		if (PQconsumeInput(conn) != 1)
			goto broken;
	}
broken:
	pg_unkeep(keep, nkeep);
	pg_drop(conn ? PQerrorMessage(conn) : "no connection");
	return -TOKQ_E_TEMP;
}

/*
 * Forget the connection: it broke or did not answer in time.  What the
 * open transaction wrote is lost (the server rolls it back), so it fails;
 * what others changed meanwhile is unknown (STALE_ALL at the next begin);
 * the maintenance lock went with the session.
 */
void
pg_drop(const char *why)
{
	if (conn == NULL)
		return;
	log_warnx("store: %s: %.*s; reconnecting", pg_where,
	    (int)strcspn(why, "\n"), why);
	PQfinish(conn);
	conn = NULL;
	nsent = nsynced = 0;
	last_try = mono_usec();		/* no reconnection in the same breath */
	pg_drops++;		/* what others changed meanwhile is unknown */
	if (pg_tx_open)
		pg_tx_failed = true;
}

/*
 * Statements planned at each run, not once: their best plan depends on
 * how large their tables are now (the buckets grow from nothing in a new
 * database, and a plan made when they were empty scans them whole), and
 * their planning costs little beside a wrong plan.  The begin's reads are
 * prepared, planned by index (P_INDEXED): they run at every round.
 */
static bool
planned_each_run(enum pg_stmt id)
{
	return id == P_BUCKET_LOAD;
}

/* Queue a statement in the pipeline, unwaited. */
int
pg_enqueue(enum pg_stmt id, const struct pgq *q)
{
	char	 name[8];
	int	 ok;

	if (drain() < 0)
		return -TOKQ_E_TEMP;

	snprintf(name, sizeof(name), "p%d", (int)id);
	if (planned_each_run(id))
		ok = PQsendQueryParams(conn, pg_sql[id], q ? q->n : 0, NULL,
		    q ? q->v : NULL, NULL, NULL, 0);
	else
		ok = PQsendQueryPrepared(conn, name, q ? q->n : 0,
		    q ? q->v : NULL, NULL, NULL, 0);
	if (ok != 1) {
		pg_drop(PQerrorMessage(conn));
		return -TOKQ_E_TEMP;
	}
	nsent++;
	return 0;
}

static int	 pg_connect(void);


/* A connection to send on: the one there is, or a new one. */
int
pg_ready(void)
{
	if (conn != NULL)
		return 0;
	if (pg_tx_open)			/* its transaction died with it */
		return -TOKQ_E_TEMP;
	return pg_connect();
}

/*
 * Queue a statement, unwaited and without a flush of the round's log: the
 * log's own statements, and the savepoints.  Past PG_QUEUE_MAX queued,
 * wait for them now.
 */
int
pg_queue(enum pg_stmt id, const struct pgq *q)
{
	int	 rc;

	if (pg_tx_failed)
		return -TOKQ_E_TEMP;
	if ((rc = pg_ready()) < 0 || (rc = pg_enqueue(id, q)) < 0)
		return rc;
	if (nsent >= PG_QUEUE_MAX && (rc = pg_wait(NULL, 0)) < 0) {
		if (pg_tx_open)
			pg_tx_failed = true;
		return rc;
	}
	return 0;
}

/*
 * Run SQL text, one or several statements, by the simple protocol: for the
 * session's set-up and the migrations, before the connection enters
 * pipeline mode.  The last result with rows is kept in *keep when keep is
 * not NULL.  0, or a code (the connection dropped when it did not answer).
 */
static int
simple_exec(const char *sql, PGresult **keep)
{
	uint64_t	 deadline = mono_usec() + wait_usec;
	PGresult	*r;
	int		 rc = 0, fl;
	bool		 read_only = false;

	if (keep)
		*keep = NULL;
	if (PQsendQuery(conn, sql) != 1)
		goto broken;
	for (;;) {
		if ((fl = PQflush(conn)) < 0)
			goto broken;
		while (!PQisBusy(conn)) {
			if ((r = PQgetResult(conn)) == NULL) {
				if (read_only)
					pg_drop("the server is read-only (a standby?)");
				return rc;
			}
			switch (PQresultStatus(r)) {
			case PGRES_TUPLES_OK:
				if (keep && rc == 0) {
					if (*keep)
						PQclear(*keep);
					*keep = r;
					continue;
				}
				break;
			case PGRES_COMMAND_OK:
				break;
			default:
				if (rc == 0) {
					rc = result_failed(r, &read_only);
					if (keep && *keep) {
						PQclear(*keep);
						*keep = NULL;
					}
				}
				break;
			}
			PQclear(r);
		}
		if (wait_sock(fl == 1, deadline) == -1 || PQconsumeInput(conn) != 1)
			goto broken;
	}
broken:
	if (keep && *keep) {
		PQclear(*keep);
		*keep = NULL;
	}
	pg_drop(mono_usec() >= deadline ? "no answer in time" : PQerrorMessage(conn));
	return -TOKQ_E_TEMP;
}

/* Meta 'schema_version', 0 when the schema has no meta table yet. */
static int
schema_version(int64_t *v)
{
	PGresult	*r;
	int		 rc;

	*v = 0;
	if ((rc = simple_exec("SELECT to_regclass('meta') IS NOT NULL", &r)) < 0)
		return rc;
	rc = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (rc == 0)
		return 0;
	if ((rc = simple_exec("SELECT val FROM meta WHERE name = 'schema_version'",
	    &r)) < 0)
		return rc;
	if (PQntuples(r) == 1)
		*v = pg_int(r, 0, 0);
	PQclear(r);
	return 0;
}

/*
 * Bring the schema up to date.  When it is, nothing waits: a daemon
 * joining others that hold the write lock starts at once.  Otherwise the
 * migration runs under the write lock, so that two daemons starting at
 * once migrate it once, and an upgrade never runs beside another daemon's
 * round: the schema, the meta table, every step after meta
 * 'schema_version', in one transaction.  A schema from a newer tokqd is
 * refused rather than guessed at.
 */
static int
migrate(void)
{
	char		 sql[512];
	int64_t		 v = 0;
	int		 i, rc;

	wait_usec = PG_MIGRATE_USEC;
	if ((rc = schema_version(&v)) < 0)
		goto fail;
	if (v == pg_nmigrations) {
		wait_usec = PG_WAIT_USEC;
		return 0;
	}
	snprintf(sql, sizeof(sql), "BEGIN; SET LOCAL statement_timeout = 0;"
	    " SET LOCAL lock_timeout = 0; SELECT pg_advisory_xact_lock(%lld);"
	    " CREATE SCHEMA IF NOT EXISTS %s; CREATE TABLE IF NOT EXISTS meta"
	    " (name text COLLATE \"C\" PRIMARY KEY, val bigint NOT NULL)",
	    (long long)pg_lock_key, schema);
	if ((rc = simple_exec(sql, NULL)) < 0 || (rc = schema_version(&v)) < 0)
		goto fail;
	if (v > pg_nmigrations) {
		log_warnx("store: %s: schema version %lld is newer than this"
		    " tokqd's %d", pg_where, (long long)v, pg_nmigrations);
		rc = -TOKQ_E_INTERNAL;
		goto fail;
	}
	for (i = (int)v; i < pg_nmigrations; i++)
		if ((rc = simple_exec(pg_migrations[i], NULL)) < 0)
			goto fail;
	snprintf(sql, sizeof(sql), "INSERT INTO meta(name, val) VALUES"
	    " ('schema_version', %d) ON CONFLICT (name) DO UPDATE SET"
	    " val = excluded.val", pg_nmigrations);
	if ((rc = simple_exec(sql, NULL)) < 0 ||
	    (rc = simple_exec("COMMIT", NULL)) < 0)
		goto fail;
	if (v != pg_nmigrations)
		log_info("store: %s: schema version %lld -> %d", pg_where,
		    (long long)v, pg_nmigrations);
	wait_usec = PG_WAIT_USEC;
	return 0;
fail:
	wait_usec = PG_WAIT_USEC;
	if (conn != NULL && simple_exec("ROLLBACK", NULL) < 0)
		pg_drop("rollback failed");
	return rc;
}

/* Prepare every statement, in one round trip. */
static int
prepare(void)
{
	char	 name[8];
	int	 i;

	for (i = 0; i < P_MAX; i++) {
		if (pg_sql[i] == NULL)
			fatalx("store: statement %d has no SQL", i);
		snprintf(name, sizeof(name), "p%d", i);
		if (PQsendPrepare(conn, name, pg_sql[i], 0, NULL) != 1) {
			pg_drop(PQerrorMessage(conn));
			return -TOKQ_E_TEMP;
		}
		nsent++;
	}
	return pg_wait(NULL, 0);
}

/* "database D on H" of the URI, for the logs: never the password. */
static void
describe(void)
{
	PQconninfoOption	*o, *opts;
	const char		*db = NULL, *host = NULL;

	snprintf(pg_where, sizeof(pg_where), "PostgreSQL");
	if ((opts = PQconninfoParse(uri, NULL)) == NULL)
		return;
	for (o = opts; o->keyword; o++) {
		if (strcmp(o->keyword, "dbname") == 0)
			db = o->val;
		else if (strcmp(o->keyword, "host") == 0)
			host = o->val;
	}
	snprintf(pg_where, sizeof(pg_where), "database %s on %s", db ? db : "(default)",
	    host ? host : "(default host)");
	PQconninfoFree(opts);
}

/* The URI's connect_timeout in microseconds (2 s at least, as libpq's), or PG_WAIT_USEC. */
static uint64_t
connect_usec(void)
{
	PQconninfoOption	*o, *opts;
	uint64_t		 usec = PG_WAIT_USEC;
	long			 s;

	if ((opts = PQconninfo(conn)) == NULL)
		return usec;
	for (o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "connect_timeout") == 0 && o->val &&
		    (s = strtol(o->val, NULL, 10)) > 0)
			usec = (uint64_t)(s < 2 ? 2 : s) * 1000 * 1000;
	PQconninfoFree(opts);
	return usec;
}

/*
 * Connect within connect_usec(), then set the session up: the search
 * path, the server's own bounds (a statement or a lock wait gives up
 * before our wait does; a session idle in a transaction is ended, so that
 * a stopped daemon cannot hold the write lock), the schema, the
 * statements.  0, or -TOKQ_E_TEMP with the connection dropped.
 */
static int
pg_connect(void)
{
	/*
	 * Before dbname, so that the URI may say otherwise; a standby is
	 * refused below whatever it says: its advisory locks exclude nobody
	 * on the primary, so nothing judged there would be exact.
	 */
	static const char *const kw[] = { "keepalives", "keepalives_idle",
	    "keepalives_interval", "keepalives_count", "application_name",
	    "target_session_attrs", "dbname", NULL };
	const char	*val[] = { "1", "10", "5", "3", "tokqd", "read-write", uri,
	    NULL };
	PGresult	*r = NULL;
	struct pgq	 aq = { 0 };
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	char		 sql[512];
	uint64_t	 deadline;
	int		 rc;

	if (last_try != 0 && mono_usec() - last_try < PG_RETRY_USEC)
		return -TOKQ_E_TEMP;
	last_try = mono_usec();
	if ((conn = PQconnectStartParams(kw, val, 1)) == NULL)
		return -TOKQ_E_TEMP;
	deadline = mono_usec() + connect_usec();
	while (PQstatus(conn) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
	    st != PGRES_POLLING_FAILED) {
		if (wait_sock(st == PGRES_POLLING_WRITING, deadline) == -1) {
			log_warnx("store: %s: cannot connect in time", pg_where);
			PQfinish(conn);
			conn = NULL;
			return -TOKQ_E_TEMP;
		}
		st = PQconnectPoll(conn);
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		log_warnx("store: %s: cannot connect: %.*s", pg_where,
		    (int)strcspn(PQerrorMessage(conn), "\n"), PQerrorMessage(conn));
		PQfinish(conn);
		conn = NULL;
		return -TOKQ_E_TEMP;
	}
	PQsetNoticeProcessor(conn, notice, NULL);
	if (PQsetnonblocking(conn, 1) != 0) {
		pg_drop("cannot go non-blocking");
		return -TOKQ_E_TEMP;
	}
	snprintf(sql, sizeof(sql), "SET search_path = %s;"
	    " SET statement_timeout = %d; SET lock_timeout = %d;"
	    " SET idle_in_transaction_session_timeout = %d", schema,
	    (int)(PG_WAIT_USEC / 1000) - 200, (int)(PG_WAIT_USEC / 1000) - 400,
	    PG_IDLE_MSEC);
	if ((rc = simple_exec(sql, NULL)) < 0 ||
	    (rc = simple_exec("SELECT pg_is_in_recovery()", &r)) < 0)
		goto fail;
	if (r == NULL || PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), "f") != 0) {
		PQclear(r);
		log_warnx("store: %s: a standby (read-only): tokqd needs the primary",
		    pg_where);
		rc = -TOKQ_E_TEMP;
		goto fail;
	}
	PQclear(r);
	if ((rc = migrate()) < 0)
		goto fail;
	if (PQsetnonblocking(conn, 1) != 0 || PQenterPipelineMode(conn) != 1) {
		pg_drop("cannot enter pipeline mode");
		return -TOKQ_E_TEMP;
	}
	nsent = nsynced = 0;
	if ((rc = prepare()) < 0)
		goto fail;
	/*
	 * Known to other daemons from now on, before anything is read: a
	 * daemon that thinks itself alone writes no journal rows, but raises
	 * the journal's floor past what this one saw (pg_commit).
	 */
	pgq_int(&aq, pg_alive_key);
	if ((rc = pg_enqueue(P_ALIVE, &aq)) < 0 || (rc = pg_wait(NULL, 0)) < 0)
		goto fail;
	log_info("store: connected to %s", pg_where);
	return 0;
fail:
	if (conn != NULL)
		pg_drop("cannot set the session up");
	return rc;
}

/* s as an SQL identifier: in double quotes, each one in it doubled. */
static char *
quote_ident(const char *s)
{
	char	*q, *p;

	if ((q = p = malloc(2 * strlen(s) + 3)) == NULL)
		return NULL;
	*p++ = '"';
	for (; *s; s++) {
		if (*s == '"')
			*p++ = '"';
		*p++ = *s;
	}
	*p++ = '"';
	*p = '\0';
	return q;
}

/*
 * Keep the URI (never logged) and the schema's name, quoted, and derive
 * the locks' keys; no connection yet (pg_ready makes one).
 * -TOKQ_E_INTERNAL when out of memory or open already.
 */
int
pg_conn_open(const char *path)
{
	if (conn != NULL || uri != NULL)
		return -TOKQ_E_INTERNAL;
	if ((uri = strdup(path)) == NULL)
		return -TOKQ_E_INTERNAL;
	describe();
	if ((schema = quote_ident(env.db_schema)) == NULL) {
		pg_conn_close();
		return -TOKQ_E_INTERNAL;
	}
	pg_lock_key = key_of("write:", env.db_schema);
	pg_maint_key = key_of("maint:", env.db_schema);
	pg_alive_key = key_of("alive:", env.db_schema);
	last_try = 0;
	return 0;
}

void
pg_conn_close(void)
{
	if (conn != NULL)
		PQfinish(conn);
	conn = NULL;
	nsent = nsynced = 0;
	free(uri);
	free(schema);
	uri = schema = NULL;
}

bool
pg_connected(void)
{
	return conn != NULL;
}
