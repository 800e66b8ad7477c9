/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Controllers, sessions and queues of the vhost-user target, and the
 * interface between the protocol (vhost_user.c, vhost_ctrlr.c, vhost_pg.c)
 * and a device type (vhost_blk.c, vhost_scsi.c).
 *
 * A controller is a named device spur offers (vhost.0): a listening socket
 * at <-S dir>/<name>, a cpumask, a device type (backend) and its private
 * state (for blk: the bdev descriptor). One frontend (QEMU) at a time
 * connects; its connection is a session, which owns the negotiated
 * features, the guest memory table, the inflight region and the queues.
 *
 * Threads: controller and session state (messages, lifecycle) live on the
 * application thread; each started queue is driven by one poll-group
 * thread (one lightweight thread per core, shared by all controllers), the
 * queues of a controller spread round-robin over the cores of its cpumask.
 * Queue start/stop cross threads with messages; a stop completes only when
 * the queue's in-flight requests have finished, and only then does the
 * protocol answer GET_VRING_BASE.
 *
 * Queue states (application thread's view):
 *   IDLE --(addr+num+base+kick, enabled)--> STARTING --(pg ack)--> STARTED
 *   STARTED --(GET_VRING_BASE, disable, disconnect)--> STOPPING --(drained)--> IDLE
 */
#ifndef SPUR_VHOST_DEV_H
#define SPUR_VHOST_DEV_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "spur/thread.h"
#include "spur/util.h"
#include "vhost_mem.h"
#include "virtq.h"

/*
 * What one frontend may make a controller allocate (docs/vhost.md has the
 * worst case in bytes): at most VHOST_MAX_QUEUES queues (a device type may
 * offer fewer, GET_QUEUE_NUM), each at most VHOST_MAX_QUEUE_SIZE entries
 * (SET_VRING_NUM; GET_INFLIGHT_FD's queue size too), per-entry state
 * allocated only when a queue starts. QEMU's vhost-user-blk and -scsi
 * accept queue sizes up to 1024 (VIRTQUEUE_MAX_SIZE), so the cap costs a
 * real guest nothing; violations close the connection with a log line.
 */
#define VHOST_MAX_QUEUES 64
#define VHOST_MAX_QUEUE_SIZE 1024
_Static_assert(VHOST_MAX_QUEUE_SIZE <= VIRTQ_MAX_SIZE, "ring size cap beyond the spec's");

struct vhost_ctrlr;
struct vhost_session;
struct vhost_queue;

enum vhost_queue_state {
	VHOST_QUEUE_IDLE,
	VHOST_QUEUE_STARTING,
	VHOST_QUEUE_STARTED,
	VHOST_QUEUE_STOPPING,
};

struct vhost_queue {
	struct vhost_session *session;
	uint16_t index;
	enum vhost_queue_state state;    /* app thread */
	/* Message-built configuration (app thread, while IDLE). */
	struct virtq_config cfg;
	bool have_num, have_addr, have_base;
	bool enabled;
	int kick_fd, call_fd, err_fd;
	/* Runtime (poll-group thread, while STARTED). */
	struct virtq vq;
	struct spur_thread *pg_thread;
	struct spur_poller *poller;
	struct vhost_mem *mem;           /* reference held while started */
	struct vhost_mem *old_mem;       /* kept until old in-flight requests finish */
	uint32_t inflight;               /* requests taken, not yet pushed */
	uint32_t old_mem_inflight;       /* of those, how many use old_mem */
	void *backend_ctx;               /* the device type's per-queue state */
	/* Stop handshake. */
	void (*stop_done)(struct vhost_queue *q);
};

/* What a device type provides. Callbacks run on the thread named. */
struct vhost_backend_ops {
	const char *type;                /* "blk", "scsi" */
	/* Virtio feature bits offered (device bits + VERSION_1, rings, ...). */
	uint64_t (*features)(struct vhost_ctrlr *c);
	uint16_t (*max_queues)(struct vhost_ctrlr *c);
	/* Config space (GET_CONFIG/SET_CONFIG), app thread. */
	uint32_t config_size;
	void (*get_config)(struct vhost_ctrlr *c, uint8_t *buf, uint32_t len);
	int (*set_config)(struct vhost_ctrlr *c, const uint8_t *buf, uint32_t offset, uint32_t len);
	/* Queue lifecycle on the poll-group thread. */
	int (*queue_start)(struct vhost_queue *q);
	/* Finish or fail in-flight requests, then call done(q) (possibly later). */
	void (*queue_stop)(struct vhost_queue *q, void (*done)(struct vhost_queue *q));
	/* Process available requests and flush; SPUR_POLLER_BUSY/IDLE. */
	int (*queue_poll)(struct vhost_queue *q);
	/* After restart with an inflight region: resubmit these ids in order. */
	void (*queue_resubmit)(struct vhost_queue *q, const uint16_t *ids, int count);
	/* vhost_get_controllers "backend_specific" and save_config, app thread. */
	void (*dump_info_json)(struct vhost_ctrlr *c, json_t *obj);
	void (*write_config_json)(struct vhost_ctrlr *c, json_t *config);
	/* The controller is being deleted (no session left); free backend_ctx. */
	void (*destruct)(struct vhost_ctrlr *c);
	/*
	 * Optional, app thread: why vhost_delete_controller must refuse now
	 * (vhost-scsi: the controller still has targets), or NULL.
	 */
	const char *(*delete_refused)(struct vhost_ctrlr *c);
};

struct vhost_ctrlr {
	char *name;
	char *socket_path;
	struct spur_cpuset cpumask;
	const struct vhost_backend_ops *ops;
	void *backend_ctx;
	int listen_fd;
	struct spur_poller *listen_poller;
	struct vhost_session *session;   /* NULL: no frontend connected */
	uint32_t coalesce_delay_us;
	uint32_t coalesce_iops_threshold;
	struct vhost_ctrlr *next;
};

/* ---- provided by the protocol side (vhost_ctrlr.c, vhost_pg.c) ---------- */

/*
 * Create a controller listening at <vhost dir>/<name> (a stale socket file
 * left by a crash is replaced; a live one is refused with -EADDRINUSE).
 * cpumask NULL = the app's cores. Returns 0 or a negative errno with a log
 * line; -EEXIST for a duplicate name. App thread.
 */
int vhost_ctrlr_create(const char *name, const struct spur_cpuset *cpumask,
		       const struct vhost_backend_ops *ops, void *backend_ctx,
		       struct vhost_ctrlr **out);
/*
 * Delete: refused with -EBUSY while a frontend is connected unless force,
 * which disconnects it first (stopping queues). done(ctx, rc) on the app
 * thread; the socket file is removed.
 */
void vhost_ctrlr_delete(struct vhost_ctrlr *c, bool force, void (*done)(void *ctx, int rc),
			void *ctx);
struct vhost_ctrlr *vhost_ctrlr_find(const char *name);
struct vhost_ctrlr *vhost_ctrlr_first(void);
/* Notify the frontend that the config space changed (BACKEND_REQ channel). */
int vhost_ctrlr_config_changed(struct vhost_ctrlr *c);
/* Apply coalescing settings to every started queue. */
void vhost_ctrlr_set_coalescing(struct vhost_ctrlr *c, uint32_t delay_base_us,
				uint32_t iops_threshold);
/* Stop all sessions and delete all controllers (subsystem fini). */
void vhost_ctrlr_fini_all(void (*done)(void));

/*
 * Poll-group side, used by backends on the queue's thread: account a
 * request taken from the ring. begin returns the memory table the request's
 * iovecs point into; the backend stores it in its task and passes it to end
 * when the request has been pushed back, so a replaced table is released
 * only after its last request.
 */
struct vhost_mem *vhost_queue_request_begin(struct vhost_queue *q);
void vhost_queue_request_end(struct vhost_queue *q, struct vhost_mem *mem);
/*
 * The controller a queue belongs to (struct vhost_session is private to the
 * protocol side). Any thread, while the queue is started.
 */
struct vhost_ctrlr *vhost_queue_get_ctrlr(const struct vhost_queue *q);
/*
 * The virtio features the frontend acknowledged (SET_FEATURES), fixed while
 * any queue runs. Poll-group thread, while the queue is started.
 */
uint64_t vhost_queue_get_features(const struct vhost_queue *q);

/* ---- shared by the device types (vhost_save_config.c) ------------------- */

/*
 * save_config: append to config the vhost_controller_set_coalescing call
 * that restores c's coalescing, when it differs from the values the
 * controller was created with (default_*); else append nothing. App thread.
 */
void vhost_ctrlr_write_coalescing_config(struct vhost_ctrlr *c, uint32_t default_delay_us,
					 uint32_t default_iops_threshold, json_t *config);

#endif
