/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-blk queues: per-queue task pools, request parsing, submission to
 * the bdev and completion back to the ring.
 *
 * A started queue has a struct blk_queue (q->backend_ctx) on its poll-group
 * thread: the bdev I/O channel of that thread and one task per ring slot,
 * indexed by the element id (split: head index; packed: buffer id; both
 * below the queue size), each with its own iovec array, so the data path
 * never allocates. virtq_pop fills a spare element; once its id is known
 * the spare's iovec array is swapped with the task's (no copying), which
 * also keeps a hostile guest that reuses an in-flight id from touching the
 * in-flight task: that is detected, the queue is marked broken.
 *
 * A request (virtio 1.x, block device): the first 16 readable bytes are
 * the header {type, ioprio, sector} (copied out, they may span iovecs);
 * the last writable byte is the status; the data are the iovecs between,
 * sliced in place (the header's and the status's bytes trimmed off), so
 * the bdev reads and writes guest memory directly. Everything the guest
 * controls is checked before any bdev call: sizes and sectors against the
 * block size and the capacity, discard / write-zeroes segments (copied into
 * the task, then checked, so the guest cannot change them afterwards),
 * flags, segment counts, read-only. A chain the virtq layer finds
 * malformed (VIRTQ_POP_BAD) gets IOERR in the last byte of its last
 * writable descriptor when that lies in guest memory; otherwise it cannot
 * be answered and the queue is marked broken (NEEDS_RESET), never returned
 * empty: the driver would read a stale status byte, 0 = OK (blk_answer_bad).
 * A well-formed request without a writable byte for its status stops the
 * queue likewise (blk_fail_unanswerable). An unwalkable chain has broken
 * the queue in the virtq layer already.
 *
 * Task life: free -> (pop) in use -> (bdev submit; -ENOMEM: wait entry,
 * resubmit) -> (bdev callback) -> status written, pushed, free. Pushed
 * entries are published by virtq_flush at the end of each queue_poll run;
 * completions that arrive between runs (bdev pollers) wait for the next
 * run, which comes in the same reactor iteration or the next one. A
 * stopping queue flushes at once and calls the stop callback when its last
 * task is done.
 *
 * Threads: everything here runs on the queue's poll-group thread, except
 * the hot-remove nudge, which the app thread sends to every thread and
 * which acts only on queues of the thread it runs on. g_queues (all started
 * blk queues) is locked only by start, stop and that nudge.
 */
#include <endian.h>
#include <errno.h>
#include <linux/virtio_blk.h>
#include <stdlib.h>
#include <string.h>

#include "spur/iov.h"
#include "spur/log.h"
#include "vhost_blk_internal.h"
#include "vhost_rq.h"

#define HDR_SIZE 16u  /* struct virtio_blk_outhdr */
#define DWZ_SIZE 16u  /* struct virtio_blk_discard_write_zeroes */

enum blk_op {
	BLK_OP_READ,
	BLK_OP_WRITE,
	BLK_OP_FLUSH,
	BLK_OP_DISCARD,
	BLK_OP_WRITE_ZEROES,
};

struct blk_range {
	uint64_t offset_blocks;
	uint32_t num_blocks;
	uint32_t flags;   /* SPUR_BDEV_IO_UNMAP_OK for write zeroes */
};

struct blk_queue;

struct blk_task {
	struct blk_queue *bq;
	struct virtq_elem elem;          /* elem.iov: this task's array */
	struct vhost_mem *mem;           /* table the iovecs point into */
	uint8_t *status;
	struct iovec *data_iov;
	int data_iovcnt;
	uint32_t used_len;               /* on success */
	enum blk_op op;
	bool in_use;
	uint16_t nranges, range;
	uint64_t offset_blocks, num_blocks;
	struct spur_bdev_io_wait_entry wait;
	struct blk_range ranges[VHOST_BLK_MAX_DWZ_SEG];
};

struct blk_queue {
	struct vhost_rq rq;              /* first: the queue's backend context */
	struct vhost_blk_ctrlr *bc;
	struct spur_bdev_desc *desc;
	struct spur_io_channel *ch;      /* NULL: bdev removed, requests fail */
	struct blk_task tasks[];
};

static void blk_submit(struct blk_task *task);

/* ---- completion ---------------------------------------------------------------- */

static struct blk_queue *
blk_queue(struct vhost_rq *rq)
{
	return SPUR_CONTAINER_OF(rq, struct blk_queue, rq);
}

/* Housekeeping (vhost_rq.h): put the channel of a removed bdev once idle. */
static void
blk_release_channel_if_removed(struct vhost_rq *rq)
{
	struct blk_queue *bq = blk_queue(rq);

	if (bq->ch != NULL && rq->inflight == 0 && atomic_load(&bq->bc->removed)) {
		vhost_blk_put_channel(bq->bc, bq->ch);
		bq->ch = NULL;
	}
}

/* The queue stopped with nothing in flight (vhost_rq.h's free). */
static void
blk_queue_free(struct vhost_rq *rq)
{
	struct blk_queue *bq = blk_queue(rq);

	if (bq->ch != NULL)
		vhost_blk_put_channel(bq->bc, bq->ch);
	vhost_rq_fini(rq);
	free(bq);
}

/* Outside queue_poll (bdev callbacks, io_wait), finish what poll would. */
static void
blk_after_completion(struct blk_queue *bq)
{
	vhost_rq_after_completion(&bq->rq, blk_release_channel_if_removed);
}

/* Push an answered request; the task (and maybe the queue) is free after. */
static void
blk_complete(struct blk_task *task, uint8_t vstatus)
{
	struct blk_queue *bq = task->bq;
	struct vhost_queue *q = bq->rq.q;

	*task->status = vstatus;
	virtq_push(&q->vq, &task->elem, vstatus == VIRTIO_BLK_S_OK ? task->used_len : 1);
	task->in_use = false;
	vhost_queue_request_end(q, task->mem);
	bq->rq.inflight--;
	bq->rq.unflushed++;
	blk_after_completion(bq);
}

/*
 * A well-formed request without a writable status byte has nowhere to be
 * answered: it is not pushed (returned empty, the driver would take the
 * stale status byte for one the device wrote) and the queue is marked
 * broken, so the device reports NEEDS_RESET.
 */
static void
blk_fail_unanswerable(struct blk_task *task)
{
	struct blk_queue *bq = task->bq;

	task->in_use = false;
	vhost_queue_request_end(bq->rq.q, task->mem);
	bq->rq.inflight--;
	vhost_rq_mark_broken(&bq->rq, "request without a writable status byte", task->elem.id);
	blk_after_completion(bq);
}

static uint8_t
blk_vstatus(int bdev_status)
{
	if (bdev_status == SPUR_BDEV_OK)
		return VIRTIO_BLK_S_OK;
	if (bdev_status == SPUR_BDEV_ERR_UNSUPPORTED)
		return VIRTIO_BLK_S_UNSUPP;
	return VIRTIO_BLK_S_IOERR;
}

static void
blk_io_done(struct spur_bdev_io *io, int status, void *arg)
{
	struct blk_task *task = arg;

	spur_bdev_free_io(io);
	if (status != SPUR_BDEV_OK) {
		SPUR_DEBUGLOG(VHOST_BLK_LOG, "queue %u id %u: bdev status %s\n",
			      task->bq->rq.q->index, task->elem.id, spur_bdev_status_name(status));
		blk_complete(task, blk_vstatus(status));
		return;
	}
	if ((task->op == BLK_OP_DISCARD || task->op == BLK_OP_WRITE_ZEROES) &&
	    ++task->range < task->nranges) {
		blk_submit(task);
		return;
	}
	blk_complete(task, VIRTIO_BLK_S_OK);
}

static void
blk_retry(void *arg)
{
	blk_submit(arg);
}

/* Submit (or resubmit after -ENOMEM) the task's bdev request. */
static void
blk_submit(struct blk_task *task)
{
	struct blk_queue *bq = task->bq;
	struct blk_range *r;
	int rc;

	if (bq->ch == NULL) {
		blk_complete(task, VIRTIO_BLK_S_IOERR);
		return;
	}
	switch (task->op) {
	case BLK_OP_READ:
		rc = spur_bdev_readv_blocks(bq->desc, bq->ch, task->data_iov, task->data_iovcnt,
					    task->offset_blocks, task->num_blocks, blk_io_done, task);
		break;
	case BLK_OP_WRITE:
		rc = spur_bdev_writev_blocks(bq->desc, bq->ch, task->data_iov, task->data_iovcnt,
					     task->offset_blocks, task->num_blocks, 0, blk_io_done,
					     task);
		break;
	case BLK_OP_FLUSH:
		rc = spur_bdev_flush_blocks(bq->desc, bq->ch, 0, atomic_load(&bq->bc->num_blocks),
					    blk_io_done, task);
		break;
	case BLK_OP_DISCARD:
		r = &task->ranges[task->range];
		rc = spur_bdev_unmap_blocks(bq->desc, bq->ch, r->offset_blocks, r->num_blocks,
					    blk_io_done, task);
		break;
	case BLK_OP_WRITE_ZEROES:
		r = &task->ranges[task->range];
		rc = spur_bdev_write_zeroes_blocks(bq->desc, bq->ch, r->offset_blocks,
						   r->num_blocks, r->flags, blk_io_done, task);
		break;
	default:
		rc = -EINVAL;
		break;
	}
	if (rc == 0)
		return;
	if (rc == -ENOMEM) {
		task->wait.bdev = bq->bc->bdev;
		task->wait.cb_fn = blk_retry;
		task->wait.cb_arg = task;
		if (spur_bdev_queue_io_wait(bq->bc->bdev, bq->ch, &task->wait) == 0)
			return;
	}
	SPUR_DEBUGLOG(VHOST_BLK_LOG, "queue %u id %u: submit failed: %s\n", bq->rq.q->index,
		      task->elem.id, strerror(-rc));
	blk_complete(task, rc == -ENOTSUP ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR);
}

/* ---- parsing ------------------------------------------------------------------- */

/* IN / OUT: check the range, then submit. */
static void
blk_rw(struct blk_task *task, uint64_t sector, uint64_t len)
{
	struct vhost_blk_ctrlr *bc = task->bq->bc;
	uint64_t cap = atomic_load(&bc->num_blocks);

	if (len == 0) {
		blk_complete(task, VIRTIO_BLK_S_OK);
		return;
	}
	if (len % bc->block_size != 0 || sector % bc->sectors_per_block != 0) {
		SPUR_DEBUGLOG(VHOST_BLK_LOG, "%s: misaligned request sector %lu len %lu\n",
			      bc->ctrlr->name, (unsigned long)sector, (unsigned long)len);
		blk_complete(task, VIRTIO_BLK_S_IOERR);
		return;
	}
	task->offset_blocks = sector / bc->sectors_per_block;
	task->num_blocks = len / bc->block_size;
	if (task->offset_blocks > cap || task->num_blocks > cap - task->offset_blocks) {
		SPUR_DEBUGLOG(VHOST_BLK_LOG, "%s: request beyond capacity: sector %lu len %lu\n",
			      bc->ctrlr->name, (unsigned long)sector, (unsigned long)len);
		blk_complete(task, VIRTIO_BLK_S_IOERR);
		return;
	}
	blk_submit(task);
}

/*
 * DISCARD / WRITE_ZEROES: segments follow the header in the readable part.
 * Returns a virtio status to answer at once, or VIRTIO_BLK_S_OK to submit.
 */
static uint8_t
blk_parse_ranges(struct blk_task *task, bool discard, uint64_t data_len)
{
	struct vhost_blk_ctrlr *bc = task->bq->bc;
	uint64_t cap_sectors = atomic_load(&bc->num_blocks) * bc->sectors_per_block;
	uint64_t max_blocks = discard ? bc->max_unmap_blocks : bc->max_write_zeroes_blocks;
	uint64_t max_sectors = max_blocks * bc->sectors_per_block;
	uint32_t n;

	if (max_sectors == 0 || max_sectors > VHOST_BLK_MAX_DWZ_SECTORS)
		max_sectors = VHOST_BLK_MAX_DWZ_SECTORS;
	if (data_len == 0 || data_len % DWZ_SIZE != 0)
		return VIRTIO_BLK_S_IOERR;
	if (data_len / DWZ_SIZE > VHOST_BLK_MAX_DWZ_SEG)
		return VIRTIO_BLK_S_UNSUPP;
	n = (uint32_t)(data_len / DWZ_SIZE);
	task->nranges = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct virtio_blk_discard_write_zeroes seg;
		uint64_t sector;
		uint32_t num, flags;

		/* Copied once: the guest cannot change what was checked. */
		spur_iov_to_buf(task->elem.iov, task->elem.out_num,
				HDR_SIZE + (uint64_t)i * DWZ_SIZE, &seg, sizeof(seg));
		sector = le64toh(seg.sector);
		num = le32toh(seg.num_sectors);
		flags = le32toh(seg.flags);
		if (discard ? flags != 0 : (flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) != 0)
			return VIRTIO_BLK_S_UNSUPP;
		if (num > max_sectors || sector > cap_sectors || num > cap_sectors - sector ||
		    sector % bc->sectors_per_block != 0 || num % bc->sectors_per_block != 0)
			return VIRTIO_BLK_S_IOERR;
		if (num == 0)
			continue;
		task->ranges[task->nranges++] = (struct blk_range){
			.offset_blocks = sector / bc->sectors_per_block,
			.num_blocks = num / bc->sectors_per_block,
			.flags = (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ? SPUR_BDEV_IO_UNMAP_OK : 0,
		};
	}
	return VIRTIO_BLK_S_OK;
}

static void
blk_task_start(struct blk_task *task)
{
	struct vhost_blk_ctrlr *bc = task->bq->bc;
	struct iovec *iov = task->elem.iov;
	uint32_t out = task->elem.out_num, in = task->elem.in_num;
	struct virtio_blk_outhdr hdr;
	uint64_t out_len = 0, data_len;
	uint32_t type, j, k;
	uint64_t skip;
	uint8_t st;

	/* Status: the last byte of the writable part. */
	for (j = out + in; j > out && iov[j - 1].iov_len == 0; j--)
		;
	if (j == out) {
		blk_fail_unanswerable(task);
		return;
	}
	j--;
	task->status = (uint8_t *)iov[j].iov_base + iov[j].iov_len - 1;
	iov[j].iov_len--;
	task->data_iov = &iov[out];
	task->data_iovcnt = (int)(j - out + (iov[j].iov_len > 0 ? 1 : 0));
	task->used_len = 1;

	/* Header: usually the whole first descriptor (copied once either way). */
	if (spur_likely(out > 0 && iov[0].iov_len >= HDR_SIZE)) {
		memcpy(&hdr, iov[0].iov_base, HDR_SIZE);
	} else {
		out_len = spur_iov_len(iov, out);
		if (out_len < HDR_SIZE) {
			SPUR_DEBUGLOG(VHOST_BLK_LOG, "%s: request %u has a %lu-byte header\n",
				      bc->ctrlr->name, task->elem.id, (unsigned long)out_len);
			blk_complete(task, VIRTIO_BLK_S_IOERR);
			return;
		}
		spur_iov_to_buf(iov, out, 0, &hdr, HDR_SIZE);
	}
	type = le32toh(hdr.type);
	if (type != VIRTIO_BLK_T_IN)
		out_len = spur_iov_len(iov, out);
	switch (type) {
	case VIRTIO_BLK_T_IN:
		data_len = spur_iov_len(task->data_iov, (uint32_t)task->data_iovcnt);
		task->op = BLK_OP_READ;
		task->used_len = (uint32_t)data_len + 1;
		blk_rw(task, le64toh(hdr.sector), data_len);
		return;
	case VIRTIO_BLK_T_OUT:
		if (bc->readonly) {
			blk_complete(task, VIRTIO_BLK_S_IOERR);
			return;
		}
		/* Slice the data out of the readable part, after the header. */
		for (k = 0, skip = HDR_SIZE; k < out && skip >= iov[k].iov_len; k++)
			skip -= iov[k].iov_len;
		if (k < out) {
			iov[k].iov_base = (uint8_t *)iov[k].iov_base + skip;
			iov[k].iov_len -= skip;
		}
		task->data_iov = &iov[k];
		task->data_iovcnt = (int)(out - k);
		task->op = BLK_OP_WRITE;
		blk_rw(task, le64toh(hdr.sector), out_len - HDR_SIZE);
		return;
	case VIRTIO_BLK_T_FLUSH:
		task->op = BLK_OP_FLUSH;
		if (!bc->write_cache || !bc->can_flush) {
			blk_complete(task, VIRTIO_BLK_S_OK);
			return;
		}
		blk_submit(task);
		return;
	case VIRTIO_BLK_T_GET_ID:
		task->used_len = 1 + (uint32_t)spur_iov_from_buf(task->data_iov,
								 (unsigned int)task->data_iovcnt,
								 0, bc->id, VHOST_BLK_ID_LEN);
		blk_complete(task, VIRTIO_BLK_S_OK);
		return;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		bool discard = type == VIRTIO_BLK_T_DISCARD;

		if (bc->readonly) {
			blk_complete(task, VIRTIO_BLK_S_IOERR);
			return;
		}
		if (discard ? !bc->can_unmap : !bc->can_write_zeroes) {
			blk_complete(task, VIRTIO_BLK_S_UNSUPP);
			return;
		}
		st = blk_parse_ranges(task, discard, out_len - HDR_SIZE);
		if (st != VIRTIO_BLK_S_OK || task->nranges == 0) {
			blk_complete(task, st);
			return;
		}
		task->op = discard ? BLK_OP_DISCARD : BLK_OP_WRITE_ZEROES;
		task->range = 0;
		blk_submit(task);
		return;
	}
	default:
		SPUR_DEBUGLOG(VHOST_BLK_LOG, "%s: unsupported request type %u\n", bc->ctrlr->name,
			      type);
		blk_complete(task, VIRTIO_BLK_S_UNSUPP);
		return;
	}
}

/*
 * A malformed chain (virtq.h, "Malformed chains"): IOERR into the last
 * byte of its last device-writable descriptor, where the driver expects
 * the status, when the virtq layer could translate that descriptor (used
 * length 1). Otherwise the request has nowhere to be answered: it is not
 * pushed (returned empty, the driver would take the stale status byte for
 * one the device wrote) and the queue is marked broken, so the device
 * reports NEEDS_RESET.
 */
static void
blk_answer_bad(struct blk_queue *bq, struct virtq_elem *e, struct vhost_mem *mem)
{
	if (e->bad_last > 0 && (uint64_t)e->bad_first + e->bad_last <= e->iov_max) {
		struct iovec *v = &e->iov[e->bad_first + e->bad_last - 1];

		if (v->iov_len > 0) {
			((uint8_t *)v->iov_base)[v->iov_len - 1] = VIRTIO_BLK_S_IOERR;
			SPUR_DEBUGLOG(VHOST_BLK_LOG, "%s queue %u: malformed chain %u answered "
				      "IOERR\n", bq->bc->ctrlr->name, bq->rq.q->index, e->id);
			virtq_push(&bq->rq.q->vq, e, 1);
			vhost_queue_request_end(bq->rq.q, mem);
			bq->rq.unflushed++;
			return;
		}
	}
	vhost_queue_request_end(bq->rq.q, mem);
	vhost_rq_mark_broken(&bq->rq, "malformed chain without a writable status byte in guest memory",
			e->id);
}

/* Take the element in the spare (from pop or get_elem) as a request (ctx: the vhost_rq). */
static void
blk_handle(void *ctx, enum virtq_pop_result r)
{
	struct blk_queue *bq = blk_queue(ctx);
	struct virtq_elem *e = &bq->rq.spare;
	struct blk_task *task;
	struct iovec *iov;
	struct vhost_mem *mem;

	if (e->id >= bq->rq.size) {
		vhost_rq_mark_broken(&bq->rq, "element id beyond the queue size", e->id);
		return;
	}
	task = &bq->tasks[e->id];
	if (task->in_use) {
		vhost_rq_mark_broken(&bq->rq, "driver reused an id still in flight", e->id);
		return;
	}
	mem = vhost_queue_request_begin(bq->rq.q);
	if (r == VIRTQ_POP_BAD) {
		blk_answer_bad(bq, e, mem);
		return;
	}
	/* Swap iovec arrays: the task takes the filled one, the spare gets the task's. */
	iov = task->elem.iov;
	task->elem = *e;
	e->iov = iov;
	task->in_use = true;
	task->mem = mem;
	bq->rq.inflight++;
	blk_task_start(task);
}

/* ---- queue operations ------------------------------------------------------------ */

int
vhost_blk_queue_start(struct vhost_queue *q)
{
	struct vhost_blk_ctrlr *bc = vhost_blk_queue_ctrlr(q);
	uint32_t size = q->vq.cfg.size != 0 ? q->vq.cfg.size : q->cfg.size;
	struct blk_queue *bq;

	if (bc == NULL || size == 0)
		return -EINVAL;
	bq = calloc(1, sizeof(*bq) + sizeof(struct blk_task) * size);
	if (bq == NULL)
		return -ENOMEM;
	if (vhost_rq_init(&bq->rq, q, size, VHOST_BLK_IOV_MAX, bc->ctrlr->name, VHOST_BLK_LOG, bc,
			  blk_queue_free) < 0) {
		free(bq);
		return -ENOMEM;
	}
	bq->bc = bc;
	for (uint32_t i = 0; i < size; i++) {
		bq->tasks[i].bq = bq;
		bq->tasks[i].elem.iov = vhost_rq_iov(&bq->rq, i);
		bq->tasks[i].elem.iov_max = VHOST_BLK_IOV_MAX;
	}
	bq->ch = vhost_blk_get_channel(bc);
	if (bq->ch == NULL && !atomic_load(&bc->removed)) {
		SPUR_ERRLOG("%s queue %u: no I/O channel for bdev %s\n", bc->ctrlr->name, q->index,
			    bc->bdev_name);
		vhost_rq_fini(&bq->rq);
		free(bq);
		return -ENOMEM;
	}
	/* Stable while the channel is held (closed only after the last put). */
	if (bq->ch != NULL)
		bq->desc = bc->desc;
	vhost_rq_publish(&bq->rq);
	return 0;
}

int
vhost_blk_queue_poll(struct vhost_queue *q)
{
	struct vhost_rq *rq = q->backend_ctx;

	if (rq == NULL)
		return SPUR_POLLER_IDLE;
	return vhost_rq_poll(rq, blk_handle, blk_release_channel_if_removed);
}

void
vhost_blk_queue_resubmit(struct vhost_queue *q, const uint16_t *ids, int count)
{
	vhost_rq_resubmit(q, ids, count, blk_handle);
}

/* ---- hot-remove nudge -------------------------------------------------------------- */

static void
blk_removed_on_thread(void *ctx)
{
	vhost_rq_for_each_on_thread(ctx, blk_release_channel_if_removed);
}

static void
blk_removed_done(void *ctx)
{
	vhost_blk_unref(ctx);
}

void
vhost_blk_queues_removed(struct vhost_blk_ctrlr *bc)
{
	vhost_blk_ref(bc);
	spur_for_each_thread(blk_removed_on_thread, bc, blk_removed_done);
}
