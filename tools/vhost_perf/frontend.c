/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user frontend: the socket, messages, negotiation, guest memory and
 * queue set-up (see frontend.h). Ring operations are in frontend_ring.c.
 *
 * Messages follow the vhost-user specification: a 12-byte header
 * {request, flags, size} in host byte order, then size bytes of payload;
 * file descriptors travel as SCM_RIGHTS with the header. Replies carry the
 * REPLY flag and the request's code. With REPLY_ACK negotiated, requests
 * without a reply of their own are sent with NEED_REPLY and the u64 ack is
 * checked, so a backend that refuses something is noticed at once.
 *
 * Threading: one caller thread per struct vfe_dev.
 */
#include "frontend.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/vhost_types.h>

static void
set_err(struct vfe_dev *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void
vfe_init(struct vfe_dev *d)
{
	memset(d, 0, sizeof(*d));
	d->sock = -1;
	d->mem_fd = -1;
	d->max_queues = 1;
	for (int i = 0; i < VFE_MAX_QUEUES; i++) {
		d->queues[i].kick_fd = -1;
		d->queues[i].call_fd = -1;
	}
}

int
vfe_connect(struct vfe_dev *d, const char *path, int timeout_ms)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	int fd;

	vfe_init(d);
	if (strlen(path) >= sizeof(addr.sun_path)) {
		set_err(d, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			break;
		int err = errno;

		close(fd);
		if ((err != ENOENT && err != ECONNREFUSED) || now_ms() >= deadline) {
			set_err(d, "connect %s: %s", path, strerror(err));
			return -err;
		}
		usleep(10000);
	}
	d->sock = fd;
	return 0;
}

void
vfe_close(struct vfe_dev *d)
{
	for (int i = 0; i < VFE_MAX_QUEUES; i++) {
		struct vfe_queue *q = &d->queues[i];

		if (q->kick_fd >= 0)
			close(q->kick_fd);
		if (q->call_fd >= 0)
			close(q->call_fd);
		q->kick_fd = q->call_fd = -1;
		free(q->chain_len);
		q->chain_len = NULL;
	}
	if (d->sock >= 0)
		close(d->sock);
	d->sock = -1;
	if (d->mem != NULL)
		munmap(d->mem, d->mem_size);
	d->mem = NULL;
	if (d->mem_fd >= 0)
		close(d->mem_fd);
	d->mem_fd = -1;
}

/* Send len bytes with at most max_fds (<= VFE_MAX_RAW_FDS) fds. */
static int
send_raw(struct vfe_dev *d, const void *buf, size_t len, const int *fds, int nfds, int max_fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VFE_MAX_RAW_FDS)];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (nfds < 0 || nfds > max_fds)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *cmsg;

		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)nfds);
	}
	/* The fds go with the first byte; the rest may need more writes. */
	do {
		n = sendmsg(d->sock, &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		set_err(d, "sendmsg: %s", strerror(errno));
		return -errno;
	}
	while ((size_t)n < len) {
		ssize_t m = send(d->sock, (const char *)buf + n, len - (size_t)n, MSG_NOSIGNAL);

		if (m < 0 && errno == EINTR)
			continue;
		if (m < 0) {
			set_err(d, "send: %s", strerror(errno));
			return -errno;
		}
		n += m;
	}
	return 0;
}

int
vfe_send_raw(struct vfe_dev *d, const void *buf, size_t len, const int *fds, int nfds)
{
	return send_raw(d, buf, len, fds, nfds, VFE_MAX_FDS);
}

int
vfe_send_raw_fds(struct vfe_dev *d, const void *buf, size_t len, const int *fds, int nfds)
{
	return send_raw(d, buf, len, fds, nfds, VFE_MAX_RAW_FDS);
}

int
vfe_send_msg(struct vfe_dev *d, uint32_t request, uint32_t flags, const void *payload,
	     uint32_t size, const int *fds, int nfds)
{
	uint8_t buf[VFE_HDR_SIZE + VFE_MAX_PAYLOAD];
	struct vfe_msg_hdr hdr = {.request = request, .flags = flags | VFE_FLAG_VERSION,
				  .size = size};

	if (size > VFE_MAX_PAYLOAD)
		return -EMSGSIZE;
	memcpy(buf, &hdr, sizeof(hdr));
	if (size > 0)
		memcpy(buf + VFE_HDR_SIZE, payload, size);
	return vfe_send_raw(d, buf, VFE_HDR_SIZE + size, fds, nfds);
}

/* Wait until the socket is readable; 0, -ETIMEDOUT or -errno. */
static int
wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int rc;

	do {
		rc = poll(&p, 1, timeout_ms);
	} while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	return rc == 0 ? -ETIMEDOUT : 0;
}

/* Read exactly len bytes (no fds). */
static int
read_full(struct vfe_dev *d, void *buf, size_t len, int timeout_ms)
{
	size_t got = 0;

	while (got < len) {
		int rc = wait_readable(d->sock, timeout_ms);
		ssize_t n;

		if (rc < 0)
			return rc;
		n = recv(d->sock, (char *)buf + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		got += (size_t)n;
	}
	return 0;
}

int
vfe_recv_msg(struct vfe_dev *d, struct vfe_msg_hdr *hdr, void *payload, uint32_t max,
	     int *fds, int *nfds, int timeout_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VFE_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = hdr, .iov_len = VFE_HDR_SIZE};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf)};
	int want = nfds != NULL ? *nfds : 0;
	int got_fds = 0;
	ssize_t n;
	int rc;

	rc = wait_readable(d->sock, timeout_ms);
	if (rc < 0)
		return rc;
	do {
		n = recvmsg(d->sock, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int cnt = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int *in = (int *)CMSG_DATA(c);

		for (int i = 0; i < cnt; i++) {
			if (got_fds < want)
				fds[got_fds++] = in[i];
			else
				close(in[i]);
		}
	}
	if (nfds != NULL)
		*nfds = got_fds;
	if ((size_t)n < VFE_HDR_SIZE) {
		rc = read_full(d, (char *)hdr + n, VFE_HDR_SIZE - (size_t)n, timeout_ms);
		if (rc < 0)
			return rc;
	}
	if (hdr->size > max) {
		set_err(d, "reply to request %u has %u bytes (at most %u expected)", hdr->request,
			hdr->size, max);
		return -EMSGSIZE;
	}
	if (hdr->size > 0)
		return read_full(d, payload, hdr->size, timeout_ms);
	return 0;
}

#define REPLY_TIMEOUT_MS 10000

/* Receive the reply to request into payload of exactly size bytes. */
static int
recv_reply(struct vfe_dev *d, uint32_t request, void *payload, uint32_t size)
{
	struct vfe_msg_hdr hdr;
	int rc = vfe_recv_msg(d, &hdr, payload, size, NULL, NULL, REPLY_TIMEOUT_MS);

	if (rc < 0) {
		if (rc != -EMSGSIZE)
			set_err(d, "no reply to request %u: %s", request, strerror(-rc));
		return rc;
	}
	if (hdr.request != request || !(hdr.flags & VFE_FLAG_REPLY) || hdr.size != size) {
		set_err(d, "bad reply to request %u: request %u flags 0x%x size %u", request,
			hdr.request, hdr.flags, hdr.size);
		return -EPROTO;
	}
	return 0;
}

static bool
has_protocol(const struct vfe_dev *d, int bit)
{
	return (d->protocol_features >> bit) & 1u;
}

int
vfe_request(struct vfe_dev *d, uint32_t request, const void *payload, uint32_t size,
	    const int *fds, int nfds)
{
	bool ack = has_protocol(d, VFE_PROTOCOL_F_REPLY_ACK);
	uint64_t status;
	int rc;

	rc = vfe_send_msg(d, request, ack ? VFE_FLAG_NEED_REPLY : 0, payload, size, fds, nfds);
	if (rc < 0 || !ack)
		return rc;
	rc = recv_reply(d, request, &status, sizeof(status));
	if (rc < 0)
		return rc;
	if (status != 0) {
		set_err(d, "backend refused request %u (status %llu)", request,
			(unsigned long long)status);
		return -EIO;
	}
	return 0;
}

int
vfe_request_u64(struct vfe_dev *d, uint32_t request, const void *payload, uint32_t size,
		uint64_t *value)
{
	int rc = vfe_send_msg(d, request, 0, payload, size, NULL, 0);

	if (rc < 0)
		return rc;
	return recv_reply(d, request, value, sizeof(*value));
}

int
vfe_negotiate(struct vfe_dev *d, uint64_t want_protocol)
{
	uint64_t v;
	int rc;

	rc = vfe_request_u64(d, VFE_GET_FEATURES, NULL, 0, &d->dev_features);
	if (rc < 0)
		return rc;
	if (d->dev_features & (1ull << VFE_F_PROTOCOL_FEATURES)) {
		rc = vfe_request_u64(d, VFE_GET_PROTOCOL_FEATURES, NULL, 0,
				     &d->dev_protocol_features);
		if (rc < 0)
			return rc;
		v = d->dev_protocol_features & want_protocol;
		/* Sent before REPLY_ACK is in force: no ack expected yet. */
		rc = vfe_send_msg(d, VFE_SET_PROTOCOL_FEATURES, 0, &v, sizeof(v), NULL, 0);
		if (rc < 0)
			return rc;
		d->protocol_features = v;
		if (has_protocol(d, VFE_PROTOCOL_F_MQ)) {
			rc = vfe_request_u64(d, VFE_GET_QUEUE_NUM, NULL, 0, &v);
			if (rc < 0)
				return rc;
			if (v == 0 || v > VFE_MAX_QUEUES) {
				set_err(d, "backend offers %llu queues", (unsigned long long)v);
				return -EPROTO;
			}
			d->max_queues = (uint16_t)v;
		}
	}
	return vfe_request(d, VFE_SET_OWNER, NULL, 0, NULL, 0);
}

int
vfe_set_features(struct vfe_dev *d, uint64_t want)
{
	uint64_t v = d->dev_features & want;

	if (d->dev_features & (1ull << VFE_F_PROTOCOL_FEATURES))
		v |= 1ull << VFE_F_PROTOCOL_FEATURES;
	d->features = v;
	return vfe_request(d, VFE_SET_FEATURES, &v, sizeof(v), NULL, 0);
}

int
vfe_get_config(struct vfe_dev *d, void *buf, uint32_t len)
{
	uint8_t msg[VFE_CONFIG_HDR_SIZE + 256];
	uint32_t hdr[3] = {0, len, 0};
	int rc;

	if (len > 256)
		return -EINVAL;
	if (!has_protocol(d, VFE_PROTOCOL_F_CONFIG)) {
		set_err(d, "backend does not offer the CONFIG protocol feature");
		return -ENOTSUP;
	}
	memset(msg, 0, sizeof(msg));
	memcpy(msg, hdr, sizeof(hdr));
	rc = vfe_send_msg(d, VFE_GET_CONFIG, 0, msg, VFE_CONFIG_HDR_SIZE + len, NULL, 0);
	if (rc < 0)
		return rc;
	rc = recv_reply(d, VFE_GET_CONFIG, msg, VFE_CONFIG_HDR_SIZE + len);
	if (rc < 0)
		return rc;
	memcpy(buf, msg + VFE_CONFIG_HDR_SIZE, len);
	return 0;
}

int
vfe_mem_init(struct vfe_dev *d, uint64_t size, uint64_t gpa_base)
{
	int fd = memfd_create("vhost_perf_guest", MFD_CLOEXEC);
	void *p;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int err = errno;

		close(fd);
		return -err;
	}
	d->mem_fd = fd;
	d->mem = p;
	d->mem_size = size;
	d->gpa_base = gpa_base;
	d->mem_brk = 0;
	return 0;
}

int
vfe_set_mem_table(struct vfe_dev *d)
{
	/* vhost-user's layout: the fourth field is the offset in the fd. */
	struct {
		uint32_t nregions;
		uint32_t padding;
		uint64_t gpa, size, uva, mmap_offset;
	} __attribute__((packed)) m = {
		.nregions = 1,
		.gpa = d->gpa_base, .size = d->mem_size,
		.uva = (uint64_t)(uintptr_t)d->mem, .mmap_offset = 0,
	};

	return vfe_request(d, VFE_SET_MEM_TABLE, &m, sizeof(m), &d->mem_fd, 1);
}

void *
vfe_mem_alloc(struct vfe_dev *d, uint64_t size, uint64_t align, uint64_t *gpa)
{
	uint64_t off = (d->mem_brk + align - 1) & ~(align - 1);

	if (off > d->mem_size || size > d->mem_size - off)
		return NULL;
	d->mem_brk = off + size;
	memset(d->mem + off, 0, size);
	if (gpa != NULL)
		*gpa = d->gpa_base + off;
	return d->mem + off;
}

void *
vfe_gpa_to_ptr(const struct vfe_dev *d, uint64_t gpa)
{
	return d->mem + (gpa - d->gpa_base);
}

static int
send_vring_fd(struct vfe_dev *d, uint32_t request, uint16_t index, int fd)
{
	uint64_t v = index;

	if (fd < 0)
		v |= VFE_VRING_NOFD_MASK;
	return vfe_request(d, request, &v, sizeof(v), fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
}

static int
alloc_rings(struct vfe_dev *d, struct vfe_queue *q)
{
	uint64_t page = 4096;

	if (q->packed) {
		q->pdesc = vfe_mem_alloc(d, sizeof(struct vring_packed_desc) * q->size, page,
					 &q->desc_gpa);
		q->driver_event = vfe_mem_alloc(d, sizeof(struct vring_packed_desc_event), 64,
						&q->avail_gpa);
		q->device_event = vfe_mem_alloc(d, sizeof(struct vring_packed_desc_event), 64,
						&q->used_gpa);
		q->chain_len = calloc(q->size, sizeof(uint16_t));
		if (q->pdesc == NULL || q->driver_event == NULL || q->device_event == NULL ||
		    q->chain_len == NULL)
			return -ENOMEM;
		q->next_avail = q->next_used = 0;
		q->avail_wrap = q->used_wrap = true;
		q->kick_shadow = 0;
		q->kick_shadow_wrap = true;
		q->free_descs = q->size;
		return 0;
	}
	q->desc = vfe_mem_alloc(d, sizeof(struct vring_desc) * q->size, page, &q->desc_gpa);
	/* flags, idx, ring[size], used_event */
	q->avail = vfe_mem_alloc(d, 6 + 2ull * q->size, page, &q->avail_gpa);
	/* flags, idx, ring[size], avail_event */
	q->used = vfe_mem_alloc(d, 6 + 8ull * q->size, page, &q->used_gpa);
	if (q->desc == NULL || q->avail == NULL || q->used == NULL)
		return -ENOMEM;
	q->avail_idx = q->published_idx = q->last_used_idx = 0;
	return 0;
}

int
vfe_queue_init_local(struct vfe_dev *d, uint16_t index, uint16_t size, bool packed)
{
	struct vfe_queue *q;
	int rc;

	if (index >= VFE_MAX_QUEUES || size == 0 || (!packed && (size & (size - 1)) != 0))
		return -EINVAL;
	q = &d->queues[index];
	q->dev = d;
	q->index = index;
	q->size = size;
	q->packed = packed;
	q->event_idx = (d->features >> VIRTIO_RING_F_EVENT_IDX) & 1u;
	q->irq_on = true;
	rc = alloc_rings(d, q);
	if (rc < 0) {
		set_err(d, "guest memory too small for queue %u", index);
		return rc;
	}
	q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	q->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->kick_fd < 0 || q->call_fd < 0)
		return -errno;
	return 0;
}

/* SET_VRING_NUM, BASE, ADDR, CALL, KICK (and ENABLE) for q's rings. */
static int
queue_send_setup(struct vfe_dev *d, struct vfe_queue *q)
{
	uint16_t index = q->index, size = q->size;
	bool packed = q->packed;
	struct vhost_vring_state st;
	struct vhost_vring_addr addr;
	int rc;

	st = (struct vhost_vring_state){.index = index, .num = size};
	rc = vfe_request(d, VFE_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
	if (rc < 0)
		return rc;
	/* Packed: avail index 0 / wrap 1 and used index 0 / wrap 1. */
	st.num = packed ? (0x8000u | (0x8000u << 16)) : 0;
	rc = vfe_request(d, VFE_SET_VRING_BASE, &st, sizeof(st), NULL, 0);
	if (rc < 0)
		return rc;
	addr = (struct vhost_vring_addr){
		.index = index,
		.desc_user_addr = (uint64_t)(uintptr_t)vfe_gpa_to_ptr(d, q->desc_gpa),
		.used_user_addr = (uint64_t)(uintptr_t)vfe_gpa_to_ptr(d, q->used_gpa),
		.avail_user_addr = (uint64_t)(uintptr_t)vfe_gpa_to_ptr(d, q->avail_gpa),
	};
	rc = vfe_request(d, VFE_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0);
	if (rc < 0)
		return rc;
	rc = send_vring_fd(d, VFE_SET_VRING_CALL, index, q->call_fd);
	if (rc < 0)
		return rc;
	rc = send_vring_fd(d, VFE_SET_VRING_KICK, index, q->kick_fd);
	if (rc < 0)
		return rc;
	if (d->features & (1ull << VFE_F_PROTOCOL_FEATURES)) {
		st = (struct vhost_vring_state){.index = index, .num = 1};
		rc = vfe_request(d, VFE_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0);
		if (rc < 0)
			return rc;
	}
	q->enabled = true;
	return 0;
}

int
vfe_queue_setup(struct vfe_dev *d, uint16_t index, uint16_t size, bool packed)
{
	int rc;

	rc = vfe_queue_init_local(d, index, size, packed);
	if (rc < 0)
		return rc;
	return queue_send_setup(d, &d->queues[index]);
}

int
vfe_queue_restart(struct vfe_dev *d, uint16_t index)
{
	struct vfe_queue *q;

	if (index >= VFE_MAX_QUEUES || d->queues[index].desc == NULL || d->queues[index].packed)
		return -EINVAL;
	q = &d->queues[index];
	memset(q->desc, 0, sizeof(struct vring_desc) * q->size);
	memset(q->avail, 0, 6 + 2ull * q->size);
	memset(q->used, 0, 6 + 8ull * q->size);
	q->avail_idx = q->published_idx = q->last_used_idx = 0;
	q->enabled = false;
	return queue_send_setup(d, q);
}

int
vfe_queue_stop(struct vfe_dev *d, uint16_t index, uint32_t *base)
{
	struct vhost_vring_state st = {.index = index};
	uint8_t reply[sizeof(st)];
	int rc;

	rc = vfe_send_msg(d, VFE_GET_VRING_BASE, 0, &st, sizeof(st), NULL, 0);
	if (rc < 0)
		return rc;
	rc = recv_reply(d, VFE_GET_VRING_BASE, reply, sizeof(reply));
	if (rc < 0)
		return rc;
	memcpy(&st, reply, sizeof(st));
	if (base != NULL)
		*base = st.num;
	d->queues[index].enabled = false;
	return 0;
}
