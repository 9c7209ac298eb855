/*
 * fail.c: the one error path of tokq.
 *
 * Whatever goes wrong, deep in the argument parser or the connection,
 * forms its one stderr line here ("tokq: check: --user is required") and
 * the exit code the contract names, into the job; the function returns
 * that code and every caller returns it upward, untouched.  Nothing below
 * main exits: job_print writes the line at the edge, so a command can also
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
 * jb->err and ex into jb->exit.  The first error of a job is the one told.
 */
static int
vfail(struct job *jb, int ex, const char *ctx, const char *fmt, va_list ap)
{
	size_t	 o = 0;

	if (jb->exit != 0 && jb->err[0] != '\0')
		return jb->exit;
	if (ctx != NULL)
		o = snprintf(jb->err, sizeof(jb->err), "%s: ", ctx);
	if (o < sizeof(jb->err))
		vsnprintf(jb->err + o, sizeof(jb->err) - o, fmt, ap);
	jb->exit = ex;
	return ex;
}

/* An error not of one command: "tokq: cannot connect to tokqd at …". */
int
job_fail(struct job *jb, int ex, const char *fmt, ...)
{
	va_list	 ap;
	int	 rc;

	va_start(ap, fmt);
	rc = vfail(jb, ex, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

/* A usage error (64), named after the job's command when there is one. */
int
usage_fail(struct job *jb, const char *fmt, ...)
{
	va_list	 ap;
	char	 name[64];
	int	 rc;

	va_start(ap, fmt);
	rc = vfail(jb, TOKQ_EXIT_USAGE, jb->cmd ? cmd_name(jb->cmd, name, sizeof(name)) :
	    NULL, fmt, ap);
	va_end(ap);
	return rc;
}

/* A usage error in the words of a group ("limit: missing subcommand …"). */
int
group_fail(struct job *jb, const char *group, const char *fmt, ...)
{
	va_list	 ap;
	int	 rc;

	va_start(ap, fmt);
	rc = vfail(jb, TOKQ_EXIT_USAGE, group, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * Exit 75 in one of its two cases (contract, Output and exit codes):
 * refused as temporary, so nothing was kept, or the connection lost after
 * the whole request was sent, so the outcome is unknown.  The line says
 * which and how to retry; under --json the job's object is one with
 * "exit", "temporary" ("refused" or "unknown") and "error".
 */
int
temp_fail(struct job *jb, bool unknown, const char *fmt, ...)
{
	va_list		 ap;
	char		 what[1024], name[64];
	const char	*retry = "retry";
	bool		 rec = jb->cmd != NULL && strcmp(jb->cmd->op, "record") == 0;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (rec && jb->keyed)
		retry = "retry with the same --key, which never counts twice";
	else if (rec)
		retry = "retry, and give --key next time: the same key never counts twice";
	job_fail(jb, TOKQ_EXIT_TEMPFAIL, "%s%s%s: %s; %s",
	    jb->cmd ? cmd_name(jb->cmd, name, sizeof(name)) : "", jb->cmd ? ": " : "",
	    what, unknown ? "the outcome is unknown" : "nothing was kept", retry);
	if (jb->json && jb->out == NULL)
		jb->out = json_pack("{s:i,s:s,s:s}", "exit", TOKQ_EXIT_TEMPFAIL,
		    "temporary", unknown ? "unknown" : "refused", "error", jb->err);
	return TOKQ_EXIT_TEMPFAIL;
}

/*
 * The edge: what a job leaves for the terminal once its answer is out.
 * Output already written goes first, then the stderr line, then (--json)
 * the object of the error when it has one.  Returns rc.
 */
int
job_print(struct job *jb, int rc)
{
	fflush(stdout);
	if (jb->err[0] != '\0')
		fprintf(stderr, "tokq: %s\n", jb->err);
	if (jb->out != NULL) {
		json_print(stdout, jb->out);
		fflush(stdout);
		json_decref(jb->out);
		jb->out = NULL;
	}
	return rc;
}
