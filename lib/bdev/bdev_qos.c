/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Quality of service: rate limits that hold across every channel of a bdev.
 *
 * Design: one struct bdev_qos per limited bdev, shared by its channels, holds
 * a token bucket per limit (rw IOPS, rw / read / write bytes). Time is cut in
 * slices of BDEV_QOS_SLICE_US; each slice grants 'quota' tokens (limit /
 * slices per second). A bucket holds at most QOS_BURST_SLICES slices' quota
 * when nothing waits (an idle bdev bursts at most 2 ms worth), but up to
 * QOS_BACKLOG_SLICES when requests wait: then the missed slices had demand
 * and only a reactor that was not scheduled (a busy host, a hypervisor)
 * failed to use them, so they are paid out late instead of being lost. In
 * any window W the tokens granted stay below quota * (W / slice + cap).
 * Whoever takes tokens first in a new slice refills (a CAS on slice_start
 * decides who): no timer is needed and no thread owns the buckets. A
 * request is admitted while every bucket it draws from is positive and then
 * subtracts its full cost, so a large request overdraws and the debt is
 * repaid by the following slices: over time the rate converges to the limit
 * whatever the request size.
 *
 * Per channel: requests over the limit wait, FIFO, in the channel's queue and
 * never fail; a paused poller on the channel's thread (BDEV_QOS_POLL_US)
 * runs only while the queue is not empty and releases requests as tokens
 * come. New requests queue behind waiting ones. Bdevs without limits have
 * ch->qos == NULL and pay one predictable branch.
 *
 * Fairness between channels: in the first half of a slice a channel may take
 * only its share of what the slice's refill granted (granted / channels
 * wanting tokens; at least one request); in the second half anyone takes
 * what is left, so an unbalanced load still reaches the limit and no channel
 * starves because its poller happens to run after another's.
 *
 * Changing limits (app thread): a live struct is updated in place; enabling
 * allocates one and attaches it to every channel with spur_for_each_channel;
 * disabling detaches it (queued requests go to the module) and frees it
 * after the walk. Reset aborts the queues. Only reads and writes are
 * limited (SPDK's rule); rw_ios_per_sec must be a multiple of 1000 and a
 * megabyte is 1024 * 1024 bytes, as in SPDK.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"
#include "spur/log.h"

enum {
	QOS_RW_IOPS = 0,
	QOS_RW_BPS,
	QOS_R_BPS,
	QOS_W_BPS,
	QOS_NUM_LIMITS,
};

#define QOS_SLICES_PER_SEC (1000000u / BDEV_QOS_SLICE_US)
#define QOS_MAX_CATCHUP_SLICES (1u << 20)
#define QOS_BURST_SLICES 2
#define QOS_BACKLOG_SLICES 250 /* a 250 ms stall of a busy host is caught up */

struct bdev_qos {
	_Atomic uint64_t quota[QOS_NUM_LIMITS];     /* tokens per slice; 0: no limit */
	_Atomic int64_t remaining[QOS_NUM_LIMITS];
	_Atomic int64_t granted[QOS_NUM_LIMITS];    /* bucket level after the last refill */
	_Atomic uint64_t slice_start;
	_Atomic uint32_t waiting;                   /* channels with a non-empty queue */
	uint64_t slice_ticks;
};

uint64_t (*bdev_qos_clock)(void);

static inline uint64_t
qos_now(void)
{
	return bdev_qos_clock != NULL ? bdev_qos_clock() : spur_get_ticks();
}

static void
qos_quotas(const uint64_t limits[QOS_NUM_LIMITS], uint64_t quota[QOS_NUM_LIMITS])
{
	quota[QOS_RW_IOPS] = limits[QOS_RW_IOPS] / QOS_SLICES_PER_SEC;
	for (int i = QOS_RW_BPS; i < QOS_NUM_LIMITS; i++) {
		quota[i] = limits[i] * 1024u * 1024u / QOS_SLICES_PER_SEC;
	}
}

static void
qos_set_limits(struct bdev_qos *q, const uint64_t limits[QOS_NUM_LIMITS])
{
	uint64_t quota[QOS_NUM_LIMITS];

	qos_quotas(limits, quota);
	for (int i = 0; i < QOS_NUM_LIMITS; i++) {
		atomic_store(&q->quota[i], quota[i]);
		atomic_store(&q->remaining[i], (int64_t)quota[i]);
		atomic_store(&q->granted[i], (int64_t)quota[i]);
	}
}

struct bdev_qos *
bdev_qos_alloc(const uint64_t limits[4], uint64_t now)
{
	struct bdev_qos *q = calloc(1, sizeof(*q));

	if (q == NULL) {
		return NULL;
	}
	q->slice_ticks = SPUR_MAX(spur_us_to_ticks(BDEV_QOS_SLICE_US), 1);
	atomic_store(&q->slice_start, now);
	qos_set_limits(q, limits);
	return q;
}

void
bdev_qos_free(struct bdev_qos *qos)
{
	free(qos);
}

/* Grant the slices that began since slice_start (one thread wins the CAS). */
static void
qos_refill(struct bdev_qos *q, uint64_t now)
{
	uint64_t start = atomic_load_explicit(&q->slice_start, memory_order_relaxed);
	uint64_t n;
	int64_t cap;

	if (now <= start || now - start < q->slice_ticks) {
		return;
	}
	n = (now - start) / q->slice_ticks;
	if (!atomic_compare_exchange_strong(&q->slice_start, &start, start + n * q->slice_ticks)) {
		return;
	}
	n = SPUR_MIN(n, (uint64_t)QOS_MAX_CATCHUP_SLICES);
	cap = atomic_load_explicit(&q->waiting, memory_order_relaxed) > 0 ? QOS_BACKLOG_SLICES :
	      QOS_BURST_SLICES;
	for (int i = 0; i < QOS_NUM_LIMITS; i++) {
		int64_t quota = (int64_t)atomic_load(&q->quota[i]);
		int64_t cur, next;

		if (quota == 0) {
			continue;
		}
		cur = atomic_load(&q->remaining[i]);
		do {
			next = cur + (int64_t)n * quota;
			if (next > cap * quota) {
				next = cap * quota;
			}
		} while (!atomic_compare_exchange_weak(&q->remaining[i], &cur, next));
		atomic_store_explicit(&q->granted[i], next, memory_order_relaxed);
	}
}

bool
bdev_qos_take(struct bdev_qos *q, bool is_read, uint64_t bytes, uint64_t now)
{
	uint64_t cost[QOS_NUM_LIMITS] = {1, bytes, is_read ? bytes : 0, is_read ? 0 : bytes};
	int i;

	qos_refill(q, now);
	for (i = 0; i < QOS_NUM_LIMITS; i++) {
		if (cost[i] != 0 && atomic_load_explicit(&q->quota[i], memory_order_relaxed) != 0 &&
		    atomic_load_explicit(&q->remaining[i], memory_order_relaxed) <= 0) {
			return false;
		}
	}
	for (i = 0; i < QOS_NUM_LIMITS; i++) {
		if (cost[i] != 0 && atomic_load_explicit(&q->quota[i], memory_order_relaxed) != 0) {
			atomic_fetch_sub_explicit(&q->remaining[i], (int64_t)cost[i],
						  memory_order_relaxed);
		}
	}
	return true;
}

/* ---- channels ---------------------------------------------------------------- */

static inline bool
qos_applies(const struct spur_bdev_io *io)
{
	return io->type == SPUR_BDEV_IO_READ || io->type == SPUR_BDEV_IO_WRITE;
}

/* Take tokens for p on ch, within ch's share early in a slice. */
static bool
qos_take_for(struct bdev_channel *ch, struct bdev_io_priv *p, uint64_t now)
{
	struct spur_bdev_io *io = bdev_io_from_priv(p);
	struct bdev_qos *q = ch->qos;
	bool is_read = io->type == SPUR_BDEV_IO_READ;
	uint64_t bytes = io->num_blocks * ch->blocklen;
	uint64_t cost[QOS_NUM_LIMITS] = {1, bytes, is_read ? bytes : 0, is_read ? 0 : bytes};
	uint64_t start;
	uint32_t n;

	qos_refill(q, now);
	start = atomic_load_explicit(&q->slice_start, memory_order_relaxed);
	if (start != ch->qos_slice) {
		ch->qos_slice = start;
		memset(ch->qos_used, 0, sizeof(ch->qos_used));
	}
	if (now >= start && now - start < q->slice_ticks / 2) {
		n = atomic_load_explicit(&q->waiting, memory_order_relaxed) +
		    (ch->qos_head == NULL ? 1u : 0u);
		n = SPUR_MAX(n, 1u);
		for (int i = 0; i < QOS_NUM_LIMITS; i++) {
			uint64_t quota = atomic_load_explicit(&q->quota[i], memory_order_relaxed);
			int64_t granted = atomic_load_explicit(&q->granted[i], memory_order_relaxed);
			uint64_t share = granted > 0 ? (uint64_t)granted / n : 0;

			if (quota != 0 && cost[i] != 0 && ch->qos_used[i] != 0 &&
			    ch->qos_used[i] >= share) {
				return false;
			}
		}
	}
	if (!bdev_qos_take(q, is_read, bytes, now)) {
		return false;
	}
	for (int i = 0; i < QOS_NUM_LIMITS; i++) {
		ch->qos_used[i] += cost[i];
	}
	return true;
}

static struct bdev_io_priv *
qos_pop(struct bdev_channel *ch)
{
	struct bdev_io_priv *p = ch->qos_head;

	ch->qos_head = p->next;
	if (ch->qos_head == NULL) {
		ch->qos_tailp = &ch->qos_head;
		atomic_fetch_sub(&ch->qos->waiting, 1);
	}
	p->next = NULL;
	return p;
}

static int
qos_channel_poll(void *ctx)
{
	struct bdev_channel *ch = ctx;
	uint64_t now = qos_now();
	int released = 0;

	while (ch->qos_head != NULL && ch->qos != NULL && qos_take_for(ch, ch->qos_head, now)) {
		bdev_io_execute(qos_pop(ch));
		released++;
	}
	if (ch->qos_head == NULL && ch->qos_poller != NULL && ch->qos_poller_running) {
		spur_poller_pause(ch->qos_poller);
		ch->qos_poller_running = false;
	}
	return released > 0 ? SPUR_POLLER_BUSY : SPUR_POLLER_IDLE;
}

bool
bdev_qos_queue_if_needed(struct bdev_channel *ch, struct bdev_io_priv *p)
{
	if (!qos_applies(bdev_io_from_priv(p))) {
		return false;
	}
	if (ch->qos_head == NULL && qos_take_for(ch, p, qos_now())) {
		return false;
	}
	p->next = NULL;
	if (ch->qos_head == NULL) {
		atomic_fetch_add(&ch->qos->waiting, 1);
	}
	*ch->qos_tailp = p;
	ch->qos_tailp = &p->next;
	if (!ch->qos_poller_running) {
		spur_poller_resume(ch->qos_poller);
		ch->qos_poller_running = true;
	}
	return true;
}

void
bdev_qos_channel_attach(struct bdev_channel *ch, struct bdev_qos *qos)
{
	if (ch->qos == qos) {
		return;
	}
	if (ch->qos_poller == NULL) {
		ch->qos_poller = spur_poller_register(qos_channel_poll, ch, BDEV_QOS_POLL_US,
						      "bdev_qos");
		if (ch->qos_poller == NULL) {
			SPUR_ERRLOG("bdev %s: no QoS poller on thread %s; limits not applied here",
				    ch->bdev->name, spur_thread_get_name(spur_get_thread()));
			return;
		}
		spur_poller_pause(ch->qos_poller);
		ch->qos_poller_running = false;
	}
	ch->qos = qos;
}

void
bdev_qos_channel_detach(struct bdev_channel *ch, bool resubmit)
{
	struct bdev_io_priv *head = ch->qos_head, *p;

	if (head != NULL) {
		atomic_fetch_sub(&ch->qos->waiting, 1);
	}
	ch->qos_head = NULL;
	ch->qos_tailp = &ch->qos_head;
	ch->qos = NULL;
	spur_poller_unregister(&ch->qos_poller);
	ch->qos_poller_running = false;
	while ((p = head) != NULL) {
		head = p->next;
		p->next = NULL;
		if (resubmit) {
			bdev_io_execute(p);
		} else {
			bdev_io_abort(p);
		}
	}
}

void
bdev_qos_channel_abort(struct bdev_channel *ch)
{
	struct bdev_io_priv *head = ch->qos_head, *p;

	if (head != NULL) {
		atomic_fetch_sub(&ch->qos->waiting, 1);
	}
	ch->qos_head = NULL;
	ch->qos_tailp = &ch->qos_head;
	while ((p = head) != NULL) {
		head = p->next;
		p->next = NULL;
		bdev_io_abort(p);
	}
}

/* ---- setting limits (app thread) -------------------------------------------- */

struct qos_change {
	struct spur_bdev *bdev;
	struct bdev_qos *qos;        /* to attach, or to free after detaching */
	void (*cb)(void *cb_arg, int status);
	void *cb_arg;
	bool enable;
};

static void
qos_change_channel(struct spur_io_channel_iter *i)
{
	struct qos_change *c = spur_io_channel_iter_get_ctx(i);
	struct bdev_channel *ch = spur_io_channel_get_ctx(spur_io_channel_iter_get_channel(i));

	if (c->enable) {
		bdev_qos_channel_attach(ch, c->qos);
	} else if (ch->qos != NULL) {
		bdev_qos_channel_detach(ch, true);
	}
	spur_for_each_channel_continue(i, 0);
}

static void
qos_change_done(struct spur_io_channel_iter *i, int status)
{
	struct qos_change *c = spur_io_channel_iter_get_ctx(i);

	c->bdev->internal->qos_busy = false;
	if (!c->enable) {
		bdev_qos_free(c->qos);
	}
	SPUR_DEBUGLOG("bdev", "%s: QoS %s", c->bdev->name, c->enable ? "enabled" : "disabled");
	if (c->cb != NULL) {
		c->cb(c->cb_arg, status == -ENODEV ? 0 : status);
	}
	free(c);
}

static void
qos_change_now_done(void *arg)
{
	struct qos_change *c = arg;

	if (c->cb != NULL) {
		c->cb(c->cb_arg, 0);
	}
	free(c);
}

int
spur_bdev_set_qos_limits(struct spur_bdev *bdev, const struct spur_bdev_qos_limits *limits,
			 void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	uint64_t l[QOS_NUM_LIMITS];
	struct spur_bdev_internal *in;
	struct qos_change *c;
	struct bdev_qos *qos;
	bool any = false;

	if (bdev == NULL || bdev->internal == NULL || limits == NULL) {
		return -EINVAL;
	}
	in = bdev->internal;
	l[QOS_RW_IOPS] = limits->rw_ios_per_sec;
	l[QOS_RW_BPS] = limits->rw_mbytes_per_sec;
	l[QOS_R_BPS] = limits->r_mbytes_per_sec;
	l[QOS_W_BPS] = limits->w_mbytes_per_sec;
	if (l[QOS_RW_IOPS] % SPUR_BDEV_QOS_IOS_MULTIPLE != 0) {
		SPUR_ERRLOG("bdev %s: rw_ios_per_sec %" PRIu64 " is not a multiple of %u",
			    bdev->name, l[QOS_RW_IOPS], SPUR_BDEV_QOS_IOS_MULTIPLE);
		return -EINVAL;
	}
	for (int i = 0; i < QOS_NUM_LIMITS; i++) {
		/* Bounded so that bytes per second fit in 63 bits. */
		if (i != QOS_RW_IOPS && l[i] > (UINT64_C(1) << 40)) {
			return -EINVAL;
		}
		any |= l[i] != 0;
	}
	if (atomic_load(&in->status) != BDEV_STATE_REGISTERED) {
		return -ENODEV;
	}
	if (in->qos_busy) {
		return -EBUSY;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return -ENOMEM;
	}
	c->bdev = bdev;
	c->cb = cb;
	c->cb_arg = cb_arg;
	for (int i = 0; i < QOS_NUM_LIMITS; i++) {
		in->qos_limits[i] = l[i];
	}
	qos = atomic_load(&in->qos);
	if ((qos != NULL) == any) {
		/* Unchanged state: update in place (or nothing to do). */
		if (qos != NULL) {
			qos_set_limits(qos, l);
		}
		if (spur_thread_send_msg(spur_get_thread(), qos_change_now_done, c) != 0) {
			qos_change_now_done(c);
		}
		return 0;
	}
	if (any) {
		qos = bdev_qos_alloc(l, qos_now());
		if (qos == NULL) {
			free(c);
			return -ENOMEM;
		}
		c->enable = true;
		atomic_store(&in->qos, qos);
	} else {
		atomic_store(&in->qos, NULL);
	}
	c->qos = qos;
	in->qos_busy = true;
	spur_for_each_channel(bdev_io_dev(bdev), qos_change_channel, c, qos_change_done);
	return 0;
}

void
spur_bdev_get_qos_limits(const struct spur_bdev *bdev, struct spur_bdev_qos_limits *limits)
{
	const struct spur_bdev_internal *in = bdev->internal;

	limits->rw_ios_per_sec = in->qos_limits[QOS_RW_IOPS];
	limits->rw_mbytes_per_sec = in->qos_limits[QOS_RW_BPS];
	limits->r_mbytes_per_sec = in->qos_limits[QOS_R_BPS];
	limits->w_mbytes_per_sec = in->qos_limits[QOS_W_BPS];
}
