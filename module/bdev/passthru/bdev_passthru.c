/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The passthru bdev: claims a base bdev and forwards every request to it.
 *
 * Everything a passthru bdev does is the stacked-bdev helper's
 * (module/bdev/common/vbdev_base.h) with its defaults: its channel on a
 * thread is just the base's channel on that thread, taken through the
 * passthru's own read-write descriptor of the base; a request is resubmitted
 * to the base with the caller's buffers and completed with the base's status
 * when the base completes; when the base is out of request objects (-ENOMEM)
 * the request waits on the base's wait queue and is resubmitted from there.
 * This file holds what is passthru's own: its table, its save_config entry
 * and its bdev_get_bdevs information.
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
#include "bdev_passthru.h"
#include "module/bdev/common/bdev_util.h"
#include "module/bdev/common/vbdev_base.h"

/*
 * The device, its channel and its per-request context are the helper's
 * alone: struct vbdev_base, vbdev_base_channel and vbdev_base_io.
 */

size_t
bdev_passthru_get_ctx_size(void)
{
	return sizeof(struct vbdev_base_io);
}

static void
passthru_write_config(struct spur_bdev *bdev, json_t *config)
{
	struct vbdev_base *vb = bdev->ctxt;

	vbdev_base_write_config(bdev, config, "bdev_passthru_create",
				json_pack("{s:s, s:s}", "base_bdev_name", vb->base_name, "name",
					  bdev->name));
}

static void
passthru_dump_info(void *ctx, json_t *driver_specific)
{
	struct vbdev_base *vb = ctx;

	json_object_set_new(driver_specific, "passthru",
			    json_pack("{s:s, s:s}", "name", vb->bdev.name, "base_bdev_name",
				      vb->base_name));
}

static const struct spur_bdev_fn_table g_passthru_fn_table = {
	.destruct = vbdev_base_destruct,
	.submit_request = vbdev_base_submit_request,
	.io_type_supported = vbdev_base_io_type_supported,
	.get_io_channel = bdev_util_get_io_channel,
	.dump_info_json = passthru_dump_info,
	.write_config_json = passthru_write_config,
};

static const struct vbdev_base_ops g_passthru_ops = {
	.module = &spur_bdev_passthru_module,
	.fn_table = &g_passthru_fn_table,
	.product_name = "passthru",
	.log_component = "bdev_passthru",
	.remove_noun = "passthru ",
	.channel_size = sizeof(struct vbdev_base_channel),
};

int
bdev_passthru_create(const char *base_name, const char *name, const uint8_t *uuid, char *err,
		     size_t err_len)
{
	struct vbdev_base *vb;
	int rc;

	rc = vbdev_base_alloc(sizeof(struct vbdev_base), name, base_name, &vb, err, err_len);
	if (rc != 0)
		return rc;
	return vbdev_base_register(vb, &g_passthru_ops, uuid, err, err_len);
}

int
bdev_passthru_delete(const char *name, void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	return vbdev_base_delete(name, &spur_bdev_passthru_module, cb, cb_arg);
}
