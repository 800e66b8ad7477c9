/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The file-backed bdev helper, I/O side (see file_bdev.h): errno to status,
 * failure logging, O_DIRECT eligibility, short-transfer bookkeeping and
 * reset.
 *
 * Reset: neither the kernel nor a helper thread can be told to drop
 * requests, so a reset completes once every request submitted before it,
 * on every channel, has completed. Each channel counts its unfinished
 * requests in two buckets by epoch parity; a reset starts a new epoch (only
 * once the previous one drained, so buckets never mix) and waits for the old
 * bucket to empty, which new requests cannot delay. A channel still busy is
 * re-checked by a short timed poller (control path: the only allocation).
 *
 * Threading: everything runs on the thread of the channel concerned (the
 * reset visits each channel on its own thread with spur_for_each_channel);
 * the disk's atomics are the only state shared between threads.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file_bdev.h"
#include "spur/log.h"
#include "spur/util.h"

#define FILE_BDEV_RESET_POLL_US 100

int
file_bdev_status(int res)
{
	switch (res) {
	case -EIO:
	case -EILSEQ:
		return SPUR_BDEV_ERR_MEDIA;
	case -ENOSPC:
	case -EDQUOT:
		return SPUR_BDEV_ERR_NOSPACE;
	case -EOPNOTSUPP:
		return SPUR_BDEV_ERR_UNSUPPORTED;
	default:
		return SPUR_BDEV_ERR_IO;
	}
}

int
file_bdev_failure(struct file_bdev *fb, struct spur_bdev_io *io, int res)
{
	uint64_t n = atomic_fetch_add(&fb->error_count, 1);

	/* The first few, then one in a thousand: a dying disk must not flood the log. */
	if (n < 10 || n % 1000 == 0)
		SPUR_ERRLOG("%s: %s of %" PRIu64 "+%" PRIu64 " blocks failed: %s (%" PRIu64
			    " errors so far)\n", fb->bdev.name, spur_bdev_io_type_name(io->type),
			    io->offset_blocks, io->num_blocks, strerror(-res), n + 1);
	return file_bdev_status(res);
}

int
file_bdev_check_iovs(const struct file_bdev *fb, const struct iovec *iov, int iovcnt,
		     uint64_t offset, uint64_t len)
{
	uint64_t off_mask = fb->dio_off_align - 1, sum = 0;
	uintptr_t mem_mask = fb->dio_mem_align - 1;
	bool direct = fb->dfd >= 0 && ((offset | len) & off_mask) == 0;

	for (int i = 0; i < iovcnt; i++) {
		sum += iov[i].iov_len;
		if (((uintptr_t)iov[i].iov_base & mem_mask) != 0 ||
		    (iov[i].iov_len & off_mask) != 0)
			direct = false;
	}
	if (sum != len)
		return -EINVAL;
	return direct ? 1 : 0;
}

/* ---- short transfers ---------------------------------------------------------- */

void
file_bdev_xfer_init(struct file_bdev_xfer *x)
{
	x->done = 0;
	x->patched = -1;
}

int
file_bdev_xfer_skip_done(struct file_bdev_xfer *x, struct spur_bdev_io *io)
{
	uint64_t skip = x->done;
	int i = 0;

	while (i < io->iovcnt && skip >= io->iovs[i].iov_len) {
		skip -= io->iovs[i].iov_len;
		i++;
	}
	if (skip > 0 && i < io->iovcnt) {
		x->saved_iov = io->iovs[i];
		x->patched = i;
		io->iovs[i].iov_base = (char *)io->iovs[i].iov_base + skip;
		io->iovs[i].iov_len -= skip;
	}
	return i;
}

void
file_bdev_xfer_restore(struct file_bdev_xfer *x, struct spur_bdev_io *io)
{
	if (x->patched >= 0) {
		io->iovs[x->patched] = x->saved_iov;
		x->patched = -1;
	}
}

/* ---- reset -------------------------------------------------------------------- */

void
file_bdev_channel_init(struct file_bdev_channel *fch)
{
	fch->epoch = 1;
}

int
file_bdev_poll_end(struct file_bdev_channel *fch, int evfd, int reaped, bool busy)
{
	uint64_t value;

	if (reaped > 0 && fch->was_idle) {
		/* The reactor may have slept on the eventfd: consume what woke it. */
		while (read(evfd, &value, sizeof(value)) == sizeof(value)) {
		}
	}
	if (reaped > 0 || busy) {
		fch->was_idle = false;
		return SPUR_POLLER_BUSY;
	}
	fch->was_idle = true;
	return SPUR_POLLER_IDLE;
}

uint8_t
file_bdev_epoch_enter(struct file_bdev_channel *fch)
{
	uint8_t parity = fch->epoch & 1;

	fch->epoch_count[parity]++;
	return parity;
}

void
file_bdev_epoch_leave(struct file_bdev_channel *fch, uint8_t parity)
{
	fch->epoch_count[parity]--;
}

struct reset_wait {
	struct spur_io_channel_iter *iter;
	struct file_bdev_channel *fch;
	struct spur_poller *poller;
	uint64_t target;         /* the epoch this reset started; 0: not yet */
};

/* True once every request older than the reset completed. */
static bool
reset_try(struct reset_wait *w)
{
	struct file_bdev_channel *fch = w->fch;

	if (w->target == 0) {
		if (fch->epoch_count[(fch->epoch - 1) & 1] != 0)
			return false; /* an earlier reset's epoch is still draining */
		w->target = ++fch->epoch;
	}
	/* A later epoch only starts after ours drained. */
	return fch->epoch > w->target || fch->epoch_count[(w->target - 1) & 1] == 0;
}

static int
reset_poll(void *arg)
{
	struct reset_wait *w = arg;

	if (!reset_try(w))
		return SPUR_POLLER_IDLE;
	spur_poller_unregister(&w->poller);
	spur_for_each_channel_continue(w->iter, 0);
	free(w);
	return SPUR_POLLER_BUSY;
}

static void
reset_channel(struct spur_io_channel_iter *i)
{
	struct spur_bdev_io *io = spur_io_channel_iter_get_ctx(i);
	struct file_bdev *fb = io->bdev->ctxt;
	struct reset_wait now = {
		.iter = i,
		/* The module's channel starts with its struct file_bdev_channel. */
		.fch = spur_io_channel_get_ctx(spur_io_channel_iter_get_channel(i)),
	};
	struct reset_wait *w;

	if (reset_try(&now)) {
		spur_for_each_channel_continue(i, 0);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w != NULL) {
		*w = now;
		w->poller = spur_poller_register(reset_poll, w, FILE_BDEV_RESET_POLL_US,
						 fb->ops->reset_poller_name);
	}
	if (w == NULL || w->poller == NULL) {
		free(w);
		spur_for_each_channel_continue(i, -ENOMEM);
	}
}

static void
reset_done(struct spur_io_channel_iter *i, int status)
{
	spur_bdev_io_complete(spur_io_channel_iter_get_ctx(i),
			      status == 0 ? SPUR_BDEV_OK : SPUR_BDEV_ERR_IO);
}

void
file_bdev_reset(struct file_bdev *fb, struct spur_bdev_io *io)
{
	spur_for_each_channel(fb, reset_channel, io, reset_done);
}
