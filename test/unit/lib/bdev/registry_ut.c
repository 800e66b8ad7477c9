/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the bdev registry and control plane: registration checks,
 * names and aliases, UUIDs, descriptors and claims, hot-remove with I/O in
 * flight (events on the opener's thread, -ENODEV for new I/O, destruct
 * after the last close, asynchronous destruct), resize events, the "bdev"
 * subsystem (module init/fini, stop order of virtual and base bdevs,
 * save_config order, undo calls) and the RPC methods.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ut_common.h"

static void
unreg_cb(void *cb_arg, int status)
{
	struct ut_cpl *c = cb_arg;

	c->count++;
	c->status = status;
	c->thread = spur_get_thread();
}

static void
test_register_names(void **state)
{
	struct ut_fake_bdev *a, *b, *dup, *bad;
	static const uint8_t uuid[16] = {1, 2, 3, 4, 5, 6, 0x47, 8, 0x89, 10, 11, 12, 13, 14, 15, 16};
	char str[40];

	ut_setup(1);
	ut_subsystem_start();
	assert_int_equal(ut_fake.module_inits, 1);

	a = ut_fake_create("ut_1", 512, 1024);
	assert_int_equal(ut_fake_register(a), 0);
	assert_int_equal(a->bdev.uuid[6] >> 4, 4);        /* random v4 */
	assert_int_equal(a->bdev.uuid[8] & 0xc0, 0x80);
	assert_ptr_equal(spur_bdev_get_by_name("ut_1"), &a->bdev);

	dup = ut_fake_create("ut_1", 512, 8);
	assert_int_equal(ut_fake_register(dup), -EEXIST);

	assert_int_equal(spur_bdev_alias_add(&a->bdev, "alias_1"), 0);
	assert_ptr_equal(spur_bdev_get_by_name("alias_1"), &a->bdev);
	assert_int_equal(spur_bdev_alias_add(&a->bdev, "alias_1"), -EEXIST);
	assert_int_equal(spur_bdev_alias_add(&a->bdev, "ut_1"), -EEXIST);
	snprintf(dup->name, sizeof(dup->name), "alias_1");
	assert_int_equal(ut_fake_register(dup), -EEXIST);

	bad = ut_fake_create("ut_bad", 1000, 8);
	assert_int_equal(ut_fake_register(bad), -EINVAL);
	bad->bdev.blocklen = 256;
	assert_int_equal(ut_fake_register(bad), -EINVAL);
	bad->bdev.blocklen = 4096;
	bad->bdev.blockcnt = 0;
	assert_int_equal(ut_fake_register(bad), -EINVAL);
	bad->bdev.blockcnt = 8;
	bad->bdev.required_alignment = 3;
	assert_int_equal(ut_fake_register(bad), -EINVAL);
	assert_null(spur_bdev_get_by_name("ut_bad"));

	b = ut_fake_create("ut_2", 4096, 16);
	memcpy(b->bdev.uuid, uuid, 16);
	assert_int_equal(ut_fake_register(b), 0);
	assert_memory_equal(spur_bdev_get_uuid(&b->bdev), uuid, 16);
	spur_bdev_get_uuid_str(&b->bdev, str, sizeof(str));
	assert_string_equal(str, "01020304-0506-4708-890a-0b0c0d0e0f10");
	assert_int_equal(spur_bdev_get_block_size(&b->bdev), 4096);
	assert_int_equal(spur_bdev_get_num_blocks(&b->bdev), 16);
	assert_string_equal(spur_bdev_get_product_name(&b->bdev), "ut fake disk");
	assert_true(spur_bdev_io_type_supported(&b->bdev, SPUR_BDEV_IO_READ));
	assert_false(spur_bdev_io_type_supported(&b->bdev, SPUR_BDEV_IO_WRITE_ZEROES));
	assert_int_equal(spur_bdev_get_buf_align(&b->bdev), 1);

	/* Registration order. */
	assert_ptr_equal(spur_bdev_first(), &a->bdev);
	assert_ptr_equal(spur_bdev_next(&a->bdev), &b->bdev);
	assert_null(spur_bdev_next(&b->bdev));

	ut_subsystem_stop();
	assert_int_equal(ut_fake.num_destructs, 2);
	assert_int_equal(ut_fake.destruct_order[0], '2');
	assert_int_equal(ut_fake.destruct_order[1], '1');
	assert_int_equal(ut_fake.module_finis, 1);
	assert_null(spur_bdev_get_by_name("alias_1"));
	ut_teardown();
	ut_fake_free(a);
	ut_fake_free(b);
	ut_fake_free(dup);
	ut_fake_free(bad);
}

static void
test_open_claims(void **state)
{
	struct ut_fake_bdev *a = ut_fake_create("ut_c", 512, 64);
	struct spur_bdev_desc *ro, *rw, *d, *claimer;

	ut_setup(1);
	ut_subsystem_start();
	assert_int_equal(ut_fake_register(a), 0);

	assert_int_equal(spur_bdev_open("nope", false, ut_event_cb, NULL, &d), -ENODEV);
	assert_int_equal(spur_bdev_open("ut_c", false, NULL, NULL, &d), -EINVAL);
	assert_int_equal(spur_bdev_open("ut_c", false, ut_event_cb, NULL, &ro), 0);
	assert_int_equal(spur_bdev_open("ut_c", true, ut_event_cb, NULL, &rw), 0);
	assert_ptr_equal(spur_bdev_desc_get_bdev(ro), &a->bdev);

	assert_int_equal(spur_bdev_open("ut_c", false, ut_event_cb, NULL, &claimer), 0);
	assert_int_equal(spur_bdev_module_claim_bdev(&a->bdev, claimer, &ut_fake_module), 0);
	assert_int_equal(spur_bdev_module_claim_bdev(&a->bdev, NULL, &ut_fake_module), -EPERM);
	assert_int_equal(spur_bdev_open("ut_c", true, ut_event_cb, NULL, &d), -EPERM);
	assert_int_equal(spur_bdev_open("ut_c", false, ut_event_cb, NULL, &d), 0);
	spur_bdev_close(d);

	/* Closing the claiming descriptor releases the claim. */
	spur_bdev_close(claimer);
	assert_int_equal(spur_bdev_open("ut_c", true, ut_event_cb, NULL, &d), 0);
	spur_bdev_close(d);

	assert_int_equal(spur_bdev_module_claim_bdev(&a->bdev, NULL, &ut_fake_module), 0);
	assert_int_equal(spur_bdev_open("ut_c", true, ut_event_cb, NULL, &d), -EPERM);
	spur_bdev_module_release_bdev(&a->bdev);
	assert_int_equal(spur_bdev_open("ut_c", true, ut_event_cb, NULL, &d), 0);
	spur_bdev_close(d);

	spur_bdev_close(ro);
	spur_bdev_close(rw);
	ut_subsystem_stop();
	ut_teardown();
	ut_fake_free(a);
}

static void
test_hot_remove(void **state)
{
	struct ut_fake_bdev *a = ut_fake_create("ut_h", 512, 64);
	struct ut_events ev = {0};
	struct ut_cpl cpl = {.free_io = true}, cpl2 = {.free_io = true}, unreg = {0};
	struct spur_bdev_desc *desc, *d;
	struct spur_io_channel *ch;
	char buf[512];

	ut_setup(2);
	ut_subsystem_start();
	assert_int_equal(ut_fake_register(a), 0);

	/* A front end on thread 1 with a request at the module. */
	ut_set_thread(1);
	assert_int_equal(spur_bdev_open("ut_h", true, ut_event_cb, &ev, &desc), 0);
	ch = spur_bdev_get_io_channel(desc);
	assert_non_null(ch);
	assert_int_equal(spur_bdev_read_blocks(desc, ch, buf, 0, 1, ut_cpl_cb, &cpl), 0);
	assert_int_equal(ut_pending(), 1);

	ut_set_thread(0);
	spur_bdev_unregister(&a->bdev, unreg_cb, &unreg);
	ut_poll();
	assert_int_equal(ev.remove, 1);
	assert_ptr_equal(ev.thread, ut_threads[1]);
	assert_int_equal(unreg.count, 0);
	assert_int_equal(a->destructs, 0);
	assert_int_equal(spur_bdev_open("ut_h", false, ut_event_cb, NULL, &d), -ENODEV);

	/* New I/O fails at once; the request at the module completes normally. */
	ut_set_thread(1);
	assert_int_equal(spur_bdev_read_blocks(desc, ch, buf, 0, 1, ut_cpl_cb, &cpl2), -ENODEV);
	ut_complete_one(0);
	ut_poll();
	assert_int_equal(cpl.count, 1);
	assert_int_equal(cpl.status, 0);
	assert_ptr_equal(cpl.thread, ut_threads[1]);
	assert_int_equal(cpl2.count, 0);

	/* Last close: destruct, then the unregister callback on the app thread. */
	ut_set_thread(1);
	spur_put_io_channel(ch);
	spur_bdev_close(desc);
	ut_poll();
	assert_int_equal(a->destructs, 1);
	assert_int_equal(unreg.count, 1);
	assert_int_equal(unreg.status, 0);
	assert_ptr_equal(unreg.thread, ut_threads[0]);
	assert_null(spur_bdev_get_by_name("ut_h"));

	/* The name is free again; asynchronous destruct. */
	a->async_destruct = true;
	a->destructs = 0;
	memset(&unreg, 0, sizeof(unreg));
	a->bdev.internal = NULL;
	assert_int_equal(ut_fake_register(a), 0);
	spur_bdev_unregister(&a->bdev, unreg_cb, &unreg);
	ut_poll();
	assert_int_equal(a->destructs, 1);
	assert_int_equal(unreg.count, 0);
	spur_bdev_destruct_done(&a->bdev);
	ut_poll();
	assert_int_equal(unreg.count, 1);

	ut_subsystem_stop();
	ut_teardown();
	ut_fake_free(a);
}

static void
test_resize(void **state)
{
	struct ut_fake_bdev *a = ut_fake_create("ut_r", 512, 1024);
	struct ut_events ev = {0};
	struct ut_cpl cpl = {.free_io = true};
	struct spur_bdev_desc *desc;
	struct spur_io_channel *ch;
	char buf[512];

	ut_setup(1);
	ut_subsystem_start();
	ut_fake.inline_status = 0;
	assert_int_equal(ut_fake_register(a), 0);
	assert_int_equal(spur_bdev_open("ut_r", false, ut_event_cb, &ev, &desc), 0);
	ch = spur_bdev_get_io_channel(desc);

	assert_int_equal(spur_bdev_read_blocks(desc, ch, buf, 1024, 1, ut_cpl_cb, &cpl), -EINVAL);
	assert_int_equal(spur_bdev_notify_blockcnt_change(&a->bdev, 2048), 0);
	ut_poll();
	assert_int_equal(ev.resize, 1);
	assert_int_equal(spur_bdev_get_num_blocks(&a->bdev), 2048);
	/* The fake's store stays 1024 blocks: do not let it transfer. */
	ut_fake.inline_status = -1;
	assert_int_equal(spur_bdev_read_blocks(desc, ch, buf, 2047, 1, ut_cpl_cb, &cpl), 0);
	ut_poll();
	assert_int_equal(cpl.count, 1);
	assert_int_equal(spur_bdev_notify_blockcnt_change(&a->bdev, 100), 0);
	ut_poll();
	assert_int_equal(ev.resize, 2);
	assert_int_equal(spur_bdev_read_blocks(desc, ch, buf, 200, 1, ut_cpl_cb, &cpl), -EINVAL);
	assert_int_equal(spur_bdev_notify_blockcnt_change(&a->bdev, 0), -EINVAL);

	spur_put_io_channel(ch);
	spur_bdev_close(desc);
	ut_poll();
	ut_subsystem_stop();
	ut_teardown();
	ut_fake_free(a);
}

/* A front end that closes its descriptor when told the bdev goes away. */
struct closer {
	struct spur_bdev_desc *desc;
	int removes;
};

static void
closer_event(enum spur_bdev_event event, struct spur_bdev *bdev, void *ctx)
{
	struct closer *c = ctx;

	if (event == SPUR_BDEV_EVENT_REMOVE) {
		c->removes++;
		spur_bdev_close(c->desc);
		c->desc = NULL;
	}
}

static void
test_subsystem_order_and_config(void **state)
{
	struct ut_fake_bdev *base = ut_fake_create("ut_1", 512, 64);
	struct ut_fake_bdev *virt = ut_fake_create("ut_2", 512, 64);
	struct spur_bdev_qos_limits l = {.rw_ios_per_sec = 5000};
	struct closer fe = {0};
	struct ut_cpl done = {0};
	json_t *config, *e, *undo, *params;

	ut_setup(1);
	ut_subsystem_start();
	assert_int_equal(ut_fake_register(base), 0);
	/* virt sits on base: it opens and claims it. */
	assert_int_equal(spur_bdev_open("ut_1", false, ut_event_cb, NULL, &virt->base_desc), 0);
	assert_int_equal(spur_bdev_module_claim_bdev(&base->bdev, virt->base_desc, &ut_fake_module),
			 0);
	virt->base = base;
	assert_int_equal(ut_fake_register(virt), 0);
	/* A front end has the virtual bdev open. */
	assert_int_equal(spur_bdev_open("ut_2", false, closer_event, &fe, &fe.desc), 0);
	assert_int_equal(spur_bdev_set_qos_limits(&virt->bdev, &l, unreg_cb, &done), 0);
	ut_poll();
	assert_int_equal(done.count, 1);
	assert_int_equal(done.status, 0);

	config = json_array();
	spur_bdev_subsystem.write_config(config);
	assert_int_equal(json_array_size(config), 3);
	e = json_array_get(config, 0);
	assert_string_equal(json_string_value(json_object_get(e, "method")), "ut_fake_create");
	assert_string_equal(json_string_value(json_object_get(json_object_get(e, "params"), "name")),
			    "ut_1");
	e = json_array_get(config, 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(e, "params"), "name")),
			    "ut_2");
	e = json_array_get(config, 2);
	assert_string_equal(json_string_value(json_object_get(e, "method")), "bdev_set_qos_limit");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "params"),
							    "rw_ios_per_sec")), 5000);
	json_decref(config);

	params = json_pack("{s:s, s:i}", "name", "ut_2", "rw_ios_per_sec", 0);
	undo = spur_bdev_subsystem.undo_call("bdev_set_qos_limit", params);
	assert_non_null(undo);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(undo, "params"),
							    "rw_ios_per_sec")), 5000);
	json_decref(undo);
	json_decref(params);
	assert_null(spur_bdev_subsystem.undo_call("ut_unknown_method", NULL));

	/* Stop: the virtual bdev first (its opener closes), then its base. */
	ut_subsystem_stop();
	assert_int_equal(fe.removes, 1);
	assert_int_equal(ut_fake.num_destructs, 2);
	assert_int_equal(ut_fake.destruct_order[0], '2');
	assert_int_equal(ut_fake.destruct_order[1], '1');
	ut_teardown();
	ut_fake_free(base);
	ut_fake_free(virt);
}

/* ---- RPC ------------------------------------------------------------------------- */

struct call_out {
	int done;
	int code;
	char message[256];
	json_t *result;
};

static void
call_cb(void *ctx, int code, const char *message, json_t *result)
{
	struct call_out *o = ctx;

	o->done++;
	o->code = code;
	snprintf(o->message, sizeof(o->message), "%s", message ? message : "");
	o->result = result ? json_deep_copy(result) : NULL;
}

static struct call_out
call(const char *method, const char *params_text)
{
	struct call_out o = {0};
	json_t *params = params_text ? json_loads(params_text, 0, NULL) : NULL;

	spur_rpc_call(method, params, call_cb, &o);
	for (int i = 0; i < 100 && o.done == 0; i++) {
		ut_advance_us(10000);
	}
	json_decref(params);
	assert_int_equal(o.done, 1);
	return o;
}

static void
test_rpc(void **state)
{
	struct ut_fake_bdev *a = ut_fake_create("ut_rpc", 512, 4096), *late;
	struct call_out o;
	struct spur_bdev_desc *desc;
	struct spur_io_channel *ch;
	struct ut_cpl cpl = {.free_io = true};
	json_t *b, *t;
	char buf[1024];

	ut_setup(1);
	spur_rpc_register_methods(g_bdev_rpc_methods, BDEV_RPC_NUM_METHODS);
	spur_rpc_set_state(SPUR_RPC_RUNTIME);
	ut_subsystem_start();
	assert_int_equal(ut_fake_register(a), 0);
	assert_int_equal(spur_bdev_alias_add(&a->bdev, "rpc_alias"), 0);

	o = call("bdev_get_bdevs", NULL);
	assert_int_equal(o.code, 0);
	assert_int_equal(json_array_size(o.result), 1);
	b = json_array_get(o.result, 0);
	assert_string_equal(json_string_value(json_object_get(b, "name")), "ut_rpc");
	assert_string_equal(json_string_value(json_array_get(json_object_get(b, "aliases"), 0)),
			    "rpc_alias");
	assert_string_equal(json_string_value(json_object_get(b, "product_name")), "ut fake disk");
	assert_int_equal(json_integer_value(json_object_get(b, "block_size")), 512);
	assert_int_equal(json_integer_value(json_object_get(b, "num_blocks")), 4096);
	assert_int_equal(strlen(json_string_value(json_object_get(b, "uuid"))), 36);
	assert_true(json_is_false(json_object_get(b, "claimed")));
	assert_true(json_is_false(json_object_get(b, "zoned")));
	t = json_object_get(b, "supported_io_types");
	assert_true(json_is_true(json_object_get(t, "read")));
	assert_true(json_is_true(json_object_get(t, "reset")));
	assert_true(json_is_false(json_object_get(t, "write_zeroes")));
	assert_true(json_is_false(json_object_get(t, "nvme_admin")));
	assert_true(json_is_false(json_object_get(t, "compare_and_write")));
	assert_true(json_is_true(json_object_get(json_object_get(b, "driver_specific"), "ut_fake")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(b,
			 "assigned_rate_limits"), "rw_ios_per_sec")), 0);
	json_decref(o.result);

	o = call("bdev_get_bdevs", "{\"name\": \"rpc_alias\"}");
	assert_int_equal(o.code, 0);
	assert_int_equal(json_array_size(o.result), 1);
	json_decref(o.result);

	o = call("bdev_get_bdevs", "{\"name\": \"nope\"}");
	assert_int_equal(o.code, -ENODEV);
	assert_non_null(strstr(o.message, "nope"));

	/* timeout: the bdev appears while the call waits. */
	{
		struct call_out w = {0};
		json_t *params = json_pack("{s:s, s:i}", "name", "ut_late", "timeout", 60000);

		spur_rpc_call("bdev_get_bdevs", params, call_cb, &w);
		json_decref(params);
		ut_advance_us(10000);
		assert_int_equal(w.done, 0);
		late = ut_fake_create("ut_late", 512, 8);
		assert_int_equal(ut_fake_register(late), 0);
		ut_advance_us(10000);
		assert_int_equal(w.done, 1);
		assert_int_equal(w.code, 0);
		json_decref(w.result);
	}
	/* timeout expiring. */
	{
		struct call_out w = {0};
		json_t *params = json_pack("{s:s, s:i}", "name", "ut_never", "timeout", 1);

		spur_rpc_call("bdev_get_bdevs", params, call_cb, &w);
		json_decref(params);
		usleep(3000);
		ut_advance_us(10000);
		assert_int_equal(w.done, 1);
		assert_int_equal(w.code, -ENODEV);
	}

	/* QoS limits. */
	o = call("bdev_set_qos_limit", "{\"name\": \"ut_rpc\", \"rw_ios_per_sec\": 1500}");
	assert_int_equal(o.code, SPUR_RPC_ERROR_INVALID_PARAMS);
	o = call("bdev_set_qos_limit", "{\"name\": \"ut_rpc\"}");
	assert_int_equal(o.code, SPUR_RPC_ERROR_INVALID_PARAMS);
	o = call("bdev_set_qos_limit", "{\"name\": \"nope\", \"rw_ios_per_sec\": 1000}");
	assert_int_equal(o.code, -ENODEV);
	o = call("bdev_set_qos_limit", "{\"name\": \"ut_rpc\", \"rw_ios_per_sec\": 20000, "
		 "\"r_mbytes_per_sec\": 50}");
	assert_int_equal(o.code, 0);
	o = call("bdev_set_qos_limit", "{\"name\": \"ut_rpc\", \"w_mbytes_per_sec\": 10}");
	assert_int_equal(o.code, 0);
	o = call("bdev_get_bdevs", "{\"name\": \"ut_rpc\"}");
	t = json_object_get(json_array_get(o.result, 0), "assigned_rate_limits");
	assert_int_equal(json_integer_value(json_object_get(t, "rw_ios_per_sec")), 20000);
	assert_int_equal(json_integer_value(json_object_get(t, "rw_mbytes_per_sec")), 0);
	assert_int_equal(json_integer_value(json_object_get(t, "r_mbytes_per_sec")), 50);
	assert_int_equal(json_integer_value(json_object_get(t, "w_mbytes_per_sec")), 10);
	json_decref(o.result);
	o = call("bdev_set_qos_limit", "{\"name\": \"ut_rpc\", \"rw_ios_per_sec\": 0, "
		 "\"r_mbytes_per_sec\": 0, \"w_mbytes_per_sec\": 0}");
	assert_int_equal(o.code, 0);
	assert_null(atomic_load(&a->bdev.internal->qos));

	/* I/O statistics. */
	ut_fake.inline_status = 0;
	assert_int_equal(spur_bdev_open("ut_rpc", true, ut_event_cb, NULL, &desc), 0);
	ch = spur_bdev_get_io_channel(desc);
	assert_int_equal(spur_bdev_read_blocks(desc, ch, buf, 0, 2, ut_cpl_cb, &cpl), 0);
	assert_int_equal(spur_bdev_write_blocks(desc, ch, buf, 0, 1, ut_cpl_cb, &cpl), 0);
	ut_poll();
	o = call("bdev_get_iostat", NULL);
	assert_int_equal(o.code, 0);
	assert_true(json_integer_value(json_object_get(o.result, "tick_rate")) > 0);
	assert_true(json_integer_value(json_object_get(o.result, "ticks")) > 0);
	b = json_array_get(json_object_get(o.result, "bdevs"), 0);
	assert_string_equal(json_string_value(json_object_get(b, "name")), "ut_rpc");
	assert_int_equal(json_integer_value(json_object_get(b, "num_read_ops")), 1);
	assert_int_equal(json_integer_value(json_object_get(b, "bytes_read")), 1024);
	assert_int_equal(json_integer_value(json_object_get(b, "num_write_ops")), 1);
	assert_int_equal(json_integer_value(json_object_get(b, "bytes_written")), 512);
	assert_non_null(json_object_get(b, "read_latency_ticks"));
	assert_non_null(json_object_get(b, "io_error"));
	assert_int_equal(json_integer_value(json_object_get(b, "queue_depth")), 0);
	json_decref(o.result);
	o = call("bdev_get_iostat", "{\"name\": \"ut_rpc\", \"per_channel\": true}");
	assert_int_equal(o.code, 0);
	assert_string_equal(json_string_value(json_object_get(o.result, "name")), "ut_rpc");
	assert_int_equal(json_array_size(json_object_get(o.result, "channels")), 1);
	b = json_array_get(json_object_get(o.result, "channels"), 0);
	assert_int_equal(json_integer_value(json_object_get(b, "num_read_ops")), 1);
	json_decref(o.result);
	o = call("bdev_get_iostat", "{\"per_channel\": true}");
	assert_int_equal(o.code, SPUR_RPC_ERROR_INVALID_PARAMS);
	o = call("bdev_get_iostat", "{\"name\": \"nope\"}");
	assert_int_equal(o.code, -ENODEV);
	spur_put_io_channel(ch);
	spur_bdev_close(desc);
	ut_poll();

	o = call("bdev_wait_for_examine", NULL);
	assert_int_equal(o.code, 0);
	assert_true(json_is_true(o.result));
	json_decref(o.result);

	/* Options: same values are fine at run time, changes are not. */
	o = call("bdev_set_options", "{\"bdev_io_pool_size\": 1000}");
	assert_int_equal(o.code, SPUR_RPC_ERROR_INVALID_STATE);
	o = call("bdev_set_options", "{\"bdev_io_pool_size\": 65535, \"bdev_io_cache_size\": 256, "
		 "\"bdev_auto_examine\": true, \"iobuf_small_cache_size\": 128, "
		 "\"iobuf_large_cache_size\": 16}");
	assert_int_equal(o.code, 0);
	json_decref(o.result);

	ut_subsystem_stop();
	/* Before start, sizes may change. */
	o = call("bdev_set_options", "{\"bdev_io_pool_size\": 1000, \"bdev_io_cache_size\": 2000}");
	assert_int_equal(o.code, SPUR_RPC_ERROR_INVALID_PARAMS);
	o = call("bdev_set_options", "{\"bdev_io_pool_size\": 1000}");
	assert_int_equal(o.code, 0);
	assert_int_equal(g_bdev_opts.io_pool_size, 1000);
	{
		json_t *config = json_array();

		spur_bdev_subsystem.write_config(config);
		assert_int_equal(json_array_size(config), 1);
		assert_string_equal(json_string_value(json_object_get(json_array_get(config, 0),
								      "method")), "bdev_set_options");
		json_decref(config);
	}
	g_bdev_opts.io_pool_size = 65535;
	ut_teardown();
	ut_fake_free(a);
	ut_fake_free(late);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_names),
		cmocka_unit_test(test_open_claims),
		cmocka_unit_test(test_hot_remove),
		cmocka_unit_test(test_resize),
		cmocka_unit_test(test_subsystem_order_and_config),
		cmocka_unit_test(test_rpc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
