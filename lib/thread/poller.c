/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pollers: registration, pause / resume, the per-iteration run loop, fds that
 * wake a sleeping reactor, and the read-only walk for thread_get_pollers.
 *
 * Owns the three poller lists of each thread: 'active_pollers' (period 0,
 * run every iteration, in registration order), 'timed_pollers' (sorted by
 * next_run, ties in insertion order) and 'paused_pollers'. Everything here
 * runs on the OS thread polling the owning lightweight thread; no locks, and
 * the run loop allocates nothing.
 *
 * Invariants:
 * - A poller is in exactly one list unless it was freed; the list matches its
 *   state (WAITING in active/timed by period, PAUSED in paused; RUNNING,
 *   PAUSING and UNREGISTERED pollers are the one whose fn is executing and
 *   are still in the list they ran from).
 * - Only the running poller defers work: pause / unregister of it only change
 *   its state, and the loop moves or frees it once fn returns. Any other
 *   poller is moved or freed at once; the loops take the next element only
 *   after fn returned, so they never hold a pointer fn could free.
 * - thread->poller_count counts registered pollers not yet unregistered.
 * - A placed thread's poller fds are in its reactor's epoll set for exactly
 *   as long as they are in poller->fds.
 * - thread->sleep_hook_count counts registered pollers with a sleep hook, so
 *   a reactor skips the walk when it is 0. A hook is armed by
 *   thread_pollers_before_sleep and disarmed by thread_pollers_after_wake,
 *   which the reactor calls back to back around its sleep.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "spur/log.h"
#include "thread_internal.h"

void
thread_pollers_init(struct spur_thread *thread)
{
	TAILQ_INIT(&thread->active_pollers);
	TAILQ_INIT(&thread->timed_pollers);
	TAILQ_INIT(&thread->paused_pollers);
	thread->next_poller_id = 1;
}

/* Insert after the last poller due no later than p (scan from the tail). */
static void
timed_insert(struct spur_thread *t, struct spur_poller *p)
{
	struct spur_poller *it;

	TAILQ_FOREACH_REVERSE(it, &t->timed_pollers, poller_list, link) {
		if (it->next_run <= p->next_run) {
			TAILQ_INSERT_AFTER(&t->timed_pollers, it, p, link);
			return;
		}
	}
	TAILQ_INSERT_HEAD(&t->timed_pollers, p, link);
}

static struct poller_list *
waiting_list(struct spur_thread *t, struct spur_poller *p)
{
	return p->period_ticks ? &t->timed_pollers : &t->active_pollers;
}

struct spur_poller *
spur_poller_register(spur_poller_fn fn, void *ctx, uint64_t period_us, const char *name)
{
	struct spur_thread *t = spur_get_thread();
	struct spur_poller *p;

	if (t == NULL) {
		SPUR_ERRLOG("poller %s: no current thread\n", name ? name : "");
		return NULL;
	}
	if (fn == NULL || spur_thread_is_exited(t)) {
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		SPUR_ERRLOG("poller %s: out of memory\n", name ? name : "");
		return NULL;
	}
	p->thread = t;
	p->fn = fn;
	p->ctx = ctx;
	p->id = t->next_poller_id++;
	p->state = POLLER_STATE_WAITING;
	if (name != NULL) {
		snprintf(p->name, sizeof(p->name), "%s", name);
	} else {
		snprintf(p->name, sizeof(p->name), "poller%" PRIu64, p->id);
	}
	if (period_us != 0) {
		p->period_ticks = SPUR_MAX(spur_us_to_ticks(period_us), 1);
		p->next_run = t->now + p->period_ticks;
		timed_insert(t, p);
	} else {
		TAILQ_INSERT_TAIL(&t->active_pollers, p, link);
	}
	t->poller_count++;
	return p;
}

/* Take every fd of p out of the reactor's epoll set. */
static void
poller_drop_fds(struct spur_poller *p)
{
	int i;

	if (p->thread->reactor != NULL) {
		for (i = 0; i < p->nfds; i++) {
			reactor_remove_fd(p->thread->reactor, p->fds[i]);
		}
	}
	p->nfds = 0;
}

/* Unregister p, whichever thread is current (the caller checked). */
static void
poller_release(struct spur_poller *p)
{
	struct spur_thread *t = p->thread;

	poller_drop_fds(p);
	if (p->before_sleep != NULL || p->after_wake != NULL) {
		p->before_sleep = NULL;
		p->after_wake = NULL;
		t->sleep_hook_count--;
	}
	switch (p->state) {
	case POLLER_STATE_RUNNING:
	case POLLER_STATE_PAUSING:
		p->state = POLLER_STATE_UNREGISTERED;
		break;
	case POLLER_STATE_WAITING:
		TAILQ_REMOVE(waiting_list(t, p), p, link);
		free(p);
		break;
	case POLLER_STATE_PAUSED:
		TAILQ_REMOVE(&t->paused_pollers, p, link);
		free(p);
		break;
	case POLLER_STATE_UNREGISTERED:
		SPUR_ERRLOG("poller %s unregistered twice\n", p->name);
		return;
	}
	t->poller_count--;
}

void
spur_poller_unregister(struct spur_poller **poller)
{
	struct spur_poller *p = poller ? *poller : NULL;

	if (p == NULL) {
		return;
	}
	if (p->thread != spur_get_thread()) {
		SPUR_ERRLOG("poller %s unregistered from another thread\n", p->name);
		return;
	}
	*poller = NULL;
	poller_release(p);
}

void
spur_poller_pause(struct spur_poller *p)
{
	struct spur_thread *t = p->thread;

	switch (p->state) {
	case POLLER_STATE_WAITING:
		TAILQ_REMOVE(waiting_list(t, p), p, link);
		TAILQ_INSERT_TAIL(&t->paused_pollers, p, link);
		p->state = POLLER_STATE_PAUSED;
		break;
	case POLLER_STATE_RUNNING:
		p->state = POLLER_STATE_PAUSING;
		break;
	default:
		break;
	}
}

void
spur_poller_resume(struct spur_poller *p)
{
	struct spur_thread *t = p->thread;

	switch (p->state) {
	case POLLER_STATE_PAUSED:
		TAILQ_REMOVE(&t->paused_pollers, p, link);
		p->state = POLLER_STATE_WAITING;
		if (p->period_ticks != 0) {
			/* An fd edge may have been swallowed while paused: run soon. */
			p->next_run = t->now + (p->nfds ? 0 : p->period_ticks);
			timed_insert(t, p);
		} else {
			TAILQ_INSERT_TAIL(&t->active_pollers, p, link);
		}
		break;
	case POLLER_STATE_PAUSING:
		p->state = POLLER_STATE_RUNNING;
		break;
	default:
		break;
	}
}

const char *
spur_poller_get_name(const struct spur_poller *poller)
{
	return poller->name;
}

/* Run p's fn; returns 1 if it was busy. */
static inline int
poller_call(struct spur_poller *p)
{
	int rc;

	p->state = POLLER_STATE_RUNNING;
	rc = p->fn(p->ctx);
	p->run_count++;
	if (rc > 0) {
		p->busy_count++;
		return 1;
	}
	return 0;
}

/*
 * fn returned: apply what it asked for itself. p is still in 'from'.
 * Returns true when p stays WAITING (the caller may reschedule it).
 */
static bool
poller_settle(struct spur_thread *t, struct spur_poller *p, struct poller_list *from)
{
	switch (p->state) {
	case POLLER_STATE_RUNNING:
		p->state = POLLER_STATE_WAITING;
		return true;
	case POLLER_STATE_PAUSING:
		TAILQ_REMOVE(from, p, link);
		TAILQ_INSERT_TAIL(&t->paused_pollers, p, link);
		p->state = POLLER_STATE_PAUSED;
		return false;
	case POLLER_STATE_UNREGISTERED:
		TAILQ_REMOVE(from, p, link);
		free(p);
		return false;
	default:
		abort(); /* the running poller is in none of the other states */
	}
}

int
thread_pollers_run(struct spur_thread *t, uint64_t now)
{
	struct spur_poller *p, *next;
	int busy = 0;

	for (p = TAILQ_FIRST(&t->active_pollers); p != NULL; p = next) {
		busy += poller_call(p);
		next = TAILQ_NEXT(p, link);
		poller_settle(t, p, &t->active_pollers);
	}

	/* Rescheduled pollers land at now + period > now, so this terminates. */
	while ((p = TAILQ_FIRST(&t->timed_pollers)) != NULL && p->next_run <= now) {
		busy += poller_call(p);
		if (poller_settle(t, p, &t->timed_pollers)) {
			TAILQ_REMOVE(&t->timed_pollers, p, link);
			p->next_run = now + p->period_ticks;
			timed_insert(t, p);
		}
	}
	return busy;
}

uint64_t
thread_pollers_next_timer(struct spur_thread *t)
{
	struct spur_poller *p;

	TAILQ_FOREACH(p, &t->timed_pollers, link) {
		if (p->nfds == 0) {
			return p->next_run;
		}
	}
	return UINT64_MAX;
}

void
thread_poller_fd_event(struct spur_poller *p)
{
	struct spur_thread *t = p->thread;

	/* Active pollers run every iteration anyway; paused ones catch up on resume. */
	if (p->state != POLLER_STATE_WAITING || p->period_ticks == 0) {
		return;
	}
	TAILQ_REMOVE(&t->timed_pollers, p, link);
	p->next_run = 0;
	TAILQ_INSERT_HEAD(&t->timed_pollers, p, link);
}

void
thread_pollers_force_release(struct spur_thread *t)
{
	struct poller_list *lists[] = {
		&t->active_pollers, &t->timed_pollers, &t->paused_pollers,
	};
	struct spur_poller *p;
	size_t i;

	for (i = 0; i < SPUR_COUNTOF(lists); i++) {
		while ((p = TAILQ_FIRST(lists[i])) != NULL) {
			SPUR_ERRLOG("thread %s: releasing poller %s left at exit\n", t->name,
				    p->name);
			poller_release(p);
		}
	}
}

int
spur_poller_add_fd(struct spur_poller *p, int fd, uint32_t events)
{
	int i, rc;

	if (p == NULL || fd < 0 || p->state == POLLER_STATE_UNREGISTERED) {
		return -EINVAL;
	}
	for (i = 0; i < p->nfds; i++) {
		if (p->fds[i] == fd) {
			return -EEXIST;
		}
	}
	if (p->nfds == THREAD_POLLER_MAX_FDS) {
		return -ENOSPC;
	}
	if (p->thread->reactor != NULL) {
		rc = reactor_add_fd(p->thread->reactor, fd, events, p);
		if (rc != 0) {
			return rc;
		}
	}
	p->fds[p->nfds] = fd;
	p->fd_events[p->nfds] = events;
	p->nfds++;
	return 0;
}

int
spur_poller_remove_fd(struct spur_poller *p, int fd)
{
	int i;

	if (p == NULL) {
		return -EINVAL;
	}
	for (i = 0; i < p->nfds; i++) {
		if (p->fds[i] == fd) {
			break;
		}
	}
	if (i == p->nfds) {
		return -ENOENT;
	}
	if (p->thread->reactor != NULL) {
		/* Fails harmlessly if the caller already closed fd. */
		reactor_remove_fd(p->thread->reactor, fd);
	}
	p->nfds--;
	p->fds[i] = p->fds[p->nfds];
	p->fd_events[i] = p->fd_events[p->nfds];
	return 0;
}

int
spur_poller_set_sleep_hook(struct spur_poller *p, bool (*before_sleep)(void *ctx),
			   void (*after_wake)(void *ctx))
{
	bool had, has = before_sleep != NULL || after_wake != NULL;

	if (p == NULL || p->state == POLLER_STATE_UNREGISTERED) {
		return -EINVAL;
	}
	had = p->before_sleep != NULL || p->after_wake != NULL;
	p->before_sleep = before_sleep;
	p->after_wake = after_wake;
	if (had != has) {
		if (has) {
			p->thread->sleep_hook_count++;
		} else {
			p->thread->sleep_hook_count--;
		}
	}
	return 0;
}

/* Hooks run with the thread current, like the pollers themselves. */
bool
thread_pollers_before_sleep(struct spur_thread *t)
{
	const struct poller_list *lists[] = { &t->active_pollers, &t->timed_pollers };
	struct spur_thread *prev = spur_get_thread();
	struct spur_poller *p;
	bool work = false;
	size_t i;

	if (t->sleep_hook_count == 0) {
		return false;
	}
	spur_set_thread(t);
	for (i = 0; i < SPUR_COUNTOF(lists); i++) {
		TAILQ_FOREACH(p, lists[i], link) {
			if (p->state != POLLER_STATE_WAITING) {
				continue;
			}
			if (p->before_sleep != NULL || p->after_wake != NULL) {
				p->hook_armed = true;
				if (p->before_sleep != NULL && p->before_sleep(p->ctx)) {
					work = true;
				}
			}
		}
	}
	spur_set_thread(prev);
	return work;
}

void
thread_pollers_after_wake(struct spur_thread *t)
{
	const struct poller_list *lists[] = { &t->active_pollers, &t->timed_pollers };
	struct spur_thread *prev = spur_get_thread();
	struct spur_poller *p;
	size_t i;

	if (t->sleep_hook_count == 0) {
		return;
	}
	spur_set_thread(t);
	for (i = 0; i < SPUR_COUNTOF(lists); i++) {
		TAILQ_FOREACH(p, lists[i], link) {
			if (!p->hook_armed) {
				continue;
			}
			p->hook_armed = false;
			if (p->after_wake != NULL) {
				p->after_wake(p->ctx);
			}
		}
	}
	spur_set_thread(prev);
}

static void
poller_info(const struct spur_poller *p, struct spur_poller_info *info)
{
	info->name = p->name;
	info->id = p->id;
	info->state = (p->state == POLLER_STATE_PAUSED || p->state == POLLER_STATE_PAUSING) ?
		      SPUR_POLLER_STATE_PAUSED : SPUR_POLLER_STATE_ACTIVE;
	info->period_ticks = p->period_ticks;
	info->run_count = p->run_count;
	info->busy_count = p->busy_count;
}

void
spur_thread_for_each_poller(struct spur_thread *thread,
			    void (*fn)(const struct spur_poller_info *info, void *ctx),
			    void *ctx)
{
	const struct poller_list *lists[] = {
		&thread->active_pollers, &thread->timed_pollers, &thread->paused_pollers,
	};
	struct spur_poller_info info;
	const struct spur_poller *p;
	size_t i;

	for (i = 0; i < SPUR_COUNTOF(lists); i++) {
		TAILQ_FOREACH(p, lists[i], link) {
			if (p->state == POLLER_STATE_UNREGISTERED) {
				continue;
			}
			poller_info(p, &info);
			fn(&info, ctx);
		}
	}
}
