#include "common/clock.h"

#include <time.h>

/* clock_gettime() cannot fail for these two clocks on Linux with a valid
 * pointer, so its result is not checked. */
static uint64_t read_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t clock_mono_ns(void)
{
	return read_ns(CLOCK_MONOTONIC);
}

uint64_t clock_mono_us(void)
{
	return read_ns(CLOCK_MONOTONIC) / 1000u;
}

uint64_t clock_mono_ms(void)
{
	return read_ns(CLOCK_MONOTONIC) / 1000000u;
}

double clock_mono_s(void)
{
	return (double)read_ns(CLOCK_MONOTONIC) / 1e9;
}

uint64_t clock_wall_ms(void)
{
	return read_ns(CLOCK_REALTIME) / 1000000u;
}

struct timeval clock_tv_from_ms(uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000u);
	tv.tv_usec = (suseconds_t)(ms % 1000u) * 1000;
	return tv;
}
