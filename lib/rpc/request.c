/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC requests: validation of request objects, dispatch to handlers,
 * the exactly-once end of every request, and in-process calls.
 *
 * A struct spur_rpc_request owns: a copy of the client's id (NULL for a
 * notification or an in-process call), a reference to the params value
 * (strings the decoder stored point into it), the decoded params buffer,
 * and, once ended, the result or the error message. It is freed by
 * request_finish, on the application thread, after the response has been
 * delivered to its origin (a server connection or a spur_rpc_call callback).
 *
 *   NEW --dispatch: unknown method, wrong state, bad params--> ENDED
 *    |
 *    +--dispatch--> IN_HANDLER --handler ends it before returning--> ENDED
 *                       |        (finish deferred until the handler returns,
 *                       |         so a reply never re-enters the caller)
 *                       +--handler returns--> PENDING
 *   PENDING --end on the app thread--> ENDED
 *   PENDING --end on another thread--> FORWARDED --message on app thread--> ENDED
 *   ENDED --request_finish: hook, deliver, free--> (gone)
 *
 * Invariants: end_claimed goes false -> true exactly once (atomically, so a
 * second end from any thread is detected while the request is alive, logged
 * and ignored); request_finish runs exactly once, on the application thread.
 * A second end after the request was freed cannot be detected: it is a
 * use-after-free in the handler.
 *
 * Threading: everything except the ending functions (spur_rpc_reply*,
 * spur_rpc_error) runs on the application thread; those may run anywhere.
 * Before the application thread exists (unit tests, early start-up) every
 * thread counts as the application thread.
 */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spur/log.h"
#include "spur/rpc.h"
#include "spur/thread.h"

#include "rpc_internal.h"

enum request_origin {
	ORIGIN_REMOTE, /* a server connection: deliver a response object */
	ORIGIN_CALL,   /* spur_rpc_call: deliver to a callback */
};

struct spur_rpc_request {
	const struct spur_rpc_method *method; /* NULL until found */
	enum request_origin origin;
	json_t *id;      /* ORIGIN_REMOTE: copied id, NULL for a notification */
	json_t *params;  /* reference held until the request ends */
	void *decoded;   /* params buffer (owned) or &raw */
	json_t *raw;     /* raw_params methods: params, or NULL */
	union {
		struct {
			rpc_response_fn done;
			void *ctx;
		} remote;
		struct {
			spur_rpc_call_cb cb;
			void *ctx;
		} call;
	} to;
	atomic_bool end_claimed;
	bool in_handler;   /* app thread only */
	bool end_deferred; /* ended inside the handler (app thread only) */
	/* The outcome, written by whoever claimed the end. */
	int code;
	char *message;
	json_t *result;
};

static bool (*g_config_changed_hook)(const char *method, void (*resume)(void *ctx), void *ctx);

void
spur_rpc_set_config_changed_hook(bool (*hook)(const char *method, void (*resume)(void *ctx),
						void *ctx))
{
	g_config_changed_hook = hook;
}

const char *
spur_rpc_request_method(const struct spur_rpc_request *req)
{
	return req != NULL && req->method != NULL ? req->method->name : "";
}

json_t *
rpc_error_response(json_t *id, int code, const char *message)
{
	return json_pack("{s:s, s:O?, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id, "error", "code",
			 code, "message", message != NULL ? message : "error");
}

static json_t *
result_response(json_t *id, json_t *result)
{
	return json_pack("{s:s, s:O?, s:O}", "jsonrpc", "2.0", "id", id, "result",
			 result != NULL ? result : json_null());
}

static struct spur_rpc_request *
request_alloc(enum request_origin origin)
{
	struct spur_rpc_request *req = calloc(1, sizeof(*req));

	if (req != NULL) {
		req->origin = origin;
		atomic_init(&req->end_claimed, false);
	}
	return req;
}

static void
request_free(struct spur_rpc_request *req)
{
	json_decref(req->id);
	json_decref(req->params);
	json_decref(req->result);
	if (req->decoded != &req->raw)
		free(req->decoded);
	free(req->message);
	free(req);
}

/* App thread, exactly once: hand the outcome over, free. */
static void
request_deliver(void *ctx)
{
	struct spur_rpc_request *req = ctx;
	json_t *response = NULL;

	if (req->origin == ORIGIN_CALL) {
		/* message is NULL only if formatting it ran out of memory. */
		req->to.call.cb(req->to.call.ctx, req->code,
				req->code ? (req->message ? req->message : "error") : NULL,
				req->code ? NULL : (req->result ? req->result : json_null()));
	} else {
		if (req->id != NULL) {
			response = req->code == 0 ? result_response(req->id, req->result)
						  : rpc_error_response(req->id, req->code,
								       req->message);
			if (response == NULL)
				SPUR_ERRLOG("out of memory building the reply to %s",
					    spur_rpc_request_method(req));
		}
		req->to.remote.done(req->to.remote.ctx, response);
	}
	request_free(req);
}

/*
 * App thread, exactly once: a successful configuration change first goes
 * through the hook (autosave), which may hold the reply until the change is
 * on disk and then resume it, so what was acknowledged survives a crash.
 */
static void
request_finish(struct spur_rpc_request *req)
{
	if (req->code == 0 && req->method != NULL && req->method->changes_config &&
	    g_config_changed_hook != NULL &&
	    g_config_changed_hook(req->method->name, request_deliver, req))
		return;
	request_deliver(req);
}

static void
request_forwarded(void *ctx)
{
	request_finish(ctx);
}

/* Takes ownership of message (heap) and result; callable from any thread. */
static void
request_end(struct spur_rpc_request *req, int code, char *message, json_t *result)
{
	struct spur_thread *app;
	bool logged = false;
	int rc;

	if (req == NULL) {
		SPUR_ERRLOG("RPC reply to a NULL request ignored");
		goto drop;
	}
	if (atomic_exchange(&req->end_claimed, true)) {
		SPUR_ERRLOG("RPC %s: request ended twice; the second reply is ignored",
			    spur_rpc_request_method(req));
		goto drop;
	}
	req->code = code;
	req->message = message;
	req->result = result;

	app = spur_get_app_thread();
	if (app != NULL && spur_get_thread() != app) {
		/* Queue-full is transient back-pressure: the app thread drains it. */
		while ((rc = spur_thread_send_msg(app, request_forwarded, req)) == -ENOMEM) {
			if (!logged) {
				SPUR_WARNLOG("app thread queue full; retrying an RPC reply");
				logged = true;
			}
			sched_yield();
		}
		if (rc != 0)
			SPUR_ERRLOG("RPC %s: cannot forward the reply to the app thread (%d); "
				    "request leaked",
				    spur_rpc_request_method(req), rc);
		return;
	}
	if (req->in_handler) {
		req->end_deferred = true;
		return;
	}
	request_finish(req);
	return;
drop:
	free(message);
	json_decref(result);
}

void
spur_rpc_reply(struct spur_rpc_request *req, json_t *result)
{
	request_end(req, 0, NULL, result);
}

void
spur_rpc_reply_bool(struct spur_rpc_request *req, bool value)
{
	request_end(req, 0, NULL, json_boolean(value));
}

void
spur_rpc_error(struct spur_rpc_request *req, int code, const char *fmt, ...)
{
	char *message = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&message, fmt, ap) < 0)
		message = NULL; /* delivered as a generic message */
	va_end(ap);
	if (code == 0) {
		SPUR_WARNLOG("RPC %s: error reply with code 0 turned into -32603",
			     spur_rpc_request_method(req));
		code = SPUR_RPC_ERROR_INTERNAL;
	}
	request_end(req, code, message, NULL);
}

/* Why a method may not run now, in SPDK's words. */
static void
fail_state(struct spur_rpc_request *req, const char *name)
{
	uint32_t states = req->method->states;

	if ((states & SPUR_RPC_STARTUP) && spur_rpc_get_state() == SPUR_RPC_RUNTIME)
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_STATE,
			       "Method %.128s may only be called before framework_start_init",
			       name);
	else if ((states & SPUR_RPC_RUNTIME) && spur_rpc_get_state() == SPUR_RPC_STARTUP)
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_STATE,
			       "Method %.128s may only be called after framework_start_init", name);
	else
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_STATE,
			       "Method %.128s is not available in the current state", name);
}

/* Find, check, decode, run; the request ends exactly once from here on. */
static void
request_dispatch(struct spur_rpc_request *req, const char *name)
{
	const struct spur_rpc_method *m = spur_rpc_find_method(name);
	char err[256];

	if (m == NULL) {
		spur_rpc_error(req, SPUR_RPC_ERROR_METHOD_NOT_FOUND, "Method not found: %.128s",
			       name != NULL ? name : "(null)");
		return;
	}
	req->method = m;
	SPUR_DEBUGLOG("rpc", "call %s", m->name);
	if ((m->states & spur_rpc_get_state()) == 0) {
		fail_state(req, name);
		return;
	}
	if (m->raw_params) {
		req->raw = json_is_null(req->params) ? NULL : req->params;
		req->decoded = &req->raw;
	} else {
		req->decoded = calloc(1, m->params_size ? m->params_size : 1);
		if (req->decoded == NULL) {
			spur_rpc_error(req, SPUR_RPC_ERROR_INTERNAL, "out of memory");
			return;
		}
		if (spur_rpc_decode_params(m, req->params, req->decoded, err, sizeof(err)) != 0) {
			spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS, "%s", err);
			return;
		}
	}
	req->in_handler = true;
	m->handler(req, req->decoded);
	req->in_handler = false;
	if (req->end_deferred)
		request_finish(req);
}

static void
reply_invalid(json_t *id, const char *message, rpc_response_fn done, void *ctx)
{
	done(ctx, rpc_error_response(id, SPUR_RPC_ERROR_INVALID_REQUEST, message));
}

void
rpc_handle_request(json_t *msg, rpc_response_fn done, void *ctx)
{
	json_t *id, *version, *method;
	struct spur_rpc_request *req;

	if (!json_is_object(msg)) {
		reply_invalid(NULL, "invalid request: not an object", done, ctx);
		return;
	}
	id = json_object_get(msg, "id");
	if (id != NULL && !json_is_string(id) && !json_is_number(id) && !json_is_null(id)) {
		reply_invalid(NULL, "invalid request: id must be a string, a number or null", done,
			      ctx);
		return;
	}
	version = json_object_get(msg, "jsonrpc");
	if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0) {
		reply_invalid(id, "invalid request: jsonrpc must be \"2.0\"", done, ctx);
		return;
	}
	method = json_object_get(msg, "method");
	if (!json_is_string(method)) {
		reply_invalid(id, "invalid request: method must be a string", done, ctx);
		return;
	}
	req = request_alloc(ORIGIN_REMOTE);
	if (req == NULL) {
		done(ctx, rpc_error_response(id, SPUR_RPC_ERROR_INTERNAL, "out of memory"));
		return;
	}
	req->to.remote.done = done;
	req->to.remote.ctx = ctx;
	req->params = json_incref(json_object_get(msg, "params"));
	if (id != NULL) {
		req->id = json_deep_copy(id);
		if (req->id == NULL) {
			request_free(req);
			done(ctx, rpc_error_response(id, SPUR_RPC_ERROR_INTERNAL, "out of memory"));
			return;
		}
	}
	request_dispatch(req, json_string_value(method));
}

void
spur_rpc_call(const char *method, json_t *params, spur_rpc_call_cb cb, void *ctx)
{
	struct spur_rpc_request *req = request_alloc(ORIGIN_CALL);

	if (req == NULL) {
		cb(ctx, SPUR_RPC_ERROR_INTERNAL, "out of memory", NULL);
		return;
	}
	req->to.call.cb = cb;
	req->to.call.ctx = ctx;
	req->params = json_incref(params);
	request_dispatch(req, method);
}
