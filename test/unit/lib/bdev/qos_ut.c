/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of QoS: the token math with a fake clock (one slice of quota,
 * no burst after idle time, overdraft repaid by later slices, read / write
 * byte limits apart), the channel queue (a burst is limited, the excess is
 * released later and never fails, FIFO order), rates held within 5% over
 * several seconds of fake time on one and on two channels, limit changes and
 * removal while requests wait, validation, and a rate measured on the real
 * clock with two threads.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ut_common.h"

static uint64_t
slice(void)
{
	return spur_us_to_ticks(BDEV_QOS_SLICE_US);
}

static void
test_token_math(void **state)
{
	uint64_t iops[4] = {1000, 0, 0, 0}, mb[4] = {0, 1, 0, 0}, rd[4] = {0, 0, 1, 0};
	uint64_t t0 = 1000000, s = slice();
	struct bdev_qos *q;

	/* 1000 IO/s: one per 1 ms slice. */
	q = bdev_qos_alloc(iops, t0);
	assert_true(bdev_qos_take(q, true, 512, t0));
	assert_false(bdev_qos_take(q, true, 512, t0));
	assert_false(bdev_qos_take(q, false, 512, t0 + s - 1));
	assert_true(bdev_qos_take(q, false, 512, t0 + s));
	assert_false(bdev_qos_take(q, true, 512, t0 + s));
	/* Ten idle slices give two slices of tokens (the burst cap), not ten. */
	assert_true(bdev_qos_take(q, true, 512, t0 + 12 * s));
	assert_true(bdev_qos_take(q, true, 512, t0 + 12 * s));
	assert_false(bdev_qos_take(q, true, 512, t0 + 12 * s));
	bdev_qos_free(q);

	/* 1 MiB/s = 1048 bytes per slice: a 4 KiB request overdraws for 3 slices. */
	q = bdev_qos_alloc(mb, t0);
	assert_true(bdev_qos_take(q, true, 4096, t0));
	assert_false(bdev_qos_take(q, true, 512, t0 + 1 * s));
	assert_false(bdev_qos_take(q, true, 512, t0 + 2 * s));
	assert_true(bdev_qos_take(q, true, 512, t0 + 3 * s));
	bdev_qos_free(q);

	/* A read limit does not hold writes back. */
	q = bdev_qos_alloc(rd, t0);
	assert_true(bdev_qos_take(q, true, 1 << 20, t0));
	assert_false(bdev_qos_take(q, true, 512, t0));
	for (int i = 0; i < 100; i++) {
		assert_true(bdev_qos_take(q, false, 1 << 20, t0));
	}
	bdev_qos_free(q);
}

struct env {
	struct ut_fake_bdev *fb;
	struct spur_bdev_desc *desc;
	struct spur_io_channel *ch[UT_MAX_THREADS];
};

static void
env_open(struct env *e, const char *name, int nthreads)
{
	e->fb = ut_fake_create(name, 512, 1 << 20);
	assert_int_equal(ut_fake_register(e->fb), 0);
	assert_int_equal(spur_bdev_open(name, true, ut_event_cb, NULL, &e->desc), 0);
	for (int i = 0; i < nthreads; i++) {
		ut_set_thread(i);
		e->ch[i] = spur_bdev_get_io_channel(e->desc);
		assert_non_null(e->ch[i]);
	}
	ut_set_thread(0);
}

static void
env_close(struct env *e, int nthreads)
{
	for (int i = 0; i < nthreads; i++) {
		ut_set_thread(i);
		spur_put_io_channel(e->ch[i]);
	}
	ut_set_thread(0);
	spur_bdev_close(e->desc);
	ut_poll();
}

static void
set_cb(void *arg, int status)
{
	struct ut_cpl *c = arg;

	c->count++;
	c->status = status;
}

static void
set_limits(struct env *e, uint64_t ios, uint64_t rw_mb, uint64_t r_mb, uint64_t w_mb)
{
	struct spur_bdev_qos_limits l = {ios, rw_mb, r_mb, w_mb};
	struct ut_cpl c = {0};

	assert_int_equal(spur_bdev_set_qos_limits(&e->fb->bdev, &l, set_cb, &c), 0);
	ut_poll();
	assert_int_equal(c.count, 1);
	assert_int_equal(c.status, 0);
}

/* Each completion: check order and status, free. */
struct order {
	int next;
	int count;
	int errors;
};

struct tagged {
	struct order *o;
	int tag;
};

static void
order_cb(struct spur_bdev_io *io, int status, void *arg)
{
	struct tagged *t = arg;

	if (status != 0) {
		t->o->errors++;
	}
	assert_int_equal(t->tag, t->o->next);
	t->o->next++;
	t->o->count++;
	spur_bdev_free_io(io);
}

static void
test_channel_queue(void **state)
{
	struct env e;
	struct order o = {0};
	struct tagged tags[100];
	struct spur_bdev_qos_limits l;
	char buf[512];
	struct ut_cpl bad = {0};

	ut_setup(1);
	ut_subsystem_start();
	env_open(&e, "ut_qos", 1);
	ut_fake.inline_status = 0;

	/* Validation. */
	l = (struct spur_bdev_qos_limits){.rw_ios_per_sec = 1500};
	assert_int_equal(spur_bdev_set_qos_limits(&e.fb->bdev, &l, set_cb, &bad), -EINVAL);
	assert_int_equal(bad.count, 0);

	/* 10000 IO/s = 10 per slice: of a burst of 100, 10 go now. */
	set_limits(&e, 10000, 0, 0, 0);
	for (int i = 0; i < 100; i++) {
		tags[i].o = &o;
		tags[i].tag = i;
		assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch[0], buf, 0, 1, order_cb, &tags[i]),
				 0);
	}
	assert_int_equal(ut_fake.num_recs, 10);
	ut_poll();
	assert_int_equal(o.count, 10);
	/* Non-limited types pass the queue. */
	assert_int_equal(spur_bdev_flush_blocks(e.desc, e.ch[0], 0, 1, ut_cpl_cb, &bad), 0);
	assert_int_equal(ut_fake.num_recs, 11);
	ut_poll();
	assert_int_equal(bad.count, 1);
	spur_bdev_free_io(bad.io);
	/* The rest trickles out, 10 per millisecond, in order, none failed. */
	ut_advance_us(1000);
	assert_int_equal(o.count, 20);
	for (int i = 0; i < 8; i++) {
		ut_advance_us(1000);
	}
	assert_int_equal(o.count, 100);
	assert_int_equal(o.errors, 0);

	/*
	 * A thread that was not scheduled for 5 ms with requests waiting gets the
	 * 5 slices it missed (backlog), not just the 2-slice idle burst.
	 */
	memset(&o, 0, sizeof(o));
	for (int i = 0; i < 100; i++) {
		assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch[0], buf, 0, 1, order_cb, &tags[i]),
				 0);
	}
	ut_poll();
	assert_int_equal(o.count, 0); /* the last slice's tokens are spent */
	ut_now += spur_us_to_ticks(5000);
	spur_thread_poll(ut_threads[0], 0, ut_now);
	assert_int_equal(o.count, 50);
	for (int i = 0; i < 5; i++) {
		ut_advance_us(1000);
	}
	assert_int_equal(o.count, 100);

	/* Removing the limits releases what waits. */
	memset(&o, 0, sizeof(o));
	for (int i = 0; i < 50; i++) {
		assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch[0], buf, 0, 1, order_cb, &tags[i]),
				 0);
	}
	ut_poll();
	assert_true(o.count < 50);
	set_limits(&e, 0, 0, 0, 0);
	ut_poll();
	assert_int_equal(o.count, 50);
	assert_null(atomic_load(&e.fb->bdev.internal->qos));
	spur_bdev_get_qos_limits(&e.fb->bdev, &l);
	assert_int_equal(l.rw_ios_per_sec, 0);

	env_close(&e, 1);
	ut_subsystem_stop();
	ut_teardown();
	ut_fake_free(e.fb);
}

/* Keeps 'qd' requests of 'blocks' in flight on one channel. */
struct loader {
	struct env *e;
	struct spur_io_channel *ch;
	int thread;
	uint64_t blocks;
	uint64_t done;
	uint64_t errors;
	bool stop;
	char *buf;
};

static void
loader_cb(struct spur_bdev_io *io, int status, void *arg)
{
	struct loader *l = arg;

	spur_bdev_free_io(io);
	l->done++;
	if (status != 0) {
		l->errors++;
	}
	if (!l->stop) {
		assert_int_equal(spur_bdev_read_blocks(l->e->desc, l->ch, l->buf, 0, l->blocks,
						       loader_cb, l), 0);
	}
}

static void
loader_start(struct loader *l, struct env *e, int thread, uint64_t blocks, int qd)
{
	l->e = e;
	l->ch = e->ch[thread];
	l->thread = thread;
	l->blocks = blocks;
	l->buf = malloc(blocks * 512);
	ut_set_thread(thread);
	for (int i = 0; i < qd; i++) {
		assert_int_equal(spur_bdev_read_blocks(e->desc, l->ch, l->buf, 0, blocks, loader_cb, l),
				 0);
	}
	ut_set_thread(0);
}

static void
loaders_stop(struct loader *l, int n)
{
	for (int i = 0; i < n; i++) {
		l[i].stop = true;
	}
	/* Drain: everything queued completes. */
	for (int k = 0; k < 2000; k++) {
		ut_advance_us(1000);
	}
	for (int i = 0; i < n; i++) {
		free(l[i].buf);
	}
}

static void
expect_rate(uint64_t got, uint64_t want)
{
	print_message("QoS: %lu completions, limit allows %lu\n", (unsigned long)got,
		      (unsigned long)want);
	assert_true(got >= want * 95 / 100);
	assert_true(got <= want * 105 / 100);
}

static void
test_rate_fake_clock(void **state)
{
	struct env e;
	struct loader l[2];
	uint64_t before;

	ut_setup(2);
	ut_subsystem_start();
	env_open(&e, "ut_rate", 2);
	ut_fake.inline_status = 0;

	/* IOPS over 3 s, two channels sharing the limit. */
	set_limits(&e, 20000, 0, 0, 0);
	memset(l, 0, sizeof(l));
	loader_start(&l[0], &e, 0, 1, 64);
	loader_start(&l[1], &e, 1, 1, 16);
	for (int i = 0; i < 3000 * 10; i++) {
		ut_advance_us(100);
		ut_fake.num_recs = 0;
		ut_fake.next_pending = 0;
	}
	expect_rate(l[0].done + l[1].done, 3 * 20000);
	/* Both backlogged: they share the limit evenly. */
	print_message("QoS: channel 0 %lu, channel 1 %lu\n", (unsigned long)l[0].done,
		      (unsigned long)l[1].done);
	assert_true(l[1].done > 3 * 20000 * 45 / 100);
	assert_true(l[0].done > 3 * 20000 * 45 / 100);
	loaders_stop(l, 2);
	assert_int_equal(l[0].errors + l[1].errors, 0);
	ut_fake.num_recs = 0;
	ut_fake.next_pending = 0;

	/* Bandwidth: 10 MiB/s of 64 KiB reads over 2 s = 320 requests. */
	set_limits(&e, 0, 10, 0, 0);
	memset(l, 0, sizeof(l));
	loader_start(&l[0], &e, 0, 128, 8);
	before = 0;
	for (int i = 0; i < 2000 * 4; i++) {
		ut_advance_us(250);
		ut_fake.num_recs = 0;
		ut_fake.next_pending = 0;
	}
	expect_rate(l[0].done - before, 2 * 10 * 1024 * 1024 / (128 * 512));
	loaders_stop(l, 1);
	ut_fake.num_recs = 0;
	ut_fake.next_pending = 0;

	set_limits(&e, 0, 0, 0, 0);
	env_close(&e, 2);
	ut_subsystem_stop();
	ut_teardown();
	ut_fake_free(e.fb);
}

static void
test_rate_real_clock(void **state)
{
	struct env e;
	struct loader l[2];
	uint64_t start, end, hz = spur_get_ticks_hz(), now, prev, max_gap = 0;

	ut_setup(2);
	ut_subsystem_start();
	env_open(&e, "ut_real", 2);
	ut_fake.inline_status = 0;
	bdev_qos_clock = NULL;

	set_limits(&e, 50000, 0, 0, 0);
	memset(l, 0, sizeof(l));
	loader_start(&l[0], &e, 0, 1, 32);
	loader_start(&l[1], &e, 1, 1, 32);
	start = spur_get_ticks();
	end = start + hz;
	prev = start;
	while ((now = spur_get_ticks()) < end) {
		max_gap = SPUR_MAX(max_gap, now - prev);
		prev = now;
		spur_thread_poll(ut_threads[0], 0, now);
		spur_thread_poll(ut_threads[1], 0, now);
		ut_fake.num_recs = 0;
		ut_fake.next_pending = 0;
	}
	/* Stalls up to the backlog credit (QOS_BACKLOG_SLICES) are made up for. */
	if (spur_ticks_to_us(max_gap) < 10000) {
		expect_rate(l[0].done + l[1].done, 50000);
	} else {
		/* Descheduled for more than a slice: the rate is only an upper bound. */
		print_message("QoS: test thread stalled %lu us; checking the upper bound only\n",
			      (unsigned long)spur_ticks_to_us(max_gap));
		assert_true(l[0].done + l[1].done <= 50000 * 105 / 100);
	}
	l[0].stop = l[1].stop = true;
	end = spur_get_ticks() + hz / 10;
	while ((now = spur_get_ticks()) < end) {
		spur_thread_poll(ut_threads[0], 0, now);
		spur_thread_poll(ut_threads[1], 0, now);
		ut_fake.num_recs = 0;
		ut_fake.next_pending = 0;
	}
	free(l[0].buf);
	free(l[1].buf);
	assert_int_equal(l[0].errors + l[1].errors, 0);
	spur_set_thread(ut_threads[0]);
	set_limits(&e, 0, 0, 0, 0);
	env_close(&e, 2);
	ut_subsystem_stop();
	ut_teardown();
	ut_fake_free(e.fb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_math),
		cmocka_unit_test(test_channel_queue),
		cmocka_unit_test(test_rate_fake_clock),
		cmocka_unit_test(test_rate_real_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
