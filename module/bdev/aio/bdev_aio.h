/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The "aio" bdev module: a file or block device served through Linux AIO
 * (libaio). The device lives in bdev_aio.c, its I/O path in bdev_aio_io.c,
 * the RPC methods (bdev_aio_create / _delete / _rescan) in bdev_aio_rpc.c.
 *
 * Every function here runs on the application thread.
 */
#ifndef SPUR_BDEV_AIO_H
#define SPUR_BDEV_AIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spur/bdev_module.h"

extern const struct spur_bdev_module spur_bdev_aio_module;

struct bdev_aio_opts {
	const char *filename;  /* regular file or block device */
	const char *name;      /* bdev name */
	uint32_t block_size;   /* 0: the device's logical block size, 512 for files */
	bool readonly;         /* open read-only; writes are not offered */
	bool fallocate;        /* offer unmap and write_zeroes (fallocate / discard) */
	bool has_uuid;
	uint8_t uuid[16];      /* used when has_uuid; else the layer makes one */
};

/*
 * Open opts->filename and register a bdev for it. Returns 0, or a negative
 * errno with a message for the RPC client in err (always terminated):
 * -ENOENT / -EACCES / ... (cannot open), -EINVAL (bad block size, size not a
 * multiple of it, empty file, not a file or block device, block size below
 * the O_DIRECT alignment), -EEXIST (name taken), -ENOMEM.
 */
int bdev_aio_create(const struct bdev_aio_opts *opts, char *err, size_t err_len);

/*
 * Hot-remove the aio bdev called name; cb(cb_arg, 0) once it is gone.
 * Returns -ENODEV (and never calls cb) when no aio bdev has that name.
 */
int bdev_aio_delete(const char *name, void (*cb)(void *cb_arg, int status), void *cb_arg);

/*
 * Re-read the size behind the aio bdev called name and announce a change.
 * Returns 0, -ENODEV or the errno of the failed stat / ioctl.
 */
int bdev_aio_rescan(const char *name);

/* Bytes of per-request context (the module table's get_ctx_size). */
size_t bdev_aio_get_ctx_size(void);

#endif
