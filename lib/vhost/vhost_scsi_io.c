/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-scsi request queues (index >= 2) and the control queue (index 0):
 * per-queue slot pools, request parsing, submission to the SCSI layer
 * (lib/scsi), completion back to the ring, and task management.
 *
 * A started queue has a struct scsi_queue (q->backend_ctx) on its
 * poll-group thread: one slot per ring entry, indexed by the element id,
 * each with its iovec array and an embedded spur_scsi_task (and
 * spur_scsi_mgmt_task, used on the control queue), so the data path never
 * allocates. As in vhost_blk_io.c, virtq_pop fills a spare element whose
 * iovec array is swapped with the slot's once the id is known.
 *
 * A command request (virtio 1.x, cdb_size 32, sense_size 96): the first 51
 * readable bytes are virtio_scsi_cmd_req (copied out, they may span
 * iovecs), the readable bytes after it are data-out; the first 108
 * writable bytes (framed in any way) receive virtio_scsi_cmd_resp, the
 * writable bytes after it are data-in. The data iovecs are sliced in
 * place and handed to the SCSI layer, which moves data between them and
 * the bdev directly (zero copy).
 * Checks before the layer sees anything: a response area of 108 bytes
 * (else FAILURE in what there is when it holds the 12 bytes up to
 * `response`, else the queue is marked broken), a full header (else
 * FAILURE), the
 * LUN address: byte 0 = 1, byte 1 = a target that exists, bytes 2-7 a
 * single-level SAM LUN (else BAD_TARGET), and data in one direction only
 * (VIRTIO_SCSI_F_INOUT is not offered; else FAILURE). A chain the virtq
 * layer finds malformed is answered FAILURE in its first writable
 * descriptor when that holds the response header (sq_answer_bad); else it
 * cannot be answered and the queue is marked broken (NEEDS_RESET) rather
 * than returning it empty, which the driver could take for a response. On
 * the control queue every malformed chain stops the queue (see
 * sq_answer_bad). CDB validation, missing LUNs, unit attentions and the
 * command itself are the layer's.
 * The completion copies status, sense (up to sense_size), the residual of
 * the data buffer, and maps a task aborted by a LUN or I_T nexus reset to
 * VIRTIO_SCSI_S_RESET (Linux retries it), one aborted otherwise to
 * VIRTIO_SCSI_S_ABORTED, and a command that implied more data than the
 * buffers hold to VIRTIO_SCSI_S_OVERRUN (the spec's rules).
 *
 * The control queue answers task management (ABORT TASK, ABORT TASK SET,
 * CLEAR TASK SET, LOGICAL UNIT RESET, I_T NEXUS RESET through the layer's
 * task management; CLEAR ACA and QUERY TASK (SET) are rejected) once the
 * function took effect, and asynchronous-notification query / subscribe
 * with event_actual 0 (no such event is supported). Ordering for the
 * guest: a task the layer aborts is published (flushed) from its own
 * queue at once, and the layer runs the TMF callback only after every
 * aborted task completed, so the guest finds the aborted requests in the
 * used rings before it sees the TMF response.
 *
 * Targets: a queue holds a channel of a target's SCSI device from its
 * first request to that target until the target leaves ACTIVE and the
 * queue has no task on it (vhost_scsi_target_acquire / release); requests
 * for a target that is not ACTIVE get BAD_TARGET.
 *
 * Slot life: free -> (pop) in use -> (layer submit) -> (layer callback) ->
 * response written, pushed, task put, free. Pushed entries are published at
 * the end of each queue_poll run (completions between runs wait for the
 * next one, in the same reactor iteration or the next), except aborted
 * tasks and TMF responses, which are flushed at once. A stopping queue
 * flushes at once and calls the stop callback when its last slot is free.
 *
 * Threads: everything here runs on the queue's poll-group thread, except
 * the removal nudge, which the app thread sends to every thread and which
 * acts only on queues of the thread it runs on (vhost_rq.h keeps the list
 * of started queues, locked only by start, stop and such walks).
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "spur/iov.h"
#include "spur/log.h"
#include "vhost_rq.h"
#include "vhost_scsi_internal.h"

#define REQ_SIZE ((uint32_t)sizeof(struct virtio_scsi_cmd_req))   /* 51 */
#define RESP_SIZE ((uint32_t)sizeof(struct virtio_scsi_cmd_resp)) /* 108 */
/* The spec's TMF "function complete" (Linux's header has no name for it). */
#define VIRTIO_SCSI_S_FUNCTION_COMPLETE 0

struct scsi_queue;

struct scsi_slot {
	struct spur_scsi_task task;          /* request queues */
	struct spur_scsi_mgmt_task mgmt;     /* control queue: TMF */
	struct scsi_queue *sq;
	struct virtq_elem elem;              /* elem.iov: this slot's array */
	struct vhost_mem *mem;               /* table the iovecs point into */
	/*
	 * Where the 108-byte response goes, however the driver framed it:
	 * elem.iov[resp_first .. resp_first + resp_nfull) whole (the layer
	 * never sees them), then resp_tail, the head of the iovec the data-in
	 * part was cut from.
	 */
	uint32_t resp_first, resp_nfull;
	struct iovec resp_tail;
	uint8_t target;
	bool in_use;
	bool holds_target;                   /* counted in sq->tgt[target].inflight */
	bool counts_reset;                   /* TMF counted in the target's resets */
};

/* This queue's use of one target slot. */
struct scsi_qtarget {
	struct spur_scsi_dev *dev;
	struct spur_io_channel *ch;          /* NULL: no hold */
	uint32_t inflight;                   /* slots of this queue on the target */
};

struct scsi_queue {
	struct vhost_rq rq;                  /* first: the queue's backend context */
	struct vhost_scsi_ctrlr *sc;
	bool ctrl;                           /* the control queue */
	struct scsi_qtarget tgt[VHOST_SCSI_MAX_TARGETS];
	struct scsi_slot slots[];
};

static struct scsi_queue *
scsi_queue(struct vhost_rq *rq)
{
	return SPUR_CONTAINER_OF(rq, struct scsi_queue, rq);
}

/* ---- LUN addressing ---------------------------------------------------------------- */

/*
 * virtio-scsi LUN field: byte 0 = 1, byte 1 = target, bytes 2-3 a
 * single-level SAM LUN (peripheral addressing on bus 0, or flat space: 14
 * bits, what Linux sends), bytes 4-7 zero. Returns the target slot or NULL
 * (not routable: BAD_TARGET), and the LUN id in *lun_id. Every well-formed
 * LUN is passed on, also one beyond the SCSI layer's ids: the target
 * exists and answers for a LUN it lacks (SPC-4: LOGICAL UNIT NOT SUPPORTED,
 * INCORRECT_LUN for a TMF); the layer bounds-checks every id.
 */
static struct vhost_scsi_target *
parse_lun(struct vhost_scsi_ctrlr *sc, const uint8_t lun[8], uint16_t *lun_id)
{
	if (lun[0] != 1 || lun[1] >= VHOST_SCSI_MAX_TARGETS ||
	    (lun[4] | lun[5] | lun[6] | lun[7]) != 0)
		return NULL;
	switch (lun[2] >> 6) {
	case 0:
		if (lun[2] != 0)
			return NULL;
		*lun_id = lun[3];
		break;
	case 1:
		*lun_id = (uint16_t)(((lun[2] & 0x3fu) << 8) | lun[3]);
		break;
	default:
		return NULL;
	}
	return &sc->targets[lun[1]];
}

/* ---- targets held by a queue ---------------------------------------------------------- */

static struct scsi_qtarget *
qtarget_get(struct scsi_queue *sq, uint8_t t)
{
	struct scsi_qtarget *qt = &sq->tgt[t];
	struct vhost_scsi_target *target = &sq->sc->targets[t];

	if (qt->ch != NULL)
		return vhost_scsi_target_active(target) ? qt : NULL;
	qt->dev = vhost_scsi_target_acquire(target, &qt->ch);
	return qt->dev != NULL ? qt : NULL;
}

/* Release holds of targets that left ACTIVE and have no task of this queue. */
static void
release_idle_targets(struct scsi_queue *sq, bool all)
{
	for (uint32_t t = 0; t < VHOST_SCSI_MAX_TARGETS; t++) {
		struct scsi_qtarget *qt = &sq->tgt[t];

		if (qt->ch == NULL || qt->inflight != 0)
			continue;
		if (!all && vhost_scsi_target_active(&sq->sc->targets[t]))
			continue;
		vhost_scsi_target_release(&sq->sc->targets[t], qt->ch);
		qt->ch = NULL;
		qt->dev = NULL;
	}
}

/* ---- completion ------------------------------------------------------------------------ */

/* The queue stopped with nothing in flight (vhost_rq.h's free). */
static void
sq_free(struct vhost_rq *rq)
{
	struct scsi_queue *sq = scsi_queue(rq);
	struct vhost_scsi_ctrlr *sc = sq->sc;

	release_idle_targets(sq, true);
	vhost_rq_fini(rq);
	free(sq);
	vhost_scsi_unref(sc);
}

/* Housekeeping (vhost_rq.h): release targets being removed once idle. */
static void
sq_housekeep(struct vhost_rq *rq)
{
	struct scsi_queue *sq = scsi_queue(rq);

	if (atomic_load(&sq->sc->removing) != 0)
		release_idle_targets(sq, false);
}

/* Outside queue_poll (layer callbacks), finish what poll would. */
static void
sq_after_completion(struct scsi_queue *sq)
{
	vhost_rq_after_completion(&sq->rq, sq_housekeep);
}

/* Free a slot whose request ended (answered or not). */
static void
slot_release(struct scsi_slot *slot)
{
	struct scsi_queue *sq = slot->sq;

	slot->in_use = false;
	if (slot->holds_target) {
		sq->tgt[slot->target].inflight--;
		slot->holds_target = false;
	}
	vhost_queue_request_end(sq->rq.q, slot->mem);
	sq->rq.inflight--;
}

/* Push an answered slot with len bytes written; the slot (maybe the queue) is free after. */
static void
slot_push(struct scsi_slot *slot, uint32_t len, bool flush_now)
{
	struct scsi_queue *sq = slot->sq;

	virtq_push(&sq->rq.q->vq, &slot->elem, len);
	slot_release(slot);
	sq->rq.unflushed++;
	if (flush_now)
		vhost_rq_flush(&sq->rq);
	sq_after_completion(sq);
}

/*
 * A well-formed request with nowhere to put its answer: it is not pushed
 * (returned empty, the driver would read whatever its response buffer
 * held as the device's answer) and the queue is marked broken, so the
 * device reports NEEDS_RESET. why: a static string.
 */
static void
slot_fail_unanswerable(struct scsi_slot *slot, const char *why)
{
	struct scsi_queue *sq = slot->sq;

	slot_release(slot);
	vhost_rq_mark_broken(&sq->rq, why, slot->elem.id);
	sq_after_completion(sq);
}

/*
 * Write a virtio_scsi_cmd_resp with response FAILURE (all else zero) at
 * the start of iov[0..cnt), as much of its 108 bytes as fits. Returns the
 * bytes written, or 0 (nothing written) when the iovecs do not hold the
 * 12 bytes up to `response`.
 */
static uint32_t
write_failure_response(struct iovec *iov, uint32_t cnt)
{
	struct virtio_scsi_cmd_resp resp;
	uint64_t room = spur_iov_len(iov, cnt);

	if (room < offsetof(struct virtio_scsi_cmd_resp, sense))
		return 0;
	memset(&resp, 0, sizeof(resp));
	resp.response = VIRTIO_SCSI_S_FAILURE;
	return spur_iov_from_buf(iov, cnt, 0, &resp, (uint32_t)SPUR_MIN(room, RESP_SIZE));
}

/* Write a command response (local copy) into the slot's response area and push. */
static void
cmd_respond(struct scsi_slot *slot, const struct virtio_scsi_cmd_resp *resp, uint32_t data_in,
	    bool flush_now)
{
	uint32_t n = (uint32_t)spur_iov_from_buf(&slot->elem.iov[slot->resp_first],
						 slot->resp_nfull, 0, resp, RESP_SIZE);

	spur_iov_from_buf(&slot->resp_tail, 1, 0, (const uint8_t *)resp + n, RESP_SIZE - n);
	slot_push(slot, RESP_SIZE + data_in, flush_now);
}

/* Answer a command the layer never saw. resid: bytes of its data buffers. */
static void
cmd_fail(struct scsi_slot *slot, uint8_t response, uint64_t resid)
{
	struct virtio_scsi_cmd_resp resp;

	memset(&resp, 0, sizeof(resp));
	resp.response = response;
	resp.resid = htole32((uint32_t)SPUR_MIN(resid, (uint64_t)UINT32_MAX));
	cmd_respond(slot, &resp, 0, false);
}

static void
cmd_done(struct spur_scsi_task *task)
{
	struct scsi_slot *slot = spur_scsi_task_get_cb_arg(task);
	struct virtio_scsi_cmd_resp resp;
	uint32_t moved = SPUR_MIN(task->data_transferred, task->transfer_len);
	bool aborted = task->response == SPUR_SCSI_TASK_ABORTED;

	memset(&resp, 0, sizeof(resp));
	resp.resid = htole32(task->transfer_len - moved);
	if (aborted) {
		/*
		 * The spec's distinction: cancelled by a reset (Linux retries it)
		 * or by ABORT TASK (SET) / PREEMPT AND ABORT. The layer aborts
		 * tasks only while the TMF runs, and the reset count was raised
		 * before the TMF reached any thread.
		 */
		resp.response = atomic_load(&slot->sq->sc->targets[slot->target].resets) != 0
				? VIRTIO_SCSI_S_RESET : VIRTIO_SCSI_S_ABORTED;
	} else {
		resp.status = task->status;
		resp.response = (task->residual_flags & SPUR_SCSI_RESIDUAL_OVERFLOW) &&
					task->status == SPUR_SCSI_STATUS_GOOD
				? VIRTIO_SCSI_S_OVERRUN : VIRTIO_SCSI_S_OK;
		if (task->sense_len > 0) {
			uint32_t n = SPUR_MIN((uint32_t)task->sense_len,
					      (uint32_t)SPUR_MIN(sizeof(task->sense),
								 (size_t)VHOST_SCSI_SENSE_SIZE));

			memcpy(resp.sense, task->sense, n);
			resp.sense_len = htole32(n);
		}
	}
	if (spur_unlikely(task->status != SPUR_SCSI_STATUS_GOOD || aborted))
		SPUR_DEBUGLOG(VHOST_SCSI_LOG, "%s queue %u id %u: opcode 0x%02x target %u: "
			      "response %u status 0x%02x sense %02x/%02x/%02x\n",
			      slot->sq->sc->ctrlr->name, slot->sq->rq.q->index, slot->elem.id,
			      task->cdb[0], slot->target, resp.response, task->status,
			      task->sense_len > 2 ? task->sense[2] & 0xf : 0,
			      task->sense_len > 12 ? task->sense[12] : 0,
			      task->sense_len > 13 ? task->sense[13] : 0);
	if (task->dir != SPUR_SCSI_DIR_FROM_DEV)
		moved = 0;
	spur_scsi_task_put(task);
	/* Aborted: visible to the guest before the TMF that caused it is answered. */
	cmd_respond(slot, &resp, moved, aborted);
}

/* ---- command requests -------------------------------------------------------------------- */

/*
 * Find the 108-byte response area at the start of the writable part, split
 * over any number of iovecs (virtio: no framing may be assumed), record it
 * in the slot and slice the iovec it ends in so that the data-in part
 * starts after it. Returns the index of the first data-in iovec, or
 * UINT32_MAX when the writable part is shorter than the response.
 */
static uint32_t
take_response_area(struct scsi_slot *slot)
{
	struct iovec *iov = slot->elem.iov;
	uint32_t first = slot->elem.out_num, end = first + slot->elem.in_num;
	uint32_t need = RESP_SIZE, k;

	if (slot->elem.in_len < RESP_SIZE)
		return UINT32_MAX;
	for (k = first; k < end && iov[k].iov_len <= need; k++)
		need -= (uint32_t)iov[k].iov_len;
	slot->resp_first = first;
	slot->resp_nfull = k - first;
	slot->resp_tail.iov_base = NULL;
	slot->resp_tail.iov_len = 0;
	if (need > 0) {
		/* in_len >= RESP_SIZE: iov[k] exists and is longer than need. */
		slot->resp_tail.iov_base = iov[k].iov_base;
		slot->resp_tail.iov_len = need;
		iov[k].iov_base = (uint8_t *)iov[k].iov_base + need;
		iov[k].iov_len -= need;
	}
	return k;
}

static void
cmd_start(struct scsi_slot *slot)
{
	struct scsi_queue *sq = slot->sq;
	struct vhost_scsi_ctrlr *sc = sq->sc;
	struct spur_scsi_task *task = &slot->task;
	struct iovec *iov = slot->elem.iov;
	uint32_t out = slot->elem.out_num, end = out + slot->elem.in_num;
	struct virtio_scsi_cmd_req req;
	struct vhost_scsi_target *target;
	struct scsi_qtarget *qt;
	uint64_t out_len, data_out, data_in;
	uint32_t k_in, k_out;
	uint16_t lun_id = 0;
	int rc;

	k_in = take_response_area(slot);
	if (k_in == UINT32_MAX) {
		/* Shorter than the response: FAILURE in what there is, if the byte fits. */
		uint32_t n = write_failure_response(&iov[out], slot->elem.in_num);

		SPUR_DEBUGLOG(VHOST_SCSI_LOG, "%s queue %u: request %u has a %u-byte response "
			      "area\n", sc->ctrlr->name, sq->rq.q->index, slot->elem.id,
			      slot->elem.in_len);
		if (n == 0)
			slot_fail_unanswerable(slot, "request without room for the response header");
		else
			slot_push(slot, n, false);
		return;
	}
	data_in = slot->elem.in_len - RESP_SIZE;
	out_len = spur_iov_len(iov, out);
	if (out_len < REQ_SIZE) {
		SPUR_DEBUGLOG(VHOST_SCSI_LOG, "%s: request %u has a %lu-byte header\n",
			      sc->ctrlr->name, slot->elem.id, (unsigned long)out_len);
		cmd_fail(slot, VIRTIO_SCSI_S_FAILURE, data_in);
		return;
	}
	spur_iov_to_buf(iov, out, 0, &req, REQ_SIZE);
	data_out = out_len - REQ_SIZE;
	if (data_out != 0 && data_in != 0) {
		SPUR_DEBUGLOG(VHOST_SCSI_LOG, "%s: request %u moves data both ways (INOUT is not "
			      "offered)\n", sc->ctrlr->name, slot->elem.id);
		cmd_fail(slot, VIRTIO_SCSI_S_FAILURE, data_in + data_out);
		return;
	}
	if (data_out > UINT32_MAX) {
		cmd_fail(slot, VIRTIO_SCSI_S_OVERRUN, data_out);
		return;
	}
	target = parse_lun(sc, req.lun, &lun_id);
	qt = target != NULL ? qtarget_get(sq, target->num) : NULL;
	if (qt == NULL) {
		cmd_fail(slot, VIRTIO_SCSI_S_BAD_TARGET, data_in + data_out);
		return;
	}
	slot->target = target->num;
	slot->holds_target = true;
	qt->inflight++;

	memcpy(task->cdb, req.cdb, SPUR_MIN(sizeof(task->cdb), sizeof(req.cdb)));
	task->lun_id = lun_id;
	task->initiator = &sc->port;
	task->tag = le64toh(req.tag);
	if (data_in != 0) {
		task->dir = SPUR_SCSI_DIR_FROM_DEV;
		task->transfer_len = (uint32_t)data_in;
		task->iovs = &iov[k_in];
		task->iovcnt = (int)(end - k_in);
	} else if (data_out != 0) {
		k_out = spur_iov_skip(iov, out, REQ_SIZE);
		task->dir = SPUR_SCSI_DIR_TO_DEV;
		task->transfer_len = (uint32_t)data_out;
		task->iovs = &iov[k_out];
		task->iovcnt = (int)(out - k_out);
	} else {
		task->dir = SPUR_SCSI_DIR_NONE;
		task->transfer_len = 0;
		task->iovs = NULL;
		task->iovcnt = 0;
	}
	rc = spur_scsi_dev_queue_task(qt->dev, qt->ch, task);
	if (spur_unlikely(rc != 0)) {
		SPUR_DEBUGLOG(VHOST_SCSI_LOG, "%s queue %u id %u: submit failed: %s\n",
			      sc->ctrlr->name, sq->rq.q->index, slot->elem.id, strerror(-rc));
		cmd_fail(slot, rc == -ENODEV ? VIRTIO_SCSI_S_BAD_TARGET : VIRTIO_SCSI_S_FAILURE,
			 data_in + data_out);
	}
}

/* ---- control requests ---------------------------------------------------------------------- */

/* Write len bytes at the start of the writable part and push. */
static void
ctrl_respond(struct scsi_slot *slot, const void *resp, uint32_t len)
{
	struct virtq_elem *e = &slot->elem;
	uint32_t n = spur_iov_from_buf(&e->iov[e->out_num], e->in_num, 0, resp, len);

	slot_push(slot, n, true);
}

static uint8_t
tmf_vresponse(uint8_t response)
{
	switch (response) {
	case SPUR_SCSI_TMF_FUNCTION_COMPLETE:
		return VIRTIO_SCSI_S_FUNCTION_COMPLETE;
	case SPUR_SCSI_TMF_FUNCTION_SUCCEEDED:
		return VIRTIO_SCSI_S_FUNCTION_SUCCEEDED;
	case SPUR_SCSI_TMF_FUNCTION_REJECTED:
		return VIRTIO_SCSI_S_FUNCTION_REJECTED;
	case SPUR_SCSI_TMF_INCORRECT_LUN:
		return VIRTIO_SCSI_S_INCORRECT_LUN;
	default:
		return VIRTIO_SCSI_S_FAILURE;
	}
}

static const char *
tmf_name(enum spur_scsi_tmf function)
{
	switch (function) {
	case SPUR_SCSI_TMF_ABORT_TASK:
		return "ABORT TASK";
	case SPUR_SCSI_TMF_ABORT_TASK_SET:
		return "ABORT TASK SET";
	case SPUR_SCSI_TMF_LUN_RESET:
		return "LOGICAL UNIT RESET";
	case SPUR_SCSI_TMF_TARGET_RESET:
		return "I_T NEXUS RESET";
	}
	return "?";
}

static void
tmf_done(struct spur_scsi_mgmt_task *mgmt)
{
	struct scsi_slot *slot = spur_scsi_mgmt_task_get_cb_arg(mgmt);
	uint8_t r = tmf_vresponse(mgmt->response);

	if (slot->counts_reset) {
		atomic_fetch_sub(&slot->sq->sc->targets[slot->target].resets, 1);
		slot->counts_reset = false;
	}
	SPUR_NOTICELOG("%s: %s on target %u LUN %u: response %u, %u task(s) aborted\n",
		       slot->sq->sc->ctrlr->name, tmf_name(mgmt->function), slot->target,
		       mgmt->lun_id, r, mgmt->aborted_count);
	ctrl_respond(slot, &r, 1);
}

static void
ctrl_tmf(struct scsi_slot *slot, uint64_t out_len)
{
	struct scsi_queue *sq = slot->sq;
	struct virtio_scsi_ctrl_tmf_req req;
	struct spur_scsi_mgmt_task *mgmt = &slot->mgmt;
	struct vhost_scsi_target *target;
	struct scsi_qtarget *qt;
	uint16_t lun_id = 0;
	uint8_t r;
	int rc;

	if (out_len < sizeof(req)) {
		r = VIRTIO_SCSI_S_FAILURE;
		ctrl_respond(slot, &r, 1);
		return;
	}
	spur_iov_to_buf(slot->elem.iov, slot->elem.out_num, 0, &req, sizeof(req));
	switch (le32toh(req.subtype)) {
	case VIRTIO_SCSI_T_TMF_ABORT_TASK:
		mgmt->function = SPUR_SCSI_TMF_ABORT_TASK;
		break;
	case VIRTIO_SCSI_T_TMF_ABORT_TASK_SET:
	case VIRTIO_SCSI_T_TMF_CLEAR_TASK_SET:
		/* One initiator per device: clearing the task set aborts ours. */
		mgmt->function = SPUR_SCSI_TMF_ABORT_TASK_SET;
		break;
	case VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET:
		mgmt->function = SPUR_SCSI_TMF_LUN_RESET;
		break;
	case VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET:
		/* Every task of our (only) nexus on every LUN of the target. */
		mgmt->function = SPUR_SCSI_TMF_TARGET_RESET;
		break;
	default:
		/* CLEAR ACA (no ACA), QUERY TASK (SET), unknown. */
		SPUR_DEBUGLOG(VHOST_SCSI_LOG, "%s: TMF subtype %u rejected\n", sq->sc->ctrlr->name,
			      le32toh(req.subtype));
		r = VIRTIO_SCSI_S_FUNCTION_REJECTED;
		ctrl_respond(slot, &r, 1);
		return;
	}
	target = parse_lun(sq->sc, req.lun, &lun_id);
	qt = target != NULL ? qtarget_get(sq, target->num) : NULL;
	if (qt == NULL) {
		r = VIRTIO_SCSI_S_BAD_TARGET;
		ctrl_respond(slot, &r, 1);
		return;
	}
	slot->target = target->num;
	slot->holds_target = true;
	qt->inflight++;
	mgmt->lun_id = lun_id;
	mgmt->initiator = &sq->sc->port;
	mgmt->abort_tag = le64toh(req.tag);
	if (mgmt->function == SPUR_SCSI_TMF_LUN_RESET ||
	    mgmt->function == SPUR_SCSI_TMF_TARGET_RESET) {
		atomic_fetch_add(&target->resets, 1);
		slot->counts_reset = true;
	}
	rc = spur_scsi_dev_queue_mgmt_task(qt->dev, qt->ch, mgmt);
	if (rc != 0) {
		if (slot->counts_reset) {
			atomic_fetch_sub(&target->resets, 1);
			slot->counts_reset = false;
		}
		SPUR_WARNLOG("%s: task management function on target %u failed: %s\n",
			     sq->sc->ctrlr->name, target->num, strerror(-rc));
		r = rc == -ENODEV ? VIRTIO_SCSI_S_BAD_TARGET : VIRTIO_SCSI_S_FAILURE;
		ctrl_respond(slot, &r, 1);
	}
}

static void
ctrl_an(struct scsi_slot *slot, uint64_t out_len)
{
	struct virtio_scsi_ctrl_an_req req;
	struct virtio_scsi_ctrl_an_resp resp;
	struct vhost_scsi_target *target;
	uint16_t lun_id;

	memset(&resp, 0, sizeof(resp));
	if (out_len < sizeof(req)) {
		resp.response = VIRTIO_SCSI_S_FAILURE;
	} else {
		spur_iov_to_buf(slot->elem.iov, slot->elem.out_num, 0, &req, sizeof(req));
		target = parse_lun(slot->sq->sc, req.lun, &lun_id);
		/* No asynchronous notification is supported: event_actual stays 0. */
		resp.response = target != NULL && vhost_scsi_target_active(target)
				? VIRTIO_SCSI_S_OK : VIRTIO_SCSI_S_BAD_TARGET;
	}
	ctrl_respond(slot, &resp, sizeof(resp));
}

static void
ctrl_start(struct scsi_slot *slot)
{
	struct virtq_elem *e = &slot->elem;
	uint64_t out_len = spur_iov_len(e->iov, e->out_num);
	uint32_t type;

	/* No answer without the type (the response layout) or a writable byte. */
	if (out_len < sizeof(type) || e->in_len == 0) {
		slot_fail_unanswerable(slot, "control request too short to answer");
		return;
	}
	spur_iov_to_buf(e->iov, e->out_num, 0, &type, sizeof(type));
	switch (le32toh(type)) {
	case VIRTIO_SCSI_T_TMF:
		/* The response byte is the first: in_len > 0 holds it. */
		ctrl_tmf(slot, out_len);
		return;
	case VIRTIO_SCSI_T_AN_QUERY:
	case VIRTIO_SCSI_T_AN_SUBSCRIBE:
		if (e->in_len < sizeof(struct virtio_scsi_ctrl_an_resp)) {
			slot_fail_unanswerable(slot, "notification request without room for its "
					       "response");
			return;
		}
		ctrl_an(slot, out_len);
		return;
	default:
		/* A type no negotiated feature defines: no response layout. */
		slot_fail_unanswerable(slot, "control request of an unknown type");
		return;
	}
}

/* ---- taking requests ------------------------------------------------------------------------ */

/*
 * A malformed chain (virtq.h, "Malformed chains"). On a request queue the
 * response goes at the start of the writable part: when the chain's first
 * device-writable descriptor was translated and holds the response header
 * up to `response` (12 bytes), a virtio_scsi_cmd_resp with response
 * FAILURE (all else zero) is written there, as much of its 108 bytes as
 * fits, and the chain pushed with that length. Otherwise it cannot be
 * answered and the queue is marked broken (NEEDS_RESET): returned empty,
 * the driver would read whatever its response buffer held as the
 * device's answer. The control queue's response layout depends on the
 * request type (a TMF's response byte is at offset 0, an AN request's at
 * 4), which a malformed chain does not give reliably, so no answer is
 * right for every request and a malformed chain always stops it (Linux
 * would take a zero byte as FUNCTION COMPLETE). Takes the element in
 * hand (request begun) and ends the request.
 */
static void
sq_answer_bad(struct scsi_queue *sq, const struct virtq_elem *e, struct vhost_mem *mem)
{
	uint32_t len = 0;

	if (!sq->ctrl && e->bad_first > 0 && e->bad_first <= e->iov_max)
		len = write_failure_response(e->iov, e->bad_first);
	if (len > 0) {
		SPUR_DEBUGLOG(VHOST_SCSI_LOG, "%s queue %u: malformed chain %u answered "
			      "FAILURE\n", sq->sc->ctrlr->name, sq->rq.q->index, e->id);
		virtq_push(&sq->rq.q->vq, e, len);
		sq->rq.unflushed++;
	}
	vhost_queue_request_end(sq->rq.q, mem);
	if (sq->ctrl)
		vhost_rq_mark_broken(&sq->rq, "malformed chain on the control queue", e->id);
	else if (len == 0)
		vhost_rq_mark_broken(&sq->rq, "malformed chain without room for the response header in "
			       "guest memory", e->id);
}

/* Take the element in the spare (from pop or get_elem) as a request (ctx: the vhost_rq). */
static void
sq_handle(void *ctx, enum virtq_pop_result r)
{
	struct scsi_queue *sq = scsi_queue(ctx);
	struct virtq_elem *e = &sq->rq.spare;
	struct scsi_slot *slot;
	struct iovec *iov;
	struct vhost_mem *mem;

	if (e->id >= sq->rq.size) {
		vhost_rq_mark_broken(&sq->rq, "element id beyond the queue size", e->id);
		return;
	}
	slot = &sq->slots[e->id];
	if (slot->in_use) {
		vhost_rq_mark_broken(&sq->rq, "driver reused an id still in flight", e->id);
		return;
	}
	mem = vhost_queue_request_begin(sq->rq.q);
	if (r == VIRTQ_POP_BAD) {
		sq_answer_bad(sq, e, mem);
		return;
	}
	/* Swap iovec arrays: the slot takes the filled one, the spare gets the slot's. */
	iov = slot->elem.iov;
	slot->elem = *e;
	e->iov = iov;
	slot->in_use = true;
	slot->holds_target = false;
	slot->mem = mem;
	sq->rq.inflight++;
	if (sq->ctrl)
		ctrl_start(slot);
	else
		cmd_start(slot);
}

/* ---- queue operations ---------------------------------------------------------------------- */

int
vhost_scsi_rq_start(struct vhost_queue *q)
{
	struct vhost_scsi_ctrlr *sc = vhost_scsi_queue_ctrlr(q);
	uint32_t size = q->vq.cfg.size != 0 ? q->vq.cfg.size : q->cfg.size;
	struct scsi_queue *sq;

	if (sc == NULL || size == 0)
		return -EINVAL;
	sq = calloc(1, sizeof(*sq) + sizeof(struct scsi_slot) * size);
	if (sq == NULL)
		return -ENOMEM;
	if (vhost_rq_init(&sq->rq, q, size, VHOST_SCSI_IOV_MAX, sc->ctrlr->name, VHOST_SCSI_LOG,
			  sc, sq_free) < 0) {
		free(sq);
		return -ENOMEM;
	}
	sq->sc = sc;
	sq->ctrl = q->index == VHOST_SCSI_CTRLQ;
	for (uint32_t i = 0; i < size; i++) {
		struct scsi_slot *slot = &sq->slots[i];

		slot->sq = sq;
		slot->elem.iov = vhost_rq_iov(&sq->rq, i);
		slot->elem.iov_max = VHOST_SCSI_IOV_MAX;
		spur_scsi_task_construct(&slot->task, cmd_done, slot);
		spur_scsi_mgmt_task_construct(&slot->mgmt, tmf_done, slot);
	}
	vhost_scsi_ref(sc);
	vhost_rq_publish(&sq->rq);
	return 0;
}

int
vhost_scsi_rq_poll(struct vhost_queue *q)
{
	struct vhost_rq *rq = q->backend_ctx;

	if (rq == NULL)
		return SPUR_POLLER_IDLE;
	return vhost_rq_poll(rq, sq_handle, sq_housekeep);
}

void
vhost_scsi_rq_resubmit(struct vhost_queue *q, const uint16_t *ids, int count)
{
	vhost_rq_resubmit(q, ids, count, sq_handle);
}

/* ---- removal nudge ---------------------------------------------------------------------------- */

static void
nudge_on_thread(void *ctx)
{
	vhost_rq_for_each_on_thread(ctx, sq_housekeep);
}

static void
nudge_done(void *ctx)
{
	vhost_scsi_unref(ctx);
}

void
vhost_scsi_queues_nudge(struct vhost_scsi_ctrlr *sc)
{
	vhost_scsi_ref(sc);
	spur_for_each_thread(nudge_on_thread, sc, nudge_done);
}
