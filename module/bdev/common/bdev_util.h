/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Small pieces every bdev module in module/bdev/ repeated: the readable
 * create-error text, finding a module's bdev by name, unregistering it at
 * most once, the channel of a bdev that is its own io_device, and for the
 * storage-less modules (malloc, null) "every request type", one
 * module-wide io_device with empty channels, their geometry checks and the
 * first fields of their save_config entry.
 *
 * Owns nothing but what a struct bdev_util_io_device holds. Everything here
 * runs on the application thread, except bdev_util_get_io_channel and
 * bdev_util_io_device_get_channel (any thread: they return that thread's
 * channel).
 */
#ifndef SPUR_MODULE_BDEV_COMMON_BDEV_UTIL_H
#define SPUR_MODULE_BDEV_COMMON_BDEV_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spur/bdev_module.h"

/*
 * Format a message into err (when err is not NULL and err_len > 0) and
 * return rc, so a create function can fail with
 * 'return bdev_util_fail(err, err_len, -EEXIST, "bdev '%s' already exists", name);'.
 */
int bdev_util_fail(char *err, size_t err_len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The ctxt of the bdev called name when module registered it, else NULL. */
void *bdev_util_find(const char *name, const struct spur_bdev_module *module);

/*
 * Unregister bdev unless *removing says that already began: -ENODEV then
 * (cb never runs); else sets *removing and returns 0, and cb(cb_arg,
 * status) runs once the bdev is gone (spur_bdev_unregister).
 */
int bdev_util_unregister_once(struct spur_bdev *bdev, bool *removing,
			      void (*cb)(void *cb_arg, int status), void *cb_arg);

/* fn_table->io_type_supported of a bdev that serves every request type. */
bool bdev_util_io_type_supported_all(void *ctx, enum spur_bdev_io_type type);

/* fn_table->get_io_channel of a bdev whose ctxt is its own io_device. */
struct spur_io_channel *bdev_util_get_io_channel(void *ctx);

/*
 * One io_device for a whole module whose requests need no per-thread state
 * (malloc, null): its channels are empty. A module has one, statically
 * allocated; its address is the io_device.
 */
struct bdev_util_io_device {
	bool registered;
	void (*fini_done)(void);
};
/* Register it (module_init); name names the io_device. */
void bdev_util_io_device_init(struct bdev_util_io_device *dev, const char *name);
/* Unregister it (module_fini); done() runs once every channel is gone. */
void bdev_util_io_device_fini(struct bdev_util_io_device *dev, void (*done)(void));
struct spur_io_channel *bdev_util_io_device_get_channel(struct bdev_util_io_device *dev);

/*
 * The geometry malloc and null accept: block_size a power of two from 512
 * to 65536, num_blocks above 0. Returns 0 or -EINVAL with the message in err.
 */
int bdev_util_check_geometry(uint32_t block_size, uint64_t num_blocks, char *err,
			     size_t err_len);

/*
 * {"name", "num_blocks", "block_size", "uuid"} of bdev: the start of the
 * save_config entry of a storage-less bdev (new reference, NULL on failure).
 */
json_t *bdev_util_geometry_params(struct spur_bdev *bdev);

#endif
