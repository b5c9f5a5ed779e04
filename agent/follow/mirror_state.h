/* The mirror's state machine (DESIGN.md section 6), as a logic core: no
 * sockets, no clock. The follower feeds it events with `now_ms` (a
 * monotonic clock) and source timestamps from heartbeats; it answers with
 * the state, the figures `status` reports, and the reconnect delay.
 *
 *   Connecting -> Bootstrapping{bytes_done, bytes_total}
 *              -> CatchingUp{applied, source_commit}
 *              -> Following{lag_entries, lag_ms}
 *   Degraded      lag or silence past a threshold (leaves when back under);
 *                 silence counts while disconnected too, so a mirror that
 *                 cannot reach any source becomes Degraded rather than
 *                 cycling Connecting/Disconnected
 *   Disconnected  jittered exponential backoff, then the next endpoint (a
 *                 connection loss) or the same request again (a failure
 *                 of this database's stream: the connection stays)
 *   Error         what a retry cannot fix (identity mismatch, fsync/EIO)
 *   Promoted      the directory was promoted (agent/promote/): a source of
 *                 its own now, never followed again; terminal like Error
 *                 but not a failure (promoted_index/promoted_term say
 *                 where it stopped)
 *
 * Lag in milliseconds is measured on the source's clock only: the
 * difference between the newest heartbeat's source_time and the source_time
 * of the oldest heartbeat that announced a commit index the mirror has not
 * applied yet. Clock skew between the machines therefore cannot distort it. */
#ifndef MIRROR_AGENT_MIRROR_STATE_H
#define MIRROR_AGENT_MIRROR_STATE_H

#include <stdbool.h>
#include <stdint.h>

enum mirror_state {
	MIRROR_CONNECTING,
	MIRROR_BOOTSTRAPPING,
	MIRROR_CATCHING_UP,
	MIRROR_FOLLOWING,
	MIRROR_DEGRADED,
	MIRROR_DISCONNECTED,
	MIRROR_ERROR,
	MIRROR_PROMOTED, /* last: the values above keep their numbers */
};
#define MIRROR_STATE_LAST MIRROR_PROMOTED

struct mirror_state_config {
	uint32_t backoff_min_ms; /* first reconnect delay (before jitter) */
	uint32_t backoff_max_ms; /* cap of the exponential backoff */
	uint64_t degraded_lag_entries; /* 0: no entry-lag threshold */
	uint32_t degraded_lag_ms;      /* 0: no time-lag threshold */
	uint32_t
	    degraded_silence_ms; /* no word from the source for this long */
	uint32_t endpoint_count; /* configured source endpoints, >= 1 */
	/* Degraded when the retention headroom the source reports is below
	 * this (mirror_sm_headroom); 0: off. */
	uint64_t degraded_headroom_ms;
};

/* Source heartbeats remembered for the lag computation. */
#define MIRROR_LAG_SAMPLES 64

struct mirror_lag_sample {
	uint64_t commit_index;
	int64_t source_time_ms;
};

struct mirror_status {
	enum mirror_state state;
	uint64_t bytes_done, bytes_total; /* bootstrap */
	uint64_t rate_bytes_per_s;        /* bootstrap, over the last second */
	uint64_t applied_index;
	uint64_t source_commit_index;
	uint64_t lag_entries;
	uint64_t lag_ms;
	uint64_t reconnects; /* connection losses and per-database retries */
	uint32_t endpoint;   /* index into the configured list */
	/* Age (ms, at the last event or tick) of the last word from the
	 * source: an info answer, a heartbeat, an entry or snapshot bytes.
	 * Until the first word: the age of the core (has_contact false). */
	uint64_t last_contact_age_ms;
	bool has_contact;
	/* lag_entries/lag_ms describe the source as it is now: false while
	 * no stream carries current figures (disconnected, retrying, or
	 * connected and not yet told). Readers show the lag as unknown
	 * then, never as 0. */
	bool lag_known;
	uint32_t retry_ms; /* the last backoff chosen (connection or stream) */
	int error_code;    /* MIRROR_ERROR: table code */
	char error[256];   /* MIRROR_ERROR / last disconnect */
	/* Counters since start, kept by follow_core (Prometheus *_total):
	 * response body bytes from the source (heartbeats included, so a
	 * flat rate means no contact), log entries received, entries made
	 * durable in the mirror's wal, and snapshot bytes received again
	 * for offsets an earlier attempt at the same snapshot had already
	 * received (a resumed bootstrap restarts at the durable offset). */
	uint64_t received_bytes;
	uint64_t received_entries;
	uint64_t appended_entries;
	uint64_t refetched_bytes;
	/* fdatasyncs of the mirror's wal and the time they took (ms). */
	uint64_t wal_syncs, wal_sync_ms;
	/* Snapshot chunk data bytes as they crossed the wire (compressed
	 * or not) and once raw (snapshot/snapshot_codec.h): their ratio is
	 * what compression saved. */
	uint64_t snapshot_wire_bytes, snapshot_raw_bytes;
	/* Retention headroom (issue 10): how long the mirror can stay away
	 * before the source's reservation budget drops its position, in
	 * seconds: the source's last figure counted down since it came.
	 * Unknown until a source that has a budget said it. */
	bool retention_headroom_known;
	uint64_t retention_headroom_s;
	/* MIRROR_PROMOTED: the promoted index and its term (0 otherwise). */
	uint64_t promoted_index, promoted_term;
};

struct mirror_sm {
	struct mirror_state_config config;
	struct mirror_status status;
	bool caught_up;         /* applied reached the source commit once */
	bool linked;            /* a stream of this database is up */
	bool heard;             /* last_heard_ms is a real contact */
	bool started;           /* start_ms is set */
	uint64_t start_ms;      /* first event: silence counts from here */
	uint64_t last_heard_ms; /* now_ms of the last message from the source */
	uint32_t attempt;       /* failures since the last progress */
	uint64_t last_failure_ms;
	uint64_t
	    progress_bytes; /* most snapshot bytes durable (this receive) */
	uint64_t rng;       /* xorshift state for the jitter */
	struct mirror_lag_sample lag[MIRROR_LAG_SAMPLES];
	unsigned lag_head, lag_len;
	int64_t newest_source_time_ms;
	uint64_t rate_mark_ms, rate_mark_bytes;
	uint64_t headroom_s, headroom_at_ms; /* mirror_sm_headroom */
	/* mirror_sm_source_stale: the followed source is stale and no
	 * endpoint is fresh (source_view.h), and why. */
	bool source_stale;
	char source_stale_why[256];
};

/* Initialises sm in Connecting with applied_index given (what the mirror
 * already holds). seed feeds the backoff jitter (tests pass a constant). */
void mirror_sm_init(struct mirror_sm *sm, const struct mirror_state_config *c,
                    uint64_t applied_index, uint64_t seed);

/* Returns "Connecting", "Bootstrapping", ... for a state. */
const char *mirror_state_name(enum mirror_state s);

/* Transitions; each is ignored in MIRROR_ERROR and MIRROR_PROMOTED
 * (terminal). */
void mirror_sm_connecting(struct mirror_sm *sm, uint64_t now_ms);
/* The connection is up and the source identity accepted. The backoff is
 * NOT reset here (a source that accepts and then fails every request
 * would be retried at the minimum delay forever): only progress -- a
 * newly applied entry or newly durable snapshot bytes -- resets it, or a
 * quiet spell of 4 x backoff_max_ms since the last failure. The lag
 * samples are dropped: another endpoint's clock and history are not
 * comparable (the lag is unknown until the next heartbeat). */
void mirror_sm_connected(struct mirror_sm *sm, uint64_t now_ms);
/* Snapshot bytes durable so far; enters Bootstrapping. */
void mirror_sm_bootstrap_progress(struct mirror_sm *sm, uint64_t now_ms,
                                  uint64_t bytes_done, uint64_t bytes_total);
/* The snapshot at `index` is committed; the mirror now holds up to index. */
void mirror_sm_bootstrap_done(struct mirror_sm *sm, uint64_t now_ms,
                              uint64_t index);
/* An entry was applied (appended durably to the mirror's log). */
void mirror_sm_applied(struct mirror_sm *sm, uint64_t now_ms, uint64_t index);
/* A heartbeat from the source: its commit index and its own clock. */
void mirror_sm_heartbeat(struct mirror_sm *sm, uint64_t now_ms,
                         uint64_t commit_index, int64_t source_time_ms);
/* A commit index the source announced before (remembered across a
 * restart): raises source_commit_index to it, no word from the source. */
void mirror_sm_source_commit(struct mirror_sm *sm, uint64_t commit_index);
/* Re-evaluates Degraded (silence, lag); call on a timer. */
void mirror_sm_tick(struct mirror_sm *sm, uint64_t now_ms);
/* The source's retention headroom for this mirror (a heartbeat's
 * retention_headroom), counted down from now_ms by every tick. */
void mirror_sm_headroom(struct mirror_sm *sm, uint64_t now_ms,
                        uint64_t headroom_s);
/* A heartbeat without a headroom: the figure is unknown again. */
void mirror_sm_headroom_unknown(struct mirror_sm *sm);
/* The freshest commit index known of any endpoint (source_view.h): the
 * lag is computed against it too (source_commit_index only rises). */
void mirror_sm_freshest(struct mirror_sm *sm, uint64_t now_ms,
                        uint64_t commit_index);
/* The followed source is stale and no endpoint is fresh (why): Degraded
 * with that reason while it lasts (evaluated at the next settle). */
void mirror_sm_source_stale(struct mirror_sm *sm, bool stale, const char *why);
/* The connection failed or dropped. Moves to Disconnected, advances to the
 * next endpoint and returns the delay in ms before the next attempt:
 * min(backoff_max, backoff_min * 2^attempt), jittered to [d/2, d]. */
uint32_t mirror_sm_disconnected(struct mirror_sm *sm, uint64_t now_ms,
                                const char *reason);
/* A stream of this database failed while the connection stays up (its
 * own trouble: a bad answer, an error status, a damaged frame). Enters
 * Disconnected (Degraded when silent past degraded_silence_ms) with the
 * reason, keeps the endpoint and returns the delay before this database
 * asks again, with the same backoff as mirror_sm_disconnected. */
uint32_t mirror_sm_stream_failed(struct mirror_sm *sm, uint64_t now_ms,
                                 const char *reason);
/* A failure no retry can fix: enters Error (terminal). */
void mirror_sm_fatal(struct mirror_sm *sm, int code, const char *reason);
/* The directory was promoted at index (term): enters Promoted (terminal,
 * ignored in Error) with reason as the state's text. The applied index
 * becomes index (promotion truncated the log there); the lag and the
 * retention headroom are unknown from then on (no source any more). */
void mirror_sm_promoted(struct mirror_sm *sm, uint64_t index, uint64_t term,
                        const char *reason);

#endif
