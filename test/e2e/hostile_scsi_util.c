/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The helpers of hostile_scsi.h: connecting to a vhost-scsi controller and
 * starting its queues, building virtio-scsi requests, checking the bytes
 * the device wrote (used length, response, status, residual, sense), the
 * control and event queues, a broken request queue, a JSON-RPC client for
 * spur's RPC socket, and the healthy mode for scsi (hv_scsi_healthy).
 *
 * Everything is written from the virtio 1.x specification (virtio-scsi
 * device) and SPC-4 / SBC-3, not from spur's code: the checks are what a
 * driver may rely on.
 *
 * Threading: single-threaded.
 */
#include "hostile_scsi.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/vhost_types.h>

/* ---- set-up ---------------------------------------------------------------------------- */

int
sc_alloc_req(struct hv *h, struct sc_req *q, uint16_t head)
{
	uint8_t *ctl = vfe_mem_alloc(&h->d, 256, 64, &q->cmd_gpa);

	q->data = vfe_mem_alloc(&h->d, SC_DATA, 4096, &q->data_gpa);
	q->data2 = vfe_mem_alloc(&h->d, SC_DATA, 4096, &q->data2_gpa);
	q->table = vfe_mem_alloc(&h->d, 16 * SC_TABLE, 16, &q->table_gpa);
	if (ctl == NULL || q->data == NULL || q->data2 == NULL || q->table == NULL)
		return hv_fail(h, "guest memory too small");
	q->cmd = (struct virtio_scsi_cmd_req *)ctl;
	q->resp = (struct virtio_scsi_cmd_resp *)(ctl + 128);
	q->resp_gpa = q->cmd_gpa + 128;
	q->head = head;
	return 0;
}

static void
post_event_buf(struct sc_ring *r, uint16_t i)
{
	struct vfe_buf b = sc_buf(r->ev_gpa[i], sizeof(struct virtio_scsi_event), true);

	memset(r->ev[i], 0xff, sizeof(*r->ev[i]));
	vfe_add_chain(r->eq, i, &b, 1);
}

int
sc_start(struct hv *h, struct sc_ring *r, int nrq)
{
	uint64_t v = SC_REQQ, st = HV_STATUS_DRIVER_READY;
	int rc;

	memset(r, 0, sizeof(*r));
	r->h = h;
	r->tag = SC_TAG0;
	h->scsi = true;
	if (hv_open(h, HV_PF_DEFAULT) < 0 || hv_features(h, SC_FEATURES) < 0 || hv_memory(h) < 0)
		return -1;
	if (h->scsi_cfg.cdb_size != SC_CDB || h->scsi_cfg.sense_size != 96 ||
	    h->scsi_cfg.max_target < SC_TARGETS - 1 || h->scsi_cfg.num_queues < (uint32_t)nrq)
		return hv_fail(h, "unexpected virtio-scsi config: cdb_size %u sense_size %u "
			       "max_target %u num_queues %u", h->scsi_cfg.cdb_size,
			       h->scsi_cfg.sense_size, h->scsi_cfg.max_target,
			       h->scsi_cfg.num_queues);
	for (uint16_t i = 0; i < 2 + nrq; i++) {
		rc = vfe_queue_setup(&h->d, i, i < SC_REQQ ? SC_SMALL_QSIZE : SC_QSIZE, false);
		if (rc < 0)
			return hv_fail(h, "queue %u set-up: %s (%s)", i, h->d.err, strerror(-rc));
	}
	r->cq = &h->d.queues[SC_CTRLQ];
	r->eq = &h->d.queues[SC_EVENTQ];
	r->rq = &h->d.queues[SC_REQQ];
	h->err_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->err_fd < 0)
		return hv_fail(h, "eventfd: %s", strerror(errno));
	if (hv_step(h, VFE_SET_VRING_ERR, &v, sizeof(v), &h->err_fd, 1) < 0)
		return -1;
	for (uint16_t k = 0; k < SC_NREQ; k++)
		if (sc_alloc_req(h, &r->req[k], (uint16_t)(8 * k)) < 0)
			return -1;
	r->ctl = vfe_mem_alloc(&h->d, 256, 64, &r->ctl_gpa);
	if (r->ctl == NULL)
		return hv_fail(h, "guest memory too small");
	for (uint16_t i = 0; i < SC_NEVBUF; i++) {
		r->ev[i] = vfe_mem_alloc(&h->d, 64, 64, &r->ev_gpa[i]);
		if (r->ev[i] == NULL)
			return hv_fail(h, "guest memory too small");
		post_event_buf(r, i);
	}
	vfe_publish(r->eq);
	vfe_kick(r->eq);
	return hv_step(h, VFE_SET_STATUS, &st, sizeof(st), NULL, 0);
}

/* ---- building requests ------------------------------------------------------------------ */

void
sc_lun(uint8_t lun[8], uint8_t target, uint16_t lun_id)
{
	memset(lun, 0, 8);
	lun[0] = 1;
	lun[1] = target;
	lun[2] = (uint8_t)(0x40 | ((lun_id >> 8) & 0x3f));
	lun[3] = (uint8_t)lun_id;
}

void
sc_cdb_tur(uint8_t *cdb)
{
	memset(cdb, 0, SC_CDB);
}

void
sc_cdb_inquiry(uint8_t *cdb, uint16_t alloc)
{
	memset(cdb, 0, SC_CDB);
	cdb[0] = 0x12;
	cdb[3] = (uint8_t)(alloc >> 8);
	cdb[4] = (uint8_t)alloc;
}

void
sc_cdb_rw10(uint8_t *cdb, uint8_t opcode, uint32_t lba, uint16_t blocks)
{
	memset(cdb, 0, SC_CDB);
	cdb[0] = opcode;
	cdb[2] = (uint8_t)(lba >> 24);
	cdb[3] = (uint8_t)(lba >> 16);
	cdb[4] = (uint8_t)(lba >> 8);
	cdb[5] = (uint8_t)lba;
	cdb[7] = (uint8_t)(blocks >> 8);
	cdb[8] = (uint8_t)blocks;
}

void
sc_cdb_report_luns(uint8_t *cdb, uint32_t alloc)
{
	memset(cdb, 0, SC_CDB);
	cdb[0] = 0xa0;
	cdb[6] = (uint8_t)(alloc >> 24);
	cdb[7] = (uint8_t)(alloc >> 16);
	cdb[8] = (uint8_t)(alloc >> 8);
	cdb[9] = (uint8_t)alloc;
}

void
sc_cdb_request_sense(uint8_t *cdb, uint8_t alloc)
{
	memset(cdb, 0, SC_CDB);
	cdb[0] = 0x03;
	cdb[4] = alloc;
}

void
sc_prepare(struct sc_ring *r, struct sc_req *q, const uint8_t lun[8], const uint8_t *cdb,
	   uint8_t data_fill)
{
	memset(q->cmd, 0, 64);
	memcpy(q->cmd->lun, lun, 8);
	q->cmd->tag = htole64(r->tag++);
	memcpy(q->cmd->cdb, cdb, SC_CDB);
	memset(q->resp, SC_FILL, 128);
	memset(q->data, data_fill, SC_DATA);
	memset(q->data2, data_fill ^ 0xff, SC_DATA);
}

struct vfe_buf
sc_buf(uint64_t gpa, uint32_t len, bool write)
{
	return (struct vfe_buf){.gpa = gpa, .len = len, .write = write};
}

int
sc_layout(const struct sc_req *q, struct vfe_buf *b, uint32_t out, uint32_t in)
{
	int n = 0;

	b[n++] = sc_buf(q->cmd_gpa, SC_REQ_LEN, false);
	if (out > 0)
		b[n++] = sc_buf(q->data_gpa, out, false);
	b[n++] = sc_buf(q->resp_gpa, SC_RESP_LEN, true);
	if (in > 0)
		b[n++] = sc_buf(q->data_gpa, in, true);
	return n;
}

void
sc_submit(struct vfe_queue *vq, const struct sc_req *q, const struct vfe_buf *b, int n)
{
	vfe_add_chain(vq, q->head, b, n);
	vfe_publish(vq);
	vfe_kick(vq);
}

/* ---- what comes back -------------------------------------------------------------------- */

bool
sc_wait_used(struct vfe_queue *vq, uint16_t *id, uint32_t *len, uint32_t ms)
{
	uint64_t deadline = hv_now_ms() + ms;

	for (;;) {
		if (vfe_get_used(vq, id, len))
			return true;
		if (hv_now_ms() >= deadline)
			return false;
		usleep(200);
	}
}

int
sc_wait_req(struct sc_ring *r, const struct sc_req *q, uint32_t *len, const char *what)
{
	uint16_t id;

	if (!sc_wait_used(r->rq, &id, len, HV_TIMEOUT_MS))
		return hv_fail(r->h, "%s: never completed", what);
	if (id != q->head)
		return hv_fail(r->h, "%s: used id %u came back (expected %u)", what, id, q->head);
	return 0;
}

bool
sc_all(const uint8_t *p, uint32_t n, uint8_t v)
{
	for (uint32_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

bool
sc_resp_untouched(const struct sc_req *q)
{
	return sc_all((const uint8_t *)q->resp, 128, SC_FILL);
}

static const char *
response_name(uint8_t r)
{
	static const char *const names[] = {
		"OK", "OVERRUN", "ABORTED", "BAD_TARGET", "RESET", "BUSY", "TRANSPORT_FAILURE",
		"TARGET_FAILURE", "NEXUS_FAILURE", "FAILURE", "FUNCTION_SUCCEEDED",
		"FUNCTION_REJECTED", "INCORRECT_LUN"};

	return r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

int
sc_check(struct sc_ring *r, const struct sc_req *q, uint32_t len, const struct sc_want *w,
	 const char *what)
{
	const struct virtio_scsi_cmd_resp *p = q->resp;
	uint32_t sense_len = le32toh(p->sense_len), resid = le32toh(p->resid);
	char got[200];

	snprintf(got, sizeof(got), "used len %u response %u (%s) status 0x%02x resid %u "
		 "sense_len %u sense %02x/%02x/%02x", len, p->response,
		 response_name(p->response), p->status, resid, sense_len,
		 sense_len > 2 ? p->sense[2] & 0xf : 0, sense_len > 12 ? p->sense[12] : 0,
		 sense_len > 13 ? p->sense[13] : 0);
	if (len != w->len || p->response != w->response || p->status != w->status ||
	    resid != w->resid || le16toh(p->status_qualifier) != 0)
		goto bad;
	if (w->key == SC_NO_SENSE) {
		if (sense_len != 0)
			goto bad;
	} else if (sense_len < 14 || sense_len > 96 || (p->sense[0] & 0x7f) != 0x70 ||
		   (p->sense[2] & 0xf) != w->key || p->sense[12] != w->asc ||
		   p->sense[13] != w->ascq) {
		goto bad;
	}
	/* Nothing past the 108-byte response in the 128-byte area. */
	if (!sc_all((const uint8_t *)p + SC_RESP_LEN, 128 - SC_RESP_LEN, SC_FILL))
		return hv_fail(r->h, "%s: the device wrote past the 108-byte response", what);
	return 0;
bad:
	if (w->key == SC_NO_SENSE)
		return hv_fail(r->h, "%s: came back with %s; expected used len %u response %u (%s) "
			       "status 0x%02x resid %u, no sense", what, got, w->len, w->response,
			       response_name(w->response), w->status, w->resid);
	return hv_fail(r->h, "%s: came back with %s; expected used len %u response %u (%s) "
		       "status 0x%02x resid %u sense %02x/%02x/%02x", what, got, w->len,
		       w->response, response_name(w->response), w->status, w->resid, w->key,
		       w->asc, w->ascq);
}

int
sc_exec(struct sc_ring *r, const uint8_t lun[8], const uint8_t *cdb, uint32_t out, uint32_t in,
	const struct sc_want *w, const char *what)
{
	struct sc_req *q = &r->req[0];
	struct vfe_buf b[4];
	uint32_t len;
	int n;

	sc_prepare(r, q, lun, cdb, 0xaa);
	n = sc_layout(q, b, out, in);
	sc_submit(r->rq, q, b, n);
	if (sc_wait_req(r, q, &len, what) < 0)
		return -1;
	return sc_check(r, q, len, w, what);
}

int
sc_ready(struct sc_ring *r, uint8_t target)
{
	struct sc_req *q = &r->req[0];
	uint8_t lun[8], cdb[SC_CDB];
	struct vfe_buf b[2];
	uint32_t len;

	sc_lun(lun, target, 0);
	sc_cdb_tur(cdb);
	for (int i = 0; i < 6; i++) {
		const struct virtio_scsi_cmd_resp *p = q->resp;

		sc_prepare(r, q, lun, cdb, 0);
		sc_submit(r->rq, q, b, sc_layout(q, b, 0, 0));
		if (sc_wait_req(r, q, &len, "TEST UNIT READY") < 0)
			return -1;
		if (len == SC_RESP_LEN && p->response == VIRTIO_SCSI_S_OK && p->status == SC_GOOD)
			return 0;
		/* Unit attentions are reported one per command. */
		if (len == SC_RESP_LEN && p->response == VIRTIO_SCSI_S_OK &&
		    p->status == SC_CHECK_CONDITION && le32toh(p->sense_len) >= 14 &&
		    (p->sense[2] & 0xf) == SC_KEY_UNIT_ATTENTION)
			continue;
		return hv_fail(r->h, "TEST UNIT READY on target %u: used len %u response %u status "
			       "0x%02x sense %02x/%02x/%02x", target, len, p->response, p->status,
			       p->sense[2] & 0xf, p->sense[12], p->sense[13]);
	}
	return hv_fail(r->h, "target %u kept reporting unit attentions", target);
}

int
sc_serves(struct sc_ring *r)
{
	struct sc_req *q = &r->req[0];
	uint8_t lun[8], cdb[SC_CDB];
	const struct sc_want w = {SC_RESP_LEN + 96, VIRTIO_SCSI_S_OK, SC_GOOD, 0, SC_NO_SENSE,
				  0, 0};

	if (sc_ready(r, 0) < 0)
		return -1;
	sc_lun(lun, 0, 0);
	sc_cdb_inquiry(cdb, 96);
	if (sc_exec(r, lun, cdb, 0, 96, &w, "a good INQUIRY after the attack") < 0)
		return -1;
	if (q->data[0] != 0x00 || memcmp(&q->data[8], "SPUR    ", 8) != 0)
		return hv_fail(r->h, "a good INQUIRY after the attack returned peripheral 0x%02x "
			       "vendor '%.8s'", q->data[0], (const char *)&q->data[8]);
	return 0;
}

void
sc_pattern(uint8_t *p, uint32_t lba, uint32_t blocks, uint64_t seed)
{
	for (uint32_t i = 0; i < blocks * SC_BLOCK; i += 8) {
		uint64_t w = ((uint64_t)lba * SC_BLOCK + i) ^ seed;

		memcpy(p + i, &w, 8);
	}
}

int
sc_write_pattern(struct sc_ring *r, uint8_t target, uint32_t lba, uint16_t blocks,
		 uint64_t seed)
{
	struct sc_req *q = &r->req[SC_NREQ - 1];
	uint8_t lun[8], cdb[SC_CDB];
	const struct sc_want w = {SC_RESP_LEN, VIRTIO_SCSI_S_OK, SC_GOOD, 0, SC_NO_SENSE, 0, 0};
	struct vfe_buf b[4];
	uint32_t len;

	sc_lun(lun, target, 0);
	sc_cdb_rw10(cdb, 0x2a, lba, blocks);
	sc_prepare(r, q, lun, cdb, 0);
	sc_pattern(q->data, lba, blocks, seed);
	sc_submit(r->rq, q, b, sc_layout(q, b, blocks * SC_BLOCK, 0));
	if (sc_wait_req(r, q, &len, "WRITE(10) of a pattern") < 0)
		return -1;
	return sc_check(r, q, len, &w, "WRITE(10) of a pattern");
}

int
sc_check_pattern(struct sc_ring *r, uint8_t target, uint32_t lba, uint16_t blocks,
		 uint64_t seed, const char *what)
{
	struct sc_req *q = &r->req[SC_NREQ - 1];
	uint8_t lun[8], cdb[SC_CDB];
	const struct sc_want w = {SC_RESP_LEN + blocks * SC_BLOCK, VIRTIO_SCSI_S_OK, SC_GOOD, 0,
				  SC_NO_SENSE, 0, 0};
	static uint8_t want[SC_DATA];
	struct vfe_buf b[4];
	uint32_t len;

	sc_lun(lun, target, 0);
	sc_cdb_rw10(cdb, 0x28, lba, blocks);
	sc_prepare(r, q, lun, cdb, 0);
	sc_submit(r->rq, q, b, sc_layout(q, b, 0, blocks * SC_BLOCK));
	if (sc_wait_req(r, q, &len, "READ(10) of the pattern") < 0 ||
	    sc_check(r, q, len, &w, "READ(10) of the pattern") < 0)
		return -1;
	sc_pattern(want, lba, blocks, seed);
	if (memcmp(want, q->data, blocks * SC_BLOCK) != 0)
		return hv_fail(r->h, "%s: the blocks at LBA %u no longer hold what was written "
			       "before", what, lba);
	return 0;
}

/* ---- control and event queues -------------------------------------------------------------- */

int
sc_ctrl(struct sc_ring *r, uint32_t out, uint32_t in, uint32_t *len)
{
	struct vfe_buf b[2];
	uint16_t id;
	int n = 0;

	memset(r->ctl + 128, SC_FILL, 128);
	if (out > 0)
		b[n++] = sc_buf(r->ctl_gpa, out, false);
	if (in > 0)
		b[n++] = sc_buf(r->ctl_gpa + 128, in, true);
	vfe_add_chain(r->cq, 0, b, n);
	vfe_publish(r->cq);
	vfe_kick(r->cq);
	if (!sc_wait_used(r->cq, &id, len, HV_TIMEOUT_MS))
		return hv_fail(r->h, "a control request was never answered");
	if (id != 0)
		return hv_fail(r->h, "the control queue answered id %u (expected 0)", id);
	return 0;
}

int
sc_tmf(struct sc_ring *r, uint32_t subtype, const uint8_t lun[8], uint64_t tag, uint8_t *resp)
{
	struct virtio_scsi_ctrl_tmf_req req = {.type = htole32(VIRTIO_SCSI_T_TMF),
					       .subtype = htole32(subtype),
					       .tag = htole64(tag)};
	uint32_t len;

	memcpy(req.lun, lun, 8);
	memcpy(r->ctl, &req, sizeof(req));
	if (sc_ctrl(r, sizeof(req), 1, &len) < 0)
		return -1;
	if (len != 1)
		return hv_fail(r->h, "TMF subtype %u came back with used len %u (expected 1)",
			       subtype, len);
	*resp = r->ctl[128];
	return 0;
}

int
sc_event(struct sc_ring *r, uint32_t ms, struct virtio_scsi_event *ev, uint32_t *len)
{
	uint16_t id;

	if (!sc_wait_used(r->eq, &id, len, ms))
		return -1;
	if (id >= SC_NEVBUF) {
		hv_fail(r->h, "the event queue returned id %u", id);
		return -1;
	}
	memcpy(ev, r->ev[id], sizeof(*ev));
	post_event_buf(r, id);
	vfe_publish(r->eq);
	vfe_kick(r->eq);
	return 0;
}

/* ---- the ring is broken ------------------------------------------------------------------- */

int
sc_expect_broken(struct sc_ring *r, int allowed)
{
	struct hv *h = r->h;
	struct sc_req *q = &r->req[SC_NREQ - 1];
	uint8_t lun[8], cdb[SC_CDB];
	struct vfe_buf b[2];
	uint32_t base, len;
	uint16_t id;
	int seen = 0;

	while (sc_wait_used(r->rq, &id, &len, HV_QUIET_MS))
		if (++seen > allowed)
			return hv_fail(h, "the ring kept working: id %u completed (len %u)", id,
				       len);
	sc_lun(lun, 0, 0);
	sc_cdb_tur(cdb);
	sc_prepare(r, q, lun, cdb, 0);
	sc_submit(r->rq, q, b, sc_layout(q, b, 0, 0));
	if (sc_wait_used(r->rq, &id, &len, HV_QUIET_MS))
		return hv_fail(h, "the ring kept working: a later good request (id %u) completed",
			       id);
	if (hv_expect_needs_reset(h) < 0)
		return -1;
	if (!hv_err_signalled(h, HV_TIMEOUT_MS))
		return hv_fail(h, "the SET_VRING_ERR eventfd of queue 2 was not signalled");
	if (hv_stop_clears_reset(h, SC_REQQ, &base) < 0)
		return -1;
	if (vfe_queue_restart(&h->d, SC_REQQ) < 0)
		return hv_fail(h, "restarting the ring: %s", h->d.err);
	if (sc_serves(r) < 0)
		return -1;
	return hv_did(h, "stopped request queue 2 (%d earlier completion(s), none after), "
		      "GET_STATUS NEEDS_RESET, error eventfd signalled; after GET_VRING_BASE "
		      "(base %u) a restarted ring served again", seen, base);
}

/* ---- spur's RPC server -------------------------------------------------------------------- */

int
sc_rpc_connect(struct hv *h)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd;

	if (h->rpc == NULL || h->ctrlr == NULL || h->bdev == NULL)
		return hv_fail(h, "this scenario needs --rpc, --ctrlr and --bdev");
	if (strlen(h->rpc) >= sizeof(a.sun_path))
		return hv_fail(h, "RPC socket path too long");
	memcpy(a.sun_path, h->rpc, strlen(h->rpc) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return hv_fail(h, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return hv_fail(h, "connecting to %s: %s", h->rpc, strerror(errno));
	}
	return fd;
}

int
sc_rpc_send(struct hv *h, int fd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	size_t off = 0;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return hv_fail(h, "test bug: RPC request too long");
	while (off < (size_t)n) {
		ssize_t w = send(fd, buf + off, (size_t)n - off, MSG_NOSIGNAL);

		if (w < 0)
			return hv_fail(h, "sending an RPC: %s", strerror(errno));
		off += (size_t)w;
	}
	return 0;
}

int
sc_rpc_recv(struct hv *h, int fd, char *buf, size_t size, uint32_t ms)
{
	uint64_t deadline = hv_now_ms() + ms;
	size_t len = 0;
	int depth = 0;
	bool in_str = false, esc = false, started = false;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t now = hv_now_ms();
		ssize_t n;

		if (now >= deadline)
			return hv_fail(h, "no RPC reply within %u ms", ms);
		if (poll(&p, 1, (int)(deadline - now)) != 1)
			continue;
		if (len + 1 >= size)
			return hv_fail(h, "RPC reply too long");
		/* One byte at a time: stop exactly at the end of the first JSON value. */
		n = recv(fd, buf + len, 1, 0);
		if (n <= 0)
			return hv_fail(h, "the RPC server closed the connection");
		char c = buf[len++];

		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			depth++;
			started = true;
		} else if (c == '}' || c == ']') {
			depth--;
			if (started && depth == 0) {
				buf[len] = '\0';
				return 0;
			}
		}
	}
}

/* ---- healthy mode --------------------------------------------------------------------------- */

#define HEALTHY_QUEUES 2
#define HEALTHY_SLOTS 8
#define HEALTHY_BLOCKS 8u

/* READ CAPACITY(10): the number of blocks of target 0. */
static int
capacity(struct sc_ring *r, uint32_t *blocks)
{
	struct sc_req *q = &r->req[0];
	uint8_t lun[8], cdb[SC_CDB] = {0x25};
	const struct sc_want w = {SC_RESP_LEN + 8, VIRTIO_SCSI_S_OK, SC_GOOD, 0, SC_NO_SENSE, 0,
				  0};

	sc_lun(lun, 0, 0);
	if (sc_exec(r, lun, cdb, 0, 8, &w, "READ CAPACITY(10)") < 0)
		return -1;
	*blocks = (((uint32_t)q->data[0] << 24) | ((uint32_t)q->data[1] << 16) |
		   ((uint32_t)q->data[2] << 8) | q->data[3]) + 1;
	if (q->data[4] != 0 || q->data[5] != 0 || q->data[6] != 2 || q->data[7] != 0)
		return hv_fail(r->h, "READ CAPACITY(10): block length is not 512");
	return 0;
}

/* One command per slot on both queues (opcode, 0 blocks: SYNCHRONIZE CACHE), all waited for. */
static int
healthy_round(struct sc_ring *r, struct sc_req (*req)[HEALTHY_SLOTS], uint8_t opcode,
	      const uint32_t *lbas, int *done)
{
	struct hv *h = r->h;
	uint8_t lun[8], cdb[SC_CDB];
	int want = opcode == 0x35 ? 1 : HEALTHY_SLOTS;

	sc_lun(lun, 0, 0);
	for (uint16_t qi = 0; qi < HEALTHY_QUEUES; qi++) {
		struct vfe_queue *vq = &h->d.queues[SC_REQQ + qi];

		for (int s = 0; s < want; s++) {
			struct sc_req *q = &req[qi][s];
			uint32_t bytes = opcode == 0x35 ? 0 : HEALTHY_BLOCKS * SC_BLOCK;
			struct vfe_buf b[4];
			int n;

			sc_cdb_rw10(cdb, opcode, opcode == 0x35 ? 0 : lbas[qi * HEALTHY_SLOTS + s],
				    opcode == 0x35 ? 0 : HEALTHY_BLOCKS);
			memset(q->cmd, 0, 64);
			memcpy(q->cmd->lun, lun, 8);
			q->cmd->tag = htole64(r->tag++);
			memcpy(q->cmd->cdb, cdb, SC_CDB);
			memset(q->resp, SC_FILL, 128);
			n = sc_layout(q, b, opcode == 0x2a ? bytes : 0, opcode == 0x28 ? bytes : 0);
			if (qi == 1)
				vfe_add_indirect(vq, q->head, q->table, q->table_gpa, b, n);
			else
				vfe_add_chain(vq, q->head, b, n);
			done[qi]++;
		}
		vfe_publish(vq);
		vfe_kick(vq);
	}
	for (uint16_t qi = 0; qi < HEALTHY_QUEUES; qi++) {
		struct vfe_queue *vq = &h->d.queues[SC_REQQ + qi];

		for (int k = 0; k < want; k++) {
			uint32_t len, expect;
			uint16_t id;
			struct sc_req *q;

			if (!sc_wait_used(vq, &id, &len, HV_TIMEOUT_MS))
				return hv_fail(h, "queue %u: %d of %d commands (opcode 0x%02x) "
					       "completed", SC_REQQ + qi, k, want, opcode);
			if (id % 8 != 0 || id / 8 >= HEALTHY_SLOTS)
				return hv_fail(h, "queue %u: unexpected used id %u", SC_REQQ + qi,
					       id);
			q = &req[qi][id / 8];
			expect = SC_RESP_LEN + (opcode == 0x28 ? HEALTHY_BLOCKS * SC_BLOCK : 0);
			if (len != expect || q->resp->response != VIRTIO_SCSI_S_OK ||
			    q->resp->status != SC_GOOD || q->resp->resid != 0)
				return hv_fail(h, "queue %u: command id %u (opcode 0x%02x) "
					       "came back with used len %u response %u "
					       "status 0x%02x resid %u",
					       SC_REQQ + qi, id, opcode, len, q->resp->response,
					       q->resp->status, le32toh(q->resp->resid));
		}
	}
	return 0;
}

int
hv_scsi_healthy(struct hv *h)
{
	static struct sc_ring r;
	static struct sc_req req[HEALTHY_QUEUES][HEALTHY_SLOTS];
	static uint8_t want[HEALTHY_BLOCKS * SC_BLOCK];
	uint32_t lbas[HEALTHY_QUEUES * HEALTHY_SLOTS], blocks, stride;
	uint64_t seed = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull ^ hv_now_ms(), status;
	int done[HEALTHY_QUEUES] = {0};

	if (sc_start(h, &r, HEALTHY_QUEUES) < 0)
		return -1;
	for (int qi = 0; qi < HEALTHY_QUEUES; qi++)
		for (int s = 0; s < HEALTHY_SLOTS; s++)
			if (sc_alloc_req(h, &req[qi][s], (uint16_t)(8 * s)) < 0)
				return -1;
	/* sc_ready and capacity use queue 2 at head 0 before the rounds start. */
	if (sc_ready(&r, 0) < 0 || capacity(&r, &blocks) < 0)
		return -1;
	/* Each command so far took one entry of queue 2's avail ring. */
	done[0] = (int)(r.tag - SC_TAG0);
	stride = blocks / (HEALTHY_QUEUES * HEALTHY_SLOTS);
	if (stride < HEALTHY_BLOCKS)
		return hv_fail(h, "target 0 (%u blocks) is too small", blocks);
	for (int i = 0; i < HEALTHY_QUEUES * HEALTHY_SLOTS; i++) {
		lbas[i] = (uint32_t)(i * stride + (seed % (stride - HEALTHY_BLOCKS + 1)));
		sc_pattern(req[i / HEALTHY_SLOTS][i % HEALTHY_SLOTS].data, lbas[i], HEALTHY_BLOCKS,
			   seed);
	}
	if (healthy_round(&r, req, 0x2a, lbas, done) < 0 ||
	    healthy_round(&r, req, 0x35, lbas, done) < 0)
		return -1;
	for (int i = 0; i < HEALTHY_QUEUES * HEALTHY_SLOTS; i++)
		memset(req[i / HEALTHY_SLOTS][i % HEALTHY_SLOTS].data, 0, SC_DATA);
	if (healthy_round(&r, req, 0x28, lbas, done) < 0)
		return -1;
	for (int i = 0; i < HEALTHY_QUEUES * HEALTHY_SLOTS; i++) {
		sc_pattern(want, lbas[i], HEALTHY_BLOCKS, seed);
		if (memcmp(want, req[i / HEALTHY_SLOTS][i % HEALTHY_SLOTS].data, sizeof(want)) != 0)
			return hv_fail(h, "data read back at LBA %u differ from what was written",
				       lbas[i]);
	}
	if (hv_get_status(h, &status) < 0)
		return -1;
	if (status != HV_STATUS_DRIVER_READY)
		return hv_fail(h, "GET_STATUS answers 0x%llx", (unsigned long long)status);
	for (uint16_t qi = 0; qi < HEALTHY_QUEUES; qi++) {
		uint32_t base;

		if (vfe_queue_stop(&h->d, (uint16_t)(SC_REQQ + qi), &base) < 0)
			return hv_fail(h, "GET_VRING_BASE %u: %s", SC_REQQ + qi, h->d.err);
		if (base != (uint32_t)done[qi])
			return hv_fail(h, "GET_VRING_BASE %u answers %u after %d commands",
				       SC_REQQ + qi, base, done[qi]);
	}
	return hv_did(h, "wrote, synchronized and read back %d blocks of 4 KiB on target 0 "
		      "through 2 request queues (direct and indirect chains); rings stopped at "
		      "the right base", HEALTHY_QUEUES * HEALTHY_SLOTS);
}
