/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The aio bdev device: opening the file or block device, learning its
 * geometry and what the kernel offers (O_DIRECT alignment, IOCB_CMD_FDSYNC),
 * registration, rescan, deletion and the bdev function table. The I/O path
 * is in bdev_aio_io.c.
 *
 * Owns struct aio_disk. Created, rescanned and destroyed on the application
 * thread; after registration its fields are read-only for the I/O path,
 * except the atomics and the helper (see bdev_aio_internal.h).
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
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bdev_aio_internal.h"
#include "spur/log.h"
#include "spur/thread.h"
#include "spur/util.h"

static bool
is_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

static void
aio_disk_free(struct aio_disk *disk)
{
	if (disk->fd >= 0)
		close(disk->fd);
	if (disk->bfd >= 0)
		close(disk->bfd);
	pthread_mutex_destroy(&disk->helper.lock);
	pthread_cond_destroy(&disk->helper.cond);
	free(disk->filename);
	free(disk->bdev.name);
	free(disk);
}

static void
aio_device_gone(void *io_device)
{
	struct aio_disk *disk = io_device;

	bdev_aio_helper_stop(disk);
	spur_bdev_destruct_done(&disk->bdev);
	aio_disk_free(disk);
}

/* Registration failed: nothing but the disk to free. */
static void
aio_device_unused(void *io_device)
{
	aio_disk_free(io_device);
}

static int
aio_destruct(void *ctx)
{
	struct aio_disk *disk = ctx;

	SPUR_DEBUGLOG("bdev_aio", "%s: destruct\n", disk->bdev.name);
	spur_io_device_unregister(disk, aio_device_gone);
	return 1;
}

static bool
aio_io_type_supported(void *ctx, enum spur_bdev_io_type type)
{
	struct aio_disk *disk = ctx;

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
		       (!disk->is_blockdev || disk->bdev.blocklen >= disk->lbs);
	default:
		return false;
	}
}

static struct spur_io_channel *
aio_get_io_channel(void *ctx)
{
	return spur_get_io_channel(ctx);
}

static void
aio_dump_info_json(void *ctx, json_t *driver_specific)
{
	struct aio_disk *disk = ctx;

	json_object_set_new(driver_specific, "aio",
			    json_pack("{s:s, s:b, s:b, s:b}", "filename", disk->filename,
				      "block_size_override", disk->block_size_override,
				      "readonly", disk->readonly, "fallocate", disk->fallocate));
}

static void
aio_write_config_json(struct spur_bdev *bdev, json_t *config)
{
	struct aio_disk *disk = bdev->ctxt;
	char uuid[40];
	json_t *params;

	spur_bdev_get_uuid_str(bdev, uuid, sizeof(uuid));
	params = json_pack("{s:s, s:s, s:I, s:b, s:b, s:s}", "filename", disk->filename, "name",
			   bdev->name, "block_size", (json_int_t)bdev->blocklen, "readonly",
			   disk->readonly, "fallocate", disk->fallocate, "uuid", uuid);
	spur_bdev_config_add(config, "bdev_aio_create", params);
	json_decref(params);
}

static const struct spur_bdev_fn_table g_aio_fn_table = {
	.destruct = aio_destruct,
	.submit_request = bdev_aio_submit_request,
	.io_type_supported = aio_io_type_supported,
	.get_io_channel = aio_get_io_channel,
	.dump_info_json = aio_dump_info_json,
	.write_config_json = aio_write_config_json,
};

static int
aio_get_size(int fd, bool is_blockdev, uint64_t *size)
{
	struct stat st;

	if (is_blockdev)
		return ioctl(fd, BLKGETSIZE64, size) == 0 ? 0 : -errno;
	if (fstat(fd, &st) != 0)
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

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
			     disk->filename, strerror(-rc));
		return true;
	}
	io_prep_fdsync(&iocb, disk->fd);
	rc = io_submit(ctx, 1, iocbs);
	if (rc == 1) {
		do {
			rc = io_getevents(ctx, 1, 1, &ev, &timeout);
		} while (rc == -EINTR);
		if (rc == 1 && (long)ev.res != 0)
			SPUR_WARNLOG("%s: probing fdatasync: %s\n", disk->filename,
				     strerror((int)-(long)ev.res));
		rc = 1;
	}
	io_destroy(ctx);
	SPUR_DEBUGLOG("bdev_aio", "%s: IOCB_CMD_FDSYNC probe: %d\n", disk->filename, rc);
	return rc != -EINVAL;
}

static int
aio_open(struct aio_disk *disk, uint64_t *size, char *err, size_t err_len)
{
	int flags = (disk->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct statx stx;
	struct stat st;
	int lbs, rc;

	disk->bfd = open(disk->filename, flags);
	if (disk->bfd < 0) {
		rc = -errno;
		spur_strfmt(err, err_len, "cannot open %s: %s", disk->filename, strerror(-rc));
		return rc;
	}
	if (fstat(disk->bfd, &st) != 0) {
		rc = -errno;
		spur_strfmt(err, err_len, "cannot stat %s: %s", disk->filename, strerror(-rc));
		return rc;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		spur_strfmt(err, err_len, "%s is not a regular file or block device",
			    disk->filename);
		return -EINVAL;
	}
	disk->is_blockdev = S_ISBLK(st.st_mode);
	disk->lbs = 512;
	if (disk->is_blockdev) {
		rc = ioctl(disk->bfd, BLKSSZGET, &lbs) != 0 ? -errno : 0;
		if (rc == 0 && (lbs < 512 || !is_pow2((uint64_t)lbs)))
			rc = -EINVAL;
		if (rc != 0) {
			spur_strfmt(err, err_len, "cannot get the block size of %s: %s",
				    disk->filename, strerror(-rc));
			return rc;
		}
		disk->lbs = (uint32_t)lbs;
	}
	rc = aio_get_size(disk->bfd, disk->is_blockdev, size);
	if (rc != 0) {
		spur_strfmt(err, err_len, "cannot get the size of %s: %s", disk->filename,
			    strerror(-rc));
		return rc;
	}
	disk->fd = open(disk->filename, flags | O_DIRECT);
	if (disk->fd < 0) {
		SPUR_WARNLOG("%s: no O_DIRECT (%s); every request goes through the helper thread\n",
			     disk->filename, strerror(errno));
		disk->fd = dup(disk->bfd);
		disk->dio_mem_align = disk->dio_off_align = 1;
		return disk->fd >= 0 ? 0 : -errno;
	}
	disk->direct = true;
	disk->dio_mem_align = disk->dio_off_align = disk->is_blockdev ? disk->lbs : 4096;
	if (statx(disk->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && is_pow2(stx.stx_dio_mem_align) &&
	    is_pow2(stx.stx_dio_offset_align)) {
		disk->dio_mem_align = stx.stx_dio_mem_align;
		disk->dio_off_align = stx.stx_dio_offset_align;
	}
	return 0;
}

int
bdev_aio_create(const struct bdev_aio_opts *opts, char *err, size_t err_len)
{
	struct aio_disk *disk;
	uint64_t size = 0;
	uint32_t block_size;
	int rc;

	err[0] = '\0';
	if (opts->name == NULL || opts->name[0] == '\0') {
		spur_strfmt(err, err_len, "name must not be empty");
		return -EINVAL;
	}
	if (opts->block_size != 0 && (!is_pow2(opts->block_size) || opts->block_size < 512 ||
				      opts->block_size > 65536)) {
		spur_strfmt(err, err_len, "block_size %u is not a power of two in 512..65536",
			    opts->block_size);
		return -EINVAL;
	}
	if (spur_bdev_get_by_name(opts->name) != NULL) {
		spur_strfmt(err, err_len, "bdev %s already exists", opts->name);
		return -EEXIST;
	}
	disk = calloc(1, sizeof(*disk));
	if (disk == NULL)
		return -ENOMEM;
	disk->fd = disk->bfd = -1;
	pthread_mutex_init(&disk->helper.lock, NULL);
	pthread_cond_init(&disk->helper.cond, NULL);
	TAILQ_INIT(&disk->helper.queue);
	disk->readonly = opts->readonly;
	disk->fallocate = opts->fallocate;
	disk->block_size_override = opts->block_size != 0;
	disk->filename = strdup(opts->filename);
	disk->bdev.name = strdup(opts->name);
	if (disk->filename == NULL || disk->bdev.name == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	rc = aio_open(disk, &size, err, err_len);
	if (rc != 0)
		goto err;
	block_size = opts->block_size ? opts->block_size : disk->lbs;
	if (!opts->block_size && disk->direct && disk->dio_off_align > block_size)
		block_size = disk->dio_off_align;
	if (disk->direct && block_size < disk->dio_off_align) {
		spur_strfmt(err, err_len, "block_size %u is smaller than the O_DIRECT alignment "
			    "%u of %s", block_size, disk->dio_off_align, disk->filename);
		rc = -EINVAL;
		goto err;
	}
	if (size == 0 || size % block_size != 0) {
		spur_strfmt(err, err_len, "size of %s (%" PRIu64 " bytes) is %s block_size %u",
			    disk->filename, size, size == 0 ? "smaller than" : "not a multiple of",
			    block_size);
		rc = -EINVAL;
		goto err;
	}
	disk->fdsync_ok = disk->direct && aio_probe_fdsync(disk);
	if (disk->direct && !disk->fdsync_ok)
		SPUR_NOTICELOG("%s: no IOCB_CMD_FDSYNC; flushes go through the helper thread\n",
			       disk->filename);

	disk->bdev.product_name = "AIO disk";
	disk->bdev.blocklen = block_size;
	disk->bdev.blockcnt = size / block_size;
	if (opts->has_uuid)
		memcpy(disk->bdev.uuid, opts->uuid, sizeof(disk->bdev.uuid));
	disk->bdev.write_cache = true;
	/* The layer bounces buffers whose base or length miss this. */
	disk->bdev.required_alignment =
		disk->direct ? SPUR_MIN(SPUR_MAX(disk->dio_mem_align, disk->dio_off_align), 4096u) : 1;
	disk->bdev.ctxt = disk;
	disk->bdev.fn_table = &g_aio_fn_table;
	disk->bdev.module = &spur_bdev_aio_module;

	spur_io_device_register(disk, bdev_aio_channel_create, bdev_aio_channel_destroy,
				sizeof(struct aio_channel), disk->bdev.name);
	rc = spur_bdev_register(&disk->bdev);
	if (rc != 0) {
		spur_strfmt(err, err_len, "cannot register bdev %s: %s", opts->name,
			    strerror(-rc));
		spur_io_device_unregister(disk, aio_device_unused);
		return rc;
	}
	SPUR_NOTICELOG("%s: aio bdev on %s, %" PRIu64 " blocks of %u bytes%s%s\n", opts->name,
		       disk->filename, disk->bdev.blockcnt, block_size,
		       disk->direct ? ", O_DIRECT" : "", disk->readonly ? ", read-only" : "");
	return 0;
err:
	if (err[0] == '\0')
		spur_strfmt(err, err_len, "cannot create %s: %s", opts->name, strerror(-rc));
	aio_disk_free(disk);
	return rc;
}

static struct aio_disk *
aio_find(const char *name)
{
	struct spur_bdev *bdev = spur_bdev_get_by_name(name);

	if (bdev == NULL || bdev->module != &spur_bdev_aio_module)
		return NULL;
	return bdev->ctxt;
}

int
bdev_aio_delete(const char *name, void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	struct aio_disk *disk = aio_find(name);

	if (disk == NULL)
		return -ENODEV;
	spur_bdev_unregister(&disk->bdev, cb, cb_arg);
	return 0;
}

int
bdev_aio_rescan(const char *name)
{
	struct aio_disk *disk = aio_find(name);
	uint64_t size, blockcnt;
	int rc;

	if (disk == NULL)
		return -ENODEV;
	rc = aio_get_size(disk->bfd, disk->is_blockdev, &size);
	if (rc != 0)
		return rc;
	blockcnt = size / disk->bdev.blocklen;
	if (blockcnt == disk->bdev.blockcnt)
		return 0;
	SPUR_NOTICELOG("%s: size changed from %" PRIu64 " to %" PRIu64 " blocks\n", name,
		       disk->bdev.blockcnt, blockcnt);
	return spur_bdev_notify_blockcnt_change(&disk->bdev, blockcnt);
}
