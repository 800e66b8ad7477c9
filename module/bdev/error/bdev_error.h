/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The error bdev module: "EE_<base>", a virtual bdev on a claimed base that
 * injects failures on demand (fail, hold forever, corrupt data, or
 * pretend to be out of resources) for testing the layers above.
 *
 * Creation, injection and deletion run on the application thread; I/O on
 * any thread.
 */
#ifndef SPUR_MODULE_BDEV_ERROR_H
#define SPUR_MODULE_BDEV_ERROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spur/bdev_module.h"

extern const struct spur_bdev_module spur_bdev_error_module;

enum bdev_error_type {
	BDEV_ERROR_FAILURE,      /* complete with a status, without reaching the base */
	BDEV_ERROR_PENDING,      /* hold until cleared / resumed / reset / deleted */
	BDEV_ERROR_CORRUPT_DATA, /* succeed, with one byte xor-ed (writes before, reads after) */
	BDEV_ERROR_NOMEM,        /* hold briefly, as if resources ran out, then pass on */
	BDEV_ERROR_NUM_TYPES,
};

/* "failure", "pending", "corrupt_data", "nomem" <-> the enum (-EINVAL if unknown). */
const char *bdev_error_type_name(enum bdev_error_type type);
int bdev_error_type_parse(const char *name);

/*
 * An injection for the request types in io_mask (bits 1 << enum
 * spur_bdev_io_type): the next num requests of those types (each type
 * counts separately), when at least queue_depth requests are in flight on
 * the submitting channel (0: always). num 0 removes the injection.
 */
struct bdev_error_inject_opts {
	uint32_t io_mask;
	enum bdev_error_type type;
	uint32_t num;
	uint64_t queue_depth;
	int status;              /* FAILURE: an enum spur_bdev_status < 0 */
	uint64_t corrupt_offset; /* CORRUPT_DATA: byte offset in the request's data */
	uint8_t corrupt_value;   /* CORRUPT_DATA: xor-ed into that byte, 1..255 */
};

/*
 * Create "EE_<base_name>" on base_name (app thread). uuid: 16 bytes or NULL.
 * Returns 0, -EEXIST, -ENODEV, -EPERM (base claimed), -ENOMEM; err gets a
 * message.
 */
int bdev_error_create(const char *base_name, const uint8_t *uuid, char *err, size_t err_len);
/*
 * Replace the injections of opts->io_mask (app thread). Requests held by a
 * "pending" injection of those types are completed with
 * SPUR_BDEV_ERR_ABORTED unless the new injection is "pending" too; cb(cb_arg)
 * runs once that is done (possibly before this returns). Returns 0 or
 * -ENODEV / -EINVAL (cb never runs).
 */
int bdev_error_inject(const char *name, const struct bdev_error_inject_opts *opts,
		      void (*cb)(void *cb_arg), void *cb_arg);
/* Remove every injection and abort every held request; as above. */
int bdev_error_clear(const char *name, void (*cb)(void *cb_arg), void *cb_arg);
/* Send every held request on to the base (they then complete normally). */
int bdev_error_resume_pending(const char *name, void (*cb)(void *cb_arg), void *cb_arg);
/*
 * Clear the injections and unregister the error bdev called name (app
 * thread); its held requests are aborted as the removal starts (as for any
 * unregistration, the layer's shutdown included). Returns -ENODEV if there
 * is none, else 0 and cb(cb_arg, status) once every opener closed it.
 */
int bdev_error_delete(const char *name, void (*cb)(void *cb_arg, int status), void *cb_arg);

/* Hooks of the module table (defined with the RPC methods in bdev_error_rpc.c). */
size_t bdev_error_get_ctx_size(void);

#endif
