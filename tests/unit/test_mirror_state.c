/* agent/mirror_state: transitions, lag on the source clock, Degraded,
 * backoff bounds and endpoint rotation. No clock: every event has a now. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/follow/mirror_state.h"
#include "common/errors.h"

static const struct mirror_state_config config = {
    .backoff_min_ms = 100,
    .backoff_max_ms = 5000,
    .degraded_lag_entries = 1000,
    .degraded_lag_ms = 2000,
    .degraded_silence_ms = 3000,
    .endpoint_count = 3,
};

static void test_bootstrap_to_following(void **state)
{
	struct mirror_sm sm;

	(void)state;
	mirror_sm_init(&sm, &config, 0, 1);
	assert_int_equal(sm.status.state, MIRROR_CONNECTING);
	mirror_sm_connected(&sm, 10);
	mirror_sm_bootstrap_progress(&sm, 20, 1 << 20, 3 << 20);
	assert_int_equal(sm.status.state, MIRROR_BOOTSTRAPPING);
	assert_int_equal(sm.status.bytes_done, 1 << 20);
	mirror_sm_bootstrap_progress(&sm, 1020, 2 << 20, 3 << 20);
	assert_int_equal(sm.status.rate_bytes_per_s, 1 << 20);
	/* A repeated, smaller figure never makes bytes_done go back. */
	mirror_sm_bootstrap_progress(&sm, 1030, 1 << 20, 3 << 20);
	assert_int_equal(sm.status.bytes_done, 2 << 20);
	mirror_sm_bootstrap_done(&sm, 1100, 500);
	assert_int_equal(sm.status.state, MIRROR_CATCHING_UP);
	mirror_sm_heartbeat(&sm, 1200, 510, 50000);
	assert_int_equal(sm.status.state, MIRROR_CATCHING_UP);
	assert_int_equal(sm.status.lag_entries, 10);
	for (uint64_t i = 501; i <= 509; i++)
		mirror_sm_applied(&sm, 1300, i);
	assert_int_equal(sm.status.state, MIRROR_CATCHING_UP);
	mirror_sm_applied(&sm, 1300, 510);
	assert_int_equal(sm.status.state, MIRROR_FOLLOWING);
	assert_int_equal(sm.status.lag_entries, 0);
	assert_int_equal(sm.status.lag_ms, 0);
	assert_string_equal(mirror_state_name(sm.status.state), "Following");
}

static void test_lag_ms_uses_source_clock_only(void **state)
{
	struct mirror_sm sm;

	(void)state;
	mirror_sm_init(&sm, &config, 100, 1);
	mirror_sm_connected(&sm, 0);
	mirror_sm_heartbeat(&sm, 0, 100, 1000000);
	assert_int_equal(sm.status.state, MIRROR_FOLLOWING);
	/* The source announces 101 at its t=1000500 and is still at 101 at
	 * t=1001700; local time hardly moves (skew must not matter). */
	mirror_sm_heartbeat(&sm, 5, 101, 1000500);
	mirror_sm_heartbeat(&sm, 6, 105, 1001000);
	mirror_sm_heartbeat(&sm, 7, 105, 1001700);
	assert_int_equal(sm.status.lag_entries, 5);
	assert_int_equal(sm.status.lag_ms, 1200);
	mirror_sm_applied(&sm, 8, 101);
	/* Oldest unapplied announcement is now the one of 105 at 1001000. */
	assert_int_equal(sm.status.lag_ms, 700);
	for (uint64_t i = 102; i <= 105; i++)
		mirror_sm_applied(&sm, 9, i);
	assert_int_equal(sm.status.lag_ms, 0);
}

static void test_degraded_on_lag_and_silence(void **state)
{
	struct mirror_sm sm;

	(void)state;
	mirror_sm_init(&sm, &config, 10, 1);
	mirror_sm_connected(&sm, 0);
	mirror_sm_heartbeat(&sm, 0, 10, 0);
	assert_int_equal(sm.status.state, MIRROR_FOLLOWING);
	mirror_sm_heartbeat(&sm, 100, 2000, 100);
	assert_int_equal(sm.status.state, MIRROR_DEGRADED);
	for (uint64_t i = 11; i <= 2000; i++)
		mirror_sm_applied(&sm, 200, i);
	assert_int_equal(sm.status.state, MIRROR_FOLLOWING);
	mirror_sm_tick(&sm, 200 + 2999);
	assert_int_equal(sm.status.state, MIRROR_FOLLOWING);
	mirror_sm_tick(&sm, 200 + 3001);
	assert_int_equal(sm.status.state, MIRROR_DEGRADED);
	mirror_sm_heartbeat(&sm, 3300, 2000, 4000);
	assert_int_equal(sm.status.state, MIRROR_FOLLOWING);
}

/* Retention headroom: unknown until the source says it, counted down
 * by ticks (to zero, not below), and Degraded below the threshold. */
static void test_headroom_countdown_and_degraded(void **state)
{
	struct mirror_state_config c = config;
	struct mirror_sm sm;

	(void)state;
	c.degraded_silence_ms = 0;
	c.degraded_headroom_ms = 60000; /* 1 min */
	mirror_sm_init(&sm, &c, 10, 1);
	mirror_sm_connected(&sm, 0);
	mirror_sm_heartbeat(&sm, 0, 10, 0);
	assert_false(sm.status.retention_headroom_known);
	assert_int_equal(sm.status.state, MIRROR_FOLLOWING);
	mirror_sm_headroom(&sm, 1000, 100);
	mirror_sm_heartbeat(&sm, 1000, 10, 1000);
	assert_true(sm.status.retention_headroom_known);
	assert_int_equal(sm.status.retention_headroom_s, 100);
	assert_int_equal(sm.status.state, MIRROR_FOLLOWING);
	mirror_sm_tick(&sm, 1000 + 40999);
	assert_int_equal(sm.status.retention_headroom_s, 60);
	assert_int_equal(sm.status.state, MIRROR_FOLLOWING);
	mirror_sm_tick(&sm, 1000 + 41000);
	assert_int_equal(sm.status.retention_headroom_s, 59);
	assert_int_equal(sm.status.state, MIRROR_DEGRADED);
	mirror_sm_tick(&sm, 1000 + 500000);
	assert_int_equal(sm.status.retention_headroom_s, 0);
	/* A fresh figure from the source restores it. */
	mirror_sm_headroom(&sm, 501000, 3600);
	mirror_sm_tick(&sm, 501000);
	assert_int_equal(sm.status.retention_headroom_s, 3600);
	assert_int_equal(sm.status.state, MIRROR_FOLLOWING);
}

static void test_backoff_bounds_and_rotation(void **state)
{
	struct mirror_sm sm;
	uint32_t nominal = 100;

	(void)state;
	mirror_sm_init(&sm, &config, 0, 42);
	for (int i = 0; i < 12; i++) {
		uint32_t d = mirror_sm_disconnected(&sm, 0, "refused");
		assert_int_equal(sm.status.state, MIRROR_DISCONNECTED);
		assert_true(d >= nominal / 2);
		assert_true(d <= nominal);
		assert_int_equal(sm.status.endpoint, (uint32_t)(i + 1) % 3);
		nominal = nominal * 2 > 5000 ? 5000 : nominal * 2;
	}
	assert_int_equal(sm.status.reconnects, 12);
	assert_string_equal(sm.status.error, "refused");
	/* A successful connection resets the backoff. */
	mirror_sm_connected(&sm, 0);
	assert_true(mirror_sm_disconnected(&sm, 0, "x") <= 100);
}

static void test_error_is_terminal(void **state)
{
	struct mirror_sm sm;

	(void)state;
	mirror_sm_init(&sm, &config, 0, 1);
	mirror_sm_fatal(&sm, MA_ERR_IDENTITY, "cluster id differs");
	mirror_sm_connected(&sm, 1);
	mirror_sm_heartbeat(&sm, 2, 5, 5);
	assert_int_equal(mirror_sm_disconnected(&sm, 3, "x"), 0);
	assert_int_equal(sm.status.state, MIRROR_ERROR);
	assert_int_equal(sm.status.error_code, MA_ERR_IDENTITY);
	assert_string_equal(sm.status.error, "cluster id differs");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bootstrap_to_following),
	    cmocka_unit_test(test_lag_ms_uses_source_clock_only),
	    cmocka_unit_test(test_degraded_on_lag_and_silence),
	    cmocka_unit_test(test_headroom_countdown_and_degraded),
	    cmocka_unit_test(test_backoff_bounds_and_rotation),
	    cmocka_unit_test(test_error_is_terminal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
