/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of splitting and bouncing: children by max_transfer_blocks and
 * by the optimal boundary with their iovecs checked slice by slice, rounds
 * when more than BDEV_IO_CHILD_IOV iovecs are needed (also with iovecs that
 * are not whole blocks), unmap limits, the parent completing once with the
 * first error, thousands of inline-completing children without recursion,
 * children waiting for request objects, and bounce buffers for misaligned
 * memory (data checked in both directions, large requests split to fit,
 * waiting for a buffer).
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
env_open(struct env *e, struct ut_fake_bdev *fb)
{
	e->fb = fb;
	assert_int_equal(ut_fake_register(fb), 0);
	assert_int_equal(spur_bdev_open(fb->name, true, ut_event_cb, NULL, &e->desc), 0);
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
fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++) {
		p[i] = (uint8_t)(seed + i * 13 + (i >> 9));
	}
}

static void
test_split_max_transfer(void **state)
{
	struct ut_fake_bdev *fb = ut_fake_create("ut_mt", 512, 1024);
	struct env e;
	struct ut_cpl c = {.free_io = true};
	uint8_t *a = malloc(5 * 512), *b = malloc(15 * 512);
	struct iovec iov[2] = {{a, 5 * 512}, {b, 15 * 512}};
	struct ut_rec *r;

	ut_setup(1);
	ut_subsystem_start();
	fb->bdev.max_transfer_blocks = 8;
	env_open(&e, fb);
	fill(a, 5 * 512, 1);
	fill(b, 15 * 512, 2);

	assert_int_equal(spur_bdev_writev_blocks(e.desc, e.ch, iov, 2, 3, 20, SPUR_BDEV_IO_FUA,
						 ut_cpl_cb, &c), 0);
	assert_int_equal(ut_fake.num_recs, 3);
	r = ut_fake.recs;
	assert_int_equal(r[0].offset, 3);
	assert_int_equal(r[0].num, 8);
	assert_int_equal(r[0].iovcnt, 2);
	assert_ptr_equal(r[0].iovs[0].iov_base, a);
	assert_int_equal(r[0].iovs[0].iov_len, 5 * 512);
	assert_ptr_equal(r[0].iovs[1].iov_base, b);
	assert_int_equal(r[0].iovs[1].iov_len, 3 * 512);
	assert_int_equal(r[1].offset, 11);
	assert_int_equal(r[1].num, 8);
	assert_int_equal(r[1].iovcnt, 1);
	assert_ptr_equal(r[1].iovs[0].iov_base, b + 3 * 512);
	assert_int_equal(r[1].iovs[0].iov_len, 8 * 512);
	assert_int_equal(r[2].offset, 19);
	assert_int_equal(r[2].num, 4);
	assert_ptr_equal(r[2].iovs[0].iov_base, b + 11 * 512);
	assert_int_equal(r[2].iovs[0].iov_len, 4 * 512);
	assert_int_equal(r[0].io->flags, SPUR_BDEV_IO_FUA);

	/* Merged completion: once, after the last child, with the first error. */
	ut_complete_rec(1, SPUR_BDEV_ERR_MEDIA);
	ut_complete_rec(0, 0);
	ut_complete_rec(2, SPUR_BDEV_ERR_IO);
	assert_int_equal(c.count, 1);
	assert_int_equal(c.status, SPUR_BDEV_ERR_MEDIA);
	ut_reset_recs();

	/* All good: the data went where it belongs. */
	assert_int_equal(spur_bdev_writev_blocks(e.desc, e.ch, iov, 2, 3, 20, 0, ut_cpl_cb, &c), 0);
	while (ut_pending() > 0) {
		ut_complete_one(0);
	}
	assert_int_equal(c.count, 2);
	assert_int_equal(c.status, 0);
	assert_memory_equal(fb->data + 3 * 512, a, 5 * 512);
	assert_memory_equal(fb->data + 8 * 512, b, 15 * 512);

	env_close(&e);
	ut_subsystem_stop();
	ut_teardown();
	ut_fake_free(fb);
	free(a);
	free(b);
}

static void
test_split_boundary(void **state)
{
	struct ut_fake_bdev *fb = ut_fake_create("ut_bd", 512, 1024);
	struct env e;
	struct ut_cpl c = {.free_io = true};
	uint8_t *buf = malloc(32 * 512);

	ut_setup(1);
	ut_subsystem_start();
	fb->bdev.optimal_io_boundary = 16;
	fb->bdev.split_on_optimal_io_boundary = true;
	env_open(&e, fb);

	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 12, 10, ut_cpl_cb, &c), 0);
	assert_int_equal(ut_fake.num_recs, 2);
	assert_int_equal(ut_fake.recs[0].offset, 12);
	assert_int_equal(ut_fake.recs[0].num, 4);
	assert_ptr_equal(ut_fake.recs[0].iovs[0].iov_base, buf);
	assert_int_equal(ut_fake.recs[1].offset, 16);
	assert_int_equal(ut_fake.recs[1].num, 6);
	assert_ptr_equal(ut_fake.recs[1].iovs[0].iov_base, buf + 4 * 512);
	assert_int_equal(ut_fake.recs[1].iovs[0].iov_len, 6 * 512);
	ut_complete_one(0);
	ut_complete_one(0);
	assert_int_equal(c.count, 1);
	ut_reset_recs();

	/* Within one boundary window: not split. */
	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 16, 16, ut_cpl_cb, &c), 0);
	assert_int_equal(ut_fake.num_recs, 1);
	assert_int_equal(ut_fake.recs[0].num, 16);
	ut_complete_one(0);
	assert_int_equal(c.count, 2);

	env_close(&e);
	ut_subsystem_stop();
	ut_teardown();
	ut_fake_free(fb);
	free(buf);
}

static void
test_split_iov_rounds(void **state)
{
	struct ut_fake_bdev *fb = ut_fake_create("ut_rounds", 512, 1024);
	struct env e;
	struct ut_cpl c = {.free_io = true};
	uint8_t *buf = malloc(80 * 512);
	struct iovec iov[80];
	uint64_t sum;

	ut_setup(1);
	ut_subsystem_start();
	fb->bdev.max_transfer_blocks = 64;
	env_open(&e, fb);
	fill(fb->data, 1024 * 512, 9);

	/* 80 one-block iovecs over the limit: rounds of 32 iovecs (one child each). */
	for (int i = 0; i < 80; i++) {
		iov[i].iov_base = buf + i * 512;
		iov[i].iov_len = 512;
	}
	assert_int_equal(spur_bdev_readv_blocks(e.desc, e.ch, iov, 80, 0, 80, ut_cpl_cb, &c), 0);
	assert_int_equal(ut_fake.num_recs, 1);
	assert_int_equal(ut_fake.recs[0].num, 32);
	assert_int_equal(ut_fake.recs[0].iovcnt, 32);
	for (int i = 0; i < 32; i++) {
		assert_ptr_equal(ut_fake.recs[0].iovs[i].iov_base, buf + i * 512);
	}
	ut_complete_one(0);
	assert_int_equal(ut_fake.num_recs, 2);
	assert_int_equal(ut_fake.recs[1].offset, 32);
	assert_int_equal(ut_fake.recs[1].num, 32);
	assert_ptr_equal(ut_fake.recs[1].iovs[0].iov_base, buf + 32 * 512);
	ut_complete_one(0);
	assert_int_equal(ut_fake.num_recs, 3);
	assert_int_equal(ut_fake.recs[2].offset, 64);
	assert_int_equal(ut_fake.recs[2].num, 16);
	assert_int_equal(ut_fake.recs[2].iovcnt, 16);
	assert_int_equal(c.count, 0);
	ut_complete_one(0);
	assert_int_equal(c.count, 1);
	assert_memory_equal(buf, fb->data, 80 * 512);
	ut_reset_recs();

	/* iovecs of 300 bytes: children are cut to whole blocks. */
	for (int i = 0; i < 40; i++) {
		iov[i].iov_base = buf + i * 300;
		iov[i].iov_len = 300;
	}
	memset(buf, 0, 80 * 512);
	fb->bdev.max_transfer_blocks = 20;
	assert_int_equal(spur_bdev_readv_blocks(e.desc, e.ch, iov, 40, 100, 23, ut_cpl_cb, &c), 0);
	assert_int_equal(ut_fake.num_recs, 1);
	assert_int_equal(ut_fake.recs[0].num, 18);          /* 32 x 300 = 9600 -> 9216 */
	assert_int_equal(ut_fake.recs[0].iovcnt, 31);
	assert_int_equal(ut_fake.recs[0].iovs[30].iov_len, 216);
	ut_complete_one(0);
	assert_int_equal(ut_fake.num_recs, 2);
	assert_int_equal(ut_fake.recs[1].offset, 118);
	assert_int_equal(ut_fake.recs[1].num, 5);
	assert_ptr_equal(ut_fake.recs[1].iovs[0].iov_base, buf + 30 * 300 + 216);
	sum = 0;
	for (int i = 0; i < ut_fake.recs[1].iovcnt; i++) {
		sum += ut_fake.recs[1].iovs[i].iov_len;
	}
	assert_int_equal(sum, 5 * 512);
	ut_complete_one(0);
	assert_int_equal(c.count, 2);
	assert_int_equal(c.status, 0);
	assert_memory_equal(buf, fb->data + 100 * 512, 23 * 512);

	env_close(&e);
	ut_subsystem_stop();
	ut_teardown();
	ut_fake_free(fb);
	free(buf);
}

static void
test_split_unmap_and_inline(void **state)
{
	struct ut_fake_bdev *fb = ut_fake_create("ut_unmap", 512, 4096);
	struct env e;
	struct ut_cpl c = {.free_io = true};
	uint8_t *buf = malloc(2000 * 512);

	ut_setup(1);
	ut_subsystem_start();
	fb->bdev.max_unmap_blocks = 10;
	fb->bdev.max_transfer_blocks = 1;
	env_open(&e, fb);

	assert_int_equal(spur_bdev_unmap_blocks(e.desc, e.ch, 0, 25, ut_cpl_cb, &c), 0);
	assert_int_equal(ut_fake.num_recs, 3);
	assert_int_equal(ut_fake.recs[0].num, 10);
	assert_int_equal(ut_fake.recs[1].offset, 10);
	assert_int_equal(ut_fake.recs[2].offset, 20);
	assert_int_equal(ut_fake.recs[2].num, 5);
	assert_int_equal(ut_fake.recs[2].type, SPUR_BDEV_IO_UNMAP);
	while (ut_pending() > 0) {
		ut_complete_one(0);
	}
	assert_int_equal(c.count, 1);
	ut_reset_recs();

	/* 2000 one-block children completed inline: iterative, callback deferred. */
	fill(fb->data, 4096 * 512, 3);
	ut_fake.inline_status = 0;
	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 7, 2000, ut_cpl_cb, &c), 0);
	assert_int_equal(ut_fake.num_recs, 2000);
	assert_int_equal(c.count, 1);
	ut_poll();
	assert_int_equal(c.count, 2);
	assert_int_equal(c.status, 0);
	assert_memory_equal(buf, fb->data + 7 * 512, 2000 * 512);
	ut_fake.num_recs = 0;
	ut_fake.next_pending = 0;

	/* A failing child stops the rest. */
	ut_fake.inline_status = SPUR_BDEV_ERR_IO;
	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 0, 100, ut_cpl_cb, &c), 0);
	assert_int_equal(ut_fake.num_recs, 1);
	ut_poll();
	assert_int_equal(c.count, 3);
	assert_int_equal(c.status, SPUR_BDEV_ERR_IO);
	ut_fake.num_recs = 0;
	ut_fake.next_pending = 0;

	env_close(&e);
	ut_subsystem_stop();
	ut_teardown();
	ut_fake_free(fb);
	free(buf);
}

static void
test_split_waits_for_requests(void **state)
{
	struct ut_fake_bdev *fb = ut_fake_create("ut_wait", 512, 1024);
	struct env e;
	struct ut_cpl c = {.free_io = true};
	uint8_t *buf = malloc(100 * 512);
	int rounds = 0;

	g_bdev_opts.io_pool_size = 3;
	g_bdev_opts.io_cache_size = 3;
	ut_setup(1);
	ut_subsystem_start();
	fb->bdev.max_transfer_blocks = 4;
	env_open(&e, fb);
	fill(fb->data, 1024 * 512, 5);

	/* The parent holds one object: two children at a time. */
	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 0, 100, ut_cpl_cb, &c), 0);
	assert_int_equal(ut_fake.num_recs, 2);
	while (ut_pending() > 0 && rounds++ < 100) {
		ut_complete_one(0);
	}
	assert_int_equal(ut_fake.num_recs, 25);
	assert_int_equal(c.count, 1);
	assert_int_equal(c.status, 0);
	assert_memory_equal(buf, fb->data, 100 * 512);
	ut_reset_recs();

	/* Every object in use by others: the split waits on io_wait, then goes on. */
	{
		struct ut_cpl other = {.free_io = true};

		assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 0, 1, ut_cpl_cb, &other), 0);
		assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 0, 1, ut_cpl_cb, &other), 0);
		assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, buf, 0, 8, ut_cpl_cb, &c), 0);
		assert_int_equal(ut_fake.num_recs, 2); /* the parent got the last object */
		ut_complete_one(0);
		assert_int_equal(ut_fake.num_recs, 3); /* the freed one became a child */
		while (ut_pending() > 0) {
			ut_complete_one(0);
		}
		assert_int_equal(c.count, 2);
		assert_int_equal(other.count, 2);
	}

	env_close(&e);
	ut_subsystem_stop();
	g_bdev_opts.io_pool_size = 65535;
	g_bdev_opts.io_cache_size = 256;
	ut_teardown();
	ut_fake_free(fb);
	free(buf);
}

static void
test_bounce(void **state)
{
	struct ut_fake_bdev *fb = ut_fake_create("ut_bounce", 512, 2048);
	struct env e;
	struct ut_cpl c = {.free_io = true};
	uint8_t *mem = malloc(400 * 512 + 64), *src = mem + 1, *aligned = NULL;
	struct iovec iov[2];

	ut_setup(1);
	ut_subsystem_start();
	fb->bdev.required_alignment = 4096;
	env_open(&e, fb);
	assert_int_equal(spur_bdev_get_buf_align(&fb->bdev), 4096);

	/* Misaligned write: the module sees one aligned buffer; the data arrives. */
	fill(src, 8 * 512, 11);
	assert_int_equal(spur_bdev_write_blocks(e.desc, e.ch, src, 16, 8, ut_cpl_cb, &c), 0);
	assert_int_equal(ut_fake.num_recs, 1);
	assert_int_equal(ut_fake.recs[0].iovcnt, 1);
	assert_ptr_not_equal(ut_fake.recs[0].iovs[0].iov_base, src);
	ut_complete_one(0);
	assert_int_equal(c.count, 1);
	assert_memory_equal(fb->data + 16 * 512, src, 8 * 512);

	/* Misaligned read, two iovecs of odd lengths: data copied back. */
	memset(mem, 0, 400 * 512 + 64);
	iov[0].iov_base = mem + 3;
	iov[0].iov_len = 1000;
	iov[1].iov_base = mem + 3 + 1000;
	iov[1].iov_len = 8 * 512 - 1000;
	assert_int_equal(spur_bdev_readv_blocks(e.desc, e.ch, iov, 2, 16, 8, ut_cpl_cb, &c), 0);
	ut_complete_one(0);
	assert_int_equal(c.count, 2);
	assert_int_equal(c.status, 0);
	assert_memory_equal(mem + 3, fb->data + 16 * 512, 8 * 512);
	/* The caller's iovecs are back in the request it gets. */
	ut_reset_recs();

	/* Aligned memory is passed through untouched. */
	assert_int_equal(posix_memalign((void **)&aligned, 4096, 8192), 0);
	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, aligned, 0, 16, ut_cpl_cb, &c), 0);
	assert_ptr_equal(ut_fake.recs[0].iovs[0].iov_base, aligned);
	ut_complete_one(0);
	free(aligned);
	ut_reset_recs();

	/* Misaligned and larger than a pool buffer: split, each child bounced. */
	fill(fb->data, 2048 * 512, 21);
	memset(mem, 0, 400 * 512 + 64);
	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, mem + 5, 100, 300, ut_cpl_cb, &c), 0);
	assert_int_equal(ut_fake.num_recs, 2);
	assert_int_equal(ut_fake.recs[0].num, SPUR_BDEV_LARGE_BUF_SIZE / 512);
	assert_int_equal(ut_fake.recs[1].offset, 100 + SPUR_BDEV_LARGE_BUF_SIZE / 512);
	ut_complete_one(0);
	ut_complete_one(0);
	assert_int_equal(c.count, 4);
	assert_int_equal(c.status, 0);
	assert_memory_equal(mem + 5, fb->data + 100 * 512, 300 * 512);
	/* A failed read copies nothing back. */
	ut_reset_recs();
	memset(mem, 0, 400 * 512 + 64);
	assert_int_equal(spur_bdev_read_blocks(e.desc, e.ch, mem + 5, 0, 4, ut_cpl_cb, &c), 0);
	ut_complete_one(SPUR_BDEV_ERR_MEDIA);
	assert_int_equal(c.status, SPUR_BDEV_ERR_MEDIA);
	assert_int_equal(mem[5], 0);

	env_close(&e);
	ut_subsystem_stop();
	ut_teardown();
	ut_fake_free(fb);
	free(mem);
}

static void
test_bounce_waits_for_buffer(void **state)
{
	struct ut_fake_bdev *fb = ut_fake_create("ut_bwait", 512, 64);
	struct env e;
	struct ut_cpl c = {.free_io = true};
	uint8_t *mem = malloc(4 * 512 + 8);
	void *held[64];
	int n = 0;

	g_bdev_opts.small_pool_count = 64;
	ut_setup(1);
	ut_subsystem_start();
	fb->bdev.required_alignment = 512;
	env_open(&e, fb);

	while (n < 64 && (held[n] = spur_bdev_buf_get(4096)) != NULL) {
		n++;
	}
	assert_int_equal(n, 64);
	assert_null(spur_bdev_buf_get(100));
	fill(mem + 1, 4 * 512, 4);
	assert_int_equal(spur_bdev_write_blocks(e.desc, e.ch, mem + 1, 0, 4, ut_cpl_cb, &c), 0);
	for (int i = 0; i < 5; i++) {
		spur_thread_poll(ut_threads[0], 0, ut_now);
	}
	assert_int_equal(ut_fake.num_recs, 0);
	spur_bdev_buf_put(held[--n], 4096);
	spur_thread_poll(ut_threads[0], 0, ut_now);
	assert_int_equal(ut_fake.num_recs, 1);
	ut_complete_one(0);
	assert_int_equal(c.count, 1);
	assert_memory_equal(fb->data, mem + 1, 4 * 512);
	while (n > 0) {
		spur_bdev_buf_put(held[--n], 4096);
	}

	env_close(&e);
	ut_subsystem_stop();
	g_bdev_opts.small_pool_count = 8192;
	ut_teardown();
	ut_fake_free(fb);
	free(mem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_max_transfer),
		cmocka_unit_test(test_split_boundary),
		cmocka_unit_test(test_split_iov_rounds),
		cmocka_unit_test(test_split_unmap_and_inline),
		cmocka_unit_test(test_split_waits_for_requests),
		cmocka_unit_test(test_bounce),
		cmocka_unit_test(test_bounce_waits_for_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
