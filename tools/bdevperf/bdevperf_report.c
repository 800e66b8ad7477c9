/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Latency histograms and the results report of spur_bdevperf.
 *
 * A histogram is a fixed array of log-linear buckets over ticks (see
 * bdevperf.h): recording is a few instructions and never allocates. Each
 * job records into its own histogram on its own thread; the report merges
 * them on the application thread after every job finished.
 *
 * Output, one line per job and a total, "key value" pairs in a fixed order
 * so scripts can split on spaces:
 *   Job: <bdev> core <n>: IOPS <x> MiB/s <y> avg_lat_us <a> p50_us <b> p99_us <c>
 *        p999_us <d> max_us <e> errors <k>
 *   Total: IOPS <x> MiB/s <y> avg_lat_us <a> p50_us <b> p99_us <c> p999_us <d>
 *        max_us <e> errors <k>
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdevperf.h"

#define SUB BP_HIST_SUB_BITS
#define LINEAR (1u << SUB)            /* exact buckets */
#define PER_OCTAVE (1u << (SUB - 1))  /* buckets per power of two above */

static inline uint32_t
hist_index(uint64_t v)
{
	uint32_t msb, shift;

	if (v < LINEAR)
		return (uint32_t)v;
	msb = 63u - (uint32_t)__builtin_clzll(v);
	shift = msb - (SUB - 1);           /* v >> shift in [PER_OCTAVE, 2 * PER_OCTAVE) */
	return LINEAR + (shift - 1) * PER_OCTAVE + (uint32_t)((v >> shift) - PER_OCTAVE);
}

/* The middle of bucket i (its exact value below LINEAR). */
static uint64_t
hist_value(uint32_t i)
{
	uint32_t shift, sub;
	uint64_t low;

	if (i < LINEAR)
		return i;
	shift = (i - LINEAR) / PER_OCTAVE + 1;
	sub = (i - LINEAR) % PER_OCTAVE;
	low = (uint64_t)(PER_OCTAVE + sub) << shift;
	return low + (((uint64_t)1 << shift) >> 1);
}

void
bp_hist_record(struct bp_hist *h, uint64_t ticks)
{
	h->buckets[hist_index(ticks)]++;
	h->count++;
	h->sum += ticks;
	if (ticks > h->max)
		h->max = ticks;
}

void
bp_hist_merge(struct bp_hist *dst, const struct bp_hist *src)
{
	for (uint32_t i = 0; i < BP_HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t
bp_hist_quantile(const struct bp_hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (h->count == 0)
		return 0;
	rank = (uint64_t)(q * (double)h->count);
	if (rank >= h->count)
		rank = h->count - 1;
	for (uint32_t i = 0; i < BP_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen > rank)
			return SPUR_MIN(hist_value(i), h->max);
	}
	return h->max;
}

static double
ticks_to_us(uint64_t ticks)
{
	return (double)ticks * 1e6 / (double)spur_get_ticks_hz();
}

static void
print_line(const char *prefix, uint64_t ios, uint64_t ticks, uint64_t io_size,
	   const struct bp_hist *h, uint64_t errors)
{
	double secs = ticks ? (double)ticks / (double)spur_get_ticks_hz() : 0.0;
	double iops = secs > 0 ? (double)ios / secs : 0.0;

	printf("%sIOPS %.2f MiB/s %.2f avg_lat_us %.2f p50_us %.2f p99_us %.2f p999_us %.2f "
	       "max_us %.2f errors %" PRIu64 "\n", prefix, iops,
	       iops * (double)io_size / (1024.0 * 1024.0),
	       h->count ? ticks_to_us(h->sum) / (double)h->count : 0.0,
	       ticks_to_us(bp_hist_quantile(h, 0.50)), ticks_to_us(bp_hist_quantile(h, 0.99)),
	       ticks_to_us(bp_hist_quantile(h, 0.999)), ticks_to_us(h->max), errors);
}

void
bp_report(const struct bp_job *jobs, uint32_t count, uint64_t io_size)
{
	struct bp_hist *total = calloc(1, sizeof(*total));
	uint64_t ios = 0, errors = 0, longest = 0, ticks;
	double iops_sum = 0.0;
	char prefix[300];

	if (total == NULL) {
		fprintf(stderr, "spur_bdevperf: out of memory for the report\n");
		return;
	}
	for (uint32_t i = 0; i < count; i++) {
		const struct bp_job *job = &jobs[i];

		ticks = job->end_ticks > job->start_ticks ? job->end_ticks - job->start_ticks : 0;
		spur_strfmt(prefix, sizeof(prefix), "Job: %s core %u: ", job->bdev_name, job->core);
		print_line(prefix, job->ios, ticks, io_size, &job->hist, job->errors + job->mismatches);
		bp_hist_merge(total, &job->hist);
		ios += job->ios;
		errors += job->errors + job->mismatches;
		if (ticks > 0)
			iops_sum += (double)job->ios * (double)spur_get_ticks_hz() / (double)ticks;
		longest = SPUR_MAX(longest, ticks);
	}
	/*
	 * Jobs run concurrently: the total rate is the sum of the job rates.
	 * Express it over the longest job's time so print_line can share the
	 * arithmetic.
	 */
	if (longest > 0)
		ios = (uint64_t)(iops_sum * (double)longest / (double)spur_get_ticks_hz() + 0.5);
	print_line("Total: ", ios, longest, io_size, total, errors);
	fflush(stdout);
	free(total);
}
