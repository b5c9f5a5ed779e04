/* wal: the durable mark (wal.durable, docs/FORMAT.md 1.6). A persisted
 * lower bound on the log's durable index, written when a writer closes
 * cleanly and when it fail-stops, so that a restart can tell a damaged
 * durable record from a torn tail, and does not take records that only
 * ever reached the page cache (an fdatasync that failed) for durable. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "common/io.h"
#include "wal/wal_segment.h"

#define MARK_TEXT_MAX 128

int wal_mark_read(const char *dir, struct wal_mark *m, char *errmsg)
{
	char path[4096], canon[MARK_TEXT_MAX], text[MARK_TEXT_MAX];
	unsigned crc = 0, failed = 0;
	int n, used = 0, rc;
	size_t len;
	void *buf;

	memset(m, 0, sizeof *m);
	if (io_path_join(path, sizeof path, dir, WAL_MARK_FILE) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 dir);
	rc = io_read_file(path, MARK_TEXT_MAX - 1, &buf, &len, errmsg);
	if (rc == MA_ERR_NOTFOUND)
		return 0;
	if (rc != 0)
		return ma_errwrapf(errmsg,
		                   rc == MA_ERR_LIMIT ? MA_ERR_CORRUPT : rc,
		                   "cannot read the WAL's durable mark");
	memcpy(text, buf, len);
	text[len] = '\0';
	free(buf);
	n = sscanf(text, "durable_index=%" SCNu64 "\nfailed=%u\ncrc32c=%8x\n%n",
	           &m->index, &failed, &crc, &used);
	m->failed = failed != 0;
	/* Only exactly what wal_mark_write() writes is a mark. */
	if (n != 3 || (size_t)used != len || failed > 1 ||
	    wal_mark_format(m->index, m->failed, canon) != (int)len ||
	    memcmp(canon, text, len) != 0) {
		memset(m, 0, sizeof *m);
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s is damaged (not the text the writer "
		                 "writes, or a bad CRC): restore it or remove "
		                 "it after checking the log with `mirror-agent "
		                 "wal verify`",
		                 path);
	}
	m->present = true;
	return 0;
}

int wal_mark_format(uint64_t index, bool failed, char out[MARK_TEXT_MAX])
{
	char body[MARK_TEXT_MAX];
	int n = snprintf(body, sizeof body,
	                 "durable_index=%" PRIu64 "\nfailed=%d\n", index,
	                 failed ? 1 : 0);

	return snprintf(out, MARK_TEXT_MAX, "%scrc32c=%08x\n", body,
	                crc32c(body, (size_t)n));
}

int wal_mark_write(const char *dir, uint64_t index, bool failed, char *errmsg)
{
	char text[MARK_TEXT_MAX];
	int n = wal_mark_format(index, failed, text);
	int rc =
	    io_write_file_durable(dir, WAL_MARK_FILE, text, (size_t)n, errmsg);

	if (rc != 0)
		return ma_errwrapf(errmsg, rc,
		                   "cannot write the WAL's durable mark");
	return 0;
}

int wal_mark_check(const char *dir, const struct wal_mark *m,
                   const struct wal_dir *d, char *errmsg)
{
	const struct wal_seg *s = d->nsegs > 0 ? &d->segs[d->nsegs - 1] : NULL;
	uint64_t last = s != NULL ? s->first_index + s->count - 1 : 0;
	bool torn = s != NULL && !d->tail.clean;

	if (!m->present || last >= m->index)
		return 0;
	return ma_errorf(
	    errmsg, MA_ERR_CORRUPT,
	    "WAL %s: entries up to %" PRIu64 " were durable (%s/" WAL_MARK_FILE
	    ") but the valid log ends at %" PRIu64 "%s%s%s%s%s: "
	    "a durable record is damaged or missing, not a torn "
	    "tail; nothing was modified: restore the files or "
	    "re-bootstrap this log",
	    dir, m->index, dir, last, torn ? " (" : "", torn ? s->name : "",
	    torn ? ": " : "", torn ? d->tail.reason : "", torn ? ")" : "");
}
