/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the MPSC message ring (lib/thread/ring.c): order with one
 * producer, -ENOMEM when full and across laps, bad capacities, and two
 * producer pthreads racing one consumer with no message lost or duplicated.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ring.h"

#define MPSC_PER_PRODUCER (1u << 20)
#define MPSC_PRODUCERS 2

static void
msg_a(void *ctx)
{
	(void)ctx;
}

static void
msg_b(void *ctx)
{
	(void)ctx;
}

static void
test_ring_bad_capacity(void **state)
{
	struct thread_ring ring;

	assert_int_equal(thread_ring_init(&ring, 0), -EINVAL);
	assert_int_equal(thread_ring_init(&ring, 1), -EINVAL);
	assert_int_equal(thread_ring_init(&ring, 3), -EINVAL);
	assert_int_equal(thread_ring_init(&ring, 1000), -EINVAL);
	assert_int_equal(thread_ring_init(&ring, 2), 0);
	assert_int_equal(thread_ring_capacity(&ring), 2);
	thread_ring_fini(&ring);
}

static void
test_ring_order_and_full(void **state)
{
	struct thread_ring ring;
	spur_msg_fn fn;
	void *ctx;
	uintptr_t i, lap;

	assert_int_equal(thread_ring_init(&ring, 8), 0);
	assert_true(thread_ring_empty(&ring));
	assert_false(thread_ring_dequeue(&ring, &fn, &ctx));

	/* Several laps so every slot is reused with a higher sequence number. */
	for (lap = 0; lap < 5; lap++) {
		for (i = 0; i < 8; i++) {
			assert_int_equal(thread_ring_enqueue(&ring, (i & 1) ? msg_b : msg_a,
							     (void *)(lap * 100 + i)), 0);
		}
		assert_false(thread_ring_empty(&ring));
		assert_int_equal(thread_ring_enqueue(&ring, msg_a, NULL), -ENOMEM);
		for (i = 0; i < 8; i++) {
			assert_true(thread_ring_dequeue(&ring, &fn, &ctx));
			assert_ptr_equal(fn, (i & 1) ? msg_b : msg_a);
			assert_int_equal((uintptr_t)ctx, lap * 100 + i);
		}
		assert_true(thread_ring_empty(&ring));
		assert_false(thread_ring_dequeue(&ring, &fn, &ctx));
	}

	/* Interleaved: one free slot made by a dequeue is usable at once. */
	for (i = 0; i < 8; i++) {
		assert_int_equal(thread_ring_enqueue(&ring, msg_a, (void *)i), 0);
	}
	for (i = 8; i < 100; i++) {
		assert_true(thread_ring_dequeue(&ring, &fn, &ctx));
		assert_int_equal((uintptr_t)ctx, i - 8);
		assert_int_equal(thread_ring_enqueue(&ring, msg_a, (void *)i), 0);
		assert_int_equal(thread_ring_enqueue(&ring, msg_a, NULL), -ENOMEM);
	}
	thread_ring_fini(&ring);
}

struct producer {
	struct thread_ring *ring;
	uintptr_t id;
	uint64_t full_count;
};

static void *
producer_main(void *arg)
{
	struct producer *p = arg;
	uintptr_t seq;

	for (seq = 0; seq < MPSC_PER_PRODUCER; seq++) {
		while (thread_ring_enqueue(p->ring, msg_a, (void *)((p->id << 32) | seq)) != 0) {
			p->full_count++;
			sched_yield();
		}
	}
	return NULL;
}

static void
test_ring_mpsc(void **state)
{
	struct thread_ring ring;
	struct producer prod[MPSC_PRODUCERS];
	pthread_t tids[MPSC_PRODUCERS];
	uint64_t expected[MPSC_PRODUCERS] = { 0 };
	uint64_t received = 0, bad = 0;
	spur_msg_fn fn;
	void *ctx;
	uintptr_t id, seq;
	int i;

	assert_int_equal(thread_ring_init(&ring, 1024), 0);
	for (i = 0; i < MPSC_PRODUCERS; i++) {
		prod[i] = (struct producer) { .ring = &ring, .id = (uintptr_t)i };
		assert_int_equal(pthread_create(&tids[i], NULL, producer_main, &prod[i]), 0);
	}
	while (received < (uint64_t)MPSC_PRODUCERS * MPSC_PER_PRODUCER) {
		if (!thread_ring_dequeue(&ring, &fn, &ctx)) {
			continue;
		}
		id = (uintptr_t)ctx >> 32;
		seq = (uintptr_t)ctx & 0xffffffffu;
		/* Per-producer FIFO: the next one must be exactly the expected seq. */
		if (fn != msg_a || id >= MPSC_PRODUCERS || seq != expected[id]) {
			bad++;
			if (id < MPSC_PRODUCERS) {
				expected[id] = seq + 1;
			}
		} else {
			expected[id]++;
		}
		received++;
	}
	for (i = 0; i < MPSC_PRODUCERS; i++) {
		pthread_join(tids[i], NULL);
	}
	assert_int_equal(bad, 0);
	for (i = 0; i < MPSC_PRODUCERS; i++) {
		assert_int_equal(expected[i], MPSC_PER_PRODUCER);
	}
	assert_true(thread_ring_empty(&ring));
	assert_false(thread_ring_dequeue(&ring, &fn, &ctx));
	thread_ring_fini(&ring);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_bad_capacity),
		cmocka_unit_test(test_ring_order_and_full),
		cmocka_unit_test(test_ring_mpsc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
