/* wal: the segmented log of committed Raft entries (spool and mirror).
 *
 * A log is a directory of segment files (docs/FORMAT.md has the bytes).
 * One process writes it (struct wal_log, holding an exclusive lock on
 * DIR/wal.lock); any number of readers, in the same or other processes,
 * follow it (struct wal_reader) without locking.
 *
 * The core owns no clock: every call that depends on time takes `now_ms`
 * from the caller (any monotonic millisecond clock), so group commit is
 * deterministic under test.
 *
 * Errors: functions return 0 or a negative code from common/errors.h and
 * fill `errmsg` (MA_ERRMSG_SIZE bytes, may be NULL) with what happened,
 * which file and byte offset, and what to do.
 *
 * Index conventions: entry indexes start at 1; index 0 is never an entry.
 * An empty log reports first_index = next index the log accepts and
 * last_index = first_index - 1; a log that has never held anything (no
 * segment file) reports 0 for both and accepts any first index >= 1.
 */
#ifndef MIRROR_WAL_WAL_H
#define MIRROR_WAL_WAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest database id: [A-Za-z0-9._-]{1,64}. */
#define WAL_DATABASE_ID_MAX 64
/* Largest entry payload the format allows (the writer's option may be
 * lower). */
#define WAL_ENTRY_SIZE_MAX (64u << 20)
/* Polling interval readers should use when wal_reader_watch_fd() gives no
 * inotify descriptor. */
#define WAL_READER_POLL_MS 50

/* Which database a log belongs to; stored in every segment header. */
struct wal_identity {
	uint8_t cluster_id[16]; /* UUID, binary */
	char database_id[WAL_DATABASE_ID_MAX + 1];
};

/* Fills *id from a UUID string "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
 * (hex, either case) and a database id of 1..64 chars [A-Za-z0-9._-].
 * Returns 0 or MA_ERR_INVAL. */
int wal_identity_init(struct wal_identity *id, const char *cluster_uuid,
                      const char *database_id, char *errmsg);
/* Writes the lower-case UUID text (36 chars + NUL) of id into out. */
void wal_identity_format_uuid(const struct wal_identity *id, char out[37]);
/* True when a and b name the same database. */
bool wal_identity_equal(const struct wal_identity *a,
                        const struct wal_identity *b);

/* Entry types are opaque to the log; these are the values the agent uses. */
enum wal_entry_type {
	WAL_ENTRY_COMMAND = 1,
	WAL_ENTRY_BARRIER = 2,
	WAL_ENTRY_CONFIG = 3,
};

/* One log entry. On append the log copies data; entries handed out by
 * reads point into a buffer owned by the log or reader (see each call). */
struct wal_entry {
	uint64_t index;
	uint64_t term;
	uint8_t type;
	const void *data;
	size_t len;
};

struct wal_options {
	struct wal_identity identity; /* required */
	/* A segment is sealed and a new one started before an append that
	 * finds the current one at least this large. Default 64 MiB; allowed
	 * 4 KiB .. 1 GiB. */
	uint64_t segment_size;
	/* Largest payload accepted by append (default and maximum
	 * WAL_ENTRY_SIZE_MAX). */
	uint32_t max_entry_size;
	/* Group commit. After writing a batch, wal_log_append() fsyncs when
	 * any enabled condition holds:
	 *  - sync_every_append: always (one fdatasync per batch);
	 *  - sync_bytes > 0: at least this many bytes written since the last
	 *    sync;
	 *  - sync_interval_ms > 0: the oldest unsynced append was made at
	 *    least this long before now_ms.
	 *  - sync_budget_pct > 0 (commit on arrival when the disk keeps
	 *    up): the last fdatasync ended at least
	 *      gap = max(sync_gap_min_us, s * (100 - pct) / pct)
	 *    before now_ms, s being the moving average of the measured
	 *    fdatasync durations (wal_log_sync_time_us). A batch after a quiet
	 *    spell is synced on arrival; on a steady stream the log spends at
	 *    most about pct % of the time in fdatasync (25: waits 3 times
	 *    the sync time between syncs), so a slow disk gets fewer, larger
	 *    groups; the
	 *    interval and byte conditions stay the upper bounds. Times are
	 *    compared in whole milliseconds (the deadline is rounded down).
	 * With none enabled the caller syncs explicitly (wal_log_sync). The
	 * interval and budget conditions are also checked by
	 * wal_log_sync_due() / wal_log_commit(), which a caller's timer uses
	 * at wal_log_sync_deadline() to sync an idle log. Defaults: every
	 * append (budget 0, gap floor WAL_SYNC_GAP_MIN_US). */
	bool sync_every_append;
	uint64_t sync_bytes;
	uint64_t sync_interval_ms;
	unsigned sync_budget_pct; /* 0 (off) .. 100 */
	uint64_t sync_gap_min_us;
	/* Monotonic microseconds on the time base of the now_ms arguments
	 * (now_ms == clock_us / 1000), read exactly once before and once
	 * after every fdatasync of wal_log_sync to measure it, and nowhere
	 * else (tests inject sync durations through it). NULL: durations are
	 * taken as 0 and a sync is stamped at the last now_ms seen. */
	uint64_t (*clock_us)(void *arg);
	void *clock_arg;
};

/* Floor of the budget rule's gap between two syncs: at most 1,000
 * fdatasyncs a second however fast the disk (docs/DECISIONS.md). */
#define WAL_SYNC_GAP_MIN_US 1000u
/* Weight of a new fdatasync duration in the moving average: 1/8. */
#define WAL_SYNC_EWMA_SHIFT 3

/* Sets defaults (see struct wal_options) and a zeroed identity. */
void wal_options_init(struct wal_options *opts);

struct wal_log;

/* Opens (creating DIR if needed) the log in dir for writing, recovering
 * it: leftover temporary files are removed, every segment is read and
 * checked, and a torn tail of the last segment (a partial, zeroed or
 * garbage record with no valid record after it) is truncated to the last
 * valid record with a log_warn naming the file and offset. Everything kept
 * is fsynced, so durable_index == last_index afterwards.
 * Returns 0 or:
 *  MA_ERR_INVAL    bad options (errmsg says which);
 *  MA_ERR_BUSY     another process holds the log open for writing;
 *  MA_ERR_IDENTITY a segment belongs to another cluster/database;
 *  MA_ERR_CORRUPT  an invalid record followed by valid data, a bad record
 *                  or trailing bytes in a non-last segment, a bad header
 *                  or an index gap, a term going back, or a log ending
 *                  before what its durable mark (DIR/wal.durable, written
 *                  at a clean close or a fail-stop) says was durable;
 *                  errmsg names the file and byte offset and nothing is
 *                  modified (fail-stop, never silent loss).
 * After a fail-stop (a failed write or fsync) the next open drops the
 * entries past the durable index the mark recorded: they may only ever
 * have reached the page cache. Close writes the mark (no sync: only what
 * was already durable counts);
 *  MA_ERR_IO, MA_ERR_NOSPACE, MA_ERR_NOMEM. */
int wal_log_open(const char *dir, const struct wal_options *opts,
                 struct wal_log **out, char *errmsg);
/* Closes the log (no implicit sync: unsynced appends may be lost, exactly
 * as in a crash). NULL is fine. */
void wal_log_close(struct wal_log *log);

/* Appends entries[0..n) in one write (rolling segments as needed), then
 * syncs if the group-commit policy says so at now_ms. Indexes must be
 * contiguous: entries[0].index == last_index + 1 (any index >= 1 when the
 * log has never held anything), each next one +1; terms never decrease.
 * On success all n entries are readable; durable_index tells which are on
 * disk. Returns 0 or:
 *  MA_ERR_OFFSET  index gap or overlap (errmsg gives expected and got);
 *  MA_ERR_INVAL   index 0, term going backwards, n == 0 or NULL data;
 *  MA_ERR_LIMIT   a payload larger than max_entry_size;
 *  MA_ERR_FAILED  the log fail-stopped earlier;
 *  MA_ERR_IO, MA_ERR_NOSPACE, MA_ERR_NOMEM: the write or fsync failed and
 *                 the log is now fail-stopped (only the entries before the
 *                 failed write may be readable; none past the last good
 *                 fsync are ever reported durable). */
int wal_log_append(struct wal_log *log, const struct wal_entry *entries,
                   size_t n, uint64_t now_ms, char *errmsg);
/* True when unsynced appends exist and a condition of the policy holds
 * at now_ms (call wal_log_sync or wal_log_commit then). */
bool wal_log_sync_due(const struct wal_log *log, uint64_t now_ms);
/* The now_ms at which the interval or budget condition will hold (may be
 * in the past: sync now), or UINT64_MAX when nothing is pending, the log
 * failed or neither condition is set (for the caller's timer). */
uint64_t wal_log_sync_deadline(const struct wal_log *log);
/* Syncs when wal_log_sync_due(log, now_ms). Returns 1 (synced), 0 (not
 * due) or wal_log_sync's errors. */
int wal_log_commit(struct wal_log *log, uint64_t now_ms, char *errmsg);
/* fdatasyncs done by wal_log_sync since open, their total measured
 * duration and the moving average the budget rule uses (0 without a
 * clock or before the first sync), in microseconds. */
uint64_t wal_log_syncs(const struct wal_log *log);
uint64_t wal_log_sync_total_us(const struct wal_log *log);
uint64_t wal_log_sync_time_us(const struct wal_log *log);
/* fdatasyncs everything appended so far; durable_index becomes last_index.
 * No-op when nothing is pending. Returns 0, MA_ERR_FAILED (fail-stopped
 * earlier), or MA_ERR_IO/MA_ERR_NOSPACE (now fail-stopped; durable_index
 * does not move). */
int wal_log_sync(struct wal_log *log, char *errmsg);

/* See the index conventions at the top. durable_index is the last index
 * known fsynced (0 when none); callers acknowledge only up to it. */
uint64_t wal_log_first_index(const struct wal_log *log);
uint64_t wal_log_last_index(const struct wal_log *log);
uint64_t wal_log_durable_index(const struct wal_log *log);
/* True once a write or fsync failed (every mutation now gives
 * MA_ERR_FAILED; reopen the log after fixing the cause). */
bool wal_log_failed(const struct wal_log *log);

/* Term of the entry at index. Returns 0, MA_ERR_COMPACTED (index below
 * first_index), MA_ERR_NOTFOUND (index above last_index or 0), MA_ERR_IO,
 * MA_ERR_CORRUPT (record changed on disk under us). */
int wal_log_term_at(struct wal_log *log, uint64_t index, uint64_t *term,
                    char *errmsg);
/* Reads the entry at index into *out; out->data points into a buffer of
 * the log valid until the next wal_log_read/append/truncate/close.
 * Errors as wal_log_term_at, plus MA_ERR_NOMEM. */
int wal_log_read(struct wal_log *log, uint64_t index, struct wal_entry *out,
                 char *errmsg);

/* Retention: deletes whole segments all of whose entries are below index
 * (oldest first, then fsync of the directory; a crash leaves a contiguous
 * suffix). The last segment is always kept, so first_index afterwards is
 * <= index; readers below it get MA_ERR_COMPACTED. Returns 0 or
 * MA_ERR_FAILED, MA_ERR_IO. */
int wal_log_truncate_prefix(struct wal_log *log, uint64_t index, char *errmsg);
/* Divergence: removes every entry after last_kept (first_index - 1 <=
 * last_kept <= last_index): later segments are deleted newest first, the
 * directory fsynced, then the segment holding last_kept is truncated and
 * fsynced, so a crash at any step leaves a valid log (a prefix of the old
 * one). durable_index becomes last_kept. Returns 0 or MA_ERR_INVAL
 * (out of range), MA_ERR_COMPACTED (below first_index - 1),
 * MA_ERR_FAILED, MA_ERR_IO (now fail-stopped). */
int wal_log_truncate_suffix(struct wal_log *log, uint64_t last_kept,
                            char *errmsg);
/* Re-bootstrap: removes every segment (oldest first) and durably starts an
 * empty log whose next append must be next_index (>= 1). A crash in the
 * middle leaves a suffix of the old log or an empty log. Returns 0 or
 * MA_ERR_INVAL, MA_ERR_FAILED, MA_ERR_IO. Also clears nothing else: a
 * fail-stopped log stays failed. */
int wal_log_reset(struct wal_log *log, uint64_t next_index, char *errmsg);

/* Same-process tail following (wal_notify.c).
 * wal_log_notify_fd() returns an eventfd (non-blocking, created on first
 * call, owned by the log) that the log signals after every append, sync
 * and truncation, for a libevent loop to watch; drain it with
 * wal_notify_drain(). Returns the fd or MA_ERR_IO. */
int wal_log_notify_fd(struct wal_log *log, char *errmsg);
/* Reads and discards pending eventfd/inotify events on fd. */
void wal_notify_drain(int fd);
/* Registers cb (NULL removes), called synchronously after every append,
 * sync and truncation with the new last and durable indexes. */
typedef void (*wal_notify_cb)(void *arg, uint64_t last_index,
                              uint64_t durable_index);
void wal_log_set_notify(struct wal_log *log, wal_notify_cb cb, void *arg);

/* Readers (wal_reader.c): follow a log written by this or another process.
 * A reader sees only complete, CRC-valid records; an invalid record at the
 * very end of the last segment is taken as a write in progress (never an
 * error), whereas an invalid record followed by a valid one, or anything
 * wrong in a non-last segment, is MA_ERR_CORRUPT. Readers see every record
 * written, which may be more than the writer's durable_index. */
struct wal_reader;

/* Opens a reader on dir (which may be empty or not yet exist: the reader
 * then sees no entries until a refresh finds some). When identity is
 * non-NULL every segment must carry it (MA_ERR_IDENTITY). The reader is
 * positioned at the first retained entry. Returns 0 or MA_ERR_NOMEM,
 * MA_ERR_IO, MA_ERR_CORRUPT, MA_ERR_IDENTITY. */
int wal_reader_open(const char *dir, const struct wal_identity *identity,
                    struct wal_reader **out, char *errmsg);
/* Same, for a log this process writes: the reader also learns about
 * prefix truncations immediately (without a refresh). The log must
 * outlive the reader. */
int wal_log_reader_open(struct wal_log *log, struct wal_reader **out,
                        char *errmsg);
void wal_reader_close(struct wal_reader *r);

/* Positions the reader so that the next entry returned is index (0 means
 * the first retained entry). Uses a binary search over the segments and
 * the in-segment offset index; scans at most the one segment holding it.
 * Returns 0 or:
 *  MA_ERR_COMPACTED index is below the first retained entry (errmsg and
 *                   wal_reader_first_index() give that index);
 *  MA_ERR_NOTFOUND  index > last_index + 1 in the reader's current view;
 *  MA_ERR_CORRUPT, MA_ERR_IO, MA_ERR_IDENTITY. */
int wal_reader_seek(struct wal_reader *r, uint64_t index, char *errmsg);
/* Returns the next entry in *out (out->data valid until the next call on
 * r) and advances. Returns 0 or:
 *  MA_ERR_AGAIN     no further entry in the current view: wait (see
 *                   wal_reader_watch_fd) and call wal_reader_refresh;
 *  MA_ERR_COMPACTED the position was removed by a prefix truncation
 *                   (sticky until a seek; see wal_reader_first_index);
 *  MA_ERR_DIVERGED  the log was truncated below the position (suffix
 *                   truncation or reset; sticky until a seek);
 *  MA_ERR_CORRUPT (errmsg names file and offset), MA_ERR_IO. */
int wal_reader_next(struct wal_reader *r, struct wal_entry *out, char *errmsg);
/* Refreshes the view: re-lists the directory (new and removed segments)
 * and re-reads the new bytes of the segment the reader is in. Returns 0
 * or MA_ERR_CORRUPT, MA_ERR_IO, MA_ERR_IDENTITY; a compaction or
 * divergence found here is reported by the next wal_reader_next(). */
int wal_reader_refresh(struct wal_reader *r, char *errmsg);
/* Index the next wal_reader_next() returns (0: the first retained entry,
 * none seen yet); the first retained index in the current view (0 when
 * the view is empty). */
uint64_t wal_reader_position(const struct wal_reader *r);
uint64_t wal_reader_first_index(const struct wal_reader *r);

/* Cross-process wakeups (wal_notify.c): an inotify descriptor (owned by
 * the reader, non-blocking) that becomes readable when the directory or a
 * segment changes; drain it with wal_notify_drain() then refresh. Returns
 * -1 with errmsg set when inotify is unavailable: poll instead, calling
 * wal_reader_refresh() every WAL_READER_POLL_MS. */
int wal_reader_watch_fd(struct wal_reader *r, char *errmsg);
/* Convenience for threads and tools: waits up to timeout_ms for a change
 * (inotify, or a sleep of min(timeout, WAL_READER_POLL_MS) without it),
 * then refreshes. Returns as wal_reader_refresh. */
int wal_reader_wait(struct wal_reader *r, int timeout_ms, char *errmsg);

/* Read-only check of a whole log directory (`mirror-agent wal verify`).
 * Applies the same rules as wal_log_open (the durable mark included) but
 * modifies nothing: a torn tail is reported in the report, not repaired.
 * seg_cb, when non-NULL, is called for each segment in index order. Returns 0
 * (report filled) or MA_ERR_CORRUPT / MA_ERR_IDENTITY (errmsg names file and
 * offset), MA_ERR_IO, MA_ERR_NOMEM, MA_ERR_NOTFOUND (dir missing). */
struct wal_verify_segment {
	const char *name;
	uint64_t first_index;
	uint64_t entries;
	uint64_t valid_bytes; /* end of the last valid record */
	uint64_t file_bytes;
};
struct wal_verify_report {
	size_t segments;
	uint64_t entries;
	uint64_t first_index; /* 0 when no segment */
	uint64_t last_index;
	bool have_identity;
	struct wal_identity identity;
	/* The durable mark (docs/FORMAT.md 1.6), when the directory has
	 * one: every entry up to mark_index is durable; mark_failed: the
	 * writer stopped after a failed write or fsync, and its next open
	 * drops what follows mark_index. */
	bool have_mark;
	uint64_t mark_index;
	bool mark_failed;
	bool torn_tail; /* last segment ends with an invalid record */
	char torn_file[64];
	uint64_t torn_offset;
	uint64_t torn_bytes;
	char torn_reason[96];
};
int wal_verify(const char *dir, struct wal_verify_report *rep,
               void (*seg_cb)(void *arg, const struct wal_verify_segment *seg),
               void *arg, char *errmsg);

/* The process's index cache of sealed segments (wal_reader.c): a reader
 * that loads a sealed segment another reader (or itself) indexed before
 * copies its record offsets instead of reading and checking the whole
 * segment again. Hits and misses count loads of sealed segments since
 * the last clear (tests, benchmarks). */
void wal_reader_index_cache_stats(uint64_t *hits, uint64_t *misses);
/* Forgets every cached index (tests, benchmarks). */
void wal_reader_index_cache_clear(void);
/* Indexes every sealed segment of r's current view into that cache (a
 * segment cached before costs no scan), so that the first log request
 * into a segment older than the process reads no whole segment either:
 * serve runs it on a thread at start-up (agent/cli/cmd_serve.c). stop,
 * when non-NULL, is looked at between segments (true: return 0 at
 * once); *segments, when non-NULL, counts the sealed segments now
 * cached. A segment removed since the listing is skipped. r is left
 * unpositioned: close it (or seek) afterwards. Returns 0 or
 * MA_ERR_CORRUPT, MA_ERR_IO, MA_ERR_IDENTITY (errmsg names the file). */
int wal_reader_index_sealed(struct wal_reader *r, const atomic_bool *stop,
                            size_t *segments, char *errmsg);
#endif
