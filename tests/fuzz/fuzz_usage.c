/*
 * fuzz_usage.c: libFuzzer target for the usage JSON normaliser.
 *
 * `tokq record --usage-json` hands the daemon whatever a bot sends, and
 * normalize_usage_json parses it.  Every input must come back either as
 * events that keep the contract's promises (each count in [0, 10^12],
 * cached and cache_write within prompt, reasoning within completion, total
 * at least prompt + completion, cost within $1,000,000, one request each)
 * or as a refusal with a one-line printable reason.  The sanitizers catch
 * the rest.  normalize.c needs nothing from the daemon but jansson.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Idaemon \
 *       tests/fuzz/fuzz_usage.c daemon/normalize.c \
 *       $(pkg-config --cflags msgpack libsystemd) \
 *       $(pkg-config --cflags --libs jansson) -lm -o build/fuzz_usage
 *   build/fuzz_usage -max_total_time=60 tests/fuzz/corpus_usage tests/data/usage
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokqd.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
broken(const char *what, size_t i, const struct norm_item *it)
{
	fprintf(stderr, "item %zu: %s: prompt %lld completion %lld total %lld "
	    "cached %lld cache_write %lld reasoning %lld cost %lld "
	    "requests %lld\n", i, what, (long long)it->u.prompt,
	    (long long)it->u.completion, (long long)it->u.total,
	    (long long)it->u.cached, (long long)it->u.cache_write,
	    (long long)it->u.reasoning, (long long)it->u.cost,
	    (long long)it->u.requests);
	abort();
}

static bool
in_bounds(int64_t v)
{
	return v >= 0 && v <= TOKQ_TOKENS_MAX;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct norm_item	*items;
	const struct norm_item	*it;
	size_t			 n, i, k;
	char			 err[256];
	int			 r;

	memset(err, 'X', sizeof(err));
	r = normalize_usage_json((const char *)data, size, &items, &n, err,
	    sizeof(err));
	if (r != 0) {
		if (r != -TOKQ_E_INVALID && r != -TOKQ_E_INTERNAL)
			abort();
		if (items != NULL || n != 0 || strncmp(err, "usage JSON: ", 12))
			abort();
		for (k = 0; err[k] != '\0'; k++)	/* within err: ASan */
			if (err[k] < 0x20 || err[k] >= 0x7f)
				abort();
		return 0;
	}
	if (items == NULL || n == 0 || err[0] != '\0')
		abort();
	for (i = 0; i < n; i++) {
		it = &items[i];
		if (!in_bounds(it->u.prompt) || !in_bounds(it->u.completion) ||
		    !in_bounds(it->u.total) || !in_bounds(it->u.cached) ||
		    !in_bounds(it->u.cache_write) ||
		    !in_bounds(it->u.reasoning))
			broken("count out of bounds", i, it);
		if (it->u.cached > it->u.prompt ||
		    it->u.cache_write > it->u.prompt ||
		    it->u.reasoning > it->u.completion)
			broken("part exceeds its whole", i, it);
		if (it->u.total < it->u.prompt + it->u.completion)
			broken("total below prompt + completion", i, it);
		if (!it->has_total &&
		    it->u.total != it->u.prompt + it->u.completion)
			broken("total is not prompt + completion", i, it);
		if (it->u.cost < 0 || it->u.cost > TOKQ_COST_MAX ||
		    (!it->has_cost && it->u.cost != 0))
			broken("cost out of bounds", i, it);
		if (it->u.requests != 1)
			broken("not one request", i, it);
		if (it->call != (n == 1 && it->call == -1 ? -1 : (int64_t)i))
			broken("call index", i, it);
		if (it->model != NULL && (strlen(it->model) == 0 ||
		    strlen(it->model) > 128))
			broken("model length", i, it);
	}
	normalize_free(items, n);
	return 0;
}
