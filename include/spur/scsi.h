/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The SCSI layer: SCSI target devices made of logical units backed by bdevs,
 * and the SPC-4 / SBC-3 command set executed on them. Shared by the SCSI
 * front ends (vhost-user-scsi, iSCSI); it knows nothing about any transport.
 *
 * Objects and ownership
 *   struct spur_scsi_dev   a SCSI target device, created and destroyed by a
 *                          front end on the application thread. It owns its
 *                          LUNs and is an I/O device: per-thread channels
 *                          hold the LUNs' bdev channels.
 *   struct spur_scsi_lun   a logical unit (id 0..SPUR_SCSI_DEV_MAX_LUN-1)
 *                          backed by one open bdev descriptor; owned by its
 *                          device; added/removed on the application thread.
 *   struct spur_scsi_port  an initiator port (I_T nexus identity), owned and
 *                          filled by the front end, outliving every task that
 *                          points at it. Unit attentions and persistent
 *                          reservations are kept per port id.
 *   struct spur_scsi_task  one SCSI command. The front end embeds it in its
 *                          own per-slot request object (virtqueue slot, iSCSI
 *                          task tag): the layer never allocates per I/O.
 *   struct spur_scsi_mgmt_task  one task management function, embedded the
 *                          same way.
 *
 * Task lifecycle
 *   spur_scsi_task_construct(task, cpl, arg)       once per slot -> IDLE
 *   fill cdb, lun_id, initiator, dir, transfer_len, iovs (or alloc_buf)
 *   spur_scsi_dev_queue_task(dev, ch, task)        IDLE -> ACTIVE
 *   cpl(task) runs exactly once, on the same thread, never from inside
 *     spur_scsi_dev_queue_task; read status, sense, residual, data
 *   spur_scsi_task_put(task)                        -> IDLE (reusable)
 *
 * Data and zero copy: when the front end supplies iovecs, READ and WRITE
 * move data straight between them and the bdev (no copy); data a command
 * generates (INQUIRY, MODE SENSE, ...) is copied into them, bounded by the
 * CDB's allocation length and the initiator's expected transfer length. A
 * front end without its own memory leaves iovs NULL for data-in commands
 * (the layer then supplies a buffer, found in task->iovs in the callback) and
 * calls spur_scsi_task_alloc_buf before submitting a data-out command. Such
 * layer buffers hold at most SPUR_SCSI_TASK_MAX_BUF bytes.
 *
 * Threading
 *   - Device and LUN management (create, add/remove LUN, destroy, lookups
 *     returning struct spur_scsi_lun) run on the application thread; event
 *     and hot-remove callbacks are called there too.
 *   - A task is submitted on the thread that owns the channel passed with it
 *     (spur_scsi_dev_get_io_channel on that thread) and completed on it.
 *   - Any number of threads may submit to the same device at once; shared
 *     LUN state (unit attentions, reservations) is kept without locks on the
 *     I/O path (reservation changes are applied on the application thread
 *     and published to every channel before the PERSISTENT RESERVE OUT
 *     completes).
 *
 * Errors: SCSI outcomes (CHECK CONDITION with sense, RESERVATION CONFLICT,
 * ...) are reported in the task; negative errnos are reserved for misuse of
 * the API, per the async contract in thread.h.
 */
#ifndef SPUR_SCSI_H
#define SPUR_SCSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "spur/bdev.h"
#include "spur/thread.h"

struct spur_scsi_dev;
struct spur_scsi_lun;

#define SPUR_SCSI_DEV_NAME_MAX 64   /* including the terminating NUL */
#define SPUR_SCSI_DEV_MAX_LUN 256   /* LUN ids 0..255 per device */
#define SPUR_SCSI_MAX_CDB_LEN 32
#define SPUR_SCSI_SENSE_SIZE 32     /* fixed-format sense uses 18 */
#define SPUR_SCSI_PORT_NAME_MAX 256 /* e.g. iSCSI "iqn...,i,0x<isid>" + NUL */
/* Largest layer-supplied buffer for one task (front ends without memory). */
#define SPUR_SCSI_TASK_MAX_BUF SPUR_BDEV_LARGE_BUF_SIZE

/* SAM-5 status codes (task->status). */
enum spur_scsi_status {
	SPUR_SCSI_STATUS_GOOD = 0x00,
	SPUR_SCSI_STATUS_CHECK_CONDITION = 0x02,
	SPUR_SCSI_STATUS_CONDITION_MET = 0x04,
	SPUR_SCSI_STATUS_BUSY = 0x08,
	SPUR_SCSI_STATUS_RESERVATION_CONFLICT = 0x18,
	SPUR_SCSI_STATUS_TASK_SET_FULL = 0x28,
	SPUR_SCSI_STATUS_ACA_ACTIVE = 0x30,
	SPUR_SCSI_STATUS_TASK_ABORTED = 0x40,
};

/* SPC-4 sense keys (byte 2 of fixed-format sense, low nibble). */
enum spur_scsi_sense_key {
	SPUR_SCSI_SENSE_NO_SENSE = 0x0,
	SPUR_SCSI_SENSE_RECOVERED_ERROR = 0x1,
	SPUR_SCSI_SENSE_NOT_READY = 0x2,
	SPUR_SCSI_SENSE_MEDIUM_ERROR = 0x3,
	SPUR_SCSI_SENSE_HARDWARE_ERROR = 0x4,
	SPUR_SCSI_SENSE_ILLEGAL_REQUEST = 0x5,
	SPUR_SCSI_SENSE_UNIT_ATTENTION = 0x6,
	SPUR_SCSI_SENSE_DATA_PROTECT = 0x7,
	SPUR_SCSI_SENSE_ABORTED_COMMAND = 0xb,
	SPUR_SCSI_SENSE_MISCOMPARE = 0xe,
};

/* Direction of the data phase, seen from the initiator. */
enum spur_scsi_dir {
	SPUR_SCSI_DIR_NONE = 0,
	SPUR_SCSI_DIR_TO_DEV,   /* data-out: WRITE, COMPARE AND WRITE, MODE SELECT... */
	SPUR_SCSI_DIR_FROM_DEV, /* data-in: READ, INQUIRY, ... */
};

/* How a task ended (task->response); status and sense are valid only for COMPLETE. */
enum spur_scsi_task_response {
	SPUR_SCSI_TASK_COMPLETE = 0, /* executed; see status / sense / residual */
	SPUR_SCSI_TASK_ABORTED,      /* ended by a task management function or a
				      * PREEMPT AND ABORT (status is then TASK
				      * ABORTED, no sense); the front end answers
				      * per its transport (virtio-scsi ABORTED /
				      * RESET, iSCSI nothing or TASK ABORTED) */
};

/* task->residual_flags */
#define SPUR_SCSI_RESIDUAL_UNDERFLOW 0x1u /* initiator expected more than was moved */
#define SPUR_SCSI_RESIDUAL_OVERFLOW 0x2u  /* command implied more than the initiator expected */

/* ---- initiator ports -------------------------------------------------------- */

/*
 * Identity of an initiator port as the device server sees it (one I_T
 * nexus). The front end owns the object and fills it once with
 * spur_scsi_port_init; tasks point at it. id is opaque to the layer and must
 * be non-zero and unique among the ports that reach one device (vhost-scsi:
 * one per session; iSCSI: one per initiator name + ISID). name appears in
 * PERSISTENT RESERVE IN READ FULL STATUS as the TransportID.
 */
struct spur_scsi_port {
	uint64_t id;
	uint16_t rel_tgt_port_id; /* relative target port identifier (>= 1) */
	char name[SPUR_SCSI_PORT_NAME_MAX];
};
/*
 * Fill port. Returns 0, or -EINVAL for id 0 / NULL name, -ENAMETOOLONG when
 * name does not fit (port untouched on error). rel_tgt_port_id is set to 1.
 */
int spur_scsi_port_init(struct spur_scsi_port *port, uint64_t id, const char *name);

/* ---- tasks ---------------------------------------------------------------------- */

struct spur_scsi_task;
typedef void (*spur_scsi_task_cpl)(struct spur_scsi_task *task);

/*
 * One SCSI command. Fields are grouped by who writes them; the front end
 * must not touch the private part. Embed it and recover the outer object
 * with SPUR_CONTAINER_OF in the callback.
 */
struct spur_scsi_task {
	/* ---- set by the front end before spur_scsi_dev_queue_task -------- */
	uint8_t cdb[SPUR_SCSI_MAX_CDB_LEN]; /* bytes past the opcode's CDB length are ignored */
	uint16_t lun_id;                    /* decoded LUN; any id (none: LUN NOT SUPPORTED) */
	enum spur_scsi_dir dir;
	/*
	 * Expected data transfer length in bytes (iSCSI EDTL, virtio-scsi:
	 * bytes of the data descriptors). The layer moves at most this much and
	 * reports the difference from what the CDB implies as a residual.
	 */
	uint32_t transfer_len;
	/*
	 * Data buffers, at least transfer_len bytes in total (only the first
	 * transfer_len bytes are used), owned by the front end and left
	 * untouched until the callback. NULL / 0: see spur_scsi_task_alloc_buf
	 * and the header comment.
	 */
	struct iovec *iovs;
	int iovcnt;
	const struct spur_scsi_port *initiator; /* required */
	uint64_t tag; /* front end's task tag, matched by ABORT TASK */

	/* ---- results, valid in the completion callback ------------------- */
	uint8_t response;      /* enum spur_scsi_task_response */
	uint8_t status;        /* enum spur_scsi_status */
	uint8_t sense_len;     /* 0, or 18 for fixed-format sense */
	uint8_t residual_flags; /* SPUR_SCSI_RESIDUAL_* */
	uint8_t sense[SPUR_SCSI_SENSE_SIZE];
	uint32_t data_transferred; /* bytes moved to/from iovs */
	uint32_t residual;         /* SAM residual count in bytes */

	/* ---- private to lib/scsi ------------------------------------------ */
	struct {
		spur_scsi_task_cpl cpl_fn;
		void *cb_arg;
		struct spur_scsi_dev *dev;
		struct spur_scsi_lun *lun;
		void *chan;                         /* struct scsi_dev_channel * */
		void (*resume)(struct spur_scsi_task *task); /* next step after a wait */
		struct spur_bdev_io *bdev_io;       /* kept while it owns the data */
		struct spur_scsi_task *prev, *next; /* channel's outstanding tasks */
		struct spur_scsi_task *qnext;       /* deferred-completion / retry queue */
		struct spur_bdev_io_wait_entry wait;
		struct iovec own_iov;               /* layer buffer (alloc_buf, generated data) */
		struct iovec scratch_iov;
		void *scratch;                      /* layer buffer of multi-step commands */
		uint32_t scratch_len;
		uint32_t cmd_len;                   /* bytes the CDB implies */
		uint64_t lba;
		uint64_t num_blocks;
		uint64_t done_blocks;               /* progress of multi-step commands */
		uint32_t idx;
		uint16_t flags;
		uint8_t step;
		uint8_t state;
		uint8_t aborted;
		uint8_t param[24];                  /* PERSISTENT RESERVE OUT parameter list */
	} priv;
};

/*
 * Prepare a task slot once: cpl_fn(task) will be called for every command
 * it carries. cb_arg is stored for the front end (spur_scsi_task_get_cb_arg).
 * The task is IDLE afterwards.
 */
void spur_scsi_task_construct(struct spur_scsi_task *task, spur_scsi_task_cpl cpl_fn,
			      void *cb_arg);
void *spur_scsi_task_get_cb_arg(const struct spur_scsi_task *task);
/*
 * For data-out commands of front ends without their own memory: attach a
 * layer buffer of len bytes (<= SPUR_SCSI_TASK_MAX_BUF) to an IDLE task and
 * point task->iovs at it (one iovec); the front end fills it, then submits.
 * Released by spur_scsi_task_put. Returns 0, -EINVAL (len 0 or too large,
 * task not IDLE, buffer already attached) or -ENOMEM (pool empty; retry).
 */
int spur_scsi_task_alloc_buf(struct spur_scsi_task *task, uint32_t len);
/*
 * Finish with a completed task (call after reading its results and data,
 * from the callback or later, on the same thread): releases any buffer the
 * layer supplied, resets iovs to NULL if they were the layer's, and makes
 * the task IDLE again. Also valid on an IDLE task with an attached buffer.
 */
void spur_scsi_task_put(struct spur_scsi_task *task);
/*
 * For front ends failing a command themselves (before submitting it):
 * set status and, for CHECK CONDITION, fixed-format sense with the given
 * sense key / ASC / ASCQ (others pass 0). Sets response COMPLETE.
 */
void spur_scsi_task_set_status(struct spur_scsi_task *task, uint8_t status, uint8_t sense_key,
			       uint8_t asc, uint8_t ascq);

/* ---- task management ------------------------------------------------------------ */

enum spur_scsi_tmf {
	SPUR_SCSI_TMF_ABORT_TASK,      /* the task with abort_tag from this initiator on lun_id */
	SPUR_SCSI_TMF_ABORT_TASK_SET,  /* every task from this initiator on lun_id */
	SPUR_SCSI_TMF_LUN_RESET,       /* every task on lun_id, bdev reset, unit attention */
	SPUR_SCSI_TMF_TARGET_RESET,    /* LUN RESET on every LUN of the device */
};

/* SAM-5 service responses (mgmt->response). */
enum spur_scsi_tmf_response {
	SPUR_SCSI_TMF_FUNCTION_COMPLETE = 0,
	SPUR_SCSI_TMF_FUNCTION_SUCCEEDED,
	SPUR_SCSI_TMF_FUNCTION_REJECTED,
	SPUR_SCSI_TMF_INCORRECT_LUN,
	SPUR_SCSI_TMF_SERVICE_DELIVERY_FAILURE,
};

struct spur_scsi_mgmt_task;
typedef void (*spur_scsi_mgmt_cpl)(struct spur_scsi_mgmt_task *mgmt);

struct spur_scsi_mgmt_task {
	/* ---- set by the front end -------------------------------------------- */
	enum spur_scsi_tmf function;
	uint16_t lun_id; /* ignored for TARGET_RESET */
	const struct spur_scsi_port *initiator;
	uint64_t abort_tag; /* ABORT_TASK: tag of the task to abort */

	/* ---- results ------------------------------------------------------------ */
	uint8_t response;        /* enum spur_scsi_tmf_response */
	uint32_t aborted_count;  /* tasks that ended with SPUR_SCSI_TASK_ABORTED */

	/* ---- private to lib/scsi -------------------------------------------- */
	struct {
		spur_scsi_mgmt_cpl cpl_fn;
		void *cb_arg;
		struct spur_scsi_dev *dev;
		void *chan;                 /* struct scsi_dev_channel * */
		struct spur_scsi_lun *lun;  /* LUN being worked on (referenced) */
		uint32_t step;
		uint32_t lun_index;         /* TARGET RESET progress */
		uint8_t state;
		uint64_t sweep[16];         /* struct scsi_sweep */
	} priv;
};

void spur_scsi_mgmt_task_construct(struct spur_scsi_mgmt_task *mgmt, spur_scsi_mgmt_cpl cpl_fn,
				   void *cb_arg);
void *spur_scsi_mgmt_task_get_cb_arg(const struct spur_scsi_mgmt_task *mgmt);

/*
 * Run a task management function. Returns 0 and calls mgmt's callback once,
 * on this thread, after the function took effect: every task it aborts (on
 * any thread of the device) has already been completed with response
 * ABORTED (ABORT TASK / ABORT TASK SET / LUN RESET answer FUNCTION COMPLETE
 * whether or not a task matched; a LUN that does not exist gives
 * INCORRECT_LUN). Returns -EINVAL for a bad function or missing initiator,
 * -EBUSY when mgmt is already in progress, -ENODEV when the device is being
 * destroyed, -ENOMEM when the answer for a missing LUN cannot be queued
 * to this thread. ch is this thread's channel of dev.
 *
 * Aborting is cooperative: a task whose bdev request is in flight ends
 * when that request completes (LUN RESET also resets the bdev, which aborts
 * what it holds); a task waiting for a bdev request object or the LUN's
 * COMPARE AND WRITE lock ends at once. The reset establishes BUS DEVICE
 * RESET FUNCTION OCCURRED for every initiator of the LUN.
 */
int spur_scsi_dev_queue_mgmt_task(struct spur_scsi_dev *dev, struct spur_io_channel *ch,
				  struct spur_scsi_mgmt_task *mgmt);

/* ---- devices ------------------------------------------------------------------------ */

/*
 * Create an empty device (app thread). name (< SPUR_SCSI_DEV_NAME_MAX bytes)
 * is copied; it is the device's label in logs and need not be globally
 * unique. Returns NULL for a bad name or on allocation failure.
 */
struct spur_scsi_dev *spur_scsi_dev_create(const char *name);
/*
 * Destroy (app thread): new tasks fail (-ENODEV), every LUN is removed as
 * with spur_scsi_dev_remove_lun (in-flight tasks finish first), then the
 * device is freed once the front end has put every channel of it, and
 * cb(cb_arg) runs on this thread. cb may be NULL. No event callbacks run
 * for LUNs removed this way.
 */
void spur_scsi_dev_destroy(struct spur_scsi_dev *dev, void (*cb)(void *cb_arg), void *cb_arg);
const char *spur_scsi_dev_get_name(const struct spur_scsi_dev *dev);

/*
 * This thread's channel for dev (created on first call, reference counted);
 * get it on the thread that will submit tasks and release it there with
 * spur_put_io_channel. NULL when dev is being destroyed or out of memory.
 */
struct spur_io_channel *spur_scsi_dev_get_io_channel(struct spur_scsi_dev *dev);

/*
 * Device events, called on the app thread: a front end turns them into
 * transport events (virtio-scsi VIRTIO_SCSI_T_TRANSPORT_RESET /
 * VIRTIO_SCSI_T_PARAM_CHANGE, iSCSI async messages). The layer has already
 * established the matching unit attention for every initiator.
 */
enum spur_scsi_dev_event {
	SPUR_SCSI_DEV_EVENT_LUN_ADDED,   /* REPORTED LUNS DATA HAS CHANGED */
	SPUR_SCSI_DEV_EVENT_LUN_REMOVED, /* LUN gone (requested or hot-removed) */
	SPUR_SCSI_DEV_EVENT_LUN_RESIZED, /* CAPACITY DATA HAS CHANGED */
};
typedef void (*spur_scsi_dev_event_cb)(struct spur_scsi_dev *dev, enum spur_scsi_dev_event event,
				       uint16_t lun_id, void *ctx);
/* Install (or clear with NULL) the device's event hook (app thread). */
void spur_scsi_dev_set_event_cb(struct spur_scsi_dev *dev, spur_scsi_dev_event_cb cb, void *ctx);

/* ---- logical units ------------------------------------------------------------------ */

/*
 * Called on the app thread when the LUN's bdev announced hot-removal: the
 * LUN already refuses new tasks (LOGICAL UNIT NOT SUPPORTED) and is being
 * removed; SPUR_SCSI_DEV_EVENT_LUN_REMOVED follows once it is gone.
 */
typedef void (*spur_scsi_lun_hotremove_cb)(struct spur_scsi_dev *dev, uint16_t lun_id, void *ctx);

/* Options for spur_scsi_dev_add_lun (append-only; see size). */
struct spur_scsi_lun_opts {
	size_t size;       /* sizeof(struct spur_scsi_lun_opts) */
	bool read_only;    /* open the bdev read-only; writes get DATA PROTECT */
	spur_scsi_lun_hotremove_cb hotremove_cb; /* may be NULL */
	void *hotremove_ctx;
};
void spur_scsi_lun_opts_init(struct spur_scsi_lun_opts *opts, size_t size);

/*
 * Add LUN lun_id backed by bdev_name (app thread); opts may be NULL for
 * defaults. The LUN is usable at once; every initiator gets POWER ON, RESET
 * OR BUS DEVICE RESET OCCURRED on its first command to it, and initiators
 * that already talked to the device get REPORTED LUNS DATA HAS CHANGED on
 * their other LUNs; the event hook sees LUN_ADDED. Returns 0, -EINVAL (bad
 * id or opts), -EEXIST (id in use or being removed), -ENODEV (no such bdev,
 * or dev being destroyed), -EPERM (bdev claimed for writing elsewhere),
 * -ENOMEM.
 */
int spur_scsi_dev_add_lun(struct spur_scsi_dev *dev, uint16_t lun_id, const char *bdev_name,
			  const struct spur_scsi_lun_opts *opts);
/*
 * Remove a LUN (app thread): new tasks to it fail with LOGICAL UNIT NOT
 * SUPPORTED at once; when its in-flight tasks have completed and every
 * channel released its bdev channel, the bdev is closed, the event hook sees
 * LUN_REMOVED, other LUNs get REPORTED LUNS DATA HAS CHANGED, and cb(cb_arg,
 * 0) runs on this thread (cb may be NULL). Returns 0, -ENOENT (no such LUN),
 * -EBUSY (already being removed).
 */
int spur_scsi_dev_remove_lun(struct spur_scsi_dev *dev, uint16_t lun_id,
			     void (*cb)(void *cb_arg, int status), void *cb_arg);

/* Lookups (app thread). A LUN being removed is still found until it is gone. */
struct spur_scsi_lun *spur_scsi_dev_get_lun(struct spur_scsi_dev *dev, uint16_t lun_id);
/* LUNs in ascending id order: first (NULL if none), next after prev (NULL at end). */
struct spur_scsi_lun *spur_scsi_dev_first_lun(struct spur_scsi_dev *dev);
struct spur_scsi_lun *spur_scsi_dev_next_lun(struct spur_scsi_dev *dev, struct spur_scsi_lun *prev);
uint32_t spur_scsi_dev_get_lun_count(const struct spur_scsi_dev *dev);
/*
 * Any thread: whether lun_id exists and accepts tasks (a hint for front ends
 * that answer "no such LUN" in their transport; racy against management).
 */
bool spur_scsi_dev_has_lun(const struct spur_scsi_dev *dev, uint16_t lun_id);

uint16_t spur_scsi_lun_get_id(const struct spur_scsi_lun *lun);
const char *spur_scsi_lun_get_bdev_name(const struct spur_scsi_lun *lun);
struct spur_bdev *spur_scsi_lun_get_bdev(const struct spur_scsi_lun *lun);
bool spur_scsi_lun_is_read_only(const struct spur_scsi_lun *lun);
bool spur_scsi_lun_is_removing(const struct spur_scsi_lun *lun);

/* ---- LUN addressing (SAM-5 4.7) ------------------------------------------------------ */

/*
 * The LUN id of an 8-byte SAM LUN field in the peripheral (00b) or flat
 * (01b) single-level format, or -EINVAL for other formats, levels below the
 * first not zero, or ids >= SPUR_SCSI_DEV_MAX_LUN.
 */
int spur_scsi_lun_id_decode(const uint8_t lun[8]);
/* Encode lun_id the way REPORT LUNS does (peripheral format). */
void spur_scsi_lun_id_encode(uint16_t lun_id, uint8_t lun[8]);

/*
 * ---- submission ------------------------------------------------------------------------
 *
 * Execute task on dev through ch (this thread's channel of dev). Returns 0
 * and calls task's callback exactly once on this thread, never from inside
 * this call; or -EINVAL (task not IDLE, no initiator or initiator id 0, ch
 * not a channel of dev, transfer_len larger than the iovecs, a data-out
 * task without iovecs, a data-in task without iovecs above
 * SPUR_SCSI_TASK_MAX_BUF, dir NONE with a non-zero transfer_len), -ENODEV
 * (device being destroyed), and the callback never runs. Everything else, including a LUN that does not exist, is a
 * SCSI outcome in the task: status + sense, residual, response.
 *
 * Order of checks (SPC-4 / SAM-5): missing LUN (INQUIRY / REPORT LUNS /
 * REQUEST SENSE still answered), pending unit attention for this initiator
 * (reported once, then cleared for it; INQUIRY, REPORT LUNS and REQUEST
 * SENSE are not blocked, REQUEST SENSE returns it as its data), reservation
 * conflict, NOT READY for media access after START STOP UNIT stopped the
 * unit, then the command itself.
 *
 * Data phase vs CDB: a READ asking for more than transfer_len moves the
 * whole blocks that fit and reports OVERFLOW (a command that returns data,
 * given data-out buffers only, moves nothing and overflows by all it
 * implies); a WRITE (or COMPARE AND WRITE, ...) whose data-out is shorter
 * than the CDB implies is refused with INVALID FIELD IN CDB (and
 * OVERFLOW); more data than needed is UNDERFLOW. The front end owns the
 * iovecs; the layer reads data-out from them and writes data-in into them,
 * never past transfer_len.
 */
int spur_scsi_dev_queue_task(struct spur_scsi_dev *dev, struct spur_io_channel *ch,
			     struct spur_scsi_task *task);

#endif
