/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to the virtio-scsi device type: vhost_scsi.c (controllers,
 * targets and their life cycle, features, config space, events posted to
 * the guest, info and save_config), vhost_scsi_io.c (request and control
 * queues: parsing, submission to lib/scsi, completion, task management),
 * vhost_scsi_evq.c (the event queue) and vhost_scsi_rpc.c (RPCs and the
 * subsystem).
 *
 * A controller has up to VHOST_SCSI_MAX_TARGETS target slots; an occupied
 * slot holds one spur_scsi_dev with LUN 0 backed by a bdev. Slot states:
 *
 *   FREE --add_target--> ACTIVE --remove_target / bdev hot-remove--> REMOVING
 *   REMOVING --holders == 0--> (spur_scsi_dev_destroy) --done--> FREE
 *                              + VIRTIO_SCSI_T_TRANSPORT_RESET/REMOVED posted
 *
 * Threads: a struct vhost_scsi_ctrlr is created, changed and freed on the
 * application thread. Queues (poll-group threads) read a slot's state and,
 * when ACTIVE, its dev; they hold a slot while they own a channel of its
 * device. The hold protocol makes the destroy safe without locks: a queue
 * increments holders before it reads state, the app thread stores REMOVING
 * before it reads holders (both sequentially consistent), so either the
 * queue sees REMOVING and takes no channel, or the app thread sees the
 * holder and leaves the destroy to its release (the last release posts it
 * to the app thread). dev is written before ACTIVE is stored and cleared
 * only after the destroy, when no holder is left. The event list is the
 * one piece both sides write: it is under ev_lock (control path only).
 */
#ifndef SPUR_VHOST_SCSI_INTERNAL_H
#define SPUR_VHOST_SCSI_INTERNAL_H

#include <linux/virtio_scsi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "spur/scsi.h"
#include "vhost_dev.h"

#define VHOST_SCSI_LOG "vhost_scsi"
#define VHOST_SCSI_MAX_TARGETS 8u
/* Queue indices (virtio-scsi): control, event, then request queues. */
#define VHOST_SCSI_CTRLQ 0u
#define VHOST_SCSI_EVENTQ 1u
#define VHOST_SCSI_REQQ0 2u
#define VHOST_SCSI_MAX_QUEUES VHOST_MAX_QUEUES
/* Config space limits offered to the guest. */
#define VHOST_SCSI_SEG_MAX 254u
#define VHOST_SCSI_MAX_SECTORS 0xffffu
#define VHOST_SCSI_CMD_PER_LUN 128u
#define VHOST_SCSI_CDB_SIZE VIRTIO_SCSI_CDB_DEFAULT_SIZE     /* 32 */
#define VHOST_SCSI_SENSE_SIZE VIRTIO_SCSI_SENSE_DEFAULT_SIZE /* 96 */
/* iovecs per request: segments, header, response, region splits. */
#define VHOST_SCSI_IOV_MAX (VHOST_SCSI_SEG_MAX + 4u + 32u)
/* Events kept while the guest has no event buffer posted. */
#define VHOST_SCSI_EVENTS_MAX 16u

enum vhost_scsi_target_state {
	VHOST_SCSI_TARGET_FREE,
	VHOST_SCSI_TARGET_ACTIVE,
	VHOST_SCSI_TARGET_REMOVING,
};

struct vhost_scsi_ctrlr;

/* A remove_target caller waiting for the slot to become FREE. */
struct vhost_scsi_remove_waiter {
	void (*done)(void *ctx, int rc);
	void *ctx;
	struct vhost_scsi_remove_waiter *next;
};

struct vhost_scsi_target {
	struct vhost_scsi_ctrlr *sc;
	uint8_t num;                     /* slot index = SCSI target id */
	_Atomic int state;               /* enum vhost_scsi_target_state */
	_Atomic uint32_t holders;        /* queues holding a channel of dev */
	_Atomic uint32_t resets;         /* LUN / I_T nexus resets in progress */
	struct spur_scsi_dev *dev;       /* ACTIVE/REMOVING; see the header comment */
	/* App thread. */
	char *bdev_name;
	uint32_t dev_id;                 /* spur-wide id, vhost_get_controllers "id" */
	bool destroying;                 /* spur_scsi_dev_destroy called */
	bool notify;                     /* post REMOVED when gone (false: controller going) */
	struct vhost_scsi_remove_waiter *waiters;
};

/* An event for the guest (virtio_scsi_event without the LUN bytes). */
struct vhost_scsi_event {
	uint32_t event;
	uint32_t reason;
	uint8_t target;
};

struct vhost_scsi_evq;

struct vhost_scsi_ctrlr {
	struct vhost_ctrlr *ctrlr;
	bool cpumask_given;              /* saved only when the user chose one */
	uint32_t default_delay_us;       /* coalescing as created, for save_config */
	uint32_t default_iops_threshold;
	/* The initiator port every task of this controller names (constant). */
	struct spur_scsi_port port;
	struct vhost_scsi_target targets[VHOST_SCSI_MAX_TARGETS];
	_Atomic uint32_t removing;       /* slots in REMOVING: queues check holds */
	/* Events (under ev_lock). */
	pthread_mutex_t ev_lock;
	struct vhost_scsi_event ev[VHOST_SCSI_EVENTS_MAX];
	uint32_t ev_head, ev_count;
	bool ev_missed;                  /* one was dropped: set EVENTS_MISSED next */
	struct vhost_scsi_evq *evq;      /* the started event queue, or NULL */
	struct spur_thread *evq_thread;
	/* References: the controller's, and one per message in flight. */
	_Atomic uint32_t refs;
	bool destroyed;
};

extern const struct vhost_backend_ops vhost_scsi_ops;

static inline struct vhost_scsi_ctrlr *
vhost_scsi_ctrlr(struct vhost_ctrlr *c)
{
	return c != NULL && c->ops == &vhost_scsi_ops ? c->backend_ctx : NULL;
}

/* ---- vhost_scsi.c: controllers and targets (app thread unless noted) ---- */

/*
 * Create a scsi controller without targets. Returns 0 or a negative errno
 * (-EEXIST duplicate name, -EADDRINUSE socket in use, ...), logged.
 */
int vhost_scsi_ctrlr_create(const char *name, const struct spur_cpuset *cpumask,
			    struct vhost_ctrlr **out);
/*
 * Add target num (-1: the first free slot) with LUN 0 on bdev_name and
 * post a RESCAN event. Returns the target number, or -EINVAL (num out of
 * range), -EEXIST (slot in use or being removed), -ENOSPC (no free slot),
 * -ENODEV (no such bdev), -EPERM (bdev claimed), -ENOMEM.
 */
int vhost_scsi_add_target(struct vhost_scsi_ctrlr *sc, int num, const char *bdev_name);
/*
 * Remove target num: new requests to it fail (BAD_TARGET), in-flight ones
 * finish; when no queue holds it, the device is destroyed, REMOVED is
 * posted and done(ctx, 0) runs (later, on this thread; several callers
 * may wait for the same removal). Returns 0 (done will run) or -ENODEV
 * (no such target; done never runs).
 */
int vhost_scsi_remove_target(struct vhost_scsi_ctrlr *sc, unsigned num,
			     void (*done)(void *ctx, int rc), void *ctx);
/* Slots in use (ACTIVE or REMOVING). */
uint32_t vhost_scsi_target_count(const struct vhost_scsi_ctrlr *sc);
/* Append the calls that rebuild c (create, add_target, coalescing). */
void vhost_scsi_write_config_json(struct vhost_ctrlr *c, json_t *config);
/*
 * Devices still being destroyed (all controllers); when the count drops to
 * zero, cb runs once (subsystem fini). Immediately when there are none.
 */
void vhost_scsi_wait_devs_destroyed(void (*cb)(void));

void vhost_scsi_ref(struct vhost_scsi_ctrlr *sc);
void vhost_scsi_unref(struct vhost_scsi_ctrlr *sc);
/* The scsi controller a queue belongs to (any thread, queue started). */
struct vhost_scsi_ctrlr *vhost_scsi_queue_ctrlr(struct vhost_queue *q);

/*
 * Holds (poll-group threads): a queue that wants target t's device calls
 * acquire; on success it owns a channel of the returned dev (and *ch) until
 * it calls release with that channel, which it must do once the slot is no
 * longer ACTIVE and it has no task on it. Returns NULL (no hold) when the
 * slot is not ACTIVE or no channel could be made.
 */
struct spur_scsi_dev *vhost_scsi_target_acquire(struct vhost_scsi_target *t,
						 struct spur_io_channel **ch);
void vhost_scsi_target_release(struct vhost_scsi_target *t, struct spur_io_channel *ch);
static inline bool
vhost_scsi_target_active(struct vhost_scsi_target *t)
{
	return atomic_load(&t->state) == VHOST_SCSI_TARGET_ACTIVE;
}

/*
 * Queue an event for the guest (app thread): delivered on the event
 * queue's thread into a buffer the guest posted, or kept (up to
 * VHOST_SCSI_EVENTS_MAX, then EVENTS_MISSED) until one arrives. Dropped
 * when no event queue is running (a driver that starts scans anyway).
 */
void vhost_scsi_post_event(struct vhost_scsi_ctrlr *sc, uint32_t event, uint32_t reason,
			   uint8_t target);

/* ---- vhost_scsi_io.c: request and control queues (poll-group thread) ---- */

/* A started queue is a vhost_rq, stopped by vhost_rq_stop. */
int vhost_scsi_rq_start(struct vhost_queue *q);
int vhost_scsi_rq_poll(struct vhost_queue *q);
void vhost_scsi_rq_resubmit(struct vhost_queue *q, const uint16_t *ids, int count);
/*
 * App thread: after a slot of sc entered REMOVING, visit every thread so
 * that idle queues release their holds now rather than at their next poll.
 */
void vhost_scsi_queues_nudge(struct vhost_scsi_ctrlr *sc);

/* ---- vhost_scsi_evq.c: the event queue (poll-group thread) ---------------- */

int vhost_scsi_evq_start(struct vhost_queue *q);
void vhost_scsi_evq_stop(struct vhost_queue *q, void (*done)(struct vhost_queue *q));
int vhost_scsi_evq_poll(struct vhost_queue *q);
void vhost_scsi_evq_resubmit(struct vhost_queue *q, const uint16_t *ids, int count);
/* Message (to the event queue's thread, with a reference on sc): deliver. */
void vhost_scsi_evq_kick_msg(void *sc);

#endif
