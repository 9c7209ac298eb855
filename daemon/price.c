/*
 * price.c: the price table, and what usage costs at it.
 *
 * Prices are in nano-USD per 1M tokens, per model, "*" for every model
 * without one of its own; cached and cache-write tokens are priced as input
 * unless priced apart.  An event that comes without a cost is priced when
 * it enters (ledger.c), at the price of that moment: a later price change
 * does not reprice what was kept.  The table lives in memory, loaded at
 * start and written through to the store.
 */
#include <stdlib.h>
#include <string.h>

#include "tokqd.h"

static struct {
	struct price	*prices;
	size_t		 nprices;
} pr;

size_t
quota_nprices(void)
{
	return pr.nprices;
}

const struct price *
quota_price(size_t i)
{
	return i < pr.nprices ? &pr.prices[i] : NULL;
}

static const struct price *
price_for(const char *model)
{
	const struct price	*fallback = NULL;
	size_t			 i;

	for (i = 0; i < pr.nprices; i++) {
		if (model && strcmp(pr.prices[i].model, model) == 0)
			return &pr.prices[i];
		if (strcmp(pr.prices[i].model, "*") == 0)
			fallback = &pr.prices[i];
	}
	return fallback;
}

static int
price_store(const struct price *p)
{
	size_t		 i;
	struct price	*np;
	char		*m;

	for (i = 0; i < pr.nprices; i++)
		if (strcmp(pr.prices[i].model, p->model) == 0) {
			m = pr.prices[i].model;
			pr.prices[i] = *p;
			pr.prices[i].model = m;
			return 0;
		}
	if ((m = strdup(p->model)) == NULL ||
	    (np = reallocarray(pr.prices, pr.nprices + 1, sizeof(*np))) == NULL) {
		free(m);
		return -TOKQ_E_INTERNAL;
	}
	pr.prices = np;
	pr.prices[pr.nprices] = *p;
	pr.prices[pr.nprices++].model = m;
	return 0;
}

int
quota_price_set(const struct price *p)
{
	int	 rc;

	if ((rc = store_price_put(p)) < 0)
		return rc;
	return price_store(p);
}

int
quota_price_rm(const char *model)
{
	size_t	 i;
	int	 rc;

	if ((rc = store_price_del(model)) <= 0)
		return rc;
	for (i = 0; i < pr.nprices; i++)
		if (strcmp(pr.prices[i].model, model) == 0) {
			free(pr.prices[i].model);
			memmove(&pr.prices[i], &pr.prices[i + 1],
			    (pr.nprices - i - 1) * sizeof(*pr.prices));
			pr.nprices--;
			break;
		}
	return 1;
}

/*
 * tokens at per_m nano-USD per 1M tokens, rounded, in 128 bits: 10^12
 * tokens at any int64 price fit (10^12 x 9.3e18 < 1.7e38), and so does a
 * sum of four of them.
 */
static __int128
priced(int64_t tokens, int64_t per_m)
{
	__int128	 v = (__int128)(tokens < 0 ? 0 : tokens) * (per_m < 0 ? 0 : per_m);

	return (v + 500000) / 1000000;
}

static int64_t
nusd_sat(__int128 v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

/*
 * The cost of u at the current price of model (or "*"), in nano-USD; 0
 * unpriced; INT64_MAX when it does not fit, which the bound on an event's
 * cost (ledger_usage_check) then refuses.
 */
int64_t
quota_cost(const char *model, const struct usage *u)
{
	const struct price	*p = price_for(model);
	int64_t			 plain;

	if (p == NULL)
		return 0;
	plain = sat_sub(u->prompt, sat_add(u->cached, u->cache_write));
	if (plain < 0)
		plain = 0;
	return nusd_sat(priced(plain, p->input) + priced(u->completion, p->output) +
	    priced(u->cached, p->cached >= 0 ? p->cached : p->input) +
	    priced(u->cache_write, p->cache_write >= 0 ? p->cache_write : p->input));
}

/*
 * A cost estimate for tokens not yet split: priced at the dearer of input
 * and output; INT64_MAX when it does not fit.
 */
int64_t
quota_cost_estimate(const char *model, int64_t tokens)
{
	const struct price	*p = price_for(model);

	if (p == NULL)
		return 0;
	return nusd_sat(priced(tokens, p->input > p->output ? p->input : p->output));
}

static int
load_price(void *arg, const struct price *p)
{
	return price_store(p);
}

/* Load the table from the store. */
int
price_init(void)
{
	memset(&pr, 0, sizeof(pr));
	return store_price_load(load_price, NULL);
}

void
price_shutdown(void)
{
	size_t	 i;

	for (i = 0; i < pr.nprices; i++)
		free(pr.prices[i].model);
	free(pr.prices);
	memset(&pr, 0, sizeof(pr));
}
