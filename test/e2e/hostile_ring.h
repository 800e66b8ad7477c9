/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to the ring scenarios of spur_hostile_vhost (hostile_ring.c,
 * hostile_memring.c, hostile_healthy.c): a connection with a started queue
 * and request buffers in guest memory, and the checks of what came back in
 * the used ring. Implemented in hostile_ring.c.
 *
 * A struct hv_ring is one queue of a connection (struct hv) plus HV_NREQ
 * request buffer sets: req[0] carries the attack, req[1] the good read that
 * follows it (hv_serves); the attack sits at head 0, the follow-up at head
 * HV_GOOD_HEAD, so both fit a HV_QSIZE-entry ring.
 *
 * Threading: single-threaded.
 */
#ifndef SPUR_TEST_HOSTILE_RING_H
#define SPUR_TEST_HOSTILE_RING_H

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "hostile_vhost.h"

#define HV_RING_FEATURES                                                                     \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |                \
	 (1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_SEG_MAX) |                    \
	 (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_MQ) |                         \
	 (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_DISCARD) |                       \
	 (1ull << VIRTIO_BLK_F_WRITE_ZEROES))
#define HV_MEM_END (HV_GPA_BASE + HV_MEM_SIZE)
#define HV_DATA_SIZE 8192u
#define HV_TABLE_ENTRIES 256u
#define HV_NREQ 4
#define HV_GOOD_HEAD 8
#define HV_STATUS_UNTOUCHED 0xffu
#define HV_F_NEXT VRING_DESC_F_NEXT
#define HV_F_WRITE VRING_DESC_F_WRITE
#define HV_F_INDIRECT VRING_DESC_F_INDIRECT

/* One request's buffers in guest memory. */
struct hv_req {
	struct virtio_blk_outhdr *hdr;
	uint64_t hdr_gpa;
	uint8_t *status;                /* hdr + 32 */
	uint64_t status_gpa;
	uint8_t *data;                  /* HV_DATA_SIZE bytes */
	uint64_t data_gpa;
	struct vring_desc *table;       /* indirect table space, HV_TABLE_ENTRIES */
	uint64_t table_gpa;
};

struct hv_ring {
	struct hv *h;
	struct vfe_queue *q;
	struct hv_req req[HV_NREQ];     /* req[0]: the attack, req[1]: the good follow-up */
};

/* ---- set-up (0 or -1 with hv_fail called) ------------------------------------------- */

/* Carve r's buffers from guest memory; status set to HV_STATUS_UNTOUCHED. */
int hv_alloc_req(struct hv *h, struct hv_req *r);
/* SET_VRING_NUM, BASE (0), ADDR (if addr), CALL, KICK, ENABLE for a locally set-up queue. */
int hv_queue_msgs(struct hv *h, struct vfe_queue *q, bool addr);
/* Queue 0 of r: SET_VRING_ERR eventfd (h->err_fd), request buffers, DRIVER_OK. */
int hv_ring_finish_setup(struct hv *h, struct hv_ring *r);
/* Connect, negotiate features, mem_size bytes of memory, queue 0 (packed if negotiated). */
int hv_ring_start_mem(struct hv *h, struct hv_ring *r, uint64_t features, uint64_t mem_size);
int hv_ring_start(struct hv *h, struct hv_ring *r, uint64_t features);

/* ---- driving the ring ----------------------------------------------------------------- */

/* Publish what was added and kick. */
void hv_go(struct hv_ring *r);
/* Wait up to ms for a used entry. */
bool hv_wait_used(struct hv_ring *r, uint16_t *id, uint32_t *len, uint32_t ms);
/* Header {type, 0, sector}; status byte reset to HV_STATUS_UNTOUCHED. */
void hv_set_hdr(struct hv_req *q, uint32_t type, uint64_t sector);
struct vfe_buf hv_buf(uint64_t gpa, uint32_t len, bool write);
/* A 4 KiB read of sector 8 (header, data, status) at head (split: head..head+2). */
void hv_add_read(struct hv_ring *r, struct hv_req *q, uint16_t head);

/* ---- what must come back ------------------------------------------------------------------ */

/* A good read at head completes with OK and len 4097. */
int hv_serves(struct hv_ring *r, uint16_t head);
/* head comes back with this status and used length; then hv_serves. */
int hv_expect_status(struct hv_ring *r, uint16_t head, uint8_t status, uint32_t want_len);
/* hv_expect_status IOERR, used length 1, and buf (len bytes of fill, readable) untouched. */
int hv_expect_ioerr_intact(struct hv_ring *r, uint16_t head, const uint8_t *buf, uint32_t len,
			   uint8_t fill);
/*
 * The ring is broken: at most `allowed` completions, none for a later good
 * read, GET_STATUS NEEDS_RESET, the error eventfd signalled; GET_VRING_BASE
 * clears NEEDS_RESET and (split) a restarted ring serves again.
 */
int hv_expect_broken(struct hv_ring *r, int allowed);

#endif
