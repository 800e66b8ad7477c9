/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC 2.0 control plane: method registry, declared parameter tables, the
 * Unix-socket server and in-process calls (used to apply config files).
 *
 * Methods are declared in tables (struct spur_rpc_method) and registered
 * explicitly at start-up. One decoder validates every call against the
 * method's parameter table: unknown, missing, mistyped and out-of-range
 * parameters are refused with -32602 and a message naming the field, before
 * the handler runs.
 *
 * Threading: handlers run on the application thread. A handler must end the
 * request exactly once with spur_rpc_reply*() or spur_rpc_error*(), either
 * before returning or later from any thread (the reply is then forwarded to
 * the application thread). Requests of one connection are handled one at a
 * time, so replies come back in request order.
 */
#ifndef SPUR_RPC_H
#define SPUR_RPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* JSON-RPC 2.0 error codes; method-specific errors use a negative errno. */
#define SPUR_RPC_ERROR_PARSE -32700
#define SPUR_RPC_ERROR_INVALID_REQUEST -32600
#define SPUR_RPC_ERROR_METHOD_NOT_FOUND -32601
#define SPUR_RPC_ERROR_INVALID_PARAMS -32602
#define SPUR_RPC_ERROR_INTERNAL -32603
/* SPDK's code for a method called in the wrong framework state. */
#define SPUR_RPC_ERROR_INVALID_STATE -1

/* States a method may be called in (bit mask). */
#define SPUR_RPC_STARTUP 0x1u /* --wait-for-rpc, before framework_start_init */
#define SPUR_RPC_RUNTIME 0x2u /* after initialization */

enum spur_rpc_type {
	SPUR_RPC_BOOL,
	SPUR_RPC_INT32,
	SPUR_RPC_UINT32,
	SPUR_RPC_INT64,
	SPUR_RPC_UINT64,
	SPUR_RPC_STRING,  /* const char *, valid until the request ends */
	SPUR_RPC_OBJECT,  /* json_t * (borrowed), must be an object */
	SPUR_RPC_ARRAY,   /* json_t * (borrowed), must be an array */
	SPUR_RPC_ANY,     /* json_t * (borrowed), any JSON value */
	SPUR_RPC_DOUBLE,  /* double, integer or real */
};

struct spur_rpc_param {
	const char *name;
	enum spur_rpc_type type;
	bool required;
	/*
	 * Bounds when has_bounds: integers must lie in [min, max] (max read as
	 * unsigned for UINT types); strings must have a length in [min, max].
	 */
	bool has_bounds;
	int64_t min;
	uint64_t max;
	/* offsetof the field in the method's params struct. */
	size_t offset;
	const char *help;
};

struct spur_rpc_request;

typedef void (*spur_rpc_handler)(struct spur_rpc_request *req, void *params);

struct spur_rpc_method {
	const char *name;
	const char *help;
	const struct spur_rpc_param *params;
	size_t num_params;
	/* Size of the params struct the decoder fills (zeroed first). */
	size_t params_size;
	/* Optional: set defaults in the zeroed struct before decoding. */
	void (*set_defaults)(void *params);
	spur_rpc_handler handler;
	uint32_t states;       /* SPUR_RPC_STARTUP | SPUR_RPC_RUNTIME */
	/*
	 * The whole "params" value is handed to the handler as a json_t *
	 * (params points to a json_t * slot) instead of being decoded
	 * (load_config takes a full configuration object).
	 */
	bool raw_params;
	/* A successful call changes the saved configuration (autosave). */
	bool changes_config;
	/* Deprecated names that also reach this method (NULL-terminated). */
	const char *const *aliases;
};

/*
 * Register a table of methods. Duplicate names abort (a programming error).
 * Must be called before spur_rpc_server_start or from the app thread.
 */
void spur_rpc_register_methods(const struct spur_rpc_method *methods, size_t count);
/* Remove every registration (tests, shutdown). */
void spur_rpc_unregister_all(void);
const struct spur_rpc_method *spur_rpc_find_method(const char *name);
/* Visit every method in registration order. */
void spur_rpc_for_each_method(void (*fn)(const struct spur_rpc_method *m, void *ctx), void *ctx);
/*
 * Register the methods lib/rpc serves itself: rpc_get_methods (SPDK's) and
 * spur_get_method_schemas (what spurctl types its arguments with). Call once
 * at start-up; calling it again while they are registered does nothing.
 */
void spur_rpc_register_builtin_methods(void);

/* Current framework state: SPUR_RPC_STARTUP or SPUR_RPC_RUNTIME. */
void spur_rpc_set_state(uint32_t state);
uint32_t spur_rpc_get_state(void);

/*
 * Decode params (NULL, JSON null or an object) against method's table into
 * out (params_size bytes; NULL to validate only). Returns 0 or -EINVAL with a
 * message naming the field in err (always terminated). Strings and json_t
 * values stored in out are borrowed from params. For a raw_params method
 * nothing is validated: out (if not NULL) is a json_t * slot that receives
 * params, or NULL for none.
 */
int spur_rpc_decode_params(const struct spur_rpc_method *method, json_t *params, void *out,
			   char *err, size_t err_len);
const char *spur_rpc_type_name(enum spur_rpc_type type);

/* ---- replies (exactly one per request) ------------------------------------ */

/* Reply with result (reference stolen; NULL means JSON null). */
void spur_rpc_reply(struct spur_rpc_request *req, json_t *result);
void spur_rpc_reply_bool(struct spur_rpc_request *req, bool value);
void spur_rpc_error(struct spur_rpc_request *req, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* code = neg_errno (SPDK's convention); message from fmt. */
#define spur_rpc_error_errno(req, neg_errno, ...) spur_rpc_error((req), (neg_errno), __VA_ARGS__)
/* The method being served, for log lines. */
const char *spur_rpc_request_method(const struct spur_rpc_request *req);

/* ---- in-process calls ------------------------------------------------------ */

/*
 * Result of an in-process call: on success code is 0 and result holds the
 * reply (borrowed, valid during the callback); otherwise code and message.
 */
typedef void (*spur_rpc_call_cb)(void *ctx, int code, const char *message, json_t *result);
/*
 * Call a method as if it came over the socket, on the application thread:
 * same decoding, same state checks. params (NULL for none) is borrowed; the
 * call keeps its own reference while it runs. cb runs exactly once (possibly
 * before this returns), on the application thread.
 */
void spur_rpc_call(const char *method, json_t *params, spur_rpc_call_cb cb, void *ctx);

/*
 * Called on the app thread after every successful call of a changes_config
 * method, before its reply is sent. The hook returns false to let the reply
 * go at once, or true when it will call resume(ctx) later on the app thread
 * (autosave holds the reply until the configuration file is durable).
 */
void spur_rpc_set_config_changed_hook(bool (*hook)(const char *method,
						   void (*resume)(void *ctx), void *ctx));

/* ---- the Unix-socket server (lives on the application thread) -------------- */

struct spur_rpc_server_opts {
	size_t size;
	const char *path;            /* socket path (default /var/tmp/spur.sock) */
	/*
	 * Drop a client idle or stalled this long (default 60000; 0: never).
	 * A client waiting for an asynchronous handler is never dropped.
	 */
	uint32_t idle_timeout_ms;
	/* Larger requests are refused, client dropped (default and 0: 64 MiB). */
	size_t max_request_bytes;
};
void spur_rpc_server_opts_init(struct spur_rpc_server_opts *opts, size_t size);
/*
 * Listen on opts->path (a stale socket file is replaced; a live one held by
 * another process is refused with -EADDRINUSE). Call on the app thread.
 */
int spur_rpc_server_start(const struct spur_rpc_server_opts *opts);
/* Close every connection and the listener, remove the socket file. */
void spur_rpc_server_stop(void);

#endif
