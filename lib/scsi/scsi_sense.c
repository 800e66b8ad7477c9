/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Status and fixed-format sense data (SPC-4 4.5.3): every SCSI outcome
 * lib/scsi reports goes through these helpers, so the sense layout lives in
 * one place. They write only into the task and run on the task's thread.
 *
 * Fixed format, 18 bytes: byte 0 VALID | response code 70h; byte 2 sense
 * key; bytes 3-6 INFORMATION; byte 7 additional length (10); bytes 12/13
 * ASC/ASCQ; bytes 15-17 sense-key specific (SKSV, C/D, BPV, bit and field
 * pointer for ILLEGAL REQUEST).
 */
#include <string.h>

#include "scsi_internal.h"
#include "scsi_sense.h"

void
scsi_sense_build(uint8_t *buf, uint8_t sense_key, uint8_t asc, uint8_t ascq, bool info_valid,
		 uint32_t info)
{
	memset(buf, 0, SCSI_FIXED_SENSE_LEN);
	buf[0] = 0x70 | (info_valid ? 0x80 : 0);
	buf[2] = sense_key & 0x0f;
	if (info_valid) {
		scsi_be32(&buf[3], info);
	}
	buf[7] = SCSI_FIXED_SENSE_LEN - 8;
	buf[12] = asc;
	buf[13] = ascq;
}

void
scsi_task_good(struct spur_scsi_task *task)
{
	task->status = SPUR_SCSI_STATUS_GOOD;
	task->sense_len = 0;
}

void
scsi_task_check(struct spur_scsi_task *task, uint8_t sense_key, uint8_t asc, uint8_t ascq)
{
	task->status = SPUR_SCSI_STATUS_CHECK_CONDITION;
	scsi_sense_build(task->sense, sense_key, asc, ascq, false, 0);
	task->sense_len = SCSI_FIXED_SENSE_LEN;
}

void
scsi_task_check_info(struct spur_scsi_task *task, uint8_t sense_key, uint8_t asc, uint8_t ascq,
		     uint32_t info)
{
	task->status = SPUR_SCSI_STATUS_CHECK_CONDITION;
	scsi_sense_build(task->sense, sense_key, asc, ascq, true, info);
	task->sense_len = SCSI_FIXED_SENSE_LEN;
}

void
scsi_task_invalid_field(struct spur_scsi_task *task, bool in_cdb, uint16_t byte, uint8_t bit)
{
	if (in_cdb) {
		scsi_task_check(task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
	} else {
		scsi_task_check(task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST,
				SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST);
	}
	/* Sense-key specific: SKSV, C/D (1 = CDB), BPV + bit pointer, field pointer. */
	task->sense[15] = 0x80 | (in_cdb ? 0x40 : 0) | (bit < 8 ? (0x08 | bit) : 0);
	scsi_be16(&task->sense[16], byte);
}

void
scsi_task_invalid_opcode(struct spur_scsi_task *task)
{
	scsi_task_check(task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_COMMAND_OPCODE);
}

void
scsi_task_lba_out_of_range(struct spur_scsi_task *task)
{
	scsi_task_check(task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
}

void
scsi_task_lun_not_supported(struct spur_scsi_task *task)
{
	scsi_task_check(task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LUN_NOT_SUPPORTED);
}

void
scsi_task_reservation_conflict(struct spur_scsi_task *task)
{
	task->status = SPUR_SCSI_STATUS_RESERVATION_CONFLICT;
	task->sense_len = 0;
}

void
scsi_task_busy(struct spur_scsi_task *task)
{
	task->status = SPUR_SCSI_STATUS_BUSY;
	task->sense_len = 0;
}

void
spur_scsi_task_set_status(struct spur_scsi_task *task, uint8_t status, uint8_t sense_key,
			  uint8_t asc, uint8_t ascq)
{
	task->response = SPUR_SCSI_TASK_COMPLETE;
	if (status == SPUR_SCSI_STATUS_CHECK_CONDITION) {
		scsi_task_check(task, sense_key, asc, ascq);
	} else {
		task->status = status;
		task->sense_len = 0;
	}
}
