/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the virtio-scsi device type (lib/vhost/vhost_scsi.c,
 * vhost_scsi_io.c, vhost_scsi_evq.c) over the real guest-memory table and
 * virtqueues. The guest side is tools/vhost_perf's frontend driving three
 * split rings (control, event, one request queue) in a memfd; the SCSI
 * layer is a fake whose devices, channels, tasks and task management the
 * test steps through explicitly (completions are released by the test),
 * so the protocol around lib/scsi is checked without it: request layouts,
 * LUN addressing, response / status / sense / residual, data direction,
 * task management and the ordering of aborted tasks, asynchronous
 * notification, events (rescan, removed, parameter change, missed, stop),
 * target removal with requests in flight (holds, nudge, destroy), stop,
 * resubmission after a restart, config space and features.
 */
#include <endian.h>
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "frontend.h"
#include "vhost_scsi_internal.h"

#define UT_GPA_BASE 0x100000ull
#define UT_MEM (16u << 20)
#define UT_QSIZE 64
#define UT_NQ 3

/* ---- fake SCSI layer --------------------------------------------------------------- */

struct spur_scsi_dev {
	char name[SPUR_SCSI_DEV_NAME_MAX];
	spur_scsi_dev_event_cb event_cb;
	void *event_ctx;
	spur_scsi_lun_hotremove_cb hotremove_cb;
	void *hotremove_ctx;
	char bdev[64];
	bool has_lun;
	int channels;
	int chan_token;
	bool destroying;
	void (*destroy_cb)(void *);
	void *destroy_arg;
	struct spur_scsi_dev *next;
};

static struct {
	struct spur_scsi_dev *devs;
	int destroyed;
	struct spur_scsi_task *pending[256];
	int npending;
	struct spur_scsi_mgmt_task *mgmt[8];
	int nmgmt;
	int puts;
	uint8_t written[65536];
	uint32_t written_len;
	/* What the next completions do. */
	bool abort_next, overflow_next;
	uint64_t last_port_id;
	uint16_t last_lun_id;
} g_ly;

static int g_thread_token;

static struct spur_scsi_dev *
dev_of_channel(struct spur_io_channel *ch)
{
	for (struct spur_scsi_dev *d = g_ly.devs; d != NULL; d = d->next) {
		if ((void *)&d->chan_token == (void *)ch)
			return d;
	}
	fail_msg("unknown channel");
	return NULL;
}

struct ut_msg {
	spur_msg_fn fn;
	void *ctx;
};
static struct ut_msg g_msgs[64];
static int g_nmsgs;

struct spur_thread *spur_get_thread(void) { return (struct spur_thread *)&g_thread_token; }
struct spur_thread *spur_get_app_thread(void) { return (struct spur_thread *)&g_thread_token; }

int
spur_thread_send_msg(struct spur_thread *thread, spur_msg_fn fn, void *ctx)
{
	assert_ptr_equal(thread, &g_thread_token);
	assert_true(g_nmsgs < 64);
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
	while (g_nmsgs > 0) {
		struct ut_msg m = g_msgs[0];

		memmove(g_msgs, g_msgs + 1, sizeof(g_msgs[0]) * (size_t)--g_nmsgs);
		m.fn(m.ctx);
	}
}

static void
dev_destroy_done(void *ctx)
{
	struct spur_scsi_dev *dev = ctx, **p;

	for (p = &g_ly.devs; *p != dev; p = &(*p)->next)
		;
	*p = dev->next;
	g_ly.destroyed++;
	if (dev->destroy_cb != NULL)
		dev->destroy_cb(dev->destroy_arg);
	free(dev);
}

int
spur_scsi_port_init(struct spur_scsi_port *port, uint64_t id, const char *name)
{
	assert_int_not_equal(id, 0);
	port->id = id;
	port->rel_tgt_port_id = 1;
	snprintf(port->name, sizeof(port->name), "%s", name);
	return 0;
}

struct spur_scsi_dev *
spur_scsi_dev_create(const char *name)
{
	struct spur_scsi_dev *dev = calloc(1, sizeof(*dev));

	snprintf(dev->name, sizeof(dev->name), "%s", name);
	dev->next = g_ly.devs;
	g_ly.devs = dev;
	return dev;
}

void
spur_scsi_dev_set_event_cb(struct spur_scsi_dev *dev, spur_scsi_dev_event_cb cb, void *ctx)
{
	dev->event_cb = cb;
	dev->event_ctx = ctx;
}

void
spur_scsi_lun_opts_init(struct spur_scsi_lun_opts *opts, size_t size)
{
	memset(opts, 0, size);
	opts->size = size;
}

int
spur_scsi_dev_add_lun(struct spur_scsi_dev *dev, uint16_t lun_id, const char *bdev_name,
		      const struct spur_scsi_lun_opts *opts)
{
	assert_int_equal(lun_id, 0);
	if (strcmp(bdev_name, "nope") == 0)
		return -ENODEV;
	snprintf(dev->bdev, sizeof(dev->bdev), "%s", bdev_name);
	dev->has_lun = true;
	dev->hotremove_cb = opts->hotremove_cb;
	dev->hotremove_ctx = opts->hotremove_ctx;
	return 0;
}

void
spur_scsi_dev_destroy(struct spur_scsi_dev *dev, void (*cb)(void *cb_arg), void *cb_arg)
{
	assert_false(dev->destroying);
	dev->destroying = true;
	dev->destroy_cb = cb;
	dev->destroy_arg = cb_arg;
	/* The front end destroys only once it holds no channel. */
	assert_int_equal(dev->channels, 0);
	spur_thread_send_msg(spur_get_app_thread(), dev_destroy_done, dev);
}

struct spur_io_channel *
spur_scsi_dev_get_io_channel(struct spur_scsi_dev *dev)
{
	if (dev->destroying)
		return NULL;
	dev->channels++;
	return (struct spur_io_channel *)&dev->chan_token;
}

void
spur_put_io_channel(struct spur_io_channel *ch)
{
	struct spur_scsi_dev *dev = dev_of_channel(ch);

	assert_true(dev->channels > 0);
	dev->channels--;
}

struct spur_scsi_lun *
spur_scsi_dev_first_lun(struct spur_scsi_dev *dev)
{
	return dev->has_lun ? (struct spur_scsi_lun *)dev : NULL;
}

struct spur_scsi_lun *
spur_scsi_dev_next_lun(struct spur_scsi_dev *dev, struct spur_scsi_lun *prev)
{
	return NULL;
}

uint16_t spur_scsi_lun_get_id(const struct spur_scsi_lun *lun) { return 0; }

const char *
spur_scsi_lun_get_bdev_name(const struct spur_scsi_lun *lun)
{
	return ((const struct spur_scsi_dev *)lun)->bdev;
}

int
spur_scsi_lun_id_decode(const uint8_t lun[8])
{
	int id;

	for (int i = 2; i < 8; i++) {
		if (lun[i] != 0)
			return -EINVAL;
	}
	switch (lun[0] >> 6) {
	case 0:
		if ((lun[0] & 0x3f) != 0)
			return -EINVAL;
		id = lun[1];
		break;
	case 1:
		id = ((lun[0] & 0x3f) << 8) | lun[1];
		break;
	default:
		return -EINVAL;
	}
	return id < SPUR_SCSI_DEV_MAX_LUN ? id : -EINVAL;
}

void
spur_scsi_task_construct(struct spur_scsi_task *task, spur_scsi_task_cpl cpl_fn, void *cb_arg)
{
	memset(task, 0, sizeof(*task));
	task->priv.cpl_fn = cpl_fn;
	task->priv.cb_arg = cb_arg;
}

void *spur_scsi_task_get_cb_arg(const struct spur_scsi_task *task) { return task->priv.cb_arg; }

void
spur_scsi_task_put(struct spur_scsi_task *task)
{
	assert_int_equal(task->priv.state, 2);
	task->priv.state = 0;
	g_ly.puts++;
}

int
spur_scsi_dev_queue_task(struct spur_scsi_dev *dev, struct spur_io_channel *ch,
			 struct spur_scsi_task *task)
{
	assert_ptr_equal(dev_of_channel(ch), dev);
	assert_int_equal(task->priv.state, 0);
	assert_non_null(task->initiator);
	g_ly.last_port_id = task->initiator->id;
	g_ly.last_lun_id = task->lun_id;
	if (dev->destroying)
		return -ENODEV;
	if (task->dir == SPUR_SCSI_DIR_NONE && task->transfer_len != 0)
		return -EINVAL;
	task->priv.state = 1;
	task->priv.dev = dev;
	assert_true(g_ly.npending < 256);
	g_ly.pending[g_ly.npending++] = task;
	return 0;
}

/* Execute: 0x12 INQUIRY, 0x28 READ(10) data-in; 0x2a WRITE(10) data-out; 0x00 TUR;
 * 0xff: CHECK CONDITION, ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE. */
static void
ly_execute(struct spur_scsi_task *t)
{
	uint32_t done = 0;

	t->response = SPUR_SCSI_TASK_COMPLETE;
	t->status = SPUR_SCSI_STATUS_GOOD;
	t->sense_len = 0;
	t->residual_flags = 0;
	t->data_transferred = 0;
	switch (t->cdb[0]) {
	case 0x12:
	case 0x28: {
		uint32_t want = t->cdb[0] == 0x12 ? 36u : t->transfer_len;

		for (int i = 0; i < t->iovcnt && done < SPUR_MIN(want, t->transfer_len); i++) {
			uint32_t n = SPUR_MIN((uint32_t)t->iovs[i].iov_len,
					      SPUR_MIN(want, t->transfer_len) - done);

			for (uint32_t k = 0; k < n; k++)
				((uint8_t *)t->iovs[i].iov_base)[k] = (uint8_t)(done + k + t->cdb[0]);
			done += n;
		}
		t->data_transferred = done;
		break;
	}
	case 0x2a:
		for (int i = 0; i < t->iovcnt && done < t->transfer_len; i++) {
			uint32_t n = SPUR_MIN((uint32_t)t->iovs[i].iov_len, t->transfer_len - done);

			memcpy(g_ly.written + done, t->iovs[i].iov_base, n);
			done += n;
		}
		g_ly.written_len = done;
		t->data_transferred = done;
		break;
	case 0xff:
		spur_scsi_task_set_status(t, SPUR_SCSI_STATUS_CHECK_CONDITION,
					  SPUR_SCSI_SENSE_ILLEGAL_REQUEST, 0x20, 0x00);
		break;
	default:
		break;
	}
	t->residual = t->transfer_len - t->data_transferred;
	if (g_ly.overflow_next)
		t->residual_flags = SPUR_SCSI_RESIDUAL_OVERFLOW;
	if (g_ly.abort_next)
		t->response = SPUR_SCSI_TASK_ABORTED;
	g_ly.overflow_next = g_ly.abort_next = false;
}

void
spur_scsi_task_set_status(struct spur_scsi_task *task, uint8_t status, uint8_t sense_key,
			  uint8_t asc, uint8_t ascq)
{
	task->response = SPUR_SCSI_TASK_COMPLETE;
	task->status = status;
	memset(task->sense, 0, sizeof(task->sense));
	task->sense_len = 18;
	task->sense[0] = 0x70;
	task->sense[2] = sense_key;
	task->sense[7] = 10;
	task->sense[12] = asc;
	task->sense[13] = ascq;
}

static void
ly_complete_task(struct spur_scsi_task *t)
{
	t->priv.state = 2;
	t->priv.cpl_fn(t);
}

/* Complete every pending task (FIFO). Returns how many. */
static int
ly_complete_all(void)
{
	int n = g_ly.npending;
	struct spur_scsi_task *list[256];

	memcpy(list, g_ly.pending, sizeof(list[0]) * (size_t)n);
	g_ly.npending = 0;
	for (int i = 0; i < n; i++) {
		ly_execute(list[i]);
		ly_complete_task(list[i]);
	}
	return n;
}

void
spur_scsi_mgmt_task_construct(struct spur_scsi_mgmt_task *mgmt, spur_scsi_mgmt_cpl cpl_fn,
			      void *cb_arg)
{
	memset(mgmt, 0, sizeof(*mgmt));
	mgmt->priv.cpl_fn = cpl_fn;
	mgmt->priv.cb_arg = cb_arg;
}

void *
spur_scsi_mgmt_task_get_cb_arg(const struct spur_scsi_mgmt_task *mgmt)
{
	return mgmt->priv.cb_arg;
}

int
spur_scsi_dev_queue_mgmt_task(struct spur_scsi_dev *dev, struct spur_io_channel *ch,
			      struct spur_scsi_mgmt_task *mgmt)
{
	assert_ptr_equal(dev_of_channel(ch), dev);
	assert_non_null(mgmt->initiator);
	mgmt->priv.dev = dev;
	g_ly.mgmt[g_ly.nmgmt++] = mgmt;
	return 0;
}

/* Run pending TMFs: abort every pending task of the device first, like the layer. */
static void
ly_complete_mgmt(void)
{
	for (int i = 0; i < g_ly.nmgmt; i++) {
		struct spur_scsi_mgmt_task *m = g_ly.mgmt[i];
		int kept = 0;

		m->aborted_count = 0;
		for (int k = 0; k < g_ly.npending; k++) {
			struct spur_scsi_task *t = g_ly.pending[k];

			if (t->priv.dev == m->priv.dev &&
			    (m->function != SPUR_SCSI_TMF_ABORT_TASK || t->tag == m->abort_tag)) {
				t->response = SPUR_SCSI_TASK_ABORTED;
				t->data_transferred = 0;
				m->aborted_count++;
				ly_complete_task(t);
			} else {
				g_ly.pending[kept++] = t;
			}
		}
		g_ly.npending = kept;
		m->response = SPUR_SCSI_TMF_FUNCTION_COMPLETE;
		m->priv.cpl_fn(m);
	}
	g_ly.nmgmt = 0;
}

/* ---- protocol stubs ------------------------------------------------------------------ */

static struct vhost_ctrlr g_ctrlr;
static bool g_ctrlr_exists;
static int g_requests;          /* begin - end */
static struct vhost_mem *g_mem;
static uint64_t g_features;

int
vhost_ctrlr_create(const char *name, const struct spur_cpuset *cpumask,
		   const struct vhost_backend_ops *ops, void *backend_ctx, struct vhost_ctrlr **out)
{
	memset(&g_ctrlr, 0, sizeof(g_ctrlr));
	g_ctrlr.name = (char *)name;
	g_ctrlr.ops = ops;
	g_ctrlr.backend_ctx = backend_ctx;
	g_ctrlr.coalesce_iops_threshold = 60000;
	g_ctrlr_exists = true;
	*out = &g_ctrlr;
	return 0;
}

struct vhost_ctrlr *
vhost_ctrlr_find(const char *name)
{
	return g_ctrlr_exists && strcmp(name, g_ctrlr.name) == 0 ? &g_ctrlr : NULL;
}

struct vhost_mem *
vhost_queue_request_begin(struct vhost_queue *q)
{
	g_requests++;
	return g_mem;
}

void
vhost_queue_request_end(struct vhost_queue *q, struct vhost_mem *mem)
{
	assert_ptr_equal(mem, g_mem);
	g_requests--;
}

struct vhost_ctrlr *
vhost_queue_get_ctrlr(const struct vhost_queue *q)
{
	return &g_ctrlr;
}

uint64_t
vhost_queue_get_features(const struct vhost_queue *q)
{
	return g_features;
}

/* ---- fixture ---------------------------------------------------------------------------- */

static struct vfe_dev g_fe;
static struct vhost_queue g_q[UT_NQ];
static struct vhost_scsi_ctrlr *g_sc;
static int g_stops;
static uint16_t g_next_id[UT_NQ];

static struct vfe_queue *
fq(int i)
{
	return &g_fe.queues[i];
}

static void
ut_stop_done(struct vhost_queue *q)
{
	g_stops++;
}

static void
ut_init_queue(int i)
{
	struct virtq_config cfg = {0};
	const char *err = NULL;

	if (g_q[i].vq.packed_desc_count != NULL)
		virtq_fini(&g_q[i].vq);
	cfg.size = UT_QSIZE;
	cfg.indirect = true;
	cfg.event_idx = false;
	cfg.desc_uva = (uint64_t)(uintptr_t)vfe_gpa_to_ptr(&g_fe, fq(i)->desc_gpa);
	cfg.avail_uva = (uint64_t)(uintptr_t)vfe_gpa_to_ptr(&g_fe, fq(i)->avail_gpa);
	cfg.used_uva = (uint64_t)(uintptr_t)vfe_gpa_to_ptr(&g_fe, fq(i)->used_gpa);
	memset(&g_q[i], 0, sizeof(g_q[i]));
	g_q[i].index = (uint16_t)i;
	g_q[i].cfg = cfg;
	assert_int_equal(virtq_init(&g_q[i].vq, &cfg, g_mem, -1, &err), 0);
}

static void
ut_start_queues(void)
{
	for (int i = 0; i < UT_NQ; i++)
		assert_int_equal(vhost_scsi_ops.queue_start(&g_q[i]), 0);
}

static void
ut_stop_queues(void)
{
	g_stops = 0;
	for (int i = 0; i < UT_NQ; i++)
		vhost_scsi_ops.queue_stop(&g_q[i], ut_stop_done);
	assert_int_equal(g_stops, UT_NQ);
}

static int
ut_setup(void **state)
{
	struct vhost_mem_desc md;
	const char *err = NULL;
	struct vhost_ctrlr *c = NULL;

	memset(&g_ly, 0, sizeof(g_ly));
	memset(g_next_id, 0, sizeof(g_next_id));
	g_requests = 0;
	g_features = (1ull << VIRTIO_SCSI_F_HOTPLUG) | (1ull << VIRTIO_F_VERSION_1);
	vfe_init(&g_fe);
	assert_int_equal(vfe_mem_init(&g_fe, UT_MEM, UT_GPA_BASE), 0);
	md = (struct vhost_mem_desc){.gpa = UT_GPA_BASE, .size = UT_MEM,
				     .uva = (uint64_t)(uintptr_t)g_fe.mem, .mmap_offset = 0,
				     .fd = dup(g_fe.mem_fd)};
	g_mem = vhost_mem_build(&md, 1, NULL, &err);
	assert_non_null(g_mem);
	for (int i = 0; i < UT_NQ; i++) {
		assert_int_equal(vfe_queue_init_local(&g_fe, (uint16_t)i, UT_QSIZE, false), 0);
		ut_init_queue(i);
	}
	assert_int_equal(vhost_scsi_ctrlr_create("vscsi.0", NULL, &c), 0);
	assert_ptr_equal(c, &g_ctrlr);
	g_sc = vhost_scsi_ctrlr(c);
	assert_non_null(g_sc);
	/* A frontend is attached (events are dropped without one). */
	g_ctrlr.session = (struct vhost_session *)&g_ctrlr;
	ut_start_queues();
	return 0;
}

static int
ut_teardown(void **state)
{
	ut_stop_queues();
	ut_run_msgs();
	assert_int_equal(g_requests, 0);
	g_ctrlr.session = NULL;
	vhost_scsi_ops.destruct(&g_ctrlr);
	g_ctrlr_exists = false;
	ut_run_msgs();
	assert_null(g_ly.devs);
	for (int i = 0; i < UT_NQ; i++) {
		virtq_fini(&g_q[i].vq);
		memset(&g_q[i], 0, sizeof(g_q[i]));
	}
	vhost_mem_put(g_mem);
	vfe_close(&g_fe);
	return 0;
}

/* ---- request helpers --------------------------------------------------------------------- */

struct ut_cmd {
	struct virtio_scsi_cmd_req *req;
	uint64_t req_gpa;
	struct virtio_scsi_cmd_resp *resp;
	uint64_t resp_gpa;
	uint8_t *data;
	uint64_t data_gpa;
	uint16_t id;
};

/* Split ring: a chain of n <= 8 descriptors from a fresh id (event queue: one each). */
static uint16_t
ut_post(int qi, const struct vfe_buf *bufs, int n)
{
	uint16_t stride = qi == 1 ? 1 : 8;
	uint16_t id = (uint16_t)((g_next_id[qi] * stride) % UT_QSIZE);

	g_next_id[qi]++;
	assert_int_equal(vfe_add_chain(fq(qi), id, bufs, n), 0);
	vfe_publish(fq(qi));
	return id;
}

static void
ut_lun(uint8_t lun[8], uint8_t target)
{
	memset(lun, 0, 8);
	lun[0] = 1;
	lun[1] = target;
	lun[2] = 0x40;  /* flat addressing, LUN 0: what Linux sends */
}

static void
ut_cmd_alloc(struct ut_cmd *c, uint8_t target, uint8_t opcode, uint32_t data_len)
{
	c->req = vfe_mem_alloc(&g_fe, sizeof(*c->req), 64, &c->req_gpa);
	c->resp = vfe_mem_alloc(&g_fe, sizeof(*c->resp), 64, &c->resp_gpa);
	c->data = vfe_mem_alloc(&g_fe, data_len ? data_len : 1, 4096, &c->data_gpa);
	assert_non_null(c->data);
	ut_lun(c->req->lun, target);
	c->req->tag = htole64(0x1000 + target);
	c->req->cdb[0] = opcode;
	memset(c->resp, 0xee, sizeof(*c->resp));
}

/* The Linux layout: request, data-out | response, data-in. */
static void
ut_cmd(struct ut_cmd *c, uint8_t target, uint8_t opcode, uint32_t data_len, bool data_in)
{
	struct vfe_buf bufs[3];
	int n = 0;

	ut_cmd_alloc(c, target, opcode, data_len);
	bufs[n++] = (struct vfe_buf){c->req_gpa, sizeof(*c->req), false};
	if (data_len && !data_in)
		bufs[n++] = (struct vfe_buf){c->data_gpa, data_len, false};
	bufs[n++] = (struct vfe_buf){c->resp_gpa, sizeof(*c->resp), true};
	if (data_len && data_in)
		bufs[n++] = (struct vfe_buf){c->data_gpa, data_len, true};
	c->id = ut_post(2, bufs, n);
}

static void
ut_poll(void)
{
	for (int i = 0; i < UT_NQ; i++)
		vhost_scsi_ops.queue_poll(&g_q[i]);
	ut_run_msgs();
}

/* Poll, let the layer complete, poll again (flush). */
static void
ut_run(void)
{
	ut_poll();
	while (ly_complete_all() > 0)
		;
	ut_poll();
}

static uint32_t
ut_used(int qi, uint16_t want_id)
{
	uint16_t id;
	uint32_t len;

	assert_true(vfe_get_used(fq(qi), &id, &len));
	assert_int_equal(id, want_id);
	return len;
}

static void
ut_no_used(int qi)
{
	uint16_t id;
	uint32_t len;

	assert_false(vfe_get_used(fq(qi), &id, &len));
}

static void
ut_add_target(int num, const char *bdev)
{
	assert_int_equal(vhost_scsi_add_target(g_sc, num, bdev), num);
}

/* Event buffers posted on the event queue, by id. */
static struct virtio_scsi_event *g_evbuf[UT_QSIZE];

static void
ut_post_events(int n)
{
	for (int k = 0; k < n; k++) {
		uint64_t gpa;
		struct virtio_scsi_event *ev = vfe_mem_alloc(&g_fe, sizeof(*ev), 16, &gpa);
		struct vfe_buf b = {gpa, sizeof(*ev), true};

		memset(ev, 0xee, sizeof(*ev));
		g_evbuf[ut_post(1, &b, 1)] = ev;
	}
}

/* Take the next event from the used ring and check it. */
static void
ut_event(uint32_t event, uint32_t reason, uint8_t target)
{
	struct virtio_scsi_event *ev;
	uint16_t id;
	uint32_t len;

	assert_true(vfe_get_used(fq(1), &id, &len));
	assert_int_equal(len, sizeof(struct virtio_scsi_event));
	ev = g_evbuf[id];
	assert_int_equal(le32toh(ev->event), event);
	assert_int_equal(le32toh(ev->reason), reason);
	if (event == VIRTIO_SCSI_T_NO_EVENT)
		return;
	assert_int_equal(ev->lun[0], 1);
	assert_int_equal(ev->lun[1], target);
	assert_int_equal(ev->lun[2], 0);
	assert_int_equal(ev->lun[3], 0);
}

static int g_removed_rc = 1;

static void
ut_removed(void *ctx, int rc)
{
	g_removed_rc = rc;
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void
test_data_in_out(void **state)
{
	struct ut_cmd c;

	ut_add_target(0, "B0");
	/* READ: data into the data-in buffer, resid 0, used = response + data. */
	ut_cmd(&c, 0, 0x28, 4096, true);
	ut_run();
	assert_int_equal(ut_used(2, c.id), sizeof(*c.resp) + 4096);
	assert_int_equal(c.resp->response, VIRTIO_SCSI_S_OK);
	assert_int_equal(c.resp->status, 0);
	assert_int_equal(le32toh(c.resp->resid), 0);
	assert_int_equal(le32toh(c.resp->sense_len), 0);
	assert_int_equal(c.data[0], 0x28);
	assert_int_equal(c.data[4095], (uint8_t)(4095 + 0x28));
	assert_int_not_equal(g_ly.last_port_id, 0);
	/* INQUIRY with a larger buffer than the data: residual. */
	ut_cmd(&c, 0, 0x12, 96, true);
	ut_run();
	assert_int_equal(ut_used(2, c.id), sizeof(*c.resp) + 36);
	assert_int_equal(le32toh(c.resp->resid), 96 - 36);
	/* WRITE: data-out after the header reaches the layer. */
	ut_cmd_alloc(&c, 0, 0x2a, 1024);
	memset(c.data, 0x5a, 1024);
	{
		struct vfe_buf bufs[3] = {
			{c.req_gpa, sizeof(*c.req), false},
			{c.data_gpa, 1024, false},
			{c.resp_gpa, sizeof(*c.resp), true},
		};

		c.id = ut_post(2, bufs, 3);
	}
	ut_run();
	assert_int_equal(ut_used(2, c.id), sizeof(*c.resp));
	assert_int_equal(c.resp->response, VIRTIO_SCSI_S_OK);
	assert_int_equal(g_ly.written_len, 1024);
	assert_int_equal(g_ly.written[0], 0x5a);
	assert_int_equal(g_ly.written[1023], 0x5a);
	/* No data: TEST UNIT READY. */
	ut_cmd(&c, 0, 0x00, 0, false);
	ut_run();
	assert_int_equal(ut_used(2, c.id), sizeof(*c.resp));
	assert_int_equal(c.resp->response, VIRTIO_SCSI_S_OK);
	assert_int_equal(g_requests, 0);
	assert_int_equal(g_ly.puts, 4);
}

/* Header and data in one descriptor, response and data-in in another. */
static void
test_shared_descriptors(void **state)
{
	uint8_t *buf, *wbuf;
	uint64_t gpa, wgpa;
	struct vfe_buf bufs[2];
	struct virtio_scsi_cmd_resp *resp;
	uint16_t id;

	ut_add_target(3, "B3");
	buf = vfe_mem_alloc(&g_fe, sizeof(struct virtio_scsi_cmd_req) + 512, 64, &gpa);
	wbuf = vfe_mem_alloc(&g_fe, 4, 64, &wgpa);
	ut_lun(buf, 3);
	buf[19] = 0x2a;
	memset(buf + sizeof(struct virtio_scsi_cmd_req), 0x77, 512);
	resp = vfe_mem_alloc(&g_fe, sizeof(*resp), 64, &wgpa);
	bufs[0] = (struct vfe_buf){gpa, sizeof(struct virtio_scsi_cmd_req) + 512, false};
	bufs[1] = (struct vfe_buf){wgpa, sizeof(*resp), true};
	id = ut_post(2, bufs, 2);
	ut_run();
	assert_int_equal(ut_used(2, id), sizeof(*resp));
	assert_int_equal(resp->response, VIRTIO_SCSI_S_OK);
	assert_int_equal(g_ly.written_len, 512);
	assert_int_equal(g_ly.written[511], 0x77);

	/* Response split over two descriptors, data-in sharing the second. */
	resp = vfe_mem_alloc(&g_fe, sizeof(*resp) + 256, 64, &wgpa);
	buf = vfe_mem_alloc(&g_fe, sizeof(struct virtio_scsi_cmd_req), 64, &gpa);
	ut_lun(buf, 3);
	buf[19] = 0x28;
	{
		struct vfe_buf b3[3] = {
			{gpa, sizeof(struct virtio_scsi_cmd_req), false},
			{wgpa, 50, true},
			{wgpa + 50, sizeof(*resp) - 50 + 256, true},
		};

		id = ut_post(2, b3, 3);
	}
	ut_run();
	assert_int_equal(ut_used(2, id), sizeof(*resp) + 256);
	assert_int_equal(resp->response, VIRTIO_SCSI_S_OK);
	assert_int_equal(((uint8_t *)resp)[sizeof(*resp)], 0x28);
	assert_int_equal(((uint8_t *)resp)[sizeof(*resp) + 255], (uint8_t)(255 + 0x28));

	/* Response in six pieces (no framing may be assumed), data-in after it. */
	resp = vfe_mem_alloc(&g_fe, sizeof(*resp) + 256, 64, &wgpa);
	buf = vfe_mem_alloc(&g_fe, sizeof(struct virtio_scsi_cmd_req), 64, &gpa);
	ut_lun(buf, 3);
	buf[19] = 0x28;
	{
		struct vfe_buf b8[8] = {{gpa, sizeof(struct virtio_scsi_cmd_req), false}};

		for (int k = 0; k < 6; k++)
			b8[1 + k] = (struct vfe_buf){wgpa + 18u * k, 18, true};
		b8[7] = (struct vfe_buf){wgpa + 108, 256, true};
		id = ut_post(2, b8, 8);
	}
	memset(resp, 0xee, sizeof(*resp));
	ut_run();
	assert_int_equal(ut_used(2, id), sizeof(*resp) + 256);
	assert_int_equal(resp->response, VIRTIO_SCSI_S_OK);
	assert_int_equal(resp->sense[95], 0);
	assert_int_equal(((uint8_t *)resp)[sizeof(*resp)], 0x28);

	/* A well-formed flat LUN beyond the layer's ids reaches it (LUN NOT SUPPORTED there). */
	{
		struct ut_cmd c;

		ut_cmd_alloc(&c, 3, 0x00, 0);
		c.req->lun[2] = 0x40 | (16383 >> 8);
		c.req->lun[3] = 16383 & 0xff;
		id = ut_post(2, (struct vfe_buf[]){{c.req_gpa, sizeof(*c.req), false},
						   {c.resp_gpa, sizeof(*c.resp), true}}, 2);
		ut_run();
		ut_used(2, id);
		assert_int_equal(c.resp->response, VIRTIO_SCSI_S_OK);
		assert_int_equal(g_ly.last_lun_id, 16383);
	}
	(void)wbuf;
}

static void
test_bad_requests(void **state)
{
	struct ut_cmd c;
	struct vfe_buf bufs[4];
	uint16_t id;

	ut_add_target(0, "B0");
	/* No such target, target beyond 7, wrong LUN format byte 0, LUN with a second level. */
	ut_cmd(&c, 5, 0x12, 96, true);
	ut_run();
	assert_int_equal(ut_used(2, c.id), sizeof(*c.resp));
	assert_int_equal(c.resp->response, VIRTIO_SCSI_S_BAD_TARGET);
	assert_int_equal(le32toh(c.resp->resid), 96);
	ut_cmd(&c, 9, 0x12, 96, true);
	ut_run();
	ut_used(2, c.id);
	assert_int_equal(c.resp->response, VIRTIO_SCSI_S_BAD_TARGET);
	ut_cmd_alloc(&c, 0, 0x12, 96);
	c.req->lun[0] = 2;
	bufs[0] = (struct vfe_buf){c.req_gpa, sizeof(*c.req), false};
	bufs[1] = (struct vfe_buf){c.resp_gpa, sizeof(*c.resp), true};
	id = ut_post(2, bufs, 2);
	ut_run();
	ut_used(2, id);
	assert_int_equal(c.resp->response, VIRTIO_SCSI_S_BAD_TARGET);
	ut_cmd_alloc(&c, 0, 0x12, 96);
	c.req->lun[5] = 1;
	id = ut_post(2, (struct vfe_buf[]){{c.req_gpa, sizeof(*c.req), false},
					   {c.resp_gpa, sizeof(*c.resp), true}}, 2);
	ut_run();
	ut_used(2, id);
	assert_int_equal(c.resp->response, VIRTIO_SCSI_S_BAD_TARGET);
	/* Peripheral addressing of LUN 0 is accepted too. */
	ut_cmd_alloc(&c, 0, 0x00, 0);
	c.req->lun[2] = 0;
	id = ut_post(2, (struct vfe_buf[]){{c.req_gpa, sizeof(*c.req), false},
					   {c.resp_gpa, sizeof(*c.resp), true}}, 2);
	ut_run();
	ut_used(2, id);
	assert_int_equal(c.resp->response, VIRTIO_SCSI_S_OK);

	/* Data both ways without INOUT: FAILURE, the layer never sees it. */
	ut_cmd_alloc(&c, 0, 0x28, 512);
	bufs[0] = (struct vfe_buf){c.req_gpa, sizeof(*c.req), false};
	bufs[1] = (struct vfe_buf){c.data_gpa, 256, false};
	bufs[2] = (struct vfe_buf){c.resp_gpa, sizeof(*c.resp), true};
	bufs[3] = (struct vfe_buf){c.data_gpa + 256, 256, true};
	id = ut_post(2, bufs, 4);
	ut_run();
	assert_int_equal(ut_used(2, id), sizeof(*c.resp));
	assert_int_equal(c.resp->response, VIRTIO_SCSI_S_FAILURE);
	assert_int_equal(le32toh(c.resp->resid), 512);

	/* A short header: FAILURE. */
	ut_cmd_alloc(&c, 0, 0x28, 512);
	bufs[0] = (struct vfe_buf){c.req_gpa, 20, false};
	bufs[1] = (struct vfe_buf){c.resp_gpa, sizeof(*c.resp), true};
	id = ut_post(2, bufs, 2);
	ut_run();
	ut_used(2, id);
	assert_int_equal(c.resp->response, VIRTIO_SCSI_S_FAILURE);

	/* A response area short of 108 bytes: FAILURE in the 100 there are. */
	ut_cmd_alloc(&c, 0, 0x28, 512);
	bufs[0] = (struct vfe_buf){c.req_gpa, sizeof(*c.req), false};
	bufs[1] = (struct vfe_buf){c.resp_gpa, 100, true};
	id = ut_post(2, bufs, 2);
	ut_run();
	assert_int_equal(ut_used(2, id), 100);
	assert_int_equal(c.resp->response, VIRTIO_SCSI_S_FAILURE);
	assert_int_equal(c.resp->status, 0);
	assert_int_equal(((uint8_t *)c.resp)[99], 0);
	assert_int_equal(((uint8_t *)c.resp)[100], 0xee);
	assert_int_equal(g_ly.npending, 0);

	/*
	 * A readable descriptor after a writable one: the virtq layer's BAD,
	 * answered FAILURE in the first writable descriptor (the response),
	 * nothing else written; the layer never sees it.
	 */
	ut_cmd_alloc(&c, 0, 0x28, 512);
	bufs[0] = (struct vfe_buf){c.req_gpa, sizeof(*c.req), false};
	bufs[1] = (struct vfe_buf){c.resp_gpa, sizeof(*c.resp), true};
	bufs[2] = (struct vfe_buf){c.data_gpa, 512, false};
	memset(c.data, 0xdd, 512);
	id = ut_post(2, bufs, 3);
	ut_run();
	assert_int_equal(ut_used(2, id), sizeof(*c.resp));
	assert_int_equal(c.resp->response, VIRTIO_SCSI_S_FAILURE);
	assert_int_equal(c.resp->status, 0);
	assert_int_equal(c.resp->sense_len, 0);
	assert_int_equal(c.resp->sense[95], 0);
	for (int i = 0; i < 512; i++)
		assert_int_equal(c.data[i], 0xdd);
	assert_int_equal(g_ly.puts, 1);
	assert_int_equal(g_requests, 0);

	/*
	 * The same with a first writable descriptor too short for the response
	 * header: nowhere to answer. Not returned (empty, the driver would read
	 * its stale response), nothing written; the queue is broken
	 * (NEEDS_RESET) and serves nothing more.
	 */
	ut_cmd_alloc(&c, 0, 0x28, 512);
	bufs[0] = (struct vfe_buf){c.req_gpa, sizeof(*c.req), false};
	bufs[1] = (struct vfe_buf){c.resp_gpa, 11, true};
	bufs[2] = (struct vfe_buf){c.data_gpa, 512, false};
	bufs[3] = (struct vfe_buf){c.resp_gpa + 11, sizeof(*c.resp) - 11, true};
	ut_post(2, bufs, 4);
	ut_run();
	ut_no_used(2);
	assert_true(g_q[2].vq.broken);
	assert_non_null(strstr(g_q[2].vq.broken_reason, "response header"));
	assert_int_equal(c.resp->response, 0xee);
	assert_int_equal(g_requests, 0);
	ut_cmd(&c, 0, 0x00, 0, false);
	ut_run();
	ut_no_used(2);
	assert_int_equal(c.resp->response, 0xee);
}

/*
 * Malformed chains on the control and event queues have no error answer
 * that fits every request: each stops its queue (NEEDS_RESET), nothing
 * returned, nothing written; the request queues keep serving.
 */
static void
test_bad_chains_ctrl_event(void **state)
{
	struct vfe_buf bufs[3];
	struct ut_cmd c;
	uint64_t ev_gpa;
	uint8_t *ev;

	ut_add_target(0, "B0");
	/* Control queue: a TMF with a readable descriptor after its response. */
	ut_cmd_alloc(&c, 0, 0, 512);
	memset(c.req, 0, sizeof(*c.req));
	bufs[0] = (struct vfe_buf){c.req_gpa, sizeof(struct virtio_scsi_ctrl_tmf_req), false};
	bufs[1] = (struct vfe_buf){c.resp_gpa, 1, true};
	bufs[2] = (struct vfe_buf){c.data_gpa, 16, false};
	ut_post(0, bufs, 3);
	ut_run();
	ut_no_used(0);
	assert_true(g_q[0].vq.broken);
	assert_non_null(strstr(g_q[0].vq.broken_reason, "control queue"));
	assert_int_equal(((uint8_t *)c.resp)[0], 0xee);
	assert_int_equal(g_requests, 0);
	/* Event queue: a writable then a readable descriptor. */
	ev = vfe_mem_alloc(&g_fe, 64, 16, &ev_gpa);
	assert_non_null(ev);
	memset(ev, 0xee, 64);
	bufs[0] = (struct vfe_buf){ev_gpa, 16, true};
	bufs[1] = (struct vfe_buf){ev_gpa + 32, 16, false};
	ut_post(1, bufs, 2);
	ut_run();
	ut_no_used(1);
	assert_true(g_q[1].vq.broken);
	assert_non_null(strstr(g_q[1].vq.broken_reason, "event buffer"));
	for (int i = 0; i < 64; i++)
		assert_int_equal(ev[i], 0xee);
	assert_int_equal(g_requests, 0);
	/* The request queue is another ring: it serves. */
	ut_cmd(&c, 0, 0x00, 0, false);
	ut_run();
	assert_int_equal(ut_used(2, c.id), sizeof(*c.resp));
	assert_int_equal(c.resp->response, VIRTIO_SCSI_S_OK);
}

/*
 * Well-formed requests with nowhere for their answer: a command whose
 * response area cannot hold the 12 bytes up to `response`, a control
 * request without its type or a writable byte, of an unknown type, or an
 * AN request without room for its 5-byte response, an event buffer too
 * small for an event. Each stops its queue (NEEDS_RESET): nothing
 * returned, nothing written, the layer never sees it; the request queue
 * keeps serving when it is not the one stopped.
 */
static void
test_unanswerable(void **state)
{
	static const struct {
		int qi;
		uint32_t type;    /* first 4 bytes of the request (le) */
		uint32_t req_len; /* readable bytes */
		uint32_t resp_len;/* writable bytes (0: none) */
		const char *reason;
	} cases[] = {
		{2, 0, sizeof(struct virtio_scsi_cmd_req), 11, "response header"},
		{0, VIRTIO_SCSI_T_TMF, 2, 1, "too short"},
		{0, VIRTIO_SCSI_T_TMF, sizeof(struct virtio_scsi_ctrl_tmf_req), 0, "too short"},
		{0, VIRTIO_SCSI_T_AN_QUERY, sizeof(struct virtio_scsi_ctrl_an_req), 4,
		 "notification"},
		{0, 7, sizeof(struct virtio_scsi_ctrl_tmf_req), 16, "unknown type"},
		{1, 0, 0, 8, "too small"},
	};
	struct vfe_buf bufs[2];
	struct ut_cmd c;
	uint64_t gpa;
	uint8_t *mem;
	int n;

	(void)state;
	for (size_t i = 0; i < SPUR_COUNTOF(cases); i++) {
		if (i > 0)
			ut_setup(NULL);
		ut_add_target(0, "B0");
		mem = vfe_mem_alloc(&g_fe, 256, 16, &gpa);
		assert_non_null(mem);
		memset(mem, 0, 128);
		memset(mem + 128, 0xee, 128);
		ut_lun(mem + 8, 0); /* a TMF's or AN's LUN */
		ut_lun(mem, 0);     /* a command's LUN */
		if (cases[i].qi == 0)
			*(uint32_t *)mem = htole32(cases[i].type);
		n = 0;
		if (cases[i].req_len > 0)
			bufs[n++] = (struct vfe_buf){gpa, cases[i].req_len, false};
		if (cases[i].resp_len > 0)
			bufs[n++] = (struct vfe_buf){gpa + 128, cases[i].resp_len, true};
		ut_post(cases[i].qi, bufs, n);
		ut_run();
		ut_no_used(cases[i].qi);
		assert_true(g_q[cases[i].qi].vq.broken);
		assert_non_null(strstr(g_q[cases[i].qi].vq.broken_reason, cases[i].reason));
		for (int k = 128; k < 256; k++)
			assert_int_equal(mem[k], 0xee);
		assert_int_equal(g_ly.npending + g_ly.nmgmt, 0);
		assert_int_equal(g_requests, 0);
		ut_cmd(&c, 0, 0x00, 0, false);
		ut_run();
		if (cases[i].qi == 2) {
			ut_no_used(2);
		} else {
			assert_int_equal(ut_used(2, c.id), sizeof(*c.resp));
			assert_int_equal(c.resp->response, VIRTIO_SCSI_S_OK);
		}
		if (i + 1 < SPUR_COUNTOF(cases))
			ut_teardown(NULL);
	}
}

static void
test_status_sense_abort_overrun(void **state)
{
	struct ut_cmd c;

	ut_add_target(0, "B0");
	ut_cmd(&c, 0, 0xff, 0, false);
	ut_run();
	ut_used(2, c.id);
	assert_int_equal(c.resp->response, VIRTIO_SCSI_S_OK);
	assert_int_equal(c.resp->status, SPUR_SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(le32toh(c.resp->sense_len), 18);
	assert_int_equal(c.resp->sense[2], SPUR_SCSI_SENSE_ILLEGAL_REQUEST);
	assert_int_equal(c.resp->sense[12], 0x20);

	g_ly.abort_next = true;
	ut_cmd(&c, 0, 0x28, 512, true);
	ut_run();
	ut_used(2, c.id);
	assert_int_equal(c.resp->response, VIRTIO_SCSI_S_ABORTED);

	g_ly.overflow_next = true;
	ut_cmd(&c, 0, 0x28, 512, true);
	ut_run();
	ut_used(2, c.id);
	assert_int_equal(c.resp->response, VIRTIO_SCSI_S_OVERRUN);
}

/* Control queue helpers: a TMF or AN request, response in *resp. */
static uint16_t
ut_ctrl(const void *req, uint32_t req_len, void **resp, uint32_t resp_len)
{
	uint64_t rgpa, wgpa;
	void *r = vfe_mem_alloc(&g_fe, req_len, 16, &rgpa);
	struct vfe_buf bufs[2];

	memcpy(r, req, req_len);
	*resp = vfe_mem_alloc(&g_fe, resp_len, 16, &wgpa);
	memset(*resp, 0xee, resp_len);
	bufs[0] = (struct vfe_buf){rgpa, req_len, false};
	bufs[1] = (struct vfe_buf){wgpa, resp_len, true};
	return ut_post(0, bufs, 2);
}

static void
test_task_management(void **state)
{
	struct virtio_scsi_ctrl_tmf_req tmf;
	struct virtio_scsi_ctrl_an_req an;
	struct virtio_scsi_ctrl_an_resp *anr;
	struct ut_cmd c1, c2;
	uint8_t *r;
	uint16_t id;

	ut_add_target(1, "B1");
	/* Two reads in flight, then LOGICAL UNIT RESET. */
	ut_cmd(&c1, 1, 0x28, 512, true);
	ut_cmd(&c2, 1, 0x28, 512, true);
	ut_poll();
	assert_int_equal(g_ly.npending, 2);
	memset(&tmf, 0, sizeof(tmf));
	tmf.type = htole32(VIRTIO_SCSI_T_TMF);
	tmf.subtype = htole32(VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET);
	ut_lun(tmf.lun, 1);
	id = ut_ctrl(&tmf, sizeof(tmf), (void **)&r, 1);
	ut_poll();
	assert_int_equal(g_ly.nmgmt, 1);
	assert_int_equal(g_ly.mgmt[0]->function, SPUR_SCSI_TMF_LUN_RESET);
	assert_int_equal(g_ly.mgmt[0]->lun_id, 0);
	ly_complete_mgmt();
	/*
	 * The aborted requests are published before the TMF response, without
	 * a poll, as cancelled by a reset.
	 */
	ut_used(2, c1.id);
	ut_used(2, c2.id);
	assert_int_equal(c1.resp->response, VIRTIO_SCSI_S_RESET);
	assert_int_equal(c2.resp->response, VIRTIO_SCSI_S_RESET);
	assert_int_equal(atomic_load(&g_sc->targets[1].resets), 0);
	assert_int_equal(ut_used(0, id), 1);
	assert_int_equal(*r, 0);

	/* ABORT TASK carries the tag. */
	ut_cmd(&c1, 1, 0x28, 512, true);
	ut_poll();
	tmf.subtype = htole32(VIRTIO_SCSI_T_TMF_ABORT_TASK);
	tmf.tag = htole64(0x1001);
	id = ut_ctrl(&tmf, sizeof(tmf), (void **)&r, 1);
	ut_poll();
	assert_int_equal(g_ly.mgmt[0]->function, SPUR_SCSI_TMF_ABORT_TASK);
	assert_int_equal(g_ly.mgmt[0]->abort_tag, 0x1001);
	ly_complete_mgmt();
	ut_used(2, c1.id);
	assert_int_equal(c1.resp->response, VIRTIO_SCSI_S_ABORTED);
	assert_int_equal(ut_used(0, id), 1);
	assert_int_equal(*r, 0);

	/* I_T NEXUS RESET: a target reset. CLEAR ACA and QUERY TASK: rejected. */
	tmf.subtype = htole32(VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET);
	id = ut_ctrl(&tmf, sizeof(tmf), (void **)&r, 1);
	ut_poll();
	assert_int_equal(g_ly.mgmt[0]->function, SPUR_SCSI_TMF_TARGET_RESET);
	ly_complete_mgmt();
	ut_used(0, id);
	tmf.subtype = htole32(VIRTIO_SCSI_T_TMF_QUERY_TASK);
	id = ut_ctrl(&tmf, sizeof(tmf), (void **)&r, 1);
	ut_poll();
	assert_int_equal(g_ly.nmgmt, 0);
	ut_used(0, id);
	assert_int_equal(*r, VIRTIO_SCSI_S_FUNCTION_REJECTED);
	/* A TMF for a target that does not exist. */
	tmf.subtype = htole32(VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET);
	ut_lun(tmf.lun, 4);
	id = ut_ctrl(&tmf, sizeof(tmf), (void **)&r, 1);
	ut_poll();
	ut_used(0, id);
	assert_int_equal(*r, VIRTIO_SCSI_S_BAD_TARGET);

	/* AN query and subscribe: nothing supported. */
	memset(&an, 0, sizeof(an));
	an.type = htole32(VIRTIO_SCSI_T_AN_QUERY);
	ut_lun(an.lun, 1);
	an.event_requested = htole32(0xff);
	id = ut_ctrl(&an, sizeof(an), (void **)&anr, sizeof(*anr));
	ut_poll();
	assert_int_equal(ut_used(0, id), sizeof(*anr));
	assert_int_equal(anr->event_actual, 0);
	assert_int_equal(anr->response, VIRTIO_SCSI_S_OK);
	an.type = htole32(VIRTIO_SCSI_T_AN_SUBSCRIBE);
	id = ut_ctrl(&an, sizeof(an), (void **)&anr, sizeof(*anr));
	ut_poll();
	ut_used(0, id);
	assert_int_equal(anr->response, VIRTIO_SCSI_S_OK);
	assert_int_equal(g_requests, 0);
}

static void
test_events_add_remove(void **state)
{
	struct ut_cmd c, late;

	ut_post_events(4);
	ut_poll();
	ut_no_used(1);
	/* Add: RESCAN for the target, at once. */
	ut_add_target(2, "B2");
	ut_run_msgs();
	ut_event(VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_RESCAN, 2);

	/* Remove with a request in flight: it finishes, new ones get BAD_TARGET. */
	ut_cmd(&c, 2, 0x28, 512, true);
	ut_poll();
	assert_int_equal(g_ly.npending, 1);
	g_removed_rc = 1;
	assert_int_equal(vhost_scsi_remove_target(g_sc, 2, ut_removed, NULL), 0);
	ut_run_msgs();
	ut_cmd(&late, 2, 0x28, 512, true);
	ut_poll();
	ut_used(2, late.id);
	assert_int_equal(late.resp->response, VIRTIO_SCSI_S_BAD_TARGET);
	assert_int_equal(g_ly.destroyed, 0);
	assert_int_equal(g_removed_rc, 1);
	ut_no_used(1);
	ly_complete_all();
	ut_poll();
	ut_used(2, c.id);
	assert_int_equal(c.resp->response, VIRTIO_SCSI_S_OK);
	ut_run_msgs();
	/* Gone: destroyed, the RPC answered, the guest told. */
	assert_int_equal(g_ly.destroyed, 1);
	assert_int_equal(g_removed_rc, 0);
	ut_event(VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_REMOVED, 2);
	assert_int_equal(vhost_scsi_target_count(g_sc), 0);
	/* The slot is free again. */
	ut_add_target(2, "B2b");
	ut_run_msgs();
	ut_event(VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_RESCAN, 2);
}

/* Remove an idle target: the nudge releases the queue's hold. */
static void
test_remove_idle_and_hot_remove(void **state)
{
	struct ut_cmd c;

	ut_add_target(0, "B0");
	ut_add_target(1, "B1");
	ut_cmd(&c, 0, 0x00, 0, false);
	ut_run();
	ut_used(2, c.id);
	g_removed_rc = 1;
	assert_int_equal(vhost_scsi_remove_target(g_sc, 0, ut_removed, NULL), 0);
	ut_run_msgs();
	assert_int_equal(g_removed_rc, 0);
	assert_int_equal(g_ly.destroyed, 1);
	assert_int_equal(vhost_scsi_remove_target(g_sc, 0, ut_removed, NULL), -ENODEV);
	/* The bdev of target 1 goes away: the target is removed. */
	for (struct spur_scsi_dev *d = g_ly.devs; d != NULL; d = d->next)
		d->hotremove_cb(d, 0, d->hotremove_ctx);
	ut_run_msgs();
	assert_int_equal(g_ly.destroyed, 2);
	assert_int_equal(vhost_scsi_target_count(g_sc), 0);
	/* -1 picks the first free slot; bad bdev; slot in use. */
	assert_int_equal(vhost_scsi_add_target(g_sc, -1, "B5"), 0);
	assert_int_equal(vhost_scsi_add_target(g_sc, -1, "B6"), 1);
	assert_int_equal(vhost_scsi_add_target(g_sc, 1, "B7"), -EEXIST);
	assert_int_equal(vhost_scsi_add_target(g_sc, 4, "nope"), -ENODEV);
	ut_run_msgs();
	assert_int_equal(g_ly.destroyed, 3);
	assert_int_equal(vhost_scsi_add_target(g_sc, 8, "B8"), -EINVAL);
}

static void
test_events_missed_param_change_stop(void **state)
{
	/* No buffer posted: events wait, up to the list's size; beyond, "missed". */
	for (int i = 0; i < 8; i++)
		ut_add_target(i, "B");
	for (uint32_t i = 0; i < VHOST_SCSI_EVENTS_MAX; i++)
		vhost_scsi_post_event(g_sc, VIRTIO_SCSI_T_PARAM_CHANGE, 0x092a, 0);
	ut_run_msgs();
	ut_no_used(1);
	/* Buffers take the oldest first; the first carries EVENTS_MISSED. */
	ut_post_events(VHOST_SCSI_EVENTS_MAX);
	ut_poll();
	ut_event(VIRTIO_SCSI_T_TRANSPORT_RESET | VIRTIO_SCSI_T_EVENTS_MISSED,
		 VIRTIO_SCSI_EVT_RESET_RESCAN, 0);
	for (uint8_t i = 1; i < 8; i++)
		ut_event(VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_RESCAN, i);
	for (uint32_t i = 8; i < VHOST_SCSI_EVENTS_MAX; i++)
		ut_event(VIRTIO_SCSI_T_PARAM_CHANGE, 0x092a, 0);
	ut_no_used(1);

	/* Capacity change from the layer: PARAM_CHANGE with ASC 0x2a ASCQ 0x09. */
	ut_post_events(2);
	ut_poll();
	g_ly.devs->event_cb(g_ly.devs, SPUR_SCSI_DEV_EVENT_LUN_RESIZED, 0, g_ly.devs->event_ctx);
	ut_run_msgs();
	ut_event(VIRTIO_SCSI_T_PARAM_CHANGE, 0x2a | (0x09 << 8),
		 ((struct vhost_scsi_target *)g_ly.devs->event_ctx)->num);
	ut_no_used(1);

	/* Stop: the held buffer comes back with NO_EVENT (not stale content). */
	vhost_scsi_ops.queue_stop(&g_q[1], ut_stop_done);
	ut_event(VIRTIO_SCSI_T_NO_EVENT, 0, 0);
	/* No event queue: events are dropped. */
	assert_int_equal(vhost_scsi_remove_target(g_sc, 7, ut_removed, NULL), 0);
	ut_run_msgs();
	assert_int_equal(g_sc->ev_count, 0);

	/* A driver without HOTPLUG: transport resets are not sent to it. */
	assert_int_equal(vfe_queue_init_local(&g_fe, 1, UT_QSIZE, false), 0);
	g_next_id[1] = 0;
	ut_init_queue(1);
	g_features = 1ull << VIRTIO_SCSI_F_CHANGE;
	assert_int_equal(vhost_scsi_ops.queue_start(&g_q[1]), 0);
	ut_post_events(1);
	ut_poll();
	assert_int_equal(vhost_scsi_remove_target(g_sc, 6, ut_removed, NULL), 0);
	ut_run_msgs();
	ut_no_used(1);
	vhost_scsi_post_event(g_sc, VIRTIO_SCSI_T_PARAM_CHANGE, 0x092a, 3);
	ut_run_msgs();
	ut_event(VIRTIO_SCSI_T_PARAM_CHANGE, 0x092a, 3);
}

/* Requests in flight when a stop begins finish first. */
static void
test_stop_in_flight(void **state)
{
	struct ut_cmd c;

	ut_add_target(0, "B0");
	ut_cmd(&c, 0, 0x28, 512, true);
	ut_poll();
	g_stops = 0;
	vhost_scsi_ops.queue_stop(&g_q[2], ut_stop_done);
	assert_int_equal(g_stops, 0);
	ly_complete_all();
	assert_int_equal(g_stops, 1);
	ut_used(2, c.id);
	assert_int_equal(c.resp->response, VIRTIO_SCSI_S_OK);
	/* The hold went with the queue. */
	assert_int_equal(g_ly.devs->channels, 0);
	assert_int_equal(atomic_load(&g_sc->targets[0].holders), 0);
	ut_init_queue(2);
	assert_int_equal(vhost_scsi_ops.queue_start(&g_q[2]), 0);
}

/*
 * After a restart, requests the previous process had taken are run again:
 * what virtq_recover leaves (ids in flight, the avail index past them) is
 * set up by hand, then queue_resubmit.
 */
static void
test_resubmit(void **state)
{
	struct ut_cmd c;
	uint16_t ids[1];
	uint64_t gpa;
	struct virtio_scsi_event *ev;
	struct vfe_buf b;

	ut_add_target(0, "B0");
	ut_cmd(&c, 0, 0x28, 512, true);
	ids[0] = c.id;
	g_q[2].vq.packed_desc_count[c.id] = 1;
	g_q[2].vq.last_avail_idx = g_q[2].vq.shadow_avail_idx = 1;
	vhost_scsi_ops.queue_resubmit(&g_q[2], ids, 1);
	assert_int_equal(g_ly.npending, 1);
	ly_complete_all();
	ut_poll();
	ut_used(2, c.id);
	assert_int_equal(c.resp->response, VIRTIO_SCSI_S_OK);
	assert_int_equal(c.data[0], 0x28);

	/* An event buffer in flight is held again and used for the next event. */
	ev = vfe_mem_alloc(&g_fe, sizeof(*ev), 16, &gpa);
	b = (struct vfe_buf){gpa, sizeof(*ev), true};
	ids[0] = ut_post(1, &b, 1);
	g_evbuf[ids[0]] = ev;
	g_q[1].vq.packed_desc_count[ids[0]] = 1;
	g_q[1].vq.last_avail_idx = g_q[1].vq.shadow_avail_idx = 1;
	vhost_scsi_ops.queue_resubmit(&g_q[1], ids, 1);
	/* It takes the event that waited for a buffer (target 0 added). */
	ut_event(VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_RESCAN, 0);
	ut_post_events(1);
	ut_poll();
	ut_no_used(1);
	ut_add_target(1, "B1");
	ut_run_msgs();
	ut_event(VIRTIO_SCSI_T_TRANSPORT_RESET, VIRTIO_SCSI_EVT_RESET_RESCAN, 1);
}

static void
test_config_features_info(void **state)
{
	struct virtio_scsi_config cfg;
	uint64_t f = vhost_scsi_ops.features(&g_ctrlr);
	uint32_t v;
	json_t *info, *list;

	assert_true(f & (1ull << VIRTIO_F_VERSION_1));
	assert_true(f & (1ull << VIRTIO_RING_F_EVENT_IDX));
	assert_true(f & (1ull << VIRTIO_RING_F_INDIRECT_DESC));
	assert_true(f & (1ull << VIRTIO_SCSI_F_HOTPLUG));
	assert_true(f & (1ull << VIRTIO_SCSI_F_CHANGE));
	assert_false(f & (1ull << VIRTIO_SCSI_F_INOUT));
	vhost_scsi_ops.get_config(&g_ctrlr, (uint8_t *)&cfg, sizeof(cfg));
	assert_int_equal(cfg.num_queues, VHOST_SCSI_MAX_QUEUES - 2);
	assert_int_equal(cfg.seg_max, VHOST_SCSI_SEG_MAX);
	assert_int_equal(cfg.sense_size, 96);
	assert_int_equal(cfg.cdb_size, 32);
	assert_int_equal(cfg.event_info_size, 16);
	assert_int_equal(cfg.max_target, 7);
	assert_int_equal(cfg.max_lun, 0);
	assert_int_equal(cfg.max_channel, 0);
	/* The driver may write back the sizes it was given, nothing else. */
	v = 96;
	assert_int_equal(vhost_scsi_ops.set_config(&g_ctrlr, (uint8_t *)&v,
						   offsetof(struct virtio_scsi_config, sense_size),
						   4), 0);
	v = 64;
	assert_int_not_equal(vhost_scsi_ops.set_config(&g_ctrlr, (uint8_t *)&v,
						       offsetof(struct virtio_scsi_config,
								cdb_size), 4), 0);
	assert_int_not_equal(vhost_scsi_ops.set_config(&g_ctrlr, (uint8_t *)&v, 0, 4), 0);

	ut_add_target(2, "Malloc1");
	ut_add_target(5, "Malloc2");
	info = json_object();
	vhost_scsi_ops.dump_info_json(&g_ctrlr, info);
	list = json_object_get(info, "scsi");
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1),
							      "target_name")), "Target 5");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 1),
							    "scsi_dev_num")), 5);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
		json_array_get(list, 0), "luns"), 0), "bdev_name")), "Malloc1");
	json_decref(info);
	list = json_array();
	vhost_scsi_write_config_json(&g_ctrlr, list);
	assert_int_equal(json_array_size(list), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 2), "method")),
			    "vhost_scsi_controller_add_target");
	json_decref(list);
	assert_non_null(vhost_scsi_ops.delete_refused(&g_ctrlr));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_data_in_out, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_shared_descriptors, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_bad_chains_ctrl_event, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_unanswerable, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_status_sense_abort_overrun, ut_setup,
						ut_teardown),
		cmocka_unit_test_setup_teardown(test_task_management, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_events_add_remove, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_remove_idle_and_hot_remove, ut_setup,
						ut_teardown),
		cmocka_unit_test_setup_teardown(test_events_missed_param_change_stop, ut_setup,
						ut_teardown),
		cmocka_unit_test_setup_teardown(test_stop_in_flight, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_resubmit, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_config_features_info, ut_setup, ut_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
