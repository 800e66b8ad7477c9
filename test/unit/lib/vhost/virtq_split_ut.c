/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split virtqueue tests against a fake driver (virtq_ut.c): well-formed
 * chains (direct, indirect, readable then writable, crossing two memory
 * regions), every kind of hostile chain and index, what a BAD chain
 * offers for an error answer (its salvage), unwalkable chains breaking
 * the queue without being taken, EVENT_IDX and
 * NO_INTERRUPT signalling, notification suppression, interrupt coalescing,
 * a randomized out-of-order run over several 16-bit index wraps, and a
 * micro-benchmark of pop+push+flush.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "spur/util.h"
#include "virtq_ut.h"

#define NEXT VRING_DESC_F_NEXT
#define WR VRING_DESC_F_WRITE
#define IND VRING_DESC_F_INDIRECT

static struct iovec g_iov[UT_MAX_SIZE + 8];
static struct ut_split g_d;
static struct virtq g_vq;
static const char *g_broken_reason; /* of the last expect_broken */

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

/* A queue of size with features, driver at index start. */
static void
start(uint16_t size, bool event_idx, bool indirect, uint16_t start_idx)
{
	struct virtq_config cfg = ut_cfg(size, false, event_idx, indirect);

	ut_split_init(&g_d, size, start_idx);
	cfg.base = start_idx;
	ut_vq_init(&g_vq, &cfg, -1);
}

static void
stop(void)
{
	virtq_fini(&g_vq);
}

/*
 * Pop one chain expecting BAD with id head, answer it, queue still fine.
 * Returns the element (its iovecs in g_iov) for salvage checks.
 */
static struct virtq_elem
expect_bad(uint16_t head, uint32_t iov_max)
{
	struct virtq_elem e = elem_new(iov_max);
	uint32_t id, len;

	while (ut_split_get_used(&g_d, &id, &len)) {
		/* the driver catches up with earlier completions */
	}
	ut_split_post(&g_d, head);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_BAD);
	assert_int_equal(e.id, head);
	assert_int_equal(e.in_num + e.out_num, 0);
	assert_false(g_vq.broken);
	virtq_push(&g_vq, &e, 0);
	assert_int_equal(virtq_flush(&g_vq, 0), 1);
	assert_true(ut_split_get_used(&g_d, &id, &len));
	assert_int_equal(id, head);
	return e;
}

/*
 * Pop the unwalkable chain at head expecting the queue to break: BROKEN
 * with a reason, the head not taken (base unchanged, not in flight),
 * nothing pushed. Then restart the queue past it, as after a driver reset.
 */
static void
expect_broken(uint16_t head, uint32_t iov_max)
{
	struct virtq_elem e = elem_new(iov_max);
	struct virtq_config cfg = g_vq.cfg;
	uint32_t id, len;
	uint16_t base;

	while (ut_split_get_used(&g_d, &id, &len)) {
		/* the driver catches up with earlier completions */
	}
	base = virtq_get_base(&g_vq);
	ut_split_post(&g_d, head);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_BROKEN);
	assert_true(g_vq.broken);
	assert_non_null(g_vq.broken_reason);
	g_broken_reason = g_vq.broken_reason;
	assert_int_equal(virtq_get_base(&g_vq), base);
	assert_int_equal(g_vq.packed_desc_count[head], 0);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_BROKEN);
	assert_false(virtq_has_work(&g_vq));
	assert_int_equal(virtq_flush(&g_vq, 0), 0);
	assert_false(ut_split_get_used(&g_d, &id, &len));
	virtq_fini(&g_vq);
	cfg.base = (uint16_t)(base + 1);
	ut_vq_init(&g_vq, &cfg, -1);
	assert_false(g_vq.broken);
}

static void
test_basic_chain(void **state)
{
	struct virtq_elem e = elem_new(16);
	uint32_t id, len;

	start(16, false, false, 0);
	assert_false(virtq_has_work(&g_vq));
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_EMPTY);
	memcpy(ut_g2h(UT_GPA_DATA), "0123456789abcdef", 16);
	ut_split_desc(&g_d, 3, UT_GPA_DATA, 16, NEXT, 7);
	ut_split_desc(&g_d, 7, UT_GPA_DATA + 4096, 4096, WR | NEXT, 9);
	ut_split_desc(&g_d, 9, UT_GPA_DATA + 8192, 1, WR, 0);
	ut_split_post(&g_d, 3);
	assert_true(virtq_has_work(&g_vq));
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_OK);
	assert_int_equal(e.id, 3);
	assert_int_equal(e.out_num, 1);
	assert_int_equal(e.in_num, 2);
	assert_int_equal(e.in_len, 4097);
	assert_memory_equal(e.iov[0].iov_base, "0123456789abcdef", 16);
	assert_int_equal(e.iov[1].iov_len, 4096);
	*(uint8_t *)e.iov[2].iov_base = 0x5a;
	assert_int_equal(*(uint8_t *)ut_g2h(UT_GPA_DATA + 8192), 0x5a);
	virtq_push(&g_vq, &e, 4097);
	assert_false(ut_split_get_used(&g_d, &id, &len)); /* not published yet */
	assert_int_equal(virtq_flush(&g_vq, 0), 1);
	assert_true(ut_split_get_used(&g_d, &id, &len));
	assert_int_equal(id, 3);
	assert_int_equal(len, 4097);
	assert_int_equal(g_vq.stat_signals, 1);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_EMPTY);
	assert_int_equal(virtq_get_base(&g_vq), 1);
	stop();
}

static void
test_indirect(void **state)
{
	struct virtq_elem e = elem_new(16);
	struct vring_desc *t = ut_g2h(UT_GPA_DATA + 0x10000);

	start(16, false, true, 0);
	t[0] = (struct vring_desc){ UT_GPA_DATA, 16, NEXT, 2 };
	t[2] = (struct vring_desc){ UT_GPA_DATA + 4096, 512, WR | NEXT, 1 };
	t[1] = (struct vring_desc){ UT_GPA_DATA + 8192, 1, WR, 0 };
	ut_split_desc(&g_d, 5, UT_GPA_DATA + 0x10000, 48, IND, 0);
	ut_split_post(&g_d, 5);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_OK);
	assert_int_equal(e.id, 5);
	assert_int_equal(e.out_num, 1);
	assert_int_equal(e.in_num, 2);
	assert_int_equal(e.in_len, 513);
	virtq_push(&g_vq, &e, 1);
	virtq_flush(&g_vq, 0);

	/* Malformed tables: each BAD, never broken. */
	ut_split_desc(&g_d, 5, UT_GPA_DATA + 0x10000, 0, IND, 0);
	expect_bad(5, 16);
	ut_split_desc(&g_d, 5, UT_GPA_DATA + 0x10000, 40, IND, 0);
	expect_bad(5, 16);
	ut_split_desc(&g_d, 5, UT_GPA_DATA + 0x10000, 48, IND | NEXT, 6);
	expect_bad(5, 16);
	ut_split_desc(&g_d, 5, UT_GPA_END - 16, 48, IND, 0);     /* table past memory */
	expect_bad(5, 16);
	t[1] = (struct vring_desc){ UT_GPA_DATA + 0x10000, 48, IND, 0 }; /* nested */
	ut_split_desc(&g_d, 5, UT_GPA_DATA + 0x10000, 48, IND, 0);
	expect_bad(5, 16);
	/* Unwalkable tables break the queue. */
	t[1] = (struct vring_desc){ UT_GPA_DATA + 8192, 1, WR | NEXT, 2 }; /* loop 0-2-1-2 */
	expect_broken(5, 16);
	t[1] = (struct vring_desc){ UT_GPA_DATA + 8192, 1, WR | NEXT, 3 }; /* next past table */
	expect_broken(5, 16);
	/* Indirect after a direct descriptor. */
	t[1] = (struct vring_desc){ UT_GPA_DATA + 8192, 1, WR, 0 };
	ut_split_desc(&g_d, 4, UT_GPA_DATA, 16, NEXT, 5);
	expect_bad(4, 16);
	stop();

	/* Not negotiated. */
	start(16, false, false, 0);
	ut_split_desc(&g_d, 5, UT_GPA_DATA + 0x10000, 48, IND, 0);
	expect_bad(5, 16);
	stop();
}

static void
test_order_and_lengths(void **state)
{
	struct virtq_elem e = elem_new(UT_MAX_SIZE);

	start(16, false, true, 0);
	/* Writable then readable. */
	ut_split_desc(&g_d, 0, UT_GPA_DATA, 16, WR | NEXT, 1);
	ut_split_desc(&g_d, 1, UT_GPA_DATA + 16, 16, 0, 0);
	expect_bad(0, 16);
	/* Zero-length descriptor. */
	ut_split_desc(&g_d, 0, UT_GPA_DATA, 0, 0, 0);
	expect_bad(0, 16);
	/* One 4 GiB - 1 descriptor is fine (region B is 8 GiB, never touched). */
	ut_split_desc(&g_d, 0, UT_REGION_B_GPA, UINT32_MAX, WR, 0);
	ut_split_post(&g_d, 0);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_OK);
	assert_int_equal(e.in_len, UINT32_MAX);
	virtq_push(&g_vq, &e, 0);
	virtq_flush(&g_vq, 0);
	/* Two overflow 32 bits. */
	ut_split_desc(&g_d, 0, UT_REGION_B_GPA, UINT32_MAX, WR | NEXT, 1);
	ut_split_desc(&g_d, 1, UT_REGION_B_GPA, 1, WR, 0);
	expect_bad(0, 16);
	/* Many 4 GiB - 1 descriptors through an indirect table. */
	{
		struct vring_desc *t = ut_g2h(UT_GPA_DATA + 0x10000);

		for (int i = 0; i < 64; i++) {
			t[i] = (struct vring_desc){ UT_REGION_B_GPA + (uint64_t)i * 4096, UINT32_MAX,
						    (uint16_t)(WR | (i < 63 ? NEXT : 0)),
						    (uint16_t)(i + 1) };
		}
		ut_split_desc(&g_d, 2, UT_GPA_DATA + 0x10000, 64 * 16, IND, 0);
		expect_bad(2, UT_MAX_SIZE);
	}
	/* Outside guest memory: past the end, straddling it, wrapping 64 bits. */
	ut_split_desc(&g_d, 0, UT_GPA_END, 16, 0, 0);
	expect_bad(0, 16);
	ut_split_desc(&g_d, 0, UT_GPA_END - 10, 20, 0, 0);
	expect_bad(0, 16);
	ut_split_desc(&g_d, 0, UINT64_MAX - 15, 32, 0, 0);
	expect_bad(0, 16);
	/* More iovecs than the caller's array. */
	for (uint16_t i = 0; i < 5; i++) {
		ut_split_desc(&g_d, i, UT_GPA_DATA + i * 64u, 16, i < 4 ? NEXT : 0, (uint16_t)(i + 1));
	}
	expect_bad(0, 4);
	stop();
}

static void
test_cross_region(void **state)
{
	struct virtq_elem e = elem_new(16);
	uint8_t buf[200], got[200];
	uint64_t gpa = UT_REGION_B_GPA - 100;
	size_t off = 0;
	bool adjacent;

	start(16, false, false, 0);
	for (int i = 0; i < 200; i++) {
		buf[i] = (uint8_t)(i * 7 + 1);
		*(uint8_t *)ut_g2h(gpa + (uint64_t)i) = buf[i];
	}
	ut_split_desc(&g_d, 1, gpa, 200, 0, 0);
	ut_split_post(&g_d, 1);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_OK);
	adjacent = g_ut.mem->regions[0].host + UT_REGION_A_SIZE == g_ut.mem->regions[1].host;
	assert_int_equal(e.out_num, adjacent ? 1 : 2);
	for (uint32_t i = 0; i < e.out_num; i++) {
		memcpy(got + off, e.iov[i].iov_base, e.iov[i].iov_len);
		off += e.iov[i].iov_len;
	}
	assert_int_equal(off, 200);
	assert_memory_equal(got, buf, 200);
	virtq_push(&g_vq, &e, 0);
	virtq_flush(&g_vq, 0);
	if (!adjacent) {
		expect_bad(1, 1); /* needs two iovecs */
	}
	stop();
}

static void
test_loops(void **state)
{
	struct virtq_elem e = elem_new(UT_MAX_SIZE);
	const uint16_t size = 64;

	start(size, false, false, 0);
	ut_split_desc(&g_d, 0, UT_GPA_DATA, 16, NEXT, 1);
	ut_split_desc(&g_d, 1, UT_GPA_DATA, 16, NEXT, 0);
	expect_broken(0, UT_MAX_SIZE);
	ut_split_desc(&g_d, 5, UT_GPA_DATA, 16, NEXT, 5);
	expect_broken(5, UT_MAX_SIZE);
	ut_split_desc(&g_d, 5, UT_GPA_DATA, 16, NEXT, size); /* next out of range */
	expect_broken(5, UT_MAX_SIZE);
	/* A chain through every descriptor is fine; one more (a cycle) is not. */
	for (uint16_t i = 0; i < size; i++) {
		ut_split_desc(&g_d, i, UT_GPA_DATA + i * 16u, 16, i + 1 < size ? NEXT : 0,
			      (uint16_t)(i + 1));
	}
	ut_split_post(&g_d, 0);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_OK);
	assert_int_equal(e.out_num, size);
	virtq_push(&g_vq, &e, 0);
	virtq_flush(&g_vq, 0);
	ut_split_desc(&g_d, size - 1, UT_GPA_DATA, 16, NEXT, 0);
	expect_broken(0, UT_MAX_SIZE);
	stop();
}

/*
 * The salvage of BAD chains (virtq.h, "Malformed chains"): the first and
 * last device-writable descriptors of every walkable chain, direct and
 * indirect, and nothing for chains that cannot be followed to their end.
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
	struct vring_desc *t = ut_g2h(T);
	struct virtq_elem e;

	start(16, false, true, 0);
	/* Readable after writable: header, data, a stray readable, status. */
	ut_split_desc(&g_d, 0, A, 16, NEXT, 1);
	ut_split_desc(&g_d, 1, B, 512, WR | NEXT, 2);
	ut_split_desc(&g_d, 2, C, 64, NEXT, 3);
	ut_split_desc(&g_d, 3, S, 1, WR, 0);
	e = expect_bad(0, 16);
	ut_expect_salvage(&e, B, 512, S, 1);
	/* The only writable one before the stray readable: first == last. */
	ut_split_desc(&g_d, 1, S, 1, WR | NEXT, 2);
	ut_split_desc(&g_d, 2, C, 64, 0, 0);
	e = expect_bad(0, 16);
	ut_expect_salvage(&e, S, 1, S, 1);
	/* A readable buffer outside guest memory in the middle. */
	ut_split_desc(&g_d, 1, UT_GPA_END, 16, NEXT, 2);
	ut_split_desc(&g_d, 2, B, 512, WR | NEXT, 3);
	ut_split_desc(&g_d, 3, S, 1, WR, 0);
	e = expect_bad(0, 16);
	ut_expect_salvage(&e, B, 512, S, 1);
	/* The last writable one outside (straddling the end): nowhere to put a status. */
	ut_split_desc(&g_d, 1, B, 512, WR | NEXT, 2);
	ut_split_desc(&g_d, 2, UT_GPA_END - 1, 2, WR, 0);
	e = expect_bad(0, 16);
	ut_expect_salvage(&e, B, 512, NONE);
	/* The first writable one wraps 64 bits; zero length last. */
	ut_split_desc(&g_d, 1, UINT64_MAX - 15, 32, WR | NEXT, 2);
	ut_split_desc(&g_d, 2, S, 1, WR, 0);
	e = expect_bad(0, 16);
	ut_expect_salvage(&e, NONE, S, 1);
	ut_split_desc(&g_d, 1, B, 512, WR | NEXT, 2);
	ut_split_desc(&g_d, 2, S, 0, WR, 0);
	e = expect_bad(0, 16);
	ut_expect_salvage(&e, B, 512, NONE);
	/* Total length overflow: both descriptors still lie in guest memory. */
	ut_split_desc(&g_d, 1, UT_REGION_B_GPA, UINT32_MAX, WR | NEXT, 2);
	ut_split_desc(&g_d, 2, S, 1, WR, 0);
	e = expect_bad(0, 16);
	ut_expect_salvage(&e, UT_REGION_B_GPA, UINT32_MAX, S, 1);
	/* More iovecs than the caller's array: the readable ones are dropped. */
	for (uint16_t i = 0; i < 4; i++) {
		ut_split_desc(&g_d, i, A + 16u * i, 16, NEXT, (uint16_t)(i + 1));
	}
	ut_split_desc(&g_d, 4, B, 8, WR | NEXT, 5);
	ut_split_desc(&g_d, 5, S, 1, WR, 0);
	e = expect_bad(0, 4);
	ut_expect_salvage(&e, B, 8, S, 1);
	/* A writable buffer across the two regions (two iovecs unless adjacent). */
	ut_split_desc(&g_d, 0, A, 16, NEXT, 1);
	ut_split_desc(&g_d, 1, UT_REGION_B_GPA - 100, 200, WR | NEXT, 2);
	ut_split_desc(&g_d, 2, C, 64, 0, 0);
	e = expect_bad(0, 16);
	ut_expect_salvage(&e, UT_REGION_B_GPA - 100, 200, UT_REGION_B_GPA - 100, 200);

	/* Indirect: the same inside a table. */
	t[0] = (struct vring_desc){ A, 16, NEXT, 1 };
	t[1] = (struct vring_desc){ B, 512, WR | NEXT, 2 };
	t[2] = (struct vring_desc){ C, 64, NEXT, 3 };
	t[3] = (struct vring_desc){ S, 1, WR, 0 };
	ut_split_desc(&g_d, 5, T, 64, IND, 0);
	e = expect_bad(5, 16);
	ut_expect_salvage(&e, B, 512, S, 1);
	t[2] = (struct vring_desc){ UT_GPA_END, 64, NEXT, 3 }; /* outside */
	e = expect_bad(5, 16);
	ut_expect_salvage(&e, B, 512, S, 1);
	t[2] = (struct vring_desc){ T, 64, IND | NEXT, 3 };     /* nested: stepped over */
	e = expect_bad(5, 16);
	ut_expect_salvage(&e, B, 512, S, 1);
	t[2] = (struct vring_desc){ C, 64, WR | NEXT, 3 };
	/* An indirect descriptor with NEXT is stepped over, not read as a table. */
	ut_split_desc(&g_d, 5, T, 64, IND | NEXT, 6);
	ut_split_desc(&g_d, 6, S + 8, 1, WR, 0);
	e = expect_bad(5, 16);
	ut_expect_salvage(&e, S + 8, 1, S + 8, 1);
	/* After a direct descriptor: stepped over too. */
	ut_split_desc(&g_d, 4, B, 512, WR | NEXT, 5);
	ut_split_desc(&g_d, 5, T, 64, IND, 0);
	e = expect_bad(4, 16);
	ut_expect_salvage(&e, B, 512, B, 512);
	ut_split_desc(&g_d, 4, A, 16, NEXT, 5);
	e = expect_bad(4, 16);
	ut_expect_salvage(&e, NONE, NONE);
	/* A table of 1000 entries that turns bad at the second is walked... */
	t[0] = (struct vring_desc){ B, 512, WR | NEXT, 1 };
	for (uint16_t i = 1; i < 2000; i++) {
		t[i] = (struct vring_desc){ A, 16, NEXT, (uint16_t)(i + 1) };
	}
	t[999].flags = 0;
	ut_split_desc(&g_d, 5, T, 1000 * 16, IND, 0);
	e = expect_bad(5, 16);
	ut_expect_salvage(&e, B, 512, B, 512);
	/* ... one of 2000 is not (VIRTQ_WALK_MAX). */
	t[999].flags = NEXT;
	t[1999].flags = 0;
	ut_split_desc(&g_d, 5, T, 2000 * 16, IND, 0);
	expect_broken(5, 16);
	assert_non_null(strstr(g_broken_reason, "VIRTQ_WALK_MAX"));

	/* Chains that cannot be followed break the queue, writable parts or not. */
	ut_split_desc(&g_d, 0, B, 512, WR | NEXT, 1);          /* loop */
	ut_split_desc(&g_d, 1, S, 1, WR | NEXT, 0);
	expect_broken(0, 16);
	assert_non_null(strstr(g_broken_reason, "loops"));
	ut_split_desc(&g_d, 1, S, 1, WR | NEXT, 16);           /* next out of range */
	expect_broken(0, 16);
	assert_non_null(strstr(g_broken_reason, "out of range"));
	t[0] = (struct vring_desc){ A, 16, NEXT, 1 };           /* loop in a table */
	t[1] = (struct vring_desc){ S, 1, WR | NEXT, 0 };
	ut_split_desc(&g_d, 5, T, 32, IND, 0);
	expect_broken(5, 16);
	t[1] = (struct vring_desc){ S, 1, WR | NEXT, 2 };       /* next past the table */
	expect_broken(5, 16);
	stop();
}

#undef A
#undef B
#undef C
#undef S
#undef T
#undef NONE

static void
test_broken_indices(void **state)
{
	struct virtq_elem e = elem_new(16), e2 = elem_new(16);

	/* Head out of range. */
	start(16, false, false, 0);
	ut_split_post(&g_d, 16);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_BROKEN);
	assert_true(g_vq.broken);
	assert_non_null(g_vq.broken_reason);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_BROKEN);
	assert_false(virtq_has_work(&g_vq));
	stop();

	/* avail->idx jumps more than size ahead (also from a wrapped start). */
	start(16, false, false, 65530);
	ut_split_desc(&g_d, 0, UT_GPA_DATA, 16, 0, 0);
	g_d.avail->idx = (uint16_t)(65530 + 17);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_BROKEN);
	stop();
	start(16, false, false, 65530);
	ut_split_desc(&g_d, 0, UT_GPA_DATA, 16, 0, 0);
	g_d.avail->idx = (uint16_t)(65530 + 16); /* exactly size: fine */
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_OK);
	stop();

	/* The same head offered twice while in flight. */
	start(16, false, false, 0);
	ut_split_desc(&g_d, 2, UT_GPA_DATA, 16, 0, 0);
	ut_split_post(&g_d, 2);
	ut_split_post(&g_d, 2);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_OK);
	assert_int_equal(virtq_pop(&g_vq, &e2), VIRTQ_POP_BROKEN);
	stop();
}

/* EVENT_IDX: a signal exactly when used_event lies in the published window. */
static void
test_event_idx(void **state)
{
	struct virtq_elem e[8];
	int efd = eventfd(0, EFD_NONBLOCK);
	struct virtq_config cfg = ut_cfg(64, false, true, false);
	uint16_t used = 65500;
	uint64_t cnt;

	assert_true(efd >= 0);
	ut_split_init(&g_d, 64, used);
	cfg.base = used;
	ut_vq_init(&g_vq, &cfg, efd);
	ut_split_desc(&g_d, 0, UT_GPA_DATA, 16, 0, 0);
	ut_srand(7);
	for (int round = 0; round < 4000; round++) {
		uint32_t k = 1 + (uint32_t)(ut_rand() % 8), id, len;
		uint16_t event, old = used;
		uint64_t before = g_vq.stat_signals;
		bool expect;

		for (uint32_t i = 0; i < k; i++) {
			ut_split_desc(&g_d, (uint16_t)i, UT_GPA_DATA, 16, 0, 0);
			ut_split_post(&g_d, (uint16_t)i);
			e[i] = elem_new(4);
			e[i].iov = &g_iov[i * 4];
			assert_int_equal(virtq_pop(&g_vq, &e[i]), VIRTQ_POP_OK);
		}
		for (uint32_t i = 0; i < k; i++) {
			virtq_push(&g_vq, &e[k - 1 - i], 0);
		}
		used = (uint16_t)(used + k);
		switch (round % 5) {
		case 0: event = old; break;                        /* first new entry */
		case 1: event = (uint16_t)(used - 1); break;       /* last new entry */
		case 2: event = used; break;                       /* the next one: no */
		case 3: event = (uint16_t)(old - 1); break;        /* already passed: no */
		default: event = (uint16_t)(old + ut_rand() % 12 - 2); break;
		}
		*ut_split_used_event(&g_d) = event;
		expect = round == 0 || vring_need_event(event, used, old);
		assert_int_equal(virtq_flush(&g_vq, 0), k);
		assert_int_equal(g_vq.stat_signals - before, expect ? 1 : 0);
		if (expect) {
			assert_int_equal(read(efd, &cnt, sizeof(cnt)), 8);
			assert_int_equal(cnt, 1);
		} else {
			assert_int_equal(read(efd, &cnt, sizeof(cnt)), -1);
		}
		while (ut_split_get_used(&g_d, &id, &len)) {
		}
		assert_int_equal(g_d.used_seen, used);
	}
	/* An empty flush signals nothing. */
	assert_int_equal(virtq_flush(&g_vq, 0), 0);
	assert_false(virtq_signal_pending(&g_vq));
	stop();
	close(efd);
}

static void
test_no_interrupt(void **state)
{
	struct virtq_elem e = elem_new(4);

	start(16, false, false, 0);
	ut_split_desc(&g_d, 0, UT_GPA_DATA, 16, 0, 0);
	for (int i = 0; i < 6; i++) {
		bool suppress = i % 2 == 1;

		g_d.avail->flags = suppress ? VRING_AVAIL_F_NO_INTERRUPT : 0;
		ut_split_post(&g_d, 0);
		assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_OK);
		virtq_push(&g_vq, &e, 0);
		assert_int_equal(virtq_flush(&g_vq, 0), 1);
		assert_int_equal(g_vq.stat_signals, (uint64_t)(i / 2 + 1));
	}
	stop();
}

static void
test_set_notify(void **state)
{
	struct virtq_elem e = elem_new(4);

	start(16, false, false, 0);
	virtq_set_notify(&g_vq, false);
	assert_int_equal(g_d.used->flags, VRING_USED_F_NO_NOTIFY);
	virtq_set_notify(&g_vq, true);
	assert_int_equal(g_d.used->flags, 0);
	stop();

	start(16, true, false, 100);
	ut_split_desc(&g_d, 0, UT_GPA_DATA, 16, 0, 0);
	ut_split_post(&g_d, 0);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_OK);
	virtq_set_notify(&g_vq, true);
	assert_int_equal(*ut_split_avail_event(&g_d), 101);
	assert_false(virtq_has_work(&g_vq));
	/* Driver's side: it kicks iff its new index crosses avail_event. */
	assert_true(vring_need_event(*ut_split_avail_event(&g_d), 102, 101));
	virtq_push(&g_vq, &e, 0);
	virtq_flush(&g_vq, 0);
	stop();
}

/* Coalescing: fewer signals at a high rate, none lost, none delayed at a low one. */
static void
test_coalescing(void **state)
{
	struct virtq_elem e = elem_new(4);
	uint64_t t, last_pub = 0, last_sig = 0, before;

	start(256, false, false, 0);
	g_vq.ticks_hz = 1000000; /* one tick = 1 us */
	virtq_set_coalescing(&g_vq, 100, 10000);
	ut_split_desc(&g_d, 0, UT_GPA_DATA, 16, 0, 0);
	for (t = 1; t <= 20000; t++) { /* 1M IOPS for 20 ms */
		uint32_t id, len;

		ut_split_post(&g_d, 0);
		assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_OK);
		virtq_push(&g_vq, &e, 0);
		before = g_vq.stat_signals;
		assert_int_equal(virtq_flush(&g_vq, t), 1);
		last_pub = t;
		if (g_vq.stat_signals != before) {
			assert_true(last_sig == 0 || t - last_sig >= 100 || t <= 1001);
			last_sig = t;
		}
		assert_true(ut_split_get_used(&g_d, &id, &len));
	}
	print_message("coalescing: %" PRIu64 " signals for 20000 completions\n", g_vq.stat_signals);
	assert_true(g_vq.stat_signals < 1400);
	assert_true(g_vq.stat_signals > 100);
	/* The last completion is signalled within the delay by later flushes. */
	for (t = last_pub + 1; virtq_signal_pending(&g_vq); t++) {
		before = g_vq.stat_signals;
		assert_int_equal(virtq_flush(&g_vq, t), 0);
		if (g_vq.stat_signals != before) {
			last_sig = t;
		}
		assert_true(t <= last_pub + 101);
	}
	assert_true(last_sig >= last_pub && last_sig <= last_pub + 101);

	/* A low rate: every completion signalled at once. */
	for (int i = 0; i < 20; i++) {
		t += 10000;
		ut_split_post(&g_d, 0);
		assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_OK);
		virtq_push(&g_vq, &e, 0);
		before = g_vq.stat_signals;
		virtq_flush(&g_vq, t);
		assert_int_equal(g_vq.stat_signals, before + 1);
		assert_false(virtq_signal_pending(&g_vq));
	}
	stop();
}

/* Random chains, out-of-order completion, batches, several index wraps. */
static void
test_random_wrap(void **state)
{
	enum { SIZE = 128, POOL = 64 };
	static struct virtq_elem pool[POOL];
	static struct iovec iovs[POOL][8];
	static uint32_t expect_len[SIZE];
	static bool outstanding[SIZE];
	uint16_t free_list[SIZE], nfree = SIZE;
	uint32_t npool = 0, done = 0, posted = 0;
	const uint32_t total = 3 * 65536 + 1000;

	start(SIZE, true, false, 65000);
	for (uint32_t i = 0; i < POOL; i++) {
		pool[i] = elem_new(8);
		pool[i].iov = iovs[i];
	}
	for (uint16_t i = 0; i < SIZE; i++) {
		free_list[i] = (uint16_t)(SIZE - 1 - i);
	}
	ut_srand(42);
	while (done < total) {
		uint32_t id, len;

		/* Driver: post a few chains of 1-4 descriptors. */
		for (int k = (int)(ut_rand() % 6); k > 0 && posted < total; k--) {
			uint16_t n = (uint16_t)(1 + ut_rand() % 4), ids[4], head;
			uint16_t nwr = (uint16_t)(ut_rand() % (n + 1));
			uint32_t wlen = 0;

			if (nfree < n) {
				break;
			}
			for (uint16_t j = 0; j < n; j++) {
				ids[j] = free_list[--nfree];
			}
			for (uint16_t j = 0; j < n; j++) {
				bool w = j >= n - nwr;
				uint32_t l = 1 + (uint32_t)(ut_rand() % 3000);

				wlen += w ? l : 0;
				ut_split_desc(&g_d, ids[j], UT_GPA_DATA + (ut_rand() % 1000) * 512, l,
					      (uint16_t)((w ? WR : 0) | (j + 1 < n ? NEXT : 0)),
					      j + 1 < n ? ids[j + 1] : 0);
			}
			head = ids[0];
			expect_len[head] = wlen;
			outstanding[head] = true;
			ut_split_post(&g_d, head);
			posted++;
		}
		/* Device: pop what fits, complete a random subset, flush. */
		while (npool < POOL) {
			if (virtq_pop(&g_vq, &pool[npool]) != VIRTQ_POP_OK) {
				break;
			}
			npool++;
		}
		for (int k = (int)(ut_rand() % 8); k > 0 && npool > 0; k--) {
			uint32_t pick = (uint32_t)(ut_rand() % npool);
			struct virtq_elem tmp = pool[pick];

			virtq_push(&g_vq, &pool[pick], pool[pick].in_len);
			pool[pick] = pool[--npool]; /* swap: each keeps its iov array */
			pool[npool] = tmp;
		}
		virtq_flush(&g_vq, 0);
		/* Driver: reap, return descriptors to the free list. */
		while (ut_split_get_used(&g_d, &id, &len)) {
			uint16_t i = (uint16_t)id;

			assert_true(id < SIZE && outstanding[id]);
			assert_int_equal(len, expect_len[id]);
			outstanding[id] = false;
			for (;;) {
				free_list[nfree++] = i;
				if (!(g_d.desc[i].flags & NEXT)) {
					break;
				}
				i = g_d.desc[i].next;
			}
			done++;
		}
		assert_false(g_vq.broken);
	}
	stop();
}

static double
bench(uint32_t batch, int call_fd)
{
	enum { SIZE = 256 };
	struct virtq_config cfg = ut_cfg(SIZE, false, false, false);
	struct virtq_elem e[64];
	double med;
	uint64_t n = 0, batches = 0, *samples = calloc(1000000, sizeof(uint64_t));
	uint32_t id, len;

	ut_split_init(&g_d, SIZE, 0);
	ut_vq_init(&g_vq, &cfg, call_fd);
	g_d.avail->flags = VRING_AVAIL_F_NO_INTERRUPT; /* a polling guest */
	for (uint16_t i = 0; i < SIZE; i += 3) { /* virtio-blk shape: hdr, data, status */
		ut_split_desc(&g_d, i, UT_GPA_DATA, 16, NEXT, (uint16_t)(i + 1));
		ut_split_desc(&g_d, (uint16_t)(i + 1), UT_GPA_DATA + 4096, 4096, WR | NEXT, (uint16_t)(i + 2));
		ut_split_desc(&g_d, (uint16_t)(i + 2), UT_GPA_DATA + 64, 1, WR, 0);
	}
	for (uint32_t i = 0; i < 64; i++) {
		e[i] = elem_new(4);
		e[i].iov = &g_iov[i * 4];
	}
	while (n < 1000000) {
		uint64_t t0;

		for (uint32_t i = 0; i < batch; i++) {
			ut_split_post(&g_d, (uint16_t)(i * 3));
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
		while (ut_split_get_used(&g_d, &id, &len)) {
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
best3(uint32_t batch, int call_fd)
{
	double best = 1e9;

	for (int i = 0; i < 3; i++) {
		best = SPUR_MIN(best, bench(batch, call_fd));
	}
	return best;
}

static void
test_bench(void **state)
{
	print_message("split pop+push+flush (3-desc chains, device side only):\n");
	print_message("  batch 1: %.1f ns/request (median batch, best of 3)\n", best3(1, -1));
	print_message("  batch 32: %.1f ns/request (median batch, best of 3)\n", best3(32, -1));
}

static void
test_init_and_set_mem(void **state)
{
	struct virtq_config cfg = ut_cfg(16, false, true, false);
	struct vhost_mem_desc only_b = { .gpa = UT_REGION_B_GPA, .size = UT_REGION_B_SIZE,
					 .uva = UT_UVA_BASE + UT_REGION_B_GPA,
					 .mmap_offset = UT_REGION_B_OFF, .fd = dup(g_ut.fd) };
	struct vhost_mem *mem2;
	struct virtq_elem e = elem_new(4);
	const char *err = NULL;

	cfg.size = 0;
	assert_int_equal(virtq_init(&g_vq, &cfg, g_ut.mem, -1, &err), -EINVAL);
	cfg.size = 24; /* split sizes are powers of two */
	assert_int_equal(virtq_init(&g_vq, &cfg, g_ut.mem, -1, &err), -EINVAL);
	cfg.size = 16;
	cfg.used_uva = UT_UVA_BASE + UT_REGION_A_SIZE - 8; /* crosses into region B */
	assert_int_equal(virtq_init(&g_vq, &cfg, g_ut.mem, -1, &err), -EINVAL);
	cfg.used_uva = UT_UVA_BASE + UT_GPA_USED + 2; /* misaligned */
	assert_int_equal(virtq_init(&g_vq, &cfg, g_ut.mem, -1, &err), -EINVAL);
	cfg.used_uva = 0x1000; /* not a frontend address at all */
	assert_int_equal(virtq_init(&g_vq, &cfg, g_ut.mem, -1, &err), -EINVAL);
	assert_non_null(err);
	cfg = ut_cfg(16, true, false, false);
	cfg.base = 0x8000 | 16; /* packed index out of range */
	assert_int_equal(virtq_init(&g_vq, &cfg, g_ut.mem, -1, &err), -EINVAL);

	/* A memory table without the rings is refused; the old one stays. */
	start(16, false, false, 0);
	mem2 = vhost_mem_build(&only_b, 1, NULL, &err);
	assert_non_null(mem2);
	assert_int_equal(virtq_set_mem(&g_vq, mem2, &err), -EINVAL);
	ut_split_desc(&g_d, 0, UT_GPA_DATA, 16, 0, 0);
	ut_split_post(&g_d, 0);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_OK);
	virtq_push(&g_vq, &e, 0);
	virtq_flush(&g_vq, 0);
	/* The same table again (a new object): accepted, queue continues. */
	assert_int_equal(virtq_set_mem(&g_vq, g_ut.mem, &err), 0);
	ut_split_post(&g_d, 0);
	assert_int_equal(virtq_pop(&g_vq, &e), VIRTQ_POP_OK);
	virtq_push(&g_vq, &e, 0);
	assert_int_equal(virtq_flush(&g_vq, 0), 1);
	vhost_mem_put(mem2);
	stop();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_and_set_mem),
		cmocka_unit_test(test_basic_chain),
		cmocka_unit_test(test_indirect),
		cmocka_unit_test(test_order_and_lengths),
		cmocka_unit_test(test_cross_region),
		cmocka_unit_test(test_loops),
		cmocka_unit_test(test_salvage),
		cmocka_unit_test(test_broken_indices),
		cmocka_unit_test(test_event_idx),
		cmocka_unit_test(test_no_interrupt),
		cmocka_unit_test(test_set_notify),
		cmocka_unit_test(test_coalescing),
		cmocka_unit_test(test_random_wrap),
		cmocka_unit_test(test_bench),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
