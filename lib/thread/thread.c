/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Lightweight threads: creation, the per-thread message queue, one iteration
 * of a thread (spur_thread_poll), exit, spur_for_each_thread and statistics.
 *
 * Owns the global list of threads (g_threads, under g_threads_lock: control
 * path only, never taken by spur_thread_send_msg or spur_thread_poll) and
 * the TLS pointer to the thread running on this OS thread.
 *
 * Invariants:
 * - A thread is polled by one OS thread at a time: its reactor, or the unit
 *   test driving it. Everything except 'ring', 'state' and 'reactor' is
 *   touched only there.
 * - Sending is lock-free and allocation-free: a seq_cst read of 'state', one
 *   ring enqueue, then reactor_notify() for a placed thread. The sender does
 *   not touch the thread after the enqueue (the message may already have
 *   run and the thread been freed), only its reactor, which outlives it.
 * - EXITING -> EXITED happens only with an empty ring, no pollers and no
 *   channels. The store of EXITED and a sender's read of 'state' are both
 *   seq_cst, as is the ring's claim and the ring-empty re-check after the
 *   store, so either the sender sees EXITED (-EIO) or the thread sees the
 *   message and goes back to EXITING to run it.
 * - A thread stays in g_threads until freed; senders that must not race with
 *   the free (for_each hops) send while holding g_threads_lock, and
 *   thread_free() unlinks under that lock before draining the ring a last
 *   time.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spur/log.h"
#include "thread_internal.h"

static __thread struct spur_thread *tls_thread;

static pthread_mutex_t g_threads_lock = PTHREAD_MUTEX_INITIALIZER;
static TAILQ_HEAD(, spur_thread) g_threads = TAILQ_HEAD_INITIALIZER(g_threads);
static _Atomic uint64_t g_next_thread_id = 1;

void
thread_list_lock(void)
{
	pthread_mutex_lock(&g_threads_lock);
}

void
thread_list_unlock(void)
{
	pthread_mutex_unlock(&g_threads_lock);
}

struct spur_thread *
thread_list_next(struct spur_thread *cur)
{
	struct spur_thread *t = cur ? TAILQ_NEXT(cur, glink) : TAILQ_FIRST(&g_threads);

	while (t != NULL && atomic_load(&t->state) == THREAD_STATE_EXITED) {
		t = TAILQ_NEXT(t, glink);
	}
	return t;
}

struct spur_thread *
spur_thread_create(const char *name, const struct spur_cpuset *cpumask)
{
	struct spur_thread *t;
	size_t bytes = (sizeof(*t) + SPUR_CACHE_LINE - 1) & ~(size_t)(SPUR_CACHE_LINE - 1);
	int rc;

	t = aligned_alloc(SPUR_CACHE_LINE, bytes);
	if (t == NULL) {
		SPUR_ERRLOG("cannot allocate thread %s\n", name ? name : "");
		return NULL;
	}
	memset(t, 0, sizeof(*t));
	if (thread_ring_init(&t->ring, THREAD_MSG_RING_SIZE) != 0) {
		SPUR_ERRLOG("cannot allocate the message ring of thread %s\n", name ? name : "");
		free(t);
		return NULL;
	}
	atomic_init(&t->state, THREAD_STATE_RUNNING);
	t->id = atomic_fetch_add(&g_next_thread_id, 1);
	if (name != NULL) {
		snprintf(t->name, sizeof(t->name), "%s", name);
	} else {
		snprintf(t->name, sizeof(t->name), "thread%" PRIu64, t->id);
	}
	if (cpumask != NULL) {
		t->cpumask = *cpumask;
	} else {
		memset(&t->cpumask, 0xff, sizeof(t->cpumask));
	}
	t->now = spur_get_ticks();
	thread_pollers_init(t);
	TAILQ_INIT(&t->channels);

	thread_list_lock();
	TAILQ_INSERT_TAIL(&g_threads, t, glink);
	thread_list_unlock();

	rc = reactor_place_thread(t);
	if (rc < 0) {
		SPUR_ERRLOG("thread %s: no reactor runs on a core of its cpumask\n", t->name);
		thread_list_lock();
		TAILQ_REMOVE(&g_threads, t, glink);
		thread_list_unlock();
		thread_ring_fini(&t->ring);
		free(t);
		return NULL;
	}
	return t;
}

struct spur_thread *
spur_get_thread(void)
{
	return tls_thread;
}

void
spur_set_thread(struct spur_thread *thread)
{
	tls_thread = thread;
}

const char *
spur_thread_get_name(const struct spur_thread *thread)
{
	return thread->name;
}

uint64_t
spur_thread_get_id(const struct spur_thread *thread)
{
	return thread->id;
}

const struct spur_cpuset *
spur_thread_get_cpumask(const struct spur_thread *thread)
{
	return &thread->cpumask;
}

uint32_t
spur_thread_get_core(const struct spur_thread *thread)
{
	return thread->reactor ? reactor_get_core(thread->reactor) : UINT32_MAX;
}

void
spur_thread_exit(struct spur_thread *thread)
{
	if (thread != tls_thread) {
		SPUR_ERRLOG("thread %s: spur_thread_exit called from another thread\n",
			    thread->name);
		return;
	}
	if (atomic_load(&thread->state) != THREAD_STATE_RUNNING) {
		return;
	}
	thread->exit_start = spur_get_ticks();
	atomic_store(&thread->state, THREAD_STATE_EXITING);
}

bool
spur_thread_is_exited(const struct spur_thread *thread)
{
	return atomic_load(&thread->state) == THREAD_STATE_EXITED;
}

/* End of an iteration of an EXITING thread: move to EXITED when it may. */
static void
thread_try_exit(struct spur_thread *t)
{
	if (!thread_ring_empty(&t->ring)) {
		return;
	}
	if (t->poller_count > 0 || !TAILQ_EMPTY(&t->channels)) {
		if (spur_get_ticks() - t->exit_start <
		    (uint64_t)THREAD_EXIT_TIMEOUT_S * spur_get_ticks_hz()) {
			return;
		}
		SPUR_ERRLOG("thread %s: exit timed out with %u poller(s) and %s channels, "
			    "releasing them\n", t->name, t->poller_count,
			    TAILQ_EMPTY(&t->channels) ? "no" : "some");
		thread_pollers_force_release(t);
		thread_channels_force_release(t);
		/* Channel destruction may have queued messages (unregister callbacks). */
		if (!thread_ring_empty(&t->ring)) {
			return;
		}
	}
	atomic_store(&t->state, THREAD_STATE_EXITED);
	if (!thread_ring_empty(&t->ring)) {
		/* A sender read 'state' before our store: run its message first. */
		atomic_store(&t->state, THREAD_STATE_EXITING);
	}
}

int
spur_thread_poll(struct spur_thread *thread, uint32_t max_msgs, uint64_t now)
{
	struct spur_thread *prev = tls_thread;
	uint64_t start, end;
	spur_msg_fn fn;
	void *ctx;
	uint32_t n;
	int rc;

	if (atomic_load_explicit(&thread->state, memory_order_relaxed) == THREAD_STATE_EXITED) {
		return 0;
	}
	start = spur_get_ticks();
	tls_thread = thread;
	thread->now = now;
	if (max_msgs == 0) {
		max_msgs = THREAD_MSG_BATCH;
	}
	for (n = 0; n < max_msgs; n++) {
		if (!thread_ring_dequeue(&thread->ring, &fn, &ctx)) {
			break;
		}
		fn(ctx);
	}
	rc = (int)n + thread_pollers_run(thread, now);

	if (atomic_load_explicit(&thread->state, memory_order_relaxed) == THREAD_STATE_EXITING) {
		thread_try_exit(thread);
	}
	end = spur_get_ticks();
	if (rc > 0) {
		thread->stats.busy_ticks += end - start;
	} else {
		thread->stats.idle_ticks += end - start;
	}
	tls_thread = prev;
	return rc;
}

void
thread_free(struct spur_thread *t)
{
	struct spur_thread *prev = tls_thread;
	spur_msg_fn fn;
	void *ctx;

	thread_list_lock();
	TAILQ_REMOVE(&g_threads, t, glink);
	thread_list_unlock();

	/* Messages a list-lock holder queued while we went EXITED still run once. */
	tls_thread = t;
	while (thread_ring_dequeue(&t->ring, &fn, &ctx)) {
		fn(ctx);
	}
	tls_thread = prev;
	if (t->poller_count > 0 || !TAILQ_EMPTY(&t->channels)) {
		SPUR_ERRLOG("thread %s freed with pollers or channels left (leaked)\n", t->name);
	}
	thread_ring_fini(&t->ring);
	free(t);
}

void
spur_thread_destroy(struct spur_thread *thread)
{
	if (thread == NULL) {
		return;
	}
	if (thread->reactor != NULL) {
		SPUR_ERRLOG("thread %s belongs to a reactor; it frees it\n", thread->name);
		return;
	}
	if (!spur_thread_is_exited(thread)) {
		SPUR_ERRLOG("thread %s destroyed before it exited\n", thread->name);
		return;
	}
	if (tls_thread == thread) {
		tls_thread = NULL;
	}
	thread_free(thread);
}

int
spur_thread_send_msg(struct spur_thread *thread, spur_msg_fn fn, void *ctx)
{
	struct reactor *r;
	int rc;

	if (spur_unlikely(thread == NULL || fn == NULL)) {
		return -EINVAL;
	}
	/*
	 * Read everything we need from the thread before the enqueue: once the
	 * message is in, it may run, make the thread exit and get it freed
	 * before we return. The reactor outlives its threads.
	 */
	r = thread->reactor;
	if (spur_unlikely(atomic_load(&thread->state) == THREAD_STATE_EXITED)) {
		return -EIO;
	}
	rc = thread_ring_enqueue(&thread->ring, fn, ctx);
	if (spur_unlikely(rc != 0)) {
		return rc;
	}
	if (r != NULL) {
		reactor_notify(r);
	}
	return 0;
}

void
spur_thread_get_stats(const struct spur_thread *thread, struct spur_thread_stats *stats)
{
	*stats = thread->stats;
}

/* ---- spur_for_each_thread ------------------------------------------------ */

struct for_each_thread_ctx {
	spur_msg_fn fn;
	void *ctx;
	spur_msg_fn cpl;
	struct spur_thread *orig;
	struct spur_thread *cur;
};

static void for_each_thread_visit(void *arg);

static void
for_each_thread_done(void *arg)
{
	struct for_each_thread_ctx *c = arg;

	c->cpl(c->ctx);
	free(c);
}

/* With the list locked: send the walk to 'next' or a later live thread, or finish. */
static void
for_each_thread_hop_locked(struct for_each_thread_ctx *c, struct spur_thread *next)
{
	int rc;

	for (; next != NULL; next = thread_list_next(next)) {
		c->cur = next;
		rc = spur_thread_send_msg(next, for_each_thread_visit, c);
		if (rc == 0) {
			return;
		}
		if (rc != -EIO) {
			SPUR_ERRLOG("for_each_thread: skipping thread %s: %s\n", next->name,
				    strerror(-rc));
		}
	}
	rc = spur_thread_send_msg(c->orig, for_each_thread_done, c);
	if (rc != 0) {
		SPUR_ERRLOG("for_each_thread: cannot complete on thread %s: %s\n",
			    c->orig->name, strerror(-rc));
		free(c);
	}
}

static void
for_each_thread_visit(void *arg)
{
	struct for_each_thread_ctx *c = arg;

	c->fn(c->ctx);
	thread_list_lock();
	for_each_thread_hop_locked(c, thread_list_next(c->cur));
	thread_list_unlock();
}

void
spur_for_each_thread(spur_msg_fn fn, void *ctx, spur_msg_fn cpl)
{
	struct for_each_thread_ctx *c;

	if (tls_thread == NULL) {
		SPUR_ERRLOG("spur_for_each_thread called outside a spur thread\n");
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		SPUR_ERRLOG("spur_for_each_thread: out of memory\n");
		return;
	}
	c->fn = fn;
	c->ctx = ctx;
	c->cpl = cpl;
	c->orig = tls_thread;
	thread_list_lock();
	for_each_thread_hop_locked(c, thread_list_next(NULL));
	thread_list_unlock();
}
