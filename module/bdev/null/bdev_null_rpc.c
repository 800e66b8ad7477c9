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
#include "spur/rpc.h"
#include "spur/util.h"

/* ---- bdev_null_create -------------------------------------------------------- */

struct create_params {
	const char *name;
	uint64_t num_blocks;
	uint32_t block_size;
	const char *uuid;
	uint32_t physical_block_size;
	uint32_t md_size;
	int32_t dif_type;
	bool dif_is_head_of_md;
	uint32_t dif_pi_format;
	int32_t numa_id;
	bool zero_reads;
};

static const struct spur_rpc_param g_create_params[] = {
	{"name", SPUR_RPC_STRING, true, true, 1, 255, offsetof(struct create_params, name),
	 "bdev name"},
	{"num_blocks", SPUR_RPC_UINT64, true, true, 1, UINT64_MAX,
	 offsetof(struct create_params, num_blocks), "number of blocks"},
	{"block_size", SPUR_RPC_UINT32, true, true, 512, 65536,
	 offsetof(struct create_params, block_size), "block size in bytes (power of two)"},
	{"uuid", SPUR_RPC_STRING, false, false, 0, 0, offsetof(struct create_params, uuid),
	 "UUID of the bdev (default: generated)"},
	{"physical_block_size", SPUR_RPC_UINT32, false, false, 0, 0,
	 offsetof(struct create_params, physical_block_size),
	 "SPDK compatibility: 0 or block_size only"},
	{"md_size", SPUR_RPC_UINT32, false, false, 0, 0, offsetof(struct create_params, md_size),
	 "SPDK compatibility: 0 only (no metadata)"},
	{"dif_type", SPUR_RPC_INT32, false, false, 0, 0, offsetof(struct create_params, dif_type),
	 "SPDK compatibility: 0 only (no protection information)"},
	{"dif_is_head_of_md", SPUR_RPC_BOOL, false, false, 0, 0,
	 offsetof(struct create_params, dif_is_head_of_md), "SPDK compatibility: false only"},
	{"dif_pi_format", SPUR_RPC_UINT32, false, false, 0, 0,
	 offsetof(struct create_params, dif_pi_format), "SPDK compatibility: 0 only"},
	{"numa_id", SPUR_RPC_INT32, false, false, 0, 0, offsetof(struct create_params, numa_id),
	 "SPDK compatibility: accepted and ignored"},
	{"zero_reads", SPUR_RPC_BOOL, false, false, 0, 0,
	 offsetof(struct create_params, zero_reads),
	 "spur extension: reads return zeroes (default true); false leaves the read buffers "
	 "untouched, which is cheaper for benchmarks but returns stale data"},
};

static void
create_defaults(void *params)
{
	struct create_params *p = params;

	p->numa_id = -1;
	p->zero_reads = true;
}

static bool
refuse_param(struct spur_rpc_request *req, bool bad, const char *name, const char *neutral)
{
	if (bad)
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter '%s' must be %s: spur null bdevs have no metadata or "
			       "protection information",
			       name, neutral);
	return bad;
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

	if (refuse_param(req, p->md_size != 0, "md_size", "0") ||
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
	opts.zero_reads = p->zero_reads;
	rc = bdev_null_create(&opts, &bdev, err, sizeof(err));
	if (rc != 0) {
		spur_rpc_error(req, rc == -EINVAL ? SPUR_RPC_ERROR_INVALID_PARAMS : rc, "%s", err);
		return;
	}
	spur_rpc_reply(req, json_string(bdev->name));
}

/* ---- bdev_null_delete -------------------------------------------------------- */

struct name_params {
	const char *name;
};

static const struct spur_rpc_param g_delete_params[] = {
	{"name", SPUR_RPC_STRING, true, false, 0, 0, offsetof(struct name_params, name),
	 "bdev name"},
};

static void
null_deleted(void *cb_arg, int status)
{
	struct spur_rpc_request *req = cb_arg;

	if (status != 0) {
		spur_rpc_error(req, status, "cannot delete bdev: %s", strerror(-status));
		return;
	}
	spur_rpc_reply_bool(req, true);
}

static void
rpc_null_delete(struct spur_rpc_request *req, void *params)
{
	struct name_params *p = params;

	if (bdev_null_delete(p->name, null_deleted, req) != 0)
		spur_rpc_error(req, -ENODEV, "null bdev '%s' not found", p->name);
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
	 .params = g_delete_params,
	 .num_params = SPUR_COUNTOF(g_delete_params),
	 .params_size = sizeof(struct name_params),
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
		return json_pack("{s:s, s:{s:s}}", "method", "bdev_null_delete", "params", "name",
				 name);
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
