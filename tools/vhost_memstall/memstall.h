/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spur_vhost_memstall: does (re)mapping a large guest's memory stall the
 * other controllers of the same spur core?
 *
 * Two vhost-user-blk frontends (frontend.h, no spur code) in one process:
 * - the victim (victim.c): a small guest on one controller, busy-polling
 *   reads at a fixed queue depth on its own OS thread, recording latency
 *   and the gap between consecutive completions into the window (phase)
 *   the main thread currently names;
 * - the disruptor (big_guest.c): a sparse memfd guest of 100+ GiB on a
 *   second controller of the same core, split into several regions, whose
 *   I/O makes spur touch a chosen amount of it, and which then changes its
 *   memory table in every way a frontend can (full remap, hot-unplug and
 *   plug, REM/ADD_MEM_REG, disconnect and reconnect).
 * main.c runs the phases (baseline, disruption, after) and prints the
 * victim's figures per phase and the disruptor's operation times.
 *
 * This header holds what the files share: options, phases, the latency
 * histogram and per-phase windows (stats.c), and a minimal virtio-blk
 * driver over the frontend library (blk.c).
 *
 * Threading: the victim thread owns its struct ms_blk and its windows;
 * the main thread owns the disruptor. They share only the atomic phase
 * index and the stop flag (struct ms_victim); the main thread reads the
 * victim's windows after joining it.
 */
#ifndef SPUR_TOOLS_VHOST_MEMSTALL_H
#define SPUR_TOOLS_VHOST_MEMSTALL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <linux/virtio_blk.h>

#include "frontend.h"
#include "tool_util.h"

#define MS_GIB (1ull << 30)
#define MS_MIB (1ull << 20)

/* ---- options ------------------------------------------------------------------ */

enum ms_op_kind {
	MS_OP_REMAP,      /* SET_MEM_TABLE with every region replaced (and back) */
	MS_OP_UNPLUG,     /* SET_MEM_TABLE without the last region, then with it */
	MS_OP_SLOTS,      /* REM_MEM_REG / ADD_MEM_REG of the last region */
	MS_OP_RECONNECT,  /* close the connection, connect and set up again */
	MS_OP_KINDS,
};

struct ms_opts {
	const char *victim_sock;
	const char *big_sock;
	uint32_t victim_depth;
	uint64_t victim_mem;       /* bytes */
	uint64_t guest_size;       /* disruptor guest, bytes */
	uint32_t regions;          /* 1..8 */
	uint64_t touch;            /* bytes of the big guest spur touches per round */
	uint32_t touch_io;         /* request size of the touching reads */
	uint32_t iterations;
	bool ops[MS_OP_KINDS];
	uint32_t baseline_ms;
	uint32_t settle_ms;        /* victim measured this long after each operation */
	int victim_core, big_core; /* -1: not pinned */
	int spur_pid;              /* > 0: report spur's memory from /proc */
};

/* ---- phases --------------------------------------------------------------------- */

enum ms_phase {
	PH_IDLE,          /* not recorded (set-up, draining) */
	PH_BASELINE,      /* disruptor connected and idle */
	PH_TOUCH,         /* disruptor I/O over its guest (shares the core: expected cost) */
	PH_REMAP,
	PH_UNPLUG,
	PH_PLUG,
	PH_REM_REG,
	PH_ADD_REG,
	PH_DISCONNECT,
	PH_CONNECT,
	PH_AFTER,         /* disruptor gone, its memory unmapped */
	PH_COUNT,
};

/* First and last phase that count as "disrupting". */
#define PH_DISRUPT_FIRST PH_REMAP
#define PH_DISRUPT_LAST PH_CONNECT

const char *ms_phase_name(enum ms_phase p);

/* ---- statistics (stats.c) --------------------------------------------------------- */

#define MS_HIST_SUB_BITS 6
#define MS_HIST_SUB (1u << MS_HIST_SUB_BITS)
#define MS_HIST_BUCKETS (MS_HIST_SUB * 52)
#define MS_TOP_GAPS 5
/* A completion gap (victim polling) this long counts as a stall in stalled_ns. */
#define MS_STALL_NS 1000000ull

struct ms_hist {
	uint64_t n;
	uint64_t b[MS_HIST_BUCKETS];
};

void ms_hist_add(struct ms_hist *h, uint64_t v);
void ms_hist_merge(struct ms_hist *into, const struct ms_hist *h);
/* Value (ns, within ~1.5%) under which pct percent of the samples lie; 0 if none. */
double ms_hist_pct(const struct ms_hist *h, double pct);

/* What the victim saw while one phase was current (all its occurrences). */
struct ms_window {
	uint64_t ios, errors;
	uint64_t time_ns;          /* filled by the main thread: how long the phase was current */
	uint64_t max_gap_ns;       /* longest time between two completions */
	uint64_t max_stall_ns;     /* same, minus the time the victim itself was not polling */
	uint64_t stalled_ns;       /* sum of those stalls longer than MS_STALL_NS */
	uint64_t max_loop_ns;      /* longest time between two poll passes (victim preempted) */
	uint64_t spur_wait_ns;     /* main thread, --spur-pid: spur's reactor ready but not running */
	uint64_t max_lat_ns;
	struct ms_hist lat;
};

void ms_window_merge(struct ms_window *into, const struct ms_window *w);
/* One table row: phase label, then figures. */
void ms_window_print(FILE *f, const char *label, const struct ms_window *w);
void ms_window_print_header(FILE *f);

/* A large completion gap, for the report: when and in which phase. */
struct ms_gap {
	uint64_t gap_ns;
	uint64_t at_ns;            /* completion that ended it, since the run started */
	enum ms_phase phase;
};

/* A stall the victim saw: polling, no completion for at least MS_EVENT_NS. */
struct ms_event {
	uint64_t at_ns;            /* when it ended, since the run started */
	uint64_t stall_ns;
};

#define MS_EVENT_NS 100000ull
#define MS_MAX_EVENTS (1u << 20)

/*
 * One stretch of one phase (main thread: from one ms_set_phase to the
 * next). Figures per stretch, then the median over the stretches of a
 * phase, keep a burst of load from another process on the machine (one
 * stretch) from passing for spur's behaviour.
 */
struct ms_step {
	enum ms_phase phase;
	uint64_t start_ns, end_ns; /* since the run started */
};

#define MS_MAX_STEPS 8192u

/* Keep the MS_TOP_GAPS largest gaps in top (sorted, largest first). */
void ms_gap_note(struct ms_gap *top, uint64_t gap_ns, uint64_t at_ns, enum ms_phase phase);

struct ms_victim;
/*
 * Per-stretch table: for each phase, how many stretches, the median and
 * largest of their longest stall, and the median and largest share of
 * their time stalled (stalls of MS_STALL_NS or more). *base_med and
 * *dis_med get the median longest stall (ns) over the baseline stretches
 * and over all disrupting ones.
 */
void ms_steps_print(FILE *f, const struct ms_victim *v, double *base_med, double *dis_med);

/* ---- virtio-blk driver (blk.c) ----------------------------------------------------- */

#define MS_MAX_SEGS 64

struct ms_slot {
	struct virtio_blk_outhdr *hdr;
	uint8_t *status;
	uint64_t hdr_gpa;
	struct vfe_buf bufs[MS_MAX_SEGS + 2];
	int nbufs;
	uint64_t submit_ns;
	uint32_t len;             /* data bytes */
};

struct ms_blk {
	struct vfe_dev dev;
	struct vfe_queue *q;
	struct virtio_blk_config cfg;
	uint64_t capacity;        /* bytes */
	uint32_t size_max;        /* bytes per data descriptor */
	uint32_t seg_max;
	uint32_t depth;
	uint32_t stride;          /* descriptors per slot */
	uint32_t inflight;
	struct ms_slot *slots;
	uint32_t *free_slots;     /* stack of idle slot numbers */
	uint32_t nfree;
};

/*
 * Connect to sock (retrying while the backend still closes a previous
 * session), negotiate (REPLY_ACK, CONFIG, and CONFIGURE_MEM_SLOTS when
 * slots), read the config and set features. No memory or queue yet.
 * Returns 0 or -errno with b->dev.err set.
 */
int ms_blk_connect(struct ms_blk *b, const char *sock, bool slots);
/*
 * With guest memory in place and its table sent: set up queue 0 for depth
 * requests of up to max_io bytes; headers and rings come from the guest
 * memory's bump allocator. irq: ask for call-eventfd writes. Returns 0 or -errno.
 */
int ms_blk_queue_init(struct ms_blk *b, uint32_t depth, uint32_t max_io, bool irq);
/* A free slot number, or -1 when depth requests are in flight. */
int ms_blk_get_slot(struct ms_blk *b);
/*
 * Make a read of len bytes at sector into guest memory [gpa, gpa + len)
 * available on slot s (not yet published). Returns 0 or -errno.
 */
int ms_blk_read(struct ms_blk *b, uint32_t s, uint64_t sector, uint64_t gpa, uint32_t len,
		uint64_t now);
/* Publish and kick when the device asks for it. */
void ms_blk_flush(struct ms_blk *b);
/*
 * Take one completion: *slot, and whether it succeeded (status OK, length
 * as expected). The slot goes back to the free stack. False when none;
 * -EPROTO via *bad when the device returned an id never submitted.
 */
bool ms_blk_reap(struct ms_blk *b, uint32_t *slot, bool *ok, bool *bad);
/*
 * Close the connection and eventfds; free slots. keep_mem: the guest
 * memory is the caller's (not unmapped, fd not closed).
 */
void ms_blk_close(struct ms_blk *b, bool keep_mem);

/* ---- victim (victim.c) ---------------------------------------------------------------- */

struct ms_victim {
	const struct ms_opts *o;
	pthread_t tid;
	_Atomic int phase;        /* enum ms_phase, written by the main thread */
	_Atomic bool stop;
	_Atomic bool ready;       /* set up and running */
	_Atomic bool failed;
	char err[512];
	uint64_t start_ns;
	struct ms_blk blk;
	struct ms_window win[PH_COUNT];
	struct ms_gap top[MS_TOP_GAPS];
	uint64_t lost;            /* requests that never completed at the end */
	struct ms_event *events;  /* victim thread until joined */
	uint64_t nevents;
	struct ms_step *steps;    /* main thread only */
	uint32_t nsteps;
	uint64_t phase_start_ns;  /* main thread only: when the current phase began */
	uint64_t spur_wait_ns;    /* main thread only: reactor's run-queue wait at that time */
};

/* Start the victim thread; returns 0 once it runs I/O, or -errno with v->err set. */
int ms_victim_start(struct ms_victim *v, const struct ms_opts *o, uint64_t start_ns);
/* Stop, drain and join it. */
void ms_victim_stop(struct ms_victim *v);

/* ---- disruptor (big_guest.c) ------------------------------------------------------------ */

struct ms_op_stats {
	uint32_t count, failed;
	uint64_t min_ns, max_ns, sum_ns;
};

/* Operations timed from the frontend's side. */
enum ms_timed_op {
	T_SET_MEM_TABLE_REMAP,
	T_SET_MEM_TABLE_UNPLUG,
	T_SET_MEM_TABLE_PLUG,
	T_REM_MEM_REG,
	T_ADD_MEM_REG,
	T_DISCONNECT,
	T_CONNECT,
	T_TOUCH,
	T_COUNT,
};

struct ms_big;

/*
 * Create the sparse guest, connect and set it up (table of o->regions
 * regions, queue). Returns NULL with a message on stderr.
 */
struct ms_big *ms_big_create(const struct ms_opts *o);
/* Whether the backend offered CONFIGURE_MEM_SLOTS. */
bool ms_big_has_slots(const struct ms_big *g);
/* Read o->touch bytes spread over the guest (spur writes zeroes there). Returns 0 or -errno. */
int ms_big_touch(struct ms_big *g);
/*
 * One operation of kind, in two timed steps (remap there and back, unplug
 * and plug, REM and ADD, disconnect and connect), the victim's phase set
 * around each step and held settle_ms after it. Returns 0 or -errno.
 */
int ms_big_run_op(struct ms_big *g, enum ms_op_kind kind, struct ms_victim *v);
/* Close the connection (the final teardown, not timed) and keep the memory. */
void ms_big_disconnect(struct ms_big *g);
const struct ms_op_stats *ms_big_op_stats(const struct ms_big *g, enum ms_timed_op op);
const char *ms_timed_op_name(enum ms_timed_op op);
/* The disruptor's last error message (frontend or tool). */
const char *ms_big_err(const struct ms_big *g);
void ms_big_destroy(struct ms_big *g);

/* ---- spur through /proc (procstat.c) ----------------------------------------------------- */

/* CPU time and run-queue wait of one thread of pid; 0 or -1. */
int ms_proc_sched(int pid, int tid, uint64_t *cpu_ns, uint64_t *wait_ns);
/* One "spur_mem <when> ..." line: RSS, mappings of the large guest, unmap thread. */
void ms_proc_report(int pid, const char *when);

/*
 * Main thread: make p the victim's current phase (accounting phase time
 * and, with --spur-pid, the reactor's run-queue wait to the old phase).
 */
void ms_set_phase(struct ms_victim *v, enum ms_phase p);
/* Sleep ms milliseconds (nanosleep, restarted on EINTR). */
void ms_sleep_ms(uint32_t ms);

#endif
