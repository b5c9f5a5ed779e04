/* wal: reader state (internal to wal/), shared with wal_notify.c. */
#ifndef MIRROR_WAL_WAL_READER_H
#define MIRROR_WAL_WAL_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/errors.h"
#include "wal/wal.h"
#include "wal/wal_segment.h"

struct wal_reader {
	char *dir;
	bool check_id; /* identity known (given, or from the first segment) */
	struct wal_identity id;
	struct wal_log *log; /* bound writer in this process, or NULL */
	uint64_t *firsts;    /* the view: segment first indexes, sorted */
	size_t nsegs;
	bool loaded; /* seg/fd hold the segment the position is in */
	int fd;
	dev_t dev;
	ino_t ino;
	struct wal_seg seg;
	struct wal_tail tail;
	struct wal_window win;
	uint64_t pos; /* next index to return; 0: first retained */
	bool had_view;
	int sticky; /* COMPACTED/DIVERGED/CORRUPT until the next seek */
	char sticky_msg[MA_ERRMSG_SIZE];
	int watch_fd;
	bool watch_failed;
};

void wal_reader_watch_close(struct wal_reader *r);

#endif
