/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Queue-polling steps the device types (vhost_blk_io.c, vhost_scsi_io.c,
 * vhost_scsi_evq.c) share: taking a batch of elements off the ring with a
 * once-only warning for a ring the driver broke, publishing what a poll
 * run pushed (and a call signal that coalescing held back), marking a
 * queue broken for a hostile element, and re-reading the requests a
 * previous process left in flight.
 *
 * The per-run helpers are static inline: they run on every poll of every
 * queue, and the element handler passed to vhost_queue_pop_batch is a
 * known static function of the caller, which the compiler inlines, so the
 * hot path costs what the open-coded loops did. The helpers own no state:
 * each device type keeps its spare element, counters and warn-once flag
 * in its own queue struct and passes them in.
 *
 * Threads: everything here runs on the queue's poll-group thread.
 */
#ifndef SPUR_VHOST_QUEUE_POLL_H
#define SPUR_VHOST_QUEUE_POLL_H

#include <stdbool.h>
#include <stdint.h>

#include "spur/log.h"
#include "spur/util.h"
#include "vhost_dev.h"

/* Takes the element just read into the caller's spare (r: OK or BAD). */
typedef void (*vhost_queue_handle_fn)(void *ctx, enum virtq_pop_result r);

/*
 * Pop up to budget elements from q into spare, calling handle(ctx, r) for
 * each; stops early at an empty ring or a broken queue. A ring the driver
 * broke is logged once per queue ("<name> queue <index>: ring broken by
 * the driver"; *warned_broken remembers it). Returns how many elements
 * were handled.
 */
static inline int
vhost_queue_pop_batch(struct vhost_queue *q, struct virtq_elem *spare, int budget,
		      const char *name, bool *warned_broken, vhost_queue_handle_fn handle,
		      void *ctx)
{
	int n = 0;

	for (; n < budget && !q->vq.broken; n++) {
		enum virtq_pop_result r = virtq_pop(&q->vq, spare);

		if (r == VIRTQ_POP_EMPTY)
			break;
		if (r == VIRTQ_POP_BROKEN) {
			if (!*warned_broken)
				SPUR_ERRLOG("%s queue %u: ring broken by the driver\n", name,
					    q->index);
			*warned_broken = true;
			break;
		}
		handle(ctx, r);
	}
	return n;
}

/*
 * End of a poll run: when entries were pushed since the last flush
 * (*unflushed, reset here) or a call signal is pending, publish them.
 * Returns busy, or true when something was published or a signal held
 * back by coalescing is still pending (keep polling until it is sent).
 */
static inline bool
vhost_queue_poll_flush(struct vhost_queue *q, uint32_t *unflushed, bool busy)
{
	if (*unflushed != 0 || virtq_signal_pending(&q->vq)) {
		*unflushed = 0;
		if (virtq_flush(&q->vq, spur_get_ticks()) > 0)
			busy = true;
		/* A signal held back by coalescing: keep polling until it is sent. */
		if (virtq_signal_pending(&q->vq))
			busy = true;
	}
	return busy;
}

/*
 * Mark q broken because of element id (why: a static string, kept as the
 * queue's broken_reason); logged once per queue (*warned_broken). The
 * queue stays stopped until the device is reset.
 */
void vhost_queue_mark_broken(struct vhost_queue *q, const char *name, bool *warned_broken,
			     const char *why, uint16_t id);

/*
 * Re-read the count in-flight requests ids[] a previous process left (as
 * vhost_queue_pop_batch, through spare and handle(ctx, r)); an id that
 * cannot be re-read is logged and skipped. Stops at a broken queue. Logs
 * a notice with the count at the end.
 */
void vhost_queue_resubmit(struct vhost_queue *q, struct virtq_elem *spare, const char *name,
			  const uint16_t *ids, int count, vhost_queue_handle_fn handle, void *ctx);

#endif
