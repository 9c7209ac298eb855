/*
 * store_pg.c: the PostgreSQL backend's bottom: the connection, the bounded
 * waits, the transaction, the write lock and the journal that keep several
 * daemons' memories exact; and the backend's table for store.c.
 *
 * Bounded.  The connection is non-blocking and in pipeline mode.  A
 * statement whose result nobody needs (most writes) is only queued
 * (pg_send); a read queues its statement and a Sync, then waits for every
 * result up to the Sync (pg_query), so the writes before it travel in the
 * same round trip.  Every wait, the connection's too, polls the socket
 * against a deadline (PG_WAIT_USEC, or the URI's connect_timeout for a
 * connection): past it, or on a broken connection, the connection is
 * dropped, the call returns -TOKQ_E_TEMP and so does the batch's commit;
 * the next call reconnects by itself (at most once per PG_RETRY_USEC), and
 * the next store_begin reports STALE_ALL.  Any error fails the
 * transaction: its commit returns -TOKQ_E_TEMP and rolls back.  A write is
 * acknowledged only after COMMIT returned COMMIT.
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
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_pg.h"

/*
 * Any round trip's wait, and a connection's unless the URI sets
 * connect_timeout: under the contract's 2 s for a temporary failure, with
 * room for the request's way there and back.
 */
#define PG_WAIT_USEC	(1500 * 1000)
#define PG_MIGRATE_USEC	(120 * 1000 * 1000)	/* the migrations' */
#define PG_RETRY_USEC	(500 * 1000)	/* between reconnections */
#define PG_IDLE_MSEC	5000		/* a session idle in a transaction ends */
#define PG_MAINT_USEC	(5 * 1000 * 1000)	/* between tries for maintenance */
#define PG_QUEUE_MAX	2048		/* statements queued before a wait */
#define PG_PRUNE_EVERY	256		/* generations between journal prunes */

static PGconn	*conn;
static char	*uri;			/* never logged: it may hold a password */
static char	 where[256];		/* "database D on H", for the logs */
static char	*schema;		/* quoted, for SET search_path */
static int64_t	 lock_key, maint_key, alive_key;
static uint64_t	 wait_usec = PG_WAIT_USEC;
static uint64_t	 last_try;		/* of a connection, mono_usec */
static size_t	 nsent;			/* statements queued since the last Sync */

bool		 pg_tx_open, pg_tx_failed;
static int64_t	 seen_gen = -1;		/* the last generation seen; -1 unknown */
static int64_t	 tx_gen;		/* the generation at the open transaction's begin */
static bool	 journaled;		/* journal rows were sent in it */
static bool	 alone;			/* no other daemon was connected at its begin */
static int64_t	 next_id;		/* of the next event, in the open transaction */
static int64_t	 next_id_begin;
static bool	 maint_owned;
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

static void pg_drop(const char *why);

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
	log_debug("store: %s: %.*s", where, (int)strcspn(msg, "\n"), msg);
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

/* The TOKQ_E_* code of a failed statement's result. */
static int
result_code(const PGresult *r)
{
	const char	*st = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	if (st == NULL)
		return -TOKQ_E_TEMP;
	/* connection, serialization, resources, operator, lock not available */
	if (strncmp(st, "08", 2) == 0 || strncmp(st, "40", 2) == 0 ||
	    strncmp(st, "53", 2) == 0 || strncmp(st, "57", 2) == 0 ||
	    strcmp(st, "55P03") == 0)
		return -TOKQ_E_TEMP;
	return -TOKQ_E_INTERNAL;
}

/* Free the results kept so far: the wait failed. */
static void
unkeep(PGresult **keep, size_t nkeep)
{
	size_t	 i;

	for (i = 0; i < nkeep; i++) {
		PQclear(keep[i]);
		keep[i] = NULL;
	}
}

/*
 * Send a Sync and read every result up to it: those of the statements
 * queued before are checked and freed, those of the last nkeep are kept in
 * keep[0..nkeep-1] (the caller PQclears them).  Returns 0, or a negative
 * code: a failed statement (the transaction fails), or a wait past
 * wait_usec or a broken connection (the connection is dropped).
 */
static int
pg_wait(PGresult **keep, size_t nkeep)
{
	uint64_t	 deadline = mono_usec() + wait_usec;
	PGresult	*r;
	size_t		 done = 0, first = nsent - nkeep;
	int		 rc = 0, fl;
	bool		 ended = false;	/* the current statement's results ended */

	for (fl = 0; (size_t)fl < nkeep; fl++)
		keep[fl] = NULL;
	if (PQpipelineSync(conn) != 1)
		goto broken;
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
				nsent = 0;
				if (rc < 0)
					unkeep(keep, nkeep);
				return rc;
			case PGRES_COMMAND_OK:
			case PGRES_TUPLES_OK:
				if (done >= first && done < nsent &&
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
				if (rc == 0) {
					log_warnx("store: %s: %.*s", where,
					    (int)strcspn(PQresultErrorMessage(r), "\n"),
					    PQresultErrorMessage(r));
					rc = result_code(r);
				}
				break;
			}
			PQclear(r);
		}
		if (PQstatus(conn) == CONNECTION_BAD)
			goto broken;
		if (wait_sock(fl == 1, deadline) == -1) {
			unkeep(keep, nkeep);
			pg_drop(mono_usec() >= deadline ? "no answer in time" :
			    "connection lost");
			return -TOKQ_E_TEMP;
		}
		if (PQconsumeInput(conn) != 1)
			goto broken;
	}
broken:
	unkeep(keep, nkeep);
	pg_drop(PQerrorMessage(conn));
	return -TOKQ_E_TEMP;
}

/*
 * Forget the connection: it broke or did not answer in time.  What the
 * open transaction wrote is lost (the server rolls it back), so it fails;
 * what others changed meanwhile is unknown (STALE_ALL at the next begin);
 * the maintenance lock went with the session.
 */
static void
pg_drop(const char *why)
{
	if (conn == NULL)
		return;
	log_warnx("store: %s: %.*s; reconnecting", where,
	    (int)strcspn(why, "\n"), why);
	PQfinish(conn);
	conn = NULL;
	nsent = 0;
	last_try = mono_usec();		/* no reconnection in the same breath */
	seen_gen = -1;
	maint_owned = false;
	if (pg_tx_open)
		pg_tx_failed = true;
}

/*
 * Statements planned at each run, not once: their best plan depends on
 * how large their tables are now (the journal and the buckets grow from
 * nothing in a new database, and a plan made when they were empty scans
 * them whole), and their planning costs little beside a wrong plan.
 */
static bool
planned_each_run(enum pg_stmt id)
{
	return id == P_JOURNAL || id == P_BUCKET_PREFETCH || id == P_BUCKET_LOAD;
}

/* Queue a statement in the pipeline, unwaited. */
static int
queue(enum pg_stmt id, const struct pgq *q)
{
	char	 name[8];
	int	 ok;

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
static int
ready(void)
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
	if ((rc = ready()) < 0 || (rc = queue(id, q)) < 0)
		return rc;
	if (nsent >= PG_QUEUE_MAX && (rc = pg_wait(NULL, 0)) < 0) {
		if (pg_tx_open)
			pg_tx_failed = true;
		return rc;
	}
	return 0;
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
	if ((rc = pglog_flush(true)) < 0)
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
	case P_MAINT_TRY:
	case P_META_GET:
	case P_DB_BYTES:
	case P_BUCKET_PREFETCH:
	case P_BUCKET_LOAD:
	case P_COUNTS:
	case P_KEY_GET:
	case P_EVENTS_SUM:
	case P_RULE_LOAD:
	case P_PLAN_LOAD:
	case P_BYPASS_LOAD:
	case P_PRICE_LOAD:
	case P_HOLD_LOAD:
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
	    (*rc = ready()) < 0 || (*rc = queue(id, q)) < 0)
		return NULL;
	if ((*rc = pg_wait(&r, 1)) < 0) {
		if (pg_tx_open)
			pg_tx_failed = true;
		return NULL;
	}
	if (r == NULL) {
		log_warnx("store: %s: statement %d returned nothing", where, (int)id);
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

	if (keep)
		*keep = NULL;
	if (PQsendQuery(conn, sql) != 1)
		goto broken;
	for (;;) {
		if ((fl = PQflush(conn)) < 0)
			goto broken;
		while (!PQisBusy(conn)) {
			if ((r = PQgetResult(conn)) == NULL)
				return rc;
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
					log_warnx("store: %s: %.*s", where,
					    (int)strcspn(PQresultErrorMessage(r), "\n"),
					    PQresultErrorMessage(r));
					rc = result_code(r);
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
	    (long long)lock_key, schema);
	if ((rc = simple_exec(sql, NULL)) < 0 || (rc = schema_version(&v)) < 0)
		goto fail;
	if (v > pg_nmigrations) {
		log_warnx("store: %s: schema version %lld is newer than this"
		    " tokqd's %d", where, (long long)v, pg_nmigrations);
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
		log_info("store: %s: schema version %lld -> %d", where,
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

	snprintf(where, sizeof(where), "PostgreSQL");
	if ((opts = PQconninfoParse(uri, NULL)) == NULL)
		return;
	for (o = opts; o->keyword; o++) {
		if (strcmp(o->keyword, "dbname") == 0)
			db = o->val;
		else if (strcmp(o->keyword, "host") == 0)
			host = o->val;
	}
	snprintf(where, sizeof(where), "database %s on %s", db ? db : "(default)",
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
	static const char *const kw[] = { "keepalives", "keepalives_idle",
	    "keepalives_interval", "keepalives_count", "application_name",
	    "dbname", NULL };
	const char	*val[] = { "1", "10", "5", "3", "tokqd", uri, NULL };
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
			log_warnx("store: %s: cannot connect in time", where);
			PQfinish(conn);
			conn = NULL;
			return -TOKQ_E_TEMP;
		}
		st = PQconnectPoll(conn);
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		log_warnx("store: %s: cannot connect: %.*s", where,
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
	if ((rc = simple_exec(sql, NULL)) < 0 || (rc = migrate()) < 0)
		goto fail;
	if (PQsetnonblocking(conn, 1) != 0 || PQenterPipelineMode(conn) != 1) {
		pg_drop("cannot enter pipeline mode");
		return -TOKQ_E_TEMP;
	}
	nsent = 0;
	if ((rc = prepare()) < 0)
		goto fail;
	/*
	 * Known to other daemons from now on, before anything is read: a
	 * daemon that thinks itself alone writes no journal rows, but raises
	 * the journal's floor past what this one saw (pg_commit).
	 */
	pgq_int(&aq, alive_key);
	if ((rc = queue(P_ALIVE, &aq)) < 0 || (rc = pg_wait(NULL, 0)) < 0)
		goto fail;
	log_info("store: connected to %s", where);
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

	if (conn != NULL || uri != NULL)
		return -TOKQ_E_INTERNAL;
	if ((uri = strdup(path)) == NULL)
		return -TOKQ_E_INTERNAL;
	describe();
	if ((schema = quote_ident(env.db_schema)) == NULL) {
		pg_close();
		return -TOKQ_E_INTERNAL;
	}
	lock_key = key_of("write:", env.db_schema);
	maint_key = key_of("maint:", env.db_schema);
	alive_key = key_of("alive:", env.db_schema);
	last_try = 0;
	/*
	 * A database that does not answer yet (the host booted before it)
	 * is no reason not to start: requests are refused, temporary, until
	 * a round's begin connects (pg_begin), which then reports STALE_ALL
	 * (seen_gen unknown) so memory loads everything.
	 */
	pgq_int(&q, alive_key);
	if ((rc = pg_connect()) < 0 || (r = pg_query(P_GEN, &q, &rc)) == NULL) {
		seen_gen = -1;		/* the failure was logged, in one line */
		return 0;
	}
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
	if (conn != NULL)
		PQfinish(conn);
	conn = NULL;
	notes_clear();
	pglog_free();
	free(notes);
	notes = NULL;
	capnotes = 0;
	free(uri);
	free(schema);
	uri = schema = NULL;
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
 * Open the round's transaction under the write lock, and tell the stale
 * hook what other daemons committed since this one last looked: one round
 * trip (BEGIN, the lock, the generation, the journal after it, and the
 * counters asked for ahead before it: store_bucket_prefetch).
 */
int
pg_begin(void)
{
	struct pgq	 q = { 0 }, aq = { 0 }, jq = { 0 };
	PGresult	*res[3] = { NULL, NULL, NULL }, *g, *j;
	int64_t		 gen, floor;
	int		 rc, i, pf = 0;
	bool		 all;

	if (pg_tx_open)
		return 0;
	if ((rc = ready()) < 0) {
		pgpf_queued(NULL);
		return rc;
	}
	pg_tx_failed = false;
	journaled = false;
	pglog_clear();
	notes_clear();
	pgq_int(&q, lock_key);
	pgq_int(&aq, alive_key);
	pgq_int(&jq, seen_gen);
	if ((rc = queue(P_BEGIN, NULL)) < 0 || (rc = queue(P_LOCK, &q)) < 0 ||
	    (rc = queue(P_GEN, &aq)) < 0 ||
	    (seen_gen >= 0 && (rc = queue(P_JOURNAL, &jq)) < 0) ||
	    (rc = pf = pgpf_queue()) < 0) {
		pgpf_queued(NULL);
		return rc;
	}
	if ((rc = pg_wait(res, (seen_gen >= 0 ? 2 : 1) + pf)) < 0) {
		pgpf_queued(NULL);
		goto fail;
	}
	g = res[0];
	j = seen_gen >= 0 ? res[1] : NULL;
	pg_tx_open = true;
	gen = pg_int(g, 0, 0);
	floor = pg_int(g, 0, 1);
	next_id = next_id_begin = pg_int(g, 0, 2);
	alone = pg_int(g, 0, 3) <= 0;
	tx_gen = gen;
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
	if (pf)
		pgpf_queued(res[(seen_gen >= 0 ? 2 : 1)]);
	seen_gen = gen;
	unkeep(res, 3);
	return 0;
fail:
	if (conn != NULL && (queue(P_ROLLBACK, NULL) < 0 || pg_wait(NULL, 0) < 0))
		pg_drop("rollback failed");
	return rc;
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
	if ((rc = queue(P_GEN_SET, &gq)) == 0 && alone)
		rc = queue(P_FLOOR_SET, &gq);
	else if (rc == 0 && nnotes > 0)
		rc = queue(P_JOURNAL_ADD, &q);
	if (rc == 0 && gen % PG_PRUNE_EVERY == 0)
		rc = queue(P_JOURNAL_PRUNE, &gq);
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
 * -TOKQ_E_TEMP returned.
 */
int
pg_commit(void)
{
	PGresult	*r = NULL;
	struct pgq	 q = { 0 };
	int64_t		 gen = tx_gen + 1;
	int		 rc;

	if (!pg_tx_open)
		return 0;
	if (pg_tx_failed || conn == NULL || pglog_flush(false) < 0)
		goto fail;
	if ((nnotes > 0 || journaled) && journal_write(gen) < 0)
		goto fail;
	if (next_id != next_id_begin) {
		pgq_int(&q, next_id);
		if (queue(P_NEXT_ID_SET, &q) < 0)
			goto fail;
	}
	if (queue(P_COMMIT, NULL) < 0 || (rc = pg_wait(&r, 1)) < 0)
		goto fail;
	if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
		log_warnx("store: %s: the commit rolled back", where);
		PQclear(r);
		goto fail;
	}
	PQclear(r);
	if (nnotes > 0 || journaled)
		seen_gen = gen;
	pg_tx_open = false;
	notes_clear();
	pglog_clear();
	return 0;
fail:
	log_warnx("store: %s: batch not committed", where);
	pg_rollback();
	return -TOKQ_E_TEMP;
}

/* Undo the round, if one is open; the write lock goes with it. */
void
pg_rollback(void)
{
	notes_clear();
	pglog_clear();
	if (!pg_tx_open)
		return;
	pg_tx_open = pg_tx_failed = false;
	if (conn == NULL)
		return;
	if (queue(P_ROLLBACK, NULL) < 0 || pg_wait(NULL, 0) < 0)
		pg_drop("rollback failed");
}

bool
pg_in_tx(void)
{
	return pg_tx_open;
}

/* Writes only inside the round's transaction, and not after it failed. */
int
pg_writable(const char *what)
{
	if (!pg_tx_open) {
		log_warnx("store: %s outside a transaction", what);
		return -TOKQ_E_INTERNAL;
	}
	if (pg_tx_failed || conn == NULL)
		return -TOKQ_E_TEMP;
	return 0;
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

	if (pg_tx_failed || conn == NULL)
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

	if (conn == NULL)
		maint_owned = false;
	if (maint_owned || pg_tx_failed ||
	    (maint_tried != 0 && mono_usec() - maint_tried < PG_MAINT_USEC))
		return maint_owned;
	maint_tried = mono_usec();
	pgq_int(&q, maint_key);
	if ((r = pg_query(P_MAINT_TRY, &q, &rc)) == NULL)
		return false;
	maint_owned = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (maint_owned)
		log_info("store: this daemon runs maintenance for %s", where);
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

/*
 * The generation this round commits, for journal rows sent before the
 * commit (the counters' added buckets): the commit writes it.
 */
int64_t
pg_journal_gen(bool *rows)
{
	journaled = true;
	*rows = !alone;
	return tx_gen + 1;
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
