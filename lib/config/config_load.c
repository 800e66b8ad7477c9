/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Applying a configuration in SPDK's save_config format.
 *
 * Two passes. Validation checks the whole document before anything runs:
 * its shape, every subsystem name, every method name, and that every
 * entry's params decode against the method's declared table. Application
 * then calls the entries as in-process RPCs, subsystem by subsystem in the
 * registry's start order (so bdevs come before the controllers that use
 * them, whatever the file's order), entries in file order. When an entry
 * fails, the entries already applied by this load are undone in reverse
 * order through each subsystem's undo_call, so a failed load leaves the
 * daemon as it found it.
 *
 * At start-up a configuration is applied in two phases, as SPDK does: the
 * entries whose methods may run before initialization (options such as
 * bdev_set_options) before the subsystems start, the rest after.
 *
 * Runs on the application thread; in-process calls may complete
 * synchronously or later, and the apply loop handles both without
 * recursion.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spur/config.h"
#include "spur/log.h"

struct config_entry {
	const struct spur_subsystem *subsystem;
	size_t subsystem_index; /* position in the document, for messages */
	size_t config_index;
	const char *method;
	json_t *params; /* borrowed from the document */
};

struct config_load {
	enum spur_config_phase phase;
	json_t *config;
	char *source;
	struct config_entry *entries;
	size_t count;
	size_t next;
	json_t *undo;  /* undo calls of applied entries, in apply order */
	json_t *pending_undo; /* undo of the entry being applied */
	size_t undo_next;
	bool call_in_progress;
	bool in_apply_loop;
	int code;
	char message[1024];
	spur_config_done_fn done;
	void *done_ctx;
};

json_t *
spur_config_read_file(const char *path, char *err, size_t err_len)
{
	json_error_t jerr;
	json_t *config = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);

	if (config == NULL) {
		if (jerr.line > 0)
			snprintf(err, err_len, "%s: line %d, column %d: %s", path, jerr.line,
				 jerr.column, jerr.text);
		else
			snprintf(err, err_len, "%s: %s", path, jerr.text);
	}
	return config;
}

static void
load_free(struct config_load *load)
{
	json_decref(load->config);
	json_decref(load->undo);
	free(load->entries);
	free(load->source);
	free(load);
}

static void
load_finish(struct config_load *load)
{
	load->done(load->done_ctx, load->code, load->code ? load->message : NULL);
	load_free(load);
}

struct position_find {
	const struct spur_subsystem *want;
	size_t pos;
	size_t found;
};

static void
position_visit(const struct spur_subsystem *s, void *ctx)
{
	struct position_find *find = ctx;

	if (s == find->want)
		find->found = find->pos;
	find->pos++;
}

/* Position in the registry, for ordering the entries. */
static size_t
registry_position(const struct spur_subsystem *subsystem)
{
	struct position_find find = {subsystem, 0, SIZE_MAX};

	spur_subsystem_for_each(position_visit, &find);
	return find.found;
}

static int
entry_order(const void *a, const void *b)
{
	const struct config_entry *x = a, *y = b;
	size_t px = registry_position(x->subsystem), py = registry_position(y->subsystem);

	if (px != py)
		return px < py ? -1 : 1;
	if (x->subsystem_index != y->subsystem_index)
		return x->subsystem_index < y->subsystem_index ? -1 : 1;
	return x->config_index < y->config_index ? -1 : (x->config_index > y->config_index);
}

#define FAIL(load, ...)                                                              \
	do {                                                                         \
		snprintf((load)->message, sizeof((load)->message), __VA_ARGS__);     \
		(load)->code = SPUR_RPC_ERROR_INVALID_PARAMS;                        \
		return -EINVAL;                                                      \
	} while (0)

static int
validate_entry(struct config_load *load, const struct spur_subsystem *s, size_t si, size_t ci,
	       json_t *entry)
{
	const char *src = load->source;
	json_t *method = json_object_get(entry, "method");
	json_t *params = json_object_get(entry, "params");
	const struct spur_rpc_method *m;
	char err[512];
	void *buf;
	int rc;

	if (!json_is_object(entry))
		FAIL(load, "%s: subsystem '%s', config[%zu]: entry must be an object", src, s->name, ci);
	if (!json_is_string(method))
		FAIL(load, "%s: subsystem '%s', config[%zu]: 'method' must be a string", src, s->name,
		     ci);
	m = spur_rpc_find_method(json_string_value(method));
	if (m == NULL)
		FAIL(load, "%s: subsystem '%s', config[%zu]: unknown method '%s'", src, s->name, ci,
		     json_string_value(method));
	if (params != NULL && !json_is_object(params) && !json_is_null(params))
		FAIL(load, "%s: subsystem '%s', config[%zu] (%s): 'params' must be an object", src,
		     s->name, ci, m->name);
	if (!m->raw_params) {
		buf = calloc(1, m->params_size ? m->params_size : 1);
		if (buf == NULL)
			return -ENOMEM;
		rc = spur_rpc_decode_params(m, params, buf, err, sizeof(err));
		free(buf);
		if (rc != 0)
			FAIL(load, "%s: subsystem '%s', config[%zu] (%s): %s", src, s->name, ci,
			     m->name, err);
	}
	/* Every entry is validated; only those of this phase are applied. */
	if ((load->phase == SPUR_CONFIG_STARTUP && !(m->states & SPUR_RPC_STARTUP)) ||
	    (load->phase == SPUR_CONFIG_RUNTIME && (m->states & SPUR_RPC_STARTUP)))
		return 0;
	load->entries[load->count++] = (struct config_entry){
		.subsystem = s,
		.subsystem_index = si,
		.config_index = ci,
		.method = m->name,
		.params = params,
	};
	return 0;
}

static int
validate(struct config_load *load)
{
	json_t *subsystems = json_object_get(load->config, "subsystems");
	const char *src = load->source;
	size_t total = 0, si, ci;
	json_t *sub, *entry;

	if (!json_is_object(load->config))
		FAIL(load, "%s: the configuration must be a JSON object", src);
	if (!json_is_array(subsystems))
		FAIL(load, "%s: 'subsystems' must be an array", src);
	json_array_foreach(subsystems, si, sub) {
		json_t *config = json_object_get(sub, "config");

		if (!json_is_object(sub) || !json_is_string(json_object_get(sub, "subsystem")))
			FAIL(load, "%s: subsystems[%zu]: 'subsystem' must be a string", src, si);
		if (config != NULL && !json_is_array(config) && !json_is_null(config))
			FAIL(load, "%s: subsystems[%zu]: 'config' must be an array", src, si);
		total += json_is_array(config) ? json_array_size(config) : 0;
	}
	load->entries = calloc(total ? total : 1, sizeof(*load->entries));
	if (load->entries == NULL)
		return -ENOMEM;
	json_array_foreach(subsystems, si, sub) {
		const char *name = json_string_value(json_object_get(sub, "subsystem"));
		json_t *config = json_object_get(sub, "config");
		const struct spur_subsystem *s = spur_subsystem_find(name);
		int rc;

		if (s == NULL) {
			/*
			 * SPDK configs carry subsystems spur has no use for
			 * (accel, iobuf, sock, ...); an empty one is harmless.
			 */
			if (!json_is_array(config) || json_array_size(config) == 0) {
				SPUR_NOTICELOG("%s: ignoring empty subsystem '%s'", src, name);
				continue;
			}
			FAIL(load, "%s: subsystems[%zu]: unknown subsystem '%s'", src, si, name);
		}
		if (!json_is_array(config))
			continue;
		json_array_foreach(config, ci, entry) {
			rc = validate_entry(load, s, si, ci, entry);
			if (rc != 0)
				return rc;
		}
	}
	qsort(load->entries, load->count, sizeof(*load->entries), entry_order);
	return 0;
}

static void undo_next(struct config_load *load);

static void
undo_cb(void *ctx, int code, const char *message, json_t *result)
{
	struct config_load *load = ctx;

	(void)result;
	if (code != 0)
		SPUR_WARNLOG("%s: rolling back failed: %s", load->source, message);
	load->call_in_progress = false;
	if (!load->in_apply_loop)
		undo_next(load);
}

/* Undo in reverse apply order, then report the failure. */
static void
undo_next(struct config_load *load)
{
	load->in_apply_loop = true;
	while (load->undo_next > 0) {
		json_t *call = json_array_get(load->undo, --load->undo_next);

		load->call_in_progress = true;
		spur_rpc_call(json_string_value(json_object_get(call, "method")),
			      json_object_get(call, "params"), undo_cb, load);
		if (load->call_in_progress) {
			load->in_apply_loop = false;
			return;
		}
	}
	load->in_apply_loop = false;
	load_finish(load);
}

static void apply_next(struct config_load *load);

static void
apply_cb(void *ctx, int code, const char *message, json_t *result)
{
	struct config_load *load = ctx;
	struct config_entry *e = &load->entries[load->next];

	(void)result;
	if (code != 0) {
		load->code = code;
		snprintf(load->message, sizeof(load->message), "%s: subsystem '%s', config[%zu] (%s): %s",
			 load->source, e->subsystem->name, e->config_index, e->method, message);
	} else {
		if (load->pending_undo != NULL)
			json_array_append(load->undo, load->pending_undo);
		load->next++;
	}
	json_decref(load->pending_undo);
	load->pending_undo = NULL;
	load->call_in_progress = false;
	if (!load->in_apply_loop)
		apply_next(load);
}

static void
apply_next(struct config_load *load)
{
	load->in_apply_loop = true;
	while (load->code == 0 && load->next < load->count) {
		struct config_entry *e = &load->entries[load->next];

		/* Built before the call: it restores the state the call changes. */
		load->pending_undo = e->subsystem->undo_call
					     ? e->subsystem->undo_call(e->method, e->params)
					     : NULL;
		load->call_in_progress = true;
		spur_rpc_call(e->method, e->params, apply_cb, load);
		if (load->call_in_progress) {
			load->in_apply_loop = false;
			return;
		}
	}
	load->in_apply_loop = false;
	if (load->code != 0) {
		/* The caller reports the message; rolling back is logged here. */
		if (json_array_size(load->undo) > 0)
			SPUR_NOTICELOG("%s: undoing %zu applied entries", load->source,
				       json_array_size(load->undo));
		load->undo_next = json_array_size(load->undo);
		undo_next(load);
		return;
	}
	load_finish(load);
}

void
spur_config_apply(json_t *config, const char *source, spur_config_done_fn done, void *ctx)
{
	spur_config_apply_phase(config, source, SPUR_CONFIG_ALL, done, ctx);
}

void
spur_config_apply_phase(json_t *config, const char *source, enum spur_config_phase phase,
			spur_config_done_fn done, void *ctx)
{
	struct config_load *load = calloc(1, sizeof(*load));
	int rc;

	if (load == NULL) {
		done(ctx, -ENOMEM, "out of memory");
		return;
	}
	load->phase = phase;
	load->config = json_incref(config);
	load->source = strdup(source ? source : "configuration");
	load->undo = json_array();
	load->done = done;
	load->done_ctx = ctx;
	if (load->source == NULL || load->undo == NULL) {
		load_free(load);
		done(ctx, -ENOMEM, "out of memory");
		return;
	}
	rc = validate(load);
	if (rc != 0) {
		if (load->code == 0) {
			load->code = rc;
			snprintf(load->message, sizeof(load->message), "%s: %s", load->source,
				 strerror(-rc));
		}
		load_finish(load);
		return;
	}
	apply_next(load);
}
