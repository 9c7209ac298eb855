/*
 * test_store.c: the store (store*.c) against a real database file in a
 * temporary directory.  Each test gets a fresh directory and an open store;
 * a second connection (raw sqlite3) looks behind the store's back where a
 * test needs to check the file itself or to make a commit fail.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "tokqd.h"
#include "side.h"
#include "fixture.h"

#define T0	1767225600LL	/* 2026-01-01T00:00:00Z */

static int
setup(void **state)
{
	return (*state = fixture_open("test_store")) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	fixture_close(*state);
	return 0;
}

/* Run sql on a second connection to the store's file. */
static void
side_exec(const char *path, const char *sql)
{
	sqlite3	*s;
	char	*err = NULL;

	assert_int_equal(sqlite3_open(path, &s), SQLITE_OK);
	sqlite3_busy_timeout(s, 5000);
	if (sqlite3_exec(s, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
	sqlite3_close(s);
}


static struct event
mkevent(int64_t at, const char *user, const char *guild, const char *model,
    int64_t prompt, int64_t completion, int64_t cost)
{
	struct event	 ev = {
		.at = at, .user = user, .guild = guild, .model = model,
		.call = -1,
		.u = { 1, prompt, completion, prompt + completion, 0, 0, 0, cost },
	};

	return ev;
}

static void
add_event(struct event *ev)
{
	assert_int_equal(store_event_add(ev), 0);
	assert_true(ev->id > 0);
}

/*
 * Commit with the pending totals written first, as the daemon's readers of
 * the tables see them (store_settle).
 */
static void
commit(void)
{
	assert_true(store_settle() >= 0);
	assert_int_equal(store_commit(), 0);
}

static void
test_open_creates_directory_and_reopen_keeps_data(void **state)
{
	struct fixture	*f = *state;
	char		 nested[192];
	struct stat	 sb;
	int64_t		 v;

	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_meta_set("answer", 42), 0);
	assert_int_equal(store_meta_set("answer", 43), 0);
	commit();
	store_close();

	assert_int_equal(side_int(f->path, "PRAGMA user_version"), 7);
	assert_int_equal(side_int(f->path,
	    "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);

	/* Reopening applies no migration again (CREATE TABLE would fail). */
	assert_int_equal(store_open(f->path), 0);
	assert_int_equal(store_meta_get("answer", &v), 1);
	assert_int_equal(v, 43);
	assert_int_equal(store_meta_get("missing", &v), 0);
	assert_true(store_db_bytes() > 0);
	store_close();

	snprintf(nested, sizeof(nested), "%s/a/b/tokq.db", f->dir);
	assert_int_equal(store_open(nested), 0);
	snprintf(nested, sizeof(nested), "%s/a/b", f->dir);
	assert_int_equal(stat(nested, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0750);	/* umask 022 */
	store_close();

	/* A database from a newer tokqd is refused. */
	side_exec(f->path, "PRAGMA user_version = 99");
	assert_int_equal(store_open(f->path), -TOKQ_E_INTERNAL);
	/* One from version 1 (no thru columns yet) is brought up to date. */
	side_exec(f->path, "ALTER TABLE daily DROP COLUMN thru;"
	    " ALTER TABLE buckets DROP COLUMN thru; DROP TABLE hourly;"
	    " CREATE INDEX events_user_at ON events(user, at);"
	    " PRAGMA user_version = 1");
	assert_int_equal(store_open(f->path), 0);
	store_close();
	assert_int_equal(side_int(f->path, "PRAGMA user_version"), 7);
	assert_int_equal(side_int(f->path, "SELECT COUNT(*) FROM"
	    " pragma_table_info('buckets') WHERE name = 'thru'"), 1);
}

static void
test_events_and_totals(void **state)
{
	struct event	 a = mkevent(T0 + 100, "u1", "g1", "gpt-4o", 10, 5, 1000);
	struct event	 b = mkevent(T0 + 200, "u1", NULL, "gpt-4o", 20, 7, 2000);
	struct event	 c = mkevent(T0 + DAY + 5, "u1", "g1", "claude", 1, 1, 3);
	struct event	 d = mkevent(T0 + 300, "u2", "g1", "gpt-4o", 100, 0, 7);
	struct usage	 u;
	int64_t		 events, users;

	a.channel = "c1";
	a.session = "s";
	a.call = 0;
	a.meta = "{\"x\":1}";
	a.u.cached = 4;
	a.u.reasoning = 2;
	a.u.cache_write = 3;
	assert_int_equal(store_begin(), 0);
	assert_true(store_in_tx());
	add_event(&a);
	add_event(&b);
	add_event(&c);
	add_event(&d);
	assert_int_equal(b.id, a.id + 1);
	commit();
	assert_false(store_in_tx());
	commit();		/* none open: no-op */

	assert_int_equal(store_events_sum(a.id, 2, &u), 0);
	assert_int_equal(u.requests, 2);
	assert_int_equal(u.prompt, 30);
	assert_int_equal(u.completion, 12);
	assert_int_equal(u.total, 42);
	assert_int_equal(u.cached, 4);
	assert_int_equal(u.cache_write, 3);
	assert_int_equal(u.reasoning, 2);
	assert_int_equal(u.cost, 3000);
	assert_int_equal(store_events_sum(d.id + 1, 5, &u), 0);
	assert_int_equal(u.requests, 0);

	/* The hour that holds since counts whole: a and b, then c alone. */
	assert_int_equal(store_user_hours_totals("u1", T0 + 150, T0 + 3600, &u), 0);
	assert_int_equal(u.requests, 2);
	assert_int_equal(u.cost, 3000);
	assert_int_equal(u.cached, 4);
	assert_int_equal(store_user_hours_totals("u1", T0 + 3600, T0 + 2 * DAY, &u), 0);
	assert_int_equal(u.requests, 1);
	assert_int_equal(u.cost, 3);
	assert_int_equal(store_user_hours_totals("u2", T0, T0 + 2 * DAY, &u), 0);
	assert_int_equal(u.total, 100);

	assert_int_equal(store_user_daily_totals("u1", T0, T0 + DAY, &u), 0);
	assert_int_equal(u.requests, 2);
	assert_int_equal(u.prompt, 30);
	assert_int_equal(store_user_daily_totals("u1", T0, T0 + 2 * DAY, &u), 0);
	assert_int_equal(u.requests, 3);
	assert_int_equal(u.cost, 3003);
	assert_int_equal(store_user_daily_totals("nobody", 0, T0 * 2, &u), 0);
	assert_int_equal(u.requests, 0);

	/* The daily rows: absent guild kept as '', day = UTC midnight. */
	assert_int_equal(side_int(((struct fixture *)*state)->path,
	    "SELECT count(*) FROM daily WHERE user = 'u1' AND guild = ''"), 1);
	assert_int_equal(side_int(((struct fixture *)*state)->path,
	    "SELECT count(*) FROM daily WHERE day % 86400 <> 0"), 0);
	assert_int_equal(side_int(((struct fixture *)*state)->path,
	    "SELECT count(*) FROM events WHERE guild IS NULL AND call IS NULL"), 1);

	assert_int_equal(store_counts(&events, &users), 0);
	assert_int_equal(events, 4);
	assert_int_equal(users, 2);
}

struct models {
	char	 name[4][32];
	struct usage u[4];
	int	 n;
};

static int
models_cb(void *arg, const char *model, const struct usage *u)
{
	struct models	*m = arg;

	snprintf(m->name[m->n], sizeof(m->name[0]), "%s", model);
	m->u[m->n++] = *u;
	return 0;
}

static void
test_user_models_totals(void **state)
{
	struct event	 a = mkevent(T0, "u1", "g1", "gpt-4o", 10, 5, 1000);
	struct event	 b = mkevent(T0 + 3 * DAY, "u1", "g2", "gpt-4o", 1, 1, 1);
	struct event	 c = mkevent(T0, "u1", "g1", "claude", 2, 2, 2);
	struct models	 m = { .n = 0 };

	assert_int_equal(store_begin(), 0);
	add_event(&a);
	add_event(&b);
	add_event(&c);
	commit();
	assert_int_equal(store_user_models_totals("u1", models_cb, &m), 0);
	assert_int_equal(m.n, 2);
	assert_string_equal(m.name[0], "claude");
	assert_int_equal(m.u[0].total, 4);
	assert_string_equal(m.name[1], "gpt-4o");
	assert_int_equal(m.u[1].requests, 2);
	assert_int_equal(m.u[1].total, 17);
	assert_int_equal(m.u[1].cost, 1001);
}

static void
test_rollback_leaves_nothing(void **state)
{
	struct event	 a = mkevent(T0, "u1", NULL, "m", 10, 5, 1000);
	struct bucket	 b = { T0, BUCKET_MINUTE, 15, 1000, 1 };
	struct usage	 u;
	int64_t		 events, users, v;

	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_begin(), 0);		/* already open: no-op */
	add_event(&a);
	assert_int_equal(store_bucket_add(SCOPE_USER, "u1", "", &b), 0);
	assert_int_equal(store_meta_set("x", 1), 0);
	store_rollback();
	assert_false(store_in_tx());
	store_rollback();				/* none open: no-op */

	assert_int_equal(store_counts(&events, &users), 0);
	assert_int_equal(events, 0);
	assert_int_equal(users, 0);
	assert_int_equal(store_events_sum(a.id, 1, &u), 0);
	assert_int_equal(u.requests, 0);
	assert_int_equal(store_meta_get("x", &v), 0);
}

static void
test_write_outside_transaction_refused(void **state)
{
	struct event	 a = mkevent(T0, "u1", NULL, "m", 10, 5, 1000);
	int64_t		 v;

	assert_int_equal(store_event_add(&a), -TOKQ_E_INTERNAL);
	assert_int_equal(store_meta_set("x", 1), -TOKQ_E_INTERNAL);
	assert_int_equal(store_meta_get("x", &v), 0);
}

/*
 * A COMMIT that fails: a deferred foreign key, planted by a second
 * connection, that every new event violates until the transaction ends.
 */
static void
test_commit_failure_rolls_back(void **state)
{
	struct fixture	*f = *state;
	struct event	 a = mkevent(T0, "u1", NULL, "m", 10, 5, 1000);
	struct event	 b = mkevent(T0, "u2", NULL, "m", 1, 1, 1);
	int64_t		 events, users, v;

	side_exec(f->path,
	    "CREATE TABLE p (id INTEGER PRIMARY KEY);"
	    "CREATE TABLE c (pid INTEGER REFERENCES p(id)"
	    "  DEFERRABLE INITIALLY DEFERRED);"
	    "CREATE TRIGGER bad AFTER INSERT ON events BEGIN"
	    "  INSERT INTO c VALUES (-1); END;");

	assert_int_equal(store_begin(), 0);
	add_event(&a);
	assert_int_equal(store_meta_set("x", 1), 0);
	assert_int_equal(store_commit(), -TOKQ_E_TEMP);
	assert_false(store_in_tx());
	assert_int_equal(store_counts(&events, &users), 0);
	assert_int_equal(events, 0);
	assert_int_equal(store_meta_get("x", &v), 0);

	/* The store goes on working once the cause is gone. */
	side_exec(f->path, "DROP TRIGGER bad; DROP TABLE c; DROP TABLE p;");
	assert_int_equal(store_begin(), 0);
	add_event(&b);
	commit();
	assert_int_equal(store_counts(&events, &users), 0);
	assert_int_equal(events, 1);
}

/*
 * A full disk, by way of RLIMIT_FSIZE: a batch of n big events fails with
 * -TOKQ_E_TEMP at the commit (small batches) or already at a write, when
 * the page cache spills (big ones), and SQLite may have rolled back the
 * whole transaction.  Either way store_commit refuses the batch, nothing of
 * it is kept, and the store works again once there is room.
 */
static void
disk_full(struct fixture *f, int n)
{
	struct rlimit	 old, lim;
	struct event	 ev;
	struct stat	 sb;
	char		 meta[4096], walpath[160];
	off_t		 biggest;
	int64_t		 events, users;
	int		 i, rc = 0, rc2;

	/* Settle the files' sizes with one committed write. */
	ev = mkevent(T0, "u0", NULL, "m", 1, 1, 1);
	assert_int_equal(store_begin(), 0);
	add_event(&ev);
	commit();
	assert_int_equal(stat(f->path, &sb), 0);
	biggest = sb.st_size;
	snprintf(walpath, sizeof(walpath), "%s-wal", f->path);
	if (stat(walpath, &sb) == 0 && sb.st_size > biggest)
		biggest = sb.st_size;

	memset(meta, 'x', sizeof(meta) - 1);
	meta[sizeof(meta) - 1] = '\0';
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = biggest + 8192;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);

	assert_int_equal(store_begin(), 0);
	for (i = 0; i < n && rc == 0; i++) {
		ev = mkevent(T0 + i, "u1", NULL, "m", 1, 1, 1);
		ev.meta = meta;
		rc = store_event_add(&ev);
	}
	rc2 = store_commit();

	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	if (n > 1000)
		assert_int_equal(rc, -TOKQ_E_TEMP);
	else
		assert_int_equal(rc, 0);
	assert_int_equal(rc2, -TOKQ_E_TEMP);
	assert_false(store_in_tx());
	assert_int_equal(store_counts(&events, &users), 0);
	assert_int_equal(events, 1);

	ev = mkevent(T0, "u2", NULL, "m", 1, 1, 1);
	assert_int_equal(store_begin(), 0);
	add_event(&ev);
	commit();
	assert_int_equal(store_counts(&events, &users), 0);
	assert_int_equal(events, 2);
}

static void
test_disk_full_at_commit(void **state)
{
	disk_full(*state, 100);
}

static void
test_disk_full_at_write(void **state)
{
	disk_full(*state, 12000);	/* 48 MiB: more than the 32 MiB page cache */
}

static void
test_keys(void **state)
{
	struct event	 a = mkevent(T0, "u1", NULL, "m", 1, 1, 1);
	uint64_t	 fp;
	int64_t		 first, count;

	assert_int_equal(store_key_get("k1", &fp, &first, &count), 0);
	assert_int_equal(store_begin(), 0);
	add_event(&a);
	assert_int_equal(store_key_put("k1", 0xfedcba9876543210ULL, a.id, 1, T0), 0);
	commit();
	assert_int_equal(store_key_get("k1", &fp, &first, &count), 1);
	assert_true(fp == 0xfedcba9876543210ULL);
	assert_int_equal(first, a.id);
	assert_int_equal(count, 1);
	assert_int_equal(side_int(((struct fixture *)*state)->path,
	    "SELECT created FROM keys WHERE key = 'k1'"), T0);
}

struct buckets {
	struct bucket	 b[16];
	int		 n;
};

static int
bucket_cb(void *arg, const struct bucket *b)
{
	struct buckets	*bs = arg;

	if (bs->n == 16)
		return -1;
	bs->b[bs->n++] = *b;
	return 0;
}

static int
bucket_stop_cb(void *arg, const struct bucket *b)
{
	return bucket_cb(arg, b) == 0 ? 1 : -1;
}

static int
bucket_fail_cb(void *arg, const struct bucket *b)
{
	return -1;
}

static struct buckets
load(enum scope sc, const char *subject, const char *model, int64_t since)
{
	struct buckets	 bs = { .n = 0 };

	assert_int_equal(store_bucket_load(sc, subject, model, since,
	    bucket_cb, &bs), 0);
	return bs;
}

static void
madd(enum scope sc, const char *subject, const char *model, int64_t start,
    int64_t tokens)
{
	struct bucket	 b = { start, BUCKET_MINUTE, tokens, tokens * 10, 1 };

	assert_int_equal(store_bucket_add(sc, subject, model, &b), 0);
}

static void
test_buckets_add_load(void **state)
{
	struct buckets	 bs;

	assert_int_equal(store_begin(), 0);
	madd(SCOPE_USER, "u1", "", T0 + 120, 5);
	madd(SCOPE_USER, "u1", "", T0 + 60, 3);
	madd(SCOPE_USER, "u1", "", T0 + 60, 4);		/* adds */
	madd(SCOPE_USER, "u1", "gpt", T0 + 60, 100);
	madd(SCOPE_GUILD, "u1", "", T0 + 60, 1000);
	madd(SCOPE_GLOBAL, "", "", T0, 7);
	commit();

	bs = load(SCOPE_USER, "u1", "", 0);
	assert_int_equal(bs.n, 2);
	assert_int_equal(bs.b[0].start, T0 + 60);
	assert_int_equal(bs.b[0].span, BUCKET_MINUTE);
	assert_int_equal(bs.b[0].tokens, 7);
	assert_int_equal(bs.b[0].cost, 70);
	assert_int_equal(bs.b[0].requests, 2);
	assert_int_equal(bs.b[1].start, T0 + 120);

	/* Only buckets that end after since. */
	bs = load(SCOPE_USER, "u1", "", T0 + 120);
	assert_int_equal(bs.n, 1);
	assert_int_equal(bs.b[0].start, T0 + 120);
	bs = load(SCOPE_USER, "u1", "", T0 + 119);
	assert_int_equal(bs.n, 2);
	bs = load(SCOPE_USER, "u1", "gpt", 0);
	assert_int_equal(bs.n, 1);
	assert_int_equal(bs.b[0].tokens, 100);
	bs = load(SCOPE_GLOBAL, "", "", 0);
	assert_int_equal(bs.n, 1);
	assert_int_equal(bs.b[0].tokens, 7);
	bs = load(SCOPE_GUILD, "u1", "", 0);
	assert_int_equal(bs.b[0].tokens, 1000);

	/* A callback stops the walk: positive quietly, negative as a failure. */
	bs.n = 0;
	assert_int_equal(store_bucket_load(SCOPE_USER, "u1", "", 0,
	    bucket_stop_cb, &bs), 0);
	assert_int_equal(bs.n, 1);
	assert_int_equal(store_bucket_load(SCOPE_USER, "u1", "", 0,
	    bucket_fail_cb, NULL), -TOKQ_E_INTERNAL);
	bs = load(SCOPE_USER, "u1", "", 0);		/* statement was reset */
	assert_int_equal(bs.n, 2);
}

/*
 * Bucket additions wait in memory until the batch commits: a load sees
 * them before, the table after; a request rolled back to its savepoint
 * takes its own with it, and a batch rolled back takes them all.
 */
static void
test_buckets_pending(void **state)
{
	struct fixture	*f = *state;
	struct buckets	 bs;
	struct bucket	 b = { T0 + 60, BUCKET_MINUTE, 5, 50, 1 };
	const char	*rows = "SELECT COALESCE(SUM(tokens), -1) FROM buckets"
			    " WHERE scope = 2";

	assert_int_equal(store_begin(), 0);
	madd(SCOPE_GLOBAL, "", "", T0 + 60, 5);
	commit();

	/* One batch: three requests, the second fails half way. */
	assert_int_equal(store_mark(true), 0);
	madd(SCOPE_GLOBAL, "", "", T0 + 60, 10);
	assert_int_equal(store_unmark(0), 0);
	assert_int_equal(store_mark(true), 0);
	madd(SCOPE_GLOBAL, "", "", T0 + 60, 1000);
	madd(SCOPE_GLOBAL, "", "", T0 + 120, 1000);
	assert_int_equal(store_unmark(-TOKQ_E_INTERNAL), -TOKQ_E_INTERNAL);
	assert_int_equal(store_mark(true), 0);
	madd(SCOPE_GLOBAL, "", "", T0 + 60, 100);
	assert_int_equal(store_unmark(0), 0);

	/* Not in the table yet; a load adds them to what it reads. */
	assert_int_equal(side_int(f->path, rows), 5);
	bs = load(SCOPE_GLOBAL, "", "", 0);
	assert_int_equal(bs.n, 2);	/* the stored bucket, then the pending */
	assert_int_equal(bs.b[0].tokens + bs.b[1].tokens, 115);
	assert_int_equal(bs.b[0].requests + bs.b[1].requests, 3);

	/* A commit leaves them pending while they are fresh and few. */
	assert_int_equal(store_commit(), 0);
	assert_int_equal(side_int(f->path, rows), 5);
	assert_int_equal(store_settle(), 1);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(side_int(f->path, rows), 115);
	assert_int_equal(side_int(f->path, "SELECT COUNT(*) FROM buckets"
	    " WHERE scope = 2 AND start = 1767225720"), 0);
	bs = load(SCOPE_GLOBAL, "", "", 0);
	assert_int_equal(bs.n, 1);
	assert_int_equal(bs.b[0].tokens, 115);

	/* A request that adds no buckets writes the pending ones out first. */
	assert_int_equal(store_mark(true), 0);
	madd(SCOPE_GLOBAL, "", "", T0 + 60, 1);
	assert_int_equal(store_unmark(0), 0);
	assert_int_equal(store_mark(false), 0);
	assert_int_equal(store_unmark(-TOKQ_E_INTERNAL), -TOKQ_E_INTERNAL);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(side_int(f->path, rows), 116);

	/* A batch rolled back keeps none of them. */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_add(SCOPE_GLOBAL, "", "", &b), 0);
	store_rollback();
	assert_int_equal(store_begin(), 0);
	commit();
	assert_int_equal(side_int(f->path, rows), 116);
	bs = load(SCOPE_GLOBAL, "", "", 0);
	assert_int_equal(bs.b[0].tokens, 116);
}

static void
test_buckets_compact(void **state)
{
	struct buckets	 bs;
	struct bucket	 hour = { T0 + 3600, BUCKET_HOUR, 1000, 1, 1 };
	int64_t		 h = T0 + 3600;		/* 01:00 */

	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_add(SCOPE_USER, "u1", "", &hour), 0);
	madd(SCOPE_USER, "u1", "", h, 1);		/* same start as the hour */
	madd(SCOPE_USER, "u1", "", h + 60, 2);
	madd(SCOPE_USER, "u1", "", h + 3540, 4);
	madd(SCOPE_USER, "u1", "", h + 3600, 8);	/* next hour */
	madd(SCOPE_USER, "u1", "gpt", h + 120, 16);
	madd(SCOPE_USER, "u2", "", h + 120, 32);
	madd(SCOPE_USER, "u1", "", h + 7200, 64);	/* not before */
	commit();

	/* Both buckets at 01:00 coexist before compaction. */
	bs = load(SCOPE_USER, "u1", "", 0);
	assert_int_equal(bs.n, 6);
	assert_int_equal(bs.b[0].start, h);
	assert_int_equal(bs.b[0].span, BUCKET_MINUTE);
	assert_int_equal(bs.b[1].start, h);
	assert_int_equal(bs.b[1].span, BUCKET_HOUR);

	/* Six minute buckets start before 03:00; a batch of 4, then the other 2. */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_compact(h + 7200, 4), 4);
	assert_int_equal(store_bucket_compact(h + 7200, 4), 2);
	commit();

	bs = load(SCOPE_USER, "u1", "", 0);
	assert_int_equal(bs.n, 3);
	assert_int_equal(bs.b[0].start, h);
	assert_int_equal(bs.b[0].span, BUCKET_HOUR);
	assert_int_equal(bs.b[0].tokens, 1000 + 1 + 2 + 4);
	assert_int_equal(bs.b[0].requests, 1 + 3);
	assert_int_equal(bs.b[0].cost, 1 + 70);
	assert_int_equal(bs.b[1].start, h + 3600);
	assert_int_equal(bs.b[1].span, BUCKET_HOUR);
	assert_int_equal(bs.b[1].tokens, 8);
	assert_int_equal(bs.b[2].start, h + 7200);
	assert_int_equal(bs.b[2].span, BUCKET_MINUTE);
	bs = load(SCOPE_USER, "u1", "gpt", 0);
	assert_int_equal(bs.n, 1);
	assert_int_equal(bs.b[0].span, BUCKET_HOUR);
	assert_int_equal(bs.b[0].tokens, 16);
	bs = load(SCOPE_USER, "u2", "", 0);
	assert_int_equal(bs.b[0].tokens, 32);

	/* An hour bucket still ending after since is loaded. */
	bs = load(SCOPE_USER, "u1", "", h + 3599);
	assert_int_equal(bs.n, 3);
	bs = load(SCOPE_USER, "u1", "", h + 3600);
	assert_int_equal(bs.n, 2);

	/* Compacting again changes nothing. */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_compact(h + 7200, 1000), 0);
	commit();
	bs = load(SCOPE_USER, "u1", "", 0);
	assert_int_equal(bs.n, 3);
	assert_int_equal(bs.b[0].tokens, 1007);
}

static void
test_buckets_prune_clear(void **state)
{
	struct buckets	 bs;
	struct bucket	 hour = { T0, BUCKET_HOUR, 1, 1, 1 };

	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_add(SCOPE_USER, "u1", "old", &hour), 0);
	madd(SCOPE_USER, "u1", "", T0 + 3600, 1);
	madd(SCOPE_USER, "u1", "b", T0 + 3600, 1);
	madd(SCOPE_USER, "u1", "a", T0 + 3660, 1);
	madd(SCOPE_USER, "u1", "a", T0 + 3720, 1);
	madd(SCOPE_GUILD, "u1", "c", T0 + 3600, 1);	/* not a user's */
	madd(SCOPE_USER, "u2", "d", T0 + 3600, 1);
	commit();

	/* Prune: buckets that end at or before. */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_prune(T0 + 3600, 1000), 1);
	assert_int_equal(store_bucket_prune(T0 + 3600, 1000), 0);
	commit();
	assert_int_equal(load(SCOPE_USER, "u1", "old", 0).n, 0);
	assert_int_equal(load(SCOPE_USER, "u1", "", 0).n, 1);

	/* Clear one model, then all of a subject's. */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_clear(SCOPE_USER, "u1", "a"), 0);
	commit();
	assert_int_equal(load(SCOPE_USER, "u1", "a", 0).n, 0);
	assert_int_equal(load(SCOPE_USER, "u1", "b", 0).n, 1);
	assert_int_equal(load(SCOPE_USER, "u1", "", 0).n, 1);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_clear(SCOPE_USER, "u1", NULL), 0);
	commit();
	assert_int_equal(load(SCOPE_USER, "u1", "b", 0).n, 0);
	assert_int_equal(load(SCOPE_USER, "u1", "", 0).n, 0);
	bs = load(SCOPE_GUILD, "u1", "c", 0);
	assert_int_equal(bs.n, 1);
	assert_int_equal(load(SCOPE_USER, "u2", "d", 0).n, 1);
}

struct rules {
	struct {
		enum selector	 sel;
		char		 subject[32], model[32];
		bool		 has_subject, has_model;
		enum metric	 metric;
		struct tokq_window win;
		int64_t		 limit;
	} r[8];
	int	 n;
};

static int
rule_cb(void *arg, const struct rule *r)
{
	struct rules	*rs = arg;

	if (rs->n == 8)
		return -1;
	rs->r[rs->n].sel = r->sel;
	rs->r[rs->n].has_subject = r->subject != NULL;
	rs->r[rs->n].has_model = r->model != NULL;
	snprintf(rs->r[rs->n].subject, 32, "%s", r->subject ? r->subject : "");
	snprintf(rs->r[rs->n].model, 32, "%s", r->model ? r->model : "");
	rs->r[rs->n].metric = r->metric;
	rs->r[rs->n].win = r->win;
	rs->r[rs->n].limit = r->limit;
	rs->n++;
	return 0;
}

static void
test_rules(void **state)
{
	struct rule	 def = { SEL_DEFAULT, NULL, NULL, MET_TOKENS,
	    { TOKQ_W_ROLLING, 30 * DAY }, 1000 };
	struct rule	 usr = { SEL_USER, "u1", "gpt", MET_COST,
	    { TOKQ_W_MONTH, 0 }, 5 * TOKQ_NUSD_PER_USD };
	struct rule	 each = { SEL_PLAN, "pro", "*", MET_REQUESTS,
	    { TOKQ_W_DAY, 0 }, -1 };
	struct rule	 def1h = def;
	struct rules	 rs = { .n = 0 };

	def1h.win.secs = 3600;
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_rule_put(&def), 0);
	assert_int_equal(store_rule_put(&usr), 0);
	assert_int_equal(store_rule_put(&each), 0);
	assert_int_equal(store_rule_put(&def1h), 0);	/* another window */
	def.limit = 2000;
	assert_int_equal(store_rule_put(&def), 1);	/* same identity */
	usr.win.secs = 12345;		/* a calendar window has no length */
	usr.limit = 7;
	assert_int_equal(store_rule_put(&usr), 1);
	commit();

	assert_int_equal(store_rule_load(rule_cb, &rs), 0);
	assert_int_equal(rs.n, 4);
	/* Ordered by selector: user, plan, default 1h, default 30d. */
	assert_int_equal(rs.r[0].sel, SEL_USER);
	assert_true(rs.r[0].has_subject && rs.r[0].has_model);
	assert_string_equal(rs.r[0].subject, "u1");
	assert_string_equal(rs.r[0].model, "gpt");
	assert_int_equal(rs.r[0].metric, MET_COST);
	assert_int_equal(rs.r[0].win.kind, TOKQ_W_MONTH);
	assert_int_equal(rs.r[0].win.secs, 0);
	assert_int_equal(rs.r[0].limit, 7);
	assert_int_equal(rs.r[1].sel, SEL_PLAN);
	assert_string_equal(rs.r[1].model, "*");
	assert_int_equal(rs.r[1].limit, -1);
	assert_int_equal(rs.r[2].sel, SEL_DEFAULT);
	assert_false(rs.r[2].has_subject);
	assert_false(rs.r[2].has_model);
	assert_int_equal(rs.r[2].win.secs, 3600);
	assert_int_equal(rs.r[3].win.secs, 30 * DAY);
	assert_int_equal(rs.r[3].limit, 2000);

	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_rule_del(&def), 1);
	assert_int_equal(store_rule_del(&def), 0);
	commit();
	rs.n = 0;
	assert_int_equal(store_rule_load(rule_cb, &rs), 0);
	assert_int_equal(rs.n, 3);
}

struct pairs {
	char	 s[256];
};

static int
plan_cb(void *arg, const char *user, const char *plan)
{
	struct pairs	*p = arg;
	size_t		 l = strlen(p->s);

	snprintf(p->s + l, sizeof(p->s) - l, "%s=%s;", user, plan);
	return 0;
}

static int
bypass_cb(void *arg, bool guild, const char *id)
{
	struct pairs	*p = arg;
	size_t		 l = strlen(p->s);

	snprintf(p->s + l, sizeof(p->s) - l, "%c:%s;", guild ? 'g' : 'u', id);
	return 0;
}

static void
test_plans_and_bypass(void **state)
{
	struct pairs	 p = { "" };

	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_plan_set("u1", "free"), 0);
	assert_int_equal(store_plan_set("u2", "pro"), 0);
	assert_int_equal(store_plan_set("u1", "pro"), 0);
	assert_int_equal(store_plan_set("u3", "x"), 0);
	assert_int_equal(store_plan_set("u3", NULL), 0);
	assert_int_equal(store_plan_set("u4", NULL), 0);
	assert_int_equal(store_bypass_set(false, "u1", true), 1);
	assert_int_equal(store_bypass_set(false, "u1", true), 0);
	assert_int_equal(store_bypass_set(true, "u1", true), 1);
	assert_int_equal(store_bypass_set(true, "g9", true), 1);
	assert_int_equal(store_bypass_set(true, "g9", false), 1);
	assert_int_equal(store_bypass_set(true, "g9", false), 0);
	commit();

	assert_int_equal(store_plan_load(plan_cb, &p), 0);
	assert_string_equal(p.s, "u1=pro;u2=pro;");
	p.s[0] = '\0';
	assert_int_equal(store_bypass_load(bypass_cb, &p), 0);
	assert_string_equal(p.s, "u:u1;g:u1;");
}

static int
price_cb(void *arg, const struct price *pr)
{
	struct pairs	*p = arg;
	size_t		 l = strlen(p->s);

	snprintf(p->s + l, sizeof(p->s) - l, "%s %lld %lld %lld %lld;",
	    pr->model, (long long)pr->input, (long long)pr->output,
	    (long long)pr->cached, (long long)pr->cache_write);
	return 0;
}

static void
test_prices(void **state)
{
	struct price	 a = { "gpt-4o-mini", 150000000, 600000000, 75000000, -1 };
	struct price	 b = { "*", 1, 2, -1, -1 };
	struct pairs	 p = { "" };

	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_price_put(&a), 0);
	assert_int_equal(store_price_put(&b), 0);
	b.input = 3;
	assert_int_equal(store_price_put(&b), 0);
	commit();
	assert_int_equal(store_price_load(price_cb, &p), 0);
	assert_string_equal(p.s,
	    "* 3 2 -1 -1;gpt-4o-mini 150000000 600000000 75000000 -1;");

	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_price_del("*"), 1);
	assert_int_equal(store_price_del("*"), 0);
	commit();
	p.s[0] = '\0';
	assert_int_equal(store_price_load(price_cb, &p), 0);
	assert_string_equal(p.s, "gpt-4o-mini 150000000 600000000 75000000 -1;");
}

static int
hold_cb(void *arg, const struct hold *h)
{
	struct pairs	*p = arg;
	size_t		 l = strlen(p->s);

	snprintf(p->s + l, sizeof(p->s) - l, "%s %lld %lld %s %s %s %lld %lld;",
	    h->id, (long long)h->created, (long long)h->expires, h->user,
	    h->guild ? h->guild : "-", h->model ? h->model : "-",
	    (long long)h->tokens, (long long)h->cost);
	return 0;
}

static void
test_holds(void **state)
{
	struct hold	 a = { "aaaaaaaaaaaaaaaaaaaaaaaa", 100, 400, "u1", "g1",
	    "gpt", 500, 7 };
	struct hold	 b = { "bbbbbbbbbbbbbbbbbbbbbbbb", 200, 500, "u2", NULL,
	    NULL, 0, 9 };
	struct pairs	 p = { "" };

	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_hold_put(&b), 0);
	assert_int_equal(store_hold_put(&a), 0);
	commit();
	assert_int_equal(store_hold_load(hold_cb, &p), 0);
	assert_string_equal(p.s,
	    "aaaaaaaaaaaaaaaaaaaaaaaa 100 400 u1 g1 gpt 500 7;"
	    "bbbbbbbbbbbbbbbbbbbbbbbb 200 500 u2 - - 0 9;");

	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_hold_del(a.id), 0);
	assert_int_equal(store_hold_del("nonexistent"), 0);
	commit();
	p.s[0] = '\0';
	assert_int_equal(store_hold_load(hold_cb, &p), 0);
	assert_string_equal(p.s, "bbbbbbbbbbbbbbbbbbbbbbbb 200 500 u2 - - 0 9;");
}

/*
 * Maintenance writes the pending totals out only when some are of what it
 * reads or rewrites: a month's archive, rows of a day before the month's
 * end; the fold and the drop of buckets, buckets starting before theirs.
 */
static int
names_cb(void *arg, const char *model)
{
	struct models	*m = arg;

	snprintf(m->name[m->n++], sizeof(m->name[0]), "%s", model);
	return 0;
}

/*
 * A user's own totals (what `usage` reads) count the rows still in memory,
 * pending or of a set going out in parts, each once, without writing them
 * out: a usage request under load no longer holds everyone up.
 */
static void
test_user_totals_read_pending(void **state)
{
	struct fixture	*f = *state;
	struct event	 a = mkevent(T0 + 10, "u1", "g1", "gpt-4o", 10, 5, 100);
	struct event	 b = mkevent(T0 + 20, "u1", "g1", "gpt-4o", 1, 1, 1);
	struct event	 c = mkevent(T0 + DAY + 5, "u1", NULL, "claude", 2, 2, 2);
	struct event	 d = mkevent(T0 + 30, "u10", "g1", "gpt-4o", 50, 50, 50);
	struct event	 e[3] = {
		mkevent(T0 + 40, "u1", "g2", "gpt-4o", 100, 0, 0),
		mkevent(T0 + 50, "u1", "g3", "mistral", 200, 0, 0),
		mkevent(T0 + 60, "u1", "g4", "claude", 300, 0, 0),
	};
	struct models	 m = { .n = 0 }, names = { .n = 0 };
	struct usage	 u;
	int		 i;

	store_tune_parts(600ULL * 1000000, 256);	/* never due here */
	assert_int_equal(store_begin(), 0);
	add_event(&a);
	commit();					/* a is in the table */
	assert_int_equal(store_begin(), 0);
	add_event(&b);
	add_event(&c);
	add_event(&d);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(side_int(f->path, "SELECT COUNT(*) FROM daily"), 1);

	assert_int_equal(store_user_daily_totals("u1", T0, T0 + DAY, &u), 0);
	assert_int_equal(u.requests, 2);
	assert_int_equal(u.total, 17);
	assert_int_equal(u.cost, 101);
	assert_int_equal(store_user_daily_totals("u1", T0, T0 + 2 * DAY, &u), 0);
	assert_int_equal(u.requests, 3);
	assert_int_equal(store_user_daily_totals("u1", T0 + DAY, T0 + 2 * DAY, &u), 0);
	assert_int_equal(u.total, 4);
	assert_int_equal(store_user_daily_totals("u10", 0, T0 * 2, &u), 0);
	assert_int_equal(u.total, 100);

	assert_int_equal(store_user_models_totals("u1", models_cb, &m), 0);
	assert_int_equal(m.n, 2);
	assert_string_equal(m.name[0], "claude");
	assert_int_equal(m.u[0].total, 4);
	assert_string_equal(m.name[1], "gpt-4o");
	assert_int_equal(m.u[1].requests, 2);
	assert_int_equal(m.u[1].total, 17);
	/* The models of the day holding since, and after: claude only. */
	assert_int_equal(store_user_models_since("u1", T0 + DAY + 3600, names_cb,
	    &names), 0);
	assert_int_equal(names.n, 1);
	assert_string_equal(names.name[0], "claude");
	/* Nothing was written to read them. */
	assert_int_equal(side_int(f->path, "SELECT COUNT(*) FROM daily"), 1);

	/* A set going out a row per commit: the rows written and those not. */
	commit();
	store_tune_parts(0, 1);
	assert_int_equal(store_begin(), 0);
	for (i = 0; i < 3; i++)
		add_event(&e[i]);
	assert_int_equal(store_commit(), 0);		/* one row of three */
	assert_int_equal(side_int(f->path, "SELECT COUNT(*) FROM daily"
	    " WHERE guild IN ('g2', 'g3', 'g4')"), 1);
	assert_int_equal(store_user_daily_totals("u1", T0, T0 + DAY, &u), 0);
	assert_int_equal(u.requests, 5);
	assert_int_equal(u.total, 617);
	m.n = 0;
	assert_int_equal(store_user_models_totals("u1", models_cb, &m), 0);
	assert_int_equal(m.n, 3);
	assert_string_equal(m.name[0], "claude");
	assert_int_equal(m.u[0].total, 304);
	assert_string_equal(m.name[1], "gpt-4o");
	assert_int_equal(m.u[1].total, 117);
	assert_string_equal(m.name[2], "mistral");
	assert_int_equal(m.u[2].total, 200);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_commit(), 0);		/* two of three */
	assert_int_equal(store_user_daily_totals("u1", T0, T0 + DAY, &u), 0);
	assert_int_equal(u.total, 617);
	store_tune_parts(1000000, 256);
}

struct page {
	int64_t		 at[16], id[16];
	char		 user[16][8];
	size_t		 n;
};

static int
page_cb(void *arg, const struct event *ev)
{
	struct page	*p = arg;

	assert_true(p->n < 16);
	p->at[p->n] = ev->at;
	p->id[p->n] = ev->id;
	snprintf(p->user[p->n], sizeof(p->user[0]), "%s", ev->user);
	p->n++;
	return 0;
}

/* A page of events of f, and whether each is of user. */
static struct page
page_of(const char *user, const char *guild, int64_t since, int64_t until,
    bool desc, int64_t at, int64_t id, int64_t limit)
{
	struct event_filter	 f = { user, guild, since, until };
	struct page		 p = { .n = 0 };
	size_t			 i;

	assert_int_equal(store_events_page(&f, desc, at, id, limit, page_cb, &p), 0);
	for (i = 0; user != NULL && i < p.n; i++)
		assert_string_equal(p.user[i], user);
	return p;
}

/*
 * A user's events are found by the user's hours (no index leads with the
 * user): written and pending hours alike, in (at, id) order either way,
 * from a cursor, within [since, until), with a guild, and an event
 * imported late into an old hour in its place by time.
 */
static void
test_user_events_by_hour(void **state)
{
	struct fixture	*f = *state;
	struct event	 e[] = {
		mkevent(T0 + 10, "u1", "g1", "m", 1, 0, 0),
		mkevent(T0 + 20, "u1", "g2", "m", 2, 0, 0),
		mkevent(T0 + 15, "u10", "g1", "m", 4, 0, 0),	/* u1 is its prefix */
		mkevent(T0 + 3605, "u1", "g1", "m", 8, 0, 0),
		mkevent(T0 + 30, "u2", "g1", "m", 16, 0, 0),
		mkevent(T0 + DAY + 7, "u1", "g1", "m", 32, 0, 0),
		mkevent(T0 + DAY + 100, "u1", "g2", "m", 64, 0, 0),	/* pending */
		mkevent(T0 + 40, "u1", "g2", "m", 128, 0, 0),	/* imported late */
	};
	struct page	 p;
	struct usage	 u;
	size_t		 i;

	store_tune_parts(600ULL * 1000000, 256);	/* never due here */
	assert_int_equal(store_begin(), 0);
	for (i = 0; i < 6; i++)
		add_event(&e[i]);
	commit();
	assert_int_equal(side_int(f->path, "SELECT COUNT(*) FROM hourly"), 5);
	assert_int_equal(side_int(f->path, "SELECT COUNT(*) FROM sqlite_master"
	    " WHERE name = 'events_user_at'"), 0);
	assert_int_equal(store_begin(), 0);
	add_event(&e[6]);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(side_int(f->path, "SELECT COUNT(*) FROM hourly"), 5);

	p = page_of("u1", NULL, INT64_MIN, INT64_MAX, false, INT64_MIN, INT64_MIN, 10);
	assert_int_equal(p.n, 5);
	assert_int_equal(p.at[0], T0 + 10);
	assert_int_equal(p.at[1], T0 + 20);
	assert_int_equal(p.at[2], T0 + 3605);
	assert_int_equal(p.at[3], T0 + DAY + 7);
	assert_int_equal(p.at[4], T0 + DAY + 100);
	p = page_of("u1", "g1", INT64_MIN, INT64_MAX, false, INT64_MIN, INT64_MIN, 10);
	assert_int_equal(p.n, 3);
	p = page_of("u1", NULL, INT64_MIN, INT64_MAX, true, INT64_MAX, INT64_MAX, 2);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.at[0], T0 + DAY + 100);
	assert_int_equal(p.at[1], T0 + DAY + 7);
	/* Pages from a cursor, either way. */
	p = page_of("u1", NULL, INT64_MIN, INT64_MAX, false, T0 + 20, e[1].id, 2);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.at[0], T0 + 3605);
	assert_int_equal(p.at[1], T0 + DAY + 7);
	p = page_of("u1", NULL, INT64_MIN, INT64_MAX, true, T0 + 3605, e[3].id, 10);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.at[0], T0 + 20);
	assert_int_equal(p.at[1], T0 + 10);
	p = page_of("u1", NULL, T0 + 15, T0 + DAY, false, INT64_MIN, INT64_MIN, 10);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.at[0], T0 + 20);
	assert_int_equal(p.at[1], T0 + 3605);
	p = page_of("nobody", NULL, INT64_MIN, INT64_MAX, false, INT64_MIN, INT64_MIN, 10);
	assert_int_equal(p.n, 0);
	p = page_of(NULL, "g1", INT64_MIN, INT64_MAX, false, INT64_MIN, INT64_MIN, 10);
	assert_int_equal(p.n, 5);

	/* Late into an old hour: ids past the hour's, found by time. */
	commit();
	assert_int_equal(store_begin(), 0);
	add_event(&e[7]);
	commit();
	p = page_of("u1", NULL, INT64_MIN, T0 + 3600, false, INT64_MIN, INT64_MIN, 10);
	assert_int_equal(p.n, 3);
	assert_int_equal(p.at[2], T0 + 40);
	assert_int_equal(p.id[2], e[7].id);
	assert_int_equal(store_user_hours_totals("u1", T0, T0 + 1, &u), 0);
	assert_int_equal(u.prompt, 131);
	store_tune_parts(1000000, 256);
}

/*
 * The pending rows go out in the order of the tables' keys: daily rows by
 * day, then user; the users' hours by hour, then user; then the counters;
 * days a year apart as well.  Users alike in their first 8 bytes go out
 * too, in either order.
 */
static void
test_pending_rows_go_out_in_key_order(void **state)
{
	struct fixture	*f = *state;
	struct event	 e[] = {
		mkevent(T0 + DAY, "a", NULL, "m", 1, 0, 0),
		mkevent(T0, "zz-b", NULL, "m", 1, 0, 0),
		mkevent(T0 + 3610, "zz-a", NULL, "m", 1, 0, 0),
		mkevent(T0 - 400 * DAY, "m", NULL, "m", 1, 0, 0),
		mkevent(T0 + 5, "longprefix-2", NULL, "m", 1, 0, 0),
		mkevent(T0 + 6, "longprefix-1", NULL, "m", 1, 0, 0),
	};
	static const char *const order[] = {
		"daily WHERE user = 'm'", "daily WHERE user LIKE 'longprefix-%'",
		"daily WHERE user = 'zz-a'", "daily WHERE user = 'zz-b'",
		"daily WHERE user = 'a'",
		"hourly WHERE user = 'm'", "hourly WHERE user LIKE 'longprefix-%'",
		"hourly WHERE user = 'zz-b'", "hourly WHERE user = 'zz-a'",
		"hourly WHERE user = 'a'",
	};
	/* order[k] is all out once after[k] rows are; 1 and 6 are two rows */
	static const int after[] = { 1, 3, 4, 5, 6, 7, 9, 10, 11, 12 };
	char		 sql[128];
	size_t		 i, k;

	store_tune_parts(0, 1);
	assert_int_equal(store_begin(), 0);
	for (i = 0; i < 6; i++)
		add_event(&e[i]);
	for (i = 1; i <= 12; i++) {
		assert_int_equal(store_commit(), 0);		/* one row more */
		for (k = 0; k < 10; k++) {
			int	 want = 0, lo = k == 0 || k == 5 ? 0 : after[k - 1];

			snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", order[k]);
			if ((int)i >= after[k])
				want = k == 1 || k == 6 ? 2 : 1;
			else if (k == 1 || k == 6)
				want = (int)i > lo;	/* one of the two */
			assert_int_equal(side_int(f->path, sql), want);
		}
		assert_int_equal(store_begin(), 0);
	}
	commit();
	store_tune_parts(1000000, 256);
}

/*
 * A database of version 5 gets its users' hours from the raw events whose
 * totals are written, and loses events_user_at.
 */
static void
test_migration_builds_hourly(void **state)
{
	struct fixture	*f = *state;
	struct event	 e[] = {
		mkevent(T0 + 10, "u1", "g1", "m", 1, 0, 0),
		mkevent(T0 + 20, "u1", "g2", "m", 2, 0, 0),
		mkevent(T0 + 3700, "u1", "g1", "m", 4, 0, 0),
		mkevent(T0 + 30, "u2", "g1", "m", 8, 0, 0),
	};
	struct usage	 u;
	size_t		 i;

	assert_int_equal(store_begin(), 0);
	for (i = 0; i < 4; i++)
		add_event(&e[i]);
	commit();
	store_close();
	side_exec(f->path, "DROP TABLE hourly;"
	    " CREATE INDEX events_user_at ON events(user, at);"
	    " PRAGMA user_version = 5");
	assert_int_equal(store_open(f->path), 0);
	assert_int_equal(side_int(f->path, "PRAGMA user_version"), 7);
	assert_int_equal(side_int(f->path, "SELECT COUNT(*) FROM sqlite_master"
	    " WHERE name = 'events_user_at'"), 0);
	assert_int_equal(side_int(f->path, "SELECT COUNT(*) FROM hourly"), 3);
	assert_int_equal(side_int(f->path, "SELECT last - first FROM hourly"
	    " WHERE user = 'u1' AND hour = 1767225600"), 1);
	assert_int_equal(store_user_hours_totals("u1", T0, T0 + 2 * 3600, &u), 0);
	assert_int_equal(u.requests, 3);
	assert_int_equal(u.prompt, 7);
	assert_int_equal(store_user_hours_totals("u2", T0, T0 + 3600, &u), 0);
	assert_int_equal(u.prompt, 8);
}

/*
 * status's counts of events and users come from meta, kept up as daily
 * rows are written, and from the rows not yet written: the same as a scan
 * of the daily totals once all are written, and no scan to give them.
 */
static void
test_counts_kept_in_meta(void **state)
{
	struct fixture	*f = *state;
	struct event	 e[] = {
		mkevent(T0 + 10, "u1", "g1", "m", 1, 1, 1),
		mkevent(T0 + DAY, "u1", "g2", "m", 1, 1, 1),	/* a row more, same user */
		mkevent(T0 + 20, "u10", NULL, "m", 1, 1, 1),	/* u1 is its prefix */
		mkevent(T0 + 30, "u2", NULL, "m", 1, 1, 1),
		mkevent(T0 + 40, "u1", "g1", "m", 1, 1, 1),	/* pending, written user */
		mkevent(T0 + 50, "u3", NULL, "m", 1, 1, 1),	/* pending, new user */
		mkevent(T0 + 60, "u3", "g9", "x", 1, 1, 1),
	};
	int64_t		 events, users;
	size_t		 i;

	assert_int_equal(store_counts(&events, &users), 0);
	assert_int_equal(events, 0);
	assert_int_equal(users, 0);
	store_tune_parts(600ULL * 1000000, 256);	/* never due here */
	assert_int_equal(store_begin(), 0);
	for (i = 0; i < 4; i++)
		add_event(&e[i]);
	commit();
	assert_int_equal(side_int(f->path, "SELECT val FROM meta"
	    " WHERE name = 'daily_requests'"), 4);
	assert_int_equal(side_int(f->path, "SELECT val FROM meta"
	    " WHERE name = 'daily_users'"), 3);
	assert_int_equal(store_begin(), 0);
	for (; i < 7; i++)
		add_event(&e[i]);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_counts(&events, &users), 0);
	assert_int_equal(events, 7);
	assert_int_equal(users, 4);

	/* Written a row per commit, then all: the same counts throughout. */
	store_tune_parts(0, 1);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_counts(&events, &users), 0);
	assert_int_equal(events, 7);
	assert_int_equal(users, 4);
	commit();
	assert_int_equal(store_counts(&events, &users), 0);
	assert_int_equal(events, 7);
	assert_int_equal(users, 4);
	assert_int_equal(side_int(f->path, "SELECT val FROM meta"
	    " WHERE name = 'daily_users'"), side_int(f->path,
	    "SELECT COUNT(DISTINCT user) FROM daily"));
	store_tune_parts(1000000, 256);

	/* A database of version 4 gets its counts from the table. */
	store_close();
	side_exec(f->path, "DELETE FROM meta WHERE name LIKE 'daily_%';"
	    " DROP TABLE hourly; CREATE INDEX events_user_at ON events(user, at);"
	    " PRAGMA user_version = 4");
	assert_int_equal(store_open(f->path), 0);
	assert_int_equal(store_counts(&events, &users), 0);
	assert_int_equal(events, 7);
	assert_int_equal(users, 4);
}

static void
test_maintenance_leaves_present_totals_pending(void **state)
{
	struct fixture	*f = *state;
	int64_t		 feb = T0 + 31 * DAY;
	struct event	 now = mkevent(feb + 10, "u1", "g1", "m", 5, 5, 5);
	struct event	 old = mkevent(T0 + 10, "u1", "g1", "m", 1, 1, 1);
	char		 cursor[TOKQ_ID_MAX + 1] = "";

	store_tune_parts(600ULL * 1000000, 256);	/* never due here */
	assert_int_equal(store_begin(), 0);
	add_event(&now);
	madd(SCOPE_GLOBAL, "", "", feb + 60, 5);
	assert_int_equal(store_month_archive(T0, feb, cursor, sizeof(cursor), 5), 0);
	assert_int_equal(store_bucket_compact(feb - DAY, 5), 0);
	assert_int_equal(store_bucket_prune(feb - 40 * DAY, 5), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(side_int(f->path, "SELECT COUNT(*) FROM daily"), 0);
	assert_int_equal(side_int(f->path, "SELECT COUNT(*) FROM buckets"), 0);

	/* A record of January: the archive of January writes it first. */
	assert_int_equal(store_begin(), 0);
	add_event(&old);
	assert_int_equal(store_month_archive(T0, feb, cursor, sizeof(cursor), 5), 1);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(side_int(f->path, "SELECT SUM(total) FROM daily"), 12);
	assert_int_equal(side_int(f->path, "SELECT total FROM monthly"
	    " WHERE user = 'u1' AND guild = 'g1'"), 2);

	/* A bucket of a day ago: the fold writes it first, and folds it. */
	assert_int_equal(store_begin(), 0);
	madd(SCOPE_GLOBAL, "", "", feb + 120, 7);
	madd(SCOPE_GLOBAL, "", "", feb - 2 * DAY, 3);
	assert_int_equal(store_bucket_compact(feb - DAY, 5), 1);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(side_int(f->path, "SELECT SUM(tokens) FROM buckets"), 15);
	assert_int_equal(side_int(f->path, "SELECT tokens FROM buckets"
	    " WHERE span = 3600"), 3);
	store_tune_parts(1000000, 256);
}

static void
test_month_archive(void **state)
{
	struct fixture	*f = *state;
	int64_t		 feb = T0 + 31 * DAY;
	struct event	 e[] = {
		mkevent(T0 + 10, "u1", "g1", "m", 1, 1, 1),
		mkevent(T0 + 2 * DAY, "u1", "g1", "m", 10, 10, 10),
		mkevent(T0 + 3 * DAY, "u1", NULL, "m", 100, 0, 0),
		mkevent(T0 + 3 * DAY, "u2", "g1", "n", 5, 5, 5),
		mkevent(feb, "u1", "g1", "m", 1000, 0, 0),
	};
	size_t		 i;

	char		 cursor[TOKQ_ID_MAX + 1] = "";

	assert_int_equal(store_begin(), 0);
	for (i = 0; i < sizeof(e) / sizeof(e[0]); i++)
		add_event(&e[i]);
	/* One user per batch: u1, u2, then none left. */
	assert_int_equal(store_month_archive(T0, feb, cursor, sizeof(cursor), 1), 1);
	assert_string_equal(cursor, "u1");
	assert_int_equal(store_month_archive(T0, feb, cursor, sizeof(cursor), 1), 1);
	assert_string_equal(cursor, "u2");
	assert_int_equal(store_month_archive(T0, feb, cursor, sizeof(cursor), 1), 0);
	assert_string_equal(cursor, "u2");
	commit();
	assert_int_equal(side_int(f->path,
	    "SELECT count(*) FROM monthly"), 3);
	assert_int_equal(side_int(f->path, "SELECT total FROM monthly WHERE"
	    " user = 'u1' AND guild = 'g1' AND model = 'm'"), 22);
	assert_int_equal(side_int(f->path, "SELECT requests FROM monthly WHERE"
	    " user = 'u1' AND guild = 'g1' AND model = 'm'"), 2);
	assert_int_equal(side_int(f->path, "SELECT total FROM monthly WHERE"
	    " user = 'u1' AND guild = ''"), 100);

	/* Archiving again, after more usage, replaces the month's rows. */
	e[0].id = 0;
	cursor[0] = '\0';
	assert_int_equal(store_begin(), 0);
	add_event(&e[0]);
	assert_int_equal(store_month_archive(T0, feb, cursor, sizeof(cursor), 100), 2);
	commit();
	assert_int_equal(side_int(f->path, "SELECT total FROM monthly WHERE"
	    " user = 'u1' AND guild = 'g1' AND model = 'm'"), 24);
	assert_int_equal(side_int(f->path,
	    "SELECT count(*) FROM monthly WHERE month = 1767225600"), 3);
}

static void
test_events_prune(void **state)
{
	struct fixture	*f = *state;
	struct event	 ev;
	struct usage	 u;
	uint64_t	 fp;
	int64_t		 first, count, events, users, old_id = 0;
	int		 i;

	assert_int_equal(store_begin(), 0);
	for (i = 0; i < 5; i++) {
		ev = mkevent(T0 + i, "u1", NULL, "m", 1, 0, 0);
		add_event(&ev);
		if (i == 0)
			old_id = ev.id;
	}
	assert_int_equal(store_key_put("old", 1, old_id, 5, T0 + 4), 0);
	ev = mkevent(T0 + 10 * DAY, "u1", NULL, "m", 1, 0, 0);
	add_event(&ev);
	assert_int_equal(store_key_put("new", 2, ev.id, 1, T0 + 10 * DAY), 0);
	assert_int_equal(store_commit(), 0);

	/* Events whose totals are not written yet are kept. */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_events_prune(T0 + DAY, 3), 0);
	commit();

	/* The key "old" was made at T0 + 4. */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_events_prune(T0 + DAY, 3), 3);
	assert_int_equal(store_events_prune(T0 + DAY, 3), 2);
	assert_int_equal(store_events_prune(T0 + DAY, 3), 0);
	commit();

	assert_int_equal(side_int(f->path, "SELECT COUNT(*) FROM events"), 1);
	assert_int_equal(store_user_hours_totals("u1", T0, T0 + 3600, &u), 0);
	assert_int_equal(u.requests, 5);	/* the hours outlive the events */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_hourly_prune(T0 + 3600, 10), 1);
	assert_int_equal(store_hourly_prune(T0 + 3600, 10), 0);
	commit();
	assert_int_equal(store_user_hours_totals("u1", T0, T0 + 3600, &u), 0);
	assert_int_equal(u.requests, 0);
	assert_int_equal(store_user_hours_totals("u1", T0 + 10 * DAY, T0 + 11 * DAY,
	    &u), 0);
	assert_int_equal(u.requests, 1);
	assert_int_equal(store_key_get("old", &fp, &first, &count), 0);
	assert_int_equal(store_key_get("new", &fp, &first, &count), 1);
	/* Daily totals outlive the raw events. */
	assert_int_equal(store_user_daily_totals("u1", 0, T0 * 2, &u), 0);
	assert_int_equal(u.requests, 6);
	assert_int_equal(store_counts(&events, &users), 0);
	assert_int_equal(events, 6);
	assert_int_equal(users, 1);
	/* status counts the raw events kept: all-time less these */
	assert_int_equal(store_meta_get("events_pruned", &count), 1);
	assert_int_equal(count, 5);
}

/*
 * Sums saturate at INT64_MAX, in C (pending rows) and in SQL (ssum, sadd):
 * rows that already hold huge amounts, as a database written before the
 * bounds may, give views and user totals of INT64_MAX, never SQLite's
 * "integer overflow" nor a wrapped, negative count; a float that SQLite's
 * own + once made of an overflow reads as INT64_MAX too.
 */
static void
test_sums_saturate(void **state)
{
	struct fixture	*f = *state;
	struct view	 v = { T0, T0 + DAY, NULL };
	struct usage	 u;
	struct event	 e[3];
	struct bucket	 b = { T0, 60, INT64_MAX - 1, INT64_MAX, 1 };
	struct buckets	 bs;
	int64_t		 users, guilds;
	size_t		 i;

	for (i = 0; i < 3; i++) {
		e[i] = mkevent(T0 + 10 + (int64_t)i, i == 1 ? "u2" : "u1", "g", "m",
		    INT64_MAX, 0, INT64_MAX);
		e[i].u.total = INT64_MAX;
	}
	assert_int_equal(store_begin(), 0);
	add_event(&e[0]);
	add_event(&e[1]);
	commit();				/* written: two rows of INT64_MAX */
	assert_int_equal(store_begin(), 0);
	add_event(&e[2]);			/* added to u1's row in SQL: sadd */
	commit();

	assert_int_equal(store_view_totals(&v, &u, &users, &guilds), 0);
	assert_int_equal(u.requests, 3);
	assert_true(u.total == INT64_MAX && u.prompt == INT64_MAX && u.cost == INT64_MAX);
	assert_int_equal(users, 2);
	assert_int_equal(store_view_user_all("u1", NULL, &u), 0);
	assert_true(u.total == INT64_MAX && u.requests == 2);
	assert_int_equal(store_user_daily_totals("u1", T0, T0 + DAY, &u), 0);
	assert_true(u.total == INT64_MAX);
	assert_int_equal(store_events_sum(e[0].id, 3, &u), 0);
	assert_true(u.total == INT64_MAX && u.requests == 3);
	assert_int_equal(store_user_hours_totals("u1", T0, T0 + 3600, &u), 0);
	assert_true(u.total == INT64_MAX);

	/* A float in a sum's column, as SQLite's + made of an overflow. */
	side_exec(f->path, "UPDATE daily SET total = 1e19 WHERE user = 'u2'");
	assert_int_equal(store_view_totals(&v, &u, &users, &guilds), 0);
	assert_true(u.total == INT64_MAX);
	assert_int_equal(store_view_user_all("u2", NULL, &u), 0);
	assert_true(u.total == INT64_MAX);

	/* A bucket: pending sums in C, written ones in SQL. */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_add(SCOPE_USER, "u1", "", &b), 0);
	assert_int_equal(store_bucket_add(SCOPE_USER, "u1", "", &b), 0);
	commit();
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_add(SCOPE_USER, "u1", "", &b), 0);
	commit();
	bs = load(SCOPE_USER, "u1", "", 0);
	assert_int_equal(bs.n, 1);
	assert_true(bs.b[0].tokens == INT64_MAX && bs.b[0].cost == INT64_MAX);
	assert_int_equal(bs.b[0].requests, 3);
}

/*
 * A request's savepoint undone puts back the pending sums as they were
 * before it, exactly, even where its addition saturated them.
 */
static void
test_undo_after_saturation_is_exact(void **state)
{
	struct view	 v = { T0, T0 + DAY, NULL };
	struct event	 a = mkevent(T0 + 10, "u1", NULL, "m", 0, 0, 0);
	struct event	 b = mkevent(T0 + 20, "u1", NULL, "m", 0, 0, 0);
	struct usage	 u;
	int64_t		 users, guilds;

	a.u.total = INT64_MAX - 5;
	b.u.total = 100;
	assert_int_equal(store_begin(), 0);
	add_event(&a);
	assert_int_equal(store_mark(true), 0);
	add_event(&b);				/* saturates the pending daily row */
	assert_int_equal(store_unmark(-TOKQ_E_INVALID), -TOKQ_E_INVALID);
	commit();
	assert_int_equal(store_view_totals(&v, &u, &users, &guilds), 0);
	assert_true(u.total == INT64_MAX - 5);
	assert_int_equal(u.requests, 1);
}

/*
 * A batch reaches the disk only at its commit: the journal of a savepoint
 * that changes many pages (a prune of 1,500 events of 4 KiB, a journal of
 * some 6 MiB) stays in memory, not in a temporary file written page by
 * page; and it works (a spill threshold of 4 MiB failed it as a full disk).
 */
static void
test_savepoint_journal_in_memory(void **state)
{
	struct event	 ev;
	char		 meta[4096];
	int		 i, n;

	memset(meta, 'x', sizeof(meta) - 1);
	meta[sizeof(meta) - 1] = '\0';
	assert_int_equal(store_begin(), 0);
	for (i = 0; i < 1500; i++) {
		ev = mkevent(T0 + i, "u1", NULL, "m", 1, 1, 1);
		ev.meta = meta;
		add_event(&ev);
	}
	commit();

	assert_int_equal(store_begin(), 0);
	side_pwrite_count();
	n = store_events_prune(T0 + DAY, 2000);
	side_pwrite_stop();
	assert_int_equal(n, 1500);
	assert_int_equal(side_npwrite, 0);
	commit();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_open_creates_directory_and_reopen_keeps_data),
		T(test_sums_saturate),
		T(test_undo_after_saturation_is_exact),
		T(test_events_and_totals),
		T(test_user_models_totals),
		T(test_user_totals_read_pending),
		T(test_counts_kept_in_meta),
		T(test_rollback_leaves_nothing),
		T(test_write_outside_transaction_refused),
		T(test_commit_failure_rolls_back),
		T(test_disk_full_at_commit),
		T(test_disk_full_at_write),
		T(test_keys),
		T(test_buckets_add_load),
		T(test_buckets_pending),
		T(test_maintenance_leaves_present_totals_pending),
		T(test_buckets_compact),
		T(test_buckets_prune_clear),
		T(test_rules),
		T(test_plans_and_bypass),
		T(test_prices),
		T(test_holds),
		T(test_month_archive),
		T(test_events_prune),
		T(test_user_events_by_hour),
		T(test_migration_builds_hourly),
		T(test_pending_rows_go_out_in_key_order),
		T(test_savepoint_journal_in_memory),
#undef T
	};

	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
