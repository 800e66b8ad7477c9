/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The daemon's lifecycle around the runtime.
 *
 *   STARTING --(--wait-for-rpc)--> WAITING --framework_start_init--+
 *      |                                                            v
 *      +------------------------------------------------------> INITIALIZING
 *                                                                   |
 *   subsystems started, configuration applied                       v
 *                                                                RUNNING
 *   signal, spdk_kill_instance or a start-up failure                |
 *                                                                   v
 *                                                                STOPPING
 *
 * STOPPING closes the RPC listener, stops the subsystems that started (in
 * reverse order), then asks the reactors to stop. Everything here runs on
 * the application thread except spur_app_stop() and the signal handler,
 * which only hand over to it (a message, an eventfd write). A second
 * SIGINT/SIGTERM while stopping exits at once.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "app_internal.h"
#include "spur/app.h"
#include "spur/config.h"
#include "spur/log.h"

enum app_state {
	APP_STARTING,
	APP_WAITING,
	APP_INITIALIZING,
	APP_RUNNING,
	APP_STOPPING,
};

#define MAX_WAITERS 256

static struct {
	struct spur_app_opts opts;
	enum app_state state;
	int exit_status;
	json_t *config;
	int signal_fd;
	struct spur_poller *signal_poller;
	struct spur_rpc_request *waiters[MAX_WAITERS];
	size_t num_waiters;
	struct spur_rpc_request *start_init_req;
} g_app = {.signal_fd = -1};

static volatile sig_atomic_t g_signal_count;

void
spur_app_opts_init(struct spur_app_opts *opts, size_t size)
{
	struct spur_app_opts defaults = {
		.size = size,
		.name = "spur",
		.rpc_path = "/var/tmp/spur.sock",
		.vhost_dir = ".",
		.poll_mode = SPUR_POLL_ADAPTIVE,
		.rpc_idle_timeout_ms = 60000,
	};

	spur_cpuset_zero(&defaults.cpumask);
	spur_cpuset_set(&defaults.cpumask, 0);
	memcpy(opts, &defaults, SPUR_MIN(size, sizeof(defaults)));
}

bool
spur_app_is_running(void)
{
	return g_app.state == APP_RUNNING;
}

const char *
spur_app_get_vhost_dir(void)
{
	return g_app.opts.vhost_dir;
}

static void
on_signal(int signo)
{
	uint64_t one = 1;
	ssize_t rc;

	(void)signo;
	if (++g_signal_count > 1)
		_exit(1);
	rc = write(g_app.signal_fd, &one, sizeof(one));
	(void)rc;
}

static void app_shutdown(void *ctx);

static int
signal_poll(void *ctx)
{
	uint64_t value;

	(void)ctx;
	if (read(g_app.signal_fd, &value, sizeof(value)) != sizeof(value))
		return SPUR_POLLER_IDLE;
	SPUR_NOTICELOG("signal received, shutting down");
	app_shutdown((void *)(intptr_t)0);
	return SPUR_POLLER_BUSY;
}

static void
reply_waiters(int code, const char *message)
{
	for (size_t i = 0; i < g_app.num_waiters; i++) {
		if (code == 0)
			spur_rpc_reply_bool(g_app.waiters[i], true);
		else
			spur_rpc_error(g_app.waiters[i], code, "%s", message);
	}
	g_app.num_waiters = 0;
	if (g_app.start_init_req != NULL) {
		if (code == 0)
			spur_rpc_reply_bool(g_app.start_init_req, true);
		else
			spur_rpc_error(g_app.start_init_req, code, "%s", message);
		g_app.start_init_req = NULL;
	}
}

static void
config_applied(void *ctx, int code, const char *message)
{
	(void)ctx;
	if (code != 0) {
		SPUR_ERRLOG("%s", message);
		reply_waiters(code, message);
		app_shutdown((void *)(intptr_t)1);
		return;
	}
	g_app.state = APP_RUNNING;
	spur_rpc_set_state(SPUR_RPC_RUNTIME);
	reply_waiters(0, NULL);
	if (g_app.opts.no_rpc_server)
		SPUR_NOTICELOG("%s is ready", g_app.opts.name);
	else
		SPUR_NOTICELOG("%s is ready; JSON-RPC on %s", g_app.opts.name,
			       g_app.opts.rpc_path);
	if (g_app.opts.on_running != NULL)
		g_app.opts.on_running(g_app.opts.on_running_ctx);
}

static void
subsystems_started(int status)
{
	if (g_app.state == APP_STOPPING)
		return;
	if (status != 0) {
		reply_waiters(SPUR_RPC_ERROR_INTERNAL, "subsystem start failed");
		app_shutdown((void *)(intptr_t)1);
		return;
	}
	spur_rpc_set_state(SPUR_RPC_RUNTIME);
	if (g_app.config == NULL) {
		config_applied(NULL, 0, NULL);
		return;
	}
	spur_config_apply_phase(g_app.config, g_app.opts.config_source, SPUR_CONFIG_RUNTIME,
				config_applied, NULL);
}

/* The configuration's start-up entries ran; now start the subsystems. */
static void
startup_config_applied(void *ctx, int code, const char *message)
{
	(void)ctx;
	if (code != 0) {
		config_applied(NULL, code, message);
		return;
	}
	spur_subsystems_init(subsystems_started);
}

static void
app_init(void)
{
	g_app.state = APP_INITIALIZING;
	if (g_app.config == NULL) {
		spur_subsystems_init(subsystems_started);
		return;
	}
	spur_rpc_set_state(SPUR_RPC_STARTUP);
	spur_config_apply_phase(g_app.config, g_app.opts.config_source, SPUR_CONFIG_STARTUP,
				startup_config_applied, NULL);
}

void
app_wait_init(struct spur_rpc_request *req)
{
	if (g_app.state == APP_RUNNING) {
		spur_rpc_reply_bool(req, true);
		return;
	}
	if (g_app.state == APP_STOPPING || g_app.num_waiters == MAX_WAITERS) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_STATE, "spur is stopping");
		return;
	}
	g_app.waiters[g_app.num_waiters++] = req;
}

void
app_start_init(struct spur_rpc_request *req)
{
	if (g_app.state != APP_WAITING) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_STATE,
			       "framework_start_init was already called");
		return;
	}
	g_app.start_init_req = req;
	app_init();
}

static void
subsystems_stopped(int status)
{
	(void)status;
	spur_poller_unregister(&g_app.signal_poller);
	app_autosave_stop();
	SPUR_NOTICELOG("%s stopped", g_app.opts.name);
	spur_env_stop();
}

/* On the app thread; ctx carries the exit status. */
static void
app_shutdown(void *ctx)
{
	int status = (int)(intptr_t)ctx;

	if (g_app.state == APP_STOPPING)
		return;
	if (status != 0 && g_app.exit_status == 0)
		g_app.exit_status = status;
	g_app.state = APP_STOPPING;
	reply_waiters(SPUR_RPC_ERROR_INVALID_STATE, "spur is stopping");
	spur_rpc_server_stop();
	spur_subsystems_fini(subsystems_stopped);
}

void
spur_app_stop(int status)
{
	struct spur_thread *app = spur_get_app_thread();

	if (app == NULL || spur_thread_send_msg(app, app_shutdown, (void *)(intptr_t)status) != 0)
		SPUR_ERRLOG("cannot deliver the stop request");
}

static void
app_start(void *ctx)
{
	struct spur_rpc_server_opts rpc_opts;
	int rc;

	(void)ctx;
	g_app.signal_poller = spur_poller_register(signal_poll, NULL, 1000000, "app_signal");
	if (g_app.signal_poller == NULL ||
	    spur_poller_add_fd(g_app.signal_poller, g_app.signal_fd, EPOLLIN) != 0) {
		SPUR_ERRLOG("cannot watch for signals");
		app_shutdown((void *)(intptr_t)1);
		return;
	}
	if (g_app.opts.no_rpc_server)
		goto started;
	spur_rpc_server_opts_init(&rpc_opts, sizeof(rpc_opts));
	rpc_opts.path = g_app.opts.rpc_path;
	rpc_opts.idle_timeout_ms = g_app.opts.rpc_idle_timeout_ms;
	rc = spur_rpc_server_start(&rpc_opts);
	if (rc != 0) {
		SPUR_ERRLOG("cannot serve JSON-RPC on %s: %s", g_app.opts.rpc_path, strerror(-rc));
		app_shutdown((void *)(intptr_t)1);
		return;
	}
started:
	if (g_app.opts.wait_for_rpc) {
		g_app.state = APP_WAITING;
		spur_rpc_set_state(SPUR_RPC_STARTUP);
		SPUR_NOTICELOG("waiting for framework_start_init on %s", g_app.opts.rpc_path);
		return;
	}
	app_init();
}

static int
load_config(void)
{
	char err[1024];
	json_error_t jerr;

	if (g_app.opts.config_file != NULL && g_app.opts.config_autosave &&
	    access(g_app.opts.config_file, F_OK) != 0 && errno == ENOENT) {
		SPUR_NOTICELOG("%s does not exist yet; starting empty, it is written on the "
			       "first change", g_app.opts.config_file);
		return 0;
	}
	if (g_app.opts.config_file != NULL) {
		g_app.config = spur_config_read_file(g_app.opts.config_file, err, sizeof(err));
		if (g_app.config == NULL) {
			SPUR_ERRLOG("%s", err);
			return -EINVAL;
		}
		if (g_app.opts.config_source == NULL)
			g_app.opts.config_source = g_app.opts.config_file;
	} else if (g_app.opts.config_text != NULL) {
		g_app.config = json_loads(g_app.opts.config_text, JSON_REJECT_DUPLICATES, &jerr);
		if (g_app.config == NULL) {
			SPUR_ERRLOG("%s: line %d, column %d: %s", g_app.opts.config_source, jerr.line,
				    jerr.column, jerr.text);
			return -EINVAL;
		}
	}
	return 0;
}

static int
install_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
	struct sigaction ign = {.sa_handler = SIG_IGN};

	g_app.signal_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (g_app.signal_fd < 0)
		return -errno;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGPIPE, &ign, NULL);
	return 0;
}

int
spur_app_run(const struct spur_app_opts *opts)
{
	struct spur_env_opts env_opts;
	int rc;

	spur_app_opts_init(&g_app.opts, sizeof(g_app.opts));
	memcpy(&g_app.opts, opts, SPUR_MIN(opts->size, sizeof(g_app.opts)));
	if (g_app.opts.config_source == NULL && g_app.opts.config_text != NULL)
		g_app.opts.config_source = "embedded configuration";
	if (load_config() != 0)
		return 1;
	spur_env_opts_init(&env_opts, sizeof(env_opts));
	env_opts.cpumask = g_app.opts.cpumask;
	env_opts.poll_mode = g_app.opts.poll_mode;
	rc = spur_env_init(&env_opts);
	if (rc != 0) {
		SPUR_ERRLOG("cannot start reactors: %s", strerror(-rc));
		json_decref(g_app.config);
		return 1;
	}
	if (g_app.opts.config_autosave) {
		rc = app_autosave_start(g_app.opts.config_file);
		if (rc != 0) {
			SPUR_ERRLOG("cannot start configuration autosave: %s", strerror(-rc));
			spur_env_fini();
			return 1;
		}
	}
	if (install_signals() != 0) {
		SPUR_ERRLOG("cannot install signal handlers: %s", strerror(errno));
		spur_env_fini();
		return 1;
	}
	spur_env_run(app_start, NULL);
	app_autosave_stop();
	spur_env_fini();
	json_decref(g_app.config);
	g_app.config = NULL;
	close(g_app.signal_fd);
	g_app.signal_fd = -1;
	return g_app.exit_status;
}
