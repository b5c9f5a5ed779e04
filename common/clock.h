/* The one place that reads the system clocks.
 *
 * Logic cores (wal, snapshot receiver, the follow and serve cores) never
 * call these: they take `now` as an argument, so the simulation harness can
 * drive them with a fake clock. Only glue (libevent callbacks, CLI, tools,
 * tests and benchmarks that measure real time) reads the clock, and it does
 * so through these functions.
 *
 * Monotonic readings are for durations and deadlines only; wall-clock
 * readings are for values shown to people or sent to a peer
 * (source_time_ms, created_ms), and may jump. */
#ifndef MIRROR_COMMON_CLOCK_H
#define MIRROR_COMMON_CLOCK_H

#include <stdint.h>
#include <sys/time.h>

/* CLOCK_MONOTONIC in nanoseconds, microseconds, milliseconds and seconds.
 * Never goes backwards; the origin is unspecified (boot). */
uint64_t clock_mono_ns(void);
uint64_t clock_mono_us(void);
uint64_t clock_mono_ms(void);
double clock_mono_s(void);

/* CLOCK_REALTIME in milliseconds since the Unix epoch. */
uint64_t clock_wall_ms(void);

/* A libevent timeout of `ms` milliseconds. */
struct timeval clock_tv_from_ms(uint64_t ms);

#endif
