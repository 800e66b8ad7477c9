/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fake guest for the virtqueue unit tests: guest memory in a memfd shared
 * through the real vhost_mem table, and minimal split and packed drivers
 * that write rings the way a virtio driver does (their own mapping of the
 * memfd, so the device side sees only what went through guest memory).
 *
 * Guest-physical layout: region A = [0, 2 MiB) (file offset 0) holds the
 * rings (desc at 0, avail/driver area at 64 KiB, used/device area at
 * 128 KiB) and data from 256 KiB; region B = [2 MiB, 2 MiB + 8 GiB) (file
 * offset 4 MiB, sparse) follows it without a gap in gpa but is a separate
 * mapping, so a buffer crossing 2 MiB yields two iovecs, and 4 GiB
 * descriptors translate without touching memory. Frontend virtual address
 * = UT_UVA_BASE + gpa.
 *
 * Single-threaded: the "guest" runs between device calls.
 */
#ifndef SPUR_TEST_VIRTQ_UT_H
#define SPUR_TEST_VIRTQ_UT_H

#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stdint.h>

#include "vhost_mem.h"
#include "virtq.h"

#define UT_GPA_DESC 0x0ull
#define UT_GPA_AVAIL 0x10000ull
#define UT_GPA_USED 0x20000ull
#define UT_GPA_DATA 0x40000ull
#define UT_REGION_A_SIZE (2ull << 20)
#define UT_REGION_B_GPA UT_REGION_A_SIZE
#define UT_REGION_B_OFF (4ull << 20)
#define UT_REGION_B_SIZE (8ull << 30)
#define UT_GPA_END (UT_REGION_B_GPA + UT_REGION_B_SIZE)
#define UT_UVA_BASE 0x100000000000ull
#define UT_MAX_SIZE 4096

struct ut_guest {
	int fd;
	uint8_t *map;      /* the driver's view of the whole file */
	uint64_t map_len;
	struct vhost_mem *mem;
};

extern struct ut_guest g_ut;

void ut_guest_init(void);
void ut_guest_fini(void);
/* The driver's pointer for a guest-physical address (test-only, no checks). */
void *ut_g2h(uint64_t gpa);
/* xorshift64*: deterministic per seed. */
/* Cost of two back-to-back tick reads (median of 100001), for timed loops to subtract. */
double ut_tick_pair_ticks(void);
/* qsort comparison of uint64_t. */
int ut_cmp_u64(const void *a, const void *b);
uint64_t ut_rand(void);
void ut_srand(uint64_t seed);

struct virtq_config ut_cfg(uint16_t size, bool packed, bool event_idx, bool indirect);
/* virtq_init that must succeed. */
void ut_vq_init(struct virtq *vq, const struct virtq_config *cfg, int call_fd);

/*
 * A VIRTQ_POP_BAD element's salvage (virtq.h): its first and last
 * device-writable descriptors are [first_gpa, +first_len) and [last_gpa,
 * +last_len); a length of 0 means "none offered".
 */
void ut_expect_salvage(const struct virtq_elem *e, uint64_t first_gpa, uint32_t first_len,
		       uint64_t last_gpa, uint32_t last_len);

/* ---- split driver ---- */
struct ut_split {
	uint16_t size;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx;
	uint16_t used_seen;
};

/* Zero the ring areas; indices start at start_idx (used->idx too). */
void ut_split_init(struct ut_split *d, uint16_t size, uint16_t start_idx);
void ut_split_desc(struct ut_split *d, uint16_t i, uint64_t gpa, uint32_t len, uint16_t flags,
		   uint16_t next);
void ut_split_post(struct ut_split *d, uint16_t head);
bool ut_split_get_used(struct ut_split *d, uint32_t *id, uint32_t *len);
uint16_t *ut_split_used_event(struct ut_split *d);
uint16_t *ut_split_avail_event(struct ut_split *d);

/* ---- packed driver ---- */
struct ut_buf {
	uint64_t gpa;
	uint32_t len;
	uint16_t flags; /* VRING_DESC_F_WRITE / VRING_DESC_F_INDIRECT */
};

struct ut_packed {
	uint16_t size;
	struct vring_packed_desc *desc;
	struct vring_packed_desc_event *drv;  /* driver event suppression (we write) */
	struct vring_packed_desc_event *dev;  /* device event suppression (device writes) */
	uint16_t next_avail;
	bool avail_wrap;
	uint16_t next_used;
	bool used_wrap;
	uint32_t free_descs;
	uint16_t ndescs[UT_MAX_SIZE];         /* per buffer id, while outstanding */
};

void ut_packed_init(struct ut_packed *d, uint16_t size);
/* Post a chain; false when the ring has no room. */
bool ut_packed_post(struct ut_packed *d, const struct ut_buf *bufs, uint16_t n, uint16_t id);
/* Post with raw control of every descriptor's flags and id (hostile chains). */
void ut_packed_post_raw(struct ut_packed *d, const struct vring_packed_desc *descs, uint16_t n);
bool ut_packed_get_used(struct ut_packed *d, uint16_t *id, uint32_t *len);

#endif
