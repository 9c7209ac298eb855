/*
 * json.c: tokq's JSON output, written by jansson.
 *
 * --json turns the reply map, minus "v" and "code", into one JSON object:
 * generically, so every key the daemon adds shows up without a change
 * here.  jansson builds and writes the document (keys in the daemon's
 * order); two things of its writing are set back to what tokq has always
 * printed, in the one place where its text passes by, dump_chunk():
 *  - a real is printed by jansson with 17 digits, which gives the very
 *    double back; it is printed again as "%.9f" with trailing zeros cut,
 *    so money reads as the contract shows it (0.0125, 2, 0.000000001)
 *    and never as 0.012500000000000001 or 1e-09;
 *  - the escape of a control character is written in lower case
 *    (\u001b), as before.
 * Two things tokqd never sends print differently than before: bytes
 * that are not UTF-8 come through as \xHH text (the daemon's own form,
 * was \ufffd), and an unsigned integer above 2^63 as the nearest double.
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

/* A string of the reply as a JSON string: valid UTF-8 as it is. */
static json_t *
json_str(const char *s, size_t n)
{
	json_t	*j;
	char	*esc;
	size_t	 len;

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
		return (char *)k->via.str.ptr;
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

struct dump {
	FILE	*f;
	bool	 in_string;
};

/* A real as "%.9f" with trailing zeros, then a trailing ".", cut. */
static void
put_real(FILE *f, double d)
{
	char	 buf[400];
	size_t	 n;

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
		put_real(d->f, strtod(num, NULL));
		return 0;
	} else if (d->in_string && size == 6 && buf[0] == '\\' && buf[1] == 'u') {
		for (i = 0; i < size; i++)
			esc[i] = buf[i] >= 'A' && buf[i] <= 'F' ? buf[i] - 'A' + 'a' : buf[i];
		buf = esc;
	}
	return fwrite(buf, 1, size, d->f) == size ? 0 : -1;
}

/* j as JSON on f, no newline. */
void
json_write(FILE *f, const json_t *j)
{
	struct dump	 d = { f, false };

	if (j == NULL)
		fputs("null", f);
	else
		json_dump_callback(j, dump_chunk, &d, JSON_FLAGS);
}

/* j as one line of JSON on f. */
void
json_print(FILE *f, const json_t *j)
{
	json_write(f, j);
	fputc('\n', f);
}

/* s (n bytes) as a JSON string on f, written as json_write writes it. */
void
json_write_str(FILE *f, const char *s, size_t n)
{
	json_t	*j = json_str(s, n);

	json_write(f, j);
	json_decref(j);
}
