/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtio-blk device type ("blk") of the vhost target, controller side:
 * the bdev behind a controller, the feature bits and config space offered
 * to the frontend, bdev events (resize, hot-remove), and the controller's
 * part of vhost_get_controllers and save_config. Queues and requests are in
 * vhost_blk_io.c.
 *
 * A blk controller holds one bdev descriptor, opened read-write (read-only
 * for a readonly controller) on the application thread when the controller
 * is created, and closed when it is deleted, or earlier after a hot-remove:
 *
 *   OPEN --REMOVE event--> REMOVED (new requests fail with IOERR; in-flight
 *     ones finish; each queue puts its channel once it has none in flight)
 *   REMOVED --last channel put--> CLOSED (descriptor closed, bdev NULL;
 *     the controller stays, reports "bdev": null, capacity 0, and keeps
 *     failing requests until it is deleted)
 *
 * A resize updates num_blocks (read by the queues for bounds checks) and
 * asks the protocol side to send a config-change notification, so the guest
 * re-reads the capacity.
 *
 * Threads: everything here runs on the application thread, except
 * vhost_blk_get_channel / vhost_blk_put_channel, which queues call on their
 * poll-group threads; they touch only atomics and post the close to the
 * application thread. Ordering that makes the close safe: a queue increments
 * channels before it reads removed, the REMOVE handler sets removed before
 * it reads channels (both sequentially consistent), so either the queue sees
 * the removal and takes no channel, or the handler sees the channel and
 * leaves the close to its put.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>

#include "spur/log.h"
#include "vhost_blk_internal.h"
#include "vhost_rq.h"

void
vhost_blk_ref(struct vhost_blk_ctrlr *bc)
{
	atomic_fetch_add(&bc->refs, 1);
}

void
vhost_blk_unref(struct vhost_blk_ctrlr *bc)
{
	if (atomic_fetch_sub(&bc->refs, 1) == 1) {
		free(bc->bdev_name);
		free(bc);
	}
}

/* App thread: close the descriptor of a hot-removed bdev once unused. */
static void
blk_close_if_unused(struct vhost_blk_ctrlr *bc)
{
	if (bc->destroyed || bc->desc == NULL || !atomic_load(&bc->removed) ||
	    atomic_load(&bc->channels) != 0)
		return;
	spur_bdev_close(bc->desc);
	bc->desc = NULL;
	bc->bdev = NULL;
	SPUR_NOTICELOG("vhost controller %s: bdev %s removed; its requests now fail\n",
		       bc->ctrlr->name, bc->bdev_name);
}

static void
blk_close_msg(void *ctx)
{
	struct vhost_blk_ctrlr *bc = ctx;

	blk_close_if_unused(bc);
	vhost_blk_unref(bc);
}

struct spur_io_channel *
vhost_blk_get_channel(struct vhost_blk_ctrlr *bc)
{
	struct spur_io_channel *ch;

	atomic_fetch_add(&bc->channels, 1);
	if (!atomic_load(&bc->removed)) {
		ch = spur_bdev_get_io_channel(bc->desc);
		if (ch != NULL)
			return ch;
	}
	vhost_blk_put_channel(bc, NULL);
	return NULL;
}

void
vhost_blk_put_channel(struct vhost_blk_ctrlr *bc, struct spur_io_channel *ch)
{
	if (ch != NULL)
		spur_put_io_channel(ch);
	if (atomic_fetch_sub(&bc->channels, 1) == 1 && atomic_load(&bc->removed)) {
		vhost_blk_ref(bc);
		if (spur_thread_send_msg(spur_get_app_thread(), blk_close_msg, bc) != 0) {
			/* The app thread is gone (shutdown): deletion closes it. */
			vhost_blk_unref(bc);
		}
	}
}

struct vhost_blk_ctrlr *
vhost_blk_queue_ctrlr(struct vhost_queue *q)
{
	struct vhost_ctrlr *c = vhost_queue_get_ctrlr(q);

	return c != NULL ? vhost_blk_ctrlr(c) : NULL;
}

static void
blk_event_cb(enum spur_bdev_event event, struct spur_bdev *bdev, void *ctx)
{
	struct vhost_blk_ctrlr *bc = ctx;

	switch (event) {
	case SPUR_BDEV_EVENT_REMOVE:
		SPUR_NOTICELOG("vhost controller %s: bdev %s is being removed\n", bc->ctrlr->name,
			       bc->bdev_name);
		atomic_store(&bc->removed, true);
		if (atomic_load(&bc->channels) == 0)
			blk_close_if_unused(bc);
		else
			vhost_blk_queues_removed(bc);
		break;
	case SPUR_BDEV_EVENT_RESIZE:
		atomic_store(&bc->num_blocks, spur_bdev_get_num_blocks(bdev));
		SPUR_NOTICELOG("vhost controller %s: bdev %s resized to %" PRIu64 " blocks\n",
			       bc->ctrlr->name, bc->bdev_name, atomic_load(&bc->num_blocks));
		if (bc->ctrlr->session != NULL && vhost_ctrlr_config_changed(bc->ctrlr) != 0)
			SPUR_WARNLOG("vhost controller %s: could not notify the guest of the new "
				     "capacity\n", bc->ctrlr->name);
		break;
	}
}

static uint64_t
blk_features(struct vhost_ctrlr *c)
{
	struct vhost_blk_ctrlr *bc = c->backend_ctx;
	uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) |
		     (1ull << VIRTIO_RING_F_INDIRECT_DESC) | (1ull << VIRTIO_BLK_F_SIZE_MAX) |
		     (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ull << VIRTIO_BLK_F_TOPOLOGY) | (1ull << VIRTIO_BLK_F_MQ);

	if (bc->packed_ring)
		f |= 1ull << VIRTIO_F_RING_PACKED;
	if (bc->write_cache)
		f |= 1ull << VIRTIO_BLK_F_FLUSH;
	if (bc->readonly) {
		f |= 1ull << VIRTIO_BLK_F_RO;
	} else {
		if (bc->can_unmap)
			f |= 1ull << VIRTIO_BLK_F_DISCARD;
		if (bc->can_write_zeroes)
			f |= 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
	}
	return f;
}

static uint16_t
blk_max_queues(struct vhost_ctrlr *c)
{
	(void)c;
	return VHOST_BLK_MAX_QUEUES;
}

/* Segment limit in 512-byte sectors from a bdev limit in blocks (0: none). */
static uint32_t
dwz_max_sectors(const struct vhost_blk_ctrlr *bc, uint32_t max_blocks)
{
	uint64_t s = (uint64_t)max_blocks * bc->sectors_per_block;

	if (s == 0 || s > VHOST_BLK_MAX_DWZ_SECTORS)
		s = VHOST_BLK_MAX_DWZ_SECTORS;
	return (uint32_t)(s - s % bc->sectors_per_block);
}

static void
blk_get_config(struct vhost_ctrlr *c, uint8_t *buf, uint32_t len)
{
	struct vhost_blk_ctrlr *bc = c->backend_ctx;
	struct virtio_blk_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	if (bc->desc != NULL)
		cfg.capacity = atomic_load(&bc->num_blocks) * bc->sectors_per_block;
	cfg.size_max = VHOST_BLK_SIZE_MAX;
	cfg.seg_max = VHOST_BLK_SEG_MAX;
	cfg.blk_size = bc->block_size;
	/* No physical block size in the bdev API: logical == physical. */
	cfg.physical_block_exp = 0;
	cfg.alignment_offset = 0;
	cfg.min_io_size = 1;
	cfg.opt_io_size = bc->opt_io_blocks;
	cfg.num_queues = VHOST_BLK_MAX_QUEUES;
	if (bc->can_unmap && !bc->readonly) {
		cfg.max_discard_sectors = dwz_max_sectors(bc, bc->max_unmap_blocks);
		cfg.max_discard_seg = VHOST_BLK_MAX_DWZ_SEG;
		cfg.discard_sector_alignment = bc->sectors_per_block;
	}
	if (bc->can_write_zeroes && !bc->readonly) {
		cfg.max_write_zeroes_sectors = dwz_max_sectors(bc, bc->max_write_zeroes_blocks);
		cfg.max_write_zeroes_seg = VHOST_BLK_MAX_DWZ_SEG;
		/* The UNMAP flag reaches the bdev, which may deallocate. */
		cfg.write_zeroes_may_unmap = bc->can_unmap ? 1 : 0;
	}
	memset(buf, 0, len);
	memcpy(buf, &cfg, SPUR_MIN(len, (uint32_t)sizeof(cfg)));
}

static int
blk_set_config(struct vhost_ctrlr *c, const uint8_t *buf, uint32_t offset, uint32_t len)
{
	/* Only "wce" is writable, and CONFIG_WCE is not offered. */
	(void)buf;
	SPUR_DEBUGLOG(VHOST_BLK_LOG, "%s: SET_CONFIG offset %u len %u refused\n", c->name, offset,
		      len);
	return -ENOTSUP;
}

static void
blk_dump_info_json(struct vhost_ctrlr *c, json_t *obj)
{
	struct vhost_blk_ctrlr *bc = c->backend_ctx;

	json_object_set_new(obj, "block",
			    json_pack("{s:b, s:o, s:b, s:s}", "readonly", (int)bc->readonly, "bdev",
				      bc->desc != NULL ? json_string(bc->bdev_name) : json_null(),
				      "packed_ring", (int)bc->packed_ring, "transport",
				      "vhost_user_blk"));
}

void
vhost_blk_write_config_json(struct vhost_ctrlr *c, json_t *config)
{
	struct vhost_blk_ctrlr *bc = c->backend_ctx;
	char mask[SPUR_CPUSET_STR_LEN];
	json_t *params;

	if (bc->desc == NULL) {
		/* Nothing to rebuild it on: the bdev was hot-removed. */
		return;
	}
	params = json_pack("{s:s, s:s}", "ctrlr", c->name, "dev_name", bc->bdev_name);
	if (bc->cpumask_given)
		json_object_set_new(params, "cpumask",
				    json_string(spur_cpuset_fmt(&c->cpumask, mask, sizeof(mask))));
	if (bc->readonly)
		json_object_set_new(params, "readonly", json_true());
	if (bc->packed_ring)
		json_object_set_new(params, "packed_ring", json_true());
	json_array_append_new(config, json_pack("{s:s, s:o}", "method",
						"vhost_create_blk_controller", "params", params));
	vhost_ctrlr_write_coalescing_config(c, bc->default_delay_us, bc->default_iops_threshold,
					    config);
}

static void
blk_write_config_json(struct vhost_ctrlr *c, json_t *config)
{
	vhost_blk_write_config_json(c, config);
}

static void
blk_destruct(struct vhost_ctrlr *c)
{
	struct vhost_blk_ctrlr *bc = c->backend_ctx;

	if (atomic_load(&bc->channels) != 0)
		SPUR_ERRLOG("vhost controller %s deleted with %u queue channels held\n", c->name,
			    atomic_load(&bc->channels));
	if (bc->desc != NULL)
		spur_bdev_close(bc->desc);
	bc->desc = NULL;
	bc->bdev = NULL;
	bc->destroyed = true;
	c->backend_ctx = NULL;
	vhost_blk_unref(bc);
}

const struct vhost_backend_ops vhost_blk_ops = {
	.type = "blk",
	.features = blk_features,
	.max_queues = blk_max_queues,
	.config_size = sizeof(struct virtio_blk_config),
	.get_config = blk_get_config,
	.set_config = blk_set_config,
	.queue_start = vhost_blk_queue_start,
	.queue_stop = vhost_rq_stop,
	.queue_poll = vhost_blk_queue_poll,
	.queue_resubmit = vhost_blk_queue_resubmit,
	.dump_info_json = blk_dump_info_json,
	.write_config_json = blk_write_config_json,
	.destruct = blk_destruct,
};

/* The serial GET_ID returns: the UUID's hex digits, truncated to 20. */
static void
blk_make_id(struct vhost_blk_ctrlr *bc)
{
	char uuid[40];
	uint32_t n = 0;

	spur_bdev_get_uuid_str(bc->bdev, uuid, sizeof(uuid));
	memset(bc->id, 0, sizeof(bc->id));
	for (const char *p = uuid; *p != '\0' && n < VHOST_BLK_ID_LEN; p++) {
		if (*p != '-')
			bc->id[n++] = *p;
	}
}

int
vhost_blk_ctrlr_create(const char *name, const struct spur_cpuset *cpumask,
		       const char *bdev_name, bool readonly, bool packed_ring,
		       struct vhost_ctrlr **out)
{
	struct vhost_blk_ctrlr *bc = calloc(1, sizeof(*bc));
	struct vhost_ctrlr *c;
	int rc;

	if (bc == NULL)
		return -ENOMEM;
	if (vhost_ctrlr_find(name) != NULL) {
		free(bc);
		return -EEXIST;
	}
	bc->bdev_name = strdup(bdev_name);
	if (bc->bdev_name == NULL) {
		free(bc);
		return -ENOMEM;
	}
	atomic_init(&bc->refs, 1);
	rc = spur_bdev_open(bdev_name, !readonly, blk_event_cb, bc, &bc->desc);
	if (rc != 0) {
		SPUR_ERRLOG("vhost controller %s: cannot open bdev %s: %s\n", name, bdev_name,
			    strerror(-rc));
		goto err;
	}
	bc->bdev = spur_bdev_desc_get_bdev(bc->desc);
	bc->readonly = readonly;
	bc->packed_ring = packed_ring;
	bc->cpumask_given = cpumask != NULL;
	bc->block_size = spur_bdev_get_block_size(bc->bdev);
	if (bc->block_size < 512 || bc->block_size % 512 != 0) {
		SPUR_ERRLOG("vhost controller %s: bdev %s has %u-byte blocks; virtio-blk needs a "
			    "multiple of 512\n", name, bdev_name, bc->block_size);
		rc = -EINVAL;
		goto err;
	}
	bc->sectors_per_block = bc->block_size / 512;
	atomic_init(&bc->num_blocks, spur_bdev_get_num_blocks(bc->bdev));
	bc->write_cache = spur_bdev_has_write_cache(bc->bdev);
	bc->can_unmap = spur_bdev_io_type_supported(bc->bdev, SPUR_BDEV_IO_UNMAP);
	bc->can_write_zeroes = spur_bdev_io_type_supported(bc->bdev, SPUR_BDEV_IO_WRITE_ZEROES);
	bc->can_flush = spur_bdev_io_type_supported(bc->bdev, SPUR_BDEV_IO_FLUSH);
	bc->opt_io_blocks = spur_bdev_get_optimal_io_boundary(bc->bdev);
	bc->max_unmap_blocks = spur_bdev_get_max_unmap_blocks(bc->bdev);
	bc->max_write_zeroes_blocks = spur_bdev_get_max_write_zeroes_blocks(bc->bdev);
	blk_make_id(bc);

	rc = vhost_ctrlr_create(name, cpumask, &vhost_blk_ops, bc, &c);
	if (rc != 0)
		goto err;
	bc->ctrlr = c;
	bc->default_delay_us = c->coalesce_delay_us;
	bc->default_iops_threshold = c->coalesce_iops_threshold;
	SPUR_NOTICELOG("vhost-blk controller %s on bdev %s%s%s\n", name, bdev_name,
		       readonly ? ", read-only" : "", packed_ring ? ", packed ring" : "");
	/* What a user pastes into QEMU's command line to attach a VM. */
	SPUR_NOTICELOG("attach a VM to %s with: -object memory-backend-memfd,id=mem0,size=<RAM>,"
		       "share=on -numa node,memdev=mem0 -chardev socket,id=%s,path=%s,reconnect=1 "
		       "-device vhost-user-blk-pci,chardev=%s,num-queues=<N>%s\n",
		       name, name, c->socket_path, name, packed_ring ? ",packed=on" : "");
	if (out != NULL)
		*out = c;
	return 0;
err:
	if (bc->desc != NULL)
		spur_bdev_close(bc->desc);
	free(bc->bdev_name);
	free(bc);
	return rc;
}
