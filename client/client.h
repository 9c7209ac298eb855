/*
 * client.h: the table of contents of tokq, the client.
 *
 * The calls go one way, top to bottom, and answers come back up once:
 *	tokq.c		main: globals, help or one command, the exit code
 *	batch.c		tokq batch: one command a line, one connection kept
 *	help.c		tokq help, CMD --help, the bash completion
 *	cmds.c		the command table: words, op, flags, printer, help
 *	transfer.c	export and import: many requests, files both ways
 *	screen_bot.c	what check, record, release, usage, status print
 *	screen_admin.c	what the admin commands print
 *	args.c		argv into a request: the flag kinds and their judging
 *	request.c	pack, send, check the reply; cmd_exec in-process
 *	conn.c		the one connection to tokqd
 *	fmt.c		numbers, money, rules and tables for people
 *	json.c		JSON output (jansson)
 *	reply.c		reading the reply map
 *	fail.c		the one error path: the stderr line and the exit code
 * Nothing below main exits: an error is formed once in the job by fail.c
 * and its code returned upward.
 */
#ifndef CLIENT_H
#define CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include <msgpack.h>

#include "tokq.h"

/*
 * What a flag's argument is: its syntax and range, which args.c's table
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
	char		*buf;		/* K_USAGE read from a file: owned */
};

#define MAXFLAGS	32

struct cmd;
struct req {
	const struct cmd	*cmd;
	struct val		 v[MAXFLAGS];
};

/*
 * A job: one command as tokq runs it, what the error path and the output
 * share.  It starts zeroed; fail.c fills exit and err once, and the --json
 * output (an answer, or a temporary error's object) waits in out, so a
 * caller in the same process (`tokq batch`, one job a line) gets both.
 */
struct job {
	const struct cmd	*cmd;		/* the command, once known */
	bool			 json;		/* --json: one object on stdout */
	bool			 keyed;		/* --key given: a retry counts once */
	bool			 batch;		/* a line of tokq batch: no files, no stdin */
	bool			 unsent;	/* the connection broke before the whole
						   request was sent: another may take it */
	int			 exit;		/* the code of the error formed */
	char			 err[1600];	/* its one line, without "tokq: " */
	json_t			*out;		/* what --json prints, or NULL */
};

/* The global flags, valid anywhere on the line. */
struct globals {
	const char	*socket;
	bool		 json;
	bool		 help;
	bool		 version;
};

/* A reply kept for a screen: the map in up, pointing into the frame buf. */
struct answer {
	msgpack_unpacked	 up;
	char			*buf;
	const msgpack_object	*reply;
};

typedef int	 (*check_fn)(struct job *, const struct req *);
typedef void	 (*print_fn)(const struct req *, const msgpack_object *);
typedef int	 (*run_fn)(struct job *, const struct req *, const char *sock);

/* cmd.section, for `tokq help` */
enum { S_BOT = 0, S_ADMIN, S_TEST };

struct cmd {
	const char		*words[2];	/* "limit", "set"; or "check", NULL */
	const char		*op;		/* wire op */
	int			 section;
	const struct flag	*flags;		/* ends with a zero row */
	check_fn		 check;		/* rules across flags (0 or 64), or NULL */
	print_fn		 print;		/* human output */
	const char		*help;
	run_fn			 run;		/* many requests (export, import): replaces
						   the one request; returns the exit code */
	const char		*about;		/* more help after the flags, or NULL */
};

/* tokq.c: main */

/* batch.c */
int		 run_batch(struct job *, const struct req *, const char *);

/* help.c */
void		 cmd_help(FILE *, const struct cmd *);
void		 general_help(FILE *, const char *);
int		 help_complete(int, char **);

/* cmds.c */
extern const struct cmd cmds[];
extern const size_t ncmds;
int		 cmd_match(struct job *, char **, int, int *, const char **,
		    const struct cmd **);
void		 group_words(const char *, char *, size_t);

/* transfer.c: export and import, page by page and batch by batch */
int		 run_export(struct job *, const struct req *, const char *);
int		 run_import(struct job *, const struct req *, const char *);

/* screen_bot.c */
void		 print_check(const struct req *, const msgpack_object *);
void		 print_record(const struct req *, const msgpack_object *);
void		 print_release(const struct req *, const msgpack_object *);
void		 print_usage(const struct req *, const msgpack_object *);
void		 print_keys(const struct req *, const msgpack_object *);

/* screen_admin.c */
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

/* args.c */
int		 parse_globals(struct job *, int, char **, struct globals *, char **);
int		 parse_args(struct job *, struct req *, char **, int);
const struct val *req_val(const struct req *, const char *);
const char	*req_str(const struct req *, const char *);
void		 req_free(struct req *);
void		 suggest(const char *, const char **, const char *, char *, size_t);

/* request.c */
void		 request_pack(const struct req *, msgpack_packer *);
int		 request_build(struct job *, const struct req *, msgpack_sbuffer *);
int		 request_prepare(struct job *, const struct req *, const char *,
		    msgpack_sbuffer *, char *, size_t);
int		 cmd_exec(struct job *, const struct req *, const char *,
		    struct answer *);
int		 cmd_result(struct job *, const struct req *, const struct answer *);
void		 answer_free(struct answer *);
int		 client_call(struct job *, int, const msgpack_sbuffer *,
		    msgpack_unpacked *, char **, const msgpack_object **);
int		 reply_of(struct job *, const char *, size_t, msgpack_unpacked *,
		    const msgpack_object **);

/* conn.c */
/* Bytes read from a connection and not yet taken: the replies read ahead. */
struct rbuf {
	char		*p;
	size_t		 off, len, cap;
};
#define CONN_REPLY_MS	30000		/* a reply's timeout */
int		 conn_connect(struct job *, const char *);
int		 conn_connect_retry(struct job *, const char *, int);
int64_t		 conn_now_ms(void);
char		*conn_call(struct job *, int, const char *, size_t, size_t *);
int		 conn_send(struct job *, int, const char *, size_t);
const char	*conn_recv(struct job *, int, struct rbuf *, size_t *);
bool		 conn_buffered(const struct rbuf *);
int		 conn_silent(struct job *);

/* fmt.c */
/* A little table: cells copied in, columns sized, first column left. */
#define TROWS	256
#define TCOLS	12
struct table {
	int	 ncol, nrow, more;
	int	 nleft;		/* columns aligned left; 0: the first only */
	char	 cell[TROWS][TCOLS][72];
};

char		*fmt_int(int64_t, char *, size_t);
char		*fmt_money(double, char *, size_t);
char		*fmt_usd_short(double, char *, size_t);
char		*fmt_amount(const char *, const msgpack_object *, char *, size_t);
char		*rule_label(const msgpack_object *, char *, size_t);
char		*used_of(const msgpack_object *, char *, size_t);
bool		 use_colour(void);
void		 table_row(struct table *, const char **);
void		 table_print(const struct table *, const char *, bool);

/* json.c */
/* Output built in memory, to leave in one write. */
struct obuf {
	char		*p;
	size_t		 len, cap;
	bool		 nomem;		/* an append found no memory: short */
};
#define OBUF_LIT(o, s)	obuf_add((o), (s), sizeof(s) - 1)
void		 obuf_add(struct obuf *, const void *, size_t);
void		 obuf_free(struct obuf *);
int		 json_put_reply(struct obuf *, const msgpack_object *);
void		 json_put(struct obuf *, const json_t *);
void		 json_put_str(struct obuf *, const char *, size_t);
void		 json_put_int(struct obuf *, int64_t);
void		 json_init(void);
json_t		*json_of(const msgpack_object *);
json_t		*json_of_reply(const msgpack_object *);
json_t		*json_text(const char *);
void		 json_write(FILE *, const json_t *);
void		 json_print(FILE *, const json_t *);
void		 json_write_str(FILE *, const char *, size_t);

/* reply.c */
const msgpack_object *mp_get(const msgpack_object *, const char *);
bool		 mp_is(const msgpack_object *, const char *, const char *);
int64_t		 mp_int(const msgpack_object *, const char *, int64_t);
double		 mp_num(const msgpack_object *, const char *, double);
bool		 mp_bool(const msgpack_object *, const char *);
const char	*mp_str(const msgpack_object *, const char *, char *, size_t);
uint32_t	 mp_len(const msgpack_object *);
bool		 mp_is_str(const msgpack_object *, const char *);
double		 mp_as_num(const msgpack_object *, double);
int64_t		 mp_as_int(const msgpack_object *, int64_t);
const char	*mp_as_str(const msgpack_object *, char *, size_t);

/* fail.c */
const char	*cmd_name(const struct cmd *, char *, size_t);
int		 job_fail(struct job *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
int		 usage_fail(struct job *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
int		 group_fail(struct job *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
int		 temp_fail(struct job *, bool, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
int		 job_print(struct job *, int);

#endif
