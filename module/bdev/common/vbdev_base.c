/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The stacked-bdev helper (see vbdev_base.h for the lifecycle a module gets).
 *
 * Owns, for each stacked device, the base descriptor and claim, the self
 * descriptor, the io_device and the base channel of each of its channels.
 * Invariants: 'removing' is set once (delete, base hot-remove or our own
 * REMOVE event) and never cleared; self_desc is open from registration until
 * the module calls vbdev_base_close_self; the base stays claimed and open
 * until every channel (and so every base channel) is gone.
 *
 * Threading: creation, deletion, events and the teardown after destruct run
 * on the application thread (destruct is sent there when the layer calls it
 * elsewhere: the base descriptor must be closed where it was opened).
 * Channels and requests run on their own thread; the base completes a
 * forwarded request on the submitting thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_util.h"
#include "spur/log.h"
#include "spur/thread.h"
#include "spur/util.h"
#include "vbdev_base.h"

static void
vbdev_free(struct vbdev_base *vb)
{
	free(vb->bdev.name);
	free(vb->base_name);
	free(vb);
}

int
vbdev_base_alloc(size_t size, const char *name, const char *base_name,
		 struct vbdev_base **out, char *err, size_t err_len)
{
	struct vbdev_base *vb;

	*out = NULL;
	if (spur_bdev_get_by_name(name) != NULL)
		return bdev_util_fail(err, err_len, -EEXIST, "bdev '%s' already exists", name);
	vb = calloc(1, size);
	if (vb == NULL || (vb->bdev.name = strdup(name)) == NULL ||
	    (vb->base_name = strdup(base_name)) == NULL) {
		if (vb != NULL)
			vbdev_free(vb);
		return bdev_util_fail(err, err_len, -ENOMEM, "out of memory");
	}
	*out = vb;
	return 0;
}

/* ---- channels ---------------------------------------------------------------- */

static int
vbdev_channel_create(void *io_device, void *ctx)
{
	struct vbdev_base *vb = io_device;
	struct vbdev_base_channel *ch = ctx;
	int rc;

	ch->vb = vb;
	if (vb->ops->channel_create != NULL) {
		rc = vb->ops->channel_create(vb, ctx);
		if (rc != 0)
			return rc;
	}
	ch->base_ch = spur_bdev_get_io_channel(vb->base_desc);
	if (ch->base_ch == NULL) {
		if (vb->ops->channel_destroy != NULL)
			vb->ops->channel_destroy(vb, ctx);
		return -ENOMEM;
	}
	return 0;
}

static void
vbdev_channel_destroy(void *io_device, void *ctx)
{
	struct vbdev_base *vb = io_device;
	struct vbdev_base_channel *ch = ctx;

	if (vb->ops->channel_destroy != NULL)
		vb->ops->channel_destroy(vb, ctx);
	spur_put_io_channel(ch->base_ch);
}

/* ---- I/O --------------------------------------------------------------------- */

/* A submit error of the base, as a completion status of ours. */
static int
vbdev_status_of(int rc)
{
	switch (rc) {
	case -ENOTSUP:
		return SPUR_BDEV_ERR_UNSUPPORTED;
	case -ENODEV:
		return SPUR_BDEV_ERR_ABORTED;
	case -EINVAL:
		return SPUR_BDEV_ERR_RANGE;
	default:
		return SPUR_BDEV_ERR_IO;
	}
}

static void
vbdev_base_io_done(struct spur_bdev_io *base_io, int status, void *cb_arg)
{
	struct vbdev_base_io *bio = cb_arg;

	spur_bdev_free_io(base_io);
	if (bio->ch->vb->ops->base_done != NULL)
		bio->ch->vb->ops->base_done(bio, status);
	else
		spur_bdev_io_complete(bio->io, status);
}

static int
vbdev_forward(struct vbdev_base *vb, struct vbdev_base_io *bio)
{
	struct spur_bdev_io *io = bio->io;
	struct spur_bdev_desc *desc = vb->base_desc;
	struct spur_io_channel *bch = bio->ch->base_ch;

	switch (io->type) {
	case SPUR_BDEV_IO_READ:
		return spur_bdev_readv_blocks(desc, bch, io->iovs, io->iovcnt, io->offset_blocks,
					      io->num_blocks, vbdev_base_io_done, bio);
	case SPUR_BDEV_IO_WRITE:
		return spur_bdev_writev_blocks(desc, bch, io->iovs, io->iovcnt, io->offset_blocks,
					       io->num_blocks, io->flags, vbdev_base_io_done, bio);
	case SPUR_BDEV_IO_UNMAP:
		return spur_bdev_unmap_blocks(desc, bch, io->offset_blocks, io->num_blocks,
					      vbdev_base_io_done, bio);
	case SPUR_BDEV_IO_WRITE_ZEROES:
		return spur_bdev_write_zeroes_blocks(desc, bch, io->offset_blocks, io->num_blocks,
						     io->flags, vbdev_base_io_done, bio);
	case SPUR_BDEV_IO_FLUSH:
		return spur_bdev_flush_blocks(desc, bch, io->offset_blocks, io->num_blocks,
					      vbdev_base_io_done, bio);
	case SPUR_BDEV_IO_RESET:
		return spur_bdev_reset(desc, bch, vbdev_base_io_done, bio);
	default:
		return -ENOTSUP;
	}
}

static void
vbdev_resubmit(void *arg)
{
	vbdev_base_submit(arg);
}

void
vbdev_base_submit(struct vbdev_base_io *bio)
{
	struct vbdev_base *vb = bio->ch->vb;
	int rc = vbdev_forward(vb, bio);

	if (spur_likely(rc == 0))
		return;
	if (rc == -ENOMEM) {
		SPUR_DEBUGLOG(vb->ops->log_component, "%s: base out of requests, waiting\n",
			      vb->bdev.name);
		bio->wait.bdev = vb->base;
		bio->wait.cb_fn = vbdev_resubmit;
		bio->wait.cb_arg = bio;
		if (spur_bdev_queue_io_wait(vb->base, bio->ch->base_ch, &bio->wait) == 0)
			return;
	}
	if (vb->ops->complete != NULL)
		vb->ops->complete(bio, vbdev_status_of(rc));
	else
		spur_bdev_io_complete(bio->io, vbdev_status_of(rc));
}

struct vbdev_base_io *
vbdev_base_io_init(struct spur_io_channel *ch, struct spur_bdev_io *io)
{
	struct vbdev_base_io *bio = (struct vbdev_base_io *)io->driver_ctx;

	bio->io = io;
	bio->ch = spur_io_channel_get_ctx(ch);
	return bio;
}

void
vbdev_base_submit_request(struct spur_io_channel *ch, struct spur_bdev_io *io)
{
	vbdev_base_submit(vbdev_base_io_init(ch, io));
}

bool
vbdev_base_io_type_supported(void *ctx, enum spur_bdev_io_type type)
{
	struct vbdev_base *vb = ctx;

	return spur_bdev_io_type_supported(vb->base, type);
}

/* ---- lifecycle --------------------------------------------------------------- */

/* Every channel is gone, so every base channel was put: let go of the base. */
static void
vbdev_io_device_gone(void *io_device)
{
	struct vbdev_base *vb = io_device;

	SPUR_DEBUGLOG(vb->ops->log_component, "%s: releasing base %s\n", vb->bdev.name,
		      vb->base_name);
	spur_bdev_module_release_bdev(vb->base);
	spur_bdev_close(vb->base_desc);
	spur_bdev_destruct_done(&vb->bdev);
	vbdev_free(vb);
}

static void
vbdev_teardown(void *ctx)
{
	spur_io_device_unregister(ctx, vbdev_io_device_gone);
}

/* The base descriptor must be closed on the thread that opened it: the app thread. */
int
vbdev_base_destruct(void *ctx)
{
	struct spur_thread *app = spur_get_app_thread();

	if (app != NULL && spur_get_thread() != app &&
	    spur_thread_send_msg(app, vbdev_teardown, ctx) == 0)
		return 1;
	vbdev_teardown(ctx);
	return 1;
}

void
vbdev_base_write_config(struct spur_bdev *bdev, json_t *config, const char *method,
			json_t *params)
{
	char uuid[40];

	if (params == NULL)
		return;
	spur_bdev_get_uuid_str(bdev, uuid, sizeof(uuid));
	json_object_set_new(params, "uuid", json_string(uuid));
	spur_bdev_config_add(config, method, params);
	json_decref(params);
}

static void
vbdev_remove(struct vbdev_base *vb, void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	vb->removing = true;
	if (vb->ops->remove != NULL)
		vb->ops->remove(vb, cb, cb_arg);
	else
		spur_bdev_unregister(&vb->bdev, cb, cb_arg);
}

/* cb_arg: the module's name (static); the device may be freed by now. */
static void
vbdev_unregistered(void *cb_arg, int status)
{
	const char *module_name = cb_arg;

	if (status != 0)
		SPUR_ERRLOG("%s bdev unregister failed: %s\n", module_name, strerror(-status));
}

static void
vbdev_base_event(enum spur_bdev_event event, struct spur_bdev *base, void *ctx)
{
	struct vbdev_base *vb = ctx;
	int rc;

	switch (event) {
	case SPUR_BDEV_EVENT_REMOVE:
		if (vb->removing)
			return;
		SPUR_NOTICELOG("base bdev %s of %s%s removed: removing %s\n", vb->base_name,
			       vb->ops->remove_noun, vb->bdev.name, vb->bdev.name);
		vbdev_remove(vb, vbdev_unregistered, (void *)vb->ops->module->name);
		break;
	case SPUR_BDEV_EVENT_RESIZE:
		rc = spur_bdev_notify_blockcnt_change(&vb->bdev, spur_bdev_get_num_blocks(base));
		if (rc != 0)
			SPUR_ERRLOG("%s: cannot follow the resize of %s: %s\n", vb->bdev.name,
				    vb->base_name, strerror(-rc));
		break;
	}
}

/* Our bdev is going away, whoever asked: the module lets its held requests go. */
static void
vbdev_self_event(enum spur_bdev_event event, struct spur_bdev *bdev, void *ctx)
{
	struct vbdev_base *vb = ctx;

	(void)bdev;
	if (event != SPUR_BDEV_EVENT_REMOVE || vb->self_desc == NULL)
		return;
	vb->removing = true;
	vb->ops->self_event(vb);
}

void
vbdev_base_close_self(struct vbdev_base *vb)
{
	if (vb->self_desc != NULL) {
		spur_bdev_close(vb->self_desc);
		vb->self_desc = NULL;
	}
}

/* Registration failed after the io_device existed: free once it is gone. */
static void
vbdev_abandoned(void *io_device)
{
	vbdev_free(io_device);
}

int
vbdev_base_register(struct vbdev_base *vb, const struct vbdev_base_ops *ops,
		    const uint8_t *uuid, char *err, size_t err_len)
{
	const char *name = vb->bdev.name, *base_name = vb->base_name;
	struct spur_bdev *base;
	int rc;

	vb->ops = ops;
	rc = spur_bdev_open(base_name, true, vbdev_base_event, vb, &vb->base_desc);
	if (rc != 0) {
		if (rc == -ENODEV)
			bdev_util_fail(err, err_len, rc, "bdev '%s' not found", base_name);
		else if (rc == -EPERM)
			bdev_util_fail(err, err_len, rc, "bdev '%s' is already claimed", base_name);
		else
			bdev_util_fail(err, err_len, rc, "cannot open bdev '%s': %s", base_name,
				       strerror(-rc));
		vbdev_free(vb);
		return rc;
	}
	base = spur_bdev_desc_get_bdev(vb->base_desc);
	rc = spur_bdev_module_claim_bdev(base, vb->base_desc, ops->module);
	if (rc != 0) {
		bdev_util_fail(err, err_len, rc, "bdev '%s' is already claimed", base_name);
		spur_bdev_close(vb->base_desc);
		vbdev_free(vb);
		return rc;
	}
	vb->base = base;
	vb->bdev.product_name = ops->product_name;
	vb->bdev.blocklen = base->blocklen;
	vb->bdev.blockcnt = base->blockcnt;
	if (uuid != NULL)
		memcpy(vb->bdev.uuid, uuid, sizeof(vb->bdev.uuid));
	vb->bdev.write_cache = base->write_cache;
	vb->bdev.required_alignment = base->required_alignment;
	vb->bdev.max_transfer_blocks = base->max_transfer_blocks;
	vb->bdev.optimal_io_boundary = base->optimal_io_boundary;
	vb->bdev.split_on_optimal_io_boundary = base->split_on_optimal_io_boundary;
	vb->bdev.max_unmap_blocks = base->max_unmap_blocks;
	vb->bdev.max_write_zeroes_blocks = base->max_write_zeroes_blocks;
	vb->bdev.ctxt = vb;
	vb->bdev.fn_table = ops->fn_table;
	vb->bdev.module = ops->module;

	spur_io_device_register(vb, vbdev_channel_create, vbdev_channel_destroy, ops->channel_size,
				name);
	rc = spur_bdev_register(&vb->bdev);
	if (rc != 0) {
		bdev_util_fail(err, err_len, rc, "cannot register bdev '%s': %s", name,
			       strerror(-rc));
		spur_bdev_module_release_bdev(base);
		spur_bdev_close(vb->base_desc);
		spur_io_device_unregister(vb, vbdev_abandoned);
		return rc;
	}
	if (ops->self_event != NULL &&
	    spur_bdev_open(name, false, vbdev_self_event, vb, &vb->self_desc) != 0) {
		SPUR_WARNLOG("%s: cannot watch for removal; shutdown may wait for held "
			     "requests\n", name);
		vb->self_desc = NULL;
	}
	SPUR_DEBUGLOG(ops->log_component, "%s: created on %s\n", name, base_name);
	return 0;
}

struct vbdev_base *
vbdev_base_find(const char *name, const struct spur_bdev_module *module)
{
	return bdev_util_find(name, module);
}

int
vbdev_base_delete(const char *name, const struct spur_bdev_module *module,
		  void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	struct vbdev_base *vb = vbdev_base_find(name, module);

	if (vb == NULL || vb->removing)
		return -ENODEV;
	vbdev_remove(vb, cb, cb_arg);
	return 0;
}
