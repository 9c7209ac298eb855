/*
 * reply.h: the request layer's types: the table's, a request's, a reply's.
 *
 * dispatch.c owns the table and the argument checks; the handlers live in
 * ops_bot.c (what bots ask), ops_admin.c (what admins change) and report.c
 * (what admins look at).  They read their arguments and build their replies
 * with reply.c's helpers.  Nothing below the handlers includes this.
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
	A_EVENTS,	/* an array of at most max events, each checked by .each */
};

struct argspec {
	const char	*name;
	enum akind	 kind;
	bool		 required;
	bool		 admin;		/* only an admin may pass it */
	int64_t		 max;		/* A_COUNT, A_USD (nano-USD): the largest value */
	const struct op	*each;		/* A_EVENTS: the table of each event */
};

struct argval {
	bool			 set;
	char			*s;		/* A_ID, A_MODEL, A_STR, A_JSON, A_WINDOW */
	int64_t			 i;		/* counts, times, USD as nano-USD, limits */
	bool			 is_float;	/* A_LIMIT given as a float */
	double			 f;
	bool			 b;
	struct tokq_window	 w;
	struct request		*items;		/* A_EVENTS: each event's arguments */
	uint32_t		 nitems;
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

/* reply.c: arguments by the name the table gives them; NULL/dflt when absent */
extern const char *const sel_names[];		/* by enum selector */
extern const char *const metric_names[];	/* by enum metric */
const struct argval *rq_arg(const struct request *, const char *);
const char	*rq_str(const struct request *, const char *);
int64_t		 rq_int(const struct request *, const char *, int64_t);
int		 rq_fail(struct request *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
int		 rq_failed(struct request *, int);

/* reply.c: packing; rp_key packs a top-level key and counts the pair */
msgpack_packer	*rp_key(struct reply *, const char *);
void		 kv_str(struct reply *, const char *, const char *);
void		 kv_int(struct reply *, const char *, int64_t);
void		 kv_bool(struct reply *, const char *, bool);
void		 kv_time(struct reply *, const char *, int64_t);
void		 kv_limits(struct reply *, const char *, const struct judgement *);
void		 pk_str(msgpack_packer *, const char *);
void		 pk_time(msgpack_packer *, int64_t);
void		 pk_usd(msgpack_packer *, int64_t);
void		 pk_rule(msgpack_packer *, const struct rule *);	/* 6 pairs */
void		 pk_limit(msgpack_packer *, const struct limit_eval *);	/* 13 pairs */
void		 pk_totals_keys(msgpack_packer *, const struct usage *);	/* 8 pairs */
void		 pk_totals(msgpack_packer *, const struct usage *);

/* ops_bot.c: what a bot asks */
int	 h_check(struct request *, struct reply *);
int	 h_record(struct request *, struct reply *);
int	 h_release(struct request *, struct reply *);
int	 h_usage(struct request *, struct reply *);
int	 h_status(struct request *, struct reply *);

/* ops_admin.c: what an admin changes */
int	 h_limit_set(struct request *, struct reply *);
int	 h_limit_rm(struct request *, struct reply *);
int	 h_limit_list(struct request *, struct reply *);
int	 h_plan_assign(struct request *, struct reply *);
int	 h_plan_unassign(struct request *, struct reply *);
int	 h_plan_list(struct request *, struct reply *);
int	 h_bypass_add(struct request *, struct reply *);
int	 h_bypass_rm(struct request *, struct reply *);
int	 h_bypass_list(struct request *, struct reply *);
int	 h_reset(struct request *, struct reply *);
int	 h_price_set(struct request *, struct reply *);
int	 h_price_list(struct request *, struct reply *);
int	 h_price_rm(struct request *, struct reply *);
int	 h_clock_set(struct request *, struct reply *);
int	 h_clock_advance(struct request *, struct reply *);
int	 h_import(struct request *, struct reply *);
int	 h_import_totals(struct request *, struct reply *);

/* report.c: the admin views, read only */
int	 report_stats(struct request *, struct reply *);
int	 report_report(struct request *, struct reply *);
int	 report_log(struct request *, struct reply *);
int	 report_export(struct request *, struct reply *);
int	 report_totals(struct request *, struct reply *);

#endif
