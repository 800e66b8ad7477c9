/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RPC methods of the uring module, with SPDK's names and parameters:
 * bdev_uring_create (filename, name, block_size, uuid, and the spur
 * extension use_direct_io; returns the name),
 * bdev_uring_delete (name; replies once the bdev is gone) and
 * bdev_uring_rescan (name). Also the module table itself and the undo of a
 * create for a failed load_config.
 *
 * Handlers run on the application thread; the delete reply comes from the
 * unregister callback, also on the application thread.
 */
#include "bdev_uring.h"
#include "module/bdev/common/file_bdev.h"
#include "spur/rpc.h"
#include "spur/util.h"

struct create_params {
	const char *filename;
	const char *name;
	uint32_t block_size;
	const char *uuid;
	bool use_direct_io;
};

static void
create_defaults(void *params)
{
	((struct create_params *)params)->use_direct_io = true;
}

static const struct spur_rpc_param g_create_params[] = {
	FILE_BDEV_RPC_PARAMS_CREATE(struct create_params, filename, name, block_size),
	BDEV_RPC_UTIL_PARAM_UUID(struct create_params, uuid),
	{"use_direct_io", SPUR_RPC_BOOL, false,
	 .offset = offsetof(struct create_params, use_direct_io),
	 .help = "spur extension: O_DIRECT for aligned requests (default true); false keeps "
		 "all I/O in the page cache"},
};

static void
rpc_bdev_uring_create(struct spur_rpc_request *req, void *params)
{
	struct create_params *p = params;
	struct bdev_uring_opts opts = {
		.filename = p->filename,
		.name = p->name,
		.block_size = p->block_size,
		.use_direct_io = p->use_direct_io,
	};
	char err[512];
	int rc;

	if (file_bdev_rpc_parse_uuid(req, p->uuid, opts.uuid, &opts.has_uuid) != 0)
		return;
	rc = bdev_uring_create(&opts, err, sizeof(err));
	if (rc != 0) {
		spur_rpc_error_errno(req, rc, "%s", err);
		return;
	}
	spur_rpc_reply(req, json_string(p->name));
}

static void
rpc_bdev_uring_delete(struct spur_rpc_request *req, void *params)
{
	file_bdev_rpc_delete(req, params, &spur_bdev_uring_module);
}

static void
rpc_bdev_uring_rescan(struct spur_rpc_request *req, void *params)
{
	file_bdev_rpc_rescan(req, params, &spur_bdev_uring_module);
}

static const struct spur_rpc_method g_uring_methods[] = {
	{.name = "bdev_uring_create", .help = "Create a bdev on a file or block device with io_uring",
	 .params = g_create_params, .num_params = SPUR_COUNTOF(g_create_params),
	 .params_size = sizeof(struct create_params), .set_defaults = create_defaults,
	 .handler = rpc_bdev_uring_create,
	 .states = SPUR_RPC_RUNTIME, .changes_config = true},
	{.name = "bdev_uring_delete", .help = "Delete a uring bdev (hot-removes it from its users)",
	 .params = bdev_rpc_util_name_params,
	 .num_params = SPUR_COUNTOF(bdev_rpc_util_name_params),
	 .params_size = sizeof(struct bdev_rpc_util_name), .handler = rpc_bdev_uring_delete,
	 .states = SPUR_RPC_RUNTIME, .changes_config = true},
	{.name = "bdev_uring_rescan", .help = "Re-read the size of a uring bdev's file or device",
	 .params = bdev_rpc_util_name_params,
	 .num_params = SPUR_COUNTOF(bdev_rpc_util_name_params),
	 .params_size = sizeof(struct bdev_rpc_util_name), .handler = rpc_bdev_uring_rescan,
	 .states = SPUR_RPC_RUNTIME, .changes_config = true},
};

static json_t *
uring_undo_call(const char *method, json_t *params)
{
	return bdev_rpc_util_undo_create(method, params, "bdev_uring_create", "bdev_uring_delete");
}

const struct spur_bdev_module spur_bdev_uring_module = {
	.name = "uring",
	.get_ctx_size = bdev_uring_get_ctx_size,
	.methods = g_uring_methods,
	.num_methods = SPUR_COUNTOF(g_uring_methods),
	.undo_call = uring_undo_call,
};
