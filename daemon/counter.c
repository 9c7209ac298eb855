/*
 * counter.c: the counter cache.
 *
 * A counter adds up the usage of one (scope, subject, model) in time
 * buckets: a user's pooled usage, a user's usage of one model, a guild's,
 * everything's.  Counters are a cache of the store's bucket table (with
 * the buckets still pending there), loaded the first time a request needs
 * them and dropped when least recently used past env.counter_cache, so a
 * cold start reads no raw event.  They keep the history of the horizon the
 * quota's rules need (counter_set_horizon), and fold their minute buckets
 * into hours as maintenance folds the store's (the fold policy, tokqd.h),
 * each the next time it is used.  What is held against a counter is the
 * quota's to say: the hook counter_init() is given sums it on each load.
 */
#include <stdlib.h>
#include <string.h>

#include "tokqd.h"

static struct {
	struct hmap	 map;		/* counter_key() -> struct counter */
	struct counter	*oldest, *newest; /* the counters by last use */
	size_t		 bytes;		/* what they hold, about */
	int64_t		 horizon;	/* seconds of history counters keep */
	int64_t		 fold_before;	/* as the store's buckets: counter_fold() */
	counter_hook	 loaded;	/* fills a loaded counter's held sums */
} ctr;

/* The counters a round will use that memory lacks, each once (counter_want). */
static struct {
	struct bucket_want *w;
	size_t		 n, cap;
	struct hmap	 seen;		/* counter_key() -> &want */
} want;

static size_t
counter_key(char *buf, size_t len, enum scope sc, const char *subject, const char *model)
{
	size_t	 ls = subject ? strlen(subject) : 0, lm = model ? strlen(model) : 0;

	/* "<scope>\037<subject>\037<model>"; written out: it runs per counter per request */
	if (sc < 0 || sc > 9 || ls + lm + 4 > len)
		return 0;
	buf[0] = (char)('0' + sc);
	buf[1] = '\037';
	memcpy(buf + 2, subject ? subject : "", ls);
	buf[2 + ls] = '\037';
	memcpy(buf + 3 + ls, model ? model : "", lm + 1);
	return 3 + ls + lm;
}

/*
 * The counters in memory are a cache of the store's buckets (with the
 * pending ones): bounded by env.counter_cache bytes, the least recently
 * used go first, and load again when next used.  Without a bound, 100,000
 * users with a month of history each would take ~8 KiB apiece.
 */
static void
lru_unlink(struct counter *c)
{
	if (c->older)
		c->older->newer = c->newer;
	else if (ctr.oldest == c)
		ctr.oldest = c->newer;
	if (c->newer)
		c->newer->older = c->older;
	else if (ctr.newest == c)
		ctr.newest = c->older;
	c->older = c->newer = NULL;
}

static void
lru_push(struct counter *c)
{
	c->older = ctr.newest;
	c->newer = NULL;
	if (ctr.newest)
		ctr.newest->newer = c;
	else
		ctr.oldest = c;
	ctr.newest = c;
}

/* Count what c holds now: itself with its key, its map slots, its buckets. */
static void
counter_charge(struct counter *c)
{
	size_t	 bytes = sizeof(*c) + c->klen + 1 + 2 * sizeof(struct hmap_slot) +
	    c->cap * sizeof(struct bucket);

	ctr.bytes += bytes - c->charged;
	c->charged = bytes;
}

static void
counter_free(void *p)
{
	struct counter	*c = p;

	if (c) {
		lru_unlink(c);
		ctr.bytes -= c->charged;
		free(c->b);
		free(c);
	}
}

/* Make room past the bound, from the least recently used on, but keep. */
static void
counters_evict(const struct counter *keep)
{
	struct counter	*c;

	while (env.counter_cache > 0 && ctr.bytes > env.counter_cache &&
	    (c = ctr.oldest) != NULL && c != keep) {
		hmap_deln(&ctr.map, c->key, c->klen);
		counter_free(c);
	}
}

static int
bucket_insert(struct counter *c, int64_t start, int64_t span, int64_t tokens,
    int64_t cost, int64_t requests)
{
	size_t	 i = c->n;

	/* Usually the newest bucket; search backwards otherwise. */
	while (i > 0 && c->b[i - 1].start > start)
		i--;
	if (i > 0 && c->b[i - 1].start <= start &&
	    start < c->b[i - 1].start + c->b[i - 1].span) {
		struct bucket	*b = &c->b[i - 1];

		/* Merged usage keeps counting until the later end: never early. */
		if (start + span > b->start + b->span)
			b->span = start + span - b->start;
		b->tokens = sat_add(b->tokens, tokens);
		b->cost = sat_add(b->cost, cost);
		b->requests = sat_add(b->requests, requests);
		if (b->span > c->maxspan)
			c->maxspan = b->span;
		return 0;
	}
	if (c->n == c->cap) {
		size_t		 ncap = c->cap ? c->cap * 2 : 8;
		struct bucket	*nb = reallocarray(c->b, ncap, sizeof(*nb));

		if (nb == NULL)
			return -TOKQ_E_INTERNAL;
		c->b = nb;
		c->cap = ncap;
		counter_charge(c);
	}
	memmove(&c->b[i + 1], &c->b[i], (c->n - i) * sizeof(*c->b));
	c->b[i] = (struct bucket){ start, span, tokens, cost, requests };
	c->n++;
	if (span > c->maxspan)
		c->maxspan = span;
	return 0;
}

/*
 * Do in memory what maintenance does to the store's buckets: minute buckets
 * before ctr.fold_before become the hour bucket they lie in, and buckets that
 * ended past the horizon go.  A bucket that reached into the next hour keeps
 * its end: usage is never forgotten early.  The buckets stay sorted and
 * apart, so a later bucket that an hour now overlaps joins it.
 */
static void
fold(struct counter *c)
{
	int64_t	 expired = now() - ctr.horizon, start, end;
	size_t	 i, w = 0;

	c->maxspan = 0;
	for (i = 0; i < c->n; i++) {
		struct bucket	 b = c->b[i];

		if (b.start + b.span <= expired)
			continue;
		start = b.start;
		end = b.start + b.span;
		if (b.start < ctr.fold_before && b.span < BUCKET_HOUR) {
			start = tokq_floor(b.start, BUCKET_HOUR);
			if (end < start + BUCKET_HOUR)
				end = start + BUCKET_HOUR;
		}
		if (w > 0 && c->b[w - 1].start + c->b[w - 1].span > start) {
			struct bucket	*p = &c->b[w - 1];

			if (end > p->start + p->span)
				p->span = end - p->start;
			p->tokens = sat_add(p->tokens, b.tokens);
			p->cost = sat_add(p->cost, b.cost);
			p->requests = sat_add(p->requests, b.requests);
		} else
			c->b[w++] = (struct bucket){ start, end - start, b.tokens,
			    b.cost, b.requests };
		if (c->b[w - 1].span > c->maxspan)
			c->maxspan = c->b[w - 1].span;
	}
	c->n = w;
	c->folded = ctr.fold_before;
}

static int
counter_load_cb(void *arg, const struct bucket *b)
{
	return bucket_insert(arg, b->start, b->span, b->tokens, b->cost, b->requests);
}

/*
 * Give back what doubling left unused once a counter is loaded: most
 * counters are loaded once and then grow by a bucket a minute at most.
 * In the scale bench (10M events, 100,000 users) RSS went 245 -> 228 MiB.
 */
static void
counter_trim(struct counter *c)
{
	size_t		 ncap = c->n + 2;
	struct bucket	*nb;

	if (c->cap <= ncap || (nb = reallocarray(c->b, ncap, sizeof(*nb))) == NULL)
		return;
	c->b = nb;
	c->cap = ncap;
	counter_charge(c);
}

/*
 * The counter of (sc, subject, model), model "" for pooled, loading it from
 * the store on first use.  NULL when the store failed or memory ran out.
 */
struct counter *
counter_get(enum scope sc, const char *subject, const char *model)
{
	char		 key[3 * TOKQ_ID_MAX + 16];
	size_t		 klen = counter_key(key, sizeof(key), sc, subject, model);
	struct counter	*c;

	if (klen == 0)
		return NULL;
	if ((c = hmap_getn(&ctr.map, key, klen)) != NULL) {
		if (c->folded < ctr.fold_before)
			fold(c);
		if (c != ctr.newest) {
			lru_unlink(c);
			lru_push(c);
		}
		return c;
	}
	if ((c = calloc(1, sizeof(*c) + klen + 1)) == NULL)
		return NULL;
	memcpy(c->key, key, klen + 1);
	c->klen = klen;
	c->folded = ctr.fold_before;
	lru_push(c);
	counter_charge(c);
	if (store_bucket_load(sc, subject, model, now() - ctr.horizon,
	    counter_load_cb, c) < 0 ||
	    hmap_putn_ref(&ctr.map, c->key, klen, c) == -1) {
		counter_free(c);
		return NULL;
	}
	counter_trim(c);
	if (ctr.loaded)
		ctr.loaded(c, sc, subject, model);
	counters_evict(c);
	return c;
}

/* The counter of (sc, subject, model) if it is in memory, else NULL. */
struct counter *
counter_find(enum scope sc, const char *subject, const char *model)
{
	char	 key[3 * TOKQ_ID_MAX + 16];
	size_t	 klen = counter_key(key, sizeof(key), sc, subject, model);

	return klen ? hmap_getn(&ctr.map, key, klen) : NULL;
}

/*
 * Add bucket b to counter c (merging with the bucket it falls in); usage
 * that ended before the horizon no window counts, and is not kept.
 */
int
counter_add(struct counter *c, const struct bucket *b)
{
	if (b->start + b->span <= now() - ctr.horizon)
		return 0;
	return bucket_insert(c, b->start, b->span, b->tokens, b->cost, b->requests);
}

struct drop_ctx {
	char	 prefix[TOKQ_ID_MAX + 8];
	size_t	 plen;
	char	**keys;
	size_t	 n, cap;
};

static void
drop_collect(void *arg, const char *key, void *val)
{
	struct drop_ctx	*d = arg;

	if (strncmp(key, d->prefix, d->plen) != 0)
		return;
	if (d->n == d->cap) {
		size_t	 ncap = d->cap ? d->cap * 2 : 8;
		char	**nk = reallocarray(d->keys, ncap, sizeof(*nk));

		if (nk == NULL)
			return;
		d->keys = nk;
		d->cap = ncap;
	}
	if ((d->keys[d->n] = strdup(key)) != NULL)
		d->n++;
}

/*
 * Forget the counters of (sc, subject, model), of every model and pooled
 * when model is NULL: they load again from the store when next used.
 */
int
counter_drop(enum scope sc, const char *subject, const char *model)
{
	struct drop_ctx	 d = { .plen = 0 };
	size_t		 i;

	if (model) {
		/* One counter, found: other daemons' news drop them by the hundred. */
		char	 key[3 * TOKQ_ID_MAX + 16];
		size_t	 klen = counter_key(key, sizeof(key), sc, subject, model);

		if (klen == 0)
			return -TOKQ_E_INTERNAL;
		counter_free(hmap_deln(&ctr.map, key, klen));
		return 0;
	}
	d.plen = counter_key(d.prefix, sizeof(d.prefix), sc, subject, "");
	if (d.plen == 0)
		return -TOKQ_E_INTERNAL;
	hmap_foreach(&ctr.map, drop_collect, &d);
	for (i = 0; i < d.n; i++) {
		counter_free(hmap_del(&ctr.map, d.keys[i]));
		free(d.keys[i]);
	}
	free(d.keys);
	return 0;
}

/* What the counters in memory hold, about: for tests and status. */
size_t
counter_bytes(void)
{
	return ctr.bytes;
}

/* Drop the counter cache: it reloads from the store's buckets. */
void
counter_flush(void)
{
	hmap_clear(&ctr.map, counter_free);
}

/*
 * Maintenance folds the store's minute buckets before `before` into hours
 * and drops those past the horizon: each counter does the same the next
 * time it is used, so memory stays bounded without a reload of every
 * counter at once.
 */
void
counter_fold(int64_t before)
{
	if (before > ctr.fold_before)
		ctr.fold_before = before;
}

/*
 * Keep h seconds of history.  Counters loaded for a shorter horizon lack
 * older usage that a new longer rule counts: they are dropped and reload.
 */
void
counter_set_horizon(int64_t h)
{
	if (h > ctr.horizon && ctr.horizon != 0)
		counter_flush();
	ctr.horizon = h;
}

int64_t
counter_horizon(void)
{
	return ctr.horizon;
}

/*
 * A round will use the counter of (sc, subject, model): if memory lacks
 * it, note it for counter_prefetch().  Out of memory, it is not noted,
 * and loads when used, as any other.
 */
void
counter_want(enum scope sc, const char *subject, const char *model)
{
	char			 key[3 * TOKQ_ID_MAX + 16];
	size_t			 klen = counter_key(key, sizeof(key), sc, subject, model);
	struct bucket_want	*w;

	if (klen == 0 || hmap_getn(&ctr.map, key, klen) != NULL ||
	    hmap_getn(&want.seen, key, klen) != NULL)
		return;
	if (want.n == want.cap) {
		size_t	 ncap = want.cap ? 2 * want.cap : 64;

		if ((w = reallocarray(want.w, ncap, sizeof(*w))) == NULL)
			return;
		want.w = w;
		want.cap = ncap;
	}
	w = &want.w[want.n];
	w->sc = sc;
	w->since = 0;
	if ((w->subject = strdup(subject ? subject : "")) == NULL ||
	    (w->model = strdup(model ? model : "")) == NULL ||
	    hmap_putn(&want.seen, key, klen, &want) == -1) {
		free((char *)w->subject);
		free((char *)w->model);
		return;
	}
	want.n++;
}

/*
 * Ask the store for the wanted counters' buckets ahead, in one call, with
 * the history counter_get() loads (since now less the horizon), and
 * forget the wants.  The store's result; a failed prefetch only means the
 * counters load one by one.
 */
int
counter_prefetch(void)
{
	int64_t	 since = now() - ctr.horizon;
	size_t	 i;
	int	 rc = 0;

	if (want.n == 0)
		return 0;
	for (i = 0; i < want.n; i++)
		want.w[i].since = since;
	rc = store_bucket_prefetch(want.w, want.n);
	for (i = 0; i < want.n; i++) {
		free((char *)want.w[i].subject);
		free((char *)want.w[i].model);
	}
	want.n = 0;
	hmap_clear(&want.seen, NULL);
	return rc;
}

/* An empty cache; loaded(c, ...) fills the held sums of each counter it loads. */
void
counter_init(counter_hook loaded)
{
	memset(&ctr, 0, sizeof(ctr));
	ctr.loaded = loaded;
}

void
counter_shutdown(void)
{
	size_t	 i;

	counter_flush();
	hmap_clear(&ctr.map, NULL);
	memset(&ctr, 0, sizeof(ctr));
	for (i = 0; i < want.n; i++) {
		free((char *)want.w[i].subject);
		free((char *)want.w[i].model);
	}
	free(want.w);
	hmap_clear(&want.seen, NULL);
	memset(&want, 0, sizeof(want));
}
