/*
 * batch.c: tokq batch, one co-process per bot.
 *
 * Spawning tokq around every LLM call costs a process; a bot that keeps
 * one `tokq batch` pays it once.  Each stdin line is a JSON array of
 * strings, the arguments that would follow `tokq`; each answer is one
 * stdout line, in order: the object `tokq --json ARGS` prints, plus
 * "exit" (the exit code the command would have had) and, on failure,
 * "error" (its one line, without "tokq: ").  A line that is no such array,
 * or no command, answers {"exit":64,"error":…} and the batch goes on.
 *
 * The choices the contract leaves to tokq:
 *  - --json is implied and may be given; --socket, --help and --version
 *    in a line are refused (64): the batch's own --socket or TOKQ_SOCKET
 *    apply, and help is text, not an answer;
 *  - nothing is read from files or stdin (stdin is the batch's own): a
 *    --usage-json that is no document is refused, and so are import
 *    (reads a file or stdin) and export (writes a stream of lines), 64;
 *  - a line may hold up to TOKQ_FRAME_MAX bytes (1 MiB); a longer one is
 *    answered 64 when the limit is passed and the rest of it skipped.
 *
 * One connection serves every line: opened on the first request, kept,
 * and opened again after tokqd went away.  The requests of lines already
 * read are sent without waiting for each answer, up to WINDOW lines (and
 * FLIGHT_BYTES of requests) ahead; their answers are read in order, and
 * tokqd's group commit then takes several writes of the batch at once.
 * A request the broken connection did not take is sent again on a new one
 * (nothing was kept: tokqd acts only on a whole frame); each request sent
 * with no answer back answers 75 "unknown", as tokq --json does, and the
 * next line connects anew.  While nothing listens on the socket (tokqd
 * restarting) a connect is retried for up to a second; once that failed,
 * the lines already waiting try one connect each and answer 69 at once,
 * so a queue of calls does not take a second each; a line that comes
 * after the batch waited for input gets the full second again.
 *
 * While requests are in flight and no whole line is read, tokq batch
 * waits for whichever comes first, a reply or more input, so a line
 * written while a reply is on its way is sent at once.
 *
 * Callers may write many lines before reading the answers (like git
 * cat-file --batch): answers are formed in memory and leave in one write
 * before tokq batch waits for anything, so an answer is never held back
 * while the caller waits for it, and a burst of answers is one write.
 *
 * What a line costs is mostly two wake-ups of this process (for the line,
 * for its reply) and the other two it causes; so nothing else is spent on
 * one: a line that is a plain array of strings is read in place, without
 * a JSON document; an answer is written straight from the reply map
 * (json_put_reply); a reply is read from the socket in place; a lone
 * line's whole round is read, send, poll, recv, write.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define LINE_MAX_BYTES	TOKQ_FRAME_MAX	/* a line, its newline not counted */
#define OUT_BUF		65536		/* answers formed leave once this many bytes */
#define KEEP_BYTES	65536		/* a buffer kept for the next line, unless a
					   large line or reply left it larger */
#define RECONNECT_MS	1000		/* connect retries while tokqd restarts */
#define IDLE_REUSE_MS	50000		/* tokqd closes a connection silent 60 s:
					   one older is opened anew first */
#define WINDOW		64		/* lines read and not yet answered */
#define FLIGHT_BYTES	32768		/* requests in flight, beyond the first: less
					   than a socket buffer, so a send never
					   waits on tokqd while its replies wait
					   on us */

/* A line read and not yet answered: done, or its request in flight. */
struct slot {
	struct job	 jb;
	struct req	 r;		/* its flags point into the line's strings:
					   in args, or in arr */
	json_t		*arr;		/* the line as jansson read it, or NULL */
	bool		 flight;	/* sent, its reply not read yet */
	int		 rc;		/* when done: the exit code */
	size_t		 len;		/* when in flight: the request's bytes */
	/* Kept from line to line, their memory reused: */
	struct obuf	 args;		/* the line's copy, its strings cut in place */
	struct obuf	 text;		/* the reply's object, as --json prints it,
					   when it was written from the reply */
};

struct batch {
	char		 sock[PATH_MAX];
	bool		 nosock;	/* no socket path: every request is 69 */
	bool		 down;		/* connect retries failed: one try a line
					   until the batch waits for input */
	int		 fd;		/* the connection, or -1 */
	struct rbuf	 rb;		/* its replies read ahead */
	int64_t		 used_ms;	/* when it last carried an answer */
	msgpack_sbuffer	 sb;		/* the request, its memory kept */
	struct slot	*q;		/* WINDOW slots, a ring in input order */
	size_t		 head, n;
	size_t		 nflight, flight_bytes;
	char		*in;		/* input: LINE_MAX_BYTES + 1 */
	size_t		 start, scan, end;
	bool		 skipping;	/* the rest of a line too long */
	uintmax_t	 lineno;
	char		**argv;		/* a line's arguments, then the rest */
	size_t		 argcap;
	struct obuf	 out;		/* answers formed, not written yet */
	int		 werr;		/* errno of a failed write on stdout */
};

/* Forget an error a job formed, to try again. */
static void
job_reset(struct job *jb)
{
	jb->exit = 0;
	jb->err[0] = '\0';
	json_decref(jb->out);
	jb->out = NULL;
}

static void
conn_drop(struct batch *b)
{
	if (b->fd != -1)
		close(b->fd);
	b->fd = -1;
	b->rb.off = b->rb.len = 0;
}

static struct slot *
slot_at(struct batch *b, size_t i)
{
	return &b->q[(b->head + i) % WINDOW];
}

/* A slot's answer in: its reply read, or its error formed; done. */
/* The oldest request in flight (b->nflight > 0). */
static struct slot *
slot_oldest(struct batch *b)
{
	size_t	 i;

	for (i = 0; !slot_at(b, i)->flight; i++)
		;
	return slot_at(b, i);
}

static void
slot_done(struct batch *b, struct slot *s, int rc)
{
	if (s->flight) {
		b->nflight--;
		b->flight_bytes -= s->len;
		s->flight = false;
	}
	s->rc = rc;
}

/*
 * The connection broke, or went silent, with requests in flight: each one
 * not answered yet answers 75 "unknown" (what jb formed for the first).
 */
static void
conn_lost(struct batch *b, const struct job *jb)
{
	struct slot	*s;
	size_t		 i;

	conn_drop(b);
	for (i = 0; i < b->n && b->nflight > 0; i++)
		if ((s = slot_at(b, i))->flight && &s->jb != jb)
			slot_done(b, s, temp_fail(&s->jb, true, "the connection "
			    "to tokqd broke before the answer came"));
}

/*
 * What a reply that went through comes to: cmd_result's exit code, and the
 * object --json prints, written straight from the reply map into s->text
 * without a document; a reply that holds "exit" or "error" itself, or
 * that only jansson prints exactly, gets the document tokq --json builds.
 */
static int
reply_answer(struct slot *s, const struct answer *a)
{
	int	 rc;

	s->jb.json = false;	/* the exit code alone: the object is written here */
	rc = cmd_result(&s->jb, &s->r, a);
	s->jb.json = true;
	if (s->jb.out == NULL && (mp_get(a->reply, "exit") != NULL ||
	    mp_get(a->reply, "error") != NULL || json_put_reply(&s->text, a->reply) == -1))
		s->jb.out = json_of_reply(a->reply);
	if (s->text.nomem) {
		s->text.len = 0;
		return job_fail(&s->jb, TOKQ_EXIT_SOFTWARE, "out of memory");
	}
	return rc;
}

/* Read the reply of the oldest request in flight, s, into its slot. */
static void
reply_read(struct batch *b, struct slot *s)
{
	struct answer	 a;
	const char	*buf;
	size_t		 len;
	int		 rc;

	memset(&a, 0, sizeof(a));
	msgpack_unpacked_init(&a.up);
	if ((buf = conn_recv(&s->jb, b->fd, &b->rb, &len)) == NULL) {
		slot_done(b, s, s->jb.exit);
		conn_lost(b, &s->jb);
	} else {
		b->used_ms = conn_now_ms();
		if ((rc = reply_of(&s->jb, buf, len, &a.up, &a.reply)) == 0)
			rc = reply_answer(s, &a);
		slot_done(b, s, rc);
	}
	msgpack_unpacked_destroy(&a.up);	/* the frame is conn_recv's */
}

/*
 * The request in b->sb sent on the batch's connection, opened or opened
 * anew as needed: 0 with s in flight, or the exit code of the error formed.
 */
static int
batch_send(struct batch *b, struct slot *s)
{
	struct job	*jb = &s->jb;
	int		 tries;

	if (b->nosock)
		return job_fail(jb, TOKQ_EXIT_UNAVAILABLE, "no socket path: give --socket "
		    "to tokq batch, or set TOKQ_SOCKET or XDG_RUNTIME_DIR");
	if (b->fd != -1 && b->nflight == 0 &&
	    conn_now_ms() - b->used_ms > IDLE_REUSE_MS)
		conn_drop(b);
	for (tries = 0; ; tries++) {
		if (b->fd == -1) {
			b->fd = b->down ? conn_connect(jb, b->sock) :
			    conn_connect_retry(jb, b->sock, RECONNECT_MS);
			if (b->fd == -1) {
				b->down = true;
				return jb->exit;
			}
			b->down = false;
			b->used_ms = conn_now_ms();
		}
		jb->unsent = false;
		if (conn_send(jb, b->fd, b->sb.data, b->sb.size) == 0)
			break;
		/*
		 * Its state is unknown: never reused.  What tokqd answered
		 * before it went away may still be read.
		 */
		while (jb->unsent && b->nflight > 0 && b->fd != -1)
			reply_read(b, slot_oldest(b));
		conn_lost(b, jb);
		if (!jb->unsent || tries > 0)
			return jb->exit;
		job_reset(jb);	/* tokqd went away in between: the request was not taken */
	}
	s->flight = true;
	s->len = b->sb.size;
	b->nflight++;
	b->flight_bytes += s->len;
	return 0;
}

/* Room for n arguments and a NULL, twice (argv, then the rest of it). */
static int
args_room(struct batch *b, struct job *jb, size_t n)
{
	char	**p;

	if (n + 2 <= b->argcap)
		return 0;
	if ((p = reallocarray(b->argv, 2 * (n + 2), sizeof(*p))) == NULL)
		return job_fail(jb, TOKQ_EXIT_SOFTWARE, "out of memory");
	b->argv = p;
	b->argcap = n + 2;
	return 0;
}

/*
 * The command of an argument array in the job, its flags parsed into r:
 * 0, or 64 for anything tokq would refuse, or that a batch refuses.
 */
static int
line_cmd(struct batch *b, struct job *jb, int argc, struct req *r)
{
	struct globals		 g = { 0 };
	const char		*group;
	char			**rest = b->argv + b->argcap, words[128];
	int			 nrest, used, rc;

	if ((nrest = parse_globals(jb, argc, b->argv, &g, rest)) == -1)
		return jb->exit;
	if (g.socket != NULL)
		return usage_fail(jb, "batch: --socket cannot be given in a line; give it "
		    "to tokq batch");
	if (g.help || g.version || (nrest > 0 && strcmp(rest[0], "help") == 0))
		return usage_fail(jb, "batch: help and --version are not answered in a "
		    "batch; run tokq help");
	if (nrest == 0)
		return usage_fail(jb, "give a command (see 'tokq help')");
	if (rest[0][0] == '-')
		return usage_fail(jb, "give the command before its flags ('%s')", rest[0]);
	if ((rc = cmd_match(jb, rest, nrest, &used, &group, &jb->cmd)) != 0)
		return rc;
	if (jb->cmd == NULL) {
		group_words(group, words, sizeof(words));
		return group_fail(jb, group, "missing subcommand: %s", words);
	}
	if (jb->cmd->run == run_batch)
		return usage_fail(jb, "a batch cannot start another");
	if (jb->cmd->run == run_import)
		return usage_fail(jb, "not in a batch: it reads a file or stdin; run "
		    "tokq import");
	if (jb->cmd->run != NULL)
		return usage_fail(jb, "not in a batch: it writes a stream of lines; run "
		    "tokq %s", jb->cmd->words[0]);
	r->cmd = jb->cmd;
	return parse_args(jb, r, rest + used, nrest - used);
}

/* Past the JSON whitespace at p, up to e. */
static char *
skip_ws(char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/*
 * The arguments of a line that is a JSON array of plain strings (no
 * escape, no control character, valid UTF-8: what a bot sends), cut in
 * place in the slot's copy of the line, into b->argv from 1: their count;
 * or -1 for any other line, which jansson then reads and words the error
 * of.  A line read here jansson reads to the same strings.
 */
static int
args_plain(struct batch *b, struct slot *s, const char *line, size_t n)
{
	char		*p, *e, *str;
	unsigned char	 c, high;
	int		 na = 0;

	s->args.len = 0;
	obuf_add(&s->args, line, n);
	if (s->args.nomem || n == 0)
		return -1;
	p = s->args.p;
	e = p + n;
	if ((p = skip_ws(p, e)) == e || *p++ != '[')
		return -1;
	for (;;) {
		if ((p = skip_ws(p, e)) == e || *p++ != '"')
			return -1;
		for (str = p, high = 0; p < e && (c = *p) != '"'; p++) {
			if (c < 0x20 || c == '\\')
				return -1;
			high |= c & 0x80;
		}
		if (p == e || (high && !tokq_utf8_valid(str, p - str)))
			return -1;
		*p++ = '\0';
		if (args_room(b, &s->jb, na + 2) != 0)
			return -1;
		b->argv[++na] = str;
		if ((p = skip_ws(p, e)) < e && *p == ',') {
			p++;
			continue;
		}
		if (p < e && *p++ == ']')
			break;
		return -1;
	}
	return skip_ws(p, e) == e ? na : -1;
}

/*
 * The arguments of any other line, as jansson reads it, into b->argv from
 * 1: their count, or -1 with the usage error formed (no JSON, no array of
 * strings, nothing in it).
 */
static int
args_json(struct batch *b, struct slot *s, const char *p, size_t n)
{
	struct job	*jb = &s->jb;
	json_error_t	 e;
	json_t		*el;
	size_t		 i, na;

	if ((s->arr = json_loadb(p, n, 0, &e)) == NULL) {
		usage_fail(jb, "batch: line %ju is not JSON (%s)", b->lineno, e.text);
		return -1;
	}
	if (!json_is_array(s->arr) || (na = json_array_size(s->arr)) == 0) {
		usage_fail(jb, "batch: line %ju: give a JSON array of strings, the "
		    "arguments after tokq, a command first", b->lineno);
		return -1;
	}
	if (args_room(b, jb, na + 1) != 0)
		return -1;
	json_array_foreach(s->arr, i, el) {
		if (!json_is_string(el)) {
			usage_fail(jb, "batch: line %ju: argument %zu is not a string",
			    b->lineno, i + 1);
			return -1;
		}
		b->argv[i + 1] = (char *)json_string_value(el);
	}
	return (int)na;
}

/*
 * One line (n bytes at p, no newline) into slot s: its request sent (s in
 * flight), or the exit code of what failed before an answer came.
 */
static int
line_start(struct batch *b, struct slot *s, const char *p, size_t n)
{
	struct job	*jb = &s->jb;
	int		 na, rc;

	if ((na = args_plain(b, s, p, n)) == -1 && (na = args_json(b, s, p, n)) == -1)
		return jb->exit;
	b->argv[0] = "tokq";
	b->argv[na + 1] = NULL;
	if ((rc = line_cmd(b, jb, na + 1, &s->r)) != 0 ||
	    (rc = request_build(jb, &s->r, &b->sb)) != 0)
		return rc;
	return batch_send(b, s);
}

/*
 * The answers formed, out on stdout in one write (more when a pipe takes
 * less at a time); b->werr on failure.
 */
static void
out_flush(struct batch *b)
{
	struct pollfd	 pfd = { .fd = STDOUT_FILENO, .events = POLLOUT };
	size_t		 off = 0;
	ssize_t		 n;

	if (b->out.nomem && b->werr == 0)
		b->werr = ENOMEM;
	while (off < b->out.len && b->werr == 0) {
		if ((n = write(STDOUT_FILENO, b->out.p + off, b->out.len - off)) >= 0)
			off += n;
		else if (errno == EAGAIN)	/* a caller's non-blocking pipe, full */
			(void)poll(&pfd, 1, -1);
		else if (errno != EINTR)
			b->werr = errno;
	}
	b->out.len = 0;
	if (b->out.cap > 4 * OUT_BUF)
		obuf_free(&b->out);
}

/*
 * The answer of slot s as one line in b->out: the reply's object with
 * "exit" and, on failure, "error" after its keys (set in the document
 * when there is one, as tokq --json's own).
 */
static void
answer_put(struct batch *b, struct slot *s)
{
	struct job	*jb = &s->jb;
	struct obuf	*o = &b->out;

	if (jb->out != NULL) {
		json_object_set_new(jb->out, "exit", json_integer(s->rc));
		if (jb->err[0] != '\0')
			json_object_set_new(jb->out, "error", json_text(jb->err));
		json_put(o, jb->out);
		json_decref(jb->out);
		jb->out = NULL;
	} else {
		if (s->text.len > 2) {	/* an object with keys: on, after them */
			obuf_add(o, s->text.p, s->text.len - 1);
			OBUF_LIT(o, ",\"exit\":");
		} else
			OBUF_LIT(o, "{\"exit\":");
		json_put_int(o, s->rc);
		if (jb->err[0] != '\0') {
			OBUF_LIT(o, ",\"error\":");
			json_put_str(o, jb->err, strlen(jb->err));
		}
		OBUF_LIT(o, "}");
	}
	OBUF_LIT(o, "\n");
	if (o->len >= OUT_BUF)
		out_flush(b);
}

/* What the answers due are: done ones; more while the window is full; all. */
enum due { DUE_DONE, DUE_ROOM, DUE_ALL };

/* The answers due, in input order, into b->out; replies read as needed. */
static void
answers_out(struct batch *b, enum due due)
{
	struct slot	*s;

	while (b->n > 0) {
		s = slot_at(b, 0);
		if (s->flight) {
			if (due == DUE_DONE || (due == DUE_ROOM && b->n < WINDOW))
				return;
			reply_read(b, s);
		}
		answer_put(b, s);
		req_free(&s->r);
		json_decref(s->arr);
		s->arr = NULL;
		if (s->args.cap > KEEP_BYTES)
			obuf_free(&s->args);
		if (s->text.cap > KEEP_BYTES)
			obuf_free(&s->text);
		b->head = (b->head + 1) % WINDOW;
		b->n--;
	}
}

/* A new slot at the end of the ring, made room for: the next line's. */
static struct slot *
slot_new(struct batch *b)
{
	struct slot	*s;
	struct obuf	 args, text;

	if (b->n == WINDOW)
		answers_out(b, DUE_ROOM);
	s = slot_at(b, b->n++);
	args = s->args;
	text = s->text;
	memset(s, 0, sizeof(*s));
	s->args.p = args.p;
	s->args.cap = args.cap;
	s->text.p = text.p;
	s->text.cap = text.cap;
	b->lineno++;
	return s;
}

/* Answer one line: now, or once its reply comes. */
static void
line_answer(struct batch *b, const char *p, size_t n)
{
	struct slot	*s;

	/* Not past the bytes in flight: a send never waits on our reading. */
	if (b->nflight > 0 && b->flight_bytes + n + 64 > FLIGHT_BYTES)
		answers_out(b, DUE_ALL);
	s = slot_new(b);
	s->jb.json = s->jb.batch = true;
	if ((s->rc = line_start(b, s, p, n)) != 0)
		slot_done(b, s, s->rc);
}

/* Answer a line longer than the limit, before its end is read. */
static void
line_too_long(struct batch *b)
{
	struct slot	*s = slot_new(b);

	s->rc = usage_fail(&s->jb, "batch: line %ju is longer than %d KiB",
	    b->lineno, LINE_MAX_BYTES / 1024);
}

/* Is more input waiting on stdin already? */
static bool
input_waiting(void)
{
	struct pollfd	 pfd = { .fd = STDIN_FILENO, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

/*
 * Requests are in flight and no whole line is read: wait for whichever
 * comes first, a reply or more input.  The replies that came are read and
 * their answers formed.  Answers formed leave first when the batch is to
 * wait (the caller may be waiting for them), not while more is there to
 * read.  True when input is there to read.
 */
static bool
wait_either(struct batch *b)
{
	struct pollfd	 pfd[2] = {
		{ .fd = STDIN_FILENO, .events = POLLIN }, { .fd = b->fd, .events = POLLIN }
	};
	struct slot	*s;
	int		 n = 0;

	if (b->out.len > 0 && (n = poll(pfd, 2, 0)) == 0)
		out_flush(b);
	if (n == 0)
		n = poll(pfd, 2, CONN_REPLY_MS);
	if (n == -1 && errno == EINTR)
		return false;
	if (n <= 0) {		/* tokqd silent all the while, or no poll */
		s = slot_oldest(b);
		slot_done(b, s, n == 0 ? conn_silent(&s->jb) :
		    job_fail(&s->jb, TOKQ_EXIT_SOFTWARE, "poll: %s", strerror(errno)));
		conn_lost(b, &s->jb);
		return false;
	}
	if (pfd[1].revents != 0) {
		do
			reply_read(b, slot_oldest(b));
		while (b->nflight > 0 && conn_buffered(&b->rb));
		answers_out(b, DUE_DONE);
	}
	return pfd[0].revents != 0;
}

/*
 * Lines in, answers out, until the end of stdin: 0; 70 when stdin cannot
 * be read or stdout written (a reader gone, EPIPE, ends quietly with 0).
 */
int
run_batch(struct job *jb, const struct req *r, const char *sockopt)
{
	struct batch	 b;
	struct slot	*s;
	char		*nl;
	ssize_t		 n;
	size_t		 i;
	int		 rc = TOKQ_EXIT_OK;

	(void)r;
	memset(&b, 0, sizeof(b));
	b.fd = -1;
	b.nosock = tokq_socket_path(sockopt, b.sock, sizeof(b.sock)) == -1;
	msgpack_sbuffer_init(&b.sb);
	if ((b.in = malloc(LINE_MAX_BYTES + 1)) == NULL ||
	    (b.q = calloc(WINDOW, sizeof(*b.q))) == NULL)
		return job_fail(jb, TOKQ_EXIT_SOFTWARE, "out of memory");
	signal(SIGPIPE, SIG_IGN);	/* a reader gone is EPIPE, told below */
	while (b.werr == 0) {
		if ((nl = memchr(b.in + b.scan, '\n', b.end - b.scan)) != NULL) {
			if (!b.skipping)
				line_answer(&b, b.in + b.start, nl - (b.in + b.start));
			b.skipping = false;
			b.start = b.scan = nl - b.in + 1;
			continue;
		}
		b.scan = b.end;
		if (b.skipping)
			b.start = b.scan = b.end = 0;
		else if (b.end - b.start > LINE_MAX_BYTES) {
			line_too_long(&b);
			b.skipping = true;
			b.start = b.scan = b.end = 0;
			continue;
		}
		if (b.start > 0) {
			memmove(b.in, b.in + b.start, b.end - b.start);
			b.end -= b.start;
			b.scan = b.end;
			b.start = 0;
		}
		if (b.nflight > 0) {
			if (!wait_either(&b))
				continue;
		} else {
			/* Nothing on its way: every answer out before the wait. */
			answers_out(&b, DUE_ALL);
			out_flush(&b);
			if (b.werr != 0)
				break;
			if (b.down && !input_waiting())
				b.down = false;
		}
		n = read(STDIN_FILENO, b.in + b.end, LINE_MAX_BYTES + 1 - b.end);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = job_fail(jb, TOKQ_EXIT_SOFTWARE, "batch: cannot read stdin: %s",
			    strerror(errno));
			break;
		}
		if (n == 0) {	/* the end: a last line without its newline too */
			if (!b.skipping && b.end > b.start)
				line_answer(&b, b.in + b.start, b.end - b.start);
			break;
		}
		b.end += n;
	}
	if (b.werr == 0)
		answers_out(&b, DUE_ALL);
	out_flush(&b);
	if (b.werr != 0 && b.werr != EPIPE)
		rc = job_fail(jb, TOKQ_EXIT_SOFTWARE, "batch: cannot write output: %s",
		    strerror(b.werr));
	while (b.n > 0) {	/* abandoned: stdout failed */
		s = slot_at(&b, 0);
		req_free(&s->r);
		json_decref(s->arr);
		json_decref(s->jb.out);
		b.head = (b.head + 1) % WINDOW;
		b.n--;
	}
	for (i = 0; i < WINDOW; i++) {
		obuf_free(&b.q[i].args);
		obuf_free(&b.q[i].text);
	}
	conn_drop(&b);
	free(b.rb.p);
	free(b.q);
	obuf_free(&b.out);
	msgpack_sbuffer_destroy(&b.sb);
	free(b.argv);
	free(b.in);
	return rc;
}
