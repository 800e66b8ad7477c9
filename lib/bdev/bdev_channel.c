/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Channels and request objects.
 *
 * Owns the layer's start / stop (the request size is fixed at start from the
 * largest driver_ctx of the registered modules), the shared pool of request
 * objects, each thread's management channel (its cache of request objects,
 * deferred completions, waiters and their poller) and the per-(bdev, thread)
 * channel (the module's channel, statistics, QoS queue, queue depth).
 *
 * Request objects: a shared pool, grown lazily in chunks up to
 * g_bdev_opts.io_pool_size objects and protected by a mutex, feeds per-thread
 * caches in batches; a cache above io_cache_size gives a batch back. The fast
 * path (bdev_io_get / bdev_io_put, inline in bdev_internal.h) only touches
 * the thread's cache. Chunks are freed when the layer stops with every object
 * back.
 *
 * Threads: channel create / destroy run on the channel's thread; start / stop
 * on the app thread; the shared pool is locked.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"
#include "spur/log.h"

#define BDEV_IO_CHUNK 256u
#define BDEV_IO_BATCH 32u

static struct {
	pthread_mutex_t lock;
	struct bdev_io_priv *free;
	uint32_t free_count;
	uint32_t total;
	void **chunks;
	size_t num_chunks;
	size_t cap_chunks;
} g_io_pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static void (*g_stop_done)(void);

/* With the pool lock: add up to n objects (bounded by io_pool_size). */
static void
io_pool_grow_locked(uint32_t n)
{
	size_t size = g_bdev_mgr.io_size;
	char *chunk;
	void **chunks;

	if (g_io_pool.total + n > g_bdev_opts.io_pool_size) {
		n = g_bdev_opts.io_pool_size - g_io_pool.total;
	}
	if (n == 0) {
		return;
	}
	if (g_io_pool.num_chunks == g_io_pool.cap_chunks) {
		size_t cap = g_io_pool.cap_chunks ? g_io_pool.cap_chunks * 2 : 16;

		chunks = realloc(g_io_pool.chunks, cap * sizeof(*chunks));
		if (chunks == NULL) {
			return;
		}
		g_io_pool.chunks = chunks;
		g_io_pool.cap_chunks = cap;
	}
	if (posix_memalign((void **)&chunk, SPUR_CACHE_LINE, (size_t)n * size) != 0) {
		SPUR_ERRLOG("bdev: out of memory for %u request objects", n);
		return;
	}
	memset(chunk, 0, (size_t)n * size);
	g_io_pool.chunks[g_io_pool.num_chunks++] = chunk;
	for (uint32_t i = 0; i < n; i++) {
		struct bdev_io_priv *p = (struct bdev_io_priv *)(void *)(chunk + (size_t)i * size);

		p->next = g_io_pool.free;
		g_io_pool.free = p;
	}
	g_io_pool.free_count += n;
	g_io_pool.total += n;
}

bool
bdev_io_cache_refill(struct bdev_mgmt_channel *mgmt)
{
	uint32_t want = SPUR_MAX(SPUR_MIN(BDEV_IO_BATCH, g_bdev_opts.io_cache_size), 1u);
	struct bdev_io_priv *p;

	pthread_mutex_lock(&g_io_pool.lock);
	if (g_io_pool.free_count < want) {
		io_pool_grow_locked(SPUR_MAX(BDEV_IO_CHUNK, want));
	}
	while (want-- > 0 && (p = g_io_pool.free) != NULL) {
		g_io_pool.free = p->next;
		g_io_pool.free_count--;
		p->next = mgmt->cache;
		mgmt->cache = p;
		mgmt->cache_count++;
	}
	pthread_mutex_unlock(&g_io_pool.lock);
	return mgmt->cache != NULL;
}

struct bdev_io_priv *
bdev_io_get_slow(struct bdev_mgmt_channel *mgmt)
{
	struct bdev_io_priv *p;

	if (!bdev_io_cache_refill(mgmt)) {
		return NULL;
	}
	p = mgmt->cache;
	mgmt->cache = p->next;
	mgmt->cache_count--;
	return p;
}

/* Give objects above the cache size (or all, for 'all') back to the pool. */
static void
io_cache_trim(struct bdev_mgmt_channel *mgmt, bool all)
{
	uint32_t keep = all ? 0 : g_bdev_opts.io_cache_size / 2;
	struct bdev_io_priv *p;

	pthread_mutex_lock(&g_io_pool.lock);
	while (mgmt->cache_count > keep) {
		p = mgmt->cache;
		mgmt->cache = p->next;
		mgmt->cache_count--;
		p->next = g_io_pool.free;
		g_io_pool.free = p;
		g_io_pool.free_count++;
	}
	pthread_mutex_unlock(&g_io_pool.lock);
}

void
bdev_io_cache_trim(struct bdev_mgmt_channel *mgmt)
{
	io_cache_trim(mgmt, false);
}

uint32_t
bdev_io_pool_total(void)
{
	uint32_t n;

	pthread_mutex_lock(&g_io_pool.lock);
	n = g_io_pool.total;
	pthread_mutex_unlock(&g_io_pool.lock);
	return n;
}

/* ---- management channel (io_device &g_bdev_mgr) ------------------------------ */

/*
 * Before the reactor sleeps: deferred completions or waiters still here mean
 * work (a poller that submitted I/O but reported IDLE must not strand them).
 */
static bool
mgmt_before_sleep(void *ctx)
{
	struct bdev_mgmt_channel *m = ctx;

	return m->cpl_head != NULL || m->buf_head != NULL || m->wait_head != NULL;
}

static int
mgmt_create(void *io_device, void *ctx)
{
	struct bdev_mgmt_channel *m = ctx;

	m->cpl_tailp = &m->cpl_head;
	m->wait_tailp = &m->wait_head;
	m->buf_tailp = &m->buf_head;
	m->thread = spur_get_thread();
	m->poller = spur_poller_register(bdev_mgmt_poll, m, 0, "bdev_mgmt");
	if (m->poller == NULL) {
		return -ENOMEM;
	}
	spur_poller_set_sleep_hook(m->poller, mgmt_before_sleep, NULL);
	return 0;
}

static void
mgmt_destroy(void *io_device, void *ctx)
{
	struct bdev_mgmt_channel *m = ctx;

	if (m->cpl_head != NULL || m->buf_head != NULL) {
		/* Only a channel put with requests in flight gets here; leak them. */
		SPUR_ERRLOG("bdev: thread %s dropped its bdev channels with requests in flight",
			    spur_thread_get_name(m->thread));
	}
	if (m->wait_head != NULL) {
		SPUR_ERRLOG("bdev: thread %s dropped its bdev channels with io_wait entries queued",
			    spur_thread_get_name(m->thread));
	}
	spur_poller_unregister(&m->poller);
	io_cache_trim(m, true);
}

/* ---- bdev channel (io_device bdev->internal) ---------------------------------- */

static int
bdev_channel_create(void *io_device, void *ctx)
{
	struct spur_bdev_internal *in = io_device;
	struct spur_bdev *bdev = in->bdev;
	struct bdev_channel *ch = ctx;
	struct bdev_qos *qos;

	ch->bdev = bdev;
	ch->internal = in;
	ch->submit_fn = bdev->fn_table->submit_request;
	ch->slow = in->slow;
	ch->blocklen = bdev->blocklen;
	ch->qos_tailp = &ch->qos_head;
	ch->last_tsc = spur_get_ticks();
	bdev_stat_init(&ch->stat);
	ch->module_ch = bdev->fn_table->get_io_channel(bdev->ctxt);
	if (ch->module_ch == NULL) {
		SPUR_ERRLOG("bdev %s: module %s gave no I/O channel", bdev->name, bdev->module->name);
		return -ENOMEM;
	}
	ch->mgmt_ch = spur_get_io_channel(&g_bdev_mgr);
	if (ch->mgmt_ch == NULL) {
		spur_put_io_channel(ch->module_ch);
		return -ENOMEM;
	}
	ch->mgmt = spur_io_channel_get_ctx(ch->mgmt_ch);
	qos = atomic_load(&in->qos);
	if (qos != NULL) {
		bdev_qos_channel_attach(ch, qos);
	}
	return 0;
}

static void
bdev_channel_destroy(void *io_device, void *ctx)
{
	struct spur_bdev_internal *in = io_device;
	struct bdev_channel *ch = ctx;

	if (ch->qos != NULL) {
		bdev_qos_channel_detach(ch, false);
	}
	if (ch->outstanding != 0) {
		SPUR_ERRLOG("bdev %s: channel of thread %s put with %" PRIu64 " requests in flight",
			    ch->bdev->name, spur_thread_get_name(spur_get_thread()),
			    ch->outstanding);
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	bdev_stat_add(&in->stat, &ch->stat);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	spur_put_io_channel(ch->module_ch);
	spur_put_io_channel(ch->mgmt_ch);
}

void
bdev_channel_device_register(struct spur_bdev *bdev)
{
	spur_io_device_register(bdev_io_dev(bdev), bdev_channel_create, bdev_channel_destroy,
				sizeof(struct bdev_channel), bdev->name);
}

struct spur_io_channel *
spur_bdev_get_io_channel(struct spur_bdev_desc *desc)
{
	return spur_get_io_channel(bdev_io_dev(desc->bdev));
}

/* ---- start / stop ------------------------------------------------------------- */

int
bdev_layer_start(void)
{
	size_t max = 0, size;

	if (g_bdev_mgr.started) {
		return 0;
	}
	for (size_t i = 0; i < g_bdev_mgr.num_modules; i++) {
		const struct spur_bdev_module *m = g_bdev_mgr.modules[i];
		size_t n = m->get_ctx_size ? m->get_ctx_size() : 0;

		max = SPUR_MAX(max, n);
	}
	size = sizeof(struct bdev_io_priv) + sizeof(struct spur_bdev_io) + max;
	size = (size + SPUR_CACHE_LINE - 1) & ~(size_t)(SPUR_CACHE_LINE - 1);
	g_bdev_mgr.max_ctx_size = max;
	g_bdev_mgr.io_size = size;
	bdev_buf_configure();
	spur_io_device_register(&g_bdev_mgr, mgmt_create, mgmt_destroy,
				sizeof(struct bdev_mgmt_channel), "bdev_mgmt");
	g_bdev_mgr.started = true;
	SPUR_DEBUGLOG("bdev", "layer started: request object %zu bytes (driver_ctx %zu)", size,
		      max);
	return 0;
}

static void
layer_mgmt_gone(void *io_device)
{
	void (*done)(void) = g_stop_done;

	pthread_mutex_lock(&g_io_pool.lock);
	if (g_io_pool.free_count == g_io_pool.total) {
		for (size_t i = 0; i < g_io_pool.num_chunks; i++) {
			free(g_io_pool.chunks[i]);
		}
		free(g_io_pool.chunks);
		g_io_pool.chunks = NULL;
		g_io_pool.num_chunks = 0;
		g_io_pool.cap_chunks = 0;
		g_io_pool.free = NULL;
		g_io_pool.free_count = 0;
		g_io_pool.total = 0;
	} else {
		/* Abandon the pool (objects still in use keep their memory). */
		SPUR_ERRLOG("bdev: %u request objects were never freed",
			    g_io_pool.total - g_io_pool.free_count);
		g_io_pool.free = NULL;
		g_io_pool.free_count = 0;
		g_io_pool.total = 0;
		g_io_pool.num_chunks = 0;
	}
	pthread_mutex_unlock(&g_io_pool.lock);
	bdev_buf_thread_flush();
	bdev_buf_release_all();
	g_bdev_mgr.started = false;
	g_stop_done = NULL;
	if (done != NULL) {
		done();
	}
}

void
bdev_layer_stop(void (*done)(void))
{
	if (!g_bdev_mgr.started) {
		if (done != NULL) {
			done();
		}
		return;
	}
	g_stop_done = done;
	spur_io_device_unregister(&g_bdev_mgr, layer_mgmt_gone);
}
