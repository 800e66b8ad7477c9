/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hostile rings and virtio-blk requests on a started split queue (size
 * HV_QSIZE), and the ring helpers of hostile_ring.h. Packed rings, unusual
 * memory and ring lifecycles are in hostile_memring.c, the healthy mode in
 * hostile_healthy.c.
 *
 * What spur does (lib/vhost/virtq_split.c, vhost_blk_io.c; the rule is in
 * lib/vhost/virtq.h, "Malformed chains") and what each scenario asserts:
 *  - a malformed chain whose head is valid and that can still be followed
 *    to its end (a data descriptor outside guest memory, running past its
 *    end, wrapping 64 bits or of zero length, more descriptors than the
 *    request iovec limit, a readable descriptor after a writable one, an
 *    indirect descriptor with NEXT set) is answered VIRTIO_BLK_S_IOERR in
 *    the last byte of its last writable descriptor, used length 1, nothing
 *    else written (a readable buffer keeps its bytes), and the queue serves
 *    the next request;
 *  - one that cannot be followed (a loop, longer than the ring, a next
 *    index out of range, a loop in an indirect table) stops the queue,
 *    and so does one that can be answered nowhere: its only writable part
 *    is behind an indirect descriptor that may not be read (bad length,
 *    outside memory, nested, after a direct descriptor, not negotiated).
 *    Nothing is written (the status byte keeps the 0xff the driver put
 *    there) and the chain is never returned empty: see the next-but-one
 *    item for what a stopped queue shows;
 *  - a well-formed chain that is a bad virtio-blk request is answered:
 *    VIRTIO_BLK_S_IOERR (1) for a short header, a sector or a discard
 *    segment beyond the capacity or a misaligned length, VIRTIO_BLK_S_UNSUPP
 *    (2) for an unknown type or unsupported discard flags / segment
 *    counts, used length 1; a request without a writable byte cannot be
 *    answered and comes back empty (a warning is logged);
 *  - such chains and impossible ring state (a head index >= ring size, the avail index
 *    more than the ring size ahead of or behind the device's, a head
 *    offered again while in flight) stops the queue: nothing more is
 *    completed, GET_STATUS reports NEEDS_RESET (0x40), the SET_VRING_ERR
 *    eventfd is signalled and "<ctrlr>: queue 0: ring broken (<why>)" is
 *    logged; GET_VRING_BASE then clears it and a restarted ring serves
 *    again, on the same connection.
 *
 * Descriptor use: the bad request is at head 0, the follow-up good read at
 * head HV_GOOD_HEAD (descriptors 8..10), so both fit a 16-entry ring.
 *
 * Threading: single-threaded.
 */
#include "hostile_ring.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vhost_types.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

/* ---- set-up ------------------------------------------------------------------------- */

int
hv_alloc_req(struct hv *h, struct hv_req *r)
{
	uint8_t *ctl = vfe_mem_alloc(&h->d, 64, 64, &r->hdr_gpa);

	r->data = vfe_mem_alloc(&h->d, HV_DATA_SIZE, 4096, &r->data_gpa);
	r->table = vfe_mem_alloc(&h->d, 16 * HV_TABLE_ENTRIES, 16, &r->table_gpa);
	if (ctl == NULL || r->data == NULL || r->table == NULL)
		return hv_fail(h, "guest memory too small");
	r->hdr = (struct virtio_blk_outhdr *)ctl;
	r->status = ctl + 32;
	r->status_gpa = r->hdr_gpa + 32;
	*r->status = HV_STATUS_UNTOUCHED;
	return 0;
}

/* Send SET_VRING_NUM, BASE (0), ADDR, CALL, KICK, ENABLE for a locally set-up queue. */
int
hv_queue_msgs(struct hv *h, struct vfe_queue *q, bool addr)
{
	struct vhost_vring_state st = {.index = q->index, .num = q->size};
	struct vhost_vring_addr a = {
		.index = q->index,
		.desc_user_addr = (uint64_t)(uintptr_t)q->desc,
		.avail_user_addr = (uint64_t)(uintptr_t)q->avail,
		.used_user_addr = (uint64_t)(uintptr_t)q->used,
	};
	uint64_t v = q->index;

	if (hv_step(h, VFE_SET_VRING_NUM, &st, sizeof(st), NULL, 0) < 0)
		return -1;
	st.num = 0;
	if (hv_step(h, VFE_SET_VRING_BASE, &st, sizeof(st), NULL, 0) < 0 ||
	    (addr && hv_step(h, VFE_SET_VRING_ADDR, &a, sizeof(a), NULL, 0) < 0) ||
	    hv_step(h, VFE_SET_VRING_CALL, &v, sizeof(v), &q->call_fd, 1) < 0 ||
	    hv_step(h, VFE_SET_VRING_KICK, &v, sizeof(v), &q->kick_fd, 1) < 0)
		return -1;
	st.num = 1;
	if (hv_step(h, VFE_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0) < 0)
		return -1;
	q->enabled = true;
	return 0;
}

/* Error eventfd (SET_VRING_ERR), request buffers, DRIVER_OK. */
int
hv_ring_finish_setup(struct hv *h, struct hv_ring *r)
{
	uint64_t v = 0, st = HV_STATUS_DRIVER_READY;

	r->h = h;
	r->q = &h->d.queues[0];
	h->err_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->err_fd < 0)
		return hv_fail(h, "eventfd: %s", strerror(errno));
	if (hv_step(h, VFE_SET_VRING_ERR, &v, sizeof(v), &h->err_fd, 1) < 0)
		return -1;
	for (int i = 0; i < HV_NREQ; i++)
		if (hv_alloc_req(h, &r->req[i]) < 0)
			return -1;
	return hv_step(h, VFE_SET_STATUS, &st, sizeof(st), NULL, 0);
}

/* A connection with mem_size bytes of guest memory, queue 0 started, request buffers. */
int
hv_ring_start_mem(struct hv *h, struct hv_ring *r, uint64_t features, uint64_t mem_size)
{
	bool packed;
	int rc;

	if (hv_open(h, HV_PF_DEFAULT) < 0 || hv_features(h, features) < 0)
		return -1;
	rc = vfe_mem_init(&h->d, mem_size, HV_GPA_BASE);
	if (rc < 0)
		return hv_fail(h, "guest memory: %s", strerror(-rc));
	rc = vfe_set_mem_table(&h->d);
	if (rc < 0)
		return hv_fail(h, "SET_MEM_TABLE: %s (%s)", h->d.err, strerror(-rc));
	packed = (h->d.features >> VIRTIO_F_RING_PACKED) & 1;
	if (((features >> VIRTIO_F_RING_PACKED) & 1) && !packed)
		return hv_fail(h, "the controller does not offer packed rings");
	rc = vfe_queue_setup(&h->d, 0, HV_QSIZE, packed);
	if (rc < 0)
		return hv_fail(h, "queue set-up: %s (%s)", h->d.err, strerror(-rc));
	return hv_ring_finish_setup(h, r);
}

int
hv_ring_start(struct hv *h, struct hv_ring *r, uint64_t features)
{
	return hv_ring_start_mem(h, r, features, HV_MEM_SIZE);
}

/* ---- submitting and watching ---------------------------------------------------------- */

void
hv_go(struct hv_ring *r)
{
	vfe_publish(r->q);
	vfe_kick(r->q);
}

/* Wait up to ms for a used entry. */
bool
hv_wait_used(struct hv_ring *r, uint16_t *id, uint32_t *len, uint32_t ms)
{
	uint64_t deadline = hv_now_ms() + ms;

	for (;;) {
		if (vfe_get_used(r->q, id, len))
			return true;
		if (hv_now_ms() >= deadline)
			return false;
		usleep(200);
	}
}

void
hv_set_hdr(struct hv_req *q, uint32_t type, uint64_t sector)
{
	q->hdr->type = type;
	q->hdr->ioprio = 0;
	q->hdr->sector = sector;
	*q->status = HV_STATUS_UNTOUCHED;
}

struct vfe_buf
hv_buf(uint64_t gpa, uint32_t len, bool write)
{
	return (struct vfe_buf){.gpa = gpa, .len = len, .write = write};
}

/* The usual three descriptors of a 4 KiB read of sector 8 at head..head+2. */
void
hv_add_read(struct hv_ring *r, struct hv_req *q, uint16_t head)
{
	struct vfe_buf b[3] = {hv_buf(q->hdr_gpa, 16, false), hv_buf(q->data_gpa, 4096, true),
			       hv_buf(q->status_gpa, 1, true)};

	hv_set_hdr(q, VIRTIO_BLK_T_IN, 8);
	vfe_add_chain(r->q, head, b, 3);
}

/* A good read at head completes with OK and its full length. */
int
hv_serves(struct hv_ring *r, uint16_t head)
{
	struct hv_req *q = &r->req[1];
	uint16_t id;
	uint32_t len;

	hv_add_read(r, q, head);
	hv_go(r);
	if (!hv_wait_used(r, &id, &len, HV_TIMEOUT_MS))
		return hv_fail(r->h, "a good read after the attack never completed");
	if (id != head || len != 4097 || *q->status != VIRTIO_BLK_S_OK)
		return hv_fail(r->h, "a good read after the attack came back as id %u len %u "
			       "status %u (expected id %u len 4097 status 0)", id, len, *q->status,
			       head);
	return 0;
}

/* The request at head is answered with status and used length len; then more service. */
int
hv_expect_status(struct hv_ring *r, uint16_t head, uint8_t status, uint32_t want_len)
{
	uint16_t id;
	uint32_t len;

	if (!hv_wait_used(r, &id, &len, HV_TIMEOUT_MS))
		return hv_fail(r->h, "the request was never answered");
	if (id != head || len != want_len || *r->req[0].status != status)
		return hv_fail(r->h, "the request came back as id %u len %u status %u (expected id "
			       "%u len %u status %u)", id, len, *r->req[0].status, head, want_len,
			       status);
	if (hv_serves(r, HV_GOOD_HEAD) < 0)
		return -1;
	return hv_did(r->h, "answered status %u (%s), used len %u, and served the next request",
		      status, status == VIRTIO_BLK_S_IOERR ? "IOERR" : "UNSUPP", want_len);
}

/* hv_expect_status IOERR, used length 1, and buf (len bytes of fill, readable) untouched. */
int
hv_expect_ioerr_intact(struct hv_ring *r, uint16_t head, const uint8_t *buf, uint32_t len,
		       uint8_t fill)
{
	if (hv_expect_status(r, head, VIRTIO_BLK_S_IOERR, 1) < 0)
		return -1;
	for (uint32_t i = 0; i < len; i++)
		if (buf[i] != fill)
			return hv_fail(r->h, "the backend wrote 0x%02x at byte %u of a readable "
				       "buffer", buf[i], i);
	return hv_did(r->h, "answered IOERR in the last writable byte, used len 1, the "
		      "readable buffer untouched, and served the next request");
}

/*
 * The queue is broken: at most `allowed` completions (requests taken before
 * the violation), none for a later good request, NEEDS_RESET, the error
 * eventfd; then GET_VRING_BASE clears NEEDS_RESET and (split) a restarted
 * ring serves again.
 */
int
hv_expect_broken(struct hv_ring *r, int allowed)
{
	struct hv *h = r->h;
	uint32_t base, len;
	int seen = 0;
	uint16_t id;

	while (hv_wait_used(r, &id, &len, HV_QUIET_MS))
		if (++seen > allowed)
			return hv_fail(h, "the ring kept working: id %u completed (len %u)", id,
				       len);
	hv_add_read(r, &r->req[1], HV_GOOD_HEAD);
	hv_go(r);
	if (hv_wait_used(r, &id, &len, HV_QUIET_MS))
		return hv_fail(h, "the ring kept working: a later good read (id %u) completed", id);
	if (hv_expect_needs_reset(h) < 0)
		return -1;
	if (!hv_err_signalled(h, HV_TIMEOUT_MS))
		return hv_fail(h, "the SET_VRING_ERR eventfd was not signalled");
	/* Recovery, as a driver reset does it: stop, restart from scratch. */
	if (hv_stop_clears_reset(h, 0, &base) < 0)
		return -1;
	if (r->q->packed)
		return hv_did(h, "stopped the ring (%d earlier completion(s), none after), "
			      "GET_STATUS NEEDS_RESET, error eventfd signalled; GET_VRING_BASE "
			      "(base 0x%x) cleared NEEDS_RESET", seen, base);
	if (vfe_queue_restart(&h->d, 0) < 0)
		return hv_fail(h, "restarting the ring: %s", h->d.err);
	if (hv_serves(r, 0) < 0)
		return -1;
	return hv_did(h, "stopped the ring (%d earlier completion(s), none after), GET_STATUS "
		      "NEEDS_RESET, error eventfd signalled; after GET_VRING_BASE (base %u) a "
		      "restarted ring served again", seen, base);
}

/* ---- malformed chains ------------------------------------------------------------------ */

/* hdr, data at (gpa, len, write), status: a read whose data descriptor is bad (IOERR). */
static int
bad_data_desc(struct hv *h, uint64_t gpa, uint32_t len)
{
	struct hv_ring r;
	struct hv_req *q;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	q = &r.req[0];
	hv_set_hdr(q, VIRTIO_BLK_T_IN, 0);
	struct vfe_buf b[3] = {hv_buf(q->hdr_gpa, 16, false), hv_buf(gpa, len, true),
			       hv_buf(q->status_gpa, 1, true)};
	vfe_add_chain(r.q, 0, b, 3);
	hv_go(&r);
	return hv_expect_status(&r, 0, VIRTIO_BLK_S_IOERR, 1);
}

static int
r_desc_outside(struct hv *h)
{
	return bad_data_desc(h, 0x1000, 4096);
}

static int
r_desc_outside_high(struct hv *h)
{
	return bad_data_desc(h, HV_MEM_END, 4096);
}

static int
r_desc_past_end(struct hv *h)
{
	return bad_data_desc(h, HV_MEM_END - 8, 4096);
}

static int
r_desc_addr_wrap(struct hv *h)
{
	return bad_data_desc(h, UINT64_MAX - 4095, 8192);
}

static int
r_desc_huge_len(struct hv *h)
{
	return bad_data_desc(h, HV_GPA_BASE, UINT32_MAX);
}

static int
r_desc_zero_len(struct hv *h)
{
	return bad_data_desc(h, HV_GPA_BASE + 4096, 0);
}

static int
r_desc_loop(struct hv *h)
{
	struct hv_ring r;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	hv_set_hdr(&r.req[0], VIRTIO_BLK_T_IN, 0);
	vfe_split_write_desc(r.q, 0, r.req[0].hdr_gpa, 16, HV_F_NEXT, 1);
	vfe_split_write_desc(r.q, 1, r.req[0].data_gpa, 4096, HV_F_NEXT | HV_F_WRITE, 0);
	vfe_split_offer(r.q, 0);
	hv_go(&r);
	return hv_expect_broken(&r, 0);
}

static int
r_desc_self_loop(struct hv *h)
{
	struct hv_ring r;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	hv_set_hdr(&r.req[0], VIRTIO_BLK_T_IN, 0);
	vfe_split_write_desc(r.q, 0, r.req[0].hdr_gpa, 16, HV_F_NEXT, 0);
	vfe_split_offer(r.q, 0);
	hv_go(&r);
	return hv_expect_broken(&r, 0);
}

/* Every descriptor of the ring, the last one chaining back to the first. */
static int
r_chain_longer_than_ring(struct hv *h)
{
	struct hv_ring r;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	hv_set_hdr(&r.req[0], VIRTIO_BLK_T_OUT, 0);
	for (uint16_t i = 0; i < HV_QSIZE; i++)
		vfe_split_write_desc(r.q, i, r.req[0].data_gpa + 16u * i, 16, HV_F_NEXT,
				     (uint16_t)((i + 1) % HV_QSIZE));
	vfe_split_offer(r.q, 0);
	hv_go(&r);
	return hv_expect_broken(&r, 0);
}

static int
r_chain_next_out_of_range(struct hv *h)
{
	struct hv_ring r;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	hv_set_hdr(&r.req[0], VIRTIO_BLK_T_IN, 0);
	vfe_split_write_desc(r.q, 0, r.req[0].hdr_gpa, 16, HV_F_NEXT, HV_QSIZE);
	vfe_split_offer(r.q, 0);
	hv_go(&r);
	return hv_expect_broken(&r, 0);
}

static int
r_read_after_write(struct hv *h)
{
	struct hv_ring r;
	struct hv_req *q;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	q = &r.req[0];
	hv_set_hdr(q, VIRTIO_BLK_T_OUT, 0);
	memset(q->data, 0x5a, 4096);
	struct vfe_buf b[3] = {hv_buf(q->hdr_gpa, 16, false), hv_buf(q->status_gpa, 1, true),
			       hv_buf(q->data_gpa, 4096, false)};
	vfe_add_chain(r.q, 0, b, 3);
	hv_go(&r);
	return hv_expect_ioerr_intact(&r, 0, q->data, 4096, 0x5a);
}

/* ---- indirect tables --------------------------------------------------------------- */

/* Ring descriptor 0 = an indirect descriptor (addr, len, extra flags). */
static void
offer_indirect(struct hv_ring *r, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	vfe_split_write_desc(r->q, 0, addr, len, HV_F_INDIRECT | flags, next);
	vfe_split_offer(r->q, 0);
	hv_go(r);
}

/* A valid read's three entries in req 0's table. */
static void
fill_read_table(struct hv_req *q)
{
	hv_set_hdr(q, VIRTIO_BLK_T_IN, 0);
	q->table[0] = (struct vring_desc){q->hdr_gpa, 16, HV_F_NEXT, 1};
	q->table[1] = (struct vring_desc){q->data_gpa, 4096, HV_F_NEXT | HV_F_WRITE, 2};
	q->table[2] = (struct vring_desc){q->status_gpa, 1, HV_F_WRITE, 0};
}

static int
r_indirect_loop(struct hv *h)
{
	struct hv_ring r;
	struct hv_req *q;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	q = &r.req[0];
	fill_read_table(q);
	q->table[1].next = 0;
	offer_indirect(&r, q->table_gpa, 3 * 16, 0, 0);
	return hv_expect_broken(&r, 0);
}

/* 200 entries: more than a request may have (iovec limit 160, seg_max 126): IOERR. */
static int
r_indirect_too_long(struct hv *h)
{
	struct hv_ring r;
	struct hv_req *q;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	q = &r.req[0];
	hv_set_hdr(q, VIRTIO_BLK_T_OUT, 0);
	q->table[0] = (struct vring_desc){q->hdr_gpa, 16, HV_F_NEXT, 1};
	for (uint16_t i = 1; i < 199; i++)
		q->table[i] = (struct vring_desc){q->data_gpa + 32u * i, 16, HV_F_NEXT,
						  (uint16_t)(i + 1)};
	q->table[199] = (struct vring_desc){q->status_gpa, 1, HV_F_WRITE, 0};
	offer_indirect(&r, q->table_gpa, 200 * 16, 0, 0);
	return hv_expect_status(&r, 0, VIRTIO_BLK_S_IOERR, 1);
}

static int
r_indirect_nested(struct hv *h)
{
	struct hv_ring r;
	struct hv_req *q;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	q = &r.req[0];
	fill_read_table(q);
	/* The outer table's only entry points at a second (valid) table. */
	q->table[8] = (struct vring_desc){q->table_gpa, 3 * 16, HV_F_INDIRECT, 0};
	offer_indirect(&r, q->table_gpa + 8 * 16, 16, 0, 0);
	return hv_expect_broken(&r, 0);
}

static int
r_indirect_with_next(struct hv *h)
{
	struct hv_ring r;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	fill_read_table(&r.req[0]);
	vfe_split_write_desc(r.q, 1, r.req[0].status_gpa, 1, HV_F_WRITE, 0);
	/* The indirect descriptor is stepped over, not read; ring descriptor 1
	 * is the chain's last writable one. */
	offer_indirect(&r, r.req[0].table_gpa, 3 * 16, HV_F_NEXT, 1);
	return hv_expect_status(&r, 0, VIRTIO_BLK_S_IOERR, 1);
}

static int
r_indirect_after_direct(struct hv *h)
{
	struct hv_ring r;
	struct hv_req *q;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	q = &r.req[0];
	fill_read_table(q);
	vfe_split_write_desc(r.q, 0, q->hdr_gpa, 16, HV_F_NEXT, 1);
	vfe_split_write_desc(r.q, 1, q->table_gpa + 16, 2 * 16, HV_F_INDIRECT, 0);
	vfe_split_offer(r.q, 0);
	hv_go(&r);
	return hv_expect_broken(&r, 0);
}

/*
 * An indirect descriptor the device cannot read as a table (req 0's table
 * holds a valid read): addr = req 0's table + table_off, or HV_MEM_END +
 * end_off when outside; len bytes; INDIRECT_DESC negotiated or not. The
 * chain has no status byte the device may write: the ring stops.
 */
struct indirect_case {
	bool outside;
	int64_t off;
	uint32_t len;
	bool negotiated;
};

static int
r_indirect_unreadable(struct hv *h)
{
	const struct indirect_case *c = h->arg;
	uint64_t features = HV_RING_FEATURES;
	struct hv_ring r;
	uint64_t base;

	if (!c->negotiated)
		features &= ~(1ull << VIRTIO_RING_F_INDIRECT_DESC);
	if (hv_ring_start(h, &r, features) < 0)
		return -1;
	fill_read_table(&r.req[0]);
	base = c->outside ? HV_MEM_END : r.req[0].table_gpa;
	offer_indirect(&r, base + (uint64_t)c->off, c->len, 0, 0);
	return hv_expect_broken(&r, 0);
}

/* ---- impossible ring state ---------------------------------------------------------- */

static int
r_head_out_of_range(struct hv *h)
{
	struct hv_ring r;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	vfe_split_offer(r.q, HV_QSIZE);
	hv_go(&r);
	return hv_expect_broken(&r, 0);
}

static int
r_avail_idx_jump(struct hv *h)
{
	struct hv_ring r;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	hv_add_read(&r, &r.req[0], 0);
	vfe_split_set_avail_idx(r.q, HV_QSIZE + 1);
	vfe_kick(r.q);
	return hv_expect_broken(&r, 0);
}

static int
r_avail_idx_backwards(struct hv *h)
{
	struct hv_ring r;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	if (hv_serves(&r, 0) < 0)
		return -1;
	vfe_split_set_avail_idx(r.q, 0);
	vfe_kick(r.q);
	return hv_expect_broken(&r, 0);
}

static int
r_head_twice(struct hv *h)
{
	struct hv_ring r;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	hv_add_read(&r, &r.req[0], 0);
	vfe_split_offer(r.q, 0);
	hv_go(&r);
	/* The first copy was taken legitimately and may complete. */
	return hv_expect_broken(&r, 1);
}

/* ---- virtio-blk requests ------------------------------------------------------------- */

/*
 * A virtio-blk request in req 0: header (hdr_len bytes; type, sector, or
 * capacity - sector when from_end), data (data_len bytes, device-writable
 * when data_write), status; the answer expected in its status byte.
 */
struct blk_case {
	uint32_t hdr_len, type;
	uint64_t sector;
	bool from_end;
	uint32_t data_len;
	bool data_write;
	uint8_t want;
};

static int
r_blk_case(struct hv *h)
{
	const struct blk_case *c = h->arg;
	struct hv_ring r;
	struct hv_req *q = &r.req[0];
	struct vfe_buf b[3];
	int n = 0;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	hv_set_hdr(q, c->type, c->from_end ? h->capacity - c->sector : c->sector);
	if (c->hdr_len > 0)
		b[n++] = hv_buf(q->hdr_gpa, c->hdr_len, false);
	if (c->data_len > 0)
		b[n++] = hv_buf(q->data_gpa, c->data_len, c->data_write);
	b[n++] = hv_buf(q->status_gpa, 1, true);
	vfe_add_chain(r.q, 0, b, n);
	hv_go(&r);
	return hv_expect_status(&r, 0, c->want, 1);
}

/* Readable header and data, no writable byte: nowhere for a status. */
static int
r_blk_no_status(struct hv *h)
{
	struct hv_ring r;
	struct hv_req *q;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	q = &r.req[0];
	hv_set_hdr(q, VIRTIO_BLK_T_OUT, 0);
	struct vfe_buf b[2] = {hv_buf(q->hdr_gpa, 16, false), hv_buf(q->data_gpa, 4096, false)};
	vfe_add_chain(r.q, 0, b, 2);
	hv_go(&r);
	return hv_expect_broken(&r, 0);
}

/*
 * DISCARD or WRITE_ZEROES in req 0 with nseg segments {sector (~0:
 * capacity), num, flags} in a data buffer of bytes (0: nseg * 16); the
 * answer expected in its status byte.
 */
struct dwz_case {
	uint32_t type;
	uint64_t sector;
	uint32_t num, flags, nseg, bytes;
	uint8_t want;
};

static int
r_dwz_case(struct hv *h)
{
	const struct dwz_case *c = h->arg;
	struct virtio_blk_discard_write_zeroes *seg;
	struct hv_ring r;
	struct hv_req *q = &r.req[0];
	uint64_t sector;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	sector = c->sector == UINT64_MAX ? h->capacity : c->sector; /* known once started */
	seg = (struct virtio_blk_discard_write_zeroes *)q->data;
	for (uint32_t i = 0; i < c->nseg; i++)
		seg[i] = (struct virtio_blk_discard_write_zeroes){
			.sector = sector, .num_sectors = c->num, .flags = c->flags};
	hv_set_hdr(q, c->type, 0);
	struct vfe_buf b[3] = {hv_buf(q->hdr_gpa, 16, false),
			       hv_buf(q->data_gpa, c->bytes ? c->bytes : c->nseg * 16, false),
			       hv_buf(q->status_gpa, 1, true)};
	vfe_add_chain(r.q, 0, b, 3);
	hv_go(&r);
	return hv_expect_status(&r, 0, c->want, 1);
}

/* ---- combinations and other entry points ------------------------------------------ */

/*
 * Four requests in one batch: a readable descriptor after the status, a
 * good read, an unknown type, a bad address.
 */
static int
r_mixed_batch(struct hv *h)
{
	struct hv_ring r;
	struct hv_req *q;
	bool seen[4] = {false};
	uint16_t id;
	uint32_t len;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	q = &r.req[0];
	hv_set_hdr(q, VIRTIO_BLK_T_OUT, 0);
	vfe_split_write_desc(r.q, 0, q->hdr_gpa, 16, HV_F_NEXT, 1);
	vfe_split_write_desc(r.q, 1, q->status_gpa, 1, HV_F_NEXT | HV_F_WRITE, 2);
	vfe_split_write_desc(r.q, 2, q->data_gpa, 4096, 0, 0);
	vfe_split_offer(r.q, 0);
	hv_add_read(&r, &r.req[1], 4);
	q = &r.req[2];
	hv_set_hdr(q, 0x77, 0);
	struct vfe_buf u[3] = {hv_buf(q->hdr_gpa, 16, false), hv_buf(q->data_gpa, 512, true),
			       hv_buf(q->status_gpa, 1, true)};
	vfe_add_chain(r.q, 8, u, 3);
	q = &r.req[3];
	hv_set_hdr(q, VIRTIO_BLK_T_IN, 0);
	struct vfe_buf o[3] = {hv_buf(q->hdr_gpa, 16, false), hv_buf(HV_MEM_END, 512, true),
			       hv_buf(q->status_gpa, 1, true)};
	vfe_add_chain(r.q, 12, o, 3);
	hv_go(&r);
	for (int n = 0; n < 4; n++) {
		if (!hv_wait_used(&r, &id, &len, HV_TIMEOUT_MS))
			return hv_fail(h, "only %d of the 4 requests came back", n);
		int k = id / 4;

		if (id % 4 != 0 || k >= 4 || seen[k])
			return hv_fail(h, "unexpected used id %u", id);
		seen[k] = true;
		uint8_t st = *r.req[k].status;
		bool ok = (k == 0 && len == 1 && st == VIRTIO_BLK_S_IOERR) ||
			  (k == 1 && len == 4097 && st == VIRTIO_BLK_S_OK) ||
			  (k == 2 && len == 1 && st == VIRTIO_BLK_S_UNSUPP) ||
			  (k == 3 && len == 1 && st == VIRTIO_BLK_S_IOERR);

		if (!ok)
			return hv_fail(h, "request %u came back with len %u status %u", id, len,
				       st);
	}
	if (hv_serves(&r, HV_GOOD_HEAD + 1) < 0)
		return -1;
	return hv_did(h, "answered a mixed batch one by one (read after write: IOERR, read: OK, "
		      "unknown type: UNSUPP, bad address: IOERR) and kept serving");
}

/* ---- the table ---------------------------------------------------------------------- */

#define LOOP_LOG "queue 0: ring broken (descriptor chain loops or is longer than its table)"
#define NO_STATUS_LOG                                                                       \
	"queue 0: ring broken (malformed chain without a writable status byte in guest memory)"

/* Table shorthands: one runner per request shape, the case as its arg. */
#define BLK(name, ...) \
	HV_SCENARIO_ARG(name, NULL, r_blk_case, (&(const struct blk_case){__VA_ARGS__}))
#define DWZ(name, ...) \
	HV_SCENARIO_ARG(name, NULL, r_dwz_case, (&(const struct dwz_case){__VA_ARGS__}))
#define IN VIRTIO_BLK_T_IN
#define OUT VIRTIO_BLK_T_OUT
#define DISC VIRTIO_BLK_T_DISCARD
#define WZ VIRTIO_BLK_T_WRITE_ZEROES
#define IOERR VIRTIO_BLK_S_IOERR
#define UNSUPP VIRTIO_BLK_S_UNSUPP
#define HUGE 0xfffffffffffffff8ull
/* An unreadable indirect table: outside, offset, length, INDIRECT_DESC negotiated. */
#define IND(name, ...) \
	HV_SCENARIO_ARG(name, NO_STATUS_LOG, r_indirect_unreadable, \
		(&(const struct indirect_case){__VA_ARGS__}))

const struct hv_scenario hv_ring_scenarios[] = {
	HV_SCENARIO("desc-outside", NULL, r_desc_outside),
	HV_SCENARIO("desc-outside-high", NULL, r_desc_outside_high),
	HV_SCENARIO("desc-past-end", NULL, r_desc_past_end),
	HV_SCENARIO("desc-addr-wrap", NULL, r_desc_addr_wrap),
	HV_SCENARIO("desc-huge-len", NULL, r_desc_huge_len),
	HV_SCENARIO("desc-zero-len", NULL, r_desc_zero_len),
	HV_SCENARIO("desc-loop", LOOP_LOG, r_desc_loop),
	HV_SCENARIO("desc-self-loop", LOOP_LOG, r_desc_self_loop),
	HV_SCENARIO("chain-longer-than-ring", LOOP_LOG, r_chain_longer_than_ring),
	HV_SCENARIO("chain-next-out-of-range",
	            "queue 0: ring broken (next descriptor index out of range)",
	            r_chain_next_out_of_range),
	HV_SCENARIO("read-after-write", NULL, r_read_after_write),
	HV_SCENARIO("indirect-loop", LOOP_LOG, r_indirect_loop),
	HV_SCENARIO("indirect-too-long", NULL, r_indirect_too_long),
	IND("indirect-bad-len", false, 0, 24, true),
	IND("indirect-zero-len", false, 0, 0, true),
	HV_SCENARIO("indirect-nested", NO_STATUS_LOG, r_indirect_nested),
	HV_SCENARIO("indirect-with-next", NULL, r_indirect_with_next),
	IND("indirect-outside", true, 0, 3 * 16, true),
	IND("indirect-past-end", true, -16, 3 * 16, true),
	HV_SCENARIO("indirect-after-direct", NO_STATUS_LOG, r_indirect_after_direct),
	IND("indirect-not-negotiated", false, 0, 3 * 16, false),
	HV_SCENARIO("head-out-of-range", "queue 0: ring broken (head index out of range)",
	            r_head_out_of_range),
	HV_SCENARIO("avail-idx-jump",
	            "queue 0: ring broken (avail index moved past the queue size)",
	            r_avail_idx_jump),
	HV_SCENARIO("avail-idx-backwards",
	            "queue 0: ring broken (avail index moved past the queue size)",
	            r_avail_idx_backwards),
	HV_SCENARIO("head-twice", "queue 0: ring broken (head offered while already in flight)",
	            r_head_twice),
	/*                           header type sector from_end data  write  want */
	BLK("blk-hdr-short",          8,     IN,  0,     false,   4096, true,  IOERR),
	BLK("blk-status-only",        0,     IN,  0,     false,   0,    false, IOERR),
	BLK("blk-sector-beyond",      16,    IN,  0,     true,    4096, true,  IOERR),
	/* One sector before the end: the 4 KiB run past it. */
	BLK("blk-sector-cross-end",   16,    IN,  1,     true,    4096, true,  IOERR),
	BLK("blk-sector-overflow",    16,    IN,  HUGE,  false,   4096, true,  IOERR),
	BLK("blk-write-beyond",       16,    OUT, 0,     true,    4096, false, IOERR),
	BLK("blk-len-unaligned",      16,    IN,  0,     false,   1000, true,  IOERR),
	BLK("blk-type-unknown",       16,    0x77, 0,    false,   4096, true,  UNSUPP),
	HV_SCENARIO("blk-no-status",
	            "queue 0: ring broken (request without a writable status byte)",
	            r_blk_no_status),
	/* sector UINT64_MAX: the capacity    type  sector      num flags nseg bytes want */
	DWZ("blk-discard-beyond",             DISC, UINT64_MAX, 8,  0,    1,   0,    IOERR),
	DWZ("blk-discard-overflow",           DISC, HUGE,       16, 0,    1,   0,    IOERR),
	DWZ("blk-discard-flags",              DISC, 0,          8,  1,    1,   0,    UNSUPP),
	DWZ("blk-discard-too-many",           DISC, 0,          8,  0,    17,  0,    UNSUPP),
	DWZ("blk-discard-bad-len",            DISC, 0,          8,  0,    2,   20,   IOERR),
	DWZ("blk-write-zeroes-beyond",        WZ,   UINT64_MAX, 8,  0,    1,   0,    IOERR),
	HV_SCENARIO("mixed-batch", NULL, r_mixed_batch),
};
#undef IND
#undef BLK
#undef DWZ
#undef IN
#undef OUT
#undef DISC
#undef WZ
#undef IOERR
#undef UNSUPP
#undef HUGE

const size_t hv_ring_count = sizeof(hv_ring_scenarios) / sizeof(hv_ring_scenarios[0]);
