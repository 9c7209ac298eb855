/*
 * screen_bot.c: what the bot commands print for people.
 *
 * check, record, release, usage and status: a few compact lines for a
 * bot author at a terminal or a log.  Every key of the reply may be absent
 * or of another type (reply.c says what each accessor returns then).
 */
#include <stdio.h>
#include <string.h>

#include "client.h"

#define GAUGE_WIDTH	20

/* The limit of the array limits with the highest percent, or NULL. */
static const msgpack_object *
top_limit(const msgpack_object *limits)
{
	const msgpack_object	*best = NULL;
	uint32_t		 i;

	for (i = 0; i < mp_len(limits); i++) {
		const msgpack_object *l = &limits->via.array.ptr[i];

		if (mp_num(l, "limit", -1) < 0)
			continue;
		if (best == NULL || mp_num(l, "percent", 0) > mp_num(best, "percent", 0))
			best = l;
	}
	return best;
}

/*
 * Where a limit stands: "reached" when used + held is the limit exactly
 * (100 %), "exceeded" beyond it, NULL below it or when it is unlimited.
 * Cost travels as float USD of whole nano-USD: equal within half of one.
 */
static const char *
limit_state(const msgpack_object *l)
{
	double	 u = mp_num(l, "used", 0) + mp_num(l, "held", 0);
	double	 lim = mp_num(l, "limit", -1);

	if (l == NULL || lim < 0)
		return NULL;
	if (u > lim + 5e-10)
		return "exceeded";
	if (u >= lim - 5e-10)
		return "reached";
	return NULL;
}

/*
 * check: "allowed" or "denied: limit reached: <rule>: <used> used + <held>
 * held + <asked> asked > <limit> (room at <time>)" ("exceeded" beyond 100 %,
 * "no room" below it), then the hold and the warning.
 */
void
print_check(const struct req *r, const msgpack_object *reply)
{
	const msgpack_object	*d, *top;
	char			 label[512], metric[32], a[64], b[64], c[64], e[64];
	char			 hold[128], t[64], nums[160];
	const char		*met, *ekey, *st;
	int64_t			 warn;

	if (!mp_bool(reply, "allowed")) {
		d = mp_get(reply, "denied_by");
		if (d == NULL || d->type != MSGPACK_OBJECT_MAP) {
			printf("denied\n");
			return;
		}
		met = mp_str(d, "metric", metric, sizeof(metric));
		ekey = met == NULL ? "tokens" : strcmp(met, "cost") == 0 ? "cost_usd" : met;
		const msgpack_object *asked = mp_get(mp_get(reply, "estimate"), ekey);
		fmt_amount(met, mp_get(d, "used"), a, sizeof(a));
		fmt_amount(met, mp_get(d, "held"), b, sizeof(b));
		fmt_amount(met, mp_get(d, "limit"), c, sizeof(c));
		st = limit_state(d);
		printf("denied: %s%s: %s: %s used + %s held", st ? "limit " : "",
		    st ? st : "no room", rule_label(d, label, sizeof(label)), a, b);
		if (mp_as_num(asked, 0) > 0)
			printf(" + %s asked > %s", fmt_amount(met, asked, e, sizeof(e)), c);
		else
			printf(" %s %s", st && strcmp(st, "exceeded") == 0 ? ">" : "=", c);
		if (mp_str(reply, "retry_at", t, sizeof(t)) != NULL ||
		    mp_str(d, "resets_at", t, sizeof(t)) != NULL)
			printf(" (room at %s)", t);
		printf("\n");
		return;
	}
	printf("allowed%s\n", mp_bool(reply, "bypass") ? " (bypass)" : "");
	if (mp_str(reply, "hold", hold, sizeof(hold)) != NULL) {
		printf("hold %s", hold);
		if (mp_str(reply, "hold_expires_at", t, sizeof(t)) != NULL)
			printf(" until %s", t);
		printf("\n");
	}
	warn = mp_int(reply, "warning", 0);
	if (warn > 0 && (top = top_limit(mp_get(reply, "limits"))) != NULL)
		printf("warning: %lld %% of %s (%s)\n", (long long)warn,
		    rule_label(top, label, sizeof(label)), used_of(top, nums, sizeof(nums)));
}

/*
 * record: "recorded event 17: 1,234 tokens (prompt 1,000, completion 234),
 * $0.000185", then duplicate, crossed and exceeded notes.
 */
void
print_record(const struct req *r, const msgpack_object *reply)
{
	const msgpack_object	*events = mp_get(reply, "events"), *top, *crossed;
	char			 a[64], b[64], c[64], d[64], label[512], nums[160];
	uint32_t		 i, n = mp_len(events);
	int64_t			 first = mp_int(reply, "event", -1);

	if (n > 1) {
		printf("recorded events ");
		for (i = 0; i < n && i < 8; i++)
			printf("%s%lld", i ? ", " : "", (long long)mp_as_int(&events->via.array.ptr[i], 0));
		if (n > 8)
			printf(", ... (%u in all)", n);
	} else
		printf("recorded event %lld", (long long)first);
	printf(": %s tokens (prompt %s", fmt_int(mp_int(reply, "total", 0), a, sizeof(a)),
	    fmt_int(mp_int(reply, "prompt", 0), b, sizeof(b)));
	if (mp_int(reply, "cached", 0) > 0)
		printf(", cached %s", fmt_int(mp_int(reply, "cached", 0), d, sizeof(d)));
	printf(", completion %s", fmt_int(mp_int(reply, "completion", 0), c, sizeof(c)));
	if (mp_int(reply, "reasoning", 0) > 0)
		printf(", reasoning %s", fmt_int(mp_int(reply, "reasoning", 0), d, sizeof(d)));
	printf("), %s\n", fmt_money(mp_num(reply, "cost_usd", 0), a, sizeof(a)));
	if (mp_bool(reply, "duplicate"))
		printf("duplicate: this key was recorded before as event %lld; nothing "
		    "new counted\n", (long long)first);
	top = top_limit(mp_get(reply, "limits"));
	crossed = mp_get(reply, "crossed");
	if (crossed != NULL && crossed->type != MSGPACK_OBJECT_NIL) {
		printf("crossed %lld %%", (long long)mp_as_int(crossed, 0));
		if (top != NULL)
			printf(" on %s (%s)", rule_label(top, label, sizeof(label)),
			    used_of(top, nums, sizeof(nums)));
		printf("\n");
	}
	if (!mp_bool(reply, "allowed")) {
		printf("limit %s", top != NULL && limit_state(top) != NULL ?
		    limit_state(top) : "exceeded");
		if (top != NULL)
			printf(": %s (%s)", rule_label(top, label, sizeof(label)),
			    used_of(top, nums, sizeof(nums)));
		printf("\n");
	}
}

void
print_release(const struct req *r, const msgpack_object *reply)
{
	if (mp_bool(reply, "released"))
		printf("released hold %s\n", req_str(r, "HOLD"));
	else
		printf("hold %s: nothing to release (already settled or expired)\n",
		    req_str(r, "HOLD"));
}

/* "[#######-------------]", green < 80 %, yellow < 95 %, red beyond. */
static void
print_gauge(double pct, bool unlimited, bool colour)
{
	int	 i, fill;

	fill = unlimited ? 0 : pct >= 100 ? GAUGE_WIDTH : (int)(pct * GAUGE_WIDTH / 100);
	if (fill < 0)
		fill = 0;
	fputc('[', stdout);
	colour = colour && fill > 0;
	if (colour)
		fputs(pct < 80 ? "\033[32m" : pct <= 95 ? "\033[33m" : "\033[31m", stdout);
	for (i = 0; i < fill; i++)
		fputc('#', stdout);
	if (colour)
		fputs("\033[0m", stdout);
	for (; i < GAUGE_WIDTH; i++)
		fputc('-', stdout);
	fputc(']', stdout);
}

/* A usage totals row: name, requests, prompt, completion, total, cached, reasoning, cost. */
static void
totals_row(struct table *t, const char *name, const msgpack_object *u)
{
	static const char *const keys[] = { "requests", "prompt", "completion", "total",
	    "cached", "reasoning" };
	char		 v[7][64];
	const char	*cells[TCOLS];
	int		 i;

	cells[0] = name;
	for (i = 0; i < 6; i++)
		cells[i + 1] = fmt_int(mp_int(u, keys[i], 0), v[i], sizeof(v[i]));
	cells[7] = fmt_money(mp_num(u, "cost_usd", 0), v[6], sizeof(v[6]));
	table_row(t, cells);
}

/*
 * usage: one line per limit with a gauge, then the periods and the
 * all-time usage by model.
 */
void
print_usage(const struct req *r, const msgpack_object *reply)
{
	static struct table	 t;
	static const char	*hdr[] = { "", "requests", "prompt", "completion", "total",
	    "cached", "reasoning", "cost" };
	static const char	*periods[] = { "today", "month", "30d", "all" };
	const msgpack_object	*limits = mp_get(reply, "limits"), *l, *bym;
	char			 labels[64][200], amounts[64][160], user[160], buf[512];
	char			 metric[32], win[32], sel[32], subj[160], model[160], held[64];
	const char		*met;
	uint32_t		 i, n = mp_len(limits);
	int			 wl = 0, wa = 0;
	bool			 colour = use_colour();

	if (n > 64)
		n = 64;
	if (mp_str(reply, "user", user, sizeof(user)) == NULL)
		snprintf(user, sizeof(user), "%s", req_str(r, "user"));
	if (n == 0)
		printf("no limits apply to user %s\n", user);
	for (i = 0; i < n; i++) {
		l = &limits->via.array.ptr[i];
		met = mp_str(l, "metric", metric, sizeof(metric));
		mp_str(l, "window", win, sizeof(win));
		mp_str(l, "selector", sel, sizeof(sel));
		if (mp_str(l, "subject", subj, sizeof(subj)) == NULL)
			subj[0] = '\0';
		if (mp_str(l, "applies_to", model, sizeof(model)) == NULL &&
		    mp_str(l, "model", model, sizeof(model)) == NULL)
			model[0] = '\0';
		/* A label longer than its column is cut, and says so. */
		if (snprintf(labels[i], sizeof(labels[i]), "%s/%s (%s%s%s%s%s)",
		    met ? met : "?", win, sel, subj[0] ? " " : "", subj,
		    model[0] ? ", " : "", model) >= (int)sizeof(labels[i]))
			memcpy(labels[i] + sizeof(labels[i]) - 4, "...", 4);
		used_of(l, amounts[i], sizeof(amounts[i]));
		if (mp_num(l, "held", 0) > 0) {
			size_t	 o = strlen(amounts[i]);

			fmt_amount(met, mp_get(l, "held"), held, sizeof(held));
			snprintf(amounts[i] + o, sizeof(amounts[i]) - o, " (+%s held)", held);
		}
		if ((int)strlen(labels[i]) > wl)
			wl = strlen(labels[i]);
		if ((int)strlen(amounts[i]) > wa)
			wa = strlen(amounts[i]);
	}
	for (i = 0; i < n; i++) {
		l = &limits->via.array.ptr[i];
		bool unl = mp_num(l, "limit", 0) == -1;
		double pct = mp_num(l, "percent", 0);

		printf("%-*s  ", wl, labels[i]);
		print_gauge(pct, unl, colour);
		printf("  %*s", wa, amounts[i]);
		if (unl)
			printf("     -");
		else
			printf("  %3lld %%", (long long)pct);
		if (mp_str(l, "resets_at", buf, sizeof(buf)) != NULL)
			printf("  resets %s", buf);
		printf("\n");
	}

	printf("\nusage of user %s:\n", user);
	memset(&t, 0, sizeof(t));
	t.ncol = 8;
	table_row(&t, hdr);
	for (i = 0; i < 4; i++)
		totals_row(&t, periods[i], mp_get(mp_get(reply, "periods"), periods[i]));
	table_print(&t, "  ", false);

	bym = mp_get(reply, "by_model");
	if (mp_len(bym) == 0)
		return;
	printf("\nall-time by model:\n");
	memset(&t, 0, sizeof(t));
	t.ncol = 8;
	hdr[0] = "model";
	table_row(&t, hdr);
	hdr[0] = "";
	for (i = 0; i < mp_len(bym); i++) {
		l = &bym->via.array.ptr[i];
		if (mp_str(l, "model", model, sizeof(model)) == NULL)
			snprintf(model, sizeof(model), "(none)");
		totals_row(&t, model, l);
	}
	table_print(&t, "  ", false);
}

/* A value for "key: value" lines. */
static void
print_plain(const msgpack_object *o)
{
	json_t	*j;
	char	 buf[64];

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		fputs("-", stdout);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		fputs(o->via.boolean ? "yes" : "no", stdout);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		fputs(fmt_int(mp_as_int(o, 0), buf, sizeof(buf)), stdout);
		break;
	case MSGPACK_OBJECT_STR:
		fwrite(o->via.str.ptr, 1, o->via.str.size, stdout);
		break;
	default:
		json_write(stdout, (j = json_of(o)));
		json_decref(j);
		break;
	}
}

/* status, and any reply without a printer of its own: "key: value" lines. */
void
print_keys(const struct req *r, const msgpack_object *reply)
{
	uint32_t	 i;
	int		 w = 0;

	for (i = 0; i < reply->via.map.size; i++) {
		const msgpack_object *k = &reply->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && (int)k->via.str.size > w)
			w = k->via.str.size;
	}
	for (i = 0; i < reply->via.map.size; i++) {
		const msgpack_object_kv *kv = &reply->via.map.ptr[i];

		if (kv->key.type != MSGPACK_OBJECT_STR || mp_is_str(&kv->key, "v") ||
		    mp_is_str(&kv->key, "code"))
			continue;
		printf("%.*s:%*s ", (int)kv->key.via.str.size, kv->key.via.str.ptr,
		    w - (int)kv->key.via.str.size, "");
		print_plain(&kv->val);
		fputc('\n', stdout);
	}
}
