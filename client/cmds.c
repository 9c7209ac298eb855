/*
 * cmds.c: the grammar of tokq, as data.
 *
 * cmds[] lists every command with its words, its wire op, its flags, its
 * printer and its help line, in the order `tokq help` shows them; the flag
 * tables say each argument's kind (args.c judges it), whether it is
 * required, positional or one of a group.  The few rules across flags that
 * a table cannot say are the check functions below.  cmd_match() finds a
 * command by its words.
 */
#include <stdio.h>
#include <string.h>

#include "client.h"

static int	 check_check(struct job *, const struct req *);
static int	 check_record(struct job *, const struct req *);
static int	 check_span(struct job *, const struct req *);
static int	 check_export(struct job *, const struct req *);

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
	{ "all", NULL, K_BOOL, "all", NULL, 0, "the whole history, to move it to another store: settings, totals of pruned days, then events (JSON lines)" },
	FL_END
};

static const struct flag f_import[] = {
	{ "format", "F", K_XFORMAT, NULL, NULL, 0, "jsonl or csv (default: guessed from the first line)" },
	{ "FILE", "FILE", K_LOCAL, NULL, NULL, F_POS | F_REQ, "what export wrote, or a table's CSV; - for stdin" },
	FL_END
};

/* tokq batch --help, after its synopsis: the protocol in brief. */
static const char batch_about[] =
    "Each stdin line is a JSON array of strings, the arguments that would follow\n"
    "tokq: [\"check\",\"--user\",\"42\",\"--tokens\",\"1200\"].  Each answer is one\n"
    "stdout line, in order: the object tokq --json ARGS prints, plus \"exit\" (the\n"
    "exit code that command would have had) and, on failure, \"error\" (its one\n"
    "line, without \"tokq: \").  A malformed line answers {\"exit\":64,\"error\":...}\n"
    "and the batch goes on.  --json is implied; --socket, --help and --version\n"
    "are refused in a line (give --socket to tokq batch).  Nothing is read from\n"
    "files or stdin: --usage-json takes the document itself; import and export\n"
    "are refused (64).  Lines may be written ahead of the answers; a line may\n"
    "hold up to 1 MiB.  One connection to tokqd serves every line; when tokqd\n"
    "restarts, the next line reconnects (a request lost on the way answers 75,\n"
    "\"temporary\":\"unknown\").  At the end of stdin tokq batch exits 0.\n";

/* The commands, in the order `tokq help` lists them. */
const struct cmd cmds[] = {
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
	{ { "export", NULL }, "export", S_ADMIN, f_export, check_export, NULL,
	    "raw events as JSON lines or CSV", run_export },
	{ { "import", NULL }, "import", S_ADMIN, f_import, NULL, NULL,
	    "events with their times, from export or another tool", run_import },
	{ { "batch", NULL }, "batch", S_BOT, f_none, NULL, NULL,
	    "one command a line from stdin, one JSON answer a line (for bots)",
	    run_batch, batch_about },
	{ { "clock", "set" }, "clock_set", S_TEST, f_clock_set, NULL, print_clock,
	    "set the daemon's clock (tokqd --test-clock only)" },
	{ { "clock", "advance" }, "clock_advance", S_TEST, f_clock_advance, NULL, print_clock,
	    "move the daemon's clock forward (tokqd --test-clock only)" },
};
const size_t ncmds = sizeof(cmds) / sizeof(cmds[0]);
#define NCMDS	(sizeof(cmds) / sizeof(cmds[0]))

/*
 * Cross-flag rules that a flag table cannot say.  Each returns 0, or forms
 * the usage error and returns 64.
 */
static int
check_check(struct job *jb, const struct req *r)
{
	if (req_val(r, "ttl")->set && !req_val(r, "reserve")->set)
		return usage_fail(jb, "--ttl needs --reserve");
	return 0;
}

/* The counts that --usage-json brings itself: giving both is a usage error. */
static const char *const usage_counts[] = {
	"prompt", "completion", "total", "cached", "cache-write", "reasoning", NULL
};

static int
check_record(struct job *jb, const struct req *r)
{
	size_t	 i;

	if (!req_val(r, "model")->set && !req_val(r, "usage-json")->set)
		return usage_fail(jb, "--model is required (unless --usage-json names it)");
	for (i = 0; usage_counts[i] != NULL; i++)
		if (req_val(r, "usage-json")->set && req_val(r, usage_counts[i])->set)
			return usage_fail(jb, "--%s and --usage-json cannot be combined "
			    "(the usage JSON carries the counts)", usage_counts[i]);
	return 0;
}

/* --since and --until, both given: a span that is empty or reversed is a usage error. */
static int
check_span(struct job *jb, const struct req *r)
{
	const struct val	*since = req_val(r, "since"), *until = req_val(r, "until");

	if (since->set && until->set && until->i <= since->i)
		return usage_fail(jb, "--until must be after --since (got \"%s\" and \"%s\")",
		    until->s, since->s);
	return 0;
}

/* export: --all is the whole history, as JSON lines, and nothing less. */
static int
check_export(struct job *jb, const struct req *r)
{
	static const char *const filters[] = { "since", "until", "user", "guild" };
	const char	*fmt = req_str(r, "format");
	size_t		 i;

	if (!req_val(r, "all")->set)
		return check_span(jb, r);
	for (i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
		if (req_val(r, filters[i])->set)
			return usage_fail(jb, "--all is the whole history: no --%s",
			    filters[i]);
	if (fmt != NULL && strcmp(fmt, "csv") == 0)
		return usage_fail(jb, "--all writes JSON lines, not CSV");
	return 0;
}

/*
 * Match the command words at the start of av: 0 with the command in *out
 * and the words it took in *used.  An unknown word is a usage error (64)
 * naming the close ones; a group word alone ("limit") gives a NULL command
 * with *group set, so that --help can list the group and anything else can
 * say what is missing.
 */
int
cmd_match(struct job *jb, char **av, int ac, int *used, const char **group,
    const struct cmd **out)
{
	const char	*firsts[NCMDS + 1], *seconds[NCMDS + 1];
	char		 hint[256];
	size_t		 i;
	int		 nf = 0, ns = 0, j;
	bool		 known = false;

	*group = NULL;
	*used = 0;
	*out = NULL;
	if (ac == 0 || av[0][0] == '-')
		return 0;
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
				*out = &cmds[i];
				return 0;
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
		return usage_fail(jb, "unknown command '%s'%s", av[0], hint);
	}
	*group = av[0];
	if (ac < 2 || av[1][0] == '-')
		return 0;
	for (i = 0; i < NCMDS; i++)
		if (strcmp(av[0], cmds[i].words[0]) == 0 &&
		    strcmp(av[1], cmds[i].words[1]) == 0) {
			*used = 2;
			*out = &cmds[i];
			return 0;
		}
	suggest(av[1], seconds, "", hint, sizeof(hint));
	if (hint[0] == '\0')
		snprintf(hint, sizeof(hint), " (see 'tokq %s --help')", av[0]);
	return group_fail(jb, av[0], "unknown subcommand '%s'%s", av[1], hint);
}

/* "a, b or c" from the words of a group, for "missing subcommand". */
void
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
