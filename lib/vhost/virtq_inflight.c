/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The inflight log's control side: region size, attaching a queue to its
 * part of the region, and recovery after the previous backend process died.
 * The data-path marking lives with each layout (virtq_split.c,
 * virtq_packed.c); the layout of the region is QEMU's vhost-user spec,
 * version 1 (virtq_internal.h).
 *
 * The region is ours in format: QEMU allocates nothing, it keeps the fd we
 * returned for GET_INFLIGHT_FD (mmap size, num queues, queue size) and hands
 * it back with SET_INFLIGHT_FD after a reconnect. Queue q's part starts at
 * q * stride, stride = the header plus queue_size entries rounded up to 64
 * bytes. A region whose version is 0 is uninitialized (QEMU zeroes it on a
 * VM reset) and is initialized like a fresh one.
 *
 * Recovery (split). QEMU restarts the ring from the used index (its
 * last_avail_idx after a lost backend is used->idx), so every request
 * counted in flight must not be popped again: last_avail_idx = used->idx +
 * (requests still in flight), which holds because every popped request,
 * OK or BAD, is marked before the caller sees it and is either published
 * or still marked. If the region's used_idx differs from used->idx the
 * crash fell between publishing a batch and recording it: the batch is on
 * the last-batch list and its marks are cleared (at most used->idx -
 * used_idx entries, and the list is empty, never stale, when no batch is in
 * progress).
 *
 * Recovery (packed). If used_idx moved past old_used_idx, the descriptor at
 * old_used_idx tells whether the batch reached the driver (it no longer
 * looks available with old_used_wrap_counter): then commit the batch, else
 * roll back to the old_* values. Every entry on the free list is then not
 * in flight. The ring's used position is the region's, the avail position
 * is that plus the descriptors of the chains still in flight, and any used
 * descriptor a rolled-back batch had already written in that range is made
 * to look available again (else the driver, once the range's first entry is
 * used, would walk into a stale used descriptor).
 *
 * Threading: control path, while the queue is stopped.
 */
#include <stdlib.h>

#include "spur/log.h"
#include "virtq_internal.h"

struct ifl_order {
	uint64_t counter;
	uint16_t idx;
};

static int
ifl_order_cmp(const void *a, const void *b)
{
	const struct ifl_order *x = a, *y = b;

	if (x->counter != y->counter) {
		return x->counter < y->counter ? -1 : 1;
	}
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static uint64_t
ifl_stride(uint16_t queue_size, bool packed)
{
	uint64_t n = queue_size, len;

	if (packed) {
		len = sizeof(struct virtq_inflight_packed) + n * sizeof(struct virtq_inflight_desc_packed);
	} else {
		len = sizeof(struct virtq_inflight_split) + n * sizeof(struct virtq_inflight_desc_split);
	}
	return (len + VIRTQ_INFLIGHT_ALIGN - 1) & ~(uint64_t)(VIRTQ_INFLIGHT_ALIGN - 1);
}

uint64_t
virtq_inflight_region_size(uint16_t num_queues, uint16_t queue_size, bool packed)
{
	return (uint64_t)num_queues * ifl_stride(queue_size, packed);
}

static void
ifl_init(struct virtq *vq, void *q, uint64_t stride, uint16_t queue_size)
{
	memset(q, 0, stride);
	if (vq->cfg.packed) {
		struct virtq_inflight_packed *r = q;

		for (uint32_t i = 0; i < queue_size; i++) {
			r->desc[i].next = (uint16_t)(i + 1); /* queue_size ends the list */
		}
		r->used_idx = r->old_used_idx = vq->used_idx;
		r->used_wrap_counter = r->old_used_wrap_counter = vq->used_wrap;
	} else {
		struct virtq_inflight_split *r = q;

		r->last_batch_head = VIRTQ_INFLIGHT_NONE;
		r->used_idx = vq->pub_idx;
	}
	((struct virtq_inflight *)q)->desc_num = queue_size;
	virtq_store_release(&((struct virtq_inflight *)q)->version, (uint16_t)VIRTQ_INFLIGHT_VERSION);
}

int
virtq_inflight_attach(struct virtq *vq, void *region, uint64_t region_size, uint16_t qidx,
		      uint16_t queue_size, bool packed, bool fresh)
{
	uint64_t stride = ifl_stride(queue_size, packed);
	struct virtq_inflight *q;

	if (vq->desc == NULL || packed != vq->cfg.packed || queue_size < vq->cfg.size ||
	    queue_size > VIRTQ_MAX_SIZE || region == NULL ||
	    ((uint64_t)qidx + 1) * stride > region_size) {
		return -EINVAL;
	}
	q = (struct virtq_inflight *)((uint8_t *)region + qidx * stride);
	if (fresh || q->version == 0) {
		ifl_init(vq, q, stride, queue_size);
	} else if (q->version != VIRTQ_INFLIGHT_VERSION || q->desc_num != queue_size) {
		return -EINVAL;
	}
	vq->inflight = q;
	vq->inflight_num = queue_size;
	vq->inflight_counter = 0;
	return 0;
}

/* Ring state common to both layouts once the in-flight set is known. */
static void
recover_finish(struct virtq *vq, struct ifl_order *order, int count, uint16_t *ids)
{
	uint64_t max_counter = 0;

	qsort(order, (size_t)count, sizeof(*order), ifl_order_cmp);
	for (int i = 0; i < count; i++) {
		ids[i] = order[i].idx;
		max_counter = SPUR_MAX(max_counter, order[i].counter);
	}
	vq->inflight_counter = max_counter;
	vq->used_pending = 0;
	vq->pub_count = 0;
	vq->inflight_batch = 0;
	/* Whatever the dead process published, it may not have signalled. */
	vq->signalled_used_valid = false;
	vq->signal_pending = true;
}

int
virtq_inflight_recover_split(struct virtq *vq, uint16_t *ids)
{
	struct virtq_inflight_split *r = virtq_ifl_split(vq);
	struct vring_used *used = vq->used;
	uint16_t num = vq->inflight_num, size = vq->cfg.size, ring_used;
	struct ifl_order *order;
	int count = 0;

	order = calloc(num, sizeof(*order));
	if (order == NULL) {
		return -ENOMEM;
	}
	ring_used = virtq_load_acquire(&used->idx);
	if (r->used_idx != ring_used) {
		/* Published, not recorded: clear the last batch's marks. */
		uint16_t batch = (uint16_t)(ring_used - r->used_idx), i = r->last_batch_head;

		for (uint32_t k = 0; k < batch && k < num && i < num; k++) {
			virtq_store_release(&r->desc[i].inflight, 0);
			i = r->desc[i].next;
		}
		virtq_store_release(&r->used_idx, ring_used);
	}
	virtq_store_release(&r->last_batch_head, (uint16_t)VIRTQ_INFLIGHT_NONE);

	memset(vq->packed_desc_count, 0, size * sizeof(uint16_t));
	for (uint16_t i = 0; i < num; i++) {
		if (r->desc[i].inflight == 0) {
			continue;
		}
		if (r->desc[i].inflight != 1 || i >= size) {
			SPUR_WARNLOG("inflight region: dropping bad entry %u", i);
			virtq_store_release(&r->desc[i].inflight, 0);
			continue;
		}
		order[count].counter = r->desc[i].counter;
		order[count].idx = i;
		count++;
		vq->packed_desc_count[i] = 1;
	}
	vq->used_idx = ring_used;
	vq->pub_idx = ring_used;
	vq->signalled_used = ring_used;
	vq->last_avail_idx = (uint16_t)(ring_used + count);
	vq->shadow_avail_idx = vq->last_avail_idx;
	recover_finish(vq, order, count, ids);
	free(order);
	return count;
}

static bool
packed_avail_flags(uint16_t flags, bool wrap)
{
	return ((flags & VIRTQ_PACKED_AVAIL) != 0) == wrap && ((flags & VIRTQ_PACKED_USED) != 0) != wrap;
}

int
virtq_inflight_recover_packed(struct virtq *vq, uint16_t *ids)
{
	struct virtq_inflight_packed *r = virtq_ifl_packed(vq);
	struct vring_packed_desc *ring = vq->desc;
	uint16_t num = vq->inflight_num, size = vq->cfg.size, p;
	struct ifl_order *order;
	uint32_t sum = 0;
	int count = 0;
	bool w;

	if (r->free_head > num || r->old_free_head > num || r->used_idx >= size ||
	    r->old_used_idx >= size) {
		SPUR_ERRLOG("inflight region: packed queue state out of range");
		return -EINVAL;
	}
	order = calloc(num, sizeof(*order));
	if (order == NULL) {
		return -ENOMEM;
	}
	if (r->used_idx != r->old_used_idx || r->used_wrap_counter != r->old_used_wrap_counter) {
		uint16_t f = virtq_load_acquire(&ring[r->old_used_idx].flags);

		if (!packed_avail_flags(f, r->old_used_wrap_counter != 0)) {
			/* The batch's first used descriptor reached the driver: commit. */
			virtq_store_release(&r->old_free_head, r->free_head);
			virtq_store_release(&r->old_used_idx, r->used_idx);
			virtq_store_release(&r->old_used_wrap_counter, r->used_wrap_counter);
		}
	}
	virtq_store_release(&r->free_head, r->old_free_head);
	virtq_store_release(&r->used_idx, r->old_used_idx);
	virtq_store_release(&r->used_wrap_counter, r->old_used_wrap_counter);

	for (uint32_t k = 0, e = r->free_head; k < num && e < num; k++) {
		virtq_store_release(&r->desc[e].inflight, 0);
		e = r->desc[e].next;
	}

	memset(vq->packed_desc_count, 0, size * sizeof(uint16_t));
	for (uint16_t i = 0; i < num; i++) {
		uint16_t nd = r->desc[i].num, x = i, id;
		bool ok = r->desc[i].inflight == 1 && nd != 0 && nd <= size && sum + nd <= size;

		if (r->desc[i].inflight == 0) {
			continue;
		}
		for (uint16_t j = 1; ok && j < nd; j++) {
			x = r->desc[x].next;
			ok = x < num;
		}
		id = ok ? r->desc[x].id : 0;
		if (!ok || id >= size || vq->packed_desc_count[id] != 0) {
			SPUR_WARNLOG("inflight region: dropping bad entry %u", i);
			virtq_store_release(&r->desc[i].inflight, 0);
			continue;
		}
		r->desc[i].last = x;
		vq->packed_desc_count[id] = nd;
		vq->inflight_slot[id] = i;
		sum += nd;
		order[count].counter = r->desc[i].counter;
		order[count].idx = i;
		count++;
	}

	vq->used_idx = r->used_idx;
	vq->used_wrap = r->used_wrap_counter != 0;
	vq->pub_idx = vq->used_idx;
	vq->pub_wrap = vq->used_wrap;
	vq->signalled_used = (uint16_t)(vq->used_idx | (uint16_t)vq->used_wrap << 15);
	vq->inflight_descs = sum;
	/* [used, avail) holds the in-flight chains; undo used writes there. */
	p = vq->used_idx;
	w = vq->used_wrap;
	for (uint32_t k = 0; k < sum; k++) {
		uint16_t f = virtq_load_relaxed(&ring[p].flags);

		if (!packed_avail_flags(f, w)) {
			f = (uint16_t)((f & ~(VIRTQ_PACKED_AVAIL | VIRTQ_PACKED_USED)) |
				       (w ? VIRTQ_PACKED_AVAIL : VIRTQ_PACKED_USED));
			virtq_store_release(&ring[p].flags, f);
		}
		if (++p == size) {
			p = 0;
			w = !w;
		}
	}
	vq->last_avail_idx = p;
	vq->avail_wrap = w;
	recover_finish(vq, order, count, ids);
	free(order);
	return count;
}

int
virtq_recover(struct virtq *vq, uint16_t *ids)
{
	if (vq->inflight == NULL) {
		return 0;
	}
	return vq->cfg.packed ? virtq_inflight_recover_packed(vq, ids)
			      : virtq_inflight_recover_split(vq, ids);
}
