/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RPC methods of the delay module (bdev_delay_create, bdev_delay_delete,
 * bdev_delay_update_latency) and the module table that publishes them with
 * the undo builder used when a configuration load fails.
 *
 * Threading: handlers run on the application thread.
 */
#include <errno.h>
#include <string.h>

#include "bdev_delay.h"
#include "module/bdev/common/bdev_rpc_util.h"
#include "spur/rpc.h"
#include "spur/util.h"

/* ---- bdev_delay_create ------------------------------------------------------- */

struct create_params {
	const char *base_bdev_name;
	const char *name;
	uint64_t latency[BDEV_DELAY_NUM_LATENCIES];
	const char *uuid;
};

#define LATENCY_PARAM(pname, idx, text)                                                     \
	{pname, SPUR_RPC_UINT64, true, true, 0, BDEV_DELAY_MAX_LATENCY_US,                  \
	 offsetof(struct create_params, latency) + (idx) * sizeof(uint64_t), text}

static const struct spur_rpc_param g_create_params[] = {
	{"base_bdev_name", SPUR_RPC_STRING, true, false, 0, 0,
	 offsetof(struct create_params, base_bdev_name), "bdev to stack on (claimed)"},
	{"name", SPUR_RPC_STRING, true, true, 1, 255, offsetof(struct create_params, name),
	 "name of the delay bdev"},
	LATENCY_PARAM("avg_read_latency", BDEV_DELAY_AVG_READ, "average read latency (us)"),
	LATENCY_PARAM("p99_read_latency", BDEV_DELAY_P99_READ,
		      "read latency of about 1% of reads (us)"),
	LATENCY_PARAM("avg_write_latency", BDEV_DELAY_AVG_WRITE, "average write latency (us)"),
	LATENCY_PARAM("p99_write_latency", BDEV_DELAY_P99_WRITE,
		      "write latency of about 1% of writes (us)"),
	BDEV_RPC_UTIL_PARAM_UUID(struct create_params, uuid),
};

static void
rpc_delay_create(struct spur_rpc_request *req, void *params)
{
	struct create_params *p = params;
	const uint8_t *uuid;
	uint8_t uuid_buf[16];
	char err[160];
	int rc;

	if (bdev_rpc_util_parse_uuid(req, p->uuid, uuid_buf, &uuid) != 0)
		return;
	rc = bdev_delay_create(p->base_bdev_name, p->name, p->latency, uuid, err, sizeof(err));
	if (rc != 0) {
		spur_rpc_error(req, rc == -EINVAL ? SPUR_RPC_ERROR_INVALID_PARAMS : rc, "%s", err);
		return;
	}
	spur_rpc_reply(req, json_string(p->name));
}

/* ---- bdev_delay_delete ------------------------------------------------------- */

static const struct spur_rpc_param g_delete_params[] = {
	BDEV_RPC_UTIL_PARAM_NAME("name of the delay bdev"),
};

static void
rpc_delay_delete(struct spur_rpc_request *req, void *params)
{
	bdev_rpc_util_delete(req, params, &spur_bdev_delay_module, bdev_delay_delete);
}

/* ---- bdev_delay_update_latency ----------------------------------------------- */

struct update_params {
	const char *delay_bdev_name;
	const char *latency_type;
	uint64_t latency_us;
};

static const struct spur_rpc_param g_update_params[] = {
	{"delay_bdev_name", SPUR_RPC_STRING, true, false, 0, 0,
	 offsetof(struct update_params, delay_bdev_name), "name of the delay bdev"},
	{"latency_type", SPUR_RPC_STRING, true, false, 0, 0,
	 offsetof(struct update_params, latency_type),
	 "avg_read, p99_read, avg_write or p99_write"},
	{"latency_us", SPUR_RPC_UINT64, true, true, 0, BDEV_DELAY_MAX_LATENCY_US,
	 offsetof(struct update_params, latency_us),
	 "new latency (us); requests already submitted keep theirs"},
};

static void
rpc_delay_update_latency(struct spur_rpc_request *req, void *params)
{
	struct update_params *p = params;
	int type = bdev_delay_latency_parse(p->latency_type);

	if (type < 0) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter 'latency_type' must be avg_read, p99_read, avg_write or "
			       "p99_write");
		return;
	}
	if (bdev_delay_update_latency(p->delay_bdev_name, type, p->latency_us) != 0) {
		spur_rpc_error(req, -ENODEV, "delay bdev '%s' not found", p->delay_bdev_name);
		return;
	}
	spur_rpc_reply_bool(req, true);
}

/* ---- table ------------------------------------------------------------------- */

static const struct spur_rpc_method g_delay_methods[] = {
	{.name = "bdev_delay_create",
	 .help = "Create a bdev that claims a base bdev and completes reads and writes no sooner "
		 "than the given latencies after submission; returns its name",
	 .params = g_create_params,
	 .num_params = SPUR_COUNTOF(g_create_params),
	 .params_size = sizeof(struct create_params),
	 .handler = rpc_delay_create,
	 .states = SPUR_RPC_RUNTIME,
	 .changes_config = true},
	{.name = "bdev_delay_delete",
	 .help = "Delete a delay bdev and release its base",
	 .params = g_delete_params,
	 .num_params = SPUR_COUNTOF(g_delete_params),
	 .params_size = sizeof(struct bdev_rpc_util_name),
	 .handler = rpc_delay_delete,
	 .states = SPUR_RPC_RUNTIME,
	 .changes_config = true},
	{.name = "bdev_delay_update_latency",
	 .help = "Change one latency of a delay bdev",
	 .params = g_update_params,
	 .num_params = SPUR_COUNTOF(g_update_params),
	 .params_size = sizeof(struct update_params),
	 .handler = rpc_delay_update_latency,
	 .states = SPUR_RPC_RUNTIME,
	 .changes_config = true},
};

/* create -> delete; update_latency -> the same latency set back to its present value. */
static json_t *
delay_undo_call(const char *method, json_t *params)
{
	const char *name;
	const char *type_name;
	uint64_t us;
	int type;

	if (strcmp(method, "bdev_delay_create") == 0)
		return bdev_rpc_util_undo_create(method, params, "bdev_delay_create",
						 "bdev_delay_delete");
	if (strcmp(method, "bdev_delay_update_latency") != 0)
		return NULL;
	name = json_string_value(json_object_get(params, "delay_bdev_name"));
	type_name = json_string_value(json_object_get(params, "latency_type"));
	if (name == NULL || type_name == NULL)
		return NULL;
	type = bdev_delay_latency_parse(type_name);
	if (type < 0 || bdev_delay_get_latency(name, type, &us) != 0)
		return NULL;
	return json_pack("{s:s, s:{s:s, s:s, s:I}}", "method", "bdev_delay_update_latency",
			 "params", "delay_bdev_name", name, "latency_type", type_name,
			 "latency_us", (json_int_t)us);
}

const struct spur_bdev_module spur_bdev_delay_module = {
	.name = "delay",
	.get_ctx_size = bdev_delay_get_ctx_size,
	.methods = g_delay_methods,
	.num_methods = SPUR_COUNTOF(g_delay_methods),
	.undo_call = delay_undo_call,
};
