/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The one place that lists what the daemon links in: log components, RPC
 * method tables and subsystems, registered in dependency order. Explicit on
 * purpose: nothing depends on link order or constructors, so a static link
 * can never silently drop a module.
 */
#include "modules.h"

#include "spur/app.h"
#include "spur/config.h"
#include "spur/log.h"
#include "spur/rpc.h"

static const char *const g_log_components[] = {
	"app", "config", "rpc", "thread",
};

void
spur_register_everything(void)
{
	for (size_t i = 0; i < SPUR_COUNTOF(g_log_components); i++)
		spur_log_register_component(g_log_components[i]);
	spur_rpc_register_builtin_methods();
	spur_app_register_rpcs();
	/* Subsystems, in start order (each after what it depends on). */
	spur_subsystem_register(&spur_log_subsystem);
}
