/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The harness of lib/scsi's unit tests (see ut_scsi.h): hand-polled threads,
 * the real bdev layer with the "ut_disk" RAM module, a SCSI device with one
 * LUN, and helpers that run commands and check sense data.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"
#include "spur/config.h"
#include "ut_scsi.h"

#pragma weak spur_set_app_thread

struct spur_thread *ut_app;
struct spur_thread *ut_io[2];
struct spur_scsi_dev *ut_dev;
struct spur_io_channel *ut_ch[2];
struct ut_disk *ut_d0;
struct spur_scsi_port ut_a, ut_b;
struct ut_events ut_ev;
int ut_seq;

static bool g_module_registered;
static int g_disk_io_dev;
#define UT_MAX_DISKS 8
static struct ut_disk *g_disks[UT_MAX_DISKS];

/* ---- threads ------------------------------------------------------------------------ */

int
ut_poll_once(void)
{
	int n = spur_thread_poll(ut_app, 0, spur_get_ticks());

	n += spur_thread_poll(ut_io[0], 0, spur_get_ticks());
	n += spur_thread_poll(ut_io[1], 0, spur_get_ticks());
	spur_set_thread(ut_app);
	return n;
}

void
ut_poll(void)
{
	int rounds = 0, idle = 0;

	/* A few idle rounds in a row: timed pollers (100 us) get their turn too. */
	while (idle < 3) {
		idle = ut_poll_once() > 0 ? 0 : idle + 1;
		assert_true(++rounds < 1000000);
	}
}

void
ut_poll_rounds(int n)
{
	for (int i = 0; i < n; i++) {
		ut_poll_once();
	}
}

/* ---- the RAM disk module -------------------------------------------------------------- */

static size_t
disk_ctx_size(void)
{
	return 16;
}

static const struct spur_bdev_module g_disk_module = {
	.name = "ut_disk",
	.get_ctx_size = disk_ctx_size,
};

static int
disk_destruct(void *ctx)
{
	struct ut_disk *d = ctx;

	d->destructed = true;
	return 0;
}

static void
disk_transfer(struct ut_disk *d, struct spur_bdev_io *io)
{
	uint64_t len = io->num_blocks * d->bdev.blocklen, off = 0;
	uint8_t *base = d->data + io->offset_blocks * d->bdev.blocklen;

	switch (io->type) {
	case SPUR_BDEV_IO_READ:
	case SPUR_BDEV_IO_WRITE:
		for (int i = 0; i < io->iovcnt && off < len; i++) {
			size_t n = io->iovs[i].iov_len < len - off ? io->iovs[i].iov_len : len - off;

			if (io->type == SPUR_BDEV_IO_READ) {
				memcpy(io->iovs[i].iov_base, base + off, n);
			} else {
				memcpy(base + off, io->iovs[i].iov_base, n);
			}
			off += n;
		}
		break;
	case SPUR_BDEV_IO_UNMAP:
	case SPUR_BDEV_IO_WRITE_ZEROES:
		memset(base, 0, len);
		break;
	default:
		break;
	}
}

static void
disk_complete(struct ut_disk *d, struct spur_bdev_io *io, int status)
{
	if (status == 0) {
		disk_transfer(d, io);
	}
	spur_bdev_io_complete(io, status);
}

static void
disk_submit(struct spur_io_channel *ch, struct spur_bdev_io *io)
{
	struct ut_disk *d = io->bdev->ctxt;

	d->count[io->type]++;
	if (io->type == SPUR_BDEV_IO_READ || io->type == SPUR_BDEV_IO_WRITE) {
		d->last_iov_base = io->iovs[0].iov_base;
	}
	if (io->type == SPUR_BDEV_IO_WRITE || io->type == SPUR_BDEV_IO_WRITE_ZEROES) {
		d->last_flags = io->flags;
	}
	d->last_offset = io->offset_blocks;
	d->last_num = io->num_blocks;
	if (io->type == SPUR_BDEV_IO_RESET) {
		ut_disk_release(d, SPUR_BDEV_ERR_ABORTED);
		spur_bdev_io_complete(io, 0);
		return;
	}
	if (d->inject_count > 0 && io->type == d->inject_type) {
		d->inject_count--;
		spur_bdev_io_complete(io, d->inject_status);
		return;
	}
	if (d->hold) {
		assert_true(d->nheld < UT_MAX_HELD);
		d->held[d->nheld] = io;
		d->held_thread[d->nheld++] = spur_get_thread();
		return;
	}
	disk_complete(d, io, 0);
}

void
ut_disk_release(struct ut_disk *d, int status)
{
	struct spur_thread *cur = spur_get_thread();
	int n = d->nheld;

	d->nheld = 0;
	for (int i = 0; i < n; i++) {
		spur_set_thread(d->held_thread[i]);
		disk_complete(d, d->held[i], status);
	}
	spur_set_thread(cur);
}

static bool
disk_supported(void *ctx, enum spur_bdev_io_type type)
{
	struct ut_disk *d = ctx;

	return (d->io_mask & (1u << type)) != 0;
}

static int
disk_ch_create(void *io_device, void *ctx)
{
	return 0;
}

static void
disk_ch_destroy(void *io_device, void *ctx)
{
}

static struct spur_io_channel *
disk_get_io_channel(void *ctx)
{
	return spur_get_io_channel(&g_disk_io_dev);
}

static const struct spur_bdev_fn_table g_disk_fn = {
	.destruct = disk_destruct,
	.submit_request = disk_submit,
	.io_type_supported = disk_supported,
	.get_io_channel = disk_get_io_channel,
};

struct ut_disk *
ut_disk_create(const char *name, uint32_t bs, uint64_t blocks)
{
	struct ut_disk *d = calloc(1, sizeof(*d));
	int slot = -1;

	assert_non_null(d);
	for (int i = 0; i < UT_MAX_DISKS; i++) {
		if (g_disks[i] == NULL) {
			slot = i;
			break;
		}
	}
	assert_true(slot >= 0);
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->data = calloc(blocks, bs);
	assert_non_null(d->data);
	d->io_mask = 0xffu;
	d->bdev.name = d->name;
	d->bdev.product_name = "UT RAM disk";
	d->bdev.blocklen = bs;
	d->bdev.blockcnt = blocks;
	d->bdev.write_cache = true;
	d->bdev.ctxt = d;
	d->bdev.fn_table = &g_disk_fn;
	d->bdev.module = &g_disk_module;
	for (int i = 0; i < 16; i++) {
		d->bdev.uuid[i] = (uint8_t)(0x10 + i);
	}
	assert_int_equal(spur_bdev_register(&d->bdev), 0);
	g_disks[slot] = d;
	return d;
}

static void
unregister_done(void *arg, int status)
{
}

void
ut_disk_unregister(struct ut_disk *d)
{
	spur_set_thread(ut_app);
	spur_bdev_unregister(&d->bdev, unregister_done, NULL);
}

/* ---- setup -------------------------------------------------------------------------------- */

static bool g_sub_done;
static int g_sub_status;
static uint32_t g_pool, g_cache, g_def_pool, g_def_cache;

static void
sub_done(int status)
{
	g_sub_status = status;
	g_sub_done = true;
}

void
ut_set_bdev_pool(uint32_t pool, uint32_t cache)
{
	g_pool = pool;
	g_cache = cache;
}

int
ut_group_setup(void **state)
{
	ut_app = spur_thread_create("ut_app", NULL);
	ut_io[0] = spur_thread_create("ut_io0", NULL);
	ut_io[1] = spur_thread_create("ut_io1", NULL);
	assert_non_null(ut_app);
	if (spur_set_app_thread != NULL) {
		spur_set_app_thread(ut_app);
	}
	spur_set_thread(ut_app);
	spur_io_device_register(&g_disk_io_dev, disk_ch_create, disk_ch_destroy, 8, "ut_disk");
	if (!g_module_registered) {
		g_module_registered = true;
		spur_bdev_module_register(&g_disk_module);
	}
	if (g_def_pool == 0) {
		g_def_pool = g_bdev_opts.io_pool_size;
		g_def_cache = g_bdev_opts.io_cache_size;
	}
	g_bdev_opts.io_pool_size = g_pool != 0 ? g_pool : g_def_pool;
	g_bdev_opts.io_cache_size = g_pool != 0 ? g_cache : g_def_cache;
	g_sub_done = false;
	spur_bdev_subsystem.init(sub_done);
	while (!g_sub_done) {
		ut_poll_once();
	}
	assert_int_equal(g_sub_status, 0);
	return 0;
}

static void
exit_msg(void *ctx)
{
	spur_thread_exit(ctx);
}

int
ut_group_teardown(void **state)
{
	struct spur_thread *threads[3] = { ut_app, ut_io[0], ut_io[1] };

	spur_set_thread(ut_app);
	g_sub_done = false;
	spur_bdev_subsystem.fini(sub_done);
	for (int i = 0; i < 1000000 && !g_sub_done; i++) {
		ut_poll_once();
	}
	assert_true(g_sub_done);
	spur_io_device_unregister(&g_disk_io_dev, NULL);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(spur_thread_send_msg(threads[i], exit_msg, threads[i]), 0);
	}
	for (int i = 0; i < 100; i++) {
		ut_poll_once();
	}
	spur_set_thread(NULL);
	if (spur_set_app_thread != NULL) {
		spur_set_app_thread(NULL);
	}
	for (int i = 0; i < 3; i++) {
		assert_true(spur_thread_is_exited(threads[i]));
		spur_thread_destroy(threads[i]);
	}
	for (int i = 0; i < UT_MAX_DISKS; i++) {
		if (g_disks[i] != NULL) {
			free(g_disks[i]->data);
			free(g_disks[i]);
			g_disks[i] = NULL;
		}
	}
	g_pool = 0;
	return 0;
}

static void
dev_event(struct spur_scsi_dev *dev, enum spur_scsi_dev_event event, uint16_t lun_id, void *ctx)
{
	assert_ptr_equal(spur_get_thread(), ut_app);
	ut_ev.last_lun = lun_id;
	switch (event) {
	case SPUR_SCSI_DEV_EVENT_LUN_ADDED:
		ut_ev.added++;
		break;
	case SPUR_SCSI_DEV_EVENT_LUN_REMOVED:
		ut_ev.removed++;
		break;
	case SPUR_SCSI_DEV_EVENT_LUN_RESIZED:
		ut_ev.resized++;
		break;
	}
}

int
ut_setup(void **state)
{
	memset(&ut_ev, 0, sizeof(ut_ev));
	spur_set_thread(ut_app);
	ut_d0 = ut_disk_create("d0", UT_BS, UT_BLOCKS);
	ut_dev = spur_scsi_dev_create("ut_dev");
	assert_non_null(ut_dev);
	spur_scsi_dev_set_event_cb(ut_dev, dev_event, NULL);
	assert_int_equal(spur_scsi_dev_add_lun(ut_dev, 0, "d0", NULL), 0);
	for (int t = 0; t < 2; t++) {
		spur_set_thread(ut_io[t]);
		ut_ch[t] = spur_scsi_dev_get_io_channel(ut_dev);
		assert_non_null(ut_ch[t]);
	}
	spur_set_thread(ut_app);
	assert_int_equal(spur_scsi_port_init(&ut_a, 1, "iqn.2024-01.io.spur:host-a"), 0);
	assert_int_equal(spur_scsi_port_init(&ut_b, 2, "iqn.2024-01.io.spur:host-b"), 0);
	ut_drain_ua(&ut_a, 0);
	ut_drain_ua(&ut_b, 0);
	memset(&ut_ev, 0, sizeof(ut_ev));
	return 0;
}

static bool g_destroyed;

static void
destroyed(void *arg)
{
	g_destroyed = true;
}

int
ut_teardown(void **state)
{
	for (int i = 0; i < UT_MAX_DISKS; i++) {
		if (g_disks[i] != NULL) {
			g_disks[i]->hold = false;
			ut_disk_release(g_disks[i], 0);
		}
	}
	ut_poll();
	for (int t = 0; t < 2; t++) {
		spur_set_thread(ut_io[t]);
		spur_put_io_channel(ut_ch[t]);
		ut_ch[t] = NULL;
	}
	spur_set_thread(ut_app);
	g_destroyed = false;
	spur_scsi_dev_destroy(ut_dev, destroyed, NULL);
	ut_poll();
	assert_true(g_destroyed);
	ut_dev = NULL;
	for (int i = 0; i < UT_MAX_DISKS; i++) {
		if (g_disks[i] != NULL && !g_disks[i]->destructed) {
			ut_disk_unregister(g_disks[i]);
		}
	}
	ut_poll();
	for (int i = 0; i < UT_MAX_DISKS; i++) {
		if (g_disks[i] != NULL) {
			assert_true(g_disks[i]->destructed);
			free(g_disks[i]->data);
			free(g_disks[i]);
			g_disks[i] = NULL;
		}
	}
	return 0;
}

/* ---- commands -------------------------------------------------------------------------------- */

static void
req_done(struct spur_scsi_task *task)
{
	struct ut_req *r = SPUR_CONTAINER_OF(task, struct ut_req, task);

	r->done++;
	r->seq = ++ut_seq;
}

int
ut_submit(struct ut_req *r, int t, const struct spur_scsi_port *port, uint16_t lun,
	  const uint8_t *cdb, size_t cdb_len, enum spur_scsi_dir dir, void *buf, uint32_t len)
{
	struct spur_thread *cur = spur_get_thread();
	int rc;

	spur_scsi_task_construct(&r->task, req_done, r);
	r->done = 0;
	memcpy(r->task.cdb, cdb, cdb_len);
	r->task.lun_id = lun;
	r->task.initiator = port;
	r->task.dir = dir;
	r->task.transfer_len = len;
	if (buf != NULL) {
		r->iov[0].iov_base = buf;
		r->iov[0].iov_len = len;
		r->task.iovs = r->iov;
		r->task.iovcnt = 1;
	}
	spur_set_thread(ut_io[t]);
	rc = spur_scsi_dev_queue_task(ut_dev, ut_ch[t], &r->task);
	/* Never called back from inside the submit call. */
	assert_int_equal(r->done, 0);
	spur_set_thread(cur);
	return rc;
}

void
ut_run(struct ut_req *r, int t, const struct spur_scsi_port *port, uint16_t lun,
       const uint8_t *cdb, size_t cdb_len, enum spur_scsi_dir dir, void *buf, uint32_t len)
{
	assert_int_equal(ut_submit(r, t, port, lun, cdb, cdb_len, dir, buf, len), 0);
	ut_poll();
	assert_int_equal(r->done, 1);
}

uint8_t
ut_cmd(struct ut_req *r, const uint8_t *cdb, size_t cdb_len, enum spur_scsi_dir dir, void *buf,
       uint32_t len)
{
	ut_run(r, 0, &ut_a, 0, cdb, cdb_len, dir, buf, len);
	return r->task.status;
}

void
ut_put(struct ut_req *r, int t)
{
	struct spur_thread *cur = spur_get_thread();

	spur_set_thread(ut_io[t]);
	spur_scsi_task_put(&r->task);
	spur_set_thread(cur);
}

void
ut_assert_sense(const struct spur_scsi_task *task, uint8_t key, uint8_t asc, uint8_t ascq)
{
	assert_int_equal(task->response, SPUR_SCSI_TASK_COMPLETE);
	assert_int_equal(task->status, SPUR_SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(task->sense_len, 18);
	assert_int_equal(task->sense[0] & 0x7f, 0x70);
	assert_int_equal(task->sense[2] & 0x0f, key);
	assert_int_equal(task->sense[7], 10);
	assert_int_equal(task->sense[12], asc);
	assert_int_equal(task->sense[13], ascq);
}

void
ut_drain_ua(const struct spur_scsi_port *port, uint16_t lun)
{
	uint8_t tur[6] = { 0 };
	struct ut_req r;

	for (int i = 0; i < 16; i++) {
		ut_run(&r, 0, port, lun, tur, sizeof(tur), SPUR_SCSI_DIR_NONE, NULL, 0);
		if (r.task.status != SPUR_SCSI_STATUS_CHECK_CONDITION ||
		    (r.task.sense[2] & 0x0f) != SPUR_SCSI_SENSE_UNIT_ATTENTION) {
			return;
		}
	}
	fail_msg("unit attentions never drained");
}

/* ---- bytes ------------------------------------------------------------------------------------ */

void
ut_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void
ut_be32(uint8_t *p, uint32_t v)
{
	ut_be16(p, (uint16_t)(v >> 16));
	ut_be16(p + 2, (uint16_t)v);
}

void
ut_be64(uint8_t *p, uint64_t v)
{
	ut_be32(p, (uint32_t)(v >> 32));
	ut_be32(p + 4, (uint32_t)v);
}

uint16_t
ut_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

uint32_t
ut_get32(const uint8_t *p)
{
	return ((uint32_t)ut_get16(p) << 16) | ut_get16(p + 2);
}

uint64_t
ut_get64(const uint8_t *p)
{
	return ((uint64_t)ut_get32(p) << 32) | ut_get32(p + 4);
}

void
ut_cdb_rw10(uint8_t *cdb, uint8_t op, uint32_t lba, uint16_t num)
{
	memset(cdb, 0, 10);
	cdb[0] = op;
	ut_be32(&cdb[2], lba);
	ut_be16(&cdb[7], num);
}

void
ut_cdb_rw16(uint8_t *cdb, uint8_t op, uint64_t lba, uint32_t num)
{
	memset(cdb, 0, 16);
	cdb[0] = op;
	ut_be64(&cdb[2], lba);
	ut_be32(&cdb[10], num);
}
