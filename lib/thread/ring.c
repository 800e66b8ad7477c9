/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bounded MPSC message ring: see ring.h for the slot sequence protocol.
 *
 * Invariants: head - tail <= capacity; slots[p & mask].seq only ever grows;
 * a slot is written by exactly one producer per lap (the one whose CAS on
 * head claimed it) and read by the consumer only after seq == p + 1.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

int
thread_ring_init(struct thread_ring *ring, uint32_t capacity)
{
	size_t bytes;
	uint32_t i;

	if (capacity < 2 || (capacity & (capacity - 1)) != 0) {
		return -EINVAL;
	}
	memset(ring, 0, sizeof(*ring));
	bytes = (size_t)capacity * sizeof(struct thread_ring_slot);
	/* aligned_alloc wants a size multiple of the alignment. */
	bytes = (bytes + SPUR_CACHE_LINE - 1) & ~(size_t)(SPUR_CACHE_LINE - 1);
	ring->slots = aligned_alloc(SPUR_CACHE_LINE, bytes);
	if (ring->slots == NULL) {
		return -ENOMEM;
	}
	for (i = 0; i < capacity; i++) {
		atomic_init(&ring->slots[i].seq, i);
		ring->slots[i].fn = NULL;
		ring->slots[i].ctx = NULL;
	}
	ring->mask = capacity - 1;
	atomic_init(&ring->head, 0);
	ring->tail = 0;
	return 0;
}

void
thread_ring_fini(struct thread_ring *ring)
{
	free(ring->slots);
	ring->slots = NULL;
}

int
thread_ring_enqueue(struct thread_ring *ring, spur_msg_fn fn, void *ctx)
{
	struct thread_ring_slot *slot;
	uint64_t pos, seq;
	int64_t diff;

	pos = atomic_load_explicit(&ring->head, memory_order_relaxed);
	for (;;) {
		slot = &ring->slots[pos & ring->mask];
		seq = atomic_load_explicit(&slot->seq, memory_order_acquire);
		diff = (int64_t)(seq - pos);
		if (diff == 0) {
			/* Free for this lap: try to claim it. On failure pos is reloaded. */
			if (atomic_compare_exchange_weak_explicit(&ring->head, &pos, pos + 1,
								  memory_order_seq_cst,
								  memory_order_relaxed)) {
				break;
			}
		} else if (diff < 0) {
			/* The consumer has not released this slot from the previous lap. */
			return -ENOMEM;
		} else {
			/* Another producer claimed pos; catch up. */
			pos = atomic_load_explicit(&ring->head, memory_order_relaxed);
		}
	}
	slot->fn = fn;
	slot->ctx = ctx;
	atomic_store_explicit(&slot->seq, pos + 1, memory_order_release);
	return 0;
}

bool
thread_ring_dequeue(struct thread_ring *ring, spur_msg_fn *fn, void **ctx)
{
	uint64_t pos = ring->tail;
	struct thread_ring_slot *slot = &ring->slots[pos & ring->mask];

	if (atomic_load_explicit(&slot->seq, memory_order_acquire) != pos + 1) {
		return false;
	}
	*fn = slot->fn;
	*ctx = slot->ctx;
	/* Hand the slot to the producer of the next lap. */
	atomic_store_explicit(&slot->seq, pos + ring->mask + 1, memory_order_release);
	ring->tail = pos + 1;
	return true;
}

bool
thread_ring_empty(struct thread_ring *ring)
{
	return atomic_load_explicit(&ring->head, memory_order_seq_cst) == ring->tail;
}

uint32_t
thread_ring_capacity(const struct thread_ring *ring)
{
	return (uint32_t)(ring->mask + 1);
}
