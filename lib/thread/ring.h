/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bounded lock-free multi-producer single-consumer ring of messages.
 *
 * Owns: an array of power-of-two many slots, each holding one message
 * {fn, ctx} by value and a sequence number. The sequence number is the whole
 * protocol (D. Vyukov's bounded queue, reduced to one consumer):
 *   slot.seq == pos          the slot is free for the producer claiming pos;
 *   slot.seq == pos + 1      the message at pos is published, the consumer
 *                            may take it;
 *   slot.seq == pos + cap    the consumer released it for the next lap.
 * Producers claim a position with a CAS on 'head', fill the slot, then publish
 * it with a release store of seq. The consumer alone moves 'tail'.
 *
 * Threads: thread_ring_enqueue() from any OS thread, concurrently;
 * thread_ring_dequeue() and thread_ring_empty() only from the single consumer
 * (the OS thread currently polling the owning lightweight thread).
 * No allocation after thread_ring_init(); no locks.
 */
#ifndef SPUR_THREAD_RING_H
#define SPUR_THREAD_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "spur/thread.h"

struct thread_ring_slot {
	_Atomic uint64_t seq;
	spur_msg_fn fn;
	void *ctx;
};

struct thread_ring {
	/* Read-mostly: set at init. */
	struct thread_ring_slot *slots;
	uint64_t mask;
	/* Next position a producer claims; contended by producers. */
	alignas(SPUR_CACHE_LINE) _Atomic uint64_t head;
	/* Next position the consumer reads; consumer only. */
	alignas(SPUR_CACHE_LINE) uint64_t tail;
};

/*
 * Prepare an empty ring of 'capacity' slots (a power of two, >= 2).
 * Returns 0, -EINVAL for a bad capacity or -ENOMEM.
 */
int thread_ring_init(struct thread_ring *ring, uint32_t capacity);
/* Free the slots. No producer or consumer may use the ring any more. */
void thread_ring_fini(struct thread_ring *ring);
/*
 * Append {fn, ctx}. Any OS thread. Returns 0 or -ENOMEM when every slot is
 * taken. The claim of the slot is a sequentially consistent RMW on 'head', so
 * a caller that read a state flag with seq_cst before enqueuing is ordered
 * against an owner that stores the flag then reads thread_ring_empty().
 */
int thread_ring_enqueue(struct thread_ring *ring, spur_msg_fn fn, void *ctx);
/*
 * Take the oldest published message. Consumer only. Returns false when the
 * ring is empty or the oldest claimed slot is not yet published (its
 * producer is between claim and publish; it shows up on a later call).
 */
bool thread_ring_dequeue(struct thread_ring *ring, spur_msg_fn *fn, void **ctx);
/*
 * True when no producer has claimed a position the consumer has not read.
 * Consumer only. Sequentially consistent load, for the sleep and exit
 * protocols (see thread.c and reactor.c).
 */
bool thread_ring_empty(struct thread_ring *ring);
/* Number of slots. */
uint32_t thread_ring_capacity(const struct thread_ring *ring);

#endif
