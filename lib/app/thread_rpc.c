/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Runtime statistics RPCs with SPDK's shapes: framework_get_reactors,
 * thread_get_stats, thread_get_pollers.
 *
 * Each lightweight thread's counters belong to that thread, so they are
 * collected by a spur_for_each_thread() walk: the collector runs on every
 * thread in turn (the walk's message hand-offs order the appends to the
 * shared JSON array) and the reply is sent from the completion on the
 * application thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_internal.h"
#include "spur/log.h"
#include "spur/rpc.h"
#include "spur/thread.h"

enum collect_kind {
	COLLECT_STATS,
	COLLECT_POLLERS,
	COLLECT_REACTORS,
};

struct collect {
	struct spur_rpc_request *req;
	enum collect_kind kind;
	json_t *threads;
	json_t *reactors;
};

struct poller_lists {
	json_t *active, *timed, *paused;
	uint32_t active_count, timed_count, paused_count;
};

static void
add_poller(const struct spur_poller_info *info, void *ctx)
{
	struct poller_lists *l = ctx;
	json_t *p;

	if (info->state == SPUR_POLLER_STATE_PAUSED)
		l->paused_count++;
	else if (info->period_ticks != 0)
		l->timed_count++;
	else
		l->active_count++;
	if (l->active == NULL)
		return;
	p = json_pack("{s:s, s:I, s:s, s:I, s:I}", "name", info->name, "id", (json_int_t)info->id,
		      "state", info->state == SPUR_POLLER_STATE_PAUSED ? "paused" : "waiting",
		      "run_count", (json_int_t)info->run_count, "busy_count",
		      (json_int_t)info->busy_count);
	if (info->period_ticks != 0)
		json_object_set_new(p, "period_ticks", json_integer((json_int_t)info->period_ticks));
	if (info->state == SPUR_POLLER_STATE_PAUSED)
		json_array_append_new(l->paused, p);
	else if (info->period_ticks != 0)
		json_array_append_new(l->timed, p);
	else
		json_array_append_new(l->active, p);
}

/* Runs on each thread in turn. */
static void
collect_one(void *ctx)
{
	struct collect *c = ctx;
	struct spur_thread *t = spur_get_thread();
	struct spur_thread_stats stats;
	struct poller_lists lists = {0};
	char mask[SPUR_CPUSET_STR_LEN];
	json_t *obj;

	spur_thread_get_stats(t, &stats);
	spur_cpuset_fmt(spur_thread_get_cpumask(t), mask, sizeof(mask));
	obj = json_pack("{s:s, s:I, s:s}", "name", spur_thread_get_name(t), "id",
			(json_int_t)spur_thread_get_id(t), "cpumask", mask);
	switch (c->kind) {
	case COLLECT_STATS:
		spur_thread_for_each_poller(t, add_poller, &lists);
		json_object_set_new(obj, "busy", json_integer((json_int_t)stats.busy_ticks));
		json_object_set_new(obj, "idle", json_integer((json_int_t)stats.idle_ticks));
		json_object_set_new(obj, "active_pollers_count", json_integer(lists.active_count));
		json_object_set_new(obj, "timed_pollers_count", json_integer(lists.timed_count));
		json_object_set_new(obj, "paused_pollers_count", json_integer(lists.paused_count));
		break;
	case COLLECT_POLLERS:
		lists.active = json_array();
		lists.timed = json_array();
		lists.paused = json_array();
		spur_thread_for_each_poller(t, add_poller, &lists);
		json_object_set_new(obj, "active_pollers", lists.active);
		json_object_set_new(obj, "timed_pollers", lists.timed);
		json_object_set_new(obj, "paused_pollers", lists.paused);
		break;
	case COLLECT_REACTORS:
		json_object_set_new(obj, "lcore", json_integer(spur_thread_get_core(t)));
		json_object_set_new(obj, "elapsed",
				    json_integer((json_int_t)(stats.busy_ticks + stats.idle_ticks)));
		break;
	}
	json_array_append_new(c->threads, obj);
}

/* User and system CPU time of an OS thread, in clock ticks, from /proc. */
static void
task_times(int tid, json_int_t *usr, json_int_t *sys)
{
	char path[64], buf[1024];
	unsigned long long u = 0, s = 0;
	const char *p;
	FILE *f;

	*usr = *sys = 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "r");
	if (f == NULL)
		return;
	if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL &&
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &u, &s) == 2) {
		*usr = (json_int_t)u;
		*sys = (json_int_t)s;
	}
	fclose(f);
}

static void
add_reactor(const struct spur_reactor_info *info, void *ctx)
{
	struct collect *c = ctx;
	json_t *lw = json_array(), *t;
	json_int_t usr, sys;
	size_t i;

	json_array_foreach(c->threads, i, t) {
		if (json_integer_value(json_object_get(t, "lcore")) == (json_int_t)info->core) {
			json_t *copy = json_deep_copy(t);

			json_object_del(copy, "lcore");
			json_array_append_new(lw, copy);
		}
	}
	task_times(info->tid, &usr, &sys);
	json_array_append_new(c->reactors,
			      json_pack("{s:i, s:i, s:I, s:I, s:b, s:I, s:I, s:i, s:I, s:I, s:o}",
					"lcore", (int)info->core, "tid", info->tid, "busy",
					(json_int_t)info->busy_ticks, "idle",
					(json_int_t)info->idle_ticks, "in_interrupt",
					info->in_interrupt, "sleep_count",
					(json_int_t)info->sleep_count, "wakeup_count",
					(json_int_t)info->wakeup_count, "irq", 0, "sys", sys, "usr",
					usr, "lw_threads", lw));
}

/* On the application thread, after every thread was visited. */
static void
collect_done(void *ctx)
{
	struct collect *c = ctx;
	json_t *result = json_pack("{s:I}", "tick_rate", (json_int_t)spur_get_ticks_hz());

	if (c->kind == COLLECT_REACTORS) {
		c->reactors = json_array();
		spur_env_for_each_reactor(add_reactor, c);
		json_object_set_new(result, "pid", json_integer(getpid()));
		json_object_set_new(result, "reactors", c->reactors);
		json_decref(c->threads);
	} else {
		json_object_set_new(result, "threads", c->threads);
	}
	spur_rpc_reply(c->req, result);
	free(c);
}

static void
start_collect(struct spur_rpc_request *req, enum collect_kind kind)
{
	struct collect *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INTERNAL, "out of memory");
		return;
	}
	c->req = req;
	c->kind = kind;
	c->threads = json_array();
	spur_for_each_thread(collect_one, c, collect_done);
}

static void
rpc_framework_get_reactors(struct spur_rpc_request *req, void *params)
{
	(void)params;
	start_collect(req, COLLECT_REACTORS);
}

static void
rpc_thread_get_stats(struct spur_rpc_request *req, void *params)
{
	(void)params;
	start_collect(req, COLLECT_STATS);
}

static void
rpc_thread_get_pollers(struct spur_rpc_request *req, void *params)
{
	(void)params;
	start_collect(req, COLLECT_POLLERS);
}

static const struct spur_rpc_method g_thread_methods[] = {
	{.name = "framework_get_reactors", .help = "Reactors with their load and lightweight threads",
	 .handler = rpc_framework_get_reactors, .states = SPUR_RPC_STARTUP | SPUR_RPC_RUNTIME},
	{.name = "thread_get_stats", .help = "Busy and idle ticks and poller counts per thread",
	 .handler = rpc_thread_get_stats, .states = SPUR_RPC_STARTUP | SPUR_RPC_RUNTIME},
	{.name = "thread_get_pollers", .help = "Every poller of every thread with its run counts",
	 .handler = rpc_thread_get_pollers, .states = SPUR_RPC_STARTUP | SPUR_RPC_RUNTIME},
};

void
app_register_thread_rpcs(void)
{
	spur_rpc_register_methods(g_thread_methods, SPUR_COUNTOF(g_thread_methods));
}
