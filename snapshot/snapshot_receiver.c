/* snapshot receiver: chunks to <data_dir>/recv/<db>.partial, then into
 * the store as a .snapshot. Logic core: no sockets, no clock (`now` comes
 * from the caller); file writes go through common/io.h.
 *
 * Durability order, which makes resume safe: the .partial is fsynced
 * first, and only then is a mark -- the new durable offset and the
 * running CRC32C at it -- appended to <db>.marks and fdatasynced. So a
 * mark never claims bytes that are not on disk. <db>.marks begins with a
 * header naming the snapshot (a progress record with offset 0); a fresh
 * receive writes it durably before touching the .partial, so marks never
 * describe bytes of another snapshot. The resume point is the last mark
 * of the valid prefix of the file (records checked one by one: magic,
 * identity tag, CRC32C, offsets rising): a torn or garbled record and
 * everything after it are ignored, which costs the bytes since the mark
 * before it, never a wrong resume. The marks file is fdatasynced at every
 * marks_sync_every-th mark (default 4), not at each: a mark is true
 * whether or not it reached the disk, so one lost in a power cut only
 * moves the resume point back (to at most that many fsync intervals; a
 * process crash loses none, they are in the page cache). So a sync point
 * costs one fdatasync, the .partial's, plus a quarter of the marks
 * file's; the layout before 2026-11-29 paid three (.partial, marks and a
 * two-slot <db>.progress record). A .progress left by it is converted
 * once (try_resume_old_layout).
 *
 * Resume without a long synchronous re-read (issue 8 item 4): the
 * running CRC at mark k-1 plus the bytes of region k must give the
 * running CRC at mark k, so each region of the .partial can be checked
 * on its own. A resume trusts the prefix at once (begin() reads no data)
 * and re-reads it in bounded slices (snapshot_receiver_verify, driven by
 * the caller between events), the last region first; the snapshot is
 * committed only once every region checked out. A region whose bytes
 * lost their CRC rewinds the resume point to its start.
 *
 * What this detects: any change to the durable prefix between the fsync
 * that made it durable and the end of the verification (a flipped byte,
 * a truncation, a torn write) -- as the running CRC of the bytes on disk
 * at a mark differing from the one recorded when they arrived (CRC32C
 * catches every error burst up to 32 bits and all but 2^-32 of others).
 * The final CRC32C is the recorded CRC of the verified prefix extended
 * with the bytes that arrived since, compared with the source's
 * total_crc32c; so it also catches marks that are all consistent with
 * each other and with the disk but wrong about the snapshot. Not
 * detected: a change to bytes after they were verified and before the
 * commit's fsync (as for a receive without a resume, whose bytes are
 * never read back). */
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
#include "common/endian.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "common/parse.h"

/* Largest single read of a verification slice. */
#define VERIFY_BUF_SIZE (1024 * 1024)

/* A marks record: magic, identity tag, offset, running CRC32C, CRC32C
 * of the 20 bytes before it (docs/SNAPSHOT-FORMAT.md). The marks file
 * starts with a header of MARKS_HDR bytes (a progress record). */
#define MARK_SIZE 24
#define MARK_MAGIC 0x4b524d53u /* "SMRK" */
#define MARKS_HDR SNAPSHOT_PROGRESS_SIZE
#define MARK_AT(i) ((off_t)MARKS_HDR + (off_t)(i)*MARK_SIZE)

struct mark {
	uint64_t off;
	uint32_t crc; /* CRC32C of [0, off) */
};

struct snapshot_receiver {
	char *recv_dir;
	char db[SNAPSHOT_ID_MAX + 1];
	char partial_name[SNAPSHOT_ID_MAX + 16];
	char marks_name[SNAPSHOT_ID_MAX + 16];
	char partial_path[PATH_MAX];
	char progress_path[PATH_MAX];
	char marks_path[PATH_MAX];
	struct snapshot_store *store;
	uint64_t fsync_interval;
	uint64_t progress_interval;
	uint32_t marks_sync_every;
	void (*on_event)(void *arg, const struct snapshot_recv_event *ev);
	void *arg;
	void *stream; /* front end's per-stream state (proto's framer) */
	void (*stream_release)(void *stream);

	int fd;      /* the .partial, -1 when closed */
	bool active; /* id is the snapshot being received */
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

	int mfd;            /* the marks file, -1 when closed */
	uint32_t unsynced;  /* marks appended since its last fdatasync */
	uint32_t tag;       /* identity tag of id in marks records */
	struct mark *marks; /* marks[i]: running CRC at a durable offset */
	size_t nmarks, cap_marks;
	/* Verification of a resumed prefix: regions 0..vregions-1 (region
	 * i is [marks[i-1].off, marks[i].off)) were trusted from disk.
	 * Step vstep 0 checks region vregions-1 (the newest), step j >= 1
	 * region j-1; done when vstep == vregions. */
	size_t vregions, vstep;
	bool vin;          /* a region is being read: vcur, vcrc */
	uint64_t vcur;     /* next offset to read in it */
	uint32_t vcrc;     /* running CRC32C at vcur */
	uint8_t *vbuf;     /* VERIFY_BUF_SIZE, while verifying */
	bool done_pending; /* done arrived: commit once verified */

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
	r->mfd = -1;
	r->recv_dir = strdup(recv_dir);
	if (r->recv_dir == NULL) {
		free(r);
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	}
	snprintf(r->db, sizeof r->db, "%s", database_id);
	snprintf(r->partial_name, sizeof r->partial_name, "%s.partial",
	         database_id);
	snprintf(r->marks_name, sizeof r->marks_name, "%s.marks", database_id);
	if (io_path_join(r->partial_path, sizeof r->partial_path, recv_dir,
	                 r->partial_name) != 0 ||
	    (size_t)snprintf(r->progress_path, sizeof r->progress_path,
	                     "%s/%s.progress", recv_dir,
	                     database_id) >= sizeof r->progress_path ||
	    io_path_join(r->marks_path, sizeof r->marks_path, recv_dir,
	                 r->marks_name) != 0) {
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
	r->marks_sync_every = cfg->marks_sync_every != 0
	                          ? cfg->marks_sync_every
	                          : SNAPSHOT_MARKS_SYNC_EVERY_DEFAULT;
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
	char why[MA_ERRMSG_SIZE];

	if (r == NULL)
		return;
	if (r->fd >= 0)
		close(r->fd);
	/* A clean stop keeps the resume point at the last mark even
	 * through a later power cut. */
	if (r->mfd >= 0 && r->unsynced > 0 && r->failed == 0 &&
	    io_fdatasync(r->mfd, why) != 0)
		log_warn("snapshot receiver: %s: %s", r->marks_path, why);
	if (r->mfd >= 0)
		close(r->mfd);
	snapshot_receiver_stream_set(r, NULL, NULL);
	free(r->marks);
	free(r->vbuf);
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
	if (r->mfd >= 0)
		close(r->mfd);
	r->mfd = -1;
	r->unsynced = 0;
	r->active = false;
	r->offset = 0;
	r->crc = 0;
	r->durable = 0;
	r->durable_crc = 0;
	r->nmarks = 0;
	r->vregions = r->vstep = 0;
	r->vin = false;
	free(r->vbuf);
	r->vbuf = NULL;
	r->done_pending = false;
}

/* Removes the .partial and its marks (and a .progress of the old
 * layout), durably. */
static int remove_files(struct snapshot_receiver *r, char *errmsg)
{
	char tmp[PATH_MAX + 8];
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
	if (unlink(r->marks_path) == 0)
		any = true;
	else if (errno != ENOENT)
		return ma_errorf(errmsg, MA_ERR_IO, "%s: cannot remove: %s",
		                 r->marks_path, strerror(errno));
	/* A conversion of the previous layout cut short by a crash. */
	if (strlen(r->marks_path) + 4 < sizeof tmp) {
		snprintf(tmp, sizeof tmp, "%s.tmp", r->marks_path);
		if (unlink(tmp) == 0)
			any = true;
	}
	if (!any)
		return 0;
	rc = io_fsync_dir(r->recv_dir, errmsg);
	if (rc != 0)
		return rc;
	return 0;
}

/* Ties marks records to one snapshot: a CRC32C of its identity. */
static uint32_t ident_tag(const struct snapshot_ident *id)
{
	uint8_t b[28];
	uint32_t t;

	t = crc32c(id->cluster_id, strlen(id->cluster_id) + 1);
	t = crc32c_append(t, id->database_id, strlen(id->database_id) + 1);
	le_put64(b, id->index);
	le_put64(b + 8, id->term);
	le_put64(b + 16, id->size);
	le_put32(b + 24, id->crc32c);
	return crc32c_append(t, b, sizeof b);
}

static void mark_encode(uint32_t tag, const struct mark *m,
                        uint8_t out[MARK_SIZE])
{
	le_put32(out, MARK_MAGIC);
	le_put32(out + 4, tag);
	le_put64(out + 8, m->off);
	le_put32(out + 16, m->crc);
	le_put32(out + 20, crc32c(out, 20));
}

/* Decodes one marks record of snapshot `tag`. 0 or -1. */
static int mark_decode(uint32_t tag, const uint8_t in[MARK_SIZE],
                       struct mark *m)
{
	if (le_get32(in) != MARK_MAGIC || le_get32(in + 4) != tag ||
	    le_get32(in + 20) != crc32c(in, 20))
		return -1;
	m->off = le_get64(in + 8);
	m->crc = le_get32(in + 16);
	return 0;
}

/* The marks file's header: which snapshot its marks belong to. */
static void header_encode(const struct snapshot_ident *id,
                          uint8_t out[MARKS_HDR])
{
	struct snapshot_progress h;

	memset(&h, 0, sizeof h);
	h.id = *id;
	snapshot_progress_encode(&h, out);
}

static int marks_push(struct snapshot_receiver *r, uint64_t off, uint32_t crc)
{
	if (r->nmarks == r->cap_marks) {
		size_t cap = r->cap_marks ? r->cap_marks * 2 : 64;
		struct mark *m = realloc(r->marks, cap * sizeof *m);

		if (m == NULL)
			return MA_ERR_NOMEM;
		r->marks = m;
		r->cap_marks = cap;
	}
	r->marks[r->nmarks].off = off;
	r->marks[r->nmarks].crc = crc;
	r->nmarks++;
	return 0;
}

/* Opens the marks file (emptied when trunc), fsyncing the directory when
 * it was created. 0 or a negative code (not fail-stop: callers decide). */
static int marks_open(struct snapshot_receiver *r, bool trunc, char *errmsg)
{
	bool created = access(r->marks_path, F_OK) != 0;

	if (r->mfd >= 0)
		close(r->mfd);
	r->mfd =
	    open(r->marks_path,
	         O_RDWR | O_CREAT | O_CLOEXEC | (trunc ? O_TRUNC : 0), 0644);
	if (r->mfd < 0)
		return ma_errorf(errmsg, ma_error_from_errno(errno),
		                 "%s: cannot open: %s", r->marks_path,
		                 strerror(errno));
	return created ? io_fsync_dir(r->recv_dir, errmsg) : 0;
}

/* Records the running CRC at r->offset (after the .partial's fsync: the
 * mark never claims bytes that are not durable), fdatasyncing the marks
 * file at every marks_sync_every-th mark. 0 or fail-stop. */
static int mark_append(struct snapshot_receiver *r, char *errmsg)
{
	uint8_t rec[MARK_SIZE];
	char ioerr[MA_ERRMSG_SIZE];
	int rc;

	if (marks_push(r, r->offset, r->crc) != 0)
		return fail(r, MA_ERR_NOMEM, errmsg,
		            "out of memory recording a mark of %s", r->db);
	mark_encode(r->tag, &r->marks[r->nmarks - 1], rec);
	rc = io_pwrite_all(r->mfd, rec, sizeof rec, MARK_AT(r->nmarks - 1),
	                   ioerr);
	if (rc == 0 && ++r->unsynced >= r->marks_sync_every) {
		rc = io_fdatasync(r->mfd, ioerr);
		r->unsynced = 0;
	}
	if (rc != 0)
		return fail(r, rc, errmsg,
		            "%s: cannot record the mark at offset %" PRIu64
		            ": %s%s",
		            r->marks_path, r->offset, ioerr,
		            rc == MA_ERR_NOSPACE
		                ? "; free space, then restart the receive: it "
		                  "resumes from the last durable offset"
		                : "");
	return 0;
}

/* Reads the valid prefix of marks records of snapshot r->tag from fd,
 * starting at byte `base`, into r->marks: it ends at the first record
 * that is torn, garbled, of another snapshot, not above the one before
 * it or beyond `limit`, or with the record whose offset is `limit`. */
static void marks_load(struct snapshot_receiver *r, int fd, off_t base,
                       uint64_t limit)
{
	uint8_t buf[MARK_SIZE * 256];
	uint64_t prev = 0;
	off_t pos = base;
	bool end = false;

	r->nmarks = 0;
	while (!end) {
		ssize_t got = io_pread_full(fd, buf, sizeof buf, pos, NULL);
		if (got < MARK_SIZE)
			break;
		for (ssize_t i = 0; i + MARK_SIZE <= got; i += MARK_SIZE) {
			struct mark m;

			if (mark_decode(r->tag, buf + i, &m) != 0 ||
			    m.off <= prev || m.off > limit ||
			    marks_push(r, m.off, m.crc) != 0) {
				end = true;
				break;
			}
			prev = m.off;
			if (m.off == limit) {
				end = true;
				break;
			}
		}
		pos += got;
		if (got < (ssize_t)sizeof buf)
			break;
	}
}

static void start_reporting(struct snapshot_receiver *r)
{
	if (r->offset > r->reported)
		r->reported = r->offset;
	r->next_report =
	    (r->offset / r->progress_interval + 1) * r->progress_interval;
}

/* A fresh receive of `id`: the marks file's header first (durably), then
 * an empty .partial. */
static int start_fresh(struct snapshot_receiver *r,
                       const struct snapshot_ident *id, char *errmsg)
{
	uint8_t hdr[MARKS_HDR];
	char why[MA_ERRMSG_SIZE];
	int rc;

	reset_state(r);
	/* A fresh receive (another snapshot, or this one again from 0)
	 * reports from 0; bytes_done is monotonic within one receive. */
	r->reported = 0;
	r->id = *id;
	r->tag = ident_tag(id);
	rc = marks_open(r, true, why);
	if (rc == 0) {
		header_encode(id, hdr);
		rc = io_pwrite_all(r->mfd, hdr, sizeof hdr, 0, why);
	}
	if (rc == 0)
		rc = io_fdatasync(r->mfd, why);
	if (rc != 0)
		return fail(r, rc, errmsg, "%s: cannot start a receive: %s%s",
		            r->marks_path, why,
		            rc == MA_ERR_NOSPACE ? "; free space, then restart "
		                                   "the receive"
		                                 : "");
	/* A .progress of the old layout is stale now (the header above
	 * wins over it if this unlink is lost in a crash). */
	if (unlink(r->progress_path) != 0 && errno != ENOENT)
		log_warn("snapshot receiver: %s: cannot remove: %s",
		         r->progress_path, strerror(errno));
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

/* Reads both slots of a .progress file of the old layout; returns 1 with
 * the newest valid record in *best, else 0. */
static int read_slots(const char *path, struct snapshot_progress *best)
{
	uint8_t rec[SNAPSHOT_PROGRESS_SIZE];
	char why[MA_ERRMSG_SIZE];
	int fd, found = 0;

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
		found = 1;
	}
	close(fd);
	return found;
}

/* The layout before 2026-11-29: a two-slot <db>.progress record (the
 * resume point) beside a <db>.marks of bare records. Converts it into
 * the current layout (a header and the marks up to the record's durable
 * offset, written to a temp file, fsynced and renamed over <db>.marks),
 * then removes the .progress. A crash in between leaves either layout
 * whole: the old one (converted again) or the new one (whose header wins
 * over a .progress still there). Marks that are missing, torn or
 * disagree with the record leave one mark, the record's own. Returns 1
 * converted, 0 nothing (or nothing usable) to convert. */
static int try_resume_old_layout(struct snapshot_receiver *r,
                                 const struct snapshot_ident *id)
{
	struct snapshot_progress p;
	char why[MA_ERRMSG_SIZE];
	uint8_t *buf;
	size_t len;
	int fd, rc;

	if (!read_slots(r->progress_path, &p)) {
		if (access(r->progress_path, F_OK) == 0)
			log_warn("snapshot receiver: %s (previous layout): no "
			         "valid progress record; starting over",
			         r->progress_path);
		return 0;
	}
	if (!snapshot_ident_equal(&p.id, id)) {
		log_info("snapshot receiver: %s (previous layout) holds "
		         "%" PRIu64 "-%" PRIu64 ", source offers %" PRIu64
		         "-%" PRIu64 "; starting over",
		         r->progress_path, p.id.index, p.id.term, id->index,
		         id->term);
		return 0;
	}
	if (p.durable_offset == 0)
		return 0;
	r->tag = ident_tag(id);
	r->nmarks = 0;
	fd = open(r->marks_path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		marks_load(r, fd, 0, p.durable_offset);
		close(fd);
	}
	if (r->nmarks == 0 || r->marks[r->nmarks - 1].off != p.durable_offset ||
	    r->marks[r->nmarks - 1].crc != p.running_crc32c) {
		log_warn("snapshot receiver: %s (previous layout) is missing, "
		         "torn or disagrees with %s; the %" PRIu64
		         " bytes before the resume point are verified as one "
		         "region",
		         r->marks_path, r->progress_path, p.durable_offset);
		r->nmarks = 0;
		if (marks_push(r, p.durable_offset, p.running_crc32c) != 0)
			return 0;
	}
	len = (size_t)MARK_AT(r->nmarks);
	buf = malloc(len);
	if (buf == NULL)
		return 0;
	header_encode(id, buf);
	for (size_t i = 0; i < r->nmarks; i++)
		mark_encode(r->tag, &r->marks[i], buf + MARK_AT(i));
	rc = io_write_file_durable(r->recv_dir, r->marks_name, buf, len, why);
	free(buf);
	if (rc != 0) {
		log_warn("snapshot receiver: converting %s (previous layout): "
		         "%s; starting over",
		         r->progress_path, why);
		return 0;
	}
	if (unlink(r->progress_path) != 0 && errno != ENOENT)
		log_warn("snapshot receiver: %s: cannot remove: %s",
		         r->progress_path, strerror(errno));
	else if (io_fsync_dir(r->recv_dir, why) != 0)
		log_warn("snapshot receiver: %s", why);
	log_info("snapshot receiver: converted %s and %s of the previous "
	         "layout (resume point %" PRIu64 ", %zu marks) into %s",
	         r->progress_path, r->marks_path, p.durable_offset, r->nmarks,
	         r->marks_path);
	return 1;
}

/* Reads the marks file's header: 1 with it in *h, 0 when there is no
 * marks file, -1 when its header is not valid. */
static int read_header(const struct snapshot_receiver *r,
                       struct snapshot_progress *h)
{
	uint8_t hdr[MARKS_HDR];
	char why[MA_ERRMSG_SIZE];
	ssize_t n;
	int fd;

	fd = open(r->marks_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = io_pread_full(fd, hdr, sizeof hdr, 0, NULL);
	close(fd);
	if (n != (ssize_t)sizeof hdr ||
	    snapshot_progress_decode(hdr, sizeof hdr, h, why) != 0)
		return -1;
	return 1;
}

/* Tries to continue from the marks file. Reads no data of the .partial:
 * its durable prefix is trusted now and verified later in slices
 * (snapshot_receiver_verify). Returns 1 resumed, 0 not resumable (caller
 * starts fresh). */
static int try_resume(struct snapshot_receiver *r,
                      const struct snapshot_ident *id)
{
	struct snapshot_progress h;
	char why[MA_ERRMSG_SIZE];
	struct stat st;
	uint64_t have;
	size_t loaded;
	int fd, rc;

	rc = read_header(r, &h);
	if (rc <= 0 && access(r->progress_path, F_OK) == 0) {
		rc = try_resume_old_layout(r, id);
		if (rc == 0)
			return 0;
		rc = read_header(r, &h);
	}
	if (rc <= 0) {
		if (rc < 0)
			log_warn("snapshot receiver: %s: no valid header; "
			         "starting over",
			         r->marks_path);
		return 0;
	}
	if (!snapshot_ident_equal(&h.id, id)) {
		log_info("snapshot receiver: %s holds %" PRIu64 "-%" PRIu64
		         ", source offers %" PRIu64 "-%" PRIu64
		         "; starting over",
		         r->partial_path, h.id.index, h.id.term, id->index,
		         id->term);
		return 0;
	}
	/* A .progress still there is older than the header: a conversion
	 * that crashed before removing it. */
	if (unlink(r->progress_path) == 0)
		log_info("snapshot receiver: removed %s (previous layout; %s "
		         "is newer)",
		         r->progress_path, r->marks_path);
	fd = open(r->partial_path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 0;
	reset_state(r);
	r->tag = ident_tag(id);
	if (fstat(fd, &st) != 0 || marks_open(r, false, why) != 0)
		goto not_resumable;
	marks_load(r, r->mfd, MARKS_HDR, id->size);
	loaded = r->nmarks;
	/* Only the marks the file still reaches (the verification would
	 * find the others short anyway). */
	while (r->nmarks > 0 &&
	       r->marks[r->nmarks - 1].off > (uint64_t)st.st_size)
		r->nmarks--;
	if (r->nmarks < loaded)
		log_warn("snapshot receiver: %s is %" PRIu64
		         " bytes, shorter than its mark at %" PRIu64
		         "; resuming from the mark before it",
		         r->partial_path, (uint64_t)st.st_size,
		         r->marks[loaded - 1].off);
	if (r->nmarks == 0) {
		log_info("snapshot receiver: %s: no durable mark of %" PRIu64
		         "-%" PRIu64 "; starting over",
		         r->marks_path, id->index, id->term);
		goto not_resumable;
	}
	/* Drop what follows the valid marks (a torn record): the next
	 * mark goes right after them. */
	have = r->marks[r->nmarks - 1].off;
	if (ftruncate(r->mfd, MARK_AT(r->nmarks)) != 0 ||
	    ftruncate(fd, (off_t)have) != 0) {
		log_warn("snapshot receiver: %s: cannot truncate: %s; starting "
		         "over",
		         r->partial_path, strerror(errno));
		goto not_resumable;
	}
	r->fd = fd;
	r->id = *id;
	r->active = true;
	r->offset = r->durable = have;
	r->crc = r->durable_crc = r->marks[r->nmarks - 1].crc;
	r->vregions = r->nmarks;
	r->vstep = 0;
	r->vin = false;
	start_reporting(r);
	log_info("snapshot receiver: resuming %s %" PRIu64 "-%" PRIu64
	         " at offset %" PRIu64 " of %" PRIu64
	         "; the bytes before it are verified in the background "
	         "(%zu regions)",
	         r->db, id->index, id->term, r->offset, id->size, r->nmarks);
	return 1;

not_resumable:
	reset_state(r);
	close(fd);
	return 0;
}

/* A receiver already holding this snapshot in this process (a reconnect)
 * resumes from its durable offset without reading anything: what was
 * verified stays verified. Returns 1, or 0 to go through the disk. */
static int resume_in_memory(struct snapshot_receiver *r,
                            const struct snapshot_ident *id)
{
	if (!r->active || r->fd < 0 || !snapshot_ident_equal(&r->id, id))
		return 0;
	if (ftruncate(r->fd, (off_t)r->durable) != 0)
		return 0;
	r->offset = r->durable;
	r->crc = r->durable_crc;
	r->done_pending = false;
	start_reporting(r);
	log_info("snapshot receiver: resuming %s %" PRIu64 "-%" PRIu64
	         " at offset %" PRIu64 " of %" PRIu64 "%s",
	         r->db, id->index, id->term, r->offset, id->size,
	         r->vstep < r->vregions ? "; its prefix is still being "
	                                  "verified"
	                                : "");
	return 1;
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
	rc = resume_in_memory(r, ident);
	if (rc == 0)
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
	rc = mark_append(r, errmsg);
	if (rc != 0)
		return rc;
	r->durable = r->offset;
	r->durable_crc = r->crc;
	return 0;
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
	if (r->vstep < r->vregions) {
		/* Every byte is here and the CRC chain matches, but part of
		 * the trusted prefix is not re-read yet: make the tail
		 * durable (a reconnect resumes at the end) and commit from
		 * snapshot_receiver_verify. */
		if (r->durable < r->offset) {
			rc = sync_point(r, errmsg);
			if (rc != 0)
				return rc;
		}
		if (!r->done_pending)
			log_info("snapshot receiver: %s %" PRIu64 "-%" PRIu64
			         " received whole; committing once its "
			         "resumed prefix is verified",
			         r->db, r->id.index, r->id.term);
		r->done_pending = true;
		return 2;
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
	/* The snapshot is in; stale marks are harmless (begin() finds the
	 * snapshot in the store), so this failure is only logged. */
	close(r->mfd);
	r->mfd = -1;
	if (unlink(r->marks_path) != 0 && errno != ENOENT)
		log_warn("snapshot receiver: %s: cannot remove: %s",
		         r->marks_path, strerror(errno));
	r->active = false;
	r->done_pending = false;
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
	/* Compressed chunks are decompressed before they get here
	 * (snapshot_codec_receive); one that was not would fail its CRC
	 * check with a misleading message. 0 is raw (snapshot.h). */
	if (env->encoding != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "chunk at offset %" PRIu64 " is still "
		                 "encoded (encoding %u): decompress it "
		                 "before the receiver",
		                 env->offset, (unsigned)env->encoding);
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
		/* The chunk's CRC was computed above: extend the running
		 * CRC arithmetically instead of a second pass. */
		r->crc = crc32c_combine(r->crc, crc, env->data_len);
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

bool snapshot_receiver_verifying(const struct snapshot_receiver *r)
{
	return r->failed == 0 && r->active && r->vstep < r->vregions;
}

/* Region i of the trusted prefix does not read back with its recorded
 * CRC (found, or the file ends inside it): the resume point goes back to
 * the region's start, everything after it is dropped. */
static int rewind_to(struct snapshot_receiver *r, size_t i, const char *what,
                     char *errmsg)
{
	uint64_t start = i == 0 ? 0 : r->marks[i - 1].off;
	uint64_t end = r->marks[i].off;
	char ioerr[MA_ERRMSG_SIZE];
	int rc;

	log_warn("snapshot receiver: %s: bytes %" PRIu64 "..%" PRIu64
	         " %s; resuming from offset %" PRIu64,
	         r->partial_path, start, end, what, start);
	r->nmarks = i;
	r->offset = r->durable = start;
	r->crc = r->durable_crc = i == 0 ? 0 : r->marks[i - 1].crc;
	r->done_pending = false;
	r->vin = false;
	/* vstep 0: nothing was verified yet, check the new newest region
	 * next; else regions 0..i-1 were verified. */
	r->vstep = r->vstep == 0 ? 0 : i;
	r->vregions = i;
	/* The marks first, durably (fdatasync covers the new size): they
	 * never claim more than the .partial keeps. */
	if (ftruncate(r->mfd, MARK_AT(i)) != 0)
		return fail(r, ma_error_from_errno(errno), errmsg,
		            "%s: cannot truncate after a damaged region: %s",
		            r->marks_path, strerror(errno));
	rc = io_fdatasync(r->mfd, ioerr);
	if (rc != 0)
		return fail(r, rc, errmsg, "%s: %s", r->marks_path, ioerr);
	r->unsynced = 0;
	if (ftruncate(r->fd, (off_t)start) != 0)
		return fail(r, ma_error_from_errno(errno), errmsg,
		            "%s: cannot truncate after a damaged region: %s",
		            r->partial_path, strerror(errno));
	return ma_errorf(errmsg, MA_ERR_CRC,
	                 "%s: bytes %" PRIu64 "..%" PRIu64
	                 " of the resumed .partial %s; receive again from "
	                 "offset %" PRIu64,
	                 r->partial_path, start, end, what, start);
}

int snapshot_receiver_verify(struct snapshot_receiver *r, size_t budget,
                             uint64_t now, char *errmsg)
{
	char ioerr[MA_ERRMSG_SIZE], what[96];

	if (r->failed != 0)
		return refuse(r, errmsg);
	if (!r->active)
		return 0;
	if (budget == 0)
		budget = SNAPSHOT_VERIFY_STEP_DEFAULT;
	while (r->vstep < r->vregions && budget > 0) {
		size_t i = r->vstep == 0 ? r->vregions - 1 : r->vstep - 1;
		uint64_t end = r->marks[i].off;
		size_t n;
		ssize_t got;

		if (!r->vin) {
			r->vcur = i == 0 ? 0 : r->marks[i - 1].off;
			r->vcrc = i == 0 ? 0 : r->marks[i - 1].crc;
			r->vin = true;
		}
		if (r->vbuf == NULL) {
			r->vbuf = malloc(VERIFY_BUF_SIZE);
			if (r->vbuf == NULL)
				return ma_errorf(errmsg, MA_ERR_NOMEM,
				                 "out of memory verifying %s",
				                 r->partial_path);
		}
		n = end - r->vcur < VERIFY_BUF_SIZE ? (size_t)(end - r->vcur)
		                                    : VERIFY_BUF_SIZE;
		if (n > budget)
			n = budget;
		got = io_pread_full(r->fd, r->vbuf, n, (off_t)r->vcur, ioerr);
		if (got < 0)
			return fail(r, (int)got, errmsg,
			            "%s: reading back the resumed prefix: %s",
			            r->partial_path, ioerr);
		if ((size_t)got < n)
			return rewind_to(r, i, "end early (the file shrank)",
			                 errmsg);
		r->vcrc = crc32c_append(r->vcrc, r->vbuf, n);
		r->vcur += n;
		budget -= n;
		if (r->vcur < end)
			continue;
		r->vin = false;
		if (r->vcrc != r->marks[i].crc) {
			snprintf(what, sizeof what,
			         "read back with CRC32C 0x%08x, recorded "
			         "0x%08x",
			         r->vcrc, r->marks[i].crc);
			return rewind_to(r, i, what, errmsg);
		}
		r->vstep++;
		if (r->vstep == r->vregions) {
			free(r->vbuf);
			r->vbuf = NULL;
			log_info("snapshot receiver: %s: the resumed prefix "
			         "(%" PRIu64 " bytes, %zu regions) is verified",
			         r->partial_path, r->marks[r->vregions - 1].off,
			         r->vregions);
		}
	}
	if (r->vstep == r->vregions && r->done_pending)
		return complete(r, now, errmsg);
	return 0;
}
