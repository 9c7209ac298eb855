/*
 * clock.c: the daemon's sense of time, and its environment.
 *
 * now() is the real time, or with --test-clock the time the tests set with
 * `tokq clock set|advance`.  The test clock is kept as an offset from the
 * real clock in the database's meta table, so a restarted daemon still
 * lives in the tests' future.  So clock.c calls the store, never the
 * other way: the store times its write-behind with its own stopwatch.
 */
#include <time.h>

#include "tokqd.h"

struct tokqd_env env = {
	.db_schema = "tokq",
	.admin_gid = (gid_t)-1,
	.retention_days = 30,
	.warn = { 80, 95, 100 },
	.nwarn = 3,
};

static int64_t	 clock_offset;

static int64_t
real_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

int64_t
now(void)
{
	return real_now() + clock_offset;
}

/* Load the persisted offset; called once the store is open. */
int
clock_init(void)
{
	int64_t	 off;

	if (!env.test_clock)
		return 0;
	if (store_meta_get("test_clock_offset", &off) == 1)
		clock_offset = off;
	return 0;
}

/* Set the test clock to t; the caller is inside a transaction. */
int
clock_set(int64_t t)
{
	int64_t	 off = t - real_now();
	int	 rc;

	if ((rc = store_meta_set("test_clock_offset", off)) < 0)
		return rc;
	clock_offset = off;
	return 0;
}
