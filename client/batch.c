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
 * and opened again after tokqd went away.  A request the broken
 * connection did not take is sent again on a new one (nothing was kept:
 * tokqd acts only on a whole frame); a request sent with no answer back
 * answers 75 "unknown", as tokq --json does, and the next line connects
 * anew.  While nothing listens on the socket (tokqd restarting) a connect
 * is retried for up to a second.
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

struct batch {
	char		 sock[PATH_MAX];
	bool		 nosock;	/* no socket path: every request is 69 */
	int		 fd;		/* the connection, or -1 */
	int64_t		 used_ms;	/* when it last carried an answer */
	msgpack_sbuffer	 sb;		/* the request, its memory kept */
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
}

/*
 * The request in b->sb on the batch's connection, opened or opened anew as
 * needed: its checked reply in a, 0 or the exit code of the error formed.
 */
static int
batch_call(struct batch *b, struct job *jb, struct answer *a)
{
	size_t	 len;
	int	 tries;

	if (b->nosock)
		return job_fail(jb, TOKQ_EXIT_UNAVAILABLE, "no socket path: give --socket "
		    "to tokq batch, or set TOKQ_SOCKET or XDG_RUNTIME_DIR");
	if (b->fd != -1 && conn_now_ms() - b->used_ms > IDLE_REUSE_MS)
		conn_drop(b);
	for (tries = 0; ; tries++) {
		if (b->fd == -1 &&
		    (b->fd = conn_connect_retry(jb, b->sock, RECONNECT_MS)) == -1)
			return jb->exit;
		jb->unsent = false;
		if ((a->buf = conn_call(jb, b->fd, b->sb.data, b->sb.size, &len)) != NULL)
			break;
		conn_drop(b);	/* its state is unknown: never reused */
		if (!jb->unsent || tries > 0)
			return jb->exit;
		job_reset(jb);	/* tokqd went away in between: the request was not taken */
	}
	b->used_ms = conn_now_ms();
	return reply_of(jb, a->buf, len, &a->up, &a->reply);
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

/* One line (n bytes at s, no newline): its request, its reply; the exit code. */
static int
line_run(struct batch *b, struct job *jb, const char *s, size_t n)
{
	static struct req	 r;
	struct answer		 a;
	json_error_t		 e;
	json_t			*arr, *el;
	size_t			 i, na;
	int			 rc;

	if ((arr = json_loadb(s, n, 0, &e)) == NULL)
		return usage_fail(jb, "batch: line %ju is not JSON (%s)", b->lineno, e.text);
	if (!json_is_array(arr) || (na = json_array_size(arr)) == 0) {
		rc = usage_fail(jb, "batch: line %ju: give a JSON array of strings, the "
		    "arguments after tokq, a command first", b->lineno);
		goto out;
	}
	if ((rc = args_room(b, jb, na + 1)) != 0)
		goto out;
	b->argv[0] = "tokq";
	json_array_foreach(arr, i, el) {
		if (!json_is_string(el)) {
			rc = usage_fail(jb, "batch: line %ju: argument %zu is not a string",
			    b->lineno, i + 1);
			goto out;
		}
		b->argv[i + 1] = (char *)json_string_value(el);
	}
	b->argv[na + 1] = NULL;
	memset(&r, 0, sizeof(r));
	if ((rc = line_cmd(b, jb, (int)na + 1, &r)) != 0 ||
	    (rc = request_build(jb, &r, &b->sb)) != 0)
		goto out;
	memset(&a, 0, sizeof(a));
	msgpack_unpacked_init(&a.up);
	if ((rc = batch_call(b, jb, &a)) == 0)
		rc = cmd_result(jb, &r, &a);
	answer_free(&a);
out:
	req_free(&r);
	json_decref(arr);
	return rc;
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

/* Answer one line. */
static void
line_answer(struct batch *b, const char *s, size_t n)
{
	struct job	 jb;

	memset(&jb, 0, sizeof(jb));
	jb.json = jb.batch = true;
	b->lineno++;
	answer_put(b, &jb, line_run(b, &jb, s, n));
}

/* Answer a line longer than the limit, before its end is read. */
static void
line_too_long(struct batch *b)
{
	struct job	 jb;

	memset(&jb, 0, sizeof(jb));
	b->lineno++;
	answer_put(b, &jb, usage_fail(&jb, "batch: line %ju is longer than %d KiB",
	    b->lineno, LINE_MAX_BYTES / 1024));
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
	if ((b.in = malloc(LINE_MAX_BYTES + 1)) == NULL)
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
		if (!input_waiting() && fflush(stdout) == EOF) {
			b.werr = errno;
			break;
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
	if (b.werr == 0 && fflush(stdout) == EOF)
		b.werr = errno;
	if (b.werr != 0 && b.werr != EPIPE)
		rc = job_fail(jb, TOKQ_EXIT_SOFTWARE, "batch: cannot write output: %s",
		    strerror(b.werr));
	conn_drop(&b);
	msgpack_sbuffer_destroy(&b.sb);
	free(b.argv);
	free(b.in);
	return rc;
}
