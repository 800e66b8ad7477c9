/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to lib/rpc: the seam between the byte-level server (server.c) and
 * JSON-RPC request handling (request.c). Everything here runs on the
 * application thread.
 */
#ifndef SPUR_RPC_INTERNAL_H
#define SPUR_RPC_INTERNAL_H

#include <jansson.h>

#include "spur/rpc.h"

/*
 * Receives the response to one request: a new reference to a complete
 * JSON-RPC response object, or NULL when there is nothing to send (the
 * request was a notification).
 */
typedef void (*rpc_response_fn)(void *ctx, json_t *response);

/*
 * Handle one element of a JSON-RPC message (a request object, or anything a
 * client put in its place, which is answered -32600). msg is borrowed; what
 * the request needs is referenced or copied. done(ctx, response) is called
 * exactly once on the application thread, possibly before this returns.
 */
void rpc_handle_request(json_t *msg, rpc_response_fn done, void *ctx);

/*
 * A new error response {"jsonrpc":"2.0","id":id,"error":{"code","message"}};
 * id is borrowed (NULL is written as null). NULL on allocation failure.
 */
json_t *rpc_error_response(json_t *id, int code, const char *message);

#endif
