/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for lib/util/cpuset.c: the accepted and rejected core-mask
 * texts, iteration, set operations and the hex formatter's round trip.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "spur/util.h"

/* Parses text and returns the cores as a list "0,1,2" in out. */
static int
parse_to_list(const char *text, char *out, size_t len)
{
	struct spur_cpuset set;
	uint32_t core;
	size_t off = 0;
	int rc = spur_cpuset_parse(&set, text);

	out[0] = '\0';
	if (rc != 0) {
		return rc;
	}
	SPUR_CPUSET_FOREACH(core, &set) {
		int n = spur_strfmt(out + off, len - off, "%s%u", off ? "," : "", core);

		assert_int_equal(n, 0);
		off += strlen(out + off);
	}
	return 0;
}

static void
test_parse_good(void **state)
{
	static const struct {
		const char *text;
		const char *cores;
	} cases[] = {
		{"0x1", "0"},
		{"0x3", "0,1"},
		{"0X3", "0,1"},
		{"3", "0,1"},
		{"f0", "4,5,6,7"},
		{"0xAb", "0,1,3,5,7"},
		{"0x0", ""},
		{"0x0001", "0"},
		{"[0]", "0"},
		{"[0,1]", "0,1"},
		{"[0-3,8]", "0,1,2,3,8"},
		{"[ 1 - 2 , 5 ]", "1,2,5"},
		{"[3,3,2-3]", "2,3"},
		{"[1023]", "1023"},
		{"[64-65]", "64,65"},
	};
	char out[256];

	for (size_t i = 0; i < SPUR_COUNTOF(cases); i++) {
		assert_int_equal(parse_to_list(cases[i].text, out, sizeof(out)), 0);
		assert_string_equal(out, cases[i].cores);
	}
}

static void
test_parse_bad(void **state)
{
	static const struct {
		const char *text;
		int rc;
	} cases[] = {
		{"", -EINVAL},
		{"0x", -EINVAL},
		{"0xg", -EINVAL},
		{"12xyz", -EINVAL},
		{"0x0x1", -EINVAL},
		{"0x3 ", -EINVAL},
		{" 0x3", -EINVAL},
		{"-1", -EINVAL},
		{"[]", -EINVAL},
		{"[", -EINVAL},
		{"[0", -EINVAL},
		{"[0,]", -EINVAL},
		{"[,0]", -EINVAL},
		{"[0-]", -EINVAL},
		{"[3-1]", -EINVAL},
		{"[0]x", -EINVAL},
		{"[0] ", -EINVAL},
		{"[a]", -EINVAL},
		{"[-1]", -EINVAL},
		{"[1024]", -ERANGE},
		{"[0-1024]", -ERANGE},
		{"[99999999999999999999]", -ERANGE},
		/* bit 1024: a 1 followed by 256 zero nibbles */
		{"0x1"
		 "0000000000000000000000000000000000000000000000000000000000000000"
		 "0000000000000000000000000000000000000000000000000000000000000000"
		 "0000000000000000000000000000000000000000000000000000000000000000"
		 "0000000000000000000000000000000000000000000000000000000000000000",
		 -ERANGE},
	};
	struct spur_cpuset set;

	for (size_t i = 0; i < SPUR_COUNTOF(cases); i++) {
		int rc = spur_cpuset_parse(&set, cases[i].text);

		if (rc != cases[i].rc) {
			fail_msg("'%s': got %d, want %d", cases[i].text, rc, cases[i].rc);
		}
	}
	assert_int_equal(spur_cpuset_parse(&set, NULL), -EINVAL);
}

static void
test_leading_zero_nibbles(void **state)
{
	struct spur_cpuset set;
	char text[300] = "0x";

	/* 300 hex digits of which only the last is non-zero: within range. */
	memset(text + 2, '0', 296);
	text[297] = '1';
	text[298] = '\0';
	assert_int_equal(spur_cpuset_parse(&set, text), 0);
	assert_int_equal(spur_cpuset_count(&set), 1);
	assert_true(spur_cpuset_isset(&set, 0));
}

static void
test_fmt_round_trip(void **state)
{
	static const char *const texts[] = {"0x0", "0x1", "0x3", "0xf0", "0x10000000000000001"};
	struct spur_cpuset set, again;
	char buf[SPUR_CPUSET_STR_LEN];

	for (size_t i = 0; i < SPUR_COUNTOF(texts); i++) {
		assert_int_equal(spur_cpuset_parse(&set, texts[i]), 0);
		assert_string_equal(spur_cpuset_fmt(&set, buf, sizeof(buf)), texts[i]);
	}

	/* Every core set: the longest output must fit SPUR_CPUSET_STR_LEN. */
	assert_int_equal(spur_cpuset_parse(&set, "[0-1023]"), 0);
	assert_int_equal(spur_cpuset_count(&set), SPUR_MAX_CORES);
	spur_cpuset_fmt(&set, buf, sizeof(buf));
	assert_int_equal(strlen(buf), SPUR_MAX_CORES / 4 + 2);
	assert_int_equal(spur_cpuset_parse(&again, buf), 0);
	assert_true(spur_cpuset_equal(&set, &again));

	/* Too small a buffer gives "" rather than a truncated mask. */
	assert_int_equal(spur_cpuset_parse(&set, "0x100"), 0);
	assert_string_equal(spur_cpuset_fmt(&set, buf, 5), "");
	assert_string_equal(spur_cpuset_fmt(&set, buf, 6), "0x100");
}

static void
test_ops(void **state)
{
	struct spur_cpuset a, b;

	spur_cpuset_zero(&a);
	assert_int_equal(spur_cpuset_count(&a), 0);
	assert_int_equal(spur_cpuset_next(&a, 0), UINT32_MAX);

	spur_cpuset_set(&a, 5);
	spur_cpuset_set(&a, 63);
	spur_cpuset_set(&a, 64);
	spur_cpuset_set(&a, 1023);
	spur_cpuset_set(&a, 1024); /* out of range: ignored */
	assert_int_equal(spur_cpuset_count(&a), 4);
	assert_int_equal(spur_cpuset_next(&a, 0), 5);
	assert_int_equal(spur_cpuset_next(&a, 6), 63);
	assert_int_equal(spur_cpuset_next(&a, 64), 64);
	assert_int_equal(spur_cpuset_next(&a, 65), 1023);
	assert_int_equal(spur_cpuset_next(&a, 1024), UINT32_MAX);
	assert_int_equal(spur_cpuset_next(&a, UINT32_MAX), UINT32_MAX);
	assert_false(spur_cpuset_isset(&a, 1024));

	spur_cpuset_clear(&a, 63);
	assert_false(spur_cpuset_isset(&a, 63));

	assert_int_equal(spur_cpuset_parse(&b, "[0-7,64]"), 0);
	assert_false(spur_cpuset_equal(&a, &b));
	spur_cpuset_and(&b, &a);
	assert_int_equal(spur_cpuset_count(&b), 2);
	assert_true(spur_cpuset_isset(&b, 5));
	assert_true(spur_cpuset_isset(&b, 64));
	spur_cpuset_and(&a, &b);
	assert_true(spur_cpuset_equal(&a, &b));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_leading_zero_nibbles),
		cmocka_unit_test(test_fmt_round_trip),
		cmocka_unit_test(test_ops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
