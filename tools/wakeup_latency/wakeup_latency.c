/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spur_wakeup_latency: how long an idle reactor takes to notice an fd event.
 *
 * Starts the environment on core 0 in the chosen poll mode and registers a
 * poller on the application thread that owns an eventfd (added with
 * spur_poller_add_fd). A writer pthread, pinned to core 1 when it exists,
 * writes the eventfd N times, pausing between writes so the reactor goes
 * idle (and, in interrupt mode, to sleep); it records the tick of each
 * write, the poller the tick it saw the event, and the difference is the
 * wake-up latency. Results are printed as "key: value" lines.
 *
 * Threads: the poller and its array of samples belong to the application
 * thread; the writer only publishes the write tick (atomic) and waits for
 * the sample count (atomic) to move before the next write.
 *
 * Mode "raw" is the peer every figure is compared with: no spur at all, a
 * plain pthread on core 0 blocked in read(2) on the same eventfd, i.e. the
 * kernel's own wake-up cost on this machine.
 *
 * usage: spur_wakeup_latency [busy|adaptive|interrupt|raw] [count] [pause_us]
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "spur/thread.h"

#define DEFAULT_COUNT 10000
#define DEFAULT_PAUSE_US 200
#define WAIT_TIMEOUT_US 1000000

struct bench {
	enum spur_poll_mode mode;
	uint32_t count;
	uint32_t pause_us;
	int evfd;
	struct spur_thread *app;
	struct spur_poller *poller;
	uint64_t *samples;               /* ticks, written by the poller */
	_Atomic uint32_t seen;           /* samples taken */
	_Atomic uint64_t write_tick;     /* tick of the pending write */
	uint32_t lost;                   /* writes the poller never saw in time */
	bool writer_on_core1;             /* core 1 is ours (checked before pinning) */
	bool raw;                         /* baseline: plain blocking reader */
	pthread_t writer;
	int rc;
};

static struct bench g_b;

static int
bench_poll(void *ctx)
{
	struct bench *b = ctx;
	uint64_t v, now;
	uint32_t n;

	if (read(b->evfd, &v, sizeof(v)) != sizeof(v)) {
		return SPUR_POLLER_IDLE;
	}
	now = spur_get_ticks();
	n = atomic_load_explicit(&b->seen, memory_order_relaxed);
	if (n < b->count) {
		b->samples[n] = now - atomic_load(&b->write_tick);
		atomic_store(&b->seen, n + 1);
	}
	return SPUR_POLLER_BUSY;
}

static void
bench_finish(void *ctx)
{
	struct bench *b = ctx;

	spur_poller_unregister(&b->poller);
	spur_env_stop();
}

static void
pause_us(uint32_t us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static void *
bench_writer(void *ctx)
{
	struct bench *b = ctx;
	uint64_t one = 1, deadline;
	uint32_t i;

	pause_us(10000); /* let the reactor settle into its idle state */
	for (i = 0; i < b->count; i++) {
		atomic_store(&b->write_tick, spur_get_ticks());
		if (write(b->evfd, &one, sizeof(one)) != sizeof(one)) {
			b->rc = -errno;
			break;
		}
		deadline = spur_get_ticks() + spur_us_to_ticks(WAIT_TIMEOUT_US);
		while (atomic_load(&b->seen) == i) {
			if (spur_get_ticks() > deadline) {
				b->lost++;
				break;
			}
		}
		if (b->lost > 0) {
			break;
		}
		pause_us(b->pause_us);
	}
	if (b->raw) {
		/* Wake the raw reader one last time so it sees the end. */
		atomic_store(&b->seen, b->count);
		if (write(b->evfd, &one, sizeof(one)) != sizeof(one))
			b->rc = -errno;
		return NULL;
	}
	if (spur_thread_send_msg(b->app, bench_finish, b) != 0) {
		fprintf(stderr, "cannot stop the environment\n");
		abort();
	}
	return NULL;
}

static void
bench_start(void *ctx)
{
	struct bench *b = ctx;
	pthread_attr_t attr;
	cpu_set_t set;
	int rc;

	b->app = spur_get_thread();
	b->poller = spur_poller_register(bench_poll, b, 0, "wakeup_latency");
	rc = b->poller ? spur_poller_add_fd(b->poller, b->evfd, EPOLLIN) : -ENOMEM;
	if (rc != 0) {
		fprintf(stderr, "cannot register the poller: %s\n", strerror(-rc));
		b->rc = rc;
		bench_finish(b);
		return;
	}
	pthread_attr_init(&attr);
	/* Without core 1 the writer inherits the reactor's core 0 (time-shared). */
	if (b->writer_on_core1) {
		CPU_ZERO(&set);
		CPU_SET(1, &set);
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	rc = pthread_create(&b->writer, &attr, bench_writer, b);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		b->rc = -rc;
		bench_finish(b);
	}
}

/* The baseline: a pthread pinned to core 0 blocked in read(2). */
static void *
raw_reader(void *ctx)
{
	struct bench *b = ctx;
	uint64_t v, now;
	uint32_t n;

	for (;;) {
		if (read(b->evfd, &v, sizeof(v)) != sizeof(v))
			continue;
		now = spur_get_ticks();
		n = atomic_load(&b->seen);
		if (n >= b->count)
			return NULL;
		b->samples[n] = now - atomic_load(&b->write_tick);
		atomic_store(&b->seen, n + 1);
	}
}

static int
run_raw(struct bench *b)
{
	pthread_t reader;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (pthread_create(&reader, NULL, raw_reader, b) != 0)
		return -1;
	pthread_setaffinity_np(reader, sizeof(set), &set);
	if (b->writer_on_core1) {
		CPU_ZERO(&set);
		CPU_SET(1, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	bench_writer(b);
	pthread_join(reader, NULL);
	atomic_store(&b->seen, b->count - (b->lost ? 1 : 0));
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
reactor_stats(const struct spur_reactor_info *info, void *ctx)
{
	if (info->core == 0) {
		printf("sleep_count: %" PRIu64 "\n", info->sleep_count);
		printf("wakeup_count: %" PRIu64 "\n", info->wakeup_count);
	}
}

static double
to_us(uint64_t ticks)
{
	return (double)ticks * 1e6 / (double)spur_get_ticks_hz();
}

static int
parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v == 0 || v > UINT32_MAX) {
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

int
main(int argc, char **argv)
{
	struct spur_env_opts opts;
	struct bench *b = &g_b;
	cpu_set_t allowed;
	uint64_t sum = 0;
	uint32_t i, n;
	int mode;

	b->mode = SPUR_POLL_INTERRUPT;
	b->count = DEFAULT_COUNT;
	b->pause_us = DEFAULT_PAUSE_US;
	b->raw = argc > 1 && strcmp(argv[1], "raw") == 0;
	if (argc > 1 && !b->raw) {
		mode = spur_poll_mode_parse(argv[1]);
		if (mode < 0) {
			fprintf(stderr, "usage: %s [busy|adaptive|interrupt|raw] [count] [pause_us]\n",
				argv[0]);
			return 2;
		}
		b->mode = (enum spur_poll_mode)mode;
	}
	if ((argc > 2 && parse_u32(argv[2], &b->count) != 0) ||
	    (argc > 3 && parse_u32(argv[3], &b->pause_us) != 0)) {
		fprintf(stderr, "count and pause_us are positive integers\n");
		return 2;
	}
	b->samples = calloc(b->count, sizeof(*b->samples));
	b->evfd = eventfd(0, b->raw ? EFD_CLOEXEC : EFD_NONBLOCK | EFD_CLOEXEC);
	if (b->samples == NULL || b->evfd < 0) {
		fprintf(stderr, "setup failed: %s\n", strerror(errno));
		return 1;
	}

	/* Ask now: spur_env_run pins this thread (and what it spawns) to core 0. */
	b->writer_on_core1 = sched_getaffinity(0, sizeof(allowed), &allowed) == 0 &&
			     CPU_ISSET(1, &allowed);
	if (b->raw) {
		if (run_raw(b) != 0) {
			fprintf(stderr, "cannot start the raw reader\n");
			return 1;
		}
	} else {
		spur_env_opts_init(&opts, sizeof(opts));
		opts.poll_mode = b->mode;
		if (spur_env_init(&opts) != 0 || spur_env_run(bench_start, b) != 0) {
			fprintf(stderr, "cannot run the environment\n");
			return 1;
		}
		pthread_join(b->writer, NULL);
	}
	n = atomic_load(&b->seen);
	if (b->rc != 0 || b->lost > 0 || n == 0) {
		fprintf(stderr, "benchmark failed: rc %d, %u lost, %u samples\n", b->rc, b->lost, n);
		if (!b->raw)
			spur_env_fini();
		return 1;
	}
	qsort(b->samples, n, sizeof(*b->samples), cmp_u64);
	for (i = 0; i < n; i++) {
		sum += b->samples[i];
	}
	printf("mode: %s\n", b->raw ? "raw" : spur_poll_mode_name(b->mode));
	printf("count: %u\n", n);
	printf("pause_us: %u\n", b->pause_us);
	printf("writer_core: %d\n", b->writer_on_core1 ? 1 : 0);
	printf("min_us: %.2f\n", to_us(b->samples[0]));
	printf("avg_us: %.2f\n", to_us(sum) / n);
	printf("p50_us: %.2f\n", to_us(b->samples[n / 2]));
	printf("p99_us: %.2f\n", to_us(b->samples[(uint64_t)n * 99 / 100]));
	printf("max_us: %.2f\n", to_us(b->samples[n - 1]));
	if (!b->raw) {
		spur_env_for_each_reactor(reactor_stats, NULL);
		spur_env_fini();
	}
	close(b->evfd);
	free(b->samples);
	return 0;
}
