/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the passthru module through the real bdev layer: data
 * written through it lands on the base, the claim (a second stack and other
 * writers are refused), geometry copied from the base, error messages,
 * deletion while open, hot-remove of the base taking the passthru with it,
 * base resize followed, and the save_config entry.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "module/bdev/passthru/bdev_passthru.h"
#include "spur/rpc.h"
#include "ut_mod.h"

static void
make_base(const char *name, int blocks, int bs)
{
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "{s:s, s:i, s:i, s:i}", "name", name,
				"num_blocks", blocks, "block_size", bs, "optimal_io_boundary", 4),
			 0);
}

static void
test_forwarding(void **state)
{
	uint8_t w[4 * 4096], r[4 * 4096];
	struct ut_dev *pd, *bd;
	struct spur_bdev *p;
	json_t *res;

	(void)state;
	make_base("M", 64, 4096);
	assert_int_equal(ut_rpc(&res, "bdev_passthru_create", "{s:s, s:s}", "base_bdev_name",
				"M", "name", "P"), 0);
	assert_string_equal(json_string_value(res), "P");
	json_decref(res);
	p = spur_bdev_get_by_name("P");
	assert_non_null(p);
	assert_string_equal(spur_bdev_get_product_name(p), "passthru");
	assert_int_equal(spur_bdev_get_block_size(p), 4096);
	assert_int_equal(spur_bdev_get_num_blocks(p), 64);
	assert_int_equal(spur_bdev_get_optimal_io_boundary(p), 4);

	assert_int_equal(ut_open(&pd, "P", true), 0);
	for (size_t i = 0; i < sizeof(w); i++)
		w[i] = (uint8_t)(i * 13 + 1);
	/* Crosses the optimal boundary: split by the layer, both halves forwarded. */
	assert_int_equal(ut_do(pd, SPUR_BDEV_IO_WRITE, w, 2, 4), 0);
	/* The base is claimed but can still be read. */
	assert_int_equal(ut_open(&bd, "M", true), -EPERM);
	assert_int_equal(ut_open(&bd, "M", false), 0);
	assert_int_equal(ut_do(bd, SPUR_BDEV_IO_READ, r, 2, 4), 0);
	assert_memory_equal(r, w, sizeof(w));
	memset(r, 0, sizeof(r));
	assert_int_equal(ut_do(pd, SPUR_BDEV_IO_READ, r, 2, 4), 0);
	assert_memory_equal(r, w, sizeof(w));
	assert_int_equal(ut_do(pd, SPUR_BDEV_IO_UNMAP, NULL, 2, 1), 0);
	assert_int_equal(ut_do(bd, SPUR_BDEV_IO_READ, r, 2, 1), 0);
	assert_memory_equal(r, (uint8_t[4096]){0}, 4096);
	assert_int_equal(ut_do(pd, SPUR_BDEV_IO_WRITE_ZEROES, NULL, 3, 1), 0);
	assert_int_equal(ut_do(pd, SPUR_BDEV_IO_FLUSH, NULL, 0, 64), 0);
	assert_int_equal(ut_do(pd, SPUR_BDEV_IO_RESET, NULL, 0, 0), 0);
	ut_close(bd);
	ut_close(pd);
}

static void
test_errors(void **state)
{
	(void)state;
	make_base("M", 8, 512);
	assert_int_equal(ut_rpc(NULL, "bdev_passthru_create", "{s:s, s:s}", "base_bdev_name",
				"nope", "name", "P"), -ENODEV);
	assert_non_null(strstr(ut_rpc_msg, "'nope' not found"));
	assert_int_equal(ut_rpc(NULL, "bdev_passthru_create", "{s:s, s:s}", "base_bdev_name",
				"M", "name", "M"), -EEXIST);
	assert_int_equal(ut_rpc(NULL, "bdev_passthru_create", "{s:s, s:s, s:s}",
				"base_bdev_name", "M", "name", "P", "uuid", "xyz"),
			 SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_int_equal(ut_rpc(NULL, "bdev_passthru_create", "{s:s, s:s}", "base_bdev_name",
				"M", "name", "P"), 0);
	assert_int_equal(ut_rpc(NULL, "bdev_passthru_create", "{s:s, s:s}", "base_bdev_name",
				"M", "name", "Q"), -EPERM);
	assert_non_null(strstr(ut_rpc_msg, "claimed"));
	/* Stacking on the passthru itself is fine. */
	assert_int_equal(ut_rpc(NULL, "bdev_passthru_create", "{s:s, s:s}", "base_bdev_name",
				"P", "name", "Q"), 0);
	assert_int_equal(ut_rpc(NULL, "bdev_passthru_delete", "{s:s}", "name", "M"), -ENODEV);
	assert_int_equal(ut_rpc(NULL, "bdev_passthru_delete", "{s:s}", "name", "Q"), 0);
	assert_int_equal(ut_rpc(NULL, "bdev_passthru_delete", "{s:s}", "name", "P"), 0);
	/* The claim is gone with it. */
	assert_int_equal(ut_rpc(NULL, "bdev_passthru_create", "{s:s, s:s}", "base_bdev_name",
				"M", "name", "P"), 0);
}

static void
test_delete_while_open(void **state)
{
	struct ut_rpc_call call;
	json_t *params = json_pack("{s:s}", "name", "P");
	struct ut_dev *d, *bd;

	(void)state;
	make_base("M", 8, 512);
	assert_int_equal(ut_rpc(NULL, "bdev_passthru_create", "{s:s, s:s}", "base_bdev_name",
				"M", "name", "P"), 0);
	assert_int_equal(ut_open(&d, "P", true), 0);
	ut_rpc_start(&call, "bdev_passthru_delete", params);
	ut_poll();
	assert_int_equal(d->removes, 1);
	assert_false(call.done);
	ut_close(d);
	assert_true(ut_poll_until(&call.done, 1000000));
	assert_int_equal(call.code, 0);
	json_decref(call.result);
	json_decref(params);
	/* The base is free again. */
	assert_int_equal(ut_open(&bd, "M", true), 0);
	ut_close(bd);
}

static void
test_base_removed(void **state)
{
	json_t *params = json_pack("{s:s}", "name", "M");
	struct ut_rpc_call call;
	struct ut_dev *d;

	(void)state;
	make_base("M", 8, 512);
	assert_int_equal(ut_rpc(NULL, "bdev_passthru_create", "{s:s, s:s}", "base_bdev_name",
				"M", "name", "P"), 0);
	assert_int_equal(ut_open(&d, "P", true), 0);
	/* Deleting the base hot-removes the passthru; the base goes once it closed. */
	ut_rpc_start(&call, "bdev_malloc_delete", params);
	ut_poll();
	assert_int_equal(d->removes, 1);
	assert_false(call.done);
	ut_close(d);
	assert_true(ut_poll_until(&call.done, 1000000));
	assert_int_equal(call.code, 0);
	json_decref(call.result);
	json_decref(params);
	assert_null(spur_bdev_get_by_name("P"));
	assert_null(spur_bdev_get_by_name("M"));
}

static void
test_resize_followed(void **state)
{
	struct ut_dev *d;

	(void)state;
	assert_int_equal(ut_rpc(NULL, "bdev_null_create", "{s:s, s:i, s:i}", "name", "N",
				"num_blocks", 2048, "block_size", 512), 0);
	assert_int_equal(ut_rpc(NULL, "bdev_passthru_create", "{s:s, s:s}", "base_bdev_name",
				"N", "name", "P"), 0);
	assert_int_equal(ut_open(&d, "P", false), 0);
	assert_int_equal(ut_rpc(NULL, "bdev_null_resize", "{s:s, s:i}", "name", "N", "new_size",
				2), 0);
	ut_poll();
	assert_int_equal(spur_bdev_get_num_blocks(spur_bdev_get_by_name("P")), 4096);
	assert_int_equal(d->resizes, 1);
	ut_close(d);
}

static void
test_config(void **state)
{
	json_t *c, *u, *want;

	(void)state;
	make_base("M", 8, 512);
	assert_int_equal(ut_rpc(NULL, "bdev_passthru_create", "{s:s, s:s, s:s}",
				"base_bdev_name", "M", "name", "P", "uuid",
				"11111111-2222-3333-4444-555555555555"),
			 0);
	c = ut_config_of("P");
	assert_string_equal(json_string_value(json_object_get(c, "method")),
			    "bdev_passthru_create");
	want = json_pack("{s:s, s:s, s:s}", "base_bdev_name", "M", "name", "P", "uuid",
			 "11111111-2222-3333-4444-555555555555");
	assert_true(json_equal(json_object_get(c, "params"), want));
	json_decref(want);
	u = spur_bdev_passthru_module.undo_call("bdev_passthru_create",
						json_object_get(c, "params"));
	assert_string_equal(json_string_value(json_object_get(u, "method")),
			    "bdev_passthru_delete");
	json_decref(u);
	json_decref(c);
}

static int
setup_small_pool(void **state)
{
	ut_set_io_pool_size(7);
	return ut_mod_setup(state);
}

/* The base runs out of requests: the passthru waits for one and resubmits. */
static void
test_base_nomem(void **state)
{
	(void)state;
	make_base("M", 8, 512);
	assert_int_equal(ut_rpc(NULL, "bdev_passthru_create", "{s:s, s:s}", "base_bdev_name",
				"M", "name", "P"), 0);
	ut_check_base_nomem("P");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_forwarding, ut_mod_setup, ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_errors, ut_mod_setup, ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_delete_while_open, ut_mod_setup,
						ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_base_removed, ut_mod_setup, ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_resize_followed, ut_mod_setup,
						ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_config, ut_mod_setup, ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_base_nomem, setup_small_pool, ut_mod_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
