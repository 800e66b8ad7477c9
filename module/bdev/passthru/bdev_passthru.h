/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The passthru bdev module: a virtual bdev that claims a base bdev and
 * forwards every request to it unchanged (the smallest stacked module: the
 * stacked-bdev helper module/bdev/common/vbdev_base.h with its defaults,
 * which delay and error build on too).
 *
 * Creation and deletion run on the application thread; I/O on any thread.
 */
#ifndef SPUR_MODULE_BDEV_PASSTHRU_H
#define SPUR_MODULE_BDEV_PASSTHRU_H

#include <stddef.h>
#include <stdint.h>

#include "spur/bdev_module.h"

extern const struct spur_bdev_module spur_bdev_passthru_module;

/*
 * Open base_name read-write, claim it and register a bdev called name with
 * the base's geometry (app thread). uuid is 16 bytes or NULL (generated).
 * Returns 0, -EEXIST (name taken), -ENODEV (no base), -EPERM (base already
 * claimed), -ENOMEM; err (may be NULL) receives a readable message.
 */
int bdev_passthru_create(const char *base_name, const char *name, const uint8_t *uuid,
			 char *err, size_t err_len);
/*
 * Unregister the passthru bdev called name (app thread): -ENODEV if there is
 * none (cb never runs), else 0 and cb(cb_arg, status) once every opener
 * closed it and the base was released and closed.
 */
int bdev_passthru_delete(const char *name, void (*cb)(void *cb_arg, int status), void *cb_arg);

/* Hooks of the module table (defined with the RPC methods in bdev_passthru_rpc.c). */
size_t bdev_passthru_get_ctx_size(void);

#endif
