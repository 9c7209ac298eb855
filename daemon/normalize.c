/*
 * normalize.c: provider usage JSON -> events.
 *
 * `tokq record --usage-json` hands us whatever a bot had at hand: a bare
 * usage object, a whole provider response, a stream chunk or event, a DSPy
 * lm.history entry, or an array of those.  We map each onto a struct usage
 * with the contract's meanings: prompt counts every input token (cached
 * included), completion every output token (reasoning included), cached
 * and cache_write are parts of prompt, reasoning is a part of completion,
 * total is prompt + completion unless the provider gives it (never less).
 *
 * Two tables say it all.  places[] is where in a document the usage object
 * sits (usage, usageMetadata, message.usage of an Anthropic message_start,
 * response.usage of a Responses event, ...).  shapes[] is, per provider
 * family, which field adds into which count; markers[] tells the families
 * apart by the names they use.  docs/usage-shapes.md is the same table for
 * people, and tests/data/usage holds a fixture per shape.
 *
 * Everything here is untrusted: every value's type is checked before use,
 * counts must be integers in [0, TOKQ_TOKENS_MAX], sums are overflow-checked
 * and bounded the same way, cost is at most TOKQ_COST_MAX, nesting and array
 * length are capped.  No logging: the reason goes back to the caller in
 * err, one line, ASCII only.
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
#define NORM_MAX_PATH	64		/* bytes of a dotted field path */

/* Where we are, for error messages. */
struct norm_ctx {
	char	*err;
	size_t	 errlen;
	long	 elem;			/* index in the top-level array, or -1 */
};

/* The counts of the contract, as indexes into a shape's sums. */
enum role { R_PROMPT, R_COMPLETION, R_TOTAL, R_CACHED, R_CACHE_WRITE,
	R_REASONING, R_NROLES };
static const char *const role_name[R_NROLES] = { "prompt", "completion",
	"total", "cached", "cache_write", "reasoning" };

#define TO(r)	(1u << (r))
#define ALT	(1u << 8)	/* only when no earlier field gave this count */
#define SOFT	(1u << 9)	/* only as a last resort, and only if it fits */

/*
 * One provider field: its dotted path inside the usage object and the
 * counts its value adds into.  A field may feed two counts (Anthropic's
 * cache reads are prompt and cached); a count may be a sum of fields
 * (Gemini's prompt is promptTokenCount + toolUsePromptTokenCount).
 */
struct norm_field {
	const char	*path;
	unsigned	 to;
};

enum norm_shape { SHAPE_NONE = 0, SHAPE_OPENAI, SHAPE_RESPONSES,
	SHAPE_REALTIME, SHAPE_ANTHROPIC, SHAPE_GEMINI, SHAPE_GEMINI_SNAKE,
	SHAPE_LANGCHAIN, SHAPE_BEDROCK, SHAPE_COHERE_BILLED, SHAPE_COHERE_TOKENS,
	SHAPE_N };

/*
 * OpenAI chat completions, and everyone who speaks it: LiteLLM, DSPy,
 * Mistral, Groq, OpenRouter.  LiteLLM passes Anthropic's cache fields
 * through next to prompt_tokens (which already holds them): the reads are
 * cached when no cached_tokens came, the creations cache_write only when
 * they fit in the uncached rest of prompt, since LiteLLM versions differ on
 * whether prompt_tokens includes them.
 */
static const struct norm_field f_openai[] = {
	{ "prompt_tokens",				TO(R_PROMPT) },
	{ "completion_tokens",				TO(R_COMPLETION) },
	{ "total_tokens",				TO(R_TOTAL) },
	{ "prompt_tokens_details.cached_tokens",	TO(R_CACHED) },
	{ "prompt_tokens_details.cache_write_tokens",	TO(R_CACHE_WRITE) },
	{ "completion_tokens_details.reasoning_tokens",	TO(R_REASONING) },
	{ "cache_read_input_tokens",			TO(R_CACHED) | ALT },
	{ "prompt_tokens_details.cache_creation_tokens", TO(R_CACHE_WRITE) | ALT },
	{ "cache_creation_input_tokens",		TO(R_CACHE_WRITE) | SOFT },
	{ NULL, 0 }
};

/* OpenAI Responses API: input_tokens includes the cached ones. */
static const struct norm_field f_responses[] = {
	{ "input_tokens",				TO(R_PROMPT) },
	{ "output_tokens",				TO(R_COMPLETION) },
	{ "total_tokens",				TO(R_TOTAL) },
	{ "input_tokens_details.cached_tokens",		TO(R_CACHED) },
	{ "input_tokens_details.cache_write_tokens",	TO(R_CACHE_WRITE) },
	{ "output_tokens_details.reasoning_tokens",	TO(R_REASONING) },
	{ NULL, 0 }
};

/*
 * OpenAI Realtime (response.done) and audio transcriptions: the Responses
 * names with input_token_details (singular); cached is within input_tokens.
 */
static const struct norm_field f_realtime[] = {
	{ "input_tokens",				TO(R_PROMPT) },
	{ "output_tokens",				TO(R_COMPLETION) },
	{ "total_tokens",				TO(R_TOTAL) },
	{ "input_token_details.cached_tokens",		TO(R_CACHED) },
	{ NULL, 0 }
};

/* Anthropic: input_tokens leaves out both cache reads and cache writes. */
static const struct norm_field f_anthropic[] = {
	{ "input_tokens",				TO(R_PROMPT) },
	{ "cache_creation_input_tokens",	TO(R_PROMPT) | TO(R_CACHE_WRITE) },
	{ "cache_read_input_tokens",		TO(R_PROMPT) | TO(R_CACHED) },
	{ "output_tokens",				TO(R_COMPLETION) },
	{ "output_tokens_details.thinking_tokens",	TO(R_REASONING) },
	{ NULL, 0 }
};

/*
 * Gemini usageMetadata: tool results fed back to the model are input too,
 * and candidatesTokenCount leaves the thoughts out; totalTokenCount is the
 * sum of all four.  responseTokenCount is the Live API's candidates.
 */
static const struct norm_field f_gemini[] = {
	{ "promptTokenCount",				TO(R_PROMPT) },
	{ "toolUsePromptTokenCount",			TO(R_PROMPT) },
	{ "candidatesTokenCount",			TO(R_COMPLETION) },
	{ "responseTokenCount",				TO(R_COMPLETION) },
	{ "thoughtsTokenCount",		TO(R_COMPLETION) | TO(R_REASONING) },
	{ "cachedContentTokenCount",			TO(R_CACHED) },
	{ "totalTokenCount",				TO(R_TOTAL) },
	{ NULL, 0 }
};

/* The same as Python SDKs dump it (model_dump, to_dict). */
static const struct norm_field f_gemini_snake[] = {
	{ "prompt_token_count",				TO(R_PROMPT) },
	{ "tool_use_prompt_token_count",		TO(R_PROMPT) },
	{ "candidates_token_count",			TO(R_COMPLETION) },
	{ "response_token_count",			TO(R_COMPLETION) },
	{ "thoughts_token_count",	TO(R_COMPLETION) | TO(R_REASONING) },
	{ "cached_content_token_count",			TO(R_CACHED) },
	{ "total_token_count",				TO(R_TOTAL) },
	{ NULL, 0 }
};

/* LangChain's AIMessage.usage_metadata: input_tokens is every input token. */
static const struct norm_field f_langchain[] = {
	{ "input_tokens",				TO(R_PROMPT) },
	{ "output_tokens",				TO(R_COMPLETION) },
	{ "total_tokens",				TO(R_TOTAL) },
	{ "input_token_details.cache_read",		TO(R_CACHED) },
	{ "input_token_details.cache_creation",		TO(R_CACHE_WRITE) },
	{ "output_token_details.reasoning",		TO(R_REASONING) },
	{ NULL, 0 }
};

/*
 * AWS Bedrock Converse: like Anthropic, inputTokens leaves the cache reads
 * and writes out (totalTokens is the sum of all four), so prompt adds them.
 */
static const struct norm_field f_bedrock[] = {
	{ "inputTokens",				TO(R_PROMPT) },
	{ "cacheReadInputTokens",		TO(R_PROMPT) | TO(R_CACHED) },
	{ "cacheWriteInputTokens",	TO(R_PROMPT) | TO(R_CACHE_WRITE) },
	{ "outputTokens",				TO(R_COMPLETION) },
	{ "totalTokens",				TO(R_TOTAL) },
	{ NULL, 0 }
};

/*
 * Cohere: billed_units is what is paid for; tokens (which also counts the
 * prompt template) only when no billed_units came.
 */
static const struct norm_field f_cohere_billed[] = {
	{ "billed_units.input_tokens",			TO(R_PROMPT) },
	{ "billed_units.output_tokens",			TO(R_COMPLETION) },
	{ NULL, 0 }
};
static const struct norm_field f_cohere_tokens[] = {
	{ "tokens.input_tokens",			TO(R_PROMPT) },
	{ "tokens.output_tokens",			TO(R_COMPLETION) },
	{ NULL, 0 }
};

static const struct norm_field *const shapes[SHAPE_N] = {
	[SHAPE_OPENAI] = f_openai,
	[SHAPE_RESPONSES] = f_responses,
	[SHAPE_REALTIME] = f_realtime,
	[SHAPE_ANTHROPIC] = f_anthropic,
	[SHAPE_GEMINI] = f_gemini,
	[SHAPE_GEMINI_SNAKE] = f_gemini_snake,
	[SHAPE_LANGCHAIN] = f_langchain,
	[SHAPE_BEDROCK] = f_bedrock,
	[SHAPE_COHERE_BILLED] = f_cohere_billed,
	[SHAPE_COHERE_TOKENS] = f_cohere_tokens,
};

/*
 * Which family a usage object belongs to: the first marker it has (present,
 * even as null) decides.  Anthropic's cache fields come before input_tokens,
 * which Anthropic shares with the Responses API; where neither cache fields
 * nor thinking_tokens are there, the two read input/output the same.  The
 * Realtime API and LangChain share input_token_details: only Realtime's
 * has cached_tokens, and without it the two read the same too.
 */
static const struct {
	const char	*path;
	enum norm_shape	 shape;
} markers[] = {
	{ "prompt_tokens",			SHAPE_OPENAI },
	{ "completion_tokens",			SHAPE_OPENAI },
	{ "promptTokenCount",			SHAPE_GEMINI },
	{ "candidatesTokenCount",		SHAPE_GEMINI },
	{ "responseTokenCount",			SHAPE_GEMINI },
	{ "thoughtsTokenCount",			SHAPE_GEMINI },
	{ "totalTokenCount",			SHAPE_GEMINI },
	{ "cachedContentTokenCount",		SHAPE_GEMINI },
	{ "toolUsePromptTokenCount",		SHAPE_GEMINI },
	{ "prompt_token_count",			SHAPE_GEMINI_SNAKE },
	{ "candidates_token_count",		SHAPE_GEMINI_SNAKE },
	{ "response_token_count",		SHAPE_GEMINI_SNAKE },
	{ "thoughts_token_count",		SHAPE_GEMINI_SNAKE },
	{ "total_token_count",			SHAPE_GEMINI_SNAKE },
	{ "cached_content_token_count",		SHAPE_GEMINI_SNAKE },
	{ "tool_use_prompt_token_count",	SHAPE_GEMINI_SNAKE },
	{ "inputTokens",			SHAPE_BEDROCK },
	{ "outputTokens",			SHAPE_BEDROCK },
	{ "totalTokens",			SHAPE_BEDROCK },
	{ "cacheReadInputTokens",		SHAPE_BEDROCK },
	{ "cacheWriteInputTokens",		SHAPE_BEDROCK },
	{ "billed_units.input_tokens",		SHAPE_COHERE_BILLED },
	{ "billed_units.output_tokens",		SHAPE_COHERE_BILLED },
	{ "cache_creation_input_tokens",	SHAPE_ANTHROPIC },
	{ "cache_read_input_tokens",		SHAPE_ANTHROPIC },
	{ "output_tokens_details.thinking_tokens", SHAPE_ANTHROPIC },
	{ "input_token_details.cached_tokens",	SHAPE_REALTIME },
	{ "input_token_details",		SHAPE_LANGCHAIN },
	{ "output_token_details",		SHAPE_LANGCHAIN },
	{ "input_tokens",			SHAPE_RESPONSES },
	{ "output_tokens",			SHAPE_RESPONSES },
	{ "tokens.input_tokens",		SHAPE_COHERE_TOKENS },
	{ "tokens.output_tokens",		SHAPE_COHERE_TOKENS },
	{ "total_tokens",			SHAPE_OPENAI },
};

/*
 * Where a document keeps its usage object, tried in order; the document
 * itself (a bare usage object) comes last.  A strict place that holds
 * anything but an object or null is an error, and an empty object there is
 * a DSPy cache hit that spent nothing.  The other places are containers of
 * other things too (an OpenAI chunk's delta, a DSPy entry's response):
 * they count only when what they hold has token counts.  usage_metadata is
 * Gemini as Python dumps it, or LangChain's: the markers tell.
 */
static const struct {
	const char	*path;
	bool		 strict;
	enum norm_shape	 shape;		/* SHAPE_NONE: by the markers */
} places[] = {
	{ "usageMetadata",		true,	SHAPE_GEMINI },
	{ "usage_metadata",		true,	SHAPE_NONE },
	{ "usage",			true,	SHAPE_NONE },
	{ "message.usage",		false,	SHAPE_NONE },	/* Anthropic message_start */
	{ "response.usageMetadata",	false,	SHAPE_GEMINI },
	{ "response.usage",		false,	SHAPE_NONE },	/* Responses events, DSPy */
	{ "response.meta",		false,	SHAPE_NONE },	/* Cohere v1 stream-end */
	{ "meta",			false,	SHAPE_NONE },	/* Cohere v1 */
	{ "metadata.usage",		false,	SHAPE_NONE },	/* Bedrock ConverseStream */
	{ "x_groq.usage",		false,	SHAPE_NONE },	/* Groq stream */
	{ "delta.usage",		false,	SHAPE_NONE },	/* Cohere v2 message-end */
};
#define NORM_LOOKED_FOR	"no token counts found: looked for usage, " \
	"usageMetadata, usage_metadata, message.usage, response.usage, meta, " \
	"metadata.usage, x_groq.usage, delta.usage and top-level " \
	"prompt_tokens, input_tokens, inputTokens, promptTokenCount"

/* Where the model is named, in order. */
static const char *const model_places[] = { "model", "modelVersion",
	"model_version", "message.model", "response.model",
	"response.modelVersion", "response.model_version",
	"response_metadata.model_name" /* LangChain */ };

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
 * Follow a dotted path of object keys from the object obj.  Returns the
 * value, or NULL when some step is absent or null.  When a step meets
 * something that is not an object, *bad is the length of the path up to
 * it (> 0), else 0.
 */
static json_t *
norm_get(json_t *obj, const char *path, size_t *bad)
{
	char		 key[NORM_MAX_PATH];
	const char	*p = path, *dot;
	size_t		 n;

	*bad = 0;
	for (;;) {
		if (obj == NULL || json_is_null(obj))
			return NULL;
		if (!json_is_object(obj)) {
			if (p > path)
				*bad = (size_t)(p - path - 1);
			return NULL;
		}
		if ((dot = strchr(p, '.')) == NULL)
			return json_object_get(obj, p);
		if ((n = (size_t)(dot - p)) >= sizeof(key))
			return NULL;
		memcpy(key, p, n);
		key[n] = '\0';
		obj = json_object_get(obj, key);
		p = dot + 1;
	}
}

/*
 * Read the token count at path inside obj into *val.  Absent or null
 * leaves *val at 0 and *present false.  A value that is not an integer in
 * [0, TOKQ_TOKENS_MAX] fails (a real with an integral value, as Python
 * floats print, is accepted); the message names the path.
 */
static int
norm_count(struct norm_ctx *c, json_t *obj, const char *path, int64_t *val,
    bool *present)
{
	json_t	*v;
	double	 d;
	size_t	 bad;

	*val = 0;
	*present = false;
	v = norm_get(obj, path, &bad);
	if (bad > 0)
		return norm_fail(c, "%.*s must be an object", (int)bad, path);
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		if (json_integer_value(v) > TOKQ_TOKENS_MAX)
			return norm_fail(c, "%s (%lld) is more than 10^12 tokens",
			    path, (long long)json_integer_value(v));
		*val = json_integer_value(v);
	} else if (json_is_real(v) && (d = json_real_value(v)) >= 0 &&
	    d == floor(d)) {
		if (d > (double)TOKQ_TOKENS_MAX)
			return norm_fail(c, "%s (%.0f) is more than 10^12 tokens",
			    path, d);
		*val = (int64_t)d;
	} else
		return norm_fail(c, "%s must be a non-negative integer", path);
	*present = true;
	return 0;
}

/* The fields of shape f that feed role r, as "a + b + c", for messages. */
static void
norm_role_fields(const struct norm_field *f, enum role r, char *buf,
    size_t len)
{
	size_t	 n = 0;

	buf[0] = '\0';
	for (; f->path != NULL && n < len; f++)
		if (f->to & TO(r))
			n += snprintf(buf + n, len - n, "%s%s", n ? " + " : "",
			    f->path);
}

/* The one count an ALT or SOFT field feeds. */
static enum role
norm_role_of(unsigned to)
{
	int	 r;

	for (r = 0; r < R_NROLES; r++)
		if (to & TO(r))
			return (enum role)r;
	return R_PROMPT;
}

/*
 * Add up the fields of shape f found in the usage object u into *it, each
 * count bounded by TOKQ_TOKENS_MAX.  *seen is set when any field was there.
 */
static int
norm_apply(struct norm_ctx *c, const struct norm_field *f, json_t *u,
    struct norm_item *it, bool *seen)
{
	const struct norm_field	*p;
	int64_t			 sum[R_NROLES] = { 0 }, v;
	bool			 has[R_NROLES] = { false }, present;
	char			 what[160];
	enum role		 r;
	int			 i, rc;

	for (p = f; p->path != NULL; p++) {
		if ((p->to & SOFT) ||
		    ((p->to & ALT) && has[norm_role_of(p->to)]))
			continue;
		if ((rc = norm_count(c, u, p->path, &v, &present)) != 0)
			return rc;
		if (!present)
			continue;
		*seen = true;
		for (i = 0; i < R_NROLES; i++) {
			if (!(p->to & TO(i)))
				continue;
			if (__builtin_add_overflow(sum[i], v, &sum[i]) ||
			    sum[i] > TOKQ_TOKENS_MAX) {
				norm_role_fields(f, (enum role)i, what,
				    sizeof(what));
				return norm_fail(c, "%s tokens (%s) are more "
				    "than 10^12", role_name[i], what);
			}
			has[i] = true;
		}
	}
	/* Last resorts, once the rest is known: they never make prompt lie. */
	for (p = f; p->path != NULL; p++) {
		if (!(p->to & SOFT) || has[r = norm_role_of(p->to)])
			continue;
		if ((rc = norm_count(c, u, p->path, &v, &present)) != 0)
			return rc;
		if (!present)
			continue;
		*seen = true;
		if (sum[R_CACHED] <= sum[R_PROMPT] &&
		    v <= sum[R_PROMPT] - sum[R_CACHED]) {
			sum[r] = v;
			has[r] = true;
		}
	}
	it->u.prompt = sum[R_PROMPT];
	it->u.completion = sum[R_COMPLETION];
	it->u.cached = sum[R_CACHED];
	it->u.cache_write = sum[R_CACHE_WRITE];
	it->u.reasoning = sum[R_REASONING];
	it->u.total = sum[R_TOTAL];
	it->has_total = has[R_TOTAL];
	return 0;
}

/* Which family's names does the usage object u use?  SHAPE_NONE: none. */
static enum norm_shape
norm_detect(json_t *u)
{
	size_t	 i, bad;

	for (i = 0; i < sizeof(markers) / sizeof(markers[0]); i++)
		if (norm_get(u, markers[i].path, &bad) != NULL)
			return markers[i].shape;
	return SHAPE_NONE;
}

/*
 * Find the usage object of the document e (see places[]) and its family.
 * *u is e itself when no place holds one.
 */
static int
norm_locate(struct norm_ctx *c, json_t *e, json_t **u, enum norm_shape *shape)
{
	enum norm_shape	 s;
	json_t		*v;
	size_t		 i, bad;

	for (i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
		if ((v = norm_get(e, places[i].path, &bad)) == NULL ||
		    json_is_null(v))
			continue;
		if (!json_is_object(v)) {
			if (places[i].strict)
				return norm_fail(c, "%s must be an object",
				    places[i].path);
			continue;
		}
		s = places[i].shape != SHAPE_NONE ? places[i].shape :
		    norm_detect(v);
		if (places[i].strict || s != SHAPE_NONE) {
			*u = v;
			*shape = s;
			return 0;
		}
	}
	*u = e;
	*shape = norm_detect(e);
	return 0;
}

/*
 * The model the document names (see model_places[]): a string, "" and
 * null count as absent.  A name that is no valid ID (over 128 bytes, or
 * with control characters) fails.  *model is malloc'd or NULL.
 */
static int
norm_model(struct norm_ctx *c, json_t *e, char **model)
{
	json_t		*v;
	const char	*s;
	size_t		 i, k, n, bad;

	for (k = 0; k < sizeof(model_places) / sizeof(model_places[0]); k++) {
		v = norm_get(e, model_places[k], &bad);
		if (v == NULL || !json_is_string(v) ||
		    (n = json_string_length(v)) == 0)
			continue;
		s = json_string_value(v);
		if (n > NORM_MAX_MODEL)
			return norm_fail(c, "%s is longer than %d bytes",
			    model_places[k], NORM_MAX_MODEL);
		for (i = 0; i < n; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				return norm_fail(c, "%s has control characters",
				    model_places[k]);
		if ((*model = strdup(s)) == NULL) {
			norm_fail(c, "out of memory");
			return -TOKQ_E_INTERNAL;
		}
		return 0;
	}
	return 0;
}

/*
 * obj.cost in USD, as a DSPy history entry or OpenRouter's usage carries
 * it: null or absent means none; else a number from 0 to $1,000,000, kept
 * in nano-USD.  Unless strict, a cost that is not a number is ignored:
 * that is for the usage object, where OpenRouter puts a number but others
 * may put something else.
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
	if (usd > (double)(TOKQ_COST_MAX / TOKQ_NUSD_PER_USD))
		return norm_fail(c, "cost (%.2f USD) is more than $1,000,000",
		    usd);
	it->u.cost = llround(usd * (double)TOKQ_NUSD_PER_USD);
	it->has_cost = true;
	return 0;
}

/*
 * Map one document e onto *it.  An empty usage object in a strict place
 * is a DSPy cache hit, which spent nothing; a document with no token
 * counts anywhere fails.  On failure it->model may be set; the caller
 * frees it.
 */
static int
norm_element(struct norm_ctx *c, json_t *e, struct norm_item *it)
{
	enum norm_shape	 shape = SHAPE_NONE;
	json_t		*u = e;
	const char	*tf;
	int64_t		 pc;
	bool		 seen = false;
	size_t		 k;
	int		 r;

	memset(it, 0, sizeof(*it));
	it->u.requests = 1;
	if (!json_is_object(e))
		return norm_fail(c, "not an object");
	if ((r = norm_locate(c, e, &u, &shape)) != 0)
		return r;
	if (shape != SHAPE_NONE &&
	    (r = norm_apply(c, shapes[shape], u, it, &seen)) != 0)
		return r;
	if (!seen && !(u != e && json_object_size(u) == 0))
		return norm_fail(c, NORM_LOOKED_FOR);

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
	pc = it->u.prompt + it->u.completion;	/* each <= 10^12 */
	if (it->has_total && it->u.total < pc) {
		for (tf = "total", k = 0; shapes[shape][k].path != NULL; k++)
			if (shapes[shape][k].to & TO(R_TOTAL))
				tf = shapes[shape][k].path;
		return norm_fail(c, "%s (%lld) is less than prompt + completion "
		    "(%lld)", tf, (long long)it->u.total, (long long)pc);
	}
	if (!it->has_total) {
		if (pc > TOKQ_TOKENS_MAX)
			return norm_fail(c, "prompt + completion (%lld) is more "
			    "than 10^12 tokens", (long long)pc);
		it->u.total = pc;
	}

	if ((r = norm_model(c, e, &it->model)) != 0)
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
