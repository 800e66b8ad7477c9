/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the code the bdev modules share (module/bdev/common) that
 * needs no bdev layer running: the file-backed helper's short-transfer
 * bookkeeping, O_DIRECT eligibility, errno-to-status mapping, reset epochs,
 * opening files with the messages the aio and uring RPCs return, and the
 * small utilities (error text, geometry checks, undo calls).
 *
 * The stacked-bdev helper and the RPC glue are covered through the real
 * layer by the passthru, delay, error, malloc and null tests. Single
 * threaded: nothing here polls.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "module/bdev/common/bdev_rpc_util.h"
#include "module/bdev/common/bdev_util.h"
#include "module/bdev/common/file_bdev.h"

/* A request header with iovs, as the layer hands it to a module. */
static struct spur_bdev_io *
make_io(struct iovec *iovs, int iovcnt)
{
	struct spur_bdev_io *io = calloc(1, sizeof(*io));

	assert_non_null(io);
	io->iovs = iovs;
	io->iovcnt = iovcnt;
	return io;
}

static void
test_xfer_skip_and_restore(void **state)
{
	char a[100], b[200], c[50];
	struct iovec iovs[3] = {{a, sizeof(a)}, {b, sizeof(b)}, {c, sizeof(c)}};
	struct spur_bdev_io *io = make_io(iovs, 3);
	struct file_bdev_xfer x;

	(void)state;
	file_bdev_xfer_init(&x);
	assert_int_equal(x.done, 0);
	assert_int_equal(x.patched, -1);
	/* Nothing done yet: start at the first iovec, nothing patched. */
	assert_int_equal(file_bdev_xfer_skip_done(&x, io), 0);
	assert_int_equal(x.patched, -1);
	/* A transfer that stopped inside the second iovec. */
	x.done = 130;
	assert_int_equal(file_bdev_xfer_skip_done(&x, io), 1);
	assert_int_equal(x.patched, 1);
	assert_ptr_equal(iovs[1].iov_base, b + 30);
	assert_int_equal(iovs[1].iov_len, 170);
	file_bdev_xfer_restore(&x, io);
	assert_int_equal(x.patched, -1);
	assert_ptr_equal(iovs[1].iov_base, b);
	assert_int_equal(iovs[1].iov_len, 200);
	/* Exactly at an iovec boundary: no patch needed. */
	x.done = 300;
	assert_int_equal(file_bdev_xfer_skip_done(&x, io), 2);
	assert_int_equal(x.patched, -1);
	file_bdev_xfer_restore(&x, io);
	assert_ptr_equal(iovs[2].iov_base, c);
	free(io);
}

static void
test_check_iovs(void **state)
{
	struct file_bdev fb = {.fd = -1, .dfd = -1, .dio_mem_align = 512, .dio_off_align = 512};
	char *buf = aligned_alloc(4096, 8192);
	struct iovec iovs[2] = {{buf, 4096}, {buf + 4096, 4096}};

	(void)state;
	assert_non_null(buf);
	/* Without an O_DIRECT file everything goes buffered. */
	assert_int_equal(file_bdev_check_iovs(&fb, iovs, 2, 0, 8192), 0);
	fb.dfd = 99; /* never used as a descriptor here */
	assert_int_equal(file_bdev_check_iovs(&fb, iovs, 2, 0, 8192), 1);
	/* Length mismatch. */
	assert_int_equal(file_bdev_check_iovs(&fb, iovs, 2, 0, 4096), -EINVAL);
	/* Misaligned offset, base or length: buffered. */
	assert_int_equal(file_bdev_check_iovs(&fb, iovs, 2, 100, 8192), 0);
	iovs[1].iov_base = buf + 4000;
	iovs[1].iov_len = 4096;
	assert_int_equal(file_bdev_check_iovs(&fb, iovs, 2, 0, 8192), 0);
	iovs[1].iov_base = buf + 4096;
	iovs[0].iov_len = 4000;
	iovs[1].iov_len = 4192;
	assert_int_equal(file_bdev_check_iovs(&fb, iovs, 2, 0, 8192), 0);
	free(buf);
}

static void
test_status_and_epochs(void **state)
{
	struct file_bdev_channel fch = {0};
	uint8_t a, b;

	(void)state;
	assert_int_equal(file_bdev_status(-EIO), SPUR_BDEV_ERR_MEDIA);
	assert_int_equal(file_bdev_status(-EILSEQ), SPUR_BDEV_ERR_MEDIA);
	assert_int_equal(file_bdev_status(-ENOSPC), SPUR_BDEV_ERR_NOSPACE);
	assert_int_equal(file_bdev_status(-EDQUOT), SPUR_BDEV_ERR_NOSPACE);
	assert_int_equal(file_bdev_status(-EOPNOTSUPP), SPUR_BDEV_ERR_UNSUPPORTED);
	assert_int_equal(file_bdev_status(-EBADF), SPUR_BDEV_ERR_IO);

	file_bdev_channel_init(&fch);
	assert_int_equal(fch.epoch, 1);
	a = file_bdev_epoch_enter(&fch);
	assert_int_equal(a, 1);
	assert_int_equal(fch.epoch_count[1], 1);
	fch.epoch++; /* what a reset does once the previous epoch drained */
	b = file_bdev_epoch_enter(&fch);
	assert_int_equal(b, 0);
	file_bdev_epoch_leave(&fch, a);
	file_bdev_epoch_leave(&fch, b);
	assert_int_equal(fch.epoch_count[0], 0);
	assert_int_equal(fch.epoch_count[1], 0);
}

/* A struct file_bdev as file_bdev_alloc leaves it, for the open functions. */
static void
fb_init(struct file_bdev *fb, char *filename)
{
	memset(fb, 0, sizeof(*fb));
	fb->filename = filename;
	fb->fd = fb->dfd = -1;
}

static void
fb_close(struct file_bdev *fb)
{
	if (fb->fd >= 0)
		close(fb->fd);
	if (fb->dfd >= 0)
		close(fb->dfd);
	fb->fd = fb->dfd = -1;
}

static void
test_open_and_size(void **state)
{
	char dir[] = "/tmp/spur-file-bdev-XXXXXX";
	char path[128], missing[128], err[256];
	struct file_bdev fb;
	uint64_t size = 0;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/disk.img", dir);
	snprintf(missing, sizeof(missing), "%s/missing.img", dir);
	fd = open(path, O_CREAT | O_RDWR, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1000 * 512 + 100), 0);
	close(fd);

	fb_init(&fb, path);
	assert_int_equal(file_bdev_open(&fb, false, &size, err, sizeof(err)), 0);
	assert_false(fb.is_blockdev);
	assert_int_equal(fb.lbs, 512);
	assert_int_equal(size, 1000 * 512 + 100);
	assert_int_equal(file_bdev_check_size(&fb, size, 512, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is not a multiple of block_size 512"));
	assert_int_equal(file_bdev_check_size(&fb, 0, 512, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "(0 bytes) is smaller than block_size 512"));
	assert_int_equal(file_bdev_check_size(&fb, 1024, 512, err, sizeof(err)), 0);
	/* O_DIRECT may be refused (tmpfs); when it opens, the alignment is a power of two. */
	if (file_bdev_open_direct(&fb, false) == 0) {
		assert_true(fb.dfd >= 0);
		assert_int_equal(fb.dio_off_align & (fb.dio_off_align - 1), 0);
		assert_int_equal(fb.dio_mem_align & (fb.dio_mem_align - 1), 0);
	} else {
		assert_int_equal(fb.dfd, -1);
	}
	fb_close(&fb);

	fb_init(&fb, missing);
	assert_int_equal(file_bdev_open(&fb, true, &size, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open"));
	assert_non_null(strstr(err, "No such file or directory"));
	fb_close(&fb);

	fb_init(&fb, "/dev/null");
	assert_int_equal(file_bdev_open(&fb, true, &size, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "/dev/null is not a regular file or block device");
	fb_close(&fb);

	unlink(path);
	rmdir(dir);
}

static void
test_util(void **state)
{
	char err[128];
	json_t *params, *undo;

	(void)state;
	assert_int_equal(bdev_util_fail(err, sizeof(err), -EEXIST, "bdev '%s' already exists",
					 "X"), -EEXIST);
	assert_string_equal(err, "bdev 'X' already exists");
	assert_int_equal(bdev_util_fail(NULL, 0, -ENOMEM, "ignored"), -ENOMEM);
	assert_int_equal(bdev_util_check_geometry(4096, 1, err, sizeof(err)), 0);
	assert_int_equal(bdev_util_check_geometry(768, 1, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "block_size must be a power of two from 512 to 65536, not 768");
	assert_int_equal(bdev_util_check_geometry(131072, 1, err, sizeof(err)), -EINVAL);
	assert_int_equal(bdev_util_check_geometry(512, 0, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "num_blocks must be greater than 0");
	assert_true(bdev_util_io_type_supported_all(NULL, SPUR_BDEV_IO_RESET));
	assert_false(bdev_util_io_type_supported_all(NULL, SPUR_BDEV_IO_NUM_TYPES));

	params = json_pack("{s:s}", "name", "D0");
	undo = bdev_rpc_util_undo_create("bdev_x_create", params, "bdev_x_create", "bdev_x_delete");
	assert_non_null(undo);
	assert_string_equal(json_string_value(json_object_get(undo, "method")), "bdev_x_delete");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(undo, "params"), "name")),
			    "D0");
	json_decref(undo);
	assert_null(bdev_rpc_util_undo_create("bdev_x_other", params, "bdev_x_create",
					      "bdev_x_delete"));
	json_decref(params);
	params = json_pack("{s:i}", "name", 3);
	assert_null(bdev_rpc_util_undo_create("bdev_x_create", params, "bdev_x_create",
					      "bdev_x_delete"));
	json_decref(params);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xfer_skip_and_restore),
		cmocka_unit_test(test_check_iovs),
		cmocka_unit_test(test_status_and_epochs),
		cmocka_unit_test(test_open_and_size),
		cmocka_unit_test(test_util),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
