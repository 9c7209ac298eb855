/*
 * test_quota.c: quota.c's arithmetic, windows, precedence, holds, prices
 * and persistence, against a real store in a temporary directory.
 *
 * Each test gets a fresh directory, an open store, the test clock set to
 * T0 (2026-12-01T10:00:00Z, a Tuesday) and a loaded quota engine.  Every
 * call that takes a time is given one explicitly; the test clock (which
 * keeps ticking from where it is set) only decides which buckets a
 * counter loads and which holds are active at load.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tokqd.h"
#include "side.h"
#include "fixture.h"

#define MIN	60LL
#define USD	TOKQ_NUSD_PER_USD

#define T0		1796119200LL	/* 2026-12-01T10:00:00Z, a Tuesday */
#define T0_DAY		1796083200LL	/* 2026-12-01T00:00:00Z */
#define NEXT_DAY	1796169600LL	/* 2026-12-02T00:00:00Z */
#define NEXT_MONDAY	1796601600LL	/* 2026-12-07T00:00:00Z */
#define NEXT_MONTH	1798761600LL	/* 2027-01-01T00:00:00Z */


/* Helpers. */

static void
set_clock(int64_t t)
{
	assert_int_equal(store_begin(), 0);
	assert_int_equal(clock_set(t), 0);
	assert_int_equal(store_commit(), 0);
}

static int
setup(void **state)
{
	struct fixture	*f = fixture_open("test_quota");

	if (f == NULL)
		return -1;
	env.test_clock = true;
	env.retention_days = 30;
	env.warn[0] = 80;
	env.warn[1] = 95;
	env.warn[2] = 100;
	env.nwarn = 3;
	if (store_begin() < 0 || clock_set(T0) < 0 || store_commit() < 0)
		return -1;
	if (quota_init() != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	quota_shutdown();
	fixture_close(f);
	return 0;
}

static struct tokq_window
rolling(int64_t secs)
{
	return (struct tokq_window){ TOKQ_W_ROLLING, secs };
}

static const struct tokq_window W_1H = { TOKQ_W_ROLLING, HOUR };
static const struct tokq_window W_30D = { TOKQ_W_ROLLING, 30 * DAY };
static const struct tokq_window W_DAY = { TOKQ_W_DAY, 0 };
static const struct tokq_window W_WEEK = { TOKQ_W_WEEK, 0 };
static const struct tokq_window W_MONTH = { TOKQ_W_MONTH, 0 };

static struct rule
mkrule(enum selector sel, const char *subject, const char *model, enum metric m,
    struct tokq_window w, int64_t limit)
{
	return (struct rule){ sel, (char *)subject, (char *)model, m, w, limit };
}

static void
rule_set(enum selector sel, const char *subject, const char *model, enum metric m,
    struct tokq_window w, int64_t limit)
{
	struct rule	 r = mkrule(sel, subject, model, m, w, limit);
	bool		 replaced;

	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_rule_set(&r, &replaced), 0);
	assert_int_equal(store_commit(), 0);
}

/* A record's writes: its event, then its amounts in the counters. */
static void
add_event(const char *user, const char *guild, const char *model, int64_t t,
    int64_t tokens, int64_t cost)
{
	struct event	 e = { .at = t, .user = user, .guild = guild,
	    .model = model, .call = -1,
	    .u = { .requests = 1, .total = tokens, .cost = cost } };

	assert_int_equal(store_event_add(&e), 0);
	assert_int_equal(quota_add(user, guild, model, t, tokens, cost), 0);
}

static void
add(const char *user, const char *guild, const char *model, int64_t t,
    int64_t tokens, int64_t cost)
{
	assert_int_equal(store_begin(), 0);
	add_event(user, guild, model, t, tokens, cost);
	assert_int_equal(store_commit(), 0);
}

static void
plan_set(const char *user, const char *plan)
{
	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_plan_set(user, plan), 0);
	assert_int_equal(store_commit(), 0);
}

static void
hold(const char *user, const char *guild, const char *model, int64_t t, int64_t ttl,
    int64_t tokens, int64_t cost, struct hold *h)
{
	struct estimate	 est = { tokens, cost, 1 };

	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_hold(user, guild, model, t, ttl, &est, h), 0);
	assert_int_equal(store_commit(), 0);
}

static void
judge(const char *user, const char *guild, const char *model, int64_t t,
    const struct estimate *est, struct judgement *j)
{
	assert_int_equal(quota_judge(user, guild, model, t, est, j), 0);
}

/* The evaluation of the rule with this identity in j; fails the test if absent. */
static const struct limit_eval *
ev(const struct judgement *j, enum selector sel, const char *subject,
    const char *model, enum metric m, struct tokq_window w)
{
	struct rule	 r = mkrule(sel, subject, model, m, w, 0);
	size_t		 i;

	for (i = 0; i < j->n; i++)
		if (rule_same(j->e[i].r, &r))
			return &j->e[i];
	fail_msg("rule sel=%d subject=%s model=%s metric=%d not applied", sel,
	    subject ? subject : "-", model ? model : "-", m);
	return NULL;
}

static bool
applies(const struct judgement *j, enum selector sel, const char *subject,
    const char *model, enum metric m, struct tokq_window w)
{
	struct rule	 r = mkrule(sel, subject, model, m, w, 0);
	size_t		 i;

	for (i = 0; i < j->n; i++)
		if (rule_same(j->e[i].r, &r))
			return true;
	return false;
}

/* used of the only rule judged for (user, guild, model) at t, no estimate. */
static int64_t
used1(const char *user, const char *guild, const char *model, int64_t t)
{
	struct judgement j;

	judge(user, guild, model, t, NULL, &j);
	assert_int_equal(j.n, 1);
	return j.e[0].used;
}

/* Rolling windows. */

static void
test_rolling_1h_counts_until_window_end(void **state)
{
	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_1H, 1000);
	add("u", NULL, NULL, T0, 100, 0);
	assert_int_equal(used1("u", NULL, NULL, T0), 100);
	assert_int_equal(used1("u", NULL, NULL, T0 + HOUR / 2), 100);
	assert_int_equal(used1("u", NULL, NULL, T0 + HOUR - 1), 100);
}

static void
test_rolling_1h_gone_within_a_minute_late(void **state)
{
	/* Usage in the middle of a minute: counts at T+W-1, gone by T+W+60. */
	int64_t	 t = T0 + 30;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_1H, 1000);
	add("u", NULL, NULL, t, 100, 0);
	assert_int_equal(used1("u", NULL, NULL, t + HOUR - 1), 100);
	assert_int_equal(used1("u", NULL, NULL, t + HOUR + 60), 0);
	/* Minute precision: the bucket [T0, T0+60) leaves at T0+60+W. */
	assert_int_equal(used1("u", NULL, NULL, T0 + 60 + HOUR - 1), 100);
	assert_int_equal(used1("u", NULL, NULL, T0 + 60 + HOUR), 0);
}

static void
test_rolling_1h_never_early_at_minute_end(void **state)
{
	/* Usage in the last second of a minute still counts a full hour. */
	int64_t	 t = T0 + 59;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_1H, 1000);
	add("u", NULL, NULL, t, 100, 0);
	assert_int_equal(used1("u", NULL, NULL, t + HOUR - 1), 100);
	assert_int_equal(used1("u", NULL, NULL, t + HOUR + 60), 0);
}

static void
test_rolling_30d_minute_buckets(void **state)
{
	int64_t	 t = T0 + 30, w = 30 * DAY;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 1000);
	add("u", NULL, NULL, t, 100, 0);
	set_clock(t + w);
	assert_int_equal(used1("u", NULL, NULL, t + w - 1), 100);
	assert_int_equal(used1("u", NULL, NULL, t + w + HOUR), 0);
}

static void
test_rolling_30d_hour_precision_after_compaction(void **state)
{
	/* Folded into the hour bucket [10:00, 11:00): counts until 11:00+W. */
	int64_t	 t = T0 + 59 * MIN + 30, w = 30 * DAY;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 1000);
	add("u", NULL, NULL, t, 100, 0);
	set_clock(t + 2 * DAY);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_compact(t + DAY, 1000) > 0, 1);
	assert_int_equal(store_commit(), 0);
	counter_flush();
	set_clock(t + w);
	assert_int_equal(used1("u", NULL, NULL, t + w - 1), 100);
	assert_int_equal(used1("u", NULL, NULL, T0 + HOUR + w - 1), 100);
	assert_int_equal(used1("u", NULL, NULL, T0 + HOUR + w), 0);
	assert_int_equal(used1("u", NULL, NULL, t + w + HOUR), 0);
}

/*
 * Maintenance folds the store's minute buckets into hours and tells quota
 * to do the same in memory (counter_fold) instead of reloading every counter:
 * both must count alike, at hour precision, never early.
 */
static void
test_memory_fold_matches_store_fold(void **state)
{
	int64_t	 h8 = T0 - 2 * DAY - 2 * HOUR, w = 30 * DAY;
	int64_t	 at[] = { h8 + 6 * MIN + w, h8 + HOUR + w - 1, h8 + HOUR + w,
	    h8 + 2 * HOUR + w, T0 - 30 * MIN + w };
	int64_t	 want[] = { 150, 150, 120, 80, 80 };
	size_t	 i;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 1000000);
	add("u", NULL, NULL, h8 + 5 * MIN, 10, 0);
	add("u", NULL, NULL, h8 + 59 * MIN + 30, 20, 0);
	add("u", NULL, NULL, h8 + 61 * MIN, 40, 0);
	add("u", NULL, NULL, T0 - 30 * MIN, 80, 0);
	set_clock(T0 + HOUR);
	/*
	 * Before the fold a 30d window already counts each minute bucket to
	 * the end of its hour, as it will once folded (the fold policy,
	 * tokqd.h): the first 10 still counts at 08:06 + W, when its minute
	 * has ended, so what a check sees never depends on when
	 * maintenance ran.
	 */
	assert_int_equal(used1("u", NULL, NULL, at[0]), 150);

	counter_fold(T0 - DAY);				/* memory only */
	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		assert_int_equal(used1("u", NULL, NULL, at[i]), want[i]);

	assert_int_equal(store_begin(), 0);
	assert_true(store_bucket_compact(T0 - DAY, 1000) > 0);
	assert_int_equal(store_commit(), 0);
	counter_flush();				/* reload from the store */
	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		assert_int_equal(used1("u", NULL, NULL, at[i]), want[i]);
}

/*
 * Maintenance in rounds (maint_run, committed after each as the timer
 * does) until it says done: raw events past retention are gone, October
 * and November are archived for each of their 25 users (even ones in
 * October, odd ones in November: more than one archive step each), the minute buckets older than
 * a day are folded, and the limits count exactly what they did before.
 */
static void
test_maintenance_rounds_finish_everything(void **state)
{
	struct fixture	*f = *state;
	int64_t		 old = T0 - 40 * DAY, recent = T0 - 2 * DAY, before;
	int64_t		 oct = NEXT_MONTH - 92 * DAY, v;
	int		 i, rounds = 0, rc;
	char		 user[16];

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 1000000000);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_meta_set("rollover_month", oct), 0);
	for (i = 0; i < 1500; i++) {
		struct event	 ev = { .call = -1, .user = user, .model = "m" };

		snprintf(user, sizeof(user), "u%d", i % 50);
		ev.at = (i % 2 ? recent : old) + i * MIN;
		ev.u = (struct usage){ .requests = 1, .total = 10 + i % 7 };
		assert_int_equal(store_event_add(&ev), 0);
		assert_int_equal(quota_add(user, NULL, "m", ev.at, ev.u.total, 0), 0);
	}
	assert_int_equal(store_commit(), 0);
	before = used1("u1", NULL, NULL, T0);
	assert_true(before > 0);

	do {
		rc = maint_run();
		assert_int_equal(store_commit(), 0);
		assert_in_range(++rounds, 1, 10000);
	} while (rc == 1);
	assert_int_equal(rc, 0);

	assert_int_equal(side_int(f->path, "SELECT count(*) FROM events"), 750);
	assert_int_equal(side_int(f->path,
	    "SELECT count(DISTINCT user) FROM monthly WHERE month = 1790812800"), 25);
	assert_int_equal(side_int(f->path,
	    "SELECT count(DISTINCT user) FROM monthly WHERE month = 1793491200"), 25);
	assert_int_equal(side_int(f->path, "SELECT count(*) FROM buckets"
	    " WHERE span = 60 AND start < 1796029200"), 0);	/* T0 - 25 h */
	assert_int_equal(store_meta_get("rollover_month", &v), 1);
	assert_int_equal(v, T0_DAY);			/* December 1st */
	assert_int_equal(used1("u1", NULL, NULL, T0), before);
	counter_flush();				/* and as the store has it */
	assert_int_equal(used1("u1", NULL, NULL, T0), before);
}

static void
test_rolling_30d_hour_bucket_and_late_minute_never_early(void **state)
{
	/*
	 * An hour bucket [09:00, 10:00) holding usage of 09:45, and later a
	 * minute bucket [09:00, 09:01) of the same counter (an import at
	 * 09:00:10 after compaction).  The 09:45 usage must count until
	 * 09:45 + W at least, whatever bucket holds it.
	 */
	int64_t	 h9 = T0 - HOUR, a = h9 + 45 * MIN, b = h9 + 10, w = 30 * DAY;
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 100000);
	add("u", NULL, NULL, a, 100, 0);
	set_clock(T0 + 2 * DAY);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_bucket_compact(T0 + DAY, 1000) > 0, 1);
	assert_int_equal(store_commit(), 0);
	counter_flush();
	add("u", NULL, NULL, b, 7, 0);			/* --at 09:00:10 */
	counter_flush();				/* as maint does */
	set_clock(a + w - 1);
	judge("u", NULL, NULL, a + w - 1, NULL, &j);
	assert_int_equal(j.n, 1);
	/* 100 must count; the 7 may count up to an hour late. */
	assert_in_range(j.e[0].used, 100, 107);
}

static void
test_rolling_resets_at_is_oldest_bucket_end_plus_window(void **state)
{
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_1H, 1000);
	add("u", NULL, NULL, T0 + 10, 100, 0);
	add("u", NULL, NULL, T0 + 20 * MIN + 5, 100, 0);
	judge("u", NULL, NULL, T0 + 30 * MIN, NULL, &j);
	assert_int_equal(j.e[0].used, 200);
	assert_int_equal(j.e[0].resets_at, T0 + 60 + HOUR);
	/* Once the first has left, the second is the oldest counted. */
	judge("u", NULL, NULL, T0 + 61 * MIN, NULL, &j);
	assert_int_equal(j.e[0].used, 100);
	assert_int_equal(j.e[0].resets_at, T0 + 21 * MIN + HOUR);
}

static void
test_rolling_no_usage_no_resets_at(void **state)
{
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_1H, 1000);
	judge("u", NULL, NULL, T0, NULL, &j);
	assert_int_equal(j.n, 1);
	assert_int_equal(j.e[0].used, 0);
	assert_int_equal(j.e[0].resets_at, 0);
	assert_int_equal(j.e[0].remaining, 1000);
	assert_false(j.e[0].denies);
}

/* Calendar windows. */

static void
test_day_resets_at_midnight_utc(void **state)
{
	int64_t	 last = NEXT_DAY - 1;		/* 2026-12-01T23:59:59Z */
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_DAY, 1000);
	add("u", NULL, NULL, T0_DAY, 10, 0);		/* 00:00:00 counts */
	add("u", NULL, NULL, last, 100, 0);
	judge("u", NULL, NULL, last, NULL, &j);
	assert_int_equal(j.e[0].used, 110);
	assert_int_equal(j.e[0].resets_at, NEXT_DAY);
	judge("u", NULL, NULL, NEXT_DAY, NULL, &j);
	assert_int_equal(j.e[0].used, 0);
	assert_int_equal(j.e[0].resets_at, NEXT_DAY + DAY);
}

static void
test_day_excludes_yesterday(void **state)
{
	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_DAY, 1000);
	add("u", NULL, NULL, T0_DAY - 1, 100, 0);	/* 2026-11-30T23:59:59Z */
	add("u", NULL, NULL, T0, 5, 0);
	assert_int_equal(used1("u", NULL, NULL, T0), 5);
}

static void
test_week_resets_monday_midnight_utc(void **state)
{
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_WEEK, 1000);
	/* Monday 2026-11-30 00:00 starts the week of T0. */
	add("u", NULL, NULL, T0_DAY - DAY, 1, 0);
	add("u", NULL, NULL, T0_DAY - DAY - 1, 1000, 0);	/* Sunday: last week */
	add("u", NULL, NULL, NEXT_MONDAY - 1, 100, 0);	/* Sunday 23:59:59 */
	judge("u", NULL, NULL, NEXT_MONDAY - 1, NULL, &j);
	assert_int_equal(j.e[0].used, 101);
	assert_int_equal(j.e[0].resets_at, NEXT_MONDAY);
	judge("u", NULL, NULL, T0, NULL, &j);
	assert_int_equal(j.e[0].resets_at, NEXT_MONDAY);
	judge("u", NULL, NULL, NEXT_MONDAY, NULL, &j);
	assert_int_equal(j.e[0].used, 0);
	assert_int_equal(j.e[0].resets_at, NEXT_MONDAY + 7 * DAY);
}

static void
test_month_resets_first_of_month_dec_to_jan(void **state)
{
	int64_t	 dec1 = T0_DAY;
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_COST, W_MONTH, 10 * USD);
	add("u", NULL, NULL, dec1 - 1, 0, 3 * USD);	/* November */
	add("u", NULL, NULL, dec1, 0, 1 * USD);
	add("u", NULL, NULL, NEXT_MONTH - 1, 0, 2 * USD);
	set_clock(NEXT_MONTH - 1);
	judge("u", NULL, NULL, NEXT_MONTH - 1, NULL, &j);
	assert_int_equal(j.e[0].used, 3 * USD);
	assert_int_equal(j.e[0].resets_at, NEXT_MONTH);
	judge("u", NULL, NULL, NEXT_MONTH, NULL, &j);
	assert_int_equal(j.e[0].used, 0);
	/* 2027-02-01T00:00:00Z */
	assert_int_equal(j.e[0].resets_at, NEXT_MONTH + 31 * DAY);
}

/* Denial arithmetic. */

static void
test_estimate_exactly_at_limit_allowed(void **state)
{
	struct estimate	 est = { 300, 0, 1 };
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 1000);
	add("u", NULL, NULL, T0, 700, 0);
	judge("u", NULL, NULL, T0, &est, &j);
	assert_int_equal(j.denied, -1);
	assert_false(j.e[0].denies);
	assert_int_equal(j.e[0].used, 700);
	assert_int_equal(j.e[0].remaining, 300);
	est.tokens = 301;
	judge("u", NULL, NULL, T0, &est, &j);
	assert_int_equal(j.denied, 0);
	assert_true(j.e[0].denies);
}

static void
test_no_estimate_allowed_while_below_limit(void **state)
{
	struct estimate	 zero = { 0, 0, 0 };
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 1000);
	add("u", NULL, NULL, T0, 999, 0);
	judge("u", NULL, NULL, T0, NULL, &j);
	assert_int_equal(j.denied, -1);
	judge("u", NULL, NULL, T0, &zero, &j);
	assert_int_equal(j.denied, -1);
	add("u", NULL, NULL, T0, 1, 0);
	judge("u", NULL, NULL, T0, NULL, &j);
	assert_int_equal(j.denied, 0);
	assert_int_equal(j.e[0].used, 1000);
	assert_int_equal(j.e[0].remaining, 0);
	judge("u", NULL, NULL, T0, &zero, &j);
	assert_int_equal(j.denied, 0);
}

static void
test_over_limit_remaining_is_zero_and_percent_exact(void **state)
{
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 1000);
	add("u", NULL, NULL, T0, 1500, 0);
	judge("u", NULL, NULL, T0, NULL, &j);
	assert_int_equal(j.e[0].used, 1500);
	assert_int_equal(j.e[0].remaining, 0);
	assert_true(j.e[0].percent > 149.999 && j.e[0].percent < 150.001);
	assert_true(j.e[0].denies);
}

static void
test_requests_metric_estimate_one(void **state)
{
	struct estimate	 est = { 0, 0, 1 };
	struct judgement j;
	int		 i;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_REQUESTS, W_1H, 3);
	for (i = 0; i < 2; i++)
		add("u", NULL, NULL, T0 + i, 5000, 0);
	judge("u", NULL, NULL, T0 + 10, &est, &j);
	assert_int_equal(j.e[0].used, 2);
	assert_int_equal(j.denied, -1);		/* 2 + 1 <= 3 */
	add("u", NULL, NULL, T0 + 11, 0, 0);		/* a request of 0 tokens counts */
	judge("u", NULL, NULL, T0 + 12, &est, &j);
	assert_int_equal(j.e[0].used, 3);
	assert_int_equal(j.denied, 0);			/* 3 + 1 > 3 */
}

static void
test_cost_metric_in_nano_usd(void **state)
{
	/* $0.01 limit; 0.000150 + 0.009850 = 0.01 exactly. */
	struct estimate	 est = { 0, 9850000, 1 };
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_COST, W_DAY, USD / 100);
	add("u", NULL, NULL, T0, 1000, 150000);
	judge("u", NULL, NULL, T0, &est, &j);
	assert_int_equal(j.e[0].used, 150000);
	assert_int_equal(j.denied, -1);
	est.cost++;
	judge("u", NULL, NULL, T0, &est, &j);
	assert_int_equal(j.denied, 0);
}

static void
test_unlimited_never_denies_but_reports_used(void **state)
{
	struct estimate	 est = { INT64_MAX / 4, 0, 1 };
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, -1);
	add("u", NULL, NULL, T0, 123456789, 0);
	judge("u", NULL, NULL, T0, &est, &j);
	assert_int_equal(j.n, 1);
	assert_int_equal(j.denied, -1);
	assert_false(j.e[0].denies);
	assert_int_equal(j.e[0].used, 123456789);
	assert_int_equal(j.e[0].remaining, -1);
}

static void
test_limit_zero_denies_everything(void **state)
{
	struct estimate	 est = { 1, 0, 1 };
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_1H, 0);
	judge("u", NULL, NULL, T0, NULL, &j);
	assert_int_equal(j.denied, 0);
	assert_int_equal(j.retry_at, 0);		/* never frees */
	judge("u", NULL, NULL, T0, &est, &j);
	assert_int_equal(j.denied, 0);
	assert_int_equal(j.retry_at, 0);
	assert_int_equal(j.e[0].remaining, 0);
}

static void
test_limit_zero_calendar_has_no_retry(void **state)
{
	/* A limit of 0 never has room: the next midnight frees nothing. */
	struct estimate	 est = { 1, 0, 1 };
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_DAY, 0);
	judge("u", NULL, NULL, T0, &est, &j);
	assert_int_equal(j.denied, 0);
	assert_int_equal(j.retry_at, 0);
	judge("u", NULL, NULL, T0, NULL, &j);
	assert_int_equal(j.denied, 0);
	assert_int_equal(j.retry_at, 0);
}

static void
test_no_rules_allows_everything(void **state)
{
	struct estimate	 est = { 1000000000, USD, 1 };
	struct judgement j;

	add("u", "g", "m", T0, 5000, 0);
	judge("u", "g", "m", T0, &est, &j);
	assert_int_equal(j.n, 0);
	assert_int_equal(j.denied, -1);
	assert_int_equal(j.retry_at, 0);
}

/* Precedence. */

static void
test_user_beats_members_plan_default(void **state)
{
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 10);
	rule_set(SEL_PLAN, "pro", NULL, MET_TOKENS, W_30D, 20);
	rule_set(SEL_MEMBERS, "g", NULL, MET_TOKENS, W_30D, 30);
	rule_set(SEL_USER, "u", NULL, MET_TOKENS, W_30D, 40);
	plan_set("u", "pro");
	judge("u", "g", NULL, T0, NULL, &j);
	assert_int_equal(j.n, 1);
	assert_int_equal(j.e[0].r->sel, SEL_USER);
	assert_int_equal(j.e[0].r->limit, 40);
}

static void
test_members_beats_plan_and_default(void **state)
{
	struct judgement j;

	rule_set(SEL_USER, "someone-else", NULL, MET_TOKENS, W_30D, 1);
	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 10);
	rule_set(SEL_MEMBERS, "g", NULL, MET_TOKENS, W_30D, 30);
	rule_set(SEL_PLAN, "pro", NULL, MET_TOKENS, W_30D, 20);
	plan_set("u", "pro");
	judge("u", "g", NULL, T0, NULL, &j);
	assert_int_equal(j.n, 1);
	assert_int_equal(j.e[0].r->sel, SEL_MEMBERS);
	assert_int_equal(j.e[0].r->limit, 30);
}

static void
test_plan_beats_default_only_for_plan_users(void **state)
{
	struct judgement j;

	rule_set(SEL_PLAN, "pro", NULL, MET_TOKENS, W_30D, 20);
	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 10);
	plan_set("u", "pro");
	judge("u", NULL, NULL, T0, NULL, &j);
	assert_int_equal(j.n, 1);
	assert_int_equal(j.e[0].r->sel, SEL_PLAN);
	judge("v", NULL, NULL, T0, NULL, &j);		/* no plan */
	assert_int_equal(j.n, 1);
	assert_int_equal(j.e[0].r->sel, SEL_DEFAULT);
	plan_set("u", "free");				/* another plan */
	judge("u", NULL, NULL, T0, NULL, &j);
	assert_int_equal(j.n, 1);
	assert_int_equal(j.e[0].r->sel, SEL_DEFAULT);
	plan_set("u", NULL);				/* unassigned */
	assert_null(quota_plan("u"));
	judge("u", NULL, NULL, T0, NULL, &j);
	assert_int_equal(j.e[0].r->sel, SEL_DEFAULT);
}

static void
test_members_rule_needs_the_guild(void **state)
{
	struct judgement j;

	rule_set(SEL_MEMBERS, "g", NULL, MET_TOKENS, W_30D, 30);
	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 10);
	judge("u", NULL, NULL, T0, NULL, &j);
	assert_int_equal(j.n, 1);
	assert_int_equal(j.e[0].r->sel, SEL_DEFAULT);
	judge("u", "other", NULL, T0, NULL, &j);
	assert_int_equal(j.n, 1);
	assert_int_equal(j.e[0].r->sel, SEL_DEFAULT);
	judge("u", "g", NULL, T0, NULL, &j);
	assert_int_equal(j.n, 1);
	assert_int_equal(j.e[0].r->sel, SEL_MEMBERS);
}

static void
test_members_rule_counts_user_across_guilds(void **state)
{
	rule_set(SEL_MEMBERS, "g", NULL, MET_TOKENS, W_30D, 1000);
	add("u", "g", NULL, T0, 100, 0);
	add("u", "h", NULL, T0, 20, 0);
	add("u", NULL, NULL, T0, 3, 0);
	add("v", "g", NULL, T0, 4000, 0);		/* another member */
	assert_int_equal(used1("u", "g", NULL, T0), 123);
}

static void
test_named_model_beats_each_model_same_selector(void **state)
{
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, "*", MET_TOKENS, W_30D, 10);
	rule_set(SEL_DEFAULT, NULL, "gpt-4o", MET_TOKENS, W_30D, 50);
	judge("u", NULL, "gpt-4o", T0, NULL, &j);
	assert_int_equal(j.n, 1);
	assert_string_equal(j.e[0].r->model, "gpt-4o");
	assert_string_equal(j.e[0].model, "gpt-4o");
	judge("u", NULL, "claude", T0, NULL, &j);
	assert_int_equal(j.n, 1);
	assert_string_equal(j.e[0].r->model, "*");
	assert_string_equal(j.e[0].model, "claude");
}

static void
test_selector_outranks_model_specificity(void **state)
{
	/* --user --each-model beats --default --model M. */
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, "gpt-4o", MET_TOKENS, W_30D, 50);
	rule_set(SEL_USER, "u", "*", MET_TOKENS, W_30D, 10);
	judge("u", NULL, "gpt-4o", T0, NULL, &j);
	assert_int_equal(j.n, 1);
	assert_int_equal(j.e[0].r->sel, SEL_USER);
	assert_string_equal(j.e[0].r->model, "*");
}

static void
test_different_windows_and_metrics_all_apply(void **state)
{
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_COST, W_DAY, 2 * USD);
	rule_set(SEL_DEFAULT, NULL, NULL, MET_COST, W_30D, 10 * USD);
	rule_set(SEL_USER, "u", NULL, MET_REQUESTS, W_1H, 20);
	rule_set(SEL_USER, "u", NULL, MET_COST, W_1H, 1 * USD);
	add("u", NULL, NULL, T0_DAY - 1, 0, 5 * USD);	/* yesterday */
	add("u", NULL, NULL, T0, 100, USD / 2);
	judge("u", NULL, NULL, T0, NULL, &j);
	assert_int_equal(j.n, 4);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, NULL, MET_COST, W_DAY)->used, USD / 2);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, NULL, MET_COST, W_30D)->used,
	    USD / 2 + 5 * USD);
	assert_int_equal(ev(&j, SEL_USER, "u", NULL, MET_REQUESTS, W_1H)->used, 1);
	assert_int_equal(ev(&j, SEL_USER, "u", NULL, MET_COST, W_1H)->used, USD / 2);
	assert_int_equal(j.denied, -1);
}

static void
test_guild_and_global_rules_apply_in_addition(void **state)
{
	struct judgement j;

	rule_set(SEL_USER, "u", NULL, MET_TOKENS, W_30D, 1000);
	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 500);
	rule_set(SEL_GUILD, "g", NULL, MET_TOKENS, W_30D, 5000);
	rule_set(SEL_GLOBAL, NULL, NULL, MET_TOKENS, W_30D, 50000);
	add("u", "g", NULL, T0, 100, 0);
	add("v", NULL, NULL, T0, 10, 0);
	judge("u", "g", NULL, T0, NULL, &j);
	assert_int_equal(j.n, 3);
	assert_int_equal(ev(&j, SEL_USER, "u", NULL, MET_TOKENS, W_30D)->used, 100);
	assert_int_equal(ev(&j, SEL_GUILD, "g", NULL, MET_TOKENS, W_30D)->used, 100);
	assert_int_equal(ev(&j, SEL_GLOBAL, NULL, NULL, MET_TOKENS, W_30D)->used, 110);
	assert_false(applies(&j, SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D));
	/* Without the guild: the guild rule does not apply. */
	judge("u", NULL, NULL, T0, NULL, &j);
	assert_int_equal(j.n, 2);
	assert_false(applies(&j, SEL_GUILD, "g", NULL, MET_TOKENS, W_30D));
}

static void
test_global_rule_denies_when_everything_pooled_is_full(void **state)
{
	struct estimate	 est = { 10, 0, 1 };
	struct judgement j;

	rule_set(SEL_GLOBAL, NULL, NULL, MET_TOKENS, W_DAY, 1000);
	add("a", NULL, NULL, T0, 600, 0);
	add("b", "g", "m", T0, 395, 0);
	judge("c", NULL, NULL, T0, &est, &j);
	assert_int_equal(j.e[0].used, 995);
	assert_int_equal(j.denied, 0);
}

static void
test_pooled_vs_per_model_kinds(void **state)
{
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 1000);
	rule_set(SEL_DEFAULT, NULL, "*", MET_TOKENS, W_30D, 300);
	rule_set(SEL_USER, "u", "gpt-4o", MET_TOKENS, W_30D, 200);
	add("u", NULL, "gpt-4o", T0, 100, 0);
	add("u", NULL, "claude", T0, 40, 0);
	/* Without a model: pooled rules only. */
	judge("u", NULL, NULL, T0, NULL, &j);
	assert_int_equal(j.n, 1);
	assert_null(j.e[0].r->model);
	assert_null(j.e[0].model);
	assert_int_equal(j.e[0].used, 140);
	/* With a model: the pooled and the most specific per-model rule. */
	judge("u", NULL, "gpt-4o", T0, NULL, &j);
	assert_int_equal(j.n, 2);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D)->used, 140);
	assert_int_equal(ev(&j, SEL_USER, "u", "gpt-4o", MET_TOKENS, W_30D)->used, 100);
}

static void
test_each_model_counts_each_model_separately(void **state)
{
	struct estimate	 est = { 50, 0, 1 };
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, "*", MET_TOKENS, W_30D, 100);
	add("u", NULL, "a", T0, 60, 0);
	add("u", NULL, "b", T0, 10, 0);
	add("u", NULL, "a", T0 + 1, 5, 0);
	judge("u", NULL, "a", T0 + 2, &est, &j);
	assert_int_equal(j.n, 1);
	assert_int_equal(j.e[0].used, 65);
	assert_int_equal(j.denied, 0);
	judge("u", NULL, "b", T0 + 2, &est, &j);
	assert_int_equal(j.e[0].used, 10);
	assert_int_equal(j.denied, -1);
	judge("u", NULL, "c", T0 + 2, &est, &j);
	assert_int_equal(j.e[0].used, 0);
}

static void
test_rule_set_again_replaces_value(void **state)
{
	struct rule	 r = mkrule(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 10);
	bool		 replaced = true;

	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_rule_set(&r, &replaced), 0);
	assert_false(replaced);
	r.limit = 20;
	assert_int_equal(quota_rule_set(&r, &replaced), 0);
	assert_true(replaced);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(quota_nrules(), 1);
	assert_int_equal(quota_rule(0)->limit, 20);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_rule_rm(&r), 1);
	assert_int_equal(quota_rule_rm(&r), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(quota_nrules(), 0);
}

/* Guild pooling. */

static void
test_guild_rule_pools_its_members(void **state)
{
	struct judgement j;

	rule_set(SEL_GUILD, "g", NULL, MET_TOKENS, W_30D, 1000);
	add("u", "g", NULL, T0, 300, 0);
	add("v", "g", NULL, T0, 400, 0);
	add("u", "h", NULL, T0, 50, 0);		/* another guild */
	add("v", NULL, NULL, T0, 60, 0);		/* a DM */
	judge("w", "g", NULL, T0, NULL, &j);
	assert_int_equal(j.n, 1);
	assert_int_equal(j.e[0].used, 700);
}

static void
test_per_user_rule_counts_user_across_guilds(void **state)
{
	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 1000);
	add("u", "g", NULL, T0, 300, 0);
	add("u", "h", NULL, T0, 50, 0);
	add("u", NULL, NULL, T0, 7, 0);
	add("v", "g", NULL, T0, 400, 0);
	assert_int_equal(used1("u", "g", NULL, T0), 357);
	assert_int_equal(used1("u", NULL, NULL, T0), 357);
}

static void
test_guild_each_model_counts_guild_model(void **state)
{
	rule_set(SEL_GUILD, "g", "*", MET_TOKENS, W_30D, 1000);
	add("u", "g", "a", T0, 300, 0);
	add("v", "g", "a", T0, 20, 0);
	add("v", "g", "b", T0, 4000, 0);
	add("v", "h", "a", T0, 50000, 0);
	assert_int_equal(used1("x", "g", "a", T0), 320);
	assert_int_equal(used1("x", "g", "b", T0), 4000);
}

/* Holds. */

static void
test_hold_counts_for_user_guild_and_global(void **state)
{
	struct judgement j;
	struct hold	 h;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 1000);
	rule_set(SEL_GUILD, "g", NULL, MET_TOKENS, W_30D, 1000);
	rule_set(SEL_GLOBAL, NULL, NULL, MET_TOKENS, W_30D, 1000);
	rule_set(SEL_USER, "v", NULL, MET_REQUESTS, W_30D, 10);
	judge("u", "g", NULL, T0, NULL, &j);		/* counters in memory */
	hold("u", "g", "m", T0, 300, 100, 0, &h);
	assert_int_equal(strlen(h.id), HOLD_ID_LEN);
	assert_int_equal(h.expires, T0 + 300);
	judge("u", "g", NULL, T0, NULL, &j);
	assert_int_equal(j.n, 3);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D)->held, 100);
	assert_int_equal(ev(&j, SEL_GUILD, "g", NULL, MET_TOKENS, W_30D)->held, 100);
	assert_int_equal(ev(&j, SEL_GLOBAL, NULL, NULL, MET_TOKENS, W_30D)->held, 100);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D)->used, 0);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D)->remaining, 900);
	/* Another user: only the guild and global counters hold it. */
	judge("v", "g", NULL, T0, NULL, &j);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D)->held, 0);
	assert_int_equal(ev(&j, SEL_USER, "v", NULL, MET_REQUESTS, W_30D)->held, 0);
	assert_int_equal(ev(&j, SEL_GUILD, "g", NULL, MET_TOKENS, W_30D)->held, 100);
	judge("v", NULL, NULL, T0, NULL, &j);
	assert_int_equal(ev(&j, SEL_GLOBAL, NULL, NULL, MET_TOKENS, W_30D)->held, 100);
	assert_int_equal(quota_nholds(), 1);
}

static void
test_hold_counted_by_counter_loaded_later(void **state)
{
	/* The hold is placed before any counter is in memory. */
	struct judgement j;
	struct hold	 h;

	rule_set(SEL_USER, "u", NULL, MET_REQUESTS, W_1H, 10);
	rule_set(SEL_DEFAULT, NULL, "*", MET_COST, W_DAY, USD);
	hold("u", NULL, "m", T0, 300, 0, 1234, &h);
	judge("u", NULL, "m", T0, NULL, &j);
	assert_int_equal(ev(&j, SEL_USER, "u", NULL, MET_REQUESTS, W_1H)->held, 1);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, "*", MET_COST, W_DAY)->held, 1234);
	judge("u", NULL, "other", T0, NULL, &j);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, "*", MET_COST, W_DAY)->held, 0);
}

static void
test_ten_holds_fill_limit_eleventh_denied(void **state)
{
	struct estimate	 est = { 100, 0, 1 };
	struct judgement j;
	struct hold	 h;
	int		 i;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_1H, 1000);
	for (i = 0; i < 10; i++) {
		judge("u", NULL, NULL, T0 + i, &est, &j);
		assert_int_equal(j.denied, -1);
		hold("u", NULL, NULL, T0 + i, 300, est.tokens, 0, &h);
	}
	judge("u", NULL, NULL, T0 + 10, &est, &j);
	assert_int_equal(j.denied, 0);
	assert_int_equal(j.e[0].used, 0);
	assert_int_equal(j.e[0].held, 1000);
	assert_int_equal(j.e[0].remaining, 0);
	assert_int_equal(quota_nholds(), 10);
}

static void
test_hold_drop_frees(void **state)
{
	struct estimate	 est = { 600, 0, 1 };
	struct judgement j;
	struct hold	 h;
	bool		 active;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_1H, 1000);
	hold("u", NULL, NULL, T0, 300, 600, 0, &h);
	judge("u", NULL, NULL, T0, &est, &j);
	assert_int_equal(j.e[0].held, 600);
	assert_int_equal(j.denied, 0);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_hold_drop(h.id), 0);
	assert_int_equal(store_commit(), 0);
	assert_null(quota_hold_find(h.id, &active));
	judge("u", NULL, NULL, T0, &est, &j);
	assert_int_equal(j.e[0].held, 0);
	assert_int_equal(j.denied, -1);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_hold_drop(h.id), -TOKQ_E_INVALID);
	store_rollback();
}

static void
test_hold_expiry_frees(void **state)
{
	struct judgement j;
	struct hold	 h;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_1H, 1000);
	hold("u", NULL, NULL, T0, 300, 600, 0, &h);
	judge("u", NULL, NULL, T0 + 299, NULL, &j);
	assert_int_equal(j.e[0].held, 600);
	set_clock(T0 + 300);
	quota_expire(T0 + 300);
	judge("u", NULL, NULL, T0 + 300, NULL, &j);
	assert_int_equal(j.e[0].held, 0);
	assert_int_equal(quota_nholds(), 0);
}

static void
test_expired_hold_found_in_grace_then_swept(void **state)
{
	struct hold	 h;
	const struct hold *f;
	bool		 active = true;

	hold("u", "g", "m", T0, 60, 10, 20, &h);
	f = quota_hold_find(h.id, &active);
	assert_non_null(f);
	assert_true(active);
	set_clock(T0 + 61);
	quota_expire(T0 + 61);
	f = quota_hold_find(h.id, &active);
	assert_non_null(f);
	assert_false(active);
	assert_string_equal(f->user, "u");
	assert_string_equal(f->guild, "g");
	assert_string_equal(f->model, "m");
	assert_int_equal(f->tokens, 10);
	assert_int_equal(f->cost, 20);
	/* Within the grace: kept. */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_sweep_holds(T0 + 60 + HOLD_GRACE - 1), 0);
	assert_int_equal(store_commit(), 0);
	assert_non_null(quota_hold_find(h.id, &active));
	/* After it: gone. */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_sweep_holds(T0 + 60 + HOLD_GRACE), 1);
	assert_int_equal(store_commit(), 0);
	assert_null(quota_hold_find(h.id, &active));
}

static void
test_hold_expired_then_dropped_does_not_go_negative(void **state)
{
	/* Settling a hold after it expired must not subtract it twice. */
	struct judgement j;
	struct hold	 h;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_1H, 1000);
	hold("u", NULL, NULL, T0, 60, 500, 0, &h);
	judge("u", NULL, NULL, T0 + 61, NULL, &j);	/* expires it */
	assert_int_equal(j.e[0].held, 0);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_hold_drop(h.id), 0);
	assert_int_equal(store_commit(), 0);
	judge("u", NULL, NULL, T0 + 62, NULL, &j);
	assert_int_equal(j.e[0].held, 0);
	assert_int_equal(j.e[0].remaining, 1000);
}

static void
test_holds_survive_reload(void **state)
{
	struct judgement j;
	struct hold	 h;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_1H, 1000);
	hold("u", NULL, NULL, T0, 600, 250, 0, &h);
	quota_shutdown();
	assert_int_equal(quota_init(), 0);
	judge("u", NULL, NULL, T0 + 1, NULL, &j);
	assert_int_equal(j.e[0].held, 250);
	assert_int_equal(quota_nholds(), 1);
}

/* Reset. */

static void
test_reset_user_counts_from_zero_guild_keeps(void **state)
{
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 1000);
	rule_set(SEL_DEFAULT, NULL, "*", MET_TOKENS, W_30D, 1000);
	rule_set(SEL_GUILD, "g", NULL, MET_TOKENS, W_30D, 5000);
	add("u", "g", "m", T0, 900, 0);
	judge("u", "g", "m", T0, NULL, &j);		/* counters in memory */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_reset("u", NULL), 0);
	assert_int_equal(store_commit(), 0);
	judge("u", "g", "m", T0 + 1, NULL, &j);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D)->used, 0);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, "*", MET_TOKENS, W_30D)->used, 0);
	assert_int_equal(ev(&j, SEL_GUILD, "g", NULL, MET_TOKENS, W_30D)->used, 900);
	add("u", "g", "m", T0 + 2, 5, 0);
	judge("u", "g", "m", T0 + 3, NULL, &j);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D)->used, 5);
	assert_int_equal(ev(&j, SEL_GUILD, "g", NULL, MET_TOKENS, W_30D)->used, 905);
	/* And it stays reset after a restart. */
	quota_shutdown();
	assert_int_equal(quota_init(), 0);
	judge("u", "g", "m", T0 + 3, NULL, &j);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D)->used, 5);
	assert_int_equal(ev(&j, SEL_GUILD, "g", NULL, MET_TOKENS, W_30D)->used, 905);
}

static void
test_reset_user_leaves_other_users(void **state)
{
	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 1000);
	add("u", NULL, NULL, T0, 100, 0);
	add("u2", NULL, NULL, T0, 200, 0);
	assert_int_equal(used1("u2", NULL, NULL, T0), 200);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_reset("u", NULL), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(used1("u", NULL, NULL, T0), 0);
	assert_int_equal(used1("u2", NULL, NULL, T0), 200);
}

static void
test_reset_model_clears_only_that_model(void **state)
{
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 10000);
	rule_set(SEL_DEFAULT, NULL, "*", MET_TOKENS, W_30D, 10000);
	add("u", NULL, "a", T0, 100, 0);
	add("u", NULL, "ab", T0, 20, 0);
	add("u", NULL, "b", T0, 3, 0);
	judge("u", NULL, "a", T0, NULL, &j);
	judge("u", NULL, "ab", T0, NULL, &j);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_reset("u", "a"), 0);
	assert_int_equal(store_commit(), 0);
	judge("u", NULL, "a", T0 + 1, NULL, &j);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, "*", MET_TOKENS, W_30D)->used, 0);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D)->used, 123);
	judge("u", NULL, "ab", T0 + 1, NULL, &j);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, "*", MET_TOKENS, W_30D)->used, 20);
	judge("u", NULL, "b", T0 + 1, NULL, &j);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, "*", MET_TOKENS, W_30D)->used, 3);
}

/* Prices. */

static void
price_set(const char *model, int64_t in, int64_t out, int64_t cached, int64_t cw)
{
	struct price	 p = { (char *)model, in, out, cached, cw };

	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_price_set(&p), 0);
	assert_int_equal(store_commit(), 0);
}

static void
test_cost_gpt4o_mini_not_zero(void **state)
{
	/* $0.15 / $0.60 per 1M tokens. */
	struct usage	 u = { .requests = 1, .prompt = 1000 };

	price_set("gpt-4o-mini", 150000000, 600000000, -1, -1);
	assert_int_equal(quota_cost("gpt-4o-mini", &u), 150000);
	u.prompt = 1;
	assert_int_equal(quota_cost("gpt-4o-mini", &u), 150);
	u = (struct usage){ .requests = 1, .prompt = 1000, .completion = 500 };
	assert_int_equal(quota_cost("gpt-4o-mini", &u), 150000 + 300000);
}

static void
test_cost_cached_and_cache_write_prices(void **state)
{
	/* in $3, out $15, cached $0.30, cache write $3.75 per 1M. */
	struct usage	 u = { .requests = 1, .prompt = 10000, .completion = 2000,
	    .cached = 6000, .cache_write = 1000 };
	int64_t		 want = 3000LL * 3000 + 2000LL * 15000 + 6000LL * 300 +
	    1000LL * 3750;

	price_set("claude", 3 * USD, 15 * USD, 300000000, 3750000000LL);
	assert_int_equal(quota_cost("claude", &u), want);
	/* Unset cached/cache-write prices: priced as input. */
	price_set("claude", 3 * USD, 15 * USD, -1, -1);
	assert_int_equal(quota_cost("claude", &u), 10000LL * 3000 + 2000LL * 15000);
}

static void
test_cost_star_fallback_and_unpriced(void **state)
{
	struct usage	 u = { .requests = 1, .prompt = 1000000, .completion = 1000000 };

	price_set("gpt-4o", 2500000000LL, 10 * USD, -1, -1);
	assert_int_equal(quota_cost("unknown", &u), 0);
	assert_int_equal(quota_cost(NULL, &u), 0);
	price_set("*", 1 * USD, 2 * USD, -1, -1);
	assert_int_equal(quota_cost("unknown", &u), 3 * USD);
	assert_int_equal(quota_cost("gpt-4o", &u), 12500000000LL);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_price_rm("*"), 1);
	assert_int_equal(quota_price_rm("*"), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(quota_cost("unknown", &u), 0);
}

static void
test_cost_estimate_uses_dearer_price(void **state)
{
	price_set("gpt-4o-mini", 150000000, 600000000, -1, -1);
	assert_int_equal(quota_cost_estimate("gpt-4o-mini", 1000), 600000);
	assert_int_equal(quota_cost_estimate("nope", 1000), 0);
}

static void
test_prices_survive_reload(void **state)
{
	struct usage	 u = { .requests = 1, .prompt = 1000 };

	price_set("gpt-4o-mini", 150000000, 600000000, 75000000, -1);
	quota_shutdown();
	assert_int_equal(quota_init(), 0);
	assert_int_equal(quota_nprices(), 1);
	assert_int_equal(quota_price(0)->cached, 75000000);
	assert_int_equal(quota_cost("gpt-4o-mini", &u), 150000);
}

/* retry_at. */

static void
test_retry_at_rolling_when_enough_usage_leaves(void **state)
{
	struct estimate	 est = { 50, 0, 1 };
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_1H, 100);
	add("u", NULL, NULL, T0 + 5, 30, 0);		/* bucket T0 */
	add("u", NULL, NULL, T0 + 2 * MIN, 30, 0);	/* bucket T0+2m */
	add("u", NULL, NULL, T0 + 10 * MIN, 40, 0);	/* bucket T0+10m */
	judge("u", NULL, NULL, T0 + 20 * MIN, &est, &j);
	assert_int_equal(j.e[0].used, 100);
	assert_int_equal(j.denied, 0);
	/* 50 must leave: 30 + 30, the second ends at T0+3m. */
	assert_int_equal(j.e[0].retry_at, T0 + 3 * MIN + HOUR);
	assert_int_equal(j.retry_at, T0 + 3 * MIN + HOUR);
	/* And then there is room, a second before there is not. */
	judge("u", NULL, NULL, j.retry_at - 1, &est, &j);
	assert_int_equal(j.denied, 0);
	judge("u", NULL, NULL, T0 + 3 * MIN + HOUR, &est, &j);
	assert_int_equal(j.denied, -1);
	assert_int_equal(j.e[0].used, 40);
}

static void
test_retry_at_rolling_no_estimate(void **state)
{
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_1H, 100);
	add("u", NULL, NULL, T0, 10, 0);
	add("u", NULL, NULL, T0 + 5 * MIN, 90, 0);
	judge("u", NULL, NULL, T0 + 10 * MIN, NULL, &j);
	assert_int_equal(j.denied, 0);
	/* Below the limit once the first 10 leave. */
	assert_int_equal(j.retry_at, T0 + MIN + HOUR);
}

static void
test_retry_at_zero_when_estimate_exceeds_limit(void **state)
{
	struct estimate	 est = { 101, 0, 1 };
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_1H, 100);
	add("u", NULL, NULL, T0, 10, 0);
	judge("u", NULL, NULL, T0, &est, &j);
	assert_int_equal(j.denied, 0);
	assert_int_equal(j.retry_at, 0);
	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_DAY, 100);
	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_1H, 1000);
	judge("u", NULL, NULL, T0, &est, &j);
	assert_int_equal(j.denied, 1);
	assert_int_equal(j.retry_at, 0);
}

static void
test_retry_at_calendar_next_boundary(void **state)
{
	struct estimate	 est = { 1, 0, 1 };
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_DAY, 100);
	add("u", NULL, NULL, T0, 100, 0);
	judge("u", NULL, NULL, T0, &est, &j);
	assert_int_equal(j.denied, 0);
	assert_int_equal(j.retry_at, NEXT_DAY);
	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_DAY, -1);
	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_WEEK, 100);
	judge("u", NULL, NULL, T0, &est, &j);
	assert_int_equal(j.retry_at, NEXT_MONDAY);
}

static void
test_binding_rule_is_the_one_freeing_last(void **state)
{
	struct estimate	 est = { 1, 0, 1 };
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_1H, 100);
	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_MONTH, 100);
	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_DAY, 100);
	add("u", NULL, NULL, T0, 100, 0);
	judge("u", NULL, NULL, T0 + 1, &est, &j);
	assert_int_equal(j.n, 3);
	assert_int_not_equal(j.denied, -1);
	assert_int_equal(j.e[j.denied].r->win.kind, TOKQ_W_MONTH);
	assert_int_equal(j.retry_at, NEXT_MONTH);
	assert_true(ev(&j, SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_1H)->denies);
	assert_true(ev(&j, SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_DAY)->denies);
}

static void
test_bypass_evaluates_but_never_denies(void **state)
{
	struct estimate	 est = { 1, 0, 1 };
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_1H, 10);
	add("u", "g", NULL, T0, 50, 0);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_bypass_set(true, "g", true), 1);
	assert_int_equal(store_commit(), 0);
	judge("u", "g", NULL, T0, &est, &j);
	assert_true(j.bypass);
	assert_int_equal(j.denied, -1);
	assert_true(j.e[0].denies);
	assert_int_equal(j.e[0].used, 50);
	judge("u", NULL, NULL, T0, &est, &j);		/* not in that guild */
	assert_false(j.bypass);
	assert_int_equal(j.denied, 0);
}

/* Persistence. */

static void
test_counters_reload_from_buckets(void **state)
{
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 100000);
	rule_set(SEL_DEFAULT, NULL, "*", MET_COST, W_DAY, USD);
	rule_set(SEL_GUILD, "g", NULL, MET_REQUESTS, W_1H, 100);
	rule_set(SEL_GLOBAL, NULL, NULL, MET_TOKENS, W_MONTH, 100000);
	/* quota_add only: no raw events exist to scan. */
	add("u", "g", "m", T0 - 5 * DAY, 1000, 10);
	add("u", "g", "m", T0, 200, 20);
	add("v", "g", "n", T0 + 1, 30, 40);
	judge("u", "g", "m", T0 + 2, NULL, &j);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D)->used, 1200);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, "*", MET_COST, W_DAY)->used, 20);
	assert_int_equal(ev(&j, SEL_GUILD, "g", NULL, MET_REQUESTS, W_1H)->used, 2);
	assert_int_equal(ev(&j, SEL_GLOBAL, NULL, NULL, MET_TOKENS, W_MONTH)->used, 230);
	quota_shutdown();
	assert_int_equal(quota_init(), 0);
	assert_int_equal(quota_nrules(), 4);
	judge("u", "g", "m", T0 + 2, NULL, &j);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D)->used, 1200);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, "*", MET_COST, W_DAY)->used, 20);
	assert_int_equal(ev(&j, SEL_GUILD, "g", NULL, MET_REQUESTS, W_1H)->used, 2);
	assert_int_equal(ev(&j, SEL_GLOBAL, NULL, NULL, MET_TOKENS, W_MONTH)->used, 230);
}

static void
test_plans_and_bypass_reload(void **state)
{
	rule_set(SEL_PLAN, "pro", NULL, MET_TOKENS, W_30D, 20);
	plan_set("u", "pro");
	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_bypass_set(false, "v", true), 1);
	assert_int_equal(store_commit(), 0);
	quota_shutdown();
	assert_int_equal(quota_init(), 0);
	assert_string_equal(quota_plan("u"), "pro");
	assert_true(quota_bypassed("v", NULL));
	assert_false(quota_bypassed("u", NULL));
}

static void
test_invalidate_forgets_rolled_back_additions(void **state)
{
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 1000);
	rule_set(SEL_GUILD, "g", NULL, MET_TOKENS, W_30D, 1000);
	add("u", "g", NULL, T0, 100, 0);
	assert_int_equal(store_begin(), 0);
	add_event("u", "g", NULL, T0 + 1, 500, 0);
	judge("u", "g", NULL, T0 + 2, NULL, &j);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D)->used, 600);
	/*
	 * The rollback drops the pending totals, the committed 100 with the
	 * rest: the daemon forgets its counters and replays what the database
	 * kept, as batch_commit does.
	 */
	store_rollback();
	quota_invalidate();
	assert_int_equal(quota_replay(), 0);
	judge("u", "g", NULL, T0 + 2, NULL, &j);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D)->used, 100);
	assert_int_equal(ev(&j, SEL_GUILD, "g", NULL, MET_TOKENS, W_30D)->used, 100);
}

/*
 * Past env.counter_cache the least recently used counters leave memory and
 * load again when used: the counts stay right, the memory bounded.
 */
static void
test_counter_cache_bounded(void **state)
{
	struct judgement j;
	char		 user[16];
	int64_t		 sum = 0;
	size_t		 most = 0;
	int		 i;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 1000000);
	env.counter_cache = 16 * 1024;
	for (i = 0; i < 300; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		add(user, "g", NULL, T0 + i, 10 + i, 0);
		sum += 10 + i;
		if (counter_bytes() > most)
			most = counter_bytes();
	}
	/* 300 users' counters would take about 3 times the bound. */
	assert_true(most <= env.counter_cache + 1024);
	for (i = 299; i >= 0; i--) {
		snprintf(user, sizeof(user), "u%d", i);
		assert_int_equal(used1(user, "g", NULL, T0 + 400), 10 + i);
	}
	rule_set(SEL_GUILD, "g", NULL, MET_TOKENS, W_30D, 10000000);
	judge("u0", "g", NULL, T0 + 400, NULL, &j);
	assert_int_equal(ev(&j, SEL_GUILD, "g", NULL, MET_TOKENS, W_30D)->used, sum);
	env.counter_cache = 0;
}

/*
 * A daemon killed before it wrote its totals: the next one adds the events
 * after 'totals_through' again, to the counters and to the daily totals,
 * once, and writes them.
 */
static void
test_replay_after_crash(void **state)
{
	struct fixture	*f = *state;
	struct judgement j;
	struct usage	 u;
	int64_t		 through = -1;
	pid_t		 pid;
	int		 status;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 1000);
	add("u", "g", NULL, T0, 100, 0);
	assert_int_equal(store_settle(), 1);
	assert_int_equal(store_commit(), 0);
	quota_shutdown();
	store_close();
	assert_true((pid = fork()) != -1);
	if (pid == 0) {
		/* Two records committed, their totals pending: then death. */
		if (store_open(f->path) != 0 || quota_init() != 0 ||
		    quota_replay() != 0)
			_exit(1);
		add("u", "g", NULL, T0 + 60, 20, 0);
		add("u", NULL, "m", T0 + 120, 3, 0);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	assert_int_equal(store_open(f->path), 0);
	assert_int_equal(store_meta_get("totals_through", &through), 1);
	assert_int_equal(through, 1);
	assert_int_equal(quota_init(), 0);
	assert_int_equal(quota_replay(), 0);
	judge("u", "g", NULL, T0 + 180, NULL, &j);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D)->used, 123);
	assert_int_equal(store_settle(), 1);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_user_daily_totals("u", T0 - DAY, T0 + DAY, &u), 0);
	assert_int_equal(u.total, 123);
	assert_int_equal(u.requests, 3);
	assert_int_equal(store_meta_get("totals_through", &through), 1);
	assert_int_equal(through, 3);

	/* Written now: a second start finds nothing to replay. */
	quota_shutdown();
	store_close();
	assert_int_equal(store_open(f->path), 0);
	assert_int_equal(quota_init(), 0);
	assert_int_equal(quota_replay(), 0);
	assert_int_equal(store_settle(), 0);
	judge("u", "g", NULL, T0 + 180, NULL, &j);
	assert_int_equal(ev(&j, SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D)->used, 123);
}

/* Ten users' records in one batch, u0..u9 with 10..19 tokens, model m. */
static void
add_ten(int64_t t)
{
	char	 user[16];
	int	 i;

	assert_int_equal(store_begin(), 0);
	for (i = 0; i < 10; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		add_event(user, "g", "m", t + i, 10 + i, 0);
	}
}

/* Each of u0..u9 is judged to have used n times its own tokens. */
static void
assert_ten_used(int64_t t, int64_t n)
{
	struct judgement j;
	char		 user[16];
	int		 i;

	for (i = 0; i < 10; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		judge(user, "g", "m", t, NULL, &j);
		assert_int_equal(ev(&j, SEL_DEFAULT, NULL, NULL, MET_TOKENS,
		    W_30D)->used, n * (10 + i));
	}
	judge("u0", "g", "m", t, NULL, &j);
	assert_int_equal(ev(&j, SEL_GLOBAL, NULL, NULL, MET_TOKENS, W_30D)->used,
	    n * 145);
}

/*
 * The pending totals go out a part per commit.  Counters loaded between
 * parts count each record once; a crash between parts leaves some rows
 * written, and the replay at the next start adds each event once all the
 * same.
 */
static void
test_replay_between_parts(void **state)
{
	struct fixture	*f = *state;
	struct usage	 u;
	int64_t		 through = -1;
	pid_t		 pid;
	int		 status;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 100000);
	rule_set(SEL_GLOBAL, NULL, NULL, MET_TOKENS, W_30D, 100000);
	quota_shutdown();
	store_close();
	assert_true((pid = fork()) != -1);
	if (pid == 0) {
		/*
		 * 10 daily rows, 10 users' hours and 24 counters (each user's
		 * pooled and of m, the guild's and the whole's): parts of 20,
		 * 20 and 4.  Two parts committed, then death.
		 */
		store_tune_parts(0, 20);
		if (store_open(f->path) != 0 || quota_init() != 0 ||
		    quota_replay() != 0)
			_exit(1);
		add_ten(T0);
		if (store_commit() != 0 || store_begin() != 0 ||
		    store_commit() != 0)
			_exit(2);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* The daily rows, hours and users' counters are in; the whole's are not. */
	assert_int_equal(side_int(f->path, "SELECT val FROM meta"
	    " WHERE name = 'flushing_through'"), 10);
	assert_int_equal(side_int(f->path, "SELECT val FROM meta"
	    " WHERE name = 'totals_through'"), 0);
	assert_int_equal(side_int(f->path, "SELECT SUM(total) FROM daily"
	    " WHERE thru = 10"), 145);
	assert_int_equal(side_int(f->path, "SELECT SUM(total) FROM hourly"
	    " WHERE thru = 10"), 145);
	assert_int_equal(side_int(f->path, "SELECT SUM(tokens) FROM buckets"
	    " WHERE scope = 0 AND model = '' AND thru = 10"), 145);
	assert_int_equal(side_int(f->path, "SELECT COUNT(*) FROM buckets"
	    " WHERE scope = 2"), 0);

	assert_int_equal(store_open(f->path), 0);
	assert_int_equal(quota_init(), 0);
	assert_int_equal(quota_replay(), 0);
	assert_ten_used(T0 + 60, 1);
	assert_int_equal(store_settle(), 1);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_user_daily_totals("u9", T0 - DAY, T0 + DAY, &u), 0);
	assert_int_equal(u.total, 19);
	assert_int_equal(side_int(f->path, "SELECT SUM(total) FROM daily"), 145);
	assert_int_equal(side_int(f->path, "SELECT SUM(total) FROM hourly"), 145);
	assert_int_equal(side_int(f->path, "SELECT SUM(tokens) FROM buckets"
	    " WHERE scope = 2 AND model = ''"), 145);
	assert_int_equal(store_meta_get("totals_through", &through), 1);
	assert_int_equal(through, 10);

	/* In one process: counters loaded between two parts. */
	store_tune_parts(0, 20);
	add_ten(T0 + 120);
	assert_int_equal(store_commit(), 0);
	counter_flush();
	assert_ten_used(T0 + 180, 2);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_meta_get("totals_through", &through), 1);
	assert_int_equal(through, 10);		/* one part left */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_meta_get("totals_through", &through), 1);
	assert_int_equal(through, 20);
	assert_int_equal(side_int(f->path, "SELECT SUM(total) FROM daily"), 290);
	assert_int_equal(side_int(f->path, "SELECT SUM(total) FROM hourly"), 290);
	counter_flush();
	assert_ten_used(T0 + 180, 2);
	store_tune_parts(1000000, 256);
}

static void
test_invalidate_forgets_rolled_back_rule_and_hold(void **state)
{
	struct rule	 r = mkrule(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_1H, 5);
	struct estimate	 est = { 10, 0, 1 };
	struct hold	 h;
	bool		 replaced, active;

	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_rule_set(&r, &replaced), 0);
	assert_int_equal(quota_hold("u", NULL, NULL, T0, 300, &est, &h), 0);
	store_rollback();
	quota_invalidate();
	assert_int_equal(quota_nrules(), 0);
	assert_null(quota_hold_find(h.id, &active));
}

static void
test_longer_rule_added_later_sees_older_usage(void **state)
{
	/*
	 * A 60-day rule added while a counter is cached counts the same
	 * as it does after a restart.
	 */
	struct tokq_window w60 = rolling(60 * DAY);
	struct rule	 r30 = mkrule(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 0);

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 100000);
	add("u", NULL, NULL, T0 - 40 * DAY, 1000, 0);	/* an old import */
	add("u", NULL, NULL, T0, 5, 0);
	assert_int_equal(used1("u", NULL, NULL, T0), 5);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_rule_rm(&r30), 1);
	assert_int_equal(store_commit(), 0);
	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, w60, 100000);
	assert_int_equal(used1("u", NULL, NULL, T0), 1005);
	quota_shutdown();
	assert_int_equal(quota_init(), 0);
	assert_int_equal(used1("u", NULL, NULL, T0), 1005);
}

/* Thresholds. */

static void
test_threshold_defaults(void **state)
{
	assert_int_equal(quota_threshold(0.0), 0);
	assert_int_equal(quota_threshold(79.99), 0);
	assert_int_equal(quota_threshold(80.0), 80);
	assert_int_equal(quota_threshold(94.99), 80);
	assert_int_equal(quota_threshold(95.0), 95);
	assert_int_equal(quota_threshold(99.99), 95);
	assert_int_equal(quota_threshold(100.0), 100);
	assert_int_equal(quota_threshold(250.0), 100);
}

static void
test_threshold_from_judged_percent(void **state)
{
	struct judgement j;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, W_30D, 1000);
	add("u", NULL, NULL, T0, 799, 0);
	judge("u", NULL, NULL, T0, NULL, &j);
	assert_int_equal(quota_threshold(j.e[0].percent), 0);
	add("u", NULL, NULL, T0, 1, 0);
	judge("u", NULL, NULL, T0, NULL, &j);
	assert_int_equal(quota_threshold(j.e[0].percent), 80);
	add("u", NULL, NULL, T0, 150, 0);
	judge("u", NULL, NULL, T0, NULL, &j);
	assert_int_equal(quota_threshold(j.e[0].percent), 95);
	add("u", NULL, NULL, T0, 50, 0);
	judge("u", NULL, NULL, T0, NULL, &j);
	assert_int_equal(quota_threshold(j.e[0].percent), 100);
}

/* Checked arithmetic: limits no input can fool. */

static void
test_sat_add_sub_extremes(void **state)
{
	assert_true(sat_add(INT64_MAX, 1) == INT64_MAX);
	assert_true(sat_add(INT64_MAX, INT64_MAX) == INT64_MAX);
	assert_true(sat_add(INT64_MIN, -1) == INT64_MIN);
	assert_true(sat_add(INT64_MAX, INT64_MIN) == -1);
	assert_true(sat_add(40, 2) == 42);
	assert_true(sat_sub(INT64_MIN, 1) == INT64_MIN);
	assert_true(sat_sub(INT64_MAX, -1) == INT64_MAX);
	assert_true(sat_sub(0, INT64_MAX) == -INT64_MAX);
	assert_true(sat_sub(44, 2) == 42);
}

/*
 * ledger_add() is the one way usage enters, in its order: priced (unless
 * priced by the caller), bounded (an event out of bounds leaves no row and
 * no count), kept, counted; an event older than any window looks is kept
 * but counts nowhere.
 */
static void
test_ledger_add_prices_bounds_keeps_counts(void **state)
{
	struct price	 p = { .model = "m", .input = 2 * USD, .output = 4 * USD,
	    .cached = -1, .cache_write = -1 };
	struct event	 ev = { .at = T0, .user = "u", .model = "m", .call = -1,
	    .u = { .requests = 1, .prompt = 1000000, .completion = 500000,
	    .total = 1500000 } };
	struct event	 bad = ev, old = ev;
	struct judgement j;
	const char	*why;
	int64_t		 events, users;

	rule_set(SEL_DEFAULT, NULL, NULL, MET_COST, W_MONTH, 100 * USD);
	rule_set(SEL_DEFAULT, NULL, NULL, MET_TOKENS, rolling(400 * DAY), -1);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_price_set(&p), 0);

	/* Out of bounds: refused before anything is written or counted. */
	bad.u.prompt = TOKQ_TOKENS_MAX + 1;
	assert_int_equal(ledger_add(&bad, false, &why), -TOKQ_E_INVALID);
	assert_non_null(why);
	assert_int_equal(store_counts(&events, &users), 0);
	assert_int_equal(events, 0);

	/* Unpriced: priced at the table (1M in at $2, 0.5M out at $4), kept, counted. */
	assert_int_equal(ledger_add(&ev, false, &why), 0);
	assert_null(why);
	assert_int_equal(ev.u.cost, 4 * USD);
	assert_true(ev.id > 0);

	/* A cost given by the caller stands. */
	old.at = T0 - 2 * 400 * DAY;
	old.u.cost = 1 * USD;
	assert_int_equal(ledger_add(&old, true, &why), 0);
	assert_int_equal(old.u.cost, 1 * USD);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_counts(&events, &users), 0);
	assert_int_equal(events, 2);			/* both kept */

	/* Only the recent one counts: the old one is past every window. */
	judge("u", NULL, "m", T0, NULL, &j);
	assert_int_equal(j.n, 2);
	assert_int_equal(j.e[0].used, 4 * USD);
	assert_int_equal(j.e[1].used, 1500000);
	counter_flush();
	judge("u", NULL, "m", T0, NULL, &j);
	assert_int_equal(j.e[1].used, 1500000);	/* and so after a reload */
}

static void
test_usage_check_bounds(void **state)
{
	struct usage	 u = { 1, TOKQ_TOKENS_MAX, 0, TOKQ_TOKENS_MAX, TOKQ_TOKENS_MAX,
	    0, 0, TOKQ_COST_MAX };

	assert_null(ledger_usage_check(&u));		/* the largest event */
	u.prompt = TOKQ_TOKENS_MAX + 1;
	u.total = u.prompt;
	assert_non_null(ledger_usage_check(&u));
	u = (struct usage){ 1, INT64_MAX, 1, INT64_MIN, 0, 0, 0, 0 };	/* wrapped */
	assert_non_null(ledger_usage_check(&u));
	u = (struct usage){ 1, 10, 5, 14, 0, 0, 0, 0 };	/* total below p + c */
	assert_string_equal(ledger_usage_check(&u),
	    "total must be at least prompt + completion");
	u.total = 15;
	assert_null(ledger_usage_check(&u));
	u.total = 16;					/* above is fine */
	assert_null(ledger_usage_check(&u));
	u.cost = TOKQ_COST_MAX + 1;
	assert_non_null(ledger_usage_check(&u));
	u.cost = -1;
	assert_non_null(ledger_usage_check(&u));
	u = (struct usage){ 1, 10, 5, 15, 8, 3, 0, 0 };	/* cached + cw > prompt */
	assert_non_null(ledger_usage_check(&u));
	u = (struct usage){ 1, 10, 5, 15, 0, 0, 6, 0 };	/* reasoning > completion */
	assert_non_null(ledger_usage_check(&u));
	u = (struct usage){ 1, TOKQ_TOKENS_MAX, TOKQ_TOKENS_MAX, TOKQ_TOKENS_MAX, 0, 0, 0, 0 };
	assert_non_null(ledger_usage_check(&u));		/* total can't hold p + c */
}

static void
test_cost_never_overflows(void **state)
{
	struct usage	 u = { 1, TOKQ_TOKENS_MAX, TOKQ_TOKENS_MAX, 2 * TOKQ_TOKENS_MAX,
	    0, 0, 0, 0 };

	/* $1M per 1M tokens, 10^12 tokens: $10^12, more than int64 nano-USD hold */
	price_set("dear", TOKQ_COST_MAX, TOKQ_COST_MAX, -1, -1);
	assert_true(quota_cost("dear", &u) == INT64_MAX);
	assert_true(quota_cost_estimate("dear", TOKQ_TOKENS_MAX) == INT64_MAX);
	/* a price a database may hold from before the bounds */
	price_set("dearer", INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX);
	assert_true(quota_cost("dearer", &u) == INT64_MAX);
	assert_true(quota_cost_estimate("dearer", INT64_MAX) == INT64_MAX);
	/* exact where it fits: 10^12 tokens at $1 per 1M is $10^6 */
	price_set("one", USD, USD, -1, -1);
	u = (struct usage){ 1, TOKQ_TOKENS_MAX, 0, TOKQ_TOKENS_MAX, 0, 0, 0, 0 };
	assert_true(quota_cost("one", &u) == TOKQ_COST_MAX);
}

/* Buckets and held sums that would wrap saturate: the check is denied. */
static void
test_saturated_usage_denies(void **state)
{
	struct estimate	 est = { 1, 0, 1 };
	struct judgement j;
	struct hold	 h1, h2;

	rule_set(SEL_USER, "u", NULL, MET_TOKENS, W_30D, TOKQ_LIMIT_MAX);
	add("u", NULL, NULL, T0, INT64_MAX, 0);
	add("u", NULL, NULL, T0 + 10, INT64_MAX, 0);	/* the same minute bucket */
	add("u", NULL, NULL, T0 + HOUR, 5, 0);
	judge("u", NULL, NULL, T0 + HOUR, &est, &j);
	assert_true(j.e[0].used == INT64_MAX);
	assert_int_equal(j.denied, 0);
	assert_int_equal(j.e[0].remaining, 0);
	assert_int_equal(j.retry_at, T0 + HOUR + 30 * DAY);	/* when the huge ones leave */
	judge("u", NULL, NULL, T0 + HOUR, NULL, &j);
	assert_int_equal(j.denied, 0);

	/* held: two holds of INT64_MAX tokens, then one released */
	rule_set(SEL_USER, "v", NULL, MET_TOKENS, W_30D, TOKQ_LIMIT_MAX);
	hold("v", NULL, NULL, T0, 3600, INT64_MAX, 0, &h1);
	hold("v", NULL, NULL, T0, 3600, INT64_MAX, 0, &h2);
	judge("v", NULL, NULL, T0, &est, &j);
	assert_true(j.e[0].held == INT64_MAX);
	assert_int_equal(j.denied, 0);
	assert_int_equal(j.retry_at, 0);		/* held: not foreseeable */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_hold_drop(h1.id), 0);
	assert_int_equal(store_commit(), 0);
	judge("v", NULL, NULL, T0, &est, &j);
	assert_true(j.e[0].held >= 0);
	assert_int_equal(j.denied, 0);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(quota_hold_drop(h2.id), 0);
	assert_int_equal(store_commit(), 0);
	judge("v", NULL, NULL, T0, &est, &j);
	assert_int_equal(j.denied, -1);
}

/* An estimate larger than the limit never fits: denied, with no retry_at. */
static void
test_estimate_over_limit_never_fits(void **state)
{
	struct estimate	 est = { 101, 0, 1 };
	struct judgement j;

	rule_set(SEL_USER, "u", NULL, MET_TOKENS, W_1H, 100);
	rule_set(SEL_USER, "v", NULL, MET_TOKENS, W_DAY, 100);
	judge("u", NULL, NULL, T0, &est, &j);		/* no usage at all */
	assert_int_equal(j.denied, 0);
	assert_int_equal(j.retry_at, 0);
	add("u", NULL, NULL, T0, 50, 0);
	judge("u", NULL, NULL, T0 + 10, &est, &j);
	assert_int_equal(j.denied, 0);
	assert_int_equal(j.retry_at, 0);
	judge("v", NULL, NULL, T0, &est, &j);
	assert_int_equal(j.denied, 0);
	assert_int_equal(j.retry_at, 0);
	est.tokens = TOKQ_TOKENS_MAX;
	judge("u", NULL, NULL, T0 + 10, &est, &j);
	assert_int_equal(j.denied, 0);
	assert_int_equal(j.retry_at, 0);
	est.tokens = 100;				/* fits an empty window */
	judge("v", NULL, NULL, T0, &est, &j);
	assert_int_equal(j.denied, -1);
}

/*
 * retry_at of a rolling window longer than a day is the end of the hour a
 * minute bucket folds into, plus the window, before and after the fold
 * alike: at retry_at the check is allowed, a second before denied.
 */
static void
test_retry_at_30d_holds_across_fold(void **state)
{
	struct estimate	 est = { 1, 0, 1 };
	struct judgement j;
	int64_t		 rec = T0 + 30 * MIN, want = T0 + HOUR + 30 * DAY;

	rule_set(SEL_USER, "u", NULL, MET_TOKENS, W_30D, 100);
	rule_set(SEL_USER, "w", NULL, MET_TOKENS, rolling(DAY), 100);
	add("u", NULL, NULL, rec, 100, 0);
	add("w", NULL, NULL, rec, 100, 0);
	judge("u", NULL, NULL, rec + 20, &est, &j);
	assert_int_equal(j.denied, 0);
	assert_int_equal(j.retry_at, want);
	assert_int_equal(j.e[0].resets_at, want);
	judge("w", NULL, NULL, rec + 20, &est, &j);	/* a day: to the minute */
	assert_int_equal(j.retry_at, rec + MIN + DAY);

	/* maintenance folds it (memory and store), the answer stays */
	set_clock(rec + 2 * DAY);
	counter_fold(rec + DAY);
	judge("u", NULL, NULL, rec + 2 * DAY, &est, &j);
	assert_int_equal(j.retry_at, want);
	assert_int_equal(store_begin(), 0);
	assert_true(store_bucket_compact(rec + DAY, 1000) > 0);
	assert_int_equal(store_commit(), 0);
	counter_flush();
	set_clock(want - 1);
	judge("u", NULL, NULL, want - 1, &est, &j);
	assert_int_equal(j.denied, 0);
	assert_int_equal(j.retry_at, want);
	set_clock(want);
	judge("u", NULL, NULL, want, &est, &j);
	assert_int_equal(j.denied, -1);
}

/* A calendar window's retry_at: the boundary, unless what is held alone fills it. */
static void
test_calendar_retry_with_holds(void **state)
{
	struct estimate	 est = { 10, 0, 1 };
	struct judgement j;
	struct hold	 h;

	rule_set(SEL_USER, "u", NULL, MET_TOKENS, W_DAY, 100);
	add("u", NULL, NULL, T0, 95, 0);
	judge("u", NULL, NULL, T0, &est, &j);
	assert_int_equal(j.retry_at, NEXT_DAY);
	hold("u", NULL, NULL, T0, 60, 95, 0, &h);	/* held 95: 95 + 10 > 100 */
	judge("u", NULL, NULL, T0, &est, &j);
	assert_int_equal(j.denied, 0);
	assert_int_equal(j.retry_at, 0);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_sat_add_sub_extremes),
		T(test_usage_check_bounds),
		T(test_ledger_add_prices_bounds_keeps_counts),
		T(test_cost_never_overflows),
		T(test_saturated_usage_denies),
		T(test_estimate_over_limit_never_fits),
		T(test_retry_at_30d_holds_across_fold),
		T(test_calendar_retry_with_holds),
		T(test_rolling_1h_counts_until_window_end),
		T(test_rolling_1h_gone_within_a_minute_late),
		T(test_rolling_1h_never_early_at_minute_end),
		T(test_rolling_30d_minute_buckets),
		T(test_rolling_30d_hour_precision_after_compaction),
		T(test_rolling_30d_hour_bucket_and_late_minute_never_early),
		T(test_memory_fold_matches_store_fold),
		T(test_maintenance_rounds_finish_everything),
		T(test_rolling_resets_at_is_oldest_bucket_end_plus_window),
		T(test_rolling_no_usage_no_resets_at),
		T(test_day_resets_at_midnight_utc),
		T(test_day_excludes_yesterday),
		T(test_week_resets_monday_midnight_utc),
		T(test_month_resets_first_of_month_dec_to_jan),
		T(test_estimate_exactly_at_limit_allowed),
		T(test_no_estimate_allowed_while_below_limit),
		T(test_over_limit_remaining_is_zero_and_percent_exact),
		T(test_requests_metric_estimate_one),
		T(test_cost_metric_in_nano_usd),
		T(test_unlimited_never_denies_but_reports_used),
		T(test_limit_zero_denies_everything),
		T(test_limit_zero_calendar_has_no_retry),
		T(test_no_rules_allows_everything),
		T(test_user_beats_members_plan_default),
		T(test_members_beats_plan_and_default),
		T(test_plan_beats_default_only_for_plan_users),
		T(test_members_rule_needs_the_guild),
		T(test_members_rule_counts_user_across_guilds),
		T(test_named_model_beats_each_model_same_selector),
		T(test_selector_outranks_model_specificity),
		T(test_different_windows_and_metrics_all_apply),
		T(test_guild_and_global_rules_apply_in_addition),
		T(test_global_rule_denies_when_everything_pooled_is_full),
		T(test_pooled_vs_per_model_kinds),
		T(test_each_model_counts_each_model_separately),
		T(test_rule_set_again_replaces_value),
		T(test_guild_rule_pools_its_members),
		T(test_per_user_rule_counts_user_across_guilds),
		T(test_guild_each_model_counts_guild_model),
		T(test_hold_counts_for_user_guild_and_global),
		T(test_hold_counted_by_counter_loaded_later),
		T(test_ten_holds_fill_limit_eleventh_denied),
		T(test_hold_drop_frees),
		T(test_hold_expiry_frees),
		T(test_expired_hold_found_in_grace_then_swept),
		T(test_hold_expired_then_dropped_does_not_go_negative),
		T(test_holds_survive_reload),
		T(test_reset_user_counts_from_zero_guild_keeps),
		T(test_reset_user_leaves_other_users),
		T(test_reset_model_clears_only_that_model),
		T(test_cost_gpt4o_mini_not_zero),
		T(test_cost_cached_and_cache_write_prices),
		T(test_cost_star_fallback_and_unpriced),
		T(test_cost_estimate_uses_dearer_price),
		T(test_prices_survive_reload),
		T(test_retry_at_rolling_when_enough_usage_leaves),
		T(test_retry_at_rolling_no_estimate),
		T(test_retry_at_zero_when_estimate_exceeds_limit),
		T(test_retry_at_calendar_next_boundary),
		T(test_binding_rule_is_the_one_freeing_last),
		T(test_bypass_evaluates_but_never_denies),
		T(test_counters_reload_from_buckets),
		T(test_plans_and_bypass_reload),
		T(test_invalidate_forgets_rolled_back_additions),
		T(test_replay_after_crash),
		T(test_replay_between_parts),
		T(test_counter_cache_bounded),
		T(test_invalidate_forgets_rolled_back_rule_and_hold),
		T(test_longer_rule_added_later_sees_older_usage),
		T(test_threshold_defaults),
		T(test_threshold_from_judged_percent),
	};

	log_init(0, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
