/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lightweight threads driven by hand with spur_thread_poll (no
 * reactors): message order and batches, a full queue, the current thread,
 * exit semantics (queued messages still run, pollers delay it, -EIO after),
 * busy / idle statistics and spur_for_each_thread.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "spur/thread.h"

#define LOG_MAX 64

struct log {
	int n;
	uintptr_t vals[LOG_MAX];
	struct spur_thread *threads[LOG_MAX];
};

static struct log g_log;

static void
log_msg(void *ctx)
{
	if (g_log.n < LOG_MAX) {
		g_log.vals[g_log.n] = (uintptr_t)ctx;
		g_log.threads[g_log.n] = spur_get_thread();
	}
	g_log.n++;
}

static void
noop_msg(void *ctx)
{
	(void)ctx;
}

static void
exit_msg(void *ctx)
{
	spur_thread_exit(ctx);
}

static int
idle_poller(void *ctx)
{
	return SPUR_POLLER_IDLE;
}

static void
setup_log(void)
{
	memset(&g_log, 0, sizeof(g_log));
}

/* Poll every thread until none has work (no busy active pollers allowed). */
static int
poll_all(struct spur_thread **ts, int n)
{
	int total = 0, rc, i, rounds = 0;

	do {
		rc = 0;
		for (i = 0; i < n; i++) {
			rc += spur_thread_poll(ts[i], 0, spur_get_ticks());
		}
		total += rc;
		assert_true(++rounds < 1000);
	} while (rc > 0);
	return total;
}

/* Exit a thread with nothing left and free it. */
static void
finish_thread(struct spur_thread *t)
{
	assert_int_equal(spur_thread_send_msg(t, exit_msg, t), 0);
	poll_all(&t, 1);
	assert_true(spur_thread_is_exited(t));
	spur_thread_destroy(t);
}

static void
test_thread_basics(void **state)
{
	struct spur_cpuset mask;
	struct spur_thread *t, *u;

	spur_cpuset_zero(&mask);
	spur_cpuset_set(&mask, 3);
	t = spur_thread_create("alpha", &mask);
	assert_non_null(t);
	u = spur_thread_create(NULL, NULL);
	assert_non_null(u);
	assert_string_equal(spur_thread_get_name(t), "alpha");
	assert_true(spur_thread_get_id(u) > spur_thread_get_id(t));
	assert_true(spur_cpuset_equal(spur_thread_get_cpumask(t), &mask));
	assert_true(spur_cpuset_isset(spur_thread_get_cpumask(u), 0));
	assert_true(spur_cpuset_isset(spur_thread_get_cpumask(u), 1023));
	/* Not placed: no environment. */
	assert_int_equal(spur_thread_get_core(t), UINT32_MAX);
	assert_null(spur_get_thread());
	assert_false(spur_thread_is_exited(t));
	assert_int_equal(spur_thread_send_msg(NULL, noop_msg, NULL), -EINVAL);
	assert_int_equal(spur_thread_send_msg(t, NULL, NULL), -EINVAL);
	finish_thread(t);
	finish_thread(u);
}

static void
test_messages_order_and_batch(void **state)
{
	struct spur_thread *t = spur_thread_create("t", NULL);
	uintptr_t i;

	setup_log();
	for (i = 0; i < 5; i++) {
		assert_int_equal(spur_thread_send_msg(t, log_msg, (void *)i), 0);
	}
	/* Nothing runs until polled. */
	assert_int_equal(g_log.n, 0);
	assert_int_equal(spur_thread_poll(t, 2, spur_get_ticks()), 2);
	assert_int_equal(g_log.n, 2);
	assert_int_equal(spur_thread_poll(t, 0, spur_get_ticks()), 3);
	assert_int_equal(spur_thread_poll(t, 0, spur_get_ticks()), 0);
	assert_int_equal(g_log.n, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(g_log.vals[i], i);
		/* The current thread during a message is the polled thread. */
		assert_ptr_equal(g_log.threads[i], t);
	}
	assert_null(spur_get_thread());
	finish_thread(t);
}

static void
test_message_queue_full(void **state)
{
	struct spur_thread *t = spur_thread_create("full", NULL);
	int sent = 0, rc, polled = 0;

	while ((rc = spur_thread_send_msg(t, noop_msg, NULL)) == 0) {
		sent++;
		assert_true(sent <= 1 << 20);
	}
	assert_int_equal(rc, -ENOMEM);
	assert_int_equal(sent, 65536);
	while ((rc = spur_thread_poll(t, 0, spur_get_ticks())) > 0) {
		polled += rc;
	}
	assert_int_equal(polled, sent);
	assert_int_equal(spur_thread_send_msg(t, noop_msg, NULL), 0);
	finish_thread(t);
}

static void
test_exit_runs_queued_then_refuses(void **state)
{
	struct spur_thread *t = spur_thread_create("exiting", NULL);

	setup_log();
	assert_int_equal(spur_thread_send_msg(t, exit_msg, t), 0);
	assert_int_equal(spur_thread_send_msg(t, log_msg, (void *)1), 0);
	assert_int_equal(spur_thread_send_msg(t, log_msg, (void *)2), 0);
	/* One message per poll: after the exit message the others remain. */
	assert_int_equal(spur_thread_poll(t, 1, spur_get_ticks()), 1);
	assert_false(spur_thread_is_exited(t));
	/* Still accepted while EXITING. */
	assert_int_equal(spur_thread_send_msg(t, log_msg, (void *)3), 0);
	assert_int_equal(spur_thread_poll(t, 0, spur_get_ticks()), 3);
	assert_int_equal(g_log.n, 3);
	assert_int_equal(g_log.vals[2], 3);
	assert_true(spur_thread_is_exited(t));
	assert_int_equal(spur_thread_send_msg(t, log_msg, (void *)4), -EIO);
	assert_int_equal(spur_thread_poll(t, 0, spur_get_ticks()), 0);
	assert_int_equal(g_log.n, 3);
	spur_thread_destroy(t);
}

static void
test_exit_waits_for_pollers(void **state)
{
	struct spur_thread *t = spur_thread_create("with_poller", NULL);
	struct spur_poller *p;

	spur_set_thread(t);
	p = spur_poller_register(idle_poller, NULL, 0, "idle");
	spur_set_thread(NULL);
	assert_non_null(p);

	assert_int_equal(spur_thread_send_msg(t, exit_msg, t), 0);
	spur_thread_poll(t, 0, spur_get_ticks());
	spur_thread_poll(t, 0, spur_get_ticks());
	assert_false(spur_thread_is_exited(t));
	/* Destroying a thread that has not exited is refused. */
	spur_thread_destroy(t);

	spur_set_thread(t);
	spur_poller_unregister(&p);
	spur_set_thread(NULL);
	assert_null(p);
	spur_thread_poll(t, 0, spur_get_ticks());
	assert_true(spur_thread_is_exited(t));
	spur_thread_destroy(t);
}

static void
test_exit_only_on_own_thread(void **state)
{
	struct spur_thread *t = spur_thread_create("a", NULL);

	/* Called from outside the thread: ignored. */
	spur_thread_exit(t);
	spur_thread_poll(t, 0, spur_get_ticks());
	assert_false(spur_thread_is_exited(t));
	finish_thread(t);
}

static void
test_stats(void **state)
{
	struct spur_thread *t = spur_thread_create("stats", NULL);
	struct spur_thread_stats s0, s1, s2;

	spur_thread_get_stats(t, &s0);
	assert_int_equal(s0.busy_ticks, 0);
	assert_int_equal(s0.idle_ticks, 0);
	assert_int_equal(spur_thread_send_msg(t, noop_msg, NULL), 0);
	assert_int_equal(spur_thread_poll(t, 0, spur_get_ticks()), 1);
	spur_thread_get_stats(t, &s1);
	assert_true(s1.busy_ticks > 0);
	assert_int_equal(s1.idle_ticks, 0);
	assert_int_equal(spur_thread_poll(t, 0, spur_get_ticks()), 0);
	spur_thread_get_stats(t, &s2);
	assert_int_equal(s2.busy_ticks, s1.busy_ticks);
	assert_true(s2.idle_ticks > 0);
	finish_thread(t);
}

/* ---- spur_for_each_thread ---- */

static struct spur_thread *g_fe_threads[3];
static struct spur_thread *g_fe_cpl_thread;
static int g_fe_visits_at_cpl;

static void
fe_visit(void *ctx)
{
	log_msg(ctx);
}

static void
fe_cpl(void *ctx)
{
	g_fe_cpl_thread = spur_get_thread();
	g_fe_visits_at_cpl = g_log.n;
	assert_ptr_equal(ctx, (void *)0x1234);
}

static void
fe_start(void *ctx)
{
	spur_for_each_thread(fe_visit, ctx, fe_cpl);
}

static void
test_for_each_thread(void **state)
{
	struct spur_thread *exited;
	int i, j, seen;

	setup_log();
	g_fe_cpl_thread = NULL;
	for (i = 0; i < 3; i++) {
		g_fe_threads[i] = spur_thread_create("fe", NULL);
		assert_non_null(g_fe_threads[i]);
	}
	/* An exited (not yet destroyed) thread is skipped. */
	exited = spur_thread_create("gone", NULL);
	assert_int_equal(spur_thread_send_msg(exited, exit_msg, exited), 0);
	poll_all(&exited, 1);
	assert_true(spur_thread_is_exited(exited));

	assert_int_equal(spur_thread_send_msg(g_fe_threads[1], fe_start, (void *)0x1234), 0);
	/* One hop per poll round: the walk is asynchronous. */
	spur_thread_poll(g_fe_threads[1], 0, spur_get_ticks());
	assert_int_equal(g_log.n, 0);
	poll_all(g_fe_threads, 3);

	assert_int_equal(g_log.n, 3);
	assert_int_equal(g_fe_visits_at_cpl, 3);
	assert_ptr_equal(g_fe_cpl_thread, g_fe_threads[1]);
	for (i = 0; i < 3; i++) {
		seen = 0;
		for (j = 0; j < 3; j++) {
			seen += g_log.threads[j] == g_fe_threads[i];
		}
		assert_int_equal(seen, 1);
		assert_int_equal(g_log.vals[i], 0x1234);
	}
	spur_thread_destroy(exited);
	for (i = 0; i < 3; i++) {
		finish_thread(g_fe_threads[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thread_basics),
		cmocka_unit_test(test_messages_order_and_batch),
		cmocka_unit_test(test_message_queue_full),
		cmocka_unit_test(test_exit_runs_queued_then_refuses),
		cmocka_unit_test(test_exit_waits_for_pollers),
		cmocka_unit_test(test_exit_only_on_own_thread),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_for_each_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
