/*
 * tokq.c: the command-line client of tokqd: main.
 *
 * The grammar is data (cmds.c); one matcher walks argv against it and
 * gives `tokq help`, `tokq CMD --help` and every usage error (exit 64)
 * for free.  Then tokq does one thing: one request frame, one reply frame,
 * print, exit with the code the contract names.  Bots spawn it around
 * every LLM call, so start-up is argv parsing and one connect, nothing
 * more.  The calls go one way: main → args.c (argv into a request) →
 * request.c (the request) → conn.c (the connection) → reply.c (the
 * reply); then json.c or a screen prints it.  Errors come back up as
 * codes, formed once by fail.c; main alone ends the process.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

/*
 * Handle help and version, which need no daemon: their exit code (0, or
 * 64 for a usage error), or -1 when there is a request to send, with its
 * command in jb->cmd and its words shifted off rest.
 */
static int
resolve(struct job *jb, struct globals *g, char **rest, int *nrest)
{
	const struct cmd	*c;
	const char		*group;
	char			 words[128];
	int			 used, rc;
	bool			 helpcmd = false;

	if (*nrest > 0 && strcmp(rest[0], "help") == 0) {
		helpcmd = g->help = true;
		rest++, (*nrest)--;
	}
	if (g->version && !g->help) {
		printf("tokq %s (protocol %d)\n", TOKQ_VERSION, TOKQ_PROTOCOL);
		return 0;
	}
	if (*nrest == 0 || rest[0][0] == '-') {
		if (g->help) {
			general_help(stdout, NULL);
			return 0;
		}
		if (*nrest == 0)
			return usage_fail(jb, "give a command (see 'tokq help')");
		return usage_fail(jb, "give the command before its flags ('%s')", rest[0]);
	}
	if ((rc = cmd_match(jb, rest, *nrest, &used, &group, &c)) != 0)
		return rc;
	if (c == NULL) {
		if (g->help) {
			general_help(stdout, group);
			return 0;
		}
		group_words(group, words, sizeof(words));
		return group_fail(jb, group, "missing subcommand: %s", words);
	}
	jb->cmd = c;
	if (g->help) {
		if (helpcmd && *nrest > used)
			return usage_fail(jb, "help takes no arguments after the command");
		cmd_help(stdout, c);
		return 0;
	}
	/* shift the command words off: parse_args sees only its arguments */
	memmove(rest, rest + used, (*nrest - used + 1) * sizeof(*rest));
	*nrest -= used;
	return -1;
}

/*
 * A command that speaks many requests (export, import) instead of one:
 * the same checks before it connects, then its own loop.
 */
static int
run_many(struct job *jb, const struct req *r, const char *sockopt)
{
	msgpack_sbuffer	 sb;
	char		 sock[PATH_MAX];
	int		 rc;

	msgpack_sbuffer_init(&sb);
	rc = request_prepare(jb, r, sockopt, &sb, sock, sizeof(sock));
	msgpack_sbuffer_destroy(&sb);
	return rc != 0 ? rc : r->cmd->run(jb, r, sock);
}

/*
 * The answer on stdout: the object --json prints, or the command's screen;
 * rc, or 70 when stdout could not take it.
 */
static int
answer_print(struct job *jb, const struct req *r, const struct answer *a, int rc)
{
	if (jb->out != NULL) {
		json_print(stdout, jb->out);
		json_decref(jb->out);
		jb->out = NULL;
	} else
		r->cmd->print(r, a->reply);
	if (fflush(stdout) == EOF || ferror(stdout))
		return job_fail(jb, TOKQ_EXIT_SOFTWARE, "cannot write output: %s",
		    strerror(errno));
	return rc;
}

int
main(int argc, char *argv[])
{
	static struct req	 r;
	struct job		 jb = { 0 };
	struct globals		 g = { 0 };
	struct answer		 a;
	char			**rest;
	int			 nrest, rc;

	if (argc >= 3 && strcmp(argv[1], "__complete") == 0)
		return help_complete(argc - 2, argv + 2);
	if ((rest = calloc(argc + 1, sizeof(*rest))) == NULL)
		return TOKQ_EXIT_SOFTWARE;
	json_init();
	nrest = parse_globals(&jb, argc, argv, &g, rest);
	jb.json = g.json;
	if (nrest == -1)
		rc = jb.exit;
	else if ((rc = resolve(&jb, &g, rest, &nrest)) == -1) {
		r.cmd = jb.cmd;
		if ((rc = parse_args(&jb, &r, rest, nrest)) != 0)
			;
		else if (r.cmd->run == run_batch)	/* finds the socket itself */
			rc = run_batch(&jb, &r, g.socket);
		else if (r.cmd->run != NULL)
			rc = run_many(&jb, &r, g.socket);
		else {
			rc = cmd_exec(&jb, &r, g.socket, &a);
			if (rc == TOKQ_EXIT_OK || rc == TOKQ_EXIT_DENIED)
				rc = answer_print(&jb, &r, &a, rc);
			answer_free(&a);
		}
	}
	rc = job_print(&jb, rc);
	req_free(&r);
	free(rest);
	return rc;
}
