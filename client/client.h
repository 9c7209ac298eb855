/*
 * client.h: the parts of tokq that its files share.
 *
 * tokq.c holds the command table, the matcher that turns argv into a
 * request, and main; conn.c the one connection to tokqd; output.c the JSON
 * writer and the human printers.  Every command is a row of cmds[]: its
 * words, its wire op, a table of its flags, a one-line help and a printer.
 */
#ifndef CLIENT_H
#define CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <msgpack.h>

#include "tokq.h"

/*
 * What a flag's argument is: its syntax and range, which tokq.c's table
 * vkinds[] judges in one place before anything is sent, and how it travels.
 * The K_SEL*, K_M* and K_CONST kinds fold a flag into fixed wire keys:
 * `--user 42` in `limit set` is {"selector":"user", "subject":"42"},
 * `--cost 2` is {"metric":"cost","limit":2.0}.
 */
enum argkind {
	K_ID,		/* an id (user, guild, model, hold …), sent as str */
	K_KEY,		/* an idempotency key, sent as str */
	K_JSON,		/* str holding a JSON document, judged by the daemon */
	K_USAGE,	/* usage JSON: a file, - for stdin, or the document */
	K_TOKENS,	/* a token count of an event or an estimate, sent as int */
	K_CALL,		/* a call's index in its session */
	K_TTL,		/* a hold's seconds */
	K_DAYS,		/* stats --days */
	K_TOP,		/* stats --top */
	K_RTOP,		/* report --top */
	K_LAST,		/* log --last */
	K_USD,		/* the cost of an event or an estimate, sent as float64 USD */
	K_PRICE,	/* USD per 1M tokens, sent as float64 USD */
	K_TIME,		/* ISO 8601 UTC or YYYY-MM-DD, sent as int Unix seconds */
	K_WINDOW,	/* 30d, 1h, month ..., sent in canonical form */
	K_DURATION,	/* 90s, 15m, 2h, 3d, sent as int seconds */
	K_PERIOD,	/* report --period: day, week or month, sent as str */
	K_RFORMAT,	/* report --format: text, markdown or json; never sent */
	K_XFORMAT,	/* export/import --format: jsonl or csv; never sent */
	K_BOOL,		/* no argument, sends true */
	K_CONST,	/* no argument, sends key = cval */
	K_SEL,		/* selector with a subject (an id): selector = key, subject = arg */
	K_SEL0,		/* selector without subject: selector = key */
	K_MLIMIT,	/* metric = key, limit = int, or -1 */
	K_MCOST,	/* metric = key, limit = usd, or int -1 */
	K_METRIC,	/* metric = key, no argument */
	K_LOCAL,	/* str for tokq itself (a file name): never sent */
	K__MAX
};

/* flag.opts */
#define F_REQ		0x01		/* must be given */
#define F_POS		0x02		/* positional; name is its metavar */
#define F_ONE		0x04		/* exactly one of its group (else at most one) */
#define F_GROUP(n)	((n) << 4)	/* mutually exclusive group 1..15 */
#define F_GROUPOF(o)	(((o) >> 4) & 0xf)

struct flag {
	const char	*name;		/* "user" for --user; metavar if F_POS */
	const char	*meta;		/* argument in help ("U"); NULL: none */
	enum argkind	 kind;
	const char	*key;		/* wire key; selector or metric name */
	const char	*cval;		/* K_CONST: the value sent */
	unsigned	 opts;
	const char	*help;
};

/* A flag's value once parsed; parallel to the command's flag table. */
struct val {
	bool		 set;
	const char	*s;		/* as given (for K_USAGE: the document) */
	size_t		 slen;
	int64_t		 i;		/* ints, times, durations, nano-USD */
	char		 canon[32];	/* K_WINDOW: the canonical form */
};

#define MAXFLAGS	32

struct cmd;
struct req {
	const struct cmd	*cmd;
	struct val		 v[MAXFLAGS];
};

typedef int	 (*check_fn)(const struct req *);
typedef void	 (*print_fn)(const struct req *, const msgpack_object *);
typedef int	 (*run_fn)(const struct req *, const char *sock, bool json);

/* cmd.section, for `tokq help` */
enum { S_BOT = 0, S_ADMIN, S_TEST };

struct cmd {
	const char		*words[2];	/* "limit", "set"; or "check", NULL */
	const char		*op;		/* wire op */
	int			 section;
	const struct flag	*flags;		/* ends with a zero row */
	check_fn		 check;		/* rules across flags, or NULL */
	print_fn		 print;		/* human output */
	const char		*help;
	run_fn			 run;		/* many requests (export, import): replaces
						   the one request; returns the exit code */
};

/* tokq.c */
extern bool	 client_json;		/* --json was given */
extern const struct cmd *client_cmd;	/* the command, once known */
const struct val *req_val(const struct req *, const char *);
const char	*req_str(const struct req *, const char *);
void		 usage_fail(const struct cmd *, const char *, ...)
		    __attribute__((format(printf, 2, 3), noreturn));

/*
 * tokq.c: one request on an open connection; returns the reply map (in
 * up, valid until it is destroyed or reused) or exits as main would.
 */
const msgpack_object *client_call(int fd, const msgpack_sbuffer *req,
		    msgpack_unpacked *up, char **buf);

/*
 * tokq.c: exit 75 in its two cases, with one stderr line and, under --json,
 * one object on stdout: refused as temporary, nothing kept (sent is false
 * or the daemon said so), or the connection lost after the request was
 * sent (the outcome is unknown).
 */
void		 temp_fail(bool unknown, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3), noreturn));
const char	*cmd_name(const struct cmd *, char *, size_t);

/* conn.c */
char		*conn_roundtrip(const char *, const char *, size_t, size_t *);
int		 conn_connect(const char *);
char		*conn_call(int, const char *, size_t, size_t *);

/* output.c: the reply */
const msgpack_object *mp_get(const msgpack_object *, const char *);
bool		 mp_is(const msgpack_object *, const char *, const char *);
int64_t		 mp_int(const msgpack_object *, const char *, int64_t);
double		 mp_num(const msgpack_object *, const char *, double);
bool		 mp_bool(const msgpack_object *, const char *);
const char	*mp_str(const msgpack_object *, const char *, char *, size_t);

/* output.c: printing */
void		 json_reply(FILE *, const msgpack_object *);
void		 print_check(const struct req *, const msgpack_object *);
void		 print_record(const struct req *, const msgpack_object *);
void		 print_release(const struct req *, const msgpack_object *);
void		 print_usage(const struct req *, const msgpack_object *);
void		 print_keys(const struct req *, const msgpack_object *);
void		 print_limit_set(const struct req *, const msgpack_object *);
void		 print_limit_rm(const struct req *, const msgpack_object *);
void		 print_limit_list(const struct req *, const msgpack_object *);
void		 print_plan(const struct req *, const msgpack_object *);
void		 print_plan_list(const struct req *, const msgpack_object *);
void		 print_bypass(const struct req *, const msgpack_object *);
void		 print_bypass_list(const struct req *, const msgpack_object *);
void		 print_reset(const struct req *, const msgpack_object *);
void		 print_price_set(const struct req *, const msgpack_object *);
void		 print_price_list(const struct req *, const msgpack_object *);
void		 print_price_rm(const struct req *, const msgpack_object *);
void		 print_clock(const struct req *, const msgpack_object *);
void		 print_stats(const struct req *, const msgpack_object *);
void		 print_report(const struct req *, const msgpack_object *);
void		 print_log(const struct req *, const msgpack_object *);
void		 json_string(FILE *, const char *, size_t);
char		*fmt_int(int64_t, char *, size_t);

/* transfer.c: export and import, page by page and batch by batch */
int		 run_export(const struct req *, const char *, bool);
int		 run_import(const struct req *, const char *, bool);

#endif
