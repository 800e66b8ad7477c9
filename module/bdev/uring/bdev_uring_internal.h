/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to the uring module: the disk, its per-thread channel and the
 * per-request context, shared by bdev_uring.c (device) and bdev_uring_io.c
 * (I/O path). See those files for the threading rules.
 */
#ifndef SPUR_BDEV_URING_INTERNAL_H
#define SPUR_BDEV_URING_INTERNAL_H

#include <liburing.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include "bdev_uring.h"
#include "module/bdev/common/file_bdev.h"

#define URING_QUEUE_DEPTH 512u
/* The CQ has twice the SQ's entries; never have more in flight. */
#define URING_MAX_INFLIGHT (2u * URING_QUEUE_DEPTH)
#define URING_REAP_BATCH 64u
#define URING_FILE_BUFFERED 0
#define URING_FILE_DIRECT 1

#ifndef BLOCK_URING_CMD_DISCARD
#define BLOCK_URING_CMD_DISCARD _IO(0x12, 0) /* linux/blkdev.h, 6.12+ */
#endif

/* fb.fd is the buffered file, fb.dfd the O_DIRECT one (or -1). */
struct uring_disk {
	struct file_bdev fb;     /* first: the shared helper frees the disk */
	bool use_direct_io;      /* as asked at create */
	bool can_unmap;
	bool can_punch;          /* files: PUNCH_HOLE works */
};

struct uring_task;

struct uring_channel {
	struct file_bdev_channel fch; /* first: the reset's epochs */
	struct io_uring ring;
	struct uring_disk *disk;
	struct spur_poller *poller;
	int evfd;
	uint32_t inflight;       /* queued in the SQ or submitted, not reaped */
	TAILQ_HEAD(, uring_task) waiting;
};

/* Per-request state, in io->driver_ctx. */
struct uring_task {
	TAILQ_ENTRY(uring_task) link;
	struct file_bdev_xfer xfer; /* bytes already transferred (short I/O) */
	int falloc_mode;         /* write zeroes / unmap on files */
	uint8_t epoch;           /* parity of the channel's epoch at submission */
};

_Static_assert(offsetof(struct uring_disk, fb) == 0, "file_bdev first");
_Static_assert(offsetof(struct uring_channel, fch) == 0, "file_bdev_channel first");

/* bdev_uring_io.c */
void bdev_uring_submit_request(struct spur_io_channel *ch, struct spur_bdev_io *io);
int bdev_uring_channel_create(void *io_device, void *ctx_buf);
void bdev_uring_channel_destroy(void *io_device, void *ctx_buf);

#endif
