/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MODE SENSE (6/10) and MODE SELECT (6/10) with three mode pages: Caching
 * (08h), Control (0Ah) and Informational Exceptions Control (1Ch), SPC-4
 * 7.5 and SBC-3 6.4.
 *
 * Only WCE of the Caching page is changeable, and only when the bdev has a
 * volatile write cache: clearing it makes every write FUA (write-through).
 * The value lives in lun->wce (atomic; read by every WRITE on any thread).
 * Saved parameters are not supported (PC 11b and SP are refused). A MODE
 * SELECT that changes a value establishes MODE PARAMETERS CHANGED for the
 * other initiators. Runs on the task's thread, synchronously.
 */
#include <string.h>

#include "scsi_internal.h"
#include "scsi_sense.h"

enum mode_pc {
	PC_CURRENT = 0,
	PC_CHANGEABLE = 1,
	PC_DEFAULT = 2,
	PC_SAVED = 3,
};

#define MODE_BUF 256u
#define MODE_SELECT_MAX 512u

/* Page generators: fill p (page header included), return the page length. */
static uint32_t
page_caching(const struct spur_scsi_lun *lun, enum mode_pc pc, uint8_t *p)
{
	bool cache = spur_bdev_has_write_cache(lun->bdev);

	memset(p, 0, 20);
	p[0] = 0x08;
	p[1] = 0x12;
	switch (pc) {
	case PC_CURRENT:
		p[2] = atomic_load(&lun->wce) ? 0x04 : 0;
		break;
	case PC_CHANGEABLE:
		p[2] = cache ? 0x04 : 0;
		break;
	default:
		p[2] = cache ? 0x04 : 0;
		break;
	}
	return 20;
}

static uint32_t
page_control(const struct spur_scsi_lun *lun, enum mode_pc pc, uint8_t *p)
{
	memset(p, 0, 12);
	p[0] = 0x0a;
	p[1] = 0x0a;
	if (pc != PC_CHANGEABLE) {
		p[3] = 0x10;              /* QUEUE ALGORITHM MODIFIER 1: unrestricted reordering */
		scsi_be16(&p[8], 0xffff); /* BUSY TIMEOUT PERIOD: unlimited */
	}
	return 12;
}

static uint32_t
page_iec(const struct spur_scsi_lun *lun, enum mode_pc pc, uint8_t *p)
{
	memset(p, 0, 12);
	p[0] = 0x1c;
	p[1] = 0x0a;
	if (pc != PC_CHANGEABLE) {
		p[2] = 0x08; /* DEXCPT: informational exceptions disabled */
	}
	return 12;
}

static const struct {
	uint8_t code;
	uint32_t (*gen)(const struct spur_scsi_lun *lun, enum mode_pc pc, uint8_t *p);
} g_pages[] = {
	{ 0x08, page_caching },
	{ 0x0a, page_control },
	{ 0x1c, page_iec },
};

static uint8_t
device_specific(const struct spur_scsi_lun *lun)
{
	return (lun->read_only ? 0x80 : 0) | 0x10; /* WP, DPOFUA */
}

void
scsi_mode_sense(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	const uint8_t *cdb = task->cdb;
	bool six = cdb[0] == 0x1a;
	bool dbd = (cdb[1] & 0x08) != 0, llbaa = !six && (cdb[1] & 0x10) != 0;
	enum mode_pc pc = (enum mode_pc)(cdb[2] >> 6);
	uint8_t page = cdb[2] & 0x3f, subpage = cdb[3];
	uint32_t alloc = six ? cdb[4] : scsi_get_be16(&cdb[7]);
	uint32_t hdr = six ? 4 : 8, bdl = 0, off;
	uint64_t blocks = spur_bdev_get_num_blocks(lun->bdev);
	uint32_t blen = spur_bdev_get_block_size(lun->bdev);
	uint8_t buf[MODE_BUF];
	bool found = false;

	if (pc == PC_SAVED) {
		scsi_task_check(task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST,
				SCSI_ASC_SAVING_PARAMS_NOT_SUPPORTED);
		scsi_task_done(task);
		return;
	}
	if (subpage != 0x00 && !(page == 0x3f && subpage == 0xff)) {
		scsi_task_invalid_field(task, true, 3, 0xff);
		scsi_task_done(task);
		return;
	}
	memset(buf, 0, sizeof(buf));
	if (!dbd) {
		bdl = llbaa ? 16 : 8;
	}
	off = hdr;
	if (bdl == 8) {
		scsi_be32(&buf[off], blocks > 0xffffffffull ? 0xffffffffu : (uint32_t)blocks);
		buf[off + 5] = (uint8_t)(blen >> 16);
		buf[off + 6] = (uint8_t)(blen >> 8);
		buf[off + 7] = (uint8_t)blen;
	} else if (bdl == 16) {
		scsi_be64(&buf[off], blocks);
		scsi_be32(&buf[off + 12], blen);
	}
	off += bdl;
	for (size_t i = 0; i < SPUR_COUNTOF(g_pages); i++) {
		if (page == 0x3f || page == g_pages[i].code) {
			off += g_pages[i].gen(lun, pc, &buf[off]);
			found = true;
		}
	}
	if (!found) {
		scsi_task_invalid_field(task, true, 2, 5);
		scsi_task_done(task);
		return;
	}
	if (six) {
		buf[0] = (uint8_t)(off - 1);
		buf[2] = device_specific(lun);
		buf[3] = (uint8_t)bdl;
	} else {
		scsi_be16(&buf[0], (uint16_t)(off - 2));
		buf[3] = device_specific(lun);
		buf[4] = bdl == 16 ? 0x01 : 0; /* LONGLBA */
		scsi_be16(&buf[6], (uint16_t)bdl);
	}
	if (scsi_task_put_data(task, buf, SPUR_MIN(off, alloc)) != 0) {
		scsi_task_busy(task);
	}
	scsi_task_done(task);
}

static void
param_list_length_error(struct spur_scsi_task *task)
{
	scsi_task_check(task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
}

/* Validate one page of a MODE SELECT list against current + changeable. */
static bool
select_page(struct spur_scsi_task *task, const uint8_t *p, uint32_t off, bool *wce)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	uint8_t cur[32], chg[32];
	uint32_t len = 0;

	for (size_t i = 0; i < SPUR_COUNTOF(g_pages); i++) {
		if ((p[0] & 0x3f) == g_pages[i].code) {
			len = g_pages[i].gen(lun, PC_CURRENT, cur);
			g_pages[i].gen(lun, PC_CHANGEABLE, chg);
			break;
		}
	}
	if (len == 0 || (p[0] & 0x40) != 0) { /* unknown page, or a subpage */
		scsi_task_invalid_field(task, false, (uint16_t)off, 0xff);
		return false;
	}
	if (p[1] != len - 2) {
		scsi_task_invalid_field(task, false, (uint16_t)(off + 1), 0xff);
		return false;
	}
	for (uint32_t i = 2; i < len; i++) {
		if ((p[i] ^ cur[i]) & ~chg[i]) {
			scsi_task_invalid_field(task, false, (uint16_t)(off + i), 0xff);
			return false;
		}
	}
	if ((p[0] & 0x3f) == 0x08) {
		*wce = (p[2] & 0x04) != 0;
	}
	return true;
}

void
scsi_mode_select(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	const uint8_t *cdb = task->cdb;
	bool six = cdb[0] == 0x15;
	uint32_t len = six ? cdb[4] : scsi_get_be16(&cdb[7]);
	uint32_t hdr = six ? 4 : 8, bdl, off, blen = spur_bdev_get_block_size(lun->bdev);
	uint8_t buf[MODE_SELECT_MAX];
	bool wce = atomic_load(&lun->wce), old = wce;

	task->priv.cmd_len = len;
	if (cdb[1] & 0x01) { /* SP: saving not supported */
		scsi_task_invalid_field(task, true, 1, 0);
		goto done;
	}
	if (len == 0) {
		scsi_task_good(task);
		goto done;
	}
	if (len > sizeof(buf)) {
		scsi_task_invalid_field(task, true, six ? 4 : 7, 0xff);
		goto done;
	}
	task->data_transferred = scsi_task_get_data(task, buf, len, 0);
	if (task->data_transferred < len || len < hdr) {
		param_list_length_error(task);
		goto done;
	}
	bdl = six ? buf[3] : scsi_get_be16(&buf[6]);
	if (hdr + bdl > len) {
		param_list_length_error(task);
		goto done;
	}
	if (bdl != 0) {
		bool longlba = !six && (buf[4] & 0x01);
		const uint8_t *d = &buf[hdr];

		if (bdl != (longlba ? 16u : 8u) ||
		    (longlba ? scsi_get_be32(&d[12]) : scsi_get_be24(&d[5])) != blen) {
			scsi_task_invalid_field(task, false, (uint16_t)hdr, 0xff);
			goto done;
		}
	}
	for (off = hdr + bdl; off < len;) {
		if (off + 2 > len || off + 2 + buf[off + 1] > len) {
			param_list_length_error(task);
			goto done;
		}
		if (!select_page(task, &buf[off], off, &wce)) {
			goto done;
		}
		off += 2u + buf[off + 1];
	}
	if (wce != old) {
		atomic_store(&lun->wce, wce);
		scsi_ua_establish_all(lun, SCSI_UA_MODE_CHANGED, task->initiator->id);
	}
	scsi_task_good(task);
done:
	scsi_task_done(task);
}
