/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to lib/rpc: client connections of the Unix-socket server.
 *
 * server.c owns the listener, the private epoll instance and the pollers;
 * conn.c owns the connections (their buffers, parsing, replies, timeouts).
 * This header is the seam. Everything runs on the application thread.
 */
#ifndef SPUR_RPC_CONN_H
#define SPUR_RPC_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rpc_conn;

/* Settings and shared state, written by server.c, read by conn.c. */
struct rpc_conn_env {
	int epfd;             /* connections register their socket here */
	size_t max_request;   /* bytes per top-level JSON value */
	uint64_t idle_ticks;  /* 0: never time out */
	uint64_t epoch;       /* bumped by server stop: loops must bail out */
};
extern struct rpc_conn_env g_rpc_conn_env;

/* Reset the connection lists (server start). */
void rpc_conns_init(void);

/*
 * Adopt an accepted nonblocking socket: register it with the epoll
 * instance (edge-triggered; event data = the connection). Returns the
 * connection or NULL (the caller closes fd).
 */
struct rpc_conn *rpc_conn_create(int fd);
uint32_t rpc_conn_id(const struct rpc_conn *c);

/*
 * Do everything the connection allows now (answer buffered requests,
 * write, read within a per-call budget). c may be freed on return.
 */
void rpc_conn_service(struct rpc_conn *c);

/*
 * Serve the connections that ran out of budget before this call (not those
 * that run out during it). Returns how many were served.
 */
int rpc_conns_service_revisits(void);

/* Some connection waits on the revisit list. */
bool rpc_conns_need_revisit(void);

/*
 * Implemented by server.c: a connection stopped on its budget and must be
 * served again within about a millisecond, without waiting for an edge.
 */
void rpc_server_want_revisit(void);

/* Drop connections idle or stalled too long. Returns how many. */
int rpc_conns_expire(uint64_t now);

/*
 * Close every connection (server stop). Connections with a request in a
 * handler linger, fd closed, until that request ends; its reply is dropped.
 */
void rpc_conns_close_all(void);

#endif
