/* Promote in the simulation (tests/sim/sim.h): a mirror follows source A
 * to Following, is promoted (agent/promote/promote.h) behind A's last
 * index, and then
 *   - its own directory can no longer be followed (the core refuses to
 *     open it, naming the promotion);
 *   - served (serve's cores over the promoted directory) it bootstraps a
 *     new mirror to exactly the promoted history, which refuses A when
 *     it fails over to it;
 *   - a mirror of A refuses the promoted directory when it fails over to
 *     it.
 * Seeded and deterministic; the first mirror also over a lossy link
 * (drops, duplicates, swaps, cuts), the others over clean ones (any
 * fault there would make them fail over before the point). */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/apply/applier.h"
#include "agent/promote/promote.h"
#include "common/errors.h"
#include "common/log.h"
#include "snapshot/snapshot.h"
#include "tests/lib/fixture.h"
#include "tests/sim/sim.h"
#include "wal/wal.h"

#define CLUSTER_A "3f2a1b0c-4d5e-4f60-8172-93a4b5c6d7e8"
#define DB "kv"
#define CHUNK 4096
#define SNAP_AT 100
#define LAST 150
#define PROMOTED_AT 140

struct world {
	char root[256];
	struct fx_spool a;
	struct snapshot_meta snap;
	char em[MA_ERRMSG_SIZE];
};

/* Source A: snapshot at SNAP_AT, entries 1..LAST of term 1. */
static void world_init(struct world *w)
{
	char dir[300];

	memset(w, 0, sizeof *w);
	if (fx_scratch_dir("simpromote", w->root, sizeof w->root, w->em) != 0)
		fail_msg("%s", w->em);
	snprintf(dir, sizeof dir, "%s/a", w->root);
	if (fx_spool_create(&w->a, dir, DB, CLUSTER_A, 1, 4096, w->em) != 0 ||
	    fx_spool_append(&w->a, LAST, 1, SIM_ENTRY_SIZE, w->em) != 0 ||
	    fx_spool_snapshot(&w->a, SNAP_AT, 1, 9000, 77, &w->snap, w->em) !=
	        0)
		fail_msg("spool: %s", w->em);
}

static void world_free(struct world *w)
{
	fx_spool_close(&w->a);
	fx_remove_tree(w->root);
}

/* A simulation whose mirror lives in root/name, its model A's history
 * (term 1, A's snapshot), lossy when asked. */
static void sim_setup(struct world *w, struct sim *sim, uint64_t seed,
                      const char *name, bool lossy, char *dir, size_t size)
{
	snprintf(dir, size, "%s/%s", w->root, name);
	sim_init(sim, seed, dir, DB, CHUNK);
	sim_model_terms(sim, 1, 1);
	sim_model_snapshot(sim, SNAP_AT, 1, w->snap.id.size, w->snap.id.crc32c);
	sim->check_prefix = sim->check_snapshots = sim->check_applied = true;
	if (lossy) {
		sim->link.drop_pm = 20;
		sim->link.dup_pm = 20;
		sim->link.swap_pm = 20;
		sim->link.stream_cut_pm = 5;
	}
}

static void add_source(struct world *w, struct sim *sim, const char *dir)
{
	struct sim_source *src;

	if (sim_source_open(dir, DB, CHUNK, SERVE_FAULT_NONE, &src, w->em) != 0)
		fail_msg("source %s: %s", dir, w->em);
	sim_add_source(sim, src);
}

static void run_to(struct sim *sim, uint64_t index)
{
	bool ok = sim_run(sim, sim_following_at, &index, 60000);

	if (sim->violation[0] != '\0')
		fail_msg("seed %" PRIu64 ": invariant: %s", sim->seed,
		         sim->violation);
	if (!ok)
		fail_msg("seed %" PRIu64 ": not Following at %" PRIu64
		         ": state %s, log index %" PRIu64 ", error '%s'",
		         sim->seed, index, mirror_state_name(sim_state(sim)),
		         sim_log_index(sim),
		         follow_core_status(sim->core)->error);
}

static bool never(struct sim *sim, void *arg)
{
	(void)sim;
	(void)arg;
	return false;
}

static bool in_error(struct sim *sim, void *arg)
{
	(void)arg;
	return sim_state(sim) == MIRROR_ERROR;
}

/* Source 0 goes down: the mirror fails over to source 1, which it must
 * refuse as another source, keeping what it holds. Source 0 is only down
 * (it did not answer with another identity), so the mirror keeps trying
 * the next endpoint rather than giving up (Error needs every endpoint to
 * answer so: tests/sim/test_sim.c test_identity_change): each visit to
 * source 1 ends in a move on. */
static void assert_refused_on_failover(struct sim *sim, uint64_t held)
{
	uint64_t moves = sim->stats.endpoint_moves;

	sim_source_down(sim, 0, true);
	assert_false(sim_run(sim, in_error, NULL, 60000));
	assert_true(sim->violation[0] == '\0');
	assert_true(sim->stats.endpoint_moves > moves);
	assert_true(sim->stats.connects < 100);
	assert_true(sim_state(sim) != MIRROR_FOLLOWING);
	assert_true(sim_log_index(sim) == held);
}

/* Returns the faults the first mirror's link injected. */
static uint64_t scenario(uint64_t seed, bool lossy)
{
	char m1[400], m2[400], m3[400], em[MA_ERRMSG_SIZE];
	struct promote_options po = {0};
	struct promote_result pr;
	struct world w;
	struct sim s1, s2, s3, s4;
	uint64_t size, faults;
	uint32_t crc;

	world_init(&w);
	/* The mirror follows A, then stops and is promoted at 140. */
	sim_setup(&w, &s1, seed, "m1", lossy, m1, sizeof m1);
	add_source(&w, &s1, w.a.dir);
	if (sim_start(&s1, em) != 0)
		fail_msg("start: %s", em);
	run_to(&s1, LAST);
	faults = s1.stats.drops + s1.stats.dups + s1.stats.swaps +
	         s1.stats.stream_cuts;
	sim_free(&s1);
	po.dir = m1;
	po.name = DB;
	po.applier_kind = APPLIER_NONE;
	po.at_index = PROMOTED_AT;
	po.source_commit_index = LAST;
	po.now_unix_ms = 1;
	assert_int_equal(promote_database(&po, &pr, em), 0);
	assert_true(pr.rec.index == PROMOTED_AT && pr.rec.term == 1);
	assert_true(pr.rec.epoch == 2 && pr.truncated == LAST - PROMOTED_AT);
	assert_true(pr.rpo_entries == LAST - PROMOTED_AT);

	/* Its directory is fenced: the core opens it Promoted (issue 11),
	 * with where it stopped, and never asks the source anything. */
	sim_init(&s4, seed, m1, DB, CHUNK);
	add_source(&w, &s4, w.a.dir);
	if (sim_start(&s4, em) != 0)
		fail_msg("start on the promoted directory: %s", em);
	assert_int_equal(sim_state(&s4), MIRROR_PROMOTED);
	assert_false(sim_run(&s4, never, NULL, 5000));
	assert_int_equal(sim_state(&s4), MIRROR_PROMOTED);
	assert_true(follow_core_status(s4.core)->promoted_index == PROMOTED_AT);
	assert_true(follow_core_status(s4.core)->promoted_term == 1);
	assert_true(follow_core_failed(s4.core));
	assert_non_null(strstr(follow_core_status(s4.core)->error,
	                       "was promoted at index 140"));
	assert_true(sim_log_index(&s4) == PROMOTED_AT);
	assert_true(s4.stats.opens == 0);
	sim_free(&s4);

	/* Served, it bootstraps a new mirror to exactly its history (the
	 * prefix invariant checks every entry against A's), which refuses
	 * A on failover. */
	/* (Clean links from here: a fault would fail over early.) */
	sim_setup(&w, &s2, seed + 1, "m2", false, m2, sizeof m2);
	add_source(&w, &s2, m1);
	add_source(&w, &s2, w.a.dir);
	if (sim_start(&s2, em) != 0)
		fail_msg("start: %s", em);
	run_to(&s2, PROMOTED_AT);
	assert_true(sim_mirror_snapshot(&s2, SNAP_AT, 1, &size, &crc));
	assert_true(size == w.snap.id.size && crc == w.snap.id.crc32c);
	assert_refused_on_failover(&s2, PROMOTED_AT);
	sim_free(&s2);

	/* A mirror of A refuses the promoted directory on failover. */
	sim_setup(&w, &s3, seed + 2, "m3", false, m3, sizeof m3);
	add_source(&w, &s3, w.a.dir);
	add_source(&w, &s3, m1);
	if (sim_start(&s3, em) != 0)
		fail_msg("start: %s", em);
	run_to(&s3, LAST);
	assert_refused_on_failover(&s3, LAST);
	sim_free(&s3);
	world_free(&w);
	return faults;
}

static void test_promote_fences_clean(void **state)
{
	(void)state;
	assert_true(scenario(31, false) == 0);
}

static void test_promote_fences_lossy(void **state)
{
	uint64_t faults = 0;

	(void)state;
	for (uint64_t seed = 100; seed < 110; seed++)
		faults += scenario(seed, true);
	print_message("# 10 seeds, %" PRIu64 " faults injected\n", faults);
	assert_true(faults >= 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_promote_fences_clean),
	    cmocka_unit_test(test_promote_fences_lossy),
	};

	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
