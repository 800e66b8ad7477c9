/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to the aio module: the disk, its channel, the per-request context
 * and the helper thread shared by bdev_aio.c (device) and bdev_aio_io.c
 * (I/O path). See bdev_aio_io.c for the threading rules.
 */
#ifndef SPUR_BDEV_AIO_INTERNAL_H
#define SPUR_BDEV_AIO_INTERNAL_H

#include <libaio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include "bdev_aio.h"

#define AIO_QUEUE_DEPTH 512u

struct aio_task;
TAILQ_HEAD(aio_task_list, aio_task);

/*
 * The helper thread runs the calls Linux AIO cannot make asynchronous:
 * fallocate, BLKDISCARD, fdatasync (only when IOCB_CMD_FDSYNC is missing)
 * and reads or writes the O_DIRECT file cannot take. Started on first use.
 */
struct aio_helper {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct aio_task_list queue;   /* under lock */
	bool started;                 /* app thread and submitters, under lock */
	bool stop;                    /* under lock */
	pthread_t thread;
};

struct aio_disk {
	struct spur_bdev bdev;
	char *filename;
	int fd;                  /* O_DIRECT when 'direct', else buffered */
	int bfd;                 /* buffered, for the helper */
	bool direct;
	bool readonly;
	bool fallocate;
	bool block_size_override;
	bool is_blockdev;
	bool fdsync_ok;          /* IOCB_CMD_FDSYNC works */
	uint32_t lbs;            /* logical block size, 512 for files */
	uint32_t dio_mem_align;  /* powers of two */
	uint32_t dio_off_align;
	atomic_bool zero_range_refused;
	atomic_uint_fast64_t error_count;
	struct aio_helper helper;
};

struct aio_channel {
	io_context_t ctx;
	struct aio_disk *disk;
	struct spur_poller *poller;
	int evfd;
	uint32_t inflight;       /* handed to the kernel or the helper, not reaped */
	uint32_t npending;       /* prepared iocbs not yet given to io_submit */
	bool was_idle;
	struct iocb *pending[AIO_QUEUE_DEPTH];
	struct aio_task_list waiting;
	/* Requests not completed, by epoch parity (resets wait for an epoch). */
	uint64_t epoch;          /* starts at 1 */
	uint32_t epoch_count[2];
	/* Helper completions: appended by the helper, taken by the poller. */
	pthread_mutex_t done_lock;
	struct aio_task_list done;
	atomic_uint done_count;
};

struct aio_task {
	struct iocb iocb;
	TAILQ_ENTRY(aio_task) link;
	struct aio_channel *ch;  /* for the helper's completion */
	uint64_t done;           /* bytes already transferred (short I/O) */
	struct iovec saved_iov;  /* original of iovs[patched] */
	int patched;             /* index of the patched iovec, or -1 */
	int res;                 /* helper result: bytes or -errno */
	uint8_t epoch;           /* parity of the channel's epoch at submission */
};

/* bdev_aio_io.c */
void bdev_aio_submit_request(struct spur_io_channel *ch, struct spur_bdev_io *io);
int bdev_aio_channel_create(void *io_device, void *ctx_buf);
void bdev_aio_channel_destroy(void *io_device, void *ctx_buf);
/* Join the helper thread if it runs (app thread, no I/O outstanding). */
void bdev_aio_helper_stop(struct aio_disk *disk);

#endif
