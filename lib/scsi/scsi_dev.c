/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SCSI devices, their logical units, their per-thread channels and their
 * events; and the entry point of every task (spur_scsi_dev_queue_task).
 *
 * A LUN's life (state changes on the application thread):
 *
 *   add_lun            remove_lun / bdev hot-remove      sweep done       nch == 0
 *   ───────► ACTIVE ──────────────────────────────► REMOVING ───────► SWEPT ─────────► closed, freed
 *            luns[id] published         luns[id] = NULL, removing = 1      (desc closed on app thread)
 *
 * Removal sweeps every channel of the device (spur_for_each_channel). On
 * each thread the sweep waits until the LUN's tasks there have finished
 * (scsi_lun_ch.outstanding == 0, the parked iterator is continued by the
 * last one), then puts the thread's bdev channel. Channels destroyed
 * without being visited put theirs in their destroy callback. lun->nch
 * counts bdev channels still held; the LUN is closed once the sweep is done
 * and nch is 0 (whichever happens last claims the close).
 *
 * The device is an I/O device whose channel context is struct
 * scsi_dev_channel; destruction removes every LUN, unregisters the I/O
 * device and frees the device once the front end has put its channels.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spur/log.h"
#include "scsi_internal.h"
#include "scsi_sense.h"

/* ---- channels ---------------------------------------------------------------------- */

struct scsi_dev_channel *
scsi_task_chan(const struct spur_scsi_task *task)
{
	return task->priv.chan;
}

static void lun_try_close(struct spur_scsi_lun *lun);

static void
lun_ch_release(struct scsi_lun_ch *lc)
{
	struct spur_scsi_lun *lun = lc->lun;

	if (lc->bdev_ch != NULL) {
		spur_put_io_channel(lc->bdev_ch);
		lc->bdev_ch = NULL;
		if (atomic_fetch_sub(&lun->nch, 1) == 1) {
			lun_try_close(lun);
		}
	}
	lc->lun = NULL;
	lc->hint_port = 0;
}

static int
dev_ch_create(void *io_device, void *ctx)
{
	struct scsi_dev_channel *ch = ctx;

	memset(ch, 0, sizeof(*ch));
	ch->dev = io_device;
	ch->thread = spur_get_thread();
	ch->poller = spur_poller_register(scsi_chan_poll, ch, 0, "scsi_dev");
	if (ch->poller == NULL) {
		return -ENOMEM;
	}
	spur_poller_pause(ch->poller);
	return 0;
}

static void
dev_ch_destroy(void *io_device, void *ctx)
{
	struct scsi_dev_channel *ch = ctx;

	if (ch->tasks != NULL) {
		SPUR_ERRLOG("scsi %s: channel put with tasks in progress\n", ch->dev->name);
	}
	for (uint32_t i = 0; i < SPUR_SCSI_DEV_MAX_LUN; i++) {
		struct scsi_lun_ch *lc = &ch->luns[i];
		struct spur_io_channel_iter *iter = lc->remove_iter;

		if (lc->lun != NULL) {
			lun_ch_release(lc);
		}
		if (iter != NULL) {
			lc->remove_iter = NULL;
			spur_for_each_channel_continue(iter, 0);
		}
	}
	spur_poller_unregister(&ch->poller);
}

struct spur_io_channel *
spur_scsi_dev_get_io_channel(struct spur_scsi_dev *dev)
{
	if (dev == NULL || atomic_load(&dev->destroying)) {
		return NULL;
	}
	return spur_get_io_channel(dev);
}

struct spur_io_channel *
scsi_task_bdev_ch(struct spur_scsi_task *task)
{
	return scsi_chan_bdev_ch(scsi_task_chan(task), task->priv.lun);
}

struct spur_io_channel *
scsi_task_bdev_ch_or_busy(struct spur_scsi_task *task)
{
	struct spur_io_channel *bch = scsi_task_bdev_ch(task);

	if (spur_unlikely(bch == NULL)) {
		scsi_task_busy(task);
		scsi_task_done(task);
	}
	return bch;
}

struct spur_io_channel *
scsi_chan_bdev_ch(struct scsi_dev_channel *ch, struct spur_scsi_lun *lun)
{
	struct scsi_lun_ch *lc = &ch->luns[lun->id];

	if (spur_likely(lc->bdev_ch != NULL)) {
		return lc->bdev_ch;
	}
	lc->bdev_ch = spur_bdev_get_io_channel(lun->desc);
	if (lc->bdev_ch != NULL) {
		atomic_fetch_add(&lun->nch, 1);
	}
	return lc->bdev_ch;
}

void
scsi_lun_get_ref(struct scsi_dev_channel *ch, struct spur_scsi_lun *lun)
{
	struct scsi_lun_ch *lc = &ch->luns[lun->id];

	if (lc->lun != lun) {
		/* A previous LUN with this id was swept from this thread already. */
		lc->lun = lun;
		lc->hint_port = 0;
	}
	lc->outstanding++;
}

void
scsi_lun_put_ref(struct scsi_dev_channel *ch, struct spur_scsi_lun *lun)
{
	struct scsi_lun_ch *lc = &ch->luns[lun->id];
	struct spur_io_channel_iter *iter;

	if (--lc->outstanding > 0 || lc->remove_iter == NULL) {
		return;
	}
	iter = lc->remove_iter;
	lc->remove_iter = NULL;
	lun_ch_release(lc);
	spur_for_each_channel_continue(iter, 0);
}

struct spur_scsi_lun *
scsi_dev_lun(const struct spur_scsi_dev *dev, uint16_t id)
{
	struct spur_scsi_lun *lun;

	if (id >= SPUR_SCSI_DEV_MAX_LUN) {
		return NULL;
	}
	lun = atomic_load_explicit(&dev->luns[id], memory_order_acquire);
	if (lun == NULL || atomic_load_explicit(&lun->removing, memory_order_acquire)) {
		return NULL;
	}
	return lun;
}

/* ---- devices ------------------------------------------------------------------------ */

struct spur_scsi_dev *
spur_scsi_dev_create(const char *name)
{
	struct spur_scsi_dev *dev;
	size_t len;

	if (name == NULL || (len = strlen(name)) == 0 || len >= SPUR_SCSI_DEV_NAME_MAX) {
		return NULL;
	}
	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		return NULL;
	}
	memcpy(dev->name, name, len + 1);
	dev->app_thread = spur_get_thread();
	spur_io_device_register(dev, dev_ch_create, dev_ch_destroy,
				sizeof(struct scsi_dev_channel), "scsi_dev");
	return dev;
}

const char *
spur_scsi_dev_get_name(const struct spur_scsi_dev *dev)
{
	return dev->name;
}

void
spur_scsi_dev_set_event_cb(struct spur_scsi_dev *dev, spur_scsi_dev_event_cb cb, void *ctx)
{
	dev->event_cb = cb;
	dev->event_ctx = ctx;
}

static void
dev_event(struct spur_scsi_dev *dev, enum spur_scsi_dev_event event, uint16_t lun_id)
{
	if (dev->event_cb != NULL && !atomic_load(&dev->destroying)) {
		dev->event_cb(dev, event, lun_id, dev->event_ctx);
	}
}

/* REPORTED LUNS DATA HAS CHANGED on every LUN but skip (app thread). */
static void
dev_luns_changed(struct spur_scsi_dev *dev, const struct spur_scsi_lun *skip)
{
	for (uint32_t i = 0; i < SPUR_SCSI_DEV_MAX_LUN; i++) {
		struct spur_scsi_lun *lun = dev->app_luns[i];

		if (lun != NULL && lun != skip && lun->state == SCSI_LUN_ACTIVE) {
			scsi_ua_establish_all(lun, SCSI_UA_LUNS_CHANGED, 0);
		}
	}
}

static void
dev_unregistered(void *io_device)
{
	struct spur_scsi_dev *dev = io_device;
	void (*cb)(void *) = dev->destroy_cb;
	void *arg = dev->destroy_cb_arg;

	free(dev);
	if (cb != NULL) {
		cb(arg);
	}
}

static void
dev_destroy_continue(struct spur_scsi_dev *dev)
{
	if (!dev->destroy_started || dev->removals > 0) {
		return;
	}
	spur_io_device_unregister(dev, dev_unregistered);
}

static int lun_remove(struct spur_scsi_lun *lun, void (*cb)(void *, int), void *cb_arg);

void
spur_scsi_dev_destroy(struct spur_scsi_dev *dev, void (*cb)(void *cb_arg), void *cb_arg)
{
	if (dev == NULL || dev->destroy_started) {
		return;
	}
	atomic_store(&dev->destroying, true);
	dev->destroy_started = true;
	dev->destroy_cb = cb;
	dev->destroy_cb_arg = cb_arg;
	for (uint32_t i = 0; i < SPUR_SCSI_DEV_MAX_LUN; i++) {
		struct spur_scsi_lun *lun = dev->app_luns[i];

		if (lun != NULL && lun->state == SCSI_LUN_ACTIVE) {
			lun_remove(lun, NULL, NULL);
		}
	}
	dev_destroy_continue(dev);
}

/* ---- logical units ---------------------------------------------------------------------- */

void
spur_scsi_lun_opts_init(struct spur_scsi_lun_opts *opts, size_t size)
{
	struct spur_scsi_lun_opts d = { .size = sizeof(d) };

	if (opts == NULL || size == 0) {
		return;
	}
	memset(opts, 0, size);
	memcpy(opts, &d, SPUR_MIN(size, sizeof(d)));
	opts->size = SPUR_MIN(size, sizeof(d));
}

static void
lun_bdev_event(enum spur_bdev_event event, struct spur_bdev *bdev, void *ctx)
{
	struct spur_scsi_lun *lun = ctx;
	struct spur_scsi_dev *dev = lun->dev;

	switch (event) {
	case SPUR_BDEV_EVENT_RESIZE:
		if (lun->state != SCSI_LUN_ACTIVE) {
			return;
		}
		scsi_ua_establish_all(lun, SCSI_UA_CAPACITY_CHANGED, 0);
		dev_event(dev, SPUR_SCSI_DEV_EVENT_LUN_RESIZED, lun->id);
		break;
	case SPUR_BDEV_EVENT_REMOVE:
		if (lun->state != SCSI_LUN_ACTIVE) {
			return;
		}
		SPUR_NOTICELOG("scsi %s: LUN %u: bdev %s hot-removed\n", dev->name, lun->id,
			       lun->bdev_name);
		lun->hot_removed = true;
		lun_remove(lun, NULL, NULL);
		if (lun->opts.hotremove_cb != NULL) {
			lun->opts.hotremove_cb(dev, lun->id, lun->opts.hotremove_ctx);
		}
		break;
	}
}

int
spur_scsi_dev_add_lun(struct spur_scsi_dev *dev, uint16_t lun_id, const char *bdev_name,
		      const struct spur_scsi_lun_opts *opts)
{
	struct spur_scsi_lun *lun;
	size_t len;
	int rc;

	if (dev == NULL || bdev_name == NULL || lun_id >= SPUR_SCSI_DEV_MAX_LUN ||
	    (opts != NULL && (opts->size == 0 || opts->size > sizeof(*opts)))) {
		return -EINVAL;
	}
	len = strlen(bdev_name);
	if (len == 0 || len >= sizeof(lun->bdev_name)) {
		return -EINVAL;
	}
	if (dev->destroy_started) {
		return -ENODEV;
	}
	if (dev->app_luns[lun_id] != NULL) {
		return -EEXIST;
	}
	lun = calloc(1, sizeof(*lun));
	if (lun == NULL) {
		return -ENOMEM;
	}
	spur_scsi_lun_opts_init(&lun->opts, sizeof(lun->opts));
	if (opts != NULL) {
		memcpy(&lun->opts, opts, opts->size);
		lun->opts.size = sizeof(lun->opts);
	}
	lun->dev = dev;
	lun->id = lun_id;
	lun->read_only = lun->opts.read_only;
	memcpy(lun->bdev_name, bdev_name, len + 1);
	rc = spur_bdev_open(bdev_name, !lun->read_only, lun_bdev_event, lun, &lun->desc);
	if (rc != 0) {
		free(lun);
		return rc;
	}
	lun->bdev = spur_bdev_desc_get_bdev(lun->desc);
	atomic_store(&lun->wce, spur_bdev_has_write_cache(lun->bdev));
	lun->state = SCSI_LUN_ACTIVE;
	dev->app_luns[lun_id] = lun;
	dev->lun_count++;
	/* Every initiator's first command to the new LUN reports POWER ON (slot creation). */
	atomic_store_explicit(&dev->luns[lun_id], lun, memory_order_release);
	dev_luns_changed(dev, lun);
	dev_event(dev, SPUR_SCSI_DEV_EVENT_LUN_ADDED, lun_id);
	return 0;
}

static void
lun_close(struct spur_scsi_lun *lun)
{
	struct spur_scsi_dev *dev = lun->dev;
	void (*cb)(void *, int) = lun->remove_cb;
	void *cb_arg = lun->remove_cb_arg;
	uint16_t id = lun->id;

	assert(lun->state == SCSI_LUN_SWEPT && atomic_load(&lun->nch) == 0);
	spur_bdev_close(lun->desc);
	scsi_pr_lun_free(lun);
	dev->app_luns[id] = NULL;
	dev->lun_count--;
	dev->removals--;
	if (atomic_load(&lun->msg_refs) == 0) {
		free(lun);
	}
	if (!dev->destroy_started) {
		dev_luns_changed(dev, NULL);
		dev_event(dev, SPUR_SCSI_DEV_EVENT_LUN_REMOVED, id);
	}
	if (cb != NULL) {
		cb(cb_arg, 0);
	}
	dev_destroy_continue(dev);
}

/*
 * Close once the sweep is done and no channel holds the bdev. The decision
 * is taken on the app thread only; a thread dropping the last bdev channel
 * sends a message, counted in msg_refs so the LUN outlives it.
 */
static void lun_try_close_app(struct spur_scsi_lun *lun);

static void
lun_try_close_msg(void *arg)
{
	struct spur_scsi_lun *lun = arg;

	atomic_fetch_sub(&lun->msg_refs, 1);
	if (lun->closed) {
		if (atomic_load(&lun->msg_refs) == 0) {
			free(lun);
		}
		return;
	}
	lun_try_close_app(lun);
}

static void
lun_try_close_app(struct spur_scsi_lun *lun)
{
	if (lun->state != SCSI_LUN_SWEPT || atomic_load(&lun->nch) != 0 || lun->closed) {
		return;
	}
	lun->closed = true;
	lun_close(lun);
}

static void
lun_try_close(struct spur_scsi_lun *lun)
{
	struct spur_thread *app = lun->dev->app_thread;

	if (spur_get_thread() == app) {
		lun_try_close_app(lun);
		return;
	}
	atomic_fetch_add(&lun->msg_refs, 1);
	if (spur_thread_send_msg(app, lun_try_close_msg, lun) != 0) {
		atomic_fetch_sub(&lun->msg_refs, 1);
		SPUR_ERRLOG("scsi %s: LUN %u: cannot reach the app thread to close it\n",
			    lun->dev->name, lun->id);
	}
}

static void
lun_remove_visit(struct spur_io_channel_iter *i)
{
	struct spur_scsi_lun *lun = spur_io_channel_iter_get_ctx(i);
	struct scsi_dev_channel *ch = spur_io_channel_get_ctx(spur_io_channel_iter_get_channel(i));
	struct scsi_lun_ch *lc = &ch->luns[lun->id];

	if (lc->lun != lun) {
		spur_for_each_channel_continue(i, 0);
		return;
	}
	if (lc->outstanding > 0) {
		lc->remove_iter = i; /* continued by the last task (scsi_lun_put_ref) */
		return;
	}
	lun_ch_release(lc);
	spur_for_each_channel_continue(i, 0);
}

static void
lun_remove_done(struct spur_io_channel_iter *i, int status)
{
	struct spur_scsi_lun *lun = spur_io_channel_iter_get_ctx(i);

	lun->state = SCSI_LUN_SWEPT;
	lun_try_close(lun);
}

static int
lun_remove(struct spur_scsi_lun *lun, void (*cb)(void *, int), void *cb_arg)
{
	struct spur_scsi_dev *dev = lun->dev;

	if (lun->state != SCSI_LUN_ACTIVE) {
		return -EBUSY;
	}
	lun->state = SCSI_LUN_REMOVING;
	lun->remove_cb = cb;
	lun->remove_cb_arg = cb_arg;
	dev->removals++;
	atomic_store_explicit(&lun->removing, true, memory_order_release);
	atomic_store_explicit(&dev->luns[lun->id], NULL, memory_order_release);
	spur_for_each_channel(dev, lun_remove_visit, lun, lun_remove_done);
	return 0;
}

int
spur_scsi_dev_remove_lun(struct spur_scsi_dev *dev, uint16_t lun_id,
			 void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	struct spur_scsi_lun *lun;

	if (dev == NULL || lun_id >= SPUR_SCSI_DEV_MAX_LUN) {
		return -ENOENT;
	}
	lun = dev->app_luns[lun_id];
	if (lun == NULL) {
		return -ENOENT;
	}
	return lun_remove(lun, cb, cb_arg);
}

/* ---- lookups --------------------------------------------------------------------------- */

struct spur_scsi_lun *
spur_scsi_dev_get_lun(struct spur_scsi_dev *dev, uint16_t lun_id)
{
	return lun_id < SPUR_SCSI_DEV_MAX_LUN ? dev->app_luns[lun_id] : NULL;
}

static struct spur_scsi_lun *
lun_from(struct spur_scsi_dev *dev, uint32_t id)
{
	for (; id < SPUR_SCSI_DEV_MAX_LUN; id++) {
		if (dev->app_luns[id] != NULL) {
			return dev->app_luns[id];
		}
	}
	return NULL;
}

struct spur_scsi_lun *
spur_scsi_dev_first_lun(struct spur_scsi_dev *dev)
{
	return lun_from(dev, 0);
}

struct spur_scsi_lun *
spur_scsi_dev_next_lun(struct spur_scsi_dev *dev, struct spur_scsi_lun *prev)
{
	return prev == NULL ? NULL : lun_from(dev, (uint32_t)prev->id + 1);
}

uint32_t
spur_scsi_dev_get_lun_count(const struct spur_scsi_dev *dev)
{
	return dev->lun_count;
}

bool
spur_scsi_dev_has_lun(const struct spur_scsi_dev *dev, uint16_t lun_id)
{
	return dev != NULL && scsi_dev_lun(dev, lun_id) != NULL;
}

uint16_t
spur_scsi_lun_get_id(const struct spur_scsi_lun *lun)
{
	return lun->id;
}

const char *
spur_scsi_lun_get_bdev_name(const struct spur_scsi_lun *lun)
{
	return lun->bdev_name;
}

struct spur_bdev *
spur_scsi_lun_get_bdev(const struct spur_scsi_lun *lun)
{
	return lun->bdev;
}

bool
spur_scsi_lun_is_read_only(const struct spur_scsi_lun *lun)
{
	return lun->read_only;
}

bool
spur_scsi_lun_is_removing(const struct spur_scsi_lun *lun)
{
	return lun->state != SCSI_LUN_ACTIVE;
}

/* ---- submission -------------------------------------------------------------------------- */

static bool
task_buffers_ok(const struct spur_scsi_task *task)
{
	size_t sum = 0;

	if (task->dir == SPUR_SCSI_DIR_NONE) {
		return task->transfer_len == 0;
	}
	if (task->dir != SPUR_SCSI_DIR_TO_DEV && task->dir != SPUR_SCSI_DIR_FROM_DEV) {
		return false;
	}
	if (task->transfer_len == 0) {
		return true;
	}
	if (task->iovs == NULL || task->iovcnt <= 0) {
		/* Data-in into a layer buffer; data-out needs spur_scsi_task_alloc_buf. */
		return task->dir == SPUR_SCSI_DIR_FROM_DEV &&
		       task->transfer_len <= SPUR_SCSI_TASK_MAX_BUF;
	}
	for (int i = 0; i < task->iovcnt; i++) {
		sum += task->iovs[i].iov_len;
		if (sum >= task->transfer_len) {
			return true;
		}
	}
	return false;
}

int
spur_scsi_dev_queue_task(struct spur_scsi_dev *dev, struct spur_io_channel *io_ch,
			 struct spur_scsi_task *task)
{
	struct scsi_dev_channel *ch;
	struct spur_scsi_lun *lun;

	if (dev == NULL || io_ch == NULL || task == NULL || task->priv.state != SCSI_TASK_IDLE ||
	    task->initiator == NULL || task->initiator->id == 0 || !task_buffers_ok(task)) {
		return -EINVAL;
	}
	ch = spur_io_channel_get_ctx(io_ch);
	if (ch->dev != dev) {
		return -EINVAL;
	}
	if (atomic_load_explicit(&dev->destroying, memory_order_relaxed)) {
		return -ENODEV;
	}
	task->response = SPUR_SCSI_TASK_COMPLETE;
	task->status = SPUR_SCSI_STATUS_GOOD;
	task->sense_len = 0;
	task->residual_flags = 0;
	task->residual = 0;
	task->data_transferred = 0;
	task->priv.dev = dev;
	task->priv.chan = ch;
	task->priv.bdev_io = NULL;
	task->priv.flags &= SCSI_TF_OWN_BUF;
	task->priv.cmd_len = 0;
	task->priv.aborted = 0;
	task->priv.step = 0;
	task->priv.done_blocks = 0;
	task->priv.state = SCSI_TASK_ACTIVE;
	task->priv.prev = NULL;
	task->priv.next = ch->tasks;
	if (ch->tasks != NULL) {
		ch->tasks->priv.prev = task;
	}
	ch->tasks = task;
	lun = scsi_dev_lun(dev, task->lun_id);
	task->priv.lun = lun;
	if (lun != NULL) {
		scsi_lun_get_ref(ch, lun);
	}
	task->priv.flags |= SCSI_TF_IN_SUBMIT;
	scsi_cmd_execute(task);
	task->priv.flags &= ~SCSI_TF_IN_SUBMIT;
	return 0;
}
