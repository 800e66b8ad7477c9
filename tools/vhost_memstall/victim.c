/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The victim of spur_vhost_memstall: a small guest on its own controller
 * that keeps o->victim_depth 4 KiB random reads in flight, busy-polling
 * its used ring on its own OS thread (no interrupts), and records into the
 * window of the phase the main thread names:
 * - per-request latency (poll pass that submitted -> pass that saw it used);
 * - the gap between two consecutive poll passes that found completions
 *   (the figure a stall shows up in), and the largest gaps overall;
 * - the gap between two consecutive poll passes at all: when that one is
 *   large too, the victim itself was not running (preempted), and a long
 *   completion gap is the tool's own, not spur's.
 *
 * Threading: everything here runs on the victim thread except
 * ms_victim_start/stop (main thread), which communicate through the atomic
 * flags of struct ms_victim.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "memstall.h"

#define VICTIM_IO 4096u
#define DRAIN_NS (5ull * 1000000000ull)
/* A poll pass longer than this means the victim was interrupted or preempted. */
#define ABSENT_NS 20000ull
#define SPUR_MIN_U64(a, b) ((a) < (b) ? (a) : (b))

struct victim_run {
	struct ms_victim *v;
	uint64_t *data_gpa;      /* per slot */
	uint64_t rng;
	uint64_t blocks;         /* 4 KiB blocks on the device */
	uint64_t last_done_ns;   /* last pass that found completions */
	uint64_t absent_ns;      /* since then: time the victim was not polling */
};

static void
victim_fail(struct ms_victim *v, const char *what, int rc)
{
	snprintf(v->err, sizeof(v->err), "victim: %s: %s (%s)", what,
		 v->blk.dev.err[0] ? v->blk.dev.err : "failed", strerror(rc < 0 ? -rc : rc));
	atomic_store(&v->failed, true);
}

static int
victim_submit(struct victim_run *r, uint32_t s, uint64_t now)
{
	struct ms_blk *b = &r->v->blk;
	uint64_t blk = tool_xorshift(&r->rng) % r->blocks;

	return ms_blk_read(b, s, blk * (VICTIM_IO / 512), r->data_gpa[s], VICTIM_IO, now);
}

static int
victim_setup(struct victim_run *r)
{
	struct ms_victim *v = r->v;
	struct ms_blk *b = &v->blk;
	uint32_t s;
	int rc;

	rc = ms_blk_connect(b, v->o->victim_sock, false);
	if (rc < 0) {
		victim_fail(v, "connect", rc);
		return rc;
	}
	rc = vfe_mem_init(&b->dev, v->o->victim_mem, 0);
	if (rc == 0) {
		rc = vfe_set_mem_table(&b->dev);
	}
	if (rc == 0) {
		rc = ms_blk_queue_init(b, v->o->victim_depth, VICTIM_IO, false);
	}
	if (rc < 0) {
		victim_fail(v, "set-up", rc);
		return rc;
	}
	r->blocks = b->capacity / VICTIM_IO;
	r->data_gpa = calloc(v->o->victim_depth, sizeof(*r->data_gpa));
	if (r->blocks == 0 || r->data_gpa == NULL) {
		victim_fail(v, "device too small or out of memory", -EINVAL);
		return -EINVAL;
	}
	for (s = 0; s < v->o->victim_depth; s++) {
		if (vfe_mem_alloc(&b->dev, VICTIM_IO, 4096, &r->data_gpa[s]) == NULL) {
			victim_fail(v, "guest memory too small", -ENOMEM);
			return -ENOMEM;
		}
	}
	return 0;
}

/* One pass over the used ring: record and resubmit. Returns -EPROTO on a bad id. */
static int
victim_poll(struct victim_run *r, uint64_t now, bool submit)
{
	struct ms_victim *v = r->v;
	struct ms_blk *b = &v->blk;
	enum ms_phase ph = (enum ms_phase)atomic_load_explicit(&v->phase, memory_order_relaxed);
	struct ms_window *w = &v->win[ph];
	bool any = false, ok, bad;
	uint32_t s;

	while (ms_blk_reap(b, &s, &ok, &bad)) {
		uint64_t lat;

		if (bad) {
			snprintf(v->err, sizeof(v->err), "victim: backend returned an unknown id");
			atomic_store(&v->failed, true);
			return -EPROTO;
		}
		any = true;
		lat = now - b->slots[s].submit_ns;
		if (ph != PH_IDLE) {
			w->ios++;
			w->errors += !ok;
			ms_hist_add(&w->lat, lat);
			if (lat > w->max_lat_ns) {
				w->max_lat_ns = lat;
			}
		}
		if (submit && victim_submit(r, (uint32_t)ms_blk_get_slot(b), now) != 0) {
			snprintf(v->err, sizeof(v->err), "victim: ring full");
			atomic_store(&v->failed, true);
			return -ENOSPC;
		}
	}
	if (!any) {
		return 0;
	}
	if (r->last_done_ns != 0 && ph != PH_IDLE) {
		uint64_t gap = now - r->last_done_ns;
		uint64_t stall = gap - SPUR_MIN_U64(gap, r->absent_ns);

		if (gap > w->max_gap_ns) {
			w->max_gap_ns = gap;
		}
		if (stall > w->max_stall_ns) {
			w->max_stall_ns = stall;
		}
		if (stall >= MS_STALL_NS) {
			w->stalled_ns += stall;
		}
		if (stall >= MS_EVENT_NS && v->events != NULL && v->nevents < MS_MAX_EVENTS) {
			v->events[v->nevents++] = (struct ms_event){.at_ns = now - v->start_ns,
								    .stall_ns = stall};
		}
		ms_gap_note(v->top, gap, now - v->start_ns, ph);
	}
	r->last_done_ns = now;
	r->absent_ns = 0;
	if (submit) {
		ms_blk_flush(b);
	}
	return 1;
}

/* The backend sends nothing unasked on the socket: readable means it hung up. */
static bool
backend_gone(struct ms_victim *v)
{
	struct pollfd pfd = {.fd = v->blk.dev.sock, .events = POLLIN};

	return poll(&pfd, 1, 0) > 0;
}

static void *
victim_main(void *arg)
{
	struct victim_run r = {.v = arg, .rng = 0x9E3779B97F4A7C15ull};
	struct ms_victim *v = r.v;
	uint64_t now, prev = 0, iter, drain_end;
	uint32_t s;
	int rc;

	if (v->o->victim_core >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(v->o->victim_core, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	if (victim_setup(&r) < 0) {
		goto out;
	}
	now = tool_now_ns();
	for (s = 0; s < v->o->victim_depth; s++) {
		victim_submit(&r, (uint32_t)ms_blk_get_slot(&v->blk), now);
	}
	ms_blk_flush(&v->blk);
	atomic_store(&v->ready, true);
	for (iter = 0; !atomic_load_explicit(&v->stop, memory_order_relaxed); iter++) {
		enum ms_phase ph;

		now = tool_now_ns();
		ph = (enum ms_phase)atomic_load_explicit(&v->phase, memory_order_relaxed);
		if (prev != 0 && now - prev > ABSENT_NS) {
			r.absent_ns += now - prev;
		}
		if (prev != 0 && ph != PH_IDLE && now - prev > v->win[ph].max_loop_ns) {
			v->win[ph].max_loop_ns = now - prev;
		}
		prev = now;
		rc = victim_poll(&r, now, true);
		if (rc < 0) {
			goto out;
		}
		if ((iter & 4095) == 0 && backend_gone(v)) {
			snprintf(v->err, sizeof(v->err), "victim: the backend closed the connection");
			atomic_store(&v->failed, true);
			goto out;
		}
	}
	/* Drain what is in flight, without resubmitting. */
	drain_end = tool_now_ns() + DRAIN_NS;
	while (v->blk.inflight > 0 && (now = tool_now_ns()) < drain_end) {
		if (victim_poll(&r, now, false) < 0) {
			break;
		}
	}
	v->lost = v->blk.inflight;
	if (v->lost == 0) {
		vfe_queue_stop(&v->blk.dev, 0, NULL);
	}
out:
	atomic_store(&v->ready, true);
	ms_blk_close(&v->blk, false);
	free(r.data_gpa);
	return NULL;
}

int
ms_victim_start(struct ms_victim *v, const struct ms_opts *o, uint64_t start_ns)
{
	int rc;

	v->o = o;
	v->start_ns = start_ns;
	/* Untouched until used: the pages come as stalls are recorded. */
	v->events = calloc(MS_MAX_EVENTS, sizeof(*v->events));
	v->steps = calloc(MS_MAX_STEPS, sizeof(*v->steps));
	vfe_init(&v->blk.dev);
	atomic_store(&v->phase, PH_IDLE);
	v->phase_start_ns = tool_now_ns();
	rc = pthread_create(&v->tid, NULL, victim_main, v);
	if (rc != 0) {
		snprintf(v->err, sizeof(v->err), "victim: pthread_create: %s", strerror(rc));
		return -rc;
	}
	while (!atomic_load(&v->ready)) {
		usleep(1000);
	}
	if (atomic_load(&v->failed)) {
		pthread_join(v->tid, NULL);
		return -EIO;
	}
	return 0;
}

void
ms_victim_stop(struct ms_victim *v)
{
	atomic_store(&v->stop, true);
	pthread_join(v->tid, NULL);
}

void
ms_set_phase(struct ms_victim *v, enum ms_phase p)
{
	uint64_t now = tool_now_ns(), cpu, wait = 0;
	enum ms_phase old = (enum ms_phase)atomic_load(&v->phase);

	if (v->o->spur_pid > 0 && ms_proc_sched(v->o->spur_pid, v->o->spur_pid, &cpu, &wait) == 0) {
		if (v->spur_wait_ns != 0) {
			v->win[old].spur_wait_ns += wait - v->spur_wait_ns;
		}
		v->spur_wait_ns = wait;
	}
	v->win[old].time_ns += now - v->phase_start_ns;
	if (old != PH_IDLE && v->steps != NULL && v->nsteps < MS_MAX_STEPS) {
		v->steps[v->nsteps++] = (struct ms_step){.phase = old,
							 .start_ns = v->phase_start_ns - v->start_ns,
							 .end_ns = now - v->start_ns};
	}
	v->phase_start_ns = now;
	atomic_store(&v->phase, p);
}

void
ms_sleep_ms(uint32_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}
