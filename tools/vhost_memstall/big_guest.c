/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The disruptor of spur_vhost_memstall: a large, sparse guest (a memfd
 * ftruncate'd to o->guest_size, mapped MAP_NORESERVE; only what spur
 * writes is ever allocated) on its own controller, and the memory-table
 * operations a frontend performs on it.
 *
 * Memory layout (guest-physical = offset in the memfd = local pointer -
 * g->mem, so one constant translates every region):
 *   [0, 2 MiB)                rings and request headers (bump allocator)
 *   pieces of 2 MiB at a uniform stride over the rest: the touched set,
 *   o->touch bytes in all, spread over the whole guest so spur's page
 *   tables cover as much of it as a real guest's would.
 * The "full" table splits the guest into o->regions equal regions; the
 * "alternate" one merges them in pairs (one region: splits it in two), so
 * switching between them replaces every mapping; "unplug" is the full
 * table without its last region. Rings lie in region 0 in every table.
 *
 * A reconnection is a VM restart: this process unmaps and closes the old
 * memfd before closing the connection (spur then holds the last reference,
 * so its unmapping frees the pages) and brings a new memfd.
 *
 * Touching: reads of o->touch_io bytes into every piece from a null bdev
 * created with zero_reads, so spur's reactor writes (and faults in) each
 * page. Operations (ms_big_run_op) touch first, so each one has mappings
 * with populated page tables to replace or tear down.
 *
 * Threading: main thread only; the victim is told the phase through
 * ms_set_phase.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memstall.h"

#define BIG_RESERVE (2ull * MS_MIB)
#define BIG_PIECE (2ull * MS_MIB)
#define BIG_DEPTH 128u
#define BIG_MAX_REGIONS 8u
#define TOUCH_TIMEOUT_NS (120ull * 1000000000ull)

struct big_region {
	uint64_t gpa, size, uva, mmap_offset;
};

struct ms_big {
	const struct ms_opts *o;
	int fd;
	uint8_t *mem;
	uint64_t size;
	bool connected;
	bool slots;               /* CONFIGURE_MEM_SLOTS negotiated */
	struct ms_blk blk;
	uint64_t next_sector;
	uint64_t npieces, stride;
	struct ms_op_stats stats[T_COUNT];
};

const char *
ms_timed_op_name(enum ms_timed_op op)
{
	static const char *const names[T_COUNT] = {
		[T_SET_MEM_TABLE_REMAP] = "SET_MEM_TABLE (replace all)",
		[T_SET_MEM_TABLE_UNPLUG] = "SET_MEM_TABLE (unplug last)",
		[T_SET_MEM_TABLE_PLUG] = "SET_MEM_TABLE (plug last)",
		[T_REM_MEM_REG] = "REM_MEM_REG",
		[T_ADD_MEM_REG] = "ADD_MEM_REG",
		[T_DISCONNECT] = "disconnect (close)",
		[T_CONNECT] = "connect + set-up",
		[T_TOUCH] = "disruptor I/O round",
	};

	return (unsigned)op < T_COUNT ? names[op] : "?";
}

const struct ms_op_stats *
ms_big_op_stats(const struct ms_big *g, enum ms_timed_op op)
{
	return &g->stats[op];
}

bool
ms_big_has_slots(const struct ms_big *g)
{
	return g->slots;
}

static void
stat_add(struct ms_big *g, enum ms_timed_op op, uint64_t ns, bool ok)
{
	struct ms_op_stats *s = &g->stats[op];

	if (!ok) {
		s->failed++;
		return;
	}
	if (s->count == 0 || ns < s->min_ns) {
		s->min_ns = ns;
	}
	if (ns > s->max_ns) {
		s->max_ns = ns;
	}
	s->sum_ns += ns;
	s->count++;
}

/* ---- tables ------------------------------------------------------------------------ */

static struct big_region
make_region(const struct ms_big *g, uint64_t start, uint64_t end)
{
	return (struct big_region){.gpa = start, .size = end - start,
				   .uva = (uint64_t)(uintptr_t)(g->mem + start),
				   .mmap_offset = start};
}

/* Boundary i of the full table (0 .. n), 2 MiB aligned; the last one is the end. */
static uint64_t
full_bound(const struct ms_big *g, uint32_t i)
{
	uint64_t rs = (g->size / g->o->regions) & ~(BIG_PIECE - 1);

	return i >= g->o->regions ? g->size : rs * i;
}

static uint32_t
layout_full(const struct ms_big *g, struct big_region *r)
{
	uint32_t i;

	for (i = 0; i < g->o->regions; i++) {
		r[i] = make_region(g, full_bound(g, i), full_bound(g, i + 1));
	}
	return g->o->regions;
}

static uint32_t
layout_alternate(const struct ms_big *g, struct big_region *r)
{
	uint32_t n = g->o->regions, i, k = 0;

	if (n == 1) {
		uint64_t half = (g->size / 2) & ~(BIG_PIECE - 1);

		r[0] = make_region(g, 0, half);
		r[1] = make_region(g, half, g->size);
		return 2;
	}
	for (i = 0; i < n; i += 2) {
		r[k++] = make_region(g, full_bound(g, i), full_bound(g, i + 2 < n ? i + 2 : n));
	}
	return k;
}

static int
send_table(struct ms_big *g, const struct big_region *r, uint32_t n)
{
	struct {
		uint32_t nregions;
		uint32_t padding;
		struct big_region regions[BIG_MAX_REGIONS];
	} __attribute__((packed)) m;
	int fds[BIG_MAX_REGIONS];
	uint32_t i;

	memset(&m, 0, sizeof(m));
	m.nregions = n;
	for (i = 0; i < n; i++) {
		m.regions[i] = r[i];
		fds[i] = g->fd;
	}
	return vfe_request(&g->blk.dev, VFE_SET_MEM_TABLE, &m,
			   (uint32_t)(8 + n * sizeof(struct big_region)), fds, (int)n);
}

/* ADD_MEM_REG or REM_MEM_REG of one region (the fd goes with both, as QEMU sends it). */
static int
send_mem_reg(struct ms_big *g, uint32_t request, const struct big_region *r)
{
	struct {
		uint64_t padding;
		struct big_region region;
	} __attribute__((packed)) m = {.region = *r};

	return vfe_request(&g->blk.dev, request, &m, sizeof(m), &g->fd, 1);
}

/* ---- connection ---------------------------------------------------------------------- */

static int
big_connect(struct ms_big *g)
{
	struct ms_blk *b = &g->blk;
	struct big_region r[BIG_MAX_REGIONS];
	uint64_t max_slots;
	int rc;

	g->connected = true;      /* from here on, ms_big_disconnect closes what is open */
	rc = ms_blk_connect(b, g->o->big_sock, g->o->ops[MS_OP_SLOTS]);
	if (rc < 0) {
		return rc;
	}
	g->slots = (b->dev.protocol_features >> VFE_PROTOCOL_F_CONFIGURE_MEM_SLOTS) & 1u;
	if (g->slots) {
		rc = vfe_request_u64(&b->dev, VFE_GET_MAX_MEM_SLOTS, NULL, 0, &max_slots);
		if (rc < 0) {
			return rc;
		}
		if (max_slots < g->o->regions) {
			g->slots = false;
		}
	}
	/* The memory is ours; the frontend library only carves rings from it. */
	b->dev.mem = g->mem;
	b->dev.mem_size = g->size;
	b->dev.gpa_base = 0;
	b->dev.mem_brk = 0;
	rc = send_table(g, r, layout_full(g, r));
	if (rc < 0) {
		return rc;
	}
	rc = ms_blk_queue_init(b, BIG_DEPTH, g->o->touch_io, true);
	if (rc == 0 && b->dev.mem_brk > BIG_RESERVE) {
		snprintf(b->dev.err, sizeof(b->dev.err), "rings do not fit the reserved area");
		rc = -ENOMEM;
	}
	return rc;
}

void
ms_big_disconnect(struct ms_big *g)
{
	if (g->connected) {
		ms_blk_close(&g->blk, true);
		g->connected = false;
	}
}

/* A new sparse memfd of g->size bytes, mapped here. Returns 0 or -errno. */
static int
big_mem_map(struct ms_big *g)
{
	int err;

	g->fd = memfd_create("spur_memstall_big", MFD_CLOEXEC);
	if (g->fd < 0 || ftruncate(g->fd, (off_t)g->size) != 0) {
		err = errno;
		snprintf(g->blk.dev.err, sizeof(g->blk.dev.err), "memfd: %s", strerror(err));
		return -err;
	}
	g->mem = mmap(NULL, g->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, g->fd, 0);
	if (g->mem == MAP_FAILED) {
		err = errno;
		g->mem = NULL;
		snprintf(g->blk.dev.err, sizeof(g->blk.dev.err), "mmap of the guest: %s",
			 strerror(err));
		return -err;
	}
	return 0;
}

/*
 * Drop this process's hold on the guest memory, as an exiting QEMU does:
 * spur's mappings are then the last reference, and its unmapping frees the
 * pages.
 */
static void
big_mem_release(struct ms_big *g)
{
	if (g->mem != NULL) {
		munmap(g->mem, g->size);
		g->mem = NULL;
	}
	if (g->fd >= 0) {
		close(g->fd);
		g->fd = -1;
	}
}

struct ms_big *
ms_big_create(const struct ms_opts *o)
{
	struct ms_big *g = calloc(1, sizeof(*g));
	int rc;

	if (g == NULL) {
		return NULL;
	}
	g->o = o;
	g->fd = -1;
	g->size = o->guest_size;
	vfe_init(&g->blk.dev);
	g->npieces = o->touch / BIG_PIECE;
	if (g->npieces == 0) {
		g->npieces = 1;
	}
	g->stride = ((g->size - BIG_RESERVE) / g->npieces) & ~(BIG_PIECE - 1);
	if (g->size < BIG_RESERVE + BIG_PIECE || g->stride < BIG_PIECE) {
		fprintf(stderr, "spur_vhost_memstall: cannot touch %" PRIu64 " MiB of a %" PRIu64
			" MiB guest\n", o->touch >> 20, g->size >> 20);
		free(g);
		return NULL;
	}
	rc = big_mem_map(g);
	if (rc == 0) {
		rc = big_connect(g);
	}
	if (rc < 0) {
		fprintf(stderr, "spur_vhost_memstall: disruptor set-up: %s (%s)\n",
			g->blk.dev.err[0] ? g->blk.dev.err : "failed", strerror(-rc));
		ms_big_destroy(g);
		return NULL;
	}
	return g;
}

void
ms_big_destroy(struct ms_big *g)
{
	if (g == NULL) {
		return;
	}
	big_mem_release(g);
	ms_big_disconnect(g);
	free(g->blk.slots);
	free(g->blk.free_slots);
	free(g);
}

/* ---- touching ---------------------------------------------------------------------- */

/* Wait for the call eventfd (or 10 ms) and clear it. */
static void
wait_call(struct ms_blk *b)
{
	struct pollfd pfd = {.fd = b->q->call_fd, .events = POLLIN};
	uint64_t v;

	if (poll(&pfd, 1, 10) > 0) {
		(void)!read(b->q->call_fd, &v, sizeof(v));
	}
}

int
ms_big_touch(struct ms_big *g)
{
	struct ms_blk *b = &g->blk;
	uint64_t per_piece = BIG_PIECE / g->o->touch_io, total = g->npieces * per_piece;
	uint64_t sectors = g->o->touch_io / 512, next = 0, done = 0, failed = 0;
	uint64_t t0 = tool_now_ns();
	uint32_t s;
	bool ok, bad;
	int slot;

	if (!g->connected) {
		return -ENOTCONN;
	}
	while (done < total) {
		while (next < total && (slot = ms_blk_get_slot(b)) >= 0) {
			uint64_t gpa = BIG_RESERVE + (next / per_piece) * g->stride +
				       (next % per_piece) * g->o->touch_io;

			if (g->next_sector + sectors > b->capacity / 512) {
				g->next_sector = 0;
			}
			if (ms_blk_read(b, (uint32_t)slot, g->next_sector, gpa, g->o->touch_io,
					tool_now_ns()) != 0) {
				snprintf(b->dev.err, sizeof(b->dev.err), "ring full");
				return -ENOSPC;
			}
			g->next_sector += sectors;
			next++;
		}
		ms_blk_flush(b);
		while (ms_blk_reap(b, &s, &ok, &bad)) {
			if (bad) {
				snprintf(b->dev.err, sizeof(b->dev.err), "unknown id from the backend");
				return -EPROTO;
			}
			failed += !ok;
			done++;
		}
		if (done < total) {
			if (tool_now_ns() - t0 > TOUCH_TIMEOUT_NS) {
				snprintf(b->dev.err, sizeof(b->dev.err), "I/O did not complete");
				return -ETIMEDOUT;
			}
			wait_call(b);
		}
	}
	stat_add(g, T_TOUCH, tool_now_ns() - t0, failed == 0);
	if (failed > 0) {
		snprintf(b->dev.err, sizeof(b->dev.err), "%" PRIu64 " reads failed", failed);
		return -EIO;
	}
	return 0;
}

/* ---- operations -------------------------------------------------------------------- */

/*
 * A timed step: step_begin makes ph the victim's phase and starts the clock;
 * step_end records rc's outcome as op and, when it succeeded, lets the
 * victim run settle_ms more in that phase (background work the step
 * started, such as unmapping, lands in its window).
 */
static uint64_t
step_begin(struct ms_victim *v, enum ms_phase ph)
{
	ms_set_phase(v, ph);
	return tool_now_ns();
}

static int
step_end(struct ms_big *g, enum ms_timed_op op, uint64_t t0, int rc)
{
	stat_add(g, op, tool_now_ns() - t0, rc == 0);
	if (rc == 0) {
		ms_sleep_ms(g->o->settle_ms);
	}
	return rc;
}

static int
touch_phase(struct ms_big *g, struct ms_victim *v)
{
	ms_set_phase(v, PH_TOUCH);
	return ms_big_touch(g);
}

int
ms_big_run_op(struct ms_big *g, enum ms_op_kind kind, struct ms_victim *v)
{
	struct big_region full[BIG_MAX_REGIONS], alt[BIG_MAX_REGIONS];
	uint32_t nfull = layout_full(g, full), nalt = layout_alternate(g, alt);
	uint64_t t0;
	int rc;

	if ((kind == MS_OP_UNPLUG || kind == MS_OP_SLOTS) && nfull < 2) {
		return -ENOTSUP;
	}
	if (kind == MS_OP_SLOTS && !g->slots) {
		return -ENOTSUP;
	}
	rc = touch_phase(g, v);
	if (rc < 0) {
		return rc;
	}
	switch (kind) {
	case MS_OP_REMAP:
		t0 = step_begin(v, PH_REMAP);
		rc = step_end(g, T_SET_MEM_TABLE_REMAP, t0, send_table(g, alt, nalt));
		if (rc == 0) {
			rc = touch_phase(g, v);
		}
		if (rc == 0) {
			t0 = step_begin(v, PH_REMAP);
			rc = step_end(g, T_SET_MEM_TABLE_REMAP, t0, send_table(g, full, nfull));
		}
		break;
	case MS_OP_UNPLUG:
		t0 = step_begin(v, PH_UNPLUG);
		rc = step_end(g, T_SET_MEM_TABLE_UNPLUG, t0, send_table(g, full, nfull - 1));
		if (rc == 0) {
			t0 = step_begin(v, PH_PLUG);
			rc = step_end(g, T_SET_MEM_TABLE_PLUG, t0, send_table(g, full, nfull));
		}
		break;
	case MS_OP_SLOTS:
		t0 = step_begin(v, PH_REM_REG);
		rc = step_end(g, T_REM_MEM_REG, t0,
			      send_mem_reg(g, VFE_REM_MEM_REG, &full[nfull - 1]));
		if (rc == 0) {
			t0 = step_begin(v, PH_ADD_REG);
			rc = step_end(g, T_ADD_MEM_REG, t0,
				      send_mem_reg(g, VFE_ADD_MEM_REG, &full[nfull - 1]));
		}
		break;
	case MS_OP_RECONNECT:
		/*
		 * A VM restart: the old frontend lets go of its memory (not
		 * measured: that is its own cost, on its own cores) and closes;
		 * the new one brings new memory.
		 */
		ms_set_phase(v, PH_IDLE);
		big_mem_release(g);
		t0 = step_begin(v, PH_DISCONNECT);
		ms_big_disconnect(g);
		rc = step_end(g, T_DISCONNECT, t0, 0);
		if (rc == 0) {
			rc = big_mem_map(g);
		}
		if (rc == 0) {
			t0 = step_begin(v, PH_CONNECT);
			rc = step_end(g, T_CONNECT, t0, big_connect(g));
		}
		break;
	default:
		return -EINVAL;
	}
	return rc;
}

const char *
ms_big_err(const struct ms_big *g)
{
	return g->blk.dev.err;
}
