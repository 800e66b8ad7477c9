/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Framework RPCs with SPDK's names: version, init control, subsystems,
 * save_config / load_config and spdk_kill_instance. Handlers run on the
 * application thread.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_internal.h"
#include "spur/app.h"
#include "spur/config.h"
#include "spur/log.h"
#include "spur_version.h"

#define BOTH_STATES (SPUR_RPC_STARTUP | SPUR_RPC_RUNTIME)

static void
rpc_spdk_get_version(struct spur_rpc_request *req, void *params)
{
	unsigned major = 0, minor = 0, patch = 0;

	(void)params;
	sscanf(SPUR_VERSION, "%u.%u.%u", &major, &minor, &patch);
	spur_rpc_reply(req, json_pack("{s:s, s:{s:i, s:i, s:i, s:s}}", "version",
				      "spur v" SPUR_VERSION, "fields", "major", major, "minor",
				      minor, "patch", patch, "suffix", ""));
}

static void
rpc_framework_wait_init(struct spur_rpc_request *req, void *params)
{
	(void)params;
	app_wait_init(req);
}

static void
rpc_framework_start_init(struct spur_rpc_request *req, void *params)
{
	(void)params;
	app_start_init(req);
}

static void
add_subsystem(const struct spur_subsystem *s, void *ctx)
{
	json_t *deps = json_array();

	for (const char *const *d = s->depends_on; d && *d; d++)
		json_array_append_new(deps, json_string(*d));
	json_array_append_new(ctx, json_pack("{s:s, s:o}", "subsystem", s->name, "depends_on", deps));
}

static void
rpc_framework_get_subsystems(struct spur_rpc_request *req, void *params)
{
	json_t *list = json_array();

	(void)params;
	spur_subsystem_for_each(add_subsystem, list);
	spur_rpc_reply(req, list);
}

struct name_param {
	const char *name;
};

static const struct spur_rpc_param name_params[] = {
	{"name", SPUR_RPC_STRING, true, .offset = offsetof(struct name_param, name),
	 .help = "subsystem name"},
};

static void
rpc_framework_get_config(struct spur_rpc_request *req, void *params)
{
	struct name_param *p = params;
	const struct spur_subsystem *s = spur_subsystem_find(p->name);
	json_t *config;

	if (s == NULL) {
		spur_rpc_error(req, -ENOENT, "subsystem '%s' not found", p->name);
		return;
	}
	config = json_array();
	if (s->write_config != NULL)
		s->write_config(config);
	spur_rpc_reply(req, config);
}

static void
rpc_save_config(struct spur_rpc_request *req, void *params)
{
	(void)params;
	spur_rpc_reply(req, spur_config_dump());
}

static void
load_config_done(void *ctx, int code, const char *message)
{
	struct spur_rpc_request *req = ctx;

	if (code != 0)
		spur_rpc_error(req, code, "%s", message);
	else
		spur_rpc_reply_bool(req, true);
}

static void
rpc_load_config(struct spur_rpc_request *req, void *params)
{
	json_t *config = *(json_t **)params;

	if (config == NULL) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "params must be a configuration object with 'subsystems'");
		return;
	}
	spur_config_apply(config, "load_config", load_config_done, req);
}

struct kill_params {
	const char *sig_name;
};

static const struct spur_rpc_param kill_params[] = {
	{"sig_name", SPUR_RPC_STRING, true, .offset = offsetof(struct kill_params, sig_name),
	 .help = "SIGINT, SIGTERM, SIGQUIT, SIGHUP or SIGKILL"},
};

static const struct {
	const char *name;
	int signo;
} g_signals[] = {
	{"SIGINT", SIGINT}, {"SIGTERM", SIGTERM}, {"SIGQUIT", SIGQUIT},
	{"SIGHUP", SIGHUP}, {"SIGKILL", SIGKILL},
};

static void
deliver_signal(void *ctx)
{
	kill(getpid(), (int)(intptr_t)ctx);
}

static void
rpc_spdk_kill_instance(struct spur_rpc_request *req, void *params)
{
	struct kill_params *p = params;

	for (size_t i = 0; i < SPUR_COUNTOF(g_signals); i++) {
		/* "SIGINT" or "INT". */
		if (strcmp(p->sig_name, g_signals[i].name) == 0 ||
		    strcmp(p->sig_name, g_signals[i].name + 3) == 0) {
			spur_rpc_reply_bool(req, true);
			/* After the reply is queued, so the client hears it first. */
			spur_thread_send_msg(spur_get_thread(), deliver_signal,
					     (void *)(intptr_t)g_signals[i].signo);
			return;
		}
	}
	spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
		       "parameter 'sig_name' must be one of SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGKILL");
}

static const struct spur_rpc_method g_app_methods[] = {
	{.name = "spdk_get_version", .help = "Version of the running spur", .handler =
		 rpc_spdk_get_version, .states = BOTH_STATES},
	{.name = "framework_wait_init", .help = "Reply once initialization has finished",
	 .handler = rpc_framework_wait_init, .states = BOTH_STATES},
	{.name = "framework_start_init", .help = "Start subsystems and apply the configuration (after --wait-for-rpc)",
	 .handler = rpc_framework_start_init, .states = SPUR_RPC_STARTUP},
	{.name = "framework_get_subsystems", .help = "Subsystems in start order, with dependencies",
	 .handler = rpc_framework_get_subsystems, .states = BOTH_STATES},
	{.name = "framework_get_config", .help = "The save_config entries of one subsystem",
	 .params = name_params, .num_params = SPUR_COUNTOF(name_params),
	 .params_size = sizeof(struct name_param), .handler = rpc_framework_get_config,
	 .states = SPUR_RPC_RUNTIME},
	{.name = "save_config", .help = "The running configuration, replayable with load_config or -c",
	 .handler = rpc_save_config, .states = SPUR_RPC_RUNTIME},
	{.name = "load_config", .help = "Apply a configuration object (save_config format); all or nothing",
	 .handler = rpc_load_config, .states = SPUR_RPC_RUNTIME, .raw_params = true,
	 .params_size = sizeof(json_t *), .changes_config = true},
	{.name = "spdk_kill_instance", .help = "Send a signal to spur (SIGINT/SIGTERM stop it cleanly)",
	 .params = kill_params, .num_params = SPUR_COUNTOF(kill_params),
	 .params_size = sizeof(struct kill_params), .handler = rpc_spdk_kill_instance,
	 .states = BOTH_STATES},
};

void
spur_app_register_rpcs(void)
{
	spur_rpc_register_methods(g_app_methods, SPUR_COUNTOF(g_app_methods));
	app_register_thread_rpcs();
}
