/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The malloc bdev: a block device whose blocks live in anonymous memory.
 *
 * Owns every malloc disk (g_disks) and their memory. The memory is one
 * private anonymous mapping, so it is zero until written and only the pages
 * touched cost RAM; unmap and write_zeroes give whole pages back with
 * madvise(MADV_DONTNEED) (which reads back as zeroes) and memset the edges.
 * Requests complete inside submit_request (the layer defers the callback).
 *
 * Threading: g_disks and create/delete are app-thread only. I/O runs on any
 * thread with the module's channel for that thread (an empty per-thread
 * channel of one module-wide io_device: malloc needs no per-thread state).
 * A disk's buffer and geometry are fixed from registration to destruct, and
 * the layer stops I/O before destruct, so I/O threads share nothing mutable.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "bdev_malloc.h"
#include "module/bdev/common/bdev_util.h"
#include "spur/iov.h"
#include "spur/log.h"
#include "spur/thread.h"
#include "spur/util.h"

/* Below this many bytes a zeroing memset is cheaper than a syscall. */
#define MALLOC_MADVISE_MIN (64u * 1024u)

struct malloc_disk {
	struct spur_bdev bdev;
	uint8_t *buf;
	size_t size;
	bool deleting; /* unregister started: a second delete finds nothing */
	TAILQ_ENTRY(malloc_disk) link;
};

static TAILQ_HEAD(, malloc_disk) g_disks = TAILQ_HEAD_INITIALIZER(g_disks);
/* The one io_device every (empty) malloc channel belongs to. */
static struct bdev_util_io_device g_malloc_io_device;
static size_t g_page_size;

size_t
bdev_malloc_get_ctx_size(void)
{
	return 0;
}

int
bdev_malloc_module_init(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	g_page_size = ps > 0 ? (size_t)ps : 4096;
	bdev_util_io_device_init(&g_malloc_io_device, "bdev_malloc");
	return 0;
}

void
bdev_malloc_module_fini(void (*done)(void))
{
	bdev_util_io_device_fini(&g_malloc_io_device, done);
}

/* ---- I/O ------------------------------------------------------------------- */

/* Copy between the disk at off and the iovecs; to_disk picks the direction. */
static void
malloc_copy(struct malloc_disk *d, uint64_t off, struct spur_bdev_io *io, size_t len, bool to_disk)
{
	if (to_disk)
		spur_iov_to_buf(io->iovs, (unsigned int)io->iovcnt, 0, d->buf + off, len);
	else
		spur_iov_from_buf(io->iovs, (unsigned int)io->iovcnt, 0, d->buf + off, len);
}

/* Zero [off, off + len): whole pages go back to the kernel, edges memset. */
static void
malloc_zero(struct malloc_disk *d, uint64_t off, uint64_t len)
{
	uint64_t start = (off + g_page_size - 1) & ~(uint64_t)(g_page_size - 1);
	uint64_t end = (off + len) & ~(uint64_t)(g_page_size - 1);

	if (len >= MALLOC_MADVISE_MIN && end > start &&
	    madvise(d->buf + start, end - start, MADV_DONTNEED) == 0) {
		memset(d->buf + off, 0, start - off);
		memset(d->buf + end, 0, off + len - end);
		return;
	}
	memset(d->buf + off, 0, len);
}

static void
malloc_submit(struct spur_io_channel *ch, struct spur_bdev_io *io)
{
	struct malloc_disk *d = io->bdev->ctxt;
	uint64_t off = io->offset_blocks * d->bdev.blocklen;
	uint64_t len = io->num_blocks * d->bdev.blocklen;

	(void)ch;
	/* The layer range-checks; this guards the memory against a layer bug. */
	if (spur_unlikely(io->offset_blocks > d->bdev.blockcnt ||
			  io->num_blocks > d->bdev.blockcnt - io->offset_blocks)) {
		spur_bdev_io_complete(io, SPUR_BDEV_ERR_RANGE);
		return;
	}
	switch (io->type) {
	case SPUR_BDEV_IO_READ:
		malloc_copy(d, off, io, len, false);
		break;
	case SPUR_BDEV_IO_WRITE:
		malloc_copy(d, off, io, len, true);
		break;
	case SPUR_BDEV_IO_UNMAP:
	case SPUR_BDEV_IO_WRITE_ZEROES:
		malloc_zero(d, off, len);
		break;
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
malloc_get_io_channel(void *ctx)
{
	(void)ctx;
	return bdev_util_io_device_get_channel(&g_malloc_io_device);
}

/* ---- lifecycle --------------------------------------------------------------- */

static void
malloc_disk_free(struct malloc_disk *d)
{
	if (d->buf != NULL)
		munmap(d->buf, d->size);
	free(d->bdev.name);
	free(d);
}

static int
malloc_destruct(void *ctx)
{
	struct malloc_disk *d = ctx;

	SPUR_DEBUGLOG("bdev_malloc", "%s: destruct, freeing %zu bytes\n", d->bdev.name, d->size);
	TAILQ_REMOVE(&g_disks, d, link);
	malloc_disk_free(d);
	return 0;
}

static void
malloc_write_config(struct spur_bdev *bdev, json_t *config)
{
	json_t *params = bdev_util_geometry_params(bdev);

	if (params == NULL)
		return;
	if (bdev->optimal_io_boundary != 0)
		json_object_set_new(params, "optimal_io_boundary",
				    json_integer(bdev->optimal_io_boundary));
	spur_bdev_config_add(config, "bdev_malloc_create", params);
	json_decref(params);
}

static const struct spur_bdev_fn_table g_malloc_fn_table = {
	.destruct = malloc_destruct,
	.submit_request = malloc_submit,
	.io_type_supported = bdev_util_io_type_supported_all,
	.get_io_channel = malloc_get_io_channel,
	.write_config_json = malloc_write_config,
};

/* Bytes of RAM plus swap: more than this can never be backed. */
static uint64_t
malloc_memory_limit(void)
{
	struct sysinfo si;

	if (sysinfo(&si) != 0)
		return UINT64_MAX;
	return ((uint64_t)si.totalram + si.totalswap) * si.mem_unit;
}

/* The first "MallocN" nobody uses, into buf. */
static void
malloc_default_name(char *buf, size_t len)
{
	for (unsigned int n = 0;; n++) {
		spur_strfmt(buf, len, "Malloc%u", n);
		if (spur_bdev_get_by_name(buf) == NULL)
			return;
	}
}

int
bdev_malloc_create(const struct bdev_malloc_opts *opts, struct spur_bdev **bdev, char *err,
		   size_t err_len)
{
	char name[32];
	struct malloc_disk *d;
	uint64_t size;
	int rc;

	rc = bdev_util_check_geometry(opts->block_size, opts->num_blocks, err, err_len);
	if (rc != 0)
		return rc;
	if (opts->num_blocks > UINT64_MAX / opts->block_size ||
	    opts->num_blocks * opts->block_size > (uint64_t)SIZE_MAX / 2)
		return bdev_util_fail(err, err_len, -ENOMEM,
				      "cannot allocate %" PRIu64 " blocks of %" PRIu32 " bytes",
				      opts->num_blocks, opts->block_size);
	size = opts->num_blocks * opts->block_size;
	if (size > malloc_memory_limit())
		return bdev_util_fail(err, err_len, -ENOMEM,
				      "cannot allocate %" PRIu64 " bytes (more than RAM and swap)",
				      size);
	if (opts->name == NULL) {
		malloc_default_name(name, sizeof(name));
	} else if (spur_bdev_get_by_name(opts->name) != NULL) {
		return bdev_util_fail(err, err_len, -EEXIST, "bdev '%s' already exists",
				      opts->name);
	}

	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return bdev_util_fail(err, err_len, -ENOMEM, "out of memory");
	d->bdev.name = strdup(opts->name != NULL ? opts->name : name);
	if (d->bdev.name == NULL) {
		malloc_disk_free(d);
		return bdev_util_fail(err, err_len, -ENOMEM, "out of memory");
	}
	d->size = size;
	d->buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (d->buf == MAP_FAILED) {
		d->buf = NULL;
		malloc_disk_free(d);
		return bdev_util_fail(err, err_len, -ENOMEM, "cannot allocate %" PRIu64 " bytes",
				      size);
	}
	d->bdev.product_name = "Malloc disk";
	d->bdev.blocklen = opts->block_size;
	d->bdev.blockcnt = opts->num_blocks;
	if (opts->uuid != NULL)
		memcpy(d->bdev.uuid, opts->uuid, sizeof(d->bdev.uuid));
	d->bdev.write_cache = false;
	d->bdev.optimal_io_boundary = opts->optimal_io_boundary;
	d->bdev.split_on_optimal_io_boundary = opts->optimal_io_boundary != 0;
	d->bdev.ctxt = d;
	d->bdev.fn_table = &g_malloc_fn_table;
	d->bdev.module = &spur_bdev_malloc_module;

	rc = spur_bdev_register(&d->bdev);
	if (rc != 0) {
		bdev_util_fail(err, err_len, rc, "cannot register bdev '%s': %s", d->bdev.name,
			       strerror(-rc));
		malloc_disk_free(d);
		return rc;
	}
	TAILQ_INSERT_TAIL(&g_disks, d, link);
	SPUR_DEBUGLOG("bdev_malloc", "%s: %" PRIu64 " blocks of %" PRIu32 " bytes\n", d->bdev.name,
		      d->bdev.blockcnt, d->bdev.blocklen);
	if (bdev != NULL)
		*bdev = &d->bdev;
	return 0;
}

int
bdev_malloc_delete(const char *name, void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	struct malloc_disk *d = bdev_util_find(name, &spur_bdev_malloc_module);

	if (d == NULL)
		return -ENODEV;
	return bdev_util_unregister_once(&d->bdev, &d->deleting, cb, cb_arg);
}
