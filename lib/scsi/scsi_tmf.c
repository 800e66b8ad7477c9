/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Task management (SAM-5 7): ABORT TASK, ABORT TASK SET, LOGICAL UNIT
 * RESET, TARGET RESET; and the abort sweep they share with PREEMPT AND
 * ABORT.
 *
 * A sweep visits every channel of the device (spur_for_each_channel), one
 * thread at a time, in up to two passes: the first marks the matching
 * ACTIVE tasks aborted (the channel's outstanding list; tasks already DONE
 * are left alone), the second parks on each channel until every task marked
 * there has finished (ch->aborting == 0; the last one continues the parked
 * sweeps). Marking everywhere before waiting anywhere means no matching task
 * finishes normally while the sweep waits on another thread. A sweep with
 * neither pass still visits every channel: the PR code uses that as a grace
 * period.
 * A marked task stops at its next step boundary: a bdev request in flight
 * completes normally, then the task reports response ABORTED; a task
 * waiting for a bdev request object or a lock reports it when it wakes.
 *
 * LUN RESET runs as steps on the thread that queued it:
 *
 *   MARK (sweep, no wait) ──► RESET (spur_bdev_reset) ──► WAIT (sweep, wait) ──► UA ──► done
 *
 * so queued bdev I/O is aborted by the reset instead of being waited for.
 * The unit attention BUS DEVICE RESET FUNCTION OCCURRED goes to every
 * initiator of the LUN, mode parameters return to their defaults and a
 * stopped unit is started again (the power-on-like state SAM asks for);
 * persistent reservations are not affected. TARGET RESET runs those steps for every LUN in turn.
 * The management task holds a LUN reference on its channel while it works,
 * so the LUN cannot be freed under it.
 */
#include <errno.h>
#include <string.h>

#include "spur/log.h"
#include "scsi_internal.h"
#include "scsi_sense.h"

_Static_assert(sizeof(struct scsi_sweep) <= sizeof(((struct spur_scsi_mgmt_task *)0)->priv.sweep),
	       "mgmt task sweep storage too small");

/* ---- sweeps ---------------------------------------------------------------------------- */

void
scsi_task_mark_aborted(struct scsi_dev_channel *ch, struct spur_scsi_task *task)
{
	task->priv.aborted = 1;
	ch->aborting++;
}

void
scsi_sweep_task_finished(struct scsi_dev_channel *ch)
{
	struct scsi_sweep *s, *next;

	if (--ch->aborting > 0) {
		return;
	}
	s = ch->sweep_waiters;
	ch->sweep_waiters = NULL;
	for (; s != NULL; s = next) {
		next = s->next;
		spur_for_each_channel_continue(s->iter, 0);
	}
}

static bool
sweep_match(const struct scsi_sweep *s, const struct spur_scsi_task *t)
{
	if (t->priv.state != SCSI_TASK_ACTIVE || t->priv.aborted) {
		return false;
	}
	if (s->lun != NULL && t->priv.lun != s->lun) {
		return false;
	}
	if (s->nports > 0) {
		for (uint32_t i = 0; i < s->nports; i++) {
			if (t->initiator->id == s->ports[i]) {
				return true;
			}
		}
		return false;
	}
	if (s->port_id != 0 && t->initiator->id != s->port_id) {
		return false;
	}
	return !s->match_tag || t->tag == s->tag;
}

static void
sweep_visit(struct spur_io_channel_iter *i)
{
	struct scsi_sweep *s = spur_io_channel_iter_get_ctx(i);
	struct scsi_dev_channel *ch = spur_io_channel_get_ctx(spur_io_channel_iter_get_channel(i));

	if (s->pass == 1) {
		for (struct spur_scsi_task *t = ch->tasks; s->mark && t != NULL; t = t->priv.next) {
			if (sweep_match(s, t)) {
				scsi_task_mark_aborted(ch, t);
				s->aborted++;
			}
		}
	} else if (ch->aborting > 0) {
		/* Continued by the last marked task of this channel to finish. */
		s->iter = i;
		s->next = ch->sweep_waiters;
		ch->sweep_waiters = s;
		return;
	}
	spur_for_each_channel_continue(i, 0);
}

static void sweep_pass(struct scsi_sweep *sweep);

static void
sweep_done(struct spur_io_channel_iter *i, int status)
{
	struct scsi_sweep *s = spur_io_channel_iter_get_ctx(i);

	/* Mark everywhere first, then wait: no thread's tasks finish unmarked meanwhile. */
	sweep_pass(s);
}

static void
sweep_pass(struct scsi_sweep *s)
{
	s->pass++;
	if (s->pass == 1 && !s->mark && s->wait) {
		s->pass++; /* nothing to mark */
	}
	if (s->pass == 2 && !s->wait) {
		s->pass++;
	}
	if (s->pass > 2) {
		s->done(s);
		return;
	}
	spur_for_each_channel(s->dev, sweep_visit, s, sweep_done);
}

void
scsi_sweep_start(struct scsi_sweep *sweep)
{
	sweep->aborted = 0;
	sweep->pass = 0;
	sweep_pass(sweep);
}

/* ---- management tasks ----------------------------------------------------------------- */

enum tmf_step {
	TMF_IDLE = 0,
	TMF_ACTIVE,
};

enum lun_reset_step {
	RESET_MARK = 0,
	RESET_BDEV,
	RESET_WAIT,
	RESET_UA,
};

static struct scsi_sweep *
mgmt_sweep(struct spur_scsi_mgmt_task *mgmt)
{
	return (struct scsi_sweep *)(void *)mgmt->priv.sweep;
}

void
spur_scsi_mgmt_task_construct(struct spur_scsi_mgmt_task *mgmt, spur_scsi_mgmt_cpl cpl_fn,
			      void *cb_arg)
{
	memset(mgmt, 0, sizeof(*mgmt));
	mgmt->priv.cpl_fn = cpl_fn;
	mgmt->priv.cb_arg = cb_arg;
}

void *
spur_scsi_mgmt_task_get_cb_arg(const struct spur_scsi_mgmt_task *mgmt)
{
	return mgmt->priv.cb_arg;
}

static void
mgmt_finish(struct spur_scsi_mgmt_task *mgmt)
{
	struct scsi_dev_channel *ch = mgmt->priv.chan;
	struct spur_scsi_lun *lun = mgmt->priv.lun;

	mgmt->priv.lun = NULL;
	mgmt->priv.state = TMF_IDLE;
	mgmt->priv.cpl_fn(mgmt);
	if (lun != NULL) {
		scsi_lun_put_ref(ch, lun);
	}
}

static void
mgmt_finish_msg(void *arg)
{
	mgmt_finish(arg);
}

static void lun_reset_continue(struct spur_scsi_mgmt_task *mgmt);
static void target_reset_next(struct spur_scsi_mgmt_task *mgmt);

static void
mgmt_after_lun(struct spur_scsi_mgmt_task *mgmt)
{
	if (mgmt->function == SPUR_SCSI_TMF_TARGET_RESET) {
		scsi_lun_put_ref(mgmt->priv.chan, mgmt->priv.lun);
		mgmt->priv.lun = NULL;
		mgmt->priv.lun_index++;
		target_reset_next(mgmt);
		return;
	}
	mgmt->response = SPUR_SCSI_TMF_FUNCTION_COMPLETE;
	mgmt_finish(mgmt);
}

static void
abort_sweep_done(struct scsi_sweep *s)
{
	struct spur_scsi_mgmt_task *mgmt = s->ctx;

	mgmt->aborted_count += s->aborted;
	mgmt->response = SPUR_SCSI_TMF_FUNCTION_COMPLETE;
	mgmt_finish(mgmt);
}

static void
reset_sweep_done(struct scsi_sweep *s)
{
	struct spur_scsi_mgmt_task *mgmt = s->ctx;

	mgmt->aborted_count += s->aborted;
	mgmt->priv.step++;
	lun_reset_continue(mgmt);
}

static void
reset_bdev_done(struct spur_bdev_io *io, int status, void *arg)
{
	struct spur_scsi_mgmt_task *mgmt = arg;

	spur_bdev_free_io(io);
	if (status != 0) {
		SPUR_WARNLOG("scsi %s: LUN %u: bdev reset failed: %s\n", mgmt->priv.dev->name,
			     mgmt->priv.lun->id, spur_bdev_status_name(status));
	}
	mgmt->priv.step = RESET_WAIT;
	lun_reset_continue(mgmt);
}

static void
lun_reset_continue(struct spur_scsi_mgmt_task *mgmt)
{
	struct spur_scsi_lun *lun = mgmt->priv.lun;
	struct scsi_sweep *s = mgmt_sweep(mgmt);
	struct spur_io_channel *bch;

	switch (mgmt->priv.step) {
	case RESET_MARK:
	case RESET_WAIT:
		memset(s, 0, sizeof(*s));
		s->dev = mgmt->priv.dev;
		s->lun = lun;
		s->mark = mgmt->priv.step == RESET_MARK;
		s->wait = mgmt->priv.step == RESET_WAIT;
		s->done = reset_sweep_done;
		s->ctx = mgmt;
		scsi_sweep_start(s);
		return;
	case RESET_BDEV:
		bch = scsi_chan_bdev_ch(mgmt->priv.chan, lun);
		if (bch != NULL && spur_bdev_reset(lun->desc, bch, reset_bdev_done, mgmt) == 0) {
			return;
		}
		mgmt->priv.step = RESET_WAIT;
		lun_reset_continue(mgmt);
		return;
	default:
		/* Power-on-like operating state (SAM-5): default mode values, started. */
		atomic_store(&lun->wce, spur_bdev_has_write_cache(lun->bdev));
		atomic_store(&lun->stopped, false);
		scsi_ua_establish_all(lun, SCSI_UA_LUN_RESET, 0);
		mgmt_after_lun(mgmt);
		return;
	}
}

static void
target_reset_next(struct spur_scsi_mgmt_task *mgmt)
{
	struct spur_scsi_lun *lun;

	for (; mgmt->priv.lun_index < SPUR_SCSI_DEV_MAX_LUN; mgmt->priv.lun_index++) {
		lun = scsi_dev_lun(mgmt->priv.dev, (uint16_t)mgmt->priv.lun_index);
		if (lun != NULL) {
			scsi_lun_get_ref(mgmt->priv.chan, lun);
			mgmt->priv.lun = lun;
			mgmt->priv.step = RESET_MARK;
			lun_reset_continue(mgmt);
			return;
		}
	}
	mgmt->response = SPUR_SCSI_TMF_FUNCTION_COMPLETE;
	/* May be inside spur_scsi_dev_queue_mgmt_task (no LUN at all): defer. */
	if (spur_thread_send_msg(((struct scsi_dev_channel *)mgmt->priv.chan)->thread,
				 mgmt_finish_msg, mgmt) != 0) {
		mgmt_finish(mgmt);
	}
}

int
spur_scsi_dev_queue_mgmt_task(struct spur_scsi_dev *dev, struct spur_io_channel *io_ch,
			      struct spur_scsi_mgmt_task *mgmt)
{
	struct scsi_dev_channel *ch;
	struct spur_scsi_lun *lun = NULL;
	struct scsi_sweep *s;

	if (dev == NULL || io_ch == NULL || mgmt == NULL || mgmt->initiator == NULL ||
	    (unsigned)mgmt->function > SPUR_SCSI_TMF_TARGET_RESET) {
		return -EINVAL;
	}
	if (mgmt->priv.state != TMF_IDLE) {
		return -EBUSY;
	}
	ch = spur_io_channel_get_ctx(io_ch);
	if (ch->dev != dev) {
		return -EINVAL;
	}
	if (atomic_load(&dev->destroying)) {
		return -ENODEV;
	}
	mgmt->priv.dev = dev;
	mgmt->priv.chan = ch;
	mgmt->priv.lun = NULL;
	mgmt->priv.step = 0;
	mgmt->priv.lun_index = 0;
	mgmt->aborted_count = 0;
	mgmt->response = SPUR_SCSI_TMF_FUNCTION_COMPLETE;
	if (mgmt->function != SPUR_SCSI_TMF_TARGET_RESET) {
		lun = scsi_dev_lun(dev, mgmt->lun_id);
		if (lun == NULL) {
			/* Answer on the next turn of this thread, never from inside the call. */
			mgmt->response = SPUR_SCSI_TMF_INCORRECT_LUN;
			mgmt->priv.state = TMF_ACTIVE;
			if (spur_thread_send_msg(ch->thread, mgmt_finish_msg, mgmt) != 0) {
				mgmt->priv.state = TMF_IDLE;
				return -ENOMEM;
			}
			return 0;
		}
		scsi_lun_get_ref(ch, lun);
		mgmt->priv.lun = lun;
	}
	mgmt->priv.state = TMF_ACTIVE;
	switch (mgmt->function) {
	case SPUR_SCSI_TMF_ABORT_TASK:
	case SPUR_SCSI_TMF_ABORT_TASK_SET:
		s = mgmt_sweep(mgmt);
		memset(s, 0, sizeof(*s));
		s->dev = dev;
		s->lun = lun;
		s->port_id = mgmt->initiator->id;
		s->match_tag = mgmt->function == SPUR_SCSI_TMF_ABORT_TASK;
		s->tag = mgmt->abort_tag;
		s->mark = true;
		s->wait = true;
		s->done = abort_sweep_done;
		s->ctx = mgmt;
		scsi_sweep_start(s);
		break;
	case SPUR_SCSI_TMF_LUN_RESET:
		lun_reset_continue(mgmt);
		break;
	case SPUR_SCSI_TMF_TARGET_RESET:
		target_reset_next(mgmt);
		break;
	}
	return 0;
}
