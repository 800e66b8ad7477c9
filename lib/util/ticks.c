/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The monotonic tick source behind spur_get_ticks().
 *
 * On x86-64 with an invariant TSC (cpuinfo flags constant_tsc and
 * nonstop_tsc) a tick is one TSC cycle: reading it costs a few nanoseconds
 * and it runs at a fixed rate on every core. Its frequency is not exposed
 * portably, so it is measured once against CLOCK_MONOTONIC on first use.
 * Anywhere else a tick is one nanosecond of CLOCK_MONOTONIC.
 *
 * The source and its rate are chosen exactly once (pthread_once) and never
 * change afterwards, so every function here is safe from any thread.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "spur/util.h"

#define NS_PER_SEC 1000000000ULL
#define US_PER_SEC 1000000ULL
/* Calibration window: long enough for < 0.01% error, short enough for start-up. */
#define CALIBRATE_NS (15 * 1000 * 1000ULL)

static pthread_once_t g_ticks_once = PTHREAD_ONCE_INIT;
static bool g_use_tsc;
static uint64_t g_ticks_hz = NS_PER_SEC;

static uint64_t
monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__)
static inline uint64_t
rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* True when /proc/cpuinfo advertises both flags of an invariant TSC. */
static bool
tsc_is_invariant(void)
{
	char line[4096];
	bool constant = false, nonstop = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (f == NULL) {
		return false;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "flags", 5) != 0) {
			continue;
		}
		/* Pad with spaces so " constant_tsc " cannot match a longer flag. */
		for (char *p = line; *p != '\0'; p++) {
			if (*p == '\t' || *p == '\n' || *p == ':') {
				*p = ' ';
			}
		}
		constant = strstr(line, " constant_tsc ") != NULL;
		nonstop = strstr(line, " nonstop_tsc ") != NULL;
		break;
	}
	fclose(f);
	return constant && nonstop;
}

static void
tsc_calibrate(void)
{
	uint64_t ns0, ns1, tsc0, tsc1;

	ns0 = monotonic_ns();
	tsc0 = rdtsc();
	do {
		ns1 = monotonic_ns();
	} while (ns1 - ns0 < CALIBRATE_NS);
	tsc1 = rdtsc();
	if (tsc1 <= tsc0) {
		return; /* nonsense reading: stay on CLOCK_MONOTONIC */
	}
	g_ticks_hz = (uint64_t)((unsigned __int128)(tsc1 - tsc0) * NS_PER_SEC / (ns1 - ns0));
	g_use_tsc = true;
}
#endif

static void
ticks_init(void)
{
#if defined(__x86_64__)
	if (tsc_is_invariant()) {
		tsc_calibrate();
	}
#endif
}

uint64_t
spur_get_ticks(void)
{
	pthread_once(&g_ticks_once, ticks_init);
#if defined(__x86_64__)
	if (spur_likely(g_use_tsc)) {
		return rdtsc();
	}
#endif
	return monotonic_ns();
}

uint64_t
spur_get_ticks_hz(void)
{
	pthread_once(&g_ticks_once, ticks_init);
	return g_ticks_hz;
}

/* The 128-bit intermediate cannot overflow; the result saturates. */
static uint64_t
scale(uint64_t v, uint64_t mul, uint64_t div)
{
	unsigned __int128 r = (unsigned __int128)v * mul / div;

	return r > UINT64_MAX ? UINT64_MAX : (uint64_t)r;
}

uint64_t
spur_us_to_ticks(uint64_t us)
{
	return scale(us, spur_get_ticks_hz(), US_PER_SEC);
}

uint64_t
spur_ticks_to_us(uint64_t ticks)
{
	return scale(ticks, US_PER_SEC, spur_get_ticks_hz());
}
