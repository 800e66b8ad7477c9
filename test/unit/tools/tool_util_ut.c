/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for tools/common/tool_util.h: the option number and size
 * parsers the tools share (accepted forms, limits, suffixes, overflow,
 * garbage) and the pseudo-random generator's determinism.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tool_util.h"

static void
test_parse_u64(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(tool_parse_u64("0", 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(tool_parse_u64("10", 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(tool_parse_u64("0x20", 64, &v), 0);
	assert_int_equal(v, 32);
	assert_int_equal(tool_parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	v = 7;
	assert_int_equal(tool_parse_u64("11", 10, &v), -EINVAL);
	assert_int_equal(tool_parse_u64("-1", UINT64_MAX, &v), -EINVAL);
	assert_int_equal(tool_parse_u64("", 10, &v), -EINVAL);
	assert_int_equal(tool_parse_u64("4k", UINT64_MAX, &v), -EINVAL);
	assert_int_equal(tool_parse_u64("18446744073709551616", UINT64_MAX, &v), -EINVAL);
	assert_int_equal(v, 7);
}

static void
test_parse_size(void **state)
{
	static const struct {
		const char *text;
		uint64_t want;
	} good[] = {
		{"4096", 4096}, {"4k", 4096}, {"4K", 4096}, {"128KiB", 131072}, {"1M", 1048576},
		{"1mB", 1048576}, {"2g", 2147483648ull}, {"1t", 1099511627776ull}, {"0", 0},
	};
	static const char *const bad[] = {
		"", "k", "-4k", "4x", "4kk", "4KiBs", "4096B", "4 k", "0x10", "16777216t",
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 1;
		assert_int_equal(tool_parse_size(good[i].text, &v), 0);
		assert_true(v == good[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 1;
		assert_int_equal(tool_parse_size(bad[i], &v), -EINVAL);
		assert_int_equal(v, 1);
	}
}

static void
test_xorshift(void **state)
{
	uint64_t a = 1, b = 1, c = 2;
	uint64_t x = tool_xorshift(&a);

	(void)state;
	assert_true(x == tool_xorshift(&b));
	assert_true(x != tool_xorshift(&c));
	assert_true(tool_xorshift(&a) != x);
	assert_true(tool_now_ns() > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_xorshift),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
