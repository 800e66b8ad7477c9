/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A minimal virtio-blk driver for spur_vhost_memstall on the frontend
 * library (frontend.h): connection and negotiation, one split queue,
 * preallocated request slots, reads into caller-chosen guest-physical
 * ranges, completion.
 *
 * Slot s always uses the same header and status byte (carved from the
 * guest memory's bump allocator next to the rings) and descriptors
 * s*stride .. s*stride+stride-1, so a used id names its slot. The data
 * range is chosen per request, which lets the disruptor make spur write
 * anywhere in a large guest.
 *
 * Threading: a struct ms_blk belongs to one thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_config.h>

#include "memstall.h"

int
ms_blk_connect(struct ms_blk *b, const char *sock, bool slots)
{
	struct vfe_dev *d = &b->dev;
	uint64_t proto = (1ull << VFE_PROTOCOL_F_REPLY_ACK) | (1ull << VFE_PROTOCOL_F_CONFIG);
	uint64_t want = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_BLK_F_SIZE_MAX) |
			(1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
			(1ull << VIRTIO_RING_F_EVENT_IDX);
	int attempt, rc;

	if (slots) {
		proto |= 1ull << VFE_PROTOCOL_F_CONFIGURE_MEM_SLOTS;
	}
	/* The backend may still be closing our previous session: it then drops us at once. */
	for (attempt = 0;; attempt++) {
		rc = vfe_connect(d, sock, 5000);
		if (rc < 0) {
			return rc;
		}
		rc = vfe_negotiate(d, proto);
		if (rc == 0) {
			break;
		}
		if ((rc != -ECONNRESET && rc != -EPIPE) || attempt == 200) {
			return rc;
		}
		vfe_close(d);
		usleep(10000);
	}
	rc = vfe_get_config(d, &b->cfg, offsetof(struct virtio_blk_config, max_secure_erase_sectors));
	if (rc < 0) {
		return rc;
	}
	rc = vfe_set_features(d, want);
	if (rc < 0) {
		return rc;
	}
	if (!(d->features & (1ull << VIRTIO_F_VERSION_1))) {
		snprintf(d->err, sizeof(d->err), "backend does not offer VIRTIO_F_VERSION_1");
		return -ENOTSUP;
	}
	b->capacity = b->cfg.capacity * 512ull;
	b->size_max = (d->features & (1ull << VIRTIO_BLK_F_SIZE_MAX)) && b->cfg.size_max != 0 ?
			      b->cfg.size_max & ~511u : 1u << 20;
	b->seg_max = (d->features & (1ull << VIRTIO_BLK_F_SEG_MAX)) && b->cfg.seg_max != 0 ?
			     b->cfg.seg_max : MS_MAX_SEGS;
	if (b->size_max == 0) {
		b->size_max = 4096;
	}
	return 0;
}

static uint32_t
next_pow2(uint32_t v)
{
	uint32_t r = 1;

	while (r < v) {
		r <<= 1;
	}
	return r;
}

int
ms_blk_queue_init(struct ms_blk *b, uint32_t depth, uint32_t max_io, bool irq)
{
	struct vfe_dev *d = &b->dev;
	uint32_t segs = (max_io + b->size_max - 1) / b->size_max, size, s;
	int rc;

	if (segs > MS_MAX_SEGS || segs > b->seg_max || depth == 0) {
		snprintf(d->err, sizeof(d->err), "%u-byte requests need %u segments, too many",
			 max_io, segs);
		return -EINVAL;
	}
	b->stride = segs + 2;
	size = next_pow2(depth * b->stride);
	if (size > 32768) {
		snprintf(d->err, sizeof(d->err), "depth %u needs too many descriptors", depth);
		return -EINVAL;
	}
	rc = vfe_queue_setup(d, 0, (uint16_t)size, false);
	if (rc < 0) {
		return rc;
	}
	b->q = &d->queues[0];
	b->depth = depth;
	b->inflight = 0;
	free(b->slots);
	free(b->free_slots);
	b->slots = calloc(depth, sizeof(*b->slots));
	b->free_slots = calloc(depth, sizeof(*b->free_slots));
	if (b->slots == NULL || b->free_slots == NULL) {
		return -ENOMEM;
	}
	for (s = 0; s < depth; s++) {
		struct ms_slot *sl = &b->slots[s];
		uint8_t *ctl = vfe_mem_alloc(d, 64, 64, &sl->hdr_gpa);

		if (ctl == NULL) {
			snprintf(d->err, sizeof(d->err), "guest memory too small for the slots");
			return -ENOMEM;
		}
		sl->hdr = (struct virtio_blk_outhdr *)ctl;
		sl->status = ctl + 32;
		b->free_slots[depth - 1 - s] = s;
	}
	b->nfree = depth;
	vfe_set_interrupts(b->q, irq);
	return 0;
}

int
ms_blk_get_slot(struct ms_blk *b)
{
	return b->nfree > 0 ? (int)b->free_slots[--b->nfree] : -1;
}

int
ms_blk_read(struct ms_blk *b, uint32_t s, uint64_t sector, uint64_t gpa, uint32_t len,
	    uint64_t now)
{
	struct ms_slot *sl = &b->slots[s];
	uint32_t off = 0;
	int rc;

	sl->hdr->type = VIRTIO_BLK_T_IN;
	sl->hdr->ioprio = 0;
	sl->hdr->sector = sector;
	*sl->status = 0xff;
	sl->bufs[0] = (struct vfe_buf){.gpa = sl->hdr_gpa, .len = sizeof(*sl->hdr)};
	sl->nbufs = 1;
	while (off < len) {
		uint32_t n = len - off < b->size_max ? len - off : b->size_max;

		if (sl->nbufs > (int)b->stride - 2) {
			return -E2BIG;
		}
		sl->bufs[sl->nbufs++] = (struct vfe_buf){.gpa = gpa + off, .len = n, .write = true};
		off += n;
	}
	sl->bufs[sl->nbufs++] = (struct vfe_buf){.gpa = sl->hdr_gpa + 32, .len = 1, .write = true};
	sl->len = len;
	sl->submit_ns = now;
	rc = vfe_add_chain(b->q, (uint16_t)(s * b->stride), sl->bufs, sl->nbufs);
	if (rc == 0) {
		b->inflight++;
	}
	return rc;
}

void
ms_blk_flush(struct ms_blk *b)
{
	if (vfe_publish(b->q)) {
		vfe_kick(b->q);
	}
}

bool
ms_blk_reap(struct ms_blk *b, uint32_t *slot, bool *ok, bool *bad)
{
	uint16_t id;
	uint32_t len, s;

	*bad = false;
	if (!vfe_get_used(b->q, &id, &len)) {
		return false;
	}
	s = id / b->stride;
	if (id % b->stride != 0 || s >= b->depth || b->inflight == 0) {
		*bad = true;
		return true;
	}
	b->inflight--;
	b->free_slots[b->nfree++] = s;
	*slot = s;
	*ok = *b->slots[s].status == VIRTIO_BLK_S_OK && len == b->slots[s].len + 1;
	return true;
}

void
ms_blk_close(struct ms_blk *b, bool keep_mem)
{
	if (keep_mem) {
		b->dev.mem = NULL;
		b->dev.mem_fd = -1;
	}
	vfe_close(&b->dev);
	free(b->slots);
	free(b->free_slots);
	b->slots = NULL;
	b->free_slots = NULL;
	b->q = NULL;
	b->nfree = 0;
	b->inflight = 0;
}
