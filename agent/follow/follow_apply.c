/* The mirror's read-only state fed from its local wal (follow_apply.h). */
#include "agent/follow/follow_apply.h"

#include <inttypes.h>
#include <stdint.h>

#include "agent/apply/applier.h"
#include "common/errors.h"
#include "common/log.h"
#include "snapshot/snapshot.h"
#include "wal/wal.h"

bool follow_apply_durable(struct follow_apply *fa, struct wal_log *wal)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct applier *a = fa->applier;
	uint64_t durable, before;
	int rc = 0;

	if (a == NULL || wal == NULL || applier_error(a) != NULL)
		return false;
	durable = wal_log_durable_index(wal);
	before = applier_applied_index(a);
	if (durable <= before)
		return false;
	if (!applier_needs_data(a)) {
		for (uint64_t i = before + 1; i <= durable && rc == 0; i++)
			rc = applier_apply(a, i, 0, WAL_ENTRY_BARRIER, NULL, 0,
			                   errmsg);
		return true;
	}
	if (fa->reader == NULL) {
		rc = wal_log_reader_open(wal, &fa->reader, errmsg);
		if (rc != 0) {
			applier_fail(a, rc, errmsg);
			return false;
		}
	}
	for (int tries = 0; applier_applied_index(a) < durable;) {
		uint64_t next = applier_applied_index(a) + 1;
		struct wal_entry e;

		if (wal_reader_position(fa->reader) != next)
			rc = wal_reader_seek(fa->reader, next, errmsg);
		if (rc == 0)
			rc = wal_reader_next(fa->reader, &e, errmsg);
		if (rc == 0 && e.index != next)
			rc = ma_errorf(errmsg, MA_ERR_CORRUPT,
			               "wal reader returned entry %" PRIu64
			               " instead of %" PRIu64,
			               e.index, next);
		if (rc == MA_ERR_AGAIN || rc == MA_ERR_NOTFOUND ||
		    rc == MA_ERR_DIVERGED) {
			/* A stale view (new segment, reset): refresh, and
			 * seek again. Bounded: the entry is durable. */
			if (++tries > 3)
				break;
			rc = wal_reader_refresh(fa->reader, errmsg);
			if (rc == 0)
				rc = wal_reader_seek(fa->reader, next, errmsg);
			continue;
		}
		if (rc == MA_ERR_COMPACTED) {
			rc = ma_errorf(
			    errmsg, MA_ERR_COMPACTED,
			    "the local wal starts at %" PRIu64
			    ", after the applied index %" PRIu64
			    " (no snapshot covers the entries between)",
			    wal_reader_first_index(fa->reader), next - 1);
			break;
		}
		if (rc != 0)
			break;
		tries = 0;
		rc = applier_apply(a, e.index, e.term, e.type, e.data, e.len,
		                   errmsg);
		if (rc != 0)
			break;
		fa->applied_bytes += e.len;
	}
	/* Whatever stopped it (an unreadable or compacted wal included),
	 * the applier is now behind for good: fail it, so reads answer the
	 * error rather than stale data and this is not retried per batch. */
	if (rc != 0 && rc != MA_ERR_AGAIN && rc != MA_ERR_NOTFOUND &&
	    rc != MA_ERR_DIVERGED && applier_error(a) == NULL)
		applier_fail(a, rc, errmsg);
	return applier_applied_index(a) != before;
}

/* Restores the applier from the newest local snapshot (none: empty
 * state), then replays the durable wal after it. */
bool follow_apply_restore(struct follow_apply *fa, struct snapshot_store *store,
                          struct wal_log *wal)
{
	char errmsg[MA_ERRMSG_SIZE], path[4096];
	struct snapshot_meta meta;
	int rc;

	if (fa->applier == NULL)
		return false;
	if (store == NULL) {
		applier_reset(fa->applier, errmsg);
		return true;
	}
	rc = snapshot_store_latest(store, &meta, errmsg);
	if (rc == MA_ERR_NOTFOUND) {
		applier_reset(fa->applier, errmsg);
		meta.id.index = 0;
	} else if (rc == 0) {
		rc = snapshot_store_path(store, meta.id.index, meta.id.term,
		                         path, sizeof path);
		if (rc == 0)
			rc = applier_restore_file(fa->applier, path,
			                          meta.id.index, errmsg);
		else
			applier_fail(fa->applier, rc, "snapshot path too long");
	} else {
		applier_fail(fa->applier, rc, errmsg);
	}
	if (rc != 0 && rc != MA_ERR_NOTFOUND)
		return true;
	follow_apply_durable(fa, wal);
	if (applier_error(fa->applier) == NULL)
		log_info(
		    "%s: %s applier at index %" PRIu64 " (snapshot %" PRIu64
		    ", %" PRIu64 " wal entries replayed)",
		    fa->name, applier_kind_name(applier_get_kind(fa->applier)),
		    applier_applied_index(fa->applier), meta.id.index,
		    applier_applied_index(fa->applier) - meta.id.index);
	return true;
}

void follow_apply_close(struct follow_apply *fa)
{
	wal_reader_close(fa->reader);
	fa->reader = NULL;
	applier_free(fa->applier);
	fa->applier = NULL;
}
