/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spur_vhost_memstall statistics: a log-linear latency histogram (64
 * sub-buckets per power of two, so a percentile is within ~1.5%), the
 * per-phase windows the victim fills, the list of the largest completion
 * gaps, and the table rows printed from them.
 *
 * Threading: a histogram or window is written by one thread (the victim)
 * and read by the main thread after joining it; nothing here locks.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memstall.h"

static uint32_t
hist_index(uint64_t v)
{
	uint32_t msb, shift, idx;

	if (v < MS_HIST_SUB) {
		return (uint32_t)v;
	}
	msb = 63u - (uint32_t)__builtin_clzll(v);
	shift = msb - MS_HIST_SUB_BITS;
	idx = (shift + 1) * MS_HIST_SUB + (uint32_t)((v >> shift) & (MS_HIST_SUB - 1));
	return idx < MS_HIST_BUCKETS ? idx : MS_HIST_BUCKETS - 1;
}

/* Upper end of bucket idx: a percentile is never reported below the truth. */
static double
hist_upper(uint32_t idx)
{
	uint32_t shift;

	if (idx < MS_HIST_SUB) {
		return idx;
	}
	shift = idx / MS_HIST_SUB - 1;
	return (double)((((uint64_t)MS_HIST_SUB + (idx % MS_HIST_SUB)) << shift) +
			(1ull << shift) - 1);
}

void
ms_hist_add(struct ms_hist *h, uint64_t v)
{
	h->b[hist_index(v)]++;
	h->n++;
}

void
ms_hist_merge(struct ms_hist *into, const struct ms_hist *h)
{
	uint32_t i;

	for (i = 0; i < MS_HIST_BUCKETS; i++) {
		into->b[i] += h->b[i];
	}
	into->n += h->n;
}

double
ms_hist_pct(const struct ms_hist *h, double pct)
{
	uint64_t want, seen = 0;
	uint32_t i;

	if (h->n == 0) {
		return 0;
	}
	want = (uint64_t)((double)h->n * pct / 100.0);
	if (want >= h->n) {
		want = h->n - 1;
	}
	for (i = 0; i < MS_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen > want) {
			return hist_upper(i);
		}
	}
	return hist_upper(MS_HIST_BUCKETS - 1);
}

static uint64_t
max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

void
ms_window_merge(struct ms_window *into, const struct ms_window *w)
{
	into->ios += w->ios;
	into->errors += w->errors;
	into->time_ns += w->time_ns;
	into->max_gap_ns = max_u64(into->max_gap_ns, w->max_gap_ns);
	into->max_stall_ns = max_u64(into->max_stall_ns, w->max_stall_ns);
	into->stalled_ns += w->stalled_ns;
	into->spur_wait_ns += w->spur_wait_ns;
	into->max_loop_ns = max_u64(into->max_loop_ns, w->max_loop_ns);
	into->max_lat_ns = max_u64(into->max_lat_ns, w->max_lat_ns);
	ms_hist_merge(&into->lat, &w->lat);
}

void
ms_window_print_header(FILE *f)
{
	fprintf(f, "%-13s %7s %9s %8s %7s %8s %9s %9s %10s %10s %10s %10s %6s %8s\n", "phase",
		"time_s", "ios", "IOPS", "p50_us", "p99_us", "p99.9_us", "max_us", "max_gap_us",
		"max_stall", "max_loop", "spur_wait", "errors", "stalled");
}

void
ms_window_print(FILE *f, const char *label, const struct ms_window *w)
{
	double secs = (double)w->time_ns / 1e9;

	fprintf(f, "%-13s %7.2f %9" PRIu64 " %8.0f %7.1f %8.1f %9.1f %9.1f %10.1f %10.1f %10.1f"
		" %10.1f %6" PRIu64 " %7.1f%%\n", label, secs, w->ios,
		secs > 0 ? (double)w->ios / secs : 0.0, ms_hist_pct(&w->lat, 50) / 1e3,
		ms_hist_pct(&w->lat, 99) / 1e3, ms_hist_pct(&w->lat, 99.9) / 1e3,
		(double)w->max_lat_ns / 1e3, (double)w->max_gap_ns / 1e3,
		(double)w->max_stall_ns / 1e3, (double)w->max_loop_ns / 1e3,
		(double)w->spur_wait_ns / 1e6, w->errors,
		w->time_ns ? 100.0 * (double)w->stalled_ns / (double)w->time_ns : 0.0);
}

void
ms_gap_note(struct ms_gap *top, uint64_t gap_ns, uint64_t at_ns, enum ms_phase phase)
{
	int i = MS_TOP_GAPS - 1;

	if (gap_ns <= top[i].gap_ns) {
		return;
	}
	while (i > 0 && top[i - 1].gap_ns < gap_ns) {
		top[i] = top[i - 1];
		i--;
	}
	top[i] = (struct ms_gap){.gap_ns = gap_ns, .at_ns = at_ns, .phase = phase};
}

const char *
ms_phase_name(enum ms_phase p)
{
	static const char *const names[PH_COUNT] = {
		[PH_IDLE] = "idle",
		[PH_BASELINE] = "baseline",
		[PH_TOUCH] = "disruptor_io",
		[PH_REMAP] = "remap",
		[PH_UNPLUG] = "unplug",
		[PH_PLUG] = "plug",
		[PH_REM_REG] = "rem_mem_reg",
		[PH_ADD_REG] = "add_mem_reg",
		[PH_DISCONNECT] = "disconnect",
		[PH_CONNECT] = "connect",
		[PH_AFTER] = "after",
	};

	return (unsigned)p < PH_COUNT ? names[p] : "?";
}

/* ---- per stretch ----------------------------------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *x, uint32_t n)
{
	qsort(x, n, sizeof(*x), cmp_double);
	return n == 0 ? 0 : n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

/* Index of the first event that ended at or after t (events are in time order). */
static uint64_t
first_event(const struct ms_victim *v, uint64_t t)
{
	uint64_t lo = 0, hi = v->nevents, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (v->events[mid].at_ns < t) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo;
}

/* Longest stall and time stalled (stalls >= MS_STALL_NS) ending inside step s. */
static void
step_figures(const struct ms_victim *v, const struct ms_step *s, double *max_ns,
	     double *stalled_ns)
{
	uint64_t i;

	*max_ns = 0;
	*stalled_ns = 0;
	for (i = first_event(v, s->start_ns); i < v->nevents && v->events[i].at_ns < s->end_ns;
	     i++) {
		double st = (double)v->events[i].stall_ns;

		if (st > *max_ns) {
			*max_ns = st;
		}
		if (v->events[i].stall_ns >= MS_STALL_NS) {
			*stalled_ns += st;
		}
	}
}

void
ms_steps_print(FILE *f, const struct ms_victim *v, double *base_med, double *dis_med)
{
	double *mx = calloc(MS_MAX_STEPS, sizeof(*mx)), *sh = calloc(MS_MAX_STEPS, sizeof(*sh));
	double *dis = calloc(MS_MAX_STEPS, sizeof(*dis)), st_max, st_stalled, big, bigsh;
	uint32_t i, n, nd = 0;
	int p;

	*base_med = *dis_med = 0;
	if (mx == NULL || sh == NULL || dis == NULL || v->steps == NULL || v->events == NULL) {
		goto out;
	}
	fprintf(f, "%-13s %7s %15s %15s %13s %13s\n", "phase", "windows", "med_max_stall_us",
		"max_max_stall_us", "med_stalled", "max_stalled");
	for (p = PH_BASELINE; p < PH_COUNT; p++) {
		n = 0;
		big = bigsh = 0;
		for (i = 0; i < v->nsteps; i++) {
			const struct ms_step *s = &v->steps[i];

			if (s->phase != (enum ms_phase)p || s->end_ns <= s->start_ns) {
				continue;
			}
			step_figures(v, s, &st_max, &st_stalled);
			mx[n] = st_max;
			sh[n] = 100.0 * st_stalled / (double)(s->end_ns - s->start_ns);
			big = st_max > big ? st_max : big;
			bigsh = sh[n] > bigsh ? sh[n] : bigsh;
			if (p >= PH_DISRUPT_FIRST && p <= PH_DISRUPT_LAST) {
				dis[nd++] = st_max;
			}
			n++;
		}
		if (n == 0) {
			continue;
		}
		fprintf(f, "%-13s %7u %16.1f %16.1f %12.1f%% %12.1f%%\n",
			ms_phase_name((enum ms_phase)p), n, median(mx, n) / 1e3, big / 1e3,
			median(sh, n), bigsh);
		if (p == PH_BASELINE) {
			*base_med = median(mx, n);
		}
	}
	*dis_med = median(dis, nd);
	fprintf(f, "%-13s %7u %16.1f\n", "disrupting", nd, *dis_med / 1e3);
out:
	free(mx);
	free(sh);
	free(dis);
}
