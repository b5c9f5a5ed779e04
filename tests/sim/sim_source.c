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
	/* Bumped by sim_source_touch when the spool changed: readers
	 * refresh (re-list the wal directory) only then, as serve does on
	 * an inotify wake-up. */
	uint64_t version, tail_version;
	/* serve's per-identity cap on snapshot streams (the harness has one
	 * client): open snapshot streams holding a pin. */
	struct serve_limits limits;
	unsigned open_snapshots;
	uint64_t refused; /* requests refused by the cap */
};

enum kind { R_PLAIN, R_SNAPSHOT, R_LOG };
enum phase { P_CHECK, P_SEEK, P_STREAM };

struct sim_response {
	struct sim_source *src;
	enum kind kind;
	struct proto_buf pending; /* produced at request time */
	bool done;                /* nothing more after pending */
	bool reset;               /* failed: the stream is reset, not ended */
	struct serve_snapshot snap;
	uint64_t offset;
	struct wal_reader *reader;
	enum phase phase;
	uint64_t from, prev_term, next_index;
	uint64_t version; /* of the source when this reader last refreshed */
	bool checked;     /* the log check ran once (then again on change) */
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

struct sim_response *sim_source_request(struct sim_source *s, const char *path,
                                        int64_t wall_ms, int *status)
{
	struct sim_response *r = calloc(1, sizeof *r);
	struct serve_request rq;
	struct serve_refusal ref;
	char em[MA_ERRMSG_SIZE];
	struct proto_info info;
	struct proto_log_msg m;

	if (r == NULL)
		abort();
	r->src = s;
	proto_buf_init(&r->pending);
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
		r->kind = R_SNAPSHOT;
		r->offset = rq.offset;
		r->counted = true;
		s->open_snapshots++;
		*status = 200;
		return r;
	case SERVE_REQUEST_LOG:
		if (wal_reader_open(s->wal_dir, &s->wid, &r->reader, em) != 0)
			return respond_error(r, status, 503,
			                     PROTO_ERROR_INTERNAL, em);
		r->kind = R_LOG;
		r->from = rq.from;
		r->prev_term = rq.prev_term;
		r->next_index = rq.from;
		r->phase = P_CHECK;
		r->version = s->version;
		memset(&m, 0, sizeof m);
		m.kind = PROTO_LOG_START;
		m.id = s->id;
		m.from_index = rq.from;
		if (proto_log_encode(&r->pending, &m) != 0)
			abort();
		*status = 200;
		return r;
	}
	return respond_error(r, status, 400, PROTO_ERROR_BAD_REQUEST, "?");
}

/* One step of a log stream (serve.c's log_pump without the glue). */
static void log_pull(struct sim_response *r, struct proto_buf *out,
                     size_t max_bytes, bool heartbeat, bool poll,
                     int64_t wall_ms)
{
	struct sim_source *s = r->src;
	struct serve_log_check chk;
	struct serve_log_end end;
	char em[MA_ERRMSG_SIZE];
	int rc;

	/* serve_log_check refreshes by itself; later phases on a change. */
	poll = poll && r->version != s->version;
	r->version = s->version;
	if (r->phase == P_CHECK) {
		if (!poll && r->checked)
			goto heartbeat;
		r->checked = true;
		rc = serve_log_check(r->reader, s->store, r->from, r->prev_term,
		                     &chk, em);
		if (rc != 0) {
			error_frame(out, PROTO_ERROR_INTERNAL, 0, "%s", em);
			r->done = true;
			return;
		}
		if (chk.verdict == SERVE_LOG_COMPACTED ||
		    chk.verdict == SERVE_LOG_DIVERGED) {
			error_frame(out, serve_log_verdict_error(chk.verdict),
			            chk.first_index, "%s", chk.message);
			r->done = true;
			return;
		}
		if (chk.verdict == SERVE_LOG_OK)
			r->phase = P_SEEK;
	}
	if (r->phase == P_SEEK) {
		if (poll && wal_reader_refresh(r->reader, em) != 0) {
			error_frame(out, PROTO_ERROR_INTERNAL, 0, "%s", em);
			r->done = true;
			return;
		}
		rc = wal_reader_seek(r->reader, r->next_index, em);
		if (rc == 0) {
			r->phase = P_STREAM;
		} else if (rc == MA_ERR_COMPACTED) {
			error_frame(out, PROTO_ERROR_COMPACTED,
			            wal_reader_first_index(r->reader),
			            "index %" PRIu64 " is no longer held",
			            r->next_index);
			r->done = true;
			return;
		} else if (rc != MA_ERR_NOTFOUND) {
			error_frame(out, PROTO_ERROR_INTERNAL, 0, "%s", em);
			r->done = true;
			return;
		}
	}
	if (r->phase == P_STREAM) {
		if (poll && wal_reader_refresh(r->reader, em) != 0) {
			error_frame(out, PROTO_ERROR_INTERNAL, 0, "%s", em);
			r->done = true;
			return;
		}
		rc = serve_log_read(r->reader, &r->next_index, out, max_bytes,
		                    NULL, &end, em);
		if (rc == SERVE_LOG_READ_END) {
			error_frame(out, end.error, end.first_index, "%s",
			            end.message);
			r->done = true;
			return;
		}
		if (rc < 0)
			abort();
	}
heartbeat:
	if (heartbeat) {
		uint64_t commit;

		if (tail_refresh(s, em) != 0)
			s->end.last_index = 0;
		commit = s->end.last_index;
		if (r->phase == P_STREAM && r->next_index - 1 > commit)
			commit = r->next_index - 1;
		if (serve_log_heartbeat(out, commit,
		                        wal_reader_first_index(s->tail),
		                        wall_ms) != 0)
			abort();
	}
}

bool sim_response_pull(struct sim_response *r, struct proto_buf *out,
                       size_t max_bytes, bool heartbeat, bool poll,
                       int64_t wall_ms)
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
		log_pull(r, out, max_bytes, heartbeat, poll, wall_ms);
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
	serve_snapshot_close(&r->snap);
	wal_reader_close(r->reader);
	proto_buf_free(&r->pending);
	free(r);
}
