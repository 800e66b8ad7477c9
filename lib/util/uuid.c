/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * UUIDs as 16 bytes in RFC 4122 byte order: parsing and formatting of the
 * canonical text form and random (version 4) generation. Pure functions,
 * safe from any thread.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "spur/util.h"

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
spur_uuid_parse(const char *text, uint8_t uuid[16])
{
	uint8_t out[16];
	int nibble = 0;

	if (text == NULL || strlen(text) != SPUR_UUID_STR_LEN - 1)
		return -EINVAL;
	for (int i = 0; i < SPUR_UUID_STR_LEN - 1; i++) {
		int v;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (text[i] != '-')
				return -EINVAL;
			continue;
		}
		v = hex_value(text[i]);
		if (v < 0)
			return -EINVAL;
		if (nibble % 2 == 0)
			out[nibble / 2] = (uint8_t)(v << 4);
		else
			out[nibble / 2] |= (uint8_t)v;
		nibble++;
	}
	memcpy(uuid, out, sizeof(out));
	return 0;
}

const char *
spur_uuid_fmt(const uint8_t uuid[16], char *buf, size_t len)
{
	const uint8_t *u = uuid;

	if (len < SPUR_UUID_STR_LEN) {
		if (len > 0)
			buf[0] = '\0';
		return buf;
	}
	snprintf(buf, len,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
		 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
		 u[15]);
	return buf;
}

bool
spur_uuid_is_zero(const uint8_t uuid[16])
{
	for (int i = 0; i < 16; i++) {
		if (uuid[i] != 0)
			return false;
	}
	return true;
}

void
spur_uuid_generate(uint8_t uuid[16])
{
	size_t got = 0;

	while (got < 16) {
		ssize_t n = getrandom(uuid + got, 16 - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* No entropy source: still unique within this process. */
			uint64_t t = spur_get_ticks() ^ (uint64_t)(uintptr_t)uuid;

			for (size_t i = got; i < 16; i++) {
				t = t * 6364136223846793005ULL + 1442695040888963407ULL;
				uuid[i] = (uint8_t)(t >> 56);
			}
			break;
		}
		got += (size_t)n;
	}
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40); /* version 4 */
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}
