/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtio-scsi event queue (index 1): buffers the guest posts for
 * events, held until there is something to report, and the delivery of
 * the controller's pending events into them.
 *
 * The driver posts event buffers (16 bytes each, virtio_scsi_event) and
 * expects them back only when an event happens. The queue pops every
 * posted buffer at once and keeps it (so the ring looks empty and the
 * reactor may sleep), in the order posted. Events come from the app
 * thread (vhost_scsi_post_event: target added / removed, capacity
 * changed) into the controller's list under ev_lock, followed by a
 * message to this queue's thread, which fills held buffers and flushes.
 * Buffers that arrive while events wait take them at once. With no buffer
 * for an event the list keeps it (up to VHOST_SCSI_EVENTS_MAX; beyond,
 * the next event delivered carries VIRTIO_SCSI_T_EVENTS_MISSED, on which
 * Linux rescans the host). Transport-reset events need
 * VIRTIO_SCSI_F_HOTPLUG negotiated; parameter changes need
 * VIRTIO_SCSI_F_CHANGE or HOTPLUG (QEMU acknowledges to the backend only
 * the feature bits it tracks for vhost-user-scsi, which do not include
 * CHANGE, while the guest negotiated it with QEMU); others are dropped.
 *
 * The event's LUN field names LUN 0 of the target as Linux decodes it for
 * these events: {1, target, 0, 0, 0, 0, 0, 0}.
 *
 * A malformed buffer chain (virtq.h, "Malformed chains") stops the queue
 * (NEEDS_RESET): an event buffer has no error answer, and one returned
 * empty would replay the stale event it holds. So does a well-formed
 * buffer too small for an event.
 *
 * Stop: held buffers are returned with VIRTIO_SCSI_T_NO_EVENT (the driver
 * reposts them; a buffer returned with stale content would replay an old
 * event). Held buffers are requests in flight for the inflight log; after
 * a backend restart they are resubmitted here and held again.
 *
 * Threads: the queue (struct vhost_scsi_evq) lives on its poll-group
 * thread; the controller's evq / evq_thread / event list are shared with
 * the app thread under ev_lock.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spur/log.h"
#include "vhost_queue_poll.h"
#include "vhost_scsi_internal.h"

#define EVQ_IOV_MAX 8u
#define EVQ_POLL_BUDGET 64

struct vhost_scsi_evq {
	struct vhost_queue *q;
	struct vhost_scsi_ctrlr *sc;
	struct spur_thread *thread;
	uint32_t size;
	bool hotplug;                    /* VIRTIO_SCSI_F_HOTPLUG negotiated */
	bool change;                     /* VIRTIO_SCSI_F_CHANGE negotiated */
	bool warned_broken;
	uint32_t unflushed;
	/* Held buffers, oldest first: a ring of size entries. */
	uint32_t held_head, nheld;
	struct virtq_elem *held;
	struct vhost_mem **held_mem;
	struct virtq_elem spare;
	struct iovec *iov_pool;
};

static void
evq_flush(struct vhost_scsi_evq *evq)
{
	evq->unflushed = 0;
	virtq_flush(&evq->q->vq, spur_get_ticks());
}

/* Return the oldest held buffer with ev (NULL: nothing) written into it. */
static void
evq_return_one(struct vhost_scsi_evq *evq, const struct virtio_scsi_event *ev)
{
	struct virtq_elem *e = &evq->held[evq->held_head];
	struct vhost_mem *mem = evq->held_mem[evq->held_head];
	uint32_t len = 0, done = 0;

	for (uint32_t i = e->out_num; i < e->out_num + e->in_num && done < sizeof(*ev); i++) {
		uint64_t n = SPUR_MIN((uint64_t)e->iov[i].iov_len, (uint64_t)(sizeof(*ev) - done));

		memcpy(e->iov[i].iov_base, (const uint8_t *)ev + done, n);
		done += (uint32_t)n;
	}
	len = done;
	virtq_push(&evq->q->vq, e, len);
	vhost_queue_request_end(evq->q, mem);
	evq->held_head = (evq->held_head + 1) % evq->size;
	evq->nheld--;
	evq->unflushed++;
}

static bool
evq_wanted(const struct vhost_scsi_evq *evq, uint32_t event)
{
	switch (event) {
	case VIRTIO_SCSI_T_TRANSPORT_RESET:
		return evq->hotplug;
	case VIRTIO_SCSI_T_PARAM_CHANGE:
		return evq->change || evq->hotplug;
	default:
		return true;
	}
}

/* Fill held buffers with pending events. Called with sc->ev_lock held. */
static void
evq_deliver_locked(struct vhost_scsi_evq *evq)
{
	struct vhost_scsi_ctrlr *sc = evq->sc;

	while (evq->nheld > 0 && (sc->ev_count > 0 || sc->ev_missed)) {
		struct virtio_scsi_event ev;
		uint32_t event = VIRTIO_SCSI_T_NO_EVENT, reason = 0;
		uint8_t target = 0;

		if (sc->ev_count > 0) {
			const struct vhost_scsi_event *p = &sc->ev[sc->ev_head];

			sc->ev_head = (sc->ev_head + 1) % VHOST_SCSI_EVENTS_MAX;
			sc->ev_count--;
			if (!evq_wanted(evq, p->event)) {
				SPUR_DEBUGLOG(VHOST_SCSI_LOG, "%s: event %u dropped: the driver did "
					      "not negotiate it\n", sc->ctrlr->name, p->event);
				continue;
			}
			event = p->event;
			reason = p->reason;
			target = p->target;
		}
		if (sc->ev_missed) {
			event |= VIRTIO_SCSI_T_EVENTS_MISSED;
			sc->ev_missed = false;
		}
		memset(&ev, 0, sizeof(ev));
		ev.event = htole32(event);
		ev.reason = htole32(reason);
		ev.lun[0] = 1;
		ev.lun[1] = target;
		SPUR_DEBUGLOG(VHOST_SCSI_LOG, "%s: event 0x%x reason 0x%x target %u delivered\n",
			      sc->ctrlr->name, event, reason, target);
		evq_return_one(evq, &ev);
	}
}

/* Hold the element in evq->spare (popped or re-read after a restart). */
static void
evq_hold(struct vhost_scsi_evq *evq, enum virtq_pop_result r)
{
	struct virtq_elem *e = &evq->spare;
	struct vhost_mem *mem = vhost_queue_request_begin(evq->q);
	uint32_t slot;
	struct iovec *iov;

	if (r == VIRTQ_POP_BAD) {
		/* No answer is right: an event buffer has no error status, and
		 * one returned empty makes the driver handle whatever stale
		 * event the buffer still holds. Stop the queue (NEEDS_RESET). */
		vhost_queue_request_end(evq->q, mem);
		vhost_queue_mark_broken(evq->q, evq->sc->ctrlr->name, &evq->warned_broken,
					"malformed event buffer chain", e->id);
		return;
	}
	if (e->in_len < sizeof(struct virtio_scsi_event) || evq->nheld == evq->size) {
		/* Too small for an event (or an impossible count): no answer is
		 * right either, as above. */
		vhost_queue_request_end(evq->q, mem);
		vhost_queue_mark_broken(evq->q, evq->sc->ctrlr->name, &evq->warned_broken,
					e->in_len < sizeof(struct virtio_scsi_event)
					? "event buffer too small for an event"
					: "more event buffers than the ring holds", e->id);
		return;
	}
	slot = (evq->held_head + evq->nheld) % evq->size;
	iov = evq->held[slot].iov;
	evq->held[slot] = *e;
	e->iov = iov;
	evq->held_mem[slot] = mem;
	evq->nheld++;
}

void
vhost_scsi_evq_kick_msg(void *ctx)
{
	struct vhost_scsi_ctrlr *sc = ctx;
	struct vhost_scsi_evq *evq;

	pthread_mutex_lock(&sc->ev_lock);
	evq = sc->evq;
	if (evq != NULL && evq->thread == spur_get_thread())
		evq_deliver_locked(evq);
	else
		evq = NULL;
	pthread_mutex_unlock(&sc->ev_lock);
	/* Only this thread frees evq (evq_stop), so it is still there. */
	if (evq != NULL && evq->unflushed != 0)
		evq_flush(evq);
	vhost_scsi_unref(sc);
}

int
vhost_scsi_evq_start(struct vhost_queue *q)
{
	struct vhost_scsi_ctrlr *sc = vhost_scsi_queue_ctrlr(q);
	uint32_t size = q->vq.cfg.size != 0 ? q->vq.cfg.size : q->cfg.size;
	uint64_t features = vhost_queue_get_features(q);
	struct vhost_scsi_evq *evq;

	if (sc == NULL || size == 0)
		return -EINVAL;
	evq = calloc(1, sizeof(*evq));
	if (evq == NULL)
		return -ENOMEM;
	evq->held = calloc(size, sizeof(*evq->held));
	evq->held_mem = calloc(size, sizeof(*evq->held_mem));
	evq->iov_pool = calloc((size_t)(size + 1) * EVQ_IOV_MAX, sizeof(struct iovec));
	if (evq->held == NULL || evq->held_mem == NULL || evq->iov_pool == NULL) {
		free(evq->held);
		free(evq->held_mem);
		free(evq->iov_pool);
		free(evq);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < size; i++) {
		evq->held[i].iov = evq->iov_pool + (size_t)i * EVQ_IOV_MAX;
		evq->held[i].iov_max = EVQ_IOV_MAX;
	}
	evq->spare.iov = evq->iov_pool + (size_t)size * EVQ_IOV_MAX;
	evq->spare.iov_max = EVQ_IOV_MAX;
	evq->q = q;
	evq->sc = sc;
	evq->size = size;
	evq->thread = spur_get_thread();
	evq->hotplug = (features >> VIRTIO_SCSI_F_HOTPLUG) & 1;
	evq->change = (features >> VIRTIO_SCSI_F_CHANGE) & 1;
	vhost_scsi_ref(sc);
	pthread_mutex_lock(&sc->ev_lock);
	sc->evq = evq;
	sc->evq_thread = evq->thread;
	pthread_mutex_unlock(&sc->ev_lock);
	q->backend_ctx = evq;
	SPUR_DEBUGLOG(VHOST_SCSI_LOG, "%s event queue started, size %u%s%s\n", sc->ctrlr->name,
		      size, evq->hotplug ? ", hotplug" : "", evq->change ? ", change" : "");
	return 0;
}

void
vhost_scsi_evq_stop(struct vhost_queue *q, void (*done)(struct vhost_queue *q))
{
	struct vhost_scsi_evq *evq = q->backend_ctx;
	struct vhost_scsi_ctrlr *sc;
	struct virtio_scsi_event none;

	if (evq == NULL) {
		done(q);
		return;
	}
	sc = evq->sc;
	pthread_mutex_lock(&sc->ev_lock);
	if (sc->evq == evq) {
		sc->evq = NULL;
		sc->evq_thread = NULL;
	}
	pthread_mutex_unlock(&sc->ev_lock);
	memset(&none, 0, sizeof(none));
	none.event = htole32(VIRTIO_SCSI_T_NO_EVENT);
	while (evq->nheld > 0)
		evq_return_one(evq, &none);
	evq_flush(evq);
	q->backend_ctx = NULL;
	free(evq->held);
	free(evq->held_mem);
	free(evq->iov_pool);
	free(evq);
	vhost_scsi_unref(sc);
	done(q);
}

/* Take the element in evq->spare (popped or re-read) as an event buffer (ctx: the evq). */
static void
evq_handle(void *ctx, enum virtq_pop_result r)
{
	struct vhost_scsi_evq *evq = ctx;

	if (evq->spare.id >= evq->size) {
		vhost_queue_mark_broken(evq->q, evq->sc->ctrlr->name, &evq->warned_broken,
					"element id beyond the queue size", evq->spare.id);
		return;
	}
	evq_hold(evq, r);
}

/* Deliver the events that waited for a buffer (under the controller's event lock). */
static void
evq_deliver(struct vhost_scsi_evq *evq)
{
	pthread_mutex_lock(&evq->sc->ev_lock);
	evq_deliver_locked(evq);
	pthread_mutex_unlock(&evq->sc->ev_lock);
}

int
vhost_scsi_evq_poll(struct vhost_queue *q)
{
	struct vhost_scsi_evq *evq = q->backend_ctx;
	int n;
	bool busy;

	if (evq == NULL)
		return SPUR_POLLER_IDLE;
	n = vhost_queue_pop_batch(q, &evq->spare, EVQ_POLL_BUDGET, evq->sc->ctrlr->name,
				  &evq->warned_broken, evq_handle, evq);
	if (n > 0)
		evq_deliver(evq); /* new buffers: events that waited for one go now */
	busy = vhost_queue_poll_flush(q, &evq->unflushed, n > 0);
	return busy ? SPUR_POLLER_BUSY : SPUR_POLLER_IDLE;
}

void
vhost_scsi_evq_resubmit(struct vhost_queue *q, const uint16_t *ids, int count)
{
	struct vhost_scsi_evq *evq = q->backend_ctx;

	if (evq == NULL)
		return;
	vhost_queue_resubmit(q, &evq->spare, evq->sc->ctrlr->name, ids, count, evq_handle, evq);
	evq_deliver(evq);
	if (evq->unflushed != 0)
		evq_flush(evq);
}
