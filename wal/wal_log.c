/* wal: the writer side of the log — open/recover, append with group
 * commit, reads by index, prefix/suffix truncation and reset. Takes `now`
 * from the caller; owns no clock. */
#include "wal/wal_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "wal/wal_format.h"

static void mark_failed(struct wal_log *log);

/* Batches are written in pieces of at most this many bytes so that one
 * huge append does not need one huge buffer. */
#define WRITE_CHUNK (4u << 20)

void wal_options_init(struct wal_options *opts)
{
	memset(opts, 0, sizeof *opts);
	opts->segment_size = 64u << 20;
	opts->max_entry_size = WAL_ENTRY_SIZE_MAX;
	opts->sync_every_append = true;
	opts->sync_gap_min_us = WAL_SYNC_GAP_MIN_US;
}

static void seg_path(const struct wal_log *log, const struct wal_seg *seg,
                     char *out, size_t size)
{
	snprintf(out, size, "%s/%s", log->dir, seg->name);
}

static struct wal_seg *last_seg(struct wal_log *log)
{
	return log->nsegs > 0 ? &log->segs[log->nsegs - 1] : NULL;
}

uint64_t wal_log_first_index(const struct wal_log *log)
{
	return log->nsegs > 0 ? log->segs[0].first_index : 0;
}

uint64_t wal_log_last_index(const struct wal_log *log)
{
	const struct wal_seg *s;

	if (log->nsegs == 0)
		return 0;
	s = &log->segs[log->nsegs - 1];
	return s->first_index + s->count - 1;
}

uint64_t wal_log_durable_index(const struct wal_log *log)
{
	return log->durable_index;
}

bool wal_log_failed(const struct wal_log *log)
{
	return log->failed;
}

/* Marks the log fail-stopped and returns code with errmsg filled. */
static int fail_stop(struct wal_log *log, char *errmsg, int code,
                     const char *what, const char *path, int err)
{
	log->failed = true;
	log_error("wal: %s %s failed: %s; the log is fail-stopped", what, path,
	          strerror(err));
	mark_failed(log);
	return ma_errorf(errmsg, code,
	                 "%s %s failed: %s; the log refuses further writes "
	                 "(fail-stop): fix the cause and restart",
	                 what, path, strerror(err));
}

/* fail_stop() for an io_* error: errmsg already names the operation, the
 * file and the system's reason. */
static int fail_stop_io(struct wal_log *log, char *errmsg, int code)
{
	char cause[MA_ERRMSG_SIZE];

	log->failed = true;
	snprintf(cause, sizeof cause, "%s",
	         errmsg != NULL ? errmsg : ma_strerror(code));
	log_error("wal: %s; the log is fail-stopped", cause);
	mark_failed(log);
	return ma_errorf(errmsg, code,
	                 "%s; the log refuses further writes (fail-stop): "
	                 "fix the cause and restart",
	                 cause);
}

static int failed_error(const struct wal_log *log, char *errmsg)
{
	return ma_errorf(errmsg, MA_ERR_FAILED,
	                 "WAL %s is fail-stopped after an earlier I/O error; "
	                 "restart to recover",
	                 log->dir);
}

/* After a failed write or fsync: records past durable_index may be in
 * the page cache only (the kernel marks failed pages clean), and a
 * restart's fsync through a new descriptor would succeed and declare them
 * durable. Recording the durable index here lets the next open cut them
 * off. Best effort: if even this fails, say what it means. */
static void mark_failed(struct wal_log *log)
{
	char errmsg[MA_ERRMSG_SIZE];

	if (!log->opened || log->mark_failed)
		return;
	if (wal_mark_write(log->dir, log->durable_index, true, errmsg) != 0) {
		log_error("wal: %s; after a restart, entries past %" PRIu64
		          " may be taken as durable though their fsync "
		          "failed: re-bootstrap this log (follow --reseed) to "
		          "be sure",
		          errmsg, log->durable_index);
		return;
	}
	log->mark_failed = true;
	log->mark_present = true;
	log->mark_index = log->durable_index;
}

/* Lowers the mark to index before entries above it are removed. */
static int lower_mark(struct wal_log *log, uint64_t index, char *errmsg)
{
	int rc;

	if (!log->mark_present || log->mark_index <= index)
		return 0;
	rc = wal_mark_write(log->dir, index, false, errmsg);
	if (rc != 0)
		return rc;
	log->mark_index = index;
	return 0;
}

static void close_rfd(struct wal_log *log)
{
	if (log->rfd >= 0)
		close(log->rfd);
	log->rfd = -1;
	log->rfd_first = 0;
}

static int open_last_fd(struct wal_log *log, char *errmsg)
{
	struct wal_seg *s = last_seg(log);
	char path[4096];
	int err;

	seg_path(log, s, path, sizeof path);
	log->fd = open(path, O_RDWR | O_CLOEXEC);
	if (log->fd < 0) {
		err = errno;
		/* A segment the log indexed has vanished: an I/O fault, not
		 * "index not found". */
		return ma_errorf(
		    errmsg,
		    err == ENOENT ? MA_ERR_IO : ma_error_from_errno(err),
		    "cannot open WAL segment %s: %s", path, strerror(err));
	}
	return 0;
}

static int grow_segs(struct wal_log *log)
{
	if (log->nsegs == log->cap) {
		size_t ncap = log->cap ? log->cap * 2 : 16;
		struct wal_seg *ns = realloc(log->segs, ncap * sizeof *ns);
		if (ns == NULL)
			return MA_ERR_NOMEM;
		log->segs = ns;
		log->cap = ncap;
	}
	return 0;
}

/* Removes leftovers of an interrupted segment creation (wal-*.seg.tmp)
 * or mark update (wal.durable.tmp). */
static void sweep_tmp(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		char path[4096];

		if ((len < 8 || strncmp(de->d_name, "wal-", 4) != 0 ||
		     strcmp(de->d_name + len - 8, ".seg.tmp") != 0) &&
		    strcmp(de->d_name, WAL_MARK_FILE ".tmp") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		log_info("wal: removing leftover %s", path);
		unlink(path);
	}
	closedir(d);
}

static int check_options(const struct wal_options *o, char *errmsg)
{
	struct wal_identity zero;

	memset(&zero, 0, sizeof zero);
	if (o->identity.database_id[0] == '\0')
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "WAL options: identity is not set "
		                 "(wal_identity_init)");
	if (o->segment_size < 4096 || o->segment_size > (1u << 30))
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "WAL options: segment_size %" PRIu64
		                 " outside 4096..1073741824",
		                 o->segment_size);
	if (o->max_entry_size == 0 || o->max_entry_size > WAL_ENTRY_SIZE_MAX)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "WAL options: max_entry_size %u outside "
		                 "1..%u",
		                 o->max_entry_size, WAL_ENTRY_SIZE_MAX);
	if (o->sync_budget_pct > 100)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "WAL options: sync_budget_pct %u outside "
		                 "0..100",
		                 o->sync_budget_pct);
	return 0;
}

/* The previous writer fail-stopped with `durable` as its durable index:
 * records after it may only ever have reached the page cache (the fsync
 * this open just made through a new descriptor proves nothing about them),
 * so they are cut off; whoever feeds the log supplies them again. */
static int recover_failed(struct wal_log *log, uint64_t durable, char *errmsg)
{
	uint64_t first = wal_log_first_index(log), keep = durable;
	int rc;

	if (log->nsegs > 0 && keep + 1 < first)
		keep = first - 1;
	if (log->nsegs > 0 && wal_log_last_index(log) > keep) {
		log_warn("wal: %s: the previous writer stopped after a failed "
		         "write or fsync with entries up to %" PRIu64
		         " durable; dropping entries %" PRIu64 "..%" PRIu64
		         ", which may never have reached the disk",
		         log->dir, durable, keep + 1, wal_log_last_index(log));
		rc = wal_log_truncate_suffix(log, keep, errmsg);
		if (rc != 0)
			return rc;
	}
	rc = wal_mark_write(log->dir, wal_log_last_index(log), false, errmsg);
	if (rc != 0)
		return rc;
	log->mark_index = wal_log_last_index(log);
	return 0;
}

int wal_log_open(const char *dir, const struct wal_options *opts,
                 struct wal_log **out, char *errmsg)
{
	struct wal_log *log;
	struct wal_mark mark;
	struct wal_dir d;
	char path[4096];
	int rc, err;

	*out = NULL;
	rc = check_options(opts, errmsg);
	if (rc != 0)
		return rc;
	log = calloc(1, sizeof *log);
	if (log == NULL || (log->dir = strdup(dir)) == NULL) {
		free(log);
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	}
	log->opts = *opts;
	log->fd = -1;
	log->rfd = -1;
	log->lock_fd = -1;
	log->event_fd = -1;
	rc = io_mkdir_p(dir, 0755, errmsg);
	if (rc != 0) {
		rc = ma_errwrapf(errmsg, rc, "cannot create WAL directory");
		goto fail;
	}
	if (io_path_join(path, sizeof path, dir, "wal.lock") != 0) {
		rc = ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long", dir);
		goto fail;
	}
	log->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (log->lock_fd < 0) {
		err = errno;
		rc = ma_errorf(errmsg, ma_error_from_errno(err),
		               "cannot open %s: %s", path, strerror(err));
		goto fail;
	}
	if (flock(log->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		err = errno;
		rc = ma_errorf(errmsg,
		               err == EWOULDBLOCK ? MA_ERR_BUSY : MA_ERR_IO,
		               "WAL %s is already open for writing by another "
		               "process (lock %s: %s)",
		               dir, path, strerror(err));
		goto fail;
	}
	sweep_tmp(dir);
	rc = wal_mark_read(dir, &mark, errmsg);
	if (rc != 0)
		goto fail;
	rc = wal_dir_load(dir, &opts->identity, true, &d, errmsg);
	if (rc != 0)
		goto fail;
	log->segs = d.segs;
	log->nsegs = d.nsegs;
	log->cap = d.nsegs;
	/* Records the mark says were durable are never a torn tail: their
	 * damage (or absence) is corruption, and nothing is cut. */
	rc = wal_mark_check(dir, &mark, &d, errmsg);
	if (rc != 0)
		goto fail;
	if (log->nsegs == 0)
		goto done;
	log->last_term = last_seg(log)->last_term;
	rc = open_last_fd(log, errmsg);
	if (rc != 0)
		goto fail;
	seg_path(log, last_seg(log), path, sizeof path);
	if (!d.tail.clean) {
		log_warn("wal: %s: torn tail at offset %" PRIu64 " (%s); "
		         "truncating %" PRIu64 " bytes after the last valid "
		         "record (index %" PRIu64 ")",
		         path, d.tail.off, d.tail.reason,
		         d.tail.file_size - d.tail.off,
		         wal_log_last_index(log));
		if (ftruncate(log->fd, (off_t)d.tail.off) != 0) {
			err = errno;
			rc = ma_errorf(errmsg, ma_error_from_errno(err),
			               "cannot truncate torn tail of %s: %s",
			               path, strerror(err));
			goto fail;
		}
	}
	/* Whatever survived may only be in the page cache (a crashed
	 * predecessor): make it durable before reporting it as such. */
	rc = io_fsync(log->fd, errmsg);
	if (rc != 0)
		goto fail;
done:
	log->durable_index = wal_log_last_index(log);
	log->opened = true;
	log->mark_present = mark.present;
	log->mark_index = mark.index;
	if (mark.present && mark.failed) {
		rc = recover_failed(log, mark.index, errmsg);
		if (rc != 0)
			goto fail;
	}
	*out = log;
	return 0;

fail:
	wal_log_close(log);
	return rc;
}

void wal_log_close(struct wal_log *log)
{
	char errmsg[MA_ERRMSG_SIZE];

	if (log == NULL)
		return;
	/* What is durable now is durable at the next open: a damaged record
	 * up to here is corruption then, not a torn tail. */
	if (log->opened && log->failed)
		mark_failed(log);
	else if (log->opened &&
	         (!log->mark_present ||
	          log->mark_index != log->durable_index) &&
	         wal_mark_write(log->dir, log->durable_index, false, errmsg) !=
	             0)
		log_warn("wal: %s (a damaged last record will be taken for "
		         "a torn tail at the next open)",
		         errmsg);
	for (size_t i = 0; i < log->nsegs; i++)
		wal_seg_free(&log->segs[i]);
	free(log->segs);
	if (log->fd >= 0)
		close(log->fd);
	close_rfd(log);
	if (log->lock_fd >= 0)
		close(log->lock_fd);
	wal_notify_close(log);
	free(log->wbuf);
	free(log->rbuf);
	free(log->dir);
	free(log);
}

/* The budget rule's earliest next sync, in ms (rounded down: a sync in
 * the millisecond the gap ends is allowed). 0 before the first sync: a
 * first batch is synced on arrival. */
static uint64_t budget_deadline(const struct wal_log *log)
{
	const struct wal_options *o = &log->opts;
	uint64_t pct = o->sync_budget_pct, gap;

	if (!log->synced)
		return 0;
	gap = log->sync_ewma_us * (100 - pct) / pct;
	if (gap < o->sync_gap_min_us)
		gap = o->sync_gap_min_us;
	return (log->sync_end_us + gap) / 1000;
}

static bool sync_due(const struct wal_log *log, uint64_t now_ms)
{
	const struct wal_options *o = &log->opts;

	if (!log->pending)
		return false;
	if (o->sync_every_append)
		return true;
	if (o->sync_bytes > 0 && log->unsynced_bytes >= o->sync_bytes)
		return true;
	if (o->sync_interval_ms > 0 && now_ms >= log->pending_since_ms &&
	    now_ms - log->pending_since_ms >= o->sync_interval_ms)
		return true;
	if (o->sync_budget_pct > 0 && now_ms >= budget_deadline(log))
		return true;
	return false;
}

bool wal_log_sync_due(const struct wal_log *log, uint64_t now_ms)
{
	if (log->failed)
		return false;
	return sync_due(log, now_ms);
}

uint64_t wal_log_sync_deadline(const struct wal_log *log)
{
	uint64_t at = UINT64_MAX;

	if (!log->pending || log->failed)
		return UINT64_MAX;
	if (log->opts.sync_interval_ms > 0)
		at = log->pending_since_ms + log->opts.sync_interval_ms;
	if (log->opts.sync_budget_pct > 0 && budget_deadline(log) < at)
		at = budget_deadline(log);
	return at;
}

int wal_log_sync(struct wal_log *log, char *errmsg)
{
	uint64_t t0 = 0, t1 = 0;
	int rc;

	if (log->failed)
		return failed_error(log, errmsg);
	if (!log->pending)
		return 0;
	if (log->opts.clock_us != NULL)
		t0 = log->opts.clock_us(log->opts.clock_arg);
	rc = io_fdatasync(log->fd, errmsg);
	if (rc != 0)
		return fail_stop_io(log, errmsg, rc);
	if (log->opts.clock_us != NULL) {
		t1 = log->opts.clock_us(log->opts.clock_arg);
		if (t1 < t0)
			t1 = t0;
	} else {
		t0 = t1 = log->now_ms * 1000;
	}
	/* Moving average of the durations, weight 1/2^SHIFT for the new
	 * one; the first sets it. */
	if (log->syncs == 0)
		log->sync_ewma_us = t1 - t0;
	else if (t1 - t0 >= log->sync_ewma_us)
		log->sync_ewma_us +=
		    (t1 - t0 - log->sync_ewma_us) >> WAL_SYNC_EWMA_SHIFT;
	else
		log->sync_ewma_us -=
		    (log->sync_ewma_us - (t1 - t0)) >> WAL_SYNC_EWMA_SHIFT;
	log->syncs++;
	log->sync_total_us += t1 - t0;
	log->synced = true;
	log->sync_end_us = t1;
	log->pending = false;
	log->unsynced_bytes = 0;
	log->durable_index = wal_log_last_index(log);
	wal_notify_signal(log);
	return 0;
}

int wal_log_commit(struct wal_log *log, uint64_t now_ms, char *errmsg)
{
	int rc;

	if (log->failed)
		return failed_error(log, errmsg);
	if (now_ms > log->now_ms)
		log->now_ms = now_ms;
	if (!sync_due(log, now_ms))
		return 0;
	rc = wal_log_sync(log, errmsg);
	return rc == 0 ? 1 : rc;
}

uint64_t wal_log_syncs(const struct wal_log *log)
{
	return log->syncs;
}

uint64_t wal_log_sync_total_us(const struct wal_log *log)
{
	return log->sync_total_us;
}

uint64_t wal_log_sync_time_us(const struct wal_log *log)
{
	return log->sync_ewma_us;
}

/* Writes wbuf[0..wlen) (entries[from..to)) at the end of the last segment
 * and records their offsets. */
static int flush(struct wal_log *log, const struct wal_entry *entries,
                 size_t from, size_t to, size_t wlen, uint64_t now_ms,
                 char *errmsg)
{
	struct wal_seg *s = last_seg(log);
	uint64_t off = s->end;
	int rc;

	if (wlen == 0)
		return 0;
	rc = io_pwrite_all(log->fd, log->wbuf, wlen, (off_t)off, errmsg);
	if (rc != 0)
		return fail_stop_io(log, errmsg, rc);
	for (size_t i = from; i < to; i++) {
		if (s->count == s->cap) {
			size_t ncap = s->cap ? s->cap * 2 : 1024;
			uint32_t *no = realloc(s->offsets, ncap * sizeof *no);
			if (no == NULL) {
				log->failed = true;
				return ma_errorf(errmsg, MA_ERR_NOMEM,
				                 "out of memory indexing "
				                 "%s/%s; log fail-stopped",
				                 log->dir, s->name);
			}
			s->offsets = no;
			s->cap = ncap;
		}
		s->offsets[s->count++] = (uint32_t)off;
		off += wal_rec_size(entries[i].len);
		log->last_term = entries[i].term;
	}
	s->last_term = log->last_term;
	s->end = off;
	if (!log->pending) {
		log->pending = true;
		log->pending_since_ms = now_ms;
	}
	log->unsynced_bytes += wlen;
	return 0;
}

/* Adds a new empty segment starting at first_index and makes it the one
 * appended to. The previous last segment must already be synced. */
static int start_segment(struct wal_log *log, uint64_t first_index,
                         char *errmsg)
{
	char name[WAL_SEG_NAME_SIZE];
	int rc;

	if (grow_segs(log) != 0) {
		log->failed = true;
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	}
	rc = wal_seg_create(log->dir, first_index, &log->opts.identity, errmsg);
	if (rc != 0) {
		log->failed = true;
		return rc;
	}
	wal_seg_name(name, first_index);
	wal_seg_init(&log->segs[log->nsegs++], name, first_index, true);
	if (log->fd >= 0)
		close(log->fd);
	log->fd = -1;
	rc = open_last_fd(log, errmsg);
	if (rc != 0)
		log->failed = true;
	return rc;
}

static int check_batch(struct wal_log *log, const struct wal_entry *entries,
                       size_t n, char *errmsg)
{
	uint64_t next = log->nsegs > 0 ? wal_log_last_index(log) + 1 : 0;
	uint64_t term = log->last_term;

	if (n == 0 || entries == NULL)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "WAL append: no entries given");
	for (size_t i = 0; i < n; i++) {
		const struct wal_entry *e = &entries[i];

		if (e->index == 0)
			return ma_errorf(errmsg, MA_ERR_INVAL,
			                 "WAL append: index 0 is not a valid "
			                 "entry index");
		if (next != 0 && e->index != next)
			return ma_errorf(
			    errmsg, MA_ERR_OFFSET,
			    "WAL append to %s: entry index %" PRIu64
			    " but the log expects %" PRIu64
			    " (entries must be contiguous: %s)",
			    log->dir, e->index, next,
			    e->index > next ? "gap" : "overlap");
		if (e->term < term)
			return ma_errorf(errmsg, MA_ERR_INVAL,
			                 "WAL append: entry %" PRIu64
			                 " has term %" PRIu64
			                 " below the previous term %" PRIu64,
			                 e->index, e->term, term);
		if (e->len > log->opts.max_entry_size)
			return ma_errorf(errmsg, MA_ERR_LIMIT,
			                 "WAL append: entry %" PRIu64
			                 " is %zu bytes, above the limit %u",
			                 e->index, e->len,
			                 log->opts.max_entry_size);
		if (e->len > 0 && e->data == NULL)
			return ma_errorf(errmsg, MA_ERR_INVAL,
			                 "WAL append: entry %" PRIu64
			                 " has no data",
			                 e->index);
		next = e->index + 1;
		term = e->term;
	}
	return 0;
}

static int reserve(uint8_t **buf, size_t *cap, size_t want)
{
	if (*cap < want) {
		size_t ncap = want < 65536 ? 65536 : want;
		uint8_t *nb = realloc(*buf, ncap);
		if (nb == NULL)
			return MA_ERR_NOMEM;
		*buf = nb;
		*cap = ncap;
	}
	return 0;
}

int wal_log_append(struct wal_log *log, const struct wal_entry *entries,
                   size_t n, uint64_t now_ms, char *errmsg)
{
	size_t from = 0, wlen = 0;
	int rc;

	if (log->failed)
		return failed_error(log, errmsg);
	if (now_ms > log->now_ms)
		log->now_ms = now_ms;
	rc = check_batch(log, entries, n, errmsg);
	if (rc != 0)
		return rc;
	if (log->nsegs == 0) {
		rc = start_segment(log, entries[0].index, errmsg);
		if (rc != 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct wal_seg *s = last_seg(log);
		uint64_t size = wal_rec_size(entries[i].len);

		if (s->count + (i - from) > 0 &&
		    s->end + wlen >= log->opts.segment_size) {
			/* Seal: the next segment must never exist while this
			 * one could still lose records. */
			rc = flush(log, entries, from, i, wlen, now_ms, errmsg);
			if (rc == 0)
				rc = wal_log_sync(log, errmsg);
			if (rc == 0)
				rc = start_segment(log, entries[i].index,
				                   errmsg);
			if (rc != 0)
				goto out;
			from = i;
			wlen = 0;
		} else if (wlen > 0 && wlen + size > WRITE_CHUNK) {
			rc = flush(log, entries, from, i, wlen, now_ms, errmsg);
			if (rc != 0)
				goto out;
			from = i;
			wlen = 0;
		}
		if (reserve(&log->wbuf, &log->wcap, wlen + size) != 0) {
			rc = ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
			goto out;
		}
		wal_rec_encode(&entries[i], log->wbuf + wlen);
		wlen += size;
	}
	rc = flush(log, entries, from, n, wlen, now_ms, errmsg);
	if (rc == 0 && sync_due(log, now_ms))
		rc = wal_log_sync(log, errmsg);
out:
	wal_notify_signal(log);
	return rc;
}

/* Index in log->segs of the segment holding index (first_index <= index). */
static size_t find_seg(const struct wal_log *log, uint64_t index)
{
	size_t lo = 0, hi = log->nsegs;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (log->segs[mid].first_index <= index)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static int check_range(const struct wal_log *log, uint64_t index, char *errmsg)
{
	if (log->nsegs == 0 || index == 0 || index > wal_log_last_index(log))
		return ma_errorf(errmsg, MA_ERR_NOTFOUND,
		                 "WAL %s: no entry %" PRIu64
		                 " (last index %" PRIu64 ")",
		                 log->dir, index, wal_log_last_index(log));
	if (index < wal_log_first_index(log))
		return ma_errorf(errmsg, MA_ERR_COMPACTED,
		                 "WAL %s: entry %" PRIu64
		                 " was removed by prefix truncation; first "
		                 "retained index is %" PRIu64,
		                 log->dir, index, wal_log_first_index(log));
	return 0;
}

/* fd to read segment i from (the write fd for the last one). */
static int read_fd(struct wal_log *log, size_t i, char *errmsg)
{
	struct wal_seg *s = &log->segs[i];
	char path[4096];
	int err;

	if (i + 1 == log->nsegs)
		return log->fd;
	if (log->rfd >= 0 && log->rfd_first == s->first_index)
		return log->rfd;
	close_rfd(log);
	seg_path(log, s, path, sizeof path);
	log->rfd = open(path, O_RDONLY | O_CLOEXEC);
	if (log->rfd < 0) {
		err = errno;
		/* As in open_last_fd(): not "index not found". */
		return ma_errorf(
		    errmsg,
		    err == ENOENT ? MA_ERR_IO : ma_error_from_errno(err),
		    "cannot open WAL segment %s: %s", path, strerror(err));
	}
	log->rfd_first = s->first_index;
	return log->rfd;
}

/* Reads the record for index (header only unless with_data). */
static int read_record(struct wal_log *log, uint64_t index, bool with_data,
                       struct wal_rec_header *h, char *errmsg)
{
	size_t i = find_seg(log, index);
	struct wal_seg *s = &log->segs[i];
	uint64_t off = s->offsets[index - s->first_index];
	const char *reason = "short read";
	size_t want = WAL_REC_HEADER_SIZE;
	char path[4096];
	ssize_t n;
	int fd;

	fd = read_fd(log, i, errmsg);
	if (fd < 0)
		return fd;
	if (reserve(&log->rbuf, &log->rcap, want) != 0)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	n = io_pread_full(fd, log->rbuf, want, (off_t)off, errmsg);
	if (n == (ssize_t)want &&
	    wal_rec_header_decode(log->rbuf, h, &reason) == 0) {
		reason = "record changed on disk";
		if (h->index == index && !with_data)
			return 0;
		if (h->index == index) {
			want = wal_rec_size(h->len);
			if (reserve(&log->rbuf, &log->rcap, want) != 0)
				return ma_errorf(errmsg, MA_ERR_NOMEM,
				                 "out of memory");
			n = io_pread_full(fd, log->rbuf, want, (off_t)off,
			                  errmsg);
			if (n == (ssize_t)want && wal_rec_crc_ok(log->rbuf, h))
				return 0;
			reason = "record CRC32C mismatch on read";
		}
	}
	seg_path(log, s, path, sizeof path);
	if (n < 0)
		return (int)n;
	return ma_errorf(errmsg, MA_ERR_CORRUPT,
	                 "WAL segment %s offset %" PRIu64 ": %s (index %" PRIu64
	                 ")",
	                 path, off, reason, index);
}

int wal_log_term_at(struct wal_log *log, uint64_t index, uint64_t *term,
                    char *errmsg)
{
	struct wal_rec_header h;
	int rc = check_range(log, index, errmsg);

	if (rc != 0)
		return rc;
	if (index == wal_log_last_index(log)) {
		*term = log->last_term;
		return 0;
	}
	rc = read_record(log, index, false, &h, errmsg);
	if (rc == 0)
		*term = h.term;
	return rc;
}

int wal_log_read(struct wal_log *log, uint64_t index, struct wal_entry *out,
                 char *errmsg)
{
	struct wal_rec_header h;
	int rc = check_range(log, index, errmsg);

	if (rc == 0)
		rc = read_record(log, index, true, &h, errmsg);
	if (rc != 0)
		return rc;
	out->index = h.index;
	out->term = h.term;
	out->type = h.type;
	out->data = log->rbuf + WAL_REC_HEADER_SIZE;
	out->len = h.len;
	return 0;
}

/* Deletes segment i's file (not a crash point: the caller fsyncs the
 * directory afterwards). */
static int unlink_seg(struct wal_log *log, size_t i, char *errmsg)
{
	char path[4096];
	int err;

	seg_path(log, &log->segs[i], path, sizeof path);
	if (log->rfd >= 0 && log->rfd_first == log->segs[i].first_index)
		close_rfd(log);
	if (unlink(path) != 0 && errno != ENOENT) {
		err = errno;
		return fail_stop(log, errmsg, ma_error_from_errno(err),
		                 "unlink of", path, err);
	}
	return 0;
}

static int sync_dir(struct wal_log *log, char *errmsg)
{
	int rc = io_fsync_dir(log->dir, errmsg);

	if (rc != 0)
		return fail_stop_io(log, errmsg, rc);
	return 0;
}

int wal_log_truncate_prefix(struct wal_log *log, uint64_t index, char *errmsg)
{
	size_t k = 0;
	int rc = 0;

	if (log->failed)
		return failed_error(log, errmsg);
	while (k + 1 < log->nsegs && log->segs[k + 1].first_index <= index)
		k++;
	if (k == 0)
		return 0;
	for (size_t i = 0; i < k; i++) {
		rc = unlink_seg(log, i, errmsg);
		if (rc != 0) {
			k = i;
			break;
		}
	}
	for (size_t i = 0; i < k; i++)
		wal_seg_free(&log->segs[i]);
	memmove(log->segs, log->segs + k, (log->nsegs - k) * sizeof *log->segs);
	log->nsegs -= k;
	if (rc == 0)
		rc = sync_dir(log, errmsg);
	wal_notify_signal(log);
	return rc;
}

int wal_log_truncate_suffix(struct wal_log *log, uint64_t last_kept,
                            char *errmsg)
{
	uint64_t first = wal_log_first_index(log);
	uint64_t last = wal_log_last_index(log);
	struct wal_seg *s;
	char path[4096];
	size_t t, keep;
	int rc, err;

	if (log->failed)
		return failed_error(log, errmsg);
	if (log->nsegs == 0 || last_kept > last)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "WAL %s: cannot truncate after %" PRIu64
		                 ": last index is %" PRIu64,
		                 log->dir, last_kept, last);
	if (last_kept + 1 < first)
		return ma_errorf(errmsg, MA_ERR_COMPACTED,
		                 "WAL %s: cannot truncate after %" PRIu64
		                 ": entries before %" PRIu64
		                 " were removed by prefix truncation",
		                 log->dir, last_kept, first);
	if (last_kept == last)
		return 0;
	rc = lower_mark(log, last_kept, errmsg);
	if (rc != 0)
		return fail_stop_io(log, errmsg, rc);
	/* Segment t holds last_kept + 1; segments after it go entirely, and t
	 * too when it would be left empty and is not the only one. */
	t = find_seg(log, last_kept + 1);
	keep = (log->segs[t].first_index == last_kept + 1 && t > 0) ? t : t + 1;
	close(log->fd);
	log->fd = -1;
	for (size_t i = log->nsegs; i > keep; i--) {
		rc = unlink_seg(log, i - 1, errmsg);
		if (rc != 0)
			return rc;
		wal_seg_free(&log->segs[i - 1]);
		log->nsegs = i - 1;
	}
	rc = sync_dir(log, errmsg);
	if (rc != 0)
		return rc;
	rc = open_last_fd(log, errmsg);
	if (rc != 0) {
		log->failed = true;
		return rc;
	}
	s = last_seg(log);
	if (s->first_index + s->count - 1 > last_kept) {
		uint64_t end = s->offsets[last_kept + 1 - s->first_index];

		seg_path(log, s, path, sizeof path);
		if (ftruncate(log->fd, (off_t)end) != 0) {
			err = errno;
			return fail_stop(log, errmsg, ma_error_from_errno(err),
			                 "truncate of", path, err);
		}
		rc = io_fsync(log->fd, errmsg);
		if (rc != 0)
			return fail_stop_io(log, errmsg, rc);
		s->count = last_kept + 1 - s->first_index;
		s->end = end;
	}
	log->pending = false;
	log->unsynced_bytes = 0;
	log->durable_index = last_kept;
	log->last_term = 0;
	if (last_kept >= s->first_index) {
		struct wal_rec_header h;

		rc = read_record(log, last_kept, false, &h, errmsg);
		if (rc == 0)
			log->last_term = h.term;
		if (rc != 0) {
			log->failed = true;
			return rc;
		}
	}
	s->last_term = log->last_term;
	wal_notify_signal(log);
	return 0;
}

int wal_log_reset(struct wal_log *log, uint64_t next_index, char *errmsg)
{
	int rc;

	if (log->failed)
		return failed_error(log, errmsg);
	if (next_index == 0)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "WAL reset: next index must be >= 1");
	/* To 0, not next_index - 1: a crash between removing the last old
	 * segment and creating the new one leaves no segment at all, and a
	 * mark above 0 would then call that corruption. */
	rc = lower_mark(log, 0, errmsg);
	if (rc != 0)
		return fail_stop_io(log, errmsg, rc);
	if (log->fd >= 0)
		close(log->fd);
	log->fd = -1;
	close_rfd(log);
	/* Oldest first: a crash leaves a contiguous suffix of the old log. */
	while (log->nsegs > 0) {
		rc = unlink_seg(log, 0, errmsg);
		if (rc != 0)
			return rc;
		wal_seg_free(&log->segs[0]);
		memmove(log->segs, log->segs + 1,
		        (log->nsegs - 1) * sizeof *log->segs);
		log->nsegs--;
	}
	rc = sync_dir(log, errmsg);
	if (rc == 0)
		rc = start_segment(log, next_index, errmsg);
	if (rc != 0)
		return rc;
	log->pending = false;
	log->unsynced_bytes = 0;
	log->last_term = 0;
	log->durable_index = next_index - 1;
	wal_notify_signal(log);
	return 0;
}
