/*
 * store_pendset.c: a set of pending rows (store_db.h, struct pendset):
 * the memory under it and the order it is written in.  It knows a row's
 * kind, key and time; what the amounts mean is store_totals.c's.
 *
 * A row lives in one of the set's three maps, by key, and in its list, in
 * the order it was made; its value and key live in the set's blocks, which
 * go all at once with the set.  pendset_sort puts the list in the order
 * the rows are written: daily rows, then hourly, then counters, each as
 * near to key order as a radix sort of one number per row gets.
 */
#include <stdlib.h>
#include <string.h>

#include "store_db.h"

#define PEND_BLOCK	(256 * 1024)

static struct pend_row	*sort_tmp;	/* pendset_sort's, kept for the next */
static size_t		 sort_cap;

/*
 * The first 8 bytes of the key's fields past a daily or hourly row's
 * time, or of a counter's past its scope (which goes in the top 2 bits,
 * the bytes after it), as a number: it orders as the key does (the NUL
 * between fields first), zeros past the key's end as the NUL that ends it.
 * Read as the row is made, while its key is at hand.
 */
static uint64_t
row_bytes(enum row_kind kind, const char *key, size_t klen)
{
	const unsigned char	*k = (const unsigned char *)key;
	uint64_t		 bytes = 0;
	size_t			 i, skip = kind == ROW_COUNTER ? 1 : TIME_KEY;

	for (i = 0; i < 8 && skip + i < klen; i++)
		bytes |= (uint64_t)k[skip + i] << (56 - 8 * i);
	if (kind == ROW_COUNTER)
		bytes = (uint64_t)(k[0] - '0') << 62 | bytes >> 2;
	return bytes;
}

/* n bytes of the set's memory, aligned as malloc's; NULL when out of it. */
void *
pend_alloc(struct pendset *ps, size_t n)
{
	struct pend_block	*b = ps->blocks;
	size_t			 align = sizeof(max_align_t);
	void			*m;

	n = (n + align - 1) / align * align;
	if (b == NULL || b->size - b->used < n) {
		size_t	 size = n > PEND_BLOCK ? n : PEND_BLOCK;

		if ((b = malloc(sizeof(*b) + size)) == NULL)
			return NULL;
		b->next = ps->blocks;
		b->used = 0;
		b->size = size;
		ps->blocks = b;
	}
	m = (char *)b->mem + b->used;
	b->used += n;
	return m;
}

/*
 * A new row of klen key bytes and a value of vsize bytes, zeroed, in the
 * set's map and list; t is a daily or hourly row's time.  Returns the
 * value, its key following it; NULL when out of memory.
 */
void *
pend_row_new(struct pendset *ps, enum row_kind kind, const char *key,
    size_t klen, int64_t t, size_t vsize)
{
	struct pend_row	*r;
	char		*val, *k;

	if (ps->nrows == ps->caprows) {
		size_t	 ncap = ps->caprows ? ps->caprows * 2 : 1024;

		if ((r = reallocarray(ps->rows, ncap, sizeof(*r))) == NULL)
			return NULL;
		ps->rows = r;
		ps->caprows = ncap;
	}
	if ((val = pend_alloc(ps, vsize + klen + 1)) == NULL)
		return NULL;
	memset(val, 0, vsize);
	k = val + vsize;
	memcpy(k, key, klen);
	k[klen] = '\0';
	if (hmap_putn_ref(kind == ROW_DAILY ? &ps->daily : kind == ROW_HOURLY ?
	    &ps->hourly : &ps->buckets, k, klen, val) == -1)
		return NULL;
	r = &ps->rows[ps->nrows++];
	*r = (struct pend_row){ k, val, t, row_bytes(kind, k, klen), kind };
	return val;
}

void
pendset_init(struct pendset *ps)
{
	memset(ps, 0, sizeof(*ps));
	ps->min_day = ps->min_start = INT64_MAX;
}

void
pendset_clear(struct pendset *ps)
{
	struct pend_block	*b;

	hmap_clear(&ps->buckets, NULL);
	hmap_clear(&ps->daily, NULL);
	hmap_clear(&ps->hourly, NULL);
	while ((b = ps->blocks) != NULL) {
		ps->blocks = b->next;
		free(b);
	}
	free(ps->rows);
	pendset_init(ps);
}

/*
 * Keys of NUL-ended fields, field by field: the order of the primary key.
 * Two keys of one map differ within their fields, so a counter's key (two
 * fields) is never read past its end.
 */
static int
row_cmp(const void *a, const void *b)
{
	const struct pend_row	*ra = a, *rb = b;
	const char		*ka = ra->key, *kb = rb->key;
	int			 c, i;

	if (ra->kind != rb->kind)
		return ra->kind < rb->kind ? -1 : 1;
	for (i = 0; i < DAILY_FIELDS; i++) {
		if ((c = strcmp(ka, kb)) != 0)
			return c;
		ka += strlen(ka) + 1;
		kb += strlen(kb) + 1;
	}
	return 0;
}

/*
 * The set's rows in the order they are written: by kind, then by key.
 * qsort with row_cmp over a second's ~50,000 rows took 8-13 ms in one
 * commit, and held every request in it up as long.  So each row gets a
 * sort number: its kind in the top 2 bits, then for a daily or hourly row
 * its day or hour counted from the set's first of its kind (in as few
 * bits as the set's span needs: none, most often), then as many of the
 * first bits of row_bytes as are left; a radix sort of those, a byte a
 * pass (a pass where all share the byte is skipped): 1-1.5 ms.  Rows
 * alike in all that (a user's daily rows of two guilds, say) keep the
 * order they were made in: they go to the same pages all the same, and
 * putting them in order by row_cmp took 2 ms more.  A set that spans too
 * many days or hours to count that way is sorted by row_cmp.
 */
#define SORT_TIME_BITS	30

/* Bits to count n + 1 values. */
static int
bits_for(uint64_t n)
{
	int	 b = 0;

	while (b < 64 && n >> b != 0)
		b++;
	return b;
}

void
pendset_sort(struct pendset *ps)
{
	struct pend_row	*src = ps->rows, *dst = sort_tmp, *t;
	size_t		 count[256], n = ps->nrows, i, sum;
	int64_t		 lo[2] = { INT64_MAX, INT64_MAX }, hi[2] = { INT64_MIN, INT64_MIN };
	const int64_t	 unit[2] = { DAY, HOUR };
	int		 shift, bits[2], k;

	if (n < 2)
		return;
	for (i = 0; i < n; i++) {
		if ((k = src[i].kind) == ROW_COUNTER)
			continue;
		if (src[i].t < lo[k])
			lo[k] = src[i].t;
		if (src[i].t > hi[k])
			hi[k] = src[i].t;
	}
	for (k = 0; k < 2; k++)
		bits[k] = lo[k] > hi[k] ? 0 :
		    bits_for((uint64_t)(hi[k] - lo[k]) / (uint64_t)unit[k]);
	if (bits[0] > SORT_TIME_BITS || bits[1] > SORT_TIME_BITS ||
	    (sort_cap < n && (dst = reallocarray(sort_tmp, n, sizeof(*dst))) == NULL)) {
		qsort(ps->rows, n, sizeof(*ps->rows), row_cmp);
		return;
	}
	if (sort_cap < n) {
		sort_tmp = dst;
		sort_cap = n;
	}
	for (i = 0; i < n; i++) {
		struct pend_row	*p = &src[i];
		uint64_t	 sk = (uint64_t)p->kind << 62;

		if ((k = p->kind) == ROW_COUNTER)
			p->sk = sk | p->sk >> 2;
		else
			p->sk = sk | (uint64_t)(p->t - lo[k]) / (uint64_t)unit[k] <<
			    (62 - bits[k]) | p->sk >> (2 + bits[k]);
	}
	for (shift = 0; shift < 64; shift += 8) {
		memset(count, 0, sizeof(count));
		for (i = 0; i < n; i++)
			count[(src[i].sk >> shift) & 0xff]++;
		if (count[(src[0].sk >> shift) & 0xff] == n)
			continue;
		for (i = sum = 0; i < 256; i++) {
			size_t	 c = count[i];

			count[i] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			dst[count[(src[i].sk >> shift) & 0xff]++] = src[i];
		t = src;
		src = dst;
		dst = t;
	}
	if (src != ps->rows)
		memcpy(ps->rows, src, n * sizeof(*src));
}

/* Free pendset_sort's buffer: the store is closing. */
void
pendset_sort_free(void)
{
	free(sort_tmp);
	sort_tmp = NULL;
	sort_cap = 0;
}
