/*
 * exec.c: the worker, a thread that runs requests and maintenance off the
 * event loop, for a store whose calls wait on the network (store_remote()).
 *
 * The loop keeps the sockets: it reads frames, hands each as a job to the
 * worker (exec_submit) and sends the replies that come back.  The worker
 * runs jobs in rounds: it opens the round's transaction (store_begin: for
 * a shared store that takes its write lock and brings memory up to date
 * with what other daemons committed), runs every job that waited, commits,
 * and only then hands the round back to the loop, so every reply of a
 * round, a read's too, leaves after its commit.  A failed commit turns the
 * replies of the jobs that wrote into temporary failures, as on the loop
 * (batch.c undoes what memory knew); a round that could not begin answers
 * every job with one.  Jobs come back in the order they went in, so one
 * connection's replies keep their order.
 *
 * Everything below dispatch (quota, counters, prices, the store, the
 * clock, maintenance's state) is touched by the worker alone while it
 * runs; the loop touches sockets and timers alone.  What the worker must
 * ask of the loop (a timer to move) it posts with exec_to_loop().
 *
 * Never hung: a round waits on the database at most as long as the store
 * allows a wait (store_pg.c's deadline), and jobs that waited in the queue
 * behind a round stuck that long are refused by the loop (nothing of them
 * ran) before EXEC_WAIT_USEC: a client learns within 2 s that it must
 * retry.
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokqd.h"

#define ROUND_MAX	512		/* jobs in one round, as batch.c's BATCH_MAX */
#define EXEC_WAIT_USEC	1500000		/* a job queued this long is refused */
#define WATCH_USEC	250000		/* how often the loop looks */
#define LOOP_CALLS	8
#define OPEN_IDLE_NSEC	2000000		/* a round begun ahead waits for jobs */

static struct {
	pthread_t	 thread;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	struct job	*in, **in_tail;		/* waiting for a round */
	struct job	*out, **out_tail;	/* done, for the loop */
	void		(*calls[LOOP_CALLS])(void);	/* for the loop, deduplicated */
	size_t		 ncalls;
	bool		 stop;
	bool		 running;
	bool		 asked;			/* the next jobs said what they want */
	int		 efd;			/* the worker -> loop wake-up */
	sd_event_source	*eio, *watch;
	bool		(*caught_up)(void);	/* after each round's store_begin */
	int		(*prefetch)(void);	/* after the round's jobs' want() */
	void		(*drained)(void);	/* on the loop, after the done()s */
	_Atomic uint64_t busy_since;		/* start of the round under way; 0 idle */
	_Atomic bool	 on;
} x;

static _Thread_local bool on_worker;

bool
exec_on(void)
{
	return atomic_load(&x.on);
}

bool
exec_worker(void)
{
	return on_worker;
}

/* On the loop: hand a job to the worker; its done() runs on the loop after its round. */
void
exec_submit(struct job *j)
{
	j->next = NULL;
	j->rc = 0;
	j->why = NULL;
	j->wrote = false;
	j->queued = mono_usec();
	pthread_mutex_lock(&x.mu);
	*x.in_tail = j;
	x.in_tail = &j->next;
	pthread_cond_signal(&x.cv);
	pthread_mutex_unlock(&x.mu);
	if (sd_event_source_get_enabled(x.watch, NULL) == 0) {
		sd_event_source_set_time_relative(x.watch, WATCH_USEC);
		sd_event_source_set_enabled(x.watch, SD_EVENT_ONESHOT);
	}
}

/* From the worker: run fn on the loop once this round is handed back. */
void
exec_to_loop(void (*fn)(void))
{
	size_t	 i;

	pthread_mutex_lock(&x.mu);
	for (i = 0; i < x.ncalls && x.calls[i] != fn; i++)
		;
	if (i == x.ncalls && x.ncalls < LOOP_CALLS)
		x.calls[x.ncalls++] = fn;
	pthread_mutex_unlock(&x.mu);
}

/* Put jobs, in order, on the loop's list and wake it.  Called locked. */
static void
post_locked(struct job *first, struct job **last_next)
{
	uint64_t	 one = 1;

	if (first == NULL)
		return;
	*x.out_tail = first;
	x.out_tail = last_next;
	*last_next = NULL;
	if (write(x.efd, &one, sizeof(one)) == -1 && errno != EAGAIN)
		log_warn("exec: wake the loop");
}

/* Every job says what it will need, and the store fetches it at once. */
static void
wants(struct job *first)
{
	struct job	*j;

	if (x.prefetch == NULL)
		return;
	for (j = first; j; j = j->next)
		if (j->want)
			j->want(j);
	x.prefetch();	/* failed: the loads go one by one */
}

/* Take up to max jobs off the queue, in order.  Called locked. */
static struct job *
take_locked(size_t max)
{
	struct job	*first = x.in, *j;
	size_t		 n;

	if (first == NULL || max == 0)
		return NULL;
	for (j = first, n = 1; j->next && n < max; j = j->next, n++)
		;
	x.in = j->next;
	if (x.in == NULL)
		x.in_tail = &x.in;
	j->next = NULL;
	return first;
}

/*
 * One round: let every job say what it will need, begin (which fetches
 * it), run every job, commit, hand them back.  The jobs queued while the
 * begin waited (for the write lock, or in the last commit's round trip)
 * join the round once it has begun: rounds carry more jobs, so fewer
 * rounds pass the lock.  The jobs queued after that are the next round's:
 * they say what they need before the commit, which may send the next
 * begin in its round trip (store_begin_next); they are returned, to run
 * next.
 */
static struct job *
round_run(struct job *first)
{
	struct job	*j, **last = &first, *next, *late;
	size_t		 n = 0;
	int		 rc = 0, crc;
	bool		 dropped = false, asked = x.asked;

	x.asked = false;
	atomic_store(&x.busy_since, mono_usec());
	/* Asked before the begin, a remote store sends it with the begin. */
	if (!store_in_tx()) {
		wants(first);
		asked = true;
	}
	if (store_remote() && (rc = store_begin()) == 0 && x.caught_up)
		dropped = x.caught_up();
	/*
	 * And what the begin's news dropped from memory, if anything; all of
	 * it when the jobs came after a begin sent ahead.
	 */
	if (rc == 0 && (dropped || !asked))
		wants(first);
	for (j = first; j->next; j = j->next)
		n++;
	if (rc == 0 && store_remote()) {
		pthread_mutex_lock(&x.mu);
		late = take_locked(ROUND_MAX - 1 - n);
		pthread_mutex_unlock(&x.mu);
		/* They ask now, in one round trip if memory lacks anything. */
		if ((j->next = late) != NULL)
			wants(late);
	}
	for (j = first; j; j = j->next) {
		if (rc < 0) {
			j->rc = rc;	/* nothing ran: refused, retry */
			j->why = "the database is unreachable; nothing was done, "
			    "retry with the same --key";
		} else
			j->run(j);
		last = &j->next;
	}
	pthread_mutex_lock(&x.mu);
	next = take_locked(ROUND_MAX);
	pthread_mutex_unlock(&x.mu);
	/*
	 * Under load the next round's jobs are on their way, if not here:
	 * its begin goes with this commit either way (the store does it
	 * only when no other daemon waits for the lock), and the jobs that
	 * come meanwhile join it.
	 */
	if (rc == 0 && store_remote()) {
		store_begin_next();
		if (next != NULL)
			wants(next);
		x.asked = next != NULL;
	}
	if ((crc = batch_end()) < 0)
		log_warnx("exec: a round's commit failed; none of its writes was acknowledged");
	if (crc < 0)
		for (j = first; j; j = j->next)
			if (j->wrote && j->rc >= 0) {
				j->rc = crc;
				j->why = "the database could not commit; nothing was "
				    "acknowledged, retry with the same --key, which "
				    "never counts twice";
			}
	atomic_store(&x.busy_since, next ? mono_usec() : 0);
	pthread_mutex_lock(&x.mu);
	post_locked(first, last);
	pthread_mutex_unlock(&x.mu);
	return next;
}

/*
 * End a round begun ahead that got no job: no job wrote in it, but the
 * store may have put in it what the last round left it to write (the
 * reports of its events, store_pg.c), so it commits.
 */
static void
end_ahead(void)
{
	if (store_commit() < 0)
		log_warnx("exec: an idle round's commit failed");
}

/*
 * Wait for jobs.  A round begun ahead (store_in_tx) waits OPEN_IDLE_NSEC
 * at most, then ends: no transaction stays open, holding the write lock,
 * while nothing comes.  Called locked.
 */
static void
wait_jobs(void)
{
	struct timespec	 ts;

	while (x.in == NULL && !x.stop) {
		if (!store_in_tx()) {
			pthread_cond_wait(&x.cv, &x.mu);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += OPEN_IDLE_NSEC;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (pthread_cond_timedwait(&x.cv, &x.mu, &ts) == ETIMEDOUT &&
		    x.in == NULL) {
			pthread_mutex_unlock(&x.mu);
			end_ahead();
			pthread_mutex_lock(&x.mu);
		}
	}
	if (x.in == NULL && store_in_tx()) {	/* stopping */
		pthread_mutex_unlock(&x.mu);
		end_ahead();
		pthread_mutex_lock(&x.mu);
	}
}

static void *
worker(void *arg)
{
	struct job	*first;

	on_worker = true;
	pthread_mutex_lock(&x.mu);
	for (;;) {
		wait_jobs();
		if ((first = take_locked(ROUND_MAX)) == NULL)
			break;
		pthread_mutex_unlock(&x.mu);
		while (first != NULL)
			first = round_run(first);
		pthread_mutex_lock(&x.mu);
	}
	pthread_mutex_unlock(&x.mu);
	return NULL;
}

/* On the loop: run what the worker handed back. */
static void
drain(void)
{
	struct job	*j, *next;
	void		(*calls[LOOP_CALLS])(void);
	size_t		 i, ncalls;

	pthread_mutex_lock(&x.mu);
	j = x.out;
	x.out = NULL;
	x.out_tail = &x.out;
	ncalls = x.ncalls;
	memcpy(calls, x.calls, sizeof(calls));
	x.ncalls = 0;
	pthread_mutex_unlock(&x.mu);
	for (; j; j = next) {
		next = j->next;
		j->done(j);
	}
	if (x.drained)
		x.drained();
	for (i = 0; i < ncalls; i++)
		calls[i]();
}

static int
wake_cb(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	uint64_t	 n;

	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_warn("exec: read the wake-up");
	drain();
	return 0;
}

/*
 * While jobs are out, every WATCH_USEC: when the worker has been in one
 * round longer than EXEC_WAIT_USEC (the database does not answer), the
 * jobs queued behind it that waited as long are answered now, refused
 * (none of them ran): a client learns within 2 s that it must retry.
 */
static int
watch_cb(sd_event_source *s, uint64_t usec, void *arg)
{
	uint64_t	 since = atomic_load(&x.busy_since), t = mono_usec();
	struct job	*j, *keep = NULL, **keep_tail = &keep, *late = NULL,
			**late_tail = &late, *next;
	bool		 out;

	pthread_mutex_lock(&x.mu);
	if (since != 0 && t - since > EXEC_WAIT_USEC) {
		for (j = x.in; j; j = next) {
			next = j->next;
			if (j->refusable && t - j->queued > EXEC_WAIT_USEC) {
				j->rc = -TOKQ_E_TEMP;
				j->why = "the database did not answer in time; nothing "
				    "was done, retry with the same --key";
				*late_tail = j;
				late_tail = &j->next;
			} else {
				*keep_tail = j;
				keep_tail = &j->next;
			}
		}
		*keep_tail = NULL;
		x.in = keep;
		x.in_tail = keep == NULL ? &x.in : keep_tail;
		post_locked(late, late_tail);
	}
	out = x.in != NULL || atomic_load(&x.busy_since) != 0;
	pthread_mutex_unlock(&x.mu);
	if (late)
		drain();
	if (out) {
		sd_event_source_set_time_relative(s, WATCH_USEC);
		sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	}
	return 0;
}

/*
 * Start the worker.  caught_up() runs on it after each round's begin, to
 * apply what the store reported stale, and says whether memory dropped
 * anything (the jobs then say again what they want); prefetch() after the
 * round's jobs said what they want, before they run.
 */
int
exec_init(sd_event *ev, bool (*caught_up)(void), int (*prefetch)(void),
    void (*drained)(void))
{
	pthread_condattr_t	 ca;
	int			 rc;

	pthread_mutex_init(&x.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x.cv, &ca);
	pthread_condattr_destroy(&ca);
	x.in_tail = &x.in;
	x.out_tail = &x.out;
	x.caught_up = caught_up;
	x.prefetch = prefetch;
	x.drained = drained;
	if ((x.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		return -TOKQ_E_INTERNAL;
	if (sd_event_add_io(ev, &x.eio, x.efd, EPOLLIN, wake_cb, NULL) < 0 ||
	    sd_event_add_time_relative(ev, &x.watch, CLOCK_MONOTONIC, WATCH_USEC,
	    0, watch_cb, NULL) < 0 ||
	    sd_event_source_set_enabled(x.watch, SD_EVENT_OFF) < 0)
		return -TOKQ_E_INTERNAL;
	if ((rc = pthread_create(&x.thread, NULL, worker, NULL)) != 0) {
		log_warnx("exec: cannot start the worker: %s", strerror(rc));
		return -TOKQ_E_INTERNAL;
	}
	x.running = true;
	atomic_store(&x.on, true);
	return 0;
}

/* Finish what was handed over, answer it, stop the worker. */
void
exec_shutdown(void)
{
	if (!x.running)
		return;
	/* What comes back now is served on this thread, the only one left. */
	atomic_store(&x.on, false);
	pthread_mutex_lock(&x.mu);
	x.stop = true;
	pthread_cond_signal(&x.cv);
	pthread_mutex_unlock(&x.mu);
	pthread_join(x.thread, NULL);
	x.running = false;
	drain();
	x.eio = sd_event_source_disable_unref(x.eio);
	x.watch = sd_event_source_disable_unref(x.watch);
	close(x.efd);
}
