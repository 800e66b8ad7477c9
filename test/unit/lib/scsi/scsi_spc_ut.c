/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SPC-4 commands of lib/scsi: INQUIRY and its VPD pages, REPORT LUNS, TEST
 * UNIT READY, REQUEST SENSE, MODE SENSE / SELECT, REPORT SUPPORTED
 * OPERATION CODES, START STOP UNIT; the generic sense conditions (unknown
 * opcode, missing LUN) and residuals of command-generated data.
 */
#include <errno.h>
#include <string.h>

#include "ut_scsi.h"

static void
test_inquiry_standard(void **state)
{
	uint8_t cdb[6] = { 0x12, 0, 0, 0, 96, 0 }, buf[96];
	struct ut_req r;

	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(ut_cmd(&r, cdb, 6, SPUR_SCSI_DIR_FROM_DEV, buf, sizeof(buf)), 0);
	assert_int_equal(r.task.data_transferred, 96);
	assert_int_equal(r.task.residual_flags, 0);
	assert_int_equal(buf[0], 0x00);      /* connected direct-access device */
	assert_int_equal(buf[2], 0x06);      /* SPC-4 */
	assert_int_equal(buf[3] & 0x0f, 2);  /* response data format */
	assert_int_equal(buf[4], 91);
	assert_true(buf[7] & 0x02);          /* CMDQUE */
	assert_memory_equal(&buf[8], "SPUR    ", 8);
	assert_memory_equal(&buf[16], "UT RAM disk     ", 16);
	assert_int_equal(ut_get16(&buf[60]), 0x0460);
}

static void
test_inquiry_missing_lun(void **state)
{
	uint8_t cdb[6] = { 0x12, 0, 0, 0, 36, 0 }, buf[36];
	struct ut_req r;

	ut_run(&r, 0, &ut_a, 7, cdb, 6, SPUR_SCSI_DIR_FROM_DEV, buf, sizeof(buf));
	assert_int_equal(r.task.status, SPUR_SCSI_STATUS_GOOD);
	assert_int_equal(buf[0], 0x7f); /* peripheral qualifier 3, type 1Fh */
	/* Other commands to a LUN that does not exist. */
	cdb[0] = 0x00;
	cdb[4] = 0;
	ut_run(&r, 0, &ut_a, 7, cdb, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x25, 0x00);
	ut_run(&r, 0, &ut_a, 300, cdb, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x25, 0x00);
}

static void
test_inquiry_bad_fields(void **state)
{
	uint8_t cdb[6] = { 0x12, 0x02, 0, 0, 36, 0 }, buf[64];
	struct ut_req r;

	ut_cmd(&r, cdb, 6, SPUR_SCSI_DIR_FROM_DEV, buf, 36); /* CMDDT */
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
	assert_int_equal(r.task.sense[15], 0x80 | 0x40 | 0x08 | 1); /* SKSV, C/D, BPV, bit 1 */
	assert_int_equal(ut_get16(&r.task.sense[16]), 1);
	cdb[1] = 0;
	cdb[2] = 0x80; /* page code without EVPD */
	ut_cmd(&r, cdb, 6, SPUR_SCSI_DIR_FROM_DEV, buf, 36);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
	cdb[1] = 1;
	cdb[2] = 0xc7; /* unsupported VPD page */
	ut_cmd(&r, cdb, 6, SPUR_SCSI_DIR_FROM_DEV, buf, 36);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
	assert_int_equal(r.task.data_transferred, 0);
	assert_int_equal(r.task.residual_flags, SPUR_SCSI_RESIDUAL_UNDERFLOW);
	assert_int_equal(r.task.residual, 36);
}

static void
vpd(struct ut_req *r, uint8_t page, uint8_t *buf, uint32_t len)
{
	uint8_t cdb[6] = { 0x12, 0x01, page, 0, 0, 0 };

	ut_be16(&cdb[3], (uint16_t)len);
	memset(buf, 0, len);
	assert_int_equal(ut_cmd(r, cdb, 6, SPUR_SCSI_DIR_FROM_DEV, buf, len), 0);
	assert_int_equal(buf[1], page);
}

static void
test_vpd_pages(void **state)
{
	uint8_t buf[255], uuid_naa[16];
	const uint8_t *d;
	struct ut_req r;
	uint32_t off;

	vpd(&r, 0x00, buf, sizeof(buf));
	assert_int_equal(ut_get16(&buf[2]), 7);
	assert_memory_equal(&buf[4], ((uint8_t[]){ 0x00, 0x80, 0x83, 0x86, 0xb0, 0xb1, 0xb2 }), 7);

	vpd(&r, 0x80, buf, sizeof(buf));
	assert_int_equal(ut_get16(&buf[2]), 32);
	assert_memory_equal(&buf[4], "101112131415161718191a1b1c1d1e1f", 32);

	vpd(&r, 0x83, buf, sizeof(buf));
	/* NAA 6 from the UUID (10 11 12 ... 1f). */
	d = &buf[4];
	assert_int_equal(d[0] & 0x0f, 1);   /* binary */
	assert_int_equal(d[1] & 0x0f, 3);   /* NAA */
	assert_int_equal(d[1] & 0x30, 0);   /* logical unit association */
	assert_int_equal(d[3], 16);
	uuid_naa[0] = 0x61;
	for (int i = 1; i < 16; i++) {
		uuid_naa[i] = (uint8_t)(((0x10 + i - 1) << 4) | ((0x10 + i) >> 4));
	}
	assert_memory_equal(&d[4], uuid_naa, 16);
	assert_int_equal(d[4] >> 4, 6);
	off = 4 + 4 + d[3];
	d = &buf[off];
	assert_int_equal(d[0] & 0x0f, 2); /* ASCII */
	assert_int_equal(d[1] & 0x0f, 1); /* T10 vendor id */
	assert_memory_equal(&d[4], "SPUR    10111213-1415-1617-1819-1a1b1c1d1e1f", 44);
	off += 4 + d[3];
	d = &buf[off];
	assert_int_equal(d[1], 0x14); /* target port, relative target port */
	assert_int_equal(ut_get16(&d[6]), 1);
	assert_int_equal(ut_get16(&buf[2]), off + 4 + d[3] - 4);

	vpd(&r, 0x86, buf, sizeof(buf));
	assert_int_equal(ut_get16(&buf[2]), 0x3c);
	assert_int_equal(buf[5], 0x01); /* SIMPSUP */
	assert_int_equal(buf[6], 0x01); /* V_SUP: write cache */

	ut_d0->bdev.max_transfer_blocks = 256;
	vpd(&r, 0xb0, buf, sizeof(buf));
	assert_int_equal(ut_get16(&buf[2]), 0x3c);
	assert_int_equal(buf[4] & 1, 1);          /* WSNZ */
	assert_int_equal(buf[5], 255);            /* MAXIMUM COMPARE AND WRITE LENGTH */
	assert_int_equal(ut_get32(&buf[8]), 256); /* MAXIMUM TRANSFER LENGTH */
	assert_int_equal(ut_get32(&buf[20]), 0xffffffffu);
	assert_int_equal(ut_get32(&buf[24]), 256);

	vpd(&r, 0xb1, buf, sizeof(buf));
	assert_int_equal(ut_get16(&buf[4]), 1); /* non-rotating */

	vpd(&r, 0xb2, buf, sizeof(buf));
	assert_int_equal(ut_get16(&buf[2]), 4);
	assert_int_equal(buf[5] & 0xe0, 0xe0); /* LBPU, LBPWS, LBPWS10 */
	assert_int_equal(buf[6] & 0x07, 2);
}

static void
test_vpd_no_unmap(void **state)
{
	uint8_t buf[64], cdb[16] = { 0x9e, 0x10 };
	struct ut_req r;

	ut_d0->io_mask &= ~(1u << SPUR_BDEV_IO_UNMAP);
	vpd(&r, 0xb2, buf, sizeof(buf));
	assert_int_equal(buf[5], 0);
	vpd(&r, 0xb0, buf, sizeof(buf));
	assert_int_equal(ut_get32(&buf[20]), 0);
	ut_be32(&cdb[10], 32);
	assert_int_equal(ut_cmd(&r, cdb, 16, SPUR_SCSI_DIR_FROM_DEV, buf, 32), 0);
	assert_int_equal(buf[14] & 0x80, 0); /* LBPME */
}

static void
test_inquiry_residuals(void **state)
{
	uint8_t cdb[6] = { 0x12, 0, 0, 0, 255, 0 }, buf[255];
	struct ut_req r;

	/* Allocation 255, 96 exist, initiator expects 255: underflow by 159. */
	assert_int_equal(ut_cmd(&r, cdb, 6, SPUR_SCSI_DIR_FROM_DEV, buf, 255), 0);
	assert_int_equal(r.task.data_transferred, 96);
	assert_int_equal(r.task.residual_flags, SPUR_SCSI_RESIDUAL_UNDERFLOW);
	assert_int_equal(r.task.residual, 159);
	/* Initiator expects 36 of the 96: overflow by 60, only 36 bytes move. */
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(ut_cmd(&r, cdb, 6, SPUR_SCSI_DIR_FROM_DEV, buf, 36), 0);
	assert_int_equal(r.task.data_transferred, 36);
	assert_int_equal(r.task.residual_flags, SPUR_SCSI_RESIDUAL_OVERFLOW);
	assert_int_equal(r.task.residual, 60);
	assert_int_equal(buf[36], 0xee);
	/* Data-out buffers only: nothing moves, overflow by all 96 bytes. */
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(ut_cmd(&r, cdb, 6, SPUR_SCSI_DIR_TO_DEV, buf, 96), 0);
	assert_int_equal(r.task.data_transferred, 0);
	assert_int_equal(r.task.residual_flags, SPUR_SCSI_RESIDUAL_OVERFLOW);
	assert_int_equal(r.task.residual, 96);
	assert_int_equal(buf[0], 0xee);
	/* Allocation length 5 bounds the copy even with a larger buffer. */
	cdb[4] = 5;
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(ut_cmd(&r, cdb, 6, SPUR_SCSI_DIR_FROM_DEV, buf, 64), 0);
	assert_int_equal(r.task.data_transferred, 5);
	assert_int_equal(buf[5], 0xee);
	assert_int_equal(r.task.residual_flags, SPUR_SCSI_RESIDUAL_UNDERFLOW);
	assert_int_equal(r.task.residual, 59);
}

static void
test_layer_buffer(void **state)
{
	uint8_t cdb[6] = { 0x12, 0, 0, 0, 96, 0 };
	struct ut_req r;

	/* No iovecs: the layer supplies the buffer, valid until put. */
	ut_run(&r, 0, &ut_a, 0, cdb, 6, SPUR_SCSI_DIR_FROM_DEV, NULL, 96);
	assert_int_equal(r.task.status, 0);
	assert_non_null(r.task.iovs);
	assert_int_equal(r.task.iovcnt, 1);
	assert_memory_equal((uint8_t *)r.task.iovs[0].iov_base + 8, "SPUR", 4);
	ut_put(&r, 0);
	assert_null(r.task.iovs);
	/* Data-out without iovecs needs alloc_buf first. */
	cdb[0] = 0x15;
	assert_int_equal(ut_submit(&r, 0, &ut_a, 0, cdb, 6, SPUR_SCSI_DIR_TO_DEV, NULL, 16),
			 -EINVAL);
}

static void
test_report_luns(void **state)
{
	uint8_t cdb[12] = { 0xa0 }, buf[64];
	struct ut_req r;

	assert_int_equal(spur_scsi_dev_add_lun(ut_dev, 5, "d0", &(struct spur_scsi_lun_opts) {
		.size = sizeof(struct spur_scsi_lun_opts), .read_only = true }), 0);
	ut_be32(&cdb[6], sizeof(buf));
	/* REPORT LUNS is not blocked by the pending REPORTED LUNS DATA HAS CHANGED. */
	assert_int_equal(ut_cmd(&r, cdb, 12, SPUR_SCSI_DIR_FROM_DEV, buf, sizeof(buf)), 0);
	assert_int_equal(ut_get32(buf), 16);
	assert_int_equal(ut_get64(&buf[8]), 0);
	assert_int_equal(ut_get64(&buf[16]), 0x0005000000000000ull);
	assert_int_equal(r.task.data_transferred, 24);
	assert_int_equal(r.task.residual, 40);
	/* ... and it cleared that unit attention for this initiator only. */
	ut_cdb_rw10(cdb, 0x00, 0, 0);
	assert_int_equal(ut_cmd(&r, cdb, 6, SPUR_SCSI_DIR_NONE, NULL, 0), 0);
	ut_run(&r, 0, &ut_b, 0, cdb, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_UNIT_ATTENTION, 0x3f, 0x0e);
	/* Well-known LUNs only: none. Reserved SELECT REPORT: refused. */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0xa0;
	cdb[2] = 1;
	ut_be32(&cdb[6], sizeof(buf));
	assert_int_equal(ut_cmd(&r, cdb, 12, SPUR_SCSI_DIR_FROM_DEV, buf, sizeof(buf)), 0);
	assert_int_equal(ut_get32(buf), 0);
	cdb[2] = 0x40;
	ut_cmd(&r, cdb, 12, SPUR_SCSI_DIR_FROM_DEV, buf, sizeof(buf));
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
	/* Through a LUN that does not exist, too. */
	cdb[2] = 0;
	ut_run(&r, 0, &ut_a, 9, cdb, 12, SPUR_SCSI_DIR_FROM_DEV, buf, sizeof(buf));
	assert_int_equal(r.task.status, 0);
	assert_int_equal(ut_get32(buf), 16);
}

static void
test_request_sense(void **state)
{
	uint8_t cdb[6] = { 0x03, 0, 0, 0, 18, 0 }, buf[18];
	struct ut_req r;

	assert_int_equal(ut_cmd(&r, cdb, 6, SPUR_SCSI_DIR_FROM_DEV, buf, 18), 0);
	assert_int_equal(buf[0], 0x70);
	assert_int_equal(buf[2], SPUR_SCSI_SENSE_NO_SENSE);
	/* A LUN that does not exist: sense data says so, status GOOD. */
	ut_run(&r, 0, &ut_a, 3, cdb, 6, SPUR_SCSI_DIR_FROM_DEV, buf, 18);
	assert_int_equal(r.task.status, 0);
	assert_int_equal(buf[2], SPUR_SCSI_SENSE_ILLEGAL_REQUEST);
	assert_int_equal(buf[12], 0x25);
	/* Descriptor format is not supported. */
	cdb[1] = 1;
	ut_cmd(&r, cdb, 6, SPUR_SCSI_DIR_FROM_DEV, buf, 18);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
}

static void
test_unknown_opcode(void **state)
{
	uint8_t cdb[16] = { 0xe7 };
	struct ut_req r;

	ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_NONE, NULL, 0);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x20, 0x00);
	/* A known opcode with an unknown service action: invalid field. */
	cdb[0] = 0x9e;
	cdb[1] = 0x11;
	ut_cmd(&r, cdb, 16, SPUR_SCSI_DIR_NONE, NULL, 0);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
}

static void
mode_sense10(struct ut_req *r, uint8_t b1, uint8_t b2, uint8_t sub, uint8_t *buf, uint16_t len)
{
	uint8_t cdb[10] = { 0x5a, b1, b2, sub };

	ut_be16(&cdb[7], len);
	memset(buf, 0, len);
	ut_cmd(r, cdb, 10, SPUR_SCSI_DIR_FROM_DEV, buf, len);
}

static void
test_mode_sense(void **state)
{
	uint8_t cdb[6] = { 0x1a, 0, 0x3f, 0, 255, 0 }, buf[255];
	struct ut_req r;

	/* MODE SENSE(6), all pages, short block descriptor. */
	assert_int_equal(ut_cmd(&r, cdb, 6, SPUR_SCSI_DIR_FROM_DEV, buf, 255), 0);
	assert_int_equal(buf[0], 4 + 8 + 20 + 12 + 12 - 1);
	assert_int_equal(buf[2], 0x10); /* DPOFUA, not write-protected */
	assert_int_equal(buf[3], 8);
	assert_int_equal(ut_get32(&buf[4]), UT_BLOCKS);
	assert_int_equal(ut_get32(&buf[8]) & 0xffffff, UT_BS);
	assert_int_equal(buf[12], 0x08);
	assert_int_equal(buf[13], 0x12);
	assert_int_equal(buf[14] & 0x04, 0x04); /* WCE */
	assert_int_equal(buf[32], 0x0a);
	assert_int_equal(buf[44], 0x1c);
	assert_int_equal(buf[46] & 0x08, 0x08); /* DEXCPT */
	/* MODE SENSE(10), caching only, long LBA descriptor. */
	mode_sense10(&r, 0x10, 0x08, 0, buf, 255);
	assert_int_equal(r.task.status, 0);
	assert_int_equal(ut_get16(buf), 8 + 16 + 20 - 2);
	assert_int_equal(buf[4] & 1, 1);
	assert_int_equal(ut_get16(&buf[6]), 16);
	assert_int_equal(ut_get64(&buf[8]), UT_BLOCKS);
	assert_int_equal(ut_get32(&buf[20]), UT_BS);
	/* DBD, control page; changeable values show WCE only. */
	mode_sense10(&r, 0x08, 0x0a, 0, buf, 255);
	assert_int_equal(ut_get16(&buf[6]), 0);
	assert_int_equal(buf[8], 0x0a);
	mode_sense10(&r, 0x08, 0x40 | 0x08, 0, buf, 255);
	assert_int_equal(buf[10], 0x04);
	/* Saved values, unknown page, unknown subpage. */
	mode_sense10(&r, 0, 0xc0 | 0x08, 0, buf, 255);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x39, 0x00);
	mode_sense10(&r, 0, 0x19, 0, buf, 255);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
	mode_sense10(&r, 0, 0x08, 1, buf, 255);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
	mode_sense10(&r, 0, 0x3f, 0xff, buf, 255);
	assert_int_equal(r.task.status, 0);
}

static void
test_mode_select(void **state)
{
	uint8_t cdb[6] = { 0x15, 0x10, 0, 0, 0, 0 }, sense[255], list[4 + 8 + 20];
	uint8_t wcdb[10];
	struct ut_req r;

	/* Take the current caching page, clear WCE, send it back. */
	uint8_t scdb[6] = { 0x1a, 0, 0x08, 0, 255, 0 };

	assert_int_equal(ut_cmd(&r, scdb, 6, SPUR_SCSI_DIR_FROM_DEV, sense, 255), 0);
	memcpy(list, sense, sizeof(list));
	list[0] = 0;
	list[14] &= (uint8_t)~0x04;
	cdb[4] = sizeof(list);
	assert_int_equal(ut_cmd(&r, cdb, 6, SPUR_SCSI_DIR_TO_DEV, list, sizeof(list)), 0);
	assert_int_equal(r.task.data_transferred, sizeof(list));
	assert_int_equal(ut_cmd(&r, scdb, 6, SPUR_SCSI_DIR_FROM_DEV, sense, 255), 0);
	assert_int_equal(sense[14] & 0x04, 0);
	/* Write-through now: writes are FUA. */
	ut_cdb_rw10(wcdb, 0x2a, 0, 1);
	assert_int_equal(ut_cmd(&r, wcdb, 10, SPUR_SCSI_DIR_TO_DEV, sense, UT_BS > 255 ? 255 : 0),
			 SPUR_SCSI_STATUS_CHECK_CONDITION); /* not enough data: refused */
	{
		uint8_t blk[UT_BS] = { 0 };

		assert_int_equal(ut_cmd(&r, wcdb, 10, SPUR_SCSI_DIR_TO_DEV, blk, UT_BS), 0);
		assert_true(ut_d0->last_flags & SPUR_BDEV_IO_FUA);
	}
	/* The other initiator learns about it. */
	ut_run(&r, 0, &ut_b, 0, (uint8_t[6]){ 0 }, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_UNIT_ATTENTION, 0x2a, 0x01);
	/* A field that is not changeable: invalid field in parameter list. */
	list[16] = 0x55;
	assert_int_equal(ut_cmd(&r, cdb, 6, SPUR_SCSI_DIR_TO_DEV, list, sizeof(list)), 2);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x26, 0x00);
	assert_int_equal(ut_get16(&r.task.sense[16]), 16);
	list[16] = 0;
	/* Wrong block length in the block descriptor. */
	list[11] = 0x01;
	ut_cmd(&r, cdb, 6, SPUR_SCSI_DIR_TO_DEV, list, sizeof(list));
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x26, 0x00);
	list[11] = sense[11];
	/* SP (save) is refused; a truncated page is a parameter list length error. */
	cdb[1] = 0x11;
	ut_cmd(&r, cdb, 6, SPUR_SCSI_DIR_TO_DEV, list, sizeof(list));
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
	cdb[1] = 0x10;
	cdb[4] = sizeof(list) - 3;
	ut_cmd(&r, cdb, 6, SPUR_SCSI_DIR_TO_DEV, list, sizeof(list) - 3);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x1a, 0x00);
}

static void
test_report_opcodes(void **state)
{
	uint8_t cdb[12] = { 0xa3, 0x0c, 0 }, buf[1024];
	struct ut_req r;
	bool found_read16 = false;

	ut_be32(&cdb[6], sizeof(buf));
	assert_int_equal(ut_cmd(&r, cdb, 12, SPUR_SCSI_DIR_FROM_DEV, buf, sizeof(buf)), 0);
	assert_int_equal(ut_get32(buf) % 8, 0);
	for (uint32_t off = 4; off < 4 + ut_get32(buf); off += 8) {
		if (buf[off] == 0x88) {
			found_read16 = true;
			assert_int_equal(ut_get16(&buf[off + 6]), 16);
		}
	}
	assert_true(found_read16);
	/* One command: WRITE(10), with timeouts descriptor. */
	cdb[2] = 0x80 | 1;
	cdb[3] = 0x2a;
	assert_int_equal(ut_cmd(&r, cdb, 12, SPUR_SCSI_DIR_FROM_DEV, buf, sizeof(buf)), 0);
	assert_int_equal(buf[1], 0x80 | 0x03);
	assert_int_equal(ut_get16(&buf[2]), 10);
	assert_int_equal(buf[4], 0x2a);
	assert_int_equal(ut_get16(&buf[14]), 10);
	assert_int_equal(r.task.data_transferred, 4 + 10 + 12);
	/* Opcode + service action: READ CAPACITY(16). */
	cdb[2] = 2;
	cdb[3] = 0x9e;
	ut_be16(&cdb[4], 0x10);
	assert_int_equal(ut_cmd(&r, cdb, 12, SPUR_SCSI_DIR_FROM_DEV, buf, sizeof(buf)), 0);
	assert_int_equal(buf[1], 0x03);
	assert_int_equal(buf[5], 0x10);
	/* Unsupported command: SUPPORT 001b. */
	cdb[2] = 1;
	cdb[3] = 0xe7;
	assert_int_equal(ut_cmd(&r, cdb, 12, SPUR_SCSI_DIR_FROM_DEV, buf, sizeof(buf)), 0);
	assert_int_equal(buf[1] & 7, 1);
	/* Option 1 for a command with service actions, and a reserved option. */
	cdb[3] = 0x9e;
	ut_cmd(&r, cdb, 12, SPUR_SCSI_DIR_FROM_DEV, buf, sizeof(buf));
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
	cdb[2] = 5;
	ut_cmd(&r, cdb, 12, SPUR_SCSI_DIR_FROM_DEV, buf, sizeof(buf));
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
}

static void
test_start_stop_unit(void **state)
{
	uint8_t ssu[6] = { 0x1b, 0, 0, 0, 0x00, 0 }, tur[6] = { 0 }, rd[10], buf[UT_BS];
	struct ut_req r;

	assert_int_equal(ut_cmd(&r, ssu, 6, SPUR_SCSI_DIR_NONE, NULL, 0), 0);
	assert_int_equal(ut_d0->count[SPUR_BDEV_IO_FLUSH], 1); /* cache written back */
	ut_cmd(&r, tur, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_NOT_READY, 0x04, 0x02);
	ut_cdb_rw10(rd, 0x28, 0, 1);
	ut_cmd(&r, rd, 10, SPUR_SCSI_DIR_FROM_DEV, buf, UT_BS);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_NOT_READY, 0x04, 0x02);
	/* INQUIRY still works. */
	assert_int_equal(ut_cmd(&r, (uint8_t[6]){ 0x12, 0, 0, 0, 36, 0 }, 6,
				SPUR_SCSI_DIR_FROM_DEV, buf, 36), 0);
	ssu[4] = 0x01;
	assert_int_equal(ut_cmd(&r, ssu, 6, SPUR_SCSI_DIR_NONE, NULL, 0), 0);
	assert_int_equal(ut_cmd(&r, tur, 6, SPUR_SCSI_DIR_NONE, NULL, 0), 0);
	ssu[4] = 0x02; /* LOEJ */
	ut_cmd(&r, ssu, 6, SPUR_SCSI_DIR_NONE, NULL, 0);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inquiry_standard, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_inquiry_missing_lun, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_inquiry_bad_fields, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_vpd_pages, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_vpd_no_unmap, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_inquiry_residuals, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_layer_buffer, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_report_luns, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_request_sense, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_opcode, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_mode_sense, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_mode_select, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_report_opcodes, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_start_stop_unit, ut_setup, ut_teardown),
	};

	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
