/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spur_vhost_perf's virtio-blk requests (--type blk, the default): feature
 * negotiation and config space (capacity, block size, segment limits,
 * read-only, queue count) and the chain of one request as a Linux guest
 * lays it out: a 16-byte virtio_blk_outhdr (device-readable), the data
 * descriptors, and a one-byte status (device-writable).
 *
 * Control area of a slot: the header at offset 0, the status byte at 32.
 * Request queues start at ring index 0. A completion is good when the
 * status is VIRTIO_BLK_S_OK; its used length must be 1 (write) or
 * io_size + 1 (read).
 *
 * Threading: the loop's thread only (see perf.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <linux/virtio_config.h>

#include "perf.h"

#define BLK_STATUS_OFF 32u

static int
blk_configure(struct perf *p)
{
	struct vfe_dev *d = &p->dev;
	struct virtio_blk_config *cfg = &p->cfg.blk;
	uint64_t bits = (1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
			(1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_TOPOLOGY) |
			(1ull << VIRTIO_BLK_F_MQ) | (1ull << VIRTIO_BLK_F_FLUSH) |
			(1ull << VIRTIO_BLK_F_RO) | (1ull << VIRTIO_BLK_F_DISCARD) |
			(1ull << VIRTIO_BLK_F_WRITE_ZEROES);
	uint16_t maxq;
	int rc;

	rc = vfe_get_config(d, cfg, offsetof(struct virtio_blk_config, max_secure_erase_sectors));
	if (rc < 0)
		return rc;
	rc = perf_set_features(p, bits);
	if (rc < 0)
		return rc;
	p->first_queue = 0;
	p->ctl_size = 64;
	p->capacity_bytes = cfg->capacity * 512ull;
	p->blk_size = perf_has(p, VIRTIO_BLK_F_BLK_SIZE) ? cfg->blk_size : 512;
	p->size_max = perf_has(p, VIRTIO_BLK_F_SIZE_MAX) && cfg->size_max != 0 ? cfg->size_max
										 : UINT32_MAX;
	p->seg_max = perf_has(p, VIRTIO_BLK_F_SEG_MAX) ? cfg->seg_max : 0;
	p->max_io = 0;
	p->readonly = perf_has(p, VIRTIO_BLK_F_RO);
	maxq = perf_has(p, VIRTIO_BLK_F_MQ) && cfg->num_queues != 0 ? cfg->num_queues : 1;
	p->max_queues = maxq < d->max_queues ? maxq : d->max_queues;
	return 0;
}

static void
blk_build(struct perf *p, struct perf_slot *sl, uint64_t data_gpa)
{
	struct virtio_blk_outhdr *hdr = (struct virtio_blk_outhdr *)sl->ctl;

	hdr->type = sl->write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	hdr->ioprio = 0;
	hdr->sector = sl->offset / 512;
	sl->ctl[BLK_STATUS_OFF] = 0xff;
	sl->bufs[0] = (struct vfe_buf){.gpa = sl->ctl_gpa, .len = sizeof(*hdr)};
	sl->nbufs = 1;
	perf_add_data(p, sl, data_gpa, !sl->write);
	sl->bufs[sl->nbufs++] = (struct vfe_buf){.gpa = sl->ctl_gpa + BLK_STATUS_OFF, .len = 1,
						 .write = true};
}

static int
blk_check(struct perf *p, const struct perf_slot *sl, uint32_t len, char *why, size_t why_len)
{
	uint8_t status = sl->ctl[BLK_STATUS_OFF];

	if (status != VIRTIO_BLK_S_OK) {
		snprintf(why, why_len, "sector %" PRIu64 ", status %u", sl->offset / 512, status);
		return -EIO;
	}
	return len == (sl->write ? 1 : p->o.io_size + 1) ? 0 : -EMSGSIZE;
}

const struct perf_type perf_type_blk = {
	.name = "blk",
	.configure = blk_configure,
	.build = blk_build,
	.check = blk_check,
};
