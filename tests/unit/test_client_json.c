/*
 * test_client_json.c: unit tests of client/json.c, the --json writer.
 * jansson writes the document; these pin the bytes tokq has always
 * printed: money as plain decimals, integers exact, keys in the reply's
 * order without "v" and "code", UTF-8 as it is, control characters as
 * lower-case \u escapes.  The module is included, as chrony's tests do.
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

/* What the writer prints for the packed object; reply: as --json does. */
static char *
render(struct obj *o, bool reply)
{
	json_t	*j;
	char	*text = NULL;
	size_t	 len = 0, off = 0;
	FILE	*f;

	msgpack_unpacked_init(&o->up);
	assert_int_equal(msgpack_unpack_next(&o->up, o->sb.data, o->sb.size, &off),
	    MSGPACK_UNPACK_SUCCESS);
	j = reply ? json_of_reply(&o->up.data) : json_of(&o->up.data);
	assert_non_null(j);
	assert_non_null(f = open_memstream(&text, &len));
	json_write(f, j);
	fclose(f);
	json_decref(j);
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
	};

	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
