/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Structures shared by the files of lib/thread (never included outside it).
 *
 * Ownership: a struct spur_thread is touched by the OS thread that polls it
 * (its reactor, or a unit test calling spur_thread_poll), except for three
 * fields other OS threads may use: 'ring' (enqueue side), 'state' (read by
 * senders) and 'reactor' (written once at creation, before the pointer to the
 * thread is published). Pollers and I/O channels belong to one thread and are
 * touched only by it. The global list of threads ('glink') is protected by
 * the mutex behind thread_list_lock(); a reactor's own list ('rlink') by that
 * reactor.
 *
 * Thread states:
 *
 *   RUNNING --spur_thread_exit()--> EXITING --queue empty, no pollers,--> EXITED
 *                                     ^      no channels (thread.c)       |
 *                                     +--- a message slipped in ----------+
 *
 * EXITED threads refuse messages (-EIO) and are freed by their reactor (or by
 * spur_thread_destroy for unplaced ones).
 */
#ifndef SPUR_THREAD_INTERNAL_H
#define SPUR_THREAD_INTERNAL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "spur/thread.h"
#include "ring.h"

#define THREAD_MSG_RING_SIZE 65536u
#define THREAD_MSG_BATCH 64u
#define THREAD_NAME_LEN 64
#define THREAD_POLLER_NAME_LEN 64
#define THREAD_POLLER_MAX_FDS 4
/* An exiting thread still holding pollers or channels after this is forced. */
#define THREAD_EXIT_TIMEOUT_S 5

enum thread_state {
	THREAD_STATE_RUNNING,
	THREAD_STATE_EXITING,
	THREAD_STATE_EXITED,
};

/*
 * Poller states. WAITING pollers sit in the thread's 'active' or 'timed'
 * list, PAUSED ones in 'paused'. RUNNING / PAUSING / UNREGISTERED-while-
 * running are transient states of the poller whose fn is executing: the
 * poll loop applies them when fn returns, so fn may pause or unregister
 * itself without pulling the list out from under the loop.
 */
enum poller_state {
	POLLER_STATE_WAITING,
	POLLER_STATE_RUNNING,
	POLLER_STATE_PAUSING,
	POLLER_STATE_PAUSED,
	POLLER_STATE_UNREGISTERED,
};

struct spur_poller {
	TAILQ_ENTRY(spur_poller) link;
	struct spur_thread *thread;
	spur_poller_fn fn;
	void *ctx;
	uint64_t period_ticks;  /* 0: active, runs every iteration */
	uint64_t next_run;      /* timed: tick of the next run */
	enum poller_state state;
	uint64_t id;
	uint64_t run_count;
	uint64_t busy_count;
	int nfds;
	int fds[THREAD_POLLER_MAX_FDS];
	uint32_t fd_events[THREAD_POLLER_MAX_FDS];
	char name[THREAD_POLLER_NAME_LEN];
	/* spur_poller_set_sleep_hook; hook_armed: before_sleep ran, after_wake owed. */
	bool (*before_sleep)(void *ctx);
	void (*after_wake)(void *ctx);
	bool hook_armed;
};
TAILQ_HEAD(poller_list, spur_poller);

struct spur_io_channel {
	struct spur_thread *thread;
	struct thread_io_device *dev;
	uint32_t ref;
	bool destroy_pending;    /* a destroy message is queued */
	TAILQ_ENTRY(spur_io_channel) tlink;
	alignas(16) unsigned char ctx[];
};
TAILQ_HEAD(channel_list, spur_io_channel);

struct reactor;

struct spur_thread {
	/* Shared with senders. */
	struct thread_ring ring;
	_Atomic int state;            /* enum thread_state */
	struct reactor *reactor;      /* NULL when unplaced; fixed after create */

	/* Immutable after create. */
	uint64_t id;
	char name[THREAD_NAME_LEN];
	struct spur_cpuset cpumask;

	/* Owner only. */
	uint64_t now;                 /* 'now' of the current / last iteration */
	struct poller_list active_pollers;
	struct poller_list timed_pollers;   /* sorted by next_run */
	struct poller_list paused_pollers;
	uint32_t poller_count;        /* registered and not unregistered */
	uint32_t sleep_hook_count;    /* registered pollers with sleep hooks */
	uint64_t next_poller_id;
	struct channel_list channels;
	struct spur_thread_stats stats;
	uint64_t exit_start;          /* real ticks at spur_thread_exit */
	bool stop_sent;               /* reactor asked it to exit (env stop) */

	TAILQ_ENTRY(spur_thread) glink; /* global list, under thread_list_lock */
	TAILQ_ENTRY(spur_thread) rlink; /* reactor's list or hand-off list */
};

/* ---- thread.c ---------------------------------------------------------- */
/* Lock / unlock the global list of threads (control path only). */
void thread_list_lock(void);
void thread_list_unlock(void);
/*
 * With the list locked: the thread after 'cur' (the first one for NULL)
 * that has not reached EXITED, or NULL.
 */
struct spur_thread *thread_list_next(struct spur_thread *cur);
/*
 * Free an EXITED thread: unlink it from the global list, run messages a
 * sender holding the list lock may have queued late, release the ring.
 * Called by its reactor (after unlinking it there) or spur_thread_destroy.
 */
void thread_free(struct spur_thread *thread);
/* Current real-time tick count seen by the thread (for timers). */
static inline uint64_t
thread_now(const struct spur_thread *thread)
{
	return thread->now;
}

/* ---- poller.c ---------------------------------------------------------- */
void thread_pollers_init(struct spur_thread *thread);
/* Run the active pollers then the due timed ones; returns how many were busy. */
int thread_pollers_run(struct spur_thread *thread, uint64_t now);
/*
 * Earliest next_run among WAITING timed pollers that registered no fd, or
 * UINT64_MAX. Owner only (the reactor, between iterations).
 */
uint64_t thread_pollers_next_timer(struct spur_thread *thread);
/*
 * An fd of 'poller' fired (reactor, between iterations): make the poller run
 * on the thread's next iteration even if its period is not due.
 */
void thread_poller_fd_event(struct spur_poller *poller);
/* Exit timeout: unregister every poller left, logging each. */
void thread_pollers_force_release(struct spur_thread *thread);
/*
 * Reactor, about to sleep: call before_sleep of every WAITING poller that
 * has one (with the thread current); true when one of them reported work.
 * thread_pollers_after_wake then calls after_wake of each of those pollers.
 */
bool thread_pollers_before_sleep(struct spur_thread *thread);
void thread_pollers_after_wake(struct spur_thread *thread);

/* ---- io_channel.c ------------------------------------------------------ */
/* Exit timeout: destroy every channel left on the thread, logging each. */
void thread_channels_force_release(struct spur_thread *thread);

/* ---- reactor.c --------------------------------------------------------- */
/*
 * Choose a reactor for a new thread (fewest threads among cores in its
 * cpumask) and hand the thread to it. Returns 0 when placed, 1 when no
 * environment exists (thread stays unplaced), -EINVAL when no reactor's core
 * is in the cpumask.
 */
int reactor_place_thread(struct spur_thread *thread);
/*
 * A message was queued for a thread of reactor r: wake r if it sleeps.
 * Issues the seq_cst fence of the sleep protocol (see reactor.c).
 */
void reactor_notify(struct reactor *r);
/* Add / remove a poller fd in r's epoll set. Return 0 or a negative errno. */
int reactor_add_fd(struct reactor *r, int fd, uint32_t events, struct spur_poller *poller);
int reactor_remove_fd(struct reactor *r, int fd);
uint32_t reactor_get_core(const struct reactor *r);

#endif
