/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spur_vhost_perf's virtio-scsi requests (--type scsi): config space,
 * the control and event queues, the set-up commands that learn the
 * disk, and the chain of one READ or WRITE as a Linux guest lays it out.
 *
 * Queues: 0 is the control queue (set up, no buffers: this driver sends no
 * task management), 1 the event queue (set up with EVENTQ_BUFS buffers
 * posted, never read back: events are not acted on), request queue i is
 * ring index 2 + i. Only split rings (--packed is refused by the options).
 *
 * Config: cdb_size and sense_size from GET_CONFIG when the backend offers
 * the CONFIG protocol feature, else the spec's defaults 32 and 96; the
 * request header is then 19 + cdb_size bytes, the response 12 + sense_size.
 * seg_max and max_sectors bound the request size, num_queues the queues.
 *
 * Control area of a slot: virtio_scsi_cmd_req at 0, virtio_scsi_cmd_resp
 * at the next 64-byte boundary. A request's chain: the header
 * (device-readable), then for WRITE the data (readable) and the response
 * (writable), for READ the response then the data (both writable), since
 * device-writable descriptors follow the readable ones. LUN field: 1,
 * --target, 0x40 | lun >> 8, lun & 0xff (flat addressing, as Linux
 * builds it); tag: the slot's; task attribute SIMPLE. CDB: READ(10) /
 * WRITE(10), or the 16-byte forms when the LBA or block count do not fit.
 *
 * Set-up (probe, slot 0 of request queue 0, one command at a time):
 * REQUEST SENSE takes the power-on unit attention a new initiator gets,
 * TEST UNIT READY is repeated while it reports a unit attention, and
 * READ CAPACITY(16) gives the block size and capacity.
 *
 * A completion is good when response is VIRTIO_SCSI_S_OK and status GOOD;
 * its used length must be the response size (+ io_size for a read) and
 * its residual 0.
 *
 * Threading: the loop's thread only (see perf.h).
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_scsi.h>

#include "perf.h"

#define REQ_CDB_OFF ((uint32_t)offsetof(struct virtio_scsi_cmd_req, cdb))    /* 19 */
#define RESP_SENSE_OFF ((uint32_t)offsetof(struct virtio_scsi_cmd_resp, sense)) /* 12 */
#define CTRLQ_SIZE 64
#define EVENTQ_SIZE 64
#define EVENTQ_BUFS 4
#define PROBE_TRIES 8

#define SCSI_STATUS_GOOD 0x00
#define SCSI_STATUS_CHECK_CONDITION 0x02
#define SENSE_KEY_UNIT_ATTENTION 0x6

/* What a command's response says, decoded. */
struct scsi_result {
	uint8_t response, status;
	uint8_t key, asc, ascq;
	uint32_t resid;
};

static void
put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

static uint64_t
get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static int
scsi_configure(struct perf *p)
{
	struct vfe_dev *d = &p->dev;
	struct perf_scsi_cfg *sc = &p->cfg.scsi;
	struct virtio_scsi_config cfg;
	bool have_cfg = (d->protocol_features >> VFE_PROTOCOL_F_CONFIG) & 1u;
	uint32_t maxq;
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	if (have_cfg) {
		rc = vfe_get_config(d, &cfg, sizeof(cfg));
		if (rc < 0)
			return rc;
	}
	rc = perf_set_features(p, 0);
	if (rc < 0)
		return rc;
	sc->cdb_size = have_cfg ? le32toh(cfg.cdb_size) : VIRTIO_SCSI_CDB_DEFAULT_SIZE;
	sc->sense_size = have_cfg ? le32toh(cfg.sense_size) : VIRTIO_SCSI_SENSE_DEFAULT_SIZE;
	if (sc->cdb_size < 16 || sc->cdb_size > 256 || sc->sense_size > 256) {
		snprintf(d->err, sizeof(d->err), "config: cdb_size %u / sense_size %u not usable",
			 sc->cdb_size, sc->sense_size);
		return -EPROTO;
	}
	sc->req_len = REQ_CDB_OFF + sc->cdb_size;
	sc->resp_off = (sc->req_len + 63u) & ~63u;
	sc->resp_len = RESP_SENSE_OFF + sc->sense_size;
	p->first_queue = 2;
	p->ctl_size = sc->resp_off + sc->resp_len;
	p->size_max = UINT32_MAX;
	p->seg_max = have_cfg ? le32toh(cfg.seg_max) : 0;
	p->max_io = have_cfg ? le32toh(cfg.max_sectors) * 512ull : 0;
	p->readonly = false;
	maxq = have_cfg ? le32toh(cfg.num_queues) : 1;
	if ((d->protocol_features >> VFE_PROTOCOL_F_MQ) & 1u) {
		uint32_t offered = d->max_queues > 2 ? d->max_queues - 2u : 0;

		maxq = maxq < offered ? maxq : offered;
	}
	if (maxq > VFE_MAX_QUEUES - 2)
		maxq = VFE_MAX_QUEUES - 2;
	p->max_queues = (uint16_t)maxq;
	return 0;
}

/* Control queue without buffers, event queue with a few, as a guest's driver starts. */
static int
scsi_setup_queues(struct perf *p)
{
	struct vfe_dev *d = &p->dev;
	struct vfe_queue *evq;
	int rc;

	rc = vfe_queue_setup(d, 0, CTRLQ_SIZE, false);
	if (rc == 0)
		rc = vfe_queue_setup(d, 1, EVENTQ_SIZE, false);
	if (rc < 0)
		return rc;
	evq = &d->queues[1];
	for (uint16_t i = 0; i < EVENTQ_BUFS; i++) {
		struct vfe_buf b = {.len = sizeof(struct virtio_scsi_event), .write = true};

		if (vfe_mem_alloc(d, b.len, 16, &b.gpa) == NULL) {
			snprintf(d->err, sizeof(d->err), "guest memory too small (--mem)");
			return -ENOMEM;
		}
		rc = vfe_add_chain(evq, i, &b, 1);
		if (rc < 0)
			return rc;
	}
	if (vfe_publish(evq))
		vfe_kick(evq);
	return 0;
}

/* The slot's request header with cdb (len bytes), and a response marked unwritten. */
static void
put_request(struct perf *p, struct perf_slot *sl, const uint8_t *cdb, uint32_t len)
{
	const struct perf_scsi_cfg *sc = &p->cfg.scsi;
	uint8_t *req = sl->ctl, *resp = sl->ctl + sc->resp_off;
	uint64_t tag = htole64(sl->tag);

	memset(req, 0, sc->req_len);
	req[0] = 1;
	req[1] = p->o.scsi_target;
	req[2] = (uint8_t)(0x40 | (p->o.scsi_lun >> 8));
	req[3] = (uint8_t)p->o.scsi_lun;
	memcpy(req + offsetof(struct virtio_scsi_cmd_req, tag), &tag, sizeof(tag));
	req[offsetof(struct virtio_scsi_cmd_req, task_attr)] = VIRTIO_SCSI_S_SIMPLE;
	memcpy(req + REQ_CDB_OFF, cdb, len);
	resp[offsetof(struct virtio_scsi_cmd_resp, status)] = 0xff;
	resp[offsetof(struct virtio_scsi_cmd_resp, response)] = 0xff;
}

static void
get_result(const struct perf *p, const struct perf_slot *sl, struct scsi_result *r)
{
	const uint8_t *resp = sl->ctl + p->cfg.scsi.resp_off;
	const uint8_t *sense = resp + RESP_SENSE_OFF;
	uint32_t sense_len, resid;

	memcpy(&sense_len, resp + offsetof(struct virtio_scsi_cmd_resp, sense_len), 4);
	memcpy(&resid, resp + offsetof(struct virtio_scsi_cmd_resp, resid), 4);
	sense_len = le32toh(sense_len);
	if (sense_len > p->cfg.scsi.sense_size)
		sense_len = p->cfg.scsi.sense_size;
	*r = (struct scsi_result){
		.response = resp[offsetof(struct virtio_scsi_cmd_resp, response)],
		.status = resp[offsetof(struct virtio_scsi_cmd_resp, status)],
		.resid = le32toh(resid),
	};
	if (sense_len >= 14 && (sense[0] & 0x7e) == 0x70) {         /* fixed format */
		r->key = sense[2] & 0xf;
		r->asc = sense[12];
		r->ascq = sense[13];
	} else if (sense_len >= 4 && (sense[0] & 0x7e) == 0x72) {  /* descriptor format */
		r->key = sense[1] & 0xf;
		r->asc = sense[2];
		r->ascq = sense[3];
	}
}

static void
describe(const struct scsi_result *r, char *buf, size_t len)
{
	snprintf(buf, len, "response %u status 0x%02x sense key 0x%x asc/ascq 0x%02x/0x%02x",
		 r->response, r->status, r->key, r->asc, r->ascq);
}

/*
 * One set-up command on slot 0 of request queue 0, with in_len bytes of
 * data-in into the slot's data buffer. Returns 0 with *r, or -errno.
 */
static int
sync_cmd(struct perf *p, const uint8_t *cdb, uint32_t cdb_len, uint32_t in_len,
	 struct scsi_result *r)
{
	struct perf_qstate *qs = &p->qs[0];
	struct perf_slot *sl = &qs->slots[0];
	uint32_t len;
	int rc;

	put_request(p, sl, cdb, cdb_len);
	sl->bufs[0] = (struct vfe_buf){.gpa = sl->ctl_gpa, .len = p->cfg.scsi.req_len};
	sl->bufs[1] = (struct vfe_buf){.gpa = sl->ctl_gpa + p->cfg.scsi.resp_off,
				       .len = p->cfg.scsi.resp_len, .write = true};
	sl->nbufs = 2;
	if (in_len != 0)
		sl->bufs[sl->nbufs++] = (struct vfe_buf){.gpa = sl->data_gpa, .len = in_len,
							 .write = true};
	rc = perf_sync(p, qs, 0, &len);
	if (rc < 0)
		return rc;
	get_result(p, sl, r);
	return 0;
}

static int
scsi_probe(struct perf *p)
{
	static const uint8_t request_sense[6] = {0x03, 0, 0, 0, 252, 0};
	static const uint8_t tur[6] = {0x00};
	uint8_t rc16[16] = {0x9e, 0x10};
	struct vfe_dev *d = &p->dev;
	struct scsi_result r;
	const uint8_t *data = p->qs[0].slots[0].data;
	char ua[32] = "none";
	char what[96];
	uint64_t blocks;
	int rc, i;

	rc = sync_cmd(p, request_sense, sizeof(request_sense), 252, &r);
	if (rc < 0)
		return rc;
	if (r.response == VIRTIO_SCSI_S_OK && r.status == SCSI_STATUS_GOOD &&
	    (data[2] & 0xf) == SENSE_KEY_UNIT_ATTENTION)
		snprintf(ua, sizeof(ua), "0x%02x/0x%02x", data[12], data[13]);
	for (i = 0; i < PROBE_TRIES; i++) {
		rc = sync_cmd(p, tur, sizeof(tur), 0, &r);
		if (rc < 0)
			return rc;
		if (r.response != VIRTIO_SCSI_S_OK || r.status != SCSI_STATUS_CHECK_CONDITION ||
		    r.key != SENSE_KEY_UNIT_ATTENTION)
			break;
	}
	if (r.response != VIRTIO_SCSI_S_OK || r.status != SCSI_STATUS_GOOD) {
		describe(&r, what, sizeof(what));
		snprintf(d->err, sizeof(d->err), "target %u LUN %u: TEST UNIT READY: %s%s",
			 p->o.scsi_target, p->o.scsi_lun, what,
			 r.response == VIRTIO_SCSI_S_BAD_TARGET ? " (no such target)" : "");
		return -EIO;
	}
	put_be32(rc16 + 10, 32);
	rc = sync_cmd(p, rc16, sizeof(rc16), 32, &r);
	if (rc < 0)
		return rc;
	if (r.response != VIRTIO_SCSI_S_OK || r.status != SCSI_STATUS_GOOD) {
		describe(&r, what, sizeof(what));
		snprintf(d->err, sizeof(d->err), "READ CAPACITY(16): %s", what);
		return -EIO;
	}
	blocks = get_be(data, 8) + 1;
	p->blk_size = (uint32_t)get_be(data + 8, 4);
	p->capacity_bytes = blocks * p->blk_size;
	printf("# scsi target %u LUN %u: %" PRIu64 " blocks of %u bytes, cdb_size %u, "
	       "sense_size %u, unit attention at start: %s\n", p->o.scsi_target, p->o.scsi_lun,
	       blocks, p->blk_size, p->cfg.scsi.cdb_size, p->cfg.scsi.sense_size, ua);
	return 0;
}

static void
scsi_build(struct perf *p, struct perf_slot *sl, uint64_t data_gpa)
{
	const struct perf_scsi_cfg *sc = &p->cfg.scsi;
	uint64_t lba = sl->offset / p->blk_size;
	uint32_t blocks = p->o.io_size / p->blk_size;
	struct vfe_buf resp = {.gpa = sl->ctl_gpa + sc->resp_off, .len = sc->resp_len,
			       .write = true};
	uint8_t cdb[16] = {0};
	uint32_t cdb_len;

	if (lba + blocks <= UINT32_MAX && blocks <= UINT16_MAX) {
		cdb[0] = sl->write ? 0x2a : 0x28;       /* WRITE(10) / READ(10) */
		put_be32(cdb + 2, (uint32_t)lba);
		put_be16(cdb + 7, (uint16_t)blocks);
		cdb_len = 10;
	} else {
		cdb[0] = sl->write ? 0x8a : 0x88;       /* WRITE(16) / READ(16) */
		put_be32(cdb + 2, (uint32_t)(lba >> 32));
		put_be32(cdb + 6, (uint32_t)lba);
		put_be32(cdb + 10, blocks);
		cdb_len = 16;
	}
	put_request(p, sl, cdb, cdb_len);
	sl->bufs[0] = (struct vfe_buf){.gpa = sl->ctl_gpa, .len = sc->req_len};
	sl->nbufs = 1;
	if (sl->write) {
		perf_add_data(p, sl, data_gpa, false);
		sl->bufs[sl->nbufs++] = resp;
	} else {
		sl->bufs[sl->nbufs++] = resp;
		perf_add_data(p, sl, data_gpa, true);
	}
}

static int
scsi_check(struct perf *p, const struct perf_slot *sl, uint32_t len, char *why, size_t why_len)
{
	struct scsi_result r;
	int n;

	get_result(p, sl, &r);
	if (r.response != VIRTIO_SCSI_S_OK || r.status != SCSI_STATUS_GOOD) {
		n = snprintf(why, why_len, "LBA %" PRIu64 ", ", sl->offset / p->blk_size);
		if (n > 0 && (size_t)n < why_len)
			describe(&r, why + n, why_len - (size_t)n);
		return -EIO;
	}
	if (r.resid != 0 || len != p->cfg.scsi.resp_len + (sl->write ? 0 : p->o.io_size))
		return -EMSGSIZE;
	return 0;
}

const struct perf_type perf_type_scsi = {
	.name = "scsi",
	.configure = scsi_configure,
	.setup_queues = scsi_setup_queues,
	.probe = scsi_probe,
	.build = scsi_build,
	.check = scsi_check,
};
