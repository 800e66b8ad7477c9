/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of pollers on an unplaced thread driven by spur_thread_poll with
 * a fake 'now': active and timed pollers, busy accounting, pause / resume,
 * unregister and pause from inside the poller's own fn, unregistering
 * another poller from a poller, spur_thread_for_each_poller and fd
 * bookkeeping.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "spur/thread.h"

#define BASE 1000000000ull

struct pctx {
	int runs;
	int ret;
	struct spur_poller *self;
	struct spur_poller *other;
	bool unregister_self;
	bool pause_self;
	bool unregister_other;
};

static int
count_poller(void *arg)
{
	struct pctx *c = arg;

	c->runs++;
	if (c->unregister_self) {
		spur_poller_unregister(&c->self);
		assert_null(c->self);
	}
	if (c->pause_self) {
		spur_poller_pause(c->self);
	}
	if (c->unregister_other && c->other != NULL) {
		spur_poller_unregister(&c->other);
	}
	return c->ret;
}

static void
exit_msg(void *ctx)
{
	spur_thread_exit(ctx);
}

static struct spur_thread *
make_thread(uint64_t now)
{
	struct spur_thread *t = spur_thread_create("pollers", NULL);

	assert_non_null(t);
	/* An empty poll pins the thread's notion of now for registrations. */
	spur_thread_poll(t, 0, now);
	spur_set_thread(t);
	return t;
}

static void
end_thread(struct spur_thread *t)
{
	spur_set_thread(NULL);
	assert_int_equal(spur_thread_send_msg(t, exit_msg, t), 0);
	spur_thread_poll(t, 0, BASE);
	assert_true(spur_thread_is_exited(t));
	spur_thread_destroy(t);
}

static void
test_register_needs_thread(void **state)
{
	struct pctx c = { 0 };

	assert_null(spur_get_thread());
	assert_null(spur_poller_register(count_poller, &c, 0, "x"));
}

static void
test_active_poller(void **state)
{
	struct spur_thread *t = make_thread(BASE);
	struct pctx busy = { .ret = SPUR_POLLER_BUSY }, idle = { .ret = SPUR_POLLER_IDLE };
	struct spur_poller *pb, *pi;

	pb = spur_poller_register(count_poller, &busy, 0, "busy");
	pi = spur_poller_register(count_poller, &idle, 0, "idle");
	assert_non_null(pb);
	assert_non_null(pi);
	assert_string_equal(spur_poller_get_name(pb), "busy");
	/* Only the busy poller counts as work. */
	assert_int_equal(spur_thread_poll(t, 0, BASE), 1);
	assert_int_equal(spur_thread_poll(t, 0, BASE), 1);
	assert_int_equal(busy.runs, 2);
	assert_int_equal(idle.runs, 2);
	spur_poller_unregister(&pb);
	assert_null(pb);
	assert_int_equal(spur_thread_poll(t, 0, BASE), 0);
	assert_int_equal(busy.runs, 2);
	assert_int_equal(idle.runs, 3);
	spur_poller_unregister(&pi);
	end_thread(t);
}

static void
test_timed_poller(void **state)
{
	struct spur_thread *t = make_thread(BASE);
	struct pctx c = { .ret = SPUR_POLLER_BUSY }, d = { .ret = SPUR_POLLER_IDLE };
	uint64_t p = spur_us_to_ticks(1000), q = spur_us_to_ticks(300);
	struct spur_poller *pc, *pd;

	pc = spur_poller_register(count_poller, &c, 1000, "ms");
	pd = spur_poller_register(count_poller, &d, 300, "300us");
	assert_int_equal(spur_thread_poll(t, 0, BASE + q - 1), 0);
	assert_int_equal(d.runs, 0);
	/* Idle pollers run but do not count as work. */
	assert_int_equal(spur_thread_poll(t, 0, BASE + q), 0);
	assert_int_equal(d.runs, 1);
	assert_int_equal(spur_thread_poll(t, 0, BASE + p - 1), 0);
	assert_int_equal(c.runs, 0);
	assert_int_equal(d.runs, 2); /* due at BASE + 2q */
	assert_int_equal(spur_thread_poll(t, 0, BASE + p), 1);
	assert_int_equal(c.runs, 1);
	/* Rescheduled from the time it ran. */
	assert_int_equal(spur_thread_poll(t, 0, BASE + 2 * p - 1), 0);
	assert_int_equal(c.runs, 1);
	assert_int_equal(spur_thread_poll(t, 0, BASE + 2 * p), 1);
	assert_int_equal(c.runs, 2);
	/* A long gap runs it once, not once per missed period. */
	assert_int_equal(spur_thread_poll(t, 0, BASE + 10 * p), 1);
	assert_int_equal(c.runs, 3);
	spur_poller_unregister(&pc);
	spur_poller_unregister(&pd);
	end_thread(t);
}

static void
test_pause_resume(void **state)
{
	struct spur_thread *t = make_thread(BASE);
	struct pctx a = { .ret = SPUR_POLLER_BUSY }, b = { .ret = SPUR_POLLER_BUSY };
	struct spur_poller *pa, *pb;
	uint64_t p = spur_us_to_ticks(100);

	pa = spur_poller_register(count_poller, &a, 0, "a");
	pb = spur_poller_register(count_poller, &b, 100, "b");
	spur_poller_pause(pa);
	spur_poller_pause(pb);
	spur_poller_pause(pb); /* idempotent */
	assert_int_equal(spur_thread_poll(t, 0, BASE + 5 * p), 0);
	assert_int_equal(a.runs + b.runs, 0);
	spur_poller_resume(pa);
	spur_poller_resume(pb);
	spur_poller_resume(pa); /* idempotent */
	/* The timed one restarts its period at resume (now = BASE + 5p). */
	assert_int_equal(spur_thread_poll(t, 0, BASE + 5 * p), 1);
	assert_int_equal(a.runs, 1);
	assert_int_equal(b.runs, 0);
	assert_int_equal(spur_thread_poll(t, 0, BASE + 6 * p), 2);
	assert_int_equal(b.runs, 1);

	/* Pause from inside its own fn, then resume from outside. */
	a.pause_self = true;
	a.self = pa;
	assert_int_equal(spur_thread_poll(t, 0, BASE + 6 * p), 1);
	assert_int_equal(a.runs, 3);
	assert_int_equal(spur_thread_poll(t, 0, BASE + 6 * p), 0);
	assert_int_equal(a.runs, 3);
	a.pause_self = false;
	spur_poller_resume(pa);
	assert_int_equal(spur_thread_poll(t, 0, BASE + 6 * p), 1);
	assert_int_equal(a.runs, 4);

	/* A paused poller can be unregistered. */
	spur_poller_pause(pb);
	spur_poller_unregister(&pb);
	spur_poller_unregister(&pa);
	end_thread(t);
}

static void
test_unregister_inside_fn(void **state)
{
	struct spur_thread *t = make_thread(BASE);
	struct pctx a = { .ret = SPUR_POLLER_BUSY, .unregister_self = true };
	struct pctx b = { .ret = SPUR_POLLER_BUSY, .unregister_self = true };
	struct pctx c = { .ret = SPUR_POLLER_IDLE };
	struct pctx d = { .ret = SPUR_POLLER_IDLE };

	/* a (active) unregisters itself; b (timed) too. */
	a.self = spur_poller_register(count_poller, &a, 0, "a");
	b.self = spur_poller_register(count_poller, &b, 10, "b");
	assert_int_equal(spur_thread_poll(t, 0, BASE + spur_us_to_ticks(10)), 2);
	assert_null(a.self);
	assert_null(b.self);
	assert_int_equal(spur_thread_poll(t, 0, BASE + spur_us_to_ticks(1000)), 0);
	assert_int_equal(a.runs, 1);
	assert_int_equal(b.runs, 1);

	/* c unregisters d, which comes right after it in the active list. */
	c.self = spur_poller_register(count_poller, &c, 0, "c");
	d.self = spur_poller_register(count_poller, &d, 0, "d");
	c.other = d.self;
	c.unregister_other = true;
	spur_thread_poll(t, 0, BASE);
	assert_int_equal(c.runs, 1);
	assert_int_equal(d.runs, 0);
	assert_null(c.other);
	spur_thread_poll(t, 0, BASE);
	assert_int_equal(c.runs, 2);
	assert_int_equal(d.runs, 0);
	spur_poller_unregister(&c.self);
	/* No pollers left: the thread can exit. */
	end_thread(t);
}

struct census {
	int active, paused, timed, total;
	uint64_t runs_a, busy_a;
	bool saw_b;
};

static void
census_fn(const struct spur_poller_info *info, void *ctx)
{
	struct census *c = ctx;

	c->total++;
	if (info->state == SPUR_POLLER_STATE_PAUSED) {
		c->paused++;
	} else {
		c->active++;
	}
	if (info->period_ticks != 0) {
		c->timed++;
	}
	if (strcmp(info->name, "a") == 0) {
		c->runs_a = info->run_count;
		c->busy_a = info->busy_count;
		assert_true(info->id > 0);
	}
	if (strcmp(info->name, "b") == 0) {
		c->saw_b = true;
		assert_int_equal(info->period_ticks, spur_us_to_ticks(500));
	}
}

static int
alternate_poller(void *arg)
{
	int *n = arg;

	return (*n)++ % 2 ? SPUR_POLLER_BUSY : SPUR_POLLER_IDLE;
}

static void
test_for_each_poller(void **state)
{
	struct spur_thread *t = make_thread(BASE);
	struct pctx b = { 0 }, c = { 0 }, d = { 0 };
	struct spur_poller *pa, *pb, *pc, *pd;
	struct census cs;
	int n = 0;

	pa = spur_poller_register(alternate_poller, &n, 0, "a");
	pb = spur_poller_register(count_poller, &b, 500, "b");
	pc = spur_poller_register(count_poller, &c, 0, "c");
	pd = spur_poller_register(count_poller, &d, 0, "d");
	spur_poller_pause(pc);
	spur_poller_unregister(&pd);
	spur_thread_poll(t, 0, BASE);
	spur_thread_poll(t, 0, BASE);
	spur_thread_poll(t, 0, BASE);

	memset(&cs, 0, sizeof(cs));
	spur_thread_for_each_poller(t, census_fn, &cs);
	assert_int_equal(cs.total, 3);
	assert_int_equal(cs.active, 2);
	assert_int_equal(cs.paused, 1);
	assert_int_equal(cs.timed, 1);
	assert_int_equal(cs.runs_a, 3);
	assert_int_equal(cs.busy_a, 1);
	assert_true(cs.saw_b);
	spur_poller_unregister(&pa);
	spur_poller_unregister(&pb);
	spur_poller_unregister(&pc);
	memset(&cs, 0, sizeof(cs));
	spur_thread_for_each_poller(t, census_fn, &cs);
	assert_int_equal(cs.total, 0);
	end_thread(t);
}

static void
test_fd_bookkeeping(void **state)
{
	struct spur_thread *t = make_thread(BASE);
	struct pctx c = { 0 };
	struct spur_poller *p = spur_poller_register(count_poller, &c, 0, "fd");

	/* Unplaced thread: fds are only recorded. */
	assert_int_equal(spur_poller_add_fd(p, 0, 1), 0);
	assert_int_equal(spur_poller_add_fd(p, 0, 1), -EEXIST);
	assert_int_equal(spur_poller_add_fd(p, -1, 1), -EINVAL);
	assert_int_equal(spur_poller_add_fd(p, 1, 1), 0);
	assert_int_equal(spur_poller_add_fd(p, 2, 1), 0);
	assert_int_equal(spur_poller_add_fd(p, 3, 1), 0);
	assert_int_equal(spur_poller_add_fd(p, 4, 1), -ENOSPC);
	assert_int_equal(spur_poller_remove_fd(p, 1), 0);
	assert_int_equal(spur_poller_remove_fd(p, 1), -ENOENT);
	assert_int_equal(spur_poller_add_fd(p, 4, 1), 0);
	spur_poller_unregister(&p);
	end_thread(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_needs_thread),
		cmocka_unit_test(test_active_poller),
		cmocka_unit_test(test_timed_poller),
		cmocka_unit_test(test_pause_resume),
		cmocka_unit_test(test_unregister_inside_fn),
		cmocka_unit_test(test_for_each_poller),
		cmocka_unit_test(test_fd_bookkeeping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
