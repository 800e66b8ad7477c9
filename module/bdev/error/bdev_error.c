/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The error bdev: "EE_<base>" forwards requests to a claimed base bdev and
 * injects errors into them on demand.
 *
 * Injections: one slot per request type (read, write, unmap, flush, reset,
 * write_zeroes). A slot holds an error type, its parameters and 'remaining',
 * the number of requests still to hit. A submitted request consults the slot
 * of its type; when 'remaining' is non-zero (and, with a queue_depth, enough
 * requests are in flight on the channel) it takes one with a compare-and-
 * swap, so across all threads exactly 'num' requests are hit:
 *
 *   failure       complete at once with the slot's status, base untouched
 *   pending       park in the channel's 'pending' list, never completed until
 *                 the injection is replaced or cleared, a reset comes, the
 *                 bdev is deleted (all: SPUR_BDEV_ERR_ABORTED) or
 *                 bdev_error_resume_pending sends them on to the base
 *   corrupt_data  writes: xor one byte of the caller's buffer (in place)
 *                 before the base sees it; reads: after the base filled it
 *   nomem         park in the channel's 'nomem' list; a 100 us poller sends
 *                 them on (what SPDK's layer does after a module's NOMEM)
 *
 * Lifecycle: as the passthru bdev, plus a read-only descriptor of the error
 * bdev itself ('self_desc'): whoever unregisters it (delete RPC, base
 * hot-remove, the layer at shutdown), its REMOVE event clears the
 * injections and aborts the held requests on every channel, so openers
 * waiting for them can close, and then closes the self descriptor.
 *
 * Threading: slots are written on the app thread and read by I/O threads
 * through atomics: 'remaining' is zeroed before the other fields change and
 * set last (release), so a request sees a whole new injection or none; a
 * request racing an injection change may still apply the old one. Channels,
 * their lists, in-flight count and poller belong to the channel's thread;
 * the app thread reaches them with spur_for_each_channel.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "bdev_error.h"
#include "spur/log.h"
#include "spur/thread.h"
#include "spur/util.h"

#define ERROR_NOMEM_RETRY_US 100
#define ERROR_ALL_TYPES ((1u << SPUR_BDEV_IO_NUM_TYPES) - 1)

struct error_slot {
	_Atomic uint32_t remaining;
	_Atomic int type;
	_Atomic int status;
	_Atomic uint64_t queue_depth;
	_Atomic uint64_t corrupt_offset;
	_Atomic uint32_t corrupt_value;
};

struct error_disk {
	struct spur_bdev bdev;
	struct spur_bdev *base;
	struct spur_bdev_desc *base_desc;
	char *base_name;
	bool removing;
	/*
	 * Our own bdev, open read-only: its REMOVE event (delete RPC, base
	 * hot-remove, or the layer's shutdown) is where held requests are let
	 * go, so openers waiting for them can close.
	 */
	struct spur_bdev_desc *self_desc;
	struct error_slot slots[SPUR_BDEV_IO_NUM_TYPES];
};

struct error_io;
TAILQ_HEAD(error_io_list, error_io);

struct error_channel {
	struct spur_io_channel *base_ch;
	struct error_disk *ed;
	struct error_io_list pending;
	struct error_io_list nomem;
	struct spur_poller *nomem_poller;
	bool nomem_polling;
	uint64_t inflight; /* submitted here, not completed yet */
};

/* Per request, in io->driver_ctx. */
struct error_io {
	struct spur_bdev_io *io;
	struct error_channel *ch;
	struct spur_bdev_io_wait_entry wait;
	TAILQ_ENTRY(error_io) link;
	bool corrupt_read;
	uint8_t corrupt_value;
	uint64_t corrupt_offset;
};

/* What a request took from its slot. */
struct error_hit {
	int type;
	int status;
	uint64_t corrupt_offset;
	uint8_t corrupt_value;
};

static const char *const g_type_names[BDEV_ERROR_NUM_TYPES] = {
	[BDEV_ERROR_FAILURE] = "failure",
	[BDEV_ERROR_PENDING] = "pending",
	[BDEV_ERROR_CORRUPT_DATA] = "corrupt_data",
	[BDEV_ERROR_NOMEM] = "nomem",
};

const char *
bdev_error_type_name(enum bdev_error_type type)
{
	return type < BDEV_ERROR_NUM_TYPES ? g_type_names[type] : "unknown";
}

int
bdev_error_type_parse(const char *name)
{
	for (int i = 0; i < BDEV_ERROR_NUM_TYPES; i++) {
		if (strcmp(name, g_type_names[i]) == 0)
			return i;
	}
	return -EINVAL;
}

size_t
bdev_error_get_ctx_size(void)
{
	return sizeof(struct error_io);
}

/* ---- injection slots ----------------------------------------------------------- */

static void
slot_set(struct error_slot *s, const struct bdev_error_inject_opts *o)
{
	atomic_store_explicit(&s->remaining, 0, memory_order_release);
	atomic_store_explicit(&s->type, (int)o->type, memory_order_relaxed);
	atomic_store_explicit(&s->status, o->status, memory_order_relaxed);
	atomic_store_explicit(&s->queue_depth, o->queue_depth, memory_order_relaxed);
	atomic_store_explicit(&s->corrupt_offset, o->corrupt_offset, memory_order_relaxed);
	atomic_store_explicit(&s->corrupt_value, o->corrupt_value, memory_order_relaxed);
	atomic_store_explicit(&s->remaining, o->num, memory_order_release);
}

/* Take one hit from the slot of the request's type: the error type, or -1. */
static int
slot_take(struct error_slot *s, uint64_t inflight, struct error_hit *hit)
{
	uint32_t left = atomic_load_explicit(&s->remaining, memory_order_acquire);
	uint64_t qd;

	if (spur_likely(left == 0))
		return -1;
	qd = atomic_load_explicit(&s->queue_depth, memory_order_relaxed);
	if (qd != 0 && inflight < qd)
		return -1;
	hit->type = atomic_load_explicit(&s->type, memory_order_relaxed);
	hit->status = atomic_load_explicit(&s->status, memory_order_relaxed);
	hit->corrupt_offset = atomic_load_explicit(&s->corrupt_offset, memory_order_relaxed);
	hit->corrupt_value =
		(uint8_t)atomic_load_explicit(&s->corrupt_value, memory_order_relaxed);
	while (left > 0) {
		if (atomic_compare_exchange_weak_explicit(&s->remaining, &left, left - 1,
							  memory_order_acq_rel,
							  memory_order_acquire))
			return hit->type;
	}
	return -1;
}

/* xor the byte at offset of the request's data (nothing if it is shorter). */
static void
error_corrupt(struct spur_bdev_io *io, uint64_t offset, uint8_t value)
{
	for (int i = 0; i < io->iovcnt; i++) {
		if (offset < io->iovs[i].iov_len) {
			((uint8_t *)io->iovs[i].iov_base)[offset] ^= value;
			return;
		}
		offset -= io->iovs[i].iov_len;
	}
}

/* ---- I/O --------------------------------------------------------------------- */

static void
error_complete(struct error_io *ctx, int status)
{
	ctx->ch->inflight--;
	spur_bdev_io_complete(ctx->io, status);
}

static void
error_base_done(struct spur_bdev_io *base_io, int status, void *cb_arg)
{
	struct error_io *ctx = cb_arg;

	spur_bdev_free_io(base_io);
	if (ctx->corrupt_read && status == 0)
		error_corrupt(ctx->io, ctx->corrupt_offset, ctx->corrupt_value);
	error_complete(ctx, status);
}

static int
error_status_of(int rc)
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
error_forward_once(struct error_disk *ed, struct error_io *ctx)
{
	struct spur_bdev_io *io = ctx->io;
	struct spur_bdev_desc *desc = ed->base_desc;
	struct spur_io_channel *bch = ctx->ch->base_ch;

	switch (io->type) {
	case SPUR_BDEV_IO_READ:
		return spur_bdev_readv_blocks(desc, bch, io->iovs, io->iovcnt, io->offset_blocks,
					      io->num_blocks, error_base_done, ctx);
	case SPUR_BDEV_IO_WRITE:
		return spur_bdev_writev_blocks(desc, bch, io->iovs, io->iovcnt, io->offset_blocks,
					       io->num_blocks, io->flags, error_base_done, ctx);
	case SPUR_BDEV_IO_UNMAP:
		return spur_bdev_unmap_blocks(desc, bch, io->offset_blocks, io->num_blocks,
					      error_base_done, ctx);
	case SPUR_BDEV_IO_WRITE_ZEROES:
		return spur_bdev_write_zeroes_blocks(desc, bch, io->offset_blocks, io->num_blocks,
						     io->flags, error_base_done, ctx);
	case SPUR_BDEV_IO_FLUSH:
		return spur_bdev_flush_blocks(desc, bch, io->offset_blocks, io->num_blocks,
					      error_base_done, ctx);
	case SPUR_BDEV_IO_RESET:
		return spur_bdev_reset(desc, bch, error_base_done, ctx);
	default:
		return -ENOTSUP;
	}
}

static void error_forward(struct error_io *ctx);

static void
error_resubmit(void *arg)
{
	error_forward(arg);
}

static void
error_forward(struct error_io *ctx)
{
	struct error_disk *ed = ctx->ch->ed;
	int rc = error_forward_once(ed, ctx);

	if (spur_likely(rc == 0))
		return;
	if (rc == -ENOMEM) {
		SPUR_DEBUGLOG("bdev_error", "%s: base out of requests, waiting\n",
			      ctx->io->bdev->name);
		ctx->wait.bdev = ed->base;
		ctx->wait.cb_fn = error_resubmit;
		ctx->wait.cb_arg = ctx;
		if (spur_bdev_queue_io_wait(ed->base, ctx->ch->base_ch, &ctx->wait) == 0)
			return;
	}
	error_complete(ctx, error_status_of(rc));
}

/* Take the held requests whose type is in mask off list, into out. */
static void
error_take_held(struct error_io_list *list, uint32_t mask, struct error_io_list *out)
{
	struct error_io *ctx, *tmp;

	TAILQ_INIT(out);
	for (ctx = TAILQ_FIRST(list); ctx != NULL; ctx = tmp) {
		tmp = TAILQ_NEXT(ctx, link);
		if (mask & (1u << ctx->io->type)) {
			TAILQ_REMOVE(list, ctx, link);
			TAILQ_INSERT_TAIL(out, ctx, link);
		}
	}
}

/*
 * Abort (or, with resume, send on) the pending requests of ch in mask. They
 * are moved aside first: a completion callback may submit again and be
 * held again, and must not extend the walk.
 */
static void
error_release_pending(struct error_channel *ch, uint32_t mask, bool resume)
{
	struct error_io_list out;
	struct error_io *ctx;

	error_take_held(&ch->pending, mask, &out);
	while ((ctx = TAILQ_FIRST(&out)) != NULL) {
		TAILQ_REMOVE(&out, ctx, link);
		if (resume)
			error_forward(ctx);
		else
			error_complete(ctx, SPUR_BDEV_ERR_ABORTED);
	}
}

static void error_pass(struct error_io *ctx);

static int
error_nomem_poll(void *arg)
{
	struct error_channel *ch = arg;
	struct error_io_list out;
	struct error_io *ctx;
	int n = 0;

	error_take_held(&ch->nomem, ERROR_ALL_TYPES, &out);
	while ((ctx = TAILQ_FIRST(&out)) != NULL) {
		TAILQ_REMOVE(&out, ctx, link);
		error_pass(ctx);
		n++;
	}
	if (TAILQ_EMPTY(&ch->nomem) && ch->nomem_polling) {
		ch->nomem_polling = false;
		spur_poller_pause(ch->nomem_poller);
	}
	return n > 0 ? SPUR_POLLER_BUSY : SPUR_POLLER_IDLE;
}

/* A reset first aborts every pending request of every channel (as SPDK's). */
static void
error_reset_channel(struct spur_io_channel_iter *i)
{
	struct error_channel *ch = spur_io_channel_get_ctx(spur_io_channel_iter_get_channel(i));

	error_release_pending(ch, ERROR_ALL_TYPES, false);
	spur_for_each_channel_continue(i, 0);
}

static void
error_reset_walked(struct spur_io_channel_iter *i, int status)
{
	(void)status;
	error_forward(spur_io_channel_iter_get_ctx(i));
}

/* Send a request on to the base (a reset by way of the pending abort). */
static void
error_pass(struct error_io *ctx)
{
	if (ctx->io->type == SPUR_BDEV_IO_RESET)
		spur_for_each_channel(ctx->ch->ed, error_reset_channel, ctx, error_reset_walked);
	else
		error_forward(ctx);
}

static void
error_submit(struct spur_io_channel *ch, struct spur_bdev_io *io)
{
	struct error_io *ctx = (struct error_io *)io->driver_ctx;
	struct error_channel *ech = spur_io_channel_get_ctx(ch);
	struct error_hit hit;

	ctx->io = io;
	ctx->ch = ech;
	ctx->corrupt_read = false;
	ech->inflight++;
	if (spur_unlikely(io->type >= SPUR_BDEV_IO_NUM_TYPES)) {
		error_complete(ctx, SPUR_BDEV_ERR_UNSUPPORTED);
		return;
	}
	switch (slot_take(&ech->ed->slots[io->type], ech->inflight, &hit)) {
	case BDEV_ERROR_FAILURE:
		SPUR_DEBUGLOG("bdev_error", "%s: failing a %s with %s\n", io->bdev->name,
			      spur_bdev_io_type_name(io->type), spur_bdev_status_name(hit.status));
		error_complete(ctx, hit.status);
		return;
	case BDEV_ERROR_PENDING:
		SPUR_DEBUGLOG("bdev_error", "%s: holding a %s\n", io->bdev->name,
			      spur_bdev_io_type_name(io->type));
		TAILQ_INSERT_TAIL(&ech->pending, ctx, link);
		return;
	case BDEV_ERROR_NOMEM:
		TAILQ_INSERT_TAIL(&ech->nomem, ctx, link);
		if (!ech->nomem_polling) {
			ech->nomem_polling = true;
			spur_poller_resume(ech->nomem_poller);
		}
		return;
	case BDEV_ERROR_CORRUPT_DATA:
		if (io->type == SPUR_BDEV_IO_WRITE) {
			error_corrupt(io, hit.corrupt_offset, hit.corrupt_value);
		} else if (io->type == SPUR_BDEV_IO_READ) {
			ctx->corrupt_read = true;
			ctx->corrupt_offset = hit.corrupt_offset;
			ctx->corrupt_value = hit.corrupt_value;
		}
		break;
	default:
		break;
	}
	error_pass(ctx);
}

static bool
error_io_type_supported(void *ctx, enum spur_bdev_io_type type)
{
	struct error_disk *ed = ctx;

	return spur_bdev_io_type_supported(ed->base, type);
}

static struct spur_io_channel *
error_get_io_channel(void *ctx)
{
	return spur_get_io_channel(ctx);
}

/* ---- channels ---------------------------------------------------------------- */

static int
error_channel_create(void *io_device, void *ctx)
{
	struct error_disk *ed = io_device;
	struct error_channel *ch = ctx;

	ch->ed = ed;
	TAILQ_INIT(&ch->pending);
	TAILQ_INIT(&ch->nomem);
	ch->nomem_poller = spur_poller_register(error_nomem_poll, ch, ERROR_NOMEM_RETRY_US,
						"bdev_error_nomem");
	if (ch->nomem_poller == NULL)
		return -ENOMEM;
	spur_poller_pause(ch->nomem_poller);
	ch->base_ch = spur_bdev_get_io_channel(ed->base_desc);
	if (ch->base_ch == NULL) {
		spur_poller_unregister(&ch->nomem_poller);
		return -ENOMEM;
	}
	return 0;
}

static void
error_channel_destroy(void *io_device, void *ctx)
{
	struct error_channel *ch = ctx;

	(void)io_device;
	/* The layer holds the channel while any request is in flight. */
	if (!TAILQ_EMPTY(&ch->pending) || !TAILQ_EMPTY(&ch->nomem))
		SPUR_ERRLOG("error channel destroyed with held requests\n");
	spur_poller_unregister(&ch->nomem_poller);
	spur_put_io_channel(ch->base_ch);
}

/* ---- walks over every channel (app thread) --------------------------------------- */

struct error_walk {
	uint32_t mask;
	bool resume;
	void (*done)(void *arg);
	void *done_arg;
	/* Deletion without a self descriptor: unregister once the held requests are gone. */
	struct error_disk *unregister;
	void (*unregister_cb)(void *arg, int status);
	void *unregister_arg;
	/* Removal seen on the self descriptor: close it once they are gone. */
	struct error_disk *close_self;
};

static void
error_walk_channel(struct spur_io_channel_iter *i)
{
	struct error_walk *w = spur_io_channel_iter_get_ctx(i);
	struct error_channel *ch = spur_io_channel_get_ctx(spur_io_channel_iter_get_channel(i));

	error_release_pending(ch, w->mask, w->resume);
	spur_for_each_channel_continue(i, 0);
}

static void
error_walk_done(struct spur_io_channel_iter *i, int status)
{
	struct error_walk *w = spur_io_channel_iter_get_ctx(i);

	(void)status;
	if (w->close_self != NULL && w->close_self->self_desc != NULL) {
		spur_bdev_close(w->close_self->self_desc);
		w->close_self->self_desc = NULL;
	}
	if (w->unregister != NULL)
		spur_bdev_unregister(&w->unregister->bdev, w->unregister_cb, w->unregister_arg);
	if (w->done != NULL)
		w->done(w->done_arg);
	free(w);
}

static int
error_walk_start(struct error_disk *ed, const struct error_walk *tmpl)
{
	struct error_walk *w = malloc(sizeof(*w));

	if (w == NULL)
		return -ENOMEM;
	*w = *tmpl;
	spur_for_each_channel(ed, error_walk_channel, w, error_walk_done);
	return 0;
}

static struct error_disk *
error_find(const char *name)
{
	struct spur_bdev *bdev = spur_bdev_get_by_name(name);
	struct error_disk *ed;

	if (bdev == NULL || bdev->module != &spur_bdev_error_module)
		return NULL;
	ed = bdev->ctxt;
	return ed->removing ? NULL : ed;
}

static void
error_clear_slots(struct error_disk *ed, uint32_t mask)
{
	for (int t = 0; t < SPUR_BDEV_IO_NUM_TYPES; t++) {
		if (mask & (1u << t))
			atomic_store_explicit(&ed->slots[t].remaining, 0, memory_order_release);
	}
}

int
bdev_error_inject(const char *name, const struct bdev_error_inject_opts *opts,
		  void (*cb)(void *cb_arg), void *cb_arg)
{
	struct error_disk *ed = error_find(name);
	struct error_walk w = {.done = cb, .done_arg = cb_arg};

	if (ed == NULL)
		return -ENODEV;
	if (opts->type >= BDEV_ERROR_NUM_TYPES || (opts->io_mask & ~ERROR_ALL_TYPES) != 0 ||
	    (opts->type == BDEV_ERROR_CORRUPT_DATA && opts->num != 0 && opts->corrupt_value == 0) ||
	    (opts->type == BDEV_ERROR_FAILURE && opts->status >= 0))
		return -EINVAL;
	for (int t = 0; t < SPUR_BDEV_IO_NUM_TYPES; t++) {
		if (opts->io_mask & (1u << t))
			slot_set(&ed->slots[t], opts);
	}
	SPUR_DEBUGLOG("bdev_error", "%s: %s x%" PRIu32 " on mask 0x%x (queue depth %" PRIu64 ")\n",
		      name, g_type_names[opts->type], opts->num, opts->io_mask, opts->queue_depth);
	/* A held request stays held only while a pending injection covers its type. */
	if (opts->type == BDEV_ERROR_PENDING && opts->num != 0) {
		if (cb != NULL)
			cb(cb_arg);
		return 0;
	}
	w.mask = opts->io_mask;
	if (error_walk_start(ed, &w) != 0 && cb != NULL)
		cb(cb_arg);
	return 0;
}

int
bdev_error_clear(const char *name, void (*cb)(void *cb_arg), void *cb_arg)
{
	struct error_disk *ed = error_find(name);
	struct error_walk w = {.mask = ERROR_ALL_TYPES, .done = cb, .done_arg = cb_arg};

	if (ed == NULL)
		return -ENODEV;
	error_clear_slots(ed, ERROR_ALL_TYPES);
	SPUR_DEBUGLOG("bdev_error", "%s: injections cleared\n", name);
	if (error_walk_start(ed, &w) != 0 && cb != NULL)
		cb(cb_arg);
	return 0;
}

int
bdev_error_resume_pending(const char *name, void (*cb)(void *cb_arg), void *cb_arg)
{
	struct error_disk *ed = error_find(name);
	struct error_walk w = {.mask = ERROR_ALL_TYPES, .resume = true, .done = cb,
			       .done_arg = cb_arg};

	if (ed == NULL)
		return -ENODEV;
	if (error_walk_start(ed, &w) != 0 && cb != NULL)
		cb(cb_arg);
	return 0;
}

/*
 * Stop injecting and unregister (delete or base removal). Held requests are
 * aborted when the REMOVE event reaches the self descriptor; without one,
 * they are aborted first, then the bdev is unregistered.
 */
static int
error_remove(struct error_disk *ed, void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	struct error_walk w = {.mask = ERROR_ALL_TYPES, .unregister = ed, .unregister_cb = cb,
			       .unregister_arg = cb_arg};

	ed->removing = true;
	error_clear_slots(ed, ERROR_ALL_TYPES);
	if (ed->self_desc != NULL || error_walk_start(ed, &w) != 0)
		spur_bdev_unregister(&ed->bdev, cb, cb_arg);
	return 0;
}

/* Our bdev is going away, whoever asked: let every held request go. */
static void
error_self_event(enum spur_bdev_event event, struct spur_bdev *bdev, void *ctx)
{
	struct error_disk *ed = ctx;
	struct error_walk w = {.mask = ERROR_ALL_TYPES, .close_self = ed};

	(void)bdev;
	if (event != SPUR_BDEV_EVENT_REMOVE || ed->self_desc == NULL)
		return;
	ed->removing = true;
	error_clear_slots(ed, ERROR_ALL_TYPES);
	if (error_walk_start(ed, &w) != 0) {
		spur_bdev_close(ed->self_desc);
		ed->self_desc = NULL;
	}
}

int
bdev_error_delete(const char *name, void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	struct error_disk *ed = error_find(name);

	if (ed == NULL)
		return -ENODEV;
	return error_remove(ed, cb, cb_arg);
}

/* ---- lifecycle --------------------------------------------------------------- */

static void
error_free(struct error_disk *ed)
{
	free(ed->bdev.name);
	free(ed->base_name);
	free(ed);
}

static void
error_io_device_gone(void *io_device)
{
	struct error_disk *ed = io_device;

	SPUR_DEBUGLOG("bdev_error", "%s: releasing base %s\n", ed->bdev.name, ed->base_name);
	spur_bdev_module_release_bdev(ed->base);
	spur_bdev_close(ed->base_desc);
	spur_bdev_destruct_done(&ed->bdev);
	error_free(ed);
}

static void
error_teardown(void *ctx)
{
	spur_io_device_unregister(ctx, error_io_device_gone);
}

static int
error_destruct(void *ctx)
{
	struct spur_thread *app = spur_get_app_thread();

	if (app != NULL && spur_get_thread() != app &&
	    spur_thread_send_msg(app, error_teardown, ctx) == 0)
		return 1;
	error_teardown(ctx);
	return 1;
}

static void
error_write_config(struct spur_bdev *bdev, json_t *config)
{
	struct error_disk *ed = bdev->ctxt;
	char uuid[40];
	json_t *params;

	spur_bdev_get_uuid_str(bdev, uuid, sizeof(uuid));
	params = json_pack("{s:s, s:s}", "base_name", ed->base_name, "uuid", uuid);
	if (params == NULL)
		return;
	spur_bdev_config_add(config, "bdev_error_create", params);
	json_decref(params);
}

static void
error_dump_info(void *ctx, json_t *driver_specific)
{
	struct error_disk *ed = ctx;
	json_t *info = json_pack("{s:s}", "base_bdev_name", ed->base_name);
	json_t *list = json_array();

	if (info == NULL || list == NULL) {
		json_decref(info);
		json_decref(list);
		return;
	}
	for (int t = 0; t < SPUR_BDEV_IO_NUM_TYPES; t++) {
		struct error_slot *s = &ed->slots[t];
		uint32_t left = atomic_load_explicit(&s->remaining, memory_order_acquire);
		int type = atomic_load_explicit(&s->type, memory_order_relaxed);

		if (left == 0)
			continue;
		json_array_append_new(
			list, json_pack("{s:s, s:s, s:I, s:I}", "io_type", spur_bdev_io_type_name(t),
					"error_type", bdev_error_type_name(type), "remaining",
					(json_int_t)left, "queue_depth",
					(json_int_t)atomic_load_explicit(&s->queue_depth,
									 memory_order_relaxed)));
	}
	json_object_set_new(info, "injections", list);
	json_object_set_new(driver_specific, "error", info);
}

static const struct spur_bdev_fn_table g_error_fn_table = {
	.destruct = error_destruct,
	.submit_request = error_submit,
	.io_type_supported = error_io_type_supported,
	.get_io_channel = error_get_io_channel,
	.dump_info_json = error_dump_info,
	.write_config_json = error_write_config,
};

static void
error_unregistered(void *cb_arg, int status)
{
	(void)cb_arg;
	if (status != 0)
		SPUR_ERRLOG("error bdev unregister failed: %s\n", strerror(-status));
}

static void
error_base_event(enum spur_bdev_event event, struct spur_bdev *base, void *ctx)
{
	struct error_disk *ed = ctx;
	int rc;

	switch (event) {
	case SPUR_BDEV_EVENT_REMOVE:
		if (ed->removing)
			return;
		SPUR_NOTICELOG("base bdev %s of %s removed: removing %s\n", ed->base_name,
			       ed->bdev.name, ed->bdev.name);
		error_remove(ed, error_unregistered, NULL);
		break;
	case SPUR_BDEV_EVENT_RESIZE:
		rc = spur_bdev_notify_blockcnt_change(&ed->bdev, spur_bdev_get_num_blocks(base));
		if (rc != 0)
			SPUR_ERRLOG("%s: cannot follow the resize of %s: %s\n", ed->bdev.name,
				    ed->base_name, strerror(-rc));
		break;
	}
}

static int
error_fail(char *err, size_t err_len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
error_fail(char *err, size_t err_len, int rc, const char *fmt, ...)
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
error_abandoned(void *io_device)
{
	error_free(io_device);
}

int
bdev_error_create(const char *base_name, const uint8_t *uuid, char *err, size_t err_len)
{
	size_t name_len = strlen(base_name) + sizeof("EE_");
	struct error_disk *ed;
	struct spur_bdev *base;
	int rc;

	ed = calloc(1, sizeof(*ed));
	if (ed == NULL || (ed->bdev.name = malloc(name_len)) == NULL ||
	    (ed->base_name = strdup(base_name)) == NULL) {
		if (ed != NULL)
			error_free(ed);
		return error_fail(err, err_len, -ENOMEM, "out of memory");
	}
	spur_strfmt(ed->bdev.name, name_len, "EE_%s", base_name);
	if (spur_bdev_get_by_name(ed->bdev.name) != NULL) {
		rc = error_fail(err, err_len, -EEXIST, "bdev '%s' already exists", ed->bdev.name);
		error_free(ed);
		return rc;
	}
	rc = spur_bdev_open(base_name, true, error_base_event, ed, &ed->base_desc);
	if (rc != 0) {
		error_free(ed);
		if (rc == -ENODEV)
			return error_fail(err, err_len, rc, "bdev '%s' not found", base_name);
		if (rc == -EPERM)
			return error_fail(err, err_len, rc, "bdev '%s' is already claimed",
					  base_name);
		return error_fail(err, err_len, rc, "cannot open bdev '%s': %s", base_name,
				  strerror(-rc));
	}
	base = spur_bdev_desc_get_bdev(ed->base_desc);
	rc = spur_bdev_module_claim_bdev(base, ed->base_desc, &spur_bdev_error_module);
	if (rc != 0) {
		spur_bdev_close(ed->base_desc);
		error_free(ed);
		return error_fail(err, err_len, rc, "bdev '%s' is already claimed", base_name);
	}
	ed->base = base;
	ed->bdev.product_name = "Error disk";
	ed->bdev.blocklen = base->blocklen;
	ed->bdev.blockcnt = base->blockcnt;
	if (uuid != NULL)
		memcpy(ed->bdev.uuid, uuid, sizeof(ed->bdev.uuid));
	ed->bdev.write_cache = base->write_cache;
	ed->bdev.required_alignment = base->required_alignment;
	ed->bdev.max_transfer_blocks = base->max_transfer_blocks;
	ed->bdev.optimal_io_boundary = base->optimal_io_boundary;
	ed->bdev.split_on_optimal_io_boundary = base->split_on_optimal_io_boundary;
	ed->bdev.max_unmap_blocks = base->max_unmap_blocks;
	ed->bdev.max_write_zeroes_blocks = base->max_write_zeroes_blocks;
	ed->bdev.ctxt = ed;
	ed->bdev.fn_table = &g_error_fn_table;
	ed->bdev.module = &spur_bdev_error_module;

	spur_io_device_register(ed, error_channel_create, error_channel_destroy,
				sizeof(struct error_channel), ed->bdev.name);
	rc = spur_bdev_register(&ed->bdev);
	if (rc != 0) {
		error_fail(err, err_len, rc, "cannot register bdev '%s': %s", ed->bdev.name,
			   strerror(-rc));
		spur_bdev_module_release_bdev(base);
		spur_bdev_close(ed->base_desc);
		spur_io_device_unregister(ed, error_abandoned);
		return rc;
	}
	if (spur_bdev_open(ed->bdev.name, false, error_self_event, ed, &ed->self_desc) != 0) {
		SPUR_WARNLOG("%s: cannot watch for removal; shutdown with held requests may "
			     "wait for them\n", ed->bdev.name);
		ed->self_desc = NULL;
	}
	SPUR_DEBUGLOG("bdev_error", "%s: created on %s\n", ed->bdev.name, base_name);
	return 0;
}
