/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spur_bdevperf, shared between its files: options (bdevperf_opts.c), jobs
 * and workloads (bdevperf_job.c), data patterns and verification
 * (bdevperf_pattern.c), latency histograms and the report
 * (bdevperf_report.c), and start-up (bdevperf.c).
 *
 * Threading: the options and the job list are set up on the application
 * thread before any job starts and are read-only afterwards. A job (struct
 * bp_job) runs on its own lightweight thread, and everything in it except
 * the fields marked otherwise is touched only there; when it finishes it
 * sends one message to the application thread, which then reads its
 * results.
 */
#ifndef SPUR_BDEVPERF_H
#define SPUR_BDEVPERF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#include "spur/bdev.h"
#include "spur/thread.h"
#include "spur/util.h"

/* Exit statuses. */
#define BP_EXIT_OK 0
#define BP_EXIT_FAILED 1   /* an I/O error or a verify mismatch */
#define BP_EXIT_USAGE 2

enum bp_workload {
	BP_READ,
	BP_WRITE,
	BP_RANDREAD,
	BP_RANDWRITE,
	BP_RW,
	BP_RANDRW,
	BP_VERIFY,
	BP_UNMAP,
	BP_FLUSH,
	BP_WRITE_ZEROES,
	BP_RESET,          /* verify, plus a reset every 100 ms */
};

#define BP_MAX_BDEVS 64

struct bp_opts {
	const char *config_file;
	const char *bdevs[BP_MAX_BDEVS];
	uint32_t num_bdevs;
	uint32_t queue_depth;
	uint64_t io_size;            /* bytes */
	enum bp_workload workload;
	const char *workload_name;
	uint32_t read_percent;       /* rw / randrw */
	uint64_t seconds;
	struct spur_cpuset cpumask;
	bool has_cpumask;
	int poll_mode;               /* enum spur_poll_mode, or -1: the app's default */
	uint64_t seed;
	bool once;
	bool has_pattern;
	uint64_t pattern_seed;
	bool flush_at_end;
};

/*
 * Parse argv into opts. Returns 0, 1 when --help was printed (exit 0), or
 * BP_EXIT_USAGE after printing what is wrong to stderr.
 */
int bp_parse_args(int argc, char **argv, struct bp_opts *opts);
void bp_usage(FILE *out);
/* Does the workload write / read / which type does each request have. */
bool bp_workload_writes(enum bp_workload w);
/* verify and reset: write, read back, compare. */
bool bp_workload_verifies(enum bp_workload w);
bool bp_workload_random(enum bp_workload w);
const char *bp_workload_io_name(enum bp_workload w);

/* ---- latency histogram (bdevperf_report.c) ------------------------------- */

/*
 * Log-linear buckets over ticks: values below 2^BP_HIST_SUB_BITS exactly,
 * then 2^(BP_HIST_SUB_BITS-1) buckets per power of two (relative error
 * below 1/32). Fixed array: recording never allocates.
 */
#define BP_HIST_SUB_BITS 6
#define BP_HIST_BUCKETS ((1u << BP_HIST_SUB_BITS) + (64u - BP_HIST_SUB_BITS) * \
			 (1u << (BP_HIST_SUB_BITS - 1)))

struct bp_hist {
	uint64_t count;
	uint64_t sum;
	uint64_t max;
	uint64_t buckets[BP_HIST_BUCKETS];
};

void bp_hist_record(struct bp_hist *h, uint64_t ticks);
void bp_hist_merge(struct bp_hist *dst, const struct bp_hist *src);
/* The value (ticks) at quantile q in [0, 1]; 0 for an empty histogram. */
uint64_t bp_hist_quantile(const struct bp_hist *h, double q);

/* ---- jobs (bdevperf_job.c) --------------------------------------------------- */

struct bp_job;

enum bp_task_step {
	BP_STEP_IDLE,
	BP_STEP_IO,        /* the workload's request */
	BP_STEP_VERIFY_READ, /* verify: reading back what the write put there */
};

struct bp_task {
	struct bp_job *job;
	enum bp_task_step step;
	enum spur_bdev_io_type type;
	uint64_t offset_blocks;
	uint64_t num_blocks;
	uint64_t generation;         /* verify: of the write */
	uint64_t submit_ticks;
	void *buf;                   /* io_size bytes, 4 KiB aligned */
	void *rbuf;                  /* verify: the read-back buffer */
	struct spur_bdev_io_wait_entry wait;
};

enum bp_job_state {
	BP_JOB_RUNNING,    /* submitting */
	BP_JOB_DRAINING,   /* time is up (or --once covered the range): no new I/O */
	BP_JOB_FLUSHING,   /* --once / --flush-at-end: the final flush */
	BP_JOB_DONE,       /* results final; the app thread was told */
};

struct bp_job {
	/* Set on the app thread before the job starts. */
	const struct bp_opts *opts;
	struct spur_bdev_desc *desc;
	struct spur_bdev *bdev;
	const char *bdev_name;
	uint32_t core;
	uint32_t index;              /* for messages and seeds */
	uint32_t block_size;
	uint64_t range_start;        /* blocks: this job's part of the bdev */
	uint64_t range_blocks;
	uint64_t io_blocks;
	struct spur_thread *thread;
	void (*done_cb)(struct bp_job *job);  /* on the app thread */

	/* The job's thread. */
	enum bp_job_state state;
	struct spur_io_channel *ch;
	struct spur_poller *timer;
	struct bp_task *tasks;
	void *bufs;
	uint32_t inflight;
	uint64_t next_offset;        /* sequential workloads: next block */
	uint64_t rng;
	uint64_t generation;
	uint64_t start_ticks;
	uint64_t end_ticks;
	struct bp_task flush_task;
	struct spur_poller *reset_timer;
	bool reset_inflight;
	uint64_t resets;

	/* Results (read by the app thread after done_cb). */
	uint64_t ios;
	uint64_t bytes;
	uint64_t errors;
	uint64_t mismatches;
	bool failed;                 /* setup failed: see the log */
	struct bp_hist hist;

	/* Any thread. */
	atomic_bool stop;            /* hot-remove or another job's mismatch */
};

/* Allocate the job's buffers and tasks (app thread). 0 or -ENOMEM. */
int bp_job_init(struct bp_job *job);
/* Start the job on its thread (message; app thread). */
int bp_job_start(struct bp_job *job);
void bp_job_free(struct bp_job *job);
/* Ask every job to stop early (any thread). */
void bp_jobs_abort(void);
void bp_jobs_set(struct bp_job *jobs, uint32_t count);

/* ---- patterns (bdevperf_pattern.c) ------------------------------------------- */

/* --pattern SEED: word at byte offset o holds (SEED << 48) ^ (o / 8). */
void bp_pattern_fill(void *buf, uint64_t byte_offset, size_t len, uint64_t seed);
/* verify: the word at byte offset o of the write with generation gen. */
void bp_verify_fill(void *buf, uint64_t byte_offset, size_t len, uint64_t gen);
/*
 * Compare a read-back buffer with what the write with generation gen put
 * there. Returns true when equal; else prints the first differing word's
 * bdev byte offset, expected and found values to stderr.
 */
bool bp_verify_check(const char *bdev_name, const void *buf, uint64_t byte_offset, size_t len,
		     uint64_t gen);

/* ---- report (bdevperf_report.c) ------------------------------------------------ */

/* Print one "Job:" line per job and the "Total:" line (app thread). */
void bp_report(const struct bp_job *jobs, uint32_t count, uint64_t io_size);

#endif
