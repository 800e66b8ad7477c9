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
#include "module/bdev/common/file_bdev.h"

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

/*
 * fb.dfd is the O_DIRECT file Linux AIO reads and writes (-1: none, every
 * request goes to the helper); fb.fd the buffered one, for the helper.
 */
struct aio_disk {
	struct file_bdev fb;     /* first: the shared helper frees the disk */
	bool readonly;
	bool fallocate;
	bool block_size_override;
	bool fdsync_ok;          /* IOCB_CMD_FDSYNC works */
	struct aio_helper helper;
};

struct aio_channel {
	struct file_bdev_channel fch; /* first: the reset's epochs */
	io_context_t ctx;
	struct aio_disk *disk;
	struct spur_poller *poller;
	int evfd;
	uint32_t inflight;       /* handed to the kernel or the helper, not reaped */
	uint32_t npending;       /* prepared iocbs not yet given to io_submit */
	struct iocb *pending[AIO_QUEUE_DEPTH];
	struct aio_task_list waiting;
	/* Helper completions: appended by the helper, taken by the poller. */
	pthread_mutex_t done_lock;
	struct aio_task_list done;
	atomic_uint done_count;
};

struct aio_task {
	struct iocb iocb;
	TAILQ_ENTRY(aio_task) link;
	struct aio_channel *ch;  /* for the helper's completion */
	struct file_bdev_xfer xfer; /* bytes already transferred (short I/O) */
	int res;                 /* helper result: bytes or -errno */
	uint8_t epoch;           /* parity of the channel's epoch at submission */
};

_Static_assert(offsetof(struct aio_disk, fb) == 0, "file_bdev first");
_Static_assert(offsetof(struct aio_channel, fch) == 0, "file_bdev_channel first");

/* bdev_aio_io.c */
void bdev_aio_submit_request(struct spur_io_channel *ch, struct spur_bdev_io *io);
int bdev_aio_channel_create(void *io_device, void *ctx_buf);
void bdev_aio_channel_destroy(void *io_device, void *ctx_buf);
/* Join the helper thread if it runs (app thread, no I/O outstanding). */
void bdev_aio_helper_stop(struct aio_disk *disk);

#endif
