/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The healthy mode of spur_hostile_vhost (--attack healthy, hv_healthy): a
 * well-behaved guest that proves a controller still serves after an
 * attack. Two queues (direct chains on one, indirect tables on the other,
 * EVENT_IDX negotiated), 16 requests in flight on each: writes of a pattern
 * unique to this run to blocks spread over the disk, a flush, reads of the
 * same blocks, a byte-for-byte comparison, GET_STATUS without NEEDS_RESET,
 * and GET_VRING_BASE answering exactly the number of requests submitted.
 *
 * Threading: single-threaded.
 */
#include "hostile_ring.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HEALTHY_QUEUES 2
#define HEALTHY_SLOTS 16
#define HEALTHY_IO 4096u

static void
pattern(uint8_t *p, uint64_t sector, uint64_t seed)
{
	for (uint32_t i = 0; i < HEALTHY_IO; i += 8) {
		uint64_t w = (sector * 512 + i) ^ seed;

		memcpy(p + i, &w, 8);
	}
}

/* Run one request per slot on every queue and wait for all of them. */
static int
healthy_round(struct hv *h, struct hv_req (*req)[HEALTHY_SLOTS], uint32_t type,
	      const uint64_t *sectors, int *done)
{
	for (uint16_t qi = 0; qi < HEALTHY_QUEUES; qi++) {
		struct vfe_queue *q = &h->d.queues[qi];

		for (uint16_t s = 0; s < HEALTHY_SLOTS; s++) {
			struct hv_req *b = &req[qi][s];
			bool write = type == VIRTIO_BLK_T_OUT;
			struct vfe_buf bufs[3] = {hv_buf(b->hdr_gpa, 16, false),
						  hv_buf(b->data_gpa, HEALTHY_IO, !write),
						  hv_buf(b->status_gpa, 1, true)};
			int n = type == VIRTIO_BLK_T_FLUSH ? 2 : 3;

			if (type == VIRTIO_BLK_T_FLUSH && s > 0)
				break;
			hv_set_hdr(b, type, sectors[qi * HEALTHY_SLOTS + s]);
			if (type == VIRTIO_BLK_T_FLUSH)
				bufs[1] = bufs[2];
			if (qi == 1)
				vfe_add_indirect(q, s, b->table, b->table_gpa, bufs, n);
			else
				vfe_add_chain(q, (uint16_t)(s * 3), bufs, n);
			done[qi]++;
		}
		vfe_publish(q);
		vfe_kick(q);
	}
	for (uint16_t qi = 0; qi < HEALTHY_QUEUES; qi++) {
		struct hv_ring r = {.h = h, .q = &h->d.queues[qi]};
		int want = type == VIRTIO_BLK_T_FLUSH ? 1 : HEALTHY_SLOTS;

		for (int n = 0; n < want; n++) {
			uint16_t id;
			uint32_t len;

			if (!hv_wait_used(&r, &id, &len, HV_TIMEOUT_MS))
				return hv_fail(h, "queue %u: %d of %d requests (type %u) completed",
					       qi, n, want, type);
			uint16_t s = qi == 1 ? id : (uint16_t)(id / 3);

			if (s >= HEALTHY_SLOTS || *req[qi][s].status != VIRTIO_BLK_S_OK)
				return hv_fail(h, "queue %u: request id %u (type %u) failed: "
					       "status %u", qi, id, type,
					       s < HEALTHY_SLOTS ? *req[qi][s].status : 0);
		}
	}
	return 0;
}

int
hv_healthy(struct hv *h)
{
	static struct hv_req req[HEALTHY_QUEUES][HEALTHY_SLOTS];
	uint64_t sectors[HEALTHY_QUEUES * HEALTHY_SLOTS];
	uint64_t seed = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull ^ hv_now_ms();
	uint64_t blocks, status, st = HV_STATUS_DRIVER_READY;
	int done[HEALTHY_QUEUES] = {0};
	int rc;

	if (hv_open(h, HV_PF_DEFAULT) < 0 ||
	    hv_features(h, HV_RING_FEATURES | (1ull << VIRTIO_RING_F_EVENT_IDX)) < 0 ||
	    hv_memory(h) < 0)
		return -1;
	blocks = h->capacity / (HEALTHY_IO / 512);
	if (blocks < HEALTHY_QUEUES * HEALTHY_SLOTS)
		return hv_fail(h, "the disk (%llu sectors) is too small",
			       (unsigned long long)h->capacity);
	for (uint16_t qi = 0; qi < HEALTHY_QUEUES; qi++) {
		rc = vfe_queue_setup(&h->d, qi, 64, false);
		if (rc < 0)
			return hv_fail(h, "queue %u set-up: %s (%s)", qi, h->d.err, strerror(-rc));
		for (int s = 0; s < HEALTHY_SLOTS; s++)
			if (hv_alloc_req(h, &req[qi][s]) < 0)
				return -1;
	}
	if (hv_step(h, VFE_SET_STATUS, &st, sizeof(st), NULL, 0) < 0)
		return -1;
	/* Distinct blocks spread over the disk, different on every run. */
	for (int i = 0; i < HEALTHY_QUEUES * HEALTHY_SLOTS; i++) {
		uint64_t stride = blocks / (HEALTHY_QUEUES * HEALTHY_SLOTS);

		sectors[i] = ((uint64_t)i * stride + seed % stride) * (HEALTHY_IO / 512);
		pattern(req[i / HEALTHY_SLOTS][i % HEALTHY_SLOTS].data, sectors[i], seed);
	}
	if (healthy_round(h, req, VIRTIO_BLK_T_OUT, sectors, done) < 0 ||
	    healthy_round(h, req, VIRTIO_BLK_T_FLUSH, sectors, done) < 0)
		return -1;
	for (int i = 0; i < HEALTHY_QUEUES * HEALTHY_SLOTS; i++)
		memset(req[i / HEALTHY_SLOTS][i % HEALTHY_SLOTS].data, 0, HEALTHY_IO);
	if (healthy_round(h, req, VIRTIO_BLK_T_IN, sectors, done) < 0)
		return -1;
	for (int i = 0; i < HEALTHY_QUEUES * HEALTHY_SLOTS; i++) {
		uint8_t want[HEALTHY_IO];

		pattern(want, sectors[i], seed);
		if (memcmp(want, req[i / HEALTHY_SLOTS][i % HEALTHY_SLOTS].data, HEALTHY_IO) != 0)
			return hv_fail(h, "data read back at sector %llu differ from what was "
				       "written", (unsigned long long)sectors[i]);
	}
	if (hv_get_status(h, &status) < 0)
		return -1;
	if (status != HV_STATUS_DRIVER_READY)
		return hv_fail(h, "GET_STATUS answers 0x%llx", (unsigned long long)status);
	for (uint16_t qi = 0; qi < HEALTHY_QUEUES; qi++) {
		uint32_t base;

		if (vfe_queue_stop(&h->d, qi, &base) < 0)
			return hv_fail(h, "GET_VRING_BASE %u: %s", qi, h->d.err);
		if (base != (uint32_t)done[qi])
			return hv_fail(h, "GET_VRING_BASE %u answers %u after %d requests", qi,
				       base, done[qi]);
	}
	return hv_did(h, "wrote, flushed and read back %d blocks on %d queues (direct and "
		      "indirect chains); rings stopped at the right base",
		      HEALTHY_QUEUES * HEALTHY_SLOTS, HEALTHY_QUEUES);
}

