/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to spur_vhost_perf: the state shared by the device-independent
 * load loop (vhost_perf.c) and the per-device-type request formats
 * (perf_blk.c: virtio-blk, perf_scsi.c: virtio-scsi).
 *
 * The loop owns connection, guest memory, queues, slots, offsets, verify
 * patterns, timing and statistics; a device type (struct perf_type)
 * negotiates its features and reads its config, sets up any queue that is
 * not a request queue, learns the capacity, lays out one request's chain in
 * a slot and judges its completion. A type never submits on its own during
 * the run; before it (probe), it may send single requests with perf_sync.
 *
 * Slot layout: slot s of a request queue owns, in guest memory, a control
 * area of p->ctl_size bytes (the type's header and status or response), a
 * data buffer of io_size bytes (plus a second one for --verify) and, split
 * ring, descriptors s*stride .. s*stride+stride-1.
 *
 * Threading: single-threaded.
 */
#ifndef SPUR_TOOLS_VHOST_PERF_H
#define SPUR_TOOLS_VHOST_PERF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_blk.h>

#include "frontend.h"
#include "tool_util.h"

#define PERF_MAX_DATA_SEGS 128
#define PERF_HIST_SUB_BITS 7
#define PERF_HIST_SUB (1u << PERF_HIST_SUB_BITS)
#define PERF_HIST_BUCKETS (PERF_HIST_SUB * 58)

enum perf_workload { WL_READ, WL_WRITE, WL_RANDREAD, WL_RANDWRITE };
enum perf_kick_mode { KICK_AUTO, KICK_ALWAYS, KICK_NEVER };

struct perf_opts {
	const char *socket;
	const struct perf_type *type;
	uint16_t queues;
	uint32_t depth;
	uint32_t io_size;
	enum perf_workload wl;
	uint32_t seconds;
	int core;
	enum perf_kick_mode kick;
	bool packed;
	bool indirect;
	bool irq;
	bool event_idx;
	bool verify;
	uint16_t queue_size;
	uint64_t mem_mib;
	uint8_t scsi_target;     /* --target */
	uint16_t scsi_lun;       /* --lun */
};

struct perf_slot {
	uint8_t *ctl;            /* the type's header / status / response area */
	uint64_t ctl_gpa;
	/* The data buffer; with --verify also the buffer read back into. */
	uint8_t *data, *rdata;
	uint64_t data_gpa, rdata_gpa;
	uint64_t offset;         /* byte offset of the request in flight */
	uint64_t tag;            /* unique per slot of the device */
	bool write;              /* the request in flight moves data to the device */
	bool reading;            /* --verify: this round reads back */
	uint64_t gen;
	struct vfe_buf bufs[PERF_MAX_DATA_SEGS + 2];
	int nbufs;
	struct vring_desc *itable;
	uint64_t itable_gpa;
	uint64_t submit_ns;
};

struct perf_hist {
	uint64_t b[PERF_HIST_BUCKETS];
};

struct perf_qstate {
	struct vfe_queue *q;
	uint16_t qi;              /* request queue number (ring index - first_queue) */
	struct perf_slot *slots;
	uint32_t stride;          /* split direct: descriptors per slot */
	uint32_t inflight;
	uint64_t rng;
	uint64_t next_offset;
	uint64_t ios, bytes, errors, bad_len, lat_sum_ns, verify_errors;
	struct perf_hist hist;
};

/* What a type learned from virtio-scsi's config space. */
struct perf_scsi_cfg {
	uint32_t cdb_size, sense_size;
	uint32_t req_len;         /* virtio_scsi_cmd_req with cdb_size bytes of CDB */
	uint32_t resp_off;        /* response offset in the control area */
	uint32_t resp_len;        /* virtio_scsi_cmd_resp with sense_size bytes of sense */
};

struct perf {
	struct perf_opts o;
	struct vfe_dev dev;
	/* Set by the type's configure (capacity and blk_size maybe by probe). */
	uint16_t first_queue;     /* ring index of request queue 0 */
	uint16_t max_queues;      /* request queues the device serves */
	uint32_t ctl_size;        /* control area per slot */
	uint32_t size_max;        /* largest data descriptor (UINT32_MAX: no limit) */
	uint32_t seg_max;         /* data descriptors per request (0: no limit) */
	uint64_t max_io;          /* largest request in bytes (0: no limit) */
	bool readonly;
	uint64_t capacity_bytes;
	uint32_t blk_size;
	union {
		struct virtio_blk_config blk;
		struct perf_scsi_cfg scsi;
	} cfg;
	/* Set by the loop. */
	uint32_t seg_size;        /* bytes per data descriptor */
	uint32_t nseg;            /* data descriptors per request */
	struct perf_qstate qs[VFE_MAX_QUEUES];
	bool stopping;
	uint64_t end_ns;
};

/*
 * A device type. Every hook gets the loop's struct perf; errors are
 * -errno with a message in p->dev.err.
 */
struct perf_type {
	const char *name;
	/*
	 * Connected, protocol features negotiated: read the config, negotiate
	 * the virtio features (perf_set_features) and fill first_queue,
	 * max_queues, ctl_size, size_max, seg_max, max_io, readonly and, when
	 * the config tells, capacity_bytes and blk_size.
	 */
	int (*configure)(struct perf *p);
	/* Memory table sent: set up queues below first_queue. NULL: none. */
	int (*setup_queues)(struct perf *p);
	/*
	 * Request queues and slots ready, no load yet: learn what configure
	 * could not (capacity, block size) with perf_sync. NULL: nothing.
	 */
	int (*probe)(struct perf *p);
	/*
	 * Lay out sl's request for the run: io_size bytes at sl->offset in the
	 * direction sl->write, data at data_gpa (perf_add_data); fill sl->bufs,
	 * sl->nbufs and the control area.
	 */
	void (*build)(struct perf *p, struct perf_slot *sl, uint64_t data_gpa);
	/*
	 * Judge sl's used entry of len bytes: 0 (done as asked), -EIO (the
	 * device reports a failure; why says which), -EMSGSIZE (succeeded with
	 * an unexpected length or residual).
	 */
	int (*check)(struct perf *p, const struct perf_slot *sl, uint32_t len, char *why,
		     size_t why_len);
};

extern const struct perf_type perf_type_blk;
extern const struct perf_type perf_type_scsi;

/*
 * SET_FEATURES with type_bits plus the ring features the options ask for
 * (VERSION_1, EVENT_IDX, INDIRECT_DESC, RING_PACKED), then check that
 * VERSION_1 and what the options need were accepted. Returns 0 or -errno.
 */
int perf_set_features(struct perf *p, uint64_t type_bits);
/* Whether feature bit was negotiated. */
bool perf_has(const struct perf *p, int bit);
/* Append the request's data descriptors (nseg of seg_size) starting at gpa. */
void perf_add_data(const struct perf *p, struct perf_slot *sl, uint64_t gpa, bool dev_writes);
/*
 * Set-up only: make slot s's chain (sl->bufs) available on qs, kick, and
 * busy-wait up to 5 s for it to be used. Returns 0 with *len, or
 * -ETIMEDOUT / -EPROTO (another id came back) with p->dev.err set.
 */
int perf_sync(struct perf *p, struct perf_qstate *qs, uint32_t s, uint32_t *len);

#endif
