/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The harness of the bdev module unit tests (see ut_mod.h): two hand-polled
 * threads, the real layer with every module of module/bdev this suite owns,
 * RPCs through spur_rpc_call and synchronous I/O helpers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"
#include "module/bdev/delay/bdev_delay.h"
#include "module/bdev/error/bdev_error.h"
#include "module/bdev/malloc/bdev_malloc.h"
#include "module/bdev/null/bdev_null.h"
#include "module/bdev/passthru/bdev_passthru.h"
#include "spur/config.h"
#include "spur/log.h"
#include "spur/rpc.h"
#include "ut_mod.h"

/* Declared by thread.h; lib/thread may not implement it yet. */
#pragma weak spur_set_app_thread

struct spur_thread *ut_app;
struct spur_thread *ut_io;
char ut_rpc_msg[512];
static bool g_modules_registered;
/*
 * Open devices live here, not on the tests' stacks: a failed test leaves
 * them open, and the teardown (and late events) must still find them.
 */
#define UT_MAX_OPEN 16
static struct ut_dev g_devs[UT_MAX_OPEN];
static bool g_dev_used[UT_MAX_OPEN];
static uint32_t g_default_pool_size;

/* ---- threads --------------------------------------------------------------------- */

int
ut_poll_once(void)
{
	struct spur_thread *cur = spur_get_thread();
	int n = spur_thread_poll(ut_app, 0, spur_get_ticks());

	n += spur_thread_poll(ut_io, 0, spur_get_ticks());
	spur_set_thread(cur);
	return n;
}

void
ut_poll(void)
{
	int rounds = 0;

	while (ut_poll_once() > 0)
		assert_true(++rounds < 1000000);
}

bool
ut_poll_until(const bool *flag, uint64_t timeout_us)
{
	uint64_t end = spur_get_ticks() + spur_us_to_ticks(timeout_us);

	while (!*flag && spur_get_ticks() < end)
		ut_poll_once();
	return *flag;
}

void
ut_poll_for(uint64_t us)
{
	uint64_t end = spur_get_ticks() + spur_us_to_ticks(us);

	while (spur_get_ticks() < end)
		ut_poll_once();
}

static bool g_subsystem_done;
static int g_subsystem_status;

static void
subsystem_done(int status)
{
	g_subsystem_status = status;
	g_subsystem_done = true;
}

int
ut_mod_setup(void **state)
{
	(void)state;
	ut_app = spur_thread_create("ut_app", NULL);
	ut_io = spur_thread_create("ut_io", NULL);
	assert_non_null(ut_app);
	assert_non_null(ut_io);
	if (spur_set_app_thread != NULL)
		spur_set_app_thread(ut_app);
	spur_set_thread(ut_app);
	spur_rpc_set_state(SPUR_RPC_RUNTIME);
	if (!g_modules_registered) {
		g_modules_registered = true;
		spur_log_register_component("bdev_malloc");
		spur_log_register_component("bdev_null");
		spur_log_register_component("bdev_passthru");
		spur_log_register_component("bdev_delay");
		spur_log_register_component("bdev_error");
		if (getenv("UT_DEBUG") != NULL)
			spur_log_set_flag("all");
		spur_bdev_module_register(&spur_bdev_malloc_module);
		spur_bdev_module_register(&spur_bdev_null_module);
		spur_bdev_module_register(&spur_bdev_passthru_module);
		spur_bdev_module_register(&spur_bdev_delay_module);
		spur_bdev_module_register(&spur_bdev_error_module);
	}
	g_subsystem_done = false;
	spur_bdev_subsystem.init(subsystem_done);
	assert_true(ut_poll_until(&g_subsystem_done, 1000000));
	assert_int_equal(g_subsystem_status, 0);
	return 0;
}

static void
exit_msg(void *ctx)
{
	spur_thread_exit(ctx);
}

int
ut_mod_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < UT_MAX_OPEN; i++) {
		if (g_dev_used[i])
			ut_close(&g_devs[i]);
	}
	spur_set_thread(ut_app);
	g_subsystem_done = false;
	spur_bdev_subsystem.fini(subsystem_done);
	assert_true(ut_poll_until(&g_subsystem_done, 5000000));
	assert_int_equal(spur_thread_send_msg(ut_app, exit_msg, ut_app), 0);
	assert_int_equal(spur_thread_send_msg(ut_io, exit_msg, ut_io), 0);
	for (int i = 0; i < 100; i++)
		ut_poll_once();
	assert_true(spur_thread_is_exited(ut_app));
	assert_true(spur_thread_is_exited(ut_io));
	spur_set_thread(NULL);
	if (spur_set_app_thread != NULL)
		spur_set_app_thread(NULL);
	ut_set_io_pool_size(0);
	spur_thread_destroy(ut_app);
	spur_thread_destroy(ut_io);
	ut_app = ut_io = NULL;
	return 0;
}

/* ---- RPC --------------------------------------------------------------------------- */

static void
rpc_done(void *ctx, int code, const char *message, json_t *result)
{
	struct ut_rpc_call *c = ctx;

	c->code = code;
	snprintf(c->msg, sizeof(c->msg), "%s", message != NULL ? message : "");
	c->result = result != NULL ? json_incref(result) : NULL;
	c->done = true;
}

void
ut_rpc_start(struct ut_rpc_call *call, const char *method, json_t *params)
{
	memset(call, 0, sizeof(*call));
	spur_set_thread(ut_app);
	spur_rpc_call(method, params, rpc_done, call);
}

int
ut_rpc(json_t **result, const char *method, const char *fmt, ...)
{
	struct ut_rpc_call call;
	json_t *params = NULL;
	json_error_t jerr;
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		params = json_vpack_ex(&jerr, 0, fmt, ap);
		va_end(ap);
		if (params == NULL)
			fail_msg("json_pack: %s", jerr.text);
	}
	ut_rpc_start(&call, method, params);
	json_decref(params);
	assert_true(ut_poll_until(&call.done, 5000000));
	snprintf(ut_rpc_msg, sizeof(ut_rpc_msg), "%s", call.msg);
	if (result != NULL)
		*result = call.result;
	else
		json_decref(call.result);
	return call.code;
}

/* ---- devices and I/O ------------------------------------------------------------------ */

static void
dev_event(enum spur_bdev_event event, struct spur_bdev *bdev, void *ctx)
{
	struct ut_dev *d = ctx;

	(void)bdev;
	if (event == SPUR_BDEV_EVENT_REMOVE)
		d->removes++;
	else
		d->resizes++;
}

int
ut_open(struct ut_dev **out, const char *name, bool write)
{
	struct ut_dev *d = NULL;
	int rc;

	*out = NULL;
	for (int i = 0; i < UT_MAX_OPEN && d == NULL; i++) {
		if (!g_dev_used[i]) {
			g_dev_used[i] = true;
			d = &g_devs[i];
		}
	}
	assert_non_null(d);
	memset(d, 0, sizeof(*d));
	spur_set_thread(ut_app);
	rc = spur_bdev_open(name, write, dev_event, d, &d->desc);
	if (rc != 0) {
		g_dev_used[d - g_devs] = false;
		return rc;
	}
	spur_set_thread(ut_io);
	d->ch = spur_bdev_get_io_channel(d->desc);
	spur_set_thread(ut_app);
	assert_non_null(d->ch);
	*out = d;
	return 0;
}

void
ut_close(struct ut_dev *d)
{
	spur_set_thread(ut_io);
	spur_put_io_channel(d->ch);
	d->ch = NULL;
	ut_poll();
	spur_set_thread(ut_app);
	spur_bdev_close(d->desc);
	d->desc = NULL;
	g_dev_used[d - g_devs] = false;
	ut_poll();
}

static void
req_done(struct spur_bdev_io *io, int status, void *cb_arg)
{
	struct ut_req *r = cb_arg;

	assert_ptr_equal(spur_get_thread(), ut_io);
	assert_false(r->done);
	r->done_ticks = spur_get_ticks();
	r->status = status;
	r->done = true;
	spur_bdev_free_io(io);
}

int
ut_submit(struct ut_dev *d, struct ut_req *r, enum spur_bdev_io_type type, void *buf,
	  uint64_t offset_blocks, uint64_t num_blocks)
{
	uint32_t bs = spur_bdev_get_block_size(spur_bdev_desc_get_bdev(d->desc));
	int rc;

	memset(r, 0, sizeof(*r));
	r->iov.iov_base = buf;
	r->iov.iov_len = num_blocks * bs;
	r->submit_ticks = spur_get_ticks();
	spur_set_thread(ut_io);
	switch (type) {
	case SPUR_BDEV_IO_READ:
		rc = spur_bdev_readv_blocks(d->desc, d->ch, &r->iov, 1, offset_blocks, num_blocks,
					    req_done, r);
		break;
	case SPUR_BDEV_IO_WRITE:
		rc = spur_bdev_writev_blocks(d->desc, d->ch, &r->iov, 1, offset_blocks,
					     num_blocks, 0, req_done, r);
		break;
	case SPUR_BDEV_IO_UNMAP:
		rc = spur_bdev_unmap_blocks(d->desc, d->ch, offset_blocks, num_blocks, req_done, r);
		break;
	case SPUR_BDEV_IO_WRITE_ZEROES:
		rc = spur_bdev_write_zeroes_blocks(d->desc, d->ch, offset_blocks, num_blocks, 0,
						   req_done, r);
		break;
	case SPUR_BDEV_IO_FLUSH:
		rc = spur_bdev_flush_blocks(d->desc, d->ch, offset_blocks, num_blocks, req_done, r);
		break;
	case SPUR_BDEV_IO_RESET:
		rc = spur_bdev_reset(d->desc, d->ch, req_done, r);
		break;
	default:
		rc = -EINVAL;
		break;
	}
	spur_set_thread(ut_app);
	return rc;
}

int
ut_do(struct ut_dev *d, enum spur_bdev_io_type type, void *buf, uint64_t offset_blocks,
      uint64_t num_blocks)
{
	struct ut_req r;

	assert_int_equal(ut_submit(d, &r, type, buf, offset_blocks, num_blocks), 0);
	assert_true(ut_poll_until(&r.done, 10000000));
	return r.status;
}

uint64_t
ut_req_us(const struct ut_req *r)
{
	return spur_ticks_to_us(r->done_ticks - r->submit_ticks);
}

void
ut_set_io_pool_size(uint32_t n)
{
	if (g_default_pool_size == 0)
		g_default_pool_size = g_bdev_opts.io_pool_size;
	g_bdev_opts.io_pool_size = n != 0 ? n : g_default_pool_size;
}

void
ut_check_base_nomem(const char *name)
{
	uint8_t w[4][512], r[512];
	struct ut_req q[4];
	struct ut_dev *d;

	assert_int_equal(g_bdev_opts.io_pool_size, 7);
	assert_int_equal(ut_open(&d, name, true), 0);
	for (int i = 0; i < 4; i++) {
		memset(w[i], 0x61 + i, sizeof(w[i]));
		assert_int_equal(ut_submit(d, &q[i], SPUR_BDEV_IO_WRITE, w[i], (uint64_t)i, 1), 0);
	}
	/* The pool is empty now: the caller is told so. */
	assert_int_equal(ut_submit(d, &(struct ut_req){0}, SPUR_BDEV_IO_WRITE, w[0], 0, 1),
			 -ENOMEM);
	for (int i = 0; i < 4; i++) {
		assert_true(ut_poll_until(&q[i].done, 1000000));
		assert_int_equal(q[i].status, 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(ut_do(d, SPUR_BDEV_IO_READ, r, (uint64_t)i, 1), 0);
		assert_memory_equal(r, w[i], sizeof(r));
	}
	ut_close(d);
}

json_t *
ut_config_of(const char *name)
{
	struct spur_bdev *bdev = spur_bdev_get_by_name(name);
	json_t *config = json_array();
	json_t *entry;

	assert_non_null(bdev);
	bdev->fn_table->write_config_json(bdev, config);
	assert_int_equal(json_array_size(config), 1);
	entry = json_incref(json_array_get(config, 0));
	json_decref(config);
	return entry;
}
