/* wal: read-only verification of a log directory (`mirror-agent wal
 * verify`): the recovery rules of wal_log_open without any repair. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "wal/wal.h"
#include "wal/wal_segment.h"

int wal_verify(const char *dir, struct wal_verify_report *rep,
               void (*seg_cb)(void *arg, const struct wal_verify_segment *seg),
               void *arg, char *errmsg)
{
	struct wal_mark mark;
	struct wal_dir d;
	int rc;

	memset(rep, 0, sizeof *rep);
	rc = wal_mark_read(dir, &mark, errmsg);
	if (rc != 0)
		return rc;
	rc = wal_dir_load(dir, NULL, false, &d, errmsg);
	if (rc != 0)
		return rc;
	/* The same rule as wal_log_open. */
	rc = wal_mark_check(dir, &mark, &d, errmsg);
	if (rc != 0) {
		wal_dir_free(&d);
		return rc;
	}
	rep->have_mark = mark.present;
	rep->mark_index = mark.index;
	rep->mark_failed = mark.failed;
	rep->segments = d.nsegs;
	rep->have_identity = d.have_identity;
	rep->identity = d.identity;
	for (size_t i = 0; i < d.nsegs; i++) {
		const struct wal_seg *s = &d.segs[i];
		struct wal_verify_segment vs = {
		    .name = s->name,
		    .first_index = s->first_index,
		    .entries = s->count,
		    .valid_bytes = s->end,
		    .file_bytes = s->end,
		};

		if (i + 1 == d.nsegs)
			vs.file_bytes = d.tail.file_size;
		rep->entries += s->count;
		if (seg_cb != NULL)
			seg_cb(arg, &vs);
	}
	if (d.nsegs > 0) {
		const struct wal_seg *l = &d.segs[d.nsegs - 1];

		rep->first_index = d.segs[0].first_index;
		rep->last_index = l->first_index + l->count - 1;
		if (!d.tail.clean) {
			rep->torn_tail = true;
			snprintf(rep->torn_file, sizeof rep->torn_file, "%s",
			         l->name);
			rep->torn_offset = d.tail.off;
			rep->torn_bytes = d.tail.file_size - d.tail.off;
			snprintf(rep->torn_reason, sizeof rep->torn_reason,
			         "%s", d.tail.reason);
		}
	}
	wal_dir_free(&d);
	return 0;
}
