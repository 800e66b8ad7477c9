/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The "vhost_blk" subsystem: RPCs with SPDK's names and parameters
 * (vhost_create_blk_controller, vhost_get_controllers,
 * vhost_delete_controller, vhost_controller_set_coalescing), its part of
 * save_config (one create per controller, plus the coalescing setting when
 * it differs from the default), the undo calls that let a failed
 * configuration load roll back, and fini, which deletes every controller.
 *
 * vhost_get_controllers, vhost_delete_controller and
 * vhost_controller_set_coalescing act on any vhost controller, whatever its
 * device type: they are implemented in vhost_rpc.c and registered with
 * this subsystem's table (see vhost_rpc.h).
 *
 * Threads: everything runs on the application thread.
 */
#include <errno.h>
#include <string.h>

#include "spur/config.h"
#include "spur/log.h"
#include "spur/rpc.h"
#include "spur/vhost.h"
#include "vhost_blk_internal.h"
#include "vhost_rpc.h"

#define BOTH (SPUR_RPC_STARTUP | SPUR_RPC_RUNTIME)
#define NAME_MAX_LEN VHOST_RPC_NAME_MAX_LEN

/* ---- vhost_create_blk_controller ----------------------------------------- */

struct create_params {
	const char *ctrlr;
	const char *dev_name;
	const char *cpumask;
	bool readonly;
	bool packed_ring;
	bool packed_ring_recovery;
	const char *transport;
};

static const struct spur_rpc_param create_params[] = {
	{"ctrlr", SPUR_RPC_STRING, true, true, 1, NAME_MAX_LEN,
	 offsetof(struct create_params, ctrlr),
	 "controller name; its socket is <vhost dir>/<ctrlr>"},
	{"dev_name", SPUR_RPC_STRING, true, true, 1, NAME_MAX_LEN,
	 offsetof(struct create_params, dev_name), "bdev to expose"},
	{"cpumask", SPUR_RPC_STRING, false, false, 0, 0, offsetof(struct create_params, cpumask),
	 "cores for the controller's queues, \"0x3\" or \"[0,1]\" (default: all of spur's)"},
	{"readonly", SPUR_RPC_BOOL, false, false, 0, 0, offsetof(struct create_params, readonly),
	 "offer VIRTIO_BLK_F_RO and fail writes (default false)"},
	{"packed_ring", SPUR_RPC_BOOL, false, false, 0, 0,
	 offsetof(struct create_params, packed_ring),
	 "offer VIRTIO_F_RING_PACKED (default false)"},
	{"packed_ring_recovery", SPUR_RPC_BOOL, false, false, 0, 0,
	 offsetof(struct create_params, packed_ring_recovery),
	 "accepted for SPDK compatibility; in-flight requests are always recovered when the "
	 "frontend shares an inflight region"},
	{"transport", SPUR_RPC_STRING, false, false, 0, 0,
	 offsetof(struct create_params, transport), "only \"vhost_user_blk\""},
};

static void
rpc_create_blk_controller(struct spur_rpc_request *req, void *params)
{
	struct create_params *p = params;
	struct spur_cpuset mask;
	bool have_mask;
	int rc;

	if (p->transport != NULL && strcmp(p->transport, "vhost_user_blk") != 0) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter 'transport' must be \"vhost_user_blk\"");
		return;
	}
	if (!vhost_rpc_check_ctrlr_name(req, p->ctrlr) ||
	    !vhost_rpc_parse_cpumask(req, p->cpumask, &mask, &have_mask))
		return;
	rc = vhost_blk_ctrlr_create(p->ctrlr, have_mask ? &mask : NULL, p->dev_name,
				    p->readonly, p->packed_ring, NULL);
	switch (rc) {
	case 0:
		spur_rpc_reply_bool(req, true);
		return;
	case -ENODEV:
		spur_rpc_error(req, rc, "bdev '%s' not found", p->dev_name);
		return;
	case -EEXIST:
		spur_rpc_error(req, rc, "controller '%s' already exists", p->ctrlr);
		return;
	case -EPERM:
		spur_rpc_error(req, rc, "bdev '%s' is claimed for writing by another user%s",
			       p->dev_name, p->readonly ? "" : " (readonly true may still work)");
		return;
	case -EADDRINUSE:
		spur_rpc_error(req, rc, "socket of controller '%s' is in use by another process",
			       p->ctrlr);
		return;
	case -EINVAL:
		spur_rpc_error(req, rc, "cannot create controller '%s' on bdev '%s': invalid "
			       "argument (see the log)", p->ctrlr, p->dev_name);
		return;
	default:
		spur_rpc_error(req, rc, "cannot create controller '%s': %s", p->ctrlr,
			       strerror(-rc));
		return;
	}
}

/* ---- the subsystem ------------------------------------------------------------------- */

#define PARAMS(table, type) \
	.params = table, .num_params = SPUR_COUNTOF(table), .params_size = sizeof(type)

static const struct spur_rpc_method g_vhost_blk_methods[] = {
	{.name = "vhost_create_blk_controller",
	 .help = "Create a vhost-user-blk controller exposing a bdev",
	 PARAMS(create_params, struct create_params), .handler = rpc_create_blk_controller,
	 .states = SPUR_RPC_RUNTIME, .changes_config = true},
	VHOST_RPC_SHARED_METHODS,
};

static spur_subsystem_done_fn g_fini_done;

static void
vhost_blk_fini_done(void)
{
	spur_subsystem_done_fn done = g_fini_done;

	g_fini_done = NULL;
	done(0);
}

static void
vhost_blk_fini(spur_subsystem_done_fn done)
{
	g_fini_done = done;
	vhost_ctrlr_fini_all(vhost_blk_fini_done);
}

static void
vhost_blk_write_config(json_t *config)
{
	for (struct vhost_ctrlr *c = vhost_ctrlr_first(); c != NULL; c = c->next) {
		if (vhost_blk_ctrlr(c) != NULL)
			vhost_blk_write_config_json(c, config);
	}
}

static json_t *
vhost_blk_undo_call(const char *method, json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "ctrlr"));
	bool shared;
	json_t *undo = vhost_rpc_shared_undo(method, params, &shared);

	if (shared || name == NULL)
		return undo;
	if (strcmp(method, "vhost_create_blk_controller") == 0)
		return vhost_ctrlr_find(name) != NULL ? NULL
			: json_pack("{s:s, s:{s:s}}", "method", "vhost_delete_controller",
				    "params", "ctrlr", name);
	return NULL;
}

static const char *const g_vhost_blk_deps[] = {"bdev", NULL};

const struct spur_subsystem spur_vhost_blk_subsystem = {
	.name = "vhost_blk",
	.depends_on = g_vhost_blk_deps,
	.fini = vhost_blk_fini,
	.write_config = vhost_blk_write_config,
	.methods = g_vhost_blk_methods,
	.num_methods = SPUR_COUNTOF(g_vhost_blk_methods),
	.undo_call = vhost_blk_undo_call,
};
