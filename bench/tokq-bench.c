/*
 * tokq-bench: a load generator that speaks the tokq protocol itself.
 *
 *   tokq-bench --socket PATH --clients N --seconds S --mix check|record|mixed
 *              [--users N] [--models N] [--threads T] [--pipeline P] [--json]
 *   tokq-bench --socket PATH --preload N --users U --days D [--end T]
 *              [--clients N] [--pipeline P] [--json]
 *   tokq-bench --socket PATH --wait-ready MS [--json]
 *   tokq-bench --spawn N [--json] -- PROGRAM [ARG...]
 *
 * Load: each thread runs one epoll loop over its share of the connections;
 * a connection keeps --pipeline requests in flight (1: closed loop, one
 * request, its reply, the next).  A request's latency is the time from its
 * frame being handed to send() to its whole reply frame being read; with a
 * pipeline it includes the wait behind the requests ahead of it.  Checks
 * carry an estimate (tokens); records name a user among --users and a model
 * among --models, in a guild among 100, so they touch many counters.  The
 * mixed load is half checks, half records, drawn at random per request.
 *
 * Preload: N records with admin-only `at` times spread evenly over the D
 * days before --end (default: the daemon's now as the bench sees it), in
 * ascending time, as the protocol's only writer path would see them from an
 * import.  Needs an admin peer (root, or the daemon's uid).
 *
 * Wait-ready: connect and send a check every millisecond until one is
 * answered; print how long that took and the wall-clock time of the reply
 * (cold start: the caller noted when it started the daemon).
 *
 * Spawn: run PROGRAM N times (posix_spawn, stdout and stderr to /dev/null,
 * wait for each) after 20 warm-up runs; print the mean and median
 * wall-clock time of one spawn-and-wait.
 *
 * Output: a line of figures, or with --json one object: ops, ops_per_s,
 * p50_us, p99_us, p999_us, max_us, errors (replies with a non-zero code,
 * or connections lost), and the replies counted by kind: checks, records,
 * denied (checks answered "not allowed": not errors).
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#include "tokq.h"
#include "synth.h"

extern char **environ;

enum mix { MIX_CHECK, MIX_RECORD, MIX_MIXED, MIX_PRELOAD };

static struct {
	const char	*socket;
	int		 clients, threads, pipeline, users, models;
	double		 seconds;
	enum mix	 mix;
	bool		 json;
	int64_t		 preload;	/* events to preload */
	int		 days;
	int64_t		 end;		/* preload: last event time */
} opt = {
	.clients = 1, .threads = 1, .pipeline = 1, .users = 10000, .models = 4,
	.seconds = 5, .mix = MIX_MIXED, .days = 30,
};

/* Latencies in ns, one per answered request. */
struct lat {
	uint32_t	*v;
	size_t		 n, cap;
};

struct conn {
	int		 fd;
	msgpack_sbuffer	 out;		/* frames not yet sent */
	size_t		 out_off;
	char		*in;
	size_t		 in_len, in_cap;
	uint64_t	*sent;		/* ring of send times of requests in flight */
	bool		*is_rec;	/* ... and whether each is a record */
	int		 head, inflight;
	bool		 dead;
};

struct worker {
	pthread_t	 tid;
	int		 id;
	int		 nconn;
	struct conn	*conns;
	uint64_t	 rng;
	struct lat	 lat;
	uint64_t	 ops, errors, checks, records, denied;
	uint64_t	 pre_next, pre_end;	/* preload: this worker's event range */
};

static volatile int	 stop_sending;
static uint64_t		 t_start, t_stop;

static uint64_t
mono_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t
rnd(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static void __attribute__((noreturn))
die(const char *fmt, ...)
{
	va_list	 ap;

	fputs("tokq-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
lat_add(struct lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 65536;
		if ((l->v = realloc(l->v, l->cap * sizeof(*l->v))) == NULL)
			die("out of memory");
	}
	l->v[l->n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t	 x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct_us(const struct lat *l, double p)
{
	size_t	 i;

	if (l->n == 0)
		return 0;
	i = (size_t)(p * (double)(l->n - 1) + 0.5);
	return l->v[i] / 1000.0;
}

static int
sock_connect(const char *path, bool nonblock)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	int			 fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		die("socket path too long: %s", path);
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	if (nonblock)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static void
pk_str(msgpack_packer *pk, const char *s)
{
	size_t	 n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void
pk_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
	pk_str(pk, k);
	pk_str(pk, v);
}

static void
pk_kv_int(msgpack_packer *pk, const char *k, int64_t v)
{
	pk_str(pk, k);
	msgpack_pack_int64(pk, v);
}

/*
 * Append one request frame to c->out: a check or a record of a random user,
 * or (preload) record number k at its time.  Returns whether it is a record.
 */
static bool
queue_request(struct worker *w, struct conn *c)
{
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	unsigned char	 hdr[TOKQ_FRAME_HDR];
	char		 user[32], guild[32], model[32];
	uint64_t	 r = rnd(&w->rng), u, k = 0;
	bool		 rec;

	if (opt.mix == MIX_PRELOAD) {
		k = w->pre_next++;
		u = synth_preload_user(k, (uint64_t)opt.users);
		rec = true;
	} else {
		u = r % (uint64_t)opt.users;
		rec = opt.mix == MIX_RECORD || (opt.mix == MIX_MIXED && (r >> 40) & 1);
	}
	synth_names(u, r, (uint64_t)opt.models, user, guild, model);

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (rec) {
		msgpack_pack_map(&pk, opt.mix == MIX_PRELOAD ? 8 : 7);
		pk_kv_int(&pk, "v", TOKQ_PROTOCOL);
		pk_kv_str(&pk, "op", "record");
		pk_kv_str(&pk, "user", user);
		pk_kv_str(&pk, "guild", guild);
		pk_kv_str(&pk, "model", model);
		pk_kv_int(&pk, "prompt", 100 + (int64_t)((r >> 8) % 1000));
		pk_kv_int(&pk, "completion", 50 + (int64_t)((r >> 30) % 500));
		if (opt.mix == MIX_PRELOAD) {
			int64_t	 span = (int64_t)opt.days * 86400;

			pk_kv_int(&pk, "at", opt.end - span +
			    (int64_t)((__int128)k * span / opt.preload));
		}
	} else {
		msgpack_pack_map(&pk, 6);
		pk_kv_int(&pk, "v", TOKQ_PROTOCOL);
		pk_kv_str(&pk, "op", "check");
		pk_kv_str(&pk, "user", user);
		pk_kv_str(&pk, "guild", guild);
		pk_kv_str(&pk, "model", model);
		pk_kv_int(&pk, "tokens", 500 + (int64_t)((r >> 8) % 1000));
	}
	tokq_frame_hdr(hdr, (uint32_t)sb.size);
	msgpack_sbuffer_write(&c->out, (const char *)hdr, sizeof(hdr));
	msgpack_sbuffer_write(&c->out, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rec;
}

/* The reply's code and, for a check, whether it was allowed. */
static int
reply_code(const char *p, size_t len, bool *denied)
{
	msgpack_unpacked	 up;
	size_t			 off = 0;
	int			 code = -1;
	uint32_t		 i;

	*denied = false;
	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, p, len, &off) == MSGPACK_UNPACK_SUCCESS &&
	    up.data.type == MSGPACK_OBJECT_MAP) {
		for (i = 0; i < up.data.via.map.size; i++) {
			const msgpack_object_kv	*kv = &up.data.via.map.ptr[i];

			if (kv->key.type != MSGPACK_OBJECT_STR)
				continue;
			if (kv->key.via.str.size == 4 &&
			    memcmp(kv->key.via.str.ptr, "code", 4) == 0 &&
			    kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
				code = (int)kv->val.via.u64;
			else if (kv->key.via.str.size == 7 &&
			    memcmp(kv->key.via.str.ptr, "allowed", 7) == 0 &&
			    kv->val.type == MSGPACK_OBJECT_BOOLEAN)
				*denied = !kv->val.via.boolean;
		}
	}
	msgpack_unpacked_destroy(&up);
	return code;
}

static bool
want_more(struct worker *w)
{
	if (opt.mix == MIX_PRELOAD)
		return w->pre_next < w->pre_end;
	return !stop_sending;
}

/* Queue requests until the pipeline is full; true if anything was queued. */
static bool
fill(struct worker *w, struct conn *c)
{
	bool	 any = false;

	while (!c->dead && c->inflight < opt.pipeline && want_more(w)) {
		int	 slot = (c->head + c->inflight) % opt.pipeline;

		c->is_rec[slot] = queue_request(w, c);
		c->sent[slot] = mono_ns();
		c->inflight++;
		any = true;
	}
	return any;
}

static void
conn_flush(struct conn *c)
{
	ssize_t	 n;

	while (c->out_off < c->out.size) {
		n = send(c->fd, c->out.data + c->out_off, c->out.size - c->out_off,
		    MSG_NOSIGNAL);
		if (n == -1) {
			if (errno != EAGAIN && errno != EINTR)
				c->dead = true;
			return;
		}
		c->out_off += (size_t)n;
	}
	msgpack_sbuffer_clear(&c->out);
	c->out_off = 0;
}

/* Read what there is and account for every complete reply. */
static void
conn_read(struct worker *w, struct conn *c)
{
	size_t	 off = 0;
	ssize_t	 n;

	for (;;) {
		if (c->in_cap - c->in_len < 65536) {
			c->in_cap = c->in_len + 131072;
			if ((c->in = realloc(c->in, c->in_cap)) == NULL)
				die("out of memory");
		}
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			c->dead = true;
			break;
		}
		c->in_len += (size_t)n;
		if (c->in_len < c->in_cap)
			break;	/* drained: epoll says when more comes */
	}
	while (c->in_len - off >= TOKQ_FRAME_HDR) {
		uint32_t	 len = tokq_frame_len((unsigned char *)c->in + off);
		uint64_t	 t = mono_ns();
		bool		 denied;
		int		 code;

		if (c->in_len - off - TOKQ_FRAME_HDR < len)
			break;
		if (c->inflight == 0)
			die("a reply that no request asked for");
		code = reply_code(c->in + off + TOKQ_FRAME_HDR, len, &denied);
		if (code != 0) {
			w->errors++;
			if (w->errors <= 3)
				fprintf(stderr, "tokq-bench: reply code %d\n", code);
		}
		if (denied)
			w->denied++;
		if (c->is_rec[c->head])
			w->records++;
		else
			w->checks++;
		lat_add(&w->lat, t - c->sent[c->head]);
		c->head = (c->head + 1) % opt.pipeline;
		c->inflight--;
		w->ops++;
		off += TOKQ_FRAME_HDR + len;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

static void *
worker_run(void *arg)
{
	struct worker		*w = arg;
	struct epoll_event	 evs[256];
	int			 ep, i, n, live;

	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1: %s", strerror(errno));
	for (i = 0; i < w->nconn; i++) {
		struct conn		*c = &w->conns[i];
		struct epoll_event	 ev = { .events = EPOLLIN, .data.ptr = c };

		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) == -1)
			die("epoll_ctl: %s", strerror(errno));
		fill(w, c);
		conn_flush(c);
	}
	for (;;) {
		live = 0;
		for (i = 0; i < w->nconn; i++)
			if (!w->conns[i].dead && w->conns[i].inflight > 0)
				live++;
		if (live == 0 && (!want_more(w) || stop_sending))
			break;
		if (live == 0 && opt.mix != MIX_PRELOAD)
			break;
		if ((n = epoll_wait(ep, evs, 256, 100)) == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		if (n == 0 && stop_sending && mono_ns() > t_stop + 10000000000ULL)
			break;		/* replies lost: stop waiting after 10 s */
		for (i = 0; i < n; i++) {
			struct conn	*c = evs[i].data.ptr;

			conn_read(w, c);
			if (c->dead) {
				w->errors += (uint64_t)c->inflight;
				c->inflight = 0;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				continue;
			}
			fill(w, c);
			conn_flush(c);
		}
	}
	close(ep);
	return NULL;
}

static void
print_result(const char *what, struct worker *ws, int nw, double secs)
{
	struct lat	 all = { 0 };
	uint64_t	 ops = 0, errors = 0, checks = 0, records = 0, denied = 0;
	int		 i;

	for (i = 0; i < nw; i++) {
		size_t	 j;

		for (j = 0; j < ws[i].lat.n; j++)
			lat_add(&all, ws[i].lat.v[j]);
		ops += ws[i].ops;
		errors += ws[i].errors;
		checks += ws[i].checks;
		records += ws[i].records;
		denied += ws[i].denied;
	}
	qsort(all.v, all.n, sizeof(*all.v), cmp_u32);
	if (opt.json)
		printf("{\"what\":\"%s\",\"clients\":%d,\"seconds\":%.3f,\"ops\":%" PRIu64
		    ",\"ops_per_s\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
		    "\"max_us\":%.1f,\"errors\":%" PRIu64 ",\"checks\":%" PRIu64
		    ",\"records\":%" PRIu64 ",\"denied\":%" PRIu64 "}\n",
		    what, opt.clients, secs, ops, ops / secs, pct_us(&all, 0.5),
		    pct_us(&all, 0.99), pct_us(&all, 0.999), pct_us(&all, 1.0), errors,
		    checks, records, denied);
	else
		printf("%s: %d clients, %.1f s: %" PRIu64 " ops, %.0f ops/s, latency p50 %.1f "
		    "p99 %.1f p999 %.1f max %.1f us, %" PRIu64 " errors (%" PRIu64
		    " checks, %" PRIu64 " denied, %" PRIu64 " records)\n",
		    what, opt.clients, secs, ops, ops / secs, pct_us(&all, 0.5),
		    pct_us(&all, 0.99), pct_us(&all, 0.999), pct_us(&all, 1.0), errors,
		    checks, denied, records);
	free(all.v);
}

static int
run_load(void)
{
	static const char *const names[] = { "check", "record", "mixed", "preload" };
	struct worker	*ws;
	int		 i, j, nw = opt.threads;
	double		 secs;

	if (nw > opt.clients)
		nw = opt.clients;
	if ((ws = calloc((size_t)nw, sizeof(*ws))) == NULL)
		die("out of memory");
	for (i = 0; i < nw; i++) {
		struct worker	*w = &ws[i];

		w->id = i;
		w->rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1) ^ (uint64_t)getpid();
		w->nconn = opt.clients / nw + (i < opt.clients % nw);
		if ((w->conns = calloc((size_t)w->nconn, sizeof(*w->conns))) == NULL)
			die("out of memory");
		for (j = 0; j < w->nconn; j++) {
			struct conn	*c = &w->conns[j];

			if ((c->fd = sock_connect(opt.socket, true)) == -1)
				die("connect %s: %s", opt.socket, strerror(errno));
			msgpack_sbuffer_init(&c->out);
			c->sent = calloc((size_t)opt.pipeline, sizeof(*c->sent));
			c->is_rec = calloc((size_t)opt.pipeline, sizeof(*c->is_rec));
			if (c->sent == NULL || c->is_rec == NULL)
				die("out of memory");
		}
	}
	if (opt.mix == MIX_PRELOAD) {
		/* contiguous ranges per worker; connections interleave within one */
		uint64_t	 per = (uint64_t)opt.preload / (uint64_t)nw;

		for (i = 0; i < nw; i++) {
			ws[i].pre_next = per * (uint64_t)i;
			ws[i].pre_end = i == nw - 1 ? (uint64_t)opt.preload : per * (uint64_t)(i + 1);
		}
	}
	t_start = mono_ns();
	t_stop = t_start + (uint64_t)(opt.seconds * 1e9);
	for (i = 0; i < nw; i++)
		if (pthread_create(&ws[i].tid, NULL, worker_run, &ws[i]) != 0)
			die("pthread_create failed");
	if (opt.mix != MIX_PRELOAD) {
		struct timespec	 ts = { (time_t)opt.seconds,
		    (long)((opt.seconds - (double)(time_t)opt.seconds) * 1e9) };

		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
		stop_sending = 1;
	}
	for (i = 0; i < nw; i++)
		pthread_join(ws[i].tid, NULL);
	secs = (double)(mono_ns() - t_start) / 1e9;
	if (opt.mix != MIX_PRELOAD)
		secs = opt.seconds;	/* requests in flight at the stop are few */
	print_result(names[opt.mix], ws, nw, secs);
	for (i = 0; i < nw; i++) {
		if (ws[i].errors) {
			free(ws);
			return 2;
		}
	}
	free(ws);
	return 0;
}

/* Send one check on a fresh connection; true once it was answered. */
static bool
try_check(void)
{
	static const char req[] = "\x83\xa1v\x01\xa2op\xa5" "check\xa4user\xa5probe";
	unsigned char	 hdr[TOKQ_FRAME_HDR];
	char		 buf[65536];
	size_t		 got = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = sock_connect(opt.socket, false)) == -1)
		return false;
	tokq_frame_hdr(hdr, sizeof(req) - 1);
	if (send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL) != (ssize_t)sizeof(hdr) ||
	    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1) {
		close(fd);
		return false;
	}
	while (got < TOKQ_FRAME_HDR ||
	    got < TOKQ_FRAME_HDR + tokq_frame_len((unsigned char *)buf)) {
		if ((n = recv(fd, buf + got, sizeof(buf) - got, 0)) <= 0) {
			close(fd);
			return false;
		}
		got += (size_t)n;
		if (got == sizeof(buf))
			break;
	}
	close(fd);
	return true;
}

static int
run_wait_ready(int ms)
{
	uint64_t	 t0 = mono_ns(), deadline = t0 + (uint64_t)ms * 1000000;
	struct timespec	 rt, pause = { 0, 1000000 };

	while (!try_check()) {
		if (mono_ns() > deadline) {
			fprintf(stderr, "tokq-bench: no answer on %s within %d ms\n",
			    opt.socket, ms);
			return 1;
		}
		nanosleep(&pause, NULL);
	}
	clock_gettime(CLOCK_REALTIME, &rt);
	if (opt.json)
		printf("{\"waited_ms\":%.3f,\"answered_at_ns\":%lld%09ld}\n",
		    (double)(mono_ns() - t0) / 1e6, (long long)rt.tv_sec, rt.tv_nsec);
	else
		printf("answered after %.3f ms (at %lld.%09ld)\n",
		    (double)(mono_ns() - t0) / 1e6, (long long)rt.tv_sec, rt.tv_nsec);
	return 0;
}

static int
run_spawn(int n, char **argv)
{
	posix_spawn_file_actions_t	 fa;
	struct lat			 l = { 0 };
	double				 sum = 0;
	int				 i, st, bad = 0;
	pid_t				 pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	for (i = -20; i < n; i++) {
		uint64_t	 t = mono_ns();

		if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
			die("cannot run %s", argv[0]);
		if (waitpid(pid, &st, 0) == -1)
			die("waitpid: %s", strerror(errno));
		t = mono_ns() - t;
		if (!WIFEXITED(st) || (WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 1))
			bad++;
		if (i >= 0) {
			lat_add(&l, t);
			sum += (double)t;
		}
	}
	qsort(l.v, l.n, sizeof(*l.v), cmp_u32);
	if (opt.json)
		printf("{\"runs\":%d,\"mean_us\":%.1f,\"median_us\":%.1f,\"min_us\":%.1f,"
		    "\"p99_us\":%.1f,\"failed\":%d}\n", n, sum / n / 1000.0,
		    pct_us(&l, 0.5), pct_us(&l, 0), pct_us(&l, 0.99), bad);
	else
		printf("%s: %d runs, mean %.1f us, median %.1f us, min %.1f us, %d failed\n",
		    argv[0], n, sum / n / 1000.0, pct_us(&l, 0.5), pct_us(&l, 0), bad);
	free(l.v);
	posix_spawn_file_actions_destroy(&fa);
	return bad ? 2 : 0;
}

static void __attribute__((noreturn))
usage(int rc)
{
	fprintf(rc ? stderr : stdout,
	    "usage: tokq-bench --socket PATH [--clients N] [--seconds S]\n"
	    "                  [--mix check|record|mixed] [--users N] [--models N]\n"
	    "                  [--threads T] [--pipeline P] [--json]\n"
	    "       tokq-bench --socket PATH --preload N [--users U] [--days D] [--end T]\n"
	    "                  [--clients N] [--pipeline P] [--threads T] [--json]\n"
	    "       tokq-bench --socket PATH --wait-ready MS [--json]\n"
	    "       tokq-bench --spawn N [--json] -- PROGRAM [ARG...]\n");
	exit(rc);
}

static int
int_arg(const char *s, int lo, int hi)
{
	int64_t	 v;

	if (tokq_parse_u64(s, &v) == -1 || v < lo || v > hi)
		usage(64);
	return (int)v;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "clients", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "mix", required_argument, NULL, 'm' },
		{ "users", required_argument, NULL, 'u' },
		{ "models", required_argument, NULL, 'M' },
		{ "threads", required_argument, NULL, 't' },
		{ "pipeline", required_argument, NULL, 'p' },
		{ "preload", required_argument, NULL, 'P' },
		{ "days", required_argument, NULL, 'd' },
		{ "end", required_argument, NULL, 'e' },
		{ "wait-ready", required_argument, NULL, 'w' },
		{ "spawn", required_argument, NULL, 'x' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch, wait_ms = 0, spawn_n = 0;
	int64_t	 v;

	while ((ch = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			opt.socket = optarg;
			break;
		case 'c':
			opt.clients = int_arg(optarg, 1, 1000);
			break;
		case 'S':
			if ((opt.seconds = atof(optarg)) <= 0)
				usage(64);
			break;
		case 'm':
			if (strcmp(optarg, "check") == 0)
				opt.mix = MIX_CHECK;
			else if (strcmp(optarg, "record") == 0)
				opt.mix = MIX_RECORD;
			else if (strcmp(optarg, "mixed") == 0)
				opt.mix = MIX_MIXED;
			else
				usage(64);
			break;
		case 'u':
			opt.users = int_arg(optarg, 1, 100000000);
			break;
		case 'M':
			opt.models = int_arg(optarg, 1, 1000);
			break;
		case 't':
			opt.threads = int_arg(optarg, 1, 64);
			break;
		case 'p':
			opt.pipeline = int_arg(optarg, 1, 4096);
			break;
		case 'P':
			if (tokq_parse_u64(optarg, &v) == -1 || v < 1)
				usage(64);
			opt.preload = v;
			break;
		case 'd':
			opt.days = int_arg(optarg, 1, 3650);
			break;
		case 'e':
			if (tokq_parse_time(optarg, &v) == -1 &&
			    tokq_parse_u64(optarg, &v) == -1)
				usage(64);
			opt.end = v;
			break;
		case 'w':
			wait_ms = int_arg(optarg, 1, 600000);
			break;
		case 'x':
			spawn_n = int_arg(optarg, 1, 10000000);
			break;
		case 'j':
			opt.json = true;
			break;
		case 'h':
			usage(0);
		default:
			usage(64);
		}
	}
	if (spawn_n) {
		if (optind >= argc)
			usage(64);
		return run_spawn(spawn_n, argv + optind);
	}
	if (optind != argc || opt.socket == NULL)
		usage(64);
	if (wait_ms)
		return run_wait_ready(wait_ms);
	if (opt.preload) {
		opt.mix = MIX_PRELOAD;
		if (opt.end == 0)
			opt.end = time(NULL);
	}
	return run_load();
}
