/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to the virtqueue implementation (virtq_common.c, virtq_split.c,
 * virtq_packed.c, virtq_inflight.c): the inflight region layout of QEMU's
 * vhost-user spec (version 1), memory-order helpers, the per-descriptor
 * check-and-translate step shared by both ring layouts, the state of the
 * salvage walk of a malformed chain, and the functions each layout
 * provides to the dispatcher in virtq_common.c.
 *
 * Memory order. The guest and this process share the rings; the inflight
 * region is shared with the frontend and must make sense to the next
 * process after a crash. For the guest we need real barriers (acquire on
 * the index or flags that publish a descriptor, release on the index or
 * flags we publish, one full fence between publishing and reading the
 * other side's event-suppression field). For the inflight region a process
 * that dies still completes every store it executed, so only program order
 * matters: the steps are release stores, which also keep the compiler from
 * moving a later step before an earlier one.
 *
 * Every read of guest-writable memory that is checked and then used is
 * copied once (virtq_read_once), so a guest that rewrites a descriptor
 * while we look at it cannot make us use a value we did not check.
 */
#ifndef SPUR_VHOST_VIRTQ_INTERNAL_H
#define SPUR_VHOST_VIRTQ_INTERNAL_H

#include <errno.h>
#include <linux/virtio_ring.h>
#include <stddef.h>
#include <string.h>

#include "spur/util.h"
#include "virtq.h"

/* Virtio 1.x rings are little-endian; so are the hosts spur targets. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "virtq assumes a little-endian host");

#define VIRTQ_PACKED_AVAIL ((uint16_t)(1u << VRING_PACKED_DESC_F_AVAIL))
#define VIRTQ_PACKED_USED ((uint16_t)(1u << VRING_PACKED_DESC_F_USED))
#define VIRTQ_INFLIGHT_VERSION 1
#define VIRTQ_INFLIGHT_ALIGN 64
#define VIRTQ_INFLIGHT_NONE 0xffffu /* empty batch list (split) */

/* ---- inflight region (QEMU docs/interop/vhost-user.rst, version 1) ------ */

struct virtq_inflight_desc_split {
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;     /* last batch list */
	uint64_t counter;  /* fetch order */
};

struct virtq_inflight_split {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx;
	struct virtq_inflight_desc_split desc[];
};

struct virtq_inflight_desc_packed {
	uint8_t inflight;
	uint8_t padding;
	uint16_t next;     /* free list, and the entries of one chain in order */
	uint16_t last;     /* head: entry holding the chain's last descriptor */
	uint16_t num;      /* head: ring descriptors of the chain */
	uint64_t counter;
	uint16_t id;       /* copy of the ring descriptor */
	uint16_t flags;
	uint32_t len;
	uint64_t addr;
};

struct virtq_inflight_packed {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t free_head;
	uint16_t old_free_head;
	uint16_t used_idx;
	uint16_t old_used_idx;
	uint8_t used_wrap_counter;
	uint8_t old_used_wrap_counter;
	uint8_t padding[7];
	struct virtq_inflight_desc_packed desc[];
};

/* The opaque struct virtq_inflight of virtq.h: the common prefix. */
struct virtq_inflight {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
};

_Static_assert(sizeof(struct virtq_inflight_desc_split) == 16, "spec layout");
_Static_assert(offsetof(struct virtq_inflight_split, desc) == 16, "spec layout");
_Static_assert(sizeof(struct virtq_inflight_desc_packed) == 32, "spec layout");
_Static_assert(offsetof(struct virtq_inflight_packed, desc) == 32, "spec layout");

static inline struct virtq_inflight_split *
virtq_ifl_split(const struct virtq *vq)
{
	return (struct virtq_inflight_split *)vq->inflight;
}

static inline struct virtq_inflight_packed *
virtq_ifl_packed(const struct virtq *vq)
{
	return (struct virtq_inflight_packed *)vq->inflight;
}

/* ---- memory order ------------------------------------------------------- */

#define virtq_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define virtq_load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define virtq_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define virtq_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define virtq_full_fence() __atomic_thread_fence(__ATOMIC_SEQ_CST)

/*
 * Copy len bytes of guest memory once: the compiler barrier after memcpy
 * keeps the compiler from re-reading the source instead of the copy.
 */
static inline void
virtq_read_once(void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
	__asm__ __volatile__("" ::: "memory");
}

/*
 * Crash points between the inflight-log steps. Empty in the library; the
 * unit tests compile these sources with -DVIRTQ_CRASH_POINTS and a hook
 * that longjmps out, which is exactly a process dying at that instruction
 * (guest memory and the region survive, nothing else does).
 */
#ifdef VIRTQ_CRASH_POINTS
void virtq_crash_point(void);
#define VIRTQ_CRASH_POINT() virtq_crash_point()
#else
#define VIRTQ_CRASH_POINT() \
	do {                \
	} while (0)
#endif

/* ---- chain walking (both layouts) --------------------------------------- */

struct virtq_walk {
	uint64_t total;   /* bytes so far, to catch overflow */
	uint32_t iovcnt;
	uint32_t in_len;
	bool seen_write;
};

static inline void
virtq_walk_init(struct virtq_walk *w, struct virtq_elem *elem)
{
	w->total = 0;
	w->iovcnt = 0;
	w->in_len = 0;
	w->seen_write = false;
	elem->out_num = 0;
	elem->in_num = 0;
	elem->in_len = 0;
}

/*
 * One data descriptor: order (readable before writable), total length
 * within 32 bits, translation into elem->iov. Returns 0 or a negative errno
 * (the chain is BAD).
 */
static inline int
virtq_walk_add(const struct virtq *vq, struct virtq_elem *elem, struct virtq_walk *w,
	       uint64_t addr, uint32_t len, bool write)
{
	if (write) {
		if (!w->seen_write) {
			w->seen_write = true;
			elem->out_num = w->iovcnt;
		}
		w->in_len += len; /* cannot wrap: bounded by total below */
	} else if (w->seen_write) {
		return -EINVAL;
	}
	w->total += len;
	if (spur_unlikely(w->total > UINT32_MAX)) {
		return -EOVERFLOW;
	}
	return vhost_mem_gpa_to_iovs(vq->mem, addr, len, elem->iov, &w->iovcnt, elem->iov_max);
}

static inline void
virtq_walk_finish(const struct virtq_walk *w, struct virtq_elem *elem)
{
	if (w->seen_write) {
		elem->in_num = w->iovcnt - elem->out_num;
	} else {
		elem->out_num = w->iovcnt;
	}
	elem->in_len = w->in_len;
}

/*
 * The salvage of a BAD chain (virtq.h, "Malformed chains"): a second,
 * independent walk of the chain (virtq_split.c / virtq_packed.c, cold
 * code) that only looks for the first and last device-writable data
 * descriptors. It reads every descriptor again, once, and checks what it
 * uses itself, so a driver that rewrites the chain in between can only
 * move its own error answer. Bounded by VIRTQ_WALK_MAX descriptors.
 */
struct virtq_salvage {
	uint32_t ndescs;      /* descriptors read (ring and table entries) */
	bool lost;            /* not walkable: the queue stops */
	const char *why;      /* with lost: the reason the queue is broken */
	bool have_write;
	uint64_t first_addr, last_addr;
	uint32_t first_len, last_len;
};

static inline void
virtq_salvage_init(struct virtq_salvage *s)
{
	memset(s, 0, sizeof(*s));
}

/* The chain cannot be followed to its end (why: a static string). */
static inline void
virtq_salvage_lost(struct virtq_salvage *s, const char *why)
{
	if (!s->lost) {
		s->lost = true;
		s->why = why;
	}
}

/* Count one descriptor read; false (and lost) past VIRTQ_WALK_MAX. */
static inline bool
virtq_salvage_step(struct virtq_salvage *s)
{
	if (++s->ndescs > VIRTQ_WALK_MAX) {
		virtq_salvage_lost(s, "malformed chain of more than VIRTQ_WALK_MAX (1024) "
				      "descriptors");
		return false;
	}
	return true;
}

/* A data descriptor (copied once by the caller). */
static inline void
virtq_salvage_data(struct virtq_salvage *s, uint64_t addr, uint32_t len, bool write)
{
	if (!write) {
		return;
	}
	if (!s->have_write) {
		s->have_write = true;
		s->first_addr = addr;
		s->first_len = len;
	}
	s->last_addr = addr;
	s->last_len = len;
}

/*
 * virtq_common.c: the end of a salvage walk. A walkable chain: fill elem
 * (out/in counts 0, bad_first / bad_last translated from s), return
 * VIRTQ_POP_BAD. One that is not (s->lost): mark the queue broken with
 * s->why and return VIRTQ_POP_BROKEN; the caller must then not take the
 * chain (split: last_avail_idx stays at its head; packed: nothing
 * committed).
 */
enum virtq_pop_result virtq_salvage_finish(struct virtq *vq, const struct virtq_salvage *s,
					   struct virtq_elem *elem);

/* Mark the queue unusable (NEEDS_RESET); logs once. */
enum virtq_pop_result virtq_set_broken(struct virtq *vq, const char *reason);

/* ---- per-layout functions (virtq_split.c, virtq_packed.c) ---------------- */

int virtq_split_map(struct virtq *vq, const struct vhost_mem *mem, const char **err);
void virtq_split_start(struct virtq *vq);
enum virtq_pop_result virtq_split_pop(struct virtq *vq, struct virtq_elem *elem);
enum virtq_pop_result virtq_split_get_elem(struct virtq *vq, uint16_t id, struct virtq_elem *elem);
void virtq_split_push(struct virtq *vq, const struct virtq_elem *elem, uint32_t len);
void virtq_split_publish(struct virtq *vq);
bool virtq_split_need_signal(struct virtq *vq);
bool virtq_split_has_work(const struct virtq *vq);
void virtq_split_set_notify(struct virtq *vq, bool enable);

int virtq_packed_map(struct virtq *vq, const struct vhost_mem *mem, const char **err);
void virtq_packed_start(struct virtq *vq);
enum virtq_pop_result virtq_packed_pop(struct virtq *vq, struct virtq_elem *elem);
enum virtq_pop_result virtq_packed_get_elem(struct virtq *vq, uint16_t slot,
					    struct virtq_elem *elem);
void virtq_packed_push(struct virtq *vq, const struct virtq_elem *elem, uint32_t len);
void virtq_packed_publish(struct virtq *vq);
bool virtq_packed_need_signal(struct virtq *vq);
bool virtq_packed_has_work(const struct virtq *vq);
void virtq_packed_set_notify(struct virtq *vq, bool enable);

/* virtq_inflight.c */
int virtq_inflight_recover_split(struct virtq *vq, uint16_t *ids);
int virtq_inflight_recover_packed(struct virtq *vq, uint16_t *ids);

#endif
