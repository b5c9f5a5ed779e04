/* The mirror's per-database protocol core (follow_core.h): the decisions
 * of docs/PROTOCOL.md on the mirror's side, with no socket, no libevent
 * and no clock. Every entry point takes `now` and keeps it in c->now for
 * the storage callbacks it triggers (the receiver's progress events, the
 * wal's group commit), so a run is a function of its events.
 *
 * Streams are the core's own numbers. The current one is c->stream; a
 * stream the core gave up (restart, failure) is forgotten, and events
 * carrying its number fall through live(). */
#include "agent/follow/follow_core.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/apply/applier.h"
#include "agent/follow/follow_apply.h"
#include "agent/follow/follow_refresh.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "proto/proto.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_codec.h"
#include "spool/spool.h"
#include "wal/wal.h"

/* A snapshot is committed (and the log started) as soon as the receiver
 * accepts its final chunk: the stream's end may never come (a cut right
 * after it), and nothing the end could say changes what is stored. */
enum phase {
	PHASE_IDLE,
	PHASE_INFO,
	PHASE_SNAPSHOT,
	/* Every byte of a resumed snapshot is in, its prefix is still being
	 * read back (snapshot_receiver_verify from follow_core_run); the
	 * stream's end is not awaited. */
	PHASE_SNAPSHOT_VERIFY,
	PHASE_LOG,
	PHASE_DEAD,
};

/* Entries of one body event, appended to the wal in one write. */
struct batch {
	struct wal_entry *entries;
	size_t count, cap;
	unsigned char *data;
	size_t data_len, data_cap;
};

/* Actions waiting for the glue. The glue drains after every event and an
 * event queues at most two (cancel, open), so this never fills;
 * push() says so loudly if a caller forgets to drain. */
#define ACTION_QUEUE 16

/* The largest log index the mirror accepts from a source (2^63 - 1):
 * indexes are the peer's word, and one at UINT64_MAX would make "the
 * index after it" wrap (wal_log_reset(0) failed and the database went
 * fatal). Beyond it is a protocol error of that stream, retried. */
#define INDEX_MAX ((uint64_t)INT64_MAX)

/* A log stream's body is flushed into the wal at this size even inside
 * one body event, which bounds the batch's memory. */
#define BATCH_FLUSH_BYTES (4u << 20)

struct follow_core {
	struct follow_core_config cfg;
	char name[PROTO_DATABASE_ID_MAX + 1];
	char dir[4096];
	uint64_t now; /* of the event being handled */

	bool has_identity;
	struct proto_identity identity;
	struct spool_incarnations incs; /* per source node */
	struct wal_log *wal;
	uint64_t durable_logged; /* durable_note() */
	struct snapshot_store *store;
	struct snapshot_receiver *recv;
	struct mirror_sm sm;
	/* The source commit index last written to DIR/source_commit (the
	 * promote's RPO figure survives a restart); warned: a failed write
	 * was logged once. */
	uint64_t commit_saved;
	bool commit_warned;
	enum mirror_state reported; /* last state the glue was told of */
	struct follow_core_event event;

	bool connected;
	bool restart; /* info again at the next follow_core_run */
	/* Endpoints that refused this database (403), by index; while
	 * another is left, wants_move asks the glue for it. */
	uint64_t refused;
	bool wants_move;
	uint64_t retry_at; /* a failed stream: info again then (0: none) */
	enum phase phase;
	uint64_t stream;      /* current stream, 0: none */
	uint64_t last_stream; /* numbers are never reused */
	int status;           /* HTTP status of the current stream */
	struct proto_framer frames;
	bool frames_open;
	bool force_bootstrap; /* the source said compacted/diverged */
	struct proto_info info;
	uint64_t next_index; /* log stream: next index expected */
	/* The snapshot the store committed (the receiver's COMPLETE event,
	 * or the ident begin() found committed): the wal restarts after it,
	 * not after what c->info says. */
	uint64_t committed_index, committed_term;
	bool got_start;
	struct batch batch;
	/* Highest offset received of snapshot index-term, so that bytes
	 * below it received again count as re-fetched; the stream's offset
	 * so far (from the requested offset on). */
	uint64_t refetch_index, refetch_term, refetch_high, refetch_cursor;

	/* The read-only state, fed from the local wal (follow_apply.h). */
	struct follow_apply apply;
	struct follow_checkpoint ckpt; /* follow_checkpoint.h */
	struct source_view view;       /* source_view.h */
	bool switch_wanted;            /* follow_core_take_switch */
	uint32_t switch_target;
	char switch_why[256];
	struct follow_refresh refresh; /* follow_refresh.h (applier none) */
	/* Snapshot compression: the connection's minimum RTT, the codec
	 * that decompresses zstd chunks before the receiver sees them. */
	uint64_t rtt_us;
	struct snapshot_codec *codec;

	struct follow_action actions[ACTION_QUEUE];
	size_t action_head, action_count;
};

static void start_info(struct follow_core *c);
static bool want_zstd(const struct follow_core *c);
static bool compression_wanted(const struct follow_core *c);
static int batch_flush(struct follow_core *c);

/* ---- actions and reporting ---- */

static struct follow_action *push(struct follow_core *c,
                                  enum follow_action_type type)
{
	struct follow_action *a;

	if (c->action_count == ACTION_QUEUE) {
		log_error("%s: follow core action queue full: the caller "
		          "must drain actions after every event",
		          c->name);
		abort();
	}
	a = &c->actions[(c->action_head + c->action_count) % ACTION_QUEUE];
	c->action_count++;
	memset(a, 0, sizeof *a);
	a->type = type;
	return a;
}

/* Gives up the current stream: the glue cancels it (outside of transport
 * callbacks), and its later events are ignored. */
static void abandon(struct follow_core *c)
{
	if (c->stream == 0)
		return;
	push(c, FOLLOW_ACTION_CANCEL)->stream = c->stream;
	c->stream = 0;
}

/* Tells the glue what to report: the progress callback runs when the
 * state changed or when `always` (bootstrap progress, fatal errors). */
static void report(struct follow_core *c, bool always)
{
	enum mirror_state state = c->sm.status.state;

	if (!always && state == c->reported)
		return;
	if (state != c->reported) {
		log_info("%s: state %s", c->name, mirror_state_name(state));
		c->event.state_changed = true;
	}
	c->reported = state;
	c->event.progress = true;
}

/* Keeps DIR/source_commit at the highest commit index a source
 * announced (spool.h). Not fatal: only the RPO figure depends on it. */
static void save_commit(struct follow_core *c)
{
	char errmsg[MA_ERRMSG_SIZE];
	uint64_t idx = c->sm.status.source_commit_index;

	if (idx <= c->commit_saved || !c->has_identity)
		return;
	if (spool_source_commit_write(c->dir, idx, errmsg) == 0) {
		c->commit_saved = idx;
	} else if (!c->commit_warned) {
		c->commit_warned = true;
		log_warn("%s: %s (the RPO figure of a promotion may "
		         "under-count)",
		         c->name, errmsg);
	}
}

/* A failure no retry fixes: this database stops, the others go on. */
static void db_fatal(struct follow_core *c, int code, const char *msg)
{
	log_error("%s: %s", c->name, msg);
	mirror_sm_fatal(&c->sm, code, msg);
	c->phase = PHASE_DEAD;
	abandon(c);
	report(c, true);
}

/* Write and fsync failures are fail-stop: never retried and trusted. */
static bool local_failure(int rc)
{
	return rc == MA_ERR_IO || rc == MA_ERR_FAILED;
}

/* Something went wrong with what the source sent on this database's
 * stream: its own trouble. The stream is given up and this database
 * alone asks again (info first) after its backoff, at the next tick past
 * it; the connection and the other databases carry on. The backoff grows
 * until this database makes progress (mirror_state.h), so an answer the
 * mirror cannot act on is asked again a few times a minute at most. */
static void stream_failed(struct follow_core *c, const char *what)
{
	uint32_t delay;

	if (c->phase == PHASE_DEAD)
		return;
	/* Entries batched before the failure are valid; the retry resumes
	 * after them. */
	if (c->batch.count > 0 && batch_flush(c) != 0 && c->phase == PHASE_DEAD)
		return;
	c->phase = PHASE_IDLE;
	c->restart = false;
	abandon(c);
	if (!c->connected || c->retry_at != 0)
		return; /* already waiting */
	delay = mirror_sm_stream_failed(&c->sm, c->now, what);
	c->retry_at = c->now + (delay > 0 ? delay : 1);
	log_warn("%s: %s; asking again in %" PRIu32 " ms", c->name, what,
	         delay);
	report(c, true);
}

/* What the followed endpoint said of its position and its node. */
static void observe(struct follow_core *c, uint64_t commit,
                    const struct proto_freshness *fr)
{
	source_view_observe(&c->view, c->sm.status.endpoint, commit, fr,
	                    c->now);
	mirror_sm_freshest(&c->sm, c->now,
	                   source_view_freshest(&c->view, c->now));
}

/* An answer this endpoint will give again (403, another identity, a
 * snapshot corrupt on it): the next endpoint is tried (the glue moves
 * when every database wants it). Once every endpoint gave such an
 * answer the database is in Error (`fatal`), or backs off (capped) and
 * starts the round again. */
static void next_endpoint(struct follow_core *c, int code, const char *why,
                          bool fatal, const char *verb)
{
	uint32_t n = c->cfg.states.endpoint_count;
	uint64_t all = n >= 64 ? UINT64_MAX : (UINT64_C(1) << (n ? n : 1)) - 1;
	char msg[700];

	c->refused |= UINT64_C(1) << (c->sm.status.endpoint % 64);
	if ((c->refused & all) == all) {
		if (n > 1)
			snprintf(msg, sizeof msg,
			         "%s (every one of the %" PRIu32
			         " endpoints %s)",
			         why, n, verb);
		else
			snprintf(msg, sizeof msg, "%s", why);
		if (fatal) {
			db_fatal(c, code, msg);
			return;
		}
		c->refused = 0;
		stream_failed(c, msg);
		return;
	}
	c->wants_move = true;
	snprintf(msg, sizeof msg, "%s; trying the next endpoint", why);
	stream_failed(c, msg);
}

/* ---- local state ---- */

static int open_wal(struct follow_core *c, char *errmsg)
{
	struct wal_options wo;
	char path[4096];
	int rc;

	if (c->wal != NULL)
		return 0;
	wal_options_init(&wo);
	rc = wal_identity_init(&wo.identity, c->identity.cluster_id,
	                       c->identity.database_id, errmsg);
	if (rc != 0)
		return rc;
	if (c->cfg.wal_segment_size > 0)
		wo.segment_size = c->cfg.wal_segment_size;
	wo.sync_every_append = false;
	wo.sync_interval_ms = c->cfg.wal_sync_interval_ms;
	wo.sync_bytes = c->cfg.wal_sync_bytes;
	/* Commit on arrival when the disk keeps up: the wal's budget rule
	 * (docs/DECISIONS.md); the interval and bytes are its upper bounds.
	 * wal_sync_interval 0: one fdatasync per batch received (what
	 * arrives during a sync is the next batch). */
	wo.sync_budget_pct = c->cfg.wal_sync_budget_pct > 0
	                         ? c->cfg.wal_sync_budget_pct
	                         : FOLLOW_CORE_SYNC_BUDGET;
	wo.clock_us = c->cfg.wal_clock_us;
	wo.clock_arg = c->cfg.wal_clock_arg;
	if (wo.sync_interval_ms == 0)
		wo.sync_every_append = true;
	if (spool_path(path, sizeof path, c->dir, SPOOL_WAL_DIR) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 c->dir);
	return wal_log_open(path, &wo, &c->wal, errmsg);
}

/* The last index the mirror holds durably and its term: the wal's last
 * entry, or the snapshot the wal starts after. 0/0 when it holds nothing. */
static int local_position(struct follow_core *c, uint64_t *index,
                          uint64_t *term, char *errmsg)
{
	struct snapshot_meta meta;
	int rc;

	*index = 0;
	*term = 0;
	if (c->store == NULL)
		return 0; /* nothing held yet */
	if (c->wal != NULL && wal_log_last_index(c->wal) > 0) {
		*index = wal_log_last_index(c->wal);
		rc = wal_log_term_at(c->wal, *index, term, errmsg);
		if (rc == 0)
			return 0;
		if (rc != MA_ERR_COMPACTED && rc != MA_ERR_NOTFOUND)
			return rc;
		/* An empty wal that starts after a snapshot: the term of its
		 * base comes from that snapshot. */
		struct snapshot_meta *metas = NULL;
		size_t count = 0;
		rc = snapshot_store_list(c->store, &metas, &count, errmsg);
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
	rc = snapshot_store_latest(c->store, &meta, errmsg);
	if (rc == 0) {
		*index = meta.id.index;
		*term = meta.id.term;
		return 0;
	}
	return rc == MA_ERR_NOTFOUND ? 0 : rc;
}

/* A wal that starts after the snapshot it continues lost segments (see
 * spool_wal_base_check). */
static int check_wal_base(struct follow_core *c, char *errmsg)
{
	struct snapshot_meta meta;
	char path[4096];
	int rc;

	if (c->wal == NULL || c->store == NULL)
		return 0;
	memset(&meta, 0, sizeof meta);
	rc = snapshot_store_latest(c->store, &meta, errmsg);
	if (rc != 0 && rc != MA_ERR_NOTFOUND)
		return rc;
	if (spool_path(path, sizeof path, c->dir, SPOOL_WAL_DIR) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 c->dir);
	return spool_wal_base_check(path, wal_log_first_index(c->wal), rc == 0,
	                            meta.id.index, meta.id.term, errmsg);
}

static void on_recv_event(void *arg, const struct snapshot_recv_event *ev)
{
	struct follow_core *c = arg;

	if (ev->type == SNAPSHOT_RECV_COMPLETE && ev->meta != NULL) {
		c->committed_index = ev->meta->id.index;
		c->committed_term = ev->meta->id.term;
	}
	if (ev->type == SNAPSHOT_RECV_PROGRESS) {
		mirror_sm_bootstrap_progress(&c->sm, c->now, ev->bytes_done,
		                             ev->bytes_total);
		report(c, true);
	}
}

static int open_receiver(struct follow_core *c, char *errmsg)
{
	struct snapshot_receiver_config rc = {0};

	if (c->recv != NULL)
		return 0;
	rc.data_dir = c->dir;
	rc.store = c->store;
	rc.fsync_interval = c->cfg.snapshot_fsync_interval;
	rc.progress_interval = c->cfg.progress_interval;
	rc.on_event = on_recv_event;
	rc.arg = c;
	return snapshot_receiver_open(&rc, c->name, &c->recv, errmsg);
}

/* Opens the local store, wal and receiver of a database whose source
 * identity is known. */
static int open_local(struct follow_core *c, char *errmsg)
{
	char path[4096];
	int rc;

	if (c->store == NULL) {
		if (spool_path(path, sizeof path, c->dir, SPOOL_SNAPSHOT_DIR) !=
		    0)
			return ma_errorf(errmsg, MA_ERR_INVAL,
			                 "%s: path too long", c->dir);
		rc = snapshot_store_open(path, &c->store, errmsg);
		if (rc != 0)
			return rc;
	}
	rc = open_wal(c, errmsg);
	if (rc == 0)
		rc = open_receiver(c, errmsg);
	return rc;
}

/* ---- streams ---- */

static int begin_frames(struct follow_core *c, size_t frame_max)
{
	if (c->frames_open)
		proto_framer_free(&c->frames);
	c->frames_open = proto_framer_init(&c->frames, frame_max) == 0;
	return c->frames_open ? 0 : MA_ERR_NOMEM;
}

static void request(struct follow_core *c, const char *path)
{
	struct follow_action *a = push(c, FOLLOW_ACTION_OPEN);

	c->status = 0;
	c->stream = ++c->last_stream;
	a->stream = c->stream;
	snprintf(a->path, sizeof a->path, "%s", path);
}

/* Whether an event of `stream` should still be acted on: the database is
 * alive and the stream is the current one. */
static bool live(const struct follow_core *c, uint64_t stream)
{
	return stream != 0 && c->stream == stream && c->phase != PHASE_DEAD &&
	       !c->restart;
}

/* Feeds body bytes to the frame reader and hands each frame to fn. Stops
 * at the first non-zero result of fn (returned) or a framing error. */
static int feed_frames(struct follow_core *c, const uint8_t *data, size_t len,
                       int (*fn)(struct follow_core *, const void *, size_t))
{
	char errmsg[MA_ERRMSG_SIZE];

	while (len > 0) {
		const void *body;
		size_t blen, used;
		int rc = proto_framer_feed(&c->frames, data, len, &used, &body,
		                           &blen, errmsg);
		if (rc < 0) {
			stream_failed(c, errmsg);
			return rc;
		}
		data += used;
		len -= used;
		if (rc == 1) {
			rc = fn(c, body, blen);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

/* The name endpoint ep is known by: as configured (before resolving), or
 * "endpoint-N". */
static const char *endpoint_key(const struct follow_core *c, uint32_t ep,
                                char dflt[32])
{
	if (ep < 16 && c->cfg.endpoints[ep][0] != '\0')
		return c->cfg.endpoints[ep];
	snprintf(dflt, 32, "endpoint-%u", ep);
	return dflt;
}

/* Every node of a cluster has a spool, and so an incarnation, of its own:
 * a node is held to the one first recorded for it, and one answering with
 * another (or none, once one is recorded) had its spool rebuilt: a new
 * source, refused like another cluster until --reseed. A node not seen
 * before is recorded. Nodes are known by their configured name, not the
 * address it resolves to: a node that moves keeps its record, another
 * node taking over an address is not taken for the one that had it. False
 * when refused (the database is in Error). */
static bool check_incarnation(struct follow_core *c,
                              const struct proto_identity *seen)
{
	char errmsg[MA_ERRMSG_SIZE], why[600], dflt[32];
	const char *source, *have;
	int rc;

	source = endpoint_key(c, c->sm.status.endpoint, dflt);
	have = spool_incarnation_of(&c->incs, source);
	if (have != NULL) {
		if (strcasecmp(have, seen->incarnation) == 0)
			return true;
		snprintf(why, sizeof why,
		         "source %s answers with incarnation %s but %s was "
		         "recorded for it: its spool was rebuilt, a new "
		         "source; refusing it (use --reseed to start over)",
		         source,
		         seen->incarnation[0] ? seen->incarnation : "none",
		         have);
		next_endpoint(c, MA_ERR_IDENTITY, why, true, "answered so");
		return false;
	}
	if (seen->incarnation[0] == '\0' || c->incs.n == SPOOL_INCARNATIONS_MAX)
		return true; /* an older source: nothing to hold it to */
	snprintf(c->incs.v[c->incs.n].source, sizeof c->incs.v[0].source, "%s",
	         source);
	snprintf(c->incs.v[c->incs.n].incarnation,
	         sizeof c->incs.v[0].incarnation, "%s", seen->incarnation);
	c->incs.v[c->incs.n].by_address = false;
	c->incs.n++;
	rc = spool_incarnations_write(c->dir, &c->incs, errmsg);
	if (rc != 0) {
		c->incs.n--;
		db_fatal(c, rc, errmsg);
		return false;
	}
	log_info("%s: recorded incarnation %s of source %s", c->name,
	         seen->incarnation, source);
	return true;
}

/* An incarnations file written when nodes were recorded by resolved
 * address: the entry of the address an endpoint resolves to now becomes
 * that endpoint's (by its configured name); entries matching no endpoint
 * are dropped (such a node is recorded again at its next contact). Written
 * back once, durably. 0 or what spool_incarnations_write returns. */
static int incarnations_rekey(struct follow_core *c, char *errmsg)
{
	size_t old = 0, dropped;
	char dflt[32];
	int rc;

	for (size_t i = 0; i < c->incs.n; i++)
		old += c->incs.v[i].by_address;
	if (old == 0)
		return 0;
	for (uint32_t k = 0; k < 16; k++) {
		const char *name = endpoint_key(c, k, dflt);

		if (c->cfg.endpoint_addrs[k][0] != '\0' &&
		    spool_incarnations_rekey(&c->incs, c->cfg.endpoint_addrs[k],
		                             name))
			log_info("%s: incarnation recorded for address %s is "
			         "now source %s's (configured name)",
			         c->name, c->cfg.endpoint_addrs[k], name);
	}
	dropped = spool_incarnations_drop_by_address(&c->incs);
	if (dropped > 0)
		log_warn("%s: %zu incarnation(s) recorded by an address no "
		         "configured source resolves to now: dropped (each "
		         "node is recorded again at its next contact)",
		         c->name, dropped);
	rc = spool_incarnations_write(c->dir, &c->incs, errmsg);
	if (rc != 0)
		return ma_errwrapf(errmsg, rc,
		                   "cannot re-key %s/" SPOOL_INCARNATIONS_FILE
		                   " by source name",
		                   c->dir);
	return 0;
}

/* A non-200 response carries one `x` frame saying why. */
static int on_error_frame(struct follow_core *c, const void *body, size_t len)
{
	struct proto_log_msg m;
	char errmsg[MA_ERRMSG_SIZE], why[600];

	if (proto_log_decode(body, len, 0, &m, errmsg) == 0 &&
	    m.kind == PROTO_LOG_ERROR)
		snprintf(why, sizeof why, "source answered %d %s: %s",
		         c->status, proto_error_name(m.error), m.message);
	else
		snprintf(why, sizeof why, "source answered status %d",
		         c->status);
	if (c->status == 403) {
		/* Our identity may not read it here: another endpoint may
		 * let us (grants are per source node); Error once every
		 * endpoint said so. */
		next_endpoint(c, MA_ERR_CONFIG, why, true, "refused");
		return 1;
	}
	stream_failed(c, why);
	return 1;
}

/* ---- log stream ---- */

/* The wal's durable end moved: a debug line, which bench/bench_tail times
 * (append on the source to durable here). */
static void durable_note(struct follow_core *c)
{
	uint64_t d = wal_log_durable_index(c->wal);

	c->sm.status.wal_syncs = wal_log_syncs(c->wal);
	c->sm.status.wal_sync_ms = wal_log_sync_total_us(c->wal) / 1000;
	if (d > c->durable_logged) {
		c->durable_logged = d;
		log_debug("%s: wal durable through %" PRIu64, c->name, d);
	}
}

static int batch_flush(struct follow_core *c)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct batch *b = &c->batch;
	int rc;

	if (b->count == 0)
		return 0;
	/* Entry data were stored as offsets: b->data may have moved. */
	for (size_t i = 0; i < b->count; i++)
		b->entries[i].data = b->data + (uintptr_t)b->entries[i].data;
	rc = wal_log_append(c->wal, b->entries, b->count, c->now, errmsg);
	if (rc == 0)
		c->sm.status.appended_entries += b->count;
	b->count = 0;
	b->data_len = 0;
	if (rc != 0) {
		if (local_failure(rc) || rc == MA_ERR_NOSPACE)
			db_fatal(c, rc, errmsg);
		else
			stream_failed(c, errmsg);
		return rc;
	}
	/* wal_log_append synced the batch if the group commit says so (on
	 * arrival when the disk keeps up); otherwise follow_core_sync at
	 * follow_core_sync_deadline, or the tick. */
	durable_note(c);
	if (follow_apply_durable(&c->apply, c->wal))
		c->event.applied = true;
	mirror_sm_applied(&c->sm, c->now, wal_log_durable_index(c->wal));
	report(c, false);
	return 0;
}

static int batch_add(struct follow_core *c, const struct proto_log_msg *m)
{
	struct batch *b = &c->batch;

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
	c->sm.status.received_entries++;
	return 0;
}

static void batch_free(struct batch *b)
{
	free(b->entries);
	free(b->data);
	memset(b, 0, sizeof *b);
}

/* Compacted or diverged: the stream is given up now, and info is asked
 * again at the next follow_core_run, which bootstraps. */
static void rebootstrap(struct follow_core *c, const char *why)
{
	log_warn("%s: %s: bootstrapping again from the latest snapshot",
	         c->name, why);
	c->force_bootstrap = true;
	c->restart = true;
	c->phase = PHASE_IDLE;
	abandon(c);
}

static int on_log_frame(struct follow_core *c, const void *body, size_t len)
{
	char errmsg[MA_ERRMSG_SIZE], why[600];
	struct proto_log_msg m;
	int rc;

	rc = proto_log_decode(body, len, PROTO_ENTRY_DATA_MAX, &m, errmsg);
	if (rc != 0) {
		stream_failed(c, errmsg);
		return rc;
	}
	if (!c->got_start && m.kind != PROTO_LOG_START) {
		stream_failed(c, "log stream did not begin with a start frame");
		return MA_ERR_PROTO;
	}
	switch (m.kind) {
	case PROTO_LOG_START:
		if (!spool_identity_accepts(&c->identity, &m.id)) {
			snprintf(why, sizeof why,
			         "source identity changed to %s epoch %" PRIu64
			         " (stored %s epoch %" PRIu64
			         "); use --reseed to start over",
			         m.id.cluster_id, m.id.epoch,
			         c->identity.cluster_id, c->identity.epoch);
			next_endpoint(c, MA_ERR_IDENTITY, why, true,
			              "answered so");
			return MA_ERR_IDENTITY;
		}
		if (!check_incarnation(c, &m.id))
			return MA_ERR_IDENTITY;
		if (m.from_index != c->next_index) {
			stream_failed(c,
			              "log stream starts at the wrong index");
			return MA_ERR_PROTO;
		}
		c->got_start = true;
		return 0;
	case PROTO_LOG_ENTRY:
		if (m.index != c->next_index) {
			snprintf(why, sizeof why,
			         "log entry %" PRIu64
			         " out of order (expected %" PRIu64 ")",
			         m.index, c->next_index);
			stream_failed(c, why);
			return MA_ERR_PROTO;
		}
		rc = batch_add(c, &m);
		if (rc != 0) {
			stream_failed(c, "out of memory");
			return rc;
		}
		c->next_index++;
		return c->batch.data_len >= BATCH_FLUSH_BYTES ? batch_flush(c)
		                                              : 0;
	case PROTO_LOG_HEARTBEAT:
		rc = batch_flush(c);
		if (rc != 0)
			return rc;
		if (m.commit_index > INDEX_MAX) {
			snprintf(why, sizeof why,
			         "heartbeat commit index %" PRIu64
			         " out of range (at most %" PRIu64 ")",
			         m.commit_index, INDEX_MAX);
			stream_failed(c, why);
			return MA_ERR_PROTO;
		}
		/* A source without a reservation budget (or an older
		 * serve) says nothing: the figure is unknown again, not a
		 * countdown of the last one heard. */
		if (m.has_retention_headroom)
			mirror_sm_headroom(&c->sm, c->now,
			                   m.retention_headroom_s);
		else
			mirror_sm_headroom_unknown(&c->sm);
		mirror_sm_heartbeat(&c->sm, c->now, m.commit_index,
		                    m.source_time_ms);
		save_commit(c);
		observe(c, m.commit_index, &m.fresh);
		report(c, false);
		return 0;
	case PROTO_LOG_ERROR:
		rc = batch_flush(c);
		if (rc != 0)
			return rc;
		snprintf(why, sizeof why, "source says %s (%s)",
		         proto_error_name(m.error), m.message);
		if (m.error == PROTO_ERROR_COMPACTED ||
		    m.error == PROTO_ERROR_DIVERGED) {
			rebootstrap(c, why);
			return 1;
		}
		stream_failed(c, why);
		return MA_ERR_PROTO;
	}
	return 0;
}

static void start_log(struct follow_core *c, uint64_t from, uint64_t prev_term)
{
	char path[256];

	c->phase = PHASE_LOG;
	c->next_index = from;
	c->got_start = false;
	if (begin_frames(c, PROTO_ENTRY_DATA_MAX + PROTO_FRAME_OVERHEAD) != 0) {
		db_fatal(c, MA_ERR_NOMEM, "out of memory");
		return;
	}
	snprintf(path, sizeof path,
	         "/v1/db/%s/log?from=%" PRIu64 "&prev_term=%" PRIu64, c->name,
	         from, prev_term);
	log_info("%s: following the log from index %" PRIu64, c->name, from);
	request(c, path);
}

/* ---- snapshot stream ---- */

static void snapshot_committed(struct follow_core *c)
{
	char errmsg[MA_ERRMSG_SIZE];
	uint64_t index = c->committed_index;
	int rc;

	if (index == 0 || index == UINT64_MAX) {
		db_fatal(c, MA_ERR_PROTO,
		         "snapshot committed without a usable "
		         "index: refusing to reset the wal");
		return;
	}
	/* The log restarts right after the snapshot: entries the mirror held
	 * are superseded by it (or diverged from the source). */
	rc = wal_log_reset(c->wal, index + 1, errmsg);
	if (rc != 0) {
		db_fatal(c, rc, errmsg);
		return;
	}
	rc = snapshot_store_retain(c->store, c->ckpt.cfg.keep_snapshots, NULL,
	                           errmsg);
	if (rc != 0)
		log_warn("%s: snapshot retention: %s", c->name, errmsg);
	log_info("%s: snapshot %" PRIu64 "-%" PRIu64 " committed", c->name,
	         index, c->committed_term);
	c->force_bootstrap = false;
	/* Its end (if it comes) is of no interest now. */
	c->stream = 0;
	if (follow_apply_restore(&c->apply, c->store, c->wal))
		c->event.applied = true;
	follow_checkpoint_rebase(&c->ckpt, index, c->apply.applied_bytes,
	                         c->now);
	mirror_sm_bootstrap_done(&c->sm, c->now, index);
	report(c, true);
	start_log(c, index + 1, c->committed_term);
}

/* Counts the part of the snapshot stream's new bytes [cursor, to) that
 * an earlier attempt at the same snapshot had already received. */
static void count_refetch(struct follow_core *c, uint64_t to)
{
	uint64_t from = c->refetch_cursor;

	if (c->refetch_index != c->info.snapshot_index ||
	    c->refetch_term != c->info.snapshot_term) {
		c->refetch_index = c->info.snapshot_index;
		c->refetch_term = c->info.snapshot_term;
		c->refetch_high = 0;
	}
	if (to <= from)
		return;
	if (from < c->refetch_high)
		c->sm.status.refetched_bytes +=
		    (to < c->refetch_high ? to : c->refetch_high) - from;
	if (to > c->refetch_high)
		c->refetch_high = to;
	c->refetch_cursor = to;
}

/* One frame of a snapshot stream: a chunk envelope for the receiver, or
 * an `x` frame by which the source says why it stops (its file fails its
 * CRC: "corrupt"), named in the state rather than taken for bad framing.
 * Returns 0 (go on), 1 (committed or failed: stop feeding). */
static int on_snapshot_frame(struct follow_core *c, const void *body,
                             size_t len)
{
	char errmsg[MA_ERRMSG_SIZE], errmsg2[MA_ERRMSG_SIZE], why[700];
	struct snapshot_chunk chunk;
	struct proto_log_msg m;
	int rc;

	rc = proto_envelope_decode(body, len, 0, &chunk, errmsg);
	if (rc != 0) {
		if (proto_log_decode(body, len, 0, &m, errmsg2) == 0 &&
		    m.kind == PROTO_LOG_ERROR) {
			snprintf(why, sizeof why,
			         "source says %s: %s (snapshot %" PRIu64
			         "-%" PRIu64 ")",
			         proto_error_name(m.error), m.message,
			         c->info.snapshot_index, c->info.snapshot_term);
			log_error("%s: %s", c->name, why);
			/* Corrupt on this source node: another node's copy
			 * may be sound. */
			if (m.error == PROTO_ERROR_CORRUPT)
				next_endpoint(c, MA_ERR_CORRUPT, why, false,
				              "has it corrupt");
			else
				stream_failed(c, why);
			return 1;
		}
		snprintf(errmsg2, sizeof errmsg2, "snapshot stream: %.400s",
		         errmsg);
		log_error("%s: %s", c->name, errmsg2);
		stream_failed(c, errmsg2);
		return 1;
	}
	/* Compressed chunks become raw here: the receiver, its CRC32C
	 * checks (over the raw bytes) and resume see a raw stream. */
	rc =
	    snapshot_codec_receive(&c->codec, &chunk, SNAPSHOT_DATA_MAX_DEFAULT,
	                           &c->sm.status.snapshot_wire_bytes,
	                           &c->sm.status.snapshot_raw_bytes, errmsg);
	if (rc != 0) {
		snprintf(errmsg2, sizeof errmsg2, "snapshot stream: %.400s",
		         errmsg);
		log_error("%s: %s", c->name, errmsg2);
		if (rc == MA_ERR_NOMEM)
			db_fatal(c, rc, errmsg2);
		else
			stream_failed(c, errmsg2);
		return 1;
	}
	rc = snapshot_receiver_feed(c->recv, &chunk, c->now, errmsg);
	count_refetch(c, snapshot_receiver_offset(c->recv));
	if (rc == 0)
		return 0;
	if (rc == 2) {
		c->phase = PHASE_SNAPSHOT_VERIFY;
		c->stream = 0;
		return 1;
	}
	if (rc == 1) {
		snapshot_committed(c);
		return 1;
	}
	log_error("%s: snapshot receive: %s", c->name, errmsg);
	if (local_failure(rc)) {
		db_fatal(c, rc, errmsg);
		return 1;
	}
	/* Bad data from the source, or a full disk: what is durable stays;
	 * a fresh receiver resumes from it after the backoff. */
	snapshot_receiver_close(c->recv);
	c->recv = NULL;
	if (open_receiver(c, errmsg2) != 0) {
		db_fatal(c, MA_ERR_IO, errmsg2);
		return 1;
	}
	stream_failed(c, errmsg);
	return 1;
}

static void start_snapshot(struct follow_core *c)
{
	char errmsg[MA_ERRMSG_SIZE], path[256];
	struct snapshot_ident ident;
	uint64_t offset = 0;
	int rc;

	if (!c->info.has_snapshot) {
		stream_failed(c,
		              "source has no snapshot to bootstrap from yet");
		return;
	}
	memset(&ident, 0, sizeof ident);
	snprintf(ident.cluster_id, sizeof ident.cluster_id, "%s",
	         c->identity.cluster_id);
	snprintf(ident.database_id, sizeof ident.database_id, "%s", c->name);
	ident.index = c->info.snapshot_index;
	ident.term = c->info.snapshot_term;
	ident.size = c->info.snapshot_size;
	ident.crc32c = c->info.snapshot_crc32c;
	rc = snapshot_receiver_begin(c->recv, &ident, &offset, errmsg);
	c->committed_index = ident.index;
	c->committed_term = ident.term;
	if (rc == 1) {
		snapshot_committed(c);
		return;
	}
	if (rc != 0) {
		if (local_failure(rc))
			db_fatal(c, rc, errmsg);
		else
			stream_failed(c, errmsg);
		return;
	}
	c->phase = PHASE_SNAPSHOT;
	c->refetch_cursor = offset;
	mirror_sm_bootstrap_progress(&c->sm, c->now, offset, ident.size);
	report(c, true);
	if (begin_frames(c, SNAPSHOT_DATA_MAX_DEFAULT +
	                        PROTO_ENVELOPE_OVERHEAD_MAX) != 0) {
		db_fatal(c, MA_ERR_NOMEM, "out of memory");
		return;
	}
	log_info("%s: bootstrapping from snapshot %" PRIu64 "-%" PRIu64
	         " (%" PRIu64 " bytes) from offset %" PRIu64,
	         c->name, ident.index, ident.term, ident.size, offset);
	snprintf(path, sizeof path,
	         "/v1/db/%s/snapshot?index=%" PRIu64 "&term=%" PRIu64
	         "&offset=%" PRIu64 "%s",
	         c->name, ident.index, ident.term, offset,
	         want_zstd(c) ? "&encodings=1" : "");
	request(c, path);
}

/* Whether the configuration asks for zstd chunks now (auto: when the
 * connection's RTT says WAN), whatever the source offers. */
static bool compression_wanted(const struct follow_core *c)
{
	uint64_t rtt_ms = c->cfg.compression_rtt_ms != 0
	                      ? c->cfg.compression_rtt_ms
	                      : FOLLOW_COMPRESSION_AUTO_RTT_MS;

	switch (c->cfg.compression) {
	case FOLLOW_COMPRESSION_ZSTD:
		return true;
	case FOLLOW_COMPRESSION_NONE:
		return false;
	default:
		return c->rtt_us >= rtt_ms * 1000;
	}
}

/* Whether to ask for zstd chunks: the source offers them and the
 * configuration (auto: the RTT says WAN) wants them. */
static bool want_zstd(const struct follow_core *c)
{
	bool want = compression_wanted(c);

	if ((c->info.snapshot_encodings & SNAPSHOT_ENCODINGS_ZSTD) == 0) {
		if (c->cfg.compression != FOLLOW_COMPRESSION_NONE)
			log_info("%s: asking for raw snapshot chunks (the "
			         "source offers no compression)",
			         c->name);
		return false;
	}
	log_info("%s: asking for %s snapshot chunks (snapshot_compression "
	         "%s, minimum RTT %" PRIu64 " ms)",
	         c->name, want ? "zstd" : "raw",
	         c->cfg.compression == FOLLOW_COMPRESSION_ZSTD   ? "zstd"
	         : c->cfg.compression == FOLLOW_COMPRESSION_NONE ? "none"
	                                                         : "auto",
	         c->rtt_us / 1000);
	return want;
}

/* ---- info ---- */

static int on_info_frame(struct follow_core *c, const void *body, size_t len)
{
	char errmsg[MA_ERRMSG_SIZE], why[600];
	uint64_t index, term;
	int rc;

	rc = proto_info_decode(body, len, &c->info, errmsg);
	if (rc != 0) {
		stream_failed(c, errmsg);
		return rc;
	}
	if (c->info.commit_index > INDEX_MAX ||
	    c->info.first_index > INDEX_MAX ||
	    (c->info.has_snapshot && (c->info.snapshot_index == 0 ||
	                              c->info.snapshot_index > INDEX_MAX))) {
		snprintf(why, sizeof why,
		         "source announced an index out of range (commit "
		         "%" PRIu64 ", first %" PRIu64 ", snapshot %" PRIu64
		         "; at most %" PRIu64 ")",
		         c->info.commit_index, c->info.first_index,
		         c->info.snapshot_index, INDEX_MAX);
		stream_failed(c, why);
		return 1;
	}
	if (strcmp(c->info.id.database_id, c->name) != 0) {
		snprintf(why, sizeof why, "source answered for database '%s'",
		         c->info.id.database_id);
		next_endpoint(c, MA_ERR_IDENTITY, why, true, "answered so");
		return 1;
	}
	if (c->has_identity &&
	    !spool_identity_accepts(&c->identity, &c->info.id)) {
		snprintf(why, sizeof why,
		         "source identity %s epoch %" PRIu64
		         " differs from the stored %s epoch %" PRIu64
		         "; refusing it (use --reseed to start over)",
		         c->info.id.cluster_id, c->info.id.epoch,
		         c->identity.cluster_id, c->identity.epoch);
		next_endpoint(c, MA_ERR_IDENTITY, why, true, "answered so");
		return 1;
	}
	if (!c->has_identity) {
		/* The cluster's identity; each node's incarnation is kept
		 * per node (check_incarnation). */
		struct proto_identity id = c->info.id;

		id.incarnation[0] = '\0';
		rc = spool_identity_write(c->dir, &id, false, errmsg);
		if (rc == 0) {
			c->identity = id;
			c->has_identity = true;
			rc = open_local(c, errmsg);
		}
		if (rc != 0) {
			db_fatal(c, rc, errmsg);
			return 1;
		}
		log_info("%s: first contact, stored source identity %s epoch "
		         "%" PRIu64,
		         c->name, c->identity.cluster_id, c->identity.epoch);
	}
	if (!check_incarnation(c, &c->info.id))
		return 1;
	mirror_sm_heartbeat(&c->sm, c->now, c->info.commit_index,
	                    c->info.source_time_ms);
	save_commit(c);
	observe(c, c->info.commit_index, &c->info.fresh);
	rc = local_position(c, &index, &term, errmsg);
	if (rc != 0) {
		db_fatal(c, rc, errmsg);
		return 1;
	}
	/* The info stream is done with: its end (or failure) arrives under
	 * a number that is no longer current and is ignored. */
	c->stream = 0;
	c->phase = PHASE_IDLE;
	if (c->force_bootstrap || (index == 0 && c->info.has_snapshot))
		start_snapshot(c);
	else if (index == 0 && c->info.first_index > 1)
		stream_failed(
		    c,
		    "source has neither a snapshot nor its log from index 1");
	else
		/* Resume after what we hold; the source checks prev_term and
		 * answers diverged/compacted when we cannot continue. */
		start_log(c, index + 1, term);
	return 1;
}

static void start_info(struct follow_core *c)
{
	char path[128];

	c->restart = false; /* this is the restart */
	if (c->phase == PHASE_DEAD || !c->connected || c->retry_at != 0)
		return;
	c->phase = PHASE_INFO;
	if (begin_frames(c, PROTO_FRAME_OVERHEAD) != 0) {
		db_fatal(c, MA_ERR_NOMEM, "out of memory");
		return;
	}
	snprintf(path, sizeof path, "/v1/db/%s/info", c->name);
	request(c, path);
}

/* ---- public: lifetime ---- */

int follow_core_new(const struct follow_core_config *cfg, uint64_t now,
                    struct follow_core **out, char *errmsg)
{
	struct follow_core *c;
	struct spool_promoted promoted;
	bool is_promoted = false;
	uint64_t index, term;
	int rc;

	if (cfg->name == NULL || strlen(cfg->name) >= sizeof c->name)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "database name '%s' longer than %d bytes",
		                 cfg->name ? cfg->name : "",
		                 PROTO_DATABASE_ID_MAX);
	if (cfg->dir == NULL || strlen(cfg->dir) >= sizeof c->dir)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 cfg->name);
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	c->cfg = *cfg;
	snprintf(c->name, sizeof c->name, "%s", cfg->name);
	snprintf(c->dir, sizeof c->dir, "%s", cfg->dir);
	c->cfg.name = c->name;
	c->cfg.dir = c->dir;
	c->now = now;
	c->reported = (enum mirror_state) - 1;
	rc = io_mkdir_p(c->dir, 0755, errmsg);
	if (rc != 0)
		goto fail;
	rc = spool_identity_read(c->dir, &c->identity, errmsg);
	if (rc == 0)
		c->has_identity = true;
	else if (rc != MA_ERR_NOTFOUND)
		goto fail;
	rc = spool_incarnations_read(c->dir, &c->incs, errmsg);
	if (rc == 0)
		rc = incarnations_rekey(c, errmsg);
	if (rc != 0)
		goto fail;
	if (c->has_identity && strcmp(c->identity.database_id, c->name) != 0) {
		rc = ma_errorf(errmsg, MA_ERR_IDENTITY,
		               "%s/identity names database '%s', "
		               "configured as '%s'",
		               c->dir, c->identity.database_id, c->name);
		goto fail;
	}
	if (c->has_identity) {
		rc = spool_promoted_read(c->dir, &promoted, errmsg);
		if (rc == 0)
			is_promoted = true;
		else if (rc != MA_ERR_NOTFOUND)
			goto fail;
	}
	/* Nothing is created for a source not yet accepted: the store, wal
	 * and receiver open once the identity is known. */
	if (c->has_identity) {
		rc = open_local(c, errmsg);
		if (rc != 0)
			goto fail;
	}
	rc = local_position(c, &index, &term, errmsg);
	if (rc != 0)
		goto fail;
	mirror_sm_init(&c->sm, &cfg->states, index, cfg->seed);
	/* What the source had committed before a restart (the RPO figure
	 * must not forget it). */
	if (c->has_identity &&
	    spool_source_commit_read(c->dir, &c->commit_saved, errmsg) == 0)
		mirror_sm_source_commit(&c->sm, c->commit_saved);
	else
		c->commit_saved = 0;
	{
		struct source_view_config vc = cfg->view;

		if (vc.endpoint_count == 0)
			vc.endpoint_count = cfg->states.endpoint_count;
		source_view_init(&c->view, &vc);
	}
	rc = check_wal_base(c, errmsg);
	if (rc == MA_ERR_CORRUPT)
		db_fatal(c, rc, errmsg); /* this database only */
	else if (rc != 0)
		goto fail;
	if (index > 0)
		log_info("%s: holds entries up to %" PRIu64 " (term %" PRIu64
		         ")",
		         c->name, index, term);
	c->apply.name = c->name;
	c->apply.restore_async = cfg->restore_async;
	rc = applier_new((enum applier_kind)cfg->applier_kind, c->name,
	                 &c->apply.applier, errmsg);
	if (rc != 0)
		goto fail;
	if (follow_apply_restore(&c->apply, c->store, c->wal))
		c->event.applied = true;
	{
		/* The wal is trimmed (and a budget worth publishing) when
		 * a kv mirror checkpoints or a none mirror refreshes. */
		const struct follow_checkpoint_config *k = &cfg->checkpoint;

		c->cfg.checkpoint.trims = cfg->applier_kind == APPLIER_NONE
		                              ? cfg->refresh.distance != 0
		                              : k->every_entries != 0 ||
		                                    k->every_bytes != 0 ||
		                                    k->every_ms != 0;
	}
	rc = follow_checkpoint_init(&c->ckpt, &c->cfg.checkpoint, c->name,
	                            c->dir, c->apply.restored_index,
	                            c->apply.applied_bytes, now, errmsg);
	if (rc != 0)
		goto fail;
	{
		/* Only an applier that cannot checkpoint fetches the
		 * source's snapshots instead. */
		struct follow_refresh_config rcfg = cfg->refresh;

		if (cfg->applier_kind != APPLIER_NONE)
			rcfg.distance = 0;
		rc = follow_refresh_init(&c->refresh, &rcfg, c->name, c->dir,
		                         now, errmsg);
		if (rc != 0)
			goto fail;
	}
	if (is_promoted) {
		/* Fenced (agent/promote/): never followed again. The
		 * database stays open for reads at the promoted index and
		 * reports Promoted; the core asks the source nothing. */
		char why[sizeof c->sm.status.error];
		if (snprintf(
		        why, sizeof why,
		        "%.120s was promoted at index %" PRIu64
		        " (term %" PRIu64 ", %s) to a source of its own (epoch "
		        "%" PRIu64 "): it is never followed again (fencing). "
		        "Serve it with `mirror-agent serve`, or mirror into "
		        "another directory",
		        c->dir, promoted.index, promoted.term,
		        promoted.fingerprint, promoted.epoch) < 0)
			why[0] = '\0';
		log_error("%s: %s", c->name, why);
		mirror_sm_promoted(&c->sm, promoted.index, promoted.term, why);
		c->phase = PHASE_DEAD;
		report(c, true);
	}
	*out = c;
	return 0;
fail:
	follow_core_free(c);
	return rc;
}

void follow_core_free(struct follow_core *c)
{
	char errmsg[MA_ERRMSG_SIZE];

	if (c == NULL)
		return;
	if (c->frames_open)
		proto_framer_free(&c->frames);
	if (c->wal != NULL && !wal_log_failed(c->wal) &&
	    wal_log_sync(c->wal, errmsg) != 0)
		log_error("%s: final wal sync failed: %s", c->name, errmsg);
	follow_checkpoint_close(&c->ckpt);
	follow_refresh_free(&c->refresh);
	follow_apply_close(&c->apply);
	wal_log_close(c->wal);
	snapshot_receiver_close(c->recv);
	snapshot_store_close(c->store);
	snapshot_codec_free(c->codec);
	batch_free(&c->batch);
	free(c);
}

void follow_core_set_rtt(struct follow_core *c, uint64_t rtt_us)
{
	c->rtt_us = rtt_us;
}

/* ---- background snapshot refresh (follow_refresh.h) ---- */

static uint64_t refresh_open(void *arg, const char *path)
{
	struct follow_core *c = arg;
	struct follow_action *a = push(c, FOLLOW_ACTION_OPEN);

	a->stream = ++c->last_stream;
	snprintf(a->path, sizeof a->path, "%s", path);
	return a->stream;
}

static void refresh_cancel(void *arg, uint64_t stream)
{
	push(arg, FOLLOW_ACTION_CANCEL)->stream = stream;
}

/* NULL until the local store and wal exist (a known source). */
static const struct follow_refresh_env *
refresh_env(struct follow_core *c, struct follow_refresh_env *env)
{
	if (!c->has_identity || c->store == NULL || c->wal == NULL ||
	    c->phase == PHASE_DEAD)
		return NULL;
	*env = (struct follow_refresh_env){
	    .store = c->store,
	    .wal = c->wal,
	    .ckpt = &c->ckpt,
	    .identity = &c->identity,
	    .open = refresh_open,
	    .cancel = refresh_cancel,
	    .arg = c,
	    .want_zstd = compression_wanted(c),
	    .wire_bytes = &c->sm.status.snapshot_wire_bytes,
	    .raw_bytes = &c->sm.status.snapshot_raw_bytes,
	};
	return env;
}

/* ---- public: events ---- */

void follow_core_connecting(struct follow_core *c, uint64_t now)
{
	c->now = now;
	if (c->phase == PHASE_DEAD)
		return;
	mirror_sm_connecting(&c->sm, now);
	report(c, false);
}

void follow_core_connected(struct follow_core *c, uint64_t now)
{
	c->now = now;
	if (c->phase == PHASE_DEAD)
		return;
	c->connected = true;
	if (c->retry_at > now) {
		/* Its own backoff is longer than the connection's (another
		 * database's) was: it asks at the first tick past it. */
		report(c, false);
		return;
	}
	c->retry_at = 0;
	mirror_sm_connected(&c->sm, now);
	report(c, false);
	start_info(c);
}

uint32_t follow_core_disconnected(struct follow_core *c, uint64_t now,
                                  const char *why)
{
	uint32_t delay, leaving;

	c->now = now;
	/* Every stream went with the connection, and what was asked of it
	 * means nothing now. */
	c->stream = 0;
	c->action_count = 0;
	c->connected = false;
	c->restart = false;
	follow_refresh_disconnected(&c->refresh, now);
	c->wants_move = false; /* the next endpoint is where it goes */
	if (c->phase == PHASE_DEAD)
		return 0;
	if (c->batch.count > 0)
		batch_flush(c); /* may end in Error (fail-stop) */
	if (c->phase == PHASE_DEAD) {
		c->action_count = 0;
		return 0;
	}
	leaving = c->sm.status.endpoint;
	delay = mirror_sm_disconnected(&c->sm, now, why);
	source_view_set_current(&c->view, c->sm.status.endpoint, now);
	/* A retry of its own already due later keeps its time: a lost
	 * connection never brings a failing database's request forward --
	 * unless it is leaving an endpoint that refused it. */
	if (c->retry_at > now + delay &&
	    !(c->refused & (UINT64_C(1) << (leaving % 64))))
		delay = (uint32_t)(c->retry_at - now);
	c->retry_at = now + (delay > 0 ? delay : 1);
	c->phase = PHASE_IDLE;
	report(c, false);
	return delay;
}

void follow_core_response(struct follow_core *c, uint64_t stream, int status,
                          uint64_t now)
{
	struct follow_refresh_env env;

	c->now = now;
	if (follow_refresh_owns(&c->refresh, stream)) {
		if (refresh_env(c, &env) != NULL)
			follow_refresh_response(&c->refresh, &env, stream,
			                        status, now);
		return;
	}
	if (stream != 0 && stream == c->stream) {
		c->status = status;
		/* This endpoint serves the database again: a refusal it
		 * answered once (say during a reload of its [access]) no
		 * longer counts towards "every endpoint refused". */
		if (status == 200)
			c->refused &=
			    ~(UINT64_C(1) << (c->sm.status.endpoint % 64));
	}
}

void follow_core_body(struct follow_core *c, uint64_t stream,
                      const uint8_t *data, size_t len, uint64_t now)
{
	struct follow_refresh_env env;

	c->now = now;
	if (follow_refresh_owns(&c->refresh, stream)) {
		if (refresh_env(c, &env) != NULL)
			follow_refresh_body(&c->refresh, &env, stream, data,
			                    len, now);
		return;
	}
	if (!live(c, stream))
		return;
	c->sm.status.received_bytes += len;
	if (c->status != 200) {
		feed_frames(c, data, len, on_error_frame);
		return;
	}
	switch (c->phase) {
	case PHASE_INFO:
		feed_frames(c, data, len, on_info_frame);
		break;
	case PHASE_SNAPSHOT:
		feed_frames(c, data, len, on_snapshot_frame);
		break;
	case PHASE_LOG:
		if (feed_frames(c, data, len, on_log_frame) == 0)
			batch_flush(c);
		break;
	default:
		break;
	}
}

void follow_core_end(struct follow_core *c, uint64_t stream, uint64_t now)
{
	struct follow_refresh_env env;
	char why[64];

	c->now = now;
	if (follow_refresh_owns(&c->refresh, stream)) {
		if (refresh_env(c, &env) != NULL)
			follow_refresh_end(&c->refresh, &env, stream, now);
		return;
	}
	if (!live(c, stream))
		return;
	c->stream = 0; /* the stream is over: nothing to cancel */
	if (c->status != 200) {
		snprintf(why, sizeof why, "source answered status %d",
		         c->status);
		stream_failed(c, why);
		return;
	}
	switch (c->phase) {
	case PHASE_INFO:
		stream_failed(c, "info response ended without an info frame");
		break;
	case PHASE_SNAPSHOT:
		stream_failed(c,
		              "snapshot stream ended before its final chunk");
		break;
	case PHASE_LOG:
		batch_flush(c);
		stream_failed(c, "source ended the log stream");
		break;
	default:
		break; /* a live stream is never in the other phases */
	}
}

void follow_core_stream_error(struct follow_core *c, uint64_t stream, int code,
                              const char *msg, uint64_t now)
{
	struct follow_refresh_env env;
	char why[512];
	bool act = live(c, stream);

	c->now = now;
	if (follow_refresh_owns(&c->refresh, stream)) {
		if (refresh_env(c, &env) != NULL)
			follow_refresh_error(&c->refresh, &env, stream, msg,
			                     now);
		return;
	}
	if (stream != 0 && stream == c->stream)
		c->stream = 0; /* gone: nothing to cancel */
	if (!act)
		return;
	snprintf(why, sizeof why, "stream failed: %s (%s)", msg ? msg : "",
	         ma_strerror(code));
	stream_failed(c, why);
}

/* Local checkpoints (follow_checkpoint.h); a failure to commit one is
 * a local I/O failure: fatal for the database. */
static int checkpoint_tick(struct follow_core *c, uint64_t now)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct follow_checkpoint_env env = {
	    c->apply.applier, c->wal, c->store,
	    c->has_identity ? c->identity.cluster_id : "",
	    c->apply.applied_bytes};
	int rc;

	if (!c->has_identity || follow_apply_restoring(&c->apply))
		return 0; /* the state is being replaced */
	rc = follow_checkpoint_tick(&c->ckpt, &env, now, errmsg);
	if (rc != 0)
		db_fatal(c, rc, errmsg);
	return rc;
}

/* The freshness rules (source_view.h): a move the glue takes, or
 * Degraded with the reason when the followed endpoint is stale and none
 * is fresh. */
static void view_tick(struct follow_core *c, uint64_t now)
{
	uint32_t target;
	char why[256];

	if (c->connected && !c->switch_wanted &&
	    source_view_decide(&c->view, now, &target, why, sizeof why)) {
		c->switch_wanted = true;
		c->switch_target = target;
		snprintf(c->switch_why, sizeof c->switch_why, "%s", why);
		log_warn("%s: %s", c->name, why);
	}
	mirror_sm_freshest(&c->sm, now, source_view_freshest(&c->view, now));
	mirror_sm_source_stale(&c->sm, c->view.stale, c->view.stale_why);
}

/* The wal's group commit if due at now; false after a fatal error. */
static bool sync_wal(struct follow_core *c, uint64_t now)
{
	char errmsg[MA_ERRMSG_SIZE];
	int rc;

	if (c->phase == PHASE_DEAD)
		return false;
	if (c->wal == NULL)
		return true;
	rc = wal_log_commit(c->wal, now, errmsg);
	if (rc < 0) {
		db_fatal(c, rc, errmsg);
		return false;
	}
	if (rc == 1) {
		durable_note(c);
		if (follow_apply_durable(&c->apply, c->wal))
			c->event.applied = true;
		mirror_sm_applied(&c->sm, now, wal_log_durable_index(c->wal));
	}
	return true;
}

uint64_t follow_core_sync_deadline(const struct follow_core *c)
{
	if (c->wal == NULL || c->phase == PHASE_DEAD)
		return UINT64_MAX;
	return wal_log_sync_deadline(c->wal);
}

void follow_core_sync(struct follow_core *c, uint64_t now)
{
	c->now = now;
	sync_wal(c, now);
}

void follow_core_tick(struct follow_core *c, uint64_t now)
{
	c->now = now;
	if (c->phase == PHASE_DEAD)
		return;
	if (!sync_wal(c, now))
		return;
	if (c->retry_at != 0 && now >= c->retry_at && c->connected) {
		c->retry_at = 0;
		mirror_sm_connected(&c->sm, now);
		start_info(c);
	}
	if (follow_apply_poll(&c->apply, c->wal)) {
		c->event.applied = true;
		follow_checkpoint_rebase(&c->ckpt, c->apply.restored_index,
		                         c->apply.applied_bytes, now);
	}
	if (checkpoint_tick(c, now) != 0)
		return;
	view_tick(c, now);
	{
		struct follow_refresh_env env;
		enum mirror_state st = c->sm.status.state;

		if (refresh_env(c, &env) != NULL)
			follow_refresh_tick(&c->refresh, &env, now,
			                    c->connected &&
			                        c->phase == PHASE_LOG &&
			                        c->stream != 0 &&
			                        (st == MIRROR_FOLLOWING ||
			                         st == MIRROR_DEGRADED));
	}
	mirror_sm_tick(&c->sm, now);
	report(c, false);
}

bool follow_core_busy(const struct follow_core *c)
{
	return ((c->phase == PHASE_SNAPSHOT ||
	         c->phase == PHASE_SNAPSHOT_VERIFY) &&
	        c->recv != NULL && snapshot_receiver_verifying(c->recv)) ||
	       (c->phase != PHASE_DEAD && c->has_identity && c->store != NULL &&
	        c->wal != NULL && follow_refresh_busy(&c->refresh));
}

/* One bounded slice of a resumed snapshot prefix's verification; the
 * commit when it was the last and every byte is in. */
static void verify_step(struct follow_core *c)
{
	char errmsg[MA_ERRMSG_SIZE];
	uint64_t step = c->cfg.snapshot_verify_step;
	int rc = snapshot_receiver_verify(
	    c->recv, step > 0 ? (size_t)step : FOLLOW_CORE_VERIFY_STEP, c->now,
	    errmsg);

	char errmsg2[MA_ERRMSG_SIZE];

	if (rc == 1 && c->phase == PHASE_SNAPSHOT_VERIFY) {
		snapshot_committed(c);
		return;
	}
	if (rc >= 0)
		return;
	log_error("%s: snapshot receive: %s", c->name, errmsg);
	if (local_failure(rc)) {
		db_fatal(c, rc, errmsg);
		return;
	}
	/* A damaged region (the resume point went back: the receiver keeps
	 * what it verified), or a commit that failed for space: then, as
	 * after a bad chunk, a fresh receiver resumes from what is durable. */
	if (snapshot_receiver_refused(c->recv, NULL) != 0) {
		snapshot_receiver_close(c->recv);
		c->recv = NULL;
		if (open_receiver(c, errmsg2) != 0) {
			db_fatal(c, MA_ERR_IO, errmsg2);
			return;
		}
	}
	stream_failed(c, errmsg);
}

void follow_core_run(struct follow_core *c, uint64_t now)
{
	c->now = now;
	if (c->phase == PHASE_DEAD)
		return;
	if (follow_core_busy(c)) {
		struct follow_refresh_env env;

		if ((c->phase == PHASE_SNAPSHOT ||
		     c->phase == PHASE_SNAPSHOT_VERIFY) &&
		    c->recv != NULL && snapshot_receiver_verifying(c->recv))
			verify_step(c);
		else if (refresh_env(c, &env) != NULL)
			follow_refresh_work(&c->refresh, &env, now);
	}
	if (c->phase == PHASE_DEAD)
		return;
	/* Entries received before a failure in the same body are valid. */
	if (c->batch.count > 0 && batch_flush(c) != 0)
		return;
	if (c->restart)
		start_info(c);
}

void follow_core_fail(struct follow_core *c, int code, const char *msg,
                      uint64_t now)
{
	c->now = now;
	if (c->phase != PHASE_DEAD)
		db_fatal(c, code, msg);
}

/* ---- public: actions and figures ---- */

size_t follow_core_actions(struct follow_core *c, struct follow_action *out,
                           size_t max)
{
	size_t n = 0;

	while (n < max && c->action_count > 0) {
		out[n++] = c->actions[c->action_head];
		c->action_head = (c->action_head + 1) % ACTION_QUEUE;
		c->action_count--;
	}
	return n;
}

struct follow_core_event follow_core_take_event(struct follow_core *c)
{
	struct follow_core_event ev = c->event;

	memset(&c->event, 0, sizeof c->event);
	return ev;
}

const struct mirror_status *follow_core_status(const struct follow_core *c)
{
	return &c->sm.status;
}

const char *follow_core_name(const struct follow_core *c)
{
	return c->name;
}

void follow_core_probe_answer(struct follow_core *c, uint32_t ep,
                              const void *body, size_t len, uint64_t now)
{
	char errmsg[MA_ERRMSG_SIZE];

	c->now = now;
	if (source_view_probe_answer(
	        &c->view, ep, c->has_identity ? c->identity.cluster_id : NULL,
	        c->name, body, len, now, errmsg) != 0)
		log_debug("%s: probe of endpoint %" PRIu32 ": %s", c->name, ep,
		          errmsg);
	mirror_sm_freshest(&c->sm, now, source_view_freshest(&c->view, now));
}

void follow_core_probe_failed(struct follow_core *c, uint32_t ep,
                              const char *why, uint64_t now)
{
	c->now = now;
	source_view_probe_failed(&c->view, ep, SOURCE_PROBE_FAILED, why, now);
}

bool follow_core_take_switch(struct follow_core *c, uint32_t *target, char *why,
                             size_t whylen)
{
	if (!c->switch_wanted || c->phase == PHASE_DEAD)
		return false;
	c->switch_wanted = false;
	*target = c->switch_target;
	snprintf(why, whylen, "%s", c->switch_why);
	return true;
}

void follow_core_set_endpoint(struct follow_core *c, uint32_t ep, uint64_t now)
{
	if (ep >= c->cfg.states.endpoint_count)
		return;
	c->switch_wanted = false;
	c->sm.status.endpoint = ep;
	source_view_set_current(&c->view, ep, now);
}

const struct source_view *follow_core_view(const struct follow_core *c)
{
	return &c->view;
}

bool follow_core_wants_next_endpoint(const struct follow_core *c)
{
	return c->wants_move && c->phase != PHASE_DEAD;
}

bool follow_core_failed(const struct follow_core *c)
{
	return c->phase == PHASE_DEAD;
}

uint64_t follow_core_log_index(const struct follow_core *c)
{
	return c->wal != NULL ? wal_log_durable_index(c->wal) : 0;
}

struct applier *follow_core_applier(const struct follow_core *c)
{
	return c->apply.applier;
}

struct wal_log *follow_core_wal(const struct follow_core *c)
{
	return c->wal;
}

const struct follow_refresh *follow_core_refresh(const struct follow_core *c)
{
	return &c->refresh;
}
