/*
 * proto.c: what the daemon and the client share (include/tokq.h).
 *
 * Result codes and their exit codes, path resolution, the parsers and
 * formatters of ids, numbers, money, windows and times, calendar period
 * boundaries, and the frame checker that stands between the socket and
 * msgpack_unpack.  Nothing here allocates; every function is pure but for
 * reading the environment in the path resolvers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokq.h"

#define SECS_PER_DAY	86400LL

/* The times tokq_parse_time accepts: 0000-01-01 to 9999-12-31T23:59:59Z. */
#define TIME_MIN	(-62167219200LL)
#define TIME_MAX	(253402300799LL)

/* Result codes. */

int
tokq_code_exit(int code)
{
	switch (code) {
	case TOKQ_OK:
		return TOKQ_EXIT_OK;
	case TOKQ_E_USAGE:
		return TOKQ_EXIT_USAGE;
	case TOKQ_E_INVALID:
		return TOKQ_EXIT_DATAERR;
	case TOKQ_E_PERM:
		return TOKQ_EXIT_NOPERM;
	case TOKQ_E_TEMP:
		return TOKQ_EXIT_TEMPFAIL;
	case TOKQ_E_INTERNAL:
	case TOKQ_E_PROTO:
	default:
		return TOKQ_EXIT_SOFTWARE;
	}
}

const char *
tokq_code_name(int code)
{
	static const char *const names[TOKQ_E__MAX] = {
		[TOKQ_OK] = "ok",
		[TOKQ_E_USAGE] = "usage error",
		[TOKQ_E_INVALID] = "invalid data",
		[TOKQ_E_PERM] = "permission denied",
		[TOKQ_E_TEMP] = "temporary failure",
		[TOKQ_E_INTERNAL] = "internal error",
		[TOKQ_E_PROTO] = "protocol version mismatch",
	};

	if (code < 0 || code >= TOKQ_E__MAX)
		return "unknown error";
	return names[code];
}

/* Paths. */

/* The value of environment variable name, or NULL when unset or empty. */
static const char *
env_nonempty(const char *name)
{
	const char	*v = getenv(name);

	return (v != NULL && *v != '\0') ? v : NULL;
}

/*
 * Write the first n bytes of dir, then suffix, into buf.  0 on success, -1
 * with ENAMETOOLONG when the result does not fit in len bytes (buf then
 * holds the empty string, if it has room for that).
 */
static int
path_join(char *buf, size_t len, const char *dir, size_t n, const char *suffix)
{
	size_t	 slen = strlen(suffix);

	if (len == 0 || n >= len || slen >= len - n) {
		if (len > 0)
			buf[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, dir, n);
	memcpy(buf + n, suffix, slen + 1);
	return 0;
}

/*
 * The control socket: opt (--socket), else $TOKQ_SOCKET, else the system
 * path for root, else under $XDG_RUNTIME_DIR.  An empty opt or variable
 * counts as absent.  Returns -1 with ENOENT when nothing resolves and with
 * ENAMETOOLONG when the path does not fit in len bytes.
 */
int
tokq_socket_path(const char *opt, char *buf, size_t len)
{
	const char	*v;

	if (opt != NULL && *opt != '\0')
		return path_join(buf, len, opt, strlen(opt), "");
	if ((v = env_nonempty("TOKQ_SOCKET")) != NULL)
		return path_join(buf, len, v, strlen(v), "");
	if (geteuid() == 0)
		return path_join(buf, len, "/run/tokq", 9, "/tokq.sock");
	if ((v = env_nonempty("XDG_RUNTIME_DIR")) != NULL)
		return path_join(buf, len, v, strlen(v), "/tokq/tokq.sock");
	errno = ENOENT;
	return -1;
}

/*
 * The database: opt (--db), else $TOKQ_DB, else the first entry of
 * systemd's $STATE_DIRECTORY (a colon-separated list), else the system
 * path for root, else under $XDG_STATE_HOME or ~/.local/state.  Empty
 * values count as absent.  Errors as tokq_socket_path.
 */
int
tokq_db_path(const char *opt, char *buf, size_t len)
{
	const char	*v;
	size_t		 n;

	if (opt != NULL && *opt != '\0')
		return path_join(buf, len, opt, strlen(opt), "");
	if ((v = env_nonempty("TOKQ_DB")) != NULL)
		return path_join(buf, len, v, strlen(v), "");
	if ((v = env_nonempty("STATE_DIRECTORY")) != NULL &&
	    (n = strcspn(v, ":")) > 0)
		return path_join(buf, len, v, n, "/tokq.db");
	if (geteuid() == 0)
		return path_join(buf, len, "/var/lib/tokq", 13, "/tokq.db");
	if ((v = env_nonempty("XDG_STATE_HOME")) != NULL)
		return path_join(buf, len, v, strlen(v), "/tokq/tokq.db");
	if ((v = env_nonempty("HOME")) != NULL)
		return path_join(buf, len, v, strlen(v),
		    "/.local/state/tokq/tokq.db");
	errno = ENOENT;
	return -1;
}

/* Ids. */

/*
 * True iff s is 1-TOKQ_ID_MAX bytes of strictly valid UTF-8 (shortest
 * form, no surrogates, nothing above U+10FFFF) holding no control
 * character: C0 (U+0000-U+001F), DEL (U+007F) or C1 (U+0080-U+009F).
 * Other invisible characters (format, space separators) are allowed.
 */
bool
tokq_id_valid(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 len, i, need;
	unsigned char		 lo, hi;
	uint32_t		 cp;

	if (s == NULL)
		return false;
	len = strnlen(s, TOKQ_ID_MAX + 1);
	if (len == 0 || len > TOKQ_ID_MAX)
		return false;
	for (i = 0; i < len; ) {
		unsigned char	 b = p[i++];

		if (b < 0x80) {
			if (b < 0x20 || b == 0x7f)
				return false;
			continue;
		}
		/* The lead byte fixes the length and the second byte's range. */
		lo = 0x80;
		hi = 0xbf;
		if (b >= 0xc2 && b <= 0xdf) {
			need = 1;
			cp = b & 0x1f;
		} else if (b >= 0xe0 && b <= 0xef) {
			need = 2;
			cp = b & 0x0f;
			if (b == 0xe0)
				lo = 0xa0;	/* no overlongs */
			else if (b == 0xed)
				hi = 0x9f;	/* no surrogates */
		} else if (b >= 0xf0 && b <= 0xf4) {
			need = 3;
			cp = b & 0x07;
			if (b == 0xf0)
				lo = 0x90;	/* no overlongs */
			else if (b == 0xf4)
				hi = 0x8f;	/* nothing above U+10FFFF */
		} else
			return false;		/* 80-c1, f5-ff */
		if (need > len - i)
			return false;
		if (p[i] < lo || p[i] > hi)
			return false;
		for (; need > 0; need--, i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (cp <= 0x9f)
			return false;		/* C1 */
	}
	return true;
}

/* Numbers. */

/*
 * Read one or more decimal digits at *sp into *out, advancing *sp past them.
 * -1 with EINVAL when there is no digit, ERANGE when the value does not fit
 * in int64.
 */
static int
scan_digits(const char **sp, int64_t *out)
{
	const char	*s = *sp;
	int64_t		 v = 0;
	int		 d;

	if (*s < '0' || *s > '9') {
		errno = EINVAL;
		return -1;
	}
	for (; *s >= '0' && *s <= '9'; s++) {
		d = *s - '0';
		if (v > (INT64_MAX - d) / 10) {
			errno = ERANGE;
			return -1;
		}
		v = v * 10 + d;
	}
	*sp = s;
	*out = v;
	return 0;
}

/*
 * A decimal integer >= 0: digits only, no sign, no space, no empty string.
 * -1 with EINVAL for anything else, ERANGE above INT64_MAX.  *out is
 * written only on success.
 */
int
tokq_parse_u64(const char *s, int64_t *out)
{
	int64_t	 v;

	if (s == NULL) {
		errno = EINVAL;
		return -1;
	}
	/* Syntax first, so "12x" with 40 digits is EINVAL, not ERANGE. */
	if (*s == '\0' || s[strspn(s, "0123456789")] != '\0') {
		errno = EINVAL;
		return -1;
	}
	if (scan_digits(&s, &v) == -1)
		return -1;
	*out = v;
	return 0;
}

/* As tokq_parse_u64, and exactly "-1" is -1 (unlimited). */
int
tokq_parse_limit(const char *s, int64_t *out)
{
	if (s != NULL && strcmp(s, "-1") == 0) {
		*out = -1;
		return 0;
	}
	return tokq_parse_u64(s, out);
}

/*
 * Money in USD into nano-USD, in exact integer arithmetic: an optional "$",
 * then digits with an optional "." and at most 9 fraction digits (at least
 * one digit in all: "2", "0.15", ".5", "5." are fine).  Exactly "-1" is -1,
 * the unlimited sentinel.  -1 with EINVAL for other negatives, exponents,
 * spaces or garbage; ERANGE for more than 9 fraction digits (finer than a
 * nano-USD) or more than INT64_MAX nano-USD.
 */
int
tokq_parse_usd(const char *s, int64_t *nusd)
{
	int64_t		 whole = 0, frac = 0;
	int		 nint = 0, nfrac = 0, d;

	if (s == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (strcmp(s, "-1") == 0) {
		*nusd = -1;
		return 0;
	}
	if (*s == '$')
		s++;
	for (; *s >= '0' && *s <= '9'; s++, nint++) {
		d = *s - '0';
		if (whole > (INT64_MAX / TOKQ_NUSD_PER_USD - d) / 10)
			whole = INT64_MAX;	/* out of range; syntax first */
		else
			whole = whole * 10 + d;
	}
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, nfrac++)
			if (nfrac < 9)
				frac = frac * 10 + (*s - '0');
	}
	if (*s != '\0' || nint + nfrac == 0) {
		errno = EINVAL;
		return -1;
	}
	if (nfrac > 9 || whole > INT64_MAX / TOKQ_NUSD_PER_USD) {
		errno = ERANGE;
		return -1;
	}
	for (d = nfrac; d < 9; d++)
		frac *= 10;
	if (whole * TOKQ_NUSD_PER_USD > INT64_MAX - frac) {
		errno = ERANGE;
		return -1;
	}
	*nusd = whole * TOKQ_NUSD_PER_USD + frac;
	return 0;
}

/*
 * Write nusd as an exact decimal USD amount with trailing zeros cut: 150 is
 * "0.00000015", 2000000000 is "2", negatives get a "-".  Returns buf; the
 * text is cut short (still terminated) when len is too small, 22 bytes
 * always suffice.
 */
char *
tokq_fmt_usd(int64_t nusd, char *buf, size_t len)
{
	uint64_t	 mag, whole, frac;
	char		 fbuf[16];
	size_t		 n;

	if (len == 0)
		return buf;
	/* Negate in unsigned arithmetic: INT64_MIN has no positive twin. */
	mag = nusd < 0 ? -(uint64_t)nusd : (uint64_t)nusd;
	whole = mag / TOKQ_NUSD_PER_USD;
	frac = mag % TOKQ_NUSD_PER_USD;
	if (frac == 0) {
		snprintf(buf, len, "%s%llu", nusd < 0 ? "-" : "",
		    (unsigned long long)whole);
		return buf;
	}
	snprintf(fbuf, sizeof(fbuf), "%09llu", (unsigned long long)frac);
	for (n = strlen(fbuf); n > 0 && fbuf[n - 1] == '0'; n--)
		fbuf[n - 1] = '\0';
	snprintf(buf, len, "%s%llu.%s", nusd < 0 ? "-" : "",
	    (unsigned long long)whole, fbuf);
	return buf;
}

/* Windows and durations. */

/*
 * Seconds per unit suffix ('s', 'm', 'h', 'd'), or 0 for anything else.
 * Seconds only when allow_s.
 */
static int64_t
unit_secs(char c, bool allow_s)
{
	switch (c) {
	case 's':
		return allow_s ? 1 : 0;
	case 'm':
		return 60;
	case 'h':
		return 3600;
	case 'd':
		return SECS_PER_DAY;
	default:
		return 0;
	}
}

/*
 * A window: rolling "Nm", "Nh", "Nd" with N >= 1 and at most
 * TOKQ_WINDOW_MAX_SECS in all, or calendar "day", "week", "month".
 * -1 with EINVAL for bad syntax or N == 0, ERANGE when too long.
 */
int
tokq_parse_window(const char *s, struct tokq_window *w)
{
	static const struct {
		const char	*name;
		enum tokq_wkind	 kind;
	} cal[] = {
		{ "day", TOKQ_W_DAY },
		{ "week", TOKQ_W_WEEK },
		{ "month", TOKQ_W_MONTH },
	};
	int64_t		 n, unit;
	size_t		 i;

	if (s == NULL) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < sizeof(cal) / sizeof(cal[0]); i++)
		if (strcmp(s, cal[i].name) == 0) {
			w->kind = cal[i].kind;
			w->secs = 0;
			return 0;
		}
	if (scan_digits(&s, &n) == -1)
		return -1;
	if ((unit = unit_secs(s[0], false)) == 0 || s[1] != '\0' || n == 0) {
		errno = EINVAL;
		return -1;
	}
	if (n > TOKQ_WINDOW_MAX_SECS / unit) {
		errno = ERANGE;
		return -1;
	}
	w->kind = TOKQ_W_ROLLING;
	w->secs = n * unit;
	return 0;
}

/*
 * The canonical form of a window: a rolling one in the largest unit that
 * divides it (days, hours, else minutes), a calendar one by name.  A length
 * that is not whole minutes (the parser never makes one) is rounded up.
 * Returns buf.
 */
char *
tokq_fmt_window(const struct tokq_window *w, char *buf, size_t len)
{
	int64_t	 secs;

	if (len == 0)
		return buf;
	switch (w->kind) {
	case TOKQ_W_DAY:
		snprintf(buf, len, "day");
		break;
	case TOKQ_W_WEEK:
		snprintf(buf, len, "week");
		break;
	case TOKQ_W_MONTH:
		snprintf(buf, len, "month");
		break;
	case TOKQ_W_ROLLING:
		secs = w->secs;
		if (secs > 0 && secs % SECS_PER_DAY == 0)
			snprintf(buf, len, "%lldd", (long long)(secs / SECS_PER_DAY));
		else if (secs > 0 && secs % 3600 == 0)
			snprintf(buf, len, "%lldh", (long long)(secs / 3600));
		else
			snprintf(buf, len, "%lldm", secs <= 0 ? 0LL :
			    (long long)(secs / 60 + (secs % 60 != 0)));
		break;
	default:
		snprintf(buf, len, "?");
		break;
	}
	return buf;
}

/*
 * A duration: "N" seconds, or "Ns", "Nm", "Nh", "Nd", N >= 0.
 * -1 with EINVAL for bad syntax, ERANGE when it overflows int64.
 */
int
tokq_parse_duration(const char *s, int64_t *secs)
{
	int64_t	 n, unit = 1;

	if (s == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (scan_digits(&s, &n) == -1)
		return -1;
	if (*s != '\0') {
		if ((unit = unit_secs(s[0], true)) == 0 || s[1] != '\0') {
			errno = EINVAL;
			return -1;
		}
	}
	if (n > INT64_MAX / unit) {
		errno = ERANGE;
		return -1;
	}
	*secs = n * unit;
	return 0;
}

/* Calendar arithmetic, proleptic Gregorian, UTC. */

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t	 q = a / b;

	if (a % b != 0 && ((a < 0) != (b < 0)))
		q--;
	return q;
}

static bool
is_leap(int64_t y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int
month_days(int64_t y, int m)
{
	static const int	 mdays[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

/*
 * Days from 1970-01-01 to y-m-d (Howard Hinnant's days_from_civil); valid
 * for any year whose day count fits comfortably in int64.
 */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t	 era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil; correct for every int64 day / 86400. */
static void
civil_from_days(int64_t z, int64_t *yp, int *mp, int *dp)
{
	int64_t	 era, doe, yoe, doy, mp0, y;
	int	 m;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp0 = (5 * doy + 2) / 153;
	*dp = (int)(doy - (153 * mp0 + 2) / 5 + 1);
	m = (int)(mp0 < 10 ? mp0 + 3 : mp0 - 9);
	*mp = m;
	*yp = y + (m <= 2);
}

/* days * 86400, saturated at the ends of int64. */
static int64_t
day_secs(int64_t days)
{
	int64_t	 r;

	if (__builtin_mul_overflow(days, SECS_PER_DAY, &r))
		return days < 0 ? INT64_MIN : INT64_MAX;
	return r;
}

static int64_t
add_sat(int64_t a, int64_t b)
{
	int64_t	 r;

	if (__builtin_add_overflow(a, b, &r))
		return b < 0 ? INT64_MIN : INT64_MAX;
	return r;
}

/*
 * The start of the calendar period (UTC day, Monday-based week, month)
 * holding t; a time exactly on a boundary opens the new period.  A rolling
 * (or unknown) kind returns t.  Correct for negative t; at the very ends of
 * int64 the result saturates.
 */
int64_t
tokq_period_start(enum tokq_wkind kind, int64_t t)
{
	int64_t	 day = floor_div(t, SECS_PER_DAY), y;
	int	 m, d;

	switch (kind) {
	case TOKQ_W_DAY:
		return day_secs(day);
	case TOKQ_W_WEEK:
		/* 1970-01-01 was a Thursday, 3 days after a Monday. */
		return day_secs(day - (((day + 3) % 7) + 7) % 7);
	case TOKQ_W_MONTH:
		civil_from_days(day, &y, &m, &d);
		return day_secs(days_from_civil(y, m, 1));
	case TOKQ_W_ROLLING:
	default:
		return t;
	}
}

/* The start of the period after the one holding t; t for a rolling kind. */
int64_t
tokq_period_next(enum tokq_wkind kind, int64_t t)
{
	int64_t	 day = floor_div(t, SECS_PER_DAY), y;
	int	 m, d;

	switch (kind) {
	case TOKQ_W_DAY:
		return add_sat(tokq_period_start(kind, t), SECS_PER_DAY);
	case TOKQ_W_WEEK:
		return add_sat(tokq_period_start(kind, t), 7 * SECS_PER_DAY);
	case TOKQ_W_MONTH:
		civil_from_days(day, &y, &m, &d);
		if (m == 12) {
			y++;
			m = 1;
		} else
			m++;
		return day_secs(days_from_civil(y, m, 1));
	case TOKQ_W_ROLLING:
	default:
		return t;
	}
}

/* Times. */

/* Exactly n digits at *sp into *out, advancing; -1 if fewer. */
static int
fixed_digits(const char **sp, int n, int *out)
{
	const char	*s = *sp;
	int		 v = 0;

	for (; n > 0; n--, s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	*sp = s;
	*out = v;
	return 0;
}

/*
 * A time into Unix seconds.  Accepted: "@N" (Unix seconds, N >= 0);
 * "YYYY-MM-DD" (midnight UTC); "YYYY-MM-DD" then "T", "t" or a space, then
 * "HH:MM" or "HH:MM:SS" with optional fractional seconds (".fff" or ",fff",
 * cut, not rounded), then optionally "Z", "z", "±HH:MM" or "±HHMM" (the
 * offset is applied; no zone means UTC).  Fields are range-checked (leap
 * years included; no leap second, no 24:00).  -1 with EINVAL for anything
 * else, ERANGE outside years 0000-9999.
 */
int
tokq_parse_time(const char *s, int64_t *t)
{
	int		 y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0;
	int		 sign = 0;
	int64_t		 v;

	if (s == NULL)
		goto inval;
	if (*s == '@') {
		s++;
		if (scan_digits(&s, &v) == -1)
			return -1;
		if (*s != '\0')
			goto inval;
		goto range;
	}
	if (fixed_digits(&s, 4, &y) == -1 || *s++ != '-' ||
	    fixed_digits(&s, 2, &mo) == -1 || *s++ != '-' ||
	    fixed_digits(&s, 2, &d) == -1)
		goto inval;
	if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo))
		goto inval;
	if (*s == '\0')
		goto done;
	if (*s != 'T' && *s != 't' && *s != ' ')
		goto inval;
	s++;
	if (fixed_digits(&s, 2, &h) == -1 || *s++ != ':' ||
	    fixed_digits(&s, 2, &mi) == -1)
		goto inval;
	if (*s == ':') {
		s++;
		if (fixed_digits(&s, 2, &sec) == -1)
			goto inval;
		if (*s == '.' || *s == ',') {
			s++;
			if (*s < '0' || *s > '9')
				goto inval;
			while (*s >= '0' && *s <= '9')
				s++;
		}
	}
	if (h > 23 || mi > 59 || sec > 59)
		goto inval;
	if (*s == 'Z' || *s == 'z')
		s++;
	else if (*s == '+' || *s == '-') {
		sign = *s++ == '+' ? 1 : -1;
		if (fixed_digits(&s, 2, &oh) == -1)
			goto inval;
		if (*s == ':')
			s++;
		if (fixed_digits(&s, 2, &om) == -1 || oh > 23 || om > 59)
			goto inval;
	}
	if (*s != '\0')
		goto inval;
 done:
	v = days_from_civil(y, mo, d) * SECS_PER_DAY + h * 3600LL +
	    mi * 60LL + sec - sign * (oh * 3600LL + om * 60LL);
 range:
	if (v < TIME_MIN || v > TIME_MAX) {
		errno = ERANGE;
		return -1;
	}
	*t = v;
	return 0;
 inval:
	errno = EINVAL;
	return -1;
}

/* The n last decimal digits of v >= 0 at p, zero-padded. */
static void
put_digits(char *p, int n, int64_t v)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/*
 * t as "YYYY-MM-DDTHH:MM:SSZ" in UTC; any int64 is handled (years outside
 * 0000-9999 print with more digits or a sign).  Returns buf.
 */
char *
tokq_fmt_time(int64_t t, char *buf, size_t len)
{
	int64_t	 day = floor_div(t, SECS_PER_DAY), rem, y;
	int	 m, d;

	if (len == 0)
		return buf;
	/* Not t - day * 86400: that product overflows near INT64_MIN. */
	if ((rem = t % SECS_PER_DAY) < 0)
		rem += SECS_PER_DAY;
	civil_from_days(day, &y, &m, &d);
	if (y < 0 || y > 9999 || len < sizeof("YYYY-MM-DDTHH:MM:SSZ")) {
		snprintf(buf, len, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y,
		    m, d, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
		return buf;
	}
	/* Every limit of every reply has a time: no printf for the usual ones. */
	put_digits(buf, 4, y);
	buf[4] = '-';
	put_digits(buf + 5, 2, m);
	buf[7] = '-';
	put_digits(buf + 8, 2, d);
	buf[10] = 'T';
	put_digits(buf + 11, 2, rem / 3600);
	buf[13] = ':';
	put_digits(buf + 14, 2, rem / 60 % 60);
	buf[16] = ':';
	put_digits(buf + 17, 2, rem % 60);
	buf[19] = 'Z';
	buf[20] = '\0';
	return buf;
}

/* Frames. */

/* The n-byte (n <= 4) big-endian unsigned integer at p. */
static uint32_t
be_read(const unsigned char *p, size_t n)
{
	uint32_t	 v = 0;

	while (n-- > 0)
		v = (v << 8) | *p++;
	return v;
}

/*
 * Walk the msgpack in buf without allocating.  0 iff buf holds exactly one
 * object, a map at the top, with no trailing byte, no 0xc1, every str, bin
 * and ext length within the bytes that remain, every array or map claiming
 * at most as many items as bytes remain (each item takes at least one),
 * and containers nested at most TOKQ_NEST_MAX deep (the top map is depth
 * 1; an empty container counts too).  -1 otherwise.
 *
 * The walk keeps, per open container, how many items it still owes; no
 * length from the input is used before it is compared with what remains,
 * and the comparisons are written so that size_t cannot wrap.
 */
int
tokq_frame_check(const char *buf, size_t len)
{
	const unsigned char	*p = (const unsigned char *)buf;
	size_t			 left[TOKQ_NEST_MAX + 1];
	size_t			 pos = 0, skip, lenbytes, items, rest;
	int			 depth = 0, container, ext;
	unsigned char		 c;

	if (buf == NULL || len == 0)
		return -1;
	c = p[0];
	if (!((c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf))
		return -1;
	left[0] = 1;
	for (;;) {
		if (pos >= len)
			return -1;
		c = p[pos++];
		skip = 0;		/* payload bytes after the header */
		lenbytes = 0;		/* bytes of a str/bin/ext/array/map length */
		container = 0;		/* 1 array, 2 map */
		ext = 0;		/* ext: one type byte before the data */
		items = 0;
		if (c <= 0x7f || c >= 0xe0)
			;				/* fixint */
		else if (c <= 0x8f) {
			container = 2;
			items = c & 0x0f;
		} else if (c <= 0x9f) {
			container = 1;
			items = c & 0x0f;
		} else if (c <= 0xbf)
			skip = c & 0x1f;		/* fixstr */
		else switch (c) {
		case 0xc0:				/* nil */
		case 0xc2:				/* false */
		case 0xc3:				/* true */
			break;
		case 0xc1:
			return -1;
		case 0xc4: case 0xd9:			/* bin8, str8 */
			lenbytes = 1;
			break;
		case 0xc5: case 0xda:			/* bin16, str16 */
			lenbytes = 2;
			break;
		case 0xc6: case 0xdb:			/* bin32, str32 */
			lenbytes = 4;
			break;
		case 0xc7:				/* ext8 */
			lenbytes = 1;
			ext = 1;
			break;
		case 0xc8:				/* ext16 */
			lenbytes = 2;
			ext = 1;
			break;
		case 0xc9:				/* ext32 */
			lenbytes = 4;
			ext = 1;
			break;
		case 0xca:				/* float32 */
			skip = 4;
			break;
		case 0xcb:				/* float64 */
			skip = 8;
			break;
		case 0xcc: case 0xd0:			/* uint8, int8 */
			skip = 1;
			break;
		case 0xcd: case 0xd1:
			skip = 2;
			break;
		case 0xce: case 0xd2:
			skip = 4;
			break;
		case 0xcf: case 0xd3:
			skip = 8;
			break;
		case 0xd4:				/* fixext 1..16 */
			skip = 1 + 1;
			break;
		case 0xd5:
			skip = 1 + 2;
			break;
		case 0xd6:
			skip = 1 + 4;
			break;
		case 0xd7:
			skip = 1 + 8;
			break;
		case 0xd8:
			skip = 1 + 16;
			break;
		case 0xdc:				/* array16 */
			lenbytes = 2;
			container = 1;
			break;
		case 0xdd:				/* array32 */
			lenbytes = 4;
			container = 1;
			break;
		case 0xde:				/* map16 */
			lenbytes = 2;
			container = 2;
			break;
		case 0xdf:				/* map32 */
			lenbytes = 4;
			container = 2;
			break;
		}
		if (lenbytes > 0) {
			if (lenbytes > len - pos)
				return -1;
			if (container)
				items = be_read(p + pos, lenbytes);
			else
				skip = be_read(p + pos, lenbytes);
			pos += lenbytes;
		}
		if (ext) {
			/* The type byte, apart: 0xffffffff + 1 wraps a 32-bit size_t. */
			if (pos >= len)
				return -1;
			pos++;
		}
		rest = len - pos;
		if (skip > rest)
			return -1;
		pos += skip;
		left[depth]--;
		if (container) {
			/* A map owes two items per entry; compare before doubling. */
			if (container == 2) {
				if (items > rest / 2)
					return -1;
				items *= 2;
			} else if (items > rest)
				return -1;
			if (depth == TOKQ_NEST_MAX)
				return -1;
			left[++depth] = items;
		}
		while (left[depth] == 0) {
			if (depth == 0)
				return pos == len ? 0 : -1;
			depth--;
		}
	}
}

uint32_t
tokq_frame_len(const unsigned char hdr[TOKQ_FRAME_HDR])
{
	return be_read(hdr, TOKQ_FRAME_HDR);
}

void
tokq_frame_hdr(unsigned char hdr[TOKQ_FRAME_HDR], uint32_t len)
{
	hdr[0] = (len >> 24) & 0xff;
	hdr[1] = (len >> 16) & 0xff;
	hdr[2] = (len >> 8) & 0xff;
	hdr[3] = len & 0xff;
}

/* UTF-8 in replies. */

/*
 * The length of the character of strictly valid UTF-8 (shortest form, no
 * surrogates, nothing above U+10FFFF) that starts at p, n > 0 bytes left:
 * 1 to 4, or 0 when the bytes there are none.
 */
static size_t
utf8_char(const unsigned char *p, size_t n)
{
	unsigned char	 b = p[0], lo = 0x80, hi = 0xbf;
	size_t		 need, i;

	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf)
		need = 1;
	else if (b >= 0xe0 && b <= 0xef) {
		need = 2;
		if (b == 0xe0)
			lo = 0xa0;
		else if (b == 0xed)
			hi = 0x9f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		need = 3;
		if (b == 0xf0)
			lo = 0x90;
		else if (b == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (need >= n || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i <= need; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return need + 1;
}

/* True iff s (len bytes) is strictly valid UTF-8; NULs are characters too. */
bool
tokq_utf8_valid(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i, k;

	for (i = 0; i < len; i += k)
		if ((k = utf8_char(p + i, len - i)) == 0)
			return false;
	return true;
}

/*
 * Copy s (len bytes) to out as valid UTF-8: each byte that is not part of
 * a valid character becomes the four characters \xHH (lower case); valid
 * characters are copied as they are.  out must have room for 4 * len
 * bytes; no NUL is added.  Returns the bytes written.
 */
size_t
tokq_utf8_escape(const char *s, size_t len, char *out)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i, k, o = 0;

	for (i = 0; i < len; i += k) {
		if ((k = utf8_char(p + i, len - i)) > 0) {
			memcpy(out + o, p + i, k);
			o += k;
			continue;
		}
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[p[i] >> 4];
		out[o++] = hex[p[i] & 0xf];
		k = 1;
	}
	return o;
}
