/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to the protocol side of lib/vhost (vhost_user.c, vhost_user_vring.c,
 * vhost_ctrlr.c, vhost_pg.c, vhost_inflight_fd.c): the vhost-user wire
 * format (QEMU docs/interop/vhost-user.rst), the session a connected
 * frontend owns, and the functions these files call in each other.
 *
 * Session states (application thread):
 *
 *   accept --> ACTIVE: one message at a time is read, validated and handled
 *     |   ^    a handler that needs the poll groups (queue start/stop, memory
 *     |   |    switch, call-fd swap) leaves pending > 0: no further message
 *     |   |    is read (like an async RPC) until every ack came back; then
 *     |   +--- the reply / REPLY_ACK is sent and reading resumes
 *     |
 *     +--(EOF, protocol violation, a failed queue, delete, fini)--> CLOSING:
 *          socket closed at once (the frontend sees EOF and may reconnect),
 *          every started queue stopped (in-flight I/O finished or failed by
 *          the backend) --pending == 0, all queues IDLE--> freed; the
 *          controller accepts the next frontend.
 *
 * Queue states: see vhost_dev.h (IDLE -> STARTING -> STARTED -> STOPPING).
 * While a session is ACTIVE with pending == 0, no queue is STARTING or
 * STOPPING, so a handler sees every queue either IDLE or STARTED.
 *
 * Invariants: s->pending counts operations sent to poll groups and not yet
 * acknowledged; a queue has at most one such operation (sq->op). The
 * session is freed only on the application thread, only by the teardown
 * step, only with pending == 0 and every queue IDLE, so a poll-group ack
 * always finds it.
 */
#ifndef SPUR_VHOST_USER_H
#define SPUR_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "spur/log.h"
#include "vhost_dev.h"

#define VHOST_LOG "vhost"

/* ---- wire format ------------------------------------------------------------ */

enum vhost_user_request {
	VHOST_USER_NONE = 0,
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_LOG_BASE = 6,
	VHOST_USER_SET_LOG_FD = 7,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_SEND_RARP = 19,
	VHOST_USER_NET_SET_MTU = 20,
	VHOST_USER_SET_BACKEND_REQ_FD = 21,
	VHOST_USER_IOTLB_MSG = 22,
	VHOST_USER_SET_VRING_ENDIAN = 23,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
	VHOST_USER_CREATE_CRYPTO_SESSION = 26,
	VHOST_USER_CLOSE_CRYPTO_SESSION = 27,
	VHOST_USER_POSTCOPY_ADVISE = 28,
	VHOST_USER_POSTCOPY_LISTEN = 29,
	VHOST_USER_POSTCOPY_END = 30,
	VHOST_USER_GET_INFLIGHT_FD = 31,
	VHOST_USER_SET_INFLIGHT_FD = 32,
	VHOST_USER_GPU_SET_SOCKET = 33,
	VHOST_USER_RESET_DEVICE = 34,
	VHOST_USER_VRING_KICK = 35,
	VHOST_USER_GET_MAX_MEM_SLOTS = 36,
	VHOST_USER_ADD_MEM_REG = 37,
	VHOST_USER_REM_MEM_REG = 38,
	VHOST_USER_SET_STATUS = 39,
	VHOST_USER_GET_STATUS = 40,
	VHOST_USER_REQUEST_MAX,
};

/* Backend -> frontend requests (the BACKEND_REQ channel). */
#define VHOST_USER_BACKEND_CONFIG_CHANGE_MSG 2

#define VHOST_USER_VERSION 0x1u
#define VHOST_USER_VERSION_MASK 0x3u
#define VHOST_USER_REPLY_MASK (1u << 2)
#define VHOST_USER_NEED_REPLY_MASK (1u << 3)

#define VHOST_USER_HDR_SIZE 12u
#define VHOST_USER_MAX_FDS 8u
/* Hard cap on any payload; the table gives each type its own bound. */
#define VHOST_USER_PAYLOAD_CAP 4096u
#define VHOST_USER_MEM_BASELINE_REGIONS 8u
#define VHOST_USER_MAX_CONFIG_SIZE 256u
#define VHOST_USER_VRING_IDX_MASK 0xffu
#define VHOST_USER_VRING_NOFD_MASK (1u << 8)
#define VHOST_USER_VRING_F_LOG 0x1u

/* Virtio feature bits the protocol itself looks at. */
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VHOST_VIRTIO_F_INDIRECT_DESC 28
#define VHOST_VIRTIO_F_EVENT_IDX 29
#define VHOST_VIRTIO_F_RING_PACKED 34
#define VHOST_F_LOG_ALL 26

/* Protocol feature bits. */
#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_LOG_SHMFD 1
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_BACKEND_REQ 5
#define VHOST_USER_PROTOCOL_F_CONFIG 9
#define VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD 10
#define VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD 12
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE 13
#define VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15
#define VHOST_USER_PROTOCOL_F_STATUS 16

/* Virtio device status bits (SET_STATUS / GET_STATUS). */
#define VHOST_STATUS_DRIVER_OK 0x04u
#define VHOST_STATUS_NEEDS_RESET 0x40u
#define VHOST_STATUS_FAILED 0x80u

struct vhost_user_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};

struct vhost_user_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vhost_user_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

struct vhost_user_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uva;
	uint64_t mmap_offset;
};

struct vhost_user_memory {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_mem_region regions[VHOST_USER_MEM_BASELINE_REGIONS];
};

struct vhost_user_mem_reg {
	uint64_t padding;
	struct vhost_user_mem_region region;
};

struct vhost_user_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t data[VHOST_USER_MAX_CONFIG_SIZE];
};
#define VHOST_USER_CONFIG_HDR_SIZE 12u

struct vhost_user_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
};
/* The fields without the C struct's tail padding (QEMU sends 24). */
#define VHOST_USER_INFLIGHT_MIN_SIZE 20u

union vhost_user_payload {
	uint64_t u64;
	struct vhost_user_vring_state state;
	struct vhost_user_vring_addr addr;
	struct vhost_user_memory memory;
	struct vhost_user_mem_reg mem_reg;
	struct vhost_user_config config;
	struct vhost_user_inflight inflight;
	uint8_t raw[VHOST_USER_PAYLOAD_CAP];
};

/* Name of a request type for logs ("SET_VRING_NUM"), "UNKNOWN" otherwise. */
const char *vhost_user_request_name(uint32_t request);

/* ---- session ------------------------------------------------------------------ */

enum vhost_session_state {
	VHOST_SESSION_ACTIVE,
	VHOST_SESSION_CLOSING,
};

/* Operation a queue has in flight to its poll group (one at a time). */
enum vhost_pg_op {
	VHOST_PG_OP_NONE,
	VHOST_PG_OP_START,
	VHOST_PG_OP_STOP,
	VHOST_PG_OP_SET_MEM,
	VHOST_PG_OP_SET_CALL,
};

/* Why a queue is stopped (for the log; the caller decides what happens next). */
enum vhost_stop_reason {
	VHOST_STOP_DISABLE,        /* SET_VRING_ENABLE 0: may restart on enable */
	VHOST_STOP_GET_BASE,       /* GET_VRING_BASE: kick forgotten until a new one */
	VHOST_STOP_RESET,          /* RESET_DEVICE / RESET_OWNER */
	VHOST_STOP_CLOSE,          /* session teardown */
};

struct vhost_session;

/*
 * A queue as the protocol sees it: the backend's struct vhost_queue first
 * (backends get &sq->q), then the protocol's private state.
 */
struct vhost_session_queue {
	struct vhost_queue q;
	/* App thread. */
	bool kick_set;                   /* SET_VRING_KICK (fd or NOFD) since last stop */
	enum vhost_pg_op op;
	int op_rc;                       /* written by the poll group before its ack */
	const char *op_err;              /* what failed, with op_rc < 0 */
	struct spur_poller *ack_retry;   /* poll group: ack not sent yet (queue full) */
	struct vhost_mem *new_mem;       /* SET_MEM: reference handed to the queue */
	int new_call_fd;                 /* SET_CALL: fd handed to the queue */
	int old_call_fd;                 /* SET_CALL: fd given back, closed on the ack */
	int next_kick_fd;                /* SET_VRING_KICK on a running queue: after the stop */
	bool next_kick_set;
	bool recover;                    /* START: run virtq_recover + queue_resubmit */
	uint16_t *recover_ids;           /* START: array of cfg.size for virtq_recover */
	bool broken;                     /* the poll group reported a broken ring */
	/* Poll-group thread, while started. */
	const struct vhost_backend_ops *ops; /* the controller's, cached for the poller */
	struct vhost_mem **retired;      /* tables replaced while requests used them */
	uint32_t nretired, retired_cap;
	bool broken_reported;
	bool notify_on;                  /* guest notifications enabled (sleeping) */
	char poller_name[64];
};

static inline struct vhost_session_queue *
vhost_sq(struct vhost_queue *q)
{
	return SPUR_CONTAINER_OF(q, struct vhost_session_queue, q);
}

struct vhost_session {
	struct vhost_ctrlr *ctrlr;
	struct spur_thread *thread;      /* the application thread */
	enum vhost_session_state state;
	int fd;
	struct spur_poller *poller;      /* connection (and backend channel) fds */

	/* Reception of the current message. */
	struct vhost_user_hdr hdr;
	union vhost_user_payload payload;
	uint32_t rx_got;                 /* bytes of header + payload received */
	int rx_fds[VHOST_USER_MAX_FDS];
	uint32_t rx_nfds;
	bool in_msg;                     /* a message is being handled (maybe async) */
	bool msg_failed;                 /* its handling failed: close after it */
	bool process_queued;             /* a continue-reading message is queued */

	/* Asynchronous completion of the current message. */
	uint32_t pending;                /* poll-group operations not yet acked */
	int pending_err;                 /* first failure among them */
	void (*finish)(struct vhost_session *s);
	uint32_t finish_arg;             /* e.g. the queue GET_VRING_BASE answers for */

	/* Negotiated state. */
	uint64_t features;
	bool features_set;
	uint64_t protocol_features;
	uint8_t status;
	struct vhost_mem *mem;           /* session's reference; queues hold their own */
	uint16_t max_queues;

	/* Inflight region (vhost_inflight_fd.c). */
	void *inflight_addr;
	uint64_t inflight_size;
	uint16_t inflight_num_queues;
	uint16_t inflight_queue_size;

	/* Backend request channel. */
	int backend_fd;
	uint32_t backend_acks_due;
	uint8_t backend_rx[VHOST_USER_HDR_SIZE + 8];
	uint32_t backend_rx_got;

	/* Teardown. */
	bool teardown_queued;
	struct spur_poller *retry_poller;

	struct vhost_session_queue queues[VHOST_MAX_QUEUES];
};

static inline bool
vhost_session_has_pf(const struct vhost_session *s, unsigned bit)
{
	return (s->protocol_features >> bit) & 1;
}

static inline bool
vhost_session_has_feature(const struct vhost_session *s, unsigned bit)
{
	return (s->features >> bit) & 1;
}

/* ---- vhost_ctrlr.c: session lifecycle --------------------------------------- */

/*
 * Create the session of a frontend connected on fd (nonblocking, owned by
 * the session from now on) and start reading it. Returns 0 or a negative
 * errno (fd closed).
 */
int vhost_session_create(struct vhost_ctrlr *c, int fd);
/* Begin teardown (idempotent): close the socket, stop every queue, free. */
void vhost_session_close(struct vhost_session *s);
/* Continue a teardown when an operation completed (op_done, pending == 0). */
void vhost_session_teardown(struct vhost_session *s);
/* Read acks on the backend request channel (from the session poller). */
void vhost_session_backend_read(struct vhost_session *s);

/* ---- vhost_user.c: messages ------------------------------------------------- */

/* The session poller: read, validate and handle messages. */
int vhost_session_poll(void *ctx);
/* Read and handle messages until none is complete or one waits for acks. */
void vhost_session_process(struct vhost_session *s);
/*
 * A poll-group operation of the current message finished (rc 0 or a
 * negative errno). When the last one is in, the message completes.
 */
void vhost_session_op_done(struct vhost_session *s, int rc);
/*
 * Log "ctrlr: MSG: detail" as an error for the message being handled and
 * mark it failed (the session closes when the handler returns). Returns
 * -EINVAL for `return vhost_msg_error(...)`.
 */
int vhost_msg_error(struct vhost_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Send a reply to the current message (header flags set here). 0 or -errno. */
int vhost_user_reply(struct vhost_session *s, const void *payload, uint32_t size, int fd);
/* Effective enable of a queue (rings start enabled without PROTOCOL_FEATURES). */
bool vhost_queue_is_enabled(const struct vhost_session *s, const struct vhost_session_queue *sq);
/*
 * Start every IDLE queue that is ready (kick, num, addr, memory, enabled).
 * Returns 0 (operations may now be pending) or -EINVAL after logging.
 */
int vhost_session_start_ready(struct vhost_session *s);
/* Stop every STARTED queue for reason (operations pending). */
void vhost_session_stop_all(struct vhost_session *s, enum vhost_stop_reason reason);
/* Forget a queue's configuration and close its fds (IDLE queues). */
void vhost_queue_reset(struct vhost_session_queue *sq);

/* ---- vhost_user_vring.c: ring and memory messages ---------------------------- */

int vhost_user_set_mem_table(struct vhost_session *s);
int vhost_user_add_mem_reg(struct vhost_session *s);
int vhost_user_rem_mem_reg(struct vhost_session *s);
int vhost_user_set_vring_num(struct vhost_session *s);
int vhost_user_set_vring_addr(struct vhost_session *s);
int vhost_user_set_vring_base(struct vhost_session *s);
int vhost_user_get_vring_base(struct vhost_session *s);
int vhost_user_set_vring_fd(struct vhost_session *s);
int vhost_user_set_vring_enable(struct vhost_session *s);

/* ---- vhost_pg.c: poll groups ----------------------------------------------- */

/*
 * Start sq on its poll group: virtq_init (and inflight attach) here, then
 * queue_start + poller on the poll group. 0: pending (op_done follows);
 * -EINVAL: logged as an error of the current message, nothing pending.
 */
int vhost_pg_queue_start(struct vhost_session *s, struct vhost_session_queue *sq);
/* Stop a STARTED queue; op_done follows. */
void vhost_pg_queue_stop(struct vhost_session *s, struct vhost_session_queue *sq,
			 enum vhost_stop_reason reason);
/* Switch a STARTED queue to mem (a reference is taken here); op_done follows. */
void vhost_pg_queue_set_mem(struct vhost_session *s, struct vhost_session_queue *sq,
			    struct vhost_mem *mem);
/* Swap the call fd of a STARTED queue (fd ownership passes); op_done follows. */
void vhost_pg_queue_set_call(struct vhost_session *s, struct vhost_session_queue *sq, int fd);
/* Fire-and-forget coalescing update of a STARTED queue. */
void vhost_pg_queue_set_coalescing(struct vhost_session_queue *sq, uint32_t delay_us,
				   uint32_t iops_threshold);
/* The poll-group thread of core (created on first use), or NULL. */
struct spur_thread *vhost_pg_get_thread(uint32_t core);
/* Ask every poll-group thread to exit (shutdown). */
void vhost_pg_fini(void);

/* ---- vhost_inflight_fd.c ----------------------------------------------------- */

/* GET_INFLIGHT_FD: create a sealed, zeroed memfd; reply with it. */
int vhost_user_get_inflight_fd(struct vhost_session *s);
/* SET_INFLIGHT_FD: map the region the frontend hands back. */
int vhost_user_set_inflight_fd(struct vhost_session *s);
/*
 * At queue start (after virtq_init, app thread): attach sq to the region if
 * there is one, initializing its part when never used. *recover is set when
 * the part holds state from before (virtq_recover must run). 0 or -EINVAL.
 */
int vhost_inflight_attach_queue(struct vhost_session *s, struct vhost_session_queue *sq,
				bool *recover, const char **err);
/* Unmap the region (session teardown, RESET_DEVICE). */
void vhost_inflight_release(struct vhost_session *s);

#endif
