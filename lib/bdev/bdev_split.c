/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Splitting: a request over the module's limits (max_transfer_blocks, the
 * optimal I/O boundary when split_on_optimal_io_boundary, max_unmap_blocks,
 * max_write_zeroes_blocks, or a misaligned request larger than one bounce
 * buffer) becomes child requests.
 *
 * Children are issued in rounds: at most BDEV_SPLIT_MAX_CHILDREN children and
 * BDEV_IO_CHILD_IOV iovecs (kept in the parent's header) per round. A child's
 * iovecs are slices of the parent's (base and length adjusted, no data
 * copied); a child that would need more iovecs than the round has left is
 * shortened to a whole number of blocks, and the rest goes to the next round.
 * The next round starts when every child of this one completed, so the
 * storage is reused safely. The parent completes once: with the first
 * error any child reported, or 0. A round that cannot get a request object
 * with nothing in flight waits on the thread's io_wait queue.
 *
 * Recursion: a module completing children inside submit_request would
 * otherwise re-enter the round loop once per child; split_loop makes
 * bdev_split_continue iterative (the running loop picks up the completion).
 *
 * Everything runs on the parent's thread; children use the parent's channel.
 */
#include <errno.h>
#include <inttypes.h>

#include "bdev_internal.h"
#include "spur/log.h"

static void bdev_split_continue(struct bdev_io_priv *p);

/* Blocks the next read/write child at 'offset' may cover (at most 'remaining'). */
static uint64_t
rw_child_max(const struct bdev_io_priv *p, uint64_t offset, uint64_t remaining)
{
	const struct spur_bdev *bdev = p->ch->bdev;
	uint64_t n = remaining;

	if (bdev->max_transfer_blocks != 0) {
		n = SPUR_MIN(n, (uint64_t)bdev->max_transfer_blocks);
	}
	if (bdev->split_on_optimal_io_boundary && bdev->optimal_io_boundary != 0) {
		uint64_t b = bdev->optimal_io_boundary;

		n = SPUR_MIN(n, b - offset % b);
	}
	if (p->cold.c.bounce_limit) {
		n = SPUR_MIN(n, (uint64_t)(SPUR_BDEV_LARGE_BUF_SIZE / p->ch->blocklen));
	}
	return n;
}

static uint64_t
nodata_child_max(const struct bdev_io_priv *p, uint64_t remaining)
{
	const struct spur_bdev *bdev = p->ch->bdev;
	const struct spur_bdev_io *io = bdev_io_from_priv((struct bdev_io_priv *)p);
	uint32_t max = io->type == SPUR_BDEV_IO_UNMAP ? bdev->max_unmap_blocks :
		       bdev->max_write_zeroes_blocks;

	return max != 0 ? SPUR_MIN(remaining, (uint64_t)max) : remaining;
}

bool
bdev_io_should_split(struct bdev_io_priv *p)
{
	struct spur_bdev_io *io = bdev_io_from_priv(p);
	uint32_t slow = p->ch->slow;

	switch (io->type) {
	case SPUR_BDEV_IO_READ:
	case SPUR_BDEV_IO_WRITE:
		p->cold.c.bounce_limit = false;
		if ((slow & BDEV_SLOW_ALIGN) &&
		    io->num_blocks * p->ch->blocklen > SPUR_BDEV_LARGE_BUF_SIZE &&
		    bdev_io_needs_bounce(p)) {
			p->cold.c.bounce_limit = true;
		}
		if (!(slow & BDEV_SLOW_SPLIT_RW) && !p->cold.c.bounce_limit) {
			return false;
		}
		return rw_child_max(p, io->offset_blocks, io->num_blocks) < io->num_blocks;
	case SPUR_BDEV_IO_UNMAP:
	case SPUR_BDEV_IO_WRITE_ZEROES:
		return nodata_child_max(p, io->num_blocks) < io->num_blocks;
	default:
		return false;
	}
}

void
bdev_io_split(struct bdev_io_priv *p)
{
	struct spur_bdev_io *io = bdev_io_from_priv(p);
	struct bdev_io_cold *c = &p->cold.c;

	c->split_offset = io->offset_blocks;
	c->split_remaining = io->num_blocks;
	c->split_iov_idx = 0;
	c->split_iov_off = 0;
	c->split_outstanding = 0;
	c->split_loop = false;
	c->split_waiting = false;
	SPUR_DEBUGLOG("bdev", "%s: splitting %s of %" PRIu64 " blocks at %" PRIu64,
		      io->bdev->name, spur_bdev_io_type_name(io->type), io->num_blocks,
		      io->offset_blocks);
	bdev_split_continue(p);
}

/*
 * Slice the parent's iovecs from its cursor into dst (at most max entries)
 * for up to *bytes bytes. Shortens *bytes to a whole number of blocks when
 * the entries run out; returns the entries used (0: not even one block fits).
 */
static int
slice_iovs(struct bdev_io_priv *p, struct iovec *dst, int max, uint64_t *bytes)
{
	struct spur_bdev_io *io = bdev_io_from_priv(p);
	struct bdev_io_cold *c = &p->cold.c;
	uint64_t want = *bytes, got = 0, blocklen = p->ch->blocklen;
	int idx = c->split_iov_idx, n = 0;
	size_t off = c->split_iov_off;

	while (got < want && n < max && idx < io->iovcnt) {
		size_t avail = io->iovs[idx].iov_len - off;
		size_t take = (size_t)SPUR_MIN((uint64_t)avail, want - got);

		if (take == 0) {
			idx++;
			off = 0;
			continue;
		}
		dst[n].iov_base = (char *)io->iovs[idx].iov_base + off;
		dst[n].iov_len = take;
		n++;
		got += take;
		off += take;
		if (off == io->iovs[idx].iov_len) {
			idx++;
			off = 0;
		}
	}
	if (got < want) {
		/* Out of entries: keep whole blocks only, trimming the tail slices. */
		uint64_t keep = got - got % blocklen, extra = got - keep;

		while (extra > 0 && n > 0) {
			if (dst[n - 1].iov_len <= extra) {
				extra -= dst[n - 1].iov_len;
				n--;
			} else {
				dst[n - 1].iov_len -= extra;
				extra = 0;
			}
		}
		if (keep == 0) {
			return 0;
		}
		want = keep;
	}
	/* Advance the cursor by exactly 'want' bytes. */
	got = 0;
	idx = c->split_iov_idx;
	off = c->split_iov_off;
	while (got < want) {
		size_t avail = io->iovs[idx].iov_len - off;
		size_t take = (size_t)SPUR_MIN((uint64_t)avail, want - got);

		got += take;
		off += take;
		if (off == io->iovs[idx].iov_len) {
			idx++;
			off = 0;
		}
	}
	c->split_iov_idx = idx;
	c->split_iov_off = off;
	*bytes = want;
	return n;
}

static void
split_resume(void *arg)
{
	struct bdev_io_priv *p = arg;

	p->cold.c.split_waiting = false;
	bdev_split_continue(p);
}

/* Issue one round. Returns false when waiting for a request object. */
static bool
bdev_split_round(struct bdev_io_priv *p)
{
	struct spur_bdev_io *io = bdev_io_from_priv(p), *cio;
	struct bdev_io_cold *c = &p->cold.c;
	struct bdev_io_priv *child;
	bool data = io->type == SPUR_BDEV_IO_READ || io->type == SPUR_BDEV_IO_WRITE;
	int iov_used = 0, children = 0, n_iov = 0;
	uint64_t n, bytes;

	while (c->split_remaining > 0 && p->status == 0 && children < BDEV_SPLIT_MAX_CHILDREN) {
		if (data) {
			n = rw_child_max(p, c->split_offset, c->split_remaining);
			if (iov_used == BDEV_IO_CHILD_IOV) {
				break;
			}
		} else {
			n = nodata_child_max(p, c->split_remaining);
		}
		child = bdev_io_get(p->ch->mgmt);
		if (child == NULL) {
			if (c->split_outstanding == 0 && children == 0) {
				c->split_waiting = true;
				c->split_wait.bdev = io->bdev;
				c->split_wait.cb_fn = split_resume;
				c->split_wait.cb_arg = p;
				bdev_io_wait_internal(p->ch->mgmt, &c->split_wait);
				return false;
			}
			break;
		}
		cio = bdev_io_from_priv(child);
		cio->iovs = NULL;
		cio->iovcnt = 0;
		if (data) {
			bytes = n * p->ch->blocklen;
			n_iov = slice_iovs(p, &c->child_iov[iov_used], BDEV_IO_CHILD_IOV - iov_used,
					   &bytes);
			if (n_iov == 0) {
				bdev_io_put(p->ch->mgmt, child);
				if (children == 0 && c->split_outstanding == 0) {
					SPUR_ERRLOG("bdev %s: one block spans more than %d iovecs",
						    io->bdev->name, BDEV_IO_CHILD_IOV);
					p->status = SPUR_BDEV_ERR_IO;
				}
				break;
			}
			n = bytes / p->ch->blocklen;
			cio->iovs = &c->child_iov[iov_used];
			cio->iovcnt = n_iov;
			iov_used += n_iov;
		}
		cio->bdev = io->bdev;
		cio->type = io->type;
		cio->flags = io->flags;
		cio->offset_blocks = c->split_offset;
		cio->num_blocks = n;
		child->cold.c.parent = p;
		child->cb = NULL;
		child->cb_arg = NULL;
		child->ch = p->ch;
		child->status = 0;
		child->in_user = false;
		child->in_module = false;
		child->done_pending = false;
		child->is_child = true;
		child->own_buf = NULL;
		child->bounce_buf = NULL;
		child->submit_tsc = p->submit_tsc;
		c->split_offset += n;
		c->split_remaining -= n;
		c->split_outstanding++;
		children++;
		bdev_io_execute(child);
	}
	return true;
}

static void
bdev_split_continue(struct bdev_io_priv *p)
{
	struct bdev_io_cold *c = &p->cold.c;

	if (c->split_loop || c->split_waiting) {
		return;
	}
	c->split_loop = true;
	for (;;) {
		if (c->split_outstanding > 0) {
			break;
		}
		if (p->status != 0 || c->split_remaining == 0) {
			c->split_loop = false;
			bdev_io_finish(p);
			return;
		}
		if (!bdev_split_round(p)) {
			break;
		}
	}
	c->split_loop = false;
}

void
bdev_split_child_done(struct bdev_io_priv *child)
{
	struct bdev_io_priv *p = child->cold.c.parent;
	struct bdev_mgmt_channel *m = p->ch->mgmt;

	if (child->status != 0 && p->status == 0) {
		p->status = child->status;
	}
	p->cold.c.split_outstanding--;
	bdev_io_put(m, child);
	if (spur_unlikely(m->wait_head != NULL)) {
		bdev_io_wake_waiters(m);
	}
	bdev_split_continue(p);
}
