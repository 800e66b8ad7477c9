/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The command table and the checks every command goes through before it
 * runs, plus REPORT SUPPORTED OPERATION CODES, which publishes the table.
 *
 * One row per (operation code, service action): CDB length, how the
 * command fares under a persistent reservation (SPC-4 and SBC-3 tables of
 * commands allowed in the presence of reservations, folded into three
 * classes), whether it is exempt from unit attentions, whether it runs
 * without a LUN, whether it needs a started unit, its handler, and its CDB
 * usage data. scsi_cmd_execute applies, in order: LUN presence, unit
 * attention, reservation conflict, NOT READY, then the handler.
 *
 * The table is constant; an index by operation code is built once at load
 * time. Runs on the task's thread.
 */
#include <string.h>

#include "scsi_internal.h"
#include "scsi_sense.h"

#define A SCSI_PR_ALLOWED
#define R SCSI_PR_READ
#define W SCSI_PR_WRITE
#define LBA4 0xff, 0xff, 0xff, 0xff
#define LBA8 LBA4, LBA4

static const struct scsi_cmd g_cmds[] = {
	{ 0x00, 0, false, 6, A, false, false, true, scsi_spc_test_unit_ready,
	  { 0x00, 0, 0, 0, 0, 0 } },
	{ 0x03, 0, false, 6, A, true, true, false, scsi_spc_request_sense,
	  { 0x03, 0x01, 0, 0, 0xff, 0 } },
	{ 0x08, 0, false, 6, R, false, false, true, scsi_sbc_read,
	  { 0x08, 0x1f, 0xff, 0xff, 0xff, 0 } },
	{ 0x0a, 0, false, 6, W, false, false, true, scsi_sbc_write,
	  { 0x0a, 0x1f, 0xff, 0xff, 0xff, 0 } },
	{ 0x12, 0, false, 6, A, true, true, false, scsi_spc_inquiry,
	  { 0x12, 0x01, 0xff, 0xff, 0xff, 0 } },
	{ 0x15, 0, false, 6, W, false, false, false, scsi_mode_select,
	  { 0x15, 0x11, 0, 0, 0xff, 0 } },
	{ 0x1a, 0, false, 6, R, false, false, false, scsi_mode_sense,
	  { 0x1a, 0x08, 0xff, 0xff, 0xff, 0 } },
	{ 0x1b, 0, false, 6, W, false, false, false, scsi_spc_start_stop_unit,
	  { 0x1b, 0x01, 0, 0x0f, 0xf7, 0 } },
	{ 0x1e, 0, false, 6, A, false, false, false, scsi_spc_prevent_allow,
	  { 0x1e, 0, 0, 0, 0x03, 0 } },
	{ 0x25, 0, false, 10, A, false, false, false, scsi_sbc_read_capacity10,
	  { 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0 } },
	{ 0x28, 0, false, 10, R, false, false, true, scsi_sbc_read,
	  { 0x28, 0xf8, LBA4, 0, 0xff, 0xff, 0 } },
	{ 0x2a, 0, false, 10, W, false, false, true, scsi_sbc_write,
	  { 0x2a, 0xf8, LBA4, 0, 0xff, 0xff, 0 } },
	{ 0x2f, 0, false, 10, R, false, false, true, scsi_sbc_verify,
	  { 0x2f, 0xf6, LBA4, 0, 0xff, 0xff, 0 } },
	{ 0x35, 0, false, 10, W, false, false, true, scsi_sbc_sync_cache,
	  { 0x35, 0x06, LBA4, 0, 0xff, 0xff, 0 } },
	{ 0x41, 0, false, 10, W, false, false, true, scsi_sbc_write_same,
	  { 0x41, 0xf8, LBA4, 0, 0xff, 0xff, 0 } },
	{ 0x42, 0, false, 10, W, false, false, true, scsi_sbc_unmap,
	  { 0x42, 0x01, 0, 0, 0, 0, 0, 0xff, 0xff, 0 } },
	{ 0x55, 0, false, 10, W, false, false, false, scsi_mode_select,
	  { 0x55, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, 0 } },
	{ 0x5a, 0, false, 10, R, false, false, false, scsi_mode_sense,
	  { 0x5a, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0 } },
	{ 0x5e, 0x00, true, 10, A, false, false, false, scsi_pr_in,
	  { 0x5e, 0x00, 0, 0, 0, 0, 0, 0xff, 0xff, 0 } },
	{ 0x5e, 0x01, true, 10, A, false, false, false, scsi_pr_in,
	  { 0x5e, 0x01, 0, 0, 0, 0, 0, 0xff, 0xff, 0 } },
	{ 0x5e, 0x02, true, 10, A, false, false, false, scsi_pr_in,
	  { 0x5e, 0x02, 0, 0, 0, 0, 0, 0xff, 0xff, 0 } },
	{ 0x5e, 0x03, true, 10, A, false, false, false, scsi_pr_in,
	  { 0x5e, 0x03, 0, 0, 0, 0, 0, 0xff, 0xff, 0 } },
	{ 0x5f, 0x00, true, 10, A, false, false, false, scsi_pr_out,
	  { 0x5f, 0x00, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0 } },
	{ 0x5f, 0x01, true, 10, A, false, false, false, scsi_pr_out,
	  { 0x5f, 0x01, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0 } },
	{ 0x5f, 0x02, true, 10, A, false, false, false, scsi_pr_out,
	  { 0x5f, 0x02, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0 } },
	{ 0x5f, 0x03, true, 10, A, false, false, false, scsi_pr_out,
	  { 0x5f, 0x03, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0 } },
	{ 0x5f, 0x04, true, 10, A, false, false, false, scsi_pr_out,
	  { 0x5f, 0x04, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0 } },
	{ 0x5f, 0x05, true, 10, A, false, false, false, scsi_pr_out,
	  { 0x5f, 0x05, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0 } },
	{ 0x5f, 0x06, true, 10, A, false, false, false, scsi_pr_out,
	  { 0x5f, 0x06, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0 } },
	{ 0x88, 0, false, 16, R, false, false, true, scsi_sbc_read,
	  { 0x88, 0xf8, LBA8, LBA4, 0, 0 } },
	{ 0x89, 0, false, 16, W, false, false, true, scsi_sbc_compare_and_write,
	  { 0x89, 0xf8, LBA8, 0, 0, 0, 0xff, 0, 0 } },
	{ 0x8a, 0, false, 16, W, false, false, true, scsi_sbc_write,
	  { 0x8a, 0xf8, LBA8, LBA4, 0, 0 } },
	{ 0x8f, 0, false, 16, R, false, false, true, scsi_sbc_verify,
	  { 0x8f, 0xf6, LBA8, LBA4, 0, 0 } },
	{ 0x91, 0, false, 16, W, false, false, true, scsi_sbc_sync_cache,
	  { 0x91, 0x06, LBA8, LBA4, 0, 0 } },
	{ 0x93, 0, false, 16, W, false, false, true, scsi_sbc_write_same,
	  { 0x93, 0xf9, LBA8, LBA4, 0, 0 } },
	{ 0x9e, 0x10, true, 16, A, false, false, false, scsi_sbc_read_capacity16,
	  { 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, LBA4, 0, 0 } },
	{ 0xa0, 0, false, 12, A, true, true, false, scsi_spc_report_luns,
	  { 0xa0, 0, 0xff, 0, 0, 0, LBA4, 0, 0 } },
	{ 0xa3, 0x0c, true, 12, A, false, false, false, scsi_spc_report_opcodes,
	  { 0xa3, 0x0c, 0x87, 0xff, 0xff, 0xff, LBA4, 0, 0 } },
	{ 0xa8, 0, false, 12, R, false, false, true, scsi_sbc_read,
	  { 0xa8, 0xf8, LBA4, LBA4, 0, 0 } },
	{ 0xaa, 0, false, 12, W, false, false, true, scsi_sbc_write,
	  { 0xaa, 0xf8, LBA4, LBA4, 0, 0 } },
};

#undef A
#undef R
#undef W

/* g_index[opcode] = 1 + first row with that opcode, 0 = unsupported. */
static uint8_t g_index[256];

__attribute__((constructor)) static void
scsi_cmd_index_init(void)
{
	for (size_t i = SPUR_COUNTOF(g_cmds); i-- > 0;) {
		g_index[g_cmds[i].opcode] = (uint8_t)(i + 1);
	}
}

static bool
opcode_has_sa(uint8_t opcode)
{
	return g_index[opcode] != 0 && g_cmds[g_index[opcode] - 1].has_sa;
}

static uint8_t
cdb_sa(const uint8_t *cdb)
{
	return cdb[1] & 0x1f;
}

/* The row for cdb, or NULL (unknown opcode or service action). */
const struct scsi_cmd *
scsi_cmd_find(const uint8_t *cdb)
{
	uint32_t i = g_index[cdb[0]];

	if (i == 0) {
		return NULL;
	}
	for (i--; i < SPUR_COUNTOF(g_cmds) && g_cmds[i].opcode == cdb[0]; i++) {
		if (!g_cmds[i].has_sa || g_cmds[i].sa == cdb_sa(cdb)) {
			return &g_cmds[i];
		}
	}
	return NULL;
}

void
scsi_cmd_execute(struct spur_scsi_task *task)
{
	const struct scsi_cmd *cmd = scsi_cmd_find(task->cdb);
	struct spur_scsi_lun *lun = task->priv.lun;
	struct scsi_itn *itn;

	if (lun == NULL && (cmd == NULL || !cmd->no_lun)) {
		scsi_task_lun_not_supported(task);
		scsi_task_done(task);
		return;
	}
	if (lun != NULL) {
		itn = scsi_ua_itn(scsi_task_chan(task), lun, task->initiator->id);
		if ((cmd == NULL || !cmd->ua_exempt) && itn != NULL && scsi_ua_report(task, itn)) {
			scsi_task_done(task);
			return;
		}
	}
	if (cmd == NULL) {
		if (opcode_has_sa(task->cdb[0])) {
			scsi_task_invalid_field(task, true, 1, 4);
		} else {
			scsi_task_invalid_opcode(task);
		}
		scsi_task_done(task);
		return;
	}
	if (lun != NULL && cmd->pr_class != SCSI_PR_ALLOWED &&
	    scsi_pr_conflict(lun, task->initiator->id, (enum scsi_pr_class)cmd->pr_class)) {
		scsi_task_reservation_conflict(task);
		scsi_task_done(task);
		return;
	}
	if (cmd->media && atomic_load_explicit(&lun->stopped, memory_order_relaxed)) {
		scsi_task_check(task, SPUR_SCSI_SENSE_NOT_READY,
				SCSI_ASC_LUN_NOT_READY_INIT_REQUIRED);
		scsi_task_done(task);
		return;
	}
	cmd->exec(task);
}

/* ---- REPORT SUPPORTED OPERATION CODES (SPC-4 6.35) ------------------------------------- */

#define RSOC_TIMEOUTS_LEN 12

static uint32_t
rsoc_timeouts(uint8_t *p)
{
	memset(p, 0, RSOC_TIMEOUTS_LEN);
	scsi_be16(p, RSOC_TIMEOUTS_LEN - 2); /* nominal / recommended: not specified */
	return RSOC_TIMEOUTS_LEN;
}

static uint32_t
rsoc_all(uint8_t *buf, bool rctd)
{
	uint32_t off = 4;

	for (size_t i = 0; i < SPUR_COUNTOF(g_cmds); i++) {
		const struct scsi_cmd *c = &g_cmds[i];
		uint8_t *d = &buf[off];

		memset(d, 0, 8);
		d[0] = c->opcode;
		scsi_be16(&d[2], c->has_sa ? c->sa : 0);
		d[5] = (rctd ? 0x02 : 0) | (c->has_sa ? 0x01 : 0);
		scsi_be16(&d[6], c->cdb_len);
		off += 8;
		if (rctd) {
			off += rsoc_timeouts(&buf[off]);
		}
	}
	scsi_be32(buf, off - 4);
	return off;
}

static uint32_t
rsoc_one(uint8_t *buf, const struct scsi_cmd *c, bool rctd)
{
	memset(buf, 0, 4);
	if (c == NULL) {
		buf[1] = 0x01; /* SUPPORT: not supported */
		return 4;
	}
	buf[1] = (rctd ? 0x80 : 0) | 0x03; /* supported, in conformance with a standard */
	scsi_be16(&buf[2], c->cdb_len);
	memcpy(&buf[4], c->usage, c->cdb_len);
	if (rctd) {
		return 4 + c->cdb_len + rsoc_timeouts(&buf[4 + c->cdb_len]);
	}
	return 4 + c->cdb_len;
}

void
scsi_spc_report_opcodes(struct spur_scsi_task *task)
{
	const uint8_t *cdb = task->cdb;
	uint8_t buf[SPUR_COUNTOF(g_cmds) * (8 + RSOC_TIMEOUTS_LEN) + 4];
	bool rctd = (cdb[2] & 0x80) != 0;
	uint8_t opcode = cdb[3], tmp[SPUR_SCSI_MAX_CDB_LEN];
	uint16_t sa = scsi_get_be16(&cdb[4]);
	uint32_t alloc = scsi_get_be32(&cdb[6]), len;
	const struct scsi_cmd *c;

	memset(tmp, 0, sizeof(tmp));
	tmp[0] = opcode;
	switch (cdb[2] & 0x07) {
	case 0:
		len = rsoc_all(buf, rctd);
		break;
	case 1: /* operation code only: not for commands with service actions */
		if (opcode_has_sa(opcode)) {
			scsi_task_invalid_field(task, true, 2, 2);
			goto done;
		}
		len = rsoc_one(buf, scsi_cmd_find(tmp), rctd);
		break;
	case 2: /* operation code + service action */
		if (g_index[opcode] != 0 && !opcode_has_sa(opcode)) {
			scsi_task_invalid_field(task, true, 2, 2);
			goto done;
		}
		c = NULL;
		if (sa <= 0x1f) {
			tmp[1] = (uint8_t)sa;
			c = scsi_cmd_find(tmp);
		}
		len = rsoc_one(buf, c, rctd);
		break;
	case 3: /* either */
		c = NULL;
		if (!opcode_has_sa(opcode)) {
			c = scsi_cmd_find(tmp);
		} else if (sa <= 0x1f) {
			tmp[1] = (uint8_t)sa;
			c = scsi_cmd_find(tmp);
		}
		len = rsoc_one(buf, c, rctd);
		break;
	default:
		scsi_task_invalid_field(task, true, 2, 2);
		goto done;
	}
	if (scsi_task_put_data(task, buf, SPUR_MIN(len, alloc)) != 0) {
		scsi_task_busy(task);
	}
done:
	scsi_task_done(task);
}
