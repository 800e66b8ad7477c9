/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RPC glue of the file-backed bdev modules (aio, uring), see file_bdev.h:
 * uuid parsing, and the delete and rescan methods, with the messages those
 * modules always gave ("no aio bdev named X", the unregister error's own
 * text).
 *
 * Owns no state. Application thread only; the delete reply comes from the
 * unregister callback, also on the application thread.
 */
#include <errno.h>
#include <string.h>

#include "file_bdev.h"
#include "spur/util.h"

int
file_bdev_rpc_parse_uuid(struct spur_rpc_request *req, const char *text, uint8_t uuid[16],
			 bool *has_uuid)
{
	*has_uuid = false;
	if (text == NULL)
		return 0;
	if (spur_uuid_parse(text, uuid) != 0) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter 'uuid' is not a UUID: '%s'", text);
		return -EINVAL;
	}
	*has_uuid = true;
	return 0;
}

static void
delete_done(void *cb_arg, int status)
{
	bdev_rpc_util_reply_unregistered(cb_arg, status, "");
}

void
file_bdev_rpc_delete(struct spur_rpc_request *req, const struct bdev_rpc_util_name *params,
		     const struct spur_bdev_module *module)
{
	const char *name = params->name;

	if (file_bdev_delete(name, module, delete_done, req) != 0)
		spur_rpc_error_errno(req, -ENODEV, "no %s bdev named %s", module->name, name);
}

void
file_bdev_rpc_rescan(struct spur_rpc_request *req, const struct bdev_rpc_util_name *params,
		     const struct spur_bdev_module *module)
{
	const char *name = params->name;
	int rc = file_bdev_rescan(name, module);

	if (rc == -ENODEV) {
		spur_rpc_error_errno(req, rc, "no %s bdev named %s", module->name, name);
		return;
	}
	if (rc != 0) {
		spur_rpc_error_errno(req, rc, "cannot rescan %s: %s", name, strerror(-rc));
		return;
	}
	spur_rpc_reply_bool(req, true);
}
