/*
 * hmap.c: a string-keyed hash map with open addressing.
 *
 * Keys are copied and owned by the map, or, put with hmap_putn_ref, the
 * caller's (a map holds one kind only); values are the caller's.  Linear
 * probing, FNV-1a; a deletion leaves a tombstone.
 *
 * The capacity follows the live entries, not the history: live entries
 * and tombstones (m->used) never fill more than half the slots, so a probe
 * always ends.  When an insert would pass that, the table is rebuilt at
 * the size its live entries need (a load of at most a third): the same
 * size when tombstones made it full, double when live entries did.  When
 * a deletion leaves fewer than an eighth of the slots live, it is rebuilt
 * smaller, to a load between a sixth and a third.  So a million holds
 * reserved and released leave a table sized for the holds still live (not
 * a million slots that every walk visits), and each rebuild is paid for by
 * as many inserts or deletions as it moves entries.
 */
#include <stdlib.h>
#include <string.h>

#include "tokqd.h"

#define TOMBSTONE	((char *)&hmap_tombstone)
#define HMAP_MIN	16
static char	 hmap_tombstone;

/*
 * FNV-1a of n bytes, continuing from h (HASH_SEED to start): the maps' hash,
 * and the fingerprint of a record's fields (ops_bot.c).
 */
uint64_t
hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char	*b = p;

	while (n--) {
		h ^= *b++;
		h *= 1099511628211ULL;
	}
	return h;
}

static uint64_t
hmap_hash(const char *k, size_t len)
{
	return hash_bytes(HASH_SEED, k, len);
}

static struct hmap_slot *
hmap_find(const struct hmap *m, const char *key, size_t klen)
{
	size_t	 i, mask;

	if (m->cap == 0)
		return NULL;
	mask = m->cap - 1;
	for (i = hmap_hash(key, klen) & mask;; i = (i + 1) & mask) {
		struct hmap_slot *s = &m->slots[i];

		if (s->key == NULL)
			return NULL;
		if (s->key != TOMBSTONE && s->klen == klen &&
		    memcmp(s->key, key, klen) == 0)
			return s;
	}
}

/* The capacity for n live entries: a power of two, n at most a third of it. */
static size_t
hmap_cap_for(size_t n)
{
	size_t	 cap = HMAP_MIN;

	while (cap / 3 < n)
		cap *= 2;
	return cap;
}

/*
 * Move the live entries into a fresh table of cap slots, leaving the
 * tombstones behind.  0, or -1 (the map unchanged) when out of memory.
 */
static int
hmap_rehash(struct hmap *m, size_t cap)
{
	struct hmap_slot	*old = m->slots;
	size_t			 oldcap = m->cap, i;

	m->cap = cap;
	if ((m->slots = calloc(m->cap, sizeof(*m->slots))) == NULL) {
		m->slots = old;
		m->cap = oldcap;
		return -1;
	}
	m->used = m->len;
	for (i = 0; i < oldcap; i++) {
		struct hmap_slot *s = &old[i];
		size_t		  j;

		if (s->key == NULL || s->key == TOMBSTONE)
			continue;
		for (j = hmap_hash(s->key, s->klen) & (m->cap - 1);
		    m->slots[j].key != NULL; j = (j + 1) & (m->cap - 1))
			;
		m->slots[j] = *s;
	}
	free(old);
	return 0;
}

void *
hmap_getn(const struct hmap *m, const char *key, size_t klen)
{
	struct hmap_slot	*s = hmap_find(m, key, klen);

	return s ? s->val : NULL;
}

void *
hmap_get(const struct hmap *m, const char *key)
{
	return hmap_getn(m, key, strlen(key));
}

static int
hmap_insert(struct hmap *m, const char *key, size_t klen, void *val, bool copy)
{
	struct hmap_slot	*s;
	size_t			 i;
	char			*k = (char *)key;

	if ((s = hmap_find(m, key, klen)) != NULL) {
		s->val = val;
		return 0;
	}
	if ((m->used + 1) * 2 > m->cap &&
	    hmap_rehash(m, hmap_cap_for(m->len + 1)) == -1)
		return -1;
	for (i = hmap_hash(key, klen) & (m->cap - 1);
	    m->slots[i].key != NULL && m->slots[i].key != TOMBSTONE;
	    i = (i + 1) & (m->cap - 1))
		;
	s = &m->slots[i];
	/* Out of memory the slot stays as it was: a tombstone holds a run. */
	if (copy) {
		if ((k = malloc(klen + 1)) == NULL)
			return -1;
		memcpy(k, key, klen);
		k[klen] = '\0';
	}
	if (s->key == NULL)
		m->used++;	/* a tombstone reused was counted already */
	s->key = k;
	m->refkeys = !copy;
	s->klen = klen;
	s->val = val;
	m->len++;
	return 0;
}

/* Insert, or replace the value of an existing key; 0, or -1 when out of memory. */
int
hmap_putn(struct hmap *m, const char *key, size_t klen, void *val)
{
	return hmap_insert(m, key, klen, val, true);
}

/*
 * The same with the caller's key, NUL-ended after klen bytes, kept as it
 * is: it must stay until the entry is deleted or the map cleared.
 */
int
hmap_putn_ref(struct hmap *m, const char *key, size_t klen, void *val)
{
	return hmap_insert(m, key, klen, val, false);
}

int
hmap_put(struct hmap *m, const char *key, void *val)
{
	return hmap_putn(m, key, strlen(key), val);
}

/* Remove key; returns its value, NULL if absent. */
void *
hmap_deln(struct hmap *m, const char *key, size_t klen)
{
	struct hmap_slot	*s = hmap_find(m, key, klen);
	void			*val;

	if (s == NULL)
		return NULL;
	val = s->val;
	if (!m->refkeys)
		free(s->key);
	s->key = TOMBSTONE;
	s->val = NULL;
	m->len--;
	/* Out of memory it stays as it is, which is no harm. */
	if (m->cap > HMAP_MIN && m->len * 8 < m->cap)
		(void)hmap_rehash(m, hmap_cap_for(m->len));
	return val;
}

void *
hmap_del(struct hmap *m, const char *key)
{
	return hmap_deln(m, key, strlen(key));
}

/* Visit every entry; cb may not change the map. */
void
hmap_foreach(const struct hmap *m, void (*cb)(void *, const char *, void *), void *arg)
{
	size_t	 i;

	for (i = 0; i < m->cap; i++)
		if (m->slots[i].key != NULL && m->slots[i].key != TOMBSTONE)
			cb(arg, m->slots[i].key, m->slots[i].val);
}

/* Free the keys, and each value with freeval when given. */
void
hmap_clear(struct hmap *m, void (*freeval)(void *))
{
	size_t	 i;

	for (i = 0; i < m->cap && (freeval || !m->refkeys); i++) {
		struct hmap_slot *s = &m->slots[i];

		if (s->key == NULL || s->key == TOMBSTONE)
			continue;
		if (!m->refkeys)
			free(s->key);
		if (freeval)
			freeval(s->val);
	}
	free(m->slots);
	memset(m, 0, sizeof(*m));
}
