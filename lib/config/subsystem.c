/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The subsystem registry and start/stop sequencing.
 *
 * Subsystems are registered once, at start-up, in dependency order (the
 * registration order is the start order); a subsystem naming a dependency
 * that was not registered before it is a programming error and aborts.
 * Init runs the subsystems one after another, each continuing from its done
 * callback; fini walks back from the last one that was initialized. Both run
 * on the application thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spur/config.h"
#include "spur/log.h"

#define MAX_SUBSYSTEMS 32

static const struct spur_subsystem *g_subsystems[MAX_SUBSYSTEMS];
static size_t g_count;
/* Number of subsystems whose init completed, i.e. that need a fini. */
static size_t g_initialized;
static size_t g_step;
static spur_subsystem_done_fn g_done;

void
spur_subsystem_register(const struct spur_subsystem *subsystem)
{
	if (g_count == MAX_SUBSYSTEMS || spur_subsystem_find(subsystem->name) != NULL) {
		SPUR_ERRLOG("cannot register subsystem %s", subsystem->name);
		abort();
	}
	for (const char *const *dep = subsystem->depends_on; dep && *dep; dep++) {
		if (spur_subsystem_find(*dep) == NULL) {
			SPUR_ERRLOG("subsystem %s depends on %s, which is not registered before it",
				    subsystem->name, *dep);
			abort();
		}
	}
	g_subsystems[g_count++] = subsystem;
	if (subsystem->num_methods > 0)
		spur_rpc_register_methods(subsystem->methods, subsystem->num_methods);
}

const struct spur_subsystem *
spur_subsystem_find(const char *name)
{
	for (size_t i = 0; i < g_count; i++) {
		if (strcmp(g_subsystems[i]->name, name) == 0)
			return g_subsystems[i];
	}
	return NULL;
}

void
spur_subsystem_for_each(void (*fn)(const struct spur_subsystem *s, void *ctx), void *ctx)
{
	for (size_t i = 0; i < g_count; i++)
		fn(g_subsystems[i], ctx);
}

void
spur_subsystem_unregister_all(void)
{
	g_count = 0;
	g_initialized = 0;
}

static void init_next(int status);

static void
init_step_done(int status)
{
	if (status != 0) {
		SPUR_ERRLOG("subsystem %s failed to start: %s", g_subsystems[g_step]->name,
			    strerror(-status));
		g_done(status);
		return;
	}
	g_initialized = ++g_step;
	init_next(0);
}

static void
init_next(int status)
{
	while (g_step < g_count && g_subsystems[g_step]->init == NULL)
		g_initialized = ++g_step;
	if (g_step == g_count) {
		g_done(status);
		return;
	}
	SPUR_DEBUGLOG("app", "starting subsystem %s", g_subsystems[g_step]->name);
	g_subsystems[g_step]->init(init_step_done);
}

void
spur_subsystems_init(spur_subsystem_done_fn done)
{
	g_done = done;
	g_step = 0;
	g_initialized = 0;
	init_next(0);
}

static void fini_next(void);

static void
fini_step_done(int status)
{
	(void)status;
	fini_next();
}

static void
fini_next(void)
{
	while (g_initialized > 0) {
		const struct spur_subsystem *s = g_subsystems[--g_initialized];

		if (s->fini != NULL) {
			SPUR_DEBUGLOG("app", "stopping subsystem %s", s->name);
			s->fini(fini_step_done);
			return;
		}
	}
	g_done(0);
}

void
spur_subsystems_fini(spur_subsystem_done_fn done)
{
	g_done = done;
	fini_next();
}
