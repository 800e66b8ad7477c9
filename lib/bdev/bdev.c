/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The bdev registry: registration and its checks, names and aliases,
 * properties, descriptors (open / close), claims, events to openers and
 * hot-remove (unregister).
 *
 * Life cycle of a bdev:
 *
 *   spur_bdev_register          spur_bdev_unregister          last close
 *   ------------------> REGISTERED ------------------> REMOVING ----------+
 *                       (open ok)    REMOVE event to   (open -ENODEV,     |
 *                                    every opener      new I/O -ENODEV)   |
 *   unregister cb <-- destruct (0, or 1 + spur_bdev_destruct_done) <-- channels gone,
 *                                                      left the registry (app thread)
 *
 * Invariants: the registry list changes only on the app thread and under
 * g_bdev_mgr.lock, so the app thread iterates it unlocked and any thread
 * looks names up locked; names and aliases are unique across the registry;
 * a descriptor is freed when it is closed and no event message for it is in
 * flight (desc->refs). Open, close and event callbacks run on the opener's
 * thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "bdev_internal.h"
#include "spur/log.h"

struct bdev_mgr g_bdev_mgr = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.bdevs = TAILQ_HEAD_INITIALIZER(g_bdev_mgr.bdevs),
};

static const char *const g_io_type_names[SPUR_BDEV_IO_NUM_TYPES] = {
	"read", "write", "unmap", "flush", "reset", "write_zeroes",
};

const char *
spur_bdev_io_type_name(enum spur_bdev_io_type type)
{
	if ((unsigned)type >= SPUR_BDEV_IO_NUM_TYPES) {
		return "unknown";
	}
	return g_io_type_names[type];
}

const char *
spur_bdev_status_name(int status)
{
	switch (status) {
	case SPUR_BDEV_OK:
		return "success";
	case SPUR_BDEV_ERR_IO:
		return "io_error";
	case SPUR_BDEV_ERR_MEDIA:
		return "media_error";
	case SPUR_BDEV_ERR_RANGE:
		return "out_of_range";
	case SPUR_BDEV_ERR_NOSPACE:
		return "no_space";
	case SPUR_BDEV_ERR_ABORTED:
		return "aborted";
	case SPUR_BDEV_ERR_UNSUPPORTED:
		return "unsupported";
	default:
		return "unknown";
	}
}

static bool
on_app_thread(void)
{
	struct spur_thread *app = spur_get_app_thread();

	return app == NULL || app == spur_get_thread();
}

/* ---- lookup --------------------------------------------------------------- */

struct spur_bdev *
bdev_find_locked(const char *name)
{
	struct spur_bdev_internal *in;
	struct bdev_alias *a;

	TAILQ_FOREACH(in, &g_bdev_mgr.bdevs, link) {
		if (strcmp(in->bdev->name, name) == 0) {
			return in->bdev;
		}
		TAILQ_FOREACH(a, &in->aliases, link) {
			if (strcmp(a->name, name) == 0) {
				return in->bdev;
			}
		}
	}
	return NULL;
}

struct spur_bdev *
spur_bdev_get_by_name(const char *name)
{
	struct spur_bdev *bdev;

	if (name == NULL) {
		return NULL;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	bdev = bdev_find_locked(name);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return bdev;
}

struct spur_bdev *
spur_bdev_first(void)
{
	struct spur_bdev_internal *in = TAILQ_FIRST(&g_bdev_mgr.bdevs);

	return in ? in->bdev : NULL;
}

struct spur_bdev *
spur_bdev_next(struct spur_bdev *prev)
{
	struct spur_bdev_internal *in = TAILQ_NEXT(prev->internal, link);

	return in ? in->bdev : NULL;
}

/* ---- properties ------------------------------------------------------------- */

const char *
spur_bdev_get_name(const struct spur_bdev *bdev)
{
	return bdev->name;
}

const char *
spur_bdev_get_product_name(const struct spur_bdev *bdev)
{
	return bdev->product_name ? bdev->product_name : "";
}

uint32_t
spur_bdev_get_block_size(const struct spur_bdev *bdev)
{
	return bdev->blocklen;
}

uint64_t
spur_bdev_get_num_blocks(const struct spur_bdev *bdev)
{
	return __atomic_load_n(&bdev->blockcnt, __ATOMIC_RELAXED);
}

const uint8_t *
spur_bdev_get_uuid(const struct spur_bdev *bdev)
{
	return bdev->uuid;
}

void
spur_bdev_get_uuid_str(const struct spur_bdev *bdev, char *buf, size_t len)
{
	spur_uuid_fmt(bdev->uuid, buf, len);
}

bool
spur_bdev_has_write_cache(const struct spur_bdev *bdev)
{
	return bdev->write_cache;
}

bool
spur_bdev_io_type_supported(const struct spur_bdev *bdev, enum spur_bdev_io_type type)
{
	if ((unsigned)type >= SPUR_BDEV_IO_NUM_TYPES) {
		return false;
	}
	return bdev->fn_table->io_type_supported(bdev->ctxt, type);
}

uint32_t
spur_bdev_get_buf_align(const struct spur_bdev *bdev)
{
	return bdev->required_alignment > 1 ? bdev->required_alignment : 1;
}

uint32_t
spur_bdev_get_max_transfer_blocks(const struct spur_bdev *bdev)
{
	return bdev->max_transfer_blocks;
}

uint32_t
spur_bdev_get_optimal_io_boundary(const struct spur_bdev *bdev)
{
	return bdev->optimal_io_boundary;
}

uint32_t
spur_bdev_get_max_unmap_blocks(const struct spur_bdev *bdev)
{
	return bdev->max_unmap_blocks;
}

uint32_t
spur_bdev_get_max_write_zeroes_blocks(const struct spur_bdev *bdev)
{
	return bdev->max_write_zeroes_blocks;
}

/* ---- registration ------------------------------------------------------------ */

static bool
is_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

static int
bdev_check_geometry(const struct spur_bdev *bdev)
{
	const struct spur_bdev_fn_table *fn = bdev->fn_table;

	if (bdev->name == NULL || bdev->name[0] == '\0') {
		SPUR_ERRLOG("bdev: registration without a name");
		return -EINVAL;
	}
	if (fn == NULL || fn->destruct == NULL || fn->submit_request == NULL ||
	    fn->io_type_supported == NULL || fn->get_io_channel == NULL || bdev->module == NULL) {
		SPUR_ERRLOG("bdev %s: module, fn_table or a required function missing", bdev->name);
		return -EINVAL;
	}
	if (bdev->blocklen < 512 || !is_pow2(bdev->blocklen)) {
		SPUR_ERRLOG("bdev %s: block size %u is not a power of two >= 512", bdev->name,
			    bdev->blocklen);
		return -EINVAL;
	}
	if (bdev->blockcnt == 0) {
		SPUR_ERRLOG("bdev %s: zero blocks", bdev->name);
		return -EINVAL;
	}
	if (bdev->blockcnt > UINT64_MAX / bdev->blocklen) {
		SPUR_ERRLOG("bdev %s: size overflows 64 bits", bdev->name);
		return -EINVAL;
	}
	if (bdev->required_alignment > 1 &&
	    (!is_pow2(bdev->required_alignment) || bdev->required_alignment > 4096)) {
		SPUR_ERRLOG("bdev %s: required_alignment %u must be a power of two <= 4096",
			    bdev->name, bdev->required_alignment);
		return -EINVAL;
	}
	if (bdev->split_on_optimal_io_boundary && bdev->optimal_io_boundary == 0) {
		SPUR_ERRLOG("bdev %s: split_on_optimal_io_boundary without a boundary", bdev->name);
		return -EINVAL;
	}
	return 0;
}

int
spur_bdev_register(struct spur_bdev *bdev)
{
	struct spur_bdev_internal *in;
	size_t ctx_size;
	int rc;

	if (bdev == NULL) {
		return -EINVAL;
	}
	if (!on_app_thread()) {
		SPUR_ERRLOG("bdev %s: register must run on the app thread",
			    bdev->name ? bdev->name : "");
		return -EINVAL;
	}
	rc = bdev_check_geometry(bdev);
	if (rc != 0) {
		return rc;
	}
	if (!g_bdev_mgr.started) {
		rc = bdev_layer_start();
		if (rc != 0) {
			return rc;
		}
	}
	ctx_size = bdev->module->get_ctx_size ? bdev->module->get_ctx_size() : 0;
	if (ctx_size > g_bdev_mgr.max_ctx_size) {
		SPUR_ERRLOG("bdev %s: module %s needs %zu bytes of request context but the layer "
			    "started with %zu (register the module before the bdev subsystem starts)",
			    bdev->name, bdev->module->name, ctx_size, g_bdev_mgr.max_ctx_size);
		return -EINVAL;
	}
	in = calloc(1, sizeof(*in));
	if (in == NULL) {
		return -ENOMEM;
	}
	in->bdev = bdev;
	TAILQ_INIT(&in->aliases);
	TAILQ_INIT(&in->descs);
	bdev_stat_init(&in->stat);
	for (int t = 0; t < SPUR_BDEV_IO_NUM_TYPES; t++) {
		if (bdev->fn_table->io_type_supported(bdev->ctxt, (enum spur_bdev_io_type)t)) {
			in->io_mask |= 1u << t;
		}
	}
	if (bdev->max_transfer_blocks != 0 || bdev->split_on_optimal_io_boundary) {
		in->slow |= BDEV_SLOW_SPLIT_RW;
	}
	if (bdev->max_unmap_blocks != 0) {
		in->slow |= BDEV_SLOW_SPLIT_UNMAP;
	}
	if (bdev->max_write_zeroes_blocks != 0) {
		in->slow |= BDEV_SLOW_SPLIT_WZ;
	}
	if (bdev->required_alignment > 1) {
		in->slow |= BDEV_SLOW_ALIGN;
	}
	if (spur_uuid_is_zero(bdev->uuid)) {
		spur_uuid_generate(bdev->uuid);
	}

	pthread_mutex_lock(&g_bdev_mgr.lock);
	if (bdev_find_locked(bdev->name) != NULL) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		SPUR_ERRLOG("bdev %s already exists", bdev->name);
		free(in);
		return -EEXIST;
	}
	bdev->internal = in;
	TAILQ_INSERT_TAIL(&g_bdev_mgr.bdevs, in, link);
	pthread_mutex_unlock(&g_bdev_mgr.lock);

	bdev_channel_device_register(bdev);
	SPUR_DEBUGLOG("bdev", "registered %s (module %s, %" PRIu64 " x %u)", bdev->name,
		      bdev->module->name, bdev->blockcnt, bdev->blocklen);
	return 0;
}

int
spur_bdev_alias_add(struct spur_bdev *bdev, const char *alias)
{
	struct bdev_alias *a;

	if (bdev == NULL || bdev->internal == NULL || alias == NULL || alias[0] == '\0') {
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		return -ENOMEM;
	}
	a->name = strdup(alias);
	if (a->name == NULL) {
		free(a);
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	if (bdev_find_locked(alias) != NULL) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		SPUR_ERRLOG("bdev %s: alias %s already exists", bdev->name, alias);
		free(a->name);
		free(a);
		return -EEXIST;
	}
	TAILQ_INSERT_TAIL(&bdev->internal->aliases, a, link);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return 0;
}

/* ---- events ------------------------------------------------------------------- */

struct bdev_event_msg {
	struct spur_bdev_desc *desc;
	enum spur_bdev_event event;
};

static void
bdev_event_deliver(void *arg)
{
	struct bdev_event_msg *m = arg;
	struct spur_bdev_desc *desc = m->desc;
	bool closed, free_it;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	desc->refs--;
	closed = desc->closed;
	free_it = closed && desc->refs == 0;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	if (!closed) {
		desc->event_cb(m->event, desc->bdev, desc->event_ctx);
	} else if (free_it) {
		free(desc);
	}
	free(m);
}

/* With the lock held: tell every open descriptor (a message to its thread). */
static void
bdev_notify_locked(struct spur_bdev *bdev, enum spur_bdev_event event)
{
	struct spur_bdev_desc *desc;
	struct bdev_event_msg *m;

	TAILQ_FOREACH(desc, &bdev->internal->descs, link) {
		m = malloc(sizeof(*m));
		if (m == NULL) {
			SPUR_ERRLOG("bdev %s: out of memory for an event", bdev->name);
			continue;
		}
		m->desc = desc;
		m->event = event;
		desc->refs++;
		if (spur_thread_send_msg(desc->thread, bdev_event_deliver, m) != 0) {
			SPUR_ERRLOG("bdev %s: cannot deliver an event to thread %s", bdev->name,
				    spur_thread_get_name(desc->thread));
			desc->refs--;
			free(m);
		}
	}
}

int
spur_bdev_notify_blockcnt_change(struct spur_bdev *bdev, uint64_t blockcnt)
{
	if (bdev == NULL || bdev->internal == NULL || blockcnt == 0 ||
	    blockcnt > UINT64_MAX / bdev->blocklen) {
		return -EINVAL;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	__atomic_store_n(&bdev->blockcnt, blockcnt, __ATOMIC_RELAXED);
	bdev_notify_locked(bdev, SPUR_BDEV_EVENT_RESIZE);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	SPUR_DEBUGLOG("bdev", "%s resized to %" PRIu64 " blocks", bdev->name, blockcnt);
	return 0;
}

/* ---- descriptors ---------------------------------------------------------------- */

int
spur_bdev_open(const char *name, bool write, spur_bdev_event_cb event_cb, void *event_ctx,
	       struct spur_bdev_desc **out)
{
	struct spur_thread *thread = spur_get_thread();
	struct spur_bdev_desc *desc;
	struct spur_bdev *bdev;

	if (name == NULL || event_cb == NULL || out == NULL) {
		return -EINVAL;
	}
	if (thread == NULL) {
		SPUR_ERRLOG("bdev %s: open outside a spur thread", name);
		return -EINVAL;
	}
	desc = calloc(1, sizeof(*desc));
	if (desc == NULL) {
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	bdev = bdev_find_locked(name);
	if (bdev == NULL || atomic_load(&bdev->internal->status) != BDEV_STATE_REGISTERED) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		free(desc);
		return -ENODEV;
	}
	if (write && bdev->internal->claim_module != NULL) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		SPUR_ERRLOG("bdev %s is claimed by module %s: cannot open it for writing",
			    bdev->name, bdev->internal->claim_module->name);
		free(desc);
		return -EPERM;
	}
	desc->bdev = bdev;
	desc->write = write;
	desc->thread = thread;
	desc->event_cb = event_cb;
	desc->event_ctx = event_ctx;
	TAILQ_INSERT_TAIL(&bdev->internal->descs, desc, link);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	SPUR_DEBUGLOG("bdev", "opened %s (%s) on thread %s", bdev->name, write ? "rw" : "ro",
		      spur_thread_get_name(thread));
	*out = desc;
	return 0;
}

static void bdev_unregister_continue(void *arg);

void
spur_bdev_close(struct spur_bdev_desc *desc)
{
	struct spur_bdev *bdev;
	struct spur_bdev_internal *in;
	bool last, free_it;

	if (desc == NULL) {
		return;
	}
	bdev = desc->bdev;
	in = bdev->internal;
	if (desc->thread != spur_get_thread()) {
		SPUR_ERRLOG("bdev %s: descriptor closed on thread %s, opened on %s", bdev->name,
			    spur_get_thread() ? spur_thread_get_name(spur_get_thread()) : "(none)",
			    spur_thread_get_name(desc->thread));
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	TAILQ_REMOVE(&in->descs, desc, link);
	desc->closed = true;
	free_it = desc->refs == 0;
	if (in->claim_desc == desc) {
		SPUR_DEBUGLOG("bdev", "%s: claim of module %s released on close", bdev->name,
			      in->claim_module->name);
		in->claim_desc = NULL;
		in->claim_module = NULL;
	}
	last = TAILQ_EMPTY(&in->descs) && atomic_load(&in->status) == BDEV_STATE_REMOVING;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	if (free_it) {
		free(desc);
	}
	if (last) {
		/* Registry changes happen on the app thread. */
		struct spur_thread *app = spur_get_app_thread();

		if (app != NULL && app != spur_get_thread() &&
		    spur_thread_send_msg(app, bdev_unregister_continue, bdev) == 0) {
			return;
		}
		bdev_unregister_continue(bdev);
	}
}

struct spur_bdev *
spur_bdev_desc_get_bdev(struct spur_bdev_desc *desc)
{
	return desc->bdev;
}

/* ---- claims ---------------------------------------------------------------------- */

int
spur_bdev_module_claim_bdev(struct spur_bdev *bdev, struct spur_bdev_desc *desc,
			    const struct spur_bdev_module *module)
{
	struct spur_bdev_internal *in;

	if (bdev == NULL || module == NULL || bdev->internal == NULL) {
		return -EINVAL;
	}
	in = bdev->internal;
	pthread_mutex_lock(&g_bdev_mgr.lock);
	if (in->claim_module != NULL) {
		const char *holder = in->claim_module->name;

		pthread_mutex_unlock(&g_bdev_mgr.lock);
		SPUR_ERRLOG("bdev %s already claimed by module %s; module %s cannot claim it",
			    bdev->name, holder, module->name);
		return -EPERM;
	}
	in->claim_module = module;
	in->claim_desc = desc;
	if (desc != NULL) {
		/* The claimer writes through its own descriptor. */
		desc->write = true;
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	SPUR_DEBUGLOG("bdev", "%s claimed by module %s", bdev->name, module->name);
	return 0;
}

void
spur_bdev_module_release_bdev(struct spur_bdev *bdev)
{
	if (bdev == NULL || bdev->internal == NULL) {
		return;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	bdev->internal->claim_module = NULL;
	bdev->internal->claim_desc = NULL;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
}

/* ---- unregister ---------------------------------------------------------------------- */

struct bdev_unreg_done {
	void (*cb)(void *cb_arg, int status);
	void *cb_arg;
	int status;
};

static void
bdev_unregister_cb_msg(void *arg)
{
	struct bdev_unreg_done *d = arg;

	d->cb(d->cb_arg, d->status);
	free(d);
}

/* destruct finished: free the layer's state and report (app thread). */
static void
bdev_destruct_complete(struct spur_bdev_internal *in, int status)
{
	void (*cb)(void *cb_arg, int status) = in->unregister_cb;
	void *cb_arg = in->unregister_arg;
	struct spur_thread *thread = in->unregister_thread;
	struct bdev_unreg_done *d;

	free(in);
	if (cb == NULL) {
		return;
	}
	if (thread != NULL && thread != spur_get_thread()) {
		d = malloc(sizeof(*d));
		if (d != NULL) {
			d->cb = cb;
			d->cb_arg = cb_arg;
			d->status = status;
			if (spur_thread_send_msg(thread, bdev_unregister_cb_msg, d) == 0) {
				return;
			}
			free(d);
		}
	}
	cb(cb_arg, status);
}

/* Every channel of the bdev is gone: leave the registry and destruct. */
static void
bdev_channels_gone(void *io_device)
{
	struct spur_bdev_internal *in = io_device;
	struct spur_bdev *bdev = in->bdev;
	struct bdev_alias *a;
	int rc;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	TAILQ_REMOVE(&g_bdev_mgr.bdevs, in, link);
	while ((a = TAILQ_FIRST(&in->aliases)) != NULL) {
		TAILQ_REMOVE(&in->aliases, a, link);
		free(a->name);
		free(a);
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	if (atomic_load(&in->qos) != NULL) {
		bdev_qos_free(atomic_load(&in->qos));
		atomic_store(&in->qos, NULL);
	}
	SPUR_DEBUGLOG("bdev", "%s: destructing", bdev->name);
	rc = bdev->fn_table->destruct(bdev->ctxt);
	if (rc == 1) {
		return; /* spur_bdev_destruct_done later */
	}
	if (rc < 0) {
		SPUR_ERRLOG("bdev: destruct failed: %s", strerror(-rc));
	}
	bdev_destruct_complete(in, rc < 0 ? rc : 0);
}

void
spur_bdev_destruct_done(struct spur_bdev *bdev)
{
	bdev_destruct_complete(bdev->internal, 0);
}

/* Last descriptor closed (app thread): wait for the channels, then destruct. */
static void
bdev_unregister_continue(void *arg)
{
	struct spur_bdev *bdev = arg;

	spur_io_device_unregister(bdev_io_dev(bdev), bdev_channels_gone);
}

void
spur_bdev_unregister(struct spur_bdev *bdev, void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	struct spur_bdev_internal *in;
	bool no_descs;

	if (bdev == NULL || bdev->internal == NULL) {
		if (cb != NULL) {
			cb(cb_arg, -ENODEV);
		}
		return;
	}
	in = bdev->internal;
	if (!on_app_thread()) {
		SPUR_ERRLOG("bdev %s: unregister must run on the app thread", bdev->name);
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	if (atomic_load(&in->status) != BDEV_STATE_REGISTERED) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		SPUR_ERRLOG("bdev %s is already being removed", bdev->name);
		if (cb != NULL) {
			cb(cb_arg, -EBUSY);
		}
		return;
	}
	atomic_store(&in->status, BDEV_STATE_REMOVING);
	in->unregister_cb = cb;
	in->unregister_arg = cb_arg;
	in->unregister_thread = spur_get_thread();
	bdev_notify_locked(bdev, SPUR_BDEV_EVENT_REMOVE);
	no_descs = TAILQ_EMPTY(&in->descs);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	SPUR_DEBUGLOG("bdev", "%s: unregistering%s", bdev->name,
		      no_descs ? "" : ", waiting for descriptors to close");
	if (no_descs) {
		bdev_unregister_continue(bdev);
	}
}
