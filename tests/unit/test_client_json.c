/*
 * test_client_json.c: unit tests of client/json.c, the --json writer.
 * These pin the bytes tokq has always printed: money as plain decimals,
 * integers exact, keys in the reply's order without "v" and "code", UTF-8
 * as it is, control characters as lower-case \u escapes.  Each object is
 * printed both ways, through jansson's document and straight from the
 * map (what tokq batch does), and the two must agree to the byte; random
 * objects hold them to it beyond the cases written out.  The module is
 * included, as chrony's tests do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* before cmocka.h, whose job_fail() macro would take client.h's job_fail() */
#include "../../client/json.c"
#include "../../client/reply.c"

#include <cmocka.h>

/* A packer for one test's object, and the object unpacked. */
struct obj {
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	msgpack_unpacked	 up;
};

static msgpack_packer *
obj_start(struct obj *o)
{
	msgpack_sbuffer_init(&o->sb);
	msgpack_packer_init(&o->pk, &o->sb, msgpack_sbuffer_write);
	return &o->pk;
}

static void
pstr(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

/*
 * What jansson's writer prints for the object; reply: as --json does.
 * The direct writer's text, when it takes the object, must be the same;
 * *direct (when not NULL) tells whether it took it.
 */
static char *
render_obj(const msgpack_object *obj, bool reply, bool *direct)
{
	struct obuf	 ob = { 0 };
	json_t		*j;
	char		*text = NULL;
	size_t		 len = 0;
	FILE		*f;
	int		 rc;

	j = reply ? json_of_reply(obj) : json_of(obj);
	assert_non_null(j);
	assert_non_null(f = open_memstream(&text, &len));
	json_write(f, j);
	fclose(f);
	json_decref(j);
	OBUF_LIT(&ob, "<before>");
	rc = reply ? json_put_reply(&ob, obj) : put_obj(&ob, obj);
	if (rc == 0) {
		assert_false(ob.nomem);
		obuf_byte(&ob, '\0');
		assert_string_equal(ob.p + 8, text);
	} else if (reply)
		assert_int_equal(ob.len, 8);	/* left as it was */
	assert_memory_equal(ob.p, "<before>", 8);
	if (direct != NULL)
		*direct = rc == 0;
	obuf_free(&ob);
	return text;
}

static char *
render(struct obj *o, bool reply)
{
	char	*text;
	size_t	 off = 0;

	msgpack_unpacked_init(&o->up);
	assert_int_equal(msgpack_unpack_next(&o->up, o->sb.data, o->sb.size, &off),
	    MSGPACK_UNPACK_SUCCESS);
	text = render_obj(&o->up.data, reply, NULL);
	msgpack_unpacked_destroy(&o->up);
	msgpack_sbuffer_destroy(&o->sb);
	return text;
}

/* render(), also telling whether the direct writer took the object. */
static char *
render_direct(struct obj *o, bool reply, bool *direct)
{
	char	*text;
	size_t	 off = 0;

	msgpack_unpacked_init(&o->up);
	assert_int_equal(msgpack_unpack_next(&o->up, o->sb.data, o->sb.size, &off),
	    MSGPACK_UNPACK_SUCCESS);
	text = render_obj(&o->up.data, reply, direct);
	msgpack_unpacked_destroy(&o->up);
	msgpack_sbuffer_destroy(&o->sb);
	return text;
}

static void
test_money_prints_as_plain_decimals(void **state)
{
	struct obj	 o;
	msgpack_packer	*pk = obj_start(&o);
	char		*s;

	msgpack_pack_map(pk, 6);
	pstr(pk, "a"), msgpack_pack_double(pk, 0.0125);
	pstr(pk, "b"), msgpack_pack_double(pk, 2.0);
	pstr(pk, "c"), msgpack_pack_double(pk, 1e-9);
	pstr(pk, "d"), msgpack_pack_double(pk, -0.0);
	pstr(pk, "e"), msgpack_pack_double(pk, 1234567.123456789);
	pstr(pk, "f"), msgpack_pack_double(pk, 0.000185);
	s = render(&o, false);
	assert_string_equal(s, "{\"a\":0.0125,\"b\":2,\"c\":0.000000001,\"d\":0,"
	    "\"e\":1234567.123456789,\"f\":0.000185}");
	free(s);
}

static void
test_reals_json_cannot_say_are_null(void **state)
{
	struct obj	 o;
	msgpack_packer	*pk = obj_start(&o);
	char		*s;

	msgpack_pack_array(pk, 3);
	msgpack_pack_double(pk, 0.0 / 0.0);
	msgpack_pack_double(pk, 1e301);
	msgpack_pack_double(pk, -1e301);
	s = render(&o, false);
	assert_string_equal(s, "[null,null,null]");
	free(s);
}

static void
test_integers_are_exact(void **state)
{
	struct obj	 o;
	msgpack_packer	*pk = obj_start(&o);
	char		*s;

	msgpack_pack_array(pk, 4);
	msgpack_pack_int64(pk, INT64_MAX);
	msgpack_pack_int64(pk, INT64_MIN);
	msgpack_pack_int64(pk, 1000000000000LL);
	msgpack_pack_int64(pk, 0);
	s = render(&o, false);
	assert_string_equal(s, "[9223372036854775807,-9223372036854775808,1000000000000,0]");
	free(s);
}

static void
test_reply_keeps_its_order_without_v_and_code(void **state)
{
	struct obj	 o;
	msgpack_packer	*pk = obj_start(&o);
	char		*s;

	msgpack_pack_map(pk, 5);
	pstr(pk, "v"), msgpack_pack_int(pk, 1);
	pstr(pk, "code"), msgpack_pack_int(pk, 0);
	pstr(pk, "zeta"), msgpack_pack_true(pk);
	pstr(pk, "alpha"), msgpack_pack_nil(pk);
	pstr(pk, "inner"), msgpack_pack_map(pk, 2);
	pstr(pk, "v"), msgpack_pack_int(pk, 2);		/* only the top level's go */
	pstr(pk, "code"), msgpack_pack_false(pk);
	s = render(&o, true);
	assert_string_equal(s, "{\"zeta\":true,\"alpha\":null,\"inner\":{\"v\":2,\"code\":false}}");
	free(s);
}

static void
test_strings_keep_utf8_and_escape_controls_in_lower_case(void **state)
{
	struct obj	 o;
	msgpack_packer	*pk = obj_start(&o);
	char		*s;

	msgpack_pack_array(pk, 3);
	pstr(pk, "é 🥇 ▁");
	pstr(pk, "\x1b\x0b\x1f\n\t\"\\/");
	pstr(pk, "1.5e3");		/* a string that looks like a number stays one */
	s = render(&o, false);
	assert_string_equal(s, "[\"é 🥇 ▁\",\"\\u001b\\u000b\\u001f\\n\\t\\\"\\\\/\","
	    "\"1.5e3\"]");
	free(s);
}

static void
test_bytes_that_are_not_utf8_show_as_hex(void **state)
{
	struct obj	 o;
	msgpack_packer	*pk = obj_start(&o);
	char		*s;

	msgpack_pack_str_with_body(pk, "a\xff" "b", 3);
	s = render(&o, false);
	assert_string_equal(s, "\"a\\\\xffb\"");
	free(s);
}

static void
test_number_keys_become_strings_and_bin_base64(void **state)
{
	struct obj	 o;
	msgpack_packer	*pk = obj_start(&o);
	char		*s;

	msgpack_pack_map(pk, 3);
	msgpack_pack_int(pk, 7), pstr(pk, "x");
	msgpack_pack_int(pk, -2), pstr(pk, "y");
	pstr(pk, "bin"), msgpack_pack_bin_with_body(pk, "\1\2\3\4", 4);
	s = render(&o, false);
	assert_string_equal(s, "{\"7\":\"x\",\"-2\":\"y\",\"bin\":\"AQIDBA==\"}");
	free(s);
}

static void
test_json_write_str_writes_one_string(void **state)
{
	char	*text = NULL;
	size_t	 len = 0;
	FILE	*f = open_memstream(&text, &len);

	json_write_str(f, "a \"quoted\", comma\nline", 22);
	fclose(f);
	assert_string_equal(text, "\"a \\\"quoted\\\", comma\\nline\"");
	free(text);
}

static void
test_a_check_reply_prints_the_same_both_ways(void **state)
{
	struct obj	 o;
	msgpack_packer	*pk = obj_start(&o);
	bool		 direct;
	char		*s;

	msgpack_pack_map(pk, 6);
	pstr(pk, "v"), msgpack_pack_int(pk, 1);
	pstr(pk, "code"), msgpack_pack_int(pk, 0);
	pstr(pk, "allowed"), msgpack_pack_true(pk);
	pstr(pk, "limits"), msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 4);
	pstr(pk, "selector"), pstr(pk, "default");
	pstr(pk, "subject"), msgpack_pack_nil(pk);
	pstr(pk, "limit"), msgpack_pack_int64(pk, 1000000000);
	pstr(pk, "percent"), msgpack_pack_double(pk, 12.5);
	pstr(pk, "denied_by"), msgpack_pack_nil(pk);
	pstr(pk, "estimate"), msgpack_pack_map(pk, 2);
	pstr(pk, "tokens"), msgpack_pack_int(pk, 500);
	pstr(pk, "cost_usd"), msgpack_pack_double(pk, 0.0003);
	s = render_direct(&o, true, &direct);
	assert_true(direct);
	assert_string_equal(s, "{\"allowed\":true,\"limits\":[{\"selector\":\"default\","
	    "\"subject\":null,\"limit\":1000000000,\"percent\":12.5}],\"denied_by\":null,"
	    "\"estimate\":{\"tokens\":500,\"cost_usd\":0.0003}}");
	free(s);
}

static void
test_a_key_twice_keeps_its_first_place_and_last_value(void **state)
{
	struct obj	 o;
	msgpack_packer	*pk = obj_start(&o);
	bool		 direct;
	char		*s;

	msgpack_pack_map(pk, 3);
	pstr(pk, "a"), msgpack_pack_int(pk, 1);
	pstr(pk, "b"), msgpack_pack_int(pk, 2);
	pstr(pk, "a"), msgpack_pack_int(pk, 3);
	s = render_direct(&o, true, &direct);
	assert_false(direct);		/* jansson's document says it */
	assert_string_equal(s, "{\"a\":3,\"b\":2}");
	free(s);
}

static void
test_keys_that_are_not_utf8_strings_go_through_jansson(void **state)
{
	struct obj	 o;
	msgpack_packer	*pk = obj_start(&o);
	bool		 direct;
	char		*s;

	msgpack_pack_map(pk, 2);
	msgpack_pack_str_with_body(pk, "k\xfe", 2), msgpack_pack_int(pk, 1);
	msgpack_pack_nil(pk), msgpack_pack_int(pk, 2);
	s = render_direct(&o, false, &direct);
	assert_false(direct);
	assert_string_equal(s, "{\"k\\\\xfe\":1,\"\":2}");
	free(s);
}

static void
test_an_empty_string_is_kept(void **state)
{
	struct obj	 o;
	msgpack_packer	*pk = obj_start(&o);
	bool		 direct;
	char		*s;

	msgpack_pack_map(pk, 3);
	pstr(pk, "a"), pstr(pk, "");		/* msgpack gives it no pointer */
	pstr(pk, ""), msgpack_pack_array(pk, 2);
	pstr(pk, ""), pstr(pk, "x");
	pstr(pk, "b"), msgpack_pack_int(pk, 1);
	s = render_direct(&o, true, &direct);
	assert_true(direct);
	assert_string_equal(s, "{\"a\":\"\",\"\":[\"\",\"x\"],\"b\":1}");
	free(s);
}

/* A small deterministic generator (xorshift64*), so a failure repeats. */
static uint64_t	 rnd_state = 0x2545f4914f6cdd1dULL;

static uint32_t
rnd(uint32_t n)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return (uint32_t)((rnd_state * 0x2545f4914f6cdd1dULL) >> 32) % n;
}

/* A string of the bytes a reply may hold: plain, escapes, UTF-8, or not. */
static void
rnd_str(msgpack_packer *pk, bool key)
{
	static const char	*parts[] = {
		"a", "limit", "v", "code", "\"", "\\", "/", "\n", "\t", "\x01", "\x1f",
		"\x7f", "\xc3\xa9", "\xf0\x9f\xa5\x87", "\xe2\x96\x81", "\xff", "\xed\xa0\x80",
		"\xc0\xaf", " ", "1.5e3", "-0", "\x00"
	};
	char			 buf[64];
	size_t			 n = 0, k, i, parts_n = sizeof(parts) / sizeof(parts[0]);

	for (i = rnd(key ? 3 : 6); i > 0; i--) {
		k = rnd(parts_n);
		if (k == parts_n - 1)
			buf[n++] = '\0';
		else {
			memcpy(buf + n, parts[k], strlen(parts[k]));
			n += strlen(parts[k]);
		}
	}
	msgpack_pack_str_with_body(pk, buf, n);
}

static void
rnd_obj(msgpack_packer *pk, int depth)
{
	static const double	 reals[] = {
		0.0125, 2.0, 1e-9, -0.0, 1234567.123456789, 0.000185, 1e300, 1e301,
		-1e301, 0.1 + 0.2, 123456789012.5, 5e-10, 4e-10, -5e-10, 1e22, 0.0 / 0.0
	};
	uint32_t		 i, n;

	switch (rnd(depth < 3 ? 12 : 9)) {
	case 0:
		msgpack_pack_nil(pk);
		break;
	case 1:
		rnd(2) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
		break;
	case 2:
		msgpack_pack_int64(pk, (int64_t)rnd(4000000000U) - 2000000000);
		break;
	case 3:
		msgpack_pack_uint64(pk, rnd(3) == 0 ? UINT64_MAX - rnd(10) :
		    (uint64_t)INT64_MAX - rnd(3));
		break;
	case 4:
		msgpack_pack_int64(pk, rnd(2) ? INT64_MIN + rnd(3) : -(int64_t)rnd(100));
		break;
	case 5:
		msgpack_pack_double(pk, reals[rnd(sizeof(reals) / sizeof(reals[0]))]);
		break;
	case 6:
		msgpack_pack_float(pk, 0.1f * rnd(100));
		break;
	case 7:
		rnd_str(pk, false);
		break;
	case 8:
		n = rnd(5);
		msgpack_pack_bin_with_body(pk, "\\1\\2\\3\\4\\377", n);
		break;
	case 9:
		msgpack_pack_ext_with_body(pk, "xy", 2, 7);
		break;
	case 10:
		msgpack_pack_array(pk, n = rnd(4));
		for (i = 0; i < n; i++)
			rnd_obj(pk, depth + 1);
		break;
	default:
		msgpack_pack_map(pk, n = rnd(5));
		for (i = 0; i < n; i++) {
			if (rnd(20) == 0)
				msgpack_pack_int(pk, (int)rnd(5) - 2);
			else
				rnd_str(pk, true);
			rnd_obj(pk, depth + 1);
		}
		break;
	}
}

static void
test_random_objects_print_the_same_both_ways(void **state)
{
	struct obj	 o;
	msgpack_packer	*pk;
	bool		 direct;
	int		 i, ndirect = 0;
	char		*s;

	for (i = 0; i < 20000; i++) {
		pk = obj_start(&o);
		if (i % 2 == 0) {	/* a reply: a map at the top */
			msgpack_pack_map(pk, 3);
			pstr(pk, "v"), msgpack_pack_int(pk, 1);
			pstr(pk, "x"), rnd_obj(pk, 0);
			rnd_str(pk, true), rnd_obj(pk, 0);
		} else
			rnd_obj(pk, 0);
		s = render_direct(&o, i % 2 == 0, &direct);
		ndirect += direct;
		free(s);
	}
	assert_true(ndirect > 15000);	/* most were printed both ways and agreed */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_money_prints_as_plain_decimals),
		cmocka_unit_test(test_reals_json_cannot_say_are_null),
		cmocka_unit_test(test_integers_are_exact),
		cmocka_unit_test(test_reply_keeps_its_order_without_v_and_code),
		cmocka_unit_test(test_strings_keep_utf8_and_escape_controls_in_lower_case),
		cmocka_unit_test(test_bytes_that_are_not_utf8_show_as_hex),
		cmocka_unit_test(test_number_keys_become_strings_and_bin_base64),
		cmocka_unit_test(test_json_write_str_writes_one_string),
		cmocka_unit_test(test_a_check_reply_prints_the_same_both_ways),
		cmocka_unit_test(test_a_key_twice_keeps_its_first_place_and_last_value),
		cmocka_unit_test(test_keys_that_are_not_utf8_strings_go_through_jansson),
		cmocka_unit_test(test_an_empty_string_is_kept),
		cmocka_unit_test(test_random_objects_print_the_same_both_ways),
	};

	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
