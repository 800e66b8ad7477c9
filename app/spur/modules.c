/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The one place that lists what the daemon links in: log components, RPC
 * method tables and subsystems, registered in dependency order. Explicit on
 * purpose: nothing depends on link order or constructors, so a static link
 * can never silently drop a module.
 */
#include "modules.h"

#include "module/bdev/delay/bdev_delay.h"
#include "module/bdev/error/bdev_error.h"
#include "module/bdev/malloc/bdev_malloc.h"
#include "module/bdev/null/bdev_null.h"
#include "module/bdev/passthru/bdev_passthru.h"
#include "module/bdev/uring/bdev_uring.h"
#include "module/bdev/aio/bdev_aio.h"
#include "spur/app.h"
#include "spur/bdev_module.h"
#include "spur/config.h"
#include "spur/log.h"
#include "spur/rpc.h"
#include "spur/vhost.h"

static const char *const g_log_components[] = {
	"app", "config", "rpc", "thread", "bdev",
	"bdev_malloc", "bdev_null", "bdev_passthru", "bdev_delay", "bdev_error",
	"bdev_uring", "bdev_aio", "vhost", "vhost_blk", "vhost_scsi",
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
	/* bdev modules, then the layer's subsystem (which starts them). */
	spur_bdev_module_register(&spur_bdev_malloc_module);
	spur_bdev_module_register(&spur_bdev_null_module);
	spur_bdev_module_register(&spur_bdev_passthru_module);
	spur_bdev_module_register(&spur_bdev_delay_module);
	spur_bdev_module_register(&spur_bdev_error_module);
	spur_bdev_module_register(&spur_bdev_uring_module);
	spur_bdev_module_register(&spur_bdev_aio_module);
	spur_subsystem_register(&spur_bdev_subsystem);
	spur_subsystem_register(&spur_vhost_blk_subsystem);
	spur_subsystem_register(&spur_vhost_scsi_subsystem);
}
