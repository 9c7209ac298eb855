/*
 * transfer.c: tokq export and tokq import.
 *
 * export asks tokqd for one page of raw events after another (the export
 * op, at most 1000 events a page, on one connection) and writes each page
 * as it comes: JSON lines or CSV, the same columns either way.  import
 * reads what export writes, or a CSV/JSONL table from another tool with
 * the obvious column names, checks the whole input before it sends
 * anything, then sends it in batches of up to 500 events (the import op);
 * tokqd adds each batch whole or not at all.  Errors name the line.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define PAGE_LIMIT	1000
#define BATCH_BYTES	(768 * 1024)
#define END		(-1)		/* no more rows: not an exit code */

/* The columns of an export, in order; import knows them and some aliases. */
enum col {
	C_ID, C_AT, C_USER, C_GUILD, C_CHANNEL, C_MODEL, C_SERVICE, C_KIND, C_SESSION,
	C_CALL, C_PROMPT, C_COMPLETION, C_TOTAL, C_CACHED, C_CACHE_WRITE, C_REASONING,
	C_COST, C_META, C_NCOLS,
	C_IGNORE = C_NCOLS,
};
static const char *const col_names[C_NCOLS] = {
	"id", "at", "user", "guild", "channel", "model", "service", "kind", "session",
	"call", "prompt", "completion", "total", "cached", "cache_write", "reasoning",
	"cost_usd", "meta",
};
/* The wire keys of the import op, by column; NULL: not sent. */
static const char *const col_keys[C_NCOLS] = {
	NULL, "at", "user", "guild", "channel", "model", "service", "kind", "session",
	"call", "prompt", "completion", "total", "cached", "cache_write", "reasoning",
	"cost", "meta",
};
/* Other tools' names (the seeds' tables, provider usage fields). */
static const struct {
	const char	*name;
	enum col	 col;
} aliases[] = {
	{ "timestamp", C_AT }, { "time", C_AT }, { "created_at", C_AT },
	{ "user_id", C_USER }, { "guild_id", C_GUILD }, { "channel_id", C_CHANNEL },
	{ "session_id", C_SESSION }, { "call_index", C_CALL },
	{ "prompt_tokens", C_PROMPT }, { "input_tokens", C_PROMPT },
	{ "completion_tokens", C_COMPLETION }, { "output_tokens", C_COMPLETION },
	{ "total_tokens", C_TOTAL }, { "tokens", C_TOTAL },
	{ "cached_tokens", C_CACHED }, { "reasoning_tokens", C_REASONING },
	{ "cost", C_COST }, { "message_type", C_KIND }, { "requests", C_IGNORE },
	{ "type", C_IGNORE },		/* export --all's "event" */
};

static enum col
col_of(const char *name, size_t n)
{
	size_t	 i;

	for (i = 0; i < C_NCOLS; i++)
		if (strlen(col_names[i]) == n && memcmp(col_names[i], name, n) == 0)
			return i;
	for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strlen(aliases[i].name) == n && memcmp(aliases[i].name, name, n) == 0)
			return aliases[i].col;
	return -1;
}

/* USD to nano-USD, rounded (no -lm for one llround). */
static int64_t
nusd_of(double d)
{
	return d < 0 ? -(int64_t)(-d * 1e9 + 0.5) : (int64_t)(d * 1e9 + 0.5);
}

/* ---- export --------------------------------------------------------------- */

static void
csv_field(FILE *f, const char *s, size_t n)
{
	size_t	 i;

	if (n > 0 && strcspn(s, ",\"\r\n") >= n && s[0] != ' ' && s[n - 1] != ' ') {
		fwrite(s, 1, n, f);
		return;
	}
	fputc('"', f);
	for (i = 0; i < n; i++) {
		if (s[i] == '"')
			fputc('"', f);
		fputc(s[i], f);
	}
	fputc('"', f);
}

/* A JSON document on one line: its whitespace (outside strings) made spaces. */
static void
json_raw(FILE *f, const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		fputc(s[i] == '\n' || s[i] == '\r' || s[i] == '\t' ? ' ' : s[i], f);
}

/* One event of an export page, as a CSV row or a JSON line. */
static void
write_event(FILE *f, const msgpack_object *e, bool csv)
{
	const msgpack_object	*o;
	char			 num[64];
	size_t			 i;

	if (!csv)
		fputc('{', f);
	for (i = 0; i < C_NCOLS; i++) {
		o = mp_get(e, col_names[i]);
		if (i > 0)
			fputc(',', f);
		if (!csv) {
			json_write_str(f, col_names[i], strlen(col_names[i]));
			fputc(':', f);
		}
		if (o == NULL || o->type == MSGPACK_OBJECT_NIL) {
			if (!csv)
				fputs("null", f);
			continue;
		}
		if (i == C_COST) {
			double	 d = o->type == MSGPACK_OBJECT_FLOAT64 ||
			    o->type == MSGPACK_OBJECT_FLOAT32 ? o->via.f64 :
			    (double)mp_int(e, col_names[i], 0);

			fputs(tokq_fmt_usd(nusd_of(d), num, sizeof(num)), f);
		} else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			fprintf(f, "%llu", (unsigned long long)o->via.u64);
		else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
			fprintf(f, "%lld", (long long)o->via.i64);
		else if (o->type != MSGPACK_OBJECT_STR)
			fputs(csv ? "" : "null", f);
		else if (csv)
			csv_field(f, o->via.str.ptr, o->via.str.size);
		else if (i == C_META)
			json_raw(f, o->via.str.ptr, o->via.str.size);
		else
			json_write_str(f, o->via.str.ptr, o->via.str.size);
	}
	fputs(csv ? "\r\n" : "}\n", f);
}

/* One export request: the filters, and the cursor after the first page. */
static void
pack_export(const struct req *r, msgpack_sbuffer *sb, bool more, int64_t at, int64_t id)
{
	static const char *const ids[] = { "user", "guild" };
	static const char *const times[] = { "since", "until" };
	msgpack_packer	 pk;
	int		 n = 3, i;

	for (i = 0; i < 2; i++)
		n += req_val(r, ids[i])->set + req_val(r, times[i])->set;
	n += more ? 2 : 0;
	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, n);
	msgpack_pack_str_with_body(&pk, "v", 1);
	msgpack_pack_int(&pk, TOKQ_PROTOCOL);
	msgpack_pack_str_with_body(&pk, "op", 2);
	msgpack_pack_str_with_body(&pk, "export", 6);
	msgpack_pack_str_with_body(&pk, "limit", 5);
	msgpack_pack_int(&pk, PAGE_LIMIT);
	for (i = 0; i < 2; i++) {
		const struct val	*v = req_val(r, ids[i]);

		if (v->set) {
			msgpack_pack_str_with_body(&pk, ids[i], strlen(ids[i]));
			msgpack_pack_str_with_body(&pk, v->s, v->slen);
		}
		v = req_val(r, times[i]);
		if (v->set) {
			msgpack_pack_str_with_body(&pk, times[i], strlen(times[i]));
			msgpack_pack_int64(&pk, v->i);
		}
	}
	if (more) {
		msgpack_pack_str_with_body(&pk, "after_at", 8);
		msgpack_pack_int64(&pk, at);
		msgpack_pack_str_with_body(&pk, "after_id", 8);
		msgpack_pack_int64(&pk, id);
	}
}

/* ---- a history moved whole: export --all, and its typed lines --------- */

/*
 * export --all writes, before the events, one JSON line for each setting,
 * as the request that sets it again ("type" is the op, the rest its
 * arguments), and one for each daily total no raw event stands for (the
 * days pruned to their totals), "type": "total".  import sends them back
 * in that order: the settings, the totals, then the events.
 */
static const char *const setting_ops[] = {
	"price_set", "limit_set", "plan_assign", "bypass_add",
};

/* One request {v, op} on fd; its reply in *reply. */
static int
call_op(struct job *jb, int fd, const char *op, msgpack_sbuffer *sb,
    msgpack_unpacked *up, char **buf, const msgpack_object **reply)
{
	msgpack_packer	 pk;

	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	msgpack_pack_str_with_body(&pk, "v", 1);
	msgpack_pack_int(&pk, TOKQ_PROTOCOL);
	msgpack_pack_str_with_body(&pk, "op", 2);
	msgpack_pack_str_with_body(&pk, op, strlen(op));
	return client_call(jb, fd, sb, up, buf, reply);
}

/* A typed line: {"type": type, the map's pairs but nils} (and id, when set). */
static void
write_typed(const char *type, const msgpack_object *map, const char *key,
    const msgpack_object *id)
{
	json_t		*o = json_object(), *m;
	const char	*k;
	json_t		*v;

	json_object_set_new(o, "type", json_string(type));
	if (map != NULL && (m = json_of(map)) != NULL) {
		json_object_foreach(m, k, v)
			if (!json_is_null(v))
				json_object_set(o, k, v);
		json_decref(m);
	}
	if (key != NULL)
		json_object_set_new(o, key, json_of(id));
	json_write(stdout, o);
	fputc('\n', stdout);
	json_decref(o);
}

/* Each element of the array at reply's key as a typed line. */
static void
write_list(const msgpack_object *reply, const char *key, const char *type,
    const char *idkey)
{
	const msgpack_object	*a = mp_get(reply, key);
	uint32_t		 i;

	for (i = 0; a && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size; i++)
		if (idkey)
			write_typed(type, NULL, idkey, &a->via.array.ptr[i]);
		else
			write_typed(type, &a->via.array.ptr[i], NULL, NULL);
}

/* The settings, then the totals, as typed lines. */
static int
export_all(struct job *jb, int fd, msgpack_sbuffer *sb, msgpack_unpacked *up,
    char **buf)
{
	const msgpack_object	*reply, *next, *rows;
	msgpack_packer		 pk;
	uint32_t		 i;
	int			 rc;

	if ((rc = call_op(jb, fd, "price_list", sb, up, buf, &reply)) != 0)
		return rc;
	write_list(reply, "prices", "price_set", NULL);
	if ((rc = call_op(jb, fd, "limit_list", sb, up, buf, &reply)) != 0)
		return rc;
	write_list(reply, "rules", "limit_set", NULL);
	if ((rc = call_op(jb, fd, "plan_list", sb, up, buf, &reply)) != 0)
		return rc;
	write_list(reply, "assignments", "plan_assign", NULL);
	if ((rc = call_op(jb, fd, "bypass_list", sb, up, buf, &reply)) != 0)
		return rc;
	write_list(reply, "users", "bypass_add", "user");
	write_list(reply, "guilds", "bypass_add", "guild");
	/* The totals, page after page; next is the cursor, as it came. */
	for (next = NULL;;) {
		msgpack_sbuffer_clear(sb);
		msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 3 + (next ? next->via.map.size : 0));
		msgpack_pack_str_with_body(&pk, "v", 1);
		msgpack_pack_int(&pk, TOKQ_PROTOCOL);
		msgpack_pack_str_with_body(&pk, "op", 2);
		msgpack_pack_str_with_body(&pk, "export_totals", 13);
		msgpack_pack_str_with_body(&pk, "limit", 5);
		msgpack_pack_int(&pk, PAGE_LIMIT);
		for (i = 0; next && i < next->via.map.size; i++) {
			msgpack_pack_object(&pk, next->via.map.ptr[i].key);
			msgpack_pack_object(&pk, next->via.map.ptr[i].val);
		}
		if ((rc = client_call(jb, fd, sb, up, buf, &reply)) != 0)
			return rc;
		rows = mp_get(reply, "rows");
		for (i = 0; rows && rows->type == MSGPACK_OBJECT_ARRAY &&
		    i < rows->via.array.size; i++)
			write_typed("total", &rows->via.array.ptr[i], NULL, NULL);
		next = mp_get(reply, "next");
		if (next == NULL || next->type != MSGPACK_OBJECT_MAP || ferror(stdout))
			return 0;
	}
}

/*
 * export: page after page until tokqd says there is no next one.  With
 * --json the lines are JSON (jsonl), whatever --format says.  With --all,
 * the settings and the totals first (export_all).
 */
int
run_export(struct job *jb, const struct req *r, const char *sock)
{
	const char		*fmt = req_str(r, "format");
	bool			 csv = !jb->json && fmt != NULL && strcmp(fmt, "csv") == 0;
	msgpack_sbuffer		 sb;
	msgpack_unpacked	 up;
	const msgpack_object	*reply, *evs, *next;
	int64_t			 at = 0, id = 0;
	char			*buf = NULL;
	bool			 more = false;
	uint32_t		 i;
	size_t			 c;
	int			 fd = conn_connect(jb, sock), rc = 0;

	if (fd == -1)
		return jb->exit;
	msgpack_sbuffer_init(&sb);
	msgpack_unpacked_init(&up);
	if (csv) {
		for (c = 0; c < C_NCOLS; c++)
			printf("%s%s", c ? "," : "", col_names[c]);
		fputs("\r\n", stdout);
	}
	if (req_val(r, "all")->set && (rc = export_all(jb, fd, &sb, &up, &buf)) != 0)
		more = false;
	for (; rc == 0;) {
		pack_export(r, &sb, more, at, id);
		if ((rc = client_call(jb, fd, &sb, &up, &buf, &reply)) != 0)
			break;
		evs = mp_get(reply, "events");
		for (i = 0; evs && evs->type == MSGPACK_OBJECT_ARRAY && i < evs->via.array.size; i++)
			write_event(stdout, &evs->via.array.ptr[i], csv);
		next = mp_get(reply, "next");
		if (next == NULL || next->type != MSGPACK_OBJECT_MAP)
			break;
		at = mp_int(next, "after_at", 0);
		id = mp_int(next, "after_id", 0);
		more = true;
		if (ferror(stdout))
			break;
	}
	close(fd);
	free(buf);
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sb);
	if (rc != 0)
		return rc;
	if (fflush(stdout) == EOF || ferror(stdout))
		return job_fail(jb, TOKQ_EXIT_SOFTWARE, "cannot write output: %s",
		    strerror(errno));
	return TOKQ_EXIT_OK;
}

/* ---- import: reading ------------------------------------------------------ */

/* One field of an input row: its text (unescaped), or raw JSON for meta. */
struct field {
	const char	*s;
	size_t		 n;
	bool		 set;		/* not null and not empty */
	bool		 number;	/* a JSON number (not a string) */
	bool		 raw;		/* a JSON object or array */
};

struct row {
	struct field	 f[C_NCOLS];
	int64_t		 v[C_NCOLS];	/* the numbers, and at */
	int64_t		 line;
};

struct input {
	char		*buf, *p, *end;
	char		*scratch;	/* unescaped strings of the current row */
	size_t		 sused, scap;
	bool		 csv;
	int64_t		 line;		/* of the next byte */
	enum col	 cols[256];	/* CSV: the header's columns */
	int		 ncols;
	const char	*what;		/* the file's name, for messages */
	struct job	*jb;		/* where a bad line is told */
	json_t		*typed;		/* export --all's typed lines: [line, object] */
	bool		 collect;	/* the first pass: keep them */
};
#define TYPED		(-2)		/* a typed line was taken: not an exit code */

/* All of path (or stdin for "-") into *bufp, NUL-terminated: 0, or the code. */
static int
slurp(struct job *jb, const char *path, char **bufp, size_t *len)
{
	char	*buf = NULL, *nb;
	size_t	 cap = 0, n = 0;
	ssize_t	 k;
	int	 fd;

	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return job_fail(jb, TOKQ_EXIT_USAGE, "import: cannot open %s: %s", path,
		    strerror(errno));
	for (;;) {
		if (cap - n < 65536) {
			cap = cap ? cap * 2 : 1 << 20;
			if ((nb = realloc(buf, cap + 1)) == NULL) {
				job_fail(jb, TOKQ_EXIT_SOFTWARE, "import: out of memory");
				break;
			}
			buf = nb;
		}
		k = read(fd, buf + n, cap - n);
		if (k == -1 && errno == EINTR)
			continue;
		if (k == -1) {
			job_fail(jb, TOKQ_EXIT_USAGE, "import: cannot read %s: %s", path,
			    strerror(errno));
			break;
		}
		if (k == 0)
			break;
		n += k;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	if (jb->exit != 0) {
		free(buf);
		return jb->exit;
	}
	buf[n] = '\0';
	*bufp = buf;
	*len = n;
	return 0;
}

/* A bad line of the input, found before anything is sent: 65. */
static int __attribute__((format(printf, 3, 4)))
bad(const struct input *in, int64_t line, const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return job_fail(in->jb, TOKQ_EXIT_DATAERR, "import: %s line %lld: %s (nothing was "
	    "imported)", in->what, (long long)line, msg);
}

/* Past JSON's whitespace. */
static const char *
skip_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/*
 * One JSON value at p, up to e, parsed by jansson: the value (a new
 * reference), and in *endp the byte after it, so that its text is there
 * too (a number as it was written, meta verbatim).  A number beyond what
 * jansson holds (99999999999999999999, 1e400) is no value to it but is
 * one here, given as json_null() with *num set: the columns judge it.
 * NULL when there is no valid value at p.
 */
static json_t *
js_value(const char *p, const char *e, const char **endp, bool *num)
{
	json_error_t	 err;
	json_t		*j;

	*num = false;
	j = json_loadb(p, e - p, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK |
	    JSON_ALLOW_NUL, &err);
	if (j == NULL && json_error_code(&err) == json_error_numeric_overflow) {
		*num = true;
		j = json_null();
	}
	if (j != NULL)
		*endp = p + err.position;
	return j;
}

static char *
scratch(struct input *in, size_t n)
{
	char	*s;

	if (in->sused + n + 1 > in->scap)
		return NULL;
	s = in->scratch + in->sused;
	in->sused += n + 1;
	return s;
}

/* A field into its column of rw: 0, or 65 for an unknown or a repeated one. */
static int
take_field(struct input *in, struct row *rw, enum col c, const char *name, size_t nlen,
    struct field fv)
{
	if ((int)c == -1)
		return bad(in, rw->line, "unknown %s '%.*s' (known: the columns export writes, "
		    "and user_id, guild_id, channel_id, session_id, call_index, "
		    "prompt_tokens, completion_tokens, total_tokens, timestamp, ...)",
		    in->csv ? "column" : "key", (int)(nlen > 64 ? 64 : nlen), name);
	if (c == C_IGNORE || c == C_ID)
		return 0;
	if (rw->f[c].set && fv.set)
		return bad(in, rw->line, "%s given twice", col_names[c]);
	if (fv.set)
		rw->f[c] = fv;
	return 0;
}

/*
 * The next JSON line into rw: 0, END at the end of the input, or 65 for a
 * line that is no JSON object of known keys.  jansson
 * reads each key and each value; this walks only the braces, colons and
 * commas between them, to keep each value's own text.
 */
/*
 * A line of export --all that is not an event: a setting (its op as
 * "type") or a daily total ("total").  Kept on the first pass; TYPED, or
 * 65 for an unknown type.
 */
static int
typed_line(struct input *in, const char *p, const char *e, int64_t line)
{
	json_t		*o = json_loadb(p, e - p, 0, NULL), *t;
	const char	*type;
	size_t		 i;

	if (o == NULL || (t = json_object_get(o, "type")) == NULL ||
	    (type = json_string_value(t)) == NULL || strcmp(type, "event") == 0) {
		json_decref(o);
		return 0;	/* an event, read as one */
	}
	for (i = 0; i < sizeof(setting_ops) / sizeof(setting_ops[0]); i++)
		if (strcmp(type, setting_ops[i]) == 0)
			break;
	if (i == sizeof(setting_ops) / sizeof(setting_ops[0]) &&
	    strcmp(type, "total") != 0) {
		json_decref(o);
		return bad(in, line, "unknown type (an event, total, price_set, "
		    "limit_set, plan_assign or bypass_add)");
	}
	if (in->collect && (in->typed != NULL || (in->typed = json_array()) != NULL))
		json_array_append_new(in->typed, json_pack("[I,o]", (json_int_t)line, o));
	else
		json_decref(o);
	return TYPED;
}

static int
read_jsonl(struct input *in, struct row *rw)
{
	const char	*p, *e, *q, *k;
	json_t		*key, *v;
	char		*s;
	size_t		 kl, n;
	enum col	 c;
	int		 rc;
	bool		 num;

	for (;;) {
		if (in->p >= in->end)
			return END;
		e = memchr(in->p, '\n', in->end - in->p);
		if (e == NULL)
			e = in->end;
		rw->line = in->line++;
		p = skip_ws(in->p, e);
		in->p = (char *)(e < in->end ? e + 1 : e);
		if (p < e)
			break;
	}
	if (memmem(p, e - p, "\"type\"", 6) != NULL &&
	    (rc = typed_line(in, p, e, rw->line)) != 0)
		return rc;
	if (*p++ != '{')
		return bad(in, rw->line, "not a JSON object");
	p = skip_ws(p, e);
	if (p < e && *p == '}') {
		p++;
		goto end;
	}
	for (;;) {
		struct field	 fv = { NULL, 0, false, false, false };

		if (p >= e || *p != '"' || (key = js_value(p, e, &q, &num)) == NULL)
			return bad(in, rw->line, "not a JSON object (a key is missing or "
			    "malformed)");
		p = skip_ws(q, e);
		if (p >= e || *p++ != ':') {
			json_decref(key);
			return bad(in, rw->line, "not a JSON object (':' expected)");
		}
		p = skip_ws(p, e);
		if ((v = js_value(p, e, &q, &num)) == NULL) {
			json_decref(key);
			return bad(in, rw->line, p < e && *p == '"' ? "a malformed string" :
			    "a malformed value");
		}
		k = json_string_value(key);
		kl = json_string_length(key);
		c = col_of(k, kl);
		/* meta is JSON whatever it holds: a string one goes on as written. */
		if (json_is_string(v) && c != C_META) {
			n = json_string_length(v);
			if ((s = scratch(in, n)) == NULL) {
				json_decref(key);
				json_decref(v);
				return bad(in, rw->line, "a malformed string");
			}
			memcpy(s, json_string_value(v), n);
			s[n] = '\0';
			fv = (struct field){ s, n, n > 0, false, false };
		} else if (!json_is_null(v) || num) {
			if ((s = scratch(in, q - p)) == NULL) {
				json_decref(key);
				json_decref(v);
				return bad(in, rw->line, "a malformed value");
			}
			memcpy(s, p, q - p);
			s[q - p] = '\0';
			num |= json_is_number(v);
			fv = (struct field){ s, (size_t)(q - p), true, num, !num };
		}
		json_decref(v);
		rc = take_field(in, rw, c, k, kl, fv);
		json_decref(key);
		if (rc != 0)
			return rc;
		p = skip_ws(q, e);
		if (p < e && *p == ',') {
			p = skip_ws(p + 1, e);
			continue;
		}
		if (p < e && *p == '}') {
			p++;
			break;
		}
		return bad(in, rw->line, "not a JSON object (',' or '}' expected)");
	}
end:
	if (skip_ws(p, e) != e)
		return bad(in, rw->line, "more than one JSON object on the line");
	return 0;
}

/* A bad CSV field: its line told (65), -1 for csv_next to return. */
static int
bad_field(const struct input *in, int64_t line, const char *what)
{
	bad(in, line, "%s", what);
	return -1;
}

/*
 * One CSV field at in->p into *f (RFC 4180: quoted fields may hold commas,
 * "" and line breaks).  Returns the character that ended it: ',', '\n' or
 * 0 at the end of the input; -1 for a bad field (65 formed).
 */
static int
csv_next(struct input *in, struct field *f, int64_t line)
{
	char	*s, *o;
	int	 c;

	if (in->p < in->end && *in->p == '"') {
		size_t	 n = 0;
		char	*q;

		for (q = in->p + 1; q < in->end; q++, n++)
			if (*q == '"' && (q + 1 >= in->end || *++q != '"'))
				break;
		if ((s = o = scratch(in, n)) == NULL)
			return bad_field(in, line, "a field too long");
		for (in->p++;; in->p++) {
			if (in->p >= in->end)
				return bad_field(in, line, "a quoted field does not end");
			if (*in->p == '"') {
				if (in->p + 1 < in->end && in->p[1] == '"') {
					*o++ = '"';
					in->p++;
					continue;
				}
				in->p++;
				break;
			}
			if (*in->p == '\n')
				in->line++;
			*o++ = *in->p;
		}
		*o = '\0';
		f->s = s, f->n = o - s;
		if (in->p < in->end && *in->p == '\r')
			in->p++;
		if (in->p < in->end && *in->p != ',' && *in->p != '\n')
			return bad_field(in, line, "text after a quoted field");
	} else {
		s = in->p;
		while (in->p < in->end && *in->p != ',' && *in->p != '\n')
			in->p++;
		f->n = in->p - s;
		if (f->n > 0 && s[f->n - 1] == '\r' && (in->p >= in->end || *in->p == '\n'))
			f->n--;
		if ((f->s = o = scratch(in, f->n)) == NULL)
			return bad_field(in, line, "a field too long");
		memcpy(o, s, f->n);
		o[f->n] = '\0';
	}
	f->set = f->n > 0;
	if (in->p >= in->end)
		return 0;
	c = *in->p++;
	if (c == '\n')
		in->line++;
	return c;
}

/* The next CSV record into rw: 0, END at the end of the input, or 65. */
static int
read_csv(struct input *in, struct row *rw)
{
	struct field	 f;
	int		 i = 0, c, rc;

	while (in->p < in->end && (*in->p == '\n' || *in->p == '\r')) {
		if (*in->p == '\n')
			in->line++;
		in->p++;
	}
	if (in->p >= in->end)
		return END;
	rw->line = in->line;
	do {
		memset(&f, 0, sizeof(f));
		if ((c = csv_next(in, &f, rw->line)) == -1)
			return in->jb->exit;
		if (i >= in->ncols)
			return bad(in, rw->line, "more fields than the header has columns");
		if ((rc = take_field(in, rw, in->cols[i], col_names[0], 0, f)) != 0)
			return rc;
		i++;
	} while (c == ',');
	if (i != in->ncols)
		return bad(in, rw->line, "%d fields, the header has %d columns", i,
		    in->ncols);
	return 0;
}

/* The CSV header's columns into in->cols: 0, or 65. */
static int
read_header(struct input *in)
{
	struct field	 f;
	int		 c;
	enum col	 k;

	in->ncols = 0;
	in->line = 1;
	do {
		in->sused = 0;
		memset(&f, 0, sizeof(f));
		if ((c = csv_next(in, &f, 1)) == -1)
			return in->jb->exit;
		if (in->ncols == 256)
			return bad(in, 1, "more than 256 columns");
		k = col_of(f.s, f.n);
		if ((int)k == -1)
			return bad(in, 1, "unknown column '%.*s' (known: the columns export writes, "
			    "and user_id, guild_id, channel_id, session_id, call_index, "
			    "prompt_tokens, completion_tokens, total_tokens, timestamp, ...)",
			    (int)(f.n > 64 ? 64 : f.n), f.s);
		in->cols[in->ncols++] = k;
	} while (c == ',');
	return 0;
}

/* ---- import: checking ----------------------------------------------------- */

/* The row's values checked as tokqd will check them, rw->v filled: 0, or 65. */
static int
check_row(const struct input *in, struct row *rw)
{
	static const enum col ids[] = { C_USER, C_GUILD, C_CHANNEL, C_MODEL, C_SERVICE,
	    C_KIND, C_SESSION };
	static const enum col nums[] = { C_CALL, C_PROMPT, C_COMPLETION, C_TOTAL,
	    C_CACHED, C_CACHE_WRITE, C_REASONING };
	struct field	*f;
	char		 t[80];
	size_t		 i;
	int64_t		 v;

	if (!rw->f[C_USER].set)
		return bad(in, rw->line, "no user");
	if (!rw->f[C_AT].set)
		return bad(in, rw->line, "no time (at or timestamp)");
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		f = &rw->f[ids[i]];
		if (f->set && (f->raw || strlen(f->s) != f->n || !tokq_id_valid(f->s)))
			return bad(in, rw->line, "invalid %s '%.*s': an id is 1 to %d bytes of UTF-8 "
			    "without control characters", col_names[ids[i]],
			    (int)(f->n > 64 ? 64 : f->n), f->s, TOKQ_ID_MAX);
	}
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		f = &rw->f[nums[i]];
		if (f->set && (f->raw || tokq_parse_u64(f->s, &rw->v[nums[i]]) == -1))
			return bad(in, rw->line, "%s: bad value '%.*s' (want a whole number >= 0)",
			    col_names[nums[i]], (int)(f->n > 64 ? 64 : f->n), f->s);
	}
	f = &rw->f[C_AT];
	if (f->raw || f->n >= sizeof(t) - 1)
		return bad(in, rw->line, "at: bad time");
	if (strspn(f->s, "0123456789") == f->n)
		snprintf(t, sizeof(t), "@%s", f->s);	/* Unix seconds */
	else
		snprintf(t, sizeof(t), "%s", f->s);
	if (tokq_parse_time(t, &rw->v[C_AT]) == -1 || rw->v[C_AT] < 0)
		return bad(in, rw->line, "at: bad time '%.*s' (want 2026-12-01T10:00:00Z, "
		    "2026-12-01 10:00:00 or Unix seconds)", (int)(f->n > 64 ? 64 : f->n), f->s);
	f = &rw->f[C_COST];
	if (f->set) {
		bool	 ok = !f->raw;

		if (ok && tokq_parse_usd(f->s, &v) == -1) {
			char	*end;
			double	 d = strtod(f->s, &end);

			ok = *end == '\0' && isfinite(d) && d >= 0 && d <= 9e9;
			v = ok ? nusd_of(d) : 0;
		}
		if (!ok || v < 0 || v > 9000000000LL * TOKQ_NUSD_PER_USD)
			return bad(in, rw->line, "cost: bad value '%.*s' (want a dollar amount >= 0)",
			    (int)(f->n > 64 ? 64 : f->n), f->s);
		rw->v[C_COST] = v;
	}
	f = &rw->f[C_META];
	if (f->set && !f->raw) {
		json_t	*j = json_loadb(f->s, f->n, JSON_DECODE_ANY, NULL);

		if (j == NULL)
			return bad(in, rw->line, "meta is not JSON");
		json_decref(j);
	}
	if (rw->v[C_CACHED] + rw->v[C_CACHE_WRITE] > rw->v[C_PROMPT])
		return bad(in, rw->line, "cached and cache-write tokens are part of the prompt: "
		    "they cannot exceed it");
	if (rw->v[C_REASONING] > rw->v[C_COMPLETION])
		return bad(in, rw->line, "reasoning tokens are part of the completion: they cannot "
		    "exceed it");
	return 0;
}

/* The next row, read and checked: 0, END at the end of the input, or 65. */
static int
next_row(struct input *in, struct row *rw)
{
	int	 rc;

	memset(rw, 0, sizeof(*rw));
	in->sused = 0;
	do
		rc = in->csv ? read_csv(in, rw) : read_jsonl(in, rw);
	while (rc == TYPED);
	if (rc != 0)
		return rc;
	return check_row(in, rw);
}

/* One event as a map of the import op. */
static void
pack_row(msgpack_packer *pk, const struct row *rw)
{
	size_t	 c;
	int	 n = 0;

	for (c = 0; c < C_NCOLS; c++)
		n += col_keys[c] != NULL && rw->f[c].set;
	msgpack_pack_map(pk, n);
	for (c = 0; c < C_NCOLS; c++) {
		if (col_keys[c] == NULL || !rw->f[c].set)
			continue;
		msgpack_pack_str_with_body(pk, col_keys[c], strlen(col_keys[c]));
		switch (c) {
		case C_AT: case C_CALL: case C_PROMPT: case C_COMPLETION: case C_TOTAL:
		case C_CACHED: case C_CACHE_WRITE: case C_REASONING:
			msgpack_pack_int64(pk, rw->v[c]);
			break;
		case C_COST:
			msgpack_pack_double(pk, (double)rw->v[c] / TOKQ_NUSD_PER_USD);
			break;
		default:
			msgpack_pack_str_with_body(pk, rw->f[c].s, rw->f[c].n);
			break;
		}
	}
}

/* Back to the first row (past a CSV header): 0, or 65 for a bad header. */
static int
input_rewind(struct input *in)
{
	int	 rc;

	in->p = in->buf;
	in->line = 1;
	if (in->csv) {
		if ((rc = read_header(in)) != 0)
			return rc;
		in->line = 2;
	}
	return 0;
}

/*
 * Send the n packed events as one import request: 0, or the code of the
 * error.  A refusal names the line of the event it was about (tokqd says
 * "events[i]: ...") and what was imported before it.
 */
static int
batch_send(int fd, const msgpack_sbuffer *events, uint32_t n, const int64_t *lines,
    int64_t done, int64_t *first, int64_t *last, const struct input *in)
{
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	msgpack_unpacked	 up;
	const msgpack_object	*code;
	char			*buf, err[512], *msg = err;
	size_t			 len, off = 0;
	unsigned		 idx;
	int			 k = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str_with_body(&pk, "v", 1);
	msgpack_pack_int(&pk, TOKQ_PROTOCOL);
	msgpack_pack_str_with_body(&pk, "op", 2);
	msgpack_pack_str_with_body(&pk, "import", 6);
	msgpack_pack_str_with_body(&pk, "events", 6);
	msgpack_pack_array(&pk, n);
	msgpack_sbuffer_write(&sb, events->data, events->size);
	buf = conn_call(in->jb, fd, sb.data, sb.size, &len);
	msgpack_sbuffer_destroy(&sb);
	if (buf == NULL)
		return in->jb->exit;
	msgpack_unpacked_init(&up);
	if (tokq_frame_check(buf, len) != 0 ||
	    msgpack_unpack_next(&up, buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    (code = mp_get(&up.data, "code")) == NULL ||
	    code->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		msgpack_unpacked_destroy(&up);
		free(buf);
		return job_fail(in->jb, TOKQ_EXIT_SOFTWARE, "malformed reply from tokqd");
	}
	if (code->via.u64 == TOKQ_OK) {
		if (*first == 0)
			*first = mp_int(&up.data, "first_event", 0);
		*last = mp_int(&up.data, "last_event", 0);
		msgpack_unpacked_destroy(&up);
		free(buf);
		return 0;
	}
	if (mp_str(&up.data, "error", err, sizeof(err)) == NULL)
		snprintf(err, sizeof(err), "%s", tokq_code_name((int)code->via.u64));
	if (sscanf(err, "events[%u]: %n", &idx, &k) == 1 && k > 0 && idx < n)
		msg = err + k;
	else
		idx = 0;
	job_fail(in->jb, tokq_code_exit((int)(code->via.u64 > 255 ? 255 : code->via.u64)),
	    "import: %s line %lld: %s (%lld event%s before line %lld were imported, "
	    "none from there on)", in->what, (long long)lines[idx], msg, (long long)done,
	    done == 1 ? "" : "s", (long long)lines[0]);
	msgpack_unpacked_destroy(&up);
	free(buf);
	return in->jb->exit;
}

static void	pack_json(msgpack_packer *, const json_t *);

/* An object's pairs but "type", without the map's header. */
static void
pack_pairs(msgpack_packer *pk, const json_t *o)
{
	const char	*k;
	json_t		*x;

	json_object_foreach((json_t *)o, k, x) {
		if (strcmp(k, "type") == 0)
			continue;
		msgpack_pack_str_with_body(pk, k, strlen(k));
		pack_json(pk, x);
	}
}

/* A JSON value as msgpack; an object's "type" left out. */
static void
pack_json(msgpack_packer *pk, const json_t *v)
{
	size_t		 i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		msgpack_pack_map(pk, json_object_size(v) -
		    (json_object_get(v, "type") != NULL));
		pack_pairs(pk, v);
		break;
	case JSON_ARRAY:
		msgpack_pack_array(pk, json_array_size(v));
		for (i = 0; i < json_array_size(v); i++)
			pack_json(pk, json_array_get(v, i));
		break;
	case JSON_STRING:
		msgpack_pack_str_with_body(pk, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		msgpack_pack_int64(pk, json_integer_value(v));
		break;
	case JSON_REAL:
		msgpack_pack_double(pk, json_real_value(v));
		break;
	case JSON_TRUE:
		msgpack_pack_true(pk);
		break;
	case JSON_FALSE:
		msgpack_pack_false(pk);
		break;
	default:
		msgpack_pack_nil(pk);
		break;
	}
}

/* Send a request; a refusal names the line it came from.  0 or the exit. */
static int
typed_call(struct input *in, int fd, msgpack_sbuffer *sb, int64_t line)
{
	msgpack_unpacked	 up;
	const msgpack_object	*reply;
	char			*buf = NULL;
	int			 rc;

	msgpack_unpacked_init(&up);
	char			 msg[sizeof(in->jb->err)];

	if ((rc = client_call(in->jb, fd, sb, &up, &buf, &reply)) != 0) {
		/* The line it came from, before what tokqd said. */
		snprintf(msg, sizeof(msg), "%s", in->jb->err);
		in->jb->err[0] = '\0';
		in->jb->exit = 0;
		job_fail(in->jb, rc, "import: %s line %lld: %s", in->what,
		    (long long)line, msg);
	}
	msgpack_unpacked_destroy(&up);
	free(buf);
	return rc;
}

/*
 * export --all's typed lines, before any event: each setting as the
 * request it names, then the totals in batches of TOKQ_IMPORT_MAX.
 */
static int
send_typed(struct input *in, int fd, int64_t *nset, int64_t *ntot)
{
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	json_t		*e, *o;
	const char	*type;
	size_t		 i, j, n;
	int		 rc = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (i = 0; rc == 0 && i < json_array_size(in->typed); i++) {
		e = json_array_get(in->typed, i);
		o = json_array_get(e, 1);
		type = json_string_value(json_object_get(o, "type"));
		if (strcmp(type, "total") == 0)
			continue;
		msgpack_sbuffer_clear(&sb);
		msgpack_pack_map(&pk, 2 + json_object_size(o) - 1);
		msgpack_pack_str_with_body(&pk, "v", 1);
		msgpack_pack_int(&pk, TOKQ_PROTOCOL);
		msgpack_pack_str_with_body(&pk, "op", 2);
		msgpack_pack_str_with_body(&pk, type, strlen(type));
		pack_pairs(&pk, o);
		rc = typed_call(in, fd, &sb, json_integer_value(json_array_get(e, 0)));
		(*nset)++;
	}
	for (i = 0; rc == 0 && i < json_array_size(in->typed); i = j) {
		/* the next batch of totals */
		for (j = i, n = 0; j < json_array_size(in->typed) && n < TOKQ_IMPORT_MAX; j++)
			n += strcmp(json_string_value(json_object_get(json_array_get(
			    json_array_get(in->typed, j), 1), "type")), "total") == 0;
		if (n == 0)
			break;
		msgpack_sbuffer_clear(&sb);
		msgpack_pack_map(&pk, 3);
		msgpack_pack_str_with_body(&pk, "v", 1);
		msgpack_pack_int(&pk, TOKQ_PROTOCOL);
		msgpack_pack_str_with_body(&pk, "op", 2);
		msgpack_pack_str_with_body(&pk, "import_totals", 13);
		msgpack_pack_str_with_body(&pk, "rows", 4);
		msgpack_pack_array(&pk, n);
		for (; i < j; i++) {
			o = json_array_get(json_array_get(in->typed, i), 1);
			if (strcmp(json_string_value(json_object_get(o, "type")), "total") == 0)
				pack_json(&pk, o);
		}
		rc = typed_call(in, fd, &sb, json_integer_value(json_array_get(
		    json_array_get(in->typed, j - 1), 0)));
		*ntot += n;
	}
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/*
 * import: read the whole input, check every row (nothing is sent when one
 * is bad), then send batches of up to TOKQ_IMPORT_MAX events.  tokqd adds each
 * batch whole or not at all; should it refuse one (a time in its future)
 * or go away half way, the message says which lines made it in.
 */
int
run_import(struct job *jb, const struct req *r, const char *sock)
{
	const char		*fmt = req_str(r, "format"), *path = req_str(r, "FILE");
	struct input		 in;
	struct row		 rw;
	msgpack_sbuffer		 ev;
	msgpack_packer		 pk;
	int64_t			 total = 0, done = 0, first = 0, last = 0, lastline = 0;
	int64_t			 nset = 0, ntot = 0;
	int64_t			 lines[TOKQ_IMPORT_MAX];
	uint32_t		 n = 0;
	size_t			 len = 0, mark;
	char			 num[4][32];
	const char		*q;
	int			 fd, rc = 0;

	memset(&in, 0, sizeof(in));
	in.jb = jb;
	in.what = strcmp(path, "-") == 0 ? "stdin" : path;
	msgpack_sbuffer_init(&ev);
	msgpack_packer_init(&pk, &ev, msgpack_sbuffer_write);
	if ((rc = slurp(jb, path, &in.buf, &len)) != 0)
		goto out;
	in.end = in.buf + len;
	in.scap = 2 * len + 64;
	if ((in.scratch = malloc(in.scap + 1)) == NULL) {
		rc = job_fail(jb, TOKQ_EXIT_SOFTWARE, "import: out of memory");
		goto out;
	}
	q = skip_ws(in.buf, in.end);
	in.csv = fmt ? strcmp(fmt, "csv") == 0 : (q < in.end && *q != '{');
	if (q >= in.end) {
		rc = job_fail(jb, TOKQ_EXIT_DATAERR, "import: %s is empty", in.what);
		goto out;
	}

	/* the first pass: every row checked, and its packed size */
	if ((rc = input_rewind(&in)) != 0)
		goto out;
	in.collect = true;
	while ((rc = next_row(&in, &rw)) == 0) {
		msgpack_sbuffer_clear(&ev);
		pack_row(&pk, &rw);
		if (ev.size > BATCH_BYTES) {
			rc = bad(&in, rw.line, "the event is too large");
			goto out;
		}
		total++;
	}
	in.collect = false;
	if (rc != END)
		goto out;
	rc = 0;
	if (total == 0 && in.typed == NULL) {
		rc = job_fail(jb, TOKQ_EXIT_DATAERR, "import: %s holds no events", in.what);
		goto out;
	}

	/* the second pass, over rows known good: send */
	if ((fd = conn_connect(jb, sock)) == -1) {
		rc = jb->exit;
		goto out;
	}
	msgpack_sbuffer_clear(&ev);
	input_rewind(&in);
	if (in.typed != NULL && (rc = send_typed(&in, fd, &nset, &ntot)) != 0) {
		close(fd);
		goto out;
	}
	for (;;) {
		bool	 more = next_row(&in, &rw) == 0;

		mark = ev.size;
		if (more)
			pack_row(&pk, &rw);
		if (n > 0 && (!more || n == TOKQ_IMPORT_MAX || ev.size > BATCH_BYTES)) {
			msgpack_sbuffer	 rest;

			/* send what came before this row; keep this row for the next */
			msgpack_sbuffer_init(&rest);
			if (more)
				msgpack_sbuffer_write(&rest, ev.data + mark, ev.size - mark);
			ev.size = mark;
			rc = batch_send(fd, &ev, n, lines, done, &first, &last, &in);
			done += n;
			msgpack_sbuffer_clear(&ev);
			if (more)
				msgpack_sbuffer_write(&ev, rest.data, rest.size);
			msgpack_sbuffer_destroy(&rest);
			n = 0;
		}
		if (!more || rc != 0)
			break;
		lines[n++] = lastline = rw.line;
	}
	close(fd);
	if (rc != 0)
		;
	else if (jb->json)
		jb->out = json_pack("{s:I,s:I,s:I,s:s,s:I,s:I}", "imported", (json_int_t)done,
		    "first_event", (json_int_t)first, "last_event", (json_int_t)last,
		    "format", in.csv ? "csv" : "jsonl", "settings", (json_int_t)nset,
		    "totals", (json_int_t)ntot);
	else {
		if (in.typed != NULL)
			printf("imported %s setting%s and %s daily total%s of pruned days from %s\n",
			    fmt_int(nset, num[0], sizeof(num[0])), nset == 1 ? "" : "s",
			    fmt_int(ntot, num[1], sizeof(num[1])), ntot == 1 ? "" : "s", in.what);
		if (total > 0 || in.typed == NULL)
			printf("imported %s event%s from %s (%s, last line %s): events %s to %s\n",
			    fmt_int(done, num[0], sizeof(num[0])), done == 1 ? "" : "s",
			    in.what, in.csv ? "csv" : "jsonl",
			    fmt_int(lastline, num[1], sizeof(num[1])),
			    fmt_int(first, num[2], sizeof(num[2])),
			    fmt_int(last, num[3], sizeof(num[3])));
	}
out:
	json_decref(in.typed);
	free(in.scratch);
	free(in.buf);
	msgpack_sbuffer_destroy(&ev);
	return rc;
}
