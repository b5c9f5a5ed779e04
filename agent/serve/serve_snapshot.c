/* serve_snapshot: checks, pin and envelope frames of a snapshot stream
 * (see serve_snapshot.h). */
#include "agent/serve/serve_snapshot.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_codec.h"

static const char *const fault_names[SERVE_FAULT_COUNT] = {
    [SERVE_FAULT_NONE] = "none",
    [SERVE_FAULT_CHUNK_CRC] = "chunk-crc",
    [SERVE_FAULT_OFFSET_GAP] = "offset-gap",
    [SERVE_FAULT_TOTAL_CRC] = "total-crc",
    [SERVE_FAULT_OVERSIZE_FRAME] = "oversize-frame",
    [SERVE_FAULT_MALFORMED] = "malformed",
    [SERVE_FAULT_OVERSIZE_FIELD] = "oversize-field",
    [SERVE_FAULT_ZSTD_CRC] = "zstd-crc",
    [SERVE_FAULT_ZSTD_FRAME] = "zstd-frame",
};

int serve_fault_parse(const char *name, enum serve_fault *out)
{
	for (size_t i = 1; i < SERVE_FAULT_COUNT; i++) {
		if (strcmp(name, fault_names[i]) == 0) {
			*out = (enum serve_fault)i;
			return 0;
		}
	}
	return MA_ERR_INVAL;
}

const char *serve_fault_name(enum serve_fault f)
{
	return (unsigned)f < SERVE_FAULT_COUNT ? fault_names[f] : "?";
}

static int refuse(struct serve_refusal *ref, int rc, int status,
                  enum proto_error error, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int refuse(struct serve_refusal *ref, int rc, int status,
                  enum proto_error error, const char *fmt, ...)
{
	va_list ap;

	ref->status = status;
	ref->error = error;
	va_start(ap, fmt);
	vsnprintf(ref->message, sizeof ref->message, fmt, ap);
	va_end(ap);
	return rc;
}

int serve_snapshot_open(struct serve_snapshot *s, struct snapshot_store *store,
                        const struct proto_identity *id, uint64_t index,
                        uint64_t term, uint64_t offset, size_t chunk_size,
                        enum serve_fault fault, struct serve_refusal *ref,
                        char *errmsg)
{
	struct snapshot_meta meta;
	char path[PATH_MAX];
	int rc;

	memset(s, 0, sizeof *s);
	memset(ref, 0, sizeof *ref);
	rc = snapshot_store_get(store, index, term, &meta, errmsg);
	if (rc == MA_ERR_NOTFOUND || rc == MA_ERR_CORRUPT)
		return refuse(ref, rc, 404, PROTO_ERROR_NOT_FOUND,
		              "snapshot %" PRIu64 "-%" PRIu64
		              " of %s is not held; ask /info for the latest",
		              index, term, id->database_id);
	if (rc != 0)
		return refuse(ref, rc, 503, PROTO_ERROR_INTERNAL,
		              "cannot read snapshot metadata of %s",
		              id->database_id);
	if (strcmp(meta.id.database_id, id->database_id) != 0 ||
	    strcmp(meta.id.cluster_id, id->cluster_id) != 0) {
		ma_errorf(errmsg, MA_ERR_IDENTITY,
		          "snapshot %" PRIu64 "-%" PRIu64
		          " names cluster %s database %s, not the spool's %s "
		          "%s; not serving it",
		          index, term, meta.id.cluster_id, meta.id.database_id,
		          id->cluster_id, id->database_id);
		return refuse(ref, MA_ERR_IDENTITY, 503, PROTO_ERROR_INTERNAL,
		              "snapshot identity does not match the spool");
	}
	if (offset > meta.id.size) {
		ma_errorf(errmsg, MA_ERR_INVAL,
		          "offset %" PRIu64 " beyond snapshot size %" PRIu64,
		          offset, meta.id.size);
		return refuse(ref, MA_ERR_INVAL, 400, PROTO_ERROR_BAD_REQUEST,
		              "offset %" PRIu64 " is beyond the snapshot size "
		              "%" PRIu64,
		              offset, meta.id.size);
	}
	rc = snapshot_store_pin(store, index, term, errmsg);
	if (rc == MA_ERR_NOTFOUND)
		return refuse(ref, rc, 404, PROTO_ERROR_NOT_FOUND,
		              "snapshot %" PRIu64 "-%" PRIu64
		              " of %s was just removed",
		              index, term, id->database_id);
	if (rc != 0)
		return refuse(ref, rc, 503, PROTO_ERROR_INTERNAL,
		              "cannot pin snapshot of %s", id->database_id);
	s->store = store;
	s->pinned = true;
	s->index = index;
	s->term = term;
	s->size = meta.id.size;
	s->fault = fault;
	rc = snapshot_store_path(store, index, term, path, sizeof path);
	if (rc != 0)
		ma_errorf(errmsg, rc, "snapshot path too long in %s",
		          snapshot_store_dir(store));
	else
		rc = snapshot_sender_open(path, &meta.id, offset, chunk_size,
		                          &s->sender, errmsg);
	if (rc == MA_ERR_NOTFOUND) {
		serve_snapshot_close(s);
		return refuse(ref, rc, 404, PROTO_ERROR_NOT_FOUND,
		              "snapshot %" PRIu64 "-%" PRIu64
		              " of %s was just removed",
		              index, term, id->database_id);
	}
	if (rc != 0) {
		serve_snapshot_close(s);
		return refuse(ref, rc, 503, PROTO_ERROR_INTERNAL,
		              "cannot read snapshot of %s", id->database_id);
	}
	return 0;
}

int serve_limits_admit(const struct serve_limits *l, const char *identity,
                       unsigned streams, unsigned snapshots, bool snapshot,
                       struct serve_refusal *ref)
{
	memset(ref, 0, sizeof *ref);
	if (l->streams_per_identity > 0 && streams >= l->streams_per_identity)
		return refuse(ref, MA_ERR_LIMIT, 503, PROTO_ERROR_UNAVAILABLE,
		              "client '%.128s' already holds %u streams, the "
		              "limit ([serve] max_streams_per_identity); retry "
		              "once some have ended",
		              identity, streams);
	if (snapshot && l->snapshots_per_identity > 0 &&
	    snapshots >= l->snapshots_per_identity)
		return refuse(ref, MA_ERR_LIMIT, 503, PROTO_ERROR_UNAVAILABLE,
		              "client '%.128s' already holds %u snapshot "
		              "streams, the limit ([serve] "
		              "max_snapshot_streams_per_identity); retry once "
		              "one has ended",
		              identity, snapshots);
	return 0;
}

void serve_snapshot_progress(struct serve_snapshot *s, uint64_t now_ms)
{
	s->progress_ms = now_ms;
}

bool serve_snapshot_lease_lapsed(const struct serve_snapshot *s,
                                 uint64_t now_ms, uint64_t lease_ms)
{
	if (s->sender == NULL && !s->pinned)
		return false;
	return now_ms >= s->progress_ms && now_ms - s->progress_ms >= lease_ms;
}

int serve_snapshot_compress(struct serve_snapshot *s, int level, char *errmsg)
{
	if (level < SNAPSHOT_LEVEL_MIN || level > SNAPSHOT_LEVEL_MAX)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "zstd level %d outside %d..%d", level,
		                 SNAPSHOT_LEVEL_MIN, SNAPSHOT_LEVEL_MAX);
	if (s->codec == NULL) {
		int rc = snapshot_codec_new(&s->codec, errmsg);

		if (rc != 0)
			return rc;
	}
	s->level = level;
	return 0;
}

void serve_snapshot_close(struct serve_snapshot *s)
{
	snapshot_codec_free(s->codec);
	s->codec = NULL;
	snapshot_sender_close(s->sender);
	s->sender = NULL;
	if (s->pinned)
		snapshot_store_unpin(s->store, s->index, s->term);
	s->pinned = false;
	free(s->scratch);
	s->scratch = NULL;
}

/* Appends a broken frame (proto_fault_frame_encode). 1 or MA_ERR_NOMEM. */
static int bad_frame(struct proto_buf *out, enum proto_fault_frame kind)
{
	int rc = proto_fault_frame_encode(out, kind);

	return rc != 0 ? rc : 1;
}

/* Damages the second envelope as s->fault says. Returns 1 when it wrote a
 * (bad) frame itself, 0 when env was changed (or left alone) for the
 * normal encoder, or MA_ERR_NOMEM. */
static int inject(struct serve_snapshot *s, struct snapshot_chunk *env,
                  struct proto_buf *out)
{
	if (s->envelopes != 1 || env->done)
		return 0;
	switch (s->fault) {
	case SERVE_FAULT_CHUNK_CRC:
		env->crc32c ^= 1;
		return 0;
	case SERVE_FAULT_OFFSET_GAP:
		env->offset += 1;
		return 0;
	case SERVE_FAULT_TOTAL_CRC:
		if (env->data_len == 0)
			return 0;
		free(s->scratch);
		s->scratch = malloc(env->data_len);
		if (s->scratch == NULL)
			return MA_ERR_NOMEM;
		memcpy(s->scratch, env->data, env->data_len);
		s->scratch[0] ^= 0xff;
		env->data = s->scratch;
		env->crc32c = crc32c(s->scratch, env->data_len);
		return 0;
	case SERVE_FAULT_OVERSIZE_FRAME:
		return bad_frame(out, PROTO_FAULT_OVERSIZE_FRAME);
	case SERVE_FAULT_MALFORMED:
		return bad_frame(out, PROTO_FAULT_MALFORMED);
	case SERVE_FAULT_OVERSIZE_FIELD:
		return bad_frame(out, PROTO_FAULT_OVERSIZE_FIELD);
	case SERVE_FAULT_ZSTD_CRC:
	case SERVE_FAULT_ZSTD_FRAME:
	case SERVE_FAULT_NONE:
		break; /* the zstd faults: compress_chunk */
	}
	return 0;
}

/* The file fails its CRC (or changed) at the end of a send: the mirror
 * is told so in an `x` frame (error `corrupt`) instead of a reset it
 * could only take for a transport error, so it can name the condition and
 * back off rather than ask again at once. 0 (end the response) or
 * MA_ERR_NOMEM; errmsg keeps the sender's reason for the source's log. */
static int say_corrupt(struct serve_snapshot *s, struct proto_buf *out,
                       char *errmsg)
{
	struct proto_log_msg m;
	/* The sender's reason without the source's path (the mirror needs
	 * the figures, not the layout of the source's disk). */
	const char *reason = strstr(errmsg, ": ");

	reason = reason != NULL ? reason + 2 : errmsg;
	memset(&m, 0, sizeof m);
	m.kind = PROTO_LOG_ERROR;
	m.error = PROTO_ERROR_CORRUPT;
	snprintf(m.message, sizeof m.message,
	         "snapshot %" PRIu64 "-%" PRIu64
	         " is corrupt on the source: %s",
	         s->index, s->term, reason);
	s->corrupt = true;
	if (proto_log_encode(out, &m) != 0)
		return ma_errorf(errmsg, MA_ERR_NOMEM,
		                 "out of memory telling the mirror that "
		                 "snapshot %" PRIu64 "-%" PRIu64 " is corrupt",
		                 s->index, s->term);
	return 0;
}

/* A copy of len bytes of data in s->scratch with byte `at` flipped. */
static const uint8_t *damaged_copy(struct serve_snapshot *s,
                                   const uint8_t *data, size_t len, size_t at)
{
	uint8_t *copy = malloc(len);

	if (copy == NULL)
		return NULL;
	memcpy(copy, data, len);
	copy[at] ^= 0xff;
	free(s->scratch);
	s->scratch = copy;
	return copy;
}

/* Compresses env when the stream compresses (serve_snapshot_compress),
 * with the zstd faults on the faulted envelope (hit). 0 or MA_ERR_*. */
static int compress_chunk(struct serve_snapshot *s, struct snapshot_chunk *env,
                          bool hit, char *errmsg)
{
	int rc;

	if (s->codec == NULL)
		return 0;
	if (hit && s->fault == SERVE_FAULT_ZSTD_CRC && env->data_len > 0) {
		env->data = damaged_copy(s, env->data, env->data_len, 0);
		if (env->data == NULL)
			return ma_errorf(errmsg, MA_ERR_NOMEM,
			                 "out of memory injecting a fault");
	}
	if (env->data_len == 0)
		return 0;
	/* Data that does not shrink: try only now and then (the attempt
	 * costs about 15 % of a loopback bootstrap's time on random
	 * bytes, bench/README.md). */
	if (s->raw_streak >= SERVE_ZSTD_PROBE_AFTER &&
	    s->untried < SERVE_ZSTD_PROBE_EVERY - 1 && !hit) {
		s->untried++;
		return 0;
	}
	s->untried = 0;
	s->attempts++;
	rc = snapshot_codec_compress(s->codec, s->level, env, errmsg);
	if (rc < 0)
		return rc;
	if (rc == 1)
		s->raw_streak = 0;
	else if (s->raw_streak < UINT32_MAX)
		s->raw_streak++;
	if (hit && s->fault == SERVE_FAULT_ZSTD_FRAME &&
	    env->encoding == SNAPSHOT_ENCODING_ZSTD) {
		env->data = damaged_copy(s, env->data, env->data_len, 0);
		if (env->data == NULL)
			return ma_errorf(errmsg, MA_ERR_NOMEM,
			                 "out of memory injecting a fault");
	}
	return 0;
}

int serve_snapshot_next(struct serve_snapshot *s, struct proto_buf *out,
                        size_t *produced, bool *injected, char *errmsg)
{
	struct snapshot_chunk env;
	uint64_t v0;
	bool hit = false;
	int rc;

	if (injected != NULL)
		*injected = false;
	v0 = snapshot_sender_verified(s->sender);
	rc = snapshot_sender_next(s->sender, &env, errmsg);
	if (rc == 0)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "snapshot %" PRIu64 "-%" PRIu64
		                 " was already sent whole",
		                 s->index, s->term);
	if (rc == MA_ERR_CORRUPT)
		return say_corrupt(s, out, errmsg);
	if (rc < 0)
		return rc;
	/* A resumed send reads its prefix for the whole-file CRC: those
	 * bytes count against the caller's budget per turn too. */
	if (produced != NULL)
		*produced += (size_t)(snapshot_sender_verified(s->sender) - v0);
	if (rc == 2)
		return 1;
	if (s->fault != SERVE_FAULT_NONE) {
		hit = s->envelopes == 1 && !env.done;

		rc = inject(s, &env, out);
		s->envelopes++;
		if (injected != NULL)
			*injected = hit;
		if (rc < 0)
			return ma_errorf(errmsg, rc,
			                 "out of memory injecting a fault");
		if (rc == 1)
			return 0;
	} else {
		s->envelopes++;
	}
	s->raw_bytes += env.data_len;
	if (produced != NULL)
		*produced += env.data_len;
	/* After any injected fault: a damaged chunk is compressed as it is,
	 * so the mirror's CRC32C over the raw bytes still catches it. */
	rc = compress_chunk(s, &env, hit, errmsg);
	if (rc != 0)
		return rc;
	s->wire_bytes += env.data_len;
	rc = proto_envelope_encode(out, &env, errmsg);
	if (rc != 0)
		return rc;
	return env.done ? 0 : 1;
}
