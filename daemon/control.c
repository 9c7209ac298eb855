/*
 * control.c: the control socket, its connections, frames and group commit.
 *
 * The listening socket comes from systemd (socket activation) or is bound
 * here.  Each connection reads length-prefixed frames; a frame whose length
 * is out of bounds or whose msgpack does not pass tokq_frame_check() closes
 * that connection and nothing else.  Requests on a connection are answered
 * in order.
 *
 * The connections share one epoll set of their own, watched by one sd-event
 * source, edge-triggered: one wake-up serves every connection that became
 * ready, and a request costs a read and a send.  With a source per
 * connection every request cost a pass of sd-event (an epoll_wait and a
 * gettid) plus the epoll_ctl calls of switching its events on and off.
 * Deadlines (idle, stalled frame) are checked by one sweep a second.
 *
 * Memory: the bytes read and not yet answered, over all connections, are
 * bounded by env.max_pending (max_pending_bytes in tokqd.conf).  Past it
 * the connection whose unfinished frame started first (of those holding
 * more than an equal share) is closed, as the connection cap closes the
 * one silent longest: without the bound 1,024 clients each 1 byte short
 * of a 1 MiB frame would pin 1 GiB.  An input buffer past READ_CHUNK is
 * freed once it is empty, so a big frame does not leave its memory behind
 * on a connection that goes on.
 *
 * Group commit (batch.c owns the batch): a request that writes leaves its
 * reply held on its connection, and every reply after it on that
 * connection waits behind it, so replies leave in request order.  The
 * connection goes on reading and answering what it pipelined, up to
 * HELD_MAX replies held (or OUT_MAX bytes with its unsent ones): a client
 * with many writes in flight puts them into one commit, not one a commit.
 * Once every connection that was ready has been served, or the batch is
 * large or old, the batch commits and control_answer() sends the held
 * replies; if the commit failed, the writes' replies are replaced by
 * "temporary failure" replies (nothing of the batch is acknowledged), and
 * the reads' go out as they are.  A read with nothing held before it is
 * answered at once.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "tokqd.h"

#define CONN_MAX	1024		/* connections at once, if RLIMIT_NOFILE allows */
#define OUT_MAX		(1024 * 1024)	/* unsent replies before we stop reading */
#define IDLE_USEC	(60ULL * 1000000)	/* a connection silent this long is closed */
#define FRAME_USEC	(10ULL * 1000000)	/* a started frame must arrive within this */
#define READ_CHUNK	65536
#define SWEEP_USEC	1000000		/* how often deadlines are checked */
#define EVENTS_MAX	128		/* connections served per wake-up */
#define READS_MAX	4		/* reads per connection per turn */
#define HELD_MAX	64		/* replies one connection may hold for a commit */

struct conn {
	struct conn	*prev, *next;
	struct conn	*dead_next;	/* closed, freed after the wake-up */
	struct conn	*ready_next;	/* on ctl.ready */
	int		 fd;
	uint32_t	 events;	/* as registered in ctl.efd */
	struct peer	 peer;
	char		*in;		/* bytes read, not yet answered */
	size_t		 in_len, in_cap;
	size_t		 counted;	/* in_len as added to ctl.pending */
	msgpack_sbuffer	 out;		/* frames to write */
	size_t		 out_off;
	msgpack_sbuffer	 held;		/* replies waiting for the commit, framed */
	uint32_t	 held_len[HELD_MAX];	/* each one's frame, in order */
	bool		 held_write[HELD_MAX];	/* a write's, else a read's behind it */
	int		 nheld;
	bool		 waiting;	/* nheld > 0: the first is a write's */
	bool		 eof;
	bool		 dead;
	bool		 readable;	/* input may be waiting in the socket */
	bool		 hup;		/* the peer shut down writing */
	bool		 queued;	/* on ctl.ready */
	bool		 partial;	/* a frame has started arriving */
	bool		 closing;	/* a bad frame: close once its replies are out */
	bool		 answered;	/* on ctl.answered */
	struct conn	*answered_next;
	uint64_t	 active;	/* monotonic usec of the last read */
	uint64_t	 deadline;	/* closed if still silent then */
};

static struct {
	sd_event	*ev;
	int		 lfd;
	sd_event_source	*lio;
	int		 efd;		/* the connections' epoll set */
	sd_event_source	*eio;
	sd_event_source	*sweep;
	struct conn	*conns;
	struct conn	*dead;		/* closed during this callback */
	struct conn	*ready;		/* had more to read than one turn took */
	struct conn	*answered;	/* got replies back from the worker */
	sd_event_source	*kick;		/* defer: serve ctl.ready */
	size_t		 nconns;
	size_t		 conn_max;	/* CONN_MAX, or less under RLIMIT_NOFILE */
	sd_event_source	*accept_retry;	/* out of descriptors: try again later */
	size_t		 pending;	/* bytes read, not answered, all connections */
	bool		 replaying;	/* control_answer serving pipelined input */
	bool		 activated;	/* the socket came from systemd */
	bool		 serving;	/* in conns_cb or kick_cb: they reap */
} ctl;

static void	conn_close(struct conn *);
static void	conn_update(struct conn *);
static void	conn_process(struct conn *);
static void	conn_read(struct conn *);
static void	conn_pump(struct conn *);
static void	conn_deadline(struct conn *, uint64_t);
static int	conn_flush(struct conn *);
static void	conn_reap(void);

/*
 * Keep ctl.pending in step with c->in_len, and free a large input buffer
 * once it is empty.
 */
static void
conn_count(struct conn *c)
{
	ctl.pending += c->in_len - c->counted;
	c->counted = c->in_len;
	if (c->in_len == 0 && c->in_cap > READ_CHUNK) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
}

/*
 * Past env.max_pending, close the connection whose unfinished frame started
 * first (its deadline is the earliest: FRAME_USEC after that start), until
 * back under.  Only among those holding more than an equal share of the
 * bound, and there always is one while the total is past it: closing the
 * many that hold a few bytes frees nothing.  One waiting for a commit reads
 * on (pipelined requests) and is no exception: its held writes commit all
 * the same, as when any connection with held replies closes (conn_close).
 * Returns false when self was closed.
 */
static bool
conn_shed(struct conn *self)
{
	struct conn	*c, *victim;
	size_t		 share;

	while (env.max_pending > 0 && ctl.pending > env.max_pending) {
		victim = NULL;
		share = env.max_pending / (ctl.nconns ? ctl.nconns : 1);
		for (c = ctl.conns; c; c = c->next)
			if (c->partial && c->in_len > share &&
			    (victim == NULL || c->deadline < victim->deadline))
				victim = c;
		if (victim == NULL)
			break;
		log_debug("pid %d: closed, %zu bytes of unfinished frames held in all",
		    (int)victim->peer.pid, ctl.pending);
		conn_close(victim);
	}
	return !self->dead;
}

/* Is the peer an admin: root, our own uid, or a member of the admin group? */
static bool
peer_admin(int fd, const struct ucred *uc)
{
	gid_t		 groups[256];
	socklen_t	 len = sizeof(groups);
	size_t		 i;

	if (uc->uid == 0 || uc->uid == env.uid)
		return true;
	if (env.admin_gid == (gid_t)-1)
		return false;
	if (uc->gid == env.admin_gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == -1)
		return false;
	for (i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == env.admin_gid)
			return true;
	return false;
}

static void
frame_append(msgpack_sbuffer *out, const char *data, size_t len)
{
	unsigned char	 hdr[TOKQ_FRAME_HDR];

	tokq_frame_hdr(hdr, (uint32_t)len);
	msgpack_sbuffer_write(out, (const char *)hdr, sizeof(hdr));
	msgpack_sbuffer_write(out, data, len);
}

/*
 * The batch committed with result rc (batch.c): send the replies that
 * waited for it, or on failure a temporary failure in their place, then
 * serve what their connections sent meanwhile.
 */
void
control_answer(int rc)
{
	struct conn	*c, *next;

	msgpack_sbuffer	 err;
	size_t		 off;
	int		 i;

	msgpack_sbuffer_init(&err);
	if (rc < 0)
		dispatch_error(&err, TOKQ_E_TEMP,
		    "the database could not commit (disk full or I/O error); "
		    "nothing was kept, retry with the same --key");
	for (c = ctl.conns; c; c = c->next) {
		if (!c->waiting)
			continue;
		if (rc >= 0)
			msgpack_sbuffer_write(&c->out, c->held.data, c->held.size);
		else
			for (i = 0, off = 0; i < c->nheld; off += c->held_len[i++])
				if (c->held_write[i])
					frame_append(&c->out, err.data, err.size);
				else
					msgpack_sbuffer_write(&c->out, c->held.data + off,
					    c->held_len[i]);
		msgpack_sbuffer_clear(&c->held);
		c->nheld = 0;
		c->waiting = false;
	}
	msgpack_sbuffer_destroy(&err);
	/*
	 * Serving what they pipelined, or sent while they waited, may open
	 * the next batch.  A connection closed on the way stays readable
	 * (freed only by conn_reap), so next is always safe to follow.
	 */
	ctl.replaying = true;
	for (c = ctl.conns; c; c = next) {
		next = c->next;
		if (c->dead)
			continue;	/* shed for another's input (conn_shed) */
		conn_process(c);
		conn_pump(c);
	}
	ctl.replaying = false;
	/* Called from the batch's own idle callback, nothing points at them. */
	if (!ctl.serving)
		conn_reap();
}

/*
 * Answer one request: the frame of len bytes at p, checked by
 * tokq_frame_check(), into reply.  -1 when it does not unpack.
 */
static int
frame_answer(const char *p, size_t len, const struct peer *peer,
    msgpack_sbuffer *reply, bool *wrote)
{
	msgpack_unpacked	 msg;
	size_t			 off = 0;

	msgpack_unpacked_init(&msg);
	if (msgpack_unpack_next(&msg, p, len, &off) != MSGPACK_UNPACK_SUCCESS) {
		msgpack_unpacked_destroy(&msg);
		return -1;
	}
	dispatch(&msg.data, peer, reply, wrote);
	msgpack_unpacked_destroy(&msg);
	if (reply->size > TOKQ_FRAME_MAX) {
		msgpack_sbuffer_clear(reply);
		dispatch_error(reply, TOKQ_E_INTERNAL, "reply too large");
	}
	return 0;
}

/*
 * A request that runs on the worker (exec.c): the connection it came on,
 * which lives until every one of its jobs came back (conn_reap), and a
 * copy of its frame.  Its reply counts as held (c->nheld) until then.
 */
struct rjob {
	struct job	 j;
	struct conn	*c;
	struct peer	 peer;
	msgpack_sbuffer	 reply;
	bool		 bad;
	size_t		 len;
	char		 frame[];
};

/* On the worker, before its round runs: what the request will need. */
static void
rjob_want(struct job *j)
{
	struct rjob		*r = (struct rjob *)j;
	msgpack_unpacked	 msg;
	size_t			 off = 0;

	msgpack_unpacked_init(&msg);
	if (msgpack_unpack_next(&msg, r->frame, r->len, &off) ==
	    MSGPACK_UNPACK_SUCCESS)
		dispatch_want(&msg.data);
	msgpack_unpacked_destroy(&msg);
}

/* On the worker. */
static void
rjob_run(struct job *j)
{
	struct rjob	*r = (struct rjob *)j;

	r->bad = frame_answer(r->frame, r->len, &r->peer, &r->reply, &j->wrote) == -1;
}

/* On the loop: queue the reply; control_drained() sends what came back. */
static void
rjob_done(struct job *j)
{
	struct rjob	*r = (struct rjob *)j;
	struct conn	*c = r->c;
	msgpack_sbuffer	 err;

	if (--c->nheld == 0)
		c->waiting = false;
	if (c->dead) {
		if (c->nheld == 0) {
			/* Its last job is back: free it now. */
			c->dead_next = ctl.dead;
			ctl.dead = c;
		}
	} else if (r->bad)
		c->closing = true;
	else if (j->rc < 0) {
		msgpack_sbuffer_init(&err);
		dispatch_error(&err, -j->rc, j->why ? j->why : tokq_code_name(-j->rc));
		frame_append(&c->out, err.data, err.size);
		msgpack_sbuffer_destroy(&err);
	} else
		frame_append(&c->out, r->reply.data, r->reply.size);
	if (!c->dead && !c->answered) {
		c->answered = true;
		c->answered_next = ctl.answered;
		ctl.answered = c;
	}
	msgpack_sbuffer_destroy(&r->reply);
	free(r);
}

/* Hand a request to the worker; -1 when out of memory. */
static int
conn_submit(struct conn *c, const char *p, size_t len)
{
	struct rjob	*r;

	if ((r = malloc(sizeof(*r) + len)) == NULL)
		return -1;
	memset(r, 0, sizeof(*r));
	r->j.want = rjob_want;
	r->j.run = rjob_run;
	r->j.done = rjob_done;
	r->j.refusable = true;
	r->c = c;
	r->peer = c->peer;
	r->len = len;
	memcpy(r->frame, p, len);
	msgpack_sbuffer_init(&r->reply);
	c->nheld++;
	c->waiting = true;
	exec_submit(&r->j);
	return 0;
}

/*
 * On the loop, after the worker's replies came back: send them, close the
 * connections whose bad frame's turn came, serve what waited for room.
 */
void
control_drained(void)
{
	struct conn	*c;

	while ((c = ctl.answered) != NULL) {
		ctl.answered = c->answered_next;
		c->answered = false;
		if (c->dead)
			continue;
		if (c->closing && c->nheld == 0) {
			conn_flush(c);	/* the replies to its good frames first */
			conn_close(c);
			continue;
		}
		conn_process(c);
		if (!c->dead)
			conn_pump(c);
	}
	conn_reap();
}

/* Answer one complete frame of len bytes at p; -1 closes the connection. */
static int
conn_frame(struct conn *c, const char *p, size_t len)
{
	msgpack_sbuffer		 reply;
	bool			 wrote = false;

	if (tokq_frame_check(p, len) == -1) {
		log_debug("pid %d: malformed frame of %zu bytes", (int)c->peer.pid, len);
		return -1;
	}
	if (exec_on())
		return conn_submit(c, p, len);
	msgpack_sbuffer_init(&reply);
	if (frame_answer(p, len, &c->peer, &reply, &wrote) == -1) {
		msgpack_sbuffer_destroy(&reply);
		return -1;
	}
	if (wrote || c->waiting) {
		/* Behind a held reply, a read's waits too: replies keep their order. */
		c->held_len[c->nheld] = (uint32_t)(TOKQ_FRAME_HDR + reply.size);
		c->held_write[c->nheld++] = wrote;
		frame_append(&c->held, reply.data, reply.size);
		c->waiting = true;
		if (wrote)
			batch_add();
	} else {
		frame_append(&c->out, reply.data, reply.size);
		/* A read wrote the pending totals out in a batch of its own. */
		if (batch_size() == 0)
			batch_commit_soon();
	}
	msgpack_sbuffer_destroy(&reply);
	return 0;
}

/*
 * May c answer another frame: fewer than HELD_MAX replies held, and its
 * unsent and held replies under OUT_MAX?
 */
static bool
conn_has_room(const struct conn *c)
{
	return c->nheld < HELD_MAX &&
	    c->out.size - c->out_off + c->held.size < OUT_MAX;
}

/* Answer every complete frame buffered, while c has room (conn_has_room). */
static void
conn_process(struct conn *c)
{
	size_t	 off = 0;

	while (!c->closing && conn_has_room(c) && c->in_len - off >= TOKQ_FRAME_HDR) {
		uint32_t len = tokq_frame_len((const unsigned char *)c->in + off);

		if (len == 0 || len > TOKQ_FRAME_MAX) {
			log_debug("pid %d: frame length %u refused", (int)c->peer.pid, len);
			conn_close(c);
			return;
		}
		if (c->in_len - off - TOKQ_FRAME_HDR < len)
			break;
		if (conn_frame(c, c->in + off + TOKQ_FRAME_HDR, len) == -1) {
			if (c->nheld > 0 && exec_on()) {
				/* Close once the replies to its good frames are out. */
				c->closing = true;
				off = c->in_len;
				break;
			}
			conn_flush(c);	/* the replies to its good frames first */
			conn_close(c);
			return;
		}
		off += TOKQ_FRAME_HDR + len;
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
		conn_count(c);
		/* Whole frames arrived: the next one gets its own deadline. */
		c->partial = c->in_len > 0;
		conn_deadline(c, c->partial ? FRAME_USEC : IDLE_USEC);
	}
	if (!ctl.replaying && !exec_on() && batch_due()) {
		batch_commit();
		return;		/* that processed every connection again */
	}
	conn_update(c);
}

/*
 * Close the connection unless it progresses within usec: a silent one after
 * IDLE_USEC, one that started a frame and has not finished it after
 * FRAME_USEC, so a client trickling bytes cannot hold a slot for long.
 */
static void
conn_deadline(struct conn *c, uint64_t usec)
{
	c->deadline = c->active + usec;
}

/* May c read now: room for replies (conn_has_room), not at EOF? */
static bool
conn_can_read(const struct conn *c)
{
	return !c->dead && !c->eof && !c->closing && conn_has_room(c);
}

/*
 * Read what there is, once, and answer complete frames.  The epoll set is
 * edge-triggered, so c->readable stays set until a read comes back short,
 * empty or EAGAIN: on a Unix stream socket a short read drained the queue,
 * and whatever arrives after it raises a new edge.
 */
static void
conn_read(struct conn *c)
{
	ssize_t	 n;
	size_t	 room;

	if (c->in_cap - c->in_len < READ_CHUNK) {
		size_t	 ncap = c->in_len + READ_CHUNK;
		char	*p;

		if (ncap > TOKQ_FRAME_MAX + TOKQ_FRAME_HDR + READ_CHUNK) {
			conn_close(c);
			return;
		}
		if ((p = realloc(c->in, ncap)) == NULL) {
			conn_close(c);
			return;
		}
		c->in = p;
		c->in_cap = ncap;
	}
	room = c->in_cap - c->in_len;
	n = read(c->fd, c->in + c->in_len, room);
	if (n == -1) {
		if (errno == EAGAIN)
			c->readable = false;
		else if (errno != EINTR)
			conn_close(c);
		return;
	}
	c->readable = (size_t)n == room || (n > 0 && c->hup);
	if (n == 0) {
		c->eof = true;
		if (c->in_len > 0 && !c->waiting && c->out.size == c->out_off)
			log_debug("pid %d: truncated frame", (int)c->peer.pid);
	}
	c->in_len += (size_t)n;
	sd_event_now(ctl.ev, CLOCK_MONOTONIC, &c->active);
	if (!c->partial)
		conn_deadline(c, c->in_len > 0 ? FRAME_USEC : IDLE_USEC);
	c->partial = c->in_len > 0;
	conn_count(c);
	conn_process(c);
	if (!c->dead)
		conn_shed(c);
}

/* Send what is pending without blocking; -1 when the peer is gone. */
static int
conn_flush(struct conn *c)
{
	ssize_t	 n;

	while (c->out_off < c->out.size) {
		n = send(c->fd, c->out.data + c->out_off, c->out.size - c->out_off,
		    MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -1;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out.size) {
		msgpack_sbuffer_clear(&c->out);
		c->out_off = 0;
	}
	return 0;
}

/*
 * Send replies at once; watch for writability only while replies remain
 * unsent (rare: the client is slow to read), since an edge-triggered
 * EPOLLOUT would otherwise wake us each time the client reads a reply.
 * Closes the connection when it is done or gone.  Reading is not armed
 * here: the edges arm it, and whoever unblocks a connection (the commit,
 * a drained backlog) reads what c->readable says may be waiting.
 */
static void
conn_update(struct conn *c)
{
	struct epoll_event	 ev;
	uint32_t		 events = EPOLLIN | EPOLLRDHUP | EPOLLET;
	bool			 pending;

	if (conn_flush(c) == -1) {
		conn_close(c);
		return;
	}
	pending = c->out_off < c->out.size;
	if (c->eof && !pending && !c->waiting) {
		conn_close(c);
		return;
	}
	if (pending)
		events |= EPOLLOUT;
	if (events == c->events)
		return;
	ev = (struct epoll_event){ .events = events, .data.ptr = c };
	if (epoll_ctl(ctl.efd, EPOLL_CTL_MOD, c->fd, &ev) == -1) {
		log_warn("epoll_ctl");
		conn_close(c);
		return;
	}
	c->events = events;
}

/* One connection's edge. */
static void
conn_event(struct conn *c, uint32_t revents)
{
	if (revents & EPOLLERR) {
		conn_close(c);
		return;
	}
	if (revents & (EPOLLRDHUP | EPOLLHUP))
		c->hup = true;		/* read on to the end of its input */
	if (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
		c->readable = true;
	if (revents & EPOLLOUT) {
		/* Drained enough to serve frames that waited behind the backlog. */
		conn_process(c);
	}
	conn_pump(c);
}

/*
 * Read and answer what c has, for at most READS_MAX reads: a client that
 * sends without pause gets its turn and then waits on ctl.ready behind the
 * others, since no new edge will come for what it has already sent.
 */
static void
conn_pump(struct conn *c)
{
	int	 i;

	for (i = 0; i < READS_MAX && c->readable && conn_can_read(c); i++)
		conn_read(c);
	if (c->readable && conn_can_read(c) && !c->queued) {
		c->queued = true;
		c->ready_next = ctl.ready;
		ctl.ready = c;
		sd_event_source_set_enabled(ctl.kick, SD_EVENT_ONESHOT);
	}
}

static int
kick_cb(sd_event_source *s, void *arg)
{
	struct conn	*c, *list = ctl.ready;

	ctl.ready = NULL;
	ctl.serving = true;
	while ((c = list) != NULL) {
		list = c->ready_next;
		c->queued = false;
		if (!c->dead)
			conn_pump(c);
	}
	ctl.serving = false;
	conn_reap();
	return 0;
}

/* The connections' epoll set is readable: serve every ready connection. */
static int
conns_cb(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct epoll_event	 evs[EVENTS_MAX];
	int			 i, n;

	if ((n = epoll_wait(ctl.efd, evs, EVENTS_MAX, 0)) == -1) {
		if (errno != EINTR)
			log_warn("epoll_wait");
		return 0;
	}
	ctl.serving = true;
	for (i = 0; i < n; i++) {
		struct conn *c = evs[i].data.ptr;

		if (!c->dead)
			conn_event(c, evs[i].events);
	}
	ctl.serving = false;
	conn_reap();
	return 0;
}

/*
 * Once a second, close the connections past their deadline: silent for
 * IDLE_USEC, or FRAME_USEC into a frame that has not finished arriving.
 * One waiting for a commit is never idle.
 */
static int
sweep_cb(sd_event_source *s, uint64_t usec, void *arg)
{
	struct conn	*c, *next;
	uint64_t	 now;

	sd_event_now(ctl.ev, CLOCK_MONOTONIC, &now);
	for (c = ctl.conns; c; c = next) {
		next = c->next;
		if (c->deadline > now)
			continue;
		if (c->waiting) {
			c->active = now;
			conn_deadline(c, IDLE_USEC);
			continue;
		}
		log_debug("pid %d: %s connection closed", (int)c->peer.pid,
		    c->partial ? "stalled" : "idle");
		conn_close(c);
	}
	conn_reap();
	if (ctl.nconns > 0)
		sd_event_source_set_time(s, usec + SWEEP_USEC);
	else
		sd_event_source_set_enabled(s, SD_EVENT_OFF);	/* idle: sleep */
	return 0;
}

/*
 * Close a connection.  A reply that still waits for the commit is dropped
 * with it; its write commits with the batch all the same (the client may
 * retry with the same key and will be told it is a duplicate).  The memory
 * lives on until conn_reap, at the end of the callback: events already
 * taken from the epoll set, and list walks in progress, may still point
 * at it.
 */
static void
conn_close(struct conn *c)
{
	if (c->dead)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ctl.nconns--;
	if (c->queued) {
		struct conn **pp = &ctl.ready;

		/* Not there when kick_cb has taken the list: it skips the dead. */
		while (*pp && *pp != c)
			pp = &(*pp)->ready_next;
		if (*pp)
			*pp = c->ready_next;
	}
	c->dead = true;
	ctl.pending -= c->counted;
	c->counted = 0;
	close(c->fd);		/* leaves the epoll set with it */
	c->dead_next = ctl.dead;
	ctl.dead = c;
	if (ctl.lio && ctl.nconns < ctl.conn_max && ctl.accept_retry == NULL)
		sd_event_source_set_enabled(ctl.lio, SD_EVENT_ON);
}

/* Free the connections closed since the last call. */
static void
conn_reap(void)
{
	struct conn	*c;

	while ((c = ctl.dead) != NULL) {
		ctl.dead = c->dead_next;
		if (c->nheld > 0 && exec_on())
			continue;	/* its last job's return frees it (rjob_done) */
		free(c->in);
		msgpack_sbuffer_destroy(&c->out);
		msgpack_sbuffer_destroy(&c->held);
		free(c);
	}
}

static int
accept_retry_cb(sd_event_source *s, uint64_t usec, void *arg)
{
	ctl.accept_retry = sd_event_source_unref(ctl.accept_retry);
	sd_event_source_set_enabled(ctl.lio, SD_EVENT_ON);
	return 0;
}

/*
 * At the connection cap, make room by closing the connection that has been
 * silent longest (one not waiting for a commit): a crowd of stalled clients
 * cannot keep a good one out.  Returns false when none can go.
 */
static bool
conn_evict(void)
{
	struct conn	*c, *victim = NULL;

	for (c = ctl.conns; c; c = c->next)
		if (!c->waiting && (victim == NULL || c->active < victim->active))
			victim = c;
	if (victim == NULL)
		return false;
	log_debug("pid %d: closed to make room", (int)victim->peer.pid);
	conn_close(victim);
	conn_reap();	/* accept_cb runs outside conns_cb: nothing points at it */
	return true;
}

static int
accept_cb(sd_event_source *s, int lfd, uint32_t revents, void *arg)
{
	struct ucred		 uc;
	socklen_t		 len = sizeof(uc);
	struct epoll_event	 ev;
	struct conn		*c;
	int			 fd;

	for (;;) {
		if (ctl.nconns >= ctl.conn_max && !conn_evict()) {
			sd_event_source_set_enabled(ctl.lio, SD_EVENT_OFF);
			return 0;
		}
		if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Out of descriptors: pause accepting instead of spinning. */
				log_warn("accept");
				sd_event_source_set_enabled(ctl.lio, SD_EVENT_OFF);
				if (ctl.accept_retry == NULL)
					sd_event_add_time_relative(ctl.ev, &ctl.accept_retry,
					    CLOCK_MONOTONIC, 250000, 0, accept_retry_cb, NULL);
			} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept");
			return 0;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1 ||
		    (c = calloc(1, sizeof(*c))) == NULL) {
			log_warn("connection refused");
			close(fd);
			continue;
		}
		c->fd = fd;
		sd_event_now(ctl.ev, CLOCK_MONOTONIC, &c->active);
		conn_deadline(c, IDLE_USEC);
		c->peer = (struct peer){ uc.uid, uc.gid, uc.pid, peer_admin(fd, &uc) };
		msgpack_sbuffer_init(&c->out);
		msgpack_sbuffer_init(&c->held);
		/* Data already queued raises the first edge at once. */
		c->events = EPOLLIN | EPOLLRDHUP | EPOLLET;
		ev = (struct epoll_event){ .events = c->events, .data.ptr = c };
		if (epoll_ctl(ctl.efd, EPOLL_CTL_ADD, fd, &ev) == -1) {
			log_warn("cannot watch a new connection");
			close(fd);
			free(c);
			continue;
		}
		c->next = ctl.conns;
		if (ctl.conns)
			ctl.conns->prev = c;
		ctl.conns = c;
		if (ctl.nconns++ == 0 &&
		    sd_event_source_get_enabled(ctl.sweep, NULL) == 0) {
			sd_event_source_set_time(ctl.sweep, c->active + SWEEP_USEC);
			sd_event_source_set_enabled(ctl.sweep, SD_EVENT_ON);
		}
	}
}

/*
 * Bind the socket ourselves (started by hand): make its directory, refuse
 * to steal the socket of a running tokqd, remove a stale one, mode 0660.
 */
static int
control_bind(const char *path)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	char			 dir[PATH_MAX], *slash;
	int			 fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		fatalx("socket path too long: %s", path);
	strcpy(sun.sun_path, path);
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST)
			fatal("mkdir %s", dir);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
		fatal("socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		fatalx("%s: another tokqd is listening there", path);
	close(fd);
	if (unlink(path) == -1 && errno != ENOENT)
		fatal("unlink %s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
		fatal("socket");
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("bind %s", path);
	if (chmod(path, 0660) == -1)
		fatal("chmod %s", path);
	if (listen(fd, 128) == -1)
		fatal("listen %s", path);
	return fd;
}

/* Take the socket from systemd, or bind it; watch it. */
int
control_init(sd_event *ev)
{
	struct rlimit	 rl;
	int		 n;

	ctl.ev = ev;
	ctl.conn_max = CONN_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < CONN_MAX + 64)
		ctl.conn_max = rl.rlim_cur > 96 ? rl.rlim_cur - 64 : 32;
	n = sd_listen_fds(1);
	if (n > 1)
		fatalx("systemd passed %d sockets; tokqd takes one", n);
	if (n == 1) {
		ctl.lfd = SD_LISTEN_FDS_START;
		if (sd_is_socket_unix(ctl.lfd, SOCK_STREAM, 1, NULL, 0) <= 0)
			fatalx("the socket systemd passed is not a listening Unix stream socket");
		if (fcntl(ctl.lfd, F_SETFL, fcntl(ctl.lfd, F_GETFL) | O_NONBLOCK) == -1)
			fatal("fcntl");
		ctl.activated = true;
	} else
		ctl.lfd = control_bind(env.socket_path);
	if ((ctl.efd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	if (sd_event_add_io(ev, &ctl.lio, ctl.lfd, EPOLLIN, accept_cb, NULL) < 0 ||
	    sd_event_add_io(ev, &ctl.eio, ctl.efd, EPOLLIN, conns_cb, NULL) < 0 ||
	    sd_event_add_time_relative(ev, &ctl.sweep, CLOCK_MONOTONIC,
	    SWEEP_USEC, 0, sweep_cb, NULL) < 0 ||
	    sd_event_add_defer(ev, &ctl.kick, kick_cb, NULL) < 0)
		fatalx("cannot watch the socket");
	sd_event_source_set_enabled(ctl.kick, SD_EVENT_OFF);
	sd_event_source_set_enabled(ctl.sweep, SD_EVENT_OFF);
	return 0;
}

/* Did the socket come from systemd (socket activation)? */
bool
control_activated(void)
{
	return ctl.activated;
}

size_t
control_nconns(void)
{
	return ctl.nconns;
}

/* Close everything: batch_shutdown() has answered what was in flight. */
void
control_shutdown(void)
{
	while (ctl.conns) {
		conn_flush(ctl.conns);	/* best effort: the socket is non-blocking */
		conn_close(ctl.conns);
	}
	conn_reap();
	sd_event_source_disable_unref(ctl.lio);
	ctl.lio = NULL;
	ctl.eio = sd_event_source_disable_unref(ctl.eio);
	ctl.sweep = sd_event_source_disable_unref(ctl.sweep);
	ctl.kick = sd_event_source_disable_unref(ctl.kick);
	close(ctl.efd);
	ctl.accept_retry = sd_event_source_disable_unref(ctl.accept_retry);
	if (!ctl.activated)
		unlink(env.socket_path);
	close(ctl.lfd);
}
