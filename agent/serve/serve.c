/* serve: the libevent glue of the source side. Access checks, output
 * buffering and backpressure, the log-stream wake-ups (inotify or
 * polling) and heartbeat timers. Owns the clock and the event loop; the
 * decisions are the sans-I/O cores': serve_request.h parses requests,
 * serve_log.h answers info and judges and reads the log, serve_snapshot.h
 * checks and frames snapshot streams. */
#include "build-config.h" /* MA_FAULT_INJECTION */

#include "agent/serve/serve.h"
#include "agent/serve/serve_log.h"
#include "agent/serve/serve_reserve.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "agent/config/config.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/parse.h"
#include "proto/proto.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_codec.h"
#include "spool/spool.h"
#include "wal/wal.h"

#define CONTENT_TYPE "application/msgpack"
/* Largest single transport write: big frames go out in pieces so that a
 * frame larger than max_unacked still fits. */
#define WRITE_PIECE_MAX (256u * 1024)
/* Bytes one pump call may produce before yielding to the loop, so one fast
 * stream cannot starve the others when max_unacked is large. */
#define PUMP_BUDGET (8u * 1024 * 1024)
/* ... and for at most this long: with zstd at a high level 8 MiB of raw
 * bytes take a second or more of CPU, which would stall every other
 * connection's timers, ACKs and log streams on the loop. */
#define PUMP_TIME_US 10000
/* A stream's output buffer above this size is released once drained. */
#define OUT_RETAIN_MAX (2u * 1024 * 1024)
/* The database tail (last index) is looked up at most this often. */
#define TAIL_REFRESH_MS 10
/* Idle wal readers kept per database for the next log stream: opening a
 * reader scans the first segment and seeking scans the target one (every
 * record read and CRC-checked, on the loop), while a kept reader is
 * listed and indexed already, so a mirror reconnecting to the tail costs
 * no scan. Each holds one descriptor. */
#define IDLE_READERS_MAX 4
/* How often the retention headroom's inputs are sampled (serve_reserve.h). */
#define RATE_SAMPLE_MS 5000
/* transport_server_config.max_unacked default (transport.h). */
#define TRANSPORT_MAX_UNACKED_DEFAULT (4u << 20)

enum stream_kind { STREAM_PLAIN, STREAM_SNAPSHOT, STREAM_LOG };

struct db;

struct stream {
	struct serve *sv;
	struct db *db;
	struct transport_request *req; /* NULL once closed */
	struct stream *next, *prev;    /* serve.streams */
	struct stream *lnext, *lprev;  /* db.log_streams */
	enum stream_kind kind;
	struct proto_buf out; /* encoded, not yet accepted by transport */
	size_t out_off;
	bool blocked; /* write returned MA_ERR_AGAIN: wait for on_writable */
	bool ending;  /* end the response once out is drained */
	bool ended;   /* ended or aborted: produce nothing more */
	bool dead;    /* on_request_closed ran */
	int busy;     /* nesting of our own frames using the stream */
	struct event *resume_ev;
	char peer[CONFIG_IDENTITY_MAX + 1]; /* whole: grants match exactly */
	/* snapshot */
	struct serve_snapshot snap;
	/* log */
	struct serve_log_stream log;
	struct event *hb_ev;
	bool hb_due, need_refresh;
	/* Reservation refresh (serve_reserve.h): when it was last
	 * considered, the index written, and the index sent by then (written
	 * at the next refresh if the stream moved). */
	uint64_t resv_ms, resv_written, resv_next;
	/* Observability (serve_mirror_stat): when the request arrived, the
	 * last sign of life from the mirror (the request, or bytes of this
	 * stream it acknowledged since the previous look), body bytes the
	 * transport accepted and the acknowledged count seen last. */
	uint64_t opened_ms, contact_ms, written, acked_seen;
};

struct db {
	struct serve *sv;
	char *name, *dir;
	/* The tap's freshness record as last read (db_freshness): read at
	 * most once per SPOOL_FRESHNESS_INTERVAL_MS, the tap's own write
	 * cadence, however many answers and heartbeats carry it. */
	struct spool_freshness fresh;
	int fresh_rc; /* 0, MA_ERR_NOTFOUND or the read error */
	uint64_t fresh_read_ms;
	bool fresh_read;
	char wal_dir[PATH_MAX], snap_dir[PATH_MAX];
	struct proto_identity id;
	struct wal_identity wid;
	struct snapshot_store *store;
	/* Follows the end of the log for commit_index / commit_term. */
	struct wal_reader *tail;
	struct serve_log_tail end;
	uint64_t tail_ms;
	bool tail_ok;
	/* Wake-ups for log streams: inotify on the wal dir, else a timer. */
	int watch_fd;
	struct event *wake_ev;
	struct stream *log_streams;
	unsigned nlog;
	struct wal_reader *idle[IDLE_READERS_MAX];
	unsigned nidle;
	bool resv_failed; /* a reservation could not be queued (logged once) */
	/* Retention headroom (serve_reserve.h): the budget the tap
	 * published, the wal's segments and its write rate, sampled every
	 * RATE_SAMPLE_MS. */
	bool has_budget;
	struct spool_reserve_budget budget;
	struct spool_segment *segs;
	size_t nsegs;
	uint64_t rate_ms, rate_index, bytes_per_s;
};

struct grant {
	char *identity;
	char **dbs;
	size_t n;
};

struct serve {
	struct event_base *base;
	struct transport_server *srv;
	struct db *dbs;
	size_t ndbs;
	struct grant *grants;
	size_t ngrants;
	size_t chunk_size, batch, piece;
	int compression_level; /* 0: off */
	uint32_t heartbeat_ms;
	enum serve_fault fault;
	struct stream *streams;
	unsigned nstreams;
	struct serve_limits limits;
	uint32_t lease_ms;
	struct event *lease_ev; /* checks snapshot leases */
	struct event *resv_ev;  /* reports the reservations */
	/* Writes reservations off the loop (serve_reserve.h). */
	struct serve_reserve_writer *resv_writer;
	uint64_t reader_opens;        /* wal readers opened for log streams */
	struct serve_refused refused; /* requests refused, by reason */
};

/* ---- database tail ---- */

/* Refreshes db->end (rate-limited). */
static int tail_update(struct db *db, char *errmsg)
{
	uint64_t now = clock_mono_ms();
	int rc = 0;

	if (db->tail_ok && now - db->tail_ms < TAIL_REFRESH_MS)
		return 0;
	/* A segment removed between listing and loading reads as
	 * NOTFOUND/IO: list again a few times before giving up. */
	for (int attempt = 0; attempt < 3; attempt++) {
		rc = wal_reader_refresh(db->tail, errmsg);
		if (rc == 0)
			rc = serve_log_tail_locate(db->tail, &db->end, errmsg);
		if (rc == 0)
			break;
	}
	if (rc != 0) {
		db->tail_ok = false;
		return rc;
	}
	db->tail_ok = true;
	db->tail_ms = now;
	return 0;
}

/* ---- output ---- */

static void stream_free(struct stream *st);
static void stream_pump(struct stream *st);
static void db_wake_arm(struct db *db);

static void stream_enter(struct stream *st)
{
	st->busy++;
}

static void stream_leave(struct stream *st)
{
	if (--st->busy == 0 && st->dead)
		stream_free(st);
}

static void stream_stop_events(struct stream *st)
{
	if (st->hb_ev != NULL)
		event_del(st->hb_ev);
	if (st->resume_ev != NULL)
		event_del(st->resume_ev);
}

/* Resets the stream: used when a response cannot be completed (snapshot
 * file changed, write failure). on_request_closed follows. */
static void stream_fail(struct stream *st)
{
	if (st->ended || st->req == NULL)
		return;
	st->ended = true;
	stream_stop_events(st);
	transport_response_abort(st->req);
}

/* Hands buffered bytes to the transport. Returns 0 when everything was
 * accepted (and ends the response if it was ending), MA_ERR_AGAIN when
 * the stream is now blocked, or another error after failing the stream. */
static int flush(struct stream *st)
{
	struct serve *sv = st->sv;
	int rc;

	if (st->dead || st->req == NULL)
		return MA_ERR_TRANSPORT;
	while (st->out_off < st->out.len) {
		size_t n = st->out.len - st->out_off;

		if (n > sv->piece)
			n = sv->piece;
		rc = transport_response_write(st->req,
		                              st->out.data + st->out_off, n);
		if (st->dead)
			return MA_ERR_TRANSPORT;
		if (rc == 0) {
			st->out_off += n;
			st->written += n;
			if (st->kind == STREAM_SNAPSHOT)
				serve_snapshot_progress(&st->snap,
				                        clock_mono_ms());
			continue;
		}
		if (rc == MA_ERR_AGAIN) {
			st->blocked = true;
			return rc;
		}
		log_warn("serve: %s: write to %s failed: %s; resetting the "
		         "stream",
		         transport_request_path(st->req), st->peer,
		         ma_strerror(rc));
		stream_fail(st);
		return rc;
	}
	st->out_off = 0;
	if (st->out.cap > OUT_RETAIN_MAX)
		proto_buf_free(&st->out);
	else
		proto_buf_clear(&st->out);
	if (st->ending && !st->ended) {
		st->ended = true;
		stream_stop_events(st);
		rc = transport_response_end(st->req);
		if (rc != 0 && !st->dead) {
			log_warn("serve: cannot end response to %s: %s",
			         st->peer, ma_strerror(rc));
			transport_response_abort(st->req);
		}
	}
	return 0;
}

static void encode_failed(struct stream *st)
{
	log_error("serve: out of memory encoding a response to %s", st->peer);
	stream_fail(st);
}

/* Logs why a log stream ended (its `x` frame is queued) and lets the
 * response end once the output is drained. */
static void log_ended(struct stream *st, const struct serve_log_pump_note *n,
                      const char *detail)
{
	if (n->internal)
		log_error("serve: log stream of %s for %s ends: %s (%s)",
		          st->db->name, st->peer, n->message, detail);
	else
		log_info("serve: log stream of %s for %s ends (%s): %s",
		         st->db->name, st->peer, proto_error_name(n->error),
		         n->message);
	st->ending = true;
	stream_stop_events(st);
}

/* Sends a complete error response: status and one `x` frame. */
static void respond_error(struct stream *st, int status, enum proto_error err,
                          const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void respond_error(struct stream *st, int status, enum proto_error err,
                          const char *fmt, ...)
{
	struct proto_log_msg m;
	va_list ap;

	memset(&m, 0, sizeof m);
	m.kind = PROTO_LOG_ERROR;
	m.error = err;
	va_start(ap, fmt);
	vsnprintf(m.message, sizeof m.message, fmt, ap);
	va_end(ap);
	log_info("serve: %s %s -> %d %s: %s", st->peer,
	         transport_request_path(st->req), status, proto_error_name(err),
	         m.message);
	st->kind = STREAM_PLAIN;
	if (transport_response_start(st->req, status, CONTENT_TYPE) != 0) {
		stream_fail(st);
		return;
	}
	if (proto_log_encode(&st->out, &m) != 0) {
		encode_failed(st);
		return;
	}
	st->ending = true;
	flush(st);
}

/* ---- access ---- */

/* The rule itself is config_access_grant_allows(), shared with the
 * configuration's [access] sections so that what check-config and the
 * tests say is what serve does. */
static bool allowed(const struct serve *sv, const char *peer, const char *db)
{
	for (size_t i = 0; i < sv->ngrants; i++) {
		const struct grant *g = &sv->grants[i];

		if (config_access_grant_allows(g->identity,
		                               (const char *const *)g->dbs,
		                               g->n, peer, db))
			return true;
	}
	return false;
}

static struct db *db_find(struct serve *sv, const char *name)
{
	for (size_t i = 0; i < sv->ndbs; i++) {
		if (strcmp(sv->dbs[i].name, name) == 0)
			return &sv->dbs[i];
	}
	return NULL;
}

/* ---- info ---- */

/* The tap's freshness record of db's spool, as the wire carries it; an
 * absent or unreadable one is "unknown" (a hint: logged at debug). */
static void db_freshness(struct db *db, struct proto_freshness *out)
{
	uint64_t now = clock_mono_ms();

	if (!db->fresh_read ||
	    now >= db->fresh_read_ms + SPOOL_FRESHNESS_INTERVAL_MS) {
		char em[MA_ERRMSG_SIZE];

		db->fresh_rc = spool_freshness_read(db->dir, &db->fresh, em);
		if (db->fresh_rc != 0 && db->fresh_rc != MA_ERR_NOTFOUND)
			log_debug("serve: %s: %s", db->name, em);
		db->fresh_read_ms = now;
		db->fresh_read = true;
	}
	/* Aged by the clock of this answer, not of the read. */
	serve_log_freshness(db->fresh_rc == 0 ? &db->fresh : NULL,
	                    (int64_t)clock_wall_ms(), out);
}

static void handle_info(struct stream *st)
{
	struct db *db = st->db;
	char em[MA_ERRMSG_SIZE];
	struct proto_info info;
	int rc;

	rc = tail_update(db, em);
	if (rc != 0) {
		log_error("serve: %s: cannot read the log: %s", db->name, em);
		respond_error(st, 503, PROTO_ERROR_INTERNAL,
		              "cannot read the log of %s", db->name);
		return;
	}
	rc = serve_log_info_build(db->store, db->tail, &db->end, &db->id,
	                          (int64_t)clock_wall_ms(), &info, em);
	if (rc != 0) {
		log_error("serve: %s: cannot list snapshots: %s", db->name, em);
		respond_error(st, 503, PROTO_ERROR_INTERNAL,
		              "cannot list the snapshots of %s", db->name);
		return;
	}
	db_freshness(db, &info.fresh);
	if (st->sv->compression_level > 0)
		info.snapshot_encodings = SNAPSHOT_ENCODINGS_ZSTD;
	if (transport_response_start(st->req, 200, CONTENT_TYPE) != 0) {
		stream_fail(st);
		return;
	}
	if (proto_info_encode(&st->out, &info) != 0) {
		encode_failed(st);
		return;
	}
	st->ending = true;
	flush(st);
}

/* ---- snapshot ---- */

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream *st = arg;

	(void)fd;
	(void)what;
	stream_pump(st);
}

static void schedule_resume(struct stream *st)
{
	struct timeval zero = {0, 0};

	if (st->resume_ev == NULL) {
		st->resume_ev = evtimer_new(st->sv->base, resume_cb, st);
		if (st->resume_ev == NULL) {
			stream_fail(st);
			return;
		}
	}
	if (event_add(st->resume_ev, &zero) != 0) {
		/* Without the wake-up the stream would stall for good. */
		log_error("serve: cannot schedule the stream to %s; resetting "
		          "it",
		          st->peer);
		stream_fail(st);
	}
}

static void snapshot_pump(struct stream *st)
{
	char em[MA_ERRMSG_SIZE];
	size_t produced = 0;
	uint64_t started = clock_mono_us();
	bool injected;
	int rc;

	for (;;) {
		if (flush(st) != 0 || st->ended)
			return;
		if (st->ending) /* done queued and flushed: flush ended it */
			return;
		if (produced >= PUMP_BUDGET ||
		    (produced > 0 &&
		     clock_mono_us() - started >= PUMP_TIME_US)) {
			schedule_resume(st);
			return;
		}
		rc = serve_snapshot_next(&st->snap, &st->out, &produced,
		                         &injected, em);
		if (injected)
			log_warn("serve: fault %s injected into the snapshot "
			         "stream of %s",
			         serve_fault_name(st->snap.fault),
			         st->db->name);
		if (rc == 1)
			continue;
		if (rc == 0) {
			/* Everything is encoded: the file and its pin are
			 * no longer needed while the last bytes drain. */
			if (st->snap.codec != NULL)
				log_info("serve: snapshot %" PRIu64 "-%" PRIu64
				         " of %s to %s: %" PRIu64
				         " bytes in %" PRIu64
				         " on the wire (zstd level %d)",
				         st->snap.index, st->snap.term,
				         st->db->name, st->peer,
				         st->snap.raw_bytes,
				         st->snap.wire_bytes, st->snap.level);
			serve_snapshot_close(&st->snap);
		}
		if (rc == 0 && injected) {
			st->ending = true;
			continue;
		}
		if (rc == 0 && st->snap.corrupt) {
			log_error("serve: snapshot %" PRIu64 "-%" PRIu64
			          " of %s is corrupt: %s; told %s so",
			          st->snap.index, st->snap.term, st->db->name,
			          em, st->peer);
			st->ending = true;
			continue;
		}
		if (rc == 0) {
			st->ending = true;
			log_info("serve: snapshot %" PRIu64 "-%" PRIu64
			         " of %s sent to %s",
			         st->snap.index, st->snap.term, st->db->name,
			         st->peer);
			continue;
		}
		if (rc == MA_ERR_CORRUPT)
			log_error("serve: snapshot %" PRIu64 "-%" PRIu64
			          " of %s changed while being sent to %s: %s; "
			          "resetting the stream",
			          st->snap.index, st->snap.term, st->db->name,
			          st->peer, em);
		else
			log_error("serve: snapshot %" PRIu64 "-%" PRIu64
			          " of %s: %s; resetting the stream",
			          st->snap.index, st->snap.term, st->db->name,
			          em);
		stream_fail(st);
		return;
	}
}

static void handle_snapshot(struct stream *st, const struct serve_request *rq)
{
	struct db *db = st->db;
	struct serve_refusal ref;
	enum serve_fault fault = SERVE_FAULT_NONE;
	char em[MA_ERRMSG_SIZE];
	int rc;

#ifdef MA_FAULT_INJECTION
	fault = st->sv->fault;
#endif
	rc = serve_snapshot_open(&st->snap, db->store, &db->id, rq->index,
	                         rq->term, rq->offset, st->sv->chunk_size,
	                         fault, &ref, em);
	if (rc != 0) {
		if (ref.status == 503)
			log_error("serve: %s: %s", db->name, em);
		else if (rc == MA_ERR_CORRUPT)
			log_warn("serve: %s: %s", db->name, em);
		respond_error(st, ref.status, ref.error, "%s", ref.message);
		return;
	}
	serve_snapshot_progress(&st->snap, clock_mono_ms());
	if ((rq->encodings & SNAPSHOT_ENCODINGS_ZSTD) != 0 &&
	    st->sv->compression_level > 0) {
		rc = serve_snapshot_compress(&st->snap,
		                             st->sv->compression_level, em);
		if (rc != 0) {
			log_error("serve: %s: %s", db->name, em);
			serve_snapshot_close(&st->snap);
			respond_error(st, 503, PROTO_ERROR_INTERNAL,
			              "cannot compress the snapshot of %s",
			              db->name);
			return;
		}
	}
	log_info("serve: sending snapshot %" PRIu64 "-%" PRIu64
	         " of %s (%" PRIu64 " bytes) from offset %" PRIu64
	         " to %s, %s chunks",
	         rq->index, rq->term, db->name, st->snap.size, rq->offset,
	         st->peer, st->snap.codec != NULL ? "zstd" : "raw");
	if (transport_response_start(st->req, 200, CONTENT_TYPE) != 0) {
		stream_fail(st);
		return;
	}
	st->kind = STREAM_SNAPSHOT;
	snapshot_pump(st);
}

/* ---- log ---- */

static uint64_t tail_first(struct db *db)
{
	return wal_reader_first_index(db->tail);
}

/* Samples the budget, the wal's segments and its write rate (bytes/s:
 * entries/s since the last sample x the wal's bytes per entry). */
static void retention_sample(struct db *db)
{
	uint64_t now = clock_mono_ms(), last = db->end.last_index, total = 0;
	char rdir[PATH_MAX];
	struct spool_segment *segs = NULL;
	size_t nsegs = 0;

	if (db->rate_ms != 0 && now - db->rate_ms < RATE_SAMPLE_MS)
		return;
	db->has_budget =
	    spool_reserve_dir(rdir, sizeof rdir, db->dir) == 0 &&
	    spool_reserve_budget_read(rdir, &db->budget, NULL) == 0;
	if (spool_wal_segments(db->wal_dir, &segs, &nsegs, NULL) == 0) {
		free(db->segs);
		db->segs = segs;
		db->nsegs = nsegs;
	}
	for (size_t i = 0; i < db->nsegs; i++)
		total += db->segs[i].bytes;
	if (db->rate_ms != 0 && db->nsegs > 0 && last >= db->rate_index &&
	    last >= db->segs[0].first_index) {
		uint64_t per_entry =
		    total / (last - db->segs[0].first_index + 1);

		db->bytes_per_s = (last - db->rate_index) * per_entry * 1000 /
		                  (now - db->rate_ms);
	}
	db->rate_ms = now;
	db->rate_index = last;
}

static void append_heartbeat(struct stream *st)
{
	struct db *db = st->db;
	char em[MA_ERRMSG_SIZE];

	if (tail_update(db, em) != 0)
		log_warn("serve: %s: cannot find the end of the log: %s",
		         db->name, em);
	st->hb_due = false;
	retention_sample(db);
	/* If the mirror left now, its reservation would hold the wal from
	 * what it was sent on (the age starts at 0). */
	st->log.has_headroom = db->has_budget && st->log.next_index > 0;
	if (db->has_budget && st->log.next_index > 0)
		st->log.headroom_s = spool_reserve_headroom_s(
		    &db->budget, 0,
		    serve_reserve_bytes_from(db->segs, db->nsegs,
		                             st->log.next_index - 1),
		    db->bytes_per_s);
	db_freshness(db, &st->log.fresh);
	if (serve_log_stream_heartbeat(&st->log, &st->out, db->end.last_index,
	                               tail_first(db),
	                               (int64_t)clock_wall_ms()) != 0)
		encode_failed(st);
}

/* Moves the log stream on (serve_log_stream_pump: check, seek, entries,
 * the final frame), in batches of sv->batch bytes, yielding to the loop
 * after PUMP_BUDGET bytes or when the transport is blocked. */
static void log_pump(struct stream *st)
{
	struct serve_log_pump_note note;
	char em[MA_ERRMSG_SIZE];
	size_t produced = 0, bytes;
	bool refresh;
	int rc;

	if (flush(st) != 0 || st->ended || st->ending)
		return;
	if (st->hb_due)
		append_heartbeat(st);
	refresh = st->need_refresh;
	st->need_refresh = false;
	for (;;) {
		em[0] = '\0';
		rc = serve_log_stream_pump(&st->log, &st->out, st->sv->batch,
		                           refresh, &bytes, &note, em);
		refresh = false;
		produced += bytes;
		if (rc < 0) {
			encode_failed(st);
			return;
		}
		if (note.behind_first)
			log_info("serve: %s: %s: %s", st->db->name, st->peer,
			         note.message);
		if (rc == SERVE_LOG_PUMP_ENDED) {
			log_ended(st, &note, em);
			break;
		}
		if (rc == SERVE_LOG_PUMP_IDLE)
			break;
		/* SERVE_LOG_PUMP_MORE: a batch is ready. */
		if (flush(st) != 0 || st->ended)
			return;
		if (produced >= PUMP_BUDGET) {
			schedule_resume(st);
			return;
		}
	}
	flush(st);
}

/* Records st's mirror as holding index durably (serve_reserve.h): queued
 * for the writer thread, so the loop never waits for the write and its
 * fsyncs. A failure leaves the mirror to the tap's trailing margin:
 * serving goes on, and the writer logs the first failure. */
static void reserve(struct stream *st, uint64_t index)
{
	char em[MA_ERRMSG_SIZE];
	int rc = serve_reserve_writer_post(st->sv->resv_writer, st->db->dir,
	                                   st->peer, st->db->name, index,
	                                   clock_wall_ms(), em);

	if (rc != 0 && !st->db->resv_failed) {
		st->db->resv_failed = true;
		log_warn("serve: %s: cannot record the retention reservation "
		         "of %s (the source's retention will not wait for "
		         "it): %s",
		         st->db->name, st->peer, em);
	}
}

static void hb_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream *st = arg;
	uint64_t now = clock_mono_ms();

	(void)fd;
	(void)what;
	if (st->req != NULL && !st->dead) {
		uint64_t acked =
		    st->written - transport_response_unacked(st->req);

		if (acked > st->acked_seen) {
			st->acked_seen = acked;
			st->contact_ms = now;
		}
	}
	/* Only a stream that moved refreshes its reservation: serve learns
	 * that a mirror went away only at the idle timeout, and a stream
	 * that sends nothing must not keep an absent mirror's reservation
	 * young (the budget's age is how long a mirror may be away). */
	if (st->kind == STREAM_LOG && !st->ended && !st->log.ended &&
	    now - st->resv_ms >= SERVE_RESERVE_REFRESH_MS) {
		if (st->resv_next > st->resv_written) {
			reserve(st, st->resv_next);
			st->resv_written = st->resv_next;
		}
		st->resv_ms = now;
		if (st->log.next_index > 0)
			st->resv_next = st->log.next_index - 1;
	}
	st->hb_due = true;
	st->need_refresh = true;
	if (!st->blocked)
		stream_pump(st);
}

static void db_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db *db = arg;
	struct stream *st, *next;

	(void)what;
	if (fd >= 0) {
		wal_notify_drain(fd);
	} else if (db->watch_fd < 0) {
		/* The wal dir may exist by now: switch to inotify. */
		int wfd = wal_reader_watch_fd(db->tail, NULL);

		if (wfd >= 0) {
			event_free(db->wake_ev);
			db->wake_ev = NULL;
			db->watch_fd = wfd;
			db_wake_arm(db);
		}
	}
	db->tail_ok = false;
	for (st = db->log_streams; st != NULL; st = next) {
		next = st->lnext;
		st->need_refresh = true;
		if (!st->blocked)
			stream_pump(st);
	}
}

/* Creates (once) and adds the wake-up event while log streams exist. */
static void db_wake_arm(struct db *db)
{
	struct serve *sv = db->sv;
	int rc;

	if (db->wake_ev == NULL) {
		if (db->watch_fd >= 0)
			db->wake_ev =
			    event_new(sv->base, db->watch_fd,
			              EV_READ | EV_PERSIST, db_wake_cb, db);
		else
			db->wake_ev =
			    event_new(sv->base, -1, EV_PERSIST, db_wake_cb, db);
		if (db->wake_ev == NULL) {
			log_error("serve: %s: cannot create an event; log "
			          "streams fall back to heartbeat ticks",
			          db->name);
			return;
		}
	}
	if (db->watch_fd >= 0) {
		rc = event_add(db->wake_ev, NULL);
	} else {
		struct timeval tv = clock_tv_from_ms(WAL_READER_POLL_MS);

		rc = event_add(db->wake_ev, &tv);
	}
	if (rc != 0)
		log_error("serve: %s: cannot arm the log wake-up; log streams "
		          "fall back to heartbeat ticks",
		          db->name);
}

static void handle_log(struct stream *st, const struct serve_request *rq)
{
	struct db *db = st->db;
	struct serve *sv = st->sv;
	char em[MA_ERRMSG_SIZE];
	struct timeval tv = clock_tv_from_ms(sv->heartbeat_ms);
	int rc;

	if (db->nidle > 0) {
		/* A reader an ended stream left: listed and indexed. */
		rc = serve_log_stream_open_reader(
		    &st->log, db->idle[--db->nidle], db->store, &db->id,
		    rq->from, rq->prev_term, &st->out, em);
	} else {
		/* The start frame waits in st->out until the response
		 * starts. */
		rc = serve_log_stream_open(&st->log, db->wal_dir, &db->wid,
		                           db->store, &db->id, rq->from,
		                           rq->prev_term, &st->out, em);
		if (rc == 0)
			sv->reader_opens++;
	}
	if (rc != 0) {
		log_error("serve: %s: cannot open the log: %s", db->name, em);
		respond_error(st, 503, PROTO_ERROR_INTERNAL,
		              "cannot read the log of %s", db->name);
		return;
	}
	st->hb_ev = event_new(sv->base, -1, EV_PERSIST, hb_cb, st);
	if (st->hb_ev == NULL || event_add(st->hb_ev, &tv) != 0) {
		proto_buf_clear(&st->out);
		respond_error(st, 503, PROTO_ERROR_INTERNAL, "out of memory");
		return;
	}
	st->kind = STREAM_LOG;
	st->lnext = db->log_streams;
	if (db->log_streams != NULL)
		db->log_streams->lprev = st;
	db->log_streams = st;
	if (db->nlog++ == 0)
		db_wake_arm(db);
	log_info("serve: log stream of %s from %" PRIu64 " (prev_term %" PRIu64
	         ") for %s",
	         db->name, rq->from, rq->prev_term, st->peer);
	/* The mirror holds from - 1 durably: that is its reservation. */
	reserve(st, rq->from - 1);
	st->resv_ms = clock_mono_ms();
	st->resv_written = st->resv_next = rq->from - 1;
	if (transport_response_start(st->req, 200, CONTENT_TYPE) != 0) {
		stream_fail(st);
		return;
	}
	log_pump(st);
}

/* ---- transport callbacks ---- */

static void stream_pump(struct stream *st)
{
	if (st->dead || st->ended)
		return;
	stream_enter(st);
	st->blocked = false;
	switch (st->kind) {
	case STREAM_PLAIN:
		flush(st);
		break;
	case STREAM_SNAPSHOT:
		snapshot_pump(st);
		break;
	case STREAM_LOG:
		log_pump(st);
		break;
	}
	stream_leave(st);
}

/* Source protection: counts what st's identity holds besides st and
 * refuses st past the caps (serve_limits_admit). */
static bool admit(struct stream *st, bool snapshot)
{
	struct serve *sv = st->sv;
	struct serve_refusal ref;
	unsigned streams = 0, snapshots = 0;

	for (struct stream *o = sv->streams; o != NULL; o = o->next) {
		if (o == st || o->dead || strcmp(o->peer, st->peer) != 0)
			continue;
		streams++;
		if (o->kind == STREAM_SNAPSHOT &&
		    (o->snap.pinned || o->snap.sender != NULL))
			snapshots++;
	}
	if (serve_limits_admit(&sv->limits, st->peer, streams, snapshots,
	                       snapshot, &ref) == 0)
		return true;
	sv->refused.identity_limit++;
	respond_error(st, ref.status, ref.error, "%s", ref.message);
	return false;
}

/* Resets snapshot streams whose lease lapsed (no progress for lease_ms):
 * a mirror that stopped reading must not keep its snapshot from
 * retention, nor the spool's disk from being freed (the open file). */
static void resv_cb(evutil_socket_t fd, short what, void *arg)
{
	struct serve *sv = arg;
	char em[MA_ERRMSG_SIZE];

	(void)fd;
	(void)what;
	for (size_t i = 0; i < sv->ndbs; i++)
		if (serve_reserve_report(sv->dbs[i].dir, clock_wall_ms(),
		                         sv->dbs[i].bytes_per_s, em) != 0)
			log_warn("serve: %s: reservations not reported: %s",
			         sv->dbs[i].name, em);
}

static void lease_cb(evutil_socket_t fd, short what, void *arg)
{
	struct serve *sv = arg;
	uint64_t now = clock_mono_ms();
	struct stream *st, *next;

	(void)fd;
	(void)what;
	for (st = sv->streams; st != NULL; st = next) {
		next = st->next;
		if (st->kind != STREAM_SNAPSHOT || st->dead ||
		    !serve_snapshot_lease_lapsed(&st->snap, now, sv->lease_ms))
			continue;
		log_warn("serve: snapshot %" PRIu64 "-%" PRIu64
		         " of %s for %s made no progress for %" PRIu32
		         " ms ([serve] snapshot_lease): releasing it to "
		         "retention and resetting the stream; the mirror "
		         "resumes from its durable offset",
		         st->snap.index, st->snap.term,
		         st->db != NULL ? st->db->name : "?", st->peer,
		         sv->lease_ms);
		stream_enter(st);
		serve_snapshot_close(&st->snap);
		stream_fail(st);
		/* stream_leave may free st; next was taken before. */
		stream_leave(st);
	}
}

static void dispatch(struct stream *st)
{
	struct serve *sv = st->sv;
	const char *method = transport_request_method(st->req);
	const char *path = transport_request_path(st->req);
	struct serve_request rq;
	char msg[MA_ERRMSG_SIZE];

	if (serve_request_parse(method, path, &rq, msg) != 0) {
		sv->refused.bad_request++;
		respond_error(st, 400, PROTO_ERROR_BAD_REQUEST, "%s", msg);
		return;
	}
	if (!allowed(sv, st->peer, rq.database)) {
		sv->refused.forbidden++;
		respond_error(st, 403, PROTO_ERROR_FORBIDDEN,
		              "client '%s' may not read database '%s'",
		              st->peer, rq.database);
		return;
	}
	st->db = db_find(sv, rq.database);
	if (st->db == NULL) {
		sv->refused.not_found++;
		respond_error(st, 404, PROTO_ERROR_NOT_FOUND,
		              "database '%s' is not served here", rq.database);
		return;
	}
	if (!admit(st, rq.kind == SERVE_REQUEST_SNAPSHOT))
		return;
	switch (rq.kind) {
	case SERVE_REQUEST_INFO:
		handle_info(st);
		break;
	case SERVE_REQUEST_SNAPSHOT:
		handle_snapshot(st, &rq);
		break;
	case SERVE_REQUEST_LOG:
		handle_log(st, &rq);
		break;
	}
}

static void on_request(struct transport_request *req, void *user)
{
	struct serve *sv = user;
	struct stream *st = calloc(1, sizeof *st);
	const char *peer;

	if (st == NULL) {
		log_error("serve: out of memory for a request");
		transport_response_abort(req);
		return;
	}
	st->sv = sv;
	st->req = req;
	st->opened_ms = st->contact_ms = clock_mono_ms();
	peer = transport_request_peer(req);
	snprintf(st->peer, sizeof st->peer, "%s", peer != NULL ? peer : "");
	proto_buf_init(&st->out);
	st->next = sv->streams;
	if (sv->streams != NULL)
		sv->streams->prev = st;
	sv->streams = st;
	sv->nstreams++;
	transport_request_set_user(req, st);
	log_debug("serve: %s GET %s", st->peer, transport_request_path(req));
	stream_enter(st);
	dispatch(st);
	stream_leave(st);
}

static void on_writable(struct transport_request *req, void *user)
{
	struct stream *st = transport_request_get_user(req);

	(void)user;
	if (st != NULL)
		stream_pump(st);
}

static void on_request_closed(struct transport_request *req, int error,
                              void *user)
{
	struct stream *st = transport_request_get_user(req);

	(void)user;
	if (st == NULL)
		return;
	if (error != 0 && st->kind != STREAM_PLAIN && !st->ended)
		log_info("serve: %s stream of %s for %s closed by the peer "
		         "or the connection",
		         st->kind == STREAM_LOG ? "log" : "snapshot",
		         st->db != NULL ? st->db->name : "?", st->peer);
	st->req = NULL;
	st->dead = true;
	st->ended = true;
	if (st->busy == 0)
		stream_free(st);
}

static void stream_free(struct stream *st)
{
	struct serve *sv = st->sv;
	struct db *db = st->db;

	if (st->kind == STREAM_LOG && db != NULL &&
	    (st->lprev != NULL || db->log_streams == st)) {
		if (st->lprev != NULL)
			st->lprev->lnext = st->lnext;
		else
			db->log_streams = st->lnext;
		if (st->lnext != NULL)
			st->lnext->lprev = st->lprev;
		if (--db->nlog == 0 && db->wake_ev != NULL)
			event_del(db->wake_ev);
	}
	if (st->prev != NULL)
		st->prev->next = st->next;
	else
		sv->streams = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	sv->nstreams--;
	if (st->hb_ev != NULL)
		event_free(st->hb_ev);
	if (st->resume_ev != NULL)
		event_free(st->resume_ev);
	if (st->kind == STREAM_LOG && db != NULL &&
	    db->nidle < IDLE_READERS_MAX) {
		struct wal_reader *r = serve_log_stream_take_reader(&st->log);

		if (r != NULL)
			db->idle[db->nidle++] = r;
	}
	serve_log_stream_close(&st->log);
	serve_snapshot_close(&st->snap);
	proto_buf_free(&st->out);
	free(st);
}

/* ---- setup ---- */

static enum transport_cc cc_from_config(int cc)
{
	switch (cc) {
	case CONFIG_CC_RENO:
		return TRANSPORT_CC_RENO;
	case CONFIG_CC_BBR:
		return TRANSPORT_CC_BBR;
	case CONFIG_CC_BBR2:
		return TRANSPORT_CC_BBR2;
	default:
		return TRANSPORT_CC_CUBIC;
	}
}

void serve_options_init(struct serve_options *opts,
                        const struct config_serve *cs)
{
	struct config_serve defaults;

	memset(opts, 0, sizeof *opts);
	if (cs == NULL) {
		config_serve_defaults(&defaults);
		cs = &defaults;
	}
	opts->chunk_size = (size_t)cs->chunk_size;
	opts->compression_level = (int)cs->snapshot_compression_level;
	opts->heartbeat_ms = (uint32_t)cs->heartbeat_interval_ms;
	opts->log_batch_bytes = (size_t)cs->log_batch_bytes;
	opts->max_unacked = (size_t)cs->max_unacked_bytes;
	opts->max_connections = (uint32_t)cs->max_connections;
	opts->max_streams = (uint32_t)cs->max_streams_per_connection;
	opts->max_handshakes = (uint32_t)cs->max_handshakes;
	opts->max_handshakes_per_addr =
	    (uint32_t)cs->max_handshakes_per_address;
	opts->handshake_timeout_ms = (uint32_t)cs->handshake_timeout_ms;
	opts->tuning.idle_timeout_ms = (uint32_t)cs->idle_timeout_ms;
	opts->tuning.max_data = cs->connection_window;
	opts->tuning.max_stream_data = cs->stream_window;
	opts->tuning.cc = cc_from_config(cs->congestion_control);
	if (cs->congestion_control == CONFIG_CC_BBR2)
		log_info("serve: congestion_control = bbr2 is an alias of bbr "
		         "since ngtcp2 1.x, which has one BBR; say bbr");
	opts->max_streams_per_identity = (uint32_t)cs->max_streams_per_identity;
	opts->max_snapshot_streams_per_identity =
	    (uint32_t)cs->max_snapshot_streams_per_identity;
	opts->snapshot_lease_ms = (uint32_t)cs->snapshot_lease_ms;
}

static int db_open(struct db *db, char *errmsg)
{
	char em[MA_ERRMSG_SIZE];
	int rc;

	rc = spool_identity_read(db->dir, &db->id, em);
	if (rc == MA_ERR_NOTFOUND)
		return ma_errorf(errmsg, rc,
		                 "database %s: spool %s has no identity file "
		                 "(has the tap written it yet?): %s",
		                 db->name, db->dir, em);
	if (rc != 0)
		return ma_errorf(errmsg, rc, "database %s: %s", db->name, em);
	if (strcmp(db->id.database_id, db->name) != 0)
		return ma_errorf(errmsg, MA_ERR_IDENTITY,
		                 "database %s: spool %s belongs to database "
		                 "'%s'; fix the --database mapping",
		                 db->name, db->dir, db->id.database_id);
	/* A promotion committed but not finished (mirror-agent promote
	 * stopped before writing the new identity) is neither the old
	 * source nor the new one yet. */
	struct spool_promoted pr;
	rc = spool_promoted_read(db->dir, &pr, em);
	if (rc == 0 && !spool_promoted_complete(&pr, &db->id))
		return ma_errorf(errmsg, MA_ERR_IDENTITY,
		                 "database %s: the promotion of %s is not "
		                 "finished; run `mirror-agent promote` on it "
		                 "again",
		                 db->name, db->dir);
	if (rc != 0 && rc != MA_ERR_NOTFOUND)
		return ma_errorf(errmsg, rc, "database %s: %s", db->name, em);
	if (wal_identity_init(&db->wid, db->id.cluster_id, db->id.database_id,
	                      em) != 0)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "database %s: spool %s identity has a "
		                 "cluster_id that is not a UUID (%s): %s",
		                 db->name, db->dir, db->id.cluster_id, em);
	if (spool_path(db->wal_dir, sizeof db->wal_dir, db->dir,
	               SPOOL_WAL_DIR) != 0 ||
	    spool_path(db->snap_dir, sizeof db->snap_dir, db->dir,
	               SPOOL_SNAPSHOT_DIR) != 0)
		return ma_errorf(errmsg, MA_ERR_CONFIG,
		                 "database %s: spool path %s too long",
		                 db->name, db->dir);
	/* serve changes nothing in a spool (the unit mounts spools
	 * read-only): no store.lock, no sweep. */
	rc = snapshot_store_open_readonly(db->snap_dir, &db->store, em);
	if (rc != 0)
		return ma_errorf(errmsg, rc, "database %s: %s", db->name, em);
	rc = wal_reader_open(db->wal_dir, &db->wid, &db->tail, em);
	if (rc != 0)
		return ma_errorf(errmsg, rc, "database %s: %s", db->name, em);
	rc = tail_update(db, em);
	if (rc != 0)
		return ma_errorf(errmsg, rc, "database %s: %s", db->name, em);
	db->watch_fd = wal_reader_watch_fd(db->tail, em);
	if (db->watch_fd < 0) {
		db->watch_fd = -1;
		log_info("serve: %s: %s", db->name, em);
	}
	log_info("serve: database %s (cluster %s, epoch %" PRIu64
	         ") from %s: log %" PRIu64 "..%" PRIu64,
	         db->name, db->id.cluster_id, db->id.epoch, db->dir,
	         wal_reader_first_index(db->tail), db->end.last_index);
	return 0;
}

static void db_close(struct db *db)
{
	free(db->segs);
	if (db->wake_ev != NULL)
		event_free(db->wake_ev);
	wal_reader_close(db->tail);
	for (unsigned i = 0; i < db->nidle; i++)
		wal_reader_close(db->idle[i]);
	snapshot_store_close(db->store);
	free(db->name);
	free(db->dir);
}

static void grants_free(struct grant *g, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < g[i].n; j++)
			free(g[i].dbs[j]);
		free(g[i].dbs);
		free(g[i].identity);
	}
	free(g);
}

static int check_grants(const struct serve_grant *grants, size_t ngrants,
                        bool allow_any_identity,
                        bool (*served)(const void *ctx, const char *name),
                        const void *ctx, char *errmsg);

static bool option_serves(const void *ctx, const char *name)
{
	const struct serve_options *o = ctx;

	for (size_t k = 0; k < o->ndatabases; k++) {
		if (strcmp(o->databases[k].name, name) == 0)
			return true;
	}
	return false;
}

static bool sv_serves(const void *ctx, const char *name)
{
	return db_find((struct serve *)ctx, name) != NULL;
}

static int check_options(const struct serve_options *o, char *errmsg)
{
	if (o->cert_file == NULL || o->key_file == NULL ||
	    o->client_ca_file == NULL)
		return ma_errorf(errmsg, MA_ERR_CONFIG,
		                 "a certificate, its key and the client CA "
		                 "are required (mutual TLS)");
	if (o->ndatabases == 0)
		return ma_errorf(errmsg, MA_ERR_CONFIG,
		                 "no database to serve: give at least one");
	/* Ranges of the tuning values are agent/config's (one table);
	 * this is the bound of the chunk buffer, which no caller may pass. */
	if (o->chunk_size > SNAPSHOT_CHUNK_MAX)
		return ma_errorf(errmsg, MA_ERR_CONFIG,
		                 "chunk size %zu above the buffer bound %d",
		                 o->chunk_size, SNAPSHOT_CHUNK_MAX);
	for (size_t i = 0; i < o->ndatabases; i++) {
		const struct serve_database *d = &o->databases[i];

		if (d->name == NULL || !parse_name_valid_str(d->name))
			return ma_errorf(errmsg, MA_ERR_CONFIG,
			                 "bad database name '%s' (want "
			                 "[A-Za-z0-9._-]{1,64})",
			                 d->name != NULL ? d->name : "");
		if (d->spool_dir == NULL || d->spool_dir[0] == '\0')
			return ma_errorf(errmsg, MA_ERR_CONFIG,
			                 "database %s: no spool directory",
			                 d->name);
		for (size_t j = 0; j < i; j++) {
			if (strcmp(o->databases[j].name, d->name) == 0)
				return ma_errorf(errmsg, MA_ERR_CONFIG,
				                 "database %s configured "
				                 "twice",
				                 d->name);
		}
	}
	if (o->compression_level < 0 ||
	    o->compression_level > SNAPSHOT_LEVEL_MAX)
		return ma_errorf(errmsg, MA_ERR_CONFIG,
		                 "snapshot_compression_level %d outside 0..%d "
		                 "(0: off)",
		                 o->compression_level, SNAPSHOT_LEVEL_MAX);
	return check_grants(o->grants, o->ngrants, o->allow_any_identity,
	                    option_serves, o, errmsg);
}

/* The grants' own checks, shared by serve_new and serve_set_grants;
 * served(ctx, name) says whether a database name is configured. */
static int check_grants(const struct serve_grant *grants, size_t ngrants,
                        bool allow_any_identity,
                        bool (*served)(const void *ctx, const char *name),
                        const void *ctx, char *errmsg)
{
	for (size_t i = 0; i < ngrants; i++) {
		const struct serve_grant *g = &grants[i];

		if (g->identity == NULL || g->identity[0] == '\0')
			return ma_errorf(errmsg, MA_ERR_CONFIG,
			                 "grant %zu has an empty identity",
			                 i + 1);
		if (strcmp(g->identity, "*") == 0 && !allow_any_identity)
			return ma_errorf(errmsg, MA_ERR_CONFIG,
			                 "grant for identity '*' (any client) "
			                 "is only allowed in tests");
		if (g->ndatabases == 0)
			return ma_errorf(errmsg, MA_ERR_CONFIG,
			                 "grant for %s names no database",
			                 g->identity);
		for (size_t j = 0; j < g->ndatabases; j++) {
			const char *name = g->databases[j];
			bool known = name != NULL && (strcmp(name, "*") == 0 ||
			                              served(ctx, name));

			if (!known)
				return ma_errorf(errmsg, MA_ERR_CONFIG,
				                 "grant for %s names database "
				                 "'%s', which is not served",
				                 g->identity,
				                 name != NULL ? name : "");
		}
	}
	return 0;
}

/* Copies grants into *out (*nout of them). On MA_ERR_NOMEM the caller
 * frees what *out and *nout hold. */
static int copy_grants(struct grant **out, size_t *nout,
                       const struct serve_grant *src, size_t n)
{
	*nout = 0;
	*out = calloc(n + 1, sizeof **out);
	if (*out == NULL)
		return MA_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		struct grant *g = &(*out)[i];

		*nout = i + 1;
		g->identity = strdup(src[i].identity);
		g->dbs = calloc(src[i].ndatabases, sizeof *g->dbs);
		if (g->identity == NULL || g->dbs == NULL)
			return MA_ERR_NOMEM;
		for (size_t j = 0; j < src[i].ndatabases; j++) {
			g->dbs[j] = strdup(src[i].databases[j]);
			if (g->dbs[j] == NULL)
				return MA_ERR_NOMEM;
			g->n = j + 1;
		}
	}
	return 0;
}

int serve_set_grants(struct serve *sv, const struct serve_grant *grants,
                     size_t ngrants, bool allow_any_identity, unsigned *revoked,
                     char *errmsg)
{
	struct grant *g = NULL;
	struct stream *st, *next;
	size_t n = 0;
	unsigned ended = 0;
	int rc;

	if (revoked != NULL)
		*revoked = 0;
	rc = check_grants(grants, ngrants, allow_any_identity, sv_serves, sv,
	                  errmsg);
	if (rc != 0)
		return rc;
	if (copy_grants(&g, &n, grants, ngrants) != 0) {
		grants_free(g, n);
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	}
	grants_free(sv->grants, sv->ngrants);
	sv->grants = g;
	sv->ngrants = n;
	/* Streams already open were admitted under the old grants: end
	 * those the new ones no longer allow, so that a withdrawn grant
	 * takes effect now, not at the mirror's next reconnect. */
	for (st = sv->streams; st != NULL; st = next) {
		next = st->next;
		if (st->dead || st->ended || st->db == NULL ||
		    st->kind == STREAM_PLAIN ||
		    allowed(sv, st->peer, st->db->name))
			continue;
		ended++;
		log_info("serve: access of '%s' to %s withdrawn by the new "
		         "grants: ending its %s stream",
		         st->peer, st->db->name,
		         st->kind == STREAM_LOG ? "log" : "snapshot");
		stream_enter(st);
		if (st->kind == STREAM_LOG) {
			struct serve_log_pump_note note;
			/* Longer than an `x` message may be: cut there. */
			char why[CONFIG_IDENTITY_MAX +
			         2 * PROTO_DATABASE_ID_MAX + 64];

			memset(&note, 0, sizeof note);
			snprintf(why, sizeof why,
			         "client '%s' may no longer read database '%s'",
			         st->peer, st->db->name);
			if (serve_log_stream_end(
			        &st->log, &st->out, PROTO_ERROR_FORBIDDEN, why,
			        &note) != SERVE_LOG_PUMP_ENDED) {
				encode_failed(st);
			} else {
				log_ended(st, &note, "access withdrawn");
				if (!st->blocked)
					flush(st);
			}
		} else {
			serve_snapshot_close(&st->snap);
			stream_fail(st);
		}
		stream_leave(st);
	}
	if (revoked != NULL)
		*revoked = ended;
	return 0;
}

int serve_new(struct event_base *base, const struct serve_options *opts,
              struct serve **out, char *errmsg)
{
	static const struct transport_server_callbacks cb = {
	    .on_request = on_request,
	    .on_writable = on_writable,
	    .on_request_closed = on_request_closed,
	};
	struct transport_server_config tc;
	struct serve *sv;
	size_t unacked;
	int rc;

	*out = NULL;
	rc = check_options(opts, errmsg);
	if (rc != 0)
		return rc;
	sv = calloc(1, sizeof *sv);
	if (sv == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	sv->base = base;
	sv->chunk_size =
	    opts->chunk_size != 0 ? opts->chunk_size : SNAPSHOT_CHUNK_DEFAULT;
	sv->fault = opts->fault;
	sv->compression_level = opts->compression_level;
	sv->heartbeat_ms = opts->heartbeat_ms != 0 ? opts->heartbeat_ms
	                                           : SERVE_HEARTBEAT_DEFAULT_MS;
	sv->batch = opts->log_batch_bytes != 0 ? opts->log_batch_bytes
	                                       : SERVE_LOG_BATCH_DEFAULT;
	unacked = opts->max_unacked != 0 ? opts->max_unacked
	                                 : TRANSPORT_MAX_UNACKED_DEFAULT;
	sv->piece = unacked < WRITE_PIECE_MAX ? unacked : WRITE_PIECE_MAX;
	sv->limits.streams_per_identity = opts->max_streams_per_identity;
	sv->limits.snapshots_per_identity =
	    opts->max_snapshot_streams_per_identity;
	sv->lease_ms = opts->snapshot_lease_ms;
	if (sv->lease_ms > 0) {
		/* A quarter of the lease: a stalled stream is reset within
		 * 1.25 leases. */
		uint32_t tick = sv->lease_ms / 4 > 10 ? sv->lease_ms / 4 : 10;
		struct timeval tv = clock_tv_from_ms(tick);

		sv->lease_ev = event_new(base, -1, EV_PERSIST, lease_cb, sv);
		if (sv->lease_ev == NULL || event_add(sv->lease_ev, &tv) != 0) {
			rc =
			    ma_errorf(errmsg, MA_ERR_NOMEM,
			              "cannot create the snapshot lease timer");
			goto err;
		}
	}
	rc = serve_reserve_writer_new(&sv->resv_writer, errmsg);
	if (rc != 0)
		goto err;
	{
		struct timeval tv = clock_tv_from_ms(SERVE_RESERVE_REPORT_MS);

		sv->resv_ev = event_new(base, -1, EV_PERSIST, resv_cb, sv);
		if (sv->resv_ev == NULL || event_add(sv->resv_ev, &tv) != 0) {
			rc = ma_errorf(errmsg, MA_ERR_NOMEM,
			               "cannot create the reservation timer");
			goto err;
		}
	}
	if (copy_grants(&sv->grants, &sv->ngrants, opts->grants,
	                opts->ngrants) != 0) {
		rc = ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
		goto err;
	}
	sv->dbs = calloc(opts->ndatabases, sizeof *sv->dbs);
	if (sv->dbs == NULL) {
		rc = ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
		goto err;
	}
	for (size_t i = 0; i < opts->ndatabases; i++) {
		struct db *db = &sv->dbs[i];

		sv->ndbs = i + 1;
		db->sv = sv;
		db->watch_fd = -1;
		db->name = strdup(opts->databases[i].name);
		db->dir = strdup(opts->databases[i].spool_dir);
		if (db->name == NULL || db->dir == NULL) {
			rc = ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
			goto err;
		}
		rc = db_open(db, errmsg);
		if (rc != 0)
			goto err;
	}
	memset(&tc, 0, sizeof tc);
	tc.bind_addr = opts->listen_addr;
	tc.port = opts->port;
	tc.cert_file = opts->cert_file;
	tc.key_file = opts->key_file;
	tc.client_ca_file = opts->client_ca_file;
	tc.max_connections = opts->max_connections;
	tc.max_streams = opts->max_streams;
	tc.max_handshakes = opts->max_handshakes;
	tc.max_handshakes_per_addr = opts->max_handshakes_per_addr;
	tc.handshake_timeout_ms = opts->handshake_timeout_ms;
	/* The resolved value: piece <= max_unacked always holds, so a write
	 * never exceeds the cap on its own (MA_ERR_LIMIT cannot happen). */
	tc.max_unacked = unacked;
	tc.tuning = opts->tuning;
	rc = transport_server_new(base, &tc, &cb, sv, &sv->srv, errmsg);
	if (rc != 0)
		goto err;
	log_info("serve: listening on %s port %u with %zu database(s)",
	         opts->listen_addr != NULL ? opts->listen_addr : "127.0.0.1",
	         (unsigned)transport_server_port(sv->srv), sv->ndbs);
	*out = sv;
	return 0;

err:
	serve_free(sv);
	return rc;
}

void serve_free(struct serve *sv)
{
	if (sv == NULL)
		return;
	/* Closes connections and runs on_request_closed for every open
	 * request, which frees the streams. */
	if (sv->lease_ev != NULL)
		event_free(sv->lease_ev);
	if (sv->resv_ev != NULL)
		event_free(sv->resv_ev);
	transport_server_free(sv->srv);
	sv->srv = NULL;
	while (sv->streams != NULL) {
		struct stream *st = sv->streams;

		st->dead = true;
		st->req = NULL;
		stream_free(st);
	}
	/* What the streams posted last is written before the spools'
	 * paths go. */
	serve_reserve_writer_free(sv->resv_writer);
	for (size_t i = 0; i < sv->ndbs; i++)
		db_close(&sv->dbs[i]);
	free(sv->dbs);
	grants_free(sv->grants, sv->ngrants);
	free(sv);
}

uint16_t serve_port(const struct serve *sv)
{
	return transport_server_port(sv->srv);
}

uint64_t serve_reader_opens(const struct serve *sv)
{
	return sv->reader_opens;
}

unsigned serve_streams(const struct serve *sv)
{
	return sv->nstreams;
}

bool serve_stream_stat(const struct serve *sv, unsigned i,
                       struct serve_stream_stat *out)
{
	const struct stream *st = sv->streams;

	for (; st != NULL && i > 0; i--)
		st = st->next;
	if (st == NULL)
		return false;
	memset(out, 0, sizeof *out);
	out->pending = st->out.len - st->out_off;
	if (st->req != NULL && !st->dead) {
		out->path = transport_request_path(st->req);
		out->unacked = transport_response_unacked(st->req);
	}
	return true;
}

/* ---- observability (serve_metrics.c) ---- */

int serve_reload_tls(struct serve *sv, const char *cert_file,
                     const char *key_file, const char *client_ca_file,
                     char *errmsg)
{
	return transport_server_reload_tls(sv->srv, cert_file, key_file,
	                                   client_ca_file, errmsg);
}

uint64_t serve_tls_reloads(const struct serve *sv)
{
	return transport_server_tls_reloads(sv->srv);
}

unsigned serve_connections(const struct serve *sv)
{
	return transport_server_connections(sv->srv);
}

unsigned serve_handshakes(const struct serve *sv)
{
	return transport_server_handshakes(sv->srv);
}

void serve_refusals(const struct serve *sv, struct serve_refused *req,
                    struct transport_server_refusals *conn)
{
	*req = sv->refused;
	transport_server_refusal_stats(sv->srv, conn);
}

size_t serve_database_count(const struct serve *sv)
{
	return sv->ndbs;
}

bool serve_database_stat(struct serve *sv, size_t i,
                         struct serve_database_stat *out)
{
	struct db *db;
	char em[MA_ERRMSG_SIZE];

	if (i >= sv->ndbs)
		return false;
	db = &sv->dbs[i];
	memset(out, 0, sizeof *out);
	out->name = db->name;
	out->tail_ok = tail_update(db, em) == 0;
	out->commit_index = db->end.last_index;
	out->first_index = wal_reader_first_index(db->tail);
	out->log_streams = db->nlog;
	return true;
}

bool serve_mirror_stat_next(struct serve *sv, struct serve_mirror_iter *it,
                            struct serve_mirror_stat *out, uint64_t now_ms)
{
	struct stream *st = it->started ? it->next : sv->streams;

	it->started = true;
	for (; st != NULL; st = st->next)
		if (!st->dead && st->db != NULL &&
		    (st->kind == STREAM_LOG || st->kind == STREAM_SNAPSHOT))
			break;
	it->next = st != NULL ? st->next : NULL;
	if (st == NULL)
		return false;
	memset(out, 0, sizeof *out);
	out->identity = st->peer;
	out->database = st->db->name;
	out->database_index = (size_t)(st->db - sv->dbs);
	out->snapshot = st->kind == STREAM_SNAPSHOT;
	if (st->req != NULL) {
		socklen_t len = 0;
		const struct sockaddr *sa =
		    transport_request_peer_addr(st->req, &len);

		if (sa != NULL && len <= sizeof out->addr) {
			memcpy(&out->addr, sa, len);
			out->addrlen = len;
		}
		out->unacked = transport_response_unacked(st->req);
		/* Snapshot streams have no heartbeat tick: look now. */
		if (st->written - out->unacked > st->acked_seen) {
			st->acked_seen = st->written - out->unacked;
			st->contact_ms = now_ms;
		}
	}
	out->age_ms = now_ms - st->opened_ms;
	out->contact_age_ms = now_ms - st->contact_ms;
	out->bytes_sent = st->written;
	if (st->kind == STREAM_LOG) {
		out->requested_from = st->log.from;
		out->sent_index =
		    st->log.next_index > 0 ? st->log.next_index - 1 : 0;
		out->reservation_index = st->resv_written;
		out->has_headroom = st->log.has_headroom;
		out->headroom_s = st->log.headroom_s;
	} else {
		out->snapshot_index = st->snap.index;
		out->snapshot_size = st->snap.size;
	}
	return true;
}
