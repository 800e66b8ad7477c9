/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The request-queue base every device type embeds (struct blk_queue in
 * vhost_blk_io.c, struct scsi_queue in vhost_scsi_io.c): the life of a
 * started queue (set up, listed, stopped once nothing is in flight,
 * freed), the poll run (a batch off the ring, then publish), completions
 * outside a poll run, marking the queue broken, resubmitting after a
 * restart, and the walk over one controller's queues on a thread. The
 * device keeps its per-entry contexts and what it holds (bdev channel,
 * SCSI targets) and gives two functions: free (the queue stopped with
 * nothing in flight) and housekeep (release what a removed bdev or target
 * held once this queue no longer uses it).
 *
 * The per-request steps are static inline with the device's handler and
 * housekeeping passed as known static functions, so the compiler inlines
 * them as it did the open-coded device loops.
 *
 * Threads: a queue lives on its poll-group thread; only the list of
 * queues (for vhost_rq_for_each_on_thread) is shared, under a mutex taken
 * at queue set-up, free and walks, never on the I/O path.
 */
#ifndef SPUR_VHOST_RQ_H
#define SPUR_VHOST_RQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "spur/thread.h"
#include "vhost_queue_poll.h"

#define VHOST_RQ_POLL_BUDGET 64 /* elements taken per poll run */

struct vhost_rq;

typedef void (*vhost_rq_fn)(struct vhost_rq *rq);

struct vhost_rq {
	struct vhost_queue *q;
	const char *name;             /* the controller's, for logs */
	const char *log_component;    /* the device type's debug flag */
	const void *owner;            /* the device controller */
	vhost_rq_fn free;             /* stopped, nothing in flight: release and free */
	struct spur_thread *thread;   /* the poll group's */
	uint32_t size;                /* ring entries */
	uint32_t inflight;            /* requests taken and not ended */
	uint32_t unflushed;           /* pushed since the last flush */
	bool in_poll;                 /* completions wait for the run's flush */
	bool stopping;
	bool warned_broken;
	bool listed;
	void (*stop_done)(struct vhost_queue *q);
	struct virtq_elem spare;      /* the element virtq_pop fills */
	struct iovec *iov_pool;       /* (size + 1) arrays of iov_max: entries', then spare's */
	uint32_t iov_max;
	TAILQ_ENTRY(vhost_rq) link;
};

/*
 * Set up rq for q with size entries of iov_max iovecs each (rq zeroed by
 * the caller's calloc). Returns 0 or -ENOMEM. Not yet visible: see
 * vhost_rq_publish.
 */
int vhost_rq_init(struct vhost_rq *rq, struct vhost_queue *q, uint32_t size, uint32_t iov_max,
		  const char *name, const char *log_component, const void *owner,
		  vhost_rq_fn free_fn);
/* List rq and make it q's backend context: polls and stops reach it from now. */
void vhost_rq_publish(struct vhost_rq *rq);
/* Unlist rq and free its iovecs; the device frees the struct it is embedded in. */
void vhost_rq_fini(struct vhost_rq *rq);

/* The iovec array of entry i. */
static inline struct iovec *
vhost_rq_iov(struct vhost_rq *rq, uint32_t i)
{
	return rq->iov_pool + (size_t)i * rq->iov_max;
}

/* Publish what was pushed. */
void vhost_rq_flush(struct vhost_rq *rq);
/* A stopping queue with nothing in flight: flush, free (rq->free), report. */
void vhost_rq_check_stopped(struct vhost_rq *rq);
/*
 * Stop the queue whose backend context is an rq (or NULL: done at once):
 * nothing new is taken; done(q) runs when the last request in flight has
 * ended and the queue is freed.
 */
void vhost_rq_stop(struct vhost_queue *q, void (*done)(struct vhost_queue *q));
/* Mark the queue broken because of element id (why: static); see vhost_queue_mark_broken. */
void vhost_rq_mark_broken(struct vhost_rq *rq, const char *why, uint16_t id);
/* Re-read the requests a previous process left in flight (handle's ctx: rq). */
void vhost_rq_resubmit(struct vhost_queue *q, const uint16_t *ids, int count,
		       vhost_queue_handle_fn handle);
/* Call fn for each queue of owner served by the calling thread that is not stopping. */
void vhost_rq_for_each_on_thread(const void *owner, vhost_rq_fn fn);

/*
 * One poll run: take up to VHOST_RQ_POLL_BUDGET elements (handle(rq, r)
 * for each) unless stopping, publish, then housekeep. Returns
 * SPUR_POLLER_BUSY or SPUR_POLLER_IDLE.
 */
static inline int
vhost_rq_poll(struct vhost_rq *rq, vhost_queue_handle_fn handle, vhost_rq_fn housekeep)
{
	int n = 0;
	bool busy;

	if (!rq->stopping) {
		rq->in_poll = true;
		n = vhost_queue_pop_batch(rq->q, &rq->spare, VHOST_RQ_POLL_BUDGET, rq->name,
					  &rq->warned_broken, handle, rq);
		rq->in_poll = false;
	}
	busy = vhost_queue_poll_flush(rq->q, &rq->unflushed, n > 0);
	housekeep(rq);
	return busy ? SPUR_POLLER_BUSY : SPUR_POLLER_IDLE;
}

/*
 * After a request ended outside a poll run (bdev or SCSI layer callback,
 * io_wait): a stopping queue publishes at once and may finish stopping
 * (rq freed); otherwise housekeep. Inside a run the run does both.
 */
static inline void
vhost_rq_after_completion(struct vhost_rq *rq, vhost_rq_fn housekeep)
{
	if (rq->in_poll)
		return;
	if (rq->stopping) {
		vhost_rq_flush(rq);
		vhost_rq_check_stopped(rq);
		return;
	}
	housekeep(rq);
}

#endif
