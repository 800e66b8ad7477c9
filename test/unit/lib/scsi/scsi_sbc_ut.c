/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SBC-3 commands of lib/scsi: READ/WRITE 6/10/12/16 (zero copy, FUA),
 * bdev error mapping to sense data, READ CAPACITY, SYNCHRONIZE CACHE,
 * VERIFY, UNMAP, WRITE SAME with UNMAP, COMPARE AND WRITE, data residuals,
 * write protection, and waiting for bdev requests when the pool is empty.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ut_scsi.h"

static uint8_t g_buf[64 * UT_BS], g_buf2[64 * UT_BS];

static void
fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++) {
		p[i] = (uint8_t)(seed + i * 7);
	}
}

static uint8_t
write10(uint32_t lba, uint16_t num, uint8_t *buf)
{
	uint8_t cdb[10];
	struct ut_req r;

	ut_cdb_rw10(cdb, 0x2a, lba, num);
	return ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_TO_DEV, buf, num * UT_BS);
}

static void
test_read_write_sizes(void **state)
{
	uint8_t cdb[16];
	struct ut_req r;

	fill(g_buf, 8 * UT_BS, 1);
	assert_int_equal(write10(100, 8, g_buf), 0);
	assert_ptr_equal(ut_d0->last_iov_base, g_buf); /* zero copy */
	assert_memory_equal(ut_d0->data + 100 * UT_BS, g_buf, 8 * UT_BS);
	assert_int_equal(ut_d0->last_flags & SPUR_BDEV_IO_FUA, 0);

	/* READ(6) */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x08;
	cdb[3] = 100;
	cdb[4] = 2;
	memset(g_buf2, 0, sizeof(g_buf2));
	assert_int_equal(ut_cmd(&r, cdb, 6, SPUR_SCSI_DIR_FROM_DEV, g_buf2, 2 * UT_BS), 0);
	assert_ptr_equal(ut_d0->last_iov_base, g_buf2);
	assert_memory_equal(g_buf2, g_buf, 2 * UT_BS);
	assert_int_equal(r.task.data_transferred, 2 * UT_BS);
	assert_int_equal(r.task.residual_flags, 0);
	/* READ(12) */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0xa8;
	ut_be32(&cdb[2], 102);
	ut_be32(&cdb[6], 3);
	assert_int_equal(ut_cmd(&r, cdb, 12, SPUR_SCSI_DIR_FROM_DEV, g_buf2, 3 * UT_BS), 0);
	assert_memory_equal(g_buf2, g_buf + 2 * UT_BS, 3 * UT_BS);
	/* READ(16) */
	ut_cdb_rw16(cdb, 0x88, 105, 3);
	assert_int_equal(ut_cmd(&r, cdb, 16, SPUR_SCSI_DIR_FROM_DEV, g_buf2, 3 * UT_BS), 0);
	assert_memory_equal(g_buf2, g_buf + 5 * UT_BS, 3 * UT_BS);
	/* WRITE(6) with 0 = 256 blocks is out of our data, WRITE(6) 1 block. */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x0a;
	cdb[3] = 7;
	cdb[4] = 1;
	fill(g_buf, UT_BS, 9);
	assert_int_equal(ut_cmd(&r, cdb, 6, SPUR_SCSI_DIR_TO_DEV, g_buf, UT_BS), 0);
	assert_memory_equal(ut_d0->data + 7 * UT_BS, g_buf, UT_BS);
	/* WRITE(12), WRITE(16) with FUA. */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0xaa;
	ut_be32(&cdb[2], 9);
	ut_be32(&cdb[6], 1);
	assert_int_equal(ut_cmd(&r, cdb, 12, SPUR_SCSI_DIR_TO_DEV, g_buf, UT_BS), 0);
	assert_memory_equal(ut_d0->data + 9 * UT_BS, g_buf, UT_BS);
	ut_cdb_rw16(cdb, 0x8a, 11, 1);
	cdb[1] = 0x08;
	assert_int_equal(ut_cmd(&r, cdb, 16, SPUR_SCSI_DIR_TO_DEV, g_buf, UT_BS), 0);
	assert_true(ut_d0->last_flags & SPUR_BDEV_IO_FUA);
	/* Zero blocks: GOOD, nothing submitted. */
	ut_cdb_rw10(cdb, 0x28, 0, 0);
	uint32_t reads = ut_d0->count[SPUR_BDEV_IO_READ];
	assert_int_equal(ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_NONE, NULL, 0), 0);
	assert_int_equal(ut_d0->count[SPUR_BDEV_IO_READ], reads);
	/* Protection information is refused. */
	ut_cdb_rw10(cdb, 0x28, 0, 1);
	cdb[1] = 0x20;
	ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_FROM_DEV, g_buf, UT_BS);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
}

static void
test_read_layer_buffer(void **state)
{
	uint8_t cdb[10];
	struct ut_req r;

	fill(ut_d0->data + 3 * UT_BS, 2 * UT_BS, 5);
	ut_cdb_rw10(cdb, 0x28, 3, 2);
	ut_run(&r, 0, &ut_a, 0, cdb, 10, SPUR_SCSI_DIR_FROM_DEV, NULL, 2 * UT_BS);
	assert_int_equal(r.task.status, 0);
	assert_non_null(r.task.iovs);
	assert_memory_equal(r.task.iovs[0].iov_base, ut_d0->data + 3 * UT_BS, 2 * UT_BS);
	ut_put(&r, 0);
	assert_null(r.task.iovs);
	/* Data-out through a layer buffer. */
	spur_set_thread(ut_io[0]);
	spur_scsi_task_construct(&r.task, NULL, NULL);
	assert_int_equal(spur_scsi_task_alloc_buf(&r.task, UT_BS), 0);
	assert_int_equal(spur_scsi_task_alloc_buf(&r.task, UT_BS), -EINVAL);
	spur_scsi_task_put(&r.task);
	spur_set_thread(ut_app);
}

static void
test_range_and_protect(void **state)
{
	uint8_t cdb[16];
	struct ut_req r;

	ut_cdb_rw10(cdb, 0x28, UT_BLOCKS - 1, 2);
	ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_FROM_DEV, g_buf, 2 * UT_BS);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x21, 0x00);
	ut_cdb_rw16(cdb, 0x8a, UINT64_MAX - 1, 4);
	ut_cmd(&r, cdb, 16, SPUR_SCSI_DIR_TO_DEV, g_buf, 4 * UT_BS);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x21, 0x00);
	/* A read-only LUN: DATA PROTECT for writes, reads fine. */
	struct spur_scsi_lun_opts o;

	spur_scsi_lun_opts_init(&o, sizeof(o));
	o.read_only = true;
	assert_int_equal(spur_scsi_dev_add_lun(ut_dev, 1, "d0", &o), 0);
	ut_drain_ua(&ut_a, 1);
	ut_cdb_rw10(cdb, 0x2a, 0, 1);
	ut_run(&r, 0, &ut_a, 1, cdb, 10, SPUR_SCSI_DIR_TO_DEV, g_buf, UT_BS);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_DATA_PROTECT, 0x27, 0x00);
	ut_cdb_rw10(cdb, 0x28, 0, 1);
	ut_run(&r, 0, &ut_a, 1, cdb, 10, SPUR_SCSI_DIR_FROM_DEV, g_buf, UT_BS);
	assert_int_equal(r.task.status, 0);
	/* MODE SENSE shows WP. */
	ut_run(&r, 0, &ut_a, 1, (uint8_t[6]){ 0x1a, 0x08, 0x3f, 0, 64, 0 }, 6,
	       SPUR_SCSI_DIR_FROM_DEV, g_buf, 64);
	assert_int_equal(g_buf[2] & 0x80, 0x80);
}

static void
test_bdev_errors(void **state)
{
	static const struct {
		enum spur_bdev_io_type type;
		int status;
		uint8_t key, asc, ascq;
	} cases[] = {
		{ SPUR_BDEV_IO_READ, SPUR_BDEV_ERR_MEDIA, SPUR_SCSI_SENSE_MEDIUM_ERROR, 0x11, 0x00 },
		{ SPUR_BDEV_IO_WRITE, SPUR_BDEV_ERR_MEDIA, SPUR_SCSI_SENSE_MEDIUM_ERROR, 0x0c, 0x00 },
		{ SPUR_BDEV_IO_WRITE, SPUR_BDEV_ERR_NOSPACE, SPUR_SCSI_SENSE_DATA_PROTECT, 0x27, 0x07 },
		{ SPUR_BDEV_IO_READ, SPUR_BDEV_ERR_ABORTED, SPUR_SCSI_SENSE_ABORTED_COMMAND, 0, 0 },
		{ SPUR_BDEV_IO_READ, SPUR_BDEV_ERR_RANGE, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x21, 0 },
		{ SPUR_BDEV_IO_READ, SPUR_BDEV_ERR_UNSUPPORTED, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x20, 0 },
		{ SPUR_BDEV_IO_WRITE, SPUR_BDEV_ERR_IO, SPUR_SCSI_SENSE_HARDWARE_ERROR, 0x44, 0x00 },
	};
	uint8_t cdb[10];
	struct ut_req r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool rd = cases[i].type == SPUR_BDEV_IO_READ;

		ut_d0->inject_type = cases[i].type;
		ut_d0->inject_status = cases[i].status;
		ut_d0->inject_count = 1;
		ut_cdb_rw10(cdb, rd ? 0x28 : 0x2a, 0, 1);
		ut_cmd(&r, cdb, 10, rd ? SPUR_SCSI_DIR_FROM_DEV : SPUR_SCSI_DIR_TO_DEV, g_buf,
		       UT_BS);
		ut_assert_sense(&r.task, cases[i].key, cases[i].asc, cases[i].ascq);
		assert_int_equal(r.task.data_transferred, 0);
		assert_int_equal(r.task.residual_flags, SPUR_SCSI_RESIDUAL_UNDERFLOW);
	}
}

static void
test_read_capacity(void **state)
{
	uint8_t cdb[16] = { 0x25 }, buf[32];
	struct ut_req r;

	assert_int_equal(ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_FROM_DEV, buf, 8), 0);
	assert_int_equal(ut_get32(buf), UT_BLOCKS - 1);
	assert_int_equal(ut_get32(&buf[4]), UT_BS);
	cdb[2] = 1; /* LBA without PMI */
	ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_FROM_DEV, buf, 8);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x9e;
	cdb[1] = 0x10;
	ut_be32(&cdb[10], 32);
	assert_int_equal(ut_cmd(&r, cdb, 16, SPUR_SCSI_DIR_FROM_DEV, buf, 32), 0);
	assert_int_equal(ut_get64(buf), UT_BLOCKS - 1);
	assert_int_equal(ut_get32(&buf[8]), UT_BS);
	assert_int_equal(buf[14] & 0x80, 0x80); /* LBPME */
	/* Allocation length 12 bounds it. */
	ut_be32(&cdb[10], 12);
	assert_int_equal(ut_cmd(&r, cdb, 16, SPUR_SCSI_DIR_FROM_DEV, buf, 32), 0);
	assert_int_equal(r.task.data_transferred, 12);
}

static void
test_sync_cache(void **state)
{
	uint8_t cdb[16];
	struct ut_req r;

	ut_cdb_rw10(cdb, 0x35, 10, 0);
	assert_int_equal(ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_NONE, NULL, 0), 0);
	assert_int_equal(ut_d0->count[SPUR_BDEV_IO_FLUSH], 1);
	assert_int_equal(ut_d0->last_offset, 10);
	assert_int_equal(ut_d0->last_num, UT_BLOCKS - 10);
	ut_cdb_rw16(cdb, 0x91, 0, 8);
	assert_int_equal(ut_cmd(&r, cdb, 16, SPUR_SCSI_DIR_NONE, NULL, 0), 0);
	assert_int_equal(ut_d0->count[SPUR_BDEV_IO_FLUSH], 2);
	assert_int_equal(ut_d0->last_num, 8);
	ut_cdb_rw16(cdb, 0x91, UT_BLOCKS, 1);
	ut_cmd(&r, cdb, 16, SPUR_SCSI_DIR_NONE, NULL, 0);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x21, 0x00);
}

static void
test_verify(void **state)
{
	uint8_t cdb[16];
	struct ut_req r;

	fill(g_buf, 4 * UT_BS, 3);
	assert_int_equal(write10(20, 4, g_buf), 0);
	/* BYTCHK 0: medium verification (reads). */
	ut_cdb_rw10(cdb, 0x2f, 20, 4);
	uint32_t reads = ut_d0->count[SPUR_BDEV_IO_READ];
	assert_int_equal(ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_NONE, NULL, 0), 0);
	assert_int_equal(ut_d0->count[SPUR_BDEV_IO_READ], reads + 1);
	/* BYTCHK 1: equal. */
	cdb[1] = 0x02;
	memcpy(g_buf2, g_buf, 4 * UT_BS);
	assert_int_equal(ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_TO_DEV, g_buf2, 4 * UT_BS), 0);
	/* BYTCHK 1: differs at byte 700. */
	g_buf2[700] ^= 0xff;
	ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_TO_DEV, g_buf2, 4 * UT_BS);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_MISCOMPARE, 0x1d, 0x00);
	assert_int_equal(r.task.sense[0] & 0x80, 0x80);
	assert_int_equal(ut_get32(&r.task.sense[3]), 700);
	/* VERIFY(16) BYTCHK 11b: every block against one. */
	memset(ut_d0->data + 40 * UT_BS, 0x5c, 3 * UT_BS);
	memset(g_buf2, 0x5c, UT_BS);
	ut_cdb_rw16(cdb, 0x8f, 40, 3);
	cdb[1] = 0x06;
	assert_int_equal(ut_cmd(&r, cdb, 16, SPUR_SCSI_DIR_TO_DEV, g_buf2, UT_BS), 0);
	ut_d0->data[42 * UT_BS + 5] = 0;
	ut_cmd(&r, cdb, 16, SPUR_SCSI_DIR_TO_DEV, g_buf2, UT_BS);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_MISCOMPARE, 0x1d, 0x00);
	assert_int_equal(ut_get32(&r.task.sense[3]), 2 * UT_BS + 5);
	/* BYTCHK 10b is reserved. */
	cdb[1] = 0x04;
	ut_cmd(&r, cdb, 16, SPUR_SCSI_DIR_TO_DEV, g_buf2, UT_BS);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
}

static void
unmap_list(uint8_t *p, uint32_t ndesc, const uint64_t *lba, const uint32_t *num)
{
	ut_be16(p, (uint16_t)(6 + 16 * ndesc));
	ut_be16(&p[2], (uint16_t)(16 * ndesc));
	memset(&p[4], 0, 4);
	for (uint32_t i = 0; i < ndesc; i++) {
		memset(&p[8 + 16 * i], 0, 16);
		ut_be64(&p[8 + 16 * i], lba[i]);
		ut_be32(&p[16 + 16 * i], num[i]);
	}
}

static void
test_unmap(void **state)
{
	uint8_t cdb[10] = { 0x42 }, list[8 + 3 * 16], zero[4 * UT_BS] = { 0 };
	uint64_t lba[3] = { 50, 60, UT_BLOCKS };
	uint32_t num[3] = { 2, 3, 1 };
	struct ut_req r;

	memset(ut_d0->data + 50 * UT_BS, 0xaa, 20 * UT_BS);
	unmap_list(list, 2, lba, num);
	ut_be16(&cdb[7], 8 + 32);
	assert_int_equal(ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_TO_DEV, list, 8 + 32), 0);
	assert_int_equal(ut_d0->count[SPUR_BDEV_IO_UNMAP], 2);
	assert_memory_equal(ut_d0->data + 50 * UT_BS, zero, 2 * UT_BS);
	assert_memory_equal(ut_d0->data + 60 * UT_BS, zero, 3 * UT_BS);
	assert_int_equal(ut_d0->data[52 * UT_BS], 0xaa);
	/* A descriptor out of range: nothing is unmapped. */
	memset(ut_d0->data + 50 * UT_BS, 0xaa, 20 * UT_BS);
	unmap_list(list, 3, lba, num);
	ut_be16(&cdb[7], sizeof(list));
	ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_TO_DEV, list, sizeof(list));
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x21, 0x00);
	assert_int_equal(ut_d0->count[SPUR_BDEV_IO_UNMAP], 2);
	assert_int_equal(ut_d0->data[50 * UT_BS], 0xaa);
	/* Parameter list shorter than its header; ANCHOR; empty list. */
	ut_be16(&cdb[7], 4);
	ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_TO_DEV, list, 4);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x1a, 0x00);
	cdb[1] = 1;
	ut_be16(&cdb[7], 8 + 16);
	ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_TO_DEV, list, 8 + 16);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
	cdb[1] = 0;
	ut_be16(&cdb[7], 0);
	assert_int_equal(ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_NONE, NULL, 0), 0);
	/* Without unmap support the command does not exist. */
	ut_d0->io_mask &= ~(1u << SPUR_BDEV_IO_UNMAP);
	ut_be16(&cdb[7], 8 + 16);
	ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_TO_DEV, list, 8 + 16);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x20, 0x00);
}

static void
test_write_same(void **state)
{
	uint8_t cdb[16], blk[UT_BS], zero[UT_BS] = { 0 };
	struct ut_req r;
	const uint32_t n = 300; /* more than one scratch buffer of copies */

	fill(blk, UT_BS, 77);
	ut_cdb_rw10(cdb, 0x41, 200, (uint16_t)n);
	assert_int_equal(ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_TO_DEV, blk, UT_BS), 0);
	assert_true(ut_d0->count[SPUR_BDEV_IO_WRITE] >= 2);
	for (uint32_t b = 0; b < n; b++) {
		assert_memory_equal(ut_d0->data + (200 + b) * UT_BS, blk, UT_BS);
	}
	assert_int_equal(ut_d0->data[(200 + n) * UT_BS], 0);
	assert_int_equal(r.task.data_transferred, UT_BS);
	/* WRITE SAME(16) with UNMAP and a zero block: write_zeroes, may deallocate. */
	ut_cdb_rw16(cdb, 0x93, 200, 10);
	cdb[1] = 0x08;
	assert_int_equal(ut_cmd(&r, cdb, 16, SPUR_SCSI_DIR_TO_DEV, zero, UT_BS), 0);
	assert_int_equal(ut_d0->count[SPUR_BDEV_IO_WRITE_ZEROES], 1);
	assert_true(ut_d0->last_flags & SPUR_BDEV_IO_UNMAP_OK);
	assert_memory_equal(ut_d0->data + 209 * UT_BS, zero, UT_BS);
	/* Without write_zeroes: an unmap. NDOB needs no data. */
	ut_d0->io_mask &= ~(1u << SPUR_BDEV_IO_WRITE_ZEROES);
	cdb[1] = 0x08 | 0x01;
	ut_be64(&cdb[2], 220);
	assert_int_equal(ut_cmd(&r, cdb, 16, SPUR_SCSI_DIR_NONE, NULL, 0), 0);
	assert_int_equal(ut_d0->count[SPUR_BDEV_IO_UNMAP], 1);
	/* 0 blocks (WSNZ), out of range, and UNMAP without provisioning. */
	ut_cdb_rw10(cdb, 0x41, 0, 0);
	ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_TO_DEV, blk, UT_BS);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
	ut_cdb_rw10(cdb, 0x41, UT_BLOCKS - 2, 3);
	ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_TO_DEV, blk, UT_BS);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x21, 0x00);
	ut_d0->io_mask &= ~(1u << SPUR_BDEV_IO_UNMAP);
	ut_cdb_rw10(cdb, 0x41, 0, 2);
	cdb[1] = 0x08;
	ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_TO_DEV, zero, UT_BS);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
}

static void
caw_cdb(uint8_t *cdb, uint64_t lba, uint8_t num)
{
	memset(cdb, 0, 16);
	cdb[0] = 0x89;
	ut_be64(&cdb[2], lba);
	cdb[13] = num;
}

static void
test_compare_and_write(void **state)
{
	uint8_t cdb[16], data[4 * UT_BS];
	struct ut_req r;

	fill(ut_d0->data + 30 * UT_BS, 2 * UT_BS, 11);
	memcpy(data, ut_d0->data + 30 * UT_BS, 2 * UT_BS); /* verify half */
	fill(data + 2 * UT_BS, 2 * UT_BS, 99);             /* write half */
	caw_cdb(cdb, 30, 2);
	assert_int_equal(ut_cmd(&r, cdb, 16, SPUR_SCSI_DIR_TO_DEV, data, sizeof(data)), 0);
	assert_memory_equal(ut_d0->data + 30 * UT_BS, data + 2 * UT_BS, 2 * UT_BS);
	assert_int_equal(r.task.data_transferred, sizeof(data));
	/* Now the verify half no longer matches: MISCOMPARE at offset 0, no write. */
	uint32_t writes = ut_d0->count[SPUR_BDEV_IO_WRITE];

	fill(data + 2 * UT_BS, 2 * UT_BS, 1);
	ut_cmd(&r, cdb, 16, SPUR_SCSI_DIR_TO_DEV, data, sizeof(data));
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_MISCOMPARE, 0x1d, 0x00);
	assert_int_equal(ut_get32(&r.task.sense[3]), 0);
	assert_int_equal(ut_d0->count[SPUR_BDEV_IO_WRITE], writes);
	/* Difference in the second block, byte 17. */
	memcpy(data, ut_d0->data + 30 * UT_BS, 2 * UT_BS);
	data[UT_BS + 17] ^= 1;
	ut_cmd(&r, cdb, 16, SPUR_SCSI_DIR_TO_DEV, data, sizeof(data));
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_MISCOMPARE, 0x1d, 0x00);
	assert_int_equal(ut_get32(&r.task.sense[3]), UT_BS + 17);
	/* Not enough data for 2 x 2 blocks; the lock was released every time. */
	ut_cmd(&r, cdb, 16, SPUR_SCSI_DIR_TO_DEV, data, 3 * UT_BS);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
	memcpy(data, ut_d0->data + 30 * UT_BS, 2 * UT_BS);
	assert_int_equal(ut_cmd(&r, cdb, 16, SPUR_SCSI_DIR_TO_DEV, data, sizeof(data)), 0);
}

static void
test_compare_and_write_serialized(void **state)
{
	uint8_t cdb[16], d1[2 * UT_BS], d2[2 * UT_BS];
	struct ut_req r1, r2;

	/* Two CAWs on two threads: the second waits for the first's lock. */
	memset(ut_d0->data + 5 * UT_BS, 0, UT_BS);
	memset(d1, 0, UT_BS);
	memset(d1 + UT_BS, 1, UT_BS);
	memset(d2, 0, UT_BS); /* expects the old contents: must miscompare */
	memset(d2 + UT_BS, 2, UT_BS);
	caw_cdb(cdb, 5, 1);
	ut_d0->hold = true;
	assert_int_equal(ut_submit(&r1, 0, &ut_a, 0, cdb, 16, SPUR_SCSI_DIR_TO_DEV, d1,
				   sizeof(d1)), 0);
	assert_int_equal(ut_submit(&r2, 1, &ut_b, 0, cdb, 16, SPUR_SCSI_DIR_TO_DEV, d2,
				   sizeof(d2)), 0);
	for (int i = 0; i < 20; i++) {
		ut_poll_once();
	}
	assert_int_equal(ut_d0->nheld, 1); /* only the first CAW's read */
	ut_d0->hold = false;
	ut_disk_release(ut_d0, 0);
	ut_poll();
	assert_int_equal(r1.done, 1);
	assert_int_equal(r2.done, 1);
	assert_int_equal(r1.task.status, 0);
	ut_assert_sense(&r2.task, SPUR_SCSI_SENSE_MISCOMPARE, 0x1d, 0x00);
	assert_int_equal(ut_d0->data[5 * UT_BS], 1);
}

static void
test_residuals(void **state)
{
	uint8_t cdb[10];
	struct ut_req r;

	fill(ut_d0->data, 8 * UT_BS, 4);
	/* READ 4 blocks, initiator expects 3: overflow, 3 blocks move. */
	memset(g_buf, 0xee, 4 * UT_BS);
	ut_cdb_rw10(cdb, 0x28, 0, 4);
	assert_int_equal(ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_FROM_DEV, g_buf, 3 * UT_BS), 0);
	assert_int_equal(r.task.data_transferred, 3 * UT_BS);
	assert_int_equal(r.task.residual_flags, SPUR_SCSI_RESIDUAL_OVERFLOW);
	assert_int_equal(r.task.residual, UT_BS);
	assert_memory_equal(g_buf, ut_d0->data, 3 * UT_BS);
	assert_int_equal(g_buf[3 * UT_BS], 0xee);
	/* READ 2 blocks, initiator expects 4: underflow of 2 blocks. */
	ut_cdb_rw10(cdb, 0x28, 0, 2);
	assert_int_equal(ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_FROM_DEV, g_buf, 4 * UT_BS), 0);
	assert_int_equal(r.task.data_transferred, 2 * UT_BS);
	assert_int_equal(r.task.residual_flags, SPUR_SCSI_RESIDUAL_UNDERFLOW);
	assert_int_equal(r.task.residual, 2 * UT_BS);
	/* WRITE 2 blocks with one block of data: refused, overflow reported. */
	ut_cdb_rw10(cdb, 0x2a, 0, 2);
	ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_TO_DEV, g_buf, UT_BS);
	ut_assert_sense(&r.task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
	assert_int_equal(r.task.residual_flags, SPUR_SCSI_RESIDUAL_OVERFLOW);
	assert_int_equal(r.task.residual, UT_BS);
	/* READ 2 blocks into data-out buffers: nothing moves, overflow of all of it. */
	memset(g_buf, 0xee, 2 * UT_BS);
	ut_cdb_rw10(cdb, 0x28, 0, 2);
	assert_int_equal(ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_TO_DEV, g_buf, 2 * UT_BS), 0);
	assert_int_equal(r.task.status, SPUR_SCSI_STATUS_GOOD);
	assert_int_equal(r.task.data_transferred, 0);
	assert_int_equal(r.task.residual_flags, SPUR_SCSI_RESIDUAL_OVERFLOW);
	assert_int_equal(r.task.residual, 2 * UT_BS);
	assert_int_equal(g_buf[0], 0xee);
	/* WRITE 1 block with 2 blocks of data: underflow of one block. */
	ut_cdb_rw10(cdb, 0x2a, 0, 1);
	assert_int_equal(ut_cmd(&r, cdb, 10, SPUR_SCSI_DIR_TO_DEV, g_buf, 2 * UT_BS), 0);
	assert_int_equal(r.task.data_transferred, UT_BS);
	assert_int_equal(r.task.residual_flags, SPUR_SCSI_RESIDUAL_UNDERFLOW);
	assert_int_equal(r.task.residual, UT_BS);
}

static void
test_queue_task_misuse(void **state)
{
	uint8_t cdb[10];
	struct ut_req r;
	struct spur_scsi_port noid = { 0 };

	ut_cdb_rw10(cdb, 0x28, 0, 1);
	assert_int_equal(ut_submit(&r, 0, &noid, 0, cdb, 10, SPUR_SCSI_DIR_FROM_DEV, g_buf,
				   UT_BS), -EINVAL);
	assert_int_equal(ut_submit(&r, 0, &ut_a, 0, cdb, 10, SPUR_SCSI_DIR_NONE, g_buf, UT_BS),
			 -EINVAL);
	/* iovecs shorter than transfer_len */
	spur_scsi_task_construct(&r.task, NULL, NULL);
	memcpy(r.task.cdb, cdb, 10);
	r.task.initiator = &ut_a;
	r.task.dir = SPUR_SCSI_DIR_FROM_DEV;
	r.task.transfer_len = 2 * UT_BS;
	r.iov[0].iov_base = g_buf;
	r.iov[0].iov_len = UT_BS;
	r.task.iovs = r.iov;
	r.task.iovcnt = 1;
	spur_set_thread(ut_io[0]);
	assert_int_equal(spur_scsi_dev_queue_task(ut_dev, ut_ch[0], &r.task), -EINVAL);
	/* Wrong channel for the device is refused too. */
	assert_int_equal(spur_scsi_dev_queue_task(ut_dev, NULL, &r.task), -EINVAL);
	spur_set_thread(ut_app);
}

/* ---- a tiny bdev request pool: tasks wait and resubmit --------------------------------- */

static void
test_request_pool_exhausted(void **state)
{
	struct ut_req r[12];
	uint8_t cdb[10];

	ut_d0->hold = true;
	for (int i = 0; i < 12; i++) {
		ut_cdb_rw10(cdb, i % 2 ? 0x2a : 0x28, (uint32_t)i, 1);
		assert_int_equal(ut_submit(&r[i], 0, &ut_a, 0, cdb, 10,
					   i % 2 ? SPUR_SCSI_DIR_TO_DEV : SPUR_SCSI_DIR_FROM_DEV,
					   g_buf + i * UT_BS, UT_BS), 0);
	}
	ut_poll_rounds(50);
	assert_true(ut_d0->nheld < 12);
	for (int k = 0; k < 50 && ut_d0->nheld > 0; k++) {
		ut_disk_release(ut_d0, 0);
		ut_poll_rounds(50);
	}
	ut_poll();
	for (int i = 0; i < 12; i++) {
		assert_int_equal(r[i].done, 1);
		assert_int_equal(r[i].task.status, 0);
	}
}

static int
small_pool_setup(void **state)
{
	ut_set_bdev_pool(4, 2);
	return ut_group_setup(state);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_write_sizes, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_read_layer_buffer, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_range_and_protect, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_bdev_errors, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_read_capacity, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_sync_cache, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_verify, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_unmap, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_write_same, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_compare_and_write, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_compare_and_write_serialized, ut_setup,
						ut_teardown),
		cmocka_unit_test_setup_teardown(test_residuals, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_queue_task_misuse, ut_setup, ut_teardown),
	};
	const struct CMUnitTest pool_tests[] = {
		cmocka_unit_test_setup_teardown(test_request_pool_exhausted, ut_setup, ut_teardown),
	};
	int rc = cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);

	return rc + cmocka_run_group_tests_name("small_pool", pool_tests, small_pool_setup,
						ut_group_teardown);
}
