/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The file-backed bdev helper, device side (see file_bdev.h): allocation
 * and argument checks, opening the buffered and O_DIRECT files, geometry,
 * registration, rescan, deletion and destruct.
 *
 * Owns each disk's two file descriptors, its file name and the disk memory
 * (freed here after ops->fini). Application thread only: the I/O path
 * reads the geometry, never writes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bdev_util.h"
#include "file_bdev.h"
#include "spur/log.h"
#include "spur/util.h"

static bool
is_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

static void
file_free(struct file_bdev *fb)
{
	if (fb->ops->fini != NULL)
		fb->ops->fini(fb);
	if (fb->fd >= 0)
		close(fb->fd);
	if (fb->dfd >= 0)
		close(fb->dfd);
	free(fb->filename);
	free(fb->bdev.name);
	free(fb);
}

int
file_bdev_alloc(size_t size, const struct file_bdev_ops *ops, const char *name,
		const char *filename, uint32_t block_size, struct file_bdev **out, char *err,
		size_t err_len)
{
	struct file_bdev *fb;

	*out = NULL;
	err[0] = '\0';
	if (name == NULL || name[0] == '\0') {
		spur_strfmt(err, err_len, "name must not be empty");
		return -EINVAL;
	}
	if (block_size != 0 && (!is_pow2(block_size) || block_size < 512 || block_size > 65536)) {
		spur_strfmt(err, err_len, "block_size %u is not a power of two in 512..65536",
			    block_size);
		return -EINVAL;
	}
	if (spur_bdev_get_by_name(name) != NULL) {
		spur_strfmt(err, err_len, "bdev %s already exists", name);
		return -EEXIST;
	}
	fb = calloc(1, size);
	if (fb == NULL)
		return -ENOMEM;
	fb->ops = ops;
	fb->fd = fb->dfd = -1;
	if (ops->init != NULL)
		ops->init(fb);
	fb->filename = strdup(filename);
	fb->bdev.name = strdup(name);
	if (fb->filename == NULL || fb->bdev.name == NULL) {
		spur_strfmt(err, err_len, "cannot create %s: %s", name, strerror(ENOMEM));
		file_free(fb);
		return -ENOMEM;
	}
	*out = fb;
	return 0;
}

/* Size in bytes of the open file or block device. */
static int
file_get_size(int fd, bool is_blockdev, uint64_t *size)
{
	struct stat st;

	if (is_blockdev)
		return ioctl(fd, BLKGETSIZE64, size) == 0 ? 0 : -errno;
	if (fstat(fd, &st) != 0)
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

int
file_bdev_open(struct file_bdev *fb, bool readonly, uint64_t *size, char *err, size_t err_len)
{
	struct stat st;
	int lbs, rc;

	fb->fd = open(fb->filename, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fb->fd < 0) {
		rc = -errno;
		spur_strfmt(err, err_len, "cannot open %s: %s", fb->filename, strerror(-rc));
		return rc;
	}
	if (fstat(fb->fd, &st) != 0) {
		rc = -errno;
		spur_strfmt(err, err_len, "cannot stat %s: %s", fb->filename, strerror(-rc));
		return rc;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		spur_strfmt(err, err_len, "%s is not a regular file or block device", fb->filename);
		return -EINVAL;
	}
	fb->is_blockdev = S_ISBLK(st.st_mode);
	fb->lbs = 512;
	if (fb->is_blockdev) {
		rc = ioctl(fb->fd, BLKSSZGET, &lbs) != 0 ? -errno : 0;
		if (rc == 0 && (lbs < 512 || !is_pow2((uint64_t)lbs)))
			rc = -EINVAL;
		if (rc != 0) {
			spur_strfmt(err, err_len, "cannot get the block size of %s: %s",
				    fb->filename, strerror(-rc));
			return rc;
		}
		fb->lbs = (uint32_t)lbs;
	}
	rc = file_get_size(fb->fd, fb->is_blockdev, size);
	if (rc != 0) {
		spur_strfmt(err, err_len, "cannot get the size of %s: %s", fb->filename,
			    strerror(-rc));
		return rc;
	}
	return 0;
}

int
file_bdev_open_direct(struct file_bdev *fb, bool readonly)
{
	struct statx stx;

	fb->dfd = open(fb->filename, (readonly ? O_RDONLY : O_RDWR) | O_DIRECT | O_CLOEXEC);
	if (fb->dfd < 0)
		return -errno;
	fb->dio_mem_align = fb->dio_off_align = fb->is_blockdev ? fb->lbs : 4096;
	if (statx(fb->dfd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && is_pow2(stx.stx_dio_mem_align) &&
	    is_pow2(stx.stx_dio_offset_align)) {
		fb->dio_mem_align = stx.stx_dio_mem_align;
		fb->dio_off_align = stx.stx_dio_offset_align;
	}
	return 0;
}

int
file_bdev_check_size(struct file_bdev *fb, uint64_t size, uint32_t block_size, char *err,
		     size_t err_len)
{
	if (size == 0 || size % block_size != 0) {
		spur_strfmt(err, err_len, "size of %s (%" PRIu64 " bytes) is %s block_size %u",
			    fb->filename, size, size == 0 ? "smaller than" : "not a multiple of",
			    block_size);
		return -EINVAL;
	}
	return 0;
}

int
file_bdev_create_failed(struct file_bdev *fb, int rc, char *err, size_t err_len)
{
	if (err[0] == '\0')
		spur_strfmt(err, err_len, "cannot create %s: %s", fb->bdev.name, strerror(-rc));
	file_free(fb);
	return rc;
}

static void
file_device_gone(void *io_device)
{
	struct file_bdev *fb = io_device;

	if (fb->ops->stop != NULL)
		fb->ops->stop(fb);
	spur_bdev_destruct_done(&fb->bdev);
	file_free(fb);
}

/* Registration failed: no channel exists yet, nothing but the disk to free. */
static void
file_device_unused(void *io_device)
{
	file_free(io_device);
}

int
file_bdev_register(struct file_bdev *fb, uint64_t size, uint32_t block_size,
		   const uint8_t *uuid, char *err, size_t err_len)
{
	const struct file_bdev_ops *ops = fb->ops;
	int rc;

	fb->bdev.product_name = ops->product_name;
	fb->bdev.blocklen = block_size;
	fb->bdev.blockcnt = size / block_size;
	if (uuid != NULL)
		memcpy(fb->bdev.uuid, uuid, sizeof(fb->bdev.uuid));
	fb->bdev.write_cache = true;
	fb->bdev.ctxt = fb;
	fb->bdev.fn_table = ops->fn_table;
	fb->bdev.module = ops->module;

	spur_io_device_register(fb, ops->channel_create, ops->channel_destroy, ops->channel_size,
				fb->bdev.name);
	rc = spur_bdev_register(&fb->bdev);
	if (rc != 0) {
		spur_strfmt(err, err_len, "cannot register bdev %s: %s", fb->bdev.name,
			    strerror(-rc));
		spur_io_device_unregister(fb, file_device_unused);
		return rc;
	}
	return 0;
}

int
file_bdev_destruct(void *ctx)
{
	struct file_bdev *fb = ctx;

	SPUR_DEBUGLOG(fb->ops->log_component, "%s: destruct\n", fb->bdev.name);
	spur_io_device_unregister(fb, file_device_gone);
	return 1;
}

int
file_bdev_delete(const char *name, const struct spur_bdev_module *module,
		 void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	struct file_bdev *fb = bdev_util_find(name, module);

	if (fb == NULL)
		return -ENODEV;
	spur_bdev_unregister(&fb->bdev, cb, cb_arg);
	return 0;
}

int
file_bdev_rescan(const char *name, const struct spur_bdev_module *module)
{
	struct file_bdev *fb = bdev_util_find(name, module);
	uint64_t size, blockcnt;
	int rc;

	if (fb == NULL)
		return -ENODEV;
	rc = file_get_size(fb->fd, fb->is_blockdev, &size);
	if (rc != 0)
		return rc;
	blockcnt = size / fb->bdev.blocklen;
	if (blockcnt == fb->bdev.blockcnt)
		return 0;
	SPUR_NOTICELOG("%s: size changed from %" PRIu64 " to %" PRIu64 " blocks\n", name,
		       fb->bdev.blockcnt, blockcnt);
	return spur_bdev_notify_blockcnt_change(&fb->bdev, blockcnt);
}

json_t *
file_bdev_config_params(struct file_bdev *fb)
{
	return json_pack("{s:s, s:s, s:I}", "filename", fb->filename, "name", fb->bdev.name,
			 "block_size", (json_int_t)fb->bdev.blocklen);
}
