/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The harness of lib/bdev's unit tests (see ut_common.h): the fake module and
 * hand-driven threads with a fake clock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ut_common.h"

/* Declared by thread.h; lib/thread may not implement it yet. */
#pragma weak spur_set_app_thread

struct ut_fake_state ut_fake;
struct spur_thread *ut_threads[UT_MAX_THREADS];
uint64_t ut_now;
static int g_nthreads;
static int g_fake_io_dev;
static bool g_registered_module;

static uint64_t
ut_clock(void)
{
	return ut_now;
}

/* ---- fake module ------------------------------------------------------------- */

static size_t
fake_ctx_size(void)
{
	return UT_CTX_SIZE;
}

static int
fake_module_init(void)
{
	ut_fake.module_inits++;
	return 0;
}

static void
fake_module_fini(void (*done)(void))
{
	ut_fake.module_finis++;
	done();
}

const struct spur_bdev_module ut_fake_module = {
	.name = "ut_fake",
	.module_init = fake_module_init,
	.module_fini = fake_module_fini,
	.get_ctx_size = fake_ctx_size,
};

static int
fake_destruct(void *ctx)
{
	struct ut_fake_bdev *fb = ctx;

	fb->destructs++;
	if (ut_fake.num_destructs < 16) {
		ut_fake.destruct_order[ut_fake.num_destructs++] = fb->name[strlen(fb->name) - 1];
	}
	if (fb->base_desc != NULL) {
		spur_bdev_module_release_bdev(&fb->base->bdev);
		spur_bdev_close(fb->base_desc);
		fb->base_desc = NULL;
	}
	return fb->async_destruct ? 1 : 0;
}

static void
transfer(struct ut_rec *r)
{
	struct ut_fake_bdev *fb = r->bdev->ctxt;
	uint64_t len = r->num * r->bdev->blocklen, off = 0;
	uint8_t *base = fb->data + r->offset * r->bdev->blocklen;

	if (fb->data == NULL || r->offset + r->num > fb->bdev.blockcnt) {
		return; /* no backing store (large fake bdevs) */
	}
	if (r->type != SPUR_BDEV_IO_READ && r->type != SPUR_BDEV_IO_WRITE) {
		if (r->type == SPUR_BDEV_IO_UNMAP || r->type == SPUR_BDEV_IO_WRITE_ZEROES) {
			memset(base, 0, len);
		}
		return;
	}
	for (int i = 0; i < r->iovcnt && off < len; i++) {
		size_t n = r->iovs[i].iov_len < len - off ? r->iovs[i].iov_len : len - off;

		if (r->type == SPUR_BDEV_IO_READ) {
			memcpy(r->iovs[i].iov_base, base + off, n);
		} else {
			memcpy(base + off, r->iovs[i].iov_base, n);
		}
		off += n;
	}
}

static void
fake_submit(struct spur_io_channel *ch, struct spur_bdev_io *io)
{
	struct ut_rec *r;

	assert_non_null(ch);
	assert_true(ut_fake.num_recs < UT_MAX_RECS);
	/* The whole driver context is ours. */
	memset(io->driver_ctx, 0x5a, UT_CTX_SIZE);
	r = &ut_fake.recs[ut_fake.num_recs++];
	memset(r, 0, sizeof(*r));
	r->io = io;
	r->bdev = io->bdev;
	r->type = io->type;
	r->offset = io->offset_blocks;
	r->num = io->num_blocks;
	r->iovcnt = io->iovcnt;
	r->thread = spur_get_thread();
	assert_true(io->iovcnt <= UT_REC_IOVS);
	for (int i = 0; i < io->iovcnt; i++) {
		r->iovs[i] = io->iovs[i];
	}
	if (io->bdev->required_alignment > 1) {
		uint32_t align = io->bdev->required_alignment;
		uint32_t unit = align < io->bdev->blocklen ? align : io->bdev->blocklen;

		for (int i = 0; i < io->iovcnt; i++) {
			assert_int_equal((uintptr_t)io->iovs[i].iov_base % align, 0);
			assert_int_equal(io->iovs[i].iov_len % unit, 0);
		}
	}
	if (ut_fake.inline_status <= 0) {
		ut_complete_rec(ut_fake.num_recs - 1, ut_fake.inline_status);
		/* The layer lets a module touch the request after completing it. */
		memset(io->driver_ctx, 0xa5, UT_CTX_SIZE);
	}
}

static bool
fake_io_type_supported(void *ctx, enum spur_bdev_io_type type)
{
	struct ut_fake_bdev *fb = ctx;

	return (fb->io_mask & (1u << type)) != 0;
}

static int
fake_ch_create(void *io_device, void *ctx)
{
	ut_fake.channel_creates++;
	return 0;
}

static void
fake_ch_destroy(void *io_device, void *ctx)
{
}

static struct spur_io_channel *
fake_get_io_channel(void *ctx)
{
	return spur_get_io_channel(&g_fake_io_dev);
}

static void
fake_dump_info(void *ctx, json_t *driver_specific)
{
	json_object_set_new(driver_specific, "ut_fake", json_true());
}

static void
fake_write_config(struct spur_bdev *bdev, json_t *config)
{
	json_t *params = json_pack("{s:s}", "name", bdev->name);

	spur_bdev_config_add(config, "ut_fake_create", params);
	json_decref(params);
}

static const struct spur_bdev_fn_table g_fake_fn_table = {
	.destruct = fake_destruct,
	.submit_request = fake_submit,
	.io_type_supported = fake_io_type_supported,
	.get_io_channel = fake_get_io_channel,
	.dump_info_json = fake_dump_info,
	.write_config_json = fake_write_config,
};

struct ut_fake_bdev *
ut_fake_create(const char *name, uint32_t blocklen, uint64_t blockcnt)
{
	struct ut_fake_bdev *fb = calloc(1, sizeof(*fb));

	assert_non_null(fb);
	snprintf(fb->name, sizeof(fb->name), "%s", name);
	fb->bdev.name = fb->name;
	fb->bdev.product_name = "ut fake disk";
	fb->bdev.blocklen = blocklen;
	fb->bdev.blockcnt = blockcnt;
	fb->bdev.ctxt = fb;
	fb->bdev.fn_table = &g_fake_fn_table;
	fb->bdev.module = &ut_fake_module;
	fb->io_mask = 0xffu & ~(1u << SPUR_BDEV_IO_WRITE_ZEROES);
	if ((uint64_t)blocklen * blockcnt <= 64u << 20) {
		fb->data = calloc(blockcnt, blocklen);
		assert_non_null(fb->data);
	}
	return fb;
}

int
ut_fake_register(struct ut_fake_bdev *fb)
{
	return spur_bdev_register(&fb->bdev);
}

void
ut_fake_free(struct ut_fake_bdev *fb)
{
	free(fb->data);
	free(fb);
}

void
ut_complete_rec(int rec, int status)
{
	struct ut_rec *r = &ut_fake.recs[rec];

	assert_false(r->done);
	r->done = true;
	if (status == 0) {
		transfer(r);
	}
	spur_bdev_io_complete(r->io, status);
}

void
ut_complete_one(int status)
{
	while (ut_fake.next_pending < ut_fake.num_recs && ut_fake.recs[ut_fake.next_pending].done) {
		ut_fake.next_pending++;
	}
	assert_true(ut_fake.next_pending < ut_fake.num_recs);
	ut_complete_rec(ut_fake.next_pending++, status);
}

int
ut_pending(void)
{
	int n = 0;

	for (int i = 0; i < ut_fake.num_recs; i++) {
		n += !ut_fake.recs[i].done;
	}
	return n;
}

void
ut_reset_recs(void)
{
	assert_int_equal(ut_pending(), 0);
	ut_fake.num_recs = 0;
	ut_fake.next_pending = 0;
}

/* ---- callbacks ------------------------------------------------------------------ */

void
ut_cpl_cb(struct spur_bdev_io *io, int status, void *cb_arg)
{
	struct ut_cpl *c = cb_arg;

	c->count++;
	c->status = status;
	c->thread = spur_get_thread();
	c->io = io;
	if (c->free_io) {
		spur_bdev_free_io(io);
	}
}

void
ut_event_cb(enum spur_bdev_event event, struct spur_bdev *bdev, void *ctx)
{
	struct ut_events *e = ctx;

	if (e == NULL) {
		return;
	}
	if (event == SPUR_BDEV_EVENT_REMOVE) {
		e->remove++;
	} else {
		e->resize++;
	}
	e->thread = spur_get_thread();
}

/* ---- threads ------------------------------------------------------------------- */

int
ut_poll(void)
{
	int total = 0, n, rounds = 0;

	do {
		n = 0;
		for (int i = 0; i < g_nthreads; i++) {
			n += spur_thread_poll(ut_threads[i], 0, ut_now);
		}
		total += n;
		assert_true(++rounds < 100000);
	} while (n > 0);
	spur_set_thread(ut_threads[0]);
	return total;
}

void
ut_advance_us(uint64_t us)
{
	ut_now += spur_us_to_ticks(us);
	ut_poll();
}

void
ut_set_thread(int i)
{
	spur_set_thread(ut_threads[i]);
}

void
ut_setup(int nthreads)
{
	char name[16];

	memset(&ut_fake, 0, sizeof(ut_fake));
	ut_fake.inline_status = UT_NO_INLINE;
	ut_now = 1000000;
	bdev_qos_clock = ut_clock;
	g_nthreads = nthreads;
	for (int i = 0; i < nthreads; i++) {
		snprintf(name, sizeof(name), "ut%d", i);
		ut_threads[i] = spur_thread_create(name, NULL);
		assert_non_null(ut_threads[i]);
	}
	spur_set_thread(ut_threads[0]);
	if (spur_set_app_thread != NULL) {
		spur_set_app_thread(ut_threads[0]);
	}
	spur_io_device_register(&g_fake_io_dev, fake_ch_create, fake_ch_destroy, 8, "ut_fake");
	if (!g_registered_module) {
		spur_bdev_module_register(&ut_fake_module);
		g_registered_module = true;
	}
}

static void
subsystem_done(int status)
{
	assert_int_equal(status, 0);
}

void
ut_subsystem_start(void)
{
	spur_bdev_subsystem.init(subsystem_done);
	ut_poll();
	assert_true(g_bdev_mgr.started);
}

static bool g_stopped;

static void
subsystem_stopped(int status)
{
	assert_int_equal(status, 0);
	g_stopped = true;
}

void
ut_subsystem_stop(void)
{
	g_stopped = false;
	spur_bdev_subsystem.fini(subsystem_stopped);
	for (int i = 0; i < 1000 && !g_stopped; i++) {
		ut_advance_us(10000);
	}
	assert_true(g_stopped);
	assert_false(g_bdev_mgr.started);
}

static void
exit_msg(void *ctx)
{
	spur_thread_exit(ctx);
}

void
ut_teardown(void)
{
	spur_io_device_unregister(&g_fake_io_dev, NULL);
	for (int i = 0; i < g_nthreads; i++) {
		assert_int_equal(spur_thread_send_msg(ut_threads[i], exit_msg, ut_threads[i]), 0);
	}
	for (int k = 0; k < 100; k++) {
		ut_poll();
	}
	for (int i = 0; i < g_nthreads; i++) {
		assert_true(spur_thread_is_exited(ut_threads[i]));
		spur_thread_destroy(ut_threads[i]);
		ut_threads[i] = NULL;
	}
	if (spur_set_app_thread != NULL) {
		spur_set_app_thread(NULL);
	}
	spur_set_thread(NULL);
	bdev_qos_clock = NULL;
	g_nthreads = 0;
}
