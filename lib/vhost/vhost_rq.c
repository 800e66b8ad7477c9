/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The cold paths of the request-queue base (vhost_rq.h): set-up and
 * teardown, the list of started queues and its walk, stop, flush, marking
 * broken and resubmission. Everything but the list runs on the queue's
 * poll-group thread.
 */
#include "vhost_rq.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

static pthread_mutex_t g_rqs_lock = PTHREAD_MUTEX_INITIALIZER;
static TAILQ_HEAD(, vhost_rq) g_rqs = TAILQ_HEAD_INITIALIZER(g_rqs);

int
vhost_rq_init(struct vhost_rq *rq, struct vhost_queue *q, uint32_t size, uint32_t iov_max,
	      const char *name, const char *log_component, const void *owner,
	      vhost_rq_fn free_fn)
{
	rq->iov_pool = calloc((size_t)(size + 1) * iov_max, sizeof(struct iovec));
	if (rq->iov_pool == NULL)
		return -ENOMEM;
	rq->q = q;
	rq->name = name;
	rq->log_component = log_component;
	rq->owner = owner;
	rq->free = free_fn;
	rq->thread = spur_get_thread();
	rq->size = size;
	rq->iov_max = iov_max;
	rq->spare.iov = vhost_rq_iov(rq, size);
	rq->spare.iov_max = iov_max;
	return 0;
}

void
vhost_rq_publish(struct vhost_rq *rq)
{
	pthread_mutex_lock(&g_rqs_lock);
	TAILQ_INSERT_TAIL(&g_rqs, rq, link);
	rq->listed = true;
	pthread_mutex_unlock(&g_rqs_lock);
	rq->q->backend_ctx = rq;
	SPUR_DEBUGLOG(rq->log_component, "%s queue %u started, size %u\n", rq->name,
		      rq->q->index, rq->size);
}

void
vhost_rq_fini(struct vhost_rq *rq)
{
	if (rq->listed) {
		pthread_mutex_lock(&g_rqs_lock);
		TAILQ_REMOVE(&g_rqs, rq, link);
		rq->listed = false;
		pthread_mutex_unlock(&g_rqs_lock);
	}
	free(rq->iov_pool);
	rq->iov_pool = NULL;
}

void
vhost_rq_flush(struct vhost_rq *rq)
{
	rq->unflushed = 0;
	virtq_flush(&rq->q->vq, spur_get_ticks());
}

void
vhost_rq_check_stopped(struct vhost_rq *rq)
{
	struct vhost_queue *q = rq->q;
	void (*done)(struct vhost_queue *q) = rq->stop_done;
	const char *log_component = rq->log_component;

	if (!rq->stopping || rq->inflight != 0)
		return;
	vhost_rq_flush(rq);
	q->backend_ctx = NULL;
	rq->free(rq);
	SPUR_DEBUGLOG(log_component, "queue %u stopped\n", q->index);
	done(q);
}

void
vhost_rq_stop(struct vhost_queue *q, void (*done)(struct vhost_queue *q))
{
	struct vhost_rq *rq = q->backend_ctx;

	if (rq == NULL) {
		done(q);
		return;
	}
	rq->stopping = true;
	rq->stop_done = done;
	if (rq->inflight != 0)
		SPUR_DEBUGLOG(rq->log_component, "queue %u stopping, %u requests in flight\n",
			      q->index, rq->inflight);
	vhost_rq_flush(rq);
	vhost_rq_check_stopped(rq);
}

void
vhost_rq_mark_broken(struct vhost_rq *rq, const char *why, uint16_t id)
{
	vhost_queue_mark_broken(rq->q, rq->name, &rq->warned_broken, why, id);
}

void
vhost_rq_resubmit(struct vhost_queue *q, const uint16_t *ids, int count,
		  vhost_queue_handle_fn handle)
{
	struct vhost_rq *rq = q->backend_ctx;

	if (rq == NULL)
		return;
	rq->in_poll = true;
	vhost_queue_resubmit(q, &rq->spare, rq->name, ids, count, handle, rq);
	rq->in_poll = false;
}

void
vhost_rq_for_each_on_thread(const void *owner, vhost_rq_fn fn)
{
	struct spur_thread *self = spur_get_thread();
	struct vhost_rq *rq;

	pthread_mutex_lock(&g_rqs_lock);
	TAILQ_FOREACH(rq, &g_rqs, link) {
		if (rq->owner == owner && rq->thread == self && !rq->stopping)
			fn(rq);
	}
	pthread_mutex_unlock(&g_rqs_lock);
}
