/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to lib/vhost: the RPC methods every device type shares
 * (vhost_get_controllers, vhost_delete_controller,
 * vhost_controller_set_coalescing), implemented once in vhost_rpc.c.
 *
 * They are registered once, as part of the "vhost_blk" subsystem's method
 * table (the first vhost subsystem to register), through
 * VHOST_RPC_SHARED_METHODS; each vhost subsystem's undo_call hands their
 * names to vhost_rpc_shared_undo, so a configuration that uses them under
 * either subsystem rolls back the same way. Parameter tables carry their
 * sizes here because a method table in another file needs them as
 * constants.
 *
 * Threads: everything runs on the application thread.
 */
#ifndef SPUR_VHOST_RPC_H
#define SPUR_VHOST_RPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "spur/rpc.h"
#include "spur/util.h"

#define VHOST_RPC_NAME_MAX_LEN 255

struct vhost_rpc_name_params {
	const char *name;
};

struct vhost_rpc_ctrlr_params {
	const char *ctrlr;
};

struct vhost_rpc_coalescing_params {
	const char *ctrlr;
	uint32_t delay_base_us;
	uint32_t iops_threshold;
};

#define VHOST_RPC_GET_NPARAMS 1
#define VHOST_RPC_DELETE_NPARAMS 1
#define VHOST_RPC_COALESCING_NPARAMS 3
extern const struct spur_rpc_param vhost_rpc_get_params[VHOST_RPC_GET_NPARAMS];
extern const struct spur_rpc_param vhost_rpc_delete_params[VHOST_RPC_DELETE_NPARAMS];
extern const struct spur_rpc_param vhost_rpc_coalescing_params[VHOST_RPC_COALESCING_NPARAMS];

void vhost_rpc_get_controllers(struct spur_rpc_request *req, void *params);
void vhost_rpc_delete_controller(struct spur_rpc_request *req, void *params);
void vhost_rpc_set_coalescing(struct spur_rpc_request *req, void *params);

/* The shared methods, for one subsystem's method table (vhost_blk's). */
#define VHOST_RPC_SHARED_METHODS                                                               \
	{.name = "vhost_get_controllers", .help = "Vhost controllers (all, or the one named)", \
	 .params = vhost_rpc_get_params, .num_params = VHOST_RPC_GET_NPARAMS,                  \
	 .params_size = sizeof(struct vhost_rpc_name_params),                                   \
	 .handler = vhost_rpc_get_controllers, .states = SPUR_RPC_RUNTIME},                     \
	{.name = "vhost_delete_controller",                                                    \
	 .help = "Delete a vhost controller (refused while a VM is attached, and for a "       \
		 "vhost-scsi controller while it has targets)",                                 \
	 .params = vhost_rpc_delete_params, .num_params = VHOST_RPC_DELETE_NPARAMS,            \
	 .params_size = sizeof(struct vhost_rpc_ctrlr_params),                                  \
	 .handler = vhost_rpc_delete_controller, .states = SPUR_RPC_RUNTIME,                    \
	 .changes_config = true},                                                               \
	{.name = "vhost_controller_set_coalescing",                                            \
	 .help = "Set interrupt coalescing of a vhost controller",                             \
	 .params = vhost_rpc_coalescing_params, .num_params = VHOST_RPC_COALESCING_NPARAMS,    \
	 .params_size = sizeof(struct vhost_rpc_coalescing_params),                             \
	 .handler = vhost_rpc_set_coalescing, .states = SPUR_RPC_RUNTIME,                       \
	 .changes_config = true}

/*
 * Undo of a shared method about to be applied by a configuration load
 * (subsystem undo_call): set_coalescing restores the current values,
 * delete recreates the controller (its device type's first save_config
 * call). Returns the call, NULL when nothing needs undoing; *handled tells
 * whether method is one of the shared ones.
 */
json_t *vhost_rpc_shared_undo(const char *method, json_t *params, bool *handled);

/*
 * Check a controller name given to a create method: a file name (no '/',
 * not "." or ".."). Replies -32602 and returns false otherwise.
 */
bool vhost_rpc_check_ctrlr_name(struct spur_rpc_request *req, const char *name);
/*
 * Parse an optional cpumask parameter (NULL: none; *mask untouched and
 * *given false). It must be a subset of spur's cores; replies -32602 and
 * returns false otherwise.
 */
bool vhost_rpc_parse_cpumask(struct spur_rpc_request *req, const char *text,
			     struct spur_cpuset *mask, bool *given);

#endif
