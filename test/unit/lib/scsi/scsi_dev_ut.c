/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Devices, LUNs and unit attentions: POWER ON after LUN creation, reported
 * once per initiator; REPORTED LUNS DATA HAS CHANGED after LUN add/remove;
 * CAPACITY DATA HAS CHANGED after a resize; hot-remove; removal waiting for
 * in-flight tasks; the event hook; channels on two threads; LUN addressing;
 * device management errors.
 */
#include <errno.h>
#include <string.h>

#include "ut_scsi.h"

static uint8_t g_tur[6];
static uint8_t g_buf[8 * UT_BS];

static void
tur(struct ut_req *r, const struct spur_scsi_port *p, uint16_t lun)
{
	ut_run(r, 0, p, lun, g_tur, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
}

static void
test_power_on_ua(void **state)
{
	struct spur_scsi_port c;
	uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
	struct ut_req r;

	/* A new initiator: INQUIRY is not blocked, then TUR reports 29/00 once. */
	assert_int_equal(spur_scsi_port_init(&c, 3, "iqn.c"), 0);
	ut_run(&r, 0, &c, 0, inq, 6, SPUR_SCSI_DIR_FROM_DEV, g_buf, 36);
	assert_int_equal(r.task.status, 0);
	tur(&r, &c, 0);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_UNIT_ATTENTION, 0x29, 0x00);
	assert_int_equal(r.task.residual_flags, 0);
	tur(&r, &c, 0);
	assert_int_equal(r.task.status, 0);
	/* Initiators a and b drained theirs in setup: nothing for them. */
	tur(&r, &ut_a, 0);
	assert_int_equal(r.task.status, 0);
	/* REQUEST SENSE reports a pending UA as data and clears it. */
	assert_int_equal(spur_scsi_port_init(&c, 4, "iqn.d"), 0);
	ut_run(&r, 0, &c, 0, (uint8_t[6]){ 0x03, 0, 0, 0, 18, 0 }, 6, SPUR_SCSI_DIR_FROM_DEV,
	       g_buf, 18);
	assert_int_equal(r.task.status, 0);
	assert_int_equal(g_buf[2], SPUR_SCSI_SENSE_UNIT_ATTENTION);
	assert_int_equal(g_buf[12], 0x29);
	tur(&r, &c, 0);
	assert_int_equal(r.task.status, 0);
	/* The second thread shares the same per-initiator state. */
	assert_int_equal(spur_scsi_port_init(&c, 5, "iqn.e"), 0);
	ut_run(&r, 1, &c, 0, g_tur, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_UNIT_ATTENTION, 0x29, 0x00);
	tur(&r, &c, 0);
	assert_int_equal(r.task.status, 0);
}

static void
test_lun_add_remove(void **state)
{
	struct ut_disk *d1 = ut_disk_create("d1", 4096, 64);
	struct ut_req r;
	uint8_t rc16[16] = { 0x9e, 0x10 };

	assert_int_equal(spur_scsi_dev_add_lun(ut_dev, 3, "d1", NULL), 0);
	assert_int_equal(ut_ev.added, 1);
	assert_int_equal(ut_ev.last_lun, 3);
	assert_int_equal(spur_scsi_dev_get_lun_count(ut_dev), 2);
	assert_true(spur_scsi_dev_has_lun(ut_dev, 3));
	assert_ptr_equal(spur_scsi_dev_next_lun(ut_dev, spur_scsi_dev_first_lun(ut_dev)),
			 spur_scsi_dev_get_lun(ut_dev, 3));
	assert_string_equal(spur_scsi_lun_get_bdev_name(spur_scsi_dev_get_lun(ut_dev, 3)), "d1");
	/* LUN 0's initiators learn that the inventory changed, once each. */
	tur(&r, &ut_a, 0);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_UNIT_ATTENTION, 0x3f, 0x0e);
	tur(&r, &ut_a, 0);
	assert_int_equal(r.task.status, 0);
	tur(&r, &ut_b, 0);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_UNIT_ATTENTION, 0x3f, 0x0e);
	/* The new LUN: POWER ON first, then it works with its own geometry. */
	tur(&r, &ut_a, 3);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_UNIT_ATTENTION, 0x29, 0x00);
	ut_be32(&rc16[10], 32);
	ut_run(&r, 0, &ut_a, 3, rc16, 16, SPUR_SCSI_DIR_FROM_DEV, g_buf, 32);
	assert_int_equal(r.task.status, 0);
	assert_int_equal(ut_get64(g_buf), 63);
	assert_int_equal(ut_get32(&g_buf[8]), 4096);
	/* Errors. */
	assert_int_equal(spur_scsi_dev_add_lun(ut_dev, 3, "d1", NULL), -EEXIST);
	assert_int_equal(spur_scsi_dev_add_lun(ut_dev, 4, "nope", NULL), -ENODEV);
	assert_int_equal(spur_scsi_dev_add_lun(ut_dev, SPUR_SCSI_DEV_MAX_LUN, "d1", NULL), -EINVAL);
	assert_int_equal(spur_scsi_dev_remove_lun(ut_dev, 9, NULL, NULL), -ENOENT);
	/* Remove: gone for I/O at once, event and UA once closed. */
	tur(&r, &ut_a, 3); /* consume nothing pending */
	assert_int_equal(spur_scsi_dev_remove_lun(ut_dev, 3, NULL, NULL), 0);
	assert_int_equal(spur_scsi_dev_remove_lun(ut_dev, 3, NULL, NULL), -EBUSY);
	assert_false(spur_scsi_dev_has_lun(ut_dev, 3));
	ut_poll();
	assert_int_equal(ut_ev.removed, 1);
	assert_null(spur_scsi_dev_get_lun(ut_dev, 3));
	tur(&r, &ut_a, 3);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x25, 0x00);
	tur(&r, &ut_a, 0);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_UNIT_ATTENTION, 0x3f, 0x0e);
	/* The id can be reused at once. */
	assert_int_equal(spur_scsi_dev_add_lun(ut_dev, 3, "d1", NULL), 0);
	(void)d1;
}

static bool g_remove_cb;

static void
remove_cb(void *arg, int status)
{
	assert_int_equal(status, 0);
	g_remove_cb = true;
}

static void
test_remove_waits_for_io(void **state)
{
	struct ut_req r0, r1, r2;
	uint8_t cdb[10];

	ut_cdb_rw10(cdb, 0x28, 0, 1);
	ut_d0->hold = true;
	assert_int_equal(ut_submit(&r0, 0, &ut_a, 0, cdb, 10, SPUR_SCSI_DIR_FROM_DEV, g_buf,
				   UT_BS), 0);
	assert_int_equal(ut_submit(&r1, 1, &ut_b, 0, cdb, 10, SPUR_SCSI_DIR_FROM_DEV,
				   g_buf + UT_BS, UT_BS), 0);
	ut_poll();
	assert_int_equal(ut_d0->nheld, 2);
	g_remove_cb = false;
	assert_int_equal(spur_scsi_dev_remove_lun(ut_dev, 0, remove_cb, NULL), 0);
	ut_poll();
	assert_false(g_remove_cb);
	assert_int_equal(ut_ev.removed, 0);
	/* New tasks are refused while the old ones finish. */
	ut_run(&r2, 0, &ut_a, 0, cdb, 10, SPUR_SCSI_DIR_FROM_DEV, g_buf, UT_BS);
	ut_assert_sense(&r2.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x25, 0x00);
	assert_int_equal(spur_scsi_dev_add_lun(ut_dev, 0, "d0", NULL), -EEXIST);
	ut_d0->hold = false;
	ut_disk_release(ut_d0, 0);
	ut_poll();
	assert_int_equal(r0.done, 1);
	assert_int_equal(r1.done, 1);
	assert_int_equal(r0.task.status, 0);
	assert_true(g_remove_cb);
	assert_int_equal(ut_ev.removed, 1);
	assert_int_equal(spur_scsi_dev_get_lun_count(ut_dev), 0);
}

static void
test_resize(void **state)
{
	struct ut_req r;
	uint8_t rc10[10] = { 0x25 }, cdb[10];

	assert_int_equal(spur_bdev_notify_blockcnt_change(&ut_d0->bdev, UT_BLOCKS / 2), 0);
	ut_poll();
	assert_int_equal(ut_ev.resized, 1);
	ut_cmd(&r, rc10, 10, SPUR_SCSI_DIR_FROM_DEV, g_buf, 8);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_UNIT_ATTENTION, 0x2a, 0x09);
	assert_int_equal(ut_cmd(&r, rc10, 10, SPUR_SCSI_DIR_FROM_DEV, g_buf, 8), 0);
	assert_int_equal(ut_get32(g_buf), UT_BLOCKS / 2 - 1);
	ut_cdb_rw10(cdb, 0x28, UT_BLOCKS / 2, 1);
	ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_FROM_DEV, g_buf, UT_BS);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x21, 0x00);
	/* The other initiator has its own copy of the condition. */
	ut_run(&r, 1, &ut_b, 0, g_tur, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_UNIT_ATTENTION, 0x2a, 0x09);
}

static int g_hot;

static void
hotremove(struct spur_scsi_dev *dev, uint16_t lun_id, void *ctx)
{
	assert_ptr_equal(dev, ut_dev);
	assert_int_equal(lun_id, 2);
	assert_false(spur_scsi_dev_has_lun(dev, 2));
	g_hot++;
}

static void
test_hot_remove(void **state)
{
	struct ut_disk *d2 = ut_disk_create("d2", UT_BS, 16);
	struct spur_scsi_lun_opts o;
	struct ut_req r;
	uint8_t cdb[10];

	spur_scsi_lun_opts_init(&o, sizeof(o));
	o.hotremove_cb = hotremove;
	g_hot = 0;
	assert_int_equal(spur_scsi_dev_add_lun(ut_dev, 2, "d2", &o), 0);
	ut_drain_ua(&ut_a, 2);
	/* One read in flight on LUN 2 when the bdev goes away. */
	d2->hold = true;
	ut_cdb_rw10(cdb, 0x28, 0, 1);
	assert_int_equal(ut_submit(&r, 1, &ut_a, 2, cdb, 10, SPUR_SCSI_DIR_FROM_DEV, g_buf,
				   UT_BS), 0);
	ut_poll();
	ut_disk_unregister(d2);
	ut_poll();
	assert_int_equal(g_hot, 1);
	assert_int_equal(ut_ev.removed, 0);
	assert_false(d2->destructed);
	d2->hold = false;
	ut_disk_release(d2, 0);
	ut_poll();
	assert_int_equal(r.done, 1);
	assert_int_equal(ut_ev.removed, 1);
	assert_true(d2->destructed);
	tur(&r, &ut_a, 2);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x25, 0x00);
}

static void
test_lun_addressing(void **state)
{
	uint8_t lun[8];

	spur_scsi_lun_id_encode(5, lun);
	assert_memory_equal(lun, ((uint8_t[8]){ 0, 5 }), 8);
	assert_int_equal(spur_scsi_lun_id_decode(lun), 5);
	assert_int_equal(spur_scsi_lun_id_decode((uint8_t[8]){ 0x40, 0x07 }), 7); /* flat */
	assert_int_equal(spur_scsi_lun_id_decode((uint8_t[8]){ 0x41, 0x00 }), -EINVAL);
	assert_int_equal(spur_scsi_lun_id_decode((uint8_t[8]){ 0x00, 0x01, 0, 1 }), -EINVAL);
	assert_int_equal(spur_scsi_lun_id_decode((uint8_t[8]){ 0x80, 0x01 }), -EINVAL);
	assert_int_equal(spur_scsi_lun_id_decode((uint8_t[8]){ 0x01, 0x01 }), -EINVAL);
}

static void
test_dev_api(void **state)
{
	struct spur_scsi_port p;
	char longname[SPUR_SCSI_PORT_NAME_MAX + 1];

	assert_null(spur_scsi_dev_create(""));
	assert_null(spur_scsi_dev_create(NULL));
	assert_string_equal(spur_scsi_dev_get_name(ut_dev), "ut_dev");
	assert_int_equal(spur_scsi_port_init(&p, 0, "x"), -EINVAL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(spur_scsi_port_init(&p, 7, longname), -ENAMETOOLONG);
	assert_false(spur_scsi_lun_is_read_only(spur_scsi_dev_get_lun(ut_dev, 0)));
	assert_false(spur_scsi_lun_is_removing(spur_scsi_dev_get_lun(ut_dev, 0)));
	assert_ptr_equal(spur_scsi_lun_get_bdev(spur_scsi_dev_get_lun(ut_dev, 0)), &ut_d0->bdev);
	assert_int_equal(spur_scsi_lun_get_id(spur_scsi_dev_get_lun(ut_dev, 0)), 0);
}

static bool g_destroyed2;

static void
destroyed2(void *arg)
{
	g_destroyed2 = true;
}

static void
test_destroy_with_luns(void **state)
{
	struct spur_scsi_dev *dev = spur_scsi_dev_create("other");
	struct spur_io_channel *ch;

	assert_non_null(dev);
	assert_int_equal(spur_scsi_dev_add_lun(dev, 0, "d0", NULL), 0);
	assert_int_equal(spur_scsi_dev_add_lun(dev, 1, "d0", NULL), 0);
	spur_set_thread(ut_io[0]);
	ch = spur_scsi_dev_get_io_channel(dev);
	assert_non_null(ch);
	spur_set_thread(ut_app);
	g_destroyed2 = false;
	spur_scsi_dev_destroy(dev, destroyed2, NULL);
	ut_poll();
	/* Waits for the front end's channel. */
	assert_false(g_destroyed2);
	spur_set_thread(ut_io[0]);
	assert_null(spur_scsi_dev_get_io_channel(dev));
	spur_put_io_channel(ch);
	spur_set_thread(ut_app);
	ut_poll();
	assert_true(g_destroyed2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_power_on_ua, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_lun_add_remove, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_remove_waits_for_io, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_resize, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_hot_remove, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_lun_addressing, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_dev_api, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_destroy_with_luns, ut_setup, ut_teardown),
	};

	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
