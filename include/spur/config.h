/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Subsystems and the whole-daemon configuration.
 *
 * A subsystem (bdev, vhost_blk, vhost_scsi, iscsi, nvmf, ...) is a table
 * entry: its name, what it depends on, init/fini, its RPC methods, and a
 * writer that appends to save_config the calls that rebuild its objects.
 * Subsystems are registered explicitly in dependency order; they start in
 * that order and stop in the reverse one.
 *
 * The configuration format is SPDK's save_config format:
 *   {"subsystems":[{"subsystem":"bdev","config":[{"method":..,"params":{..}}]}]}
 * Loading validates every entry (known subsystem, known method, parameters
 * that decode) before applying anything, then applies entries in order; a
 * failing entry undoes the entries already applied from the same load.
 *
 * All functions run on the application thread.
 */
#ifndef SPUR_CONFIG_H
#define SPUR_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "spur/rpc.h"

typedef void (*spur_subsystem_done_fn)(int status);

struct spur_subsystem {
	const char *name;
	/* NULL-terminated names of subsystems this one needs, or NULL. */
	const char *const *depends_on;
	/* Start; call done(0) or done(-errno) exactly once. May be NULL. */
	void (*init)(spur_subsystem_done_fn done);
	/* Stop, finishing or failing outstanding work; done(0). May be NULL. */
	void (*fini)(spur_subsystem_done_fn done);
	/* Append {"method", "params"} objects to config (a JSON array). */
	void (*write_config)(json_t *config);
	const struct spur_rpc_method *methods;
	size_t num_methods;
	/*
	 * Optional, for rolling back a failed load: called just before one of
	 * this subsystem's calls is applied, returns the call
	 * ({"method","params"}) that restores the present state if the call
	 * succeeds (a create's delete, a setter's current value), or NULL when
	 * nothing needs undoing.
	 */
	json_t *(*undo_call)(const char *method, json_t *params);
};

/* Register (and its RPC methods). Order of calls = start order. */
void spur_subsystem_register(const struct spur_subsystem *subsystem);
const struct spur_subsystem *spur_subsystem_find(const char *name);
void spur_subsystem_for_each(void (*fn)(const struct spur_subsystem *s, void *ctx), void *ctx);
/* Forget every registration (tests). */
void spur_subsystem_unregister_all(void);

/* Init every subsystem in order; done(status) once (first failure stops). */
void spur_subsystems_init(spur_subsystem_done_fn done);
/* Fini the initialized ones in reverse order; done(0). */
void spur_subsystems_fini(spur_subsystem_done_fn done);

/* The running configuration in save_config format (new reference). */
json_t *spur_config_dump(void);

/*
 * Apply a configuration object. source names it in error messages (a file
 * name or "load_config"). done(ctx, 0, NULL) on success, or done(ctx, code,
 * message) where message names the source, subsystem, entry index and
 * reason; code is -32602 for validation errors or the failing method's code.
 */
typedef void (*spur_config_done_fn)(void *ctx, int code, const char *message);
void spur_config_apply(json_t *config, const char *source, spur_config_done_fn done, void *ctx);

/*
 * Start-up applies a configuration in two phases: STARTUP applies the
 * entries whose methods may run before initialization (SPUR_RPC_STARTUP in
 * their states) while the framework is in the startup state, before the
 * subsystems start; RUNTIME applies the others afterwards. Every entry is
 * validated in each phase.
 */
enum spur_config_phase {
	SPUR_CONFIG_ALL,
	SPUR_CONFIG_STARTUP,
	SPUR_CONFIG_RUNTIME,
};
void spur_config_apply_phase(json_t *config, const char *source, enum spur_config_phase phase,
			     spur_config_done_fn done, void *ctx);
/* Read and parse a file (syntax errors name line and column). */
json_t *spur_config_read_file(const char *path, char *err, size_t err_len);

#endif
