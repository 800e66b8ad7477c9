/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Persistent reservations: PERSISTENT RESERVE OUT (REGISTER, REGISTER AND
 * IGNORE, RESERVE, RELEASE, CLEAR, PREEMPT, PREEMPT AND ABORT), PERSISTENT
 * RESERVE IN (READ KEYS, READ RESERVATION, REPORT CAPABILITIES, READ FULL
 * STATUS), and reservation conflicts between two initiators for each of the
 * six types, with the unit attentions reservations establish.
 */
#include <string.h>

#include "ut_scsi.h"

enum { REGISTER, RESERVE, RELEASE, CLEAR, PREEMPT, PREEMPT_ABORT, REGISTER_IGNORE };
enum { WE = 1, EA = 3, WE_RO = 5, EA_RO = 6, WE_AR = 7, EA_AR = 8 };

static uint8_t g_buf[4096];

static uint8_t
pr_out_t(int t, const struct spur_scsi_port *p, uint8_t sa, uint8_t type, uint64_t key,
	 uint64_t sa_key, uint8_t flags, struct ut_req *r)
{
	uint8_t cdb[10] = { 0x5f, sa, type }, list[24] = { 0 };

	ut_be32(&cdb[5], sizeof(list));
	ut_be64(list, key);
	ut_be64(&list[8], sa_key);
	list[20] = flags;
	ut_run(r, t, p, 0, cdb, 10, SPUR_SCSI_DIR_TO_DEV, list, sizeof(list));
	return r->task.status;
}

static uint8_t
pr_out(const struct spur_scsi_port *p, uint8_t sa, uint8_t type, uint64_t key, uint64_t sa_key)
{
	struct ut_req r;

	return pr_out_t(0, p, sa, type, key, sa_key, 0, &r);
}

static void
pr_in(const struct spur_scsi_port *p, uint8_t sa, uint8_t *buf, uint16_t len)
{
	uint8_t cdb[10] = { 0x5e, sa };
	struct ut_req r;

	ut_be16(&cdb[7], len);
	memset(buf, 0, len);
	ut_run(&r, 0, p, 0, cdb, 10, SPUR_SCSI_DIR_FROM_DEV, buf, len);
	assert_int_equal(r.task.status, 0);
}

static uint8_t
io(const struct spur_scsi_port *p, bool write)
{
	uint8_t cdb[10];
	struct ut_req r;

	ut_cdb_rw10(cdb, write ? 0x2a : 0x28, 0, 1);
	ut_run(&r, 1, p, 0, cdb, 10, write ? SPUR_SCSI_DIR_TO_DEV : SPUR_SCSI_DIR_FROM_DEV,
	       g_buf, UT_BS);
	return r.task.status;
}

#define CONFLICT SPUR_SCSI_STATUS_RESERVATION_CONFLICT

static void
test_register_and_read_keys(void **state)
{
	assert_int_equal(pr_out(&ut_a, REGISTER, 0, 0, 0xa1), 0);
	assert_int_equal(pr_out(&ut_b, REGISTER, 0, 0, 0xb1), 0);
	pr_in(&ut_a, 0, g_buf, 64);
	assert_int_equal(ut_get32(g_buf), 2); /* PRgeneration */
	assert_int_equal(ut_get32(&g_buf[4]), 16);
	assert_int_equal(ut_get64(&g_buf[8]), 0xa1);
	assert_int_equal(ut_get64(&g_buf[16]), 0xb1);
	/* Wrong current key: conflict; right key: replaced. */
	assert_int_equal(pr_out(&ut_a, REGISTER, 0, 0x99, 0xa2), CONFLICT);
	assert_int_equal(pr_out(&ut_a, REGISTER, 0, 0xa1, 0xa2), 0);
	/* An unregistered initiator must send key 0. */
	struct spur_scsi_port c;

	spur_scsi_port_init(&c, 3, "iqn.c");
	ut_drain_ua(&c, 0);
	assert_int_equal(pr_out(&c, REGISTER, 0, 0x5, 0xc1), CONFLICT);
	/* REGISTER AND IGNORE EXISTING KEY does not look at it. */
	assert_int_equal(pr_out(&c, REGISTER_IGNORE, 0, 0x5, 0xc1), 0);
	assert_int_equal(pr_out(&c, REGISTER_IGNORE, 0, 0x7, 0xc2), 0);
	/* Unregister with service action key 0. */
	assert_int_equal(pr_out(&c, REGISTER, 0, 0xc2, 0), 0);
	pr_in(&ut_a, 0, g_buf, 64);
	assert_int_equal(ut_get32(g_buf), 6);
	assert_int_equal(ut_get32(&g_buf[4]), 16);
	assert_int_equal(ut_get64(&g_buf[8]), 0xa2);
	/* Allocation length bounds the answer, the length field tells the truth. */
	pr_in(&ut_a, 0, g_buf, 12);
	assert_int_equal(ut_get32(&g_buf[4]), 16);
	/* Unregistered initiators cannot reserve, release, clear or preempt. */
	assert_int_equal(pr_out(&c, RESERVE, WE, 0, 0), CONFLICT);
	assert_int_equal(pr_out(&c, RELEASE, WE, 0, 0), CONFLICT);
	assert_int_equal(pr_out(&c, CLEAR, 0, 0, 0), CONFLICT);
	assert_int_equal(pr_out(&c, PREEMPT, WE, 0, 0xa2), CONFLICT);
}

static void
test_reserve_release(void **state)
{
	struct ut_req r;

	assert_int_equal(pr_out(&ut_a, REGISTER, 0, 0, 0xa), 0);
	assert_int_equal(pr_out(&ut_b, REGISTER, 0, 0, 0xb), 0);
	pr_in(&ut_a, 1, g_buf, 64);
	assert_int_equal(ut_get32(&g_buf[4]), 0); /* no reservation */
	assert_int_equal(pr_out(&ut_a, RESERVE, WE_RO, 0xa, 0), 0);
	pr_in(&ut_b, 1, g_buf, 64);
	assert_int_equal(ut_get32(&g_buf[4]), 16);
	assert_int_equal(ut_get64(&g_buf[8]), 0xa);
	assert_int_equal(g_buf[21], WE_RO);
	/* Same type again: fine. Another type, or another initiator: conflict. */
	assert_int_equal(pr_out(&ut_a, RESERVE, WE_RO, 0xa, 0), 0);
	assert_int_equal(pr_out(&ut_a, RESERVE, EA, 0xa, 0), CONFLICT);
	assert_int_equal(pr_out(&ut_b, RESERVE, WE_RO, 0xb, 0), CONFLICT);
	/* Bad type / scope. */
	pr_out_t(0, &ut_a, RESERVE, 2, 0xa, 0, 0, &r);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
	pr_out_t(0, &ut_a, RESERVE, 0x10 | WE, 0xa, 0, 0, &r);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
	/* Release by a non-holder does nothing; with the wrong type: invalid release. */
	assert_int_equal(pr_out(&ut_b, RELEASE, WE_RO, 0xb, 0), 0);
	pr_in(&ut_b, 1, g_buf, 64);
	assert_int_equal(g_buf[21], WE_RO);
	pr_out_t(0, &ut_a, RELEASE, WE, 0xa, 0, 0, &r);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x26, 0x04);
	/* Releasing a registrants-only reservation tells the other registrants. */
	assert_int_equal(pr_out(&ut_a, RELEASE, WE_RO, 0xa, 0), 0);
	ut_run(&r, 0, &ut_b, 0, (uint8_t[6]){ 0 }, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_UNIT_ATTENTION, 0x2a, 0x04);
	/* (PR IN is not exempt from unit attentions: it runs after the report.) */
	pr_in(&ut_b, 1, g_buf, 64);
	assert_int_equal(ut_get32(&g_buf[4]), 0);
	/* The holder unregistering releases a plain reservation. */
	assert_int_equal(pr_out(&ut_a, RESERVE, EA, 0xa, 0), 0);
	assert_int_equal(io(&ut_b, false), CONFLICT);
	assert_int_equal(pr_out(&ut_a, REGISTER, 0, 0xa, 0), 0);
	assert_int_equal(io(&ut_b, false), 0);
	/* All-registrants: READ RESERVATION reports key 0. */
	assert_int_equal(pr_out(&ut_b, RESERVE, WE_AR, 0xb, 0), 0);
	pr_in(&ut_b, 1, g_buf, 64);
	assert_int_equal(ut_get64(&g_buf[8]), 0);
	assert_int_equal(g_buf[21], WE_AR);
}

static void
test_capabilities_and_full_status(void **state)
{
	uint32_t len, off, tid;

	pr_in(&ut_a, 2, g_buf, 8);
	assert_int_equal(ut_get16(g_buf), 8);
	assert_int_equal(g_buf[2], 0);    /* no SIP_C / ATP_C / PTPL_C */
	assert_int_equal(g_buf[3], 0x80); /* TMV */
	assert_int_equal(g_buf[4], 0xea);
	assert_int_equal(g_buf[5], 0x01);
	assert_int_equal(pr_out(&ut_a, REGISTER, 0, 0, 0xa), 0);
	assert_int_equal(pr_out(&ut_b, REGISTER, 0, 0, 0xb), 0);
	assert_int_equal(pr_out(&ut_b, RESERVE, EA_RO, 0xb, 0), 0);
	pr_in(&ut_a, 3, g_buf, sizeof(g_buf));
	assert_int_equal(ut_get32(g_buf), 2);
	len = ut_get32(&g_buf[4]);
	off = 8;
	assert_int_equal(ut_get64(&g_buf[off]), 0xa);
	assert_int_equal(g_buf[off + 12], 0); /* not the holder */
	assert_int_equal(ut_get16(&g_buf[off + 18]), 1);
	tid = ut_get32(&g_buf[off + 20]);
	assert_int_equal(tid % 4, 0);
	assert_int_equal(g_buf[off + 24], 0x05); /* iSCSI TransportID */
	assert_string_equal((char *)&g_buf[off + 28], "iqn.2024-01.io.spur:host-a");
	off += 24 + tid;
	assert_int_equal(ut_get64(&g_buf[off]), 0xb);
	assert_int_equal(g_buf[off + 12], 0x01); /* R_HOLDER */
	assert_int_equal(g_buf[off + 13], EA_RO);
	off += 24 + ut_get32(&g_buf[off + 20]);
	assert_int_equal(off - 8, len);
}

/*
 * A registers and reserves type; B is first unregistered, then registered.
 * Expected statuses of B's READ and WRITE in each state (SPC-4 5.12.? and
 * the type table); A, the holder, can always do both.
 */
static void
check_type(uint8_t type, uint8_t b_read_unreg, uint8_t b_write_unreg, uint8_t b_read_reg,
	   uint8_t b_write_reg)
{
	uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 }, ms[6] = { 0x1a, 0x08, 0x3f, 0, 64, 0 };
	struct ut_req r;

	assert_int_equal(pr_out(&ut_a, REGISTER, 0, 0, 0xa), 0);
	assert_int_equal(pr_out(&ut_a, RESERVE, type, 0xa, 0), 0);
	assert_int_equal(io(&ut_a, false), 0);
	assert_int_equal(io(&ut_a, true), 0);
	assert_int_equal(io(&ut_b, false), b_read_unreg);
	assert_int_equal(io(&ut_b, true), b_write_unreg);
	/* INQUIRY, TEST UNIT READY, READ CAPACITY are always allowed. */
	ut_run(&r, 1, &ut_b, 0, inq, 6, SPUR_SCSI_DIR_FROM_DEV, g_buf, 36);
	assert_int_equal(r.task.status, 0);
	ut_run(&r, 1, &ut_b, 0, (uint8_t[6]){ 0 }, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
	assert_int_equal(r.task.status, 0);
	ut_run(&r, 1, &ut_b, 0, (uint8_t[10]){ 0x25 }, 10, SPUR_SCSI_DIR_FROM_DEV, g_buf, 8);
	assert_int_equal(r.task.status, 0);
	/* MODE SENSE goes with reads. */
	ut_run(&r, 1, &ut_b, 0, ms, 6, SPUR_SCSI_DIR_FROM_DEV, g_buf, 64);
	assert_int_equal(r.task.status, b_read_unreg);
	assert_int_equal(pr_out(&ut_b, REGISTER, 0, 0, 0xb), 0);
	assert_int_equal(io(&ut_b, false), b_read_reg);
	assert_int_equal(io(&ut_b, true), b_write_reg);
	/* Clean up: CLEAR, B learns its registration went (2A/03). */
	assert_int_equal(pr_out(&ut_a, CLEAR, 0, 0xa, 0), 0);
	ut_run(&r, 1, &ut_b, 0, (uint8_t[6]){ 0 }, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_UNIT_ATTENTION, 0x2a, 0x03);
	assert_int_equal(io(&ut_b, true), 0);
	pr_in(&ut_a, 0, g_buf, 64);
	assert_int_equal(ut_get32(&g_buf[4]), 0);
}

static void
test_conflicts_write_exclusive(void **state)
{
	check_type(WE, 0, CONFLICT, 0, CONFLICT);
}

static void
test_conflicts_exclusive_access(void **state)
{
	check_type(EA, CONFLICT, CONFLICT, CONFLICT, CONFLICT);
}

static void
test_conflicts_we_registrants_only(void **state)
{
	check_type(WE_RO, 0, CONFLICT, 0, 0);
}

static void
test_conflicts_ea_registrants_only(void **state)
{
	check_type(EA_RO, CONFLICT, CONFLICT, 0, 0);
}

static void
test_conflicts_we_all_registrants(void **state)
{
	check_type(WE_AR, 0, CONFLICT, 0, 0);
}

static void
test_conflicts_ea_all_registrants(void **state)
{
	check_type(EA_AR, CONFLICT, CONFLICT, 0, 0);
}

static void
test_preempt(void **state)
{
	struct ut_req r;

	assert_int_equal(pr_out(&ut_a, REGISTER, 0, 0, 0xa), 0);
	assert_int_equal(pr_out(&ut_b, REGISTER, 0, 0, 0xb), 0);
	assert_int_equal(pr_out(&ut_a, RESERVE, WE, 0xa, 0), 0);
	assert_int_equal(io(&ut_b, true), CONFLICT);
	/* B preempts the holder: A's registration goes, B holds an EA reservation. */
	assert_int_equal(pr_out(&ut_b, PREEMPT, EA, 0xb, 0xa), 0);
	pr_in(&ut_b, 1, g_buf, 64);
	assert_int_equal(ut_get64(&g_buf[8]), 0xb);
	assert_int_equal(g_buf[21], EA);
	ut_run(&r, 0, &ut_a, 0, (uint8_t[6]){ 0 }, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_UNIT_ATTENTION, 0x2a, 0x05);
	assert_int_equal(io(&ut_a, false), CONFLICT);
	assert_int_equal(io(&ut_b, true), 0);
	/* Preempting a key nobody has: conflict; key 0 without AR: invalid field. */
	assert_int_equal(pr_out(&ut_b, PREEMPT, EA, 0xb, 0x77), CONFLICT);
	pr_out_t(0, &ut_b, PREEMPT, EA, 0xb, 0, 0, &r);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x26, 0x00);
	/* A registers again; B removes it without touching the reservation. */
	assert_int_equal(pr_out(&ut_a, REGISTER, 0, 0, 0xa), 0);
	assert_int_equal(pr_out(&ut_b, PREEMPT, EA, 0xb, 0xa), 0);
	pr_in(&ut_b, 0, g_buf, 64);
	assert_int_equal(ut_get32(&g_buf[4]), 8);
	/* All-registrants, key 0: everyone else is removed. */
	assert_int_equal(pr_out(&ut_b, RELEASE, EA, 0xb, 0), 0);
	ut_drain_ua(&ut_a, 0);
	assert_int_equal(pr_out(&ut_a, REGISTER, 0, 0, 0xa), 0);
	assert_int_equal(pr_out(&ut_a, RESERVE, WE_AR, 0xa, 0), 0);
	assert_int_equal(pr_out(&ut_b, PREEMPT, WE, 0xb, 0), 0);
	pr_in(&ut_b, 1, g_buf, 64);
	assert_int_equal(g_buf[21], WE);
	assert_int_equal(ut_get64(&g_buf[8]), 0xb);
	ut_run(&r, 0, &ut_a, 0, (uint8_t[6]){ 0 }, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_UNIT_ATTENTION, 0x2a, 0x05);
	assert_int_equal(io(&ut_a, true), CONFLICT);
}

static void
test_preempt_and_abort(void **state)
{
	struct ut_req ra[3], rp;
	uint8_t cdb[10], list[24] = { 0 }, pcdb[10] = { 0x5f, PREEMPT_ABORT, EA };

	assert_int_equal(pr_out(&ut_a, REGISTER, 0, 0, 0xa), 0);
	assert_int_equal(pr_out(&ut_b, REGISTER, 0, 0, 0xb), 0);
	assert_int_equal(pr_out(&ut_a, RESERVE, WE, 0xa, 0), 0);
	/* A has three reads in flight on two threads. */
	ut_d0->hold = true;
	ut_cdb_rw10(cdb, 0x28, 0, 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ut_submit(&ra[i], i % 2, &ut_a, 0, cdb, 10, SPUR_SCSI_DIR_FROM_DEV,
					   g_buf + i * UT_BS, UT_BS), 0);
	}
	ut_poll();
	assert_int_equal(ut_d0->nheld, 3);
	ut_be32(&pcdb[5], sizeof(list));
	ut_be64(list, 0xb);
	ut_be64(&list[8], 0xa);
	assert_int_equal(ut_submit(&rp, 1, &ut_b, 0, pcdb, 10, SPUR_SCSI_DIR_TO_DEV, list,
				   sizeof(list)), 0);
	ut_poll();
	/* The PR OUT waits for A's tasks, which end ABORTED once the disk answers. */
	assert_int_equal(rp.done, 0);
	ut_d0->hold = false;
	ut_disk_release(ut_d0, 0);
	ut_poll();
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ra[i].done, 1);
		assert_int_equal(ra[i].task.response, SPUR_SCSI_TASK_ABORTED);
		assert_int_equal(ra[i].task.status, SPUR_SCSI_STATUS_TASK_ABORTED);
	}
	assert_int_equal(rp.done, 1);
	assert_int_equal(rp.task.status, 0);
	pr_in(&ut_b, 1, g_buf, 64);
	assert_int_equal(g_buf[21], EA);
	ut_run(&rp, 0, &ut_a, 0, (uint8_t[6]){ 0 }, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
	ut_assert_sense(&rp.task, SPUR_SCSI_SENSE_UNIT_ATTENTION, 0x2a, 0x05);
	assert_int_equal(io(&ut_a, false), CONFLICT);
}

static void
test_pr_out_parameter_errors(void **state)
{
	uint8_t cdb[10] = { 0x5f, REGISTER }, list[24] = { 0 };
	struct ut_req r;

	/* APTPL, ALL_TG_PT, SPEC_I_PT are not supported. */
	pr_out_t(0, &ut_a, REGISTER, 0, 0, 0xa, 0x01, &r);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x26, 0x00);
	assert_int_equal(ut_get16(&r.task.sense[16]), 20);
	pr_out_t(0, &ut_a, REGISTER, 0, 0, 0xa, 0x04, &r);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x26, 0x00);
	/* Parameter list length must be 24. */
	ut_be32(&cdb[5], 20);
	ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_TO_DEV, list, 20);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x1a, 0x00);
	/* REGISTER AND MOVE is not supported. */
	cdb[1] = 7;
	ut_be32(&cdb[5], 24);
	ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_TO_DEV, list, 24);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register_and_read_keys, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_reserve_release, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_capabilities_and_full_status, ut_setup,
						ut_teardown),
		cmocka_unit_test_setup_teardown(test_conflicts_write_exclusive, ut_setup,
						ut_teardown),
		cmocka_unit_test_setup_teardown(test_conflicts_exclusive_access, ut_setup,
						ut_teardown),
		cmocka_unit_test_setup_teardown(test_conflicts_we_registrants_only, ut_setup,
						ut_teardown),
		cmocka_unit_test_setup_teardown(test_conflicts_ea_registrants_only, ut_setup,
						ut_teardown),
		cmocka_unit_test_setup_teardown(test_conflicts_we_all_registrants, ut_setup,
						ut_teardown),
		cmocka_unit_test_setup_teardown(test_conflicts_ea_all_registrants, ut_setup,
						ut_teardown),
		cmocka_unit_test_setup_teardown(test_preempt, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_preempt_and_abort, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_pr_out_parameter_errors, ut_setup, ut_teardown),
	};

	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
