/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SPC-4 primary commands that describe the device: INQUIRY (standard data
 * and the VPD pages 00h 80h 83h 86h B0h B1h B2h), REPORT LUNS, TEST UNIT
 * READY, REQUEST SENSE, START STOP UNIT and PREVENT ALLOW MEDIUM REMOVAL.
 *
 * Every response is built in a stack buffer and handed to
 * scsi_task_put_data, which clamps it to the allocation length (done here)
 * and the initiator's expected transfer length (done there). Identity comes
 * from the bdev: the UUID gives the NAA designator and the serial number, the
 * product name the INQUIRY product, the limits the Block Limits page.
 * Handlers run on the task's thread and complete synchronously (START STOP
 * UNIT may flush first).
 */
#include <errno.h>
#include <string.h>

#include "scsi_internal.h"
#include "scsi_sense.h"

#define SCSI_VENDOR "SPUR    "
#define SCSI_REVISION "0001"
#define INQ_STD_LEN 96u
#define VPD_MAX_LEN 256u

/* Space-padded printable ASCII of src into dst[len]. */
static void
ascii_field(uint8_t *dst, size_t len, const char *src)
{
	size_t i = 0;

	for (; src != NULL && src[i] != '\0' && i < len; i++) {
		char c = src[i];

		dst[i] = (c >= 0x20 && c < 0x7f) ? (uint8_t)c : ' ';
	}
	memset(dst + i, ' ', len - i);
}

static void
complete_data(struct spur_scsi_task *task, const void *buf, uint32_t len, uint32_t alloc)
{
	if (scsi_task_put_data(task, buf, SPUR_MIN(len, alloc)) != 0) {
		scsi_task_busy(task);
	}
	scsi_task_done(task);
}

/* ---- INQUIRY --------------------------------------------------------------------------- */

static uint32_t
inquiry_std(const struct spur_scsi_lun *lun, uint8_t *buf)
{
	memset(buf, 0, INQ_STD_LEN);
	buf[0] = lun != NULL ? 0x00 : 0x7f; /* PQ 011b / type 1Fh: no LUN here */
	buf[2] = 0x06;                     /* SPC-4 */
	buf[3] = 0x10 | 0x02;              /* HISUP, response data format 2 */
	buf[4] = INQ_STD_LEN - 5;
	buf[7] = 0x02;                     /* CMDQUE */
	memcpy(&buf[8], SCSI_VENDOR, 8);
	ascii_field(&buf[16], 16, lun != NULL ? spur_bdev_get_product_name(lun->bdev) : "");
	memcpy(&buf[32], SCSI_REVISION, 4);
	scsi_be16(&buf[58], 0x00a0); /* SAM-5 */
	scsi_be16(&buf[60], 0x0460); /* SPC-4 */
	scsi_be16(&buf[62], 0x04c0); /* SBC-3 */
	return INQ_STD_LEN;
}

static const uint8_t g_vpd_pages[] = { 0x00, 0x80, 0x83, 0x86, 0xb0, 0xb1, 0xb2 };

static uint32_t
vpd_designator(uint8_t *p, uint8_t code_set, uint8_t assoc_type, const void *data, uint8_t len)
{
	p[0] = code_set;
	p[1] = assoc_type;
	p[2] = 0;
	p[3] = len;
	memcpy(&p[4], data, len);
	return 4u + len;
}

static uint32_t
vpd_device_id(const struct spur_scsi_task *task, const struct spur_scsi_lun *lun, uint8_t *p)
{
	const uint8_t *u = spur_bdev_get_uuid(lun->bdev);
	uint8_t naa[16], t10[8 + SPUR_UUID_STR_LEN - 1], rtp[4] = { 0 };
	char uuid[SPUR_UUID_STR_LEN];
	uint32_t off = 0;

	/*
	 * NAA 6 (IEEE Registered Extended), 16 bytes: the NAA nibble followed by
	 * the first 124 bits of the UUID, so it is stable and unique per bdev.
	 */
	naa[0] = (uint8_t)(0x60 | (u[0] >> 4));
	for (int i = 1; i < 16; i++) {
		naa[i] = (uint8_t)((u[i - 1] << 4) | (u[i] >> 4));
	}
	off += vpd_designator(&p[off], 0x01, 0x03, naa, sizeof(naa)); /* binary, LU, NAA */
	/* T10 vendor identification: vendor + the UUID as text. */
	spur_bdev_get_uuid_str(lun->bdev, uuid, sizeof(uuid));
	memcpy(t10, SCSI_VENDOR, 8);
	memcpy(&t10[8], uuid, SPUR_UUID_STR_LEN - 1);
	off += vpd_designator(&p[off], 0x02, 0x01, t10, sizeof(t10)); /* ASCII, LU, T10 */
	/* Relative target port the command came through (target port association). */
	scsi_be16(&rtp[2], task->initiator->rel_tgt_port_id);
	off += vpd_designator(&p[off], 0x01, 0x14, rtp, sizeof(rtp));
	return off;
}

static uint32_t
vpd_block_limits(const struct spur_scsi_lun *lun, uint8_t *p)
{
	const struct spur_bdev *bdev = lun->bdev;

	memset(p, 0, 0x3c);
	p[0] = 0x01; /* WSNZ: WRITE SAME with 0 blocks is refused */
	p[1] = (uint8_t)scsi_sbc_max_caw_blocks(lun);
	scsi_be32(&p[4], spur_bdev_get_max_transfer_blocks(bdev));
	scsi_be32(&p[8], spur_bdev_get_optimal_io_boundary(bdev));
	if (scsi_sbc_lbp(lun)) {
		scsi_be32(&p[16], scsi_sbc_max_unmap_blocks(lun));
		scsi_be32(&p[20], SCSI_MAX_UNMAP_DESCRIPTORS);
	}
	scsi_be64(&p[32], scsi_sbc_max_write_same_blocks(lun));
	return 0x3c;
}

static void
inquiry_vpd(struct spur_scsi_task *task, struct spur_scsi_lun *lun, uint8_t page, uint32_t alloc)
{
	uint8_t buf[VPD_MAX_LEN];
	uint8_t *p = &buf[4];
	char uuid[SPUR_UUID_STR_LEN];
	uint32_t len;

	memset(buf, 0, sizeof(buf));
	buf[1] = page;
	switch (page) {
	case 0x00:
		memcpy(p, g_vpd_pages, sizeof(g_vpd_pages));
		len = sizeof(g_vpd_pages);
		break;
	case 0x80: /* unit serial number: the UUID's 32 hex digits */
		spur_bdev_get_uuid_str(lun->bdev, uuid, sizeof(uuid));
		len = 0;
		for (const char *c = uuid; *c != '\0'; c++) {
			if (*c != '-') {
				p[len++] = (uint8_t)*c;
			}
		}
		break;
	case 0x83:
		len = vpd_device_id(task, lun, p);
		break;
	case 0x86: /* extended INQUIRY data */
		len = 0x3c;
		p[1] = 0x01; /* SIMPSUP */
		p[2] = spur_bdev_has_write_cache(lun->bdev) ? 0x01 : 0; /* V_SUP */
		p[3] = 0x01; /* LUICLR: unit attentions are kept per I_T nexus */
		break;
	case 0xb0:
		len = vpd_block_limits(lun, p);
		break;
	case 0xb1: /* block device characteristics */
		len = 0x3c;
		scsi_be16(&p[0], 0x0001); /* non-rotating medium */
		break;
	case 0xb2: /* logical block provisioning */
		len = 4;
		if (scsi_sbc_lbp(lun)) {
			p[1] = 0x80 | 0x40 | 0x20; /* LBPU, LBPWS, LBPWS10 */
			p[2] = 0x02;               /* thin provisioned */
		}
		break;
	default:
		scsi_task_invalid_field(task, true, 2, 0xff);
		scsi_task_done(task);
		return;
	}
	scsi_be16(&buf[2], (uint16_t)len);
	complete_data(task, buf, len + 4, alloc);
}

void
scsi_spc_inquiry(struct spur_scsi_task *task)
{
	const uint8_t *cdb = task->cdb;
	struct spur_scsi_lun *lun = task->priv.lun;
	uint32_t alloc = scsi_get_be16(&cdb[3]);
	uint8_t buf[INQ_STD_LEN];

	if (cdb[1] & 0x02) { /* CMDDT: obsolete, refused */
		scsi_task_invalid_field(task, true, 1, 1);
		scsi_task_done(task);
		return;
	}
	if (cdb[1] & 0x01) {
		if (lun == NULL) {
			scsi_task_lun_not_supported(task);
			scsi_task_done(task);
			return;
		}
		inquiry_vpd(task, lun, cdb[2], alloc);
		return;
	}
	if (cdb[2] != 0) {
		scsi_task_invalid_field(task, true, 2, 0xff);
		scsi_task_done(task);
		return;
	}
	complete_data(task, buf, inquiry_std(lun, buf), alloc);
}

/* ---- REPORT LUNS ------------------------------------------------------------------------ */

void
scsi_spc_report_luns(struct spur_scsi_task *task)
{
	struct spur_scsi_dev *dev = task->priv.dev;
	uint8_t buf[8 + 8 * SPUR_SCSI_DEV_MAX_LUN];
	uint32_t alloc = scsi_get_be32(&task->cdb[6]), off = 8;

	switch (task->cdb[2]) {
	case 0x00: /* all logical units except well-known ones */
	case 0x02: /* all */
		break;
	case 0x01: /* well-known only: there are none */
		off = 8;
		goto out;
	default:
		scsi_task_invalid_field(task, true, 2, 0xff);
		scsi_task_done(task);
		return;
	}
	for (uint16_t id = 0; id < SPUR_SCSI_DEV_MAX_LUN; id++) {
		struct spur_scsi_lun *lun = scsi_dev_lun(dev, id);

		if (lun == NULL) {
			continue;
		}
		spur_scsi_lun_id_encode(id, &buf[off]);
		off += 8;
		/* The initiator now knows the current inventory (SPC-4 REPORT LUNS). */
		scsi_ua_clear_port(lun, SCSI_UA_LUNS_CHANGED, task->initiator->id);
	}
out:
	memset(buf, 0, 8);
	scsi_be32(buf, off - 8);
	complete_data(task, buf, off, alloc);
}

/* ---- TEST UNIT READY / REQUEST SENSE --------------------------------------------------- */

void
scsi_spc_test_unit_ready(struct spur_scsi_task *task)
{
	/* NOT READY for a stopped unit was answered by the common checks. */
	scsi_task_good(task);
	scsi_task_done(task);
}

void
scsi_spc_request_sense(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	struct scsi_itn *itn;
	uint8_t sense[SCSI_FIXED_SENSE_LEN], asc, ascq;
	int ua;

	if (task->cdb[1] & 0x01) { /* DESC: descriptor format not supported */
		scsi_task_invalid_field(task, true, 1, 0);
		scsi_task_done(task);
		return;
	}
	if (lun == NULL) {
		scsi_sense_build(sense, SPUR_SCSI_SENSE_ILLEGAL_REQUEST,
				 SCSI_ASC_LUN_NOT_SUPPORTED, false, 0);
	} else if ((itn = scsi_ua_itn(scsi_task_chan(task), lun, task->initiator->id)) != NULL &&
		   (ua = scsi_ua_take(itn)) >= 0) {
		/* A pending unit attention is reported (and cleared) as the sense data. */
		scsi_ua_sense((enum scsi_ua)ua, &asc, &ascq);
		scsi_sense_build(sense, SPUR_SCSI_SENSE_UNIT_ATTENTION, asc, ascq, false, 0);
	} else if (atomic_load(&lun->stopped)) {
		scsi_sense_build(sense, SPUR_SCSI_SENSE_NOT_READY,
				 SCSI_ASC_LUN_NOT_READY_INIT_REQUIRED, false, 0);
	} else {
		scsi_sense_build(sense, SPUR_SCSI_SENSE_NO_SENSE, SCSI_ASC_NO_ADDITIONAL_SENSE,
				 false, 0);
	}
	complete_data(task, sense, sizeof(sense), task->cdb[4]);
}

/* ---- START STOP UNIT / PREVENT ALLOW MEDIUM REMOVAL ---------------------------------------- */

static void
stop_flush_done(struct spur_bdev_io *io, int status, void *arg)
{
	struct spur_scsi_task *task = arg;

	spur_bdev_free_io(io);
	scsi_task_bdev_status(task, status, true);
	if (status == 0) {
		atomic_store(&task->priv.lun->stopped, true);
	}
	scsi_task_done(task);
}

static void
stop_flush(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	struct spur_io_channel *bch = scsi_task_bdev_ch_or_busy(task);
	int rc;

	if (bch == NULL)
		return;
	rc = spur_bdev_flush_blocks(lun->desc, bch, 0, spur_bdev_get_num_blocks(lun->bdev),
				    stop_flush_done, task);
	if (rc == -ENOMEM) {
		task->priv.resume = stop_flush;
		scsi_task_wait_io(task);
	} else if (rc != 0) {
		scsi_task_bdev_errno(task, rc, true);
		scsi_task_done(task);
	}
}

void
scsi_spc_start_stop_unit(struct spur_scsi_task *task)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	uint8_t b4 = task->cdb[4];

	if (b4 & 0x02) { /* LOEJ: no removable medium */
		scsi_task_invalid_field(task, true, 4, 1);
	} else if ((b4 >> 4) != 0) {
		/* Power conditions: accepted, nothing to do for a virtual unit. */
		scsi_task_good(task);
	} else if (b4 & 0x01) {
		atomic_store(&lun->stopped, false);
		scsi_task_good(task);
	} else if (!(b4 & 0x04) && !lun->read_only && spur_bdev_has_write_cache(lun->bdev) &&
		   spur_bdev_io_type_supported(lun->bdev, SPUR_BDEV_IO_FLUSH)) {
		stop_flush(task); /* stopping writes the cache back first (NO_FLUSH = 0) */
		return;
	} else {
		atomic_store(&lun->stopped, true);
		scsi_task_good(task);
	}
	scsi_task_done(task);
}

void
scsi_spc_prevent_allow(struct spur_scsi_task *task)
{
	/* Nothing is removable; PREVENT is harmless to accept. */
	scsi_task_good(task);
	scsi_task_done(task);
}
