/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RPC glue the bdev modules share: the "uuid" and "name" parameters,
 * deleting a bdev by name with the reply sent once its unregistration
 * completes, the undo call of a create for a failed load_config, and SPDK's
 * metadata / protection-information parameters that malloc and null accept
 * only with their neutral values.
 *
 * Every message and error code here is what the modules answered before
 * they shared it; clients and tests match on them.
 *
 * Threading: RPC handlers run on the application thread, and so does all of
 * this; the delete reply comes from the unregister callback, also on the
 * application thread.
 */
#ifndef SPUR_MODULE_BDEV_COMMON_BDEV_RPC_UTIL_H
#define SPUR_MODULE_BDEV_COMMON_BDEV_RPC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spur/bdev_module.h"
#include "spur/rpc.h"

/* The optional "uuid" string parameter, at offsetof(type, field). */
#define BDEV_RPC_UTIL_PARAM_UUID(type, field)                                               \
	{"uuid", SPUR_RPC_STRING, false, false, 0, 0, offsetof(type, field),               \
	 "UUID of the bdev (default: generated)"}

/*
 * Parse the optional "uuid" parameter text into buf: returns 0 with *uuid
 * = buf, or with *uuid = NULL when text is NULL; else replies -32602 to req
 * and returns -EINVAL (the handler must return without replying again).
 */
int bdev_rpc_util_parse_uuid(struct spur_rpc_request *req, const char *text, uint8_t buf[16],
			     const uint8_t **uuid);

/* The params struct of a method that takes just a bdev "name" (delete, rescan). */
struct bdev_rpc_util_name {
	const char *name;
};
/* Its "name" parameter (required string), with the module's help text. */
#define BDEV_RPC_UTIL_PARAM_NAME(help)                                                      \
	{"name", SPUR_RPC_STRING, true, false, 0, 0, offsetof(struct bdev_rpc_util_name, name), \
	 help}
/* The table of that one parameter, helped as "bdev name". */
extern const struct spur_rpc_param bdev_rpc_util_name_params[1];

/*
 * A delete function of a module: -ENODEV (cb never runs) or 0 and
 * cb(cb_arg, status) once the bdev is gone.
 */
typedef int (*bdev_rpc_util_delete_fn)(const char *name, void (*cb)(void *cb_arg, int status),
				       void *cb_arg);
/*
 * Serve a <module>_delete call (params decoded from a table of the one
 * "name" parameter): delete_fn(name) and reply true once the bdev is gone
 * (or "cannot delete bdev: ..." with its status); when delete_fn finds
 * nothing, reply -ENODEV "<module> bdev '<name>' not found".
 */
void bdev_rpc_util_delete(struct spur_rpc_request *req, const struct bdev_rpc_util_name *params,
			  const struct spur_bdev_module *module, bdev_rpc_util_delete_fn delete_fn);
/*
 * Reply to req once an unregistration finished: true, or status with the
 * message prefix followed by the errno's text.
 */
void bdev_rpc_util_reply_unregistered(struct spur_rpc_request *req, int status,
				      const char *prefix);

/*
 * The undo of a create call (struct spur_bdev_module.undo_call): for
 * create_method with a string "name" parameter, {"method": delete_method,
 * "params": {"name": name}} (new reference); NULL otherwise.
 */
json_t *bdev_rpc_util_undo_create(const char *method, json_t *params, const char *create_method,
				  const char *delete_method);

/*
 * SPDK's metadata / protection-information parameters of bdev_malloc_create
 * and bdev_null_create, which spur accepts only with their neutral values
 * so SPDK configurations load unchanged. A module's params struct holds one
 * of these; its parameter table lists the entries below in SPDK's order
 * (null has no md_interleave, which then stays false).
 */
struct bdev_rpc_util_compat {
	uint32_t physical_block_size;
	uint32_t md_size;
	bool md_interleave;
	int32_t dif_type;
	bool dif_is_head_of_md;
	uint32_t dif_pi_format;
	int32_t numa_id;
};

/* physical_block_size and md_size of the struct bdev_rpc_util_compat at type.member. */
#define BDEV_RPC_UTIL_PARAMS_COMPAT_MD(type, member)                                        \
	{"physical_block_size", SPUR_RPC_UINT32, false, false, 0, 0,                        \
	 offsetof(type, member.physical_block_size), "SPDK compatibility: 0 or block_size only"}, \
	{"md_size", SPUR_RPC_UINT32, false, false, 0, 0, offsetof(type, member.md_size),    \
	 "SPDK compatibility: 0 only (no metadata)"}
#define BDEV_RPC_UTIL_PARAM_COMPAT_MD_INTERLEAVE(type, member)                              \
	{"md_interleave", SPUR_RPC_BOOL, false, false, 0, 0,                                \
	 offsetof(type, member.md_interleave), "SPDK compatibility: false only"}
/* dif_type, dif_is_head_of_md, dif_pi_format and numa_id. */
#define BDEV_RPC_UTIL_PARAMS_COMPAT_DIF(type, member)                                       \
	{"dif_type", SPUR_RPC_INT32, false, false, 0, 0, offsetof(type, member.dif_type),   \
	 "SPDK compatibility: 0 only (no protection information)"},                         \
	{"dif_is_head_of_md", SPUR_RPC_BOOL, false, false, 0, 0,                            \
	 offsetof(type, member.dif_is_head_of_md), "SPDK compatibility: false only"},       \
	{"dif_pi_format", SPUR_RPC_UINT32, false, false, 0, 0,                              \
	 offsetof(type, member.dif_pi_format), "SPDK compatibility: 0 only"},               \
	{"numa_id", SPUR_RPC_INT32, false, false, 0, 0, offsetof(type, member.numa_id),     \
	 "SPDK compatibility: accepted and ignored"}

/* Defaults before decoding (set_defaults): numa_id -1, the rest zero. */
void bdev_rpc_util_compat_defaults(struct bdev_rpc_util_compat *compat);
/*
 * Check the compatibility parameters and block_size (a power of two; the
 * table already bounds it). Returns true when they are acceptable; else
 * replies -32602 naming the first parameter at fault ("spur <module> bdevs
 * have no metadata or protection information") and returns false.
 */
bool bdev_rpc_util_check_compat(struct spur_rpc_request *req,
				const struct bdev_rpc_util_compat *compat, uint32_t block_size,
				const char *module);

#endif
