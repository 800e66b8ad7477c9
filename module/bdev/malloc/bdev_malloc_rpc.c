/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RPC methods of the malloc module (bdev_malloc_create, bdev_malloc_delete)
 * and the module table that publishes them with the undo builder used when
 * a configuration load fails.
 *
 * bdev_malloc_create accepts the parameters SPDK's save_config writes for a
 * malloc bdev so SPDK configurations load unchanged, but spur has no
 * metadata or protection information: md_size, dif_type, ... are accepted
 * only with their neutral values and refused with -32602 otherwise.
 *
 * Threading: handlers run on the application thread.
 */
#include <errno.h>

#include "bdev_malloc.h"
#include "module/bdev/common/bdev_rpc_util.h"
#include "spur/rpc.h"
#include "spur/util.h"

/* ---- bdev_malloc_create ------------------------------------------------------ */

struct create_params {
	const char *name;
	uint64_t num_blocks;
	uint32_t block_size;
	const char *uuid;
	uint32_t optimal_io_boundary;
	struct bdev_rpc_util_compat compat;
};

static const struct spur_rpc_param g_create_params[] = {
	{"name", SPUR_RPC_STRING, false, true, 1, 255, offsetof(struct create_params, name),
	 "bdev name (default: MallocN with the first free N)"},
	{"num_blocks", SPUR_RPC_UINT64, true, true, 1, UINT64_MAX,
	 offsetof(struct create_params, num_blocks), "number of blocks"},
	{"block_size", SPUR_RPC_UINT32, true, true, 512, 65536,
	 offsetof(struct create_params, block_size), "block size in bytes (power of two)"},
	BDEV_RPC_UTIL_PARAM_UUID(struct create_params, uuid),
	{"optimal_io_boundary", SPUR_RPC_UINT32, false, false, 0, 0,
	 offsetof(struct create_params, optimal_io_boundary),
	 "split requests on this boundary, in blocks (0: none)"},
	BDEV_RPC_UTIL_PARAMS_COMPAT_MD(struct create_params, compat),
	BDEV_RPC_UTIL_PARAM_COMPAT_MD_INTERLEAVE(struct create_params, compat),
	BDEV_RPC_UTIL_PARAMS_COMPAT_DIF(struct create_params, compat),
};

static void
create_defaults(void *params)
{
	struct create_params *p = params;

	bdev_rpc_util_compat_defaults(&p->compat);
}

static void
rpc_malloc_create(struct spur_rpc_request *req, void *params)
{
	struct create_params *p = params;
	struct bdev_malloc_opts opts = {0};
	struct spur_bdev *bdev;
	uint8_t uuid[16];
	char err[160];
	int rc;

	if (!bdev_rpc_util_check_compat(req, &p->compat, p->block_size, "malloc") ||
	    bdev_rpc_util_parse_uuid(req, p->uuid, uuid, &opts.uuid) != 0)
		return;
	opts.name = p->name;
	opts.num_blocks = p->num_blocks;
	opts.block_size = p->block_size;
	opts.optimal_io_boundary = p->optimal_io_boundary;
	rc = bdev_malloc_create(&opts, &bdev, err, sizeof(err));
	if (rc != 0) {
		spur_rpc_error(req, rc == -EINVAL ? SPUR_RPC_ERROR_INVALID_PARAMS : rc, "%s", err);
		return;
	}
	spur_rpc_reply(req, json_string(bdev->name));
}

/* ---- bdev_malloc_delete ------------------------------------------------------ */

static void
rpc_malloc_delete(struct spur_rpc_request *req, void *params)
{
	bdev_rpc_util_delete(req, params, &spur_bdev_malloc_module, bdev_malloc_delete);
}

/* ---- table ------------------------------------------------------------------- */

static const struct spur_rpc_method g_malloc_methods[] = {
	{.name = "bdev_malloc_create",
	 .help = "Create a memory-backed bdev (contents are lost on restart); returns its name",
	 .params = g_create_params,
	 .num_params = SPUR_COUNTOF(g_create_params),
	 .params_size = sizeof(struct create_params),
	 .set_defaults = create_defaults,
	 .handler = rpc_malloc_create,
	 .states = SPUR_RPC_RUNTIME,
	 .changes_config = true},
	{.name = "bdev_malloc_delete",
	 .help = "Delete a malloc bdev (hot-removed from its users first)",
	 .params = bdev_rpc_util_name_params,
	 .num_params = SPUR_COUNTOF(bdev_rpc_util_name_params),
	 .params_size = sizeof(struct bdev_rpc_util_name),
	 .handler = rpc_malloc_delete,
	 .states = SPUR_RPC_RUNTIME,
	 .changes_config = true},
};

/* A named create is undone by deleting that name; unnamed ones cannot be. */
static json_t *
malloc_undo_call(const char *method, json_t *params)
{
	return bdev_rpc_util_undo_create(method, params, "bdev_malloc_create",
					 "bdev_malloc_delete");
}

const struct spur_bdev_module spur_bdev_malloc_module = {
	.name = "malloc",
	.module_init = bdev_malloc_module_init,
	.module_fini = bdev_malloc_module_fini,
	.get_ctx_size = bdev_malloc_get_ctx_size,
	.methods = g_malloc_methods,
	.num_methods = SPUR_COUNTOF(g_malloc_methods),
	.undo_call = malloc_undo_call,
};
