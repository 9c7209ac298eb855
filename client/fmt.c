/*
 * fmt.c: numbers, money, rules and tables as people read them.
 *
 * The screens' shared words: counts with thousands separators, money as
 * $0.000185 (or shorter in summaries), a rule as "user 42 tokens/30d", and
 * a little table that sizes its columns.  Nothing here prints a reply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

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
char *
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
char *
fmt_amount(const char *metric, const msgpack_object *o, char *buf, size_t len)
{
	if (o == NULL || o->type == MSGPACK_OBJECT_NIL)
		snprintf(buf, len, "-");
	else if (mp_as_num(o, 0) == -1)
		snprintf(buf, len, "unlimited");
	else if (metric != NULL && strcmp(metric, "cost") == 0)
		fmt_money(mp_as_num(o, 0), buf, len);
	else
		fmt_int(mp_as_int(o, 0), buf, len);
	return buf;
}

/*
 * A rule in a few words: "user 42 gpt-4o tokens/30d", "default tokens/day",
 * "members 7 each-model cost/month"; an each-model rule evaluated for one
 * model says which: "default gpt-4o (each model) tokens/30d".
 */
char *
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
char *
used_of(const msgpack_object *l, char *buf, size_t len)
{
	char	 metric[32], u[64], lim[64];
	const char *met = mp_str(l, "metric", metric, sizeof(metric));

	snprintf(buf, len, "%s / %s", fmt_amount(met, mp_get(l, "used"), u, sizeof(u)),
	    fmt_amount(met, mp_get(l, "limit"), lim, sizeof(lim)));
	return buf;
}

/* Colour only for a terminal, and never with NO_COLOR set (no-color.org). */
bool
use_colour(void)
{
	const char	*nc = getenv("NO_COLOR");

	return isatty(STDOUT_FILENO) && (nc == NULL || nc[0] == '\0');
}

void
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

void
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

/*
 * Money for a summary: "$1,234.50" from a dollar up, "$0.0375" (2 to 4
 * decimals) from a cent up, two significant digits below ("$0.00037").
 */
char *
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
