/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RPC methods of the error module (bdev_error_create, bdev_error_delete,
 * bdev_error_inject_error, bdev_error_resume_pending) and the module table
 * that publishes them with the undo builder used when a configuration load
 * fails.
 *
 * Injections are test state, not configuration: save_config does not
 * write them and bdev_error_inject_error does not mark the configuration
 * changed. 'status' is a spur extension choosing the failure's status
 * class, so the error mapping of each front end can be tested.
 *
 * Threading: handlers run on the application thread.
 */
#include <errno.h>
#include <string.h>

#include "bdev_error.h"
#include "module/bdev/common/bdev_rpc_util.h"
#include "spur/rpc.h"
#include "spur/util.h"

static void
reply_true(void *arg)
{
	spur_rpc_reply_bool(arg, true);
}

/* ---- bdev_error_create ------------------------------------------------------- */

struct create_params {
	const char *base_name;
	const char *uuid;
};

static const struct spur_rpc_param g_create_params[] = {
	{"base_name", SPUR_RPC_STRING, true, true, 1, 250,
	 offsetof(struct create_params, base_name),
	 "bdev to stack on (claimed); the error bdev is named EE_<base_name>"},
	BDEV_RPC_UTIL_PARAM_UUID(struct create_params, uuid),
};

static void
rpc_error_create(struct spur_rpc_request *req, void *params)
{
	struct create_params *p = params;
	const uint8_t *uuid;
	uint8_t uuid_buf[16];
	char err[160];
	int rc;

	if (bdev_rpc_util_parse_uuid(req, p->uuid, uuid_buf, &uuid) != 0)
		return;
	rc = bdev_error_create(p->base_name, uuid, err, sizeof(err));
	if (rc != 0) {
		spur_rpc_error(req, rc, "%s", err);
		return;
	}
	/* SPDK answers true here, not the name. */
	spur_rpc_reply_bool(req, true);
}

/* ---- bdev_error_delete ------------------------------------------------------- */

static const struct spur_rpc_param g_delete_params[] = {
	BDEV_RPC_UTIL_PARAM_NAME("name of the error bdev (EE_...)"),
};

static void
rpc_error_delete(struct spur_rpc_request *req, void *params)
{
	bdev_rpc_util_delete(req, params, &spur_bdev_error_module, bdev_error_delete);
}

/* ---- bdev_error_inject_error ------------------------------------------------- */

struct inject_params {
	const char *name;
	const char *io_type;
	const char *error_type;
	uint32_t num;
	uint64_t queue_depth;
	uint64_t corrupt_offset;
	uint32_t corrupt_value;
	const char *status;
};

static const struct spur_rpc_param g_inject_params[] = {
	{"name", SPUR_RPC_STRING, true, false, 0, 0, offsetof(struct inject_params, name),
	 "name of the error bdev (EE_...)"},
	{"io_type", SPUR_RPC_STRING, true, false, 0, 0, offsetof(struct inject_params, io_type),
	 "read, write, unmap, flush, reset, write_zeroes, all, or clear (remove every "
	 "injection)"},
	{"error_type", SPUR_RPC_STRING, true, false, 0, 0,
	 offsetof(struct inject_params, error_type),
	 "failure (complete with an error), pending (hold until cleared, reset or deleted), "
	 "corrupt_data (xor a byte: writes before, reads after the base), nomem (hold ~100 us, "
	 "then pass on)"},
	{"num", SPUR_RPC_UINT32, false, false, 0, 0, offsetof(struct inject_params, num),
	 "number of requests to hit, per request type (default 1; 0 removes the injection)"},
	{"queue_depth", SPUR_RPC_UINT64, false, false, 0, 0,
	 offsetof(struct inject_params, queue_depth),
	 "hit only while at least this many requests are in flight on the thread (0: always)"},
	{"corrupt_offset", SPUR_RPC_UINT64, false, false, 0, 0,
	 offsetof(struct inject_params, corrupt_offset),
	 "corrupt_data: byte offset in the request's data"},
	{"corrupt_value", SPUR_RPC_UINT32, false, true, 0, 255,
	 offsetof(struct inject_params, corrupt_value),
	 "corrupt_data: value xor-ed into that byte (1..255)"},
	{"status", SPUR_RPC_STRING, false, false, 0, 0, offsetof(struct inject_params, status),
	 "spur extension, failure only: io (default), media, nospace or aborted"},
};

static void
inject_defaults(void *params)
{
	struct inject_params *p = params;

	p->num = 1;
}

static const struct {
	const char *name;
	int status;
} g_statuses[] = {
	{"io", SPUR_BDEV_ERR_IO},
	{"media", SPUR_BDEV_ERR_MEDIA},
	{"nospace", SPUR_BDEV_ERR_NOSPACE},
	{"aborted", SPUR_BDEV_ERR_ABORTED},
};

/* "read" ... "write_zeroes" as a mask, "all" for every type; 0 if unknown. */
static uint32_t
io_type_mask(const char *name)
{
	if (strcmp(name, "all") == 0)
		return (1u << SPUR_BDEV_IO_NUM_TYPES) - 1;
	for (int t = 0; t < SPUR_BDEV_IO_NUM_TYPES; t++) {
		if (strcmp(name, spur_bdev_io_type_name(t)) == 0)
			return 1u << t;
	}
	return 0;
}

static void
rpc_error_inject(struct spur_rpc_request *req, void *params)
{
	struct inject_params *p = params;
	struct bdev_error_inject_opts opts = {.status = SPUR_BDEV_ERR_IO};
	bool clear = strcmp(p->io_type, "clear") == 0;
	int type = bdev_error_type_parse(p->error_type);
	int rc;

	opts.io_mask = clear ? 0 : io_type_mask(p->io_type);
	if (!clear && opts.io_mask == 0) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter 'io_type' must be read, write, unmap, flush, reset, "
			       "write_zeroes, all or clear");
		return;
	}
	if (type < 0) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter 'error_type' must be failure, pending, corrupt_data or "
			       "nomem");
		return;
	}
	if (p->status != NULL) {
		size_t i;

		for (i = 0; i < SPUR_COUNTOF(g_statuses); i++) {
			if (strcmp(p->status, g_statuses[i].name) == 0)
				break;
		}
		if (i == SPUR_COUNTOF(g_statuses)) {
			spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
				       "parameter 'status' must be io, media, nospace or aborted");
			return;
		}
		opts.status = g_statuses[i].status;
	}
	if (type == BDEV_ERROR_CORRUPT_DATA && p->num != 0 && p->corrupt_value == 0) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter 'corrupt_value' must be 1 to 255 for corrupt_data");
		return;
	}
	opts.type = type;
	opts.num = p->num;
	opts.queue_depth = p->queue_depth;
	opts.corrupt_offset = p->corrupt_offset;
	opts.corrupt_value = (uint8_t)p->corrupt_value;
	if (clear)
		rc = bdev_error_clear(p->name, reply_true, req);
	else
		rc = bdev_error_inject(p->name, &opts, reply_true, req);
	if (rc == -ENODEV)
		spur_rpc_error(req, rc, "error bdev '%s' not found", p->name);
	else if (rc != 0)
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS, "invalid injection");
}

/* ---- bdev_error_resume_pending ----------------------------------------------- */

static void
rpc_error_resume(struct spur_rpc_request *req, void *params)
{
	struct bdev_rpc_util_name *p = params;

	if (bdev_error_resume_pending(p->name, reply_true, req) != 0)
		spur_rpc_error(req, -ENODEV, "error bdev '%s' not found", p->name);
}

/* ---- table ------------------------------------------------------------------- */

static const struct spur_rpc_method g_error_methods[] = {
	{.name = "bdev_error_create",
	 .help = "Create EE_<base_name>, an error-injection bdev that claims base_name",
	 .params = g_create_params,
	 .num_params = SPUR_COUNTOF(g_create_params),
	 .params_size = sizeof(struct create_params),
	 .handler = rpc_error_create,
	 .states = SPUR_RPC_RUNTIME,
	 .changes_config = true},
	{.name = "bdev_error_delete",
	 .help = "Delete an error bdev (held requests are aborted) and release its base",
	 .params = g_delete_params,
	 .num_params = SPUR_COUNTOF(g_delete_params),
	 .params_size = sizeof(struct bdev_rpc_util_name),
	 .handler = rpc_error_delete,
	 .states = SPUR_RPC_RUNTIME,
	 .changes_config = true},
	{.name = "bdev_error_inject_error",
	 .help = "Inject errors into the next requests of a type on an error bdev",
	 .params = g_inject_params,
	 .num_params = SPUR_COUNTOF(g_inject_params),
	 .params_size = sizeof(struct inject_params),
	 .set_defaults = inject_defaults,
	 .handler = rpc_error_inject,
	 .states = SPUR_RPC_RUNTIME},
	{.name = "bdev_error_resume_pending",
	 .help = "Send the requests held by 'pending' injections on to the base bdev",
	 .params = g_delete_params,
	 .num_params = SPUR_COUNTOF(g_delete_params),
	 .params_size = sizeof(struct bdev_rpc_util_name),
	 .handler = rpc_error_resume,
	 .states = SPUR_RPC_RUNTIME},
};

static json_t *
error_undo_call(const char *method, json_t *params)
{
	const char *base = json_string_value(json_object_get(params, "base_name"));
	char name[300];

	if (strcmp(method, "bdev_error_create") != 0 || base == NULL ||
	    spur_strfmt(name, sizeof(name), "EE_%s", base) != 0)
		return NULL;
	return json_pack("{s:s, s:{s:s}}", "method", "bdev_error_delete", "params", "name", name);
}

const struct spur_bdev_module spur_bdev_error_module = {
	.name = "error",
	.get_ctx_size = bdev_error_get_ctx_size,
	.methods = g_error_methods,
	.num_methods = SPUR_COUNTOF(g_error_methods),
	.undo_call = error_undo_call,
};
