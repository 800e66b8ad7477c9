/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The passthru bdev: claims a base bdev and forwards every request to it.
 *
 * Each passthru bdev is an io_device; its channel on a thread holds the
 * base's channel on that thread, taken through the passthru's own read-write
 * descriptor of the base. A request is resubmitted to the base with the
 * caller's buffers and completed with the base's status when the base
 * completes. When the base is out of request objects (-ENOMEM) the request
 * waits on the base's wait queue and is resubmitted from there.
 *
 * Lifecycle (app thread):
 *
 *   create: open base rw -> claim -> io_device -> spur_bdev_register
 *   delete RPC or base hot-remove: removing = true, spur_bdev_unregister
 *   destruct (after the last opener closed): io_device_unregister
 *     -> every channel destroyed (base channels put) -> release claim,
 *        close base descriptor -> spur_bdev_destruct_done -> free
 *
 * Threading: the descriptor, the claim, 'removing' and the base's event
 * callback belong to the app thread. Channels and requests belong to the
 * thread they were created / submitted on; completions come back there
 * because the base completes on the submitting thread. Nothing is shared
 * between I/O threads.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_passthru.h"
#include "spur/log.h"
#include "spur/thread.h"
#include "spur/util.h"

struct passthru_bdev {
	struct spur_bdev bdev;
	struct spur_bdev *base;
	struct spur_bdev_desc *base_desc;
	char *base_name;
	bool removing; /* unregister started (delete RPC or base hot-remove) */
};

struct passthru_channel {
	struct spur_io_channel *base_ch;
};

/* Per request, in io->driver_ctx. */
struct passthru_io {
	struct spur_bdev_io *io;
	struct passthru_channel *ch;
	struct spur_bdev_io_wait_entry wait;
};

size_t
bdev_passthru_get_ctx_size(void)
{
	return sizeof(struct passthru_io);
}

/* ---- channels ---------------------------------------------------------------- */

static int
passthru_channel_create(void *io_device, void *ctx)
{
	struct passthru_bdev *pt = io_device;
	struct passthru_channel *ch = ctx;

	ch->base_ch = spur_bdev_get_io_channel(pt->base_desc);
	return ch->base_ch != NULL ? 0 : -ENOMEM;
}

static void
passthru_channel_destroy(void *io_device, void *ctx)
{
	struct passthru_channel *ch = ctx;

	(void)io_device;
	spur_put_io_channel(ch->base_ch);
}

/* ---- I/O --------------------------------------------------------------------- */

/* A submit error of the base, as a completion status of ours. */
static int
passthru_errno_status(int rc)
{
	switch (rc) {
	case -ENODEV:
		return SPUR_BDEV_ERR_ABORTED;
	case -EINVAL:
		return SPUR_BDEV_ERR_RANGE;
	default:
		return SPUR_BDEV_ERR_IO;
	}
}

static void
passthru_base_done(struct spur_bdev_io *base_io, int status, void *cb_arg)
{
	struct spur_bdev_io *io = cb_arg;

	spur_bdev_free_io(base_io);
	spur_bdev_io_complete(io, status);
}

static int
passthru_forward(struct passthru_bdev *pt, struct passthru_channel *ch, struct spur_bdev_io *io)
{
	struct spur_bdev_desc *desc = pt->base_desc;
	struct spur_io_channel *bch = ch->base_ch;

	switch (io->type) {
	case SPUR_BDEV_IO_READ:
		return spur_bdev_readv_blocks(desc, bch, io->iovs, io->iovcnt, io->offset_blocks,
					      io->num_blocks, passthru_base_done, io);
	case SPUR_BDEV_IO_WRITE:
		return spur_bdev_writev_blocks(desc, bch, io->iovs, io->iovcnt, io->offset_blocks,
					       io->num_blocks, io->flags, passthru_base_done, io);
	case SPUR_BDEV_IO_UNMAP:
		return spur_bdev_unmap_blocks(desc, bch, io->offset_blocks, io->num_blocks,
					      passthru_base_done, io);
	case SPUR_BDEV_IO_WRITE_ZEROES:
		return spur_bdev_write_zeroes_blocks(desc, bch, io->offset_blocks, io->num_blocks,
						     io->flags, passthru_base_done, io);
	case SPUR_BDEV_IO_FLUSH:
		return spur_bdev_flush_blocks(desc, bch, io->offset_blocks, io->num_blocks,
					      passthru_base_done, io);
	case SPUR_BDEV_IO_RESET:
		return spur_bdev_reset(desc, bch, passthru_base_done, io);
	default:
		return -ENOTSUP;
	}
}

static void passthru_resubmit(void *arg);

static void
passthru_submit_ctx(struct passthru_io *ctx)
{
	struct spur_bdev_io *io = ctx->io;
	struct passthru_bdev *pt = io->bdev->ctxt;
	int rc = passthru_forward(pt, ctx->ch, io);

	if (spur_likely(rc == 0))
		return;
	if (rc == -ENOMEM) {
		SPUR_DEBUGLOG("bdev_passthru", "%s: base out of requests, waiting\n",
			      io->bdev->name);
		ctx->wait.bdev = pt->base;
		ctx->wait.cb_fn = passthru_resubmit;
		ctx->wait.cb_arg = ctx;
		rc = spur_bdev_queue_io_wait(pt->base, ctx->ch->base_ch, &ctx->wait);
		if (rc == 0)
			return;
	}
	spur_bdev_io_complete(io, rc == -ENOTSUP ? SPUR_BDEV_ERR_UNSUPPORTED
						 : passthru_errno_status(rc));
}

static void
passthru_resubmit(void *arg)
{
	passthru_submit_ctx(arg);
}

static void
passthru_submit(struct spur_io_channel *ch, struct spur_bdev_io *io)
{
	struct passthru_io *ctx = (struct passthru_io *)io->driver_ctx;

	ctx->io = io;
	ctx->ch = spur_io_channel_get_ctx(ch);
	passthru_submit_ctx(ctx);
}

static bool
passthru_io_type_supported(void *ctx, enum spur_bdev_io_type type)
{
	struct passthru_bdev *pt = ctx;

	return spur_bdev_io_type_supported(pt->base, type);
}

static struct spur_io_channel *
passthru_get_io_channel(void *ctx)
{
	return spur_get_io_channel(ctx);
}

/* ---- lifecycle --------------------------------------------------------------- */

static void
passthru_free(struct passthru_bdev *pt)
{
	free(pt->bdev.name);
	free(pt->base_name);
	free(pt);
}

/* Every channel is gone, so every base channel was put: let go of the base. */
static void
passthru_io_device_gone(void *io_device)
{
	struct passthru_bdev *pt = io_device;

	SPUR_DEBUGLOG("bdev_passthru", "%s: releasing base %s\n", pt->bdev.name, pt->base_name);
	spur_bdev_module_release_bdev(pt->base);
	spur_bdev_close(pt->base_desc);
	spur_bdev_destruct_done(&pt->bdev);
	passthru_free(pt);
}

static void
passthru_teardown(void *ctx)
{
	spur_io_device_unregister(ctx, passthru_io_device_gone);
}

/* The base descriptor must be closed on the thread that opened it: the app thread. */
static int
passthru_destruct(void *ctx)
{
	struct spur_thread *app = spur_get_app_thread();

	if (app != NULL && spur_get_thread() != app &&
	    spur_thread_send_msg(app, passthru_teardown, ctx) == 0)
		return 1;
	passthru_teardown(ctx);
	return 1;
}

static void
passthru_write_config(struct spur_bdev *bdev, json_t *config)
{
	struct passthru_bdev *pt = bdev->ctxt;
	char uuid[40];
	json_t *params;

	spur_bdev_get_uuid_str(bdev, uuid, sizeof(uuid));
	params = json_pack("{s:s, s:s, s:s}", "base_bdev_name", pt->base_name, "name",
			   bdev->name, "uuid", uuid);
	if (params == NULL)
		return;
	spur_bdev_config_add(config, "bdev_passthru_create", params);
	json_decref(params);
}

static void
passthru_dump_info(void *ctx, json_t *driver_specific)
{
	struct passthru_bdev *pt = ctx;

	json_object_set_new(driver_specific, "passthru",
			    json_pack("{s:s, s:s}", "name", pt->bdev.name, "base_bdev_name",
				      pt->base_name));
}

static const struct spur_bdev_fn_table g_passthru_fn_table = {
	.destruct = passthru_destruct,
	.submit_request = passthru_submit,
	.io_type_supported = passthru_io_type_supported,
	.get_io_channel = passthru_get_io_channel,
	.dump_info_json = passthru_dump_info,
	.write_config_json = passthru_write_config,
};

static void
passthru_unregistered(void *cb_arg, int status)
{
	struct passthru_bdev *pt = cb_arg;

	(void)pt;
	if (status != 0)
		SPUR_ERRLOG("passthru bdev unregister failed: %s\n", strerror(-status));
}

static void
passthru_base_event(enum spur_bdev_event event, struct spur_bdev *base, void *ctx)
{
	struct passthru_bdev *pt = ctx;
	int rc;

	switch (event) {
	case SPUR_BDEV_EVENT_REMOVE:
		if (pt->removing)
			return;
		SPUR_NOTICELOG("base bdev %s of passthru %s removed: removing %s\n", pt->base_name,
			       pt->bdev.name, pt->bdev.name);
		pt->removing = true;
		spur_bdev_unregister(&pt->bdev, passthru_unregistered, NULL);
		break;
	case SPUR_BDEV_EVENT_RESIZE:
		rc = spur_bdev_notify_blockcnt_change(&pt->bdev, spur_bdev_get_num_blocks(base));
		if (rc != 0)
			SPUR_ERRLOG("%s: cannot follow the resize of %s: %s\n", pt->bdev.name,
				    pt->base_name, strerror(-rc));
		break;
	}
}

static int
passthru_fail(char *err, size_t err_len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
passthru_fail(char *err, size_t err_len, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && err_len > 0) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Registration failed after the io_device existed: free once it is gone. */
static void
passthru_abandoned(void *io_device)
{
	passthru_free(io_device);
}

int
bdev_passthru_create(const char *base_name, const char *name, const uint8_t *uuid, char *err,
		     size_t err_len)
{
	struct passthru_bdev *pt;
	struct spur_bdev *base;
	int rc;

	if (spur_bdev_get_by_name(name) != NULL)
		return passthru_fail(err, err_len, -EEXIST, "bdev '%s' already exists", name);
	pt = calloc(1, sizeof(*pt));
	if (pt == NULL || (pt->bdev.name = strdup(name)) == NULL ||
	    (pt->base_name = strdup(base_name)) == NULL) {
		if (pt != NULL)
			passthru_free(pt);
		return passthru_fail(err, err_len, -ENOMEM, "out of memory");
	}
	rc = spur_bdev_open(base_name, true, passthru_base_event, pt, &pt->base_desc);
	if (rc != 0) {
		passthru_free(pt);
		if (rc == -ENODEV)
			return passthru_fail(err, err_len, rc, "bdev '%s' not found", base_name);
		if (rc == -EPERM)
			return passthru_fail(err, err_len, rc, "bdev '%s' is already claimed",
					     base_name);
		return passthru_fail(err, err_len, rc, "cannot open bdev '%s': %s", base_name,
				     strerror(-rc));
	}
	base = spur_bdev_desc_get_bdev(pt->base_desc);
	rc = spur_bdev_module_claim_bdev(base, pt->base_desc, &spur_bdev_passthru_module);
	if (rc != 0) {
		spur_bdev_close(pt->base_desc);
		passthru_free(pt);
		return passthru_fail(err, err_len, rc, "bdev '%s' is already claimed", base_name);
	}
	pt->base = base;
	pt->bdev.product_name = "passthru";
	pt->bdev.blocklen = base->blocklen;
	pt->bdev.blockcnt = base->blockcnt;
	if (uuid != NULL)
		memcpy(pt->bdev.uuid, uuid, sizeof(pt->bdev.uuid));
	pt->bdev.write_cache = base->write_cache;
	pt->bdev.required_alignment = base->required_alignment;
	pt->bdev.max_transfer_blocks = base->max_transfer_blocks;
	pt->bdev.optimal_io_boundary = base->optimal_io_boundary;
	pt->bdev.split_on_optimal_io_boundary = base->split_on_optimal_io_boundary;
	pt->bdev.max_unmap_blocks = base->max_unmap_blocks;
	pt->bdev.max_write_zeroes_blocks = base->max_write_zeroes_blocks;
	pt->bdev.ctxt = pt;
	pt->bdev.fn_table = &g_passthru_fn_table;
	pt->bdev.module = &spur_bdev_passthru_module;

	spur_io_device_register(pt, passthru_channel_create, passthru_channel_destroy,
				sizeof(struct passthru_channel), name);
	rc = spur_bdev_register(&pt->bdev);
	if (rc != 0) {
		passthru_fail(err, err_len, rc, "cannot register bdev '%s': %s", name,
			      strerror(-rc));
		spur_bdev_module_release_bdev(base);
		spur_bdev_close(pt->base_desc);
		spur_io_device_unregister(pt, passthru_abandoned);
		return rc;
	}
	SPUR_DEBUGLOG("bdev_passthru", "%s: created on %s\n", name, base_name);
	return 0;
}

int
bdev_passthru_delete(const char *name, void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	struct spur_bdev *bdev = spur_bdev_get_by_name(name);
	struct passthru_bdev *pt;

	if (bdev == NULL || bdev->module != &spur_bdev_passthru_module)
		return -ENODEV;
	pt = bdev->ctxt;
	if (pt->removing)
		return -ENODEV;
	pt->removing = true;
	spur_bdev_unregister(bdev, cb, cb_arg);
	return 0;
}
