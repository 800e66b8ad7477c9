/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hostile rings in unusual memory and lifecycles: packed rings (malformed
 * chains, chains longer than the ring, buffer ids out of range or offered
 * twice), guest memory of more than 4 GiB (a chain whose total passes 32
 * bits, a 4 GiB read), guest memory truncated by the frontend under
 * running queues, memory tables switched 64 times under I/O, GET_VRING_BASE
 * and disconnects with requests in flight, SET_VRING_ADDR before the
 * memory table, and a reconnect with a corrupt inflight region.
 *
 * What spur does (lib/vhost/virtq_packed.c, vhost_mem.c, vhost_pg.c,
 * virtq_inflight.c) and what each scenario asserts: packed chains follow
 * the split rules (malformed but walkable to its end: IOERR in the last
 * writable byte, used length 1, readable buffers untouched; impossible
 * ring state: the queue stops with NEEDS_RESET), as does a chain whose
 * total length passes 32 bits; a truncated guest memory is replaced by
 * zero pages in spur (SIGBUS guard), so spur keeps running, and the rings
 * using it stop (NEEDS_RESET, logged against the controller); GET_VRING_BASE
 * answers only once every request taken is back in the used ring; the
 * inflight region's bad marks are dropped and the good ones resubmitted.
 *
 * Threading: single-threaded.
 */
#include "hostile_ring.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vhost_types.h>

#define PACKED_FEATURES (HV_RING_FEATURES | (1ull << VIRTIO_F_RING_PACKED))
#define BIG_MEM ((4ull << 30) + (16ull << 20))   /* sparse: only touched pages exist */
#define BIG_DATA (HV_GPA_BASE + (8ull << 20))

/* ---- set-up order, recovery ------------------------------------------------------ */

/* SET_VRING_ADDR before SET_MEM_TABLE: stored, checked when the ring starts. */
static int
r_addr_before_mem(struct hv *h)
{
	struct vhost_vring_addr a;
	struct hv_ring r;
	struct vfe_queue *q;
	int rc;

	if (hv_open(h, HV_PF_DEFAULT) < 0 || hv_features(h, HV_RING_FEATURES) < 0)
		return -1;
	rc = vfe_mem_init(&h->d, HV_MEM_SIZE, HV_GPA_BASE);
	if (rc == 0)
		rc = vfe_queue_init_local(&h->d, 0, HV_QSIZE, false);
	if (rc < 0)
		return hv_fail(h, "local set-up: %s", strerror(-rc));
	q = &h->d.queues[0];
	a = (struct vhost_vring_addr){.index = 0,
				      .desc_user_addr = (uint64_t)(uintptr_t)q->desc,
				      .avail_user_addr = (uint64_t)(uintptr_t)q->avail,
				      .used_user_addr = (uint64_t)(uintptr_t)q->used};
	if (hv_step(h, VFE_SET_VRING_ADDR, &a, sizeof(a), NULL, 0) < 0)
		return -1;
	if (vfe_set_mem_table(&h->d) < 0)
		return hv_fail(h, "SET_MEM_TABLE after SET_VRING_ADDR: %s", h->d.err);
	if (hv_queue_msgs(h, q, false) < 0 || hv_ring_finish_setup(h, &r) < 0 ||
	    hv_serves(&r, 0) < 0)
		return -1;
	return hv_did(h, "accepted SET_VRING_ADDR before SET_MEM_TABLE (checked at start) and "
		      "served I/O");
}

/*
 * A reconnect with a corrupt inflight region: entries 0 (a chain with a
 * buffer outside guest memory) and 1 (a good read) marked in flight, entry 5 with an
 * invalid mark. The backend drops 5, resubmits 0 and 1 and answers each.
 */
static int
r_inflight_corrupt(struct hv *h)
{
	struct {
		uint64_t mmap_size, mmap_offset;
		uint16_t num_queues, queue_size;
		uint8_t pad[4];
	} __attribute__((packed)) in = {.num_queues = 1, .queue_size = HV_QSIZE};
	struct vfe_msg_hdr hdr;
	struct hv_ring r;
	struct vfe_queue *q;
	uint8_t *reg = MAP_FAILED;
	int fd = -1, nfds = 1, rc = -1;
	uint16_t id;
	uint32_t len;

	if (hv_open(h, HV_PF_DEFAULT | (1ull << VFE_PROTOCOL_F_INFLIGHT_SHMFD)) < 0 ||
	    hv_features(h, HV_RING_FEATURES) < 0 || hv_memory(h) < 0)
		return -1;
	if (hv_send(h, VFE_GET_INFLIGHT_FD, &in, sizeof(in), NULL, 0) < 0)
		return -1;
	if (vfe_recv_msg(&h->d, &hdr, &in, sizeof(in), &fd, &nfds, HV_TIMEOUT_MS) < 0 ||
	    nfds != 1)
		return hv_fail(h, "GET_INFLIGHT_FD: no region");
	reg = mmap(NULL, in.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (reg == MAP_FAILED) {
		hv_fail(h, "mmap of the inflight region: %s", strerror(errno));
		goto out;
	}
	/* Split layout: {u64 features, u16 version, desc_num, last_batch_head, used_idx}. */
	uint16_t head16[4] = {1, HV_QSIZE, 0xffff, 0};

	memcpy(reg + 8, head16, sizeof(head16));
	for (int i = 0; i < 3; i++) {
		uint8_t *e = reg + 16 + 16 * (i == 2 ? 5 : i);
		uint64_t counter = 10 + (uint64_t)i;

		e[0] = i == 2 ? 9 : 1;
		memcpy(e + 8, &counter, sizeof(counter));
	}
	if (hv_step(h, VFE_SET_INFLIGHT_FD, &in, sizeof(in), &fd, 1) < 0)
		goto out;
	/* The rings as the previous backend left them: heads 0 and 1 taken, none used. */
	if (vfe_queue_init_local(&h->d, 0, HV_QSIZE, false) < 0) {
		hv_fail(h, "local queue set-up");
		goto out;
	}
	q = &h->d.queues[0];
	r.q = q;
	r.h = h;
	if (hv_alloc_req(h, &r.req[0]) < 0 || hv_alloc_req(h, &r.req[1]) < 0)
		goto out;
	/* Head 0: a malformed chain that can be answered (IOERR in descriptor 4). */
	vfe_split_write_desc(q, 0, HV_MEM_END, 64, HV_F_NEXT, 4);
	vfe_split_write_desc(q, 4, r.req[0].status_gpa, 1, HV_F_WRITE, 0);
	hv_set_hdr(&r.req[1], VIRTIO_BLK_T_IN, 8);
	vfe_split_write_desc(q, 1, r.req[1].hdr_gpa, 16, HV_F_NEXT, 2);
	vfe_split_write_desc(q, 2, r.req[1].data_gpa, 4096, HV_F_NEXT | HV_F_WRITE, 3);
	vfe_split_write_desc(q, 3, r.req[1].status_gpa, 1, HV_F_WRITE, 0);
	vfe_split_offer(q, 0);
	vfe_split_offer(q, 1);
	vfe_publish(q);
	if (hv_queue_msgs(h, q, true) < 0)
		goto out;
	bool got0 = false, got1 = false;

	for (int n = 0; n < 2; n++) {
		if (!hv_wait_used(&r, &id, &len, HV_TIMEOUT_MS)) {
			hv_fail(h, "only %d of the 2 recovered requests came back", n);
			goto out;
		}
		if (id == 0 && len == 1 && *r.req[0].status == VIRTIO_BLK_S_IOERR && !got0) {
			got0 = true;
		} else if (id == 1 && len == 4097 && *r.req[1].status == VIRTIO_BLK_S_OK && !got1) {
			got1 = true;
		} else {
			hv_fail(h, "recovered request came back as id %u len %u", id, len);
			goto out;
		}
	}
	if (hv_wait_used(&r, &id, &len, HV_QUIET_MS)) {
		hv_fail(h, "a request the region did not mark came back: id %u", id);
		goto out;
	}
	if (hv_serves(&r, HV_GOOD_HEAD) < 0)
		goto out;
	rc = hv_did(h, "dropped the invalid mark, resubmitted the 2 marked requests (bad chain: "
		    "IOERR, read: OK) and served new ones");
out:
	if (reg != MAP_FAILED)
		munmap(reg, in.mmap_size);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- packed rings ---------------------------------------------------------------- */

static struct vring_packed_desc
pdesc(uint64_t addr, uint32_t len, uint16_t id, uint16_t flags)
{
	return (struct vring_packed_desc){.addr = addr, .len = len, .id = id, .flags = flags};
}

static int
r_packed_desc_outside(struct hv *h)
{
	struct hv_ring r;
	struct vring_packed_desc c[3];

	if (hv_ring_start(h, &r, PACKED_FEATURES) < 0)
		return -1;
	hv_set_hdr(&r.req[0], VIRTIO_BLK_T_IN, 0);
	c[0] = pdesc(r.req[0].hdr_gpa, 16, 0, HV_F_NEXT);
	c[1] = pdesc(HV_MEM_END, 4096, 0, HV_F_NEXT | HV_F_WRITE);
	c[2] = pdesc(r.req[0].status_gpa, 1, 0, HV_F_WRITE);
	vfe_packed_add_raw(r.q, 0, c, 3);
	hv_go(&r);
	return hv_expect_status(&r, 0, VIRTIO_BLK_S_IOERR, 1);
}

static int
r_packed_read_after_write(struct hv *h)
{
	struct hv_ring r;
	struct vring_packed_desc c[3];

	if (hv_ring_start(h, &r, PACKED_FEATURES) < 0)
		return -1;
	hv_set_hdr(&r.req[0], VIRTIO_BLK_T_OUT, 0);
	memset(r.req[0].data, 0x5a, 4096);
	c[0] = pdesc(r.req[0].hdr_gpa, 16, 0, HV_F_NEXT);
	c[1] = pdesc(r.req[0].status_gpa, 1, 0, HV_F_NEXT | HV_F_WRITE);
	c[2] = pdesc(r.req[0].data_gpa, 4096, 0, 0);
	vfe_packed_add_raw(r.q, 0, c, 3);
	hv_go(&r);
	return hv_expect_ioerr_intact(&r, 0, r.req[0].data, 4096, 0x5a);
}

static int
r_packed_indirect_nested(struct hv *h)
{
	struct hv_ring r;
	struct vring_packed_desc *t, c;

	if (hv_ring_start(h, &r, PACKED_FEATURES) < 0)
		return -1;
	hv_set_hdr(&r.req[0], VIRTIO_BLK_T_IN, 0);
	t = (struct vring_packed_desc *)r.req[0].table;
	t[0] = pdesc(r.req[0].hdr_gpa, 16, 0, 0);
	t[1] = pdesc(r.req[0].table_gpa, 32, 0, HV_F_INDIRECT);
	t[2] = pdesc(r.req[0].status_gpa, 1, 0, HV_F_WRITE);
	c = pdesc(r.req[0].table_gpa, 3 * 16, 0, HV_F_INDIRECT);
	vfe_packed_add_raw(r.q, 0, &c, 1);
	hv_go(&r);
	/* The nested entry is stepped over: the status is still the last writable one. */
	return hv_expect_status(&r, 0, VIRTIO_BLK_S_IOERR, 1);
}

static int
r_packed_indirect_too_long(struct hv *h)
{
	struct hv_ring r;
	struct vring_packed_desc *t, c;

	if (hv_ring_start(h, &r, PACKED_FEATURES) < 0)
		return -1;
	hv_set_hdr(&r.req[0], VIRTIO_BLK_T_OUT, 0);
	t = (struct vring_packed_desc *)r.req[0].table;
	t[0] = pdesc(r.req[0].hdr_gpa, 16, 0, 0);
	for (uint16_t i = 1; i < 199; i++)
		t[i] = pdesc(r.req[0].data_gpa + 32u * i, 16, 0, 0);
	t[199] = pdesc(r.req[0].status_gpa, 1, 0, HV_F_WRITE);
	c = pdesc(r.req[0].table_gpa, 200 * 16, 0, HV_F_INDIRECT);
	vfe_packed_add_raw(r.q, 0, &c, 1);
	hv_go(&r);
	return hv_expect_status(&r, 0, VIRTIO_BLK_S_IOERR, 1);
}

/* A malformed packed chain whose only writable descriptor lies outside guest memory. */
static int
r_packed_no_status(struct hv *h)
{
	struct hv_ring r;
	struct vring_packed_desc c[3];

	if (hv_ring_start(h, &r, PACKED_FEATURES) < 0)
		return -1;
	hv_set_hdr(&r.req[0], VIRTIO_BLK_T_OUT, 0);
	c[0] = pdesc(r.req[0].hdr_gpa, 16, 0, HV_F_NEXT);
	c[1] = pdesc(r.req[0].data_gpa, 4096, 0, HV_F_NEXT);
	c[2] = pdesc(HV_MEM_END - 1, 2, 0, HV_F_WRITE);
	vfe_packed_add_raw(r.q, 0, c, 3);
	hv_go(&r);
	return hv_expect_broken(&r, 0);
}

/* Every descriptor of the ring chained (NEXT on all): longer than the queue. */
static int
r_packed_chain_too_long(struct hv *h)
{
	struct vring_packed_desc c[HV_QSIZE];
	struct hv_ring r;

	if (hv_ring_start(h, &r, PACKED_FEATURES) < 0)
		return -1;
	hv_set_hdr(&r.req[0], VIRTIO_BLK_T_OUT, 0);
	for (int i = 0; i < HV_QSIZE; i++)
		c[i] = pdesc(r.req[0].data_gpa + 16u * i, 16, 0, HV_F_NEXT);
	vfe_packed_add_raw(r.q, 0, c, HV_QSIZE);
	hv_go(&r);
	return hv_expect_broken(&r, 0);
}

static int
r_packed_id_out_of_range(struct hv *h)
{
	struct vring_packed_desc c[3];
	struct hv_ring r;

	if (hv_ring_start(h, &r, PACKED_FEATURES) < 0)
		return -1;
	hv_set_hdr(&r.req[0], VIRTIO_BLK_T_IN, 0);
	c[0] = pdesc(r.req[0].hdr_gpa, 16, HV_QSIZE, HV_F_NEXT);
	c[1] = pdesc(r.req[0].data_gpa, 4096, HV_QSIZE, HV_F_NEXT | HV_F_WRITE);
	c[2] = pdesc(r.req[0].status_gpa, 1, HV_QSIZE, HV_F_WRITE);
	vfe_packed_add_raw(r.q, HV_QSIZE, c, 3);
	hv_go(&r);
	return hv_expect_broken(&r, 0);
}

static int
r_packed_id_twice(struct hv *h)
{
	struct hv_ring r;

	if (hv_ring_start(h, &r, PACKED_FEATURES) < 0)
		return -1;
	hv_add_read(&r, &r.req[0], 0);
	hv_add_read(&r, &r.req[2], 0);
	hv_go(&r);
	return hv_expect_broken(&r, 1);
}

/* ---- guest memory that is huge, vanishes or keeps changing ----------------------- */

/* One descriptor of 4 GiB - 1 after the header: the chain's total passes 32 bits. */
static int
r_desc_total_overflow(struct hv *h)
{
	struct hv_ring r;
	struct hv_req *q;

	if (hv_ring_start_mem(h, &r, HV_RING_FEATURES, BIG_MEM) < 0)
		return -1;
	q = &r.req[0];
	hv_set_hdr(q, VIRTIO_BLK_T_IN, 0);
	struct vfe_buf b[3] = {hv_buf(q->hdr_gpa, 16, false), hv_buf(BIG_DATA, UINT32_MAX, true),
			       hv_buf(q->status_gpa, 1, true)};
	vfe_add_chain(r.q, 0, b, 3);
	hv_go(&r);
	return hv_expect_status(&r, 0, VIRTIO_BLK_S_IOERR, 1);
}

/* A read of 4 GiB - 4 KiB into valid guest memory: far beyond the capacity. */
static int
r_blk_read_4g(struct hv *h)
{
	struct hv_ring r;
	struct hv_req *q;

	if (hv_ring_start_mem(h, &r, HV_RING_FEATURES, BIG_MEM) < 0)
		return -1;
	q = &r.req[0];
	hv_set_hdr(q, VIRTIO_BLK_T_IN, 0);
	struct vfe_buf b[3] = {hv_buf(q->hdr_gpa, 16, false),
			       hv_buf(BIG_DATA, UINT32_MAX - 4095, true),
			       hv_buf(q->status_gpa, 1, true)};
	vfe_add_chain(r.q, 0, b, 3);
	hv_go(&r);
	return hv_expect_status(&r, 0, VIRTIO_BLK_S_IOERR, 1);
}

/*
 * The frontend shrinks the file behind guest memory to nothing while two
 * queues (one per poll group) run, with reads in flight: the backend's
 * next touch of the rings or the buffers hits pages that no longer exist.
 * From here on this process must not touch guest memory either.
 */
static int
r_mem_truncate(struct hv *h)
{
	struct hv_ring r, r1;
	uint64_t deadline, status = 0;
	int rc;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	rc = vfe_queue_setup(&h->d, 1, HV_QSIZE, false);
	if (rc < 0)
		return hv_fail(h, "queue 1 set-up: %s (%s)", h->d.err, strerror(-rc));
	r1 = r;   /* same request buffers, used one at a time */
	r1.q = &h->d.queues[1];
	if (hv_serves(&r, 0) < 0 || hv_serves(&r1, 0) < 0)
		return -1;
	hv_add_read(&r, &r.req[2], 4);
	hv_add_read(&r, &r.req[3], 8);
	hv_add_read(&r1, &r.req[0], 4);
	hv_go(&r);
	hv_go(&r1);
	if (ftruncate(h->d.mem_fd, 0) != 0)
		return hv_fail(h, "ftruncate: %s", strerror(errno));
	deadline = hv_now_ms() + HV_TIMEOUT_MS;
	do {
		vfe_kick(r.q);
		vfe_kick(r1.q);
		usleep(10000);
		if (hv_get_status(h, &status) < 0)
			return -1;
	} while (!(status & HV_STATUS_NEEDS_RESET) && hv_now_ms() < deadline);
	if (!(status & HV_STATUS_NEEDS_RESET))
		return hv_fail(h, "GET_STATUS answers 0x%llx, without NEEDS_RESET, after guest "
			       "memory was truncated", (unsigned long long)status);
	if (hv_expect_alive(h) < 0)
		return -1;
	return hv_did(h, "kept running after guest memory was truncated under two started queues "
		      "with reads in flight, stopped the rings (NEEDS_RESET) and kept the "
		      "connection");
}

/* ---- requests in flight at a stop or a disconnect -------------------------------- */

/*
 * GET_VRING_BASE with requests in flight: the answer comes only once every
 * request taken is back in the used ring, and the base counts exactly them.
 */
static int
r_get_base_mid_io(struct hv *h)
{
	struct hv_ring r;
	uint32_t base;
	int back = 0;
	uint16_t id;
	uint32_t len;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	hv_add_read(&r, &r.req[1], 0);
	hv_add_read(&r, &r.req[2], 4);
	hv_add_read(&r, &r.req[3], 8);
	hv_go(&r);
	/* Once the first is back the backend has taken all three (one batch). */
	if (!hv_wait_used(&r, &id, &len, HV_TIMEOUT_MS))
		return hv_fail(h, "no read completed");
	back = 1;
	if (vfe_queue_stop(&h->d, 0, &base) < 0)
		return hv_fail(h, "GET_VRING_BASE: %s", h->d.err);
	/* No waiting: the used ring must already hold what the base says was taken. */
	while (vfe_get_used(r.q, &id, &len)) {
		if (len != 4097 || *r.req[1 + id / 4].status != VIRTIO_BLK_S_OK)
			return hv_fail(h, "id %u came back with len %u", id, len);
		back++;
	}
	if (base != 3 || back != 3)
		return hv_fail(h, "GET_VRING_BASE answered %u with %d requests back in the used "
			       "ring", base, back);
	return hv_did(h, "answered GET_VRING_BASE (base %u) only after those %d requests were "
		      "back in the used ring", base, back);
}

/* Requests in flight when the frontend goes away. */
static int
r_close_mid_io(struct hv *h)
{
	struct hv_ring r;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	hv_add_read(&r, &r.req[1], 0);
	hv_add_read(&r, &r.req[2], 4);
	hv_set_hdr(&r.req[3], VIRTIO_BLK_T_OUT, 64);
	struct vfe_buf b[3] = {hv_buf(r.req[3].hdr_gpa, 16, false),
			       hv_buf(r.req[3].data_gpa, 8192, false),
			       hv_buf(r.req[3].status_gpa, 1, true)};
	vfe_add_chain(r.q, 8, b, 3);
	hv_go(&r);
	hv_close(h);
	return hv_did(h, "(nothing to observe: the connection was dropped with 3 requests in "
		      "flight)");
}

/*
 * Memory hot-plug at its most hostile: the table switches between one
 * region and the same memory as two regions 64 times while reads are in
 * flight; every read must complete correctly.
 */
static int
r_mem_table_churn(struct hv *h)
{
	struct {
		uint32_t n, pad;
		uint64_t r[2][4];
	} __attribute__((packed)) t;
	const uint16_t heads[3] = {0, 4, 8};
	struct hv_ring r;
	int fds[2], inflight = 0, done = 0;
	uint16_t id;
	uint32_t len;

	if (hv_ring_start(h, &r, HV_RING_FEATURES) < 0)
		return -1;
	fds[0] = fds[1] = h->d.mem_fd;
	for (int i = 0; i < 3; i++, inflight++)
		hv_add_read(&r, &r.req[1 + i], heads[i]);
	hv_go(&r);
	for (int round = 0; round < 64; round++) {
		uint64_t half = HV_MEM_SIZE / 2, uva = (uint64_t)(uintptr_t)h->d.mem;

		memset(&t, 0, sizeof(t));
		if (round % 2 == 0) {
			t.n = 2;
			t.r[0][0] = HV_GPA_BASE, t.r[0][1] = half, t.r[0][2] = uva, t.r[0][3] = 0;
			t.r[1][0] = HV_GPA_BASE + half, t.r[1][1] = half, t.r[1][2] = uva + half;
			t.r[1][3] = half;
		} else {
			t.n = 1;
			t.r[0][0] = HV_GPA_BASE, t.r[0][1] = HV_MEM_SIZE, t.r[0][2] = uva;
		}
		if (hv_step(h, VFE_SET_MEM_TABLE, &t, 8 + 32 * t.n, fds, (int)t.n) < 0)
			return -1;
		while (vfe_get_used(r.q, &id, &len)) {
			int k = id / 4;

			if (id % 4 != 0 || k > 2 || len != 4097 || *r.req[1 + k].status != 0)
				return hv_fail(h, "round %d: read id %u came back with len %u "
					       "status %u", round, id, len,
					       k <= 2 ? *r.req[1 + k].status : 0);
			done++;
			hv_add_read(&r, &r.req[1 + k], id);
			hv_go(&r);
		}
	}
	for (; inflight > 0; inflight--) {
		if (!hv_wait_used(&r, &id, &len, HV_TIMEOUT_MS))
			return hv_fail(h, "%d reads never completed after the table switches",
				       inflight);
		if (id % 4 != 0 || id / 4 > 2 || len != 4097 || *r.req[1 + id / 4].status != 0)
			return hv_fail(h, "read id %u came back with len %u", id, len);
		done++;
	}
	return hv_did(h, "switched memory tables 64 times under I/O; all %d reads completed OK",
		      done);
}

/* ---- the table ---------------------------------------------------------------------- */

const struct hv_scenario hv_memring_scenarios[] = {
	HV_SCENARIO("addr-before-mem", NULL, r_addr_before_mem),
	HV_SCENARIO("inflight-corrupt", "queue 0: resubmitting 2 request(s)", r_inflight_corrupt),
	HV_SCENARIO("packed-desc-outside", NULL, r_packed_desc_outside),
	HV_SCENARIO("packed-read-after-write", NULL, r_packed_read_after_write),
	HV_SCENARIO("packed-indirect-nested", NULL, r_packed_indirect_nested),
	HV_SCENARIO("packed-indirect-too-long", NULL, r_packed_indirect_too_long),
	HV_SCENARIO("packed-no-status",
	            "queue 0: ring broken (malformed chain without a writable status byte in "
	            "guest memory)",
	            r_packed_no_status),
	HV_SCENARIO("packed-chain-too-long",
	            "queue 0: ring broken (descriptor chain longer than the queue)",
	            r_packed_chain_too_long),
	HV_SCENARIO("packed-id-out-of-range", "queue 0: ring broken (buffer id out of range)",
	            r_packed_id_out_of_range),
	HV_SCENARIO("packed-id-twice",
	            "queue 0: ring broken (buffer id offered while already in flight)",
	            r_packed_id_twice),
	HV_SCENARIO("desc-total-overflow", NULL, r_desc_total_overflow),
	HV_SCENARIO("blk-read-4g", NULL, r_blk_read_4g),
	HV_SCENARIO("mem-truncate", "ring broken (guest memory truncated by the frontend)",
	            r_mem_truncate),
	HV_SCENARIO("close-mid-io", NULL, r_close_mid_io),
	HV_SCENARIO("get-base-mid-io", NULL, r_get_base_mid_io),
	HV_SCENARIO("mem-table-churn", NULL, r_mem_table_churn),
};
const size_t hv_memring_count = sizeof(hv_memring_scenarios) / sizeof(hv_memring_scenarios[0]);
