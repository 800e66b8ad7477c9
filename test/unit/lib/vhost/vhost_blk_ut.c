/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the virtio-blk device type (lib/vhost/vhost_blk.c and
 * vhost_blk_io.c) over the real guest-memory table and virtqueues
 * (vhost_mem.c, virtq_*.c). The guest side is tools/vhost_perf's frontend
 * (its own ring code, not spur's), driving split and packed rings in a
 * memfd; the bdev is a RAM disk stub whose completions the test releases
 * explicitly, so in-flight states, -ENOMEM waits, stop and hot-remove can
 * be stepped through. Threads and the protocol side are stubbed: one
 * thread, messages queued and run by the test.
 *
 * Covered: reads and writes with data sliced around a header and status
 * that share descriptors with data or span several, misaligned and
 * out-of-range requests, read-only controllers, flush, GET_ID, unknown
 * types, discard / write-zeroes segments (flags, counts, bounds, UNMAP),
 * requests without a status byte, malformed chains (split and packed,
 * direct and indirect), -ENOMEM and io_wait, stop with requests
 * in flight, hot-remove (channel put, descriptor closed, new requests
 * fail), resize (config capacity and the change notification), config
 * space and features, and packed rings.
 */
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "frontend.h"
#include "vhost_blk_internal.h"
#include "vhost_rq.h"

#define UT_BLOCKS 2048u
#define UT_GPA_BASE 0x100000ull
#define UT_MEM (16u << 20)
#define UT_QSIZE 64

/* ---- RAM-disk bdev stub ----------------------------------------------------- */

struct spur_bdev_io {
	spur_bdev_io_cb cb;
	void *arg;
	int status;
	struct spur_bdev_io *next;
};

static struct {
	uint32_t block_size;
	uint64_t num_blocks;
	uint8_t *ram;
	bool write_cache, can_unmap, can_wz;
	bool open, open_write;
	int closed;
	int channels;
	spur_bdev_event_cb event_cb;
	void *event_ctx;
	int reads, writes, flushes, unmaps, wzs;
	uint32_t last_wz_flags;
	int enomem_left;
	int fail_status;            /* next completion's status */
	struct spur_bdev_io *pending, **pending_tail;
	struct spur_bdev_io_wait_entry *waiters;
} g_bd;

static int g_chan_token;
static int g_thread_token;

struct spur_bdev *
spur_bdev_desc_get_bdev(struct spur_bdev_desc *desc)
{
	return (struct spur_bdev *)desc;
}

int
spur_bdev_open(const char *name, bool write, spur_bdev_event_cb event_cb, void *event_ctx,
	       struct spur_bdev_desc **desc)
{
	if (strcmp(name, "ut0") != 0)
		return -ENODEV;
	g_bd.open = true;
	g_bd.open_write = write;
	g_bd.event_cb = event_cb;
	g_bd.event_ctx = event_ctx;
	*desc = (struct spur_bdev_desc *)&g_bd;
	return 0;
}

void
spur_bdev_close(struct spur_bdev_desc *desc)
{
	assert_ptr_equal(desc, &g_bd);
	assert_int_equal(g_bd.channels, 0);
	g_bd.open = false;
	g_bd.closed++;
}

uint32_t spur_bdev_get_block_size(const struct spur_bdev *b) { (void)b; return g_bd.block_size; }
uint64_t spur_bdev_get_num_blocks(const struct spur_bdev *b) { (void)b; return g_bd.num_blocks; }
bool spur_bdev_has_write_cache(const struct spur_bdev *b) { (void)b; return g_bd.write_cache; }
uint32_t spur_bdev_get_optimal_io_boundary(const struct spur_bdev *b) { (void)b; return 64; }
uint32_t spur_bdev_get_max_unmap_blocks(const struct spur_bdev *b) { (void)b; return 0; }
uint32_t spur_bdev_get_max_write_zeroes_blocks(const struct spur_bdev *b) { (void)b; return 0; }
const char *spur_bdev_status_name(int status) { (void)status; return "ut"; }

bool
spur_bdev_io_type_supported(const struct spur_bdev *b, enum spur_bdev_io_type type)
{
	(void)b;
	if (type == SPUR_BDEV_IO_UNMAP)
		return g_bd.can_unmap;
	if (type == SPUR_BDEV_IO_WRITE_ZEROES)
		return g_bd.can_wz;
	return true;
}

void
spur_bdev_get_uuid_str(const struct spur_bdev *b, char *buf, size_t len)
{
	(void)b;
	snprintf(buf, len, "0123abcd-4567-89ef-0123-456789abcdef");
}

struct spur_io_channel *
spur_bdev_get_io_channel(struct spur_bdev_desc *desc)
{
	assert_ptr_equal(desc, &g_bd);
	assert_true(g_bd.open);
	g_bd.channels++;
	return (struct spur_io_channel *)&g_chan_token;
}

void
spur_put_io_channel(struct spur_io_channel *ch)
{
	assert_ptr_equal(ch, &g_chan_token);
	g_bd.channels--;
}

static int
queue_io(uint64_t off, uint64_t num, spur_bdev_io_cb cb, void *arg)
{
	struct spur_bdev_io *io;

	if (off > g_bd.num_blocks || num > g_bd.num_blocks - off)
		return -EINVAL;
	if (g_bd.enomem_left > 0) {
		g_bd.enomem_left--;
		return -ENOMEM;
	}
	io = calloc(1, sizeof(*io));
	io->cb = cb;
	io->arg = arg;
	io->status = g_bd.fail_status;
	g_bd.fail_status = 0;
	*g_bd.pending_tail = io;
	g_bd.pending_tail = &io->next;
	return 0;
}

static void
iov_xfer(struct iovec *iov, int cnt, uint8_t *ram, uint64_t len, bool to_iov)
{
	uint64_t done = 0;

	for (int i = 0; i < cnt; i++) {
		uint64_t n = iov[i].iov_len;

		assert_true(done + n <= len);
		if (to_iov)
			memcpy(iov[i].iov_base, ram + done, n);
		else
			memcpy(ram + done, iov[i].iov_base, n);
		done += n;
	}
	assert_int_equal(done, len);
}

int
spur_bdev_readv_blocks(struct spur_bdev_desc *desc, struct spur_io_channel *ch,
		       struct iovec *iov, int iovcnt, uint64_t off, uint64_t num,
		       spur_bdev_io_cb cb, void *arg)
{
	int rc = queue_io(off, num, cb, arg);

	(void)desc;
	(void)ch;
	if (rc == 0) {
		g_bd.reads++;
		iov_xfer(iov, iovcnt, g_bd.ram + off * g_bd.block_size, num * g_bd.block_size, true);
	}
	return rc;
}

int
spur_bdev_writev_blocks(struct spur_bdev_desc *desc, struct spur_io_channel *ch,
			struct iovec *iov, int iovcnt, uint64_t off, uint64_t num, uint32_t flags,
			spur_bdev_io_cb cb, void *arg)
{
	int rc;

	(void)ch;
	(void)flags;
	if (!((struct spur_bdev *)desc == (struct spur_bdev *)&g_bd && g_bd.open_write))
		return -EBADF;
	rc = queue_io(off, num, cb, arg);
	if (rc == 0) {
		g_bd.writes++;
		iov_xfer(iov, iovcnt, g_bd.ram + off * g_bd.block_size, num * g_bd.block_size, false);
	}
	return rc;
}

int
spur_bdev_flush_blocks(struct spur_bdev_desc *desc, struct spur_io_channel *ch, uint64_t off,
		       uint64_t num, spur_bdev_io_cb cb, void *arg)
{
	int rc = queue_io(off, num, cb, arg);

	(void)desc;
	(void)ch;
	if (rc == 0)
		g_bd.flushes++;
	return rc;
}

int
spur_bdev_unmap_blocks(struct spur_bdev_desc *desc, struct spur_io_channel *ch, uint64_t off,
		       uint64_t num, spur_bdev_io_cb cb, void *arg)
{
	int rc = queue_io(off, num, cb, arg);

	(void)desc;
	(void)ch;
	if (rc == 0) {
		g_bd.unmaps++;
		memset(g_bd.ram + off * g_bd.block_size, 0, num * g_bd.block_size);
	}
	return rc;
}

int
spur_bdev_write_zeroes_blocks(struct spur_bdev_desc *desc, struct spur_io_channel *ch,
			      uint64_t off, uint64_t num, uint32_t flags, spur_bdev_io_cb cb,
			      void *arg)
{
	int rc = queue_io(off, num, cb, arg);

	(void)desc;
	(void)ch;
	if (rc == 0) {
		g_bd.wzs++;
		g_bd.last_wz_flags = flags;
		memset(g_bd.ram + off * g_bd.block_size, 0, num * g_bd.block_size);
	}
	return rc;
}

void
spur_bdev_free_io(struct spur_bdev_io *io)
{
	free(io);
}

int
spur_bdev_queue_io_wait(struct spur_bdev *bdev, struct spur_io_channel *ch,
			struct spur_bdev_io_wait_entry *entry)
{
	(void)ch;
	assert_ptr_equal(bdev, &g_bd);
	entry->next = g_bd.waiters;
	g_bd.waiters = entry;
	return 0;
}

/* Complete every pending request (FIFO), then wake io waiters. */
static int
ut_complete_all(void)
{
	struct spur_bdev_io *io = g_bd.pending;
	struct spur_bdev_io_wait_entry *w = g_bd.waiters;
	int n = 0;

	g_bd.pending = NULL;
	g_bd.pending_tail = &g_bd.pending;
	g_bd.waiters = NULL;
	while (io != NULL) {
		struct spur_bdev_io *next = io->next;

		io->cb(io, io->status, io->arg);
		io = next;
		n++;
	}
	while (w != NULL) {
		struct spur_bdev_io_wait_entry *next = w->next;

		w->cb_fn(w->cb_arg);
		w = next;
	}
	return n;
}

/* ---- thread and protocol stubs ------------------------------------------------- */

struct ut_msg {
	spur_msg_fn fn;
	void *ctx;
};
static struct ut_msg g_msgs[16];
static int g_nmsgs;

struct spur_thread *spur_get_thread(void) { return (struct spur_thread *)&g_thread_token; }
struct spur_thread *spur_get_app_thread(void) { return (struct spur_thread *)&g_thread_token; }

int
spur_thread_send_msg(struct spur_thread *thread, spur_msg_fn fn, void *ctx)
{
	(void)thread;
	assert_true(g_nmsgs < 16);
	g_msgs[g_nmsgs++] = (struct ut_msg){fn, ctx};
	return 0;
}

void
spur_for_each_thread(spur_msg_fn fn, void *ctx, spur_msg_fn cpl)
{
	fn(ctx);
	cpl(ctx);
}

static void
ut_run_msgs(void)
{
	for (int i = 0; i < g_nmsgs; i++)
		g_msgs[i].fn(g_msgs[i].ctx);
	g_nmsgs = 0;
}

static struct vhost_ctrlr g_ctrlr;
static int g_config_changed;
static int g_requests;          /* begin - end */
static struct vhost_mem *g_mem;

int
vhost_ctrlr_create(const char *name, const struct spur_cpuset *cpumask,
		   const struct vhost_backend_ops *ops, void *backend_ctx, struct vhost_ctrlr **out)
{
	(void)cpumask;
	memset(&g_ctrlr, 0, sizeof(g_ctrlr));
	g_ctrlr.name = (char *)name;
	g_ctrlr.ops = ops;
	g_ctrlr.backend_ctx = backend_ctx;
	g_ctrlr.coalesce_iops_threshold = 60000;
	*out = &g_ctrlr;
	return 0;
}

struct vhost_ctrlr *
vhost_ctrlr_find(const char *name)
{
	(void)name;
	return NULL;
}

int
vhost_ctrlr_config_changed(struct vhost_ctrlr *c)
{
	assert_ptr_equal(c, &g_ctrlr);
	g_config_changed++;
	return 0;
}

struct vhost_mem *
vhost_queue_request_begin(struct vhost_queue *q)
{
	(void)q;
	g_requests++;
	return g_mem;
}

void
vhost_queue_request_end(struct vhost_queue *q, struct vhost_mem *mem)
{
	(void)q;
	assert_ptr_equal(mem, g_mem);
	g_requests--;
}

struct vhost_ctrlr *
vhost_queue_get_ctrlr(const struct vhost_queue *q)
{
	(void)q;
	return &g_ctrlr;
}

/* ---- fixture ------------------------------------------------------------------------ */

static struct vfe_dev g_fe;
static struct vfe_queue *g_fq;
static struct vhost_queue g_q;
static bool g_started;
static int g_stops;

static void
ut_bdev_reset(void)
{
	free(g_bd.ram);
	memset(&g_bd, 0, sizeof(g_bd));
	g_bd.block_size = 512;
	g_bd.num_blocks = UT_BLOCKS;
	g_bd.ram = calloc(UT_BLOCKS, 512);
	g_bd.write_cache = g_bd.can_unmap = g_bd.can_wz = true;
	g_bd.pending_tail = &g_bd.pending;
	for (uint32_t i = 0; i < UT_BLOCKS * 512; i++)
		g_bd.ram[i] = (uint8_t)(i * 7 + i / 512);
}

static void
ut_setup(bool packed, bool readonly)
{
	struct vhost_mem_desc md;
	struct virtq_config cfg = {0};
	const char *err = NULL;
	struct vhost_ctrlr *c = NULL;

	ut_bdev_reset();
	g_requests = g_config_changed = g_stops = 0;
	vfe_init(&g_fe);
	assert_int_equal(vfe_mem_init(&g_fe, UT_MEM, UT_GPA_BASE), 0);
	md = (struct vhost_mem_desc){.gpa = UT_GPA_BASE, .size = UT_MEM,
				     .uva = (uint64_t)(uintptr_t)g_fe.mem, .mmap_offset = 0,
				     .fd = dup(g_fe.mem_fd)};
	g_mem = vhost_mem_build(&md, 1, NULL, &err);
	assert_non_null(g_mem);
	assert_int_equal(vfe_queue_init_local(&g_fe, 0, UT_QSIZE, packed), 0);
	g_fq = &g_fe.queues[0];

	cfg.size = UT_QSIZE;
	cfg.packed = packed;
	cfg.indirect = true;
	cfg.desc_uva = (uint64_t)(uintptr_t)vfe_gpa_to_ptr(&g_fe, g_fq->desc_gpa);
	cfg.avail_uva = (uint64_t)(uintptr_t)vfe_gpa_to_ptr(&g_fe, g_fq->avail_gpa);
	cfg.used_uva = (uint64_t)(uintptr_t)vfe_gpa_to_ptr(&g_fe, g_fq->used_gpa);
	cfg.base = packed ? 0x8000 : 0;
	cfg.used_base = packed ? 0x8000 : 0;
	memset(&g_q, 0, sizeof(g_q));
	g_q.cfg = cfg;
	assert_int_equal(virtq_init(&g_q.vq, &cfg, g_mem, -1, &err), 0);

	assert_int_equal(vhost_blk_ctrlr_create("vhost.0", NULL, "ut0", readonly, packed, &c), 0);
	assert_ptr_equal(c, &g_ctrlr);
	assert_true(g_bd.open);
	assert_int_equal(g_bd.open_write, !readonly);
	assert_int_equal(vhost_blk_queue_start(&g_q), 0);
	assert_int_equal(g_bd.channels, 1);
	g_started = true;
}

static void
ut_stop_done(struct vhost_queue *q)
{
	assert_ptr_equal(q, &g_q);
	g_stops++;
}

static void
ut_teardown(void)
{
	if (g_started) {
		vhost_rq_stop(&g_q, ut_stop_done);
		while (g_stops == 0 && ut_complete_all() > 0)
			;
		assert_int_equal(g_stops, 1);
		g_started = false;
	}
	ut_run_msgs();
	assert_null(g_q.backend_ctx);
	assert_int_equal(g_requests, 0);
	assert_int_equal(g_bd.channels, 0);
	vhost_blk_ops.destruct(&g_ctrlr);
	assert_false(g_bd.open);
	virtq_fini(&g_q.vq);
	vhost_mem_put(g_mem);
	vfe_close(&g_fe);
}

/* Rebuild controller and queue over a bdev with other properties. */
static void
ut_recreate(bool can_unmap, uint32_t block_size, uint64_t num_blocks)
{
	struct vhost_ctrlr *c = NULL;

	vhost_rq_stop(&g_q, ut_stop_done);
	assert_int_equal(g_stops, 1);
	g_stops = 0;
	vhost_blk_ops.destruct(&g_ctrlr);
	ut_run_msgs();
	g_bd.can_unmap = can_unmap;
	g_bd.block_size = block_size;
	g_bd.num_blocks = num_blocks;
	assert_int_equal(vhost_blk_ctrlr_create("vhost.0", NULL, "ut0", false, false, &c), 0);
	assert_int_equal(vhost_blk_queue_start(&g_q), 0);
}

/* ---- request helpers ------------------------------------------------------------------ */

struct ut_req {
	struct virtio_blk_outhdr *hdr;
	uint64_t hdr_gpa;
	uint8_t *data;
	uint64_t data_gpa;
	uint8_t *status;
	uint64_t status_gpa;
	uint16_t id;
};

static uint16_t g_next_id;

static void
ut_req_alloc(struct ut_req *r, uint32_t type, uint64_t sector, uint32_t data_len)
{
	r->hdr = vfe_mem_alloc(&g_fe, 64, 64, &r->hdr_gpa);
	r->data = vfe_mem_alloc(&g_fe, data_len ? data_len : 1, 4096, &r->data_gpa);
	r->status = vfe_mem_alloc(&g_fe, 1, 1, &r->status_gpa);
	assert_non_null(r->hdr);
	assert_non_null(r->data);
	r->hdr->type = type;
	r->hdr->ioprio = 0;
	r->hdr->sector = sector;
	*r->status = 0xee;
}

/* Post bufs as a chain (split: a fresh id range of 8 descriptors). */
static void
ut_post(struct ut_req *r, const struct vfe_buf *bufs, int n)
{
	r->id = g_fq->packed ? (uint16_t)(g_next_id % UT_QSIZE) : (uint16_t)((g_next_id * 8) % UT_QSIZE);
	g_next_id++;
	assert_int_equal(vfe_add_chain(g_fq, r->id, bufs, n), 0);
	vfe_publish(g_fq);
}

/* The common layout: header, data (if any), status. */
static void
ut_submit(struct ut_req *r, uint32_t type, uint64_t sector, uint32_t data_len, bool data_write)
{
	struct vfe_buf bufs[3];
	int n = 0;

	ut_req_alloc(r, type, sector, data_len);
	bufs[n++] = (struct vfe_buf){r->hdr_gpa, 16, false};
	if (data_len)
		bufs[n++] = (struct vfe_buf){r->data_gpa, data_len, data_write};
	bufs[n++] = (struct vfe_buf){r->status_gpa, 1, true};
	ut_post(r, bufs, n);
}

/* Poll, complete the bdev, poll again (flush); return the used entry. */
static void
ut_run(void)
{
	vhost_blk_queue_poll(&g_q);
	while (ut_complete_all() > 0)
		;
	vhost_blk_queue_poll(&g_q);
	ut_run_msgs();
}

static uint32_t
ut_expect_used(const struct ut_req *r)
{
	uint16_t id;
	uint32_t len;

	assert_true(vfe_get_used(g_fq, &id, &len));
	assert_int_equal(id, r->id);
	return len;
}

static void
ut_expect_none(void)
{
	uint16_t id;
	uint32_t len;

	assert_false(vfe_get_used(g_fq, &id, &len));
}

/* ---- tests ------------------------------------------------------------------------------ */

static void
test_read_write(bool packed)
{
	struct ut_req r, w;

	ut_setup(packed, false);
	ut_submit(&r, VIRTIO_BLK_T_IN, 8, 4096, true);
	ut_run();
	assert_int_equal(ut_expect_used(&r), 4097);
	assert_int_equal(*r.status, VIRTIO_BLK_S_OK);
	assert_memory_equal(r.data, g_bd.ram + 8 * 512, 4096);
	assert_int_equal(g_bd.reads, 1);

	ut_submit(&w, VIRTIO_BLK_T_OUT, 100, 1024, false);
	memset(w.data, 0x5a, 1024);
	ut_run();
	assert_int_equal(ut_expect_used(&w), 1);
	assert_int_equal(*w.status, VIRTIO_BLK_S_OK);
	assert_int_equal(g_bd.ram[100 * 512], 0x5a);
	assert_int_equal(g_bd.ram[102 * 512 - 1], 0x5a);
	assert_int_not_equal(g_bd.ram[102 * 512], 0x5a);
	ut_teardown();
}

static void
test_read_write_split(void **state)
{
	(void)state;
	test_read_write(false);
}

static void
test_read_write_packed(void **state)
{
	(void)state;
	test_read_write(true);
}

/* Header split over two descriptors, data sharing descriptors with the
 * header's tail and with the status byte. */
static void
test_odd_layouts(void **state)
{
	uint8_t *buf, *wbuf;
	uint64_t gpa, wgpa;
	struct ut_req r;
	struct vfe_buf bufs[4];

	(void)state;
	ut_setup(false, false);
	/* OUT: [10 bytes of header] [6 bytes of header + 512 data] [512 data] [status] */
	buf = vfe_mem_alloc(&g_fe, 8192, 4096, &gpa);
	ut_req_alloc(&r, VIRTIO_BLK_T_OUT, 16, 0);
	memcpy(buf, r.hdr, 16);
	memset(buf + 16, 0x11, 512);
	memset(buf + 1024, 0x22, 512);
	bufs[0] = (struct vfe_buf){gpa, 10, false};
	bufs[1] = (struct vfe_buf){gpa + 10, 6 + 512, false};
	bufs[2] = (struct vfe_buf){gpa + 1024, 512, false};
	bufs[3] = (struct vfe_buf){r.status_gpa, 1, true};
	ut_post(&r, bufs, 4);
	ut_run();
	assert_int_equal(ut_expect_used(&r), 1);
	assert_int_equal(*r.status, VIRTIO_BLK_S_OK);
	assert_int_equal(g_bd.ram[16 * 512], 0x11);
	assert_int_equal(g_bd.ram[17 * 512], 0x22);
	assert_int_equal(g_bd.ram[18 * 512 - 1], 0x22);

	/* IN: [header] [1024 + 1 bytes: data then status in one descriptor] */
	wbuf = vfe_mem_alloc(&g_fe, 2048, 4096, &wgpa);
	ut_req_alloc(&r, VIRTIO_BLK_T_IN, 16, 0);
	wbuf[1024] = 0xee;
	bufs[0] = (struct vfe_buf){r.hdr_gpa, 16, false};
	bufs[1] = (struct vfe_buf){wgpa, 1025, true};
	ut_post(&r, bufs, 2);
	ut_run();
	assert_int_equal(ut_expect_used(&r), 1025);
	assert_int_equal(wbuf[1024], VIRTIO_BLK_S_OK);
	assert_memory_equal(wbuf, g_bd.ram + 16 * 512, 1024);
	ut_teardown();
}

static bool
all_bytes(const uint8_t *p, uint32_t len, uint8_t v)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void
test_bad_requests(void **state)
{
	struct ut_req r;
	struct vfe_buf bufs[2];

	(void)state;
	ut_setup(false, false);
	/* Not a multiple of the block size. */
	ut_submit(&r, VIRTIO_BLK_T_IN, 0, 100, true);
	ut_run();
	ut_expect_used(&r);
	assert_int_equal(*r.status, VIRTIO_BLK_S_IOERR);
	/* Beyond the capacity, and overflowing. */
	ut_submit(&r, VIRTIO_BLK_T_IN, UT_BLOCKS - 1, 1024, true);
	ut_run();
	ut_expect_used(&r);
	assert_int_equal(*r.status, VIRTIO_BLK_S_IOERR);
	ut_submit(&r, VIRTIO_BLK_T_OUT, UINT64_MAX - 1, 1024, false);
	ut_run();
	ut_expect_used(&r);
	assert_int_equal(*r.status, VIRTIO_BLK_S_IOERR);
	assert_int_equal(g_bd.reads + g_bd.writes, 0);
	/* Unknown type. */
	ut_submit(&r, 77, 0, 512, true);
	ut_run();
	ut_expect_used(&r);
	assert_int_equal(*r.status, VIRTIO_BLK_S_UNSUPP);
	/* Header shorter than 16 bytes. */
	ut_req_alloc(&r, VIRTIO_BLK_T_IN, 0, 0);
	bufs[0] = (struct vfe_buf){r.hdr_gpa, 8, false};
	bufs[1] = (struct vfe_buf){r.status_gpa, 1, true};
	ut_post(&r, bufs, 2);
	ut_run();
	assert_int_equal(ut_expect_used(&r), 1);
	assert_int_equal(*r.status, VIRTIO_BLK_S_IOERR);
	/* A bdev failure. */
	g_bd.fail_status = SPUR_BDEV_ERR_MEDIA;
	ut_submit(&r, VIRTIO_BLK_T_IN, 0, 512, true);
	ut_run();
	assert_int_equal(ut_expect_used(&r), 1);
	assert_int_equal(*r.status, VIRTIO_BLK_S_IOERR);
	ut_expect_none();
	ut_teardown();
}

/*
 * A request without a writable byte (only readable buffers; or a writable
 * one of length zero, which the virtq layer calls malformed) has nowhere
 * for its status: it is not
 * returned (empty, the driver would read a stale status), the bdev never
 * sees it, and the queue is broken (NEEDS_RESET) and serves nothing more.
 */
static void
ut_no_status(bool packed, bool zero_len_writable)
{
	struct ut_req r;
	struct vfe_buf bufs[2];

	ut_setup(packed, false);
	ut_req_alloc(&r, VIRTIO_BLK_T_IN, 0, 512);
	memset(r.data, 0xdd, 512);
	bufs[0] = (struct vfe_buf){r.hdr_gpa, 16, false};
	bufs[1] = zero_len_writable ? (struct vfe_buf){r.status_gpa, 0, true}
				    : (struct vfe_buf){r.data_gpa, 512, false};
	ut_post(&r, bufs, 2);
	ut_run();
	ut_expect_none();
	assert_true(g_q.vq.broken);
	assert_non_null(strstr(g_q.vq.broken_reason, "status byte"));
	assert_int_equal(*r.status, 0xee);
	assert_true(all_bytes(r.data, 512, 0xdd));
	assert_int_equal(g_bd.reads + g_bd.writes, 0);
	assert_int_equal(g_requests, 0);
	ut_submit(&r, VIRTIO_BLK_T_IN, 8, 512, true);
	ut_run();
	ut_expect_none();
	assert_int_equal(g_bd.reads + g_bd.writes, 0);
	ut_teardown();
}

static void
test_no_status(void **state)
{
	(void)state;
	ut_no_status(false, false);
	ut_no_status(false, true);
	ut_no_status(true, false);
	ut_no_status(true, true);
}

/* Post bufs as one chain, direct or through an indirect table in guest memory. */
static void
ut_post_chain(struct ut_req *r, const struct vfe_buf *bufs, int n, bool indirect)
{
	struct vring_desc *table;
	uint64_t table_gpa;

	if (!indirect) {
		ut_post(r, bufs, n);
		return;
	}
	table = vfe_mem_alloc(&g_fe, 16u * (uint32_t)n, 16, &table_gpa);
	assert_non_null(table);
	r->id = g_fq->packed ? (uint16_t)(g_next_id % UT_QSIZE) : (uint16_t)((g_next_id * 8) % UT_QSIZE);
	g_next_id++;
	assert_int_equal(vfe_add_indirect(g_fq, r->id, table, table_gpa, bufs, n), 0);
	vfe_publish(g_fq);
}

/*
 * Chains the virtq layer finds malformed (virtq.h, "Malformed chains"):
 * IOERR in the last byte of the last writable descriptor, used length 1,
 * nothing else written (readable buffers, the data) and the bdev never
 * called; when that descriptor lies outside guest memory, nothing is
 * returned and the queue is broken (NEEDS_RESET).
 */
static void
test_malformed(bool packed, bool indirect)
{
	const uint64_t outside = UT_GPA_BASE + UT_MEM;
	struct vfe_buf bufs[4];
	uint64_t extra_gpa;
	uint8_t *extra;
	struct ut_req r;

	ut_setup(packed, false);
	extra = vfe_mem_alloc(&g_fe, 512, 64, &extra_gpa);
	assert_non_null(extra);
	memset(extra, 0x33, 512);

	/* Header, data, a stray readable buffer, status. */
	ut_req_alloc(&r, VIRTIO_BLK_T_IN, 0, 512);
	memset(r.data, 0xdd, 512);
	bufs[0] = (struct vfe_buf){r.hdr_gpa, 16, false};
	bufs[1] = (struct vfe_buf){r.data_gpa, 512, true};
	bufs[2] = (struct vfe_buf){extra_gpa, 512, false};
	bufs[3] = (struct vfe_buf){r.status_gpa, 1, true};
	ut_post_chain(&r, bufs, 4, indirect);
	ut_run();
	assert_int_equal(ut_expect_used(&r), 1);
	assert_int_equal(*r.status, VIRTIO_BLK_S_IOERR);
	assert_true(all_bytes(r.data, 512, 0xdd));
	assert_true(all_bytes(extra, 512, 0x33));
	assert_int_equal(r.hdr->type, VIRTIO_BLK_T_IN);

	/* The status before the data of a write (a readable descriptor after it). */
	ut_req_alloc(&r, VIRTIO_BLK_T_OUT, 0, 512);
	memset(r.data, 0xdd, 512);
	bufs[0] = (struct vfe_buf){r.hdr_gpa, 16, false};
	bufs[1] = (struct vfe_buf){r.status_gpa, 1, true};
	bufs[2] = (struct vfe_buf){r.data_gpa, 512, false};
	ut_post_chain(&r, bufs, 3, indirect);
	ut_run();
	assert_int_equal(ut_expect_used(&r), 1);
	assert_int_equal(*r.status, VIRTIO_BLK_S_IOERR);
	assert_true(all_bytes(r.data, 512, 0xdd));

	/* A readable buffer outside guest memory in the middle. */
	ut_req_alloc(&r, VIRTIO_BLK_T_OUT, 0, 512);
	bufs[0] = (struct vfe_buf){r.hdr_gpa, 16, false};
	bufs[1] = (struct vfe_buf){outside, 512, false};
	bufs[2] = (struct vfe_buf){r.status_gpa, 1, true};
	ut_post_chain(&r, bufs, 3, indirect);
	ut_run();
	assert_int_equal(ut_expect_used(&r), 1);
	assert_int_equal(*r.status, VIRTIO_BLK_S_IOERR);

	/* Lengths that overflow 32 bits. */
	ut_req_alloc(&r, VIRTIO_BLK_T_OUT, 0, 512);
	bufs[0] = (struct vfe_buf){r.hdr_gpa, 16, false};
	bufs[1] = (struct vfe_buf){r.data_gpa, UINT32_MAX - 15, false};
	bufs[2] = (struct vfe_buf){r.status_gpa, 1, true};
	ut_post_chain(&r, bufs, 3, indirect);
	ut_run();
	assert_int_equal(ut_expect_used(&r), 1);
	assert_int_equal(*r.status, VIRTIO_BLK_S_IOERR);

	assert_int_equal(g_bd.reads + g_bd.writes, 0);
	assert_int_equal(g_requests, 0);
	ut_expect_none();
	/* The queue still serves. */
	ut_submit(&r, VIRTIO_BLK_T_IN, 8, 512, true);
	ut_run();
	assert_int_equal(ut_expect_used(&r), 513);
	assert_int_equal(*r.status, VIRTIO_BLK_S_OK);

	/*
	 * The status descriptor outside guest memory: nowhere to answer. Not
	 * returned (empty, the driver would read a stale status), nothing
	 * written; the queue is broken (NEEDS_RESET) and serves nothing more.
	 */
	ut_req_alloc(&r, VIRTIO_BLK_T_IN, 0, 512);
	memset(r.data, 0xdd, 512);
	bufs[0] = (struct vfe_buf){r.hdr_gpa, 16, false};
	bufs[1] = (struct vfe_buf){r.data_gpa, 512, true};
	bufs[2] = (struct vfe_buf){outside, 1, true};
	ut_post_chain(&r, bufs, 3, indirect);
	ut_run();
	ut_expect_none();
	assert_true(g_q.vq.broken);
	assert_non_null(strstr(g_q.vq.broken_reason, "status"));
	assert_true(all_bytes(r.data, 512, 0xdd));
	assert_int_equal(*r.status, 0xee);
	ut_submit(&r, VIRTIO_BLK_T_IN, 8, 512, true);
	ut_run();
	ut_expect_none();
	assert_int_equal(g_bd.reads + g_bd.writes, 1);
	ut_teardown();
}

static void
test_malformed_split(void **state)
{
	(void)state;
	test_malformed(false, false);
	test_malformed(false, true);
}

static void
test_malformed_packed(void **state)
{
	(void)state;
	test_malformed(true, false);
	test_malformed(true, true);
}

static void
test_readonly(void **state)
{
	struct ut_req r;
	uint64_t f;

	(void)state;
	ut_setup(false, true);
	f = vhost_blk_ops.features(&g_ctrlr);
	assert_true(f & (1ull << VIRTIO_BLK_F_RO));
	assert_false(f & (1ull << VIRTIO_BLK_F_DISCARD));
	assert_false(f & (1ull << VIRTIO_BLK_F_WRITE_ZEROES));
	ut_submit(&r, VIRTIO_BLK_T_OUT, 0, 512, false);
	ut_run();
	ut_expect_used(&r);
	assert_int_equal(*r.status, VIRTIO_BLK_S_IOERR);
	ut_submit(&r, VIRTIO_BLK_T_IN, 0, 512, true);
	ut_run();
	ut_expect_used(&r);
	assert_int_equal(*r.status, VIRTIO_BLK_S_OK);
	assert_int_equal(g_bd.writes, 0);
	ut_teardown();
}

static void
test_flush_get_id(void **state)
{
	struct ut_req r;

	(void)state;
	ut_setup(false, false);
	ut_submit(&r, VIRTIO_BLK_T_FLUSH, 0, 0, false);
	ut_run();
	assert_int_equal(ut_expect_used(&r), 1);
	assert_int_equal(*r.status, VIRTIO_BLK_S_OK);
	assert_int_equal(g_bd.flushes, 1);

	ut_submit(&r, VIRTIO_BLK_T_GET_ID, 0, 20, true);
	ut_run();
	assert_int_equal(ut_expect_used(&r), 21);
	assert_int_equal(*r.status, VIRTIO_BLK_S_OK);
	assert_memory_equal(r.data, "0123abcd456789ef0123", 20);
	ut_teardown();
}

static void
ut_dwz(struct ut_req *r, uint32_t type, const struct virtio_blk_discard_write_zeroes *segs,
       int n)
{
	struct vfe_buf bufs[3];

	ut_req_alloc(r, type, 0, (uint32_t)(16 * n));
	memcpy(r->data, segs, 16 * (size_t)n);
	bufs[0] = (struct vfe_buf){r->hdr_gpa, 16, false};
	bufs[1] = (struct vfe_buf){r->data_gpa, (uint32_t)(16 * n), false};
	bufs[2] = (struct vfe_buf){r->status_gpa, 1, true};
	ut_post(r, bufs, 3);
	ut_run();
	ut_expect_used(r);
}

static void
test_discard_write_zeroes(void **state)
{
	struct virtio_blk_discard_write_zeroes segs[VHOST_BLK_MAX_DWZ_SEG + 1];
	struct ut_req r;

	(void)state;
	ut_setup(false, false);
	memset(segs, 0, sizeof(segs));
	segs[0] = (struct virtio_blk_discard_write_zeroes){.sector = 0, .num_sectors = 8};
	segs[1] = (struct virtio_blk_discard_write_zeroes){.sector = 64, .num_sectors = 16};
	ut_dwz(&r, VIRTIO_BLK_T_DISCARD, segs, 2);
	assert_int_equal(*r.status, VIRTIO_BLK_S_OK);
	assert_int_equal(g_bd.unmaps, 2);
	assert_int_equal(g_bd.ram[64 * 512 + 5], 0);

	/* The UNMAP flag is a write-zeroes flag only. */
	segs[0].flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	ut_dwz(&r, VIRTIO_BLK_T_DISCARD, segs, 1);
	assert_int_equal(*r.status, VIRTIO_BLK_S_UNSUPP);
	ut_dwz(&r, VIRTIO_BLK_T_WRITE_ZEROES, segs, 1);
	assert_int_equal(*r.status, VIRTIO_BLK_S_OK);
	assert_int_equal(g_bd.wzs, 1);
	assert_int_equal(g_bd.last_wz_flags, SPUR_BDEV_IO_UNMAP_OK);
	segs[0].flags = 0;
	ut_dwz(&r, VIRTIO_BLK_T_WRITE_ZEROES, segs, 1);
	assert_int_equal(g_bd.last_wz_flags, 0);
	segs[0].flags = 0x80;
	ut_dwz(&r, VIRTIO_BLK_T_WRITE_ZEROES, segs, 1);
	assert_int_equal(*r.status, VIRTIO_BLK_S_UNSUPP);
	segs[0].flags = 0;

	/* Out of range segment: nothing submitted, even for the valid one. */
	segs[1].sector = UT_BLOCKS - 4;
	segs[1].num_sectors = 8;
	ut_dwz(&r, VIRTIO_BLK_T_DISCARD, segs, 2);
	assert_int_equal(*r.status, VIRTIO_BLK_S_IOERR);
	assert_int_equal(g_bd.unmaps, 2);
	/* Too many segments. */
	for (uint32_t i = 0; i <= VHOST_BLK_MAX_DWZ_SEG; i++)
		segs[i] = (struct virtio_blk_discard_write_zeroes){.sector = i, .num_sectors = 1};
	ut_dwz(&r, VIRTIO_BLK_T_DISCARD, segs, VHOST_BLK_MAX_DWZ_SEG + 1);
	assert_int_equal(*r.status, VIRTIO_BLK_S_UNSUPP);
	ut_dwz(&r, VIRTIO_BLK_T_DISCARD, segs, VHOST_BLK_MAX_DWZ_SEG);
	assert_int_equal(*r.status, VIRTIO_BLK_S_OK);
	assert_int_equal(g_bd.unmaps, 2 + VHOST_BLK_MAX_DWZ_SEG);
	ut_teardown();

	/* A bdev without unmap: DISCARD not offered, and refused. */
	ut_setup(false, false);
	ut_recreate(false, 512, UT_BLOCKS);
	assert_false(vhost_blk_ops.features(&g_ctrlr) & (1ull << VIRTIO_BLK_F_DISCARD));
	segs[0] = (struct virtio_blk_discard_write_zeroes){.sector = 0, .num_sectors = 8};
	ut_dwz(&r, VIRTIO_BLK_T_DISCARD, segs, 1);
	assert_int_equal(*r.status, VIRTIO_BLK_S_UNSUPP);
	ut_teardown();
}

static void
test_enomem_retry(void **state)
{
	struct ut_req r;

	(void)state;
	ut_setup(false, false);
	g_bd.enomem_left = 1;
	ut_submit(&r, VIRTIO_BLK_T_IN, 0, 512, true);
	vhost_blk_queue_poll(&g_q);
	assert_non_null(g_bd.waiters);
	assert_int_equal(g_bd.reads, 0);
	ut_complete_all();              /* wakes the waiter: resubmitted */
	assert_int_equal(g_bd.reads, 1);
	ut_complete_all();
	vhost_blk_queue_poll(&g_q);
	ut_expect_used(&r);
	assert_int_equal(*r.status, VIRTIO_BLK_S_OK);
	ut_teardown();
}

static void
test_stop_in_flight(void **state)
{
	struct ut_req r;

	(void)state;
	ut_setup(false, false);
	ut_submit(&r, VIRTIO_BLK_T_IN, 0, 512, true);
	vhost_blk_queue_poll(&g_q);
	assert_int_equal(g_requests, 1);
	vhost_rq_stop(&g_q, ut_stop_done);
	assert_int_equal(g_stops, 0);
	assert_non_null(g_q.backend_ctx);
	/* A stopping queue takes nothing new. */
	vhost_blk_queue_poll(&g_q);
	ut_complete_all();
	assert_int_equal(g_stops, 1);
	assert_null(g_q.backend_ctx);
	assert_int_equal(g_bd.channels, 0);
	/* Flushed before the stop completed. */
	ut_expect_used(&r);
	assert_int_equal(*r.status, VIRTIO_BLK_S_OK);
	g_started = false;
	ut_teardown();
}

static void
test_hot_remove(void **state)
{
	struct ut_req r;
	json_t *info;

	(void)state;
	ut_setup(false, false);
	ut_submit(&r, VIRTIO_BLK_T_IN, 0, 512, true);
	vhost_blk_queue_poll(&g_q);
	g_bd.event_cb(SPUR_BDEV_EVENT_REMOVE, (struct spur_bdev *)&g_bd, g_bd.event_ctx);
	ut_run_msgs();
	/* In flight: channel kept, descriptor open. */
	assert_int_equal(g_bd.channels, 1);
	assert_true(g_bd.open);
	ut_complete_all();
	ut_run_msgs();
	assert_int_equal(g_bd.channels, 0);
	assert_false(g_bd.open);
	assert_int_equal(g_bd.closed, 1);
	vhost_blk_queue_poll(&g_q);
	ut_expect_used(&r);
	assert_int_equal(*r.status, VIRTIO_BLK_S_OK);
	/* New requests fail; the controller reports no bdev. */
	ut_submit(&r, VIRTIO_BLK_T_IN, 0, 512, true);
	ut_run();
	ut_expect_used(&r);
	assert_int_equal(*r.status, VIRTIO_BLK_S_IOERR);
	info = json_object();
	vhost_blk_ops.dump_info_json(&g_ctrlr, info);
	assert_true(json_is_null(json_object_get(json_object_get(info, "block"), "bdev")));
	json_decref(info);
	ut_teardown();
	assert_int_equal(g_bd.closed, 1);
}

static void
test_hot_remove_idle(void **state)
{
	(void)state;
	ut_setup(false, false);
	g_bd.event_cb(SPUR_BDEV_EVENT_REMOVE, (struct spur_bdev *)&g_bd, g_bd.event_ctx);
	/* The nudge released the idle queue's channel; the close follows. */
	assert_int_equal(g_bd.channels, 0);
	ut_run_msgs();
	assert_false(g_bd.open);
	ut_teardown();
}

static void
test_config_and_resize(void **state)
{
	struct virtio_blk_config cfg;
	uint64_t f;

	(void)state;
	ut_setup(false, false);
	f = vhost_blk_ops.features(&g_ctrlr);
	assert_true(f & (1ull << VIRTIO_F_VERSION_1));
	assert_true(f & (1ull << VIRTIO_BLK_F_FLUSH));
	assert_true(f & (1ull << VIRTIO_BLK_F_DISCARD));
	assert_true(f & (1ull << VIRTIO_BLK_F_WRITE_ZEROES));
	assert_true(f & (1ull << VIRTIO_BLK_F_MQ));
	assert_false(f & (1ull << VIRTIO_F_RING_PACKED));
	assert_false(f & (1ull << VIRTIO_BLK_F_RO));
	vhost_blk_ops.get_config(&g_ctrlr, (uint8_t *)&cfg, sizeof(cfg));
	assert_int_equal(cfg.capacity, UT_BLOCKS);
	assert_int_equal(cfg.blk_size, 512);
	assert_int_equal(cfg.seg_max, VHOST_BLK_SEG_MAX);
	assert_int_equal(cfg.size_max, VHOST_BLK_SIZE_MAX);
	assert_int_equal(cfg.opt_io_size, 64);
	assert_int_equal(cfg.num_queues, VHOST_BLK_MAX_QUEUES);
	assert_int_equal(cfg.max_discard_seg, VHOST_BLK_MAX_DWZ_SEG);
	assert_int_equal(cfg.discard_sector_alignment, 1);
	assert_int_equal(cfg.write_zeroes_may_unmap, 1);

	g_bd.num_blocks = 4096;
	g_ctrlr.session = (struct vhost_session *)&g_ctrlr;
	g_bd.event_cb(SPUR_BDEV_EVENT_RESIZE, (struct spur_bdev *)&g_bd, g_bd.event_ctx);
	g_ctrlr.session = NULL;
	assert_int_equal(g_config_changed, 1);
	vhost_blk_ops.get_config(&g_ctrlr, (uint8_t *)&cfg, sizeof(cfg));
	assert_int_equal(cfg.capacity, 4096);
	ut_teardown();
}

static void
test_block_size_4k(void **state)
{
	struct virtio_blk_config cfg;
	struct ut_req r;

	(void)state;
	/* Same RAM, seen as 4 KiB blocks. */
	ut_setup(false, false);
	ut_recreate(true, 4096, UT_BLOCKS / 8);
	vhost_blk_ops.get_config(&g_ctrlr, (uint8_t *)&cfg, sizeof(cfg));
	assert_int_equal(cfg.capacity, UT_BLOCKS);
	assert_int_equal(cfg.blk_size, 4096);
	assert_int_equal(cfg.discard_sector_alignment, 8);
	ut_submit(&r, VIRTIO_BLK_T_IN, 4, 4096, true);  /* not 4 KiB aligned */
	ut_run();
	ut_expect_used(&r);
	assert_int_equal(*r.status, VIRTIO_BLK_S_IOERR);
	ut_submit(&r, VIRTIO_BLK_T_IN, 8, 4096, true);
	ut_run();
	ut_expect_used(&r);
	assert_int_equal(*r.status, VIRTIO_BLK_S_OK);
	assert_memory_equal(r.data, g_bd.ram + 4096, 4096);
	ut_teardown();
}

/* Many requests in flight at once, completed out of order by the bdev. */
static void
test_many_in_flight(void **state)
{
	struct ut_req r[UT_QSIZE / 8];
	uint32_t seen = 0;
	uint16_t id;
	uint32_t len;

	(void)state;
	ut_setup(false, false);
	g_next_id = 0;
	for (uint32_t i = 0; i < UT_QSIZE / 8; i++)
		ut_submit(&r[i], VIRTIO_BLK_T_IN, i * 8, 4096, true);
	vhost_blk_queue_poll(&g_q);
	assert_int_equal(g_requests, UT_QSIZE / 8);
	ut_complete_all();
	vhost_blk_queue_poll(&g_q);
	while (vfe_get_used(g_fq, &id, &len)) {
		assert_int_equal(len, 4097);
		seen |= 1u << (id / 8);
	}
	assert_int_equal(seen, (1u << (UT_QSIZE / 8)) - 1);
	for (uint32_t i = 0; i < UT_QSIZE / 8; i++) {
		assert_int_equal(*r[i].status, VIRTIO_BLK_S_OK);
		assert_memory_equal(r[i].data, g_bd.ram + i * 8 * 512, 4096);
	}
	ut_teardown();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_write_split),
		cmocka_unit_test(test_read_write_packed),
		cmocka_unit_test(test_odd_layouts),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_no_status),
		cmocka_unit_test(test_malformed_split),
		cmocka_unit_test(test_malformed_packed),
		cmocka_unit_test(test_readonly),
		cmocka_unit_test(test_flush_get_id),
		cmocka_unit_test(test_discard_write_zeroes),
		cmocka_unit_test(test_enomem_retry),
		cmocka_unit_test(test_stop_in_flight),
		cmocka_unit_test(test_hot_remove),
		cmocka_unit_test(test_hot_remove_idle),
		cmocka_unit_test(test_config_and_resize),
		cmocka_unit_test(test_block_size_4k),
		cmocka_unit_test(test_many_in_flight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
