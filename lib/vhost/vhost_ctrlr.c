/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Controllers and the lifecycle of their sessions: the listening socket at
 * <vhost dir>/<name>, accepting one frontend at a time, session creation
 * and teardown, controller deletion and shutdown, and the backend request
 * channel (config-change notifications).
 *
 * Controller states (application thread):
 *
 *   create --> LISTENING --accept--> LISTENING + session (one frontend)
 *                  |   ^                    |
 *                  |   +-- session freed ---+  (EOF, violation: keeps listening;
 *                  |                            QEMU reconnect=1 comes back)
 *                  +--delete (force if a session)--> DELETING: socket closed
 *                     and removed at once, the session (if any) torn down,
 *                     then backend destruct, free, done(ctx, 0).
 *
 * Invariants: at most one session per controller; a connection arriving
 * while one is ACTIVE is accepted and closed with a log line, one arriving
 * while the previous session is CLOSING waits in the backlog until that
 * teardown finished. The socket file is removed only if it is still the
 * one we bound (same inode). A stale socket file from a crash (nobody
 * accepts: ECONNREFUSED) is replaced; a live listener is refused with
 * -EADDRINUSE, anything that is not a socket with -EEXIST.
 *
 * Session teardown (see vhost_user.h for the states): close the socket at
 * once, stop every started queue (the backend finishes or fails in-flight
 * requests; their marks in the inflight region stay for recovery when the
 * frontend is gone), then free. The free happens only in teardown, on the
 * application thread, with nothing pending and no message queued for the
 * session.
 *
 * Threads: everything here runs on the application thread (the thread
 * that created the controller).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "spur/app.h"
#include "vhost_user.h"

#define LISTEN_BACKLOG 16
/* Safety-net period of the socket pollers (their fds wake them at once). */
#define SOCKET_POLL_PERIOD_US 100000
#define TEARDOWN_RETRY_US 10000
#define VHOST_DEFAULT_IOPS_THRESHOLD 60000u

struct ctrlr_impl {
	struct vhost_ctrlr c;
	struct spur_thread *thread;
	dev_t sock_dev;
	ino_t sock_ino;
	bool deleting;
	void (*delete_done)(void *ctx, int rc);
	void *delete_ctx;
};

static struct vhost_ctrlr *g_ctrlrs;

static struct {
	void (*done)(void);
	uint32_t left;
} g_fini;

static struct ctrlr_impl *
impl(struct vhost_ctrlr *c)
{
	return SPUR_CONTAINER_OF(c, struct ctrlr_impl, c);
}

struct vhost_ctrlr *
vhost_ctrlr_find(const char *name)
{
	struct vhost_ctrlr *c;

	for (c = g_ctrlrs; c != NULL && name != NULL; c = c->next) {
		if (strcmp(c->name, name) == 0) {
			return c;
		}
	}
	return NULL;
}

struct vhost_ctrlr *
vhost_ctrlr_first(void)
{
	return g_ctrlrs;
}

/* ---- completions ------------------------------------------------------------------ */

struct done_msg {
	void (*done)(void *ctx, int rc);
	void *ctx;
	int rc;
};

static void
done_msg_run(void *arg)
{
	struct done_msg *m = arg;

	m->done(m->ctx, m->rc);
	free(m);
}

/* Call done(ctx, rc) from the thread's queue, never from inside the caller. */
static void
complete_later(struct spur_thread *thread, void (*done)(void *ctx, int rc), void *ctx, int rc)
{
	struct done_msg *m;

	if (done == NULL) {
		return;
	}
	m = malloc(sizeof(*m));
	if (m != NULL) {
		m->done = done;
		m->ctx = ctx;
		m->rc = rc;
	}
	if (m == NULL || spur_thread_send_msg(thread, done_msg_run, m) != 0) {
		free(m);
		done(ctx, rc);
	}
}

/* ---- listening socket ----------------------------------------------------------- */

/* path exists: 0 if it was a stale socket (now removed), else a negative errno. */
static int
remove_stale(const char *name, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc, err;

	if (lstat(path, &st) != 0) {
		return errno == ENOENT ? 0 : -errno;
	}
	if (!S_ISSOCK(st.st_mode)) {
		SPUR_ERRLOG("vhost controller %s: %s exists and is not a socket\n", name, path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	err = errno;
	close(fd);
	if (rc == 0 || err == EAGAIN || err == EINPROGRESS) {
		SPUR_ERRLOG("vhost controller %s: %s is in use by a live listener\n", name, path);
		return -EADDRINUSE;
	}
	if (err != ECONNREFUSED && err != ENOENT) {
		SPUR_ERRLOG("vhost controller %s: cannot probe %s: %s\n", name, path, strerror(err));
		return -err;
	}
	SPUR_NOTICELOG("vhost controller %s: replacing the stale socket %s\n", name, path);
	if (unlink(path) != 0 && errno != ENOENT) {
		return -errno;
	}
	return 0;
}

static int
listen_socket(struct ctrlr_impl *ci, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc, tries;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	for (tries = 0;; tries++) {
		if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
			break;
		}
		rc = -errno;
		if (rc == -EADDRINUSE && tries == 0) {
			rc = remove_stale(ci->c.name, path);
			if (rc == 0) {
				continue;
			}
		} else {
			SPUR_ERRLOG("vhost controller %s: bind %s: %s\n", ci->c.name, path,
				    strerror(-rc));
		}
		close(fd);
		return rc;
	}
	if (listen(fd, LISTEN_BACKLOG) != 0 || lstat(path, &st) != 0) {
		rc = -errno;
		SPUR_ERRLOG("vhost controller %s: listen %s: %s\n", ci->c.name, path, strerror(-rc));
		close(fd);
		unlink(path);
		return rc;
	}
	ci->sock_dev = st.st_dev;
	ci->sock_ino = st.st_ino;
	ci->c.listen_fd = fd;
	return 0;
}

/* Close the listening socket and remove its file if it is still ours. */
static void
stop_listening(struct ctrlr_impl *ci)
{
	struct stat st;

	spur_poller_unregister(&ci->c.listen_poller);
	if (ci->c.listen_fd >= 0) {
		close(ci->c.listen_fd);
		ci->c.listen_fd = -1;
		if (lstat(ci->c.socket_path, &st) == 0 && st.st_dev == ci->sock_dev &&
		    st.st_ino == ci->sock_ino) {
			unlink(ci->c.socket_path);
		}
	}
}

static void
ctrlr_accept(struct ctrlr_impl *ci)
{
	struct vhost_ctrlr *c = &ci->c;
	int fd;

	while (c->listen_fd >= 0) {
		/* The previous frontend is still being torn down: it waits in the backlog. */
		if (c->session != NULL && c->session->state != VHOST_SESSION_ACTIVE) {
			return;
		}
		fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED) {
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				SPUR_ERRLOG("%s: accept: %s\n", c->name, strerror(errno));
			}
			return;
		}
		if (c->session != NULL) {
			SPUR_WARNLOG("%s: refusing a second frontend (one is connected)\n", c->name);
			close(fd);
			continue;
		}
		vhost_session_create(c, fd);
	}
}

static int
listen_poll(void *ctx)
{
	ctrlr_accept(ctx);
	return SPUR_POLLER_IDLE;
}

/* ---- controllers ----------------------------------------------------------------- */

static bool
valid_name(const char *name)
{
	return name != NULL && name[0] != '\0' && strchr(name, '/') == NULL &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && strlen(name) < 64;
}

/* cpumask NULL: the environment's cores. Every core must be one of them. */
static int
pick_cpumask(const char *name, const struct spur_cpuset *cpumask, struct spur_cpuset *out)
{
	const struct spur_cpuset *env = spur_env_get_cpumask();
	bool have_env = spur_cpuset_count(env) > 0;
	uint32_t core;

	if (cpumask == NULL) {
		if (!have_env) {
			SPUR_ERRLOG("vhost controller %s: no cpumask and no reactors\n", name);
			return -EINVAL;
		}
		*out = *env;
		return 0;
	}
	if (spur_cpuset_count(cpumask) == 0) {
		SPUR_ERRLOG("vhost controller %s: empty cpumask\n", name);
		return -EINVAL;
	}
	SPUR_CPUSET_FOREACH(core, cpumask) {
		if (have_env && !spur_cpuset_isset(env, core)) {
			SPUR_ERRLOG("vhost controller %s: core %u is not one of spur's cores\n",
				    name, core);
			return -EINVAL;
		}
	}
	*out = *cpumask;
	return 0;
}

int
vhost_ctrlr_create(const char *name, const struct spur_cpuset *cpumask,
		   const struct vhost_backend_ops *ops, void *backend_ctx,
		   struct vhost_ctrlr **out)
{
	struct sockaddr_un addr;
	struct ctrlr_impl *ci;
	struct vhost_ctrlr **tail;
	char path[sizeof(addr.sun_path)];
	int rc;

	if (!valid_name(name)) {
		SPUR_ERRLOG("vhost controller name '%s' is invalid\n", name ? name : "");
		return -EINVAL;
	}
	if (ops == NULL || ops->features == NULL || ops->max_queues == NULL ||
	    ops->queue_start == NULL || ops->queue_stop == NULL || ops->queue_poll == NULL) {
		SPUR_ERRLOG("vhost controller %s: incomplete backend\n", name);
		return -EINVAL;
	}
	if (spur_get_thread() == NULL) {
		SPUR_ERRLOG("vhost controller %s: must be created on a spur thread\n", name);
		return -EINVAL;
	}
	if (vhost_ctrlr_find(name) != NULL) {
		SPUR_ERRLOG("vhost controller %s already exists\n", name);
		return -EEXIST;
	}
	rc = spur_strfmt(path, sizeof(path), "%s/%s", spur_app_get_vhost_dir(), name);
	if (rc != 0) {
		SPUR_ERRLOG("vhost controller %s: socket path %s/%s is too long for AF_UNIX\n",
			    name, spur_app_get_vhost_dir(), name);
		return -ENAMETOOLONG;
	}
	ci = calloc(1, sizeof(*ci));
	if (ci == NULL) {
		return -ENOMEM;
	}
	ci->c.listen_fd = -1;
	/*
	 * SPDK's default threshold; coalescing stays off (delay 0). Never 0, so
	 * the current setting is always one vhost_controller_set_coalescing
	 * accepts (a failed configuration load restores it with that call).
	 */
	ci->c.coalesce_iops_threshold = VHOST_DEFAULT_IOPS_THRESHOLD;
	ci->thread = spur_get_thread();
	ci->c.ops = ops;
	ci->c.backend_ctx = backend_ctx;
	rc = pick_cpumask(name, cpumask, &ci->c.cpumask);
	ci->c.name = strdup(name);
	ci->c.socket_path = strdup(path);
	if (rc == 0 && (ci->c.name == NULL || ci->c.socket_path == NULL)) {
		rc = -ENOMEM;
	}
	if (rc == 0) {
		rc = listen_socket(ci, path);
	}
	if (rc == 0) {
		snprintf(path, sizeof(path), "vhost_%s_listen", name);
		ci->c.listen_poller = spur_poller_register(listen_poll, ci, SOCKET_POLL_PERIOD_US,
							   path);
		rc = ci->c.listen_poller == NULL ? -ENOMEM
			: spur_poller_add_fd(ci->c.listen_poller, ci->c.listen_fd, EPOLLIN);
		if (rc != 0) {
			stop_listening(ci);
		}
	}
	if (rc != 0) {
		free(ci->c.name);
		free(ci->c.socket_path);
		free(ci);
		return rc;
	}
	for (tail = &g_ctrlrs; *tail != NULL; tail = &(*tail)->next) {
	}
	*tail = &ci->c;
	SPUR_NOTICELOG("vhost controller %s listening on %s\n", name, ci->c.socket_path);
	if (out != NULL) {
		*out = &ci->c;
	}
	return 0;
}

static void
ctrlr_unlink(struct vhost_ctrlr *c)
{
	struct vhost_ctrlr **p;

	for (p = &g_ctrlrs; *p != NULL; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			c->next = NULL;
			return;
		}
	}
}

static void
delete_finish(struct ctrlr_impl *ci)
{
	struct vhost_ctrlr *c = &ci->c;

	SPUR_NOTICELOG("vhost controller %s deleted\n", c->name);
	if (c->ops->destruct != NULL) {
		c->ops->destruct(c);
	}
	complete_later(ci->thread, ci->delete_done, ci->delete_ctx, 0);
	free(c->name);
	free(c->socket_path);
	free(ci);
}

void
vhost_ctrlr_delete(struct vhost_ctrlr *c, bool force, void (*done)(void *ctx, int rc),
		   void *ctx)
{
	struct ctrlr_impl *ci = impl(c);

	if (ci->deleting) {
		complete_later(ci->thread, done, ctx, -EBUSY);
		return;
	}
	/* A session already closing (frontend gone) does not hold the delete back. */
	if (c->session != NULL && c->session->state == VHOST_SESSION_ACTIVE && !force) {
		complete_later(ci->thread, done, ctx, -EBUSY);
		return;
	}
	ci->deleting = true;
	ci->delete_done = done;
	ci->delete_ctx = ctx;
	ctrlr_unlink(c);
	stop_listening(ci);
	if (c->session != NULL) {
		SPUR_NOTICELOG("%s: disconnecting the frontend to delete the controller\n",
			       c->name);
		vhost_session_close(c->session);
		return;
	}
	delete_finish(ci);
}

static void
fini_one_done(void *ctx, int rc)
{
	if (--g_fini.left == 0) {
		vhost_pg_fini();
		g_fini.done();
	}
}

static void
fini_none(void *ctx, int rc)
{
	vhost_pg_fini();
	g_fini.done();
}

void
vhost_ctrlr_fini_all(void (*done)(void))
{
	struct vhost_ctrlr *c, *next;

	g_fini.done = done;
	g_fini.left = 0;
	for (c = g_ctrlrs; c != NULL; c = c->next) {
		g_fini.left++;
	}
	if (g_fini.left == 0) {
		complete_later(spur_get_thread(), fini_none, NULL, 0);
		return;
	}
	for (c = g_ctrlrs; c != NULL; c = next) {
		next = c->next;
		vhost_ctrlr_delete(c, true, fini_one_done, NULL);
	}
}

void
vhost_ctrlr_set_coalescing(struct vhost_ctrlr *c, uint32_t delay_base_us,
			   uint32_t iops_threshold)
{
	struct vhost_session *s = c->session;
	uint16_t i;

	c->coalesce_delay_us = delay_base_us;
	c->coalesce_iops_threshold = iops_threshold;
	for (i = 0; s != NULL && i < s->max_queues; i++) {
		if (s->queues[i].q.state == VHOST_QUEUE_STARTED ||
		    s->queues[i].q.state == VHOST_QUEUE_STARTING) {
			vhost_pg_queue_set_coalescing(&s->queues[i], delay_base_us, iops_threshold);
		}
	}
}

/* ---- backend request channel -------------------------------------------------- */

static void
backend_close(struct vhost_session *s)
{
	if (s->backend_fd >= 0) {
		if (s->poller != NULL) {
			spur_poller_remove_fd(s->poller, s->backend_fd);
		}
		close(s->backend_fd);
	}
	s->backend_fd = -1;
	s->backend_acks_due = 0;
	s->backend_rx_got = 0;
}

int
vhost_ctrlr_config_changed(struct vhost_ctrlr *c)
{
	struct vhost_session *s = c->session;
	struct vhost_user_hdr hdr;
	ssize_t n;

	if (s == NULL || s->state != VHOST_SESSION_ACTIVE) {
		return -ENOTCONN;
	}
	if (!vhost_session_has_pf(s, VHOST_USER_PROTOCOL_F_CONFIG) ||
	    !vhost_session_has_pf(s, VHOST_USER_PROTOCOL_F_BACKEND_REQ) || s->backend_fd < 0) {
		SPUR_DEBUGLOG(VHOST_LOG, "%s: config change not sent: no backend channel\n",
			      c->name);
		return -ENOTSUP;
	}
	hdr.request = VHOST_USER_BACKEND_CONFIG_CHANGE_MSG;
	hdr.flags = VHOST_USER_VERSION;
	hdr.size = 0;
	/* Ask for an ack when we can, but never wait: it is read by the session poller. */
	if (vhost_session_has_pf(s, VHOST_USER_PROTOCOL_F_REPLY_ACK)) {
		hdr.flags |= VHOST_USER_NEED_REPLY_MASK;
	}
	n = send(s->backend_fd, &hdr, sizeof(hdr), MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n != (ssize_t)sizeof(hdr)) {
		if (n < 0 && errno == EAGAIN) {
			SPUR_WARNLOG("%s: config change not sent: the frontend's channel is full\n",
				     c->name);
			return -EAGAIN;
		}
		SPUR_ERRLOG("%s: config change: send: %s; closing the backend channel\n", c->name,
			    n < 0 ? strerror(errno) : "short write");
		backend_close(s);
		return -EIO;
	}
	if (hdr.flags & VHOST_USER_NEED_REPLY_MASK) {
		s->backend_acks_due++;
	}
	SPUR_DEBUGLOG(VHOST_LOG, "%s: -> BACKEND_CONFIG_CHANGE_MSG\n", c->name);
	return 0;
}

void
vhost_session_backend_read(struct vhost_session *s)
{
	struct vhost_user_hdr hdr;
	uint64_t v;
	ssize_t n;

	while (s->backend_fd >= 0) {
		n = recv(s->backend_fd, s->backend_rx + s->backend_rx_got,
			 sizeof(s->backend_rx) - s->backend_rx_got, MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				SPUR_ERRLOG("%s: backend channel: %s\n", s->ctrlr->name,
					    strerror(errno));
				backend_close(s);
			}
			if (errno == EINTR) {
				continue;
			}
			return;
		}
		if (n == 0) {
			SPUR_NOTICELOG("%s: the frontend closed the backend channel\n",
				       s->ctrlr->name);
			backend_close(s);
			return;
		}
		s->backend_rx_got += (uint32_t)n;
		if (s->backend_rx_got < sizeof(s->backend_rx)) {
			continue;
		}
		s->backend_rx_got = 0;
		memcpy(&hdr, s->backend_rx, sizeof(hdr));
		memcpy(&v, s->backend_rx + sizeof(hdr), sizeof(v));
		if (hdr.request != VHOST_USER_BACKEND_CONFIG_CHANGE_MSG ||
		    !(hdr.flags & VHOST_USER_REPLY_MASK) || hdr.size != sizeof(v) ||
		    s->backend_acks_due == 0) {
			SPUR_ERRLOG("%s: backend channel: unexpected reply (type %u, flags 0x%x, "
				    "size %u)\n", s->ctrlr->name, hdr.request, hdr.flags, hdr.size);
			vhost_session_close(s);
			return;
		}
		s->backend_acks_due--;
		if (v != 0) {
			SPUR_WARNLOG("%s: the frontend failed to handle a config change (%" PRIu64
				     ")\n", s->ctrlr->name, v);
		}
	}
}

/* ---- sessions --------------------------------------------------------------------- */

int
vhost_session_create(struct vhost_ctrlr *c, int fd)
{
	struct vhost_session *s;
	struct vhost_session_queue *sq;
	char name[80];
	uint32_t i;
	int rc;

	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		SPUR_ERRLOG("%s: out of memory for a session\n", c->name);
		close(fd);
		return -ENOMEM;
	}
	s->ctrlr = c;
	s->thread = impl(c)->thread;
	s->fd = fd;
	s->state = VHOST_SESSION_ACTIVE;
	s->backend_fd = -1;
	s->max_queues = SPUR_MIN(c->ops->max_queues(c), (uint16_t)VHOST_MAX_QUEUES);
	for (i = 0; i < VHOST_USER_MAX_FDS; i++) {
		s->rx_fds[i] = -1;
	}
	for (i = 0; i < VHOST_MAX_QUEUES; i++) {
		sq = &s->queues[i];
		sq->q.session = s;
		sq->q.index = (uint16_t)i;
		sq->q.state = VHOST_QUEUE_IDLE;
		sq->q.kick_fd = sq->q.call_fd = sq->q.err_fd = -1;
		sq->new_call_fd = sq->old_call_fd = sq->next_kick_fd = -1;
	}
	snprintf(name, sizeof(name), "vhost_%s_conn", c->name);
	s->poller = spur_poller_register(vhost_session_poll, s, SOCKET_POLL_PERIOD_US, name);
	rc = s->poller == NULL ? -ENOMEM : spur_poller_add_fd(s->poller, fd, EPOLLIN);
	if (rc != 0) {
		SPUR_ERRLOG("%s: cannot watch the connection: %s\n", c->name, strerror(-rc));
		spur_poller_unregister(&s->poller);
		close(fd);
		free(s);
		return rc;
	}
	c->session = s;
	SPUR_NOTICELOG("%s: frontend connected\n", c->name);
	vhost_session_process(s);
	return 0;
}

static void
teardown_msg(void *ctx)
{
	struct vhost_session *s = ctx;

	s->teardown_queued = false;
	vhost_session_teardown(s);
}

void
vhost_session_close(struct vhost_session *s)
{
	if (s->state == VHOST_SESSION_CLOSING) {
		return;
	}
	s->state = VHOST_SESSION_CLOSING;
	SPUR_DEBUGLOG(VHOST_LOG, "%s: closing the session\n", s->ctrlr->name);
	/* The frontend sees EOF now and may reconnect; the rest is torn down behind. */
	spur_poller_unregister(&s->poller);
	close(s->fd);
	s->fd = -1;
	backend_close(s);
	/* Never free from inside the caller's stack: continue from the queue. */
	if (spur_thread_send_msg(s->thread, teardown_msg, s) == 0) {
		s->teardown_queued = true;
	}
}

static void
session_free(struct vhost_session *s)
{
	struct ctrlr_impl *ci = impl(s->ctrlr);
	uint32_t i;

	for (i = 0; i < VHOST_MAX_QUEUES; i++) {
		vhost_queue_reset(&s->queues[i]);
		if (s->queues[i].next_kick_fd >= 0) {
			close(s->queues[i].next_kick_fd);
		}
		free(s->queues[i].recover_ids);
	}
	for (i = 0; i < s->rx_nfds; i++) {
		if (s->rx_fds[i] >= 0) {
			close(s->rx_fds[i]);
		}
	}
	vhost_mem_put(s->mem);
	vhost_inflight_release(s);
	ci->c.session = NULL;
	SPUR_NOTICELOG("%s: session closed\n", ci->c.name);
	free(s);
	if (ci->deleting) {
		delete_finish(ci);
	} else {
		ctrlr_accept(ci);
	}
}

static int
teardown_retry_poll(void *ctx)
{
	struct vhost_session *s = ctx;

	spur_poller_unregister(&s->retry_poller);
	vhost_session_teardown(s);
	return SPUR_POLLER_BUSY;
}

void
vhost_session_teardown(struct vhost_session *s)
{
	uint32_t i;

	if (s->teardown_queued || s->process_queued || s->pending > 0 ||
	    s->retry_poller != NULL) {
		return;   /* whatever is outstanding calls back here */
	}
	vhost_session_stop_all(s, VHOST_STOP_CLOSE);
	if (s->pending > 0) {
		return;
	}
	for (i = 0; i < s->max_queues; i++) {
		if (s->queues[i].q.state != VHOST_QUEUE_IDLE) {
			/* A stop could not be sent: try again shortly. */
			s->retry_poller = spur_poller_register(teardown_retry_poll, s,
							       TEARDOWN_RETRY_US, "vhost_teardown");
			return;
		}
	}
	session_free(s);
}
