/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/scsi's private structures and the functions its files share.
 *
 * Ownership and threading (see include/spur/scsi.h for the public side):
 *   - struct spur_scsi_dev and struct spur_scsi_lun are created, changed
 *     and freed on the application thread. I/O threads read a LUN through
 *     dev->luns[id] (an atomic pointer, cleared when removal starts) and
 *     keep it alive by counting their tasks in scsi_lun_ch.outstanding;
 *     removal sweeps every channel and waits for those counts to drop to 0
 *     before the LUN is closed and freed (scsi_dev.c).
 *   - struct scsi_dev_channel is the per-thread context of a device (its
 *     I/O channel); touched only on its thread.
 *   - Unit attentions: per LUN, a fixed table of initiator slots (struct
 *     scsi_itn) with an atomic bit mask of pending conditions. Slots are
 *     claimed with compare-and-swap by any thread, bits are set with
 *     fetch_or by whoever establishes a condition and cleared with fetch_and
 *     by the command that reports it, so exactly one command reports each.
 *   - Persistent reservations: an immutable snapshot (struct scsi_pr_state)
 *     published through lun->pr. Only the application thread writes (PR OUT
 *     is forwarded there); readers load the pointer and use it within one
 *     run-to-completion section. An old snapshot is freed after a sweep of
 *     every channel of the device, when no reader can still hold it.
 */
#ifndef SPUR_SCSI_INTERNAL_H
#define SPUR_SCSI_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "spur/bdev.h"
#include "spur/scsi.h"
#include "spur/thread.h"

/* ---- unit attentions --------------------------------------------------------- */

/* Pending conditions, reported in this order (lowest bit first). */
enum scsi_ua {
	SCSI_UA_POWER_ON = 0,        /* 29/00 */
	SCSI_UA_LUN_RESET,           /* 29/03 BUS DEVICE RESET FUNCTION OCCURRED */
	SCSI_UA_RES_PREEMPTED,       /* 2A/03 */
	SCSI_UA_RES_RELEASED,        /* 2A/04 */
	SCSI_UA_REG_PREEMPTED,       /* 2A/05 */
	SCSI_UA_MODE_CHANGED,        /* 2A/01 */
	SCSI_UA_CAPACITY_CHANGED,    /* 2A/09 */
	SCSI_UA_LUNS_CHANGED,        /* 3F/0E */
	SCSI_UA_NUM,
};
#define SCSI_UA_BIT(ua) (1u << (ua))

#define SCSI_LUN_MAX_ITN 64 /* initiators tracked per LUN */

struct scsi_itn {
	_Atomic uint64_t port_id; /* 0: free */
	_Atomic uint32_t pending; /* SCSI_UA_BIT()s */
};

/* ---- persistent reservations -------------------------------------------------- */

#define SCSI_PR_MAX_REGS 64

enum scsi_pr_type {
	SCSI_PR_NONE = 0,
	SCSI_PR_WE = 1,
	SCSI_PR_EA = 3,
	SCSI_PR_WE_RO = 5,
	SCSI_PR_EA_RO = 6,
	SCSI_PR_WE_AR = 7,
	SCSI_PR_EA_AR = 8,
};

struct scsi_pr_reg {
	uint64_t port_id;
	uint64_t key;
	uint16_t rel_tgt_port_id;
	char name[SPUR_SCSI_PORT_NAME_MAX];
};

struct scsi_pr_state {
	uint32_t generation;
	uint8_t type;           /* enum scsi_pr_type; NONE when not reserved */
	uint64_t holder_port;   /* non-AR types: the holder's port id */
	uint32_t nregs;
	struct scsi_pr_state *free_next; /* app thread: retired, waiting for a sweep */
	struct scsi_pr_reg regs[];
};

/* How a command is treated under a persistent reservation (SPC-4 5.12.? tables). */
enum scsi_pr_class {
	SCSI_PR_ALLOWED = 0, /* never conflicts */
	SCSI_PR_READ,        /* conflicts under exclusive-access types */
	SCSI_PR_WRITE,       /* conflicts under every type */
};

/* Abort sweeps (TMF, PREEMPT AND ABORT): mark matching tasks, optionally wait. */
struct scsi_sweep {
	struct spur_scsi_dev *dev;
	const struct spur_scsi_lun *lun; /* NULL: every LUN */
	uint64_t port_id;                /* 0: any initiator */
	bool match_tag;
	uint64_t tag;
	const uint64_t *ports;           /* else: any of these initiators (nports > 0) */
	uint32_t nports;
	bool mark;                       /* pass 1: mark matching tasks aborted */
	bool wait;                       /* pass 2: wait until marked tasks finished */
	uint8_t pass;
	uint32_t aborted;
	struct spur_io_channel_iter *iter;
	struct scsi_sweep *next;
	void (*done)(struct scsi_sweep *sweep);
	void *ctx;
};

/* ---- logical units and devices ------------------------------------------------ */

enum scsi_lun_state {
	SCSI_LUN_ACTIVE,
	SCSI_LUN_REMOVING, /* sweeping channels; no new tasks */
	SCSI_LUN_SWEPT,    /* channels released their references; closing */
};

struct spur_scsi_lun {
	struct spur_scsi_dev *dev;
	uint16_t id;
	bool read_only;
	bool hot_removed;
	enum scsi_lun_state state;      /* app thread */
	_Atomic bool removing;          /* read by I/O threads */
	_Atomic bool stopped;           /* START STOP UNIT with START=0 */
	_Atomic bool wce;               /* caching mode page WCE (write-back) */
	_Atomic uint32_t caw_busy;      /* a COMPARE AND WRITE holds the LUN */
	_Atomic uint32_t nch;           /* bdev channels held by device channels */
	_Atomic uint32_t msg_refs;      /* close messages in flight to the app thread */
	bool closed;                    /* app thread: bdev closed, LUN unlinked */
	struct spur_bdev_desc *desc;
	struct spur_bdev *bdev;
	char bdev_name[SPUR_SCSI_DEV_NAME_MAX + 64];
	struct spur_scsi_lun_opts opts;
	void (*remove_cb)(void *cb_arg, int status);
	void *remove_cb_arg;
	struct scsi_itn itn[SCSI_LUN_MAX_ITN];
	_Atomic(struct scsi_pr_state *) pr;  /* NULL: no registrations */
	struct scsi_pr_state *pr_retired;    /* app thread: replaced, freed after a sweep */
	struct spur_scsi_task *pr_head, *pr_tail; /* app thread: queued PR OUT tasks */
	bool pr_busy;                        /* app thread: one PR OUT applied at a time */
	struct scsi_sweep pr_sweep;          /* app thread: the current PR OUT's sweep */
	uint64_t pr_preempted[SCSI_PR_MAX_REGS]; /* PREEMPT AND ABORT victims */
};

struct spur_scsi_dev {
	char name[SPUR_SCSI_DEV_NAME_MAX];
	_Atomic(struct spur_scsi_lun *) luns[SPUR_SCSI_DEV_MAX_LUN]; /* published to I/O */
	struct spur_scsi_lun *app_luns[SPUR_SCSI_DEV_MAX_LUN];       /* app thread view */
	uint32_t lun_count;
	_Atomic bool destroying;
	uint32_t removals;          /* app thread: removals in progress */
	spur_scsi_dev_event_cb event_cb;
	void *event_ctx;
	void (*destroy_cb)(void *cb_arg);
	void *destroy_cb_arg;
	bool destroy_started;
	struct spur_thread *app_thread;
};

/* Per (thread, LUN) state inside a device channel. */
struct scsi_lun_ch {
	struct spur_scsi_lun *lun;        /* whose bdev channel this is; NULL: none */
	struct spur_io_channel *bdev_ch;
	uint32_t outstanding;             /* tasks and TMFs using lun on this thread */
	struct spur_io_channel_iter *remove_iter; /* removal parked until outstanding == 0 */
	uint64_t hint_port;               /* last initiator seen -> its itn slot */
	uint32_t hint_itn;
};

struct scsi_dev_channel {
	struct spur_scsi_dev *dev;
	struct spur_thread *thread;
	struct spur_scsi_task *tasks;            /* outstanding (doubly linked) */
	struct spur_scsi_task *cpl_head, *cpl_tail; /* deferred completions */
	struct spur_scsi_task *retry_head, *retry_tail; /* resume at next poll (CAW lock, -ENOMEM) */
	struct spur_poller *poller;               /* runs while either list is non-empty */
	uint32_t aborting;                         /* tasks marked aborted, not finished */
	struct scsi_sweep *sweep_waiters;          /* parked until aborting == 0 */
	struct scsi_lun_ch luns[SPUR_SCSI_DEV_MAX_LUN];
};

/* ---- task private state ---------------------------------------------------------- */

enum scsi_task_state {
	SCSI_TASK_IDLE = 0,
	SCSI_TASK_ACTIVE,
	SCSI_TASK_DONE, /* callback called or about to be; waiting for put */
};

#define SCSI_TF_IN_SUBMIT 0x01u
#define SCSI_TF_OWN_BUF 0x02u  /* own_iov holds a layer buffer */
#define SCSI_TF_FUA 0x04u
#define SCSI_TF_CAW_LOCK 0x08u /* holds lun->caw_busy */
#define SCSI_TF_UNMAP 0x10u    /* WRITE SAME: UNMAP bit */
#define SCSI_TF_SCRATCH 0x20u  /* scratch is a layer buffer */
#define SCSI_TF_DATA_IN 0x40u  /* the command moves data to the initiator (READ, put_data) */

/* ---- shared functions ------------------------------------------------------------ */

/* scsi_task.c */
/* Finish a task: residual, then the callback (deferred when inside submit). */
void scsi_task_done(struct spur_scsi_task *task);
/* Run the front end's callback now (deferred list and the channel's poller). */
void scsi_task_finish(struct spur_scsi_task *task);
/*
 * Copy len bytes of command-generated data (already clamped to the CDB's
 * allocation length) to the task's data-in buffers, bounded by
 * transfer_len; sets cmd_len and data_transferred. Returns 0 or -ENOMEM
 * when a layer buffer was needed and the pool is empty.
 */
int scsi_task_put_data(struct spur_scsi_task *task, const void *buf, uint32_t len);
/* Gather up to len bytes of data-out from offset off; returns bytes copied. */
uint32_t scsi_task_get_data(struct spur_scsi_task *task, void *buf, uint32_t len, uint32_t off);
/* Byte count of data-out the initiator sent (transfer_len, data-out only). */
uint32_t scsi_task_data_out_len(const struct spur_scsi_task *task);
/* A layer scratch buffer of len bytes for multi-step commands (released at finish). */
void *scsi_task_scratch(struct spur_scsi_task *task, uint32_t len);
/* Status for a bdev submit errno (-ENOMEM excluded) / a bdev completion status. */
void scsi_task_bdev_errno(struct spur_scsi_task *task, int rc, bool write);
void scsi_task_bdev_status(struct spur_scsi_task *task, int status, bool write);
/*
 * Submit-side -ENOMEM: wait for a bdev request and call task->priv.resume.
 * Returns true if queued; false means the caller should retry at once.
 */
bool scsi_task_wait_io(struct spur_scsi_task *task);
void scsi_chan_kick(struct scsi_dev_channel *ch);
/* Run task->priv.resume at the channel's next poll. */
void scsi_task_retry_later(struct spur_scsi_task *task);
/* The channel's poller: deferred completions and resumes. */
int scsi_chan_poll(void *arg);

/* scsi_dev.c */
struct scsi_dev_channel *scsi_task_chan(const struct spur_scsi_task *task);
/* This thread's bdev channel for the task's LUN (lazily got), or NULL. */
struct spur_io_channel *scsi_task_bdev_ch(struct spur_scsi_task *task);
/* The same, or NULL after completing the task with BUSY (no channel). */
struct spur_io_channel *scsi_task_bdev_ch_or_busy(struct spur_scsi_task *task);
struct spur_io_channel *scsi_chan_bdev_ch(struct scsi_dev_channel *ch, struct spur_scsi_lun *lun);
void scsi_lun_put_ref(struct scsi_dev_channel *ch, struct spur_scsi_lun *lun);
void scsi_lun_get_ref(struct scsi_dev_channel *ch, struct spur_scsi_lun *lun);
struct spur_scsi_lun *scsi_dev_lun(const struct spur_scsi_dev *dev, uint16_t id);

/* scsi_ua.c */
struct scsi_itn *scsi_ua_itn(struct scsi_dev_channel *ch, struct spur_scsi_lun *lun,
			     uint64_t port_id);
/* Report one pending unit attention into task; true if it did. */
bool scsi_ua_report(struct spur_scsi_task *task, struct scsi_itn *itn);
/* Take the highest-priority pending UA (-1 if none). */
int scsi_ua_take(struct scsi_itn *itn);
void scsi_ua_clear(struct scsi_itn *itn, enum scsi_ua ua);
/* Establish ua for every initiator known to lun (except except_port if non-zero). */
void scsi_ua_establish_all(struct spur_scsi_lun *lun, enum scsi_ua ua, uint64_t except_port);
/* Establish ua for one initiator on lun (claims a slot if needed). */
void scsi_ua_establish_port(struct spur_scsi_lun *lun, enum scsi_ua ua, uint64_t port_id);
void scsi_ua_sense(enum scsi_ua ua, uint8_t *asc, uint8_t *ascq);
/* Clear ua for port on lun if it has a slot (REPORT LUNS). */
void scsi_ua_clear_port(struct spur_scsi_lun *lun, enum scsi_ua ua, uint64_t port_id);

/* scsi_cmd.c: command table and dispatch */
struct scsi_cmd {
	uint8_t opcode;
	uint8_t sa;          /* service action (when has_sa) */
	bool has_sa;
	uint8_t cdb_len;
	uint8_t pr_class;    /* enum scsi_pr_class */
	bool ua_exempt;      /* INQUIRY, REPORT LUNS, REQUEST SENSE */
	bool no_lun;         /* executes without a LUN */
	bool media;          /* needs a started unit (NOT READY otherwise) */
	void (*exec)(struct spur_scsi_task *task);
	uint8_t usage[16];   /* CDB usage data (REPORT SUPPORTED OPERATION CODES) */
};
const struct scsi_cmd *scsi_cmd_find(const uint8_t *cdb);
void scsi_cmd_execute(struct spur_scsi_task *task);

/* scsi_spc.c */
void scsi_spc_inquiry(struct spur_scsi_task *task);
void scsi_spc_report_luns(struct spur_scsi_task *task);
void scsi_spc_test_unit_ready(struct spur_scsi_task *task);
void scsi_spc_request_sense(struct spur_scsi_task *task);
void scsi_spc_start_stop_unit(struct spur_scsi_task *task);
void scsi_spc_prevent_allow(struct spur_scsi_task *task);
void scsi_spc_report_opcodes(struct spur_scsi_task *task);

/* scsi_mode.c */
void scsi_mode_sense(struct spur_scsi_task *task);
void scsi_mode_select(struct spur_scsi_task *task);

/* scsi_sbc.c */
void scsi_sbc_read(struct spur_scsi_task *task);
void scsi_sbc_write(struct spur_scsi_task *task);
void scsi_sbc_sync_cache(struct spur_scsi_task *task);
void scsi_sbc_read_capacity10(struct spur_scsi_task *task);
void scsi_sbc_read_capacity16(struct spur_scsi_task *task);
/* Range check; sets LBA OUT OF RANGE and returns false when it fails. */
bool scsi_sbc_range_ok(struct spur_scsi_task *task, uint64_t lba, uint64_t num);
/* Write-protect check for medium-changing commands. */
bool scsi_sbc_writable(struct spur_scsi_task *task);
/* The largest COMPARE AND WRITE length in blocks for lun. */
uint32_t scsi_sbc_max_caw_blocks(const struct spur_scsi_lun *lun);
/* Blocks a layer buffer of SPUR_SCSI_TASK_MAX_BUF bytes holds. */
uint32_t scsi_sbc_buf_blocks(const struct spur_scsi_lun *lun);

/* scsi_sbc_cmp.c */
void scsi_sbc_compare_and_write(struct spur_scsi_task *task);
void scsi_sbc_verify(struct spur_scsi_task *task);
void scsi_sbc_caw_unlock(struct spur_scsi_task *task);

/* scsi_sbc_prov.c */
void scsi_sbc_unmap(struct spur_scsi_task *task);
void scsi_sbc_write_same(struct spur_scsi_task *task);
uint32_t scsi_sbc_max_unmap_blocks(const struct spur_scsi_lun *lun);
#define SCSI_MAX_UNMAP_DESCRIPTORS 256u
uint64_t scsi_sbc_max_write_same_blocks(const struct spur_scsi_lun *lun);
bool scsi_sbc_lbp(const struct spur_scsi_lun *lun); /* unmap supported */

/* scsi_pr.c / scsi_pr_in.c */
bool scsi_pr_conflict(struct spur_scsi_lun *lun, uint64_t port_id, enum scsi_pr_class cls);
void scsi_pr_in(struct spur_scsi_task *task);
void scsi_pr_out(struct spur_scsi_task *task);
/* Free every snapshot of a LUN being freed (app thread). */
void scsi_pr_lun_free(struct spur_scsi_lun *lun);

/* scsi_tmf.c */
/* Sweep every channel of sweep->dev (from the calling thread); done on it. */
void scsi_sweep_start(struct scsi_sweep *sweep);
/* A marked task finished on ch: wake parked sweeps when none remain. */
void scsi_sweep_task_finished(struct scsi_dev_channel *ch);
/* Mark task aborted (on its thread) and account it. */
void scsi_task_mark_aborted(struct scsi_dev_channel *ch, struct spur_scsi_task *task);

/* Big-endian helpers. */
static inline void
scsi_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void
scsi_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline void
scsi_be64(uint8_t *p, uint64_t v)
{
	scsi_be32(p, (uint32_t)(v >> 32));
	scsi_be32(p + 4, (uint32_t)v);
}
static inline uint16_t
scsi_get_be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t
scsi_get_be24(const uint8_t *p)
{
	return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
}
static inline uint32_t
scsi_get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t
scsi_get_be64(const uint8_t *p)
{
	return ((uint64_t)scsi_get_be32(p) << 32) | scsi_get_be32(p + 4);
}

#endif
