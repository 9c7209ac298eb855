/*
 * log.c: logging to stderr, the way OpenBSD daemons do it.
 *
 * Under systemd (to_journal) each line starts with a <N> priority prefix that
 * journald understands; by hand it is a plain line.  log_warn appends
 * strerror(errno), log_warnx does not.  Debug lines only with -v.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "tokqd.h"

static int	 log_verbose;
static int	 log_journal;

void
log_init(int verbose, int to_journal)
{
	log_verbose = verbose;
	log_journal = to_journal;
}

static void
vlog(int pri, const char *fmt, va_list ap, const char *err)
{
	char	 msg[1024];

	if (pri == LOG_DEBUG && !log_verbose)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_journal)
		fprintf(stderr, "<%d>", pri);
	else
		fputs("tokqd: ", stderr);
	if (err)
		fprintf(stderr, "%s: %s\n", msg, err);
	else
		fprintf(stderr, "%s\n", msg);
}

#define LOGFN(name, pri, witherr)				\
void								\
name(const char *fmt, ...)					\
{								\
	va_list	 ap;						\
	int	 saved = errno;					\
								\
	va_start(ap, fmt);					\
	vlog(pri, fmt, ap, witherr ? strerror(saved) : NULL);	\
	va_end(ap);						\
	errno = saved;						\
}

LOGFN(log_warn, LOG_WARNING, 1)
LOGFN(log_warnx, LOG_WARNING, 0)
LOGFN(log_info, LOG_INFO, 0)
LOGFN(log_debug, LOG_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
