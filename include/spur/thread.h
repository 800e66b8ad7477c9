/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The runtime: reactors, lightweight threads, pollers, messages, I/O channels.
 *
 * A reactor is one OS thread pinned to one core. It runs lightweight threads
 * (struct spur_thread). A lightweight thread owns pollers and receives
 * messages; every object in spur belongs to exactly one lightweight thread and
 * is touched only there. Other threads reach it with spur_thread_send_msg().
 *
 * Pollers return SPUR_POLLER_BUSY when they did work and SPUR_POLLER_IDLE
 * otherwise. A reactor whose threads stay idle (see enum spur_poll_mode) sleeps
 * in epoll on its message eventfd and on every fd its pollers registered with
 * spur_poller_add_fd(); the first event wakes it. Contract for pollers: one
 * that can have work arriving from outside the process (a socket, a kick
 * eventfd, an io_uring completion) must register an fd or be timed, or an idle
 * reactor will not notice the work.
 *
 * Async contract used across spur: a function that takes a completion
 * callback and returns 0 calls it exactly once, later; a negative errno means
 * it will never be called.
 */
#ifndef SPUR_THREAD_H
#define SPUR_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spur/util.h"

struct spur_thread;
struct spur_poller;
struct spur_io_channel;
struct spur_io_channel_iter;

typedef void (*spur_msg_fn)(void *ctx);

enum spur_poller_status {
	SPUR_POLLER_IDLE = 0,
	SPUR_POLLER_BUSY = 1,
};
typedef int (*spur_poller_fn)(void *ctx);

enum spur_poll_mode {
	SPUR_POLL_BUSY,      /* never sleep */
	SPUR_POLL_ADAPTIVE,  /* sleep after idle_threshold_us of idle iterations */
	SPUR_POLL_INTERRUPT, /* sleep as soon as one iteration finds no work */
};
/* "busy" | "adaptive" | "interrupt"; returns the mode or -EINVAL. */
int spur_poll_mode_parse(const char *name);
const char *spur_poll_mode_name(enum spur_poll_mode mode);

/* ---- environment: the set of reactors ---------------------------------- */

struct spur_env_opts {
	size_t size;                  /* sizeof(struct spur_env_opts) */
	struct spur_cpuset cpumask;   /* cores to run reactors on */
	enum spur_poll_mode poll_mode;
	uint32_t idle_threshold_us;   /* ADAPTIVE: idle time before sleeping */
};
void spur_env_opts_init(struct spur_env_opts *opts, size_t size);

/*
 * Create one reactor per core of opts->cpumask (not yet running). Fails with
 * -EINVAL for an empty mask or a core this process may not run on.
 */
int spur_env_init(const struct spur_env_opts *opts);
/*
 * Start the reactors: the first core's reactor runs on the calling OS thread,
 * the others on new pinned pthreads. Creates the application thread on the
 * first reactor and sends it start_fn(ctx). Returns after spur_env_stop() once
 * every reactor has finished, with 0.
 */
int spur_env_run(spur_msg_fn start_fn, void *ctx);
/*
 * Ask every reactor to stop: all remaining lightweight threads are asked to
 * exit (spur_thread_exit) and reactors return once their threads are gone.
 * Callable from any thread, and async-signal-safe (a flag and eventfd writes).
 * A thread still holding pollers or I/O channels 5 s after it was asked to
 * exit has them released by force, with an error logged for each.
 */
void spur_env_stop(void);
/* Free the reactors after spur_env_run() returned. */
void spur_env_fini(void);
/* The cores reactors run on and the poll mode in force. */
const struct spur_cpuset *spur_env_get_cpumask(void);
enum spur_poll_mode spur_env_get_poll_mode(void);
/* The thread spur_env_run() created for start_fn (RPC, config, app logic). */
struct spur_thread *spur_get_app_thread(void);
/*
 * Designate the application thread without spur_env_run (unit tests that
 * drive an unplaced thread with spur_thread_poll); NULL clears it.
 * (Declared for lib/rpc's tests; implemented by lib/thread.)
 */
void spur_set_app_thread(struct spur_thread *thread);

/* ---- lightweight threads ----------------------------------------------- */

/*
 * Create a thread placed on a reactor whose core is in cpumask (NULL: any),
 * choosing the reactor with the fewest threads. Outside spur_env_run (unit
 * tests) the thread is not placed anywhere and is driven by spur_thread_poll.
 * Returns NULL on allocation failure or an empty intersection with the env.
 */
struct spur_thread *spur_thread_create(const char *name, const struct spur_cpuset *cpumask);
/* The thread running now on this OS thread, or NULL. */
struct spur_thread *spur_get_thread(void);
/*
 * Make thread the current one of this OS thread (NULL: none) without polling
 * it, so code outside a reactor (unit tests, start-up) can register pollers
 * or get I/O channels on an unplaced thread it drives with spur_thread_poll.
 */
void spur_set_thread(struct spur_thread *thread);
const char *spur_thread_get_name(const struct spur_thread *thread);
uint64_t spur_thread_get_id(const struct spur_thread *thread);
const struct spur_cpuset *spur_thread_get_cpumask(const struct spur_thread *thread);
/* Core of the reactor running the thread, or UINT32_MAX when unplaced. */
uint32_t spur_thread_get_core(const struct spur_thread *thread);
/*
 * Called on the thread itself: it stops accepting messages once its queue is
 * drained, and is destroyed by its reactor when it has no pollers and no I/O
 * channels left. Messages already queued still run.
 */
void spur_thread_exit(struct spur_thread *thread);
bool spur_thread_is_exited(const struct spur_thread *thread);
/*
 * Run one iteration of the thread on the calling OS thread: up to max_msgs
 * messages (0: a default batch), then due pollers. Returns the number of
 * messages and pollers that did work. Reactors call it; unit tests call it to
 * drive threads deterministically.
 */
int spur_thread_poll(struct spur_thread *thread, uint32_t max_msgs, uint64_t now);
/* Destroy an exited thread that no reactor owns (unit tests). */
void spur_thread_destroy(struct spur_thread *thread);

/*
 * Queue fn(ctx) to run on thread. Lock-free, safe from any OS thread and from
 * signal-free contexts. Returns 0, -ENOMEM when the thread's queue is full, or
 * -EIO when the thread has exited.
 */
int spur_thread_send_msg(struct spur_thread *thread, spur_msg_fn fn, void *ctx);
/*
 * Run fn(ctx) on every thread, one after another, then cpl(ctx) on the
 * calling thread. Threads created meanwhile may be skipped.
 */
void spur_for_each_thread(spur_msg_fn fn, void *ctx, spur_msg_fn cpl);

/* Statistics (read on the thread itself, or in a message sent to it). */
struct spur_thread_stats {
	uint64_t busy_ticks;
	uint64_t idle_ticks;
};
void spur_thread_get_stats(const struct spur_thread *thread, struct spur_thread_stats *stats);

/* ---- pollers ------------------------------------------------------------ */

/*
 * Register fn(ctx) on the current thread: every iteration when period_us is
 * 0, else every period_us. name is copied and shows in thread_get_pollers.
 * Returns NULL without a current thread or on allocation failure.
 */
struct spur_poller *spur_poller_register(spur_poller_fn fn, void *ctx, uint64_t period_us,
					 const char *name);
/* Unregister and set *poller to NULL; safe inside the poller's own fn. */
void spur_poller_unregister(struct spur_poller **poller);
/* Stop / restart running the poller; safe inside its own fn. */
void spur_poller_pause(struct spur_poller *poller);
void spur_poller_resume(struct spur_poller *poller);
/*
 * Wake the reactor when fd has one of the epoll events (EPOLLIN, ...), and
 * run this poller then, even before its period is due. Edge-triggered: the
 * poller must consume what the fd reports. Returns 0 or a negative errno.
 */
int spur_poller_add_fd(struct spur_poller *poller, int fd, uint32_t events);
int spur_poller_remove_fd(struct spur_poller *poller, int fd);
/*
 * Hooks around the reactor's sleep, for pollers whose work source must be
 * re-armed before sleeping (a virtqueue re-enables guest notifications and
 * re-checks its ring). Before a reactor commits to sleeping it calls
 * before_sleep(ctx) of every active (not paused) poller of its threads that
 * set one; if any returns true (work arrived) it does not sleep. after_wake
 * (ctx) is then called for every poller whose before_sleep ran, whether the
 * reactor slept or not. ctx is the poller's ctx; both run on the owning
 * thread (as current thread), outside the poller's fn. NULL, NULL removes
 * the hooks. Unplaced threads (unit tests driving spur_thread_poll) never
 * sleep, so their hooks are never called. Call on the poller's thread.
 * Returns 0 or -EINVAL.
 */
int spur_poller_set_sleep_hook(struct spur_poller *poller, bool (*before_sleep)(void *ctx),
			       void (*after_wake)(void *ctx));
const char *spur_poller_get_name(const struct spur_poller *poller);

enum spur_poller_state {
	SPUR_POLLER_STATE_ACTIVE,
	SPUR_POLLER_STATE_PAUSED,
};
struct spur_poller_info {
	const char *name;
	uint64_t id;
	enum spur_poller_state state;
	uint64_t period_ticks; /* 0 for active (every-iteration) pollers */
	uint64_t run_count;
	uint64_t busy_count;
};
/* Calls fn for each poller of the current thread (read-only snapshot). */
void spur_thread_for_each_poller(struct spur_thread *thread,
				 void (*fn)(const struct spur_poller_info *info, void *ctx),
				 void *ctx);

/* ---- I/O channels --------------------------------------------------------- */

typedef int (*spur_io_channel_create_cb)(void *io_device, void *ctx_buf);
typedef void (*spur_io_channel_destroy_cb)(void *io_device, void *ctx_buf);
typedef void (*spur_io_device_unregister_cb)(void *io_device);

/*
 * Declare io_device (any unique pointer) as a device with per-thread
 * channels of ctx_size bytes, built by create_cb on first get on a thread.
 */
void spur_io_device_register(void *io_device, spur_io_channel_create_cb create_cb,
			     spur_io_channel_destroy_cb destroy_cb, uint32_t ctx_size,
			     const char *name);
/*
 * Unregister; unregister_cb (may be NULL) runs on the calling thread once the
 * last channel of the device has been destroyed.
 */
void spur_io_device_unregister(void *io_device, spur_io_device_unregister_cb unregister_cb);
/*
 * The current thread's channel for io_device, created on first call and
 * reference counted. NULL if the device is unknown, being unregistered, or
 * create_cb failed.
 */
struct spur_io_channel *spur_get_io_channel(void *io_device);
/* Drop a reference; the channel is destroyed on its thread, after return. */
void spur_put_io_channel(struct spur_io_channel *ch);
void *spur_io_channel_get_ctx(struct spur_io_channel *ch);
struct spur_io_channel *spur_io_channel_from_ctx(void *ctx);
struct spur_thread *spur_io_channel_get_thread(struct spur_io_channel *ch);
void *spur_io_channel_get_io_device(struct spur_io_channel *ch);

typedef void (*spur_channel_msg)(struct spur_io_channel_iter *i);
typedef void (*spur_channel_for_each_cpl)(struct spur_io_channel_iter *i, int status);
/*
 * Call fn on the thread of every channel of io_device, one at a time; each fn
 * must call spur_for_each_channel_continue(i, status). A non-zero status
 * stops the walk. cpl runs on the calling thread with the last status.
 */
void spur_for_each_channel(void *io_device, spur_channel_msg fn, void *ctx,
			   spur_channel_for_each_cpl cpl);
void spur_for_each_channel_continue(struct spur_io_channel_iter *i, int status);
void *spur_io_channel_iter_get_ctx(struct spur_io_channel_iter *i);
struct spur_io_channel *spur_io_channel_iter_get_channel(struct spur_io_channel_iter *i);
void *spur_io_channel_iter_get_io_device(struct spur_io_channel_iter *i);

/* ---- reactor information (for framework_get_reactors) --------------------- */

struct spur_reactor_info {
	uint32_t core;
	int tid;                 /* OS thread id */
	uint64_t busy_ticks;
	uint64_t idle_ticks;
	uint64_t sleep_count;    /* times it blocked in epoll */
	uint64_t wakeup_count;   /* times an event woke it */
	bool in_interrupt;       /* sleeping right now */
	uint32_t thread_count;
};
/* Snapshot of every reactor (counters read racily, fine for stats). */
void spur_env_for_each_reactor(void (*fn)(const struct spur_reactor_info *info, void *ctx),
			       void *ctx);

#endif
