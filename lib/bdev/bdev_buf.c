/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Data buffers: the pool behind spur_bdev_buf_get / put, reads without
 * iovecs and bounce buffers for modules that need aligned memory.
 *
 * Pool: two classes, small (SPUR_BDEV_SMALL_BUF_SIZE) and large
 * (SPUR_BDEV_LARGE_BUF_SIZE), every buffer 4 KiB aligned. Each class has a
 * shared free stack under a mutex, grown lazily in chunks up to its count
 * (an idle daemon pins nothing), and every OS thread keeps a cache per class
 * refilled and drained in batches of half its size, so the common get / put
 * touches only thread-local memory. Lightweight threads of one reactor share
 * its OS thread's cache, which is safe because they never run concurrently.
 * A thread's cache goes back to the shared pool when the OS thread exits.
 *
 * Bounce: a read or write whose iovecs break the module's required_alignment
 * (an iovec base not on it, or a length not a multiple of the smaller of it
 * and the block size) gets one pool buffer (the split code keeps such requests within a large
 * buffer); writes are gathered into it before the module sees the request,
 * reads scattered back on success. Requests that find the pool empty wait in
 * their thread's buffer-wait list, retried by the management poller.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"
#include "spur/iov.h"
#include "spur/log.h"

#define BUF_ALIGN 4096u
#define BUF_CLASSES 2

struct buf_class {
	size_t size;
	uint32_t chunk_bufs;        /* buffers per allocation */
	pthread_mutex_t lock;
	void **free;                /* stack, capacity 'max' */
	uint32_t free_count;
	uint32_t total;             /* allocated */
	uint32_t max;               /* pool count */
	uint32_t cache_max;         /* per-thread cache size */
	void **chunks;
	size_t num_chunks;
};

static struct buf_class g_classes[BUF_CLASSES] = {
	{.size = SPUR_BDEV_SMALL_BUF_SIZE, .chunk_bufs = 64, .lock = PTHREAD_MUTEX_INITIALIZER},
	{.size = SPUR_BDEV_LARGE_BUF_SIZE, .chunk_bufs = 8, .lock = PTHREAD_MUTEX_INITIALIZER},
};
static bool g_configured;
static pthread_mutex_t g_config_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_key;

struct buf_tcache {
	uint32_t count[BUF_CLASSES];
	uint32_t cap[BUF_CLASSES];
	void **bufs[BUF_CLASSES];
};

static __thread struct buf_tcache *t_cache;

/* ---- shared pool ------------------------------------------------------------ */

static void
class_configure_locked(struct buf_class *bc, uint32_t max, uint32_t cache_max)
{
	void **stack;

	bc->cache_max = cache_max;
	if (bc->total != 0 || max == bc->max) {
		return; /* buffers exist: keep the stack (and its capacity) */
	}
	stack = realloc(bc->free, (size_t)SPUR_MAX(max, 1u) * sizeof(void *));
	if (stack == NULL) {
		SPUR_ERRLOG("bdev: out of memory for the buffer pool");
		return;
	}
	bc->free = stack;
	bc->max = max;
}

static void
buf_configure(void)
{
	pthread_mutex_lock(&g_config_lock);
	for (int i = 0; i < BUF_CLASSES; i++) {
		struct buf_class *bc = &g_classes[i];

		pthread_mutex_lock(&bc->lock);
		class_configure_locked(bc, i == 0 ? g_bdev_opts.small_pool_count :
					   g_bdev_opts.large_pool_count,
				       i == 0 ? g_bdev_opts.small_cache_size :
					   g_bdev_opts.large_cache_size);
		pthread_mutex_unlock(&bc->lock);
	}
	g_configured = true;
	pthread_mutex_unlock(&g_config_lock);
}

void
bdev_buf_configure(void)
{
	buf_configure();
}

/* With the class lock: allocate one more chunk if the count allows. */
static void
class_grow_locked(struct buf_class *bc)
{
	uint32_t n = SPUR_MIN(bc->chunk_bufs, bc->max - bc->total);
	void **chunks;
	char *mem;

	if (n == 0) {
		return;
	}
	chunks = realloc(bc->chunks, (bc->num_chunks + 1) * sizeof(*chunks));
	if (chunks == NULL) {
		return;
	}
	bc->chunks = chunks;
	if (posix_memalign((void **)&mem, BUF_ALIGN, (size_t)n * bc->size) != 0) {
		SPUR_ERRLOG("bdev: out of memory for %u buffers of %zu bytes", n, bc->size);
		return;
	}
	bc->chunks[bc->num_chunks++] = mem;
	for (uint32_t i = 0; i < n; i++) {
		bc->free[bc->free_count++] = mem + (size_t)i * bc->size;
	}
	bc->total += n;
}

static void
key_destructor(void *arg)
{
	struct buf_tcache *tc = arg;

	t_cache = tc;
	bdev_buf_thread_flush();
	for (int i = 0; i < BUF_CLASSES; i++) {
		free(tc->bufs[i]);
	}
	free(tc);
	t_cache = NULL;
}

static void
key_create(void)
{
	pthread_key_create(&g_key, key_destructor);
}

static struct buf_tcache *
tcache_get(void)
{
	struct buf_tcache *tc = t_cache;

	if (spur_likely(tc != NULL)) {
		return tc;
	}
	if (!g_configured) {
		buf_configure();
	}
	pthread_once(&g_key_once, key_create);
	tc = calloc(1, sizeof(*tc));
	if (tc == NULL) {
		return NULL;
	}
	for (int i = 0; i < BUF_CLASSES; i++) {
		tc->cap[i] = g_classes[i].cache_max;
		tc->bufs[i] = calloc(SPUR_MAX(tc->cap[i], 1u), sizeof(void *));
		if (tc->bufs[i] == NULL) {
			tc->cap[i] = 0;
		}
	}
	t_cache = tc;
	pthread_setspecific(g_key, tc);
	return tc;
}

/* Move up to n buffers from the shared stack into the cache; returns how many. */
static uint32_t
tcache_refill(struct buf_tcache *tc, int cls, uint32_t n)
{
	struct buf_class *bc = &g_classes[cls];
	uint32_t moved = 0;

	pthread_mutex_lock(&bc->lock);
	while (moved < n) {
		if (bc->free_count == 0) {
			class_grow_locked(bc);
			if (bc->free_count == 0) {
				break;
			}
		}
		tc->bufs[cls][tc->count[cls]++] = bc->free[--bc->free_count];
		moved++;
	}
	pthread_mutex_unlock(&bc->lock);
	return moved;
}

static void
tcache_drain(struct buf_tcache *tc, int cls, uint32_t keep)
{
	struct buf_class *bc = &g_classes[cls];

	pthread_mutex_lock(&bc->lock);
	while (tc->count[cls] > keep) {
		bc->free[bc->free_count++] = tc->bufs[cls][--tc->count[cls]];
	}
	pthread_mutex_unlock(&bc->lock);
}

static int
buf_class_of(size_t len)
{
	if (len <= SPUR_BDEV_SMALL_BUF_SIZE) {
		return 0;
	}
	if (len <= SPUR_BDEV_LARGE_BUF_SIZE) {
		return 1;
	}
	return -1;
}

void *
spur_bdev_buf_get(size_t len)
{
	struct buf_tcache *tc;
	struct buf_class *bc;
	void *buf = NULL;
	int cls = buf_class_of(len);

	if (cls < 0 || (tc = tcache_get()) == NULL) {
		return NULL;
	}
	if (spur_likely(tc->count[cls] > 0)) {
		return tc->bufs[cls][--tc->count[cls]];
	}
	if (tc->cap[cls] > 0) {
		if (tcache_refill(tc, cls, SPUR_MAX(tc->cap[cls] / 2, 1u)) == 0) {
			return NULL;
		}
		return tc->bufs[cls][--tc->count[cls]];
	}
	/* No cache: straight from the shared stack. */
	bc = &g_classes[cls];
	pthread_mutex_lock(&bc->lock);
	if (bc->free_count == 0) {
		class_grow_locked(bc);
	}
	if (bc->free_count > 0) {
		buf = bc->free[--bc->free_count];
	}
	pthread_mutex_unlock(&bc->lock);
	return buf;
}

void
spur_bdev_buf_put(void *buf, size_t len)
{
	struct buf_tcache *tc;
	struct buf_class *bc;
	int cls = buf_class_of(len);

	if (buf == NULL) {
		return;
	}
	if (cls < 0) {
		SPUR_ERRLOG("bdev: buffer of %zu bytes cannot come from the pool", len);
		return;
	}
	tc = tcache_get();
	if (tc != NULL && tc->cap[cls] > 0) {
		if (spur_unlikely(tc->count[cls] == tc->cap[cls])) {
			tcache_drain(tc, cls, tc->cap[cls] / 2);
		}
		tc->bufs[cls][tc->count[cls]++] = buf;
		return;
	}
	bc = &g_classes[cls];
	pthread_mutex_lock(&bc->lock);
	bc->free[bc->free_count++] = buf;
	pthread_mutex_unlock(&bc->lock);
}

void
bdev_buf_thread_flush(void)
{
	struct buf_tcache *tc = t_cache;

	if (tc == NULL) {
		return;
	}
	for (int i = 0; i < BUF_CLASSES; i++) {
		tcache_drain(tc, i, 0);
	}
}

void
bdev_buf_get_counts(uint32_t *small_total, uint32_t *small_free, uint32_t *large_total,
		    uint32_t *large_free)
{
	uint32_t *out[BUF_CLASSES][2] = {{small_total, small_free}, {large_total, large_free}};

	for (int i = 0; i < BUF_CLASSES; i++) {
		pthread_mutex_lock(&g_classes[i].lock);
		*out[i][0] = g_classes[i].total;
		*out[i][1] = g_classes[i].free_count;
		pthread_mutex_unlock(&g_classes[i].lock);
	}
}

void
bdev_buf_release_all(void)
{
	for (int i = 0; i < BUF_CLASSES; i++) {
		struct buf_class *bc = &g_classes[i];

		pthread_mutex_lock(&bc->lock);
		if (bc->free_count == bc->total) {
			for (size_t k = 0; k < bc->num_chunks; k++) {
				free(bc->chunks[k]);
			}
			free(bc->chunks);
			bc->chunks = NULL;
			bc->num_chunks = 0;
			bc->free_count = 0;
			bc->total = 0;
		} else {
			SPUR_DEBUGLOG("bdev", "%u buffers of %zu bytes still in use; pool kept",
				      bc->total - bc->free_count, bc->size);
		}
		pthread_mutex_unlock(&bc->lock);
	}
}

/* ---- bounce ------------------------------------------------------------------- */

bool
bdev_io_needs_bounce(struct bdev_io_priv *p)
{
	struct spur_bdev_io *io = bdev_io_from_priv(p);
	uint32_t align = p->ch->bdev->required_alignment;
	uintptr_t base_mask = (uintptr_t)align - 1;
	size_t len_mask = (size_t)SPUR_MIN(align, p->ch->blocklen) - 1;

	if (io->type != SPUR_BDEV_IO_READ && io->type != SPUR_BDEV_IO_WRITE) {
		return false;
	}
	/* Bases on the alignment, lengths whole units of it (or of a block). */
	for (int i = 0; i < io->iovcnt; i++) {
		if (((uintptr_t)io->iovs[i].iov_base & base_mask) ||
		    (io->iovs[i].iov_len & len_mask)) {
			return true;
		}
	}
	return false;
}

static void
bounce_start(struct bdev_io_priv *p, void *buf)
{
	struct spur_bdev_io *io = bdev_io_from_priv(p);
	struct bdev_io_cold *c = &p->cold.c;
	size_t len = io->num_blocks * p->ch->blocklen;

	c->orig_iovs = io->iovs;
	c->orig_iovcnt = io->iovcnt;
	c->bounce_iov.iov_base = buf;
	c->bounce_iov.iov_len = len;
	if (io->type == SPUR_BDEV_IO_WRITE)
		spur_iov_to_buf(io->iovs, (unsigned int)io->iovcnt, 0, buf, len);
	p->bounce_buf = buf;
	io->iovs = &c->bounce_iov;
	io->iovcnt = 1;
}

void
bdev_io_unbounce(struct bdev_io_priv *p)
{
	struct spur_bdev_io *io = bdev_io_from_priv(p);
	struct bdev_io_cold *c = &p->cold.c;
	size_t len = c->bounce_iov.iov_len;

	if (io->type == SPUR_BDEV_IO_READ && p->status == 0)
		spur_iov_from_buf(c->orig_iovs, (unsigned int)c->orig_iovcnt, 0, p->bounce_buf,
				  len);
	io->iovs = c->orig_iovs;
	io->iovcnt = c->orig_iovcnt;
	spur_bdev_buf_put(p->bounce_buf, len);
	p->bounce_buf = NULL;
}

void
bdev_io_bounce_and_submit(struct bdev_io_priv *p)
{
	struct spur_bdev_io *io = bdev_io_from_priv(p);
	size_t len = io->num_blocks * p->ch->blocklen;
	void *buf;

	if (len > SPUR_BDEV_LARGE_BUF_SIZE) {
		/* The split code keeps bounced requests smaller; never expected. */
		SPUR_ERRLOG("bdev %s: cannot bounce %zu bytes", io->bdev->name, len);
		p->status = SPUR_BDEV_ERR_IO;
		bdev_io_finish(p);
		return;
	}
	buf = spur_bdev_buf_get(len);
	if (buf == NULL) {
		bdev_buf_wait_add(p, BDEV_BUF_WAIT_BOUNCE);
		return;
	}
	bounce_start(p, buf);
	bdev_io_call_module(p);
}

/* ---- waiting for a buffer -------------------------------------------------------- */

void
bdev_buf_wait_add(struct bdev_io_priv *p, enum bdev_buf_wait why)
{
	struct bdev_mgmt_channel *m = p->ch->mgmt;

	p->cold.c.buf_wait = (uint8_t)why;
	p->next = NULL;
	*m->buf_tailp = p;
	m->buf_tailp = &p->next;
}

static struct bdev_io_priv *
buf_wait_pop(struct bdev_mgmt_channel *m)
{
	struct bdev_io_priv *p = m->buf_head;

	m->buf_head = p->next;
	if (m->buf_head == NULL) {
		m->buf_tailp = &m->buf_head;
	}
	p->next = NULL;
	return p;
}

bool
bdev_buf_wait_retry(struct bdev_mgmt_channel *m)
{
	struct bdev_io_priv *p;
	bool progress = false;
	void *buf;

	while ((p = m->buf_head) != NULL) {
		buf = spur_bdev_buf_get(bdev_io_from_priv(p)->num_blocks * p->ch->blocklen);
		if (buf == NULL) {
			break;
		}
		buf_wait_pop(m);
		progress = true;
		if (p->cold.c.buf_wait == BDEV_BUF_WAIT_READ) {
			bdev_io_read_buf_ready(p, buf);
		} else {
			bounce_start(p, buf);
			bdev_io_call_module(p);
		}
	}
	return progress;
}

void
bdev_buf_wait_abort(struct bdev_mgmt_channel *m, struct bdev_channel *ch)
{
	struct bdev_io_priv *p, *keep = NULL, **keep_tailp = &keep;
	struct bdev_io_priv *aborted = NULL, **aborted_tailp = &aborted;

	while (m->buf_head != NULL) {
		p = buf_wait_pop(m);
		if (p->ch == ch) {
			*aborted_tailp = p;
			aborted_tailp = &p->next;
		} else {
			*keep_tailp = p;
			keep_tailp = &p->next;
		}
	}
	m->buf_head = keep;
	m->buf_tailp = keep == NULL ? &m->buf_head : keep_tailp;
	while ((p = aborted) != NULL) {
		aborted = p->next;
		p->next = NULL;
		bdev_io_abort(p);
	}
}
