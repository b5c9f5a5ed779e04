/* Background snapshot refresh (issue 10 item 1, sans-I/O): a mirror whose
 * applier cannot write its state (`none`) cannot checkpoint, so its disk
 * would grow with every entry. Instead, while it follows, it asks the
 * source's info every check_ms on the same connection; when the source's
 * newest snapshot is at least `distance` entries past the mirror's newest
 * one, and the mirror's wal already holds it, the mirror fetches that
 * snapshot on a second stream beside the log stream (which keeps
 * flowing), into a receiver of its own (<dir>/recv/refresh/recv/, so a
 * bootstrap's .partial is never touched), resumable from its durable
 * offset. Once the store has committed it (durable: fsync, rename, fsync
 * of the directory) the newest keep_snapshots are kept and the wal is
 * trimmed behind it as after a checkpoint (follow_checkpoint_trim: the
 * margin and downstream reservations stay).
 *
 * Bandwidth: on average at most rate_bytes_per_s. The protocol has no
 * flow control of its own beyond QUIC's, so the refresh paces itself by
 * pausing: when the bytes received since the fetch began run ahead of
 * rate x elapsed, it cancels the stream right after the receiver made
 * its offset durable (so nothing received is lost) and asks again from
 * that offset when the allowance has caught up.
 *
 * Failures (a non-200, a cut, bad data, a refused identity) are retried
 * after a backoff that doubles up to backoff_max_ms and resets only when
 * a fetch made its offset durably longer or a snapshot was installed:
 * never a loop. Nothing here fails the database: the log goes on.
 *
 * Driven by follow_core (the hooks: tick, stream events, disconnect);
 * opens and cancels streams through the env's callbacks. No clock: every
 * call takes `now` (monotonic ms). */
#ifndef MIRROR_AGENT_FOLLOW_REFRESH_H
#define MIRROR_AGENT_FOLLOW_REFRESH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"
#include "snapshot/snapshot.h"

struct follow_checkpoint;
struct wal_log;

/* [follow] refresh_* keys (agent/config/config_schema.c). */
struct follow_refresh_config {
	/* Fetch when the source's snapshot is this many entries past the
	 * mirror's newest (0: refresh off). */
	uint64_t distance;
	uint64_t rate_bytes_per_s; /* 0: unbounded */
	uint64_t check_ms;         /* info every check_ms while following */
	uint32_t backoff_min_ms, backoff_max_ms;
	uint64_t fsync_interval; /* receiver fsync (0: its default) */
};

enum follow_refresh_phase {
	FOLLOW_REFRESH_IDLE,   /* waiting for the next check */
	FOLLOW_REFRESH_INFO,   /* asked the source's info */
	FOLLOW_REFRESH_FETCH,  /* receiving target */
	FOLLOW_REFRESH_PAUSED, /* target half received: pacing or backoff */
	/* Every byte of target is in and its CRC matches, but the resumed
	 * prefix is still being read back (snapshot_receiver_verify, a
	 * slice per follow_refresh_work): the install comes from there. */
	FOLLOW_REFRESH_VERIFY,
};

struct follow_refresh {
	struct follow_refresh_config cfg;
	const char *name; /* database id (kept alive by the caller) */
	char recv_dir[4096];
	struct snapshot_receiver *recv; /* opened at the first fetch */
	enum follow_refresh_phase phase;
	uint64_t stream; /* 0: none */
	int status;
	struct proto_framer frames;
	bool frames_open, got_info;
	struct snapshot_ident target;
	bool has_target;
	uint64_t next_ms; /* next check, resume or retry */
	uint64_t backoff_ms;
	/* Pacing: bytes received since fetch_ms (the current target). */
	uint64_t fetch_ms, fetch_bytes;
	uint64_t attempt_durable; /* durable offset when the attempt began */
	/* Figures (logs, tests). */
	uint64_t installed, failures, pauses, resumes, infos;
	uint64_t bytes;           /* snapshot bytes received */
	uint64_t last_index;      /* last snapshot installed */
	uint64_t last_first;      /* wal first index after its trim */
	uint64_t longest_wait_ms; /* longest pause or backoff */
	char last_error[256];
	/* Snapshot compression: the fetch asks for zstd chunks (the env
	 * wants them and the last info offered them); the codec that
	 * decompresses them before the receiver. */
	bool zstd;
	struct snapshot_codec *codec;
};

/* What the hooks work on (the core's own objects and stream numbers). */
struct follow_refresh_env {
	struct snapshot_store *store;
	struct wal_log *wal;
	struct follow_checkpoint *ckpt;        /* trim rules and retention */
	const struct proto_identity *identity; /* the stored source identity */
	/* Opens GET path on the connection: returns the stream number. */
	uint64_t (*open)(void *arg, const char *path);
	void (*cancel)(void *arg, uint64_t stream);
	void *arg;
	/* The core's snapshot_compression says to ask for zstd chunks now
	 * (zstd, or auto on a WAN); a source that does not offer them is
	 * asked for raw ones. */
	bool want_zstd;
	/* The mirror's snapshot byte counters (as on the wire, raw): the
	 * refresh's chunks count like the bootstrap's. */
	uint64_t *wire_bytes, *raw_bytes;
};

/* Prepares r for database `name` in directory dir. 0 or MA_ERR_INVAL
 * (path too long). Off (distance 0): every hook does nothing. */
int follow_refresh_init(struct follow_refresh *r,
                        const struct follow_refresh_config *cfg,
                        const char *name, const char *dir, uint64_t now,
                        char *errmsg);
/* Closes the receiver (keeping a .partial for the next run). */
void follow_refresh_free(struct follow_refresh *r);
/* True when `stream` is the refresh's (its events go to the hooks below,
 * not to the log's logic). */
bool follow_refresh_owns(const struct follow_refresh *r, uint64_t stream);
/* Timer: following says whether the log is live (Following or Degraded
 * with a log stream): checks, fetches and resumes start only then, and a
 * fetch in flight is paused (cancelled, resumed later) otherwise. */
void follow_refresh_tick(struct follow_refresh *r,
                         const struct follow_refresh_env *env, uint64_t now,
                         bool following);
void follow_refresh_response(struct follow_refresh *r,
                             const struct follow_refresh_env *env,
                             uint64_t stream, int status, uint64_t now);
void follow_refresh_body(struct follow_refresh *r,
                         const struct follow_refresh_env *env, uint64_t stream,
                         const uint8_t *data, size_t len, uint64_t now);
void follow_refresh_end(struct follow_refresh *r,
                        const struct follow_refresh_env *env, uint64_t stream,
                        uint64_t now);
void follow_refresh_error(struct follow_refresh *r,
                          const struct follow_refresh_env *env, uint64_t stream,
                          const char *msg, uint64_t now);
/* The connection is gone with its streams: a fetch resumes later from
 * its durable offset (not a failure: no backoff). */
void follow_refresh_disconnected(struct follow_refresh *r, uint64_t now);
/* True while the receiver reads back a resumed prefix: the caller calls
 * follow_refresh_work again soon (between its other events). */
bool follow_refresh_busy(const struct follow_refresh *r);
/* One bounded slice of that read-back (SNAPSHOT_VERIFY_STEP_DEFAULT
 * bytes); installs the snapshot when it was the last one and every byte
 * is in, or fails the attempt (the resume point went back to the
 * damaged region: the next fetch resumes there). */
void follow_refresh_work(struct follow_refresh *r,
                         const struct follow_refresh_env *env, uint64_t now);

/* The pure rules, tested on their own. */
/* A fetch is due: the source's snapshot (has, index) is at least distance
 * past local_newest and within what the wal durably holds. */
bool follow_refresh_due(uint64_t distance, bool has, uint64_t index,
                        uint64_t local_newest, uint64_t durable);
/* When pacing allows more: at rate bytes/s, `bytes` received since
 * fetch_ms may be received by the returned time (fetch_ms when rate 0). */
uint64_t follow_refresh_allowed_at(uint64_t rate, uint64_t fetch_ms,
                                   uint64_t bytes);

#endif
