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
 * files; bdev_uring_io.c picks the file per request. What uring shares with
 * aio (opening and probing the file, geometry, size checks, registration,
 * rescan, deletion, destruct) is the file-backed bdev helper's
 * (module/bdev/common/file_bdev.h); this file adds the discard and hole
 * punching probes and uring's options.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <string.h>

#include "bdev_uring_internal.h"
#include "module/bdev/common/bdev_util.h"
#include "spur/log.h"
#include "spur/thread.h"
#include "spur/util.h"

static inline struct uring_disk *
uring_of(struct file_bdev *fb)
{
	return SPUR_CONTAINER_OF(fb, struct uring_disk, fb);
}

static bool
uring_io_type_supported(void *ctx, enum spur_bdev_io_type type)
{
	struct uring_disk *disk = uring_of(ctx);

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
		return disk->fb.is_blockdev ? disk->fb.bdev.blocklen >= disk->fb.lbs
					    : disk->can_punch;
	default:
		return false;
	}
}

static void
uring_dump_info_json(void *ctx, json_t *driver_specific)
{
	struct uring_disk *disk = uring_of(ctx);

	json_object_set_new(driver_specific, "uring",
			    json_pack("{s:s, s:b}", "filename", disk->fb.filename, "o_direct",
				      disk->fb.dfd >= 0));
}

static void
uring_write_config_json(struct spur_bdev *bdev, json_t *config)
{
	struct uring_disk *disk = uring_of(bdev->ctxt);
	json_t *params = file_bdev_config_params(&disk->fb);
	char uuid[40];

	spur_bdev_get_uuid_str(bdev, uuid, sizeof(uuid));
	json_object_set_new(params, "uuid", json_string(uuid));
	/* Only the non-default value, so the output stays SPDK's shape. */
	if (params != NULL && !disk->use_direct_io)
		json_object_set_new(params, "use_direct_io", json_false());
	spur_bdev_config_add(config, "bdev_uring_create", params);
	json_decref(params);
}

static const struct spur_bdev_fn_table g_uring_fn_table = {
	.destruct = file_bdev_destruct,
	.submit_request = bdev_uring_submit_request,
	.io_type_supported = uring_io_type_supported,
	.get_io_channel = bdev_util_get_io_channel,
	.dump_info_json = uring_dump_info_json,
	.write_config_json = uring_write_config_json,
};

static const struct file_bdev_ops g_uring_ops = {
	.module = &spur_bdev_uring_module,
	.fn_table = &g_uring_fn_table,
	.product_name = "URING bdev",
	.log_component = "bdev_uring",
	.reset_poller_name = "bdev_uring_reset",
	.channel_size = sizeof(struct uring_channel),
	.channel_create = bdev_uring_channel_create,
	.channel_destroy = bdev_uring_channel_destroy,
};

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

/* Open the file twice (the O_DIRECT one only when asked) and learn its geometry. */
static int
uring_open(struct uring_disk *disk, uint64_t *size, char *err, size_t err_len)
{
	struct file_bdev *fb = &disk->fb;
	int rc = file_bdev_open(fb, false, size, err, err_len);

	if (rc != 0)
		return rc;
	fb->dio_mem_align = fb->dio_off_align = 4096;
	if (!disk->use_direct_io)
		return 0;
	rc = file_bdev_open_direct(fb, false);
	if (rc != 0)
		SPUR_NOTICELOG("%s: no O_DIRECT (%s); all I/O goes through the page cache\n",
			       fb->filename, strerror(-rc));
	return 0;
}

int
bdev_uring_create(const struct bdev_uring_opts *opts, char *err, size_t err_len)
{
	struct file_bdev *fb;
	struct uring_disk *disk;
	uint64_t size = 0;
	uint32_t block_size;
	int rc;

	rc = file_bdev_alloc(sizeof(*disk), &g_uring_ops, opts->name, opts->filename,
			     opts->block_size, &fb, err, err_len);
	if (rc != 0)
		return rc;
	disk = uring_of(fb);
	disk->use_direct_io = opts->use_direct_io;
	rc = uring_open(disk, &size, err, err_len);
	if (rc != 0)
		return file_bdev_create_failed(fb, rc, err, err_len);
	block_size = opts->block_size ? opts->block_size : fb->lbs;
	rc = file_bdev_check_size(fb, size, block_size, err, err_len);
	if (rc != 0)
		return file_bdev_create_failed(fb, rc, err, err_len);
	if (fb->is_blockdev)
		disk->can_unmap = uring_probe_discard(fb->fd);
	else
		disk->can_unmap = disk->can_punch = uring_probe_punch(fb->fd, size);

	fb->bdev.required_alignment = 1;
	rc = file_bdev_register(fb, size, block_size, opts->has_uuid ? opts->uuid : NULL, err,
				err_len);
	if (rc != 0)
		return rc;
	SPUR_NOTICELOG("%s: uring bdev on %s, %" PRIu64 " blocks of %u bytes%s%s\n",
		       opts->name, fb->filename, fb->bdev.blockcnt, block_size,
		       fb->dfd >= 0 ? ", O_DIRECT when aligned" : "",
		       disk->can_unmap ? ", unmap" : "");
	return 0;
}

int
bdev_uring_delete(const char *name, void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	return file_bdev_delete(name, &spur_bdev_uring_module, cb, cb_arg);
}

int
bdev_uring_rescan(const char *name)
{
	return file_bdev_rescan(name, &spur_bdev_uring_module);
}
