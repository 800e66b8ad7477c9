/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RPC methods of the passthru module (bdev_passthru_create,
 * bdev_passthru_delete) and the module table that publishes them with the
 * undo builder used when a configuration load fails.
 *
 * Threading: handlers run on the application thread.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bdev_passthru.h"
#include "spur/rpc.h"
#include "spur/util.h"

struct create_params {
	const char *base_bdev_name;
	const char *name;
	const char *uuid;
};

static const struct spur_rpc_param g_create_params[] = {
	{"base_bdev_name", SPUR_RPC_STRING, true, false, 0, 0,
	 offsetof(struct create_params, base_bdev_name), "bdev to stack on (claimed)"},
	{"name", SPUR_RPC_STRING, true, true, 1, 255, offsetof(struct create_params, name),
	 "name of the passthru bdev"},
	{"uuid", SPUR_RPC_STRING, false, false, 0, 0, offsetof(struct create_params, uuid),
	 "UUID of the bdev (default: generated)"},
};

static void
rpc_passthru_create(struct spur_rpc_request *req, void *params)
{
	struct create_params *p = params;
	uint8_t uuid[16];
	char err[160];
	int rc;

	if (p->uuid != NULL && spur_uuid_parse(p->uuid, uuid) != 0) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter 'uuid' must be a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
		return;
	}
	rc = bdev_passthru_create(p->base_bdev_name, p->name, p->uuid != NULL ? uuid : NULL, err,
				  sizeof(err));
	if (rc != 0) {
		spur_rpc_error(req, rc, "%s", err);
		return;
	}
	spur_rpc_reply(req, json_string(p->name));
}

struct delete_params {
	const char *name;
};

static const struct spur_rpc_param g_delete_params[] = {
	{"name", SPUR_RPC_STRING, true, false, 0, 0, offsetof(struct delete_params, name),
	 "name of the passthru bdev"},
};

static void
passthru_deleted(void *cb_arg, int status)
{
	struct spur_rpc_request *req = cb_arg;

	if (status != 0) {
		spur_rpc_error(req, status, "cannot delete bdev: %s", strerror(-status));
		return;
	}
	spur_rpc_reply_bool(req, true);
}

static void
rpc_passthru_delete(struct spur_rpc_request *req, void *params)
{
	struct delete_params *p = params;

	if (bdev_passthru_delete(p->name, passthru_deleted, req) != 0)
		spur_rpc_error(req, -ENODEV, "passthru bdev '%s' not found", p->name);
}

static const struct spur_rpc_method g_passthru_methods[] = {
	{.name = "bdev_passthru_create",
	 .help = "Create a bdev that claims a base bdev and forwards all I/O to it; returns its "
		 "name",
	 .params = g_create_params,
	 .num_params = SPUR_COUNTOF(g_create_params),
	 .params_size = sizeof(struct create_params),
	 .handler = rpc_passthru_create,
	 .states = SPUR_RPC_RUNTIME,
	 .changes_config = true},
	{.name = "bdev_passthru_delete",
	 .help = "Delete a passthru bdev and release its base",
	 .params = g_delete_params,
	 .num_params = SPUR_COUNTOF(g_delete_params),
	 .params_size = sizeof(struct delete_params),
	 .handler = rpc_passthru_delete,
	 .states = SPUR_RPC_RUNTIME,
	 .changes_config = true},
};

static json_t *
passthru_undo_call(const char *method, json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));

	if (strcmp(method, "bdev_passthru_create") != 0 || name == NULL)
		return NULL;
	return json_pack("{s:s, s:{s:s}}", "method", "bdev_passthru_delete", "params", "name",
			 name);
}

const struct spur_bdev_module spur_bdev_passthru_module = {
	.name = "passthru",
	.get_ctx_size = bdev_passthru_get_ctx_size,
	.methods = g_passthru_methods,
	.num_methods = SPUR_COUNTOF(g_passthru_methods),
	.undo_call = passthru_undo_call,
};
