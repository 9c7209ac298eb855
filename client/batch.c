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
 * Callers may write many lines before reading the answers (like git
 * cat-file --batch): answers are buffered while more input is already
 * waiting, and flushed before tokq batch waits for input, so an answer is
 * never held back while the caller waits for it.
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
#define OUT_BUF		65536		/* stdout's buffer */
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
	struct req	 r;		/* its flags point into arr's strings */
	json_t		*arr;
	bool		 flight;	/* sent, its reply not read yet */
	int		 rc;		/* when done: the exit code */
	size_t		 len;		/* when in flight: the request's bytes */
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

/* Read the reply of the oldest request in flight, s, into its slot. */
static void
reply_read(struct batch *b, struct slot *s)
{
	struct answer	 a;
	size_t		 len;
	int		 rc;

	memset(&a, 0, sizeof(a));
	msgpack_unpacked_init(&a.up);
	if ((a.buf = conn_recv(&s->jb, b->fd, &b->rb, &len)) == NULL) {
		slot_done(b, s, s->jb.exit);
		conn_lost(b, &s->jb);
	} else {
		b->used_ms = conn_now_ms();
		if ((rc = reply_of(&s->jb, a.buf, len, &a.up, &a.reply)) == 0)
			rc = cmd_result(&s->jb, &s->r, &a);
		slot_done(b, s, rc);
	}
	answer_free(&a);
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

/*
 * One line (n bytes at p, no newline) into slot s: its request sent (s in
 * flight), or the exit code of what failed before an answer came.
 */
static int
line_start(struct batch *b, struct slot *s, const char *p, size_t n)
{
	struct job	*jb = &s->jb;
	json_error_t	 e;
	json_t		*el;
	size_t		 i, na;
	int		 rc;

	if ((s->arr = json_loadb(p, n, 0, &e)) == NULL)
		return usage_fail(jb, "batch: line %ju is not JSON (%s)", b->lineno, e.text);
	if (!json_is_array(s->arr) || (na = json_array_size(s->arr)) == 0)
		return usage_fail(jb, "batch: line %ju: give a JSON array of strings, the "
		    "arguments after tokq, a command first", b->lineno);
	if ((rc = args_room(b, jb, na + 1)) != 0)
		return rc;
	b->argv[0] = "tokq";
	json_array_foreach(s->arr, i, el) {
		if (!json_is_string(el))
			return usage_fail(jb, "batch: line %ju: argument %zu is not a string",
			    b->lineno, i + 1);
		b->argv[i + 1] = (char *)json_string_value(el);
	}
	b->argv[na + 1] = NULL;
	if ((rc = line_cmd(b, jb, (int)na + 1, &s->r)) != 0 ||
	    (rc = request_build(jb, &s->r, &b->sb)) != 0)
		return rc;
	return batch_send(b, s);
}

/* The answer of a job that came to rc, as one line on stdout. */
static void
answer_put(struct batch *b, struct job *jb, int rc)
{
	json_t	*o = jb->out != NULL ? jb->out : json_object();

	json_object_set_new(o, "exit", json_integer(rc));
	if (jb->err[0] != '\0')
		json_object_set_new(o, "error", json_text(jb->err));
	json_write(stdout, o);
	if (putchar('\n') == EOF || ferror(stdout))
		b->werr = errno ? errno : EIO;
	json_decref(o);
	jb->out = NULL;
}

/* Print the answers due, in input order: all of them when all is set. */
static void
answers_out(struct batch *b, bool all)
{
	struct slot	*s;

	while (b->n > 0) {
		s = slot_at(b, 0);
		if (s->flight) {
			if (!all && b->n < WINDOW)
				return;
			reply_read(b, s);
		}
		answer_put(b, &s->jb, s->rc);
		req_free(&s->r);
		json_decref(s->arr);
		s->arr = NULL;
		b->head = (b->head + 1) % WINDOW;
		b->n--;
	}
}

/* A new slot at the end of the ring, made room for: the next line's. */
static struct slot *
slot_new(struct batch *b)
{
	struct slot	*s;

	if (b->n == WINDOW)
		answers_out(b, false);
	s = slot_at(b, b->n++);
	memset(s, 0, sizeof(*s));
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
		answers_out(b, true);
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
 * Lines in, answers out, until the end of stdin: 0; 70 when stdin cannot
 * be read or stdout written (a reader gone, EPIPE, ends quietly with 0).
 */
int
run_batch(struct job *jb, const struct req *r, const char *sockopt)
{
	struct batch	 b;
	char		*nl;
	ssize_t		 n;
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
	setvbuf(stdout, NULL, _IOFBF, OUT_BUF);
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
		if (!input_waiting()) {
			/* The caller may wait for them: every answer out. */
			answers_out(&b, true);
			b.down = false;
			if (b.werr != 0)
				break;
			if (fflush(stdout) == EOF) {
				b.werr = errno;
				break;
			}
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
		answers_out(&b, true);
	if (b.werr == 0 && fflush(stdout) == EOF)
		b.werr = errno;
	if (b.werr != 0 && b.werr != EPIPE)
		rc = job_fail(jb, TOKQ_EXIT_SOFTWARE, "batch: cannot write output: %s",
		    strerror(b.werr));
	while (b.n > 0) {	/* abandoned: stdout failed */
		req_free(&slot_at(&b, 0)->r);
		json_decref(slot_at(&b, 0)->arr);
		b.head = (b.head + 1) % WINDOW;
		b.n--;
	}
	conn_drop(&b);
	free(b.rb.p);
	free(b.q);
	msgpack_sbuffer_destroy(&b.sb);
	free(b.argv);
	free(b.in);
	return rc;
}
