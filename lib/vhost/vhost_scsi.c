/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtio-scsi device type ("scsi") of the vhost target, controller
 * side: the target slots (one spur_scsi_dev with LUN 0 on a bdev each) and
 * their add / remove / hot-remove life cycle, the feature bits and config
 * space offered to the frontend, events for the guest (target added or
 * removed, capacity changed), and the controller's part of
 * vhost_get_controllers and save_config. Queues are in vhost_scsi_io.c
 * (control and request queues) and vhost_scsi_evq.c (event queue).
 *
 * Target slots (see vhost_scsi_internal.h for the states and the hold
 * protocol): a removal (RPC, or the LUN's bdev being hot-removed) stores
 * REMOVING, so queues answer new requests for it with BAD_TARGET while
 * the ones in flight finish; each queue releases its channel once it has
 * no task left on the target (idle queues are nudged with a message to
 * every thread); the last release asks the app thread to destroy the SCSI
 * device; when the layer reports it gone the slot is FREE again, the guest
 * gets VIRTIO_SCSI_T_TRANSPORT_RESET / REMOVED, and the RPC is answered.
 * An add publishes the device (ACTIVE) and posts TRANSPORT_RESET / RESCAN,
 * on which Linux scans the target by itself. A capacity change (the
 * layer's LUN_RESIZED) posts VIRTIO_SCSI_T_PARAM_CHANGE with ASC 0x2a
 * ASCQ 0x09 (CAPACITY DATA HAS CHANGED), on which Linux rescans the disk.
 *
 * All tasks of a controller name one initiator port (its I_T nexus for
 * unit attentions and reservations); its id is unique in the process and
 * stays the same across frontend reconnections, like a VM's HBA.
 *
 * Threads: everything here runs on the application thread, except
 * vhost_scsi_target_acquire / release and the queue-op dispatch, which
 * queues call on their poll-group threads (atomics, a channel of the
 * device, and a message to the app thread).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>

#include "spur/log.h"
#include "vhost_rq.h"
#include "vhost_scsi_internal.h"

/* virtio-scsi PARAM_CHANGE reason for CAPACITY DATA HAS CHANGED: ASC | ASCQ << 8. */
#define CAPACITY_CHANGED_REASON (0x2au | (0x09u << 8))

static uint64_t g_next_port_id;
static uint32_t g_next_dev_id;
/* Devices whose destroy has not completed yet, and who waits for none. */
static uint32_t g_devs_destroying;
static void (*g_devs_destroyed_cb)(void);

/* ---- references ------------------------------------------------------------------ */

void
vhost_scsi_ref(struct vhost_scsi_ctrlr *sc)
{
	atomic_fetch_add(&sc->refs, 1);
}

void
vhost_scsi_unref(struct vhost_scsi_ctrlr *sc)
{
	if (atomic_fetch_sub(&sc->refs, 1) == 1) {
		pthread_mutex_destroy(&sc->ev_lock);
		free(sc);
	}
}

struct vhost_scsi_ctrlr *
vhost_scsi_queue_ctrlr(struct vhost_queue *q)
{
	return vhost_scsi_ctrlr(vhost_queue_get_ctrlr(q));
}

uint32_t
vhost_scsi_target_count(const struct vhost_scsi_ctrlr *sc)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < VHOST_SCSI_MAX_TARGETS; i++)
		n += atomic_load(&sc->targets[i].state) != VHOST_SCSI_TARGET_FREE;
	return n;
}

/*
 * The slot invariants of each state (app thread; see vhost_scsi_internal.h).
 * FREE: no device, no name, no remover waits (holders is not checked: a
 * queue may count itself for an instant before it sees the state). ACTIVE:
 * a device and its bdev name, not being destroyed. REMOVING: the device
 * stays until its destroy completes.
 */
static bool
target_check_state(const struct vhost_scsi_target *t)
{
	switch (atomic_load(&t->state)) {
	case VHOST_SCSI_TARGET_FREE:
		return t->dev == NULL && t->bdev_name == NULL && t->waiters == NULL &&
		       !t->destroying;
	case VHOST_SCSI_TARGET_ACTIVE:
		return t->dev != NULL && t->bdev_name != NULL && !t->destroying;
	case VHOST_SCSI_TARGET_REMOVING:
		return t->dev != NULL && t->bdev_name != NULL;
	default:
		return false;
	}
}

/* ---- destroying devices ------------------------------------------------------------ */

static void
devs_destroyed_check(void)
{
	void (*cb)(void) = g_devs_destroyed_cb;

	if (g_devs_destroying == 0 && cb != NULL) {
		g_devs_destroyed_cb = NULL;
		cb();
	}
}

void
vhost_scsi_wait_devs_destroyed(void (*cb)(void))
{
	g_devs_destroyed_cb = cb;
	devs_destroyed_check();
}

/* A device that never became a target (add failed) is gone. */
static void
dev_discarded(void *ctx)
{
	g_devs_destroying--;
	devs_destroyed_check();
}

static void
discard_dev(struct spur_scsi_dev *dev)
{
	g_devs_destroying++;
	spur_scsi_dev_destroy(dev, dev_discarded, NULL);
}

/* ---- target removal ------------------------------------------------------------------ */

static void
target_destroyed(void *ctx)
{
	struct vhost_scsi_target *t = ctx;
	struct vhost_scsi_ctrlr *sc = t->sc;
	struct vhost_scsi_remove_waiter *w = t->waiters;

	SPUR_NOTICELOG("vhost controller %s: SCSI target %u (bdev %s) removed\n",
		       sc->destroyed ? "(deleted)" : sc->ctrlr->name, t->num, t->bdev_name);
	t->waiters = NULL;
	t->dev = NULL;
	free(t->bdev_name);
	t->bdev_name = NULL;
	t->destroying = false;
	atomic_store(&t->state, VHOST_SCSI_TARGET_FREE);
	atomic_fetch_sub(&sc->removing, 1);
	if (t->notify && !sc->destroyed)
		vhost_scsi_post_event(sc, VIRTIO_SCSI_T_TRANSPORT_RESET,
				      VIRTIO_SCSI_EVT_RESET_REMOVED, t->num);
	while (w != NULL) {
		struct vhost_scsi_remove_waiter *next = w->next;

		w->done(w->ctx, 0);
		free(w);
		w = next;
	}
	assert(target_check_state(t));
	g_devs_destroying--;
	vhost_scsi_unref(sc);
	devs_destroyed_check();
}

/* App thread: destroy a REMOVING target's device once no queue holds it. */
static void
target_try_destroy(struct vhost_scsi_target *t)
{
	assert(target_check_state(t));
	if (atomic_load(&t->state) != VHOST_SCSI_TARGET_REMOVING || t->destroying ||
	    atomic_load(&t->holders) != 0 || t->dev == NULL)
		return;
	t->destroying = true;
	g_devs_destroying++;
	vhost_scsi_ref(t->sc);
	SPUR_DEBUGLOG(VHOST_SCSI_LOG, "target %u: no queue holds it; destroying the device\n",
		      t->num);
	spur_scsi_dev_destroy(t->dev, target_destroyed, t);
}

static void
target_release_msg(void *ctx)
{
	struct vhost_scsi_target *t = ctx;
	struct vhost_scsi_ctrlr *sc = t->sc;

	target_try_destroy(t);
	vhost_scsi_unref(sc);
}

/* ACTIVE -> REMOVING (app thread). notify: post REMOVED once gone. */
static void
target_start_removal(struct vhost_scsi_target *t, bool notify)
{
	if (atomic_load(&t->state) != VHOST_SCSI_TARGET_ACTIVE)
		return;
	t->notify = notify;
	atomic_fetch_add(&t->sc->removing, 1);
	atomic_store(&t->state, VHOST_SCSI_TARGET_REMOVING);
	if (atomic_load(&t->holders) == 0)
		target_try_destroy(t);
	else
		vhost_scsi_queues_nudge(t->sc);
}

struct spur_scsi_dev *
vhost_scsi_target_acquire(struct vhost_scsi_target *t, struct spur_io_channel **ch)
{
	atomic_fetch_add(&t->holders, 1);
	if (atomic_load(&t->state) == VHOST_SCSI_TARGET_ACTIVE) {
		struct spur_scsi_dev *dev = t->dev;

		*ch = spur_scsi_dev_get_io_channel(dev);
		if (*ch != NULL)
			return dev;
	}
	vhost_scsi_target_release(t, NULL);
	return NULL;
}

void
vhost_scsi_target_release(struct vhost_scsi_target *t, struct spur_io_channel *ch)
{
	struct vhost_scsi_ctrlr *sc = t->sc;

	if (ch != NULL)
		spur_put_io_channel(ch);
	if (atomic_fetch_sub(&t->holders, 1) == 1 &&
	    atomic_load(&t->state) == VHOST_SCSI_TARGET_REMOVING) {
		vhost_scsi_ref(sc);
		if (spur_thread_send_msg(spur_get_app_thread(), target_release_msg, t) != 0) {
			/* The app thread is gone (shutdown): the controller's destruct destroys it. */
			vhost_scsi_unref(sc);
		}
	}
}

int
vhost_scsi_remove_target(struct vhost_scsi_ctrlr *sc, unsigned num,
			 void (*done)(void *ctx, int rc), void *ctx)
{
	struct vhost_scsi_target *t;
	struct vhost_scsi_remove_waiter *w;

	if (num >= VHOST_SCSI_MAX_TARGETS)
		return -ENODEV;
	t = &sc->targets[num];
	if (atomic_load(&t->state) == VHOST_SCSI_TARGET_FREE)
		return -ENODEV;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->done = done;
	w->ctx = ctx;
	w->next = t->waiters;
	t->waiters = w;
	if (atomic_load(&t->state) == VHOST_SCSI_TARGET_ACTIVE)
		SPUR_NOTICELOG("vhost controller %s: removing SCSI target %u (bdev %s)\n",
			       sc->ctrlr->name, num, t->bdev_name);
	target_start_removal(t, true);
	return 0;
}

/* ---- layer callbacks ------------------------------------------------------------------ */

static void
lun_hotremove_cb(struct spur_scsi_dev *dev, uint16_t lun_id, void *ctx)
{
	struct vhost_scsi_target *t = ctx;

	SPUR_NOTICELOG("vhost controller %s: bdev %s of SCSI target %u is being removed; "
		       "removing the target\n", t->sc->ctrlr->name, t->bdev_name, t->num);
	target_start_removal(t, true);
}

static void
dev_event_cb(struct spur_scsi_dev *dev, enum spur_scsi_dev_event event, uint16_t lun_id,
	     void *ctx)
{
	struct vhost_scsi_target *t = ctx;

	switch (event) {
	case SPUR_SCSI_DEV_EVENT_LUN_RESIZED:
		SPUR_NOTICELOG("vhost controller %s: SCSI target %u LUN %u resized\n",
			       t->sc->ctrlr->name, t->num, lun_id);
		vhost_scsi_post_event(t->sc, VIRTIO_SCSI_T_PARAM_CHANGE, CAPACITY_CHANGED_REASON,
				      t->num);
		break;
	case SPUR_SCSI_DEV_EVENT_LUN_ADDED:
	case SPUR_SCSI_DEV_EVENT_LUN_REMOVED:
		/* Target-level events are posted by add_target / the removal. */
		break;
	}
}

/* ---- target add ------------------------------------------------------------------------ */

int
vhost_scsi_add_target(struct vhost_scsi_ctrlr *sc, int num, const char *bdev_name)
{
	struct spur_scsi_lun_opts opts;
	struct vhost_scsi_target *t;
	struct spur_scsi_dev *dev;
	char name[SPUR_SCSI_DEV_NAME_MAX];
	char *copy;
	int rc;

	if (num == -1) {
		for (num = 0; num < (int)VHOST_SCSI_MAX_TARGETS; num++) {
			if (atomic_load(&sc->targets[num].state) == VHOST_SCSI_TARGET_FREE)
				break;
		}
		if (num == (int)VHOST_SCSI_MAX_TARGETS)
			return -ENOSPC;
	}
	if (num < 0 || num >= (int)VHOST_SCSI_MAX_TARGETS)
		return -EINVAL;
	t = &sc->targets[num];
	assert(target_check_state(t));
	if (atomic_load(&t->state) != VHOST_SCSI_TARGET_FREE)
		return -EEXIST;
	if (spur_strfmt(name, sizeof(name), "%s.t%d", sc->ctrlr->name, num) != 0)
		spur_strfmt(name, sizeof(name), "Target %d", num);
	copy = strdup(bdev_name);
	dev = copy != NULL ? spur_scsi_dev_create(name) : NULL;
	if (dev == NULL) {
		free(copy);
		return -ENOMEM;
	}
	spur_scsi_dev_set_event_cb(dev, dev_event_cb, t);
	spur_scsi_lun_opts_init(&opts, sizeof(opts));
	opts.hotremove_cb = lun_hotremove_cb;
	opts.hotremove_ctx = t;
	rc = spur_scsi_dev_add_lun(dev, 0, bdev_name, &opts);
	if (rc != 0) {
		SPUR_ERRLOG("vhost controller %s: cannot add bdev %s as SCSI target %d: %s\n",
			    sc->ctrlr->name, bdev_name, num, strerror(-rc));
		spur_scsi_dev_set_event_cb(dev, NULL, NULL);
		discard_dev(dev);
		free(copy);
		return rc;
	}
	t->bdev_name = copy;
	t->dev = dev;
	t->dev_id = g_next_dev_id++;
	t->notify = true;
	/* dev is written before ACTIVE is published (see the hold protocol). */
	atomic_store(&t->state, VHOST_SCSI_TARGET_ACTIVE);
	assert(target_check_state(t));
	SPUR_NOTICELOG("vhost controller %s: SCSI target %d is bdev %s (LUN 0)\n",
		       sc->ctrlr->name, num, bdev_name);
	vhost_scsi_post_event(sc, VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_RESCAN,
			      (uint8_t)num);
	return num;
}

/* ---- events ------------------------------------------------------------------------- */

void
vhost_scsi_post_event(struct vhost_scsi_ctrlr *sc, uint32_t event, uint32_t reason,
		      uint8_t target)
{
	struct spur_thread *thread = NULL;

	if (sc->destroyed || sc->ctrlr->session == NULL)
		return;
	pthread_mutex_lock(&sc->ev_lock);
	if (sc->evq != NULL) {
		if (sc->ev_count < VHOST_SCSI_EVENTS_MAX) {
			struct vhost_scsi_event *e =
				&sc->ev[(sc->ev_head + sc->ev_count) % VHOST_SCSI_EVENTS_MAX];

			e->event = event;
			e->reason = reason;
			e->target = target;
			sc->ev_count++;
		} else {
			sc->ev_missed = true;
		}
		thread = sc->evq_thread;
	}
	pthread_mutex_unlock(&sc->ev_lock);
	if (thread == NULL) {
		SPUR_DEBUGLOG(VHOST_SCSI_LOG, "%s: event %u/%u for target %u dropped: no event "
			      "queue\n", sc->ctrlr->name, event, reason, target);
		return;
	}
	vhost_scsi_ref(sc);
	if (spur_thread_send_msg(thread, vhost_scsi_evq_kick_msg, sc) != 0) {
		/* Delivered at the event queue's next poll. */
		vhost_scsi_unref(sc);
	}
}

/* ---- backend ops ---------------------------------------------------------------------- */

static uint64_t
scsi_features(struct vhost_ctrlr *c)
{
	/*
	 * No VIRTIO_SCSI_F_INOUT: the SCSI layer has no bidirectional commands,
	 * so a request with both data-out and data-in is answered FAILURE.
	 */
	return (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) |
	       (1ull << VIRTIO_RING_F_INDIRECT_DESC) | (1ull << VIRTIO_SCSI_F_HOTPLUG) |
	       (1ull << VIRTIO_SCSI_F_CHANGE);
}

static uint16_t
scsi_max_queues(struct vhost_ctrlr *c)
{
	return VHOST_SCSI_MAX_QUEUES;
}

static void
scsi_fill_config(struct virtio_scsi_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->num_queues = VHOST_SCSI_MAX_QUEUES - VHOST_SCSI_REQQ0;
	cfg->seg_max = VHOST_SCSI_SEG_MAX;
	cfg->max_sectors = VHOST_SCSI_MAX_SECTORS;
	cfg->cmd_per_lun = VHOST_SCSI_CMD_PER_LUN;
	cfg->event_info_size = sizeof(struct virtio_scsi_event);
	cfg->sense_size = VHOST_SCSI_SENSE_SIZE;
	cfg->cdb_size = VHOST_SCSI_CDB_SIZE;
	cfg->max_channel = 0;
	cfg->max_target = VHOST_SCSI_MAX_TARGETS - 1;
	cfg->max_lun = 0;
}

static void
scsi_get_config(struct vhost_ctrlr *c, uint8_t *buf, uint32_t len)
{
	struct virtio_scsi_config cfg;

	scsi_fill_config(&cfg);
	memset(buf, 0, len);
	memcpy(buf, &cfg, SPUR_MIN(len, (uint32_t)sizeof(cfg)));
}

static int
scsi_set_config(struct vhost_ctrlr *c, const uint8_t *buf, uint32_t offset, uint32_t len)
{
	struct virtio_scsi_config cfg;
	const uint32_t lo = offsetof(struct virtio_scsi_config, sense_size);
	const uint32_t hi = offsetof(struct virtio_scsi_config, max_channel);

	/*
	 * sense_size and cdb_size are the driver-writable fields; the request
	 * layout is fixed at 96 / 32, so only writes of those values (what
	 * Linux writes) are accepted.
	 */
	scsi_fill_config(&cfg);
	if (offset < lo || offset > hi || len > hi - offset ||
	    memcmp((const uint8_t *)&cfg + offset, buf, len) != 0) {
		SPUR_WARNLOG("%s: SET_CONFIG offset %u len %u refused (sense_size %u and "
			     "cdb_size %u are fixed)\n", c->name, offset, len,
			     VHOST_SCSI_SENSE_SIZE, VHOST_SCSI_CDB_SIZE);
		return -ENOTSUP;
	}
	return 0;
}

static int
scsi_queue_start(struct vhost_queue *q)
{
	return q->index == VHOST_SCSI_EVENTQ ? vhost_scsi_evq_start(q) : vhost_scsi_rq_start(q);
}

static void
scsi_queue_stop(struct vhost_queue *q, void (*done)(struct vhost_queue *q))
{
	if (q->index == VHOST_SCSI_EVENTQ)
		vhost_scsi_evq_stop(q, done);
	else
		vhost_rq_stop(q, done);
}

static int
scsi_queue_poll(struct vhost_queue *q)
{
	return q->index == VHOST_SCSI_EVENTQ ? vhost_scsi_evq_poll(q) : vhost_scsi_rq_poll(q);
}

static void
scsi_queue_resubmit(struct vhost_queue *q, const uint16_t *ids, int count)
{
	if (q->index == VHOST_SCSI_EVENTQ)
		vhost_scsi_evq_resubmit(q, ids, count);
	else
		vhost_scsi_rq_resubmit(q, ids, count);
}

static void
scsi_dump_info_json(struct vhost_ctrlr *c, json_t *obj)
{
	struct vhost_scsi_ctrlr *sc = c->backend_ctx;
	json_t *targets = json_array();
	char name[32];

	for (uint32_t i = 0; i < VHOST_SCSI_MAX_TARGETS; i++) {
		struct vhost_scsi_target *t = &sc->targets[i];
		json_t *luns;

		if (atomic_load(&t->state) == VHOST_SCSI_TARGET_FREE || t->dev == NULL)
			continue;
		luns = json_array();
		for (struct spur_scsi_lun *lun = spur_scsi_dev_first_lun(t->dev); lun != NULL;
		     lun = spur_scsi_dev_next_lun(t->dev, lun))
			json_array_append_new(luns, json_pack("{s:i, s:s}", "id",
							      (int)spur_scsi_lun_get_id(lun),
							      "bdev_name",
							      spur_scsi_lun_get_bdev_name(lun)));
		snprintf(name, sizeof(name), "Target %u", i);
		json_array_append_new(targets,
				      json_pack("{s:s, s:I, s:i, s:o, s:b}", "target_name", name,
						"id", (json_int_t)t->dev_id, "scsi_dev_num", (int)i,
						"luns", luns, "removing",
						(int)(atomic_load(&t->state) ==
						      VHOST_SCSI_TARGET_REMOVING)));
	}
	json_object_set_new(obj, "scsi", targets);
}

void
vhost_scsi_write_config_json(struct vhost_ctrlr *c, json_t *config)
{
	struct vhost_scsi_ctrlr *sc = c->backend_ctx;
	char mask[SPUR_CPUSET_STR_LEN];
	json_t *params = json_pack("{s:s}", "ctrlr", c->name);

	if (sc->cpumask_given)
		json_object_set_new(params, "cpumask",
				    json_string(spur_cpuset_fmt(&c->cpumask, mask, sizeof(mask))));
	json_array_append_new(config, json_pack("{s:s, s:o}", "method",
						"vhost_create_scsi_controller", "params", params));
	for (uint32_t i = 0; i < VHOST_SCSI_MAX_TARGETS; i++) {
		struct vhost_scsi_target *t = &sc->targets[i];

		if (atomic_load(&t->state) != VHOST_SCSI_TARGET_ACTIVE)
			continue;
		json_array_append_new(config,
				      json_pack("{s:s, s:{s:s, s:i, s:s}}", "method",
						"vhost_scsi_controller_add_target", "params",
						"ctrlr", c->name, "scsi_target_num", (int)i,
						"bdev_name", t->bdev_name));
	}
	vhost_ctrlr_write_coalescing_config(c, sc->default_delay_us, sc->default_iops_threshold,
					    config);
}

static void
scsi_write_config_json(struct vhost_ctrlr *c, json_t *config)
{
	vhost_scsi_write_config_json(c, config);
}

static const char *
scsi_delete_refused(struct vhost_ctrlr *c)
{
	if (vhost_scsi_target_count(c->backend_ctx) != 0)
		return "it has SCSI targets; remove them first (vhost_scsi_controller_remove_target)";
	return NULL;
}

/* The controller is deleted (no session, so no queue holds a target). */
static void
scsi_destruct(struct vhost_ctrlr *c)
{
	struct vhost_scsi_ctrlr *sc = c->backend_ctx;

	sc->destroyed = true;
	for (uint32_t i = 0; i < VHOST_SCSI_MAX_TARGETS; i++) {
		struct vhost_scsi_target *t = &sc->targets[i];

		if (atomic_load(&t->holders) != 0)
			SPUR_ERRLOG("vhost controller %s deleted with target %u held by %u queues\n",
				    c->name, i, atomic_load(&t->holders));
		if (atomic_load(&t->state) == VHOST_SCSI_TARGET_ACTIVE)
			target_start_removal(t, false);
		else
			target_try_destroy(t);  /* REMOVING: its last release may not have reached us */
	}
	c->backend_ctx = NULL;
	vhost_scsi_unref(sc);
}

const struct vhost_backend_ops vhost_scsi_ops = {
	.type = "scsi",
	.features = scsi_features,
	.max_queues = scsi_max_queues,
	.config_size = sizeof(struct virtio_scsi_config),
	.get_config = scsi_get_config,
	.set_config = scsi_set_config,
	.queue_start = scsi_queue_start,
	.queue_stop = scsi_queue_stop,
	.queue_poll = scsi_queue_poll,
	.queue_resubmit = scsi_queue_resubmit,
	.dump_info_json = scsi_dump_info_json,
	.write_config_json = scsi_write_config_json,
	.destruct = scsi_destruct,
	.delete_refused = scsi_delete_refused,
};

int
vhost_scsi_ctrlr_create(const char *name, const struct spur_cpuset *cpumask,
			struct vhost_ctrlr **out)
{
	struct vhost_scsi_ctrlr *sc;
	struct vhost_ctrlr *c;
	char port_name[SPUR_SCSI_PORT_NAME_MAX];
	int rc;

	if (vhost_ctrlr_find(name) != NULL)
		return -EEXIST;
	sc = calloc(1, sizeof(*sc));
	if (sc == NULL)
		return -ENOMEM;
	pthread_mutex_init(&sc->ev_lock, NULL);
	atomic_init(&sc->refs, 1);
	for (uint32_t i = 0; i < VHOST_SCSI_MAX_TARGETS; i++) {
		sc->targets[i].sc = sc;
		sc->targets[i].num = (uint8_t)i;
		atomic_init(&sc->targets[i].state, VHOST_SCSI_TARGET_FREE);
	}
	sc->cpumask_given = cpumask != NULL;
	spur_strfmt(port_name, sizeof(port_name), "vhost-user-scsi:%s", name);
	rc = spur_scsi_port_init(&sc->port, ++g_next_port_id, port_name);
	if (rc == 0)
		rc = vhost_ctrlr_create(name, cpumask, &vhost_scsi_ops, sc, &c);
	if (rc != 0) {
		vhost_scsi_unref(sc);
		return rc;
	}
	sc->ctrlr = c;
	sc->default_delay_us = c->coalesce_delay_us;
	sc->default_iops_threshold = c->coalesce_iops_threshold;
	SPUR_NOTICELOG("vhost-scsi controller %s created; add targets with "
		       "vhost_scsi_controller_add_target\n", name);
	/* What a user pastes into QEMU's command line to attach a VM. */
	SPUR_NOTICELOG("attach a VM to %s with: -object memory-backend-memfd,id=mem0,size=<RAM>,"
		       "share=on -numa node,memdev=mem0 -chardev socket,id=%s,path=%s "
		       "-device vhost-user-scsi-pci,chardev=%s,num_queues=<N>\n",
		       name, name, c->socket_path, name);
	if (out != NULL)
		*out = c;
	return 0;
}
