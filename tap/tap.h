/* tap: what a source Raft node links to write its COMMITTED entries and
 * its snapshots into a spool directory (spool/spool.h layout: identity,
 * snapshots/, wal/), which `mirror-agent serve` streams to mirrors.
 * docs/TAP.md explains the rules; this header is the contract.
 *
 * The tap hooks the state machine's apply path, because only that path
 * sees exactly the committed sequence (a Raft node's own log may still
 * hold entries that will be truncated). Every node of a cluster writes the
 * same spool content for the same indexes, so any node can feed a mirror.
 *
 * Rules in brief:
 *  - Idempotent by index. An entry the spool already holds is verified
 *    (same term, same type, same CRC32C of data) and skipped; a difference
 *    is MA_ERR_DIVERGED, never an overwrite. Entries below the wal's first
 *    retained index (compacted, or covered by the snapshot a rebase
 *    started from) are skipped unverified.
 *  - Gaps. The wal needs contiguous indexes. When `index` is beyond the
 *    wal's last index + 1, the skipped indexes are filled with filler
 *    entries of type WAL_ENTRY_BARRIER, empty data and the term of the
 *    entry being appended. The tap trusts its caller that the skipped
 *    indexes held no command (Raft barrier and configuration entries never
 *    reach the FSM's apply). Readers of a spool (the mirror's applier) act
 *    on WAL_ENTRY_COMMAND entries only. The libraft wrapper avoids fillers
 *    by copying the skipped entries, with their real type and data, from
 *    libraft's in-memory log.
 *  - Snapshots taken locally are added to the spool's store, then
 *    retention runs; a snapshot installed from the leader rebases the
 *    spool (snapshot, then the wal restarts at index + 1).
 *
 * The core owns no clock: calls that depend on time take `now_ms` (any
 * monotonic millisecond clock, for group commit) and snapshot calls take
 * `created_ms` (Unix time in milliseconds, stored in the snapshot
 * metadata).
 *
 * Errors: functions return 0 or a negative code from common/errors.h
 * (ma_strerror()) and fill errmsg (MA_ERRMSG_SIZE bytes, may be NULL).
 * After an I/O error on the wal the tap is fail-stopped (MA_ERR_FAILED for
 * every later call): close it and reopen after fixing the cause.
 *
 * One process writes a spool at a time (the wal holds an exclusive lock).
 * Not thread-safe: call from one thread (a libraft node's loop thread). */
#ifndef MIRROR_TAP_TAP_H
#define MIRROR_TAP_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tap; /* opaque */

/* Entry types (the values of enum wal_entry_type in wal/wal.h). */
#define TAP_ENTRY_COMMAND 1
#define TAP_ENTRY_BARRIER 2
#define TAP_ENTRY_CONFIG 3

struct tap_options {
	/* Group commit (see struct wal_options): the wal is fdatasynced after
	 * an append when sync_every_append is set, or sync_bytes bytes are
	 * unsynced, or the oldest unsynced append is sync_interval_ms old.
	 * With the byte or interval policy the caller also calls
	 * tap_sync_if_due() from a timer (tap_sync_deadline() says when).
	 * Default: sync every append. */
	bool sync_every_append;
	uint64_t sync_bytes;
	uint64_t sync_interval_ms;
	/* Wal segment size (0: the wal default, 64 MiB). */
	uint64_t segment_size;
	/* Snapshots kept in the spool after a new one (default 2, >= 1). */
	unsigned snapshots_keep;
	/* Entries kept in the wal before the oldest retained snapshot, so
	 * mirrors slightly behind it can still tail (default 1024). */
	uint64_t trailing;
	/* Retention reservations (docs/TAP.md "Reservations"): serve records
	 * each mirror's durable index in <spool_dir>.reservations/, and
	 * retention keeps the wal from the oldest reservation on, unless
	 * that reservation is older than reserve_max_age_ms (Unix time of
	 * the snapshot call against the one serve wrote) or would keep more
	 * than reserve_max_bytes of segments retention would otherwise
	 * delete: such a reservation is dropped (its file removed, a log
	 * line written) and its mirror will re-bootstrap. Defaults 1 GiB and
	 * 24 h; reserve_max_bytes 0 honours no reservation. */
	uint64_t reserve_max_bytes;
	uint64_t reserve_max_age_ms;
};

/* Sets the defaults described above. */
void tap_options_init(struct tap_options *opts);

/* Opens the spool in spool_dir (created if needed) for the database
 * (cluster_uuid: "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", database_id:
 * [A-Za-z0-9._-]{1,64}). A new spool gets an identity with epoch 1; an
 * existing identity must name the same cluster and database (any epoch).
 * opts NULL means defaults. Returns 0 or:
 *  MA_ERR_INVAL    bad ids or options;
 *  MA_ERR_IDENTITY the spool belongs to another cluster/database;
 *  MA_ERR_BUSY     another process writes this spool;
 *  MA_ERR_CORRUPT  identity or wal damaged (errmsg names the file);
 *  MA_ERR_IO, MA_ERR_NOSPACE, MA_ERR_NOMEM. */
int tap_open(const char *spool_dir, const char *cluster_uuid,
             const char *database_id, const struct tap_options *opts,
             struct tap **out, char *errmsg);
/* Syncs the wal (errors are logged) and frees the tap. NULL is fine. */
void tap_close(struct tap *tap);

/* Taps one committed entry (type TAP_ENTRY_*; data may be NULL when len
 * is 0). See the rules at the top: an index the wal holds is verified and
 * skipped, an index below the wal's first retained index is skipped, a
 * gap is filled with barrier fillers. Syncs per the group-commit policy.
 * Returns 0 or:
 *  MA_ERR_DIVERGED the spool holds another entry at index (errmsg gives
 *                  the index and both terms, types and CRC32Cs);
 *  MA_ERR_INVAL    index 0, a term lower than the wal's last term,
 *                  a filler term below the preceding entry's;
 *  MA_ERR_LIMIT    data larger than the wal's entry limit;
 *  MA_ERR_FAILED, MA_ERR_IO, MA_ERR_NOSPACE, MA_ERR_NOMEM (fail-stop). */
int tap_append(struct tap *tap, uint64_t index, uint64_t term, uint8_t type,
               const void *data, size_t len, uint64_t now_ms, char *errmsg);

/* fdatasyncs every appended entry. 0, MA_ERR_FAILED, MA_ERR_IO,
 * MA_ERR_NOSPACE. */
int tap_sync(struct tap *tap, char *errmsg);
/* Syncs when the group-commit policy says so at now_ms (for a timer);
 * 0 when nothing was due. Errors as tap_sync. */
int tap_sync_if_due(struct tap *tap, uint64_t now_ms, char *errmsg);
/* The now_ms at which an interval sync becomes due, or UINT64_MAX. */
uint64_t tap_sync_deadline(const struct tap *tap);

/* A snapshot the node took locally, covering every entry up to index
 * (whose term is term). The content is data[0..len) (tap_snapshot_taken)
 * or a copy of the file at path (tap_snapshot_taken_file). The wal is
 * synced first, the snapshot written to the store (an identical snapshot
 * already there is fine), then retention runs: all but the
 * snapshots_keep newest unpinned snapshots are deleted and wal segments
 * wholly before (oldest retained snapshot index + 1 - trailing) are
 * removed, but never the segment holding the oldest honoured
 * reservation (above). A snapshot beyond the wal's last index + 1 leaves a hole
 * in the log the snapshot covers; it is accepted (mirrors bootstrap from it)
 * and the wal is reset to index + 1 as in tap_snapshot_installed. Returns 0 or
 * MA_ERR_INVAL (index 0), MA_ERR_EXISTS (a different snapshot with the same
 * index and term is stored), MA_ERR_DIVERGED (the wal holds index with another
 * term), MA_ERR_NOTFOUND (path), MA_ERR_FAILED, MA_ERR_IO, MA_ERR_NOSPACE,
 * MA_ERR_NOMEM. */
int tap_snapshot_taken(struct tap *tap, uint64_t index, uint64_t term,
                       const void *data, size_t len, uint64_t created_ms,
                       char *errmsg);
int tap_snapshot_taken_file(struct tap *tap, uint64_t index, uint64_t term,
                            const char *path, uint64_t created_ms,
                            char *errmsg);

/* A snapshot installed from the leader (libraft's restore): the spool
 * starts a new base. The snapshot is written first, then the wal is reset
 * to start at index + 1 (dropping entries at or below index and any stale
 * ones after it; readers following the wal see MA_ERR_DIVERGED and
 * re-bootstrap from the snapshot). Returns as tap_snapshot_taken, without
 * MA_ERR_DIVERGED. */
int tap_snapshot_installed(struct tap *tap, uint64_t index, uint64_t term,
                           const void *data, size_t len, uint64_t created_ms,
                           char *errmsg);

/* What the spool holds. first/last follow the wal's conventions (0, 0
 * for a wal that never held an entry). */
uint64_t tap_first_index(const struct tap *tap);
uint64_t tap_last_index(const struct tap *tap);
uint64_t tap_durable_index(const struct tap *tap);
/* Term of the entry at index in the wal. 0, MA_ERR_COMPACTED,
 * MA_ERR_NOTFOUND, MA_ERR_IO, MA_ERR_CORRUPT. */
int tap_term_at(struct tap *tap, uint64_t index, uint64_t *term, char *errmsg);
/* Latest snapshot in the spool: 0 with *index and *term set, or
 * MA_ERR_NOTFOUND, MA_ERR_IO, MA_ERR_NOMEM. */
int tap_latest_snapshot(struct tap *tap, uint64_t *index, uint64_t *term,
                        char *errmsg);

/* Counters since tap_open, for logs and tests. */
struct tap_stats {
	uint64_t appended; /* entries written (fillers included) */
	uint64_t fillers;  /* barrier fillers written for gaps */
	uint64_t verified; /* re-applied entries found identical */
	uint64_t skipped;  /* entries below the wal's first index */
	uint64_t snapshots;
	uint64_t rebases; /* wal resets (installed snapshots) */
};
void tap_get_stats(const struct tap *tap, struct tap_stats *stats);

/* What the node knows about its cluster (docs/TAP.md "Freshness"), for
 * serve to tell mirrors which node is fresh. */
struct tap_freshness {
	bool leader_known; /* a leader is known now (itself included) */
	bool is_leader;    /* this node leads (then leader_known) */
	/* Wall clock (ms since the epoch) of the last contact with a
	 * leader; the leader itself: the last time it knew it had a quorum.
	 * 0: never. */
	int64_t leader_contact_ms;
	uint64_t commit_index; /* the node's Raft commit index */
};
/* Records fr in the spool's freshness record (spool/spool.h), replaced
 * atomically but not fsynced: at once when leader_known or is_leader
 * changed (and the first time), else at most every
 * SPOOL_FRESHNESS_INTERVAL_MS of now_ms (monotonic) and only when
 * something changed. wall_ms is the wall clock, stored as the time of the
 * write. Cheap to call often (every few ms). Not fail-stop: a hint that
 * could not be written is retried at the next call. 0, MA_ERR_INVAL,
 * MA_ERR_IO, MA_ERR_NOSPACE. */
int tap_freshness_note(struct tap *tap, const struct tap_freshness *fr,
                       uint64_t now_ms, int64_t wall_ms, char *errmsg);

/* ------------------------------------------------------------------------
 * canonical/raft (libraft 0.15) wrapper, tap/tap_raft.c. Include
 * <raft.h> before this header to get the declarations. */
#ifdef RAFT_API

/* Wraps the application's FSM `inner` (version 1 or 2; version 3 with
 * snapshot_async is refused) into *out, which the application passes to
 * raft_init() instead of inner:
 *  - apply taps the entry (index and term read from r, see docs/TAP.md),
 *    then calls inner->apply; a tap error fails the apply (libraft stops
 *    applying there and retries later) so the spool never silently misses
 *    a committed command;
 *  - snapshot calls inner->snapshot, then writes the spool snapshot
 *    (a spool error is logged, the libraft snapshot goes ahead);
 *  - restore of a snapshot installed from the leader rebases the spool,
 *    then calls inner->restore; the restore libraft does inside
 *    raft_start() (its own last snapshot) is checked against the spool
 *    by tap_raft_started().
 * Entry payloads: libraft 0.15 silently mis-encodes a payload whose length
 * is not a multiple of 8 (only an assert guards it), so the application
 * must pad payloads (tap_raft_pad_len) and its FSM must ignore padding.
 * r is the raft instance the FSM will be used with (raft_init may run
 * later); inner and tap must outlive the wrapper. The wrapper never
 * closes tap. Returns 0, MA_ERR_INVAL (NULL argument, FSM version 3),
 * MA_ERR_NOMEM. */
int tap_raft_fsm_wrap(struct raft_fsm *inner, struct raft *r, struct tap *tap,
                      struct raft_fsm *out);
/* Frees what tap_raft_fsm_wrap allocated (after raft_close completed). */
void tap_raft_fsm_unwrap(struct raft_fsm *out);
/* Call once right after raft_start() returned 0: if libraft restored a
 * snapshot the spool does not reach (say the spool was lost, or unsynced
 * spool entries were lost in a crash and libraft compacted its log), the
 * spool is rebased from that snapshot; otherwise the spool is caught up
 * from libraft's in-memory log. Also done lazily at the first apply.
 * 0 or an error as tap_snapshot_installed. */
int tap_raft_started(struct raft_fsm *out, char *errmsg);
/* Records what the node knows about its cluster (tap_freshness_note),
 * read from r: whether a leader is known (raft_leader()), whether it is
 * this node (r->state), when the node last heard from it and the node's
 * commit index. Call from a timer of the node's loop (every 5-100 ms;
 * writes are rate-limited): a node cut off from its cluster applies
 * nothing, so the apply path alone would never say it went stale. 0 or
 * an error as tap_freshness_note (logged by the caller; not fatal). */
int tap_raft_freshness(struct raft_fsm *out, char *errmsg);
/* Smallest multiple of 8 >= len: the payload length to hand to
 * raft_apply (see above). */
size_t tap_raft_pad_len(size_t len);

#endif /* RAFT_API */

#endif
