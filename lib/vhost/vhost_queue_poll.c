/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The cold paths of vhost_queue_poll.h shared by the request queues of
 * the device types (vhost_blk_io.c, vhost_scsi_io.c): marking a queue
 * broken for a hostile element and resubmitting the requests a previous
 * process left in flight. Both run on the queue's poll-group thread and
 * keep no state of their own.
 */
#include "vhost_queue_poll.h"

void
vhost_queue_mark_broken(struct vhost_queue *q, const char *name, bool *warned_broken,
			const char *why, uint16_t id)
{
	q->vq.broken = true;
	q->vq.broken_reason = why;
	if (!*warned_broken)
		SPUR_ERRLOG("%s queue %u: %s (id %u); queue stopped until the device is reset\n",
			    name, q->index, why, id);
	*warned_broken = true;
}

void
vhost_queue_resubmit(struct vhost_queue *q, struct virtq_elem *spare, const char *name,
		     const uint16_t *ids, int count, vhost_queue_handle_fn handle, void *ctx)
{
	for (int i = 0; i < count && !q->vq.broken; i++) {
		enum virtq_pop_result r = virtq_get_elem(&q->vq, ids[i], spare);

		if (r == VIRTQ_POP_EMPTY || r == VIRTQ_POP_BROKEN) {
			SPUR_ERRLOG("%s queue %u: in-flight request %u cannot be re-read\n", name,
				    q->index, ids[i]);
			continue;
		}
		handle(ctx, r);
	}
	SPUR_NOTICELOG("%s queue %u: resubmitted %d requests left by the previous process\n",
		       name, q->index, count);
}
