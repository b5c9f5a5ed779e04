/* The mirror's per-database protocol core (sans-I/O): every decision of
 * docs/PROTOCOL.md on the mirror's side, with no socket, no libevent and
 * no clock. The glue (follow.c) or the simulation harness (tests/sim/)
 * feeds it events -- the connection came up or went down, a response's
 * status, body bytes, the end or failure of a stream, a timer tick --
 * each with `now` (monotonic ms), and then drains the actions it asks
 * for: open a request, cancel a stream.
 *
 * Local storage (identity file, wal, snapshot store and receiver,
 * applier) is the core's own: it calls those modules synchronously. They
 * do file I/O but read no clock and own no socket, so a run with the same
 * events and the same `now` values gives the same result; the simulation
 * harness keeps them in scratch directories.
 *
 * Per database the core walks: info -> (snapshot ->) log.
 *   - info: checks the source identity against the stored one (first
 *     contact stores it), then resumes after what it holds durably, or
 *     bootstraps when it holds nothing or the source said
 *     compacted/diverged;
 *   - snapshot: feeds chunk bytes to the receiver; the final chunk
 *     commits the snapshot, resets the wal after it and starts the log
 *     (the stream's end is not awaited);
 *   - log: checks the start frame (identity, from index), the order of
 *     entries, batches them into the wal, applies what is durable.
 * Failures a retry cannot fix (identity mismatch, 403, local write or
 * fsync error, a full disk while tailing) are fatal for this database
 * only: MIRROR_ERROR, no further actions. Anything else the source or the
 * link did wrong on this database's stream is this database's trouble
 * alone: the stream is given up (CANCEL), the state says why
 * (Disconnected, or Degraded when silent too long) and the core asks
 * again from info at the first follow_core_tick past its own backoff,
 * on the same connection; the other databases and the connection carry
 * on. The backoff grows until the database makes progress. Only the
 * glue drops a connection (a transport failure), and then calls
 * follow_core_disconnected for every database; the reconnect waits the
 * backoff it returns. */
#ifndef MIRROR_AGENT_FOLLOW_CORE_H
#define MIRROR_AGENT_FOLLOW_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/follow/follow_checkpoint.h"
#include "agent/follow/follow_refresh.h"
#include "agent/follow/mirror_state.h"
#include "agent/follow/source_view.h"
#include "common/errors.h"
#include "spool/spool.h"

struct applier;
struct wal_log;

/* Whether the core asks sources for zstd snapshot chunks
 * (snapshot/snapshot_codec.h; [follow] snapshot_compression). A source
 * that does not offer zstd in its info answer is asked for raw chunks. */
enum follow_compression {
	FOLLOW_COMPRESSION_AUTO, /* when the minimum RTT >= compression_rtt */
	FOLLOW_COMPRESSION_ZSTD, /* always */
	FOLLOW_COMPRESSION_NONE, /* never */
};
/* auto's threshold (bench/README.md "Snapshot compression": on loopback
 * and a LAN the CPU, not the link, limits a bootstrap). */
#define FOLLOW_COMPRESSION_AUTO_RTT_MS 10

struct follow_core_config {
	const char *name; /* database id, as configured */
	const char *dir;  /* local spool-layout directory of the database */
	struct mirror_state_config states;
	/* Snapshot receive: fsync every N bytes, progress every N bytes. */
	uint64_t snapshot_fsync_interval, progress_interval;
	/* Bytes of a resumed snapshot's prefix read back per
	 * follow_core_run (0: FOLLOW_CORE_VERIFY_STEP). */
	uint64_t snapshot_verify_step;
	/* Local wal group commit (wal.h, struct wal_options): sync when
	 * this old or this large (interval 0: sync every append), and on
	 * arrival while fdatasync takes at most wal_sync_budget_pct % of the
	 * time (0: FOLLOW_CORE_SYNC_BUDGET; 100: whenever the gap floor
	 * allows). */
	uint64_t wal_sync_interval_ms, wal_sync_bytes;
	unsigned wal_sync_budget_pct;
	/* The wal's clock measuring its fdatasyncs (monotonic microseconds
	 * on the time base of `now`; wal_options.clock_us): the glue's
	 * clock, the simulation's disk model. NULL: durations count as 0
	 * (the gap floor alone). */
	uint64_t (*wal_clock_us)(void *arg);
	void *wal_clock_arg;
	/* Local wal segment size (0: the wal's default). Trimming behind a
	 * checkpoint removes whole segments only. */
	uint64_t wal_segment_size;
	int applier_kind; /* enum applier_kind (agent/apply/applier.h) */
	/* Local checkpoints (follow_checkpoint.h); zeroed: off. */
	struct follow_checkpoint_config checkpoint;
	/* Background snapshot refresh for the none applier
	 * (follow_refresh.h); zeroed: off. */
	struct follow_refresh_config refresh;
	/* Restore snapshots into the applier on a helper thread (the
	 * daemon); false: inline (tests, the simulation). */
	bool restore_async;
	uint64_t seed; /* backoff jitter; tests pass a constant */
	/* Each configured endpoint as the operator wrote it (host:port
	 * before resolving), by status.endpoint: the node's name, under which
	 * its incarnation is recorded (<dir>/incarnations). "" means
	 * "endpoint-N". */
	char endpoints[16][SPOOL_SOURCE_MAX + 1];
	/* Freshness rules (source_view.h); endpoint_count 0 takes
	 * states.endpoint_count. */
	struct source_view_config view;
	/* The numeric host:port each endpoint resolved to ("": unknown):
	 * only to re-key an incarnations file written when nodes were
	 * recorded by address (spool_incarnations_rekey). */
	char endpoint_addrs[16][80];
	/* Snapshot compression (enum follow_compression; zeroed: auto) and
	 * auto's RTT threshold (0: FOLLOW_COMPRESSION_AUTO_RTT_MS). */
	int compression;
	uint32_t compression_rtt_ms;
};

enum follow_action_type {
	/* Open a request on the current connection: GET `path`. The answer
	 * comes back through follow_core_response/_body/_end/_error with
	 * `stream`. */
	FOLLOW_ACTION_OPEN,
	/* Cancel `stream` (the core no longer wants it). */
	FOLLOW_ACTION_CANCEL,
};

struct follow_action {
	enum follow_action_type type;
	uint64_t stream; /* OPEN, CANCEL */
	char path[256];  /* OPEN */
};

/* What the progress callback reports: every MiB of a bootstrap (the
 * receiver's progress interval) and on every state change. Flags gather
 * between two follow_core_take_event calls, so the glue reports once per
 * event with the figures of its end. */
struct follow_core_event {
	bool state_changed; /* status.state differs from the last report */
	bool progress;      /* report now: a state change, bootstrap
	                     * progress, a snapshot committed, a fatal error */
	bool
	    applied; /* the applier moved (entries, a restore or its failure) */
};

#define FOLLOW_CORE_ACTIONS_MAX 8

struct follow_core; /* opaque: follow_core.c */

/* Opens the database's local state (identity if stored, wal, store,
 * receiver, applier restored from the newest local snapshot plus the
 * durable wal). Returns 0, MA_ERR_INVAL (path too long), MA_ERR_IO,
 * MA_ERR_CORRUPT (local wal damaged: names file and offset),
 * MA_ERR_IDENTITY (stored identity names another database),
 * MA_ERR_NOMEM. */
int follow_core_new(const struct follow_core_config *cfg, uint64_t now,
                    struct follow_core **out, char *errmsg);
/* Syncs the wal (finishing the current group), closes everything. */
void follow_core_free(struct follow_core *c);

/* ---- events in ---- */

/* The connection's minimum RTT (microseconds) as the transport measures
 * it; the glue passes it when connected and at ticks. Decides
 * snapshot_compression = auto at the next snapshot request. */
void follow_core_set_rtt(struct follow_core *c, uint64_t rtt_us);

/* A connection attempt starts (state Connecting). */
void follow_core_connecting(struct follow_core *c, uint64_t now);
/* The connection is up: the core asks for info (OPEN), or, when its own
 * backoff has not passed yet, at the first follow_core_tick past it. */
void follow_core_connected(struct follow_core *c, uint64_t now);
/* The connection is gone (every stream with it). Flushes what was
 * received, enters Disconnected (advancing status.endpoint) and returns
 * the backoff in ms before this database wants a connection again (its
 * own retry, if one was due later, keeps its time); 0 when the database
 * is in Error (no reconnect wanted). The glue reconnects after the
 * shortest delay of its databases; a database whose time has not come
 * when the connection is up waits for it (follow_core_connected). */
uint32_t follow_core_disconnected(struct follow_core *c, uint64_t now,
                                  const char *why);
/* Stream events (response, body, end, error) are acted on only for the
 * current stream of a live, connected core; any
 * other number is ignored, so the glue may pass every event it sees. */
/* The response status of `stream` (before its body). 200 carries frames
 * of the request's kind; any other carries one error frame: a 403 frame
 * tries the next endpoint (follow_core_wants_next_endpoint) and is fatal
 * (MIRROR_ERROR) once every endpoint refused; anything else not 200 fails
 * the stream (this database retries after its backoff). */
void follow_core_response(struct follow_core *c, uint64_t stream, int status,
                          uint64_t now);
/* Body bytes of `stream`, in order, any split. */
void follow_core_body(struct follow_core *c, uint64_t stream,
                      const uint8_t *data, size_t len, uint64_t now);
/* `stream` ended cleanly (all its body was given). The end of a current
 * stream (info without its frame, snapshot before its final chunk, the
 * log) fails it: this database retries after its backoff. */
void follow_core_end(struct follow_core *c, uint64_t stream, uint64_t now);
/* `stream` failed (reset by the peer, cut, could not be opened): code is
 * an MA_ERR_* code, msg says what (may be NULL). This database retries
 * after its backoff; the connection stays. */
void follow_core_stream_error(struct follow_core *c, uint64_t stream, int code,
                              const char *msg, uint64_t now);
/* Timer (the glue calls it about every 100 ms): a due wal group commit,
 * a due retry of a failed stream (OPEN), Degraded thresholds and the
 * contact age. */
void follow_core_tick(struct follow_core *c, uint64_t now);
/* When the wal's group commit is next due (wal_log_sync_deadline; may be
 * in the past), UINT64_MAX when nothing waits: the glue calls
 * follow_core_sync then, so that a deferred batch does not wait for the
 * tick. */
uint64_t follow_core_sync_deadline(const struct follow_core *c);
/* Syncs the wal if its group commit is due at now and applies what
 * became durable (the wal part of follow_core_tick). */
void follow_core_sync(struct follow_core *c, uint64_t now);
/* Wakes the core to act on what it decided inside a callback (a restart
 * after compacted/diverged). The glue calls it after draining actions
 * outside of transport callbacks. Also appends entries batched before a
 * failure of the same body (they are valid). */
void follow_core_run(struct follow_core *c, uint64_t now);
/* True while the core has local work between events: a resumed
 * snapshot's prefix is being read back (a slice of at most
 * FOLLOW_CORE_VERIFY_STEP bytes per follow_core_run). The glue calls
 * follow_core_run again soon -- after the events already waiting, never
 * in a loop -- while this holds: that reading never blocks the loop, so
 * it never counts against an idle timeout. */
#define FOLLOW_CORE_VERIFY_STEP (1024u * 1024)
/* Default share of time the wal may spend in fdatasync when it commits
 * on arrival (percent; config key wal_sync_budget, docs/DECISIONS.md). */
#define FOLLOW_CORE_SYNC_BUDGET 25u
bool follow_core_busy(const struct follow_core *c);
/* A failure found by the glue that no retry fixes for this database (our
 * own TLS files are unusable): enters MIRROR_ERROR with code and msg,
 * cancels its stream. No-op when already failed. */
void follow_core_fail(struct follow_core *c, int code, const char *msg,
                      uint64_t now);

/* ---- actions and figures out ---- */

/* Moves up to max pending actions into out (oldest first); returns how
 * many. Actions about streams the core has since abandoned are still
 * delivered (cancel them); events for an abandoned stream are ignored.
 * The caller drains after every event (the queue holds 16 and one event
 * queues at most 3; a full queue aborts). Stream numbers start at 1 and
 * are never reused by a core. A stream the core moved on from without a
 * CANCEL (the info stream once its frame arrived) may still deliver its
 * end: ignored. follow_core_disconnected discards what was not drained. */
size_t follow_core_actions(struct follow_core *c, struct follow_action *out,
                           size_t max);
/* What changed since the last call (and clears it). */
struct follow_core_event follow_core_take_event(struct follow_core *c);

const struct mirror_status *follow_core_status(const struct follow_core *c);
const char *follow_core_name(const struct follow_core *c);
bool follow_core_failed(const struct follow_core *c); /* in MIRROR_ERROR */
/* The current endpoint refused this database (403) and another is left
 * to try: the glue moves the connection to the next endpoint when every
 * database that is not in Error wants it (a database served here keeps
 * the connection; this one retries on its backoff and moves with the
 * connection's next change). Every endpoint refusing it is Error. */
bool follow_core_wants_next_endpoint(const struct follow_core *c);
/* ---- freshness of the endpoints (source_view.h) ----
 * The core observes the followed endpoint's info and heartbeats itself;
 * the glue feeds it probes of the other endpoints. At every tick the
 * core evaluates the rules: a move it wants is taken once with
 * follow_core_take_switch (the glue moves the connection there and calls
 * follow_core_set_endpoint for every database); a stale endpoint with
 * none fresh makes the database Degraded with the reason. */
void follow_core_probe_answer(struct follow_core *c, uint32_t ep,
                              const void *body, size_t len, uint64_t now);
void follow_core_probe_failed(struct follow_core *c, uint32_t ep,
                              const char *why, uint64_t now);
/* True once per move the rules want: *target and why (the reason). */
bool follow_core_take_switch(struct follow_core *c, uint32_t *target, char *why,
                             size_t whylen);
/* The connection goes to endpoint ep next (after
 * follow_core_disconnected, which advanced to the following one). */
void follow_core_set_endpoint(struct follow_core *c, uint32_t ep, uint64_t now);
const struct source_view *follow_core_view(const struct follow_core *c);

/* The durable end of the local wal (0: none yet; the snapshot's index
 * right after a bootstrap), and the applier (an APPLIER_NONE one only
 * counts entries). */
uint64_t follow_core_log_index(const struct follow_core *c);
struct applier *follow_core_applier(const struct follow_core *c);
/* The wal (for the glue's final sync and for tests); NULL before the
 * source identity is known. */
struct wal_log *follow_core_wal(const struct follow_core *c);
/* The background snapshot refresh's state and figures (follow_refresh.h;
 * off unless the applier is none and refresh.distance > 0). */
const struct follow_refresh *follow_core_refresh(const struct follow_core *c);

#endif
