/* wal: segment file I/O — reading, scanning and creating segment files
 * and listing a log directory (see wal_segment.h). */
#include "wal/wal_segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/io.h"

void wal_window_init(struct wal_window *w)
{
	memset(w, 0, sizeof *w);
}

void wal_window_free(struct wal_window *w)
{
	free(w->buf);
	wal_window_init(w);
}

void wal_window_reset(struct wal_window *w)
{
	w->off = 0;
	w->len = 0;
}

ssize_t wal_window_get(int fd, struct wal_window *w, uint64_t off, size_t n,
                       const uint8_t **p)
{
	size_t want = n > WAL_WINDOW_SIZE ? n : WAL_WINDOW_SIZE;
	ssize_t got;

	if (off >= w->off && off + n <= w->off + w->len) {
		*p = w->buf + (off - w->off);
		return (ssize_t)n;
	}
	if (w->cap < want) {
		uint8_t *nb = realloc(w->buf, want);
		if (nb == NULL)
			return MA_ERR_NOMEM;
		w->buf = nb;
		w->cap = want;
	}
	w->len = 0;
	got = io_pread_full(fd, w->buf, want, (off_t)off, NULL);
	if (got < 0)
		return got;
	w->off = off;
	w->len = (size_t)got;
	*p = w->buf;
	return (size_t)got < n ? got : (ssize_t)n;
}

void wal_seg_init(struct wal_seg *seg, const char *name, uint64_t first_index,
                  bool collect)
{
	memset(seg, 0, sizeof *seg);
	snprintf(seg->name, sizeof seg->name, "%s", name);
	seg->first_index = first_index;
	seg->end = WAL_SEG_HEADER_SIZE;
	seg->collect = collect;
}

void wal_seg_free(struct wal_seg *seg)
{
	free(seg->offsets);
	seg->offsets = NULL;
	seg->cap = 0;
}

int wal_seg_open(const char *dir, const char *name, int flags,
                 const struct wal_identity *identity, int *fd,
                 struct wal_seg_header *h, char *errmsg)
{
	uint8_t buf[WAL_SEG_HEADER_SIZE];
	char path[4096], want_uuid[37], got_uuid[37];
	const char *reason = NULL;
	uint64_t name_index = 0;
	ssize_t n;
	int rc;

	if (io_path_join(path, sizeof path, dir, name) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s/%s: path too long",
		                 dir, name);
	*fd = open(path, flags | O_CLOEXEC);
	if (*fd < 0) {
		rc = errno;
		return ma_errorf(
		    errmsg,
		    rc == ENOENT ? MA_ERR_NOTFOUND : ma_error_from_errno(rc),
		    "cannot open WAL segment %s: %s", path, strerror(rc));
	}
	n = io_pread_full(*fd, buf, sizeof buf, 0, errmsg);
	if (n < 0) {
		rc = (int)n;
		goto fail;
	}
	if (wal_seg_header_decode(buf, (size_t)n, h, &reason) != 0) {
		rc = ma_errorf(errmsg, MA_ERR_CORRUPT,
		               "WAL segment %s offset 0: %s; the log cannot "
		               "be opened: restore this file or re-bootstrap",
		               path, reason);
		goto fail;
	}
	if (!wal_seg_name_parse(name, &name_index) ||
	    name_index != h->first_index) {
		rc = ma_errorf(errmsg, MA_ERR_CORRUPT,
		               "WAL segment %s offset 16: header first index "
		               "%" PRIu64 " does not match the file name",
		               path, h->first_index);
		goto fail;
	}
	if (identity != NULL && !wal_identity_equal(identity, &h->identity)) {
		wal_identity_format_uuid(identity, want_uuid);
		wal_identity_format_uuid(&h->identity, got_uuid);
		rc = ma_errorf(errmsg, MA_ERR_IDENTITY,
		               "WAL segment %s belongs to cluster %s database "
		               "'%s', expected cluster %s database '%s': "
		               "wrong directory?",
		               path, got_uuid, h->identity.database_id,
		               want_uuid, identity->database_id);
		goto fail;
	}
	return 0;

fail:
	close(*fd);
	*fd = -1;
	return rc;
}

static int push_offset(struct wal_seg *seg, uint64_t off)
{
	if (!seg->collect)
		return 0;
	if (seg->count == seg->cap) {
		size_t ncap = seg->cap ? seg->cap * 2 : 1024;
		uint32_t *no = realloc(seg->offsets, ncap * sizeof *no);
		if (no == NULL)
			return MA_ERR_NOMEM;
		seg->offsets = no;
		seg->cap = ncap;
	}
	seg->offsets[seg->count] = (uint32_t)off;
	return 0;
}

/* True when a complete, CRC-valid record starts at off (index unchecked). */
static int valid_record_at(int fd, struct wal_window *w, uint64_t off,
                           uint64_t size, struct wal_rec_header *h)
{
	const uint8_t *p;
	const char *reason;
	ssize_t n;
	uint64_t rsize;

	n = wal_window_get(fd, w, off, WAL_REC_HEADER_SIZE, &p);
	if (n < 0)
		return (int)n;
	if (n < WAL_REC_HEADER_SIZE || wal_rec_header_decode(p, h, &reason))
		return 0;
	rsize = wal_rec_size(h->len);
	if (h->index == 0 || off + rsize > size)
		return 0;
	n = wal_window_get(fd, w, off, (size_t)rsize, &p);
	if (n < 0)
		return (int)n;
	return (uint64_t)n == rsize && wal_rec_crc_ok(p, h);
}

int wal_seg_scan(int fd, const char *path, struct wal_seg *seg,
                 struct wal_window *w, struct wal_tail *tail, char *errmsg)
{
	struct wal_rec_header h;
	const char *reason;
	struct stat st;
	uint64_t off = seg->end, size, resync;
	const uint8_t *p;
	ssize_t n;
	int rc;

	memset(tail, 0, sizeof *tail);
	if (fstat(fd, &st) != 0) {
		rc = errno;
		return ma_errorf(errmsg, ma_error_from_errno(rc),
		                 "cannot stat WAL segment %s: %s", path,
		                 strerror(rc));
	}
	size = (uint64_t)st.st_size;
	tail->file_size = size;
	resync = 0;
	if (size > UINT32_MAX)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "WAL segment %s is %" PRIu64
		                 " bytes, more than a segment can hold",
		                 path, size);
	for (;;) {
		uint64_t want = seg->first_index + seg->count, rsize;

		if (off >= size) {
			tail->clean = off == size;
			break;
		}
		n = wal_window_get(fd, w, off, WAL_REC_HEADER_SIZE, &p);
		if (n < 0)
			goto io_error;
		if (n < WAL_REC_HEADER_SIZE) {
			snprintf(tail->reason, sizeof tail->reason,
			         "partial record header (%zd bytes)", n);
			break;
		}
		if (wal_rec_header_decode(p, &h, &reason) != 0) {
			snprintf(tail->reason, sizeof tail->reason, "%s",
			         reason);
			break;
		}
		if (h.index != want) {
			if (h.index == 0 && h.len == 0 && h.crc == 0)
				snprintf(tail->reason, sizeof tail->reason,
				         "zeroed bytes instead of a record");
			else
				snprintf(tail->reason, sizeof tail->reason,
				         "record index %" PRIu64
				         " where %" PRIu64 " was expected",
				         h.index, want);
			break;
		}
		rsize = wal_rec_size(h.len);
		/* The header names itself the next record: its length is
		 * where the next boundary is, so nothing inside its payload
		 * (which may carry a record image) can be one. */
		resync = off + rsize;
		if (off + rsize > size) {
			snprintf(tail->reason, sizeof tail->reason,
			         "partial record (%" PRIu64 " of %" PRIu64
			         " bytes)",
			         size - off, rsize);
			break;
		}
		n = wal_window_get(fd, w, off, (size_t)rsize, &p);
		if (n < 0)
			goto io_error;
		if ((uint64_t)n < rsize) {
			snprintf(tail->reason, sizeof tail->reason,
			         "file shrank while reading");
			break;
		}
		if (!wal_rec_crc_ok(p, &h)) {
			snprintf(tail->reason, sizeof tail->reason,
			         "record CRC32C mismatch (index %" PRIu64 ")",
			         h.index);
			break;
		}
		if (h.term < seg->last_term) {
			snprintf(tail->reason, sizeof tail->reason,
			         "term %" PRIu64
			         " below previous term %" PRIu64,
			         h.term, seg->last_term);
			break;
		}
		if (push_offset(seg, off) != 0)
			return ma_errorf(errmsg, MA_ERR_NOMEM,
			                 "out of memory indexing %s", path);
		seg->count++;
		seg->last_term = h.term;
		off += rsize;
	}
	seg->end = off;
	tail->off = off;
	if (tail->clean)
		return 0;
	/* Is anything valid left after the bad spot? Records are aligned, so
	 * only aligned offsets need checking; when the bad record's header
	 * was intact and named the expected index, only offsets from its end
	 * on are record boundaries (a payload may hold CRC-valid record
	 * images: a torn write of such an entry is a torn tail, not valid
	 * data after the bad spot). Otherwise every aligned offset after it
	 * is a candidate (refusing rather than dropping). */
	if (resync <= off)
		resync = off + WAL_REC_ALIGN;
	for (uint64_t o = resync; o + WAL_REC_HEADER_SIZE <= size;
	     o += WAL_REC_ALIGN) {
		rc = valid_record_at(fd, w, o, size, &h);
		if (rc < 0) {
			n = rc;
			goto io_error;
		}
		if (rc > 0) {
			tail->valid_after = true;
			tail->after_off = o;
			tail->after_index = h.index;
			break;
		}
	}
	return 0;

io_error:
	return ma_errorf(errmsg, (int)n, "cannot read WAL segment %s: %s", path,
	                 ma_strerror((int)n));
}

int wal_seg_check_tail(const char *path, const struct wal_tail *tail,
                       bool is_last, char *errmsg)
{
	if (tail->clean)
		return 0;
	if (tail->valid_after)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "WAL segment %s offset %" PRIu64
		                 ": %s, but a valid record (index %" PRIu64
		                 ") follows at offset %" PRIu64
		                 ": mid-log corruption, refusing to go on; "
		                 "restore the file or re-bootstrap this log",
		                 path, tail->off, tail->reason,
		                 tail->after_index, tail->after_off);
	if (!is_last)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "WAL segment %s offset %" PRIu64
		                 ": %s in a sealed (non-last) segment: "
		                 "refusing to go on; restore the file or "
		                 "re-bootstrap this log",
		                 path, tail->off, tail->reason);
	return 0;
}

int wal_seg_create(const char *dir, uint64_t first_index,
                   const struct wal_identity *identity, char *errmsg)
{
	uint8_t buf[WAL_SEG_HEADER_SIZE];
	struct wal_seg_header h;
	char name[WAL_SEG_NAME_SIZE];
	int rc;

	h.first_index = first_index;
	h.identity = *identity;
	wal_seg_header_encode(&h, buf);
	wal_seg_name(name, first_index);
	rc = io_write_file_durable(dir, name, buf, sizeof buf, errmsg);
	if (rc != 0)
		return ma_errwrapf(errmsg, rc, "cannot create WAL segment");
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int wal_seg_list(const char *dir, uint64_t **firsts, size_t *n, char *errmsg)
{
	struct dirent *de;
	uint64_t *v = NULL, first;
	size_t len = 0, cap = 0;
	DIR *d;
	int err;

	*firsts = NULL;
	*n = 0;
	d = opendir(dir);
	if (d == NULL) {
		err = errno;
		return ma_errorf(
		    errmsg,
		    err == ENOENT ? MA_ERR_NOTFOUND : ma_error_from_errno(err),
		    "cannot list WAL directory %s: %s", dir, strerror(err));
	}
	while ((de = readdir(d)) != NULL) {
		if (!wal_seg_name_parse(de->d_name, &first))
			continue;
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			uint64_t *nv = realloc(v, ncap * sizeof *nv);
			if (nv == NULL) {
				free(v);
				closedir(d);
				return ma_errorf(errmsg, MA_ERR_NOMEM,
				                 "out of memory listing %s",
				                 dir);
			}
			v = nv;
			cap = ncap;
		}
		v[len++] = first;
	}
	closedir(d);
	if (len > 1)
		qsort(v, len, sizeof *v, cmp_u64);
	*firsts = v;
	*n = len;
	return 0;
}

void wal_dir_free(struct wal_dir *d)
{
	for (size_t i = 0; i < d->nsegs; i++)
		wal_seg_free(&d->segs[i]);
	free(d->segs);
	memset(d, 0, sizeof *d);
}

int wal_dir_load(const char *dir, const struct wal_identity *expect,
                 bool collect, struct wal_dir *d, char *errmsg)
{
	struct wal_window w;
	uint64_t *firsts = NULL;
	size_t n = 0;
	int rc, fd = -1;

	memset(d, 0, sizeof *d);
	wal_window_init(&w);
	rc = wal_seg_list(dir, &firsts, &n, errmsg);
	if (rc != 0)
		return rc;
	if (n > 0) {
		d->segs = calloc(n, sizeof *d->segs);
		if (d->segs == NULL) {
			rc = ma_errorf(errmsg, MA_ERR_NOMEM,
			               "out of memory loading %s", dir);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct wal_seg *seg = &d->segs[i];
		struct wal_seg_header h;
		char name[WAL_SEG_NAME_SIZE], path[4096];
		bool last = i + 1 == n;

		wal_seg_name(name, firsts[i]);
		wal_seg_init(seg, name, firsts[i], collect);
		d->nsegs = i + 1;
		snprintf(path, sizeof path, "%s/%s", dir, name);
		rc = wal_seg_open(dir, name, O_RDONLY,
		                  d->have_identity ? &d->identity : expect, &fd,
		                  &h, errmsg);
		if (rc != 0)
			goto out;
		if (!d->have_identity) {
			d->identity = h.identity;
			d->have_identity = true;
		}
		if (i > 0) {
			struct wal_seg *prev = &d->segs[i - 1];
			uint64_t next = prev->first_index + prev->count;

			if (next != seg->first_index) {
				rc = ma_errorf(
				    errmsg, MA_ERR_CORRUPT,
				    "WAL segment %s/%s offset %" PRIu64
				    ": ends before index %" PRIu64
				    " but the next segment %s starts at "
				    "%" PRIu64
				    ": entries are missing; restore the "
				    "files or re-bootstrap this log",
				    dir, prev->name, prev->end, next, name,
				    seg->first_index);
				goto out;
			}
		}
		/* Terms never decrease across segments either: the first
		 * record of this one is held to the last term of the one
		 * before. */
		if (i > 0)
			seg->last_term = d->segs[i - 1].last_term;
		wal_window_reset(&w);
		rc = wal_seg_scan(fd, path, seg, &w, &d->tail, errmsg);
		if (rc == 0)
			rc = wal_seg_check_tail(path, &d->tail, last, errmsg);
		close(fd);
		fd = -1;
		if (rc != 0)
			goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(firsts);
	wal_window_free(&w);
	if (rc != 0)
		wal_dir_free(d);
	return rc;
}
