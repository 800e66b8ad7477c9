/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SBC-3 data path: READ and WRITE (6/10/12/16, FUA), SYNCHRONIZE CACHE
 * (10/16), READ CAPACITY (10/16), and the range / write-protect checks the
 * other SBC files share.
 *
 * READ and WRITE never copy: they hand the front end's iovecs to
 * spur_bdev_readv/writev_blocks as they are (the bdev layer accepts iovecs
 * longer than the request). A front end without memory gets a READ buffer
 * from the bdev layer, kept with the bdev request until spur_scsi_task_put.
 *
 * Transfer length vs the CDB (SAM-5 residuals): a READ whose CDB asks for
 * more than the initiator expects moves only the whole blocks that fit
 * (OVERFLOW); a WRITE in that case is refused with INVALID FIELD IN CDB,
 * since the data to write never arrived. An initiator expecting more than
 * the CDB implies gets UNDERFLOW. A bdev out of request objects makes the
 * task wait (spur_bdev_queue_io_wait) and resubmit. Runs on the task's thread.
 */
#include <errno.h>
#include <string.h>

#include "scsi_internal.h"
#include "scsi_sense.h"

bool
scsi_sbc_range_ok(struct spur_scsi_task *task, uint64_t lba, uint64_t num)
{
	uint64_t cap = spur_bdev_get_num_blocks(task->priv.lun->bdev);

	if (lba > cap || num > cap - lba) {
		scsi_task_lba_out_of_range(task);
		return false;
	}
	return true;
}

bool
scsi_sbc_writable(struct spur_scsi_task *task)
{
	if (task->priv.lun->read_only) {
		scsi_task_check(task, SPUR_SCSI_SENSE_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED);
		return false;
	}
	return true;
}

uint32_t
scsi_sbc_buf_blocks(const struct spur_scsi_lun *lun)
{
	return SPUR_SCSI_TASK_MAX_BUF / spur_bdev_get_block_size(lun->bdev);
}

uint32_t
scsi_sbc_max_caw_blocks(const struct spur_scsi_lun *lun)
{
	return SPUR_MIN(255u, scsi_sbc_buf_blocks(lun));
}

static uint32_t
clamp32(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* LBA, block count, FUA and the protection field of a READ/WRITE CDB. */
static void
rw_decode(const uint8_t *cdb, uint64_t *lba, uint64_t *num, bool *fua, uint8_t *prot)
{
	*fua = false;
	*prot = 0;
	switch (cdb[0]) {
	case 0x08:
	case 0x0a:
		*lba = ((uint64_t)(cdb[1] & 0x1f) << 16) | scsi_get_be16(&cdb[2]);
		*num = cdb[4] != 0 ? cdb[4] : 256; /* 0 means 256 blocks in the 6-byte CDBs */
		return;
	case 0x28:
	case 0x2a:
		*lba = scsi_get_be32(&cdb[2]);
		*num = scsi_get_be16(&cdb[7]);
		break;
	case 0xa8:
	case 0xaa:
		*lba = scsi_get_be32(&cdb[2]);
		*num = scsi_get_be32(&cdb[6]);
		break;
	default: /* 0x88, 0x8a */
		*lba = scsi_get_be64(&cdb[2]);
		*num = scsi_get_be32(&cdb[10]);
		break;
	}
	*fua = (cdb[1] & 0x08) != 0;
	*prot = cdb[1] >> 5;
}

/* ---- READ ---------------------------------------------------------------------------- */

static void read_submit(struct spur_scsi_task *task);

static void
read_done(struct spur_bdev_io *io, int status, void *arg)
{
	struct spur_scsi_task *task = arg;
	struct spur_scsi_lun *lun = task->priv.lun;

	if (status == 0) {
		task->data_transferred =
			(uint32_t)(task->priv.num_blocks * spur_bdev_get_block_size(lun->bdev));
		if (task->iovs == NULL) {
			/* The layer's buffer: the front end reads it until spur_scsi_task_put. */
			spur_bdev_io_get_iovs(io, &task->iovs, &task->iovcnt);
			task->priv.bdev_io = io;
		} else {
			spur_bdev_free_io(io);
		}
		scsi_task_good(task);
	} else {
		spur_bdev_free_io(io);
		scsi_task_bdev_status(task, status, false);
	}
	scsi_task_done(task);
}

static void
read_submit(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	struct spur_io_channel *bch = scsi_task_bdev_ch_or_busy(task);
	int rc;

	if (bch == NULL)
		return;
	rc = spur_bdev_readv_blocks(lun->desc, bch, task->iovs, task->iovs ? task->iovcnt : 0,
				    task->priv.lba, task->priv.num_blocks, read_done, task);
	if (spur_likely(rc == 0)) {
		return;
	}
	if (rc == -ENOMEM) {
		task->priv.resume = read_submit;
		scsi_task_wait_io(task);
		return;
	}
	scsi_task_bdev_errno(task, rc, false);
	scsi_task_done(task);
}

void
scsi_sbc_read(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	uint32_t bs = spur_bdev_get_block_size(lun->bdev);
	uint64_t lba, num, fit;
	uint8_t prot;
	bool fua;

	rw_decode(task->cdb, &lba, &num, &fua, &prot);
	if (prot != 0) {
		scsi_task_invalid_field(task, true, 1, 7);
		scsi_task_done(task);
		return;
	}
	if (!scsi_sbc_range_ok(task, lba, num)) {
		scsi_task_done(task);
		return;
	}
	task->priv.cmd_len = clamp32(num * bs);
	task->priv.flags |= SCSI_TF_DATA_IN;
	fit = (task->dir == SPUR_SCSI_DIR_FROM_DEV ? task->transfer_len : 0) / bs;
	num = SPUR_MIN(num, fit);
	if (num == 0) {
		scsi_task_good(task);
		scsi_task_done(task);
		return;
	}
	task->priv.lba = lba;
	task->priv.num_blocks = num;
	read_submit(task);
}

/* ---- WRITE --------------------------------------------------------------------------- */

static void write_submit(struct spur_scsi_task *task);

static void
write_done(struct spur_bdev_io *io, int status, void *arg)
{
	struct spur_scsi_task *task = arg;

	spur_bdev_free_io(io);
	if (status == 0) {
		task->data_transferred = task->priv.cmd_len;
	}
	scsi_task_bdev_status(task, status, true);
	scsi_task_done(task);
}

static uint32_t
write_flags(const struct spur_scsi_task *task)
{
	const struct spur_scsi_lun *lun = task->priv.lun;

	if (!spur_bdev_has_write_cache(lun->bdev)) {
		return 0;
	}
	return ((task->priv.flags & SCSI_TF_FUA) || !atomic_load_explicit(&lun->wce,
									  memory_order_relaxed)) ?
	       SPUR_BDEV_IO_FUA : 0;
}

static void
write_submit(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	struct spur_io_channel *bch = scsi_task_bdev_ch_or_busy(task);
	int rc;

	if (bch == NULL)
		return;
	rc = spur_bdev_writev_blocks(lun->desc, bch, task->iovs, task->iovcnt, task->priv.lba,
				     task->priv.num_blocks, write_flags(task), write_done, task);
	if (spur_likely(rc == 0)) {
		return;
	}
	if (rc == -ENOMEM) {
		task->priv.resume = write_submit;
		scsi_task_wait_io(task);
		return;
	}
	scsi_task_bdev_errno(task, rc, true);
	scsi_task_done(task);
}

void
scsi_sbc_write(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	uint32_t bs = spur_bdev_get_block_size(lun->bdev);
	uint64_t lba, num;
	uint8_t prot;
	bool fua;

	rw_decode(task->cdb, &lba, &num, &fua, &prot);
	if (!scsi_sbc_writable(task)) {
		goto done;
	}
	if (prot != 0) {
		scsi_task_invalid_field(task, true, 1, 7);
		goto done;
	}
	if (!scsi_sbc_range_ok(task, lba, num)) {
		goto done;
	}
	task->priv.cmd_len = clamp32(num * bs);
	if (num == 0) {
		scsi_task_good(task);
		goto done;
	}
	if (num * bs > scsi_task_data_out_len(task)) {
		/* The initiator sends less data than the CDB writes. */
		scsi_task_invalid_field(task, true, task->cdb[0] == 0x0a ? 4 : 7, 0xff);
		goto done;
	}
	if (fua) {
		task->priv.flags |= SCSI_TF_FUA;
	}
	task->priv.lba = lba;
	task->priv.num_blocks = num;
	write_submit(task);
	return;
done:
	scsi_task_done(task);
}

/* ---- SYNCHRONIZE CACHE ------------------------------------------------------------------ */

static void sync_submit(struct spur_scsi_task *task);

static void
sync_done(struct spur_bdev_io *io, int status, void *arg)
{
	struct spur_scsi_task *task = arg;

	spur_bdev_free_io(io);
	scsi_task_bdev_status(task, status, true);
	scsi_task_done(task);
}

static void
sync_submit(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	struct spur_io_channel *bch = scsi_task_bdev_ch_or_busy(task);
	int rc;

	if (bch == NULL)
		return;
	rc = spur_bdev_flush_blocks(lun->desc, bch, task->priv.lba, task->priv.num_blocks,
				    sync_done, task);
	if (rc == 0) {
		return;
	}
	if (rc == -ENOMEM) {
		task->priv.resume = sync_submit;
		scsi_task_wait_io(task);
		return;
	}
	scsi_task_bdev_errno(task, rc, true);
	scsi_task_done(task);
}

void
scsi_sbc_sync_cache(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	const uint8_t *cdb = task->cdb;
	uint64_t cap = spur_bdev_get_num_blocks(lun->bdev), lba, num;

	if (cdb[0] == 0x35) {
		lba = scsi_get_be32(&cdb[2]);
		num = scsi_get_be16(&cdb[7]);
	} else {
		lba = scsi_get_be64(&cdb[2]);
		num = scsi_get_be32(&cdb[10]);
	}
	if (!scsi_sbc_range_ok(task, lba, num)) {
		scsi_task_done(task);
		return;
	}
	if (num == 0) {
		num = cap - lba; /* to the end of the medium */
	}
	if (lun->read_only || !spur_bdev_has_write_cache(lun->bdev) ||
	    !spur_bdev_io_type_supported(lun->bdev, SPUR_BDEV_IO_FLUSH)) {
		scsi_task_good(task); /* nothing volatile to write back */
		scsi_task_done(task);
		return;
	}
	task->priv.lba = lba;
	task->priv.num_blocks = num;
	sync_submit(task);
}

/* ---- READ CAPACITY -------------------------------------------------------------------- */

void
scsi_sbc_read_capacity10(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	uint64_t last = spur_bdev_get_num_blocks(lun->bdev) - 1;
	uint8_t buf[8];

	if (!(task->cdb[8] & 0x01) && scsi_get_be32(&task->cdb[2]) != 0) {
		/* PMI = 0 requires LOGICAL BLOCK ADDRESS = 0 (SBC-3 5.15). */
		scsi_task_invalid_field(task, true, 2, 0xff);
		scsi_task_done(task);
		return;
	}
	scsi_be32(buf, last > 0xfffffffeull ? 0xffffffffu : (uint32_t)last);
	scsi_be32(&buf[4], spur_bdev_get_block_size(lun->bdev));
	if (scsi_task_put_data(task, buf, sizeof(buf)) != 0) {
		scsi_task_busy(task);
	}
	scsi_task_done(task);
}

void
scsi_sbc_read_capacity16(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	uint32_t alloc = scsi_get_be32(&task->cdb[10]);
	uint8_t buf[32];

	memset(buf, 0, sizeof(buf));
	scsi_be64(buf, spur_bdev_get_num_blocks(lun->bdev) - 1);
	scsi_be32(&buf[8], spur_bdev_get_block_size(lun->bdev));
	if (scsi_sbc_lbp(lun)) {
		buf[14] = 0x80; /* LBPME: logical block provisioning management enabled */
	}
	if (scsi_task_put_data(task, buf, SPUR_MIN((uint32_t)sizeof(buf), alloc)) != 0) {
		scsi_task_busy(task);
	}
	scsi_task_done(task);
}
