/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of I/O devices and channels on unplaced threads driven by hand:
 * one channel per (thread, device) with reference counting, destruction
 * deferred to a message on the owning thread, revival before that message,
 * device unregistration completing on the unregistering thread after the
 * last channel, create failure, and spur_for_each_channel (visits exactly
 * the threads holding a channel, stops on an error status, async continue).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "spur/thread.h"

#define NT 3
#define CTX_SIZE 100

struct dev {
	int creates;
	int destroys;
	int fail_create;
	struct spur_thread *destroy_thread;
	int unregistered;
	struct spur_thread *unregister_thread;
};

static struct spur_thread *g_t[NT];

static int
dev_create(void *io_device, void *ctx_buf)
{
	struct dev *d = io_device;

	if (d->fail_create) {
		return -ENOSPC;
	}
	d->creates++;
	/* The whole context is ours; it starts zeroed. */
	for (int i = 0; i < CTX_SIZE; i++) {
		assert_int_equal(((unsigned char *)ctx_buf)[i], 0);
	}
	memset(ctx_buf, 0xa5, CTX_SIZE);
	return 0;
}

static void
dev_destroy(void *io_device, void *ctx_buf)
{
	struct dev *d = io_device;

	assert_int_equal(((unsigned char *)ctx_buf)[CTX_SIZE - 1], 0xa5);
	d->destroys++;
	d->destroy_thread = spur_get_thread();
}

static void
dev_unregistered(void *io_device)
{
	struct dev *d = io_device;

	d->unregistered++;
	d->unregister_thread = spur_get_thread();
}

static void
exit_msg(void *ctx)
{
	spur_thread_exit(ctx);
}

static int
poll_all(void)
{
	int total = 0, rc, i, rounds = 0;

	do {
		rc = 0;
		for (i = 0; i < NT; i++) {
			rc += spur_thread_poll(g_t[i], 0, spur_get_ticks());
		}
		total += rc;
		assert_true(++rounds < 1000);
	} while (rc > 0);
	return total;
}

static int
setup(void **state)
{
	for (int i = 0; i < NT; i++) {
		g_t[i] = spur_thread_create("ch", NULL);
		assert_non_null(g_t[i]);
	}
	return 0;
}

static int
teardown(void **state)
{
	spur_set_thread(NULL);
	for (int i = 0; i < NT; i++) {
		assert_int_equal(spur_thread_send_msg(g_t[i], exit_msg, g_t[i]), 0);
	}
	poll_all();
	for (int i = 0; i < NT; i++) {
		assert_true(spur_thread_is_exited(g_t[i]));
		spur_thread_destroy(g_t[i]);
	}
	return 0;
}

static void
test_channel_refcount_and_deferred_destroy(void **state)
{
	struct dev d = { 0 };
	struct spur_io_channel *ch, *ch2, *ch1;

	spur_io_device_register(&d, dev_create, dev_destroy, CTX_SIZE, "dev");
	spur_set_thread(NULL);
	assert_null(spur_get_io_channel(&d));

	spur_set_thread(g_t[0]);
	ch = spur_get_io_channel(&d);
	assert_non_null(ch);
	ch2 = spur_get_io_channel(&d);
	assert_ptr_equal(ch, ch2);
	assert_int_equal(d.creates, 1);
	assert_ptr_equal(spur_io_channel_get_thread(ch), g_t[0]);
	assert_ptr_equal(spur_io_channel_get_io_device(ch), &d);
	assert_ptr_equal(spur_io_channel_from_ctx(spur_io_channel_get_ctx(ch)), ch);
	assert_int_equal((uintptr_t)spur_io_channel_get_ctx(ch) % 16, 0);

	/* Another thread gets its own channel. */
	spur_set_thread(g_t[1]);
	ch1 = spur_get_io_channel(&d);
	assert_non_null(ch1);
	assert_ptr_not_equal(ch1, ch);
	assert_int_equal(d.creates, 2);

	spur_set_thread(g_t[0]);
	spur_put_io_channel(ch);
	spur_put_io_channel(ch2);
	/* Never destroyed inside put. */
	assert_int_equal(d.destroys, 0);
	/* Put from the wrong thread is refused. */
	spur_set_thread(g_t[0]);
	spur_put_io_channel(ch1);
	spur_set_thread(NULL);
	assert_int_equal(spur_thread_poll(g_t[0], 0, spur_get_ticks()), 1);
	assert_int_equal(d.destroys, 1);
	assert_ptr_equal(d.destroy_thread, g_t[0]);

	/* Revival: a get before the destroy message runs keeps the channel. */
	spur_set_thread(g_t[1]);
	spur_put_io_channel(ch1);
	ch = spur_get_io_channel(&d);
	assert_ptr_equal(ch, ch1);
	spur_set_thread(NULL);
	poll_all();
	assert_int_equal(d.destroys, 1);
	assert_int_equal(d.creates, 2);

	spur_set_thread(g_t[1]);
	spur_put_io_channel(ch1);
	spur_set_thread(NULL);
	poll_all();
	assert_int_equal(d.destroys, 2);
	assert_ptr_equal(d.destroy_thread, g_t[1]);

	spur_set_thread(g_t[2]);
	spur_io_device_unregister(&d, dev_unregistered);
	/* Deferred to a message even without channels. */
	assert_int_equal(d.unregistered, 0);
	spur_set_thread(NULL);
	poll_all();
	assert_int_equal(d.unregistered, 1);
	assert_ptr_equal(d.unregister_thread, g_t[2]);
}

static void
unregister_msg(void *ctx)
{
	spur_io_device_unregister(ctx, dev_unregistered);
}

static void
test_unregister_waits_for_last_channel(void **state)
{
	struct dev d = { 0 };
	struct spur_io_channel *c0, *c1;

	spur_io_device_register(&d, dev_create, dev_destroy, CTX_SIZE, "dev");
	spur_set_thread(g_t[0]);
	c0 = spur_get_io_channel(&d);
	spur_set_thread(g_t[1]);
	c1 = spur_get_io_channel(&d);
	spur_set_thread(NULL);
	assert_non_null(c0);
	assert_non_null(c1);

	assert_int_equal(spur_thread_send_msg(g_t[2], unregister_msg, &d), 0);
	poll_all();
	assert_int_equal(d.unregistered, 0);
	/* No new channel of an unregistering device. */
	spur_set_thread(g_t[2]);
	assert_null(spur_get_io_channel(&d));

	spur_set_thread(g_t[0]);
	spur_put_io_channel(c0);
	spur_set_thread(NULL);
	poll_all();
	assert_int_equal(d.destroys, 1);
	assert_int_equal(d.unregistered, 0);

	spur_set_thread(g_t[1]);
	spur_put_io_channel(c1);
	spur_set_thread(NULL);
	poll_all();
	assert_int_equal(d.destroys, 2);
	assert_int_equal(d.unregistered, 1);
	assert_ptr_equal(d.unregister_thread, g_t[2]);

	/* The same pointer can be registered again afterwards. */
	spur_io_device_register(&d, dev_create, dev_destroy, CTX_SIZE, "dev");
	spur_set_thread(g_t[0]);
	c0 = spur_get_io_channel(&d);
	assert_non_null(c0);
	spur_put_io_channel(c0);
	spur_io_device_unregister(&d, NULL);
	spur_set_thread(NULL);
	poll_all();
	assert_int_equal(d.destroys, 3);
}

static void
test_create_failure(void **state)
{
	struct dev d = { .fail_create = 1 };

	spur_io_device_register(&d, dev_create, dev_destroy, CTX_SIZE, "failing");
	spur_set_thread(g_t[0]);
	assert_null(spur_get_io_channel(&d));
	assert_int_equal(d.creates, 0);
	spur_io_device_unregister(&d, dev_unregistered);
	spur_set_thread(NULL);
	poll_all();
	assert_int_equal(d.unregistered, 1);
	assert_int_equal(d.destroys, 0);
}

/* ---- spur_for_each_channel ---- */

struct walk {
	int visits;
	struct spur_thread *visited[8];
	int fail_at;          /* 1-based visit that returns -EIO; 0 none */
	bool defer;           /* continue from a later message */
	struct spur_io_channel_iter *pending;
	int cpl_status;
	int cpls;
	struct spur_thread *cpl_thread;
	int visits_at_cpl;
	int unregistered_at_cpl;
};

static void
walk_continue_later(void *arg)
{
	struct walk *w = arg;
	struct spur_io_channel_iter *i = w->pending;

	w->pending = NULL;
	spur_for_each_channel_continue(i, 0);
}

static void
walk_fn(struct spur_io_channel_iter *i)
{
	struct walk *w = spur_io_channel_iter_get_ctx(i);
	struct spur_io_channel *ch = spur_io_channel_iter_get_channel(i);

	assert_non_null(ch);
	assert_ptr_equal(spur_io_channel_get_thread(ch), spur_get_thread());
	assert_non_null(spur_io_channel_iter_get_io_device(i));
	w->visited[w->visits++] = spur_get_thread();
	if (w->fail_at == w->visits) {
		spur_for_each_channel_continue(i, -EIO);
		return;
	}
	if (w->defer) {
		w->pending = i;
		assert_int_equal(spur_thread_send_msg(spur_get_thread(), walk_continue_later, w), 0);
		return;
	}
	spur_for_each_channel_continue(i, 0);
}

static void
walk_cpl(struct spur_io_channel_iter *i, int status)
{
	struct walk *w = spur_io_channel_iter_get_ctx(i);

	w->cpls++;
	w->cpl_status = status;
	w->cpl_thread = spur_get_thread();
	w->visits_at_cpl = w->visits;
	w->unregistered_at_cpl = ((struct dev *)spur_io_channel_iter_get_io_device(i))->unregistered;
}

struct walk_start {
	void *dev;
	struct walk *w;
};

static void
walk_start_msg(void *arg)
{
	struct walk_start *s = arg;

	spur_for_each_channel(s->dev, walk_fn, s->w, walk_cpl);
}

static void
test_for_each_channel(void **state)
{
	struct dev d = { 0 };
	struct spur_io_channel *c0, *c2;
	struct walk w;
	struct walk_start s = { .dev = &d, .w = &w };

	spur_io_device_register(&d, dev_create, dev_destroy, CTX_SIZE, "dev");
	/* Channels on threads 0 and 2 only. */
	spur_set_thread(g_t[0]);
	c0 = spur_get_io_channel(&d);
	spur_set_thread(g_t[2]);
	c2 = spur_get_io_channel(&d);
	spur_set_thread(NULL);

	memset(&w, 0, sizeof(w));
	assert_int_equal(spur_thread_send_msg(g_t[1], walk_start_msg, &s), 0);
	poll_all();
	assert_int_equal(w.cpls, 1);
	assert_int_equal(w.cpl_status, 0);
	assert_int_equal(w.visits, 2);
	assert_int_equal(w.visits_at_cpl, 2);
	assert_ptr_equal(w.cpl_thread, g_t[1]);
	assert_true((w.visited[0] == g_t[0] && w.visited[1] == g_t[2]) ||
		    (w.visited[0] == g_t[2] && w.visited[1] == g_t[0]));

	/* An error status stops the walk. */
	memset(&w, 0, sizeof(w));
	w.fail_at = 1;
	assert_int_equal(spur_thread_send_msg(g_t[1], walk_start_msg, &s), 0);
	poll_all();
	assert_int_equal(w.cpls, 1);
	assert_int_equal(w.cpl_status, -EIO);
	assert_int_equal(w.visits, 1);

	/* Continue called later, from another message on the same thread. */
	memset(&w, 0, sizeof(w));
	w.defer = true;
	assert_int_equal(spur_thread_send_msg(g_t[0], walk_start_msg, &s), 0);
	poll_all();
	assert_int_equal(w.cpls, 1);
	assert_int_equal(w.cpl_status, 0);
	assert_int_equal(w.visits, 2);
	assert_ptr_equal(w.cpl_thread, g_t[0]);

	/* Unregister during a walk: unregister_cb only after cpl. */
	spur_set_thread(g_t[0]);
	spur_put_io_channel(c0);
	spur_set_thread(g_t[2]);
	spur_put_io_channel(c2);
	spur_set_thread(NULL);
	poll_all();
	assert_int_equal(d.destroys, 2);
	memset(&w, 0, sizeof(w));
	w.unregistered_at_cpl = -1;
	assert_int_equal(spur_thread_send_msg(g_t[1], walk_start_msg, &s), 0);
	assert_int_equal(spur_thread_send_msg(g_t[1], unregister_msg, &d), 0);
	assert_int_equal(spur_thread_poll(g_t[1], 0, spur_get_ticks()), 2);
	/* Walk in flight, no channels left: still not unregistered. */
	assert_int_equal(d.unregistered, 0);
	poll_all();
	assert_int_equal(w.cpls, 1);
	assert_int_equal(w.cpl_status, 0);
	assert_int_equal(w.visits, 0);
	assert_int_equal(w.unregistered_at_cpl, 0);
	assert_int_equal(d.unregistered, 1);
	assert_ptr_equal(d.unregister_thread, g_t[1]);

	/* Unknown device: cpl with -ENODEV. */
	memset(&w, 0, sizeof(w));
	assert_int_equal(spur_thread_send_msg(g_t[1], walk_start_msg, &s), 0);
	poll_all();
	assert_int_equal(w.cpls, 1);
	assert_int_equal(w.cpl_status, -ENODEV);
	assert_int_equal(w.visits, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_channel_refcount_and_deferred_destroy,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_unregister_waits_for_last_channel,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_for_each_channel, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
