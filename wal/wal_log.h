/* wal: the writer's state (internal to wal/), shared by wal_log.c, the
 * notification glue in wal_notify.c and readers bound to a log. */
#ifndef MIRROR_WAL_WAL_LOG_H
#define MIRROR_WAL_WAL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wal/wal.h"
#include "wal/wal_segment.h"

struct wal_log {
	char *dir;
	struct wal_options opts;
	int lock_fd;
	struct wal_seg *segs; /* by first index; the last one is appended to */
	size_t nsegs, cap;
	int fd;             /* last segment, read-write; -1 when none */
	int rfd;            /* cached read fd of a sealed segment */
	uint64_t rfd_first; /* first index of that segment */
	uint64_t last_term;
	uint64_t durable_index;
	bool pending; /* appended bytes not yet fdatasynced */
	uint64_t pending_since_ms;
	uint64_t unsynced_bytes;
	/* The budget rule (wal.h, struct wal_options): when the last
	 * fdatasync ended (synced: there was one), the moving average of
	 * their durations, and the last now_ms seen (the stamp without a
	 * clock). */
	bool synced;
	uint64_t sync_end_us;
	uint64_t sync_ewma_us;
	uint64_t now_ms;
	uint64_t syncs, sync_total_us;
	bool failed;
	/* The durable mark on disk (wal_mark.c): what it says, so that
	 * truncations lower it before they remove what it covers. */
	bool opened; /* wal_log_open succeeded: close writes the mark */
	bool mark_present;
	uint64_t mark_index;
	bool mark_failed; /* a failed-stop mark was written */
	uint8_t *wbuf, *rbuf;
	size_t wcap, rcap;
	int event_fd;
	wal_notify_cb cb;
	void *cb_arg;
};

/* wal_notify.c: wakes same-process followers (eventfd and callback). */
void wal_notify_signal(struct wal_log *log);
void wal_notify_close(struct wal_log *log);

#endif
