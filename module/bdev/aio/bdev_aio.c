/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The aio bdev device: opening the file or block device, learning its
 * geometry and what the kernel offers (O_DIRECT alignment, IOCB_CMD_FDSYNC),
 * registration, rescan, deletion and the bdev function table. The I/O path
 * is in bdev_aio_io.c.
 *
 * Owns struct aio_disk. Created, rescanned and destroyed on the application
 * thread; after registration its fields are read-only for the I/O path,
 * except the atomics and the helper (see bdev_aio_internal.h). What aio
 * shares with uring (opening and probing the file, geometry, size checks,
 * registration, rescan, deletion, destruct) is the file-backed bdev helper's
 * (module/bdev/common/file_bdev.h); this file adds the helper thread's
 * lifetime, the IOCB_CMD_FDSYNC probe and aio's options.
 *
 * O_DIRECT: the disk's main file is opened O_DIRECT and the bdev asks the
 * layer for buffers aligned to the file's direct-I/O memory alignment
 * (required_alignment), so aligned requests go straight to Linux AIO. The
 * bdev block size must then be a multiple of the direct-I/O offset
 * alignment (create refuses smaller ones). A file system without O_DIRECT
 * is still served, entirely through the helper thread (slow, but the
 * reactor never blocks).
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "bdev_aio_internal.h"
#include "module/bdev/common/bdev_util.h"
#include "spur/log.h"
#include "spur/thread.h"
#include "spur/util.h"

static inline struct aio_disk *
aio_of(struct file_bdev *fb)
{
	return SPUR_CONTAINER_OF(fb, struct aio_disk, fb);
}

/* ops->init: the helper thread's queue (the thread starts on first use). */
static void
aio_disk_init(struct file_bdev *fb)
{
	struct aio_disk *disk = aio_of(fb);

	pthread_mutex_init(&disk->helper.lock, NULL);
	pthread_cond_init(&disk->helper.cond, NULL);
	TAILQ_INIT(&disk->helper.queue);
}

/* ops->stop: every channel is gone; join the helper before the files close. */
static void
aio_disk_stop(struct file_bdev *fb)
{
	bdev_aio_helper_stop(aio_of(fb));
}

static void
aio_disk_fini(struct file_bdev *fb)
{
	struct aio_disk *disk = aio_of(fb);

	pthread_mutex_destroy(&disk->helper.lock);
	pthread_cond_destroy(&disk->helper.cond);
}

static bool
aio_io_type_supported(void *ctx, enum spur_bdev_io_type type)
{
	struct aio_disk *disk = aio_of(ctx);

	switch (type) {
	case SPUR_BDEV_IO_READ:
	case SPUR_BDEV_IO_FLUSH:
	case SPUR_BDEV_IO_RESET:
		return true;
	case SPUR_BDEV_IO_WRITE:
		return !disk->readonly;
	case SPUR_BDEV_IO_UNMAP:
		return !disk->readonly && disk->fallocate;
	case SPUR_BDEV_IO_WRITE_ZEROES:
		/* Block devices zero whole logical blocks only. */
		return !disk->readonly && disk->fallocate &&
		       (!disk->fb.is_blockdev || disk->fb.bdev.blocklen >= disk->fb.lbs);
	default:
		return false;
	}
}

static void
aio_dump_info_json(void *ctx, json_t *driver_specific)
{
	struct aio_disk *disk = aio_of(ctx);

	json_object_set_new(driver_specific, "aio",
			    json_pack("{s:s, s:b, s:b, s:b}", "filename", disk->fb.filename,
				      "block_size_override", disk->block_size_override,
				      "readonly", disk->readonly, "fallocate", disk->fallocate));
}

static void
aio_write_config_json(struct spur_bdev *bdev, json_t *config)
{
	struct aio_disk *disk = aio_of(bdev->ctxt);
	json_t *params = file_bdev_config_params(&disk->fb);
	char uuid[40];

	spur_bdev_get_uuid_str(bdev, uuid, sizeof(uuid));
	json_object_set_new(params, "readonly", json_boolean(disk->readonly));
	json_object_set_new(params, "fallocate", json_boolean(disk->fallocate));
	json_object_set_new(params, "uuid", json_string(uuid));
	spur_bdev_config_add(config, "bdev_aio_create", params);
	json_decref(params);
}

static const struct spur_bdev_fn_table g_aio_fn_table = {
	.destruct = file_bdev_destruct,
	.submit_request = bdev_aio_submit_request,
	.io_type_supported = aio_io_type_supported,
	.get_io_channel = bdev_util_get_io_channel,
	.dump_info_json = aio_dump_info_json,
	.write_config_json = aio_write_config_json,
};

static const struct file_bdev_ops g_aio_ops = {
	.module = &spur_bdev_aio_module,
	.fn_table = &g_aio_fn_table,
	.product_name = "AIO disk",
	.log_component = "bdev_aio",
	.reset_poller_name = "bdev_aio_reset",
	.channel_size = sizeof(struct aio_channel),
	.channel_create = bdev_aio_channel_create,
	.channel_destroy = bdev_aio_channel_destroy,
	.init = aio_disk_init,
	.stop = aio_disk_stop,
	.fini = aio_disk_fini,
};

/*
 * Whether Linux AIO takes IOCB_CMD_FDSYNC on this file: kernels before 4.18
 * (and files without fsync) refuse it at io_submit with -EINVAL. Runs one
 * real fdatasync, once, at create. A probe that cannot run for another
 * reason (no AIO context left, ...) assumes the modern answer, yes.
 */
static bool
aio_probe_fdsync(struct aio_disk *disk)
{
	io_context_t ctx = 0;
	struct iocb iocb, *iocbs[1] = {&iocb};
	struct io_event ev;
	struct timespec timeout = {30, 0};
	int rc;

	rc = io_setup(1, &ctx);
	if (rc != 0) {
		SPUR_WARNLOG("%s: cannot probe IOCB_CMD_FDSYNC (io_setup: %s); assuming it works\n",
			     disk->fb.filename, strerror(-rc));
		return true;
	}
	io_prep_fdsync(&iocb, disk->fb.dfd);
	rc = io_submit(ctx, 1, iocbs);
	if (rc == 1) {
		do {
			rc = io_getevents(ctx, 1, 1, &ev, &timeout);
		} while (rc == -EINTR);
		if (rc == 1 && (long)ev.res != 0)
			SPUR_WARNLOG("%s: probing fdatasync: %s\n", disk->fb.filename,
				     strerror((int)-(long)ev.res));
		rc = 1;
	}
	io_destroy(ctx);
	SPUR_DEBUGLOG("bdev_aio", "%s: IOCB_CMD_FDSYNC probe: %d\n", disk->fb.filename, rc);
	return rc != -EINVAL;
}

/*
 * Open the buffered file, then the O_DIRECT one that Linux AIO uses; a file
 * system without O_DIRECT is served entirely by the helper thread.
 */
static int
aio_open(struct aio_disk *disk, uint64_t *size, char *err, size_t err_len)
{
	struct file_bdev *fb = &disk->fb;
	int rc = file_bdev_open(fb, disk->readonly, size, err, err_len);

	if (rc != 0)
		return rc;
	rc = file_bdev_open_direct(fb, disk->readonly);
	if (rc != 0) {
		SPUR_WARNLOG("%s: no O_DIRECT (%s); every request goes through the helper thread\n",
			     fb->filename, strerror(-rc));
		fb->dio_mem_align = fb->dio_off_align = 1;
	}
	return 0;
}

int
bdev_aio_create(const struct bdev_aio_opts *opts, char *err, size_t err_len)
{
	struct file_bdev *fb;
	struct aio_disk *disk;
	uint64_t size = 0;
	uint32_t block_size;
	bool direct;
	int rc;

	rc = file_bdev_alloc(sizeof(*disk), &g_aio_ops, opts->name, opts->filename,
			     opts->block_size, &fb, err, err_len);
	if (rc != 0)
		return rc;
	disk = aio_of(fb);
	disk->readonly = opts->readonly;
	disk->fallocate = opts->fallocate;
	disk->block_size_override = opts->block_size != 0;
	rc = aio_open(disk, &size, err, err_len);
	if (rc != 0)
		return file_bdev_create_failed(fb, rc, err, err_len);
	direct = fb->dfd >= 0;
	block_size = opts->block_size ? opts->block_size : fb->lbs;
	if (!opts->block_size && direct && fb->dio_off_align > block_size)
		block_size = fb->dio_off_align;
	if (direct && block_size < fb->dio_off_align) {
		spur_strfmt(err, err_len, "block_size %u is smaller than the O_DIRECT alignment "
			    "%u of %s", block_size, fb->dio_off_align, fb->filename);
		return file_bdev_create_failed(fb, -EINVAL, err, err_len);
	}
	rc = file_bdev_check_size(fb, size, block_size, err, err_len);
	if (rc != 0)
		return file_bdev_create_failed(fb, rc, err, err_len);
	disk->fdsync_ok = direct && aio_probe_fdsync(disk);
	if (direct && !disk->fdsync_ok)
		SPUR_NOTICELOG("%s: no IOCB_CMD_FDSYNC; flushes go through the helper thread\n",
			       fb->filename);

	/* The layer bounces buffers whose base or length miss this. */
	fb->bdev.required_alignment =
		direct ? SPUR_MIN(SPUR_MAX(fb->dio_mem_align, fb->dio_off_align), 4096u) : 1;
	rc = file_bdev_register(fb, size, block_size, opts->has_uuid ? opts->uuid : NULL, err,
				err_len);
	if (rc != 0)
		return rc;
	SPUR_NOTICELOG("%s: aio bdev on %s, %" PRIu64 " blocks of %u bytes%s%s\n", opts->name,
		       fb->filename, fb->bdev.blockcnt, block_size, direct ? ", O_DIRECT" : "",
		       disk->readonly ? ", read-only" : "");
	return 0;
}

int
bdev_aio_delete(const char *name, void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	return file_bdev_delete(name, &spur_bdev_aio_module, cb, cb_arg);
}

int
bdev_aio_rescan(const char *name)
{
	return file_bdev_rescan(name, &spur_bdev_aio_module);
}
