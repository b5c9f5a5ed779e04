/* The mirror protocol's messages other than snapshot chunk envelopes
 * (those live in snapshot/snapshot.h): database info and the log-tail
 * stream. Bodies are length-prefixed frames (common/frame.h) holding one
 * msgpack map each; docs/PROTOCOL.md is the reference.
 *
 * Decoders accept untrusted bytes: every message is structurally checked
 * first (common/msgpack_check.h: flat map, bounded strings and binaries),
 * then each field's type and range. Violations return MA_ERR_PROTO with
 * errmsg naming the field. Unknown keys are ignored (forward compatible);
 * missing required keys are errors. */
#ifndef MIRROR_AGENT_PROTOCOL_H
#define MIRROR_AGENT_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#define PROTO_CLUSTER_ID_LEN 36 /* UUID text form */
#define PROTO_DATABASE_ID_MAX 64
#define PROTO_MESSAGE_MAX 256 /* human-readable error text */
/* Default cap on one log entry's data; frames may be this plus overhead. */
#define PROTO_ENTRY_DATA_MAX (8u << 20)
#define PROTO_FRAME_OVERHEAD 4096

struct proto_identity {
	char cluster_id[PROTO_CLUSTER_ID_LEN + 1];
	char database_id[PROTO_DATABASE_ID_MAX + 1];
	uint64_t epoch;
};

/* GET /v1/db/<database>/info */
struct proto_info {
	struct proto_identity id;
	bool has_snapshot;
	uint64_t snapshot_index, snapshot_term, snapshot_size;
	uint32_t snapshot_crc32c;
	uint64_t first_index;  /* first retained log index (0: log empty) */
	uint64_t commit_index; /* last committed index the source holds */
	uint64_t commit_term;
	int64_t source_time_ms; /* source wall clock, ms since the epoch */
};

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
	/* ERROR */
	enum proto_error error;
	char message[PROTO_MESSAGE_MAX + 1];
};

/* Returns "compacted", "diverged", ... */
const char *proto_error_name(enum proto_error e);

/* Encoders append one frame (header + msgpack map) to sb. 0 or
 * MA_ERR_NOMEM. */
int proto_info_encode(msgpack_sbuffer *sb, const struct proto_info *info);
int proto_log_encode(msgpack_sbuffer *sb, const struct proto_log_msg *m);

/* Decoders take one frame body (without the 4-byte header).
 * Returns 0, or MA_ERR_PROTO / MA_ERR_CRC (entry data CRC mismatch) with
 * errmsg naming the field. For entries, data_max bounds data_len. */
int proto_info_decode(const void *body, size_t len, struct proto_info *info,
                      char *errmsg);
int proto_log_decode(const void *body, size_t len, size_t data_max,
                     struct proto_log_msg *m, char *errmsg);

#endif
