/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A small vhost-user FRONTEND (the role QEMU plays): connect to a
 * vhost-user socket (blk or scsi: nothing here depends on the device
 * type), negotiate features, share "guest memory" (one memfd mapped
 * MAP_SHARED), set up split or packed virtqueues and drive them from the
 * driver side.
 *
 * It is written from the vhost-user and virtio specifications only and
 * shares no code with spur's backend (lib/vhost), so that talking to spur
 * through it is an independent check; it talks to qemu-storage-daemon the
 * same way. spur_vhost_perf is built on it, and so are hostile-frontend
 * tests: the raw message functions send whatever bytes and fds the caller
 * gives, and the ring helpers write descriptors the caller describes
 * without judging them.
 *
 * Guest memory: one region, guest-physical [gpa_base, gpa_base + size),
 * carved by a bump allocator (vfe_mem_alloc); a guest-physical address and
 * the local pointer differ by a constant. The frontend's "virtual address"
 * of a ring (SET_VRING_ADDR, the region's userspace_addr) is the local
 * pointer, as in QEMU.
 *
 * Threading: none. A struct vfe_dev and its queues belong to the caller's
 * thread; ring helpers may be used from one thread per queue.
 */
#ifndef SPUR_TOOLS_VHOST_FRONTEND_H
#define SPUR_TOOLS_VHOST_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_ring.h>

/* Requests (front-end to back-end), from the vhost-user specification. */
enum vfe_request {
	VFE_GET_FEATURES = 1,
	VFE_SET_FEATURES = 2,
	VFE_SET_OWNER = 3,
	VFE_RESET_OWNER = 4,
	VFE_SET_MEM_TABLE = 5,
	VFE_SET_LOG_BASE = 6,
	VFE_SET_LOG_FD = 7,
	VFE_SET_VRING_NUM = 8,
	VFE_SET_VRING_ADDR = 9,
	VFE_SET_VRING_BASE = 10,
	VFE_GET_VRING_BASE = 11,
	VFE_SET_VRING_KICK = 12,
	VFE_SET_VRING_CALL = 13,
	VFE_SET_VRING_ERR = 14,
	VFE_GET_PROTOCOL_FEATURES = 15,
	VFE_SET_PROTOCOL_FEATURES = 16,
	VFE_GET_QUEUE_NUM = 17,
	VFE_SET_VRING_ENABLE = 18,
	VFE_SET_BACKEND_REQ_FD = 21,
	VFE_GET_CONFIG = 24,
	VFE_SET_CONFIG = 25,
	VFE_GET_INFLIGHT_FD = 31,
	VFE_SET_INFLIGHT_FD = 32,
	VFE_RESET_DEVICE = 34,
	VFE_GET_MAX_MEM_SLOTS = 36,
	VFE_ADD_MEM_REG = 37,
	VFE_REM_MEM_REG = 38,
	VFE_SET_STATUS = 39,
	VFE_GET_STATUS = 40,
};

/* Header flags. */
#define VFE_FLAG_VERSION 0x1u
#define VFE_FLAG_REPLY 0x4u
#define VFE_FLAG_NEED_REPLY 0x8u

/* Feature bit that enables the protocol-feature messages. */
#define VFE_F_PROTOCOL_FEATURES 30

/* Protocol feature bits. */
#define VFE_PROTOCOL_F_MQ 0
#define VFE_PROTOCOL_F_LOG_SHMFD 1
#define VFE_PROTOCOL_F_REPLY_ACK 3
#define VFE_PROTOCOL_F_BACKEND_REQ 5
#define VFE_PROTOCOL_F_CONFIG 9
#define VFE_PROTOCOL_F_INFLIGHT_SHMFD 12
#define VFE_PROTOCOL_F_RESET_DEVICE 13
#define VFE_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15
#define VFE_PROTOCOL_F_STATUS 16

/* SET_VRING_KICK/CALL/ERR payload: index in bits 0-7, this bit = no fd. */
#define VFE_VRING_NOFD_MASK 0x100u

#define VFE_HDR_SIZE 12u
#define VFE_MAX_PAYLOAD 4096u
#define VFE_MAX_FDS 8
#define VFE_MAX_RAW_FDS 253 /* the kernel's SCM_MAX_FD: for vfe_send_raw_fds */
#define VFE_MAX_QUEUES 64
#define VFE_CONFIG_HDR_SIZE 12u /* offset, size, flags */

struct vfe_msg_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

struct vfe_dev;

/* One buffer of a chain, as the driver describes it. */
struct vfe_buf {
	uint64_t gpa;
	uint32_t len;
	bool write;      /* device-writable */
};

struct vfe_queue {
	struct vfe_dev *dev;
	uint16_t index;
	uint16_t size;
	bool packed;
	bool event_idx;
	bool enabled;            /* set up and started */
	bool irq_on;             /* driver asks for call-eventfd writes */
	int kick_fd, call_fd;
	/* Split ring. */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx;      /* shadow of avail->idx (free running) */
	uint16_t published_idx;  /* avail->idx value at the last publish */
	uint16_t last_used_idx;  /* next used entry to read */
	/* Packed ring. */
	struct vring_packed_desc *pdesc;
	struct vring_packed_desc_event *driver_event, *device_event;
	uint16_t next_avail;
	bool avail_wrap;
	uint16_t next_used;
	bool used_wrap;
	uint16_t *chain_len;     /* [size]: descriptors used by each buffer id */
	uint16_t free_descs;
	bool need_kick;          /* packed: a chain was made available since the last kick */
	uint16_t kick_shadow;    /* packed: next_avail at the last kick */
	bool kick_shadow_wrap;
	/* Ring addresses (guest-physical) for the hostile tests. */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	/* Statistics. */
	uint64_t kicks;
};

struct vfe_dev {
	int sock;
	uint64_t dev_features;          /* GET_FEATURES */
	uint64_t features;              /* sent with SET_FEATURES */
	uint64_t dev_protocol_features; /* GET_PROTOCOL_FEATURES (0 if none) */
	uint64_t protocol_features;     /* sent with SET_PROTOCOL_FEATURES */
	uint16_t max_queues;            /* GET_QUEUE_NUM, or 1 */
	/* Guest memory. */
	int mem_fd;
	uint8_t *mem;
	uint64_t mem_size;
	uint64_t gpa_base;
	uint64_t mem_brk;               /* bump allocator offset */
	struct vfe_queue queues[VFE_MAX_QUEUES];
	/* Last error, for messages. */
	char err[256];
};

/* ---- connection and raw messages ----------------------------------------- */

/* Initialize d without connecting (tests that drive rings in-process). */
void vfe_init(struct vfe_dev *d);
/*
 * Connect to a vhost-user socket (retrying for up to timeout_ms while the
 * path does not exist or refuses). Initializes d. Returns 0 or -errno.
 */
int vfe_connect(struct vfe_dev *d, const char *path, int timeout_ms);
/* Close the socket, unmap memory, close eventfds. */
void vfe_close(struct vfe_dev *d);

/*
 * Send len bytes as they are, with fds as SCM_RIGHTS (nfds <= VFE_MAX_FDS).
 * Nothing is checked: the hostile tests build bad headers with this.
 * Returns 0 or -errno (-EPIPE when the backend has gone).
 */
int vfe_send_raw(struct vfe_dev *d, const void *buf, size_t len, const int *fds, int nfds);
/*
 * vfe_send_raw with up to VFE_MAX_RAW_FDS fds: more than any vhost-user
 * message may carry, for tests of a backend's fd limit. Returns 0 or -errno.
 */
int vfe_send_raw_fds(struct vfe_dev *d, const void *buf, size_t len, const int *fds, int nfds);
/* Build a header {request, flags | VERSION, size} and send it with payload. */
int vfe_send_msg(struct vfe_dev *d, uint32_t request, uint32_t flags, const void *payload,
		 uint32_t size, const int *fds, int nfds);
/*
 * Receive one message: header, then hdr->size bytes (at most max) into
 * payload; received fds (at most *nfds on entry) go into fds, *nfds is set
 * to how many arrived (extra fds are closed). timeout_ms < 0 waits forever.
 * Returns 0, -ETIMEDOUT, -ECONNRESET (backend closed), -EMSGSIZE or -EPROTO.
 */
int vfe_recv_msg(struct vfe_dev *d, struct vfe_msg_hdr *hdr, void *payload, uint32_t max,
		 int *fds, int *nfds, int timeout_ms);
/* Send a request without payload-expecting reply and, when REPLY_ACK was
 * negotiated, ask for and check the ack. Returns 0 or -errno / -EIO (nack). */
int vfe_request(struct vfe_dev *d, uint32_t request, const void *payload, uint32_t size,
		const int *fds, int nfds);
/* Send a request that has a u64 reply (GET_FEATURES, GET_VRING_BASE, ...). */
int vfe_request_u64(struct vfe_dev *d, uint32_t request, const void *payload, uint32_t size,
		    uint64_t *value);

/* ---- negotiation, config, memory ------------------------------------------- */

/*
 * GET_FEATURES; if offered, GET/SET_PROTOCOL_FEATURES with want_protocol &
 * offered; GET_QUEUE_NUM when MQ; SET_OWNER. The virtio features are not
 * sent yet (vfe_set_features). Returns 0 or -errno with d->err set.
 */
int vfe_negotiate(struct vfe_dev *d, uint64_t want_protocol);
/*
 * SET_FEATURES with want & offered (plus the protocol-features bit when it
 * was offered). Returns 0 or -errno.
 */
int vfe_set_features(struct vfe_dev *d, uint64_t want);
/* GET_CONFIG of len bytes at offset 0 into buf. Returns 0 or -errno. */
int vfe_get_config(struct vfe_dev *d, void *buf, uint32_t len);

/* Create the guest memory: a memfd of size bytes at gpa_base. */
int vfe_mem_init(struct vfe_dev *d, uint64_t size, uint64_t gpa_base);
/* Send SET_MEM_TABLE for the one region. */
int vfe_set_mem_table(struct vfe_dev *d);
/*
 * Carve size bytes aligned to align (power of two) from guest memory,
 * zeroed. Returns the local pointer and its gpa, or NULL when full.
 */
void *vfe_mem_alloc(struct vfe_dev *d, uint64_t size, uint64_t align, uint64_t *gpa);
/* Local pointer of a gpa inside guest memory (no bounds check). */
void *vfe_gpa_to_ptr(const struct vfe_dev *d, uint64_t gpa);

/* ---- queues --------------------------------------------------------------- */

/*
 * Allocate rings of size entries (split: power of two) in guest memory,
 * create kick/call eventfds and send SET_VRING_NUM, BASE, ADDR, KICK, CALL
 * and (with protocol features) SET_VRING_ENABLE. Returns 0 or -errno.
 */
int vfe_queue_setup(struct vfe_dev *d, uint16_t index, uint16_t size, bool packed);
/*
 * The local half of vfe_queue_setup: rings in guest memory and eventfds,
 * no messages (in-process tests hand the addresses to a device directly).
 */
int vfe_queue_init_local(struct vfe_dev *d, uint16_t index, uint16_t size, bool packed);
/* GET_VRING_BASE (stops the queue in the backend); *base gets the reply. */
int vfe_queue_stop(struct vfe_dev *d, uint16_t index, uint32_t *base);
/*
 * Restart a stopped split queue from scratch, as a driver reset does: its
 * rings are zeroed (same guest memory, same eventfds), the driver-side
 * indices reset, and SET_VRING_NUM, BASE (0), ADDR, CALL, KICK and ENABLE
 * sent again. Returns 0 or -errno.
 */
int vfe_queue_restart(struct vfe_dev *d, uint16_t index);

/*
 * Make a chain available. Split: descriptors id .. id+n-1 are written
 * (chained with NEXT) and id is appended to the avail ring, not yet
 * published (vfe_publish). Packed: n descriptors are written at the ring
 * position with buffer id id and the head made available at once.
 * Returns 0, or -ENOSPC (packed: not enough free descriptors).
 */
int vfe_add_chain(struct vfe_queue *q, uint16_t id, const struct vfe_buf *bufs, int n);
/*
 * Same through an indirect table (n entries at table/table_gpa, written
 * here; packed queues get packed-format entries, same 16-byte size): one
 * ring descriptor with VRING_DESC_F_INDIRECT.
 */
int vfe_add_indirect(struct vfe_queue *q, uint16_t id, struct vring_desc *table,
		     uint64_t table_gpa, const struct vfe_buf *bufs, int n);
/*
 * Publish what was added (split: store avail->idx) and tell whether the
 * device wants a kick (its NO_NOTIFY flag / avail_event, packed: its event
 * suppression structure).
 */
bool vfe_publish(struct vfe_queue *q);
/* Write the kick eventfd. */
void vfe_kick(struct vfe_queue *q);

/*
 * Raw split-ring access for hostile tests: nothing is checked or chained
 * for the caller. write_desc stores descriptor i (masked to the ring) as
 * given; offer appends head (any value, even >= size) to the avail ring,
 * published by vfe_publish; set_avail_idx stores avail->idx at once
 * (release) and makes the shadows agree, whatever the ring holds.
 */
void vfe_split_write_desc(struct vfe_queue *q, uint16_t i, uint64_t addr, uint32_t len,
			  uint16_t flags, uint16_t next);
void vfe_split_offer(struct vfe_queue *q, uint16_t head);
void vfe_split_set_avail_idx(struct vfe_queue *q, uint16_t idx);
/*
 * Raw packed-ring access: write n descriptors at the ring position exactly
 * as given (addr, len, id, flags) except for the AVAIL/USED bits, which are
 * set for the current wrap; the head's flags are stored last (release), so
 * the chain becomes available at once. The chain is remembered as n
 * descriptors for buffer id (for vfe_get_used). Returns 0 or -ENOSPC.
 */
int vfe_packed_add_raw(struct vfe_queue *q, uint16_t id, const struct vring_packed_desc *descs,
		       int n);
/* Take one used entry. Returns true and fills id/len, false when none. */
bool vfe_get_used(struct vfe_queue *q, uint16_t *id, uint32_t *len);
/*
 * Ask for interrupts (call-eventfd writes) or not: split without EVENT_IDX
 * uses VRING_AVAIL_F_NO_INTERRUPT; with EVENT_IDX used_event is set to the
 * next used index (on) or far away (off); packed uses the driver event
 * structure.
 */
void vfe_set_interrupts(struct vfe_queue *q, bool on);

#endif
