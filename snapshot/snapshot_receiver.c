/* snapshot receiver: chunks to <data_dir>/recv/<db>.partial, then into
 * the store as a .snapshot. Logic core: no sockets, no clock (`now` comes
 * from the caller); file writes go through common/io.h.
 *
 * Durability order, which makes resume safe: the .partial is fsynced
 * first, and only then is the progress record (<db>.progress) updated
 * durably with the new durable offset and the running CRC32C at that
 * offset. So the record never claims bytes that are not on disk. A fresh
 * receive writes its record (offset 0) before touching the .partial, so a
 * record never describes bytes of another snapshot.
 *
 * The progress file has two slots; an update overwrites the older one in
 * place (pwrite + fdatasync) with a higher sequence number, and a reader
 * takes the valid slot with the highest sequence. A torn update leaves the
 * other slot intact. This costs one fdatasync per update where a
 * write-temp-and-rename would cost three plus a rename. */
#include "snapshot/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "common/parse.h"

#define VERIFY_BUF_SIZE (1024 * 1024)

struct snapshot_receiver {
	char *recv_dir;
	char db[SNAPSHOT_ID_MAX + 1];
	char partial_name[SNAPSHOT_ID_MAX + 16];
	char progress_name[SNAPSHOT_ID_MAX + 16];
	char partial_path[PATH_MAX];
	char progress_path[PATH_MAX];
	struct snapshot_store *store;
	uint64_t fsync_interval;
	uint64_t progress_interval;
	void (*on_event)(void *arg, const struct snapshot_recv_event *ev);
	void *arg;
	void *stream; /* front end's per-stream state (proto's framer) */
	void (*stream_release)(void *stream);

	int fd;       /* the .partial, -1 when closed */
	int pfd;      /* the progress file, -1 when closed */
	uint64_t seq; /* sequence number of the newest progress slot */
	bool active;  /* id is the snapshot being received */
	struct snapshot_ident id;
	/* What begin() asked the source for: a stream may carry only that
	 * snapshot (a source answering ?index=I with envelopes for another
	 * one is refused, not stored). */
	bool bound;
	struct snapshot_ident expect;
	uint64_t offset;      /* next byte expected */
	uint32_t crc;         /* CRC32C of [0, offset) */
	uint64_t durable;     /* fsynced and recorded */
	uint32_t durable_crc; /* CRC32C of [0, durable) */
	uint64_t reported;    /* last bytes_done reported */
	uint64_t next_report; /* report when offset reaches this */

	int failed; /* fail-stop code, 0 while healthy */
	char failmsg[MA_ERRMSG_SIZE];
};

/* Fail-stop: remember the first failure and refuse everything after it. */
static int fail(struct snapshot_receiver *r, int rc, char *errmsg,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(struct snapshot_receiver *r, int rc, char *errmsg,
                const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->failmsg, sizeof r->failmsg, fmt, ap);
	va_end(ap);
	r->failed = rc;
	log_error("snapshot receiver: %s", r->failmsg);
	return ma_errorf(errmsg, rc, "%s", r->failmsg);
}

static int refuse(const struct snapshot_receiver *r, char *errmsg)
{
	return ma_errorf(errmsg, MA_ERR_FAILED,
	                 "receiver stopped after an earlier error (%s); open "
	                 "a new receiver to resume from the durable offset",
	                 r->failmsg);
}

int snapshot_receiver_open(const struct snapshot_receiver_config *cfg,
                           const char *database_id,
                           struct snapshot_receiver **out, char *errmsg)
{
	struct snapshot_receiver *r;
	char recv_dir[PATH_MAX];
	int rc;

	if (cfg->data_dir == NULL || cfg->store == NULL)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "receiver needs a data_dir and a store");
	if (!parse_name_valid_str(database_id))
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "database id '%.80s' must be 1-64 characters "
		                 "of [A-Za-z0-9._-]",
		                 database_id);
	if (io_path_join(recv_dir, sizeof recv_dir, cfg->data_dir, "recv") != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 cfg->data_dir);
	rc = io_mkdir_p(recv_dir, 0755, errmsg);
	if (rc != 0)
		return rc;
	r = calloc(1, sizeof *r);
	if (r == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	r->fd = -1;
	r->pfd = -1;
	r->recv_dir = strdup(recv_dir);
	if (r->recv_dir == NULL) {
		free(r);
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	}
	snprintf(r->db, sizeof r->db, "%s", database_id);
	snprintf(r->partial_name, sizeof r->partial_name, "%s.partial",
	         database_id);
	snprintf(r->progress_name, sizeof r->progress_name, "%s.progress",
	         database_id);
	if (io_path_join(r->partial_path, sizeof r->partial_path, recv_dir,
	                 r->partial_name) != 0 ||
	    io_path_join(r->progress_path, sizeof r->progress_path, recv_dir,
	                 r->progress_name) != 0) {
		free(r->recv_dir);
		free(r);
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 recv_dir);
	}
	r->store = cfg->store;
	r->fsync_interval = cfg->fsync_interval != 0
	                        ? cfg->fsync_interval
	                        : SNAPSHOT_FSYNC_INTERVAL_DEFAULT;
	r->progress_interval = cfg->progress_interval != 0
	                           ? cfg->progress_interval
	                           : SNAPSHOT_PROGRESS_INTERVAL_DEFAULT;
	r->on_event = cfg->on_event;
	r->arg = cfg->arg;
	*out = r;
	return 0;
}

void *snapshot_receiver_stream(const struct snapshot_receiver *r)
{
	return r->stream;
}

void snapshot_receiver_stream_set(struct snapshot_receiver *r, void *state,
                                  void (*release)(void *state))
{
	if (r->stream != NULL && r->stream_release != NULL)
		r->stream_release(r->stream);
	r->stream = state;
	r->stream_release = release;
}

int snapshot_receiver_refused(const struct snapshot_receiver *r, char *errmsg)
{
	return r->failed != 0 ? refuse(r, errmsg) : 0;
}

void snapshot_receiver_close(struct snapshot_receiver *r)
{
	if (r == NULL)
		return;
	if (r->fd >= 0)
		close(r->fd);
	if (r->pfd >= 0)
		close(r->pfd);
	snapshot_receiver_stream_set(r, NULL, NULL);
	free(r->recv_dir);
	free(r);
}

uint64_t snapshot_receiver_offset(const struct snapshot_receiver *r)
{
	return r->offset;
}

uint64_t snapshot_receiver_durable_offset(const struct snapshot_receiver *r)
{
	return r->durable;
}

static void emit(struct snapshot_receiver *r, enum snapshot_recv_event_type t,
                 uint64_t now, const struct snapshot_meta *meta)
{
	struct snapshot_recv_event ev;

	if (r->on_event == NULL)
		return;
	memset(&ev, 0, sizeof ev);
	ev.type = t;
	ev.bytes_done = r->reported;
	ev.bytes_total = r->id.size;
	ev.now = now;
	ev.meta = meta;
	r->on_event(r->arg, &ev);
}

static void reset_state(struct snapshot_receiver *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (r->pfd >= 0)
		close(r->pfd);
	r->pfd = -1;
	r->active = false;
	r->offset = 0;
	r->crc = 0;
	r->durable = 0;
	r->durable_crc = 0;
}

/* Removes the .partial and the progress record, durably. */
static int remove_files(struct snapshot_receiver *r, char *errmsg)
{
	bool any = false;
	int rc;

	reset_state(r);
	if (unlink(r->partial_path) == 0)
		any = true;
	else if (errno != ENOENT)
		return ma_errorf(errmsg, MA_ERR_IO, "%s: cannot remove: %s",
		                 r->partial_path, strerror(errno));
	if (unlink(r->progress_path) == 0)
		any = true;
	else if (errno != ENOENT)
		return ma_errorf(errmsg, MA_ERR_IO, "%s: cannot remove: %s",
		                 r->progress_path, strerror(errno));
	if (!any)
		return 0;
	rc = io_fsync_dir(r->recv_dir, errmsg);
	if (rc != 0)
		return rc;
	return 0;
}

/* Reads both progress slots; returns 1 with the newest valid record in
 * *best, else 0. *max_seq gets the highest valid sequence (0 if none). */
static int read_slots(const char *path, struct snapshot_progress *best,
                      uint64_t *max_seq)
{
	uint8_t rec[SNAPSHOT_PROGRESS_SIZE];
	char why[MA_ERRMSG_SIZE];
	int fd, found = 0;

	*max_seq = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	for (int slot = 0; slot < 2; slot++) {
		struct snapshot_progress p;
		ssize_t n =
		    io_pread_full(fd, rec, sizeof rec,
		                  (off_t)slot * SNAPSHOT_PROGRESS_SLOT, NULL);

		if (n != (ssize_t)sizeof rec ||
		    snapshot_progress_decode(rec, sizeof rec, &p, why) != 0) {
			if (n > 0)
				log_debug("snapshot receiver: %s slot %d: %s",
				          path, slot,
				          n == (ssize_t)sizeof rec ? why
				                                   : "short");
			continue;
		}
		if (!found || p.seq > best->seq)
			*best = p;
		if (p.seq > *max_seq)
			*max_seq = p.seq;
		found = 1;
	}
	close(fd);
	return found;
}

static int write_progress(struct snapshot_receiver *r, char *errmsg)
{
	struct snapshot_progress p;
	uint8_t rec[SNAPSHOT_PROGRESS_SIZE];
	char ioerr[MA_ERRMSG_SIZE];
	bool created = false;
	int rc;

	if (r->pfd < 0) {
		uint64_t max_seq;

		/* Continue above whatever sequence the file already has. */
		if (read_slots(r->progress_path, &p, &max_seq) &&
		    max_seq > r->seq)
			r->seq = max_seq;
		created = access(r->progress_path, F_OK) != 0;
		r->pfd =
		    open(r->progress_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (r->pfd < 0)
			return fail(r, ma_error_from_errno(errno), errmsg,
			            "%s: cannot open: %s", r->progress_path,
			            strerror(errno));
	}
	memset(&p, 0, sizeof p);
	p.id = r->id;
	p.durable_offset = r->durable;
	p.running_crc32c = r->durable_crc;
	p.seq = r->seq + 1;
	snapshot_progress_encode(&p, rec);
	rc = io_pwrite_all(r->pfd, rec, sizeof rec,
	                   (off_t)(p.seq % 2) * SNAPSHOT_PROGRESS_SLOT, ioerr);
	if (rc == 0)
		rc = io_fdatasync(r->pfd, ioerr);
	if (rc == 0 && created)
		rc = io_fsync_dir(r->recv_dir, ioerr);
	if (rc != 0)
		return fail(
		    r, rc, errmsg,
		    "%s: cannot record progress at offset %" PRIu64 ": %s%s",
		    r->progress_path, r->durable, ioerr,
		    rc == MA_ERR_NOSPACE ? "; free space, then restart the "
		                           "receive: it resumes from the last "
		                           "durable offset"
		                         : "");
	r->seq = p.seq;
	return 0;
}

static void start_reporting(struct snapshot_receiver *r)
{
	if (r->offset > r->reported)
		r->reported = r->offset;
	r->next_report =
	    (r->offset / r->progress_interval + 1) * r->progress_interval;
}

/* A fresh receive of `id`: record first (offset 0), then empty .partial. */
static int start_fresh(struct snapshot_receiver *r,
                       const struct snapshot_ident *id, char *errmsg)
{
	int rc;

	reset_state(r);
	/* A fresh receive (another snapshot, or this one again from 0)
	 * reports from 0; bytes_done is monotonic within one receive. */
	r->reported = 0;
	r->id = *id;
	rc = write_progress(r, errmsg);
	if (rc != 0)
		return rc;
	r->fd = open(r->partial_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (r->fd < 0)
		return fail(r, ma_error_from_errno(errno), errmsg,
		            "%s: cannot create: %s", r->partial_path,
		            strerror(errno));
	if (ftruncate(r->fd, 0) != 0)
		return fail(r, ma_error_from_errno(errno), errmsg,
		            "%s: cannot truncate: %s", r->partial_path,
		            strerror(errno));
	r->active = true;
	start_reporting(r);
	log_info("snapshot receiver: receiving %s %" PRIu64 "-%" PRIu64
	         " (%" PRIu64 " bytes) from offset 0",
	         r->db, id->index, id->term, id->size);
	return 0;
}

/* Tries to continue from the progress record. Returns 1 resumed, 0 not
 * resumable (caller starts fresh), or a negative error. */
static int try_resume(struct snapshot_receiver *r,
                      const struct snapshot_ident *id)
{
	struct snapshot_progress p;
	uint8_t *buf = NULL;
	uint64_t off = 0;
	uint32_t crc = 0;
	uint64_t max_seq;
	struct stat st;
	int fd;

	if (!read_slots(r->progress_path, &p, &max_seq)) {
		if (access(r->progress_path, F_OK) == 0)
			log_warn("snapshot receiver: %s: no valid progress "
			         "record; starting over",
			         r->progress_path);
		return 0;
	}
	if (max_seq > r->seq)
		r->seq = max_seq;
	if (!snapshot_ident_equal(&p.id, id)) {
		log_info("snapshot receiver: %s holds %" PRIu64 "-%" PRIu64
		         ", source offers %" PRIu64 "-%" PRIu64
		         "; starting over",
		         r->partial_path, p.id.index, p.id.term, id->index,
		         id->term);
		return 0;
	}
	fd = open(r->partial_path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < p.durable_offset)
		goto not_resumable;
	buf = malloc(VERIFY_BUF_SIZE);
	if (buf == NULL)
		goto not_resumable;
	/* The record's CRC covers what we fsynced; re-read it so that a
	 * damaged .partial can never reach the final CRC check unseen. */
	while (off < p.durable_offset) {
		size_t n = p.durable_offset - off < VERIFY_BUF_SIZE
		               ? (size_t)(p.durable_offset - off)
		               : VERIFY_BUF_SIZE;
		ssize_t got = io_pread_full(fd, buf, n, (off_t)off, NULL);
		if (got != (ssize_t)n)
			goto not_resumable;
		crc = crc32c_append(crc, buf, n);
		off += n;
	}
	free(buf);
	buf = NULL;
	if (crc != p.running_crc32c) {
		log_warn("snapshot receiver: %s: first %" PRIu64
		         " bytes have CRC32C 0x%08x, progress record says "
		         "0x%08x; starting over",
		         r->partial_path, p.durable_offset, crc,
		         p.running_crc32c);
		goto not_resumable;
	}
	if (ftruncate(fd, (off_t)p.durable_offset) != 0)
		goto not_resumable;
	reset_state(r);
	r->fd = fd;
	r->id = p.id;
	r->active = true;
	r->offset = r->durable = p.durable_offset;
	r->crc = r->durable_crc = p.running_crc32c;
	start_reporting(r);
	log_info("snapshot receiver: resuming %s %" PRIu64 "-%" PRIu64
	         " at offset %" PRIu64 " of %" PRIu64,
	         r->db, id->index, id->term, r->offset, id->size);
	return 1;

not_resumable:
	free(buf);
	close(fd);
	return 0;
}

int snapshot_receiver_begin(struct snapshot_receiver *r,
                            const struct snapshot_ident *ident,
                            uint64_t *offset, char *errmsg)
{
	struct snapshot_meta have;
	char why[MA_ERRMSG_SIZE];
	int rc;

	if (r->failed != 0)
		return refuse(r, errmsg);
	rc = snapshot_ident_check(ident, errmsg);
	if (rc != 0)
		return rc;
	if (strcmp(ident->database_id, r->db) != 0)
		return ma_errorf(errmsg, MA_ERR_IDENTITY,
		                 "snapshot is for database '%s', this receiver "
		                 "is for '%s'",
		                 ident->database_id, r->db);
	snapshot_receiver_stream_set(r, NULL, NULL); /* a new request */
	r->expect = *ident;
	r->bound = true;
	if (snapshot_store_get(r->store, ident->index, ident->term, &have,
	                       why) == 0 &&
	    snapshot_ident_equal(&have.id, ident)) {
		/* Committed before a crash removed the leftovers. */
		rc = remove_files(r, errmsg);
		if (rc != 0)
			return rc;
		*offset = ident->size;
		return 1;
	}
	rc = try_resume(r, ident);
	if (rc == 0)
		rc = start_fresh(r, ident, errmsg);
	else if (rc == 1)
		rc = 0;
	if (rc != 0)
		return rc;
	*offset = r->offset;
	return 0;
}

static int sync_point(struct snapshot_receiver *r, char *errmsg)
{
	char ioerr[MA_ERRMSG_SIZE];
	int rc = io_fdatasync(r->fd, ioerr);

	if (rc != 0)
		return fail(
		    r, rc, errmsg, "%s: fsync at offset %" PRIu64 ": %s%s",
		    r->partial_path, r->offset, ioerr,
		    rc == MA_ERR_NOSPACE ? "; free space, then restart the "
		                           "receive"
		                         : "");
	r->durable = r->offset;
	r->durable_crc = r->crc;
	return write_progress(r, errmsg);
}

static int complete(struct snapshot_receiver *r, uint64_t now, char *errmsg)
{
	struct snapshot_meta meta;
	char why[MA_ERRMSG_SIZE];
	int rc;

	if (r->crc != r->id.crc32c) {
		uint32_t got = r->crc;
		rc = remove_files(r, why);
		return ma_errorf(errmsg, MA_ERR_CRC,
		                 "snapshot %s %" PRIu64 "-%" PRIu64
		                 ": CRC32C of the received bytes is 0x%08x but "
		                 "the source declared total_crc32c 0x%08x; "
		                 "%s; receive it again from offset 0",
		                 r->db, r->id.index, r->id.term, got,
		                 r->id.crc32c,
		                 rc == 0 ? "the .partial was removed" : why);
	}
	rc = io_fsync(r->fd, why);
	if (rc != 0)
		return fail(r, rc, errmsg, "%s: final fsync: %s",
		            r->partial_path, why);
	close(r->fd);
	r->fd = -1;
	memset(&meta, 0, sizeof meta);
	meta.id = r->id;
	meta.created_ms = now;
	rc = snapshot_store_commit(r->store, r->recv_dir, r->partial_name,
	                           &meta, why);
	if (rc != 0)
		return fail(r, rc, errmsg, "%s: cannot commit: %s",
		            r->partial_path, why);
	/* The snapshot is in; a stale record is harmless (begin() finds
	 * the snapshot in the store), so this failure is only logged. */
	close(r->pfd);
	r->pfd = -1;
	if (unlink(r->progress_path) != 0 && errno != ENOENT)
		log_warn("snapshot receiver: %s: cannot remove: %s",
		         r->progress_path, strerror(errno));
	r->active = false;
	r->reported = r->id.size > r->reported ? r->id.size : r->reported;
	log_info("snapshot receiver: %s %" PRIu64 "-%" PRIu64
	         " complete (%" PRIu64 " bytes, CRC32C 0x%08x)",
	         r->db, r->id.index, r->id.term, r->id.size, r->id.crc32c);
	emit(r, SNAPSHOT_RECV_COMPLETE, now, &meta);
	return 1;
}

int snapshot_receiver_feed(struct snapshot_receiver *r,
                           const struct snapshot_chunk *env, uint64_t now,
                           char *errmsg)
{
	const struct snapshot_ident *id = &env->id;
	char ioerr[MA_ERRMSG_SIZE];
	uint32_t crc;
	int rc;

	if (r->failed != 0)
		return refuse(r, errmsg);
	if (strcmp(id->database_id, r->db) != 0)
		return ma_errorf(errmsg, MA_ERR_IDENTITY,
		                 "envelope is for database '%.64s', this "
		                 "receiver is for '%s'",
		                 id->database_id, r->db);
	if (r->bound && !snapshot_ident_equal(&r->expect, id))
		return ma_errorf(
		    errmsg, MA_ERR_IDENTITY,
		    "envelope at offset %" PRIu64 " is for snapshot %" PRIu64
		    "-%" PRIu64 " (cluster %.36s, size %" PRIu64
		    ", CRC32C 0x%08x) but %" PRIu64 "-%" PRIu64
		    " (cluster %s, size %" PRIu64
		    ", CRC32C 0x%08x) was asked for; refusing it",
		    env->offset, id->index, id->term, id->cluster_id, id->size,
		    id->crc32c, r->expect.index, r->expect.term,
		    r->expect.cluster_id, r->expect.size, r->expect.crc32c);
	if (env->offset > id->size || env->data_len > id->size - env->offset ||
	    (env->data_len > 0 && env->data == NULL))
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "envelope at offset %" PRIu64
		                 " with %zu bytes "
		                 "is beyond total_size %" PRIu64,
		                 env->offset, env->data_len, id->size);
	if (env->offset == 0) {
		if (!r->active || r->offset != 0 ||
		    !snapshot_ident_equal(&r->id, id)) {
			rc = snapshot_ident_check(id, errmsg);
			if (rc == 0)
				rc = start_fresh(r, id, errmsg);
			if (rc != 0)
				return rc;
		}
	} else if (!r->active) {
		return ma_errorf(errmsg, MA_ERR_OFFSET,
		                 "offset regression/gap: expected offset 0 (no "
		                 "receive in progress), got %" PRIu64,
		                 env->offset);
	} else if (!snapshot_ident_equal(&r->id, id)) {
		return ma_errorf(errmsg, MA_ERR_IDENTITY,
		                 "envelope is for snapshot %" PRIu64 "-%" PRIu64
		                 " (size %" PRIu64
		                 ", CRC32C 0x%08x) but %" PRIu64 "-%" PRIu64
		                 " is being received",
		                 id->index, id->term, id->size, id->crc32c,
		                 r->id.index, r->id.term);
	} else if (env->offset != r->offset) {
		return ma_errorf(errmsg, MA_ERR_OFFSET,
		                 "offset regression/gap: expected offset "
		                 "%" PRIu64 ", got %" PRIu64,
		                 r->offset, env->offset);
	}
	crc = crc32c(env->data, env->data_len);
	if (crc != env->crc32c)
		return ma_errorf(errmsg, MA_ERR_CRC,
		                 "chunk at offset %" PRIu64 " (%zu bytes): "
		                 "CRC32C is 0x%08x, envelope says 0x%08x; "
		                 "chunk dropped, request again from offset "
		                 "%" PRIu64,
		                 env->offset, env->data_len, crc, env->crc32c,
		                 r->offset);
	if (env->data_len > 0) {
		rc = io_pwrite_all(r->fd, env->data, env->data_len,
		                   (off_t)r->offset, ioerr);
		if (rc != 0)
			return fail(r, rc, errmsg,
			            "%s: write at offset %" PRIu64 ": %s%s",
			            r->partial_path, r->offset, ioerr,
			            rc == MA_ERR_NOSPACE
			                ? "; free space, then restart the "
			                  "receive: it resumes from the "
			                  "last durable offset"
			                : "");
		r->crc = crc32c_append(r->crc, env->data, env->data_len);
		r->offset += env->data_len;
		if (r->offset - r->durable >= r->fsync_interval) {
			rc = sync_point(r, errmsg);
			if (rc != 0)
				return rc;
		}
		if (r->offset >= r->next_report && r->offset > r->reported &&
		    !env->done) {
			r->reported = r->offset;
			start_reporting(r);
			emit(r, SNAPSHOT_RECV_PROGRESS, now, NULL);
		}
	}
	if (!env->done)
		return 0;
	if (r->offset != id->size)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "done at offset %" PRIu64
		                 " but total_size is %" PRIu64,
		                 r->offset, id->size);
	return complete(r, now, errmsg);
}

int snapshot_receiver_abort(struct snapshot_receiver *r, char *errmsg)
{
	snapshot_receiver_stream_set(r, NULL, NULL);
	r->bound = false;
	return remove_files(r, errmsg);
}
