/*
 * test_hmap.c: daemon/hmap.c, the string-keyed map behind the counters,
 * holds, plans and bypasses.  Every public function; keys that collide in
 * the table; and that the capacity follows the live entries: a million
 * entries put and deleted with few alive at once leave a small table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tokqd.h"

/* A distinct value per key, to tell them apart. */
static void *
val(size_t i)
{
	return (void *)(uintptr_t)(i + 1);
}

static const char *
key(char *buf, size_t len, size_t i)
{
	snprintf(buf, len, "user-%zu", i);
	return buf;
}

/* Count the entries hmap_foreach visits, and check each value matches its key. */
struct visit {
	size_t	 n;
	size_t	 bad;
	char	*seen;		/* by index, when set */
	size_t	 nseen;
};

static void
visit_cb(void *arg, const char *k, void *v)
{
	struct visit	*vi = arg;
	size_t		 i;

	vi->n++;
	if (sscanf(k, "user-%zu", &i) != 1 || v != val(i)) {
		vi->bad++;
		return;
	}
	if (vi->seen && i < vi->nseen && vi->seen[i]++)
		vi->bad++;		/* visited twice */
}

static void
test_empty_map_finds_nothing(void **state)
{
	struct hmap	 m = { 0 };
	struct visit	 vi = { 0 };

	assert_null(hmap_get(&m, "a"));
	assert_null(hmap_getn(&m, "a", 1));
	assert_null(hmap_del(&m, "a"));
	assert_null(hmap_deln(&m, "a", 1));
	hmap_foreach(&m, visit_cb, &vi);
	assert_int_equal(vi.n, 0);
	hmap_clear(&m, NULL);
	assert_int_equal(m.cap, 0);
}

static void
test_put_get_replace_del(void **state)
{
	struct hmap	 m = { 0 };
	char		 k[] = "alice";

	assert_int_equal(hmap_put(&m, k, val(1)), 0);
	k[0] = 'X';			/* the map copied the key */
	assert_ptr_equal(hmap_get(&m, "alice"), val(1));
	assert_null(hmap_get(&m, "Xlice"));
	assert_int_equal(hmap_put(&m, "alice", val(2)), 0);	/* replaces */
	assert_int_equal(m.len, 1);
	assert_ptr_equal(hmap_get(&m, "alice"), val(2));
	assert_ptr_equal(hmap_del(&m, "alice"), val(2));
	assert_null(hmap_get(&m, "alice"));
	assert_null(hmap_del(&m, "alice"));
	assert_int_equal(m.len, 0);
	hmap_clear(&m, NULL);
}

/* The n variants take the length: a prefix, embedded bytes, no NUL needed. */
static void
test_lengths_make_keys(void **state)
{
	struct hmap	 m = { 0 };
	const char	 buf[] = "abcdef";

	assert_int_equal(hmap_putn(&m, buf, 3, val(3)), 0);
	assert_int_equal(hmap_putn(&m, buf, 4, val(4)), 0);
	assert_int_equal(hmap_putn(&m, "", 0, val(0)), 0);
	assert_int_equal(m.len, 3);
	assert_ptr_equal(hmap_get(&m, "abc"), val(3));
	assert_ptr_equal(hmap_getn(&m, buf, 4), val(4));
	assert_ptr_equal(hmap_get(&m, ""), val(0));
	assert_null(hmap_getn(&m, buf, 5));
	assert_ptr_equal(hmap_deln(&m, buf, 3), val(3));
	assert_ptr_equal(hmap_getn(&m, buf, 4), val(4));
	hmap_clear(&m, NULL);
}

/* hmap_putn_ref keeps the caller's key itself; hmap_clear does not free it. */
static void
test_ref_keys_are_the_callers(void **state)
{
	struct hmap	 m = { 0 };
	char		*keys[100], buf[32];
	size_t		 i;

	for (i = 0; i < 100; i++) {
		keys[i] = strdup(key(buf, sizeof(buf), i));
		assert_int_equal(hmap_putn_ref(&m, keys[i], strlen(keys[i]), val(i)), 0);
	}
	for (i = 0; i < 100; i++) {
		struct hmap_slot *s = NULL;
		size_t		  j;

		for (j = 0; j < m.cap; j++)
			if (m.slots[j].val == val(i))
				s = &m.slots[j];
		assert_non_null(s);
		assert_ptr_equal(s->key, keys[i]);	/* not a copy */
	}
	for (i = 0; i < 50; i++)
		assert_ptr_equal(hmap_del(&m, keys[i]), val(i));
	hmap_clear(&m, NULL);
	for (i = 0; i < 100; i++) {
		assert_string_equal(keys[i], key(buf, sizeof(buf), i));	/* alive */
		free(keys[i]);
	}
}

static int	 freed;

static void
count_free(void *v)
{
	freed++;
}

static void
test_clear_frees_each_value(void **state)
{
	struct hmap	 m = { 0 };
	char		 buf[32];
	size_t		 i;

	for (i = 0; i < 40; i++)
		assert_int_equal(hmap_put(&m, key(buf, sizeof(buf), i), val(i)), 0);
	for (i = 0; i < 10; i++)
		hmap_del(&m, key(buf, sizeof(buf), i));
	freed = 0;
	hmap_clear(&m, count_free);
	assert_int_equal(freed, 30);
	assert_null(m.slots);
	assert_int_equal(m.len, 0);
	assert_int_equal(m.cap, 0);
	/* A cleared map is an empty map, ready again. */
	assert_int_equal(hmap_put(&m, "again", val(7)), 0);
	assert_ptr_equal(hmap_get(&m, "again"), val(7));
	hmap_clear(&m, NULL);
}

/* Find n keys that all hash to the same slot of a 16-slot table. */
static size_t
colliding(char keys[][32], size_t n)
{
	struct hmap	 probe = { 0 };
	size_t		 i, got = 0, want = (size_t)-1;
	char		 buf[32];

	/* The slot a key lands in alone in a fresh 16-slot table is its hash & 15. */
	for (i = 0; got < n && i < 100000; i++) {
		size_t	 j, slot = 0;

		key(buf, sizeof(buf), i);
		assert_int_equal(hmap_put(&probe, buf, val(i)), 0);
		assert_int_equal(probe.cap, 16);
		for (j = 0; j < probe.cap; j++)
			if (probe.slots[j].val == val(i))
				slot = j;
		hmap_del(&probe, buf);
		if (want == (size_t)-1)
			want = slot;
		if (slot == want)
			snprintf(keys[got++], 32, "%s", buf);
	}
	hmap_clear(&probe, NULL);
	return got;
}

/*
 * Keys that collide share a probe run: each is found, deleting one in the
 * middle of the run leaves the ones after it findable (the tombstone), and
 * a new key reuses the tombstone's slot.
 */
static void
test_collisions(void **state)
{
	struct hmap	 m = { 0 };
	char		 keys[5][32];
	size_t		 i;

	assert_int_equal(colliding(keys, 5), 5);
	for (i = 0; i < 5; i++)
		assert_int_equal(hmap_put(&m, keys[i], val(i)), 0);
	assert_int_equal(m.cap, 16);
	for (i = 0; i < 5; i++)
		assert_ptr_equal(hmap_get(&m, keys[i]), val(i));
	assert_ptr_equal(hmap_del(&m, keys[1]), val(1));
	assert_null(hmap_get(&m, keys[1]));
	for (i = 2; i < 5; i++)
		assert_ptr_equal(hmap_get(&m, keys[i]), val(i));
	assert_int_equal(hmap_put(&m, keys[1], val(10)), 0);
	assert_ptr_equal(hmap_get(&m, keys[1]), val(10));
	assert_int_equal(m.len, 5);
	assert_int_equal(m.used, 5);		/* the tombstone was reused */
	hmap_clear(&m, NULL);
}

/*
 * Growth keeps every entry: after each insert up to 5000 (through many
 * rebuilds), a walk visits each key once with its value, and every key is
 * found.
 */
static void
test_iteration_across_growth(void **state)
{
	struct hmap	 m = { 0 };
	struct visit	 vi;
	char		 buf[32], seen[5000];
	size_t		 i, j, lastcap = 0, rebuilds = 0;

	for (i = 0; i < 5000; i++) {
		assert_int_equal(hmap_put(&m, key(buf, sizeof(buf), i), val(i)), 0);
		if (m.cap != lastcap) {
			rebuilds++;
			lastcap = m.cap;
		}
		if (i < 200 || i % 97 == 0 || m.cap != lastcap) {
			memset(seen, 0, sizeof(seen));
			vi = (struct visit){ .seen = seen, .nseen = sizeof(seen) };
			hmap_foreach(&m, visit_cb, &vi);
			assert_int_equal(vi.n, i + 1);
			assert_int_equal(vi.bad, 0);
		}
		assert_true(m.used * 2 <= m.cap);
	}
	assert_true(rebuilds >= 8);
	for (j = 0; j < 5000; j++)
		assert_ptr_equal(hmap_get(&m, key(buf, sizeof(buf), j)), val(j));
	/* Live entries grew it: doubling, not more, each time past half. */
	assert_int_equal(m.cap, 16384);
	hmap_clear(&m, NULL);
}

/*
 * A million reserve-and-release cycles with at most 10 live at once (the
 * holds of a busy bot): the table stays at its smallest size, and the
 * walk over it visits only the live ones.
 */
static void
test_million_put_delete_stays_small(void **state)
{
	struct hmap	 m = { 0 };
	struct visit	 vi = { 0 };
	char		 buf[32];
	size_t		 i, maxcap = 0;

	for (i = 0; i < 1000000; i++) {
		assert_int_equal(hmap_put(&m, key(buf, sizeof(buf), i), val(i)), 0);
		if (i >= 10)
			assert_ptr_equal(hmap_del(&m, key(buf, sizeof(buf), i - 10)),
			    val(i - 10));
		if (m.cap > maxcap)
			maxcap = m.cap;
	}
	assert_int_equal(m.len, 10);
	assert_true(maxcap <= 64);
	hmap_foreach(&m, visit_cb, &vi);
	assert_int_equal(vi.n, 10);
	assert_int_equal(vi.bad, 0);
	for (i = 999990; i < 1000000; i++)
		assert_ptr_equal(hmap_get(&m, key(buf, sizeof(buf), i)), val(i));
	hmap_clear(&m, NULL);
}

/*
 * A map that once held many entries shrinks as they go: 100,000 put, all
 * but 100 deleted, and the capacity is that of 100 entries.
 */
static void
test_shrinks_when_entries_go(void **state)
{
	struct hmap	 m = { 0 };
	struct visit	 vi = { 0 };
	char		 buf[32];
	size_t		 i, big;

	for (i = 0; i < 100000; i++)
		assert_int_equal(hmap_put(&m, key(buf, sizeof(buf), i), val(i)), 0);
	big = m.cap;
	assert_true(big >= 200000);
	for (i = 100; i < 100000; i++)
		assert_ptr_equal(hmap_del(&m, key(buf, sizeof(buf), i)), val(i));
	assert_int_equal(m.len, 100);
	assert_true(m.cap <= 1024);
	for (i = 0; i < 100; i++)
		assert_ptr_equal(hmap_get(&m, key(buf, sizeof(buf), i)), val(i));
	hmap_foreach(&m, visit_cb, &vi);
	assert_int_equal(vi.n, 100);
	/* Down to nothing: the smallest table, still usable. */
	for (i = 0; i < 100; i++)
		hmap_del(&m, key(buf, sizeof(buf), i));
	assert_int_equal(m.cap, 16);
	assert_int_equal(hmap_put(&m, "last", val(5)), 0);
	assert_ptr_equal(hmap_get(&m, "last"), val(5));
	hmap_clear(&m, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_map_finds_nothing),
		cmocka_unit_test(test_put_get_replace_del),
		cmocka_unit_test(test_lengths_make_keys),
		cmocka_unit_test(test_ref_keys_are_the_callers),
		cmocka_unit_test(test_clear_frees_each_value),
		cmocka_unit_test(test_collisions),
		cmocka_unit_test(test_iteration_across_growth),
		cmocka_unit_test(test_million_put_delete_stays_small),
		cmocka_unit_test(test_shrinks_when_entries_go),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
