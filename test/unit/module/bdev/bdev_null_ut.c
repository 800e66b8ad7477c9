/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the null module through the real bdev layer: reads zero the
 * buffers (or, with zero_reads false, leave them alone), writes and the
 * other types succeed, parameter checks, resize with the openers' event and
 * its undo call, the save_config entry, and deletion.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "module/bdev/null/bdev_null.h"
#include "spur/rpc.h"
#include "ut_mod.h"

static void
test_reads(void **state)
{
	uint8_t buf[8 * 512], zero[8 * 512] = {0}, junk[8 * 512];
	struct ut_dev *d;
	json_t *r;

	(void)state;
	assert_int_equal(ut_rpc(&r, "bdev_null_create", "{s:s, s:i, s:i}", "name", "N",
				"num_blocks", 1024, "block_size", 512), 0);
	assert_string_equal(json_string_value(r), "N");
	json_decref(r);
	assert_int_equal(ut_rpc(NULL, "bdev_null_create", "{s:s, s:i, s:i, s:b}", "name", "F",
				"num_blocks", 1024, "block_size", 512, "zero_reads", 0), 0);
	assert_string_equal(spur_bdev_get_product_name(spur_bdev_get_by_name("N")), "Null disk");

	assert_int_equal(ut_open(&d, "N", true), 0);
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_WRITE, buf, 0, 8), 0);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_READ, buf, 0, 8), 0);
	assert_memory_equal(buf, zero, sizeof(buf));
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_UNMAP, NULL, 0, 8), 0);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_WRITE_ZEROES, NULL, 0, 8), 0);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_FLUSH, NULL, 0, 8), 0);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_RESET, NULL, 0, 0), 0);
	ut_close(d);

	assert_int_equal(ut_open(&d, "F", false), 0);
	memset(buf, 0xee, sizeof(buf));
	memcpy(junk, buf, sizeof(buf));
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_READ, buf, 0, 8), 0);
	assert_memory_equal(buf, junk, sizeof(buf));
	ut_close(d);
}

static void
test_params(void **state)
{
	json_t *c;

	(void)state;
	assert_int_equal(ut_rpc(NULL, "bdev_null_create", "{s:i, s:i}", "num_blocks", 8,
				"block_size", 512), SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_non_null(strstr(ut_rpc_msg, "name"));
	assert_int_equal(ut_rpc(NULL, "bdev_null_create", "{s:s, s:i, s:i}", "name", "N",
				"num_blocks", 8, "block_size", 4104), SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_int_equal(ut_rpc(NULL, "bdev_null_create", "{s:s, s:i, s:i, s:i, s:i}", "name",
				"N", "num_blocks", 8, "block_size", 512, "md_size", 8, "dif_type",
				1), SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_non_null(strstr(ut_rpc_msg, "md_size"));
	assert_int_equal(ut_rpc(NULL, "bdev_null_create", "{s:s, s:i, s:i, s:s}", "name", "N",
				"num_blocks", 8, "block_size", 512, "uuid",
				"2b6601ba-eada-44fb-9a83-a20eb9eb9e9"),
			 SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_int_equal(ut_rpc(NULL, "bdev_null_create", "{s:s, s:i, s:i, s:s}", "name", "N",
				"num_blocks", 8, "block_size", 512, "uuid",
				"2b6601ba-eada-44fb-9a83-a20eb9eb9e90"),
			 0);
	assert_int_equal(ut_rpc(NULL, "bdev_null_create", "{s:s, s:i, s:i}", "name", "N",
				"num_blocks", 8, "block_size", 512), -EEXIST);
	c = ut_config_of("N");
	assert_string_equal(json_string_value(json_object_get(c, "method")), "bdev_null_create");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(c, "params"), "uuid")),
		"2b6601ba-eada-44fb-9a83-a20eb9eb9e90");
	/* zero_reads is only written when it is not the default. */
	assert_null(json_object_get(json_object_get(c, "params"), "zero_reads"));
	json_decref(c);
	assert_int_equal(ut_rpc(NULL, "bdev_null_delete", "{s:s}", "name", "N"), 0);
	assert_int_equal(ut_rpc(NULL, "bdev_null_delete", "{s:s}", "name", "N"), -ENODEV);
}

static void
test_resize(void **state)
{
	struct ut_dev *d;
	json_t *p, *u;

	(void)state;
	assert_int_equal(ut_rpc(NULL, "bdev_null_create", "{s:s, s:i, s:i}", "name", "N",
				"num_blocks", 2048, "block_size", 512), 0);
	assert_int_equal(ut_open(&d, "N", false), 0);
	/* The undo call of a resize restores the present size (1 MiB). */
	p = json_pack("{s:s, s:i}", "name", "N", "new_size", 4);
	u = spur_bdev_null_module.undo_call("bdev_null_resize", p);
	assert_non_null(u);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(u, "params"),
							     "new_size")),
			 1);
	json_decref(u);
	json_decref(p);

	assert_int_equal(ut_rpc(NULL, "bdev_null_resize", "{s:s, s:i}", "name", "N", "new_size",
				4), 0);
	ut_poll();
	assert_int_equal(d->resizes, 1);
	assert_int_equal(spur_bdev_get_num_blocks(spur_bdev_get_by_name("N")), 8192);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_READ, (uint8_t[512]){0}, 8191, 1), 0);
	assert_int_equal(ut_rpc(NULL, "bdev_null_resize", "{s:s, s:i}", "name", "N", "new_size",
				1), 0);
	ut_poll();
	assert_int_equal(d->resizes, 2);
	assert_int_equal(spur_bdev_get_num_blocks(spur_bdev_get_by_name("N")), 2048);
	assert_int_equal(ut_rpc(NULL, "bdev_null_resize", "{s:s, s:i}", "name", "N", "new_size",
				0), SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_int_equal(ut_rpc(NULL, "bdev_null_resize", "{s:s, s:i}", "name", "X", "new_size",
				1), -ENODEV);
	ut_close(d);

	/* A size that is not a whole MiB cannot be restored by a resize. */
	assert_int_equal(ut_rpc(NULL, "bdev_null_create", "{s:s, s:i, s:i}", "name", "O",
				"num_blocks", 3, "block_size", 512), 0);
	p = json_pack("{s:s, s:i}", "name", "O", "new_size", 4);
	assert_null(spur_bdev_null_module.undo_call("bdev_null_resize", p));
	json_decref(p);
	p = json_pack("{s:s}", "name", "O");
	u = spur_bdev_null_module.undo_call("bdev_null_create", p);
	assert_string_equal(json_string_value(json_object_get(u, "method")), "bdev_null_delete");
	json_decref(u);
	json_decref(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reads, ut_mod_setup, ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_params, ut_mod_setup, ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_resize, ut_mod_setup, ut_mod_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
