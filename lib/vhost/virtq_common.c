/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtq API of virtq.h: set-up and tear-down, the dispatch on
 * cfg.packed to virtq_split.c / virtq_packed.c, and what both layouts share
 * after an entry is published: the signal decision with its interrupt
 * coalescing, and the call-eventfd write. Also the end both layouts share
 * of a malformed chain's salvage walk (virtq.h, "Malformed chains"): an
 * unwalkable chain breaks the queue there.
 *
 * Signalling. flush publishes (layout code), then asks the layout whether
 * the driver wants a signal for the entries published since the previous
 * check (EVENT_IDX window or flags); a "yes" sets signal_pending, which
 * stays set until a signal is actually written, so a decision deferred by
 * coalescing is never forgotten even if later windows say "no".
 *
 * Coalescing (coalesce_delay_us > 0): completions are counted; about once a
 * millisecond (at a flush that owes a signal) the rate since the previous
 * sample is compared with coalesce_iops_threshold. Above it, signals are
 * spaced at least delay apart: one owed before next_signal_tick waits for
 * the first flush at or after it. Below it, every owed signal goes out at
 * once. The added latency is thus bounded by the delay, provided the caller
 * flushes while virtq_signal_pending() (see virtq.h).
 *
 * Threading: virtq_init/set_mem/fini/set_coalescing while the queue is
 * stopped (or on its thread); everything else on the queue's poll-group
 * thread.
 */
#include <stdlib.h>
#include <unistd.h>

#include "spur/log.h"
#include "virtq_internal.h"

enum virtq_pop_result
virtq_set_broken(struct virtq *vq, const char *reason)
{
	if (!vq->broken) {
		vq->broken = true;
		vq->broken_reason = reason;
		SPUR_ERRLOG("virtqueue (%s, size %u) broken: %s", vq->cfg.packed ? "packed" : "split",
			    vq->cfg.size, reason);
	}
	return VIRTQ_POP_BROKEN;
}

/*
 * The end of a salvage walk (virtq_internal.h): an unwalkable chain stops
 * the queue; a walkable one offers its first and last writable
 * descriptors, each translated whole or not at all, one after the other
 * at the start of elem->iov (the same descriptor twice when there is one).
 */
enum virtq_pop_result
virtq_salvage_finish(struct virtq *vq, const struct virtq_salvage *s, struct virtq_elem *elem)
{
	uint32_t n = 0;

	elem->out_num = 0;
	elem->in_num = 0;
	elem->in_len = 0;
	elem->bad_first = 0;
	elem->bad_last = 0;
	if (s->lost) {
		return virtq_set_broken(vq, s->why); /* set with lost */
	}
	if (!s->have_write) {
		return VIRTQ_POP_BAD;
	}
	if (vhost_mem_gpa_to_iovs(vq->mem, s->first_addr, s->first_len, elem->iov, &n,
				  elem->iov_max) == 0) {
		elem->bad_first = n;
	}
	if (vhost_mem_gpa_to_iovs(vq->mem, s->last_addr, s->last_len, elem->iov, &n,
				  elem->iov_max) == 0) {
		elem->bad_last = n - elem->bad_first;
	}
	return VIRTQ_POP_BAD;
}

int
virtq_init(struct virtq *vq, const struct virtq_config *cfg, const struct vhost_mem *mem,
	   int call_fd, const char **err)
{
	int rc;

	memset(vq, 0, sizeof(*vq));
	vq->call_fd = -1;
	if (cfg->size == 0 || cfg->size > VIRTQ_MAX_SIZE) {
		*err = "queue size out of range";
		return -EINVAL;
	}
	if (!cfg->packed && (cfg->size & (cfg->size - 1)) != 0) {
		*err = "split queue size is not a power of two";
		return -EINVAL;
	}
	if (cfg->packed && ((cfg->base & 0x7fff) >= cfg->size || (cfg->used_base & 0x7fff) >= cfg->size)) {
		*err = "packed ring base index out of range";
		return -EINVAL;
	}
	vq->cfg = *cfg;
	rc = cfg->packed ? virtq_packed_map(vq, mem, err) : virtq_split_map(vq, mem, err);
	if (rc != 0) {
		return rc;
	}
	/* Per id: descriptors in flight, then (packed) its inflight-region entry. */
	vq->packed_desc_count = calloc(2 * (size_t)cfg->size, sizeof(uint16_t));
	if (vq->packed_desc_count == NULL) {
		*err = "out of memory";
		return -ENOMEM;
	}
	vq->inflight_slot = vq->packed_desc_count + cfg->size;
	vq->mem = mem;
	vq->call_fd = call_fd;
	vq->ticks_hz = spur_get_ticks_hz();
	if (cfg->packed) {
		virtq_packed_start(vq);
	} else {
		virtq_split_start(vq);
	}
	/* The first check signals whatever it finds: a previous backend may
	 * have published without signalling. */
	vq->signalled_used_valid = false;
	return 0;
}

int
virtq_set_mem(struct virtq *vq, const struct vhost_mem *mem, const char **err)
{
	void *desc = vq->desc, *avail = vq->avail, *used = vq->used;
	int rc;

	rc = vq->cfg.packed ? virtq_packed_map(vq, mem, err) : virtq_split_map(vq, mem, err);
	if (rc != 0) {
		vq->desc = desc;
		vq->avail = avail;
		vq->used = used;
		return rc;
	}
	vq->mem = mem;
	return 0;
}

void
virtq_fini(struct virtq *vq)
{
	free(vq->packed_desc_count);
	vq->packed_desc_count = NULL;
	vq->inflight_slot = NULL;
	vq->inflight = NULL;
	vq->desc = vq->avail = vq->used = NULL;
	vq->mem = NULL;
	vq->call_fd = -1;
}

enum virtq_pop_result
virtq_pop(struct virtq *vq, struct virtq_elem *elem)
{
	if (spur_unlikely(vq->broken)) {
		return VIRTQ_POP_BROKEN;
	}
	return vq->cfg.packed ? virtq_packed_pop(vq, elem) : virtq_split_pop(vq, elem);
}

enum virtq_pop_result
virtq_get_elem(struct virtq *vq, uint16_t id, struct virtq_elem *elem)
{
	if (vq->broken) {
		return VIRTQ_POP_BROKEN;
	}
	return vq->cfg.packed ? virtq_packed_get_elem(vq, id, elem)
			      : virtq_split_get_elem(vq, id, elem);
}

void
virtq_push(struct virtq *vq, const struct virtq_elem *elem, uint32_t len)
{
	if (vq->cfg.packed) {
		virtq_packed_push(vq, elem, len);
	} else {
		virtq_split_push(vq, elem, len);
	}
}

static void
virtq_signal(struct virtq *vq)
{
	uint64_t one = 1;

	vq->signal_pending = false;
	vq->stat_signals++;
	if (vq->call_fd >= 0 && write(vq->call_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the eventfd counter is saturated, the driver is
		 * signalled already. Anything else: nobody listens. */
	}
}

static void
virtq_maybe_signal(struct virtq *vq, uint64_t now)
{
	if (vq->coalesce_delay_us != 0) {
		uint64_t elapsed = now - vq->rate_tick;

		if (elapsed >= vq->ticks_hz / 1000) {
			/* ops/elapsed*hz > threshold, without a division. */
			vq->coalescing = (unsigned __int128)vq->ops_since_tick * vq->ticks_hz >
					 (unsigned __int128)vq->coalesce_iops_threshold * elapsed;
			vq->rate_tick = now;
			vq->ops_since_tick = 0;
		}
		if (vq->coalescing) {
			if (now < vq->next_signal_tick) {
				return; /* stays pending */
			}
			vq->next_signal_tick =
				now + (uint64_t)vq->coalesce_delay_us * vq->ticks_hz / 1000000;
		}
	}
	virtq_signal(vq);
}

uint32_t
virtq_flush(struct virtq *vq, uint64_t now_ticks)
{
	uint32_t n;

	if (vq->used_pending != 0) {
		if (vq->cfg.packed) {
			virtq_packed_publish(vq);
		} else {
			virtq_split_publish(vq);
		}
	}
	n = vq->pub_count;
	if (n != 0) {
		vq->pub_count = 0;
		if (vq->cfg.packed ? virtq_packed_need_signal(vq) : virtq_split_need_signal(vq)) {
			vq->signal_pending = true;
		}
	}
	if (vq->signal_pending) {
		virtq_maybe_signal(vq, now_ticks);
	}
	return n;
}

void
virtq_set_coalescing(struct virtq *vq, uint32_t delay_us, uint32_t iops_threshold)
{
	vq->coalesce_delay_us = delay_us;
	vq->coalesce_iops_threshold = iops_threshold;
	vq->coalescing = false;
	vq->ops_since_tick = 0;
	vq->rate_tick = 0;
	vq->next_signal_tick = 0;
}

bool
virtq_has_work(const struct virtq *vq)
{
	if (vq->broken) {
		return false;
	}
	return vq->cfg.packed ? virtq_packed_has_work(vq) : virtq_split_has_work(vq);
}

void
virtq_set_notify(struct virtq *vq, bool enable)
{
	if (vq->cfg.packed) {
		virtq_packed_set_notify(vq, enable);
	} else {
		virtq_split_set_notify(vq, enable);
	}
}

uint16_t
virtq_get_base(const struct virtq *vq)
{
	if (vq->cfg.packed) {
		return (uint16_t)(vq->last_avail_idx | (uint16_t)vq->avail_wrap << 15);
	}
	return vq->last_avail_idx;
}

uint16_t
virtq_get_used_base(const struct virtq *vq)
{
	if (vq->cfg.packed) {
		return (uint16_t)(vq->used_idx | (uint16_t)vq->used_wrap << 15);
	}
	return vq->used_idx;
}
