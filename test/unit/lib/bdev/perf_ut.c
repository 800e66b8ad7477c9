/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fast path's cost: a null module that completes inside submit_request,
 * 4 KiB reads at queue depth 128 on one thread, every callback freeing its
 * request and submitting the next; the thread is polled by hand (deferred
 * completions drained by the management poller). Prints CPU ns per request
 * (thread CPU time: layer + poll loop + callback). A benchmark, not a
 * test: bench/bdev.sh runs it and docs/performance.md records it. Also measured: a
 * module completing from its own poller (callbacks called directly, no
 * deferral) and a QoS bdev whose limit is never reached.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ut_common.h"

#define QD 128
#define OPS (4u * 1000 * 1000)

static int g_null_dev;

static size_t
null_ctx_size(void)
{
	return 16;
}

static const struct spur_bdev_module g_null_module = {
	.name = "ut_null",
	.get_ctx_size = null_ctx_size,
};

/* Completion later: requests wait here until the module's poller runs. */
static struct spur_bdev_io *g_later[QD];
static int g_num_later;
static bool g_complete_later;

static int
null_destruct(void *ctx)
{
	return 0;
}

static void
null_submit(struct spur_io_channel *ch, struct spur_bdev_io *io)
{
	if (g_complete_later) {
		g_later[g_num_later++] = io;
		return;
	}
	spur_bdev_io_complete(io, 0);
}

static bool
null_supported(void *ctx, enum spur_bdev_io_type type)
{
	return true;
}

static int
null_ch_create(void *dev, void *ctx)
{
	return 0;
}

static struct spur_io_channel *
null_get_io_channel(void *ctx)
{
	return spur_get_io_channel(&g_null_dev);
}

static const struct spur_bdev_fn_table g_null_fn = {
	.destruct = null_destruct,
	.submit_request = null_submit,
	.io_type_supported = null_supported,
	.get_io_channel = null_get_io_channel,
};

static int
null_poll(void *ctx)
{
	int n = g_num_later;

	g_num_later = 0;
	for (int i = 0; i < n; i++) {
		spur_bdev_io_complete(g_later[i], 0);
	}
	return n > 0;
}

struct perf {
	struct spur_bdev_desc *desc;
	struct spur_io_channel *ch;
	uint64_t done;
	uint64_t submitted;
	char *buf;
};

static void
perf_cb(struct spur_bdev_io *io, int status, void *arg)
{
	struct perf *p = arg;

	spur_bdev_free_io(io);
	p->done++;
	if (p->submitted < OPS) {
		p->submitted++;
		if (spur_bdev_read_blocks(p->desc, p->ch, p->buf, (p->submitted & 1023) * 8, 8,
					  perf_cb, p) != 0) {
			abort();
		}
	}
}

static double
now_ns(void)
{
	struct timespec ts;

	/* CPU time of this thread: other processes on the host do not count. */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double
run(struct perf *p)
{
	double t0;

	p->done = 0;
	p->submitted = 0;
	t0 = now_ns();
	for (int i = 0; i < QD; i++) {
		p->submitted++;
		assert_int_equal(spur_bdev_read_blocks(p->desc, p->ch, p->buf, i * 8, 8, perf_cb, p), 0);
	}
	while (p->done < OPS) {
		spur_thread_poll(ut_threads[0], 0, ut_now);
	}
	return (now_ns() - t0) / OPS;
}

static void
test_fast_path(void **state)
{
	struct spur_bdev bdev = {
		.name = "ut_null0",
		.product_name = "null",
		.blocklen = 512,
		.blockcnt = 1u << 30,
		.fn_table = &g_null_fn,
		.module = &g_null_module,
	};
	struct spur_bdev_qos_limits l = {.rw_ios_per_sec = 1000u * 1000 * 1000};
	struct spur_poller *poller;
	struct perf p = {0};
	double ns;

	spur_bdev_module_register(&g_null_module);
	ut_setup(1);
	ut_subsystem_start();
	spur_io_device_register(&g_null_dev, null_ch_create, NULL, 8, "ut_null");
	assert_int_equal(spur_bdev_register(&bdev), 0);
	assert_int_equal(spur_bdev_open("ut_null0", false, ut_event_cb, NULL, &p.desc), 0);
	p.ch = spur_bdev_get_io_channel(p.desc);
	p.buf = aligned_alloc(4096, 4096);

	run(&p); /* warm the caches and the pool */
	ns = run(&p);
	print_message("fast path, completion inside submit (deferred): %.1f ns/IO, %.2f M IO/s\n",
		      ns, 1e3 / ns);

	g_complete_later = true;
	poller = spur_poller_register(null_poll, NULL, 0, "ut_null");
	ns = run(&p);
	print_message("fast path, completion from the module's poller:  %.1f ns/IO, %.2f M IO/s\n",
		      ns, 1e3 / ns);
	g_complete_later = false;
	spur_poller_unregister(&poller);

	bdev_qos_clock = NULL;
	assert_int_equal(spur_bdev_set_qos_limits(&bdev, &l, NULL, NULL), 0);
	ut_poll();
	ns = run(&p);
	print_message("QoS bdev under its limit:                        %.1f ns/IO, %.2f M IO/s\n",
		      ns, 1e3 / ns);

	free(p.buf);
	spur_put_io_channel(p.ch);
	spur_bdev_close(p.desc);
	ut_poll();
	ut_subsystem_stop();
	spur_io_device_unregister(&g_null_dev, NULL);
	ut_teardown();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fast_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
