/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit test for lib/rpc's forwarding of replies to the application thread
 * (request.c), on a real single-core reactor started with spur_env_run: a
 * handler hands its request to another lightweight thread or to a plain
 * pthread, which ends it; the completion must run on the application thread,
 * exactly once. Kept in its own executable because the environment is
 * process-global.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "spur/rpc.h"
#include "spur/thread.h"
#include "spur/util.h"

static struct spur_thread *g_worker;

struct result {
	int calls;
	int code;
	char text[64];
	bool on_app_thread;
};

static struct result g_res[2];

static void
worker_reply(void *ctx)
{
	assert_ptr_equal(spur_get_thread(), g_worker);
	spur_rpc_reply(ctx, json_string("from worker"));
}

static void
via_worker(struct spur_rpc_request *req, void *arg)
{
	assert_int_equal(spur_thread_send_msg(g_worker, worker_reply, req), 0);
}

static void *
pthread_main(void *req)
{
	spur_rpc_error(req, -EAGAIN, "from a pthread");
	return NULL;
}

static pthread_t g_tid;

static void
via_pthread(struct spur_rpc_request *req, void *arg)
{
	assert_int_equal(pthread_create(&g_tid, NULL, pthread_main, req), 0);
}

static const struct spur_rpc_method g_methods[] = {
	{.name = "via_worker", .handler = via_worker, .states = SPUR_RPC_RUNTIME},
	{.name = "via_pthread", .handler = via_pthread, .states = SPUR_RPC_RUNTIME},
};

static void
done(void *ctx, int code, const char *message, json_t *result)
{
	struct result *r = ctx;

	r->calls++;
	r->code = code;
	r->on_app_thread = spur_get_thread() == spur_get_app_thread();
	snprintf(r->text, sizeof(r->text), "%s",
		 code ? message : json_string_value(result));
	if (g_res[0].calls && g_res[1].calls)
		spur_env_stop();
}

static void
start(void *ctx)
{
	assert_ptr_equal(spur_get_thread(), spur_get_app_thread());
	g_worker = spur_thread_create("ut_worker", NULL);
	assert_non_null(g_worker);
	spur_rpc_call("via_worker", NULL, done, &g_res[0]);
	spur_rpc_call("via_pthread", NULL, done, &g_res[1]);
	/* Both end later, elsewhere. */
	assert_int_equal(g_res[0].calls + g_res[1].calls, 0);
}

static void
test_forward(void **state)
{
	struct spur_env_opts opts;
	cpu_set_t allowed;
	uint32_t core;

	assert_int_equal(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
	for (core = 0; !CPU_ISSET(core, &allowed); core++)
		;
	spur_env_opts_init(&opts, sizeof(opts));
	spur_cpuset_zero(&opts.cpumask);
	spur_cpuset_set(&opts.cpumask, core);
	opts.poll_mode = SPUR_POLL_INTERRUPT;
	assert_int_equal(spur_env_init(&opts), 0);
	spur_rpc_register_methods(g_methods, SPUR_COUNTOF(g_methods));

	assert_int_equal(spur_env_run(start, NULL), 0);
	spur_env_fini();
	assert_int_equal(pthread_join(g_tid, NULL), 0);

	assert_int_equal(g_res[0].calls, 1);
	assert_int_equal(g_res[0].code, 0);
	assert_string_equal(g_res[0].text, "from worker");
	assert_true(g_res[0].on_app_thread);
	assert_int_equal(g_res[1].calls, 1);
	assert_int_equal(g_res[1].code, -EAGAIN);
	assert_string_equal(g_res[1].text, "from a pthread");
	assert_true(g_res[1].on_app_thread);
	spur_rpc_unregister_all();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forward),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
