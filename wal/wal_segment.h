/* wal: segment file I/O (internal to wal/). Reading and scanning segment
 * files, creating them durably, listing a log directory. The only wal
 * file besides wal_log.c that touches the disk; writes go through
 * common/io.h so fault injection and crash points apply. */
#ifndef MIRROR_WAL_WAL_SEGMENT_H
#define MIRROR_WAL_WAL_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wal/wal.h"
#include "wal/wal_format.h"

/* A read-ahead window over one file, so scans and sequential reads cost
 * one pread() per WAL_WINDOW_SIZE bytes rather than one per record. */
#define WAL_WINDOW_SIZE (1u << 20)
struct wal_window {
	uint8_t *buf;
	size_t cap;
	uint64_t off; /* file offset of buf[0] */
	size_t len;   /* valid bytes in buf */
};

void wal_window_init(struct wal_window *w);
void wal_window_free(struct wal_window *w);
/* Forgets the cached bytes (the file may have changed under us). */
void wal_window_reset(struct wal_window *w);
/* Makes file bytes [off, off+n) available at *p. Returns how many are
 * (less than n only at end of file) or a negative MA_ERR_* code. */
ssize_t wal_window_get(int fd, struct wal_window *w, uint64_t off, size_t n,
                       const uint8_t **p);

/* What is known about one segment file. */
struct wal_seg {
	uint64_t first_index;
	uint64_t count;     /* valid records */
	uint64_t end;       /* offset just past the last valid record */
	uint64_t last_term; /* term of the last valid record, 0 if none */
	uint32_t *offsets;  /* offsets[i] holds record first_index + i */
	size_t cap;
	bool collect; /* fill offsets */
	char name[WAL_SEG_NAME_SIZE];
};

/* Where and why a scan stopped. */
struct wal_tail {
	bool clean;         /* stopped exactly at end of file */
	uint64_t off;       /* offset of the first invalid byte */
	uint64_t file_size; /* size when scanned */
	char reason[96];    /* why the record at off is invalid */
	bool valid_after;   /* a CRC-valid record starts after off */
	uint64_t after_off;
	uint64_t after_index;
};

/* Sets seg up for a file named name whose header says first_index. */
void wal_seg_init(struct wal_seg *seg, const char *name, uint64_t first_index,
                  bool collect);
void wal_seg_free(struct wal_seg *seg);

/* Opens dir/name with flags, reads and checks its header: the index in
 * the name must match the header, and when identity is non-NULL so must
 * the identity. Returns 0 (*fd open, *h filled) or MA_ERR_CORRUPT,
 * MA_ERR_IDENTITY, MA_ERR_IO with errmsg naming the file. */
int wal_seg_open(const char *dir, const char *name, int flags,
                 const struct wal_identity *identity, int *fd,
                 struct wal_seg_header *h, char *errmsg);

/* Reads records of seg from seg->end on, expecting index first_index +
 * count, appending offsets; stops at end of file or at the first invalid
 * record (partial, zeroed, bad CRC, wrong index, term going backwards)
 * and fills *tail, including whether a valid record follows. Returns 0,
 * MA_ERR_CORRUPT (segment larger than 4 GiB), MA_ERR_NOMEM or MA_ERR_IO. */
int wal_seg_scan(int fd, const char *path, struct wal_seg *seg,
                 struct wal_window *w, struct wal_tail *tail, char *errmsg);

/* Applies the recovery rules to a scan result: returns 0 when the tail is
 * clean, or when is_last and no valid record follows (a torn tail);
 * otherwise MA_ERR_CORRUPT with errmsg naming path, offset and reason. */
int wal_seg_check_tail(const char *path, const struct wal_tail *tail,
                       bool is_last, char *errmsg);

/* Creates the empty segment for first_index durably (header written to a
 * temp file, fsynced, renamed, directory fsynced). Returns 0 or
 * MA_ERR_IO/MA_ERR_NOSPACE. */
int wal_seg_create(const char *dir, uint64_t first_index,
                   const struct wal_identity *identity, char *errmsg);

/* Lists segment files in dir sorted by first index (*firsts malloc()ed,
 * NULL when none). Returns 0, MA_ERR_NOTFOUND (no such dir), MA_ERR_IO,
 * MA_ERR_NOMEM. */
int wal_seg_list(const char *dir, uint64_t **firsts, size_t *n, char *errmsg);

/* A whole directory loaded and checked by the recovery rules. */
struct wal_dir {
	struct wal_seg *segs;
	size_t nsegs;
	bool have_identity;
	struct wal_identity identity;
	struct wal_tail tail; /* of the last segment */
};

/* Loads every segment of dir (offsets kept when collect) and checks
 * headers, identity (against expect, or else against the first segment),
 * index continuity across segments and each segment's tail. Modifies
 * nothing; a torn tail of the last segment is left in d->tail. Returns 0
 * or MA_ERR_CORRUPT, MA_ERR_IDENTITY, MA_ERR_IO, MA_ERR_NOMEM,
 * MA_ERR_NOTFOUND. */
int wal_dir_load(const char *dir, const struct wal_identity *expect,
                 bool collect, struct wal_dir *d, char *errmsg);
void wal_dir_free(struct wal_dir *d);

/* The durable mark (wal_mark.c): DIR/wal.durable holds an index every
 * record up to which is known durable, and whether the writer stopped
 * after a failed write or fsync (docs/FORMAT.md 1.6). */
#define WAL_MARK_FILE "wal.durable"
struct wal_mark {
	bool present;
	uint64_t index;
	bool failed;
};
/* Reads the mark; m->present false when there is none. 0, MA_ERR_CORRUPT
 * (damaged: names the file), MA_ERR_IO. */
int wal_mark_read(const char *dir, struct wal_mark *m, char *errmsg);
/* Writes it durably (temp file, fsync, rename, directory fsync). 0 or
 * MA_ERR_IO/MA_ERR_NOSPACE. */
int wal_mark_write(const char *dir, uint64_t index, bool failed, char *errmsg);
/* The file's text (for the reader's exact-match check); its length. */
int wal_mark_format(uint64_t index, bool failed, char out[128]);
/* The rule shared by wal_log_open and wal_verify: records the mark says
 * were durable are never a torn tail, so a loaded log d ending before
 * m->index is corruption. 0, or MA_ERR_CORRUPT naming dir, the mark, the
 * last valid index and the last segment's tail (nothing is modified). */
int wal_mark_check(const char *dir, const struct wal_mark *m,
                   const struct wal_dir *d, char *errmsg);

#endif
