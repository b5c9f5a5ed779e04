/* The freshness record (spool/spool.h): what the tap's node knows about
 * its cluster. The same strict text form as the identity file: key=value
 * lines and a CRC line over them; only the exact text the formatter writes
 * is accepted. Written often and without fsync: a hint, not a record. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "common/io.h"
#include "spool/spool.h"

int spool_freshness_format(const struct spool_freshness *f,
                           char out[SPOOL_FRESHNESS_TEXT_MAX], char *errmsg)
{
	char body[SPOOL_FRESHNESS_TEXT_MAX];
	int n;

	if (f->leader_contact_ms < 0 || f->written_ms < 0 ||
	    (f->is_leader && !f->leader_known))
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "invalid freshness record (contact %" PRId64
		                 ", written %" PRId64 ")",
		                 f->leader_contact_ms, f->written_ms);
	n = snprintf(body, sizeof body,
	             "leader=%s\nleader_contact_ms=%" PRId64
	             "\ncommit_index=%" PRIu64 "\nwritten_ms=%" PRId64 "\n",
	             f->is_leader      ? "self"
	             : f->leader_known ? "known"
	                               : "none",
	             f->leader_contact_ms, f->commit_index, f->written_ms);
	if (n < 0 || (size_t)n >= sizeof body - 16)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "freshness record too long");
	n = snprintf(out, SPOOL_FRESHNESS_TEXT_MAX, "%scrc32c=%08x\n", body,
	             crc32c(body, (size_t)n));
	if (n < 0 || (size_t)n >= SPOOL_FRESHNESS_TEXT_MAX)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "freshness record too long");
	return n;
}

int spool_freshness_parse(const char *text, size_t len,
                          struct spool_freshness *f, char *errmsg)
{
	char copy[SPOOL_FRESHNESS_TEXT_MAX], canon[SPOOL_FRESHNESS_TEXT_MAX];
	char leader[8];
	const char *crcline;
	unsigned crc;
	int n;

	memset(f, 0, sizeof *f);
	if (len >= sizeof copy || memchr(text, '\0', len) != NULL)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "not a freshness record (%zu bytes%s)", len,
		                 len >= sizeof copy ? ", too long"
		                                    : ", has NULs");
	memcpy(copy, text, len);
	copy[len] = '\0';
	crcline = strstr(copy, "crc32c=");
	if (crcline == NULL || sscanf(crcline, "crc32c=%8x\n", &crc) != 1 ||
	    crc32c(copy, (size_t)(crcline - copy)) != crc)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "freshness record: missing or wrong crc32c "
		                 "line (file damaged or edited)");
	n = sscanf(copy,
	           "leader=%5[a-z]\nleader_contact_ms=%" SCNd64
	           "\ncommit_index=%" SCNu64 "\nwritten_ms=%" SCNd64 "\n",
	           leader, &f->leader_contact_ms, &f->commit_index,
	           &f->written_ms);
	f->is_leader = n >= 1 && strcmp(leader, "self") == 0;
	f->leader_known =
	    f->is_leader || (n >= 1 && strcmp(leader, "known") == 0);
	/* sscanf alone would take "-1", "+1" or " 1": only the canonical
	 * text counts. */
	if (n != 4 || spool_freshness_format(f, canon, NULL) != (int)len ||
	    memcmp(canon, copy, len) != 0) {
		memset(f, 0, sizeof *f);
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "malformed freshness record");
	}
	return 0;
}

int spool_freshness_write(const char *dir, const struct spool_freshness *f,
                          char *errmsg)
{
	char text[SPOOL_FRESHNESS_TEXT_MAX];
	int n, rc;

	n = spool_freshness_format(f, text, errmsg);
	if (n < 0)
		return n;
	rc = io_write_file_replace(dir, SPOOL_FRESHNESS_FILE, text, (size_t)n,
	                           errmsg);
	if (rc != 0)
		return ma_errwrapf(errmsg, rc, "cannot write freshness record");
	return 0;
}

int spool_freshness_read(const char *dir, struct spool_freshness *f,
                         char *errmsg)
{
	char path[4096];
	size_t len;
	void *buf;
	int rc;

	memset(f, 0, sizeof *f);
	rc = spool_text_read(dir, SPOOL_FRESHNESS_FILE,
	                     SPOOL_FRESHNESS_TEXT_MAX, "freshness record",
	                     "no freshness record", path, &buf, &len, errmsg);
	if (rc != 0)
		return rc;
	rc = spool_freshness_parse(buf, len, f, errmsg);
	free(buf);
	if (rc != 0)
		return ma_errwrapf(errmsg, rc, "%s", path);
	return 0;
}
