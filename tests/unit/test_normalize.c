/*
 * test_normalize.c: provider usage JSON -> events (daemon/normalize.c).
 *
 * Realistic samples live in tests/data/usage/, found relative to this
 * file's path as the compiler saw it, so run the test from the top of the
 * tree (as `make unit` does).  Each sample NAME.json has NAME.expect
 * beside it: one line per event, "prompt completion total cached
 * cache_write reasoning model cost" (cost in nano-USD, "-" for no model or
 * no cost), or one line "refused REASON" (a part of the one-line reason).
 * every_fixture_gives_its_expected_counts walks them all.  One behaviour
 * per test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <dirent.h>
#include <inttypes.h>

#include "tokqd.h"

static struct norm_item	*items;
static size_t		 nitems;
static char		 err[256];

/* The path of tests/data/usage/name. */
static void
data_path(char *path, size_t len, const char *name)
{
	const char	*slash = strrchr(__FILE__, '/');

	snprintf(path, len, "%.*s/../data/usage/%s",
	    slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".", name);
}

/* Read tests/data/usage/name into a malloc'd buffer; fails the test if not. */
static char *
load_sample(const char *name, size_t *len)
{
	char		 path[1024];
	FILE		*f;
	char		*buf;
	long		 n;

	data_path(path, sizeof(path), name);
	if ((f = fopen(path, "rb")) == NULL)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc(n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int
is_json(const struct dirent *d)
{
	size_t	 n = strlen(d->d_name);

	return n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

/* The fixtures, *.json in tests/data/usage, sorted; free with free_fixtures. */
static int
list_fixtures(struct dirent ***list)
{
	char	 dir[1024];
	int	 n;

	data_path(dir, sizeof(dir), "");
	n = scandir(dir, list, is_json, alphasort);
	if (n <= 0)
		fail_msg("no fixtures in %s", dir);
	return n;
}

static void
free_fixtures(struct dirent **list, int n)
{
	while (n-- > 0)
		free(list[n]);
	free(list);
}

/* Normalize a sample file; returns the result code. */
static int
norm_file(const char *name)
{
	size_t	 len;
	char	*buf;
	int	 r;

	buf = load_sample(name, &len);
	r = normalize_usage_json(buf, len, &items, &nitems, err, sizeof(err));
	free(buf);
	return r;
}

static int
norm_str(const char *s)
{
	return normalize_usage_json(s, strlen(s), &items, &nitems, err,
	    sizeof(err));
}

/* Expect a refusal whose reason contains want; nothing is returned. */
static void
assert_refused(int r, const char *want)
{
	assert_int_equal(r, -TOKQ_E_INVALID);
	assert_null(items);
	assert_int_equal(nitems, 0);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	assert_null(strchr(err, '\n'));
}

static int
setup(void **state)
{
	items = NULL;
	nitems = 0;
	memset(err, 0, sizeof(err));
	return 0;
}

static int
teardown(void **state)
{
	normalize_free(items, nitems);
	items = NULL;
	nitems = 0;
	return 0;
}

static void
openai_chat_completion_maps_cached_and_reasoning(void **state)
{
	assert_int_equal(norm_file("openai_chat_completion.json"), 0);
	assert_int_equal(nitems, 1);
	assert_int_equal(items[0].call, -1);
	assert_int_equal(items[0].u.requests, 1);
	assert_int_equal(items[0].u.prompt, 2006);
	assert_int_equal(items[0].u.completion, 300);
	assert_int_equal(items[0].u.total, 2306);
	assert_true(items[0].has_total);
	assert_int_equal(items[0].u.cached, 1920);
	assert_int_equal(items[0].u.reasoning, 192);
	assert_int_equal(items[0].u.cache_write, 0);
	assert_false(items[0].has_cost);
	assert_string_equal(items[0].model, "o3-mini-2025-01-31");
}

static void
litellm_bare_usage_with_null_details_is_accepted(void **state)
{
	assert_int_equal(norm_file("litellm_usage.json"), 0);
	assert_int_equal(nitems, 1);
	assert_int_equal(items[0].u.prompt, 3856);
	assert_int_equal(items[0].u.completion, 63);
	assert_int_equal(items[0].u.total, 3919);
	assert_int_equal(items[0].u.cached, 0);
	assert_int_equal(items[0].u.reasoning, 0);
	assert_null(items[0].model);
}

static void
dspy_usage_array_gives_one_item_per_call(void **state)
{
	static const int64_t	 p[] = { 3721, 3856, 2725 };
	static const int64_t	 c[] = { 117, 63, 39 };
	static const int64_t	 t[] = { 3838, 3919, 2764 };
	size_t			 i;

	assert_int_equal(norm_file("dspy_usage_array.json"), 0);
	assert_int_equal(nitems, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(items[i].call, (int64_t)i);
		assert_int_equal(items[i].u.requests, 1);
		assert_int_equal(items[i].u.prompt, p[i]);
		assert_int_equal(items[i].u.completion, c[i]);
		assert_int_equal(items[i].u.total, t[i]);
		assert_null(items[i].model);
	}
}

static void
dspy_history_entry_carries_model_and_cost(void **state)
{
	assert_int_equal(norm_file("dspy_history_entry.json"), 0);
	assert_int_equal(nitems, 1);
	assert_int_equal(items[0].u.prompt, 3721);
	assert_int_equal(items[0].u.completion, 117);
	assert_int_equal(items[0].u.total, 3838);
	assert_true(items[0].has_cost);
	assert_int_equal(items[0].u.cost, 123000);	/* 0.000123 USD */
	assert_string_equal(items[0].model, "groq/moonshotai/kimi-k2-instruct");
}

static void
dspy_history_entry_with_null_cost_has_no_cost(void **state)
{
	assert_int_equal(norm_str("{\"model\": \"openai/gpt-4o-mini\", "
	    "\"cost\": null, \"usage\": {\"prompt_tokens\": 10, "
	    "\"completion_tokens\": 5, \"total_tokens\": 15}}"), 0);
	assert_false(items[0].has_cost);
	assert_int_equal(items[0].u.cost, 0);
	assert_string_equal(items[0].model, "openai/gpt-4o-mini");
}

static void
dspy_cache_hit_with_empty_usage_counts_zero_tokens(void **state)
{
	assert_int_equal(norm_str("[{\"model\": \"openai/gpt-4o-mini\", "
	    "\"usage\": {\"prompt_tokens\": 10, \"completion_tokens\": 5}}, "
	    "{\"model\": \"openai/gpt-4o-mini\", \"usage\": {}, "
	    "\"cost\": null}]"), 0);
	assert_int_equal(nitems, 2);
	assert_int_equal(items[1].call, 1);
	assert_int_equal(items[1].u.requests, 1);
	assert_int_equal(items[1].u.prompt, 0);
	assert_int_equal(items[1].u.total, 0);
	assert_false(items[1].has_cost);
}

static void
history_entry_falls_back_to_response_model(void **state)
{
	assert_int_equal(norm_str("{\"response\": {\"model\": \"gpt-4o-mini\", "
	    "\"usage\": {\"prompt_tokens\": 7, \"completion_tokens\": 3}}}"), 0);
	assert_int_equal(items[0].u.prompt, 7);
	assert_int_equal(items[0].u.total, 10);
	assert_string_equal(items[0].model, "gpt-4o-mini");
}

static void
anthropic_message_adds_cache_tokens_to_prompt(void **state)
{
	assert_int_equal(norm_file("anthropic_message.json"), 0);
	assert_int_equal(nitems, 1);
	assert_int_equal(items[0].u.prompt, 21 + 188086);
	assert_int_equal(items[0].u.cache_write, 188086);
	assert_int_equal(items[0].u.cached, 0);
	assert_int_equal(items[0].u.completion, 393);
	assert_false(items[0].has_total);
	assert_int_equal(items[0].u.total, 21 + 188086 + 393);
	assert_string_equal(items[0].model, "claude-sonnet-4-20250514");
}

static void
anthropic_cache_read_becomes_cached(void **state)
{
	assert_int_equal(norm_file("anthropic_cache_read.json"), 0);
	assert_int_equal(items[0].u.prompt, 50 + 188086);
	assert_int_equal(items[0].u.cached, 188086);
	assert_int_equal(items[0].u.cache_write, 0);
	assert_int_equal(items[0].u.completion, 393);
}

static void
gemini_completion_includes_thoughts(void **state)
{
	assert_int_equal(norm_file("gemini_response.json"), 0);
	assert_int_equal(nitems, 1);
	assert_int_equal(items[0].u.prompt, 4210);
	assert_int_equal(items[0].u.completion, 87 + 421);
	assert_int_equal(items[0].u.reasoning, 421);
	assert_int_equal(items[0].u.cached, 4096);
	assert_true(items[0].has_total);
	assert_int_equal(items[0].u.total, 4718);
	assert_string_equal(items[0].model, "gemini-2.5-flash");
}

static void
responses_api_usage_maps_like_openai(void **state)
{
	assert_int_equal(norm_file("responses_api.json"), 0);
	assert_int_equal(items[0].u.prompt, 1536);
	assert_int_equal(items[0].u.cached, 1024);
	assert_int_equal(items[0].u.completion, 310);
	assert_int_equal(items[0].u.reasoning, 256);
	assert_int_equal(items[0].u.total, 1846);
	assert_true(items[0].has_total);
	assert_string_equal(items[0].model, "gpt-4.1-2025-04-14");
}

static void
integral_real_count_is_accepted(void **state)
{
	assert_int_equal(norm_str("{\"prompt_tokens\": 117.0, "
	    "\"completion_tokens\": 0}"), 0);
	assert_int_equal(items[0].u.prompt, 117);
}

static void
refuses_negative_count(void **state)
{
	assert_refused(norm_str("{\"prompt_tokens\": -5, "
	    "\"completion_tokens\": 3}"),
	    "usage JSON: prompt_tokens must be a non-negative integer");
}

static void
refuses_string_count(void **state)
{
	assert_refused(norm_str("{\"prompt_tokens\": \"12\", "
	    "\"completion_tokens\": 3}"),
	    "prompt_tokens must be a non-negative integer");
}

static void
refuses_fractional_count(void **state)
{
	assert_refused(norm_str("{\"usage\": {\"input_tokens\": 10, "
	    "\"output_tokens\": 2.5}}"),
	    "output_tokens must be a non-negative integer");
}

static void
refuses_bad_detail_count_naming_its_path(void **state)
{
	assert_refused(norm_str("{\"prompt_tokens\": 10, "
	    "\"prompt_tokens_details\": {\"cached_tokens\": true}}"),
	    "prompt_tokens_details.cached_tokens must be a non-negative integer");
}

static void
refuses_count_beyond_int64(void **state)
{
	assert_refused(norm_str("{\"prompt_tokens\": 9223372036854775808}"),
	    "usage JSON: line 1");
}

/*
 * Every count is bounded by 10^12 (contract, Values), so a sum of them
 * cannot wrap: what once overflowed 64 bits is now refused as too large.
 */
static void
refuses_anthropic_sum_that_overflows(void **state)
{
	assert_refused(norm_str("{\"input_tokens\": 9223372036854775807, "
	    "\"cache_read_input_tokens\": 1, \"output_tokens\": 0}"),
	    "input_tokens (9223372036854775807) is more than 10^12 tokens");
	assert_refused(norm_str("{\"input_tokens\": 1000000000000, "
	    "\"cache_read_input_tokens\": 1, \"output_tokens\": 0}"),
	    "prompt tokens (input_tokens + cache_creation_input_tokens + "
	    "cache_read_input_tokens) are more than 10^12");
}

static void
malformed_json_reports_line_and_column(void **state)
{
	assert_refused(norm_str("{\n  \"prompt_tokens\": 10,\n  oops\n}"),
	    "usage JSON: line 3 column ");
}

static void
refuses_trailing_garbage(void **state)
{
	assert_refused(norm_str("{\"prompt_tokens\": 1} {"), "usage JSON: line 1");
}

static void
refuses_duplicate_keys(void **state)
{
	assert_refused(norm_str("{\"prompt_tokens\": 1, \"prompt_tokens\": 2}"),
	    "duplicate");
}

static void
refuses_empty_input(void **state)
{
	assert_refused(norm_str(""), "usage JSON: ");
}

static void
refuses_empty_array(void **state)
{
	assert_refused(norm_str("[]"), "usage JSON: empty array");
}

static void
refuses_cached_over_prompt(void **state)
{
	assert_refused(norm_str("{\"prompt_tokens\": 100, "
	    "\"completion_tokens\": 1, \"prompt_tokens_details\": "
	    "{\"cached_tokens\": 101}}"), "cached tokens (101) exceed prompt");
}

static void
refuses_reasoning_over_completion(void **state)
{
	assert_refused(norm_str("{\"prompt_tokens\": 100, "
	    "\"completion_tokens\": 10, \"completion_tokens_details\": "
	    "{\"reasoning_tokens\": 11}}"),
	    "reasoning tokens (11) exceed completion tokens (10)");
}

static void
refuses_unrelated_object(void **state)
{
	assert_refused(norm_str("{\"id\": \"chatcmpl-1\", \"choices\": [], "
	    "\"model\": \"gpt-4o\"}"), "usage JSON: no token counts found");
}

static void
refuses_usage_of_wrong_type(void **state)
{
	assert_refused(norm_str("{\"usage\": [1, 2]}"),
	    "usage must be an object");
}

static void
refuses_non_object_element_naming_its_index(void **state)
{
	assert_refused(norm_str("[{\"prompt_tokens\": 1}, 42]"),
	    "usage JSON: element 1: not an object");
}

static void
bad_element_fails_the_whole_array(void **state)
{
	assert_refused(norm_str("[{\"prompt_tokens\": 1, \"model\": \"a\"}, "
	    "{\"model\": \"b\", \"prompt_tokens\": -1}]"),
	    "element 1: prompt_tokens must be");
}

static void
refuses_nesting_deeper_than_32(void **state)
{
	char	 buf[256];
	int	 i, n = 0;

	for (i = 0; i < 40; i++)
		buf[n++] = '[';
	for (i = 0; i < 40; i++)
		buf[n++] = ']';
	buf[n] = '\0';
	assert_refused(norm_str(buf), "nested deeper than 32");
}

static void
accepts_nesting_of_32(void **state)
{
	char	 buf[512];
	int	 i, n = 0;

	n += snprintf(buf, sizeof(buf), "{\"prompt_tokens\": 1, \"x\": ");
	for (i = 0; i < 31; i++)
		buf[n++] = '[';
	for (i = 0; i < 31; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	buf[n] = '\0';
	assert_int_equal(norm_str(buf), 0);
}

static void
refuses_array_over_10000_elements(void **state)
{
	const char	*el = "{\"prompt_tokens\": 1},";
	size_t		 ellen = strlen(el), n = 10001, i, off = 0;
	char		*buf;

	buf = malloc(n * ellen + 2);
	assert_non_null(buf);
	buf[off++] = '[';
	for (i = 0; i < n; i++, off += ellen)
		memcpy(buf + off, el, ellen);
	buf[off - 1] = ']';
	assert_refused(normalize_usage_json(buf, off, &items, &nitems, err,
	    sizeof(err)), "more than 10000");
	/* One fewer is fine. */
	buf[off - 1 - ellen] = ']';
	assert_int_equal(normalize_usage_json(buf, off - ellen, &items, &nitems,
	    err, sizeof(err)), 0);
	assert_int_equal(nitems, 10000);
	assert_int_equal(items[9999].call, 9999);
	free(buf);
}

static void
refuses_negative_cost(void **state)
{
	assert_refused(norm_str("{\"usage\": {\"prompt_tokens\": 1}, "
	    "\"cost\": -0.5}"), "cost must be a non-negative number");
}

static void
refuses_overlong_model(void **state)
{
	char	 buf[512];

	snprintf(buf, sizeof(buf), "{\"model\": \"%0200d\", "
	    "\"usage\": {\"prompt_tokens\": 1}}", 0);
	assert_refused(norm_str(buf), "model is longer than 128 bytes");
}

static void
error_is_one_printable_line(void **state)
{
	const char	 in[] = "{\"prompt_tokens\": 1,\n\x01\xff}";
	const char	*p;

	assert_int_equal(normalize_usage_json(in, sizeof(in) - 1, &items,
	    &nitems, err, sizeof(err)), -TOKQ_E_INVALID);
	for (p = err; *p != '\0'; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
}

static void
small_error_buffer_is_not_overrun(void **state)
{
	char	 small[8];

	memset(small, 'X', sizeof(small));
	assert_int_equal(normalize_usage_json("[]", 2, &items, &nitems,
	    small, 5), -TOKQ_E_INVALID);
	assert_string_equal(small, "usag");
	assert_int_equal(small[5], 'X');
	assert_int_equal(normalize_usage_json("[]", 2, &items, &nitems,
	    NULL, 0), -TOKQ_E_INVALID);
}

/*
 * Every prefix of every sample, and every sample with each byte flipped,
 * either parses or is refused with a reason: never a crash, never a leak
 * (run under ASan by make check-asan).
 */
static void
truncated_and_corrupted_samples_fail_cleanly(void **state)
{
	struct dirent	**list;
	size_t		 len, i;
	char		*buf;
	int		 s, n, r;

	n = list_fixtures(&list);
	for (s = 0; s < n; s++) {
		buf = load_sample(list[s]->d_name, &len);
		for (i = 0; i < len; i++) {
			r = normalize_usage_json(buf, i, &items, &nitems, err,
			    sizeof(err));
			assert_true(r == 0 || r == -TOKQ_E_INVALID);
			assert_true(r != 0 || err[0] == '\0');
			assert_true(r == 0 || err[0] != '\0');
			normalize_free(items, nitems);
			buf[i] ^= 0x5a;
			r = normalize_usage_json(buf, len, &items, &nitems, err,
			    sizeof(err));
			assert_true(r == 0 || r == -TOKQ_E_INVALID);
			normalize_free(items, nitems);
			buf[i] ^= 0x5a;
		}
		items = NULL;
		nitems = 0;
		free(buf);
	}
	free_fixtures(list, n);
}

/*
 * Check one fixture against its .expect file; print each difference and
 * return how many there were.
 */
static int
check_fixture(const char *name)
{
	char		 path[1024], line[512], model[256], cost[64], want[300];
	long long	 v[6];
	FILE		*f;
	size_t		 k = 0, nl, j;
	int		 bad = 0, r;
	size_t		 len;
	char		*buf;

	snprintf(want, sizeof(want), "%.*s.expect",
	    (int)(strlen(name) - 5), name);
	data_path(path, sizeof(path), want);
	if ((f = fopen(path, "r")) == NULL) {
		print_message("%s: no %s beside it\n", name, want);
		return 1;
	}
	buf = load_sample(name, &len);
	r = normalize_usage_json(buf, len, &items, &nitems, err, sizeof(err));
	free(buf);
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((nl = strcspn(line, "\n")) == 0 || line[0] == '#')
			continue;
		line[nl] = '\0';
		if (strncmp(line, "refused ", 8) == 0) {
			if (r != -TOKQ_E_INVALID || strstr(err, line + 8) ==
			    NULL) {
				print_message("%s: want refused \"%s\", got %d "
				    "\"%s\"\n", name, line + 8, r, err);
				bad++;
			}
			k = nitems;
			continue;
		}
		if (sscanf(line, "%lld %lld %lld %lld %lld %lld %255s %63s",
		    &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], model,
		    cost) != 8) {
			print_message("%s: bad line \"%s\"\n", want, line);
			bad++;
			continue;
		}
		if (r != 0 || k >= nitems) {
			print_message("%s: event %zu: want \"%s\", got %d "
			    "\"%s\" (%zu events)\n", name, k, line, r, err,
			    nitems);
			bad++;
			k++;
			continue;
		}
		{
			const struct norm_item	*it = &items[k];
			const int64_t		 got[6] = { it->u.prompt,
			    it->u.completion, it->u.total, it->u.cached,
			    it->u.cache_write, it->u.reasoning };
			char			 gc[64];

			snprintf(gc, sizeof(gc), it->has_cost ? "%" PRId64 :
			    "-", it->u.cost);
			for (j = 0; j < 6; j++)
				if (got[j] != v[j])
					break;
			if (j < 6 || strcmp(model, it->model ? it->model :
			    "-") != 0 || strcmp(cost, gc) != 0 ||
			    it->u.requests != 1) {
				print_message("%s: event %zu: want \"%s\", got "
				    "\"%" PRId64 " %" PRId64 " %" PRId64 " %"
				    PRId64 " %" PRId64 " %" PRId64 " %s %s\"\n",
				    name, k, line, got[0], got[1], got[2],
				    got[3], got[4], got[5],
				    it->model ? it->model : "-", gc);
				bad++;
			}
		}
		k++;
	}
	fclose(f);
	if (k != nitems) {
		print_message("%s: %zu events, %zu expected\n", name, nitems,
		    k);
		bad++;
	}
	normalize_free(items, nitems);
	items = NULL;
	nitems = 0;
	return bad;
}

/*
 * Every fixture in tests/data/usage gives exactly the counts, model and
 * cost its .expect file names, or the refusal it names.
 */
static void
every_fixture_gives_its_expected_counts(void **state)
{
	struct dirent	**list;
	int		 i, n, bad = 0;

	n = list_fixtures(&list);
	for (i = 0; i < n; i++)
		bad += check_fixture(list[i]->d_name);
	free_fixtures(list, n);
	if (bad)
		fail_msg("%d fixture mismatches (above)", bad);
	assert_true(n >= 30);
}

static void
unreadable_shape_names_what_was_looked_for(void **state)
{
	char	 buf[512];
	int	 i, n = 0;

	assert_refused(norm_str("{\"id\": \"x\", \"usage\": {\"foo\": 1}}"),
	    "no token counts found: looked for usage, usageMetadata, "
	    "usage_metadata, message.usage, response.usage");
	/* The whole list fits the daemon's 256-byte reply, element prefix and all. */
	n += snprintf(buf, sizeof(buf), "[");
	for (i = 0; i < 12; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "%s{\"prompt_tokens\": 1}",
		    i ? "," : "");
	snprintf(buf + n, sizeof(buf) - n, ",{\"model\": \"m\"}]");
	assert_refused(norm_str(buf), "element 12: no token counts found");
	assert_non_null(strstr(err, "prompt_tokens, input_tokens, inputTokens, "
	    "promptTokenCount"));
}

static void
given_total_may_exceed_but_not_undercut_the_sum(void **state)
{
	assert_int_equal(norm_str("{\"prompt_tokens\": 100, "
	    "\"completion_tokens\": 50, \"total_tokens\": 150}"), 0);
	assert_int_equal(items[0].u.total, 150);
	teardown(state);
	assert_int_equal(norm_str("{\"usageMetadata\": {\"promptTokenCount\": 10, "
	    "\"candidatesTokenCount\": 5, \"toolUsePromptTokenCount\": 4, "
	    "\"totalTokenCount\": 18}}"), -TOKQ_E_INVALID);
	assert_non_null(strstr(err, "totalTokenCount (18) is less than prompt + "
	    "completion (19)"));
}

static void
refuses_real_count_over_10_12(void **state)
{
	assert_refused(norm_str("{\"usage\": {\"inputTokens\": 1e13, "
	    "\"outputTokens\": 1}}"),
	    "inputTokens (10000000000000) is more than 10^12 tokens");
}

static void
refuses_sum_of_prompt_and_completion_over_10_12(void **state)
{
	assert_refused(norm_str("{\"prompt_tokens\": 1000000000000, "
	    "\"completion_tokens\": 1}"),
	    "prompt + completion (1000000000001) is more than 10^12 tokens");
}

static void
accepts_counts_and_cost_at_the_bounds(void **state)
{
	assert_int_equal(norm_str("{\"usage\": {\"prompt_tokens\": 999999999999, "
	    "\"completion_tokens\": 1, \"cost\": 1000000}}"), 0);
	assert_int_equal(items[0].u.total, TOKQ_TOKENS_MAX);
	assert_true(items[0].has_cost);
	assert_int_equal(items[0].u.cost, TOKQ_COST_MAX);
}

static void
refuses_detail_that_is_not_an_object(void **state)
{
	assert_refused(norm_str("{\"usage\": {\"prompt_tokens\": 1, "
	    "\"prompt_tokens_details\": 5}}"),
	    "usage JSON: prompt_tokens_details must be an object");
}

static void
litellm_cache_creation_that_does_not_fit_is_not_cache_write(void **state)
{
	/* prompt_tokens without the creations: 188086 cannot be a part of 71. */
	assert_int_equal(norm_str("{\"prompt_tokens\": 71, "
	    "\"completion_tokens\": 3, \"cache_creation_input_tokens\": 188086}"),
	    0);
	assert_int_equal(items[0].u.prompt, 71);
	assert_int_equal(items[0].u.cache_write, 0);
	teardown(state);
	assert_int_equal(norm_str("{\"prompt_tokens\": 188157, "
	    "\"completion_tokens\": 3, \"cache_creation_input_tokens\": 188086}"),
	    0);
	assert_int_equal(items[0].u.cache_write, 188086);
}

static void
anthropic_usage_with_only_thinking_details_is_anthropic(void **state)
{
	assert_int_equal(norm_str("{\"input_tokens\": 10, \"output_tokens\": 90, "
	    "\"output_tokens_details\": {\"thinking_tokens\": 80}}"), 0);
	assert_int_equal(items[0].u.prompt, 10);
	assert_int_equal(items[0].u.reasoning, 80);
	assert_int_equal(items[0].u.total, 100);
}

static void
cohere_falls_back_to_tokens_without_billed_units(void **state)
{
	assert_int_equal(norm_str("{\"usage\": {\"billed_units\": {}, "
	    "\"tokens\": {\"input_tokens\": 215, \"output_tokens\": 12}}}"), 0);
	assert_int_equal(items[0].u.prompt, 215);
	assert_int_equal(items[0].u.completion, 12);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(openai_chat_completion_maps_cached_and_reasoning),
		T(litellm_bare_usage_with_null_details_is_accepted),
		T(dspy_usage_array_gives_one_item_per_call),
		T(dspy_history_entry_carries_model_and_cost),
		T(dspy_history_entry_with_null_cost_has_no_cost),
		T(dspy_cache_hit_with_empty_usage_counts_zero_tokens),
		T(history_entry_falls_back_to_response_model),
		T(anthropic_message_adds_cache_tokens_to_prompt),
		T(anthropic_cache_read_becomes_cached),
		T(gemini_completion_includes_thoughts),
		T(responses_api_usage_maps_like_openai),
		T(integral_real_count_is_accepted),
		T(refuses_negative_count),
		T(refuses_string_count),
		T(refuses_fractional_count),
		T(refuses_bad_detail_count_naming_its_path),
		T(refuses_count_beyond_int64),
		T(refuses_anthropic_sum_that_overflows),
		T(malformed_json_reports_line_and_column),
		T(refuses_trailing_garbage),
		T(refuses_duplicate_keys),
		T(refuses_empty_input),
		T(refuses_empty_array),
		T(refuses_cached_over_prompt),
		T(refuses_reasoning_over_completion),
		T(refuses_unrelated_object),
		T(refuses_usage_of_wrong_type),
		T(refuses_non_object_element_naming_its_index),
		T(bad_element_fails_the_whole_array),
		T(refuses_nesting_deeper_than_32),
		T(accepts_nesting_of_32),
		T(refuses_array_over_10000_elements),
		T(refuses_negative_cost),
		T(refuses_overlong_model),
		T(error_is_one_printable_line),
		T(small_error_buffer_is_not_overrun),
		T(truncated_and_corrupted_samples_fail_cleanly),
		T(every_fixture_gives_its_expected_counts),
		T(unreadable_shape_names_what_was_looked_for),
		T(given_total_may_exceed_but_not_undercut_the_sum),
		T(refuses_real_count_over_10_12),
		T(refuses_sum_of_prompt_and_completion_over_10_12),
		T(accepts_counts_and_cost_at_the_bounds),
		T(refuses_detail_that_is_not_an_object),
		T(litellm_cache_creation_that_does_not_fit_is_not_cache_write),
		T(anthropic_usage_with_only_thinking_details_is_anthropic),
		T(cohere_falls_back_to_tokens_without_billed_units),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
