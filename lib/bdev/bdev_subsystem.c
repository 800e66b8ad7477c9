/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The "bdev" subsystem: module registration, the layer's options, start and
 * stop, its part of save_config and the undo calls of a failed load.
 *
 * Start: the request size is fixed from every registered module's
 * driver_ctx, then each module's module_init runs in registration order (a
 * failure fails the start). Stop, a sequence on the app thread:
 *
 *   UNREGISTER: the newest registered bdev is unregistered and waited for
 *               (openers are told to close; virtual bdevs go before their
 *               bases), repeatedly, until the registry is empty (bdevs
 *               already being removed by someone else are waited for)
 *   MODULES:    module_fini of each module, newest first, one at a time
 *   LAYER:      the management channels are gone, pools freed; done(0)
 *
 * save_config writes bdev_set_options when it differs from the defaults,
 * then every bdev's create call (registration order, so bases come before
 * the virtual bdevs built on them), then bdev_set_qos_limit for each limited
 * bdev. All of this runs on the app thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"
#include "spur/config.h"
#include "spur/log.h"

#define FINI_WAIT_US 10000u
#define FINI_WARN_S 5u

struct bdev_opts g_bdev_opts = {
	.io_pool_size = 65535,
	.io_cache_size = 256,
	.auto_examine = true,
	.small_cache_size = 128,
	.large_cache_size = 16,
	.small_pool_count = 8192,
	.large_pool_count = 1024,
};

static const struct bdev_opts g_default_opts = {
	.io_pool_size = 65535,
	.io_cache_size = 256,
	.auto_examine = true,
	.small_cache_size = 128,
	.large_cache_size = 16,
	.small_pool_count = 8192,
	.large_pool_count = 1024,
};

void
spur_bdev_module_register(const struct spur_bdev_module *module)
{
	for (size_t i = 0; i < g_bdev_mgr.num_modules; i++) {
		if (g_bdev_mgr.modules[i] == module ||
		    strcmp(g_bdev_mgr.modules[i]->name, module->name) == 0) {
			SPUR_ERRLOG("bdev module %s registered twice", module->name);
			abort();
		}
	}
	if (g_bdev_mgr.num_modules == SPUR_COUNTOF(g_bdev_mgr.modules)) {
		SPUR_ERRLOG("too many bdev modules");
		abort();
	}
	if (g_bdev_mgr.started) {
		SPUR_WARNLOG("bdev module %s registered after the bdev layer started", module->name);
	}
	g_bdev_mgr.modules[g_bdev_mgr.num_modules++] = module;
	if (module->num_methods > 0) {
		spur_rpc_register_methods(module->methods, module->num_methods);
	}
}

void
spur_bdev_config_add(json_t *config, const char *method, json_t *params)
{
	json_t *entry;

	if (config == NULL || method == NULL) {
		return;
	}
	entry = json_object();
	json_object_set_new(entry, "method", json_string(method));
	json_object_set(entry, "params", params != NULL ? params : json_null());
	json_array_append_new(config, entry);
}

/* ---- init -------------------------------------------------------------------- */

static void
bdev_subsystem_init(spur_subsystem_done_fn done)
{
	int rc = bdev_layer_start();

	for (size_t i = 0; rc == 0 && i < g_bdev_mgr.num_modules; i++) {
		const struct spur_bdev_module *m = g_bdev_mgr.modules[i];

		if (m->module_init != NULL) {
			rc = m->module_init();
			if (rc != 0) {
				SPUR_ERRLOG("bdev module %s failed to start: %s", m->name,
					    strerror(rc < 0 ? -rc : rc));
			}
		}
	}
	done(rc < 0 ? rc : (rc > 0 ? -rc : 0));
}

/* ---- fini --------------------------------------------------------------------- */

static struct {
	spur_subsystem_done_fn done;
	size_t module_idx;
	struct spur_poller *poller;
	uint64_t wait_start;
	uint64_t last_warn;
} g_fini;

static void fini_unregister_next(void);
static void fini_module_next(void);

static void
fini_layer_done(void)
{
	spur_subsystem_done_fn done = g_fini.done;

	g_fini.done = NULL;
	SPUR_DEBUGLOG("bdev", "bdev layer stopped");
	done(0);
}

static void
fini_module_done(void)
{
	fini_module_next();
}

static void
fini_module_next(void)
{
	while (g_fini.module_idx > 0) {
		const struct spur_bdev_module *m = g_bdev_mgr.modules[--g_fini.module_idx];

		if (m->module_fini != NULL) {
			m->module_fini(fini_module_done);
			return;
		}
	}
	bdev_layer_stop(fini_layer_done);
}

static void
fini_unregistered(void *cb_arg, int status)
{
	fini_unregister_next();
}

/* Bdevs removed by someone else are still in the registry: poll until gone. */
static int
fini_wait_poll(void *ctx)
{
	uint64_t now = spur_get_ticks();

	if (!TAILQ_EMPTY(&g_bdev_mgr.bdevs)) {
		bool registered = false;
		struct spur_bdev_internal *in;

		TAILQ_FOREACH(in, &g_bdev_mgr.bdevs, link) {
			registered |= atomic_load(&in->status) == BDEV_STATE_REGISTERED;
		}
		if (!registered) {
			if (now - g_fini.last_warn > FINI_WARN_S * spur_get_ticks_hz()) {
				g_fini.last_warn = now;
				TAILQ_FOREACH(in, &g_bdev_mgr.bdevs, link) {
					SPUR_WARNLOG("bdev %s: still open, waiting for its "
						     "descriptors to close", in->bdev->name);
				}
			}
			return SPUR_POLLER_IDLE;
		}
	}
	spur_poller_unregister(&g_fini.poller);
	fini_unregister_next();
	return SPUR_POLLER_BUSY;
}

static void
fini_unregister_next(void)
{
	struct spur_bdev_internal *in;

	TAILQ_FOREACH_REVERSE(in, &g_bdev_mgr.bdevs, bdev_list, link) {
		if (atomic_load(&in->status) == BDEV_STATE_REGISTERED) {
			SPUR_DEBUGLOG("bdev", "stopping: unregistering %s", in->bdev->name);
			spur_bdev_unregister(in->bdev, fini_unregistered, NULL);
			return;
		}
	}
	if (!TAILQ_EMPTY(&g_bdev_mgr.bdevs)) {
		if (g_fini.poller == NULL) {
			g_fini.last_warn = spur_get_ticks();
			g_fini.poller = spur_poller_register(fini_wait_poll, NULL, FINI_WAIT_US,
							     "bdev_fini");
		}
		if (g_fini.poller != NULL) {
			return;
		}
		SPUR_ERRLOG("bdev: cannot wait for bdevs being removed; stopping anyway");
	}
	g_fini.module_idx = g_bdev_mgr.num_modules;
	fini_module_next();
}

static void
bdev_subsystem_fini(spur_subsystem_done_fn done)
{
	g_fini.done = done;
	fini_unregister_next();
}

/* ---- save_config and undo ----------------------------------------------------------- */

static json_t *
options_params_json(void)
{
	return json_pack("{s:i, s:i, s:b, s:i, s:i, s:i, s:i}", "bdev_io_pool_size",
			 (int)g_bdev_opts.io_pool_size, "bdev_io_cache_size",
			 (int)g_bdev_opts.io_cache_size, "bdev_auto_examine",
			 g_bdev_opts.auto_examine, "iobuf_small_cache_size",
			 (int)g_bdev_opts.small_cache_size, "iobuf_large_cache_size",
			 (int)g_bdev_opts.large_cache_size, "small_pool_count",
			 (int)g_bdev_opts.small_pool_count, "large_pool_count",
			 (int)g_bdev_opts.large_pool_count);
}

static json_t *
qos_params_json(struct spur_bdev *bdev)
{
	struct spur_bdev_qos_limits l;

	spur_bdev_get_qos_limits(bdev, &l);
	return json_pack("{s:s, s:I, s:I, s:I, s:I}", "name", bdev->name, "rw_ios_per_sec",
			 (json_int_t)l.rw_ios_per_sec, "rw_mbytes_per_sec",
			 (json_int_t)l.rw_mbytes_per_sec, "r_mbytes_per_sec",
			 (json_int_t)l.r_mbytes_per_sec, "w_mbytes_per_sec",
			 (json_int_t)l.w_mbytes_per_sec);
}

static bool
has_limits(const struct spur_bdev *bdev)
{
	const uint64_t *l = bdev->internal->qos_limits;

	return (l[0] | l[1] | l[2] | l[3]) != 0;
}

static void
bdev_subsystem_write_config(json_t *config)
{
	struct spur_bdev *bdev;
	json_t *params;

	if (memcmp(&g_bdev_opts, &g_default_opts, sizeof(g_bdev_opts)) != 0) {
		params = options_params_json();
		spur_bdev_config_add(config, "bdev_set_options", params);
		json_decref(params);
	}
	for (bdev = spur_bdev_first(); bdev != NULL; bdev = spur_bdev_next(bdev)) {
		if (atomic_load(&bdev->internal->status) != BDEV_STATE_REGISTERED) {
			continue;
		}
		if (bdev->fn_table->write_config_json != NULL) {
			bdev->fn_table->write_config_json(bdev, config);
		}
	}
	for (bdev = spur_bdev_first(); bdev != NULL; bdev = spur_bdev_next(bdev)) {
		if (atomic_load(&bdev->internal->status) == BDEV_STATE_REGISTERED &&
		    has_limits(bdev)) {
			params = qos_params_json(bdev);
			spur_bdev_config_add(config, "bdev_set_qos_limit", params);
			json_decref(params);
		}
	}
}

static json_t *
make_call(const char *method, json_t *params)
{
	return json_pack("{s:s, s:o}", "method", method, "params", params);
}

static json_t *
bdev_subsystem_undo_call(const char *method, json_t *params)
{
	for (size_t i = 0; i < g_bdev_mgr.num_modules; i++) {
		const struct spur_bdev_module *m = g_bdev_mgr.modules[i];

		for (size_t k = 0; k < m->num_methods; k++) {
			if (strcmp(m->methods[k].name, method) == 0) {
				return m->undo_call != NULL ? m->undo_call(method, params) : NULL;
			}
		}
	}
	if (strcmp(method, "bdev_set_qos_limit") == 0) {
		json_t *name = params != NULL ? json_object_get(params, "name") : NULL;
		struct spur_bdev *bdev = json_is_string(name) ?
					 spur_bdev_get_by_name(json_string_value(name)) : NULL;

		return bdev != NULL ? make_call(method, qos_params_json(bdev)) : NULL;
	}
	if (strcmp(method, "bdev_set_options") == 0) {
		return make_call(method, options_params_json());
	}
	return NULL;
}

const struct spur_subsystem spur_bdev_subsystem = {
	.name = "bdev",
	.init = bdev_subsystem_init,
	.fini = bdev_subsystem_fini,
	.write_config = bdev_subsystem_write_config,
	.methods = g_bdev_rpc_methods,
	.num_methods = BDEV_RPC_NUM_METHODS,
	.undo_call = bdev_subsystem_undo_call,
};
