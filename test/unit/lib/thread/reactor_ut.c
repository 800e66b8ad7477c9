/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the environment with real reactors: poll mode names and
 * option defaults, invalid masks, placement by cpumask and load, a 100k
 * message ping-pong across reactors, INTERRUPT mode (sleeps while idle, woken
 * by a poller's eventfd and by a message from a foreign OS thread, timed
 * pollers wake it), ADAPTIVE sleeping after its threshold, BUSY never
 * sleeping, and sleep hooks (a producer that kicks only when the consumer
 * asked for it, so a lost wake-up hangs the test; a hook claiming work keeps
 * the reactor awake), and an fd event that comes after its poller's pass
 * while the reactor is busy (not lost to the busy fd check).
 *
 * Code running on reactors only records what it saw; the checks run on the
 * test's main thread after spur_env_run returns (cmocka cannot fail from
 * another thread or from inside the reactor loop).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "spur/thread.h"

#define PINGPONG_N 100000

static uint32_t g_ncores;

static void
make_opts(struct spur_env_opts *opts, enum spur_poll_mode mode, bool two)
{
	spur_env_opts_init(opts, sizeof(*opts));
	spur_cpuset_zero(&opts->cpumask);
	spur_cpuset_set(&opts->cpumask, 0);
	if (two && g_ncores >= 2) {
		spur_cpuset_set(&opts->cpumask, 1);
	}
	opts->poll_mode = mode;
}

struct rsnap {
	uint32_t n;
	struct spur_reactor_info info[4];
};

static void
snap_fn(const struct spur_reactor_info *info, void *ctx)
{
	struct rsnap *s = ctx;

	if (s->n < 4) {
		s->info[s->n] = *info;
	}
	s->n++;
}

static struct spur_reactor_info
reactor0(void)
{
	struct rsnap s = { 0 };

	spur_env_for_each_reactor(snap_fn, &s);
	return s.info[0];
}

static uint64_t
total_sleeps(void)
{
	struct rsnap s = { 0 };
	uint64_t n = 0;

	spur_env_for_each_reactor(snap_fn, &s);
	for (uint32_t i = 0; i < s.n && i < 4; i++) {
		n += s.info[i].sleep_count;
	}
	return n;
}

static uint64_t
now_us(void)
{
	return spur_ticks_to_us(spur_get_ticks());
}

static void
stop_msg(void *ctx)
{
	spur_env_stop();
}

static void
test_poll_mode_and_opts(void **state)
{
	struct spur_env_opts opts;
	unsigned char raw[sizeof(struct spur_env_opts)];
	size_t part = offsetof(struct spur_env_opts, poll_mode);

	assert_int_equal(spur_poll_mode_parse("busy"), SPUR_POLL_BUSY);
	assert_int_equal(spur_poll_mode_parse("ADAPTIVE"), SPUR_POLL_ADAPTIVE);
	assert_int_equal(spur_poll_mode_parse("interrupt"), SPUR_POLL_INTERRUPT);
	assert_int_equal(spur_poll_mode_parse("sometimes"), -EINVAL);
	assert_int_equal(spur_poll_mode_parse(NULL), -EINVAL);
	assert_string_equal(spur_poll_mode_name(SPUR_POLL_BUSY), "busy");
	assert_string_equal(spur_poll_mode_name(SPUR_POLL_ADAPTIVE), "adaptive");
	assert_string_equal(spur_poll_mode_name(SPUR_POLL_INTERRUPT), "interrupt");

	spur_env_opts_init(&opts, sizeof(opts));
	assert_int_equal(opts.size, sizeof(opts));
	assert_int_equal(spur_cpuset_count(&opts.cpumask), 1);
	assert_true(spur_cpuset_isset(&opts.cpumask, 0));
	assert_int_equal(opts.poll_mode, SPUR_POLL_ADAPTIVE);
	assert_int_equal(opts.idle_threshold_us, 1000);

	/* An older, smaller struct: nothing written past its size. */
	memset(raw, 0xee, sizeof(raw));
	spur_env_opts_init((struct spur_env_opts *)raw, part);
	assert_int_equal(((struct spur_env_opts *)raw)->size, part);
	assert_int_equal(raw[part], 0xee);
	assert_int_equal(raw[sizeof(raw) - 1], 0xee);
}

static void
test_env_init_invalid(void **state)
{
	struct spur_env_opts opts;
	struct spur_cpuset mask;

	make_opts(&opts, SPUR_POLL_ADAPTIVE, false);
	spur_cpuset_zero(&opts.cpumask);
	assert_int_equal(spur_env_init(&opts), -EINVAL);
	spur_cpuset_set(&opts.cpumask, 0);
	spur_cpuset_set(&opts.cpumask, 1000);
	assert_int_equal(spur_env_init(&opts), -EINVAL);
	make_opts(&opts, (enum spur_poll_mode)7, false);
	assert_int_equal(spur_env_init(&opts), -EINVAL);

	make_opts(&opts, SPUR_POLL_INTERRUPT, true);
	assert_int_equal(spur_env_init(&opts), 0);
	assert_int_equal(spur_env_init(&opts), -EBUSY);
	assert_int_equal(spur_env_get_poll_mode(), SPUR_POLL_INTERRUPT);
	assert_true(spur_cpuset_equal(spur_env_get_cpumask(), &opts.cpumask));
	/* A thread whose mask misses every reactor core cannot be created. */
	spur_cpuset_zero(&mask);
	spur_cpuset_set(&mask, 7);
	assert_null(spur_thread_create("nowhere", &mask));
	spur_env_fini();
	assert_int_equal(spur_env_init(&opts), 0);
	spur_env_fini();
}

/* ---- ping-pong across reactors ---- */

struct pingpong {
	struct spur_thread *app, *a, *b;
	uint64_t count;
	uint32_t core_a, core_b, core_app;
	bool start_on_app;
	int send_fail, fail_a, fail_b;
	uint32_t counts[4];
	uint32_t nreactors;
	bool nowhere_null;
};

static struct pingpong g_pp;

static void pong_msg(void *ctx);

static void
ping_msg(void *ctx)
{
	g_pp.core_a = spur_thread_get_core(spur_get_thread());
	/* Each side counts its own failures: the peer runs as soon as we send. */
	if (++g_pp.count == PINGPONG_N) {
		g_pp.fail_a += spur_thread_send_msg(g_pp.app, stop_msg, NULL) != 0;
		return;
	}
	g_pp.fail_a += spur_thread_send_msg(g_pp.b, pong_msg, NULL) != 0;
}

static void
pong_msg(void *ctx)
{
	g_pp.core_b = spur_thread_get_core(spur_get_thread());
	g_pp.fail_b += spur_thread_send_msg(g_pp.a, ping_msg, NULL) != 0;
}

static void
pingpong_start(void *ctx)
{
	struct spur_cpuset ma, mb;
	struct rsnap s = { 0 };

	g_pp.app = spur_get_thread();
	g_pp.start_on_app = g_pp.app == spur_get_app_thread() && g_pp.app != NULL;
	g_pp.core_app = spur_thread_get_core(g_pp.app);
	spur_cpuset_zero(&ma);
	spur_cpuset_set(&ma, 0);
	spur_cpuset_zero(&mb);
	spur_cpuset_set(&mb, g_ncores >= 2 ? 1 : 0);
	g_pp.a = spur_thread_create("ping", &ma);
	g_pp.b = spur_thread_create("pong", &mb);
	if (g_pp.a == NULL || g_pp.b == NULL) {
		g_pp.send_fail++;
		spur_env_stop();
		return;
	}
	/* Unconstrained threads go to the least loaded reactor. */
	spur_thread_create("extra1", NULL);
	spur_thread_create("extra2", NULL);
	spur_cpuset_zero(&ma);
	spur_cpuset_set(&ma, 9);
	g_pp.nowhere_null = spur_thread_create("nowhere", &ma) == NULL;
	spur_env_for_each_reactor(snap_fn, &s);
	g_pp.nreactors = s.n;
	for (uint32_t i = 0; i < s.n && i < 4; i++) {
		g_pp.counts[i] = s.info[i].thread_count;
	}
	g_pp.send_fail += spur_thread_send_msg(g_pp.a, ping_msg, NULL) != 0;
}

static void
test_pingpong(void **state)
{
	struct spur_env_opts opts;
	struct rsnap s = { 0 };

	memset(&g_pp, 0, sizeof(g_pp));
	make_opts(&opts, SPUR_POLL_ADAPTIVE, true);
	assert_int_equal(spur_env_init(&opts), 0);
	assert_int_equal(spur_env_run(pingpong_start, NULL), 0);

	assert_int_equal(g_pp.send_fail, 0);
	assert_int_equal(g_pp.fail_a, 0);
	assert_int_equal(g_pp.fail_b, 0);
	assert_int_equal(g_pp.count, PINGPONG_N);
	assert_true(g_pp.start_on_app);
	assert_int_equal(g_pp.core_app, 0);
	assert_int_equal(g_pp.core_a, 0);
	assert_int_equal(g_pp.core_b, g_ncores >= 2 ? 1 : 0);
	assert_true(g_pp.nowhere_null);
	if (g_ncores >= 2) {
		/* app + ping on core 0, pong on core 1, then extras balance to 3 / 2... */
		assert_int_equal(g_pp.nreactors, 2);
		assert_int_equal(g_pp.counts[0] + g_pp.counts[1], 5);
		assert_true(g_pp.counts[1] == 2 || g_pp.counts[1] == 3);
	} else {
		assert_int_equal(g_pp.counts[0], 5);
	}
	/* Every thread was destroyed before the reactors returned. */
	spur_env_for_each_reactor(snap_fn, &s);
	for (uint32_t i = 0; i < s.n; i++) {
		assert_int_equal(s.info[i].thread_count, 0);
		assert_true(s.info[i].tid > 0);
		assert_true(s.info[i].busy_ticks > 0);
	}
	assert_null(spur_get_app_thread());
	spur_env_fini();
}

/* ---- INTERRUPT mode: eventfd and foreign message wake-ups ---- */

struct intr {
	int evfd;
	struct spur_poller *poller;
	struct spur_thread *app;
	int add_fd_rc;
	_Atomic int fd_runs;
	_Atomic int msg_seen;
	pthread_t driver;
	bool driver_started;
	/* Recorded by the driver. */
	bool went_to_sleep;
	uint64_t extra_sleeps_idle;
	bool fd_woke;
	uint64_t wakeups_delta;
	bool slept_again;
	bool msg_woke;
	int msg_send_rc;
};

static struct intr g_in;

static int
fd_poller(void *ctx)
{
	uint64_t v;

	if (read(g_in.evfd, &v, sizeof(v)) == sizeof(v)) {
		atomic_fetch_add(&g_in.fd_runs, 1);
		return SPUR_POLLER_BUSY;
	}
	return SPUR_POLLER_IDLE;
}

/* Spin (politely) until cond() or timeout_ms. */
static bool
wait_for(bool (*cond)(void), uint32_t timeout_ms)
{
	uint64_t end = now_us() + timeout_ms * 1000ull;

	while (!cond()) {
		if (now_us() > end) {
			return false;
		}
		usleep(200);
	}
	return true;
}

static uint64_t g_sleep_mark;

static bool
asleep_after_mark(void)
{
	struct spur_reactor_info r = reactor0();

	return r.in_interrupt && r.sleep_count > g_sleep_mark;
}

static bool
fd_ran(void)
{
	return atomic_load(&g_in.fd_runs) == 1;
}

static bool
msg_ran(void)
{
	return atomic_load(&g_in.msg_seen) == 1;
}

static void
flag_msg(void *ctx)
{
	atomic_store(&g_in.msg_seen, 1);
}

static void
intr_finish(void *ctx)
{
	spur_poller_unregister(&g_in.poller);
	close(g_in.evfd);
	spur_env_stop();
}

static void *
intr_driver(void *arg)
{
	uint64_t one = 1, s0, w0;

	g_sleep_mark = 0;
	g_in.went_to_sleep = wait_for(asleep_after_mark, 2000);
	s0 = reactor0().sleep_count;
	/* Idle: it stays asleep instead of looping. */
	usleep(20000);
	g_in.extra_sleeps_idle = reactor0().sleep_count - s0;

	w0 = reactor0().wakeup_count;
	g_sleep_mark = reactor0().sleep_count;
	if (write(g_in.evfd, &one, sizeof(one)) != sizeof(one)) {
		return NULL;
	}
	g_in.fd_woke = wait_for(fd_ran, 1000);
	g_in.wakeups_delta = reactor0().wakeup_count - w0;

	g_in.slept_again = wait_for(asleep_after_mark, 1000);
	g_in.msg_send_rc = spur_thread_send_msg(g_in.app, flag_msg, NULL);
	g_in.msg_woke = wait_for(msg_ran, 1000);

	spur_thread_send_msg(g_in.app, intr_finish, NULL);
	return NULL;
}

static void
intr_start(void *ctx)
{
	g_in.app = spur_get_thread();
	g_in.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	g_in.poller = spur_poller_register(fd_poller, NULL, 0, "evfd");
	g_in.add_fd_rc = spur_poller_add_fd(g_in.poller, g_in.evfd, EPOLLIN);
	g_in.driver_started = pthread_create(&g_in.driver, NULL, intr_driver, NULL) == 0;
	if (!g_in.driver_started) {
		intr_finish(NULL);
	}
}

static void
test_interrupt_wakeups(void **state)
{
	struct spur_env_opts opts;

	memset(&g_in, 0, sizeof(g_in));
	make_opts(&opts, SPUR_POLL_INTERRUPT, true);
	assert_int_equal(spur_env_init(&opts), 0);
	assert_int_equal(spur_env_run(intr_start, NULL), 0);
	assert_true(g_in.driver_started);
	pthread_join(g_in.driver, NULL);

	assert_int_equal(g_in.add_fd_rc, 0);
	assert_true(g_in.went_to_sleep);
	assert_true(g_in.extra_sleeps_idle <= 1);
	assert_true(g_in.fd_woke);
	assert_int_equal(atomic_load(&g_in.fd_runs), 1);
	assert_true(g_in.wakeups_delta >= 1);
	assert_true(g_in.slept_again);
	assert_int_equal(g_in.msg_send_rc, 0);
	assert_true(g_in.msg_woke);
	spur_env_fini();
}

/* ---- timed pollers under each mode ---- */

struct timed {
	struct spur_poller *poller;
	int runs;
	int target;
	uint64_t first_us, last_us;
	uint64_t sleeps_at_end;
};

static struct timed g_tm;

static int
timed_poller(void *ctx)
{
	uint64_t t = now_us();

	if (g_tm.runs++ == 0) {
		g_tm.first_us = t;
	}
	g_tm.last_us = t;
	if (g_tm.runs == g_tm.target) {
		g_tm.sleeps_at_end = total_sleeps();
		spur_poller_unregister(&g_tm.poller);
		spur_env_stop();
	}
	return SPUR_POLLER_BUSY;
}

static void
timed_start(void *ctx)
{
	g_tm.poller = spur_poller_register(timed_poller, NULL, (uintptr_t)ctx, "timed");
}

static void
run_timed(enum spur_poll_mode mode, uint64_t period_us, int target)
{
	struct spur_env_opts opts;

	memset(&g_tm, 0, sizeof(g_tm));
	g_tm.target = target;
	make_opts(&opts, mode, true);
	assert_int_equal(spur_env_init(&opts), 0);
	assert_int_equal(spur_env_run(timed_start, (void *)(uintptr_t)period_us), 0);
	assert_int_equal(g_tm.runs, target);
	/* Periods are honoured: never early (a little slack for rounding). */
	assert_true(g_tm.last_us - g_tm.first_us >= (uint64_t)(target - 1) * period_us - 50);
}

static void
test_interrupt_timer(void **state)
{
	/* Nothing but a 2 ms timer: the reactor sleeps between runs. */
	run_timed(SPUR_POLL_INTERRUPT, 2000, 20);
	assert_true(g_tm.sleeps_at_end >= 15);
	spur_env_fini();
}

static void
test_adaptive_sleeps(void **state)
{
	/* 10 ms of idle per period, threshold 1 ms: it sleeps every period. */
	run_timed(SPUR_POLL_ADAPTIVE, 10000, 6);
	assert_true(g_tm.sleeps_at_end >= 4);
	spur_env_fini();
}

static void
test_busy_never_sleeps(void **state)
{
	run_timed(SPUR_POLL_BUSY, 1000, 30);
	assert_int_equal(g_tm.sleeps_at_end, 0);
	assert_int_equal(total_sleeps(), 0);
	spur_env_fini();
}

/* ---- sleep hooks: a virtqueue-like producer with notification suppression ---- */

#define HOOK_ITEMS 2000

struct hooks {
	int evfd;
	struct spur_poller *poller;
	struct spur_thread *app;
	int set_rc, set_bad_rc;
	_Atomic int work;             /* items produced, not yet consumed */
	_Atomic int notify;           /* consumer asks for a kick before sleeping */
	int consumed;
	int before_calls, after_calls, before_true;
	int unbalanced;
	bool armed;
	uint64_t sleeps_at_end;
	pthread_t producer;
	bool producer_started;
	bool timed_out;
	/* Phase 1: before_sleep claims work this many times (no sleep meanwhile). */
	int claim_left;
	uint64_t sleeps_during_claim;
	bool claim_checked;
};

static struct hooks g_hk;

static int
hook_poller(void *ctx)
{
	int n = atomic_exchange(&g_hk.work, 0);

	g_hk.consumed += n;
	if (g_hk.consumed >= HOOK_ITEMS) {
		g_hk.sleeps_at_end = total_sleeps();
		spur_poller_unregister(&g_hk.poller);
		spur_env_stop();
	}
	return n ? SPUR_POLLER_BUSY : SPUR_POLLER_IDLE;
}

static bool
hook_before(void *ctx)
{
	g_hk.before_calls++;
	if (g_hk.armed || spur_get_thread() != g_hk.app) {
		g_hk.unbalanced++;
	}
	g_hk.armed = true;
	if (g_hk.claim_left > 0) {
		if (--g_hk.claim_left == 0) {
			g_hk.sleeps_during_claim = total_sleeps();
			g_hk.claim_checked = true;
		}
		g_hk.before_true++;
		return true;
	}
	atomic_store(&g_hk.notify, 1);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load(&g_hk.work) > 0) {
		g_hk.before_true++;
		return true;
	}
	return false;
}

static void
hook_after(void *ctx)
{
	uint64_t v;

	g_hk.after_calls++;
	if (!g_hk.armed) {
		g_hk.unbalanced++;
	}
	g_hk.armed = false;
	atomic_store(&g_hk.notify, 0);
	while (read(g_hk.evfd, &v, sizeof(v)) == sizeof(v)) {
	}
}

static void
hook_timeout_msg(void *ctx)
{
	g_hk.timed_out = true;
	spur_poller_unregister(&g_hk.poller);
	spur_env_stop();
}

/* Like a guest: publish work, then kick only if the consumer asked for it. */
static void *
hook_producer(void *arg)
{
	uint64_t one = 1, end = now_us() + 10 * 1000 * 1000;
	int i;

	for (i = 0; i < HOOK_ITEMS; i++) {
		atomic_fetch_add(&g_hk.work, 1);
		atomic_thread_fence(memory_order_seq_cst);
		if (atomic_load(&g_hk.notify) && write(g_hk.evfd, &one, sizeof(one)) < 0) {
			break;
		}
		if (i % 4 == 0) {
			usleep((unsigned)(i % 7) * 50);
		}
	}
	/* Every item consumed means no wake-up was lost; give it 10 s. */
	while (now_us() < end) {
		if (atomic_load(&g_hk.work) == 0 && spur_get_app_thread() == NULL) {
			return NULL;
		}
		usleep(1000);
	}
	spur_thread_send_msg(g_hk.app, hook_timeout_msg, NULL);
	return NULL;
}

static void
hook_start(void *ctx)
{
	g_hk.app = spur_get_thread();
	g_hk.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	g_hk.poller = spur_poller_register(hook_poller, NULL, 0, "hooked");
	spur_poller_add_fd(g_hk.poller, g_hk.evfd, EPOLLIN);
	g_hk.set_bad_rc = spur_poller_set_sleep_hook(NULL, hook_before, hook_after);
	g_hk.set_rc = spur_poller_set_sleep_hook(g_hk.poller, hook_before, hook_after);
	g_hk.producer_started = pthread_create(&g_hk.producer, NULL, hook_producer, NULL) == 0;
	if (!g_hk.producer_started) {
		hook_timeout_msg(NULL);
	}
}

static void
test_sleep_hooks(void **state)
{
	struct spur_env_opts opts;

	memset(&g_hk, 0, sizeof(g_hk));
	g_hk.claim_left = 50;
	make_opts(&opts, SPUR_POLL_INTERRUPT, false);
	assert_int_equal(spur_env_init(&opts), 0);
	assert_int_equal(spur_env_run(hook_start, NULL), 0);
	assert_true(g_hk.producer_started);
	pthread_join(g_hk.producer, NULL);
	close(g_hk.evfd);

	assert_int_equal(g_hk.set_rc, 0);
	assert_int_equal(g_hk.set_bad_rc, -EINVAL);
	assert_false(g_hk.timed_out);
	assert_int_equal(g_hk.consumed, HOOK_ITEMS);
	/* While before_sleep claimed work the reactor never slept. */
	assert_true(g_hk.claim_checked);
	assert_int_equal(g_hk.sleeps_during_claim, 0);
	/* It did sleep later, woken by kicks; every before had its after, on the thread. */
	assert_true(g_hk.sleeps_at_end > 0);
	assert_int_equal(g_hk.unbalanced, 0);
	assert_true(g_hk.before_calls >= 50);
	assert_true(g_hk.before_calls - g_hk.after_calls <= 1);
	spur_env_fini();
}

/*
 * An fd event that arrives after its poller's pass must not be lost when
 * the reactor picks up fd events while busy ("Busy reactors" in
 * reactor.c): the consumer poller (like bdev_uring's) reaps what the
 * producer posts and is woken by its eventfd; the producer, polled after
 * it in the same pass, posts in a pass where the consumer found nothing,
 * then spins past the reactor's fd-check period, so that idle pass ends
 * with the check consuming the event. A reactor
 * that then slept would never see the post (nothing else wakes an
 * interrupt-mode reactor): the watchdog ends the run and the test fails.
 */
#define LATE_CYCLES 20
#define LATE_SPIN_US 1200

static struct {
	int evfd;
	struct spur_thread *app;
	struct spur_poller *consumer, *producer;
	_Atomic uint32_t posted, reaped;
	_Atomic bool done;
	bool consumer_idle;               /* the consumer found nothing this pass */
	bool timed_out;
	pthread_t watchdog;
	bool watchdog_started;
} g_late;

static void
late_stop(void)
{
	spur_poller_unregister(&g_late.consumer);
	spur_poller_unregister(&g_late.producer);
	atomic_store(&g_late.done, true);
	spur_env_stop();
}

static int
late_consume(void *ctx)
{
	uint64_t v;

	if (atomic_load(&g_late.reaped) == atomic_load(&g_late.posted)) {
		g_late.consumer_idle = true;
		return SPUR_POLLER_IDLE;
	}
	atomic_store(&g_late.reaped, atomic_load(&g_late.posted));
	while (read(g_late.evfd, &v, sizeof(v)) == sizeof(v)) {
	}
	return SPUR_POLLER_BUSY;
}

static int
late_produce(void *ctx)
{
	uint64_t one = 1, until;
	uint32_t posted = atomic_load(&g_late.posted);

	if (posted != atomic_load(&g_late.reaped) || !g_late.consumer_idle) {
		return SPUR_POLLER_IDLE; /* post in a pass where the consumer found nothing */
	}
	g_late.consumer_idle = false;
	if (posted == LATE_CYCLES) {
		late_stop();
		return SPUR_POLLER_IDLE;
	}
	atomic_store(&g_late.posted, posted + 1);
	if (write(g_late.evfd, &one, sizeof(one)) < 0) {
		return SPUR_POLLER_IDLE;
	}
	until = now_us() + LATE_SPIN_US;
	while (now_us() < until) {
	}
	return SPUR_POLLER_IDLE;
}

static void
late_timeout_msg(void *ctx)
{
	g_late.timed_out = true;
	late_stop();
}

static void *
late_watchdog(void *arg)
{
	uint64_t end = now_us() + 5 * 1000 * 1000;

	while (now_us() < end) {
		if (atomic_load(&g_late.done)) {
			return NULL;
		}
		usleep(1000);
	}
	spur_thread_send_msg(g_late.app, late_timeout_msg, NULL);
	return NULL;
}

static void
late_start(void *ctx)
{
	g_late.app = spur_get_thread();
	g_late.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	/* Registration order is polling order: the consumer runs first. */
	g_late.consumer = spur_poller_register(late_consume, NULL, 0, "late_consumer");
	g_late.producer = spur_poller_register(late_produce, NULL, 0, "late_producer");
	if (g_late.evfd < 0 || g_late.consumer == NULL || g_late.producer == NULL ||
	    spur_poller_add_fd(g_late.consumer, g_late.evfd, EPOLLIN) != 0) {
		late_stop();
		return;
	}
	g_late.watchdog_started = pthread_create(&g_late.watchdog, NULL, late_watchdog, NULL) == 0;
	if (!g_late.watchdog_started) {
		late_stop();
	}
}

static void
test_fd_event_after_pass(void **state)
{
	struct spur_env_opts opts;

	memset(&g_late, 0, sizeof(g_late));
	make_opts(&opts, SPUR_POLL_INTERRUPT, false);
	assert_int_equal(spur_env_init(&opts), 0);
	assert_int_equal(spur_env_run(late_start, NULL), 0);
	assert_true(g_late.watchdog_started);
	pthread_join(g_late.watchdog, NULL);
	close(g_late.evfd);
	assert_false(g_late.timed_out);
	assert_int_equal(atomic_load(&g_late.posted), LATE_CYCLES);
	assert_int_equal(atomic_load(&g_late.reaped), LATE_CYCLES);
	spur_env_fini();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_poll_mode_and_opts),
		cmocka_unit_test(test_env_init_invalid),
		cmocka_unit_test(test_pingpong),
		cmocka_unit_test(test_interrupt_wakeups),
		cmocka_unit_test(test_interrupt_timer),
		cmocka_unit_test(test_adaptive_sleeps),
		cmocka_unit_test(test_busy_never_sleeps),
		cmocka_unit_test(test_sleep_hooks),
		cmocka_unit_test(test_fd_event_after_pass),
	};
	cpu_set_t allowed;

	/* Two reactors when cores 0 and 1 are both ours, else one. */
	g_ncores = 1;
	if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0 && CPU_ISSET(0, &allowed) &&
	    CPU_ISSET(1, &allowed)) {
		g_ncores = 2;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
