/* wal: readers following a log written by this or another process.
 * A reader keeps its own view (the segment list from its last refresh and
 * the offset index of the segment it is in) and never writes. */
#include "wal/wal_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wal/wal_log.h"

static size_t view_find(const struct wal_reader *r, uint64_t first);

/* ---- the index cache of sealed segments ----
 *
 * Opening a reader or seeking into another segment indexes that segment:
 * every record is read and CRC-checked to find the record boundaries
 * (the format has no index on disk). On serve's event loop that is a
 * whole-segment scan per log request (~2 ms per 16 MiB from the page
 * cache, much more from disk). A sealed segment (one with a later segment
 * in the view) no longer changes except by truncation or replacement, so
 * the boundaries found once are kept here, shared by every reader of the
 * process, and reused when the same file (device, inode, size and
 * modification time) is loaded again: a seek then costs one copy of the
 * offsets, 4 bytes per record, and no read. Records are still checked
 * when read (read_at: index and CRC), so a file changed behind the
 * cache's back reads as changed, never as other data. */
#define INDEX_CACHE_SLOTS 64
#define INDEX_CACHE_BYTES (256u << 20) /* offsets kept, all slots */

struct index_slot {
	bool used;
	dev_t dev;
	ino_t ino;
	uint64_t size;
	struct timespec mtime;
	uint64_t first_index, count, end, last_term;
	uint32_t *offsets;
	struct wal_tail tail;
	uint64_t tick; /* last use, for eviction */
};

static struct {
	pthread_mutex_t lock;
	struct index_slot slot[INDEX_CACHE_SLOTS];
	uint64_t tick, bytes, hits, misses;
} icache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void slot_drop(struct index_slot *s)
{
	icache.bytes -= s->count * sizeof *s->offsets;
	free(s->offsets);
	memset(s, 0, sizeof *s);
}

static bool same_file(const struct index_slot *s, const struct stat *st)
{
	return s->used && s->dev == st->st_dev && s->ino == st->st_ino &&
	       s->size == (uint64_t)st->st_size &&
	       s->mtime.tv_sec == st->st_mtim.tv_sec &&
	       s->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Fills r->seg and r->tail from the cache when it holds this file. */
static bool index_cache_get(struct wal_reader *r, const struct stat *st)
{
	bool hit = false;

	pthread_mutex_lock(&icache.lock);
	for (size_t i = 0; i < INDEX_CACHE_SLOTS; i++) {
		struct index_slot *s = &icache.slot[i];
		uint32_t *copy;

		if (!same_file(s, st) || s->first_index != r->seg.first_index)
			continue;
		copy = malloc(s->count > 0 ? s->count * sizeof *copy : 1);
		if (copy == NULL)
			break;
		memcpy(copy, s->offsets, s->count * sizeof *copy);
		free(r->seg.offsets);
		r->seg.offsets = copy;
		r->seg.cap = s->count;
		r->seg.count = s->count;
		r->seg.end = s->end;
		r->seg.last_term = s->last_term;
		r->tail = s->tail;
		s->tick = ++icache.tick;
		hit = true;
		break;
	}
	if (hit)
		icache.hits++;
	else
		icache.misses++;
	pthread_mutex_unlock(&icache.lock);
	return hit;
}

/* Keeps r's loaded segment's index when the segment is sealed (a later
 * one is in the view) and was read to a clean end. */
static void index_cache_put(struct wal_reader *r)
{
	struct stat st;
	size_t i, victim = 0;
	uint64_t bytes = r->seg.count * sizeof *r->seg.offsets;
	uint32_t *copy;

	if (!r->loaded || !r->tail.clean || r->seg.count == 0 ||
	    view_find(r, r->seg.first_index) + 1 >= r->nsegs ||
	    bytes > INDEX_CACHE_BYTES || fstat(r->fd, &st) != 0 ||
	    (uint64_t)st.st_size != r->seg.end)
		return;
	copy = malloc(bytes);
	if (copy == NULL)
		return;
	memcpy(copy, r->seg.offsets, bytes);
	pthread_mutex_lock(&icache.lock);
	for (i = 0; i < INDEX_CACHE_SLOTS; i++)
		if (icache.slot[i].used && icache.slot[i].dev == st.st_dev &&
		    icache.slot[i].ino == st.st_ino)
			slot_drop(&icache.slot[i]); /* an older view of it */
	/* Room: the least recently used go first. */
	for (;;) {
		bool full = true;

		for (i = 0; i < INDEX_CACHE_SLOTS; i++) {
			if (!icache.slot[i].used) {
				full = false;
				victim = i;
				break;
			}
		}
		if (!full && icache.bytes + bytes <= INDEX_CACHE_BYTES)
			break;
		victim = INDEX_CACHE_SLOTS;
		for (i = 0; i < INDEX_CACHE_SLOTS; i++)
			if (icache.slot[i].used &&
			    (victim == INDEX_CACHE_SLOTS ||
			     icache.slot[i].tick < icache.slot[victim].tick))
				victim = i;
		if (victim == INDEX_CACHE_SLOTS)
			break; /* empty and still too big: cannot happen */
		slot_drop(&icache.slot[victim]);
	}
	if (victim < INDEX_CACHE_SLOTS && !icache.slot[victim].used) {
		struct index_slot *s = &icache.slot[victim];

		s->used = true;
		s->dev = st.st_dev;
		s->ino = st.st_ino;
		s->size = (uint64_t)st.st_size;
		s->mtime = st.st_mtim;
		s->first_index = r->seg.first_index;
		s->count = r->seg.count;
		s->end = r->seg.end;
		s->last_term = r->seg.last_term;
		s->offsets = copy;
		s->tail = r->tail;
		s->tick = ++icache.tick;
		icache.bytes += bytes;
		copy = NULL;
	}
	pthread_mutex_unlock(&icache.lock);
	free(copy);
}

void wal_reader_index_cache_stats(uint64_t *hits, uint64_t *misses)
{
	pthread_mutex_lock(&icache.lock);
	*hits = icache.hits;
	*misses = icache.misses;
	pthread_mutex_unlock(&icache.lock);
}

void wal_reader_index_cache_clear(void)
{
	pthread_mutex_lock(&icache.lock);
	for (size_t i = 0; i < INDEX_CACHE_SLOTS; i++)
		if (icache.slot[i].used)
			slot_drop(&icache.slot[i]);
	icache.hits = icache.misses = 0;
	pthread_mutex_unlock(&icache.lock);
}

static void unload(struct wal_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	wal_seg_free(&r->seg);
	wal_window_reset(&r->win);
	r->loaded = false;
}

static int set_sticky(struct wal_reader *r, int code, char *errmsg,
                      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int set_sticky(struct wal_reader *r, int code, char *errmsg,
                      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->sticky_msg, sizeof r->sticky_msg, fmt, ap);
	va_end(ap);
	r->sticky = code;
	return ma_errorf(errmsg, code, "%s", r->sticky_msg);
}

static int compacted(struct wal_reader *r, uint64_t index, char *errmsg)
{
	return ma_errorf(errmsg, MA_ERR_COMPACTED,
	                 "WAL %s: index %" PRIu64
	                 " was removed by prefix truncation; first retained "
	                 "index is %" PRIu64,
	                 r->dir, index, wal_reader_first_index(r));
}

/* Position in the view of the segment starting at first, or nsegs. */
static size_t view_find(const struct wal_reader *r, uint64_t first)
{
	size_t lo = 0, hi = r->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->firsts[mid] == first)
			return mid;
		if (r->firsts[mid] < first)
			lo = mid + 1;
		else
			hi = mid;
	}
	return r->nsegs;
}

/* Scans the loaded segment from what is already known and applies the
 * tail rules for its place in the view. */
static int scan_loaded(struct wal_reader *r, char *errmsg)
{
	size_t i = view_find(r, r->seg.first_index);
	char path[4096];
	int rc;

	snprintf(path, sizeof path, "%s/%s", r->dir, r->seg.name);
	rc = wal_seg_scan(r->fd, path, &r->seg, &r->win, &r->tail, errmsg);
	if (rc != 0)
		return rc;
	return wal_seg_check_tail(path, &r->tail, i + 1 >= r->nsegs, errmsg);
}

/* Loads segment i of the view (open, check header, index it). */
static int load(struct wal_reader *r, size_t i, char *errmsg)
{
	struct wal_seg_header h;
	char name[WAL_SEG_NAME_SIZE];
	struct stat st;
	int rc;

	unload(r);
	wal_seg_name(name, r->firsts[i]);
	rc = wal_seg_open(r->dir, name, O_RDONLY, r->check_id ? &r->id : NULL,
	                  &r->fd, &h, errmsg);
	if (rc == MA_ERR_NOTFOUND)
		return MA_ERR_AGAIN; /* removed since the listing */
	if (rc != 0)
		return rc;
	if (!r->check_id) {
		r->id = h.identity;
		r->check_id = true;
	}
	/* dev/ino tell a replaced segment from the one we read: without
	 * them a refresh would take this one for a replacement (a spurious
	 * DIVERGED). */
	if (fstat(r->fd, &st) != 0) {
		rc = errno;
		unload(r);
		return ma_errorf(errmsg, ma_error_from_errno(rc),
		                 "cannot stat WAL segment %s/%s: %s", r->dir,
		                 name, strerror(rc));
	}
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	wal_seg_init(&r->seg, name, r->firsts[i], true);
	r->loaded = true;
	/* A sealed segment indexed before: no scan (see the cache above). */
	if (i + 1 < r->nsegs && index_cache_get(r, &st))
		return 0;
	rc = scan_loaded(r, errmsg);
	if (rc != 0)
		unload(r);
	else
		index_cache_put(r);
	return rc;
}

static int list(struct wal_reader *r, char *errmsg);

static int seek_view(struct wal_reader *r, uint64_t index, char *errmsg)
{
	size_t lo = 0, hi = r->nsegs;
	int rc, tries = 0;

again:
	lo = 0;
	hi = r->nsegs;
	if (r->nsegs == 0) {
		unload(r);
		r->pos = index;
		return 0;
	}
	if (index == 0)
		index = r->firsts[0];
	if (index < r->firsts[0])
		return compacted(r, index, errmsg);
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->firsts[mid] <= index)
			lo = mid;
		else
			hi = mid;
	}
	if (!r->loaded || r->seg.first_index != r->firsts[lo]) {
		rc = load(r, lo, errmsg);
		if (rc == MA_ERR_AGAIN && ++tries < 5) {
			/* A truncation removed it: look again. */
			rc = list(r, errmsg);
			if (rc != 0)
				return rc;
			goto again;
		}
		if (rc == MA_ERR_AGAIN)
			return ma_errorf(errmsg, MA_ERR_IO,
			                 "WAL %s: segments keep vanishing "
			                 "while seeking",
			                 r->dir);
		if (rc != 0)
			return rc;
	}
	if (index > r->seg.first_index + r->seg.count)
		return ma_errorf(errmsg, MA_ERR_NOTFOUND,
		                 "WAL %s: index %" PRIu64
		                 " is past the end of the log (next index "
		                 "%" PRIu64 ")",
		                 r->dir, index,
		                 r->seg.first_index + r->seg.count);
	r->pos = index;
	r->had_view = true;
	return 0;
}

static int list(struct wal_reader *r, char *errmsg)
{
	uint64_t *firsts;
	size_t n;
	int rc = wal_seg_list(r->dir, &firsts, &n, errmsg);

	if (rc == MA_ERR_NOTFOUND) {
		firsts = NULL;
		n = 0;
	} else if (rc != 0) {
		return rc;
	}
	free(r->firsts);
	r->firsts = firsts;
	r->nsegs = n;
	return 0;
}

int wal_reader_open(const char *dir, const struct wal_identity *identity,
                    struct wal_reader **out, char *errmsg)
{
	struct wal_reader *r = calloc(1, sizeof *r);
	int rc;

	*out = NULL;
	if (r == NULL || (r->dir = strdup(dir)) == NULL) {
		free(r);
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	}
	r->fd = -1;
	r->watch_fd = -1;
	wal_window_init(&r->win);
	if (identity != NULL) {
		r->id = *identity;
		r->check_id = true;
	}
	rc = list(r, errmsg);
	if (rc == 0)
		rc = seek_view(r, 0, errmsg);
	if (rc != 0) {
		wal_reader_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

int wal_log_reader_open(struct wal_log *log, struct wal_reader **out,
                        char *errmsg)
{
	int rc = wal_reader_open(log->dir, &log->opts.identity, out, errmsg);

	if (rc == 0)
		(*out)->log = log;
	return rc;
}

int wal_reader_index_sealed(struct wal_reader *r, const atomic_bool *stop,
                            size_t *segments, char *errmsg)
{
	size_t done = 0;
	int rc = 0;

	for (size_t i = 0; i + 1 < r->nsegs; i++) {
		if (stop != NULL && atomic_load(stop))
			break;
		rc = load(r, i, errmsg); /* indexes it and caches it */
		if (rc == MA_ERR_AGAIN) {
			rc = 0; /* removed since the listing (retention) */
			continue;
		}
		if (rc != 0)
			break;
		done++;
	}
	unload(r);
	if (segments != NULL)
		*segments = done;
	return rc;
}

void wal_reader_close(struct wal_reader *r)
{
	if (r == NULL)
		return;
	unload(r);
	wal_window_free(&r->win);
	wal_reader_watch_close(r);
	free(r->firsts);
	free(r->dir);
	free(r);
}

int wal_reader_seek(struct wal_reader *r, uint64_t index, char *errmsg)
{
	r->sticky = 0;
	return seek_view(r, index, errmsg);
}

uint64_t wal_reader_position(const struct wal_reader *r)
{
	return r->pos;
}

uint64_t wal_reader_first_index(const struct wal_reader *r)
{
	if (r->log != NULL && r->log->nsegs > 0)
		return r->log->segs[0].first_index;
	return r->nsegs > 0 ? r->firsts[0] : 0;
}

/* Decodes the record for r->pos at off into *out. */
static int read_at(struct wal_reader *r, uint64_t off, struct wal_entry *out,
                   char *errmsg)
{
	struct wal_rec_header h;
	const char *reason = "short read";
	const uint8_t *p;
	ssize_t n;

	n = wal_window_get(r->fd, &r->win, off, WAL_REC_HEADER_SIZE, &p);
	if (n == WAL_REC_HEADER_SIZE &&
	    wal_rec_header_decode(p, &h, &reason) == 0) {
		uint64_t size = wal_rec_size(h.len);

		n = wal_window_get(r->fd, &r->win, off, (size_t)size, &p);
		reason = "record changed on disk";
		if ((uint64_t)n == size && h.index == r->pos &&
		    wal_rec_crc_ok(p, &h)) {
			out->index = h.index;
			out->term = h.term;
			out->type = h.type;
			out->data = p + WAL_REC_HEADER_SIZE;
			out->len = h.len;
			return 0;
		}
	}
	if (n < 0)
		return ma_errorf(errmsg, (int)n,
		                 "cannot read WAL segment %s/%s: %s", r->dir,
		                 r->seg.name, ma_strerror((int)n));
	return set_sticky(r, MA_ERR_DIVERGED, errmsg,
	                  "WAL segment %s/%s offset %" PRIu64
	                  ": %s (index %" PRIu64
	                  "); the log was truncated or rewritten: seek again",
	                  r->dir, r->seg.name, off, reason, r->pos);
}

int wal_reader_next(struct wal_reader *r, struct wal_entry *out, char *errmsg)
{
	int rc;

	if (r->sticky != 0)
		return ma_errorf(errmsg, r->sticky, "%s", r->sticky_msg);
	if (r->log != NULL && r->pos != 0 && r->log->nsegs > 0 &&
	    r->pos < r->log->segs[0].first_index) {
		char msg[MA_ERRMSG_SIZE];

		compacted(r, r->pos, msg);
		return set_sticky(r, MA_ERR_COMPACTED, errmsg, "%s", msg);
	}
	if (r->nsegs == 0)
		return ma_errorf(errmsg, MA_ERR_AGAIN, "no entries yet");
	if (!r->loaded) {
		char msg[MA_ERRMSG_SIZE];

		rc = seek_view(r, r->pos, msg);
		if (rc == MA_ERR_NOTFOUND)
			return ma_errorf(errmsg, MA_ERR_AGAIN,
			                 "no entry %" PRIu64 " yet", r->pos);
		if (rc == MA_ERR_COMPACTED)
			return set_sticky(r, rc, errmsg, "%s", msg);
		if (rc != 0)
			return ma_errorf(errmsg, rc, "%s", msg);
	}
	for (;;) {
		struct wal_seg *s = &r->seg;
		size_t i;

		if (r->pos >= s->first_index &&
		    r->pos < s->first_index + s->count) {
			rc = read_at(r, s->offsets[r->pos - s->first_index],
			             out, errmsg);
			if (rc == 0)
				r->pos++;
			return rc;
		}
		i = view_find(r, s->first_index);
		if (i + 1 >= r->nsegs)
			return ma_errorf(errmsg, MA_ERR_AGAIN,
			                 "no entry %" PRIu64 " yet", r->pos);
		if (r->firsts[i + 1] != s->first_index + s->count)
			return ma_errorf(errmsg, MA_ERR_CORRUPT,
			                 "WAL segment %s/%s offset %" PRIu64
			                 ": ends before index %" PRIu64
			                 " but the next segment starts at "
			                 "%" PRIu64 ": entries are missing",
			                 r->dir, s->name, s->end,
			                 s->first_index + s->count,
			                 r->firsts[i + 1]);
		rc = load(r, i + 1, errmsg);
		if (rc == MA_ERR_AGAIN)
			return ma_errorf(errmsg, MA_ERR_IO,
			                 "WAL %s: next segment vanished: the "
			                 "log was truncated, refresh",
			                 r->dir);
		if (rc != 0)
			return rc;
	}
}

int wal_reader_refresh(struct wal_reader *r, char *errmsg)
{
	char path[4096], msg[MA_ERRMSG_SIZE];
	struct stat st;
	int rc;

	rc = list(r, errmsg);
	if (rc != 0)
		return rc;
	wal_window_reset(&r->win);
	if (r->sticky != 0)
		return 0;
	if (r->nsegs == 0) {
		if (r->had_view)
			set_sticky(r, MA_ERR_DIVERGED, NULL,
			           "WAL %s: all segments were removed (log "
			           "reset?): seek again",
			           r->dir);
		unload(r);
		return 0;
	}
	if (r->pos != 0 && r->pos < r->firsts[0]) {
		compacted(r, r->pos, r->sticky_msg);
		r->sticky = MA_ERR_COMPACTED;
		unload(r);
		return 0;
	}
	if (!r->loaded)
		return 0;
	snprintf(path, sizeof path, "%s/%s", r->dir, r->seg.name);
	if (view_find(r, r->seg.first_index) < r->nsegs &&
	    stat(path, &st) == 0 && st.st_dev == r->dev &&
	    st.st_ino == r->ino && (uint64_t)st.st_size >= r->seg.end) {
		rc = scan_loaded(r, msg);
		if (rc == 0)
			index_cache_put(r); /* sealed since: keep its index */
		if (rc != MA_ERR_CORRUPT)
			return rc == 0 ? 0 : ma_errorf(errmsg, rc, "%s", msg);
		/* Bad bytes right after what we had read, valid ones later:
		 * either real damage or the writer truncated and appended
		 * again since our last look. A full re-read tells. */
		unload(r);
		rc = seek_view(r, r->pos, errmsg);
		if (rc == MA_ERR_NOTFOUND || rc == 0)
			set_sticky(r, MA_ERR_DIVERGED, NULL,
			           "WAL segment %s changed under the reader "
			           "(suffix truncation?): seek again",
			           path);
		return rc == MA_ERR_NOTFOUND ? 0 : rc;
	}
	/* The segment was replaced or shrank: a suffix truncation or reset. */
	unload(r);
	rc = seek_view(r, r->pos, msg);
	if (rc == MA_ERR_NOTFOUND || rc == MA_ERR_COMPACTED) {
		set_sticky(r, rc == MA_ERR_COMPACTED ? rc : MA_ERR_DIVERGED,
		           NULL, "%s", msg);
		return 0;
	}
	return rc == 0 ? 0 : ma_errorf(errmsg, rc, "%s", msg);
}
