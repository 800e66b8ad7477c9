/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RPC glue the bdev modules share (see bdev_rpc_util.h): uuid parsing,
 * delete-by-name replying when unregistration completes, the undo of a
 * create, and the neutral-only SPDK compatibility parameters.
 *
 * Owns no state. Application thread only (RPC handlers and the unregister
 * callbacks they wait for).
 */
#include <errno.h>
#include <string.h>

#include "bdev_rpc_util.h"
#include "spur/util.h"

int
bdev_rpc_util_parse_uuid(struct spur_rpc_request *req, const char *text, uint8_t buf[16],
			 const uint8_t **uuid)
{
	*uuid = NULL;
	if (text == NULL)
		return 0;
	if (spur_uuid_parse(text, buf) != 0) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter 'uuid' must be a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
		return -EINVAL;
	}
	*uuid = buf;
	return 0;
}

const struct spur_rpc_param bdev_rpc_util_name_params[1] = {
	BDEV_RPC_UTIL_PARAM_NAME("bdev name"),
};

void
bdev_rpc_util_reply_unregistered(struct spur_rpc_request *req, int status, const char *prefix)
{
	if (status != 0) {
		spur_rpc_error(req, status, "%s%s", prefix, strerror(-status));
		return;
	}
	spur_rpc_reply_bool(req, true);
}

static void
delete_done(void *cb_arg, int status)
{
	bdev_rpc_util_reply_unregistered(cb_arg, status, "cannot delete bdev: ");
}

void
bdev_rpc_util_delete(struct spur_rpc_request *req, const struct bdev_rpc_util_name *params,
		     const struct spur_bdev_module *module, bdev_rpc_util_delete_fn delete_fn)
{
	if (delete_fn(params->name, delete_done, req) != 0)
		spur_rpc_error(req, -ENODEV, "%s bdev '%s' not found", module->name, params->name);
}

json_t *
bdev_rpc_util_undo_create(const char *method, json_t *params, const char *create_method,
			  const char *delete_method)
{
	const char *name = json_string_value(json_object_get(params, "name"));

	if (strcmp(method, create_method) != 0 || name == NULL)
		return NULL;
	return json_pack("{s:s, s:{s:s}}", "method", delete_method, "params", "name", name);
}

void
bdev_rpc_util_compat_defaults(struct bdev_rpc_util_compat *compat)
{
	compat->numa_id = -1;
}

/* A parameter spur cannot honour: name it, with the value it must have. */
static bool
refuse_param(struct spur_rpc_request *req, bool bad, const char *name, const char *neutral,
	     const char *module)
{
	if (bad)
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter '%s' must be %s: spur %s bdevs have no metadata or "
			       "protection information",
			       name, neutral, module);
	return bad;
}

bool
bdev_rpc_util_check_compat(struct spur_rpc_request *req, const struct bdev_rpc_util_compat *compat,
			   uint32_t block_size, const char *module)
{
	if (refuse_param(req, compat->md_size != 0, "md_size", "0", module) ||
	    refuse_param(req, compat->md_interleave, "md_interleave", "false", module) ||
	    refuse_param(req, compat->dif_type != 0, "dif_type", "0", module) ||
	    refuse_param(req, compat->dif_is_head_of_md, "dif_is_head_of_md", "false", module) ||
	    refuse_param(req, compat->dif_pi_format != 0, "dif_pi_format", "0", module))
		return false;
	if (compat->physical_block_size != 0 && compat->physical_block_size != block_size) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter 'physical_block_size' must be 0 or equal to block_size "
			       "(%u)",
			       block_size);
		return false;
	}
	if ((block_size & (block_size - 1)) != 0) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter 'block_size' must be a power of two");
		return false;
	}
	return true;
}
