/*
 * conn.c: tokq's one connection to tokqd.
 *
 * Connect, write one frame, read one frame, all within one deadline.  Every
 * failure prints its one stderr line and exits with the contract's code:
 * 69 when tokqd cannot be reached; 75 in its two cases: busy or gone before
 * the whole request was sent (nothing was kept: tokqd acts only on a whole
 * frame), or silent or gone after it was sent (the outcome is unknown);
 * 70 when what comes back is not a frame.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

#define REPLY_TIMEOUT_MS	30000

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void __attribute__((noreturn))
fail(int ex, const char *fmt, ...)
{
	va_list	 ap;

	fputs("tokq: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(ex);
}

/*
 * Connect to the socket at path, non-blocking from the start so that a
 * daemon with a full backlog is "busy" (75) rather than a hang.
 */
static int
conn_open(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		fail(TOKQ_EXIT_USAGE, "socket path too long: %s", path);
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
		fail(TOKQ_EXIT_SOFTWARE, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	e = errno;
	if (e == EAGAIN)
		temp_fail(false, "tokqd at %s is busy (its backlog is full)", path);
	if (e == EACCES || e == EPERM)
		fail(TOKQ_EXIT_UNAVAILABLE, "cannot connect to tokqd at %s: permission "
		    "denied: is your user in the tokq group?", path);
	fail(TOKQ_EXIT_UNAVAILABLE, "cannot connect to tokqd at %s: %s (is tokqd "
	    "running?)", path, strerror(e));
}

/*
 * Wait until fd is ready for ev, or exit 75 at the deadline: with nothing
 * kept while sending (POLLOUT), with the outcome unknown while waiting for
 * the answer.
 */
static void
wait_for(int fd, short ev, int64_t deadline)
{
	struct pollfd	 pfd = { .fd = fd, .events = ev };
	int64_t		 left;
	int		 n;

	for (;;) {
		if ((left = deadline - now_ms()) <= 0) {
			if (ev == POLLOUT)
				temp_fail(false, "tokqd did not take the request "
				    "within %d s", REPLY_TIMEOUT_MS / 1000);
			temp_fail(true, "tokqd did not answer within %d s",
			    REPLY_TIMEOUT_MS / 1000);
		}
		n = poll(&pfd, 1, (int)left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			fail(TOKQ_EXIT_SOFTWARE, "poll: %s", strerror(errno));
		if (n > 0)
			return;
	}
}

static void
send_all(int fd, const char *p, size_t len, int64_t deadline)
{
	ssize_t	 n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			wait_for(fd, POLLOUT, deadline);
			continue;
		}
		if (n == -1)
			temp_fail(false, "tokqd closed the connection before the "
			    "request was sent (%s)", strerror(errno));
		p += n;
		len -= n;
	}
}

static void
recv_all(int fd, char *p, size_t len, int64_t deadline)
{
	ssize_t	 n;

	while (len > 0) {
		n = recv(fd, p, len, 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			wait_for(fd, POLLIN, deadline);
			continue;
		}
		if (n == -1)
			temp_fail(true, "tokqd closed the connection before "
			    "answering (%s)", strerror(errno));
		if (n == 0)
			temp_fail(true, "tokqd closed the connection before "
			    "answering");
		p += n;
		len -= n;
	}
}

/*
 * Send the msgpack request req (len bytes) as one frame to the socket at
 * path and return the reply frame's body (malloc'd, *replylen bytes), its
 * length checked against TOKQ_FRAME_MAX before anything is allocated.
 */
char *
conn_roundtrip(const char *path, const char *req, size_t len, size_t *replylen)
{
	int	 fd = conn_open(path);
	char	*buf = conn_call(fd, req, len, replylen);

	close(fd);
	return buf;
}

/* A connection for several requests in turn (export, import); exits on failure. */
int
conn_connect(const char *path)
{
	return conn_open(path);
}

/* One request and its reply on the open connection fd, as conn_roundtrip. */
char *
conn_call(int fd, const char *req, size_t len, size_t *replylen)
{
	unsigned char	 hdr[TOKQ_FRAME_HDR];
	int64_t		 deadline;
	uint32_t	 n;
	char		*buf;

	deadline = now_ms() + REPLY_TIMEOUT_MS;
	tokq_frame_hdr(hdr, (uint32_t)len);
	send_all(fd, (const char *)hdr, sizeof(hdr), deadline);
	send_all(fd, req, len, deadline);
	recv_all(fd, (char *)hdr, sizeof(hdr), deadline);
	n = tokq_frame_len(hdr);
	if (n == 0 || n > TOKQ_FRAME_MAX)
		fail(TOKQ_EXIT_SOFTWARE, "malformed reply from tokqd (a frame of %u "
		    "bytes)", n);
	if ((buf = malloc(n)) == NULL)
		fail(TOKQ_EXIT_SOFTWARE, "out of memory");
	recv_all(fd, buf, n, deadline);
	*replylen = n;
	return buf;
}
