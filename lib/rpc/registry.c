/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The method registry, the framework state and lib/rpc's own methods.
 *
 * Owns: an array of pointers to registered struct spur_rpc_method (the
 * tables themselves belong to their registrants and must outlive the
 * registration), in registration order, and the current framework state
 * (SPUR_RPC_STARTUP or SPUR_RPC_RUNTIME, default RUNTIME).
 *
 * Invariants: every name and alias is unique across the registry (a
 * duplicate is a programming error and aborts); the array only grows until
 * spur_rpc_unregister_all.
 *
 * Threading: registration happens at start-up or on the application thread;
 * lookups run on the application thread. No locking.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spur/log.h"
#include "spur/rpc.h"
#include "spur/util.h"

static const struct spur_rpc_method **g_methods;
static size_t g_num_methods;
static size_t g_cap_methods;
static uint32_t g_state = SPUR_RPC_RUNTIME;

static bool
method_answers_to(const struct spur_rpc_method *m, const char *name)
{
	const char *const *a;

	if (strcmp(m->name, name) == 0)
		return true;
	for (a = m->aliases; a != NULL && *a != NULL; a++) {
		if (strcmp(*a, name) == 0)
			return true;
	}
	return false;
}

const struct spur_rpc_method *
spur_rpc_find_method(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < g_num_methods; i++) {
		if (method_answers_to(g_methods[i], name))
			return g_methods[i];
	}
	return NULL;
}

static void
check_unique(const char *name)
{
	if (spur_rpc_find_method(name) != NULL) {
		SPUR_ERRLOG("RPC method '%s' registered twice", name);
		abort();
	}
}

void
spur_rpc_register_methods(const struct spur_rpc_method *methods, size_t count)
{
	const char *const *a;
	size_t i;

	for (i = 0; i < count; i++) {
		const struct spur_rpc_method *m = &methods[i];

		if (m->name == NULL || m->handler == NULL) {
			SPUR_ERRLOG("RPC method table entry %zu has no name or handler", i);
			abort();
		}
		check_unique(m->name);
		for (a = m->aliases; a != NULL && *a != NULL; a++)
			check_unique(*a);
		if (g_num_methods == g_cap_methods) {
			size_t cap = g_cap_methods ? g_cap_methods * 2 : 64;
			const struct spur_rpc_method **n = realloc(g_methods, cap * sizeof(*n));

			if (n == NULL) {
				SPUR_ERRLOG("out of memory registering RPC methods");
				abort();
			}
			g_methods = n;
			g_cap_methods = cap;
		}
		g_methods[g_num_methods++] = m;
	}
}

void
spur_rpc_unregister_all(void)
{
	free(g_methods);
	g_methods = NULL;
	g_num_methods = 0;
	g_cap_methods = 0;
}

void
spur_rpc_for_each_method(void (*fn)(const struct spur_rpc_method *m, void *ctx), void *ctx)
{
	size_t i;

	for (i = 0; i < g_num_methods; i++)
		fn(g_methods[i], ctx);
}

void
spur_rpc_set_state(uint32_t state)
{
	if (state != SPUR_RPC_STARTUP && state != SPUR_RPC_RUNTIME) {
		SPUR_ERRLOG("invalid RPC state 0x%x ignored", state);
		return;
	}
	g_state = state;
}

uint32_t
spur_rpc_get_state(void)
{
	return g_state;
}

/* ---- built-in methods ------------------------------------------------------ */

struct get_methods_params {
	bool current;
	bool include_aliases;
};

static const struct spur_rpc_param g_get_methods_params[] = {
	{"current", SPUR_RPC_BOOL, false, false, 0, 0, offsetof(struct get_methods_params, current),
	 "only list methods callable in the current state"},
	{"include_aliases", SPUR_RPC_BOOL, false, false, 0, 0,
	 offsetof(struct get_methods_params, include_aliases), "also list deprecated alias names"},
};

/* Appends one name; a failed append means out of memory, checked at the end. */
static int
append_name(json_t *list, const char *name)
{
	return json_array_append_new(list, json_string(name));
}

static void
rpc_get_methods(struct spur_rpc_request *req, void *arg)
{
	const struct get_methods_params *p = arg;
	const char *const *a;
	json_t *list = json_array();
	int rc = list == NULL ? -1 : 0;
	size_t i;

	for (i = 0; rc == 0 && i < g_num_methods; i++) {
		const struct spur_rpc_method *m = g_methods[i];

		if (p->current && (m->states & g_state) == 0)
			continue;
		rc |= append_name(list, m->name);
		for (a = m->aliases; p->include_aliases && a != NULL && *a != NULL; a++)
			rc |= append_name(list, *a);
	}
	if (rc != 0) {
		json_decref(list);
		spur_rpc_error(req, -ENOMEM, "out of memory");
		return;
	}
	spur_rpc_reply(req, list);
}

struct get_schemas_params {
	const char *name;
};

static const struct spur_rpc_param g_get_schemas_params[] = {
	{"name", SPUR_RPC_STRING, false, false, 0, 0, offsetof(struct get_schemas_params, name),
	 "only this method (or alias)"},
};

/* Integers beyond json_int_t's range are rendered as reals. */
static json_t *
json_u64(uint64_t v)
{
	return v <= (uint64_t)INT64_MAX ? json_integer((json_int_t)v) : json_real((double)v);
}

static json_t *
param_schema(const struct spur_rpc_param *p)
{
	json_t *o = json_pack("{s:s, s:s, s:b, s:s}", "name", p->name, "type",
			      spur_rpc_type_name(p->type), "required", p->required, "help",
			      p->help ? p->help : "");

	if (o != NULL && p->has_bounds) {
		json_object_set_new(o, "min", json_integer(p->min));
		json_object_set_new(o, "max", json_u64(p->max));
	}
	return o;
}

static json_t *
method_schema(const struct spur_rpc_method *m)
{
	json_t *o, *aliases, *states, *params;
	const char *const *a;
	size_t i;

	aliases = json_array();
	for (a = m->aliases; aliases != NULL && a != NULL && *a != NULL; a++)
		json_array_append_new(aliases, json_string(*a));
	states = json_array();
	if (states != NULL && (m->states & SPUR_RPC_STARTUP))
		json_array_append_new(states, json_string("startup"));
	if (states != NULL && (m->states & SPUR_RPC_RUNTIME))
		json_array_append_new(states, json_string("runtime"));
	params = json_array();
	for (i = 0; params != NULL && i < m->num_params; i++)
		json_array_append_new(params, param_schema(&m->params[i]));
	/* "o" steals the three arrays, and json_pack fails if any is NULL. */
	o = json_pack("{s:s, s:s, s:o, s:o, s:b, s:b, s:o}", "name", m->name, "help",
		      m->help ? m->help : "", "aliases", aliases, "states", states, "raw_params",
		      m->raw_params, "changes_config", m->changes_config, "params", params);
	return o;
}

static void
rpc_get_method_schemas(struct spur_rpc_request *req, void *arg)
{
	const struct get_schemas_params *p = arg;
	const struct spur_rpc_method *m;
	json_t *list = json_array();
	json_t *s;
	size_t i;

	if (list == NULL)
		goto nomem;
	if (p->name != NULL) {
		m = spur_rpc_find_method(p->name);
		if (m == NULL) {
			json_decref(list);
			spur_rpc_error(req, -ENOENT, "Method not found: %.128s", p->name);
			return;
		}
		s = method_schema(m);
		if (s == NULL || json_array_append_new(list, s) != 0)
			goto nomem;
	} else {
		for (i = 0; i < g_num_methods; i++) {
			s = method_schema(g_methods[i]);
			if (s == NULL || json_array_append_new(list, s) != 0)
				goto nomem;
		}
	}
	spur_rpc_reply(req, list);
	return;
nomem:
	json_decref(list);
	spur_rpc_error(req, -ENOMEM, "out of memory");
}

static const struct spur_rpc_method g_builtin_methods[] = {
	{
		.name = "rpc_get_methods",
		.help = "List the names of the registered RPC methods",
		.params = g_get_methods_params,
		.num_params = SPUR_COUNTOF(g_get_methods_params),
		.params_size = sizeof(struct get_methods_params),
		.handler = rpc_get_methods,
		.states = SPUR_RPC_STARTUP | SPUR_RPC_RUNTIME,
	},
	{
		.name = "spur_get_method_schemas",
		.help = "Describe RPC methods and their parameters (used by spurctl)",
		.params = g_get_schemas_params,
		.num_params = SPUR_COUNTOF(g_get_schemas_params),
		.params_size = sizeof(struct get_schemas_params),
		.handler = rpc_get_method_schemas,
		.states = SPUR_RPC_STARTUP | SPUR_RPC_RUNTIME,
	},
};

void
spur_rpc_register_builtin_methods(void)
{
	if (spur_rpc_find_method(g_builtin_methods[0].name) == &g_builtin_methods[0])
		return;
	spur_rpc_register_methods(g_builtin_methods, SPUR_COUNTOF(g_builtin_methods));
}
