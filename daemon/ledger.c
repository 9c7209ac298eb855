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
#include "tokqd.h"

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
	return quota_usage_check(&ev->u);
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
	if (ev->at < now() - quota_horizon())
		return 0;	/* no window reaches back that far */
	return quota_add(ev->user, ev->guild, ev->model, ev->at, ev->u.total,
	    ev->u.cost);
}
