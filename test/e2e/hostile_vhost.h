/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spur_hostile_vhost: a vhost-user frontend that misbehaves on purpose.
 * Shared between its files: the per-run context, the scenario table type,
 * and the helpers every scenario uses (connect and negotiate, send a
 * message, and check how the backend reacted).
 *
 * One run = one scenario = one connection (some open a second one). A
 * scenario returns 0 when the backend reacted exactly as expected (hv_did
 * says what it did) and -1 otherwise (hv_fail says what happened instead).
 * Every wait has a deadline (HV_TIMEOUT_MS per reply, HV_WATCHDOG_S for
 * the whole run), so a backend that hangs makes the run fail, never hang.
 *
 * Files: hostile_vhost.c (main, helpers), hostile_proto.c (malformed
 * messages), hostile_setup.c (memory tables and ring set-up),
 * hostile_ring.c (malformed split rings and virtio-blk requests; ring
 * helpers of hostile_ring.h), hostile_memring.c (packed rings, unusual
 * memory and lifecycles), hostile_healthy.c (the healthy mode),
 * hostile_scsi.c, hostile_scsi_ctl.c and hostile_scsi_util.c (virtio-scsi
 * commands, control and event queues, commands in flight and target
 * removal against a vhost-scsi controller; hostile_scsi.h).
 *
 * Threading: single-threaded.
 */
#ifndef SPUR_TEST_HOSTILE_VHOST_H
#define SPUR_TEST_HOSTILE_VHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_scsi.h>

#include "frontend.h"

#define HV_TIMEOUT_MS 5000          /* any one reply or event */
#define HV_QUIET_MS 300             /* "nothing happens" windows */
#define HV_WATCHDOG_S 90            /* the whole run */
#define HV_MEM_SIZE (8ull << 20)    /* guest memory */
#define HV_GPA_BASE 0x40000000ull   /* its guest-physical base (not the local address) */
#define HV_QSIZE 16                 /* ring size of the ring scenarios */

/* Protocol features a QEMU-like frontend asks for, and some more. */
#define HV_PF_DEFAULT                                                                     \
	((1ull << VFE_PROTOCOL_F_MQ) | (1ull << VFE_PROTOCOL_F_REPLY_ACK) |                 \
	 (1ull << VFE_PROTOCOL_F_CONFIG) | (1ull << VFE_PROTOCOL_F_STATUS))
#define HV_PF_INFLIGHT (HV_PF_DEFAULT | (1ull << VFE_PROTOCOL_F_INFLIGHT_SHMFD))
#define HV_PF_SLOTS (HV_PF_DEFAULT | (1ull << VFE_PROTOCOL_F_CONFIGURE_MEM_SLOTS))
#define HV_PF_BACKEND (HV_PF_DEFAULT | (1ull << VFE_PROTOCOL_F_BACKEND_REQ))
/* Virtio features for scenarios that only need a split ring. */
#define HV_SPLIT_FEATURES ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC))
/* spur's vhost-blk has this many queues (0..63): index HV_QUEUES is out of range. */
#define HV_QUEUES 64

/* Virtio status bits (SET_STATUS / GET_STATUS). */
#define HV_STATUS_DRIVER_READY 0x0fu /* ACKNOWLEDGE | DRIVER | DRIVER_OK | FEATURES_OK */
#define HV_STATUS_NEEDS_RESET 0x40u

struct hv {
	const char *sock;
	bool verbose;
	struct vfe_dev d;
	bool connected;
	struct virtio_blk_config cfg;  /* GET_CONFIG after negotiation */
	bool scsi;                     /* a virtio-scsi device: GET_CONFIG fills scsi_cfg */
	struct virtio_scsi_config scsi_cfg;
	const char *rpc;               /* spur's RPC socket (scsi scenarios that call RPCs) */
	const char *ctrlr;             /* the attacked controller's name, for those RPCs */
	const char *bdev;              /* bdev of its SCSI target 1, for those RPCs */
	uint64_t capacity;             /* 512-byte sectors */
	int err_fd;                    /* SET_VRING_ERR eventfd of queue 0, or -1 */
	const void *arg;               /* the scenario's arg (one runner, many cases) */
	char what[512];                /* PASS: what the backend did */
	char why[1024];                /* FAIL: what happened instead */
};

struct hv_scenario {
	const char *name;
	/*
	 * A substring of the line the backend must log (with the controller's
	 * name) about this violation, or NULL when it logs nothing above debug.
	 */
	const char *log;
	int (*run)(struct hv *h);
	const void *arg;               /* handed to run as h->arg */
};

#define HV_SCENARIO(name, log, run) {(name), (log), (run), NULL}
/* One runner for many scenarios: each gets its case as h->arg. */
#define HV_SCENARIO_ARG(name, log, run, arg) {(name), (log), (run), (arg)}

/* hostile_proto.c, hostile_setup.c, hostile_ring.c, hostile_memring.c */
extern const struct hv_scenario hv_proto_scenarios[];
extern const size_t hv_proto_count;
extern const struct hv_scenario hv_setup_scenarios[];
extern const size_t hv_setup_count;
extern const struct hv_scenario hv_ring_scenarios[];
extern const size_t hv_ring_count;
extern const struct hv_scenario hv_memring_scenarios[];
extern const size_t hv_memring_count;
/* hostile_scsi.c, hostile_scsi_ctl.c: names start with "scsi-", for a vhost-scsi controller. */
extern const struct hv_scenario hv_scsi_scenarios[];
extern const size_t hv_scsi_count;
extern const struct hv_scenario hv_scsi_ctl_scenarios[];
extern const size_t hv_scsi_ctl_count;

/* One region of SET_MEM_TABLE / ADD_MEM_REG / REM_MEM_REG (vhost-user layout). */
struct hv_region {
	uint64_t gpa, size, uva, offset;
} __attribute__((packed));

/* ---- results ------------------------------------------------------------------ */

/* Record why the scenario failed; returns -1. */
int hv_fail(struct hv *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Record what the backend did (the PASS line); returns 0. */
int hv_did(struct hv *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Verbose trace on stderr. */
void hv_trace(struct hv *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- set-up ----------------------------------------------------------------------- */

/*
 * Connect (retrying while the backend is still closing a previous
 * frontend), GET_FEATURES, GET/SET_PROTOCOL_FEATURES (protocol & offered),
 * SET_OWNER and, with CONFIG, GET_CONFIG. 0 or -1 (hv_fail called).
 */
int hv_open(struct hv *h, uint64_t protocol);
/* SET_FEATURES with want & offered (plus PROTOCOL_FEATURES). 0 or -1. */
int hv_features(struct hv *h, uint64_t want);
/* Create guest memory (HV_MEM_SIZE at HV_GPA_BASE) and send SET_MEM_TABLE. 0 or -1. */
int hv_memory(struct hv *h);
/* hv_open + hv_features + hv_memory with everything a Linux guest uses. */
int hv_open_ready(struct hv *h);
void hv_close(struct hv *h);

/* ---- messages and reactions --------------------------------------------------- */

/* Send {request, VERSION | NEED_REPLY, size} + payload + fds. 0 or -1. */
int hv_send(struct hv *h, uint32_t request, const void *payload, uint32_t size, const int *fds,
	    int nfds);
/* The next message must be a REPLY_ACK of 0 to request. */
int hv_expect_ack(struct hv *h, uint32_t request);
/* The next message must be a REPLY_ACK of non-zero to request; the connection stays open. */
int hv_expect_nack(struct hv *h, uint32_t request);
/* A failed REPLY_ACK to request, then the backend closes the connection. */
int hv_expect_nack_close(struct hv *h, uint32_t request);
/* No reply at all: the backend closes the connection. */
int hv_expect_close(struct hv *h);
/* A reply to request of exactly size bytes into buf. */
int hv_expect_reply(struct hv *h, uint32_t request, void *buf, uint32_t size);
/* The connection still works: GET_FEATURES is answered. */
int hv_expect_alive(struct hv *h);
/* GET_STATUS into *status (needs the STATUS protocol feature). 0 or -1. */
int hv_get_status(struct hv *h, uint64_t *status);
/* GET_STATUS until it shows NEEDS_RESET (HV_TIMEOUT_MS). 0 or -1. */
int hv_expect_needs_reset(struct hv *h);
/* GET_VRING_BASE of the stopped queue qidx (*base), then GET_STATUS without
 * NEEDS_RESET. 0 or -1. */
int hv_stop_clears_reset(struct hv *h, uint16_t qidx, uint32_t *base);
/* The error eventfd (h->err_fd) is signalled within ms; its count is read. */
bool hv_err_signalled(struct hv *h, int ms);
/* Send with NEED_REPLY and expect a 0 ack: a set-up step that must succeed. */
int hv_step(struct hv *h, uint32_t request, const void *payload, uint32_t size, const int *fds,
	    int nfds);

/* ---- shared by the message scenarios -------------------------------------------- */

/* hv_open with the default protocol features; checks the device has HV_QUEUES queues. */
int hv_open_default(struct hv *h);
/* hv_open_default, HV_SPLIT_FEATURES, guest memory created but not shared yet. */
int hv_open_mem_unshared(struct hv *h);
/* Send (NEED_REPLY); the answer must be a failed REPLY_ACK, then a closed connection. */
int hv_send_nack_close(struct hv *h, uint32_t request, const void *payload, uint32_t size,
		       const int *fds, int nfds);
/* Send (NEED_REPLY); the connection must be closed without any reply. */
int hv_send_close(struct hv *h, uint32_t request, const void *payload, uint32_t size,
		  const int *fds, int nfds);
/* A nonblocking eventfd (hv_fail and -1 on error); the caller closes it. */
int hv_new_eventfd(struct hv *h);
/* The one region a well-behaved frontend shares: all of guest memory. */
struct hv_region hv_whole_region(const struct hv *h);
/* SET_MEM_TABLE claiming n regions, carrying the first nr of r and these fds. */
int hv_send_table(struct hv *h, uint32_t n, const struct hv_region *r, uint32_t nr,
		  const int *fds, int nfds);

/* ---- healthy mode (hostile_healthy.c) ---------------------------------------------- */

/*
 * A well-behaved guest: two queues, writes a pattern to blocks spread over
 * the disk through direct and indirect chains, flushes, reads it back and
 * compares, then stops the queues. 0 or -1.
 */
int hv_healthy(struct hv *h);
/*
 * The same for a vhost-scsi controller (hostile_scsi_util.c): WRITE(10),
 * SYNCHRONIZE CACHE and READ(10) on SCSI target 0 through two request
 * queues (direct and indirect chains), compared byte for byte. 0 or -1.
 */
int hv_scsi_healthy(struct hv *h);

uint64_t hv_now_ms(void);

#endif
