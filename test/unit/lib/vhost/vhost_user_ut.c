/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the vhost-user protocol side (vhost_user*.c, vhost_ctrlr.c,
 * vhost_pg.c, vhost_inflight_fd.c) driven over real Unix sockets, in one OS
 * thread: the application thread and the poll group are unplaced spur
 * threads polled by hand (with a fake clock so timed pollers run), the
 * virtqueue functions are stubs (this tests the protocol, not the rings),
 * and the backend is a stub whose queue_stop can be held to show that
 * GET_VRING_BASE waits for the drain.
 *
 * Covers: socket creation (stale file replaced, live listener, not a
 * socket, name too long, duplicate) and removal; negotiation (features,
 * protocol features, queue count, slots, config space, status, REPLY_ACK);
 * messages split in pieces; every validation rule closing the connection
 * with one error line naming the controller and the message while the
 * controller keeps listening and no fd leaks; the ring lifecycle (start on
 * enable, no start without it, start at once without PROTOCOL_FEATURES,
 * call-fd swap, GET_VRING_BASE waiting for the backend, restart on a new
 * kick, memory switch with requests in flight, disconnect and reconnect);
 * the inflight region (sealed memfd, recovery on a used part); the backend
 * request channel; delete busy / forced; fini_all.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "spur/app.h"
#include "spur/log.h"
#include "spur/thread.h"
#include "vhost_user.h"

#define MB (1024u * 1024u)
#define F_VERSION_1 (1ull << 32)
#define F_PROTO (1ull << VHOST_USER_F_PROTOCOL_FEATURES)
#define F_EVENT_IDX (1ull << VHOST_VIRTIO_F_EVENT_IDX)
#define BACKEND_FEATURES (F_VERSION_1 | F_EVENT_IDX)

/* ---- stubs: the app's vhost dir, virtqueues, a backend ---------------------------- */

static char g_dir[256];

const char *
spur_app_get_vhost_dir(void)
{
	return g_dir;
}

static struct {
	int init_calls, fini_calls, set_mem_calls, attach_calls, recover_calls;
	int recover_count;
	uint16_t next_base;
	bool notify;
	uint32_t coalesce_delay;
	const struct vhost_mem *last_mem;
} g_vq;

static bool
ring_in(const struct vhost_mem *mem, const struct virtq_config *cfg)
{
	return vhost_mem_uva_to_host(mem, cfg->desc_uva, 16) != NULL &&
	       vhost_mem_uva_to_host(mem, cfg->avail_uva, 4) != NULL &&
	       vhost_mem_uva_to_host(mem, cfg->used_uva, 4) != NULL;
}

int
virtq_init(struct virtq *vq, const struct virtq_config *cfg, const struct vhost_mem *mem,
	   int call_fd, const char **err)
{
	memset(vq, 0, sizeof(*vq));
	if (!ring_in(mem, cfg)) {
		*err = "ring outside guest memory";
		return -EINVAL;
	}
	vq->cfg = *cfg;
	vq->mem = mem;
	vq->call_fd = call_fd;
	vq->last_avail_idx = cfg->base;
	g_vq.init_calls++;
	return 0;
}

int
virtq_set_mem(struct virtq *vq, const struct vhost_mem *mem, const char **err)
{
	g_vq.set_mem_calls++;
	if (!ring_in(mem, &vq->cfg)) {
		*err = "ring outside guest memory";
		return -EINVAL;
	}
	vq->mem = mem;
	g_vq.last_mem = mem;
	return 0;
}

void
virtq_fini(struct virtq *vq)
{
	g_vq.fini_calls++;
}

void
virtq_set_notify(struct virtq *vq, bool enable)
{
	g_vq.notify = enable;
}

bool
virtq_has_work(const struct virtq *vq)
{
	return false;
}

uint16_t
virtq_get_base(const struct virtq *vq)
{
	return g_vq.next_base ? g_vq.next_base : vq->last_avail_idx;
}

uint16_t
virtq_get_used_base(const struct virtq *vq)
{
	return 0;
}

void
virtq_set_coalescing(struct virtq *vq, uint32_t delay_us, uint32_t iops_threshold)
{
	vq->coalesce_delay_us = delay_us;
	g_vq.coalesce_delay = delay_us;
}

uint64_t
virtq_inflight_region_size(uint16_t num_queues, uint16_t queue_size, bool packed)
{
	uint64_t per = (packed ? 32u : 16u) * ((uint64_t)queue_size + 1);

	return num_queues * ((per + 63) & ~63ull);
}

int
virtq_inflight_attach(struct virtq *vq, void *region, uint64_t region_size, uint16_t qidx,
		      uint16_t queue_size, bool packed, bool fresh)
{
	uint64_t stride = virtq_inflight_region_size(1, queue_size, packed);
	uint16_t *version = (uint16_t *)((uint8_t *)region + qidx * stride + 8);

	g_vq.attach_calls++;
	if ((qidx + 1) * stride > region_size) {
		return -EINVAL;
	}
	if (*version == 0) {
		*version = 1;
	}
	vq->inflight = region;
	return 0;
}

int
virtq_recover(struct virtq *vq, uint16_t *ids)
{
	int i;

	g_vq.recover_calls++;
	for (i = 0; i < g_vq.recover_count; i++) {
		ids[i] = (uint16_t)(3 + i);
	}
	return g_vq.recover_count;
}

static struct {
	int starts, stops, polls, resubmits, resubmit_count, destructs;
	uint16_t resubmit_first;
	int start_rc;
	bool hold_stop;
	struct vhost_queue *held;
	void (*held_done)(struct vhost_queue *q);
	struct vhost_mem *req_mem;   /* a request in flight, taken by the test */
	uint8_t config[16];
} g_be;

static uint64_t
be_features(struct vhost_ctrlr *c)
{
	return BACKEND_FEATURES;
}

static uint16_t
be_max_queues(struct vhost_ctrlr *c)
{
	return 2;
}

static void
be_get_config(struct vhost_ctrlr *c, uint8_t *buf, uint32_t len)
{
	memcpy(buf, g_be.config, SPUR_MIN(len, sizeof(g_be.config)));
}

static int
be_set_config(struct vhost_ctrlr *c, const uint8_t *buf, uint32_t offset, uint32_t len)
{
	if (offset != 8) {
		return -EPERM;
	}
	memcpy(g_be.config + offset, buf, len);
	return 0;
}

static int
be_queue_start(struct vhost_queue *q)
{
	g_be.starts++;
	return g_be.start_rc;
}

static void
be_queue_stop(struct vhost_queue *q, void (*done)(struct vhost_queue *q))
{
	g_be.stops++;
	if (g_be.hold_stop) {
		g_be.held = q;
		g_be.held_done = done;
		return;
	}
	done(q);
}

static int
be_queue_poll(struct vhost_queue *q)
{
	g_be.polls++;
	return SPUR_POLLER_IDLE;
}

static void
be_queue_resubmit(struct vhost_queue *q, const uint16_t *ids, int count)
{
	g_be.resubmits++;
	g_be.resubmit_count = count;
	g_be.resubmit_first = ids[0];
}

static void
be_destruct(struct vhost_ctrlr *c)
{
	g_be.destructs++;
}

static const struct vhost_backend_ops g_ops = {
	.type = "test",
	.features = be_features,
	.max_queues = be_max_queues,
	.config_size = sizeof(g_be.config),
	.get_config = be_get_config,
	.set_config = be_set_config,
	.queue_start = be_queue_start,
	.queue_stop = be_queue_stop,
	.queue_poll = be_queue_poll,
	.queue_resubmit = be_queue_resubmit,
	.destruct = be_destruct,
};

/* ---- driving the threads ------------------------------------------------------------ */

static struct spur_thread *g_app;
static uint64_t g_clock;

static void
pump(void)
{
	struct spur_thread *pg;
	int i;

	for (i = 0; i < 4; i++) {
		g_clock += spur_get_ticks_hz();   /* a second per round: timed pollers run */
		spur_thread_poll(g_app, 0, g_clock);
		pg = vhost_pg_get_thread(0);
		if (pg != NULL) {
			spur_thread_poll(pg, 0, g_clock);
		}
	}
}

struct on_app_args {
	void (*fn)(void *);
	void *ctx;
};

static void
on_app(void (*fn)(void *), void *ctx)
{
	assert_int_equal(spur_thread_send_msg(g_app, fn, ctx), 0);
	pump();
}

/* ---- log capture ---------------------------------------------------------------------- */

static int g_log_fd = -1, g_saved_stderr = -1;

static void
log_start(void)
{
	char tmpl[] = "/tmp/vhost_user_ut_log_XXXXXX";

	g_log_fd = mkstemp(tmpl);
	assert_true(g_log_fd >= 0);
	unlink(tmpl);
	g_saved_stderr = dup(2);
	dup2(g_log_fd, 2);
	/* spur's log writes fd 2 (captured); cmocka's messages keep the real stderr. */
	stderr = fdopen(dup(g_saved_stderr), "w");
	setvbuf(stderr, NULL, _IONBF, 0);
}

static void
log_clear(void)
{
	assert_int_equal(ftruncate(g_log_fd, 0), 0);
	lseek(g_log_fd, 0, SEEK_SET);
}

static char *
log_text(void)
{
	static char buf[65536];
	ssize_t n = pread(g_log_fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void
expect_log(const char *needle)
{
	const char *text = log_text();

	if (strstr(text, needle) == NULL) {
		dprintf(g_saved_stderr, "log was:\n%s\n", text);
		fail_msg("log lacks '%s'", needle);
	}
}

static int
count_errors(void)
{
	const char *p = log_text();
	int n = 0;

	while ((p = strstr(p, "ERROR")) != NULL) {
		n++;
		p++;
	}
	return n;
}

static int
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d) != NULL) {
		n++;
	}
	closedir(d);
	return n;
}

/* ---- the frontend ------------------------------------------------------------------- */

static struct vhost_ctrlr *g_ctrlr;

static int
fe_connect(const char *name)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(spur_strfmt(addr.sun_path, sizeof(addr.sun_path), "%s/%s", g_dir, name) == 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	pump();
	return fd;
}

static void
fe_send_raw(int fd, const void *buf, size_t len, const int *fds, uint32_t nfds)
{
	union {
		char b[CMSG_SPACE(16 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (nfds > 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

static void
fe_send(int fd, uint32_t req, uint32_t flags, const void *payload, uint32_t size, const int *fds,
	uint32_t nfds)
{
	uint8_t buf[8192];
	struct vhost_user_hdr hdr = { .request = req, .flags = flags, .size = size };

	memcpy(buf, &hdr, sizeof(hdr));
	if (size > 0 && payload != NULL) {
		memcpy(buf + sizeof(hdr), payload, size);
	}
	fe_send_raw(fd, buf, sizeof(hdr) + (payload ? size : 0), fds, nfds);
	pump();
}

static void
fe_send_u64(int fd, uint32_t req, uint64_t v, bool need_reply)
{
	fe_send(fd, req, 1 | (need_reply ? VHOST_USER_NEED_REPLY_MASK : 0), &v, sizeof(v), NULL, 0);
}

static void
fe_send_state(int fd, uint32_t req, uint32_t index, uint32_t num)
{
	struct vhost_user_vring_state st = { .index = index, .num = num };

	fe_send(fd, req, 1, &st, sizeof(st), NULL, 0);
}

/* Read one reply (pumping); returns its payload size, -1 if none came, -2 on EOF. */
static int
fe_recv(int fd, struct vhost_user_hdr *hdr, void *payload, size_t max, int *rfd)
{
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = hdr, .iov_len = sizeof(*hdr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	struct cmsghdr *cm;
	ssize_t n = -1;
	int i;

	if (rfd != NULL) {
		*rfd = -1;
	}
	for (i = 0; i < 20 && n < 0; i++) {
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == ECONNRESET) {
			return -2;   /* closed with our unread data pending */
		}
		if (n < 0) {
			assert_true(errno == EAGAIN);
			pump();
		}
	}
	if (n < 0) {
		return -1;
	}
	if (n == 0) {
		return -2;
	}
	assert_int_equal(n, sizeof(*hdr));
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_type == SCM_RIGHTS && rfd != NULL) {
			memcpy(rfd, CMSG_DATA(cm), sizeof(int));
		}
	}
	assert_int_equal(hdr->flags, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK);
	assert_true(hdr->size <= max);
	if (hdr->size > 0) {
		assert_int_equal(recv(fd, payload, hdr->size, MSG_DONTWAIT), (ssize_t)hdr->size);
	}
	return (int)hdr->size;
}

static uint64_t
fe_get_u64(int fd, uint32_t req)
{
	struct vhost_user_hdr hdr;
	uint64_t v = 0;

	fe_send(fd, req, 1, NULL, 0, NULL, 0);
	assert_int_equal(fe_recv(fd, &hdr, &v, sizeof(v), NULL), 8);
	assert_int_equal(hdr.request, req);
	return v;
}

static uint64_t
fe_ack(int fd, uint32_t req)
{
	struct vhost_user_hdr hdr;
	uint64_t v = 99;

	assert_int_equal(fe_recv(fd, &hdr, &v, sizeof(v), NULL), 8);
	assert_int_equal(hdr.request, req);
	return v;
}

static bool
fe_closed(int fd)
{
	struct vhost_user_hdr hdr;
	uint8_t buf[512];
	int rc;

	/* Replies that were sent before the close are skipped. */
	while ((rc = fe_recv(fd, &hdr, buf, sizeof(buf), NULL)) >= 0) {
	}
	return rc == -2;
}

static bool
fe_quiet(int fd)
{
	uint8_t b;

	pump();
	return recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK) < 0 && errno == EAGAIN;
}

#define PF_ALL ((1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) | \
		(1ull << VHOST_USER_PROTOCOL_F_BACKEND_REQ) |                                   \
		(1ull << VHOST_USER_PROTOCOL_F_CONFIG) |                                        \
		(1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |                                \
		(1ull << VHOST_USER_PROTOCOL_F_RESET_DEVICE) |                                  \
		(1ull << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |                           \
		(1ull << VHOST_USER_PROTOCOL_F_STATUS))

/* Connect and negotiate like QEMU: protocol features, then features. */
static int
fe_open(uint64_t features, uint64_t pf)
{
	int fd = fe_connect("vu0");

	assert_int_equal(fe_get_u64(fd, VHOST_USER_GET_FEATURES), BACKEND_FEATURES | F_PROTO);
	assert_int_equal(fe_get_u64(fd, VHOST_USER_GET_PROTOCOL_FEATURES), PF_ALL);
	fe_send_u64(fd, VHOST_USER_SET_PROTOCOL_FEATURES, pf, false);
	fe_send(fd, VHOST_USER_SET_OWNER, 1, NULL, 0, NULL, 0);
	fe_send_u64(fd, VHOST_USER_SET_FEATURES, features, false);
	assert_true(fe_quiet(fd));
	return fd;
}

/* Guest memory: one memfd of 1 MiB at gpa 0, uva 0x10000000. */
static int g_memfd = -1;

static void
fe_set_mem(int fd, uint64_t uva)
{
	struct vhost_user_memory m = { .nregions = 1 };
	int mfd = g_memfd;

	m.regions[0].gpa = 0;
	m.regions[0].size = MB;
	m.regions[0].uva = uva;
	m.regions[0].mmap_offset = 0;
	fe_send(fd, VHOST_USER_SET_MEM_TABLE, 1 | VHOST_USER_NEED_REPLY_MASK, &m, 8 + 32, &mfd, 1);
	assert_int_equal(fe_ack(fd, VHOST_USER_SET_MEM_TABLE), 0);
}

/* Ring of queue qi inside the memfd; a kick and a call eventfd. */
static void
fe_setup_ring(int fd, uint32_t qi, int *kick, int *call)
{
	struct vhost_user_vring_addr a = {
		.index = qi, .desc = 0x10000000 + qi * 0x10000, .avail = 0x10004000 + qi * 0x10000,
		.used = 0x10008000 + qi * 0x10000,
	};
	uint64_t v = qi;

	fe_send_state(fd, VHOST_USER_SET_VRING_NUM, qi, 256);
	fe_send_state(fd, VHOST_USER_SET_VRING_BASE, qi, 7);
	fe_send(fd, VHOST_USER_SET_VRING_ADDR, 1, &a, sizeof(a), NULL, 0);
	*kick = eventfd(0, EFD_CLOEXEC);
	*call = eventfd(0, EFD_CLOEXEC);
	fe_send(fd, VHOST_USER_SET_VRING_KICK, 1, &v, sizeof(v), kick, 1);
	fe_send(fd, VHOST_USER_SET_VRING_CALL, 1, &v, sizeof(v), call, 1);
}

static struct vhost_queue *
ctrlr_queue(uint32_t qi)
{
	return g_ctrlr->session ? &g_ctrlr->session->queues[qi].q : NULL;
}

/* ---- fixture ----------------------------------------------------------------------------- */

struct create_args {
	const char *name;
	int rc;
	struct vhost_ctrlr *c;
};

static void
create_msg(void *ctx)
{
	struct create_args *a = ctx;
	struct spur_cpuset mask;

	spur_cpuset_zero(&mask);
	spur_cpuset_set(&mask, 0);
	a->rc = vhost_ctrlr_create(a->name, &mask, &g_ops, NULL, &a->c);
}

static int
create(const char *name, struct vhost_ctrlr **out)
{
	struct create_args a = { .name = name, .rc = 12345 };

	on_app(create_msg, &a);
	if (out != NULL) {
		*out = a.c;
	}
	return a.rc;
}

struct delete_args {
	struct vhost_ctrlr *c;
	bool force;
	int rc;
	bool done;
};

static void
delete_done(void *ctx, int rc)
{
	struct delete_args *a = ctx;

	a->rc = rc;
	a->done = true;
}

static void
delete_msg(void *ctx)
{
	struct delete_args *a = ctx;

	vhost_ctrlr_delete(a->c, a->force, delete_done, a);
}

static int
delete(struct vhost_ctrlr *c, bool force)
{
	struct delete_args a = { .c = c, .force = force };

	on_app(delete_msg, &a);
	pump();
	assert_true(a.done);
	return a.rc;
}

static bool
sock_exists(const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	return lstat(path, &st) == 0;
}

static int
setup(void **state)
{
	memset(&g_vq, 0, sizeof(g_vq));
	memset(&g_be, 0, sizeof(g_be));
	memcpy(g_be.config, "0123456789abcdef", 16);
	snprintf(g_dir, sizeof(g_dir), "/tmp/vhost_user_ut.XXXXXX");
	assert_non_null(mkdtemp(g_dir));
	assert_int_equal(create("vu0", &g_ctrlr), 0);
	log_clear();
	return 0;
}

static int
teardown(void **state)
{
	char path[512];

	if (g_ctrlr != NULL) {
		assert_int_equal(delete(g_ctrlr, true), 0);
		g_ctrlr = NULL;
	}
	assert_false(sock_exists("vu0"));
	snprintf(path, sizeof(path), "%s", g_dir);
	assert_int_equal(rmdir(path), 0);
	return 0;
}

/* ---- sockets ------------------------------------------------------------------------------ */

static void
test_sockets(void **state)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct vhost_ctrlr *c;
	char path[512];
	int live, stale, f;

	assert_true(sock_exists("vu0"));
	assert_int_equal(create("vu0", NULL), -EEXIST);
	assert_int_equal(create("a/b", NULL), -EINVAL);
	assert_int_equal(create("..", NULL), -EINVAL);

	/* A live listener is not touched. */
	live = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(spur_strfmt(addr.sun_path, sizeof(addr.sun_path), "%s/live", g_dir) == 0);
	assert_int_equal(bind(live, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(live, 1), 0);
	assert_int_equal(create("live", NULL), -EADDRINUSE);
	assert_true(sock_exists("live"));
	close(live);
	unlink(addr.sun_path);

	/* A stale socket file (its owner died) is replaced. */
	stale = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(spur_strfmt(addr.sun_path, sizeof(addr.sun_path), "%s/stale", g_dir) == 0);
	assert_int_equal(bind(stale, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(stale);
	assert_int_equal(create("stale", &c), 0);
	close(fe_connect("stale"));
	pump();
	assert_int_equal(delete(c, false), 0);
	assert_false(sock_exists("stale"));

	/* Something that is not a socket is never removed. */
	snprintf(path, sizeof(path), "%s/file", g_dir);
	f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(f);
	assert_int_equal(create("file", NULL), -EEXIST);
	assert_true(sock_exists("file"));
	unlink(path);

	/* The socket path must fit sun_path. */
	snprintf(path, sizeof(path), "%s", g_dir);
	memset(g_dir, 'd', 120);
	g_dir[120] = '\0';
	assert_int_equal(create("x", NULL), -ENAMETOOLONG);
	memcpy(g_dir, path, strlen(path) + 1);
	expect_log("too long");
}

/* ---- negotiation ---------------------------------------------------------------------- */

static void
test_negotiation(void **state)
{
	struct vhost_user_config cfg = { .offset = 4, .size = 8 };
	struct vhost_user_hdr hdr;
	uint8_t buf[512];
	int fd = fe_open(BACKEND_FEATURES | F_PROTO, PF_ALL);

	assert_int_equal(fe_get_u64(fd, VHOST_USER_GET_QUEUE_NUM), 2);
	assert_int_equal(fe_get_u64(fd, VHOST_USER_GET_MAX_MEM_SLOTS), VHOST_MEM_MAX_REGIONS);

	/* Config: a slice; out of range gets the spec's empty reply, not a disconnect. */
	fe_send(fd, VHOST_USER_GET_CONFIG, 1, &cfg, VHOST_USER_CONFIG_HDR_SIZE + 8, NULL, 0);
	assert_int_equal(fe_recv(fd, &hdr, buf, sizeof(buf), NULL), VHOST_USER_CONFIG_HDR_SIZE + 8);
	assert_memory_equal(buf + VHOST_USER_CONFIG_HDR_SIZE, "456789ab", 8);
	cfg.offset = 12;
	fe_send(fd, VHOST_USER_GET_CONFIG, 1, &cfg, VHOST_USER_CONFIG_HDR_SIZE + 8, NULL, 0);
	assert_int_equal(fe_recv(fd, &hdr, buf, sizeof(buf), NULL), 0);
	/* SET_CONFIG: accepted (ack 0) and refused by the device (ack 1, still connected). */
	cfg.offset = 8;
	cfg.size = 2;
	memcpy(cfg.data, "XY", 2);
	fe_send(fd, VHOST_USER_SET_CONFIG, 1 | VHOST_USER_NEED_REPLY_MASK, &cfg,
		VHOST_USER_CONFIG_HDR_SIZE + 2, NULL, 0);
	assert_int_equal(fe_ack(fd, VHOST_USER_SET_CONFIG), 0);
	assert_memory_equal(g_be.config + 8, "XY", 2);
	cfg.offset = 0;
	fe_send(fd, VHOST_USER_SET_CONFIG, 1 | VHOST_USER_NEED_REPLY_MASK, &cfg,
		VHOST_USER_CONFIG_HDR_SIZE + 2, NULL, 0);
	assert_int_equal(fe_ack(fd, VHOST_USER_SET_CONFIG), 1);

	/* Status. */
	fe_send_u64(fd, VHOST_USER_SET_STATUS, 0x0f, true);
	assert_int_equal(fe_ack(fd, VHOST_USER_SET_STATUS), 0);
	assert_int_equal(fe_get_u64(fd, VHOST_USER_GET_STATUS), 0x0f);
	/* REPLY_ACK on a message without a reply of its own. */
	fe_send(fd, VHOST_USER_SET_OWNER, 1 | VHOST_USER_NEED_REPLY_MASK, NULL, 0, NULL, 0);
	assert_int_equal(fe_ack(fd, VHOST_USER_SET_OWNER), 0);
	assert_true(fe_quiet(fd));
	/* Only the impossible config read was logged, as an error. */
	expect_log("vu0: GET_CONFIG: offset 12 + size 8 is beyond the 16-byte config space");
	assert_int_equal(count_errors(), 1);
	close(fd);
	pump();
	assert_null(g_ctrlr->session);
}

static void
test_split_message(void **state)
{
	int fd = fe_open(BACKEND_FEATURES | F_PROTO, PF_ALL);
	struct vhost_user_hdr hdr = { .request = VHOST_USER_SET_STATUS,
				      .flags = 1 | VHOST_USER_NEED_REPLY_MASK, .size = 8 };
	uint8_t raw[20];
	uint64_t v = 0x07;

	memcpy(raw, &hdr, 12);
	memcpy(raw + 12, &v, 8);
	/* 5 + 7 bytes of header, then the payload in three pieces. */
	fe_send_raw(fd, raw, 5, NULL, 0);
	assert_true(fe_quiet(fd));
	fe_send_raw(fd, raw + 5, 7, NULL, 0);
	assert_true(fe_quiet(fd));
	fe_send_raw(fd, raw + 12, 3, NULL, 0);
	assert_true(fe_quiet(fd));
	fe_send_raw(fd, raw + 15, 2, NULL, 0);
	assert_true(fe_quiet(fd));
	fe_send_raw(fd, raw + 17, 3, NULL, 0);
	pump();
	assert_int_equal(fe_ack(fd, VHOST_USER_SET_STATUS), 0);
	assert_int_equal(fe_get_u64(fd, VHOST_USER_GET_STATUS), 0x07);
	close(fd);
	pump();
}

/* ---- violations ---------------------------------------------------------------------------- */

enum v_kind {
	V_U64,          /* req, u64 */
	V_STATE,        /* req, index, num */
	V_RAW,          /* req, flags, size (header only) */
	V_FDS,          /* req, u64, nfds eventfds */
	V_MEM,          /* SET_MEM_TABLE, nregions, fds, overlapping */
	V_ADDR_LOG,
	V_CONFIG,
	V_REM,
	V_INFLIGHT_UNSEALED,
	V_RING_OUTSIDE,
};

struct violation {
	enum v_kind kind;
	uint32_t req;
	uint64_t a, b;
	const char *expect;
	uint64_t pf;    /* protocol features negotiated first (0: all) */
};

static const struct violation g_violations[] = {
	{ V_RAW, 99, 1, 0, "vu0: UNKNOWN: unknown message type 99", 0 },
	{ V_RAW, VHOST_USER_GET_FEATURES, 2, 0, "vu0: GET_FEATURES: bad flags 0x2", 0 },
	{ V_RAW, VHOST_USER_GET_FEATURES, 1 | VHOST_USER_REPLY_MASK, 0, "bad flags", 0 },
	{ V_RAW, VHOST_USER_SET_FEATURES, 1, 16, "vu0: SET_FEATURES: payload of 16 bytes", 0 },
	{ V_RAW, VHOST_USER_SET_MEM_TABLE, 1, 100000, "payload of 100000 bytes", 0 },
	{ V_RAW, VHOST_USER_SET_LOG_BASE, 1, 0, "vu0: SET_LOG_BASE: not supported", 0 },
	{ V_RAW, VHOST_USER_IOTLB_MSG, 1, 0, "vu0: IOTLB_MSG: not supported", 0 },
	{ V_U64, VHOST_USER_SET_FEATURES, 1ull << 26, 0, "feature bits 0x4000000 were not offered", 0 },
	{ V_U64, VHOST_USER_SET_PROTOCOL_FEATURES, 1ull << 1, 0, "were not offered", 0 },
	{ V_U64, VHOST_USER_SET_STATUS, 0x100, 0, "vu0: SET_STATUS: status 0x100 does not fit", 0 },
	{ V_STATE, VHOST_USER_SET_VRING_NUM, 0, 3,
	  "vu0: SET_VRING_NUM: ring size 3 is not a power of two", 0 },
	{ V_STATE, VHOST_USER_SET_VRING_NUM, 0, 0, "ring size 0 is not in 1..1024", 0 },
	{ V_STATE, VHOST_USER_SET_VRING_NUM, 0, 2048, "vu0: SET_VRING_NUM: ring size 2048 is not "
	  "in 1..1024", 0 },
	{ V_STATE, VHOST_USER_SET_VRING_NUM, 0, 65536, "ring size 65536 is not in 1..1024", 0 },
	{ V_STATE, VHOST_USER_SET_VRING_NUM, 2, 256,
	  "vu0: SET_VRING_NUM: queue index 2 out of range", 0 },
	{ V_STATE, VHOST_USER_SET_VRING_BASE, 0, 0x10005, "sets reserved bits", 0 },
	{ V_STATE, VHOST_USER_GET_VRING_BASE, 64, 0, "queue index 64 out of range", 0 },
	{ V_STATE, VHOST_USER_SET_VRING_ENABLE, 0, 2, "enable value 2 is not 0 or 1", 0 },
	{ V_FDS, VHOST_USER_SET_VRING_KICK, 0x200, 1, "reserved bits set in 0x200", 0 },
	{ V_FDS, VHOST_USER_SET_VRING_KICK, 0, 0, "fd flag with 0 file descriptors", 0 },
	{ V_FDS, VHOST_USER_SET_VRING_CALL, 0x100, 1, "no-fd flag with 1 file descriptors", 0 },
	{ V_FDS, VHOST_USER_SET_VRING_ERR, 0, 2, "2 file descriptors (expected 0..1)", 0 },
	{ V_FDS, VHOST_USER_SET_VRING_KICK, 0, 9, "more than 8 file descriptors", 0 },
	{ V_FDS, VHOST_USER_SET_BACKEND_REQ_FD, 0, 0, "0 file descriptors (expected 1..1)", 0 },
	{ V_MEM, VHOST_USER_SET_MEM_TABLE, 2, 1, "vu0: SET_MEM_TABLE: 2 regions but 1 file", 0 },
	{ V_MEM, VHOST_USER_SET_MEM_TABLE, 2, 2, "regions overlap in guest memory", 0 },
	{ V_MEM, VHOST_USER_SET_MEM_TABLE, 9, 0, "9 regions (at most 8)", 0 },
	{ V_ADDR_LOG, VHOST_USER_SET_VRING_ADDR, 0, 0, "dirty logging is not supported", 0 },
	{ V_CONFIG, VHOST_USER_SET_CONFIG, 10, 8, "vu0: SET_CONFIG: offset 10 + size 8 is beyond", 0 },
	{ V_CONFIG, VHOST_USER_GET_CONFIG, 0, 300, "payload of 12 bytes for a 300-byte config", 0 },
	{ V_CONFIG, VHOST_USER_GET_CONFIG, 0, 4, "needs protocol feature 9",
	  1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK },
	{ V_REM, VHOST_USER_REM_MEM_REG, 0, 0, "vu0: REM_MEM_REG: no memory table", 0 },
	{ V_REM, VHOST_USER_REM_MEM_REG, 1, 0, "vu0: REM_MEM_REG: no region at gpa 0x0 uva 0x1", 0 },
	{ V_REM, VHOST_USER_ADD_MEM_REG, 0, 0, "ADD_MEM_REG: 0 file descriptors (expected 1..1)", 0 },
	{ V_INFLIGHT_UNSEALED, VHOST_USER_SET_INFLIGHT_FD, 0, 0, "not a memfd sealed", 0 },
	{ V_RING_OUTSIDE, VHOST_USER_SET_VRING_ENABLE, 0, 0,
	  "vu0: SET_VRING_ENABLE: queue 0: ring outside guest memory", 0 },
};

static void
send_violation(int fd, const struct violation *v)
{
	uint8_t buf[512];
	int fds[9], i, kick, call;

	memset(buf, 0, sizeof(buf));
	for (i = 0; i < 9; i++) {
		fds[i] = -1;
	}
	switch (v->kind) {
	case V_U64:
		fe_send_u64(fd, v->req, v->a, true);
		break;
	case V_STATE:
		fe_send_state(fd, v->req, (uint32_t)v->a, (uint32_t)v->b);
		break;
	case V_RAW:
		fe_send(fd, v->req, (uint32_t)v->a, NULL, (uint32_t)v->b, NULL, 0);
		break;
	case V_FDS:
		for (i = 0; i < (int)v->b; i++) {
			fds[i] = eventfd(0, EFD_CLOEXEC);
		}
		fe_send(fd, v->req, 1, &v->a, 8, fds, (uint32_t)v->b);
		for (i = 0; i < (int)v->b; i++) {
			close(fds[i]);
		}
		break;
	case V_MEM: {
		struct vhost_user_memory *m = (struct vhost_user_memory *)buf;
		uint32_t n = (uint32_t)v->a, nf = (uint32_t)v->b, sz;

		m->nregions = n;
		for (i = 0; i < 8 && i < (int)n; i++) {
			m->regions[i].gpa = (uint64_t)i * 4096;
			m->regions[i].size = 8192;     /* overlaps the next one */
			m->regions[i].uva = 0x1000000ull * (uint64_t)(i + 1);
		}
		for (i = 0; i < (int)nf; i++) {
			fds[i] = dup(g_memfd);
		}
		sz = 8 + 32 * SPUR_MIN(n, 8u);
		fe_send(fd, v->req, 1, buf, sz, fds, nf);
		for (i = 0; i < (int)nf; i++) {
			close(fds[i]);
		}
		break;
	}
	case V_ADDR_LOG: {
		struct vhost_user_vring_addr a = { .index = 0, .flags = VHOST_USER_VRING_F_LOG };

		fe_send(fd, v->req, 1, &a, sizeof(a), NULL, 0);
		break;
	}
	case V_CONFIG: {
		struct vhost_user_config *c = (struct vhost_user_config *)buf;

		c->offset = (uint32_t)v->a;
		c->size = (uint32_t)v->b;
		fe_send(fd, v->req, 1, buf,
			VHOST_USER_CONFIG_HDR_SIZE + (c->size <= 256 ? c->size : 0), NULL, 0);
		break;
	}
	case V_REM: {
		struct vhost_user_mem_reg r = { .region = { .gpa = 0, .size = MB, .uva = 1 } };

		if (v->a) {
			fe_set_mem(fd, 0x10000000);
		}
		fe_send(fd, v->req, 1, &r, sizeof(r), NULL, 0);
		break;
	}
	case V_INFLIGHT_UNSEALED: {
		struct vhost_user_inflight in = { .mmap_size = 4096, .num_queues = 1,
						  .queue_size = 128 };

		fds[0] = memfd_create("unsealed", MFD_CLOEXEC);
		assert_int_equal(ftruncate(fds[0], 1 * MB), 0);
		fe_send(fd, v->req, 1, &in, sizeof(in), fds, 1);
		close(fds[0]);
		break;
	}
	case V_RING_OUTSIDE:
		fe_set_mem(fd, 0x50000000);   /* the ring addresses are not in it */
		fe_setup_ring(fd, 0, &kick, &call);
		close(kick);
		close(call);
		fe_send_state(fd, VHOST_USER_SET_VRING_ENABLE, 0, 1);
		break;
	}
}

static void
test_violations(void **state)
{
	size_t i;
	int fd, base_fds;

	for (i = 0; i < SPUR_COUNTOF(g_violations); i++) {
		const struct violation *v = &g_violations[i];

		base_fds = open_fds();
		fd = fe_open(BACKEND_FEATURES | F_PROTO, v->pf ? v->pf : PF_ALL);
		log_clear();
		send_violation(fd, v);
		if (!fe_closed(fd)) {
			fail_msg("case %zu (%s): connection not closed", i, v->expect);
		}
		close(fd);
		pump();
		expect_log(v->expect);
		if (count_errors() != 1) {
			dprintf(g_saved_stderr, "log: %s\n", log_text());
			fail_msg("case %zu: %d error lines", i, count_errors());
		}
		/* Torn down, nothing leaked, still listening. */
		assert_null(g_ctrlr->session);
		assert_int_equal(open_fds(), base_fds);
	}
	/* A violation flagged need_reply is answered with a failure before the close. */
	fd = fe_open(BACKEND_FEATURES | F_PROTO, PF_ALL);
	fe_send_u64(fd, VHOST_USER_SET_FEATURES, 1ull << 26, true);
	assert_int_equal(fe_ack(fd, VHOST_USER_SET_FEATURES), 1);
	assert_true(fe_closed(fd));
	close(fd);
	pump();
}

/* ---- ring lifecycle ------------------------------------------------------------------------ */

static void
count_pollers(const struct spur_poller_info *info, void *ctx)
{
	int *n = ctx;

	if (strcmp(info->name, "vhost_vu0_q0") == 0 || strcmp(info->name, "vhost_vu0_q1") == 0) {
		(*n)++;
	}
}

static int
queue_pollers(void)
{
	int n = 0;
	struct spur_thread *pg = vhost_pg_get_thread(0);

	spur_thread_for_each_poller(pg, count_pollers, &n);
	return n;
}

static void
take_request_msg(void *ctx)
{
	g_be.req_mem = vhost_queue_request_begin(ctx);
}

static void
end_request_msg(void *ctx)
{
	vhost_queue_request_end(ctx, g_be.req_mem);
	g_be.req_mem = NULL;
}

static void
release_stop_msg(void *ctx)
{
	g_be.hold_stop = false;
	g_be.held_done(g_be.held);
}

static void
test_ring_lifecycle(void **state)
{
	struct vhost_user_vring_state st = { .index = 0 };
	struct vhost_user_hdr hdr;
	struct vhost_queue *q;
	struct vhost_mem *first;
	uint64_t v, unmapped;
	int fd, kick, call, call2, kick2;

	fd = fe_open(BACKEND_FEATURES | F_PROTO, PF_ALL);
	fe_set_mem(fd, 0x10000000);
	fe_setup_ring(fd, 0, &kick, &call);
	/* With PROTOCOL_FEATURES the ring waits for SET_VRING_ENABLE. */
	assert_int_equal(g_be.starts, 0);
	q = ctrlr_queue(0);
	assert_int_equal(q->state, VHOST_QUEUE_IDLE);
	fe_send(fd, VHOST_USER_SET_VRING_ENABLE, 1 | VHOST_USER_NEED_REPLY_MASK,
		&(struct vhost_user_vring_state){ .index = 0, .num = 1 }, 8, NULL, 0);
	assert_int_equal(fe_ack(fd, VHOST_USER_SET_VRING_ENABLE), 0);
	assert_int_equal(g_be.starts, 1);
	assert_int_equal(q->state, VHOST_QUEUE_STARTED);
	assert_int_equal(q->vq.cfg.size, 256);
	assert_int_equal(q->vq.last_avail_idx, 7);
	assert_true(q->vq.cfg.event_idx);
	assert_int_equal(queue_pollers(), 1);
	assert_true(g_be.polls > 0);
	assert_false(g_vq.notify);   /* polling: notifications suppressed */

	/* Interrupt masking: the call fd is swapped under the running queue. */
	call2 = eventfd(0, EFD_CLOEXEC);
	v = 0;
	fe_send(fd, VHOST_USER_SET_VRING_CALL, 1 | VHOST_USER_NEED_REPLY_MASK, &v, 8, &call2, 1);
	assert_int_equal(fe_ack(fd, VHOST_USER_SET_VRING_CALL), 0);
	assert_int_equal(q->vq.call_fd, q->call_fd);
	assert_int_equal(g_be.stops, 0);

	/* A memory switch with a request in flight keeps the old table until it ends. */
	unmapped = vhost_mem_unmap_drain();
	assert_int_equal(spur_thread_send_msg(vhost_pg_get_thread(0), take_request_msg, q), 0);
	pump();
	first = g_be.req_mem;
	assert_ptr_equal(first, q->mem);
	fe_set_mem(fd, 0x10000000);   /* same region: mapping reused */
	assert_ptr_not_equal(q->mem, first);
	assert_ptr_equal(q->old_mem, first);
	assert_int_equal(q->old_mem_inflight, 1);
	assert_ptr_equal(q->mem->regions[0].host, first->regions[0].host);
	{
		/* A second switch to another layout while the request is still out. */
		struct vhost_user_memory m = { .nregions = 2 };
		int fds[2] = { g_memfd, g_memfd };

		m.regions[0] = (struct vhost_user_mem_region){ 0, MB, 0x10000000, 0 };
		m.regions[1] = (struct vhost_user_mem_region){ 4 * MB, MB, 0x30000000, 0 };
		fe_send(fd, VHOST_USER_SET_MEM_TABLE, 1 | VHOST_USER_NEED_REPLY_MASK, &m, 8 + 64,
			fds, 2);
		assert_int_equal(fe_ack(fd, VHOST_USER_SET_MEM_TABLE), 0);
	}
	assert_int_equal(q->mem->nregions, 2);
	assert_int_equal(q->old_mem_inflight, 1);
	assert_int_equal(vhost_mem_unmap_drain(), unmapped);
	assert_int_equal(spur_thread_send_msg(vhost_pg_get_thread(0), end_request_msg, q), 0);
	pump();
	assert_null(q->old_mem);
	assert_int_equal(q->old_mem_inflight, 0);
	/* The shared 1 MiB mapping lives on; nothing to unmap yet. */
	assert_int_equal(vhost_mem_unmap_drain(), unmapped);

	/* GET_VRING_BASE waits for the backend; later messages wait behind it. */
	g_be.hold_stop = true;
	g_vq.next_base = 42;
	fe_send(fd, VHOST_USER_GET_VRING_BASE, 1, &st, sizeof(st), NULL, 0);
	fe_send(fd, VHOST_USER_GET_QUEUE_NUM, 1, NULL, 0, NULL, 0);
	assert_int_equal(g_be.stops, 1);
	assert_true(fe_quiet(fd));
	assert_int_equal(q->state, VHOST_QUEUE_STOPPING);
	assert_int_equal(spur_thread_send_msg(vhost_pg_get_thread(0), release_stop_msg, NULL), 0);
	pump();
	assert_int_equal(fe_recv(fd, &hdr, &st, sizeof(st), NULL), 8);
	assert_int_equal(hdr.request, VHOST_USER_GET_VRING_BASE);
	assert_int_equal(st.index, 0);
	assert_int_equal(st.num, 42);
	assert_int_equal(fe_ack(fd, VHOST_USER_GET_QUEUE_NUM), 2);
	assert_int_equal(q->state, VHOST_QUEUE_IDLE);
	assert_int_equal(queue_pollers(), 0);
	g_vq.next_base = 0;

	/* Stopped: enable alone does not restart it; a new kick does. */
	fe_send_state(fd, VHOST_USER_SET_VRING_ENABLE, 0, 1);
	assert_int_equal(q->state, VHOST_QUEUE_IDLE);
	kick2 = eventfd(0, EFD_CLOEXEC);
	v = 0;
	fe_send(fd, VHOST_USER_SET_VRING_KICK, 1, &v, 8, &kick2, 1);
	assert_int_equal(q->state, VHOST_QUEUE_STARTED);
	assert_int_equal(q->vq.last_avail_idx, 42);
	assert_int_equal(g_be.starts, 2);

	/* Disable stops it (keeping the kick); enable restarts it. */
	fe_send_state(fd, VHOST_USER_SET_VRING_ENABLE, 0, 0);
	assert_int_equal(q->state, VHOST_QUEUE_IDLE);
	fe_send_state(fd, VHOST_USER_SET_VRING_ENABLE, 0, 1);
	assert_int_equal(q->state, VHOST_QUEUE_STARTED);

	/* A running ring cannot be reconfigured. */
	log_clear();
	fe_send_state(fd, VHOST_USER_SET_VRING_NUM, 0, 128);
	assert_true(fe_closed(fd));
	expect_log("vu0: SET_VRING_NUM: queue 0 is running");
	/* ... and the disconnect stopped it. */
	assert_null(g_ctrlr->session);
	assert_int_equal(g_be.stops, 3);
	assert_int_equal(queue_pollers(), 0);
	close(fd);
	close(kick);
	close(kick2);
	close(call);
	close(call2);

	/* Reconnect: a fresh session. */
	fd = fe_open(BACKEND_FEATURES | F_PROTO, PF_ALL);
	assert_non_null(g_ctrlr->session);
	close(fd);
	pump();
	assert_null(g_ctrlr->session);
}

static void
test_no_protocol_features(void **state)
{
	int fd, kick, call;

	/* Without PROTOCOL_FEATURES rings are enabled: the kick starts the ring. */
	fd = fe_open(BACKEND_FEATURES, PF_ALL);
	fe_set_mem(fd, 0x10000000);
	fe_setup_ring(fd, 1, &kick, &call);
	assert_int_equal(g_be.starts, 1);
	assert_int_equal(ctrlr_queue(1)->state, VHOST_QUEUE_STARTED);
	/* A second frontend is accepted and closed; the first one is unaffected. */
	log_clear();
	{
		int fd2 = fe_connect("vu0");

		assert_true(fe_closed(fd2));
		close(fd2);
	}
	expect_log("refusing a second frontend");
	assert_int_equal(ctrlr_queue(1)->state, VHOST_QUEUE_STARTED);
	/* RESET_DEVICE stops the rings and forgets them. */
	fe_send(fd, VHOST_USER_RESET_DEVICE, 1 | VHOST_USER_NEED_REPLY_MASK, NULL, 0, NULL, 0);
	assert_int_equal(fe_ack(fd, VHOST_USER_RESET_DEVICE), 0);
	assert_int_equal(ctrlr_queue(1)->state, VHOST_QUEUE_IDLE);
	assert_false(ctrlr_queue(1)->have_num);
	assert_int_equal(ctrlr_queue(1)->kick_fd, -1);
	assert_int_equal(g_be.stops, 1);
	close(fd);
	close(kick);
	close(call);
	pump();
}

/* ---- inflight ------------------------------------------------------------------------- */

static void
test_inflight(void **state)
{
	struct vhost_user_inflight in = { .num_queues = 2, .queue_size = 256 };
	struct vhost_user_hdr hdr;
	int fd, rfd, kick, call, seals;
	uint8_t *region;

	fd = fe_open(BACKEND_FEATURES | F_PROTO, PF_ALL);
	fe_send(fd, VHOST_USER_GET_INFLIGHT_FD, 1, &in, sizeof(in), NULL, 0);
	assert_int_equal(fe_recv(fd, &hdr, &in, sizeof(in), &rfd), sizeof(in));
	assert_true(rfd >= 0);
	assert_int_equal(in.mmap_size, virtq_inflight_region_size(2, 256, false));
	assert_int_equal(in.num_queues, 2);
	seals = fcntl(rfd, F_GET_SEALS);
	assert_true(seals & F_SEAL_SHRINK);
	assert_true(seals & F_SEAL_GROW);
	assert_int_not_equal(ftruncate(rfd, 0), 0);
	region = mmap(NULL, in.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0);
	assert_true(region != MAP_FAILED);

	fe_send(fd, VHOST_USER_SET_INFLIGHT_FD, 1 | VHOST_USER_NEED_REPLY_MASK, &in, sizeof(in),
		&rfd, 1);
	assert_int_equal(fe_ack(fd, VHOST_USER_SET_INFLIGHT_FD), 0);
	fe_set_mem(fd, 0x10000000);
	fe_setup_ring(fd, 0, &kick, &call);
	fe_send_state(fd, VHOST_USER_SET_VRING_ENABLE, 0, 1);
	/* A part never used is initialized, not recovered. */
	assert_int_equal(g_vq.attach_calls, 1);
	assert_int_equal(g_vq.recover_calls, 0);
	assert_int_equal(*(uint16_t *)(region + 8), 1);
	close(fd);
	close(kick);
	close(call);
	pump();
	assert_null(g_ctrlr->session);

	/* Reconnect with the same region: the used part is recovered and resubmitted. */
	g_vq.recover_count = 2;
	fd = fe_open(BACKEND_FEATURES | F_PROTO, PF_ALL);
	fe_send(fd, VHOST_USER_SET_INFLIGHT_FD, 1, &in, sizeof(in), &rfd, 1);
	fe_set_mem(fd, 0x10000000);
	fe_setup_ring(fd, 0, &kick, &call);
	fe_send_state(fd, VHOST_USER_SET_VRING_ENABLE, 0, 1);
	assert_int_equal(g_vq.recover_calls, 1);
	assert_int_equal(g_be.resubmits, 1);
	assert_int_equal(g_be.resubmit_count, 2);
	assert_int_equal(g_be.resubmit_first, 3);
	assert_int_equal(ctrlr_queue(0)->state, VHOST_QUEUE_STARTED);
	close(fd);
	close(kick);
	close(call);
	close(rfd);
	munmap(region, in.mmap_size);
	pump();
}

/* ---- backend channel, delete, fini ---------------------------------------------------- */

static void
config_changed_msg(void *ctx)
{
	*(int *)ctx = vhost_ctrlr_config_changed(g_ctrlr);
}

static void
test_backend_channel(void **state)
{
	struct vhost_user_hdr hdr;
	uint8_t reply[20];
	uint64_t zero = 0;
	int fd, sp[2], rc = 1;

	fd = fe_open(BACKEND_FEATURES | F_PROTO, PF_ALL);
	on_app(config_changed_msg, &rc);
	assert_int_equal(rc, -ENOTSUP);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	fe_send(fd, VHOST_USER_SET_BACKEND_REQ_FD, 1 | VHOST_USER_NEED_REPLY_MASK, NULL, 0, &sp[1],
		1);
	close(sp[1]);
	assert_int_equal(fe_ack(fd, VHOST_USER_SET_BACKEND_REQ_FD), 0);
	on_app(config_changed_msg, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(recv(sp[0], &hdr, sizeof(hdr), MSG_DONTWAIT), sizeof(hdr));
	assert_int_equal(hdr.request, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG);
	assert_int_equal(hdr.flags, 1 | VHOST_USER_NEED_REPLY_MASK);
	assert_int_equal(hdr.size, 0);
	assert_int_equal(g_ctrlr->session->backend_acks_due, 1);
	/* The ack is read later, by the session's poller, in pieces. */
	hdr.flags = 1 | VHOST_USER_REPLY_MASK;
	hdr.size = 8;
	memcpy(reply, &hdr, 12);
	memcpy(reply + 12, &zero, 8);
	assert_int_equal(send(sp[0], reply, 7, 0), 7);
	pump();
	assert_int_equal(send(sp[0], reply + 7, 13, 0), 13);
	pump();
	assert_int_equal(g_ctrlr->session->backend_acks_due, 0);
	/* An ack nobody asked for is a violation. */
	log_clear();
	assert_int_equal(send(sp[0], reply, 20, 0), 20);
	pump();
	assert_true(fe_closed(fd));
	expect_log("unexpected reply");
	close(fd);
	close(sp[0]);
	pump();
}

static void
test_delete(void **state)
{
	int fd, kick, call;

	fd = fe_open(BACKEND_FEATURES | F_PROTO, PF_ALL);
	fe_set_mem(fd, 0x10000000);
	fe_setup_ring(fd, 0, &kick, &call);
	fe_send_state(fd, VHOST_USER_SET_VRING_ENABLE, 0, 1);
	assert_int_equal(delete(g_ctrlr, false), -EBUSY);
	assert_true(sock_exists("vu0"));
	assert_int_equal(g_be.destructs, 0);
	assert_int_equal(delete(g_ctrlr, true), 0);
	g_ctrlr = NULL;
	assert_true(fe_closed(fd));
	assert_int_equal(g_be.stops, 1);
	assert_int_equal(g_be.destructs, 1);
	assert_false(sock_exists("vu0"));
	assert_null(vhost_ctrlr_find("vu0"));
	close(fd);
	close(kick);
	close(call);
}

static bool g_fini_done;

static void
fini_done(void)
{
	g_fini_done = true;
}

static void
fini_msg(void *ctx)
{
	vhost_ctrlr_fini_all(fini_done);
}

static void
test_fini_all(void **state)
{
	struct vhost_ctrlr *c2;
	int fd;

	assert_int_equal(create("vu1", &c2), 0);
	fd = fe_open(BACKEND_FEATURES | F_PROTO, PF_ALL);
	g_fini_done = false;
	on_app(fini_msg, NULL);
	pump();
	assert_true(g_fini_done);
	assert_true(fe_closed(fd));
	assert_false(sock_exists("vu0"));
	assert_false(sock_exists("vu1"));
	assert_null(vhost_ctrlr_first());
	g_ctrlr = NULL;
	close(fd);
	/* The poll-group thread was asked to exit; drive it to the end. */
	pump();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sockets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negotiation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_violations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_protocol_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_channel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fini_all, setup, teardown),
	};
	int rc;

	g_app = spur_thread_create("app", NULL);
	assert_non_null(g_app);
	spur_set_thread(g_app);
	spur_log_register_component(VHOST_LOG);
	if (getenv("VHOST_UT_DEBUG") != NULL) {
		spur_log_set_level(SPUR_LOG_DEBUG);
		spur_log_set_flag(VHOST_LOG);
	}
	g_memfd = memfd_create("guest", MFD_CLOEXEC);
	assert_int_equal(ftruncate(g_memfd, 8 * MB), 0);
	log_start();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	dup2(g_saved_stderr, 2);
	return rc;
}
