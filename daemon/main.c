/*
 * main.c: tokqd's start-up, configuration, signals and the event loop.
 *
 * Initialisation runs in dependency order (config, log, store, clock,
 * quota, event loop, control socket, maintenance) and shutdown in exact
 * reverse.  SIGTERM and SIGINT commit what is in flight and exit 0; SIGHUP
 * reloads the config file.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "tokqd.h"

#define DEFAULT_CONFIG	"/etc/tokq/tokqd.conf"

/* What tokqd.conf sets; a reload parses into a fresh copy and swaps it in. */
struct config {
	int	 retention_days;
	int	 warn[8];
	int	 nwarn;
	char	 admin_group[64];
	int64_t	 idle_exit;		/* seconds; 0: never */
	int	 counter_cache_mib;
	int64_t	 max_pending_bytes;
	int	 wal_buffer;		/* WALBUF_AUTO or WALBUF_OFF */
	char	 db[PATH_MAX];		/* db =: after --db and $TOKQ_DB */
	char	 db_schema[64];		/* PostgreSQL: the store's schema */
};
static const struct config config_defaults = {
	.retention_days = 30, .warn = { 80, 95, 100 }, .nwarn = 3,
	.admin_group = "tokq-admin", .idle_exit = 0, .counter_cache_mib = 128,
	.max_pending_bytes = 64 << 20, .wal_buffer = WALBUF_AUTO,
	.db_schema = "tokq",
};
/*
 * max_pending_bytes: at least 4 MiB, so that a few frames of the largest
 * size always fit; at most 64 GiB.
 */
#define PENDING_MIN	(4LL << 20)
#define PENDING_MAX	(64LL << 30)
static struct config	 conf;
static char		 db_schema[64];
static bool		 config_named;	/* --config given: it must be readable */
static int		 wal_buffer_started = -1;	/* read once, at start */
static int64_t		 idle_exit_opt = -1;	/* --idle-exit beats the file */
static int64_t		 idle_exit;
static sd_event_source	*idle_timer;

static __attribute__((noreturn)) void
usage(int rc)
{
	fprintf(rc ? stderr : stdout,
	    "usage: tokqd [--socket PATH] [--db PATH] [--config FILE] [--test-clock]\n"
	    "             [--idle-exit S] [-n] [-v]\n");
	exit(rc);
}

static int
parse_thresholds(const char *v, int *out, int *n)
{
	char	 buf[128], *tok, *save = NULL;
	int	 k = 0, prev = 0;
	int64_t	 x;

	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (tokq_parse_u64(tok, &x) == -1 || x <= prev || x > 100 || k >= 7)
			return -1;
		out[k++] = (int)x;
		prev = (int)x;
	}
	if (k == 0)
		return -1;
	if (out[k - 1] != 100)
		out[k++] = 100;
	*n = k;
	return 0;
}

/*
 * A size in bytes: digits, then optionally K, M or G (KiB, MiB, GiB).
 * 0, or -1 when it is no such size or outside [min, max].
 */
static int
parse_size(const char *v, int64_t min, int64_t max, int64_t *out)
{
	char	 num[32];
	size_t	 n = strspn(v, "0123456789");
	int	 shift = 0;
	int64_t	 x;

	if (n == 0 || n >= sizeof(num))
		return -1;
	switch (v[n]) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	default:
		return -1;
	}
	if (v[n] != '\0' && v[n + 1] != '\0')
		return -1;
	memcpy(num, v, n);
	num[n] = '\0';
	if (tokq_parse_u64(num, &x) == -1 || x > (max >> shift) ||
	    (x << shift) < min)
		return -1;
	*out = x << shift;
	return 0;
}

/*
 * The settings of tokqd.conf (man tokqd.conf): each key's setter takes the
 * value's text, and returns 0, or -1 for a value it refuses.
 */
static int
set_retention_days(struct config *c, const char *v)
{
	int64_t	 x;

	if (tokq_parse_u64(v, &x) == -1 || x < 1 || x > 36600)
		return -1;
	c->retention_days = (int)x;
	return 0;
}

static int
set_warn_thresholds(struct config *c, const char *v)
{
	return parse_thresholds(v, c->warn, &c->nwarn);
}

static int
set_admin_group(struct config *c, const char *v)
{
	if (*v == '\0' || strlen(v) >= sizeof(c->admin_group))
		return -1;
	snprintf(c->admin_group, sizeof(c->admin_group), "%s", v);
	return 0;
}

static int
set_idle_exit(struct config *c, const char *v)
{
	return tokq_parse_duration(v, &c->idle_exit);
}

static int
set_counter_cache_mib(struct config *c, const char *v)
{
	int64_t	 x;

	if (tokq_parse_u64(v, &x) == -1 || x < 1 || x > 1048576)
		return -1;
	c->counter_cache_mib = (int)x;
	return 0;
}

static int
set_max_pending_bytes(struct config *c, const char *v)
{
	return parse_size(v, PENDING_MIN, PENDING_MAX, &c->max_pending_bytes);
}

static int
set_wal_buffer(struct config *c, const char *v)
{
	if (strcmp(v, "auto") == 0)
		c->wal_buffer = WALBUF_AUTO;
	else if (strcmp(v, "off") == 0)
		c->wal_buffer = WALBUF_OFF;
	else
		return -1;
	return 0;
}

static int
set_db(struct config *c, const char *v)
{
	if (*v == '\0' || strlen(v) >= sizeof(c->db))
		return -1;
	snprintf(c->db, sizeof(c->db), "%s", v);
	return 0;
}

/* A schema name as PostgreSQL spells one unquoted: a letter or _, then those and digits. */
static int
set_db_schema(struct config *c, const char *v)
{
	size_t	 n = strlen(v);

	if (n == 0 || n >= sizeof(c->db_schema) || strchr("0123456789$", *v) != NULL ||
	    strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_") != n)
		return -1;
	memcpy(c->db_schema, v, n + 1);
	return 0;
}

static const struct setting {
	const char	*key;
	int		(*set)(struct config *, const char *);
} settings[] = {
	{ "retention_days",	set_retention_days },
	{ "warn_thresholds",	set_warn_thresholds },
	{ "admin_group",	set_admin_group },
	{ "idle_exit",		set_idle_exit },
	{ "counter_cache_mib",	set_counter_cache_mib },
	{ "max_pending_bytes",	set_max_pending_bytes },
	{ "wal_buffer",		set_wal_buffer },
	{ "db",			set_db },
	{ "db_schema",		set_db_schema },
};

/*
 * Read `key = value` lines into *c, starting from the defaults; # starts a
 * comment.  Unknown keys and bad values are errors naming the file and
 * line, and leave *c partly filled: the caller uses it only on success.  A
 * missing default config file is fine; a missing named one, or any file
 * that cannot be read (a directory, no permission, an I/O error), is an
 * error of one line.  Returns 0, -1 for bad settings, -2 for a file that
 * cannot be read.
 */
static int
config_parse(const char *path, bool named, struct config *c)
{
	FILE	*f;
	char	 line[512];
	int	 lineno = 0, bad = 0;

	*c = config_defaults;
	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT && !named)
			return 0;
		log_warn("%s: cannot read the configuration", path);
		return -2;
	}
	while (fgets(line, sizeof(line), f)) {
		char	*k = line, *v, *e;
		size_t	 i;

		lineno++;
		if ((e = strchr(k, '#')) != NULL)
			*e = '\0';
		while (isspace((unsigned char)*k))
			k++;
		e = k + strlen(k);
		while (e > k && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (*k == '\0')
			continue;
		if ((v = strchr(k, '=')) == NULL) {
			log_warnx("%s:%d: expected key = value", path, lineno);
			bad = 1;
			continue;
		}
		for (e = v; e > k && isspace((unsigned char)e[-1]); e--)
			;
		*e = '\0';
		for (v++; isspace((unsigned char)*v); v++)
			;
		for (i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
			if (strcmp(k, settings[i].key) == 0)
				break;
		if (i == sizeof(settings) / sizeof(settings[0]) ||
		    settings[i].set(c, v) == -1) {
			log_warnx("%s:%d: bad setting '%s = %s'", path, lineno, k, v);
			bad = 1;
		}
	}
	if (ferror(f)) {
		log_warn("%s: cannot read the configuration", path);
		bad = 2;
	}
	fclose(f);
	return -bad;
}

/* A postgresql:// or postgres:// URI: the shared store (store_pg.c). */
static bool
db_uri(const char *db)
{
	return strncmp(db, "postgresql://", 13) == 0 ||
	    strncmp(db, "postgres://", 11) == 0;
}

/*
 * Take the database for this process alone: an exclusive flock on PATH.lock
 * (created 0660 beside it, parents made as store_open makes them), held
 * until exit, with our pid written in it.  Two daemons on one database
 * would each count in memory what the other does not see, overspend the
 * limits, and fail on each other's event ids.  Exits at once, with one line
 * naming the database and the holder's pid, when another process has it.
 *
 * A file of its own, not the database: SQLite locks the database with
 * POSIX record locks, which any close() of any descriptor of that file in
 * the process drops, and on NFS Linux emulates flock() with record locks
 * that would collide with SQLite's own.  Readers (sqlite3, tokq-preload
 * --check) ignore the lock file; the file stays after exit, unlocked, so a
 * lock is never mistaken for a stale file (nothing to clean up).
 */
static int
db_lock(const char *dbpath)
{
	char	 path[PATH_MAX], pid[32], *p;
	ssize_t	 n;
	int	 fd;

	if ((size_t)snprintf(path, sizeof(path), "%s.lock", dbpath) >= sizeof(path))
		fatalx("%s: path too long", dbpath);
	for (p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(path, 0750) == -1 && errno != EEXIST)
			fatal("mkdir %s", path);
		*p = '/';
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0660)) == -1)
		fatal("%s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK)
			fatal("flock %s", path);
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strspn(pid, "0123456789")] = '\0';
		fatalx("%s: another tokqd (pid %s) serves this database", dbpath,
		    *pid ? pid : "unknown");
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("%s: cannot write our pid", path);
	return fd;
}

/*
 * Make a parsed config the one in force: what the requests' side reads
 * (config_apply_work), then what the loop reads (config_apply_loop).  With
 * the worker (exec.c) the first half runs on it, between its rounds.
 */
static void
config_apply_work(const struct config *c)
{
	env.retention_days = c->retention_days;
	memcpy(env.warn, c->warn, sizeof(env.warn));
	env.nwarn = c->nwarn;
	env.counter_cache = (size_t)c->counter_cache_mib << 20;
}

static void
config_apply_loop(const struct config *c)
{
	struct group	*gr;

	conf = *c;
	env.max_pending = (size_t)c->max_pending_bytes;
	if (wal_buffer_started != -1 && c->wal_buffer != wal_buffer_started)
		log_info("wal_buffer = %s takes effect at the next start",
		    c->wal_buffer == WALBUF_OFF ? "off" : "auto");
	idle_exit = idle_exit_opt >= 0 ? idle_exit_opt : c->idle_exit;
	gr = getgrnam(c->admin_group);
	env.admin_gid = gr ? gr->gr_gid : (gid_t)-1;
	if (gr == NULL)
		log_debug("admin group %s does not exist", c->admin_group);
}

static void
config_apply(const struct config *c)
{
	config_apply_work(c);
	config_apply_loop(c);
}

static int	idle_cb(sd_event_source *, uint64_t, void *);

/* (Re)arm the idle timer for the idle_exit in force. */
static void
idle_arm(sd_event *ev)
{
	if (idle_exit <= 0) {
		if (idle_timer)
			sd_event_source_set_enabled(idle_timer, SD_EVENT_OFF);
		return;
	}
	if (idle_timer == NULL && sd_event_add_time_relative(ev, &idle_timer,
	    CLOCK_MONOTONIC, (uint64_t)idle_exit * 1000000, 0, idle_cb, NULL) < 0) {
		log_warnx("cannot arm the idle timer");
		return;
	}
	sd_event_source_set_time_relative(idle_timer, (uint64_t)idle_exit * 1000000);
	sd_event_source_set_enabled(idle_timer, SD_EVENT_ONESHOT);
}

/* A reload, as a job of the worker's: its half there, then the loop's. */
struct reload {
	struct job	 j;
	sd_event	*ev;
	struct config	 c;
};

static void
reload_run(struct job *j)
{
	config_apply_work(&((struct reload *)j)->c);
}

static void
reload_done(struct job *j)
{
	struct reload	*r = (struct reload *)j;

	config_apply_loop(&r->c);
	idle_arm(r->ev);
	log_info("config reloaded");
	free(r);
}

static int
signal_cb(sd_event_source *s, const struct signalfd_siginfo *si, void *arg)
{
	if (si->ssi_signo == SIGHUP) {
		struct config	 c;
		struct reload	*r;

		if (config_parse(env.config_path, config_named, &c) < 0) {
			log_warnx("%s: config not reloaded; the old one stays", env.config_path);
			return 0;
		}
		if (exec_on() && (r = calloc(1, sizeof(*r))) != NULL) {
			r->j.run = reload_run;
			r->j.done = reload_done;
			r->ev = sd_event_source_get_event(s);
			r->c = c;
			exec_submit(&r->j);
			return 0;
		}
		config_apply(&c);
		idle_arm(sd_event_source_get_event(s));
		log_info("config reloaded");
		return 0;
	}
	log_info("signal %d: stopping", (int)si->ssi_signo);
	sd_notify(0, "STOPPING=1");
	sd_event_exit(sd_event_source_get_event(s), 0);
	return 0;
}

/*
 * What another daemon of a shared store changed (store_begin reports it,
 * store.h): usage added to a counter in memory is added to it; a counter
 * otherwise changed is dropped at once, to load again when next used;
 * rules, prices and holds, which take the store to reload, are reloaded
 * once the round's transaction is open (stale_settle, exec.c's hook).
 */
static struct {
	bool	 all, holds, dropped;
} stale;

static void
stale_note(const struct stale *st)
{
	struct counter	*c;

	switch (st->kind) {
	case STALE_COUNTER:
		/* Usage added elsewhere: added here too, as quota_add does. */
		if (st->add != NULL && st->model != NULL &&
		    ((c = counter_find(st->sc, st->subject, st->model)) == NULL ||
		    counter_add(c, st->add) == 0))
			break;
		counter_drop(st->sc, st->subject, st->model);
		stale.dropped = true;
		break;
	case STALE_HOLD:
		stale.holds = true;
		break;
	case STALE_SETTINGS:
	case STALE_ALL:
		stale.all = true;	/* rules, plans, prices: reload them all */
		break;
	}
}

/* Apply what stale_note kept; whether memory dropped anything. */
static bool
stale_settle(void)
{
	bool	 dropped = stale.dropped || stale.all;

	if (stale.all)
		quota_invalidate();
	else if (stale.holds && quota_holds_sync() < 0) {
		log_warnx("holds of other daemons not loaded; reloading everything");
		quota_invalidate();
		dropped = true;
	}
	stale.all = stale.holds = stale.dropped = false;
	return dropped;
}

/*
 * Shown in logs: a URI without its password (user:password@ and any
 * password= parameter cut out).
 */
static void
db_shown(const char *db, char *buf, size_t len)
{
	const char	*at, *colon, *p;
	char		*q;
	size_t		 n;

	snprintf(buf, len, "%s", db);
	if (strncmp(db, "postgres", 8) != 0 || (p = strstr(db, "://")) == NULL)
		return;
	p += 3;
	at = strchr(p, '@');
	colon = memchr(p, ':', at ? (size_t)(at - p) : 0);
	if (at && colon && strcspn(p, "/?") > (size_t)(at - p))
		snprintf(buf, len, "%.*s%s", (int)(colon - db), db, at);
	if ((q = strstr(buf, "password=")) != NULL) {
		n = strcspn(q, "&");
		memmove(q + 9, q + n, strlen(q + n) + 1);
	}
}

/* With --idle-exit: exit once no one has been connected for that long. */
static int
idle_cb(sd_event_source *s, uint64_t usec, void *arg)
{
	if (control_nconns() == 0) {
		log_info("idle for %lld s: exiting", (long long)idle_exit);
		sd_event_exit(sd_event_source_get_event(s), 0);
		return 0;
	}
	idle_arm(sd_event_source_get_event(s));
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "db", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "test-clock", no_argument, NULL, 'T' },
		{ "idle-exit", required_argument, NULL, 'I' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	char		 sockpath[PATH_MAX], dbpath[PATH_MAX], dbname[PATH_MAX];
	const char	*sockopt = NULL, *dbopt = NULL;
	bool		 check_only = false;
	int		 ch, verbose = 0, rc, lockfd;
	int64_t		 x;
	sd_event	*ev = NULL;
	sigset_t	 mask;

	env.config_path = DEFAULT_CONFIG;
	while ((ch = getopt_long(argc, argv, "nvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			sockopt = optarg;
			break;
		case 'd':
			dbopt = optarg;
			break;
		case 'c':
			env.config_path = optarg;
			config_named = true;
			break;
		case 'T':
			env.test_clock = true;
			break;
		case 'I':
			if (tokq_parse_duration(optarg, &x) == -1)
				usage(64);
			idle_exit_opt = x;
			break;
		case 'n':
			check_only = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("tokqd %s (protocol %d)\n", TOKQ_VERSION, TOKQ_PROTOCOL);
			return 0;
		case 'h':
			usage(0);
		default:
			usage(64);
		}
	}
	if (optind != argc)
		usage(64);
	log_init(verbose, getenv("JOURNAL_STREAM") != NULL);
	if ((rc = config_parse(env.config_path, config_named, &conf)) == -2)
		exit(1);	/* its one line is out */
	if (rc < 0)
		fatalx("%s: configuration error", env.config_path);
	if (check_only) {
		printf("%s: configuration OK\n", env.config_path);
		return 0;
	}
	config_apply(&conf);
	wal_buffer_started = conf.wal_buffer;
	walbuf_configure(conf.wal_buffer);
	if (tokq_socket_path(sockopt, sockpath, sizeof(sockpath)) == -1)
		fatalx("no socket path: use --socket or set TOKQ_SOCKET");
	if ((dbopt == NULL || *dbopt == '\0') && (getenv("TOKQ_DB") == NULL || *getenv("TOKQ_DB") == '\0') &&
	    conf.db[0] != '\0')
		dbopt = conf.db;
	if (tokq_db_path(dbopt, dbpath, sizeof(dbpath)) == -1)
		fatalx("no database path: use --db or set TOKQ_DB");
	env.socket_path = sockpath;
	db_shown(dbpath, dbname, sizeof(dbname));
	env.db_path = dbname;		/* what status shows: no password */
	/* Read at open and at each reconnection: a reload does not move it. */
	snprintf(db_schema, sizeof(db_schema), "%s", conf.db_schema);
	env.db_schema = db_schema;
	env.uid = getuid();
	env.started = time(NULL);
	umask(0007);

	/* A shared store is shared: its daemons keep each other exact. */
	lockfd = db_uri(dbpath) ? -1 : db_lock(dbpath);
	if (store_open(dbpath) < 0)
		fatalx("cannot open the database %s", dbname);
	store_on_stale(stale_note);
	clock_init();
	/*
	 * A shared store that does not answer yet loads everything at its
	 * first round (STALE_ALL); it has no totals written behind to replay.
	 */
	if (quota_init() < 0) {
		if (!store_remote())
			fatalx("cannot load rules from %s", dbname);
		log_warnx("%s does not answer yet: requests answer \"temporary\" "
		    "until it does", dbname);
	} else if (quota_replay() < 0)
		fatalx("cannot add the last events of %s to its totals", dbname);

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);	/* a file-size limit is a failed write, not death */
	if ((rc = sd_event_default(&ev)) < 0 ||
	    (rc = sd_event_add_signal(ev, NULL, SIGTERM, signal_cb, NULL)) < 0 ||
	    (rc = sd_event_add_signal(ev, NULL, SIGINT, signal_cb, NULL)) < 0 ||
	    (rc = sd_event_add_signal(ev, NULL, SIGHUP, signal_cb, NULL)) < 0 ||
	    (rc = sd_event_set_watchdog(ev, true)) < 0)
		fatalx("event loop: %s", strerror(-rc));
	if (batch_init(ev, control_answer) < 0)
		fatalx("cannot start the group commit");
	if ((store_remote() || getenv("TOKQD_WORKER") != NULL) &&
	    exec_init(ev, stale_settle, quota_prefetch, control_drained) < 0)
		fatalx("cannot start the worker");
	control_init(ev);
	env.socket_activated = control_activated();
	if (maint_init(ev) < 0)
		fatalx("cannot start maintenance");
	idle_arm(ev);

	log_info("tokqd %s ready on %s%s (database %s)", TOKQ_VERSION, sockpath,
	    env.socket_activated ? ", socket-activated" : "", dbname);
	sd_notify(0, "READY=1");
	rc = sd_event_loop(ev);

	sd_event_source_disable_unref(idle_timer);
	maint_shutdown();
	exec_shutdown();
	batch_shutdown();
	control_shutdown();
	quota_shutdown();
	store_close();
	if (lockfd != -1)
		close(lockfd);
	sd_event_unref(ev);
	log_info("stopped");
	return rc < 0 ? 1 : 0;
}
