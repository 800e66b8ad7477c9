/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The null bdev: a block device without storage, for benchmarks and tests.
 *
 * Writes, unmap, write_zeroes, flush and reset succeed at once; reads fill
 * the buffers with zeroes unless the bdev was created with zero_reads false,
 * in which case they return whatever the buffers held (the cheapest
 * possible device, for measuring the layers above). Every request completes
 * inside submit_request (the layer defers the callback).
 *
 * Threading: create, resize and delete are app-thread only. I/O runs on any
 * thread with an empty channel of one module-wide io_device. The only field
 * I/O reads that can change is blockcnt (resize), and the layer range-checks
 * against its own copy, so I/O threads share nothing mutable.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_null.h"
#include "module/bdev/common/bdev_util.h"
#include "spur/log.h"
#include "spur/thread.h"
#include "spur/util.h"

#define MIB (1024u * 1024u)

struct null_disk {
	struct spur_bdev bdev;
	bool zero_reads;
	bool deleting;
};

/* The one io_device every (empty) null channel belongs to. */
static struct bdev_util_io_device g_null_io_device;

size_t
bdev_null_get_ctx_size(void)
{
	return 0;
}

int
bdev_null_module_init(void)
{
	bdev_util_io_device_init(&g_null_io_device, "bdev_null");
	return 0;
}

void
bdev_null_module_fini(void (*done)(void))
{
	bdev_util_io_device_fini(&g_null_io_device, done);
}

static void
null_submit(struct spur_io_channel *ch, struct spur_bdev_io *io)
{
	struct null_disk *d = io->bdev->ctxt;

	(void)ch;
	switch (io->type) {
	case SPUR_BDEV_IO_READ:
		if (d->zero_reads) {
			uint64_t len = io->num_blocks * d->bdev.blocklen;

			for (int i = 0; i < io->iovcnt && len > 0; i++) {
				size_t n = SPUR_MIN(io->iovs[i].iov_len, len);

				memset(io->iovs[i].iov_base, 0, n);
				len -= n;
			}
		}
		break;
	case SPUR_BDEV_IO_WRITE:
	case SPUR_BDEV_IO_UNMAP:
	case SPUR_BDEV_IO_WRITE_ZEROES:
	case SPUR_BDEV_IO_FLUSH:
	case SPUR_BDEV_IO_RESET:
		break;
	default:
		spur_bdev_io_complete(io, SPUR_BDEV_ERR_UNSUPPORTED);
		return;
	}
	spur_bdev_io_complete(io, SPUR_BDEV_OK);
}

static struct spur_io_channel *
null_get_io_channel(void *ctx)
{
	(void)ctx;
	return bdev_util_io_device_get_channel(&g_null_io_device);
}

static void
null_disk_free(struct null_disk *d)
{
	free(d->bdev.name);
	free(d);
}

static int
null_destruct(void *ctx)
{
	struct null_disk *d = ctx;

	SPUR_DEBUGLOG("bdev_null", "%s: destruct\n", d->bdev.name);
	null_disk_free(d);
	return 0;
}

static void
null_write_config(struct spur_bdev *bdev, json_t *config)
{
	struct null_disk *d = bdev->ctxt;
	json_t *params = bdev_util_geometry_params(bdev);

	if (params == NULL)
		return;
	/* A spur extension: written only when it differs from the default. */
	if (!d->zero_reads)
		json_object_set_new(params, "zero_reads", json_false());
	spur_bdev_config_add(config, "bdev_null_create", params);
	json_decref(params);
}

static void
null_dump_info(void *ctx, json_t *driver_specific)
{
	struct null_disk *d = ctx;

	json_object_set_new(driver_specific, "null",
			    json_pack("{s:b}", "zero_reads", (int)d->zero_reads));
}

static const struct spur_bdev_fn_table g_null_fn_table = {
	.destruct = null_destruct,
	.submit_request = null_submit,
	.io_type_supported = bdev_util_io_type_supported_all,
	.get_io_channel = null_get_io_channel,
	.dump_info_json = null_dump_info,
	.write_config_json = null_write_config,
};

int
bdev_null_create(const struct bdev_null_opts *opts, struct spur_bdev **bdev, char *err,
		 size_t err_len)
{
	struct null_disk *d;
	int rc;

	if (opts->name == NULL || opts->name[0] == '\0')
		return bdev_util_fail(err, err_len, -EINVAL, "name is required");
	rc = bdev_util_check_geometry(opts->block_size, opts->num_blocks, err, err_len);
	if (rc != 0)
		return rc;
	if (opts->num_blocks > UINT64_MAX / opts->block_size)
		return bdev_util_fail(err, err_len, -EINVAL,
				      "num_blocks * block_size must fit in 64 bits");
	if (spur_bdev_get_by_name(opts->name) != NULL)
		return bdev_util_fail(err, err_len, -EEXIST, "bdev '%s' already exists",
				      opts->name);

	d = calloc(1, sizeof(*d));
	if (d == NULL || (d->bdev.name = strdup(opts->name)) == NULL) {
		free(d);
		return bdev_util_fail(err, err_len, -ENOMEM, "out of memory");
	}
	d->zero_reads = opts->zero_reads;
	d->bdev.product_name = "Null disk";
	d->bdev.blocklen = opts->block_size;
	d->bdev.blockcnt = opts->num_blocks;
	if (opts->uuid != NULL)
		memcpy(d->bdev.uuid, opts->uuid, sizeof(d->bdev.uuid));
	d->bdev.write_cache = false;
	d->bdev.ctxt = d;
	d->bdev.fn_table = &g_null_fn_table;
	d->bdev.module = &spur_bdev_null_module;

	rc = spur_bdev_register(&d->bdev);
	if (rc != 0) {
		bdev_util_fail(err, err_len, rc, "cannot register bdev '%s': %s", d->bdev.name,
			       strerror(-rc));
		null_disk_free(d);
		return rc;
	}
	SPUR_DEBUGLOG("bdev_null", "%s: %" PRIu64 " blocks of %" PRIu32 " bytes%s\n",
		      d->bdev.name, d->bdev.blockcnt, d->bdev.blocklen,
		      d->zero_reads ? "" : ", reads leave buffers untouched");
	if (bdev != NULL)
		*bdev = &d->bdev;
	return 0;
}

int
bdev_null_delete(const char *name, void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	struct null_disk *d = bdev_util_find(name, &spur_bdev_null_module);

	if (d == NULL)
		return -ENODEV;
	return bdev_util_unregister_once(&d->bdev, &d->deleting, cb, cb_arg);
}

int
bdev_null_resize(const char *name, uint64_t new_size_mib)
{
	struct null_disk *d = bdev_util_find(name, &spur_bdev_null_module);
	uint64_t blocks;

	if (d == NULL || d->deleting)
		return -ENODEV;
	/* block sizes are powers of two up to 64 KiB, so they divide a MiB. */
	if (new_size_mib == 0 || new_size_mib > UINT64_MAX / MIB)
		return -EINVAL;
	blocks = new_size_mib * (MIB / d->bdev.blocklen);
	SPUR_DEBUGLOG("bdev_null", "%s: resize %" PRIu64 " -> %" PRIu64 " blocks\n", name,
		      d->bdev.blockcnt, blocks);
	return spur_bdev_notify_blockcnt_change(&d->bdev, blocks);
}
