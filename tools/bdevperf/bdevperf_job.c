/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The job engine of spur_bdevperf: one job per (bdev, core), each on its
 * own lightweight thread with its own channel, keeping queue_depth requests
 * in flight until the time is up.
 *
 * A job is a small state machine, advanced only by job_continue():
 *
 *   RUNNING --time up / --once range covered / stop flag--> DRAINING
 *   DRAINING --last request back, no final flush--> DONE
 *   DRAINING --last request back, --once or --flush-at-end--> FLUSHING
 *   FLUSHING --flush back--> DONE  (channel put, app thread told, thread exits)
 *
 * A task (one per queue slot) owns a preallocated buffer and loops: pick the
 * next request (job_pick), submit, complete, record. For verify a task
 * writes its range, then reads it back (step VERIFY_READ) and compares.
 * Each verify task only ever touches the chunks congruent to its slot
 * index, so requests in flight never overlap and the expected contents are
 * exact. -ENOMEM from a submit parks the task with spur_bdev_queue_io_wait;
 * a parked task counts as in flight, so a job never finishes under it.
 *
 * Threading: everything in a job is touched on the job's thread except
 * job->stop (any thread, atomic). Nothing is allocated per request.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdevperf.h"
#include "spur/log.h"

#define BP_MAX_PRINTED_ERRORS 10

static struct bp_job *g_jobs;
static uint32_t g_num_jobs;

static void job_continue(struct bp_job *job);
static void task_submit(struct bp_task *task);

void
bp_jobs_set(struct bp_job *jobs, uint32_t count)
{
	g_jobs = jobs;
	g_num_jobs = count;
}

void
bp_jobs_abort(void)
{
	for (uint32_t i = 0; i < g_num_jobs; i++)
		atomic_store(&g_jobs[i].stop, true);
}

/* splitmix64: fast, and every job gets its own stream from --seed. */
static inline uint64_t
rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

int
bp_job_init(struct bp_job *job)
{
	const struct bp_opts *o = job->opts;
	size_t per_task = o->io_size * (bp_workload_verifies(o->workload) ? 2 : 1);
	uint64_t chunks;

	job->io_blocks = o->io_size / job->block_size;
	chunks = job->range_blocks / job->io_blocks;
	if (chunks == 0 || (bp_workload_verifies(o->workload) && chunks < o->queue_depth)) {
		fprintf(stderr, "spur_bdevperf: %s core %u: %" PRIu64 " blocks are too few for "
			"%u requests of %" PRIu64 " bytes\n", job->bdev_name, job->core,
			job->range_blocks, bp_workload_verifies(o->workload) ? o->queue_depth : 1,
			o->io_size);
		return -EINVAL;
	}
	if (posix_memalign(&job->bufs, 4096, per_task * o->queue_depth) != 0)
		return -ENOMEM;
	/* Something other than zeroes, written once: plain writes send it as is. */
	memset(job->bufs, 0xa5, per_task * o->queue_depth);
	job->tasks = calloc(o->queue_depth, sizeof(*job->tasks));
	if (job->tasks == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < o->queue_depth; i++) {
		struct bp_task *t = &job->tasks[i];

		t->job = job;
		t->buf = (char *)job->bufs + i * per_task;
		t->rbuf = bp_workload_verifies(o->workload) ? (char *)t->buf + o->io_size : NULL;
	}
	job->flush_task.job = job;
	job->rng = o->seed ^ (0x9e3779b97f4a7c15ull * (job->index + 1));
	job->generation = rng_next(&job->rng) & 0xffffff;
	job->state = BP_JOB_RUNNING;
	return 0;
}

void
bp_job_free(struct bp_job *job)
{
	free(job->tasks);
	free(job->bufs);
	job->tasks = NULL;
	job->bufs = NULL;
}

/* Choose the next request of task; false when the job wants no more. */
static bool
job_pick(struct bp_job *job, struct bp_task *task)
{
	const struct bp_opts *o = job->opts;
	uint64_t chunks = job->range_blocks / job->io_blocks, slots;

	if (job->state != BP_JOB_RUNNING)
		return false;
	if (atomic_load_explicit(&job->stop, memory_order_relaxed)) {
		job->state = BP_JOB_DRAINING;
		return false;
	}
	task->step = BP_STEP_IO;
	task->num_blocks = job->io_blocks;
	if (o->once) {
		if (job->next_offset >= job->range_blocks) {
			job->state = BP_JOB_DRAINING;
			return false;
		}
		task->offset_blocks = job->next_offset;
		task->num_blocks = SPUR_MIN(job->io_blocks, job->range_blocks - job->next_offset);
		job->next_offset += task->num_blocks;
	} else if (bp_workload_verifies(o->workload)) {
		slots = chunks / o->queue_depth;
		task->offset_blocks = ((rng_next(&job->rng) % slots) * o->queue_depth +
				       (uint64_t)(task - job->tasks)) * job->io_blocks;
	} else if (bp_workload_random(o->workload)) {
		task->offset_blocks = (rng_next(&job->rng) % chunks) * job->io_blocks;
	} else {
		if (job->next_offset + job->io_blocks > job->range_blocks)
			job->next_offset = 0;
		task->offset_blocks = job->next_offset;
		job->next_offset += job->io_blocks;
	}
	switch (o->workload) {
	case BP_READ:
	case BP_RANDREAD:
		task->type = SPUR_BDEV_IO_READ;
		break;
	case BP_RW:
	case BP_RANDRW:
		task->type = rng_next(&job->rng) % 100 < o->read_percent ? SPUR_BDEV_IO_READ :
									    SPUR_BDEV_IO_WRITE;
		break;
	case BP_UNMAP:
		task->type = SPUR_BDEV_IO_UNMAP;
		break;
	case BP_FLUSH:
		task->type = SPUR_BDEV_IO_FLUSH;
		break;
	case BP_WRITE_ZEROES:
		task->type = SPUR_BDEV_IO_WRITE_ZEROES;
		break;
	case BP_VERIFY:
	case BP_RESET:
		task->generation = job->generation++ & 0xffffff;
		/* fall through */
	default:
		task->type = SPUR_BDEV_IO_WRITE;
		break;
	}
	return true;
}

static void
task_retry(void *arg)
{
	struct bp_task *task = arg;

	task->job->inflight--; /* task_submit counts it again */
	task_submit(task);
}

/* A failed submit (negative errno) or completion (enum spur_bdev_status). */
static void
job_error(struct bp_job *job, struct bp_task *task, bool submit, int code)
{
	if (job->errors++ < BP_MAX_PRINTED_ERRORS)
		fprintf(stderr, "spur_bdevperf: %s core %u: %s %s of %" PRIu64 "+%" PRIu64
			" blocks: %s\n", job->bdev_name, job->core,
			submit ? "cannot submit" : "failed", spur_bdev_io_type_name(task->type),
			job->range_start + task->offset_blocks, task->num_blocks,
			submit ? strerror(-code) : spur_bdev_status_name(code));
}

static void task_done(struct spur_bdev_io *io, int status, void *arg);

static void
task_submit(struct bp_task *task)
{
	struct bp_job *job = task->job;
	const struct bp_opts *o = job->opts;
	uint64_t offset = job->range_start + task->offset_blocks;
	uint64_t byte_offset = offset * job->block_size;
	size_t len = task->num_blocks * job->block_size;
	int rc;

	if (task->type == SPUR_BDEV_IO_WRITE && task->step == BP_STEP_IO) {
		if (bp_workload_verifies(o->workload))
			bp_verify_fill(task->buf, byte_offset, len, task->generation);
		else if (o->has_pattern)
			bp_pattern_fill(task->buf, byte_offset, len, o->pattern_seed);
	}
	task->submit_ticks = spur_get_ticks();
	switch (task->type) {
	case SPUR_BDEV_IO_READ:
		rc = spur_bdev_read_blocks(job->desc, job->ch,
					   task->step == BP_STEP_VERIFY_READ ? task->rbuf : task->buf,
					   offset, task->num_blocks, task_done, task);
		break;
	case SPUR_BDEV_IO_WRITE:
		rc = spur_bdev_write_blocks(job->desc, job->ch, task->buf, offset, task->num_blocks,
					    task_done, task);
		break;
	case SPUR_BDEV_IO_UNMAP:
		rc = spur_bdev_unmap_blocks(job->desc, job->ch, offset, task->num_blocks, task_done,
					    task);
		break;
	case SPUR_BDEV_IO_FLUSH:
		rc = spur_bdev_flush_blocks(job->desc, job->ch, offset, task->num_blocks, task_done,
					    task);
		break;
	case SPUR_BDEV_IO_WRITE_ZEROES:
		rc = spur_bdev_write_zeroes_blocks(job->desc, job->ch, offset, task->num_blocks, 0,
						   task_done, task);
		break;
	default:
		rc = -EINVAL;
		break;
	}
	if (rc == 0) {
		job->inflight++;
		return;
	}
	if (rc == -ENOMEM) {
		task->wait.bdev = job->bdev;
		task->wait.cb_fn = task_retry;
		task->wait.cb_arg = task;
		rc = spur_bdev_queue_io_wait(job->bdev, job->ch, &task->wait);
		if (rc == 0) {
			job->inflight++;
			return;
		}
	}
	job_error(job, task, true, rc);
	atomic_store(&job->stop, true);
	job->state = job->state == BP_JOB_RUNNING ? BP_JOB_DRAINING : job->state;
	job_continue(job);
}

/* Give the task its next request, or let it rest. */
static void
task_next(struct bp_task *task)
{
	struct bp_job *job = task->job;

	if (task != &job->flush_task && job_pick(job, task)) {
		task_submit(task);
		return;
	}
	task->step = BP_STEP_IDLE;
	job_continue(job);
}

static void
task_done(struct spur_bdev_io *io, int status, void *arg)
{
	struct bp_task *task = arg;
	struct bp_job *job = task->job;
	uint64_t now = spur_get_ticks();
	size_t len = task->num_blocks * job->block_size;
	uint64_t byte_offset = (job->range_start + task->offset_blocks) * job->block_size;

	spur_bdev_free_io(io);
	job->inflight--;
	if (status == SPUR_BDEV_ERR_ABORTED && job->opts->workload == BP_RESET) {
		/* A reset may abort what the layer still held: expected here. */
		task_next(task);
		return;
	}
	if (status != 0) {
		job_error(job, task, false, status);
		task_next(task);
		return;
	}
	if (task == &job->flush_task) {
		fprintf(stderr, "spur_bdevperf: %s core %u: final flush took %.1f us\n",
			job->bdev_name, job->core,
			(double)(now - task->submit_ticks) * 1e6 / (double)spur_get_ticks_hz());
		task_next(task);
		return;
	}
	bp_hist_record(&job->hist, now - task->submit_ticks);
	job->ios++;
	job->bytes += len;
	if (task->step == BP_STEP_IO && bp_workload_verifies(job->opts->workload)) {
		task->step = BP_STEP_VERIFY_READ;
		task->type = SPUR_BDEV_IO_READ;
		task_submit(task);
		return;
	}
	if (task->step == BP_STEP_VERIFY_READ &&
	    !bp_verify_check(job->bdev_name, task->rbuf, byte_offset, len, task->generation)) {
		job->mismatches++;
		/* A corrupting device fails the whole run. */
		bp_jobs_abort();
	}
	task_next(task);
}

static void
job_done_msg(void *arg)
{
	struct bp_job *job = arg;

	job->done_cb(job);
}

static int
job_timer(void *arg)
{
	struct bp_job *job = arg;

	spur_poller_unregister(&job->timer);
	if (job->state == BP_JOB_RUNNING)
		job->state = BP_JOB_DRAINING;
	job_continue(job);
	return SPUR_POLLER_BUSY;
}

static int
job_notify_retry(void *arg)
{
	struct bp_job *job = arg;

	if (spur_thread_send_msg(spur_get_app_thread(), job_done_msg, job) != 0)
		return SPUR_POLLER_IDLE;
	spur_poller_unregister(&job->timer);
	spur_thread_exit(spur_get_thread());
	return SPUR_POLLER_BUSY;
}

static void
job_reset_done(struct spur_bdev_io *io, int status, void *arg)
{
	struct bp_job *job = arg;

	spur_bdev_free_io(io);
	job->inflight--;
	job->reset_inflight = false;
	job->resets++;
	if (status != 0 && job->errors++ < BP_MAX_PRINTED_ERRORS)
		fprintf(stderr, "spur_bdevperf: %s core %u: reset failed: %s\n", job->bdev_name,
			job->core, spur_bdev_status_name(status));
	job_continue(job);
}

/* reset workload: one reset at a time, every 100 ms, while running. */
static int
job_reset_tick(void *arg)
{
	struct bp_job *job = arg;
	int rc;

	if (job->state != BP_JOB_RUNNING || job->reset_inflight)
		return SPUR_POLLER_IDLE;
	rc = spur_bdev_reset(job->desc, job->ch, job_reset_done, job);
	if (rc == -ENOMEM)
		return SPUR_POLLER_IDLE; /* next tick */
	if (rc != 0) {
		fprintf(stderr, "spur_bdevperf: %s core %u: cannot submit a reset: %s\n",
			job->bdev_name, job->core, strerror(-rc));
		job->errors++;
		return SPUR_POLLER_IDLE;
	}
	job->reset_inflight = true;
	job->inflight++;
	return SPUR_POLLER_BUSY;
}

static void
job_finish(struct bp_job *job)
{
	if (job->opts->workload == BP_RESET)
		fprintf(stderr, "spur_bdevperf: %s core %u: %" PRIu64 " resets\n", job->bdev_name,
			job->core, job->resets);
	job->state = BP_JOB_DONE;
	spur_poller_unregister(&job->timer);
	spur_poller_unregister(&job->reset_timer);
	if (job->ch != NULL) {
		spur_put_io_channel(job->ch);
		job->ch = NULL;
	}
	if (spur_thread_send_msg(spur_get_app_thread(), job_done_msg, job) != 0) {
		/* The app thread's queue is full: try again shortly. */
		job->timer = spur_poller_register(job_notify_retry, job, 1000, "bdevperf_notify");
		return;
	}
	spur_thread_exit(spur_get_thread());
}

/* The one place that moves a job between states (see the diagram above). */
static void
job_continue(struct bp_job *job)
{
	const struct bp_opts *o = job->opts;

	if (job->inflight > 0)
		return;
	switch (job->state) {
	case BP_JOB_RUNNING:
		/* Every task idle while running: only after a failed submit. */
		return;
	case BP_JOB_DRAINING:
		job->end_ticks = spur_get_ticks();
		if ((o->once || o->flush_at_end) && bp_workload_writes(o->workload) &&
		    job->errors == 0 && job->mismatches == 0 &&
		    spur_bdev_io_type_supported(job->bdev, SPUR_BDEV_IO_FLUSH)) {
			job->state = BP_JOB_FLUSHING;
			job->flush_task.step = BP_STEP_IO;
			job->flush_task.type = SPUR_BDEV_IO_FLUSH;
			job->flush_task.offset_blocks = 0;
			job->flush_task.num_blocks = job->range_blocks;
			task_submit(&job->flush_task);
			return;
		}
		job_finish(job);
		return;
	case BP_JOB_FLUSHING:
		job_finish(job);
		return;
	case BP_JOB_DONE:
		return;
	}
}

static void
job_start_msg(void *arg)
{
	struct bp_job *job = arg;
	const struct bp_opts *o = job->opts;

	job->ch = spur_bdev_get_io_channel(job->desc);
	if (job->ch == NULL) {
		fprintf(stderr, "spur_bdevperf: %s core %u: cannot get an I/O channel\n",
			job->bdev_name, job->core);
		job->failed = true;
		job_finish(job);
		return;
	}
	if (!o->once) {
		job->timer = spur_poller_register(job_timer, job, o->seconds * 1000000ull,
						  "bdevperf_timer");
		if (job->timer == NULL) {
			job->failed = true;
			job_finish(job);
			return;
		}
	}
	if (o->workload == BP_RESET) {
		job->reset_timer = spur_poller_register(job_reset_tick, job, 100000,
							"bdevperf_reset");
		if (job->reset_timer == NULL) {
			job->failed = true;
			job_finish(job);
			return;
		}
	}
	job->start_ticks = spur_get_ticks();
	for (uint32_t i = 0; i < o->queue_depth; i++)
		task_next(&job->tasks[i]);
	if (job->state != BP_JOB_RUNNING)
		job_continue(job);
}

int
bp_job_start(struct bp_job *job)
{
	return spur_thread_send_msg(job->thread, job_start_msg, job);
}
