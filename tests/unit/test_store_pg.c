/*
 * test_store_pg.c: the PostgreSQL store's promises that the integration
 * suite cannot see with one daemon: what one daemon commits reaches
 * another's stale hook at its next begin, the write lock serializes them
 * (and a wait for it is bounded), event ids stay consecutive across them,
 * maintenance has one owner, and every wait on the server is bounded: an
 * unreachable or stalled server, or a killed connection, costs a
 * temporary failure within 2 s, never a hang nor a lost commit.
 *
 * Every test but the first needs a cluster: TOKQ_TEST_PG names its socket
 * directory, and its superuser is $PGUSER, or "postgres" as
 * tests/pg/cluster.sh makes it; without it they are skipped.  Each test works in a schema of its own in the
 * database "postgres", dropped afterwards.  A second daemon is a child
 * process, forked before the parent opens its store (a store is one per
 * process), that runs one scripted step when told and exits 0 when all
 * went as expected.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "tokqd.h"

static char	 uri[512], side_uri[512], schema[32], appname[64];
static int	 nschema;

/* The stale hook's calls, as text: "ALL", "COUNTER 0 u1 m", "SETTINGS", "HOLD id". */
static char	 seen[64][128];
static size_t	 nseen;

static void
hook(const struct stale *s)
{
	if (nseen == 64)
		return;
	switch (s->kind) {
	case STALE_ALL:
		snprintf(seen[nseen++], sizeof(seen[0]), "ALL");
		break;
	case STALE_COUNTER:
		if (s->add)
			snprintf(seen[nseen++], sizeof(seen[0]),
			    "COUNTER %d %s %s +%lld@%lld", s->sc, s->subject,
			    s->model ? s->model : "(every)",
			    (long long)s->add->tokens, (long long)s->add->start);
		else
			snprintf(seen[nseen++], sizeof(seen[0]), "COUNTER %d %s %s",
			    s->sc, s->subject, s->model ? s->model : "(every)");
		break;
	case STALE_SETTINGS:
		snprintf(seen[nseen++], sizeof(seen[0]), "SETTINGS");
		break;
	case STALE_HOLD:
		snprintf(seen[nseen++], sizeof(seen[0]), "HOLD %s", s->hold_id);
		break;
	}
}

static bool
was_seen(const char *what)
{
	size_t	 i;

	for (i = 0; i < nseen; i++)
		if (strcmp(seen[i], what) == 0)
			return true;
	return false;
}

/* Run sql on a connection of the test's own. */
static void
side_exec(const char *sql)
{
	PGconn		*c = PQconnectdb(side_uri);
	PGresult	*r;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

/* side_exec of fmt with the test's schema for its %s. */
static void
side_exec_fmt(const char *fmt)
{
	char	 sql[512];

	snprintf(sql, sizeof(sql), fmt, schema);
	side_exec(sql);
}

/* The pid of the server process of the store's connection, 0 if none. */
static int
store_backend_pid(void)
{
	PGconn		*c = PQconnectdb(side_uri);
	PGresult	*r;
	char		 sql[256];
	int		 pid = 0;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	snprintf(sql, sizeof(sql), "SELECT pid FROM pg_stat_activity"
	    " WHERE application_name = '%s'", appname);
	r = PQexec(c, sql);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
		pid = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return pid;
}

static int
setup(void **state)
{
	const char	*dir = getenv("TOKQ_TEST_PG"), *user = getenv("PGUSER");

	if (dir == NULL || *dir == '\0') {
		*state = NULL;
		return 0;
	}
	if (user == NULL || *user == '\0')
		user = "postgres";
	snprintf(schema, sizeof(schema), "unit_%d_%d", (int)getpid(), nschema++);
	snprintf(appname, sizeof(appname), "tokqd-%s", schema);
	snprintf(uri, sizeof(uri), "postgresql:///postgres?host=%s&user=%s"
	    "&application_name=%s", dir, user, appname);
	snprintf(side_uri, sizeof(side_uri), "postgresql:///postgres?host=%s"
	    "&user=%s", dir, user);
	env.db_schema = schema;
	nseen = 0;
	*state = uri;
	return 0;
}

static int
teardown(void **state)
{
	char	 sql[128];

	if (*state == NULL)
		return 0;
	store_close();
	snprintf(sql, sizeof(sql), "SET client_min_messages = warning;"
	    " DROP SCHEMA IF EXISTS %s CASCADE", schema);
	side_exec(sql);
	return 0;
}

#define NEED_CLUSTER(state) do {					\
	if (*(state) == NULL)						\
		skip();							\
} while (0)

/* A second daemon: a child that runs step() when told, then exits. */
struct child {
	pid_t	 pid;
	int	 go;
};

static struct child
spawn(int (*step)(void))
{
	struct child	 c;
	int		 p[2];
	char		 b;

	assert_int_equal(pipe(p), 0);
	if ((c.pid = fork()) == 0) {
		close(p[1]);
		if (read(p[0], &b, 1) != 1)
			_exit(3);
		if (store_open(uri) != 0)
			_exit(2);
		_exit(step() == 0 ? 0 : 1);
	}
	close(p[0]);
	c.go = p[1];
	return c;
}

static void	 go_child(struct child);

/*
 * Open the store with a second daemon beside it: a child that connects
 * (so that this one is not alone), runs step, and exits.
 */
static struct child
open_beside(int (*step)(void))
{
	struct child	 c = spawn(step);

	assert_int_equal(store_open(uri), 0);
	go_child(c);
	usleep(300 * 1000);	/* the child is connected */
	return c;
}

/* Tell the child to run its step, without waiting for it. */
static void
go_child(struct child c)
{
	assert_int_equal(write(c.go, "g", 1), 1);
	close(c.go);
}

/* Wait for the child; its exit status (128 when it did not exit). */
static int
child_status(struct child c)
{
	int	 st;

	assert_int_equal(waitpid(c.pid, &st, 0), c.pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Tell the child to run its step; its exit status. */
static int
run_child(struct child c)
{
	go_child(c);
	return child_status(c);
}

static int
count_lines(const char *s)
{
	int	 n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static double
secs_since(uint64_t t)
{
	return (double)(mono_usec() - t) / 1e6;
}

/*
 * A server that takes the connection and never answers: store_open gives
 * up within 1.5 s (no connect_timeout in the URI), says where in one line, and never
 * logs the password.  Needs no cluster.
 */
static void
test_unreachable_bounded(void **state)
{
	char		 dir[] = "/tmp/test_store_pg.XXXXXX", path[96], u[256];
	char		 logf[160], buf[4096];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t	 t;
	FILE		*f;
	size_t		 n;
	int		 s, saved, lfd, rc;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/.s.PGSQL.5432", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_true((s = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s, 8), 0);
	snprintf(u, sizeof(u), "postgresql://tokq:sekret@/quota?host=%s", dir);
	snprintf(logf, sizeof(logf), "%s/log", dir);
	saved = dup(2);
	assert_true((lfd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
	dup2(lfd, 2);
	/*
	 * The open itself succeeds (tokqd starts and refuses requests until
	 * the database answers); the wait was bounded, and so is a begin's.
	 */
	t = mono_usec();
	rc = store_open(u);
	assert_int_equal(rc, 0);
	assert_true(secs_since(t) >= 1.4);
	assert_true(secs_since(t) < 2.0);
	usleep(600 * 1000);	/* past the store's pause between tries */
	t = mono_usec();
	rc = store_begin();
	dup2(saved, 2);
	close(saved);
	close(lfd);
	assert_int_equal(rc, -TOKQ_E_TEMP);
	assert_true(secs_since(t) < 2.0);
	store_close();
	assert_non_null(f = fopen(logf, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_non_null(strstr(buf, "database quota on"));
	assert_int_equal(count_lines(buf), 2);	/* one for the open, one for the begin */
	assert_null(strstr(buf, "sekret"));
	close(s);
	unlink(path);
	unlink(logf);
	rmdir(dir);
}

/* The second daemon's writes, all of which others keep in memory. */
static int
step_writer(void)
{
	struct bucket	 b = { 1767225600, 60, 10, 0, 1 };
	struct hold	 h = { .id = "hold-from-b", .created = 1, .expires = 2,
	    .user = "u1", .tokens = 5 };
	struct rule	 r = { SEL_USER, "u1", NULL, MET_TOKENS,
	    { TOKQ_W_DAY, 0 }, 100 };

	return store_begin() != 0 ||
	    store_bucket_add(SCOPE_USER, "u1", "m", &b) != 0 ||
	    store_bucket_add(SCOPE_GLOBAL, "", "", &b) != 0 ||
	    store_bucket_clear(SCOPE_GUILD, "g1", NULL) != 0 ||
	    store_hold_put(&h) != 0 || store_rule_put(&r) != 0 ||
	    store_commit() != 0;
}

/*
 * What one daemon commits reaches the other's stale hook at its next
 * begin, each item once, and nothing of its own; usage added to a counter
 * comes with the bucket it added, a cleared counter without.
 */
static void
test_journal_reaches_other(void **state)
{
	struct child	 c;
	struct bucket	 b = { 1767225600, 60, 3, 0, 1 };
	struct rule	 r = { SEL_USER, "u1", NULL, MET_TOKENS,
	    { TOKQ_W_DAY, 0 }, 100 };
	int64_t		 n = 0;

	NEED_CLUSTER(state);
	c = spawn(step_writer);
	assert_int_equal(store_open(uri), 0);
	store_on_stale(hook);
	assert_true(store_remote());
	assert_int_equal(store_begin(), 0);
	assert_int_equal(nseen, 0);	/* the generation was read at open */
	assert_int_equal(store_commit(), 0);

	assert_int_equal(run_child(c), 0);
	assert_int_equal(store_begin(), 0);
	assert_false(was_seen("ALL"));
	assert_true(was_seen("COUNTER 0 u1 m +10@1767225600"));
	assert_true(was_seen("COUNTER 2   +10@1767225600"));
	assert_true(was_seen("COUNTER 1 g1 (every)"));
	assert_true(was_seen("HOLD hold-from-b"));
	assert_true(was_seen("SETTINGS"));
	assert_int_equal(nseen, 5);
	/* and the data are there: the rule, the bucket */
	assert_int_equal(store_rule_put(&r), 1);
	assert_int_equal(store_bucket_add(SCOPE_USER, "u1", "m", &b), 0);
	assert_int_equal(store_commit(), 0);

	/* its own commit is no news to itself */
	nseen = 0;
	assert_int_equal(store_begin(), 0);
	assert_int_equal(nseen, 0);
	assert_int_equal(store_meta_get("gen", &n), 1);
	assert_int_equal(n, 2);
	assert_int_equal(store_commit(), 0);
}

/*
 * 256 commits of a second daemon, the first of them an hour old: the
 * 256th prunes the journal rows older than 10 minutes, and the first
 * daemon, which last looked before them, hears STALE_ALL.
 */
static int
step_many_commits(void)
{
	struct bucket	 b = { 1767225600, 60, 1, 0, 1 };
	char		 sql[128];
	int		 i;

	for (i = 1; i <= 256; i++) {
		if (store_begin() != 0 ||
		    store_bucket_add(SCOPE_USER, "u1", "", &b) != 0 ||
		    store_commit() != 0)
			return 1;
		if (i == 1) {
			snprintf(sql, sizeof(sql), "UPDATE %s.journal SET at ="
			    " at - interval '1 hour'", schema);
			side_exec(sql);
		}
	}
	return 0;
}

static void
test_journal_pruned(void **state)
{
	struct child	 c;
	int64_t		 floor = -1, gen = -1;

	NEED_CLUSTER(state);
	c = spawn(step_many_commits);
	assert_int_equal(store_open(uri), 0);
	store_on_stale(hook);
	assert_int_equal(run_child(c), 0);
	assert_int_equal(store_meta_get("journal_floor", &floor), 1);
	assert_int_equal(floor, 1);
	assert_int_equal(store_meta_get("gen", &gen), 1);
	assert_int_equal(gen, 256);
	assert_int_equal(store_begin(), 0);
	assert_true(was_seen("ALL"));
	assert_int_equal(nseen, 1);
	assert_int_equal(store_commit(), 0);
}

/* The lock is held: a begin waits for it, and gives up in time. */
static int
step_begin_blocked(void)
{
	uint64_t	 t = mono_usec();
	int		 rc = store_begin();

	return !(rc == -TOKQ_E_TEMP && secs_since(t) >= 0.9 &&
	    secs_since(t) < 2.0);
}

static int
step_begin_free(void)
{
	uint64_t	 t = mono_usec();

	return !(store_begin() == 0 && secs_since(t) < 1.0 &&
	    store_commit() == 0);
}

static void
test_lock_serializes_bounded(void **state)
{
	struct child	 c1, c2;

	NEED_CLUSTER(state);
	c1 = spawn(step_begin_blocked);
	c2 = spawn(step_begin_free);
	assert_int_equal(store_open(uri), 0);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(run_child(c1), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(run_child(c2), 0);
}

static struct event
mkevent(const char *user, int64_t prompt)
{
	struct event	 ev = { .at = 1767225600, .user = user, .model = "m",
	    .call = -1 };

	ev.u.requests = 1;
	ev.u.prompt = ev.u.total = prompt;
	return ev;
}

/* The second daemon records three events after the first's two. */
static int
step_three_events(void)
{
	struct event	 ev;
	int		 i;

	if (store_begin() != 0)
		return 1;
	for (i = 0; i < 3; i++) {
		ev = mkevent("b", 100);
		if (store_event_add(&ev) != 0 || ev.id != 3 + i)
			return 1;
	}
	return store_commit();
}

/* Event ids are given under the lock: consecutive across daemons. */
static void
test_ids_consecutive(void **state)
{
	struct child	 c;
	struct event	 ev;
	struct usage	 u;
	int64_t		 events, users;

	NEED_CLUSTER(state);
	c = spawn(step_three_events);
	assert_int_equal(store_open(uri), 0);
	assert_int_equal(store_begin(), 0);
	ev = mkevent("a", 1);
	assert_int_equal(store_event_add(&ev), 0);
	assert_int_equal(ev.id, 1);
	assert_int_equal(store_event_add(&ev), 0);
	assert_int_equal(ev.id, 2);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(run_child(c), 0);
	assert_int_equal(store_begin(), 0);
	ev = mkevent("a", 1);
	assert_int_equal(store_event_add(&ev), 0);
	assert_int_equal(ev.id, 6);
	assert_int_equal(store_events_sum(3, 3, &u), 0);
	assert_int_equal(u.requests, 3);
	assert_int_equal(u.prompt, 300);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_counts(&events, &users), 0);
	assert_int_equal(events, 6);
	assert_int_equal(users, 2);
}

/* Collect a counter's buckets as a load gives them. */
struct loaded {
	struct bucket	 b[8];
	size_t		 n;
};

static int
collect(void *arg, const struct bucket *b)
{
	struct loaded	*l = arg;

	if (l->n < 8)
		l->b[l->n++] = *b;
	return 0;
}

static int64_t
tokens_of(enum scope sc, const char *subject, const char *model)
{
	struct loaded	 l = { .n = 0 };
	int64_t		 t = 0;
	size_t		 i;

	assert_int_equal(store_bucket_load(sc, subject, model, 0, collect, &l), 0);
	for (i = 0; i < l.n; i++)
		t = sat_add(t, l.b[i].tokens);
	return t;
}

/*
 * A request's writes wait in the round's log: undone, nothing of them
 * reaches the server; kept, they are there after the commit, summed.
 */
static void
test_log_undo(void **state)
{
	struct bucket	 b = { 1767225600, 60, 7, 1, 1 };
	struct event	 ev;
	struct usage	 u;

	NEED_CLUSTER(state);
	assert_int_equal(store_open(uri), 0);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_mark(WRITES_ADDS), 0);
	ev = mkevent("a", 100);
	assert_int_equal(store_event_add(&ev), 0);
	assert_int_equal(store_bucket_add(SCOPE_USER, "a", "", &b), 0);
	assert_int_equal(store_key_put("k1", 1, ev.id, 1, 1), 0);
	assert_int_equal(store_unmark(-TOKQ_E_INVALID), -TOKQ_E_INVALID);
	assert_int_equal(store_mark(WRITES_ADDS), 0);
	ev = mkevent("a", 5);
	assert_int_equal(store_event_add(&ev), 0);
	assert_int_equal(store_bucket_add(SCOPE_USER, "a", "", &b), 0);
	assert_int_equal(store_bucket_add(SCOPE_USER, "a", "", &b), 0);
	assert_int_equal(store_unmark(0), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(tokens_of(SCOPE_USER, "a", ""), 14);
	assert_int_equal(store_user_daily_totals("a", 0, INT64_MAX / 2, &u), 0);
	assert_int_equal(u.requests, 1);
	assert_int_equal(u.prompt, 5);
	assert_int_equal(store_events_sum(ev.id, 1, &u), 0);
	assert_int_equal(u.prompt, 5);
	assert_int_equal(store_events_sum(1, 1, &u), 0);
	assert_int_equal(u.requests, 0);	/* the undone one never landed */
	{
		uint64_t	 fp;
		int64_t		 first, count;

		assert_int_equal(store_key_get("k1", &fp, &first, &count), 0);
	}
}

/*
 * A read in the middle of a request sees its writes (they are sent first,
 * under a savepoint); undone afterwards, they are rolled back to it, and
 * what came before the request stays.
 */
static void
test_log_read_mid_request(void **state)
{
	struct bucket	 b = { 1767225600, 60, 5, 0, 1 };

	NEED_CLUSTER(state);
	assert_int_equal(store_open(uri), 0);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_add(SCOPE_USER, "a", "m", &b), 0);
	assert_int_equal(store_mark(WRITES_ADDS), 0);
	assert_int_equal(store_bucket_add(SCOPE_USER, "a", "m", &b), 0);
	assert_int_equal(tokens_of(SCOPE_USER, "a", "m"), 10);
	assert_int_equal(store_bucket_add(SCOPE_USER, "a", "m", &b), 0);
	assert_int_equal(store_unmark(-TOKQ_E_INVALID), -TOKQ_E_INVALID);
	assert_int_equal(tokens_of(SCOPE_USER, "a", "m"), 5);
	assert_int_equal(store_mark(WRITES_ADDS), 0);
	assert_int_equal(store_bucket_add(SCOPE_USER, "a", "m", &b), 0);
	assert_int_equal(tokens_of(SCOPE_USER, "a", "m"), 10);
	assert_int_equal(store_unmark(0), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(tokens_of(SCOPE_USER, "a", "m"), 10);
}

/* Sums in one round saturate as they do one by one. */
static void
test_log_saturates(void **state)
{
	struct bucket	 b = { 1767225600, 60, INT64_MAX / 2 + 1, 0, 1 };
	struct event	 ev;
	struct usage	 u;

	NEED_CLUSTER(state);
	assert_int_equal(store_open(uri), 0);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_add(SCOPE_GLOBAL, "", "", &b), 0);
	assert_int_equal(store_bucket_add(SCOPE_GLOBAL, "", "", &b), 0);
	assert_int_equal(store_bucket_add(SCOPE_GLOBAL, "", "", &b), 0);
	ev = mkevent("a", INT64_MAX / 2 + 1);
	assert_int_equal(store_event_add(&ev), 0);
	assert_int_equal(store_event_add(&ev), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(tokens_of(SCOPE_GLOBAL, "", ""), INT64_MAX);
	assert_int_equal(store_user_daily_totals("a", 0, INT64_MAX / 2, &u), 0);
	assert_int_equal(u.prompt, INT64_MAX);
	assert_int_equal(u.requests, 2);
	/* and across rounds */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_add(SCOPE_GLOBAL, "", "", &b), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(tokens_of(SCOPE_GLOBAL, "", ""), INT64_MAX);
}

/*
 * Counters fetched ahead: a load is served from the rows fetched, once; a
 * write to the counter in the round makes the load ask the server; asked
 * before the begin, they come with it.
 */
static void
test_prefetch(void **state)
{
	struct bucket		 b = { 1767225600, 60, 10, 0, 1 };
	struct bucket_want	 w[3] = {
		{ SCOPE_USER, "p1", "", 0 }, { SCOPE_USER, "p2", "", 0 },
		{ SCOPE_USER, "p3", "", 0 } };
	char			 sql[256];

	NEED_CLUSTER(state);
	assert_int_equal(store_open(uri), 0);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_add(SCOPE_USER, "p1", "", &b), 0);
	assert_int_equal(store_bucket_add(SCOPE_USER, "p2", "", &b), 0);
	assert_int_equal(store_commit(), 0);

	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_prefetch(w, 3), 0);
	/* behind the store's back: what a served load cannot see */
	snprintf(sql, sizeof(sql), "UPDATE %s.buckets SET tokens = 99", schema);
	side_exec(sql);
	assert_int_equal(store_bucket_add(SCOPE_USER, "p2", "", &b), 0);
	assert_int_equal(tokens_of(SCOPE_USER, "p1", ""), 10);	/* fetched */
	assert_int_equal(tokens_of(SCOPE_USER, "p1", ""), 99);	/* once */
	assert_int_equal(tokens_of(SCOPE_USER, "p2", ""), 109);	/* written: asked */
	assert_int_equal(tokens_of(SCOPE_USER, "p3", ""), 0);
	assert_int_equal(store_commit(), 0);

	/* asked before the begin: fetched with it, then served */
	assert_int_equal(store_bucket_prefetch(w, 1), 0);
	assert_int_equal(store_begin(), 0);
	snprintf(sql, sizeof(sql), "UPDATE %s.buckets SET tokens = 5", schema);
	side_exec(sql);
	assert_int_equal(tokens_of(SCOPE_USER, "p1", ""), 99);
	assert_int_equal(tokens_of(SCOPE_USER, "p1", ""), 5);
	assert_int_equal(store_commit(), 0);
	/* nothing outlives its round */
	assert_int_equal(store_begin(), 0);
	side_exec(sql);
	assert_int_equal(tokens_of(SCOPE_USER, "p2", ""), 5);
	assert_int_equal(store_commit(), 0);
}

/* Connected while the other's round is open: its begin waits for the lock. */
static int
step_begin_after(void)
{
	store_on_stale(hook);
	if (store_begin() != 0)
		return 2;
	return was_seen("ALL") ? store_commit() : 1;
}

/*
 * A daemon alone begins the next round in its commit's round trip
 * (store_begin_next): after the commit the next round is open, and what
 * its jobs asked for was fetched after the commit, so it has the commit's
 * writes.
 */
static int64_t	 side_int(const char *fmt);

static void
test_begin_next(void **state)
{
	struct bucket		 b = { 1767225600, 60, 10, 0, 1 };
	struct bucket_want	 w[1] = { { SCOPE_USER, "n1", "", 0 } };
	char			 sql[256];

	NEED_CLUSTER(state);
	assert_int_equal(store_open(uri), 0);
	store_on_stale(hook);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_add(SCOPE_USER, "n1", "", &b), 0);
	store_begin_next();
	assert_int_equal(store_bucket_prefetch(w, 1), 0);	/* the next jobs' */
	assert_int_equal(store_commit(), 0);
	assert_true(store_in_tx());
	assert_int_equal(nseen, 0);
	snprintf(sql, sizeof(sql), "UPDATE %s.buckets SET tokens = 7", schema);
	side_exec(sql);
	assert_int_equal(tokens_of(SCOPE_USER, "n1", ""), 10);	/* fetched after the commit */
	assert_int_equal(tokens_of(SCOPE_USER, "n1", ""), 7);	/* once */
	assert_int_equal(store_bucket_add(SCOPE_USER, "n1", "", &b), 0);
	assert_int_equal(store_commit(), 0);
	assert_false(store_in_tx());
	assert_int_equal(side_int("SELECT tokens FROM %s.buckets WHERE subject = 'n1'"), 17);
}

/*
 * A commit that fails with the next begin behind it: the failure is the
 * commit's (nothing kept), no round is left open, and the next begin
 * works.
 */
static void
test_begin_next_commit_fails(void **state)
{
	struct bucket	 b = { 1767225600, 60, 10, 0, 1 };
	char		 sql[256];

	NEED_CLUSTER(state);
	assert_int_equal(store_open(uri), 0);
	assert_int_equal(store_begin(), 0);
	snprintf(sql, sizeof(sql), "ALTER TABLE %s.buckets ADD CONSTRAINT"
	    " small CHECK (tokens < 5)", schema);
	side_exec(sql);
	assert_int_equal(store_bucket_add(SCOPE_USER, "n1", "", &b), 0);
	store_begin_next();
	assert_int_equal(store_commit(), -TOKQ_E_TEMP);
	assert_false(store_in_tx());
	snprintf(sql, sizeof(sql), "ALTER TABLE %s.buckets DROP CONSTRAINT small",
	    schema);
	side_exec(sql);
	b.tokens = 3;
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_add(SCOPE_USER, "n1", "", &b), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(side_int("SELECT tokens FROM %s.buckets WHERE subject = 'n1'"), 3);
}

/* A second daemon, connected for a second. */
static int
step_linger(void)
{
	usleep(1000 * 1000);
	return 0;
}

/*
 * With another daemon connected, nothing is begun ahead: the replies of
 * a committed round must not wait for the other's round to free the lock.
 */
static void
test_begin_next_not_alone(void **state)
{
	struct bucket	 b = { 1767225600, 60, 10, 0, 1 };
	struct child	 c;

	NEED_CLUSTER(state);
	c = open_beside(step_linger);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_add(SCOPE_USER, "n1", "", &b), 0);
	store_begin_next();
	assert_int_equal(store_commit(), 0);
	assert_false(store_in_tx());
	assert_int_equal(child_status(c), 0);
	/* alone again: begun ahead */
	assert_int_equal(store_begin(), 0);
	store_begin_next();
	assert_int_equal(store_commit(), 0);
	assert_true(store_in_tx());
	assert_int_equal(store_commit(), 0);
}

static int64_t	 side_int_in(const char *fmt, const char *sch);

static int64_t
side_int(const char *fmt)
{
	return side_int_in(fmt, schema);
}

static int64_t
side_int_in(const char *fmt, const char *sch)
{
	PGconn		*c = PQconnectdb(side_uri);
	PGresult	*r;
	char		 sql[256];
	int64_t		 v = -1;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	snprintf(sql, sizeof(sql), fmt, sch);
	r = PQexec(c, sql);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return v;
}

/*
 * A daemon alone writes no journal rows, but raises the journal's floor
 * with each generation: one that connected during its round, and so saw
 * an older generation, reloads everything at its first begin.
 */
static void
test_alone_no_journal(void **state)
{
	struct bucket	 b = { 1767225600, 60, 3, 0, 1 };
	struct child	 c;

	NEED_CLUSTER(state);
	c = spawn(step_begin_after);
	assert_int_equal(store_open(uri), 0);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_add(SCOPE_USER, "u1", "", &b), 0);
	go_child(c);
	usleep(300 * 1000);	/* the child connects and waits for the lock */
	assert_int_equal(store_commit(), 0);
	assert_int_equal(child_status(c), 0);
	assert_int_equal(side_int("SELECT COUNT(*) FROM %s.journal"), 0);
	assert_int_equal(side_int("SELECT val FROM %s.meta WHERE name = 'journal_floor'"), 1);
	assert_int_equal(side_int("SELECT val FROM %s.meta WHERE name = 'gen'"), 1);
}

static int
step_not_owner(void)
{
	return store_maint_owner();
}

static int
step_owner(void)
{
	return !store_maint_owner();
}

/* One daemon runs maintenance; when it is gone, another takes over. */
static void
test_maint_one_owner(void **state)
{
	struct child	 c1, c2;

	NEED_CLUSTER(state);
	c1 = spawn(step_not_owner);
	c2 = spawn(step_owner);
	assert_int_equal(store_open(uri), 0);
	assert_true(store_maint_owner());
	assert_true(store_maint_owner());
	assert_int_equal(run_child(c1), 0);
	store_close();
	assert_int_equal(run_child(c2), 0);
	assert_int_equal(store_open(uri), 0);
}

/* Kill the store's server process, as a failover or a restart would. */
static void
kill_backend(void)
{
	char	 sql[128];
	int	 pid;

	assert_true((pid = store_backend_pid()) > 0);
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", pid);
	side_exec(sql);
	usleep(100 * 1000);
}

/* Begin until it works (the reconnection waits its turn): within 3 s. */
static void
begin_again(void)
{
	uint64_t	 t = mono_usec();

	while (store_begin() != 0)
		if (secs_since(t) > 3.0)
			fail_msg("no reconnection within 3 s");
		else
			usleep(50 * 1000);
}

/* One text of the side connection's first row and column ("" when none). */
static char *
side_text(const char *fmt, const char *sch)
{
	PGconn		*c = PQconnectdb(side_uri);
	PGresult	*r;
	char		 sql[1024], *v;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	snprintf(sql, sizeof(sql), fmt, sch);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	v = strdup(PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
	assert_non_null(v);
	PQclear(r);
	PQfinish(c);
	return v;
}

/*
 * Events of every shape the reports group by: two days, two hours, users,
 * guilds and models and services and kinds (some NULL), an event of no
 * amounts, and sums past INT64_MAX.
 */
static void
shaped_events(bool read_in_round, bool ahead)
{
	static const struct {
		const char	*user, *guild, *model, *service, *kind;
		int64_t		 at, prompt;
		bool		 zero;
	} e[] = {
		{ "a", NULL, "m", NULL, NULL, 1767225600, 10, false },
		{ "a", NULL, "m", NULL, NULL, 1767225601, 20, false },
		{ "a", "g1", "m", "s", "chat", 1767229300, 30, false },
		{ "b", "g1", NULL, NULL, "img", 1767312000, 40, false },
		{ "b", "g1", NULL, NULL, "img", 1767312001, 0, true },
		{ "c", NULL, "m2", NULL, NULL, 1767225700, INT64_MAX / 2 + 1, false },
		{ "c", NULL, "m2", NULL, NULL, 1767225800, INT64_MAX / 2 + 1, false },
		{ "z", NULL, NULL, NULL, NULL, 1767225900, 0, true },
	};
	struct bucket	 b = { 1767225600, 60, 10, 0, 1 };
	struct event	 ev;
	size_t		 i;

	assert_int_equal(store_begin(), 0);
	for (i = 0; i < sizeof(e) / sizeof(e[0]); i++) {
		ev = (struct event){ .at = e[i].at, .user = e[i].user,
		    .guild = e[i].guild, .model = e[i].model,
		    .service = e[i].service, .kind = e[i].kind, .call = -1 };
		if (!e[i].zero) {
			ev.u.requests = 1;
			ev.u.prompt = ev.u.total = e[i].prompt;
			ev.u.cost = 7;
		}
		assert_int_equal(store_event_add(&ev), 0);
	}
	/* a counter too: a round not alone journals it */
	assert_int_equal(store_bucket_add(SCOPE_USER, "a", "", &b), 0);
	if (read_in_round) {
		struct usage	 u;

		assert_int_equal(store_user_daily_totals("a", 0, INT64_MAX / 2, &u), 0);
		assert_int_equal(u.prompt, 60);
	}
	if (ahead)
		store_begin_next();
	assert_int_equal(store_commit(), 0);
	/* the round begun ahead carries the reports; it ends with nothing */
	if (ahead) {
		assert_true(store_in_tx());
		assert_int_equal(store_commit(), 0);
	}
}

#define REPORTS_DUMP \
	"SELECT (SELECT string_agg(t::text, ' ' ORDER BY t::text) FROM %1$s.events t)" \
	" || '/' || (SELECT string_agg(t::text, ' ' ORDER BY t::text) FROM %1$s.daily t)" \
	" || '/' || (SELECT string_agg(t::text, ' ' ORDER BY t::text) FROM %1$s.hourly t)" \
	" || '/' || (SELECT string_agg(t::text, ' ' ORDER BY t::text) FROM %1$s.users t)" \
	" || '/' || (SELECT val FROM %1$s.meta WHERE name = 'daily_requests')"

static int
step_linger_long(void)
{
	usleep(2500 * 1000);
	return 0;
}

/*
 * The reports of shaped_events() in a schema of their own (the test's
 * schema with suffix), as text: written by a daemon alone in its round, or
 * through the outbox: by the round begun ahead (alone), or with another
 * daemon connected by the round after its commit, or by outbox_apply
 * before a read in the round.
 */
static char *
reports_written(const char *suffix, bool other, bool read_in_round, bool ahead)
{
	char		 sch[sizeof(schema) + 8], sql[128], *dump;
	struct child	 c = { 0, -1 };

	snprintf(sch, sizeof(sch), "%s%s", schema, suffix);
	env.db_schema = sch;
	if (other)
		c = open_beside(step_linger_long);
	else
		assert_int_equal(store_open(uri), 0);
	shaped_events(read_in_round, ahead);
	/* a round not alone journals its counter; alone, it does not */
	assert_int_equal(side_int_in("SELECT COUNT(*) FROM %s.journal", sch) > 0, other);
	assert_int_equal(side_int_in("SELECT COUNT(*) FROM %s.outbox", sch), 0);
	store_close();
	if (other)
		assert_int_equal(child_status(c), 0);
	dump = side_text(REPORTS_DUMP, sch);
	snprintf(sql, sizeof(sql), "SET client_min_messages = warning;"
	    " DROP SCHEMA %s CASCADE", sch);
	side_exec(sql);
	env.db_schema = schema;
	return dump;
}

/*
 * With another daemon there, a round's events go to the outbox and their
 * reports are written outside the lock: the same reports, row for row, as
 * a daemon alone writes in its round, whoever writes them; and a read in
 * the round sees the round's own events.
 */
static void
test_outbox_same_reports(void **state)
{
	char	*alone, *ahead, *after, *read;

	NEED_CLUSTER(state);
	alone = reports_written("_a", false, false, false);
	ahead = reports_written("_d", false, false, true);
	after = reports_written("_b", true, false, false);
	read = reports_written("_c", true, true, false);
	assert_true(strlen(alone) > 100);
	assert_string_equal(ahead, alone);
	assert_string_equal(after, alone);
	assert_string_equal(read, alone);
	free(alone);
	free(ahead);
	free(after);
	free(read);
}

/* Run sql on c; false when it failed. */
static bool
conn_ok(PGconn *c, const char *sql)
{
	PGresult	*r = PQexec(c, sql);
	bool		 ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
			    PQresultStatus(r) == PGRES_TUPLES_OK;

	PQclear(r);
	return ok;
}

/*
 * Another daemon's reader of the reports, racing the parent's round: it
 * holds meta 'daily_requests' (as outbox_apply does) until the parent's
 * round has committed its outbox row, then applies it itself, before the
 * parent's own writes of those reports can.
 */
static int
step_apply_first(void)
{
	PGconn		*c = PQconnectdb(side_uri);
	PGresult	*r;
	char		 sql[256];
	int		 i, n = 0;

	snprintf(sql, sizeof(sql), "BEGIN; SET LOCAL search_path = %s;"
	    " SELECT 1 FROM meta WHERE name = 'daily_requests' FOR UPDATE",
	    schema);
	if (PQstatus(c) != CONNECTION_OK || !conn_ok(c, sql))
		return 1;
	for (i = 0; i < 300 && n == 0; i++) {
		usleep(10 * 1000);
		r = PQexec(c, "SELECT COUNT(*) FROM outbox");
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
			n = atoi(PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	if (n != 1 || !conn_ok(c, "SELECT outbox_apply(-9223372036854775808,"
	    " 9223372036854775807)") || !conn_ok(c, "COMMIT"))
		return 2;
	PQfinish(c);
	return 0;
}

/*
 * A round's reports written by someone else between its commit and its
 * own writes of them (a reader on another daemon applying the outbox)
 * are written once: the round's writes find the row gone and do nothing.
 */
static void
test_outbox_applied_once(void **state)
{
	struct child	 c;
	struct event	 ev;
	struct usage	 u;
	int64_t		 events, users;
	int		 i;

	NEED_CLUSTER(state);
	c = open_beside(step_apply_first);	/* holding meta's row */
	assert_int_equal(store_begin(), 0);
	for (i = 0; i < 3; i++) {
		ev = mkevent(i == 2 ? "y" : "x", 10 + i);
		assert_int_equal(store_event_add(&ev), 0);
	}
	assert_int_equal(store_commit(), 0);
	assert_int_equal(child_status(c), 0);
	assert_int_equal(side_int("SELECT COUNT(*) FROM %s.outbox"), 0);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_user_daily_totals("x", 0, INT64_MAX / 2, &u), 0);
	assert_int_equal(u.requests, 2);
	assert_int_equal(u.prompt, 21);
	assert_int_equal(store_counts(&events, &users), 0);
	assert_int_equal(events, 3);
	assert_int_equal(users, 2);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(side_int("SELECT COUNT(*) FROM %s.hourly"), 2);
	assert_int_equal(side_int("SELECT SUM(requests) FROM %s.daily"), 3);
	assert_int_equal(side_int("SELECT COUNT(*) FROM %s.events"), 3);
}

/*
 * Alone: a round of one event of user's (5 tokens), committed with the
 * next round begun ahead, which carries its reports; a read in it sees
 * them (it waits for them).
 */
static void
ahead_with_reports(const char *user)
{
	struct event	 ev;
	struct usage	 u;

	assert_int_equal(store_open(uri), 0);
	assert_int_equal(store_begin(), 0);
	ev = mkevent(user, 5);
	assert_int_equal(store_event_add(&ev), 0);
	store_begin_next();
	assert_int_equal(store_commit(), 0);
	assert_true(store_in_tx());
	assert_int_equal(store_user_daily_totals(user, 0, INT64_MAX / 2, &u), 0);
	assert_int_equal(u.prompt, 5);
}

/*
 * Alone, a round begun ahead writes the last round's reports while its
 * jobs are judged: a read in it sees them; failing (the row's reports
 * are there already), it is undone alone and the round goes on; rolled
 * back, the row stays for the next reader.
 */
static void
test_outbox_alone_ahead(void **state)
{
	struct event	 ev;
	struct usage	 u;

	NEED_CLUSTER(state);
	ahead_with_reports("p");
	/* an event 2 already there: this round's reports will fail to write */
	side_exec_fmt("INSERT INTO %s.events(id, at, user_id, requests,"
	    " prompt, completion, total, cached, cache_write, reasoning, cost)"
	    " VALUES (2, 0, 'q', 0, 0, 0, 0, 0, 0, 0, 0)");
	ev = mkevent("p", 6);
	assert_int_equal(store_event_add(&ev), 0);
	assert_int_equal(ev.id, 2);
	store_begin_next();
	assert_int_equal(store_commit(), 0);
	assert_true(store_in_tx());
	/* undone alone: the round begun ahead goes on */
	side_exec_fmt("DELETE FROM %s.events WHERE user_id = 'q'");
	ev = mkevent("p", 7);
	assert_int_equal(store_event_add(&ev), 0);
	assert_int_equal(store_user_daily_totals("p", 0, INT64_MAX / 2, &u), 0);
	assert_int_equal(u.prompt, 18);
	/* rolled back, the row stays for the next reader */
	store_rollback();
	assert_int_equal(side_int("SELECT COUNT(*) FROM %s.outbox"), 1);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_user_daily_totals("p", 0, INT64_MAX / 2, &u), 0);
	assert_int_equal(u.prompt, 11);
	assert_int_equal(u.requests, 2);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(side_int("SELECT COUNT(*) FROM %s.outbox"), 0);
}

/*
 * The round begun ahead that carries the last round's reports still
 * commits as the server is set to: once its commit answered, its WAL is
 * flushed (a commit that did not wait would leave the flush behind the
 * WAL written before it, as the WAL writer flushes only every 200 ms).
 */
static void
test_outbox_ahead_durable(void **state)
{
	int64_t		 written, flushed;

	NEED_CLUSTER(state);
	ahead_with_reports("d");
	written = side_int_in("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn",
	    schema);
	assert_int_equal(store_commit(), 0);
	flushed = side_int_in("SELECT pg_current_wal_flush_lsn() - '0/0'::pg_lsn",
	    schema);
	assert_true(written > 0);
	assert_true(flushed > written);
}

/*
 * A round's outbox row whose reports were never written (its daemon died
 * between the commit and them) is applied by the next reader of the
 * reports, once.
 */
static void
test_outbox_left_applied(void **state)
{
	struct usage	 u;
	int64_t		 events, users;
	char		 sql[1024];

	NEED_CLUSTER(state);
	assert_int_equal(store_open(uri), 0);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_commit(), 0);
	snprintf(sql, sizeof(sql), "INSERT INTO %s.outbox VALUES (100,"
	    " '{1767225600,1767225700}', '{o,o}', '{NULL,NULL}', '{NULL,NULL}',"
	    " '{m,m}', '{NULL,NULL}', '{NULL,NULL}', '{NULL,NULL}',"
	    " '{NULL,NULL}', '{NULL,NULL}', '{1,1}', '{5,6}', '{0,0}',"
	    " '{5,6}', '{0,0}', '{0,0}', '{0,0}', '{3,4}', '{100,101}')", schema);
	side_exec(sql);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_user_daily_totals("o", 0, INT64_MAX / 2, &u), 0);
	assert_int_equal(u.requests, 2);
	assert_int_equal(u.prompt, 11);
	assert_int_equal(u.cost, 7);
	assert_int_equal(store_user_daily_totals("o", 0, INT64_MAX / 2, &u), 0);
	assert_int_equal(u.prompt, 11);
	assert_int_equal(store_events_sum(100, 2, &u), 0);
	assert_int_equal(u.prompt, 11);
	assert_int_equal(store_counts(&events, &users), 0);
	assert_int_equal(events, 2);
	assert_int_equal(users, 1);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(side_int("SELECT COUNT(*) FROM %s.outbox"), 0);
	assert_int_equal(side_int("SELECT COUNT(*) FROM %s.hourly"), 1);
}

/*
 * A connection killed under a batch: its commit fails (nothing is
 * acknowledged, nothing of it kept), the store reconnects by itself, and
 * memory hears STALE_ALL: what happened meanwhile is unknown.
 */
static void
test_killed_connection(void **state)
{
	struct event	 ev;
	struct usage	 u;
	uint64_t	 t;

	NEED_CLUSTER(state);
	assert_int_equal(store_open(uri), 0);
	store_on_stale(hook);
	assert_int_equal(store_begin(), 0);
	ev = mkevent("a", 7);
	assert_int_equal(store_event_add(&ev), 0);
	kill_backend();
	t = mono_usec();
	assert_int_equal(store_commit(), -TOKQ_E_TEMP);
	assert_true(secs_since(t) < 2.5);
	assert_false(store_in_tx());
	begin_again();
	assert_true(was_seen("ALL"));
	assert_int_equal(store_events_sum(1, 1, &u), 0);
	assert_int_equal(u.requests, 0);
	ev = mkevent("a", 7);
	assert_int_equal(store_event_add(&ev), 0);
	assert_int_equal(ev.id, 1);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_events_sum(1, 1, &u), 0);
	assert_int_equal(u.prompt, 7);
}

/*
 * A server that stops answering mid-batch (its process stopped): the
 * call returns a temporary failure within 2 s, never hangs, and the
 * store serves again once the server does.
 */
static void
test_stalled_server_bounded(void **state)
{
	struct usage	 u;
	uint64_t	 t;
	int		 pid, rc;

	NEED_CLUSTER(state);
	assert_int_equal(store_open(uri), 0);
	assert_true((pid = store_backend_pid()) > 0);
	assert_int_equal(kill(pid, SIGSTOP), 0);
	t = mono_usec();
	rc = store_begin();
	kill(pid, SIGCONT);
	assert_int_equal(rc, -TOKQ_E_TEMP);
	assert_true(secs_since(t) >= 1.4);
	assert_true(secs_since(t) < 2.0);
	begin_again();
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_user_daily_totals("x", 0, 1, &u), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unreachable_bounded),
		cmocka_unit_test_setup_teardown(test_journal_reaches_other, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_pruned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_serializes_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_consecutive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_undo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_read_mid_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_saturates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefetch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_begin_next, setup, teardown),
		cmocka_unit_test_setup_teardown(test_begin_next_commit_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_begin_next_not_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alone_no_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_maint_one_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_same_reports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_left_applied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_applied_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_alone_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_ahead_durable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stalled_server_bounded, setup, teardown),
	};

	log_init(0, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
