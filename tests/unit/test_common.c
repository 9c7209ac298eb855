/*
 * test_common.c: unit tests of common/proto.c, the values and frames that
 * the daemon and the client share.  One behaviour per test; the name says
 * which.  Path tests that depend on the effective uid skip themselves when
 * run as the other kind of user.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "tokq.h"

/* Known instants, checked against Python's calendar.timegm. */
#define T_2026_12_01	1796083200LL	/* Tuesday */
#define T_2026_02_23	1771804800LL	/* Monday */
#define T_2026_03_01	1772323200LL	/* Sunday */
#define T_2026_03_02	1772409600LL	/* Monday */
#define T_2026_03_09	1773014400LL	/* Monday */
#define T_2026_12_31	1798675200LL
#define T_2027_01_01	1798761600LL
#define T_2027_03_01	1803859200LL
#define T_2028_02_01	1832976000LL
#define T_2028_02_29	1835395200LL
#define T_2028_03_01	1835481600LL
#define T_2000_02_29	951782400LL
#define DAY		86400LL

/* Helpers: a parser's success with its value, or its failure with errno. */

static void
usd_is(const char *s, int64_t want)
{
	int64_t	 v = 12345;

	if (tokq_parse_usd(s, &v) != 0)
		fail_msg("tokq_parse_usd(\"%s\") failed: %s", s, strerror(errno));
	assert_int_equal(v, want);
}

static void
usd_fails(const char *s, int err)
{
	int64_t	 v = 12345;

	errno = 0;
	if (tokq_parse_usd(s, &v) != -1)
		fail_msg("tokq_parse_usd(\"%s\") accepted: %lld", s, (long long)v);
	assert_int_equal(errno, err);
	assert_int_equal(v, 12345);
}

static void
u64_fails(const char *s, int err)
{
	int64_t	 v = 12345;

	errno = 0;
	if (tokq_parse_u64(s, &v) != -1)
		fail_msg("tokq_parse_u64(\"%s\") accepted: %lld", s, (long long)v);
	assert_int_equal(errno, err);
	assert_int_equal(v, 12345);
}

static void
time_is(const char *s, int64_t want)
{
	int64_t	 v = 12345;

	if (tokq_parse_time(s, &v) != 0)
		fail_msg("tokq_parse_time(\"%s\") failed: %s", s, strerror(errno));
	assert_int_equal(v, want);
}

static void
time_fails(const char *s, int err)
{
	int64_t	 v = 12345;

	errno = 0;
	if (tokq_parse_time(s, &v) != -1)
		fail_msg("tokq_parse_time(\"%s\") accepted: %lld", s, (long long)v);
	assert_int_equal(errno, err);
}

static void
window_is(const char *s, enum tokq_wkind kind, int64_t secs)
{
	struct tokq_window	 w;

	if (tokq_parse_window(s, &w) != 0)
		fail_msg("tokq_parse_window(\"%s\") failed: %s", s, strerror(errno));
	assert_int_equal(w.kind, kind);
	if (kind == TOKQ_W_ROLLING)
		assert_int_equal(w.secs, secs);
}

static void
window_fails(const char *s, int err)
{
	struct tokq_window	 w;

	errno = 0;
	if (tokq_parse_window(s, &w) != -1)
		fail_msg("tokq_parse_window(\"%s\") accepted", s);
	assert_int_equal(errno, err);
}

static void
duration_is(const char *s, int64_t want)
{
	int64_t	 v = 12345;

	if (tokq_parse_duration(s, &v) != 0)
		fail_msg("tokq_parse_duration(\"%s\") failed: %s", s, strerror(errno));
	assert_int_equal(v, want);
}

static void
duration_fails(const char *s, int err)
{
	int64_t	 v = 12345;

	errno = 0;
	if (tokq_parse_duration(s, &v) != -1)
		fail_msg("tokq_parse_duration(\"%s\") accepted: %lld", s, (long long)v);
	assert_int_equal(errno, err);
}

static const char *
fmt_usd(int64_t v)
{
	static char	 buf[64];

	return tokq_fmt_usd(v, buf, sizeof(buf));
}

static const char *
fmt_time(int64_t t)
{
	static char	 buf[64];

	return tokq_fmt_time(t, buf, sizeof(buf));
}

#define FRAME_OK(...)	do {						\
	static const unsigned char b_[] = { __VA_ARGS__ };		\
	assert_int_equal(tokq_frame_check((const char *)b_, sizeof(b_)), 0); \
} while (0)
#define FRAME_BAD(...)	do {						\
	static const unsigned char b_[] = { __VA_ARGS__ };		\
	assert_int_equal(tokq_frame_check((const char *)b_, sizeof(b_)), -1); \
} while (0)

/* Result codes. */

static void
test_code_exit_maps_every_code_to_its_sysexit(void **state)
{
	assert_int_equal(tokq_code_exit(TOKQ_OK), 0);
	assert_int_equal(tokq_code_exit(TOKQ_E_USAGE), 64);
	assert_int_equal(tokq_code_exit(TOKQ_E_INVALID), 65);
	assert_int_equal(tokq_code_exit(TOKQ_E_PERM), 77);
	assert_int_equal(tokq_code_exit(TOKQ_E_TEMP), 75);
	assert_int_equal(tokq_code_exit(TOKQ_E_INTERNAL), 70);
	assert_int_equal(tokq_code_exit(TOKQ_E_PROTO), 70);
}

static void
test_code_exit_unknown_code_is_internal_error(void **state)
{
	assert_int_equal(tokq_code_exit(TOKQ_E__MAX), 70);
	assert_int_equal(tokq_code_exit(-1), 70);
	assert_int_equal(tokq_code_exit(INT_MAX), 70);
}

static void
test_code_name_gives_short_phrases(void **state)
{
	assert_string_equal(tokq_code_name(TOKQ_E_USAGE), "usage error");
	assert_string_equal(tokq_code_name(TOKQ_E_INVALID), "invalid data");
	assert_string_equal(tokq_code_name(TOKQ_E_PERM), "permission denied");
	assert_string_equal(tokq_code_name(TOKQ_E_TEMP), "temporary failure");
	assert_string_equal(tokq_code_name(TOKQ_E_INTERNAL), "internal error");
	assert_string_equal(tokq_code_name(TOKQ_E_PROTO),
	    "protocol version mismatch");
	assert_string_equal(tokq_code_name(TOKQ_OK), "ok");
}

static void
test_code_name_unknown_code_is_not_null(void **state)
{
	assert_non_null(tokq_code_name(TOKQ_E__MAX));
	assert_non_null(tokq_code_name(-7));
}

/* Paths. */

static const char *const path_vars[] = {
	"TOKQ_SOCKET", "TOKQ_DB", "STATE_DIRECTORY", "XDG_RUNTIME_DIR",
	"XDG_STATE_HOME", "HOME",
};

/* Setup for path tests: a clean environment, saved for teardown. */
static int
paths_setup(void **state)
{
	char	**saved;
	size_t	 i, n = sizeof(path_vars) / sizeof(path_vars[0]);
	const char *v;

	if ((saved = calloc(n, sizeof(*saved))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if ((v = getenv(path_vars[i])) != NULL)
			saved[i] = strdup(v);
		unsetenv(path_vars[i]);
	}
	*state = saved;
	return 0;
}

static int
paths_teardown(void **state)
{
	char	**saved = *state;
	size_t	 i, n = sizeof(path_vars) / sizeof(path_vars[0]);

	for (i = 0; i < n; i++) {
		if (saved[i] != NULL)
			setenv(path_vars[i], saved[i], 1);
		else
			unsetenv(path_vars[i]);
		free(saved[i]);
	}
	free(saved);
	return 0;
}

static void
test_socket_path_option_beats_environment(void **state)
{
	char	 buf[PATH_MAX];

	setenv("TOKQ_SOCKET", "/env/sock", 1);
	assert_int_equal(tokq_socket_path("/opt/sock", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/opt/sock");
}

static void
test_socket_path_env_beats_defaults(void **state)
{
	char	 buf[PATH_MAX];

	setenv("TOKQ_SOCKET", "/env/sock", 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	assert_int_equal(tokq_socket_path(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/env/sock");
}

static void
test_socket_path_empty_env_is_ignored(void **state)
{
	char	 buf[PATH_MAX];

	setenv("TOKQ_SOCKET", "", 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	assert_int_equal(tokq_socket_path(NULL, buf, sizeof(buf)), 0);
	assert_string_not_equal(buf, "");
}

static void
test_socket_path_root_uses_run_tokq(void **state)
{
	char	 buf[PATH_MAX];

	if (geteuid() != 0)
		skip();
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	assert_int_equal(tokq_socket_path(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/run/tokq/tokq.sock");
}

static void
test_socket_path_user_uses_xdg_runtime_dir(void **state)
{
	char	 buf[PATH_MAX];

	if (geteuid() == 0)
		skip();
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	assert_int_equal(tokq_socket_path(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/run/user/1000/tokq/tokq.sock");
}

static void
test_socket_path_user_without_runtime_dir_fails(void **state)
{
	char	 buf[PATH_MAX];

	if (geteuid() == 0)
		skip();
	errno = 0;
	assert_int_equal(tokq_socket_path(NULL, buf, sizeof(buf)), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_socket_path_too_long_for_buffer_fails(void **state)
{
	char	 buf[8];

	errno = 0;
	assert_int_equal(tokq_socket_path("/a/long/socket/path", buf,
	    sizeof(buf)), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

static void
test_socket_path_exactly_filling_buffer_fits(void **state)
{
	char	 buf[8];

	assert_int_equal(tokq_socket_path("/abcdef", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/abcdef");
}

static void
test_db_path_option_beats_environment(void **state)
{
	char	 buf[PATH_MAX];

	setenv("TOKQ_DB", "/env/db", 1);
	assert_int_equal(tokq_db_path("/opt/db", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/opt/db");
}

static void
test_db_path_env_beats_state_directory(void **state)
{
	char	 buf[PATH_MAX];

	setenv("TOKQ_DB", "/env/db", 1);
	setenv("STATE_DIRECTORY", "/var/lib/tokq", 1);
	assert_int_equal(tokq_db_path(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/env/db");
}

static void
test_db_path_state_directory_first_entry(void **state)
{
	char	 buf[PATH_MAX];

	setenv("STATE_DIRECTORY", "/var/lib/one:/var/lib/two", 1);
	assert_int_equal(tokq_db_path(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/var/lib/one/tokq.db");
}

static void
test_db_path_state_directory_single_entry(void **state)
{
	char	 buf[PATH_MAX];

	setenv("STATE_DIRECTORY", "/var/lib/tokq", 1);
	assert_int_equal(tokq_db_path(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/var/lib/tokq/tokq.db");
}

static void
test_db_path_root_uses_var_lib(void **state)
{
	char	 buf[PATH_MAX];

	if (geteuid() != 0)
		skip();
	setenv("XDG_STATE_HOME", "/home/u/.state", 1);
	assert_int_equal(tokq_db_path(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/var/lib/tokq/tokq.db");
}

static void
test_db_path_user_uses_xdg_state_home(void **state)
{
	char	 buf[PATH_MAX];

	if (geteuid() == 0)
		skip();
	setenv("XDG_STATE_HOME", "/home/u/.state", 1);
	setenv("HOME", "/home/u", 1);
	assert_int_equal(tokq_db_path(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/home/u/.state/tokq/tokq.db");
}

static void
test_db_path_user_falls_back_to_home(void **state)
{
	char	 buf[PATH_MAX];

	if (geteuid() == 0)
		skip();
	setenv("HOME", "/home/u", 1);
	assert_int_equal(tokq_db_path(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/home/u/.local/state/tokq/tokq.db");
}

static void
test_db_path_user_without_home_fails(void **state)
{
	char	 buf[PATH_MAX];

	if (geteuid() == 0)
		skip();
	errno = 0;
	assert_int_equal(tokq_db_path(NULL, buf, sizeof(buf)), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_db_path_too_long_for_buffer_fails(void **state)
{
	char	 buf[16];

	setenv("STATE_DIRECTORY", "/var/lib/tokq", 1);
	errno = 0;
	assert_int_equal(tokq_db_path(NULL, buf, sizeof(buf)), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

/* Ids. */

static void
test_id_accepts_snowflake_and_uuid(void **state)
{
	assert_true(tokq_id_valid("42"));
	assert_true(tokq_id_valid("1234567890123456789"));
	assert_true(tokq_id_valid("3f2504e0-4f89-11d3-9a0c-0305e82c3301"));
	assert_true(tokq_id_valid("gpt-4o mini/2024"));
}

static void
test_id_accepts_128_bytes(void **state)
{
	char	 s[129];

	memset(s, 'a', 128);
	s[128] = '\0';
	assert_true(tokq_id_valid(s));
}

static void
test_id_refuses_129_bytes(void **state)
{
	char	 s[130];

	memset(s, 'a', 129);
	s[129] = '\0';
	assert_false(tokq_id_valid(s));
}

static void
test_id_accepts_multibyte_char_ending_at_byte_128(void **state)
{
	char	 s[129];

	memset(s, 'a', 126);
	memcpy(s + 126, "\xc3\xa9", 3);		/* é */
	assert_int_equal(strlen(s), 128);
	assert_true(tokq_id_valid(s));
}

static void
test_id_refuses_empty_and_null(void **state)
{
	assert_false(tokq_id_valid(""));
	assert_false(tokq_id_valid(NULL));
}

static void
test_id_refuses_c0_controls(void **state)
{
	assert_false(tokq_id_valid("a\nb"));
	assert_false(tokq_id_valid("a\tb"));
	assert_false(tokq_id_valid("\x01"));
	assert_false(tokq_id_valid("a\x1f"));
	assert_false(tokq_id_valid("\x1b[31m"));
}

static void
test_id_refuses_del(void **state)
{
	assert_false(tokq_id_valid("a\x7f"));
}

static void
test_id_refuses_c1_controls(void **state)
{
	assert_false(tokq_id_valid("a\xc2\x85"));	/* U+0085 NEL */
	assert_false(tokq_id_valid("\xc2\x80"));	/* U+0080 */
	assert_false(tokq_id_valid("\xc2\x9f"));	/* U+009F */
}

static void
test_id_accepts_first_char_after_c1(void **state)
{
	assert_true(tokq_id_valid("\xc2\xa0"));		/* U+00A0 */
}

static void
test_id_refuses_overlong_encodings(void **state)
{
	assert_false(tokq_id_valid("\xc0\x80"));	/* NUL */
	assert_false(tokq_id_valid("\xc1\xbf"));
	assert_false(tokq_id_valid("\xe0\x80\xaf"));	/* '/' */
	assert_false(tokq_id_valid("\xe0\x9f\xbf"));
	assert_false(tokq_id_valid("\xf0\x8f\xbf\xbf"));
}

static void
test_id_refuses_surrogates(void **state)
{
	assert_false(tokq_id_valid("\xed\xa0\x80"));	/* U+D800 */
	assert_false(tokq_id_valid("\xed\xbf\xbf"));	/* U+DFFF */
}

static void
test_id_accepts_char_below_surrogates(void **state)
{
	assert_true(tokq_id_valid("\xed\x9f\xbf"));	/* U+D7FF */
}

static void
test_id_refuses_above_u10ffff(void **state)
{
	assert_false(tokq_id_valid("\xf4\x90\x80\x80"));	/* U+110000 */
	assert_false(tokq_id_valid("\xf5\x80\x80\x80"));
	assert_false(tokq_id_valid("\xff"));
}

static void
test_id_accepts_u10ffff(void **state)
{
	assert_true(tokq_id_valid("\xf4\x8f\xbf\xbf"));
}

static void
test_id_refuses_truncated_sequence(void **state)
{
	assert_false(tokq_id_valid("ab\xc3"));
	assert_false(tokq_id_valid("\xe2\x82"));
	assert_false(tokq_id_valid("\xf0\x9f\x98"));
	assert_false(tokq_id_valid("\xe2\x82x"));
}

static void
test_id_refuses_lone_continuation_byte(void **state)
{
	assert_false(tokq_id_valid("\x80"));
	assert_false(tokq_id_valid("a\xbf"));
}

static void
test_id_accepts_emoji_and_cjk(void **state)
{
	assert_true(tokq_id_valid("\xf0\x9f\x98\x80"));		/* 😀 */
	assert_true(tokq_id_valid("user-\xe6\x97\xa5\xe6\x9c\xac"));
}

/* Integers. */

static void
test_u64_accepts_zero_and_int64_max(void **state)
{
	int64_t	 v;

	assert_int_equal(tokq_parse_u64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(tokq_parse_u64("9223372036854775807", &v), 0);
	assert_int_equal(v, INT64_MAX);
}

static void
test_u64_accepts_leading_zeros(void **state)
{
	int64_t	 v;

	assert_int_equal(tokq_parse_u64("007", &v), 0);
	assert_int_equal(v, 7);
}

static void
test_u64_refuses_above_int64_max(void **state)
{
	u64_fails("9223372036854775808", ERANGE);
	u64_fails("18446744073709551616", ERANGE);
	u64_fails("99999999999999999999999999", ERANGE);
}

static void
test_u64_refuses_signs_spaces_and_garbage(void **state)
{
	u64_fails("", EINVAL);
	u64_fails("-1", EINVAL);
	u64_fails("+1", EINVAL);
	u64_fails(" 1", EINVAL);
	u64_fails("1 ", EINVAL);
	u64_fails("1x", EINVAL);
	u64_fails("0x10", EINVAL);
	u64_fails("1e3", EINVAL);
	u64_fails("1.0", EINVAL);
	u64_fails(NULL, EINVAL);
}

static void
test_u64_garbage_beats_overflow(void **state)
{
	u64_fails("99999999999999999999999x", EINVAL);
}

static void
test_limit_accepts_minus_one_as_unlimited(void **state)
{
	int64_t	 v;

	assert_int_equal(tokq_parse_limit("-1", &v), 0);
	assert_int_equal(v, -1);
	assert_int_equal(tokq_parse_limit("500000", &v), 0);
	assert_int_equal(v, 500000);
}

static void
test_limit_refuses_other_negatives(void **state)
{
	int64_t	 v;

	errno = 0;
	assert_int_equal(tokq_parse_limit("-2", &v), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(tokq_parse_limit("-0", &v), -1);
	assert_int_equal(tokq_parse_limit("-1 ", &v), -1);
	assert_int_equal(tokq_parse_limit("--1", &v), -1);
	assert_int_equal(tokq_parse_limit("-10", &v), -1);
}

/* Money. */

static void
test_usd_parses_decimals_exactly(void **state)
{
	usd_is("0.0125", 12500000);
	usd_is("2", 2000000000);
	usd_is("0.15", 150000000);
	usd_is("0.000000001", 1);
	usd_is("0.000000150", 150);
	usd_is("10.5", 10500000000LL);
}

static void
test_usd_accepts_bare_point_forms(void **state)
{
	usd_is(".5", 500000000);
	usd_is("5.", 5000000000LL);
	usd_is("0", 0);
	usd_is("0.0", 0);
}

static void
test_usd_accepts_dollar_sign(void **state)
{
	usd_is("$1.50", 1500000000);
	usd_is("$0", 0);
}

static void
test_usd_minus_one_is_unlimited(void **state)
{
	usd_is("-1", -1);
}

static void
test_usd_refuses_other_negatives(void **state)
{
	usd_fails("-2", EINVAL);
	usd_fails("-0.5", EINVAL);
	usd_fails("-1.0", EINVAL);
	usd_fails("$-1", EINVAL);
}

static void
test_usd_refuses_more_than_nine_fraction_digits(void **state)
{
	usd_fails("0.0000000001", ERANGE);
	usd_fails("0.1250000000", ERANGE);
}

static void
test_usd_refuses_exponents_and_garbage(void **state)
{
	usd_fails("1e3", EINVAL);
	usd_fails("1E-3", EINVAL);
	usd_fails("", EINVAL);
	usd_fails(".", EINVAL);
	usd_fails("$", EINVAL);
	usd_fails("$.", EINVAL);
	usd_fails("1.2.3", EINVAL);
	usd_fails(" 1", EINVAL);
	usd_fails("1 ", EINVAL);
	usd_fails("+1", EINVAL);
	usd_fails("1,5", EINVAL);
	usd_fails("$$1", EINVAL);
	usd_fails("nan", EINVAL);
	usd_fails("inf", EINVAL);
	usd_fails(NULL, EINVAL);
}

static void
test_usd_accepts_int64_max_nano(void **state)
{
	usd_is("9223372036.854775807", INT64_MAX);
}

static void
test_usd_refuses_overflow(void **state)
{
	usd_fails("9223372036.854775808", ERANGE);
	usd_fails("9223372037", ERANGE);
	usd_fails("99999999999999999999999", ERANGE);
}

/*
 * The extremes tokq feeds through every numeric flag (t0120): each one is
 * refused by the parser itself or lands where the client's range check
 * sees it, never wrapped into something small.
 */
static void
test_parsers_refuse_or_keep_int64_extremes(void **state)
{
	int64_t	 v;

	u64_fails("-9223372036854775808", EINVAL);
	u64_fails("1e12", EINVAL);
	assert_int_equal(tokq_parse_u64("1000000000001", &v), 0);
	assert_true(v > TOKQ_TOKENS_MAX);
	assert_int_equal(tokq_parse_limit("-9223372036854775808", &v), -1);
	assert_int_equal(tokq_parse_limit("9223372036854775808", &v), -1);
	assert_int_equal(errno, ERANGE);
	usd_fails("99999999999999999999.5", ERANGE);
	usd_fails("-9223372036854775808", EINVAL);
	usd_fails("9223372036854775807", ERANGE);
	assert_int_equal(tokq_parse_usd("1000000.000000001", &v), 0);
	assert_true(v > TOKQ_COST_MAX);
	assert_int_equal(tokq_parse_usd("1000000000.000000001", &v), 0);
	assert_true(v > TOKQ_LIMIT_COST_MAX);
}

static void
test_fmt_usd_is_exact_with_trailing_zeros_cut(void **state)
{
	assert_string_equal(fmt_usd(150), "0.00000015");
	assert_string_equal(fmt_usd(2000000000), "2");
	assert_string_equal(fmt_usd(12500000), "0.0125");
	assert_string_equal(fmt_usd(0), "0");
	assert_string_equal(fmt_usd(1), "0.000000001");
	assert_string_equal(fmt_usd(1500000000), "1.5");
}

static void
test_fmt_usd_negatives_have_a_minus(void **state)
{
	assert_string_equal(fmt_usd(-1), "-0.000000001");
	assert_string_equal(fmt_usd(-2000000000), "-2");
	assert_string_equal(fmt_usd(-12500000), "-0.0125");
}

static void
test_fmt_usd_handles_int64_extremes(void **state)
{
	assert_string_equal(fmt_usd(INT64_MAX), "9223372036.854775807");
	assert_string_equal(fmt_usd(INT64_MIN), "-9223372036.854775808");
}

static void
test_fmt_usd_cuts_short_in_small_buffer(void **state)
{
	char	 buf[4];

	assert_ptr_equal(tokq_fmt_usd(12500000, buf, sizeof(buf)), buf);
	assert_string_equal(buf, "0.0");
}

static void
test_usd_round_trips_through_fmt(void **state)
{
	static const int64_t	 vals[] = {
		0, 1, 9, 10, 150, 999999999, 1000000000, 1000000001,
		12500000, 150000000, 123456789012345LL, INT64_MAX,
	};
	char		 buf[64];
	int64_t		 v;
	size_t		 i;

	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		tokq_fmt_usd(vals[i], buf, sizeof(buf));
		assert_int_equal(tokq_parse_usd(buf, &v), 0);
		assert_int_equal(v, vals[i]);
	}
}

/* Windows. */

static void
test_window_parses_rolling_units(void **state)
{
	window_is("1m", TOKQ_W_ROLLING, 60);
	window_is("1h", TOKQ_W_ROLLING, 3600);
	window_is("24h", TOKQ_W_ROLLING, 86400);
	window_is("30d", TOKQ_W_ROLLING, 30 * DAY);
	window_is("90m", TOKQ_W_ROLLING, 5400);
}

static void
test_window_parses_calendar_names(void **state)
{
	window_is("day", TOKQ_W_DAY, 0);
	window_is("week", TOKQ_W_WEEK, 0);
	window_is("month", TOKQ_W_MONTH, 0);
}

static void
test_window_accepts_ten_years(void **state)
{
	window_is("3660d", TOKQ_W_ROLLING, TOKQ_WINDOW_MAX_SECS);
	window_is("87840h", TOKQ_W_ROLLING, TOKQ_WINDOW_MAX_SECS);
}

static void
test_window_refuses_longer_than_ten_years(void **state)
{
	window_fails("3661d", ERANGE);
	window_fails("87841h", ERANGE);
	window_fails("99999999999999999999d", ERANGE);
	window_fails("9223372036854775807m", ERANGE);
}

static void
test_window_refuses_zero_length(void **state)
{
	window_fails("0m", EINVAL);
	window_fails("0d", EINVAL);
}

static void
test_window_refuses_bad_syntax(void **state)
{
	window_fails("", EINVAL);
	window_fails("h", EINVAL);
	window_fails("30", EINVAL);
	window_fails("30s", EINVAL);
	window_fails("1w", EINVAL);
	window_fails("1y", EINVAL);
	window_fails("-1d", EINVAL);
	window_fails(" 1d", EINVAL);
	window_fails("1d ", EINVAL);
	window_fails("1dd", EINVAL);
	window_fails("1.5h", EINVAL);
	window_fails("Day", EINVAL);
	window_fails("days", EINVAL);
	window_fails(NULL, EINVAL);
}

static void
test_fmt_window_uses_largest_dividing_unit(void **state)
{
	struct tokq_window	 w = { TOKQ_W_ROLLING, 0 };
	char			 buf[32];

	w.secs = 86400;
	assert_string_equal(tokq_fmt_window(&w, buf, sizeof(buf)), "1d");
	w.secs = 90000;
	assert_string_equal(tokq_fmt_window(&w, buf, sizeof(buf)), "25h");
	w.secs = 5400;
	assert_string_equal(tokq_fmt_window(&w, buf, sizeof(buf)), "90m");
	w.secs = 30 * DAY;
	assert_string_equal(tokq_fmt_window(&w, buf, sizeof(buf)), "30d");
}

static void
test_fmt_window_names_calendar_kinds(void **state)
{
	struct tokq_window	 w = { TOKQ_W_DAY, 0 };
	char			 buf[32];

	assert_string_equal(tokq_fmt_window(&w, buf, sizeof(buf)), "day");
	w.kind = TOKQ_W_WEEK;
	assert_string_equal(tokq_fmt_window(&w, buf, sizeof(buf)), "week");
	w.kind = TOKQ_W_MONTH;
	assert_string_equal(tokq_fmt_window(&w, buf, sizeof(buf)), "month");
}

static void
test_window_round_trips_to_canonical_form(void **state)
{
	static const struct {
		const char	*in, *canon;
	} cases[] = {
		{ "1m", "1m" }, { "60m", "1h" }, { "1440m", "1d" },
		{ "24h", "1d" }, { "25h", "25h" }, { "30d", "30d" },
		{ "90m", "90m" }, { "3660d", "3660d" }, { "day", "day" },
		{ "week", "week" }, { "month", "month" }, { "007h", "7h" },
	};
	struct tokq_window	 w, w2;
	char			 buf[32];
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(tokq_parse_window(cases[i].in, &w), 0);
		tokq_fmt_window(&w, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].canon);
		assert_int_equal(tokq_parse_window(buf, &w2), 0);
		assert_int_equal(w2.kind, w.kind);
		if (w.kind == TOKQ_W_ROLLING)
			assert_int_equal(w2.secs, w.secs);
	}
}

/* Durations. */

static void
test_duration_parses_every_unit(void **state)
{
	duration_is("90", 90);
	duration_is("90s", 90);
	duration_is("15m", 900);
	duration_is("2h", 7200);
	duration_is("3d", 3 * DAY);
}

static void
test_duration_accepts_zero(void **state)
{
	duration_is("0", 0);
	duration_is("0d", 0);
}

static void
test_duration_refuses_bad_syntax(void **state)
{
	duration_fails("", EINVAL);
	duration_fails("s", EINVAL);
	duration_fails("-1", EINVAL);
	duration_fails("+1", EINVAL);
	duration_fails("1w", EINVAL);
	duration_fails("1h ", EINVAL);
	duration_fails("1hm", EINVAL);
	duration_fails("1.5h", EINVAL);
	duration_fails(NULL, EINVAL);
}

static void
test_duration_refuses_overflow(void **state)
{
	duration_is("9223372036854775807s", INT64_MAX);
	duration_is("106751991167300d", 106751991167300LL * DAY);
	duration_fails("106751991167301d", ERANGE);
	duration_fails("9223372036854775807m", ERANGE);
	duration_fails("9223372036854775808", ERANGE);
}

/* Times. */

static void
test_time_parses_iso_utc(void **state)
{
	time_is("2026-12-01T00:00:00Z", T_2026_12_01);
	time_is("2026-12-01T13:45:30Z", T_2026_12_01 + 13 * 3600 + 45 * 60 + 30);
}

static void
test_time_date_only_is_midnight_utc(void **state)
{
	time_is("2026-12-01", T_2026_12_01);
}

static void
test_time_accepts_minutes_without_seconds(void **state)
{
	time_is("2026-12-01T10:30Z", T_2026_12_01 + 10 * 3600 + 30 * 60);
}

static void
test_time_accepts_space_and_lowercase_separators(void **state)
{
	time_is("2026-12-01 10:00:00Z", T_2026_12_01 + 10 * 3600);
	time_is("2026-12-01t10:00:00z", T_2026_12_01 + 10 * 3600);
}

static void
test_time_ignores_fractional_seconds(void **state)
{
	time_is("2026-12-01T00:00:01.999Z", T_2026_12_01 + 1);
	time_is("2026-12-01T00:00:01,5Z", T_2026_12_01 + 1);
	time_is("2026-12-01T00:00:01.123456789", T_2026_12_01 + 1);
}

static void
test_time_without_zone_is_utc(void **state)
{
	time_is("2026-12-01T00:00:00", T_2026_12_01);
}

static void
test_time_applies_offsets(void **state)
{
	time_is("2026-12-01T00:00:00+00:00", T_2026_12_01);
	time_is("2026-12-01T02:00:00+02:00", T_2026_12_01);
	time_is("2026-11-30T18:30:00-05:30", T_2026_12_01);
	time_is("2026-12-01T02:00:00+0200", T_2026_12_01);
	time_is("2026-12-01T00:00:00-00:00", T_2026_12_01);
}

static void
test_time_accepts_unix_seconds(void **state)
{
	time_is("@0", 0);
	time_is("@1796083200", T_2026_12_01);
}

static void
test_time_accepts_leap_days(void **state)
{
	time_is("2028-02-29", T_2028_02_29);
	time_is("2000-02-29", T_2000_02_29);
}

static void
test_time_refuses_feb_29_outside_leap_years(void **state)
{
	time_fails("2027-02-29", EINVAL);
	time_fails("1900-02-29", EINVAL);
	time_fails("2100-02-29T00:00:00Z", EINVAL);
}

static void
test_time_refuses_out_of_range_fields(void **state)
{
	time_fails("2026-00-01", EINVAL);
	time_fails("2026-13-01", EINVAL);
	time_fails("2026-01-00", EINVAL);
	time_fails("2026-01-32", EINVAL);
	time_fails("2026-04-31", EINVAL);
	time_fails("2026-12-01T24:00:00Z", EINVAL);
	time_fails("2026-12-01T23:60:00Z", EINVAL);
	time_fails("2026-12-01T23:59:60Z", EINVAL);
	time_fails("2026-12-01T00:00:00+24:00", EINVAL);
	time_fails("2026-12-01T00:00:00+01:60", EINVAL);
}

static void
test_time_refuses_malformed_text(void **state)
{
	time_fails("", EINVAL);
	time_fails("2026", EINVAL);
	time_fails("2026-1-01", EINVAL);
	time_fails("2026-12-1", EINVAL);
	time_fails("26-12-01", EINVAL);
	time_fails("2026/12/01", EINVAL);
	time_fails("2026-12-01T", EINVAL);
	time_fails("2026-12-01Z", EINVAL);
	time_fails("2026-12-01T10Z", EINVAL);
	time_fails("2026-12-01T10:00:00.Z", EINVAL);
	time_fails("2026-12-01T10:00:00ZZ", EINVAL);
	time_fails("2026-12-01T10:00:00+1", EINVAL);
	time_fails("2026-12-01T10:00:00 ", EINVAL);
	time_fails(" 2026-12-01", EINVAL);
	time_fails("yesterday", EINVAL);
	time_fails(NULL, EINVAL);
}

static void
test_time_refuses_bad_unix_seconds(void **state)
{
	time_fails("@", EINVAL);
	time_fails("@-1", EINVAL);
	time_fails("@12x", EINVAL);
	time_fails("@99999999999999999999", ERANGE);
	time_fails("@253402300800", ERANGE);
}

static void
test_time_accepts_year_9999_end(void **state)
{
	time_is("9999-12-31T23:59:59Z", 253402300799LL);
	time_is("@253402300799", 253402300799LL);
}

static void
test_fmt_time_is_iso_utc(void **state)
{
	assert_string_equal(fmt_time(0), "1970-01-01T00:00:00Z");
	assert_string_equal(fmt_time(T_2026_12_01), "2026-12-01T00:00:00Z");
	assert_string_equal(fmt_time(T_2028_02_29 + 86399),
	    "2028-02-29T23:59:59Z");
}

static void
test_fmt_time_handles_negative_times(void **state)
{
	assert_string_equal(fmt_time(-1), "1969-12-31T23:59:59Z");
	assert_string_equal(fmt_time(-86400), "1969-12-31T00:00:00Z");
}

static void
test_fmt_time_survives_int64_extremes(void **state)
{
	char	 buf[64];

	tokq_fmt_time(INT64_MIN, buf, sizeof(buf));
	assert_true(strlen(buf) > 0);
	tokq_fmt_time(INT64_MAX, buf, sizeof(buf));
	assert_true(strlen(buf) > 0);
}

static void
test_fmt_time_agrees_with_gmtime(void **state)
{
	char		 want[64];
	struct tm	 tm;
	time_t		 tt;
	int64_t		 t;

	for (t = -2208988800LL; t < 4102444800LL; t += 7776013) {
		tt = (time_t)t;
		gmtime_r(&tt, &tm);
		strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm);
		assert_string_equal(fmt_time(t), want);
	}
}

static void
test_time_round_trips_through_fmt(void **state)
{
	int64_t	 t, v;

	for (t = -62167219200LL; t <= 253402300799LL; t += 999999937) {
		assert_int_equal(tokq_parse_time(fmt_time(t), &v), 0);
		assert_int_equal(v, t);
	}
	assert_int_equal(tokq_parse_time(fmt_time(253402300799LL), &v), 0);
	assert_int_equal(v, 253402300799LL);
}

/* Calendar periods. */

static void
test_period_day_midday_belongs_to_its_day(void **state)
{
	int64_t	 t = T_2026_12_01 + 12 * 3600;

	assert_int_equal(tokq_period_start(TOKQ_W_DAY, t), T_2026_12_01);
	assert_int_equal(tokq_period_next(TOKQ_W_DAY, t), T_2026_12_01 + DAY);
}

static void
test_period_day_last_second_belongs_to_old_day(void **state)
{
	int64_t	 t = T_2026_12_01 + DAY - 1;

	assert_int_equal(tokq_period_start(TOKQ_W_DAY, t), T_2026_12_01);
	assert_int_equal(tokq_period_next(TOKQ_W_DAY, t), T_2026_12_01 + DAY);
}

static void
test_period_day_midnight_belongs_to_new_day(void **state)
{
	int64_t	 t = T_2026_12_01 + DAY;

	assert_int_equal(tokq_period_start(TOKQ_W_DAY, t), t);
	assert_int_equal(tokq_period_next(TOKQ_W_DAY, t), t + DAY);
}

static void
test_period_week_sunday_last_second_is_previous_week(void **state)
{
	int64_t	 t = T_2026_03_01 + DAY - 1;	/* Sunday 23:59:59 */

	assert_int_equal(tokq_period_start(TOKQ_W_WEEK, t), T_2026_02_23);
	assert_int_equal(tokq_period_next(TOKQ_W_WEEK, t), T_2026_03_02);
}

static void
test_period_week_monday_midnight_starts_new_week(void **state)
{
	int64_t	 t = T_2026_03_02;

	assert_int_equal(tokq_period_start(TOKQ_W_WEEK, t), T_2026_03_02);
	assert_int_equal(tokq_period_next(TOKQ_W_WEEK, t), T_2026_03_09);
}

static void
test_period_week_of_epoch_starts_monday_before(void **state)
{
	/* 1970-01-01 was a Thursday; its week began Monday 1969-12-29. */
	assert_int_equal(tokq_period_start(TOKQ_W_WEEK, 0), -259200);
	assert_int_equal(tokq_period_next(TOKQ_W_WEEK, 0), -259200 + 7 * DAY);
}

/* A minute or an hour holds its first second, not the one after its last. */
static void
test_floor_to_minute_and_hour(void **state)
{
	assert_int_equal(tokq_floor(T_2026_12_01 + 3599, 3600), T_2026_12_01);
	assert_int_equal(tokq_floor(T_2026_12_01 + 3600, 3600), T_2026_12_01 + 3600);
	assert_int_equal(tokq_floor(T_2026_12_01 + 61, 60), T_2026_12_01 + 60);
	/* Before 1970 too: -1 is 23:59:59 of 1969-12-31. */
	assert_int_equal(tokq_floor(-1, 3600), -3600);
	assert_int_equal(tokq_floor(-3600, 3600), -3600);
}

static void
test_period_month_dec_31_rolls_to_january(void **state)
{
	int64_t	 t = T_2026_12_31 + DAY - 1;

	assert_int_equal(tokq_period_start(TOKQ_W_MONTH, t), T_2026_12_01);
	assert_int_equal(tokq_period_next(TOKQ_W_MONTH, t), T_2027_01_01);
}

static void
test_period_month_jan_1_midnight_starts_new_month(void **state)
{
	assert_int_equal(tokq_period_start(TOKQ_W_MONTH, T_2027_01_01),
	    T_2027_01_01);
	assert_int_equal(tokq_period_start(TOKQ_W_MONTH, T_2027_01_01 - 1),
	    T_2026_12_01);
}

static void
test_period_month_february_of_leap_year_has_29_days(void **state)
{
	int64_t	 t = T_2028_02_29 + DAY - 1;

	assert_int_equal(tokq_period_start(TOKQ_W_MONTH, t), T_2028_02_01);
	assert_int_equal(tokq_period_next(TOKQ_W_MONTH, t), T_2028_03_01);
	assert_int_equal(tokq_period_start(TOKQ_W_MONTH, T_2028_03_01),
	    T_2028_03_01);
}

static void
test_period_month_february_of_common_year_has_28_days(void **state)
{
	int64_t	 t = T_2027_03_01 - 1;		/* 2027-02-28T23:59:59Z */

	assert_int_equal(tokq_period_next(TOKQ_W_MONTH, t), T_2027_03_01);
	assert_int_equal(tokq_period_start(TOKQ_W_MONTH, T_2027_03_01),
	    T_2027_03_01);
}

static void
test_period_handles_negative_times(void **state)
{
	int64_t	 t = -DAY / 2;			/* 1969-12-31T12:00:00Z */

	assert_int_equal(tokq_period_start(TOKQ_W_DAY, t), -DAY);
	assert_int_equal(tokq_period_next(TOKQ_W_DAY, t), 0);
	assert_int_equal(tokq_period_start(TOKQ_W_MONTH, t), -2678400);
	assert_int_equal(tokq_period_next(TOKQ_W_MONTH, t), 0);
	assert_int_equal(tokq_period_start(TOKQ_W_DAY, -DAY), -DAY);
}

static void
test_period_rolling_returns_t(void **state)
{
	assert_int_equal(tokq_period_start(TOKQ_W_ROLLING, 12345), 12345);
	assert_int_equal(tokq_period_next(TOKQ_W_ROLLING, 12345), 12345);
}

static void
test_period_start_and_next_bracket_t(void **state)
{
	static const enum tokq_wkind kinds[] = {
		TOKQ_W_DAY, TOKQ_W_WEEK, TOKQ_W_MONTH,
	};
	int64_t		 t, s, n;
	size_t		 k;

	for (k = 0; k < 3; k++)
		for (t = -4000000000LL; t < 4200000000LL; t += 1234567) {
			s = tokq_period_start(kinds[k], t);
			n = tokq_period_next(kinds[k], t);
			assert_true(s <= t && t < n);
			assert_int_equal(tokq_period_start(kinds[k], s), s);
			assert_int_equal(tokq_period_start(kinds[k], n), n);
			assert_int_equal(tokq_period_next(kinds[k], n - 1), n);
		}
}

static void
test_period_month_start_agrees_with_gmtime(void **state)
{
	struct tm	 tm;
	time_t		 tt;
	int64_t		 t, s;

	for (t = -2208988800LL; t < 4102444800LL; t += 86399 * 7 + 13) {
		s = tokq_period_start(TOKQ_W_MONTH, t);
		tt = (time_t)s;
		gmtime_r(&tt, &tm);
		assert_int_equal(tm.tm_mday, 1);
		assert_int_equal(tm.tm_hour + tm.tm_min + tm.tm_sec, 0);
		tt = (time_t)t;
		gmtime_r(&tt, &tm);
		assert_true(t - s < 31 * DAY);
		assert_int_equal((t - s) / DAY, tm.tm_mday - 1);
	}
}

static void
test_period_week_start_is_monday(void **state)
{
	struct tm	 tm;
	time_t		 tt;
	int64_t		 t;

	for (t = -2208988800LL; t < 4102444800LL; t += 86399 * 3 + 7) {
		tt = (time_t)tokq_period_start(TOKQ_W_WEEK, t);
		gmtime_r(&tt, &tm);
		assert_int_equal(tm.tm_wday, 1);
		assert_int_equal(tm.tm_hour + tm.tm_min + tm.tm_sec, 0);
	}
}

static void
test_period_survives_int64_extremes(void **state)
{
	static const enum tokq_wkind kinds[] = {
		TOKQ_W_DAY, TOKQ_W_WEEK, TOKQ_W_MONTH,
	};
	size_t	 k;

	for (k = 0; k < 3; k++) {
		assert_true(tokq_period_start(kinds[k], INT64_MIN) == INT64_MIN);
		assert_true(tokq_period_next(kinds[k], INT64_MIN) > INT64_MIN);
		assert_true(tokq_period_start(kinds[k], INT64_MAX) < INT64_MAX);
		assert_true(tokq_period_next(kinds[k], INT64_MAX) == INT64_MAX);
	}
}

/* Frames. */

static void
test_frame_accepts_check_request(void **state)
{
	/* {"v":1,"op":"check","user":"42"} */
	FRAME_OK(0x83, 0xa1, 'v', 0x01, 0xa2, 'o', 'p',
	    0xa5, 'c', 'h', 'e', 'c', 'k', 0xa4, 'u', 's', 'e', 'r',
	    0xa2, '4', '2');
}

static void
test_frame_accepts_empty_map(void **state)
{
	FRAME_OK(0x80);
	FRAME_OK(0xde, 0x00, 0x00);
	FRAME_OK(0xdf, 0x00, 0x00, 0x00, 0x00);
}

static void
test_frame_accepts_map16_and_map32_at_top(void **state)
{
	FRAME_OK(0xde, 0x00, 0x01, 0xa1, 'a', 0x01);
	FRAME_OK(0xdf, 0x00, 0x00, 0x00, 0x01, 0xa1, 'a', 0xc0);
}

static void
test_frame_accepts_every_scalar_format(void **state)
{
	FRAME_OK(0xde, 0x00, 0x1a,
	    0x00, 0x7f,					/* positive fixint */
	    0x01, 0xe0,					/* negative fixint */
	    0x02, 0xc0,					/* nil */
	    0x03, 0xc2,					/* false */
	    0x04, 0xc3,					/* true */
	    0x05, 0xc4, 0x01, 0xff,			/* bin8 */
	    0x06, 0xc5, 0x00, 0x01, 0xff,		/* bin16 */
	    0x07, 0xc6, 0x00, 0x00, 0x00, 0x01, 0xff,	/* bin32 */
	    0x08, 0xc7, 0x01, 0x05, 0xff,		/* ext8 */
	    0x09, 0xc8, 0x00, 0x01, 0x05, 0xff,		/* ext16 */
	    0x0a, 0xc9, 0x00, 0x00, 0x00, 0x01, 0x05, 0xff, /* ext32 */
	    0x0b, 0xca, 0x3f, 0x80, 0x00, 0x00,		/* float32 1.0 */
	    0x0c, 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0,	/* float64 1.0 */
	    0x0d, 0xcc, 0xff,				/* uint8 */
	    0x0e, 0xcd, 0xff, 0xff,			/* uint16 */
	    0x0f, 0xce, 0xff, 0xff, 0xff, 0xff,		/* uint32 */
	    0x10, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0x11, 0xd0, 0x80,				/* int8 */
	    0x12, 0xd1, 0x80, 0x00,			/* int16 */
	    0x13, 0xd2, 0x80, 0x00, 0x00, 0x00,		/* int32 */
	    0x14, 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0,	/* int64 */
	    0x15, 0xd4, 0x01, 0xaa,			/* fixext1 */
	    0x16, 0xd5, 0x01, 0xaa, 0xbb,		/* fixext2 */
	    0x17, 0xd6, 0x01, 1, 2, 3, 4,		/* fixext4 */
	    0x18, 0xd7, 0x01, 1, 2, 3, 4, 5, 6, 7, 8,	/* fixext8 */
	    0x19, 0xd8, 0x01, 1, 2, 3, 4, 5, 6, 7, 8,	/* fixext16 */
	    9, 10, 11, 12, 13, 14, 15, 16);
}

static void
test_frame_accepts_every_string_format(void **state)
{
	FRAME_OK(0x84,
	    0xa0, 0xa1, 'x',				/* fixstr */
	    0xd9, 0x01, 'a', 0xd9, 0x00,		/* str8 */
	    0xda, 0x00, 0x01, 'b', 0xda, 0x00, 0x00,	/* str16 */
	    0xdb, 0x00, 0x00, 0x00, 0x01, 'c', 0xc0);	/* str32 */
}

static void
test_frame_accepts_every_container_format(void **state)
{
	FRAME_OK(0x84,
	    0x01, 0x92, 0x01, 0x02,			/* fixarray */
	    0x02, 0xdc, 0x00, 0x01, 0x90,		/* array16 */
	    0x03, 0xdd, 0x00, 0x00, 0x00, 0x01, 0x80,	/* array32 */
	    0x04, 0x81, 0xa1, 'k', 0xde, 0x00, 0x00);	/* fixmap, map16 */
}

static void
test_frame_accepts_empty_ext32(void **state)
{
	FRAME_OK(0x81, 0xa1, 'e', 0xc9, 0x00, 0x00, 0x00, 0x00, 0x01);
}

static void
test_frame_accepts_nesting_at_the_cap(void **state)
{
	/* The top map, then 15 arrays: 16 levels. */
	FRAME_OK(0x81, 0xa1, 'a',
	    0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91,
	    0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x90);
}

static void
test_frame_refuses_nesting_over_the_cap(void **state)
{
	/* The top map, then 16 arrays: 17 levels. */
	FRAME_BAD(0x81, 0xa1, 'a',
	    0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91,
	    0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x01);
}

static void
test_frame_refuses_empty_container_over_the_cap(void **state)
{
	FRAME_BAD(0x81, 0xa1, 'a',
	    0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91,
	    0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x90);
}

static void
test_frame_refuses_deep_nesting_after_siblings(void **state)
{
	/* Depth is counted per path, not reset by siblings closing. */
	FRAME_OK(0x82, 0x01, 0x91, 0x91, 0x90, 0x02, 0x90);
	FRAME_BAD(0x81, 0x01,
	    0x92, 0x90,
	    0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91,
	    0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x90);
}

static void
test_frame_refuses_array32_claiming_4g_items(void **state)
{
	FRAME_BAD(0x81, 0xa1, 'a', 0xdd, 0xff, 0xff, 0xff, 0xff);
}

static void
test_frame_refuses_map32_claiming_4g_entries(void **state)
{
	FRAME_BAD(0xdf, 0xff, 0xff, 0xff, 0xff);
	FRAME_BAD(0x81, 0xa1, 'a', 0xdf, 0x7f, 0xff, 0xff, 0xff, 0x01, 0x01);
}

static void
test_frame_refuses_array_claiming_more_items_than_bytes(void **state)
{
	FRAME_BAD(0x81, 0xa1, 'a', 0x93, 0x01, 0x02);
	FRAME_BAD(0x81, 0xa1, 'a', 0xdc, 0x00, 0x03, 0x01, 0x02);
}

static void
test_frame_refuses_map_entries_that_need_twice_the_bytes(void **state)
{
	/* Two entries are four items; three bytes remain. */
	FRAME_BAD(0x82, 0xa1, 'a', 0x01);
	FRAME_BAD(0x8f);
}

static void
test_frame_refuses_truncated_str(void **state)
{
	FRAME_BAD(0x81, 0xa1, 'a', 0xa5, 'a', 'b');
	FRAME_BAD(0x81, 0xa1, 'a', 0xd9, 0x03, 'a');
	FRAME_BAD(0x81, 0xa1, 'a', 0xdb, 0xff, 0xff, 0xff, 0xff, 'a');
}

static void
test_frame_refuses_truncated_length_field(void **state)
{
	FRAME_BAD(0x81, 0xa1, 'a', 0xda, 0x00);
	FRAME_BAD(0x81, 0xa1, 'a', 0xdd, 0x00, 0x00);
	FRAME_BAD(0xde, 0x00);
}

static void
test_frame_refuses_truncated_numbers(void **state)
{
	FRAME_BAD(0x81, 0xa1, 'a', 0xcd, 0x00);
	FRAME_BAD(0x81, 0xa1, 'a', 0xcb, 0x00, 0x00, 0x00);
	FRAME_BAD(0x81, 0xa1, 'a', 0xd3);
}

static void
test_frame_refuses_truncated_bin_and_ext(void **state)
{
	FRAME_BAD(0x81, 0xa1, 'a', 0xc4, 0x02, 0x00);
	FRAME_BAD(0x81, 0xa1, 'a', 0xc7, 0x01, 0x05);
	FRAME_BAD(0x81, 0xa1, 'a', 0xc9, 0x00, 0x00, 0x00, 0x00);
	FRAME_BAD(0x81, 0xa1, 'a', 0xd8, 0x01, 1, 2, 3);
}

static void
test_frame_refuses_ext32_of_4g_bytes(void **state)
{
	FRAME_BAD(0x81, 0xa1, 'a', 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01);
	FRAME_BAD(0x81, 0xa1, 'a', 0xc6, 0xff, 0xff, 0xff, 0xff);
}

static void
test_frame_refuses_missing_value(void **state)
{
	FRAME_BAD(0x81, 0xa1, 'a');
}

static void
test_frame_refuses_trailing_bytes(void **state)
{
	FRAME_BAD(0x80, 0x00);
	FRAME_BAD(0x80, 0x80);
	FRAME_BAD(0x81, 0xa1, 'a', 0x01, 0xc0);
}

static void
test_frame_refuses_non_map_top_level(void **state)
{
	FRAME_BAD(0x90);
	FRAME_BAD(0x91, 0x80);
	FRAME_BAD(0xa1, 'a');
	FRAME_BAD(0x01);
	FRAME_BAD(0xc0);
	FRAME_BAD(0xdc, 0x00, 0x00);
}

static void
test_frame_refuses_c1_anywhere(void **state)
{
	FRAME_BAD(0xc1);
	FRAME_BAD(0x81, 0xa1, 'a', 0xc1);
	FRAME_BAD(0x81, 0xc1, 0x01);
	FRAME_BAD(0x81, 0xa1, 'a', 0x91, 0xc1);
}

static void
test_frame_refuses_empty_buffer(void **state)
{
	assert_int_equal(tokq_frame_check("", 0), -1);
	assert_int_equal(tokq_frame_check(NULL, 0), -1);
}

static void
test_frame_refuses_every_truncation_of_a_valid_frame(void **state)
{
	static const unsigned char b[] = {
		0x83, 0xa1, 'v', 0x01, 0xa2, 'o', 'p',
		0xa5, 'c', 'h', 'e', 'c', 'k', 0xa6, 't', 'o', 'k', 'e', 'n',
		's', 0xcd, 0x04, 0xb0,
	};
	size_t	 n;

	assert_int_equal(tokq_frame_check((const char *)b, sizeof(b)), 0);
	for (n = 0; n < sizeof(b); n++)
		assert_int_equal(tokq_frame_check((const char *)b, n), -1);
}

static void
test_frame_hdr_is_big_endian(void **state)
{
	unsigned char	 h[TOKQ_FRAME_HDR];

	tokq_frame_hdr(h, 0x01020304);
	assert_int_equal(h[0], 0x01);
	assert_int_equal(h[1], 0x02);
	assert_int_equal(h[2], 0x03);
	assert_int_equal(h[3], 0x04);
}

static void
test_frame_len_reads_big_endian(void **state)
{
	static const unsigned char	 h1[] = { 0x00, 0x00, 0x00, 0x2b };
	static const unsigned char	 h2[] = { 0xff, 0xff, 0xff, 0xff };
	static const unsigned char	 h3[] = { 0x00, 0x10, 0x00, 0x00 };

	assert_int_equal(tokq_frame_len(h1), 43);
	assert_int_equal(tokq_frame_len(h2), 0xffffffffU);
	assert_int_equal(tokq_frame_len(h3), TOKQ_FRAME_MAX);
}

static void
test_frame_hdr_round_trips(void **state)
{
	static const uint32_t	 vals[] = { 0, 1, 255, 256, 65536,
	    TOKQ_FRAME_MAX, 0x80000000U, 0xffffffffU };
	unsigned char		 h[TOKQ_FRAME_HDR];
	size_t			 i;

	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		tokq_frame_hdr(h, vals[i]);
		assert_int_equal(tokq_frame_len(h), vals[i]);
	}
}

#define PATH_TEST(f)	cmocka_unit_test_setup_teardown(f, paths_setup, \
			    paths_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_code_exit_maps_every_code_to_its_sysexit),
		cmocka_unit_test(test_code_exit_unknown_code_is_internal_error),
		cmocka_unit_test(test_code_name_gives_short_phrases),
		cmocka_unit_test(test_code_name_unknown_code_is_not_null),

		PATH_TEST(test_socket_path_option_beats_environment),
		PATH_TEST(test_socket_path_env_beats_defaults),
		PATH_TEST(test_socket_path_empty_env_is_ignored),
		PATH_TEST(test_socket_path_root_uses_run_tokq),
		PATH_TEST(test_socket_path_user_uses_xdg_runtime_dir),
		PATH_TEST(test_socket_path_user_without_runtime_dir_fails),
		PATH_TEST(test_socket_path_too_long_for_buffer_fails),
		PATH_TEST(test_socket_path_exactly_filling_buffer_fits),
		PATH_TEST(test_db_path_option_beats_environment),
		PATH_TEST(test_db_path_env_beats_state_directory),
		PATH_TEST(test_db_path_state_directory_first_entry),
		PATH_TEST(test_db_path_state_directory_single_entry),
		PATH_TEST(test_db_path_root_uses_var_lib),
		PATH_TEST(test_db_path_user_uses_xdg_state_home),
		PATH_TEST(test_db_path_user_falls_back_to_home),
		PATH_TEST(test_db_path_user_without_home_fails),
		PATH_TEST(test_db_path_too_long_for_buffer_fails),

		cmocka_unit_test(test_id_accepts_snowflake_and_uuid),
		cmocka_unit_test(test_id_accepts_128_bytes),
		cmocka_unit_test(test_id_refuses_129_bytes),
		cmocka_unit_test(test_id_accepts_multibyte_char_ending_at_byte_128),
		cmocka_unit_test(test_id_refuses_empty_and_null),
		cmocka_unit_test(test_id_refuses_c0_controls),
		cmocka_unit_test(test_id_refuses_del),
		cmocka_unit_test(test_id_refuses_c1_controls),
		cmocka_unit_test(test_id_accepts_first_char_after_c1),
		cmocka_unit_test(test_id_refuses_overlong_encodings),
		cmocka_unit_test(test_id_refuses_surrogates),
		cmocka_unit_test(test_id_accepts_char_below_surrogates),
		cmocka_unit_test(test_id_refuses_above_u10ffff),
		cmocka_unit_test(test_id_accepts_u10ffff),
		cmocka_unit_test(test_id_refuses_truncated_sequence),
		cmocka_unit_test(test_id_refuses_lone_continuation_byte),
		cmocka_unit_test(test_id_accepts_emoji_and_cjk),

		cmocka_unit_test(test_u64_accepts_zero_and_int64_max),
		cmocka_unit_test(test_u64_accepts_leading_zeros),
		cmocka_unit_test(test_u64_refuses_above_int64_max),
		cmocka_unit_test(test_u64_refuses_signs_spaces_and_garbage),
		cmocka_unit_test(test_u64_garbage_beats_overflow),
		cmocka_unit_test(test_limit_accepts_minus_one_as_unlimited),
		cmocka_unit_test(test_limit_refuses_other_negatives),

		cmocka_unit_test(test_usd_parses_decimals_exactly),
		cmocka_unit_test(test_usd_accepts_bare_point_forms),
		cmocka_unit_test(test_usd_accepts_dollar_sign),
		cmocka_unit_test(test_usd_minus_one_is_unlimited),
		cmocka_unit_test(test_usd_refuses_other_negatives),
		cmocka_unit_test(test_usd_refuses_more_than_nine_fraction_digits),
		cmocka_unit_test(test_usd_refuses_exponents_and_garbage),
		cmocka_unit_test(test_parsers_refuse_or_keep_int64_extremes),
		cmocka_unit_test(test_usd_accepts_int64_max_nano),
		cmocka_unit_test(test_usd_refuses_overflow),
		cmocka_unit_test(test_fmt_usd_is_exact_with_trailing_zeros_cut),
		cmocka_unit_test(test_fmt_usd_negatives_have_a_minus),
		cmocka_unit_test(test_fmt_usd_handles_int64_extremes),
		cmocka_unit_test(test_fmt_usd_cuts_short_in_small_buffer),
		cmocka_unit_test(test_usd_round_trips_through_fmt),

		cmocka_unit_test(test_window_parses_rolling_units),
		cmocka_unit_test(test_window_parses_calendar_names),
		cmocka_unit_test(test_window_accepts_ten_years),
		cmocka_unit_test(test_window_refuses_longer_than_ten_years),
		cmocka_unit_test(test_window_refuses_zero_length),
		cmocka_unit_test(test_window_refuses_bad_syntax),
		cmocka_unit_test(test_fmt_window_uses_largest_dividing_unit),
		cmocka_unit_test(test_fmt_window_names_calendar_kinds),
		cmocka_unit_test(test_window_round_trips_to_canonical_form),

		cmocka_unit_test(test_duration_parses_every_unit),
		cmocka_unit_test(test_duration_accepts_zero),
		cmocka_unit_test(test_duration_refuses_bad_syntax),
		cmocka_unit_test(test_duration_refuses_overflow),

		cmocka_unit_test(test_time_parses_iso_utc),
		cmocka_unit_test(test_time_date_only_is_midnight_utc),
		cmocka_unit_test(test_time_accepts_minutes_without_seconds),
		cmocka_unit_test(test_time_accepts_space_and_lowercase_separators),
		cmocka_unit_test(test_time_ignores_fractional_seconds),
		cmocka_unit_test(test_time_without_zone_is_utc),
		cmocka_unit_test(test_time_applies_offsets),
		cmocka_unit_test(test_time_accepts_unix_seconds),
		cmocka_unit_test(test_time_accepts_leap_days),
		cmocka_unit_test(test_time_refuses_feb_29_outside_leap_years),
		cmocka_unit_test(test_time_refuses_out_of_range_fields),
		cmocka_unit_test(test_time_refuses_malformed_text),
		cmocka_unit_test(test_time_refuses_bad_unix_seconds),
		cmocka_unit_test(test_time_accepts_year_9999_end),
		cmocka_unit_test(test_fmt_time_is_iso_utc),
		cmocka_unit_test(test_fmt_time_handles_negative_times),
		cmocka_unit_test(test_fmt_time_survives_int64_extremes),
		cmocka_unit_test(test_fmt_time_agrees_with_gmtime),
		cmocka_unit_test(test_time_round_trips_through_fmt),

		cmocka_unit_test(test_period_day_midday_belongs_to_its_day),
		cmocka_unit_test(test_period_day_last_second_belongs_to_old_day),
		cmocka_unit_test(test_period_day_midnight_belongs_to_new_day),
		cmocka_unit_test(test_period_week_sunday_last_second_is_previous_week),
		cmocka_unit_test(test_period_week_monday_midnight_starts_new_week),
		cmocka_unit_test(test_period_week_of_epoch_starts_monday_before),
		cmocka_unit_test(test_floor_to_minute_and_hour),
		cmocka_unit_test(test_period_month_dec_31_rolls_to_january),
		cmocka_unit_test(test_period_month_jan_1_midnight_starts_new_month),
		cmocka_unit_test(test_period_month_february_of_leap_year_has_29_days),
		cmocka_unit_test(test_period_month_february_of_common_year_has_28_days),
		cmocka_unit_test(test_period_handles_negative_times),
		cmocka_unit_test(test_period_rolling_returns_t),
		cmocka_unit_test(test_period_start_and_next_bracket_t),
		cmocka_unit_test(test_period_month_start_agrees_with_gmtime),
		cmocka_unit_test(test_period_week_start_is_monday),
		cmocka_unit_test(test_period_survives_int64_extremes),

		cmocka_unit_test(test_frame_accepts_check_request),
		cmocka_unit_test(test_frame_accepts_empty_map),
		cmocka_unit_test(test_frame_accepts_map16_and_map32_at_top),
		cmocka_unit_test(test_frame_accepts_every_scalar_format),
		cmocka_unit_test(test_frame_accepts_every_string_format),
		cmocka_unit_test(test_frame_accepts_every_container_format),
		cmocka_unit_test(test_frame_accepts_empty_ext32),
		cmocka_unit_test(test_frame_accepts_nesting_at_the_cap),
		cmocka_unit_test(test_frame_refuses_nesting_over_the_cap),
		cmocka_unit_test(test_frame_refuses_empty_container_over_the_cap),
		cmocka_unit_test(test_frame_refuses_deep_nesting_after_siblings),
		cmocka_unit_test(test_frame_refuses_array32_claiming_4g_items),
		cmocka_unit_test(test_frame_refuses_map32_claiming_4g_entries),
		cmocka_unit_test(test_frame_refuses_array_claiming_more_items_than_bytes),
		cmocka_unit_test(test_frame_refuses_map_entries_that_need_twice_the_bytes),
		cmocka_unit_test(test_frame_refuses_truncated_str),
		cmocka_unit_test(test_frame_refuses_truncated_length_field),
		cmocka_unit_test(test_frame_refuses_truncated_numbers),
		cmocka_unit_test(test_frame_refuses_truncated_bin_and_ext),
		cmocka_unit_test(test_frame_refuses_ext32_of_4g_bytes),
		cmocka_unit_test(test_frame_refuses_missing_value),
		cmocka_unit_test(test_frame_refuses_trailing_bytes),
		cmocka_unit_test(test_frame_refuses_non_map_top_level),
		cmocka_unit_test(test_frame_refuses_c1_anywhere),
		cmocka_unit_test(test_frame_refuses_empty_buffer),
		cmocka_unit_test(test_frame_refuses_every_truncation_of_a_valid_frame),
		cmocka_unit_test(test_frame_hdr_is_big_endian),
		cmocka_unit_test(test_frame_len_reads_big_endian),
		cmocka_unit_test(test_frame_hdr_round_trips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
