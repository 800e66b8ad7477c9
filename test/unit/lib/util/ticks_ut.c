/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for lib/util/ticks.c: the tick source is monotonic, its rate is
 * plausible and agrees with CLOCK_MONOTONIC, and conversions do not overflow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include <cmocka.h>

#include "spur/util.h"

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
test_monotonic(void **state)
{
	uint64_t prev = spur_get_ticks();

	for (int i = 0; i < 100000; i++) {
		uint64_t t = spur_get_ticks();

		assert_true(t >= prev);
		prev = t;
	}
}

static void
test_hz(void **state)
{
	uint64_t hz = spur_get_ticks_hz();

	/* Between 1 MHz and 10 GHz, and stable. */
	assert_true(hz >= 1000000ULL);
	assert_true(hz <= 10000000000ULL);
	assert_int_equal(spur_get_ticks_hz(), hz);
}

static void
test_rate_matches_clock(void **state)
{
	struct timespec req = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
	uint64_t us0, us1, t0, t1, ticks_us;

	/* The tick interval lies inside the clock interval and spans the sleep. */
	us0 = now_us();
	t0 = spur_get_ticks();
	nanosleep(&req, NULL);
	t1 = spur_get_ticks();
	us1 = now_us();
	ticks_us = spur_ticks_to_us(t1 - t0);
	/* Within 2% (plus 1 ms of rounding) of either bound. */
	assert_true(ticks_us + 50000 / 50 + 1000 >= 50000);
	assert_true(ticks_us <= (us1 - us0) + (us1 - us0) / 50 + 1000);
}

static void
test_conversions(void **state)
{
	uint64_t hz = spur_get_ticks_hz();

	assert_int_equal(spur_us_to_ticks(0), 0);
	assert_int_equal(spur_ticks_to_us(0), 0);
	assert_int_equal(spur_us_to_ticks(1000000), hz);
	assert_int_equal(spur_ticks_to_us(hz), 1000000);
	/* A year in microseconds must not overflow through the multiply. */
	uint64_t year_us = 365ULL * 24 * 3600 * 1000000;
	uint64_t ticks = spur_us_to_ticks(year_us);

	assert_true(ticks / hz == 365ULL * 24 * 3600);
	assert_true(spur_ticks_to_us(ticks) <= year_us);
	assert_true(year_us - spur_ticks_to_us(ticks) <= 1);
	/* Large tick counts convert back without wrapping. */
	assert_int_equal(spur_ticks_to_us(UINT64_MAX),
			 (uint64_t)((unsigned __int128)UINT64_MAX * 1000000 / hz));
	/* Results that do not fit saturate rather than wrap. */
	if (hz > 1000000) {
		assert_int_equal(spur_us_to_ticks(UINT64_MAX), UINT64_MAX);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_monotonic),
		cmocka_unit_test(test_hz),
		cmocka_unit_test(test_rate_matches_clock),
		cmocka_unit_test(test_conversions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
