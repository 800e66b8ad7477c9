/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The application framework: start-up and shutdown of the daemon around the
 * runtime. spur_app_run() starts the reactors, the RPC server, the registered
 * subsystems and the configuration, then serves until a signal or
 * spdk_kill_instance; shutdown stops the RPC listener, then the subsystems
 * in reverse order, then the reactors.
 *
 * States: STARTING -> (WAITING_FOR_RPC ->) INITIALIZING -> RUNNING -> STOPPING.
 */
#ifndef SPUR_APP_H
#define SPUR_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spur/thread.h"

struct spur_app_opts {
	size_t size;                 /* sizeof(struct spur_app_opts) */
	const char *name;            /* shows in logs */
	const char *config_file;     /* -c: applied after the subsystems start */
	const char *config_text;     /* or an in-memory configuration */
	const char *config_source;   /* name of config_text in messages */
	const char *rpc_path;        /* -r */
	const char *vhost_dir;       /* -S: directory for vhost sockets */
	struct spur_cpuset cpumask;  /* -m */
	enum spur_poll_mode poll_mode;
	bool wait_for_rpc;           /* apply configuration on framework_start_init */
	uint32_t rpc_idle_timeout_ms;
	/*
	 * Optional: called on the app thread once subsystems and the
	 * configuration are up (tools such as spur_bdevperf start work here
	 * and end with spur_app_stop()).
	 */
	void (*on_running)(void *ctx);
	void *on_running_ctx;
	/* Tools: do not start the RPC server. */
	bool no_rpc_server;
	/*
	 * Write the running configuration to config_file after every
	 * successful change (atomically). A missing config_file then means
	 * "start empty".
	 */
	bool config_autosave;
};
void spur_app_opts_init(struct spur_app_opts *opts, size_t size);

/*
 * Run the daemon on the calling OS thread until it stops. Returns the exit
 * status: 0 after a clean shutdown, 1 when start-up failed.
 */
int spur_app_run(const struct spur_app_opts *opts);
/* Begin a clean shutdown with this exit status (any thread). */
void spur_app_stop(int status);
/* True once subsystems and configuration are up. */
bool spur_app_is_running(void);
/* The -S directory ("." when not given). */
const char *spur_app_get_vhost_dir(void);

/* Registers the framework RPCs (framework_*, thread_*, save/load_config, ...). */
void spur_app_register_rpcs(void);

/* The "log" subsystem: log_* RPCs, log level and flags in save_config. */
struct spur_subsystem;
extern const struct spur_subsystem spur_log_subsystem;

#endif
