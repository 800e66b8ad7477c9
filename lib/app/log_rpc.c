/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The "log" subsystem: logging RPCs with SPDK's names (log_set_level /
 * log_get_level, the print_level pair, which spur treats as the same single
 * level, log_set_flag / log_clear_flag / log_get_flags), and its part of
 * save_config: the level and every enabled debug flag, so a restart with the
 * saved file logs the same way.
 */
#include <errno.h>
#include <string.h>

#include "app_internal.h"
#include "spur/app.h"
#include "spur/config.h"
#include "spur/log.h"
#include "spur/rpc.h"
#include "spur/util.h"

struct level_params {
	const char *level;
};

static const struct spur_rpc_param level_params[] = {
	{"level", SPUR_RPC_STRING, true, .offset = offsetof(struct level_params, level),
	 .help = "ERROR, WARNING, NOTICE, INFO or DEBUG"},
};

struct flag_params {
	const char *flag;
};

static const struct spur_rpc_param flag_params[] = {
	{"flag", SPUR_RPC_STRING, true, .offset = offsetof(struct flag_params, flag),
	 .help = "component name, or \"all\""},
};

static void
rpc_log_set_level(struct spur_rpc_request *req, void *params)
{
	struct level_params *p = params;
	int level = spur_log_level_parse(p->level);

	if (level < 0) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter 'level' must be ERROR, WARNING, NOTICE, INFO or DEBUG");
		return;
	}
	spur_log_set_level(level);
	spur_rpc_reply_bool(req, true);
}

static void
rpc_log_get_level(struct spur_rpc_request *req, void *params)
{
	(void)params;
	spur_rpc_reply(req, json_string(spur_log_level_name(spur_log_get_level())));
}

static void
rpc_log_flag(struct spur_rpc_request *req, void *params, int (*op)(const char *))
{
	struct flag_params *p = params;

	if (op(p->flag) != 0) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS, "unknown log flag '%s'", p->flag);
		return;
	}
	spur_rpc_reply_bool(req, true);
}

static void
rpc_log_set_flag(struct spur_rpc_request *req, void *params)
{
	rpc_log_flag(req, params, spur_log_set_flag);
}

static void
rpc_log_clear_flag(struct spur_rpc_request *req, void *params)
{
	rpc_log_flag(req, params, spur_log_clear_flag);
}

static void
add_flag(const char *name, bool enabled, void *ctx)
{
	json_object_set_new(ctx, name, json_boolean(enabled));
}

static void
rpc_log_get_flags(struct spur_rpc_request *req, void *params)
{
	json_t *flags = json_object();

	(void)params;
	spur_log_for_each_flag(add_flag, flags);
	spur_rpc_reply(req, flags);
}

#define BOTH (SPUR_RPC_STARTUP | SPUR_RPC_RUNTIME)
#define LEVEL_PARAMS                                                              \
	.params = level_params, .num_params = SPUR_COUNTOF(level_params), .params_size = \
		sizeof(struct level_params)
#define FLAG_PARAMS                                                             \
	.params = flag_params, .num_params = SPUR_COUNTOF(flag_params), .params_size = \
		sizeof(struct flag_params)

static const struct spur_rpc_method g_log_methods[] = {
	{.name = "log_set_level", .help = "Set the log level", LEVEL_PARAMS,
	 .handler = rpc_log_set_level, .states = BOTH, .changes_config = true},
	{.name = "log_get_level", .help = "The log level", .handler = rpc_log_get_level,
	 .states = BOTH},
	{.name = "log_set_print_level", .help = "Same as log_set_level (one level in spur)",
	 LEVEL_PARAMS, .handler = rpc_log_set_level, .states = BOTH, .changes_config = true},
	{.name = "log_get_print_level", .help = "Same as log_get_level",
	 .handler = rpc_log_get_level, .states = BOTH},
	{.name = "log_set_flag", .help = "Enable debug messages of a component", FLAG_PARAMS,
	 .handler = rpc_log_set_flag, .states = BOTH, .changes_config = true},
	{.name = "log_clear_flag", .help = "Disable debug messages of a component", FLAG_PARAMS,
	 .handler = rpc_log_clear_flag, .states = BOTH, .changes_config = true},
	{.name = "log_get_flags", .help = "Every component with its debug flag",
	 .handler = rpc_log_get_flags, .states = BOTH},
};

static void
write_flag(const char *name, bool enabled, void *ctx)
{
	if (enabled)
		json_array_append_new(ctx, json_pack("{s:s, s:{s:s}}", "method", "log_set_flag",
						     "params", "flag", name));
}

static void
log_write_config(json_t *config)
{
	json_array_append_new(config, json_pack("{s:s, s:{s:s}}", "method", "log_set_level",
						"params", "level",
						spur_log_level_name(spur_log_get_level())));
	spur_log_for_each_flag(write_flag, config);
}

static json_t *
log_undo_call(const char *method, json_t *params)
{
	const char *flag = json_string_value(json_object_get(params, "flag"));

	if (strcmp(method, "log_set_level") == 0 || strcmp(method, "log_set_print_level") == 0)
		return json_pack("{s:s, s:{s:s}}", "method", "log_set_level", "params", "level",
				 spur_log_level_name(spur_log_get_level()));
	if (flag != NULL && strcmp(flag, "all") != 0 &&
	    (strcmp(method, "log_set_flag") == 0 || strcmp(method, "log_clear_flag") == 0))
		return json_pack("{s:s, s:{s:s}}", "method",
				 spur_log_get_flag(flag) ? "log_set_flag" : "log_clear_flag",
				 "params", "flag", flag);
	return NULL;
}

const struct spur_subsystem spur_log_subsystem = {
	.name = "log",
	.write_config = log_write_config,
	.methods = g_log_methods,
	.num_methods = SPUR_COUNTOF(g_log_methods),
	.undo_call = log_undo_call,
};
