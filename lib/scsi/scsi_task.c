/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Task lifecycle, data movement between tasks and command emulation, the
 * residual (SAM-5 5.4.3 / iSCSI residual semantics), mapping of bdev
 * outcomes to SCSI status, and the per-channel deferred work that keeps
 * completions from running inside spur_scsi_dev_queue_task.
 *
 * Task states:
 *
 *   construct          queue_task              scsi_task_done     spur_scsi_task_put
 *   ─────────► IDLE ───────────────► ACTIVE ────────────────► DONE ──────────────► IDLE
 *               │  alloc_buf (own buffer attached, still IDLE)   │ callback runs here
 *
 * Invariants: an ACTIVE task is on its channel's outstanding list and holds
 * one reference on its LUN's channel entry (when it has a LUN); a DONE task
 * is on no list of the channel except the deferred-completion list until its
 * callback ran. Everything here runs on the task's thread.
 *
 * Residual: cmd_len is what the CDB implies the data phase would move
 * (blocks x block size, or the allocation length clamped to what exists).
 * cmd_len > transfer_len: OVERFLOW by the difference (only transfer_len
 * moves); otherwise data_transferred < transfer_len: UNDERFLOW. A data-in
 * command (SCSI_TF_DATA_IN) whose buffers are data-out expected no data-in
 * at all: its transfer length counts as 0, so it overflows by cmd_len.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "spur/iov.h"
#include "spur/log.h"
#include "scsi_internal.h"
#include "scsi_sense.h"

/* ---- public lifecycle ---------------------------------------------------------- */

void
spur_scsi_task_construct(struct spur_scsi_task *task, spur_scsi_task_cpl cpl_fn, void *cb_arg)
{
	memset(task, 0, sizeof(*task));
	task->priv.cpl_fn = cpl_fn;
	task->priv.cb_arg = cb_arg;
	task->priv.state = SCSI_TASK_IDLE;
}

void *
spur_scsi_task_get_cb_arg(const struct spur_scsi_task *task)
{
	return task->priv.cb_arg;
}

int
spur_scsi_task_alloc_buf(struct spur_scsi_task *task, uint32_t len)
{
	void *buf;

	if (task == NULL || len == 0 || len > SPUR_SCSI_TASK_MAX_BUF ||
	    task->priv.state != SCSI_TASK_IDLE || (task->priv.flags & SCSI_TF_OWN_BUF)) {
		return -EINVAL;
	}
	buf = spur_bdev_buf_get(len);
	if (buf == NULL) {
		return -ENOMEM;
	}
	task->priv.own_iov.iov_base = buf;
	task->priv.own_iov.iov_len = len;
	task->priv.flags |= SCSI_TF_OWN_BUF;
	task->iovs = &task->priv.own_iov;
	task->iovcnt = 1;
	return 0;
}

void
spur_scsi_task_put(struct spur_scsi_task *task)
{
	struct iovec *bdev_iovs = NULL;
	int bdev_iovcnt = 0;

	if (task == NULL) {
		return;
	}
	if (task->priv.state == SCSI_TASK_ACTIVE) {
		SPUR_ERRLOG("scsi: spur_scsi_task_put on a task still in progress\n");
		return;
	}
	if (task->priv.bdev_io != NULL) {
		spur_bdev_io_get_iovs(task->priv.bdev_io, &bdev_iovs, &bdev_iovcnt);
		if (task->iovs == bdev_iovs) {
			task->iovs = NULL;
			task->iovcnt = 0;
		}
		spur_bdev_free_io(task->priv.bdev_io);
		task->priv.bdev_io = NULL;
	}
	if (task->priv.flags & SCSI_TF_OWN_BUF) {
		spur_bdev_buf_put(task->priv.own_iov.iov_base, task->priv.own_iov.iov_len);
		task->priv.own_iov.iov_base = NULL;
		task->priv.own_iov.iov_len = 0;
		task->priv.flags &= ~SCSI_TF_OWN_BUF;
		if (task->iovs == &task->priv.own_iov) {
			task->iovs = NULL;
			task->iovcnt = 0;
		}
	}
	task->priv.state = SCSI_TASK_IDLE;
}

/* ---- data ---------------------------------------------------------------------- */

int
scsi_task_put_data(struct spur_scsi_task *task, const void *buf, uint32_t len)
{
	uint32_t n;
	void *mem;

	task->priv.cmd_len = len;
	task->priv.flags |= SCSI_TF_DATA_IN;
	n = task->dir == SPUR_SCSI_DIR_FROM_DEV ? SPUR_MIN(len, task->transfer_len) : 0;
	task->data_transferred = 0;
	if (n == 0) {
		return 0;
	}
	if (task->iovs == NULL || task->iovcnt == 0) {
		/* Front end without memory: a layer buffer it reads in the callback. */
		mem = spur_bdev_buf_get(n);
		if (mem == NULL) {
			return -ENOMEM;
		}
		task->priv.own_iov.iov_base = mem;
		task->priv.own_iov.iov_len = n;
		task->priv.flags |= SCSI_TF_OWN_BUF;
		task->iovs = &task->priv.own_iov;
		task->iovcnt = 1;
	}
	task->data_transferred = (uint32_t)spur_iov_from_buf(task->iovs, (unsigned int)task->iovcnt,
							     0, buf, n);
	return 0;
}

uint32_t
scsi_task_get_data(struct spur_scsi_task *task, void *buf, uint32_t len, uint32_t off)
{
	uint32_t avail = scsi_task_data_out_len(task);

	if (off >= avail) {
		return 0;
	}
	len = SPUR_MIN(len, avail - off);
	return (uint32_t)spur_iov_to_buf(task->iovs, (unsigned int)task->iovcnt, off, buf, len);
}

uint32_t
scsi_task_data_out_len(const struct spur_scsi_task *task)
{
	return task->dir == SPUR_SCSI_DIR_TO_DEV && task->iovs != NULL ? task->transfer_len : 0;
}

void *
scsi_task_scratch(struct spur_scsi_task *task, uint32_t len)
{
	if (task->priv.flags & SCSI_TF_SCRATCH) {
		if (task->priv.scratch_len >= len) {
			return task->priv.scratch;
		}
		spur_bdev_buf_put(task->priv.scratch, task->priv.scratch_len);
		task->priv.flags &= ~SCSI_TF_SCRATCH;
	}
	if (len == 0 || len > SPUR_SCSI_TASK_MAX_BUF) {
		return NULL;
	}
	task->priv.scratch = spur_bdev_buf_get(len);
	if (task->priv.scratch == NULL) {
		return NULL;
	}
	task->priv.scratch_len = len;
	task->priv.flags |= SCSI_TF_SCRATCH;
	return task->priv.scratch;
}

/* ---- bdev outcomes ----------------------------------------------------------------- */

void
scsi_task_bdev_errno(struct spur_scsi_task *task, int rc, bool write)
{
	switch (rc) {
	case -EINVAL: /* the range changed under us (resize) */
		scsi_task_lba_out_of_range(task);
		break;
	case -EBADF:
		scsi_task_check(task, SPUR_SCSI_SENSE_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED);
		break;
	case -ENODEV: /* hot-removed before the LUN noticed */
		scsi_task_check(task, SPUR_SCSI_SENSE_NOT_READY, SCSI_ASC_LUN_NOT_READY);
		break;
	case -ENOTSUP:
		scsi_task_invalid_opcode(task);
		break;
	default:
		scsi_task_check(task, SPUR_SCSI_SENSE_HARDWARE_ERROR,
				SCSI_ASC_INTERNAL_TARGET_FAILURE);
		break;
	}
}

void
scsi_task_bdev_status(struct spur_scsi_task *task, int status, bool write)
{
	switch (status) {
	case SPUR_BDEV_OK:
		scsi_task_good(task);
		break;
	case SPUR_BDEV_ERR_MEDIA:
		if (write) {
			scsi_task_check(task, SPUR_SCSI_SENSE_MEDIUM_ERROR, SCSI_ASC_WRITE_ERROR);
		} else {
			scsi_task_check(task, SPUR_SCSI_SENSE_MEDIUM_ERROR,
					SCSI_ASC_UNRECOVERED_READ_ERROR);
		}
		break;
	case SPUR_BDEV_ERR_RANGE:
		scsi_task_lba_out_of_range(task);
		break;
	case SPUR_BDEV_ERR_NOSPACE:
		scsi_task_check(task, SPUR_SCSI_SENSE_DATA_PROTECT,
				SCSI_ASC_SPACE_ALLOC_FAILED_WRITE_PROTECT);
		break;
	case SPUR_BDEV_ERR_ABORTED:
		scsi_task_check(task, SPUR_SCSI_SENSE_ABORTED_COMMAND, SCSI_ASC_NO_ADDITIONAL_SENSE);
		break;
	case SPUR_BDEV_ERR_UNSUPPORTED:
		scsi_task_invalid_opcode(task);
		break;
	default:
		scsi_task_check(task, SPUR_SCSI_SENSE_HARDWARE_ERROR,
				SCSI_ASC_INTERNAL_TARGET_FAILURE);
		break;
	}
}

/* ---- waiting: bdev requests, locks ------------------------------------------------- */

static void
retry_push(struct scsi_dev_channel *ch, struct spur_scsi_task *task)
{
	task->priv.qnext = NULL;
	if (ch->retry_tail != NULL) {
		ch->retry_tail->priv.qnext = task;
	} else {
		ch->retry_head = task;
	}
	ch->retry_tail = task;
	scsi_chan_kick(ch);
}

static void
task_io_wait_cb(void *arg)
{
	struct spur_scsi_task *task = arg;

	if (task->priv.aborted) {
		scsi_task_done(task);
		return;
	}
	task->priv.resume(task);
}

bool
scsi_task_wait_io(struct spur_scsi_task *task)
{
	struct spur_io_channel *bch = scsi_task_bdev_ch(task);

	task->priv.wait.bdev = task->priv.lun->bdev;
	task->priv.wait.cb_fn = task_io_wait_cb;
	task->priv.wait.cb_arg = task;
	if (bch != NULL && spur_bdev_queue_io_wait(task->priv.lun->bdev, bch, &task->priv.wait) == 0) {
		return true;
	}
	/* Requests freed meanwhile: try again at the next poll, never recursively. */
	retry_push(scsi_task_chan(task), task);
	return true;
}

void
scsi_task_retry_later(struct spur_scsi_task *task)
{
	retry_push(scsi_task_chan(task), task);
}

/* ---- completion ------------------------------------------------------------------ */

static void
task_residual(struct spur_scsi_task *task)
{
	uint32_t want = task->priv.cmd_len, el = task->transfer_len;

	if ((task->priv.flags & SCSI_TF_DATA_IN) && task->dir != SPUR_SCSI_DIR_FROM_DEV) {
		el = 0;
	}
	task->residual_flags = 0;
	task->residual = 0;
	if (want > el) {
		task->residual_flags = SPUR_SCSI_RESIDUAL_OVERFLOW;
		task->residual = want - el;
	} else if (task->data_transferred < el) {
		task->residual_flags = SPUR_SCSI_RESIDUAL_UNDERFLOW;
		task->residual = el - task->data_transferred;
	}
}

void
scsi_task_done(struct spur_scsi_task *task)
{
	struct scsi_dev_channel *ch = scsi_task_chan(task);

	assert(task->priv.state == SCSI_TASK_ACTIVE); /* done exactly once */
	if (task->priv.aborted) {
		task->response = SPUR_SCSI_TASK_ABORTED;
		task->status = SPUR_SCSI_STATUS_TASK_ABORTED;
		task->sense_len = 0;
	}
	task_residual(task);
	if (task->priv.flags & SCSI_TF_SCRATCH) {
		spur_bdev_buf_put(task->priv.scratch, task->priv.scratch_len);
		task->priv.scratch = NULL;
		task->priv.flags &= ~SCSI_TF_SCRATCH;
	}
	if (task->priv.flags & SCSI_TF_CAW_LOCK) {
		scsi_sbc_caw_unlock(task);
	}
	task->priv.state = SCSI_TASK_DONE;
	if (task->priv.flags & SCSI_TF_IN_SUBMIT) {
		/* Never call the front end back from inside its own submit call. */
		task->priv.qnext = NULL;
		if (ch->cpl_tail != NULL) {
			ch->cpl_tail->priv.qnext = task;
		} else {
			ch->cpl_head = task;
		}
		ch->cpl_tail = task;
		scsi_chan_kick(ch);
		return;
	}
	scsi_task_finish(task);
}

void
scsi_task_finish(struct spur_scsi_task *task)
{
	struct scsi_dev_channel *ch = scsi_task_chan(task);
	struct spur_scsi_lun *lun = task->priv.lun;
	bool aborted = task->priv.aborted;

	assert(task->priv.state == SCSI_TASK_DONE);
	/* Off the outstanding list: TMFs no longer see it. */
	if (task->priv.prev != NULL) {
		task->priv.prev->priv.next = task->priv.next;
	} else {
		ch->tasks = task->priv.next;
	}
	if (task->priv.next != NULL) {
		task->priv.next->priv.prev = task->priv.prev;
	}
	task->priv.prev = task->priv.next = NULL;
	task->priv.cpl_fn(task);
	/* The task may be reused from here on; only locals below. */
	if (lun != NULL) {
		scsi_lun_put_ref(ch, lun);
	}
	if (aborted) {
		scsi_sweep_task_finished(ch);
	}
}

/* The channel's poller: deferred completions, then tasks waiting to resume. */
int
scsi_chan_poll(void *arg)
{
	struct scsi_dev_channel *ch = arg;
	struct spur_scsi_task *t, *next;
	int busy = SPUR_POLLER_IDLE;

	t = ch->cpl_head;
	if (t != NULL) {
		ch->cpl_head = ch->cpl_tail = NULL;
		for (; t != NULL; t = next) {
			next = t->priv.qnext;
			scsi_task_finish(t);
		}
		busy = SPUR_POLLER_BUSY;
	}
	t = ch->retry_head;
	if (t != NULL) {
		/* Tasks re-queued by their resume wait for the next poll. */
		ch->retry_head = ch->retry_tail = NULL;
		for (; t != NULL; t = next) {
			next = t->priv.qnext;
			if (t->priv.aborted) {
				scsi_task_done(t);
			} else {
				t->priv.resume(t);
			}
		}
		busy = SPUR_POLLER_BUSY;
	}
	if (ch->cpl_head == NULL && ch->retry_head == NULL) {
		spur_poller_pause(ch->poller);
	}
	return busy;
}

void
scsi_chan_kick(struct scsi_dev_channel *ch)
{
	spur_poller_resume(ch->poller);
}

/* ---- initiator ports and LUN addressing --------------------------------------------- */

int
spur_scsi_port_init(struct spur_scsi_port *port, uint64_t id, const char *name)
{
	size_t len;

	if (port == NULL || id == 0 || name == NULL) {
		return -EINVAL;
	}
	len = strlen(name);
	if (len >= sizeof(port->name)) {
		return -ENAMETOOLONG;
	}
	port->id = id;
	port->rel_tgt_port_id = 1;
	memcpy(port->name, name, len + 1);
	return 0;
}

int
spur_scsi_lun_id_decode(const uint8_t lun[8])
{
	uint32_t id;

	for (int i = 2; i < 8; i++) {
		if (lun[i] != 0) {
			return -EINVAL;
		}
	}
	switch (lun[0] >> 6) {
	case 0: /* peripheral device addressing: bus identifier must be 0 */
		if ((lun[0] & 0x3f) != 0) {
			return -EINVAL;
		}
		id = lun[1];
		break;
	case 1: /* flat space addressing */
		id = ((uint32_t)(lun[0] & 0x3f) << 8) | lun[1];
		break;
	default:
		return -EINVAL;
	}
	return id < SPUR_SCSI_DEV_MAX_LUN ? (int)id : -EINVAL;
}

void
spur_scsi_lun_id_encode(uint16_t lun_id, uint8_t lun[8])
{
	memset(lun, 0, 8);
	if (lun_id < 256) {
		lun[1] = (uint8_t)lun_id;
	} else {
		lun[0] = 0x40 | ((lun_id >> 8) & 0x3f);
		lun[1] = (uint8_t)lun_id;
	}
}
