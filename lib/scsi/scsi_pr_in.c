/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PERSISTENT RESERVE IN (SPC-4 6.13): READ KEYS, READ RESERVATION, REPORT
 * CAPABILITIES and READ FULL STATUS, answered on the task's thread from the
 * LUN's published reservation snapshot (see scsi_pr.c for its life). The
 * snapshot is read within this one call, so the answer is consistent. The
 * longer answers are built in a layer scratch buffer, then copied to the
 * task bounded by the allocation length.
 *
 * TransportIDs in READ FULL STATUS use the iSCSI format (protocol 5h,
 * format 00b) carrying the initiator port's name: the port names front ends
 * give are iSCSI-style names, and the format holds any printable name.
 */
#include <string.h>

#include "scsi_internal.h"
#include "scsi_sense.h"

enum pr_in_sa {
	PR_READ_KEYS = 0,
	PR_READ_RESERVATION = 1,
	PR_REPORT_CAPABILITIES = 2,
	PR_READ_FULL_STATUS = 3,
};

#define FULL_STATUS_DESC_MAX (24u + 4u + SPUR_SCSI_PORT_NAME_MAX + 4u)
#define PR_IN_MAX (8u + SCSI_PR_MAX_REGS * FULL_STATUS_DESC_MAX)

static bool
holder(const struct scsi_pr_state *s, const struct scsi_pr_reg *r)
{
	if (s->type == SCSI_PR_NONE) {
		return false;
	}
	if (s->type == SCSI_PR_WE_AR || s->type == SCSI_PR_EA_AR) {
		return true;
	}
	return r->port_id == s->holder_port;
}

static uint32_t
transport_id(uint8_t *p, const char *name)
{
	size_t len = strnlen(name, SPUR_SCSI_PORT_NAME_MAX - 1) + 1; /* with the NUL */
	uint32_t padded = (uint32_t)((len + 3) & ~(size_t)3);

	if (padded < 20) {
		padded = 20; /* the iSCSI TransportID is at least 24 bytes */
	}
	memset(p, 0, 4 + padded);
	p[0] = 0x05; /* format 00b, iSCSI */
	scsi_be16(&p[2], (uint16_t)padded);
	memcpy(&p[4], name, len - 1);
	return 4 + padded;
}

static uint32_t
read_keys(const struct scsi_pr_state *s, uint8_t *buf)
{
	uint32_t n = s != NULL ? s->nregs : 0;

	scsi_be32(buf, s != NULL ? s->generation : 0);
	scsi_be32(&buf[4], 8 * n);
	for (uint32_t i = 0; i < n; i++) {
		scsi_be64(&buf[8 + 8 * i], s->regs[i].key);
	}
	return 8 + 8 * n;
}

static uint32_t
read_reservation(const struct scsi_pr_state *s, uint8_t *buf)
{
	memset(buf, 0, 24);
	scsi_be32(buf, s != NULL ? s->generation : 0);
	if (s == NULL || s->type == SCSI_PR_NONE) {
		return 8;
	}
	scsi_be32(&buf[4], 16);
	if (s->type != SCSI_PR_WE_AR && s->type != SCSI_PR_EA_AR) {
		/* All-registrants reservations report key 0. */
		for (uint32_t i = 0; i < s->nregs; i++) {
			if (s->regs[i].port_id == s->holder_port) {
				scsi_be64(&buf[8], s->regs[i].key);
			}
		}
	}
	buf[21] = s->type; /* scope 0: logical unit */
	return 24;
}

static uint32_t
report_capabilities(uint8_t *buf)
{
	memset(buf, 0, 8);
	scsi_be16(buf, 8);
	/* byte 2: CRH, SIP_C, ATP_C, PTPL_C all 0 */
	buf[3] = 0x80;                            /* TMV: the type mask is valid */
	buf[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02; /* WR_EX_AR EX_AC_RO WR_EX_RO EX_AC WR_EX */
	buf[5] = 0x01;                            /* EX_AC_AR */
	return 8;
}

static uint32_t
read_full_status(const struct scsi_pr_state *s, uint8_t *buf)
{
	uint32_t off = 8;

	scsi_be32(buf, s != NULL ? s->generation : 0);
	for (uint32_t i = 0; s != NULL && i < s->nregs; i++) {
		const struct scsi_pr_reg *r = &s->regs[i];
		uint8_t *d = &buf[off];
		uint32_t tid;

		memset(d, 0, 24);
		scsi_be64(d, r->key);
		if (holder(s, r)) {
			d[12] = 0x01; /* R_HOLDER */
			d[13] = s->type;
		}
		scsi_be16(&d[18], r->rel_tgt_port_id);
		tid = transport_id(&d[24], r->name);
		scsi_be32(&d[20], tid);
		off += 24 + tid;
	}
	scsi_be32(&buf[4], off - 8);
	return off;
}

void
scsi_pr_in(struct spur_scsi_task *task)
{
	const struct scsi_pr_state *s = atomic_load_explicit(&task->priv.lun->pr,
							     memory_order_acquire);
	uint32_t alloc = scsi_get_be16(&task->cdb[7]), len;
	uint8_t *buf = scsi_task_scratch(task, PR_IN_MAX);

	if (buf == NULL) {
		scsi_task_busy(task);
		scsi_task_done(task);
		return;
	}
	switch (task->cdb[1] & 0x1f) {
	case PR_READ_KEYS:
		len = read_keys(s, buf);
		break;
	case PR_READ_RESERVATION:
		len = read_reservation(s, buf);
		break;
	case PR_REPORT_CAPABILITIES:
		len = report_capabilities(buf);
		break;
	default:
		len = read_full_status(s, buf);
		break;
	}
	if (scsi_task_put_data(task, buf, SPUR_MIN(len, alloc)) != 0) {
		scsi_task_busy(task);
	}
	scsi_task_done(task);
}
