/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The block-device layer, as front ends see it (vhost-blk, vhost-scsi via the
 * SCSI layer, iSCSI, NVMe-oF, bdevperf).
 *
 * A bdev is a named block device registered by a module. Users open a
 * descriptor (read-only or read-write), get an I/O channel per thread, and
 * submit I/O on that channel from that thread. Every submit function follows
 * one contract: it returns 0 and later calls cb exactly once on the
 * submitting thread (never from inside the submit call), or it returns a
 * negative errno and never calls cb: -EINVAL for a range beyond the last
 * block or a bad argument, -EBADF for a descriptor without write access,
 * -ENODEV after hot-remove, -ENOMEM when the channel is out of request
 * objects (wait with spur_bdev_queue_io_wait, then resubmit).
 *
 * The completion callback gets the request and a status, 0 or one of
 * enum spur_bdev_status; it must release the request with spur_bdev_free_io
 * (after reading any data the layer supplied). The layer splits requests
 * over the module's limits, bounces misaligned buffers, accounts statistics
 * and applies QoS; none of that is visible here except in the figures.
 *
 * Threading: a descriptor may be used from any thread, but each thread uses
 * its own channel (spur_bdev_get_io_channel on that thread). Open, close and
 * the event callback run on the thread that opened the descriptor.
 */
#ifndef SPUR_BDEV_H
#define SPUR_BDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "spur/thread.h"

struct spur_bdev;
struct spur_bdev_desc;
struct spur_bdev_io;

enum spur_bdev_io_type {
	SPUR_BDEV_IO_READ,
	SPUR_BDEV_IO_WRITE,
	SPUR_BDEV_IO_UNMAP,
	SPUR_BDEV_IO_FLUSH,
	SPUR_BDEV_IO_RESET,
	SPUR_BDEV_IO_WRITE_ZEROES,
	SPUR_BDEV_IO_NUM_TYPES,
};
/* "read", "write", "unmap", "flush", "reset", "write_zeroes". */
const char *spur_bdev_io_type_name(enum spur_bdev_io_type type);

/* Completion status: 0 or one of these classes, for front ends to map. */
enum spur_bdev_status {
	SPUR_BDEV_OK = 0,
	SPUR_BDEV_ERR_IO = -1,            /* any other failure */
	SPUR_BDEV_ERR_MEDIA = -2,         /* unrecovered read/write error */
	SPUR_BDEV_ERR_RANGE = -3,         /* LBA out of range */
	SPUR_BDEV_ERR_NOSPACE = -4,       /* backing store full */
	SPUR_BDEV_ERR_ABORTED = -5,       /* reset, hot-remove, shutdown */
	SPUR_BDEV_ERR_UNSUPPORTED = -6,   /* I/O type not supported */
};
const char *spur_bdev_status_name(int status);

/* I/O flags. */
#define SPUR_BDEV_IO_FUA 0x1u /* write: durable before completion */
#define SPUR_BDEV_IO_UNMAP_OK 0x2u /* write_zeroes: may deallocate */

enum spur_bdev_event {
	SPUR_BDEV_EVENT_REMOVE, /* close the descriptor soon */
	SPUR_BDEV_EVENT_RESIZE, /* num_blocks changed */
};
typedef void (*spur_bdev_event_cb)(enum spur_bdev_event event, struct spur_bdev *bdev, void *ctx);

typedef void (*spur_bdev_io_cb)(struct spur_bdev_io *io, int status, void *cb_arg);

/* ---- lookup and properties ------------------------------------------------ */

/* By name or alias; NULL if absent. Valid while a descriptor is open. */
struct spur_bdev *spur_bdev_get_by_name(const char *name);
/* Iterate registered bdevs in registration order (app thread). */
struct spur_bdev *spur_bdev_first(void);
struct spur_bdev *spur_bdev_next(struct spur_bdev *prev);

const char *spur_bdev_get_name(const struct spur_bdev *bdev);
const char *spur_bdev_get_product_name(const struct spur_bdev *bdev);
uint32_t spur_bdev_get_block_size(const struct spur_bdev *bdev);
uint64_t spur_bdev_get_num_blocks(const struct spur_bdev *bdev);
/* 16 bytes, RFC 4122 byte order. */
const uint8_t *spur_bdev_get_uuid(const struct spur_bdev *bdev);
/* "xxxxxxxx-xxxx-..." into buf of at least 37 bytes. */
void spur_bdev_get_uuid_str(const struct spur_bdev *bdev, char *buf, size_t len);
bool spur_bdev_has_write_cache(const struct spur_bdev *bdev);
bool spur_bdev_io_type_supported(const struct spur_bdev *bdev, enum spur_bdev_io_type type);
/* Buffer alignment the module needs (bytes, power of two, 1 = none). */
uint32_t spur_bdev_get_buf_align(const struct spur_bdev *bdev);
/* Largest request in blocks the caller may send without splitting cost (0 = no limit). */
uint32_t spur_bdev_get_max_transfer_blocks(const struct spur_bdev *bdev);
uint32_t spur_bdev_get_optimal_io_boundary(const struct spur_bdev *bdev);
/* Limits of unmap / write_zeroes in blocks per request (0 = no limit). */
uint32_t spur_bdev_get_max_unmap_blocks(const struct spur_bdev *bdev);
uint32_t spur_bdev_get_max_write_zeroes_blocks(const struct spur_bdev *bdev);

/* ---- descriptors ------------------------------------------------------------ */

/*
 * Open by name. event_cb (required) is called on this thread for hot-remove
 * and resize. Returns 0, -ENODEV (no such bdev or being removed), -EPERM
 * (write requested but a module claimed the bdev for exclusive writing).
 */
int spur_bdev_open(const char *name, bool write, spur_bdev_event_cb event_cb, void *event_ctx,
		   struct spur_bdev_desc **desc);
/* Close on the opening thread; channels must have been put already. */
void spur_bdev_close(struct spur_bdev_desc *desc);
struct spur_bdev *spur_bdev_desc_get_bdev(struct spur_bdev_desc *desc);
/* This thread's channel for the descriptor's bdev (spur_put_io_channel to drop). */
struct spur_io_channel *spur_bdev_get_io_channel(struct spur_bdev_desc *desc);

/* ---- I/O ------------------------------------------------------------------------ */

/*
 * Read into iov. iov may be NULL with iovcnt 0: the layer then supplies a
 * buffer from its pool, found with spur_bdev_io_get_iovs in the callback.
 */
int spur_bdev_readv_blocks(struct spur_bdev_desc *desc, struct spur_io_channel *ch,
			   struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			   uint64_t num_blocks, spur_bdev_io_cb cb, void *cb_arg);
int spur_bdev_writev_blocks(struct spur_bdev_desc *desc, struct spur_io_channel *ch,
			    struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			    uint64_t num_blocks, uint32_t flags, spur_bdev_io_cb cb, void *cb_arg);
int spur_bdev_read_blocks(struct spur_bdev_desc *desc, struct spur_io_channel *ch, void *buf,
			  uint64_t offset_blocks, uint64_t num_blocks, spur_bdev_io_cb cb,
			  void *cb_arg);
int spur_bdev_write_blocks(struct spur_bdev_desc *desc, struct spur_io_channel *ch, void *buf,
			   uint64_t offset_blocks, uint64_t num_blocks, spur_bdev_io_cb cb,
			   void *cb_arg);
int spur_bdev_unmap_blocks(struct spur_bdev_desc *desc, struct spur_io_channel *ch,
			   uint64_t offset_blocks, uint64_t num_blocks, spur_bdev_io_cb cb,
			   void *cb_arg);
int spur_bdev_write_zeroes_blocks(struct spur_bdev_desc *desc, struct spur_io_channel *ch,
				  uint64_t offset_blocks, uint64_t num_blocks, uint32_t flags,
				  spur_bdev_io_cb cb, void *cb_arg);
/* Durable once completed: everything written before the flush was submitted. */
int spur_bdev_flush_blocks(struct spur_bdev_desc *desc, struct spur_io_channel *ch,
			   uint64_t offset_blocks, uint64_t num_blocks, spur_bdev_io_cb cb,
			   void *cb_arg);
/* Abort queued I/O on every channel, then reset the device. */
int spur_bdev_reset(struct spur_bdev_desc *desc, struct spur_io_channel *ch, spur_bdev_io_cb cb,
		    void *cb_arg);

/* Release a completed request (and any buffer the layer supplied). */
void spur_bdev_free_io(struct spur_bdev_io *io);
void spur_bdev_io_get_iovs(struct spur_bdev_io *io, struct iovec **iovs, int *iovcnt);
enum spur_bdev_io_type spur_bdev_io_get_type(const struct spur_bdev_io *io);

/* Wait for a request object after -ENOMEM. */
struct spur_bdev_io_wait_entry {
	struct spur_bdev *bdev;
	void (*cb_fn)(void *cb_arg);
	void *cb_arg;
	struct spur_bdev_io_wait_entry *next; /* layer-private */
};
int spur_bdev_queue_io_wait(struct spur_bdev *bdev, struct spur_io_channel *ch,
			    struct spur_bdev_io_wait_entry *entry);

/* ---- data buffers for front ends without their own memory ------------------ */

/*
 * A buffer of len bytes (at most SPUR_BDEV_LARGE_BUF_SIZE), aligned for any
 * bdev, from the layer's pool: per-thread caches over a shared pool, in a
 * small and a large class. Returns NULL when the pool is empty (retry
 * later). Free on any thread with the same len.
 */
#define SPUR_BDEV_SMALL_BUF_SIZE 8192u
#define SPUR_BDEV_LARGE_BUF_SIZE (132u * 1024u)
void *spur_bdev_buf_get(size_t len);
void spur_bdev_buf_put(void *buf, size_t len);

/* ---- statistics -------------------------------------------------------------- */

struct spur_bdev_io_stat {
	uint64_t bytes_read, num_read_ops, read_latency_ticks;
	uint64_t bytes_written, num_write_ops, write_latency_ticks;
	uint64_t bytes_unmapped, num_unmap_ops, unmap_latency_ticks;
	uint64_t num_flush_ops, flush_latency_ticks;
	uint64_t bytes_copied, num_copy_ops;
	uint64_t max_read_latency_ticks, min_read_latency_ticks;
	uint64_t max_write_latency_ticks, min_write_latency_ticks;
	uint64_t num_errors;
	/* Appended by lib/bdev (fields are only ever added at the end). */
	uint64_t max_unmap_latency_ticks, min_unmap_latency_ticks;
	uint64_t bytes_zeroed, num_write_zeroes_ops, write_zeroes_latency_ticks;
	uint64_t num_reset_ops;
	/* Failed requests by status: io_error[-status], 1..6. */
	uint64_t io_error[7];
	/* Requests in flight now; ticks with >= 1 in flight; sum of ticks x depth. */
	uint64_t queue_depth;
	uint64_t io_time_ticks, weighted_io_time_ticks;
};

/*
 * Statistics of the bdev: every channel's (collected with a message to each
 * thread) plus those of channels already destroyed. Returns 0 and calls
 * cb(cb_arg, 0) on this thread once *stat is filled (-ENODEV if the bdev
 * went away meanwhile), or a negative errno. stat must stay valid until cb.
 * Min latencies are 0 when there was no request of that type.
 */
int spur_bdev_get_device_stat(struct spur_bdev *bdev, struct spur_bdev_io_stat *stat,
			      void (*cb)(void *cb_arg, int status), void *cb_arg);

/* ---- quality of service ------------------------------------------------------- */

/*
 * Rate limits over all channels of a bdev; 0 = no limit. SPDK's rules:
 * rw_ios_per_sec a multiple of 1000; MB = 1024 * 1024 bytes. Reads and
 * writes are limited; other types pass. Requests over the limit wait in the
 * layer (never fail) and are sent as tokens arrive (every millisecond).
 */
struct spur_bdev_qos_limits {
	uint64_t rw_ios_per_sec;
	uint64_t rw_mbytes_per_sec;
	uint64_t r_mbytes_per_sec;
	uint64_t w_mbytes_per_sec;
};
#define SPUR_BDEV_QOS_IOS_MULTIPLE 1000u
/*
 * Set every limit (app thread). Returns 0 and calls cb(cb_arg, status) later
 * once every channel applies them, or -EINVAL (rule above), -ENODEV
 * (removed), -EBUSY (another change of this bdev in progress).
 */
int spur_bdev_set_qos_limits(struct spur_bdev *bdev, const struct spur_bdev_qos_limits *limits,
			     void (*cb)(void *cb_arg, int status), void *cb_arg);
void spur_bdev_get_qos_limits(const struct spur_bdev *bdev, struct spur_bdev_qos_limits *limits);

#endif
