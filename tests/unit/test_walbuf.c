/*
 * test_walbuf.c: walbuf.c, the VFS the store opens its database with, on
 * real files.  What a commit through it leaves in the WAL is what a plain
 * connection finds there, and what a later process finds after a crash; a
 * write it cannot do fails the COMMIT; and a commit's frames reach the
 * file in a few large pwrites instead of two per page.
 *
 * Each test opens its own connections (journal_mode=WAL, synchronous=FULL
 * as store.c does, and no automatic checkpoint, so the rows stay in the
 * WAL).  A crash is a child process that commits and _exits.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

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

#define FRAME	(4096 + 24)	/* a WAL frame: header and page */

struct fixture {
	char		 dir[64];
	char		 path[128];
	char		 wal[160];
	struct rlimit	 fsize;		/* teardown restores it, and syscalls */
};

static int
setup(void **state)
{
	struct fixture	*f = calloc(1, sizeof(*f));

	if (f == NULL || walbuf_register() == -1 ||
	    getrlimit(RLIMIT_FSIZE, &f->fsize) == -1)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_walbuf.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	snprintf(f->wal, sizeof(f->wal), "%s-wal", f->path);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;
	char		 cmd[128];

	setrlimit(RLIMIT_FSIZE, &f->fsize);
	signal(SIGXFSZ, SIG_DFL);
	side_pwrite_stop();	/* after a test that failed while counting */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(f);
	return 0;
}

/* sql on db: its result code, extended. */
static int
run(sqlite3 *db, const char *sql)
{
	sqlite3_exec(db, sql, NULL, NULL, NULL);
	return sqlite3_extended_errcode(db);
}

/* Open path through vfs (NULL: the default) as the store does, or NULL. */
static sqlite3 *
open_db(const char *path, const char *vfs)
{
	sqlite3	*db;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, vfs) != SQLITE_OK ||
	    run(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
	    "PRAGMA wal_autocheckpoint = 0;"
	    "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, b BLOB)") !=
	    SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* Add rows [from, from+n) of size bytes each, in the open transaction. */
static int
add_rows(sqlite3 *db, int from, int n, int size)
{
	char	 sql[256];

	snprintf(sql, sizeof(sql), "WITH RECURSIVE c(i) AS (SELECT %d UNION ALL"
	    " SELECT i + 1 FROM c WHERE i < %d)"
	    " INSERT INTO t SELECT i, randomblob(%d) FROM c", from,
	    from + n - 1, size);
	return run(db, sql);
}

/* The same in a transaction of its own: the COMMIT's result code. */
static int
commit_rows(sqlite3 *db, int from, int n, int size)
{
	int	 rc;

	if ((rc = run(db, "BEGIN IMMEDIATE")) != SQLITE_OK ||
	    (rc = add_rows(db, from, n, size)) != SQLITE_OK)
		return rc;
	return run(db, "COMMIT");
}

static off_t
file_size(const char *path)
{
	struct stat	 sb;

	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* Run fn(path) in a child that then dies without closing anything. */
static void
crash_after(void (*fn)(const char *), const char *path)
{
	pid_t	 pid;
	int	 status;

	assert_true((pid = fork()) != -1);
	if (pid == 0) {
		fn(path);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* In a child: no cmocka, an exit status. */
#define MUST(c)	do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, \
	__LINE__, #c); _exit(1); } } while (0)

/*
 * A commit through the VFS is in the WAL file when COMMIT returns: a plain
 * connection, reading the file through its own descriptor, sees every row.
 */
static void
test_commit_seen_by_plain_connection(void **state)
{
	struct fixture	*f = *state;
	sqlite3		*db;

	assert_non_null(db = open_db(f->path, WALBUF_VFS));
	assert_int_equal(commit_rows(db, 1, 500, 1000), SQLITE_OK);
	assert_true(file_size(f->wal) > 500 * 1000);
	assert_int_equal(side_int(f->path, "SELECT count(*) FROM t"), 500);
	assert_int_equal(commit_rows(db, 501, 1, 10), SQLITE_OK);
	assert_int_equal(side_int(f->path, "SELECT count(*) FROM t"), 501);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	assert_int_equal(side_int(f->path, "SELECT count(*) FROM t"), 501);
}

static void
commit_then_crash(const char *path)
{
	sqlite3	*db;

	MUST((db = open_db(path, WALBUF_VFS)) != NULL);
	MUST(commit_rows(db, 1, 300, 1000) == SQLITE_OK);
	MUST(commit_rows(db, 301, 1, 10) == SQLITE_OK);
	/* One more, never committed. */
	MUST(run(db, "BEGIN IMMEDIATE") == SQLITE_OK);
	MUST(add_rows(db, 1000, 300, 1000) == SQLITE_OK);
}

/*
 * A process that dies without closing, let alone checkpointing, leaves
 * every committed row in the WAL file, and nothing of its open transaction.
 */
static void
test_crash_keeps_commits(void **state)
{
	struct fixture	*f = *state;

	crash_after(commit_then_crash, f->path);
	assert_true(file_size(f->wal) > 300 * 1000);
	assert_int_equal(side_int(f->path, "SELECT count(*) FROM t"), 301);
	assert_int_equal(side_int(f->path,
	    "SELECT integrity_check = 'ok' FROM pragma_integrity_check"), 1);
}

static void
spill_then_crash(const char *path)
{
	sqlite3		*db;
	sqlite3_stmt	*st;

	MUST((db = open_db(path, WALBUF_VFS)) != NULL);
	MUST(run(db, "PRAGMA cache_size = 20") == SQLITE_OK);
	MUST(run(db, "BEGIN IMMEDIATE") == SQLITE_OK);
	MUST(add_rows(db, 1, 1000, 1000) == SQLITE_OK);
	/* Read back and change pages written out of the small cache. */
	MUST(sqlite3_prepare_v2(db, "SELECT count(*), sum(length(b)) FROM t",
	    -1, &st, NULL) == SQLITE_OK);
	MUST(sqlite3_step(st) == SQLITE_ROW);
	MUST(sqlite3_column_int(st, 0) == 1000);
	MUST(sqlite3_column_int(st, 1) == 1000 * 1000);
	sqlite3_finalize(st);
	MUST(run(db, "UPDATE t SET b = zeroblob(500) WHERE id % 10 = 0") ==
	    SQLITE_OK);
	MUST(run(db, "COMMIT") == SQLITE_OK);
}

/*
 * A transaction bigger than the page cache writes pages to the WAL before
 * its commit, reads them back and rewrites some in place (SQLite then
 * rewrites the frames' checksums): all of it is in the file, and a
 * recovery after a crash finds the commit whole.
 */
static void
test_spilled_transaction(void **state)
{
	struct fixture	*f = *state;

	crash_after(spill_then_crash, f->path);
	assert_int_equal(side_int(f->path, "SELECT count(*) FROM t"), 1000);
	assert_int_equal(side_int(f->path, "SELECT sum(length(b)) FROM t"),
	    900 * 1000 + 100 * 500);
	assert_int_equal(side_int(f->path,
	    "SELECT integrity_check = 'ok' FROM pragma_integrity_check"), 1);
}

/*
 * The file cannot grow (RLIMIT_FSIZE, SIGXFSZ ignored): the rows are
 * buffered without error, but writing them out at the commit fails, and so
 * does the COMMIT.  Reads go on; once there is room a commit succeeds, and
 * the refused rows never show up.
 */
static void
test_failed_write_fails_commit(void **state)
{
	struct fixture	*f = *state;
	struct rlimit	 lim;
	sqlite3		*db;
	int		 rc;

	assert_non_null(db = open_db(f->path, WALBUF_VFS));
	assert_int_equal(commit_rows(db, 1, 10, 100), SQLITE_OK);

	signal(SIGXFSZ, SIG_IGN);
	lim = f->fsize;
	lim.rlim_cur = file_size(f->wal) + 16384;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);

	assert_int_equal(run(db, "BEGIN IMMEDIATE"), SQLITE_OK);
	/* ~16 frames: one run, written out at the commit's xSync */
	assert_int_equal(add_rows(db, 100, 60, 1000), SQLITE_OK);
	rc = run(db, "COMMIT");
	assert_true(rc == SQLITE_FULL || (rc & 0xff) == SQLITE_IOERR);
	assert_true(sqlite3_get_autocommit(db));	/* rolled back */
	assert_int_equal(side_int(f->path, "SELECT count(*) FROM t"), 10);
	assert_int_equal(commit_rows(db, 100, 60, 1000) & 0xff, rc & 0xff);

	assert_int_equal(setrlimit(RLIMIT_FSIZE, &f->fsize), 0);
	assert_int_equal(commit_rows(db, 11, 1, 100), SQLITE_OK);
	assert_int_equal(side_int(f->path, "SELECT count(*) FROM t"), 11);
	assert_int_equal(side_int(f->path,
	    "SELECT integrity_check = 'ok' FROM pragma_integrity_check"), 1);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	assert_int_equal(side_int(f->path, "SELECT count(*) FROM t"), 11);
}

static void
refuse_then_crash(const char *path)
{
	struct rlimit	 old, lim;
	sqlite3		*db;
	char		 wal[160];
	struct stat	 sb;

	snprintf(wal, sizeof(wal), "%s-wal", path);
	MUST((db = open_db(path, WALBUF_VFS)) != NULL);
	MUST(commit_rows(db, 1, 10, 100) == SQLITE_OK);
	MUST(stat(wal, &sb) == 0 && getrlimit(RLIMIT_FSIZE, &old) == 0);
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = sb.st_size + 16384;
	MUST(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	MUST(commit_rows(db, 100, 60, 1000) != SQLITE_OK);
	MUST(setrlimit(RLIMIT_FSIZE, &old) == 0);
	/* A checkpoint syncs the WAL: nothing of the refused commit is left. */
	MUST(run(db, "PRAGMA wal_checkpoint") == SQLITE_OK);
}

/*
 * A commit refused for want of room stays refused: its frames, commit mark
 * included, are not written later, so the recovery after a crash does not
 * bring it back.
 */
static void
test_refused_commit_stays_refused(void **state)
{
	struct fixture	*f = *state;

	crash_after(refuse_then_crash, f->path);
	assert_int_equal(side_int(f->path, "SELECT count(*) FROM t"), 10);
	assert_int_equal(side_int(f->path,
	    "SELECT integrity_check = 'ok' FROM pragma_integrity_check"), 1);
}

/* The pwrites and WAL frames of one commit of 300 rows through vfs. */
static void
count_commit(struct fixture *f, const char *vfs, int *writes, int *frames)
{
	sqlite3	*db;
	off_t	 before;

	unlink(f->path);
	unlink(f->wal);
	assert_non_null(db = open_db(f->path, vfs));
	assert_int_equal(commit_rows(db, 1, 1, 10), SQLITE_OK);
	before = file_size(f->wal);
	side_npwrite = 0;
	assert_int_equal(commit_rows(db, 2, 300, 1000), SQLITE_OK);
	*writes = side_npwrite;
	*frames = (file_size(f->wal) - before) / FRAME;
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/*
 * SQLite writes a frame with two pwrites, header then page; through the VFS
 * a commit's frames go out in pwrites of up to 128 KiB (the unix VFS's
 * largest), 31 frames each.
 */
static void
test_few_pwrites_per_commit(void **state)
{
	struct fixture	*f = *state;
	int		 plain_writes, plain_frames, writes, frames;

	side_pwrite_count();
	count_commit(f, NULL, &plain_writes, &plain_frames);
	count_commit(f, WALBUF_VFS, &writes, &frames);
	side_pwrite_stop();

	print_message("%d frames: %d pwrites plain, %d through %s\n", frames,
	    plain_writes, writes, WALBUF_VFS);
	assert_true(frames >= 75);
	assert_int_equal(plain_frames, frames);
	assert_int_equal(plain_writes, 2 * frames);
	assert_int_equal(writes, (frames + 30) / 31);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_commit_seen_by_plain_connection),
		T(test_crash_keeps_commits),
		T(test_spilled_transaction),
		T(test_failed_write_fails_commit),
		T(test_refused_commit_stays_refused),
		T(test_few_pwrites_per_commit),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
