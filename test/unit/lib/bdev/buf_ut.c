/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the buffer pool: classes and alignment, lazy growth in
 * chunks, per-thread caches refilled and drained in batches, exhaustion and
 * recovery, release of the memory, and many OS threads getting and putting
 * concurrently (no buffer handed out twice; caches return at thread exit).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ut_common.h"

static void
counts(uint32_t *st, uint32_t *sf, uint32_t *lt, uint32_t *lf)
{
	bdev_buf_get_counts(st, sf, lt, lf);
}

static void
test_classes(void **state)
{
	void *s, *l;
	uint32_t st, sf, lt, lf;

	bdev_buf_configure();
	counts(&st, &sf, &lt, &lf);
	assert_int_equal(st, 0); /* nothing allocated before use */
	assert_int_equal(lt, 0);

	s = spur_bdev_buf_get(1);
	l = spur_bdev_buf_get(SPUR_BDEV_SMALL_BUF_SIZE + 1);
	assert_non_null(s);
	assert_non_null(l);
	assert_int_equal((uintptr_t)s % 4096, 0);
	assert_int_equal((uintptr_t)l % 4096, 0);
	memset(s, 1, SPUR_BDEV_SMALL_BUF_SIZE);
	memset(l, 2, SPUR_BDEV_LARGE_BUF_SIZE);
	assert_null(spur_bdev_buf_get(SPUR_BDEV_LARGE_BUF_SIZE + 1));
	counts(&st, &sf, &lt, &lf);
	assert_int_equal(st, 64);      /* one chunk */
	assert_int_equal(sf, 0);       /* the rest sits in this thread's cache */
	assert_true(lt >= 8 && lt <= 16);

	spur_bdev_buf_put(s, 1);
	spur_bdev_buf_put(l, SPUR_BDEV_LARGE_BUF_SIZE);
	spur_bdev_buf_put(NULL, 10);
	bdev_buf_thread_flush();
	counts(&st, &sf, &lt, &lf);
	assert_int_equal(sf, st);
	assert_int_equal(lf, lt);
	bdev_buf_release_all();
	counts(&st, &sf, &lt, &lf);
	assert_int_equal(st, 0);
	assert_int_equal(lt, 0);
}

static void
test_cache_batches(void **state)
{
	void *bufs[300];
	uint32_t st, sf, lt, lf;

	/* Getting 300 grows the pool in chunks; the cache holds at most 128. */
	for (int i = 0; i < 300; i++) {
		bufs[i] = spur_bdev_buf_get(4096);
		assert_non_null(bufs[i]);
	}
	counts(&st, &sf, &lt, &lf);
	assert_true(st >= 300 && st <= 300 + 64);
	for (int i = 0; i < 300; i++) {
		spur_bdev_buf_put(bufs[i], 4096);
	}
	counts(&st, &sf, &lt, &lf);
	/* Puts above the cache size went back to the shared pool in batches. */
	assert_true(st - sf <= 128);
	assert_true(sf >= st - 128);
	bdev_buf_thread_flush();
	bdev_buf_release_all();
}

static void
test_exhaustion(void **state)
{
	void *bufs[101];
	uint32_t saved = g_bdev_opts.small_pool_count;

	g_bdev_opts.small_pool_count = 100;
	bdev_buf_configure();
	for (int i = 0; i < 100; i++) {
		bufs[i] = spur_bdev_buf_get(100);
		assert_non_null(bufs[i]);
		for (int k = 0; k < i; k++) {
			assert_ptr_not_equal(bufs[k], bufs[i]);
		}
	}
	assert_null(spur_bdev_buf_get(100));
	spur_bdev_buf_put(bufs[7], 100);
	bufs[7] = spur_bdev_buf_get(8192);
	assert_non_null(bufs[7]);
	assert_null(spur_bdev_buf_get(8192));
	for (int i = 0; i < 100; i++) {
		spur_bdev_buf_put(bufs[i], 100);
	}
	bdev_buf_thread_flush();
	bdev_buf_release_all();
	g_bdev_opts.small_pool_count = saved;
	bdev_buf_configure();
}

#define NT 4
#define ROUNDS 20000

static void *
worker(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	void *held[16] = {0};
	size_t held_len[16] = {0};
	unsigned seed = (unsigned)id * 7919u;

	for (int r = 0; r < ROUNDS; r++) {
		int slot = (int)(rand_r(&seed) % 16);
		size_t len = (rand_r(&seed) & 1) ? 4096 : SPUR_BDEV_LARGE_BUF_SIZE;

		if (held[slot] != NULL) {
			/* Still ours: nobody else was given it meanwhile. */
			assert_int_equal(((uint8_t *)held[slot])[0], (uint8_t)id);
			assert_int_equal(((uint8_t *)held[slot])[4095], (uint8_t)id);
			spur_bdev_buf_put(held[slot], held_len[slot]);
			held[slot] = NULL;
		}
		held[slot] = spur_bdev_buf_get(len);
		held_len[slot] = len;
		if (held[slot] != NULL) {
			memset(held[slot], (int)id, 4096);
		}
	}
	for (int i = 0; i < 16; i++) {
		if (held[i] != NULL) {
			spur_bdev_buf_put(held[i], held_len[i]);
		}
	}
	return NULL;
}

static void
test_threads(void **state)
{
	pthread_t t[NT];
	uint32_t st, sf, lt, lf;

	for (uintptr_t i = 0; i < NT; i++) {
		assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)(i + 1)), 0);
	}
	for (int i = 0; i < NT; i++) {
		pthread_join(t[i], NULL);
	}
	/* The workers' caches went back when they exited. */
	bdev_buf_thread_flush();
	counts(&st, &sf, &lt, &lf);
	assert_int_equal(sf, st);
	assert_int_equal(lf, lt);
	bdev_buf_release_all();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_cache_batches),
		cmocka_unit_test(test_exhaustion),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
