/*
 * output.c: what tokq prints.
 *
 * Two faces of one reply.  --json writes the reply map, minus "v" and
 * "code", as one JSON object: generically, so every key the daemon adds
 * shows up without a change here.  Otherwise each command's printer writes
 * a few compact lines for a bot author at a terminal or a log: numbers with
 * thousands separators, money as $0.000185, rules as "user 42 tokens/30d".
 * The reply has been checked (tokq_frame_check, then a map with code 0);
 * printers still treat every key as possibly absent or of another type.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define GAUGE_WIDTH	20

/* Reply access: a key of a map, NULL when absent or when m is no map. */
const msgpack_object *
mp_get(const msgpack_object *m, const char *key)
{
	size_t		 n = strlen(key);
	uint32_t	 i;

	if (m == NULL || m->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (i = 0; i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
		    memcmp(k->via.str.ptr, key, n) == 0)
			return &m->via.map.ptr[i].val;
	}
	return NULL;
}

static bool
obj_is_str(const msgpack_object *o, const char *s)
{
	return o != NULL && o->type == MSGPACK_OBJECT_STR &&
	    o->via.str.size == strlen(s) && memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

/* True iff m[key] is the string s. */
bool
mp_is(const msgpack_object *m, const char *key, const char *s)
{
	return obj_is_str(mp_get(m, key), s);
}

static double
obj_num(const msgpack_object *o, double def)
{
	if (o == NULL)
		return def;
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return (double)o->via.u64;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return (double)o->via.i64;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return o->via.f64;
	default:
		return def;
	}
}

static int64_t
obj_int(const msgpack_object *o, int64_t def)
{
	if (o == NULL)
		return def;
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return o->via.u64 > INT64_MAX ? INT64_MAX : (int64_t)o->via.u64;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return o->via.i64;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return (int64_t)o->via.f64;
	default:
		return def;
	}
}

/* m[key] as a number (int or float), or def when absent, nil or no number. */
int64_t
mp_int(const msgpack_object *m, const char *key, int64_t def)
{
	return obj_int(mp_get(m, key), def);
}

double
mp_num(const msgpack_object *m, const char *key, double def)
{
	return obj_num(mp_get(m, key), def);
}

bool
mp_bool(const msgpack_object *m, const char *key)
{
	const msgpack_object	*o = mp_get(m, key);

	return o != NULL && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean;
}

static const char *
obj_str(const msgpack_object *o, char *buf, size_t len)
{
	size_t	 n;

	if (o == NULL || o->type != MSGPACK_OBJECT_STR || len == 0)
		return NULL;
	n = o->via.str.size < len ? o->via.str.size : len - 1;
	memcpy(buf, o->via.str.ptr, n);
	buf[n] = '\0';
	return buf;
}

/* m[key] copied into buf (cut to fit) when it is a string; else NULL. */
const char *
mp_str(const msgpack_object *m, const char *key, char *buf, size_t len)
{
	return obj_str(mp_get(m, key), buf, len);
}

static uint32_t
mp_len(const msgpack_object *a)
{
	return a != NULL && a->type == MSGPACK_OBJECT_ARRAY ? a->via.array.size : 0;
}

/* JSON */

void
json_string(FILE *f, const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s, *end = p + n;
	size_t			 len, i;

	fputc('"', f);
	while (p < end) {
		unsigned char c = *p;

		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
			p++;
			continue;
		}
		if (c < 0x20) {
			switch (c) {
			case '\n': fputs("\\n", f); break;
			case '\r': fputs("\\r", f); break;
			case '\t': fputs("\\t", f); break;
			case '\b': fputs("\\b", f); break;
			case '\f': fputs("\\f", f); break;
			default: fprintf(f, "\\u%04x", c); break;
			}
			p++;
			continue;
		}
		if (c < 0x80) {
			fputc(c, f);
			p++;
			continue;
		}
		/* multi-byte: pass valid UTF-8 through, replace the rest */
		len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
		if (c >= 0xf5)
			len = 0;
		for (i = 1; i < len; i++)
			if (p + i >= end || (p[i] & 0xc0) != 0x80)
				len = 0;
		if (len == 3 && ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0)))
			len = 0;	/* overlong, surrogate */
		if (len == 4 && ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90)))
			len = 0;	/* overlong, beyond U+10FFFF */
		if (len == 0) {
			fputs("\\ufffd", f);
			p++;
		} else {
			fwrite(p, 1, len, f);
			p += len;
		}
	}
	fputc('"', f);
}

/* A float as "%.9f" with trailing zeros, then a trailing ".", cut; NaN → null. */
static void
json_float(FILE *f, double d)
{
	char	 buf[400];
	size_t	 n;

	if (d != d || d > 1e300 || d < -1e300) {
		fputs("null", f);
		return;
	}
	n = snprintf(buf, sizeof(buf), "%.9f", d);
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	while (n > 0 && buf[n - 1] == '0')
		n--;
	if (n > 0 && buf[n - 1] == '.')
		n--;
	buf[n] = '\0';
	fputs(strcmp(buf, "-0") == 0 ? "0" : buf, f);
}

static void
json_base64(FILE *f, const unsigned char *p, size_t n)
{
	static const char	 b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t		 v;
	size_t			 i;

	fputc('"', f);
	for (i = 0; i + 2 < n; i += 3) {
		v = p[i] << 16 | p[i + 1] << 8 | p[i + 2];
		fputc(b64[v >> 18], f), fputc(b64[(v >> 12) & 63], f);
		fputc(b64[(v >> 6) & 63], f), fputc(b64[v & 63], f);
	}
	if (n - i == 1) {
		v = p[i] << 16;
		fputc(b64[v >> 18], f), fputc(b64[(v >> 12) & 63], f);
		fputs("==", f);
	} else if (n - i == 2) {
		v = p[i] << 16 | p[i + 1] << 8;
		fputc(b64[v >> 18], f), fputc(b64[(v >> 12) & 63], f);
		fputc(b64[(v >> 6) & 63], f), fputc('=', f);
	}
	fputc('"', f);
}

static void	 json_obj(FILE *, const msgpack_object *);

/* A map key: JSON keys are strings, so a number key is written as one. */
static void
json_key(FILE *f, const msgpack_object *k)
{
	if (k->type == MSGPACK_OBJECT_STR)
		json_string(f, k->via.str.ptr, k->via.str.size);
	else {
		fputc('"', f);
		if (k->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			fprintf(f, "%llu", (unsigned long long)k->via.u64);
		else if (k->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
			fprintf(f, "%lld", (long long)k->via.i64);
		fputc('"', f);
	}
}

/*
 * One msgpack object as JSON.  Depth needs no guard: tokq_frame_check has
 * capped the nesting at TOKQ_NEST_MAX.  skip_vcode drops the reply's own
 * "v" and "code" at the top level.
 */
static void
json_map(FILE *f, const msgpack_object *o, bool skip_vcode)
{
	uint32_t	 i;
	bool		 first = true;

	fputc('{', f);
	for (i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];

		if (skip_vcode && (obj_is_str(&kv->key, "v") || obj_is_str(&kv->key, "code")))
			continue;
		if (!first)
			fputc(',', f);
		first = false;
		json_key(f, &kv->key);
		fputc(':', f);
		json_obj(f, &kv->val);
	}
	fputc('}', f);
}

static void
json_obj(FILE *f, const msgpack_object *o)
{
	uint32_t	 i;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		fputs("null", f);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		fputs(o->via.boolean ? "true" : "false", f);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		fprintf(f, "%llu", (unsigned long long)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		fprintf(f, "%lld", (long long)o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		json_float(f, o->via.f64);
		break;
	case MSGPACK_OBJECT_STR:
		json_string(f, o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN:
		json_base64(f, (const unsigned char *)o->via.bin.ptr, o->via.bin.size);
		break;
	case MSGPACK_OBJECT_ARRAY:
		fputc('[', f);
		for (i = 0; i < o->via.array.size; i++) {
			if (i > 0)
				fputc(',', f);
			json_obj(f, &o->via.array.ptr[i]);
		}
		fputc(']', f);
		break;
	case MSGPACK_OBJECT_MAP:
		json_map(f, o, false);
		break;
	default:
		fputs("null", f);	/* ext: nothing JSON can say */
		break;
	}
}

/* The whole reply as one line of JSON, without "v" and "code". */
void
json_reply(FILE *f, const msgpack_object *reply)
{
	json_map(f, reply, true);
	fputc('\n', f);
}

/* Numbers for people */

/* 1500000 -> "1,500,000". */
char *
fmt_int(int64_t v, char *buf, size_t len)
{
	char		 digits[32], out[48];
	uint64_t	 u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	int		 n, i, o = 0;

	n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)u);
	if (v < 0)
		out[o++] = '-';
	for (i = 0; i < n; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
	snprintf(buf, len, "%s", out);
	return buf;
}

/*
 * Money for people: "$0.000185", "$2.50", "$1,234.50": up to 6 decimals,
 * at least 2, and more only when 6 would show a non-zero amount as zero.
 */
static char *
fmt_money(double usd, char *buf, size_t len)
{
	char		 tmp[64], whole[48], *dot;
	size_t		 n;
	bool		 neg = usd < 0;

	if (neg)
		usd = -usd;
	if (usd != usd || usd > 1e15) {
		snprintf(buf, len, "$?");
		return buf;
	}
	snprintf(tmp, sizeof(tmp), "%.6f", usd);
	if (strcmp(tmp, "0.000000") == 0 && usd > 0)
		snprintf(tmp, sizeof(tmp), "%.9f", usd);
	dot = strchr(tmp, '.');
	n = strlen(tmp);
	while (n > (size_t)(dot - tmp) + 3 && tmp[n - 1] == '0')
		n--;
	tmp[n] = '\0';
	*dot = '\0';
	fmt_int(strtoll(tmp, NULL, 10), whole, sizeof(whole));
	snprintf(buf, len, "%s$%s.%s", neg ? "-" : "", whole, dot + 1);
	return buf;
}

/* An amount of metric: money for cost, a count otherwise; -1 unlimited. */
static char *
fmt_amount(const char *metric, const msgpack_object *o, char *buf, size_t len)
{
	if (o == NULL || o->type == MSGPACK_OBJECT_NIL)
		snprintf(buf, len, "-");
	else if (obj_num(o, 0) == -1)
		snprintf(buf, len, "unlimited");
	else if (metric != NULL && strcmp(metric, "cost") == 0)
		fmt_money(obj_num(o, 0), buf, len);
	else
		fmt_int(obj_int(o, 0), buf, len);
	return buf;
}

/*
 * A rule in a few words: "user 42 gpt-4o tokens/30d", "default tokens/day",
 * "members 7 each-model cost/month"; an each-model rule evaluated for one
 * model says which: "default gpt-4o (each model) tokens/30d".
 */
static char *
rule_label(const msgpack_object *l, char *buf, size_t len)
{
	char	 sel[32], subj[160], model[160], applies[160], metric[32], win[32];
	char	 m[400];

	if (mp_str(l, "selector", sel, sizeof(sel)) == NULL)
		snprintf(sel, sizeof(sel), "?");
	if (mp_str(l, "subject", subj, sizeof(subj)) == NULL)
		subj[0] = '\0';
	if (mp_str(l, "model", model, sizeof(model)) == NULL)
		m[0] = '\0';
	else if (strcmp(model, "*") != 0)
		snprintf(m, sizeof(m), " %s", model);
	else if (mp_str(l, "applies_to", applies, sizeof(applies)) != NULL)
		snprintf(m, sizeof(m), " %s (each model)", applies);
	else
		snprintf(m, sizeof(m), " each-model");
	if (mp_str(l, "metric", metric, sizeof(metric)) == NULL)
		snprintf(metric, sizeof(metric), "?");
	if (mp_str(l, "window", win, sizeof(win)) == NULL)
		snprintf(win, sizeof(win), "?");
	snprintf(buf, len, "%s%s%s%s %s/%s", sel, subj[0] ? " " : "", subj, m, metric, win);
	return buf;
}

/* "83,000 / 100,000" for a limit. */
static char *
used_of(const msgpack_object *l, char *buf, size_t len)
{
	char	 metric[32], u[64], lim[64];
	const char *met = mp_str(l, "metric", metric, sizeof(metric));

	snprintf(buf, len, "%s / %s", fmt_amount(met, mp_get(l, "used"), u, sizeof(u)),
	    fmt_amount(met, mp_get(l, "limit"), lim, sizeof(lim)));
	return buf;
}

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
		if (obj_num(asked, 0) > 0)
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
			printf("%s%lld", i ? ", " : "", (long long)obj_int(&events->via.array.ptr[i], 0));
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
		printf("crossed %lld %%", (long long)obj_int(crossed, 0));
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

/* Colour only for a terminal, and never with NO_COLOR set (no-color.org). */
static bool
use_colour(void)
{
	const char	*nc = getenv("NO_COLOR");

	return isatty(STDOUT_FILENO) && (nc == NULL || nc[0] == '\0');
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

/* A little table: cells copied in, columns sized, first column left. */
#define TROWS	256
#define TCOLS	12
struct table {
	int	 ncol, nrow, more;
	int	 nleft;		/* columns aligned left; 0: the first only */
	char	 cell[TROWS][TCOLS][72];
};

static void
table_row(struct table *t, const char **cells)
{
	int	 i;

	if (t->nrow == TROWS) {
		t->more++;
		return;
	}
	for (i = 0; i < t->ncol; i++)
		snprintf(t->cell[t->nrow][i], sizeof(t->cell[0][0]), "%s",
		    cells[i] ? cells[i] : "-");
	t->nrow++;
}

static void
table_print(const struct table *t, const char *indent, bool left_all)
{
	int	 w[TCOLS] = { 0 }, r, c, n;

	for (r = 0; r < t->nrow; r++)
		for (c = 0; c < t->ncol; c++)
			if ((n = strlen(t->cell[r][c])) > w[c])
				w[c] = n;
	left_all |= t->nleft >= t->ncol;
	for (r = 0; r < t->nrow; r++) {
		fputs(indent, stdout);
		for (c = 0; c < t->ncol; c++) {
			bool	 left = c == 0 || left_all || c < t->nleft;

			if (c == t->ncol - 1 && left)
				printf("%s", t->cell[r][c]);
			else if (left)
				printf("%-*s  ", w[c], t->cell[r][c]);
			else
				printf("%*s%s", w[c], t->cell[r][c], c < t->ncol - 1 ? "  " : "");
		}
		fputc('\n', stdout);
	}
	if (t->more)
		printf("%s... and %d more\n", indent, t->more);
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
		snprintf(labels[i], sizeof(labels[i]), "%s/%s (%s%s%s%s%s)", met ? met : "?",
		    win, sel, subj[0] ? " " : "", subj, model[0] ? ", " : "", model);
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
		fputs(fmt_int(obj_int(o, 0), buf, sizeof(buf)), stdout);
		break;
	case MSGPACK_OBJECT_STR:
		fwrite(o->via.str.ptr, 1, o->via.str.size, stdout);
		break;
	default:
		json_obj(stdout, o);
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

		if (kv->key.type != MSGPACK_OBJECT_STR || obj_is_str(&kv->key, "v") ||
		    obj_is_str(&kv->key, "code"))
			continue;
		printf("%.*s:%*s ", (int)kv->key.via.str.size, kv->key.via.str.ptr,
		    w - (int)kv->key.via.str.size, "");
		print_plain(&kv->val);
		fputc('\n', stdout);
	}
}

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
			if (obj_str(&a->via.array.ptr[i], id, sizeof(id)) != NULL)
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
		printf("%s %s %s", n++ ? "," : "", names[i], fmt_money(obj_num(o, 0), m, sizeof(m)));
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
			    fmt_money(obj_num(o, 0), c[k + 1], sizeof(c[k + 1]));
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

/* The admin views: stats, report, log. */

/*
 * Money for a summary: "$1,234.50" from a dollar up, "$0.0375" (2 to 4
 * decimals) from a cent up, two significant digits below ("$0.00037").
 */
static char *
fmt_usd_short(double usd, char *buf, size_t len)
{
	char	 tmp[64], whole[48], *dot;
	double	 p = 1000;
	size_t	 n;
	int	 dec;

	if (usd != usd || usd < 0 || usd > 1e15)
		return fmt_money(usd, buf, len);
	if (usd >= 0.995)
		dec = 2;
	else if (usd >= 0.00995 || usd == 0)
		dec = 4;
	else
		for (dec = 3; dec < 12 && usd * p < 9.95; dec++)
			p *= 10;
	n = snprintf(tmp, sizeof(tmp), "%.*f", dec, usd);
	while (dec > 2 && tmp[n - 1] == '0')
		tmp[--n] = '\0', dec--;
	dot = strchr(tmp, '.');
	*dot = '\0';
	fmt_int(strtoll(tmp, NULL, 10), whole, sizeof(whole));
	snprintf(buf, len, "$%s.%s", whole, dot + 1);
	return buf;
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
