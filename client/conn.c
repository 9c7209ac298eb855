/*
 * conn.c: tokq's one connection to tokqd.
 *
 * Connect, write one frame, read one frame, all within one deadline.  Every
 * failure forms its one line (fail.c) and returns the contract's code:
 * 69 when tokqd cannot be reached; 75 in its two cases: busy or gone before
 * the whole request was sent (nothing was kept: tokqd acts only on a whole
 * frame), or silent or gone after it was sent (the outcome is unknown);
 * 70 when what comes back is not a frame.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

int64_t
conn_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A socket connected to path, non-blocking from the start so that a
 * daemon with a full backlog is "busy" (75) rather than a hang; or -1
 * with the errno of what failed in *err (-2 when no socket could be made).
 */
static int
conn_open(const char *path, int *err)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*err = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1) {
		*err = errno;
		return -2;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	*err = errno;
	close(fd);
	return -1;
}

/* The error of a failed conn_open (rc, *err) formed in jb; returns -1. */
static int
conn_fail(struct job *jb, const char *path, int rc, int e)
{
	if (rc == -2)
		job_fail(jb, TOKQ_EXIT_SOFTWARE, "socket: %s", strerror(e));
	else if (e == ENAMETOOLONG)
		job_fail(jb, TOKQ_EXIT_USAGE, "socket path too long: %s", path);
	else if (e == EAGAIN)
		temp_fail(jb, false, "tokqd at %s is busy (its backlog is full)", path);
	else if (e == EACCES || e == EPERM)
		job_fail(jb, TOKQ_EXIT_UNAVAILABLE, "cannot connect to tokqd at %s: permission "
		    "denied: is your user in the tokq group?", path);
	else
		job_fail(jb, TOKQ_EXIT_UNAVAILABLE, "cannot connect to tokqd at %s: %s (is tokqd "
		    "running?)", path, strerror(e));
	return -1;
}

/*
 * Connect to the socket at path: the socket, or -1 with the error formed
 * in jb.  A connection may carry several requests in turn (export,
 * import, batch).
 */
int
conn_connect(struct job *jb, const char *path)
{
	int	 fd, e;

	if ((fd = conn_open(path, &e)) >= 0)
		return fd;
	return conn_fail(jb, path, fd, e);
}

/*
 * conn_connect, trying again for up to ms milliseconds (10, 20, 40 ...
 * ms apart) while nothing listens at path (refused, or no socket file):
 * a tokqd restarting, by hand or by systemd, is back within that time.
 */
int
conn_connect_retry(struct job *jb, const char *path, int ms)
{
	struct timespec	 ts;
	int64_t		 deadline = conn_now_ms() + ms, left;
	int		 fd, e, wait = 10;

	for (;;) {
		if ((fd = conn_open(path, &e)) >= 0)
			return fd;
		if (fd == -2 || (e != ECONNREFUSED && e != ENOENT) ||
		    (left = deadline - conn_now_ms()) <= 0)
			return conn_fail(jb, path, fd, e);
		if (wait > left)
			wait = (int)left;
		ts.tv_sec = wait / 1000;
		ts.tv_nsec = (long)(wait % 1000) * 1000000;
		nanosleep(&ts, NULL);
		wait *= 2;
	}
}

/* The error of a request tokqd left unanswered for the whole timeout: 75. */
int
conn_silent(struct job *jb)
{
	return temp_fail(jb, true, "tokqd did not answer within %d s",
	    CONN_REPLY_MS / 1000);
}

/*
 * Wait until fd is ready for ev: 0, or 75 at the deadline: with nothing
 * kept while sending (POLLOUT), with the outcome unknown while waiting for
 * the answer.
 */
static int
wait_for(struct job *jb, int fd, short ev, int64_t deadline)
{
	struct pollfd	 pfd = { .fd = fd, .events = ev };
	int64_t		 left;
	int		 n;

	for (;;) {
		if ((left = deadline - conn_now_ms()) <= 0) {
			if (ev == POLLOUT)
				return temp_fail(jb, false, "tokqd did not take the "
				    "request within %d s", CONN_REPLY_MS / 1000);
			return conn_silent(jb);
		}
		n = poll(&pfd, 1, (int)left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return job_fail(jb, TOKQ_EXIT_SOFTWARE, "poll: %s", strerror(errno));
		if (n > 0)
			return 0;
	}
}

/* The peer is gone before the whole request was sent: nothing was kept. */
static int
send_fail(struct job *jb, int e)
{
	jb->unsent = e == EPIPE || e == ECONNRESET;
	return temp_fail(jb, false, "tokqd closed the connection before "
	    "the request was sent (%s)", strerror(e));
}

static int
send_all(struct job *jb, int fd, const char *p, size_t len, int64_t deadline)
{
	ssize_t	 n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_for(jb, fd, POLLOUT, deadline) != 0)
				return jb->exit;
			continue;
		}
		if (n == -1)
			return send_fail(jb, errno);
		p += n;
		len -= n;
	}
	return 0;
}

/*
 * The frame hdr + body, in one sendmsg when the socket takes it whole (the
 * usual case): tokqd wakes once for it, not for the header and again for
 * the body.  What a full socket left is sent by send_all.
 */
static int
send_frame(struct job *jb, int fd, const unsigned char *hdr, const char *body,
    size_t len, int64_t deadline)
{
	struct iovec	 iov[2] = {
		{ (void *)hdr, TOKQ_FRAME_HDR }, { (void *)body, len }
	};
	struct msghdr	 mh = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t		 n;
	size_t		 off;

	n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	if (n == -1 && errno != EAGAIN && errno != EINTR)
		return send_fail(jb, errno);
	if (n < 0)
		n = 0;
	if ((size_t)n < TOKQ_FRAME_HDR && send_all(jb, fd, (const char *)hdr + n,
	    TOKQ_FRAME_HDR - n, deadline) != 0)
		return jb->exit;
	off = (size_t)n > TOKQ_FRAME_HDR ? (size_t)n - TOKQ_FRAME_HDR : 0;
	return send_all(jb, fd, body + off, len - off, deadline);
}

/*
 * Receive into p (room for len bytes) until at least min have come: the
 * count received, or -1 with the error formed in jb (the request was sent:
 * its outcome is unknown).  wait: tokqd has yet to answer what was just
 * sent, so wait before asking, rather than ask in vain first.
 */
static ssize_t
recv_some(struct job *jb, int fd, char *p, size_t len, size_t min, bool wait,
    int64_t deadline)
{
	size_t	 got = 0;
	ssize_t	 n;

	if (wait && wait_for(jb, fd, POLLIN, deadline) != 0)
		return -1;
	while (got < min) {
		n = recv(fd, p + got, len - got, 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_for(jb, fd, POLLIN, deadline) != 0)
				return -1;
			continue;
		}
		if (n == -1) {
			temp_fail(jb, true, "tokqd closed the connection before "
			    "answering (%s)", strerror(errno));
			return -1;
		}
		if (n == 0) {
			temp_fail(jb, true, "tokqd closed the connection before "
			    "answering");
			return -1;
		}
		got += n;
	}
	return (ssize_t)got;
}

/*
 * One request and its reply on the open connection fd: the msgpack
 * request req (len bytes) sent as one frame, and the reply frame's body
 * returned (malloc'd, *replylen bytes), its length checked against
 * TOKQ_FRAME_MAX before anything is allocated; NULL with the error formed
 * in jb.  The first receive takes the header and, mostly, the whole reply;
 * tokqd answers one frame a request, so more than the frame is malformed.
 */
char *
conn_call(struct job *jb, int fd, const char *req, size_t len, size_t *replylen)
{
	unsigned char	 hdr[TOKQ_FRAME_HDR];
	char		 first[4096], *buf;
	int64_t		 deadline;
	ssize_t		 got;
	size_t		 have;
	uint32_t	 n;

	deadline = conn_now_ms() + CONN_REPLY_MS;
	tokq_frame_hdr(hdr, (uint32_t)len);
	if (send_frame(jb, fd, hdr, req, len, deadline) != 0 ||
	    (got = recv_some(jb, fd, first, sizeof(first), TOKQ_FRAME_HDR, true,
	    deadline)) == -1)
		return NULL;
	n = tokq_frame_len((const unsigned char *)first);
	have = (size_t)got - TOKQ_FRAME_HDR;
	if (n == 0 || n > TOKQ_FRAME_MAX || have > n) {
		job_fail(jb, TOKQ_EXIT_SOFTWARE, "malformed reply from tokqd (a frame of %u "
		    "bytes)", n);
		return NULL;
	}
	if ((buf = malloc(n)) == NULL) {
		job_fail(jb, TOKQ_EXIT_SOFTWARE, "out of memory");
		return NULL;
	}
	memcpy(buf, first + TOKQ_FRAME_HDR, have);
	if (have < n && recv_some(jb, fd, buf + have, n - have, n - have, true,
	    deadline) == -1) {
		free(buf);
		return NULL;
	}
	*replylen = n;
	return buf;
}

/*
 * Send one request frame on fd without waiting for its reply (tokq batch
 * keeps several in flight): 0, or the exit code of the error formed in jb
 * (jb->unsent when tokqd went away before taking it).
 */
int
conn_send(struct job *jb, int fd, const char *req, size_t len)
{
	unsigned char	 hdr[TOKQ_FRAME_HDR];

	tokq_frame_hdr(hdr, (uint32_t)len);
	return send_frame(jb, fd, hdr, req, len, conn_now_ms() + CONN_REPLY_MS);
}

/* Has rb a whole reply frame read already (conn_recv takes it at once)? */
bool
conn_buffered(const struct rbuf *rb)
{
	size_t		 have = rb->len - rb->off;
	uint32_t	 n;

	if (have < TOKQ_FRAME_HDR)
		return false;
	n = tokq_frame_len((const unsigned char *)rb->p + rb->off);
	return n > 0 && n <= TOKQ_FRAME_MAX && have - TOKQ_FRAME_HDR >= n;
}

/*
 * The next reply frame on fd, read through rb, which keeps what came
 * beyond it (the replies to later requests in flight): its body, *replylen
 * bytes, in rb's memory, good until the next call; or NULL with the error
 * formed in jb (75 unknown when the connection broke or stayed silent).
 * It asks the socket before it waits on it: this is for requests sent
 * some time ago, whose replies are there as often as not.
 */
const char *
conn_recv(struct job *jb, int fd, struct rbuf *rb, size_t *replylen)
{
	int64_t		 deadline = conn_now_ms() + CONN_REPLY_MS;
	size_t		 need = TOKQ_FRAME_HDR, have;
	ssize_t		 got;
	uint32_t	 n = 0;
	const char	*body;
	char		*p;

	for (;;) {
		have = rb->len - rb->off;
		if (n == 0 && have >= TOKQ_FRAME_HDR) {
			n = tokq_frame_len((const unsigned char *)rb->p + rb->off);
			if (n == 0 || n > TOKQ_FRAME_MAX) {
				job_fail(jb, TOKQ_EXIT_SOFTWARE, "malformed reply from "
				    "tokqd (a frame of %u bytes)", n);
				return NULL;
			}
			need = TOKQ_FRAME_HDR + n;
		}
		if (have >= need && n > 0)
			break;
		if (rb->off > 0) {	/* room at the front first */
			memmove(rb->p, rb->p + rb->off, have);
			rb->len = have;
			rb->off = 0;
		}
		if (rb->cap < need || rb->cap - rb->len < 4096) {
			size_t ncap = need > rb->len + 65536 ? need : rb->len + 65536;

			if ((p = realloc(rb->p, ncap)) == NULL) {
				job_fail(jb, TOKQ_EXIT_SOFTWARE, "out of memory");
				return NULL;
			}
			rb->p = p;
			rb->cap = ncap;
		}
		if ((got = recv_some(jb, fd, rb->p + rb->len, rb->cap - rb->len, 1, false,
		    deadline)) == -1)
			return NULL;
		rb->len += (size_t)got;
	}
	body = rb->p + rb->off + TOKQ_FRAME_HDR;
	rb->off += need;
	if (rb->off == rb->len)
		rb->off = rb->len = 0;	/* the body stays where it is until the next recv */
	*replylen = n;
	return body;
}
