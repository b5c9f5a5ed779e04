/* Mirror checkpoints (issue 10 item 1): a mirror whose applier can write
 * its state (kv) stores that state as a snapshot of its own, in its own
 * snapshot store and in the source's snapshot format, then trims its wal
 * behind it. Disk and restart time then stay bounded: a restart restores
 * the newest checkpoint and replays only the wal after it
 * (follow_apply_restore), and the directory can still be served
 * (cascading) or seed a cluster, since it is a spool like any other.
 *
 * Not stopping the tail: the state is written by a forked child on a
 * copy-on-write view of the process (as Redis's BGSAVE), so the event
 * loop pays for fork() only (page tables; bench/bench_checkpoint measures
 * it). The child serialises, writes and fsyncs a temp file in
 * <dir>/recv/ and reports size and CRC32C through a pipe; the parent
 * polls that pipe on its timer and commits the file into the store
 * (metadata, rename, fsync) before it trims anything, so a crash at any
 * point leaves either the old checkpoint with its wal or the new one.
 *
 * The rules (when one is due, where the wal may be cut) are pure
 * functions, tested on their own (tests/unit/test_follow_checkpoint.c).
 * Not thread-safe; one per database, driven by follow_core's tick. */
#ifndef MIRROR_AGENT_FOLLOW_CHECKPOINT_H
#define MIRROR_AGENT_FOLLOW_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct applier;
struct snapshot_store;
struct wal_log;

/* [follow] checkpoint_* keys (agent/config/config_schema.c). A checkpoint
 * is due when any enabled condition holds and the applied index moved
 * since the last one; all three 0 turns checkpoints off. */
struct follow_checkpoint_config {
	uint64_t every_entries; /* entries applied since the last one */
	uint64_t every_bytes;   /* payload bytes applied since the last one */
	uint64_t every_ms;      /* time since the last one */
	/* Entries kept in the wal before the newest checkpoint (a downstream
	 * mirror a little behind still finds them). */
	uint64_t wal_keep_entries;
	/* Local snapshots kept (newest first); 0: 2. */
	uint32_t keep_snapshots;
	/* The budget of downstream reservations ([follow] reserve_max_*):
	 * 0 max_age: the FOLLOW_CHECKPOINT_RESERVE_* defaults. Published in
	 * <dir>.reservations/budget at the first tick when `trims` (set by
	 * follow_core: kv checkpoints or a none mirror's refresh are on, so
	 * the wal is trimmed), so serve on this directory reports the
	 * headroom of the mirrors it serves (cascade). */
	uint64_t reserve_max_bytes, reserve_max_age_ms;
	bool trims;
	/* Tests and the simulation: write in the calling process (no
	 * fork), so a run is deterministic and finishes in one tick. */
	bool inline_write;
};

/* The budget of downstream reservations in a mirror's directory: the
 * tap's defaults (tap_options_init). */
#define FOLLOW_CHECKPOINT_RESERVE_MAX_BYTES (1024ull * 1024 * 1024)
#define FOLLOW_CHECKPOINT_RESERVE_MAX_AGE_MS (24ull * 3600 * 1000)

/* No reservation: the hook value of follow_checkpoint.reserved_index. */
#define FOLLOW_CHECKPOINT_NO_RESERVATION UINT64_MAX

/* When a checkpoint is due: applied index, bytes and time now against
 * those at the last checkpoint (or at start). */
bool follow_checkpoint_due(const struct follow_checkpoint_config *cfg,
                           uint64_t last_index, uint64_t last_bytes,
                           uint64_t last_ms, uint64_t applied, uint64_t bytes,
                           uint64_t now);
/* The first index the wal must keep once a checkpoint at ckpt_index is
 * durable: keep entries before it, but never above what a downstream
 * mirror reserved (reserved: the first index it still needs, or
 * FOLLOW_CHECKPOINT_NO_RESERVATION). Never above ckpt_index + 1, never
 * below 1. */
uint64_t follow_checkpoint_trim_point(uint64_t ckpt_index,
                                      uint64_t keep_entries, uint64_t reserved);

struct follow_checkpoint {
	struct follow_checkpoint_config cfg;
	const char *name; /* database id (kept alive by the caller) */
	char tmp_dir[4096];
	char tmp_name[128];
	/* Where the cadence counts from: the last checkpoint (or the
	 * snapshot the mirror restored or received). */
	uint64_t last_index, last_bytes, last_ms;
	/* A first index the trim must never pass, set by the caller; no
	 * caller sets one today (FOLLOW_CHECKPOINT_NO_RESERVATION): the
	 * downstream mirrors' reservations are read from beside dir, where
	 * `serve` records them (cascade: dir served to further mirrors,
	 * spool/spool.h), within the tap's default budget
	 * (FOLLOW_CHECKPOINT_RESERVE_*). */
	uint64_t reserved_index;
	const char *dir; /* the database directory (kept alive by the caller) */
	/* The checkpoint in flight (pid > 0, or inline result pending). */
	pid_t pid;
	int pipe_fd;
	uint64_t index, term, started_ms;
	/* Figures for logs, tests and the bench. */
	uint64_t taken;            /* committed checkpoints */
	uint64_t failed;           /* attempts that failed */
	uint64_t last_stall_us;    /* caller's time in the last start */
	uint64_t longest_stall_us; /* the longest of those */
	uint64_t last_size;        /* bytes of the last checkpoint */
	uint64_t last_first_index; /* wal first index after the last trim */
	bool budget_published;
};

/* What a tick works on (the core's own objects). */
struct follow_checkpoint_env {
	struct applier *applier;
	struct wal_log *wal;
	struct snapshot_store *store;
	const char *cluster_id; /* the source identity's UUID text */
	uint64_t applied_bytes; /* follow_apply.applied_bytes */
};

/* Prepares ck for database `name` in directory dir (the temp file goes to
 * dir/recv/) and removes a temp file left by a crash. The cadence starts
 * at (base_index, base_bytes, now). 0 or MA_ERR_INVAL (path too long). */
int follow_checkpoint_init(struct follow_checkpoint *ck,
                           const struct follow_checkpoint_config *cfg,
                           const char *name, const char *dir,
                           uint64_t base_index, uint64_t base_bytes,
                           uint64_t now, char *errmsg);
/* The cadence starts again at a snapshot received from the source. */
void follow_checkpoint_rebase(struct follow_checkpoint *ck, uint64_t index,
                              uint64_t bytes, uint64_t now);
/* Collects a finished checkpoint (commit into the store, retention of
 * the newest keep_snapshots, wal trim) or starts one when due. The first
 * call publishes the reservation budget beside dir when cfg.trims (a
 * failure is logged: serve on dir then reports no headroom). Returns 0
 * (a failed attempt is logged, counted and retried at the next due
 * time), or a code a retry cannot fix: MA_ERR_IO, MA_ERR_NOSPACE,
 * MA_ERR_FAILED from the wal trim (the caller fails the database). */
int follow_checkpoint_tick(struct follow_checkpoint *ck,
                           const struct follow_checkpoint_env *env,
                           uint64_t now, char *errmsg);
/* After a snapshot at index became durable in store (a checkpoint, or
 * one fetched from the source: follow_refresh.h): keeps the newest
 * keep_snapshots and trims the wal behind index, keeping wal_keep_entries
 * before it, the downstream reservations (within the budget) and never
 * past the wal's durable end. 0, or MA_ERR_IO / MA_ERR_NOSPACE /
 * MA_ERR_FAILED from the wal trim (the caller fails the database). */
int follow_checkpoint_trim(struct follow_checkpoint *ck,
                           struct snapshot_store *store, struct wal_log *wal,
                           uint64_t index, char *errmsg);
/* True while a checkpoint is being written. */
bool follow_checkpoint_busy(const struct follow_checkpoint *ck);
/* Stops a checkpoint in flight (kills and reaps the child it started,
 * removes the temp file). */
void follow_checkpoint_close(struct follow_checkpoint *ck);

#endif
