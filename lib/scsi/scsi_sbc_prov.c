/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logical block provisioning: UNMAP (SBC-3 5.28) and WRITE SAME (10/16,
 * SBC-3 5.42-5.44) with the UNMAP bit, and the limits the Block Limits and
 * Logical Block Provisioning VPD pages publish for them.
 *
 * UNMAP: the whole parameter list is copied into a scratch buffer and
 * every descriptor validated (range, count) before the first unmap is
 * issued, so an invalid list changes nothing; descriptors are then unmapped
 * one after another (priv.idx). Provisioning is advertised (LBPU, LBPWS,
 * LBPME) exactly when the bdev supports unmap; LBPRZ is not claimed.
 *
 * WRITE SAME chooses, in order: write_zeroes (with "may deallocate" when
 * UNMAP is set) for an all-zero block or NDOB when the bdev supports it; an
 * unmap for an all-zero block with UNMAP set; otherwise writes of a scratch
 * buffer filled with copies of the block, chunk after chunk (done_blocks).
 * Runs on the task's thread.
 */
#include <errno.h>
#include <string.h>

#include "scsi_internal.h"
#include "scsi_sense.h"

enum ws_mode {
	WS_ZEROES = 1,
	WS_UNMAP,
	WS_PATTERN,
};

bool
scsi_sbc_lbp(const struct spur_scsi_lun *lun)
{
	return spur_bdev_io_type_supported(lun->bdev, SPUR_BDEV_IO_UNMAP);
}

uint32_t
scsi_sbc_max_unmap_blocks(const struct spur_scsi_lun *lun)
{
	/* The bdev layer splits unmaps over the module's limit. */
	return UINT32_MAX;
}

uint64_t
scsi_sbc_max_write_same_blocks(const struct spur_scsi_lun *lun)
{
	return 0; /* no limit: patterns are written in chunks */
}

/* Finish a step: errno from submit (-ENOMEM waits and calls resume again). */
static bool
submit_failed(struct spur_scsi_task *task, int rc, void (*resume)(struct spur_scsi_task *))
{
	if (rc == 0) {
		return false;
	}
	if (rc == -ENOMEM) {
		task->priv.resume = resume;
		scsi_task_wait_io(task);
		return true;
	}
	scsi_task_bdev_errno(task, rc, true);
	scsi_task_done(task);
	return true;
}

/* ---- UNMAP ------------------------------------------------------------------------------ */

#define UNMAP_DESC_LEN 16u

static void unmap_next(struct spur_scsi_task *task);

static void
unmap_done(struct spur_bdev_io *io, int status, void *arg)
{
	struct spur_scsi_task *task = arg;

	spur_bdev_free_io(io);
	if (status != 0 || task->priv.aborted) {
		scsi_task_bdev_status(task, status, true);
		scsi_task_done(task);
		return;
	}
	task->priv.idx++;
	unmap_next(task);
}

static void
unmap_next(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	const uint8_t *list = task->priv.scratch;
	uint32_t ndesc = (uint32_t)task->priv.num_blocks;
	struct spur_io_channel *bch;
	int rc;

	/* Skip descriptors with no blocks. */
	while (task->priv.idx < ndesc &&
	       scsi_get_be32(&list[8 + task->priv.idx * UNMAP_DESC_LEN + 8]) == 0) {
		task->priv.idx++;
	}
	if (task->priv.idx == ndesc) {
		scsi_task_good(task);
		scsi_task_done(task);
		return;
	}
	bch = scsi_task_bdev_ch_or_busy(task);
	if (bch == NULL)
		return;
	list += 8 + task->priv.idx * UNMAP_DESC_LEN;
	rc = spur_bdev_unmap_blocks(lun->desc, bch, scsi_get_be64(list), scsi_get_be32(&list[8]),
				    unmap_done, task);
	submit_failed(task, rc, unmap_next);
}

void
scsi_sbc_unmap(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	uint32_t plen = scsi_get_be16(&task->cdb[7]), bdlen, ndesc;
	uint8_t *list;

	if (!scsi_sbc_writable(task)) {
		goto done;
	}
	if (!scsi_sbc_lbp(lun)) {
		scsi_task_invalid_opcode(task);
		goto done;
	}
	if (task->cdb[1] & 0x01) { /* ANCHOR: anchored state not supported */
		scsi_task_invalid_field(task, true, 1, 0);
		goto done;
	}
	task->priv.cmd_len = plen;
	if (plen == 0) {
		scsi_task_good(task);
		goto done;
	}
	if (plen < 8 || scsi_task_data_out_len(task) < plen) {
		scsi_task_check(task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST,
				SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
		goto done;
	}
	plen = SPUR_MIN(plen, 8 + SCSI_MAX_UNMAP_DESCRIPTORS * UNMAP_DESC_LEN + UNMAP_DESC_LEN);
	list = scsi_task_scratch(task, plen);
	if (list == NULL) {
		scsi_task_busy(task);
		goto done;
	}
	task->data_transferred = task->priv.cmd_len;
	scsi_task_get_data(task, list, plen, 0);
	bdlen = scsi_get_be16(&list[2]);
	if (scsi_get_be16(&list[0]) + 2u < 8 + bdlen || 8 + bdlen > task->priv.cmd_len) {
		scsi_task_check(task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST,
				SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
		goto done;
	}
	ndesc = bdlen / UNMAP_DESC_LEN;
	if (ndesc > SCSI_MAX_UNMAP_DESCRIPTORS) {
		scsi_task_invalid_field(task, false, 2, 0xff);
		goto done;
	}
	for (uint32_t i = 0; i < ndesc; i++) {
		const uint8_t *d = &list[8 + i * UNMAP_DESC_LEN];

		if (!scsi_sbc_range_ok(task, scsi_get_be64(d), scsi_get_be32(&d[8]))) {
			goto done;
		}
	}
	task->priv.num_blocks = ndesc;
	task->priv.idx = 0;
	unmap_next(task);
	return;
done:
	scsi_task_done(task);
}

/* ---- WRITE SAME ---------------------------------------------------------------------------- */

static void ws_continue(struct spur_scsi_task *task);

static void
ws_done(struct spur_bdev_io *io, int status, void *arg)
{
	struct spur_scsi_task *task = arg;

	spur_bdev_free_io(io);
	if (status != 0 || task->priv.aborted) {
		scsi_task_bdev_status(task, status, true);
		scsi_task_done(task);
		return;
	}
	if (task->priv.step != WS_PATTERN || task->priv.done_blocks == task->priv.num_blocks) {
		task->data_transferred = task->priv.cmd_len;
		scsi_task_good(task);
		scsi_task_done(task);
		return;
	}
	ws_continue(task);
}

static void
ws_continue(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	struct spur_io_channel *bch = scsi_task_bdev_ch_or_busy(task);
	uint64_t chunk;
	int rc;

	if (bch == NULL)
		return;
	switch (task->priv.step) {
	case WS_ZEROES:
		rc = spur_bdev_write_zeroes_blocks(lun->desc, bch, task->priv.lba,
						   task->priv.num_blocks,
						   (task->priv.flags & SCSI_TF_UNMAP) ?
						   SPUR_BDEV_IO_UNMAP_OK : 0, ws_done, task);
		break;
	case WS_UNMAP:
		rc = spur_bdev_unmap_blocks(lun->desc, bch, task->priv.lba, task->priv.num_blocks,
					    ws_done, task);
		break;
	default:
		chunk = SPUR_MIN(task->priv.num_blocks - task->priv.done_blocks,
				 (uint64_t)(task->priv.scratch_len /
					    spur_bdev_get_block_size(lun->bdev)));
		task->priv.scratch_iov.iov_base = task->priv.scratch;
		task->priv.scratch_iov.iov_len = chunk * spur_bdev_get_block_size(lun->bdev);
		rc = spur_bdev_writev_blocks(lun->desc, bch, &task->priv.scratch_iov, 1,
					     task->priv.lba + task->priv.done_blocks, chunk, 0,
					     ws_done, task);
		if (rc == 0) {
			task->priv.done_blocks += chunk;
		}
		break;
	}
	submit_failed(task, rc, ws_continue);
}

static bool
all_zero(const uint8_t *p, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++) {
		if (p[i] != 0) {
			return false;
		}
	}
	return true;
}

void
scsi_sbc_write_same(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	const uint8_t *cdb = task->cdb;
	bool ten = cdb[0] == 0x41, unmap = (cdb[1] & 0x08) != 0;
	bool ndob = !ten && (cdb[1] & 0x01) != 0, zero;
	uint32_t bs = spur_bdev_get_block_size(lun->bdev), copies;
	uint64_t lba = ten ? scsi_get_be32(&cdb[2]) : scsi_get_be64(&cdb[2]);
	uint64_t num = ten ? scsi_get_be16(&cdb[7]) : scsi_get_be32(&cdb[10]);
	uint8_t *buf;

	if (!scsi_sbc_writable(task)) {
		goto done;
	}
	if (cdb[1] >> 5) { /* WRPROTECT */
		scsi_task_invalid_field(task, true, 1, 7);
		goto done;
	}
	if (cdb[1] & 0x10) { /* ANCHOR */
		scsi_task_invalid_field(task, true, 1, 4);
		goto done;
	}
	if (unmap && !scsi_sbc_lbp(lun)) {
		scsi_task_invalid_field(task, true, 1, 3);
		goto done;
	}
	if (num == 0) { /* WSNZ = 1 */
		scsi_task_invalid_field(task, true, ten ? 7 : 10, 0xff);
		goto done;
	}
	if (!scsi_sbc_range_ok(task, lba, num)) {
		goto done;
	}
	task->priv.cmd_len = ndob ? 0 : bs;
	if (!ndob && scsi_task_data_out_len(task) < bs) {
		scsi_task_invalid_field(task, true, ten ? 7 : 10, 0xff);
		goto done;
	}
	copies = (uint32_t)SPUR_MIN(num, (uint64_t)scsi_sbc_buf_blocks(lun));
	buf = scsi_task_scratch(task, copies * bs);
	if (buf == NULL) {
		scsi_task_busy(task);
		goto done;
	}
	if (ndob) {
		memset(buf, 0, bs);
	} else {
		scsi_task_get_data(task, buf, bs, 0);
	}
	zero = ndob || all_zero(buf, bs);
	if (zero && spur_bdev_io_type_supported(lun->bdev, SPUR_BDEV_IO_WRITE_ZEROES)) {
		task->priv.step = WS_ZEROES;
	} else if (zero && unmap) {
		task->priv.step = WS_UNMAP;
	} else {
		task->priv.step = WS_PATTERN;
		for (uint32_t i = 1; i < copies; i++) {
			memcpy(buf + (size_t)i * bs, buf, bs);
		}
	}
	if (unmap) {
		task->priv.flags |= SCSI_TF_UNMAP;
	}
	task->priv.lba = lba;
	task->priv.num_blocks = num;
	task->priv.done_blocks = 0;
	ws_continue(task);
	return;
done:
	scsi_task_done(task);
}
