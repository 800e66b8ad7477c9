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
#include "bdev_aio.h"
#include "module/bdev/common/file_bdev.h"
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
	FILE_BDEV_RPC_PARAMS_CREATE(struct create_params, filename, name, block_size),
	{"readonly", SPUR_RPC_BOOL, false, .offset = offsetof(struct create_params, readonly),
	 .help = "open read-only"},
	{"fallocate", SPUR_RPC_BOOL, false, .offset = offsetof(struct create_params, fallocate),
	 .help = "offer unmap and write_zeroes (fallocate, or BLKDISCARD on block devices)"},
	BDEV_RPC_UTIL_PARAM_UUID(struct create_params, uuid),
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

	if (file_bdev_rpc_parse_uuid(req, p->uuid, opts.uuid, &opts.has_uuid) != 0)
		return;
	rc = bdev_aio_create(&opts, err, sizeof(err));
	if (rc != 0) {
		spur_rpc_error_errno(req, rc, "%s", err);
		return;
	}
	spur_rpc_reply(req, json_string(p->name));
}

static void
rpc_bdev_aio_delete(struct spur_rpc_request *req, void *params)
{
	file_bdev_rpc_delete(req, params, &spur_bdev_aio_module);
}

static void
rpc_bdev_aio_rescan(struct spur_rpc_request *req, void *params)
{
	file_bdev_rpc_rescan(req, params, &spur_bdev_aio_module);
}

static const struct spur_rpc_method g_aio_methods[] = {
	{.name = "bdev_aio_create", .help = "Create a bdev on a file or block device with Linux AIO",
	 .params = g_create_params, .num_params = SPUR_COUNTOF(g_create_params),
	 .params_size = sizeof(struct create_params), .handler = rpc_bdev_aio_create,
	 .states = SPUR_RPC_RUNTIME, .changes_config = true},
	{.name = "bdev_aio_delete", .help = "Delete an aio bdev (hot-removes it from its users)",
	 .params = bdev_rpc_util_name_params,
	 .num_params = SPUR_COUNTOF(bdev_rpc_util_name_params),
	 .params_size = sizeof(struct bdev_rpc_util_name), .handler = rpc_bdev_aio_delete,
	 .states = SPUR_RPC_RUNTIME, .changes_config = true},
	{.name = "bdev_aio_rescan", .help = "Re-read the size of an aio bdev's file or device",
	 .params = bdev_rpc_util_name_params,
	 .num_params = SPUR_COUNTOF(bdev_rpc_util_name_params),
	 .params_size = sizeof(struct bdev_rpc_util_name), .handler = rpc_bdev_aio_rescan,
	 .states = SPUR_RPC_RUNTIME, .changes_config = true},
};

static json_t *
aio_undo_call(const char *method, json_t *params)
{
	return bdev_rpc_util_undo_create(method, params, "bdev_aio_create", "bdev_aio_delete");
}

const struct spur_bdev_module spur_bdev_aio_module = {
	.name = "aio",
	.get_ctx_size = bdev_aio_get_ctx_size,
	.methods = g_aio_methods,
	.num_methods = SPUR_COUNTOF(g_aio_methods),
	.undo_call = aio_undo_call,
};
