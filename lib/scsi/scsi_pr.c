/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Persistent reservations (SPC-4 5.12): the conflict check every command
 * goes through, and PERSISTENT RESERVE OUT (REGISTER, REGISTER AND IGNORE
 * EXISTING KEY, RESERVE, RELEASE, CLEAR, PREEMPT, PREEMPT AND ABORT) for the
 * six reservation types WE, EA, WE-RO, EA-RO, WE-AR, EA-AR.
 *
 * State: an immutable snapshot (struct scsi_pr_state) per LUN, published
 * through lun->pr. I/O threads only read it (conflict check, PR IN), with an
 * acquire load, within one run-to-completion section. PR OUT is validated
 * on the task's thread, then the task is sent to the application thread,
 * which applies one PR OUT per LUN at a time (lun->pr_head queue): it builds
 * a new snapshot, publishes it, retires the old one, then sweeps every
 * channel of the device. The sweep is the grace period after which no
 * reader holds a retired snapshot (they are freed in its completion); for
 * PREEMPT AND ABORT it also aborts the preempted initiators' tasks on the
 * LUN and waits for them. The task then goes back to its thread to
 * complete. Registrations are held per initiator port id (I_T nexus);
 * ALL_TG_PT, SPEC_I_PT and APTPL are not supported (REPORT CAPABILITIES says
 * so), and nothing persists across a restart.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spur/log.h"
#include "scsi_internal.h"
#include "scsi_sense.h"

enum pr_out_sa {
	PR_REGISTER = 0,
	PR_RESERVE = 1,
	PR_RELEASE = 2,
	PR_CLEAR = 3,
	PR_PREEMPT = 4,
	PR_PREEMPT_ABORT = 5,
	PR_REGISTER_IGNORE = 6,
};

#define PR_STATE_SIZE (sizeof(struct scsi_pr_state) + SCSI_PR_MAX_REGS * sizeof(struct scsi_pr_reg))

static bool
type_valid(uint8_t type)
{
	return type == SCSI_PR_WE || type == SCSI_PR_EA || type == SCSI_PR_WE_RO ||
	       type == SCSI_PR_EA_RO || type == SCSI_PR_WE_AR || type == SCSI_PR_EA_AR;
}

static bool
type_all_registrants(uint8_t type)
{
	return type == SCSI_PR_WE_AR || type == SCSI_PR_EA_AR;
}

static bool
type_registrants_only(uint8_t type)
{
	return type == SCSI_PR_WE_RO || type == SCSI_PR_EA_RO;
}

static int
reg_find(const struct scsi_pr_state *s, uint64_t port_id)
{
	if (s == NULL) {
		return -1;
	}
	for (uint32_t i = 0; i < s->nregs; i++) {
		if (s->regs[i].port_id == port_id) {
			return (int)i;
		}
	}
	return -1;
}

/* True when port_id holds the reservation of s (all registrants for AR types). */
static bool
is_holder(const struct scsi_pr_state *s, uint64_t port_id)
{
	if (s == NULL || s->type == SCSI_PR_NONE) {
		return false;
	}
	if (type_all_registrants(s->type)) {
		return reg_find(s, port_id) >= 0;
	}
	return s->holder_port == port_id;
}

bool
scsi_pr_conflict(struct spur_scsi_lun *lun, uint64_t port_id, enum scsi_pr_class cls)
{
	const struct scsi_pr_state *s = atomic_load_explicit(&lun->pr, memory_order_acquire);

	if (spur_likely(s == NULL || s->type == SCSI_PR_NONE)) {
		return false;
	}
	switch (s->type) {
	case SCSI_PR_WE:
		return cls == SCSI_PR_WRITE && s->holder_port != port_id;
	case SCSI_PR_EA:
		return s->holder_port != port_id;
	case SCSI_PR_WE_RO:
	case SCSI_PR_WE_AR:
		return cls == SCSI_PR_WRITE && reg_find(s, port_id) < 0;
	default: /* EA-RO, EA-AR */
		return reg_find(s, port_id) < 0;
	}
}

void
scsi_pr_lun_free(struct spur_scsi_lun *lun)
{
	struct scsi_pr_state *s = atomic_load(&lun->pr), *next;

	free(s);
	atomic_store(&lun->pr, NULL);
	for (s = lun->pr_retired; s != NULL; s = next) {
		next = s->free_next;
		free(s);
	}
	lun->pr_retired = NULL;
}

/* ---- applying one PR OUT (app thread) ------------------------------------------------ */

static void
reg_remove(struct scsi_pr_state *s, uint32_t i)
{
	memmove(&s->regs[i], &s->regs[i + 1], (s->nregs - i - 1) * sizeof(s->regs[0]));
	s->nregs--;
}

/* UA for every registrant of s except port_id. */
static void
ua_registrants(struct spur_scsi_lun *lun, const struct scsi_pr_state *s, enum scsi_ua ua,
	       uint64_t except)
{
	for (uint32_t i = 0; i < s->nregs; i++) {
		if (s->regs[i].port_id != except) {
			scsi_ua_establish_port(lun, ua, s->regs[i].port_id);
		}
	}
}

/*
 * Remove the registrations with key (except the preemptor's), with REGISTRATIONS
 * PREEMPTED for each; returns how many, noting them for PREEMPT AND ABORT.
 */
static uint32_t
preempt_key(struct spur_scsi_lun *lun, struct scsi_pr_state *s, uint64_t key, uint64_t self,
	    uint32_t *npreempted)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < s->nregs;) {
		if ((key == 0 || s->regs[i].key == key) && s->regs[i].port_id != self) {
			scsi_ua_establish_port(lun, SCSI_UA_REG_PREEMPTED, s->regs[i].port_id);
			lun->pr_preempted[(*npreempted)++] = s->regs[i].port_id;
			reg_remove(s, i);
			n++;
		} else {
			i++;
		}
	}
	return n;
}

/*
 * Apply task's PR OUT to n (a copy of the current state). Returns true when
 * n must be published; sets the task's status either way.
 */
static bool
pr_apply(struct spur_scsi_task *task, struct scsi_pr_state *n, uint32_t *npreempted)
{
	struct spur_scsi_lun *lun = task->priv.lun;
	const struct spur_scsi_port *port = task->initiator;
	uint8_t sa = task->cdb[1] & 0x1f, scope = task->cdb[2] >> 4, type = task->cdb[2] & 0x0f;
	uint64_t key = scsi_get_be64(&task->priv.param[0]);
	uint64_t sa_key = scsi_get_be64(&task->priv.param[8]);
	int r = reg_find(n, port->id);
	uint64_t holder_key = 0;
	int h;

	scsi_task_good(task);
	if (sa == PR_REGISTER || sa == PR_REGISTER_IGNORE) {
		if (r < 0) {
			if (sa == PR_REGISTER && key != 0) {
				goto conflict;
			}
			if (sa_key == 0) {
				return false;
			}
			if (n->nregs == SCSI_PR_MAX_REGS) {
				scsi_task_check(task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x55, 0x04);
				return false; /* INSUFFICIENT REGISTRATION RESOURCES */
			}
			n->regs[n->nregs].port_id = port->id;
			n->regs[n->nregs].key = sa_key;
			n->regs[n->nregs].rel_tgt_port_id = port->rel_tgt_port_id;
			memcpy(n->regs[n->nregs].name, port->name, sizeof(port->name));
			n->nregs++;
			n->generation++;
			return true;
		}
		if (sa == PR_REGISTER && key != n->regs[r].key) {
			goto conflict;
		}
		n->generation++;
		if (sa_key != 0) {
			n->regs[r].key = sa_key;
			return true;
		}
		/* Unregister; a holder's reservation goes with it. */
		reg_remove(n, (uint32_t)r);
		if (n->type != SCSI_PR_NONE) {
			if (type_all_registrants(n->type)) {
				if (n->nregs == 0) {
					n->type = SCSI_PR_NONE;
				}
			} else if (n->holder_port == port->id) {
				if (type_registrants_only(n->type)) {
					ua_registrants(lun, n, SCSI_UA_RES_RELEASED, port->id);
				}
				n->type = SCSI_PR_NONE;
				n->holder_port = 0;
			}
		}
		return true;
	}
	/* Every other service action needs a registration with a matching key. */
	if (r < 0 || key != n->regs[r].key) {
		goto conflict;
	}
	if ((sa == PR_RESERVE || sa == PR_PREEMPT || sa == PR_PREEMPT_ABORT) &&
	    (scope != 0 || !type_valid(type))) {
		scsi_task_invalid_field(task, true, 2, scope != 0 ? 7 : 3);
		return false;
	}
	switch (sa) {
	case PR_RESERVE:
		if (n->type == SCSI_PR_NONE) {
			n->type = type;
			n->holder_port = type_all_registrants(type) ? 0 : port->id;
			return true;
		}
		if (is_holder(n, port->id) && n->type == type) {
			return false;
		}
		goto conflict;
	case PR_RELEASE:
		if (n->type == SCSI_PR_NONE || !is_holder(n, port->id)) {
			return false;
		}
		if (n->type != type || scope != 0) {
			scsi_task_check(task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST,
					SCSI_ASC_INVALID_RELEASE_OF_PR);
			return false;
		}
		if (type_registrants_only(n->type) || type_all_registrants(n->type)) {
			ua_registrants(lun, n, SCSI_UA_RES_RELEASED, port->id);
		}
		n->type = SCSI_PR_NONE;
		n->holder_port = 0;
		return true;
	case PR_CLEAR:
		ua_registrants(lun, n, SCSI_UA_RES_PREEMPTED, port->id);
		n->nregs = 0;
		n->type = SCSI_PR_NONE;
		n->holder_port = 0;
		n->generation++;
		return true;
	case PR_PREEMPT:
	case PR_PREEMPT_ABORT:
		if (n->type != SCSI_PR_NONE && type_all_registrants(n->type) && sa_key == 0) {
			/* Preempting an all-registrants reservation: everyone else goes. */
			preempt_key(lun, n, 0, port->id, npreempted);
			n->type = type;
			n->holder_port = type_all_registrants(type) ? 0 : port->id;
			n->generation++;
			return true;
		}
		if (n->type != SCSI_PR_NONE && !type_all_registrants(n->type)) {
			h = reg_find(n, n->holder_port);
			holder_key = h >= 0 ? n->regs[h].key : 0;
		}
		if (n->type != SCSI_PR_NONE && !type_all_registrants(n->type) &&
		    sa_key == holder_key) {
			bool changed = n->type != type;

			preempt_key(lun, n, sa_key, port->id, npreempted);
			if (changed) {
				ua_registrants(lun, n, SCSI_UA_RES_RELEASED, port->id);
			}
			n->type = type;
			n->holder_port = type_all_registrants(type) ? 0 : port->id;
			n->generation++;
			return true;
		}
		if (sa_key == 0) {
			scsi_task_invalid_field(task, false, 8, 0xff);
			return false;
		}
		if (preempt_key(lun, n, sa_key, port->id, npreempted) == 0) {
			goto conflict;
		}
		n->generation++;
		return true;
	default:
		scsi_task_invalid_field(task, true, 1, 4);
		return false;
	}
conflict:
	scsi_task_reservation_conflict(task);
	return false;
}

static void pr_next(struct spur_scsi_lun *lun);

static void
pr_complete_msg(void *arg)
{
	scsi_task_done(arg);
}

/* Send task back to its thread; on a full queue, retry from a short-lived poller. */
struct pr_retry {
	struct spur_poller *poller;
	struct spur_scsi_task *task;
};

static int
pr_retry_poll(void *arg)
{
	struct pr_retry *r = arg;
	struct scsi_dev_channel *ch = scsi_task_chan(r->task);

	if (spur_thread_send_msg(ch->thread, pr_complete_msg, r->task) != 0) {
		return SPUR_POLLER_IDLE;
	}
	spur_poller_unregister(&r->poller);
	free(r);
	return SPUR_POLLER_BUSY;
}

static void
pr_send_back(struct spur_scsi_task *task)
{
	struct scsi_dev_channel *ch = scsi_task_chan(task);
	struct pr_retry *r;

	if (spur_thread_send_msg(ch->thread, pr_complete_msg, task) == 0) {
		return;
	}
	r = calloc(1, sizeof(*r));
	if (r != NULL) {
		r->task = task;
		r->poller = spur_poller_register(pr_retry_poll, r, 100, "scsi_pr_retry");
	}
	if (r == NULL || r->poller == NULL) {
		SPUR_ERRLOG("scsi: cannot return a PERSISTENT RESERVE OUT to its thread\n");
		abort(); /* the task would hang forever: a broken invariant */
	}
}

static void
pr_sweep_done(struct scsi_sweep *sweep)
{
	struct spur_scsi_lun *lun = sweep->ctx;
	struct spur_scsi_task *task = lun->pr_head;
	struct scsi_pr_state *s, *next;

	/* Every channel passed a message boundary: retired snapshots are unreachable. */
	for (s = lun->pr_retired; s != NULL; s = next) {
		next = s->free_next;
		free(s);
	}
	lun->pr_retired = NULL;
	lun->pr_head = task->priv.qnext;
	if (lun->pr_head == NULL) {
		lun->pr_tail = NULL;
	}
	pr_send_back(task);
	lun->pr_busy = false;
	pr_next(lun);
}

static void
pr_next(struct spur_scsi_lun *lun)
{
	struct spur_scsi_task *task = lun->pr_head;
	struct scsi_pr_state *cur = atomic_load(&lun->pr), *n;
	struct scsi_sweep *sweep = &lun->pr_sweep;
	uint32_t npreempted = 0;

	if (task == NULL || lun->pr_busy) {
		return;
	}
	n = malloc(PR_STATE_SIZE);
	if (n == NULL) {
		scsi_task_check(task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INSUFFICIENT_RESOURCES);
		goto no_change;
	}
	if (cur != NULL) {
		memcpy(n, cur, sizeof(*cur) + cur->nregs * sizeof(cur->regs[0]));
	} else {
		memset(n, 0, sizeof(*n));
	}
	n->free_next = NULL;
	if (!pr_apply(task, n, &npreempted)) {
		free(n);
		goto no_change;
	}
	atomic_store_explicit(&lun->pr, n, memory_order_release);
	if (cur != NULL) {
		cur->free_next = lun->pr_retired;
		lun->pr_retired = cur;
	}
	lun->pr_busy = true;
	memset(sweep, 0, sizeof(*sweep));
	sweep->dev = lun->dev;
	sweep->lun = lun;
	if ((task->cdb[1] & 0x1f) == PR_PREEMPT_ABORT && npreempted > 0) {
		sweep->ports = lun->pr_preempted;
		sweep->nports = npreempted;
		sweep->mark = true;
		sweep->wait = true;
	}
	sweep->done = pr_sweep_done;
	sweep->ctx = lun;
	scsi_sweep_start(sweep);
	return;
no_change:
	lun->pr_head = task->priv.qnext;
	if (lun->pr_head == NULL) {
		lun->pr_tail = NULL;
	}
	pr_send_back(task);
	pr_next(lun);
}

static void
pr_out_msg(void *arg)
{
	struct spur_scsi_task *task = arg;
	struct spur_scsi_lun *lun = task->priv.lun;

	task->priv.qnext = NULL;
	if (lun->pr_tail != NULL) {
		lun->pr_tail->priv.qnext = task;
	} else {
		lun->pr_head = task;
	}
	lun->pr_tail = task;
	pr_next(lun);
}

/* ---- PERSISTENT RESERVE OUT, on the task's thread ----------------------------------------- */

void
scsi_pr_out(struct spur_scsi_task *task)
{
	const uint8_t *cdb = task->cdb;
	uint32_t plen = scsi_get_be32(&cdb[5]);
	uint8_t *p = task->priv.param;

	task->priv.cmd_len = plen;
	if (plen != sizeof(task->priv.param) ||
	    scsi_task_data_out_len(task) < sizeof(task->priv.param)) {
		scsi_task_check(task, SPUR_SCSI_SENSE_ILLEGAL_REQUEST,
				SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
		scsi_task_done(task);
		return;
	}
	task->data_transferred = scsi_task_get_data(task, p, sizeof(task->priv.param), 0);
	if (p[20] & 0x0d) { /* SPEC_I_PT, ALL_TG_PT, APTPL: not supported */
		scsi_task_invalid_field(task, false, 20,
					(p[20] & 0x08) ? 3 : ((p[20] & 0x04) ? 2 : 0));
		scsi_task_done(task);
		return;
	}
	if (spur_thread_send_msg(task->priv.dev->app_thread, pr_out_msg, task) != 0) {
		scsi_task_busy(task);
		scsi_task_done(task);
	}
}
