/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the error module through the real bdev layer: failure
 * counts per type and the status classes, pending requests held until
 * cleared / resumed / reset / deleted, corrupt_data on writes and reads,
 * nomem, queue_depth, the parameter checks and the module's bookkeeping
 * (EE_ names, save_config, undo).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "module/bdev/error/bdev_error.h"
#include "spur/rpc.h"
#include "ut_mod.h"

#define BS 512

static void
make_error(void)
{
	json_t *r;

	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "{s:s, s:i, s:i}", "name", "M",
				"num_blocks", 64, "block_size", BS), 0);
	assert_int_equal(ut_rpc(&r, "bdev_error_create", "{s:s}", "base_name", "M"), 0);
	assert_true(json_is_true(r));
	json_decref(r);
	assert_non_null(spur_bdev_get_by_name("EE_M"));
	assert_string_equal(spur_bdev_get_product_name(spur_bdev_get_by_name("EE_M")),
			    "Error disk");
}

static int
inject(const char *io_type, const char *error_type, int num)
{
	return ut_rpc(NULL, "bdev_error_inject_error", "{s:s, s:s, s:s, s:i}", "name", "EE_M",
		      "io_type", io_type, "error_type", error_type, "num", num);
}

static void
test_failure_counts(void **state)
{
	uint8_t w[BS], r[BS], b[BS];
	struct ut_dev *d, *bd;

	(void)state;
	make_error();
	assert_int_equal(ut_open(&d, "EE_M", true), 0);
	assert_int_equal(inject("write", "failure", 2), 0);
	memset(w, 0x77, BS);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_WRITE, w, 1, 1), SPUR_BDEV_ERR_IO);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_READ, r, 1, 1), 0); /* reads untouched */
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_WRITE, w, 1, 1), SPUR_BDEV_ERR_IO);
	/* Failed writes never reached the base. */
	assert_int_equal(ut_open(&bd, "M", false), 0);
	assert_int_equal(ut_do(bd, SPUR_BDEV_IO_READ, b, 1, 1), 0);
	assert_memory_equal(b, (uint8_t[BS]){0}, BS);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_WRITE, w, 1, 1), 0);
	assert_int_equal(ut_do(bd, SPUR_BDEV_IO_READ, b, 1, 1), 0);
	assert_memory_equal(b, w, BS);

	/* Status classes (spur extension). */
	static const struct {
		const char *name;
		int status;
	} st[] = {{"media", SPUR_BDEV_ERR_MEDIA},
		  {"nospace", SPUR_BDEV_ERR_NOSPACE},
		  {"aborted", SPUR_BDEV_ERR_ABORTED},
		  {"io", SPUR_BDEV_ERR_IO}};
	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		assert_int_equal(ut_rpc(NULL, "bdev_error_inject_error", "{s:s, s:s, s:s, s:s}",
					"name", "EE_M", "io_type", "read", "error_type",
					"failure", "status", st[i].name),
				 0);
		assert_int_equal(ut_do(d, SPUR_BDEV_IO_READ, r, 0, 1), st[i].status);
		assert_int_equal(ut_do(d, SPUR_BDEV_IO_READ, r, 0, 1), 0);
	}

	/* "all" covers every type; num 0 removes an injection. */
	assert_int_equal(inject("all", "failure", 5), 0);
	assert_int_equal(inject("read", "failure", 0), 0);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_READ, r, 0, 1), 0);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_UNMAP, NULL, 0, 1), SPUR_BDEV_ERR_IO);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_FLUSH, NULL, 0, 1), SPUR_BDEV_ERR_IO);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_WRITE_ZEROES, NULL, 0, 1), SPUR_BDEV_ERR_IO);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_RESET, NULL, 0, 0), SPUR_BDEV_ERR_IO);
	assert_int_equal(inject("clear", "failure", 1), 0);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_WRITE, w, 0, 1), 0);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_RESET, NULL, 0, 0), 0);
	ut_close(bd);
	ut_close(d);
}

static void
test_pending_clear_and_resume(void **state)
{
	uint8_t w[BS], b[BS];
	struct ut_req q1, q2;
	struct ut_dev *d, *bd;

	(void)state;
	make_error();
	assert_int_equal(ut_open(&d, "EE_M", true), 0);
	assert_int_equal(ut_open(&bd, "M", false), 0);
	memset(w, 0x42, BS);

	/* Held until cleared, then aborted. */
	assert_int_equal(inject("write", "pending", 1), 0);
	assert_int_equal(ut_submit(d, &q1, SPUR_BDEV_IO_WRITE, w, 2, 1), 0);
	ut_poll_for(20000);
	assert_false(q1.done);
	/* Only one was asked for: the next write goes through. */
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_WRITE, w, 3, 1), 0);
	/* Another injection on another type keeps it held. */
	assert_int_equal(inject("read", "failure", 1), 0);
	ut_poll();
	assert_false(q1.done);
	assert_int_equal(inject("clear", "failure", 1), 0);
	ut_poll();
	assert_true(q1.done);
	assert_int_equal(q1.status, SPUR_BDEV_ERR_ABORTED);
	assert_int_equal(ut_do(bd, SPUR_BDEV_IO_READ, b, 2, 1), 0);
	assert_memory_equal(b, (uint8_t[BS]){0}, BS);

	/* Resumed: sent on to the base and completed normally. */
	assert_int_equal(inject("write", "pending", 1), 0);
	assert_int_equal(ut_submit(d, &q2, SPUR_BDEV_IO_WRITE, w, 4, 1), 0);
	ut_poll();
	assert_false(q2.done);
	assert_int_equal(ut_rpc(NULL, "bdev_error_resume_pending", "{s:s}", "name", "EE_M"), 0);
	assert_true(ut_poll_until(&q2.done, 1000000));
	assert_int_equal(q2.status, 0);
	assert_int_equal(ut_do(bd, SPUR_BDEV_IO_READ, b, 4, 1), 0);
	assert_memory_equal(b, w, BS);

	/* Replaced by a non-pending injection of the same type: aborted. */
	assert_int_equal(inject("write", "pending", 1), 0);
	assert_int_equal(ut_submit(d, &q1, SPUR_BDEV_IO_WRITE, w, 5, 1), 0);
	ut_poll();
	assert_false(q1.done);
	assert_int_equal(inject("write", "failure", 0), 0);
	ut_poll();
	assert_true(q1.done);
	assert_int_equal(q1.status, SPUR_BDEV_ERR_ABORTED);

	/* A reset aborts held requests, then reaches the base. */
	assert_int_equal(inject("read", "pending", 1), 0);
	assert_int_equal(ut_submit(d, &q1, SPUR_BDEV_IO_READ, b, 5, 1), 0);
	assert_int_equal(ut_submit(d, &q2, SPUR_BDEV_IO_RESET, NULL, 0, 0), 0);
	assert_true(ut_poll_until(&q2.done, 1000000));
	assert_int_equal(q2.status, 0);
	assert_true(q1.done);
	assert_int_equal(q1.status, SPUR_BDEV_ERR_ABORTED);
	ut_close(bd);
	ut_close(d);
}

static void
test_pending_then_delete(void **state)
{
	struct ut_rpc_call call;
	json_t *params = json_pack("{s:s}", "name", "EE_M");
	uint8_t w[BS] = {1};
	struct ut_req q;
	struct ut_dev *d;

	(void)state;
	make_error();
	assert_int_equal(ut_open(&d, "EE_M", true), 0);
	assert_int_equal(inject("write", "pending", 10), 0);
	assert_int_equal(ut_submit(d, &q, SPUR_BDEV_IO_WRITE, w, 0, 1), 0);
	ut_poll();
	assert_false(q.done);
	/* Delete: the held write is aborted, the opener told to go; reply after close. */
	ut_rpc_start(&call, "bdev_error_delete", params);
	ut_poll();
	assert_true(q.done);
	assert_int_equal(q.status, SPUR_BDEV_ERR_ABORTED);
	assert_int_equal(d->removes, 1);
	assert_false(call.done);
	ut_close(d);
	assert_true(ut_poll_until(&call.done, 1000000));
	assert_int_equal(call.code, 0);
	json_decref(call.result);
	json_decref(params);
	assert_null(spur_bdev_get_by_name("EE_M"));
	/* The base is free again. */
	assert_int_equal(ut_rpc(NULL, "bdev_error_create", "{s:s}", "base_name", "M"), 0);
}

static void
test_corrupt(void **state)
{
	uint8_t w[2 * BS], r[2 * BS], b[2 * BS];
	struct ut_dev *d, *bd;

	(void)state;
	make_error();
	assert_int_equal(ut_open(&d, "EE_M", true), 0);
	assert_int_equal(ut_open(&bd, "M", false), 0);
	memset(w, 0x10, sizeof(w));

	/* Writes: the base gets the corrupted byte. */
	assert_int_equal(ut_rpc(NULL, "bdev_error_inject_error", "{s:s, s:s, s:s, s:i, s:i}",
				"name", "EE_M", "io_type", "write", "error_type", "corrupt_data",
				"corrupt_offset", 600, "corrupt_value", 0xff),
			 0);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_WRITE, w, 0, 2), 0);
	assert_int_equal(ut_do(bd, SPUR_BDEV_IO_READ, b, 0, 2), 0);
	assert_int_equal(b[600], 0x10 ^ 0xff);
	b[600] = 0x10;
	memset(w, 0x10, sizeof(w)); /* the caller's buffer was corrupted in place */
	assert_memory_equal(b, w, sizeof(w));

	/* Reads: the base is intact, the reader sees the corruption. */
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_WRITE, w, 0, 2), 0);
	assert_int_equal(ut_rpc(NULL, "bdev_error_inject_error", "{s:s, s:s, s:s, s:i, s:i}",
				"name", "EE_M", "io_type", "read", "error_type", "corrupt_data",
				"corrupt_offset", 3, "corrupt_value", 1),
			 0);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_READ, r, 0, 2), 0);
	assert_int_equal(r[3], 0x11);
	assert_int_equal(ut_do(bd, SPUR_BDEV_IO_READ, b, 0, 2), 0);
	assert_memory_equal(b, w, sizeof(w));
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_READ, r, 0, 2), 0);
	assert_memory_equal(r, w, sizeof(w));

	/* corrupt_value 0 is refused. */
	assert_int_equal(inject("read", "corrupt_data", 1), SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_non_null(strstr(ut_rpc_msg, "corrupt_value"));
	ut_close(bd);
	ut_close(d);
}

static void
test_nomem_and_queue_depth(void **state)
{
	uint8_t r[BS];
	struct ut_req q1, q2, q3;
	struct ut_dev *d;

	(void)state;
	make_error();
	assert_int_equal(ut_open(&d, "EE_M", true), 0);
	assert_int_equal(inject("read", "nomem", 1), 0);
	assert_int_equal(ut_submit(d, &q1, SPUR_BDEV_IO_READ, r, 0, 1), 0);
	assert_true(ut_poll_until(&q1.done, 1000000));
	assert_int_equal(q1.status, 0);
	assert_true(ut_req_us(&q1) >= 100);

	/* queue_depth 3: only a read that finds 3 in flight (itself included) fails. */
	assert_int_equal(ut_rpc(NULL, "bdev_error_inject_error", "{s:s, s:s, s:s, s:i, s:i}",
				"name", "EE_M", "io_type", "read", "error_type", "failure",
				"num", 1, "queue_depth", 3),
			 0);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_READ, r, 0, 1), 0);
	assert_int_equal(ut_submit(d, &q1, SPUR_BDEV_IO_READ, r, 0, 1), 0);
	assert_int_equal(ut_submit(d, &q2, SPUR_BDEV_IO_READ, r, 0, 1), 0);
	assert_int_equal(ut_submit(d, &q3, SPUR_BDEV_IO_READ, r, 0, 1), 0);
	ut_poll();
	assert_true(q1.done && q2.done && q3.done);
	assert_int_equal(q1.status, 0);
	assert_int_equal(q2.status, 0);
	assert_int_equal(q3.status, SPUR_BDEV_ERR_IO);
	ut_close(d);
}

static void
test_params_and_bookkeeping(void **state)
{
	json_t *c, *u, *want;

	(void)state;
	make_error();
	assert_int_equal(ut_rpc(NULL, "bdev_error_create", "{s:s}", "base_name", "M"), -EEXIST);
	assert_int_equal(ut_rpc(NULL, "bdev_error_create", "{s:s}", "base_name", "X"), -ENODEV);
	assert_int_equal(inject("read", "explode", 1), SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_non_null(strstr(ut_rpc_msg, "error_type"));
	assert_int_equal(inject("compare", "failure", 1), SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_non_null(strstr(ut_rpc_msg, "io_type"));
	assert_int_equal(ut_rpc(NULL, "bdev_error_inject_error", "{s:s, s:s, s:s}", "name", "M",
				"io_type", "read", "error_type", "failure"), -ENODEV);
	assert_int_equal(ut_rpc(NULL, "bdev_error_inject_error", "{s:s, s:s, s:s, s:s}", "name",
				"EE_M", "io_type", "read", "error_type", "failure", "status",
				"weird"), SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_int_equal(ut_rpc(NULL, "bdev_error_delete", "{s:s}", "name", "M"), -ENODEV);

	c = ut_config_of("EE_M");
	assert_string_equal(json_string_value(json_object_get(c, "method")), "bdev_error_create");
	assert_string_equal(json_string_value(json_object_get(json_object_get(c, "params"),
							       "base_name")),
			    "M");
	u = spur_bdev_error_module.undo_call("bdev_error_create", json_object_get(c, "params"));
	want = json_pack("{s:s, s:{s:s}}", "method", "bdev_error_delete", "params", "name",
			 "EE_M");
	assert_true(json_equal(u, want));
	json_decref(want);
	json_decref(u);
	assert_null(spur_bdev_error_module.undo_call("bdev_error_inject_error",
						     json_object_get(c, "params")));
	/* Replay after delete keeps the uuid. */
	assert_int_equal(ut_rpc(NULL, "bdev_error_delete", "{s:s}", "name", "EE_M"), 0);
	assert_int_equal(ut_rpc(NULL, "bdev_error_create", "O", json_object_get(c, "params")), 0);
	u = ut_config_of("EE_M");
	assert_true(json_equal(c, u));
	json_decref(u);
	json_decref(c);
}

static int
setup_small_pool(void **state)
{
	ut_set_io_pool_size(7);
	return ut_mod_setup(state);
}

static void
test_base_nomem(void **state)
{
	(void)state;
	make_error();
	ut_check_base_nomem("EE_M");
}

static void
unregistered(void *cb_arg, int status)
{
	assert_int_equal(status, 0);
	*(bool *)cb_arg = true;
}

/*
 * The layer unregisters bdevs itself at shutdown (not through the delete
 * RPC): held requests are still let go, so the openers can close.
 */
static void
test_pending_then_unregister(void **state)
{
	uint8_t w[BS] = {2};
	bool gone = false;
	struct ut_req q;
	struct ut_dev *d;

	(void)state;
	make_error();
	assert_int_equal(ut_open(&d, "EE_M", true), 0);
	assert_int_equal(inject("write", "pending", 10), 0);
	assert_int_equal(ut_submit(d, &q, SPUR_BDEV_IO_WRITE, w, 0, 1), 0);
	ut_poll();
	assert_false(q.done);
	spur_bdev_unregister(spur_bdev_get_by_name("EE_M"), unregistered, &gone);
	ut_poll();
	assert_true(q.done);
	assert_int_equal(q.status, SPUR_BDEV_ERR_ABORTED);
	assert_int_equal(d->removes, 1);
	assert_false(gone);
	ut_close(d);
	assert_true(ut_poll_until(&gone, 1000000));
	assert_null(spur_bdev_get_by_name("EE_M"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_failure_counts, ut_mod_setup, ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_pending_clear_and_resume, ut_mod_setup,
						ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_pending_then_delete, ut_mod_setup,
						ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_corrupt, ut_mod_setup, ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_nomem_and_queue_depth, ut_mod_setup,
						ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_params_and_bookkeeping, ut_mod_setup,
						ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_base_nomem, setup_small_pool, ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_pending_then_unregister, ut_mod_setup,
						ut_mod_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
