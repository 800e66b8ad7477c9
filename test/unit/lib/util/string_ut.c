/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for lib/util/string.c: spur_strfmt's return values and that the
 * output is always terminated.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "spur/util.h"

static void
test_strfmt(void **state)
{
	char buf[8];

	assert_int_equal(spur_strfmt(buf, sizeof(buf), "%s-%d", "ab", 12), 0);
	assert_string_equal(buf, "ab-12");
	assert_int_equal(spur_strfmt(buf, sizeof(buf), "%s", "1234567"), 0);
	assert_string_equal(buf, "1234567");
	assert_int_equal(spur_strfmt(buf, sizeof(buf), "%s", "12345678"), -ENAMETOOLONG);
	assert_string_equal(buf, "1234567");
	assert_int_equal(spur_strfmt(buf, 1, "%s", "x"), -ENAMETOOLONG);
	assert_string_equal(buf, "");
	assert_int_equal(spur_strfmt(buf, 0, "%s", "x"), -ENAMETOOLONG);
	assert_int_equal(spur_strfmt(buf, sizeof(buf), "%s", ""), 0);
	assert_string_equal(buf, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strfmt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
