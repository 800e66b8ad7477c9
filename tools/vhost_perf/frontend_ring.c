/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Driver side of split and packed virtqueues (virtio 1.x, "Virtqueues"),
 * for the vhost-user frontend of frontend.h.
 *
 * Split: the caller owns descriptor indices (a chain with id N occupies
 * descriptors N..N+n-1) and publishes added heads in batches; the avail
 * index store is a release, and the kick decision reads the device's
 * NO_NOTIFY flag or avail_event only after a full fence, as the
 * specification's driver requirements describe.
 *
 * Packed: descriptors are written in ring order; the head's flags are
 * stored last with release semantics, which makes the chain available.
 * Used descriptors are recognised by AVAIL == USED == the driver's used wrap
 * counter; the ring position then advances by the number of descriptors
 * the chain had (remembered per buffer id).
 *
 * Nothing here validates what the caller asks for: hostile tests use these
 * helpers to write bad chains on purpose.
 *
 * Threading: a queue is driven by one thread.
 */
#include "frontend.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define PACKED_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define PACKED_USED (1u << VRING_PACKED_DESC_F_USED)

static inline uint16_t *
used_event(struct vfe_queue *q)
{
	return &q->avail->ring[q->size];
}

static inline uint16_t *
avail_event(struct vfe_queue *q)
{
	return (uint16_t *)&q->used->ring[q->size];
}

static inline bool
need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

static uint16_t
packed_flags(const struct vfe_queue *q, bool write, bool next)
{
	uint16_t f = (write ? VRING_DESC_F_WRITE : 0) | (next ? VRING_DESC_F_NEXT : 0);

	return f | (q->avail_wrap ? PACKED_AVAIL : PACKED_USED);
}

static void
packed_advance(struct vfe_queue *q)
{
	if (++q->next_avail == q->size) {
		q->next_avail = 0;
		q->avail_wrap = !q->avail_wrap;
	}
}

int
vfe_add_chain(struct vfe_queue *q, uint16_t id, const struct vfe_buf *bufs, int n)
{
	if (n <= 0)
		return -EINVAL;
	if (!q->packed) {
		for (int i = 0; i < n; i++) {
			struct vring_desc *d = &q->desc[(uint16_t)(id + i) & (q->size - 1)];

			d->addr = bufs[i].gpa;
			d->len = bufs[i].len;
			d->flags = (bufs[i].write ? VRING_DESC_F_WRITE : 0) |
				   (i + 1 < n ? VRING_DESC_F_NEXT : 0);
			d->next = (uint16_t)(id + i + 1) & (q->size - 1);
		}
		q->avail->ring[q->avail_idx & (q->size - 1)] = id;
		q->avail_idx++;
		return 0;
	}
	if (n > q->free_descs)
		return -ENOSPC;
	uint16_t head = q->next_avail;
	uint16_t head_flags = packed_flags(q, bufs[0].write, n > 1);

	for (int i = 0; i < n; i++) {
		struct vring_packed_desc *d = &q->pdesc[q->next_avail];

		d->addr = bufs[i].gpa;
		d->len = bufs[i].len;
		d->id = id;
		if (i > 0)
			d->flags = packed_flags(q, bufs[i].write, i + 1 < n);
		packed_advance(q);
	}
	q->chain_len[id % q->size] = (uint16_t)n;
	q->free_descs -= (uint16_t)n;
	__atomic_store_n(&q->pdesc[head].flags, head_flags, __ATOMIC_RELEASE);
	q->need_kick = true;
	return 0;
}

int
vfe_add_indirect(struct vfe_queue *q, uint16_t id, struct vring_desc *table, uint64_t table_gpa,
		 const struct vfe_buf *bufs, int n)
{
	if (n <= 0)
		return -EINVAL;
	if (q->packed) {
		/* Packed rings' tables hold packed descriptors: only WRITE is valid. */
		struct vring_packed_desc *pt = (struct vring_packed_desc *)table;

		for (int i = 0; i < n; i++) {
			pt[i].addr = bufs[i].gpa;
			pt[i].len = bufs[i].len;
			pt[i].id = 0;
			pt[i].flags = bufs[i].write ? VRING_DESC_F_WRITE : 0;
		}
	} else {
		for (int i = 0; i < n; i++) {
			table[i].addr = bufs[i].gpa;
			table[i].len = bufs[i].len;
			table[i].flags = (bufs[i].write ? VRING_DESC_F_WRITE : 0) |
					 (i + 1 < n ? VRING_DESC_F_NEXT : 0);
			table[i].next = (uint16_t)(i + 1);
		}
	}
	if (!q->packed) {
		struct vring_desc *d = &q->desc[id & (q->size - 1)];

		d->addr = table_gpa;
		d->len = (uint32_t)(sizeof(*table) * (size_t)n);
		d->flags = VRING_DESC_F_INDIRECT;
		d->next = 0;
		q->avail->ring[q->avail_idx & (q->size - 1)] = id;
		q->avail_idx++;
		return 0;
	}
	if (q->free_descs < 1)
		return -ENOSPC;
	struct vring_packed_desc *d = &q->pdesc[q->next_avail];
	uint16_t flags = packed_flags(q, false, false) | VRING_DESC_F_INDIRECT;

	d->addr = table_gpa;
	d->len = (uint32_t)(sizeof(*table) * (size_t)n);
	d->id = id;
	packed_advance(q);
	q->chain_len[id % q->size] = 1;
	q->free_descs--;
	__atomic_store_n(&d->flags, flags, __ATOMIC_RELEASE);
	q->need_kick = true;
	return 0;
}

bool
vfe_publish(struct vfe_queue *q)
{
	if (!q->packed) {
		uint16_t old = q->published_idx;
		uint16_t new_idx = q->avail_idx;

		if (old == new_idx)
			return false;
		__atomic_store_n(&q->avail->idx, new_idx, __ATOMIC_RELEASE);
		q->published_idx = new_idx;
		/* The device reads idx before it writes its suppression state. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (q->event_idx)
			return need_event(__atomic_load_n(avail_event(q), __ATOMIC_RELAXED), new_idx,
					  old);
		return !(__atomic_load_n(&q->used->flags, __ATOMIC_RELAXED) &
			 VRING_USED_F_NO_NOTIFY);
	}
	if (!q->need_kick)
		return false;
	q->need_kick = false;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t flags = __atomic_load_n(&q->device_event->flags, __ATOMIC_RELAXED);
	bool kick;

	if (flags == VRING_PACKED_EVENT_FLAG_DISABLE) {
		kick = false;
	} else if (flags == VRING_PACKED_EVENT_FLAG_DESC) {
		uint16_t off_wrap = __atomic_load_n(&q->device_event->off_wrap, __ATOMIC_RELAXED);
		uint16_t event = off_wrap & 0x7fffu;
		bool wrap = off_wrap >> 15;
		uint16_t old = q->kick_shadow;

		/* Compare on one linear scale, as the specification's example does. */
		if (wrap != q->avail_wrap)
			event = (uint16_t)(event - q->size);
		if (q->kick_shadow_wrap != q->avail_wrap)
			old = (uint16_t)(old - q->size);
		kick = need_event(event, q->next_avail, old);
	} else {
		kick = true;
	}
	q->kick_shadow = q->next_avail;
	q->kick_shadow_wrap = q->avail_wrap;
	return kick;
}

void
vfe_kick(struct vfe_queue *q)
{
	uint64_t one = 1;

	if (write(q->kick_fd, &one, sizeof(one)) == sizeof(one))
		q->kicks++;
}

void
vfe_split_write_desc(struct vfe_queue *q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct vring_desc *d = &q->desc[i & (q->size - 1)];

	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

void
vfe_split_offer(struct vfe_queue *q, uint16_t head)
{
	q->avail->ring[q->avail_idx & (q->size - 1)] = head;
	q->avail_idx++;
}

void
vfe_split_set_avail_idx(struct vfe_queue *q, uint16_t idx)
{
	__atomic_store_n(&q->avail->idx, idx, __ATOMIC_RELEASE);
	q->avail_idx = q->published_idx = idx;
}

int
vfe_packed_add_raw(struct vfe_queue *q, uint16_t id, const struct vring_packed_desc *descs, int n)
{
	uint16_t head = q->next_avail, head_flags = 0;
	const uint16_t mask = PACKED_AVAIL | PACKED_USED;

	if (n <= 0 || n > q->free_descs)
		return -ENOSPC;
	for (int i = 0; i < n; i++) {
		struct vring_packed_desc *d = &q->pdesc[q->next_avail];
		uint16_t f = (descs[i].flags & ~mask) | (q->avail_wrap ? PACKED_AVAIL : PACKED_USED);

		d->addr = descs[i].addr;
		d->len = descs[i].len;
		d->id = descs[i].id;
		if (i == 0)
			head_flags = f;
		else
			d->flags = f;
		packed_advance(q);
	}
	q->chain_len[id % q->size] = (uint16_t)n;
	q->free_descs -= (uint16_t)n;
	__atomic_store_n(&q->pdesc[head].flags, head_flags, __ATOMIC_RELEASE);
	q->need_kick = true;
	return 0;
}

static void
split_update_used_event(struct vfe_queue *q)
{
	/* Off: an event index the used index cannot reach before we move it. */
	uint16_t v = q->irq_on ? q->last_used_idx : (uint16_t)(q->last_used_idx + 0x7fffu);

	__atomic_store_n(used_event(q), v, __ATOMIC_RELAXED);
}

bool
vfe_get_used(struct vfe_queue *q, uint16_t *id, uint32_t *len)
{
	if (!q->packed) {
		uint16_t idx = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
		struct vring_used_elem *e;

		if (idx == q->last_used_idx)
			return false;
		e = &q->used->ring[q->last_used_idx & (q->size - 1)];
		*id = (uint16_t)e->id;
		*len = e->len;
		q->last_used_idx++;
		if (q->event_idx)
			split_update_used_event(q);
		return true;
	}
	struct vring_packed_desc *d = &q->pdesc[q->next_used];
	uint16_t flags = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE);
	bool avail = flags & PACKED_AVAIL, used = flags & PACKED_USED;
	uint16_t n;

	if (avail != used || used != q->used_wrap)
		return false;
	*id = d->id;
	*len = d->len;
	n = q->chain_len[d->id % q->size];
	if (n == 0)
		n = 1; /* a backend answering an id we never used: keep moving */
	q->next_used = (uint16_t)(q->next_used + n);
	if (q->next_used >= q->size) {
		q->next_used = (uint16_t)(q->next_used - q->size);
		q->used_wrap = !q->used_wrap;
	}
	q->free_descs = (uint16_t)(q->free_descs + n);
	return true;
}

void
vfe_set_interrupts(struct vfe_queue *q, bool on)
{
	q->irq_on = on;
	if (q->packed) {
		q->driver_event->off_wrap = 0;
		__atomic_store_n(&q->driver_event->flags,
				 on ? VRING_PACKED_EVENT_FLAG_ENABLE : VRING_PACKED_EVENT_FLAG_DISABLE,
				 __ATOMIC_RELEASE);
		return;
	}
	q->avail->flags = on ? 0 : VRING_AVAIL_F_NO_INTERRUPT;
	if (q->event_idx)
		split_update_used_event(q);
}
