/*
 * ledger.c: the one way usage enters.
 *
 * An event enters in four steps, always in this order: its cost (from the
 * price table, unless the caller priced it), its bounds (contract, Values:
 * each amount bounded, the parts within their whole, whatever made the
 * event: flags, usage JSON or an import), its row (store_event_add gives
 * it an id and adds it to the daily totals), and its counters (quota_add:
 * limits count it from then on, unless it is older than any of them looks).
 * record and import both come here, inside the open batch.
 */
#include <stdio.h>

#include "tokqd.h"

/*
 * Is u an event tokqd may keep (contract, Values and Token normalisation)?
 * Every count 0 to TOKQ_TOKENS_MAX, the cost 0 to TOKQ_COST_MAX, cached
 * and cache-write tokens within the prompt, reasoning within the
 * completion, and the total at least prompt + completion.  Returns NULL,
 * or why not, in words fit for a reply.
 */
const char *
ledger_usage_check(const struct usage *u)
{
	static const char *const names[] = { "prompt", "completion", "total",
	    "cached", "cache_write", "reasoning" };
	const int64_t	 v[] = { u->prompt, u->completion, u->total, u->cached,
	    u->cache_write, u->reasoning };
	static char	 why[96];
	size_t		 i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (v[i] < 0 || v[i] > TOKQ_TOKENS_MAX) {
			snprintf(why, sizeof(why), "%s must be 0 to 10^12 tokens", names[i]);
			return why;
		}
	if (u->cost < 0 || u->cost > TOKQ_COST_MAX)
		return "an event's cost must be 0 to 1000000 USD";
	/* Each is at most 10^12 here: no sum below can overflow. */
	if (u->cached + u->cache_write > u->prompt)
		return "cached and cache-write tokens are part of the prompt: "
		    "they cannot exceed it";
	if (u->reasoning > u->completion)
		return "reasoning tokens are part of the completion: they cannot exceed it";
	if (u->total < u->prompt + u->completion)
		return "total must be at least prompt + completion";
	return NULL;
}

/*
 * Price ev unless priced, then check it: NULL when it may enter, else the
 * reason it may not.  Writes nothing: a caller that takes many events
 * checks them all before the first enters.
 */
const char *
ledger_check(struct event *ev, bool priced)
{
	if (!priced)
		ev->u.cost = quota_cost(ev->model, &ev->u);
	return ledger_usage_check(&ev->u);
}

/*
 * Usage enters: ev checked as ledger_check() does, kept (ev->id set), and
 * counted.  Returns 0; -TOKQ_E_INVALID with *why saying why when ev is out
 * of bounds, before anything is written; or the store's code.
 */
int
ledger_add(struct event *ev, bool priced, const char **why)
{
	int	 rc;

	if ((*why = ledger_check(ev, priced)) != NULL)
		return -TOKQ_E_INVALID;
	if ((rc = store_event_add(ev)) < 0)
		return rc;
	if (ev->at < now() - counter_horizon())
		return 0;	/* no window reaches back that far */
	return quota_add(ev->user, ev->guild, ev->model, ev->at, ev->u.total,
	    ev->u.cost);
}
