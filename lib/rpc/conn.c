/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Client connections of the JSON-RPC server: input buffering and framing,
 * request and batch sequencing, reply buffering, close and timeouts.
 *
 * A connection (struct rpc_conn) is a state machine:
 *
 *   OPEN --peer EOF, nothing left to answer--------------------------> closed
 *    |  \--protocol error (bad JSON, garbage, too large): the error
 *    |     reply is queued--> DRAINING --reply flushed, SHUT_WR, input
 *    |                          |        discarded until EOF--------> closed
 *    +--socket error, idle/stall timeout, server stop (also from DRAINING):
 *         no request pending and not being serviced ------------------> freed
 *         otherwise --> ZOMBIE (fd closed) --pending request ends----> freed
 *
 * conn_close performs every transition to ZOMBIE; conn_free is reached
 * only from ZOMBIE, when neither a request (pending) nor conn_service
 * (in_service) refers to the connection any more.
 *
 * Invariants: at most one request of a connection is in a handler (pending);
 * while it is, the connection's input is neither parsed nor read, so replies
 * leave in request order and a flooding client is held back by its socket
 * buffer. Input is bounded by max_request bytes per value; output stops the
 * parser above RPC_OUT_HIGH unsent bytes and drops the client above
 * RPC_OUT_MAX. Every OPEN/DRAINING connection is on g_conns; a ZOMBIE is on
 * no list and is reachable only from its pending request.
 *
 * Edge triggering: a service reads and writes until EAGAIN unless its read
 * budget runs out; then the connection goes on the revisit list, which the
 * server's 1 ms retry poller serves on its next run. A connection stopped by
 * a pending request goes on that list when the request ends asynchronously
 * (its reply is sent at once), one stopped by full output resumes on the
 * EPOLLOUT edge.
 *
 * Threading: application thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spur/log.h"
#include "spur/rpc.h"
#include "spur/util.h"

#include "conn.h"
#include "framing.h"
#include "rpc_internal.h"

#define RPC_READ_BUDGET (4u << 20)   /* bytes read per connection per service */
#define RPC_READ_CHUNK (64u << 10)
#define RPC_OUT_HIGH (1u << 20)      /* stop answering above this much unsent */
#define RPC_OUT_MAX (256u << 20)     /* a client this far behind is dropped */
#define RPC_LINGER_MAX (256u << 20)  /* input discarded after a protocol error */
#define RPC_MAX_BATCH 4096
#define RPC_KEEP_BUF (64u << 10)     /* empty buffers above this are freed */

enum conn_state {
	CONN_OPEN,
	CONN_DRAINING,
	CONN_ZOMBIE,
};

struct rpc_conn {
	TAILQ_ENTRY(rpc_conn) link;    /* g_conns */
	TAILQ_ENTRY(rpc_conn) revisit; /* g_revisit when on_revisit */
	bool on_revisit;
	enum conn_state state;
	int fd;
	uint32_t id;
	bool eof;        /* the peer will send nothing more */
	bool shut_wr;    /* DRAINING: our side is shut after the error reply */
	bool pending;    /* a request is in a handler */
	bool in_service; /* conn_service is on the stack */
	uint64_t last_activity; /* ticks: bytes in or out, or a request ended */
	/* Input: in[rd, in_len) not yet consumed; the framer scans from rd. */
	char *in;
	size_t rd, in_len, in_cap;
	struct rpc_framer framer;
	size_t discarded; /* DRAINING: input bytes thrown away */
	/* Output: out[wr, out_len) not yet sent. */
	char *out;
	size_t wr, out_len, out_cap;
	/* A batch being worked through, element by element. */
	json_t *batch;
	size_t batch_idx;
	json_t *batch_replies;
};

struct rpc_conn_env g_rpc_conn_env = {.epfd = -1};

static TAILQ_HEAD(, rpc_conn) g_conns = TAILQ_HEAD_INITIALIZER(g_conns);
static TAILQ_HEAD(, rpc_conn) g_revisit = TAILQ_HEAD_INITIALIZER(g_revisit);
static size_t g_num_revisit;
static uint32_t g_next_id;
static char g_discard[RPC_READ_CHUNK];

static void conn_service(struct rpc_conn *c);

void
rpc_conns_init(void)
{
	TAILQ_INIT(&g_conns);
	TAILQ_INIT(&g_revisit);
	g_num_revisit = 0;
}

uint32_t
rpc_conn_id(const struct rpc_conn *c)
{
	return c->id;
}

/* ---- connection lifetime ----------------------------------------------- */

static void
revisit_set(struct rpc_conn *c, bool on)
{
	if (on && !c->on_revisit) {
		TAILQ_INSERT_TAIL(&g_revisit, c, revisit);
		g_num_revisit++;
		rpc_server_want_revisit();
	} else if (!on && c->on_revisit) {
		TAILQ_REMOVE(&g_revisit, c, revisit);
		g_num_revisit--;
	}
	c->on_revisit = on;
}

static void
conn_free(struct rpc_conn *c)
{
	json_decref(c->batch);
	json_decref(c->batch_replies);
	free(c->in);
	free(c->out);
	free(c);
}

/*
 * Close the socket and leave every list. The struct goes now, or, while a
 * request or conn_service still refers to it, when they let go.
 */
static void
conn_close(struct rpc_conn *c)
{
	if (c->state == CONN_ZOMBIE)
		return;
	revisit_set(c, false);
	TAILQ_REMOVE(&g_conns, c, link);
	epoll_ctl(g_rpc_conn_env.epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->state = CONN_ZOMBIE;
	if (!c->pending && !c->in_service)
		conn_free(c);
}

static void
conn_drop(struct rpc_conn *c, const char *reason)
{
	SPUR_NOTICELOG("RPC client %u dropped: %s", c->id, reason);
	conn_close(c);
}

struct rpc_conn *
rpc_conn_create(int fd)
{
	struct rpc_conn *c = calloc(1, sizeof(*c));
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};

	if (c == NULL)
		return NULL;
	c->fd = fd;
	c->id = ++g_next_id;
	c->last_activity = spur_get_ticks();
	rpc_framer_init(&c->framer);
	ev.data.ptr = c;
	if (epoll_ctl(g_rpc_conn_env.epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		free(c);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&g_conns, c, link);
	return c;
}

/* ---- output -------------------------------------------------------------- */

static size_t
out_unsent(const struct rpc_conn *c)
{
	return c->out_len - c->wr;
}

static int
out_append(const char *data, size_t len, void *arg)
{
	struct rpc_conn *c = arg;
	size_t cap;
	char *n;

	if (c->out_cap - c->out_len < len) {
		if (c->wr > 0) {
			memmove(c->out, c->out + c->wr, c->out_len - c->wr);
			c->out_len -= c->wr;
			c->wr = 0;
		}
		cap = c->out_cap ? c->out_cap : 4096;
		while (cap - c->out_len < len)
			cap *= 2;
		if (cap != c->out_cap) {
			n = realloc(c->out, cap);
			if (n == NULL)
				return -1;
			c->out = n;
			c->out_cap = cap;
		}
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

/* Queue one response (reference stolen) as a compact line. */
static void
conn_send(struct rpc_conn *c, json_t *response)
{
	size_t mark = c->out_len - c->wr;
	json_t *alt;

	if (response == NULL)
		return;
	if (json_dump_callback(response, out_append, c, JSON_COMPACT) != 0) {
		/* Roll back the partial text and say why instead. */
		c->out_len = c->wr + mark;
		SPUR_ERRLOG("RPC client %u: cannot encode a reply", c->id);
		alt = rpc_error_response(json_is_object(response) ? json_object_get(response, "id")
								  : NULL,
					 SPUR_RPC_ERROR_INTERNAL, "cannot encode the reply");
		if (alt == NULL || json_dump_callback(alt, out_append, c, JSON_COMPACT) != 0)
			c->out_len = c->wr + mark;
		json_decref(alt);
	}
	json_decref(response);
	if (c->out_len - c->wr > mark)
		out_append("\n", 1, c);
}

/* Write until EAGAIN or empty. Returns 0, or the errno that broke the socket. */
static int
conn_flush(struct rpc_conn *c)
{
	ssize_t n;

	while (out_unsent(c) > 0) {
		n = send(c->fd, c->out + c->wr, out_unsent(c), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return errno;
		}
		c->wr += (size_t)n;
		c->last_activity = spur_get_ticks();
	}
	c->wr = c->out_len = 0;
	if (c->out_cap > RPC_KEEP_BUF) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
	return 0;
}

/*
 * Flush, closing the connection on a broken socket. Returns false when it
 * was closed (then c is freed unless pending or in_service).
 */
static bool
conn_flush_or_close(struct rpc_conn *c)
{
	char reason[96];
	int err = conn_flush(c);

	if (err == 0)
		return true;
	if (err == EPIPE || err == ECONNRESET) {
		SPUR_INFOLOG("RPC client %u went away before its reply", c->id);
		conn_close(c);
	} else {
		spur_strfmt(reason, sizeof(reason), "send failed: %s", strerror(err));
		conn_drop(c, reason);
	}
	return false;
}

/* ---- requests ------------------------------------------------------------- */

/* After a protocol error nothing more can be parsed: answer, then close. */
static void
conn_fatal(struct rpc_conn *c, int code, const char *message)
{
	SPUR_WARNLOG("RPC client %u: %s; closing the connection", c->id, message);
	conn_send(c, rpc_error_response(NULL, code, message));
	c->state = CONN_DRAINING;
	free(c->in);
	c->in = NULL;
	c->rd = c->in_len = c->in_cap = 0;
}

static void batch_continue(struct rpc_conn *c);

/* Receives each response; runs inside conn_service or, when async, later. */
static void
conn_response(void *ctx, json_t *response)
{
	struct rpc_conn *c = ctx;

	c->pending = false;
	if (c->state == CONN_ZOMBIE) {
		json_decref(response);
		if (!c->in_service)
			conn_free(c);
		return;
	}
	c->last_activity = spur_get_ticks();
	if (c->batch != NULL) {
		if (response != NULL)
			json_array_append_new(c->batch_replies, response);
		c->batch_idx++;
	} else {
		conn_send(c, response);
	}
	if (c->in_service)
		return;
	/*
	 * An asynchronous end, possibly from inside another request's handler:
	 * the reply leaves now, but the next request of this connection starts
	 * from the poller, never nested in whoever ended this one.
	 */
	if (conn_flush_or_close(c))
		revisit_set(c, true);
}

static void
conn_dispatch(struct rpc_conn *c, json_t *msg)
{
	c->pending = true;
	rpc_handle_request(msg, conn_response, c);
}

static void
batch_continue(struct rpc_conn *c)
{
	while (!c->pending && c->state == CONN_OPEN && c->batch_idx < json_array_size(c->batch))
		conn_dispatch(c, json_array_get(c->batch, c->batch_idx));
	if (c->pending || c->state != CONN_OPEN)
		return;
	if (json_array_size(c->batch_replies) > 0)
		conn_send(c, c->batch_replies);
	else
		json_decref(c->batch_replies);
	json_decref(c->batch);
	c->batch = c->batch_replies = NULL;
}

/* doc: a parsed top-level object or array (reference stolen). */
static void
conn_handle_document(struct rpc_conn *c, json_t *doc)
{
	char msg[96];

	if (json_is_object(doc)) {
		conn_dispatch(c, doc);
		json_decref(doc); /* the request holds what it needs */
		return;
	}
	if (json_array_size(doc) == 0 || json_array_size(doc) > RPC_MAX_BATCH) {
		if (json_array_size(doc) == 0)
			spur_strfmt(msg, sizeof(msg), "invalid request: empty batch");
		else
			spur_strfmt(msg, sizeof(msg), "invalid request: batch too large (limit %d)",
				    RPC_MAX_BATCH);
		conn_send(c, rpc_error_response(NULL, SPUR_RPC_ERROR_INVALID_REQUEST, msg));
		json_decref(doc);
		return;
	}
	c->batch_replies = json_array();
	if (c->batch_replies == NULL) {
		conn_send(c, rpc_error_response(NULL, SPUR_RPC_ERROR_INTERNAL, "out of memory"));
		json_decref(doc);
		return;
	}
	c->batch = doc;
	c->batch_idx = 0;
	batch_continue(c);
}

static void
conn_too_large(struct rpc_conn *c)
{
	char msg[96];

	spur_strfmt(msg, sizeof(msg), "request too large (limit %zu bytes)",
		    g_rpc_conn_env.max_request);
	conn_fatal(c, SPUR_RPC_ERROR_PARSE, msg);
}

/*
 * Parse and answer complete values while the connection may take more.
 * Returns true when it stopped for lack of input (or cannot parse at all),
 * false when it stopped with complete input left (pending, output full).
 */
static bool
conn_parse(struct rpc_conn *c)
{
	enum rpc_frame_status st;
	json_error_t jerr;
	size_t start, end;
	char msg[256];
	json_t *doc;

	if (c->state != CONN_OPEN)
		return true;
	while (c->state == CONN_OPEN && !c->pending && out_unsent(c) < RPC_OUT_HIGH) {
		if (c->batch != NULL) {
			batch_continue(c);
			continue;
		}
		if (c->rd == c->in_len)
			return true; /* nothing buffered (c->in may even be NULL) */
		st = rpc_framer_scan(&c->framer, c->in + c->rd, c->in_len - c->rd, &start, &end);
		if (st == RPC_FRAME_NEED_MORE) {
			if (!c->framer.in_value) {
				/* Only whitespace so far: drop it. */
				c->rd = c->in_len;
				rpc_framer_init(&c->framer);
			} else if (rpc_framer_value_bytes(&c->framer) >
				   g_rpc_conn_env.max_request) {
				conn_too_large(c);
			}
			return true;
		}
		if (st == RPC_FRAME_ERROR) {
			spur_strfmt(msg, sizeof(msg),
				    "parse error: a request must be a JSON object or array "
				    "(unexpected byte 0x%02x)",
				    (unsigned char)c->in[c->rd + start]);
			conn_fatal(c, SPUR_RPC_ERROR_PARSE, msg);
			return true;
		}
		if (end - start > g_rpc_conn_env.max_request) {
			conn_too_large(c);
			return true;
		}
		doc = json_loadb(c->in + c->rd + start, end - start, 0, &jerr);
		c->rd += end;
		rpc_framer_init(&c->framer);
		if (doc == NULL) {
			spur_strfmt(msg, sizeof(msg), "parse error: %s (line %d, column %d)",
				    jerr.text, jerr.line, jerr.column);
			conn_fatal(c, SPUR_RPC_ERROR_PARSE, msg);
			return true;
		}
		conn_handle_document(c, doc);
	}
	return c->state != CONN_OPEN;
}

/* ---- input ------------------------------------------------------------------ */

/* Room for one read at the end of the input buffer; false when out of memory. */
static bool
in_reserve(struct rpc_conn *c)
{
	size_t want = RPC_READ_CHUNK, cap;
	char *n;

	if (c->rd == c->in_len) {
		c->rd = c->in_len = 0;
	} else if (c->rd > 0 && c->in_cap - c->in_len < want) {
		/* Offsets in the framer are relative to rd, so they survive the move. */
		memmove(c->in, c->in + c->rd, c->in_len - c->rd);
		c->in_len -= c->rd;
		c->rd = 0;
	}
	if (c->in_cap - c->in_len >= want)
		return true;
	cap = c->in_cap ? c->in_cap : RPC_READ_CHUNK;
	while (cap - c->in_len < want)
		cap *= 2;
	/* No point in room beyond one maximal request plus a read. */
	cap = SPUR_MAX(SPUR_MIN(cap, g_rpc_conn_env.max_request + 2 * want), c->in_len + want);
	n = realloc(c->in, cap);
	if (n == NULL)
		return false;
	c->in = n;
	c->in_cap = cap;
	return true;
}

/*
 * One read. Returns 1 when something happened (bytes or EOF), 0 on EAGAIN,
 * -1 when the connection must be dropped (errno-style reason logged).
 */
static int
conn_read(struct rpc_conn *c, size_t *budget)
{
	size_t len;
	ssize_t n;
	char *dst;

	if (c->state == CONN_DRAINING) {
		dst = g_discard;
		len = sizeof(g_discard);
	} else {
		if (!in_reserve(c)) {
			conn_drop(c, "out of memory for its request");
			return -1;
		}
		dst = c->in + c->in_len;
		len = c->in_cap - c->in_len;
	}
	len = SPUR_MIN(len, *budget);
	do {
		n = recv(c->fd, dst, len, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		/* A reset while idle is a normal way for a client to leave. */
		if (c->state == CONN_OPEN && c->rd == c->in_len && errno == ECONNRESET) {
			conn_close(c);
		} else {
			char reason[96];

			spur_strfmt(reason, sizeof(reason), "receive failed: %s", strerror(errno));
			conn_drop(c, reason);
		}
		return -1;
	}
	if (n == 0) {
		c->eof = true;
		return 1;
	}
	*budget -= (size_t)n;
	c->last_activity = spur_get_ticks();
	if (c->state == CONN_DRAINING) {
		c->discarded += (size_t)n;
		if (c->discarded > RPC_LINGER_MAX) {
			conn_drop(c, "kept sending after a protocol error");
			return -1;
		}
	} else {
		c->in_len += (size_t)n;
	}
	return 1;
}

static bool
conn_may_read(const struct rpc_conn *c)
{
	if (c->eof || c->state == CONN_ZOMBIE)
		return false;
	if (c->state == CONN_DRAINING)
		return true; /* discarding */
	return !c->pending && c->batch == NULL && out_unsent(c) < RPC_OUT_HIGH;
}

/*
 * Decide whether a connection is done (starved: conn_parse has nothing left
 * it could answer). Returns true when it was closed.
 */
static bool
conn_check_end(struct rpc_conn *c, bool starved)
{
	if (c->pending || out_unsent(c) > 0)
		return false;
	if (c->state == CONN_DRAINING) {
		if (!c->shut_wr) {
			/* The error reply is out: tell the client, keep reading to EOF. */
			shutdown(c->fd, SHUT_WR);
			c->shut_wr = true;
		}
		if (!c->eof)
			return false;
		conn_close(c);
		return true;
	}
	if (c->eof && starved && c->batch == NULL) {
		if (c->framer.in_value)
			SPUR_NOTICELOG("RPC client %u hung up in mid-request (%zu bytes)", c->id,
				       rpc_framer_value_bytes(&c->framer));
		conn_close(c);
		return true;
	}
	return false;
}

/*
 * Do everything the connection allows now: answer complete requests, write,
 * read within the budget. Safe to call at any time on a live connection.
 */
static void
conn_service(struct rpc_conn *c)
{
	size_t budget = RPC_READ_BUDGET;
	bool starved;
	int rc;

	if (c->state == CONN_ZOMBIE || c->in_service)
		return;
	c->in_service = true;
	revisit_set(c, false);
	for (;;) {
		starved = conn_parse(c);
		if (c->state == CONN_ZOMBIE)
			break; /* a handler stopped the server */
		if (!conn_flush_or_close(c))
			break;
		if (out_unsent(c) > RPC_OUT_MAX) {
			conn_drop(c, "does not read its replies");
			break;
		}
		/* Output drained below the mark: answer what is already buffered. */
		if (!starved && !c->pending && out_unsent(c) < RPC_OUT_HIGH)
			continue;
		if (conn_check_end(c, starved) || !conn_may_read(c))
			break;
		if (budget == 0) {
			revisit_set(c, true);
			break;
		}
		rc = conn_read(c, &budget);
		if (rc <= 0)
			break;
	}
	c->in_service = false;
	if (c->state == CONN_ZOMBIE) {
		if (!c->pending)
			conn_free(c);
		return;
	}
	if (c->rd == c->in_len && c->in_cap > RPC_KEEP_BUF) {
		/* Do not hold on to the room a big request needed. */
		free(c->in);
		c->in = NULL;
		c->rd = c->in_len = c->in_cap = 0;
	}
}

void
rpc_conn_service(struct rpc_conn *c)
{
	conn_service(c);
}

int
rpc_conns_service_revisits(void)
{
	uint64_t epoch = g_rpc_conn_env.epoch;
	size_t todo = g_num_revisit;
	struct rpc_conn *c;
	int n = 0;

	/* Those re-added during the loop go to the tail and wait (fairness). */
	while (todo-- > 0 && epoch == g_rpc_conn_env.epoch &&
	       (c = TAILQ_FIRST(&g_revisit)) != NULL) {
		n++;
		conn_service(c); /* takes c off the list first */
	}
	return n;
}

bool
rpc_conns_need_revisit(void)
{
	return g_num_revisit > 0;
}

int
rpc_conns_expire(uint64_t now)
{
	struct rpc_conn *c, *next;
	int dropped = 0;

	if (g_rpc_conn_env.idle_ticks == 0)
		return 0;
	for (c = TAILQ_FIRST(&g_conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->pending || now - c->last_activity <= g_rpc_conn_env.idle_ticks)
			continue;
		if (out_unsent(c) > 0)
			conn_drop(c, "stalled: not reading its replies");
		else if (c->state == CONN_DRAINING)
			conn_drop(c, "did not hang up after a protocol error");
		else if (c->rd < c->in_len || c->framer.in_value)
			conn_drop(c, "stalled in the middle of a request");
		else
			conn_drop(c, "idle");
		dropped++;
	}
	return dropped;
}

void
rpc_conns_close_all(void)
{
	struct rpc_conn *c;

	g_rpc_conn_env.epoch++;
	while ((c = TAILQ_FIRST(&g_conns)) != NULL)
		conn_close(c);
}
