/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The I/O path: submission (checks, request set-up), the call into the
 * module, completion, deferral of callbacks, freeing and io_wait, reset.
 *
 * Path of a request:
 *
 *   spur_bdev_*_blocks ── checks ── request from the thread cache ── [QoS queue]
 *     ── bdev_io_execute ── fast: module submit_request
 *                        └─ slow (bdev has limits/alignment): split | bounce
 *   spur_bdev_io_complete ── bdev_io_finish ── unbounce ── child: merge into parent
 *     └─ user callback: directly, or through the thread's completion list when
 *        the caller's submit is still on the stack (drained by bdev_mgmt_poll)
 *
 * Invariants: the user's callback never runs inside the submit call that
 * created the request (in_user); a completion made inside the module's
 * submit_request is handled only after submit_request returns (in_module /
 * done_pending), so a module may touch the request after completing it and
 * recursion stays bounded. Statistics and the queue depth are accounted
 * just before the user's callback. Everything runs on the submitting
 * thread; nothing here allocates, locks or makes a syscall in the common
 * case.
 */
#include <errno.h>
#include <string.h>

#include "bdev_internal.h"
#include "spur/log.h"

/* ---- accounting ---------------------------------------------------------- */

/* Queue depth change: integrate io_time and weighted_io_time first. */
static inline void
bdev_qd_change(struct bdev_channel *ch, uint64_t now, int delta)
{
	if (ch->outstanding != 0) {
		uint64_t dt = now - ch->last_tsc;

		ch->stat.io_time_ticks += dt;
		ch->stat.weighted_io_time_ticks += dt * ch->outstanding;
	}
	ch->last_tsc = now;
	ch->outstanding += (uint64_t)(int64_t)delta;
}

static inline void
lat_minmax(uint64_t lat, uint64_t *max, uint64_t *min)
{
	if (lat > *max) {
		*max = lat;
	}
	if (lat < *min) {
		*min = lat;
	}
}

static inline void
bdev_account(struct bdev_channel *ch, struct bdev_io_priv *p, uint64_t now)
{
	struct spur_bdev_io *io = bdev_io_from_priv(p);
	struct spur_bdev_io_stat *s = &ch->stat;
	uint64_t lat = now - p->submit_tsc;
	uint64_t bytes = io->num_blocks * ch->blocklen;

	bdev_qd_change(ch, now, -1);
	if (spur_unlikely(p->status != 0)) {
		s->num_errors++;
		if (p->status < 0 && p->status > -BDEV_NUM_STATUS) {
			s->io_error[-p->status]++;
		} else {
			s->io_error[1]++;
		}
		return;
	}
	switch (io->type) {
	case SPUR_BDEV_IO_READ:
		s->num_read_ops++;
		s->bytes_read += bytes;
		s->read_latency_ticks += lat;
		lat_minmax(lat, &s->max_read_latency_ticks, &s->min_read_latency_ticks);
		break;
	case SPUR_BDEV_IO_WRITE:
		s->num_write_ops++;
		s->bytes_written += bytes;
		s->write_latency_ticks += lat;
		lat_minmax(lat, &s->max_write_latency_ticks, &s->min_write_latency_ticks);
		break;
	case SPUR_BDEV_IO_UNMAP:
		s->num_unmap_ops++;
		s->bytes_unmapped += bytes;
		s->unmap_latency_ticks += lat;
		lat_minmax(lat, &s->max_unmap_latency_ticks, &s->min_unmap_latency_ticks);
		break;
	case SPUR_BDEV_IO_FLUSH:
		s->num_flush_ops++;
		s->flush_latency_ticks += lat;
		break;
	case SPUR_BDEV_IO_WRITE_ZEROES:
		s->num_write_zeroes_ops++;
		s->bytes_zeroed += bytes;
		s->write_zeroes_latency_ticks += lat;
		break;
	case SPUR_BDEV_IO_RESET:
		s->num_reset_ops++;
		break;
	default:
		break;
	}
}

/* ---- completion ------------------------------------------------------------ */

/* Account and call the user's callback (never inside the user's submit). */
static inline void
bdev_io_deliver(struct bdev_io_priv *p)
{
	bdev_account(p->ch, p, spur_get_ticks());
	p->cb(bdev_io_from_priv(p), p->status, p->cb_arg);
}

void
bdev_io_finish(struct bdev_io_priv *p)
{
	struct bdev_mgmt_channel *m;

	if (spur_unlikely(p->bounce_buf != NULL)) {
		bdev_io_unbounce(p);
	}
	if (spur_unlikely(p->is_child)) {
		bdev_split_child_done(p);
		return;
	}
	if (p->in_user) {
		m = p->ch->mgmt;
		p->next = NULL;
		*m->cpl_tailp = p;
		m->cpl_tailp = &p->next;
		return;
	}
	bdev_io_deliver(p);
}

void
spur_bdev_io_complete(struct spur_bdev_io *io, int status)
{
	struct bdev_io_priv *p = bdev_io_priv(io);

	p->status = status;
	if (p->in_module) {
		p->done_pending = true;
		return;
	}
	bdev_io_finish(p);
}

void
bdev_io_abort(struct bdev_io_priv *p)
{
	p->status = SPUR_BDEV_ERR_ABORTED;
	bdev_io_finish(p);
}

void
bdev_io_call_module(struct bdev_io_priv *p)
{
	struct bdev_channel *ch = p->ch;

	p->in_module = true;
	ch->submit_fn(ch->module_ch, bdev_io_from_priv(p));
	p->in_module = false;
	if (p->done_pending) {
		p->done_pending = false;
		bdev_io_finish(p);
	}
}

static void
bdev_io_execute_slow(struct bdev_io_priv *p)
{
	if (!p->is_child && bdev_io_should_split(p)) {
		bdev_io_split(p);
		return;
	}
	if ((p->ch->slow & BDEV_SLOW_ALIGN) && bdev_io_needs_bounce(p)) {
		bdev_io_bounce_and_submit(p);
		return;
	}
	bdev_io_call_module(p);
}

void
bdev_io_execute(struct bdev_io_priv *p)
{
	if (spur_likely(p->ch->slow == 0)) {
		bdev_io_call_module(p);
		return;
	}
	bdev_io_execute_slow(p);
}

/* Past the checks and buffers: QoS, then execute. */
static inline void
bdev_io_submit(struct bdev_io_priv *p)
{
	if (spur_unlikely(p->ch->qos != NULL) && bdev_qos_queue_if_needed(p->ch, p)) {
		return;
	}
	bdev_io_execute(p);
}

void
bdev_io_read_buf_ready(struct bdev_io_priv *p, void *buf)
{
	struct spur_bdev_io *io = bdev_io_from_priv(p);

	p->own_buf = buf;
	p->own_iov.iov_base = buf;
	p->own_iov.iov_len = io->num_blocks * p->ch->blocklen;
	io->iovs = &p->own_iov;
	io->iovcnt = 1;
	bdev_io_submit(p);
}

int
bdev_mgmt_poll(void *ctx)
{
	struct bdev_mgmt_channel *m = ctx;
	struct bdev_io_priv *p = m->cpl_head, *next;
	int busy = SPUR_POLLER_IDLE;

	if (p != NULL) {
		/* Take the list: completions queued by these callbacks wait one poll. */
		m->cpl_head = NULL;
		m->cpl_tailp = &m->cpl_head;
		do {
			next = p->next;
			bdev_io_deliver(p);
			p = next;
		} while (p != NULL);
		busy = SPUR_POLLER_BUSY;
	}
	if (spur_unlikely(m->buf_head != NULL)) {
		/* Buffers may free on other threads: keep polling while waiting. */
		bdev_buf_wait_retry(m);
		busy = SPUR_POLLER_BUSY;
	}
	if (spur_unlikely(m->wait_head != NULL)) {
		if (m->cache_count > 0 || bdev_io_cache_refill(m)) {
			bdev_io_wake_waiters(m);
		}
		busy = SPUR_POLLER_BUSY;
	}
	return busy;
}

/* ---- submission ------------------------------------------------------------- */

static inline bool
bdev_range_ok(const struct spur_bdev *bdev, uint64_t offset, uint64_t num)
{
	uint64_t cnt = __atomic_load_n(&bdev->blockcnt, __ATOMIC_RELAXED);

	return num <= cnt && offset <= cnt - num;
}

/*
 * Common checks and set-up of a user request. Returns the request (in_user
 * set, accounted as in flight) or NULL with *rc set.
 */
static inline struct bdev_io_priv *
bdev_io_start(struct spur_bdev_desc *desc, struct bdev_channel *ch, enum spur_bdev_io_type type,
	      uint64_t offset, uint64_t num, uint32_t flags, spur_bdev_io_cb cb, void *cb_arg,
	      int *rc)
{
	struct spur_bdev_internal *in = ch->internal;
	struct bdev_io_priv *p;
	struct spur_bdev_io *io;
	uint64_t now;

	if (spur_unlikely(type != SPUR_BDEV_IO_READ && type != SPUR_BDEV_IO_RESET &&
			  !desc->write)) {
		*rc = -EBADF;
		return NULL;
	}
	if (spur_unlikely(!bdev_range_ok(ch->bdev, offset, num) ||
			  (num == 0 && type != SPUR_BDEV_IO_FLUSH &&
			   type != SPUR_BDEV_IO_RESET) || cb == NULL)) {
		*rc = -EINVAL;
		return NULL;
	}
	if (spur_unlikely(!(in->io_mask & (1u << type)))) {
		*rc = -ENOTSUP;
		return NULL;
	}
	if (spur_unlikely(atomic_load_explicit(&in->status, memory_order_relaxed) !=
			  BDEV_STATE_REGISTERED)) {
		*rc = -ENODEV;
		return NULL;
	}
	p = bdev_io_get(ch->mgmt);
	if (spur_unlikely(p == NULL)) {
		*rc = -ENOMEM;
		return NULL;
	}
	io = bdev_io_from_priv(p);
	io->bdev = ch->bdev;
	io->type = type;
	io->flags = flags;
	io->offset_blocks = offset;
	io->num_blocks = num;
	io->iovs = NULL;
	io->iovcnt = 0;
	p->cb = cb;
	p->cb_arg = cb_arg;
	p->ch = ch;
	p->status = 0;
	p->in_user = true;
	p->in_module = false;
	p->done_pending = false;
	p->is_child = false;
	p->own_buf = NULL;
	p->bounce_buf = NULL;
	now = spur_get_ticks();
	p->submit_tsc = now;
	bdev_qd_change(ch, now, 1);
	return p;
}

/* iovecs must cover num blocks. */
static inline bool
bdev_iovs_ok(const struct iovec *iov, int iovcnt, uint64_t bytes)
{
	uint64_t sum = 0;

	if (spur_unlikely(iov == NULL || iovcnt <= 0)) {
		return false;
	}
	for (int i = 0; i < iovcnt; i++) {
		sum += iov[i].iov_len;
		if (sum >= bytes) {
			return true;
		}
	}
	return false;
}

static int
bdev_rw(struct spur_bdev_desc *desc, struct spur_io_channel *_ch, enum spur_bdev_io_type type,
	struct iovec *iov, int iovcnt, uint64_t offset, uint64_t num, uint32_t flags,
	spur_bdev_io_cb cb, void *cb_arg)
{
	struct bdev_channel *ch = spur_io_channel_get_ctx(_ch);
	struct bdev_io_priv *p;
	struct spur_bdev_io *io;
	uint64_t bytes;
	void *buf;
	int rc;

	bytes = num * ch->blocklen;
	if (iov == NULL && iovcnt == 0 && type == SPUR_BDEV_IO_READ) {
		/* The layer supplies the buffer. */
		if (num > SPUR_BDEV_LARGE_BUF_SIZE / ch->blocklen) {
			return -EINVAL;
		}
	} else if (spur_unlikely(!bdev_iovs_ok(iov, iovcnt, bytes))) {
		return -EINVAL;
	}
	p = bdev_io_start(desc, ch, type, offset, num, flags, cb, cb_arg, &rc);
	if (spur_unlikely(p == NULL)) {
		return rc;
	}
	io = bdev_io_from_priv(p);
	if (spur_unlikely(iov == NULL)) {
		buf = spur_bdev_buf_get(bytes);
		if (buf == NULL) {
			bdev_buf_wait_add(p, BDEV_BUF_WAIT_READ);
		} else {
			bdev_io_read_buf_ready(p, buf);
		}
	} else {
		io->iovs = iov;
		io->iovcnt = iovcnt;
		bdev_io_submit(p);
	}
	p->in_user = false;
	return 0;
}

int
spur_bdev_readv_blocks(struct spur_bdev_desc *desc, struct spur_io_channel *ch,
		       struct iovec *iov, int iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
		       spur_bdev_io_cb cb, void *cb_arg)
{
	return bdev_rw(desc, ch, SPUR_BDEV_IO_READ, iov, iovcnt, offset_blocks, num_blocks, 0, cb,
		       cb_arg);
}

int
spur_bdev_writev_blocks(struct spur_bdev_desc *desc, struct spur_io_channel *ch,
			struct iovec *iov, int iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
			uint32_t flags, spur_bdev_io_cb cb, void *cb_arg)
{
	return bdev_rw(desc, ch, SPUR_BDEV_IO_WRITE, iov, iovcnt, offset_blocks, num_blocks, flags,
		       cb, cb_arg);
}

/* One flat buffer: the iovec lives in the request (own_iov). */
static int
bdev_rw_buf(struct spur_bdev_desc *desc, struct spur_io_channel *_ch, enum spur_bdev_io_type type,
	    void *buf, uint64_t offset, uint64_t num, spur_bdev_io_cb cb, void *cb_arg)
{
	struct bdev_channel *ch = spur_io_channel_get_ctx(_ch);
	struct bdev_io_priv *p;
	struct spur_bdev_io *io;
	int rc;

	if (buf == NULL) {
		return -EINVAL;
	}
	p = bdev_io_start(desc, ch, type, offset, num, 0, cb, cb_arg, &rc);
	if (spur_unlikely(p == NULL)) {
		return rc;
	}
	io = bdev_io_from_priv(p);
	p->own_iov.iov_base = buf;
	p->own_iov.iov_len = num * ch->blocklen;
	io->iovs = &p->own_iov;
	io->iovcnt = 1;
	bdev_io_submit(p);
	p->in_user = false;
	return 0;
}

int
spur_bdev_read_blocks(struct spur_bdev_desc *desc, struct spur_io_channel *ch, void *buf,
		      uint64_t offset_blocks, uint64_t num_blocks, spur_bdev_io_cb cb, void *cb_arg)
{
	return bdev_rw_buf(desc, ch, SPUR_BDEV_IO_READ, buf, offset_blocks, num_blocks, cb, cb_arg);
}

int
spur_bdev_write_blocks(struct spur_bdev_desc *desc, struct spur_io_channel *ch, void *buf,
		       uint64_t offset_blocks, uint64_t num_blocks, spur_bdev_io_cb cb,
		       void *cb_arg)
{
	return bdev_rw_buf(desc, ch, SPUR_BDEV_IO_WRITE, buf, offset_blocks, num_blocks, cb,
			   cb_arg);
}

static int
bdev_nodata(struct spur_bdev_desc *desc, struct spur_io_channel *_ch, enum spur_bdev_io_type type,
	    uint64_t offset, uint64_t num, uint32_t flags, spur_bdev_io_cb cb, void *cb_arg)
{
	struct bdev_channel *ch = spur_io_channel_get_ctx(_ch);
	struct bdev_io_priv *p;
	int rc;

	p = bdev_io_start(desc, ch, type, offset, num, flags, cb, cb_arg, &rc);
	if (spur_unlikely(p == NULL)) {
		return rc;
	}
	bdev_io_submit(p);
	p->in_user = false;
	return 0;
}

int
spur_bdev_unmap_blocks(struct spur_bdev_desc *desc, struct spur_io_channel *ch,
		       uint64_t offset_blocks, uint64_t num_blocks, spur_bdev_io_cb cb,
		       void *cb_arg)
{
	return bdev_nodata(desc, ch, SPUR_BDEV_IO_UNMAP, offset_blocks, num_blocks, 0, cb, cb_arg);
}

int
spur_bdev_write_zeroes_blocks(struct spur_bdev_desc *desc, struct spur_io_channel *ch,
			      uint64_t offset_blocks, uint64_t num_blocks, uint32_t flags,
			      spur_bdev_io_cb cb, void *cb_arg)
{
	return bdev_nodata(desc, ch, SPUR_BDEV_IO_WRITE_ZEROES, offset_blocks, num_blocks, flags,
			   cb, cb_arg);
}

int
spur_bdev_flush_blocks(struct spur_bdev_desc *desc, struct spur_io_channel *ch,
		       uint64_t offset_blocks, uint64_t num_blocks, spur_bdev_io_cb cb,
		       void *cb_arg)
{
	return bdev_nodata(desc, ch, SPUR_BDEV_IO_FLUSH, offset_blocks, num_blocks, 0, cb, cb_arg);
}

/* ---- reset ------------------------------------------------------------------- */

static void
reset_abort_channel(struct spur_io_channel_iter *i)
{
	struct bdev_channel *ch = spur_io_channel_get_ctx(spur_io_channel_iter_get_channel(i));

	bdev_qos_channel_abort(ch);
	bdev_buf_wait_abort(ch->mgmt, ch);
	spur_for_each_channel_continue(i, 0);
}

static void
reset_layer_done(struct spur_io_channel_iter *i, int status)
{
	struct bdev_io_priv *p = spur_io_channel_iter_get_ctx(i);

	bdev_io_call_module(p);
}

int
spur_bdev_reset(struct spur_bdev_desc *desc, struct spur_io_channel *_ch, spur_bdev_io_cb cb,
		void *cb_arg)
{
	struct bdev_channel *ch = spur_io_channel_get_ctx(_ch);
	struct bdev_io_priv *p;
	int rc;

	/* A reset changes no data: read-only descriptors may reset too. */
	p = bdev_io_start(desc, ch, SPUR_BDEV_IO_RESET, 0, 0, 0, cb, cb_arg, &rc);
	if (p == NULL) {
		return rc;
	}
	/* Nothing completes before the walk returns: the callback is never inside. */
	p->in_user = false;
	spur_for_each_channel(bdev_io_dev(ch->bdev), reset_abort_channel, p, reset_layer_done);
	return 0;
}

/* ---- requests: free, accessors, io_wait ------------------------------------------ */

void
bdev_io_wake_waiters(struct bdev_mgmt_channel *m)
{
	struct spur_bdev_io_wait_entry *e;

	while ((e = m->wait_head) != NULL && m->cache_count > 0) {
		m->wait_head = e->next;
		if (m->wait_head == NULL) {
			m->wait_tailp = &m->wait_head;
		}
		e->next = NULL;
		e->cb_fn(e->cb_arg);
	}
}

void
spur_bdev_free_io(struct spur_bdev_io *io)
{
	struct bdev_io_priv *p;
	struct bdev_mgmt_channel *m;

	if (io == NULL) {
		return;
	}
	p = bdev_io_priv(io);
	m = p->ch->mgmt;
	if (spur_unlikely(p->own_buf != NULL)) {
		spur_bdev_buf_put(p->own_buf, io->num_blocks * p->ch->blocklen);
		p->own_buf = NULL;
	}
	bdev_io_put(m, p);
	if (spur_unlikely(m->wait_head != NULL)) {
		bdev_io_wake_waiters(m);
	}
}

void
spur_bdev_io_get_iovs(struct spur_bdev_io *io, struct iovec **iovs, int *iovcnt)
{
	*iovs = io->iovs;
	*iovcnt = io->iovcnt;
}

enum spur_bdev_io_type
spur_bdev_io_get_type(const struct spur_bdev_io *io)
{
	return io->type;
}

struct spur_io_channel *
spur_bdev_io_get_io_channel(struct spur_bdev_io *io)
{
	return bdev_io_priv(io)->ch->module_ch;
}

int
spur_bdev_queue_io_wait(struct spur_bdev *bdev, struct spur_io_channel *_ch,
			struct spur_bdev_io_wait_entry *entry)
{
	struct bdev_channel *ch;
	struct bdev_mgmt_channel *m;

	if (_ch == NULL || entry == NULL || entry->cb_fn == NULL) {
		return -EINVAL;
	}
	ch = spur_io_channel_get_ctx(_ch);
	m = ch->mgmt;
	if (m->cache_count > 0) {
		/* Requests are available now: the caller should just retry. */
		return -EINVAL;
	}
	entry->next = NULL;
	*m->wait_tailp = entry;
	m->wait_tailp = &entry->next;
	return 0;
}

void
bdev_io_wait_internal(struct bdev_mgmt_channel *m, struct spur_bdev_io_wait_entry *entry)
{
	entry->next = NULL;
	*m->wait_tailp = entry;
	m->wait_tailp = &entry->next;
}
