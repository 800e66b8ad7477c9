/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Small helpers shared by every library: container_of, branch hints, counts,
 * a monotonic tick source and CPU sets.
 *
 * Ticks: spur_get_ticks() is the cheapest monotonic clock available (the
 * invariant TSC on x86-64, else CLOCK_MONOTONIC in ns); spur_get_ticks_hz()
 * converts. Both are safe from any thread.
 */
#ifndef SPUR_UTIL_H
#define SPUR_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPUR_CONTAINER_OF(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define SPUR_COUNTOF(a) (sizeof(a) / sizeof((a)[0]))
#define spur_likely(x) __builtin_expect(!!(x), 1)
#define spur_unlikely(x) __builtin_expect(!!(x), 0)
#define SPUR_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SPUR_MAX(a, b) ((a) > (b) ? (a) : (b))
#define SPUR_CACHE_LINE 64
#define SPUR_EXPORT __attribute__((visibility("default")))

/* Monotonic ticks; never goes backwards on one machine. */
uint64_t spur_get_ticks(void);
/* Ticks per second, fixed for the life of the process. */
uint64_t spur_get_ticks_hz(void);
/* Microseconds <-> ticks. */
uint64_t spur_us_to_ticks(uint64_t us);
uint64_t spur_ticks_to_us(uint64_t ticks);

/* ---- CPU sets ---------------------------------------------------------- */
#define SPUR_MAX_CORES 1024

struct spur_cpuset {
	uint64_t bits[SPUR_MAX_CORES / 64];
};

void spur_cpuset_zero(struct spur_cpuset *set);
void spur_cpuset_set(struct spur_cpuset *set, uint32_t core);
void spur_cpuset_clear(struct spur_cpuset *set, uint32_t core);
bool spur_cpuset_isset(const struct spur_cpuset *set, uint32_t core);
uint32_t spur_cpuset_count(const struct spur_cpuset *set);
bool spur_cpuset_equal(const struct spur_cpuset *a, const struct spur_cpuset *b);
void spur_cpuset_and(struct spur_cpuset *dst, const struct spur_cpuset *src);
/* First set core at or after 'from', or UINT32_MAX. */
uint32_t spur_cpuset_next(const struct spur_cpuset *set, uint32_t from);
#define SPUR_CPUSET_FOREACH(core, set)                               \
	for ((core) = spur_cpuset_next((set), 0); (core) != UINT32_MAX; \
	     (core) = spur_cpuset_next((set), (core) + 1))
/*
 * Parse a core mask: hex "0x3" / "3", or a list "[0,1]", "[0-3,8]".
 * Returns 0, or -EINVAL (malformed) / -ERANGE (core >= SPUR_MAX_CORES);
 * on error *set is unspecified.
 */
int spur_cpuset_parse(struct spur_cpuset *set, const char *text);
/* Hex form "0x..." into buf (at least SPUR_MAX_CORES / 4 + 3 bytes). */
const char *spur_cpuset_fmt(const struct spur_cpuset *set, char *buf, size_t len);
#define SPUR_CPUSET_STR_LEN (SPUR_MAX_CORES / 4 + 3)

/* ---- UUIDs (16 bytes, RFC 4122 byte order) ------------------------------- */
#define SPUR_UUID_STR_LEN 37 /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" + NUL */
/* Canonical text form, either case, into uuid; 0 or -EINVAL (uuid untouched). */
int spur_uuid_parse(const char *text, uint8_t uuid[16]);
/* Lower-case canonical form into buf (>= SPUR_UUID_STR_LEN bytes); returns buf. */
const char *spur_uuid_fmt(const uint8_t uuid[16], char *buf, size_t len);
bool spur_uuid_is_zero(const uint8_t uuid[16]);
/* A random version-4 UUID (getrandom; a PRNG fallback without entropy). */
void spur_uuid_generate(uint8_t uuid[16]);

/* ---- strings ----------------------------------------------------------- */
/* snprintf that always terminates and reports truncation as -ENAMETOOLONG. */
int spur_strfmt(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
