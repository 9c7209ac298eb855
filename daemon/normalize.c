/*
 * normalize.c: provider usage JSON -> events.
 *
 * `tokq record --usage-json` hands us whatever a bot had at hand: a bare
 * usage object, a whole provider response, a DSPy lm.history entry, or an
 * array of those.  We map each onto a struct usage with the contract's
 * meanings: prompt counts every input token (cached included), completion
 * every output token (reasoning included), cached and cache_write are parts
 * of prompt, reasoning is a part of completion.
 *
 *	OpenAI, LiteLLM, DSPy	prompt_tokens, completion_tokens, total_tokens,
 *				prompt_tokens_details.cached_tokens,
 *				completion_tokens_details.reasoning_tokens
 *	OpenAI Responses	input_tokens, output_tokens, total_tokens,
 *				input_tokens_details.cached_tokens,
 *				output_tokens_details.reasoning_tokens
 *	Anthropic		input_tokens + cache_creation_input_tokens +
 *				cache_read_input_tokens, output_tokens
 *	Gemini			usageMetadata.promptTokenCount,
 *				candidatesTokenCount + thoughtsTokenCount, ...
 *
 * Everything here is untrusted: every value's type is checked before use,
 * counts must be integers in [0, INT64_MAX], sums are overflow-checked,
 * nesting and array length are capped.  No logging: the reason goes back
 * to the caller in err, one line, ASCII only.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tokqd.h"

#define NORM_MAX_DEPTH	32		/* containers inside containers */
#define NORM_MAX_ITEMS	10000		/* elements of a top-level array */
#define NORM_MAX_MODEL	128		/* bytes, as for every ID */
#define NORM_MAX_EXACT	9007199254740992.0	/* 2^53: reals exact up to here */

/* Where we are, for error messages. */
struct norm_ctx {
	char	*err;
	size_t	 errlen;
	long	 elem;			/* index in the top-level array, or -1 */
};

enum norm_shape { SHAPE_NONE = 0, SHAPE_OPENAI, SHAPE_RESPONSES, SHAPE_ANTHROPIC,
	SHAPE_GEMINI };

static int	norm_fail(struct norm_ctx *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/*
 * Write "usage JSON: [element N: ]reason" into the caller's buffer and
 * return -TOKQ_E_INVALID, so callers can `return norm_fail(...)`.
 */
static int
norm_fail(struct norm_ctx *c, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (c->err == NULL || c->errlen == 0)
		return -TOKQ_E_INVALID;
	if (c->elem >= 0)
		n = snprintf(c->err, c->errlen, "usage JSON: element %ld: ",
		    c->elem);
	else
		n = snprintf(c->err, c->errlen, "usage JSON: ");
	if (n >= 0 && (size_t)n < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -TOKQ_E_INVALID;
}

/* Keep the reason on one printable ASCII line, whatever the input held. */
static void
norm_clean_err(char *err, size_t errlen)
{
	unsigned char	*p;

	if (err == NULL || errlen == 0)
		return;
	for (p = (unsigned char *)err; *p != '\0'; p++)
		if (*p < 0x20 || *p >= 0x7f)
			*p = '?';
}

/*
 * True when j holds containers nested more than NORM_MAX_DEPTH deep (the
 * top level is depth 1).  The recursion stops at the limit, so it is
 * bounded however deep jansson let the input go.
 */
static bool
norm_too_deep(json_t *j, int depth)
{
	const char	*key;
	json_t		*v;
	size_t		 i;

	if (!json_is_object(j) && !json_is_array(j))
		return false;
	if (depth > NORM_MAX_DEPTH)
		return true;
	if (json_is_object(j)) {
		json_object_foreach(j, key, v)
			if (norm_too_deep(v, depth + 1))
				return true;
	} else {
		json_array_foreach(j, i, v)
			if (norm_too_deep(v, depth + 1))
				return true;
	}
	return false;
}

/*
 * Read the token count obj[key] into *val.  Absent or null leaves *val at
 * 0 and returns 0; so does a count that is present, but that also sets
 * *seen.  A value that is not an integer in [0, INT64_MAX] (a real with an
 * integral value up to 2^53, as Python floats print, is accepted) fails;
 * the message names the field as prefix + key.
 */
static int
norm_count(struct norm_ctx *c, json_t *obj, const char *prefix, const char *key,
    int64_t *val, bool *seen)
{
	json_t	*v;
	double	 d;

	*val = 0;
	if ((v = json_object_get(obj, key)) == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*val = json_integer_value(v);
	} else if (json_is_real(v) && (d = json_real_value(v)) >= 0 &&
	    d <= NORM_MAX_EXACT && d == floor(d)) {
		*val = (int64_t)d;
	} else
		return norm_fail(c, "%s%s must be a non-negative integer",
		    prefix, key);
	if (seen != NULL)
		*seen = true;
	return 0;
}

/*
 * Find obj[key] as an object: *out is NULL when absent or null.  Any other
 * type fails.
 */
static int
norm_object(struct norm_ctx *c, json_t *obj, const char *key, json_t **out)
{
	json_t	*v;

	*out = NULL;
	if ((v = json_object_get(obj, key)) == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return norm_fail(c, "%s must be an object", key);
	*out = v;
	return 0;
}

/* a + b into *sum, failing on overflow with field names for the reason. */
static int
norm_add(struct norm_ctx *c, int64_t a, int64_t b, int64_t *sum, const char *what)
{
	if (__builtin_add_overflow(a, b, sum))
		return norm_fail(c, "%s overflows a 64-bit count", what);
	return 0;
}

/* Which provider's names does the usage object u use? */
static enum norm_shape
norm_shape(json_t *u)
{
	static const char *const gemini[] = { "promptTokenCount",
	    "candidatesTokenCount", "thoughtsTokenCount", "totalTokenCount",
	    "cachedContentTokenCount" };
	size_t	 i;

	if (json_object_get(u, "prompt_tokens") != NULL ||
	    json_object_get(u, "completion_tokens") != NULL)
		return SHAPE_OPENAI;
	for (i = 0; i < sizeof(gemini) / sizeof(gemini[0]); i++)
		if (json_object_get(u, gemini[i]) != NULL)
			return SHAPE_GEMINI;
	if (json_object_get(u, "cache_creation_input_tokens") != NULL ||
	    json_object_get(u, "cache_read_input_tokens") != NULL)
		return SHAPE_ANTHROPIC;
	if (json_object_get(u, "input_tokens") != NULL ||
	    json_object_get(u, "output_tokens") != NULL)
		return SHAPE_RESPONSES;
	if (json_object_get(u, "total_tokens") != NULL)
		return SHAPE_OPENAI;
	return SHAPE_NONE;
}

/*
 * OpenAI chat completions (and LiteLLM, DSPy) or the Responses API: the
 * same meanings under two sets of names.  LiteLLM passes Anthropic's
 * cache_creation_input_tokens through next to prompt_tokens; it becomes
 * cache_write only when it fits in the uncached part of prompt, since
 * LiteLLM versions differ on whether prompt_tokens includes it.
 */
static int
norm_openai(struct norm_ctx *c, json_t *u, bool responses, struct norm_item *it,
    bool *seen)
{
	const char	*in = responses ? "input_tokens" : "prompt_tokens";
	const char	*out = responses ? "output_tokens" : "completion_tokens";
	const char	*ind = responses ? "input_tokens_details" :
			    "prompt_tokens_details";
	const char	*outd = responses ? "output_tokens_details" :
			    "completion_tokens_details";
	char		 pfx[64];
	json_t		*d;
	int64_t		 total, cw;
	bool		 has_total = false, has_cached = false;
	int		 r;

	if ((r = norm_count(c, u, "", in, &it->u.prompt, seen)) != 0 ||
	    (r = norm_count(c, u, "", out, &it->u.completion, seen)) != 0 ||
	    (r = norm_count(c, u, "", "total_tokens", &total, &has_total)) != 0)
		return r;
	if ((r = norm_object(c, u, ind, &d)) != 0)
		return r;
	if (d != NULL) {
		snprintf(pfx, sizeof(pfx), "%s.", ind);
		if ((r = norm_count(c, d, pfx, "cached_tokens", &it->u.cached,
		    &has_cached)) != 0)
			return r;
	}
	if ((r = norm_object(c, u, outd, &d)) != 0)
		return r;
	if (d != NULL) {
		snprintf(pfx, sizeof(pfx), "%s.", outd);
		if ((r = norm_count(c, d, pfx, "reasoning_tokens",
		    &it->u.reasoning, NULL)) != 0)
			return r;
	}
	if (!responses) {
		if (!has_cached && (r = norm_count(c, u, "",
		    "cache_read_input_tokens", &it->u.cached, NULL)) != 0)
			return r;
		if ((r = norm_count(c, u, "", "cache_creation_input_tokens",
		    &cw, NULL)) != 0)
			return r;
		if (it->u.cached <= it->u.prompt &&
		    cw <= it->u.prompt - it->u.cached)
			it->u.cache_write = cw;
	}
	if (has_total) {
		*seen = true;
		it->u.total = total;
		it->has_total = true;
	}
	return 0;
}

/* Anthropic: input_tokens excludes both cache reads and cache writes. */
static int
norm_anthropic(struct norm_ctx *c, json_t *u, struct norm_item *it, bool *seen)
{
	int64_t	 input;
	int	 r;

	if ((r = norm_count(c, u, "", "input_tokens", &input, seen)) != 0 ||
	    (r = norm_count(c, u, "", "cache_creation_input_tokens",
	    &it->u.cache_write, seen)) != 0 ||
	    (r = norm_count(c, u, "", "cache_read_input_tokens",
	    &it->u.cached, seen)) != 0 ||
	    (r = norm_count(c, u, "", "output_tokens", &it->u.completion,
	    seen)) != 0)
		return r;
	if ((r = norm_add(c, input, it->u.cache_write, &it->u.prompt,
	    "input_tokens + cache_creation_input_tokens")) != 0 ||
	    (r = norm_add(c, it->u.prompt, it->u.cached, &it->u.prompt,
	    "input_tokens + cache tokens")) != 0)
		return r;
	return 0;
}

/*
 * Gemini usageMetadata: candidatesTokenCount leaves the thoughts out, so
 * completion is their sum.  totalTokenCount also counts tool-use prompt
 * tokens, which is why it is kept as given.
 */
static int
norm_gemini(struct norm_ctx *c, json_t *u, struct norm_item *it, bool *seen)
{
	int64_t	 cand, total;
	bool	 has_total = false;
	int	 r;

	if ((r = norm_count(c, u, "", "promptTokenCount", &it->u.prompt,
	    seen)) != 0 ||
	    (r = norm_count(c, u, "", "candidatesTokenCount", &cand,
	    seen)) != 0 ||
	    (r = norm_count(c, u, "", "thoughtsTokenCount", &it->u.reasoning,
	    seen)) != 0 ||
	    (r = norm_count(c, u, "", "cachedContentTokenCount",
	    &it->u.cached, seen)) != 0 ||
	    (r = norm_count(c, u, "", "totalTokenCount", &total,
	    &has_total)) != 0)
		return r;
	if ((r = norm_add(c, cand, it->u.reasoning, &it->u.completion,
	    "candidatesTokenCount + thoughtsTokenCount")) != 0)
		return r;
	if (has_total) {
		*seen = true;
		it->u.total = total;
		it->has_total = true;
	}
	return 0;
}

/*
 * The model a response or history entry names: a string at key, "" and
 * null count as absent.  A name that is no valid ID (over 128 bytes, or
 * with control characters) fails.  *model is malloc'd or NULL.
 */
static int
norm_model(struct norm_ctx *c, json_t *obj, const char *key, char **model)
{
	json_t		*v;
	const char	*s;
	size_t		 i, n;

	if (*model != NULL || obj == NULL)
		return 0;
	if ((v = json_object_get(obj, key)) == NULL || !json_is_string(v))
		return 0;
	s = json_string_value(v);
	if ((n = json_string_length(v)) == 0)
		return 0;
	if (n > NORM_MAX_MODEL)
		return norm_fail(c, "%s is longer than %d bytes", key,
		    NORM_MAX_MODEL);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return norm_fail(c, "%s has control characters", key);
	if ((*model = strdup(s)) == NULL) {
		norm_fail(c, "out of memory");
		return -TOKQ_E_INTERNAL;
	}
	return 0;
}

/*
 * obj.cost in USD, as a DSPy history entry carries it: null or absent
 * means none; else a non-negative number, kept in nano-USD.  Unless
 * strict, a cost that is not a number is ignored: that is for the usage
 * object itself, where OpenRouter puts a number but others may not.
 */
static int
norm_cost(struct norm_ctx *c, json_t *obj, bool strict, struct norm_item *it)
{
	json_t	*v;
	double	 usd;

	if (it->has_cost || obj == NULL)
		return 0;
	if ((v = json_object_get(obj, "cost")) == NULL || json_is_null(v))
		return 0;
	if (!strict && !json_is_number(v))
		return 0;
	if (!json_is_number(v) || (usd = json_number_value(v)) < 0 ||
	    !isfinite(usd))
		return norm_fail(c, "cost must be a non-negative number (USD)");
	if (usd >= 9.2e9)
		return norm_fail(c, "cost is too large");
	it->u.cost = llround(usd * 1e9);
	it->has_cost = true;
	return 0;
}

/*
 * Map one object e onto *it.  The usage is, in this order, e.usageMetadata
 * (Gemini response), e.usage (OpenAI or Anthropic response, DSPy history
 * entry), the same two inside e.response, or e itself (a bare usage
 * object).  An empty usage object is a DSPy cache hit, which spent
 * nothing; an object with no token counts anywhere fails.  On failure
 * it->model may be set; the caller frees it.
 */
static int
norm_element(struct norm_ctx *c, json_t *e, struct norm_item *it)
{
	enum norm_shape	 shape;
	json_t		*u, *resp;
	bool		 seen = false, gemini = false;
	int		 r;

	memset(it, 0, sizeof(*it));
	it->u.requests = 1;
	if (!json_is_object(e))
		return norm_fail(c, "not an object");

	if ((r = norm_object(c, e, "response", &resp)) != 0)
		return r;
	if ((r = norm_object(c, e, "usageMetadata", &u)) != 0)
		return r;
	if (u != NULL)
		gemini = true;
	else if ((r = norm_object(c, e, "usage", &u)) != 0)
		return r;
	if (u == NULL && resp != NULL) {
		if ((r = norm_object(c, resp, "usageMetadata", &u)) != 0)
			return r;
		if (u != NULL)
			gemini = true;
		else if ((r = norm_object(c, resp, "usage", &u)) != 0)
			return r;
	}
	if (u == NULL)
		u = e;

	shape = gemini ? SHAPE_GEMINI : norm_shape(u);
	switch (shape) {
	case SHAPE_OPENAI:
		r = norm_openai(c, u, false, it, &seen);
		break;
	case SHAPE_RESPONSES:
		r = norm_openai(c, u, true, it, &seen);
		break;
	case SHAPE_ANTHROPIC:
		r = norm_anthropic(c, u, it, &seen);
		break;
	case SHAPE_GEMINI:
		r = norm_gemini(c, u, it, &seen);
		break;
	default:
		r = 0;
		break;
	}
	if (r != 0)
		return r;
	if (!seen && !(u != e && json_object_size(u) == 0))
		return norm_fail(c, "no token counts found");

	if (it->u.cached > it->u.prompt)
		return norm_fail(c, "cached tokens (%lld) exceed prompt tokens "
		    "(%lld)", (long long)it->u.cached, (long long)it->u.prompt);
	if (it->u.cache_write > it->u.prompt)
		return norm_fail(c, "cache-write tokens (%lld) exceed prompt "
		    "tokens (%lld)", (long long)it->u.cache_write,
		    (long long)it->u.prompt);
	if (it->u.reasoning > it->u.completion)
		return norm_fail(c, "reasoning tokens (%lld) exceed completion "
		    "tokens (%lld)", (long long)it->u.reasoning,
		    (long long)it->u.completion);
	if (!it->has_total && (r = norm_add(c, it->u.prompt, it->u.completion,
	    &it->u.total, "prompt + completion")) != 0)
		return r;

	if ((r = norm_model(c, e, "model", &it->model)) != 0 ||
	    (r = norm_model(c, e, "modelVersion", &it->model)) != 0 ||
	    (r = norm_model(c, resp, "model", &it->model)) != 0 ||
	    (r = norm_model(c, resp, "modelVersion", &it->model)) != 0)
		return r;
	if ((r = norm_cost(c, e, true, it)) != 0 ||
	    (r = norm_cost(c, u != e ? u : NULL, false, it)) != 0)
		return r;
	return 0;
}

/*
 * Parse len bytes of usage JSON into *nitems events.  A top-level object
 * gives one item with call -1; an array gives one per element, call 0,
 * 1, 2 ....  Returns 0 with *items malloc'd (free with normalize_free), or
 * -TOKQ_E_INVALID (-TOKQ_E_INTERNAL when out of memory) with *items NULL,
 * *nitems 0 and a one-line reason in err.  Nothing is kept of the input.
 */
int
normalize_usage_json(const char *json, size_t len, struct norm_item **items,
    size_t *nitems, char *err, size_t errlen)
{
	struct norm_ctx		 c = { err, errlen, -1 };
	struct norm_item	*it = NULL;
	json_error_t		 jerr;
	json_t			*root;
	size_t			 i, n;
	int			 r = 0;

	*items = NULL;
	*nitems = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (json == NULL)
		return norm_fail(&c, "no input");

	if ((root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		norm_fail(&c, "line %d column %d: %s", jerr.line, jerr.column,
		    jerr.text);
		norm_clean_err(err, errlen);
		return -TOKQ_E_INVALID;
	}
	if (norm_too_deep(root, 1)) {
		r = norm_fail(&c, "nested deeper than %d levels",
		    NORM_MAX_DEPTH);
		goto out;
	}

	n = json_is_array(root) ? json_array_size(root) : 1;
	if (n == 0) {
		r = norm_fail(&c, "empty array");
		goto out;
	}
	if (n > NORM_MAX_ITEMS) {
		r = norm_fail(&c, "array has %zu elements, more than %d", n,
		    NORM_MAX_ITEMS);
		goto out;
	}
	if ((it = calloc(n, sizeof(*it))) == NULL) {
		norm_fail(&c, "out of memory");
		r = -TOKQ_E_INTERNAL;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (json_is_array(root)) {
			c.elem = (long)i;
			r = norm_element(&c, json_array_get(root, i), &it[i]);
			it[i].call = (int64_t)i;
		} else {
			r = norm_element(&c, root, &it[i]);
			it[i].call = -1;
		}
		if (r != 0) {
			normalize_free(it, i + 1);
			it = NULL;
			goto out;
		}
	}
	*items = it;
	*nitems = n;
out:
	json_decref(root);
	norm_clean_err(err, errlen);
	return r;
}

/* Free what normalize_usage_json returned; NULL is fine. */
void
normalize_free(struct norm_item *items, size_t nitems)
{
	size_t	 i;

	if (items == NULL)
		return;
	for (i = 0; i < nitems; i++)
		free(items[i].model);
	free(items);
}
