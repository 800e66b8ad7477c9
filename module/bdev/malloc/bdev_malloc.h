/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The malloc bdev module: block devices backed by anonymous memory.
 *
 * Creation and deletion run on the application thread (RPC handlers, config
 * load). I/O runs on any thread and touches only the disk's memory; the
 * memory is never resized, so no state is shared between I/O threads except
 * the bytes themselves (concurrent writes to one block race as on any disk).
 */
#ifndef SPUR_MODULE_BDEV_MALLOC_H
#define SPUR_MODULE_BDEV_MALLOC_H

#include <stdint.h>

#include "spur/bdev_module.h"

extern const struct spur_bdev_module spur_bdev_malloc_module;

struct bdev_malloc_opts {
	const char *name;             /* NULL: "MallocN" with the first free N */
	uint64_t num_blocks;          /* > 0 */
	uint32_t block_size;          /* power of two, 512..65536 */
	const uint8_t *uuid;          /* 16 bytes, or NULL: the layer generates one */
	uint32_t optimal_io_boundary; /* blocks; 0 = none */
};

/*
 * Create and register a malloc bdev (app thread). On success *bdev is the
 * registered bdev (owned by the layer until deleted). Returns 0, -EINVAL (bad
 * geometry; err says which field), -EEXIST (name taken), -ENOMEM (memory).
 * err (may be NULL) receives a readable message on failure.
 */
int bdev_malloc_create(const struct bdev_malloc_opts *opts, struct spur_bdev **bdev, char *err,
		       size_t err_len);

/*
 * Unregister the malloc bdev called name (app thread). Returns -ENODEV when
 * there is no such malloc bdev (cb never runs); else 0 and cb(cb_arg, status)
 * runs once every opener closed it and its memory was freed.
 */
int bdev_malloc_delete(const char *name, void (*cb)(void *cb_arg, int status), void *cb_arg);

/* Hooks of the module table (defined with the RPC methods in bdev_malloc_rpc.c). */
size_t bdev_malloc_get_ctx_size(void);
int bdev_malloc_module_init(void);
void bdev_malloc_module_fini(void (*done)(void));

#endif
