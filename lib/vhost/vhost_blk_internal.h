/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to the virtio-blk device type: vhost_blk.c (controllers: bdev
 * descriptor, features, config space, bdev events, info and save_config),
 * vhost_blk_io.c (queues: task pools, request parsing, bdev submission,
 * completion) and vhost_blk_rpc.c (RPCs and the subsystem).
 *
 * Threads: a struct vhost_blk_ctrlr is created, changed and freed on the
 * application thread. Poll-group threads read only its constant fields
 * (set before the controller exists) and the atomics: num_blocks (resize),
 * removed (hot-remove) and channels (how many queues hold an I/O channel),
 * so that the descriptor is closed only once no queue can use it.
 */
#ifndef SPUR_VHOST_BLK_INTERNAL_H
#define SPUR_VHOST_BLK_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "spur/bdev.h"
#include "vhost_dev.h"

/* Limits offered to the guest (config space). */
#define VHOST_BLK_SEG_MAX 126u
#define VHOST_BLK_SIZE_MAX (128u * 1024u)
/* iovecs per request: segments, header, status, and room for segments
 * that cross guest memory regions. */
#define VHOST_BLK_IOV_MAX (VHOST_BLK_SEG_MAX + 2u + 32u)
#define VHOST_BLK_MAX_DWZ_SEG 16u
/* Largest discard / write-zeroes segment offered when the bdev has no limit. */
#define VHOST_BLK_MAX_DWZ_SECTORS (1u << 22)
#define VHOST_BLK_MAX_QUEUES VHOST_MAX_QUEUES
#define VHOST_BLK_ID_LEN 20u
#define VHOST_BLK_LOG "vhost_blk"

struct vhost_blk_ctrlr {
	struct vhost_ctrlr *ctrlr;
	char *bdev_name;
	/* App thread; closed (NULL) once a hot-removed bdev's channels are gone. */
	struct spur_bdev_desc *desc;
	struct spur_bdev *bdev;
	/* Constant while the controller exists. */
	bool readonly;
	bool packed_ring;
	bool cpumask_given;              /* saved only when the user chose one */
	bool write_cache;
	bool can_unmap;
	bool can_write_zeroes;
	bool can_flush;
	uint32_t block_size;
	uint32_t sectors_per_block;      /* block_size / 512 */
	uint32_t opt_io_blocks;
	uint32_t max_unmap_blocks;       /* 0: no limit */
	uint32_t max_write_zeroes_blocks;
	char id[VHOST_BLK_ID_LEN];       /* GET_ID answer */
	uint32_t default_delay_us;       /* coalescing as created, for save_config */
	uint32_t default_iops_threshold;
	/* Shared with poll-group threads. */
	_Atomic uint64_t num_blocks;
	_Atomic bool removed;
	_Atomic uint32_t channels;
	/* References: the controller's, and one per pending close message. */
	_Atomic uint32_t refs;
	bool destroyed;
};

extern const struct vhost_backend_ops vhost_blk_ops;

/*
 * Create a blk controller: open bdev_name (read-only when readonly),
 * create the vhost controller and its socket. App thread. Returns 0 or a
 * negative errno (-ENODEV no such bdev, -EEXIST duplicate name, -EINVAL
 * block size not a multiple of 512, ...), with the reason logged.
 */
int vhost_blk_ctrlr_create(const char *name, const struct spur_cpuset *cpumask,
			   const char *bdev_name, bool readonly, bool packed_ring,
			   struct vhost_ctrlr **out);
static inline struct vhost_blk_ctrlr *
vhost_blk_ctrlr(struct vhost_ctrlr *c)
{
	return c->ops == &vhost_blk_ops ? c->backend_ctx : NULL;
}
/* The blk controller a queue belongs to. */
struct vhost_blk_ctrlr *vhost_blk_queue_ctrlr(struct vhost_queue *q);
/* References keeping a struct vhost_blk_ctrlr alive across messages. */
void vhost_blk_ref(struct vhost_blk_ctrlr *bc);
void vhost_blk_unref(struct vhost_blk_ctrlr *bc);
/*
 * After a hot-remove (app thread): visit every thread so that idle queues
 * of bc put their channels now rather than at their next request.
 */
void vhost_blk_queues_removed(struct vhost_blk_ctrlr *bc);
/* Append the calls that rebuild c (create, coalescing) to config. */
void vhost_blk_write_config_json(struct vhost_ctrlr *c, json_t *config);

/*
 * I/O channels of queues (poll-group thread). get returns NULL when the
 * bdev was hot-removed (requests then fail) or no channel could be made;
 * put drops it and, if it was the last after a hot-remove, asks the app
 * thread to close the descriptor.
 */
struct spur_io_channel *vhost_blk_get_channel(struct vhost_blk_ctrlr *bc);
void vhost_blk_put_channel(struct vhost_blk_ctrlr *bc, struct spur_io_channel *ch);

/*
 * Queue operations (vhost_blk_io.c), on the queue's poll-group thread; a
 * started queue is a vhost_rq, stopped by vhost_rq_stop.
 */
int vhost_blk_queue_start(struct vhost_queue *q);
int vhost_blk_queue_poll(struct vhost_queue *q);
void vhost_blk_queue_resubmit(struct vhost_queue *q, const uint16_t *ids, int count);

#endif
