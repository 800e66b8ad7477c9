/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The JSON-RPC Unix-socket server: listener, pollers, start and stop.
 * Connections themselves live in conn.c.
 *
 * Owns: the listening socket and its path (with the inode bound, so stop
 * removes only our own socket file), a private epoll instance holding the
 * listener and every client socket (edge-triggered), and two pollers on the
 * application thread: the service poller, woken through the epoll fd (and
 * every millisecond while the reactor is awake anyway), the retry poller (no
 * fd, every millisecond, paused unless a connection or the listener stopped
 * on its budget and must be served again without a new edge), and the
 * 250 ms timeout poller. An idle server thus costs no periodic wake-ups but
 * the timeout poller's.
 *
 * Why a private epoll: the runtime only tells a poller "one of your fds is
 * ready" (and a poller holds few fds); asking our own epoll which sockets are
 * ready keeps a wake-up O(ready clients), however many clients are connected.
 *
 * Invariants: running <=> listener, epoll fd and both pollers exist. Stop
 * bumps g_rpc_conn_env.epoch, so a poller loop that triggered the stop
 * (a handler calling spur_rpc_server_stop) touches nothing afterwards.
 *
 * Threading: application thread only (start and stop included).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "spur/log.h"
#include "spur/rpc.h"
#include "spur/thread.h"
#include "spur/util.h"

#include "conn.h"

#define RPC_DEFAULT_PATH "/var/tmp/spur.sock"
#define RPC_DEFAULT_IDLE_MS 60000u
#define RPC_DEFAULT_MAX_REQUEST (64u << 20)
#define RPC_POLL_PERIOD_US 1000u
#define RPC_TIMEOUT_PERIOD_US 250000u
#define RPC_BACKLOG 512
#define RPC_ACCEPT_BUDGET 64
#define RPC_EVENTS 64

static struct {
	bool running;
	int listen_fd;
	char *path;
	dev_t dev;
	ino_t ino;
	struct spur_poller *poller;
	struct spur_poller *retry;
	bool retry_active;
	struct spur_poller *timer;
	bool accept_revisit; /* accept stopped before EAGAIN: retry next run */
	bool accept_failing; /* accept errors are logged once per episode */
} g_server = {.listen_fd = -1};

void
spur_rpc_server_opts_init(struct spur_rpc_server_opts *opts, size_t size)
{
	struct spur_rpc_server_opts d = {
		.size = size,
		.path = RPC_DEFAULT_PATH,
		.idle_timeout_ms = RPC_DEFAULT_IDLE_MS,
		.max_request_bytes = RPC_DEFAULT_MAX_REQUEST,
	};

	memcpy(opts, &d, SPUR_MIN(size, sizeof(d)));
}

/* ---- listener and pollers -------------------------------------------------- */

static int
server_accept(void)
{
	struct rpc_conn *c;
	int i, fd;

	g_server.accept_revisit = false;
	for (i = 0; i < RPC_ACCEPT_BUDGET; i++) {
		fd = accept4(g_server.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				g_server.accept_failing = false;
				return i;
			}
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			/* Out of fds or memory: retry on the next timed run, log once. */
			if (!g_server.accept_failing)
				SPUR_WARNLOG("RPC server: accept failed: %s", strerror(errno));
			g_server.accept_failing = true;
			g_server.accept_revisit = true;
			rpc_server_want_revisit();
			return i;
		}
		c = rpc_conn_create(fd);
		if (c == NULL) {
			SPUR_WARNLOG("RPC server: cannot set up a connection; closing it");
			close(fd);
			continue;
		}
		SPUR_INFOLOG("RPC client %u connected", rpc_conn_id(c));
	}
	g_server.accept_revisit = true;
	rpc_server_want_revisit();
	return i;
}

static int
server_poll(void *ctx)
{
	struct epoll_event ev[RPC_EVENTS];
	uint64_t epoch = g_rpc_conn_env.epoch;
	int n, i, work = 0;

	(void)ctx;
	do {
		n = epoll_wait(g_rpc_conn_env.epfd, ev, RPC_EVENTS, 0);
		for (i = 0; i < n && epoch == g_rpc_conn_env.epoch; i++) {
			work++;
			if (ev[i].data.ptr == NULL)
				server_accept();
			else
				rpc_conn_service(ev[i].data.ptr);
		}
	} while (n == RPC_EVENTS && epoch == g_rpc_conn_env.epoch);

	if (epoch == g_rpc_conn_env.epoch && g_server.accept_revisit) {
		work++;
		server_accept();
	}
	if (epoch == g_rpc_conn_env.epoch)
		work += rpc_conns_service_revisits();
	return work > 0 ? SPUR_POLLER_BUSY : SPUR_POLLER_IDLE;
}

static int
server_retry(void *ctx)
{
	int rc = server_poll(ctx);

	if (g_server.running && !g_server.accept_revisit && !rpc_conns_need_revisit()) {
		spur_poller_pause(g_server.retry);
		g_server.retry_active = false;
	}
	return rc;
}

void
rpc_server_want_revisit(void)
{
	if (g_server.running && !g_server.retry_active) {
		spur_poller_resume(g_server.retry);
		g_server.retry_active = true;
	}
}

static int
server_timeouts(void *ctx)
{
	(void)ctx;
	return rpc_conns_expire(spur_get_ticks()) > 0 ? SPUR_POLLER_BUSY : SPUR_POLLER_IDLE;
}

/* ---- start / stop ------------------------------------------------------------- */

/* Replace a stale socket file; refuse a live one or a non-socket. */
static int
check_existing(const char *path, const struct sockaddr_un *addr)
{
	struct stat st;
	int fd, rc, err;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	err = errno;
	close(fd);
	if (rc == 0 || err == EAGAIN || err == EINPROGRESS)
		return -EADDRINUSE;
	if (err != ECONNREFUSED)
		return -err;
	SPUR_NOTICELOG("removing stale RPC socket %s", path);
	if (unlink(path) != 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static void
server_cleanup(void)
{
	if (g_server.poller != NULL)
		spur_poller_unregister(&g_server.poller);
	if (g_server.retry != NULL)
		spur_poller_unregister(&g_server.retry);
	if (g_server.timer != NULL)
		spur_poller_unregister(&g_server.timer);
	if (g_rpc_conn_env.epfd >= 0)
		close(g_rpc_conn_env.epfd);
	if (g_server.listen_fd >= 0)
		close(g_server.listen_fd);
	g_rpc_conn_env.epfd = -1;
	g_server.listen_fd = -1;
	free(g_server.path);
	g_server.path = NULL;
}

/* Remove the socket file if it is still the one we bound. */
static void
server_unlink(void)
{
	struct stat st;

	if (g_server.path != NULL && lstat(g_server.path, &st) == 0 &&
	    st.st_dev == g_server.dev && st.st_ino == g_server.ino)
		unlink(g_server.path);
}

static int
server_listen(const char *path)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = NULL};
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;
	int rc;

	if (spur_strfmt(addr.sun_path, sizeof(addr.sun_path), "%s", path) != 0)
		return -ENAMETOOLONG;
	rc = check_existing(path, &addr);
	if (rc != 0)
		return rc;
	g_server.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (g_server.listen_fd < 0)
		return -errno;
	if (bind(g_server.listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
		return -errno;
	if (lstat(path, &st) == 0) {
		g_server.dev = st.st_dev;
		g_server.ino = st.st_ino;
	}
	g_server.path = strdup(path);
	if (g_server.path == NULL) {
		unlink(path);
		return -ENOMEM;
	}
	if (listen(g_server.listen_fd, RPC_BACKLOG) != 0)
		return -errno;
	g_rpc_conn_env.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (g_rpc_conn_env.epfd < 0)
		return -errno;
	if (epoll_ctl(g_rpc_conn_env.epfd, EPOLL_CTL_ADD, g_server.listen_fd, &ev) != 0)
		return -errno;
	return 0;
}

int
spur_rpc_server_start(const struct spur_rpc_server_opts *user_opts)
{
	struct spur_rpc_server_opts opts;
	int rc;

	if (g_server.running)
		return -EBUSY;
	if (user_opts == NULL || user_opts->size == 0)
		return -EINVAL;
	spur_rpc_server_opts_init(&opts, sizeof(opts));
	memcpy(&opts, user_opts, SPUR_MIN(user_opts->size, sizeof(opts)));
	if (opts.path == NULL || opts.path[0] == '\0')
		return -EINVAL;
	if (opts.max_request_bytes == 0)
		opts.max_request_bytes = RPC_DEFAULT_MAX_REQUEST;

	rpc_conns_init();
	g_rpc_conn_env.idle_ticks = spur_us_to_ticks((uint64_t)opts.idle_timeout_ms * 1000);
	g_rpc_conn_env.max_request = opts.max_request_bytes;
	g_server.accept_revisit = false;
	g_server.accept_failing = false;

	rc = server_listen(opts.path);
	if (rc != 0)
		goto fail;
	g_server.poller = spur_poller_register(server_poll, NULL, RPC_POLL_PERIOD_US, "rpc_server");
	g_server.retry = spur_poller_register(server_retry, NULL, RPC_POLL_PERIOD_US, "rpc_retry");
	g_server.timer = spur_poller_register(server_timeouts, NULL, RPC_TIMEOUT_PERIOD_US,
					      "rpc_timeouts");
	if (g_server.poller == NULL || g_server.retry == NULL || g_server.timer == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	spur_poller_pause(g_server.retry);
	g_server.retry_active = false;
	rc = spur_poller_add_fd(g_server.poller, g_rpc_conn_env.epfd, EPOLLIN);
	if (rc != 0)
		goto fail;
	g_server.running = true;
	return 0;
fail:
	server_unlink();
	server_cleanup();
	return rc;
}

void
spur_rpc_server_stop(void)
{
	if (!g_server.running)
		return;
	rpc_conns_close_all(); /* pending requests' replies will be discarded */
	server_unlink();
	server_cleanup();
	g_server.running = false;
}
