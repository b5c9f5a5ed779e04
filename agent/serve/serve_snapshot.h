/* serve_snapshot: a snapshot stream of the source side, sans-I/O towards
 * the network (no libevent, no clock, no transport): the checks of GET
 * /snapshot (held? same identity as the spool? offset within the file?),
 * the pin that keeps the file while it is sent, and the chunk envelope
 * frames (snapshot/snapshot.h sender and encoder) into a buffer the
 * caller sends. Test builds can damage the stream on purpose
 * (enum serve_fault), which the simulation harness (tests/sim/) and the
 * bad-source integration tests use. */
#ifndef MIRROR_AGENT_SERVE_SNAPSHOT_H
#define MIRROR_AGENT_SERVE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

struct snapshot_codec;
struct snapshot_sender;
struct snapshot_store;

/* Faults a test build of serve can inject into snapshot streams: in the
 * second chunk envelope (the framing faults replace it with a bad
 * frame). */
enum serve_fault {
	SERVE_FAULT_NONE,
	SERVE_FAULT_CHUNK_CRC,      /* declared chunk CRC32C off by one bit */
	SERVE_FAULT_OFFSET_GAP,     /* chunk offset one past the expected */
	SERVE_FAULT_TOTAL_CRC,      /* a data byte changed, chunk CRC redone */
	SERVE_FAULT_OVERSIZE_FRAME, /* frame header over the decoder limit */
	SERVE_FAULT_MALFORMED,      /* frame body that is not msgpack */
	SERVE_FAULT_OVERSIZE_FIELD, /* database_id of 300 bytes (limit 256) */
	/* With compression on (serve_snapshot_compress) only: */
	SERVE_FAULT_ZSTD_CRC,   /* compressed from a damaged copy, the CRC
	                         * of the sound bytes kept */
	SERVE_FAULT_ZSTD_FRAME, /* the compressed bytes' first byte changed
	                         * (not a zstd frame) */
};
#define SERVE_FAULT_COUNT 9

/* Parses "chunk-crc", "offset-gap", "total-crc", "oversize-frame",
 * "malformed", "oversize-field", "zstd-crc", "zstd-frame". 0 or
 * MA_ERR_INVAL. */
int serve_fault_parse(const char *name, enum serve_fault *out);
/* The name serve_fault_parse accepts ("none" for SERVE_FAULT_NONE). */
const char *serve_fault_name(enum serve_fault f);

/* Why a snapshot request is refused: the HTTP status, the `x` frame's
 * error and message. */
struct serve_refusal {
	int status; /* 400, 404 or 503 */
	enum proto_error error;
	char message[PROTO_MESSAGE_MAX + 1];
};

/* One open snapshot stream. Embedded: serve_snapshot_open/_close. */
struct serve_snapshot {
	struct snapshot_store *store;
	struct snapshot_sender *sender;
	uint64_t index, term, size;
	bool pinned;
	enum serve_fault fault;
	uint64_t envelopes; /* produced so far */
	bool corrupt;       /* the file failed its CRC: an `x` frame said so */
	uint8_t *scratch;   /* SERVE_FAULT_TOTAL_CRC's damaged copy */
	uint64_t progress_ms; /* serve_snapshot_progress: last progress */
	/* serve_snapshot_compress: zstd at `level` for every chunk it
	 * shrinks (NULL/0: raw). raw_bytes and wire_bytes count the data
	 * fields' bytes before and after. */
	struct snapshot_codec *codec;
	int level;
	uint64_t raw_bytes, wire_bytes;
	/* Incompressible data (random values, already compressed blobs):
	 * after SERVE_ZSTD_PROBE_AFTER data chunks in a row that did not
	 * shrink, only every SERVE_ZSTD_PROBE_EVERY-th chunk is tried (the
	 * others go raw untried) until one shrinks again: a quarter of the
	 * attempts on long incompressible runs, at most 3 compressible
	 * chunks sent raw where such a run ends. */
	uint32_t raw_streak, untried;
	uint64_t attempts; /* chunks handed to the compressor */
};
#define SERVE_ZSTD_PROBE_AFTER 16
#define SERVE_ZSTD_PROBE_EVERY 4

/* Source protection: how many streams one client identity may hold open
 * (over all its connections) and how many of them may be snapshot streams,
 * each of which pins a snapshot file ([serve] max_streams_per_identity,
 * max_snapshot_streams_per_identity). */
struct serve_limits {
	uint32_t streams_per_identity;
	uint32_t snapshots_per_identity;
};

/* Admits a new stream of `identity`, which already holds `streams` open
 * streams of which `snapshots` are snapshot streams; `snapshot` says
 * whether the new one is a snapshot stream. 0 to admit it, or
 * MA_ERR_LIMIT with *ref filled (503 unavailable naming the limit: the
 * mirror retries with backoff). */
int serve_limits_admit(const struct serve_limits *l, const char *identity,
                       unsigned streams, unsigned snapshots, bool snapshot,
                       struct serve_refusal *ref);

/* Opens snapshot (index, term) of store for sending from offset in
 * chunk_size pieces (0: SNAPSHOT_CHUNK_DEFAULT), after checking that the
 * store holds it, that its metadata names the spool's identity `id`, and
 * that offset <= its size; pins it until serve_snapshot_close. fault is
 * SERVE_FAULT_NONE except in test builds. Returns 0, or a negative code
 * with *ref filled for the answer and errmsg saying what failed for the
 * source's own log:
 *   MA_ERR_NOTFOUND 404 not-found: not held (or removed just now);
 *   MA_ERR_CORRUPT  404 not-found: its metadata is damaged;
 *   MA_ERR_INVAL    400 bad-request: offset beyond the size;
 *   MA_ERR_IDENTITY 503 internal: the metadata names another database;
 *   MA_ERR_IO, MA_ERR_NOMEM: 503 internal.
 * *s needs no close after a failure. */
int serve_snapshot_open(struct serve_snapshot *s, struct snapshot_store *store,
                        const struct proto_identity *id, uint64_t index,
                        uint64_t term, uint64_t offset, size_t chunk_size,
                        enum serve_fault fault, struct serve_refusal *ref,
                        char *errmsg);
/* The snapshot lease: a pin lasts while the stream makes progress. The
 * caller reports progress (the transport took bytes of the stream) at
 * now_ms, and serve_snapshot_open's caller sets the first one. */
void serve_snapshot_progress(struct serve_snapshot *s, uint64_t now_ms);
/* True when an open stream has made no progress for lease_ms (a mirror
 * that stopped reading): the caller resets the stream and closes s, so
 * that the pin and the open file stop holding the snapshot against
 * retention. The mirror resumes from its durable offset later, or
 * re-bootstraps from /info if the snapshot is gone by then. */
bool serve_snapshot_lease_lapsed(const struct serve_snapshot *s,
                                 uint64_t now_ms, uint64_t lease_ms);

/* Compresses the stream's chunks with zstd at level (1..19) from the next
 * one on, each chunk only when that makes it smaller; serve calls it when
 * the request's encodings include zstd and compression is on. 0,
 * MA_ERR_INVAL (level), MA_ERR_NOMEM. */
int serve_snapshot_compress(struct serve_snapshot *s, int level, char *errmsg);

/* Closes the sender and drops the pin. Safe on a zeroed struct. */
void serve_snapshot_close(struct serve_snapshot *s);

/* Appends the next chunk envelope frame to out and adds its data bytes to
 * *produced (may be NULL); the bytes of a resumed send's prefix read
 * for the whole-file CRC32C (at most 1 MiB per call) are added too, so
 * that a caller's budget per turn bounds all reading. Returns 1 (more to come,
 * possibly with nothing appended), 0 (the final {done}
 * frame, an injected fault's bad frame, or -- with s->corrupt set and
 * errmsg saying why for the source's log -- an `x` frame "internal:
 * snapshot I-T is corrupt on the source: ..." when the file fails its
 * CRC32C or changed under the sender, was appended: end the response),
 * MA_ERR_IO, MA_ERR_NOMEM. *injected (may
 * be NULL) is set when this frame carries the fault. */
int serve_snapshot_next(struct serve_snapshot *s, struct proto_buf *out,
                        size_t *produced, bool *injected, char *errmsg);

#endif
