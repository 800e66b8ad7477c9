/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RPC methods of the passthru module (bdev_passthru_create,
 * bdev_passthru_delete) and the module table that publishes them with the
 * undo builder used when a configuration load fails.
 *
 * Threading: handlers run on the application thread.
 */
#include "bdev_passthru.h"
#include "module/bdev/common/bdev_rpc_util.h"
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
	BDEV_RPC_UTIL_PARAM_UUID(struct create_params, uuid),
};

static void
rpc_passthru_create(struct spur_rpc_request *req, void *params)
{
	struct create_params *p = params;
	const uint8_t *uuid;
	uint8_t uuid_buf[16];
	char err[160];
	int rc;

	if (bdev_rpc_util_parse_uuid(req, p->uuid, uuid_buf, &uuid) != 0)
		return;
	rc = bdev_passthru_create(p->base_bdev_name, p->name, uuid, err, sizeof(err));
	if (rc != 0) {
		spur_rpc_error(req, rc, "%s", err);
		return;
	}
	spur_rpc_reply(req, json_string(p->name));
}

static const struct spur_rpc_param g_delete_params[] = {
	BDEV_RPC_UTIL_PARAM_NAME("name of the passthru bdev"),
};

static void
rpc_passthru_delete(struct spur_rpc_request *req, void *params)
{
	bdev_rpc_util_delete(req, params, &spur_bdev_passthru_module, bdev_passthru_delete);
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
	 .params_size = sizeof(struct bdev_rpc_util_name),
	 .handler = rpc_passthru_delete,
	 .states = SPUR_RPC_RUNTIME,
	 .changes_config = true},
};

static json_t *
passthru_undo_call(const char *method, json_t *params)
{
	return bdev_rpc_util_undo_create(method, params, "bdev_passthru_create",
					 "bdev_passthru_delete");
}

const struct spur_bdev_module spur_bdev_passthru_module = {
	.name = "passthru",
	.get_ctx_size = bdev_passthru_get_ctx_size,
	.methods = g_passthru_methods,
	.num_methods = SPUR_COUNTOF(g_passthru_methods),
	.undo_call = passthru_undo_call,
};
