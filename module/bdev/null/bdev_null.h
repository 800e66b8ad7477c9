/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The null bdev module: block devices with no storage (writes are dropped,
 * reads return zeroes or, for benchmarks, leave the buffers untouched).
 *
 * Creation, resize and deletion run on the application thread; I/O on any
 * thread, sharing nothing mutable.
 */
#ifndef SPUR_MODULE_BDEV_NULL_H
#define SPUR_MODULE_BDEV_NULL_H

#include <stdbool.h>
#include <stdint.h>

#include "spur/bdev_module.h"

extern const struct spur_bdev_module spur_bdev_null_module;

struct bdev_null_opts {
	const char *name;    /* required */
	uint64_t num_blocks; /* > 0 */
	uint32_t block_size; /* power of two, 512..65536 */
	const uint8_t *uuid; /* 16 bytes, or NULL: the layer generates one */
	bool zero_reads;     /* reads memset the buffers (false: leave them as they are) */
};

/*
 * Create and register a null bdev (app thread). Returns 0 (*bdev set, may be
 * NULL), -EINVAL (bad geometry), -EEXIST (name taken), -ENOMEM; err (may be
 * NULL) receives a readable message on failure.
 */
int bdev_null_create(const struct bdev_null_opts *opts, struct spur_bdev **bdev, char *err,
		     size_t err_len);
/*
 * Unregister the null bdev called name (app thread): -ENODEV if there is none
 * (cb never runs), else 0 and cb(cb_arg, status) once it is gone.
 */
int bdev_null_delete(const char *name, void (*cb)(void *cb_arg, int status), void *cb_arg);
/*
 * Resize to new_size_mib MiB (app thread); openers get a resize event.
 * Returns 0, -ENODEV (no such null bdev), -EINVAL (0 or too large), or the
 * layer's error.
 */
int bdev_null_resize(const char *name, uint64_t new_size_mib);

/* Hooks of the module table (defined with the RPC methods in bdev_null_rpc.c). */
size_t bdev_null_get_ctx_size(void);
int bdev_null_module_init(void);
void bdev_null_module_fini(void (*done)(void));

#endif
