/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for lib/rpc's registry, built-in methods, request validation
 * and dispatch (registry.c, request.c): spur_rpc_call and the private
 * rpc_handle_request the server uses, state checks, exactly-once ends,
 * asynchronous replies and their forwarding to the application thread.
 *
 * Threads are driven by hand: lightweight threads are created outside any
 * reactor and polled with spur_thread_poll. The registry is process-global;
 * each test registers what it needs and a teardown unregisters everything.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "spur/rpc.h"
#include "spur/thread.h"
#include "spur/util.h"

#include "rpc_internal.h"

/* Present once lib/thread implements it; the forwarding test skips otherwise. */
#pragma weak spur_set_app_thread

/* ---- captured outcomes ----------------------------------------------------- */

struct outcome {
	int calls;
	int code;
	char message[256];
	json_t *result;   /* spur_rpc_call: copy of the result */
	json_t *response; /* rpc_handle_request: the response object */
	struct spur_thread *thread; /* where the callback ran */
};

static void
outcome_reset(struct outcome *o)
{
	json_decref(o->result);
	json_decref(o->response);
	memset(o, 0, sizeof(*o));
}

static void
call_cb(void *ctx, int code, const char *message, json_t *result)
{
	struct outcome *o = ctx;

	o->calls++;
	o->code = code;
	o->thread = spur_get_thread();
	if (message != NULL)
		snprintf(o->message, sizeof(o->message), "%s", message);
	if (result != NULL) {
		json_decref(o->result);
		o->result = json_deep_copy(result);
	}
}

static void
response_cb(void *ctx, json_t *response)
{
	struct outcome *o = ctx;

	o->calls++;
	json_decref(o->response);
	o->response = response;
}

static void
call(const char *method, const char *params_text, struct outcome *o)
{
	json_t *params = params_text ? json_loads(params_text, 0, NULL) : NULL;

	if (params_text != NULL)
		assert_non_null(params);
	outcome_reset(o);
	spur_rpc_call(method, params, call_cb, o);
	json_decref(params);
}

static void
handle(const char *text, struct outcome *o)
{
	json_t *msg = json_loads(text, JSON_DECODE_ANY, NULL);

	assert_non_null(msg);
	outcome_reset(o);
	rpc_handle_request(msg, response_cb, o);
	json_decref(msg);
}

/* ---- test methods ------------------------------------------------------------- */

struct echo_params {
	const char *text;
	uint32_t times;
};

static const struct spur_rpc_param g_echo_params[] = {
	{"text", SPUR_RPC_STRING, true, false, 0, 0, offsetof(struct echo_params, text), "what"},
	{"times", SPUR_RPC_UINT32, false, true, 1, 3, offsetof(struct echo_params, times),
	 "how often"},
};

static void
echo_defaults(void *p)
{
	((struct echo_params *)p)->times = 1;
}

static void
echo(struct spur_rpc_request *req, void *arg)
{
	struct echo_params *p = arg;
	json_t *list = json_array();
	uint32_t i;

	assert_string_equal(spur_rpc_request_method(req), "echo");
	for (i = 0; i < p->times; i++)
		json_array_append_new(list, json_string(p->text));
	spur_rpc_reply(req, list);
}

static void
fail_handler(struct spur_rpc_request *req, void *arg)
{
	spur_rpc_error_errno(req, -ENODEV, "no device %d", 7);
}

static int g_double_end_calls;

static void
double_end(struct spur_rpc_request *req, void *arg)
{
	g_double_end_calls++;
	spur_rpc_reply_bool(req, true);
	/* A bug: detected (logged) and ignored while the request is alive. */
	spur_rpc_error(req, -EIO, "second end");
	spur_rpc_reply(req, json_string("third"));
}

static json_t *g_raw_seen;
static bool g_raw_called;

static void
raw(struct spur_rpc_request *req, void *arg)
{
	json_t **slot = arg;

	g_raw_called = true;
	g_raw_seen = *slot;
	spur_rpc_reply(req, *slot ? json_incref(*slot) : NULL);
}

static struct spur_rpc_request *g_parked;

static void
park(struct spur_rpc_request *req, void *arg)
{
	g_parked = req;
}

static void
startup_only(struct spur_rpc_request *req, void *arg)
{
	spur_rpc_reply_bool(req, true);
}

static const char *const g_echo_aliases[] = {"old_echo", "older_echo", NULL};

static const struct spur_rpc_method g_methods[] = {
	{
		.name = "echo",
		.help = "Echo text",
		.params = g_echo_params,
		.num_params = SPUR_COUNTOF(g_echo_params),
		.params_size = sizeof(struct echo_params),
		.set_defaults = echo_defaults,
		.handler = echo,
		.states = SPUR_RPC_STARTUP | SPUR_RPC_RUNTIME,
		.aliases = g_echo_aliases,
	},
	{.name = "fail", .handler = fail_handler, .states = SPUR_RPC_RUNTIME},
	{.name = "double_end", .handler = double_end, .states = SPUR_RPC_RUNTIME,
	 .changes_config = true},
	{.name = "raw", .handler = raw, .states = SPUR_RPC_RUNTIME, .raw_params = true,
	 .changes_config = true},
	{.name = "park", .handler = park, .states = SPUR_RPC_RUNTIME},
	{.name = "startup_only", .handler = startup_only, .states = SPUR_RPC_STARTUP},
};

static int
setup(void **state)
{
	spur_rpc_register_builtin_methods();
	spur_rpc_register_methods(g_methods, SPUR_COUNTOF(g_methods));
	spur_rpc_set_state(SPUR_RPC_RUNTIME);
	return 0;
}

static int
teardown(void **state)
{
	spur_rpc_unregister_all();
	spur_rpc_set_config_changed_hook(NULL);
	spur_rpc_set_state(SPUR_RPC_RUNTIME);
	return 0;
}

/* ---- registry ---------------------------------------------------------------- */

static void
count_cb(const struct spur_rpc_method *m, void *ctx)
{
	json_array_append_new(ctx, json_string(m->name));
}

static void
test_registry(void **state)
{
	json_t *names = json_array();

	assert_ptr_equal(spur_rpc_find_method("echo"), &g_methods[0]);
	assert_ptr_equal(spur_rpc_find_method("old_echo"), &g_methods[0]);
	assert_ptr_equal(spur_rpc_find_method("older_echo"), &g_methods[0]);
	assert_null(spur_rpc_find_method("nope"));
	assert_null(spur_rpc_find_method(NULL));

	spur_rpc_for_each_method(count_cb, names);
	assert_int_equal(json_array_size(names), 2 + SPUR_COUNTOF(g_methods));
	assert_string_equal(json_string_value(json_array_get(names, 0)), "rpc_get_methods");
	assert_string_equal(json_string_value(json_array_get(names, 2)), "echo");
	json_decref(names);

	/* Registering the built-ins again is harmless. */
	spur_rpc_register_builtin_methods();
	assert_non_null(spur_rpc_find_method("spur_get_method_schemas"));

	assert_int_equal(spur_rpc_get_state(), SPUR_RPC_RUNTIME);
	spur_rpc_set_state(0x7); /* invalid: ignored */
	assert_int_equal(spur_rpc_get_state(), SPUR_RPC_RUNTIME);
}

/* A duplicate name or alias aborts; run it in a child. */
static void
expect_abort_registering(const struct spur_rpc_method *m)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		spur_rpc_register_methods(m, 1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void
test_duplicates_abort(void **state)
{
	static const char *const alias_clash[] = {"echo", NULL};
	static const struct spur_rpc_method dup_name = {.name = "old_echo", .handler = park};
	static const struct spur_rpc_method dup_alias = {
		.name = "fresh", .handler = park, .aliases = alias_clash};

	expect_abort_registering(&dup_name);
	expect_abort_registering(&dup_alias);
}

/* ---- built-in methods ---------------------------------------------------------- */

static bool
list_has(json_t *list, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v) {
		if (strcmp(json_string_value(v), name) == 0)
			return true;
	}
	return false;
}

static void
test_rpc_get_methods(void **state)
{
	struct outcome o = {0};

	call("rpc_get_methods", NULL, &o);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.code, 0);
	assert_true(json_is_array(o.result));
	assert_int_equal(json_array_size(o.result), 2 + SPUR_COUNTOF(g_methods));
	assert_true(list_has(o.result, "startup_only"));
	assert_false(list_has(o.result, "old_echo"));

	call("rpc_get_methods", "{\"current\":true}", &o);
	assert_false(list_has(o.result, "startup_only"));
	assert_true(list_has(o.result, "echo"));

	call("rpc_get_methods", "{\"include_aliases\":true}", &o);
	assert_true(list_has(o.result, "old_echo"));
	assert_true(list_has(o.result, "older_echo"));

	spur_rpc_set_state(SPUR_RPC_STARTUP);
	call("rpc_get_methods", "{\"current\":true}", &o);
	assert_true(list_has(o.result, "startup_only"));
	assert_true(list_has(o.result, "echo"));
	assert_false(list_has(o.result, "fail"));

	call("rpc_get_methods", "{\"bogus\":true}", &o);
	assert_int_equal(o.code, SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_string_equal(o.message, "unknown parameter 'bogus'");
	outcome_reset(&o);
}

static void
test_method_schemas(void **state)
{
	struct outcome o = {0};
	json_t *s, *p;
	char *text;

	call("spur_get_method_schemas", "{\"name\":\"old_echo\"}", &o);
	assert_int_equal(o.code, 0);
	assert_int_equal(json_array_size(o.result), 1);
	s = json_array_get(o.result, 0);
	text = json_dumps(s, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(
		text,
		"{\"aliases\":[\"old_echo\",\"older_echo\"],\"changes_config\":false,"
		"\"help\":\"Echo text\",\"name\":\"echo\","
		"\"params\":[{\"help\":\"what\",\"name\":\"text\",\"required\":true,"
		"\"type\":\"string\"},"
		"{\"help\":\"how often\",\"max\":3,\"min\":1,\"name\":\"times\",\"required\":false,"
		"\"type\":\"uint32\"}],"
		"\"raw_params\":false,\"states\":[\"startup\",\"runtime\"]}");
	free(text);

	call("spur_get_method_schemas", NULL, &o);
	assert_int_equal(json_array_size(o.result), 2 + SPUR_COUNTOF(g_methods));
	s = json_array_get(o.result, 5); /* raw */
	assert_string_equal(json_string_value(json_object_get(s, "name")), "raw");
	assert_true(json_is_true(json_object_get(s, "raw_params")));
	assert_true(json_is_true(json_object_get(s, "changes_config")));
	assert_int_equal(json_array_size(json_object_get(s, "aliases")), 0);
	assert_string_equal(json_string_value(json_object_get(s, "help")), "");
	p = json_object_get(json_array_get(o.result, 7), "states"); /* startup_only */
	assert_int_equal(json_array_size(p), 1);
	assert_string_equal(json_string_value(json_array_get(p, 0)), "startup");

	call("spur_get_method_schemas", "{\"name\":\"nope\"}", &o);
	assert_int_equal(o.code, -ENOENT);
	assert_string_equal(o.message, "Method not found: nope");
	outcome_reset(&o);
}

/* ---- dispatch through spur_rpc_call ------------------------------------------- */

static void
test_call_basics(void **state)
{
	struct outcome o = {0};

	call("echo", "{\"text\":\"hi\",\"times\":2}", &o);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.code, 0);
	assert_int_equal(json_array_size(o.result), 2);
	assert_string_equal(json_string_value(json_array_get(o.result, 1)), "hi");

	call("old_echo", "{\"text\":\"a\"}", &o);
	assert_int_equal(o.code, 0);
	assert_int_equal(json_array_size(o.result), 1); /* default times = 1 */

	call("nope", NULL, &o);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.code, SPUR_RPC_ERROR_METHOD_NOT_FOUND);
	assert_string_equal(o.message, "Method not found: nope");

	call("echo", "{\"times\":2}", &o);
	assert_int_equal(o.code, SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_string_equal(o.message, "missing required parameter 'text'");

	call("echo", "{\"text\":\"a\",\"times\":4}", &o);
	assert_int_equal(o.code, SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_string_equal(o.message, "parameter 'times' must be between 1 and 3");

	call("echo", "[1]", &o);
	assert_int_equal(o.code, SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_string_equal(o.message, "params must be an object");

	call("fail", NULL, &o);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.code, -ENODEV);
	assert_string_equal(o.message, "no device 7");
	assert_null(o.result);
	outcome_reset(&o);
}

static void
test_state_checks(void **state)
{
	struct outcome o = {0};

	call("startup_only", NULL, &o);
	assert_int_equal(o.code, SPUR_RPC_ERROR_INVALID_STATE);
	assert_string_equal(o.message,
			    "Method startup_only may only be called before framework_start_init");

	spur_rpc_set_state(SPUR_RPC_STARTUP);
	call("startup_only", NULL, &o);
	assert_int_equal(o.code, 0);
	assert_true(json_is_true(o.result));

	call("fail", NULL, &o);
	assert_int_equal(o.code, SPUR_RPC_ERROR_INVALID_STATE);
	assert_string_equal(o.message, "Method fail may only be called after framework_start_init");

	/* The state check comes before parameter decoding. */
	call("fail", "{\"x\":1}", &o);
	assert_int_equal(o.code, SPUR_RPC_ERROR_INVALID_STATE);
	outcome_reset(&o);
}

static int g_hook_calls;
static char g_hook_method[64];

static bool
hook(const char *method, void (*resume)(void *ctx), void *ctx)
{
	(void)resume;
	(void)ctx;
	g_hook_calls++;
	snprintf(g_hook_method, sizeof(g_hook_method), "%s", method);
	return false;
}

static void
test_exactly_once_and_hook(void **state)
{
	struct outcome o = {0};

	spur_rpc_set_config_changed_hook(hook);
	g_hook_calls = 0;
	g_double_end_calls = 0;
	call("double_end", NULL, &o);
	assert_int_equal(g_double_end_calls, 1);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.code, 0);
	assert_true(json_is_true(o.result));
	assert_int_equal(g_hook_calls, 1);
	assert_string_equal(g_hook_method, "double_end");

	/* Not for failures, nor for methods that change nothing. */
	call("raw", "{\"a\":1}", &o);
	assert_int_equal(g_hook_calls, 2);
	call("echo", "{\"text\":\"x\"}", &o);
	assert_int_equal(g_hook_calls, 2);
	call("echo", "{}", &o);
	assert_int_equal(g_hook_calls, 2);
	outcome_reset(&o);
}

static void
test_raw_params(void **state)
{
	struct outcome o = {0};

	call("raw", "{\"subsystems\":[]}", &o);
	assert_true(g_raw_called);
	assert_int_equal(o.code, 0);
	assert_non_null(json_object_get(o.result, "subsystems"));

	g_raw_called = false;
	call("raw", NULL, &o);
	assert_true(g_raw_called);
	assert_null(g_raw_seen);
	assert_true(json_is_null(o.result));

	/* Whatever the client sent: the handler judges it. */
	call("raw", "[1,2]", &o);
	assert_int_equal(o.code, 0);
	assert_true(json_is_array(o.result));
	outcome_reset(&o);
}

static void
test_async_same_thread(void **state)
{
	struct outcome o = {0};

	g_parked = NULL;
	call("park", "{}", &o);
	assert_non_null(g_parked);
	assert_int_equal(o.calls, 0);
	spur_rpc_reply(g_parked, json_integer(5));
	assert_int_equal(o.calls, 1);
	assert_int_equal(json_integer_value(o.result), 5);
	outcome_reset(&o);
}

/* ---- rpc_handle_request: JSON-RPC envelope ------------------------------------ */

static void
expect_response(struct outcome *o, const char *expected)
{
	char *text;

	assert_int_equal(o->calls, 1);
	assert_non_null(o->response);
	text = json_dumps(o->response, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text, expected);
	free(text);
}

static void
test_envelope(void **state)
{
	struct outcome o = {0};

	handle("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"text\":\"x\"},\"id\":1}",
	       &o);
	expect_response(&o, "{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":[\"x\"]}");

	handle("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"text\":\"x\"},\"id\":\"a\"}",
	       &o);
	expect_response(&o, "{\"id\":\"a\",\"jsonrpc\":\"2.0\",\"result\":[\"x\"]}");

	handle("{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":null}", &o);
	expect_response(&o, "{\"error\":{\"code\":-32601,\"message\":\"Method not found: nope\"},"
			    "\"id\":null,\"jsonrpc\":\"2.0\"}");

	handle("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"text\":1},\"id\":2.5}", &o);
	expect_response(&o, "{\"error\":{\"code\":-32602,\"message\":\"parameter 'text' must be a "
			    "string\"},\"id\":2.5,\"jsonrpc\":\"2.0\"}");

	handle("{\"jsonrpc\":\"2.0\",\"method\":\"fail\",\"id\":3}", &o);
	expect_response(&o, "{\"error\":{\"code\":-19,\"message\":\"no device 7\"},\"id\":3,"
			    "\"jsonrpc\":\"2.0\"}");
	outcome_reset(&o);
}

static void
test_notifications(void **state)
{
	struct outcome o = {0};

	g_raw_called = false;
	handle("{\"jsonrpc\":\"2.0\",\"method\":\"raw\",\"params\":{}}", &o);
	assert_true(g_raw_called); /* it ran */
	assert_int_equal(o.calls, 1);
	assert_null(o.response); /* but nothing is sent */

	handle("{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}", &o);
	assert_int_equal(o.calls, 1);
	assert_null(o.response);
	outcome_reset(&o);
}

static void
test_invalid_requests(void **state)
{
	struct outcome o = {0};

	handle("[1]", &o);
	expect_response(&o, "{\"error\":{\"code\":-32600,\"message\":\"invalid request: not an "
			    "object\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
	handle("5", &o);
	expect_response(&o, "{\"error\":{\"code\":-32600,\"message\":\"invalid request: not an "
			    "object\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
	handle("{\"method\":\"echo\",\"id\":4}", &o);
	expect_response(&o, "{\"error\":{\"code\":-32600,\"message\":\"invalid request: jsonrpc "
			    "must be \\\"2.0\\\"\"},\"id\":4,\"jsonrpc\":\"2.0\"}");
	handle("{\"jsonrpc\":\"1.0\",\"method\":\"echo\",\"id\":4}", &o);
	assert_int_equal(json_integer_value(json_object_get(o.response, "id")), 4);
	handle("{\"jsonrpc\":2.0,\"method\":\"echo\"}", &o);
	assert_non_null(o.response); /* even without an id */
	handle("{\"jsonrpc\":\"2.0\",\"method\":5,\"id\":\"m\"}", &o);
	expect_response(&o, "{\"error\":{\"code\":-32600,\"message\":\"invalid request: method "
			    "must be a string\"},\"id\":\"m\",\"jsonrpc\":\"2.0\"}");
	handle("{\"jsonrpc\":\"2.0\",\"id\":6}", &o);
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(o.response, "error"), "code")),
			 -32600);
	handle("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":{\"a\":1}}", &o);
	expect_response(&o, "{\"error\":{\"code\":-32600,\"message\":\"invalid request: id must be "
			    "a string, a number or null\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
	handle("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":true}", &o);
	assert_true(json_is_null(json_object_get(o.response, "id")));
	outcome_reset(&o);
}

/* The id and params outlive the message they came in (async handlers). */
static void
test_async_outlives_message(void **state)
{
	struct outcome o = {0};

	g_parked = NULL;
	handle("{\"jsonrpc\":\"2.0\",\"method\":\"park\",\"id\":\"keep-me\"}", &o);
	assert_non_null(g_parked);
	assert_int_equal(o.calls, 0);
	spur_rpc_reply_bool(g_parked, false);
	expect_response(&o, "{\"id\":\"keep-me\",\"jsonrpc\":\"2.0\",\"result\":false}");
	outcome_reset(&o);
}

/* ---- replies from other threads ------------------------------------------------- */

static struct spur_thread *g_app, *g_worker;

static void
worker_reply(void *ctx)
{
	spur_rpc_reply(ctx, json_string("from worker"));
}

static void
forward_to_worker(struct spur_rpc_request *req, void *arg)
{
	assert_int_equal(spur_thread_send_msg(g_worker, worker_reply, req), 0);
}

static const struct spur_rpc_method g_async_methods[] = {
	{.name = "via_worker", .handler = forward_to_worker, .states = SPUR_RPC_RUNTIME},
};

static void
start_call(void *ctx)
{
	spur_rpc_call("via_worker", NULL, call_cb, ctx);
}

static void
start_park(void *ctx)
{
	spur_rpc_call("park", NULL, call_cb, ctx);
}

static void *
pthread_reply(void *arg)
{
	spur_rpc_error(arg, -EAGAIN, "from a plain pthread");
	return NULL;
}

static void
exit_current(void *ctx)
{
	spur_thread_exit(spur_get_thread());
}

static void
finish_thread(struct spur_thread *t)
{
	int i;

	assert_int_equal(spur_thread_send_msg(t, exit_current, NULL), 0);
	for (i = 0; i < 1000 && !spur_thread_is_exited(t); i++)
		spur_thread_poll(t, 0, spur_get_ticks());
	assert_true(spur_thread_is_exited(t));
	spur_thread_destroy(t);
}

static void
test_forward_to_app_thread(void **state)
{
	struct outcome o = {0};
	pthread_t tid;

	if (spur_set_app_thread == NULL) {
		print_message("spur_set_app_thread not implemented by lib/thread yet: skipped\n");
		skip();
	}
	spur_rpc_register_methods(g_async_methods, SPUR_COUNTOF(g_async_methods));
	g_app = spur_thread_create("ut_app", NULL);
	g_worker = spur_thread_create("ut_worker", NULL);
	assert_non_null(g_app);
	assert_non_null(g_worker);
	spur_set_app_thread(g_app);
	assert_ptr_equal(spur_get_app_thread(), g_app);

	/* app: call -> handler sends to worker -> worker replies -> back to app. */
	outcome_reset(&o);
	assert_int_equal(spur_thread_send_msg(g_app, start_call, &o), 0);
	spur_thread_poll(g_app, 0, spur_get_ticks());
	assert_int_equal(o.calls, 0);
	spur_thread_poll(g_worker, 0, spur_get_ticks());
	assert_int_equal(o.calls, 0); /* forwarded, not run on the worker */
	spur_thread_poll(g_app, 0, spur_get_ticks());
	assert_int_equal(o.calls, 1);
	assert_ptr_equal(o.thread, g_app);
	assert_string_equal(json_string_value(o.result), "from worker");

	/* A reply from an OS thread that is no spur thread at all. */
	outcome_reset(&o);
	g_parked = NULL;
	assert_int_equal(spur_thread_send_msg(g_app, start_park, &o), 0);
	spur_thread_poll(g_app, 0, spur_get_ticks());
	assert_non_null(g_parked);
	assert_int_equal(pthread_create(&tid, NULL, pthread_reply, g_parked), 0);
	assert_int_equal(pthread_join(tid, NULL), 0);
	assert_int_equal(o.calls, 0);
	spur_thread_poll(g_app, 0, spur_get_ticks());
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.code, -EAGAIN);
	assert_string_equal(o.message, "from a plain pthread");
	assert_ptr_equal(o.thread, g_app);
	outcome_reset(&o);

	spur_set_app_thread(NULL);
	finish_thread(g_worker);
	finish_thread(g_app);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicates_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rpc_get_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(test_method_schemas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_basics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exactly_once_and_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_params, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_same_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_envelope, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notifications, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_outlives_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forward_to_app_thread, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
