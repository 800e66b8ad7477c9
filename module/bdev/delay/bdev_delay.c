/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The delay bdev: forwards every request to a claimed base bdev and holds
 * read and write completions until a configured latency has passed since
 * the request was submitted, to emulate a slower device.
 *
 * Timing: at submit, a read or write is given a due time, submit time plus
 * the average latency of its kind or, for about one request in a hundred
 * (a per-channel PRNG), the p99 latency. When the base completes, a request
 * already due completes at once; otherwise it joins its channel's 'held'
 * list, kept sorted by due time (inserted from the tail, where it nearly
 * always belongs). A timed poller per channel, paused while 'held' is empty,
 * completes the due ones; its period is a tenth of the smallest non-zero
 * latency (1..1000 us), so a request completes at most one period late.
 * The base's time counts towards the latency: a base slower than the
 * latency adds nothing. Unmap, write_zeroes, flush and reset are not
 * delayed. A reset first completes every held request of every channel
 * with SPUR_BDEV_ERR_ABORTED (as SPDK's delay bdev does), then resets the
 * base.
 *
 * Lifecycle: the stacked-bdev helper's (module/bdev/common/vbdev_base.h:
 * create: open, claim, io_device, register; delete or base hot-remove:
 * unregister; destruct: io_device unregister, then release and close the
 * base on the app thread), with the helper's read-only descriptor of the
 * delay bdev itself: its REMOVE event, whoever unregistered the bdev,
 * completes every held request at once with the base's status, then closes
 * the self descriptor, so a long latency never holds up a deletion or the
 * shutdown. The helper also forwards requests to the base (riding out a
 * base out of requests on its wait queue); this file decides when their
 * completions are let through.
 *
 * Threading: the descriptor, the claim and 'removing' belong to the app
 * thread. Latencies are written on the app thread and read by I/O threads
 * (relaxed atomics: a request sees the old or the new value). A channel,
 * its held list and its poller belong to the channel's thread; a latency
 * update re-registers each channel's poller there (spur_for_each_channel).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/queue.h>

#include "bdev_delay.h"
#include "module/bdev/common/bdev_util.h"
#include "module/bdev/common/vbdev_base.h"
#include "spur/log.h"
#include "spur/thread.h"
#include "spur/util.h"

struct delay_bdev {
	struct vbdev_base vb; /* first: the helper frees the device */
	/*
	 * Set (app thread) on the REMOVE event of our own bdev (delete, base
	 * hot-remove, the layer's shutdown): base completions are no longer
	 * held, so openers never wait out a long latency to close.
	 */
	atomic_bool released;
	_Atomic uint64_t latency_us[BDEV_DELAY_NUM_LATENCIES];
	_Atomic uint64_t latency_ticks[BDEV_DELAY_NUM_LATENCIES];
};

struct delay_io;

struct delay_channel {
	struct vbdev_base_channel base; /* first: the base's channel */
	struct delay_bdev *dl;
	TAILQ_HEAD(delay_io_list, delay_io) held; /* sorted by due, earliest first */
	struct spur_poller *poller;
	bool poller_running;
	uint64_t rng;
};

/* Per request, in io->driver_ctx. */
struct delay_io {
	struct vbdev_base_io bio; /* first: the forwarding state */
	struct delay_channel *ch;
	uint64_t due; /* ticks; 0: no delay */
	int status;   /* the base's, while held */
	TAILQ_ENTRY(delay_io) link;
};

/* The helper reaches these through their first member. */
_Static_assert(offsetof(struct delay_bdev, vb) == 0, "vbdev_base first");
_Static_assert(offsetof(struct delay_channel, base) == 0, "vbdev_base_channel first");
_Static_assert(offsetof(struct delay_io, bio) == 0, "vbdev_base_io first");

static inline struct delay_bdev *
delay_of(struct vbdev_base *vb)
{
	return SPUR_CONTAINER_OF(vb, struct delay_bdev, vb);
}

static const char *const g_latency_names[BDEV_DELAY_NUM_LATENCIES] = {
	[BDEV_DELAY_AVG_READ] = "avg_read",
	[BDEV_DELAY_P99_READ] = "p99_read",
	[BDEV_DELAY_AVG_WRITE] = "avg_write",
	[BDEV_DELAY_P99_WRITE] = "p99_write",
};

const char *
bdev_delay_latency_name(enum bdev_delay_latency type)
{
	return type < BDEV_DELAY_NUM_LATENCIES ? g_latency_names[type] : "unknown";
}

int
bdev_delay_latency_parse(const char *name)
{
	for (int i = 0; i < BDEV_DELAY_NUM_LATENCIES; i++) {
		if (strcmp(name, g_latency_names[i]) == 0)
			return i;
	}
	return -EINVAL;
}

size_t
bdev_delay_get_ctx_size(void)
{
	return sizeof(struct delay_io);
}

uint64_t
bdev_delay_poll_period_us(const uint64_t latency_us[BDEV_DELAY_NUM_LATENCIES])
{
	uint64_t min = 0;

	for (int i = 0; i < BDEV_DELAY_NUM_LATENCIES; i++) {
		if (latency_us[i] != 0 && (min == 0 || latency_us[i] < min))
			min = latency_us[i];
	}
	if (min == 0)
		return 1000;
	return SPUR_MAX(SPUR_MIN(min / 10, 1000), 1);
}

/* xorshift64*: cheap, and good enough to pick one request in a hundred. */
bool
bdev_delay_pick_p99(uint64_t *rng)
{
	uint64_t x = *rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*rng = x;
	return (x * 2685821657736338717ull) % 100 == 0;
}

static void
delay_load_latencies(struct delay_bdev *dl, uint64_t us[BDEV_DELAY_NUM_LATENCIES])
{
	for (int i = 0; i < BDEV_DELAY_NUM_LATENCIES; i++)
		us[i] = atomic_load_explicit(&dl->latency_us[i], memory_order_relaxed);
}

/* ---- channels ---------------------------------------------------------------- */

static int delay_poll(void *arg);

static struct spur_poller *
delay_poller_register(struct delay_channel *ch)
{
	uint64_t us[BDEV_DELAY_NUM_LATENCIES];

	delay_load_latencies(ch->dl, us);
	return spur_poller_register(delay_poll, ch, bdev_delay_poll_period_us(us), "bdev_delay");
}

/* The helper takes the base's channel after this and puts it after destroy. */
static int
delay_channel_create(struct vbdev_base *vb, void *ctx)
{
	struct delay_channel *ch = ctx;

	ch->dl = delay_of(vb);
	TAILQ_INIT(&ch->held);
	ch->rng = (spur_get_ticks() ^ (uint64_t)(uintptr_t)ch) | 1;
	ch->poller = delay_poller_register(ch);
	if (ch->poller == NULL)
		return -ENOMEM;
	spur_poller_pause(ch->poller);
	return 0;
}

static void
delay_channel_destroy(struct vbdev_base *vb, void *ctx)
{
	struct delay_channel *ch = ctx;

	(void)vb;
	/* The layer holds the channel while any request is in flight. */
	if (!TAILQ_EMPTY(&ch->held))
		SPUR_ERRLOG("delay channel destroyed with held requests\n");
	spur_poller_unregister(&ch->poller);
}

/* ---- I/O --------------------------------------------------------------------- */

static void
delay_hold(struct delay_channel *ch, struct delay_io *ctx)
{
	struct delay_io *it;

	TAILQ_FOREACH_REVERSE(it, &ch->held, delay_io_list, link) {
		if (it->due <= ctx->due) {
			TAILQ_INSERT_AFTER(&ch->held, it, ctx, link);
			goto inserted;
		}
	}
	TAILQ_INSERT_HEAD(&ch->held, ctx, link);
inserted:
	if (!ch->poller_running) {
		ch->poller_running = true;
		spur_poller_resume(ch->poller);
	}
}

static int
delay_poll(void *arg)
{
	struct delay_channel *ch = arg;
	uint64_t now = spur_get_ticks();
	struct delay_io *ctx;
	int done = 0;

	while ((ctx = TAILQ_FIRST(&ch->held)) != NULL && ctx->due <= now) {
		TAILQ_REMOVE(&ch->held, ctx, link);
		spur_bdev_io_complete(ctx->bio.io, ctx->status);
		done++;
	}
	if (TAILQ_EMPTY(&ch->held) && ch->poller_running) {
		ch->poller_running = false;
		spur_poller_pause(ch->poller);
	}
	return done > 0 ? SPUR_POLLER_BUSY : SPUR_POLLER_IDLE;
}

/* The base finished (its request already freed): complete now or hold until due. */
static void
delay_base_done(struct vbdev_base_io *bio, int status)
{
	struct delay_io *ctx = SPUR_CONTAINER_OF(bio, struct delay_io, bio);

	if (ctx->due == 0 || ctx->due <= spur_get_ticks() ||
	    atomic_load_explicit(&ctx->ch->dl->released, memory_order_relaxed)) {
		spur_bdev_io_complete(bio->io, status);
		return;
	}
	ctx->status = status;
	delay_hold(ctx->ch, ctx);
}

/*
 * On each channel's thread: stop holding. A reset aborts the held requests
 * (as SPDK's delay bdev does); a removal completes them with the base's
 * status, only sooner than their latency.
 */
static void
delay_release_channel(struct spur_io_channel_iter *i, bool abort)
{
	struct delay_channel *ch = spur_io_channel_get_ctx(spur_io_channel_iter_get_channel(i));
	struct delay_io *ctx;

	while ((ctx = TAILQ_FIRST(&ch->held)) != NULL) {
		TAILQ_REMOVE(&ch->held, ctx, link);
		spur_bdev_io_complete(ctx->bio.io, abort ? SPUR_BDEV_ERR_ABORTED : ctx->status);
	}
	spur_for_each_channel_continue(i, 0);
}

static void
delay_abort_channel(struct spur_io_channel_iter *i)
{
	delay_release_channel(i, true);
}

static void
delay_flush_channel(struct spur_io_channel_iter *i)
{
	delay_release_channel(i, false);
}

static void
delay_abort_done(struct spur_io_channel_iter *i, int status)
{
	struct delay_io *ctx = spur_io_channel_iter_get_ctx(i);

	(void)status;
	vbdev_base_submit(&ctx->bio);
}

static void
delay_submit(struct spur_io_channel *ch, struct spur_bdev_io *io)
{
	struct vbdev_base_io *bio = vbdev_base_io_init(ch, io);
	struct delay_io *ctx = SPUR_CONTAINER_OF(bio, struct delay_io, bio);
	struct delay_channel *dch = spur_io_channel_get_ctx(ch);
	struct delay_bdev *dl = dch->dl;
	int kind;

	ctx->ch = dch;
	ctx->due = 0;
	switch (io->type) {
	case SPUR_BDEV_IO_READ:
	case SPUR_BDEV_IO_WRITE:
		kind = io->type == SPUR_BDEV_IO_READ ? BDEV_DELAY_AVG_READ : BDEV_DELAY_AVG_WRITE;
		if (bdev_delay_pick_p99(&dch->rng))
			kind++; /* the p99 latency follows the average of its kind */
		ctx->due = atomic_load_explicit(&dl->latency_ticks[kind], memory_order_relaxed);
		if (ctx->due != 0)
			ctx->due += spur_get_ticks();
		break;
	case SPUR_BDEV_IO_RESET:
		spur_for_each_channel(&dl->vb, delay_abort_channel, ctx, delay_abort_done);
		return;
	default:
		break;
	}
	vbdev_base_submit(bio);
}

/* ---- latency updates ----------------------------------------------------------- */

static void
delay_repoll_channel(struct spur_io_channel_iter *i)
{
	struct delay_channel *ch = spur_io_channel_get_ctx(spur_io_channel_iter_get_channel(i));
	struct spur_poller *p = delay_poller_register(ch);

	if (p != NULL) {
		spur_poller_unregister(&ch->poller);
		ch->poller = p;
		if (!ch->poller_running)
			spur_poller_pause(p);
	}
	spur_for_each_channel_continue(i, 0);
}

static void
delay_repoll_done(struct spur_io_channel_iter *i, int status)
{
	(void)i;
	(void)status;
}

static void
delay_set_latency(struct delay_bdev *dl, enum bdev_delay_latency type, uint64_t us)
{
	atomic_store_explicit(&dl->latency_us[type], us, memory_order_relaxed);
	atomic_store_explicit(&dl->latency_ticks[type], spur_us_to_ticks(us),
			      memory_order_relaxed);
}

static struct delay_bdev *
delay_find(const char *name)
{
	struct vbdev_base *vb = vbdev_base_find(name, &spur_bdev_delay_module);

	return vb != NULL ? delay_of(vb) : NULL;
}

int
bdev_delay_update_latency(const char *name, enum bdev_delay_latency type, uint64_t us)
{
	struct delay_bdev *dl = delay_find(name);

	if (dl == NULL || dl->vb.removing)
		return -ENODEV;
	if (type >= BDEV_DELAY_NUM_LATENCIES || us > BDEV_DELAY_MAX_LATENCY_US)
		return -EINVAL;
	SPUR_DEBUGLOG("bdev_delay", "%s: %s latency %" PRIu64 " -> %" PRIu64 " us\n", name,
		      g_latency_names[type],
		      atomic_load_explicit(&dl->latency_us[type], memory_order_relaxed), us);
	delay_set_latency(dl, type, us);
	spur_for_each_channel(&dl->vb, delay_repoll_channel, NULL, delay_repoll_done);
	return 0;
}

int
bdev_delay_get_latency(const char *name, enum bdev_delay_latency type, uint64_t *us)
{
	struct delay_bdev *dl = delay_find(name);

	if (dl == NULL)
		return -ENODEV;
	if (type >= BDEV_DELAY_NUM_LATENCIES)
		return -EINVAL;
	*us = atomic_load_explicit(&dl->latency_us[type], memory_order_relaxed);
	return 0;
}

/* ---- lifecycle --------------------------------------------------------------- */

static json_t *
delay_params_json(struct delay_bdev *dl)
{
	uint64_t us[BDEV_DELAY_NUM_LATENCIES];

	delay_load_latencies(dl, us);
	return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "name", dl->vb.bdev.name,
			 "base_bdev_name", dl->vb.base_name, "avg_read_latency",
			 (json_int_t)us[BDEV_DELAY_AVG_READ], "p99_read_latency",
			 (json_int_t)us[BDEV_DELAY_P99_READ], "avg_write_latency",
			 (json_int_t)us[BDEV_DELAY_AVG_WRITE], "p99_write_latency",
			 (json_int_t)us[BDEV_DELAY_P99_WRITE]);
}

static void
delay_write_config(struct spur_bdev *bdev, json_t *config)
{
	vbdev_base_write_config(bdev, config, "bdev_delay_create",
				delay_params_json(delay_of(bdev->ctxt)));
}

static void
delay_dump_info(void *ctx, json_t *driver_specific)
{
	json_t *info = delay_params_json(delay_of(ctx));

	if (info != NULL)
		json_object_set_new(driver_specific, "delay", info);
}

static void
delay_flushed(struct spur_io_channel_iter *i, int status)
{
	struct delay_bdev *dl = spur_io_channel_iter_get_ctx(i);

	(void)status;
	vbdev_base_close_self(&dl->vb);
}

/* Our bdev is going away, whoever asked: release the held requests. */
static void
delay_self_event(struct vbdev_base *vb)
{
	struct delay_bdev *dl = delay_of(vb);

	/* Before the walk: a channel visited after this sees it in its base completions. */
	atomic_store_explicit(&dl->released, true, memory_order_relaxed);
	spur_for_each_channel(vb, delay_flush_channel, dl, delay_flushed);
}

static const struct spur_bdev_fn_table g_delay_fn_table = {
	.destruct = vbdev_base_destruct,
	.submit_request = delay_submit,
	.io_type_supported = vbdev_base_io_type_supported,
	.get_io_channel = bdev_util_get_io_channel,
	.dump_info_json = delay_dump_info,
	.write_config_json = delay_write_config,
};

static const struct vbdev_base_ops g_delay_ops = {
	.module = &spur_bdev_delay_module,
	.fn_table = &g_delay_fn_table,
	.product_name = "delay",
	.log_component = "bdev_delay",
	.remove_noun = "delay bdev ",
	.channel_size = sizeof(struct delay_channel),
	.channel_create = delay_channel_create,
	.channel_destroy = delay_channel_destroy,
	.base_done = delay_base_done,
	.self_event = delay_self_event,
};

int
bdev_delay_create(const char *base_name, const char *name,
		  const uint64_t latency_us[BDEV_DELAY_NUM_LATENCIES], const uint8_t *uuid,
		  char *err, size_t err_len)
{
	struct vbdev_base *vb;
	int rc;

	for (int i = 0; i < BDEV_DELAY_NUM_LATENCIES; i++) {
		if (latency_us[i] > BDEV_DELAY_MAX_LATENCY_US)
			return bdev_util_fail(err, err_len, -EINVAL,
					      "%s_latency must be at most %llu us",
					      g_latency_names[i], BDEV_DELAY_MAX_LATENCY_US);
	}
	rc = vbdev_base_alloc(sizeof(struct delay_bdev), name, base_name, &vb, err, err_len);
	if (rc != 0)
		return rc;
	for (int i = 0; i < BDEV_DELAY_NUM_LATENCIES; i++)
		delay_set_latency(delay_of(vb), i, latency_us[i]);
	return vbdev_base_register(vb, &g_delay_ops, uuid, err, err_len);
}

int
bdev_delay_delete(const char *name, void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	return vbdev_base_delete(name, &spur_bdev_delay_module, cb, cb_arg);
}
