/* Background snapshot refresh for the `none` applier
 * (agent/follow/follow_refresh.h). */
#include "agent/follow/follow_refresh.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "agent/follow/follow_checkpoint.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "snapshot/snapshot_codec.h"
#include "spool/spool.h"
#include "wal/wal.h"

bool follow_refresh_due(uint64_t distance, bool has, uint64_t index,
                        uint64_t local_newest, uint64_t durable)
{
	return distance != 0 && has && index >= local_newest + distance &&
	       index <= durable;
}

uint64_t follow_refresh_allowed_at(uint64_t rate, uint64_t fetch_ms,
                                   uint64_t bytes)
{
	if (rate == 0)
		return fetch_ms;
	/* Rounded up: never early. */
	return fetch_ms + (bytes * 1000 + rate - 1) / rate;
}

int follow_refresh_init(struct follow_refresh *r,
                        const struct follow_refresh_config *cfg,
                        const char *name, const char *dir, uint64_t now,
                        char *errmsg)
{
	memset(r, 0, sizeof *r);
	r->cfg = *cfg;
	if (r->cfg.check_ms == 0)
		r->cfg.check_ms = 60000;
	if (r->cfg.backoff_min_ms == 0)
		r->cfg.backoff_min_ms = 1000;
	if (r->cfg.backoff_max_ms < r->cfg.backoff_min_ms)
		r->cfg.backoff_max_ms = r->cfg.backoff_min_ms;
	/* Pacing pauses only at a durable offset: make one at least every
	 * second of transfer at the rate, or a snapshot smaller than the
	 * fsync interval would come unpaced. */
	if (r->cfg.rate_bytes_per_s != 0 &&
	    (r->cfg.fsync_interval == 0 ||
	     r->cfg.fsync_interval > r->cfg.rate_bytes_per_s))
		r->cfg.fsync_interval = r->cfg.rate_bytes_per_s;
	r->name = name;
	r->backoff_ms = r->cfg.backoff_min_ms;
	/* The first check after one interval: a mirror that just started
	 * first catches up with the log. */
	r->next_ms = now + r->cfg.check_ms;
	if (io_path_join(r->recv_dir, sizeof r->recv_dir, dir,
	                 "recv/refresh") != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 dir);
	return 0;
}

void follow_refresh_free(struct follow_refresh *r)
{
	if (r->frames_open)
		proto_framer_free(&r->frames);
	r->frames_open = false;
	if (r->recv != NULL)
		snapshot_receiver_close(r->recv);
	r->recv = NULL;
	snapshot_codec_free(r->codec);
	r->codec = NULL;
}

bool follow_refresh_owns(const struct follow_refresh *r, uint64_t stream)
{
	return stream != 0 && r->stream == stream;
}

static void drop_stream(struct follow_refresh *r,
                        const struct follow_refresh_env *env)
{
	if (r->stream != 0)
		env->cancel(env->arg, r->stream);
	r->stream = 0;
	if (r->frames_open)
		proto_framer_free(&r->frames);
	r->frames_open = false;
}

static void wait_until(struct follow_refresh *r, uint64_t now, uint64_t at)
{
	r->next_ms = at;
	if (at > now && at - now > r->longest_wait_ms)
		r->longest_wait_ms = at - now;
}

/* Something went wrong with this attempt: give up the stream, keep what
 * is durable (the target stays: the next attempt resumes), and wait the
 * backoff, which doubles unless the attempt made progress. */
static void failed(struct follow_refresh *r,
                   const struct follow_refresh_env *env, const char *why,
                   uint64_t now)
{
	uint64_t durable =
	    r->recv != NULL ? snapshot_receiver_durable_offset(r->recv) : 0;

	drop_stream(r, env);
	r->failures++;
	snprintf(r->last_error, sizeof r->last_error, "%s", why);
	if (r->phase == FOLLOW_REFRESH_FETCH && durable > r->attempt_durable)
		r->backoff_ms = r->cfg.backoff_min_ms;
	log_warn("%s: snapshot refresh: %s; next try in %" PRIu64 " ms",
	         r->name, why, r->backoff_ms);
	wait_until(r, now, now + r->backoff_ms);
	r->backoff_ms = r->backoff_ms * 2 > r->cfg.backoff_max_ms
	                    ? r->cfg.backoff_max_ms
	                    : r->backoff_ms * 2;
	r->phase = r->has_target ? FOLLOW_REFRESH_PAUSED : FOLLOW_REFRESH_IDLE;
}

static int open_receiver(struct follow_refresh *r,
                         const struct follow_refresh_env *env, char *errmsg)
{
	struct snapshot_receiver_config rc = {0};

	if (r->recv != NULL)
		return 0;
	rc.data_dir = r->recv_dir;
	rc.store = env->store;
	rc.fsync_interval = r->cfg.fsync_interval;
	return snapshot_receiver_open(&rc, r->name, &r->recv, errmsg);
}

/* The store holds target durably: keep the newest N, trim the wal. */
static void installed(struct follow_refresh *r,
                      const struct follow_refresh_env *env, uint64_t now)
{
	char errmsg[MA_ERRMSG_SIZE];
	uint64_t first_before = wal_log_first_index(env->wal);
	int rc;

	drop_stream(r, env);
	r->installed++;
	r->last_index = r->target.index;
	r->has_target = false;
	r->phase = FOLLOW_REFRESH_IDLE;
	r->backoff_ms = r->cfg.backoff_min_ms;
	wait_until(r, now, now + r->cfg.check_ms);
	rc = follow_checkpoint_trim(env->ckpt, env->store, env->wal,
	                            r->target.index, errmsg);
	if (rc != 0) {
		/* The wal refuses further writes (fail-stop): the log's
		 * next append fails the database with its own message. */
		log_error("%s: wal trim after snapshot %" PRIu64 ": %s",
		          r->name, r->target.index, errmsg);
		return;
	}
	r->last_first = wal_log_first_index(env->wal);
	log_info("%s: snapshot refresh: %" PRIu64 "-%" PRIu64
	         " installed (%" PRIu64 " bytes, %" PRIu64 " pauses, %" PRIu64
	         " resumes); wal now starts at %" PRIu64 " (was %" PRIu64 ")",
	         r->name, r->target.index, r->target.term, r->target.size,
	         r->pauses, r->resumes, r->last_first, first_before);
}

/* Asks for target from the receiver's durable offset. */
static void fetch(struct follow_refresh *r,
                  const struct follow_refresh_env *env, uint64_t now)
{
	char errmsg[MA_ERRMSG_SIZE], path[256];
	struct snapshot_meta meta;
	uint64_t offset = 0;
	int rc;

	/* A bootstrap (the source said compacted) may have brought a
	 * snapshot as new as the target meanwhile: nothing to fetch. */
	if (snapshot_store_latest(env->store, &meta, NULL) == 0 &&
	    meta.id.index >= r->target.index) {
		r->has_target = false;
		r->phase = FOLLOW_REFRESH_IDLE;
		wait_until(r, now, now + r->cfg.check_ms);
		return;
	}
	rc = open_receiver(r, env, errmsg);
	if (rc == 0)
		rc = snapshot_receiver_begin(r->recv, &r->target, &offset,
		                             errmsg);
	if (rc == 1) {
		installed(r, env, now);
		return;
	}
	if (rc == MA_ERR_FAILED && r->recv != NULL) {
		/* A write failed earlier: a fresh receiver resumes from
		 * what is durable. */
		snapshot_receiver_close(r->recv);
		r->recv = NULL;
	}
	if (rc != 0) {
		failed(r, env, errmsg, now);
		return;
	}
	if (offset > 0)
		r->resumes++;
	r->attempt_durable = offset;
	if (proto_framer_init(&r->frames, SNAPSHOT_DATA_MAX_DEFAULT +
	                                      PROTO_ENVELOPE_OVERHEAD_MAX) !=
	    0) {
		failed(r, env, "out of memory", now);
		return;
	}
	r->frames_open = true;
	snprintf(path, sizeof path,
	         "/v1/db/%s/snapshot?index=%" PRIu64 "&term=%" PRIu64
	         "&offset=%" PRIu64 "%s",
	         r->name, r->target.index, r->target.term, offset,
	         r->zstd ? "&encodings=1" : "");
	r->phase = FOLLOW_REFRESH_FETCH;
	r->status = 0;
	r->stream = env->open(env->arg, path);
	log_info("%s: snapshot refresh: fetching %" PRIu64 "-%" PRIu64
	         " (%" PRIu64 " bytes) from offset %" PRIu64,
	         r->name, r->target.index, r->target.term, r->target.size,
	         offset);
}

void follow_refresh_tick(struct follow_refresh *r,
                         const struct follow_refresh_env *env, uint64_t now,
                         bool following)
{
	char path[128];

	if (r->cfg.distance == 0)
		return;
	if (follow_refresh_busy(r))
		follow_refresh_work(r, env, now);
	if (r->phase == FOLLOW_REFRESH_VERIFY)
		return;
	if (!following) {
		/* The log comes first: a fetch resumes once it follows. */
		if (r->stream != 0) {
			drop_stream(r, env);
			r->phase = r->has_target ? FOLLOW_REFRESH_PAUSED
			                         : FOLLOW_REFRESH_IDLE;
		}
		return;
	}
	if (r->stream != 0 || now < r->next_ms)
		return;
	if (r->phase == FOLLOW_REFRESH_PAUSED && r->has_target) {
		fetch(r, env, now);
		return;
	}
	/* Info frames are small (as follow_core's info stream). */
	if (proto_framer_init(&r->frames, PROTO_FRAME_OVERHEAD) != 0)
		return;
	r->frames_open = true;
	r->got_info = false;
	snprintf(path, sizeof path, "/v1/db/%s/info", r->name);
	r->phase = FOLLOW_REFRESH_INFO;
	r->status = 0;
	r->infos++;
	r->stream = env->open(env->arg, path);
}

void follow_refresh_response(struct follow_refresh *r,
                             const struct follow_refresh_env *env,
                             uint64_t stream, int status, uint64_t now)
{
	char why[64];

	if (!follow_refresh_owns(r, stream))
		return;
	r->status = status;
	if (status != 200) {
		/* 404 on a fetch: the source no longer has that snapshot
		 * (its retention); ask its info again for a newer one. */
		if (status == 404 && r->phase == FOLLOW_REFRESH_FETCH)
			r->has_target = false;
		snprintf(why, sizeof why, "the source answered %d", status);
		failed(r, env, why, now);
	}
}

static void on_info(struct follow_refresh *r,
                    const struct follow_refresh_env *env, const void *body,
                    size_t len, uint64_t now)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct proto_info info;
	struct snapshot_meta meta;
	uint64_t local = 0;

	if (proto_info_decode(body, len, &info, errmsg) != 0) {
		failed(r, env, errmsg, now);
		return;
	}
	r->got_info = true;
	if (!spool_identity_accepts(env->identity, &info.id)) {
		failed(r, env, "the source's identity is not the one stored",
		       now);
		return;
	}
	if (snapshot_store_latest(env->store, &meta, NULL) == 0)
		local = meta.id.index;
	drop_stream(r, env);
	if (!follow_refresh_due(r->cfg.distance, info.has_snapshot,
	                        info.snapshot_index, local,
	                        wal_log_durable_index(env->wal))) {
		r->phase = FOLLOW_REFRESH_IDLE;
		wait_until(r, now, now + r->cfg.check_ms);
		return;
	}
	memset(&r->target, 0, sizeof r->target);
	snprintf(r->target.cluster_id, sizeof r->target.cluster_id, "%s",
	         info.id.cluster_id);
	snprintf(r->target.database_id, sizeof r->target.database_id, "%s",
	         r->name);
	r->target.index = info.snapshot_index;
	r->target.term = info.snapshot_term;
	r->target.size = info.snapshot_size;
	r->target.crc32c = info.snapshot_crc32c;
	r->has_target = true;
	r->zstd = env->want_zstd &&
	          (info.snapshot_encodings & SNAPSHOT_ENCODINGS_ZSTD) != 0;
	r->fetch_ms = now;
	r->fetch_bytes = 0;
	r->pauses = r->resumes = 0;
	fetch(r, env, now);
}

/* One frame of the fetch. Returns true to keep feeding. */
static bool on_chunk(struct follow_refresh *r,
                     const struct follow_refresh_env *env, const void *body,
                     size_t len, uint64_t now)
{
	char errmsg[MA_ERRMSG_SIZE], why[MA_ERRMSG_SIZE + 32];
	struct snapshot_chunk chunk;
	uint64_t before = snapshot_receiver_offset(r->recv), at;
	int rc;

	if (proto_envelope_decode(body, len, 0, &chunk, errmsg) != 0) {
		snprintf(why, sizeof why, "snapshot stream: %s", errmsg);
		failed(r, env, why, now);
		return false;
	}
	/* Compressed chunks become raw before the receiver (CRC32C over
	 * the raw bytes, pacing on the raw bytes received). */
	if (snapshot_codec_receive(&r->codec, &chunk, SNAPSHOT_DATA_MAX_DEFAULT,
	                           env->wire_bytes, env->raw_bytes,
	                           errmsg) != 0) {
		snprintf(why, sizeof why, "snapshot stream: %s", errmsg);
		failed(r, env, why, now);
		return false;
	}
	rc = snapshot_receiver_feed(r->recv, &chunk, now, errmsg);
	if (snapshot_receiver_offset(r->recv) > before) {
		r->fetch_bytes += snapshot_receiver_offset(r->recv) - before;
		r->bytes += snapshot_receiver_offset(r->recv) - before;
	}
	if (rc == 1) {
		installed(r, env, now);
		return false;
	}
	if (rc == 2) {
		/* All in, the resumed prefix not yet read back: the stream
		 * is done with (its end is ignored), the install comes from
		 * follow_refresh_work. */
		drop_stream(r, env);
		r->phase = FOLLOW_REFRESH_VERIFY;
		return false;
	}
	if (rc != 0) {
		if (rc == MA_ERR_FAILED || rc == MA_ERR_IO ||
		    rc == MA_ERR_NOSPACE) {
			snapshot_receiver_close(r->recv);
			r->recv = NULL;
		}
		failed(r, env, errmsg, now);
		return false;
	}
	/* Pacing: ahead of the rate, and all received is durable (nothing
	 * to fetch again): pause until the allowance catches up. */
	at = follow_refresh_allowed_at(r->cfg.rate_bytes_per_s, r->fetch_ms,
	                               r->fetch_bytes);
	if (at > now && snapshot_receiver_durable_offset(r->recv) ==
	                    snapshot_receiver_offset(r->recv)) {
		drop_stream(r, env);
		r->pauses++;
		r->phase = FOLLOW_REFRESH_PAUSED;
		r->backoff_ms = r->cfg.backoff_min_ms;
		wait_until(r, now, at);
		return false;
	}
	return true;
}

void follow_refresh_body(struct follow_refresh *r,
                         const struct follow_refresh_env *env, uint64_t stream,
                         const uint8_t *data, size_t len, uint64_t now)
{
	char errmsg[MA_ERRMSG_SIZE];

	while (len > 0 && follow_refresh_owns(r, stream) && r->frames_open) {
		const void *body;
		size_t blen, used;
		int rc = proto_framer_feed(&r->frames, data, len, &used, &body,
		                           &blen, errmsg);

		if (rc < 0) {
			failed(r, env, errmsg, now);
			return;
		}
		data += used;
		len -= used;
		if (rc != 1)
			continue;
		if (r->phase == FOLLOW_REFRESH_INFO) {
			on_info(r, env, body, blen, now);
			return; /* a new stream (or none) from here */
		}
		if (!on_chunk(r, env, body, blen, now))
			return;
	}
}

void follow_refresh_end(struct follow_refresh *r,
                        const struct follow_refresh_env *env, uint64_t stream,
                        uint64_t now)
{
	if (!follow_refresh_owns(r, stream))
		return;
	failed(r, env,
	       r->phase == FOLLOW_REFRESH_INFO
	           ? "info ended without its frame"
	           : "snapshot stream ended before its final chunk",
	       now);
}

void follow_refresh_error(struct follow_refresh *r,
                          const struct follow_refresh_env *env, uint64_t stream,
                          const char *msg, uint64_t now)
{
	char why[300];

	if (!follow_refresh_owns(r, stream))
		return;
	snprintf(why, sizeof why, "stream failed: %s",
	         msg != NULL ? msg : "reset");
	failed(r, env, why, now);
}

bool follow_refresh_busy(const struct follow_refresh *r)
{
	return r->recv != NULL && snapshot_receiver_verifying(r->recv);
}

void follow_refresh_work(struct follow_refresh *r,
                         const struct follow_refresh_env *env, uint64_t now)
{
	char errmsg[MA_ERRMSG_SIZE];
	int rc;

	if (!follow_refresh_busy(r))
		return;
	rc = snapshot_receiver_verify(r->recv, 0, now, errmsg);
	if (rc == 1) {
		installed(r, env, now);
		return;
	}
	if (rc == 0) {
		if (r->phase == FOLLOW_REFRESH_VERIFY &&
		    !snapshot_receiver_verifying(r->recv)) {
			/* Verified, yet nothing committed: cannot happen by
			 * the receiver's contract; fetch again rather than
			 * wait forever. */
			failed(r, env, "resumed prefix verified, no commit",
			       now);
		}
		return;
	}
	if (rc == MA_ERR_FAILED || rc == MA_ERR_IO || rc == MA_ERR_NOSPACE ||
	    rc == MA_ERR_NOMEM) {
		snapshot_receiver_close(r->recv);
		r->recv = NULL;
	}
	/* MA_ERR_CRC: the resume point went back to the damaged region;
	 * the next fetch begins there. */
	if (r->phase == FOLLOW_REFRESH_VERIFY)
		r->phase = FOLLOW_REFRESH_PAUSED;
	failed(r, env, errmsg, now);
}

void follow_refresh_disconnected(struct follow_refresh *r, uint64_t now)
{
	(void)now;
	r->stream = 0;
	if (r->frames_open)
		proto_framer_free(&r->frames);
	r->frames_open = false;
	if (r->phase != FOLLOW_REFRESH_IDLE &&
	    r->phase != FOLLOW_REFRESH_VERIFY)
		r->phase =
		    r->has_target ? FOLLOW_REFRESH_PAUSED : FOLLOW_REFRESH_IDLE;
}
