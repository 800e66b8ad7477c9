/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Virtqueues as a device sees them: split and packed rings, indirect
 * descriptors, event suppression (EVENT_IDX / packed event structures),
 * batched used-ring updates with one call-eventfd write per batch and
 * interrupt coalescing, and the inflight log in shared memory that lets a
 * restarted backend replay what a crashed one had taken but not completed.
 *
 * One virtqueue is driven by exactly one lightweight thread (its poll group)
 * once started; the control thread only configures it while stopped.
 *
 * The guest is hostile. Every index is bounded by the queue size, every
 * descriptor address is translated through the vhost_mem table (nothing
 * outside guest memory is ever touched), chains are bounded by the queue
 * size (and indirect tables by their own length), loops are detected, a
 * device-readable descriptor after a device-writable one is an error, and
 * lengths are summed without overflow. A malformed chain that can be
 * followed to its end is returned as VIRTQ_POP_BAD so the caller can
 * answer it with an error status (where, see below); when that is
 * impossible (the avail index jumps past the queue size, a head index out
 * of range, a chain that cannot be followed) the queue is marked broken
 * (VIRTQ_POP_BROKEN) and stops: its owner reports NEEDS_RESET and signals
 * the error eventfd, and a restart of the ring (GET_VRING_BASE, then
 * SET_VRING_*) recovers it.
 *
 * Malformed chains, the rule: a malformed request fails with an error
 * status when it can be answered; otherwise its queue stops and the device
 * needs a reset. It is never returned empty (used length 0): a driver
 * reads its status or response from its own buffer whatever the length,
 * and would take the stale byte there (0: OK) for the device's answer.
 *  - The chain is "walkable" when the walk can follow it to its last
 *    descriptor: every next index inside its table, no more descriptors
 *    than the table holds (so no loop), and no more than VIRTQ_WALK_MAX
 *    descriptors (ring descriptors plus table entries) in all. A chain
 *    that is not walkable breaks the queue here (VIRTQ_POP_BROKEN, with
 *    the reason in broken_reason) and is not taken: split chains that
 *    loop, run longer than the ring or their indirect table, name a next
 *    index outside it, or pass VIRTQ_WALK_MAX (split: last_avail_idx stays
 *    at the head, nothing goes in flight); packed chains longer than the
 *    ring or past VIRTQ_WALK_MAX (nothing committed either).
 *  - Everything else is a violation that still leaves the chain walkable:
 *    a readable descriptor after a writable one, a total length above
 *    4 GiB - 1, a zero length, a buffer not entirely inside guest memory,
 *    more iovecs than the caller's array, an indirect descriptor that may
 *    not be followed (not negotiated, not the chain's only descriptor, NEXT
 *    set, nested in a table, a length that is zero or not a multiple of 16,
 *    a table outside guest memory: the walk steps over it as over a bad
 *    buffer, it is never read as a table).
 *  - A walkable BAD chain comes with its salvage: elem->bad_first iovecs at
 *    iov[0] for the chain's first device-writable (data) descriptor and
 *    elem->bad_last iovecs after them for its last one (the same
 *    descriptor when there is only one), each translated whole or not at
 *    all: a count is 0 when the chain has no such descriptor or it is not
 *    entirely inside guest memory (or does not fit iov_max). Only
 *    descriptors the driver flagged device-writable are ever offered, so a
 *    device that writes its error status there (virtio-blk: the last byte
 *    of the last one; virtio-scsi: the response at the start of the first
 *    one) never writes outside guest memory nor into a readable buffer.
 *    The salvage comes from a second walk of the chain that reads every
 *    descriptor again (once) and checks what it uses itself: a driver that
 *    rewrites the chain meanwhile can only move its own error answer. The
 *    first walk, which serves good chains, pays nothing for it.
 *  - A BAD element has out_num, in_num and in_len 0, and the request is in
 *    flight like any other (inflight log included). The caller either
 *    writes its error answer into the salvage and pushes it exactly once,
 *    or, when the salvage has no room for that answer (virtio-blk: no
 *    last writable descriptor; virtio-scsi: a first one shorter than the
 *    response header; control and event queues: always, no error answer
 *    fits every request there), does not push it and marks the queue
 *    broken itself (vhost_queue_mark_broken): the device needs a reset.
 *
 * Inflight log (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD): when attached, pop
 * marks the request in flight in the shared region before the caller sees
 * it; push/flush publish the used entry and only then clear the mark, in the
 * order QEMU's vhost-user spec gives, so the region is consistent at any
 * instant the process may die. virtq_recover() rebuilds the queue state from
 * the region after a restart and returns the requests to resubmit in their
 * original order.
 */
#ifndef SPUR_VHOST_VIRTQ_H
#define SPUR_VHOST_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vhost_mem.h"

#define VIRTQ_MAX_SIZE 32768
/* Descriptors the salvage walk of a BAD chain reads at most (see
 * "Malformed chains"): bounds the cost of a huge indirect table. */
#define VIRTQ_WALK_MAX 1024

struct virtq_inflight; /* layout in virtq_inflight.c (the spec's) */

/* Configuration from SET_VRING_NUM/ADDR/BASE and the negotiated features. */
struct virtq_config {
	uint16_t size;          /* power of two (split), <= VIRTQ_MAX_SIZE */
	bool packed;
	bool event_idx;         /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;          /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	uint64_t desc_uva;      /* frontend virtual addresses from SET_VRING_ADDR */
	uint64_t avail_uva;     /* packed: driver event suppression area */
	uint64_t used_uva;      /* packed: device event suppression area */
	uint16_t base;          /* SET_VRING_BASE: split last_avail_idx; packed:
	                         * bits 0-14 index, bit 15 wrap counter */
	uint16_t used_base;     /* packed: used index+wrap (bit 15), else unused */
};

struct virtq {
	/* Set by virtq_init, read-only while started. */
	struct virtq_config cfg;
	const struct vhost_mem *mem;
	void *desc, *avail, *used;       /* local ring pointers */
	int call_fd;                     /* -1: none */
	/* Ring progress (poll-group thread). */
	uint16_t last_avail_idx;         /* split: free-running; packed: index */
	bool avail_wrap;                 /* packed driver wrap counter */
	uint16_t used_idx;               /* split: free-running shadow; packed: index */
	bool used_wrap;
	uint16_t used_pending;           /* pushed entries not yet published */
	uint16_t signalled_used;         /* used idx (packed: |wrap<<15) at the last
	                                  * signal check: EVENT_IDX window start */
	bool signalled_used_valid;
	bool broken;                     /* stopped: NEEDS_RESET */
	/* Interrupt coalescing (0 = signal every batch). */
	uint32_t coalesce_delay_us;
	uint32_t coalesce_iops_threshold;
	uint64_t next_signal_tick;       /* coalescing: no signal before this */
	uint64_t ops_since_tick;         /* completions since rate_tick */
	uint64_t stat_signals;           /* signals sent (call-eventfd writes when
	                                  * call_fd >= 0) */
	uint64_t stat_requests;          /* requests popped (OK or BAD) */
	/* Inflight log (NULL when not negotiated). */
	struct virtq_inflight *inflight;
	uint64_t inflight_counter;
	/* Packed: ids/lengths of descriptors per buffer id, for push. */
	uint16_t *packed_desc_count;     /* [size] descriptors consumed per id */
	/*
	 * Added by the virtq implementation (private to virtq_*.c; listed here
	 * so the struct can be embedded). packed_desc_count is kept for both
	 * layouts: non-zero = that id is in flight (split: 1), so a driver that
	 * offers an id twice is caught before it can alias a backend's per-id
	 * task.
	 */
	uint16_t shadow_avail_idx;       /* split: last avail->idx read */
	uint16_t pub_idx;                /* split: used idx last published; packed:
	                                  * ring position of the batch's first entry */
	bool pub_wrap;                   /* packed: wrap counter of pub_idx */
	uint16_t pub_flags;              /* packed: held-back flags of that entry */
	uint16_t pub_count;              /* entries published since the last flush */
	bool signal_pending;             /* a signal is owed; coalescing deferred it */
	bool coalescing;                 /* last rate sample exceeded the threshold */
	uint64_t rate_tick;              /* start of the current rate sample */
	uint64_t ticks_hz;               /* spur_get_ticks_hz() at init */
	uint32_t inflight_descs;         /* packed: ring descriptors taken, not pushed */
	uint16_t inflight_batch;         /* buffers pushed since the last publish */
	uint16_t *inflight_slot;         /* packed+inflight: buffer id -> region entry */
	uint16_t inflight_num;           /* entries of the attached region (cached:
	                                  * the frontend can write the region) */
	const char *broken_reason;       /* set with broken, for the log and tests */
};

/* One popped request: the chain as iovecs into guest memory. */
struct virtq_elem {
	uint16_t id;             /* split: head index; packed: buffer id */
	uint16_t ndescs;         /* descriptors consumed (packed ring advance) */
	uint32_t out_num;        /* iov[0..out_num): device-readable */
	uint32_t in_num;         /* iov[out_num..out_num+in_num): device-writable */
	uint32_t in_len;         /* total bytes of the writable part */
	struct iovec *iov;       /* caller's array */
	uint32_t iov_max;
	/* VIRTQ_POP_BAD only: where an error answer may go (see the rule above). */
	uint32_t bad_first;      /* iov[0..bad_first): first device-writable descriptor */
	uint32_t bad_last;       /* iov[bad_first..+bad_last): the last one */
};

enum virtq_pop_result {
	VIRTQ_POP_EMPTY = 0,
	VIRTQ_POP_OK = 1,
	VIRTQ_POP_BAD = 2,   /* malformed walkable chain; elem->id valid: answer with
	                      * an error in elem->bad_first / bad_last, or, with
	                      * no room for it, mark the queue broken */
	VIRTQ_POP_BROKEN = 3 /* queue unusable; it is now marked broken */
};

/*
 * Prepare a queue: translate ring addresses through mem (all three areas
 * must lie in guest memory, correctly sized and aligned), set the indices
 * from cfg->base (packed: and cfg->used_base, both idx|wrap<<15; a fresh
 * ring is 0x8000/0x8000), the split used index from the ring itself.
 * Resets every field of *vq (coalescing off: call virtq_set_coalescing
 * after). Returns 0, -EINVAL with *err set, or -ENOMEM.
 */
int virtq_init(struct virtq *vq, const struct virtq_config *cfg, const struct vhost_mem *mem,
	       int call_fd, const char **err);
/* Re-translate the ring addresses after a memory table change. */
int virtq_set_mem(struct virtq *vq, const struct vhost_mem *mem, const char **err);
void virtq_fini(struct virtq *vq);

/*
 * Take the next available request into elem (the caller sets elem->iov and
 * elem->iov_max; the iovecs point into guest memory). OK and BAD both hand
 * the request to the caller, who must push it exactly once (BAD: or break
 * the queue, see "Malformed chains"); BROKEN takes nothing. An id offered
 * again while in flight breaks the queue (so per-id backend tasks can never
 * alias). Packed with an inflight log: entries pushed but not yet flushed
 * are published first (not signalled; the next flush decides that), which
 * the log's free list requires.
 */
enum virtq_pop_result virtq_pop(struct virtq *vq, struct virtq_elem *elem);
/*
 * Return a request to the driver with len bytes written into its writable
 * part. Entries are written at once; the index is published (and the driver
 * signalled, subject to event suppression and coalescing) by virtq_flush.
 */
void virtq_push(struct virtq *vq, const struct virtq_elem *elem, uint32_t len);
/*
 * Publish pushed entries and signal if needed. Returns entries published
 * (including any a packed pop published early, see virtq_pop).
 *
 * Coalescing: with coalesce_delay_us > 0 and a completion rate above
 * coalesce_iops_threshold over the last sample (about 1 ms), a signal is
 * sent at most once per delay: a signal owed before the deadline is kept
 * (virtq_signal_pending() is true) and sent by the first flush at or after
 * it. The caller must therefore keep calling virtq_flush (with nothing new
 * to publish it costs a few loads) while virtq_signal_pending() is true,
 * and must not sleep before; otherwise the driver misses its last
 * completion.
 */
uint32_t virtq_flush(struct virtq *vq, uint64_t now_ticks);
/* True while virtq_flush still owes the driver a signal (or an unpublished entry). */
static inline bool
virtq_signal_pending(const struct virtq *vq)
{
	return vq->signal_pending || vq->used_pending != 0;
}
/* Change coalescing (0 delay: off). Poll-group thread, or while stopped. */
void virtq_set_coalescing(struct virtq *vq, uint32_t delay_us, uint32_t iops_threshold);
/* True when the driver has made buffers available (cheap check). */
bool virtq_has_work(const struct virtq *vq);
/*
 * Enable/disable driver notifications (kicks) for sleeping: before a reactor
 * sleeps the queue asks for kicks (and re-checks has_work); while polling it
 * suppresses them.
 */
void virtq_set_notify(struct virtq *vq, bool enable);
/* Index value for GET_VRING_BASE (split: last_avail_idx; packed: idx|wrap<<15). */
uint16_t virtq_get_base(const struct virtq *vq);
/*
 * Packed only: the device's used index|wrap<<15, which QEMU expects in bits
 * 16-31 of GET_VRING_BASE's num (and sends back in SET_VRING_BASE, which is
 * cfg.used_base). Split: the shadow used index.
 */
uint16_t virtq_get_used_base(const struct virtq *vq);

/* ---- inflight log ------------------------------------------------------- */

/* Bytes of shared memory for num_queues queues of queue_size (GET_INFLIGHT_FD). */
uint64_t virtq_inflight_region_size(uint16_t num_queues, uint16_t queue_size, bool packed);
/*
 * Attach queue qidx of a region (mapped by the caller) to vq, after
 * virtq_init and before the first pop. Queue q's part is at q *
 * virtq_inflight_region_size(1, queue_size, packed). fresh (or a part whose
 * version is 0, as QEMU leaves a new or reset region): initialized here
 * from the ring's current indices. Otherwise the content is kept and
 * virtq_recover must run before the first pop. queue_size is the region's
 * (GET/SET_INFLIGHT_FD), >= cfg.size. Returns 0 or -EINVAL (version, size
 * or layout mismatch, region too small, vq not initialized).
 */
int virtq_inflight_attach(struct virtq *vq, void *region, uint64_t region_size, uint16_t qidx,
			  uint16_t queue_size, bool packed, bool fresh);
/*
 * After a restart: fix up the region against the used ring (the crash may
 * have happened between publishing a used entry and clearing its mark),
 * reset last_avail_idx past everything fetched, and fill ids[] (caller's
 * array of cfg.size) with the heads still in flight, oldest first. Returns
 * how many (0 without a region), or -EINVAL/-ENOMEM; the caller re-reads
 * each chain with virtq_get_elem and resubmits (answering BAD ones with an
 * error), then pushes them like popped requests. Split: ids are heads, and
 * QEMU's base (the used index after a lost backend) is superseded by used
 * index + requests in flight. Packed: ids are tokens (entries of the
 * region, which holds the chains' descriptors: the ring slots may have been
 * overwritten); the ring position comes from the region. The next flush
 * signals the driver even without new entries (the dead process may have
 * published without signalling).
 */
int virtq_recover(struct virtq *vq, uint16_t *ids);
/*
 * Re-read the chain of an in-flight id from virtq_recover (recovery); same
 * checks as pop; sets elem->id to the id to push. VIRTQ_POP_EMPTY: not an
 * id virtq_recover returned.
 */
enum virtq_pop_result virtq_get_elem(struct virtq *vq, uint16_t id, struct virtq_elem *elem);

#endif
