/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The "uring" bdev module: a file or block device served through io_uring.
 * The device and its I/O path live in bdev_uring.c, the RPC methods
 * (bdev_uring_create / _delete / _rescan) in bdev_uring_rpc.c.
 *
 * Every function here runs on the application thread.
 */
#ifndef SPUR_BDEV_URING_H
#define SPUR_BDEV_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spur/bdev_module.h"

extern const struct spur_bdev_module spur_bdev_uring_module;

struct bdev_uring_opts {
	const char *filename;  /* regular file or block device */
	const char *name;      /* bdev name */
	uint32_t block_size;   /* 0: the device's logical block size, 512 for files */
	bool has_uuid;
	uint8_t uuid[16];      /* used when has_uuid; else the layer makes one */
	/*
	 * spur extension: false keeps every request in the page cache (no
	 * O_DIRECT file); true (the RPC's default) uses O_DIRECT whenever a
	 * request is aligned for it.
	 */
	bool use_direct_io;
};

/*
 * Open opts->filename and register a bdev for it. Returns 0, or a negative
 * errno with a message for the RPC client in err (always terminated):
 * -ENOENT / -EACCES / ... (cannot open), -EINVAL (bad block size, size not a
 * multiple of it, empty file, not a file or block device), -EEXIST (name
 * taken), -ENOMEM. On success the bdev is owned by the layer until deleted.
 */
int bdev_uring_create(const struct bdev_uring_opts *opts, char *err, size_t err_len);

/*
 * Hot-remove the uring bdev called name: openers are told to close, and
 * cb(cb_arg, 0) runs once it is gone. Returns -ENODEV (and never calls cb)
 * when no uring bdev has that name.
 */
int bdev_uring_delete(const char *name, void (*cb)(void *cb_arg, int status), void *cb_arg);

/*
 * Re-read the size of the file or device behind the bdev called name and
 * announce a change to its openers. Returns 0, -ENODEV (no such uring bdev)
 * or the errno of the failed stat / ioctl.
 */
int bdev_uring_rescan(const char *name);

/* Bytes of per-request context (the module table's get_ctx_size). */
size_t bdev_uring_get_ctx_size(void);

#endif
