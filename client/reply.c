/*
 * reply.c: reading a reply map of tokqd.
 *
 * The reply has been checked (tokq_frame_check, then a map with code 0),
 * yet every key may still be absent or of another type: each accessor
 * says what it returns then, so a printer never tests a type itself.
 */
#include <string.h>

#include "client.h"

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

/* True iff o is the string s. */
bool
mp_is_str(const msgpack_object *o, const char *s)
{
	return o != NULL && o->type == MSGPACK_OBJECT_STR &&
	    o->via.str.size == strlen(s) && memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

/* True iff m[key] is the string s. */
bool
mp_is(const msgpack_object *m, const char *key, const char *s)
{
	return mp_is_str(mp_get(m, key), s);
}

/* o as a number (int or float), or def when absent, nil or no number. */
double
mp_as_num(const msgpack_object *o, double def)
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

/* o as a whole number (a float cut, a huge one capped), or def. */
int64_t
mp_as_int(const msgpack_object *o, int64_t def)
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
	return mp_as_int(mp_get(m, key), def);
}

/* m[key] as a number, or def. */
double
mp_num(const msgpack_object *m, const char *key, double def)
{
	return mp_as_num(mp_get(m, key), def);
}

/* True iff m[key] is true. */
bool
mp_bool(const msgpack_object *m, const char *key)
{
	const msgpack_object	*o = mp_get(m, key);

	return o != NULL && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean;
}

/* o copied into buf (cut to fit) when it is a string; else NULL. */
const char *
mp_as_str(const msgpack_object *o, char *buf, size_t len)
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
	return mp_as_str(mp_get(m, key), buf, len);
}

/* The items of array a; 0 when it is absent or no array. */
uint32_t
mp_len(const msgpack_object *a)
{
	return a != NULL && a->type == MSGPACK_OBJECT_ARRAY ? a->via.array.size : 0;
}
