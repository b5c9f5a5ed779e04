/* common/clock: units, monotonicity and the timeval conversion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "common/clock.h"

static void test_units_agree(void **state)
{
	uint64_t ns, us, ms, ns2;
	double s;

	(void)state;
	ns = clock_mono_ns();
	us = clock_mono_us();
	ms = clock_mono_ms();
	s = clock_mono_s();
	ns2 = clock_mono_ns();
	/* Read in order, so each is at least the earlier reading in its own
	 * unit and at most the later one. */
	assert_true(ns2 >= ns);
	assert_true(us >= ns / 1000u && us <= ns2 / 1000u);
	assert_true(ms >= ns / 1000000u && ms <= ns2 / 1000000u);
	assert_true(s * 1e9 >= (double)ns - 1e3 &&
	            s * 1e9 <= (double)ns2 + 1e3);
}

static void test_monotonic_advances(void **state)
{
	struct timespec pause = {0, 2000000}; /* 2 ms */
	uint64_t prev = clock_mono_ns(), t0 = clock_mono_ms();

	(void)state;
	for (int i = 0; i < 10000; i++) {
		uint64_t now = clock_mono_ns();
		assert_true(now >= prev);
		prev = now;
	}
	nanosleep(&pause, NULL);
	assert_true(clock_mono_ms() >= t0 + 2);
}

static void test_wall_is_epoch_ms(void **state)
{
	uint64_t before = (uint64_t)time(NULL) * 1000u;
	uint64_t ms = clock_wall_ms();
	uint64_t after = (uint64_t)time(NULL) * 1000u + 1000u;

	(void)state;
	assert_true(ms >= before && ms <= after);
}

static void test_tv_from_ms(void **state)
{
	struct timeval tv;

	(void)state;
	tv = clock_tv_from_ms(0);
	assert_int_equal(tv.tv_sec, 0);
	assert_int_equal(tv.tv_usec, 0);
	tv = clock_tv_from_ms(1500);
	assert_int_equal(tv.tv_sec, 1);
	assert_int_equal(tv.tv_usec, 500000);
	tv = clock_tv_from_ms(999);
	assert_int_equal(tv.tv_sec, 0);
	assert_int_equal(tv.tv_usec, 999000);
	/* Past 2^32 ms (about 49 days): no 32-bit wrap. */
	tv = clock_tv_from_ms(5000000123ull);
	assert_int_equal(tv.tv_sec, 5000000);
	assert_int_equal(tv.tv_usec, 123000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_units_agree),
	    cmocka_unit_test(test_monotonic_advances),
	    cmocka_unit_test(test_wall_is_epoch_ms),
	    cmocka_unit_test(test_tv_from_ms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
