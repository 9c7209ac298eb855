/*
 * fail.c: the one error path of tokq.
 *
 * Whatever goes wrong, deep in the argument parser or the connection,
 * forms its one stderr line here ("tokq: check: --user is required") and
 * the exit code the contract names, into the run; the function returns
 * that code and every caller returns it upward, untouched.  Nothing below
 * main exits: run_print writes the line at the edge, so a command can also
 * run in-process and hand back its code and its JSON object.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "client.h"

/* "limit set", or "check": a command's name in messages and help. */
const char *
cmd_name(const struct cmd *c, char *buf, size_t len)
{
	if (c->words[1] != NULL)
		snprintf(buf, len, "%s %s", c->words[0], c->words[1]);
	else
		snprintf(buf, len, "%s", c->words[0]);
	return buf;
}

/*
 * The core: the line "CTX: MESSAGE" (or "MESSAGE" when ctx is NULL) into
 * rn->err and ex into rn->exit.  The first error of a run is the one told.
 */
static int
vfail(struct run *rn, int ex, const char *ctx, const char *fmt, va_list ap)
{
	size_t	 o = 0;

	if (rn->exit != 0 && rn->err[0] != '\0')
		return rn->exit;
	if (ctx != NULL)
		o = snprintf(rn->err, sizeof(rn->err), "%s: ", ctx);
	if (o < sizeof(rn->err))
		vsnprintf(rn->err + o, sizeof(rn->err) - o, fmt, ap);
	rn->exit = ex;
	return ex;
}

/* An error not of one command: "tokq: cannot connect to tokqd at …". */
int
fail(struct run *rn, int ex, const char *fmt, ...)
{
	va_list	 ap;
	int	 rc;

	va_start(ap, fmt);
	rc = vfail(rn, ex, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

/* A usage error (64), named after the run's command when there is one. */
int
usage_fail(struct run *rn, const char *fmt, ...)
{
	va_list	 ap;
	char	 name[64];
	int	 rc;

	va_start(ap, fmt);
	rc = vfail(rn, TOKQ_EXIT_USAGE, rn->cmd ? cmd_name(rn->cmd, name, sizeof(name)) :
	    NULL, fmt, ap);
	va_end(ap);
	return rc;
}

/* A usage error in the words of a group ("limit: missing subcommand …"). */
int
group_fail(struct run *rn, const char *group, const char *fmt, ...)
{
	va_list	 ap;
	int	 rc;

	va_start(ap, fmt);
	rc = vfail(rn, TOKQ_EXIT_USAGE, group, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * Exit 75 in one of its two cases (contract, Output and exit codes):
 * refused as temporary, so nothing was kept, or the connection lost after
 * the whole request was sent, so the outcome is unknown.  The line says
 * which and how to retry; under --json the run's object is one with
 * "exit", "temporary" ("refused" or "unknown") and "error".
 */
int
temp_fail(struct run *rn, bool unknown, const char *fmt, ...)
{
	va_list		 ap;
	char		 what[1024], name[64];
	const char	*retry = "retry";
	bool		 rec = rn->cmd != NULL && strcmp(rn->cmd->op, "record") == 0;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (rec && rn->keyed)
		retry = "retry with the same --key, which never counts twice";
	else if (rec)
		retry = "retry, and give --key next time: the same key never counts twice";
	fail(rn, TOKQ_EXIT_TEMPFAIL, "%s%s%s: %s; %s",
	    rn->cmd ? cmd_name(rn->cmd, name, sizeof(name)) : "", rn->cmd ? ": " : "",
	    what, unknown ? "the outcome is unknown" : "nothing was kept", retry);
	if (rn->json && rn->out == NULL)
		rn->out = json_pack("{s:i,s:s,s:s}", "exit", TOKQ_EXIT_TEMPFAIL,
		    "temporary", unknown ? "unknown" : "refused", "error", rn->err);
	return TOKQ_EXIT_TEMPFAIL;
}

/*
 * The edge: what a run leaves for the terminal once its answer is out.
 * Output already written goes first, then the stderr line, then (--json)
 * the object of the error when it has one.  Returns rc.
 */
int
run_print(struct run *rn, int rc)
{
	fflush(stdout);
	if (rn->err[0] != '\0')
		fprintf(stderr, "tokq: %s\n", rn->err);
	if (rn->out != NULL) {
		json_print(stdout, rn->out);
		fflush(stdout);
		json_decref(rn->out);
		rn->out = NULL;
	}
	return rc;
}
