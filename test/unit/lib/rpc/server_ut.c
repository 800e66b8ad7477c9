/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for lib/rpc's Unix-socket server (server.c, conn.c), run in one
 * OS thread: the application thread is an unplaced spur_thread polled by
 * hand, and clients are nonblocking sockets that pump it while they wait.
 *
 * Covers: stale / live / foreign socket paths, split and pipelined
 * requests, batches, notifications, parse errors, garbage (100 MiB),
 * oversized requests, async handlers (order, hang-up while pending, stop
 * while pending), idle timeout and 100 concurrent clients.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "spur/rpc.h"
#include "spur/thread.h"
#include "spur/util.h"

static struct spur_thread *g_app;
static char g_path[108];

/* ---- driving the app thread ----------------------------------------------- */

static void
pump(void)
{
	spur_thread_poll(g_app, 0, spur_get_ticks());
}

static void
pump_ms(uint64_t ms)
{
	uint64_t end = spur_get_ticks() + spur_us_to_ticks(ms * 1000);

	while (spur_get_ticks() < end) {
		pump();
		usleep(100);
	}
}

struct start_args {
	struct spur_rpc_server_opts opts;
	int rc;
};

static void
start_msg(void *ctx)
{
	struct start_args *a = ctx;

	a->rc = spur_rpc_server_start(&a->opts);
}

static void
stop_msg(void *ctx)
{
	spur_rpc_server_stop();
}

/* Run fn(ctx) on the app thread now. */
static void
on_app(spur_msg_fn fn, void *ctx)
{
	assert_int_equal(spur_thread_send_msg(g_app, fn, ctx), 0);
	pump();
}

static int
start_server(uint32_t idle_ms, size_t max_request)
{
	struct start_args a;

	spur_rpc_server_opts_init(&a.opts, sizeof(a.opts));
	a.opts.path = g_path;
	if (idle_ms)
		a.opts.idle_timeout_ms = idle_ms;
	if (max_request)
		a.opts.max_request_bytes = max_request;
	a.rc = 12345;
	on_app(start_msg, &a);
	return a.rc;
}

/* ---- clients ----------------------------------------------------------------- */

static int
client_connect(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", g_path);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	return fd;
}

static void
client_send(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			assert_true(errno == EAGAIN);
			pump();
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
}

static void
client_send_str(int fd, const char *s)
{
	client_send(fd, s, strlen(s));
}

struct reply {
	char *text;
	size_t len;
	bool eof;
};

static void
reply_free(struct reply *r)
{
	free(r->text);
	memset(r, 0, sizeof(*r));
}

static size_t
count_lines(const struct reply *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->len; i++)
		n += r->text[i] == '\n';
	return n;
}

/* Collect until 'lines' newlines (or EOF when want_eof), pumping; 5 s max. */
static struct reply
client_read(int fd, size_t lines, bool want_eof)
{
	uint64_t end = spur_get_ticks() + spur_us_to_ticks(5 * 1000 * 1000);
	struct reply r = {.text = calloc(1, 1)};
	char buf[65536];
	ssize_t n;

	while (spur_get_ticks() < end) {
		if (!want_eof && count_lines(&r) >= lines)
			break;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n > 0) {
			r.text = realloc(r.text, r.len + (size_t)n + 1);
			memcpy(r.text + r.len, buf, (size_t)n);
			r.len += (size_t)n;
			r.text[r.len] = '\0';
			continue;
		}
		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			r.eof = true;
			break;
		}
		pump();
	}
	return r;
}

/* One round trip: the response line, parsed. */
static json_t *
roundtrip(int fd, const char *request)
{
	struct reply r;
	json_t *v;

	client_send_str(fd, request);
	r = client_read(fd, 1, false);
	assert_int_equal(count_lines(&r), 1);
	v = json_loads(r.text, 0, NULL);
	assert_non_null(v);
	reply_free(&r);
	return v;
}

/* Nothing arrives (after giving the server time to misbehave). */
static void
assert_silent(int fd)
{
	char c;

	pump_ms(10);
	assert_int_equal(recv(fd, &c, 1, 0), -1);
	assert_int_equal(errno, EAGAIN);
}

static int64_t
error_code(json_t *response)
{
	return json_integer_value(json_object_get(json_object_get(response, "error"), "code"));
}

/* ---- methods ------------------------------------------------------------------- */

struct echo_params {
	json_t *v;
};

static const struct spur_rpc_param g_echo_params[] = {
	{"v", SPUR_RPC_ANY, false, false, 0, 0, offsetof(struct echo_params, v), NULL},
};

static void
echo(struct spur_rpc_request *req, void *arg)
{
	struct echo_params *p = arg;

	spur_rpc_reply(req, p->v ? json_incref(p->v) : NULL);
}

static struct spur_rpc_request *g_parked;
static int g_notified;

static bool g_in_release;

static void
park(struct spur_rpc_request *req, void *arg)
{
	assert_false(g_in_release); /* never started from inside another handler */
	assert_null(g_parked);
	g_parked = req;
}

/* Ends the parked request of another connection from inside this handler. */
static void
release(struct spur_rpc_request *req, void *arg)
{
	struct spur_rpc_request *parked = g_parked;

	assert_non_null(parked);
	g_parked = NULL;
	g_in_release = true;
	spur_rpc_reply(parked, json_string("released"));
	g_in_release = false;
	spur_rpc_reply_bool(req, true);
}

static void
notify(struct spur_rpc_request *req, void *arg)
{
	g_notified++;
	spur_rpc_reply_bool(req, true);
}

static void
stop_now(struct spur_rpc_request *req, void *arg)
{
	/* Like spdk_kill_instance: the server goes away under the request. */
	spur_rpc_server_stop();
	spur_rpc_reply_bool(req, true);
}

static const struct spur_rpc_method g_methods[] = {
	{.name = "echo", .params = g_echo_params, .num_params = 1,
	 .params_size = sizeof(struct echo_params), .handler = echo, .states = SPUR_RPC_RUNTIME},
	{.name = "park", .handler = park, .states = SPUR_RPC_RUNTIME},
	{.name = "notify", .handler = notify, .states = SPUR_RPC_RUNTIME},
	{.name = "release", .handler = release, .states = SPUR_RPC_RUNTIME},
	{.name = "stop_now", .handler = stop_now, .states = SPUR_RPC_RUNTIME},
};

static int
setup(void **state)
{
	g_app = spur_thread_create("ut_app", NULL);
	assert_non_null(g_app);
	snprintf(g_path, sizeof(g_path), "/tmp/spur_rpc_ut.%d.sock", (int)getpid());
	unlink(g_path);
	spur_rpc_register_methods(g_methods, SPUR_COUNTOF(g_methods));
	g_parked = NULL;
	g_notified = 0;
	return 0;
}

static void
exit_current(void *ctx)
{
	spur_thread_exit(spur_get_thread());
}

static int
teardown(void **state)
{
	int i;

	on_app(stop_msg, NULL);
	assert_int_equal(access(g_path, F_OK), -1);
	assert_int_equal(spur_thread_send_msg(g_app, exit_current, NULL), 0);
	for (i = 0; i < 1000 && !spur_thread_is_exited(g_app); i++)
		pump();
	assert_true(spur_thread_is_exited(g_app));
	spur_thread_destroy(g_app);
	spur_rpc_unregister_all();
	return 0;
}

/* ---- tests ---------------------------------------------------------------------- */

static void
test_socket_path(void **state)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd, live;

	/* A regular file is not ours to remove. */
	fd = open(g_path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(start_server(0, 0), -EEXIST);
	unlink(g_path);

	/* A stale socket (nobody listening) is replaced. */
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", g_path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
	assert_int_equal(start_server(0, 0), 0);
	assert_int_equal(start_server(0, 0), -EBUSY);

	/* A live one is refused, and left alone. */
	on_app(stop_msg, NULL);
	assert_int_equal(access(g_path, F_OK), -1);
	live = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(live, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(live, 1), 0);
	assert_int_equal(start_server(0, 0), -EADDRINUSE);
	assert_int_equal(access(g_path, F_OK), 0);
	close(live);
	unlink(g_path);

	/* Too long a path. */
	{
		struct start_args a;
		char longpath[200];

		memset(longpath, 'a', sizeof(longpath) - 1);
		longpath[sizeof(longpath) - 1] = '\0';
		spur_rpc_server_opts_init(&a.opts, sizeof(a.opts));
		a.opts.path = longpath;
		on_app(start_msg, &a);
		assert_int_equal(a.rc, -ENAMETOOLONG);
	}
	assert_int_equal(start_server(0, 0), 0);
}

static void
test_roundtrip_and_split(void **state)
{
	const char *req = "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"v\":\"a\\\"}{\"},"
			  "\"id\":7}";
	struct reply r;
	json_t *v;
	size_t i;
	int fd;

	assert_int_equal(start_server(0, 0), 0);
	fd = client_connect();
	v = roundtrip(fd, req);
	assert_int_equal(json_integer_value(json_object_get(v, "id")), 7);
	assert_string_equal(json_string_value(json_object_get(v, "result")), "a\"}{");
	json_decref(v);

	/* One byte at a time, with the server running in between. */
	for (i = 0; i < strlen(req); i++) {
		client_send(fd, req + i, 1);
		pump();
	}
	r = client_read(fd, 1, false);
	assert_int_equal(count_lines(&r), 1);
	/* Compact, one line, newline-terminated. */
	assert_string_equal(r.text, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":\"a\\\"}{\"}\n");
	reply_free(&r);
	close(fd);
}

static void
test_pipelined(void **state)
{
	size_t n = 500, i, len = 0;
	char *buf = malloc(n * 100);
	struct reply r;
	char *line;
	int fd;

	assert_int_equal(start_server(0, 0), 0);
	fd = client_connect();
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, n * 100 - len,
					"{\"jsonrpc\":\"2.0\",\"method\":\"echo\","
					"\"params\":{\"v\":%zu},\"id\":%zu}%s",
					i, i, i % 3 ? "" : "\n ");
	client_send(fd, buf, len);
	r = client_read(fd, n, false);
	assert_int_equal(count_lines(&r), n);
	line = r.text;
	for (i = 0; i < n; i++) {
		json_t *v = json_loadb(line, (size_t)(strchr(line, '\n') - line), 0, NULL);

		assert_non_null(v);
		assert_int_equal(json_integer_value(json_object_get(v, "id")), i);
		json_decref(v);
		line = strchr(line, '\n') + 1;
	}
	reply_free(&r);
	free(buf);
	close(fd);
}

static void
test_batches(void **state)
{
	json_t *v;
	int fd;

	assert_int_equal(start_server(0, 0), 0);
	fd = client_connect();

	v = roundtrip(fd, "[{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"v\":1},"
			  "\"id\":1},"
			  "{\"jsonrpc\":\"2.0\",\"method\":\"notify\"},"
			  "42,"
			  "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":3}]");
	assert_true(json_is_array(v));
	assert_int_equal(json_array_size(v), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(v, 0), "result")), 1);
	assert_int_equal(error_code(json_array_get(v, 1)), -32600);
	assert_int_equal(error_code(json_array_get(v, 2)), -32601);
	assert_int_equal(g_notified, 1);
	json_decref(v);

	/* Only notifications: nothing at all comes back. */
	client_send_str(fd, "[{\"jsonrpc\":\"2.0\",\"method\":\"notify\"},"
			    "{\"jsonrpc\":\"2.0\",\"method\":\"notify\"}]");
	client_send_str(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"notify\"}");
	v = roundtrip(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":9}");
	assert_int_equal(json_integer_value(json_object_get(v, "id")), 9);
	assert_int_equal(g_notified, 4);
	json_decref(v);

	v = roundtrip(fd, "[]");
	assert_int_equal(error_code(v), -32600);
	json_decref(v);

	/* The connection is still usable. */
	v = roundtrip(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":10}");
	assert_true(json_is_null(json_object_get(v, "result")));
	json_decref(v);
	assert_silent(fd);
	close(fd);
}

static void
expect_fatal(const char *payload, size_t len, const char *message_start)
{
	struct reply r;
	json_t *v;
	int fd = client_connect();

	client_send(fd, payload, len);
	r = client_read(fd, 1, true);
	assert_true(r.eof);
	assert_int_equal(count_lines(&r), 1);
	v = json_loads(r.text, 0, NULL);
	assert_non_null(v);
	assert_int_equal(error_code(v), -32700);
	assert_true(json_is_null(json_object_get(v, "id")));
	assert_true(strncmp(json_string_value(json_object_get(json_object_get(v, "error"),
							      "message")),
			    message_start, strlen(message_start)) == 0);
	json_decref(v);
	reply_free(&r);
	close(fd);
}

static void
test_protocol_errors(void **state)
{
	static const char bad_json[] = "{\"jsonrpc\":\"2.0\",\"method\":}";
	static const char garbage[] = "GET / HTTP/1.1\r\n\r\n";
	char *big;
	int fd;
	json_t *v;

	assert_int_equal(start_server(0, 1024), 0);
	expect_fatal(bad_json, strlen(bad_json), "parse error: ");
	expect_fatal(garbage, strlen(garbage), "parse error: a request must be a JSON object");

	/* Too large, whether it arrives whole or keeps coming. */
	big = malloc(8192);
	memset(big, ' ', 8192);
	big[0] = '{';
	memcpy(big + 1, "\"a\":\"", 5);
	expect_fatal(big, 8192, "request too large (limit 1024 bytes)");
	big[8190] = '"';
	big[8191] = '}';
	expect_fatal(big, 8192, "request too large (limit 1024 bytes)");
	free(big);

	/* Other clients are unaffected. */
	fd = client_connect();
	v = roundtrip(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}");
	assert_int_equal(json_integer_value(json_object_get(v, "id")), 1);
	json_decref(v);
	close(fd);
}

static void
test_huge_garbage(void **state)
{
	size_t chunk = 1u << 20, i;
	char *buf = malloc(chunk);
	struct reply r;
	int fd;

	assert_int_equal(start_server(0, 0), 0);
	memset(buf, '{', chunk); /* deeply "nested": the size limit must catch it */
	fd = client_connect();
	for (i = 0; i < 100; i++)
		client_send(fd, buf, chunk);
	r = client_read(fd, 1, true);
	assert_true(r.eof);
	assert_non_null(strstr(r.text, "request too large (limit 67108864 bytes)"));
	reply_free(&r);
	close(fd);

	memset(buf, 'x', chunk);
	fd = client_connect();
	for (i = 0; i < 100; i++)
		client_send(fd, buf, chunk);
	r = client_read(fd, 1, true);
	assert_true(r.eof);
	assert_non_null(strstr(r.text, "-32700"));
	reply_free(&r);
	close(fd);
	free(buf);
}

static void
test_async_order(void **state)
{
	struct reply r;
	int fd;

	assert_int_equal(start_server(0, 0), 0);
	fd = client_connect();
	client_send_str(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"park\",\"id\":1}"
			    "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":2}");
	pump_ms(20);
	assert_non_null(g_parked);
	assert_silent(fd); /* echo waits behind park */

	spur_rpc_reply(g_parked, json_string("parked"));
	g_parked = NULL;
	r = client_read(fd, 2, false);
	assert_int_equal(count_lines(&r), 2);
	assert_string_equal(r.text, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"parked\"}\n"
				    "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":null}\n");
	reply_free(&r);

	/* The same inside a batch. */
	client_send_str(fd, "[{\"jsonrpc\":\"2.0\",\"method\":\"park\",\"id\":1},"
			    "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":2}]");
	pump_ms(10);
	assert_non_null(g_parked);
	spur_rpc_error(g_parked, -EBUSY, "busy");
	g_parked = NULL;
	r = client_read(fd, 1, false);
	assert_string_equal(r.text, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-16,"
				    "\"message\":\"busy\"}},{\"jsonrpc\":\"2.0\",\"id\":2,"
				    "\"result\":null}]\n");
	reply_free(&r);
	close(fd);
}

static void
test_end_from_other_handler(void **state)
{
	struct reply r;
	int a, b;
	json_t *v;

	assert_int_equal(start_server(0, 0), 0);
	a = client_connect();
	b = client_connect();
	client_send_str(b, "{\"jsonrpc\":\"2.0\",\"method\":\"park\",\"id\":1}"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"park\",\"id\":2}");
	pump_ms(10);
	assert_non_null(g_parked);
	/* b's second park must not run nested in release (park asserts it). */
	v = roundtrip(a, "{\"jsonrpc\":\"2.0\",\"method\":\"release\",\"id\":1}");
	assert_true(json_is_true(json_object_get(v, "result")));
	json_decref(v);
	r = client_read(b, 1, false);
	assert_string_equal(r.text, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"released\"}\n");
	reply_free(&r);
	pump_ms(10);
	assert_non_null(g_parked); /* the second park started from the poller */
	v = roundtrip(a, "{\"jsonrpc\":\"2.0\",\"method\":\"release\",\"id\":2}");
	json_decref(v);
	r = client_read(b, 1, false);
	assert_string_equal(r.text, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":\"released\"}\n");
	reply_free(&r);
	close(a);
	close(b);
}

static void
test_hangup_while_pending(void **state)
{
	json_t *v;
	int fd;

	assert_int_equal(start_server(200, 0), 0);
	fd = client_connect();
	client_send_str(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"park\",\"id\":1}");
	pump_ms(10);
	assert_non_null(g_parked);
	close(fd);
	pump_ms(400); /* the hang-up is seen; the idle timeout never hits a pending request */
	spur_rpc_reply_bool(g_parked, true); /* discarded */
	g_parked = NULL;
	pump_ms(5);

	/* Stop with a request pending: its reply is discarded later. */
	fd = client_connect();
	client_send_str(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"park\",\"id\":1}");
	pump_ms(10);
	assert_non_null(g_parked);
	on_app(stop_msg, NULL);
	spur_rpc_reply_bool(g_parked, true);
	g_parked = NULL;
	close(fd);

	/* A handler that stops the server under its own request. */
	assert_int_equal(start_server(0, 0), 0);
	fd = client_connect();
	client_send_str(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"stop_now\",\"id\":1}"
			    "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":2}");
	pump_ms(10);
	assert_int_equal(access(g_path, F_OK), -1);
	close(fd);
	assert_int_equal(start_server(0, 0), 0);
	fd = client_connect();
	v = roundtrip(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":3}");
	json_decref(v);
	close(fd);
}

static void
test_idle_timeout(void **state)
{
	struct reply r;
	int idle, busy, partial, i;
	json_t *v;

	assert_int_equal(start_server(300, 0), 0);
	idle = client_connect();
	partial = client_connect();
	busy = client_connect();
	client_send_str(partial, "{\"jsonrpc\":");
	/* 800 ms: the 250 ms check runs 3 times; busy talks every 100 ms. */
	for (i = 0; i < 8; i++) {
		v = roundtrip(busy, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}");
		json_decref(v);
		pump_ms(100);
	}
	r = client_read(idle, 0, true);
	assert_true(r.eof);
	reply_free(&r);
	r = client_read(partial, 0, true);
	assert_true(r.eof);
	reply_free(&r);
	v = roundtrip(busy, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":2}");
	json_decref(v);
	close(idle);
	close(partial);
	close(busy);
}

static void
test_many_clients(void **state)
{
	enum { N = 100 };
	int fds[N], i;
	char req[128];
	struct reply r;

	assert_int_equal(start_server(0, 0), 0);
	for (i = 0; i < N; i++)
		fds[i] = client_connect();
	for (i = 0; i < N; i++) {
		snprintf(req, sizeof(req),
			 "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"v\":%d},"
			 "\"id\":%d}",
			 i, i);
		client_send_str(fds[i], req);
	}
	for (i = N - 1; i >= 0; i--) {
		r = client_read(fds[i], 1, false);
		snprintf(req, sizeof(req), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":%d}\n", i, i);
		assert_string_equal(r.text, req);
		reply_free(&r);
		close(fds[i]);
	}
	pump_ms(5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_socket_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_and_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_protocol_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_end_from_other_handler, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hangup_while_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_clients, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
