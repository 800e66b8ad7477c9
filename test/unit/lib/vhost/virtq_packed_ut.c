/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packed virtqueue tests against a fake driver (virtq_ut.c): chains,
 * indirect tables, hostile chains and ids, what a BAD chain offers for an
 * error answer (its salvage), driver event suppression
 * (ENABLE / DISABLE / DESC with off_wrap, checked against a linear model),
 * device event suppression, GET/SET_VRING_BASE encoding across a restart,
 * a randomized run over many laps of a ring whose size is not a power of
 * two, and a micro-benchmark.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spur/util.h"
#include "virtq_ut.h"

#define NEXT VRING_DESC_F_NEXT
#define WR VRING_DESC_F_WRITE
#define IND VRING_DESC_F_INDIRECT

static struct iovec g_iov[UT_MAX_SIZE + 8];
static struct ut_packed g_d;
static struct virtq g_vq;

static struct virtq_elem
elem_new(uint32_t iov_max)
{
	return (struct virtq_elem){ .iov = g_iov, .iov_max = iov_max };
}

static int
group_setup(void **state)
{
	ut_guest_init();
	return 0;
}

static int
group_teardown(void **state)
{
	ut_guest_fini();
	return 0;
}

static void
start(uint16_t size, bool event_idx, bool indirect)
{
	struct virtq_config cfg = ut_cfg(size, true, event_idx, indirect);

	ut_packed_init(&g_d, size);
	ut_vq_init(&g_vq, &cfg, -1);
}

static void
stop(void)
{
	virtq_fini(&g_vq);
}

/*
 * Post bufs as buffer id, expect BAD consuming n descriptors, answer it.
 * Returns the element (its iovecs in g_iov) for salvage checks.
 */
static struct virtq_elem
expect_bad(const struct ut_buf *bufs, uint16_t n, uint16_t id, uint32_t iov_max)
{
	struct virtq_elem e = elem_new(iov_max);
	uint16_t got;
	uint32_t len;

	assert_true(ut_packed_post(&g_d, bufs, n, id));
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_BAD);
	assert_int_equal(e.id, id);
	assert_int_equal(e.ndescs, n);
	assert_false(g_vq.broken);
	virtq_push(&g_vq, &e, 0);
	assert_int_equal(virtq_flush(&g_vq, 0), 1);
	assert_true(ut_packed_get_used(&g_d, &got, &len));
	assert_int_equal(got, id);
	return e;
}

/*
 * Post bufs as buffer id, expect the queue to break on it (an unwalkable
 * chain): BROKEN with a reason, nothing taken (base, in-flight counts
 * unchanged), nothing pushed. The caller restarts the queue.
 */
static void
expect_broken(const struct ut_buf *bufs, uint16_t n, uint16_t id, uint32_t iov_max)
{
	struct virtq_elem e = elem_new(iov_max);
	uint16_t base = virtq_get_base(&g_vq), got;
	uint32_t descs = g_vq.inflight_descs, len;

	assert_true(ut_packed_post(&g_d, bufs, n, id));
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_BROKEN);
	assert_true(g_vq.broken);
	assert_non_null(g_vq.broken_reason);
	assert_int_equal(virtq_get_base(&g_vq), base);
	assert_int_equal(g_vq.inflight_descs, descs);
	assert_int_equal(g_vq.packed_desc_count[id], 0);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_BROKEN);
	assert_int_equal(virtq_flush(&g_vq, 0), 0);
	assert_false(ut_packed_get_used(&g_d, &got, &len));
}

static void
test_basic_chain(void **state)
{
	struct ut_buf b[3] = {
		{ UT_GPA_DATA, 16, 0 },
		{ UT_GPA_DATA + 4096, 4096, WR },
		{ UT_GPA_DATA + 8192, 1, WR },
	};
	struct virtq_elem e = elem_new(16);
	uint16_t id;
	uint32_t len;

	start(16, false, false);
	assert_false(virtq_has_work(&g_vq));
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_EMPTY);
	memcpy(ut_g2h(UT_GPA_DATA), "0123456789abcdef", 16);
	assert_true(ut_packed_post(&g_d, b, 3, 7));
	assert_true(virtq_has_work(&g_vq));
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_OK);
	assert_int_equal(e.id, 7);
	assert_int_equal(e.ndescs, 3);
	assert_int_equal(e.out_num, 1);
	assert_int_equal(e.in_num, 2);
	assert_int_equal(e.in_len, 4097);
	assert_memory_equal(e.iov[0].iov_base, "0123456789abcdef", 16);
	assert_int_equal(virtq_get_base(&g_vq), 0x8000 | 3);
	virtq_push(&g_vq, &e, 4097);
	assert_false(ut_packed_get_used(&g_d, &id, &len)); /* not published yet */
	assert_int_equal(virtq_flush(&g_vq, 0), 1);
	assert_true(ut_packed_get_used(&g_d, &id, &len));
	assert_int_equal(id, 7);
	assert_int_equal(len, 4097);
	assert_true(g_d.desc[0].flags & WR);
	assert_int_equal(virtq_get_used_base(&g_vq), 0x8000 | 3);
	assert_int_equal(g_vq.stat_signals, 1);
	stop();
}

static void
test_indirect(void **state)
{
	struct vring_packed_desc *t = ut_g2h(UT_GPA_DATA + 0x10000);
	struct ut_buf ind = { UT_GPA_DATA + 0x10000, 48, IND };
	struct virtq_elem e = elem_new(16);

	start(16, false, true);
	t[0] = (struct vring_packed_desc){ UT_GPA_DATA, 16, 0, 0 };
	t[1] = (struct vring_packed_desc){ UT_GPA_DATA + 4096, 512, 0, WR };
	t[2] = (struct vring_packed_desc){ UT_GPA_DATA + 8192, 1, 0, WR };
	assert_true(ut_packed_post(&g_d, &ind, 1, 4));
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_OK);
	assert_int_equal(e.id, 4);
	assert_int_equal(e.ndescs, 1);
	assert_int_equal(e.out_num, 1);
	assert_int_equal(e.in_num, 2);
	assert_int_equal(e.in_len, 513);
	virtq_push(&g_vq, &e, 1);
	virtq_flush(&g_vq, 0);
	{
		uint16_t id;
		uint32_t len;

		assert_true(ut_packed_get_used(&g_d, &id, &len));
	}
	/* Malformed: length, nesting, in a chain, outside memory, bad entry order. */
	ind.len = 40;
	expect_bad(&ind, 1, 4, 16);
	ind.len = 0;
	expect_bad(&ind, 1, 4, 16);
	ind.len = 48;
	t[1].flags = IND;
	expect_bad(&ind, 1, 4, 16);
	t[1].flags = WR;
	{
		struct ut_buf two[2] = { ind, { UT_GPA_DATA, 16, WR } };

		expect_bad(two, 2, 5, 16);
		two[0] = (struct ut_buf){ UT_GPA_DATA, 16, 0 };
		two[1] = ind;
		expect_bad(two, 2, 5, 16);
	}
	t[0].flags = WR;
	t[1].flags = 0; /* readable after writable inside the table */
	expect_bad(&ind, 1, 4, 16);
	ind.gpa = UT_GPA_END - 16;
	expect_bad(&ind, 1, 4, 16);
	stop();

	start(16, false, false); /* not negotiated */
	ind.gpa = UT_GPA_DATA + 0x10000;
	expect_bad(&ind, 1, 4, 16);
	stop();
}

static void
test_bad_chains(void **state)
{
	struct ut_buf b[5];
	struct virtq_elem e = elem_new(16);
	uint16_t id;
	uint32_t len;

	start(16, false, false);
	b[0] = (struct ut_buf){ UT_GPA_DATA, 16, WR };
	b[1] = (struct ut_buf){ UT_GPA_DATA + 16, 16, 0 };
	expect_bad(b, 2, 9, 16);                      /* writable then readable */
	b[0] = (struct ut_buf){ UT_GPA_DATA, 0, 0 };
	expect_bad(b, 1, 9, 16);                      /* zero length */
	b[0] = (struct ut_buf){ UT_GPA_END - 8, 16, 0 };
	b[1] = (struct ut_buf){ UT_GPA_DATA, 16, WR };
	expect_bad(b, 2, 9, 16);                      /* outside memory */
	b[0] = (struct ut_buf){ UT_REGION_B_GPA, UINT32_MAX, WR };
	b[1] = (struct ut_buf){ UT_REGION_B_GPA, 1, WR };
	expect_bad(b, 2, 9, 16);                      /* length overflow */
	for (int i = 0; i < 5; i++) {
		b[i] = (struct ut_buf){ UT_GPA_DATA + (uint64_t)i * 64, 16, 0 };
	}
	expect_bad(b, 5, 9, 4);                       /* more iovecs than iov_max */
	/* The ring stays in step: a good buffer after all that. */
	assert_true(ut_packed_post(&g_d, b, 2, 3));
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_OK);
	assert_int_equal(e.id, 3);
	virtq_push(&g_vq, &e, 0);
	virtq_flush(&g_vq, 0);
	assert_true(ut_packed_get_used(&g_d, &id, &len));
	assert_int_equal(id, 3);
	stop();
}

/*
 * The salvage of BAD chains (virtq.h, "Malformed chains"): the first and
 * last device-writable descriptors, direct and through an indirect table.
 */
#define A (UT_GPA_DATA)
#define B (UT_GPA_DATA + 0x1000)
#define C (UT_GPA_DATA + 0x2000)
#define S (UT_GPA_DATA + 0x3000)
#define T (UT_GPA_DATA + 0x10000)
#define NONE 0, 0

static void
test_salvage(void **state)
{
	struct vring_packed_desc *t = ut_g2h(T);
	struct ut_buf b[6], ind = { T, 64, IND };
	struct virtq_elem e;

	start(16, false, true);
	/* Readable after writable: header, data, a stray readable, status. */
	b[0] = (struct ut_buf){ A, 16, 0 };
	b[1] = (struct ut_buf){ B, 512, WR };
	b[2] = (struct ut_buf){ C, 64, 0 };
	b[3] = (struct ut_buf){ S, 1, WR };
	e = expect_bad(b, 4, 1, 16);
	ut_expect_salvage(&e, B, 512, S, 1);
	/* A readable buffer outside guest memory in the middle. */
	b[1] = (struct ut_buf){ UT_GPA_END - 8, 16, 0 };
	b[2] = (struct ut_buf){ B, 512, WR };
	e = expect_bad(b, 4, 2, 16);
	ut_expect_salvage(&e, B, 512, S, 1);
	/* The last writable one outside: nowhere to put a status. */
	b[3] = (struct ut_buf){ UT_GPA_END, 1, WR };
	e = expect_bad(b, 4, 3, 16);
	ut_expect_salvage(&e, B, 512, NONE);
	/* Total length overflow. */
	b[1] = (struct ut_buf){ UT_REGION_B_GPA, UINT32_MAX, WR };
	b[2] = (struct ut_buf){ S, 1, WR };
	e = expect_bad(b, 3, 4, 16);
	ut_expect_salvage(&e, UT_REGION_B_GPA, UINT32_MAX, S, 1);
	/* More iovecs than the caller's array. */
	for (int i = 0; i < 4; i++) {
		b[i] = (struct ut_buf){ A + 16u * (uint32_t)i, 16, 0 };
	}
	b[4] = (struct ut_buf){ B, 8, WR };
	b[5] = (struct ut_buf){ S, 1, WR };
	e = expect_bad(b, 6, 5, 4);
	ut_expect_salvage(&e, B, 8, S, 1);

	/* Indirect: the same inside a table. */
	t[0] = (struct vring_packed_desc){ A, 16, 0, 0 };
	t[1] = (struct vring_packed_desc){ B, 512, 0, WR };
	t[2] = (struct vring_packed_desc){ C, 64, 0, 0 };
	t[3] = (struct vring_packed_desc){ S, 1, 0, WR };
	e = expect_bad(&ind, 1, 6, 16);
	ut_expect_salvage(&e, B, 512, S, 1);
	t[2] = (struct vring_packed_desc){ UT_GPA_END, 64, 0, 0 };   /* outside */
	e = expect_bad(&ind, 1, 6, 16);
	ut_expect_salvage(&e, B, 512, S, 1);
	t[2] = (struct vring_packed_desc){ T, 64, 0, IND };          /* nested: stepped over */
	e = expect_bad(&ind, 1, 6, 16);
	ut_expect_salvage(&e, B, 512, S, 1);
	t[2] = (struct vring_packed_desc){ C, 64, 0, WR };
	/* An indirect descriptor in a chain is stepped over, not read as a table. */
	b[0] = ind;
	b[1] = (struct ut_buf){ S + 8, 1, WR };
	e = expect_bad(b, 2, 7, 16);
	ut_expect_salvage(&e, S + 8, 1, S + 8, 1);
	b[0] = (struct ut_buf){ A, 16, 0 };
	b[1] = ind;
	e = expect_bad(b, 2, 7, 16);
	ut_expect_salvage(&e, NONE, NONE);
	/* A table of 1000 entries that turns bad at the second is walked... */
	t[0] = (struct vring_packed_desc){ B, 512, 0, WR };
	for (int i = 1; i < 2000; i++) {
		t[i] = (struct vring_packed_desc){ A, 16, 0, 0 };
	}
	ind.len = 1000 * 16;
	e = expect_bad(&ind, 1, 8, 16);
	ut_expect_salvage(&e, B, 512, B, 512);
	/* ... one of 2000 is not (VIRTQ_WALK_MAX). */
	ind.len = 2000 * 16;
	expect_broken(&ind, 1, 8, 16);
	assert_non_null(strstr(g_vq.broken_reason, "VIRTQ_WALK_MAX"));
	stop();

	/* Indirect not negotiated: the table is never read. */
	start(16, false, false);
	t[1] = (struct vring_packed_desc){ S, 1, 0, WR };
	ind.len = 32;
	e = expect_bad(&ind, 1, 9, 16);
	ut_expect_salvage(&e, NONE, NONE);
	stop();
}

#undef A
#undef B
#undef C
#undef S
#undef T
#undef NONE

static void
test_broken(void **state)
{
	struct vring_packed_desc raw[16];
	struct ut_buf b = { UT_GPA_DATA, 16, 0 };
	struct virtq_elem e = elem_new(64);

	/* Every descriptor says NEXT: no end within the queue. */
	start(16, false, false);
	for (int i = 0; i < 16; i++) {
		raw[i] = (struct vring_packed_desc){ UT_GPA_DATA, 16, 1, NEXT };
	}
	ut_packed_post_raw(&g_d, raw, 16);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_BROKEN);
	assert_true(g_vq.broken);
	assert_false(virtq_has_work(&g_vq));
	stop();

	/* A chain of exactly the queue size is fine. */
	start(16, false, false);
	raw[15].flags = 0;
	ut_packed_post_raw(&g_d, raw, 16);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_OK);
	assert_int_equal(e.ndescs, 16);
	stop();

	/* Buffer id out of range. */
	start(16, false, false);
	assert_true(ut_packed_post(&g_d, &b, 1, 0));
	g_d.desc[0].id = 16;
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_BROKEN);
	stop();

	/* The same id twice while in flight. */
	start(16, false, false);
	raw[0] = (struct vring_packed_desc){ UT_GPA_DATA, 16, 2, 0 };
	ut_packed_post_raw(&g_d, raw, 1);
	ut_packed_post_raw(&g_d, raw, 1);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_OK);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_BROKEN);
	stop();
}

static void
test_event_suppression(void **state)
{
	enum { SIZE = 24 };
	struct ut_buf b[3] = { { UT_GPA_DATA, 16, 0 }, { UT_GPA_DATA, 16, WR }, { UT_GPA_DATA, 1, WR } };
	struct virtq_elem e[8];
	uint64_t lin = 0; /* descriptors used so far: position lin % SIZE, lap lin / SIZE */

	start(SIZE, true, false);
	ut_srand(3);
	for (int round = 0; round < 5000; round++) {
		uint32_t k = 1 + (uint32_t)(ut_rand() % 5), n = 0, len;
		uint64_t old = lin, before = g_vq.stat_signals, lap;
		int64_t target;
		uint16_t id, mode = (uint16_t)(round % 7);
		bool expect;

		for (uint32_t i = 0; i < k; i++) {
			uint16_t nd = (uint16_t)(1 + ut_rand() % 3);

			assert_true(ut_packed_post(&g_d, b, nd, (uint16_t)i));
			e[i] = elem_new(4);
			e[i].iov = &g_iov[i * 4];
			assert_int_equal(virtq_pop(&g_vq, &e[i]), VIRTQ_POP_OK);
			n += nd;
		}
		for (uint32_t i = 0; i < k; i++) {
			virtq_push(&g_vq, &e[(i + 1) % k], 0);
		}
		lin += n;
		lap = lin / SIZE;
		/* Pick an event position the off_wrap encoding can express
		 * unambiguously relative to the device (within a lap of new). */
		do {
			target = (int64_t)old + (int64_t)(ut_rand() % (n + 2 * SIZE)) - SIZE;
		} while (target < 0 || target < (int64_t)(lap * SIZE) - SIZE ||
			 target >= (int64_t)(lap * SIZE) + SIZE);
		g_d.drv->off_wrap = (uint16_t)((uint64_t)target % SIZE |
					       (uint16_t)(((uint64_t)target / SIZE & 1) ? 0 : 0x8000));
		if (mode == 5) {
			g_d.drv->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
			expect = false;
		} else if (mode == 6) {
			g_d.drv->flags = VRING_PACKED_EVENT_FLAG_ENABLE;
			expect = true;
		} else {
			g_d.drv->flags = VRING_PACKED_EVENT_FLAG_DESC;
			expect = round == 0 || ((uint64_t)target >= old && (uint64_t)target < lin);
		}
		assert_int_equal(virtq_flush(&g_vq, 0), k);
		if (g_vq.stat_signals - before != (expect ? 1u : 0u)) {
			fail_msg("round %d: old %" PRIu64 " new %" PRIu64 " target %" PRId64
				 " mode %u: signalled %" PRIu64, round, old, lin, target, mode,
				 g_vq.stat_signals - before);
		}
		while (ut_packed_get_used(&g_d, &id, &len)) {
		}
	}
	stop();
}

static void
test_set_notify(void **state)
{
	start(16, false, false);
	virtq_set_notify(&g_vq, false);
	assert_int_equal(g_d.dev->flags, VRING_PACKED_EVENT_FLAG_DISABLE);
	virtq_set_notify(&g_vq, true);
	assert_int_equal(g_d.dev->flags, VRING_PACKED_EVENT_FLAG_ENABLE);
	stop();
}

/*
 * Random chains on a 100-entry ring over many laps, out-of-order completion
 * in random batches, and a clean stop/restart through get_base/used_base in
 * the middle (what GET_VRING_BASE/SET_VRING_BASE carry).
 */
static void
test_random_laps(void **state)
{
	enum { SIZE = 100, POOL = 48 };
	static struct virtq_elem pool[POOL];
	static struct iovec iovs[POOL][8];
	static uint32_t expect_len[SIZE];
	uint16_t free_ids[SIZE], nfree = SIZE;
	uint32_t npool = 0, done = 0, posted = 0;
	const uint32_t total = 200000;
	bool restarted = false;

	start(SIZE, true, false);
	for (uint32_t i = 0; i < POOL; i++) {
		pool[i] = elem_new(8);
		pool[i].iov = iovs[i];
	}
	for (uint16_t i = 0; i < SIZE; i++) {
		free_ids[i] = i;
	}
	ut_srand(99);
	while (done < total) {
		uint16_t id;
		uint32_t len;

		for (int k = (int)(ut_rand() % 6); k > 0 && posted < total && nfree > 0; k--) {
			struct ut_buf b[4];
			uint16_t n = (uint16_t)(1 + ut_rand() % 4), nwr = (uint16_t)(ut_rand() % (n + 1));
			uint16_t pick = (uint16_t)(ut_rand() % nfree), bid = free_ids[pick];
			uint32_t wlen = 0;

			for (uint16_t j = 0; j < n; j++) {
				bool w = j >= n - nwr;

				b[j] = (struct ut_buf){ UT_GPA_DATA + (ut_rand() % 1000) * 512,
							1 + (uint32_t)(ut_rand() % 3000), w ? WR : 0 };
				wlen += w ? b[j].len : 0;
			}
			if (!ut_packed_post(&g_d, b, n, bid)) {
				break;
			}
			free_ids[pick] = free_ids[--nfree];
			expect_len[bid] = wlen;
			posted++;
		}
		while (npool < POOL && virtq_pop(&g_vq, &pool[npool]) == VIRTQ_POP_OK) {
			npool++;
		}
		for (int k = (int)(ut_rand() % 8); k > 0 && npool > 0; k--) {
			uint32_t pick = (uint32_t)(ut_rand() % npool);
			struct virtq_elem tmp = pool[pick];

			virtq_push(&g_vq, &pool[pick], pool[pick].in_len);
			pool[pick] = pool[--npool];
			pool[npool] = tmp;
		}
		virtq_flush(&g_vq, 0);
		while (ut_packed_get_used(&g_d, &id, &len)) {
			assert_int_equal(len, expect_len[id]);
			free_ids[nfree++] = id;
			done++;
		}
		assert_false(g_vq.broken);
		if (!restarted && done > total / 2 && npool == 0) {
			/* Clean stop: nothing in flight; restart from the bases. */
			struct virtq_config cfg = ut_cfg(SIZE, true, true, false);

			cfg.base = virtq_get_base(&g_vq);
			cfg.used_base = virtq_get_used_base(&g_vq);
			stop();
			ut_vq_init(&g_vq, &cfg, -1);
			restarted = true;
		}
	}
	assert_true(restarted);
	stop();
}

static double
bench(uint32_t batch)
{
	enum { SIZE = 256 };
	struct ut_buf b[3] = {
		{ UT_GPA_DATA, 16, 0 }, { UT_GPA_DATA + 4096, 4096, WR }, { UT_GPA_DATA + 64, 1, WR }
	};
	struct virtq_elem e[64];
	double med;
	uint64_t n = 0, batches = 0, *samples = calloc(1000000, sizeof(uint64_t));
	uint16_t id;
	uint32_t len;

	start(SIZE, false, false);
	g_d.drv->flags = VRING_PACKED_EVENT_FLAG_DISABLE; /* a polling guest */
	for (uint32_t i = 0; i < 64; i++) {
		e[i] = elem_new(4);
		e[i].iov = &g_iov[i * 4];
	}
	while (n < 1000000) {
		uint64_t t0;

		for (uint32_t i = 0; i < batch; i++) {
			ut_packed_post(&g_d, b, 3, (uint16_t)i);
		}
		t0 = spur_get_ticks();
		for (uint32_t i = 0; i < batch; i++) {
			virtq_pop(&g_vq, &e[i]);
		}
		for (uint32_t i = 0; i < batch; i++) {
			virtq_push(&g_vq, &e[i], 4097);
		}
		virtq_flush(&g_vq, t0);
		samples[batches] = spur_get_ticks() - t0;
		while (ut_packed_get_used(&g_d, &id, &len)) {
		}
		n += batch;
		batches++;
	}
	stop();
	/* The median batch: immune to the preemptions of a shared machine. */
	qsort(samples, batches, sizeof(*samples), ut_cmp_u64);
	med = (double)samples[batches / 2] - ut_tick_pair_ticks();
	free(samples);
	return med * 1e9 / (double)spur_get_ticks_hz() / (double)batch;
}

static double
best3(uint32_t batch)
{
	double best = 1e9;

	for (int i = 0; i < 3; i++) {
		best = SPUR_MIN(best, bench(batch));
	}
	return best;
}

static void
test_bench(void **state)
{
	print_message("packed pop+push+flush (3-desc chains, device side only):\n");
	print_message("  batch 1: %.1f ns/request (median batch, best of 3)\n", best3(1));
	print_message("  batch 32: %.1f ns/request (median batch, best of 3)\n", best3(32));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_chain),
		cmocka_unit_test(test_indirect),
		cmocka_unit_test(test_bad_chains),
		cmocka_unit_test(test_salvage),
		cmocka_unit_test(test_broken),
		cmocka_unit_test(test_event_suppression),
		cmocka_unit_test(test_set_notify),
		cmocka_unit_test(test_random_laps),
		cmocka_unit_test(test_bench),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
