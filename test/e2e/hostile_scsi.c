/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hostile virtio-scsi commands on a request queue of a vhost-scsi
 * controller (target 0 on a malloc bdev, target 1 on a slow delay bdev; see
 * hostile_scsi.h): bad LUN addresses, short and oddly framed request
 * headers and response areas, CDBs the layer must refuse, data buffers in
 * the wrong direction or of the wrong size, chains the ring rejects. The
 * control and event queues, broken rings, commands in flight and target
 * removal are in hostile_scsi_ctl.c.
 *
 * Every scenario checks the bytes the device wrote (used length, response,
 * SCSI status, sense key / ASC / ASCQ, residual, data buffers it must not
 * have touched, the blocks on the disk) and then that the queue still
 * serves. What is right, and so what is asserted:
 *  - virtio 1.x, virtio-scsi: a LUN field the device cannot route (byte 0
 *    not 1, a target that does not exist, bytes 2-7 not a single-level
 *    LUN) is VIRTIO_SCSI_S_BAD_TARGET, with resid = all data bytes and
 *    nothing moved; a request without a full header or with data in both
 *    directions (INOUT not offered) is VIRTIO_SCSI_S_FAILURE; a CDB that
 *    needs more data than the buffers of its direction hold is
 *    VIRTIO_SCSI_S_OVERRUN (a READ with device-readable buffers only moves
 *    nothing and is an overrun); resid is data length minus bytes moved;
 *    the device must not assume any framing of the request (a header,
 *    response or data area split over any number of descriptors works);
 *  - SPC-4 / SAM-5, for a well-formed LUN of a present target that has no
 *    such logical unit (what QEMU's own virtio-scsi answers too): INQUIRY
 *    answers peripheral qualifier 011b, REPORT LUNS lists LUN 0, REQUEST
 *    SENSE returns LOGICAL UNIT NOT SUPPORTED, anything else is CHECK
 *    CONDITION, ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED (25h/00h); a
 *    WRITE whose data-out is shorter than its CDB (or absent:
 *    device-writable buffers) is CHECK CONDITION, INVALID FIELD IN CDB,
 *    nothing written; a READ into a larger buffer is GOOD with the rest as
 *    residual.
 * A response area under 108 bytes holds what of a VIRTIO_SCSI_S_FAILURE
 * response fits when it reaches the response byte (12 bytes), the command
 * never run; shorter, it cannot be answered and stops the queue
 * (NEEDS_RESET), never comes back empty. Chains the ring rejects (a descriptor outside
 * guest memory, readable after writable) come back with
 * VIRTIO_SCSI_S_FAILURE in their first writable descriptor, never with
 * data; when that descriptor cannot hold the response header they stop
 * the queue (NEEDS_RESET), never come back empty.
 *
 * Threading: single-threaded.
 */
#include "hostile_scsi.h"

#include <endian.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LBA_WRONG_WAY 4096u
#define LBA_RESID 4352u

/* ---- expectations ------------------------------------------------------------------------- */

static uint64_t
seed_now(void)
{
	return (uint64_t)getpid() * 0x9E3779B97F4A7C15ull ^ hv_now_ms();
}

/*
 * A chain the ring rejects, with an intact response area (108 bytes): back
 * with VIRTIO_SCSI_S_FAILURE there, used length 108, no data moved
 * (data-in still `fill`). Never empty: the driver would read a stale
 * response.
 */
static int
expect_rejected(struct sc_ring *r, struct sc_req *q, uint32_t len, uint8_t fill,
		const char *what)
{
	if (len == SC_RESP_LEN && q->resp->response == VIRTIO_SCSI_S_FAILURE &&
	    sc_all(q->data, 4096, fill))
		return 0;
	return hv_fail(r->h, "%s came back with used len %u response %u (expected FAILURE, "
		       "no data)", what, len, q->resp->response);
}

/* ---- LUN addressing ------------------------------------------------------------------------ */

/* INQUIRY at lun: BAD_TARGET, resid 96, used 108, data-in untouched. */
static int
bad_target(struct sc_ring *r, const uint8_t lun[8], const char *what)
{
	uint8_t cdb[SC_CDB];
	struct sc_want w = sc_want_resp(SC_RESP_LEN, VIRTIO_SCSI_S_BAD_TARGET, 96);

	sc_cdb_inquiry(cdb, 96);
	if (sc_exec(r, lun, cdb, 0, 96, &w, what) < 0)
		return -1;
	if (!sc_all(r->req[0].data, 96, 0xaa))
		return hv_fail(r->h, "%s: the data-in buffer was written", what);
	return 0;
}

static int
s_lun_bad_byte0(struct hv *h)
{
	struct sc_ring r;
	uint8_t lun[8];

	if (sc_start(h, &r, 1) < 0)
		return -1;
	sc_lun(lun, 0, 0);
	lun[0] = 2;
	if (bad_target(&r, lun, "INQUIRY with LUN byte 0 = 2") < 0)
		return -1;
	lun[0] = 0;
	if (bad_target(&r, lun, "INQUIRY with LUN byte 0 = 0") < 0)
		return -1;
	lun[0] = 0xc1;
	if (bad_target(&r, lun, "INQUIRY with LUN byte 0 = 0xc1") < 0 || sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "answered BAD_TARGET (resid 96, data untouched) for LUN byte 0 = 2, 0, "
		      "0xc1 and served the next request");
}

static int
s_lun_target_beyond(struct hv *h)
{
	struct sc_ring r;
	uint8_t lun[8];

	if (sc_start(h, &r, 1) < 0)
		return -1;
	sc_lun(lun, (uint8_t)(h->scsi_cfg.max_target + 1), 0);
	if (bad_target(&r, lun, "INQUIRY to target max_target + 1") < 0)
		return -1;
	sc_lun(lun, 255, 0);
	if (bad_target(&r, lun, "INQUIRY to target 255") < 0 || sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "answered BAD_TARGET for targets %u (max_target + 1) and 255",
		      h->scsi_cfg.max_target + 1);
}

static int
s_lun_target_absent(struct hv *h)
{
	struct sc_ring r;
	uint8_t lun[8];

	if (sc_start(h, &r, 1) < 0)
		return -1;
	sc_lun(lun, SC_TARGETS, 0);
	if (bad_target(&r, lun, "INQUIRY to a target slot without device") < 0)
		return -1;
	sc_lun(lun, (uint8_t)h->scsi_cfg.max_target, 0);
	if (bad_target(&r, lun, "INQUIRY to target max_target (no device)") < 0 ||
	    sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "answered BAD_TARGET for targets %u and %u (no device)", SC_TARGETS,
		      h->scsi_cfg.max_target);
}

/* LUN 1 of target 0 (and LUN 255, peripheral addressing): no such logical unit. */
static int
s_lun_absent(struct hv *h)
{
	struct sc_ring r;
	struct sc_req *q = &r.req[0];
	uint8_t lun[8], cdb[SC_CDB];
	struct sc_want w;

	if (sc_start(h, &r, 1) < 0)
		return -1;
	sc_lun(lun, 0, 1);
	sc_cdb_inquiry(cdb, 96);
	w = sc_want_resp(SC_RESP_LEN + 96, VIRTIO_SCSI_S_OK, 0);
	if (sc_exec(&r, lun, cdb, 0, 96, &w, "INQUIRY to LUN 1") < 0)
		return -1;
	if (q->data[0] != 0x7f)
		return hv_fail(h, "INQUIRY to LUN 1: peripheral byte 0x%02x (expected 0x7f: "
			       "qualifier 011b, no device)", q->data[0]);
	sc_cdb_report_luns(cdb, 64);
	w = sc_want_resp(SC_RESP_LEN + 16, VIRTIO_SCSI_S_OK, 48);
	if (sc_exec(&r, lun, cdb, 0, 64, &w, "REPORT LUNS to LUN 1") < 0)
		return -1;
	if (q->data[3] != 8 || q->data[0] || q->data[1] || q->data[2] || !sc_all(&q->data[8], 8, 0))
		return hv_fail(h, "REPORT LUNS to LUN 1 did not list exactly LUN 0");
	sc_cdb_request_sense(cdb, 18);
	w = sc_want_resp(SC_RESP_LEN + 18, VIRTIO_SCSI_S_OK, 0);
	if (sc_exec(&r, lun, cdb, 0, 18, &w, "REQUEST SENSE to LUN 1") < 0)
		return -1;
	if ((q->data[2] & 0xf) != SC_KEY_ILLEGAL_REQUEST || q->data[12] != 0x25 ||
	    q->data[13] != 0)
		return hv_fail(h, "REQUEST SENSE to LUN 1 returned sense %02x/%02x/%02x (expected "
			       "05/25/00)", q->data[2] & 0xf, q->data[12], q->data[13]);
	sc_cdb_tur(cdb);
	w = sc_want_check(SC_RESP_LEN, 0, SC_KEY_ILLEGAL_REQUEST, 0x25, 0);
	if (sc_exec(&r, lun, cdb, 0, 0, &w, "TEST UNIT READY to LUN 1") < 0)
		return -1;
	sc_cdb_rw10(cdb, 0x28, 0, 1);
	w = sc_want_check(SC_RESP_LEN, 512, SC_KEY_ILLEGAL_REQUEST, 0x25, 0);
	if (sc_exec(&r, lun, cdb, 0, 512, &w, "READ(10) from LUN 1") < 0)
		return -1;
	if (!sc_all(q->data, 512, 0xaa))
		return hv_fail(h, "READ(10) from LUN 1 wrote into the data-in buffer");
	/* Peripheral device addressing, LUN 255. */
	sc_lun(lun, 0, 0);
	lun[2] = 0x00;
	lun[3] = 0xff;
	sc_cdb_tur(cdb);
	w = sc_want_check(SC_RESP_LEN, 0, SC_KEY_ILLEGAL_REQUEST, 0x25, 0);
	if (sc_exec(&r, lun, cdb, 0, 0, &w, "TEST UNIT READY to LUN 255 (peripheral)") < 0 ||
	    sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "LUN 1 of target 0: INQUIRY qualifier 011b, REPORT LUNS lists LUN 0, "
		      "REQUEST SENSE 05/25/00, TEST UNIT READY and READ CHECK CONDITION 05/25/00 "
		      "(nothing moved); LUN 255 likewise");
}

/* Flat-space LUNs beyond 255, up to the largest one (16383): well formed, absent. */
static int
s_lun_flat_large(struct hv *h)
{
	static const uint16_t luns[] = {256, 300, 0x3fff};
	struct sc_ring r;
	uint8_t lun[8], cdb[SC_CDB];
	char what[64];
	struct sc_want w;

	if (sc_start(h, &r, 1) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(luns) / sizeof(luns[0]); i++) {
		sc_lun(lun, 0, luns[i]);
		sc_cdb_tur(cdb);
		w = sc_want_check(SC_RESP_LEN, 0, SC_KEY_ILLEGAL_REQUEST, 0x25, 0);
		snprintf(what, sizeof(what), "TEST UNIT READY to LUN %u", luns[i]);
		if (sc_exec(&r, lun, cdb, 0, 0, &w, what) < 0)
			return -1;
		sc_cdb_inquiry(cdb, 96);
		w = sc_want_resp(SC_RESP_LEN + 96, VIRTIO_SCSI_S_OK, 0);
		snprintf(what, sizeof(what), "INQUIRY to LUN %u", luns[i]);
		if (sc_exec(&r, lun, cdb, 0, 96, &w, what) < 0)
			return -1;
		if (r.req[0].data[0] != 0x7f)
			return hv_fail(h, "%s: peripheral byte 0x%02x (expected 0x7f)", what,
				       r.req[0].data[0]);
	}
	if (sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "flat-space LUNs 256, 300 and 16383 of target 0: CHECK CONDITION "
		      "05/25/00, INQUIRY qualifier 011b");
}

/* LUN fields of target 0 that are not a single-level SAM LUN. */
static int
s_lun_malformed(struct hv *h)
{
	static const struct {
		uint8_t b[6];
		const char *what;
	} cases[] = {
		{{0x80, 0x00, 0, 0, 0, 0}, "address method 10b (logical unit)"},
		{{0xc0, 0x00, 0, 0, 0, 0}, "address method 11b (extended)"},
		{{0x01, 0x00, 0, 0, 0, 0}, "peripheral addressing with bus 1"},
		{{0x40, 0x00, 0x40, 0x01, 0, 0}, "a second level"},
		{{0x40, 0x00, 0, 0, 0, 0x01}, "garbage in byte 7"},
		{{0x40, 0x00, 0xff, 0xff, 0xff, 0xff}, "bytes 4-7 all ones"},
	};
	struct sc_ring r;
	uint8_t lun[8];
	char what[96];

	if (sc_start(h, &r, 1) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		lun[0] = 1;
		lun[1] = 0;
		memcpy(&lun[2], cases[i].b, 6);
		snprintf(what, sizeof(what), "INQUIRY with %s", cases[i].what);
		if (bad_target(&r, lun, what) < 0)
			return -1;
	}
	if (sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "answered BAD_TARGET for %zu malformed LUN fields of target 0",
		      sizeof(cases) / sizeof(cases[0]));
}

/* ---- request headers and response areas ----------------------------------------------------- */

static int
s_hdr_short(struct hv *h)
{
	static const uint32_t lens[] = {SC_REQ_LEN - 1, 40, 19, 8, 1};
	struct sc_ring r;
	struct sc_req *q = &r.req[0];
	uint8_t lun[8], cdb[SC_CDB];
	struct sc_want w = sc_want_resp(SC_RESP_LEN, VIRTIO_SCSI_S_FAILURE, 96);
	struct vfe_buf b[3];
	char what[96];
	uint32_t len;

	if (sc_start(h, &r, 1) < 0)
		return -1;
	sc_lun(lun, 0, 0);
	sc_cdb_inquiry(cdb, 96);
	for (size_t i = 0; i <= sizeof(lens) / sizeof(lens[0]); i++) {
		int n = 0;

		sc_prepare(&r, q, lun, cdb, 0xaa);
		if (i < sizeof(lens) / sizeof(lens[0])) {
			b[n++] = sc_buf(q->cmd_gpa, lens[i], false);
			snprintf(what, sizeof(what), "INQUIRY with a %u-byte header", lens[i]);
		} else {
			snprintf(what, sizeof(what), "INQUIRY without a header (writable only)");
		}
		b[n++] = sc_buf(q->resp_gpa, SC_RESP_LEN, true);
		b[n++] = sc_buf(q->data_gpa, 96, true);
		sc_submit(r.rq, q, b, n);
		if (sc_wait_req(&r, q, &len, what) < 0 || sc_check(&r, q, len, &w, what) < 0)
			return -1;
		if (!sc_all(q->data, 96, 0xaa))
			return hv_fail(h, "%s: data-in written", what);
	}
	if (sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "answered FAILURE (resid 96, nothing moved) for headers of 50, 40 "
		      "(cut in the CDB), 19, 8, 1 and 0 bytes");
}

/* A header, response and data-in split over many descriptors (any framing is valid). */
static int
s_framing(struct hv *h)
{
	struct sc_ring r;
	struct sc_req *q = &r.req[0];
	uint8_t lun[8], cdb[SC_CDB];
	struct sc_want w = sc_want_resp(SC_RESP_LEN + 96, VIRTIO_SCSI_S_OK, 0);
	const struct virtio_scsi_cmd_resp *p;
	struct vfe_buf b[12];
	uint32_t len;
	int n = 0;

	if (sc_start(h, &r, 1) < 0 || sc_ready(&r, 0) < 0)
		return -1;
	sc_lun(lun, 0, 0);
	sc_cdb_inquiry(cdb, 96);
	/* Header 7 + 30 + 14, response 20 x 5 + 8, data-in 48 + 48. */
	sc_prepare(&r, q, lun, cdb, 0xaa);
	b[n++] = sc_buf(q->cmd_gpa, 7, false);
	b[n++] = sc_buf(q->cmd_gpa + 7, 30, false);
	b[n++] = sc_buf(q->cmd_gpa + 37, 14, false);
	for (uint32_t off = 0; off < 100; off += 20)
		b[n++] = sc_buf(q->resp_gpa + off, 20, true);
	b[n++] = sc_buf(q->resp_gpa + 100, 8, true);
	b[n++] = sc_buf(q->data_gpa, 48, true);
	b[n++] = sc_buf(q->data_gpa + 48, 48, true);
	sc_submit(r.rq, q, b, n);
	if (sc_wait_req(&r, q, &len, "INQUIRY in 11 pieces") < 0 ||
	    sc_check(&r, q, len, &w, "INQUIRY in 11 pieces") < 0)
		return -1;
	if (q->data[0] != 0 || memcmp(&q->data[8], "SPUR    ", 8) != 0)
		return hv_fail(h, "INQUIRY in 11 pieces: wrong data (peripheral 0x%02x)",
			       q->data[0]);
	/*
	 * Response and data-in contiguous in data2, cut at 100, 130: one
	 * descriptor holds the end of the response and the start of the data.
	 */
	sc_prepare(&r, q, lun, cdb, 0xaa);
	n = 0;
	b[n++] = sc_buf(q->cmd_gpa, SC_REQ_LEN, false);
	b[n++] = sc_buf(q->data2_gpa, 100, true);
	b[n++] = sc_buf(q->data2_gpa + 100, 30, true);
	b[n++] = sc_buf(q->data2_gpa + 130, SC_RESP_LEN + 96 - 130, true);
	sc_submit(r.rq, q, b, n);
	if (sc_wait_req(&r, q, &len, "INQUIRY with response and data sharing a descriptor") < 0)
		return -1;
	p = (const struct virtio_scsi_cmd_resp *)q->data2;
	if (len != SC_RESP_LEN + 96 || p->response != VIRTIO_SCSI_S_OK || p->status != SC_GOOD ||
	    p->resid != 0 || p->sense_len != 0 || q->data2[SC_RESP_LEN] != 0 ||
	    memcmp(&q->data2[SC_RESP_LEN + 8], "SPUR    ", 8) != 0)
		return hv_fail(h, "INQUIRY with response and data sharing a descriptor: used "
			       "len %u response %u status 0x%02x resid %u, data '%.8s'", len,
			       p->response, p->status, le32toh(p->resid),
			       (const char *)&q->data2[SC_RESP_LEN + 8]);
	if (sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "answered INQUIRY with the header in 3 pieces, the response in 6 and the "
		      "data in 2, and with response and data sharing a descriptor");
}

/*
 * Writable parts too small for the 108-byte response: FAILURE in the bytes
 * there are while they reach the response byte; else the queue stops.
 */
static int
s_resp_short(struct hv *h)
{
	/* Writable bytes; the first three are answered. */
	static const uint32_t lens[] = {SC_RESP_LEN - 1, 100, 12, 11, 0};
	const size_t resp_off = offsetof(struct virtio_scsi_cmd_resp, response);
	struct sc_ring r;
	struct sc_req *q = &r.req[1]; /* req[0]: sc_serves's */
	uint8_t lun[8], cdb[SC_CDB];
	struct vfe_buf b[2];
	char what[96];
	uint32_t len;

	if (sc_start(h, &r, 1) < 0)
		return -1;
	sc_lun(lun, 0, 0);
	sc_cdb_tur(cdb);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint32_t n = lens[i];
		bool answer = n >= resp_off + 1;
		const uint8_t *resp = (const uint8_t *)q->resp;
		int nb = 0;

		sc_prepare(&r, q, lun, cdb, 0xaa);
		b[nb++] = sc_buf(q->cmd_gpa, SC_REQ_LEN, false);
		if (n > 0)
			b[nb++] = sc_buf(q->resp_gpa, n, true);
		snprintf(what, sizeof(what), "TEST UNIT READY with a %u-byte response area", n);
		sc_submit(r.rq, q, b, nb);
		if (!answer) {
			if (sc_expect_broken(&r, 0) < 0)
				return -1;
			if (!sc_resp_untouched(q))
				return hv_fail(h, "%s: the device wrote into it", what);
			continue;
		}
		if (sc_wait_req(&r, q, &len, what) < 0)
			return -1;
		if (len != n || resp[resp_off] != VIRTIO_SCSI_S_FAILURE ||
		    !sc_all(resp, (uint32_t)resp_off, 0) || !sc_all(resp + resp_off + 1,
								 n - (uint32_t)resp_off - 1, 0) ||
		    !sc_all(resp + n, 128 - n, SC_FILL))
			return hv_fail(h, "%s came back with used len %u, response %u (expected "
				       "len %u, FAILURE, zeroes up to %u, nothing after)", what, len,
				       resp[resp_off], n, n);
	}
	if (sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "answered commands with 107, 100 and 12 writable bytes FAILURE in those "
		      "bytes; 11 and 0 writable bytes stopped the queue (NEEDS_RESET), nothing "
		      "written");
}

/* ---- CDBs --------------------------------------------------------------------------------- */

static int
s_cdb_invalid(struct hv *h)
{
	struct sc_ring r;
	struct sc_req *q = &r.req[0];
	uint8_t lun[8], cdb[SC_CDB];
	struct sc_want w;

	if (sc_start(h, &r, 1) < 0 || sc_ready(&r, 0) < 0)
		return -1;
	sc_lun(lun, 0, 0);
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0xff;
	w = sc_want_check(SC_RESP_LEN, 0, SC_KEY_ILLEGAL_REQUEST, 0x20, 0);
	if (sc_exec(&r, lun, cdb, 0, 0, &w, "opcode 0xff") < 0)
		return -1;
	cdb[0] = 0x7f; /* variable-length CDB: not supported; nothing moves */
	cdb[7] = 24;
	w.resid = 512;
	if (sc_exec(&r, lun, cdb, 0, 512, &w, "variable-length CDB (0x7f)") < 0)
		return -1;
	if (!sc_all(q->data, 512, 0xaa))
		return hv_fail(h, "variable-length CDB: the data-in buffer was written");
	/* READ(16) far beyond the capacity. */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x88;
	memset(&cdb[2], 0xff, 6);
	cdb[13] = 8;
	w = sc_want_check(SC_RESP_LEN, 4096, SC_KEY_ILLEGAL_REQUEST, 0x21, 0);
	if (sc_exec(&r, lun, cdb, 0, 4096, &w, "READ(16) beyond the capacity") < 0)
		return -1;
	if (!sc_all(q->data, 4096, 0xaa))
		return hv_fail(h, "READ(16) beyond the capacity wrote into the data-in buffer");
	/* READ(10) with RDPROTECT (no protection information). */
	sc_cdb_rw10(cdb, 0x28, 0, 1);
	cdb[1] = 0xe0;
	w = sc_want_check(SC_RESP_LEN, 512, SC_KEY_ILLEGAL_REQUEST, 0x24, 0);
	if (sc_exec(&r, lun, cdb, 0, 512, &w, "READ(10) with RDPROTECT 7") < 0)
		return -1;
	/* Bytes past a 6-byte CDB are not part of it. */
	sc_cdb_tur(cdb);
	memset(&cdb[6], 0x5a, SC_CDB - 6);
	w = sc_want_resp(SC_RESP_LEN, VIRTIO_SCSI_S_OK, 0);
	if (sc_exec(&r, lun, cdb, 0, 0, &w, "TEST UNIT READY with garbage after byte 6") < 0 ||
	    sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "opcode 0xff and 0x7f: CHECK CONDITION 05/20/00; READ(16) beyond the "
		      "end: 05/21/00 resid 4096; RDPROTECT: 05/24/00; garbage after a 6-byte CDB "
		      "ignored (GOOD)");
}

/* ---- data buffers ---------------------------------------------------------------------------- */

/* WRITE(10) whose data buffer is device-writable: nothing may be written to the disk. */
static int
s_write_writable_buf(struct hv *h)
{
	struct sc_ring r;
	uint8_t lun[8], cdb[SC_CDB];
	uint64_t seed = seed_now();
	struct sc_want w = sc_want_check(SC_RESP_LEN, 4096, SC_KEY_ILLEGAL_REQUEST, 0x24, 0);

	if (sc_start(h, &r, 1) < 0 || sc_ready(&r, 0) < 0 ||
	    sc_write_pattern(&r, 0, LBA_WRONG_WAY, 8, seed) < 0)
		return -1;
	sc_lun(lun, 0, 0);
	sc_cdb_rw10(cdb, 0x2a, LBA_WRONG_WAY, 8);
	if (sc_exec(&r, lun, cdb, 0, 4096, &w, "WRITE(10) with a device-writable buffer") < 0)
		return -1;
	if (!sc_all(r.req[0].data, 4096, 0xaa))
		return hv_fail(h, "WRITE(10) with a device-writable buffer: the device wrote into "
			       "the buffer");
	if (sc_check_pattern(&r, 0, LBA_WRONG_WAY, 8, seed, "after WRITE(10) with a "
			     "device-writable buffer") < 0 || sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "WRITE(10) with its data device-writable: CHECK CONDITION 05/24/00, "
		      "resid 4096, buffer and disk untouched");
}

/* READ(10) whose data buffer is device-readable: nothing may be read into it. */
static int
s_read_readable_buf(struct hv *h)
{
	struct sc_ring r;
	uint8_t lun[8], cdb[SC_CDB];
	uint64_t seed = seed_now();
	struct sc_want w = sc_want_resp(SC_RESP_LEN, VIRTIO_SCSI_S_OVERRUN, 4096);

	if (sc_start(h, &r, 1) < 0 || sc_ready(&r, 0) < 0 ||
	    sc_write_pattern(&r, 0, LBA_WRONG_WAY, 8, seed) < 0)
		return -1;
	sc_lun(lun, 0, 0);
	sc_cdb_rw10(cdb, 0x28, LBA_WRONG_WAY, 8);
	if (sc_exec(&r, lun, cdb, 4096, 0, &w, "READ(10) with a device-readable buffer") < 0)
		return -1;
	if (!sc_all(r.req[0].data, 4096, 0xaa))
		return hv_fail(h, "READ(10) with a device-readable buffer: the device wrote into "
			       "the buffer");
	sc_cdb_inquiry(cdb, 96);
	w = sc_want_resp(SC_RESP_LEN, VIRTIO_SCSI_S_OVERRUN, 96);
	if (sc_exec(&r, lun, cdb, 96, 0, &w, "INQUIRY with a device-readable buffer") < 0)
		return -1;
	if (!sc_all(r.req[0].data, 96, 0xaa))
		return hv_fail(h, "INQUIRY with a device-readable buffer: the device wrote into "
			       "the buffer");
	if (sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "READ(10) and INQUIRY with their data device-readable: OVERRUN, resid "
		      "= the whole buffer, buffer untouched");
}

/* Data-out and data-in in one request (INOUT not negotiated). */
static int
s_data_both_ways(struct hv *h)
{
	struct sc_ring r;
	struct sc_req *q = &r.req[0];
	uint8_t lun[8], cdb[SC_CDB];
	struct sc_want w = sc_want_resp(SC_RESP_LEN, VIRTIO_SCSI_S_FAILURE, 1024);
	struct vfe_buf b[4];
	uint32_t len;

	if (sc_start(h, &r, 1) < 0)
		return -1;
	sc_lun(lun, 0, 0);
	sc_cdb_rw10(cdb, 0x28, 0, 1);
	sc_prepare(&r, q, lun, cdb, 0xaa);
	b[0] = sc_buf(q->cmd_gpa, SC_REQ_LEN, false);
	b[1] = sc_buf(q->data2_gpa, 512, false);
	b[2] = sc_buf(q->resp_gpa, SC_RESP_LEN, true);
	b[3] = sc_buf(q->data_gpa, 512, true);
	sc_submit(r.rq, q, b, 4);
	if (sc_wait_req(&r, q, &len, "READ(10) with data both ways") < 0 ||
	    sc_check(&r, q, len, &w, "READ(10) with data both ways") < 0)
		return -1;
	if (!sc_all(q->data, 512, 0xaa) || !sc_all(q->data2, 512, 0x55))
		return hv_fail(h, "READ(10) with data both ways: a data buffer changed");
	if (sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "answered FAILURE (resid 1024, buffers untouched) to a request with "
		      "data-out and data-in");
}

/*
 * A chain the ring rejects, in req 0: the command (READ(10) or WRITE(10)
 * of 8 blocks), a response area of resp_len writable bytes, then 4096
 * bytes of data that come after the writable part while readable, or lie
 * outside guest memory. A response area that holds the response header
 * gets FAILURE and no data moved; a shorter one stops the queue.
 */
struct bad_chain_case {
	uint8_t opcode;
	uint32_t resp_len;
	bool data_outside;    /* else readable data after the response */
	const char *what;
};

static int
s_bad_chain(struct hv *h)
{
	const struct bad_chain_case *c = h->arg;
	struct sc_ring r;
	struct sc_req *q = &r.req[0];
	uint8_t lun[8], cdb[SC_CDB];
	struct vfe_buf b[3];
	uint32_t len;

	if (sc_start(h, &r, 1) < 0)
		return -1;
	sc_lun(lun, 0, 0);
	sc_cdb_rw10(cdb, c->opcode, c->opcode == 0x2a ? LBA_WRONG_WAY : 0, 8);
	sc_prepare(&r, q, lun, cdb, 0xaa);
	b[0] = sc_buf(q->cmd_gpa, SC_REQ_LEN, false);
	b[1] = sc_buf(q->resp_gpa, c->resp_len, true);
	b[2] = c->data_outside ? sc_buf(HV_GPA_BASE + HV_MEM_SIZE, 4096, true)
			       : sc_buf(q->data_gpa, 4096, false);
	sc_submit(r.rq, q, b, 3);
	if (c->resp_len < offsetof(struct virtio_scsi_cmd_resp, sense)) {
		if (sc_expect_broken(&r, 0) < 0)
			return -1;
		return hv_did(h, "stopped the queue for %s (never returned empty)", c->what);
	}
	if (sc_wait_req(&r, q, &len, c->what) < 0 ||
	    expect_rejected(&r, q, len, 0xaa, c->what) < 0 || sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "rejected %s (used len %u, FAILURE, no data moved) and served the next "
		      "request", c->what, len);
}

/* Data-in buffers larger and smaller than READ(10) and INQUIRY imply. */
static int
s_read_residual(struct hv *h)
{
	struct sc_ring r;
	struct sc_req *q = &r.req[0];
	uint8_t lun[8], cdb[SC_CDB];
	static uint8_t pat[4096];
	uint64_t seed = seed_now();
	struct sc_want w;

	if (sc_start(h, &r, 1) < 0 || sc_ready(&r, 0) < 0 ||
	    sc_write_pattern(&r, 0, LBA_RESID, 8, seed) < 0)
		return -1;
	sc_pattern(pat, LBA_RESID, 8, seed);
	sc_lun(lun, 0, 0);
	sc_cdb_rw10(cdb, 0x28, LBA_RESID, 8);
	w = sc_want_resp(SC_RESP_LEN + 4096, VIRTIO_SCSI_S_OK, 4096);
	if (sc_exec(&r, lun, cdb, 0, 8192, &w, "READ(10) of 8 blocks into 8192 bytes") < 0)
		return -1;
	if (memcmp(q->data, pat, 4096) != 0 || !sc_all(q->data + 4096, 4096, 0xaa))
		return hv_fail(h, "READ(10) of 8 blocks into 8192 bytes: wrong data");
	w = sc_want_resp(SC_RESP_LEN + 2048, VIRTIO_SCSI_S_OVERRUN, 0);
	if (sc_exec(&r, lun, cdb, 0, 2048, &w, "READ(10) of 8 blocks into 2048 bytes") < 0)
		return -1;
	if (memcmp(q->data, pat, 2048) != 0 || !sc_all(q->data + 2048, 2048, 0xaa))
		return hv_fail(h, "READ(10) of 8 blocks into 2048 bytes: wrong data");
	w = sc_want_resp(SC_RESP_LEN + 512, VIRTIO_SCSI_S_OVERRUN, 1000 - 512);
	if (sc_exec(&r, lun, cdb, 0, 1000, &w, "READ(10) of 8 blocks into 1000 bytes") < 0)
		return -1;
	if (memcmp(q->data, pat, 512) != 0 || !sc_all(q->data + 512, 1000 - 512, 0xaa))
		return hv_fail(h, "READ(10) of 8 blocks into 1000 bytes: wrong data");
	w = sc_want_resp(SC_RESP_LEN, VIRTIO_SCSI_S_OVERRUN, 0);
	if (sc_exec(&r, lun, cdb, 0, 0, &w, "READ(10) of 8 blocks without a buffer") < 0)
		return -1;
	sc_cdb_rw10(cdb, 0x28, LBA_RESID, 0);
	w = sc_want_resp(SC_RESP_LEN, VIRTIO_SCSI_S_OK, 512);
	if (sc_exec(&r, lun, cdb, 0, 512, &w, "READ(10) of 0 blocks into 512 bytes") < 0)
		return -1;
	sc_cdb_inquiry(cdb, 36);
	w = sc_want_resp(SC_RESP_LEN + 36, VIRTIO_SCSI_S_OK, 60);
	if (sc_exec(&r, lun, cdb, 0, 96, &w, "INQUIRY of 36 bytes into 96") < 0)
		return -1;
	if (!sc_all(q->data + 36, 60, 0xaa))
		return hv_fail(h, "INQUIRY of 36 bytes into 96 wrote past byte 36");
	sc_cdb_inquiry(cdb, 96);
	w = sc_want_resp(SC_RESP_LEN + 36, VIRTIO_SCSI_S_OVERRUN, 0);
	if (sc_exec(&r, lun, cdb, 0, 36, &w, "INQUIRY of 96 bytes into 36") < 0 ||
	    sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "READ(10) 4 KiB into 8 KiB: OK resid 4096; into 2048 / 1000 bytes: "
		      "OVERRUN, the whole blocks that fit moved (resid 0 / 488); no buffer: "
		      "OVERRUN; 0 blocks: resid 512; INQUIRY 36 into 96: resid 60; 96 into 36: "
		      "OVERRUN");
}

/* Data-out buffers larger and smaller than WRITE(10) implies. */
static int
s_write_residual(struct hv *h)
{
	struct sc_ring r;
	struct sc_req *q = &r.req[0];
	uint8_t lun[8], cdb[SC_CDB];
	uint64_t seed = seed_now(), seed2 = seed ^ 0x123456789ull;
	struct vfe_buf b[4];
	struct sc_want w;
	uint32_t len;

	if (sc_start(h, &r, 1) < 0 || sc_ready(&r, 0) < 0 ||
	    sc_write_pattern(&r, 0, LBA_RESID, 16, seed) < 0)
		return -1;
	sc_lun(lun, 0, 0);
	/* 8 blocks with 8 KiB of data: the first 4 KiB are written. */
	sc_cdb_rw10(cdb, 0x2a, LBA_RESID, 8);
	sc_prepare(&r, q, lun, cdb, 0);
	sc_pattern(q->data, LBA_RESID, 16, seed2);
	sc_submit(r.rq, q, b, sc_layout(q, b, 8192, 0));
	w = sc_want_resp(SC_RESP_LEN, VIRTIO_SCSI_S_OK, 4096);
	if (sc_wait_req(&r, q, &len, "WRITE(10) of 8 blocks from 8192 bytes") < 0 ||
	    sc_check(&r, q, len, &w, "WRITE(10) of 8 blocks from 8192 bytes") < 0 ||
	    sc_check_pattern(&r, 0, LBA_RESID, 8, seed2, "WRITE(10) of 8 blocks from 8192 "
			     "bytes") < 0 ||
	    sc_check_pattern(&r, 0, LBA_RESID + 8, 8, seed, "WRITE(10) of 8 blocks from 8192 "
			     "bytes (the 8 blocks after)") < 0)
		return -1;
	/* 8 blocks with 2 KiB of data: refused, nothing written. */
	sc_prepare(&r, q, lun, cdb, 0);
	sc_pattern(q->data, LBA_RESID, 4, seed);
	memset(q->data, 0x77, 2048);
	sc_submit(r.rq, q, b, sc_layout(q, b, 2048, 0));
	w = sc_want_check(SC_RESP_LEN, 2048, SC_KEY_ILLEGAL_REQUEST, 0x24, 0);
	if (sc_wait_req(&r, q, &len, "WRITE(10) of 8 blocks from 2048 bytes") < 0 ||
	    sc_check(&r, q, len, &w, "WRITE(10) of 8 blocks from 2048 bytes") < 0 ||
	    sc_check_pattern(&r, 0, LBA_RESID, 8, seed2, "WRITE(10) of 8 blocks from 2048 "
			     "bytes") < 0)
		return -1;
	sc_cdb_rw10(cdb, 0x2a, LBA_RESID, 0);
	w = sc_want_resp(SC_RESP_LEN, VIRTIO_SCSI_S_OK, 512);
	if (sc_exec(&r, lun, cdb, 512, 0, &w, "WRITE(10) of 0 blocks from 512 bytes") < 0 ||
	    sc_check_pattern(&r, 0, LBA_RESID, 8, seed2, "WRITE(10) of 0 blocks") < 0 ||
	    sc_serves(&r) < 0)
		return -1;
	return hv_did(h, "WRITE(10) 4 KiB from 8 KiB: OK resid 4096, only 8 blocks written; "
		      "from 2 KiB: CHECK CONDITION 05/24/00 resid 2048, nothing written; 0 "
		      "blocks: resid 512");
}

/* ---- the table ---------------------------------------------------------------------------- */

/* A rejected chain: name, log, then the bad_chain_case. */
#define BAD_CHAIN(name, log, ...) \
	HV_SCENARIO_ARG(name, log, s_bad_chain, (&(const struct bad_chain_case){__VA_ARGS__}))

const struct hv_scenario hv_scsi_scenarios[] = {
	HV_SCENARIO("scsi-lun-bad-byte0", NULL, s_lun_bad_byte0),
	HV_SCENARIO("scsi-lun-target-beyond", NULL, s_lun_target_beyond),
	HV_SCENARIO("scsi-lun-target-absent", NULL, s_lun_target_absent),
	HV_SCENARIO("scsi-lun-absent", NULL, s_lun_absent),
	HV_SCENARIO("scsi-lun-flat-large", NULL, s_lun_flat_large),
	HV_SCENARIO("scsi-lun-malformed", NULL, s_lun_malformed),
	HV_SCENARIO("scsi-hdr-short", NULL, s_hdr_short),
	HV_SCENARIO("scsi-framing", NULL, s_framing),
	HV_SCENARIO("scsi-resp-short",
	            "queue 2: ring broken (request without room for the response header)",
	            s_resp_short),
	HV_SCENARIO("scsi-cdb-invalid", NULL, s_cdb_invalid),
	HV_SCENARIO("scsi-write-writable-buf", NULL, s_write_writable_buf),
	HV_SCENARIO("scsi-read-readable-buf", NULL, s_read_readable_buf),
	HV_SCENARIO("scsi-data-both-ways", NULL, s_data_both_ways),
	BAD_CHAIN("scsi-readable-after-writable", NULL, 0x2a, SC_RESP_LEN, false,
		  "WRITE(10) with its data after the response"),
	BAD_CHAIN("scsi-desc-outside", NULL, 0x28, SC_RESP_LEN, true,
		  "READ(10) into memory outside the guest"),
	BAD_CHAIN("scsi-bad-chain-no-room",
		  "queue 2: ring broken (malformed chain without room for the response header "
		  "in guest memory)",
		  0x2a, 8, false, "a malformed chain with an 8-byte response area"),
	HV_SCENARIO("scsi-read-residual", NULL, s_read_residual),
	HV_SCENARIO("scsi-write-residual", NULL, s_write_residual),
};
#undef BAD_CHAIN

const size_t hv_scsi_count = sizeof(hv_scsi_scenarios) / sizeof(hv_scsi_scenarios[0]);
