/* The simulation's source (see sim_source.h): what serve.c does, minus
 * libevent and the transport, built from the same cores. */
#include "tests/sim/sim_source.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/serve/serve_log.h"
#include "agent/serve/serve_request.h"
#include "common/errors.h"
#include "proto/proto.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_codec.h"
#include "spool/spool.h"
#include "wal/wal.h"

struct sim_source {
	char name[PROTO_DATABASE_ID_MAX + 1];
	char dir[PATH_MAX], wal_dir[PATH_MAX], snap_dir[PATH_MAX];
	struct proto_identity id;
	struct wal_identity wid;
	struct snapshot_store *store;
	struct wal_reader *tail;
	struct serve_log_tail end;
	size_t chunk_size;
	enum serve_fault fault;
	/* sim_source_set_compression: serve's snapshot_compression_level
	 * (0: off); zstd_streams counts the snapshot streams compressed, and
	 * raw/wire bytes their chunk data before and after. */
	int compression_level;
	uint64_t zstd_streams, raw_bytes, wire_bytes;
	int refuse_status; /* non-zero: every request answered so */
	/* Bumped by sim_source_touch when the spool changed: readers
	 * refresh (re-list the wal directory) only then, as serve does on
	 * an inotify wake-up. */
	uint64_t version, tail_version;
	/* serve's per-identity cap on snapshot streams (the harness has one
	 * client): open snapshot streams holding a pin. */
	struct serve_limits limits;
	unsigned open_snapshots;
	uint64_t refused; /* requests refused by the cap */
	/* What serve's glue puts in heartbeats (serve_reserve.h). */
	bool has_headroom;
	uint64_t headroom_s;
};

enum kind { R_PLAIN, R_SNAPSHOT, R_LOG };

struct sim_response {
	struct sim_source *src;
	enum kind kind;
	struct proto_buf pending; /* produced at request time */
	bool done;                /* nothing more after pending */
	bool reset;               /* failed: the stream is reset, not ended */
	struct serve_snapshot snap;
	uint64_t offset;
	struct serve_log_stream log;
	uint64_t version; /* of the source when this reader last refreshed */
	bool counted;     /* in src->open_snapshots */
};

int sim_source_reload_identity(struct sim_source *s, char *errmsg)
{
	int rc = spool_identity_read(s->dir, &s->id, errmsg);

	if (rc != 0)
		return rc;
	return wal_identity_init(&s->wid, s->id.cluster_id, s->id.database_id,
	                         errmsg);
}

int sim_source_open(const char *dir, const char *name, size_t chunk_size,
                    enum serve_fault fault, struct sim_source **out,
                    char *errmsg)
{
	struct sim_source *s = calloc(1, sizeof *s);
	int rc;

	*out = NULL;
	if (s == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	snprintf(s->name, sizeof s->name, "%s", name);
	snprintf(s->dir, sizeof s->dir, "%s", dir);
	s->chunk_size = chunk_size;
	s->fault = fault;
	s->version = 1;
	rc = sim_source_reload_identity(s, errmsg);
	if (rc == 0 && (spool_path(s->wal_dir, sizeof s->wal_dir, dir,
	                           SPOOL_WAL_DIR) != 0 ||
	                spool_path(s->snap_dir, sizeof s->snap_dir, dir,
	                           SPOOL_SNAPSHOT_DIR) != 0))
		rc = ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long", dir);
	if (rc == 0)
		rc = snapshot_store_open(s->snap_dir, &s->store, errmsg);
	if (rc == 0)
		rc = wal_reader_open(s->wal_dir, &s->wid, &s->tail, errmsg);
	if (rc != 0) {
		sim_source_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void sim_source_close(struct sim_source *s)
{
	if (s == NULL)
		return;
	wal_reader_close(s->tail);
	snapshot_store_close(s->store);
	free(s);
}

/* As serve.c's db_freshness: the tap's record in the spool (tests write
 * it with spool_freshness_write), aged by the wall clock. */
static void source_freshness(const struct sim_source *s, int64_t wall_ms,
                             struct proto_freshness *out)
{
	struct spool_freshness rec;

	serve_log_freshness(
	    spool_freshness_read(s->dir, &rec, NULL) == 0 ? &rec : NULL,
	    wall_ms, out);
}

void sim_source_set_headroom(struct sim_source *s, bool has, uint64_t secs)
{
	s->has_headroom = has;
	s->headroom_s = secs;
}

void sim_source_set_limits(struct sim_source *s, const struct serve_limits *l)
{
	s->limits = *l;
}

uint64_t sim_source_refused(const struct sim_source *s)
{
	return s->refused;
}

void sim_source_set_fault(struct sim_source *s, enum serve_fault fault)
{
	s->fault = fault;
}

void sim_source_set_compression(struct sim_source *s, int level)
{
	s->compression_level = level;
}

void sim_source_compression_stats(const struct sim_source *s,
                                  uint64_t *zstd_streams, uint64_t *raw_bytes,
                                  uint64_t *wire_bytes)
{
	*zstd_streams = s->zstd_streams;
	*raw_bytes = s->raw_bytes;
	*wire_bytes = s->wire_bytes;
}

static void error_frame(struct proto_buf *out, enum proto_error err,
                        uint64_t first_index, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void error_frame(struct proto_buf *out, enum proto_error err,
                        uint64_t first_index, const char *fmt, ...)
{
	struct proto_log_msg m;
	va_list ap;

	memset(&m, 0, sizeof m);
	m.kind = PROTO_LOG_ERROR;
	m.error = err;
	m.first_index = first_index;
	va_start(ap, fmt);
	vsnprintf(m.message, sizeof m.message, fmt, ap);
	va_end(ap);
	if (proto_log_encode(out, &m) != 0)
		abort(); /* out of memory in a test */
}

static int tail_refresh(struct sim_source *s, char *errmsg)
{
	int rc;

	if (s->tail_version == s->version && s->version != 0)
		return 0;
	rc = wal_reader_refresh(s->tail, errmsg);
	if (rc == 0)
		rc = serve_log_tail_locate(s->tail, &s->end, errmsg);
	if (rc == 0)
		s->tail_version = s->version;
	return rc;
}

void sim_source_touch(struct sim_source *s)
{
	s->version++;
}

static struct sim_response *respond_error(struct sim_response *r, int *status,
                                          int code, enum proto_error err,
                                          const char *msg)
{
	*status = code;
	r->kind = R_PLAIN;
	error_frame(&r->pending, err, 0, "%s", msg);
	r->done = true;
	return r;
}

void sim_source_refuse_all(struct sim_source *s, int status)
{
	s->refuse_status = status;
}

struct sim_response *sim_source_request(struct sim_source *s, const char *path,
                                        int64_t wall_ms, int *status)
{
	struct sim_response *r = calloc(1, sizeof *r);
	struct serve_request rq;
	struct serve_refusal ref;
	char em[MA_ERRMSG_SIZE];
	struct proto_info info;

	if (r == NULL)
		abort();
	r->src = s;
	proto_buf_init(&r->pending);
	if (s->refuse_status != 0)
		return respond_error(r, status, s->refuse_status,
		                     PROTO_ERROR_UNAVAILABLE,
		                     "the source is refusing every request");
	if (serve_request_parse("GET", path, &rq, em) != 0)
		return respond_error(r, status, 400, PROTO_ERROR_BAD_REQUEST,
		                     em);
	if (strcmp(rq.database, s->name) != 0)
		return respond_error(r, status, 404, PROTO_ERROR_NOT_FOUND,
		                     "database is not served here");
	switch (rq.kind) {
	case SERVE_REQUEST_INFO:
		if (tail_refresh(s, em) != 0 ||
		    serve_log_info_build(s->store, s->tail, &s->end, &s->id,
		                         wall_ms, &info, em) != 0)
			return respond_error(r, status, 503,
			                     PROTO_ERROR_INTERNAL, em);
		source_freshness(s, wall_ms, &info.fresh);
		if (s->compression_level > 0)
			info.snapshot_encodings = SNAPSHOT_ENCODINGS_ZSTD;
		if (proto_info_encode(&r->pending, &info) != 0)
			abort();
		*status = 200;
		r->done = true;
		return r;
	case SERVE_REQUEST_SNAPSHOT:
		if (serve_limits_admit(&s->limits, "sim-mirror", 0,
		                       s->open_snapshots, true, &ref) != 0) {
			s->refused++;
			return respond_error(r, status, ref.status, ref.error,
			                     ref.message);
		}
		if (serve_snapshot_open(&r->snap, s->store, &s->id, rq.index,
		                        rq.term, rq.offset, s->chunk_size,
		                        s->fault, &ref, em) != 0)
			return respond_error(r, status, ref.status, ref.error,
			                     ref.message);
		/* As serve.c's handle_snapshot. */
		if ((rq.encodings & SNAPSHOT_ENCODINGS_ZSTD) != 0 &&
		    s->compression_level > 0) {
			if (serve_snapshot_compress(
			        &r->snap, s->compression_level, em) != 0)
				abort();
			s->zstd_streams++;
		}
		r->kind = R_SNAPSHOT;
		r->offset = rq.offset;
		r->counted = true;
		s->open_snapshots++;
		*status = 200;
		return r;
	case SERVE_REQUEST_LOG:
		if (serve_log_stream_open(&r->log, s->wal_dir, &s->wid,
		                          s->store, &s->id, rq.from,
		                          rq.prev_term, &r->pending, em) != 0)
			return respond_error(r, status, 503,
			                     PROTO_ERROR_INTERNAL, em);
		r->kind = R_LOG;
		r->version = s->version;
		*status = 200;
		return r;
	}
	return respond_error(r, status, 400, PROTO_ERROR_BAD_REQUEST, "?");
}

/* One step of a log stream: what serve.c's log_pump does, without the
 * glue (heartbeat first, then the stream's pump). */
static void log_pull(struct sim_response *r, struct proto_buf *out,
                     size_t max_bytes, bool heartbeat, int64_t wall_ms)
{
	struct sim_source *s = r->src;
	char em[MA_ERRMSG_SIZE];
	bool changed = r->version != s->version;
	int rc;

	r->version = s->version;
	if (heartbeat) {
		if (tail_refresh(s, em) != 0)
			s->end.last_index = 0;
		r->log.has_headroom = s->has_headroom;
		r->log.headroom_s = s->headroom_s;
		source_freshness(s, wall_ms, &r->log.fresh);
		if (serve_log_stream_heartbeat(&r->log, out, s->end.last_index,
		                               wal_reader_first_index(s->tail),
		                               wall_ms) != 0)
			abort();
	}
	rc = serve_log_stream_pump(&r->log, out, max_bytes, changed, NULL, NULL,
	                           em);
	if (rc < 0)
		abort(); /* out of memory in a test */
	if (rc == SERVE_LOG_PUMP_ENDED)
		r->done = true;
}

bool sim_response_pull(struct sim_response *r, struct proto_buf *out,
                       size_t max_bytes, bool heartbeat, int64_t wall_ms)
{
	char em[MA_ERRMSG_SIZE];
	int rc;

	if (r->pending.len > 0) {
		if (proto_buf_append(out, r->pending.data, r->pending.len) != 0)
			abort();
		proto_buf_clear(&r->pending);
	}
	if (r->done)
		return true;
	switch (r->kind) {
	case R_PLAIN:
		r->done = true;
		break;
	case R_SNAPSHOT: {
		size_t start = out->len;

		while (!r->done && out->len - start < max_bytes) {
			rc = serve_snapshot_next(&r->snap, out, NULL, NULL, em);
			if (rc == 0)
				r->done = true;
			else if (rc < 0)
				r->done = r->reset = true;
		}
		break;
	}
	case R_LOG:
		log_pull(r, out, max_bytes, heartbeat, wall_ms);
		break;
	}
	return r->done;
}

bool sim_response_reset(const struct sim_response *r)
{
	return r->reset;
}

bool sim_response_is_log(const struct sim_response *r)
{
	return r->kind == R_LOG;
}

uint64_t sim_response_offset(const struct sim_response *r)
{
	return r->offset;
}

void sim_response_free(struct sim_response *r)
{
	if (r == NULL)
		return;
	if (r->counted)
		r->src->open_snapshots--;
	r->src->raw_bytes += r->snap.raw_bytes;
	r->src->wire_bytes += r->snap.wire_bytes;
	serve_snapshot_close(&r->snap);
	serve_log_stream_close(&r->log);
	proto_buf_free(&r->pending);
	free(r);
}
