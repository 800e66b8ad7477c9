/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CPU sets: a fixed bitmap of SPUR_MAX_CORES bits, its parser and formatter.
 *
 * Accepted text (the forms SPDK's -m takes):
 *   hex mask   "0x3", "0X3" or "3" (hex even without the prefix), bit i = core i
 *   core list  "[0,1]", "[0-3,8]" (decimal, ranges inclusive, spaces allowed
 *              inside the brackets)
 * Anything else, including an empty mask or list, trailing characters and a
 * reversed range, is -EINVAL; a core >= SPUR_MAX_CORES is -ERANGE.
 *
 * No shared state: a set belongs to its caller.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "spur/util.h"

#define WORDS SPUR_COUNTOF(((struct spur_cpuset *)0)->bits)

void
spur_cpuset_zero(struct spur_cpuset *set)
{
	memset(set, 0, sizeof(*set));
}

void
spur_cpuset_set(struct spur_cpuset *set, uint32_t core)
{
	if (core < SPUR_MAX_CORES) {
		set->bits[core / 64] |= 1ULL << (core % 64);
	}
}

void
spur_cpuset_clear(struct spur_cpuset *set, uint32_t core)
{
	if (core < SPUR_MAX_CORES) {
		set->bits[core / 64] &= ~(1ULL << (core % 64));
	}
}

bool
spur_cpuset_isset(const struct spur_cpuset *set, uint32_t core)
{
	return core < SPUR_MAX_CORES && (set->bits[core / 64] >> (core % 64)) & 1;
}

uint32_t
spur_cpuset_count(const struct spur_cpuset *set)
{
	uint32_t n = 0;

	for (size_t i = 0; i < WORDS; i++) {
		n += (uint32_t)__builtin_popcountll(set->bits[i]);
	}
	return n;
}

bool
spur_cpuset_equal(const struct spur_cpuset *a, const struct spur_cpuset *b)
{
	return memcmp(a->bits, b->bits, sizeof(a->bits)) == 0;
}

void
spur_cpuset_and(struct spur_cpuset *dst, const struct spur_cpuset *src)
{
	for (size_t i = 0; i < WORDS; i++) {
		dst->bits[i] &= src->bits[i];
	}
}

uint32_t
spur_cpuset_next(const struct spur_cpuset *set, uint32_t from)
{
	while (from < SPUR_MAX_CORES) {
		uint64_t w = set->bits[from / 64] >> (from % 64);

		if (w != 0) {
			return from + (uint32_t)__builtin_ctzll(w);
		}
		from = (from / 64 + 1) * 64;
	}
	return UINT32_MAX;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	return -1;
}

/* Hex digits, least significant last; the prefix is already skipped. */
static int
parse_hex(struct spur_cpuset *set, const char *p)
{
	size_t ndigits = strlen(p);

	if (ndigits == 0) {
		return -EINVAL;
	}
	for (size_t i = 0; i < ndigits; i++) {
		int v = hex_value(p[ndigits - 1 - i]);

		if (v < 0) {
			return -EINVAL;
		}
		for (uint32_t b = 0; b < 4; b++) {
			if (!(v & (1 << b))) {
				continue;
			}
			if (i * 4 + b >= SPUR_MAX_CORES) {
				return -ERANGE;
			}
			spur_cpuset_set(set, (uint32_t)(i * 4 + b));
		}
	}
	return 0;
}

static const char *
skip_space(const char *p)
{
	while (isspace((unsigned char)*p)) {
		p++;
	}
	return p;
}

/* One decimal core number at *pp; advances *pp past it. */
static int
parse_core(const char **pp, uint32_t *core)
{
	const char *p = skip_space(*pp);
	uint32_t v = 0;

	if (!isdigit((unsigned char)*p)) {
		return -EINVAL;
	}
	while (isdigit((unsigned char)*p)) {
		if (v < SPUR_MAX_CORES) {
			v = v * 10 + (uint32_t)(*p - '0');
		}
		p++;
	}
	*pp = skip_space(p);
	*core = v;
	return v < SPUR_MAX_CORES ? 0 : -ERANGE;
}

/* "[a,b-c,...]" with p just after the '['. */
static int
parse_list(struct spur_cpuset *set, const char *p)
{
	for (;;) {
		uint32_t lo, hi;
		int rc = parse_core(&p, &lo);

		if (rc != 0) {
			return rc;
		}
		hi = lo;
		if (*p == '-') {
			p++;
			rc = parse_core(&p, &hi);
			if (rc != 0) {
				return rc;
			}
			if (hi < lo) {
				return -EINVAL;
			}
		}
		for (uint32_t c = lo; c <= hi; c++) {
			spur_cpuset_set(set, c);
		}
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == ']' && p[1] == '\0') {
			return 0;
		}
		return -EINVAL;
	}
}

int
spur_cpuset_parse(struct spur_cpuset *set, const char *text)
{
	const char *p;

	spur_cpuset_zero(set);
	if (text == NULL) {
		return -EINVAL;
	}
	p = text;
	if (*p == '[') {
		return parse_list(set, p + 1);
	}
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		p += 2;
	}
	return parse_hex(set, p);
}

/*
 * Writes "0x" and the mask in hex without leading zeros ("0x0" when empty).
 * Returns buf; if len is too small for the result buf holds "" instead of a
 * misleading truncated mask (SPUR_CPUSET_STR_LEN always suffices).
 */
const char *
spur_cpuset_fmt(const struct spur_cpuset *set, char *buf, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	int top = SPUR_MAX_CORES / 4 - 1;
	size_t n = 0;

	if (len == 0) {
		return buf;
	}
	/* Highest nibble that is non-zero; nibble 0 is always printed. */
	while (top > 0 && ((set->bits[top / 16] >> ((top % 16) * 4)) & 0xf) == 0) {
		top--;
	}
	if ((size_t)top + 4 > len) {
		buf[0] = '\0';
		return buf;
	}
	buf[n++] = '0';
	buf[n++] = 'x';
	for (int i = top; i >= 0; i--) {
		buf[n++] = digits[(set->bits[i / 16] >> ((i % 16) * 4)) & 0xf];
	}
	buf[n] = '\0';
	return buf;
}
