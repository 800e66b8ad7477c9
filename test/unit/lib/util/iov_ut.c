/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for include/spur/iov.h: lengths, copies to and from a flat
 * buffer that start inside, at the edge of and past iovecs, copies cut
 * short by the iovecs or by the length, zero-length iovecs, and skipping
 * in place.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "spur/iov.h"

/* Three iovecs of 3, 0 and 5 bytes over one backing array of 8. */
static uint8_t g_back[8];
static struct iovec g_iov[3];

static void
ut_iovs(void)
{
	for (int i = 0; i < 8; i++)
		g_back[i] = (uint8_t)(0x10 + i);
	g_iov[0] = (struct iovec){g_back, 3};
	g_iov[1] = (struct iovec){g_back + 3, 0};
	g_iov[2] = (struct iovec){g_back + 3, 5};
}

static void
test_len(void **state)
{
	(void)state;
	ut_iovs();
	assert_int_equal(spur_iov_len(g_iov, 3), 8);
	assert_int_equal(spur_iov_len(g_iov, 2), 3);
	assert_int_equal(spur_iov_len(g_iov, 0), 0);
}

static void
test_to_buf(void **state)
{
	uint8_t out[16];

	(void)state;
	ut_iovs();
	/* Whole, across the zero-length iovec. */
	memset(out, 0, sizeof(out));
	assert_int_equal(spur_iov_to_buf(g_iov, 3, 0, out, sizeof(out)), 8);
	assert_memory_equal(out, g_back, 8);
	assert_int_equal(out[8], 0);
	/* From inside the first iovec, cut by len. */
	memset(out, 0, sizeof(out));
	assert_int_equal(spur_iov_to_buf(g_iov, 3, 2, out, 4), 4);
	assert_memory_equal(out, g_back + 2, 4);
	assert_int_equal(out[4], 0);
	/* From exactly the edge of the first iovec. */
	assert_int_equal(spur_iov_to_buf(g_iov, 3, 3, out, 16), 5);
	assert_memory_equal(out, g_back + 3, 5);
	/* Past the end: nothing. */
	assert_int_equal(spur_iov_to_buf(g_iov, 3, 8, out, 16), 0);
	assert_int_equal(spur_iov_to_buf(g_iov, 3, 100, out, 16), 0);
	/* Zero length. */
	assert_int_equal(spur_iov_to_buf(g_iov, 3, 0, out, 0), 0);
}

static void
test_from_buf(void **state)
{
	static const uint8_t src[8] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7};

	(void)state;
	ut_iovs();
	/* Two bytes at offset 2: the last of iovec 0, the first of iovec 2. */
	assert_int_equal(spur_iov_from_buf(g_iov, 3, 2, src, 2), 2);
	assert_int_equal(g_back[1], 0x11);
	assert_int_equal(g_back[2], 0xa0);
	assert_int_equal(g_back[3], 0xa1);
	assert_int_equal(g_back[4], 0x14);
	/* More than fits: cut at the iovecs' end. */
	ut_iovs();
	assert_int_equal(spur_iov_from_buf(g_iov, 3, 5, src, 8), 3);
	assert_memory_equal(g_back + 5, src, 3);
	assert_int_equal(g_back[4], 0x14);
	/* Past the end: nothing written. */
	ut_iovs();
	assert_int_equal(spur_iov_from_buf(g_iov, 3, 8, src, 8), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(g_back[i], 0x10 + i);
}

static void
test_skip(void **state)
{
	(void)state;
	/* Inside the first iovec: it is trimmed. */
	ut_iovs();
	assert_int_equal(spur_iov_skip(g_iov, 3, 1), 0);
	assert_ptr_equal(g_iov[0].iov_base, g_back + 1);
	assert_int_equal(g_iov[0].iov_len, 2);
	/* Exactly the first iovec: the zero-length one is stepped over too. */
	ut_iovs();
	assert_int_equal(spur_iov_skip(g_iov, 3, 3), 2);
	assert_ptr_equal(g_iov[2].iov_base, g_back + 3);
	assert_int_equal(g_iov[2].iov_len, 5);
	/* Into the last. */
	ut_iovs();
	assert_int_equal(spur_iov_skip(g_iov, 3, 6), 2);
	assert_ptr_equal(g_iov[2].iov_base, g_back + 6);
	assert_int_equal(g_iov[2].iov_len, 2);
	/* Everything, and more: nothing left. */
	ut_iovs();
	assert_int_equal(spur_iov_skip(g_iov, 3, 8), 3);
	ut_iovs();
	assert_int_equal(spur_iov_skip(g_iov, 3, 9), 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_len),
		cmocka_unit_test(test_to_buf),
		cmocka_unit_test(test_from_buf),
		cmocka_unit_test(test_skip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
