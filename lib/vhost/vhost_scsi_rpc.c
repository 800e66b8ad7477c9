/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The "vhost_scsi" subsystem: RPCs with SPDK's names and parameters
 * (vhost_create_scsi_controller, vhost_start_scsi_controller,
 * vhost_scsi_controller_add_target, vhost_scsi_controller_remove_target),
 * its part of save_config (per controller: the create, one add_target per
 * target, and the coalescing setting when it differs from the default),
 * the undo calls that let a failed configuration load roll back, and fini,
 * which deletes every scsi controller and waits until their SCSI devices
 * are gone (so the bdev layer, stopped after us, finds no descriptor open).
 *
 * vhost_get_controllers, vhost_delete_controller and
 * vhost_controller_set_coalescing serve scsi controllers too; they are
 * shared (vhost_rpc.c) and registered with the vhost_blk subsystem.
 *
 * Controllers accept a frontend as soon as they are created; SPDK's
 * "delay" (create now, vhost_start_scsi_controller later) is accepted and
 * has nothing left to defer, since targets may be added at any time and
 * the guest is told with a hot-plug event.
 *
 * Threads: everything runs on the application thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spur/config.h"
#include "spur/log.h"
#include "spur/rpc.h"
#include "spur/vhost.h"
#include "vhost_rpc.h"
#include "vhost_scsi_internal.h"

#define NAME_MAX_LEN VHOST_RPC_NAME_MAX_LEN

static struct vhost_scsi_ctrlr *
find_scsi(struct spur_rpc_request *req, const char *name)
{
	struct vhost_ctrlr *c = vhost_ctrlr_find(name);

	if (c == NULL) {
		spur_rpc_error(req, -ENODEV, "controller '%s' not found", name);
		return NULL;
	}
	if (vhost_scsi_ctrlr(c) == NULL) {
		spur_rpc_error(req, -EINVAL, "controller '%s' is not a vhost-scsi controller",
			       name);
		return NULL;
	}
	return c->backend_ctx;
}

/* ---- vhost_create_scsi_controller ----------------------------------------------- */

struct create_params {
	const char *ctrlr;
	const char *cpumask;
	bool delay;
};

static const struct spur_rpc_param create_params[] = {
	{"ctrlr", SPUR_RPC_STRING, true, true, 1, NAME_MAX_LEN,
	 offsetof(struct create_params, ctrlr),
	 "controller name; its socket is <vhost dir>/<ctrlr>"},
	{"cpumask", SPUR_RPC_STRING, false, false, 0, 0, offsetof(struct create_params, cpumask),
	 "cores for the controller's queues, \"0x3\" or \"[0,1]\" (default: all of spur's)"},
	{"delay", SPUR_RPC_BOOL, false, false, 0, 0, offsetof(struct create_params, delay),
	 "accepted for SPDK compatibility; the controller accepts a VM at once (targets "
	 "added later reach a running guest as hot-plug events)"},
};

static void
rpc_create_scsi_controller(struct spur_rpc_request *req, void *params)
{
	struct create_params *p = params;
	struct spur_cpuset mask;
	bool have_mask;
	int rc;

	if (!vhost_rpc_check_ctrlr_name(req, p->ctrlr) ||
	    !vhost_rpc_parse_cpumask(req, p->cpumask, &mask, &have_mask))
		return;
	rc = vhost_scsi_ctrlr_create(p->ctrlr, have_mask ? &mask : NULL, NULL);
	switch (rc) {
	case 0:
		spur_rpc_reply_bool(req, true);
		return;
	case -EEXIST:
		spur_rpc_error(req, rc, "controller '%s' already exists", p->ctrlr);
		return;
	case -EADDRINUSE:
		spur_rpc_error(req, rc, "socket of controller '%s' is in use by another process",
			       p->ctrlr);
		return;
	default:
		spur_rpc_error(req, rc, "cannot create controller '%s': %s", p->ctrlr,
			       strerror(-rc));
		return;
	}
}

/* ---- vhost_start_scsi_controller ---------------------------------------------------- */

struct ctrlr_params {
	const char *ctrlr;
};

static const struct spur_rpc_param start_params[] = {
	{"ctrlr", SPUR_RPC_STRING, true, false, 0, 0, offsetof(struct ctrlr_params, ctrlr),
	 "controller name"},
};

static void
rpc_start_scsi_controller(struct spur_rpc_request *req, void *params)
{
	struct ctrlr_params *p = params;

	if (find_scsi(req, p->ctrlr) != NULL)
		spur_rpc_reply_bool(req, true);
}

/* ---- vhost_scsi_controller_add_target -------------------------------------------------- */

struct add_params {
	const char *ctrlr;
	int32_t scsi_target_num;
	const char *bdev_name;
};

static const struct spur_rpc_param add_params[] = {
	{"ctrlr", SPUR_RPC_STRING, true, false, 0, 0, offsetof(struct add_params, ctrlr),
	 "controller name"},
	{"scsi_target_num", SPUR_RPC_INT32, true, true, -1, VHOST_SCSI_MAX_TARGETS - 1,
	 offsetof(struct add_params, scsi_target_num),
	 "SCSI target id 0..7, or -1 for the first free one"},
	{"bdev_name", SPUR_RPC_STRING, true, true, 1, NAME_MAX_LEN,
	 offsetof(struct add_params, bdev_name), "bdev to expose as LUN 0 of the target"},
};

static void
rpc_add_target(struct spur_rpc_request *req, void *params)
{
	struct add_params *p = params;
	struct vhost_scsi_ctrlr *sc = find_scsi(req, p->ctrlr);
	int rc;

	if (sc == NULL)
		return;
	rc = vhost_scsi_add_target(sc, p->scsi_target_num, p->bdev_name);
	if (rc >= 0) {
		spur_rpc_reply(req, json_integer(rc));
		return;
	}
	switch (rc) {
	case -EEXIST:
		spur_rpc_error(req, rc, "controller '%s': SCSI target %d is in use", p->ctrlr,
			       p->scsi_target_num);
		return;
	case -ENOSPC:
		spur_rpc_error(req, rc, "controller '%s' has no free SCSI target (%u in use)",
			       p->ctrlr, VHOST_SCSI_MAX_TARGETS);
		return;
	case -ENODEV:
		spur_rpc_error(req, rc, "bdev '%s' not found", p->bdev_name);
		return;
	case -EPERM:
		spur_rpc_error(req, rc, "bdev '%s' is claimed for writing by another user",
			       p->bdev_name);
		return;
	default:
		spur_rpc_error(req, rc, "cannot add bdev '%s' to controller '%s': %s",
			       p->bdev_name, p->ctrlr, strerror(-rc));
		return;
	}
}

/* ---- vhost_scsi_controller_remove_target ------------------------------------------------ */

struct remove_params {
	const char *ctrlr;
	int32_t scsi_target_num;
};

static const struct spur_rpc_param remove_params[] = {
	{"ctrlr", SPUR_RPC_STRING, true, false, 0, 0, offsetof(struct remove_params, ctrlr),
	 "controller name"},
	{"scsi_target_num", SPUR_RPC_INT32, true, true, 0, VHOST_SCSI_MAX_TARGETS - 1,
	 offsetof(struct remove_params, scsi_target_num), "SCSI target id 0..7"},
};

static void
remove_done(void *ctx, int rc)
{
	struct spur_rpc_request *req = ctx;

	if (rc == 0)
		spur_rpc_reply_bool(req, true);
	else
		spur_rpc_error(req, rc, "cannot remove the SCSI target: %s", strerror(-rc));
}

static void
rpc_remove_target(struct spur_rpc_request *req, void *params)
{
	struct remove_params *p = params;
	struct vhost_scsi_ctrlr *sc = find_scsi(req, p->ctrlr);
	int rc;

	if (sc == NULL)
		return;
	/* Answered when the target is gone: its in-flight requests finished. */
	rc = vhost_scsi_remove_target(sc, (unsigned)p->scsi_target_num, remove_done, req);
	if (rc == -ENODEV)
		spur_rpc_error(req, rc, "controller '%s' has no SCSI target %d", p->ctrlr,
			       p->scsi_target_num);
	else if (rc != 0)
		spur_rpc_error(req, rc, "cannot remove SCSI target %d: %s", p->scsi_target_num,
			       strerror(-rc));
}

/* ---- the subsystem ---------------------------------------------------------------------- */

#define PARAMS(table, type) \
	.params = table, .num_params = SPUR_COUNTOF(table), .params_size = sizeof(type)

static const struct spur_rpc_method g_vhost_scsi_methods[] = {
	{.name = "vhost_create_scsi_controller",
	 .help = "Create a vhost-user-scsi controller (add targets with "
		 "vhost_scsi_controller_add_target)",
	 PARAMS(create_params, struct create_params), .handler = rpc_create_scsi_controller,
	 .states = SPUR_RPC_RUNTIME, .changes_config = true},
	{.name = "vhost_start_scsi_controller",
	 .help = "Start a vhost-scsi controller (accepted for SPDK compatibility: controllers "
		 "start when created)",
	 PARAMS(start_params, struct ctrlr_params), .handler = rpc_start_scsi_controller,
	 .states = SPUR_RPC_RUNTIME},
	{.name = "vhost_scsi_controller_add_target",
	 .help = "Add a SCSI target with a bdev as LUN 0 to a vhost-scsi controller; returns "
		 "the target id (a running guest sees it appear)",
	 PARAMS(add_params, struct add_params), .handler = rpc_add_target,
	 .states = SPUR_RPC_RUNTIME, .changes_config = true},
	{.name = "vhost_scsi_controller_remove_target",
	 .help = "Remove a SCSI target from a vhost-scsi controller (answered once its "
		 "requests in flight finished; a running guest sees it disappear)",
	 PARAMS(remove_params, struct remove_params), .handler = rpc_remove_target,
	 .states = SPUR_RPC_RUNTIME, .changes_config = true},
};

static spur_subsystem_done_fn g_fini_done;
static uint32_t g_fini_left;

static void
fini_devs_destroyed(void)
{
	spur_subsystem_done_fn done = g_fini_done;

	g_fini_done = NULL;
	done(0);
}

static void
fini_one_deleted(void *ctx, int rc)
{
	if (--g_fini_left == 0)
		vhost_scsi_wait_devs_destroyed(fini_devs_destroyed);
}

static void
vhost_scsi_fini(spur_subsystem_done_fn done)
{
	struct vhost_ctrlr *c, *next;

	g_fini_done = done;
	g_fini_left = 1;
	for (c = vhost_ctrlr_first(); c != NULL; c = next) {
		next = c->next;
		if (vhost_scsi_ctrlr(c) != NULL) {
			g_fini_left++;
			vhost_ctrlr_delete(c, true, fini_one_deleted, NULL);
		}
	}
	fini_one_deleted(NULL, 0);
}

static void
vhost_scsi_write_config(json_t *config)
{
	for (struct vhost_ctrlr *c = vhost_ctrlr_first(); c != NULL; c = c->next) {
		if (vhost_scsi_ctrlr(c) != NULL)
			vhost_scsi_write_config_json(c, config);
	}
}

static json_t *
vhost_scsi_undo_call(const char *method, json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "ctrlr"));
	struct vhost_scsi_ctrlr *sc = vhost_scsi_ctrlr(name != NULL ? vhost_ctrlr_find(name) : NULL);
	json_int_t num = json_integer_value(json_object_get(params, "scsi_target_num"));
	bool shared;
	json_t *undo = vhost_rpc_shared_undo(method, params, &shared);

	if (shared || name == NULL)
		return undo;
	if (strcmp(method, "vhost_create_scsi_controller") == 0)
		return vhost_ctrlr_find(name) != NULL ? NULL
			: json_pack("{s:s, s:{s:s}}", "method", "vhost_delete_controller",
				    "params", "ctrlr", name);
	if (sc == NULL)
		return NULL;
	if (strcmp(method, "vhost_scsi_controller_add_target") == 0) {
		/* The slot the call will take: the one named, or the first free now. */
		if (num == -1) {
			for (num = 0; num < VHOST_SCSI_MAX_TARGETS; num++) {
				if (atomic_load(&sc->targets[num].state) == VHOST_SCSI_TARGET_FREE)
					break;
			}
		}
		if (num < 0 || num >= VHOST_SCSI_MAX_TARGETS ||
		    atomic_load(&sc->targets[num].state) != VHOST_SCSI_TARGET_FREE)
			return NULL;
		return json_pack("{s:s, s:{s:s, s:I}}", "method",
				 "vhost_scsi_controller_remove_target", "params", "ctrlr", name,
				 "scsi_target_num", num);
	}
	if (strcmp(method, "vhost_scsi_controller_remove_target") == 0) {
		if (num < 0 || num >= VHOST_SCSI_MAX_TARGETS ||
		    atomic_load(&sc->targets[num].state) != VHOST_SCSI_TARGET_ACTIVE)
			return NULL;
		return json_pack("{s:s, s:{s:s, s:I, s:s}}", "method",
				 "vhost_scsi_controller_add_target", "params", "ctrlr", name,
				 "scsi_target_num", num, "bdev_name", sc->targets[num].bdev_name);
	}
	return NULL;
}

static const char *const g_vhost_scsi_deps[] = {"bdev", NULL};

const struct spur_subsystem spur_vhost_scsi_subsystem = {
	.name = "vhost_scsi",
	.depends_on = g_vhost_scsi_deps,
	.fini = vhost_scsi_fini,
	.write_config = vhost_scsi_write_config,
	.methods = g_vhost_scsi_methods,
	.num_methods = SPUR_COUNTOF(g_vhost_scsi_methods),
	.undo_call = vhost_scsi_undo_call,
};
