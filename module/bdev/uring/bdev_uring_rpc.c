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
#include <errno.h>
#include <string.h>

#include "bdev_uring.h"
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
	{"filename", SPUR_RPC_STRING, true, true, 1, 4096,
	 offsetof(struct create_params, filename), "path to a file or block device"},
	{"name", SPUR_RPC_STRING, true, true, 1, 255, offsetof(struct create_params, name),
	 "bdev name"},
	{"block_size", SPUR_RPC_UINT32, false, .offset = offsetof(struct create_params, block_size),
	 .help = "block size in bytes (default: the device's logical block size, 512 for files)"},
	{"uuid", SPUR_RPC_STRING, false, .offset = offsetof(struct create_params, uuid),
	 .help = "UUID of the bdev (default: generated)"},
	{"use_direct_io", SPUR_RPC_BOOL, false,
	 .offset = offsetof(struct create_params, use_direct_io),
	 .help = "spur extension: O_DIRECT for aligned requests (default true); false keeps "
		 "all I/O in the page cache"},
};

struct name_params {
	const char *name;
};

static const struct spur_rpc_param g_name_params[] = {
	{"name", SPUR_RPC_STRING, true, .offset = offsetof(struct name_params, name),
	 .help = "bdev name"},
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

	if (p->uuid != NULL) {
		if (spur_uuid_parse(p->uuid, opts.uuid) != 0) {
			spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
				       "parameter 'uuid' is not a UUID: '%s'", p->uuid);
			return;
		}
		opts.has_uuid = true;
	}
	rc = bdev_uring_create(&opts, err, sizeof(err));
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
rpc_bdev_uring_delete(struct spur_rpc_request *req, void *params)
{
	struct name_params *p = params;

	if (bdev_uring_delete(p->name, delete_done, req) != 0)
		spur_rpc_error_errno(req, -ENODEV, "no uring bdev named %s", p->name);
}

static void
rpc_bdev_uring_rescan(struct spur_rpc_request *req, void *params)
{
	struct name_params *p = params;
	int rc = bdev_uring_rescan(p->name);

	if (rc == -ENODEV) {
		spur_rpc_error_errno(req, rc, "no uring bdev named %s", p->name);
		return;
	}
	if (rc != 0) {
		spur_rpc_error_errno(req, rc, "cannot rescan %s: %s", p->name, strerror(-rc));
		return;
	}
	spur_rpc_reply_bool(req, true);
}

static const struct spur_rpc_method g_uring_methods[] = {
	{.name = "bdev_uring_create", .help = "Create a bdev on a file or block device with io_uring",
	 .params = g_create_params, .num_params = SPUR_COUNTOF(g_create_params),
	 .params_size = sizeof(struct create_params), .set_defaults = create_defaults,
	 .handler = rpc_bdev_uring_create,
	 .states = SPUR_RPC_RUNTIME, .changes_config = true},
	{.name = "bdev_uring_delete", .help = "Delete a uring bdev (hot-removes it from its users)",
	 .params = g_name_params, .num_params = SPUR_COUNTOF(g_name_params),
	 .params_size = sizeof(struct name_params), .handler = rpc_bdev_uring_delete,
	 .states = SPUR_RPC_RUNTIME, .changes_config = true},
	{.name = "bdev_uring_rescan", .help = "Re-read the size of a uring bdev's file or device",
	 .params = g_name_params, .num_params = SPUR_COUNTOF(g_name_params),
	 .params_size = sizeof(struct name_params), .handler = rpc_bdev_uring_rescan,
	 .states = SPUR_RPC_RUNTIME, .changes_config = true},
};

static json_t *
uring_undo_call(const char *method, json_t *params)
{
	json_t *name = json_object_get(params, "name");

	if (strcmp(method, "bdev_uring_create") != 0 || !json_is_string(name))
		return NULL;
	return json_pack("{s:s, s:{s:O}}", "method", "bdev_uring_delete", "params", "name", name);
}

const struct spur_bdev_module spur_bdev_uring_module = {
	.name = "uring",
	.get_ctx_size = bdev_uring_get_ctx_size,
	.methods = g_uring_methods,
	.num_methods = SPUR_COUNTOF(g_uring_methods),
	.undo_call = uring_undo_call,
};
