/* The follower: libevent/transport glue around the logic cores (snapshot
 * receiver, wal, mirror state machine). Everything runs on one loop.
 *
 * Per database the follower walks: info -> (snapshot ->) log. Any stream
 * failure or protocol error drops the whole connection and reconnects with
 * backoff to the next endpoint; each database then starts again from info,
 * resuming from what it holds durably (its wal, its .partial). Failures a
 * retry cannot fix (identity mismatch, local write/fsync error) put that
 * database in Error; the others carry on. */
#include "agent/follow/follow.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/apply/applier.h"
#include "agent/status/status.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "common/parse.h"
#include "proto/proto.h"
#include "snapshot/snapshot.h"
#include "spool/spool.h"
#include "wal/wal.h"

enum phase { PHASE_IDLE, PHASE_INFO, PHASE_SNAPSHOT, PHASE_LOG, PHASE_DEAD };

/* Entries of one on_body call, appended to the wal in one write. */
struct batch {
	struct wal_entry *entries;
	size_t count, cap;
	unsigned char *data;
	size_t data_len, data_cap;
};

struct fdb {
	struct follow *f;
	const char *name;
	char dir[4096];
	bool has_identity;
	struct proto_identity identity;
	struct wal_log *wal;
	struct snapshot_store *store;
	struct snapshot_receiver *recv;
	struct mirror_sm sm;
	enum mirror_state reported; /* last state given to on_progress */

	enum phase phase;
	struct transport_stream *stream;
	struct proto_framer frames;
	bool frames_open;
	bool force_bootstrap; /* the source said compacted/diverged */
	struct proto_info info;
	uint64_t next_index; /* log stream: next index expected */
	bool got_start;
	struct batch batch;
	int status;   /* HTTP status of the response in flight */
	bool restart; /* deferred: cancel the stream, fetch info */
	/* The read-only state: fed from the local wal, durable entries only
	 * (see apply_durable). areader reads the wal sequentially. */
	struct applier *applier;
	struct wal_reader *areader;
};

struct follow {
	struct event_base *base;
	struct follow_options o;
	struct fdb dbs[FOLLOW_MAX_DATABASES];
	size_t ndb;
	struct transport_client *client;
	bool connected;
	uint32_t endpoint;
	char endpoint_text[96];
	struct event *reconnect_timer;
	struct event *tick_timer;
	/* Work that must not run inside a transport callback (cancelling the
	 * stream whose callback is running, closing the client). */
	struct event *deferred;
	bool closing;          /* transport_client_close() sent */
	char drop_reason[512]; /* non-empty: drop the connection */
	uint64_t last_status_ms;
	bool all_failed_reported;
	bool status_dirty;
	bool stopping;
};

static void connect_next(struct follow *f);
static void start_info(struct fdb *db);
static void defer(struct follow *f);

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void follow_options_init(struct follow_options *o,
                         const struct config_follow *cf)
{
	struct config_follow defaults;

	memset(o, 0, sizeof *o);
	if (cf == NULL) {
		config_follow_defaults(&defaults);
		cf = &defaults;
	}
	o->server_name = "localhost";
	o->handshake_timeout_ms = (uint32_t)cf->connect_timeout_ms;
	o->keepalive_ms = (uint32_t)cf->keepalive_ms;
	o->tuning.idle_timeout_ms = (uint32_t)cf->idle_timeout_ms;
	o->tuning.max_data = cf->connection_window;
	o->tuning.max_stream_data = cf->stream_window;
	o->states.backoff_min_ms = (uint32_t)cf->backoff_min_ms;
	o->states.backoff_max_ms = (uint32_t)cf->backoff_max_ms;
	o->states.degraded_lag_entries = cf->degraded_lag_entries;
	o->states.degraded_lag_ms = (uint32_t)cf->degraded_lag_time_ms;
	o->states.degraded_silence_ms = (uint32_t)cf->degraded_silence_ms;
	o->snapshot_fsync_interval = cf->snapshot_sync_bytes;
	o->progress_interval = SNAPSHOT_PROGRESS_INTERVAL_DEFAULT;
	o->wal_sync_interval_ms = cf->wal_sync_interval_ms;
	o->wal_sync_bytes = cf->wal_sync_bytes;
}

/* ---- reporting ---- */

static void report(struct fdb *db, bool always)
{
	const struct mirror_status *st = &db->sm.status;
	struct follow_progress p;

	if (!always && st->state == db->reported)
		return;
	if (st->state != db->reported) {
		log_info("%s: state %s", db->name,
		         mirror_state_name(st->state));
		db->f->status_dirty = true; /* written at the next tick */
	}
	db->reported = st->state;
	if (db->f->o.on_progress == NULL)
		return;
	p.database = db->name;
	p.state = st->state;
	p.bytes_done = st->bytes_done;
	p.bytes_total = st->bytes_total;
	p.rate_bytes_per_s = st->rate_bytes_per_s;
	p.applied_index = st->applied_index;
	p.source_commit_index = st->source_commit_index;
	p.lag_entries = st->lag_entries;
	p.lag_ms = st->lag_ms;
	db->f->o.on_progress(&p, db->f->o.progress_arg);
}

/* A failure no retry fixes: this database stops, the others go on. */
static void db_fatal(struct fdb *db, int code, const char *msg)
{
	log_error("%s: %s", db->name, msg);
	mirror_sm_fatal(&db->sm, code, msg);
	db->phase = PHASE_DEAD;
	defer(db->f); /* cancels its stream outside the callback */
	report(db, true);
	for (size_t i = 0; i < db->f->ndb; i++)
		if (db->f->dbs[i].sm.status.state != MIRROR_ERROR)
			return;
	if (!db->f->all_failed_reported && db->f->o.on_all_failed != NULL) {
		db->f->all_failed_reported = true;
		db->f->o.on_all_failed(db->f->o.progress_arg);
	}
}

/* Write and fsync failures are fail-stop: never retried and trusted. */
static bool local_failure(int rc)
{
	return rc == MA_ERR_IO || rc == MA_ERR_FAILED;
}

static void write_status(struct follow *f)
{
	char path[4096], errmsg[MA_ERRMSG_SIZE];
	struct status_report *r = malloc(sizeof *r);
	struct timespec ts;

	if (r == NULL) {
		log_warn("cannot write status file: out of memory");
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	status_report_from_follow(
	    f, (long)getpid(), (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
	    r);
	if (f->o.status_file != NULL)
		snprintf(path, sizeof path, "%s", f->o.status_file);
	else
		snprintf(path, sizeof path, "%s/status", f->o.data_dir);
	if (status_file_write(path, r, errmsg) != 0)
		log_warn("%s", errmsg);
	free(r);
}

/* ---- local state ---- */

static int open_wal(struct fdb *db, char *errmsg)
{
	struct wal_options wo;
	char path[4096];
	int rc;

	if (db->wal != NULL)
		return 0;
	wal_options_init(&wo);
	rc = wal_identity_init(&wo.identity, db->identity.cluster_id,
	                       db->identity.database_id, errmsg);
	if (rc != 0)
		return rc;
	wo.sync_every_append = false;
	wo.sync_interval_ms = db->f->o.wal_sync_interval_ms;
	wo.sync_bytes = db->f->o.wal_sync_bytes;
	if (wo.sync_interval_ms == 0 && wo.sync_bytes == 0)
		wo.sync_every_append = true;
	if (spool_path(path, sizeof path, db->dir, SPOOL_WAL_DIR) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 db->dir);
	return wal_log_open(path, &wo, &db->wal, errmsg);
}

/* The last index the mirror holds durably and its term: the wal's last
 * entry, or the snapshot the wal starts after. 0/0 when it holds nothing. */
static int local_position(struct fdb *db, uint64_t *index, uint64_t *term,
                          char *errmsg)
{
	struct snapshot_meta meta;
	int rc;

	*index = 0;
	*term = 0;
	if (db->store == NULL)
		return 0; /* nothing held yet */
	if (db->wal != NULL && wal_log_last_index(db->wal) > 0) {
		*index = wal_log_last_index(db->wal);
		rc = wal_log_term_at(db->wal, *index, term, errmsg);
		if (rc == 0)
			return 0;
		if (rc != MA_ERR_COMPACTED && rc != MA_ERR_NOTFOUND)
			return rc;
		/* An empty wal that starts after a snapshot: the term of its
		 * base comes from that snapshot. */
		struct snapshot_meta *metas = NULL;
		size_t count = 0;
		rc = snapshot_store_list(db->store, &metas, &count, errmsg);
		if (rc != 0)
			return rc;
		for (size_t i = 0; i < count; i++)
			if (metas[i].id.index == *index)
				*term = metas[i].id.term;
		free(metas);
		if (*term == 0)
			*index = 0; /* base unknown: bootstrap again */
		return 0;
	}
	rc = snapshot_store_latest(db->store, &meta, errmsg);
	if (rc == 0) {
		*index = meta.id.index;
		*term = meta.id.term;
		return 0;
	}
	return rc == MA_ERR_NOTFOUND ? 0 : rc;
}

/* ---- applier ---- */

static void applied_changed(struct fdb *db)
{
	if (db->f->o.on_applied != NULL)
		db->f->o.on_applied(db->f->o.progress_arg,
		                    (size_t)(db - db->f->dbs),
		                    applier_applied_index(db->applier));
}

/* Feeds the applier every entry of the local wal that is durable and not
 * yet applied. Only fsynced entries are applied, so the applied index a
 * reader sees never goes backwards, even across a crash of the mirror
 * (docs/OPERATIONS.md, "Reading from the mirror"). An applier failure
 * does not stop the mirror: the wal keeps following, queries answer the
 * error, and the next re-bootstrap or restart restores afresh. */
static void apply_durable(struct fdb *db)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct applier *a = db->applier;
	uint64_t durable, before;
	int rc = 0;

	if (a == NULL || db->wal == NULL || applier_error(a) != NULL)
		return;
	durable = wal_log_durable_index(db->wal);
	before = applier_applied_index(a);
	if (durable <= before)
		return;
	if (!applier_needs_data(a)) {
		for (uint64_t i = before + 1; i <= durable && rc == 0; i++)
			rc = applier_apply(a, i, 0, WAL_ENTRY_BARRIER, NULL, 0,
			                   errmsg);
		applied_changed(db);
		return;
	}
	if (db->areader == NULL) {
		rc = wal_log_reader_open(db->wal, &db->areader, errmsg);
		if (rc != 0) {
			applier_fail(a, rc, errmsg);
			return;
		}
	}
	for (int tries = 0; applier_applied_index(a) < durable;) {
		uint64_t next = applier_applied_index(a) + 1;
		struct wal_entry e;

		if (wal_reader_position(db->areader) != next)
			rc = wal_reader_seek(db->areader, next, errmsg);
		if (rc == 0)
			rc = wal_reader_next(db->areader, &e, errmsg);
		if (rc == 0 && e.index != next)
			rc = ma_errorf(errmsg, MA_ERR_CORRUPT,
			               "wal reader returned entry %" PRIu64
			               " instead of %" PRIu64,
			               e.index, next);
		if (rc == MA_ERR_AGAIN || rc == MA_ERR_NOTFOUND ||
		    rc == MA_ERR_DIVERGED) {
			/* A stale view (new segment, reset): refresh, and
			 * seek again. Bounded: the entry is durable. */
			if (++tries > 3)
				break;
			rc = wal_reader_refresh(db->areader, errmsg);
			if (rc == 0)
				rc = wal_reader_seek(db->areader, next, errmsg);
			continue;
		}
		if (rc == MA_ERR_COMPACTED) {
			rc = ma_errorf(
			    errmsg, MA_ERR_COMPACTED,
			    "the local wal starts at %" PRIu64
			    ", after the applied index %" PRIu64
			    " (no snapshot covers the entries between)",
			    wal_reader_first_index(db->areader), next - 1);
			break;
		}
		if (rc != 0)
			break;
		tries = 0;
		rc = applier_apply(a, e.index, e.term, e.type, e.data, e.len,
		                   errmsg);
		if (rc != 0)
			break;
	}
	/* Whatever stopped it (an unreadable or compacted wal included),
	 * the applier is now behind for good: fail it, so reads answer the
	 * error rather than stale data and this is not retried per batch. */
	if (rc != 0 && rc != MA_ERR_AGAIN && rc != MA_ERR_NOTFOUND &&
	    rc != MA_ERR_DIVERGED && applier_error(a) == NULL)
		applier_fail(a, rc, errmsg);
	if (applier_applied_index(a) != before)
		applied_changed(db);
}

/* Restores the applier from the newest local snapshot (none: empty
 * state), then replays the durable wal after it. */
static void restore_applier(struct fdb *db)
{
	char errmsg[MA_ERRMSG_SIZE], path[4096];
	struct snapshot_meta meta;
	uint64_t t0 = now_ms();
	int rc;

	if (db->applier == NULL)
		return;
	if (db->store == NULL) {
		applier_reset(db->applier, errmsg);
		applied_changed(db);
		return;
	}
	rc = snapshot_store_latest(db->store, &meta, errmsg);
	if (rc == MA_ERR_NOTFOUND) {
		applier_reset(db->applier, errmsg);
		meta.id.index = 0;
	} else if (rc == 0) {
		rc = snapshot_store_path(db->store, meta.id.index, meta.id.term,
		                         path, sizeof path);
		if (rc == 0)
			rc = applier_restore_file(db->applier, path,
			                          meta.id.index, errmsg);
		else
			applier_fail(db->applier, rc, "snapshot path too long");
	} else {
		applier_fail(db->applier, rc, errmsg);
	}
	if (rc != 0 && rc != MA_ERR_NOTFOUND) {
		applied_changed(db);
		return;
	}
	apply_durable(db);
	if (applier_error(db->applier) == NULL)
		log_info(
		    "%s: %s applier at index %" PRIu64 " (snapshot %" PRIu64
		    ", %" PRIu64 " wal entries replayed in %" PRIu64 " ms)",
		    db->name, applier_kind_name(applier_get_kind(db->applier)),
		    applier_applied_index(db->applier), meta.id.index,
		    applier_applied_index(db->applier) - meta.id.index,
		    now_ms() - t0);
	applied_changed(db);
}

static void on_recv_event(void *arg, const struct snapshot_recv_event *ev)
{
	struct fdb *db = arg;

	if (ev->type == SNAPSHOT_RECV_PROGRESS) {
		mirror_sm_bootstrap_progress(&db->sm, now_ms(), ev->bytes_done,
		                             ev->bytes_total);
		report(db, true);
	}
}

static int open_receiver(struct fdb *db, char *errmsg)
{
	struct snapshot_receiver_config rc = {0};

	if (db->recv != NULL)
		return 0;
	rc.data_dir = db->dir;
	rc.store = db->store;
	rc.fsync_interval = db->f->o.snapshot_fsync_interval;
	rc.progress_interval = db->f->o.progress_interval;
	rc.on_event = on_recv_event;
	rc.arg = db;
	return snapshot_receiver_open(&rc, db->name, &db->recv, errmsg);
}

/* Opens the local store, wal and receiver of a database whose source
 * identity is known. */
static int open_local(struct fdb *db, char *errmsg)
{
	char path[4096];
	int rc;

	if (db->store == NULL) {
		if (spool_path(path, sizeof path, db->dir,
		               SPOOL_SNAPSHOT_DIR) != 0)
			return ma_errorf(errmsg, MA_ERR_INVAL,
			                 "%s: path too long", db->dir);
		rc = snapshot_store_open(path, &db->store, errmsg);
		if (rc != 0)
			return rc;
	}
	rc = open_wal(db, errmsg);
	if (rc == 0)
		rc = open_receiver(db, errmsg);
	return rc;
}

static int db_open(struct follow *f, struct fdb *db, const char *name,
                   const char *dir, char *errmsg)
{
	int rc;

	db->f = f;
	db->name = name;
	db->reported = (enum mirror_state) - 1;
	if ((dir != NULL
	         ? snprintf(db->dir, sizeof db->dir, "%s", dir)
	         : snprintf(db->dir, sizeof db->dir, "%s/%s", f->o.data_dir,
	                    name)) >= (int)sizeof db->dir)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 name);
	rc = io_mkdir_p(db->dir, 0755, errmsg);
	if (rc != 0)
		return rc;
	rc = spool_identity_read(db->dir, &db->identity, errmsg);
	if (rc == 0)
		db->has_identity = true;
	else if (rc != MA_ERR_NOTFOUND)
		return rc;
	if (db->has_identity && strcmp(db->identity.database_id, name) != 0)
		return ma_errorf(errmsg, MA_ERR_IDENTITY,
		                 "%s/identity names database '%s', "
		                 "configured as '%s'",
		                 db->dir, db->identity.database_id, name);
	/* Nothing is created for a source not yet accepted: the store, wal
	 * and receiver open once the identity is known. */
	if (db->has_identity) {
		rc = open_local(db, errmsg);
		if (rc != 0)
			return rc;
	}
	uint64_t index, term;
	rc = local_position(db, &index, &term, errmsg);
	if (rc != 0)
		return rc;
	mirror_sm_init(&db->sm, &f->o.states, index,
	               (uint64_t)getpid() ^ now_ms());
	if (index > 0)
		log_info("%s: holds entries up to %" PRIu64 " (term %" PRIu64
		         ")",
		         name, index, term);
	rc = applier_new((enum applier_kind)f->o.appliers[db - f->dbs], name,
	                 &db->applier, errmsg);
	if (rc != 0)
		return rc;
	restore_applier(db);
	return 0;
}

static void batch_free(struct batch *b)
{
	free(b->entries);
	free(b->data);
	memset(b, 0, sizeof *b);
}

static void db_close(struct fdb *db)
{
	char errmsg[MA_ERRMSG_SIZE];

	if (db->stream != NULL)
		transport_stream_cancel(db->stream);
	db->stream = NULL;
	if (db->frames_open)
		proto_framer_free(&db->frames);
	db->frames_open = false;
	if (db->wal != NULL && !wal_log_failed(db->wal) &&
	    wal_log_sync(db->wal, errmsg) != 0)
		log_error("%s: final wal sync failed: %s", db->name, errmsg);
	wal_reader_close(db->areader);
	db->areader = NULL;
	wal_log_close(db->wal);
	snapshot_receiver_close(db->recv);
	snapshot_store_close(db->store);
	batch_free(&db->batch);
	applier_free(db->applier);
	db->applier = NULL;
}

/* ---- streams ---- */

static void defer(struct follow *f)
{
	event_active(f->deferred, 0, 0);
}

/* Something went wrong with what the source sent or the connection: drop
 * the connection (deferred) and reconnect to the next endpoint. */
static void stream_failed(struct fdb *db, const char *what)
{
	struct follow *f = db->f;

	if (db->phase != PHASE_DEAD)
		db->phase = PHASE_IDLE;
	if (f->drop_reason[0] == '\0')
		snprintf(f->drop_reason, sizeof f->drop_reason, "%s: %s",
		         db->name, what);
	defer(f);
}

static int begin_frames(struct fdb *db, size_t frame_max)
{
	if (db->frames_open)
		proto_framer_free(&db->frames);
	db->frames_open = proto_framer_init(&db->frames, frame_max) == 0;
	return db->frames_open ? 0 : MA_ERR_NOMEM;
}

static void request(struct fdb *db, const char *path,
                    const struct transport_stream_callbacks *cb)
{
	char why[300];
	int rc;

	db->status = 0;
	rc = transport_client_request(db->f->client, path, cb, db, &db->stream);
	if (rc != 0) {
		db->stream = NULL;
		snprintf(why, sizeof why, "cannot open a stream for %s: %s",
		         path, ma_strerror(rc));
		stream_failed(db, why);
	}
}

static void on_response(struct transport_stream *s, int status, void *user)
{
	struct fdb *db = user;

	(void)s;
	db->status = status;
}

/* Feeds body bytes to the frame reader and hands each frame to fn. Stops
 * at the first non-zero result of fn (returned) or a framing error. */
static int feed_frames(struct fdb *db, const uint8_t *data, size_t len,
                       int (*fn)(struct fdb *, const void *, size_t))
{
	char errmsg[MA_ERRMSG_SIZE];

	while (len > 0) {
		const void *body;
		size_t blen, used;
		int rc = proto_framer_feed(&db->frames, data, len, &used, &body,
		                           &blen, errmsg);
		if (rc < 0) {
			stream_failed(db, errmsg);
			return rc;
		}
		data += used;
		len -= used;
		if (rc == 1) {
			rc = fn(db, body, blen);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

/* A non-200 response carries one `x` frame saying why. */
static int on_error_frame(struct fdb *db, const void *body, size_t len)
{
	struct proto_log_msg m;
	char errmsg[MA_ERRMSG_SIZE], why[600];

	if (proto_log_decode(body, len, 0, &m, errmsg) == 0 &&
	    m.kind == PROTO_LOG_ERROR)
		snprintf(why, sizeof why, "source answered %d %s: %s",
		         db->status, proto_error_name(m.error), m.message);
	else
		snprintf(why, sizeof why, "source answered status %d",
		         db->status);
	if (db->status == 403)
		db_fatal(db, MA_ERR_CONFIG,
		         why); /* our identity may not read it */
	else
		stream_failed(db, why);
	return 1;
}

static bool error_response(struct fdb *db, const uint8_t *data, size_t len)
{
	if (db->status == 200)
		return false;
	if (db->phase != PHASE_DEAD && db->f->drop_reason[0] == '\0')
		feed_frames(db, data, len, on_error_frame);
	return true;
}

static bool error_end(struct fdb *db)
{
	char why[64];

	if (db->status == 200)
		return false;
	snprintf(why, sizeof why, "source answered status %d", db->status);
	if (db->phase != PHASE_DEAD && db->f->drop_reason[0] == '\0')
		stream_failed(db, why);
	return true;
}

/* Whether a stream callback should still act: its database is alive, the
 * stream is the current one and no drop is pending. */
static bool live(struct fdb *db, struct transport_stream *s)
{
	return db->stream == s && db->phase != PHASE_DEAD && !db->restart &&
	       db->f->drop_reason[0] == '\0';
}

static void on_stream_error(struct transport_stream *s, int code,
                            const char *msg, void *user)
{
	struct fdb *db = user;
	bool act = live(db, s);
	char why[512];

	/* The transport frees s after this callback: forget it first. */
	if (db->stream == s)
		db->stream = NULL;
	if (!act)
		return;
	snprintf(why, sizeof why, "stream failed: %s (%s)", msg ? msg : "",
	         ma_strerror(code));
	stream_failed(db, why);
}

/* For on_end callbacks: forgets s (the transport frees it after the
 * callback) and tells whether the caller should act on a complete 200
 * response; other statuses are handled here. */
static bool stream_ended(struct fdb *db, struct transport_stream *s)
{
	bool act = live(db, s);

	if (db->stream == s)
		db->stream = NULL;
	return act && !error_end(db);
}

/* ---- log stream ---- */

static int batch_flush(struct fdb *db)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct batch *b = &db->batch;
	int rc;

	if (b->count == 0)
		return 0;
	/* Entry data were stored as offsets: b->data may have moved. */
	for (size_t i = 0; i < b->count; i++)
		b->entries[i].data = b->data + (uintptr_t)b->entries[i].data;
	rc = wal_log_append(db->wal, b->entries, b->count, now_ms(), errmsg);
	b->count = 0;
	b->data_len = 0;
	if (rc != 0) {
		if (local_failure(rc) || rc == MA_ERR_NOSPACE)
			db_fatal(db, rc, errmsg);
		else
			stream_failed(db, errmsg);
		return rc;
	}
	apply_durable(db);
	mirror_sm_applied(&db->sm, now_ms(), wal_log_durable_index(db->wal));
	report(db, false);
	return 0;
}

static int batch_add(struct fdb *db, const struct proto_log_msg *m)
{
	struct batch *b = &db->batch;

	if (b->count == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		void *p = realloc(b->entries, cap * sizeof *b->entries);
		if (p == NULL)
			return MA_ERR_NOMEM;
		b->entries = p;
		b->cap = cap;
	}
	if (b->data_len + m->data_len > b->data_cap) {
		size_t cap = b->data_cap ? b->data_cap : 1 << 16;
		while (cap < b->data_len + m->data_len)
			cap *= 2;
		void *p = realloc(b->data, cap);
		if (p == NULL)
			return MA_ERR_NOMEM;
		b->data = p;
		b->data_cap = cap;
	}
	if (m->data_len > 0)
		memcpy(b->data + b->data_len, m->data, m->data_len);
	b->entries[b->count].index = m->index;
	b->entries[b->count].term = m->term;
	b->entries[b->count].type = m->type;
	b->entries[b->count].data = (const void *)(uintptr_t)b->data_len;
	b->entries[b->count].len = m->data_len;
	b->count++;
	b->data_len += m->data_len;
	return 0;
}

static void rebootstrap(struct fdb *db, const char *why)
{
	log_warn("%s: %s: bootstrapping again from the latest snapshot",
	         db->name, why);
	db->force_bootstrap = true;
	db->restart = true;
	defer(db->f);
}

static int on_log_frame(struct fdb *db, const void *body, size_t len)
{
	char errmsg[MA_ERRMSG_SIZE], why[600];
	struct proto_log_msg m;
	int rc;

	rc = proto_log_decode(body, len, PROTO_ENTRY_DATA_MAX, &m, errmsg);
	if (rc != 0) {
		stream_failed(db, errmsg);
		return rc;
	}
	if (!db->got_start && m.kind != PROTO_LOG_START) {
		stream_failed(db,
		              "log stream did not begin with a start frame");
		return MA_ERR_PROTO;
	}
	switch (m.kind) {
	case PROTO_LOG_START:
		if (!spool_identity_equal(&m.id, &db->identity)) {
			snprintf(why, sizeof why,
			         "source identity changed to %s epoch %" PRIu64
			         " (stored %s epoch %" PRIu64
			         "); use --reseed to start over",
			         m.id.cluster_id, m.id.epoch,
			         db->identity.cluster_id, db->identity.epoch);
			db_fatal(db, MA_ERR_IDENTITY, why);
			return MA_ERR_IDENTITY;
		}
		if (m.from_index != db->next_index) {
			stream_failed(db,
			              "log stream starts at the wrong index");
			return MA_ERR_PROTO;
		}
		db->got_start = true;
		return 0;
	case PROTO_LOG_ENTRY:
		if (m.index != db->next_index) {
			snprintf(why, sizeof why,
			         "log entry %" PRIu64
			         " out of order (expected %" PRIu64 ")",
			         m.index, db->next_index);
			stream_failed(db, why);
			return MA_ERR_PROTO;
		}
		rc = batch_add(db, &m);
		if (rc != 0) {
			stream_failed(db, "out of memory");
			return rc;
		}
		db->next_index++;
		return db->batch.data_len >= (4u << 20) ? batch_flush(db) : 0;
	case PROTO_LOG_HEARTBEAT:
		rc = batch_flush(db);
		if (rc != 0)
			return rc;
		mirror_sm_heartbeat(&db->sm, now_ms(), m.commit_index,
		                    m.source_time_ms);
		report(db, false);
		return 0;
	case PROTO_LOG_ERROR:
		rc = batch_flush(db);
		if (rc != 0)
			return rc;
		snprintf(why, sizeof why, "source says %s (%s)",
		         proto_error_name(m.error), m.message);
		if (m.error == PROTO_ERROR_COMPACTED ||
		    m.error == PROTO_ERROR_DIVERGED) {
			rebootstrap(db, why);
			return 1;
		}
		stream_failed(db, why);
		return MA_ERR_PROTO;
	}
	return 0;
}

static void on_log_body(struct transport_stream *s, const uint8_t *data,
                        size_t len, void *user)
{
	struct fdb *db = user;

	if (!live(db, s) || error_response(db, data, len))
		return;
	if (feed_frames(db, data, len, on_log_frame) == 0)
		batch_flush(db);
}

static void on_log_end(struct transport_stream *s, void *user)
{
	struct fdb *db = user;

	if (!stream_ended(db, s))
		return;
	batch_flush(db);
	stream_failed(db, "source ended the log stream");
}

static const struct transport_stream_callbacks log_callbacks = {
    .on_response = on_response,
    .on_body = on_log_body,
    .on_end = on_log_end,
    .on_error = on_stream_error,
};

static void start_log(struct fdb *db, uint64_t from, uint64_t prev_term)
{
	char path[256];

	db->phase = PHASE_LOG;
	db->next_index = from;
	db->got_start = false;
	if (begin_frames(db, PROTO_ENTRY_DATA_MAX + PROTO_FRAME_OVERHEAD) !=
	    0) {
		db_fatal(db, MA_ERR_NOMEM, "out of memory");
		return;
	}
	snprintf(path, sizeof path,
	         "/v1/db/%s/log?from=%" PRIu64 "&prev_term=%" PRIu64, db->name,
	         from, prev_term);
	log_info("%s: following the log from index %" PRIu64, db->name, from);
	request(db, path, &log_callbacks);
}

/* ---- snapshot stream ---- */

static void snapshot_committed(struct fdb *db)
{
	char errmsg[MA_ERRMSG_SIZE];
	uint64_t index = db->info.snapshot_index;
	int rc;

	/* The log restarts right after the snapshot: entries the mirror held
	 * are superseded by it (or diverged from the source). */
	rc = wal_log_reset(db->wal, index + 1, errmsg);
	if (rc != 0) {
		db_fatal(db, rc, errmsg);
		return;
	}
	rc = snapshot_store_retain(db->store, 2, NULL, errmsg);
	if (rc != 0)
		log_warn("%s: snapshot retention: %s", db->name, errmsg);
	log_info("%s: snapshot %" PRIu64 "-%" PRIu64 " committed (%" PRIu64
	         " bytes)",
	         db->name, index, db->info.snapshot_term,
	         db->info.snapshot_size);
	db->force_bootstrap = false;
	restore_applier(db);
	mirror_sm_bootstrap_done(&db->sm, now_ms(), index);
	report(db, true);
	start_log(db, index + 1, db->info.snapshot_term);
}

static void on_snapshot_body(struct transport_stream *s, const uint8_t *data,
                             size_t len, void *user)
{
	struct fdb *db = user;
	char errmsg[MA_ERRMSG_SIZE];
	int rc;

	if (!live(db, s) || error_response(db, data, len))
		return;
	if (db->phase != PHASE_SNAPSHOT)
		return;
	rc =
	    snapshot_receiver_feed_bytes(db->recv, data, len, now_ms(), errmsg);
	if (rc == 0)
		return;
	if (rc == 1) {
		db->phase = PHASE_IDLE; /* committed; the stream ends next */
		return;
	}
	log_error("%s: snapshot receive: %s", db->name, errmsg);
	if (local_failure(rc)) {
		db_fatal(db, rc, errmsg);
		return;
	}
	/* Bad data from the source, or a full disk: what is durable stays;
	 * a fresh receiver resumes from it after the backoff. */
	snapshot_receiver_close(db->recv);
	db->recv = NULL;
	char errmsg2[MA_ERRMSG_SIZE];
	if (open_receiver(db, errmsg2) != 0) {
		db_fatal(db, MA_ERR_IO, errmsg2);
		return;
	}
	stream_failed(db, errmsg);
}

static void on_snapshot_end(struct transport_stream *s, void *user)
{
	struct fdb *db = user;

	if (!stream_ended(db, s))
		return;
	if (db->phase == PHASE_IDLE)
		snapshot_committed(db);
	else
		stream_failed(db,
		              "snapshot stream ended before its final chunk");
}

static const struct transport_stream_callbacks snapshot_callbacks = {
    .on_response = on_response,
    .on_body = on_snapshot_body,
    .on_end = on_snapshot_end,
    .on_error = on_stream_error,
};

static void start_snapshot(struct fdb *db)
{
	char errmsg[MA_ERRMSG_SIZE], path[256];
	struct snapshot_ident ident;
	uint64_t offset = 0;
	int rc;

	if (!db->info.has_snapshot) {
		stream_failed(db,
		              "source has no snapshot to bootstrap from yet");
		return;
	}
	memset(&ident, 0, sizeof ident);
	snprintf(ident.cluster_id, sizeof ident.cluster_id, "%s",
	         db->identity.cluster_id);
	snprintf(ident.database_id, sizeof ident.database_id, "%s", db->name);
	ident.index = db->info.snapshot_index;
	ident.term = db->info.snapshot_term;
	ident.size = db->info.snapshot_size;
	ident.crc32c = db->info.snapshot_crc32c;
	rc = snapshot_receiver_begin(db->recv, &ident, &offset, errmsg);
	if (rc == 1) {
		snapshot_committed(db);
		return;
	}
	if (rc != 0) {
		if (local_failure(rc))
			db_fatal(db, rc, errmsg);
		else
			stream_failed(db, errmsg);
		return;
	}
	db->phase = PHASE_SNAPSHOT;
	mirror_sm_bootstrap_progress(&db->sm, now_ms(), offset, ident.size);
	report(db, true);
	if (begin_frames(db, PROTO_FRAME_OVERHEAD) != 0) {
		db_fatal(db, MA_ERR_NOMEM, "out of memory");
		return;
	}
	log_info("%s: bootstrapping from snapshot %" PRIu64 "-%" PRIu64
	         " (%" PRIu64 " bytes) from offset %" PRIu64,
	         db->name, ident.index, ident.term, ident.size, offset);
	snprintf(path, sizeof path,
	         "/v1/db/%s/snapshot?index=%" PRIu64 "&term=%" PRIu64
	         "&offset=%" PRIu64,
	         db->name, ident.index, ident.term, offset);
	request(db, path, &snapshot_callbacks);
}

/* ---- info ---- */

static int on_info_frame(struct fdb *db, const void *body, size_t len)
{
	char errmsg[MA_ERRMSG_SIZE], why[600];
	uint64_t index, term;
	int rc;

	rc = proto_info_decode(body, len, &db->info, errmsg);
	if (rc != 0) {
		stream_failed(db, errmsg);
		return rc;
	}
	if (strcmp(db->info.id.database_id, db->name) != 0) {
		snprintf(why, sizeof why, "source answered for database '%s'",
		         db->info.id.database_id);
		db_fatal(db, MA_ERR_IDENTITY, why);
		return 1;
	}
	if (db->has_identity &&
	    !spool_identity_equal(&db->info.id, &db->identity)) {
		snprintf(why, sizeof why,
		         "source identity %s epoch %" PRIu64
		         " differs from the stored %s epoch %" PRIu64
		         "; refusing it (use --reseed to start over)",
		         db->info.id.cluster_id, db->info.id.epoch,
		         db->identity.cluster_id, db->identity.epoch);
		db_fatal(db, MA_ERR_IDENTITY, why);
		return 1;
	}
	if (!db->has_identity) {
		rc = spool_identity_write(db->dir, &db->info.id, false, errmsg);
		if (rc == 0) {
			db->identity = db->info.id;
			db->has_identity = true;
			rc = open_local(db, errmsg);
		}
		if (rc != 0) {
			db_fatal(db, rc, errmsg);
			return 1;
		}
		log_info("%s: first contact, stored source identity %s epoch "
		         "%" PRIu64,
		         db->name, db->identity.cluster_id, db->identity.epoch);
	}
	mirror_sm_heartbeat(&db->sm, now_ms(), db->info.commit_index,
	                    db->info.source_time_ms);
	rc = local_position(db, &index, &term, errmsg);
	if (rc != 0) {
		db_fatal(db, rc, errmsg);
		return 1;
	}
	db->phase = PHASE_IDLE;
	if (db->force_bootstrap || (index == 0 && db->info.has_snapshot))
		start_snapshot(db);
	else if (index == 0 && db->info.first_index > 1)
		stream_failed(
		    db,
		    "source has neither a snapshot nor its log from index 1");
	else
		/* Resume after what we hold; the source checks prev_term and
		 * answers diverged/compacted when we cannot continue. */
		start_log(db, index + 1, term);
	return 1;
}

static void on_info_body(struct transport_stream *s, const uint8_t *data,
                         size_t len, void *user)
{
	struct fdb *db = user;

	if (!live(db, s) || error_response(db, data, len))
		return;
	if (db->phase == PHASE_INFO)
		feed_frames(db, data, len, on_info_frame);
}

static void on_info_end(struct transport_stream *s, void *user)
{
	struct fdb *db = user;

	if (!stream_ended(db, s))
		return;
	if (db->phase == PHASE_INFO)
		stream_failed(db, "info response ended without an info frame");
}

static const struct transport_stream_callbacks info_callbacks = {
    .on_response = on_response,
    .on_body = on_info_body,
    .on_end = on_info_end,
    .on_error = on_stream_error,
};

static void start_info(struct fdb *db)
{
	char path[128];

	if (db->phase == PHASE_DEAD || db->f->client == NULL || db->f->closing)
		return;
	db->phase = PHASE_INFO;
	if (begin_frames(db, PROTO_FRAME_OVERHEAD) != 0) {
		db_fatal(db, MA_ERR_NOMEM, "out of memory");
		return;
	}
	snprintf(path, sizeof path, "/v1/db/%s/info", db->name);
	request(db, path, &info_callbacks);
}

/* ---- connection ---- */

static void on_connected(struct transport_client *c, void *user)
{
	struct follow *f = user;

	(void)c;
	f->connected = true;
	log_info("connected to %s", f->endpoint_text);
	for (size_t i = 0; i < f->ndb; i++) {
		struct fdb *db = &f->dbs[i];
		if (db->phase == PHASE_DEAD)
			continue;
		mirror_sm_connected(&db->sm, now_ms());
		report(db, false);
		start_info(db);
	}
}

static void schedule_reconnect(struct follow *f, const char *why)
{
	uint32_t delay = 0;
	bool any = false;

	for (size_t i = 0; i < f->ndb; i++) {
		struct fdb *db = &f->dbs[i];
		if (db->phase == PHASE_DEAD)
			continue;
		uint32_t d = mirror_sm_disconnected(&db->sm, now_ms(), why);
		if (!any)
			delay = d;
		any = true;
		db->phase = PHASE_IDLE;
		report(db, false);
	}
	if (!any || f->stopping)
		return; /* every database failed for good */
	f->endpoint = (f->endpoint + 1) % (uint32_t)f->o.endpoint_count;
	log_warn("%s; reconnecting to %s:%u in %u ms", why,
	         f->o.endpoints[f->endpoint].host,
	         f->o.endpoints[f->endpoint].port, delay);
	struct timeval tv = {(time_t)(delay / 1000),
	                     (suseconds_t)(delay % 1000) * 1000};
	evtimer_add(f->reconnect_timer, &tv);
}

static void on_closed(struct transport_client *c, int error, const char *errmsg,
                      void *user)
{
	struct follow *f = user;
	char why[600];
	bool we_closed = f->closing;

	transport_client_free(c);
	f->client = NULL;
	f->connected = false;
	f->closing = false;
	for (size_t i = 0; i < f->ndb; i++)
		f->dbs[i].stream = NULL; /* freed with the client */
	if (we_closed || f->stopping)
		return;
	snprintf(why, sizeof why, "connection to %s closed: %s (%s)",
	         f->endpoint_text, errmsg ? errmsg : "", ma_strerror(error));
	if (error == MA_ERR_TLS)
		log_error("%s", why);
	for (size_t i = 0; i < f->ndb; i++)
		if (f->dbs[i].batch.count > 0)
			batch_flush(&f->dbs[i]);
	schedule_reconnect(f, why);
}

static void on_deferred(evutil_socket_t fd, short what, void *arg)
{
	struct follow *f = arg;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < f->ndb; i++) {
		struct fdb *db = &f->dbs[i];
		if (db->stream != NULL &&
		    (db->phase == PHASE_DEAD || db->restart ||
		     f->drop_reason[0] != '\0')) {
			transport_stream_cancel(db->stream);
			db->stream = NULL;
		}
		if (db->batch.count > 0)
			batch_flush(db);
	}
	if (f->drop_reason[0] != '\0') {
		char why[sizeof f->drop_reason];
		snprintf(why, sizeof why, "%s", f->drop_reason);
		f->drop_reason[0] = '\0';
		for (size_t i = 0; i < f->ndb; i++)
			f->dbs[i].restart = false;
		if (f->client != NULL && !f->closing) {
			f->closing = true;
			f->connected = false;
			transport_client_close(
			    f->client); /* on_closed follows */
			schedule_reconnect(f, why);
		}
		return;
	}
	for (size_t i = 0; i < f->ndb; i++) {
		struct fdb *db = &f->dbs[i];
		if (db->restart) {
			db->restart = false;
			start_info(db);
		}
	}
}

static void connect_next(struct follow *f)
{
	const struct follow_endpoint *ep = &f->o.endpoints[f->endpoint];
	struct transport_client_config cc;
	static const struct transport_client_callbacks cbs = {
	    .on_connected = on_connected,
	    .on_closed = on_closed,
	};
	char errmsg[MA_ERRMSG_SIZE];
	int rc;

	if (f->client != NULL) {
		/* The previous connection never reported on_closed. */
		transport_client_free(f->client);
		f->client = NULL;
		for (size_t i = 0; i < f->ndb; i++)
			f->dbs[i].stream = NULL;
	}
	f->closing = false;
	snprintf(f->endpoint_text, sizeof f->endpoint_text, "%s:%u", ep->host,
	         ep->port);
	memset(&cc, 0, sizeof cc);
	cc.host = ep->host;
	cc.port = ep->port;
	cc.server_name = f->o.server_name;
	cc.ca_file = f->o.ca_file;
	cc.cert_file = f->o.cert_file;
	cc.key_file = f->o.key_file;
	cc.handshake_timeout_ms = f->o.handshake_timeout_ms;
	cc.keepalive_ms = f->o.keepalive_ms;
	cc.tuning = f->o.tuning;
	for (size_t i = 0; i < f->ndb; i++) {
		if (f->dbs[i].phase != PHASE_DEAD) {
			mirror_sm_connecting(&f->dbs[i].sm, now_ms());
			report(&f->dbs[i], false);
		}
	}
	log_info("connecting to %s", f->endpoint_text);
	rc = transport_client_new(f->base, &cc, &cbs, f, &f->client, errmsg);
	if (rc != 0) {
		f->client = NULL;
		if (rc == MA_ERR_CONFIG || rc == MA_ERR_TLS) {
			/* Our own TLS files are bad: no endpoint will do. */
			for (size_t i = 0; i < f->ndb; i++)
				if (f->dbs[i].phase != PHASE_DEAD)
					db_fatal(&f->dbs[i], rc, errmsg);
			return;
		}
		schedule_reconnect(f, errmsg);
	}
}

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	connect_next(arg);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct follow *f = arg;
	char errmsg[MA_ERRMSG_SIZE];
	uint64_t now = now_ms();

	(void)fd;
	(void)what;
	for (size_t i = 0; i < f->ndb; i++) {
		struct fdb *db = &f->dbs[i];
		if (db->phase == PHASE_DEAD)
			continue;
		if (db->wal != NULL && wal_log_sync_due(db->wal, now)) {
			int rc = wal_log_sync(db->wal, errmsg);
			if (rc != 0) {
				db_fatal(db, rc, errmsg);
				continue;
			}
			apply_durable(db);
			mirror_sm_applied(&db->sm, now,
			                  wal_log_durable_index(db->wal));
		}
		mirror_sm_tick(&db->sm, now);
		report(db, false);
	}
	if (f->status_dirty || now >= f->last_status_ms + 1000) {
		f->last_status_ms = now;
		f->status_dirty = false;
		write_status(f);
	}
}

/* ---- public ---- */

int follow_new(struct event_base *base, const struct follow_options *o,
               struct follow **out, char *errmsg)
{
	struct follow *f;
	int rc;

	if (o->data_dir == NULL || o->data_dir[0] == '\0')
		return ma_errorf(errmsg, MA_ERR_CONFIG,
		                 "no data directory given");
	if (o->endpoint_count == 0 || o->endpoint_count > FOLLOW_MAX_ENDPOINTS)
		return ma_errorf(errmsg, MA_ERR_CONFIG,
		                 "between 1 and %d source endpoints are needed",
		                 FOLLOW_MAX_ENDPOINTS);
	if (o->database_count == 0 || o->database_count > FOLLOW_MAX_DATABASES)
		return ma_errorf(errmsg, MA_ERR_CONFIG,
		                 "between 1 and %d databases are needed",
		                 FOLLOW_MAX_DATABASES);
	if (o->ca_file == NULL || o->cert_file == NULL || o->key_file == NULL)
		return ma_errorf(
		    errmsg, MA_ERR_CONFIG,
		    "the CA file, client certificate and key are required");
	for (size_t i = 0; i < o->database_count; i++) {
		if (!parse_name_valid_str(o->databases[i]))
			return ma_errorf(
			    errmsg, MA_ERR_CONFIG,
			    "database name '%s' is not [A-Za-z0-9._-]{1,64}",
			    o->databases[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(o->databases[i], o->databases[j]) == 0)
				return ma_errorf(errmsg, MA_ERR_CONFIG,
				                 "database '%s' given twice",
				                 o->databases[i]);
	}
	rc = io_mkdir_p(o->data_dir, 0755, errmsg);
	if (rc != 0)
		return ma_errwrapf(errmsg, rc, "cannot create data directory");
	f = calloc(1, sizeof *f);
	if (f == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	f->base = base;
	f->o = *o;
	f->o.states.endpoint_count = (uint32_t)o->endpoint_count;
	for (size_t i = 0; i < o->database_count; i++) {
		rc = db_open(f, &f->dbs[i], o->databases[i], o->directories[i],
		             errmsg);
		f->ndb = i + 1;
		if (rc != 0)
			goto fail;
	}
	f->reconnect_timer = evtimer_new(base, on_reconnect, f);
	f->tick_timer = event_new(base, -1, EV_PERSIST, on_tick, f);
	f->deferred = event_new(base, -1, 0, on_deferred, f);
	if (f->reconnect_timer == NULL || f->tick_timer == NULL ||
	    f->deferred == NULL) {
		rc = ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
		goto fail;
	}
	struct timeval tick = {0, 50 * 1000};
	evtimer_add(f->tick_timer, &tick);
	connect_next(f);
	*out = f;
	return 0;
fail:
	follow_free(f);
	return rc;
}

void follow_free(struct follow *f)
{
	if (f == NULL)
		return;
	f->stopping = true;
	for (size_t i = 0; i < f->ndb; i++)
		db_close(&f->dbs[i]);
	if (f->client != NULL)
		transport_client_free(f->client);
	if (f->reconnect_timer != NULL)
		event_free(f->reconnect_timer);
	if (f->tick_timer != NULL)
		event_free(f->tick_timer);
	if (f->deferred != NULL)
		event_free(f->deferred);
	if (f->ndb > 0)
		write_status(f);
	free(f);
}

const struct mirror_status *follow_status(const struct follow *f, size_t i)
{
	return i < f->ndb ? &f->dbs[i].sm.status : NULL;
}

const char *follow_endpoint(const struct follow *f)
{
	return f->endpoint_text;
}

size_t follow_database_count(const struct follow *f)
{
	return f->ndb;
}

const char *follow_database_name(const struct follow *f, size_t i)
{
	return i < f->ndb ? f->dbs[i].name : NULL;
}

struct applier *follow_applier(const struct follow *f, size_t i)
{
	return i < f->ndb ? f->dbs[i].applier : NULL;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int follow_reseed(const char *dir, char *errmsg)
{
	char parent[4096], *slash;
	int rc;

	if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 &&
	    errno != ENOENT)
		return ma_errorf(errmsg, MA_ERR_IO, "%s: cannot remove: %s",
		                 dir, strerror(errno));
	snprintf(parent, sizeof parent, "%s", dir);
	slash = strrchr(parent, '/');
	if (slash == parent)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		snprintf(parent, sizeof parent, ".");
	rc = io_fsync_dir(parent, errmsg);
	if (rc != 0 && rc != MA_ERR_NOTFOUND)
		return rc;
	return 0;
}
