/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fake guest for the virtqueue unit tests (see virtq_ut.h): guest memory,
 * split/packed drivers following the virtio 1.x driver algorithms, and the
 * tick helpers of the timed loops.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "spur/util.h"
#include "virtq_ut.h"

struct ut_guest g_ut;
static uint64_t g_seed = 88172645463325252ull;

uint64_t
ut_rand(void)
{
	g_seed ^= g_seed >> 12;
	g_seed ^= g_seed << 25;
	g_seed ^= g_seed >> 27;
	return g_seed * 2685821657736338717ull;
}

void
ut_srand(uint64_t seed)
{
	g_seed = seed ? seed : 1;
}

void
ut_guest_init(void)
{
	struct vhost_mem_desc descs[2];
	const char *err = NULL;

	g_ut.map_len = UT_REGION_B_OFF + UT_REGION_B_SIZE;
	g_ut.fd = memfd_create("virtq_ut", MFD_CLOEXEC);
	assert_true(g_ut.fd >= 0);
	assert_int_equal(ftruncate(g_ut.fd, (off_t)g_ut.map_len), 0);
	g_ut.map = mmap(NULL, g_ut.map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
			g_ut.fd, 0);
	assert_true(g_ut.map != MAP_FAILED);
	descs[0] = (struct vhost_mem_desc){ .gpa = 0, .size = UT_REGION_A_SIZE,
					    .uva = UT_UVA_BASE, .mmap_offset = 0,
					    .fd = dup(g_ut.fd) };
	descs[1] = (struct vhost_mem_desc){ .gpa = UT_REGION_B_GPA, .size = UT_REGION_B_SIZE,
					    .uva = UT_UVA_BASE + UT_REGION_B_GPA,
					    .mmap_offset = UT_REGION_B_OFF, .fd = dup(g_ut.fd) };
	g_ut.mem = vhost_mem_build(descs, 2, NULL, &err);
	if (g_ut.mem == NULL) {
		fail_msg("vhost_mem_build: %s", err);
	}
}

void
ut_guest_fini(void)
{
	vhost_mem_put(g_ut.mem);
	munmap(g_ut.map, g_ut.map_len);
	close(g_ut.fd);
	memset(&g_ut, 0, sizeof(g_ut));
}

void *
ut_g2h(uint64_t gpa)
{
	if (gpa < UT_REGION_A_SIZE) {
		return g_ut.map + gpa;
	}
	return g_ut.map + (gpa - UT_REGION_B_GPA) + UT_REGION_B_OFF;
}

struct virtq_config
ut_cfg(uint16_t size, bool packed, bool event_idx, bool indirect)
{
	struct virtq_config cfg = {
		.size = size,
		.packed = packed,
		.event_idx = event_idx,
		.indirect = indirect,
		.desc_uva = UT_UVA_BASE + UT_GPA_DESC,
		.avail_uva = UT_UVA_BASE + UT_GPA_AVAIL,
		.used_uva = UT_UVA_BASE + UT_GPA_USED,
		.base = packed ? 0x8000 : 0,
		.used_base = packed ? 0x8000 : 0,
	};
	return cfg;
}

void
ut_vq_init(struct virtq *vq, const struct virtq_config *cfg, int call_fd)
{
	const char *err = NULL;
	int rc = virtq_init(vq, cfg, g_ut.mem, call_fd, &err);

	if (rc != 0) {
		fail_msg("virtq_init: %d %s", rc, err);
	}
}

/* iov[0..n) must be exactly the device's view of [gpa, gpa+len). */
static void
expect_iovs(const struct iovec *iov, uint32_t n, uint64_t gpa, uint32_t len)
{
	struct iovec want[4];
	uint32_t cnt = 0;

	if (len == 0) {
		assert_int_equal(n, 0);
		return;
	}
	assert_int_equal(vhost_mem_gpa_to_iovs(g_ut.mem, gpa, len, want, &cnt, 4), 0);
	assert_int_equal(n, cnt);
	for (uint32_t i = 0; i < n; i++) {
		assert_ptr_equal(iov[i].iov_base, want[i].iov_base);
		assert_int_equal(iov[i].iov_len, want[i].iov_len);
	}
}

void
ut_expect_salvage(const struct virtq_elem *e, uint64_t first_gpa, uint32_t first_len,
		  uint64_t last_gpa, uint32_t last_len)
{
	assert_int_equal(e->out_num + e->in_num + e->in_len, 0);
	expect_iovs(e->iov, e->bad_first, first_gpa, first_len);
	expect_iovs(e->iov + e->bad_first, e->bad_last, last_gpa, last_len);
}

/* ---- split ---- */

void
ut_split_init(struct ut_split *d, uint16_t size, uint16_t start_idx)
{
	memset(ut_g2h(UT_GPA_DESC), 0, 0x40000);
	d->size = size;
	d->desc = ut_g2h(UT_GPA_DESC);
	d->avail = ut_g2h(UT_GPA_AVAIL);
	d->used = ut_g2h(UT_GPA_USED);
	d->avail_idx = start_idx;
	d->used_seen = start_idx;
	d->avail->idx = start_idx;
	d->used->idx = start_idx;
}

void
ut_split_desc(struct ut_split *d, uint16_t i, uint64_t gpa, uint32_t len, uint16_t flags,
	      uint16_t next)
{
	d->desc[i].addr = gpa;
	d->desc[i].len = len;
	d->desc[i].flags = flags;
	d->desc[i].next = next;
}

void
ut_split_post(struct ut_split *d, uint16_t head)
{
	d->avail->ring[d->avail_idx % d->size] = head;
	d->avail_idx++;
	__atomic_store_n(&d->avail->idx, d->avail_idx, __ATOMIC_RELEASE);
}

bool
ut_split_get_used(struct ut_split *d, uint32_t *id, uint32_t *len)
{
	uint16_t idx = __atomic_load_n(&d->used->idx, __ATOMIC_ACQUIRE);
	struct vring_used_elem *u;

	if (idx == d->used_seen) {
		return false;
	}
	u = &d->used->ring[d->used_seen % d->size];
	*id = u->id;
	*len = u->len;
	d->used_seen++;
	return true;
}

uint16_t *
ut_split_used_event(struct ut_split *d)
{
	return &d->avail->ring[d->size];
}

uint16_t *
ut_split_avail_event(struct ut_split *d)
{
	return (uint16_t *)&d->used->ring[d->size];
}

/* ---- packed ---- */

void
ut_packed_init(struct ut_packed *d, uint16_t size)
{
	memset(ut_g2h(UT_GPA_DESC), 0, 0x40000);
	memset(d, 0, sizeof(*d));
	d->size = size;
	d->desc = ut_g2h(UT_GPA_DESC);
	d->drv = ut_g2h(UT_GPA_AVAIL);
	d->dev = ut_g2h(UT_GPA_USED);
	d->avail_wrap = true;
	d->used_wrap = true;
	d->free_descs = size;
}

static uint16_t
ut_avail_bits(bool wrap)
{
	return (uint16_t)(wrap ? 1u << VRING_PACKED_DESC_F_AVAIL : 1u << VRING_PACKED_DESC_F_USED);
}

void
ut_packed_post_raw(struct ut_packed *d, const struct vring_packed_desc *descs, uint16_t n)
{
	uint16_t first = d->next_avail, head_flags = 0;

	for (uint16_t i = 0; i < n; i++) {
		struct vring_packed_desc *r = &d->desc[d->next_avail];
		uint16_t f = (uint16_t)(descs[i].flags | ut_avail_bits(d->avail_wrap));

		r->addr = descs[i].addr;
		r->len = descs[i].len;
		r->id = descs[i].id;
		if (i == 0) {
			head_flags = f;
		} else {
			r->flags = f;
		}
		if (++d->next_avail == d->size) {
			d->next_avail = 0;
			d->avail_wrap = !d->avail_wrap;
		}
	}
	__atomic_store_n(&d->desc[first].flags, head_flags, __ATOMIC_RELEASE);
}

bool
ut_packed_post(struct ut_packed *d, const struct ut_buf *bufs, uint16_t n, uint16_t id)
{
	struct vring_packed_desc descs[64];

	assert_true(n >= 1 && n <= 64);
	if (d->free_descs < n) {
		return false;
	}
	for (uint16_t i = 0; i < n; i++) {
		descs[i].addr = bufs[i].gpa;
		descs[i].len = bufs[i].len;
		descs[i].id = id;
		descs[i].flags = (uint16_t)(bufs[i].flags | (i + 1 < n ? VRING_DESC_F_NEXT : 0));
	}
	d->free_descs -= n;
	d->ndescs[id] = n;
	ut_packed_post_raw(d, descs, n);
	return true;
}

bool
ut_packed_get_used(struct ut_packed *d, uint16_t *id, uint32_t *len)
{
	struct vring_packed_desc *r = &d->desc[d->next_used];
	uint16_t flags = __atomic_load_n(&r->flags, __ATOMIC_ACQUIRE);
	bool avail = (flags >> VRING_PACKED_DESC_F_AVAIL) & 1, used = (flags >> VRING_PACKED_DESC_F_USED) & 1;
	uint16_t n;

	if (avail != used || used != d->used_wrap) {
		return false;
	}
	*id = r->id;
	*len = r->len;
	assert_true(*id < d->size);
	n = d->ndescs[*id];
	assert_true(n != 0); /* a used id we did not post: completed twice */
	d->ndescs[*id] = 0;
	d->free_descs += n;
	d->next_used += n;
	if (d->next_used >= d->size) {
		d->next_used -= d->size;
		d->used_wrap = !d->used_wrap;
	}
	return true;
}

int
ut_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

double
ut_tick_pair_ticks(void)
{
	static uint64_t t[100001];

	for (int i = 0; i < 100001; i++) {
		uint64_t t0 = spur_get_ticks();

		t[i] = spur_get_ticks() - t0;
	}
	qsort(t, 100001, sizeof(t[0]), ut_cmp_u64);
	return (double)t[50000];
}

