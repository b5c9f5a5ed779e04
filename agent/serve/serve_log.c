/* serve_log: the log decisions of the source side (see serve_log.h). */
#include "agent/serve/serve_log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "snapshot/snapshot.h"
#include "spool/spool.h"
#include "wal/wal.h"

int serve_log_tail_locate(struct wal_reader *r, struct serve_log_tail *t,
                          char *errmsg)
{
	uint64_t first = wal_reader_first_index(r), lo, hi, step;
	struct wal_entry e;
	int rc;

	if (first == 0) {
		t->last_index = 0;
		t->last_term = 0;
		return 0;
	}
	lo = t->last_index + 1 > first ? t->last_index + 1 : first;
	rc = wal_reader_seek(r, lo, errmsg);
	if (rc == MA_ERR_NOTFOUND && lo != first) {
		/* The log shrank (suffix truncation or reset). */
		lo = first;
		t->last_term = 0;
		rc = wal_reader_seek(r, lo, errmsg);
	}
	if (rc != 0)
		return rc;
	/* wal_reader has no "last index" accessor and a seek loads only the
	 * segment it lands in: gallop, then bisect. */
	step = 1;
	for (;;) {
		if (step > UINT64_MAX - lo) {
			hi = UINT64_MAX;
			break;
		}
		rc = wal_reader_seek(r, lo + step, errmsg);
		if (rc == MA_ERR_NOTFOUND) {
			hi = lo + step;
			break;
		}
		if (rc != 0)
			return rc;
		lo += step;
		if (step < (UINT64_C(1) << 62))
			step <<= 1;
	}
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;

		rc = wal_reader_seek(r, mid, errmsg);
		if (rc == 0)
			lo = mid;
		else if (rc == MA_ERR_NOTFOUND)
			hi = mid;
		else
			return rc;
	}
	/* lo is one past the last entry. */
	if (lo == first) {
		t->last_index = first - 1;
		t->last_term = 0;
		return 0;
	}
	if (lo - 1 == t->last_index && t->last_term != 0)
		return wal_reader_seek(r, lo, errmsg);
	rc = wal_reader_seek(r, lo - 1, errmsg);
	if (rc != 0)
		return rc;
	rc = wal_reader_next(r, &e, errmsg);
	if (rc != 0)
		return rc;
	t->last_index = e.index;
	t->last_term = e.term;
	return 0;
}

int serve_log_info_build(struct snapshot_store *store,
                         const struct wal_reader *r,
                         const struct serve_log_tail *t,
                         const struct proto_identity *id,
                         int64_t source_time_ms, struct proto_info *info,
                         char *errmsg)
{
	struct snapshot_meta meta;
	int rc;

	memset(info, 0, sizeof *info);
	info->id = *id;
	info->first_index = wal_reader_first_index(r);
	info->commit_index = t->last_index;
	info->commit_term = t->last_term;
	info->source_time_ms = source_time_ms;
	rc = snapshot_store_latest(store, &meta, errmsg);
	if (rc == MA_ERR_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	info->has_snapshot = true;
	info->snapshot_index = meta.id.index;
	info->snapshot_term = meta.id.term;
	info->snapshot_size = meta.id.size;
	info->snapshot_crc32c = meta.id.crc32c;
	/* An empty log after a snapshot: the snapshot is what the source
	 * holds. */
	if (meta.id.index > info->commit_index) {
		info->commit_index = meta.id.index;
		info->commit_term = meta.id.term;
	}
	return 0;
}

/* Looks for snapshots at index: *found, and *term = want when one of
 * them has that term, else the term of one of them. */
static int snapshot_term_at(struct snapshot_store *store, uint64_t index,
                            uint64_t want, bool *found, uint64_t *term,
                            char *errmsg)
{
	struct snapshot_meta *metas;
	size_t n;
	int rc = snapshot_store_list(store, &metas, &n, errmsg);

	*found = false;
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (metas[i].id.index != index)
			continue;
		if (!*found || metas[i].id.term == want)
			*term = metas[i].id.term;
		*found = true;
	}
	free(metas);
	return 0;
}

static void say(struct serve_log_check *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void say(struct serve_log_check *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->message, sizeof out->message, fmt, ap);
	va_end(ap);
}

int serve_log_check(struct wal_reader *r, struct snapshot_store *store,
                    uint64_t from, uint64_t prev_term,
                    struct serve_log_check *out, char *errmsg)
{
	uint64_t prev = from - 1, first;
	bool have_term = false, found;
	struct wal_entry e;
	int rc;

	memset(out, 0, sizeof *out);
	if (from == 0)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "log check from index 0 (indexes start at 1)");
	rc = wal_reader_refresh(r, errmsg);
	if (rc != 0)
		return rc;
	first = wal_reader_first_index(r);
	out->first_index = first;
	if (first > 0 && from < first) {
		out->verdict = SERVE_LOG_COMPACTED;
		say(out,
		    "index %" PRIu64 " is no longer held (first retained "
		    "index %" PRIu64 "): re-bootstrap from the latest snapshot",
		    from, first);
		return 0;
	}
	if (prev == 0) {
		have_term = true;
	} else {
		rc = wal_reader_seek(r, prev, errmsg);
		if (rc == 0) {
			rc = wal_reader_next(r, &e, errmsg);
			if (rc == 0) {
				out->term = e.term;
				have_term = true;
			} else if (rc != MA_ERR_AGAIN &&
			           rc != MA_ERR_COMPACTED &&
			           rc != MA_ERR_DIVERGED) {
				return rc;
			}
		} else if (rc != MA_ERR_NOTFOUND && rc != MA_ERR_COMPACTED) {
			return rc;
		}
	}
	if (!have_term) {
		rc = snapshot_term_at(store, prev, prev_term, &found,
		                      &out->term, errmsg);
		if (rc != 0)
			return rc;
		if (found) {
			out->term_from_snapshot = true;
		} else if (first > 0 && prev < first) {
			out->verdict = SERVE_LOG_COMPACTED;
			say(out,
			    "the term of index %" PRIu64 " is no longer known "
			    "(first retained index %" PRIu64 ", no snapshot at "
			    "%" PRIu64
			    "): re-bootstrap from the latest snapshot",
			    prev, first, prev);
			return 0;
		} else {
			out->verdict = SERVE_LOG_BEHIND;
			say(out,
			    "index %" PRIu64 " is wanted but the source holds "
			    "less; waiting",
			    from);
			return 0;
		}
	}
	if (out->term != prev_term) {
		out->verdict = SERVE_LOG_DIVERGED;
		say(out,
		    "term of index %" PRIu64 " is %" PRIu64 " here, %" PRIu64
		    " at the mirror: re-bootstrap from the latest snapshot",
		    prev, out->term, prev_term);
		return 0;
	}
	out->verdict = SERVE_LOG_OK;
	return 0;
}

enum proto_error serve_log_verdict_error(enum serve_log_verdict v)
{
	switch (v) {
	case SERVE_LOG_COMPACTED:
		return PROTO_ERROR_COMPACTED;
	case SERVE_LOG_DIVERGED:
		return PROTO_ERROR_DIVERGED;
	case SERVE_LOG_OK:
	case SERVE_LOG_BEHIND:
		break;
	}
	return (enum proto_error)0;
}

const char *serve_log_verdict_name(enum serve_log_verdict v)
{
	switch (v) {
	case SERVE_LOG_OK:
		return "ok";
	case SERVE_LOG_COMPACTED:
		return "compacted";
	case SERVE_LOG_DIVERGED:
		return "diverged";
	case SERVE_LOG_BEHIND:
		return "behind";
	}
	return "?";
}

static int end_with(struct serve_log_end *end, enum proto_error error,
                    uint64_t first_index, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int end_with(struct serve_log_end *end, enum proto_error error,
                    uint64_t first_index, const char *fmt, ...)
{
	va_list ap;

	end->error = error;
	end->first_index = first_index;
	va_start(ap, fmt);
	vsnprintf(end->message, sizeof end->message, fmt, ap);
	va_end(ap);
	return SERVE_LOG_READ_END;
}

int serve_log_read(struct wal_reader *r, uint64_t *next_index,
                   struct proto_buf *out, size_t max_bytes, size_t *produced,
                   struct serve_log_end *end, char *errmsg)
{
	size_t start = out->len, data = 0;
	struct proto_log_msg m;
	struct wal_entry e;
	int rc, status;

	memset(end, 0, sizeof *end);
	memset(&m, 0, sizeof m);
	m.kind = PROTO_LOG_ENTRY;
	for (;;) {
		if (out->len - start >= max_bytes) {
			status = SERVE_LOG_READ_MORE;
			break;
		}
		rc = wal_reader_next(r, &e, errmsg);
		if (rc == MA_ERR_AGAIN) {
			status = SERVE_LOG_READ_AGAIN;
			break;
		}
		if (rc == MA_ERR_COMPACTED) {
			status =
			    end_with(end, PROTO_ERROR_COMPACTED,
			             wal_reader_first_index(r),
			             "index %" PRIu64 " was removed by log "
			             "retention: re-bootstrap from the "
			             "latest snapshot",
			             *next_index);
			break;
		}
		if (rc == MA_ERR_DIVERGED) {
			status =
			    end_with(end, PROTO_ERROR_DIVERGED,
			             wal_reader_first_index(r),
			             "the source log was truncated or reset "
			             "below index %" PRIu64 ": re-bootstrap",
			             *next_index);
			break;
		}
		if (rc != 0) {
			status =
			    end_with(end, PROTO_ERROR_INTERNAL, 0,
			             "cannot read the log at index %" PRIu64,
			             *next_index);
			break;
		}
		if (e.index != *next_index) {
			status = end_with(end, PROTO_ERROR_INTERNAL, 0,
			                  "log returned index %" PRIu64
			                  " where %" PRIu64 " was expected",
			                  e.index, *next_index);
			ma_errorf(errmsg, MA_ERR_CORRUPT, "%s", end->message);
			break;
		}
		if (e.len > PROTO_ENTRY_DATA_MAX) {
			status =
			    end_with(end, PROTO_ERROR_INTERNAL, 0,
			             "entry %" PRIu64 " has %zu bytes, over "
			             "the protocol limit of %u",
			             e.index, e.len, PROTO_ENTRY_DATA_MAX);
			ma_errorf(errmsg, MA_ERR_LIMIT, "%s", end->message);
			break;
		}
		m.index = e.index;
		m.term = e.term;
		m.type = e.type;
		m.data = e.data;
		m.data_len = e.len;
		if (proto_log_encode(out, &m) != 0) {
			if (produced != NULL)
				*produced = data;
			return ma_errorf(
			    errmsg, MA_ERR_NOMEM,
			    "out of memory encoding entry %" PRIu64, e.index);
		}
		(*next_index)++;
		data += e.len;
	}
	if (produced != NULL)
		*produced = data;
	return status;
}

int serve_log_heartbeat(struct proto_buf *out, uint64_t commit_index,
                        uint64_t first_index, int64_t source_time_ms)
{
	struct proto_log_msg m;

	memset(&m, 0, sizeof m);
	m.kind = PROTO_LOG_HEARTBEAT;
	m.commit_index = commit_index;
	m.first_index = first_index;
	m.source_time_ms = source_time_ms;
	return proto_log_encode(out, &m) != 0 ? MA_ERR_NOMEM : 0;
}

void serve_log_freshness(const struct spool_freshness *rec, int64_t now_wall_ms,
                         struct proto_freshness *out)
{
	memset(out, 0, sizeof *out);
	if (rec == NULL)
		return;
	out->known = true;
	out->leader = rec->is_leader      ? PROTO_LEADER_SELF
	              : rec->leader_known ? PROTO_LEADER_KNOWN
	                                  : PROTO_LEADER_NONE;
	out->node_commit_index = rec->commit_index;
	out->has_contact = rec->leader_contact_ms > 0;
	if (out->has_contact && now_wall_ms > rec->leader_contact_ms)
		out->leader_contact_age_ms =
		    (uint64_t)(now_wall_ms - rec->leader_contact_ms);
}

/* ---- one log stream ---- */

static int stream_end(struct serve_log_stream *s, struct proto_buf *out,
                      enum proto_error err, uint64_t first_index,
                      const char *message, struct serve_log_pump_note *note)
{
	struct proto_log_msg m;

	memset(&m, 0, sizeof m);
	m.kind = PROTO_LOG_ERROR;
	m.error = err;
	m.first_index = first_index;
	snprintf(m.message, sizeof m.message, "%s", message);
	if (note != NULL) {
		note->internal = err == PROTO_ERROR_INTERNAL;
		note->error = err;
		snprintf(note->message, sizeof note->message, "%s", message);
	}
	if (err == PROTO_ERROR_INTERNAL)
		s->failed = true;
	if (proto_log_encode(out, &m) != 0)
		return MA_ERR_NOMEM;
	s->ended = true;
	return SERVE_LOG_PUMP_ENDED;
}

int serve_log_stream_open(struct serve_log_stream *s, const char *wal_dir,
                          const struct wal_identity *identity,
                          struct snapshot_store *store,
                          const struct proto_identity *id, uint64_t from,
                          uint64_t prev_term, struct proto_buf *out,
                          char *errmsg)
{
	struct wal_reader *r;
	int rc;

	memset(s, 0, sizeof *s);
	if (from == 0)
		return ma_errorf(
		    errmsg, MA_ERR_INVAL,
		    "log stream from index 0 (indexes start at 1)");
	rc = wal_reader_open(wal_dir, identity, &r, errmsg);
	if (rc != 0)
		return rc;
	return serve_log_stream_open_reader(s, r, store, id, from, prev_term,
	                                    out, errmsg);
}

int serve_log_stream_open_reader(struct serve_log_stream *s,
                                 struct wal_reader *reader,
                                 struct snapshot_store *store,
                                 const struct proto_identity *id, uint64_t from,
                                 uint64_t prev_term, struct proto_buf *out,
                                 char *errmsg)
{
	struct proto_log_msg m;

	memset(s, 0, sizeof *s);
	s->reader = reader;
	if (from == 0) {
		serve_log_stream_close(s);
		return ma_errorf(
		    errmsg, MA_ERR_INVAL,
		    "log stream from index 0 (indexes start at 1)");
	}
	s->store = store;
	s->phase = SERVE_LOG_PHASE_CHECK;
	s->from = from;
	s->prev_term = prev_term;
	s->next_index = from;
	memset(&m, 0, sizeof m);
	m.kind = PROTO_LOG_START;
	m.id = *id;
	m.from_index = from;
	if (proto_log_encode(out, &m) != 0) {
		serve_log_stream_close(s);
		return ma_errorf(errmsg, MA_ERR_NOMEM,
		                 "out of memory encoding a start frame");
	}
	return 0;
}

int serve_log_stream_end(struct serve_log_stream *s, struct proto_buf *out,
                         enum proto_error err, const char *message,
                         struct serve_log_pump_note *note)
{
	if (s->ended)
		return SERVE_LOG_PUMP_ENDED;
	return stream_end(s, out, err, 0, message, note);
}

struct wal_reader *serve_log_stream_take_reader(struct serve_log_stream *s)
{
	struct wal_reader *r = s->reader;

	if (s->failed)
		return NULL;
	s->reader = NULL;
	return r;
}

void serve_log_stream_close(struct serve_log_stream *s)
{
	wal_reader_close(s->reader);
	s->reader = NULL;
}

int serve_log_stream_pump(struct serve_log_stream *s, struct proto_buf *out,
                          size_t max_bytes, bool refresh, size_t *produced,
                          struct serve_log_pump_note *note, char *errmsg)
{
	struct serve_log_check chk;
	struct serve_log_end end;
	int rc;

	if (produced != NULL)
		*produced = 0;
	if (note != NULL)
		memset(note, 0, sizeof *note);
	if (s->ended)
		return SERVE_LOG_PUMP_ENDED;
	if (s->phase == SERVE_LOG_PHASE_CHECK) {
		rc = serve_log_check(s->reader, s->store, s->from, s->prev_term,
		                     &chk, errmsg);
		if (rc != 0)
			return stream_end(s, out, PROTO_ERROR_INTERNAL, 0,
			                  "cannot read the log", note);
		refresh = false; /* the check just did */
		switch (chk.verdict) {
		case SERVE_LOG_OK:
			s->phase = SERVE_LOG_PHASE_SEEK;
			break;
		case SERVE_LOG_BEHIND:
			if (note != NULL && !s->behind) {
				note->behind_first = true;
				snprintf(note->message, sizeof note->message,
				         "%s", chk.message);
			}
			s->behind = true;
			return SERVE_LOG_PUMP_IDLE;
		case SERVE_LOG_COMPACTED:
		case SERVE_LOG_DIVERGED:
			return stream_end(s, out,
			                  serve_log_verdict_error(chk.verdict),
			                  chk.first_index, chk.message, note);
		}
	}
	if (refresh) {
		rc = wal_reader_refresh(s->reader, errmsg);
		if (rc != 0)
			return stream_end(s, out, PROTO_ERROR_INTERNAL, 0,
			                  "cannot read the log", note);
	}
	if (s->phase == SERVE_LOG_PHASE_SEEK) {
		char msg[PROTO_MESSAGE_MAX + 1];

		rc = wal_reader_seek(s->reader, s->next_index, errmsg);
		if (rc == MA_ERR_NOTFOUND)
			return SERVE_LOG_PUMP_IDLE;
		if (rc == MA_ERR_COMPACTED) {
			snprintf(msg, sizeof msg,
			         "index %" PRIu64 " is no longer held: "
			         "re-bootstrap from the latest snapshot",
			         s->next_index);
			return stream_end(s, out, PROTO_ERROR_COMPACTED,
			                  wal_reader_first_index(s->reader),
			                  msg, note);
		}
		if (rc != 0)
			return stream_end(s, out, PROTO_ERROR_INTERNAL, 0,
			                  "cannot read the log", note);
		s->phase = SERVE_LOG_PHASE_STREAM;
	}
	rc = serve_log_read(s->reader, &s->next_index, out, max_bytes, produced,
	                    &end, errmsg);
	if (rc < 0)
		return rc;
	if (rc == SERVE_LOG_READ_END)
		return stream_end(s, out, end.error, end.first_index,
		                  end.message, note);
	return rc == SERVE_LOG_READ_MORE ? SERVE_LOG_PUMP_MORE
	                                 : SERVE_LOG_PUMP_IDLE;
}

int serve_log_stream_heartbeat(struct serve_log_stream *s,
                               struct proto_buf *out, uint64_t commit_index,
                               uint64_t first_index, int64_t source_time_ms)
{
	if (s->ended)
		return 0;
	struct proto_log_msg m;

	if (s->phase == SERVE_LOG_PHASE_STREAM &&
	    s->next_index - 1 > commit_index)
		commit_index = s->next_index - 1;
	memset(&m, 0, sizeof m);
	m.kind = PROTO_LOG_HEARTBEAT;
	m.commit_index = commit_index;
	m.first_index = first_index;
	m.source_time_ms = source_time_ms;
	m.has_retention_headroom = s->has_headroom;
	m.retention_headroom_s = s->headroom_s;
	m.fresh = s->fresh;
	return proto_log_encode(out, &m) != 0 ? MA_ERR_NOMEM : 0;
}
