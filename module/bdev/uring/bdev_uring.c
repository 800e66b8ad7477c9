/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The uring bdev device: opening the file or block device, learning its
 * geometry and what the kernel offers (direct-I/O alignment, asynchronous
 * discard, hole punching), registration, rescan, deletion and the bdev
 * function table. The I/O path is in bdev_uring_io.c.
 *
 * Owns struct uring_disk (one per bdev). Created, rescanned and destroyed
 * on the application thread; after registration its fields are read-only
 * for the I/O path, except the atomics.
 *
 * Each disk opens its file twice, buffered and O_DIRECT (when the file
 * system allows it), and learns the direct-I/O alignment from statx
 * (STATX_DIOALIGN), else the logical block size for devices and 4096 for
 * files; bdev_uring_io.c picks the file per request.
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
#include <unistd.h>

#include "bdev_uring_internal.h"
#include "spur/log.h"
#include "spur/thread.h"
#include "spur/util.h"

static void
uring_disk_free(struct uring_disk *disk)
{
	if (disk->fd >= 0)
		close(disk->fd);
	if (disk->dfd >= 0)
		close(disk->dfd);
	free(disk->filename);
	free(disk->bdev.name);
	free(disk);
}

static void
uring_device_gone(void *io_device)
{
	struct uring_disk *disk = io_device;

	spur_bdev_destruct_done(&disk->bdev);
	uring_disk_free(disk);
}

/* Registration failed: nothing but the disk to free. */
static void
uring_device_unused(void *io_device)
{
	uring_disk_free(io_device);
}

static int
uring_destruct(void *ctx)
{
	struct uring_disk *disk = ctx;

	SPUR_DEBUGLOG("bdev_uring", "%s: destruct\n", disk->bdev.name);
	spur_io_device_unregister(disk, uring_device_gone);
	return 1;
}

static bool
uring_io_type_supported(void *ctx, enum spur_bdev_io_type type)
{
	struct uring_disk *disk = ctx;

	switch (type) {
	case SPUR_BDEV_IO_READ:
	case SPUR_BDEV_IO_WRITE:
	case SPUR_BDEV_IO_FLUSH:
	case SPUR_BDEV_IO_RESET:
		return true;
	case SPUR_BDEV_IO_UNMAP:
		return disk->can_unmap;
	case SPUR_BDEV_IO_WRITE_ZEROES:
		/* Block devices zero whole logical blocks only. */
		return disk->is_blockdev ? disk->bdev.blocklen >= disk->lbs : disk->can_punch;
	default:
		return false;
	}
}

static struct spur_io_channel *
uring_get_io_channel(void *ctx)
{
	return spur_get_io_channel(ctx);
}

static void
uring_dump_info_json(void *ctx, json_t *driver_specific)
{
	struct uring_disk *disk = ctx;

	json_object_set_new(driver_specific, "uring",
			    json_pack("{s:s, s:b}", "filename", disk->filename, "o_direct",
				      disk->dfd >= 0));
}

static void
uring_write_config_json(struct spur_bdev *bdev, json_t *config)
{
	struct uring_disk *disk = bdev->ctxt;
	char uuid[40];
	json_t *params;

	spur_bdev_get_uuid_str(bdev, uuid, sizeof(uuid));
	params = json_pack("{s:s, s:s, s:I, s:s}", "filename", disk->filename, "name", bdev->name,
			   "block_size", (json_int_t)bdev->blocklen, "uuid", uuid);
	/* Only the non-default value, so the output stays SPDK's shape. */
	if (params != NULL && !disk->use_direct_io)
		json_object_set_new(params, "use_direct_io", json_false());
	spur_bdev_config_add(config, "bdev_uring_create", params);
	json_decref(params);
}

static const struct spur_bdev_fn_table g_uring_fn_table = {
	.destruct = uring_destruct,
	.submit_request = bdev_uring_submit_request,
	.io_type_supported = uring_io_type_supported,
	.get_io_channel = uring_get_io_channel,
	.dump_info_json = uring_dump_info_json,
	.write_config_json = uring_write_config_json,
};

/* Size in bytes of the open file or block device. */
static int
uring_get_size(int fd, bool is_blockdev, uint64_t *size)
{
	struct stat st;

	if (is_blockdev)
		return ioctl(fd, BLKGETSIZE64, size) == 0 ? 0 : -errno;
	if (fstat(fd, &st) != 0)
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

static bool
is_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/* Direct-I/O alignment: statx when it knows, else a safe default. */
static void
uring_probe_dio(struct uring_disk *disk)
{
	struct statx stx;

	disk->dio_mem_align = disk->is_blockdev ? disk->lbs : 4096;
	disk->dio_off_align = disk->is_blockdev ? disk->lbs : 4096;
	if (statx(disk->dfd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && is_pow2(stx.stx_dio_mem_align) &&
	    is_pow2(stx.stx_dio_offset_align)) {
		disk->dio_mem_align = stx.stx_dio_mem_align;
		disk->dio_off_align = stx.stx_dio_offset_align;
	}
}

/*
 * Whether the kernel serves BLOCK_URING_CMD_DISCARD: a zero-length discard
 * is refused with -EINVAL by a kernel that has it and -EOPNOTSUPP (no
 * uring_cmd for block devices, or no discard) by one that has not.
 */
static bool
uring_probe_discard(int fd)
{
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	bool ok = false;

	if (io_uring_queue_init(2, &ring, 0) != 0)
		return false;
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = BLOCK_URING_CMD_DISCARD;
	if (io_uring_submit_and_wait(&ring, 1) == 1 && io_uring_peek_cqe(&ring, &cqe) == 0) {
		ok = cqe->res == -EINVAL;
		io_uring_cqe_seen(&ring, cqe);
	}
	io_uring_queue_exit(&ring);
	return ok;
}

/*
 * Whether PUNCH_HOLE works on this file: punch a block past the end (with
 * KEEP_SIZE nothing visible changes; a file system without it says
 * EOPNOTSUPP).
 */
static bool
uring_probe_punch(int fd, uint64_t size)
{
	off_t past = (off_t)((size + 4095) & ~(uint64_t)4095);

	return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, past, 4096) == 0;
}

/* Open the file twice and learn its geometry. */
static int
uring_open(struct uring_disk *disk, uint64_t *size, char *err, size_t err_len)
{
	struct stat st;
	int lbs, rc;

	disk->fd = open(disk->filename, O_RDWR | O_CLOEXEC);
	if (disk->fd < 0) {
		rc = -errno;
		spur_strfmt(err, err_len, "cannot open %s: %s", disk->filename, strerror(-rc));
		return rc;
	}
	if (fstat(disk->fd, &st) != 0) {
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
		rc = ioctl(disk->fd, BLKSSZGET, &lbs) != 0 ? -errno : 0;
		if (rc == 0 && (lbs < 512 || !is_pow2((uint64_t)lbs)))
			rc = -EINVAL;
		if (rc != 0) {
			spur_strfmt(err, err_len, "cannot get the block size of %s: %s",
				    disk->filename, strerror(-rc));
			return rc;
		}
		disk->lbs = (uint32_t)lbs;
	}
	rc = uring_get_size(disk->fd, disk->is_blockdev, size);
	if (rc != 0) {
		spur_strfmt(err, err_len, "cannot get the size of %s: %s", disk->filename,
			    strerror(-rc));
		return rc;
	}
	disk->dio_mem_align = disk->dio_off_align = 4096;
	if (!disk->use_direct_io)
		return 0;
	disk->dfd = open(disk->filename, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (disk->dfd < 0) {
		SPUR_NOTICELOG("%s: no O_DIRECT (%s); all I/O goes through the page cache\n",
			       disk->filename, strerror(errno));
	} else {
		uring_probe_dio(disk);
	}
	return 0;
}

int
bdev_uring_create(const struct bdev_uring_opts *opts, char *err, size_t err_len)
{
	struct uring_disk *disk;
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
	disk->fd = disk->dfd = -1;
	disk->filename = strdup(opts->filename);
	disk->bdev.name = strdup(opts->name);
	if (disk->filename == NULL || disk->bdev.name == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	disk->use_direct_io = opts->use_direct_io;
	rc = uring_open(disk, &size, err, err_len);
	if (rc != 0)
		goto err;
	block_size = opts->block_size ? opts->block_size : disk->lbs;
	if (size == 0 || size % block_size != 0) {
		spur_strfmt(err, err_len, "size of %s (%" PRIu64 " bytes) is %s block_size %u",
			    disk->filename, size, size == 0 ? "smaller than" : "not a multiple of",
			    block_size);
		rc = -EINVAL;
		goto err;
	}
	if (disk->is_blockdev)
		disk->can_unmap = uring_probe_discard(disk->fd);
	else
		disk->can_unmap = disk->can_punch = uring_probe_punch(disk->fd, size);

	disk->bdev.product_name = "URING bdev";
	disk->bdev.blocklen = block_size;
	disk->bdev.blockcnt = size / block_size;
	if (opts->has_uuid)
		memcpy(disk->bdev.uuid, opts->uuid, sizeof(disk->bdev.uuid));
	disk->bdev.write_cache = true;
	disk->bdev.required_alignment = 1;
	disk->bdev.ctxt = disk;
	disk->bdev.fn_table = &g_uring_fn_table;
	disk->bdev.module = &spur_bdev_uring_module;

	spur_io_device_register(disk, bdev_uring_channel_create, bdev_uring_channel_destroy,
				sizeof(struct uring_channel), disk->bdev.name);
	rc = spur_bdev_register(&disk->bdev);
	if (rc != 0) {
		spur_strfmt(err, err_len, "cannot register bdev %s: %s", opts->name,
			    strerror(-rc));
		/* No channel exists yet; the callback frees the disk. */
		spur_io_device_unregister(disk, uring_device_unused);
		return rc;
	}
	SPUR_NOTICELOG("%s: uring bdev on %s, %" PRIu64 " blocks of %u bytes%s%s\n",
		       opts->name, disk->filename, disk->bdev.blockcnt, block_size,
		       disk->dfd >= 0 ? ", O_DIRECT when aligned" : "",
		       disk->can_unmap ? ", unmap" : "");
	return 0;
err:
	if (err[0] == '\0')
		spur_strfmt(err, err_len, "cannot create %s: %s", opts->name, strerror(-rc));
	uring_disk_free(disk);
	return rc;
}

static struct uring_disk *
uring_find(const char *name)
{
	struct spur_bdev *bdev = spur_bdev_get_by_name(name);

	if (bdev == NULL || bdev->module != &spur_bdev_uring_module)
		return NULL;
	return bdev->ctxt;
}

int
bdev_uring_delete(const char *name, void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	struct uring_disk *disk = uring_find(name);

	if (disk == NULL)
		return -ENODEV;
	spur_bdev_unregister(&disk->bdev, cb, cb_arg);
	return 0;
}

int
bdev_uring_rescan(const char *name)
{
	struct uring_disk *disk = uring_find(name);
	uint64_t size, blockcnt;
	int rc;

	if (disk == NULL)
		return -ENODEV;
	rc = uring_get_size(disk->fd, disk->is_blockdev, &size);
	if (rc != 0)
		return rc;
	blockcnt = size / disk->bdev.blocklen;
	if (blockcnt == disk->bdev.blockcnt)
		return 0;
	SPUR_NOTICELOG("%s: size changed from %" PRIu64 " to %" PRIu64 " blocks\n", name,
		       disk->bdev.blockcnt, blockcnt);
	return spur_bdev_notify_blockcnt_change(&disk->bdev, blockcnt);
}
