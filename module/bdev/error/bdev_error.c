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
 * Lifecycle: the stacked-bdev helper's (module/bdev/common/vbdev_base.h), as
 * for the passthru bdev, with the helper's read-only descriptor of the error
 * bdev itself: whoever unregisters it (delete RPC, base hot-remove, the
 * layer at shutdown), its REMOVE event clears the injections and aborts the
 * held requests on every channel, so openers waiting for them can close,
 * and then closes the self descriptor. The helper also forwards the
 * requests that pass to the base (riding out a base out of requests on its
 * wait queue).
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
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "bdev_error.h"
#include "module/bdev/common/bdev_util.h"
#include "module/bdev/common/vbdev_base.h"
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
	/*
	 * First: the helper frees the device. Its self descriptor's REMOVE
	 * event (delete RPC, base hot-remove, or the layer's shutdown) is where
	 * held requests are let go, so openers waiting for them can close.
	 */
	struct vbdev_base vb;
	struct error_slot slots[SPUR_BDEV_IO_NUM_TYPES];
};

struct error_io;
TAILQ_HEAD(error_io_list, error_io);

struct error_channel {
	struct vbdev_base_channel base; /* first: the base's channel */
	struct error_disk *ed;
	struct error_io_list pending;
	struct error_io_list nomem;
	struct spur_poller *nomem_poller;
	bool nomem_polling;
	uint64_t inflight; /* submitted here, not completed yet */
};

/* Per request, in io->driver_ctx. */
struct error_io {
	struct vbdev_base_io bio; /* first: the forwarding state */
	struct error_channel *ch;
	TAILQ_ENTRY(error_io) link;
	bool corrupt_read;
	uint8_t corrupt_value;
	uint64_t corrupt_offset;
};

/* The helper reaches these through their first member. */
_Static_assert(offsetof(struct error_disk, vb) == 0, "vbdev_base first");
_Static_assert(offsetof(struct error_channel, base) == 0, "vbdev_base_channel first");
_Static_assert(offsetof(struct error_io, bio) == 0, "vbdev_base_io first");

static inline struct error_disk *
error_of(struct vbdev_base *vb)
{
	return SPUR_CONTAINER_OF(vb, struct error_disk, vb);
}

static inline struct error_io *
error_io_of(struct vbdev_base_io *bio)
{
	return SPUR_CONTAINER_OF(bio, struct error_io, bio);
}

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
	spur_bdev_io_complete(ctx->bio.io, status);
}

/* ops->complete: a request the base refused. */
static void
error_refused(struct vbdev_base_io *bio, int status)
{
	error_complete(error_io_of(bio), status);
}

/* ops->base_done: the base finished (its request already freed). */
static void
error_base_done(struct vbdev_base_io *bio, int status)
{
	struct error_io *ctx = error_io_of(bio);

	if (ctx->corrupt_read && status == 0)
		error_corrupt(bio->io, ctx->corrupt_offset, ctx->corrupt_value);
	error_complete(ctx, status);
}

static void
error_forward(struct error_io *ctx)
{
	vbdev_base_submit(&ctx->bio);
}

/* Take the held requests whose type is in mask off list, into out. */
static void
error_take_held(struct error_io_list *list, uint32_t mask, struct error_io_list *out)
{
	struct error_io *ctx, *tmp;

	TAILQ_INIT(out);
	for (ctx = TAILQ_FIRST(list); ctx != NULL; ctx = tmp) {
		tmp = TAILQ_NEXT(ctx, link);
		if (mask & (1u << ctx->bio.io->type)) {
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
	if (ctx->bio.io->type == SPUR_BDEV_IO_RESET)
		spur_for_each_channel(&ctx->ch->ed->vb, error_reset_channel, ctx,
				      error_reset_walked);
	else
		error_forward(ctx);
}

static void
error_submit(struct spur_io_channel *ch, struct spur_bdev_io *io)
{
	struct error_io *ctx = error_io_of(vbdev_base_io_init(ch, io));
	struct error_channel *ech = spur_io_channel_get_ctx(ch);
	struct error_hit hit;

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

/* ---- channels ---------------------------------------------------------------- */

/* The helper takes the base's channel after this and puts it after destroy. */
static int
error_channel_create(struct vbdev_base *vb, void *ctx)
{
	struct error_channel *ch = ctx;

	ch->ed = error_of(vb);
	TAILQ_INIT(&ch->pending);
	TAILQ_INIT(&ch->nomem);
	ch->nomem_poller = spur_poller_register(error_nomem_poll, ch, ERROR_NOMEM_RETRY_US,
						"bdev_error_nomem");
	if (ch->nomem_poller == NULL)
		return -ENOMEM;
	spur_poller_pause(ch->nomem_poller);
	return 0;
}

static void
error_channel_destroy(struct vbdev_base *vb, void *ctx)
{
	struct error_channel *ch = ctx;

	(void)vb;
	/* The layer holds the channel while any request is in flight. */
	if (!TAILQ_EMPTY(&ch->pending) || !TAILQ_EMPTY(&ch->nomem))
		SPUR_ERRLOG("error channel destroyed with held requests\n");
	spur_poller_unregister(&ch->nomem_poller);
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
	if (w->close_self != NULL)
		vbdev_base_close_self(&w->close_self->vb);
	if (w->unregister != NULL)
		spur_bdev_unregister(&w->unregister->vb.bdev, w->unregister_cb, w->unregister_arg);
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
	spur_for_each_channel(&ed->vb, error_walk_channel, w, error_walk_done);
	return 0;
}

/* The error bdev called name, unless it is being removed. */
static struct error_disk *
error_find(const char *name)
{
	struct vbdev_base *vb = vbdev_base_find(name, &spur_bdev_error_module);

	return vb != NULL && !vb->removing ? error_of(vb) : NULL;
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
 * ops->remove, after the helper set 'removing' (delete or base removal):
 * stop injecting and unregister. Held requests are aborted when the REMOVE
 * event reaches the self descriptor; without one, they are aborted first,
 * then the bdev is unregistered.
 */
static void
error_remove(struct vbdev_base *vb, void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	struct error_disk *ed = error_of(vb);
	struct error_walk w = {.mask = ERROR_ALL_TYPES, .unregister = ed, .unregister_cb = cb,
			       .unregister_arg = cb_arg};

	error_clear_slots(ed, ERROR_ALL_TYPES);
	if (vb->self_desc != NULL || error_walk_start(ed, &w) != 0)
		spur_bdev_unregister(&vb->bdev, cb, cb_arg);
}

/* ops->self_event: our bdev is going away, whoever asked: let every held request go. */
static void
error_self_event(struct vbdev_base *vb)
{
	struct error_disk *ed = error_of(vb);
	struct error_walk w = {.mask = ERROR_ALL_TYPES, .close_self = ed};

	error_clear_slots(ed, ERROR_ALL_TYPES);
	if (error_walk_start(ed, &w) != 0)
		vbdev_base_close_self(vb);
}

int
bdev_error_delete(const char *name, void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	return vbdev_base_delete(name, &spur_bdev_error_module, cb, cb_arg);
}

/* ---- lifecycle --------------------------------------------------------------- */

static void
error_write_config(struct spur_bdev *bdev, json_t *config)
{
	struct vbdev_base *vb = bdev->ctxt;

	vbdev_base_write_config(bdev, config, "bdev_error_create",
				json_pack("{s:s}", "base_name", vb->base_name));
}

static void
error_dump_info(void *ctx, json_t *driver_specific)
{
	struct error_disk *ed = error_of(ctx);
	json_t *info = json_pack("{s:s}", "base_bdev_name", ed->vb.base_name);
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
	.destruct = vbdev_base_destruct,
	.submit_request = error_submit,
	.io_type_supported = vbdev_base_io_type_supported,
	.get_io_channel = bdev_util_get_io_channel,
	.dump_info_json = error_dump_info,
	.write_config_json = error_write_config,
};

static const struct vbdev_base_ops g_error_ops = {
	.module = &spur_bdev_error_module,
	.fn_table = &g_error_fn_table,
	.product_name = "Error disk",
	.log_component = "bdev_error",
	.remove_noun = "",
	.channel_size = sizeof(struct error_channel),
	.channel_create = error_channel_create,
	.channel_destroy = error_channel_destroy,
	.base_done = error_base_done,
	.complete = error_refused,
	.remove = error_remove,
	.self_event = error_self_event,
};

int
bdev_error_create(const char *base_name, const uint8_t *uuid, char *err, size_t err_len)
{
	size_t name_len = strlen(base_name) + sizeof("EE_");
	struct vbdev_base *vb;
	char *name;
	int rc;

	name = malloc(name_len);
	if (name == NULL)
		return bdev_util_fail(err, err_len, -ENOMEM, "out of memory");
	spur_strfmt(name, name_len, "EE_%s", base_name);
	rc = vbdev_base_alloc(sizeof(struct error_disk), name, base_name, &vb, err, err_len);
	free(name);
	if (rc != 0)
		return rc;
	return vbdev_base_register(vb, &g_error_ops, uuid, err, err_len);
}
