/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spur_hostile_vhost: run one hostile-frontend scenario against a
 * vhost-user-blk socket and say whether the backend reacted as expected.
 *
 *   spur_hostile_vhost -s SOCKET --attack NAME   exit 0: expected reaction
 *                                                exit 1: anything else
 *   spur_hostile_vhost -s SOCKET --attack healthy   a well-behaved guest
 *   spur_hostile_vhost -s SOCKET --attack scsi-healthy   the same, virtio-scsi
 *   spur_hostile_vhost --list      NAME<TAB>LOG-SUBSTRING per scenario
 *
 * Scenarios named scsi-* (and scsi-healthy) attack a vhost-scsi socket;
 * the ones that add and remove targets also need --rpc SPUR_RPC_SOCKET,
 * --ctrlr NAME and --bdev BDEV (the bdev of the controller's target 1).
 *
 * The expected reactions are spur's (lib/vhost): a malformed message is
 * answered with a failed REPLY_ACK when one was asked for and the
 * connection is closed (a bad header is closed at once, without a reply); a
 * malformed chain that can be answered comes back with an error status
 * and the queue keeps serving; one that cannot (it cannot be followed to
 * its end, or its error answer has nowhere to go) stops the queue, as a
 * ring whose indices are impossible does, and GET_STATUS reports
 * NEEDS_RESET (never an empty used entry the driver could misread).
 * Each scenario's PASS or FAIL line says what the backend did.
 *
 * This file owns main, the option parsing, the watchdog and the helpers of
 * hostile_vhost.h; the scenarios are in the files hostile_vhost.h lists.
 *
 * Threading: single-threaded; SIGALRM ends a run that outlives its
 * watchdog.
 */
#include "hostile_vhost.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

uint64_t
hv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- results ---------------------------------------------------------------------- */

int
hv_fail(struct hv *h, const char *fmt, ...)
{
	va_list ap;

	/* The first failure is the interesting one; later ones are consequences. */
	if (h->why[0] != '\0')
		return -1;
	va_start(ap, fmt);
	vsnprintf(h->why, sizeof(h->why), fmt, ap);
	va_end(ap);
	return -1;
}

int
hv_did(struct hv *h, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h->what, sizeof(h->what), fmt, ap);
	va_end(ap);
	return 0;
}

void
hv_trace(struct hv *h, const char *fmt, ...)
{
	va_list ap;

	if (!h->verbose)
		return;
	va_start(ap, fmt);
	fputs("# ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- set-up ------------------------------------------------------------------------ */

int
hv_open(struct hv *h, uint64_t protocol)
{
	uint64_t deadline = hv_now_ms() + 2 * HV_TIMEOUT_MS;
	uint32_t cfg_len = offsetof(struct virtio_blk_config, max_secure_erase_sectors);
	void *cfg = &h->cfg;
	int rc;

	/*
	 * One frontend at a time: while the backend is still closing the
	 * previous one, it drops a newcomer at once. Retry for a while.
	 */
	for (;;) {
		rc = vfe_connect(&h->d, h->sock, HV_TIMEOUT_MS);
		if (rc < 0)
			return hv_fail(h, "connect: %s", h->d.err);
		h->connected = true;
		rc = vfe_negotiate(&h->d, protocol);
		if (rc == 0)
			break;
		vfe_close(&h->d);
		h->connected = false;
		if ((rc != -ECONNRESET && rc != -EPIPE) || hv_now_ms() >= deadline)
			return hv_fail(h, "negotiation failed: %s (%s)", h->d.err, strerror(-rc));
		usleep(20000);
	}
	if (h->scsi) {
		cfg = &h->scsi_cfg;
		cfg_len = sizeof(h->scsi_cfg);
	}
	if (h->d.protocol_features & (1ull << VFE_PROTOCOL_F_CONFIG)) {
		rc = vfe_get_config(&h->d, cfg, cfg_len);
		if (rc < 0)
			return hv_fail(h, "GET_CONFIG: %s (%s)", h->d.err, strerror(-rc));
		h->capacity = h->cfg.capacity;
	}
	hv_trace(h, "connected: features 0x%llx protocol 0x%llx capacity %llu sectors",
		 (unsigned long long)h->d.dev_features,
		 (unsigned long long)h->d.protocol_features, (unsigned long long)h->capacity);
	return 0;
}

int
hv_features(struct hv *h, uint64_t want)
{
	int rc = vfe_set_features(&h->d, want);

	if (rc < 0)
		return hv_fail(h, "SET_FEATURES: %s (%s)", h->d.err, strerror(-rc));
	return 0;
}

int
hv_memory(struct hv *h)
{
	int rc = vfe_mem_init(&h->d, HV_MEM_SIZE, HV_GPA_BASE);

	if (rc < 0)
		return hv_fail(h, "guest memory: %s", strerror(-rc));
	rc = vfe_set_mem_table(&h->d);
	if (rc < 0)
		return hv_fail(h, "SET_MEM_TABLE: %s (%s)", h->d.err, strerror(-rc));
	return 0;
}

int
hv_open_ready(struct hv *h)
{
	uint64_t want = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
			(1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
			(1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_MQ) |
			(1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_DISCARD) |
			(1ull << VIRTIO_BLK_F_WRITE_ZEROES);

	if (hv_open(h, HV_PF_DEFAULT) < 0 || hv_features(h, want) < 0 || hv_memory(h) < 0)
		return -1;
	return 0;
}

void
hv_close(struct hv *h)
{
	if (h->connected)
		vfe_close(&h->d);
	h->connected = false;
	if (h->err_fd >= 0)
		close(h->err_fd);
	h->err_fd = -1;
}

/* ---- messages and reactions ------------------------------------------------------ */

int
hv_send(struct hv *h, uint32_t request, const void *payload, uint32_t size, const int *fds,
	int nfds)
{
	static uint8_t buf[VFE_HDR_SIZE + VFE_MAX_PAYLOAD];
	struct vfe_msg_hdr hdr = {.request = request,
				  .flags = VFE_FLAG_VERSION | VFE_FLAG_NEED_REPLY, .size = size};
	int rc;

	if (size > VFE_MAX_PAYLOAD)
		return hv_fail(h, "test bug: payload of %u bytes", size);
	memcpy(buf, &hdr, sizeof(hdr));
	if (size > 0)
		memcpy(buf + VFE_HDR_SIZE, payload, size);
	rc = vfe_send_raw_fds(&h->d, buf, VFE_HDR_SIZE + size, fds, nfds);
	if (rc < 0)
		return hv_fail(h, "sending request %u: %s", request, strerror(-rc));
	return 0;
}

/* Receive the next message; its fds are closed. */
static int
recv_any(struct hv *h, struct vfe_msg_hdr *hdr, void *buf, uint32_t max, int timeout_ms)
{
	int fds[VFE_MAX_FDS], nfds = VFE_MAX_FDS;
	int rc = vfe_recv_msg(&h->d, hdr, buf, max, fds, &nfds, timeout_ms);

	for (int i = 0; rc == 0 && i < nfds; i++)
		close(fds[i]);
	return rc;
}

static const char *
recv_error(int rc)
{
	switch (rc) {
	case -ETIMEDOUT:
		return "nothing came back in time (the connection is still open)";
	case -ECONNRESET:
		return "the backend closed the connection";
	case -EMSGSIZE:
		return "a reply larger than expected";
	default:
		return strerror(-rc);
	}
}

/* The next message is an ack for request; its value in *v. */
static int
recv_ack(struct hv *h, uint32_t request, uint64_t *v)
{
	struct vfe_msg_hdr hdr;
	uint8_t buf[VFE_MAX_PAYLOAD];
	int rc = recv_any(h, &hdr, buf, sizeof(buf), HV_TIMEOUT_MS);

	if (rc < 0)
		return hv_fail(h, "expected a REPLY_ACK to request %u: %s", request,
			       recv_error(rc));
	if (hdr.request != request || !(hdr.flags & VFE_FLAG_REPLY) || hdr.size != sizeof(*v))
		return hv_fail(h, "expected a REPLY_ACK to request %u, got request %u flags 0x%x "
			       "size %u", request, hdr.request, hdr.flags, hdr.size);
	memcpy(v, buf, sizeof(*v));
	return 0;
}

int
hv_expect_ack(struct hv *h, uint32_t request)
{
	uint64_t v;

	if (recv_ack(h, request, &v) < 0)
		return -1;
	if (v != 0)
		return hv_fail(h, "request %u refused (REPLY_ACK %llu)", request,
			       (unsigned long long)v);
	return 0;
}

int
hv_expect_nack(struct hv *h, uint32_t request)
{
	uint64_t v;

	if (recv_ack(h, request, &v) < 0)
		return -1;
	if (v == 0)
		return hv_fail(h, "request %u was acknowledged as a success", request);
	return hv_did(h, "answered REPLY_ACK %llu (failure)", (unsigned long long)v);
}

static int
expect_eof(struct hv *h, const char *after)
{
	struct vfe_msg_hdr hdr;
	uint8_t buf[VFE_MAX_PAYLOAD];
	int rc = recv_any(h, &hdr, buf, sizeof(buf), HV_TIMEOUT_MS);

	if (rc == -ECONNRESET)
		return 0;
	if (rc == 0)
		return hv_fail(h, "%s, the backend sent message %u (flags 0x%x, %u bytes) "
			       "instead of closing the connection", after, hdr.request, hdr.flags,
			       hdr.size);
	if (rc == -ETIMEDOUT)
		return hv_fail(h, "%s, the connection was still open %u ms later", after,
			       HV_TIMEOUT_MS);
	return hv_fail(h, "%s: %s", after, recv_error(rc));
}

int
hv_expect_nack_close(struct hv *h, uint32_t request)
{
	uint64_t v;

	if (recv_ack(h, request, &v) < 0)
		return -1;
	if (v == 0)
		return hv_fail(h, "request %u was acknowledged as a success", request);
	if (expect_eof(h, "after the failed REPLY_ACK") < 0)
		return -1;
	return hv_did(h, "answered REPLY_ACK %llu (failure) and closed the connection",
		      (unsigned long long)v);
}

int
hv_expect_close(struct hv *h)
{
	if (expect_eof(h, "with no reply due") < 0)
		return -1;
	return hv_did(h, "closed the connection without a reply");
}

int
hv_expect_reply(struct hv *h, uint32_t request, void *buf, uint32_t size)
{
	struct vfe_msg_hdr hdr;
	uint8_t tmp[VFE_MAX_PAYLOAD];
	int rc = recv_any(h, &hdr, tmp, sizeof(tmp), HV_TIMEOUT_MS);

	if (rc < 0)
		return hv_fail(h, "expected a reply to request %u: %s", request, recv_error(rc));
	if (hdr.request != request || !(hdr.flags & VFE_FLAG_REPLY) || hdr.size != size)
		return hv_fail(h, "expected a %u-byte reply to request %u, got request %u flags "
			       "0x%x size %u", size, request, hdr.request, hdr.flags, hdr.size);
	memcpy(buf, tmp, size);
	return 0;
}

int
hv_expect_alive(struct hv *h)
{
	uint64_t f;
	int rc = vfe_request_u64(&h->d, VFE_GET_FEATURES, NULL, 0, &f);

	if (rc < 0)
		return hv_fail(h, "the connection no longer works: GET_FEATURES: %s",
			       recv_error(rc));
	if (f != h->d.dev_features)
		return hv_fail(h, "GET_FEATURES now answers 0x%llx (was 0x%llx)",
			       (unsigned long long)f, (unsigned long long)h->d.dev_features);
	return 0;
}

int
hv_get_status(struct hv *h, uint64_t *status)
{
	int rc = vfe_request_u64(&h->d, VFE_GET_STATUS, NULL, 0, status);

	if (rc < 0)
		return hv_fail(h, "GET_STATUS: %s", recv_error(rc));
	return 0;
}

int
hv_expect_needs_reset(struct hv *h)
{
	uint64_t deadline = hv_now_ms() + HV_TIMEOUT_MS, status = 0;

	do {
		if (hv_get_status(h, &status) < 0)
			return -1;
		if (status & HV_STATUS_NEEDS_RESET)
			return 0;
		usleep(10000);
	} while (hv_now_ms() < deadline);
	return hv_fail(h, "GET_STATUS answers 0x%llx, without NEEDS_RESET",
		       (unsigned long long)status);
}

int
hv_stop_clears_reset(struct hv *h, uint16_t qidx, uint32_t *base)
{
	uint64_t status = 0;

	if (vfe_queue_stop(&h->d, qidx, base) < 0)
		return hv_fail(h, "GET_VRING_BASE of the stopped queue %u: %s", qidx, h->d.err);
	if (hv_get_status(h, &status) < 0)
		return -1;
	if (status & HV_STATUS_NEEDS_RESET)
		return hv_fail(h, "NEEDS_RESET still set after GET_VRING_BASE of queue %u", qidx);
	return 0;
}

bool
hv_err_signalled(struct hv *h, int ms)
{
	struct pollfd p = {.fd = h->err_fd, .events = POLLIN};
	uint64_t v;

	if (poll(&p, 1, ms) != 1)
		return false;
	return read(h->err_fd, &v, sizeof(v)) == sizeof(v) && v > 0;
}

int
hv_step(struct hv *h, uint32_t request, const void *payload, uint32_t size, const int *fds,
	int nfds)
{
	if (hv_send(h, request, payload, size, fds, nfds) < 0)
		return -1;
	return hv_expect_ack(h, request);
}

/* ---- shared by the scenarios ------------------------------------------------------ */

/* SET_MEM_TABLE's payload (the vhost-user layout). */
struct hv_table {
	uint32_t nregions, padding;
	struct hv_region r[9];
} __attribute__((packed));

int
hv_open_default(struct hv *h)
{
	if (hv_open(h, HV_PF_DEFAULT) < 0)
		return -1;
	if (h->d.max_queues != HV_QUEUES)
		return hv_fail(h, "the scenarios assume %u queues; the backend has %u", HV_QUEUES,
			       h->d.max_queues);
	return 0;
}

int
hv_open_mem_unshared(struct hv *h)
{
	int rc;

	if (hv_open_default(h) < 0 || hv_features(h, HV_SPLIT_FEATURES) < 0)
		return -1;
	rc = vfe_mem_init(&h->d, HV_MEM_SIZE, HV_GPA_BASE);
	if (rc < 0)
		return hv_fail(h, "guest memory: %s", strerror(-rc));
	return 0;
}

int
hv_send_nack_close(struct hv *h, uint32_t request, const void *payload, uint32_t size,
		   const int *fds, int nfds)
{
	if (hv_send(h, request, payload, size, fds, nfds) < 0)
		return -1;
	return hv_expect_nack_close(h, request);
}

int
hv_send_close(struct hv *h, uint32_t request, const void *payload, uint32_t size, const int *fds,
	      int nfds)
{
	if (hv_send(h, request, payload, size, fds, nfds) < 0)
		return -1;
	return hv_expect_close(h);
}

int
hv_new_eventfd(struct hv *h)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (fd < 0)
		hv_fail(h, "eventfd: %s", strerror(errno));
	return fd;
}

/* The one region a well-behaved frontend sends. */
struct hv_region
hv_whole_region(const struct hv *h)
{
	return (struct hv_region){.gpa = HV_GPA_BASE, .size = HV_MEM_SIZE,
			       .uva = (uint64_t)(uintptr_t)h->d.mem, .offset = 0};
}

/* SET_MEM_TABLE claiming n regions, carrying the first nr (payload) and fds. */
int
hv_send_table(struct hv *h, uint32_t n, const struct hv_region *r, uint32_t nr, const int *fds,
	   int nfds)
{
	struct hv_table t;

	memset(&t, 0, sizeof(t));
	t.nregions = n;
	if (nr > 0)
		memcpy(t.r, r, sizeof(*r) * nr);
	return hv_send(h, VFE_SET_MEM_TABLE, &t, 8 + (uint32_t)sizeof(*r) * nr, fds, nfds);
}

/* ---- main --------------------------------------------------------------------------- */

static char g_watchdog_msg[256];
static size_t g_watchdog_len;

static void
watchdog(int sig)
{
	(void)sig;
	if (write(STDOUT_FILENO, g_watchdog_msg, g_watchdog_len) < 0) {
		/* Nothing more can be done from a signal handler. */
	}
	_exit(1);
}

static const struct {
	const struct hv_scenario *table;
	const size_t *count;
} g_tables[] = {
	{hv_proto_scenarios, &hv_proto_count},
	{hv_setup_scenarios, &hv_setup_count},
	{hv_ring_scenarios, &hv_ring_count},
	{hv_memring_scenarios, &hv_memring_count},
	{hv_scsi_scenarios, &hv_scsi_count},
	{hv_scsi_ctl_scenarios, &hv_scsi_ctl_count},
};

static const struct hv_scenario *
find_scenario(const char *name)
{
	for (size_t t = 0; t < sizeof(g_tables) / sizeof(g_tables[0]); t++)
		for (size_t i = 0; i < *g_tables[t].count; i++)
			if (strcmp(g_tables[t].table[i].name, name) == 0)
				return &g_tables[t].table[i];
	return NULL;
}

/* One line per scenario: NAME<TAB>LOG-SUBSTRING (or -). */
static void
list(void)
{
	for (size_t t = 0; t < sizeof(g_tables) / sizeof(g_tables[0]); t++)
		for (size_t i = 0; i < *g_tables[t].count; i++)
			printf("%s\t%s\n", g_tables[t].table[i].name,
			       g_tables[t].table[i].log ? g_tables[t].table[i].log : "-");
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: spur_hostile_vhost -s SOCKET --attack NAME [-v]\n"
		   "       spur_hostile_vhost -s SOCKET --attack healthy|scsi-healthy [-v]\n"
		   "       spur_hostile_vhost -s SOCKET --attack scsi-NAME [--rpc SPUR_SOCKET "
		   "--ctrlr NAME --bdev BDEV]\n"
		   "       spur_hostile_vhost --list\n"
		   "exit status: 0 the backend reacted as expected, 1 it did not, 2 usage\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"attack", required_argument, NULL, 'a'},
		{"list", no_argument, NULL, 'l'},
		{"verbose", no_argument, NULL, 'v'},
		{"rpc", required_argument, NULL, 'r'},
		{"ctrlr", required_argument, NULL, 'c'},
		{"bdev", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static const struct hv_scenario healthy = HV_SCENARIO("healthy", NULL, hv_healthy);
	static const struct hv_scenario scsi_healthy =
		HV_SCENARIO("scsi-healthy", NULL, hv_scsi_healthy);
	const struct hv_scenario *sc = NULL;
	const char *attack = NULL;
	static struct hv h;
	int c, rc;

	h.err_fd = -1;
	while ((c = getopt_long(argc, argv, "s:a:lvhr:c:b:", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			h.sock = optarg;
			break;
		case 'a':
			attack = optarg;
			break;
		case 'l':
			list();
			return 0;
		case 'v':
			h.verbose = true;
			break;
		case 'r':
			h.rpc = optarg;
			break;
		case 'c':
			h.ctrlr = optarg;
			break;
		case 'b':
			h.bdev = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (h.sock == NULL || attack == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (strcmp(attack, "healthy") == 0)
		sc = &healthy;
	else if (strcmp(attack, "scsi-healthy") == 0)
		sc = &scsi_healthy;
	else
		sc = find_scenario(attack);
	h.scsi = strncmp(attack, "scsi-", 5) == 0;
	if (sc == NULL) {
		fprintf(stderr, "spur_hostile_vhost: unknown attack '%s' (see --list)\n", attack);
		return 2;
	}
	snprintf(g_watchdog_msg, sizeof(g_watchdog_msg),
		 "FAIL %s: no conclusion within %d s (the backend hangs?)\n", sc->name,
		 HV_WATCHDOG_S);
	g_watchdog_len = strlen(g_watchdog_msg);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, watchdog);
	alarm(HV_WATCHDOG_S);

	h.arg = sc->arg;
	rc = sc->run(&h);
	hv_close(&h);
	if (rc == 0 && h.why[0] == '\0') {
		printf("PASS %s: %s\n", sc->name, h.what[0] ? h.what : "as expected");
		return 0;
	}
	printf("FAIL %s: %s\n", sc->name, h.why[0] ? h.why : "(no reason recorded)");
	return 1;
}
