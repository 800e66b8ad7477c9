/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hostile virtio-scsi frontends beyond single commands (see hostile_scsi.h
 * for the controller under attack): malformed control requests and task
 * management, asynchronous-notification requests, requests on the wrong
 * queue or a queue the device does not have, a refused SET_CONFIG, odd
 * event queue buffers, broken request and event rings, and, on the slow
 * target 1, TMFs, GET_VRING_BASE, disconnects and target removal with a
 * command in flight.
 *
 * What is right, and so what is asserted (virtio 1.x virtio-scsi, SAM-5):
 *  - a TMF for a target that does not exist (or is being removed) is
 *    BAD_TARGET, for a LUN that does not exist INCORRECT_LUN, an unknown
 *    or unsupported subtype (CLEAR ACA, QUERY TASK (SET)) FUNCTION
 *    REJECTED, a request too short FAILURE; ABORT TASK of a tag nobody
 *    uses is FUNCTION COMPLETE; a control request that cannot be answered
 *    (of a type no negotiated feature defines, so of unknown response
 *    layout; without its type; without a writable byte; an AN request
 *    without room for its 5-byte response) stops the control queue
 *    (NEEDS_RESET): returned empty, the driver would read its stale
 *    response buffer as the device's answer;
 *  - a command aborted by ABORT TASK comes back ABORTED, by a LUN reset
 *    RESET, and it is in its used ring before the TMF response; the reset
 *    is then reported once as a unit attention (06/29/03);
 *  - the event queue holds buffers until an event or a stop and returns
 *    them with 16 bytes of NO_EVENT on a stop; a buffer too small for an
 *    event stops it (NEEDS_RESET: an event buffer has no error answer);
 *  - a malformed chain (virtq.h, "Malformed chains") on the control or
 *    event queue stops that queue (NEEDS_RESET): no error answer fits
 *    every control request type, an event buffer has none, and an empty
 *    return would be read as a stale response or event;
 *  - impossible ring state stops that ring only (NEEDS_RESET, the error
 *    eventfd); GET_VRING_BASE answers once every request taken is back;
 *  - a target being removed answers new commands, TMFs and AN queries with
 *    BAD_TARGET at once while the commands in flight finish normally; the
 *    RPC is answered and TRANSPORT_RESET/REMOVED posted after them; a
 *    re-added target posts TRANSPORT_RESET/RESCAN.
 *
 * Threading: single-threaded.
 */
#include "hostile_scsi.h"

#include <endian.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- control queue --------------------------------------------------------------------------- */

/*
 * Queue qidx (control or event) must stop: GET_STATUS NEEDS_RESET, nothing
 * came back on it, request queue 2 keeps serving; GET_VRING_BASE of qidx
 * clears NEEDS_RESET.
 */
static int
expect_side_ring_stopped(struct sc_ring *r, uint16_t qidx, struct vfe_queue *vq,
			 const char *what)
{
	struct hv *h = r->h;
	uint32_t base, len;
	uint16_t id;

	if (hv_expect_needs_reset(h) < 0)
		return -1;
	if (sc_wait_used(vq, &id, &len, HV_QUIET_MS))
		return hv_fail(h, "%s: queue %u returned id %u (used len %u)", what, qidx, id,
			       len);
	if (sc_serves(r) < 0)
		return -1;
	return hv_stop_clears_reset(h, qidx, &base);
}


static int
s_ctrl_malformed(struct hv *h)
{
	struct virtio_scsi_ctrl_tmf_req tmf = {.type = htole32(VIRTIO_SCSI_T_TMF),
					       .subtype = htole32(VIRTIO_SCSI_T_TMF_ABORT_TASK)};
	struct virtio_scsi_ctrl_an_req an = {.type = htole32(VIRTIO_SCSI_T_AN_QUERY)};
	/* Requests with no answer: request bytes (in r.ctl), writable bytes. */
	const struct {
		const void *req;  /* NULL: a TMF with type 0x77 */
		size_t size;      /* of *req */
		uint32_t out, in;
		const char *what;
	} cases[] = {
		{NULL, 0, sizeof(tmf), 8, "a control request of type 0x77"},
		{&tmf, sizeof(tmf), 2, 1, "a 2-byte control request"},
		{&tmf, sizeof(tmf), sizeof(tmf), 0, "a TMF without a writable byte"},
		{&an, sizeof(an), sizeof(an), 4, "an AN query with a 4-byte response area"},
	};
	struct sc_ring r;
	uint32_t len, type = htole32(0x77);
	uint8_t resp;
	struct vfe_buf b[2];
	int n;

	if (sc_start(h, &r, 1) < 0)
		return -1;
	sc_lun(tmf.lun, 0, 0);
	sc_lun(an.lun, 0, 0);
	/* A TMF cut short still has its response byte: FAILURE. */
	memcpy(r.ctl, &tmf, sizeof(tmf));
	if (sc_ctrl(&r, 12, 1, &len) < 0)
		return -1;
	if (len != 1 || r.ctl[128] != VIRTIO_SCSI_S_FAILURE)
		return hv_fail(h, "a 12-byte TMF came back with used len %u response %u (expected "
			       "1, FAILURE)", len, r.ctl[128]);
	/* The queue still answers a good one: ABORT TASK of a tag nobody uses. */
	if (sc_tmf(&r, VIRTIO_SCSI_T_TMF_ABORT_TASK, tmf.lun, 0xdead, &resp) < 0)
		return -1;
	if (resp != 0)
		return hv_fail(h, "ABORT TASK of an unknown tag answered %u (expected 0, FUNCTION "
			       "COMPLETE)", resp);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].req != NULL) {
			memcpy(r.ctl, cases[i].req, cases[i].size);
		} else {
			memcpy(r.ctl, &tmf, sizeof(tmf));
			memcpy(r.ctl, &type, 4);
		}
		memset(r.ctl + 128, SC_FILL, 128);
		n = 0;
		b[n++] = sc_buf(r.ctl_gpa, cases[i].out, false);
		if (cases[i].in > 0)
			b[n++] = sc_buf(r.ctl_gpa + 128, cases[i].in, true);
		vfe_add_chain(r.cq, 0, b, n);
		vfe_publish(r.cq);
		vfe_kick(r.cq);
		if (expect_side_ring_stopped(&r, SC_CTRLQ, r.cq, cases[i].what) < 0)
			return -1;
		if (!sc_all(r.ctl + 128, 128, SC_FILL))
			return hv_fail(h, "%s: the device wrote into its response area",
				       cases[i].what);
		if (vfe_queue_restart(&h->d, SC_CTRLQ) < 0)
			return hv_fail(h, "restarting the control queue: %s", h->d.err);
		if (sc_tmf(&r, VIRTIO_SCSI_T_TMF_ABORT_TASK, tmf.lun, 0xdead, &resp) < 0)
			return -1;
		if (resp != 0)
			return hv_fail(h, "after %s and a restart, ABORT TASK answered %u",
				       cases[i].what, resp);
	}
	return hv_did(h, "a 12-byte TMF: FAILURE; ABORT TASK of an unknown tag: FUNCTION "
		      "COMPLETE; control requests of unknown type, of 2 bytes, without a "
		      "writable byte, an AN query with 4 writable bytes: each stopped the control "
		      "queue (NEEDS_RESET, nothing written or returned) while request queue 2 "
		      "served; after each reset the control queue answered again");
}

static int
s_tmf_subtype(struct hv *h)
{
	static const uint32_t subtypes[] = {VIRTIO_SCSI_T_TMF_CLEAR_ACA,
					    VIRTIO_SCSI_T_TMF_QUERY_TASK,
					    VIRTIO_SCSI_T_TMF_QUERY_TASK_SET, 8, 0x99, 0xffffffff};
	struct sc_ring r;
	uint8_t lun[8], resp;

	if (sc_start(h, &r, 1) < 0)
		return -1;
	sc_lun(lun, 0, 0);
	for (size_t i = 0; i < sizeof(subtypes) / sizeof(subtypes[0]); i++) {
		if (sc_tmf(&r, subtypes[i], lun, 1, &resp) < 0)
			return -1;
		if (resp != VIRTIO_SCSI_S_FUNCTION_REJECTED)
			return hv_fail(h, "TMF subtype %u answered %u (expected 11, FUNCTION "
				       "REJECTED)", subtypes[i], resp);
	}
	if (sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "answered FUNCTION REJECTED to CLEAR ACA, QUERY TASK (SET) and unknown "
		      "subtypes 8, 0x99, 0xffffffff");
}

static int
s_tmf_bad_lun(struct hv *h)
{
	struct sc_ring r;
	uint8_t lun[8], resp;

	if (sc_start(h, &r, 1) < 0)
		return -1;
	sc_lun(lun, SC_TARGETS, 0);
	if (sc_tmf(&r, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, lun, 0, &resp) < 0)
		return -1;
	if (resp != VIRTIO_SCSI_S_BAD_TARGET)
		return hv_fail(h, "LUN RESET to target %u (no device) answered %u (expected 3, "
			       "BAD_TARGET)", SC_TARGETS, resp);
	sc_lun(lun, 200, 0);
	if (sc_tmf(&r, VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET, lun, 0, &resp) < 0)
		return -1;
	if (resp != VIRTIO_SCSI_S_BAD_TARGET)
		return hv_fail(h, "I_T NEXUS RESET to target 200 answered %u (expected 3)", resp);
	sc_lun(lun, 0, 0);
	lun[0] = 0;
	if (sc_tmf(&r, VIRTIO_SCSI_T_TMF_ABORT_TASK_SET, lun, 0, &resp) < 0)
		return -1;
	if (resp != VIRTIO_SCSI_S_BAD_TARGET)
		return hv_fail(h, "ABORT TASK SET with LUN byte 0 = 0 answered %u (expected 3)",
			       resp);
	sc_lun(lun, 0, 0);
	lun[2] = 0x80;
	if (sc_tmf(&r, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, lun, 0, &resp) < 0)
		return -1;
	if (resp != VIRTIO_SCSI_S_BAD_TARGET)
		return hv_fail(h, "LUN RESET with a malformed LUN answered %u (expected 3)", resp);
	sc_lun(lun, 0, 1);
	if (sc_tmf(&r, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, lun, 0, &resp) < 0)
		return -1;
	if (resp != VIRTIO_SCSI_S_INCORRECT_LUN)
		return hv_fail(h, "LUN RESET to LUN 1 of target 0 answered %u (expected 12, "
			       "INCORRECT_LUN)", resp);
	sc_lun(lun, 0, 300);
	if (sc_tmf(&r, VIRTIO_SCSI_T_TMF_ABORT_TASK, lun, 7, &resp) < 0)
		return -1;
	if (resp != VIRTIO_SCSI_S_INCORRECT_LUN)
		return hv_fail(h, "ABORT TASK to LUN 300 of target 0 answered %u (expected 12, "
			       "INCORRECT_LUN)", resp);
	if (sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "TMFs to absent targets and malformed LUNs: BAD_TARGET; to absent LUNs "
		      "1 and 300 of target 0: INCORRECT_LUN");
}

static int
s_an(struct hv *h)
{
	struct virtio_scsi_ctrl_an_req an = {.type = htole32(VIRTIO_SCSI_T_AN_QUERY),
					     .event_requested = htole32(0xffffffff)};
	struct virtio_scsi_ctrl_an_resp resp;
	struct sc_ring r;
	uint32_t len;

	if (sc_start(h, &r, 1) < 0)
		return -1;
	sc_lun(an.lun, 0, 0);
	memcpy(r.ctl, &an, sizeof(an));
	if (sc_ctrl(&r, sizeof(an), sizeof(resp), &len) < 0)
		return -1;
	memcpy(&resp, r.ctl + 128, sizeof(resp));
	if (len != sizeof(resp) || resp.response != VIRTIO_SCSI_S_OK || resp.event_actual != 0)
		return hv_fail(h, "AN_QUERY to target 0: used len %u response %u event_actual "
			       "0x%x (expected 5, OK, 0)", len, resp.response,
			       le32toh(resp.event_actual));
	an.type = htole32(VIRTIO_SCSI_T_AN_SUBSCRIBE);
	sc_lun(an.lun, SC_TARGETS, 0);
	memcpy(r.ctl, &an, sizeof(an));
	if (sc_ctrl(&r, sizeof(an), sizeof(resp), &len) < 0)
		return -1;
	memcpy(&resp, r.ctl + 128, sizeof(resp));
	if (len != sizeof(resp) || resp.response != VIRTIO_SCSI_S_BAD_TARGET)
		return hv_fail(h, "AN_SUBSCRIBE to target %u: used len %u response %u (expected 5, "
			       "BAD_TARGET)", SC_TARGETS, len, resp.response);
	if (sc_ctrl(&r, 8, sizeof(resp), &len) < 0)
		return -1;
	memcpy(&resp, r.ctl + 128, sizeof(resp));
	if (len != sizeof(resp) || resp.response != VIRTIO_SCSI_S_FAILURE)
		return hv_fail(h, "an 8-byte AN request: used len %u response %u (expected 5, "
			       "FAILURE)", len, resp.response);
	if (sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "AN_QUERY: OK, no event supported; to an absent target: BAD_TARGET; "
		      "8 bytes: FAILURE");
}

/*
 * A command on the control queue (its LUN's first bytes read as a type no
 * feature defines) and a TMF on a request queue (1 writable byte, no room
 * for a command's response byte): neither can be answered, each stops
 * its queue.
 */
static int
s_wrong_queue(struct hv *h)
{
	struct virtio_scsi_ctrl_tmf_req tmf = {.type = htole32(VIRTIO_SCSI_T_TMF),
					       .subtype = htole32(VIRTIO_SCSI_T_TMF_ABORT_TASK)};
	struct sc_ring r;
	struct sc_req *q = &r.req[1]; /* req[0]: sc_serves's */
	uint8_t lun[8], cdb[SC_CDB];
	struct vfe_buf b[2];

	if (sc_start(h, &r, 1) < 0)
		return -1;
	sc_lun(lun, 0, 0);
	sc_cdb_inquiry(cdb, 96);
	sc_prepare(&r, q, lun, cdb, 0xaa);
	b[0] = sc_buf(q->cmd_gpa, SC_REQ_LEN, false);
	b[1] = sc_buf(q->resp_gpa, SC_RESP_LEN, true);
	vfe_add_chain(r.cq, 0, b, 2);
	vfe_publish(r.cq);
	vfe_kick(r.cq);
	if (expect_side_ring_stopped(&r, SC_CTRLQ, r.cq, "a command on the control queue") < 0)
		return -1;
	if (!sc_resp_untouched(q))
		return hv_fail(h, "the device wrote into the response of a command on the control "
			       "queue");
	sc_lun(tmf.lun, 0, 0);
	memcpy(q->cmd, &tmf, sizeof(tmf));
	memset(q->resp, SC_FILL, 128);
	b[0] = sc_buf(q->cmd_gpa, sizeof(tmf), false);
	b[1] = sc_buf(q->resp_gpa, 1, true);
	sc_submit(r.rq, q, b, 2);
	if (sc_expect_broken(&r, 0) < 0)
		return -1;
	if (!sc_resp_untouched(q))
		return hv_fail(h, "the device wrote into the response of a TMF on a request queue");
	return hv_did(h, "a command on the control queue stopped the control queue, a TMF on a "
		      "request queue stopped that queue (NEEDS_RESET each, nothing written or "
		      "returned, GET_VRING_BASE cleared it); the restarted request queue served "
		      "again");
}

/* Queue index 64: not a queue of this device (62 request queues: 2..63). */
static int
s_qidx_beyond(struct hv *h)
{
	struct sc_ring r;
	uint64_t v;
	int fd;

	if (sc_start(h, &r, 1) < 0)
		return -1;
	if (h->scsi_cfg.num_queues + 2 != HV_QUEUES || h->d.max_queues != HV_QUEUES)
		return hv_fail(h, "the scenario assumes num_queues %u (has %u) and %u vhost-user "
			       "queues (has %u)", HV_QUEUES - 2, h->scsi_cfg.num_queues, HV_QUEUES,
			       h->d.max_queues);
	fd = hv_new_eventfd(h);
	if (fd < 0)
		return -1;
	v = HV_QUEUES;
	if (hv_send(h, VFE_SET_VRING_KICK, &v, sizeof(v), &fd, 1) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	return hv_expect_nack_close(h, VFE_SET_VRING_KICK);
}

/* SET_CONFIG of cdb_size 16: the request layout is fixed at 32. */
static int
s_set_config_cdb(struct hv *h)
{
	struct {
		uint32_t offset, size, flags;
		uint32_t value;
	} __attribute__((packed)) msg = {offsetof(struct virtio_scsi_config, cdb_size), 4, 0, 16};
	struct virtio_scsi_config cfg;
	struct sc_ring r;

	if (sc_start(h, &r, 1) < 0)
		return -1;
	if (hv_send(h, VFE_SET_CONFIG, &msg, sizeof(msg), NULL, 0) < 0 ||
	    hv_expect_nack(h, VFE_SET_CONFIG) < 0 || hv_expect_alive(h) < 0)
		return -1;
	if (vfe_get_config(&h->d, &cfg, sizeof(cfg)) < 0)
		return hv_fail(h, "GET_CONFIG: %s", h->d.err);
	if (cfg.cdb_size != SC_CDB)
		return hv_fail(h, "cdb_size is now %u", cfg.cdb_size);
	if (sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "refused SET_CONFIG cdb_size 16 (failed REPLY_ACK, connection kept), "
		      "cdb_size still 32, commands still parsed with 32-byte CDBs");
}

/* ---- event queue ---------------------------------------------------------------------------- */

static int
s_evq_buffers(struct hv *h)
{
	struct sc_ring r;
	struct sc_req *q = &r.req[0];
	uint8_t *split, *rw;
	uint64_t split_gpa, rw_gpa;
	struct vfe_buf b[2];
	bool back[16] = {false};
	uint32_t len, base;
	uint16_t id;
	int n = 0;

	if (sc_start(h, &r, 1) < 0)
		return -1;
	split = vfe_mem_alloc(&h->d, 64, 64, &split_gpa);
	rw = vfe_mem_alloc(&h->d, 64, 64, &rw_gpa);
	if (split == NULL || rw == NULL)
		return hv_fail(h, "guest memory too small");
	memset(split, 0xff, 64);
	memset(rw, 0xff, 64);
	memset(q->resp, SC_FILL, 128);
	/* 6-7: a command; 8-9: 8 + 8 writable bytes; 10-11: R + W. */
	b[0] = sc_buf(q->cmd_gpa, SC_REQ_LEN, false);
	b[1] = sc_buf(q->resp_gpa, SC_RESP_LEN, true);
	vfe_add_chain(r.eq, 6, b, 2);
	b[0] = sc_buf(split_gpa, 8, true);
	b[1] = sc_buf(split_gpa + 32, 8, true);
	vfe_add_chain(r.eq, 8, b, 2);
	b[0] = sc_buf(rw_gpa + 32, 16, false);
	b[1] = sc_buf(rw_gpa, 16, true);
	vfe_add_chain(r.eq, 10, b, 2);
	vfe_publish(r.eq);
	vfe_kick(r.eq);
	if (sc_wait_used(r.eq, &id, &len, HV_QUIET_MS))
		return hv_fail(h, "the event queue returned id %u (used len %u) without an event",
			       id, len);
	/* Stopping the queue returns every held buffer with NO_EVENT. */
	if (vfe_queue_stop(&h->d, SC_EVENTQ, &base) < 0)
		return hv_fail(h, "GET_VRING_BASE of the event queue: %s", h->d.err);
	if (base != SC_NEVBUF + 3)
		return hv_fail(h, "GET_VRING_BASE of the event queue answers %u (expected %u)",
			       base, SC_NEVBUF + 3);
	while (vfe_get_used(r.eq, &id, &len)) {
		if (id >= 16 || back[id] || len != sizeof(struct virtio_scsi_event))
			return hv_fail(h, "after the stop the event queue returned id %u used len "
				       "%u", id, len);
		back[id] = true;
		n++;
	}
	if (n != SC_NEVBUF + 3)
		return hv_fail(h, "after the stop %d held buffers came back (expected %d)", n,
			       SC_NEVBUF + 3);
	for (int i = 0; i < SC_NEVBUF; i++)
		if (!sc_all((const uint8_t *)r.ev[i], 16, 0))
			return hv_fail(h, "event buffer %d does not hold NO_EVENT after the stop",
				       i);
	if (!sc_all((const uint8_t *)q->resp, 16, 0) ||
	    !sc_all((const uint8_t *)q->resp + 16, 128 - 16, SC_FILL) || !sc_all(split, 8, 0) ||
	    !sc_all(split + 32, 8, 0) || !sc_all(rw, 16, 0) || !sc_all(rw + 32, 16, 0xff))
		return hv_fail(h, "a held buffer of unusual shape was not returned with exactly "
			       "16 bytes of NO_EVENT");
	return hv_did(h, "held a command-shaped, a split and a read+write buffer; GET_VRING_BASE "
		      "returned all %d held buffers with NO_EVENT (16 bytes)", SC_NEVBUF + 3);
}

/*
 * Event buffers the device cannot use: a malformed chain (a readable
 * descriptor after the writable one), 8 writable bytes, 16 readable ones.
 * No answer is right (an event buffer has no error status; an empty one
 * would replay the stale event the buffer holds): each stops the event
 * queue while the request queue serves.
 */
static int
s_evq_unusable(struct hv *h)
{
	static const struct {
		int n;
		struct {
			uint32_t off, len;
			bool writable;
		} b[2];
		const char *what;
	} cases[] = {
		{2, {{0, 16, true}, {32, 16, false}}, "an event buffer with a readable descriptor "
						      "after its writable one"},
		{1, {{0, 8, true}}, "an 8-byte event buffer"},
		{1, {{0, 16, false}}, "a read-only event buffer"},
	};
	struct sc_ring r;
	struct vfe_buf b[2];
	uint64_t gpa;
	uint8_t *buf;

	if (sc_start(h, &r, 1) < 0)
		return -1;
	buf = vfe_mem_alloc(&h->d, 64, 64, &gpa);
	if (buf == NULL)
		return hv_fail(h, "guest memory too small");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(buf, 0xff, 64);
		for (int k = 0; k < cases[i].n; k++)
			b[k] = sc_buf(gpa + cases[i].b[k].off, cases[i].b[k].len,
				      cases[i].b[k].writable);
		vfe_add_chain(r.eq, 4, b, cases[i].n);
		vfe_publish(r.eq);
		vfe_kick(r.eq);
		if (expect_side_ring_stopped(&r, SC_EVENTQ, r.eq, cases[i].what) < 0)
			return -1;
		if (!sc_all(buf, 64, 0xff))
			return hv_fail(h, "the device wrote into %s", cases[i].what);
		if (vfe_queue_restart(&h->d, SC_EVENTQ) < 0)
			return hv_fail(h, "restarting the event queue: %s", h->d.err);
	}
	return hv_did(h, "a malformed event buffer chain, an 8-byte and a read-only event buffer "
		      "each stopped the event queue (NEEDS_RESET, nothing written or returned) "
		      "while request queue 2 served; GET_VRING_BASE cleared NEEDS_RESET");
}

/* ---- ring state ------------------------------------------------------------------------------ */

static int
s_head_twice(struct hv *h)
{
	struct sc_ring r;
	struct sc_req *q = &r.req[0];
	uint8_t lun[8], cdb[SC_CDB];
	struct vfe_buf b[2];

	if (sc_start(h, &r, 1) < 0 || sc_ready(&r, 0) < 0)
		return -1;
	sc_lun(lun, 0, 0);
	sc_cdb_tur(cdb);
	sc_prepare(&r, q, lun, cdb, 0);
	vfe_add_chain(r.rq, q->head, b, sc_layout(q, b, 0, 0));
	vfe_split_offer(r.rq, q->head);
	vfe_publish(r.rq);
	vfe_kick(r.rq);
	return sc_expect_broken(&r, 1);
}

static int
s_head_out_of_range(struct hv *h)
{
	struct sc_ring r;

	if (sc_start(h, &r, 1) < 0)
		return -1;
	vfe_split_offer(r.rq, SC_QSIZE + 3);
	vfe_publish(r.rq);
	vfe_kick(r.rq);
	return sc_expect_broken(&r, 0);
}

/* A malformed chain on the control queue: no answer fits every request type. */
static int
s_ctrl_bad_chain(struct hv *h)
{
	struct virtio_scsi_ctrl_tmf_req tmf = {.type = htole32(VIRTIO_SCSI_T_TMF),
					       .subtype = htole32(VIRTIO_SCSI_T_TMF_ABORT_TASK)};
	struct sc_ring r;
	struct vfe_buf b[3];

	if (sc_start(h, &r, 1) < 0)
		return -1;
	sc_lun(tmf.lun, 0, 0);
	memcpy(r.ctl, &tmf, sizeof(tmf));
	memset(r.ctl + 128, SC_FILL, 128);
	b[0] = sc_buf(r.ctl_gpa, sizeof(tmf), false);
	b[1] = sc_buf(r.ctl_gpa + 128, 1, true);
	b[2] = sc_buf(r.ctl_gpa + 192, 16, false);
	vfe_add_chain(r.cq, 0, b, 3);
	vfe_publish(r.cq);
	vfe_kick(r.cq);
	if (expect_side_ring_stopped(&r, SC_CTRLQ, r.cq, "a TMF with a readable descriptor "
				     "after its response") < 0)
		return -1;
	if (r.ctl[128] != SC_FILL)
		return hv_fail(h, "the device wrote %u into the TMF's response", r.ctl[128]);
	return hv_did(h, "stopped the control queue for a malformed TMF chain (GET_STATUS "
		      "NEEDS_RESET, nothing written or returned) while request queue 2 kept "
		      "serving; GET_VRING_BASE cleared NEEDS_RESET");
}

/* A head index beyond the event queue's size: that ring stops, the others serve. */
static int
s_evq_head_out_of_range(struct hv *h)
{
	struct sc_ring r;

	if (sc_start(h, &r, 1) < 0)
		return -1;
	vfe_split_offer(r.eq, SC_SMALL_QSIZE + 1);
	vfe_publish(r.eq);
	vfe_kick(r.eq);
	if (expect_side_ring_stopped(&r, SC_EVENTQ, r.eq, "a head beyond the event queue") < 0)
		return -1;
	return hv_did(h, "stopped the event queue (GET_STATUS NEEDS_RESET) while request queue 2 "
		      "kept serving; GET_VRING_BASE cleared NEEDS_RESET");
}

/* ---- commands in flight on the slow target --------------------------------------------------- */

/* READ(10) of 8 blocks from target 1 in req[1], submitted (in flight about 1 s). */
static void
slow_read(struct sc_ring *r)
{
	struct sc_req *q = &r->req[1];
	uint8_t lun[8], cdb[SC_CDB];
	struct vfe_buf b[4];

	sc_lun(lun, SC_SLOW_TARGET, 0);
	sc_cdb_rw10(cdb, 0x28, 64, 8);
	sc_prepare(r, q, lun, cdb, 0xaa);
	sc_submit(r->rq, q, b, sc_layout(q, b, 0, 4096));
}

/*
 * Start the ring with one request queue, READ from the slow target in
 * req[1], and check it is still in flight SC_SETTLE_MS later.
 */
static int
start_slow_read(struct hv *h, struct sc_ring *r)
{
	uint32_t len;
	uint16_t id;

	if (sc_start(h, r, 1) < 0 || sc_ready(r, SC_SLOW_TARGET) < 0)
		return -1;
	slow_read(r);
	usleep(SC_SETTLE_MS * 1000);
	if (vfe_get_used(r->rq, &id, &len))
		return hv_fail(h, "the READ from the slow target completed within %u ms",
			       SC_SETTLE_MS);
	return 0;
}

/* The slow READ of req[1] came back as an aborted command (response). */
static int
check_aborted(struct sc_ring *r, uint32_t len, uint8_t response, const char *what)
{
	const struct virtio_scsi_cmd_resp *p = r->req[1].resp;
	uint32_t moved = len >= SC_RESP_LEN ? len - SC_RESP_LEN : 0;

	if (p->response != response || len < SC_RESP_LEN || p->sense_len != 0 ||
	    le32toh(p->resid) + moved != 4096)
		return hv_fail(r->h, "%s: the READ came back with used len %u response %u "
			       "resid %u sense_len %u (expected response %u, resid + data = 4096)",
			       what, len, p->response, le32toh(p->resid), le32toh(p->sense_len),
			       response);
	return 0;
}

/* A TMF while the slow READ is in flight; the READ must be in the used ring first. */
static int
tmf_inflight(struct hv *h, uint32_t subtype, uint8_t want_cmd, const char *what)
{
	struct sc_ring r;
	uint8_t lun[8], resp, cdb[SC_CDB];
	struct sc_want w;
	uint32_t len;
	uint16_t id;

	if (start_slow_read(h, &r) < 0)
		return -1;
	sc_lun(lun, SC_SLOW_TARGET, 0);
	if (sc_tmf(&r, subtype, lun, le64toh(r.req[1].cmd->tag), &resp) < 0)
		return -1;
	if (resp != 0)
		return hv_fail(h, "%s answered %u (expected 0, FUNCTION COMPLETE)", what, resp);
	if (!vfe_get_used(r.rq, &id, &len))
		return hv_fail(h, "%s was answered before the aborted READ was in the used ring",
			       what);
	if (id != r.req[1].head)
		return hv_fail(h, "after %s the used ring holds id %u", what, id);
	if (check_aborted(&r, len, want_cmd, what) < 0)
		return -1;
	sc_lun(lun, SC_SLOW_TARGET, 0);
	sc_cdb_tur(cdb);
	if (subtype == VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET) {
		/* SAM-5: the reset is reported once as a unit attention. */
		w = sc_want_check(SC_RESP_LEN, 0, SC_KEY_UNIT_ATTENTION, 0x29, 0x03);
		if (sc_exec(&r, lun, cdb, 0, 0, &w, "the first command after the LUN reset") < 0)
			return -1;
	}
	w = sc_want_resp(SC_RESP_LEN, VIRTIO_SCSI_S_OK, 0);
	if (sc_exec(&r, lun, cdb, 0, 0, &w, "TEST UNIT READY after the TMF") < 0 ||
	    sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "%s with a READ in flight: the READ came back %s, then FUNCTION "
		      "COMPLETE%s; the target serves again", what,
		      want_cmd == VIRTIO_SCSI_S_RESET ? "RESET" : "ABORTED",
		      subtype == VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET
		      ? ", then one unit attention 06/29/03" : "");
}

static int
s_tmf_abort_inflight(struct hv *h)
{
	return tmf_inflight(h, VIRTIO_SCSI_T_TMF_ABORT_TASK, VIRTIO_SCSI_S_ABORTED, "ABORT TASK");
}

static int
s_tmf_lun_reset_inflight(struct hv *h)
{
	return tmf_inflight(h, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, VIRTIO_SCSI_S_RESET,
			    "LOGICAL UNIT RESET");
}

/* GET_VRING_BASE of the request queue answers only once the READ is back. */
static int
s_get_base_inflight(struct hv *h)
{
	struct sc_ring r;
	const struct virtio_scsi_cmd_resp *p;
	uint32_t base, len;
	uint16_t id;

	if (start_slow_read(h, &r) < 0)
		return -1;
	if (vfe_queue_stop(&h->d, SC_REQQ, &base) < 0)
		return hv_fail(h, "GET_VRING_BASE with a READ in flight: %s", h->d.err);
	if (base != r.tag - SC_TAG0)
		return hv_fail(h, "GET_VRING_BASE answers %u after %u commands", base,
			       (unsigned)(r.tag - SC_TAG0));
	if (!vfe_get_used(r.rq, &id, &len))
		return hv_fail(h, "GET_VRING_BASE answered before the READ in flight was in the "
			       "used ring");
	p = r.req[1].resp;
	if (id != r.req[1].head || len != SC_RESP_LEN + 4096 || p->response != VIRTIO_SCSI_S_OK ||
	    p->status != SC_GOOD || p->resid != 0)
		return hv_fail(h, "the READ in flight came back as id %u used len %u response %u "
			       "status 0x%02x", id, len, p->response, p->status);
	if (vfe_queue_restart(&h->d, SC_REQQ) < 0)
		return hv_fail(h, "restarting the request queue: %s", h->d.err);
	if (sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "GET_VRING_BASE waited for the READ in flight (completed GOOD), answered "
		      "base %u; a restarted queue served again", base);
}

/* Disconnect with a READ in flight: the next frontend (the healthy check) is served. */
static int
s_close_inflight(struct hv *h)
{
	struct sc_ring r;

	if (start_slow_read(h, &r) < 0)
		return -1;
	return hv_did(h, "disconnected with a READ in flight on the slow target");
}

/*
 * Disconnect while ABORT TASK waits for the READ it aborts (the delay bdev
 * cannot cancel it; a LUN reset would, by resetting the bdev).
 */
static int
s_close_mid_tmf(struct hv *h)
{
	struct virtio_scsi_ctrl_tmf_req tmf = {
		.type = htole32(VIRTIO_SCSI_T_TMF),
		.subtype = htole32(VIRTIO_SCSI_T_TMF_ABORT_TASK)};
	struct vfe_buf b[2];
	struct sc_ring r;
	uint32_t len;
	uint16_t id;

	if (start_slow_read(h, &r) < 0)
		return -1;
	sc_lun(tmf.lun, SC_SLOW_TARGET, 0);
	tmf.tag = r.req[1].cmd->tag;
	memcpy(r.ctl, &tmf, sizeof(tmf));
	memset(r.ctl + 128, SC_FILL, 1);
	b[0] = sc_buf(r.ctl_gpa, sizeof(tmf), false);
	b[1] = sc_buf(r.ctl_gpa + 128, 1, true);
	vfe_add_chain(r.cq, 0, b, 2);
	vfe_publish(r.cq);
	vfe_kick(r.cq);
	usleep(SC_SETTLE_MS * 1000);
	if (vfe_get_used(r.cq, &id, &len))
		return hv_fail(h, "ABORT TASK was answered within %u ms, before the READ it "
			       "aborts completed", SC_SETTLE_MS);
	return hv_did(h, "disconnected while ABORT TASK waited for a READ in flight");
}

/* ---- target removal ------------------------------------------------------------------------ */

static int
rpc_ok(struct hv *h, int fd, const char *what, const char *result)
{
	char buf[4096];

	if (sc_rpc_recv(h, fd, buf, sizeof(buf), 2 * HV_TIMEOUT_MS) < 0)
		return -1;
	if (strstr(buf, "\"error\"") != NULL || strstr(buf, result) == NULL)
		return hv_fail(h, "%s answered %s", what, buf);
	return 0;
}

/* The next event must be TRANSPORT_RESET with reason for target t. */
static int
expect_event(struct sc_ring *r, uint32_t reason, uint8_t t, const char *what)
{
	struct virtio_scsi_event ev;
	uint32_t len;

	if (sc_event(r, HV_TIMEOUT_MS, &ev, &len) < 0)
		return hv_fail(r->h, "no event after %s", what);
	if (len != sizeof(ev) || le32toh(ev.event) != VIRTIO_SCSI_T_TRANSPORT_RESET ||
	    le32toh(ev.reason) != reason || ev.lun[0] != 1 || ev.lun[1] != t ||
	    !sc_all(&ev.lun[2], 6, 0))
		return hv_fail(r->h, "after %s: event 0x%x reason %u LUN %02x %02x %02x, used len "
			       "%u (expected TRANSPORT_RESET reason %u for target %u)", what,
			       le32toh(ev.event), le32toh(ev.reason), ev.lun[0], ev.lun[1],
			       ev.lun[2], len, reason, t);
	return 0;
}

/*
 * Remove target 1 (RPC) while a READ on it is in flight: new commands,
 * TMFs and AN queries for it get BAD_TARGET at once, the READ completes
 * normally, then the RPC is answered and REMOVED posted; a well-formed
 * LUN of the removed target stays BAD_TARGET; re-adding posts RESCAN and
 * the target serves again.
 */
static int
s_remove_inflight(struct hv *h)
{
	struct virtio_scsi_ctrl_an_req an = {.type = htole32(VIRTIO_SCSI_T_AN_QUERY)};
	struct sc_ring r;
	struct sc_req *t = &r.req[2];
	uint8_t lun[8], cdb[SC_CDB], resp;
	struct vfe_buf b[2];
	bool read_back = false, removed = false;
	uint64_t deadline;
	uint32_t len, read_len = 0;
	uint16_t id;
	int fd, tries = 0;

	fd = sc_rpc_connect(h);
	if (fd < 0)
		return -1;
	if (start_slow_read(h, &r) < 0)
		goto fail;
	if (sc_rpc_send(h, fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
			"\"vhost_scsi_controller_remove_target\",\"params\":{\"ctrlr\":\"%s\","
			"\"scsi_target_num\":%d}}", h->ctrlr, SC_SLOW_TARGET) < 0)
		goto fail;
	/* TEST UNIT READY until the removal shows (GOOD before it, BAD_TARGET after). */
	sc_lun(lun, SC_SLOW_TARGET, 0);
	sc_cdb_tur(cdb);
	deadline = hv_now_ms() + HV_TIMEOUT_MS;
	while (!removed && hv_now_ms() < deadline) {
		bool tur_back = false;

		sc_prepare(&r, t, lun, cdb, 0);
		sc_submit(r.rq, t, b, sc_layout(t, b, 0, 0));
		tries++;
		while (!tur_back) {
			if (!sc_wait_used(r.rq, &id, &len, HV_TIMEOUT_MS)) {
				hv_fail(h, "a TEST UNIT READY during the removal never completed");
				goto fail;
			}
			if (id == r.req[1].head) {
				read_back = true;
				read_len = len;
				continue;
			}
			if (id != t->head) {
				hv_fail(h, "unexpected used id %u during the removal", id);
				goto fail;
			}
			tur_back = true;
		}
		if (len == SC_RESP_LEN && t->resp->response == VIRTIO_SCSI_S_BAD_TARGET)
			removed = true;
		else if (len != SC_RESP_LEN || t->resp->response != VIRTIO_SCSI_S_OK ||
			 t->resp->status != SC_GOOD) {
			hv_fail(h, "TEST UNIT READY during the removal: used len %u response %u "
				"status 0x%02x", len, t->resp->response, t->resp->status);
			goto fail;
		} else {
			usleep(10 * 1000);
		}
	}
	if (!removed) {
		hv_fail(h, "target 1 still answered GOOD %u ms after remove_target", HV_TIMEOUT_MS);
		goto fail;
	}
	if (read_back) {
		hv_fail(h, "the READ in flight completed before the removal took effect (after %d "
			"TEST UNIT READY)", tries);
		goto fail;
	}
	/* While the READ is still in flight: control requests for the target. */
	if (sc_tmf(&r, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, lun, 0, &resp) < 0)
		goto fail;
	if (resp != VIRTIO_SCSI_S_BAD_TARGET) {
		hv_fail(h, "LUN RESET to the target being removed answered %u (expected 3)", resp);
		goto fail;
	}
	memcpy(an.lun, lun, 8);
	memcpy(r.ctl, &an, sizeof(an));
	if (sc_ctrl(&r, sizeof(an), 5, &len) < 0)
		goto fail;
	if (len != 5 || r.ctl[128 + 4] != VIRTIO_SCSI_S_BAD_TARGET) {
		hv_fail(h, "AN_QUERY to the target being removed: used len %u response %u", len,
			r.ctl[128 + 4]);
		goto fail;
	}
	if (!read_back) {
		if (!sc_wait_used(r.rq, &id, &read_len, 3 * HV_TIMEOUT_MS) || id != r.req[1].head) {
			hv_fail(h, "the READ in flight during the removal never completed");
			goto fail;
		}
	}
	if (read_len != SC_RESP_LEN + 4096 || r.req[1].resp->response != VIRTIO_SCSI_S_OK ||
	    r.req[1].resp->status != SC_GOOD || r.req[1].resp->resid != 0) {
		hv_fail(h, "the READ in flight during the removal came back with used len %u "
			"response %u status 0x%02x (expected a normal completion)", read_len,
			r.req[1].resp->response, r.req[1].resp->status);
		goto fail;
	}
	if (rpc_ok(h, fd, "vhost_scsi_controller_remove_target", "\"result\"") < 0 ||
	    expect_event(&r, VIRTIO_SCSI_EVT_RESET_REMOVED, SC_SLOW_TARGET, "the removal") < 0)
		goto fail;
	{
		struct sc_want w = sc_want_resp(SC_RESP_LEN, VIRTIO_SCSI_S_BAD_TARGET, 0);

		if (sc_exec(&r, lun, cdb, 0, 0, &w, "TEST UNIT READY to the removed target") < 0)
			goto fail;
	}
	if (sc_rpc_send(h, fd, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":"
			"\"vhost_scsi_controller_add_target\",\"params\":{\"ctrlr\":\"%s\","
			"\"scsi_target_num\":%d,\"bdev_name\":\"%s\"}}", h->ctrlr, SC_SLOW_TARGET,
			h->bdev) < 0 ||
	    rpc_ok(h, fd, "vhost_scsi_controller_add_target", "\"result\"") < 0 ||
	    expect_event(&r, VIRTIO_SCSI_EVT_RESET_RESCAN, SC_SLOW_TARGET, "the re-add") < 0 ||
	    sc_ready(&r, SC_SLOW_TARGET) < 0 || sc_serves(&r) < 0)
		goto fail;
	close(fd);
	return hv_did(h, "during remove_target with a READ in flight: TEST UNIT READY, LUN RESET "
		      "and AN_QUERY got BAD_TARGET at once, the READ completed GOOD, then the RPC "
		      "answered and REMOVED was posted; the removed target stayed BAD_TARGET; "
		      "re-added: RESCAN posted, served again");
fail:
	close(fd);
	return -1;
}

/* ---- the table ---------------------------------------------------------------------------- */

const struct hv_scenario hv_scsi_ctl_scenarios[] = {
	HV_SCENARIO("scsi-ctrl-malformed",
	            "queue 0: ring broken (control request of an unknown type)",
	            s_ctrl_malformed),
	HV_SCENARIO("scsi-tmf-subtype", NULL, s_tmf_subtype),
	HV_SCENARIO("scsi-tmf-bad-lun", NULL, s_tmf_bad_lun),
	HV_SCENARIO("scsi-an", NULL, s_an),
	HV_SCENARIO("scsi-wrong-queue",
	            "queue 2: ring broken (request without room for the response header)",
	            s_wrong_queue),
	HV_SCENARIO("scsi-qidx-beyond", "SET_VRING_KICK: queue index 64 out of range",
	            s_qidx_beyond),
	HV_SCENARIO("scsi-set-config-cdb", "SET_CONFIG offset 24 len 4 refused", s_set_config_cdb),
	HV_SCENARIO("scsi-evq-buffers", NULL, s_evq_buffers),
	HV_SCENARIO("scsi-evq-unusable", "queue 1: ring broken (malformed event buffer chain)",
	            s_evq_unusable),
	HV_SCENARIO("scsi-ctrl-bad-chain",
	            "queue 0: ring broken (malformed chain on the control queue)",
	            s_ctrl_bad_chain),
	HV_SCENARIO("scsi-head-twice",
	            "queue 2: ring broken (head offered while already in flight)", s_head_twice),
	HV_SCENARIO("scsi-head-out-of-range", "queue 2: ring broken (head index out of range)",
	            s_head_out_of_range),
	HV_SCENARIO("scsi-evq-head-out-of-range", "queue 1: ring broken (head index out of range)",
	            s_evq_head_out_of_range),
	HV_SCENARIO("scsi-tmf-abort-inflight", "ABORT TASK on target 1 LUN 0: response 0, 1 task",
	            s_tmf_abort_inflight),
	HV_SCENARIO("scsi-tmf-lun-reset-inflight",
	            "LOGICAL UNIT RESET on target 1 LUN 0: response 0, 1 task",
	            s_tmf_lun_reset_inflight),
	HV_SCENARIO("scsi-get-base-inflight", NULL, s_get_base_inflight),
	HV_SCENARIO("scsi-close-inflight", NULL, s_close_inflight),
	HV_SCENARIO("scsi-close-mid-tmf", NULL, s_close_mid_tmf),
	HV_SCENARIO("scsi-remove-inflight", "removing SCSI target 1", s_remove_inflight),
};
const size_t hv_scsi_ctl_count =
	sizeof(hv_scsi_ctl_scenarios) / sizeof(hv_scsi_ctl_scenarios[0]);
