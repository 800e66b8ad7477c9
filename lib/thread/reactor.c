/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The environment (spur_env_*) and its reactors: one OS thread per core of
 * the cpumask, pinned, each polling the lightweight threads placed on it and
 * sleeping in epoll when they stay idle.
 *
 * Owns g_env and every struct reactor. A reactor's 'threads' list, its
 * idle bookkeeping and its epoll waits belong to the reactor's OS thread.
 * The hand-off list 'new_threads' and the 'closed' flag are under
 * g_env.lock (control path: thread creation and reactor exit). Counters are
 * written by the reactor and read racily by spur_env_for_each_reactor.
 *
 * Sleep protocol (no lost wake-up):
 *   reactor: sleeping = 1; seq_cst fence; re-check every thread's ring, the
 *            hand-off flag and the stop flag; only if all are quiet,
 *            epoll_wait; then sleeping = 0, drain the eventfd, mark pollers
 *            whose fds fired.
 *   sender:  enqueue (or set the flag); seq_cst fence; if sleeping and it
 *            wins the exchange of sleeping 1 -> 0, write the eventfd.
 * Both sides store then fence then load, so at least one sees the other: the
 * reactor sees the message and skips the sleep, or the sender sees the flag
 * and its eventfd write ends (or pre-empts) the epoll_wait. The exchange
 * makes one sender per sleep pay for the write.
 *
 * Sleep hooks (spur_poller_set_sleep_hook): called just before the sleep
 * protocol above, after the timeout is known; any hook reporting work
 * cancels the sleep. after_wake hooks run after the wait (or the cancelled
 * wait), before the threads are polled again.
 *
 * Sleep timeout: the earliest next_run among timed pollers without fds
 * (pollers with fds are woken by them), capped while a thread is exiting so
 * its exit timeout is noticed; infinite otherwise.
 *
 * Busy reactors: fd events are collected by the sleep, so a reactor that
 * never sleeps (busy mode, or one controller's I/O keeping it busy) would
 * see a poller's fd only at that poller's safety-net period (100 ms for a
 * vhost-user socket: every request/reply round trip of another VM's
 * set-up would wait for it). While not sleeping, the reactor asks epoll
 * without waiting every REACTOR_FD_CHECK_US of polling: one syscall per
 * period, nothing in the per-iteration path. Those events were consumed
 * (fds are edge-triggered): a reactor that took any polls once more before
 * it may sleep, or work announced after its pollers' pass (an io_uring
 * completion) would wait for an event that already came.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "spur/log.h"
#include "thread_internal.h"

#define REACTOR_MAX_EVENTS 64
#define REACTOR_EXITING_SLEEP_US 100000
#define REACTOR_FD_CHECK_US 1000

struct reactor {
	uint32_t core;
	uint32_t index;
	int epfd;
	int evfd;
	pthread_t pthread;
	bool pthread_started;

	alignas(SPUR_CACHE_LINE) _Atomic int sleeping;
	_Atomic bool in_interrupt;
	_Atomic bool new_pending;
	_Atomic int tid;
	_Atomic uint32_t thread_count;   /* placed, including not yet taken */
	_Atomic uint64_t busy_ticks;
	_Atomic uint64_t idle_ticks;
	_Atomic uint64_t sleep_count;
	_Atomic uint64_t wakeup_count;

	/* Reactor OS thread only. */
	alignas(SPUR_CACHE_LINE) TAILQ_HEAD(, spur_thread) threads;
	uint64_t idle_since;
	uint64_t next_fd_check;          /* ticks; see "Busy reactors" */
	bool stop_seen;                  /* every thread was asked to exit */

	/* Under g_env.lock. */
	TAILQ_HEAD(, spur_thread) new_threads;
	bool closed;
};

static struct {
	pthread_mutex_t lock;
	_Atomic bool initialized;         /* written under lock */
	bool running;
	struct spur_env_opts opts;
	uint64_t idle_threshold_ticks;
	uint64_t fd_check_ticks;
	struct reactor *reactors;
	uint32_t count;
	_Atomic bool stop;
	_Atomic(struct spur_thread *) app_thread;
} g_env = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static const char *const g_mode_names[] = {
	[SPUR_POLL_BUSY] = "busy",
	[SPUR_POLL_ADAPTIVE] = "adaptive",
	[SPUR_POLL_INTERRUPT] = "interrupt",
};

int
spur_poll_mode_parse(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < SPUR_COUNTOF(g_mode_names); i++) {
		if (strcasecmp(name, g_mode_names[i]) == 0) {
			return (int)i;
		}
	}
	return -EINVAL;
}

const char *
spur_poll_mode_name(enum spur_poll_mode mode)
{
	if ((size_t)mode >= SPUR_COUNTOF(g_mode_names)) {
		return "unknown";
	}
	return g_mode_names[mode];
}

void
spur_env_opts_init(struct spur_env_opts *opts, size_t size)
{
	struct spur_env_opts def;

	memset(&def, 0, sizeof(def));
	def.size = SPUR_MIN(size, sizeof(def));
	spur_cpuset_zero(&def.cpumask);
	spur_cpuset_set(&def.cpumask, 0);
	def.poll_mode = SPUR_POLL_ADAPTIVE;
	def.idle_threshold_us = 1000;
	memcpy(opts, &def, SPUR_MIN(size, sizeof(def)));
}

/* Relaxed add on a counter only the reactor writes (no RMW needed). */
static inline void
stat_add(_Atomic uint64_t *c, uint64_t delta)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + delta,
			      memory_order_relaxed);
}

static void
reactor_kick(struct reactor *r)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is saturated: it is readable anyway. */
	if (write(r->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
		SPUR_ERRLOG("reactor %u: eventfd write failed: %s\n", r->core, strerror(errno));
	}
}

void
reactor_notify(struct reactor *r)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->sleeping, memory_order_relaxed) &&
	    atomic_exchange(&r->sleeping, 0)) {
		reactor_kick(r);
	}
}

uint32_t
reactor_get_core(const struct reactor *r)
{
	return r->core;
}

int
reactor_add_fd(struct reactor *r, int fd, uint32_t events, struct spur_poller *poller)
{
	struct epoll_event ev = { .events = events | EPOLLET, .data.ptr = poller };

	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		return -errno;
	}
	return 0;
}

int
reactor_remove_fd(struct reactor *r, int fd)
{
	if (epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL) != 0) {
		return -errno;
	}
	return 0;
}

int
reactor_place_thread(struct spur_thread *t)
{
	struct reactor *r, *best = NULL;
	uint32_t i;

	pthread_mutex_lock(&g_env.lock);
	if (!g_env.initialized) {
		pthread_mutex_unlock(&g_env.lock);
		return 1;
	}
	for (i = 0; i < g_env.count; i++) {
		r = &g_env.reactors[i];
		if (r->closed || !spur_cpuset_isset(&t->cpumask, r->core)) {
			continue;
		}
		if (best == NULL || atomic_load(&r->thread_count) < atomic_load(&best->thread_count)) {
			best = r;
		}
	}
	if (best == NULL) {
		pthread_mutex_unlock(&g_env.lock);
		return -EINVAL;
	}
	t->reactor = best;
	atomic_fetch_add(&best->thread_count, 1);
	TAILQ_INSERT_TAIL(&best->new_threads, t, rlink);
	atomic_store(&best->new_pending, true);
	pthread_mutex_unlock(&g_env.lock);
	reactor_notify(best);
	return 0;
}

static void
reactor_take_new(struct reactor *r)
{
	struct spur_thread *t;

	pthread_mutex_lock(&g_env.lock);
	atomic_store(&r->new_pending, false);
	while ((t = TAILQ_FIRST(&r->new_threads)) != NULL) {
		TAILQ_REMOVE(&r->new_threads, t, rlink);
		TAILQ_INSERT_TAIL(&r->threads, t, rlink);
		r->stop_seen = false;
	}
	pthread_mutex_unlock(&g_env.lock);
}

/* Stop requested and no thread left: refuse new threads. False if some arrived. */
static bool
reactor_close(struct reactor *r)
{
	bool closed = false;

	pthread_mutex_lock(&g_env.lock);
	if (TAILQ_EMPTY(&r->new_threads)) {
		r->closed = true;
		closed = true;
	}
	pthread_mutex_unlock(&g_env.lock);
	return closed;
}

static void
reactor_exit_msg(void *arg)
{
	spur_thread_exit(arg);
}

static void
reactor_request_exits(struct reactor *r)
{
	struct spur_thread *t;
	bool all = true;
	int rc;

	TAILQ_FOREACH(t, &r->threads, rlink) {
		if (t->stop_sent) {
			continue;
		}
		rc = spur_thread_send_msg(t, reactor_exit_msg, t);
		if (rc == 0 || rc == -EIO) {
			t->stop_sent = true;
		} else {
			all = false;  /* queue full: retry next iteration */
		}
	}
	r->stop_seen = all;
}

/* Anything that must not wait for an event? (after sleeping = 1 and the fence) */
static bool
reactor_has_work(struct reactor *r)
{
	struct spur_thread *t;

	if (atomic_load(&r->new_pending)) {
		return true;
	}
	if (atomic_load(&g_env.stop) && !r->stop_seen) {
		return true;
	}
	TAILQ_FOREACH(t, &r->threads, rlink) {
		if (!thread_ring_empty(&t->ring)) {
			return true;
		}
	}
	return false;
}

static int
reactor_wait(struct reactor *r, struct epoll_event *events, uint64_t deadline, uint64_t now)
{
	struct timespec ts;
	uint64_t us;
	int n, ms;

	if (deadline == UINT64_MAX) {
		return epoll_wait(r->epfd, events, REACTOR_MAX_EVENTS, -1);
	}
	us = spur_ticks_to_us(deadline - now) + 1; /* round up: never wake early */
	ts.tv_sec = (time_t)(us / 1000000);
	ts.tv_nsec = (long)(us % 1000000) * 1000;
	n = epoll_pwait2(r->epfd, events, REACTOR_MAX_EVENTS, &ts, NULL);
	if (n < 0 && errno == ENOSYS) {
		ms = (int)SPUR_MIN((us + 999) / 1000, (uint64_t)INT32_MAX);
		n = epoll_wait(r->epfd, events, REACTOR_MAX_EVENTS, ms);
	}
	return n;
}

/* Hand the events of one epoll_wait to their pollers (or drain the eventfd). */
static void
reactor_dispatch(struct reactor *r, const struct epoll_event *events, int n)
{
	uint64_t buf;
	int i;

	for (i = 0; i < n; i++) {
		if (events[i].data.ptr == &r->evfd) {
			while (read(r->evfd, &buf, sizeof(buf)) == sizeof(buf)) {
			}
		} else {
			thread_poller_fd_event(events[i].data.ptr);
		}
	}
}

/*
 * A reactor that is not sleeping: pick up fd events without waiting.
 * Returns true when it took any: fds are edge-triggered, so what such an
 * event announces (an io_uring completion posted after its poller's last
 * pass, say) must be polled for before the reactor may sleep; the sleep's
 * epoll_wait will not report that edge again.
 */
static bool
reactor_check_fds(struct reactor *r, uint64_t now)
{
	struct epoll_event events[REACTOR_MAX_EVENTS];
	int n;

	r->next_fd_check = now + g_env.fd_check_ticks;
	n = epoll_wait(r->epfd, events, REACTOR_MAX_EVENTS, 0);
	if (n > 0) {
		reactor_dispatch(r, events, n);
	}
	return n > 0;
}

static void
reactor_after_wake(struct reactor *r)
{
	struct spur_thread *t;

	TAILQ_FOREACH(t, &r->threads, rlink) {
		thread_pollers_after_wake(t);
	}
}

static void
reactor_sleep(struct reactor *r)
{
	struct epoll_event events[REACTOR_MAX_EVENTS];
	struct spur_thread *t;
	uint64_t now = spur_get_ticks(), deadline = UINT64_MAX, after;
	bool hook_work;
	int n;

	TAILQ_FOREACH(t, &r->threads, rlink) {
		deadline = SPUR_MIN(deadline, thread_pollers_next_timer(t));
		if (atomic_load_explicit(&t->state, memory_order_relaxed) == THREAD_STATE_EXITING) {
			deadline = SPUR_MIN(deadline,
					    now + spur_us_to_ticks(REACTOR_EXITING_SLEEP_US));
		}
	}
	if (deadline <= now) {
		return;
	}
	/*
	 * Sleep hooks first: a poller re-arms its wake-up source (a virtqueue
	 * asks for kicks) and re-checks for work that arrived meanwhile. Work
	 * arriving after that re-check raises an fd event, which ends the
	 * epoll_wait below at once.
	 */
	hook_work = false;
	TAILQ_FOREACH(t, &r->threads, rlink) {
		hook_work |= thread_pollers_before_sleep(t);
	}
	if (hook_work) {
		reactor_after_wake(r);
		return;
	}

	atomic_store(&r->sleeping, 1);
	atomic_thread_fence(memory_order_seq_cst);
	if (reactor_has_work(r)) {
		atomic_store(&r->sleeping, 0);
		reactor_after_wake(r);
		return;
	}
	atomic_store_explicit(&r->in_interrupt, true, memory_order_relaxed);
	stat_add(&r->sleep_count, 1);
	n = reactor_wait(r, events, deadline, now);
	atomic_store(&r->sleeping, 0);
	atomic_store_explicit(&r->in_interrupt, false, memory_order_relaxed);
	if (n < 0 && errno != EINTR) {
		SPUR_ERRLOG("reactor %u: epoll_wait failed: %s\n", r->core, strerror(errno));
	}
	if (n > 0) {
		stat_add(&r->wakeup_count, 1);
	}
	if (n > 0) {
		reactor_dispatch(r, events, n);
	}
	reactor_after_wake(r);
	after = spur_get_ticks();
	r->next_fd_check = after + g_env.fd_check_ticks;
	stat_add(&r->idle_ticks, after - now);
}

static void
reactor_run(struct reactor *r)
{
	struct spur_thread *t, *tmp;
	uint64_t start, end;
	bool busy, fd_events;

	atomic_store(&r->tid, (int)gettid());
	r->idle_since = spur_get_ticks();
	for (;;) {
		if (atomic_load_explicit(&r->new_pending, memory_order_relaxed)) {
			reactor_take_new(r);
		}
		if (spur_unlikely(atomic_load_explicit(&g_env.stop, memory_order_acquire)) &&
		    !r->stop_seen) {
			reactor_request_exits(r);
		}

		busy = false;
		start = spur_get_ticks();
		end = start;
		for (t = TAILQ_FIRST(&r->threads); t != NULL; t = tmp) {
			tmp = TAILQ_NEXT(t, rlink);
			if (spur_thread_poll(t, 0, end) > 0) {
				busy = true;
			}
			if (spur_thread_is_exited(t)) {
				TAILQ_REMOVE(&r->threads, t, rlink);
				atomic_fetch_sub(&r->thread_count, 1);
				if (atomic_load(&g_env.app_thread) == t) {
					atomic_store(&g_env.app_thread, NULL);
				}
				thread_free(t);
			}
			end = spur_get_ticks();
		}
		stat_add(busy ? &r->busy_ticks : &r->idle_ticks, end - start);

		if (spur_unlikely(atomic_load_explicit(&g_env.stop, memory_order_acquire)) &&
		    TAILQ_EMPTY(&r->threads) && reactor_close(r)) {
			break;
		}
		fd_events = spur_unlikely(end >= r->next_fd_check) && reactor_check_fds(r, end);
		if (busy) {
			r->idle_since = end;
			continue;
		}
		if (fd_events) {
			continue; /* poll once more before any sleep (reactor_check_fds) */
		}
		switch (g_env.opts.poll_mode) {
		case SPUR_POLL_BUSY:
			continue;
		case SPUR_POLL_ADAPTIVE:
			if (end - r->idle_since < g_env.idle_threshold_ticks) {
				continue;
			}
			break;
		case SPUR_POLL_INTERRUPT:
			break;
		}
		reactor_sleep(r);
	}
}

static void *
reactor_pthread(void *arg)
{
	reactor_run(arg);
	return NULL;
}

static void
env_free_reactors(void)
{
	uint32_t i;

	for (i = 0; i < g_env.count; i++) {
		if (g_env.reactors[i].epfd >= 0) {
			close(g_env.reactors[i].epfd);
		}
		if (g_env.reactors[i].evfd >= 0) {
			close(g_env.reactors[i].evfd);
		}
	}
	free(g_env.reactors);
	g_env.reactors = NULL;
	g_env.count = 0;
}

static int
reactor_init(struct reactor *r, uint32_t core, uint32_t index)
{
	struct epoll_event ev = { .events = EPOLLIN };

	r->core = core;
	r->index = index;
	r->evfd = -1;
	TAILQ_INIT(&r->threads);
	TAILQ_INIT(&r->new_threads);
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0) {
		return -errno;
	}
	r->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->evfd < 0) {
		return -errno;
	}
	ev.data.ptr = &r->evfd;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->evfd, &ev) != 0) {
		return -errno;
	}
	return 0;
}

int
spur_env_init(const struct spur_env_opts *user_opts)
{
	struct spur_env_opts opts;
	cpu_set_t allowed;
	uint32_t core, n, i = 0;
	int rc;

	if (user_opts == NULL || user_opts->size == 0) {
		return -EINVAL;
	}
	spur_env_opts_init(&opts, sizeof(opts));
	memcpy(&opts, user_opts, SPUR_MIN(user_opts->size, sizeof(opts)));
	opts.size = sizeof(opts);
	if ((unsigned)opts.poll_mode > SPUR_POLL_INTERRUPT) {
		SPUR_ERRLOG("invalid poll mode %d\n", (int)opts.poll_mode);
		return -EINVAL;
	}
	n = spur_cpuset_count(&opts.cpumask);
	if (n == 0) {
		SPUR_ERRLOG("empty reactor cpumask\n");
		return -EINVAL;
	}
	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
		rc = -errno;
		SPUR_ERRLOG("sched_getaffinity: %s\n", strerror(-rc));
		return rc;
	}
	SPUR_CPUSET_FOREACH(core, &opts.cpumask) {
		if (core >= CPU_SETSIZE || !CPU_ISSET(core, &allowed)) {
			SPUR_ERRLOG("core %u is not available to this process\n", core);
			return -EINVAL;
		}
	}

	pthread_mutex_lock(&g_env.lock);
	if (g_env.initialized) {
		pthread_mutex_unlock(&g_env.lock);
		SPUR_ERRLOG("environment already initialized\n");
		return -EBUSY;
	}
	g_env.reactors = calloc(n, sizeof(*g_env.reactors));
	if (g_env.reactors == NULL) {
		pthread_mutex_unlock(&g_env.lock);
		return -ENOMEM;
	}
	g_env.count = n;
	for (i = 0; i < n; i++) {
		g_env.reactors[i].epfd = -1;
		g_env.reactors[i].evfd = -1;
	}
	i = 0;
	SPUR_CPUSET_FOREACH(core, &opts.cpumask) {
		rc = reactor_init(&g_env.reactors[i], core, i);
		if (rc != 0) {
			SPUR_ERRLOG("reactor %u: %s\n", core, strerror(-rc));
			env_free_reactors();
			pthread_mutex_unlock(&g_env.lock);
			return rc;
		}
		i++;
	}
	g_env.opts = opts;
	g_env.idle_threshold_ticks = spur_us_to_ticks(opts.idle_threshold_us);
	g_env.fd_check_ticks = spur_us_to_ticks(REACTOR_FD_CHECK_US);
	atomic_store(&g_env.stop, false);
	atomic_store(&g_env.app_thread, NULL);
	g_env.initialized = true;
	pthread_mutex_unlock(&g_env.lock);
	return 0;
}

static int
reactor_start_pthread(struct reactor *r)
{
	pthread_attr_t attr;
	sigset_t all, old;
	cpu_set_t set;
	int rc;

	CPU_ZERO(&set);
	CPU_SET(r->core, &set);
	pthread_attr_init(&attr);
	pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	/* The new thread inherits this mask: signals go to the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&r->pthread, &attr, reactor_pthread, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		return -rc;
	}
	r->pthread_started = true;
	return 0;
}

int
spur_env_run(spur_msg_fn start_fn, void *ctx)
{
	struct spur_cpuset first;
	struct spur_thread *app;
	cpu_set_t saved, set;
	bool restore;
	uint32_t i;
	int rc = 0;

	pthread_mutex_lock(&g_env.lock);
	if (!g_env.initialized || g_env.running) {
		pthread_mutex_unlock(&g_env.lock);
		SPUR_ERRLOG("spur_env_run: environment not initialized or already running\n");
		return -EINVAL;
	}
	g_env.running = true;
	pthread_mutex_unlock(&g_env.lock);

	spur_cpuset_zero(&first);
	spur_cpuset_set(&first, g_env.reactors[0].core);
	app = spur_thread_create("app_thread", &first);
	if (app == NULL) {
		pthread_mutex_lock(&g_env.lock);
		g_env.running = false;
		pthread_mutex_unlock(&g_env.lock);
		return -ENOMEM;
	}
	atomic_store(&g_env.app_thread, app);
	if (start_fn != NULL) {
		spur_thread_send_msg(app, start_fn, ctx);
	}

	for (i = 1; i < g_env.count; i++) {
		rc = reactor_start_pthread(&g_env.reactors[i]);
		if (rc != 0) {
			SPUR_ERRLOG("reactor %u: cannot start: %s\n", g_env.reactors[i].core,
				    strerror(-rc));
			spur_env_stop();
			break;
		}
	}

	restore = pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) == 0;
	CPU_ZERO(&set);
	CPU_SET(g_env.reactors[0].core, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
		SPUR_WARNLOG("cannot pin reactor %u\n", g_env.reactors[0].core);
	}
	reactor_run(&g_env.reactors[0]);
	if (restore) {
		pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
	}

	for (i = 1; i < g_env.count; i++) {
		if (g_env.reactors[i].pthread_started) {
			pthread_join(g_env.reactors[i].pthread, NULL);
			g_env.reactors[i].pthread_started = false;
		}
	}
	pthread_mutex_lock(&g_env.lock);
	g_env.running = false;
	pthread_mutex_unlock(&g_env.lock);
	return rc;
}

void
spur_env_stop(void)
{
	uint32_t i;

	/*
	 * No lock: the reactor array is fixed between spur_env_init and
	 * spur_env_fini, and this only stores a flag and writes eventfds, so it
	 * may run on a reactor, on a foreign thread or in a signal handler.
	 */
	if (!atomic_load(&g_env.initialized)) {
		return;
	}
	atomic_store(&g_env.stop, true);
	for (i = 0; i < g_env.count; i++) {
		reactor_notify(&g_env.reactors[i]);
	}
}

void
spur_env_fini(void)
{
	pthread_mutex_lock(&g_env.lock);
	if (!g_env.initialized) {
		pthread_mutex_unlock(&g_env.lock);
		return;
	}
	if (g_env.running) {
		pthread_mutex_unlock(&g_env.lock);
		SPUR_ERRLOG("spur_env_fini while reactors run\n");
		return;
	}
	env_free_reactors();
	g_env.initialized = false;
	pthread_mutex_unlock(&g_env.lock);
}

const struct spur_cpuset *
spur_env_get_cpumask(void)
{
	return &g_env.opts.cpumask;
}

enum spur_poll_mode
spur_env_get_poll_mode(void)
{
	return g_env.opts.poll_mode;
}

struct spur_thread *
spur_get_app_thread(void)
{
	return atomic_load(&g_env.app_thread);
}

void
spur_env_for_each_reactor(void (*fn)(const struct spur_reactor_info *info, void *ctx),
			  void *ctx)
{
	struct spur_reactor_info *infos;
	struct reactor *r;
	uint32_t i, n;

	/* Snapshot under the lock, call fn without it: fn may create threads. */
	pthread_mutex_lock(&g_env.lock);
	n = g_env.initialized ? g_env.count : 0;
	infos = n ? calloc(n, sizeof(*infos)) : NULL;
	for (i = 0; infos != NULL && i < n; i++) {
		r = &g_env.reactors[i];
		infos[i].core = r->core;
		infos[i].tid = atomic_load_explicit(&r->tid, memory_order_relaxed);
		infos[i].busy_ticks = atomic_load_explicit(&r->busy_ticks, memory_order_relaxed);
		infos[i].idle_ticks = atomic_load_explicit(&r->idle_ticks, memory_order_relaxed);
		infos[i].sleep_count = atomic_load_explicit(&r->sleep_count, memory_order_relaxed);
		infos[i].wakeup_count = atomic_load_explicit(&r->wakeup_count,
							     memory_order_relaxed);
		infos[i].in_interrupt = atomic_load_explicit(&r->in_interrupt,
							     memory_order_relaxed);
		infos[i].thread_count = atomic_load_explicit(&r->thread_count,
							     memory_order_relaxed);
	}
	pthread_mutex_unlock(&g_env.lock);
	for (i = 0; infos != NULL && i < n; i++) {
		fn(&infos[i], ctx);
	}
	free(infos);
}
