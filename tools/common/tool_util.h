/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers the standalone tools share (spur_bdevperf, spur_vhost_perf,
 * spur_vhost_memstall): parsing option numbers and sizes, a monotonic
 * nanosecond clock and a fast pseudo-random generator. Header-only and
 * free of spur's libraries, so the vhost-user frontend tools stay
 * independent of the target they measure.
 */
#ifndef SPUR_TOOL_UTIL_H
#define SPUR_TOOL_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A whole number (decimal, or 0x hex) up to max. 0 or -EINVAL. */
static inline int
tool_parse_u64(const char *text, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (text[0] == '-' || text[0] == '\0')
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 0);
	if (errno != 0 || end == text || *end != '\0' || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/*
 * A size in bytes: a decimal number with an optional k, m, g or t suffix
 * (powers of 1024, either case), itself optionally followed by "B" or
 * "iB" ("4096", "4k", "128KiB", "1M", "2g"). 0 or -EINVAL (also on
 * overflow).
 */
static inline int
tool_parse_size(const char *text, uint64_t *out)
{
	static const char units[] = "kmgt";
	unsigned long long v;
	unsigned int shift = 0;
	const char *u;
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0)
		return -EINVAL;
	if (*end != '\0' && (u = strchr(units, *end | 0x20)) != NULL) {
		shift = 10u * (unsigned int)(u - units + 1);
		end++;
		if (strcmp(end, "B") == 0 || strcmp(end, "iB") == 0)
			end += strlen(end);
	}
	if (*end != '\0' || (shift > 0 && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static inline uint64_t
tool_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: fast, not cryptographic; *s must not be 0. */
static inline uint64_t
tool_xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

#endif
