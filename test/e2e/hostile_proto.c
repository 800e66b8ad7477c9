/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hostile vhost-user messages: wrong payload sizes, unknown types, bad
 * flags, too many or unexpected fds, queue indices out of range, ring sizes
 * (above spur's cap of 1024 entries per ring, lib/vhost/vhost_dev.h, even
 * where virtio allows them) and ring flags out of range, unoffered
 * features, config-space accesses
 * out of bounds, truncated or fragmented messages, a corrupt backend
 * channel, a second frontend, replies never read, connection floods.
 * Memory tables and ring set-up are in hostile_setup.c.
 *
 * What spur does (lib/vhost/vhost_user.c, vhost_user_vring.c,
 * vhost_ctrlr.c), and what each scenario asserts:
 *  - a header that cannot be valid (unknown type, bad flags, a size
 *    outside the type's bounds, more than 8 fds) is refused as soon as
 *    the header is in: the connection is closed without a reply;
 *  - any other violation is refused by the message's handler: a failed
 *    REPLY_ACK (value 1) when NEED_REPLY was set and the message has no
 *    reply of its own, then the connection is closed (a message with its
 *    own reply is closed without one);
 *  - a few requests are legal but refused or answered as "nothing": a
 *    SET_CONFIG the device refuses (failed ack, connection kept), a
 *    GET_CONFIG beyond the config space (an empty reply), GET_VRING_BASE
 *    of a ring never started (its base);
 *  - every violation is logged as "<controller>: <MESSAGE>: <what>", the
 *    substring each scenario's table entry gives.
 *
 * Every scenario opens its own connection (hostile_vhost.c) with
 * REPLY_ACK negotiated, as QEMU does, so refusals are visible.
 *
 * Threading: single-threaded.
 */
#include "hostile_vhost.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/vhost_types.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

/* ---- helpers ------------------------------------------------------------------------ */

/* A header with exactly these fields, then len bytes (len need not be size). */
static int
send_header(struct hv *h, uint32_t request, uint32_t flags, uint32_t size, uint32_t len)
{
	uint8_t buf[VFE_HDR_SIZE + 256];
	struct vfe_msg_hdr hdr = {.request = request, .flags = flags, .size = size};
	int rc;

	if (len > 256)
		return hv_fail(h, "test bug: %u payload bytes", len);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &hdr, sizeof(hdr));
	rc = vfe_send_raw(&h->d, buf, VFE_HDR_SIZE + len, NULL, 0);
	if (rc < 0)
		return hv_fail(h, "send: %s", strerror(-rc));
	return 0;
}

/* ---- payload sizes, types, flags ---------------------------------------------------- */

static int
p_size_short(struct hv *h)
{
	uint32_t index = 0;

	if (hv_open_default(h) < 0)
		return -1;
	return hv_send_close(h, VFE_SET_VRING_NUM, &index, sizeof(index), NULL, 0);
}

static int
p_size_long(struct hv *h)
{
	uint64_t v[2] = {1ull << VIRTIO_F_VERSION_1, 0};

	if (hv_open_default(h) < 0)
		return -1;
	return hv_send_close(h, VFE_SET_FEATURES, v, sizeof(v), NULL, 0);
}

static int
p_size_huge(struct hv *h)
{
	if (hv_open_default(h) < 0 ||
	    send_header(h, VFE_SET_MEM_TABLE, VFE_FLAG_VERSION | VFE_FLAG_NEED_REPLY, UINT32_MAX,
			64) < 0)
		return -1;
	return hv_expect_close(h);
}

static int
p_size_over_cap(struct hv *h)
{
	if (hv_open_default(h) < 0 ||
	    send_header(h, VFE_GET_CONFIG, VFE_FLAG_VERSION, 5000, 0) < 0)
		return -1;
	return hv_expect_close(h);
}

static int
p_size_on_get(struct hv *h)
{
	uint64_t v[2] = {0, 0};

	if (hv_open_default(h) < 0)
		return -1;
	return hv_send_close(h, VFE_GET_FEATURES, v, sizeof(v), NULL, 0);
}

static int
p_type_unknown(struct hv *h)
{
	if (hv_open_default(h) < 0)
		return -1;
	return hv_send_close(h, 999, NULL, 0, NULL, 0);
}

static int
p_type_zero(struct hv *h)
{
	if (hv_open_default(h) < 0)
		return -1;
	return hv_send_close(h, 0, NULL, 0, NULL, 0);
}

static int
p_type_huge(struct hv *h)
{
	if (hv_open_default(h) < 0)
		return -1;
	return hv_send_close(h, UINT32_MAX, NULL, 0, NULL, 0);
}

static int
p_type_unsupported(struct hv *h)
{
	if (hv_open_default(h) < 0)
		return -1;
	return hv_send_nack_close(h, VFE_SET_LOG_BASE, NULL, 0, NULL, 0);
}

static int
p_type_backend_only(struct hv *h)
{
	if (hv_open_default(h) < 0)
		return -1;
	/* VHOST_USER_VRING_KICK (35): in-band kicks, not offered. */
	return hv_send_nack_close(h, 35, NULL, 0, NULL, 0);
}

static int
p_flags_version(struct hv *h)
{
	if (hv_open_default(h) < 0 || send_header(h, VFE_GET_FEATURES, 0x2, 0, 0) < 0)
		return -1;
	return hv_expect_close(h);
}

static int
p_flags_reply(struct hv *h)
{
	if (hv_open_default(h) < 0 ||
	    send_header(h, VFE_GET_FEATURES, VFE_FLAG_VERSION | VFE_FLAG_REPLY, 0, 0) < 0)
		return -1;
	return hv_expect_close(h);
}

/* ---- file descriptors -------------------------------------------------------------- */

/* A valid one-region SET_MEM_TABLE carrying nfds copies of the memfd. */
static int
table_with_fds(struct hv *h, int nfds)
{
	int fds[VFE_MAX_RAW_FDS];
	struct hv_region r;
	int made = 0, rc = -1;

	if (hv_open_mem_unshared(h) < 0)
		return -1;
	r = hv_whole_region(h);
	for (; made < nfds; made++) {
		fds[made] = dup(h->d.mem_fd);
		if (fds[made] < 0) {
			hv_fail(h, "dup: %s", strerror(errno));
			goto out;
		}
	}
	rc = hv_send_table(h, 1, &r, 1, fds, nfds);
out:
	for (int i = 0; i < made; i++)
		close(fds[i]);
	return rc;
}

static int
p_fds_too_many(struct hv *h)
{
	if (table_with_fds(h, 9) < 0)
		return -1;
	return hv_expect_close(h);
}

static int
p_fds_flood(struct hv *h)
{
	if (table_with_fds(h, VFE_MAX_RAW_FDS) < 0)
		return -1;
	return hv_expect_close(h);
}

static int
p_fds_mem_count(struct hv *h)
{
	if (table_with_fds(h, 2) < 0)
		return -1;
	return hv_expect_nack_close(h, VFE_SET_MEM_TABLE);
}

static int
p_fds_unexpected(struct hv *h)
{
	struct vhost_vring_state st = {.index = 0, .num = HV_QSIZE};
	int fd, rc;

	if (hv_open_default(h) < 0 || (fd = hv_new_eventfd(h)) < 0)
		return -1;
	rc = hv_send_nack_close(h, VFE_SET_VRING_NUM, &st, sizeof(st), &fd, 1);
	close(fd);
	return rc;
}

static int
p_fds_unexpected_get(struct hv *h)
{
	int fds[2], rc;

	if (hv_open_default(h) < 0 || (fds[0] = hv_new_eventfd(h)) < 0)
		return -1;
	fds[1] = fds[0];
	rc = hv_send_close(h, VFE_GET_PROTOCOL_FEATURES, NULL, 0, fds, 2);
	close(fds[0]);
	return rc;
}

static int
p_fds_missing(struct hv *h)
{
	if (hv_open(h, HV_PF_BACKEND) < 0)
		return -1;
	return hv_send_nack_close(h, VFE_SET_BACKEND_REQ_FD, NULL, 0, NULL, 0);
}

static int
p_kick_nofd_with_fd(struct hv *h)
{
	uint64_t v = VFE_VRING_NOFD_MASK;
	int fd, rc;

	if (hv_open_default(h) < 0 || (fd = hv_new_eventfd(h)) < 0)
		return -1;
	rc = hv_send_nack_close(h, VFE_SET_VRING_KICK, &v, sizeof(v), &fd, 1);
	close(fd);
	return rc;
}

static int
p_call_fd_missing(struct hv *h)
{
	uint64_t v = 0;

	if (hv_open_default(h) < 0)
		return -1;
	return hv_send_nack_close(h, VFE_SET_VRING_CALL, &v, sizeof(v), NULL, 0);
}

static int
p_kick_reserved_bits(struct hv *h)
{
	uint64_t v = 0x200 | VFE_VRING_NOFD_MASK;

	if (hv_open_default(h) < 0)
		return -1;
	return hv_send_nack_close(h, VFE_SET_VRING_KICK, &v, sizeof(v), NULL, 0);
}

/* ---- queue indices -------------------------------------------------------------------- */

/*
 * A message whose payload is a vhost_vring_state (SET_VRING_NUM / BASE /
 * ENABLE) with a bad index or value: refused (failed REPLY_ACK), then the
 * connection closes. features: negotiate the split-ring features first.
 */
struct state_case {
	uint32_t request;
	uint32_t index, num;
	bool features;
};

static int
p_state_refused(struct hv *h)
{
	const struct state_case *c = h->arg;
	struct vhost_vring_state st = {.index = c->index, .num = c->num};

	if (hv_open_default(h) < 0 || (c->features && hv_features(h, HV_SPLIT_FEATURES) < 0))
		return -1;
	return hv_send_nack_close(h, c->request, &st, sizeof(st), NULL, 0);
}


static int
p_qidx_addr(struct hv *h)
{
	struct vhost_vring_addr a = {.index = HV_QUEUES};

	if (hv_open_mem_unshared(h) < 0 || hv_memory(h) < 0)
		return -1;
	a.desc_user_addr = a.avail_user_addr = a.used_user_addr = (uint64_t)(uintptr_t)h->d.mem;
	return hv_send_nack_close(h, VFE_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}

static int
p_qidx_kick(struct hv *h)
{
	uint64_t v = HV_QUEUES;
	int fd, rc;

	if (hv_open_default(h) < 0 || (fd = hv_new_eventfd(h)) < 0)
		return -1;
	rc = hv_send_nack_close(h, VFE_SET_VRING_KICK, &v, sizeof(v), &fd, 1);
	close(fd);
	return rc;
}

static int
p_qidx_call(struct hv *h)
{
	uint64_t v = 0xff | VFE_VRING_NOFD_MASK;

	if (hv_open_default(h) < 0)
		return -1;
	return hv_send_nack_close(h, VFE_SET_VRING_CALL, &v, sizeof(v), NULL, 0);
}

static int
p_qidx_err(struct hv *h)
{
	uint64_t v = HV_QUEUES | VFE_VRING_NOFD_MASK;

	if (hv_open_default(h) < 0)
		return -1;
	return hv_send_nack_close(h, VFE_SET_VRING_ERR, &v, sizeof(v), NULL, 0);
}

static int
p_qidx_get_base(struct hv *h)
{
	struct vhost_vring_state st = {.index = HV_QUEUES, .num = 0};

	if (hv_open_default(h) < 0)
		return -1;
	/* GET_VRING_BASE has its own reply: no ack, the connection just closes. */
	return hv_send_close(h, VFE_GET_VRING_BASE, &st, sizeof(st), NULL, 0);
}

/* ---- ring sizes and ring state ------------------------------------------------------ */

static int
p_ring_size_max_ok(struct hv *h)
{
	struct vhost_vring_state st = {.index = 0, .num = 1024};

	if (hv_open_default(h) < 0 || hv_features(h, HV_SPLIT_FEATURES) < 0 ||
	    hv_step(h, VFE_SET_VRING_NUM, &st, sizeof(st), NULL, 0) < 0 || hv_expect_alive(h) < 0)
		return -1;
	return hv_did(h, "accepted the largest ring size, 1024");
}

/* The last queue the device has, at the largest size: accepted. */
static int
p_ring_last_queue_ok(struct hv *h)
{
	struct vhost_vring_state st = {.index = HV_QUEUES - 1, .num = 1024};

	if (hv_open_default(h) < 0 || hv_features(h, HV_SPLIT_FEATURES) < 0 ||
	    hv_step(h, VFE_SET_VRING_NUM, &st, sizeof(st), NULL, 0) < 0 || hv_expect_alive(h) < 0)
		return -1;
	return hv_did(h, "accepted queue %u (the last one) with 1024 entries", HV_QUEUES - 1);
}

static int
p_addr_log_flag(struct hv *h)
{
	struct vhost_vring_addr a = {.index = 0, .flags = 1u << VHOST_VRING_F_LOG};

	if (hv_open_default(h) < 0)
		return -1;
	return hv_send_nack_close(h, VFE_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}

static int
p_addr_unknown_flags(struct hv *h)
{
	struct vhost_vring_addr a = {.index = 0, .flags = 2};

	if (hv_open_default(h) < 0)
		return -1;
	return hv_send_nack_close(h, VFE_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}

/* GET_VRING_BASE of rings never started: answered with their base, nothing breaks. */
static int
p_get_base_idle(struct hv *h)
{
	struct vhost_vring_state st = {.index = 0}, r;

	if (hv_open_default(h) < 0 || hv_features(h, HV_SPLIT_FEATURES) < 0)
		return -1;
	if (hv_send(h, VFE_GET_VRING_BASE, &st, sizeof(st), NULL, 0) < 0 ||
	    hv_expect_reply(h, VFE_GET_VRING_BASE, &r, sizeof(r)) < 0)
		return -1;
	if (r.index != 0 || r.num != 0)
		return hv_fail(h, "GET_VRING_BASE of a fresh ring 0 answered {%u, %u}", r.index,
			       r.num);
	st = (struct vhost_vring_state){.index = 63, .num = 5};
	if (hv_step(h, VFE_SET_VRING_BASE, &st, sizeof(st), NULL, 0) < 0 ||
	    hv_send(h, VFE_GET_VRING_BASE, &st, sizeof(st), NULL, 0) < 0 ||
	    hv_expect_reply(h, VFE_GET_VRING_BASE, &r, sizeof(r)) < 0)
		return -1;
	if (r.index != 63 || r.num != 5)
		return hv_fail(h, "GET_VRING_BASE of idle ring 63 with base 5 answered {%u, %u}",
			       r.index, r.num);
	if (hv_expect_alive(h) < 0)
		return -1;
	return hv_did(h, "answered GET_VRING_BASE of never-started rings with their base "
		      "({0, 0}, {63, 5}) and kept the connection");
}

/* ---- features, status, config ------------------------------------------------------- */

static int
p_features_unoffered(struct hv *h)
{
	uint64_t v = (1ull << VIRTIO_F_VERSION_1) | (1ull << 63);

	if (hv_open_default(h) < 0)
		return -1;
	return hv_send_nack_close(h, VFE_SET_FEATURES, &v, sizeof(v), NULL, 0);
}

static int
p_protocol_unoffered(struct hv *h)
{
	uint64_t v = HV_PF_DEFAULT | (1ull << 62);

	if (hv_open_default(h) < 0)
		return -1;
	return hv_send_nack_close(h, VFE_SET_PROTOCOL_FEATURES, &v, sizeof(v), NULL, 0);
}

static int
p_status_too_big(struct hv *h)
{
	uint64_t v = 0x100;

	if (hv_open_default(h) < 0)
		return -1;
	return hv_send_nack_close(h, VFE_SET_STATUS, &v, sizeof(v), NULL, 0);
}

static int
p_config_beyond(struct hv *h)
{
	uint32_t c[3 + 15] = {250, 60, 0};

	if (hv_open_default(h) < 0 || hv_send(h, VFE_GET_CONFIG, c, 12 + 60, NULL, 0) < 0 ||
	    hv_expect_reply(h, VFE_GET_CONFIG, c, 0) < 0 || hv_expect_alive(h) < 0)
		return -1;
	return hv_did(h, "answered with an empty GET_CONFIG reply and kept the connection");
}

static int
p_config_size_mismatch(struct hv *h)
{
	uint32_t c[5] = {0, 60, 0, 0, 0};

	if (hv_open_default(h) < 0)
		return -1;
	return hv_send_close(h, VFE_GET_CONFIG, c, sizeof(c), NULL, 0);
}

static int
p_config_size_huge(struct hv *h)
{
	uint32_t c[3] = {0, UINT32_MAX, 0};

	if (hv_open_default(h) < 0)
		return -1;
	return hv_send_close(h, VFE_GET_CONFIG, c, sizeof(c), NULL, 0);
}

static int
p_set_config_refused(struct hv *h)
{
	uint8_t c[13] = {0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xff};

	if (hv_open_default(h) < 0 || hv_send(h, VFE_SET_CONFIG, c, sizeof(c), NULL, 0) < 0 ||
	    hv_expect_nack(h, VFE_SET_CONFIG) < 0 || hv_expect_alive(h) < 0)
		return -1;
	return hv_did(h, "refused SET_CONFIG with a failed REPLY_ACK and kept the connection");
}

/* ---- framing ------------------------------------------------------------------------ */

static int
p_truncated(struct hv *h)
{
	if (hv_open_default(h) < 0 ||
	    send_header(h, VFE_SET_FEATURES, VFE_FLAG_VERSION | VFE_FLAG_NEED_REPLY, 8, 4) < 0)
		return -1;
	if (shutdown(h->d.sock, SHUT_WR) != 0)
		return hv_fail(h, "shutdown: %s", strerror(errno));
	if (hv_expect_close(h) < 0)
		return -1;
	return hv_did(h, "closed the connection after a message cut short by EOF");
}

/* SET_VRING_CALL one byte per write, its fd with the first payload byte. */
static int
p_fragmented(struct hv *h)
{
	uint8_t buf[VFE_HDR_SIZE + 8];
	struct vfe_msg_hdr hdr = {.request = VFE_SET_VRING_CALL,
				  .flags = VFE_FLAG_VERSION | VFE_FLAG_NEED_REPLY, .size = 8};
	int fd, rc = 0;

	if (hv_open_default(h) < 0 || (fd = hv_new_eventfd(h)) < 0)
		return -1;
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &hdr, sizeof(hdr));
	for (size_t i = 0; i < sizeof(buf) && rc == 0; i++) {
		rc = vfe_send_raw(&h->d, buf + i, 1, i == VFE_HDR_SIZE ? &fd : NULL,
				  i == VFE_HDR_SIZE ? 1 : 0);
		usleep(2000);
	}
	close(fd);
	if (rc < 0)
		return hv_fail(h, "send: %s", strerror(-rc));
	if (hv_expect_ack(h, VFE_SET_VRING_CALL) < 0 || hv_expect_alive(h) < 0)
		return -1;
	return hv_did(h, "reassembled a message sent byte by byte (fd mid-message) and "
		      "acknowledged it");
}

/* ---- backend channel, second frontend ------------------------------------------------- */

static int
p_backend_garbage(struct hv *h)
{
	uint8_t junk[20];
	int sv[2];

	if (hv_open(h, HV_PF_BACKEND) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return hv_fail(h, "socketpair: %s", strerror(errno));
	if (hv_step(h, VFE_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	close(sv[1]);
	/* A "reply" the backend never asked for. */
	memset(junk, 0xa5, sizeof(junk));
	if (write(sv[0], junk, sizeof(junk)) != (ssize_t)sizeof(junk)) {
		close(sv[0]);
		return hv_fail(h, "write: %s", strerror(errno));
	}
	if (hv_expect_close(h) < 0) {
		close(sv[0]);
		return -1;
	}
	close(sv[0]);
	return hv_did(h, "closed the session after garbage on the backend channel");
}

static int
p_second_frontend(struct hv *h)
{
	struct vfe_dev d2;
	struct vfe_msg_hdr hdr;
	uint64_t v;
	int rc;

	if (hv_open_ready(h) < 0)
		return -1;
	rc = vfe_connect(&d2, h->sock, HV_TIMEOUT_MS);
	if (rc < 0)
		return hv_fail(h, "second connect: %s", d2.err);
	rc = vfe_send_msg(&d2, VFE_GET_FEATURES, 0, NULL, 0, NULL, 0);
	if (rc == 0)
		rc = vfe_recv_msg(&d2, &hdr, &v, sizeof(v), NULL, NULL, HV_TIMEOUT_MS);
	vfe_close(&d2);
	if (rc == 0)
		return hv_fail(h, "a second frontend was served while the first is connected");
	if (rc != -ECONNRESET && rc != -EPIPE)
		return hv_fail(h, "second frontend: %s", strerror(-rc));
	if (hv_expect_alive(h) < 0)
		return -1;
	return hv_did(h, "dropped a second frontend at once and kept serving the first");
}

/* ---- unread replies, abrupt ends, floods ---------------------------------------------- */

/* Requests whose replies are never read: the backend must not block on them. */
static int
p_reply_flood(struct hv *h)
{
	static uint8_t burst[VFE_HDR_SIZE * 256];
	struct vfe_msg_hdr hdr = {.request = VFE_GET_FEATURES, .flags = VFE_FLAG_VERSION};
	uint32_t sent = 0, replies = 0;
	uint64_t v;
	int rc = 0;

	if (hv_open_default(h) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(burst); i += VFE_HDR_SIZE)
		memcpy(burst + i, &hdr, sizeof(hdr));
	for (int b = 0; b < 4096 && rc == 0; b++) {
		rc = vfe_send_raw(&h->d, burst, sizeof(burst), NULL, 0);
		if (rc == 0)
			sent += 256;
	}
	if (rc == 0)
		return hv_fail(h, "%u requests with unread replies, and the connection is still "
			       "open", sent);
	if (rc != -EPIPE && rc != -ECONNRESET)
		return hv_fail(h, "send: %s", strerror(-rc));
	/* What it did send is still readable; then EOF. */
	for (uint32_t i = 0; i <= sent; i++) {
		rc = vfe_recv_msg(&h->d, &hdr, &v, sizeof(v), NULL, NULL, HV_TIMEOUT_MS);
		if (rc < 0)
			break;
		replies++;
	}
	if (rc != -ECONNRESET)
		return hv_fail(h, "after the flood: %s", strerror(-rc));
	return hv_did(h, "closed the connection once replies piled up unread (%u of at most %u "
		      "requests answered)", replies, sent);
}

/* Fds and part of a message, then the connection is gone: the fds must not leak. */
static int
p_fds_then_eof(struct hv *h)
{
	uint8_t buf[VFE_HDR_SIZE + 16];
	struct vfe_msg_hdr hdr = {.request = VFE_SET_MEM_TABLE,
				  .flags = VFE_FLAG_VERSION | VFE_FLAG_NEED_REPLY, .size = 40};
	int rc;

	if (hv_open_mem_unshared(h) < 0)
		return -1;
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &hdr, sizeof(hdr));
	buf[VFE_HDR_SIZE] = 1;
	rc = vfe_send_raw(&h->d, buf, sizeof(buf), &h->d.mem_fd, 1);
	if (rc < 0)
		return hv_fail(h, "send: %s", strerror(-rc));
	hv_close(h);
	return hv_did(h, "(nothing to observe: the connection was dropped with an fd in a "
		      "half-received message)");
}

/* Connections opened and dropped as fast as the backend takes them. */
static int
p_connect_flood(struct hv *h)
{
	int n;

	for (n = 0; n < 2000; n++) {
		struct vfe_dev d2;

		if (vfe_connect(&d2, h->sock, HV_TIMEOUT_MS) < 0)
			return hv_fail(h, "connect %d: %s", n, d2.err);
		vfe_close(&d2);
	}
	if (hv_open(h, HV_PF_DEFAULT) < 0 || hv_expect_alive(h) < 0)
		return -1;
	return hv_did(h, "took %d connect/close cycles and then served a frontend", n);
}

/* ---- the table ---------------------------------------------------------------------- */

/* A refused vhost_vring_state message: name, log, request, index, num, features first. */
#define STATE(name, log, ...) \
	HV_SCENARIO_ARG(name, log, p_state_refused, (&(const struct state_case){__VA_ARGS__}))

const struct hv_scenario hv_proto_scenarios[] = {
	HV_SCENARIO("size-short", "SET_VRING_NUM: payload of 4 bytes (expected 8..8)",
	            p_size_short),
	HV_SCENARIO("size-long", "SET_FEATURES: payload of 16 bytes (expected 8..8)", p_size_long),
	HV_SCENARIO("size-huge", "SET_MEM_TABLE: payload of 4294967295 bytes", p_size_huge),
	HV_SCENARIO("size-over-cap", "GET_CONFIG: payload of 5000 bytes", p_size_over_cap),
	HV_SCENARIO("size-on-get", "GET_FEATURES: payload of 16 bytes (expected 0..8)",
	            p_size_on_get),
	HV_SCENARIO("type-unknown", "UNKNOWN: unknown message type 999", p_type_unknown),
	HV_SCENARIO("type-zero", "UNKNOWN: unknown message type 0", p_type_zero),
	HV_SCENARIO("type-huge", "UNKNOWN: unknown message type 4294967295", p_type_huge),
	HV_SCENARIO("type-unsupported", "SET_LOG_BASE: not supported", p_type_unsupported),
	HV_SCENARIO("type-backend-only", "VRING_KICK: not supported", p_type_backend_only),
	HV_SCENARIO("flags-version", "GET_FEATURES: bad flags 0x2", p_flags_version),
	HV_SCENARIO("flags-reply", "GET_FEATURES: bad flags 0x5", p_flags_reply),
	HV_SCENARIO("fds-too-many", "more than 8 file descriptors in one message", p_fds_too_many),
	HV_SCENARIO("fds-flood", "more than 8 file descriptors in one message", p_fds_flood),
	HV_SCENARIO("fds-mem-count", "SET_MEM_TABLE: 1 regions but 2 file descriptors",
	            p_fds_mem_count),
	HV_SCENARIO("fds-unexpected", "SET_VRING_NUM: 1 file descriptors (expected 0..0)",
	            p_fds_unexpected),
	HV_SCENARIO("fds-unexpected-get",
	            "GET_PROTOCOL_FEATURES: 2 file descriptors (expected 0..0)",
	            p_fds_unexpected_get),
	HV_SCENARIO("fds-missing", "SET_BACKEND_REQ_FD: 0 file descriptors (expected 1..1)",
	            p_fds_missing),
	HV_SCENARIO("kick-nofd-with-fd",
	            "SET_VRING_KICK: queue 0: no-fd flag with 1 file descriptors",
	            p_kick_nofd_with_fd),
	HV_SCENARIO("call-fd-missing", "SET_VRING_CALL: queue 0: fd flag with 0 file descriptors",
	            p_call_fd_missing),
	HV_SCENARIO("kick-reserved-bits", "SET_VRING_KICK: reserved bits set in 0x300",
	            p_kick_reserved_bits),
	STATE("qidx-num", "SET_VRING_NUM: queue index 64 out of range",
	      VFE_SET_VRING_NUM, HV_QUEUES, HV_QSIZE, false),
	STATE("qidx-num-huge", "SET_VRING_NUM: queue index 4294967295 out of range",
	      VFE_SET_VRING_NUM, UINT32_MAX, HV_QSIZE, false),
	HV_SCENARIO("qidx-addr", "SET_VRING_ADDR: queue index 64 out of range", p_qidx_addr),
	STATE("qidx-base", "SET_VRING_BASE: queue index 64 out of range",
	      VFE_SET_VRING_BASE, HV_QUEUES, 0, false),
	HV_SCENARIO("qidx-kick", "SET_VRING_KICK: queue index 64 out of range", p_qidx_kick),
	HV_SCENARIO("qidx-call", "SET_VRING_CALL: queue index 255 out of range", p_qidx_call),
	HV_SCENARIO("qidx-err", "SET_VRING_ERR: queue index 64 out of range", p_qidx_err),
	STATE("qidx-enable", "SET_VRING_ENABLE: queue index 64 out of range",
	      VFE_SET_VRING_ENABLE, HV_QUEUES, 1, false),
	HV_SCENARIO("qidx-get-base", "GET_VRING_BASE: queue index 64 out of range",
	            p_qidx_get_base),
	STATE("ring-size-zero", "SET_VRING_NUM: ring size 0 is not in 1..1024",
	      VFE_SET_VRING_NUM, 0, 0, true),
	/* Above spur's cap (VHOST_MAX_QUEUE_SIZE, 1024), though a legal virtio size. */
	STATE("ring-size-2048", "SET_VRING_NUM: ring size 2048 is not in 1..1024",
	      VFE_SET_VRING_NUM, 0, 2048, true),
	STATE("ring-size-32768", "SET_VRING_NUM: ring size 32768 is not in 1..1024",
	      VFE_SET_VRING_NUM, 0, 32768, true),
	STATE("ring-size-32769", "SET_VRING_NUM: ring size 32769 is not in 1..1024",
	      VFE_SET_VRING_NUM, 0, 32769, true),
	STATE("ring-size-65536", "SET_VRING_NUM: ring size 65536 is not in 1..1024",
	      VFE_SET_VRING_NUM, 0, 65536, true),
	STATE("ring-size-npot", "SET_VRING_NUM: ring size 100 is not a power of two",
	      VFE_SET_VRING_NUM, 0, 100, true),
	HV_SCENARIO("ring-size-max-ok", NULL, p_ring_size_max_ok),
	HV_SCENARIO("ring-last-queue-ok", NULL, p_ring_last_queue_ok),
	STATE("base-reserved-bits", "SET_VRING_BASE: queue 0: base 0x10000 sets reserved bits",
	      VFE_SET_VRING_BASE, 0, 0x10000, true),
	HV_SCENARIO("addr-log-flag", "SET_VRING_ADDR: queue 0: dirty logging is not supported",
	            p_addr_log_flag),
	HV_SCENARIO("addr-unknown-flags", "SET_VRING_ADDR: queue 0: unknown flags 0x2",
	            p_addr_unknown_flags),
	STATE("enable-bad-value", "SET_VRING_ENABLE: queue 0: enable value 2 is not 0 or 1",
	      VFE_SET_VRING_ENABLE, 0, 2, false),
	HV_SCENARIO("get-base-idle", NULL, p_get_base_idle),
	HV_SCENARIO("features-unoffered",
	            "SET_FEATURES: feature bits 0x8000000000000000 were not offered",
	            p_features_unoffered),
	HV_SCENARIO("protocol-unoffered",
	            "SET_PROTOCOL_FEATURES: protocol feature bits 0x4000000000000000 were not "
	            "offered",
	            p_protocol_unoffered),
	HV_SCENARIO("status-too-big", "SET_STATUS: status 0x100 does not fit 8 bits",
	            p_status_too_big),
	HV_SCENARIO("config-beyond", "GET_CONFIG: offset 250 + size 60 is beyond", p_config_beyond),
	HV_SCENARIO("config-size-mismatch",
	            "GET_CONFIG: payload of 20 bytes for a 60-byte config access",
	            p_config_size_mismatch),
	HV_SCENARIO("config-size-huge",
	            "GET_CONFIG: payload of 12 bytes for a 4294967295-byte config access",
	            p_config_size_huge),
	HV_SCENARIO("set-config-refused", "SET_CONFIG of 1 bytes at offset 0 refused",
	            p_set_config_refused),
	HV_SCENARIO("truncated", "frontend disconnected in the middle of a message", p_truncated),
	HV_SCENARIO("fragmented", NULL, p_fragmented),
	HV_SCENARIO("backend-garbage", "backend channel: unexpected reply", p_backend_garbage),
	HV_SCENARIO("second-frontend", "refusing a second frontend", p_second_frontend),
	HV_SCENARIO("reply-flood", "GET_FEATURES: cannot send the reply", p_reply_flood),
	HV_SCENARIO("fds-then-eof", "frontend disconnected in the middle of a message",
	            p_fds_then_eof),
	HV_SCENARIO("connect-flood", NULL, p_connect_flood),
};
#undef STATE

const size_t hv_proto_count = sizeof(hv_proto_scenarios) / sizeof(hv_proto_scenarios[0]);
