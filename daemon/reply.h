/*
 * reply.h: the request table's types and the reply packers.
 *
 * dispatch.c owns the table, the argument checks and the handlers of the
 * bot and rule operations; report.c holds the admin views (stats, report,
 * log, export, import).  Both build replies with the helpers below, which
 * dispatch.c implements.  Nothing outside these two files includes this.
 */
#ifndef REPLY_H
#define REPLY_H

#include "tokqd.h"

#define MAX_ARGS	32

enum akind {
	A_ID,		/* a valid id */
	A_MODEL,	/* an id, or "*" */
	A_STR,		/* any string (checked by the handler) */
	A_COUNT,	/* an integer >= 0 */
	A_USD,		/* money, float or integer USD, >= 0 */
	A_LIMIT,	/* an integer, or money for cost rules; -1 unlimited */
	A_BOOL,
	A_TIME,		/* Unix seconds */
	A_WINDOW,
	A_JSON,		/* a string holding a JSON document */
	A_ARRAY,	/* an array, its items checked by the handler */
};

struct argspec {
	const char	*name;
	enum akind	 kind;
	bool		 required;
	bool		 admin;		/* only an admin may pass it */
	int64_t		 max;		/* A_COUNT, A_USD (nano-USD): the largest value */
};

struct argval {
	bool			 set;
	char			*s;		/* A_ID, A_MODEL, A_STR, A_JSON, A_WINDOW */
	int64_t			 i;		/* counts, times, USD as nano-USD, limits */
	bool			 is_float;	/* A_LIMIT given as a float */
	double			 f;
	bool			 b;
	struct tokq_window	 w;
	const msgpack_object	*o;		/* A_ARRAY: borrowed from the request */
};

struct request {
	const struct op		*op;
	const struct peer	*peer;
	struct argval		 v[MAX_ARGS];
	char			 err[256];
	bool			 wrote;		/* the reply waits for the commit */
};

struct reply {
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	uint32_t	 n;		/* top-level pairs packed */
};

struct op {
	const char	*name;
	int		(*handler)(struct request *, struct reply *);
	bool		 admin;		/* only an admin may ask */
	enum write_kind	 writes;	/* not WRITES_NONE: under a savepoint of its own */
	struct argspec	 args[MAX_ARGS];
};

/* dispatch.c: arguments by the name the table gives them; NULL/dflt when absent */
const struct argval *rq_arg(const struct request *, const char *);
const char	*rq_str(const struct request *, const char *);
int64_t		 rq_int(const struct request *, const char *, int64_t);
int		 rq_fail(struct request *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
int		 rq_failed(struct request *, int);

/* dispatch.c: packing; rp_key packs a top-level key and counts the pair */
msgpack_packer	*rp_key(struct reply *, const char *);
void		 kv_str(struct reply *, const char *, const char *);
void		 kv_int(struct reply *, const char *, int64_t);
void		 kv_bool(struct reply *, const char *, bool);
void		 kv_time(struct reply *, const char *, int64_t);
void		 pk_str(msgpack_packer *, const char *);
void		 pk_time(msgpack_packer *, int64_t);
void		 pk_usd(msgpack_packer *, int64_t);
void		 pk_totals_keys(msgpack_packer *, const struct usage *);	/* 8 pairs */
void		 pk_totals(msgpack_packer *, const struct usage *);

/* report.c: the admin views */
int	 report_stats(struct request *, struct reply *);
int	 report_report(struct request *, struct reply *);
int	 report_log(struct request *, struct reply *);
int	 report_export(struct request *, struct reply *);
int	 report_import(struct request *, struct reply *);

#endif
