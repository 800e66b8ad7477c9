/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packed virtqueues (virtio 1.1+ section 2.8): one descriptor ring with
 * AVAIL/USED flags and wrap counters, indirect tables of packed
 * descriptors, driver/device event suppression structures, and the packed
 * half of the inflight log.
 *
 * Owns: the device side of one packed ring. last_avail_idx/avail_wrap is
 * the next descriptor to read; used_idx/used_wrap the next position to
 * write a used descriptor. A buffer (chain) of n ring descriptors advances
 * both by n; its used descriptor carries the id of the chain's last
 * descriptor. The size need not be a power of two.
 *
 * A chain longer than the ring, or a BAD one whose salvage walk passes
 * VIRTQ_WALK_MAX descriptors (virtq.h, "Malformed chains"), breaks the
 * queue before anything of it is committed to the device's indices.
 *
 * Invariants: ring descriptors taken and not yet pushed (inflight_descs)
 * never exceed size, so a used write never lands on a descriptor we have
 * not read; a buffer id is < size and in flight at most once
 * (packed_desc_count[id] = its n while in flight). A batch of pushes writes
 * every used descriptor's flags at once except the first one's, held in
 * pub_flags and written last with release order by publish: the driver
 * polls only that position, so it sees the batch whole or not at all.
 *
 * Inflight log (spec order, region = QueueRegionPacked): pop copies every
 * ring descriptor of the chain into the entry at free_head and walks the
 * free list, the head entry (old_free_head) getting num, counter and
 * inflight=1 first; old_free_head catches up after the last descriptor.
 * Push returns the chain to the free list (desc[e.last].next = free_head;
 * free_head = e) and advances the region's used_idx/used_wrap_counter
 * BEFORE writing the used descriptor (so recovery knows which positions it
 * may have to un-write). Publish writes the first flags, clears inflight of
 * the batch's heads, then sets old_free_head, old_used_idx,
 * old_used_wrap_counter. Because the rollback point old_free_head is also
 * the head entry of the next pop, a pop with pushes not yet published first
 * publishes them (without signalling: flush decides that later).
 *
 * Threading: the poll-group thread that owns the queue, only.
 */
#include <assert.h>

#include "virtq_internal.h"

static inline struct vring_packed_desc *
packed_ring(const struct virtq *vq)
{
	return vq->desc;
}

/* Flags of an available descriptor are AVAIL == wrap, USED != wrap. */
static inline bool
packed_is_avail(uint16_t flags, bool wrap)
{
	return ((flags & VIRTQ_PACKED_AVAIL) != 0) == wrap && ((flags & VIRTQ_PACKED_USED) != 0) != wrap;
}

int
virtq_packed_map(struct virtq *vq, const struct vhost_mem *mem, const char **err)
{
	void *desc, *drv, *dev;

	desc = vhost_mem_uva_to_host(mem, vq->cfg.desc_uva, 16 * (uint64_t)vq->cfg.size);
	drv = vhost_mem_uva_to_host(mem, vq->cfg.avail_uva, 4);
	dev = vhost_mem_uva_to_host(mem, vq->cfg.used_uva, 4);
	if (desc == NULL || drv == NULL || dev == NULL) {
		*err = "packed ring area outside guest memory";
		return -EINVAL;
	}
	if (((uintptr_t)desc & 15) != 0 || ((uintptr_t)drv & 3) != 0 || ((uintptr_t)dev & 3) != 0) {
		*err = "packed ring area misaligned";
		return -EINVAL;
	}
	vq->desc = desc;
	vq->avail = drv;
	vq->used = dev;
	return 0;
}

void
virtq_packed_start(struct virtq *vq)
{
	vq->last_avail_idx = vq->cfg.base & 0x7fff;
	vq->avail_wrap = (vq->cfg.base >> 15) != 0;
	vq->used_idx = vq->cfg.used_base & 0x7fff;
	vq->used_wrap = (vq->cfg.used_base >> 15) != 0;
	vq->pub_idx = vq->used_idx;
	vq->pub_wrap = vq->used_wrap;
	vq->signalled_used = (uint16_t)(vq->used_idx | (uint16_t)vq->used_wrap << 15);
}

/*
 * The table an indirect descriptor points to, or NULL when it may not be
 * followed: indirect negotiated, the chain's only descriptor, a non-zero
 * multiple of 16 bytes, all inside guest memory.
 */
static inline const uint8_t *
packed_indirect_table(const struct virtq *vq, uint64_t addr, uint32_t len, bool sole)
{
	if (!vq->cfg.indirect || !sole || len == 0 || len % sizeof(struct vring_packed_desc) != 0) {
		return NULL;
	}
	return vhost_mem_gpa_to_host(vq->mem, addr, len);
}

/*
 * One ring descriptor of a chain (a data descriptor, or an indirect table
 * when it is the chain's only descriptor). Returns 0 or a negative errno.
 */
static int
packed_add(struct virtq *vq, struct virtq_elem *elem, struct virtq_walk *w, uint64_t addr,
	   uint32_t len, uint16_t flags, bool sole)
{
	struct vring_packed_desc t;
	const uint8_t *table;
	int rc;

	if (spur_likely(!(flags & VRING_DESC_F_INDIRECT))) {
		return virtq_walk_add(vq, elem, w, addr, len, flags & VRING_DESC_F_WRITE);
	}
	table = packed_indirect_table(vq, addr, len, sole);
	if (table == NULL) {
		return -EINVAL;
	}
	/* The table's entries are consecutive; each adds an iovec, so
	 * iov_max bounds this loop whatever len claims. */
	for (uint32_t j = 0; j < len / sizeof(t); j++) {
		virtq_read_once(&t, table + (size_t)j * sizeof(t), sizeof(t));
		if (t.flags & VRING_DESC_F_INDIRECT) {
			return -EINVAL; /* nested */
		}
		rc = virtq_walk_add(vq, elem, w, t.addr, t.len, t.flags & VRING_DESC_F_WRITE);
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

/*
 * One ring descriptor for the salvage walk of a BAD chain (virtq_internal.h);
 * an indirect descriptor that may not be followed, or nested in a table,
 * is stepped over. VIRTQ_WALK_MAX bounds the table loop.
 */
static void
packed_salvage_desc(struct virtq *vq, struct virtq_salvage *s, uint64_t addr, uint32_t len,
		    uint16_t flags, bool sole)
{
	struct vring_packed_desc t;
	const uint8_t *table;

	if (!virtq_salvage_step(s)) {
		return;
	}
	if (!(flags & VRING_DESC_F_INDIRECT)) {
		virtq_salvage_data(s, addr, len, flags & VRING_DESC_F_WRITE);
		return;
	}
	table = packed_indirect_table(vq, addr, len, sole);
	for (uint32_t j = 0; table != NULL && j < len / sizeof(t); j++) {
		if (!virtq_salvage_step(s)) {
			return;
		}
		virtq_read_once(&t, table + (size_t)j * sizeof(t), sizeof(t));
		if (!(t.flags & VRING_DESC_F_INDIRECT)) {
			virtq_salvage_data(s, t.addr, t.len, t.flags & VRING_DESC_F_WRITE);
		}
	}
}

/*
 * The salvage walk of a BAD chain of n ring descriptors from ring position
 * idx: VIRTQ_POP_BAD, or VIRTQ_POP_BROKEN (queue broken) past VIRTQ_WALK_MAX.
 */
static enum virtq_pop_result __attribute__((noinline, cold))
packed_salvage_ring(struct virtq *vq, struct virtq_elem *elem, uint16_t idx, uint16_t n)
{
	struct vring_packed_desc d;
	struct virtq_salvage s;

	virtq_salvage_init(&s);
	for (uint16_t k = 0; k < n && !s.lost; k++) {
		virtq_read_once(&d, &packed_ring(vq)[idx], sizeof(d));
		packed_salvage_desc(vq, &s, d.addr, d.len, d.flags, n == 1);
		if (++idx == vq->cfg.size) {
			idx = 0;
		}
	}
	return virtq_salvage_finish(vq, &s, elem);
}

enum virtq_pop_result
virtq_packed_pop(struct virtq *vq, struct virtq_elem *elem)
{
	struct vring_packed_desc *ring = packed_ring(vq);
	struct virtq_inflight_packed *r = NULL;
	uint16_t size = vq->cfg.size, idx = vq->last_avail_idx, head_flags, n = 0, h = 0, id;
	uint16_t first = idx;
	bool wrap = vq->avail_wrap, bad = false;
	struct vring_packed_desc d;
	struct virtq_walk w;

	/* Acquire: the driver wrote the whole chain before the head's flags. */
	head_flags = virtq_load_acquire(&ring[idx].flags);
	if (!packed_is_avail(head_flags, wrap)) {
		return VIRTQ_POP_EMPTY;
	}
	if (vq->inflight != NULL) {
		if (vq->used_pending != 0) {
			virtq_packed_publish(vq);
		}
		r = virtq_ifl_packed(vq);
		h = r->old_free_head;
		if (spur_unlikely(h >= vq->inflight_num)) {
			return virtq_set_broken(vq, "inflight free list exhausted");
		}
		r->desc[h].num = 0;
		r->desc[h].counter = ++vq->inflight_counter;
		virtq_store_release(&r->desc[h].inflight, 1);
		VIRTQ_CRASH_POINT();
	}
	virtq_walk_init(&w, elem);
	for (;;) {
		virtq_read_once(&d, &ring[idx], sizeof(d));
		if (n == 0) {
			d.flags = head_flags; /* the value we checked */
		}
		n++;
		if (++idx == size) {
			idx = 0;
			wrap = !wrap;
		}
		if (r != NULL) {
			uint16_t f = r->free_head;

			if (spur_unlikely(f >= vq->inflight_num)) {
				return virtq_set_broken(vq, "inflight free list exhausted");
			}
			if (!(d.flags & VRING_DESC_F_NEXT)) {
				r->desc[h].last = f;
			}
			r->desc[h].num++;
			r->desc[f].addr = d.addr;
			r->desc[f].len = d.len;
			r->desc[f].flags = d.flags;
			r->desc[f].id = d.id;
			VIRTQ_CRASH_POINT();
			virtq_store_release(&r->free_head, r->desc[f].next);
			VIRTQ_CRASH_POINT();
		}
		if (!bad) {
			bool sole = n == 1 && !(d.flags & VRING_DESC_F_NEXT);

			bad = packed_add(vq, elem, &w, d.addr, d.len, d.flags, sole) != 0;
		}
		if (!(d.flags & VRING_DESC_F_NEXT)) {
			break;
		}
		if (spur_unlikely(n == size)) {
			return virtq_set_broken(vq, "descriptor chain longer than the queue");
		}
	}
	id = d.id;
	if (spur_unlikely(id >= size)) {
		return virtq_set_broken(vq, "buffer id out of range");
	}
	if (spur_unlikely(vq->packed_desc_count[id] != 0)) {
		return virtq_set_broken(vq, "buffer id offered while already in flight");
	}
	if (spur_unlikely(vq->inflight_descs + n > size)) {
		return virtq_set_broken(vq, "more descriptors in flight than the queue size");
	}
	/* A BAD chain's salvage before anything is committed: an unwalkable
	 * one (VIRTQ_WALK_MAX) breaks the queue and is not taken. */
	if (spur_unlikely(bad) &&
	    packed_salvage_ring(vq, elem, first, n) == VIRTQ_POP_BROKEN) {
		return VIRTQ_POP_BROKEN;
	}
	vq->last_avail_idx = idx;
	vq->avail_wrap = wrap;
	vq->packed_desc_count[id] = n;
	vq->inflight_descs += n;
	if (r != NULL) {
		vq->inflight_slot[id] = h;
		virtq_store_release(&r->old_free_head, r->free_head);
		VIRTQ_CRASH_POINT();
	}
	elem->id = id;
	elem->ndescs = n;
	vq->stat_requests++;
	if (bad) {
		return VIRTQ_POP_BAD; /* elem filled by packed_salvage_ring above */
	}
	virtq_walk_finish(&w, elem);
	return VIRTQ_POP_OK;
}

/* The salvage walk of a BAD chain of num region entries from slot (recovery). */
static enum virtq_pop_result __attribute__((noinline, cold))
packed_salvage_region(struct virtq *vq, struct virtq_elem *elem, uint16_t slot, uint16_t num)
{
	struct virtq_inflight_packed *r = virtq_ifl_packed(vq);
	struct virtq_inflight_desc_packed c;
	struct virtq_salvage s;
	uint16_t e = slot;

	virtq_salvage_init(&s);
	for (uint16_t k = 0; k < num && !s.lost; k++) {
		if (e >= vq->inflight_num) {
			virtq_salvage_lost(&s, "inflight chain entry out of range");
			break;
		}
		virtq_read_once(&c, &r->desc[e], sizeof(c));
		packed_salvage_desc(vq, &s, c.addr, c.len, c.flags, num == 1);
		e = c.next;
	}
	return virtq_salvage_finish(vq, &s, elem);
}

/* Re-read an in-flight chain from the copies in the inflight region. */
enum virtq_pop_result
virtq_packed_get_elem(struct virtq *vq, uint16_t slot, struct virtq_elem *elem)
{
	struct virtq_inflight_packed *r = virtq_ifl_packed(vq);
	struct virtq_inflight_desc_packed c;
	uint16_t num, e = slot, id;
	struct virtq_walk w;
	bool bad = false;

	if (r == NULL || slot >= vq->inflight_num) {
		return VIRTQ_POP_EMPTY;
	}
	num = r->desc[slot].num;
	if (num == 0 || num > vq->cfg.size) {
		return VIRTQ_POP_EMPTY;
	}
	virtq_walk_init(&w, elem);
	for (uint16_t k = 0;; k++) {
		virtq_read_once(&c, &r->desc[e], sizeof(c));
		if (!bad) {
			bad = packed_add(vq, elem, &w, c.addr, c.len, c.flags, num == 1) != 0;
		}
		if (k + 1 == num) {
			break;
		}
		e = c.next;
		if (e >= vq->inflight_num) {
			return VIRTQ_POP_EMPTY;
		}
	}
	id = c.id;
	if (id >= vq->cfg.size || vq->packed_desc_count[id] != num || vq->inflight_slot[id] != slot) {
		return VIRTQ_POP_EMPTY; /* not what virtq_recover found */
	}
	elem->id = id;
	elem->ndescs = num;
	if (bad) {
		return packed_salvage_region(vq, elem, slot, num);
	}
	virtq_walk_finish(&w, elem);
	return VIRTQ_POP_OK;
}

void
virtq_packed_push(struct virtq *vq, const struct virtq_elem *elem, uint32_t len)
{
	struct vring_packed_desc *d = &packed_ring(vq)[vq->used_idx];
	uint16_t id = elem->id, n, flags;

	assert(id < vq->cfg.size && vq->packed_desc_count[id] != 0);
	n = vq->packed_desc_count[id];
	flags = vq->used_wrap ? (VIRTQ_PACKED_AVAIL | VIRTQ_PACKED_USED) : 0;
	if (len != 0) {
		flags |= VRING_DESC_F_WRITE;
	}
	vq->used_idx += n;
	if (vq->used_idx >= vq->cfg.size) {
		vq->used_idx -= vq->cfg.size;
		vq->used_wrap = !vq->used_wrap;
	}
	if (vq->inflight != NULL) {
		struct virtq_inflight_packed *r = virtq_ifl_packed(vq);
		uint16_t e = vq->inflight_slot[id], last = r->desc[e].last;

		if (spur_likely(last < vq->inflight_num)) {
			r->desc[last].next = r->free_head;
		}
		VIRTQ_CRASH_POINT();
		virtq_store_release(&r->free_head, e);
		VIRTQ_CRASH_POINT();
		virtq_store_release(&r->used_idx, vq->used_idx);
		VIRTQ_CRASH_POINT();
		virtq_store_release(&r->used_wrap_counter, (uint8_t)vq->used_wrap);
		VIRTQ_CRASH_POINT();
	}
	virtq_store_relaxed(&d->id, id);
	virtq_store_relaxed(&d->len, len);
	if (vq->used_pending == 0) {
		vq->pub_flags = flags; /* written last, by publish */
	} else {
		/* Release only for the inflight order (region before ring);
		 * the driver cannot look here before the batch's first. */
		virtq_store_release(&d->flags, flags);
		VIRTQ_CRASH_POINT();
	}
	vq->packed_desc_count[id] = 0;
	vq->inflight_descs -= n;
	vq->inflight_batch++;
	vq->used_pending++;
	vq->ops_since_tick++;
}

void
virtq_packed_publish(struct virtq *vq)
{
	if (vq->used_pending == 0) {
		return;
	}
	/* Release: ids, lengths and the other flags of the batch come first. */
	virtq_store_release(&packed_ring(vq)[vq->pub_idx].flags, vq->pub_flags);
	VIRTQ_CRASH_POINT();
	if (vq->inflight != NULL) {
		struct virtq_inflight_packed *r = virtq_ifl_packed(vq);
		uint16_t e = r->free_head, num = vq->inflight_num;

		/* The batch's chains are the first inflight_batch ones of the free list. */
		for (uint16_t k = 0; k < vq->inflight_batch && e < num; k++) {
			uint16_t last = r->desc[e].last;

			virtq_store_release(&r->desc[e].inflight, 0);
			VIRTQ_CRASH_POINT();
			if (last >= num) {
				break;
			}
			e = r->desc[last].next;
		}
		virtq_store_release(&r->old_free_head, r->free_head);
		VIRTQ_CRASH_POINT();
		virtq_store_release(&r->old_used_idx, vq->used_idx);
		VIRTQ_CRASH_POINT();
		virtq_store_release(&r->old_used_wrap_counter, (uint8_t)vq->used_wrap);
	}
	vq->inflight_batch = 0;
	vq->pub_idx = vq->used_idx;
	vq->pub_wrap = vq->used_wrap;
	vq->pub_count += vq->used_pending;
	vq->used_pending = 0;
}

bool
virtq_packed_need_signal(struct virtq *vq)
{
	const struct vring_packed_desc_event *drv = vq->avail;
	uint16_t size = vq->cfg.size, old = vq->signalled_used, flags, off_wrap;
	uint16_t new_idx = vq->pub_idx, old_idx = old & 0x7fff;
	bool new_wrap = vq->pub_wrap, old_wrap = (old >> 15) != 0, valid = vq->signalled_used_valid;
	uint32_t ev, dist;
	int32_t event;

	/* The batch is published; now read what the driver asked for. */
	virtq_full_fence();
	ev = virtq_load_relaxed((const uint32_t *)drv); /* off_wrap, flags: one read */
	off_wrap = (uint16_t)ev;
	flags = (uint16_t)(ev >> 16) & 3;
	vq->signalled_used = (uint16_t)(new_idx | (uint16_t)new_wrap << 15);
	vq->signalled_used_valid = true;
	if (flags == VRING_PACKED_EVENT_FLAG_DISABLE) {
		return false;
	}
	if (flags != VRING_PACKED_EVENT_FLAG_DESC || !vq->cfg.event_idx || !valid) {
		return true; /* ENABLE (or reserved 3) */
	}
	/* Positions written since the last check: [old, new), at most one lap. */
	dist = (uint32_t)new_idx - old_idx + (new_wrap != old_wrap ? size : 0);
	/* The event position relative to new's lap; a different wrap bit means
	 * the previous lap. */
	event = off_wrap & 0x7fff;
	if (((off_wrap >> 15) != 0) != new_wrap) {
		event -= size;
	}
	return (uint32_t)((int32_t)new_idx - event - 1) < dist;
}

bool
virtq_packed_has_work(const struct virtq *vq)
{
	uint16_t flags = virtq_load_relaxed(&packed_ring(vq)[vq->last_avail_idx].flags);

	return packed_is_avail(flags, vq->avail_wrap);
}

void
virtq_packed_set_notify(struct virtq *vq, bool enable)
{
	struct vring_packed_desc_event *dev = vq->used;

	virtq_store_relaxed(&dev->flags, (uint16_t)(enable ? VRING_PACKED_EVENT_FLAG_ENABLE
							    : VRING_PACKED_EVENT_FLAG_DISABLE));
	/* Order the store before the caller's has_work re-check (no lost kick). */
	virtq_full_fence();
}
