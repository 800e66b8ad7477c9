/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to the virtio-scsi scenarios of spur_hostile_vhost (hostile_scsi.c,
 * hostile_scsi_ctl.c, hostile_scsi_util.c): a connection to a vhost-scsi controller with its
 * control (0), event (1) and request queues started, request buffers in
 * guest memory, builders for LUN fields and CDBs, the checks of the bytes
 * that came back, and a small JSON-RPC client for the scenarios that add
 * and remove targets. Implemented in hostile_scsi_util.c.
 *
 * The controller under attack (test_vhost_hostile.py) has SCSI target 0 on
 * a malloc bdev and target 1 on a delay bdev (about 1 s per read or
 * write), no other target, LUN 0 only. All connections share one
 * initiator port, so a unit attention (first command after the LUN
 * appeared, after a LUN reset) can be pending for the next connection:
 * sc_ready clears it the way Linux does, with TEST UNIT READY.
 *
 * Descriptor use on a request queue (SC_QSIZE entries): request buffer set
 * k (req[k]) uses descriptors 8k..8k+7 with head 8k, so all SC_NREQ sets
 * can be in flight at once. The control queue takes one request at a time
 * at head 0; the event queue holds SC_NEVBUF one-descriptor buffers at
 * heads 0..SC_NEVBUF-1, reposted as they come back.
 *
 * Threading: single-threaded.
 */
#ifndef SPUR_TEST_HOSTILE_SCSI_H
#define SPUR_TEST_HOSTILE_SCSI_H

#include <linux/virtio_scsi.h>

#include "hostile_vhost.h"

#define SC_FEATURES                                                                         \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |               \
	 (1ull << VIRTIO_SCSI_F_HOTPLUG))
#define SC_CTRLQ 0
#define SC_EVENTQ 1
#define SC_REQQ 2
#define SC_QSIZE 64         /* request queues */
#define SC_SMALL_QSIZE 16   /* control and event queues */
#define SC_NREQ 8
#define SC_NEVBUF 4
#define SC_DATA 16384u      /* each data buffer */
#define SC_TABLE 32u        /* indirect table entries per request */
#define SC_REQ_LEN ((uint32_t)sizeof(struct virtio_scsi_cmd_req))   /* 51 */
#define SC_RESP_LEN ((uint32_t)sizeof(struct virtio_scsi_cmd_resp)) /* 108 */
#define SC_FILL 0xeeu       /* response areas before the device writes */
#define SC_BLOCK 512u
#define SC_CDB 32u
#define SC_TAG0 0x5c5100u   /* the first command tag of a connection */
/* The tests' expectations of the controller. */
#define SC_TARGETS 2        /* targets 0 and 1 exist */
#define SC_SLOW_TARGET 1    /* on the delay bdev */
/* Time for spur to take a request from a ring, well below the slow target's latency. */
#define SC_SETTLE_MS 200u

/* SCSI constants the checks use (SAM-5 / SPC-4). */
#define SC_GOOD 0x00
#define SC_CHECK_CONDITION 0x02
#define SC_KEY_ILLEGAL_REQUEST 0x05
#define SC_KEY_UNIT_ATTENTION 0x06
#define SC_NO_SENSE (-1)

/* One request's buffers in guest memory. */
struct sc_req {
	struct virtio_scsi_cmd_req *cmd;   /* 64-byte area */
	uint64_t cmd_gpa;
	struct virtio_scsi_cmd_resp *resp; /* 128-byte area, SC_FILL before each request */
	uint64_t resp_gpa;
	uint8_t *data, *data2;             /* SC_DATA bytes each */
	uint64_t data_gpa, data2_gpa;
	struct vring_desc *table;          /* SC_TABLE entries */
	uint64_t table_gpa;
	uint16_t head;
};

struct sc_ring {
	struct hv *h;
	struct vfe_queue *cq, *eq, *rq;
	struct sc_req req[SC_NREQ];
	struct virtio_scsi_event *ev[SC_NEVBUF];
	uint64_t ev_gpa[SC_NEVBUF];
	uint8_t *ctl;                      /* control request at 0, response at 128 */
	uint64_t ctl_gpa;
	uint64_t tag;                      /* next command tag */
};

/* What a command must come back with. */
struct sc_want {
	uint32_t len;                      /* used length */
	uint8_t response;                  /* VIRTIO_SCSI_S_* */
	uint8_t status;                    /* SCSI status */
	uint32_t resid;
	int key, asc, ascq;                /* fixed-format sense; key SC_NO_SENSE: none */
};

/* A response without sense: used length, response code, resid (status GOOD). */
static inline struct sc_want
sc_want_resp(uint32_t len, uint8_t response, uint32_t resid)
{
	return (struct sc_want){len, response, SC_GOOD, resid, SC_NO_SENSE, 0, 0};
}

/* Response OK, CHECK CONDITION with fixed-format sense key / ASC / ASCQ. */
static inline struct sc_want
sc_want_check(uint32_t len, uint32_t resid, int key, int asc, int ascq)
{
	return (struct sc_want){len, VIRTIO_SCSI_S_OK, SC_CHECK_CONDITION, resid, key, asc, ascq};
}

/* ---- set-up (0 or -1 with hv_fail called) ---------------------------------------------- */

/*
 * Connect (h->scsi set), negotiate SC_FEATURES, share guest memory, start
 * the control, event and nrq request queues (2..), post the event buffers,
 * SET_VRING_ERR on queue 2 (h->err_fd), DRIVER_OK.
 */
int sc_start(struct hv *h, struct sc_ring *r, int nrq);
/* Carve q's buffers from guest memory. */
int sc_alloc_req(struct hv *h, struct sc_req *q, uint16_t head);

/* ---- building requests ------------------------------------------------------------------- */

/* {1, target, flat-space LUN (0x40 | lun >> 8, lun & 0xff), 0, 0, 0, 0}: what Linux sends. */
void sc_lun(uint8_t lun[8], uint8_t target, uint16_t lun_id);
/* CDBs (SC_CDB bytes, zero-filled). */
void sc_cdb_tur(uint8_t *cdb);
void sc_cdb_inquiry(uint8_t *cdb, uint16_t alloc);
void sc_cdb_rw10(uint8_t *cdb, uint8_t opcode, uint32_t lba, uint16_t blocks);
void sc_cdb_report_luns(uint8_t *cdb, uint32_t alloc);
void sc_cdb_request_sense(uint8_t *cdb, uint8_t alloc);
/*
 * Fill q's header (lun, a new tag, cdb of SC_CDB bytes), the response area
 * with SC_FILL, data with data_fill and data2 with data_fill ^ 0xff.
 */
void sc_prepare(struct sc_ring *r, struct sc_req *q, const uint8_t lun[8], const uint8_t *cdb,
		uint8_t data_fill);
/* The usual chain: header, data-out (out bytes of data, if any), response, data-in (in bytes). */
int sc_layout(const struct sc_req *q, struct vfe_buf *b, uint32_t out, uint32_t in);
struct vfe_buf sc_buf(uint64_t gpa, uint32_t len, bool write);
/* Add the chain at q->head, publish, kick. */
void sc_submit(struct vfe_queue *vq, const struct sc_req *q, const struct vfe_buf *b, int n);

/* ---- what comes back --------------------------------------------------------------------- */

/* Wait up to ms for a used entry of vq. */
bool sc_wait_used(struct vfe_queue *vq, uint16_t *id, uint32_t *len, uint32_t ms);
/* The next used entry of r->rq must be q's head (HV_TIMEOUT_MS); its length in *len. */
int sc_wait_req(struct sc_ring *r, const struct sc_req *q, uint32_t *len, const char *what);
/* q's response (and used length len) must be w; what names the request in the message. */
int sc_check(struct sc_ring *r, const struct sc_req *q, uint32_t len, const struct sc_want *w,
	     const char *what);
/* The response area must be as the driver left it (SC_FILL). */
bool sc_resp_untouched(const struct sc_req *q);
/* n bytes of p all equal to v. */
bool sc_all(const uint8_t *p, uint32_t n, uint8_t v);
/* sc_prepare + sc_layout + submit + wait + check, on q = r->req[0]. */
int sc_exec(struct sc_ring *r, const uint8_t lun[8], const uint8_t *cdb, uint32_t out,
	    uint32_t in, const struct sc_want *w, const char *what);
/* TEST UNIT READY on LUN 0 of target until GOOD, past unit attentions. */
int sc_ready(struct sc_ring *r, uint8_t target);
/* A good INQUIRY and TEST UNIT READY on target 0 complete on queue 2 (the queue still serves). */
int sc_serves(struct sc_ring *r);
/* blocks of a pattern of seed at lba of target: write with WRITE(10), check with READ(10). */
void sc_pattern(uint8_t *p, uint32_t lba, uint32_t blocks, uint64_t seed);
int sc_write_pattern(struct sc_ring *r, uint8_t target, uint32_t lba, uint16_t blocks,
		     uint64_t seed);
int sc_check_pattern(struct sc_ring *r, uint8_t target, uint32_t lba, uint16_t blocks,
		     uint64_t seed, const char *what);

/* ---- control and event queues -------------------------------------------------------------- */

/*
 * A control request of out readable bytes (r->ctl, filled by the caller)
 * and in writable bytes (r->ctl + 128, SC_FILL first) at head 0; its used
 * length in *len. Zero-length parts are left out of the chain.
 */
int sc_ctrl(struct sc_ring *r, uint32_t out, uint32_t in, uint32_t *len);
/* A task management function; its one-byte response in *resp. */
int sc_tmf(struct sc_ring *r, uint32_t subtype, const uint8_t lun[8], uint64_t tag,
	   uint8_t *resp);
/* Wait up to ms for an event; *ev gets it, the buffer is posted again. 0, or -1 (no hv_fail). */
int sc_event(struct sc_ring *r, uint32_t ms, struct virtio_scsi_event *ev, uint32_t *len);

/* ---- the ring is broken ------------------------------------------------------------------ */

/*
 * Request queue 2 is stopped: at most `allowed` completions, none for a
 * later good request, GET_STATUS NEEDS_RESET, the error eventfd; then
 * GET_VRING_BASE clears NEEDS_RESET and a restarted ring serves again.
 */
int sc_expect_broken(struct sc_ring *r, int allowed);

/* ---- spur's RPC server (h->rpc) ------------------------------------------------------------ */

/* Connect; returns the fd or -1 (hv_fail). */
int sc_rpc_connect(struct hv *h);
/* Send one request (printf-style JSON). 0 or -1. */
int sc_rpc_send(struct hv *h, int fd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Receive one JSON value into buf (NUL-terminated) within ms. 0 or -1 (hv_fail). */
int sc_rpc_recv(struct hv *h, int fd, char *buf, size_t size, uint32_t ms);

#endif
