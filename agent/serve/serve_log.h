/* serve_log: the source side's decisions about a database's log, sans-I/O
 * towards the network: no libevent, no clock, no transport. It reads the
 * spool through a wal reader (wal/wal.h) and a snapshot store
 * (snapshot/snapshot.h) and writes protocol frames (proto/proto.h)
 * into a buffer the caller sends. The glue (serve.c) and the simulation
 * harness's source (tests/sim/) call it; `now` and the source's wall time
 * come in as arguments.
 *
 *   serve_log_tail_locate  the end of the log (commit index and term);
 *   serve_log_info_build   the answer of GET /info;
 *   serve_log_check        the verdict on GET /log?from=N&prev_term=T:
 *                          ok / compacted / diverged / behind;
 *   serve_log_read         entry frames from the reader's position;
 *   serve_log_heartbeat    one heartbeat frame.
 *
 * Errors: 0 or a negative code from common/errors.h with errmsg
 * (MA_ERRMSG_SIZE bytes, may be NULL) naming what failed. */
#ifndef MIRROR_AGENT_SERVE_LOG_H
#define MIRROR_AGENT_SERVE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

struct snapshot_store;
struct wal_identity;
struct wal_reader;

/* ---- the end of the log ---- */

/* What serve_log_tail_locate found; zero-initialise before the first
 * call, then keep it between calls (it starts the search from the last
 * answer). */
struct serve_log_tail {
	uint64_t last_index; /* 0: empty log; else first_index - 1 when empty */
	uint64_t last_term;  /* 0 when unknown (empty log) */
};

/* Finds the last entry in r's current view (the caller refreshes r) by
 * galloping seeks from the previous answer, so a growing log costs
 * O(log n) segment loads, and reads that entry's term. Moves r's
 * position. Returns 0, or MA_ERR_IO, MA_ERR_CORRUPT, MA_ERR_IDENTITY from
 * the reader. */
int serve_log_tail_locate(struct wal_reader *r, struct serve_log_tail *t,
                          char *errmsg);

/* ---- info ---- */

/* Fills *info for GET /info: identity, first retained index (from r),
 * commit index and term (from t; raised to the latest snapshot when that
 * is newer than the log), the latest snapshot, and source_time_ms. r and
 * t are as left by serve_log_tail_locate. Returns 0 or MA_ERR_NOMEM,
 * MA_ERR_IO from the store (a store without snapshots is not an error). */
int serve_log_info_build(struct snapshot_store *store,
                         const struct wal_reader *r,
                         const struct serve_log_tail *t,
                         const struct proto_identity *id,
                         int64_t source_time_ms, struct proto_info *info,
                         char *errmsg);

/* The freshness record of the spool (spool/spool.h) as the wire carries
 * it (proto.h "Freshness"): the contact time aged by now_wall_ms (the
 * serve host's wall clock, the tap's too: a negative age after a clock
 * step counts as 0). rec NULL (no record, or an unreadable one):
 * unknown. */
struct spool_freshness;
void serve_log_freshness(const struct spool_freshness *rec, int64_t now_wall_ms,
                         struct proto_freshness *out);

/* ---- the log-stream verdict ---- */

enum serve_log_verdict {
	SERVE_LOG_OK,        /* stream from `from` (the log holds from - 1's
	                        term or from is 1) */
	SERVE_LOG_COMPACTED, /* from, or the term of from - 1, is no longer
	                        held: re-bootstrap */
	SERVE_LOG_DIVERGED,  /* the term at from - 1 differs */
	SERVE_LOG_BEHIND,    /* the source holds less than from - 1: wait
	                        and check again when the log grows */
};

struct serve_log_check {
	enum serve_log_verdict verdict;
	/* The reader's first retained index (0: empty view); what a
	 * compacted or diverged answer carries. */
	uint64_t first_index;
	/* The source's term at from - 1 when known (0 for from == 1). */
	uint64_t term;
	bool term_from_snapshot; /* known from a snapshot at from - 1 */
	/* The answer's text for the `x` frame (COMPACTED, DIVERGED) or the
	 * log line (BEHIND); empty for OK. */
	char message[PROTO_MESSAGE_MAX + 1];
};

/* Refreshes r and decides whether a log stream may start at `from`
 * (>= 1) for a mirror whose entry at from - 1 has prev_term (docs/
 * PROTOCOL.md):
 *   - from below the first retained index: COMPACTED;
 *   - the term at from - 1 from the log, else from a snapshot at from - 1
 *     (preferring one whose term is prev_term): equal to prev_term: OK,
 *     else DIVERGED;
 *   - no term for from - 1: COMPACTED when from - 1 is below the first
 *     retained index, else BEHIND.
 * Moves r's position (seek before streaming). Returns 0 with *out set, or
 * MA_ERR_INVAL (from == 0), MA_ERR_IO, MA_ERR_CORRUPT, MA_ERR_IDENTITY,
 * MA_ERR_NOMEM from the reader or the store. */
int serve_log_check(struct wal_reader *r, struct snapshot_store *store,
                    uint64_t from, uint64_t prev_term,
                    struct serve_log_check *out, char *errmsg);

/* The proto_error an answer carries: COMPACTED, DIVERGED; 0 for OK and
 * BEHIND (no `x` frame). */
enum proto_error serve_log_verdict_error(enum serve_log_verdict v);
/* "ok", "compacted", "diverged", "behind". */
const char *serve_log_verdict_name(enum serve_log_verdict v);

/* ---- the stream ---- */

enum serve_log_read_status {
	SERVE_LOG_READ_MORE,  /* max_bytes reached: send, then call again */
	SERVE_LOG_READ_AGAIN, /* no further entry in r's view: wait */
	SERVE_LOG_READ_END,   /* the stream must end: *end holds the `x`
	                         frame's error, first index and message */
};

struct serve_log_end {
	enum proto_error error; /* COMPACTED, DIVERGED or INTERNAL */
	uint64_t first_index;
	char message[PROTO_MESSAGE_MAX + 1];
};

/* Appends entry frames to out from r's position, which must be
 * *next_index (seeked by the caller), advancing *next_index, until out
 * grew by at least max_bytes (MORE), r has nothing more (AGAIN), or the
 * stream must end (END: compacted or truncated under the reader, an
 * entry over PROTO_ENTRY_DATA_MAX, an index out of order, a read error;
 * the entry frames before it stay in out). *produced (may be NULL) gets
 * the entry data bytes appended. After END with PROTO_ERROR_INTERNAL,
 * errmsg says what failed for the source's own log. Returns the status, or
 * MA_ERR_NOMEM when encoding failed (out may end in a partial frame: reset the
 * stream). The caller refreshes r when it learns that the log changed. */
int serve_log_read(struct wal_reader *r, uint64_t *next_index,
                   struct proto_buf *out, size_t max_bytes, size_t *produced,
                   struct serve_log_end *end, char *errmsg);

/* Appends one heartbeat frame: commit_index, first_index and the source's
 * wall time. 0 or MA_ERR_NOMEM. */
int serve_log_heartbeat(struct proto_buf *out, uint64_t commit_index,
                        uint64_t first_index, int64_t source_time_ms);

/* ---- one log stream, start to end ---- */

/* The whole life of a GET /log response, for serve.c's glue and the
 * simulation's source alike: the start frame, the check (waiting while
 * the source is behind), the seek to `from` (waiting until the log holds
 * it), entry frames, heartbeats, and the final `x` frame. The caller
 * decides when to pump (a wake-up of the wal, writable again, a timer)
 * and sends what lands in `out`. Embedded: _open/_close. */
struct serve_log_stream {
	struct wal_reader *reader; /* owned */
	struct snapshot_store *store;
	enum {
		SERVE_LOG_PHASE_CHECK,
		SERVE_LOG_PHASE_SEEK,
		SERVE_LOG_PHASE_STREAM
	} phase;
	uint64_t from, prev_term, next_index;
	/* Set by the glue: the mirror's retention headroom its heartbeats
	 * carry (proto_log_msg.retention_headroom_s). */
	bool has_headroom;
	uint64_t headroom_s;
	/* Set by the glue: the source node's freshness its heartbeats carry
	 * (serve_log_freshness; zeroed: unknown, not sent). */
	struct proto_freshness fresh;
	bool ended;  /* the `x` frame was appended */
	bool behind; /* the last check said BEHIND */
	bool failed; /* ended by a read error of the source's own log */
};

/* Opens a reader on the log in wal_dir (wal_reader_open with identity)
 * for a stream from `from` (>= 1) with the mirror's prev_term, and
 * appends the start frame naming id and from. Returns 0, or the
 * reader's error (MA_ERR_IO, MA_ERR_CORRUPT, MA_ERR_IDENTITY,
 * MA_ERR_NOMEM) or MA_ERR_NOMEM from the encoder; *s needs no close
 * then. */
int serve_log_stream_open(struct serve_log_stream *s, const char *wal_dir,
                          const struct wal_identity *identity,
                          struct snapshot_store *store,
                          const struct proto_identity *id, uint64_t from,
                          uint64_t prev_term, struct proto_buf *out,
                          char *errmsg);
/* The same with a reader already open on the log (one an ended stream
 * gave back with serve_log_stream_take_reader): no open scan, and the
 * segment it has indexed is not scanned again. The stream owns reader
 * from then on, also when this fails (it is closed). */
int serve_log_stream_open_reader(struct serve_log_stream *s,
                                 struct wal_reader *reader,
                                 struct snapshot_store *store,
                                 const struct proto_identity *id, uint64_t from,
                                 uint64_t prev_term, struct proto_buf *out,
                                 char *errmsg);
/* Detaches the reader for another stream (the caller owns it then), or
 * NULL when the stream ended on a read error of its log, whose reader is
 * not worth keeping. Close the stream as usual afterwards. */
struct wal_reader *serve_log_stream_take_reader(struct serve_log_stream *s);
void serve_log_stream_close(struct serve_log_stream *s);

enum serve_log_pump_status {
	SERVE_LOG_PUMP_IDLE,  /* nothing more to send now: wait for the log */
	SERVE_LOG_PUMP_MORE,  /* max_bytes appended: send, then pump again */
	SERVE_LOG_PUMP_ENDED, /* the `x` frame is in out: end the response */
};

/* What a pump did that the caller may want to log (and nothing else). */
struct serve_log_pump_note {
	bool behind_first; /* the check said BEHIND for the first time */
	bool internal;     /* ended with PROTO_ERROR_INTERNAL: errmsg says */
	enum proto_error error;              /* when ended */
	char message[PROTO_MESSAGE_MAX + 1]; /* the `x` frame's or BEHIND's */
};

/* Moves the stream on: in the check phase runs serve_log_check (each
 * call: it refreshes by itself); then seeks to `from` and reads entries
 * (refreshing the reader first when `refresh`: the log changed since the
 * last pump), appending entry frames until out grew by max_bytes.
 * Appends the `x` frame when the stream must end (compacted, diverged,
 * or the source's own read error). Returns the status, or MA_ERR_NOMEM
 * (out may end in a partial frame: reset the stream). After ENDED every
 * call returns ENDED and appends nothing. *produced (may be NULL) gets
 * the entry data bytes appended; note (may be NULL) as above. */
int serve_log_stream_pump(struct serve_log_stream *s, struct proto_buf *out,
                          size_t max_bytes, bool refresh, size_t *produced,
                          struct serve_log_pump_note *note, char *errmsg);
/* Ends the stream now for a reason of the caller's (a withdrawn grant):
 * appends the `x` frame with err and message. SERVE_LOG_PUMP_ENDED (also
 * when it had ended already: nothing appended then) or MA_ERR_NOMEM. */
int serve_log_stream_end(struct serve_log_stream *s, struct proto_buf *out,
                         enum proto_error err, const char *message,
                         struct serve_log_pump_note *note);
/* Appends a heartbeat: commit index max(commit_index, the last entry
 * sent), first_index and the wall time. 0 or MA_ERR_NOMEM; nothing after
 * ENDED. */
int serve_log_stream_heartbeat(struct serve_log_stream *s,
                               struct proto_buf *out, uint64_t commit_index,
                               uint64_t first_index, int64_t source_time_ms);

#endif
