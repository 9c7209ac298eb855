/*
 * tokq.c: the command-line client of tokqd.
 *
 * The grammar is data: cmds[] below lists every command with its words, its
 * wire op, its flags and its printer.  One matcher walks argv against it and
 * gives `tokq help`, `tokq CMD --help` and every usage error (exit 64) for
 * free.  Then tokq does one thing: one request frame, one reply frame, print,
 * exit with the code the contract names.  Bots spawn it around every LLM
 * call, so start-up is argv parsing and one connect, nothing more.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define USAGE_JSON_MAX	(900 * 1024)	/* leaves room in a 1 MiB frame */

static int	 check_check(const struct req *);
static int	 check_record(const struct req *);
static int	 check_span(const struct req *);

/* Flags that several commands share. */
#define FL_USER(o)	{ "user", "U", K_ID, "user", NULL, o, "the user (any id: a snowflake, a UUID)" }
#define FL_GUILD	{ "guild", "G", K_ID, "guild", NULL, 0, "the guild (server) the request comes from" }
#define FL_CHANNEL	{ "channel", "C", K_ID, "channel", NULL, 0, "the channel" }
#define FL_MODEL(o)	{ "model", "M", K_ID, "model", NULL, o, "the model" }
#define FL_END		{ NULL, NULL, 0, NULL, NULL, 0, NULL }

/* A rule's selector (group 1), model (group 2), metric (group 3) and window. */
#define FL_SELECTOR(o)							\
	{ "user", "U", K_SEL, "user", NULL, o, "this user" },		\
	{ "members", "G", K_SEL, "members", NULL, o, "each user, when acting in guild G" }, \
	{ "plan", "P", K_SEL, "plan", NULL, o, "each user on plan P" },	\
	{ "default", NULL, K_SEL0, "default", NULL, o, "each user, everywhere" }, \
	{ "guild", "G", K_SEL, "guild", NULL, o, "guild G's pooled total" }, \
	{ "global", NULL, K_SEL0, "global", NULL, o, "everything pooled" }
#define FL_RULEMODEL							\
	{ "model", "M", K_ID, "model", NULL, F_GROUP(2), "model M only (default: all models pooled)" }, \
	{ "each-model", NULL, K_CONST, "model", "*", F_GROUP(2), "each model separately" }
#define FL_PER								\
	{ "per", "WINDOW", K_WINDOW, "window", NULL, 0, "30d (default), 24h, 90m, day, week or month" }

#define G_SEL_ONE	(F_GROUP(1) | F_ONE)
#define G_MET_ONE	(F_GROUP(3) | F_ONE)

static const struct flag f_check[] = {
	FL_USER(F_REQ), FL_GUILD, FL_CHANNEL, FL_MODEL(0),
	{ "tokens", "N", K_TOKENS, "tokens", NULL, 0, "tokens this call is expected to use" },
	{ "cost", "USD", K_USD, "cost", NULL, 0, "cost this call is expected to have" },
	{ "reserve", NULL, K_BOOL, "reserve", NULL, 0, "hold the estimate until recorded or released" },
	{ "ttl", "S", K_TTL, "ttl", NULL, 0, "seconds the hold lasts (default 300)" },
	FL_END
};

static const struct flag f_record[] = {
	FL_USER(F_REQ), FL_GUILD, FL_CHANNEL,
	FL_MODEL(0),	/* required unless --usage-json: check_record */
	{ "prompt", "N", K_TOKENS, "prompt", NULL, 0, "input tokens, cached included" },
	{ "completion", "N", K_TOKENS, "completion", NULL, 0, "output tokens, reasoning included" },
	{ "total", "N", K_TOKENS, "total", NULL, 0, "total tokens (default prompt + completion)" },
	{ "cached", "N", K_TOKENS, "cached", NULL, 0, "prompt tokens read from a cache" },
	{ "cache-write", "N", K_TOKENS, "cache_write", NULL, 0, "prompt tokens written to a cache" },
	{ "reasoning", "N", K_TOKENS, "reasoning", NULL, 0, "completion tokens spent reasoning" },
	{ "cost", "USD", K_USD, "cost", NULL, 0, "cost (default: from the price table)" },
	{ "service", "S", K_ID, "service", NULL, 0, "the bot or service" },
	{ "kind", "K", K_ID, "kind", NULL, 0, "the kind of call (chat, summary, ...)" },
	{ "session", "ID", K_ID, "session", NULL, 0, "the session or conversation" },
	{ "call", "N", K_CALL, "call", NULL, 0, "the call's index in its session" },
	{ "meta", "JSON", K_JSON, "meta", NULL, 0, "a JSON document kept with the event" },
	{ "key", "KEY", K_KEY, "key", NULL, 0, "idempotency key: the same key counts once" },
	{ "hold", "ID", K_ID, "hold", NULL, 0, "settle this hold from check --reserve" },
	{ "usage-json", "FILE|-|DOCUMENT", K_USAGE, "usage_json", NULL, 0,
	    "usage JSON: a file, - for stdin, or {...} inline" },
	{ "at", "TIME", K_TIME, "at", NULL, 0, "the event's time (admin, for imports)" },
	FL_END
};

static const struct flag f_release[] = {
	{ "HOLD", "HOLD", K_ID, "hold", NULL, F_POS | F_REQ, "the hold id from check --reserve" },
	FL_END
};

static const struct flag f_usage[] = {
	FL_USER(F_REQ), FL_GUILD, FL_MODEL(0), FL_END
};

static const struct flag f_none[] = { FL_END };

static const struct flag f_limit_set[] = {
	FL_SELECTOR(G_SEL_ONE), FL_RULEMODEL,
	{ "tokens", "N", K_MLIMIT, "tokens", NULL, G_MET_ONE, "at most N tokens (-1 unlimited)" },
	{ "cost", "USD", K_MCOST, "cost", NULL, G_MET_ONE, "at most USD dollars (-1 unlimited)" },
	{ "requests", "N", K_MLIMIT, "requests", NULL, G_MET_ONE, "at most N requests (-1 unlimited)" },
	FL_PER, FL_END
};

static const struct flag f_limit_rm[] = {
	FL_SELECTOR(G_SEL_ONE), FL_RULEMODEL,
	{ "tokens", NULL, K_METRIC, "tokens", NULL, G_MET_ONE, "the tokens rule" },
	{ "cost", NULL, K_METRIC, "cost", NULL, G_MET_ONE, "the cost rule" },
	{ "requests", NULL, K_METRIC, "requests", NULL, G_MET_ONE, "the requests rule" },
	FL_PER, FL_END
};

static const struct flag f_limit_list[] = {
	FL_SELECTOR(F_GROUP(1)), FL_END
};

static const struct flag f_plan_assign[] = {
	FL_USER(F_REQ),
	{ "PLAN", "PLAN", K_ID, "plan", NULL, F_POS | F_REQ, "the plan" },
	FL_END
};

static const struct flag f_plan_unassign[] = { FL_USER(F_REQ), FL_END };

static const struct flag f_bypass[] = {
	{ "user", "U", K_ID, "user", NULL, G_SEL_ONE, "this user" },
	{ "guild", "G", K_ID, "guild", NULL, G_SEL_ONE, "every user in this guild" },
	FL_END
};

static const struct flag f_reset[] = {
	FL_USER(F_REQ),
	FL_MODEL(0),
	FL_END
};

static const struct flag f_price_set[] = {
	{ "MODEL", "MODEL", K_ID, "model", NULL, F_POS | F_REQ, "the model, or * for the fallback" },
	{ "input", "USD", K_PRICE, "input", NULL, F_REQ, "per 1M input tokens" },
	{ "output", "USD", K_PRICE, "output", NULL, F_REQ, "per 1M output tokens" },
	{ "cached", "USD", K_PRICE, "cached", NULL, 0, "per 1M cached input tokens (default: input)" },
	{ "cache-write", "USD", K_PRICE, "cache_write", NULL, 0, "per 1M cache-write tokens (default: input)" },
	FL_END
};

static const struct flag f_price_rm[] = {
	{ "MODEL", "MODEL", K_ID, "model", NULL, F_POS | F_REQ, "the model, or *" },
	FL_END
};

static const struct flag f_clock_set[] = {
	{ "TIME", "TIME", K_TIME, "at", NULL, F_POS | F_REQ, "2026-12-01T00:00:00Z or 2026-12-01" },
	FL_END
};

static const struct flag f_clock_advance[] = {
	{ "DURATION", "DURATION", K_DURATION, "seconds", NULL, F_POS | F_REQ, "90s, 15m, 2h or 3d" },
	FL_END
};

#define FL_SINCE(o)	{ "since", "T", K_TIME, "since", NULL, o, "from time T (2026-11-01 or an ISO time, UTC)" }
#define FL_UNTIL	{ "until", "T", K_TIME, "until", NULL, 0, "up to time T, excluded" }

static const struct flag f_stats[] = {
	{ "days", "N", K_DAYS, "days", NULL, F_GROUP(1), "the N days ending today (default 30)" },
	FL_SINCE(F_GROUP(1)), FL_UNTIL, FL_GUILD,
	{ "top", "N", K_TOP, "top", NULL, 0, "top N users and guilds (default 10)" },
	FL_END
};

static const struct flag f_report[] = {
	{ "period", "P", K_PERIOD, "period", NULL, 0, "day (default), week or month: the current one" },
	{ "top", "N", K_RTOP, "top", NULL, 0, "top N users (default 10)" },
	FL_GUILD,
	{ "format", "F", K_RFORMAT, NULL, NULL, 0, "text (default), markdown (for Discord) or json" },
	FL_END
};

static const struct flag f_log[] = {
	{ "user", "U", K_ID, "user", NULL, 0, "this user's events only" },
	{ "guild", "G", K_ID, "guild", NULL, 0, "this guild's events only" },
	{ "last", "N", K_LAST, "last", NULL, 0, "the last N events (default 10, at most 1000)" },
	FL_END
};

static const struct flag f_export[] = {
	FL_SINCE(0), FL_UNTIL,
	{ "user", "U", K_ID, "user", NULL, 0, "this user's events only" },
	{ "guild", "G", K_ID, "guild", NULL, 0, "this guild's events only" },
	{ "format", "F", K_XFORMAT, NULL, NULL, 0, "jsonl (default) or csv" },
	FL_END
};

static const struct flag f_import[] = {
	{ "format", "F", K_XFORMAT, NULL, NULL, 0, "jsonl or csv (default: guessed from the first line)" },
	{ "FILE", "FILE", K_LOCAL, NULL, NULL, F_POS | F_REQ, "what export wrote, or a table's CSV; - for stdin" },
	FL_END
};

/* The commands, in the order `tokq help` lists them. */
static const struct cmd cmds[] = {
	{ { "check", NULL }, "check", S_BOT, f_check, check_check, print_check,
	    "may this user make this call? (exit 1 when denied)" },
	{ { "record", NULL }, "record", S_BOT, f_record, check_record, print_record,
	    "record the usage of an LLM call" },
	{ { "release", NULL }, "release", S_BOT, f_release, NULL, print_release,
	    "free a hold that will not be used" },
	{ { "usage", NULL }, "usage", S_BOT, f_usage, NULL, print_usage,
	    "a user's limits and usage" },
	{ { "status", NULL }, "status", S_BOT, f_none, NULL, print_keys,
	    "the daemon's version, uptime, database and counts" },
	{ { "limit", "set" }, "limit_set", S_ADMIN, f_limit_set, NULL, print_limit_set,
	    "set a limit rule (again: replace its value)" },
	{ { "limit", "rm" }, "limit_rm", S_ADMIN, f_limit_rm, NULL, print_limit_rm,
	    "remove a limit rule" },
	{ { "limit", "list" }, "limit_list", S_ADMIN, f_limit_list, NULL, print_limit_list,
	    "list the limit rules" },
	{ { "plan", "assign" }, "plan_assign", S_ADMIN, f_plan_assign, NULL, print_plan,
	    "put a user on a plan" },
	{ { "plan", "unassign" }, "plan_unassign", S_ADMIN, f_plan_unassign, NULL, print_plan,
	    "take a user off their plan" },
	{ { "plan", "list" }, "plan_list", S_ADMIN, f_none, NULL, print_plan_list,
	    "list plans and who is on them" },
	{ { "bypass", "add" }, "bypass_add", S_ADMIN, f_bypass, NULL, print_bypass,
	    "always allow a user or guild (still tracked)" },
	{ { "bypass", "rm" }, "bypass_rm", S_ADMIN, f_bypass, NULL, print_bypass,
	    "remove a bypass" },
	{ { "bypass", "list" }, "bypass_list", S_ADMIN, f_none, NULL, print_bypass_list,
	    "list the bypasses" },
	{ { "reset", NULL }, "reset", S_ADMIN, f_reset, NULL, print_reset,
	    "count a user's limits from zero from now on (history stays)" },
	{ { "price", "set" }, "price_set", S_ADMIN, f_price_set, NULL, print_price_set,
	    "set a model's price per 1M tokens" },
	{ { "price", "list" }, "price_list", S_ADMIN, f_none, NULL, print_price_list,
	    "list the prices" },
	{ { "price", "rm" }, "price_rm", S_ADMIN, f_price_rm, NULL, print_price_rm,
	    "remove a model's price" },
	{ { "stats", NULL }, "stats", S_ADMIN, f_stats, check_span, print_stats,
	    "totals, top users and guilds, by model, service and day" },
	{ { "report", NULL }, "report", S_ADMIN, f_report, NULL, print_report,
	    "the period's top users with medals, ready to post" },
	{ { "log", NULL }, "log", S_ADMIN, f_log, NULL, print_log,
	    "recent events, newest first" },
	{ { "export", NULL }, "export", S_ADMIN, f_export, check_span, NULL,
	    "raw events as JSON lines or CSV", run_export },
	{ { "import", NULL }, "import", S_ADMIN, f_import, NULL, NULL,
	    "events with their times, from export or another tool", run_import },
	{ { "clock", "set" }, "clock_set", S_TEST, f_clock_set, NULL, print_clock,
	    "set the daemon's clock (tokqd --test-clock only)" },
	{ { "clock", "advance" }, "clock_advance", S_TEST, f_clock_advance, NULL, print_clock,
	    "move the daemon's clock forward (tokqd --test-clock only)" },
};
#define NCMDS	(sizeof(cmds) / sizeof(cmds[0]))

static const char *const sections[] = {
	[S_BOT] = "bot commands",
	[S_ADMIN] = "admin commands",
	[S_TEST] = "test commands",
};

/* The global flags, valid anywhere on the line. */
struct globals {
	const char	*socket;
	bool		 json;
	bool		 help;
	bool		 version;
};

/*
 * Cross-flag rules that a flag table cannot say.  Each returns 0, or prints
 * the usage error and exits 64.
 */
static int
check_check(const struct req *r)
{
	if (req_val(r, "ttl")->set && !req_val(r, "reserve")->set)
		usage_fail(r->cmd, "--ttl needs --reserve");
	return 0;
}

/* The counts that --usage-json brings itself: giving both is a usage error. */
static const char *const usage_counts[] = {
	"prompt", "completion", "total", "cached", "cache-write", "reasoning", NULL
};

static int
check_record(const struct req *r)
{
	size_t	 i;

	if (!req_val(r, "model")->set && !req_val(r, "usage-json")->set)
		usage_fail(r->cmd, "--model is required (unless --usage-json names it)");
	for (i = 0; usage_counts[i] != NULL; i++)
		if (req_val(r, "usage-json")->set && req_val(r, usage_counts[i])->set)
			usage_fail(r->cmd, "--%s and --usage-json cannot be combined "
			    "(the usage JSON carries the counts)", usage_counts[i]);
	return 0;
}

/* --since and --until, both given: a span that is empty or reversed is a usage error. */
static int
check_span(const struct req *r)
{
	const struct val	*since = req_val(r, "since"), *until = req_val(r, "until");

	if (since->set && until->set && until->i <= since->i)
		usage_fail(r->cmd, "--until must be after --since (got \"%s\" and \"%s\")",
		    until->s, since->s);
	return 0;
}

/* "limit set", or "check": a command's name in messages and help. */
const char *
cmd_name(const struct cmd *c, char *buf, size_t len)
{
	if (c->words[1] != NULL)
		snprintf(buf, len, "%s %s", c->words[0], c->words[1]);
	else
		snprintf(buf, len, "%s", c->words[0]);
	return buf;
}

/*
 * Print one usage error, on one line as the contract wants, and exit 64:
 * "tokq: check: --user is required".  ctx names the command, or is NULL.
 */
static void __attribute__((noreturn))
vusage(const char *ctx, const char *fmt, va_list ap)
{
	fputs("tokq: ", stderr);
	if (ctx != NULL)
		fprintf(stderr, "%s: ", ctx);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	exit(TOKQ_EXIT_USAGE);
}

/* A usage error of command c (NULL: before there is one). */
void
usage_fail(const struct cmd *c, const char *fmt, ...)
{
	va_list	 ap;
	char	 name[64];

	va_start(ap, fmt);
	if (c != NULL)
		cmd_name(c, name, sizeof(name));
	vusage(c ? name : NULL, fmt, ap);
}

/* A usage error in the words of a group ("limit"). */
static void __attribute__((format(printf, 2, 3), noreturn))
group_fail(const char *group, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vusage(group, fmt, ap);
}

/* Index of the flag called name in r's command (positionals too); -1 if none. */
static int
flag_index(const struct flag *f, const char *name, size_t n)
{
	int	 i;

	for (i = 0; f[i].name != NULL; i++)
		if (strlen(f[i].name) == n && strncmp(f[i].name, name, n) == 0)
			return i;
	return -1;
}

/* The parsed value of flag name; a flag that does not exist reads unset. */
const struct val *
req_val(const struct req *r, const char *name)
{
	static const struct val	 unset;
	int			 i;

	i = flag_index(r->cmd->flags, name, strlen(name));
	return i == -1 ? &unset : &r->v[i];
}

/* The string a flag was given, or NULL. */
const char *
req_str(const struct req *r, const char *name)
{
	const struct val	*v = req_val(r, name);

	return v->set ? v->s : NULL;
}

/* Levenshtein distance, capped: only "is it close" matters. */
static int
distance(const char *a, const char *b)
{
	int	 d[33], i, j, prev, tmp, la = strlen(a), lb = strlen(b);

	if (la > 32 || lb > 32)
		return 99;
	for (j = 0; j <= lb; j++)
		d[j] = j;
	for (i = 1; i <= la; i++) {
		prev = d[0];
		d[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = d[j];
			d[j] = prev + (a[i - 1] != b[j - 1]);
			if (d[j - 1] + 1 < d[j])
				d[j] = d[j - 1] + 1;
			if (tmp + 1 < d[j])
				d[j] = tmp + 1;
			prev = tmp;
		}
	}
	return d[lb];
}

static bool
close_to(const char *typed, const char *word)
{
	size_t	 n = strlen(typed);

	return (n >= 2 && strncmp(typed, word, n) == 0) ||
	    distance(typed, word) <= (n > 4 ? 2 : 1);
}

/*
 * Write " (did you mean a, b?)" into buf, naming the words close to typed
 * (each after pfx).  words is a NULL-terminated list; buf is empty when
 * nothing is close.
 */
static void
suggest(const char *typed, const char **words, const char *pfx, char *buf, size_t len)
{
	size_t	 off = 0;
	int	 i, n = 0;

	buf[0] = '\0';
	for (i = 0; words[i] != NULL && off < len; i++) {
		if (!close_to(typed, words[i]))
			continue;
		off += snprintf(buf + off, len - off, "%s%s%s", n++ ? ", " : " (did you mean ",
		    pfx, words[i]);
	}
	if (n > 0 && off < len)
		snprintf(buf + off, len - off, "?)");
}

/*
 * Strip the global flags from argv, wherever they stand (up to "--"), into
 * g; what remains goes to rest, in order.  A flag value never starts with
 * "--", so `--json` is never someone's value; `--flag=value` passes anything.
 */
static int
parse_globals(int argc, char **argv, struct globals *g, char **rest)
{
	int	 i, n = 0;
	bool	 dashdash = false;

	for (i = 1; i < argc; i++) {
		const char	*a = argv[i];

		if (dashdash) {
			rest[n++] = argv[i];
			continue;
		}
		if (strcmp(a, "--") == 0) {
			dashdash = true;
			rest[n++] = argv[i];
		} else if (strcmp(a, "--json") == 0)
			g->json = true;
		else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			g->help = true;
		else if (strcmp(a, "--version") == 0)
			g->version = true;
		else if (strncmp(a, "--socket=", 9) == 0)
			g->socket = a + 9;
		else if (strcmp(a, "--socket") == 0) {
			if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)
				usage_fail(NULL, "--socket needs a value (a PATH)");
			g->socket = argv[++i];
		} else
			rest[n++] = argv[i];
	}
	rest[n] = NULL;
	return n;
}

/* One flag's usage, appended to buf: "--user U", "--reserve", "HOLD". */
static void
flag_usage(char *buf, size_t len, const struct flag *fl)
{
	size_t	 o = strlen(buf);

	if (fl->opts & F_POS)
		snprintf(buf + o, len - o, "%s", fl->name);
	else if (fl->meta != NULL)
		snprintf(buf + o, len - o, "--%s %s", fl->name, fl->meta);
	else
		snprintf(buf + o, len - o, "--%s", fl->name);
}

/*
 * "usage: tokq CMD ...", built from c's flag table: required flags bare,
 * optional ones in [ ], a group as (a | b) when one is required or [a | b]
 * when at most one may be given; wrapped before column 80.
 */
static void
cmd_synopsis(FILE *f, const struct cmd *c)
{
	const struct flag	*fl;
	char			 name[64], item[512];
	size_t			 col, ind;
	unsigned		 g;
	bool			 first, last;

	col = ind = fprintf(f, "usage: tokq %s", cmd_name(c, name, sizeof(name)));
	item[0] = '\0';
	for (fl = c->flags; fl->name != NULL; fl++) {
		g = F_GROUPOF(fl->opts);
		first = g == 0 || fl == c->flags || F_GROUPOF(fl[-1].opts) != g;
		last = g == 0 || fl[1].name == NULL || F_GROUPOF(fl[1].opts) != g;
		if (first && !(fl->opts & F_REQ))
			strcat(item, fl->opts & F_ONE ? "(" : "[");
		flag_usage(item, sizeof(item), fl);
		if (!last) {
			strcat(item, " | ");
			continue;
		}
		if (!(fl->opts & F_REQ))
			strcat(item, fl->opts & F_ONE ? ")" : "]");
		if (col + 1 + strlen(item) > 79 && col > ind) {
			fprintf(f, "\n%*s", (int)ind, "");
			col = ind;
		}
		col += fprintf(f, " %s", item);
		item[0] = '\0';
	}
	fputc('\n', f);
}

/* `tokq CMD --help`: synopsis, what it does, one line per flag. */
static void
cmd_help(FILE *f, const struct cmd *c)
{
	const struct flag	*fl;
	char			 arg[64];

	cmd_synopsis(f, c);
	fprintf(f, "%s\n", c->help);
	if (c->flags[0].name != NULL)
		fputc('\n', f);
	for (fl = c->flags; fl->name != NULL; fl++) {
		if (fl->opts & F_POS)
			snprintf(arg, sizeof(arg), "%s", fl->name);
		else if (fl->meta != NULL)
			snprintf(arg, sizeof(arg), "--%s %s", fl->name, fl->meta);
		else
			snprintf(arg, sizeof(arg), "--%s", fl->name);
		fprintf(f, "  %-20s %s\n", arg, fl->help);
	}
	fputs("\nglobal: --socket PATH, --json (one JSON object on stdout), --help\n", f);
}

/* `tokq help`: every command, by section; `tokq limit --help`: one group. */
static void
general_help(FILE *f, const char *group)
{
	char	 name[64];
	size_t	 i;
	int	 s, last = -1;

	if (group == NULL)
		fputs("usage: tokq [--socket PATH] [--json] COMMAND [ARGS...]\n"
		    "       tokq help [COMMAND] | tokq COMMAND --help | tokq --version\n", f);
	else
		fprintf(f, "usage: tokq %s SUBCOMMAND [ARGS...]\n\n", group);
	for (s = S_BOT; s <= S_TEST; s++) {
		for (i = 0; i < NCMDS; i++) {
			if (cmds[i].section != s)
				continue;
			if (group != NULL && strcmp(cmds[i].words[0], group) != 0)
				continue;
			if (last != s && group == NULL)
				fprintf(f, "\n%s:\n", sections[s]);
			last = s;
			fprintf(f, "  %-16s %s\n", cmd_name(&cmds[i], name, sizeof(name)),
			    cmds[i].help);
		}
	}
	if (group == NULL)
		fputs("\nexit codes:\n"
		    "  0   ok                  1   denied (check)\n"
		    "  64  usage error: a missing, unknown or malformed flag, or a value outside\n"
		    "      its range (tokq(1) lists them), judged by tokq before anything is sent\n"
		    "  65  invalid data: tokqd refused it (unknown hold, key reused, no such rule)\n"
		    "  69  tokqd unreachable   70  internal error   77  permission denied\n"
		    "  75  temporary: refused for now (nothing was kept), or the connection was\n"
		    "      lost after the request was sent (the outcome is unknown); either way\n"
		    "      a retry with the same --key is safe and never counts twice\n", f);
}

/*
 * Match the command words at the start of av.  Returns the command and sets
 * *used to the words it took.  An unknown word is a usage error naming the
 * close ones; a group word alone ("limit") returns NULL with *group set, so
 * that --help can list the group and anything else can say what is missing.
 */
static const struct cmd *
match_cmd(char **av, int ac, int *used, const char **group)
{
	const char	*firsts[NCMDS + 1], *seconds[NCMDS + 1];
	char		 hint[256];
	size_t		 i;
	int		 nf = 0, ns = 0, j;
	bool		 known = false;

	*group = NULL;
	*used = 0;
	if (ac == 0 || av[0][0] == '-')
		return NULL;
	for (i = 0; i < NCMDS; i++) {
		for (j = 0; j < nf; j++)
			if (strcmp(firsts[j], cmds[i].words[0]) == 0)
				break;
		if (j == nf)
			firsts[nf++] = cmds[i].words[0];
		if (strcmp(av[0], cmds[i].words[0]) == 0) {
			known = true;
			if (cmds[i].words[1] == NULL) {
				*used = 1;
				return &cmds[i];
			}
			seconds[ns++] = cmds[i].words[1];
		}
	}
	firsts[nf] = NULL;
	seconds[ns] = NULL;
	if (!known) {
		suggest(av[0], firsts, "", hint, sizeof(hint));
		if (hint[0] == '\0')
			snprintf(hint, sizeof(hint), " (see 'tokq help')");
		usage_fail(NULL, "unknown command '%s'%s", av[0], hint);
	}
	*group = av[0];
	if (ac < 2 || av[1][0] == '-')
		return NULL;
	for (i = 0; i < NCMDS; i++)
		if (strcmp(av[0], cmds[i].words[0]) == 0 &&
		    strcmp(av[1], cmds[i].words[1]) == 0) {
			*used = 2;
			return &cmds[i];
		}
	suggest(av[1], seconds, "", hint, sizeof(hint));
	if (hint[0] == '\0')
		snprintf(hint, sizeof(hint), " (see 'tokq %s --help')", av[0]);
	group_fail(av[0], "unknown subcommand '%s'%s", av[1], hint);
}

/* "a, b or c" from the words of a group, for "missing subcommand". */
static void
group_words(const char *group, char *buf, size_t len)
{
	size_t	 i, off = 0;
	int	 n = 0, total = 0;

	for (i = 0; i < NCMDS; i++)
		total += strcmp(cmds[i].words[0], group) == 0;
	buf[0] = '\0';
	for (i = 0; i < NCMDS && off < len; i++) {
		if (strcmp(cmds[i].words[0], group) != 0)
			continue;
		n++;
		off += snprintf(buf + off, len - off, "%s%s",
		    n == 1 ? "" : n == total ? " or " : ", ", cmds[i].words[1]);
	}
}

/* Read all of path (or stdin for "-"), at most max bytes; exits 64 on failure. */
static char *
read_file(const struct cmd *c, const char *flag, const char *path, size_t max,
    size_t *lenp)
{
	char	*buf;
	size_t	 len = 0;
	ssize_t	 n;
	int	 fd;

	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		usage_fail(c, "--%s: cannot open %s: %s", flag, path, strerror(errno));
	if ((buf = malloc(max + 1)) == NULL)
		usage_fail(c, "--%s: out of memory", flag);
	for (;;) {
		n = read(fd, buf + len, max + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			usage_fail(c, "--%s: cannot read %s: %s", flag,
			    strcmp(path, "-") == 0 ? "stdin" : path, strerror(errno));
		if (n == 0)
			break;
		len += n;
		if (len > max)
			usage_fail(c, "--%s: %s is larger than %zu KiB", flag,
			    strcmp(path, "-") == 0 ? "stdin" : path, max / 1024);
	}
	if (fd != STDIN_FILENO)
		close(fd);
	buf[len] = '\0';
	*lenp = len;
	return buf;
}

/*
 * What each kind of value may be, in one place.  Every flag's argument is
 * judged here, before anything is sent: one that does not parse, or lies
 * outside its range, is a usage error (64) in one form,
 *	tokq: check: --tokens: must be a whole number from 0 to … (got "-5")
 * whatever the mistake was (a sign, a letter, 40 digits, an exponent).
 * tokqd checks everything again (65 when a raw client sends it); the
 * ranges are the contract's (include/tokq.h) and tokq(1) lists them.
 */
enum syntax {
	X_NONE,		/* anything (a file name), or no argument */
	X_ID,		/* tokq_id_valid: 1-128 bytes of UTF-8, no control characters */
	X_KEY,		/* 1-255 bytes, no control characters */
	X_INT,		/* digits, min..max */
	X_LIMIT,	/* digits 0..max, or -1 */
	X_USD,		/* a dollar amount, min..max nano-USD */
	X_USD_LIMIT,	/* a dollar amount 0..max, or -1 */
	X_TIME,		/* tokq_parse_time */
	X_WINDOW,	/* tokq_parse_window: up to TOKQ_WINDOW_MAX_SECS */
	X_DURATION,	/* tokq_parse_duration, min..max seconds */
	X_WORD,		/* one of words */
};

#define CALL_MAX	1000000000LL	/* a call's index in its session */
#define TTL_MAX		86400		/* a hold's seconds: one day */
#define DAYS_MAX	3660		/* stats --days: ten years, the longest window */
#define TOP_MAX		1000		/* stats --top */
#define RTOP_MAX	100		/* report --top: a post in a channel */
#define LAST_MAX	1000		/* log --last: one page of events */

static const char *const w_period[] = { "day", "week", "month", NULL };
static const char *const w_rformat[] = { "text", "markdown", "json", NULL };
static const char *const w_xformat[] = { "jsonl", "csv", NULL };

/*
 * A kind's words: noun, then for numbers "from MIN to MAX" formed from the
 * very bounds that are checked, then tail.
 */
static const struct vkind {
	enum syntax		 syn;
	int64_t			 min, max;
	const char *const	*words;
	const char		*noun;		/* after "must be " */
	const char		*tail;
} vkinds[K__MAX] = {
	[K_ID] = { X_ID, 0, 0, NULL,
	    "an id of 1 to 128 bytes of UTF-8 without control characters", "" },
	[K_SEL] = { X_ID, 0, 0, NULL,
	    "an id of 1 to 128 bytes of UTF-8 without control characters", "" },
	[K_KEY] = { X_KEY, 0, 0, NULL,
	    "a key of 1 to 255 bytes without control characters", "" },
	[K_TOKENS] = { X_INT, 0, TOKQ_TOKENS_MAX, NULL, "a whole number", "" },
	[K_CALL] = { X_INT, 0, CALL_MAX, NULL, "a whole number", "" },
	[K_TTL] = { X_INT, 1, TTL_MAX, NULL, "a whole number of seconds", "" },
	[K_DAYS] = { X_INT, 1, DAYS_MAX, NULL, "a whole number", "" },
	[K_TOP] = { X_INT, 1, TOP_MAX, NULL, "a whole number", "" },
	[K_RTOP] = { X_INT, 1, RTOP_MAX, NULL, "a whole number", "" },
	[K_LAST] = { X_INT, 1, LAST_MAX, NULL, "a whole number", "" },
	[K_MLIMIT] = { X_LIMIT, 0, TOKQ_LIMIT_MAX, NULL, "a whole number",
	    ", or -1 for unlimited" },
	[K_USD] = { X_USD, 0, TOKQ_COST_MAX, NULL, "a dollar amount", " like 0.0125" },
	[K_PRICE] = { X_USD, 0, TOKQ_COST_MAX, NULL, "a dollar amount per 1M tokens",
	    " like 0.15" },
	[K_MCOST] = { X_USD_LIMIT, 0, TOKQ_LIMIT_COST_MAX, NULL, "a dollar amount",
	    " like 2.50, or -1 for unlimited" },
	[K_TIME] = { X_TIME, 0, 0, NULL,
	    "a UTC time like 2026-12-01T00:00:00Z or a date like 2026-12-01", "" },
	[K_WINDOW] = { X_WINDOW, 0, 0, NULL,
	    "a window from 1m to 3660d (30d, 24h, 90m) or day, week or month", "" },
	[K_DURATION] = { X_DURATION, 1, TOKQ_WINDOW_MAX_SECS, NULL,
	    "a duration from 1s to 3660d like 90s, 15m, 2h or 3d", "" },
	[K_PERIOD] = { X_WORD, 0, 0, w_period, "day, week or month", "" },
	[K_RFORMAT] = { X_WORD, 0, 0, w_rformat, "text, markdown or json", "" },
	[K_XFORMAT] = { X_WORD, 0, 0, w_xformat, "jsonl or csv", "" },
};

/* What a value of kind k must be, in words, into buf. */
static const char *
vkind_want(const struct vkind *k, char *buf, size_t len)
{
	char	 lo[32], hi[32];

	switch (k->syn) {
	case X_INT:
	case X_LIMIT:
		snprintf(buf, len, "%s from %lld to %lld%s", k->noun, (long long)k->min,
		    (long long)k->max, k->tail);
		break;
	case X_USD:
	case X_USD_LIMIT:
		snprintf(buf, len, "%s from %s to %s%s", k->noun,
		    tokq_fmt_usd(k->min, lo, sizeof(lo)),
		    tokq_fmt_usd(k->max, hi, sizeof(hi)), k->tail);
		break;
	default:
		snprintf(buf, len, "%s%s", k->noun, k->tail);
		break;
	}
	return buf;
}

/*
 * s as it may be shown inside quotes on one line: control bytes, quotes,
 * backslashes and bytes that are not UTF-8 escaped, cut after 48 bytes.
 */
static char *
quote_value(const char *s, char *buf, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 o = 0, i, n, k, cut = 48;

	buf[0] = '\0';
	for (i = 0; p[i] != '\0' && o + 8 < len; ) {
		if (i >= cut) {
			snprintf(buf + o, len - o, "…");
			return buf;
		}
		/* the length of a UTF-8 sequence at p + i, 0 when it is none */
		n = p[i] < 0x80 ? 1 : p[i] >= 0xc2 && p[i] <= 0xdf ? 2 :
		    p[i] >= 0xe0 && p[i] <= 0xef ? 3 : p[i] >= 0xf0 && p[i] <= 0xf4 ? 4 : 0;
		for (k = 1; k < n; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				n = 0;
		if (n > 1 && o + n + 8 < len) {
			memcpy(buf + o, p + i, n);
			o += n, i += n;
		} else if (n == 1 && p[i] >= 0x20 && p[i] != 0x7f && p[i] != '"' &&
		    p[i] != '\\')
			buf[o++] = p[i++];
		else if (p[i] == '"' || p[i] == '\\')
			o += snprintf(buf + o, len - o, "\\%c", p[i++]);
		else
			o += snprintf(buf + o, len - o, "\\x%02x", p[i++]);
		buf[o] = '\0';
	}
	return buf;
}

/* A key: 1-255 bytes, none of them a control character (C0 or DEL). */
static bool
key_valid(const char *s)
{
	size_t	 i, n = strlen(s);

	if (n == 0 || n > TOKQ_KEY_MAX)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* The one form of a bad value; exits 64. */
static void __attribute__((noreturn))
value_fail(const struct cmd *c, const struct flag *fl, const char *arg)
{
	char	 q[256], want[256];

	usage_fail(c, "%s%s: must be %s (got \"%s\")", fl->opts & F_POS ? "" : "--",
	    fl->name, vkind_want(&vkinds[fl->kind], want, sizeof(want)),
	    quote_value(arg, q, sizeof(q)));
}

/*
 * Check and convert one flag's argument into v by its kind's row of
 * vkinds[]; a bad value exits 64.  --usage-json reads its file here, or
 * takes the document itself when it starts with { or [.
 */
static void
parse_value(const struct cmd *c, const struct flag *fl, const char *arg,
    struct val *v)
{
	const struct vkind	*k = &vkinds[fl->kind];
	struct tokq_window	 w;
	size_t			 i;
	bool			 good = true;

	v->s = arg;
	v->slen = strlen(arg);
	switch (k->syn) {
	case X_NONE:
		break;
	case X_ID:
		good = tokq_id_valid(arg);
		break;
	case X_KEY:
		good = key_valid(arg);
		break;
	case X_INT:
		good = tokq_parse_u64(arg, &v->i) == 0 &&
		    v->i >= k->min && v->i <= k->max;
		break;
	case X_LIMIT:
		good = tokq_parse_limit(arg, &v->i) == 0 && v->i <= k->max;
		break;
	case X_USD:
		good = tokq_parse_usd(arg, &v->i) == 0 &&
		    v->i >= k->min && v->i <= k->max;
		break;
	case X_USD_LIMIT:
		good = tokq_parse_usd(arg, &v->i) == 0 && v->i <= k->max;
		break;
	case X_TIME:
		good = tokq_parse_time(arg, &v->i) == 0;
		break;
	case X_WINDOW:
		if ((good = tokq_parse_window(arg, &w) == 0))
			tokq_fmt_window(&w, v->canon, sizeof(v->canon));
		break;
	case X_DURATION:
		good = tokq_parse_duration(arg, &v->i) == 0 &&
		    v->i >= k->min && v->i <= k->max;
		break;
	case X_WORD:
		for (i = 0, good = false; k->words[i] != NULL && !good; i++)
			good = strcmp(arg, k->words[i]) == 0;
		break;
	}
	if (!good)
		value_fail(c, fl, arg);
	if (fl->kind == K_USAGE && arg[0] != '{' && arg[0] != '[')
		v->s = read_file(c, fl->name, arg, USAGE_JSON_MAX, &v->slen);
	else if (fl->kind == K_USAGE && v->slen > USAGE_JSON_MAX)
		usage_fail(c, "--%s: the document is larger than %d KiB", fl->name,
		    USAGE_JSON_MAX / 1024);
}

/* Name a flag for messages: "--user" or "HOLD". */
static const char *
flag_label(const struct flag *fl, char *buf, size_t len)
{
	snprintf(buf, len, fl->opts & F_POS ? "%s" : "--%s", fl->name);
	return buf;
}

/*
 * The required flags, and the groups: at most one flag of a group, and
 * exactly one where the group says F_ONE.
 */
static void
check_required(const struct req *r)
{
	const struct flag	*f = r->cmd->flags;
	char			 a[40], b[40], list[256];
	int			 i, first, second;
	unsigned		 g;
	size_t			 off;
	bool			 one;

	for (i = 0; f[i].name != NULL; i++)
		if ((f[i].opts & F_REQ) && !r->v[i].set)
			usage_fail(r->cmd, "%s is required", flag_label(&f[i], a, sizeof(a)));
	for (g = 1; g < 16; g++) {
		first = second = -1;
		off = 0;
		list[0] = '\0';
		one = false;
		for (i = 0; f[i].name != NULL; i++) {
			if (F_GROUPOF(f[i].opts) != g)
				continue;
			one |= (f[i].opts & F_ONE) != 0;
			if (r->v[i].set && first == -1)
				first = i;
			else if (r->v[i].set && second == -1)
				second = i;
			if (off < sizeof(list))
				off += snprintf(list + off, sizeof(list) - off, "%s--%s",
				    off ? ", " : "", f[i].name);
		}
		if (second != -1)
			usage_fail(r->cmd, "%s and %s cannot be combined",
			    flag_label(&f[first], a, sizeof(a)),
			    flag_label(&f[second], b, sizeof(b)));
		if (first == -1 && one)
			usage_fail(r->cmd, "give one of %s", list);
	}
	if (r->cmd->check != NULL)
		r->cmd->check(r);
}

/*
 * Walk the arguments after the command words into r: flags as `--name
 * value` or `--name=value`, positionals in table order, `--` ends the flags.
 * Every mistake is a usage error naming the flag.
 */
static void
parse_args(struct req *r, char **av, int ac)
{
	const struct cmd	*c = r->cmd;
	const struct flag	*f = c->flags, *fl;
	const char		*names[MAXFLAGS + 1], *arg, *name, *eq;
	char			 hint[256];
	int			 i, k, n = 0;
	bool			 dashdash = false;

	for (k = 0; f[k].name != NULL; k++)
		if (!(f[k].opts & F_POS))
			names[n++] = f[k].name;
	names[n] = NULL;
	for (i = 0; i < ac; i++) {
		arg = av[i];
		if (!dashdash && strcmp(arg, "--") == 0) {
			dashdash = true;
			continue;
		}
		if (dashdash || arg[0] != '-' || arg[1] == '\0') {
			for (k = 0; f[k].name != NULL; k++)
				if ((f[k].opts & F_POS) && !r->v[k].set)
					break;
			if (f[k].name == NULL)
				usage_fail(c, "unexpected argument '%s'", arg);
			r->v[k].set = true;
			parse_value(c, &f[k], arg, &r->v[k]);
			continue;
		}
		if (arg[1] != '-')
			usage_fail(c, "unknown flag '%s'", arg);
		name = arg + 2;
		eq = strchr(name, '=');
		k = flag_index(f, name, eq ? (size_t)(eq - name) : strlen(name));
		if (k == -1 || (f[k].opts & F_POS)) {
			char	 bare[64];

			snprintf(bare, sizeof(bare), "%.*s",
			    (int)(eq ? eq - name : (int)strlen(name)), name);
			suggest(bare, names, "--", hint, sizeof(hint));
			usage_fail(c, "unknown flag '--%s'%s", bare, hint);
		}
		fl = &f[k];
		if (r->v[k].set)
			usage_fail(c, "--%s given twice", fl->name);
		r->v[k].set = true;
		if (fl->meta == NULL) {
			if (eq != NULL)
				usage_fail(c, "--%s takes no value", fl->name);
			continue;
		}
		if (eq != NULL)
			parse_value(c, fl, eq + 1, &r->v[k]);
		else if (i + 1 < ac && strncmp(av[i + 1], "--", 2) != 0)
			parse_value(c, fl, av[++i], &r->v[k]);
		else
			usage_fail(c, "--%s needs a value (%s)", fl->name, fl->meta);
	}
	check_required(r);
}

/* The kinds that are for tokq itself and never travel. */
static bool
unsent(enum argkind k)
{
	return k == K_LOCAL || k == K_RFORMAT || k == K_XFORMAT;
}

/*
 * Pack r as the request map {"v":1,"op":…, args…}.  The map's size comes
 * first in msgpack, so the flags are counted in a first pass.
 */
static void
pack_request(const struct req *r, msgpack_packer *pk)
{
	const struct flag	*f = r->cmd->flags;
	const struct val	*v;
	int			 i, n = 2;

#define PSTR(s, len)	msgpack_pack_str_with_body(pk, (s), (len))
#define PKEY(s)		PSTR((s), strlen(s))
	for (i = 0; f[i].name != NULL; i++)
		if (r->v[i].set && !unsent(f[i].kind))
			n += (f[i].kind == K_SEL || f[i].kind == K_MLIMIT ||
			    f[i].kind == K_MCOST) ? 2 : 1;
	msgpack_pack_map(pk, n);
	PKEY("v");
	msgpack_pack_int(pk, TOKQ_PROTOCOL);
	PKEY("op");
	PKEY(r->cmd->op);
	for (i = 0; f[i].name != NULL; i++) {
		v = &r->v[i];
		if (!v->set)
			continue;
		switch (f[i].kind) {
		case K_LOCAL:
		case K_RFORMAT:
		case K_XFORMAT:
		case K__MAX:
			break;
		case K_ID:
		case K_KEY:
		case K_JSON:
		case K_USAGE:
		case K_PERIOD:
			PKEY(f[i].key);
			PSTR(v->s, v->slen);
			break;
		case K_TOKENS:
		case K_CALL:
		case K_TTL:
		case K_DAYS:
		case K_TOP:
		case K_RTOP:
		case K_LAST:
		case K_TIME:
		case K_DURATION:
			PKEY(f[i].key);
			msgpack_pack_int64(pk, v->i);
			break;
		case K_USD:
		case K_PRICE:
			PKEY(f[i].key);
			msgpack_pack_double(pk, (double)v->i / TOKQ_NUSD_PER_USD);
			break;
		case K_WINDOW:
			PKEY(f[i].key);
			PKEY(v->canon);
			break;
		case K_BOOL:
			PKEY(f[i].key);
			msgpack_pack_true(pk);
			break;
		case K_CONST:
			PKEY(f[i].key);
			PKEY(f[i].cval);
			break;
		case K_SEL:
			PKEY("selector");
			PKEY(f[i].key);
			PKEY("subject");
			PSTR(v->s, v->slen);
			break;
		case K_SEL0:
			PKEY("selector");
			PKEY(f[i].key);
			break;
		case K_METRIC:
			PKEY("metric");
			PKEY(f[i].key);
			break;
		case K_MLIMIT:
		case K_MCOST:
			PKEY("metric");
			PKEY(f[i].key);
			PKEY("limit");
			if (f[i].kind == K_MLIMIT || v->i == -1)
				msgpack_pack_int64(pk, v->i);
			else
				msgpack_pack_double(pk, (double)v->i / TOKQ_NUSD_PER_USD);
			break;
		}
	}
#undef PKEY
#undef PSTR
}

/*
 * Handle help and version, which need no daemon; returns only when there
 * is a request to send, with its command.
 */
static const struct cmd *
resolve(struct globals *g, char **rest, int *nrest)
{
	const struct cmd	*c;
	const char		*group;
	char			 words[128];
	int			 used;
	bool			 helpcmd = false;

	if (*nrest > 0 && strcmp(rest[0], "help") == 0) {
		helpcmd = g->help = true;
		rest++, (*nrest)--;
	}
	if (g->version && !g->help) {
		printf("tokq %s (protocol %d)\n", TOKQ_VERSION, TOKQ_PROTOCOL);
		exit(0);
	}
	if (*nrest == 0 || rest[0][0] == '-') {
		if (g->help) {
			general_help(stdout, NULL);
			exit(0);
		}
		if (*nrest == 0)
			usage_fail(NULL, "give a command (see 'tokq help')");
		usage_fail(NULL, "give the command before its flags ('%s')", rest[0]);
	}
	c = match_cmd(rest, *nrest, &used, &group);
	if (c == NULL) {
		if (g->help) {
			general_help(stdout, group);
			exit(0);
		}
		group_words(group, words, sizeof(words));
		group_fail(group, "missing subcommand: %s", words);
	}
	if (g->help) {
		if (helpcmd && *nrest > used)
			usage_fail(c, "help takes no arguments after the command");
		cmd_help(stdout, c);
		exit(0);
	}
	/* shift the command words off: parse_args sees only its arguments */
	memmove(rest, rest + used, (*nrest - used + 1) * sizeof(*rest));
	*nrest -= used;
	return c;
}

bool			 client_json;
const struct cmd	*client_cmd;
static const struct req	*client_req;	/* once its flags are being read */

/*
 * Exit 75 in one of its two cases (contract, Output and exit codes):
 * refused as temporary, so nothing was kept, or the connection lost after
 * the whole request was sent, so the outcome is unknown.  One stderr line
 * says which and how to retry; under --json stdout gets one object with
 * "exit", "temporary" ("refused" or "unknown") and "error".
 */
void
temp_fail(bool unknown, const char *fmt, ...)
{
	va_list		 ap;
	char		 what[1024], line[1600], name[64];
	const char	*retry = "retry";
	bool		 rec = client_cmd != NULL && strcmp(client_cmd->op, "record") == 0;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (rec && client_req != NULL && req_val(client_req, "key")->set)
		retry = "retry with the same --key, which never counts twice";
	else if (rec)
		retry = "retry, and give --key next time: the same key never counts twice";
	snprintf(line, sizeof(line), "%s%s%s: %s; %s",
	    client_cmd ? cmd_name(client_cmd, name, sizeof(name)) : "",
	    client_cmd ? ": " : "", what,
	    unknown ? "the outcome is unknown" : "nothing was kept", retry);
	fprintf(stderr, "tokq: %s\n", line);
	if (client_json) {
		printf("{\"exit\":%d,\"temporary\":\"%s\",\"error\":", TOKQ_EXIT_TEMPFAIL,
		    unknown ? "unknown" : "refused");
		json_string(stdout, line, strlen(line));
		printf("}\n");
		fflush(stdout);
	}
	exit(TOKQ_EXIT_TEMPFAIL);
}

/*
 * Print the error of a reply with code != 0 and exit with its exit code,
 * in the command's own words: "limit set needs an admin …", not the wire
 * op; "only an admin may give --at", not the wire key.
 */
static void __attribute__((noreturn))
reply_fail(const msgpack_object *reply, int64_t code)
{
	static const char	 give[] = "only an admin may give ";
	const struct flag	*fl;
	const char		*op = client_cmd->op;
	char			 err[1024], name[64], *cut;
	size_t			 n = strlen(op);

	if (mp_str(reply, "error", err, sizeof(err)) == NULL)
		snprintf(err, sizeof(err), "%s (code %lld)", tokq_code_name((int)code),
		    (long long)code);
	if (code == TOKQ_E_TEMP) {
		/* the daemon's own "nothing was kept, retry" comes once, below */
		if ((cut = strstr(err, "nothing was kept")) != NULL) {
			while (cut > err && strchr(";, ", cut[-1]) != NULL)
				cut--;
			*cut = '\0';
		}
		temp_fail(false, "tokqd refused the request for now (%s)",
		    err[0] ? err : "busy");
	}
	cmd_name(client_cmd, name, sizeof(name));
	if (code == TOKQ_E_PERM && strncmp(err, give, sizeof(give) - 1) == 0)
		for (fl = client_cmd->flags; fl->name != NULL; fl++)
			if (fl->key != NULL && strcmp(fl->key, err + sizeof(give) - 1) == 0) {
				snprintf(err + sizeof(give) - 1, sizeof(err) - sizeof(give) + 1,
				    "--%s", fl->name);
				break;
			}
	if (strncmp(err, op, n) == 0 && err[n] == ' ')
		fprintf(stderr, "tokq: %s%s\n", name, err + n);
	else
		fprintf(stderr, "tokq: %s: %s\n", name, err);
	exit(tokq_code_exit((int)code));
}

/*
 * The reply map in the frame buf (len bytes), unpacked into up; a
 * malformed frame exits 70, a reply with code != 0 exits with its code.
 */
static const msgpack_object *
reply_of(const char *buf, size_t len, msgpack_unpacked *up)
{
	const msgpack_object	*code;
	size_t			 off = 0;

	if (tokq_frame_check(buf, len) != 0 ||
	    msgpack_unpack_next(up, buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    up->data.type != MSGPACK_OBJECT_MAP ||
	    (code = mp_get(&up->data, "code")) == NULL ||
	    (code->type != MSGPACK_OBJECT_POSITIVE_INTEGER)) {
		fputs("tokq: malformed reply from tokqd\n", stderr);
		exit(TOKQ_EXIT_SOFTWARE);
	}
	if (code->via.u64 != TOKQ_OK)
		reply_fail(&up->data, (int64_t)(code->via.u64 > 255 ? 255 : code->via.u64));
	return &up->data;
}

/* One request on an open connection; *buf is the frame up points into. */
const msgpack_object *
client_call(int fd, const msgpack_sbuffer *req, msgpack_unpacked *up, char **buf)
{
	size_t	 len;

	if (req->size > TOKQ_FRAME_MAX) {
		fprintf(stderr, "tokq: a request is larger than %d bytes\n", TOKQ_FRAME_MAX);
		exit(TOKQ_EXIT_SOFTWARE);
	}
	free(*buf);
	*buf = conn_call(fd, req->data, req->size, &len);
	return reply_of(*buf, len, up);
}

/*
 * `tokq __complete WORD... CURRENT`, for the bash completion: print the
 * candidates for CURRENT, one per line, from the command table itself.
 * While the command is incomplete: its next word.  Then: the command's
 * flags and the global ones; "@file" where a file name goes; nothing after
 * a flag that takes another kind of value.  The script filters by prefix.
 */
static int
complete(int argc, char **argv)
{
	const char		*w[2] = { NULL, NULL }, *prev = NULL;
	const struct cmd	*c = NULL;
	const struct flag	*fl;
	int			 i, nw = 0;
	size_t			 k, j;

	for (i = 0; i < argc - 1; i++) {
		const char *a = argv[i];

		prev = a;
		if (strcmp(a, "--socket") == 0) {
			if (++i < argc - 1)
				prev = NULL;
			continue;
		}
		if (a[0] == '-' || nw == 2)
			continue;
		if (c != NULL) {
			/* a flag's value or a positional: not a command word */
			continue;
		}
		w[nw++] = a;
		for (k = 0; k < NCMDS; k++)
			if (strcmp(cmds[k].words[0], w[0]) == 0 &&
			    (cmds[k].words[1] == NULL ||
			    (nw == 2 && strcmp(cmds[k].words[1], w[1]) == 0)))
				c = &cmds[k];
	}
	if (c == NULL) {
		for (k = 0; k < NCMDS; k++) {
			const char *cand = nw == 0 ? cmds[k].words[0] : cmds[k].words[1];

			if (nw >= 1 && strcmp(cmds[k].words[0], w[0]) != 0)
				continue;
			if (cand == NULL)
				continue;
			for (j = 0; j < k; j++)
				if (strcmp(nw == 0 ? cmds[j].words[0] : (cmds[j].words[1] ?
				    cmds[j].words[1] : ""), cand) == 0 &&
				    (nw == 0 || strcmp(cmds[j].words[0], w[0]) == 0))
					break;
			if (j == k)
				puts(cand);
		}
		return TOKQ_EXIT_OK;
	}
	if (prev && strcmp(prev, "--socket") == 0) {
		puts("@file");
		return TOKQ_EXIT_OK;
	}
	for (fl = c->flags; prev && prev[0] == '-' && fl->name; fl++)
		if (!(fl->opts & F_POS) && strcmp(prev + 2, fl->name) == 0 && fl->meta) {
			if (fl->kind == K_USAGE)
				puts("@file");
			return TOKQ_EXIT_OK;
		}
	if (argv[argc - 1][0] != '-')
		for (fl = c->flags; fl->name; fl++)
			if ((fl->opts & F_POS) && (fl->kind == K_USAGE ||
			    (fl->meta && strcmp(fl->meta, "FILE") == 0))) {
				puts("@file");
				return TOKQ_EXIT_OK;
			}
	for (fl = c->flags; fl->name; fl++)
		if (!(fl->opts & F_POS))
			printf("--%s\n", fl->name);
	puts("--json\n--socket\n--help");
	return TOKQ_EXIT_OK;
}

int
main(int argc, char *argv[])
{
	static struct req	 r;
	struct globals		 g = { 0 };
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	msgpack_unpacked	 up;
	const msgpack_object	*reply;
	static char		**rest;	/* static: reachable when an error exits */
	char			 sock[PATH_MAX], *buf;
	size_t			 len;
	int			 nrest, rc;

	if (argc >= 3 && strcmp(argv[1], "__complete") == 0)
		return complete(argc - 2, argv + 2);
	if ((rest = calloc(argc + 1, sizeof(*rest))) == NULL)
		return TOKQ_EXIT_SOFTWARE;
	nrest = parse_globals(argc, argv, &g, rest);
	client_json = g.json;
	r.cmd = client_cmd = resolve(&g, rest, &nrest);
	client_req = &r;
	parse_args(&r, rest, nrest);

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack_request(&r, &pk);
	if (sb.size > TOKQ_FRAME_MAX)
		usage_fail(r.cmd, "the request is larger than %d bytes", TOKQ_FRAME_MAX);
	if (tokq_socket_path(g.socket, sock, sizeof(sock)) == -1) {
		fputs("tokq: no socket path: give --socket, or set TOKQ_SOCKET or "
		    "XDG_RUNTIME_DIR\n", stderr);
		return TOKQ_EXIT_UNAVAILABLE;
	}
	if (r.cmd->run != NULL) {
		rc = r.cmd->run(&r, sock, g.json);
		msgpack_sbuffer_destroy(&sb);
		free(rest);
		return rc;
	}
	buf = conn_roundtrip(sock, sb.data, sb.size, &len);
	msgpack_unpacked_init(&up);
	reply = reply_of(buf, len, &up);
	if (g.json || (req_str(&r, "format") && strcmp(req_str(&r, "format"), "json") == 0))
		json_reply(stdout, reply);
	else
		r.cmd->print(&r, reply);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "tokq: cannot write output: %s\n", strerror(errno));
		rc = TOKQ_EXIT_SOFTWARE;
	} else if (strcmp(r.cmd->op, "check") == 0 && !mp_bool(reply, "allowed"))
		rc = TOKQ_EXIT_DENIED;	/* the one result that is not a success */
	else
		rc = TOKQ_EXIT_OK;
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sb);
	free(buf);
	free(rest);
	return rc;
}
