/* proto: the whole wire format of the mirror protocol, in one module
 * (docs/PROTOCOL.md for the messages, docs/SNAPSHOT-FORMAT.md for the chunk
 * envelope). HTTP/3 response bodies carry length-prefixed frames, each
 * holding one msgpack map:
 *
 *   proto_buf.c       the byte buffer every encoder appends to
 *   proto_frame.c     the framer (4-byte big-endian length, then the body)
 *   proto_check.c     the structural pre-check every decoder runs first
 *   proto_fields.c    field lookup shared by the decoders (private)
 *   proto_envelope.c  snapshot chunk envelopes, and the frames -> receiver
 *                     helper snapshot_receiver_feed_bytes
 *   proto_info.c      the database info answer
 *   proto_log.c       the log-tail stream (start, entry, heartbeat, error)
 *   proto_fault.c     deliberately broken frames for fault injection
 *
 * msgpack-c is an implementation detail of this module: no public header
 * includes msgpack.h, encoders append to a struct proto_buf.
 *
 * Conventions: functions that can fail return 0 (or a stated positive
 * value) or a negative code from common/errors.h and fill errmsg
 * (MA_ERRMSG_SIZE bytes, may be NULL) with what failed and where.
 * Encoders append one whole frame or nothing: on failure the buffer's
 * length and bytes are as before the call. Decoders accept untrusted bytes:
 * the pre-check bounds every length before msgpack-c allocates, then each
 * field's type and range is checked; violations are MA_ERR_PROTO naming the
 * field. Unknown keys are ignored (forward compatible), missing or
 * duplicated known keys are errors. */
#ifndef MIRROR_PROTO_PROTO_H
#define MIRROR_PROTO_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/snapshot.h"

/* ------------------------------------------------------------------------
 * Byte buffer (proto_buf.c). Embedded struct: _init/_free. */

struct proto_buf {
	uint8_t *data;
	size_t len; /* bytes in use */
	size_t cap; /* bytes allocated */
	/* When non-zero, an append that would make len exceed limit fails
	 * with MA_ERR_NOMEM (a bounded output buffer; tests use it to fail
	 * an encoder at every byte). */
	size_t limit;
};

/* Empty buffer, no limit. Allocates nothing. */
void proto_buf_init(struct proto_buf *b);
/* Releases the memory; b stays usable (empty, same limit). */
void proto_buf_free(struct proto_buf *b);
/* Empties b, keeping its memory for reuse. */
void proto_buf_clear(struct proto_buf *b);
/* Appends n bytes. 0 or MA_ERR_NOMEM (allocation failed or limit reached;
 * b is unchanged). */
int proto_buf_append(struct proto_buf *b, const void *p, size_t n);

/* ------------------------------------------------------------------------
 * Framing (proto_frame.c). */

#define PROTO_FRAME_HEADER_SIZE 4
/* Largest frame_max a framer accepts: the largest log entry
 * (PROTO_ENTRY_DATA_MAX) and its frame's overhead. */
#define PROTO_FRAME_MAX ((64u << 20) + 65536u)

/* Writes the header of a frame whose body is len bytes. */
void proto_frame_header_put(uint8_t out[PROTO_FRAME_HEADER_SIZE], uint32_t len);

/* Reassembles frames from a byte stream delivered in arbitrary pieces. Lazy
 * and in place: a frame that lies whole in the caller's piece is returned
 * pointing into it (no copy, no allocation); only a frame split across
 * pieces is copied into a buffer grown to that frame's size. The length
 * is checked against frame_max before anything is buffered. Embedded
 * struct: _init/_free. */
struct proto_framer {
	size_t frame_max;
	uint8_t hdr[PROTO_FRAME_HEADER_SIZE];
	size_t hdr_len;  /* bytes of hdr filled */
	size_t body_len; /* once hdr is complete */
	uint8_t *buf;    /* split frame being assembled */
	size_t buf_len, buf_cap;
	uint64_t frames; /* whole frames returned so far */
	int error;       /* sticky: after an error every feed fails */
};

/* frame_max in 1..PROTO_FRAME_MAX. 0 or MA_ERR_INVAL. Allocates nothing. */
int proto_framer_init(struct proto_framer *f, size_t frame_max);
void proto_framer_free(struct proto_framer *f);
/* Consumes bytes of buf[0..len) up to the end of the next frame and sets
 * *consumed. Returns 1 with *body and *body_len set to a whole frame body
 * (pointing into buf or into the framer; valid until the next call and
 * while buf is), 0 when all of buf was consumed without completing a
 * frame, or MA_ERR_PROTO (zero or oversize length: errmsg names it and the
 * limit) or MA_ERR_NOMEM. After an error every call fails again. */
int proto_framer_feed(struct proto_framer *f, const void *buf, size_t len,
                      size_t *consumed, const void **body, size_t *body_len,
                      char *errmsg);
/* At the end of the stream: 0 when it ended on a frame boundary, else
 * MA_ERR_PROTO ("stream ended inside a frame (n of m body bytes)"). */
int proto_framer_finish(const struct proto_framer *f, char *errmsg);

/* ------------------------------------------------------------------------
 * Structural pre-check (proto_check.c). msgpack-c allocates room for a
 * container as soon as it reads its header (5 bytes can claim 2^32
 * elements) and nests as deep as its stack allows; this walk bounds both
 * without allocating. Every message of this protocol is a map with string
 * keys, so the check also requires that. */

struct proto_limits {
	unsigned max_depth;   /* 1: a flat map of scalars (max 15) */
	uint32_t max_entries; /* per map (pairs) or array (elements) */
	uint32_t max_key;     /* bytes in one map key */
	uint32_t max_str;     /* bytes in one str value */
	uint32_t max_bin;     /* bytes in one bin value */
};

/* Checks that buf[0..len) holds exactly one msgpack map within limits:
 * string keys, no ext types, no reserved byte 0xc1, every length inside
 * the buffer. 0, MA_ERR_PROTO with errmsg naming the field (for values in
 * the top map), the byte offset and the limit or defect, or MA_ERR_INVAL
 * (max_depth too large). */
int proto_check(const void *buf, size_t len, const struct proto_limits *limits,
                char *errmsg);

/* ------------------------------------------------------------------------
 * Identity of a source, as every stream names it and as the spool's
 * identity file stores it (spool/spool.h). */

#define PROTO_CLUSTER_ID_LEN 36 /* UUID text form */
#define PROTO_DATABASE_ID_MAX 64
#define PROTO_MESSAGE_MAX 256 /* human-readable error text */
/* Cap on one log entry's data; frames may be this plus overhead. The
 * same limit as the wal's (WAL_ENTRY_SIZE_MAX, asserted in tap.c): every
 * entry a tap may store, serve can send and a mirror accepts, so one large
 * committed entry cannot wedge a mirror. */
#define PROTO_ENTRY_DATA_MAX (64u << 20)
#define PROTO_FRAME_OVERHEAD 4096

/* The incarnation is a random UUID the tap creates with each spool (so a
 * spool rebuilt under the same cluster id is a new source); "" when the
 * peer or the identity file predates it (docs/PROTOCOL.md, "Identity"). */
#define PROTO_INCARNATION_LEN PROTO_CLUSTER_ID_LEN

struct proto_identity {
	char cluster_id[PROTO_CLUSTER_ID_LEN + 1];
	char database_id[PROTO_DATABASE_ID_MAX + 1];
	uint64_t epoch;
	char incarnation[PROTO_INCARNATION_LEN + 1];
};

/* True when s is a UUID in text form: 8-4-4-4-12 hex digits, either case.
 * Header-only so that spool/ (which links no proto/ code) checks peer
 * strings by the same rule before it stores them. */
static inline bool proto_uuid_valid(const char *s)
{
	for (int i = 0; i < PROTO_CLUSTER_ID_LEN; i++) {
		char c = s[i];
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? c != '-'
		         : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		             (c >= 'A' && c <= 'F')))
			return false;
	}
	return s[PROTO_CLUSTER_ID_LEN] == '\0';
}

/* ------------------------------------------------------------------------
 * Snapshot chunk envelopes (proto_envelope.c): struct snapshot_chunk on
 * the wire. Schema and limits in docs/SNAPSHOT-FORMAT.md. */

/* Upper bound on everything in an envelope except its data field (keys,
 * integers, ids and ignored unknown fields). A frame may be at most
 * data_max + PROTO_ENVELOPE_OVERHEAD_MAX bytes. */
#define PROTO_ENVELOPE_OVERHEAD_MAX 8192

/* Appends one frame holding the envelope of c. 0, MA_ERR_INVAL (bad id in
 * c->id), MA_ERR_NOMEM. */
int proto_envelope_encode(struct proto_buf *out, const struct snapshot_chunk *c,
                          char *errmsg);
/* Upper bound on an envelope's body (without the frame header) for
 * data_len data bytes. */
size_t proto_envelope_encoded_max(size_t data_len);
/* Decodes one envelope filling all of body[0..len) (a frame body).
 * data_max is the largest data field accepted (0 means
 * SNAPSHOT_DATA_MAX_DEFAULT). c->data points into body. Does not check
 * c->crc32c against the data (the receiver does), but checks that
 * offset + data stay within the snapshot's size. 0, MA_ERR_PROTO naming
 * the field, MA_ERR_NOMEM. */
int proto_envelope_decode(const void *body, size_t len, size_t data_max,
                          struct snapshot_chunk *c, char *errmsg);

/* Frames -> receiver: feeds a snapshot body stream in arbitrary pieces,
 * decodes each framed envelope (data up to SNAPSHOT_DATA_MAX_DEFAULT) and
 * hands it to snapshot_receiver_feed. The framer lives with the receiver
 * (snapshot_receiver_stream_set), so begin() and abort() start a new
 * stream. Returns as snapshot_receiver_feed for the first chunk that does
 * not return 0 (bytes after it are not consumed), else 0; or MA_ERR_PROTO
 * (framing or envelope), MA_ERR_NOMEM, MA_ERR_FAILED (receiver refused
 * after an earlier failure). Kept under the receiver's name so callers read
 * as before; it lives here because it parses wire bytes. */
int snapshot_receiver_feed_bytes(struct snapshot_receiver *r, const void *buf,
                                 size_t len, uint64_t now, char *errmsg);

/* ------------------------------------------------------------------------
 * Freshness of the source node (optional in info answers and heartbeats,
 * docs/PROTOCOL.md "Freshness"): what the node whose spool is served knows
 * about its cluster. Absent (known false) means unknown: an older source,
 * or a tap that does not report it. Keys: "leader" ("self", "known",
 * "none"), "node_commit_index", and "leader_contact_age" (ms since the node
 * last heard from a leader; absent when it never did). */

enum proto_leader {
	PROTO_LEADER_NONE = 0, /* the node knows no leader now */
	PROTO_LEADER_KNOWN,    /* another node leads */
	PROTO_LEADER_SELF,     /* this node leads, with a quorum */
};

struct proto_freshness {
	bool known; /* the fields below were sent */
	enum proto_leader leader;
	bool has_contact;
	uint64_t leader_contact_age_ms;
	uint64_t node_commit_index;
};

/* Returns "self", "known", "none" ("none" for other values). */
const char *proto_leader_name(enum proto_leader l);

/* ------------------------------------------------------------------------
 * Database info (proto_info.c): GET /v1/db/<database>/info. */

struct proto_info {
	struct proto_identity id;
	bool has_snapshot;
	uint64_t snapshot_index, snapshot_term, snapshot_size;
	uint32_t snapshot_crc32c;
	uint64_t first_index;  /* first retained log index (0: log empty) */
	uint64_t commit_index; /* last committed index the source holds */
	uint64_t commit_term;
	int64_t source_time_ms; /* source wall clock, ms since the epoch */
	struct proto_freshness fresh; /* optional */
	/* Optional "snapshot_encodings": the chunk encodings the source can
	 * send (SNAPSHOT_ENCODINGS_* bits, snapshot/snapshot_codec.h);
	 * absent (0) from an older source or one with compression off. */
	uint64_t snapshot_encodings;
};

/* Appends one frame. 0 or MA_ERR_NOMEM. */
int proto_info_encode(struct proto_buf *out, const struct proto_info *info);
/* Decodes one frame body. 0 or MA_ERR_PROTO naming the field, or
 * MA_ERR_NOMEM. */
int proto_info_decode(const void *body, size_t len, struct proto_info *info,
                      char *errmsg);

/* ------------------------------------------------------------------------
 * Log-tail stream (proto_log.c): GET /v1/db/<database>/log?from=N. */

enum proto_log_kind {
	PROTO_LOG_START = 's', /* first frame: identity, starting index */
	PROTO_LOG_ENTRY = 'e',
	PROTO_LOG_HEARTBEAT = 'h',
	PROTO_LOG_ERROR = 'x', /* last frame: why the stream ends */
};

/* Codes carried by PROTO_LOG_ERROR and error bodies. */
enum proto_error {
	PROTO_ERROR_COMPACTED = 1, /* from < first retained index */
	PROTO_ERROR_DIVERGED,      /* term at from-1 differs */
	PROTO_ERROR_NOT_FOUND,     /* unknown database / snapshot gone */
	PROTO_ERROR_FORBIDDEN,     /* identity may not read the database */
	PROTO_ERROR_BAD_REQUEST,
	PROTO_ERROR_INTERNAL,
	PROTO_ERROR_UNAVAILABLE, /* source shutting down, try elsewhere */
	/* The file the source holds fails its CRC32C or changed while it was
	 * sent (a snapshot stream's last frame): another node's copy may be
	 * sound. */
	PROTO_ERROR_CORRUPT,
};

struct proto_log_msg {
	enum proto_log_kind kind;
	/* START */
	struct proto_identity id;
	uint64_t from_index;
	/* ENTRY */
	uint64_t index, term;
	uint8_t type;
	const void *data; /* points into the decoded buffer */
	size_t data_len;
	uint32_t crc32c; /* of data; checked by the decoder */
	/* HEARTBEAT (also first_index on ERROR compacted) */
	uint64_t commit_index, first_index;
	int64_t source_time_ms;
	/* HEARTBEAT, optional ("retention_headroom", docs/PROTOCOL.md): how
	 * long this mirror could stay away from now before the source's
	 * reservation budget drops its position, in seconds. Old sources
	 * send none, old mirrors ignore it. */
	bool has_retention_headroom;
	uint64_t retention_headroom_s;
	/* HEARTBEAT, optional: the source node's freshness. */
	struct proto_freshness fresh;
	/* ERROR */
	enum proto_error error;
	char message[PROTO_MESSAGE_MAX + 1];
};

/* Returns "compacted", "diverged", ... ("unknown" for other values). */
const char *proto_error_name(enum proto_error e);

/* Appends one frame. 0, MA_ERR_INVAL (unknown kind), MA_ERR_NOMEM. */
int proto_log_encode(struct proto_buf *out, const struct proto_log_msg *m);
/* Decodes one frame body. For entries, data_max bounds data_len (0: no
 * entry data accepted). 0, MA_ERR_PROTO naming the field, MA_ERR_CRC
 * (entry data CRC mismatch, both values named), MA_ERR_NOMEM. */
int proto_log_decode(const void *body, size_t len, size_t data_max,
                     struct proto_log_msg *m, char *errmsg);

/* ------------------------------------------------------------------------
 * Broken frames (proto_fault.c), for serve's fault injection and tests:
 * each is something a mirror's decoders must reject cleanly. */

enum proto_fault_frame {
	PROTO_FAULT_OVERSIZE_FRAME, /* header declares 64 MiB, 1 byte follows */
	PROTO_FAULT_MALFORMED,      /* body of reserved msgpack bytes (0xc1) */
	PROTO_FAULT_OVERSIZE_FIELD, /* map whose database_id is 300 bytes */
};

/* Appends the broken frame. 0, MA_ERR_INVAL, MA_ERR_NOMEM. */
int proto_fault_frame_encode(struct proto_buf *out,
                             enum proto_fault_frame kind);

/* The version of the msgpack-c library loaded at run time (for
 * `mirror-agent --version`; only proto/ includes msgpack.h). */
const char *proto_msgpack_version(void);

#endif
