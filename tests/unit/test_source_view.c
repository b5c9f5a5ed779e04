/* The mirror's view of its source endpoints (agent/follow/source_view.h),
 * rule by rule, with `now` given: who is freshest, when a move is due and
 * to where, what never counts as fresh, and the hysteresis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/follow/source_view.h"
#include "common/errors.h"

#define CLUSTER "3f2a1b0c-4d5e-4f60-8172-93a4b5c6d7e8"
#define OTHER "9e8d7c6b-5a49-4837-a261-504f3e2d1c0b"

static void view(struct source_view *v, uint32_t n)
{
	struct source_view_config c = {
	    .endpoint_count = n,
	    .lag_entries = 100,
	    .lag_grace_ms = 1000,
	    .leader_silence_ms = 3000,
	    .stale_ms = 5000,
	    .hold_ms = 10000,
	};
	source_view_init(v, &c);
}

static struct proto_freshness fresh(enum proto_leader l, uint64_t age)
{
	struct proto_freshness f = {true, l, true, age, 0};
	return f;
}

/* Behind by more than lag_entries: a move only after the grace, to the
 * freshest (ties: the lowest number), with the figures in the reason. */
static void test_lag_grace_and_target(void **state)
{
	struct source_view v;
	struct proto_freshness ok = fresh(PROTO_LEADER_KNOWN, 10);
	uint32_t t = 99;
	char why[256];

	(void)state;
	view(&v, 3);
	source_view_observe(&v, 0, 500, &ok, 1000);
	source_view_observe(&v, 1, 700, &ok, 1000);
	source_view_observe(&v, 2, 700, &ok, 1000);
	assert_int_equal(source_view_freshest(&v, 1000), 700);
	assert_false(source_view_decide(&v, 1000, &t, why, sizeof why));
	assert_false(source_view_decide(&v, 1999, &t, why, sizeof why));
	assert_false(v.stale);
	assert_true(source_view_decide(&v, 2000, &t, why, sizeof why));
	assert_int_equal(t, 1);
	assert_int_equal(v.current, 1);
	assert_int_equal(v.switches, 1);
	assert_non_null(strstr(why, "moving from endpoint 0 to endpoint 1 "
	                            "(commit index 700 vs 500): it is 200 "
	                            "entries behind the freshest endpoint "
	                            "for 1000 ms"));
	/* Within lag_entries: no move. */
	view(&v, 2);
	source_view_observe(&v, 0, 600, &ok, 1000);
	source_view_observe(&v, 1, 700, &ok, 1000);
	assert_false(source_view_decide(&v, 9000, &t, why, sizeof why));
	/* Caught up within the grace: the grace starts again. */
	view(&v, 2);
	source_view_observe(&v, 0, 500, &ok, 1000);
	source_view_observe(&v, 1, 700, &ok, 1000);
	assert_false(source_view_decide(&v, 1500, &t, why, sizeof why));
	source_view_observe(&v, 0, 690, &ok, 1600);
	assert_false(source_view_decide(&v, 1600, &t, why, sizeof why));
	source_view_observe(&v, 0, 500, &ok, 1700);
	assert_false(source_view_decide(&v, 1700, &t, why, sizeof why));
	assert_false(source_view_decide(&v, 2699, &t, why, sizeof why));
	assert_true(source_view_decide(&v, 2700, &t, why, sizeof why));
}

/* A node that knows no leader ages from its last answer; one that knows a
 * leader keeps the age it reported. Unknown freshness is never stale. */
static void test_leader_silence(void **state)
{
	struct source_view v;
	struct proto_freshness none = fresh(PROTO_LEADER_NONE, 1000);
	struct proto_freshness ok = fresh(PROTO_LEADER_SELF, 0);
	struct proto_freshness never = {true, PROTO_LEADER_NONE, false, 0, 5};
	uint64_t age = 0;
	uint32_t t;
	char why[256];

	(void)state;
	view(&v, 2);
	source_view_observe(&v, 0, 500, &none, 1000);
	source_view_observe(&v, 1, 500, &ok, 1000);
	assert_true(source_view_leader_contact_age(&v, 0, 2500, &age));
	assert_int_equal(age, 2500);
	assert_true(source_view_leader_contact_age(&v, 1, 2500, &age));
	assert_int_equal(age, 0);
	assert_false(source_view_decide(&v, 3000, &t, why, sizeof why));
	assert_true(source_view_decide(&v, 3001, &t, why, sizeof why));
	assert_int_equal(t, 1);
	assert_non_null(strstr(why, "its node has not heard from a leader "
	                            "for 3001 ms (source_leader_silence "
	                            "3000 ms)"));
	/* Never heard from a leader: stale at once; no contact age. */
	view(&v, 2);
	source_view_observe(&v, 0, 500, &never, 1000);
	source_view_observe(&v, 1, 400, &ok, 1000);
	assert_false(source_view_leader_contact_age(&v, 0, 1000, &age));
	/* The only other one is behind it: nowhere to go, stale. */
	assert_false(source_view_decide(&v, 1000, &t, why, sizeof why));
	assert_true(v.stale);
	assert_non_null(strstr(v.stale_why, "never heard from a leader"));
	assert_non_null(strstr(v.stale_why, "no other endpoint is fresh"));
	/* Unknown (an older source): never stale. */
	view(&v, 2);
	source_view_observe(&v, 0, 500, NULL, 1000);
	source_view_observe(&v, 1, 500, &ok, 1000);
	assert_false(source_view_leader_contact_age(&v, 0, 99000, &age));
	assert_false(source_view_decide(&v, 99000, &t, why, sizeof why));
	assert_false(v.stale);
}

/* What is not a target: an answer older than stale_ms, a failed or
 * foreign probe, a stale node itself. */
static void test_targets(void **state)
{
	static const uint8_t garbage[] = {0, 0, 0, 3, 0xc1, 0xc1, 0xc1};
	struct source_view v;
	struct proto_freshness none = fresh(PROTO_LEADER_NONE, 9000);
	struct proto_freshness ok = fresh(PROTO_LEADER_KNOWN, 5);
	struct proto_buf b;
	struct proto_info info;
	char em[MA_ERRMSG_SIZE], why[256];
	uint32_t t;

	(void)state;
	view(&v, 4);
	source_view_observe(&v, 0, 500, &none, 10000);
	source_view_observe(&v, 1, 900, &ok, 4000);   /* too old at 10000 */
	source_view_observe(&v, 2, 900, &none, 9000); /* stale itself */
	source_view_observe(&v, 3, 900, &ok, 9000);
	source_view_probe_failed(&v, 3, SOURCE_PROBE_FAILED, "timed out", 9500);
	assert_false(source_view_decide(&v, 10000, &t, why, sizeof why));
	assert_true(v.stale);
	assert_string_equal(v.ep[3].probe_error, "timed out");
	/* A probe answering for another cluster is no target either. */
	memset(&info, 0, sizeof info);
	snprintf(info.id.cluster_id, sizeof info.id.cluster_id, OTHER);
	snprintf(info.id.database_id, sizeof info.id.database_id, "kv");
	info.id.epoch = 1;
	info.commit_index = 900;
	info.fresh = ok;
	proto_buf_init(&b);
	assert_int_equal(proto_info_encode(&b, &info), 0);
	assert_int_equal(source_view_probe_answer(&v, 3, CLUSTER, "kv", b.data,
	                                          b.len, 10000, em),
	                 MA_ERR_IDENTITY);
	assert_int_equal(v.ep[3].probe, SOURCE_PROBE_FOREIGN);
	assert_false(source_view_decide(&v, 10000, &t, why, sizeof why));
	/* Garbage is a failed probe. */
	assert_int_equal(source_view_probe_answer(&v, 3, CLUSTER, "kv", garbage,
	                                          sizeof garbage, 10000, em),
	                 MA_ERR_PROTO);
	assert_int_equal(v.ep[3].probe, SOURCE_PROBE_FAILED);
	/* The same cluster announcing an index past 2^63-1: a failed
	 * probe, never the freshest. */
	snprintf(info.id.cluster_id, sizeof info.id.cluster_id, CLUSTER);
	info.commit_index = UINT64_MAX;
	proto_buf_clear(&b);
	assert_int_equal(proto_info_encode(&b, &info), 0);
	assert_int_equal(source_view_probe_answer(&v, 3, CLUSTER, "kv", b.data,
	                                          b.len, 10000, em),
	                 MA_ERR_PROTO);
	assert_int_equal(v.ep[3].probe, SOURCE_PROBE_FAILED);
	assert_false(source_view_decide(&v, 10000, &t, why, sizeof why));
	info.commit_index = 900;
	/* The same cluster: a target, observed with its position. */
	proto_buf_clear(&b);
	assert_int_equal(proto_info_encode(&b, &info), 0);
	assert_int_equal(source_view_probe_answer(&v, 3, CLUSTER, "kv", b.data,
	                                          b.len, 10000, em),
	                 0);
	proto_buf_free(&b);
	assert_int_equal(v.ep[3].commit_index, 900);
	assert_true(source_view_decide(&v, 10000, &t, why, sizeof why));
	assert_int_equal(t, 3);
}

/* After a move, none for hold_ms even when the new one goes stale. */
static void test_hold(void **state)
{
	struct source_view v;
	struct proto_freshness none = fresh(PROTO_LEADER_NONE, 5000);
	struct proto_freshness ok = fresh(PROTO_LEADER_KNOWN, 5);
	uint32_t t;
	char why[256];

	(void)state;
	view(&v, 2);
	source_view_observe(&v, 0, 500, &none, 1000);
	source_view_observe(&v, 1, 500, &ok, 1000);
	assert_true(source_view_decide(&v, 1000, &t, why, sizeof why));
	assert_int_equal(t, 1);
	source_view_observe(&v, 1, 500, &none, 2000);
	source_view_observe(&v, 0, 500, &ok, 2000);
	assert_false(source_view_decide(&v, 2000, &t, why, sizeof why));
	assert_false(source_view_decide(&v, 10999, &t, why, sizeof why));
	source_view_observe(&v, 0, 500, &ok, 10999);
	assert_true(source_view_decide(&v, 11000, &t, why, sizeof why));
	assert_int_equal(t, 0);
	assert_int_equal(v.switches, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lag_grace_and_target),
	    cmocka_unit_test(test_leader_silence),
	    cmocka_unit_test(test_targets),
	    cmocka_unit_test(test_hold),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
