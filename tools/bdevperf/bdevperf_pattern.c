/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Data patterns of spur_bdevperf.
 *
 * --pattern SEED (writes): the 8-byte little-endian word at bdev byte
 * offset o holds ((uint64_t)SEED << 48) ^ (o / 8), so another process can
 * check the backing file byte by byte without knowing how it was written.
 *
 * verify: the word at byte offset o written by the write with generation
 * gen holds ((gen & 0xffffff) << 40) ^ (o / 8) ^ VERIFY_SALT. The offset
 * catches misdirected and shifted data, the generation (unique per write of
 * a job, which owns its range alone) catches stale data: a read that
 * returns what an earlier write put there differs in bits 40..63.
 *
 * Pure functions on caller buffers; any thread.
 */
#include <endian.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bdevperf.h"

#define VERIFY_SALT 0x5a5a000000000000ull

static inline void
store_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static inline uint64_t
load_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static inline uint64_t
verify_word(uint64_t byte_offset, uint64_t gen)
{
	return ((gen & 0xffffffull) << 40) ^ (byte_offset / 8) ^ VERIFY_SALT;
}

void
bp_pattern_fill(void *buf, uint64_t byte_offset, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t word = byte_offset / 8, hi = seed << 48;

	/* Offsets are multiples of the block size, so of 8. */
	for (size_t i = 0; i + 8 <= len; i += 8)
		store_le64(p + i, hi ^ word++);
}

void
bp_verify_fill(void *buf, uint64_t byte_offset, size_t len, uint64_t gen)
{
	uint8_t *p = buf;

	for (size_t i = 0; i + 8 <= len; i += 8)
		store_le64(p + i, verify_word(byte_offset + i, gen));
}

bool
bp_verify_check(const char *bdev_name, const void *buf, uint64_t byte_offset, size_t len,
		uint64_t gen)
{
	const uint8_t *p = buf;
	uint64_t expected, found;

	for (size_t i = 0; i + 8 <= len; i += 8) {
		expected = verify_word(byte_offset + i, gen);
		found = load_le64(p + i);
		if (found != expected) {
			fprintf(stderr, "spur_bdevperf: verify mismatch on %s at byte offset %" PRIu64
				" (+%zu into the %zu-byte read at %" PRIu64
				"): expected 0x%016" PRIx64 ", found 0x%016" PRIx64 "\n", bdev_name,
				byte_offset + i, i, len, byte_offset, expected, found);
			return false;
		}
	}
	return true;
}
