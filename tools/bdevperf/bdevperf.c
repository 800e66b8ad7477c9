/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spur_bdevperf: measure (or verify) bdevs created by a configuration file,
 * in the daemon's own runtime and with its own modules, without the RPC
 * server. main() parses the options and runs the app framework; once the
 * configuration is applied, bp_start() (app thread) opens the bdevs, makes
 * one job per (bdev, core) on a lightweight thread placed on that core, and
 * starts them. Each finished job reports back to the app thread; after the
 * last one the results are printed, the descriptors closed and the app
 * stopped with the exit status (0, 1 on any I/O error or verify mismatch,
 * 2 on usage errors found once the bdevs are known).
 *
 * Jobs on one bdev split its blocks evenly, so writers never overlap and
 * --once covers the whole bdev exactly once.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/spur/modules.h"
#include "bdevperf.h"
#include "spur/app.h"
#include "spur/log.h"

struct bp_bdev {
	const char *name;
	struct spur_bdev *bdev;
	struct spur_bdev_desc *desc;
};

static struct {
	struct bp_opts opts;
	struct bp_bdev bdevs[BP_MAX_BDEVS];
	uint32_t num_bdevs;
	struct bp_job *jobs;
	uint32_t num_jobs;
	uint32_t jobs_done;
} g_bp;

static void
bp_event_cb(enum spur_bdev_event event, struct spur_bdev *bdev, void *ctx)
{
	struct bp_bdev *b = ctx;

	if (event == SPUR_BDEV_EVENT_REMOVE) {
		fprintf(stderr, "spur_bdevperf: %s is being removed; stopping its jobs\n", b->name);
		for (uint32_t i = 0; i < g_bp.num_jobs; i++) {
			if (g_bp.jobs[i].bdev == bdev)
				atomic_store(&g_bp.jobs[i].stop, true);
		}
	}
}

static void
bp_close_all(void)
{
	for (uint32_t i = 0; i < g_bp.num_bdevs; i++) {
		if (g_bp.bdevs[i].desc != NULL)
			spur_bdev_close(g_bp.bdevs[i].desc);
		g_bp.bdevs[i].desc = NULL;
	}
}

static void
bp_end(int status)
{
	for (uint32_t i = 0; i < g_bp.num_jobs; i++)
		bp_job_free(&g_bp.jobs[i]);
	bp_close_all();
	free(g_bp.jobs);
	g_bp.jobs = NULL;
	bp_jobs_set(NULL, 0);
	spur_app_stop(status);
}

static void
bp_job_done(struct bp_job *job)
{
	int status = BP_EXIT_OK;

	(void)job;
	if (++g_bp.jobs_done < g_bp.num_jobs)
		return;
	bp_report(g_bp.jobs, g_bp.num_jobs, g_bp.opts.io_size);
	for (uint32_t i = 0; i < g_bp.num_jobs; i++) {
		if (g_bp.jobs[i].errors || g_bp.jobs[i].mismatches || g_bp.jobs[i].failed)
			status = BP_EXIT_FAILED;
	}
	bp_end(status);
}

/* Open one bdev for the workload; -EPERM when it is claimed. */
static int
bp_open(struct bp_bdev *b, bool write)
{
	int rc = spur_bdev_open(b->name, write, bp_event_cb, b, &b->desc);

	if (rc == 0)
		b->bdev = spur_bdev_desc_get_bdev(b->desc);
	return rc;
}

/* The bdevs named with -b, or every bdev that is not claimed. */
static int
bp_open_bdevs(void)
{
	const struct bp_opts *o = &g_bp.opts;
	bool write = bp_workload_writes(o->workload);
	struct spur_bdev *bdev;
	struct bp_bdev *b;
	int rc;

	for (uint32_t i = 0; i < o->num_bdevs; i++) {
		b = &g_bp.bdevs[g_bp.num_bdevs];
		b->name = o->bdevs[i];
		rc = bp_open(b, write);
		if (rc != 0) {
			fprintf(stderr, "spur_bdevperf: cannot open bdev %s%s: %s\n", b->name,
				write ? " for writing" : "",
				rc == -EPERM ? "claimed by a module" : strerror(-rc));
			return BP_EXIT_USAGE;
		}
		g_bp.num_bdevs++;
	}
	if (o->num_bdevs > 0)
		return 0;
	for (bdev = spur_bdev_first(); bdev != NULL; bdev = spur_bdev_next(bdev)) {
		if (g_bp.num_bdevs == BP_MAX_BDEVS)
			break;
		b = &g_bp.bdevs[g_bp.num_bdevs];
		b->name = spur_bdev_get_name(bdev);
		/* A read-write open fails only on a claimed bdev: that is the test. */
		rc = bp_open(b, true);
		if (rc == -EPERM)
			continue;
		if (rc == 0 && !write) {
			spur_bdev_close(b->desc);
			rc = bp_open(b, false);
		}
		if (rc != 0) {
			fprintf(stderr, "spur_bdevperf: cannot open bdev %s: %s\n", b->name,
				strerror(-rc));
			return BP_EXIT_FAILED;
		}
		g_bp.num_bdevs++;
	}
	if (g_bp.num_bdevs == 0) {
		fprintf(stderr, "spur_bdevperf: no unclaimed bdev to test (does -c create any?)\n");
		return BP_EXIT_USAGE;
	}
	return 0;
}

static enum spur_bdev_io_type
bp_needed_type(enum bp_workload w)
{
	const char *name = bp_workload_io_name(w);

	for (int t = 0; t < SPUR_BDEV_IO_NUM_TYPES; t++) {
		if (strcmp(spur_bdev_io_type_name((enum spur_bdev_io_type)t), name) == 0)
			return (enum spur_bdev_io_type)t;
	}
	return SPUR_BDEV_IO_READ;
}

/* Make the jobs: every bdev on every core, each bdev's blocks split evenly. */
static int
bp_make_jobs(void)
{
	const struct bp_opts *o = &g_bp.opts;
	const struct spur_cpuset *cores = spur_env_get_cpumask();
	uint32_t ncores = spur_cpuset_count(cores), core, n = 0, k;
	struct spur_cpuset one;
	char name[64];

	g_bp.jobs = calloc((size_t)g_bp.num_bdevs * ncores, sizeof(*g_bp.jobs));
	if (g_bp.jobs == NULL)
		return BP_EXIT_FAILED;
	for (uint32_t i = 0; i < g_bp.num_bdevs; i++) {
		struct bp_bdev *b = &g_bp.bdevs[i];
		uint32_t bs = spur_bdev_get_block_size(b->bdev);
		uint64_t blocks = spur_bdev_get_num_blocks(b->bdev);

		if (o->io_size % bs != 0) {
			fprintf(stderr, "spur_bdevperf: -o %" PRIu64 " is not a multiple of the "
				"block size %u of %s\n", o->io_size, bs, b->name);
			return BP_EXIT_USAGE;
		}
		if (!spur_bdev_io_type_supported(b->bdev, bp_needed_type(o->workload)) ||
		    ((o->workload == BP_RW || o->workload == BP_RANDRW) && o->read_percent < 100 &&
		     !spur_bdev_io_type_supported(b->bdev, SPUR_BDEV_IO_WRITE))) {
			fprintf(stderr, "spur_bdevperf: %s does not support %s\n", b->name,
				bp_workload_io_name(o->workload));
			return BP_EXIT_USAGE;
		}
		k = 0;
		SPUR_CPUSET_FOREACH(core, cores) {
			struct bp_job *job = &g_bp.jobs[n];
			uint64_t io_blocks = o->io_size / bs;
			/* Split on request boundaries except for the last job. */
			uint64_t start = blocks * k / ncores / io_blocks * io_blocks;
			uint64_t end = k + 1 == ncores ? blocks :
					blocks * (k + 1) / ncores / io_blocks * io_blocks;

			job->opts = o;
			job->desc = b->desc;
			job->bdev = b->bdev;
			job->bdev_name = b->name;
			job->core = core;
			job->index = n;
			job->block_size = bs;
			job->range_start = start;
			job->range_blocks = end - start;
			job->done_cb = bp_job_done;
			g_bp.num_jobs = ++n;
			if (bp_job_init(job) != 0)
				return BP_EXIT_USAGE;
			spur_cpuset_zero(&one);
			spur_cpuset_set(&one, core);
			spur_strfmt(name, sizeof(name), "bdevperf_%s_%u", b->name, core);
			job->thread = spur_thread_create(name, &one);
			if (job->thread == NULL) {
				fprintf(stderr, "spur_bdevperf: cannot create a thread on core %u\n",
					core);
				return BP_EXIT_FAILED;
			}
			k++;
		}
	}
	return 0;
}

static void
bp_start(void *ctx)
{
	const struct bp_opts *o = &g_bp.opts;
	int rc;

	(void)ctx;
	rc = bp_open_bdevs();
	if (rc == 0)
		rc = bp_make_jobs();
	if (rc != 0) {
		/* Threads already made have no work and exit with the app. */
		bp_end(rc);
		return;
	}
	printf("spur_bdevperf: %s, queue depth %u, %" PRIu64 " bytes per request, %u job(s)",
	       o->workload_name, o->queue_depth, o->io_size, g_bp.num_jobs);
	if (o->once)
		printf(", each block once\n");
	else
		printf(", %" PRIu64 " s\n", o->seconds);
	fflush(stdout);
	bp_jobs_set(g_bp.jobs, g_bp.num_jobs);
	for (uint32_t i = 0; i < g_bp.num_jobs; i++) {
		if (bp_job_start(&g_bp.jobs[i]) != 0) {
			fprintf(stderr, "spur_bdevperf: cannot start job %u\n", i);
			bp_jobs_abort();
			g_bp.jobs[i].failed = true;
			bp_job_done(&g_bp.jobs[i]);
		}
	}
}

int
main(int argc, char **argv)
{
	struct spur_app_opts app;
	int rc;

	rc = bp_parse_args(argc, argv, &g_bp.opts);
	if (rc != 0)
		return rc == 1 ? 0 : rc;
	spur_app_opts_init(&app, sizeof(app));
	app.name = "spur_bdevperf";
	app.config_file = g_bp.opts.config_file;
	if (g_bp.opts.has_cpumask)
		app.cpumask = g_bp.opts.cpumask;
	if (g_bp.opts.poll_mode >= 0)
		app.poll_mode = (enum spur_poll_mode)g_bp.opts.poll_mode;
	app.no_rpc_server = true;
	app.on_running = bp_start;
	spur_register_everything();
	rc = spur_app_run(&app);
	spur_log_close();
	return rc;
}
