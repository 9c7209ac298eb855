/*
 * tokq.h: what the daemon and the client share.
 *
 * The wire protocol (docs/protocol.md is its prose), result codes, limits,
 * path resolution, and the parsers and formatters of the values both sides
 * exchange: ids, times, windows, money.  Implemented in common/proto.c.
 */
#ifndef TOKQ_H
#define TOKQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKQ_VERSION		"0.1.0"
#define TOKQ_PROTOCOL		1

/* A frame is a 4-byte big-endian length, then that many bytes of msgpack. */
#define TOKQ_FRAME_HDR		4
#define TOKQ_FRAME_MAX		(1024 * 1024)	/* requests and replies */
#define TOKQ_NEST_MAX		16		/* map/array nesting in a frame */

#define TOKQ_ID_MAX		128		/* bytes of a user, guild, … id */
#define TOKQ_KEY_MAX		255		/* bytes of an idempotency key */

/*
 * Result codes carried in every reply's "code".  The client turns them into
 * exit codes and words; the daemon never prints them.
 */
enum tokq_code {
	TOKQ_OK = 0,
	TOKQ_E_USAGE,		/* malformed request: unknown op, missing or mistyped argument */
	TOKQ_E_INVALID,		/* well-formed but invalid data: bad id, unknown hold, key conflict */
	TOKQ_E_PERM,		/* needs an admin */
	TOKQ_E_TEMP,		/* busy, commit failed, disk full: retry with the same key */
	TOKQ_E_INTERNAL,	/* a bug or an unexpected failure */
	TOKQ_E_PROTO,		/* unsupported protocol version */
	TOKQ_E__MAX
};

/* Exit codes of the tokq client (sysexits.h values, as the contract lists). */
enum tokq_exit {
	TOKQ_EXIT_OK = 0,
	TOKQ_EXIT_DENIED = 1,
	TOKQ_EXIT_USAGE = 64,
	TOKQ_EXIT_DATAERR = 65,
	TOKQ_EXIT_UNAVAILABLE = 69,
	TOKQ_EXIT_SOFTWARE = 70,
	TOKQ_EXIT_TEMPFAIL = 75,
	TOKQ_EXIT_NOPERM = 77,
};

int		 tokq_code_exit(int code);	/* protocol code -> exit code */
const char	*tokq_code_name(int code);	/* "invalid data", … */

/* Money is kept as integer nano-USD (1e-9 USD); 9.2e9 USD fit in int64. */
#define TOKQ_NUSD_PER_USD	1000000000LL

/*
 * Bounds on the numbers that come from outside (contract, Values).  One
 * event, or one check's estimate, carries at most TOKQ_TOKENS_MAX tokens in
 * any count and at most TOKQ_COST_MAX of cost; a limit's value is at most
 * TOKQ_LIMIT_MAX tokens or requests, or TOKQ_LIMIT_COST_MAX of cost.  Every
 * sum of such values that the daemon forms is overflow-checked besides.
 */
#define TOKQ_TOKENS_MAX		1000000000000LL			/* 10^12 tokens */
#define TOKQ_COST_MAX		(1000000LL * TOKQ_NUSD_PER_USD)	/* $1,000,000 */
#define TOKQ_LIMIT_MAX		1000000000000000LL		/* 10^15 */
#define TOKQ_LIMIT_COST_MAX	(1000000000LL * TOKQ_NUSD_PER_USD) /* $10^9 */

/* The other arguments' bounds, judged alike by the client and the daemon. */
#define TOKQ_TIME_MAX		253402300799LL	/* 9999-12-31T23:59:59Z */
#define TOKQ_CALL_MAX		1000000000LL	/* a call's index in its session */
#define TOKQ_TTL_MAX		86400		/* a hold's seconds: one day */
#define TOKQ_DAYS_MAX		3660		/* a view's days: ten years, the longest window */
#define TOKQ_TOP_MAX		1000		/* stats --top */
#define TOKQ_REPORT_TOP_MAX	100		/* report --top: a post in a channel */
#define TOKQ_PAGE_MAX		1000		/* events per log or export reply */
#define TOKQ_IMPORT_MAX		500		/* events per import request */

/* Window kinds; a rolling window carries its length in seconds. */
enum tokq_wkind { TOKQ_W_ROLLING = 0, TOKQ_W_DAY, TOKQ_W_WEEK, TOKQ_W_MONTH };
struct tokq_window {
	enum tokq_wkind	 kind;
	int64_t		 secs;		/* rolling only */
};
#define TOKQ_WINDOW_MAX_SECS	(3660LL * 86400)	/* ten years */

/* Paths: PATH_MAX-sized buffers; return 0, or -1 when nothing resolves. */
int	 tokq_socket_path(const char *opt, char *buf, size_t len);
int	 tokq_db_path(const char *opt, char *buf, size_t len);

/* True iff s is 1-128 bytes of valid UTF-8 with no control characters (C0, DEL, C1). */
bool	 tokq_id_valid(const char *s);

/* Value parsers: return 0 on success, -1 (with errno EINVAL/ERANGE) on failure. */
int	 tokq_parse_u64(const char *s, int64_t *out);		/* decimal integer >= 0 */
int	 tokq_parse_limit(const char *s, int64_t *out);		/* integer >= 0, or -1 */
int	 tokq_parse_usd(const char *s, int64_t *nusd);		/* "0.0125" -> 12500000; "-1" -> -1 (unlimited) */
int	 tokq_parse_window(const char *s, struct tokq_window *w);	/* "30d" "1h" "day" … */
int	 tokq_parse_time(const char *s, int64_t *t);		/* ISO 8601 UTC or YYYY-MM-DD */
int	 tokq_parse_duration(const char *s, int64_t *secs);	/* "90s" "15m" "2h" "3d" */

/* Formatters write into buf and return it; canonical forms parse back. */
char	*tokq_fmt_window(const struct tokq_window *w, char *buf, size_t len);
char	*tokq_fmt_time(int64_t t, char *buf, size_t len);	/* 2026-12-01T00:00:00Z */
char	*tokq_fmt_usd(int64_t nusd, char *buf, size_t len);	/* exact, trailing zeros cut */

/* Calendar boundaries in UTC: the start of the period holding t, and the next one. */
int64_t	 tokq_period_start(enum tokq_wkind kind, int64_t t);
int64_t	 tokq_period_next(enum tokq_wkind kind, int64_t t);

/* The start of the span of `unit` seconds (a minute, an hour) that holds t. */
static inline int64_t
tokq_floor(int64_t t, int64_t unit)
{
	int64_t	 r = t % unit;

	return t - (r < 0 ? r + unit : r);
}

/*
 * Frames.  tokq_frame_check walks a msgpack buffer without allocating and
 * returns 0 iff it holds exactly one well-formed object whose maps and
 * arrays claim no more items than bytes remain, nested at most
 * TOKQ_NEST_MAX deep; only then may it be handed to msgpack_unpack.
 */
int	 tokq_frame_check(const char *buf, size_t len);
uint32_t tokq_frame_len(const unsigned char hdr[TOKQ_FRAME_HDR]);
void	 tokq_frame_hdr(unsigned char hdr[TOKQ_FRAME_HDR], uint32_t len);

/*
 * UTF-8 for strings sent to a peer: tokq_utf8_escape copies len bytes into
 * out (room for 4 * len) with each byte that is no valid UTF-8 written as
 * \xHH, and returns the bytes written.
 */
bool	 tokq_utf8_valid(const char *s, size_t len);
size_t	 tokq_utf8_escape(const char *s, size_t len, char *out);

#endif
