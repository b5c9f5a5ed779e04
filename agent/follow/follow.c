/* The follower's glue: libevent timers, the transport client, the
 * endpoint rotation and the status file around one sans-I/O protocol core
 * per database (follow_core.h), which makes every protocol decision.
 * Everything runs on one loop.
 *
 * The glue reads the clock, feeds each core its events with that reading
 * and carries out the actions the core asks for right after every event
 * (drain()): OPEN at once, CANCEL from the `deferred` event, because the
 * transport must not have a stream cancelled from inside its own
 * callback. A database's stream failure is its own (the core retries it
 * from a tick); only a transport failure of the connection reconnects,
 * with the core's backoff, to the next endpoint. */
#include "agent/follow/follow.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/apply/applier.h"
#include "agent/follow/follow_core.h"
#include "agent/status/status.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "common/parse.h"
#include "proto/proto.h"
#include "snapshot/snapshot.h"
#include "spool/spool.h"

/* A transport stream opened for a core, known to the core by its number.
 * A database has one current stream, plus the info stream that has not
 * delivered its end yet and those waiting to be cancelled. */
#define FDB_STREAMS 8

struct fstream {
	uint64_t id; /* the core's number; 0: free slot */
	struct transport_stream *ts;
	bool cancel; /* the core gave it up: cancel from `deferred` */
};

struct fdb {
	struct follow *f;
	struct follow_core *core;
	/* The name, and the status copied from the core after every event
	 * (drain()): what follow_status() answers, also after follow_free()
	 * has freed the cores and writes the final status. */
	const char *name;
	struct mirror_status status;
	struct fstream streams[FDB_STREAMS];
	/* The wal's group commit deferred by its budget rule: fired at
	 * follow_core_sync_deadline (sync_at; UINT64_MAX when not armed). */
	struct event *sync_timer;
	uint64_t sync_at;
};

/* One database's request of the running probe (GET info). */
struct probe_slot {
	struct follow *f;
	size_t db;
	struct transport_stream *ts;
	int status;
	bool done;
	size_t len;
	uint8_t buf[PROTO_FRAME_OVERHEAD + PROTO_FRAME_HEADER_SIZE];
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
	bool closing; /* transport_client_close() sent */
	uint64_t last_status_ms;
	bool all_failed_reported;
	bool status_dirty;
	bool stopping;
	/* The last connection failure (without the endpoint) and how many
	 * times in a row it came: see FOLLOW_SAME_FAILURES. */
	char last_failure[256];
	int last_failure_error;
	unsigned same_failures;
	/* follow_new succeeded: only then is the status file ours to write
	 * (a follower refused at start-up -- a lock held by another -- must
	 * not overwrite the live one's). */
	bool started;
	/* Probes of the endpoints not followed (one at a time) and the
	 * moves to a fresher endpoint (source_view.h). */
	struct transport_client *probe;
	bool probe_closing;
	uint32_t probe_ep, probe_next;
	uint64_t probe_at;         /* mono ms of the next probe */
	struct event *probe_timer; /* timeout, and the end of a probe */
	struct probe_slot slots[FOLLOW_MAX_DATABASES];
	uint64_t switches;
	char last_switch[256];
	char endpoint_names[FOLLOW_MAX_ENDPOINTS][80];
};

/* A failure a retry does not fix (a certificate refused, nothing
 * listening) comes back identically on every attempt: after this many in
 * a row, attempts wait at least FOLLOW_SAME_FAILURE_DELAY_MS and the
 * failure is logged once more, saying so, then only when it changes. */
#define FOLLOW_SAME_FAILURES 5
#define FOLLOW_SAME_FAILURE_DELAY_MS 60000

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
	o->states.degraded_headroom_ms = cf->degraded_headroom_ms;
	o->snapshot_fsync_interval = cf->snapshot_sync_bytes;
	o->progress_interval = SNAPSHOT_PROGRESS_INTERVAL_DEFAULT;
	o->wal_sync_interval_ms = cf->wal_sync_interval_ms;
	o->wal_sync_bytes = cf->wal_sync_bytes;
	o->wal_sync_budget_pct = (unsigned)cf->wal_sync_budget;
	o->checkpoint.every_entries = cf->checkpoint_entries;
	o->checkpoint.every_bytes = cf->checkpoint_bytes;
	o->checkpoint.every_ms = cf->checkpoint_interval_ms;
	o->checkpoint.keep_snapshots = (uint32_t)cf->checkpoint_keep;
	o->checkpoint.wal_keep_entries = cf->checkpoint_wal_keep;
	o->checkpoint.reserve_max_bytes = cf->reserve_max_bytes;
	o->checkpoint.reserve_max_age_ms = cf->reserve_max_age_ms;
	o->refresh.distance = cf->refresh_distance;
	o->refresh.rate_bytes_per_s = cf->refresh_rate;
	o->refresh.check_ms = cf->refresh_check_ms;
	o->refresh.backoff_min_ms = (uint32_t)cf->backoff_min_ms;
	o->refresh.backoff_max_ms = (uint32_t)cf->backoff_max_ms;
	o->refresh.fsync_interval = cf->snapshot_sync_bytes;
	o->wal_segment_size = cf->wal_segment_size;
	_Static_assert(
	    (int)CONFIG_COMPRESSION_AUTO == (int)FOLLOW_COMPRESSION_AUTO &&
	        (int)CONFIG_COMPRESSION_ZSTD == (int)FOLLOW_COMPRESSION_ZSTD &&
	        (int)CONFIG_COMPRESSION_NONE == (int)FOLLOW_COMPRESSION_NONE,
	    "enum config_compression follows enum "
	    "follow_compression");
	o->snapshot_compression = cf->snapshot_compression;
	o->view.lag_entries = cf->source_lag_entries;
	o->view.lag_grace_ms = cf->source_lag_grace_ms;
	o->view.leader_silence_ms = cf->source_leader_silence_ms;
	o->view.hold_ms = cf->source_switch_hold_ms;
	o->probe_interval_ms = (uint32_t)cf->source_probe_interval_ms;
	o->probe_timeout_ms = (uint32_t)cf->source_probe_timeout_ms;
}

/* ---- reporting ---- */

static void report(struct fdb *db)
{
	const struct mirror_status *st = &db->status;
	struct follow_progress p;

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

static void write_status(struct follow *f)
{
	char path[4096], errmsg[MA_ERRMSG_SIZE];
	struct status_report *r = malloc(sizeof *r);

	if (r == NULL) {
		log_warn("cannot write status file: out of memory");
		return;
	}
	status_report_from_follow(f, (long)getpid(), (int64_t)clock_wall_ms(),
	                          r);
	if (f->o.status_file != NULL)
		snprintf(path, sizeof path, "%s", f->o.status_file);
	else
		snprintf(path, sizeof path, "%s/status", f->o.data_dir);
	if (status_file_write(path, r, errmsg) != 0) {
		/* A file that cannot be replaced (a full disk) must not go on
		 * saying what it said: removing it needs no space, and a
		 * missing status is an unhealthy one (`status` exits 1). */
		if (unlink(path) == 0)
			log_warn("%s; removed the old status file rather than "
			         "leave it stale",
			         errmsg);
		else
			log_warn("%s", errmsg);
	}
	free(r);
}

/* ---- streams and actions ---- */

static void defer(struct follow *f)
{
	if (f->deferred != NULL)
		event_active(f->deferred, 0, 0);
}

static struct fstream *stream_find(struct fdb *db, struct transport_stream *s)
{
	for (size_t i = 0; i < FDB_STREAMS; i++)
		if (db->streams[i].id != 0 && db->streams[i].ts == s)
			return &db->streams[i];
	return NULL;
}

static struct fstream *stream_by_id(struct fdb *db, uint64_t id)
{
	for (size_t i = 0; i < FDB_STREAMS; i++)
		if (db->streams[i].id == id)
			return &db->streams[i];
	return NULL;
}

/* Cancels every stream of db (all: `only_marked` false). */
static void cancel_streams(struct fdb *db, bool only_marked)
{
	for (size_t i = 0; i < FDB_STREAMS; i++) {
		struct fstream *s = &db->streams[i];
		if (s->id == 0 || (only_marked && !s->cancel))
			continue;
		transport_stream_cancel(s->ts);
		memset(s, 0, sizeof *s);
	}
}

/* Forgets every stream of db: they went with the client. */
static void forget_streams(struct fdb *db)
{
	memset(db->streams, 0, sizeof db->streams);
}

static const struct transport_stream_callbacks stream_callbacks;

static void open_stream(struct fdb *db, const struct follow_action *a)
{
	struct follow *f = db->f;
	struct fstream *s = stream_by_id(db, 0);
	char msg[300];
	int rc;

	if (f->client == NULL || f->closing) {
		follow_core_stream_error(db->core, a->stream, MA_ERR_TRANSPORT,
		                         "no connection", clock_mono_ms());
		return;
	}
	if (s == NULL) {
		follow_core_stream_error(db->core, a->stream, MA_ERR_LIMIT,
		                         "too many streams open",
		                         clock_mono_ms());
		return;
	}
	rc = transport_client_request(f->client, a->path, &stream_callbacks, db,
	                              &s->ts);
	if (rc != 0) {
		snprintf(msg, sizeof msg, "cannot open a stream for %s",
		         a->path);
		follow_core_stream_error(db->core, a->stream, rc, msg,
		                         clock_mono_ms());
		return;
	}
	s->id = a->stream;
	s->cancel = false;
}

/* Reports once that every database is in Error or Promoted -- once all
 * of them are open (a database opened Promoted must not stop the
 * follower before the others are). */
static void all_failed_check(struct follow *f)
{
	if (f->all_failed_reported || f->o.on_all_failed == NULL ||
	    f->ndb < f->o.database_count)
		return;
	for (size_t i = 0; i < f->ndb; i++)
		if (!follow_core_failed(f->dbs[i].core))
			return;
	f->all_failed_reported = true;
	f->o.on_all_failed(f->o.progress_arg);
}

/* The wal's fdatasyncs are timed on the monotonic clock, the base of
 * every `now` given to the cores. */
static uint64_t wal_clock_us(void *arg)
{
	(void)arg;
	return clock_mono_us();
}

static void drain(struct fdb *db);

static void on_sync_timer(evutil_socket_t fd, short what, void *arg)
{
	struct fdb *db = arg;

	(void)fd;
	(void)what;
	db->sync_at = UINT64_MAX;
	if (db->core == NULL)
		return;
	follow_core_sync(db->core, clock_mono_ms());
	drain(db);
}

/* Arms the database's sync timer at the core's group-commit deadline
 * (a deferred batch is synced then, not at the next 50 ms tick). */
static void arm_sync(struct fdb *db)
{
	uint64_t at, now;
	struct timeval tv;

	if (db->sync_timer == NULL || db->core == NULL)
		return;
	at = follow_core_sync_deadline(db->core);
	if (at == UINT64_MAX || at == db->sync_at)
		return;
	now = clock_mono_ms();
	tv = clock_tv_from_ms(at > now ? at - now : 0);
	db->sync_at = at;
	evtimer_add(db->sync_timer, &tv);
}

/* Carries out what the core asked for, then tells the caller's callbacks
 * what changed. Runs after every event given to db's core. */
static void drain(struct fdb *db)
{
	struct follow *f = db->f;
	struct follow_action a[FOLLOW_CORE_ACTIONS_MAX];
	struct follow_core_event ev;
	size_t n;

	/* Opening may fail into the core, which may ask for more. */
	while ((n = follow_core_actions(db->core, a, FOLLOW_CORE_ACTIONS_MAX)) >
	       0) {
		for (size_t i = 0; i < n; i++) {
			struct fstream *s;
			switch (a[i].type) {
			case FOLLOW_ACTION_OPEN:
				open_stream(db, &a[i]);
				break;
			case FOLLOW_ACTION_CANCEL:
				s = a[i].stream ? stream_by_id(db, a[i].stream)
				                : NULL;
				if (s != NULL)
					s->cancel = true;
				defer(f); /* and run the core there */
				break;
			}
		}
	}
	if (follow_core_wants_next_endpoint(db->core))
		defer(f); /* moving the connection is decided there */
	if (follow_core_busy(db->core))
		defer(f); /* its next slice of work, after waiting events */
	ev = follow_core_take_event(db->core);
	db->status = *follow_core_status(db->core);
	if (ev.state_changed)
		f->status_dirty = true; /* written at the next tick */
	if (ev.progress)
		report(db);
	if (ev.applied && f->o.on_applied != NULL &&
	    follow_core_applier(db->core) != NULL)
		f->o.on_applied(
		    f->o.progress_arg, (size_t)(db - f->dbs),
		    applier_applied_index(follow_core_applier(db->core)));
	if (follow_core_failed(db->core))
		all_failed_check(f);
	arm_sync(db);
}

/* Whether a transport event should reach the core: the stream is one of
 * db's and not given up. */
static struct fstream *stream_live(struct fdb *db, struct transport_stream *s)
{
	struct fstream *fs = stream_find(db, s);

	if (fs == NULL || fs->cancel)
		return NULL;
	return fs;
}

static void on_response(struct transport_stream *s, int status, void *user)
{
	struct fdb *db = user;
	struct fstream *fs = stream_live(db, s);

	if (fs == NULL)
		return;
	follow_core_response(db->core, fs->id, status, clock_mono_ms());
	drain(db);
}

static void on_body(struct transport_stream *s, const uint8_t *data, size_t len,
                    void *user)
{
	struct fdb *db = user;
	struct fstream *fs = stream_live(db, s);

	if (fs == NULL)
		return;
	follow_core_body(db->core, fs->id, data, len, clock_mono_ms());
	drain(db);
}

/* For on_end and on_error: the transport frees s after the callback, so
 * the slot is freed first; returns the core's number when the event
 * should reach the core, else 0. */
static uint64_t stream_done(struct fdb *db, struct transport_stream *s)
{
	struct fstream *fs = stream_find(db, s);
	uint64_t id;

	if (fs == NULL)
		return 0;
	id = fs->cancel ? 0 : fs->id;
	memset(fs, 0, sizeof *fs);
	return id;
}

static void on_end(struct transport_stream *s, void *user)
{
	struct fdb *db = user;
	uint64_t id = stream_done(db, s);

	if (id == 0)
		return;
	follow_core_end(db->core, id, clock_mono_ms());
	drain(db);
}

static void on_stream_error(struct transport_stream *s, int code,
                            const char *msg, void *user)
{
	struct fdb *db = user;
	uint64_t id = stream_done(db, s);

	if (id == 0)
		return;
	follow_core_stream_error(db->core, id, code, msg, clock_mono_ms());
	drain(db);
}

static const struct transport_stream_callbacks stream_callbacks = {
    .on_response = on_response,
    .on_body = on_body,
    .on_end = on_end,
    .on_error = on_stream_error,
};

/* ---- connection ---- */

static void on_connected(struct transport_client *c, void *user)
{
	struct follow *f = user;
	char cert[384];

	f->connected = true;
	f->same_failures = 0;
	f->last_failure[0] = '\0';
	f->last_failure_error = 0;
	transport_client_peer_cert(c, cert, sizeof cert);
	log_info("connected to %s (server certificate %s)", f->endpoint_text,
	         cert);
	for (size_t i = 0; i < f->ndb; i++) {
		follow_core_set_rtt(f->dbs[i].core,
		                    transport_client_min_rtt_us(c));
		follow_core_connected(f->dbs[i].core, clock_mono_ms());
		drain(&f->dbs[i]);
	}
}

/* target: the endpoint to go to (UINT32_MAX: the next one). */
static void schedule_reconnect_to(struct follow *f, const char *why,
                                  uint32_t target)
{
	uint32_t delay = 0;
	bool any = false;

	for (size_t i = 0; i < f->ndb; i++) {
		struct fdb *db = &f->dbs[i];
		uint32_t d;

		forget_streams(db);
		if (follow_core_failed(db->core))
			continue;
		d = follow_core_disconnected(db->core, clock_mono_ms(), why);
		drain(db);
		if (follow_core_failed(db->core))
			continue; /* its last entries could not be written */
		/* The soonest: a database backing off for its own trouble
		 * does not hold the others' reconnect back (it waits on its
		 * own when the connection is up). */
		if (!any || d < delay)
			delay = d;
		any = true;
	}
	if (!any || f->stopping)
		return; /* every database failed for good */
	f->endpoint = (f->endpoint + 1) % (uint32_t)f->o.endpoint_count;
	if (target < f->o.endpoint_count) {
		f->endpoint = target;
		for (size_t i = 0; i < f->ndb; i++)
			follow_core_set_endpoint(f->dbs[i].core, target,
			                         clock_mono_ms());
	}
	if (f->same_failures >= FOLLOW_SAME_FAILURES &&
	    delay < FOLLOW_SAME_FAILURE_DELAY_MS)
		delay = FOLLOW_SAME_FAILURE_DELAY_MS;
	if (f->same_failures > FOLLOW_SAME_FAILURES)
		log_debug("%s; reconnecting to %s in %u ms", why,
		          f->endpoint_names[f->endpoint], delay);
	else if (f->same_failures == FOLLOW_SAME_FAILURES)
		log_error("%s; the same failure %u times in a row: a retry "
		          "will not fix it; retrying every %u s, logged again "
		          "only when the failure changes",
		          why, f->same_failures, delay / 1000);
	else
		log_msg(f->last_failure_error == MA_ERR_TLS ? LOG_LEVEL_ERROR
		                                            : LOG_LEVEL_WARN,
		        "%s; reconnecting to %s in %u ms", why,
		        f->endpoint_names[f->endpoint], delay);
	struct timeval tv = {(time_t)(delay / 1000),
	                     (suseconds_t)(delay % 1000) * 1000};
	evtimer_add(f->reconnect_timer, &tv);
}

static void schedule_reconnect(struct follow *f, const char *why)
{
	schedule_reconnect_to(f, why, UINT32_MAX);
}

/* Counts identical failures in a row. The transport's message starts
 * with the endpoint as the transport writes it ("HOST:PORT: ", the host
 * as configured, no brackets), which changes as attempts go round the
 * sources: compare what follows it. */
static void count_failure(struct follow *f, int error, const char *errmsg)
{
	const struct follow_endpoint *ep = &f->o.endpoints[f->endpoint];
	size_t n = strlen(ep->host);
	const char *what = errmsg;
	char *end;

	if (strncmp(errmsg, ep->host, n) == 0 && errmsg[n] == ':' &&
	    strtoul(errmsg + n + 1, &end, 10) == ep->port && *end == ':')
		what = end + 1;
	/* "nothing listens on UDP HOST:PORT" names the endpoint again. */
	if (strstr(what, "nothing listens on UDP") != NULL)
		what = "nothing listens on UDP";
	if (error == f->last_failure_error &&
	    strncmp(what, f->last_failure, sizeof f->last_failure - 1) == 0) {
		f->same_failures++;
		return;
	}
	f->last_failure_error = error;
	snprintf(f->last_failure, sizeof f->last_failure, "%s", what);
	f->same_failures = 1;
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
		forget_streams(&f->dbs[i]); /* freed with the client */
	if (we_closed || f->stopping)
		return;
	snprintf(why, sizeof why, "connection to %s closed: %s (%s)",
	         f->endpoint_text, errmsg ? errmsg : "", ma_strerror(error));
	count_failure(f, error, errmsg ? errmsg : "");
	schedule_reconnect(f, why); /* logs it, once */
}

/* Every database not in Error was refused by this endpoint (403) and
 * another is left: the connection serves none of them here. */
static bool all_want_next_endpoint(const struct follow *f)
{
	bool any = false;

	for (size_t i = 0; i < f->ndb; i++) {
		if (follow_core_failed(f->dbs[i].core))
			continue;
		if (!follow_core_wants_next_endpoint(f->dbs[i].core))
			return false;
		any = true;
	}
	return any;
}

static void on_deferred(evutil_socket_t fd, short what, void *arg)
{
	struct follow *f = arg;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < f->ndb; i++)
		cancel_streams(&f->dbs[i], true);
	if (f->client != NULL && !f->closing && all_want_next_endpoint(f)) {
		char why[300];

		snprintf(why, sizeof why,
		         "%s cannot serve any database (refused, another "
		         "identity, or a snapshot corrupt there); trying the "
		         "next endpoint",
		         f->endpoint_text);
		f->closing = true;
		f->connected = false;
		transport_client_close(f->client); /* on_closed follows */
		schedule_reconnect(f, why);
		return;
	}
	/* Restarts decided inside callbacks, entries batched before a
	 * failure. */
	for (size_t i = 0; i < f->ndb; i++) {
		follow_core_run(f->dbs[i].core, clock_mono_ms());
		drain(&f->dbs[i]);
	}
}

/* The client configuration for endpoint k: the one place a connection's
 * options are taken from follow_options (the followed connection and the
 * probes differ only in their timeouts). */
static void client_config(const struct follow *f, uint32_t k,
                          uint32_t handshake_timeout_ms, uint32_t keepalive_ms,
                          struct transport_client_config *cc)
{
	const struct follow_endpoint *ep = &f->o.endpoints[k];

	memset(cc, 0, sizeof *cc);
	cc->host = ep->host;
	cc->port = ep->port;
	cc->server_name =
	    ep->server_name != NULL ? ep->server_name : f->o.server_name;
	cc->ca_file = f->o.ca_file;
	cc->cert_file = f->o.cert_file;
	cc->key_file = f->o.key_file;
	cc->handshake_timeout_ms = handshake_timeout_ms;
	cc->keepalive_ms = keepalive_ms;
	cc->tuning = f->o.tuning;
}

static void connect_next(struct follow *f)
{
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
			forget_streams(&f->dbs[i]);
	}
	f->closing = false;
	snprintf(f->endpoint_text, sizeof f->endpoint_text, "%s",
	         f->endpoint_names[f->endpoint]);
	client_config(f, f->endpoint, f->o.handshake_timeout_ms,
	              f->o.keepalive_ms, &cc);
	for (size_t i = 0; i < f->ndb; i++) {
		follow_core_connecting(f->dbs[i].core, clock_mono_ms());
		drain(&f->dbs[i]);
	}
	log_info("connecting to %s", f->endpoint_text);
	rc = transport_client_new(f->base, &cc, &cbs, f, &f->client, errmsg);
	if (rc != 0) {
		f->client = NULL;
		if (rc == MA_ERR_CONFIG || rc == MA_ERR_TLS) {
			/* Our own TLS files are bad: no endpoint will do. */
			for (size_t i = 0; i < f->ndb; i++) {
				follow_core_fail(f->dbs[i].core, rc, errmsg,
				                 clock_mono_ms());
				drain(&f->dbs[i]);
			}
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

/* ---- freshness: moves and probes ---- */

/* A database's rules want the connection on a fresher endpoint: the
 * first such wish moves it (the others follow the connection). */
static void take_switches(struct follow *f)
{
	char why[256];
	uint32_t target;

	for (size_t i = 0; i < f->ndb; i++) {
		if (!follow_core_take_switch(f->dbs[i].core, &target, why,
		                             sizeof why))
			continue;
		if (f->client == NULL || f->closing || !f->connected ||
		    target == f->endpoint) {
			/* Not moved: its view follows the connection. */
			follow_core_set_endpoint(f->dbs[i].core, f->endpoint,
			                         clock_mono_ms());
			continue;
		}
		f->switches++;
		snprintf(f->last_switch, sizeof f->last_switch, "%.64s: %.180s",
		         f->dbs[i].name, why);
		log_warn("leaving %s for %s: %s", f->endpoint_text,
		         f->endpoint_names[target], f->last_switch);
		f->closing = true;
		f->connected = false;
		transport_client_close(f->client); /* on_closed follows */
		schedule_reconnect_to(f, f->last_switch, target);
		return;
	}
}

static void probe_done(struct probe_slot *sl, const char *failed)
{
	struct follow *f = sl->f;
	struct fdb *db = &f->dbs[sl->db];
	bool all = true;

	if (sl->done)
		return;
	sl->done = true;
	sl->ts = NULL;
	if (db->core != NULL) {
		if (failed != NULL)
			follow_core_probe_failed(db->core, f->probe_ep, failed,
			                         clock_mono_ms());
		else
			follow_core_probe_answer(db->core, f->probe_ep, sl->buf,
			                         sl->len, clock_mono_ms());
	}
	for (size_t i = 0; i < f->ndb; i++)
		all = all && f->slots[i].done;
	if (all && f->probe_timer != NULL) {
		/* Closed from the timer: not inside a transport callback. */
		struct timeval now = {0, 0};
		evtimer_add(f->probe_timer, &now);
	}
}

static void probe_on_response(struct transport_stream *s, int status,
                              void *user)
{
	(void)s;
	((struct probe_slot *)user)->status = status;
}

static void probe_on_body(struct transport_stream *s, const uint8_t *data,
                          size_t len, void *user)
{
	struct probe_slot *sl = user;

	(void)s;
	if (sl->done)
		return;
	if (len > sizeof sl->buf - sl->len) {
		probe_done(sl, "info answer too large");
		return;
	}
	memcpy(sl->buf + sl->len, data, len);
	sl->len += len;
}

static void probe_on_end(struct transport_stream *s, void *user)
{
	struct probe_slot *sl = user;
	char why[64];

	(void)s;
	if (sl->status == 200) {
		probe_done(sl, NULL);
		return;
	}
	snprintf(why, sizeof why, "answered status %d", sl->status);
	probe_done(sl, why);
}

static void probe_on_error(struct transport_stream *s, int code,
                           const char *msg, void *user)
{
	char why[300];

	(void)s;
	snprintf(why, sizeof why, "%s (%s)", msg ? msg : "stream failed",
	         ma_strerror(code));
	probe_done(user, why);
}

static const struct transport_stream_callbacks probe_stream_callbacks = {
    .on_response = probe_on_response,
    .on_body = probe_on_body,
    .on_end = probe_on_end,
    .on_error = probe_on_error,
};

static void probe_on_connected(struct transport_client *c, void *user)
{
	struct follow *f = user;
	char path[128];

	for (size_t i = 0; i < f->ndb; i++) {
		struct probe_slot *sl = &f->slots[i];

		if (sl->done)
			continue;
		snprintf(path, sizeof path, "/v1/db/%s/info", f->dbs[i].name);
		if (transport_client_request(c, path, &probe_stream_callbacks,
		                             sl, &sl->ts) != 0)
			probe_done(sl, "cannot open a stream");
	}
}

static void probe_on_closed(struct transport_client *c, int error,
                            const char *errmsg, void *user)
{
	struct follow *f = user;
	char why[300];

	snprintf(why, sizeof why, "%s (%s)", errmsg ? errmsg : "closed",
	         ma_strerror(error));
	transport_client_free(c);
	f->probe = NULL;
	f->probe_closing = false;
	for (size_t i = 0; i < f->ndb; i++)
		probe_done(&f->slots[i], why);
	evtimer_del(f->probe_timer);
	f->probe_at = clock_mono_ms() + f->o.probe_interval_ms;
}

/* The probe timer: its timeout passed, or every answer is in. */
static void on_probe_timer(evutil_socket_t fd, short what, void *arg)
{
	struct follow *f = arg;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < f->ndb; i++)
		probe_done(&f->slots[i],
		           "no answer within source_probe_timeout");
	evtimer_del(f->probe_timer);
	if (f->probe != NULL && !f->probe_closing) {
		f->probe_closing = true;
		transport_client_close(f->probe); /* probe_on_closed follows */
	}
}

/* Every probe_interval_ms, one endpoint other than the followed one is
 * asked for every database's info on a short connection of its own. */
static void probe_tick(struct follow *f, uint64_t now)
{
	uint32_t n = (uint32_t)f->o.endpoint_count;
	struct transport_client_config cc;
	static const struct transport_client_callbacks cbs = {
	    .on_connected = probe_on_connected,
	    .on_closed = probe_on_closed,
	};
	char errmsg[MA_ERRMSG_SIZE];
	int rc;

	if (f->o.probe_interval_ms == 0 || n < 2 || f->probe != NULL ||
	    f->stopping || now < f->probe_at)
		return;
	f->probe_next %= n;
	if (f->probe_next == f->endpoint)
		f->probe_next = (f->probe_next + 1) % n;
	f->probe_ep = f->probe_next;
	f->probe_next = (f->probe_next + 1) % n;
	f->probe_at = now + f->o.probe_interval_ms;
	client_config(f, f->probe_ep, f->o.probe_timeout_ms, 0, &cc);
	for (size_t i = 0; i < f->ndb; i++) {
		memset(&f->slots[i], 0, sizeof f->slots[i]);
		f->slots[i].f = f;
		f->slots[i].db = i;
		f->slots[i].done = follow_core_failed(f->dbs[i].core);
	}
	rc = transport_client_new(f->base, &cc, &cbs, f, &f->probe, errmsg);
	if (rc != 0) {
		f->probe = NULL;
		for (size_t i = 0; i < f->ndb; i++)
			probe_done(&f->slots[i], errmsg);
		evtimer_del(f->probe_timer);
		return;
	}
	struct timeval tv = clock_tv_from_ms(f->o.probe_timeout_ms);
	evtimer_add(f->probe_timer, &tv);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct follow *f = arg;
	uint64_t now = clock_mono_ms();

	(void)fd;
	(void)what;
	for (size_t i = 0; i < f->ndb; i++) {
		if (f->client != NULL && f->connected)
			follow_core_set_rtt(
			    f->dbs[i].core,
			    transport_client_min_rtt_us(f->client));
		follow_core_tick(f->dbs[i].core, now);
		drain(&f->dbs[i]);
	}
	take_switches(f);
	probe_tick(f, now);
	if (f->status_dirty || now >= f->last_status_ms + 1000) {
		f->last_status_ms = now;
		f->status_dirty = false;
		write_status(f);
	}
}

/* ---- public ---- */

static int db_open(struct follow *f, struct fdb *db, size_t i, char *errmsg)
{
	struct follow_core_config cc;
	char dir[4096];
	int rc;

	db->f = f;
	db->name = f->o.databases[i];
	if ((f->o.directories[i] != NULL
	         ? snprintf(dir, sizeof dir, "%s", f->o.directories[i])
	         : snprintf(dir, sizeof dir, "%s/%s", f->o.data_dir,
	                    db->name)) >= (int)sizeof dir)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 db->name);
	memset(&cc, 0, sizeof cc);
	cc.name = db->name;
	cc.dir = dir;
	cc.states = f->o.states;
	cc.snapshot_fsync_interval = f->o.snapshot_fsync_interval;
	cc.progress_interval = f->o.progress_interval;
	cc.wal_sync_interval_ms = f->o.wal_sync_interval_ms;
	cc.wal_sync_bytes = f->o.wal_sync_bytes;
	cc.wal_sync_budget_pct = f->o.wal_sync_budget_pct;
	cc.wal_clock_us = wal_clock_us;
	cc.wal_clock_arg = NULL;
	cc.checkpoint = f->o.checkpoint;
	cc.refresh = f->o.refresh;
	cc.restore_async = true;
	cc.wal_segment_size = f->o.wal_segment_size;
	cc.compression = f->o.snapshot_compression;
	cc.applier_kind = f->o.appliers[i];
	cc.seed = (uint64_t)getpid() ^ clock_mono_ms();
	cc.view = f->o.view;
	/* The core records incarnations by the configured name (a node that
	 * moves keeps its record) and re-keys old files by the address. */
	for (size_t k = 0; k < f->o.endpoint_count && k < 16; k++) {
		const struct follow_endpoint *ep = &f->o.endpoints[k];
		const char *name = ep->name != NULL ? ep->name : ep->host;

		snprintf(cc.endpoint_addrs[k], sizeof cc.endpoint_addrs[k],
		         "%s", f->endpoint_names[k]);
		snprintf(cc.endpoints[k], sizeof cc.endpoints[k],
		         strchr(name, ':') ? "[%s]:%u" : "%s:%u", name,
		         ep->port);
	}
	db->sync_at = UINT64_MAX;
	db->sync_timer = evtimer_new(f->base, on_sync_timer, db);
	if (db->sync_timer == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM,
		                 "%s: cannot create the wal sync timer",
		                 db->name);
	rc = follow_core_new(&cc, clock_mono_ms(), &db->core, errmsg);
	if (rc != 0) {
		event_free(db->sync_timer);
		db->sync_timer = NULL;
		return rc;
	}
	drain(db);
	return 0;
}

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
	f->o.view.endpoint_count = (uint32_t)o->endpoint_count;
	if (f->o.view.stale_ms == 0) {
		/* Each other endpoint is probed every (n - 1) intervals:
		 * an answer stays current for two rounds. */
		uint64_t round =
		    (uint64_t)f->o.probe_interval_ms *
		    (o->endpoint_count > 1 ? o->endpoint_count - 1 : 1);
		f->o.view.stale_ms = 2 * round + f->o.probe_timeout_ms;
		if (f->o.view.stale_ms < 15000)
			f->o.view.stale_ms = 15000;
	}
	/* The one place endpoints are named (HOST:PORT, [HOST]:PORT for
	 * IPv6): logs, the cores' views, the status file and page. */
	for (size_t k = 0; k < o->endpoint_count; k++)
		snprintf(f->endpoint_names[k], sizeof f->endpoint_names[k],
		         strchr(o->endpoints[k].host, ':') ? "[%s]:%u"
		                                           : "%s:%u",
		         o->endpoints[k].host, o->endpoints[k].port);
	for (size_t i = 0; i < o->database_count; i++) {
		rc = db_open(f, &f->dbs[i], i, errmsg);
		if (rc != 0)
			goto fail;
		f->ndb = i + 1;
	}
	/* Every database opened Promoted (or failed at once): stop. */
	all_failed_check(f);
	f->reconnect_timer = evtimer_new(base, on_reconnect, f);
	f->tick_timer = event_new(base, -1, EV_PERSIST, on_tick, f);
	f->deferred = event_new(base, -1, 0, on_deferred, f);
	f->probe_timer = evtimer_new(base, on_probe_timer, f);
	f->probe_at = clock_mono_ms() + f->o.probe_interval_ms;
	if (f->reconnect_timer == NULL || f->tick_timer == NULL ||
	    f->deferred == NULL || f->probe_timer == NULL) {
		rc = ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
		goto fail;
	}
	struct timeval tick = {0, 50 * 1000};
	evtimer_add(f->tick_timer, &tick);
	f->started = true;
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
	for (size_t i = 0; i < f->ndb; i++) {
		cancel_streams(&f->dbs[i], false);
		if (f->dbs[i].core != NULL)
			f->dbs[i].status = *follow_core_status(f->dbs[i].core);
		follow_core_free(f->dbs[i].core);
		f->dbs[i].core = NULL;
		if (f->dbs[i].sync_timer != NULL)
			event_free(f->dbs[i].sync_timer);
		f->dbs[i].sync_timer = NULL;
	}
	if (f->client != NULL)
		transport_client_free(f->client);
	if (f->probe != NULL)
		transport_client_free(f->probe);
	if (f->probe_timer != NULL)
		event_free(f->probe_timer);
	if (f->reconnect_timer != NULL)
		event_free(f->reconnect_timer);
	if (f->tick_timer != NULL)
		event_free(f->tick_timer);
	if (f->deferred != NULL)
		event_free(f->deferred);
	if (f->started)
		write_status(f); /* the final state, also after a fatal stop */
	free(f);
}

const struct mirror_status *follow_status(const struct follow *f, size_t i)
{
	return i < f->ndb ? &f->dbs[i].status : NULL;
}

uint64_t follow_switches(const struct follow *f)
{
	return f->switches;
}

const char *follow_last_switch(const struct follow *f)
{
	return f->last_switch;
}

const struct source_view *follow_source_view(const struct follow *f, size_t i)
{
	return i < f->ndb && f->dbs[i].core != NULL
	           ? follow_core_view(f->dbs[i].core)
	           : NULL;
}

const struct follow_refresh *follow_refresh_of(const struct follow *f, size_t i)
{
	return i < f->ndb && f->dbs[i].core != NULL
	           ? follow_core_refresh(f->dbs[i].core)
	           : NULL;
}

const char *follow_endpoint_name(const struct follow *f, size_t i)
{
	return i < f->o.endpoint_count ? f->endpoint_names[i] : NULL;
}

bool follow_stopping(const struct follow *f)
{
	return f->stopping;
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
	return i < f->ndb && f->dbs[i].core != NULL
	           ? follow_core_applier(f->dbs[i].core)
	           : NULL;
}

uint64_t follow_log_index(const struct follow *f, size_t i)
{
	return i < f->ndb && f->dbs[i].core != NULL
	           ? follow_core_log_index(f->dbs[i].core)
	           : 0;
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
	char parent[4096], lock[4096], *slash;
	int rc, lfd;

	/* A follower with this directory open holds its wal lock: refuse
	 * rather than pull the files from under it (two writers on one
	 * wal). Held until the tree is gone. */
	snprintf(lock, sizeof lock, "%s/" SPOOL_WAL_DIR "/wal.lock", dir);
	lfd = open(lock, O_RDWR | O_CLOEXEC);
	if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno;
		close(lfd);
		return ma_errorf(
		    errmsg, rc == EWOULDBLOCK ? MA_ERR_BUSY : MA_ERR_IO,
		    "%s is in use (lock %s: %s): stop the follower "
		    "that mirrors it before --reseed",
		    dir, lock, strerror(rc));
	}
	if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 &&
	    errno != ENOENT) {
		rc = errno;
		if (lfd >= 0)
			close(lfd);
		return ma_errorf(errmsg, MA_ERR_IO, "%s: cannot remove: %s",
		                 dir, strerror(rc));
	}
	if (lfd >= 0)
		close(lfd);
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

int follow_lock_data_dir(const char *data_dir, int *fd, char *errmsg)
{
	char path[4096];
	int rc;

	*fd = -1;
	rc = io_mkdir_p(data_dir, 0755, errmsg);
	if (rc != 0)
		return ma_errwrapf(errmsg, rc, "data_dir");
	if (io_path_join(path, sizeof path, data_dir, FOLLOW_LOCK_FILE) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 data_dir);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0)
		return ma_errorf(errmsg, ma_error_from_errno(errno),
		                 "cannot open %s: %s", path, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno;
		close(*fd);
		*fd = -1;
		return ma_errorf(errmsg,
		                 rc == EWOULDBLOCK ? MA_ERR_BUSY : MA_ERR_IO,
		                 "another follower runs on data_dir %s (lock "
		                 "%s: %s); nothing was changed",
		                 data_dir, path, strerror(rc));
	}
	return 0;
}
