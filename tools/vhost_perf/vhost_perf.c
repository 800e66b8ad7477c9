/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spur_vhost_perf: a vhost-user-blk / vhost-user-scsi load generator that
 * plays the guest.
 *
 * It connects to a vhost-user socket (spur's or qemu-storage-daemon's)
 * with its own frontend (frontend.h: no spur backend code involved), shares
 * a memfd as guest memory, sets up N request queues and keeps Q requests in
 * flight on each, laid out as a Linux guest lays them out (or one indirect
 * table per request with --indirect). One thread busy-polls every used
 * ring (no sleeping) and resubmits each completed slot at once, so the
 * figures measure the backend, not an interrupt path.
 *
 * This file is the device-independent part: options, connection, guest
 * memory, request queues and slots, offsets (random, sequential, --verify
 * stripes), the load loop, statistics and the report. The request format of
 * each device type is in its own file behind struct perf_type (perf.h):
 * perf_blk.c (--type blk, default) and perf_scsi.c (--type scsi: control
 * and event queues, READ(10)/WRITE(10) through request queues 2..).
 *
 * Slots are fixed: slot s of a queue always uses the same control area and
 * data buffer in guest memory, and (split ring) descriptors
 * s*k .. s*k+k-1, so a used id names its slot directly. Latency is measured
 * per request from the poll pass that submitted it to the pass that saw it
 * used, into a log-linear histogram (< 1% error).
 *
 * Output: one line per queue and a total line
 *   IOPS <x> MiB/s <y> avg_lat_us <a> p50_us <b> p99_us <c>
 * Exit status 0, or 1 on set-up failure, I/O errors or requests that never
 * completed.
 *
 * Threading: single-threaded (optionally pinned with --core).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>

#include "perf.h"

#define DRAIN_TIMEOUT_NS (5ull * 1000000000ull)
#define SYNC_TIMEOUT_NS (5ull * 1000000000ull)
#define HIST_SUB_BITS PERF_HIST_SUB_BITS
#define HIST_SUB PERF_HIST_SUB
#define HIST_BUCKETS PERF_HIST_BUCKETS

/* ---- histogram ----------------------------------------------------------------- */

static uint32_t
hist_index(uint64_t v)
{
	if (v < HIST_SUB)
		return (uint32_t)v;
	uint32_t msb = 63u - (uint32_t)__builtin_clzll(v);
	uint32_t shift = msb - HIST_SUB_BITS;
	uint32_t idx = (shift + 1) * HIST_SUB + (uint32_t)((v >> shift) & (HIST_SUB - 1));

	return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* Middle of the bucket's range. */
static double
hist_value(uint32_t idx)
{
	if (idx < HIST_SUB)
		return idx;
	uint32_t shift = idx / HIST_SUB - 1;
	uint64_t base = ((uint64_t)HIST_SUB + (idx % HIST_SUB)) << shift;

	return (double)base + (double)(1ull << shift) / 2.0;
}

static double
hist_percentile(const struct perf_hist *h, uint64_t total, double pct)
{
	uint64_t want = (uint64_t)((double)total * pct / 100.0);
	uint64_t seen = 0;

	if (total == 0)
		return 0;
	if (want >= total)
		want = total - 1;
	for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen > want)
			return hist_value(i);
	}
	return hist_value(HIST_BUCKETS - 1);
}

/* ---- options ------------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: spur_vhost_perf -s SOCKET [options]\n"
		"  -s, --socket PATH     vhost-user socket\n"
		"      --type T          blk (vhost-user-blk, default) or scsi (vhost-user-scsi:\n"
		"                        READ(10)/WRITE(10) through request queues 2..)\n"
		"      --target N        scsi: target (default 0)\n"
		"      --lun N           scsi: LUN (default 0)\n"
		"  -n, --queues N        queues (default 1)\n"
		"  -q, --depth Q         requests in flight per queue (default 32)\n"
		"  -o, --io-size BYTES   request size, k/m suffixes allowed (default 4k)\n"
		"  -w, --workload W      read|write|randread|randwrite (default randread)\n"
		"  -t, --time SEC        run time (default 10)\n"
		"  -S, --queue-size N    virtqueue size (default 256, raised to fit Q chains)\n"
		"      --core N          pin to CPU N\n"
		"      --kick MODE       auto (honour the device's suppression, default),\n"
		"                        always (kick after each batch), never (backend polls)\n"
		"      --packed          packed virtqueues (blk only)\n"
		"      --indirect        one indirect descriptor table per request\n"
		"      --no-irq          ask the backend not to signal the call eventfd\n"
		"      --no-event-idx    do not negotiate VIRTIO_RING_F_EVENT_IDX\n"
		"      --mem MIB         guest memory size (default 1024)\n"
		"      --verify          each slot writes a pattern to its own blocks and\n"
		"                        reads it back (data check; overrides -w)\n");
}

static int
parse_opts(int argc, char **argv, struct perf_opts *o)
{
	enum { O_CORE = 256, O_KICK, O_PACKED, O_INDIRECT, O_NOIRQ, O_NOEVIDX, O_MEM, O_VERIFY,
	       O_TYPE, O_TARGET, O_LUN };
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"queues", required_argument, NULL, 'n'},
		{"depth", required_argument, NULL, 'q'},
		{"io-size", required_argument, NULL, 'o'},
		{"workload", required_argument, NULL, 'w'},
		{"time", required_argument, NULL, 't'},
		{"queue-size", required_argument, NULL, 'S'},
		{"core", required_argument, NULL, O_CORE},
		{"kick", required_argument, NULL, O_KICK},
		{"packed", no_argument, NULL, O_PACKED},
		{"indirect", no_argument, NULL, O_INDIRECT},
		{"no-irq", no_argument, NULL, O_NOIRQ},
		{"no-event-idx", no_argument, NULL, O_NOEVIDX},
		{"mem", required_argument, NULL, O_MEM},
		{"verify", no_argument, NULL, O_VERIFY},
		{"type", required_argument, NULL, O_TYPE},
		{"target", required_argument, NULL, O_TARGET},
		{"lun", required_argument, NULL, O_LUN},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	int c;

	*o = (struct perf_opts){.type = &perf_type_blk, .queues = 1, .depth = 32, .io_size = 4096, .wl = WL_RANDREAD,
			   .seconds = 10, .core = -1, .kick = KICK_AUTO, .irq = true,
			   .event_idx = true, .queue_size = 256, .mem_mib = 1024};
	while ((c = getopt_long(argc, argv, "s:n:q:o:w:t:S:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->socket = optarg;
			break;
		case 'n':
			if (tool_parse_u64(optarg, UINT64_MAX, &v) || v == 0 || v > VFE_MAX_QUEUES)
				goto bad;
			o->queues = (uint16_t)v;
			break;
		case 'q':
			if (tool_parse_u64(optarg, UINT64_MAX, &v) || v == 0 || v > 32768)
				goto bad;
			o->depth = (uint32_t)v;
			break;
		case 'o':
			if (tool_parse_size(optarg, &v) || v == 0 || v % 512 != 0 ||
			    v > (64u << 20))
				goto bad;
			o->io_size = (uint32_t)v;
			break;
		case 'w':
			if (strcmp(optarg, "read") == 0)
				o->wl = WL_READ;
			else if (strcmp(optarg, "write") == 0)
				o->wl = WL_WRITE;
			else if (strcmp(optarg, "randread") == 0)
				o->wl = WL_RANDREAD;
			else if (strcmp(optarg, "randwrite") == 0)
				o->wl = WL_RANDWRITE;
			else
				goto bad;
			break;
		case 't':
			if (tool_parse_u64(optarg, UINT64_MAX, &v) || v == 0 || v > 86400)
				goto bad;
			o->seconds = (uint32_t)v;
			break;
		case 'S':
			if (tool_parse_u64(optarg, UINT64_MAX, &v) || v == 0 || v > 32768)
				goto bad;
			o->queue_size = (uint16_t)v;
			break;
		case O_CORE:
			if (tool_parse_u64(optarg, UINT64_MAX, &v) || v >= CPU_SETSIZE)
				goto bad;
			o->core = (int)v;
			break;
		case O_KICK:
			if (strcmp(optarg, "auto") == 0)
				o->kick = KICK_AUTO;
			else if (strcmp(optarg, "always") == 0)
				o->kick = KICK_ALWAYS;
			else if (strcmp(optarg, "never") == 0)
				o->kick = KICK_NEVER;
			else
				goto bad;
			break;
		case O_PACKED:
			o->packed = true;
			break;
		case O_INDIRECT:
			o->indirect = true;
			break;
		case O_NOIRQ:
			o->irq = false;
			break;
		case O_NOEVIDX:
			o->event_idx = false;
			break;
		case O_VERIFY:
			o->verify = true;
			break;
		case O_MEM:
			if (tool_parse_u64(optarg, UINT64_MAX, &v) || v == 0 || v > (1u << 20))
				goto bad;
			o->mem_mib = v;
			break;
		case O_TYPE:
			if (strcmp(optarg, "blk") == 0)
				o->type = &perf_type_blk;
			else if (strcmp(optarg, "scsi") == 0)
				o->type = &perf_type_scsi;
			else
				goto bad;
			break;
		case O_TARGET:
			if (tool_parse_u64(optarg, UINT64_MAX, &v) || v > 255)
				goto bad;
			o->scsi_target = (uint8_t)v;
			break;
		case O_LUN:
			if (tool_parse_u64(optarg, UINT64_MAX, &v) || v > 16383)
				goto bad;
			o->scsi_lun = (uint16_t)v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (o->socket == NULL || optind != argc) {
		usage(stderr);
		return -EINVAL;
	}
	if (o->packed && o->type == &perf_type_scsi) {
		/* Neither spur nor QEMU's vhost-user-scsi offers VIRTIO_F_RING_PACKED. */
		fprintf(stderr, "spur_vhost_perf: --packed is not supported with --type scsi "
			"(virtio-scsi is driven with split rings only)\n");
		return -EINVAL;
	}
	return 0;
bad:
	fprintf(stderr, "spur_vhost_perf: bad value for -%c: %s\n", c < 256 ? c : '-', optarg);
	return -EINVAL;
}

static const char *
workload_name(enum perf_workload wl)
{
	static const char *const names[] = {"read", "write", "randread", "randwrite"};

	return names[wl];
}

static bool
is_write(enum perf_workload wl)
{
	return wl == WL_WRITE || wl == WL_RANDWRITE;
}

/* ---- helpers for the device types (perf.h) ------------------------------------- */

bool
perf_has(const struct perf *p, int bit)
{
	return (p->dev.features >> bit) & 1u;
}

int
perf_set_features(struct perf *p, uint64_t type_bits)
{
	struct vfe_dev *d = &p->dev;
	uint64_t want = type_bits | (1ull << VIRTIO_F_VERSION_1);
	int rc;

	if (p->o.event_idx)
		want |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	if (p->o.indirect)
		want |= 1ull << VIRTIO_RING_F_INDIRECT_DESC;
	if (p->o.packed)
		want |= 1ull << VIRTIO_F_RING_PACKED;
	rc = vfe_set_features(d, want);
	if (rc < 0)
		return rc;
	if (!perf_has(p, VIRTIO_F_VERSION_1)) {
		snprintf(d->err, sizeof(d->err), "backend does not offer VIRTIO_F_VERSION_1");
		return -ENOTSUP;
	}
	if (p->o.packed && !perf_has(p, VIRTIO_F_RING_PACKED)) {
		snprintf(d->err, sizeof(d->err), "backend does not offer packed rings");
		return -ENOTSUP;
	}
	if (p->o.indirect && !perf_has(p, VIRTIO_RING_F_INDIRECT_DESC)) {
		snprintf(d->err, sizeof(d->err), "backend does not offer indirect descriptors");
		return -ENOTSUP;
	}
	return 0;
}

void
perf_add_data(const struct perf *p, struct perf_slot *sl, uint64_t gpa, bool dev_writes)
{
	for (uint32_t i = 0; i < p->nseg; i++) {
		uint32_t done = i * p->seg_size;
		uint32_t len = p->o.io_size - done < p->seg_size ? p->o.io_size - done : p->seg_size;

		sl->bufs[sl->nbufs++] = (struct vfe_buf){.gpa = gpa + done, .len = len,
							 .write = dev_writes};
	}
}

/* Make slot s's chain (sl->bufs) available on qs; returns 0 or -ENOSPC. */
static int
add_slot(struct perf *p, struct perf_qstate *qs, uint32_t s)
{
	struct perf_slot *sl = &qs->slots[s];
	uint16_t id = (uint16_t)(p->o.packed ? s : s * qs->stride);

	if (p->o.indirect)
		return vfe_add_indirect(qs->q, id, sl->itable, sl->itable_gpa, sl->bufs, sl->nbufs);
	return vfe_add_chain(qs->q, id, sl->bufs, sl->nbufs);
}

int
perf_sync(struct perf *p, struct perf_qstate *qs, uint32_t s, uint32_t *len)
{
	uint64_t deadline = tool_now_ns() + SYNC_TIMEOUT_NS;
	uint16_t want = (uint16_t)(p->o.packed ? s : s * qs->stride), id;
	int rc;

	rc = add_slot(p, qs, s);
	if (rc < 0) {
		snprintf(p->dev.err, sizeof(p->dev.err), "queue %u: no room for a request",
			 qs->q->index);
		return rc;
	}
	vfe_publish(qs->q);
	vfe_kick(qs->q);
	while (!vfe_get_used(qs->q, &id, len)) {
		if (tool_now_ns() > deadline) {
			snprintf(p->dev.err, sizeof(p->dev.err),
				 "queue %u: set-up request not answered in 5 s", qs->q->index);
			return -ETIMEDOUT;
		}
	}
	if (id != want) {
		snprintf(p->dev.err, sizeof(p->dev.err), "queue %u: backend returned id %u, not %u",
			 qs->q->index, id, want);
		return -EPROTO;
	}
	return 0;
}

/* ---- set-up -------------------------------------------------------------------- */

static int
setup_device(struct perf *p)
{
	struct vfe_dev *d = &p->dev;
	uint32_t seg;
	int rc;

	/*
	 * A backend serves one frontend at a time and may still be closing the
	 * previous one (it then drops us at once): retry for a while.
	 */
	for (int attempt = 0;; attempt++) {
		rc = vfe_connect(d, p->o.socket, 5000);
		if (rc < 0)
			return rc;
		rc = vfe_negotiate(d, (1ull << VFE_PROTOCOL_F_MQ) |
					      (1ull << VFE_PROTOCOL_F_REPLY_ACK) |
					      (1ull << VFE_PROTOCOL_F_CONFIG));
		if (rc == 0)
			break;
		if ((rc != -ECONNRESET && rc != -EPIPE) || attempt == 100)
			return rc;
		vfe_close(d);
		usleep(50000);
	}
	rc = p->o.type->configure(p);
	if (rc < 0)
		return rc;
	if (p->o.queues > p->max_queues) {
		snprintf(d->err, sizeof(d->err), "backend offers %u queues, %u asked",
			 p->max_queues, p->o.queues);
		return -EINVAL;
	}
	seg = p->size_max < p->o.io_size ? p->size_max & ~511u : p->o.io_size;
	p->seg_size = seg;
	p->nseg = seg != 0 ? (p->o.io_size + seg - 1) / seg : 0;
	if (seg == 0 || p->nseg > PERF_MAX_DATA_SEGS || (p->seg_max != 0 && p->nseg > p->seg_max)) {
		snprintf(d->err, sizeof(d->err), "io size %u needs %u segments, too many",
			 p->o.io_size, p->nseg);
		return -EINVAL;
	}
	if (p->max_io != 0 && p->o.io_size > p->max_io) {
		snprintf(d->err, sizeof(d->err), "io size %u is over the device's limit of %" PRIu64
			 " bytes", p->o.io_size, p->max_io);
		return -EINVAL;
	}
	rc = vfe_mem_init(d, p->o.mem_mib << 20, 0);
	if (rc < 0) {
		snprintf(d->err, sizeof(d->err), "guest memory: %s", strerror(-rc));
		return rc;
	}
	rc = vfe_set_mem_table(d);
	if (rc < 0 || p->o.type->setup_queues == NULL)
		return rc;
	return p->o.type->setup_queues(p);
}

static uint32_t
next_pow2(uint32_t v)
{
	uint32_t r = 1;

	while (r < v)
		r <<= 1;
	return r;
}

static int
setup_queue(struct perf *p, uint16_t qi)
{
	struct vfe_dev *d = &p->dev;
	struct perf_qstate *qs = &p->qs[qi];
	uint32_t descs = p->o.indirect ? 1 : p->nseg + 2;
	uint32_t need = descs * p->o.depth;
	uint32_t size = p->o.queue_size;
	uint16_t index = (uint16_t)(p->first_queue + qi);
	int rc;

	if (size < need)
		size = p->o.packed ? need : next_pow2(need);
	else if (!p->o.packed)
		size = next_pow2(size);
	if (size > 32768) {
		snprintf(d->err, sizeof(d->err), "depth %u needs %u descriptors, over 32768",
			 p->o.depth, need);
		return -EINVAL;
	}
	if (index >= VFE_MAX_QUEUES) {
		snprintf(d->err, sizeof(d->err), "queue %u: ring index %u over %u", qi, index,
			 VFE_MAX_QUEUES);
		return -EINVAL;
	}
	rc = vfe_queue_setup(d, index, (uint16_t)size, p->o.packed);
	if (rc < 0)
		return rc;
	qs->q = &d->queues[index];
	qs->qi = qi;
	qs->stride = p->o.packed ? 1 : descs;
	qs->slots = calloc(p->o.depth, sizeof(*qs->slots));
	if (qs->slots == NULL)
		return -ENOMEM;
	for (uint32_t s = 0; s < p->o.depth; s++) {
		struct perf_slot *sl = &qs->slots[s];

		sl->ctl = vfe_mem_alloc(d, p->ctl_size, 64, &sl->ctl_gpa);
		sl->data = vfe_mem_alloc(d, p->o.io_size, 4096, &sl->data_gpa);
		if (p->o.verify && sl->data != NULL)
			sl->rdata = vfe_mem_alloc(d, p->o.io_size, 4096, &sl->rdata_gpa);
		if (p->o.indirect && sl->data != NULL)
			sl->itable = vfe_mem_alloc(d, sizeof(struct vring_desc) * (p->nseg + 2ull),
						   16, &sl->itable_gpa);
		if (sl->ctl == NULL || sl->data == NULL || (p->o.verify && sl->rdata == NULL) ||
		    (p->o.indirect && sl->itable == NULL)) {
			snprintf(d->err, sizeof(d->err), "guest memory too small (--mem)");
			return -ENOMEM;
		}
		sl->tag = (uint64_t)qi << 32 | s;
	}
	vfe_set_interrupts(qs->q, p->o.irq);
	return 0;
}

/* Once the capacity is known: check it fits the options, and seed the offsets. */
static int
setup_geometry(struct perf *p)
{
	struct vfe_dev *d = &p->dev;

	if (p->blk_size == 0 || p->o.io_size % p->blk_size != 0) {
		snprintf(d->err, sizeof(d->err), "io size %u is not a multiple of the block size %u",
			 p->o.io_size, p->blk_size);
		return -EINVAL;
	}
	if (p->capacity_bytes < p->o.io_size) {
		snprintf(d->err, sizeof(d->err), "device capacity %" PRIu64 " bytes < io size",
			 p->capacity_bytes);
		return -EINVAL;
	}
	if ((is_write(p->o.wl) || p->o.verify) && p->readonly) {
		snprintf(d->err, sizeof(d->err), "device is read-only");
		return -EROFS;
	}
	if (p->o.verify && p->capacity_bytes / p->o.io_size < (uint64_t)p->o.queues * p->o.depth) {
		snprintf(d->err, sizeof(d->err), "device too small for --verify at this depth");
		return -EINVAL;
	}
	for (uint16_t qi = 0; qi < p->o.queues; qi++) {
		struct perf_qstate *qs = &p->qs[qi];

		qs->rng = 0x9E3779B97F4A7C15ull * (qi + 1);
		qs->next_offset = (p->capacity_bytes / p->o.queues / p->o.io_size) * p->o.io_size *
				  qi;
	}
	return 0;
}

/* ---- the load loop --------------------------------------------------------------- */

/* --verify: every 8-byte word names its byte offset and the slot's generation. */
static void
fill_pattern(uint8_t *buf, uint32_t len, uint64_t offset, uint64_t gen)
{
	for (uint32_t i = 0; i + 8 <= len; i += 8) {
		uint64_t w = (offset + i) ^ (gen << 44) ^ 0xA5A55A5A0F0FF0F0ull;

		memcpy(buf + i, &w, 8);
	}
}

/*
 * --verify: a write of a fresh pattern to one of the slot's own blocks, or
 * its read-back. Returns the gpa of the data buffer to use.
 */
static uint64_t
prepare_verify(struct perf *p, struct perf_qstate *qs, uint32_t s)
{
	struct perf_slot *sl = &qs->slots[s];
	uint64_t stripes = (uint64_t)p->o.queues * p->o.depth;
	uint64_t mine = (uint64_t)qs->qi * p->o.depth + s;
	uint64_t ios_on_disk = p->capacity_bytes / p->o.io_size;

	sl->write = !sl->reading;
	if (sl->reading) {
		memset(sl->rdata, 0, p->o.io_size);
		return sl->rdata_gpa;
	}
	sl->offset = ((tool_xorshift(&qs->rng) % (ios_on_disk / stripes)) * stripes + mine) *
		     p->o.io_size;
	fill_pattern(sl->data, p->o.io_size, sl->offset, sl->gen);
	return sl->data_gpa;
}

static void
submit(struct perf *p, struct perf_qstate *qs, uint32_t s, uint64_t now)
{
	struct perf_slot *sl = &qs->slots[s];
	uint64_t ios_on_disk = p->capacity_bytes / p->o.io_size;
	uint64_t data_gpa = sl->data_gpa;

	if (p->o.verify) {
		data_gpa = prepare_verify(p, qs, s);
	} else {
		sl->write = is_write(p->o.wl);
		if (p->o.wl == WL_RANDREAD || p->o.wl == WL_RANDWRITE) {
			sl->offset = (tool_xorshift(&qs->rng) % ios_on_disk) * p->o.io_size;
		} else {
			if (qs->next_offset + p->o.io_size > ios_on_disk * p->o.io_size)
				qs->next_offset = 0;
			sl->offset = qs->next_offset;
			qs->next_offset += p->o.io_size;
		}
	}
	p->o.type->build(p, sl, data_gpa);
	sl->submit_ns = now;
	if (add_slot(p, qs, s) == 0)
		qs->inflight++;
}

static void
publish(struct perf *p, struct perf_qstate *qs)
{
	bool want = vfe_publish(qs->q);

	if (p->o.kick == KICK_ALWAYS || (p->o.kick == KICK_AUTO && want))
		vfe_kick(qs->q);
}

/* Returns -EPROTO when the backend returned an id we never submitted. */
static int
poll_queue(struct perf *p, struct perf_qstate *qs)
{
	uint64_t now = 0;
	uint16_t id;
	uint32_t len;
	bool any = false;
	char why[160];

	while (vfe_get_used(qs->q, &id, &len)) {
		uint32_t s = id / qs->stride;
		struct perf_slot *sl;
		int rc;

		if (!any) {
			now = tool_now_ns();
			any = true;
		}
		if (id % qs->stride != 0 || s >= p->o.depth || qs->inflight == 0) {
			fprintf(stderr, "queue %u: backend returned unknown id %u\n", qs->q->index,
				id);
			return -EPROTO;
		}
		sl = &qs->slots[s];
		qs->inflight--;
		if (now < p->end_ns) {
			uint64_t lat = now - sl->submit_ns;

			qs->ios++;
			qs->bytes += p->o.io_size;
			qs->lat_sum_ns += lat;
			qs->hist.b[hist_index(lat)]++;
		}
		why[0] = '\0';
		rc = p->o.type->check(p, sl, len, why, sizeof(why));
		if (rc == -EIO) {
			if (qs->errors++ == 0)
				fprintf(stderr, "queue %u: %s at offset %" PRIu64 " failed: %s\n",
					qs->q->index, sl->write ? "write" : "read", sl->offset, why);
		} else if (rc != 0) {
			qs->bad_len++;
		}
		if (p->o.verify && rc != -EIO) {
			if (sl->reading && memcmp(sl->rdata, sl->data, p->o.io_size) != 0 &&
			    qs->verify_errors++ == 0)
				fprintf(stderr, "queue %u: data read back at offset %" PRIu64 " differ "
					"from what was written\n", qs->q->index, sl->offset);
			sl->gen += sl->reading;
			sl->reading = !sl->reading;
		}
		if (!p->stopping)
			submit(p, qs, s, now);
	}
	if (any && !p->stopping)
		publish(p, qs);
	return any ? 1 : 0;
}

static void
print_line(const char *prefix, uint64_t ios, uint64_t bytes, uint64_t lat_sum,
	   const struct perf_hist *h, double secs)
{
	printf("%sIOPS %.0f MiB/s %.2f avg_lat_us %.2f p50_us %.2f p99_us %.2f\n", prefix,
	       (double)ios / secs, (double)bytes / secs / 1048576.0,
	       ios ? (double)lat_sum / (double)ios / 1000.0 : 0.0,
	       hist_percentile(h, ios, 50) / 1000.0, hist_percentile(h, ios, 99) / 1000.0);
}

static int
run(struct perf *p)
{
	uint64_t start, next_sock_check = 0;
	uint32_t inflight;
	int rc = 0;

	start = tool_now_ns();
	p->end_ns = start + (uint64_t)p->o.seconds * 1000000000ull;
	for (uint16_t qi = 0; qi < p->o.queues; qi++) {
		for (uint32_t s = 0; s < p->o.depth; s++)
			submit(p, &p->qs[qi], s, start);
		publish(p, &p->qs[qi]);
	}
	for (uint64_t iter = 0;; iter++) {
		inflight = 0;
		for (uint16_t qi = 0; qi < p->o.queues; qi++) {
			if (poll_queue(p, &p->qs[qi]) < 0)
				return -EPROTO;
			inflight += p->qs[qi].inflight;
		}
		if ((iter & 63) != 0)
			continue;
		uint64_t now = tool_now_ns();

		if (!p->stopping && now >= p->end_ns)
			p->stopping = true;
		if (now >= next_sock_check) {
			struct pollfd pfd = {.fd = p->dev.sock, .events = POLLIN};

			/* The backend sends nothing unasked: readable means it hung up. */
			next_sock_check = now + 10000000ull;
			if (poll(&pfd, 1, 0) > 0) {
				fprintf(stderr, "spur_vhost_perf: the backend closed the connection\n");
				rc = -ECONNRESET;
				break;
			}
		}
		if (p->stopping && inflight == 0)
			break;
		if (p->stopping && now >= p->end_ns + DRAIN_TIMEOUT_NS) {
			fprintf(stderr, "spur_vhost_perf: %u requests never completed\n", inflight);
			rc = -ETIMEDOUT;
			break;
		}
	}
	return rc;
}

static void
report(struct perf *p)
{
	struct perf_hist *all = calloc(1, sizeof(*all));
	uint64_t ios = 0, bytes = 0, lat = 0, errors = 0, bad_len = 0, verr = 0;
	double secs = p->o.seconds;
	char prefix[64];

	if (all == NULL)
		return;
	for (uint16_t qi = 0; qi < p->o.queues; qi++) {
		struct perf_qstate *qs = &p->qs[qi];

		snprintf(prefix, sizeof(prefix), "queue %u ", qi);
		print_line(prefix, qs->ios, qs->bytes, qs->lat_sum_ns, &qs->hist, secs);
		printf("queue %u kicks %" PRIu64 " errors %" PRIu64 " bad_len %" PRIu64 "\n", qi,
		       qs->q->kicks, qs->errors, qs->bad_len);
		ios += qs->ios;
		bytes += qs->bytes;
		lat += qs->lat_sum_ns;
		errors += qs->errors;
		bad_len += qs->bad_len;
		verr += qs->verify_errors;
		for (uint32_t i = 0; i < HIST_BUCKETS; i++)
			all->b[i] += qs->hist.b[i];
	}
	print_line("", ios, bytes, lat, all, secs);
	if (errors || bad_len)
		printf("errors %" PRIu64 " bad_len %" PRIu64 "\n", errors, bad_len);
	if (p->o.verify)
		printf("verify: %" PRIu64 " mismatches\n", verr);
	free(all);
}

int
main(int argc, char **argv)
{
	struct perf *p = calloc(1, sizeof(*p));
	uint64_t errors = 0;
	int rc;

	if (p == NULL)
		return 1;
	if (parse_opts(argc, argv, &p->o) < 0) {
		free(p);
		return 1;
	}
	if (p->o.core >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(p->o.core, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			perror("spur_vhost_perf: sched_setaffinity");
			return 1;
		}
	}
	rc = setup_device(p);
	for (uint16_t qi = 0; rc == 0 && qi < p->o.queues; qi++)
		rc = setup_queue(p, qi);
	if (rc == 0 && p->o.type->probe != NULL)
		rc = p->o.type->probe(p);
	if (rc == 0)
		rc = setup_geometry(p);
	if (rc < 0) {
		fprintf(stderr, "spur_vhost_perf: %s (%s)\n",
			p->dev.err[0] ? p->dev.err : "set-up failed", strerror(-rc));
		vfe_close(&p->dev);
		for (uint16_t qi = 0; qi < p->o.queues; qi++)
			free(p->qs[qi].slots);
		free(p);
		return 1;
	}
	printf("# %s: %s, capacity %" PRIu64 " MiB, blk_size %u, features 0x%" PRIx64
	       ", protocol 0x%" PRIx64 ", queues %u of %u, ring %s size %u, depth %u, %s %u bytes\n",
	       p->o.socket, p->o.type->name, p->capacity_bytes >> 20, p->blk_size,
	       p->dev.features, p->dev.protocol_features, p->o.queues, p->max_queues,
	       p->o.packed ? "packed" : "split", p->qs[0].q->size, p->o.depth,
	       p->o.verify ? "verify" : workload_name(p->o.wl), p->o.io_size);
	fflush(stdout);
	rc = run(p);
	report(p);
	for (uint16_t qi = 0; qi < p->o.queues; qi++) {
		errors += p->qs[qi].errors + p->qs[qi].verify_errors;
		free(p->qs[qi].slots);
	}
	/* Stop every ring the backend runs (a scsi device's control and event queues too). */
	for (uint16_t i = 0; rc == 0 && i < VFE_MAX_QUEUES; i++) {
		if (p->dev.queues[i].enabled && vfe_queue_stop(&p->dev, i, NULL) < 0)
			fprintf(stderr, "spur_vhost_perf: GET_VRING_BASE %u: %s\n", i, p->dev.err);
	}
	vfe_close(&p->dev);
	free(p);
	return rc == 0 && errors == 0 ? 0 : 1;
}
