/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The RPC methods shared by every vhost device type: vhost_get_controllers
 * (common fields plus the device type's "backend_specific" object),
 * vhost_delete_controller (refused while a VM is attached, or when the
 * device type refuses, e.g. a vhost-scsi controller that still has
 * targets) and vhost_controller_set_coalescing; their undo calls for a
 * configuration load that fails; and the parameter checks the create
 * methods of both device types share (controller name, cpumask).
 *
 * Registration: see vhost_rpc.h (one method table, vhost_blk's).
 *
 * Threads: everything runs on the application thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spur/log.h"
#include "vhost_dev.h"
#include "vhost_rpc.h"

/* ---- parameter checks of the create methods --------------------------------- */

bool
vhost_rpc_check_ctrlr_name(struct spur_rpc_request *req, const char *name)
{
	if (strchr(name, '/') != NULL || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter 'ctrlr' must be a file name (no '/')");
		return false;
	}
	return true;
}

bool
vhost_rpc_parse_cpumask(struct spur_rpc_request *req, const char *text,
			struct spur_cpuset *mask, bool *given)
{
	struct spur_cpuset app;
	char buf[SPUR_CPUSET_STR_LEN];

	*given = false;
	if (text == NULL)
		return true;
	if (spur_cpuset_parse(mask, text) != 0 || spur_cpuset_count(mask) == 0) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter 'cpumask' is not a valid core mask: %s", text);
		return false;
	}
	app = *mask;
	spur_cpuset_and(&app, spur_env_get_cpumask());
	if (!spur_cpuset_equal(&app, mask)) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "cpumask %s is not a subset of spur's cores %s", text,
			       spur_cpuset_fmt(spur_env_get_cpumask(), buf, sizeof(buf)));
		return false;
	}
	*given = true;
	return true;
}

/* ---- vhost_get_controllers -------------------------------------------------- */

const struct spur_rpc_param vhost_rpc_get_params[VHOST_RPC_GET_NPARAMS] = {
	{"name", SPUR_RPC_STRING, false, false, 0, 0,
	 offsetof(struct vhost_rpc_name_params, name), "only this controller"},
};

static json_t *
ctrlr_info(struct vhost_ctrlr *c)
{
	char mask[SPUR_CPUSET_STR_LEN];
	json_t *backend = json_object();

	if (c->ops->dump_info_json != NULL)
		c->ops->dump_info_json(c, backend);
	return json_pack("{s:s, s:s, s:I, s:I, s:s, s:b, s:o}", "ctrlr", c->name, "cpumask",
			 spur_cpuset_fmt(&c->cpumask, mask, sizeof(mask)), "delay_base_us",
			 (json_int_t)c->coalesce_delay_us, "iops_threshold",
			 (json_int_t)c->coalesce_iops_threshold, "socket", c->socket_path,
			 "connected", (int)(c->session != NULL), "backend_specific", backend);
}

void
vhost_rpc_get_controllers(struct spur_rpc_request *req, void *params)
{
	struct vhost_rpc_name_params *p = params;
	json_t *list;

	if (p->name != NULL) {
		struct vhost_ctrlr *c = vhost_ctrlr_find(p->name);

		if (c == NULL) {
			spur_rpc_error(req, -ENODEV, "controller '%s' not found", p->name);
			return;
		}
		list = json_array();
		json_array_append_new(list, ctrlr_info(c));
		spur_rpc_reply(req, list);
		return;
	}
	list = json_array();
	for (struct vhost_ctrlr *c = vhost_ctrlr_first(); c != NULL; c = c->next)
		json_array_append_new(list, ctrlr_info(c));
	spur_rpc_reply(req, list);
}

/* ---- vhost_delete_controller ---------------------------------------------------- */

const struct spur_rpc_param vhost_rpc_delete_params[VHOST_RPC_DELETE_NPARAMS] = {
	{"ctrlr", SPUR_RPC_STRING, true, false, 0, 0,
	 offsetof(struct vhost_rpc_ctrlr_params, ctrlr), "controller name"},
};

static void
reply_busy(struct spur_rpc_request *req, const char *name)
{
	spur_rpc_error(req, -EBUSY, "controller %s has a VM attached; shut the VM down first",
		       name);
}

struct delete_ctx {
	struct spur_rpc_request *req;
	char name[VHOST_RPC_NAME_MAX_LEN + 1];
};

static void
delete_done(void *ctx, int rc)
{
	struct delete_ctx *d = ctx;

	if (rc == 0)
		spur_rpc_reply_bool(d->req, true);
	else if (rc == -EBUSY)
		reply_busy(d->req, d->name);
	else
		spur_rpc_error(d->req, rc, "cannot delete controller %s: %s", d->name,
			       strerror(-rc));
	free(d);
}

void
vhost_rpc_delete_controller(struct spur_rpc_request *req, void *params)
{
	struct vhost_rpc_ctrlr_params *p = params;
	struct vhost_ctrlr *c = vhost_ctrlr_find(p->ctrlr);
	struct delete_ctx *d;
	const char *why;

	if (c == NULL) {
		spur_rpc_error(req, -ENODEV, "controller '%s' not found", p->ctrlr);
		return;
	}
	if (c->session != NULL) {
		reply_busy(req, c->name);
		return;
	}
	why = c->ops->delete_refused != NULL ? c->ops->delete_refused(c) : NULL;
	if (why != NULL) {
		spur_rpc_error(req, -EBUSY, "controller %s: %s", c->name, why);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INTERNAL, "out of memory");
		return;
	}
	d->req = req;
	spur_strfmt(d->name, sizeof(d->name), "%s", c->name);
	vhost_ctrlr_delete(c, false, delete_done, d);
}

/* ---- vhost_controller_set_coalescing ------------------------------------------- */

const struct spur_rpc_param vhost_rpc_coalescing_params[VHOST_RPC_COALESCING_NPARAMS] = {
	{"ctrlr", SPUR_RPC_STRING, true, false, 0, 0,
	 offsetof(struct vhost_rpc_coalescing_params, ctrlr), "controller name"},
	{"delay_base_us", SPUR_RPC_UINT32, true, true, 0, 1000000,
	 offsetof(struct vhost_rpc_coalescing_params, delay_base_us),
	 "base (minimum) coalescing time in microseconds; 0 disables coalescing"},
	{"iops_threshold", SPUR_RPC_UINT32, true, true, 1, UINT32_MAX,
	 offsetof(struct vhost_rpc_coalescing_params, iops_threshold),
	 "coalescing starts above this many I/O per second"},
};

void
vhost_rpc_set_coalescing(struct spur_rpc_request *req, void *params)
{
	struct vhost_rpc_coalescing_params *p = params;
	struct vhost_ctrlr *c = vhost_ctrlr_find(p->ctrlr);

	if (c == NULL) {
		spur_rpc_error(req, -ENODEV, "controller '%s' not found", p->ctrlr);
		return;
	}
	vhost_ctrlr_set_coalescing(c, p->delay_base_us, p->iops_threshold);
	spur_rpc_reply_bool(req, true);
}

/* ---- undo ------------------------------------------------------------------------- */

json_t *
vhost_rpc_shared_undo(const char *method, json_t *params, bool *handled)
{
	const char *name = json_string_value(json_object_get(params, "ctrlr"));
	struct vhost_ctrlr *c = name != NULL ? vhost_ctrlr_find(name) : NULL;

	*handled = strcmp(method, "vhost_controller_set_coalescing") == 0 ||
		   strcmp(method, "vhost_delete_controller") == 0 ||
		   strcmp(method, "vhost_get_controllers") == 0;
	if (!*handled || c == NULL)
		return NULL;
	if (strcmp(method, "vhost_controller_set_coalescing") == 0)
		return json_pack("{s:s, s:{s:s, s:I, s:I}}", "method",
				 "vhost_controller_set_coalescing", "params", "ctrlr", name,
				 "delay_base_us", (json_int_t)c->coalesce_delay_us,
				 "iops_threshold", (json_int_t)c->coalesce_iops_threshold);
	if (strcmp(method, "vhost_delete_controller") == 0 && c->ops->write_config_json != NULL) {
		/* A delete that succeeds left nothing but the controller itself. */
		json_t *calls = json_array();
		json_t *create;

		c->ops->write_config_json(c, calls);
		create = json_incref(json_array_get(calls, 0));
		json_decref(calls);
		return create;
	}
	return NULL;
}
