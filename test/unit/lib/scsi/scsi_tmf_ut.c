/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Task management: ABORT TASK, ABORT TASK SET, LOGICAL UNIT RESET and
 * TARGET RESET against outstanding I/O on two threads, their completion
 * order (the function completes after the tasks it aborted), the unit
 * attentions resets establish, and misuse of the API.
 */
#include <errno.h>
#include <string.h>

#include "ut_scsi.h"

static uint8_t g_buf[16 * UT_BS];

struct ut_mgmt {
	struct spur_scsi_mgmt_task m;
	int done;
	int seq;
};

static void
mgmt_done(struct spur_scsi_mgmt_task *m)
{
	struct ut_mgmt *u = SPUR_CONTAINER_OF(m, struct ut_mgmt, m);

	u->done++;
	u->seq = ++ut_seq;
}

static int
tmf(struct ut_mgmt *u, int t, enum spur_scsi_tmf fn, const struct spur_scsi_port *p,
    uint16_t lun, uint64_t tag)
{
	int rc;

	spur_scsi_mgmt_task_construct(&u->m, mgmt_done, u);
	u->done = 0;
	u->m.function = fn;
	u->m.lun_id = lun;
	u->m.initiator = p;
	u->m.abort_tag = tag;
	spur_set_thread(ut_io[t]);
	rc = spur_scsi_dev_queue_mgmt_task(ut_dev, ut_ch[t], &u->m);
	assert_int_equal(u->done, 0);
	spur_set_thread(ut_app);
	return rc;
}

static void
read_at(struct ut_req *r, int t, const struct spur_scsi_port *p, uint16_t lun, uint32_t lba,
	uint64_t tag)
{
	uint8_t cdb[10];

	ut_cdb_rw10(cdb, 0x28, lba, 1);
	assert_int_equal(ut_submit(r, t, p, lun, cdb, 10, SPUR_SCSI_DIR_FROM_DEV,
				   g_buf + (lba % 16) * UT_BS, UT_BS), 0);
	r->task.tag = tag;
}

static void
test_abort_task(void **state)
{
	struct ut_req r10, r11;
	struct ut_mgmt m;

	ut_d0->hold = true;
	read_at(&r10, 0, &ut_a, 0, 1, 10);
	read_at(&r11, 0, &ut_a, 0, 2, 11);
	ut_poll();
	assert_int_equal(tmf(&m, 0, SPUR_SCSI_TMF_ABORT_TASK, &ut_a, 0, 10), 0);
	ut_poll();
	assert_int_equal(m.done, 0); /* waits for the task to be gone */
	ut_d0->hold = false;
	ut_disk_release(ut_d0, 0);
	ut_poll();
	assert_int_equal(r10.done, 1);
	assert_int_equal(r10.task.response, SPUR_SCSI_TASK_ABORTED);
	assert_int_equal(r11.done, 1);
	assert_int_equal(r11.task.response, SPUR_SCSI_TASK_COMPLETE);
	assert_int_equal(r11.task.status, 0);
	assert_int_equal(m.done, 1);
	assert_int_equal(m.m.response, SPUR_SCSI_TMF_FUNCTION_COMPLETE);
	assert_int_equal(m.m.aborted_count, 1);
	/* Another initiator's tag is not ours; nothing matches: complete at once. */
	assert_int_equal(tmf(&m, 1, SPUR_SCSI_TMF_ABORT_TASK, &ut_b, 0, 10), 0);
	ut_poll();
	assert_int_equal(m.done, 1);
	assert_int_equal(m.m.aborted_count, 0);
	assert_int_equal(m.m.response, SPUR_SCSI_TMF_FUNCTION_COMPLETE);
}

static void
test_abort_task_set(void **state)
{
	struct ut_req ra[4], rb;
	struct ut_mgmt m;

	ut_d0->hold = true;
	for (int i = 0; i < 4; i++) {
		read_at(&ra[i], i % 2, &ut_a, 0, (uint32_t)i, (uint64_t)i);
	}
	read_at(&rb, 1, &ut_b, 0, 9, 0);
	ut_poll();
	assert_int_equal(tmf(&m, 0, SPUR_SCSI_TMF_ABORT_TASK_SET, &ut_a, 0, 0), 0);
	ut_poll();
	assert_int_equal(m.done, 0);
	ut_d0->hold = false;
	ut_disk_release(ut_d0, 0);
	ut_poll();
	assert_int_equal(m.done, 1);
	assert_int_equal(m.m.aborted_count, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(ra[i].task.response, SPUR_SCSI_TASK_ABORTED);
	}
	assert_int_equal(rb.task.response, SPUR_SCSI_TASK_COMPLETE);
	assert_int_equal(rb.task.status, 0);
}

static void
test_lun_reset(void **state)
{
	struct ut_req r[4];
	struct ut_mgmt m;
	struct ut_req t;

	ut_d0->hold = true;
	read_at(&r[0], 0, &ut_a, 0, 0, 1);
	read_at(&r[1], 1, &ut_a, 0, 1, 2);
	read_at(&r[2], 0, &ut_b, 0, 2, 3);
	read_at(&r[3], 1, &ut_b, 0, 3, 4);
	ut_poll();
	assert_int_equal(ut_d0->nheld, 4);
	/* The reset reaches the bdev, which aborts what it holds: no waiting. */
	assert_int_equal(tmf(&m, 1, SPUR_SCSI_TMF_LUN_RESET, &ut_a, 0, 0), 0);
	ut_poll();
	assert_int_equal(ut_d0->count[SPUR_BDEV_IO_RESET], 1);
	assert_int_equal(m.done, 1);
	assert_int_equal(m.m.response, SPUR_SCSI_TMF_FUNCTION_COMPLETE);
	assert_int_equal(m.m.aborted_count, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r[i].done, 1);
		assert_int_equal(r[i].task.response, SPUR_SCSI_TASK_ABORTED);
	}
	/* Every initiator gets BUS DEVICE RESET FUNCTION OCCURRED, once. */
	ut_run(&t, 0, &ut_a, 0, (uint8_t[6]){ 0 }, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
	ut_assert_sense(&t.task, SPUR_SCSI_SENSE_UNIT_ATTENTION, 0x29, 0x03);
	ut_run(&t, 1, &ut_b, 0, (uint8_t[6]){ 0 }, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
	ut_assert_sense(&t.task, SPUR_SCSI_SENSE_UNIT_ATTENTION, 0x29, 0x03);
	ut_run(&t, 1, &ut_b, 0, (uint8_t[6]){ 0 }, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
	assert_int_equal(t.task.status, 0);
	/* A stopped unit is started again by a reset. */
	ut_run(&t, 0, &ut_a, 0, (uint8_t[6]){ 0x1b, 0, 0, 0, 0x04, 0 }, 6, SPUR_SCSI_DIR_NONE,
	       NULL, 0);
	assert_int_equal(t.task.status, 0);
	ut_run(&t, 0, &ut_a, 0, (uint8_t[6]){ 0 }, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
	ut_assert_sense(&t.task, SPUR_SCSI_SENSE_NOT_READY, 0x04, 0x02);
	assert_int_equal(tmf(&m, 0, SPUR_SCSI_TMF_LUN_RESET, &ut_a, 0, 0), 0);
	ut_poll();
	assert_int_equal(m.done, 1);
	ut_drain_ua(&ut_a, 0);
	ut_run(&t, 0, &ut_a, 0, (uint8_t[6]){ 0 }, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
	assert_int_equal(t.task.status, 0);
	/* No such LUN. */
	assert_int_equal(tmf(&m, 0, SPUR_SCSI_TMF_LUN_RESET, &ut_a, 9, 0), 0);
	ut_poll();
	assert_int_equal(m.done, 1);
	assert_int_equal(m.m.response, SPUR_SCSI_TMF_INCORRECT_LUN);
}

static void
test_target_reset(void **state)
{
	struct ut_disk *d1 = ut_disk_create("d1", UT_BS, 64);
	struct ut_req r0, r1, t;
	struct ut_mgmt m;

	assert_int_equal(spur_scsi_dev_add_lun(ut_dev, 1, "d1", NULL), 0);
	ut_drain_ua(&ut_a, 0);
	ut_drain_ua(&ut_a, 1);
	ut_d0->hold = true;
	d1->hold = true;
	read_at(&r0, 0, &ut_a, 0, 0, 1);
	read_at(&r1, 1, &ut_a, 1, 0, 2);
	ut_poll();
	assert_int_equal(tmf(&m, 0, SPUR_SCSI_TMF_TARGET_RESET, &ut_a, 0, 0), 0);
	ut_poll();
	assert_int_equal(m.done, 1);
	assert_int_equal(m.m.aborted_count, 2);
	assert_int_equal(r0.task.response, SPUR_SCSI_TASK_ABORTED);
	assert_int_equal(r1.task.response, SPUR_SCSI_TASK_ABORTED);
	assert_int_equal(d1->count[SPUR_BDEV_IO_RESET], 1);
	for (uint16_t lun = 0; lun < 2; lun++) {
		ut_run(&t, 0, &ut_a, lun, (uint8_t[6]){ 0 }, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
		ut_assert_sense(&t.task, SPUR_SCSI_SENSE_UNIT_ATTENTION, 0x29, 0x03);
	}
	/* A device without LUNs: complete, never from inside the call. */
	assert_int_equal(spur_scsi_dev_remove_lun(ut_dev, 0, NULL, NULL), 0);
	assert_int_equal(spur_scsi_dev_remove_lun(ut_dev, 1, NULL, NULL), 0);
	ut_poll();
	assert_int_equal(tmf(&m, 0, SPUR_SCSI_TMF_TARGET_RESET, &ut_a, 0, 0), 0);
	ut_poll();
	assert_int_equal(m.done, 1);
	assert_int_equal(m.m.aborted_count, 0);
}

static void
test_abort_waiting_task(void **state)
{
	uint8_t cdb[16] = { 0x89 }, d[2 * UT_BS] = { 0 };
	struct ut_req c1, c2;
	struct ut_mgmt m;

	/* c1 holds the LUN's COMPARE AND WRITE lock (its read is held); c2 waits for it. */
	cdb[13] = 1;
	ut_d0->hold = true;
	assert_int_equal(ut_submit(&c1, 0, &ut_a, 0, cdb, 16, SPUR_SCSI_DIR_TO_DEV, d,
				   sizeof(d)), 0);
	assert_int_equal(ut_submit(&c2, 1, &ut_b, 0, cdb, 16, SPUR_SCSI_DIR_TO_DEV, d,
				   sizeof(d)), 0);
	c2.task.tag = 77;
	ut_poll_rounds(20);
	assert_int_equal(ut_d0->nheld, 1);
		assert_int_equal(tmf(&m, 1, SPUR_SCSI_TMF_ABORT_TASK, &ut_b, 0, 77), 0);
	ut_poll_rounds(50);
	/* The waiting task ends without the disk, then the function completes. */
	assert_int_equal(c2.done, 1);
	assert_int_equal(c2.task.response, SPUR_SCSI_TASK_ABORTED);
	assert_int_equal(m.done, 1);
	assert_true(c2.seq < m.seq);
	assert_int_equal(c1.done, 0);
	ut_d0->hold = false;
	ut_disk_release(ut_d0, 0);
	ut_poll();
	assert_int_equal(c1.done, 1);
	assert_int_equal(c1.task.status, 0);
}

static void
test_mgmt_misuse(void **state)
{
	struct ut_mgmt m;
	struct ut_req r;

	assert_int_equal(tmf(&m, 0, (enum spur_scsi_tmf)42, &ut_a, 0, 0), -EINVAL);
	assert_int_equal(tmf(&m, 0, SPUR_SCSI_TMF_ABORT_TASK, NULL, 0, 0), -EINVAL);
	/* Busy while in progress. */
	ut_d0->hold = true;
	read_at(&r, 0, &ut_a, 0, 0, 5);
	ut_poll();
	assert_int_equal(tmf(&m, 0, SPUR_SCSI_TMF_ABORT_TASK, &ut_a, 0, 5), 0);
	ut_poll();
	spur_set_thread(ut_io[0]);
	assert_int_equal(spur_scsi_dev_queue_mgmt_task(ut_dev, ut_ch[0], &m.m), -EBUSY);
	spur_set_thread(ut_app);
	ut_d0->hold = false;
	ut_disk_release(ut_d0, 0);
	ut_poll();
	assert_int_equal(m.done, 1);
	assert_ptr_equal(spur_scsi_mgmt_task_get_cb_arg(&m.m), &m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_abort_task, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_abort_task_set, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_lun_reset, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_target_reset, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_abort_waiting_task, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_mgmt_misuse, ut_setup, ut_teardown),
	};

	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
