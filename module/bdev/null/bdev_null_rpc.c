/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RPC methods of the null module (bdev_null_create, bdev_null_delete,
 * bdev_null_resize) and the module table that publishes them with the undo
 * builder used when a configuration load fails.
 *
 * bdev_null_create takes SPDK's parameters; the metadata / protection
 * information ones are accepted only with their neutral values (spur has
 * neither). zero_reads is a spur extension.
 *
 * Threading: handlers run on the application thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bdev_null.h"
#include "module/bdev/common/bdev_rpc_util.h"
#include "spur/rpc.h"
#include "spur/util.h"

/* ---- bdev_null_create -------------------------------------------------------- */

struct create_params {
	const char *name;
	uint64_t num_blocks;
	uint32_t block_size;
	const char *uuid;
	struct bdev_rpc_util_compat compat; /* md_interleave is not a parameter: false */
	bool zero_reads;
};

static const struct spur_rpc_param g_create_params[] = {
	{"name", SPUR_RPC_STRING, true, true, 1, 255, offsetof(struct create_params, name),
	 "bdev name"},
	{"num_blocks", SPUR_RPC_UINT64, true, true, 1, UINT64_MAX,
	 offsetof(struct create_params, num_blocks), "number of blocks"},
	{"block_size", SPUR_RPC_UINT32, true, true, 512, 65536,
	 offsetof(struct create_params, block_size), "block size in bytes (power of two)"},
	BDEV_RPC_UTIL_PARAM_UUID(struct create_params, uuid),
	BDEV_RPC_UTIL_PARAMS_COMPAT_MD(struct create_params, compat),
	BDEV_RPC_UTIL_PARAMS_COMPAT_DIF(struct create_params, compat),
	{"zero_reads", SPUR_RPC_BOOL, false, false, 0, 0,
	 offsetof(struct create_params, zero_reads),
	 "spur extension: reads return zeroes (default true); false leaves the read buffers "
	 "untouched, which is cheaper for benchmarks but returns stale data"},
};

static void
create_defaults(void *params)
{
	struct create_params *p = params;

	bdev_rpc_util_compat_defaults(&p->compat);
	p->zero_reads = true;
}

static void
rpc_null_create(struct spur_rpc_request *req, void *params)
{
	struct create_params *p = params;
	struct bdev_null_opts opts = {0};
	struct spur_bdev *bdev;
	uint8_t uuid[16];
	char err[160];
	int rc;

	if (!bdev_rpc_util_check_compat(req, &p->compat, p->block_size, "null") ||
	    bdev_rpc_util_parse_uuid(req, p->uuid, uuid, &opts.uuid) != 0)
		return;
	opts.name = p->name;
	opts.num_blocks = p->num_blocks;
	opts.block_size = p->block_size;
	opts.zero_reads = p->zero_reads;
	rc = bdev_null_create(&opts, &bdev, err, sizeof(err));
	if (rc != 0) {
		spur_rpc_error(req, rc == -EINVAL ? SPUR_RPC_ERROR_INVALID_PARAMS : rc, "%s", err);
		return;
	}
	spur_rpc_reply(req, json_string(bdev->name));
}

/* ---- bdev_null_delete -------------------------------------------------------- */

static void
rpc_null_delete(struct spur_rpc_request *req, void *params)
{
	bdev_rpc_util_delete(req, params, &spur_bdev_null_module, bdev_null_delete);
}

/* ---- bdev_null_resize -------------------------------------------------------- */

struct resize_params {
	const char *name;
	uint64_t new_size;
};

static const struct spur_rpc_param g_resize_params[] = {
	{"name", SPUR_RPC_STRING, true, false, 0, 0, offsetof(struct resize_params, name),
	 "bdev name"},
	{"new_size", SPUR_RPC_UINT64, true, true, 1, UINT64_MAX / (1024 * 1024),
	 offsetof(struct resize_params, new_size), "new size in MiB"},
};

static void
rpc_null_resize(struct spur_rpc_request *req, void *params)
{
	struct resize_params *p = params;
	int rc = bdev_null_resize(p->name, p->new_size);

	if (rc == -ENODEV)
		spur_rpc_error(req, rc, "null bdev '%s' not found", p->name);
	else if (rc == -EINVAL)
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter 'new_size' must be between 1 and %" PRIu64 " MiB",
			       (uint64_t)(UINT64_MAX / (1024 * 1024)));
	else if (rc != 0)
		spur_rpc_error(req, rc, "cannot resize bdev '%s': %s", p->name, strerror(-rc));
	else
		spur_rpc_reply_bool(req, true);
}

/* ---- table ------------------------------------------------------------------- */

static const struct spur_rpc_method g_null_methods[] = {
	{.name = "bdev_null_create",
	 .help = "Create a bdev without storage (writes dropped, reads zero); returns its name",
	 .params = g_create_params,
	 .num_params = SPUR_COUNTOF(g_create_params),
	 .params_size = sizeof(struct create_params),
	 .set_defaults = create_defaults,
	 .handler = rpc_null_create,
	 .states = SPUR_RPC_RUNTIME,
	 .changes_config = true},
	{.name = "bdev_null_delete",
	 .help = "Delete a null bdev (hot-removed from its users first)",
	 .params = bdev_rpc_util_name_params,
	 .num_params = SPUR_COUNTOF(bdev_rpc_util_name_params),
	 .params_size = sizeof(struct bdev_rpc_util_name),
	 .handler = rpc_null_delete,
	 .states = SPUR_RPC_RUNTIME,
	 .changes_config = true},
	{.name = "bdev_null_resize",
	 .help = "Change the size of a null bdev (users get a resize event)",
	 .params = g_resize_params,
	 .num_params = SPUR_COUNTOF(g_resize_params),
	 .params_size = sizeof(struct resize_params),
	 .handler = rpc_null_resize,
	 .states = SPUR_RPC_RUNTIME,
	 .changes_config = true},
};

/*
 * create -> delete; resize -> resize back, when the present size is a whole
 * number of MiB (the only sizes bdev_null_resize can express).
 */
static json_t *
null_undo_call(const char *method, json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	struct spur_bdev *bdev;
	uint64_t bytes;

	if (name == NULL)
		return NULL;
	if (strcmp(method, "bdev_null_create") == 0)
		return bdev_rpc_util_undo_create(method, params, "bdev_null_create",
						 "bdev_null_delete");
	if (strcmp(method, "bdev_null_resize") != 0)
		return NULL;
	bdev = spur_bdev_get_by_name(name);
	if (bdev == NULL || bdev->module != &spur_bdev_null_module)
		return NULL;
	bytes = spur_bdev_get_num_blocks(bdev) * spur_bdev_get_block_size(bdev);
	if (bytes % (1024 * 1024) != 0)
		return NULL;
	return json_pack("{s:s, s:{s:s, s:I}}", "method", "bdev_null_resize", "params", "name",
			 name, "new_size", (json_int_t)(bytes / (1024 * 1024)));
}

const struct spur_bdev_module spur_bdev_null_module = {
	.name = "null",
	.module_init = bdev_null_module_init,
	.module_fini = bdev_null_module_fini,
	.get_ctx_size = bdev_null_get_ctx_size,
	.methods = g_null_methods,
	.num_methods = SPUR_COUNTOF(g_null_methods),
	.undo_call = null_undo_call,
};
