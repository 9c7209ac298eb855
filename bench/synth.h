/*
 * synth.h: the synthetic users, guilds and models of the benchmarks, one
 * definition for tokq-bench (load and --preload) and tokq-preload, so that
 * both preloads write the same history.
 */
#include <inttypes.h>
#include <stdio.h>

/* The user of preloaded event k: spread without a pattern a cache could exploit. */
static inline uint64_t
synth_preload_user(uint64_t k, uint64_t users)
{
	return (k * 2654435761ULL + (k >> 7)) % users;
}

/* User u's name, guild (one of 100) and model (one of models, drawn from r). */
static inline void
synth_names(uint64_t u, uint64_t r, uint64_t models, char user[32], char guild[32],
    char model[32])
{
	snprintf(user, 32, "u%" PRIu64, u);
	snprintf(guild, 32, "g%" PRIu64, u % 100);
	snprintf(model, 32, "m%" PRIu64, ((r >> 20) ^ u) % models);
}
