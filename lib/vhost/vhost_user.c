/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user messages: reception, validation, dispatch and replies, and the
 * handlers of the device-level messages (features, protocol features,
 * owner, queue count, config space, status, reset, memory slots, backend
 * request channel). Ring and memory-table handlers are in
 * vhost_user_vring.c, the inflight region in vhost_inflight_fd.c.
 *
 * Reception never blocks: the session poller reads with nonblocking
 * recvmsg, header (12 bytes) then payload, and a message that arrives in
 * pieces is reassembled across polls. File descriptors (SCM_RIGHTS) are
 * collected from every piece, at most VHOST_USER_MAX_FDS; after the handler
 * ran, every fd it did not take is closed.
 *
 * Validation: the table g_msgs gives each request type its payload size
 * bounds, fd count bounds and the protocol feature it needs; handlers check
 * the values (queue index below the backend's max_queues, ring sizes,
 * flags, config ranges, ...). Any violation is logged once as
 * "<controller>: <MESSAGE>: <what>", answered with a failed REPLY_ACK when
 * one was asked for, and closes the connection; the controller keeps
 * listening and nothing else is affected. Unknown and unsupported types are
 * violations too; the process never exits on input.
 *
 * One message at a time: a handler that needs the poll groups leaves
 * s->pending > 0 and optionally a finish step; reading stops until the acks
 * are in (vhost_session_op_done), then finish runs, the REPLY_ACK (for
 * messages without a reply of their own) is sent and reading resumes.
 *
 * Before the first message is handled, the memory code learns the
 * reactors' cores (its unmap helper keeps off them, vhost_mem.c).
 *
 * Threads: everything here runs on the application thread.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhost_user.h"

/* Messages handled per poll before yielding to other work on the thread. */
#define VHOST_USER_MSG_BUDGET 64

static int user_get_features(struct vhost_session *s);
static int user_set_features(struct vhost_session *s);
static int user_set_owner(struct vhost_session *s);
static int user_reset_owner(struct vhost_session *s);
static int user_get_protocol_features(struct vhost_session *s);
static int user_set_protocol_features(struct vhost_session *s);
static int user_get_queue_num(struct vhost_session *s);
static int user_set_backend_req_fd(struct vhost_session *s);
static int user_get_config(struct vhost_session *s);
static int user_set_config(struct vhost_session *s);
static int user_reset_device(struct vhost_session *s);
static int user_get_max_mem_slots(struct vhost_session *s);
static int user_set_status(struct vhost_session *s);
static int user_get_status(struct vhost_session *s);

struct msg_desc {
	const char *name;
	uint32_t min_size, max_size;
	uint8_t min_fds, max_fds;
	int8_t pfeature;        /* protocol feature bit the message needs, -1: none */
	bool has_reply;         /* answers with its own reply (no REPLY_ACK) */
	int (*handler)(struct vhost_session *s);
};

#define U64 sizeof(uint64_t)
#define STATE sizeof(struct vhost_user_vring_state)
#define MEM_MAX (8 + VHOST_USER_MEM_BASELINE_REGIONS * sizeof(struct vhost_user_mem_region))
#define MEM_REG sizeof(struct vhost_user_mem_reg)
#define CONFIG_MAX (VHOST_USER_CONFIG_HDR_SIZE + VHOST_USER_MAX_CONFIG_SIZE)
#define INFLIGHT sizeof(struct vhost_user_inflight)
/* Messages without payload: tolerate a frontend that sends a zero u64. */
#define NONE 0, U64

static const struct msg_desc g_msgs[VHOST_USER_REQUEST_MAX] = {
	[VHOST_USER_GET_FEATURES] = { "GET_FEATURES", NONE, 0, 0, -1, true, user_get_features },
	[VHOST_USER_SET_FEATURES] = { "SET_FEATURES", U64, U64, 0, 0, -1, false, user_set_features },
	[VHOST_USER_SET_OWNER] = { "SET_OWNER", NONE, 0, 0, -1, false, user_set_owner },
	[VHOST_USER_RESET_OWNER] = { "RESET_OWNER", NONE, 0, 0, -1, false, user_reset_owner },
	[VHOST_USER_SET_MEM_TABLE] = { "SET_MEM_TABLE", 8, MEM_MAX, 0, VHOST_USER_MAX_FDS, -1,
				       false, vhost_user_set_mem_table },
	[VHOST_USER_SET_LOG_BASE] = { "SET_LOG_BASE", 0, 0, 0, 0, -1, false, NULL },
	[VHOST_USER_SET_LOG_FD] = { "SET_LOG_FD", 0, 0, 0, 0, -1, false, NULL },
	[VHOST_USER_SET_VRING_NUM] = { "SET_VRING_NUM", STATE, STATE, 0, 0, -1, false,
				       vhost_user_set_vring_num },
	[VHOST_USER_SET_VRING_ADDR] = { "SET_VRING_ADDR", sizeof(struct vhost_user_vring_addr),
					sizeof(struct vhost_user_vring_addr), 0, 0, -1, false,
					vhost_user_set_vring_addr },
	[VHOST_USER_SET_VRING_BASE] = { "SET_VRING_BASE", STATE, STATE, 0, 0, -1, false,
					vhost_user_set_vring_base },
	[VHOST_USER_GET_VRING_BASE] = { "GET_VRING_BASE", STATE, STATE, 0, 0, -1, true,
					vhost_user_get_vring_base },
	[VHOST_USER_SET_VRING_KICK] = { "SET_VRING_KICK", U64, U64, 0, 1, -1, false,
					vhost_user_set_vring_fd },
	[VHOST_USER_SET_VRING_CALL] = { "SET_VRING_CALL", U64, U64, 0, 1, -1, false,
					vhost_user_set_vring_fd },
	[VHOST_USER_SET_VRING_ERR] = { "SET_VRING_ERR", U64, U64, 0, 1, -1, false,
				       vhost_user_set_vring_fd },
	[VHOST_USER_GET_PROTOCOL_FEATURES] = { "GET_PROTOCOL_FEATURES", NONE, 0, 0, -1, true,
					       user_get_protocol_features },
	[VHOST_USER_SET_PROTOCOL_FEATURES] = { "SET_PROTOCOL_FEATURES", U64, U64, 0, 0, -1,
					       false, user_set_protocol_features },
	[VHOST_USER_GET_QUEUE_NUM] = { "GET_QUEUE_NUM", NONE, 0, 0, VHOST_USER_PROTOCOL_F_MQ,
				       true, user_get_queue_num },
	[VHOST_USER_SET_VRING_ENABLE] = { "SET_VRING_ENABLE", STATE, STATE, 0, 0, -1, false,
					  vhost_user_set_vring_enable },
	[VHOST_USER_SEND_RARP] = { "SEND_RARP", 0, 0, 0, 0, -1, false, NULL },
	[VHOST_USER_NET_SET_MTU] = { "NET_SET_MTU", 0, 0, 0, 0, -1, false, NULL },
	[VHOST_USER_SET_BACKEND_REQ_FD] = { "SET_BACKEND_REQ_FD", NONE, 1, 1,
					    VHOST_USER_PROTOCOL_F_BACKEND_REQ, false,
					    user_set_backend_req_fd },
	[VHOST_USER_IOTLB_MSG] = { "IOTLB_MSG", 0, 0, 0, 0, -1, false, NULL },
	[VHOST_USER_SET_VRING_ENDIAN] = { "SET_VRING_ENDIAN", 0, 0, 0, 0, -1, false, NULL },
	[VHOST_USER_GET_CONFIG] = { "GET_CONFIG", VHOST_USER_CONFIG_HDR_SIZE, CONFIG_MAX, 0, 0,
				    VHOST_USER_PROTOCOL_F_CONFIG, true, user_get_config },
	[VHOST_USER_SET_CONFIG] = { "SET_CONFIG", VHOST_USER_CONFIG_HDR_SIZE, CONFIG_MAX, 0, 0,
				    VHOST_USER_PROTOCOL_F_CONFIG, false, user_set_config },
	[VHOST_USER_CREATE_CRYPTO_SESSION] = { "CREATE_CRYPTO_SESSION", 0, 0, 0, 0, -1, false,
					       NULL },
	[VHOST_USER_CLOSE_CRYPTO_SESSION] = { "CLOSE_CRYPTO_SESSION", 0, 0, 0, 0, -1, false,
					      NULL },
	[VHOST_USER_POSTCOPY_ADVISE] = { "POSTCOPY_ADVISE", 0, 0, 0, 0, -1, false, NULL },
	[VHOST_USER_POSTCOPY_LISTEN] = { "POSTCOPY_LISTEN", 0, 0, 0, 0, -1, false, NULL },
	[VHOST_USER_POSTCOPY_END] = { "POSTCOPY_END", 0, 0, 0, 0, -1, false, NULL },
	[VHOST_USER_GET_INFLIGHT_FD] = { "GET_INFLIGHT_FD", VHOST_USER_INFLIGHT_MIN_SIZE,
					 INFLIGHT, 0, 0, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD,
					 true, vhost_user_get_inflight_fd },
	[VHOST_USER_SET_INFLIGHT_FD] = { "SET_INFLIGHT_FD", VHOST_USER_INFLIGHT_MIN_SIZE,
					 INFLIGHT, 1, 1, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD,
					 false, vhost_user_set_inflight_fd },
	[VHOST_USER_GPU_SET_SOCKET] = { "GPU_SET_SOCKET", 0, 0, 0, 0, -1, false, NULL },
	[VHOST_USER_RESET_DEVICE] = { "RESET_DEVICE", NONE, 0, 0,
				      VHOST_USER_PROTOCOL_F_RESET_DEVICE, false,
				      user_reset_device },
	[VHOST_USER_VRING_KICK] = { "VRING_KICK", 0, 0, 0, 0, -1, false, NULL },
	[VHOST_USER_GET_MAX_MEM_SLOTS] = { "GET_MAX_MEM_SLOTS", NONE, 0, 0,
					   VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS, true,
					   user_get_max_mem_slots },
	[VHOST_USER_ADD_MEM_REG] = { "ADD_MEM_REG", MEM_REG, MEM_REG, 1, 1,
				     VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS, false,
				     vhost_user_add_mem_reg },
	/* The spec lets a backend accept (and close) one stray fd here. */
	[VHOST_USER_REM_MEM_REG] = { "REM_MEM_REG", MEM_REG, MEM_REG, 0, 1,
				     VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS, false,
				     vhost_user_rem_mem_reg },
	[VHOST_USER_SET_STATUS] = { "SET_STATUS", U64, U64, 0, 0, VHOST_USER_PROTOCOL_F_STATUS,
				    false, user_set_status },
	[VHOST_USER_GET_STATUS] = { "GET_STATUS", NONE, 0, 0, VHOST_USER_PROTOCOL_F_STATUS, true,
				    user_get_status },
};

const char *
vhost_user_request_name(uint32_t request)
{
	if (request < VHOST_USER_REQUEST_MAX && g_msgs[request].name != NULL) {
		return g_msgs[request].name;
	}
	return "UNKNOWN";
}

static const struct msg_desc *
msg_desc(uint32_t request)
{
	if (request < VHOST_USER_REQUEST_MAX && g_msgs[request].name != NULL) {
		return &g_msgs[request];
	}
	return NULL;
}

/* ---- errors and replies -------------------------------------------------------- */

int
vhost_msg_error(struct vhost_session *s, const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	SPUR_ERRLOG("%s: %s: %s\n", s->ctrlr->name, vhost_user_request_name(s->hdr.request),
		    detail);
	s->msg_failed = true;
	return -EINVAL;
}

int
vhost_user_reply(struct vhost_session *s, const void *payload, uint32_t size, int fd)
{
	struct vhost_user_hdr hdr = {
		.request = s->hdr.request,
		.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK,
		.size = size,
	};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[2] = {
		{ .iov_base = &hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)payload, .iov_len = size },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
	struct cmsghdr *cm;
	ssize_t n;

	if (s->fd < 0) {
		return -ENOTCONN;
	}
	if (fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	n = sendmsg(s->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n != (ssize_t)(sizeof(hdr) + size)) {
		/* Replies are tiny: a full socket means the frontend stopped reading. */
		SPUR_ERRLOG("%s: %s: cannot send the reply: %s\n", s->ctrlr->name,
			    vhost_user_request_name(s->hdr.request),
			    n < 0 ? strerror(errno) : "short write");
		s->msg_failed = true;
		return n < 0 ? -errno : -EIO;
	}
	return 0;
}

static int
reply_u64(struct vhost_session *s, uint64_t v)
{
	return vhost_user_reply(s, &v, sizeof(v), -1);
}

/* ---- queues: readiness, start, stop ------------------------------------------ */

bool
vhost_queue_is_enabled(const struct vhost_session *s, const struct vhost_session_queue *sq)
{
	return sq->q.enabled || !vhost_session_has_feature(s, VHOST_USER_F_PROTOCOL_FEATURES);
}

static bool
queue_ready(const struct vhost_session *s, const struct vhost_session_queue *sq)
{
	return sq->q.state == VHOST_QUEUE_IDLE && sq->kick_set && sq->q.have_num &&
	       sq->q.have_addr && s->mem != NULL && vhost_queue_is_enabled(s, sq);
}

int
vhost_session_start_ready(struct vhost_session *s)
{
	uint16_t i;
	int rc;

	for (i = 0; i < s->max_queues; i++) {
		if (queue_ready(s, &s->queues[i])) {
			rc = vhost_pg_queue_start(s, &s->queues[i]);
			if (rc != 0) {
				return rc;
			}
		}
	}
	return 0;
}

void
vhost_session_stop_all(struct vhost_session *s, enum vhost_stop_reason reason)
{
	uint16_t i;

	for (i = 0; i < s->max_queues; i++) {
		if (s->queues[i].q.state == VHOST_QUEUE_STARTED) {
			vhost_pg_queue_stop(s, &s->queues[i], reason);
		}
	}
}

static void
close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

void
vhost_queue_reset(struct vhost_session_queue *sq)
{
	close_fd(&sq->q.kick_fd);
	close_fd(&sq->q.call_fd);
	close_fd(&sq->q.err_fd);
	memset(&sq->q.cfg, 0, sizeof(sq->q.cfg));
	sq->q.have_num = sq->q.have_addr = sq->q.have_base = false;
	sq->q.enabled = false;
	sq->kick_set = false;
	sq->broken = false;
}

/* ---- device-level handlers ------------------------------------------------------ */

static uint64_t
offered_features(const struct vhost_session *s)
{
	return s->ctrlr->ops->features(s->ctrlr) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
}

static uint64_t
offered_protocol_features(const struct vhost_session *s)
{
	const struct vhost_backend_ops *ops = s->ctrlr->ops;
	uint64_t pf = (1ull << VHOST_USER_PROTOCOL_F_MQ) |
		      (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
		      (1ull << VHOST_USER_PROTOCOL_F_BACKEND_REQ) |
		      (1ull << VHOST_USER_PROTOCOL_F_RESET_DEVICE) |
		      (1ull << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
		      (1ull << VHOST_USER_PROTOCOL_F_STATUS);

	if (ops->config_size > 0 && ops->get_config != NULL) {
		pf |= 1ull << VHOST_USER_PROTOCOL_F_CONFIG;
	}
	if (ops->queue_resubmit != NULL) {
		pf |= 1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD;
	}
	return pf;
}

static int
user_get_features(struct vhost_session *s)
{
	uint64_t f = offered_features(s);

	SPUR_DEBUGLOG(VHOST_LOG, "%s: GET_FEATURES -> 0x%" PRIx64 "\n", s->ctrlr->name, f);
	return reply_u64(s, f);
}

static int
user_set_features(struct vhost_session *s)
{
	uint64_t f = s->payload.u64, offered = offered_features(s);
	uint16_t i;

	SPUR_DEBUGLOG(VHOST_LOG, "%s: SET_FEATURES 0x%" PRIx64 "\n", s->ctrlr->name, f);
	if (f & ~offered) {
		return vhost_msg_error(s, "feature bits 0x%" PRIx64 " were not offered",
				       f & ~offered);
	}
	for (i = 0; i < s->max_queues && f != s->features; i++) {
		if (s->queues[i].q.state == VHOST_QUEUE_STARTED) {
			return vhost_msg_error(s, "features 0x%" PRIx64 " -> 0x%" PRIx64
					       " changed while queue %u runs", s->features, f, i);
		}
	}
	s->features = f;
	s->features_set = true;
	/* Without PROTOCOL_FEATURES every ring is enabled at once. */
	return vhost_session_start_ready(s);
}

static int
user_set_owner(struct vhost_session *s)
{
	SPUR_DEBUGLOG(VHOST_LOG, "%s: SET_OWNER\n", s->ctrlr->name);
	return 0;
}

static void
reset_owner_done(struct vhost_session *s)
{
	uint16_t i;

	for (i = 0; i < s->max_queues; i++) {
		s->queues[i].q.enabled = false;
	}
}

/* Deprecated; the spec suggests ignoring it or disabling every ring. */
static int
user_reset_owner(struct vhost_session *s)
{
	SPUR_DEBUGLOG(VHOST_LOG, "%s: RESET_OWNER: disabling every ring\n", s->ctrlr->name);
	vhost_session_stop_all(s, VHOST_STOP_DISABLE);
	s->finish = reset_owner_done;
	return 0;
}

static int
user_get_protocol_features(struct vhost_session *s)
{
	uint64_t pf = offered_protocol_features(s);

	SPUR_DEBUGLOG(VHOST_LOG, "%s: GET_PROTOCOL_FEATURES -> 0x%" PRIx64 "\n",
		      s->ctrlr->name, pf);
	return reply_u64(s, pf);
}

static int
user_set_protocol_features(struct vhost_session *s)
{
	uint64_t pf = s->payload.u64, offered = offered_protocol_features(s);

	SPUR_DEBUGLOG(VHOST_LOG, "%s: SET_PROTOCOL_FEATURES 0x%" PRIx64 "\n", s->ctrlr->name,
		      pf);
	if (pf & ~offered) {
		return vhost_msg_error(s, "protocol feature bits 0x%" PRIx64 " were not offered",
				       pf & ~offered);
	}
	s->protocol_features = pf;
	return 0;
}

static int
user_get_queue_num(struct vhost_session *s)
{
	SPUR_DEBUGLOG(VHOST_LOG, "%s: GET_QUEUE_NUM -> %u\n", s->ctrlr->name, s->max_queues);
	return reply_u64(s, s->max_queues);
}

static int
user_set_backend_req_fd(struct vhost_session *s)
{
	int fd = s->rx_fds[0], rc;

	s->rx_fds[0] = -1;
	SPUR_DEBUGLOG(VHOST_LOG, "%s: SET_BACKEND_REQ_FD fd %d\n", s->ctrlr->name, fd);
	if (s->backend_fd >= 0) {
		spur_poller_remove_fd(s->poller, s->backend_fd);
		close(s->backend_fd);
	}
	s->backend_fd = fd;
	s->backend_acks_due = 0;
	s->backend_rx_got = 0;
	/* Our side only: the reactor must never block on this channel. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		return vhost_msg_error(s, "cannot make the channel nonblocking: %s",
				       strerror(errno));
	}
	rc = spur_poller_add_fd(s->poller, fd, EPOLLIN);
	if (rc != 0) {
		return vhost_msg_error(s, "cannot watch the channel: %s", strerror(-rc));
	}
	return 0;
}

static int
user_get_config(struct vhost_session *s)
{
	const struct vhost_backend_ops *ops = s->ctrlr->ops;
	struct vhost_user_config *cfg = &s->payload.config;
	uint8_t space[VHOST_USER_MAX_CONFIG_SIZE];
	uint32_t have = SPUR_MIN(ops->config_size, VHOST_USER_MAX_CONFIG_SIZE);

	SPUR_DEBUGLOG(VHOST_LOG, "%s: GET_CONFIG offset %u size %u flags %u\n", s->ctrlr->name,
		      cfg->offset, cfg->size, cfg->flags);
	if (cfg->size > VHOST_USER_MAX_CONFIG_SIZE ||
	    s->hdr.size != VHOST_USER_CONFIG_HDR_SIZE + cfg->size) {
		return vhost_msg_error(s, "payload of %u bytes for a %u-byte config access",
				       s->hdr.size, cfg->size);
	}
	if (cfg->offset > have || cfg->size > have - cfg->offset) {
		/* The spec's answer to an impossible read: a reply without payload. */
		SPUR_ERRLOG("%s: GET_CONFIG: offset %u + size %u is beyond the %u-byte config "
			    "space\n", s->ctrlr->name, cfg->offset, cfg->size, have);
		return vhost_user_reply(s, NULL, 0, -1);
	}
	memset(space, 0, sizeof(space));
	ops->get_config(s->ctrlr, space, have);
	memcpy(cfg->data, space + cfg->offset, cfg->size);
	return vhost_user_reply(s, cfg, VHOST_USER_CONFIG_HDR_SIZE + cfg->size, -1);
}

static int
user_set_config(struct vhost_session *s)
{
	const struct vhost_backend_ops *ops = s->ctrlr->ops;
	struct vhost_user_config *cfg = &s->payload.config;
	uint32_t have = SPUR_MIN(ops->config_size, VHOST_USER_MAX_CONFIG_SIZE);
	int rc;

	SPUR_DEBUGLOG(VHOST_LOG, "%s: SET_CONFIG offset %u size %u flags %u\n", s->ctrlr->name,
		      cfg->offset, cfg->size, cfg->flags);
	if (cfg->size > VHOST_USER_MAX_CONFIG_SIZE ||
	    s->hdr.size != VHOST_USER_CONFIG_HDR_SIZE + cfg->size) {
		return vhost_msg_error(s, "payload of %u bytes for a %u-byte config access",
				       s->hdr.size, cfg->size);
	}
	if (cfg->offset > have || cfg->size > have - cfg->offset) {
		return vhost_msg_error(s, "offset %u + size %u is beyond the %u-byte config space",
				       cfg->offset, cfg->size, have);
	}
	if (cfg->flags > 1) {
		return vhost_msg_error(s, "unknown flags 0x%x", cfg->flags);
	}
	/* A write the device refuses is the driver's error: failed ack, no disconnect. */
	rc = ops->set_config ? ops->set_config(s->ctrlr, cfg->data, cfg->offset, cfg->size)
			     : -ENOTSUP;
	if (rc != 0) {
		SPUR_NOTICELOG("%s: SET_CONFIG of %u bytes at offset %u refused: %s\n",
			       s->ctrlr->name, cfg->size, cfg->offset, strerror(-rc));
		return 1;
	}
	return 0;
}

static void
reset_device_done(struct vhost_session *s)
{
	uint16_t i;

	for (i = 0; i < VHOST_MAX_QUEUES; i++) {
		vhost_queue_reset(&s->queues[i]);
	}
	s->features = 0;
	s->features_set = false;
	s->status = 0;
	vhost_inflight_release(s);
}

static int
user_reset_device(struct vhost_session *s)
{
	SPUR_DEBUGLOG(VHOST_LOG, "%s: RESET_DEVICE\n", s->ctrlr->name);
	vhost_session_stop_all(s, VHOST_STOP_RESET);
	s->finish = reset_device_done;
	return 0;
}

static int
user_get_max_mem_slots(struct vhost_session *s)
{
	SPUR_DEBUGLOG(VHOST_LOG, "%s: GET_MAX_MEM_SLOTS -> %u\n", s->ctrlr->name,
		      VHOST_MEM_MAX_REGIONS);
	return reply_u64(s, VHOST_MEM_MAX_REGIONS);
}

static int
user_set_status(struct vhost_session *s)
{
	uint64_t v = s->payload.u64;

	SPUR_DEBUGLOG(VHOST_LOG, "%s: SET_STATUS 0x%" PRIx64 "\n", s->ctrlr->name, v);
	if (v > 0xff) {
		return vhost_msg_error(s, "status 0x%" PRIx64 " does not fit 8 bits", v);
	}
	if ((v & VHOST_STATUS_FAILED) && !(s->status & VHOST_STATUS_FAILED)) {
		SPUR_NOTICELOG("%s: the guest driver set FAILED\n", s->ctrlr->name);
	}
	s->status = (uint8_t)v;
	return 0;
}

static int
user_get_status(struct vhost_session *s)
{
	uint64_t v = s->status;
	uint16_t i;

	for (i = 0; i < s->max_queues; i++) {
		if (s->queues[i].broken) {
			v |= VHOST_STATUS_NEEDS_RESET;
		}
	}
	SPUR_DEBUGLOG(VHOST_LOG, "%s: GET_STATUS -> 0x%" PRIx64 "\n", s->ctrlr->name, v);
	return reply_u64(s, v);
}

/* ---- reception ----------------------------------------------------------------- */

static void
rx_reset(struct vhost_session *s)
{
	uint32_t i;

	for (i = 0; i < s->rx_nfds; i++) {
		if (s->rx_fds[i] >= 0) {
			close(s->rx_fds[i]);
		}
		s->rx_fds[i] = -1;
	}
	s->rx_nfds = 0;
	s->rx_got = 0;
}

/* Take the fds of one recvmsg; false if there were more than we accept. */
static bool
rx_take_fds(struct vhost_session *s, struct msghdr *mh)
{
	struct cmsghdr *cm;
	bool ok = (mh->msg_flags & MSG_CTRUNC) == 0;
	size_t i, n;
	int fd;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
			continue;
		}
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (s->rx_nfds < VHOST_USER_MAX_FDS) {
				s->rx_fds[s->rx_nfds++] = fd;
			} else {
				close(fd);
				ok = false;
			}
		}
	}
	return ok;
}

/* Header complete: check what can be checked before the payload arrives. */
static int
rx_check_header(struct vhost_session *s)
{
	const struct msg_desc *d = msg_desc(s->hdr.request);

	if (d == NULL) {
		return vhost_msg_error(s, "unknown message type %u", s->hdr.request);
	}
	if ((s->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    (s->hdr.flags & VHOST_USER_REPLY_MASK)) {
		return vhost_msg_error(s, "bad flags 0x%x (version 1 requests only)",
				       s->hdr.flags);
	}
	if (s->hdr.size > VHOST_USER_PAYLOAD_CAP || s->hdr.size > d->max_size ||
	    s->hdr.size < d->min_size) {
		return vhost_msg_error(s, "payload of %u bytes (expected %u..%u)", s->hdr.size,
				       d->min_size, d->max_size);
	}
	return 0;
}

/*
 * Read what is available of the current message. 1: complete; 0: needs more
 * (would block); -1: the connection is done (EOF, error or an invalid
 * header; the session is closing).
 */
static int
rx_message(struct vhost_session *s)
{
	union {
		char buf[CMSG_SPACE(VHOST_USER_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh;
	struct iovec iov;
	ssize_t n;

	for (;;) {
		if (s->rx_got < VHOST_USER_HDR_SIZE) {
			iov.iov_base = (uint8_t *)&s->hdr + s->rx_got;
			iov.iov_len = VHOST_USER_HDR_SIZE - s->rx_got;
		} else if (s->rx_got - VHOST_USER_HDR_SIZE < s->hdr.size) {
			iov.iov_base = s->payload.raw + (s->rx_got - VHOST_USER_HDR_SIZE);
			iov.iov_len = s->hdr.size - (s->rx_got - VHOST_USER_HDR_SIZE);
		} else {
			return 1;
		}
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(s->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno == EAGAIN) {
				return 0;
			}
			if (errno == ECONNRESET) {
				SPUR_NOTICELOG("%s: frontend disconnected\n", s->ctrlr->name);
			} else {
				SPUR_ERRLOG("%s: recvmsg: %s\n", s->ctrlr->name, strerror(errno));
			}
			vhost_session_close(s);
			return -1;
		}
		if (n == 0) {
			if (s->rx_got == 0) {
				SPUR_NOTICELOG("%s: frontend disconnected\n", s->ctrlr->name);
			} else {
				SPUR_ERRLOG("%s: frontend disconnected in the middle of a message\n",
					    s->ctrlr->name);
			}
			vhost_session_close(s);
			return -1;
		}
		if (!rx_take_fds(s, &mh)) {
			SPUR_ERRLOG("%s: more than %u file descriptors in one message\n",
				    s->ctrlr->name, VHOST_USER_MAX_FDS);
			vhost_session_close(s);
			return -1;
		}
		s->rx_got += (uint32_t)n;
		if (s->rx_got == VHOST_USER_HDR_SIZE && rx_check_header(s) != 0) {
			vhost_session_close(s);
			return -1;
		}
	}
}

/* ---- dispatch -------------------------------------------------------------------- */

static bool
need_ack(const struct vhost_session *s)
{
	const struct msg_desc *d = msg_desc(s->hdr.request);

	return (s->hdr.flags & VHOST_USER_NEED_REPLY_MASK) && d != NULL && !d->has_reply;
}

/*
 * Drive the current message to its end: run finish steps once nothing is
 * pending, then ack and let reading resume. Returns true when the message
 * is complete (reading may go on), false while it waits or after closing.
 */
static bool
msg_continue(struct vhost_session *s, int ack)
{
	void (*fn)(struct vhost_session *s);

	while (s->state == VHOST_SESSION_ACTIVE && s->pending == 0 && s->finish != NULL &&
	       !s->msg_failed && s->pending_err == 0) {
		fn = s->finish;
		s->finish = NULL;
		fn(s);
	}
	if (s->state != VHOST_SESSION_ACTIVE || s->pending > 0) {
		return false;
	}
	s->finish = NULL;
	if (s->msg_failed || s->pending_err != 0) {
		if (need_ack(s)) {
			reply_u64(s, 1);
		}
		vhost_session_close(s);
		return false;
	}
	if (need_ack(s) && reply_u64(s, (uint64_t)ack) != 0) {
		vhost_session_close(s);
		return false;
	}
	s->in_msg = false;
	return true;
}

/*
 * Before the first message creates a mapping: tell the memory code which
 * cores the reactors have, so its unmap helper runs elsewhere (vhost_mem.c).
 * The reactor set is fixed while the environment runs.
 */
static void
tell_mem_reactor_cores(void)
{
	static bool told;
	const struct spur_cpuset *reactors;
	cpu_set_t set;
	uint32_t core;

	if (told) {
		return;
	}
	told = true;
	reactors = spur_env_get_cpumask();
	CPU_ZERO(&set);
	SPUR_CPUSET_FOREACH(core, reactors) {
		if (core < CPU_SETSIZE) {
			CPU_SET(core, &set);
		}
	}
	vhost_mem_set_reactor_cores(&set);
}

static void
msg_handle(struct vhost_session *s)
{
	const struct msg_desc *d = msg_desc(s->hdr.request);
	int rc;

	tell_mem_reactor_cores();
	s->in_msg = true;
	s->msg_failed = false;
	s->pending_err = 0;
	s->finish = NULL;
	SPUR_DEBUGLOG(VHOST_LOG, "%s: <- %s (flags 0x%x, %u bytes, %u fds)\n", s->ctrlr->name,
		      d->name, s->hdr.flags, s->hdr.size, s->rx_nfds);
	if (d->handler == NULL) {
		rc = vhost_msg_error(s, "not supported");
	} else if (s->rx_nfds < d->min_fds || s->rx_nfds > d->max_fds) {
		rc = vhost_msg_error(s, "%u file descriptors (expected %u..%u)", s->rx_nfds,
				     d->min_fds, d->max_fds);
	} else if (d->pfeature >= 0 && !vhost_session_has_pf(s, (unsigned)d->pfeature)) {
		rc = vhost_msg_error(s, "needs protocol feature %d, not negotiated", d->pfeature);
	} else {
		rc = d->handler(s);
	}
	/* Every fd the handler did not take is closed now. */
	rx_reset(s);
	if (rc < 0) {
		s->msg_failed = true;
	}
	msg_continue(s, rc > 0 ? 1 : 0);
}

static void
process_msg(void *ctx)
{
	struct vhost_session *s = ctx;

	s->process_queued = false;
	if (s->state == VHOST_SESSION_ACTIVE) {
		vhost_session_process(s);
	} else {
		vhost_session_teardown(s);
	}
}

void
vhost_session_process(struct vhost_session *s)
{
	int budget = VHOST_USER_MSG_BUDGET;

	while (s->state == VHOST_SESSION_ACTIVE && !s->in_msg) {
		if (budget-- == 0) {
			/* Yield; the socket edge was consumed, so come back by message. */
			if (!s->process_queued &&
			    spur_thread_send_msg(s->thread, process_msg, s) == 0) {
				s->process_queued = true;
			}
			return;
		}
		if (rx_message(s) != 1) {
			return;
		}
		msg_handle(s);
	}
}

int
vhost_session_poll(void *ctx)
{
	struct vhost_session *s = ctx;

	if (s->state != VHOST_SESSION_ACTIVE) {
		return SPUR_POLLER_IDLE;
	}
	if (s->backend_fd >= 0) {
		vhost_session_backend_read(s);
	}
	vhost_session_process(s);
	return SPUR_POLLER_IDLE;
}

void
vhost_session_op_done(struct vhost_session *s, int rc)
{
	assert(s->pending > 0);
	s->pending--;
	if (rc != 0 && s->pending_err == 0) {
		s->pending_err = rc;
	}
	if (s->pending > 0) {
		return;
	}
	if (s->state != VHOST_SESSION_ACTIVE) {
		vhost_session_teardown(s);
		return;
	}
	if (s->in_msg && msg_continue(s, 0)) {
		vhost_session_process(s);
	}
}
