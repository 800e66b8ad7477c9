/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit attention conditions (SAM-5 5.14, SPC-4 4.5.5), kept per LUN and per
 * initiator port without locks.
 *
 * Each LUN has SCSI_LUN_MAX_ITN slots; an initiator claims the first free
 * one with compare-and-swap on its first command to the LUN (every claimer
 * scans in the same order and slots are never released while the LUN
 * exists, so one port never gets two slots). A new slot starts with POWER
 * ON, RESET, OR BUS DEVICE RESET OCCURRED pending: to a new I_T nexus the
 * LUN has just appeared. Conditions are bits set with fetch_or by whoever
 * establishes them (app thread for LUN events, the TMF thread for resets, the
 * app thread for reservation changes); a command reports the lowest pending
 * bit and clears it with fetch_and, and only the command whose fetch_and
 * saw the bit reports it. An initiator beyond the table's capacity gets no
 * unit attentions (logged once per LUN).
 *
 * Each device channel caches the slot of the last initiator per LUN, so the
 * common case costs one comparison and one atomic load.
 */
#include "spur/log.h"
#include "scsi_internal.h"
#include "scsi_sense.h"

void
scsi_ua_sense(enum scsi_ua ua, uint8_t *asc, uint8_t *ascq)
{
	static const uint8_t codes[SCSI_UA_NUM][2] = {
		[SCSI_UA_POWER_ON] = { SCSI_ASC_POWER_ON_RESET },
		[SCSI_UA_LUN_RESET] = { SCSI_ASC_BUS_DEVICE_RESET_FUNCTION },
		[SCSI_UA_RES_PREEMPTED] = { SCSI_ASC_RESERVATIONS_PREEMPTED },
		[SCSI_UA_RES_RELEASED] = { SCSI_ASC_RESERVATIONS_RELEASED },
		[SCSI_UA_REG_PREEMPTED] = { SCSI_ASC_REGISTRATIONS_PREEMPTED },
		[SCSI_UA_MODE_CHANGED] = { SCSI_ASC_MODE_PARAMETERS_CHANGED },
		[SCSI_UA_CAPACITY_CHANGED] = { SCSI_ASC_CAPACITY_DATA_CHANGED },
		[SCSI_UA_LUNS_CHANGED] = { SCSI_ASC_REPORTED_LUNS_DATA_CHANGED },
	};

	*asc = codes[ua][0];
	*ascq = codes[ua][1];
}

static struct scsi_itn *
itn_find(struct spur_scsi_lun *lun, uint64_t port_id, bool claim, uint32_t *idx)
{
	for (uint32_t i = 0; i < SCSI_LUN_MAX_ITN; i++) {
		struct scsi_itn *itn = &lun->itn[i];
		uint64_t cur = atomic_load_explicit(&itn->port_id, memory_order_acquire);

		if (cur == port_id) {
			*idx = i;
			return itn;
		}
		if (cur != 0) {
			continue;
		}
		if (!claim) {
			return NULL; /* slots fill in order: no later match */
		}
		if (atomic_compare_exchange_strong(&itn->port_id, &cur, port_id)) {
			atomic_fetch_or(&itn->pending, SCSI_UA_BIT(SCSI_UA_POWER_ON));
			*idx = i;
			return itn;
		}
		if (cur == port_id) { /* the same initiator on another thread won */
			*idx = i;
			return itn;
		}
	}
	if (claim) {
		static _Atomic bool warned;

		if (!atomic_exchange(&warned, true)) {
			SPUR_WARNLOG("scsi %s: LUN %u: more than %u initiators, unit attentions not "
				     "tracked for the others\n", lun->dev->name, lun->id,
				     SCSI_LUN_MAX_ITN);
		}
	}
	return NULL;
}

struct scsi_itn *
scsi_ua_itn(struct scsi_dev_channel *ch, struct spur_scsi_lun *lun, uint64_t port_id)
{
	struct scsi_lun_ch *lc = &ch->luns[lun->id];
	struct scsi_itn *itn;
	uint32_t idx;

	if (spur_likely(lc->hint_port == port_id && lc->lun == lun)) {
		return &lun->itn[lc->hint_itn];
	}
	itn = itn_find(lun, port_id, true, &idx);
	if (itn != NULL && lc->lun == lun) {
		lc->hint_port = port_id;
		lc->hint_itn = idx;
	}
	return itn;
}

int
scsi_ua_take(struct scsi_itn *itn)
{
	uint32_t pend, bit, old;

	for (;;) {
		pend = atomic_load_explicit(&itn->pending, memory_order_relaxed);
		if (spur_likely(pend == 0)) {
			return -1;
		}
		bit = (uint32_t)__builtin_ctz(pend);
		old = atomic_fetch_and(&itn->pending, ~SCSI_UA_BIT(bit));
		if (old & SCSI_UA_BIT(bit)) {
			return (int)bit;
		}
	}
}

bool
scsi_ua_report(struct spur_scsi_task *task, struct scsi_itn *itn)
{
	uint8_t asc, ascq;
	int ua = scsi_ua_take(itn);

	if (ua < 0) {
		return false;
	}
	scsi_ua_sense((enum scsi_ua)ua, &asc, &ascq);
	scsi_task_check(task, SPUR_SCSI_SENSE_UNIT_ATTENTION, asc, ascq);
	return true;
}

void
scsi_ua_clear(struct scsi_itn *itn, enum scsi_ua ua)
{
	atomic_fetch_and(&itn->pending, ~SCSI_UA_BIT(ua));
}

void
scsi_ua_establish_all(struct spur_scsi_lun *lun, enum scsi_ua ua, uint64_t except_port)
{
	for (uint32_t i = 0; i < SCSI_LUN_MAX_ITN; i++) {
		uint64_t port = atomic_load_explicit(&lun->itn[i].port_id, memory_order_acquire);

		if (port == 0) {
			break;
		}
		if (port != except_port) {
			atomic_fetch_or(&lun->itn[i].pending, SCSI_UA_BIT(ua));
		}
	}
}

void
scsi_ua_establish_port(struct spur_scsi_lun *lun, enum scsi_ua ua, uint64_t port_id)
{
	uint32_t idx;
	struct scsi_itn *itn = itn_find(lun, port_id, false, &idx);

	/* An initiator without a slot will see POWER ON first anyway. */
	if (itn != NULL) {
		atomic_fetch_or(&itn->pending, SCSI_UA_BIT(ua));
	}
}

void
scsi_ua_clear_port(struct spur_scsi_lun *lun, enum scsi_ua ua, uint64_t port_id)
{
	uint32_t idx;
	struct scsi_itn *itn = itn_find(lun, port_id, false, &idx);

	if (itn != NULL) {
		scsi_ua_clear(itn, ua);
	}
}
