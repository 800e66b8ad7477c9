/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the I/O path: argument and range checks (overflow included),
 * -EBADF on read-only descriptors, -ENOTSUP, callbacks never inside the
 * submit call (inline-completing module) and bounded recursion when
 * callbacks resubmit, deferred vs direct completion, -ENOMEM and io_wait,
 * statistics (counts, bytes, latency, errors, queue depth), reset aborting
 * queued I/O, reads with a layer-supplied buffer, and channels on several
 * threads.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ut_common.h"

struct env {
	struct ut_fake_bdev *fb;
	struct spur_bdev_desc *desc;
	struct spur_io_channel *ch;
};

static void
env_open(struct env *e, const char *name, uint32_t blocklen, uint64_t blockcnt, bool write)
{
	e->fb = ut_fake_create(name, blocklen, blockcnt);
	assert_int_equal(ut_fake_register(e->fb), 0);
	assert_int_equal(spur_bdev_open(name, write, ut_event_cb, NULL, &e->desc), 0);
	e->ch = spur_bdev_get_io_channel(e->desc);
	assert_non_null(e->ch);
}

static void
env_close(struct env *e)
{
	spur_put_io_channel(e->ch);
	spur_bdev_close(e->desc);
	ut_poll();
}

static void
test_checks(void **state)
{
	struct env e, ro;
	struct ut_cpl c = {.free_io = true};
	char buf[4096];
	struct iovec iov = {buf, 512}, short_iov = {buf, 100};

	ut_setup(1);
	ut_subsystem_start();
	env_open(&e, "ut_chk", 512, 100, true);
	ro.fb = NULL;
	assert_int_equal(spur_bdev_open("ut_chk", false, ut_event_cb, NULL, &ro.desc), 0);
	ro.ch = spur_bdev_get_io_channel(ro.desc);
	assert_ptr_equal(ro.ch, e.ch); /* one channel per (bdev, thread) */

	/* Range. */
	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 100, 1, ut_cpl_cb, &c), -EINVAL);
	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 99, 2, ut_cpl_cb, &c), -EINVAL);
	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, UINT64_MAX - 1, 4, ut_cpl_cb, &c),
			 -EINVAL);
	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 1, UINT64_MAX, ut_cpl_cb, &c),
			 -EINVAL);
	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 0, 0, ut_cpl_cb, &c), -EINVAL);
	assert_int_equal(spur_bdev_unmap_blocks(e.desc, e.ch, 50, 51, ut_cpl_cb, &c), -EINVAL);
	/* Arguments. */
	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, NULL, 0, 1, ut_cpl_cb, &c), -EINVAL);
	assert_int_equal(spur_bdev_readv_blocks(e.desc, e.ch, &short_iov, 1, 0, 1, ut_cpl_cb, &c),
			 -EINVAL);
	assert_int_equal(spur_bdev_writev_blocks(e.desc, e.ch, NULL, 0, 0, 1, 0, ut_cpl_cb, &c),
			 -EINVAL);
	assert_int_equal(spur_bdev_readv_blocks(e.desc, e.ch, &iov, 1, 0, 1, NULL, NULL), -EINVAL);
	/* Read-only descriptor. */
	assert_int_equal(spur_bdev_write_blocks(ro.desc, ro.ch, buf, 0, 1, ut_cpl_cb, &c), -EBADF);
	assert_int_equal(spur_bdev_unmap_blocks(ro.desc, ro.ch, 0, 1, ut_cpl_cb, &c), -EBADF);
	assert_int_equal(spur_bdev_flush_blocks(ro.desc, ro.ch, 0, 1, ut_cpl_cb, &c), -EBADF);
	/* Unsupported type. */
	assert_int_equal(spur_bdev_write_zeroes_blocks(e.desc, e.ch, 0, 1, 0, ut_cpl_cb, &c),
			 -ENOTSUP);
	assert_int_equal(ut_fake.num_recs, 0);
	assert_int_equal(c.count, 0);

	/* The last block is fine; flush may cover nothing. */
	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 99, 1, ut_cpl_cb, &c), 0);
	assert_int_equal(spur_bdev_flush_blocks(e.desc, e.ch, 0, 0, ut_cpl_cb, &c), 0);
	assert_int_equal(spur_bdev_readv_blocks(ro.desc, ro.ch, &iov, 1, 0, 1, ut_cpl_cb, &c), 0);
	assert_int_equal(ut_fake.num_recs, 3);
	assert_int_equal(ut_fake.recs[0].type, SPUR_BDEV_IO_READ);
	assert_int_equal(ut_fake.recs[0].offset, 99);
	assert_int_equal(ut_fake.recs[1].type, SPUR_BDEV_IO_FLUSH);
	assert_ptr_equal(spur_bdev_io_get_io_channel(ut_fake.recs[0].io),
			 spur_io_channel_get_ctx(ro.ch) ? ((struct bdev_channel *)
			 spur_io_channel_get_ctx(ro.ch))->module_ch : NULL);
	assert_int_equal(spur_bdev_io_get_type(ut_fake.recs[1].io), SPUR_BDEV_IO_FLUSH);
	while (ut_pending() > 0) {
		ut_complete_one(0);
	}
	ut_poll();
	assert_int_equal(c.count, 3);

	spur_put_io_channel(ro.ch);
	spur_bdev_close(ro.desc);
	env_close(&e);
	ut_subsystem_stop();
	ut_teardown();
	ut_fake_free(e.fb);
}

/* Callback that resubmits until 'left' reaches 0; checks it is never nested. */
struct chain {
	struct env *e;
	int left;
	int depth;
	int max_depth;
	int done;
	char buf[512];
};

static void
chain_cb(struct spur_bdev_io *io, int status, void *arg)
{
	struct chain *c = arg;

	assert_int_equal(status, 0);
	c->depth++;
	if (c->depth > c->max_depth) {
		c->max_depth = c->depth;
	}
	spur_bdev_free_io(io);
	c->done++;
	if (--c->left > 0) {
		assert_int_equal(spur_bdev_read_blocks(c->e->desc, c->e->ch, c->buf, 0, 1, chain_cb,
						       c), 0);
	}
	c->depth--;
}

static void
test_deferred_completion(void **state)
{
	struct env e;
	struct ut_cpl c = {0};
	struct chain ch = {0};
	char buf[512];
	int polls = 0;

	ut_setup(1);
	ut_subsystem_start();
	env_open(&e, "ut_def", 512, 64, true);

	/* The module completes inside submit_request: the callback waits for a poll. */
	ut_fake.inline_status = 0;
	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 0, 1, ut_cpl_cb, &c), 0);
	assert_int_equal(c.count, 0);
	ut_poll();
	assert_int_equal(c.count, 1);
	assert_int_equal(c.status, 0);
	assert_ptr_equal(c.thread, ut_threads[0]);
	spur_bdev_free_io(c.io);

	/* Errors too. */
	ut_fake.inline_status = SPUR_BDEV_ERR_MEDIA;
	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 0, 1, ut_cpl_cb, &c), 0);
	assert_int_equal(c.count, 1);
	ut_poll();
	assert_int_equal(c.count, 2);
	assert_int_equal(c.status, SPUR_BDEV_ERR_MEDIA);
	spur_bdev_free_io(c.io);

	/* A callback that resubmits never nests. */
	ut_fake.inline_status = 0;
	ch.e = &e;
	ch.left = 1000;
	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, ch.buf, 0, 1, chain_cb, &ch), 0);
	while (ch.done < 1000 && polls++ < 2000) {
		spur_thread_poll(ut_threads[0], 0, ut_now);
	}
	assert_int_equal(ch.done, 1000);
	assert_int_equal(ch.max_depth, 1);

	/* A module completing later (its own poller): the callback runs right away. */
	ut_fake.inline_status = UT_NO_INLINE;
	ut_reset_recs();
	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 0, 1, ut_cpl_cb, &c), 0);
	assert_int_equal(c.count, 2);
	ut_complete_one(0);
	assert_int_equal(c.count, 3);
	spur_bdev_free_io(c.io);

	env_close(&e);
	ut_subsystem_stop();
	ut_teardown();
	ut_fake_free(e.fb);
}

struct waiter {
	struct spur_bdev_io_wait_entry entry;
	struct env *e;
	struct ut_cpl *cpl;
	int called;
	int rc;
	char buf[512];
};

static void
waiter_cb(void *arg)
{
	struct waiter *w = arg;

	w->called++;
	w->rc = spur_bdev_read_blocks(w->e->desc, w->e->ch, w->buf, 0, 1, ut_cpl_cb, w->cpl);
}

static void
test_enomem_io_wait(void **state)
{
	struct env e;
	struct ut_cpl c = {.free_io = true}, wc = {.free_io = true};
	struct waiter w = {0};
	char buf[512];
	int i;

	g_bdev_opts.io_pool_size = 4;
	g_bdev_opts.io_cache_size = 4;
	ut_setup(1);
	ut_subsystem_start();
	env_open(&e, "ut_nomem", 512, 64, true);

	for (i = 0; i < 4; i++) {
		assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 0, 1, ut_cpl_cb, &c), 0);
	}
	assert_int_equal(bdev_io_pool_total(), 4);
	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 0, 1, ut_cpl_cb, &c), -ENOMEM);

	w.e = &e;
	w.cpl = &wc;
	w.entry.bdev = &e.fb->bdev;
	w.entry.cb_fn = waiter_cb;
	w.entry.cb_arg = &w;
	assert_int_equal(spur_bdev_queue_io_wait(&e.fb->bdev, e.ch, &w.entry), 0);
	/* (The thread keeps polling busily while someone waits: poll by hand.) */
	for (i = 0; i < 10; i++) {
		spur_thread_poll(ut_threads[0], 0, ut_now);
	}
	assert_int_equal(w.called, 0);

	/* A request frees on this channel: the waiter runs and gets it. */
	ut_complete_one(0);
	assert_int_equal(c.count, 1);
	assert_int_equal(w.called, 1);
	assert_int_equal(w.rc, 0);
	assert_int_equal(ut_pending(), 4);
	/* With objects available, queue_io_wait refuses (retry instead). */
	ut_complete_one(0);
	assert_int_equal(spur_bdev_queue_io_wait(&e.fb->bdev, e.ch, &w.entry), -EINVAL);
	while (ut_pending() > 0) {
		ut_complete_one(0);
	}
	ut_poll();
	assert_int_equal(c.count, 4);
	assert_int_equal(wc.count, 1);

	env_close(&e);
	ut_subsystem_stop();
	g_bdev_opts.io_pool_size = 65535;
	g_bdev_opts.io_cache_size = 256;
	ut_teardown();
	ut_fake_free(e.fb);
}

static void
stat_cb(void *arg, int status)
{
	struct ut_cpl *c = arg;

	c->count++;
	c->status = status;
}

static void
test_stats(void **state)
{
	struct env e;
	struct ut_cpl c = {.free_io = true}, s = {0};
	struct spur_bdev_io_stat st;
	char buf[8192];
	int i;

	ut_setup(2);
	ut_subsystem_start();
	env_open(&e, "ut_stat", 512, 1024, true);
	e.fb->io_mask |= 1u << SPUR_BDEV_IO_WRITE_ZEROES;
	e.fb->bdev.internal->io_mask |= 1u << SPUR_BDEV_IO_WRITE_ZEROES;

	ut_fake.inline_status = 0;
	for (i = 0; i < 3; i++) {
		assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 0, 4, ut_cpl_cb, &c), 0);
	}
	assert_int_equal(spur_bdev_write_blocks(e.desc, e.ch, buf, 8, 16, ut_cpl_cb, &c), 0);
	assert_int_equal(spur_bdev_unmap_blocks(e.desc, e.ch, 0, 100, ut_cpl_cb, &c), 0);
	assert_int_equal(spur_bdev_flush_blocks(e.desc, e.ch, 0, 1024, ut_cpl_cb, &c), 0);
	assert_int_equal(spur_bdev_write_zeroes_blocks(e.desc, e.ch, 0, 10, 0, ut_cpl_cb, &c), 0);
	ut_fake.inline_status = SPUR_BDEV_ERR_NOSPACE;
	assert_int_equal(spur_bdev_write_blocks(e.desc, e.ch, buf, 0, 1, ut_cpl_cb, &c), 0);
	ut_poll();
	assert_int_equal(c.count, 8);

	/* Another thread's channel, with one request still in flight. */
	ut_fake.inline_status = UT_NO_INLINE;
	ut_set_thread(1);
	{
		struct spur_io_channel *ch1 = spur_bdev_get_io_channel(e.desc);

		assert_int_equal(spur_bdev_read_blocks(e.desc, ch1, buf, 0, 2, ut_cpl_cb, &c), 0);
		assert_int_equal(spur_bdev_get_device_stat(&e.fb->bdev, &st, stat_cb, &s), 0);
		ut_poll();
		assert_int_equal(s.count, 1);
		assert_int_equal(s.status, 0);
		assert_int_equal(st.num_read_ops, 3);
		assert_int_equal(st.bytes_read, 3 * 4 * 512);
		assert_int_equal(st.num_write_ops, 1);
		assert_int_equal(st.bytes_written, 16 * 512);
		assert_int_equal(st.num_unmap_ops, 1);
		assert_int_equal(st.bytes_unmapped, 100 * 512);
		assert_int_equal(st.num_flush_ops, 1);
		assert_int_equal(st.num_write_zeroes_ops, 1);
		assert_int_equal(st.bytes_zeroed, 10 * 512);
		assert_int_equal(st.num_errors, 1);
		assert_int_equal(st.io_error[-SPUR_BDEV_ERR_NOSPACE], 1);
		assert_int_equal(st.queue_depth, 1);
		assert_true(st.read_latency_ticks >= st.max_read_latency_ticks);
		assert_true(st.max_read_latency_ticks >= st.min_read_latency_ticks);
		assert_int_equal(st.min_unmap_latency_ticks > 0 || st.unmap_latency_ticks == 0, 1);

		/* Destroyed channels fold into the bdev. */
		ut_set_thread(1);
		ut_complete_one(0);
		spur_put_io_channel(ch1);
		ut_poll();
	}
	ut_set_thread(0);
	assert_int_equal(spur_bdev_get_device_stat(&e.fb->bdev, &st, stat_cb, &s), 0);
	ut_poll();
	assert_int_equal(st.num_read_ops, 4);
	assert_int_equal(st.bytes_read, (3 * 4 + 2) * 512);
	assert_int_equal(st.queue_depth, 0);
	assert_true(st.io_time_ticks > 0);

	env_close(&e);
	ut_subsystem_stop();
	ut_teardown();
	ut_fake_free(e.fb);
}

static void
test_read_layer_buffer(void **state)
{
	struct env e;
	struct ut_cpl c = {0};
	struct iovec *iovs;
	int iovcnt;
	uint32_t st, sf, lt, lf;

	ut_setup(1);
	ut_subsystem_start();
	env_open(&e, "ut_lbuf", 512, 1024, true);
	for (int i = 0; i < 1024 * 512; i++) {
		e.fb->data[i] = (uint8_t)(i * 7);
	}
	assert_int_equal(spur_bdev_readv_blocks(e.desc, e.ch, NULL, 0, 10, 8, ut_cpl_cb, &c), 0);
	assert_int_equal(ut_fake.recs[0].iovcnt, 1);
	assert_int_equal(ut_fake.recs[0].iovs[0].iov_len, 8 * 512);
	assert_int_equal((uintptr_t)ut_fake.recs[0].iovs[0].iov_base % 4096, 0);
	ut_complete_one(0);
	assert_int_equal(c.count, 1);
	spur_bdev_io_get_iovs(c.io, &iovs, &iovcnt);
	assert_int_equal(iovcnt, 1);
	assert_memory_equal(iovs[0].iov_base, e.fb->data + 10 * 512, 8 * 512);
	spur_bdev_free_io(c.io);
	bdev_buf_thread_flush();
	bdev_buf_get_counts(&st, &sf, &lt, &lf);
	assert_int_equal(st, sf); /* the buffer went back */

	/* Too large for one pool buffer. */
	assert_int_equal(spur_bdev_readv_blocks(e.desc, e.ch, NULL, 0, 0, 1000, ut_cpl_cb, &c),
			 -EINVAL);

	env_close(&e);
	ut_subsystem_stop();
	ut_teardown();
	ut_fake_free(e.fb);
}

static void
test_reset_aborts_queued(void **state)
{
	struct env e;
	struct ut_cpl c[4] = {{.free_io = true}, {.free_io = true}, {.free_io = true},
		{.free_io = true}};
	struct ut_cpl rc = {.free_io = true}, done = {0};
	struct spur_bdev_qos_limits l = {.rw_ios_per_sec = 1000};
	char buf[512];

	ut_setup(2);
	ut_subsystem_start();
	env_open(&e, "ut_reset", 512, 64, true);
	assert_int_equal(spur_bdev_set_qos_limits(&e.fb->bdev, &l, stat_cb, &done), 0);
	ut_poll();
	assert_int_equal(done.count, 1);

	/* One token per millisecond: the first goes, the others queue in the layer. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 0, 1, ut_cpl_cb, &c[i]), 0);
	}
	assert_int_equal(ut_fake.num_recs, 1);
	/* Requests on another thread's channel queue as well. */
	ut_set_thread(1);
	{
		struct spur_io_channel *ch1 = spur_bdev_get_io_channel(e.desc);

		assert_int_equal(spur_bdev_read_blocks(e.desc, ch1, buf, 0, 1, ut_cpl_cb, &c[3]), 0);
		ut_set_thread(0);
		assert_int_equal(spur_bdev_reset(e.desc, e.ch, ut_cpl_cb, &rc), 0);
		assert_int_equal(rc.count, 0);
		ut_poll();
		assert_int_equal(c[1].count, 1);
		assert_int_equal(c[1].status, SPUR_BDEV_ERR_ABORTED);
		assert_int_equal(c[2].status, SPUR_BDEV_ERR_ABORTED);
		assert_int_equal(c[3].status, SPUR_BDEV_ERR_ABORTED);
		assert_ptr_equal(c[3].thread, ut_threads[1]);
		/* The module got the reset after the layer's queues were emptied. */
		assert_int_equal(ut_fake.num_recs, 2);
		assert_int_equal(ut_fake.recs[1].type, SPUR_BDEV_IO_RESET);
		assert_int_equal(c[0].count, 0);
		ut_complete_rec(0, SPUR_BDEV_ERR_ABORTED);
		ut_complete_rec(1, 0);
		ut_poll();
		assert_int_equal(c[0].status, SPUR_BDEV_ERR_ABORTED);
		assert_int_equal(rc.count, 1);
		assert_int_equal(rc.status, 0);
		ut_set_thread(1);
		spur_put_io_channel(ch1);
		ut_set_thread(0);
	}
	env_close(&e);
	ut_subsystem_stop();
	ut_teardown();
	ut_fake_free(e.fb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_deferred_completion),
		cmocka_unit_test(test_enomem_io_wait),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_read_layer_buffer),
		cmocka_unit_test(test_reset_aborts_queued),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
