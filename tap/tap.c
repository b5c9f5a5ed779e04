/* tap core: committed entries and snapshots into a spool (tap/tap.h). No
 * clock and no libraft here; tap_raft.c is the libraft glue. */
#include "tap/tap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "snapshot/snapshot.h"
#include "spool/spool.h"
#include "wal/wal.h"

/* Fillers are appended in batches of at most this many entries, so a large
 * gap never needs a large allocation. */
#define FILL_BATCH 256

struct tap {
	char *dir;
	struct proto_identity id; /* as stored in <dir>/identity */
	struct wal_log *log;
	struct snapshot_store *store;
	struct tap_options opts;
	struct tap_stats stats;
	/* Freshness record (tap_freshness_note): the last one written and
	 * when (monotonic ms); fresh_written false until the first. */
	struct tap_freshness fresh;
	uint64_t fresh_at;
	bool fresh_written;
	/* A failed write waits fresh_backoff_ms (doubling, capped) before
	 * the next try, so a full disk is not retried at every call. */
	uint64_t fresh_retry_at;
	uint32_t fresh_backoff_ms;
};

/* Longest wait between two tries of a failing freshness write. */
#define FRESHNESS_BACKOFF_MAX_MS 5000u

/* Data of fillers: the wal wants a non-NULL pointer even for 0 bytes. */
static const char empty[1];

/* One entry-size limit from the tap to the mirror (docs/PROTOCOL.md). */
_Static_assert(WAL_ENTRY_SIZE_MAX == PROTO_ENTRY_DATA_MAX,
               "the wal and the protocol must agree on the largest entry");

void tap_options_init(struct tap_options *opts)
{
	memset(opts, 0, sizeof *opts);
	opts->sync_every_append = true;
	opts->snapshots_keep = 2;
	opts->trailing = 1024;
	opts->reserve_max_bytes = 1024ull * 1024 * 1024;
	opts->reserve_max_age_ms = 24ull * 3600 * 1000;
}

/* Creates the identity of a new spool or checks an existing one. */
static int identity_setup(struct tap *tap, const struct wal_identity *wid,
                          char *errmsg)
{
	struct proto_identity want;
	char uuid[37];
	int rc;

	memset(&want, 0, sizeof want);
	wal_identity_format_uuid(wid, uuid);
	memcpy(want.cluster_id, uuid, sizeof want.cluster_id);
	strcpy(want.database_id, wid->database_id);
	want.epoch = 1;
	rc = spool_identity_read(tap->dir, &tap->id, errmsg);
	/* A new incarnation with every new spool (a spool rebuilt under the
	 * same cluster id is a new source to the mirrors), and for one
	 * written before incarnations: only these need the entropy. */
	if ((rc == MA_ERR_NOTFOUND ||
	     (rc == 0 && tap->id.incarnation[0] == '\0')) &&
	    spool_uuid_generate(want.incarnation) != 0)
		return ma_errorf(errmsg, MA_ERR_IO,
		                 "%s: no entropy for the spool's incarnation "
		                 "id (getrandom failed)",
		                 tap->dir);
	if (rc == MA_ERR_NOTFOUND) {
		rc = spool_identity_write(tap->dir, &want, false, errmsg);
		if (rc == 0)
			tap->id = want;
		return rc;
	}
	if (rc != 0)
		return rc;
	/* Compare the UUID in canonical (lower-case) form. */
	for (char *p = tap->id.cluster_id; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	if (strcmp(tap->id.cluster_id, want.cluster_id) != 0 ||
	    strcmp(tap->id.database_id, want.database_id) != 0)
		return ma_errorf(errmsg, MA_ERR_IDENTITY,
		                 "%s: spool belongs to cluster %s database %s, "
		                 "not cluster %s database %s; use another "
		                 "spool directory",
		                 tap->dir, tap->id.cluster_id,
		                 tap->id.database_id, want.cluster_id,
		                 want.database_id);
	if (tap->id.incarnation[0] == '\0') {
		/* Written before incarnations existed: give it one now, so
		 * its mirrors (which store what they first see) can tell it
		 * from a rebuild from here on. */
		snprintf(tap->id.incarnation, sizeof tap->id.incarnation, "%s",
		         want.incarnation);
		rc = spool_identity_write(tap->dir, &tap->id, true, errmsg);
		if (rc != 0)
			return rc;
		log_info("tap: %s: identity has no incarnation yet; gave it "
		         "%s",
		         tap->dir, tap->id.incarnation);
	}
	return 0;
}

/* Creates <spool>.reservations (serve records mirrors' reservations
 * there) and publishes the budget in it, so that serve can tell each
 * mirror its headroom. Neither is needed to tap: failures are logged. */
static void publish_budget(struct tap *tap)
{
	struct spool_reserve_budget b = {
	    .max_bytes = tap->opts.reserve_max_bytes,
	    .max_age_ms = tap->opts.reserve_max_age_ms,
	};
	char rdir[4096], em[MA_ERRMSG_SIZE];

	if (spool_reserve_dir(rdir, sizeof rdir, tap->dir) != 0)
		return;
	if (io_mkdir_p(rdir, 0775, em) != 0 ||
	    spool_reserve_budget_write(rdir, &b, em) != 0)
		log_warn("tap: %s: reservation budget not published (serve "
		         "cannot report mirrors' headroom): %s",
		         tap->dir, em);
}

int tap_open(const char *spool_dir, const char *cluster_uuid,
             const char *database_id, const struct tap_options *opts,
             struct tap **out, char *errmsg)
{
	struct wal_options wopts;
	char path[4096];
	struct tap *tap;
	int rc;

	*out = NULL;
	if (spool_dir == NULL || cluster_uuid == NULL || database_id == NULL)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "tap_open: spool directory, cluster id and "
		                 "database id are required");
	wal_options_init(&wopts);
	rc = wal_identity_init(&wopts.identity, cluster_uuid, database_id,
	                       errmsg);
	if (rc != 0)
		return rc;
	tap = calloc(1, sizeof *tap);
	if (tap == NULL || (tap->dir = strdup(spool_dir)) == NULL) {
		free(tap);
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	}
	if (opts != NULL)
		tap->opts = *opts;
	else
		tap_options_init(&tap->opts);
	if (tap->opts.snapshots_keep == 0) {
		rc = ma_errorf(errmsg, MA_ERR_INVAL,
		               "tap_open: snapshots_keep must be at least 1");
		goto err;
	}
	rc = identity_setup(tap, &wopts.identity, errmsg);
	if (rc != 0)
		goto err;
	if (spool_path(path, sizeof path, spool_dir, SPOOL_SNAPSHOT_DIR) != 0) {
		rc = ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		               spool_dir);
		goto err;
	}
	rc = snapshot_store_open(path, &tap->store, errmsg);
	if (rc != 0)
		goto err;
	wopts.sync_every_append = tap->opts.sync_every_append;
	wopts.sync_bytes = tap->opts.sync_bytes;
	wopts.sync_interval_ms = tap->opts.sync_interval_ms;
	if (tap->opts.segment_size != 0)
		wopts.segment_size = tap->opts.segment_size;
	spool_path(path, sizeof path, spool_dir, SPOOL_WAL_DIR);
	rc = wal_log_open(path, &wopts, &tap->log, errmsg);
	if (rc != 0)
		goto err_after_store;
	publish_budget(tap);
	*out = tap;
	return 0;

err_after_store:
	snapshot_store_close(tap->store);
err:
	free(tap->dir);
	free(tap);
	return rc;
}

void tap_close(struct tap *tap)
{
	char errmsg[MA_ERRMSG_SIZE];

	if (tap == NULL)
		return;
	if (!wal_log_failed(tap->log) && wal_log_sync(tap->log, errmsg) != 0)
		log_error("tap: %s: final sync failed: %s", tap->dir, errmsg);
	wal_log_close(tap->log);
	snapshot_store_close(tap->store);
	free(tap->dir);
	free(tap);
}

/* A filler stands in for an entry that never reached the FSM; when the
 * real entry is tapped later (the libraft wrapper copies barrier and
 * configuration entries from libraft's log) it matches the filler. */
static bool is_filler(const struct wal_entry *e)
{
	return e->type == TAP_ENTRY_BARRIER && e->len == 0;
}

/* Compares the entry the wal holds at index with the one being tapped. */
static int verify(struct tap *tap, uint64_t index, uint64_t term, uint8_t type,
                  const void *data, size_t len, char *errmsg)
{
	struct wal_entry e;
	uint32_t have_crc, want_crc;
	int rc;

	rc = wal_log_read(tap->log, index, &e, errmsg);
	if (rc == MA_ERR_COMPACTED) {
		tap->stats.skipped++;
		return 0;
	}
	if (rc != 0)
		return rc;
	have_crc = crc32c(e.data, e.len);
	want_crc = crc32c(len > 0 ? data : empty, len);
	if ((e.term == term && e.type == type && e.len == len &&
	     have_crc == want_crc) ||
	    (is_filler(&e) && type != TAP_ENTRY_COMMAND)) {
		tap->stats.verified++;
		return 0;
	}
	return ma_errorf(errmsg, MA_ERR_DIVERGED,
	                 "%s: entry %" PRIu64 " differs: the spool holds term "
	                 "%" PRIu64 " type %u crc32c %08" PRIx32
	                 " (%zu bytes), the node applied term %" PRIu64
	                 " type %u crc32c %08" PRIx32
	                 " (%zu bytes); the spool belongs to another history: "
	                 "move it away and restart the node",
	                 tap->dir, index, e.term, e.type, have_crc, e.len, term,
	                 type, want_crc, len);
}

/* Appends fillers for [from, to) with term. */
static int fill(struct tap *tap, uint64_t from, uint64_t to, uint64_t term,
                uint64_t now_ms, char *errmsg)
{
	struct wal_entry batch[FILL_BATCH];
	int rc;

	if (to > from)
		log_info("tap: %s: filling indexes %" PRIu64 "..%" PRIu64
		         " (not applied to the FSM) with barriers",
		         tap->dir, from, to - 1);
	while (from < to) {
		size_t n =
		    to - from < FILL_BATCH ? (size_t)(to - from) : FILL_BATCH;

		for (size_t i = 0; i < n; i++) {
			batch[i].index = from + i;
			batch[i].term = term;
			batch[i].type = TAP_ENTRY_BARRIER;
			batch[i].data = empty;
			batch[i].len = 0;
		}
		rc = wal_log_append(tap->log, batch, n, now_ms, errmsg);
		if (rc != 0)
			return rc;
		tap->stats.appended += n;
		tap->stats.fillers += n;
		from += n;
	}
	return 0;
}

int tap_append(struct tap *tap, uint64_t index, uint64_t term, uint8_t type,
               const void *data, size_t len, uint64_t now_ms, char *errmsg)
{
	uint64_t first = wal_log_first_index(tap->log);
	uint64_t last = wal_log_last_index(tap->log);
	struct wal_entry e;
	int rc;

	if (index == 0)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "tap_append: index 0 is not an entry");
	if (data == NULL && len > 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "tap_append: NULL data");
	if (wal_log_failed(tap->log))
		return ma_errorf(errmsg, MA_ERR_FAILED,
		                 "%s: the spool's wal failed earlier; close "
		                 "and reopen the tap",
		                 tap->dir);
	/* A wal that never held an entry reports first = last = 0 and has
	 * no base: everything before index is filled from 1. */
	if (first != 0 && index < first) {
		tap->stats.skipped++;
		return 0;
	}
	if (first != 0 && index <= last)
		return verify(tap, index, term, type, data, len, errmsg);
	rc = fill(tap, first == 0 ? 1 : last + 1, index, term, now_ms, errmsg);
	if (rc != 0)
		return rc;
	e.index = index;
	e.term = term;
	e.type = type;
	e.data = len > 0 ? data : empty;
	e.len = len;
	rc = wal_log_append(tap->log, &e, 1, now_ms, errmsg);
	if (rc != 0)
		return rc;
	tap->stats.appended++;
	return 0;
}

int tap_sync(struct tap *tap, char *errmsg)
{
	return wal_log_sync(tap->log, errmsg);
}

int tap_sync_if_due(struct tap *tap, uint64_t now_ms, char *errmsg)
{
	if (!wal_log_sync_due(tap->log, now_ms))
		return 0;
	return wal_log_sync(tap->log, errmsg);
}

uint64_t tap_sync_deadline(const struct tap *tap)
{
	return wal_log_sync_deadline(tap->log);
}

static void fill_ident(const struct tap *tap, uint64_t index, uint64_t term,
                       struct snapshot_ident *ident)
{
	memset(ident, 0, sizeof *ident);
	strcpy(ident->cluster_id, tap->id.cluster_id);
	strcpy(ident->database_id, tap->id.database_id);
	ident->index = index;
	ident->term = term;
}

/* Writes the snapshot from a buffer (path NULL) or a file. */
static int store_snapshot(struct tap *tap, uint64_t index, uint64_t term,
                          const void *data, size_t len, const char *path,
                          uint64_t created_ms, char *errmsg)
{
	struct snapshot_ident ident;
	int rc;

	fill_ident(tap, index, term, &ident);
	if (path != NULL)
		rc = snapshot_store_create_from_file(tap->store, &ident, path,
		                                     created_ms, NULL, errmsg);
	else
		rc = snapshot_store_create_from_buf(
		    tap->store, &ident, data, len, created_ms, NULL, errmsg);
	if (rc == 0)
		tap->stats.snapshots++;
	return rc;
}

/* Keeps snapshots_keep snapshots and drops wal segments wholly before the
 * oldest retained snapshot's index + 1 - trailing, or before the oldest
 * honoured reservation when that is lower. now_ms: Unix time (ms). */
static int retain(struct tap *tap, uint64_t now_ms, char *errmsg)
{
	struct snapshot_meta *metas = NULL;
	size_t count = 0;
	uint64_t cut;
	int rc;

	rc = snapshot_store_retain(tap->store, tap->opts.snapshots_keep, NULL,
	                           errmsg);
	if (rc == 0)
		rc = snapshot_store_list(tap->store, &metas, &count, errmsg);
	if (rc != 0 || count == 0) {
		free(metas);
		return rc;
	}
	cut = metas[0].id.index + 1;
	free(metas);
	if (cut <= tap->opts.trailing)
		return 0;
	cut -= tap->opts.trailing;
	if (cut <= wal_log_first_index(tap->log))
		return 0;
	{
		struct spool_reserve_budget budget = {
		    .max_bytes = tap->opts.reserve_max_bytes,
		    .max_age_ms = tap->opts.reserve_max_age_ms,
		};
		char who[4200];

		snprintf(who, sizeof who, "tap: %s", tap->dir);
		cut = spool_reserve_apply(tap->dir, cut, &budget, now_ms, who);
	}
	if (cut <= wal_log_first_index(tap->log))
		return 0;
	return wal_log_truncate_prefix(tap->log, cut, errmsg);
}

static int rebase(struct tap *tap, uint64_t index, char *errmsg)
{
	int rc = wal_log_reset(tap->log, index + 1, errmsg);

	if (rc == 0) {
		tap->stats.rebases++;
		log_info("tap: %s: wal restarts at %" PRIu64
		         " (snapshot %" PRIu64 " is the new base)",
		         tap->dir, index + 1, index);
	}
	return rc;
}

static int snapshot_taken(struct tap *tap, uint64_t index, uint64_t term,
                          const void *data, size_t len, const char *path,
                          uint64_t created_ms, char *errmsg)
{
	uint64_t first, last, have;
	int rc;

	if (index == 0)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "snapshot index 0 is not valid");
	rc = wal_log_sync(tap->log, errmsg);
	if (rc != 0)
		return rc;
	first = wal_log_first_index(tap->log);
	last = wal_log_last_index(tap->log);
	if (first != 0 && index >= first && index <= last) {
		rc = wal_log_term_at(tap->log, index, &have, errmsg);
		if (rc != 0)
			return rc;
		if (have != term)
			return ma_errorf(errmsg, MA_ERR_DIVERGED,
			                 "%s: snapshot %" PRIu64 "-%" PRIu64
			                 " but the spool holds entry %" PRIu64
			                 " with term %" PRIu64
			                 "; the spool belongs to another "
			                 "history: move it away and restart "
			                 "the node",
			                 tap->dir, index, term, index, have);
	}
	rc = store_snapshot(tap, index, term, data, len, path, created_ms,
	                    errmsg);
	if (rc != 0)
		return rc;
	/* The wal does not reach the snapshot: it cannot be continued
	 * contiguously, so the snapshot becomes its base. */
	if (first == 0 || index > last) {
		rc = rebase(tap, index, errmsg);
		if (rc != 0)
			return rc;
	}
	return retain(tap, created_ms, errmsg);
}

int tap_snapshot_taken(struct tap *tap, uint64_t index, uint64_t term,
                       const void *data, size_t len, uint64_t created_ms,
                       char *errmsg)
{
	if (data == NULL && len > 0)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "tap_snapshot_taken: NULL data");
	return snapshot_taken(tap, index, term, data, len, NULL, created_ms,
	                      errmsg);
}

int tap_snapshot_taken_file(struct tap *tap, uint64_t index, uint64_t term,
                            const char *path, uint64_t created_ms, char *errmsg)
{
	if (path == NULL)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "tap_snapshot_taken_file: NULL path");
	return snapshot_taken(tap, index, term, NULL, 0, path, created_ms,
	                      errmsg);
}

int tap_snapshot_installed(struct tap *tap, uint64_t index, uint64_t term,
                           const void *data, size_t len, uint64_t created_ms,
                           char *errmsg)
{
	int rc;

	if (index == 0)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "snapshot index 0 is not valid");
	if (data == NULL && len > 0)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "tap_snapshot_installed: NULL data");
	if (wal_log_failed(tap->log))
		return ma_errorf(errmsg, MA_ERR_FAILED,
		                 "%s: the spool's wal failed earlier; close "
		                 "and reopen the tap",
		                 tap->dir);
	rc = store_snapshot(tap, index, term, data, len, NULL, created_ms,
	                    errmsg);
	if (rc == 0)
		rc = rebase(tap, index, errmsg);
	if (rc == 0)
		rc = retain(tap, created_ms, errmsg);
	return rc;
}

uint64_t tap_first_index(const struct tap *tap)
{
	return wal_log_first_index(tap->log);
}

uint64_t tap_last_index(const struct tap *tap)
{
	return wal_log_last_index(tap->log);
}

uint64_t tap_durable_index(const struct tap *tap)
{
	return wal_log_durable_index(tap->log);
}

int tap_term_at(struct tap *tap, uint64_t index, uint64_t *term, char *errmsg)
{
	return wal_log_term_at(tap->log, index, term, errmsg);
}

int tap_latest_snapshot(struct tap *tap, uint64_t *index, uint64_t *term,
                        char *errmsg)
{
	struct snapshot_meta meta;
	int rc = snapshot_store_latest(tap->store, &meta, errmsg);

	if (rc != 0)
		return rc;
	*index = meta.id.index;
	*term = meta.id.term;
	return 0;
}

void tap_get_stats(const struct tap *tap, struct tap_stats *stats)
{
	*stats = tap->stats;
}

int tap_freshness_note(struct tap *tap, const struct tap_freshness *fr,
                       uint64_t now_ms, int64_t wall_ms, char *errmsg)
{
	struct spool_freshness sf;
	bool changed, flip;
	int rc;

	if (tap == NULL || fr == NULL || fr->leader_contact_ms < 0 ||
	    wall_ms < 0 || (fr->is_leader && !fr->leader_known))
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "tap_freshness_note: invalid arguments");
	flip = !tap->fresh_written ||
	       fr->leader_known != tap->fresh.leader_known ||
	       fr->is_leader != tap->fresh.is_leader;
	changed = flip ||
	          fr->leader_contact_ms != tap->fresh.leader_contact_ms ||
	          fr->commit_index != tap->fresh.commit_index;
	/* A leader lost or found is news at once; the rest (contact times
	 * and commit indexes move with every heartbeat) at most every
	 * SPOOL_FRESHNESS_INTERVAL_MS. Nothing new: nothing written, and
	 * the reader ages the contact time by its own clock. */
	if (!changed ||
	    (!flip && now_ms < tap->fresh_at + SPOOL_FRESHNESS_INTERVAL_MS) ||
	    now_ms < tap->fresh_retry_at)
		return 0;
	memset(&sf, 0, sizeof sf);
	sf.leader_known = fr->leader_known;
	sf.is_leader = fr->is_leader;
	sf.leader_contact_ms = fr->leader_contact_ms;
	sf.commit_index = fr->commit_index;
	sf.written_ms = wall_ms;
	rc = spool_freshness_write(tap->dir, &sf, errmsg);
	if (rc != 0) {
		tap->fresh_backoff_ms =
		    tap->fresh_backoff_ms == 0 ? SPOOL_FRESHNESS_INTERVAL_MS
		    : tap->fresh_backoff_ms >= FRESHNESS_BACKOFF_MAX_MS / 2
		        ? FRESHNESS_BACKOFF_MAX_MS
		        : tap->fresh_backoff_ms * 2;
		tap->fresh_retry_at = now_ms + tap->fresh_backoff_ms;
		return rc;
	}
	tap->fresh_backoff_ms = 0;
	tap->fresh_retry_at = 0;
	tap->fresh = *fr;
	tap->fresh_at = now_ms;
	tap->fresh_written = true;
	return 0;
}
