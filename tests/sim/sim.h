/* The deterministic simulation harness (tests/sim/): the mirror's
 * sans-I/O core (agent/follow/follow_core.h) and one or more simulated
 * sources (sim_source.h, built from serve's cores over real spools in
 * scratch directories) wired through a simulated link, under a fake
 * clock. Every random choice comes from one seeded PRNG, so a seed
 * replays exactly; a failing test prints it (rerun with MA_SIM_SEED).
 *
 * The link carries one connection at a time, to the source the core's
 * endpoint index names. Per stream it keeps order, delays every byte run
 * (latency + jitter), splits bodies into runs of random size, and may
 * (per mille, per frame) drop, duplicate or swap frames, cut a stream or
 * the whole connection. Events run in (time, sequence) order from a heap.
 *
 * After every event the harness checks the invariants it is asked to:
 *   - prefix: every entry of the mirror's wal equals the model's entry at
 *     that index (the source's log: term ranges + the fixture payload);
 *   - snapshots: every .snapshot in the mirror's store has the size and
 *     CRC32C of the source's snapshot with that index and term;
 *   - applied: the core's applied_index, the applier's applied index and
 *     the wal's durable index never go backwards (across restarts too).
 * The first violation is kept in sim->violation and stops the run. */
#ifndef MIRROR_TESTS_SIM_SIM_H
#define MIRROR_TESTS_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "agent/follow/follow_core.h"
#include "tests/lib/fixture.h"
#include "tests/sim/sim_source.h"

#define SIM_SOURCES_MAX 3
#define SIM_DBS_MAX 3 /* databases of the mirror (cores), first = core */
#define SIM_TERM_RANGES_MAX 16
#define SIM_SNAPSHOTS_MAX 32
#define SIM_ENTRY_SIZE 64
#define SIM_PATHS_KEPT 64

struct sim_link_config {
	uint32_t latency_min_ms, latency_max_ms;
	uint32_t connect_ms;
	size_t run_max;    /* largest byte run delivered at once */
	size_t pull_bytes; /* body bytes taken from a source per pump */
	uint32_t pump_ms;  /* source pump / log poll interval */
	uint32_t heartbeat_ms;
	unsigned drop_pm, dup_pm, swap_pm;   /* per frame */
	unsigned stream_cut_pm, conn_cut_pm; /* per delivered run */
};

/* The model of the sources' history the invariants compare with. */
struct sim_model {
	struct {
		uint64_t first_index, term;
	} terms[SIM_TERM_RANGES_MAX];
	size_t nterms;
	struct {
		uint64_t index, term, size;
		uint32_t crc32c;
	} snaps[SIM_SNAPSHOTS_MAX];
	size_t nsnaps;
};

struct sim_event;

struct sim_stats {
	uint64_t steps;
	uint64_t connects; /* connection attempts */
	uint64_t opens;    /* requests opened */
	uint64_t snapshot_requests;
	uint64_t snapshot_bytes; /* snapshot body bytes sent */
	uint64_t last_snapshot_offset;
	uint64_t drops, dups, swaps, stream_cuts, conn_cuts;
	uint64_t max_backoff_ms, min_backoff_ms;
	uint64_t frames_delivered; /* on snapshot streams */
	uint64_t cuts_done;        /* connection cuts that happened */
	uint64_t endpoint_moves;   /* connections moved on for a 403 */
	uint64_t switches;         /* moves to a fresher endpoint */
	uint64_t probes;           /* probes of other endpoints */
	/* per database (index as in sim->cores) */
	uint64_t db_opens[SIM_DBS_MAX];
	uint64_t db_snapshot_requests[SIM_DBS_MAX];
	uint64_t db_snapshot_bytes[SIM_DBS_MAX];
};

struct sim {
	uint64_t seed;
	struct fx_rng rng;
	uint64_t now;
	int64_t wall_base;
	struct sim_link_config link;
	struct follow_core_config core_cfg;
	char mirror_dir[PATH_MAX];
	struct follow_core *core; /* == cores[0]: the database checked */
	/* More databases over the same connection (sim_add_database): each
	 * its own core; their requests go to db_sources[db][endpoint] when
	 * set, else to the endpoint's source (which answers 404 for a
	 * database it does not serve). Only cores[0] is checked against
	 * the model. */
	struct follow_core *cores[SIM_DBS_MAX];
	struct follow_core_config db_cfg[SIM_DBS_MAX];
	char db_name[SIM_DBS_MAX][80];
	char db_dir[SIM_DBS_MAX][PATH_MAX];
	struct sim_source *db_sources[SIM_DBS_MAX][SIM_SOURCES_MAX];
	size_t ndbs;
	struct sim_source *sources[SIM_SOURCES_MAX];
	bool source_down[SIM_SOURCES_MAX];
	size_t nsources;
	struct sim_model model;

	/* connection */
	bool connecting, connected;
	size_t conn_source;
	uint64_t gen;     /* bumped when the connection or the core goes */
	bool work_queued; /* an EV_WORK is pending (follow_core_busy) */
	struct sim_stream *streams;
	bool reconnect_scheduled;

	/* events */
	struct sim_event **heap;
	size_t nheap, capheap;
	uint64_t seq;
	bool tick_scheduled;

	/* invariants */
	bool check_prefix, check_snapshots, check_applied;
	uint64_t checked_index;
	uint64_t max_applied, max_durable, max_applier;
	bool snap_dir_seen;
	ino_t snap_dir_ino;
	struct timespec snap_dir_mtime;
	char violation[1024];

	/* a snapshot stream is cut after this many delivered frames
	 * (UINT64_MAX: never); reset by the cut */
	uint64_t cut_snapshot_after;
	uint64_t snapshot_frames;
	struct sim_stats stats;
	/* Probes of the endpoints not followed, as follow.c sends them:
	 * every probe_interval_ms (0: none) one endpoint other than the
	 * connected one is asked for every database's info (answered at
	 * once: the probe's own latency is not what is tested). */
	uint32_t probe_interval_ms;
	uint64_t next_probe_at;
	size_t probe_next;
	char last_switch[256]; /* reason of the last move */
	/* the paths the core opened, the last SIM_PATHS_KEPT of them */
	char paths[SIM_PATHS_KEPT][256];
	uint64_t npaths;
	/* The disk of the mirror's wal (follow_core_config.wal_clock_us),
	 * set before sim_start: with disk_sync_us > 0 every fdatasync takes
	 * that long on the simulated clock (the core is blocked for it, as
	 * follow.c's loop is: sim->now moves on) and the wal measures it;
	 * 0: syncs take no simulated time and are not measured. The wal's
	 * group commit deadline is kept armed (EV_SYNC, follow.c's sync
	 * timer). */
	uint64_t disk_sync_us;
	uint64_t clock_us; /* the disk's clock: >= now * 1000 */
	uint64_t disk_reads;
	uint64_t sync_at[SIM_DBS_MAX]; /* EV_SYNC pending for this time */
};

/* Defaults: a clean link (1..5 ms, no faults), 100 ms ticks, 20 ms pumps,
 * 200 ms heartbeats; backoff 50 ms .. 2 s; mirror in dir (created by the
 * core), database `name`, receiver fsync and progress every chunk_size. */
void sim_init(struct sim *sim, uint64_t seed, const char *mirror_dir,
              const char *name, size_t chunk_size);
/* Opens the core (follow_core_new). 0 or its error. */
int sim_start(struct sim *sim, char *errmsg);
/* Frees everything the harness opened (not the sources' spools). */
void sim_free(struct sim *sim);

/* Adds a source (owned by the harness from then on); returns its
 * endpoint index. */
size_t sim_add_source(struct sim *sim, struct sim_source *src);
/* Adds a database of the mirror (before sim_start): `name` in its own
 * directory, the same settings as the first. Returns its index (>= 1). */
size_t sim_add_database(struct sim *sim, const char *name, const char *dir);
/* Serves database db (>= 1) at endpoint i from src (owned by the harness
 * from then on) instead of the endpoint's source. */
void sim_add_database_source(struct sim *sim, size_t db, size_t i,
                             struct sim_source *src);
/* Takes a source down (its connection is cut; connects to it fail) or
 * back up. */
void sim_source_down(struct sim *sim, size_t i, bool down);
/* Cuts the connection now (the core learns it as a disconnect). */
void sim_cut_connection(struct sim *sim, const char *why);
/* A crash and restart of the mirror: the core is freed without warning
 * (connection gone) and opened again over the same directory. */
int sim_restart_mirror(struct sim *sim, char *errmsg);

/* Runs events until done(sim, arg) holds (checked after every event),
 * max_ms of simulated time pass, a violation is found or nothing is left
 * to run. Returns true when done() held. */
bool sim_run(struct sim *sim, bool (*done)(struct sim *, void *), void *arg,
             uint64_t max_ms);

/* ---- the model ---- */

/* Entries from first_index on have term (ranges in increasing order; a
 * new range replaces everything from its first index). */
void sim_model_terms(struct sim *sim, uint64_t first_index, uint64_t term);
uint64_t sim_model_term(const struct sim *sim, uint64_t index);
void sim_model_snapshot(struct sim *sim, uint64_t index, uint64_t term,
                        uint64_t size, uint32_t crc32c);

/* Runs the invariant checks now; false with sim->violation set. */
bool sim_check(struct sim *sim);

/* ---- predicates and figures ---- */

enum mirror_state sim_state(const struct sim *sim);
/* The n-th path the core opened (from 0); "" when not kept. */
const char *sim_path(const struct sim *sim, uint64_t n);
uint64_t sim_log_index(const struct sim *sim);
/* Following (or Degraded) with the wal's durable end at index. */
bool sim_following_at(struct sim *sim, void *index_ptr);
/* The mirror's snapshot file (index, term): size and CRC32C; false when
 * absent. */
bool sim_mirror_snapshot(const struct sim *sim, uint64_t index, uint64_t term,
                         uint64_t *size, uint32_t *crc32c);
/* Number of .snapshot files in the mirror's store. */
size_t sim_mirror_snapshot_count(const struct sim *sim);

#endif
