/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The aio bdev's I/O path: per-thread channels with their own Linux AIO
 * context, request submission and reaping, and the helper thread.
 *
 * Threading. A channel (struct aio_channel) is touched only on its own
 * thread, except 'done' / 'done_count' (under done_lock: the helper thread
 * appends, the poller takes). The helper's queue is under helper.lock. A
 * task is owned by exactly one of: its channel (prepared, pending, waiting,
 * in the kernel) or the helper (queued or running) until the helper puts it
 * on its channel's done list.
 *
 * Which path a request takes:
 *   READ/WRITE  O_DIRECT file open and the request aligned (offset, length,
 *               every iovec base and length) -> libaio on the O_DIRECT file.
 *               Otherwise the helper thread (preadv2 / pwritev2 on the
 *               buffered file). The bdev sets required_alignment to the
 *               O_DIRECT memory alignment, so the layer bounces misaligned
 *               buffers and only odd iovec lengths reach the helper. (libaio
 *               on a buffered file runs synchronously inside io_submit, which
 *               would stall the reactor, so it is never used.)
 *   FLUSH       IOCB_CMD_FDSYNC when the kernel has it (probed at create),
 *               else fdatasync on the helper.
 *   UNMAP       helper: fallocate(PUNCH_HOLE|KEEP_SIZE) on files, BLKDISCARD
 *               on block devices. Offered only with the 'fallocate' option.
 *   WRITE_ZEROES helper: fallocate(ZERO_RANGE|KEEP_SIZE), or PUNCH_HOLE on
 *               file systems without ZERO_RANGE. Same option.
 *
 * RESET waits until every request submitted before it has completed (the
 * file-backed bdev helper's reset, module/bdev/common/file_bdev_io.c), which
 * also provides the errno-to-status mapping, failure logging, the O_DIRECT
 * eligibility check and the short-transfer bookkeeping.
 *
 * Batching and wake-ups. submit_request only prepares iocbs; the poller
 * hands every pending one to io_submit once per iteration, then reaps
 * completions straight from the AIO ring mapped in user space (falling back
 * to io_getevents with a zero timeout when the ring layout is unknown).
 * Every iocb carries the channel's eventfd (io_set_eventfd), and the helper
 * writes the same eventfd; it is given to spur_poller_add_fd so a sleeping
 * reactor wakes on a completion. The poller returns IDLE when an iteration
 * found nothing; the eventfd is drained only after such an iteration.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "bdev_aio_internal.h"
#include "spur/log.h"
#include "spur/thread.h"
#include "spur/util.h"

#define AIO_REAP_BATCH 64
#define AIO_RING_MAGIC 0xa10a10a1u

/* The kernel's completion ring header, mapped at the io_context_t address. */
struct aio_ring {
	uint32_t id;
	uint32_t nr;
	uint32_t head;
	uint32_t tail;
	uint32_t magic;
	uint32_t compat_features;
	uint32_t incompat_features;
	uint32_t header_length;
	struct io_event events[];
};

static inline struct spur_bdev_io *
task_io(struct aio_task *task)
{
	return SPUR_CONTAINER_OF((void *)task, struct spur_bdev_io, driver_ctx);
}

size_t
bdev_aio_get_ctx_size(void)
{
	return sizeof(struct aio_task);
}

/* The one place a request leaves the module. */
static void
aio_complete(struct aio_task *task, int status)
{
	file_bdev_epoch_leave(&task->ch->fch, task->epoch);
	spur_bdev_io_complete(task_io(task), status);
}

static void
aio_task_fail(struct aio_disk *disk, struct aio_task *task, int res)
{
	aio_complete(task, file_bdev_failure(&disk->fb, task_io(task), res));
}

static int
aio_skip_done(struct aio_task *task, struct spur_bdev_io *io)
{
	return file_bdev_xfer_skip_done(&task->xfer, io);
}

static void
aio_restore_iov(struct aio_task *task)
{
	file_bdev_xfer_restore(&task->xfer, task_io(task));
}

/* ---- the helper thread ------------------------------------------------------ */

/* Read or write the rest of the request on the buffered file. */
static int
aio_helper_rw(struct aio_disk *disk, struct aio_task *task, struct spur_bdev_io *io)
{
	uint64_t base = io->offset_blocks * disk->fb.bdev.blocklen;
	uint64_t len = io->num_blocks * disk->fb.bdev.blocklen;
	int flags = io->type == SPUR_BDEV_IO_WRITE && (io->flags & SPUR_BDEV_IO_FUA) ? RWF_DSYNC : 0;
	ssize_t n;
	int first;

	while (task->xfer.done < len) {
		first = aio_skip_done(task, io);
		if (io->type == SPUR_BDEV_IO_READ)
			n = preadv2(disk->fb.fd, io->iovs + first, io->iovcnt - first,
				    (off_t)(base + task->xfer.done), 0);
		else
			n = pwritev2(disk->fb.fd, io->iovs + first, io->iovcnt - first,
				     (off_t)(base + task->xfer.done), flags);
		aio_restore_iov(task);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the file shrank under us */
		task->xfer.done += (uint64_t)n;
	}
	return 0;
}

/* Discard the logical blocks inside the range (unmap is advisory). */
static int
aio_helper_discard(struct aio_disk *disk, struct spur_bdev_io *io)
{
	uint64_t start = io->offset_blocks * disk->fb.bdev.blocklen;
	uint64_t end = start + io->num_blocks * disk->fb.bdev.blocklen;
	uint64_t mask = disk->fb.lbs - 1, range[2];

	start = (start + mask) & ~mask;
	end &= ~mask;
	if (end <= start)
		return 0;
	range[0] = start;
	range[1] = end - start;
	return ioctl(disk->fb.fd, BLKDISCARD, range) == 0 ? 0 : -errno;
}

static int
aio_helper_zeroes(struct aio_disk *disk, struct spur_bdev_io *io)
{
	off_t offset = (off_t)(io->offset_blocks * disk->fb.bdev.blocklen);
	off_t len = (off_t)(io->num_blocks * disk->fb.bdev.blocklen);
	int mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;

	if (!disk->fb.is_blockdev && ((io->flags & SPUR_BDEV_IO_UNMAP_OK) ||
				   atomic_load(&disk->fb.zero_range_refused)))
		mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	if (fallocate(disk->fb.fd, mode, offset, len) == 0)
		return 0;
	if (errno != EOPNOTSUPP || disk->fb.is_blockdev || (mode & FALLOC_FL_PUNCH_HOLE))
		return -errno;
	/* tmpfs and others: a punched hole reads back as zeroes. */
	atomic_store(&disk->fb.zero_range_refused, true);
	mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	return fallocate(disk->fb.fd, mode, offset, len) == 0 ? 0 : -errno;
}

static int
aio_helper_run(struct aio_disk *disk, struct aio_task *task)
{
	struct spur_bdev_io *io = task_io(task);
	int rc;

	switch (io->type) {
	case SPUR_BDEV_IO_READ:
	case SPUR_BDEV_IO_WRITE:
		return aio_helper_rw(disk, task, io);
	case SPUR_BDEV_IO_FLUSH:
		return fdatasync(disk->fb.fd) == 0 ? 0 : -errno;
	case SPUR_BDEV_IO_UNMAP:
		if (disk->fb.is_blockdev)
			return aio_helper_discard(disk, io);
		rc = fallocate(disk->fb.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       (off_t)(io->offset_blocks * disk->fb.bdev.blocklen),
			       (off_t)(io->num_blocks * disk->fb.bdev.blocklen));
		return rc == 0 ? 0 : -errno;
	case SPUR_BDEV_IO_WRITE_ZEROES:
		return aio_helper_zeroes(disk, io);
	default:
		return -EOPNOTSUPP;
	}
}

/*
 * Hand a finished task back to its channel. Everything happens under
 * done_lock, so once the poller can see the task the helper no longer
 * touches the channel (which may then be destroyed).
 */
static void
aio_helper_complete(struct aio_task *task)
{
	struct aio_channel *ch = task->ch;
	uint64_t one = 1;

	pthread_mutex_lock(&ch->done_lock);
	TAILQ_INSERT_TAIL(&ch->done, task, link);
	atomic_fetch_add_explicit(&ch->done_count, 1, memory_order_release);
	if (write(ch->evfd, &one, sizeof(one)) != sizeof(one))
		SPUR_DEBUGLOG("bdev_aio", "eventfd write failed: %s\n", strerror(errno));
	pthread_mutex_unlock(&ch->done_lock);
}

static void *
aio_helper_main(void *arg)
{
	struct aio_disk *disk = arg;
	struct aio_helper *h = &disk->helper;
	struct aio_task *task;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		while (TAILQ_EMPTY(&h->queue) && !h->stop)
			pthread_cond_wait(&h->cond, &h->lock);
		task = TAILQ_FIRST(&h->queue);
		if (task == NULL)
			break;
		TAILQ_REMOVE(&h->queue, task, link);
		pthread_mutex_unlock(&h->lock);
		task->res = aio_helper_run(disk, task);
		aio_helper_complete(task);
		pthread_mutex_lock(&h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/*
 * Start the helper (h->lock held). It must not inherit the reactor's
 * pinning (it would compete with a busy-polling reactor for its core) nor
 * take the process's signals.
 */
static int
aio_helper_start(struct aio_disk *disk)
{
	struct aio_helper *h = &disk->helper;
	sigset_t all, old;
	cpu_set_t cpus;
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&h->thread, NULL, aio_helper_main, disk);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -rc;
	CPU_ZERO(&cpus);
	for (long i = 0; i < ncpu && i < CPU_SETSIZE; i++)
		CPU_SET((int)i, &cpus);
	pthread_setaffinity_np(h->thread, sizeof(cpus), &cpus);
	pthread_setname_np(h->thread, "spur_aio_helper");
	h->started = true;
	SPUR_DEBUGLOG("bdev_aio", "%s: helper thread started\n", disk->fb.bdev.name);
	return 0;
}

static void
aio_helper_submit(struct aio_channel *ch, struct aio_task *task)
{
	struct aio_helper *h = &ch->disk->helper;
	int rc = 0;

	pthread_mutex_lock(&h->lock);
	if (!h->started)
		rc = aio_helper_start(ch->disk);
	if (rc == 0) {
		TAILQ_INSERT_TAIL(&h->queue, task, link);
		pthread_cond_signal(&h->cond);
	}
	pthread_mutex_unlock(&h->lock);
	if (rc != 0) {
		SPUR_ERRLOG("%s: cannot start the helper thread: %s\n", ch->disk->fb.bdev.name,
			    strerror(-rc));
		aio_task_fail(ch->disk, task, rc);
		return;
	}
	ch->inflight++;
}

void
bdev_aio_helper_stop(struct aio_disk *disk)
{
	struct aio_helper *h = &disk->helper;
	bool started;

	pthread_mutex_lock(&h->lock);
	h->stop = true;
	started = h->started;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
	if (started)
		pthread_join(h->thread, NULL);
}

/* ---- Linux AIO ----------------------------------------------------------------- */

/*
 * Prepare the iocb for a read, write or flush. Returns 1 when prepared, 0
 * when the request must go to the helper, -EINVAL for iovecs that do not
 * match the length.
 */
static int
aio_prep(struct aio_channel *ch, struct aio_task *task)
{
	struct aio_disk *disk = ch->disk;
	struct spur_bdev_io *io = task_io(task);
	uint64_t offset = io->offset_blocks * disk->fb.bdev.blocklen + task->xfer.done;
	uint64_t len = io->num_blocks * disk->fb.bdev.blocklen - task->xfer.done;
	struct iocb *iocb = &task->iocb;
	int dfd = disk->fb.dfd; /* used only when the O_DIRECT file exists */
	struct iovec *iov;
	int first, iovcnt, rc;

	if (io->type == SPUR_BDEV_IO_FLUSH) {
		if (!disk->fdsync_ok)
			return 0;
		io_prep_fdsync(iocb, dfd);
		goto done;
	}
	first = task->xfer.done > 0 ? aio_skip_done(task, io) : 0;
	iov = io->iovs + first;
	iovcnt = io->iovcnt - first;
	rc = file_bdev_check_iovs(&disk->fb, iov, iovcnt, offset, len);
	if (rc <= 0) {
		aio_restore_iov(task);
		return rc;
	}
	if (io->type == SPUR_BDEV_IO_READ) {
		if (iovcnt == 1)
			io_prep_pread(iocb, dfd, iov->iov_base, iov->iov_len, (long long)offset);
		else
			io_prep_preadv(iocb, dfd, iov, iovcnt, (long long)offset);
	} else {
		if (iovcnt == 1)
			io_prep_pwrite(iocb, dfd, iov->iov_base, iov->iov_len, (long long)offset);
		else
			io_prep_pwritev(iocb, dfd, iov, iovcnt, (long long)offset);
		if (io->flags & SPUR_BDEV_IO_FUA)
			iocb->aio_rw_flags = RWF_DSYNC;
	}
done:
	io_set_eventfd(iocb, ch->evfd);
	iocb->data = task;
	return 1;
}

/*
 * Route a task; it ends up pending, waiting, with the helper, or failed.
 * resumed: the task comes from the head of the wait list, so it goes first.
 */
static void
aio_route(struct aio_channel *ch, struct aio_task *task, bool resumed)
{
	int rc;

	if ((!resumed && !TAILQ_EMPTY(&ch->waiting)) ||
	    ch->npending + ch->inflight >= AIO_QUEUE_DEPTH) {
		/* Keep order behind earlier waiters; the kernel queue is full. */
		TAILQ_INSERT_TAIL(&ch->waiting, task, link);
		return;
	}
	rc = aio_prep(ch, task);
	if (rc < 0) {
		aio_task_fail(ch->disk, task, rc);
	} else if (rc == 0) {
		aio_helper_submit(ch, task);
	} else {
		ch->pending[ch->npending++] = &task->iocb;
	}
}

void
bdev_aio_submit_request(struct spur_io_channel *sch, struct spur_bdev_io *io)
{
	struct aio_channel *ch = spur_io_channel_get_ctx(sch);
	struct aio_disk *disk = ch->disk;
	struct aio_task *task = (struct aio_task *)io->driver_ctx;

	if (io->type == SPUR_BDEV_IO_RESET) {
		file_bdev_reset(&disk->fb, io);
		return;
	}
	task->ch = ch;
	file_bdev_xfer_init(&task->xfer);
	task->res = 0;
	task->epoch = file_bdev_epoch_enter(&ch->fch);
	switch (io->type) {
	case SPUR_BDEV_IO_READ:
	case SPUR_BDEV_IO_FLUSH:
		aio_route(ch, task, false);
		return;
	case SPUR_BDEV_IO_WRITE:
		if (disk->readonly)
			break;
		aio_route(ch, task, false);
		return;
	case SPUR_BDEV_IO_UNMAP:
	case SPUR_BDEV_IO_WRITE_ZEROES:
		if (disk->readonly || !disk->fallocate)
			break;
		aio_helper_submit(ch, task);
		return;
	default:
		break;
	}
	aio_complete(task, SPUR_BDEV_ERR_UNSUPPORTED);
}

/* Give pending iocbs to the kernel. Returns how many it took. */
static int
aio_flush(struct aio_channel *ch)
{
	struct aio_task *task;
	int rc, submitted = 0;

	while (ch->npending > 0) {
		rc = io_submit(ch->ctx, (long)ch->npending, ch->pending);
		if (rc == -EAGAIN || rc == -EINTR || rc == 0)
			break; /* retry on the next poll */
		if (rc < 0) {
			/* The first iocb was refused; fail it and go on with the rest. */
			task = ch->pending[0]->data;
			memmove(ch->pending, ch->pending + 1, --ch->npending * sizeof(ch->pending[0]));
			aio_restore_iov(task);
			aio_task_fail(ch->disk, task, rc);
			continue;
		}
		ch->npending -= (uint32_t)rc;
		memmove(ch->pending, ch->pending + rc, ch->npending * sizeof(ch->pending[0]));
		ch->inflight += (uint32_t)rc;
		submitted += rc;
	}
	return submitted;
}

/* Completions from the kernel: the user-space ring, or io_getevents. */
static int
aio_get_events(io_context_t ctx, struct io_event *events, int max)
{
	struct aio_ring *ring = (struct aio_ring *)ctx;
	struct timespec zero = {0, 0};
	uint32_t head, tail, nr;
	int n = 0;

	if (ring->magic != AIO_RING_MAGIC || ring->incompat_features != 0)
		return io_getevents(ctx, 0, max, events, &zero);
	nr = ring->nr;
	head = ring->head;
	tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
	if (head >= nr || tail >= nr)
		return io_getevents(ctx, 0, max, events, &zero);
	while (head != tail && n < max) {
		events[n++] = ring->events[head];
		head = head + 1 == nr ? 0 : head + 1;
	}
	__atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
	return n;
}

/* One finished task (kernel or helper) with result res. */
static void
aio_task_done(struct aio_channel *ch, struct aio_task *task, long res)
{
	struct aio_disk *disk = ch->disk;
	struct spur_bdev_io *io = task_io(task);

	ch->inflight--;
	aio_restore_iov(task);
	if (res < 0) {
		aio_task_fail(disk, task, (int)res);
		return;
	}
	if (io->type == SPUR_BDEV_IO_READ || io->type == SPUR_BDEV_IO_WRITE) {
		if (res == 0 && task->xfer.done < io->num_blocks * disk->fb.bdev.blocklen) {
			aio_task_fail(disk, task, -EIO);
			return;
		}
		task->xfer.done += (uint64_t)res;
		if (task->xfer.done < io->num_blocks * disk->fb.bdev.blocklen) {
			SPUR_DEBUGLOG("bdev_aio", "%s: short %s, %" PRIu64 " bytes done\n",
				      disk->fb.bdev.name, spur_bdev_io_type_name(io->type),
				      task->xfer.done);
			aio_route(ch, task, false);
			return;
		}
	}
	aio_complete(task, SPUR_BDEV_OK);
}

static int
aio_reap(struct aio_channel *ch)
{
	struct io_event events[AIO_REAP_BATCH];
	struct aio_task_list done;
	struct aio_task *task;
	int n, total = 0;

	if (ch->inflight == 0)
		return 0;
	if (atomic_load_explicit(&ch->done_count, memory_order_acquire) > 0) {
		TAILQ_INIT(&done);
		pthread_mutex_lock(&ch->done_lock);
		TAILQ_CONCAT(&done, &ch->done, link);
		atomic_store_explicit(&ch->done_count, 0, memory_order_relaxed);
		pthread_mutex_unlock(&ch->done_lock);
		while ((task = TAILQ_FIRST(&done)) != NULL) {
			TAILQ_REMOVE(&done, task, link);
			/* The helper finished the whole transfer (task->xfer.done) or failed. */
			aio_task_done(ch, task, task->res);
			total++;
		}
	}
	do {
		n = aio_get_events(ch->ctx, events, AIO_REAP_BATCH);
		if (n < 0) {
			SPUR_ERRLOG("%s: io_getevents failed: %s\n", ch->disk->fb.bdev.name,
				    strerror(-n));
			break;
		}
		for (int i = 0; i < n; i++)
			aio_task_done(ch, events[i].data, (long)events[i].res);
		total += n;
	} while (n == AIO_REAP_BATCH && total < 4 * AIO_REAP_BATCH);
	return total;
}

static void
aio_resume_waiting(struct aio_channel *ch)
{
	struct aio_task *task;

	while ((task = TAILQ_FIRST(&ch->waiting)) != NULL &&
	       ch->npending + ch->inflight < AIO_QUEUE_DEPTH) {
		TAILQ_REMOVE(&ch->waiting, task, link);
		aio_route(ch, task, true);
	}
}

static int
aio_poll(void *ctx)
{
	struct aio_channel *ch = ctx;
	int reaped, submitted = 0;

	reaped = aio_reap(ch);
	if (!TAILQ_EMPTY(&ch->waiting))
		aio_resume_waiting(ch);
	if (ch->npending > 0)
		submitted = aio_flush(ch);
	return file_bdev_poll_end(&ch->fch, ch->evfd, reaped,
				  submitted > 0 || ch->npending > 0 || !TAILQ_EMPTY(&ch->waiting));
}

int
bdev_aio_channel_create(void *io_device, void *ctx_buf)
{
	struct aio_disk *disk = io_device;
	struct aio_channel *ch = ctx_buf;
	int rc;

	ch->disk = disk;
	ch->evfd = -1;
	file_bdev_channel_init(&ch->fch);
	TAILQ_INIT(&ch->waiting);
	TAILQ_INIT(&ch->done);
	pthread_mutex_init(&ch->done_lock, NULL);
	rc = io_setup((int)AIO_QUEUE_DEPTH, &ch->ctx);
	if (rc < 0) {
		SPUR_ERRLOG("%s: io_setup(%u) failed: %s%s\n", disk->fb.bdev.name, AIO_QUEUE_DEPTH,
			    strerror(-rc), rc == -EAGAIN ? " (raise fs.aio-max-nr)" : "");
		pthread_mutex_destroy(&ch->done_lock);
		return rc;
	}
	ch->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ch->evfd < 0) {
		rc = -errno;
		goto err;
	}
	ch->poller = spur_poller_register(aio_poll, ch, 0, "bdev_aio");
	if (ch->poller == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	rc = spur_poller_add_fd(ch->poller, ch->evfd, EPOLLIN);
	if (rc < 0) {
		spur_poller_unregister(&ch->poller);
		goto err;
	}
	return 0;
err:
	SPUR_ERRLOG("%s: cannot create I/O channel: %s\n", disk->fb.bdev.name, strerror(-rc));
	if (ch->evfd >= 0)
		close(ch->evfd);
	io_destroy(ch->ctx);
	pthread_mutex_destroy(&ch->done_lock);
	return rc;
}

void
bdev_aio_channel_destroy(void *io_device, void *ctx_buf)
{
	struct aio_channel *ch = ctx_buf;

	if (ch->inflight > 0 || ch->npending > 0 || !TAILQ_EMPTY(&ch->waiting))
		SPUR_ERRLOG("%s: channel destroyed with %u requests in flight\n",
			    ch->disk->fb.bdev.name, ch->inflight + ch->npending);
	spur_poller_remove_fd(ch->poller, ch->evfd);
	spur_poller_unregister(&ch->poller);
	io_destroy(ch->ctx);
	/* A helper still inside aio_helper_complete holds done_lock. */
	pthread_mutex_lock(&ch->done_lock);
	pthread_mutex_unlock(&ch->done_lock);
	pthread_mutex_destroy(&ch->done_lock);
	close(ch->evfd);
}
