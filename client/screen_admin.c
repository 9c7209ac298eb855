/*
 * screen_admin.c: what the admin commands print for people.
 *
 * limits, plans, bypasses, resets, prices and the clock in a line or an
 * aligned table; stats, report and log as the views an operator reads or
 * posts.  Every key of the reply may be absent or of another type.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

/* "limit set: user 42 gpt-4o tokens/30d = 50,000 (replaced)" */
void
print_limit_set(const struct req *r, const msgpack_object *reply)
{
	const msgpack_object	*rule = mp_get(reply, "rule");
	char			 label[512], metric[32], lim[64];

	printf("limit set: %s = %s (%s)\n", rule_label(rule, label, sizeof(label)),
	    fmt_amount(mp_str(rule, "metric", metric, sizeof(metric)),
	    mp_get(rule, "limit"), lim, sizeof(lim)),
	    mp_bool(reply, "replaced") ? "replaced" : "new");
}

/* The rule a limit rm named, from its flags: the reply only says removed. */
static char *
req_rule_label(const struct req *r, char *buf, size_t len)
{
	static const char *const sels[] = { "user", "members", "plan", "default", "guild",
	    "global" };
	static const char *const mets[] = { "tokens", "cost", "requests" };
	const char	*sel = "?", *subj = NULL, *met = "?", *model, *win;
	size_t		 i;

	for (i = 0; i < sizeof(sels) / sizeof(sels[0]); i++)
		if (req_val(r, sels[i])->set) {
			sel = sels[i];
			subj = req_str(r, sels[i]);
		}
	for (i = 0; i < sizeof(mets) / sizeof(mets[0]); i++)
		if (req_val(r, mets[i])->set)
			met = mets[i];
	model = req_val(r, "each-model")->set ? "each-model" : req_str(r, "model");
	win = req_val(r, "per")->set ? req_val(r, "per")->canon : "30d";
	snprintf(buf, len, "%s%s%s%s%s %s/%s", sel, subj ? " " : "", subj ? subj : "",
	    model ? " " : "", model ? model : "", met, win);
	return buf;
}

void
print_limit_rm(const struct req *r, const msgpack_object *reply)
{
	char	 label[512];

	printf("%s: %s\n", mp_bool(reply, "removed") ? "limit removed" : "no such rule",
	    req_rule_label(r, label, sizeof(label)));
}

/* limit list: one aligned row per rule. */
void
print_limit_list(const struct req *r, const msgpack_object *reply)
{
	static struct table	 t;
	static const char	*hdr[] = { "SELECTOR", "SUBJECT", "MODEL", "METRIC", "WINDOW",
	    "LIMIT" };
	const msgpack_object	*rules = mp_get(reply, "rules"), *l;
	char			 c[6][160];
	const char		*cells[6];
	uint32_t		 i;

	if (mp_len(rules) == 0) {
		printf("no rules\n");
		return;
	}
	t.ncol = 6;
	table_row(&t, hdr);
	for (i = 0; i < mp_len(rules); i++) {
		l = &rules->via.array.ptr[i];
		cells[0] = mp_str(l, "selector", c[0], sizeof(c[0]));
		cells[1] = mp_str(l, "subject", c[1], sizeof(c[1]));
		cells[2] = mp_str(l, "model", c[2], sizeof(c[2]));
		cells[3] = mp_str(l, "metric", c[3], sizeof(c[3]));
		cells[4] = mp_str(l, "window", c[4], sizeof(c[4]));
		cells[5] = fmt_amount(cells[3], mp_get(l, "limit"), c[5], sizeof(c[5]));
		table_row(&t, cells);
	}
	table_print(&t, "", true);
}

void
print_plan(const struct req *r, const msgpack_object *reply)
{
	char	 user[160], plan[160];

	if (mp_str(reply, "user", user, sizeof(user)) == NULL)
		snprintf(user, sizeof(user), "%s", req_str(r, "user"));
	if (strcmp(r->cmd->op, "plan_assign") == 0)
		printf("user %s is on plan %s\n", user,
		    mp_str(reply, "plan", plan, sizeof(plan)) ? plan : req_str(r, "PLAN"));
	else if (mp_str(reply, "plan", plan, sizeof(plan)) != NULL)
		printf("user %s is no longer on plan %s\n", user, plan);
	else
		printf("user %s was on no plan\n", user);
}

void
print_plan_list(const struct req *r, const msgpack_object *reply)
{
	static struct table	 t;
	const msgpack_object	*plans = mp_get(reply, "plans");
	const msgpack_object	*as = mp_get(reply, "assignments");
	const char		*cells[2];
	char			 a[160], b[160];
	uint32_t		 i;

	if (mp_len(plans) == 0 && mp_len(as) == 0) {
		printf("no plans\n");
		return;
	}
	if (mp_len(plans) > 0) {
		t.ncol = 2;
		cells[0] = "PLAN", cells[1] = "USERS";
		table_row(&t, cells);
		for (i = 0; i < mp_len(plans); i++) {
			cells[0] = mp_str(&plans->via.array.ptr[i], "plan", a, sizeof(a));
			cells[1] = fmt_int(mp_int(&plans->via.array.ptr[i], "users", 0),
			    b, sizeof(b));
			table_row(&t, cells);
		}
		table_print(&t, "", false);
	}
	if (mp_len(as) == 0)
		return;
	if (mp_len(plans) > 0)
		printf("\n");
	memset(&t, 0, sizeof(t));
	t.ncol = 2;
	cells[0] = "USER", cells[1] = "PLAN";
	table_row(&t, cells);
	for (i = 0; i < mp_len(as); i++) {
		cells[0] = mp_str(&as->via.array.ptr[i], "user", a, sizeof(a));
		cells[1] = mp_str(&as->via.array.ptr[i], "plan", b, sizeof(b));
		table_row(&t, cells);
	}
	table_print(&t, "", true);
}

void
print_bypass(const struct req *r, const msgpack_object *reply)
{
	char		 kind[32], id[160];
	bool		 add = strcmp(r->cmd->op, "bypass_add") == 0;
	bool		 changed = mp_bool(reply, "changed");

	if (mp_str(reply, "kind", kind, sizeof(kind)) == NULL)
		snprintf(kind, sizeof(kind), "%s", req_val(r, "user")->set ? "user" : "guild");
	if (mp_str(reply, "id", id, sizeof(id)) == NULL)
		snprintf(id, sizeof(id), "%s", req_str(r, kind));
	if (add)
		printf(changed ? "bypass added: %s %s\n" : "%s %s already bypasses limits\n",
		    kind, id);
	else
		printf(changed ? "bypass removed: %s %s\n" : "%s %s had no bypass\n",
		    kind, id);
}

void
print_bypass_list(const struct req *r, const msgpack_object *reply)
{
	static const char *const kinds[] = { "user", "guild" };
	static const char *const keys[] = { "users", "guilds" };
	const msgpack_object	*a;
	char			 id[160];
	uint32_t		 i, n = 0;
	int			 k;

	for (k = 0; k < 2; k++) {
		a = mp_get(reply, keys[k]);
		for (i = 0; i < mp_len(a); i++, n++)
			if (mp_as_str(&a->via.array.ptr[i], id, sizeof(id)) != NULL)
				printf("%s %s\n", kinds[k], id);
	}
	if (n == 0)
		printf("no bypasses\n");
}

void
print_reset(const struct req *r, const msgpack_object *reply)
{
	char	 user[160], model[160], at[64];

	if (mp_str(reply, "user", user, sizeof(user)) == NULL)
		snprintf(user, sizeof(user), "%s", req_str(r, "user"));
	printf("reset: user %s", user);
	if (mp_str(reply, "model", model, sizeof(model)) != NULL)
		printf(" %s", model);
	printf(": limits count from %s\n",
	    mp_str(reply, "reset_at", at, sizeof(at)) ? at : "now");
}

/* " input $2.50, output $10.00, ...": a price's non-nil fields. */
static void
print_price_fields(const msgpack_object *p)
{
	static const char *const keys[] = { "input", "output", "cached", "cache_write" };
	static const char *const names[] = { "input", "output", "cached", "cache-write" };
	const msgpack_object	*o;
	char			 m[64];
	int			 i, n = 0;

	for (i = 0; i < 4; i++) {
		o = mp_get(p, keys[i]);
		if (o == NULL || o->type == MSGPACK_OBJECT_NIL)
			continue;
		printf("%s %s %s", n++ ? "," : "", names[i], fmt_money(mp_as_num(o, 0), m, sizeof(m)));
	}
}

void
print_price_set(const struct req *r, const msgpack_object *reply)
{
	const msgpack_object	*p = mp_get(reply, "price");
	char			 model[160];

	printf("price set: %s per 1M tokens:",
	    mp_str(p, "model", model, sizeof(model)) ? model : req_str(r, "MODEL"));
	print_price_fields(p);
	printf("\n");
}

void
print_price_list(const struct req *r, const msgpack_object *reply)
{
	static struct table	 t;
	static const char *const keys[] = { "input", "output", "cached", "cache_write" };
	const msgpack_object	*prices = mp_get(reply, "prices"), *p, *o;
	const char		*cells[5] = { "MODEL", "INPUT", "OUTPUT", "CACHED",
	    "CACHE-WRITE" };
	char			 c[5][160];
	uint32_t		 i;
	int			 k;

	if (mp_len(prices) == 0) {
		printf("no prices\n");
		return;
	}
	printf("USD per 1M tokens\n");
	t.ncol = 5;
	table_row(&t, cells);
	for (i = 0; i < mp_len(prices); i++) {
		p = &prices->via.array.ptr[i];
		cells[0] = mp_str(p, "model", c[0], sizeof(c[0]));
		for (k = 0; k < 4; k++) {
			o = mp_get(p, keys[k]);
			cells[k + 1] = o == NULL || o->type == MSGPACK_OBJECT_NIL ? "-" :
			    fmt_money(mp_as_num(o, 0), c[k + 1], sizeof(c[k + 1]));
		}
		table_row(&t, cells);
	}
	table_print(&t, "", false);
}

void
print_price_rm(const struct req *r, const msgpack_object *reply)
{
	printf("%s: %s\n", mp_bool(reply, "removed") ? "price removed" : "no price for",
	    req_str(r, "MODEL"));
}

void
print_clock(const struct req *r, const msgpack_object *reply)
{
	char	 t[64];

	printf("clock: now %s\n", mp_str(reply, "now", t, sizeof(t)) ? t : "?");
}

static void
heading(const char *s, bool colour)
{
	printf(colour ? "\033[1m%s\033[0m\n" : "%s\n", s);
}

/* "2026-12-01" from an ISO time string in m[key]. */
static char *
date_of(const msgpack_object *m, const char *key, char *buf, size_t len)
{
	if (mp_str(m, key, buf, len) == NULL)
		snprintf(buf, len, "?");
	else if (strlen(buf) > 10)
		buf[10] = '\0';
	return buf;
}

/* A grouping of stats as a table: NAME, requests, prompt, completion, total, cost. */
static void
print_group(const msgpack_object *arr, const char *title, const char *name_key,
    const char *none, bool ranked, bool colour)
{
	static struct table	 t;
	const char		*cells[TCOLS];
	char			 v[7][96];
	uint32_t		 i;

	printf("\n");
	heading(title, colour);
	if (mp_len(arr) == 0) {
		printf("  (none)\n");
		return;
	}
	memset(&t, 0, sizeof(t));
	t.ncol = ranked ? 7 : 6;
	t.nleft = ranked ? 2 : 1;
	i = 0;
	if (ranked)
		cells[i++] = "#";
	cells[i++] = name_key;
	cells[i++] = "requests", cells[i++] = "prompt", cells[i++] = "completion";
	cells[i++] = "total", cells[i++] = "cost";
	table_row(&t, cells);
	for (i = 0; i < mp_len(arr); i++) {
		const msgpack_object	*o = &arr->via.array.ptr[i];
		int			 c = 0;

		if (ranked) {
			snprintf(v[6], sizeof(v[6]), "%u", i + 1);
			cells[c++] = v[6];
		}
		if (strcmp(name_key, "date") == 0)
			cells[c++] = date_of(o, "date", v[0], sizeof(v[0]));
		else if ((cells[c] = mp_str(o, name_key, v[0], sizeof(v[0]))) == NULL)
			cells[c] = none;
		if (strcmp(name_key, "date") != 0)
			c++;
		cells[c++] = fmt_int(mp_int(o, "requests", 0), v[1], sizeof(v[1]));
		cells[c++] = fmt_int(mp_int(o, "prompt", 0), v[2], sizeof(v[2]));
		cells[c++] = fmt_int(mp_int(o, "completion", 0), v[3], sizeof(v[3]));
		cells[c++] = fmt_int(mp_int(o, "total", 0), v[4], sizeof(v[4]));
		cells[c++] = fmt_usd_short(mp_num(o, "cost_usd", 0), v[5], sizeof(v[5]));
		table_row(&t, cells);
	}
	table_print(&t, "  ", false);
}

#define SPARK_MAX	100	/* columns; longer ranges add days up per column */

/*
 * The daily totals as a sparkline: ▁ for nothing, ▂ to █ for a little to
 * the peak, one column per day (or per few days for long ranges).
 */
static void
print_sparkline(const msgpack_object *days, bool colour)
{
	static const char *const bars[] = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };
	int64_t		 col[SPARK_MAX], max = 0, peak = 0;
	uint32_t	 n = mp_len(days), per, ncol, i;
	char		 a[32], b[32], p[64], pd[32];

	if (n == 0)
		return;
	per = (n + SPARK_MAX - 1) / SPARK_MAX;
	ncol = (n + per - 1) / per;
	memset(col, 0, sizeof(col));
	pd[0] = '\0';
	for (i = 0; i < n; i++) {
		const msgpack_object	*d = &days->via.array.ptr[i];
		int64_t			 v = mp_int(d, "total", 0);

		col[i / per] += v;
		if (v > peak) {
			peak = v;
			date_of(d, "date", pd, sizeof(pd));
		}
	}
	for (i = 0; i < ncol; i++)
		if (col[i] > max)
			max = col[i];
	printf("\n");
	date_of(&days->via.array.ptr[0], "date", a, sizeof(a));
	date_of(&days->via.array.ptr[n - 1], "date", b, sizeof(b));
	if (per == 1)
		printf("%s%s%s", colour ? "\033[1m" : "", "daily total tokens", colour ? "\033[0m" : "");
	else
		printf("%stotal tokens per %u days%s", colour ? "\033[1m" : "", per,
		    colour ? "\033[0m" : "");
	if (peak > 0)
		printf(" (peak %s on %s)", fmt_int(peak, p, sizeof(p)), pd);
	printf("\n  %s ", a);
	if (colour)
		fputs("\033[36m", stdout);
	for (i = 0; i < ncol; i++)
		fputs(bars[col[i] <= 0 || max <= 0 ? 0 : 1 + (int)((col[i] * 7 - 1) / max)],
		    stdout);
	if (colour)
		fputs("\033[0m", stdout);
	printf(" %s\n", b);
}

/*
 * stats: the range, the totals, a sparkline of the days, then the top
 * users and guilds, by model, by service and, for up to two months, the
 * days that saw usage.
 */
void
print_stats(const struct req *r, const msgpack_object *reply)
{
	static struct table	 t;
	static const char *const keys[] = { "users", "guilds", "requests", "prompt",
	    "completion", "total", "cached", "reasoning" };
	const msgpack_object	*tot = mp_get(reply, "totals"), *days = mp_get(reply, "by_day");
	const msgpack_object	*used;
	const char		*cells[2];
	char			 a[32], b[32], guild[160], v[200], title[400];
	bool			 colour = use_colour();
	int64_t			 ndays = mp_int(reply, "days", 0), until;
	size_t			 i;
	static msgpack_object	 arr;
	static msgpack_object	 nz[3660];

	date_of(reply, "since", a, sizeof(a));
	/* until is the exclusive end: show the last day */
	if (mp_str(reply, "until", b, sizeof(b)) != NULL &&
	    tokq_parse_time(b, &until) == 0) {
		tokq_fmt_time(until - 86400, b, sizeof(b));
		b[10] = '\0';
	}
	if (mp_str(reply, "guild", guild, sizeof(guild)) != NULL)
		snprintf(v, sizeof(v), "guild %s", guild);
	else
		snprintf(v, sizeof(v), "all guilds");
	snprintf(title, sizeof(title), "usage %s to %s (%lld day%s, UTC), %s", a, b,
	    (long long)ndays, ndays == 1 ? "" : "s", v);
	heading(title, colour);
	memset(&t, 0, sizeof(t));
	t.ncol = 2;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char	 n[64];

		cells[0] = keys[i];
		cells[1] = fmt_int(mp_int(tot, keys[i], 0), n, sizeof(n));
		table_row(&t, cells);
	}
	cells[0] = "cost";
	cells[1] = fmt_usd_short(mp_num(tot, "cost_usd", 0), v, sizeof(v));
	table_row(&t, cells);
	table_print(&t, "  ", false);

	print_sparkline(days, colour);
	print_group(mp_get(reply, "top_users"), "top users", "user", "-", true, colour);
	print_group(mp_get(reply, "top_guilds"), "top guilds", "guild", "(no guild)", true,
	    colour);
	print_group(mp_get(reply, "by_model"), "by model", "model", "(none)", false, colour);
	print_group(mp_get(reply, "by_service"), "by service", "service", "(none)", false,
	    colour);
	if (mp_len(days) == 0 || mp_len(days) > 62)
		return;
	/* the days with usage only */
	arr.type = MSGPACK_OBJECT_ARRAY;
	arr.via.array.ptr = nz;
	arr.via.array.size = 0;
	for (i = 0; i < mp_len(days); i++) {
		used = &days->via.array.ptr[i];
		if (mp_int(used, "requests", 0) > 0)
			nz[arr.via.array.size++] = *used;
	}
	print_group(&arr, "by day", "date", "-", false, colour);
}

/* Ids as mentions in Discord: a snowflake becomes <@id>, the rest is escaped. */
static void
md_user(const char *u)
{
	size_t	 n = strlen(u), i;

	if (n >= 15 && n <= 21 && strspn(u, "0123456789") == n) {
		printf("<@%s>", u);
		return;
	}
	for (i = 0; i < n; i++) {
		if (strchr("\\*_~`|<>@#[]():-", u[i]) != NULL)
			putchar('\\');
		putchar(u[i]);
	}
}

/*
 * report: the top users of the period with 🥇🥈🥉, their tokens in the
 * period and all time and the period's estimated cost, then the grand
 * totals.  --format markdown writes it for a Discord channel.
 */
void
print_report(const struct req *r, const msgpack_object *reply)
{
	static const char *const medals[] = { "🥇", "🥈", "🥉" };
	const msgpack_object	*rows = mp_get(reply, "rows"), *tot = mp_get(reply, "totals");
	const char		*fmt = req_str(r, "format");
	char			 period[16], since[32], until[32], title[256], in[200];
	char			 user[160], a[64], b[64], c[64], d[64], gen[64], when[32];
	bool			 md = fmt != NULL && strcmp(fmt, "markdown") == 0;
	uint32_t		 i, n = mp_len(rows);
	int64_t			 u;

	if (mp_str(reply, "period", period, sizeof(period)) == NULL)
		snprintf(period, sizeof(period), "day");
	date_of(reply, "since", since, sizeof(since));
	if (mp_str(reply, "until", until, sizeof(until)) != NULL &&
	    tokq_parse_time(until, &u) == 0) {
		tokq_fmt_time(u - 86400, until, sizeof(until));
		until[10] = '\0';
	}
	if (strcmp(period, "week") == 0) {
		snprintf(when, sizeof(when), "this week");
		snprintf(title, sizeof(title), "this week, %s to %s", since, until);
	} else if (strcmp(period, "month") == 0) {
		snprintf(when, sizeof(when), "this month");
		since[7] = '\0';
		snprintf(title, sizeof(title), "this month, %s", since);
	} else {
		snprintf(when, sizeof(when), "today");
		snprintf(title, sizeof(title), "today, %s", since);
	}
	in[0] = '\0';
	if (mp_str(reply, "guild", user, sizeof(user)) != NULL)
		snprintf(in, sizeof(in), " in guild %s", user);
	if (mp_str(reply, "generated_at", gen, sizeof(gen)) == NULL)
		snprintf(gen, sizeof(gen), "?");

	printf(md ? "## 📊 Token report: %s (UTC)%s\n" : "📊 Token report: %s (UTC)%s\n",
	    title, in);
	if (n == 0)
		printf("\nNo usage %s.\n", when);
	else
		printf(md ? "**🏆 Top %u user%s by tokens**\n\n" : "🏆 Top %u user%s by tokens\n\n",
		    n, n == 1 ? "" : "s");
	for (i = 0; i < n; i++) {
		const msgpack_object	*o = &rows->via.array.ptr[i];
		int64_t			 rank = mp_int(o, "rank", i + 1);

		if (mp_str(o, "user", user, sizeof(user)) == NULL)
			snprintf(user, sizeof(user), "?");
		fmt_int(mp_int(o, "period_total", 0), a, sizeof(a));
		fmt_int(mp_int(o, "all_time_total", 0), b, sizeof(b));
		fmt_usd_short(mp_num(o, "cost_usd", 0), c, sizeof(c));
		if (md) {
			if (rank <= 3)
				printf("%s **%lld.** ", medals[rank - 1], (long long)rank);
			else
				printf("**%lld.** ", (long long)rank);
			md_user(user);
			printf(" · **%s** tokens %s · %s all time · est. %s\n", a, when, b, c);
		} else {
			if (rank <= 3)
				printf("%s %lld. %s\n", medals[rank - 1], (long long)rank, user);
			else
				printf("   %lld. %s\n", (long long)rank, user);
			printf("      %s tokens %s · %s all time · est. %s\n", a, when, b, c);
		}
	}
	fmt_int(mp_int(tot, "total", 0), a, sizeof(a));
	fmt_usd_short(mp_num(tot, "cost_usd", 0), b, sizeof(b));
	fmt_int(mp_int(tot, "all_time_total", 0), c, sizeof(c));
	fmt_usd_short(mp_num(tot, "all_time_cost_usd", 0), d, sizeof(d));
	printf(md ? "\n**📈 Grand totals:** " : "\n📈 Grand totals: ");
	printf("%s tokens %s · %s · %lld user%s · %lld request%s\n", a, when, b,
	    (long long)mp_int(tot, "users", 0), mp_int(tot, "users", 0) == 1 ? "" : "s",
	    (long long)mp_int(tot, "requests", 0), mp_int(tot, "requests", 0) == 1 ? "" : "s");
	printf(md ? "All time: %s tokens · %s\n" : "   all time: %s tokens · %s\n", c, d);
	if (strlen(gen) >= 16)
		gen[16] = '\0', gen[10] = ' ';
	printf(md ? "-# generated %s UTC by tokq\n" : "(generated %s UTC)\n", gen);
}

/* log: one aligned row per event, newest first. */
void
print_log(const struct req *r, const msgpack_object *reply)
{
	static struct table	 t;
	static const char *const hdr[] = { "time (UTC)", "user", "guild", "model", "kind",
	    "service", "prompt", "completion", "total", "cost" };
	static const char *const skeys[] = { "at", "user", "guild", "model", "kind",
	    "service" };
	const msgpack_object	*evs = mp_get(reply, "events");
	const char		*cells[TCOLS];
	char			 v[10][96];
	uint32_t		 i;
	int			 k;

	if (mp_len(evs) == 0) {
		printf("no events\n");
		return;
	}
	memset(&t, 0, sizeof(t));
	t.ncol = 10;
	t.nleft = 6;
	table_row(&t, (const char **)hdr);
	for (i = 0; i < mp_len(evs); i++) {
		const msgpack_object	*e = &evs->via.array.ptr[i];

		for (k = 0; k < 6; k++)
			cells[k] = mp_str(e, skeys[k], v[k], sizeof(v[k]));
		if (cells[0] != NULL && strlen(v[0]) >= 19) {
			v[0][10] = ' ';
			v[0][19] = '\0';
		}
		cells[6] = fmt_int(mp_int(e, "prompt", 0), v[6], sizeof(v[6]));
		cells[7] = fmt_int(mp_int(e, "completion", 0), v[7], sizeof(v[7]));
		cells[8] = fmt_int(mp_int(e, "total", 0), v[8], sizeof(v[8]));
		cells[9] = fmt_usd_short(mp_num(e, "cost_usd", 0), v[9], sizeof(v[9]));
		table_row(&t, cells);
	}
	table_print(&t, "", false);
}
