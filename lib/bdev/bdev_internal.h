/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Structures shared by the files of lib/bdev (never included outside it,
 * except by lib/bdev's own unit tests).
 *
 * A request object is one allocation of g_bdev_mgr.io_size bytes:
 *
 *   [struct bdev_io_priv][struct spur_bdev_io][driver_ctx of the largest module]
 *
 * The private header keeps its cold part (split and bounce state, the child
 * iovec array) first and the fields every request touches last, so the hot
 * fields share cache lines with the public struct that follows.
 *
 * Ownership and threads:
 * - The registry (g_bdev_mgr.bdevs), every bdev's status, descriptor list,
 *   claim and folded statistics are changed under g_bdev_mgr.lock; the list
 *   itself changes only on the app thread, which may therefore walk it
 *   without the lock.
 * - A struct bdev_mgmt_channel (one per thread doing bdev I/O) and a struct
 *   bdev_channel (one per (bdev, thread)) are touched only by their thread.
 * - A request belongs to the thread that submitted it until it is freed
 *   there; it waits in at most one list at a time (mgmt free list, completion
 *   list, buffer-wait list, or a channel's QoS queue) through 'next'.
 * - struct bdev_qos is shared by every channel of a bdev: its token counters
 *   are atomics; its limits change on the app thread only.
 */
#ifndef SPUR_BDEV_INTERNAL_H
#define SPUR_BDEV_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include "spur/bdev.h"
#include "spur/bdev_module.h"
#include "spur/thread.h"
#include "spur/util.h"

/* iovecs for the children of one split round, kept in the parent. */
#define BDEV_IO_CHILD_IOV 32
/* At most this many children of one parent in flight. */
#define BDEV_SPLIT_MAX_CHILDREN 32
/* QoS: tokens are granted per time slice; queued requests are retried this often. */
#define BDEV_QOS_SLICE_US 1000
#define BDEV_QOS_POLL_US 250
/* Status classes counted in io_error[]: index -status (1..6). */
#define BDEV_NUM_STATUS 7

enum bdev_state {
	BDEV_STATE_REGISTERED = 0,
	BDEV_STATE_REMOVING, /* unregister called: opens and new I/O fail */
};

/* Why requests of a bdev may leave the fast path (bits of 'slow'). */
#define BDEV_SLOW_SPLIT_RW 0x1u   /* max_transfer_blocks or boundary split */
#define BDEV_SLOW_SPLIT_UNMAP 0x2u
#define BDEV_SLOW_SPLIT_WZ 0x4u
#define BDEV_SLOW_ALIGN 0x8u      /* required_alignment > 1: check iovecs */

/* Options of bdev_set_options (fixed once the layer started). */
struct bdev_opts {
	uint32_t io_pool_size;     /* request objects, all threads */
	uint32_t io_cache_size;    /* request objects cached per thread */
	bool auto_examine;         /* accepted for SPDK compatibility */
	uint32_t small_cache_size; /* buffers cached per thread */
	uint32_t large_cache_size;
	uint32_t small_pool_count; /* buffers, all threads */
	uint32_t large_pool_count;
};

struct bdev_qos;
struct bdev_io_priv;

struct spur_bdev_desc {
	struct spur_bdev *bdev;
	bool write;
	/* Under g_bdev_mgr.lock. */
	bool closed;
	uint32_t refs;                /* event messages in flight */
	struct spur_thread *thread;   /* the opener's */
	spur_bdev_event_cb event_cb;
	void *event_ctx;
	TAILQ_ENTRY(spur_bdev_desc) link;
};

struct bdev_alias {
	char *name;
	TAILQ_ENTRY(bdev_alias) link;
};

struct spur_bdev_internal {
	/* Read on every submit (keep first, rarely written). */
	_Atomic int status;          /* enum bdev_state */
	uint32_t io_mask;            /* 1 << type for each supported type */
	uint32_t slow;               /* BDEV_SLOW_* */
	struct spur_bdev *bdev;

	/* Control path, under g_bdev_mgr.lock. */
	TAILQ_ENTRY(spur_bdev_internal) link;   /* registry, registration order */
	TAILQ_HEAD(, bdev_alias) aliases;
	TAILQ_HEAD(, spur_bdev_desc) descs;
	const struct spur_bdev_module *claim_module;
	struct spur_bdev_desc *claim_desc;
	struct spur_bdev_io_stat stat;          /* folded from destroyed channels */
	void (*unregister_cb)(void *cb_arg, int status);
	void *unregister_arg;
	struct spur_thread *unregister_thread;

	/* QoS (app thread). */
	struct bdev_qos *_Atomic qos;           /* channels attach to this one */
	uint64_t qos_limits[4];                 /* as set (ios/s, MB/s) */
	bool qos_busy;                          /* an enable/disable walk runs */
};

/* Per thread: request cache, deferred completions and waiters. */
struct bdev_mgmt_channel {
	struct bdev_io_priv *cache;   /* free request objects */
	uint32_t cache_count;
	struct bdev_io_priv *cpl_head;  /* completions for the next poll */
	struct bdev_io_priv **cpl_tailp;
	struct spur_bdev_io_wait_entry *wait_head;   /* spur_bdev_queue_io_wait */
	struct spur_bdev_io_wait_entry **wait_tailp;
	struct bdev_io_priv *buf_head;  /* requests waiting for a pool buffer */
	struct bdev_io_priv **buf_tailp;
	struct spur_poller *poller;
	struct spur_thread *thread;
};

/* Per (bdev, thread). */
struct bdev_channel {
	/* Read on every submit. */
	struct spur_bdev *bdev;
	struct spur_bdev_internal *internal;
	struct bdev_mgmt_channel *mgmt;
	struct spur_io_channel *module_ch;
	void (*submit_fn)(struct spur_io_channel *ch, struct spur_bdev_io *io);
	struct bdev_qos *qos;        /* NULL: no QoS (the common case) */
	uint32_t slow;
	uint32_t blocklen;
	uint64_t outstanding;        /* user requests in flight (queue depth) */
	uint64_t last_tsc;           /* last change of 'outstanding' */

	/* QoS: requests waiting for tokens, FIFO. */
	struct bdev_io_priv *qos_head;
	struct bdev_io_priv **qos_tailp;
	struct spur_poller *qos_poller;
	bool qos_poller_running;
	uint64_t qos_slice;          /* slice the figures below belong to */
	uint64_t qos_used[4];        /* tokens this channel took in it */

	struct spur_io_channel *mgmt_ch;
	struct spur_bdev_io_stat stat;
};

/* What a request in the buffer-wait list does once it has a buffer. */
enum bdev_buf_wait {
	BDEV_BUF_WAIT_NONE = 0,
	BDEV_BUF_WAIT_READ,     /* read without iovecs: then submit */
	BDEV_BUF_WAIT_BOUNCE,   /* misaligned: then bounce and call the module */
};

/* Split and bounce state: read only by requests that leave the fast path. */
struct bdev_io_cold {
	struct iovec child_iov[BDEV_IO_CHILD_IOV];
	struct spur_bdev_io_wait_entry split_wait;
	struct bdev_io_priv *parent;       /* set on children */
	uint64_t split_offset;             /* next block to issue */
	uint64_t split_remaining;          /* blocks not issued yet */
	size_t split_iov_off;              /* cursor into the parent's iovecs */
	int split_iov_idx;
	uint32_t split_outstanding;        /* children in flight */
	bool split_loop;                   /* bdev_split_continue is on the stack */
	bool split_waiting;                /* waiting for a request object */
	bool bounce_limit;                 /* misaligned: children <= a large buffer */
	uint8_t buf_wait;                  /* enum bdev_buf_wait */
	struct iovec *orig_iovs;           /* caller's, while bounced */
	int orig_iovcnt;
	struct iovec bounce_iov;
};

/*
 * The private header. 'cold' is padded to whole cache lines so that the hot
 * part (80 bytes) and the public struct (48 bytes) that follows fill exactly
 * two lines: a fast-path request touches those two and the driver_ctx.
 */
struct bdev_io_priv {
	union {
		struct bdev_io_cold c;
		uint8_t pad[(sizeof(struct bdev_io_cold) + SPUR_CACHE_LINE - 1) &
			    ~(size_t)(SPUR_CACHE_LINE - 1)];
	} cold;

	/* Hot: every request. */
	struct iovec own_iov;              /* flat buffer, or the layer's read buffer */
	void *own_buf;                     /* layer-supplied read buffer, freed with the request */
	void *bounce_buf;                  /* non-NULL while bounced */
	struct bdev_io_priv *next;         /* in exactly one list at a time */
	spur_bdev_io_cb cb;
	void *cb_arg;
	struct bdev_channel *ch;
	uint64_t submit_tsc;
	int32_t status;
	bool in_user;       /* the caller's submit function is on the stack */
	bool in_module;     /* the module's submit_request is on the stack */
	bool done_pending;  /* completed inside submit_request */
	bool is_child;
} __attribute__((aligned(16)));

_Static_assert(sizeof(struct bdev_io_priv) % SPUR_CACHE_LINE == 16,
	       "hot part of the request header must end 16 bytes into a line");
_Static_assert(sizeof(struct spur_bdev_io) == 48, "public request is 48 bytes");

static inline struct spur_bdev_io *
bdev_io_from_priv(struct bdev_io_priv *p)
{
	return (struct spur_bdev_io *)(void *)(p + 1);
}

static inline struct bdev_io_priv *
bdev_io_priv(struct spur_bdev_io *io)
{
	return (struct bdev_io_priv *)(void *)io - 1;
}

/* The io_device of a bdev's channels (not the bdev pointer: modules may use that). */
static inline void *
bdev_io_dev(struct spur_bdev *bdev)
{
	return bdev->internal;
}

struct bdev_mgr {
	pthread_mutex_t lock;
	TAILQ_HEAD(bdev_list, spur_bdev_internal) bdevs;
	const struct spur_bdev_module *modules[64];
	size_t num_modules;
	bool started;          /* request size fixed, mgmt io_device registered */
	size_t max_ctx_size;   /* largest module driver_ctx */
	size_t io_size;        /* one request object */
};

extern struct bdev_mgr g_bdev_mgr;
extern struct bdev_opts g_bdev_opts;

/* ---- bdev.c --------------------------------------------------------------- */
/* Look up by name or alias with the lock held. */
struct spur_bdev *bdev_find_locked(const char *name);

/* ---- bdev_channel.c ------------------------------------------------------- */
/* Fix the request size and register the management io_device (app thread). */
int bdev_layer_start(void);
/* Undo bdev_layer_start once every channel is gone; done() afterwards. */
void bdev_layer_stop(void (*done)(void));
/* Cache empty: refill from the shared pool; NULL when it is exhausted. */
struct bdev_io_priv *bdev_io_get_slow(struct bdev_mgmt_channel *mgmt);
/* Cache above io_cache_size: give a batch back to the shared pool. */
void bdev_io_cache_trim(struct bdev_mgmt_channel *mgmt);
/* Refill the thread cache from the shared pool; true when it has objects. */
bool bdev_io_cache_refill(struct bdev_mgmt_channel *mgmt);
/* io_device of a bdev's channels: register at bdev registration. */
void bdev_channel_device_register(struct spur_bdev *bdev);
/* Request objects allocated so far (tests). */
uint32_t bdev_io_pool_total(void);

/* A request object of this thread; NULL when the pool is exhausted. */
static inline struct bdev_io_priv *
bdev_io_get(struct bdev_mgmt_channel *mgmt)
{
	struct bdev_io_priv *p = mgmt->cache;

	if (spur_likely(p != NULL)) {
		mgmt->cache = p->next;
		mgmt->cache_count--;
		return p;
	}
	return bdev_io_get_slow(mgmt);
}

static inline void
bdev_io_put(struct bdev_mgmt_channel *mgmt, struct bdev_io_priv *p)
{
	p->next = mgmt->cache;
	mgmt->cache = p;
	if (spur_unlikely(++mgmt->cache_count > g_bdev_opts.io_cache_size)) {
		bdev_io_cache_trim(mgmt);
	}
}

/* ---- bdev_io.c ------------------------------------------------------------ */
/* Send a request on (after QoS): split, bounce or straight to the module. */
void bdev_io_execute(struct bdev_io_priv *p);
/* Call the module for p (bounced already, not split). */
void bdev_io_call_module(struct bdev_io_priv *p);
/* p is done (status in p->status): undo bounce, account, deliver. */
void bdev_io_finish(struct bdev_io_priv *p);
/* Complete a request that never reached the module (reset, shutdown). */
void bdev_io_abort(struct bdev_io_priv *p);
/* A layer buffer for a read without iovecs arrived: submit. */
void bdev_io_read_buf_ready(struct bdev_io_priv *p, void *buf);
/* Queue an internal waiter for a request object (no emptiness check). */
void bdev_io_wait_internal(struct bdev_mgmt_channel *mgmt, struct spur_bdev_io_wait_entry *entry);
/* Poller of a management channel. */
int bdev_mgmt_poll(void *ctx);
/* A request object came back to mgmt: wake io waiters. */
void bdev_io_wake_waiters(struct bdev_mgmt_channel *mgmt);

/* ---- bdev_split.c --------------------------------------------------------- */
bool bdev_io_should_split(struct bdev_io_priv *p);
/* Split p into children and complete it when they are all done. */
void bdev_io_split(struct bdev_io_priv *p);
/* A child finished (status in child->status); the child is freed here. */
void bdev_split_child_done(struct bdev_io_priv *child);

/* ---- bdev_buf.c ----------------------------------------------------------- */
/* True when the module needs a bounce buffer for p's iovecs. */
bool bdev_io_needs_bounce(struct bdev_io_priv *p);
/* Bounce p and call the module, or park p until a buffer frees. */
void bdev_io_bounce_and_submit(struct bdev_io_priv *p);
/* After completion: copy a bounced read back, release the bounce buffer. */
void bdev_io_unbounce(struct bdev_io_priv *p);
/* Park p in its thread's buffer-wait list. */
void bdev_buf_wait_add(struct bdev_io_priv *p, enum bdev_buf_wait why);
/* Complete parked requests of channel ch with SPUR_BDEV_ERR_ABORTED. */
void bdev_buf_wait_abort(struct bdev_mgmt_channel *mgmt, struct bdev_channel *ch);
/* Retry parked requests (mgmt poller); true when one made progress. */
bool bdev_buf_wait_retry(struct bdev_mgmt_channel *mgmt);
/* Apply g_bdev_opts to the buffer pool (before first use). */
void bdev_buf_configure(void);
/* Buffers allocated and free in the shared pool (tests). */
void bdev_buf_get_counts(uint32_t *small_total, uint32_t *small_free, uint32_t *large_total,
			 uint32_t *large_free);
/* Return this OS thread's cached buffers to the shared pool. */
void bdev_buf_thread_flush(void);
/* Free the pool memory if every buffer is back (shutdown, tests). */
void bdev_buf_release_all(void);

/* ---- bdev_qos.c ----------------------------------------------------------- */
/* Hook for tests: the clock QoS reads (NULL: spur_get_ticks). */
extern uint64_t (*bdev_qos_clock)(void);
/* Request p of channel ch needs tokens: true when queued instead. */
bool bdev_qos_queue_if_needed(struct bdev_channel *ch, struct bdev_io_priv *p);
/* Attach / detach a channel (on its thread). */
void bdev_qos_channel_attach(struct bdev_channel *ch, struct bdev_qos *qos);
void bdev_qos_channel_detach(struct bdev_channel *ch, bool resubmit);
/* Complete every request queued on ch with SPUR_BDEV_ERR_ABORTED. */
void bdev_qos_channel_abort(struct bdev_channel *ch);
void bdev_qos_free(struct bdev_qos *qos);
/* Take tokens for one request now (tests reach the token math here). */
bool bdev_qos_take(struct bdev_qos *qos, bool is_read, uint64_t bytes, uint64_t now);
struct bdev_qos *bdev_qos_alloc(const uint64_t limits[4], uint64_t now);

/* ---- bdev_stats.c --------------------------------------------------------- */
void bdev_stat_init(struct spur_bdev_io_stat *stat);
/* dst += src (sums, min of mins, max of maxes). */
void bdev_stat_add(struct spur_bdev_io_stat *dst, const struct spur_bdev_io_stat *src);
/* Add SPDK's bdev_get_iostat members (and spur's own) to obj. */
void bdev_stat_to_json(const struct spur_bdev_io_stat *stat, json_t *obj);

/* ---- bdev_rpc.c ----------------------------------------------------------- */
#define BDEV_RPC_NUM_METHODS 5
extern const struct spur_rpc_method g_bdev_rpc_methods[BDEV_RPC_NUM_METHODS];
/* bdev_get_bdevs' object for one bdev (tests use it too). */
json_t *bdev_info_json(struct spur_bdev *bdev);

#endif
