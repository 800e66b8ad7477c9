/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Writing the running configuration in SPDK's save_config format: every
 * registered subsystem in start order, each with the calls that rebuild its
 * objects, so applying the result to a fresh daemon gives the same state.
 * Runs on the application thread (subsystem writers read their registries).
 */
#include "spur/config.h"

static void
dump_one(const struct spur_subsystem *s, void *ctx)
{
	json_t *subsystems = ctx;
	json_t *config = json_array();

	if (s->write_config != NULL)
		s->write_config(config);
	json_array_append_new(subsystems,
			      json_pack("{s:s, s:o}", "subsystem", s->name, "config", config));
}

json_t *
spur_config_dump(void)
{
	json_t *subsystems = json_array();

	spur_subsystem_for_each(dump_one, subsystems);
	return json_pack("{s:o}", "subsystems", subsystems);
}
