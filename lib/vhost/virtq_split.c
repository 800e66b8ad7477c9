/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split virtqueues (virtio 1.x section 2.7): descriptor table, available
 * ring, used ring, indirect tables, EVENT_IDX / NO_INTERRUPT / NO_NOTIFY,
 * and the split half of the inflight log.
 *
 * Owns: the device side of one split ring. Indices: last_avail_idx and
 * used_idx are free-running 16-bit counters; a ring slot is idx & (size-1)
 * (size is a power of two). shadow_avail_idx caches the driver's avail->idx
 * so a burst of pops reads that shared cache line once; pub_idx is what
 * used->idx holds (we never read it back).
 *
 * Invariants: every head we hand out is < size and not already in flight
 * (packed_desc_count[head] != 0 while it is); a chain never makes us touch
 * more than size descriptors of the table (or the indirect table's length)
 * per walk (a BAD one gets a second, salvage walk: virtq.h; one that
 * cannot be followed to its end stops the queue before its head is taken),
 * and nothing outside guest memory. used->idx advances only in
 * virtq_split_publish, with release order after the entries it covers.
 *
 * Inflight log order (spec): pop sets desc[head].counter, then inflight=1,
 * before returning; push links head into the last-batch list
 * (desc[head].next = last_batch_head; last_batch_head = head); publish
 * stores used->idx, then clears inflight of the batch, then records
 * used_idx, then empties the list (last_batch_head = NONE, our addition: a
 * crash that happens before any batch was ever published finds an empty
 * list, never a stale head 0 that may be live).
 *
 * Threading: the poll-group thread that owns the queue, only.
 */
#include <assert.h>

#include "virtq_internal.h"

static inline struct vring_avail *
split_avail(const struct virtq *vq)
{
	return vq->avail;
}

static inline struct vring_used *
split_used(const struct virtq *vq)
{
	return vq->used;
}

/* used_event lives after the avail ring, avail_event after the used ring. */
static inline uint16_t *
split_used_event(const struct virtq *vq)
{
	return &split_avail(vq)->ring[vq->cfg.size];
}

static inline uint16_t *
split_avail_event(const struct virtq *vq)
{
	return (uint16_t *)&split_used(vq)->ring[vq->cfg.size];
}

int
virtq_split_map(struct virtq *vq, const struct vhost_mem *mem, const char **err)
{
	uint64_t n = vq->cfg.size, extra = vq->cfg.event_idx ? 2 : 0;
	void *desc, *avail, *used;

	desc = vhost_mem_uva_to_host(mem, vq->cfg.desc_uva, 16 * n);
	avail = vhost_mem_uva_to_host(mem, vq->cfg.avail_uva, 4 + 2 * n + extra);
	used = vhost_mem_uva_to_host(mem, vq->cfg.used_uva, 4 + 8 * n + extra);
	if (desc == NULL || avail == NULL || used == NULL) {
		*err = "split ring area outside guest memory";
		return -EINVAL;
	}
	if (((uintptr_t)desc & 15) != 0 || ((uintptr_t)avail & 1) != 0 ||
	    ((uintptr_t)used & 3) != 0) {
		*err = "split ring area misaligned";
		return -EINVAL;
	}
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	return 0;
}

void
virtq_split_start(struct virtq *vq)
{
	vq->last_avail_idx = vq->cfg.base;
	vq->shadow_avail_idx = vq->cfg.base;
	/* The used ring is the truth for what was completed before us. */
	vq->used_idx = virtq_load_acquire(&split_used(vq)->idx);
	vq->pub_idx = vq->used_idx;
	vq->signalled_used = vq->used_idx;
}

/*
 * The table an indirect descriptor d points to, or NULL when it may not be
 * followed: indirect negotiated, the only descriptor of the chain (count
 * 1, not inside a table, no NEXT), a non-zero multiple of 16 bytes, all
 * inside guest memory.
 */
static inline const uint8_t *
split_indirect_table(const struct virtq *vq, const struct vring_desc *d, bool in_table,
		     uint32_t count)
{
	if (!vq->cfg.indirect || in_table || count != 1 || (d->flags & VRING_DESC_F_NEXT) ||
	    d->len == 0 || d->len % sizeof(*d) != 0) {
		return NULL;
	}
	return vhost_mem_gpa_to_host(vq->mem, d->addr, d->len);
}

/*
 * The salvage walk of a BAD chain (virtq_internal.h): its first and last
 * writable descriptors, if it can be followed to its end; if not (a loop,
 * longer than its table, a next index out of range, VIRTQ_WALK_MAX) the
 * queue is marked broken and VIRTQ_POP_BROKEN returned. An indirect
 * descriptor that may not be followed is stepped over.
 */
static enum virtq_pop_result __attribute__((noinline, cold))
split_salvage(struct virtq *vq, uint16_t head, struct virtq_elem *elem)
{
	const uint8_t *table = vq->desc, *t;
	uint32_t max = vq->cfg.size, count = 0, i = head;
	bool in_table = false;
	struct virtq_salvage s;
	struct vring_desc d;

	virtq_salvage_init(&s);
	for (;;) {
		if (++count > max) {
			virtq_salvage_lost(&s, "descriptor chain loops or is longer than its "
					       "table");
			break;
		}
		if (!virtq_salvage_step(&s)) {
			break; /* VIRTQ_WALK_MAX */
		}
		virtq_read_once(&d, table + (size_t)i * sizeof(d), sizeof(d));
		if (d.flags & VRING_DESC_F_INDIRECT) {
			t = split_indirect_table(vq, &d, in_table, count);
			if (t != NULL) {
				table = t;
				max = d.len / sizeof(d);
				count = 0;
				i = 0;
				in_table = true;
				continue;
			}
		} else {
			virtq_salvage_data(&s, d.addr, d.len, d.flags & VRING_DESC_F_WRITE);
		}
		if (!(d.flags & VRING_DESC_F_NEXT)) {
			break;
		}
		i = d.next;
		if (i >= max) {
			virtq_salvage_lost(&s, "next descriptor index out of range");
			break;
		}
	}
	return virtq_salvage_finish(vq, &s, elem);
}

/*
 * Walk the chain at head into elem: OK, BAD (walkable, with its salvage)
 * or BROKEN (unwalkable; the queue is now broken). Bounded by the table
 * length (loops and over-long chains both end there) and by elem->iov_max
 * (every data descriptor adds at least one iovec), so a hostile chain
 * costs at most min(size, iov_max) + 1 descriptor reads, plus
 * VIRTQ_WALK_MAX for the salvage walk of a BAD one.
 */
static enum virtq_pop_result
split_walk(struct virtq *vq, uint16_t head, struct virtq_elem *elem)
{
	const uint8_t *table = vq->desc;
	uint32_t max = vq->cfg.size, count = 0, i = head;
	bool indirect = false;
	struct virtq_walk w;
	struct vring_desc d;

	virtq_walk_init(&w, elem);
	for (;;) {
		if (spur_unlikely(++count > max)) {
			goto bad; /* loop, or longer than the table */
		}
		virtq_read_once(&d, table + (size_t)i * sizeof(d), sizeof(d));
		if (spur_unlikely(d.flags & VRING_DESC_F_INDIRECT)) {
			table = split_indirect_table(vq, &d, indirect, count);
			if (table == NULL) {
				goto bad;
			}
			max = d.len / sizeof(d);
			count = 0;
			i = 0;
			indirect = true;
			continue;
		}
		if (virtq_walk_add(vq, elem, &w, d.addr, d.len, d.flags & VRING_DESC_F_WRITE) != 0) {
			goto bad;
		}
		if (!(d.flags & VRING_DESC_F_NEXT)) {
			break;
		}
		i = d.next;
		if (spur_unlikely(i >= max)) {
			goto bad;
		}
	}
	virtq_walk_finish(&w, elem);
	return VIRTQ_POP_OK;
bad:
	return split_salvage(vq, head, elem);
}

enum virtq_pop_result
virtq_split_pop(struct virtq *vq, struct virtq_elem *elem)
{
	struct vring_avail *avail = split_avail(vq);
	uint16_t size = vq->cfg.size, last = vq->last_avail_idx, head;
	enum virtq_pop_result rc;

	if (last == vq->shadow_avail_idx) {
		/* Acquire: the ring entries and descriptors it covers are visible. */
		uint16_t idx = virtq_load_acquire(&avail->idx);

		if (idx == last) {
			return VIRTQ_POP_EMPTY;
		}
		if (spur_unlikely((uint16_t)(idx - last) > size)) {
			return virtq_set_broken(vq, "avail index moved past the queue size");
		}
		vq->shadow_avail_idx = idx;
	}
	head = virtq_load_relaxed(&avail->ring[last & (size - 1)]);
	if (spur_unlikely(head >= size)) {
		return virtq_set_broken(vq, "head index out of range");
	}
	if (spur_unlikely(vq->packed_desc_count[head] != 0)) {
		return virtq_set_broken(vq, "head offered while already in flight");
	}
	if ((uint16_t)(last + 1) != vq->shadow_avail_idx) {
		/* The next head is published: start fetching its descriptor
		 * (a random access into the table) while we walk this one. */
		uint16_t next = virtq_load_relaxed(&avail->ring[(last + 1) & (size - 1)]);

		__builtin_prefetch((const uint8_t *)vq->desc + (size_t)(next & (size - 1)) * 16);
	}
	elem->id = head;
	elem->ndescs = 1;
	rc = split_walk(vq, head, elem);
	if (spur_unlikely(rc == VIRTQ_POP_BROKEN)) {
		/* Unwalkable (cold, after the salvage walk): not taken, the
		 * queue stops at this head. The good path returns OK from the
		 * inlined walk, so the compiler drops this test there. */
		return rc;
	}
	vq->last_avail_idx = last + 1;
	/* BAD chains are in flight too: the caller answers them with push. */
	vq->packed_desc_count[head] = 1;
	if (vq->inflight != NULL) {
		struct virtq_inflight_split *r = virtq_ifl_split(vq);

		r->desc[head].counter = ++vq->inflight_counter;
		VIRTQ_CRASH_POINT();
		virtq_store_release(&r->desc[head].inflight, 1);
		VIRTQ_CRASH_POINT();
	}
	vq->stat_requests++;
	return rc;
}

enum virtq_pop_result
virtq_split_get_elem(struct virtq *vq, uint16_t id, struct virtq_elem *elem)
{
	if (id >= vq->cfg.size || vq->packed_desc_count[id] == 0) {
		return VIRTQ_POP_EMPTY;
	}
	elem->id = id;
	elem->ndescs = 1;
	return split_walk(vq, id, elem);
}

void
virtq_split_push(struct virtq *vq, const struct virtq_elem *elem, uint32_t len)
{
	uint16_t id = elem->id;
	struct vring_used_elem *u = &split_used(vq)->ring[vq->used_idx & (vq->cfg.size - 1)];

	assert(id < vq->cfg.size && vq->packed_desc_count[id] != 0);
	if (vq->inflight != NULL) {
		struct virtq_inflight_split *r = virtq_ifl_split(vq);

		r->desc[id].next = r->last_batch_head;
		VIRTQ_CRASH_POINT();
		virtq_store_release(&r->last_batch_head, id);
		VIRTQ_CRASH_POINT();
	}
	u->id = id;
	u->len = len;
	vq->packed_desc_count[id] = 0;
	vq->used_idx++;
	vq->used_pending++;
	vq->ops_since_tick++;
}

void
virtq_split_publish(struct virtq *vq)
{
	uint16_t n = (uint16_t)(vq->used_idx - vq->pub_idx);

	if (n == 0) {
		return;
	}
	/* Release: the ring entries written by push are visible first. */
	virtq_store_release(&split_used(vq)->idx, vq->used_idx);
	VIRTQ_CRASH_POINT();
	if (vq->inflight != NULL) {
		struct virtq_inflight_split *r = virtq_ifl_split(vq);
		uint16_t i = r->last_batch_head, size = vq->cfg.size;

		for (uint16_t k = 0; k < n && i < size; k++) {
			virtq_store_release(&r->desc[i].inflight, 0);
			VIRTQ_CRASH_POINT();
			i = r->desc[i].next;
		}
		virtq_store_release(&r->used_idx, vq->used_idx);
		VIRTQ_CRASH_POINT();
		virtq_store_release(&r->last_batch_head, (uint16_t)VIRTQ_INFLIGHT_NONE);
	}
	vq->pub_idx = vq->used_idx;
	vq->pub_count += n;
	vq->used_pending = 0;
}

bool
virtq_split_need_signal(struct virtq *vq)
{
	uint16_t old, new_idx, event;
	bool valid;

	/* used->idx is published; now read what the driver asked for. */
	virtq_full_fence();
	if (!vq->cfg.event_idx) {
		return !(virtq_load_relaxed(&split_avail(vq)->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	}
	old = vq->signalled_used;
	valid = vq->signalled_used_valid;
	new_idx = vq->pub_idx;
	vq->signalled_used = new_idx;
	vq->signalled_used_valid = true;
	if (!valid) {
		return true;
	}
	event = virtq_load_relaxed(split_used_event(vq));
	/* Signal when event lies in [old, new): the entries published since the last check. */
	return vring_need_event(event, new_idx, old);
}

bool
virtq_split_has_work(const struct virtq *vq)
{
	return virtq_load_relaxed(&split_avail(vq)->idx) != vq->last_avail_idx;
}

void
virtq_split_set_notify(struct virtq *vq, bool enable)
{
	if (!vq->cfg.event_idx) {
		virtq_store_relaxed(&split_used(vq)->flags,
				    (uint16_t)(enable ? 0 : VRING_USED_F_NO_NOTIFY));
	} else if (enable) {
		/* Kick me when the driver makes the entry at last_avail_idx available. */
		virtq_store_relaxed(split_avail_event(vq), vq->last_avail_idx);
	}
	/* With EVENT_IDX, disabling is leaving avail_event behind: the driver
	 * kicks only when its index crosses it. The fence orders our store
	 * before the caller's has_work re-check (no lost kick). */
	virtq_full_fence();
}
