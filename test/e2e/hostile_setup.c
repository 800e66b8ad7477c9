/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hostile memory-table and ring set-up messages: memory tables that
 * overlap, overflow, lie about their files, have too many regions or a
 * sealed file, tables that drop a running ring's memory; ring addresses
 * outside guest memory, straddling its end, misaligned or guest-physical;
 * a ring size refused only when the ring starts; a kick fd epoll cannot
 * watch; the inflight region's geometry, seals and bounds; memory slots
 * (ADD/REM_MEM_REG) up to the 509-slot limit; feature changes under a
 * running ring; and disconnects in the middle of a ring start or a memory
 * switch.
 *
 * What spur does (lib/vhost/vhost_user_vring.c, vhost_mem.c,
 * vhost_inflight_fd.c, vhost_pg.c): every refusal is a failed REPLY_ACK
 * then a closed connection, logged as "<controller>: <MESSAGE>: <what>";
 * ring addresses are checked when the ring starts (SET_VRING_ENABLE with
 * PROTOCOL_FEATURES), so that message is the one refused.
 *
 * Threading: single-threaded.
 */
#include "hostile_vhost.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vhost_types.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#define MiB (1ull << 20)

struct mem_reg {
	uint64_t padding;
	struct hv_region r;
} __attribute__((packed));

struct inflight {
	uint64_t mmap_size, mmap_offset;
	uint16_t num_queues, queue_size;
	uint8_t padding[4];
};

/* ---- helpers ------------------------------------------------------------------------ */

static uint64_t
uva_of(const struct hv *h, uint64_t gpa)
{
	return (uint64_t)(uintptr_t)vfe_gpa_to_ptr(&h->d, gpa);
}

/* One region, fd = the guest memfd; must be refused (nack, close). */
static int
table_refused(struct hv *h, struct hv_region r)
{
	if (hv_open_mem_unshared(h) < 0 || hv_send_table(h, 1, &r, 1, &h->d.mem_fd, 1) < 0)
		return -1;
	return hv_expect_nack_close(h, VFE_SET_MEM_TABLE);
}

/*
 * Configure queue index (NUM unless num is 0, BASE, ADDR, CALL, KICK; each
 * acknowledged) with these ring addresses and kick fd (-1: an eventfd);
 * the queue starts at SET_VRING_ENABLE.
 */
static int
queue_config(struct hv *h, uint32_t index, uint32_t num, uint64_t desc, uint64_t avail,
	     uint64_t used, int kick_fd)
{
	struct vhost_vring_state st = {.index = index, .num = num};
	struct vhost_vring_addr a = {.index = index, .desc_user_addr = desc,
				     .avail_user_addr = avail, .used_user_addr = used};
	int call = hv_new_eventfd(h), rc = -1;
	int kick = kick_fd >= 0 ? dup(kick_fd) : hv_new_eventfd(h);
	uint64_t v = index;

	if (call >= 0 && kick >= 0 &&
	    (num == 0 || hv_step(h, VFE_SET_VRING_NUM, &st, sizeof(st), NULL, 0) == 0)) {
		st.num = 0;
		if (hv_step(h, VFE_SET_VRING_BASE, &st, sizeof(st), NULL, 0) == 0 &&
		    hv_step(h, VFE_SET_VRING_ADDR, &a, sizeof(a), NULL, 0) == 0 &&
		    hv_step(h, VFE_SET_VRING_CALL, &v, sizeof(v), &call, 1) == 0 &&
		    hv_step(h, VFE_SET_VRING_KICK, &v, sizeof(v), &kick, 1) == 0)
			rc = 0;
	}
	if (call >= 0)
		close(call);
	if (kick >= 0)
		close(kick);
	return rc;
}

/* Queue index is configured with these rings; SET_VRING_ENABLE must be refused. */
static int
start_refused_kick(struct hv *h, uint32_t index, uint64_t desc, uint64_t avail, uint64_t used,
		   int kick_fd)
{
	struct vhost_vring_state en = {.index = index, .num = 1};

	if (queue_config(h, index, HV_QSIZE, desc, avail, used, kick_fd) < 0)
		return -1;
	return hv_send_nack_close(h, VFE_SET_VRING_ENABLE, &en, sizeof(en), NULL, 0);
}

static int
start_refused(struct hv *h, uint64_t desc, uint64_t avail, uint64_t used)
{
	return start_refused_kick(h, 0, desc, avail, used, -1);
}

/* Rings for HV_QSIZE entries in guest memory, as frontend addresses. */
static int
alloc_rings(struct hv *h, uint64_t *desc, uint64_t *avail, uint64_t *used)
{
	if (vfe_mem_alloc(&h->d, 16 * HV_QSIZE, 4096, desc) == NULL ||
	    vfe_mem_alloc(&h->d, 6 + 2 * HV_QSIZE, 4096, avail) == NULL ||
	    vfe_mem_alloc(&h->d, 6 + 8 * HV_QSIZE, 4096, used) == NULL)
		return hv_fail(h, "guest memory too small");
	*desc = uva_of(h, *desc);
	*avail = uva_of(h, *avail);
	*used = uva_of(h, *used);
	return 0;
}

/* ---- ring sizes, memory tables --------------------------------------------------- */

/* Size 100 before SET_FEATURES (unknown layout yet): refused when the ring starts. */
static int
p_ring_size_npot_late(struct hv *h)
{
	struct vhost_vring_state st = {.index = 0, .num = 100}, en = {.index = 0, .num = 1};
	uint64_t desc, avail, used;

	if (hv_open_default(h) < 0 || hv_step(h, VFE_SET_VRING_NUM, &st, sizeof(st), NULL, 0) < 0 ||
	    hv_features(h, HV_SPLIT_FEATURES) < 0 || hv_memory(h) < 0)
		return -1;
	if (vfe_mem_alloc(&h->d, 16 * 128, 4096, &desc) == NULL ||
	    vfe_mem_alloc(&h->d, 6 + 2 * 128, 4096, &avail) == NULL ||
	    vfe_mem_alloc(&h->d, 6 + 8 * 128, 4096, &used) == NULL)
		return hv_fail(h, "guest memory too small");
	/* NUM is not sent again: now that the layout is known it would be refused. */
	if (queue_config(h, 0, 0, uva_of(h, desc), uva_of(h, avail), uva_of(h, used), -1) < 0)
		return -1;
	return hv_send_nack_close(h, VFE_SET_VRING_ENABLE, &en, sizeof(en), NULL, 0);
}

static int
p_mem_overlap_gpa(struct hv *h)
{
	struct hv_region r[2];
	int fds[2];

	if (hv_open_mem_unshared(h) < 0)
		return -1;
	r[0] = (struct hv_region){HV_GPA_BASE, 4 * MiB, (uint64_t)(uintptr_t)h->d.mem, 0};
	r[1] = (struct hv_region){HV_GPA_BASE + 2 * MiB, 4 * MiB,
			       (uint64_t)(uintptr_t)h->d.mem + 4 * MiB, 4 * MiB};
	fds[0] = fds[1] = h->d.mem_fd;
	if (hv_send_table(h, 2, r, 2, fds, 2) < 0)
		return -1;
	return hv_expect_nack_close(h, VFE_SET_MEM_TABLE);
}

static int
p_mem_overlap_uva(struct hv *h)
{
	struct hv_region r[2];
	int fds[2];

	if (hv_open_mem_unshared(h) < 0)
		return -1;
	r[0] = (struct hv_region){HV_GPA_BASE, 4 * MiB, (uint64_t)(uintptr_t)h->d.mem, 0};
	r[1] = (struct hv_region){HV_GPA_BASE + 4 * MiB, 4 * MiB,
			       (uint64_t)(uintptr_t)h->d.mem + 2 * MiB, 4 * MiB};
	fds[0] = fds[1] = h->d.mem_fd;
	if (hv_send_table(h, 2, r, 2, fds, 2) < 0)
		return -1;
	return hv_expect_nack_close(h, VFE_SET_MEM_TABLE);
}

static int
p_mem_zero_size(struct hv *h)
{
	struct hv_region r = {HV_GPA_BASE, 0, 0x7f0000000000ull, 0};

	return table_refused(h, r);
}

static int
p_mem_offset_overflow(struct hv *h)
{
	struct hv_region r = {HV_GPA_BASE, HV_MEM_SIZE, 0x7f0000000000ull, UINT64_MAX - 4095};

	return table_refused(h, r);
}

static int
p_mem_gpa_overflow(struct hv *h)
{
	struct hv_region r = {UINT64_MAX - 4095, HV_MEM_SIZE, 0x7f0000000000ull, 0};

	return table_refused(h, r);
}

static int
p_mem_past_eof(struct hv *h)
{
	struct hv_region r = {HV_GPA_BASE, HV_MEM_SIZE, 0x7f0000000000ull, 4096};

	return table_refused(h, r);
}

static int
p_mem_size_huge(struct hv *h)
{
	struct hv_region r = {HV_GPA_BASE, 1ull << 62, 0x7f0000000000ull, 0};

	return table_refused(h, r);
}

static int
p_mem_regions_9(struct hv *h)
{
	struct hv_region r[8];
	int fds[8];

	if (hv_open_mem_unshared(h) < 0)
		return -1;
	for (int i = 0; i < 8; i++) {
		r[i] = (struct hv_region){HV_GPA_BASE + (uint64_t)i * MiB, MiB,
				       (uint64_t)(uintptr_t)h->d.mem + (uint64_t)i * MiB,
				       (uint64_t)i * MiB};
		fds[i] = h->d.mem_fd;
	}
	if (hv_send_table(h, 9, r, 8, fds, 8) < 0)
		return -1;
	return hv_expect_nack_close(h, VFE_SET_MEM_TABLE);
}

static int
p_mem_regions_huge(struct hv *h)
{
	struct hv_region r;

	if (hv_open_mem_unshared(h) < 0)
		return -1;
	r = hv_whole_region(h);
	if (hv_send_table(h, UINT32_MAX, &r, 1, &h->d.mem_fd, 1) < 0)
		return -1;
	return hv_expect_nack_close(h, VFE_SET_MEM_TABLE);
}

static int
p_mem_payload_9(struct hv *h)
{
	struct hv_region r[9];
	int fds[8];

	if (hv_open_mem_unshared(h) < 0)
		return -1;
	for (int i = 0; i < 9; i++)
		r[i] = (struct hv_region){HV_GPA_BASE + (uint64_t)i * MiB / 2, MiB / 2,
				       (uint64_t)(uintptr_t)h->d.mem + (uint64_t)i * MiB / 2,
				       (uint64_t)i * MiB / 2};
	for (int i = 0; i < 8; i++)
		fds[i] = h->d.mem_fd;
	if (hv_send_table(h, 9, r, 9, fds, 8) < 0)
		return -1;
	return hv_expect_close(h);
}

static int
p_mem_payload_mismatch(struct hv *h)
{
	struct hv_region r;

	if (hv_open_mem_unshared(h) < 0)
		return -1;
	r = hv_whole_region(h);
	if (hv_send_table(h, 2, &r, 1, &h->d.mem_fd, 1) < 0)
		return -1;
	return hv_expect_nack_close(h, VFE_SET_MEM_TABLE);
}

static int
p_mem_not_a_file(struct hv *h)
{
	struct hv_region r;
	int fd, rc;

	if (hv_open_mem_unshared(h) < 0 || (fd = hv_new_eventfd(h)) < 0)
		return -1;
	r = hv_whole_region(h);
	rc = hv_send_table(h, 1, &r, 1, &fd, 1);
	close(fd);
	if (rc < 0)
		return -1;
	return hv_expect_nack_close(h, VFE_SET_MEM_TABLE);
}

/* An empty table is legal; a ring cannot start in it. */
static int
p_mem_empty(struct hv *h)
{
	uint64_t desc, avail, used;

	if (hv_open_mem_unshared(h) < 0 || hv_send_table(h, 0, NULL, 0, NULL, 0) < 0 ||
	    hv_expect_ack(h, VFE_SET_MEM_TABLE) < 0)
		return -1;
	if (vfe_mem_alloc(&h->d, 16 * HV_QSIZE, 4096, &desc) == NULL ||
	    vfe_mem_alloc(&h->d, 6 + 2 * HV_QSIZE, 4096, &avail) == NULL ||
	    vfe_mem_alloc(&h->d, 6 + 8 * HV_QSIZE, 4096, &used) == NULL)
		return hv_fail(h, "guest memory too small");
	return start_refused(h, uva_of(h, desc), uva_of(h, avail), uva_of(h, used));
}

/* A running ring whose memory a new table drops. */
static int
p_mem_drops_ring(struct hv *h)
{
	int fd = memfd_create("hostile_other", MFD_CLOEXEC), rc = -1;
	void *other = MAP_FAILED;
	struct hv_region r;

	if (fd < 0)
		return hv_fail(h, "memfd_create: %s", strerror(errno));
	if (hv_open_mem_unshared(h) < 0 || hv_memory(h) < 0 || vfe_queue_setup(&h->d, 0, HV_QSIZE,
									     false) < 0) {
		hv_fail(h, "queue set-up: %s", h->d.err);
		goto out;
	}
	if (ftruncate(fd, (off_t)MiB) != 0 ||
	    (other = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		hv_fail(h, "second memory: %s", strerror(errno));
		goto out;
	}
	r = (struct hv_region){HV_GPA_BASE, MiB, (uint64_t)(uintptr_t)other, 0};
	if (hv_send_table(h, 1, &r, 1, &fd, 1) == 0)
		rc = hv_expect_nack_close(h, VFE_SET_MEM_TABLE);
out:
	if (other != MAP_FAILED)
		munmap(other, MiB);
	close(fd);
	return rc;
}

/* A memfd sealed against writing cannot be mapped writable. */
static int
p_mem_sealed_write(struct hv *h)
{
	struct hv_region r = {HV_GPA_BASE, HV_MEM_SIZE, 0x7f0000000000ull, 0};
	int fd = memfd_create("hostile_sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING), rc;

	if (fd < 0 || ftruncate(fd, (off_t)HV_MEM_SIZE) != 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) != 0) {
		rc = hv_fail(h, "sealed memfd: %s", strerror(errno));
	} else if (hv_open_default(h) < 0 || hv_features(h, HV_SPLIT_FEATURES) < 0 ||
		   hv_send_table(h, 1, &r, 1, &fd, 1) < 0) {
		rc = -1;
	} else {
		rc = hv_expect_nack_close(h, VFE_SET_MEM_TABLE);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- ring addresses and kick fds ------------------------------------------------- */

static int
p_ring_outside_mem(struct hv *h)
{
	uint64_t avail, used;

	if (hv_open_mem_unshared(h) < 0 || hv_memory(h) < 0)
		return -1;
	if (vfe_mem_alloc(&h->d, 6 + 2 * HV_QSIZE, 4096, &avail) == NULL ||
	    vfe_mem_alloc(&h->d, 6 + 8 * HV_QSIZE, 4096, &used) == NULL)
		return hv_fail(h, "guest memory too small");
	/* The descriptor table one page past the end of guest memory. */
	return start_refused(h, (uint64_t)(uintptr_t)h->d.mem + HV_MEM_SIZE + 4096,
			     uva_of(h, avail), uva_of(h, used));
}

static int
p_ring_straddles_end(struct hv *h)
{
	uint64_t desc, avail;

	if (hv_open_mem_unshared(h) < 0 || hv_memory(h) < 0)
		return -1;
	if (vfe_mem_alloc(&h->d, 16 * HV_QSIZE, 4096, &desc) == NULL ||
	    vfe_mem_alloc(&h->d, 6 + 2 * HV_QSIZE, 4096, &avail) == NULL)
		return hv_fail(h, "guest memory too small");
	/* The used ring starts 8 bytes before the end: its 132 bytes run past it. */
	return start_refused(h, uva_of(h, desc), uva_of(h, avail),
			     (uint64_t)(uintptr_t)h->d.mem + HV_MEM_SIZE - 8);
}

static int
p_ring_gpa_as_uva(struct hv *h)
{
	uint64_t desc, avail, used;

	if (hv_open_mem_unshared(h) < 0 || hv_memory(h) < 0)
		return -1;
	if (vfe_mem_alloc(&h->d, 16 * HV_QSIZE, 4096, &desc) == NULL ||
	    vfe_mem_alloc(&h->d, 6 + 2 * HV_QSIZE, 4096, &avail) == NULL ||
	    vfe_mem_alloc(&h->d, 6 + 8 * HV_QSIZE, 4096, &used) == NULL)
		return hv_fail(h, "guest memory too small");
	if (desc - HV_GPA_BASE + (uint64_t)(uintptr_t)h->d.mem == desc)
		return hv_fail(h, "test bug: guest memory mapped at its own gpa");
	/* Guest-physical addresses where the frontend's virtual ones belong. */
	return start_refused(h, desc, avail, used);
}

static int
p_ring_misaligned(struct hv *h)
{
	uint64_t desc, avail, used;

	if (hv_open_mem_unshared(h) < 0 || hv_memory(h) < 0)
		return -1;
	if (vfe_mem_alloc(&h->d, 16 * HV_QSIZE + 8, 4096, &desc) == NULL ||
	    vfe_mem_alloc(&h->d, 6 + 2 * HV_QSIZE, 4096, &avail) == NULL ||
	    vfe_mem_alloc(&h->d, 6 + 8 * HV_QSIZE, 4096, &used) == NULL)
		return hv_fail(h, "guest memory too small");
	return start_refused(h, uva_of(h, desc) + 8, uva_of(h, avail), uva_of(h, used));
}

/* A kick "eventfd" that is a regular file: epoll refuses it when the ring starts. */
static int
p_kick_not_pollable(struct hv *h)
{
	uint64_t desc, avail, used;
	int fd = memfd_create("hostile_kick", MFD_CLOEXEC), rc;

	if (fd < 0)
		return hv_fail(h, "memfd_create: %s", strerror(errno));
	if (hv_open_mem_unshared(h) < 0 || hv_memory(h) < 0 ||
	    alloc_rings(h, &desc, &avail, &used) < 0)
		rc = -1;
	else
		rc = start_refused_kick(h, 0, desc, avail, used, fd);
	close(fd);
	return rc;
}

/* ---- running rings and abrupt ends ----------------------------------------------- */

/* Every set-up message of a ring sent at once, then the connection dropped. */
static int
p_close_during_start(struct hv *h)
{
	struct vhost_vring_state st = {.index = 0, .num = HV_QSIZE};
	struct vhost_vring_addr a = {.index = 0};
	uint64_t desc, avail, used, v = 0;
	int call, kick, rc = 0;

	if (hv_open_mem_unshared(h) < 0 || hv_memory(h) < 0 ||
	    alloc_rings(h, &desc, &avail, &used) < 0)
		return -1;
	a.desc_user_addr = desc;
	a.avail_user_addr = avail;
	a.used_user_addr = used;
	call = hv_new_eventfd(h);
	kick = hv_new_eventfd(h);
	if (call < 0 || kick < 0)
		return -1;
	rc |= hv_send(h, VFE_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
	st.num = 0;
	rc |= hv_send(h, VFE_SET_VRING_BASE, &st, sizeof(st), NULL, 0);
	rc |= hv_send(h, VFE_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	rc |= hv_send(h, VFE_SET_VRING_CALL, &v, sizeof(v), &call, 1);
	rc |= hv_send(h, VFE_SET_VRING_KICK, &v, sizeof(v), &kick, 1);
	st.num = 1;
	rc |= hv_send(h, VFE_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0);
	close(call);
	close(kick);
	hv_close(h);
	if (rc != 0)
		return -1;
	return hv_did(h, "(nothing to observe: the connection was dropped while the ring started)");
}

/* SET_MEM_TABLE under a running ring, and the connection dropped before its ack. */
static int
p_close_during_mem_switch(struct hv *h)
{
	struct hv_region r;

	if (hv_open_mem_unshared(h) < 0 || hv_memory(h) < 0)
		return -1;
	if (vfe_queue_setup(&h->d, 0, HV_QSIZE, false) < 0)
		return hv_fail(h, "queue set-up: %s", h->d.err);
	r = hv_whole_region(h);
	if (hv_send_table(h, 1, &r, 1, &h->d.mem_fd, 1) < 0)
		return -1;
	hv_close(h);
	return hv_did(h, "(nothing to observe: the connection was dropped while a running ring "
		      "switched memory tables)");
}

static int
p_features_change_running(struct hv *h)
{
	uint64_t v;

	if (hv_open_mem_unshared(h) < 0 || hv_memory(h) < 0)
		return -1;
	if (vfe_queue_setup(&h->d, 0, HV_QSIZE, false) < 0)
		return hv_fail(h, "queue set-up: %s", h->d.err);
	v = h->d.features ^ (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	return hv_send_nack_close(h, VFE_SET_FEATURES, &v, sizeof(v), NULL, 0);
}

/* ---- inflight region ------------------------------------------------------------- */

static int
p_pf_not_negotiated(struct hv *h)
{
	struct inflight in = {.num_queues = 1, .queue_size = HV_QSIZE};

	if (hv_open_default(h) < 0)
		return -1;
	/* GET_INFLIGHT_FD has its own reply: refused by closing. */
	return hv_send_close(h, VFE_GET_INFLIGHT_FD, &in, sizeof(in), NULL, 0);
}

/* GET_INFLIGHT_FD for nq queues of qs entries: the region's fd and size. */
static int
get_inflight_geo(struct hv *h, uint16_t nq, uint16_t qs, int *fd, uint64_t *size)
{
	struct inflight in = {.num_queues = nq, .queue_size = qs}, out;
	struct vfe_msg_hdr hdr;
	int fds[1], nfds = 1, rc;

	if (hv_send(h, VFE_GET_INFLIGHT_FD, &in, sizeof(in), NULL, 0) < 0)
		return -1;
	rc = vfe_recv_msg(&h->d, &hdr, &out, sizeof(out), fds, &nfds, HV_TIMEOUT_MS);
	if (rc < 0)
		return hv_fail(h, "GET_INFLIGHT_FD: %s", strerror(-rc));
	if (nfds != 1 || hdr.request != VFE_GET_INFLIGHT_FD || hdr.size < 20) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return hv_fail(h, "GET_INFLIGHT_FD: reply of %u bytes with %d fds", hdr.size, nfds);
	}
	*fd = fds[0];
	*size = out.mmap_size;
	return 0;
}

static int
get_inflight(struct hv *h, int *fd, uint64_t *size)
{
	return get_inflight_geo(h, 1, HV_QSIZE, fd, size);
}

/* Negotiated with INFLIGHT_SHMFD, memory shared, the region of nq x qs handed back. */
static int
open_with_region(struct hv *h, uint16_t nq, uint16_t qs)
{
	struct inflight in = {.num_queues = nq, .queue_size = qs};
	int fd, rc;

	if (hv_open(h, HV_PF_INFLIGHT) < 0 || hv_features(h, HV_SPLIT_FEATURES) < 0 ||
	    hv_memory(h) < 0 || get_inflight_geo(h, nq, qs, &fd, &in.mmap_size) < 0)
		return -1;
	rc = hv_step(h, VFE_SET_INFLIGHT_FD, &in, sizeof(in), &fd, 1);
	close(fd);
	return rc;
}

/* A region for 8-entry rings, a ring of HV_QSIZE: refused when it starts. */
static int
p_inflight_small(struct hv *h)
{
	uint64_t desc, avail, used;

	if (open_with_region(h, 1, HV_QSIZE / 2) < 0 || alloc_rings(h, &desc, &avail, &used) < 0)
		return -1;
	return start_refused(h, desc, avail, used);
}

/* A region for one queue, queue 1 started. */
static int
p_inflight_queue_beyond(struct hv *h)
{
	uint64_t desc, avail, used;

	if (open_with_region(h, 1, HV_QSIZE) < 0 || alloc_rings(h, &desc, &avail, &used) < 0)
		return -1;
	return start_refused_kick(h, 1, desc, avail, used, -1);
}

static int
p_inflight_while_running(struct hv *h)
{
	struct inflight in = {.num_queues = 1, .queue_size = HV_QSIZE};
	int fd, rc;

	if (hv_open(h, HV_PF_INFLIGHT) < 0 || hv_features(h, HV_SPLIT_FEATURES) < 0 ||
	    hv_memory(h) < 0)
		return -1;
	if (vfe_queue_setup(&h->d, 0, HV_QSIZE, false) < 0)
		return hv_fail(h, "queue set-up: %s", h->d.err);
	if (get_inflight(h, &fd, &in.mmap_size) < 0)
		return -1;
	rc = hv_send_nack_close(h, VFE_SET_INFLIGHT_FD, &in, sizeof(in), &fd, 1);
	close(fd);
	return rc;
}

static int
p_inflight_geometry(struct hv *h)
{
	struct inflight in = {.num_queues = 0, .queue_size = HV_QSIZE};

	if (hv_open(h, HV_PF_INFLIGHT) < 0)
		return -1;
	return hv_send_close(h, VFE_GET_INFLIGHT_FD, &in, sizeof(in), NULL, 0);
}

static int
p_inflight_queue_size(struct hv *h)
{
	struct inflight in = {.num_queues = 1, .queue_size = 2048};

	if (hv_open(h, HV_PF_INFLIGHT) < 0)
		return -1;
	return hv_send_close(h, VFE_GET_INFLIGHT_FD, &in, sizeof(in), NULL, 0);
}

/* SET_INFLIGHT_FD with the genuine region but these values, or a plain memfd. */
static int
set_inflight_refused(struct hv *h, uint64_t size, uint64_t offset, bool unsealed)
{
	struct inflight in = {.mmap_offset = offset, .num_queues = 1, .queue_size = HV_QSIZE};
	uint64_t real = 0;
	int fd = -1, rc;

	if (hv_open(h, HV_PF_INFLIGHT) < 0 || get_inflight(h, &fd, &real) < 0)
		return -1;
	in.mmap_size = size != 0 ? size : real;
	if (unsealed) {
		close(fd);
		fd = memfd_create("hostile_inflight", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, (off_t)real) != 0)
			return hv_fail(h, "memfd: %s", strerror(errno));
	}
	rc = hv_send_nack_close(h, VFE_SET_INFLIGHT_FD, &in, sizeof(in), &fd, 1);
	close(fd);
	return rc;
}

static int
p_inflight_unsealed(struct hv *h)
{
	return set_inflight_refused(h, 0, 0, true);
}

static int
p_inflight_size(struct hv *h)
{
	return set_inflight_refused(h, 1ull << 40, 0, false);
}

static int
p_inflight_offset(struct hv *h)
{
	return set_inflight_refused(h, 0, 100, false);
}

static int
p_inflight_past_eof(struct hv *h)
{
	return set_inflight_refused(h, 0, 4096, false);
}

/* ---- memory slots ---------------------------------------------------------------- */

static int
open_slots(struct hv *h)
{
	if (hv_open(h, HV_PF_SLOTS) < 0 || hv_features(h, HV_SPLIT_FEATURES) < 0 ||
	    hv_memory(h) < 0)
		return -1;
	if (!(h->d.protocol_features & (1ull << VFE_PROTOCOL_F_CONFIGURE_MEM_SLOTS)))
		return hv_fail(h, "the backend does not offer CONFIGURE_MEM_SLOTS");
	return 0;
}

static int
p_add_reg_overlap(struct hv *h)
{
	struct mem_reg m;

	if (open_slots(h) < 0)
		return -1;
	m = (struct mem_reg){0, {HV_GPA_BASE + 4 * MiB, 4 * MiB,
				 (uint64_t)(uintptr_t)h->d.mem + HV_MEM_SIZE, 0}};
	return hv_send_nack_close(h, VFE_ADD_MEM_REG, &m, sizeof(m), &h->d.mem_fd, 1);
}

static int
p_add_reg_no_fd(struct hv *h)
{
	struct mem_reg m;

	if (open_slots(h) < 0)
		return -1;
	m = (struct mem_reg){0, {HV_GPA_BASE + HV_MEM_SIZE, MiB, 0x7f0000000000ull, 0}};
	return hv_send_nack_close(h, VFE_ADD_MEM_REG, &m, sizeof(m), NULL, 0);
}

static int
p_rem_reg_unknown(struct hv *h)
{
	struct mem_reg m;

	if (open_slots(h) < 0)
		return -1;
	m = (struct mem_reg){0, {HV_GPA_BASE + 64 * MiB, 4096, 0x1000, 0}};
	return hv_send_nack_close(h, VFE_REM_MEM_REG, &m, sizeof(m), NULL, 0);
}

static int
p_rem_reg_ring(struct hv *h)
{
	struct mem_reg m;

	if (open_slots(h) < 0)
		return -1;
	if (vfe_queue_setup(&h->d, 0, HV_QSIZE, false) < 0)
		return hv_fail(h, "queue set-up: %s", h->d.err);
	m = (struct mem_reg){0, hv_whole_region(h)};
	return hv_send_nack_close(h, VFE_REM_MEM_REG, &m, sizeof(m), NULL, 0);
}

/* Fill every memory slot (509 one-page regions), then one more. */
static int
p_mem_slots_full(struct hv *h)
{
	uint64_t slots;
	struct mem_reg m;
	uint32_t i;

	if (hv_open(h, HV_PF_SLOTS) < 0 || hv_features(h, HV_SPLIT_FEATURES) < 0)
		return -1;
	if (vfe_request_u64(&h->d, VFE_GET_MAX_MEM_SLOTS, NULL, 0, &slots) < 0)
		return hv_fail(h, "GET_MAX_MEM_SLOTS: %s", h->d.err);
	if (slots == 0 || slots > 4096)
		return hv_fail(h, "GET_MAX_MEM_SLOTS answered %llu", (unsigned long long)slots);
	if (vfe_mem_init(&h->d, (slots + 1) * 4096, HV_GPA_BASE) < 0)
		return hv_fail(h, "guest memory");
	for (i = 0; i <= slots; i++) {
		uint64_t off = (uint64_t)i * 4096;

		m = (struct mem_reg){0, {HV_GPA_BASE + off, 4096,
					 (uint64_t)(uintptr_t)h->d.mem + off, off}};
		if (hv_send(h, VFE_ADD_MEM_REG, &m, sizeof(m), &h->d.mem_fd, 1) < 0)
			return -1;
		if (i < slots && hv_expect_ack(h, VFE_ADD_MEM_REG) < 0)
			return -1;
	}
	if (hv_expect_nack_close(h, VFE_ADD_MEM_REG) < 0)
		return -1;
	return hv_did(h, "accepted %llu regions, refused region %llu (failed ack, closed)",
		      (unsigned long long)slots, (unsigned long long)slots + 1);
}

/* ---- the table ---------------------------------------------------------------------- */

const struct hv_scenario hv_setup_scenarios[] = {
	HV_SCENARIO("ring-size-npot-late",
	            "SET_VRING_ENABLE: queue 0: ring size 100 is not a power of two",
	            p_ring_size_npot_late),
	HV_SCENARIO("mem-overlap-gpa", "SET_MEM_TABLE: regions overlap in guest memory",
	            p_mem_overlap_gpa),
	HV_SCENARIO("mem-overlap-uva", "SET_MEM_TABLE: regions overlap in frontend addresses",
	            p_mem_overlap_uva),
	HV_SCENARIO("mem-zero-size", "SET_MEM_TABLE: region 0 has size 0", p_mem_zero_size),
	HV_SCENARIO("mem-offset-overflow", "overflows 64 bits", p_mem_offset_overflow),
	HV_SCENARIO("mem-gpa-overflow", "overflows 64 bits", p_mem_gpa_overflow),
	HV_SCENARIO("mem-past-eof", "is past the end of its file", p_mem_past_eof),
	HV_SCENARIO("mem-size-huge", "is past the end of its file", p_mem_size_huge),
	HV_SCENARIO("mem-regions-9", "SET_MEM_TABLE: 9 regions (at most 8)", p_mem_regions_9),
	HV_SCENARIO("mem-regions-huge", "SET_MEM_TABLE: 4294967295 regions (at most 8)",
	            p_mem_regions_huge),
	HV_SCENARIO("mem-payload-9", "SET_MEM_TABLE: payload of 296 bytes (expected 8..264)",
	            p_mem_payload_9),
	HV_SCENARIO("mem-payload-mismatch", "SET_MEM_TABLE: payload of 40 bytes for 2 regions",
	            p_mem_payload_mismatch),
	HV_SCENARIO("mem-not-a-file", "fd is not a regular file or memfd", p_mem_not_a_file),
	HV_SCENARIO("mem-empty", "SET_VRING_ENABLE: queue 0: split ring area outside guest memory",
	            p_mem_empty),
	HV_SCENARIO("mem-drops-ring",
	            "SET_MEM_TABLE: queue 0: split ring area outside guest memory",
	            p_mem_drops_ring),
	HV_SCENARIO("ring-outside-mem",
	            "SET_VRING_ENABLE: queue 0: split ring area outside guest memory",
	            p_ring_outside_mem),
	HV_SCENARIO("ring-straddles-end",
	            "SET_VRING_ENABLE: queue 0: split ring area outside guest memory",
	            p_ring_straddles_end),
	HV_SCENARIO("ring-gpa-as-uva",
	            "SET_VRING_ENABLE: queue 0: split ring area outside guest memory",
	            p_ring_gpa_as_uva),
	HV_SCENARIO("ring-misaligned", "SET_VRING_ENABLE: queue 0: split ring area misaligned",
	            p_ring_misaligned),
	HV_SCENARIO("pf-not-negotiated",
	            "GET_INFLIGHT_FD: needs protocol feature 12, not negotiated",
	            p_pf_not_negotiated),
	HV_SCENARIO("inflight-geometry", "GET_INFLIGHT_FD: 0 queues (the device has 64)",
	            p_inflight_geometry),
	HV_SCENARIO("inflight-queue-size", "GET_INFLIGHT_FD: queue size 2048 is not in 1..1024",
	            p_inflight_queue_size),
	HV_SCENARIO("inflight-unsealed",
	            "SET_INFLIGHT_FD: the region is not a memfd sealed against shrinking",
	            p_inflight_unsealed),
	HV_SCENARIO("inflight-size",
	            "SET_INFLIGHT_FD: size 1099511627776 does not fit 1 queues of 16",
	            p_inflight_size),
	HV_SCENARIO("inflight-offset", "SET_INFLIGHT_FD: offset 0x64 is not page aligned",
	            p_inflight_offset),
	HV_SCENARIO("inflight-past-eof",
	            "SET_INFLIGHT_FD: the fd is not a file covering offset + size",
	            p_inflight_past_eof),
	HV_SCENARIO("add-reg-overlap", "ADD_MEM_REG: regions overlap in guest memory",
	            p_add_reg_overlap),
	HV_SCENARIO("add-reg-no-fd", "ADD_MEM_REG: 0 file descriptors (expected 1..1)",
	            p_add_reg_no_fd),
	HV_SCENARIO("rem-reg-unknown", "REM_MEM_REG: no region at gpa", p_rem_reg_unknown),
	HV_SCENARIO("rem-reg-ring", "REM_MEM_REG: queue 0: split ring area outside guest memory",
	            p_rem_reg_ring),
	HV_SCENARIO("mem-slots-full", "ADD_MEM_REG: table full (509 regions)", p_mem_slots_full),
	HV_SCENARIO("inflight-small",
	            "SET_VRING_ENABLE: queue 0: the inflight region does not match the ring "
	            "(version or size)",
	            p_inflight_small),
	HV_SCENARIO("inflight-queue-beyond",
	            "SET_VRING_ENABLE: queue 1: the queue is beyond the inflight region",
	            p_inflight_queue_beyond),
	HV_SCENARIO("inflight-while-running", "SET_INFLIGHT_FD: queue 0 is running",
	            p_inflight_while_running),
	HV_SCENARIO("mem-sealed-write",
	            "SET_MEM_TABLE: region at gpa 0x40000000 (size 0x800000, offset 0x0): mmap: "
	            "Operation not permitted",
	            p_mem_sealed_write),
	HV_SCENARIO("kick-not-pollable", "SET_VRING_ENABLE: queue 0: cannot watch the kick fd",
	            p_kick_not_pollable),
	HV_SCENARIO("close-during-start", NULL, p_close_during_start),
	HV_SCENARIO("close-during-mem-switch", NULL, p_close_during_mem_switch),
	HV_SCENARIO("features-change-running", "changed while queue 0 runs",
	            p_features_change_running),
};
const size_t hv_setup_count = sizeof(hv_setup_scenarios) / sizeof(hv_setup_scenarios[0]);
