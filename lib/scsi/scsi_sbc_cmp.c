/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * COMPARE AND WRITE (SBC-3 5.2) and VERIFY (10/16, SBC-3 5.31).
 *
 * COMPARE AND WRITE steps (task->priv.step):
 *
 *   LOCK ──► READ ──► compare ──miscompare──► CHECK CONDITION, MISCOMPARE
 *                        └──equal──► WRITE ──► GOOD
 *
 * Atomicity: one COMPARE AND WRITE per LUN at a time (lun->caw_busy, taken
 * with compare-and-swap from any thread; a task that finds it taken retries
 * at its channel's next poll). This makes concurrent COMPARE AND WRITEs to
 * the same blocks atomic with respect to each other, which is what their
 * users (cluster locks, VMware ATS) rely on; plain WRITEs are not held back.
 * The lock is released when the task finishes (scsi_task_done), whatever
 * the outcome. The blocks read are compared in a layer scratch buffer
 * against the first half of the data-out buffer; the second half is then
 * gathered into the same scratch buffer and written, so the front end's
 * iovecs are only read.
 *
 * VERIFY reads the range in chunks of one scratch buffer: BYTCHK 00b only
 * reads (surfacing medium errors), 01b compares with the data-out buffer,
 * 11b compares every block with the single block sent.
 *
 * Miscompare sense: MISCOMPARE / MISCOMPARE DURING VERIFY OPERATION with
 * INFORMATION = offset of the first differing byte in the data-out buffer.
 */
#include <errno.h>
#include <string.h>

#include "scsi_internal.h"
#include "scsi_sense.h"

enum cmp_step {
	CAW_LOCK = 0,
	CAW_READ,
	CAW_WRITE,
};

/*
 * Compare buf[0..len) with the data-out buffer from offset off; returns the
 * offset (relative to buf) of the first difference, or -1.
 */
static int64_t
cmp_data_out(struct spur_scsi_task *task, const uint8_t *buf, uint32_t len, uint32_t off)
{
	size_t skip = off;
	uint32_t done = 0;

	for (int i = 0; i < task->iovcnt && done < len; i++) {
		size_t ilen = task->iovs[i].iov_len;
		const uint8_t *p;
		uint32_t c;

		if (skip >= ilen) {
			skip -= ilen;
			continue;
		}
		p = (const uint8_t *)task->iovs[i].iov_base + skip;
		c = (uint32_t)SPUR_MIN(ilen - skip, (size_t)(len - done));
		skip = 0;
		if (memcmp(p, buf + done, c) != 0) {
			for (uint32_t k = 0; k < c; k++) {
				if (p[k] != buf[done + k]) {
					return (int64_t)done + k;
				}
			}
		}
		done += c;
	}
	return -1;
}

static void
miscompare(struct spur_scsi_task *task, uint32_t offset)
{
	scsi_task_check_info(task, SPUR_SCSI_SENSE_MISCOMPARE, SCSI_ASC_MISCOMPARE_DURING_VERIFY,
			     offset);
}

/* ---- COMPARE AND WRITE ---------------------------------------------------------------- */

static void caw_continue(struct spur_scsi_task *task);

void
scsi_sbc_caw_unlock(struct spur_scsi_task *task)
{
	atomic_store_explicit(&task->priv.lun->caw_busy, 0, memory_order_release);
	task->priv.flags &= ~SCSI_TF_CAW_LOCK;
}

static void
caw_io_done(struct spur_bdev_io *io, int status, void *arg)
{
	struct spur_scsi_task *task = arg;
	struct spur_scsi_lun *lun = task->priv.lun;
	uint32_t len = (uint32_t)(task->priv.num_blocks * spur_bdev_get_block_size(lun->bdev));
	int64_t diff;

	spur_bdev_free_io(io);
	if (status != 0 || task->priv.aborted) {
		scsi_task_bdev_status(task, status, task->priv.step == CAW_WRITE);
		scsi_task_done(task);
		return;
	}
	if (task->priv.step == CAW_WRITE) {
		task->data_transferred = task->priv.cmd_len;
		scsi_task_good(task);
		scsi_task_done(task);
		return;
	}
	diff = cmp_data_out(task, task->priv.scratch, len, 0);
	if (diff >= 0) {
		task->data_transferred = task->priv.cmd_len;
		miscompare(task, (uint32_t)diff);
		scsi_task_done(task);
		return;
	}
	/* Equal: the second half of the data-out buffer is what to write. */
	scsi_task_get_data(task, task->priv.scratch, len, len);
	task->priv.step = CAW_WRITE;
	caw_continue(task);
}

static void
caw_continue(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	struct spur_io_channel *bch;
	uint32_t expected = 0;
	int rc;

	if (task->priv.step == CAW_LOCK) {
		if (!atomic_compare_exchange_strong(&lun->caw_busy, &expected, 1)) {
			task->priv.resume = caw_continue;
			scsi_task_retry_later(task);
			return;
		}
		task->priv.flags |= SCSI_TF_CAW_LOCK;
		task->priv.step = CAW_READ;
	}
	bch = scsi_task_bdev_ch_or_busy(task);
	if (bch == NULL)
		return;
	if (task->priv.step == CAW_READ) {
		rc = spur_bdev_read_blocks(lun->desc, bch, task->priv.scratch, task->priv.lba,
					   task->priv.num_blocks, caw_io_done, task);
	} else {
		struct iovec *iov = &task->priv.scratch_iov;

		iov->iov_base = task->priv.scratch;
		iov->iov_len = task->priv.num_blocks * spur_bdev_get_block_size(lun->bdev);
		rc = spur_bdev_writev_blocks(lun->desc, bch, iov, 1, task->priv.lba,
					     task->priv.num_blocks,
					     (task->priv.flags & SCSI_TF_FUA) &&
					     spur_bdev_has_write_cache(lun->bdev) ?
					     SPUR_BDEV_IO_FUA : 0, caw_io_done, task);
	}
	if (rc == 0) {
		return;
	}
	if (rc == -ENOMEM) {
		task->priv.resume = caw_continue;
		scsi_task_wait_io(task);
		return;
	}
	scsi_task_bdev_errno(task, rc, task->priv.step == CAW_WRITE);
	scsi_task_done(task);
}

void
scsi_sbc_compare_and_write(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	const uint8_t *cdb = task->cdb;
	uint32_t bs = spur_bdev_get_block_size(lun->bdev);
	uint64_t lba = scsi_get_be64(&cdb[2]);
	uint32_t num = cdb[13];

	if (!scsi_sbc_writable(task)) {
		goto done;
	}
	if (cdb[1] >> 5) {
		scsi_task_invalid_field(task, true, 1, 7);
		goto done;
	}
	if (!scsi_sbc_range_ok(task, lba, num)) {
		goto done;
	}
	task->priv.cmd_len = 2 * num * bs;
	if (num == 0) {
		scsi_task_good(task);
		goto done;
	}
	if (num > scsi_sbc_max_caw_blocks(lun) ||
	    scsi_task_data_out_len(task) < task->priv.cmd_len) {
		scsi_task_invalid_field(task, true, 13, 0xff);
		goto done;
	}
	if (scsi_task_scratch(task, num * bs) == NULL) {
		scsi_task_busy(task);
		goto done;
	}
	if (cdb[1] & 0x08) {
		task->priv.flags |= SCSI_TF_FUA;
	}
	task->priv.lba = lba;
	task->priv.num_blocks = num;
	task->priv.step = CAW_LOCK;
	caw_continue(task);
	return;
done:
	scsi_task_done(task);
}

/* ---- VERIFY --------------------------------------------------------------------------- */

static void verify_continue(struct spur_scsi_task *task);

static void
verify_read_done(struct spur_bdev_io *io, int status, void *arg)
{
	struct spur_scsi_task *task = arg;
	struct spur_scsi_lun *lun = task->priv.lun;
	uint32_t bs = spur_bdev_get_block_size(lun->bdev);
	uint64_t chunk = SPUR_MIN(task->priv.num_blocks - task->priv.done_blocks,
				  (uint64_t)scsi_sbc_buf_blocks(lun));
	uint8_t bytchk = task->priv.step;
	int64_t diff = -1;

	spur_bdev_free_io(io);
	if (status != 0 || task->priv.aborted) {
		scsi_task_bdev_status(task, status, false);
		scsi_task_done(task);
		return;
	}
	if (bytchk == 1) {
		diff = cmp_data_out(task, task->priv.scratch, (uint32_t)(chunk * bs),
				    (uint32_t)(task->priv.done_blocks * bs));
		if (diff >= 0) {
			diff += (int64_t)(task->priv.done_blocks * bs);
		}
	} else if (bytchk == 3) {
		for (uint64_t b = 0; b < chunk && diff < 0; b++) {
			diff = cmp_data_out(task, (uint8_t *)task->priv.scratch + b * bs, bs, 0);
			if (diff >= 0) {
				diff += (int64_t)((task->priv.done_blocks + b) * bs);
			}
		}
	}
	if (diff >= 0) {
		task->data_transferred = task->priv.cmd_len;
		miscompare(task, (uint32_t)diff);
		scsi_task_done(task);
		return;
	}
	task->priv.done_blocks += chunk;
	if (task->priv.done_blocks == task->priv.num_blocks) {
		task->data_transferred = task->priv.cmd_len;
		scsi_task_good(task);
		scsi_task_done(task);
		return;
	}
	verify_continue(task);
}

static void
verify_continue(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	struct spur_io_channel *bch = scsi_task_bdev_ch_or_busy(task);
	uint64_t chunk = SPUR_MIN(task->priv.num_blocks - task->priv.done_blocks,
				  (uint64_t)scsi_sbc_buf_blocks(lun));
	int rc;

	if (bch == NULL)
		return;
	rc = spur_bdev_read_blocks(lun->desc, bch, task->priv.scratch,
				   task->priv.lba + task->priv.done_blocks, chunk, verify_read_done,
				   task);
	if (rc == 0) {
		return;
	}
	if (rc == -ENOMEM) {
		task->priv.resume = verify_continue;
		scsi_task_wait_io(task);
		return;
	}
	scsi_task_bdev_errno(task, rc, false);
	scsi_task_done(task);
}

void
scsi_sbc_verify(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	const uint8_t *cdb = task->cdb;
	uint32_t bs = spur_bdev_get_block_size(lun->bdev);
	uint8_t bytchk = (cdb[1] >> 1) & 0x03;
	uint64_t lba, num, need;

	if (cdb[0] == 0x2f) {
		lba = scsi_get_be32(&cdb[2]);
		num = scsi_get_be16(&cdb[7]);
	} else {
		lba = scsi_get_be64(&cdb[2]);
		num = scsi_get_be32(&cdb[10]);
	}
	if (cdb[1] >> 5) { /* VRPROTECT */
		scsi_task_invalid_field(task, true, 1, 7);
		goto done;
	}
	if (bytchk == 2) {
		scsi_task_invalid_field(task, true, 1, 2);
		goto done;
	}
	if (!scsi_sbc_range_ok(task, lba, num)) {
		goto done;
	}
	need = bytchk == 1 ? num * bs : (bytchk == 3 ? bs : 0);
	task->priv.cmd_len = num == 0 ? 0 : (uint32_t)SPUR_MIN(need, (uint64_t)UINT32_MAX);
	if (num == 0) {
		scsi_task_good(task);
		goto done;
	}
	if (need > scsi_task_data_out_len(task)) {
		scsi_task_invalid_field(task, true, cdb[0] == 0x2f ? 7 : 10, 0xff);
		goto done;
	}
	if (scsi_task_scratch(task, (uint32_t)SPUR_MIN(num, (uint64_t)scsi_sbc_buf_blocks(lun)) *
				    bs) == NULL) {
		scsi_task_busy(task);
		goto done;
	}
	task->priv.lba = lba;
	task->priv.num_blocks = num;
	task->priv.done_blocks = 0;
	task->priv.step = bytchk;
	verify_continue(task);
	return;
done:
	scsi_task_done(task);
}
