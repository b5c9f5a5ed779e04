/* Background snapshot refresh of a `none` mirror in the simulation
 * (agent/follow/follow_refresh.h, issue 10 item 1): the mirror fetches
 * the source's newer snapshot beside its live log stream, paced, resumes
 * an interrupted fetch from its durable offset (a cut, a crash), installs
 * it, and trims its wal only once it is durable; failures are retried
 * with a capped backoff. The sim's invariants (wal a prefix of the
 * source's log, every .snapshot equal to the source's, nothing applied
 * going backwards) are checked after every event.
 *
 *   MA_SIM_SEED=N  replays the scenarios with seed N (default: their own)
 *   MA_TEST_TMPDIR scratch base (default /dev/shm, else /tmp) */
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
#include "agent/follow/follow_refresh.h"
#include "common/errors.h"
#include "common/log.h"
#include "snapshot/snapshot.h"
#include "tests/lib/fixture.h"
#include "tests/sim/sim.h"
#include "wal/wal.h"

#define CLUSTER_A "3f2a1b0c-4d5e-4f60-8172-93a4b5c6d7e8"
#define DB "kv"
#define CHUNK 4096
#define SNAP_SIZE 60000

struct world {
	char root[256];
	char mirror[300];
	struct fx_spool sp;
	struct sim sim;
	char em[MA_ERRMSG_SIZE];
};

static uint64_t seed_or(uint64_t dflt)
{
	const char *s = getenv("MA_SIM_SEED");

	return s != NULL && *s != '\0' ? strtoull(s, NULL, 10) : dflt;
}

/* A none mirror with the refresh on (distance 1000, info every 2 s,
 * backoff 500 ms .. 4 s), small wal segments and a margin of 50. */
static void world_init(struct world *w, uint64_t seed, uint64_t rate)
{
	struct sim_source *src;
	char dir[300];

	memset(w, 0, sizeof *w);
	if (fx_scratch_dir("simr", w->root, sizeof w->root, w->em) != 0)
		fail_msg("%s", w->em);
	snprintf(w->mirror, sizeof w->mirror, "%s/mirror", w->root);
	sim_init(&w->sim, seed_or(seed), w->mirror, DB, CHUNK);
	w->sim.core_cfg.applier_kind = APPLIER_NONE;
	w->sim.core_cfg.wal_segment_size = 4096;
	w->sim.core_cfg.checkpoint.wal_keep_entries = 50;
	w->sim.core_cfg.checkpoint.keep_snapshots = 2;
	w->sim.core_cfg.refresh.distance = 1000;
	w->sim.core_cfg.refresh.rate_bytes_per_s = rate;
	w->sim.core_cfg.refresh.check_ms = 2000;
	w->sim.core_cfg.refresh.backoff_min_ms = 500;
	w->sim.core_cfg.refresh.backoff_max_ms = 4000;
	w->sim.core_cfg.refresh.fsync_interval = CHUNK;
	snprintf(dir, sizeof dir, "%s/src", w->root);
	if (fx_spool_create(&w->sp, dir, DB, CLUSTER_A, 1, 4096, w->em) != 0)
		fail_msg("spool: %s", w->em);
	if (sim_source_open(w->sp.dir, DB, CHUNK, SERVE_FAULT_NONE, &src,
	                    w->em) != 0)
		fail_msg("source: %s", w->em);
	sim_add_source(&w->sim, src);
}

static void append(struct world *w, uint64_t count)
{
	uint64_t next = fx_spool_last_index(&w->sp) + 1;

	if (sim_model_term(&w->sim, next) != 1)
		sim_model_terms(&w->sim, next, 1);
	if (fx_spool_append(&w->sp, count, 1, SIM_ENTRY_SIZE, w->em) != 0)
		fail_msg("append: %s", w->em);
	sim_source_touch(w->sim.sources[0]);
}

static void snapshot(struct world *w, uint64_t index)
{
	struct snapshot_meta meta;

	if (fx_spool_snapshot(&w->sp, index, 1, SNAP_SIZE, index * 31 + 1,
	                      &meta, w->em) != 0)
		fail_msg("snapshot: %s", w->em);
	sim_model_snapshot(&w->sim, index, 1, meta.id.size, meta.id.crc32c);
	sim_source_touch(w->sim.sources[0]);
}

static void world_free(struct world *w)
{
	sim_free(&w->sim);
	fx_spool_close(&w->sp);
	fx_remove_tree(w->root);
}

static const struct follow_refresh *refresh(const struct world *w)
{
	return follow_core_refresh(w->sim.core);
}

static uint64_t wal_first(const struct world *w)
{
	return wal_log_first_index(follow_core_wal(w->sim.core));
}

static void run_to(struct world *w, uint64_t index, uint64_t max_ms)
{
	bool ok = sim_run(&w->sim, sim_following_at, &index, max_ms);

	if (w->sim.violation[0] != '\0')
		fail_msg("seed %" PRIu64 ": invariant: %s", w->sim.seed,
		         w->sim.violation);
	if (!ok)
		fail_msg("seed %" PRIu64 ": not Following at %" PRIu64
		         " after %" PRIu64 " ms: state %s, log index %" PRIu64,
		         w->sim.seed, index, max_ms,
		         mirror_state_name(sim_state(&w->sim)),
		         sim_log_index(&w->sim));
}

/* Runs until the refresh installed n snapshots, checking after every
 * event that the wal was not trimmed before that (the trim waits for a
 * durable snapshot). */
struct until_installed {
	uint64_t n, first_before;
	bool trimmed_early;
};

static bool installed_n(struct sim *sim, void *arg)
{
	struct until_installed *u = arg;
	const struct follow_refresh *r = follow_core_refresh(sim->core);
	struct wal_log *wal = follow_core_wal(sim->core);

	if (r->installed < u->n && wal != NULL &&
	    wal_log_first_index(wal) != u->first_before)
		u->trimmed_early = true;
	return r->installed >= u->n;
}

static void run_installed(struct world *w, uint64_t n, uint64_t max_ms)
{
	struct until_installed u = {n, wal_first(w), false};
	bool ok = sim_run(&w->sim, installed_n, &u, max_ms);

	if (w->sim.violation[0] != '\0')
		fail_msg("seed %" PRIu64 ": invariant: %s", w->sim.seed,
		         w->sim.violation);
	if (!ok)
		fail_msg("seed %" PRIu64 ": %" PRIu64
		         " snapshots installed after %" PRIu64
		         " ms (want %" PRIu64 "); last error '%s'",
		         w->sim.seed, refresh(w)->installed, max_ms, n,
		         refresh(w)->last_error);
	assert_false(u.trimmed_early);
}

static bool never(struct sim *sim, void *arg)
{
	(void)sim;
	(void)arg;
	return false;
}

static void assert_mirror_has(const struct world *w, uint64_t index)
{
	uint64_t size;
	uint32_t crc;

	assert_true(sim_mirror_snapshot(&w->sim, index, 1, &size, &crc));
	for (size_t i = 0; i < w->sim.model.nsnaps; i++)
		if (w->sim.model.snaps[i].index == index) {
			assert_true(size == w->sim.model.snaps[i].size);
			assert_int_equal(crc, w->sim.model.snaps[i].crc32c);
			return;
		}
	fail_msg("no model snapshot %" PRIu64, index);
}

/* Below the distance nothing is fetched; at it the snapshot is fetched
 * (paced at 20000 B/s: about 3 s for 60000 bytes) while the log goes on
 * (entries appended during the fetch are durable before it ends), it
 * is installed, the wal is trimmed behind it (margin 50, whole
 * segments) only then, and the mirror keeps following. */
static void test_refresh_fetch_paced(void **state)
{
	struct world w;
	uint64_t t0, t1, req;

	(void)state;
	world_init(&w, 101, 20000);
	append(&w, 1500);
	snapshot(&w, 500); /* the bootstrap */
	if (sim_start(&w.sim, w.em) != 0)
		fail_msg("start: %s", w.em);
	run_to(&w, 1500, 20000);
	req = w.sim.stats.snapshot_requests;
	assert_true(req == 1);
	snapshot(&w, 1400); /* 1400 < 500 + 1000: not far enough ahead */
	sim_run(&w.sim, never, NULL, 5000); /* two checks */
	assert_true(refresh(&w)->infos >= 2);
	assert_true(w.sim.stats.snapshot_requests == req);
	assert_true(refresh(&w)->installed == 0);
	assert_true(wal_first(&w) == 501);

	append(&w, 200);
	snapshot(&w, 1600);
	run_to(&w, 1700, 20000);
	/* Wait for the fetch to begin, then write while it runs. */
	t0 = w.sim.now;
	while (w.sim.stats.snapshot_requests == req && w.sim.now < t0 + 5000)
		sim_run(&w.sim, never, NULL, 50);
	assert_true(w.sim.stats.snapshot_requests > req);
	t0 = w.sim.now;
	append(&w, 200);
	run_to(&w, 1900, 2000);
	assert_true(refresh(&w)->installed == 0); /* still fetching */
	assert_true(wal_first(&w) == 501);
	run_installed(&w, 1, 20000);
	t1 = w.sim.now;
	fprintf(stderr,
	        "# refresh of %u bytes at 20000 B/s took %" PRIu64
	        " ms of simulated time (%" PRIu64 " pauses, %" PRIu64
	        " requests)\n",
	        SNAP_SIZE, t1 - t0, refresh(&w)->pauses,
	        w.sim.stats.snapshot_requests - req);
	/* Paced: not faster than the rate allows (60000 B at 20000 B/s,
	 * less the first moments), in pauses. */
	assert_true(t1 - t0 >= 2500);
	assert_true(refresh(&w)->pauses >= 2);
	assert_mirror_has(&w, 1600);
	assert_true(refresh(&w)->last_index == 1600);
	/* Trimmed behind it: margin 50 at segment granularity. */
	assert_true(wal_first(&w) > 1200);
	assert_true(wal_first(&w) <= 1600 - 50 + 1);
	assert_true(wal_log_durable_index(follow_core_wal(w.sim.core)) == 1900);
	/* The newest 2 snapshots are kept: 500 went. */
	assert_int_equal(sim_mirror_snapshot_count(&w.sim), 2);
	/* And it keeps following. */
	append(&w, 300);
	run_to(&w, 2200, 20000);
	world_free(&w);
}

static bool fetch_started(struct sim *sim, void *arg)
{
	(void)arg;
	return sim->stats.snapshot_requests > 0;
}

/* An interrupted fetch resumes from its durable offset: once after a
 * connection cut (the log resumes too), once after a crash of the
 * mirror (a new core finds the same target and the .partial); the
 * snapshot installed is the source's. Paced at 8000 B/s so that both
 * happen in the middle of it. */
static void test_refresh_resume(void **state)
{
	struct world w;
	uint64_t npaths, off = 0;
	bool seen = false;

	(void)state;
	world_init(&w, 202, 8000);
	append(&w, 2000);
	if (sim_start(&w.sim, w.em) != 0)
		fail_msg("start: %s", w.em);
	run_to(&w, 2000, 20000);
	snapshot(&w, 1500);
	/* The 3rd frame of the fetch cuts the connection. */
	w.sim.cut_snapshot_after = 3;
	assert_true(sim_run(&w.sim, fetch_started, NULL, 10000));
	sim_run(&w.sim, never, NULL, 3000);
	assert_true(w.sim.stats.cuts_done >= 1);
	run_to(&w, 2000, 20000);
	assert_true(refresh(&w)->installed == 0);
	assert_true(refresh(&w)->bytes > 0);
	/* A crash in the middle. */
	npaths = w.sim.npaths;
	if (sim_restart_mirror(&w.sim, w.em) != 0)
		fail_msg("restart: %s", w.em);
	run_to(&w, 2000, 20000);
	run_installed(&w, 1, 30000);
	assert_mirror_has(&w, 1500);
	/* The first fetch after the crash resumed past 0. */
	for (uint64_t n = npaths; n < w.sim.npaths && !seen; n++) {
		const char *p = strstr(sim_path(&w.sim, n), "&offset=");

		if (strstr(sim_path(&w.sim, n), "/snapshot?") != NULL &&
		    p != NULL) {
			seen = true;
			off = strtoull(p + 8, NULL, 10);
		}
	}
	fprintf(stderr, "# after the crash the fetch resumed at %" PRIu64 "\n",
	        off);
	assert_true(seen);
	assert_true(off > 0 && off < SNAP_SIZE);
	assert_true(refresh(&w)->resumes >= 1);
	assert_true(wal_first(&w) > 1 && wal_first(&w) <= 1500 - 50 + 1);
	world_free(&w);
}

/* Snapshot compression in the refresh: the mirror (snapshot_compression
 * zstd) asks the source that offers it for zstd chunks, the fetch is cut
 * and the mirror crashes in the middle, resumes asking for them again,
 * and installs the source's bytes; text crossed the link compressed. */
static void test_refresh_zstd(void **state)
{
	struct world w;
	struct snapshot_ident ident;
	struct snapshot_meta meta;
	char *buf = malloc(SNAP_SIZE);
	uint64_t fetches = 0, zs, raw, wire;

	(void)state;
	assert_non_null(buf);
	world_init(&w, 207, 8000);
	w.sim.core_cfg.compression = FOLLOW_COMPRESSION_ZSTD;
	sim_source_set_compression(w.sim.sources[0], 3);
	append(&w, 2000);
	if (sim_start(&w.sim, w.em) != 0)
		fail_msg("start: %s", w.em);
	run_to(&w, 2000, 20000);
	for (size_t i = 0; i < SNAP_SIZE; i++)
		buf[i] = "refresh me, a line of text\n"[(i + i / 4099) % 27];
	memset(&ident, 0, sizeof ident);
	strcpy(ident.cluster_id, w.sp.id.cluster_id);
	strcpy(ident.database_id, w.sp.id.database_id);
	ident.index = 1500;
	ident.term = 1;
	if (snapshot_store_create_from_buf(w.sp.store, &ident, buf, SNAP_SIZE,
	                                   0, &meta, w.em) != 0)
		fail_msg("snapshot: %s", w.em);
	free(buf);
	sim_model_snapshot(&w.sim, 1500, 1, meta.id.size, meta.id.crc32c);
	sim_source_touch(w.sim.sources[0]);
	w.sim.cut_snapshot_after = 3;
	assert_true(sim_run(&w.sim, fetch_started, NULL, 10000));
	sim_run(&w.sim, never, NULL, 3000);
	assert_true(w.sim.stats.cuts_done >= 1);
	if (sim_restart_mirror(&w.sim, w.em) != 0)
		fail_msg("restart: %s", w.em);
	run_to(&w, 2000, 20000);
	run_installed(&w, 1, 30000);
	assert_mirror_has(&w, 1500);
	for (uint64_t n = 0; n < w.sim.npaths; n++) {
		const char *p = sim_path(&w.sim, n);

		if (strstr(p, "/snapshot?") == NULL)
			continue;
		fetches++;
		if (strstr(p, "&encodings=1") == NULL)
			fail_msg("fetch without encodings: %s", p);
	}
	assert_true(fetches >= 2);
	assert_true(refresh(&w)->resumes >= 1);
	sim_source_compression_stats(w.sim.sources[0], &zs, &raw, &wire);
	fprintf(stderr,
	        "# %" PRIu64 " zstd fetches: %" PRIu64
	        " chunk bytes in %" PRIu64 " on the wire\n",
	        zs, raw, wire);
	assert_true(zs >= 2);
	assert_true(raw >= SNAP_SIZE && wire < raw / 4);
	/* The mirror counts the refresh's chunks too (since its restart:
	 * the counters are the process's): every chunk byte the source
	 * sent after the restart, compressed, and more raw. */
	{
		const struct mirror_status *st = follow_core_status(w.sim.core);

		assert_true(st->snapshot_wire_bytes > 0);
		assert_true(st->snapshot_wire_bytes <= wire);
		assert_true(st->snapshot_raw_bytes <= raw);
		assert_true(st->snapshot_wire_bytes <
		            st->snapshot_raw_bytes / 4);
	}
	world_free(&w);
}

/* A source whose snapshot streams are damaged (total CRC): every fetch
 * fails; the refresh backs off, doubling to its cap (4 s), never
 * faster than its minimum, the log going on meanwhile; once the source
 * is healthy the snapshot is installed. */
static void test_refresh_backoff(void **state)
{
	struct world w;
	uint64_t req0, n;

	(void)state;
	world_init(&w, 303, 0);
	append(&w, 2000);
	if (sim_start(&w.sim, w.em) != 0)
		fail_msg("start: %s", w.em);
	run_to(&w, 2000, 20000);
	sim_source_set_fault(w.sim.sources[0], SERVE_FAULT_TOTAL_CRC);
	snapshot(&w, 1500);
	req0 = w.sim.stats.snapshot_requests;
	for (int i = 0; i < 6; i++) {
		append(&w, 50);
		run_to(&w, 2050 + 50 * (uint64_t)i, 10000);
		sim_run(&w.sim, never, NULL, 10000);
	}
	n = w.sim.stats.snapshot_requests - req0;
	fprintf(stderr,
	        "# %" PRIu64 " fetches failed in 60 s (backoff 0.5-4 s, "
	        "checks every 2 s), longest wait %" PRIu64 " ms\n",
	        refresh(&w)->failures, refresh(&w)->longest_wait_ms);
	/* Without the cap's doubling it would be ~120 (one per 500 ms). */
	assert_true(n >= 5 && n <= 25);
	assert_true(refresh(&w)->failures >= n);
	assert_true(refresh(&w)->longest_wait_ms == 4000);
	assert_true(refresh(&w)->installed == 0);
	assert_true(wal_first(&w) == 1);
	sim_source_set_fault(w.sim.sources[0], SERVE_FAULT_NONE);
	run_installed(&w, 1, 30000);
	assert_mirror_has(&w, 1500);
	world_free(&w);
}

/* A kv mirror never fetches (it checkpoints instead). */
static void test_refresh_only_none(void **state)
{
	struct world w;

	(void)state;
	world_init(&w, 404, 0);
	w.sim.core_cfg.applier_kind = APPLIER_KV;
	append(&w, 2000);
	if (sim_start(&w.sim, w.em) != 0)
		fail_msg("start: %s", w.em);
	run_to(&w, 2000, 20000);
	snapshot(&w, 1500);
	sim_run(&w.sim, never, NULL, 8000);
	assert_true(w.sim.stats.snapshot_requests == 0);
	assert_true(refresh(&w)->infos == 0);
	world_free(&w);
}

static unsigned pick_pm(struct fx_rng *r)
{
	return fx_rng_chance(r, 500) ? (unsigned)fx_rng_below(r, 30) : 0;
}

/* One randomized schedule: a none mirror with the refresh on (distance
 * 300, info every second, random pacing) over a faulty link (latency,
 * byte runs, dropped, duplicated and swapped frames, stream and
 * connection cuts), the source appending and taking snapshots (some
 * with compaction behind them), the mirror crashing now and then. The
 * invariants hold after every event; at the end, on a clean link, the
 * mirror follows the source's last index. Returns whether it did; *inst
 * counts snapshots installed by the refresh. */
static bool schedule(uint64_t seed, uint64_t *inst)
{
	struct world w;
	struct fx_rng r;
	uint64_t last, last_snap = 0;
	bool ok = true;

	fx_rng_seed(&r, seed * 104729 + 3);
	world_init(&w, seed,
	           fx_rng_chance(&r, 500) ? 4096 + fx_rng_below(&r, 60000) : 0);
	w.sim.core_cfg.refresh.distance = 300;
	w.sim.core_cfg.refresh.check_ms = 1000;
	w.sim.link.latency_min_ms = 1 + (uint32_t)fx_rng_below(&r, 10);
	w.sim.link.latency_max_ms =
	    w.sim.link.latency_min_ms + (uint32_t)fx_rng_below(&r, 40);
	w.sim.link.run_max = 1 + (size_t)fx_rng_below(&r, 8192);
	w.sim.link.drop_pm = pick_pm(&r);
	w.sim.link.dup_pm = pick_pm(&r);
	w.sim.link.swap_pm = pick_pm(&r);
	w.sim.link.stream_cut_pm = pick_pm(&r) / 2;
	w.sim.link.conn_cut_pm = pick_pm(&r) / 2;
	append(&w, 1 + fx_rng_below(&r, 500));
	if (sim_start(&w.sim, w.em) != 0)
		fail_msg("start: %s", w.em);
	for (int slice = 0; slice < 12 && ok; slice++) {
		uint64_t what = fx_rng_below(&r, 10);

		sim_run(&w.sim, NULL, NULL, 200 + fx_rng_below(&r, 2000));
		if (w.sim.violation[0] != '\0')
			break;
		if (what < 5) {
			append(&w, 50 + fx_rng_below(&r, 400));
		} else if (what < 8) {
			uint64_t at = fx_spool_last_index(&w.sp);
			struct snapshot_meta meta;

			if (at <= last_snap)
				continue;
			last_snap = at;
			if (fx_spool_snapshot(&w.sp, at, 1,
			                      1 + fx_rng_below(&r, 6 * CHUNK),
			                      at * 31 + 1, &meta, w.em) != 0)
				fail_msg("snapshot: %s", w.em);
			sim_model_snapshot(&w.sim, at, 1, meta.id.size,
			                   meta.id.crc32c);
			if (what == 7 && fx_rng_chance(&r, 300))
				fx_spool_compact(&w.sp, at > 600 ? at - 600 : 1,
				                 w.em);
			sim_source_touch(w.sim.sources[0]);
		} else if (what == 8) {
			if (sim_restart_mirror(&w.sim, w.em) != 0)
				fail_msg("restart: %s", w.em);
		}
	}
	if (w.sim.violation[0] == '\0') {
		w.sim.link.drop_pm = w.sim.link.dup_pm = w.sim.link.swap_pm = 0;
		w.sim.link.stream_cut_pm = w.sim.link.conn_cut_pm = 0;
		append(&w, 10);
		last = fx_spool_last_index(&w.sp);
		ok = sim_run(&w.sim, sim_following_at, &last, 120000);
		sim_run(&w.sim, never, NULL, 3000);
	}
	if (w.sim.violation[0] != '\0') {
		fprintf(stderr, "# seed %" PRIu64 ": invariant: %s\n", seed,
		        w.sim.violation);
		ok = false;
	} else if (!ok) {
		fprintf(stderr,
		        "# seed %" PRIu64 ": not Following at the end: %s, "
		        "log index %" PRIu64 ", refresh: %s\n",
		        seed, mirror_state_name(sim_state(&w.sim)),
		        sim_log_index(&w.sim), refresh(&w)->last_error);
	}
	*inst += refresh(&w)->installed;
	world_free(&w);
	return ok;
}

/* MA_SIM_SEED=N replays schedule N; MA_SIM_SCHEDULES (default 40) and
 * MA_SIM_FIRST (default 1) choose the range. */
static void test_refresh_randomized(void **state)
{
	const char *one = getenv("MA_SIM_SEED");
	uint64_t first = 1, n = 40, failed = 0, inst = 0;

	(void)state;
	if (one != NULL && one[0] != '\0') {
		first = strtoull(one, NULL, 10);
		n = 1;
	} else {
		if (getenv("MA_SIM_SCHEDULES") != NULL)
			n = strtoull(getenv("MA_SIM_SCHEDULES"), NULL, 10);
		if (getenv("MA_SIM_FIRST") != NULL)
			first = strtoull(getenv("MA_SIM_FIRST"), NULL, 10);
	}
	for (uint64_t s = first; s < first + n; s++)
		if (!schedule(s, &inst))
			failed++;
	fprintf(stderr,
	        "# randomized refresh: %" PRIu64 " schedules from seed %" PRIu64
	        ", %" PRIu64 " failed, %" PRIu64 " snapshots installed\n",
	        n, first, failed, inst);
	assert_true(failed == 0);
	/* The schedules do reach the refresh (not a check that cannot
	 * fail: a refresh that never fetches installs nothing). */
	assert_true(n < 10 || inst >= n / 4);
}

/* The pure rules. */
static void test_refresh_rules(void **state)
{
	(void)state;
	assert_true(follow_refresh_due(1000, true, 1000, 0, 1000));
	assert_false(follow_refresh_due(1000, true, 999, 0, 5000));
	assert_false(follow_refresh_due(1000, false, 5000, 0, 5000));
	assert_false(follow_refresh_due(0, true, 5000, 0, 5000));
	assert_false(follow_refresh_due(1000, true, 5000, 0, 4999));
	assert_true(follow_refresh_due(1000, true, 3000, 2000, 3000));
	assert_true(follow_refresh_allowed_at(0, 77, 1 << 30) == 77);
	assert_true(follow_refresh_allowed_at(1000, 100, 1000) == 1100);
	assert_true(follow_refresh_allowed_at(3000, 0, 1) == 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refresh_rules),
	    cmocka_unit_test(test_refresh_fetch_paced),
	    cmocka_unit_test(test_refresh_resume),
	    cmocka_unit_test(test_refresh_zstd),
	    cmocka_unit_test(test_refresh_backoff),
	    cmocka_unit_test(test_refresh_only_none),
	    cmocka_unit_test(test_refresh_randomized),
	};

	/* The cores log every step: only errors, unless asked. */
	if (getenv("MA_SIM_VERBOSE") == NULL)
		log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
