/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The uring bdev's I/O path: per-thread channels, each with its own
 * io_uring, request submission, completion reaping and reset.
 *
 * Owns struct uring_channel (one per (disk, thread), the disk's I/O
 * channel): its ring, its poller and its wait list are touched only on the
 * channel's thread. A request's state (struct uring_task) lives in its
 * driver_ctx. The disk is read-only here, except 'zero_range_refused' and
 * 'error_count' (atomics).
 *
 * Files. Each channel's ring registers the disk's two files
 * (io_uring_register_files; SQEs use IOSQE_FIXED_FILE with index 0 for the
 * buffered file, 1 for the O_DIRECT one). A read or write goes to the
 * O_DIRECT file when its offset, length and every iovec base and length
 * meet the file's direct-I/O alignment, to the buffered file otherwise; so
 * the layer never has to bounce (required_alignment 1), and callers with
 * aligned buffers skip the page cache. The kernel keeps the two views
 * coherent.
 *
 * Requests. submit_request only prepares SQEs; the channel's poller reaps
 * completions (whose callbacks usually submit the next requests), then
 * submits everything queued with one io_uring_submit per iteration (sooner
 * only when the SQ fills). A request that finds no SQE or no room in the CQ
 * (at most URING_MAX_INFLIGHT in flight) waits on the channel's FIFO and is
 * queued when completions free room. Short reads and writes are resubmitted
 * for the remainder; the iovec where the remainder starts is patched in
 * place and restored before the request completes.
 *
 * Wake-ups. The ring's eventfd (io_uring_register_eventfd) is given to
 * spur_poller_add_fd, so a reactor sleeping with I/O in flight wakes on the
 * first completion. The poller is active and returns IDLE when an
 * iteration neither reaped nor submitted anything (in particular whenever
 * nothing is in flight). The eventfd is drained only when completions
 * arrive after an idle iteration (when the reactor may have slept), so busy
 * polling costs no extra syscall.
 *
 * Reset waits until every request submitted before it has completed
 * (in-flight SQEs cannot be recalled): the file-backed bdev helper's reset
 * (module/bdev/common/file_bdev_io.c), which also provides the
 * errno-to-status mapping, failure logging, the O_DIRECT eligibility check
 * and the short-transfer bookkeeping.
 *
 * Flush is IORING_OP_FSYNC with IORING_FSYNC_DATASYNC (durable when it
 * completes); a write with SPUR_BDEV_IO_FUA carries RWF_DSYNC. Unmap is
 * fallocate(PUNCH_HOLE|KEEP_SIZE) on files and the asynchronous
 * BLOCK_URING_CMD_DISCARD on block devices (when the kernel has it; the
 * BLKDISCARD ioctl would block the reactor, so without it unmap is not
 * offered on block devices). Write zeroes is fallocate(ZERO_RANGE|KEEP_SIZE)
 * (files whose file system refuses it fall back to PUNCH_HOLE, which also
 * reads back as zeroes).
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bdev_uring_internal.h"
#include "spur/log.h"
#include "spur/thread.h"
#include "spur/util.h"

size_t
bdev_uring_get_ctx_size(void)
{
	return sizeof(struct uring_task);
}

static inline struct spur_bdev_io *
task_io(struct uring_task *task)
{
	return SPUR_CONTAINER_OF((void *)task, struct spur_bdev_io, driver_ctx);
}

/* The one place a request leaves the module. */
static void
uring_complete(struct uring_channel *uch, struct uring_task *task, int status)
{
	file_bdev_epoch_leave(&uch->fch, task->epoch);
	spur_bdev_io_complete(task_io(task), status);
}

static void
uring_task_fail(struct uring_channel *uch, struct uring_task *task, int res)
{
	uring_complete(uch, task, file_bdev_failure(&uch->disk->fb, task_io(task), res));
}

static void
uring_restore_iov(struct uring_task *task)
{
	file_bdev_xfer_restore(&task->xfer, task_io(task));
}

/* Where a read or write (or its remainder after a short transfer) goes. */
struct uring_rw_plan {
	struct iovec *iov;
	int iovcnt;
	int file;
	uint64_t offset;
};

/*
 * Plan the transfer of what is left of a read or write; patches the iovec
 * where it starts (restored on completion, or by the caller when the plan
 * is dropped). Returns 0, or -EINVAL when the iovecs do not match the length.
 */
static int
uring_plan_rw(struct uring_disk *disk, struct uring_task *task, struct uring_rw_plan *plan)
{
	struct spur_bdev_io *io = task_io(task);
	uint64_t len = io->num_blocks * disk->fb.bdev.blocklen - task->xfer.done;
	int first = task->xfer.done > 0 ? file_bdev_xfer_skip_done(&task->xfer, io) : 0;
	int direct;

	plan->offset = io->offset_blocks * disk->fb.bdev.blocklen + task->xfer.done;
	plan->iov = io->iovs + first;
	plan->iovcnt = io->iovcnt - first;
	direct = file_bdev_check_iovs(&disk->fb, plan->iov, plan->iovcnt, plan->offset, len);
	if (direct < 0) {
		uring_restore_iov(task);
		return -EINVAL;
	}
	plan->file = direct > 0 ? URING_FILE_DIRECT : URING_FILE_BUFFERED;
	return 0;
}

static void
uring_prep_rw(struct io_uring_sqe *sqe, const struct uring_rw_plan *plan, struct spur_bdev_io *io)
{
	const struct iovec *iov = plan->iov;

	if (io->type == SPUR_BDEV_IO_READ) {
		if (plan->iovcnt == 1)
			io_uring_prep_read(sqe, plan->file, iov->iov_base, (unsigned)iov->iov_len,
					   plan->offset);
		else
			io_uring_prep_readv(sqe, plan->file, iov, (unsigned)plan->iovcnt, plan->offset);
	} else {
		if (plan->iovcnt == 1)
			io_uring_prep_write(sqe, plan->file, iov->iov_base, (unsigned)iov->iov_len,
					    plan->offset);
		else
			io_uring_prep_writev(sqe, plan->file, iov, (unsigned)plan->iovcnt, plan->offset);
		if (io->flags & SPUR_BDEV_IO_FUA)
			sqe->rw_flags = RWF_DSYNC;
	}
}

/*
 * Unmap on a block device covers the logical blocks inside the range (a
 * bdev block smaller than the device's is allowed; the partial blocks at
 * the ends are left alone, unmap being advisory). Returns false when
 * nothing is left to discard.
 */
static bool
uring_discard_range(struct uring_disk *disk, struct spur_bdev_io *io, uint64_t *start,
		    uint64_t *len)
{
	uint64_t begin = io->offset_blocks * disk->fb.bdev.blocklen;
	uint64_t end = begin + io->num_blocks * disk->fb.bdev.blocklen;
	uint64_t mask = disk->fb.lbs - 1;

	begin = (begin + mask) & ~mask;
	end &= ~mask;
	if (end <= begin)
		return false;
	*start = begin;
	*len = end - begin;
	return true;
}

static void
uring_prep_discard(struct io_uring_sqe *sqe, uint64_t start, uint64_t len)
{
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, URING_FILE_BUFFERED, NULL, 0, 0);
	sqe->cmd_op = BLOCK_URING_CMD_DISCARD;
	sqe->addr = start;
	sqe->addr3 = len;
}

/* Flush the SQ to the kernel. Returns how many SQEs it took, or -errno. */
static int
uring_flush_sq(struct uring_channel *uch)
{
	int rc = io_uring_submit(&uch->ring);

	if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR)
		SPUR_ERRLOG("%s: io_uring_submit failed: %s\n", uch->disk->fb.bdev.name,
			    strerror(-rc));
	return rc;
}

static int
uring_falloc_mode(struct uring_disk *disk, struct spur_bdev_io *io)
{
	bool punch;

	if (io->type == SPUR_BDEV_IO_UNMAP)
		return FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	punch = disk->can_punch && ((io->flags & SPUR_BDEV_IO_UNMAP_OK) ||
				    atomic_load_explicit(&disk->fb.zero_range_refused,
							 memory_order_relaxed));
	return FALLOC_FL_KEEP_SIZE | (punch ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);
}

/* An SQE, flushing a full SQ to the kernel first; NULL when still full. */
static struct io_uring_sqe *
uring_get_sqe(struct uring_channel *uch)
{
	struct io_uring_sqe *sqe;

	if (uch->inflight >= URING_MAX_INFLIGHT)
		return NULL;
	sqe = io_uring_get_sqe(&uch->ring);
	if (sqe == NULL) {
		/* SQ full: hand it to the kernel now rather than wait for the poller. */
		uring_flush_sq(uch);
		sqe = io_uring_get_sqe(&uch->ring);
	}
	return sqe;
}

/*
 * Queue the SQE for task. Returns 1 when queued or already completed (an
 * empty discard), 0 when the ring has no room (the caller parks the task),
 * or -errno (the caller fails it). Everything that can fail is checked
 * before an SQE is taken, so a taken SQE is always used.
 */
static int
uring_queue(struct uring_channel *uch, struct uring_task *task)
{
	struct uring_disk *disk = uch->disk;
	struct spur_bdev_io *io = task_io(task);
	uint64_t offset = io->offset_blocks * disk->fb.bdev.blocklen;
	uint64_t len = io->num_blocks * disk->fb.bdev.blocklen;
	struct uring_rw_plan plan;
	struct io_uring_sqe *sqe;
	int rc;

	switch (io->type) {
	case SPUR_BDEV_IO_READ:
	case SPUR_BDEV_IO_WRITE:
		rc = uring_plan_rw(disk, task, &plan);
		if (rc != 0)
			return rc;
		sqe = uring_get_sqe(uch);
		if (sqe == NULL) {
			uring_restore_iov(task);
			return 0;
		}
		uring_prep_rw(sqe, &plan, io);
		break;
	case SPUR_BDEV_IO_FLUSH:
		sqe = uring_get_sqe(uch);
		if (sqe == NULL)
			return 0;
		io_uring_prep_fsync(sqe, URING_FILE_BUFFERED, IORING_FSYNC_DATASYNC);
		break;
	case SPUR_BDEV_IO_UNMAP:
	case SPUR_BDEV_IO_WRITE_ZEROES:
		if (io->type == SPUR_BDEV_IO_UNMAP && disk->fb.is_blockdev) {
			if (!uring_discard_range(disk, io, &offset, &len)) {
				uring_complete(uch, task, SPUR_BDEV_OK);
				return 1;
			}
			sqe = uring_get_sqe(uch);
			if (sqe == NULL)
				return 0;
			uring_prep_discard(sqe, offset, len);
			break;
		}
		sqe = uring_get_sqe(uch);
		if (sqe == NULL)
			return 0;
		if (task->falloc_mode == 0)
			task->falloc_mode = uring_falloc_mode(disk, io);
		io_uring_prep_fallocate(sqe, URING_FILE_BUFFERED, task->falloc_mode, (off_t)offset,
					(off_t)len);
		break;
	default:
		return -EOPNOTSUPP;
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data(sqe, task);
	uch->inflight++;
	return 1;
}

static void
uring_submit_task(struct uring_channel *uch, struct uring_task *task)
{
	int rc = 0;

	if (TAILQ_EMPTY(&uch->waiting))
		rc = uring_queue(uch, task);
	if (rc == 0)
		TAILQ_INSERT_TAIL(&uch->waiting, task, link);
	else if (rc < 0)
		uring_task_fail(uch, task, rc);
}

void
bdev_uring_submit_request(struct spur_io_channel *ch, struct spur_bdev_io *io)
{
	struct uring_channel *uch = spur_io_channel_get_ctx(ch);
	struct uring_task *task = (struct uring_task *)io->driver_ctx;

	file_bdev_xfer_init(&task->xfer);
	task->falloc_mode = 0;
	if (io->type == SPUR_BDEV_IO_RESET) {
		file_bdev_reset(&uch->disk->fb, io);
		return;
	}
	task->epoch = file_bdev_epoch_enter(&uch->fch);
	uring_submit_task(uch, task);
}

/* A completion for task with result res. */
static void
uring_task_done(struct uring_channel *uch, struct uring_task *task, int res)
{
	struct uring_disk *disk = uch->disk;
	struct spur_bdev_io *io = task_io(task);

	uring_restore_iov(task);
	switch (io->type) {
	case SPUR_BDEV_IO_READ:
	case SPUR_BDEV_IO_WRITE:
		if (res <= 0) {
			uring_task_fail(uch, task, res == 0 ? -EIO : res);
			return;
		}
		task->xfer.done += (uint64_t)res;
		if (task->xfer.done < io->num_blocks * disk->fb.bdev.blocklen) {
			SPUR_DEBUGLOG("bdev_uring", "%s: short %s, %" PRIu64 " bytes done\n",
				      disk->fb.bdev.name, spur_bdev_io_type_name(io->type),
				      task->xfer.done);
			uring_submit_task(uch, task);
			return;
		}
		break;
	case SPUR_BDEV_IO_WRITE_ZEROES:
		if (res == -EOPNOTSUPP && (task->falloc_mode & FALLOC_FL_ZERO_RANGE) &&
		    disk->can_punch) {
			/* tmpfs and others: a punched hole reads back as zeroes. */
			atomic_store(&disk->fb.zero_range_refused, true);
			task->falloc_mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
			uring_submit_task(uch, task);
			return;
		}
		/* fall through */
	default:
		if (res < 0) {
			uring_task_fail(uch, task, res);
			return;
		}
		break;
	}
	uring_complete(uch, task, SPUR_BDEV_OK);
}

/* Reap up to a few batches of completions; returns how many. */
static int
uring_reap(struct uring_channel *uch)
{
	struct io_uring_cqe *cqes[URING_REAP_BATCH];
	struct { void *task; int res; } done[URING_REAP_BATCH];
	unsigned n, i;
	int total = 0;

	do {
		n = io_uring_peek_batch_cqe(&uch->ring, cqes, URING_REAP_BATCH);
		for (i = 0; i < n; i++) {
			done[i].task = io_uring_cqe_get_data(cqes[i]);
			done[i].res = cqes[i]->res;
		}
		/* Free the CQ slots before callbacks queue new work. */
		io_uring_cq_advance(&uch->ring, n);
		uch->inflight -= n;
		for (i = 0; i < n; i++) {
			if (done[i].task != NULL)
				uring_task_done(uch, done[i].task, done[i].res);
		}
		total += (int)n;
	} while (n == URING_REAP_BATCH && total < 4 * (int)URING_REAP_BATCH);
	return total;
}

static void
uring_resume_waiting(struct uring_channel *uch)
{
	struct uring_task *task;
	int rc;

	while ((task = TAILQ_FIRST(&uch->waiting)) != NULL) {
		/* Off the list first: queueing may complete (and recycle) it. */
		TAILQ_REMOVE(&uch->waiting, task, link);
		rc = uring_queue(uch, task);
		if (rc == 0) {
			TAILQ_INSERT_HEAD(&uch->waiting, task, link);
			return;
		}
		if (rc < 0)
			uring_task_fail(uch, task, rc);
	}
}

static int
uring_poll(void *ctx)
{
	struct uring_channel *uch = ctx;
	int reaped, submitted = 0;
	bool busy;

	reaped = uring_reap(uch);
	if (!TAILQ_EMPTY(&uch->waiting))
		uring_resume_waiting(uch);
	if (io_uring_sq_ready(&uch->ring) > 0)
		submitted = uring_flush_sq(uch);
	busy = submitted != 0 || io_uring_sq_ready(&uch->ring) > 0 || !TAILQ_EMPTY(&uch->waiting);
	return file_bdev_poll_end(&uch->fch, uch->evfd, reaped, busy);
}

int
bdev_uring_channel_create(void *io_device, void *ctx_buf)
{
	struct uring_disk *disk = io_device;
	struct uring_channel *uch = ctx_buf;
	int fds[2] = {disk->fb.fd, disk->fb.dfd};
	int rc;

	uch->disk = disk;
	uch->evfd = -1;
	file_bdev_channel_init(&uch->fch);
	TAILQ_INIT(&uch->waiting);
	rc = io_uring_queue_init(URING_QUEUE_DEPTH, &uch->ring, 0);
	if (rc < 0) {
		SPUR_ERRLOG("%s: io_uring_queue_init failed: %s\n", disk->fb.bdev.name,
			    strerror(-rc));
		return rc;
	}
	rc = io_uring_register_files(&uch->ring, fds, disk->fb.dfd >= 0 ? 2 : 1);
	if (rc < 0) {
		SPUR_ERRLOG("%s: io_uring_register_files failed: %s\n", disk->fb.bdev.name,
			    strerror(-rc));
		goto err;
	}
	uch->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (uch->evfd < 0) {
		rc = -errno;
		goto err;
	}
	rc = io_uring_register_eventfd(&uch->ring, uch->evfd);
	if (rc < 0)
		goto err;
	uch->poller = spur_poller_register(uring_poll, uch, 0, "bdev_uring");
	if (uch->poller == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	rc = spur_poller_add_fd(uch->poller, uch->evfd, EPOLLIN);
	if (rc < 0) {
		spur_poller_unregister(&uch->poller);
		goto err;
	}
	SPUR_DEBUGLOG("bdev_uring", "%s: channel created on thread %s\n", disk->fb.bdev.name,
		      spur_thread_get_name(spur_get_thread()));
	return 0;
err:
	SPUR_ERRLOG("%s: cannot create I/O channel: %s\n", disk->fb.bdev.name, strerror(-rc));
	if (uch->evfd >= 0)
		close(uch->evfd);
	io_uring_queue_exit(&uch->ring);
	return rc;
}

void
bdev_uring_channel_destroy(void *io_device, void *ctx_buf)
{
	struct uring_channel *uch = ctx_buf;

	if (uch->inflight > 0 || !TAILQ_EMPTY(&uch->waiting))
		SPUR_ERRLOG("%s: channel destroyed with %u requests in flight\n",
			    uch->disk->fb.bdev.name, uch->inflight);
	spur_poller_remove_fd(uch->poller, uch->evfd);
	spur_poller_unregister(&uch->poller);
	io_uring_queue_exit(&uch->ring);
	close(uch->evfd);
}
