/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inflight log tests. The virtqueue sources are compiled with
 * -DVIRTQ_CRASH_POINTS: virtq_crash_point() below longjmps out at the n-th
 * step boundary of the log protocol (mark, link, publish, clear, record),
 * which is what a process dying there leaves behind: guest memory and the
 * inflight region survive, the struct virtq does not. A deterministic
 * random scenario (driver posts, device pops, completes out of order,
 * flushes sometimes) is replayed once per crash point; after each crash a
 * new queue is attached to the same region and recovered, and we check that
 *   - the recovered ids are exactly the fetched requests the driver has not
 *     seen completed, oldest first, each re-readable with virtq_get_elem;
 *   - requests never fetched are popped again, nothing fetched is;
 *   - after resubmission every request is completed exactly once.
 * Plus region size/attach validation and the named cases (crash before any
 * completion, between publish and record, fetched but never submitted).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtq_internal.h"
#include "virtq_ut.h"

#define QSIZE 16
#define QIDX 1

static jmp_buf g_jmp;
static bool g_armed;
static uint64_t g_points, g_target;

void
virtq_crash_point(void)
{
	if (g_armed && ++g_points == g_target) {
		g_armed = false;
		longjmp(g_jmp, 1);
	}
}

static struct iovec g_iov[64];
static struct virtq g_vq;
static uint8_t *g_region;
static uint64_t g_region_size;
static bool g_packed;
static uint16_t g_start_idx;         /* split: ring indices start here */

/* Driver model: one request per tag; heads (split) / ids (packed) recycle. */
static struct ut_split g_sd;
static struct ut_packed g_pd;
static uint64_t g_next_tag;
static uint64_t g_tag_of[QSIZE];     /* per head/id while outstanding */
static bool g_out[QSIZE];            /* posted, not yet seen used by the driver */
static uint16_t g_free[QSIZE], g_nfree;
static uint64_t g_completed;         /* seen used by the driver */
/* Device model. */
static struct virtq_elem g_pool[QSIZE];
static struct iovec g_pool_iov[QSIZE][4];
static uint32_t g_npool;
static bool g_popped[1024];          /* by tag: a pop returned it to us */

static int
group_setup(void **state)
{
	ut_guest_init();
	g_region_size = virtq_inflight_region_size(2, QSIZE, true);
	assert_true(g_region_size >= virtq_inflight_region_size(2, QSIZE, false));
	g_region = aligned_alloc(64, g_region_size);
	assert_non_null(g_region);
	return 0;
}

static int
group_teardown(void **state)
{
	free(g_region);
	ut_guest_fini();
	return 0;
}

static uint64_t
data_gpa(uint16_t slot)
{
	return UT_GPA_DATA + slot * 64u;
}

static void
device_start(bool fresh)
{
	struct virtq_config cfg = ut_cfg(QSIZE, g_packed, false, false);

	if (!g_packed) {
		/* Fresh: where the ring starts. Else what QEMU sends after
		 * losing the backend: the used index. */
		cfg.base = fresh ? g_start_idx : g_sd.used->idx;
	}
	ut_vq_init(&g_vq, &cfg, -1);
	assert_int_equal(virtq_inflight_attach(&g_vq, g_region, g_region_size, QIDX, QSIZE,
					       g_packed, fresh), 0);
	g_npool = 0;
	for (uint32_t i = 0; i < QSIZE; i++) {
		g_pool[i] = (struct virtq_elem){ .iov = g_pool_iov[i], .iov_max = 4 };
	}
}

static void
reset_all(void)
{
	memset(g_region, 0xee, g_region_size);
	if (g_packed) {
		ut_packed_init(&g_pd, QSIZE);
	} else {
		ut_split_init(&g_sd, QSIZE, g_start_idx);
	}
	g_next_tag = 0;
	g_completed = 0;
	memset(g_out, 0, sizeof(g_out));
	memset(g_popped, 0, sizeof(g_popped));
	g_nfree = QSIZE;
	for (uint16_t i = 0; i < QSIZE; i++) {
		g_free[i] = (uint16_t)(QSIZE - 1 - i);
	}
	device_start(true);
}

/* Driver: post a request of 1-3 descriptors; the first holds the tag. */
static void
driver_post(void)
{
	uint64_t tag = g_next_tag;
	uint16_t n = (uint16_t)(1 + ut_rand() % 3);
	uint32_t len0 = ut_rand() % 8 == 0 ? 0 : 8; /* 0: a BAD chain */

	if (g_packed) {
		struct ut_buf b[3];
		uint16_t id;

		if (g_nfree == 0 || g_pd.free_descs < n) {
			return;
		}
		id = g_free[--g_nfree];
		memcpy(ut_g2h(data_gpa(id)), &tag, 8);
		b[0] = (struct ut_buf){ data_gpa(id), len0, 0 };
		for (uint16_t j = 1; j < n; j++) {
			b[j] = (struct ut_buf){ data_gpa(id) + 8u * j, 4, VRING_DESC_F_WRITE };
		}
		assert_true(ut_packed_post(&g_pd, b, n, id));
		g_tag_of[id] = tag;
		g_out[id] = true;
	} else {
		uint16_t d[3];

		if (g_nfree < n) {
			return;
		}
		for (uint16_t j = 0; j < n; j++) {
			d[j] = g_free[--g_nfree];
		}
		memcpy(ut_g2h(data_gpa(d[0])), &tag, 8);
		for (uint16_t j = 0; j < n; j++) {
			ut_split_desc(&g_sd, d[j], j == 0 ? data_gpa(d[0]) : data_gpa(d[0]) + 8u * j,
				      j == 0 ? len0 : 4,
				      (uint16_t)((j ? VRING_DESC_F_WRITE : 0) |
						 (j + 1 < n ? VRING_DESC_F_NEXT : 0)),
				      j + 1 < n ? d[j + 1] : 0);
		}
		ut_split_post(&g_sd, d[0]);
		g_tag_of[d[0]] = tag;
		g_out[d[0]] = true;
	}
	g_next_tag++;
}

/* Driver: take used entries; each must be outstanding (never twice). */
static void
driver_reap(void)
{
	uint32_t id32, len;
	uint16_t id;

	for (;;) {
		if (g_packed) {
			if (!ut_packed_get_used(&g_pd, &id, &len)) {
				return;
			}
			assert_true(g_out[id]);
			g_free[g_nfree++] = id;
		} else {
			if (!ut_split_get_used(&g_sd, &id32, &len)) {
				return;
			}
			id = (uint16_t)id32;
			assert_true(id < QSIZE && g_out[id]);
			for (uint16_t i = id;; i = g_sd.desc[i].next) {
				g_free[g_nfree++] = i;
				if (!(g_sd.desc[i].flags & VRING_DESC_F_NEXT)) {
					break;
				}
			}
		}
		g_out[id] = false;
		g_completed++;
	}
}

/* The request's tag: from its buffer, or for a BAD chain from the driver. */
static uint64_t
elem_tag(const struct virtq_elem *e, enum virtq_pop_result rc)
{
	uint64_t tag;

	if (rc == VIRTQ_POP_BAD) {
		assert_true(e->id < QSIZE && g_out[e->id]);
		return g_tag_of[e->id];
	}
	assert_int_equal(rc, VIRTQ_POP_OK);
	assert_true(e->out_num >= 1 && e->iov[0].iov_len == 8);
	memcpy(&tag, e->iov[0].iov_base, 8);
	return tag;
}

static void
device_pop(void)
{
	enum virtq_pop_result rc;

	if (g_npool < QSIZE) {
		rc = virtq_pop(&g_vq, &g_pool[g_npool]);
		if (rc == VIRTQ_POP_OK || rc == VIRTQ_POP_BAD) {
			g_popped[elem_tag(&g_pool[g_npool], rc)] = true;
			g_npool++;
		} else {
			assert_int_equal(rc, VIRTQ_POP_EMPTY);
		}
	}
}

static void
device_push_random(void)
{
	uint32_t pick;
	struct virtq_elem tmp;

	if (g_npool == 0) {
		return;
	}
	pick = (uint32_t)(ut_rand() % g_npool);
	tmp = g_pool[pick];
	virtq_push(&g_vq, &g_pool[pick], 4);
	g_pool[pick] = g_pool[--g_npool];
	g_pool[g_npool] = tmp;
}

static void
scenario(int steps)
{
	for (int s = 0; s < steps; s++) {
		for (int k = (int)(ut_rand() % 4); k > 0; k--) {
			driver_post();
		}
		for (int k = (int)(ut_rand() % 4); k > 0; k--) {
			device_pop();
		}
		for (int k = (int)(ut_rand() % 3); k > 0; k--) {
			device_push_random();
		}
		if (ut_rand() % 2) {
			virtq_flush(&g_vq, 0);
		}
		driver_reap();
	}
}

/* After a (simulated) restart: recover, check, resubmit, drain, check. */
static void
recover_and_check(void)
{
	uint16_t ids[QSIZE];
	int n;
	uint64_t last_tag = 0;
	bool in_rec[QSIZE] = { false };

	driver_reap(); /* whatever reached the used ring before the crash */
	virtq_fini(&g_vq);
	device_start(false);
	n = virtq_recover(&g_vq, ids);
	assert_true(n >= 0 && n <= QSIZE);
	for (int i = 0; i < n; i++) {
		struct virtq_elem *e = &g_pool[i];
		enum virtq_pop_result rc = virtq_get_elem(&g_vq, ids[i], e);
		uint64_t tag;

		assert_true(rc == VIRTQ_POP_OK || rc == VIRTQ_POP_BAD);
		assert_true(e->id < QSIZE && g_out[e->id]);
		tag = elem_tag(e, rc);
		assert_int_equal(tag, g_tag_of[e->id]);
		assert_true(i == 0 || tag > last_tag); /* oldest first */
		last_tag = tag;
		in_rec[e->id] = true;
	}
	/* Every request we had popped and the driver has not seen completed
	 * is recovered; every outstanding request not recovered is newer. */
	for (uint16_t id = 0; id < QSIZE; id++) {
		if (!g_out[id]) {
			continue;
		}
		if (g_popped[g_tag_of[id]]) {
			assert_true(in_rec[id]);
		}
		if (!in_rec[id] && n > 0) {
			assert_true(g_tag_of[id] > last_tag);
		}
	}
	/* Resubmit one at a time (the driver looks at each used entry before
	 * the next is written), then drain what was never fetched. */
	for (int i = 0; i < n; i++) {
		virtq_push(&g_vq, &g_pool[i], 4);
		virtq_flush(&g_vq, 0);
		driver_reap();
	}
	for (;;) {
		struct virtq_elem e = { .iov = g_iov, .iov_max = 4 };
		enum virtq_pop_result rc = virtq_pop(&g_vq, &e);

		if (rc == VIRTQ_POP_EMPTY) {
			break;
		}
		assert_true(g_out[e.id]);
		assert_int_equal(elem_tag(&e, rc), g_tag_of[e.id]);
		virtq_push(&g_vq, &e, 4);
		virtq_flush(&g_vq, 0);
		driver_reap();
	}
	assert_false(g_vq.broken);
	for (uint16_t id = 0; id < QSIZE; id++) {
		assert_false(g_out[id]); /* everything posted completed exactly once */
	}
	assert_int_equal(g_completed, g_next_tag);
	/* And the queue keeps working on the recovered region. */
	driver_post();
	if (g_completed != g_next_tag) {
		struct virtq_elem e = { .iov = g_iov, .iov_max = 4 };
		enum virtq_pop_result rc = virtq_pop(&g_vq, &e);

		assert_true(rc == VIRTQ_POP_OK || rc == VIRTQ_POP_BAD);
		virtq_push(&g_vq, &e, 4);
		virtq_flush(&g_vq, 0);
		driver_reap();
		assert_int_equal(g_completed, g_next_tag);
	}
	virtq_fini(&g_vq);
}

static void
crash_everywhere(bool packed, uint64_t seed, int steps)
{
	uint64_t total;

	g_packed = packed;
	/* A full run without crashing counts the crash points. */
	ut_srand(seed);
	reset_all();
	g_points = 0;
	g_target = UINT64_MAX;
	g_armed = true;
	scenario(steps);
	g_armed = false;
	total = g_points;
	virtq_fini(&g_vq);
	assert_true(total > 20);

	for (g_target = 1; g_target <= total; g_target++) {
		ut_srand(seed);
		reset_all();
		g_points = 0;
		g_armed = true;
		if (setjmp(g_jmp) == 0) {
			scenario(steps);
			fail_msg("crash point %" PRIu64 " not reached", g_target);
		}
		recover_and_check();
	}
	print_message("%s seed %" PRIu64 ": %" PRIu64 " crash points recovered\n",
		      packed ? "packed" : "split", seed, total);
}

static void
test_crash_split(void **state)
{
	crash_everywhere(false, 1, 40);
	crash_everywhere(false, 2, 60);
	g_start_idx = 65530; /* 16-bit indices wrap during the run */
	crash_everywhere(false, 3, 60);
	crash_everywhere(false, 4, 60);
	g_start_idx = 0;
}

static void
test_crash_packed(void **state)
{
	crash_everywhere(true, 1, 40);
	crash_everywhere(true, 2, 60);
	crash_everywhere(true, 3, 60);
}

/* (a) Nothing ever completed; head 0 is live and must survive recovery. */
static void
test_crash_before_first_completion(void **state)
{
	for (int p = 0; p < 3; p++) {
		g_packed = p == 1;
		g_start_idx = p == 2 ? 100 : 0; /* a ring that ran before the region */
		ut_srand(5);
		reset_all();
		driver_post();
		driver_post();
		driver_post();
		device_pop();
		device_pop();
		recover_and_check();
	}
	g_start_idx = 0;
}

/* (b) Published, not recorded: the region lags the used ring. */
static void
test_crash_after_publish(void **state)
{
	struct virtq_inflight_split *r;

	g_packed = false;
	ut_srand(6);
	reset_all();
	for (int i = 0; i < 4; i++) {
		driver_post();
		device_pop();
	}
	device_push_random();
	device_push_random();
	r = virtq_ifl_split(&g_vq);
	g_points = 0;
	g_target = 1; /* right after used->idx is stored */
	g_armed = true;
	if (setjmp(g_jmp) == 0) {
		virtq_flush(&g_vq, 0);
		fail();
	}
	assert_int_not_equal(r->used_idx, g_sd.used->idx);
	recover_and_check();
}

/* (c) Fetched (marked) and handed to us, never submitted: resubmitted once,
 * and the request behind it is popped (not skipped, not popped twice). */
static void
test_fetched_not_submitted(void **state)
{
	for (int p = 0; p < 2; p++) {
		g_packed = p;
		ut_srand(8);
		reset_all();
		driver_post();
		driver_post();
		driver_post();
		device_pop();
		device_pop();
		device_push_random();
		virtq_flush(&g_vq, 0);
		driver_reap();
		assert_int_equal(g_npool, 1);
		recover_and_check();
	}
}

static void
test_attach(void **state)
{
	struct virtq_config cfg = ut_cfg(QSIZE, false, false, false);
	struct virtq_inflight *q;
	uint64_t split_size = virtq_inflight_region_size(2, QSIZE, false);

	assert_int_equal(split_size % 64, 0);
	assert_int_equal(virtq_inflight_region_size(1, 256, false), 4160);
	assert_int_equal(virtq_inflight_region_size(1, 256, true), 8256);
	ut_split_init(&g_sd, QSIZE, 0);
	ut_vq_init(&g_vq, &cfg, -1);
	memset(g_region, 0, g_region_size);
	/* Too small, wrong layout, queue larger than the region's. */
	assert_int_equal(virtq_inflight_attach(&g_vq, g_region, split_size / 2, QIDX, QSIZE, false,
					       true), -EINVAL);
	assert_int_equal(virtq_inflight_attach(&g_vq, g_region, g_region_size, QIDX, QSIZE, true,
					       true), -EINVAL);
	assert_int_equal(virtq_inflight_attach(&g_vq, g_region, g_region_size, QIDX, 8, false,
					       true), -EINVAL);
	/* Version 0 (QEMU zeroed it): initialized as fresh. */
	assert_int_equal(virtq_inflight_attach(&g_vq, g_region, g_region_size, QIDX, QSIZE, false,
					       false), 0);
	q = (struct virtq_inflight *)(g_region + split_size / 2);
	assert_int_equal(q->version, 1);
	assert_int_equal(q->desc_num, QSIZE);
	assert_int_equal(virtq_ifl_split(&g_vq)->last_batch_head, 0xffff);
	/* A region from elsewhere: wrong version or size. */
	q->version = 2;
	assert_int_equal(virtq_inflight_attach(&g_vq, g_region, g_region_size, QIDX, QSIZE, false,
					       false), -EINVAL);
	q->version = 1;
	q->desc_num = 32;
	assert_int_equal(virtq_inflight_attach(&g_vq, g_region, g_region_size, QIDX, QSIZE, false,
					       false), -EINVAL);
	virtq_fini(&g_vq);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attach),
		cmocka_unit_test(test_crash_before_first_completion),
		cmocka_unit_test(test_crash_after_publish),
		cmocka_unit_test(test_fetched_not_submitted),
		cmocka_unit_test(test_crash_split),
		cmocka_unit_test(test_crash_packed),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
