/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Small pieces every bdev module repeated (see bdev_util.h).
 *
 * Owns no state of its own: a struct bdev_util_io_device belongs to the
 * module that declares it. Application thread only, except the two
 * get-channel functions, which any thread calls for its own channel.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "bdev_util.h"
#include "spur/thread.h"

#define BDEV_UTIL_MIN_BLOCK 512u
#define BDEV_UTIL_MAX_BLOCK 65536u

int
bdev_util_fail(char *err, size_t err_len, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && err_len > 0) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

void *
bdev_util_find(const char *name, const struct spur_bdev_module *module)
{
	struct spur_bdev *bdev = spur_bdev_get_by_name(name);

	if (bdev == NULL || bdev->module != module)
		return NULL;
	return bdev->ctxt;
}

int
bdev_util_unregister_once(struct spur_bdev *bdev, bool *removing,
			  void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	if (*removing)
		return -ENODEV;
	*removing = true;
	spur_bdev_unregister(bdev, cb, cb_arg);
	return 0;
}

bool
bdev_util_io_type_supported_all(void *ctx, enum spur_bdev_io_type type)
{
	(void)ctx;
	return type < SPUR_BDEV_IO_NUM_TYPES;
}

struct spur_io_channel *
bdev_util_get_io_channel(void *ctx)
{
	return spur_get_io_channel(ctx);
}

/* ---- the module-wide io_device of malloc and null -------------------------------- */

static int
empty_channel_create(void *io_device, void *ctx)
{
	(void)io_device;
	(void)ctx;
	return 0;
}

static void
empty_channel_destroy(void *io_device, void *ctx)
{
	(void)io_device;
	(void)ctx;
}

void
bdev_util_io_device_init(struct bdev_util_io_device *dev, const char *name)
{
	spur_io_device_register(dev, empty_channel_create, empty_channel_destroy, sizeof(int),
				name);
	dev->registered = true;
}

static void
io_device_gone(void *io_device)
{
	struct bdev_util_io_device *dev = io_device;

	dev->fini_done();
}

void
bdev_util_io_device_fini(struct bdev_util_io_device *dev, void (*done)(void))
{
	if (!dev->registered) {
		done();
		return;
	}
	dev->registered = false;
	dev->fini_done = done;
	spur_io_device_unregister(dev, io_device_gone);
}

struct spur_io_channel *
bdev_util_io_device_get_channel(struct bdev_util_io_device *dev)
{
	return spur_get_io_channel(dev);
}

/* ---- geometry and save_config of storage-less bdevs ------------------------------- */

int
bdev_util_check_geometry(uint32_t block_size, uint64_t num_blocks, char *err, size_t err_len)
{
	if (block_size < BDEV_UTIL_MIN_BLOCK || block_size > BDEV_UTIL_MAX_BLOCK ||
	    (block_size & (block_size - 1)) != 0)
		return bdev_util_fail(err, err_len, -EINVAL,
				      "block_size must be a power of two from 512 to 65536, not %" PRIu32,
				      block_size);
	if (num_blocks == 0)
		return bdev_util_fail(err, err_len, -EINVAL, "num_blocks must be greater than 0");
	return 0;
}

json_t *
bdev_util_geometry_params(struct spur_bdev *bdev)
{
	char uuid[40];

	spur_bdev_get_uuid_str(bdev, uuid, sizeof(uuid));
	return json_pack("{s:s, s:I, s:i, s:s}", "name", bdev->name, "num_blocks",
			 (json_int_t)bdev->blockcnt, "block_size", (int)bdev->blocklen, "uuid",
			 uuid);
}
