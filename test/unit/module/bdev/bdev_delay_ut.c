/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the delay module: the scheduling rules (poller period, the
 * one-in-a-hundred p99 pick), and through the real layer with real time:
 * reads and writes complete no earlier than their latency after submission
 * and in due-time order, types that are not delayed, latency updates (and
 * their undo call), a reset aborting held requests, parameter errors and
 * the save_config entry.
 *
 * Lower bounds on latency are exact; upper bounds are generous, since a
 * loaded test machine may poll late.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "module/bdev/delay/bdev_delay.h"
#include "spur/rpc.h"
#include "ut_mod.h"

#define SLACK_US 200000

static void
test_rules(void **state)
{
	uint64_t none[BDEV_DELAY_NUM_LATENCIES] = {0};
	uint64_t typical[BDEV_DELAY_NUM_LATENCIES] = {100, 1000, 200, 2000};
	uint64_t tiny[BDEV_DELAY_NUM_LATENCIES] = {0, 5, 0, 0};
	uint64_t huge[BDEV_DELAY_NUM_LATENCIES] = {1000000, 1000000, 1000000, 1000000};
	uint64_t rng = 12345, hits = 0;
	const uint64_t draws = 1000000;

	(void)state;
	assert_int_equal(bdev_delay_poll_period_us(none), 1000);
	assert_int_equal(bdev_delay_poll_period_us(typical), 10);
	assert_int_equal(bdev_delay_poll_period_us(tiny), 1);
	assert_int_equal(bdev_delay_poll_period_us(huge), 1000);
	for (uint64_t i = 0; i < draws; i++)
		hits += bdev_delay_pick_p99(&rng);
	assert_in_range(hits, draws / 125, draws * 3 / 250); /* 0.8% .. 1.2% */
	assert_int_equal(bdev_delay_latency_parse("p99_write"), BDEV_DELAY_P99_WRITE);
	assert_int_equal(bdev_delay_latency_parse("p98_write"), -EINVAL);
	assert_string_equal(bdev_delay_latency_name(BDEV_DELAY_AVG_READ), "avg_read");
}

static void
make_delay(const char *base, uint64_t rd, uint64_t wr)
{
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "{s:s, s:i, s:i}", "name", base,
				"num_blocks", 64, "block_size", 512), 0);
	/* p99 == avg: every request gets exactly its latency. */
	assert_int_equal(ut_rpc(NULL, "bdev_delay_create", "{s:s, s:s, s:I, s:I, s:I, s:I}",
				"base_bdev_name", base, "name", "D", "avg_read_latency",
				(json_int_t)rd, "p99_read_latency", (json_int_t)rd,
				"avg_write_latency", (json_int_t)wr, "p99_write_latency",
				(json_int_t)wr),
			 0);
}

static void
test_latency_and_order(void **state)
{
	uint8_t w[512], r[512];
	struct ut_req rr, wr;
	struct ut_dev *d;

	(void)state;
	make_delay("M", 6000, 2000);
	assert_int_equal(ut_open(&d, "D", true), 0);
	memset(w, 0x3c, sizeof(w));
	/* Read first, write second: the write is due first and completes first. */
	assert_int_equal(ut_submit(d, &rr, SPUR_BDEV_IO_READ, r, 0, 1), 0);
	assert_int_equal(ut_submit(d, &wr, SPUR_BDEV_IO_WRITE, w, 0, 1), 0);
	assert_true(ut_poll_until(&wr.done, 6000 + SLACK_US));
	assert_true(ut_poll_until(&rr.done, 6000 + SLACK_US));
	assert_int_equal(wr.status, 0);
	assert_int_equal(rr.status, 0);
	/* (A descheduled test may poll both in one go: compare completion times.) */
	assert_true(wr.done_ticks <= rr.done_ticks);
	assert_true(ut_req_us(&wr) >= 2000);
	assert_true(ut_req_us(&rr) >= 6000);
	assert_true(ut_req_us(&rr) < 6000 + SLACK_US);
	/* Data goes through. */
	assert_int_equal(ut_do(d, SPUR_BDEV_IO_READ, r, 0, 1), 0);
	assert_memory_equal(r, w, sizeof(w));
	ut_close(d);
}

static void
test_not_delayed(void **state)
{
	struct ut_req q;
	struct ut_dev *d;

	(void)state;
	make_delay("M", 1000000, 1000000);
	assert_int_equal(ut_open(&d, "D", true), 0);
	for (int t = SPUR_BDEV_IO_UNMAP; t <= SPUR_BDEV_IO_WRITE_ZEROES; t++) {
		if (t == SPUR_BDEV_IO_RESET)
			continue;
		assert_int_equal(ut_submit(d, &q, t, NULL, 0, 8), 0);
		assert_true(ut_poll_until(&q.done, SLACK_US));
		assert_int_equal(q.status, 0);
	}
	ut_close(d);
}

static void
test_update_latency(void **state)
{
	uint8_t r[512];
	struct ut_req q;
	struct ut_dev *d;
	json_t *p, *u, *c;
	uint64_t us;

	(void)state;
	make_delay("M", 1000000, 1000000);
	assert_int_equal(ut_open(&d, "D", true), 0);
	p = json_pack("{s:s, s:s, s:i}", "delay_bdev_name", "D", "latency_type", "avg_read",
		      "latency_us", 0);
	u = spur_bdev_delay_module.undo_call("bdev_delay_update_latency", p);
	assert_non_null(u);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(u, "params"),
							     "latency_us")),
			 1000000);
	json_decref(u);
	assert_int_equal(ut_rpc(NULL, "bdev_delay_update_latency", "O", p), 0);
	json_decref(p);
	assert_int_equal(ut_rpc(NULL, "bdev_delay_update_latency", "{s:s, s:s, s:i}",
				"delay_bdev_name", "D", "latency_type", "p99_read", "latency_us",
				0), 0);
	assert_int_equal(bdev_delay_get_latency("D", BDEV_DELAY_P99_READ, &us), 0);
	assert_int_equal(us, 0);
	ut_poll();
	assert_int_equal(ut_submit(d, &q, SPUR_BDEV_IO_READ, r, 0, 1), 0);
	assert_true(ut_poll_until(&q.done, SLACK_US));
	c = ut_config_of("D");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "params"),
							     "avg_read_latency")),
			 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "params"),
							     "avg_write_latency")),
			 1000000);
	json_decref(c);
	assert_int_equal(ut_rpc(NULL, "bdev_delay_update_latency", "{s:s, s:s, s:i}",
				"delay_bdev_name", "D", "latency_type", "p50_read", "latency_us",
				0), SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_int_equal(ut_rpc(NULL, "bdev_delay_update_latency", "{s:s, s:s, s:i}",
				"delay_bdev_name", "M", "latency_type", "p99_read", "latency_us",
				0), -ENODEV);
	ut_close(d);
}

static void
test_reset_aborts_held(void **state)
{
	uint8_t r[512];
	struct ut_req q, reset;
	struct ut_dev *d;

	(void)state;
	make_delay("M", 10000000, 10000000);
	assert_int_equal(ut_open(&d, "D", true), 0);
	assert_int_equal(ut_submit(d, &q, SPUR_BDEV_IO_READ, r, 0, 1), 0);
	ut_poll_for(2000);
	assert_false(q.done);
	assert_int_equal(ut_submit(d, &reset, SPUR_BDEV_IO_RESET, NULL, 0, 0), 0);
	assert_true(ut_poll_until(&reset.done, SLACK_US));
	assert_true(q.done);
	assert_int_equal(q.status, SPUR_BDEV_ERR_ABORTED);
	assert_int_equal(reset.status, 0);
	ut_close(d);
}

static void
test_params_and_config(void **state)
{
	json_t *c, *u;

	(void)state;
	assert_int_equal(ut_rpc(NULL, "bdev_malloc_create", "{s:s, s:i, s:i}", "name", "M",
				"num_blocks", 64, "block_size", 512), 0);
	assert_int_equal(ut_rpc(NULL, "bdev_delay_create", "{s:s, s:s, s:i, s:i, s:i}",
				"base_bdev_name", "M", "name", "D", "avg_read_latency", 1,
				"p99_read_latency", 1, "avg_write_latency", 1),
			 SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_non_null(strstr(ut_rpc_msg, "p99_write_latency"));
	assert_int_equal(ut_rpc(NULL, "bdev_delay_create", "{s:s, s:s, s:i, s:i, s:i, s:I}",
				"base_bdev_name", "M", "name", "D", "avg_read_latency", 1,
				"p99_read_latency", 1, "avg_write_latency", 1, "p99_write_latency",
				(json_int_t)BDEV_DELAY_MAX_LATENCY_US + 1),
			 SPUR_RPC_ERROR_INVALID_PARAMS);
	assert_int_equal(ut_rpc(NULL, "bdev_delay_create", "{s:s, s:s, s:i, s:i, s:i, s:i}",
				"base_bdev_name", "X", "name", "D", "avg_read_latency", 1,
				"p99_read_latency", 1, "avg_write_latency", 1, "p99_write_latency",
				1), -ENODEV);
	assert_int_equal(ut_rpc(NULL, "bdev_delay_create",
				"{s:s, s:s, s:i, s:i, s:i, s:i, s:s}", "base_bdev_name", "M",
				"name", "D", "avg_read_latency", 10, "p99_read_latency", 20,
				"avg_write_latency", 30, "p99_write_latency", 40, "uuid",
				"11111111-2222-3333-4444-555555555555"),
			 0);
	assert_int_equal(ut_rpc(NULL, "bdev_delay_create", "{s:s, s:s, s:i, s:i, s:i, s:i}",
				"base_bdev_name", "M", "name", "E", "avg_read_latency", 1,
				"p99_read_latency", 1, "avg_write_latency", 1, "p99_write_latency",
				1), -EPERM);
	c = ut_config_of("D");
	assert_string_equal(json_string_value(json_object_get(c, "method")), "bdev_delay_create");
	u = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:s}", "base_bdev_name", "M", "name", "D",
		      "avg_read_latency", 10, "p99_read_latency", 20, "avg_write_latency", 30,
		      "p99_write_latency", 40, "uuid", "11111111-2222-3333-4444-555555555555");
	assert_true(json_equal(json_object_get(c, "params"), u));
	json_decref(u);
	/* Replay after delete gives the same entry. */
	assert_int_equal(ut_rpc(NULL, "bdev_delay_delete", "{s:s}", "name", "D"), 0);
	assert_int_equal(ut_rpc(NULL, "bdev_delay_create", "O", json_object_get(c, "params")), 0);
	u = ut_config_of("D");
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
	make_delay("M", 0, 0);
	ut_check_base_nomem("D");
}

static void
unregistered(void *cb_arg, int status)
{
	assert_int_equal(status, 0);
	*(bool *)cb_arg = true;
}

/* Unregistered with requests held for 10 s: they complete at once, successfully. */
static void
test_held_then_unregister(void **state)
{
	uint8_t r[512];
	bool gone = false;
	struct ut_req q;
	struct ut_dev *d;

	(void)state;
	make_delay("M", 10000000, 10000000);
	assert_int_equal(ut_open(&d, "D", true), 0);
	assert_int_equal(ut_submit(d, &q, SPUR_BDEV_IO_READ, r, 0, 1), 0);
	ut_poll_for(2000);
	assert_false(q.done);
	spur_bdev_unregister(spur_bdev_get_by_name("D"), unregistered, &gone);
	assert_true(ut_poll_until(&q.done, SLACK_US));
	assert_int_equal(q.status, 0);
	assert_int_equal(d->removes, 1);
	ut_close(d);
	assert_true(ut_poll_until(&gone, 1000000));
	assert_null(spur_bdev_get_by_name("D"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules),
		cmocka_unit_test_setup_teardown(test_latency_and_order, ut_mod_setup,
						ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_not_delayed, ut_mod_setup, ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_update_latency, ut_mod_setup,
						ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_reset_aborts_held, ut_mod_setup,
						ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_params_and_config, ut_mod_setup,
						ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_base_nomem, setup_small_pool, ut_mod_teardown),
		cmocka_unit_test_setup_teardown(test_held_then_unregister, ut_mod_setup,
						ut_mod_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
