/*
 * json.c: tokq's JSON output.
 *
 * --json turns the reply map, minus "v" and "code", into one JSON object:
 * generically, so every key the daemon adds shows up without a change
 * here.  Two writers give the same bytes:
 *  - json_put_reply() writes the map straight into a buffer, without a
 *    document in between: what tokq batch does for every answer;
 *  - jansson builds a document (json_of, keys in the daemon's order) and
 *    writes it through dump_chunk(), for everything else, and for the
 *    maps the first cannot copy exactly (a key that is no UTF-8 string,
 *    a key twice: jansson keeps the first place and the last value).
 * What both print, as tokq always has:
 *  - a real as "%.9f" with trailing zeros cut, so money reads as the
 *    contract shows it (0.0125, 2, 0.000000001) and never as
 *    0.012500000000000001 or 1e-09 (jansson prints 17 digits, which give
 *    the very double back, and dump_chunk prints that double again);
 *  - the escape of a control character in lower case (\u001b).
 * Two things tokqd never sends print differently than before: bytes
 * that are not UTF-8 come through as \xHH text (the daemon's own form,
 * was \ufffd), and an unsigned integer above 2^63 as the nearest double.
 * Output is built in memory (struct obuf) and leaves in one write.
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"

#define JSON_FLAGS	(JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY | \
			    JSON_REAL_PRECISION(17))

/*
 * Seed jansson's hash before its first object.  Left to itself it reads
 * /dev/urandom (an open, a read and a close on every spawn of tokq); the
 * objects here are tokqd's replies and the lines of an import, so an
 * address that ASLR places anew each run is seed enough.
 */
void
json_init(void)
{
	static char	 here;

	json_object_seed((size_t)(uintptr_t)&here ^ 0x9e3779b97f4a7c15ULL);
}

/*
 * A string of the reply as a JSON string: valid UTF-8 as it is.  An empty
 * one comes from msgpack without a pointer, which jansson takes for no
 * string: it is "".
 */
static json_t *
json_str(const char *s, size_t n)
{
	json_t	*j;
	char	*esc;
	size_t	 len;

	if (n == 0)
		return json_string("");
	if (tokq_utf8_valid(s, n))
		return json_stringn_nocheck(s, n);
	if ((esc = malloc(4 * n + 1)) == NULL)
		return NULL;
	len = tokq_utf8_escape(s, n, esc);
	j = json_stringn_nocheck(esc, len);
	free(esc);
	return j;
}

/* A bin value as a base64 string: JSON has no bytes. */
static json_t *
json_base64(const unsigned char *p, size_t n)
{
	static const char	 b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	json_t			*j;
	char			*out, *o;
	uint32_t		 v;
	size_t			 i;

	if ((o = out = malloc(4 * (n / 3 + 1) + 1)) == NULL)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		v = p[i] << 16 | p[i + 1] << 8 | p[i + 2];
		*o++ = b64[v >> 18], *o++ = b64[(v >> 12) & 63];
		*o++ = b64[(v >> 6) & 63], *o++ = b64[v & 63];
	}
	if (n - i == 1) {
		v = p[i] << 16;
		*o++ = b64[v >> 18], *o++ = b64[(v >> 12) & 63];
		*o++ = '=', *o++ = '=';
	} else if (n - i == 2) {
		v = p[i] << 16 | p[i + 1] << 8;
		*o++ = b64[v >> 18], *o++ = b64[(v >> 12) & 63];
		*o++ = b64[(v >> 6) & 63], *o++ = '=';
	}
	j = json_stringn_nocheck(out, o - out);
	free(out);
	return j;
}

/* A map key: JSON keys are strings, so a number key becomes one. */
static char *
json_keyof(const msgpack_object *k, char *buf, size_t len, size_t *n)
{
	size_t	 need;

	if (k->type == MSGPACK_OBJECT_STR && tokq_utf8_valid(k->via.str.ptr,
	    k->via.str.size)) {
		*n = k->via.str.size;
		return *n > 0 ? (char *)k->via.str.ptr : "";
	}
	if (k->type == MSGPACK_OBJECT_STR) {
		need = 4 * k->via.str.size;
		if (need > len)
			need = len & ~(size_t)3;
		*n = tokq_utf8_escape(k->via.str.ptr, need / 4, buf);
	} else if (k->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		*n = snprintf(buf, len, "%llu", (unsigned long long)k->via.u64);
	else if (k->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		*n = snprintf(buf, len, "%lld", (long long)k->via.i64);
	else
		*n = 0;
	return buf;
}

static json_t	*json_map(const msgpack_object *, bool);

/*
 * One msgpack object as a jansson value (a new reference; NULL only when
 * memory ran out).  Depth needs no guard: tokq_frame_check has capped
 * the nesting at TOKQ_NEST_MAX.
 */
json_t *
json_of(const msgpack_object *o)
{
	json_t		*a;
	uint32_t	 i;
	double		 d;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return json_null();
	case MSGPACK_OBJECT_BOOLEAN:
		return json_boolean(o->via.boolean);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > INT64_MAX)	/* beyond json_int_t: exact as a real */
			return json_real((double)o->via.u64);
		return json_integer((json_int_t)o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return json_integer(o->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		d = o->via.f64;
		if (d != d || d > 1e300 || d < -1e300)
			return json_null();
		return json_real(d);
	case MSGPACK_OBJECT_STR:
		return json_str(o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_BIN:
		return json_base64((const unsigned char *)o->via.bin.ptr, o->via.bin.size);
	case MSGPACK_OBJECT_ARRAY:
		if ((a = json_array()) == NULL)
			return NULL;
		for (i = 0; i < o->via.array.size; i++)
			json_array_append_new(a, json_of(&o->via.array.ptr[i]));
		return a;
	case MSGPACK_OBJECT_MAP:
		return json_map(o, false);
	default:
		return json_null();	/* ext: nothing JSON can say */
	}
}

/* A map; skip_vcode drops the reply's own "v" and "code". */
static json_t *
json_map(const msgpack_object *o, bool skip_vcode)
{
	json_t		*m;
	char		 kb[1024];
	const char	*k;
	size_t		 kn;
	uint32_t	 i;

	if ((m = json_object()) == NULL)
		return NULL;
	for (i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];

		if (skip_vcode && (mp_is_str(&kv->key, "v") || mp_is_str(&kv->key, "code")))
			continue;
		k = json_keyof(&kv->key, kb, sizeof(kb), &kn);
		json_object_setn_new_nocheck(m, k, kn, json_of(&kv->val));
	}
	return m;
}

/* The reply as the object --json prints: without "v" and "code". */
json_t *
json_of_reply(const msgpack_object *reply)
{
	return json_map(reply, true);
}

/* A C string as a JSON string, bytes that are not UTF-8 as \xHH text. */
json_t *
json_text(const char *s)
{
	return json_str(s, strlen(s));
}

/*
 * Room for n more bytes in o: false, o->nomem set, when memory ran out
 * (what is appended after that is dropped: the text is short, and says so).
 */
static bool
obuf_room(struct obuf *o, size_t n)
{
	size_t	 cap;
	char	*p;

	if (o->cap - o->len >= n)
		return true;
	if (o->nomem || n > SIZE_MAX / 4 - o->len)
		goto nomem;
	for (cap = o->cap > 0 ? o->cap : 1024; cap - o->len < n; cap *= 2)
		;
	if ((p = realloc(o->p, cap)) == NULL)
		goto nomem;
	o->p = p;
	o->cap = cap;
	return true;
nomem:
	o->nomem = true;
	return false;
}

void
obuf_add(struct obuf *o, const void *s, size_t n)
{
	if (n > 0 && obuf_room(o, n)) {
		memcpy(o->p + o->len, s, n);
		o->len += n;
	}
}

static inline void
obuf_byte(struct obuf *o, char c)
{
	if (o->len < o->cap || obuf_room(o, 1))
		o->p[o->len++] = c;
}

void
obuf_free(struct obuf *o)
{
	free(o->p);
	memset(o, 0, sizeof(*o));
}

/* A real as "%.9f" with trailing zeros, then a trailing ".", cut. */
static void
put_real(struct obuf *o, double d)
{
	char	 buf[400];
	int	 n;

	if ((n = snprintf(buf, sizeof(buf), "%.9f", d)) >= (int)sizeof(buf))
		n = sizeof(buf) - 1;
	while (n > 0 && buf[n - 1] == '0')
		n--;
	if (n > 0 && buf[n - 1] == '.')
		n--;
	if (n == 2 && buf[0] == '-' && buf[1] == '0')
		OBUF_LIT(o, "0");
	else
		obuf_add(o, buf, n);
}

/* An integer in decimal, as jansson prints one ("%lld"). */
void
json_put_int(struct obuf *o, int64_t v)
{
	char		 buf[24], *p = buf + sizeof(buf);
	uint64_t	 u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do
		*--p = '0' + u % 10;
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	obuf_add(o, p, buf + sizeof(buf) - p);
}

/*
 * s, n bytes of valid UTF-8, as a JSON string, escaped as jansson escapes
 * (", \, and the control characters; the rest as it is), controls in
 * lower case.
 */
static void
put_utf8(struct obuf *o, const char *s, size_t n)
{
	static const char	 hex[] = "0123456789abcdef";
	static const char	 brief[0x20] = {
		['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'
	};
	char			 esc[6] = { '\\', 'u', '0', '0' };
	size_t			 i, from = 0;
	unsigned char		 c;

	obuf_byte(o, '"');
	for (i = 0; i < n; i++) {
		if ((c = s[i]) >= 0x20 && c != '"' && c != '\\')
			continue;
		obuf_add(o, s + from, i - from);
		from = i + 1;
		if (c >= 0x20 || brief[c] != '\0') {
			esc[1] = c >= 0x20 ? c : brief[c];
			obuf_add(o, esc, 2);
			esc[1] = 'u';
		} else {
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			obuf_add(o, esc, 6);
		}
	}
	obuf_add(o, s + from, n - from);
	obuf_byte(o, '"');
}

/* Is s (n bytes) valid UTF-8?  ASCII, the usual case, is told at once. */
static bool
utf8_ok(const char *s, size_t n)
{
	unsigned char	 high = 0;
	size_t		 i;

	for (i = 0; i < n; i++)
		high |= (unsigned char)s[i];
	return high < 0x80 || tokq_utf8_valid(s, n);
}

/* s (n bytes) as a JSON string: bytes that are not UTF-8 as \xHH text. */
void
json_put_str(struct obuf *o, const char *s, size_t n)
{
	char	*esc;

	if (utf8_ok(s, n)) {
		put_utf8(o, s, n);
		return;
	}
	if ((esc = malloc(4 * n + 1)) == NULL) {
		o->nomem = true;
		return;
	}
	put_utf8(o, esc, tokq_utf8_escape(s, n, esc));
	free(esc);
}

/* Bytes as a base64 string, as json_base64 gives them. */
static void
put_base64(struct obuf *o, const unsigned char *p, size_t n)
{
	static const char	 b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t		 v;
	size_t			 i;
	char			*w;

	if (!obuf_room(o, 4 * (n / 3 + 1) + 2))
		return;
	w = o->p + o->len;
	*w++ = '"';
	for (i = 0; i + 2 < n; i += 3) {
		v = p[i] << 16 | p[i + 1] << 8 | p[i + 2];
		*w++ = b64[v >> 18], *w++ = b64[(v >> 12) & 63];
		*w++ = b64[(v >> 6) & 63], *w++ = b64[v & 63];
	}
	if (n - i == 1) {
		v = p[i] << 16;
		*w++ = b64[v >> 18], *w++ = b64[(v >> 12) & 63];
		*w++ = '=', *w++ = '=';
	} else if (n - i == 2) {
		v = p[i] << 16 | p[i + 1] << 8;
		*w++ = b64[v >> 18], *w++ = b64[(v >> 12) & 63];
		*w++ = b64[(v >> 6) & 63], *w++ = '=';
	}
	*w++ = '"';
	o->len = w - o->p;
}

#define PUT_MAP_KEYS	32	/* more keys than that: jansson's way (dupes are
				   looked for pairwise) */

static int	 put_obj(struct obuf *, const msgpack_object *);

/*
 * A map as json_map() then jansson print it: 0, or -1 when a kept key is
 * no UTF-8 string or comes twice, which jansson's document tells apart.
 */
static int
put_map(struct obuf *o, const msgpack_object *m, bool skip_vcode)
{
	const msgpack_object_kv	*kv = m->via.map.ptr;
	const msgpack_object	*k, *kj;
	uint32_t		 i, j, n = m->via.map.size;
	bool			 first = true;

	if (n > PUT_MAP_KEYS)
		return -1;
	obuf_byte(o, '{');
	for (i = 0; i < n; i++) {
		k = &kv[i].key;
		if (skip_vcode && (mp_is_str(k, "v") || mp_is_str(k, "code")))
			continue;
		if (k->type != MSGPACK_OBJECT_STR || !utf8_ok(k->via.str.ptr, k->via.str.size))
			return -1;
		for (j = 0; j < i; j++) {
			kj = &kv[j].key;
			if (kj->via.str.size == k->via.str.size && (k->via.str.size == 0 ||
			    memcmp(kj->via.str.ptr, k->via.str.ptr, k->via.str.size) == 0))
				return -1;
		}
		if (!first)
			obuf_byte(o, ',');
		first = false;
		put_utf8(o, k->via.str.ptr, k->via.str.size);
		obuf_byte(o, ':');
		if (put_obj(o, &kv[i].val) == -1)
			return -1;
	}
	obuf_byte(o, '}');
	return 0;
}

/* One value as json_of() then jansson print it: 0, or -1 (put_map). */
static int
put_obj(struct obuf *o, const msgpack_object *v)
{
	uint32_t	 i;
	double		 d;

	switch (v->type) {
	case MSGPACK_OBJECT_BOOLEAN:
		if (v->via.boolean)
			OBUF_LIT(o, "true");
		else
			OBUF_LIT(o, "false");
		return 0;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (v->via.u64 > INT64_MAX)	/* beyond json_int_t: a real */
			put_real(o, (double)v->via.u64);
		else
			json_put_int(o, (int64_t)v->via.u64);
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		json_put_int(o, v->via.i64);
		return 0;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		d = v->via.f64;
		if (d != d || d > 1e300 || d < -1e300)
			break;
		put_real(o, d);
		return 0;
	case MSGPACK_OBJECT_STR:
		json_put_str(o, v->via.str.ptr, v->via.str.size);
		return 0;
	case MSGPACK_OBJECT_BIN:
		put_base64(o, (const unsigned char *)v->via.bin.ptr, v->via.bin.size);
		return 0;
	case MSGPACK_OBJECT_ARRAY:
		obuf_byte(o, '[');
		for (i = 0; i < v->via.array.size; i++) {
			if (i > 0)
				obuf_byte(o, ',');
			if (put_obj(o, &v->via.array.ptr[i]) == -1)
				return -1;
		}
		obuf_byte(o, ']');
		return 0;
	case MSGPACK_OBJECT_MAP:
		return put_map(o, v, false);
	default:
		break;	/* nil, and ext: nothing JSON can say */
	}
	OBUF_LIT(o, "null");
	return 0;
}

/*
 * The reply as the object --json prints (json_of_reply, then json_put),
 * appended to o without a document in between: 0; or -1, o as it was,
 * for a reply only jansson's document prints exactly (see put_map).
 */
int
json_put_reply(struct obuf *o, const msgpack_object *reply)
{
	size_t	 start = o->len;

	if (reply->type == MSGPACK_OBJECT_MAP && put_map(o, reply, true) == 0)
		return 0;
	o->len = start;
	return -1;
}

struct dump {
	struct obuf	*o;
	bool		 in_string;
};

/*
 * jansson's text as it is written.  Its chunks are whole tokens: a string
 * is its opening quote, runs of plain text and escapes each alone, and its
 * closing quote; a number is one chunk.  So outside a string a chunk that
 * starts like a number and has a '.' or an 'e' is a real.
 */
static int
dump_chunk(const char *buf, size_t size, void *data)
{
	struct dump	*d = data;
	char		 num[64], esc[8];
	size_t		 i;

	if (size == 1 && buf[0] == '"')
		d->in_string = !d->in_string;
	else if (!d->in_string && (buf[0] == '-' || (buf[0] >= '0' && buf[0] <= '9')) &&
	    size < sizeof(num) && (memchr(buf, '.', size) || memchr(buf, 'e', size))) {
		memcpy(num, buf, size);
		num[size] = '\0';
		put_real(d->o, strtod(num, NULL));
		return 0;
	} else if (d->in_string && size == 6 && buf[0] == '\\' && buf[1] == 'u') {
		for (i = 0; i < size; i++)
			esc[i] = buf[i] >= 'A' && buf[i] <= 'F' ? buf[i] - 'A' + 'a' : buf[i];
		buf = esc;
	}
	obuf_add(d->o, buf, size);
	return d->o->nomem ? -1 : 0;
}

/* j as JSON appended to o, no newline. */
void
json_put(struct obuf *o, const json_t *j)
{
	struct dump	 d = { o, false };

	if (j == NULL)
		OBUF_LIT(o, "null");
	else
		json_dump_callback(j, dump_chunk, &d, JSON_FLAGS);
}

/* What o holds, on f, and o emptied. */
static void
obuf_out(struct obuf *o, FILE *f)
{
	fwrite(o->p, 1, o->len, f);
	obuf_free(o);
}

/* j as JSON on f, no newline. */
void
json_write(FILE *f, const json_t *j)
{
	struct obuf	 o = { 0 };

	json_put(&o, j);
	obuf_out(&o, f);
}

/* j as one line of JSON on f. */
void
json_print(FILE *f, const json_t *j)
{
	struct obuf	 o = { 0 };

	json_put(&o, j);
	obuf_byte(&o, '\n');
	obuf_out(&o, f);
}

/* s (n bytes) as a JSON string on f, written as json_write writes it. */
void
json_write_str(FILE *f, const char *s, size_t n)
{
	struct obuf	 o = { 0 };

	json_put_str(&o, s, n);
	obuf_out(&o, f);
}
