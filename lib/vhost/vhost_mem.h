/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest memory as the frontend shared it (SET_MEM_TABLE, ADD_MEM_REG,
 * REM_MEM_REG): regions mapped from their fds, and translation of
 * guest-physical addresses (descriptors) and frontend virtual addresses
 * (ring addresses) to local pointers.
 *
 * A struct vhost_mem is immutable once built: a table change builds a new
 * one and publishes it; the old one is freed (and its regions unmapped, on a
 * background thread kept off the reactors' cores, in pieces, so no reactor
 * stalls on munmap of a large guest) when its reference count drops to
 * zero. Each started virtqueue holds one reference for the table it uses
 * and keeps the old table until its in-flight requests that point into it
 * have completed, so memory hot-unplug while I/O runs is safe. A region shared between the old and the new table
 * (same fd identity, offset and size) is reused, not mapped twice.
 *
 * Translation is the hot path: regions sorted by guest address, a lookup
 * of the last region hit (per OS thread, so no cache line is shared between
 * poll groups) first, then a binary search; every result is
 * bounds-checked against the region, and a buffer that crosses regions is
 * split into several iovecs. Nothing outside the regions is ever returned.
 */
#ifndef SPUR_VHOST_MEM_H
#define SPUR_VHOST_MEM_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define VHOST_MEM_MAX_REGIONS 509 /* answer to GET_MAX_MEM_SLOTS */

struct vhost_mem_mapping; /* private to vhost_mem.c */

struct vhost_mem_region {
	uint64_t gpa;          /* guest-physical start */
	uint64_t size;
	uint64_t uva;          /* frontend's virtual address of the region */
	uint64_t mmap_offset;  /* offset of the region in the fd */
	uint8_t *host;         /* local address of gpa */
	void *map_addr;        /* what mmap returned (page aligned) */
	size_t map_len;
	dev_t dev;             /* identity of the backing file, for reuse */
	ino_t ino;
	/* The mapping, refcounted: tables that reuse the region share it. */
	struct vhost_mem_mapping *mapping;
};

struct vhost_mem {
	_Atomic uint32_t refs;
	uint32_t nregions;
	bool may_vanish;                   /* a region's file is not sealed against shrinking */
	struct vhost_mem_region regions[]; /* sorted by gpa, non-overlapping */
};

/*
 * Description of one region as received, with its fd (ownership of fd
 * passes to the builder, which closes it after mmap).
 */
struct vhost_mem_desc {
	uint64_t gpa, size, uva, mmap_offset;
	int fd;
};

/*
 * Build a table from descs (validating: non-zero sizes, no overflow, no
 * overlap in gpa or uva, count <= VHOST_MEM_MAX_REGIONS, a regular file at
 * least offset + size long), mapping every region MAP_SHARED; regions
 * identical to one of old's (same file, offset, size, gpa, uva) are shared
 * with it instead of mapped again. Returns the table with refs == 1 or NULL
 * with *err set to a message for the log (valid until the next call on this
 * OS thread). Closes every fd in descs. old may be NULL.
 */
struct vhost_mem *vhost_mem_build(const struct vhost_mem_desc *descs, uint32_t count,
				  const struct vhost_mem *old, const char **err);
/* Table plus one region (ADD_MEM_REG) / minus the region matching desc (REM_MEM_REG). */
struct vhost_mem *vhost_mem_add_region(const struct vhost_mem *old, const struct vhost_mem_desc *d,
				       const char **err);
struct vhost_mem *vhost_mem_remove_region(const struct vhost_mem *old,
					  const struct vhost_mem_desc *d, const char **err);
void vhost_mem_get(struct vhost_mem *mem);
/*
 * True once the frontend truncated the file behind a region of mem after it
 * was mapped: spur's SIGBUS guard (vhost_mem.c) replaced that mapping with
 * zero pages, so the queues using mem must stop. One relaxed load unless
 * mem->may_vanish and some mapping was ever replaced. Any thread holding a
 * reference.
 */
bool vhost_mem_vanished(const struct vhost_mem *mem);
/* Drop a reference; the last one unmaps (in the background) and frees. */
void vhost_mem_put(struct vhost_mem *mem);

/* Local pointer for [gpa, gpa+len) if it lies inside one region, else NULL. */
void *vhost_mem_gpa_to_host(const struct vhost_mem *mem, uint64_t gpa, uint64_t len);
/* Same for a frontend virtual address (ring addresses in SET_VRING_ADDR). */
void *vhost_mem_uva_to_host(const struct vhost_mem *mem, uint64_t uva, uint64_t len);
/*
 * Append iovecs covering [gpa, gpa+len) to iov (at most max - *iovcnt more),
 * one per region crossed. Returns 0, -EFAULT if any byte lies outside the
 * regions (or len is 0 or overflows), -E2BIG if iov is too small.
 */
int vhost_mem_gpa_to_iovs(const struct vhost_mem *mem, uint64_t gpa, uint32_t len,
			  struct iovec *iov, uint32_t *iovcnt, uint32_t max);

/*
 * The cores the reactors run on, so the unmap helper thread is started on
 * the machine's other cores and never takes CPU time from a reactor (when
 * every core has a reactor: on its creator's core at the lowest priority).
 * NULL or empty: ignored (unknown; the helper inherits its creator's
 * cores). Takes effect when the helper starts (first unmap); call before
 * any table is built. Any thread.
 */
void vhost_mem_set_reactor_cores(const cpu_set_t *cores);

/*
 * Background unmapping (also used for the inflight region): queue
 * munmap(addr, len) for the helper thread; returns at once. Any thread.
 */
void vhost_mem_unmap_async(void *addr, size_t len);
/*
 * Wait until every queued munmap has been performed (tests, shutdown);
 * returns how many mappings the helper has unmapped since the start.
 * Blocks: never call it on a reactor that serves guests.
 */
uint64_t vhost_mem_unmap_drain(void);

#endif
