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

#define URING_QUEUE_DEPTH 512u
/* The CQ has twice the SQ's entries; never have more in flight. */
#define URING_MAX_INFLIGHT (2u * URING_QUEUE_DEPTH)
#define URING_REAP_BATCH 64u
#define URING_FILE_BUFFERED 0
#define URING_FILE_DIRECT 1

#ifndef BLOCK_URING_CMD_DISCARD
#define BLOCK_URING_CMD_DISCARD _IO(0x12, 0) /* linux/blkdev.h, 6.12+ */
#endif

struct uring_disk {
	struct spur_bdev bdev;
	char *filename;
	int fd;                  /* buffered */
	int dfd;                 /* O_DIRECT, or -1 */
	bool use_direct_io;      /* as asked at create */
	bool is_blockdev;
	uint32_t lbs;            /* logical block size of the device, 512 for files */
	uint32_t dio_mem_align;  /* powers of two */
	uint32_t dio_off_align;
	bool can_unmap;
	bool can_punch;          /* files: PUNCH_HOLE works */
	atomic_bool zero_range_refused;
	atomic_uint_fast64_t error_count;
};

struct uring_task;

struct uring_channel {
	struct io_uring ring;
	struct uring_disk *disk;
	struct spur_poller *poller;
	int evfd;
	uint32_t inflight;       /* queued in the SQ or submitted, not reaped */
	bool was_idle;           /* the last poll did nothing: the reactor may have slept */
	TAILQ_HEAD(, uring_task) waiting;
	/* Requests not completed, by epoch parity (resets wait for an epoch). */
	uint64_t epoch;          /* starts at 1 */
	uint32_t epoch_count[2];
};

/* Per-request state, in io->driver_ctx. */
struct uring_task {
	TAILQ_ENTRY(uring_task) link;
	uint64_t done;           /* bytes already transferred (short I/O) */
	struct iovec saved_iov;  /* original of iovs[patched] */
	int patched;             /* index of the patched iovec, or -1 */
	int falloc_mode;         /* write zeroes / unmap on files */
	uint8_t epoch;           /* parity of the channel's epoch at submission */
};

/* bdev_uring_io.c */
void bdev_uring_submit_request(struct spur_io_channel *ch, struct spur_bdev_io *io);
int bdev_uring_channel_create(void *io_device, void *ctx_buf);
void bdev_uring_channel_destroy(void *io_device, void *ctx_buf);

#endif
