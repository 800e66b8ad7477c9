/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RPC methods of the aio module, with SPDK's names and parameters:
 * bdev_aio_create (filename, name, block_size, readonly, fallocate, uuid;
 * returns the name),
 * bdev_aio_delete (name; replies once the bdev is gone) and
 * bdev_aio_rescan (name). Also the module table itself and the undo of a
 * create for a failed load_config.
 *
 * Handlers run on the application thread; the delete reply comes from the
 * unregister callback, also on the application thread.
 */
#include <errno.h>
#include <string.h>

#include "bdev_aio.h"
#include "spur/rpc.h"
#include "spur/util.h"

struct create_params {
	const char *filename;
	const char *name;
	uint32_t block_size;
	bool readonly;
	bool fallocate;
	const char *uuid;
};

static const struct spur_rpc_param g_create_params[] = {
	{"filename", SPUR_RPC_STRING, true, true, 1, 4096,
	 offsetof(struct create_params, filename), "path to a file or block device"},
	{"name", SPUR_RPC_STRING, true, true, 1, 255, offsetof(struct create_params, name),
	 "bdev name"},
	{"block_size", SPUR_RPC_UINT32, false, .offset = offsetof(struct create_params, block_size),
	 .help = "block size in bytes (default: the device's logical block size, 512 for files)"},
	{"readonly", SPUR_RPC_BOOL, false, .offset = offsetof(struct create_params, readonly),
	 .help = "open read-only"},
	{"fallocate", SPUR_RPC_BOOL, false, .offset = offsetof(struct create_params, fallocate),
	 .help = "offer unmap and write_zeroes (fallocate, or BLKDISCARD on block devices)"},
	{"uuid", SPUR_RPC_STRING, false, .offset = offsetof(struct create_params, uuid),
	 .help = "UUID of the bdev (default: generated)"},
};

struct name_params {
	const char *name;
};

static const struct spur_rpc_param g_name_params[] = {
	{"name", SPUR_RPC_STRING, true, .offset = offsetof(struct name_params, name),
	 .help = "bdev name"},
};

static void
rpc_bdev_aio_create(struct spur_rpc_request *req, void *params)
{
	struct create_params *p = params;
	struct bdev_aio_opts opts = {
		.filename = p->filename,
		.name = p->name,
		.block_size = p->block_size,
		.readonly = p->readonly,
		.fallocate = p->fallocate,
	};
	char err[512];
	int rc;

	if (p->uuid != NULL) {
		if (spur_uuid_parse(p->uuid, opts.uuid) != 0) {
			spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
				       "parameter 'uuid' is not a UUID: '%s'", p->uuid);
			return;
		}
		opts.has_uuid = true;
	}
	rc = bdev_aio_create(&opts, err, sizeof(err));
	if (rc != 0) {
		spur_rpc_error_errno(req, rc, "%s", err);
		return;
	}
	spur_rpc_reply(req, json_string(p->name));
}

static void
delete_done(void *cb_arg, int status)
{
	struct spur_rpc_request *req = cb_arg;

	if (status != 0) {
		spur_rpc_error_errno(req, status, "%s", strerror(-status));
		return;
	}
	spur_rpc_reply_bool(req, true);
}

static void
rpc_bdev_aio_delete(struct spur_rpc_request *req, void *params)
{
	struct name_params *p = params;

	if (bdev_aio_delete(p->name, delete_done, req) != 0)
		spur_rpc_error_errno(req, -ENODEV, "no aio bdev named %s", p->name);
}

static void
rpc_bdev_aio_rescan(struct spur_rpc_request *req, void *params)
{
	struct name_params *p = params;
	int rc = bdev_aio_rescan(p->name);

	if (rc == -ENODEV) {
		spur_rpc_error_errno(req, rc, "no aio bdev named %s", p->name);
		return;
	}
	if (rc != 0) {
		spur_rpc_error_errno(req, rc, "cannot rescan %s: %s", p->name, strerror(-rc));
		return;
	}
	spur_rpc_reply_bool(req, true);
}

static const struct spur_rpc_method g_aio_methods[] = {
	{.name = "bdev_aio_create", .help = "Create a bdev on a file or block device with Linux AIO",
	 .params = g_create_params, .num_params = SPUR_COUNTOF(g_create_params),
	 .params_size = sizeof(struct create_params), .handler = rpc_bdev_aio_create,
	 .states = SPUR_RPC_RUNTIME, .changes_config = true},
	{.name = "bdev_aio_delete", .help = "Delete an aio bdev (hot-removes it from its users)",
	 .params = g_name_params, .num_params = SPUR_COUNTOF(g_name_params),
	 .params_size = sizeof(struct name_params), .handler = rpc_bdev_aio_delete,
	 .states = SPUR_RPC_RUNTIME, .changes_config = true},
	{.name = "bdev_aio_rescan", .help = "Re-read the size of an aio bdev's file or device",
	 .params = g_name_params, .num_params = SPUR_COUNTOF(g_name_params),
	 .params_size = sizeof(struct name_params), .handler = rpc_bdev_aio_rescan,
	 .states = SPUR_RPC_RUNTIME, .changes_config = true},
};

static json_t *
aio_undo_call(const char *method, json_t *params)
{
	json_t *name = json_object_get(params, "name");

	if (strcmp(method, "bdev_aio_create") != 0 || !json_is_string(name))
		return NULL;
	return json_pack("{s:s, s:{s:O}}", "method", "bdev_aio_delete", "params", "name", name);
}

const struct spur_bdev_module spur_bdev_aio_module = {
	.name = "aio",
	.get_ctx_size = bdev_aio_get_ctx_size,
	.methods = g_aio_methods,
	.num_methods = SPUR_COUNTOF(g_aio_methods),
	.undo_call = aio_undo_call,
};
