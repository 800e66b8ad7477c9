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
 * Lifecycle: as the passthru bdev (create: open, claim, io_device,
 * register; delete or base hot-remove: unregister; destruct: io_device
 * unregister, then release and close the base on the app thread), plus a
 * read-only descriptor of the delay bdev itself ('self_desc'): its REMOVE
 * event, whoever unregistered the bdev, completes every held request at
 * once with the base's status, then closes the self descriptor, so a long
 * latency never holds up a deletion or the shutdown.
 *
 * Threading: the descriptor, the claim and 'removing' belong to the app
 * thread. Latencies are written on the app thread and read by I/O threads
 * (relaxed atomics: a request sees the old or the new value). A channel,
 * its held list and its poller belong to the channel's thread; a latency
 * update re-registers each channel's poller there (spur_for_each_channel).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "bdev_delay.h"
#include "spur/log.h"
#include "spur/thread.h"
#include "spur/util.h"

struct delay_bdev {
	struct spur_bdev bdev;
	struct spur_bdev *base;
	struct spur_bdev_desc *base_desc;
	char *base_name;
	bool removing;
	/*
	 * Our own bdev, open read-only: on its REMOVE event (delete, base
	 * hot-remove, the layer's shutdown) held requests complete at once, so
	 * openers never wait out a long latency to close.
	 */
	struct spur_bdev_desc *self_desc;
	/* Set (app thread) on REMOVE: base completions are no longer held. */
	atomic_bool released;
	_Atomic uint64_t latency_us[BDEV_DELAY_NUM_LATENCIES];
	_Atomic uint64_t latency_ticks[BDEV_DELAY_NUM_LATENCIES];
};

struct delay_io;

struct delay_channel {
	struct spur_io_channel *base_ch;
	struct delay_bdev *dl;
	TAILQ_HEAD(delay_io_list, delay_io) held; /* sorted by due, earliest first */
	struct spur_poller *poller;
	bool poller_running;
	uint64_t rng;
};

/* Per request, in io->driver_ctx. */
struct delay_io {
	struct spur_bdev_io *io;
	struct delay_channel *ch;
	struct spur_bdev_io_wait_entry wait;
	uint64_t due; /* ticks; 0: no delay */
	int status;   /* the base's, while held */
	TAILQ_ENTRY(delay_io) link;
};

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

static int
delay_channel_create(void *io_device, void *ctx)
{
	struct delay_bdev *dl = io_device;
	struct delay_channel *ch = ctx;

	ch->dl = dl;
	TAILQ_INIT(&ch->held);
	ch->rng = (spur_get_ticks() ^ (uint64_t)(uintptr_t)ch) | 1;
	ch->poller = delay_poller_register(ch);
	if (ch->poller == NULL)
		return -ENOMEM;
	spur_poller_pause(ch->poller);
	ch->base_ch = spur_bdev_get_io_channel(dl->base_desc);
	if (ch->base_ch == NULL) {
		spur_poller_unregister(&ch->poller);
		return -ENOMEM;
	}
	return 0;
}

static void
delay_channel_destroy(void *io_device, void *ctx)
{
	struct delay_channel *ch = ctx;

	(void)io_device;
	/* The layer holds the channel while any request is in flight. */
	if (!TAILQ_EMPTY(&ch->held))
		SPUR_ERRLOG("delay channel destroyed with held requests\n");
	spur_poller_unregister(&ch->poller);
	spur_put_io_channel(ch->base_ch);
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
		spur_bdev_io_complete(ctx->io, ctx->status);
		done++;
	}
	if (TAILQ_EMPTY(&ch->held) && ch->poller_running) {
		ch->poller_running = false;
		spur_poller_pause(ch->poller);
	}
	return done > 0 ? SPUR_POLLER_BUSY : SPUR_POLLER_IDLE;
}

static void
delay_base_done(struct spur_bdev_io *base_io, int status, void *cb_arg)
{
	struct delay_io *ctx = cb_arg;

	spur_bdev_free_io(base_io);
	if (ctx->due == 0 || ctx->due <= spur_get_ticks() ||
	    atomic_load_explicit(&ctx->ch->dl->released, memory_order_relaxed)) {
		spur_bdev_io_complete(ctx->io, status);
		return;
	}
	ctx->status = status;
	delay_hold(ctx->ch, ctx);
}

static int
delay_status_of(int rc)
{
	switch (rc) {
	case -ENOTSUP:
		return SPUR_BDEV_ERR_UNSUPPORTED;
	case -ENODEV:
		return SPUR_BDEV_ERR_ABORTED;
	case -EINVAL:
		return SPUR_BDEV_ERR_RANGE;
	default:
		return SPUR_BDEV_ERR_IO;
	}
}

static int
delay_forward(struct delay_bdev *dl, struct delay_io *ctx)
{
	struct spur_bdev_io *io = ctx->io;
	struct spur_bdev_desc *desc = dl->base_desc;
	struct spur_io_channel *bch = ctx->ch->base_ch;

	switch (io->type) {
	case SPUR_BDEV_IO_READ:
		return spur_bdev_readv_blocks(desc, bch, io->iovs, io->iovcnt, io->offset_blocks,
					      io->num_blocks, delay_base_done, ctx);
	case SPUR_BDEV_IO_WRITE:
		return spur_bdev_writev_blocks(desc, bch, io->iovs, io->iovcnt, io->offset_blocks,
					       io->num_blocks, io->flags, delay_base_done, ctx);
	case SPUR_BDEV_IO_UNMAP:
		return spur_bdev_unmap_blocks(desc, bch, io->offset_blocks, io->num_blocks,
					      delay_base_done, ctx);
	case SPUR_BDEV_IO_WRITE_ZEROES:
		return spur_bdev_write_zeroes_blocks(desc, bch, io->offset_blocks, io->num_blocks,
						     io->flags, delay_base_done, ctx);
	case SPUR_BDEV_IO_FLUSH:
		return spur_bdev_flush_blocks(desc, bch, io->offset_blocks, io->num_blocks,
					      delay_base_done, ctx);
	case SPUR_BDEV_IO_RESET:
		return spur_bdev_reset(desc, bch, delay_base_done, ctx);
	default:
		return -ENOTSUP;
	}
}

static void delay_resubmit(void *arg);

static void
delay_submit_ctx(struct delay_io *ctx)
{
	struct delay_bdev *dl = ctx->io->bdev->ctxt;
	int rc = delay_forward(dl, ctx);

	if (spur_likely(rc == 0))
		return;
	if (rc == -ENOMEM) {
		SPUR_DEBUGLOG("bdev_delay", "%s: base out of requests, waiting\n",
			      ctx->io->bdev->name);
		ctx->wait.bdev = dl->base;
		ctx->wait.cb_fn = delay_resubmit;
		ctx->wait.cb_arg = ctx;
		if (spur_bdev_queue_io_wait(dl->base, ctx->ch->base_ch, &ctx->wait) == 0)
			return;
	}
	spur_bdev_io_complete(ctx->io, delay_status_of(rc));
}

static void
delay_resubmit(void *arg)
{
	delay_submit_ctx(arg);
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
		spur_bdev_io_complete(ctx->io, abort ? SPUR_BDEV_ERR_ABORTED : ctx->status);
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
	(void)status;
	delay_submit_ctx(spur_io_channel_iter_get_ctx(i));
}

static void
delay_submit(struct spur_io_channel *ch, struct spur_bdev_io *io)
{
	struct delay_io *ctx = (struct delay_io *)io->driver_ctx;
	struct delay_channel *dch = spur_io_channel_get_ctx(ch);
	struct delay_bdev *dl = dch->dl;
	int kind;

	ctx->io = io;
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
		spur_for_each_channel(dl, delay_abort_channel, ctx, delay_abort_done);
		return;
	default:
		break;
	}
	delay_submit_ctx(ctx);
}

static bool
delay_io_type_supported(void *ctx, enum spur_bdev_io_type type)
{
	struct delay_bdev *dl = ctx;

	return spur_bdev_io_type_supported(dl->base, type);
}

static struct spur_io_channel *
delay_get_io_channel(void *ctx)
{
	return spur_get_io_channel(ctx);
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
	struct spur_bdev *bdev = spur_bdev_get_by_name(name);

	if (bdev == NULL || bdev->module != &spur_bdev_delay_module)
		return NULL;
	return bdev->ctxt;
}

int
bdev_delay_update_latency(const char *name, enum bdev_delay_latency type, uint64_t us)
{
	struct delay_bdev *dl = delay_find(name);

	if (dl == NULL || dl->removing)
		return -ENODEV;
	if (type >= BDEV_DELAY_NUM_LATENCIES || us > BDEV_DELAY_MAX_LATENCY_US)
		return -EINVAL;
	SPUR_DEBUGLOG("bdev_delay", "%s: %s latency %" PRIu64 " -> %" PRIu64 " us\n", name,
		      g_latency_names[type],
		      atomic_load_explicit(&dl->latency_us[type], memory_order_relaxed), us);
	delay_set_latency(dl, type, us);
	spur_for_each_channel(dl, delay_repoll_channel, NULL, delay_repoll_done);
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

static void
delay_free(struct delay_bdev *dl)
{
	free(dl->bdev.name);
	free(dl->base_name);
	free(dl);
}

static void
delay_io_device_gone(void *io_device)
{
	struct delay_bdev *dl = io_device;

	SPUR_DEBUGLOG("bdev_delay", "%s: releasing base %s\n", dl->bdev.name, dl->base_name);
	spur_bdev_module_release_bdev(dl->base);
	spur_bdev_close(dl->base_desc);
	spur_bdev_destruct_done(&dl->bdev);
	delay_free(dl);
}

static void
delay_teardown(void *ctx)
{
	spur_io_device_unregister(ctx, delay_io_device_gone);
}

static int
delay_destruct(void *ctx)
{
	struct spur_thread *app = spur_get_app_thread();

	if (app != NULL && spur_get_thread() != app &&
	    spur_thread_send_msg(app, delay_teardown, ctx) == 0)
		return 1;
	delay_teardown(ctx);
	return 1;
}

static json_t *
delay_params_json(struct delay_bdev *dl)
{
	uint64_t us[BDEV_DELAY_NUM_LATENCIES];

	delay_load_latencies(dl, us);
	return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "name", dl->bdev.name,
			 "base_bdev_name", dl->base_name, "avg_read_latency",
			 (json_int_t)us[BDEV_DELAY_AVG_READ], "p99_read_latency",
			 (json_int_t)us[BDEV_DELAY_P99_READ], "avg_write_latency",
			 (json_int_t)us[BDEV_DELAY_AVG_WRITE], "p99_write_latency",
			 (json_int_t)us[BDEV_DELAY_P99_WRITE]);
}

static void
delay_write_config(struct spur_bdev *bdev, json_t *config)
{
	char uuid[40];
	json_t *params = delay_params_json(bdev->ctxt);

	if (params == NULL)
		return;
	spur_bdev_get_uuid_str(bdev, uuid, sizeof(uuid));
	json_object_set_new(params, "uuid", json_string(uuid));
	spur_bdev_config_add(config, "bdev_delay_create", params);
	json_decref(params);
}

static void
delay_dump_info(void *ctx, json_t *driver_specific)
{
	json_t *info = delay_params_json(ctx);

	if (info != NULL)
		json_object_set_new(driver_specific, "delay", info);
}

static const struct spur_bdev_fn_table g_delay_fn_table = {
	.destruct = delay_destruct,
	.submit_request = delay_submit,
	.io_type_supported = delay_io_type_supported,
	.get_io_channel = delay_get_io_channel,
	.dump_info_json = delay_dump_info,
	.write_config_json = delay_write_config,
};

static void
delay_unregistered(void *cb_arg, int status)
{
	(void)cb_arg;
	if (status != 0)
		SPUR_ERRLOG("delay bdev unregister failed: %s\n", strerror(-status));
}

static void
delay_base_event(enum spur_bdev_event event, struct spur_bdev *base, void *ctx)
{
	struct delay_bdev *dl = ctx;
	int rc;

	switch (event) {
	case SPUR_BDEV_EVENT_REMOVE:
		if (dl->removing)
			return;
		SPUR_NOTICELOG("base bdev %s of delay bdev %s removed: removing %s\n",
			       dl->base_name, dl->bdev.name, dl->bdev.name);
		dl->removing = true;
		spur_bdev_unregister(&dl->bdev, delay_unregistered, NULL);
		break;
	case SPUR_BDEV_EVENT_RESIZE:
		rc = spur_bdev_notify_blockcnt_change(&dl->bdev, spur_bdev_get_num_blocks(base));
		if (rc != 0)
			SPUR_ERRLOG("%s: cannot follow the resize of %s: %s\n", dl->bdev.name,
				    dl->base_name, strerror(-rc));
		break;
	}
}

static void
delay_flushed(struct spur_io_channel_iter *i, int status)
{
	struct delay_bdev *dl = spur_io_channel_iter_get_ctx(i);

	(void)status;
	if (dl->self_desc != NULL) {
		spur_bdev_close(dl->self_desc);
		dl->self_desc = NULL;
	}
}

/* Our bdev is going away, whoever asked: release the held requests. */
static void
delay_self_event(enum spur_bdev_event event, struct spur_bdev *bdev, void *ctx)
{
	struct delay_bdev *dl = ctx;

	(void)bdev;
	if (event != SPUR_BDEV_EVENT_REMOVE || dl->self_desc == NULL)
		return;
	dl->removing = true;
	/* Before the walk: a channel visited after this sees it in its base completions. */
	atomic_store_explicit(&dl->released, true, memory_order_relaxed);
	spur_for_each_channel(dl, delay_flush_channel, dl, delay_flushed);
}

static int
delay_fail(char *err, size_t err_len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
delay_fail(char *err, size_t err_len, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && err_len > 0) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static void
delay_abandoned(void *io_device)
{
	delay_free(io_device);
}

int
bdev_delay_create(const char *base_name, const char *name,
		  const uint64_t latency_us[BDEV_DELAY_NUM_LATENCIES], const uint8_t *uuid,
		  char *err, size_t err_len)
{
	struct delay_bdev *dl;
	struct spur_bdev *base;
	int rc;

	for (int i = 0; i < BDEV_DELAY_NUM_LATENCIES; i++) {
		if (latency_us[i] > BDEV_DELAY_MAX_LATENCY_US)
			return delay_fail(err, err_len, -EINVAL,
					  "%s_latency must be at most %llu us", g_latency_names[i],
					  BDEV_DELAY_MAX_LATENCY_US);
	}
	if (spur_bdev_get_by_name(name) != NULL)
		return delay_fail(err, err_len, -EEXIST, "bdev '%s' already exists", name);
	dl = calloc(1, sizeof(*dl));
	if (dl == NULL || (dl->bdev.name = strdup(name)) == NULL ||
	    (dl->base_name = strdup(base_name)) == NULL) {
		if (dl != NULL)
			delay_free(dl);
		return delay_fail(err, err_len, -ENOMEM, "out of memory");
	}
	for (int i = 0; i < BDEV_DELAY_NUM_LATENCIES; i++)
		delay_set_latency(dl, i, latency_us[i]);
	rc = spur_bdev_open(base_name, true, delay_base_event, dl, &dl->base_desc);
	if (rc != 0) {
		delay_free(dl);
		if (rc == -ENODEV)
			return delay_fail(err, err_len, rc, "bdev '%s' not found", base_name);
		if (rc == -EPERM)
			return delay_fail(err, err_len, rc, "bdev '%s' is already claimed",
					  base_name);
		return delay_fail(err, err_len, rc, "cannot open bdev '%s': %s", base_name,
				  strerror(-rc));
	}
	base = spur_bdev_desc_get_bdev(dl->base_desc);
	rc = spur_bdev_module_claim_bdev(base, dl->base_desc, &spur_bdev_delay_module);
	if (rc != 0) {
		spur_bdev_close(dl->base_desc);
		delay_free(dl);
		return delay_fail(err, err_len, rc, "bdev '%s' is already claimed", base_name);
	}
	dl->base = base;
	dl->bdev.product_name = "delay";
	dl->bdev.blocklen = base->blocklen;
	dl->bdev.blockcnt = base->blockcnt;
	if (uuid != NULL)
		memcpy(dl->bdev.uuid, uuid, sizeof(dl->bdev.uuid));
	dl->bdev.write_cache = base->write_cache;
	dl->bdev.required_alignment = base->required_alignment;
	dl->bdev.max_transfer_blocks = base->max_transfer_blocks;
	dl->bdev.optimal_io_boundary = base->optimal_io_boundary;
	dl->bdev.split_on_optimal_io_boundary = base->split_on_optimal_io_boundary;
	dl->bdev.max_unmap_blocks = base->max_unmap_blocks;
	dl->bdev.max_write_zeroes_blocks = base->max_write_zeroes_blocks;
	dl->bdev.ctxt = dl;
	dl->bdev.fn_table = &g_delay_fn_table;
	dl->bdev.module = &spur_bdev_delay_module;

	spur_io_device_register(dl, delay_channel_create, delay_channel_destroy,
				sizeof(struct delay_channel), name);
	rc = spur_bdev_register(&dl->bdev);
	if (rc != 0) {
		delay_fail(err, err_len, rc, "cannot register bdev '%s': %s", name, strerror(-rc));
		spur_bdev_module_release_bdev(base);
		spur_bdev_close(dl->base_desc);
		spur_io_device_unregister(dl, delay_abandoned);
		return rc;
	}
	if (spur_bdev_open(name, false, delay_self_event, dl, &dl->self_desc) != 0) {
		SPUR_WARNLOG("%s: cannot watch for removal; shutdown may wait for held "
			     "requests\n", name);
		dl->self_desc = NULL;
	}
	SPUR_DEBUGLOG("bdev_delay", "%s: created on %s\n", name, base_name);
	return 0;
}

int
bdev_delay_delete(const char *name, void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	struct delay_bdev *dl = delay_find(name);

	if (dl == NULL || dl->removing)
		return -ENODEV;
	dl->removing = true;
	spur_bdev_unregister(&dl->bdev, cb, cb_arg);
	return 0;
}
