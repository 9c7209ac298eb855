/*
 * args.c: argv into a request, judged before anything is sent.
 *
 * The global flags come off first, wherever they stand; then a command's
 * own arguments are walked against its flag table (cmds.c), each value
 * judged by its kind's row of vkinds[] and converted, and the required
 * flags and the groups checked.  Every mistake is a usage error (64),
 * formed by fail.c and returned: nothing here exits.  req_val() reads a
 * parsed request back by flag name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define USAGE_JSON_MAX	(900 * 1024)	/* leaves room in a 1 MiB frame */

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
void
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
int
parse_globals(struct job *jb, int argc, char **argv, struct globals *g, char **rest)
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
			if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0) {
				usage_fail(jb, "--socket needs a value (a PATH)");
				return -1;
			}
			g->socket = argv[++i];
		} else
			rest[n++] = argv[i];
	}
	rest[n] = NULL;
	return n;
}

/*
 * Read all of path (or stdin for "-"), at most max bytes, into *bufp
 * (malloc'd, NUL-terminated); 0, or 64 with the job's error formed.
 */
static int
read_file(struct job *jb, const char *flag, const char *path, size_t max,
    char **bufp, size_t *lenp)
{
	char	*buf;
	size_t	 len = 0;
	ssize_t	 n;
	int	 fd;

	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return usage_fail(jb, "--%s: cannot open %s: %s", flag, path,
		    strerror(errno));
	if ((buf = malloc(max + 1)) == NULL) {
		if (fd != STDIN_FILENO)
			close(fd);
		return usage_fail(jb, "--%s: out of memory", flag);
	}
	for (;;) {
		n = read(fd, buf + len, max + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			usage_fail(jb, "--%s: cannot read %s: %s", flag,
			    strcmp(path, "-") == 0 ? "stdin" : path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		len += n;
		if (len > max) {
			usage_fail(jb, "--%s: %s is larger than %zu KiB", flag,
			    strcmp(path, "-") == 0 ? "stdin" : path, max / 1024);
			break;
		}
	}
	if (fd != STDIN_FILENO)
		close(fd);
	if (jb->exit != 0) {
		free(buf);
		return jb->exit;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;
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
	[K_CALL] = { X_INT, 0, TOKQ_CALL_MAX, NULL, "a whole number", "" },
	[K_TTL] = { X_INT, 1, TOKQ_TTL_MAX, NULL, "a whole number of seconds", "" },
	[K_DAYS] = { X_INT, 1, TOKQ_DAYS_MAX, NULL, "a whole number", "" },
	[K_TOP] = { X_INT, 1, TOKQ_TOP_MAX, NULL, "a whole number", "" },
	[K_RTOP] = { X_INT, 1, TOKQ_REPORT_TOP_MAX, NULL, "a whole number", "" },
	[K_LAST] = { X_INT, 1, TOKQ_PAGE_MAX, NULL, "a whole number", "" },
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

/* The one form of a bad value; returns 64. */
static int
value_fail(struct job *jb, const struct flag *fl, const char *arg)
{
	char	 q[256], want[256];

	return usage_fail(jb, "%s%s: must be %s (got \"%s\")", fl->opts & F_POS ? "" : "--",
	    fl->name, vkind_want(&vkinds[fl->kind], want, sizeof(want)),
	    quote_value(arg, q, sizeof(q)));
}

/*
 * Check and convert one flag's argument into v by its kind's row of
 * vkinds[]; 0, or 64 for a bad value.  --usage-json reads its file here, or
 * takes the document itself when it starts with { or [.
 */
static int
parse_value(struct job *jb, const struct flag *fl, const char *arg, struct val *v)
{
	const struct vkind	*k = &vkinds[fl->kind];
	struct tokq_window	 w;
	size_t			 i;
	int			 rc;
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
		return value_fail(jb, fl, arg);
	if (fl->kind == K_USAGE && arg[0] != '{' && arg[0] != '[') {
		if (jb->batch)	/* its stdin is the batch's, files are the caller's */
			return usage_fail(jb, "--%s: in a batch give the document itself "
			    "({...} or [...]), not a file name or -", fl->name);
		if ((rc = read_file(jb, fl->name, arg, USAGE_JSON_MAX, &v->buf,
		    &v->slen)) != 0)
			return rc;
		v->s = v->buf;
		return 0;
	}
	if (fl->kind == K_USAGE && v->slen > USAGE_JSON_MAX)
		return usage_fail(jb, "--%s: the document is larger than %d KiB", fl->name,
		    USAGE_JSON_MAX / 1024);
	return 0;
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
static int
check_required(struct job *jb, const struct req *r)
{
	const struct flag	*f = r->cmd->flags;
	char			 a[40], b[40], list[256];
	int			 i, first, second;
	unsigned		 g;
	size_t			 off;
	bool			 one;

	for (i = 0; f[i].name != NULL; i++)
		if ((f[i].opts & F_REQ) && !r->v[i].set)
			return usage_fail(jb, "%s is required", flag_label(&f[i], a, sizeof(a)));
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
			return usage_fail(jb, "%s and %s cannot be combined",
			    flag_label(&f[first], a, sizeof(a)),
			    flag_label(&f[second], b, sizeof(b)));
		if (first == -1 && one)
			return usage_fail(jb, "give one of %s", list);
	}
	return r->cmd->check != NULL ? r->cmd->check(jb, r) : 0;
}

/*
 * Walk the arguments after the command words into r: flags as `--name
 * value` or `--name=value`, positionals in table order, `--` ends the flags.
 * Every mistake is a usage error naming the flag: 0, or 64.
 */
int
parse_args(struct job *jb, struct req *r, char **av, int ac)
{
	const struct cmd	*c = r->cmd;
	const struct flag	*f = c->flags, *fl;
	const char		*names[MAXFLAGS + 1], *arg, *name, *eq;
	char			 hint[256];
	int			 i, k, n = 0, rc;
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
				return usage_fail(jb, "unexpected argument '%s'", arg);
			r->v[k].set = true;
			if ((rc = parse_value(jb, &f[k], arg, &r->v[k])) != 0)
				return rc;
			continue;
		}
		if (arg[1] != '-')
			return usage_fail(jb, "unknown flag '%s'", arg);
		name = arg + 2;
		eq = strchr(name, '=');
		k = flag_index(f, name, eq ? (size_t)(eq - name) : strlen(name));
		if (k == -1 || (f[k].opts & F_POS)) {
			char	 bare[64];

			snprintf(bare, sizeof(bare), "%.*s",
			    (int)(eq ? eq - name : (int)strlen(name)), name);
			suggest(bare, names, "--", hint, sizeof(hint));
			return usage_fail(jb, "unknown flag '--%s'%s", bare, hint);
		}
		fl = &f[k];
		if (r->v[k].set)
			return usage_fail(jb, "--%s given twice", fl->name);
		r->v[k].set = true;
		if (fl->meta == NULL) {
			if (eq != NULL)
				return usage_fail(jb, "--%s takes no value", fl->name);
			continue;
		}
		if (eq != NULL)
			rc = parse_value(jb, fl, eq + 1, &r->v[k]);
		else if (i + 1 < ac && strncmp(av[i + 1], "--", 2) != 0)
			rc = parse_value(jb, fl, av[++i], &r->v[k]);
		else
			rc = usage_fail(jb, "--%s needs a value (%s)", fl->name, fl->meta);
		if (rc != 0)
			return rc;
	}
	return check_required(jb, r);
}

/* What parsing r took for itself: the documents read from files. */
void
req_free(struct req *r)
{
	size_t	 i;

	for (i = 0; i < MAXFLAGS; i++) {
		free(r->v[i].buf);
		r->v[i].buf = NULL;
	}
}
