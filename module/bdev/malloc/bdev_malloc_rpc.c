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
#include <stdio.h>
#include <string.h>

#include "bdev_malloc.h"
#include "spur/rpc.h"
#include "spur/util.h"

/* ---- bdev_malloc_create ------------------------------------------------------ */

struct create_params {
	const char *name;
	uint64_t num_blocks;
	uint32_t block_size;
	const char *uuid;
	uint32_t optimal_io_boundary;
	uint32_t physical_block_size;
	uint32_t md_size;
	bool md_interleave;
	int32_t dif_type;
	bool dif_is_head_of_md;
	uint32_t dif_pi_format;
	int32_t numa_id;
};

static const struct spur_rpc_param g_create_params[] = {
	{"name", SPUR_RPC_STRING, false, true, 1, 255, offsetof(struct create_params, name),
	 "bdev name (default: MallocN with the first free N)"},
	{"num_blocks", SPUR_RPC_UINT64, true, true, 1, UINT64_MAX,
	 offsetof(struct create_params, num_blocks), "number of blocks"},
	{"block_size", SPUR_RPC_UINT32, true, true, 512, 65536,
	 offsetof(struct create_params, block_size), "block size in bytes (power of two)"},
	{"uuid", SPUR_RPC_STRING, false, false, 0, 0, offsetof(struct create_params, uuid),
	 "UUID of the bdev (default: generated)"},
	{"optimal_io_boundary", SPUR_RPC_UINT32, false, false, 0, 0,
	 offsetof(struct create_params, optimal_io_boundary),
	 "split requests on this boundary, in blocks (0: none)"},
	{"physical_block_size", SPUR_RPC_UINT32, false, false, 0, 0,
	 offsetof(struct create_params, physical_block_size),
	 "SPDK compatibility: 0 or block_size only"},
	{"md_size", SPUR_RPC_UINT32, false, false, 0, 0, offsetof(struct create_params, md_size),
	 "SPDK compatibility: 0 only (no metadata)"},
	{"md_interleave", SPUR_RPC_BOOL, false, false, 0, 0,
	 offsetof(struct create_params, md_interleave), "SPDK compatibility: false only"},
	{"dif_type", SPUR_RPC_INT32, false, false, 0, 0, offsetof(struct create_params, dif_type),
	 "SPDK compatibility: 0 only (no protection information)"},
	{"dif_is_head_of_md", SPUR_RPC_BOOL, false, false, 0, 0,
	 offsetof(struct create_params, dif_is_head_of_md), "SPDK compatibility: false only"},
	{"dif_pi_format", SPUR_RPC_UINT32, false, false, 0, 0,
	 offsetof(struct create_params, dif_pi_format), "SPDK compatibility: 0 only"},
	{"numa_id", SPUR_RPC_INT32, false, false, 0, 0, offsetof(struct create_params, numa_id),
	 "SPDK compatibility: accepted and ignored"},
};

static void
create_defaults(void *params)
{
	struct create_params *p = params;

	p->numa_id = -1;
}

/* A parameter spur cannot honour: name it, with the value it must have. */
static bool
refuse_param(struct spur_rpc_request *req, bool bad, const char *name, const char *neutral)
{
	if (bad)
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter '%s' must be %s: spur malloc bdevs have no metadata or "
			       "protection information",
			       name, neutral);
	return bad;
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

	if (refuse_param(req, p->md_size != 0, "md_size", "0") ||
	    refuse_param(req, p->md_interleave, "md_interleave", "false") ||
	    refuse_param(req, p->dif_type != 0, "dif_type", "0") ||
	    refuse_param(req, p->dif_is_head_of_md, "dif_is_head_of_md", "false") ||
	    refuse_param(req, p->dif_pi_format != 0, "dif_pi_format", "0"))
		return;
	if (p->physical_block_size != 0 && p->physical_block_size != p->block_size) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter 'physical_block_size' must be 0 or equal to block_size "
			       "(%u)",
			       p->block_size);
		return;
	}
	if ((p->block_size & (p->block_size - 1)) != 0) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter 'block_size' must be a power of two");
		return;
	}
	if (p->uuid != NULL) {
		if (spur_uuid_parse(p->uuid, uuid) != 0) {
			spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
				       "parameter 'uuid' must be a UUID "
				       "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
			return;
		}
		opts.uuid = uuid;
	}
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

struct delete_params {
	const char *name;
};

static const struct spur_rpc_param g_delete_params[] = {
	{"name", SPUR_RPC_STRING, true, false, 0, 0, offsetof(struct delete_params, name),
	 "bdev name"},
};

static void
malloc_deleted(void *cb_arg, int status)
{
	struct spur_rpc_request *req = cb_arg;

	if (status != 0) {
		spur_rpc_error(req, status, "cannot delete bdev: %s", strerror(-status));
		return;
	}
	spur_rpc_reply_bool(req, true);
}

static void
rpc_malloc_delete(struct spur_rpc_request *req, void *params)
{
	struct delete_params *p = params;

	if (bdev_malloc_delete(p->name, malloc_deleted, req) != 0)
		spur_rpc_error(req, -ENODEV, "malloc bdev '%s' not found", p->name);
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
	 .params = g_delete_params,
	 .num_params = SPUR_COUNTOF(g_delete_params),
	 .params_size = sizeof(struct delete_params),
	 .handler = rpc_malloc_delete,
	 .states = SPUR_RPC_RUNTIME,
	 .changes_config = true},
};

/* A named create is undone by deleting that name; unnamed ones cannot be. */
static json_t *
malloc_undo_call(const char *method, json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));

	if (strcmp(method, "bdev_malloc_create") != 0 || name == NULL)
		return NULL;
	return json_pack("{s:s, s:{s:s}}", "method", "bdev_malloc_delete", "params", "name", name);
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
