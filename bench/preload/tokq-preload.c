/*
 * tokq-preload: fill a tokqd database with synthetic history, offline.
 *
 *   tokq-preload --db PATH --events N [--users U] [--models M] [--days D]
 *                [--end TIME]
 *
 * N records of U users (guild u % 100, model among M) spread evenly over the
 * D days before TIME (Unix seconds; default now), oldest first, written with
 * the daemon's own store.c: each event, its daily totals, and the buckets
 * of quota_counters() that quota_add and the hourly fold would have left
 * (hour buckets for usage older than a day, minute buckets after), plus the
 * monthly archive of the months that ended.  Costs use the prices already
 * in the database.  It is what `bench/run.sh --scale` runs: going through
 * the socket costs an hour for 10M events, this a few minutes.  The
 * daemon must not be running on the database meanwhile.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokqd.h"
#include "../synth.h"

#define COMMIT_EVERY	100000

struct pbucket {
	enum scope	 sc;
	char		 subject[32], model[32];
	struct bucket	 b;
};

static struct hmap	 pending;	/* the buckets of the current hour */

static void
die(const char *what)
{
	fprintf(stderr, "tokq-preload: %s\n", what);
	exit(1);
}

static uint64_t
rnd(uint64_t *s)
{
	/* splitmix64 */
	uint64_t	 z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
bucket_add(enum scope sc, const char *subject, const char *model,
    int64_t start, int64_t span, int64_t tokens, int64_t cost)
{
	char		 key[128];
	struct pbucket	*p;

	snprintf(key, sizeof(key), "%d\037%s\037%s\037%" PRId64 "\037%" PRId64,
	    sc, subject, model, start, span);
	if ((p = hmap_get(&pending, key)) == NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL)
			die("out of memory");
		p->sc = sc;
		snprintf(p->subject, sizeof(p->subject), "%s", subject);
		snprintf(p->model, sizeof(p->model), "%s", model);
		p->b = (struct bucket){ start, span, 0, 0, 0 };
		if (hmap_put(&pending, key, p) == -1)
			die("out of memory");
	}
	p->b.tokens += tokens;
	p->b.cost += cost;
	p->b.requests++;
}

static void
flush_cb(void *arg, const char *key, void *val)
{
	struct pbucket	*p = val;

	if (store_bucket_add(p->sc, p->subject, p->model, &p->b) < 0)
		die("store_bucket_add failed");
}

static void
flush(void)
{
	hmap_foreach(&pending, flush_cb, NULL);
	hmap_clear(&pending, free);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "events", required_argument, NULL, 'n' },
		{ "users", required_argument, NULL, 'u' },
		{ "models", required_argument, NULL, 'm' },
		{ "days", required_argument, NULL, 'D' },
		{ "end", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*db = NULL;
	int64_t		 n = 0, users = 100000, models = 4, days = 30;
	int64_t		 end = time(NULL), span, fold, hour = INT64_MIN, k, m;
	uint64_t	 seed = 42;
	struct timespec	 t0, t1;
	int		 ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': db = optarg; break;
		case 'n': n = strtoll(optarg, NULL, 10); break;
		case 'u': users = strtoll(optarg, NULL, 10); break;
		case 'm': models = strtoll(optarg, NULL, 10); break;
		case 'D': days = strtoll(optarg, NULL, 10); break;
		case 'e': end = strtoll(optarg, NULL, 10); break;
		default:
			die("usage: tokq-preload --db PATH --events N [--users U]"
			    " [--models M] [--days D] [--end UNIX_SECONDS]");
		}
	}
	if (db == NULL || n <= 0 || users <= 0 || models <= 0 || days <= 0)
		die("usage: tokq-preload --db PATH --events N [--users U]"
		    " [--models M] [--days D] [--end UNIX_SECONDS]");
	if (store_open(db) != 0 || quota_init() != 0)
		die("cannot open the database");
	if (store_bulk(true) < 0)
		die("cannot set bulk mode");
	clock_gettime(CLOCK_MONOTONIC, &t0);

	span = days * 86400;
	fold = end - 25 * 3600;		/* maintenance folded what is older */
	if (store_begin() < 0)
		die("begin failed");
	for (k = 0; k < n; k++) {
		char		 user[32], guild[32], model[32];
		uint64_t	 r = rnd(&seed), u;
		struct event	 ev = { .call = -1 };
		struct counter_id ck[QUOTA_NCOUNTERS];
		int64_t		 bstart, bspan;
		size_t		 i, nk;

		ev.at = end - span + (int64_t)((__int128)k * span / n);
		if (ev.at / 3600 != hour) {
			/* every bucket of the hour before is complete */
			flush();
			hour = ev.at / 3600;
		}
		u = synth_preload_user((uint64_t)k, (uint64_t)users);
		synth_names(u, r, (uint64_t)models, user, guild, model);
		ev.user = user;
		ev.guild = guild;
		ev.model = model;
		ev.u.requests = 1;
		ev.u.prompt = 100 + (int64_t)((r >> 8) % 1000);
		ev.u.completion = 50 + (int64_t)((r >> 30) % 500);
		ev.u.total = ev.u.prompt + ev.u.completion;
		ev.u.cost = quota_cost(model, &ev.u);
		if (store_event_add(&ev) < 0)
			die("store_event_add failed");

		bspan = ev.at < fold ? BUCKET_HOUR : BUCKET_MINUTE;
		bstart = ev.at - ev.at % bspan;
		nk = quota_counters(user, guild, model, ck);
		for (i = 0; i < nk; i++)
			bucket_add(ck[i].sc, ck[i].subject, ck[i].model, bstart, bspan,
			    ev.u.total, ev.u.cost);

		if ((k + 1) % COMMIT_EVERY == 0) {
			if (store_commit() < 0 || store_begin() < 0)
				die("commit failed");
			fprintf(stderr, "\rtokq-preload: %" PRId64 " events", k + 1);
		}
	}
	flush();

	/* The months that ended were archived at their rollover. */
	for (m = tokq_period_start(TOKQ_W_MONTH, end - span);
	    m < tokq_period_start(TOKQ_W_MONTH, end);
	    m = tokq_period_next(TOKQ_W_MONTH, m)) {
		char	 cursor[TOKQ_ID_MAX + 1] = "";

		while (store_month_archive(m, tokq_period_next(TOKQ_W_MONTH, m),
		    cursor, sizeof(cursor), 10000) == 10000)
			;
	}
	if (store_meta_set("rollover_month", tokq_period_start(TOKQ_W_MONTH, end)) < 0 ||
	    store_meta_set("last_compact", end) < 0 || store_commit() < 0)
		die("commit failed");
	if (store_bulk(false) < 0)
		die("cannot leave bulk mode");
	store_close();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "\n");
	printf("{\"events\":%" PRId64 ",\"seconds\":%.1f}\n", n,
	    (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
