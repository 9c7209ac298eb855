/*
 * store_backend.h: the seam between the store's face (store.c) and its two
 * backends: SQLite (store_sqlite.c and the store_*.c files beside it, which
 * share store_db.h) and PostgreSQL (store_pg*.c, which share store_pg_sql.h).
 * Private to the store: nothing above store.c sees which backend is under
 * it.  A backend fills one of these tables with its functions, one for
 * each store_* function of tokqd.h with the same arguments and promises;
 * store.c forwards every call to the table store_open() chose.
 */
#ifndef STORE_BACKEND_H
#define STORE_BACKEND_H

#include "tokqd.h"

struct store_backend {
	const char	*name;
	int	 (*open)(const char *path);
	void	 (*close)(void);
	int	 (*begin)(void);
	int	 (*commit)(void);
	void	 (*begin_next)(void);	/* may be NULL: nothing sent ahead */
	void	 (*rollback)(void);
	bool	 (*in_tx)(void);
	int	 (*mark)(enum write_kind w);
	int	 (*unmark)(int rc);
	int	 (*settle)(void);
	bool	 (*remote)(void);
	void	 (*on_stale)(void (*fn)(const struct stale *));
	bool	 (*maint_owner)(void);
	int64_t	 (*db_bytes)(void);
	int	 (*bulk)(bool on);
	int	 (*meta_get)(const char *name, int64_t *val);
	int	 (*meta_set)(const char *name, int64_t val);
	int	 (*event_add)(struct event *ev);
	int	 (*replay)(int (*cb)(void *, const struct event *), void *arg);
	void	 (*tune_parts)(uint64_t usec, size_t min);
	int	 (*bucket_add)(enum scope sc, const char *subject,
	    const char *model, const struct bucket *b);
	int	 (*bucket_load)(enum scope sc, const char *subject,
	    const char *model, int64_t since, int (*cb)(void *,
	    const struct bucket *), void *arg);
	int	 (*bucket_prefetch)(const struct bucket_want *w, size_t n);
	int	 (*bucket_clear)(enum scope sc, const char *subject,
	    const char *model);
	int	 (*counts)(int64_t *events, int64_t *users);
	int	 (*rule_put)(const struct rule *r);
	int	 (*rule_del)(const struct rule *r);
	int	 (*rule_load)(int (*cb)(void *, const struct rule *),
	    void *arg);
	int	 (*plan_set)(const char *user, const char *plan);
	int	 (*plan_load)(int (*cb)(void *, const char *user,
	    const char *plan), void *arg);
	int	 (*bypass_set)(bool guild, const char *id, bool on);
	int	 (*bypass_load)(int (*cb)(void *, bool guild, const char *id),
	    void *arg);
	int	 (*price_put)(const struct price *p);
	int	 (*price_del)(const char *model);
	int	 (*price_load)(int (*cb)(void *, const struct price *),
	    void *arg);
	int	 (*hold_put)(const struct hold *h);
	int	 (*hold_del)(const char *id);
	int	 (*hold_load)(int (*cb)(void *, const struct hold *),
	    void *arg);
	int	 (*key_get)(const char *key, uint64_t *fp, int64_t *first,
	    int64_t *count);
	int	 (*key_put)(const char *key, uint64_t fp, int64_t first,
	    int64_t count, int64_t created);
	int	 (*events_sum)(int64_t first, int64_t count, struct usage *u);
	int	 (*bucket_compact)(int64_t before, int limit);
	int	 (*bucket_prune)(int64_t before, int limit);
	int	 (*events_prune)(int64_t before, int limit);
	int	 (*hourly_prune)(int64_t before, int limit);
	int	 (*month_archive)(int64_t month_start, int64_t month_end,
	    char *cursor, size_t cursorlen, int users);
	int	 (*user_hours_totals)(const char *user, int64_t since,
	    int64_t until, struct usage *u);
	int	 (*user_daily_totals)(const char *user, int64_t day_from,
	    int64_t day_to, struct usage *u);
	int	 (*user_models_totals)(const char *user, int (*cb)(void *,
	    const char *model, const struct usage *), void *arg);
	int	 (*user_models_since)(const char *user, int64_t since,
	    int (*cb)(void *, const char *), void *arg);
	int	 (*view_totals)(const struct view *v, struct usage *u,
	    int64_t *users, int64_t *guilds);
	int	 (*view_group)(const struct view *v, enum view_group g,
	    int64_t limit, int (*cb)(void *, const char *name, int64_t day,
	    const struct usage *), void *arg);
	int	 (*view_user_all)(const char *user, const char *guild,
	    struct usage *u);
	int	 (*events_page)(const struct event_filter *f, bool newest_first,
	    int64_t at, int64_t id, int64_t limit, int (*cb)(void *,
	    const struct event *), void *arg);
	int	 (*daily_page)(const struct daily_row *after, int64_t limit,
	    int (*cb)(void *, const struct daily_row *), void *arg);
	int	 (*daily_events)(int64_t from, int64_t to,
	    int (*cb)(void *, const struct daily_row *), void *arg);
	int	 (*daily_add)(const struct daily_row *r);
};

extern const struct store_backend store_sqlite;	/* store_sqlite.c */
extern const struct store_backend store_pg;	/* store_pg.c */

#endif
