/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the malloc module through the real bdev layer: default
 * names, parameter checks and their error codes, data round trips, unmap /
 * write_zeroes (including the madvise path with unaligned edges), the
 * save_config entry and its replay, deletion while open (hot-remove, reply
 * after the last close) and the undo builder.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "module/bdev/malloc/bdev_malloc.h"
#include "spur/rpc.h"
#include "ut_mod.h"

static void
test_default_names(void **state)
{
	json_t *r;

	(void)state;
	assert_int_equal(ut_rpc(&r, "bdev_malloc_create", "{s:i, s:i}", "num_blocks", 16,
				"block_size", 512), 0);
	assert_string_equal(json_string_value(r), "Malloc0");
	json_decref(r);
	assert_int_equal(ut_rpc(&r, "bdev_malloc_create", "{s:i, s:i}", "num_blocks", 16,
				"block_size", 512), 0);
	assert_string_equal(json_string_value(r), "Malloc1");
	json_decref(r);
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_delete", "{s:s}", "name", "Malloc0"), 0);
	assert_null(spur_bdev_get_by_name("Malloc0"));
	assert_int_equal(ut_rpc(&r, "bdev_malloc_create", "{s:i, s:i}", "num_blocks", 16,
				"block_size", 512), 0);
	assert_string_equal(json_string_value(r), "Malloc0");
	json_decref(r);
}

static void
test_param_errors(void **state)
{
	(void)state;
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "{s:i, s:i}", "num_blocks", 16,
				"block_size", 520), SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_non_null(strstr(ut_rpc_msg, "block_size"));
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "{s:i, s:i}", "num_blocks", 16,
				"block_size", 256), SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "{s:i, s:i}", "num_blocks", 0,
				"block_size", 512), SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_non_null(strstr(ut_rpc_msg, "num_blocks"));
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "{s:i, s:i, s:i}", "num_blocks", 16,
				"block_size", 512, "md_size", 8), SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_non_null(strstr(ut_rpc_msg, "md_size"));
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "{s:i, s:i, s:i}", "num_blocks", 16,
				"block_size", 512, "dif_type", 1), SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_non_null(strstr(ut_rpc_msg, "dif_type"));
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "{s:i, s:i, s:i}", "num_blocks", 16,
				"block_size", 512, "physical_block_size", 4096),
			 SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_non_null(strstr(ut_rpc_msg, "physical_block_size"));
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "{s:i, s:i, s:s}", "num_blocks", 16,
				"block_size", 512, "uuid", "not-a-uuid"),
			 SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_non_null(strstr(ut_rpc_msg, "uuid"));
	/* Absurd sizes are refused cleanly. */
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "{s:I, s:i}", "num_blocks",
				(json_int_t)1 << 50, "block_size", 4096), -ENOMEM);
	assert_non_null(strstr(ut_rpc_msg, "cannot allocate"));
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "{s:I, s:i}", "num_blocks",
				(json_int_t)INT64_MAX, "block_size", 65536), -ENOMEM);
	/* SPDK's neutral values are accepted. */
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create",
				"{s:s, s:i, s:i, s:i, s:i, s:i, s:b, s:i, s:i}", "name", "M",
				"num_blocks", 16, "block_size", 512, "physical_block_size", 512,
				"md_size", 0, "dif_type", 0, "dif_is_head_of_md", 0,
				"dif_pi_format", 0, "numa_id", -1), 0);
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "{s:s, s:i, s:i}", "name", "M",
				"num_blocks", 16, "block_size", 512), -EEXIST);
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_delete", "{s:s}", "name", "nope"), -ENODEV);
	assert_non_null(strstr(ut_rpc_msg, "nope"));
}

static void
fill(uint8_t *buf, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 7);
}

static void
test_io(void **state)
{
	enum { BS = 4096, NB = 256 };
	uint8_t *wbuf = malloc(NB * BS), *rbuf = malloc(NB * BS);
	uint8_t *zero = calloc(NB, BS);
	struct ut_dev *d;

	(void)state;
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "{s:s, s:i, s:i}", "name", "M",
				"num_blocks", NB, "block_size", BS), 0);
	assert_int_equal(ut_open(&d, "M", true), 0);
	assert_string_equal(spur_bdev_get_product_name(spur_bdev_get_by_name("M")),
			    "Malloc disk");
	assert_false(spur_bdev_has_write_cache(spur_bdev_get_by_name("M")));

	/* Fresh memory reads as zeroes. */
	memset(rbuf, 0xff, NB * BS);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_READ, rbuf, 0, NB), 0);
	assert_memory_equal(rbuf, zero, NB * BS);

	fill(wbuf, NB * BS, 3);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_WRITE, wbuf, 0, NB), 0);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_READ, rbuf, 0, NB), 0);
	assert_memory_equal(rbuf, wbuf, NB * BS);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_READ, rbuf, 7, 3), 0);
	assert_memory_equal(rbuf, wbuf + 7 * BS, 3 * BS);

	/* Small unmap: memset. */
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_UNMAP, NULL, 1, 2), 0);
	/* Large write_zeroes: whole pages are given back, then reread as zero. */
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_WRITE_ZEROES, NULL, 10, 100), 0);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_READ, rbuf, 0, NB), 0);
	assert_memory_equal(rbuf, wbuf, BS);
	assert_memory_equal(rbuf + BS, zero, 2 * BS);
	assert_memory_equal(rbuf + 3 * BS, wbuf + 3 * BS, 7 * BS);
	assert_memory_equal(rbuf + 10 * BS, zero, 100 * BS);
	assert_memory_equal(rbuf + 110 * BS, wbuf + 110 * BS, (NB - 110) * BS);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_FLUSH, NULL, 0, NB), 0);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_RESET, NULL, 0, 0), 0);
	ut_close(d);
	free(wbuf);
	free(rbuf);
	free(zero);
}

/* 512-byte blocks: the madvise path with edges that are not page aligned. */
static void
test_zero_unaligned_edges(void **state)
{
	enum { BS = 512, NB = 1024 };
	uint8_t *wbuf = malloc(NB * BS), *rbuf = malloc(NB * BS), *zero = calloc(NB, BS);
	struct ut_dev *d;

	(void)state;
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "{s:s, s:i, s:i}", "name", "M",
				"num_blocks", NB, "block_size", BS), 0);
	assert_int_equal(ut_open(&d, "M", true), 0);
	fill(wbuf, NB * BS, 9);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_WRITE, wbuf, 0, NB), 0);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_UNMAP, NULL, 3, 300), 0);
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_READ, rbuf, 0, NB), 0);
	assert_memory_equal(rbuf, wbuf, 3 * BS);
	assert_memory_equal(rbuf + 3 * BS, zero, 300 * BS);
	assert_memory_equal(rbuf + 303 * BS, wbuf + 303 * BS, (NB - 303) * BS);
	ut_close(d);
	free(wbuf);
	free(rbuf);
	free(zero);
}

static void
test_config_roundtrip(void **state)
{
	json_t *c1, *c2;

	(void)state;
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "{s:s, s:i, s:i, s:s, s:i}", "name",
				"M", "num_blocks", 64, "block_size", 4096, "uuid",
				"2B6601BA-eada-44fb-9a83-a20eb9eb9e90", "optimal_io_boundary", 8),
			 0);
	c1 = ut_config_of("M");
	assert_string_equal(json_string_value(json_object_get(c1, "method")),
			    "bdev_malloc_create");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(c1, "params"), "uuid")),
		"2b6601ba-eada-44fb-9a83-a20eb9eb9e90");
	assert_int_equal(spur_bdev_get_optimal_io_boundary(spur_bdev_get_by_name("M")), 8);
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_delete", "{s:s}", "name", "M"), 0);
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "O",
				json_object_get(c1, "params")), 0);
	c2 = ut_config_of("M");
	assert_true(json_equal(c1, c2));
	json_decref(c1);
	json_decref(c2);

	/* Without a uuid the layer's generated one is saved. */
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "{s:s, s:i, s:i}", "name", "G",
				"num_blocks", 8, "block_size", 512), 0);
	c1 = ut_config_of("G");
	assert_int_equal(strlen(json_string_value(
				 json_object_get(json_object_get(c1, "params"), "uuid"))),
			 36);
	assert_null(json_object_get(json_object_get(c1, "params"), "optimal_io_boundary"));
	json_decref(c1);
}

static void
test_delete_while_open(void **state)
{
	struct ut_rpc_call call;
	json_t *params = json_pack("{s:s}", "name", "M");
	struct ut_dev *d;

	(void)state;
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "{s:s, s:i, s:i}", "name", "M",
				"num_blocks", 8, "block_size", 512), 0);
	assert_int_equal(ut_open(&d, "M", true), 0);
	ut_rpc_start(&call, "bdev_malloc_delete", params);
	ut_poll();
	assert_int_equal(d->removes, 1);
	assert_false(call.done);
	/* A second delete while the first waits finds nothing. */
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_delete", "{s:s}", "name", "M"), -ENODEV);
	ut_close(d);
	assert_true(ut_poll_until(&call.done, 1000000));
	assert_int_equal(call.code, 0);
	assert_true(json_is_true(call.result));
	json_decref(call.result);
	json_decref(params);
	assert_null(spur_bdev_get_by_name("M"));
}

static void
test_undo(void **state)
{
	json_t *p = json_pack("{s:s, s:i, s:i}", "name", "X", "num_blocks", 1, "block_size", 512);
	json_t *u = spur_bdev_malloc_module.undo_call("bdev_malloc_create", p);

	(void)state;
	assert_non_null(u);
	assert_string_equal(json_string_value(json_object_get(u, "method")), "bdev_malloc_delete");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(u, "params"), "name")), "X");
	json_decref(u);
	json_object_del(p, "name");
	assert_null(spur_bdev_malloc_module.undo_call("bdev_malloc_create", p));
	assert_null(spur_bdev_malloc_module.undo_call("bdev_malloc_delete", p));
	json_decref(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_default_names, ut_mod_setup, ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_param_errors, ut_mod_setup, ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_io, ut_mod_setup, ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_zero_unaligned_edges, ut_mod_setup,
						ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_config_roundtrip, ut_mod_setup,
						ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_delete_while_open, ut_mod_setup,
						ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_undo, ut_mod_setup, ut_mod_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
