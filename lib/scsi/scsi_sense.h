/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sense data and status helpers: the additional sense codes lib/scsi uses
 * (SPC-4 annex of ASC/ASCQ assignments) and the functions that put a status
 * and fixed-format sense data into a task. Only fixed format (response code
 * 70h, 18 bytes) is produced; descriptor format is refused where asked for.
 *
 * Threading: the helpers write only into the task, on the task's thread.
 */
#ifndef SPUR_SCSI_SENSE_H
#define SPUR_SCSI_SENSE_H

#include <stdbool.h>
#include <stdint.h>

#include "spur/scsi.h"

/* ASC, ASCQ pairs. */
#define SCSI_ASC_NO_ADDITIONAL_SENSE 0x00, 0x00
#define SCSI_ASC_LUN_NOT_READY 0x04, 0x00           /* cause not reportable */
#define SCSI_ASC_LUN_NOT_READY_INIT_REQUIRED 0x04, 0x02 /* initializing command required */
#define SCSI_ASC_WRITE_ERROR 0x0c, 0x00
#define SCSI_ASC_UNRECOVERED_READ_ERROR 0x11, 0x00
#define SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR 0x1a, 0x00
#define SCSI_ASC_MISCOMPARE_DURING_VERIFY 0x1d, 0x00
#define SCSI_ASC_INVALID_COMMAND_OPCODE 0x20, 0x00
#define SCSI_ASC_LBA_OUT_OF_RANGE 0x21, 0x00
#define SCSI_ASC_INVALID_FIELD_IN_CDB 0x24, 0x00
#define SCSI_ASC_LUN_NOT_SUPPORTED 0x25, 0x00
#define SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST 0x26, 0x00
#define SCSI_ASC_INVALID_RELEASE_OF_PR 0x26, 0x04
#define SCSI_ASC_WRITE_PROTECTED 0x27, 0x00
#define SCSI_ASC_SPACE_ALLOC_FAILED_WRITE_PROTECT 0x27, 0x07
#define SCSI_ASC_POWER_ON_RESET 0x29, 0x00
#define SCSI_ASC_BUS_DEVICE_RESET_FUNCTION 0x29, 0x03
#define SCSI_ASC_MODE_PARAMETERS_CHANGED 0x2a, 0x01
#define SCSI_ASC_RESERVATIONS_PREEMPTED 0x2a, 0x03
#define SCSI_ASC_RESERVATIONS_RELEASED 0x2a, 0x04
#define SCSI_ASC_REGISTRATIONS_PREEMPTED 0x2a, 0x05
#define SCSI_ASC_CAPACITY_DATA_CHANGED 0x2a, 0x09
#define SCSI_ASC_SAVING_PARAMS_NOT_SUPPORTED 0x39, 0x00
#define SCSI_ASC_REPORTED_LUNS_DATA_CHANGED 0x3f, 0x0e
#define SCSI_ASC_INTERNAL_TARGET_FAILURE 0x44, 0x00
#define SCSI_ASC_INSUFFICIENT_RESOURCES 0x55, 0x03

#define SCSI_FIXED_SENSE_LEN 18u

/*
 * Build fixed-format sense into buf (>= 18 bytes): current error, sense
 * key, ASC/ASCQ; information (bytes 3-6, VALID set) when info_valid.
 */
void scsi_sense_build(uint8_t *buf, uint8_t sense_key, uint8_t asc, uint8_t ascq,
		      bool info_valid, uint32_t info);

/* GOOD, no sense. */
void scsi_task_good(struct spur_scsi_task *task);
/* CHECK CONDITION with fixed-format sense. */
void scsi_task_check(struct spur_scsi_task *task, uint8_t sense_key, uint8_t asc, uint8_t ascq);
/* CHECK CONDITION with the INFORMATION field (MISCOMPARE offset, ...). */
void scsi_task_check_info(struct spur_scsi_task *task, uint8_t sense_key, uint8_t asc,
			  uint8_t ascq, uint32_t info);
/*
 * ILLEGAL REQUEST, INVALID FIELD IN CDB (in_cdb) or IN PARAMETER LIST,
 * with the sense-key-specific field pointer to byte / bit (bit < 8; 0xff
 * for no bit pointer).
 */
void scsi_task_invalid_field(struct spur_scsi_task *task, bool in_cdb, uint16_t byte, uint8_t bit);
/* Shorthands. */
void scsi_task_invalid_opcode(struct spur_scsi_task *task);
void scsi_task_lba_out_of_range(struct spur_scsi_task *task);
void scsi_task_lun_not_supported(struct spur_scsi_task *task);
void scsi_task_reservation_conflict(struct spur_scsi_task *task);
void scsi_task_busy(struct spur_scsi_task *task);

#endif
