/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The file-backed bdev helper: what the aio and uring modules do alike for
 * a bdev on a regular file or block device.
 *
 * A module's disk starts with a struct file_bdev (first member: the helper
 * frees the disk with free()), its channel with a struct file_bdev_channel,
 * and its per-request context holds a struct file_bdev_xfer. The helper owns:
 *
 *   create    file_bdev_alloc (name, block_size and name-taken checks, the
 *             zeroed disk), file_bdev_open (the buffered file: type, logical
 *             block size from BLKSSZGET, size from BLKGETSIZE64 or stat),
 *             file_bdev_open_direct (the O_DIRECT file and its alignment
 *             from STATX_DIOALIGN), file_bdev_check_size, file_bdev_register;
 *             on a failure before registration, file_bdev_create_failed
 *   rescan    re-read the size and announce a change
 *   delete    hot-remove by name; destruct (fn_table) unregisters the
 *             io_device, then ops->stop, spur_bdev_destruct_done, free
 *   I/O       the status of an errno, rate-limited failure logging, the
 *             O_DIRECT eligibility of a transfer, resuming a short transfer
 *             where it stopped, and reset (completes once every request
 *             submitted before it, on every channel, has completed)
 *   RPC       the common create parameters, uuid parsing, and the delete and
 *             rescan methods
 *
 * Messages (create errors, rescan notices) are the ones the modules gave
 * before they shared them; clients and tests match on them.
 *
 * Threading: create, rescan, delete, destruct and the RPC glue run on the
 * application thread; afterwards the struct file_bdev is read-only for the I/O path
 * except its atomics. A channel, and the requests submitted through it,
 * belong to the channel's thread.
 */
#ifndef SPUR_MODULE_BDEV_COMMON_FILE_BDEV_H
#define SPUR_MODULE_BDEV_COMMON_FILE_BDEV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "bdev_rpc_util.h"
#include "spur/bdev_module.h"
#include "spur/thread.h"

struct file_bdev;

/* What a file module tells the helper (a static const table per module). */
struct file_bdev_ops {
	/* Its name appears in messages: "no aio bdev named ...". */
	const struct spur_bdev_module *module;
	const struct spur_bdev_fn_table *fn_table;
	const char *product_name;
	const char *log_component;      /* "bdev_aio": debug messages */
	const char *reset_poller_name;  /* the poller a waiting reset registers */
	/* The module's channel, which starts with struct file_bdev_channel. */
	size_t channel_size;
	spur_io_channel_create_cb channel_create;
	spur_io_channel_destroy_cb channel_destroy;
	/* Optional: set up the module's part of a freshly allocated disk. */
	void (*init)(struct file_bdev *fb);
	/* Optional: every channel is gone; runs before spur_bdev_destruct_done. */
	void (*stop)(struct file_bdev *fb);
	/* Optional: undo init, before the files are closed and the disk freed. */
	void (*fini)(struct file_bdev *fb);
};

struct file_bdev {
	struct spur_bdev bdev;           /* bdev.ctxt and the io_device: this struct */
	char *filename;
	int fd;                          /* buffered */
	int dfd;                         /* O_DIRECT, or -1 */
	bool is_blockdev;
	uint32_t lbs;                    /* logical block size of the device, 512 for files */
	uint32_t dio_mem_align;          /* powers of two */
	uint32_t dio_off_align;
	atomic_bool zero_range_refused;  /* the file system has no FALLOC_FL_ZERO_RANGE */
	atomic_uint_fast64_t error_count;
	const struct file_bdev_ops *ops;
};

/* ---- the device (file_bdev.c, application thread) ----------------------------- */

/*
 * Check name (not empty), block_size (0, or a power of two in 512..65536)
 * and that name is free, then allocate a zeroed disk of size bytes (starting
 * with struct file_bdev) for filename, run ops->init. Returns 0 and *fb, or
 * -EINVAL / -EEXIST / -ENOMEM with the message in err (terminated; left
 * empty when the disk itself cannot be allocated).
 */
int file_bdev_alloc(size_t size, const struct file_bdev_ops *ops, const char *name,
		    const char *filename, uint32_t block_size, struct file_bdev **fb, char *err,
		    size_t err_len);
/*
 * Open the buffered file (read-only or read-write), check it is a regular
 * file or block device, learn its logical block size and its size in bytes
 * (*size). Returns 0 or a negative errno with the message in err.
 */
int file_bdev_open(struct file_bdev *fb, bool readonly, uint64_t *size, char *err,
		   size_t err_len);
/*
 * Open the O_DIRECT file into fb->dfd and set the direct-I/O alignment
 * (STATX_DIOALIGN, else the logical block size for devices and 4096 for
 * files). Returns 0, or the negative errno of the open (nothing changed).
 */
int file_bdev_open_direct(struct file_bdev *fb, bool readonly);
/* 0, or -EINVAL when size is 0 or not a multiple of block_size (message in err). */
int file_bdev_check_size(struct file_bdev *fb, uint64_t size, uint32_t block_size, char *err,
			 size_t err_len);
/*
 * Fill the bdev (the module has set what is its own, e.g.
 * required_alignment), register the io_device and the bdev. uuid is 16
 * bytes or NULL. Returns 0, or the layer's error with the message in err;
 * the disk is then freed.
 */
int file_bdev_register(struct file_bdev *fb, uint64_t size, uint32_t block_size,
		       const uint8_t *uuid, char *err, size_t err_len);
/*
 * A create step before file_bdev_register failed with rc: fill err if the
 * step left it empty, free the disk, return rc.
 */
int file_bdev_create_failed(struct file_bdev *fb, int rc, char *err, size_t err_len);

/*
 * Hot-remove the file bdev of module called name: cb(cb_arg, 0) once it is
 * gone. Returns -ENODEV (and never calls cb) when there is none.
 */
int file_bdev_delete(const char *name, const struct spur_bdev_module *module,
		     void (*cb)(void *cb_arg, int status), void *cb_arg);
/*
 * Re-read the size behind the file bdev of module called name and announce
 * a change. Returns 0, -ENODEV or the errno of the failed stat / ioctl.
 */
int file_bdev_rescan(const char *name, const struct spur_bdev_module *module);

/* fn_table->destruct of a file bdev. */
int file_bdev_destruct(void *ctx);
/*
 * {"filename", "name", "block_size"}: the start of the save_config entry
 * (new reference, NULL on failure).
 */
json_t *file_bdev_config_params(struct file_bdev *fb);

/* ---- the I/O path (file_bdev_io.c, the channel's thread) ------------------------- */

/*
 * The start of a module's channel: its unfinished requests counted in two
 * buckets by epoch parity, which is how a reset waits for the requests
 * submitted before it, and what its poller needs to know about wake-ups.
 */
struct file_bdev_channel {
	uint64_t epoch;                  /* starts at 1 */
	uint32_t epoch_count[2];
	bool was_idle;                   /* the last poll did nothing: the reactor may have slept */
};
void file_bdev_channel_init(struct file_bdev_channel *fch);
/*
 * End a poll of a channel whose completions signal evfd (given to
 * spur_poller_add_fd): drain evfd when completions (reaped) follow an idle
 * poll, as the reactor may have slept on it; returns SPUR_POLLER_BUSY when
 * anything was reaped or busy says work remains, else SPUR_POLLER_IDLE.
 */
int file_bdev_poll_end(struct file_bdev_channel *fch, int evfd, int reaped, bool busy);
/* A request (not a reset) starts: returns the parity to give file_bdev_epoch_leave. */
uint8_t file_bdev_epoch_enter(struct file_bdev_channel *fch);
/* That request completes. */
void file_bdev_epoch_leave(struct file_bdev_channel *fch, uint8_t parity);
/*
 * Serve a reset: io completes (SPUR_BDEV_OK, or SPUR_BDEV_ERR_IO when a
 * channel could not wait) once every request submitted before it, on every
 * channel of fb, has completed; nothing below can be told to drop requests.
 */
void file_bdev_reset(struct file_bdev *fb, struct spur_bdev_io *io);

/* Progress of a read or write that may take several transfers (short I/O). */
struct file_bdev_xfer {
	uint64_t done;                   /* bytes already transferred */
	struct iovec saved_iov;          /* original of iovs[patched] */
	int patched;                     /* index of the patched iovec, or -1 */
};
void file_bdev_xfer_init(struct file_bdev_xfer *x);
/*
 * Point io's iovecs at the first byte not yet transferred (patching the
 * iovec where it falls); returns the index of the first iovec to use.
 */
int file_bdev_xfer_skip_done(struct file_bdev_xfer *x, struct spur_bdev_io *io);
/* Undo the patch (before the request completes or is planned again). */
void file_bdev_xfer_restore(struct file_bdev_xfer *x, struct spur_bdev_io *io);

/*
 * -EINVAL when the iovecs do not cover len bytes exactly; else 1 when the
 * O_DIRECT file can take the transfer at offset (offset, length, every
 * iovec base and length aligned), 0 when it needs the buffered one.
 */
int file_bdev_check_iovs(const struct file_bdev *fb, const struct iovec *iov, int iovcnt,
			 uint64_t offset, uint64_t len);
/* The completion status of a failed transfer's negative errno. */
int file_bdev_status(int res);
/*
 * Count and log (the first few, then one in a thousand) that io failed with
 * res; returns the status to complete it with.
 */
int file_bdev_failure(struct file_bdev *fb, struct spur_bdev_io *io, int res);

/* ---- RPC glue (file_bdev_rpc.c, application thread) ------------------------------ */

/*
 * The "filename", "name" and "block_size" parameters of a create, at
 * type.field ("uuid" is BDEV_RPC_UTIL_PARAM_UUID; delete and rescan take
 * bdev_rpc_util_name_params, see bdev_rpc_util.h).
 */
#define FILE_BDEV_RPC_PARAMS_CREATE(type, filename, name, block_size)                      \
	{"filename", SPUR_RPC_STRING, true, true, 1, 4096, offsetof(type, filename),        \
	 "path to a file or block device"},                                                 \
	{"name", SPUR_RPC_STRING, true, true, 1, 255, offsetof(type, name), "bdev name"},   \
	{"block_size", SPUR_RPC_UINT32, false, .offset = offsetof(type, block_size),         \
	 .help = "block size in bytes (default: the device's logical block size, 512 for "  \
		 "files)"}

/*
 * Parse the optional "uuid" parameter text into uuid (*has_uuid says
 * whether there was one). Returns 0, or replies -32602 to req and returns
 * -EINVAL (the handler must return without replying again).
 */
int file_bdev_rpc_parse_uuid(struct spur_rpc_request *req, const char *text, uint8_t uuid[16],
			     bool *has_uuid);
/*
 * Serve <module>_delete (params: struct bdev_rpc_util_name, decoded with
 * bdev_rpc_util_name_params): reply true once the bdev is gone (the error
 * and its text when unregistration fails), -ENODEV "no <module> bdev named
 * <name>" when there is none.
 */
void file_bdev_rpc_delete(struct spur_rpc_request *req, const struct bdev_rpc_util_name *params,
			  const struct spur_bdev_module *module);
/* Serve <module>_rescan (file_bdev_rescan) the same way, replying true or the error. */
void file_bdev_rpc_rescan(struct spur_rpc_request *req, const struct bdev_rpc_util_name *params,
			  const struct spur_bdev_module *module);

#endif
