/* serve_reserve: serve's side of retention reservations (spool/spool.h,
 * docs/TAP.md "Reservations"). serve records, per mirror identity, the
 * last index a mirror holds durably in <spool_dir>.reservations/ (the
 * only place serve writes; the spool stays read-only to it), and reports
 * what the reservations hold. No clock: callers pass Unix time in ms. */
#ifndef MIRROR_AGENT_SERVE_RESERVE_H
#define MIRROR_AGENT_SERVE_RESERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spool/spool.h"

/* A live log stream that moved rewrites its mirror's reservation this
 * often, with the last index sent one period earlier: an entry sent that
 * long ago on a stream still open has almost surely been synced by the
 * mirror (it fsyncs within milliseconds); the next request's `from`
 * corrects it in any case. This is an approximation (the protocol has no
 * acknowledgement of durability yet, docs/PROTOCOL.md): a mirror that
 * loses entries it had been sent 10 s earlier may find them trimmed if
 * they were also beyond the tap's trailing margin. A stream that sent
 * nothing since does not refresh (an absent mirror is seen only at the
 * idle timeout and must not stay young). */
#define SERVE_RESERVE_REFRESH_MS 10000u
/* How often serve logs and writes its report of the reservations. */
#define SERVE_RESERVE_REPORT_MS 60000u
/* The report file in the reservation directory (not a reservation: the
 * tap reads only r-* names). */
#define SERVE_RESERVE_STATUS_FILE "status"

/* Records that `identity` holds `database` durably up to `index` (a log
 * request from index + 1), at now_ms, in spool_dir's reservation
 * directory. 0, or MA_ERR_INVAL (an identity the file cannot hold: empty,
 * spaces, control bytes, over 255 bytes), MA_ERR_IO, MA_ERR_NOSPACE with
 * errmsg naming the directory: serving goes on without the reservation
 * (the mirror then relies on the tap's trailing margin). */
int serve_reserve_record(const char *spool_dir, const char *identity,
                         const char *database, uint64_t index, uint64_t now_ms,
                         char *errmsg);

/* One reservation as reported: who, which database, where, how old, and
 * the bytes of wal it keeps (the segments from the one holding index to
 * the end of the log). */
struct serve_reserve_line {
	char identity[256];
	char database[65];
	uint64_t index, age_ms, bytes_held;
	/* Seconds until the tap's budget drops it at bytes_per_s
	 * (spool_reserve_headroom_s); has_headroom false when the tap
	 * published no budget. */
	bool has_headroom;
	uint64_t headroom_s;
};

/* Reads spool_dir's reservations and sizes them against its wal and the
 * budget the tap published, with the source writing bytes_per_s of wal,
 * into a malloc()ed array (*out, *n; none: *n = 0). 0, MA_ERR_IO,
 * MA_ERR_NOMEM. */
int serve_reserve_scan(const char *spool_dir, uint64_t now_ms,
                       uint64_t bytes_per_s, struct serve_reserve_line **out,
                       size_t *n, char *errmsg);

/* Formats lines[0..n) as the status file's text ("identity=... database=...
 * index=N age_ms=N bytes_held=N headroom_s=N|unknown" lines) into a
 * malloc()ed string. NULL when out of memory. */
char *serve_reserve_format_status(const struct serve_reserve_line *lines,
                                  size_t n);

/* Scans spool_dir's reservations, logs one line per reservation and
 * writes the status file (atomically, not durably) into the reservation
 * directory when it exists. 0 or the error of the scan or write. */
int serve_reserve_report(const char *spool_dir, uint64_t now_ms,
                         uint64_t bytes_per_s, char *errmsg);

/* The bytes of wal a mirror at index keeps (the segments from the one
 * holding index to the end; 0 when index is below the wal). */
uint64_t serve_reserve_bytes_from(const struct spool_segment *segs,
                                  size_t nsegs, uint64_t index);

/* The reservation writer: serve_reserve_record's write, rename and two
 * fsyncs (milliseconds on a busy disk, seconds on a stalled one) run on a
 * thread of their own instead of serve's event loop. The loop posts
 * (identity, database, index) and goes on; the thread writes the newest
 * value posted per (spool, identity) -- values posted while a write is in
 * flight coalesce, so a mirror reconnecting in a loop costs at most one
 * write in flight and one pending. A failure is logged by the thread once
 * per reservation (and when it is written again); serving never waits
 * for it. Durability is unchanged (the file is written as before); only
 * the moment moves, by at most one write. */
struct serve_reserve_writer;

/* Starts the thread. 0, MA_ERR_NOMEM, MA_ERR_IO (no thread). */
int serve_reserve_writer_new(struct serve_reserve_writer **out, char *errmsg);
/* Queues the reservation; never touches the disk. 0, MA_ERR_INVAL (an
 * identity or database the file cannot hold, spool_dir too long: nothing
 * queued), MA_ERR_NOMEM. */
int serve_reserve_writer_post(struct serve_reserve_writer *w,
                              const char *spool_dir, const char *identity,
                              const char *database, uint64_t index,
                              uint64_t now_ms, char *errmsg);
/* Waits until everything posted so far is written (or failed). */
void serve_reserve_writer_flush(struct serve_reserve_writer *w);
/* Figures: files written, writes that failed, posts coalesced into a
 * later one. */
struct serve_reserve_writer_stats {
	uint64_t written, failed, coalesced;
};
void serve_reserve_writer_stats(struct serve_reserve_writer *w,
                                struct serve_reserve_writer_stats *out);
/* Writes what is pending, stops the thread, frees w (NULL is fine). */
void serve_reserve_writer_free(struct serve_reserve_writer *w);

#endif
