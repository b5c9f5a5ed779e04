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
#include "common/kvtext.h"
#include "spool/spool.h"

/* The leader line's values, by (is_leader, leader_known). */
static const char *leader_word(const struct spool_freshness *f)
{
	return f->is_leader ? "self" : f->leader_known ? "known" : "none";
}

int spool_freshness_format(const struct spool_freshness *f,
                           char out[SPOOL_FRESHNESS_TEXT_MAX], char *errmsg)
{
	int n;

	if (f->leader_contact_ms < 0 || f->written_ms < 0 ||
	    (f->is_leader && !f->leader_known))
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "invalid freshness record (contact %" PRId64
		                 ", written %" PRId64 ")",
		                 f->leader_contact_ms, f->written_ms);
	n = snprintf(out, SPOOL_FRESHNESS_TEXT_MAX,
	             "leader=%s\nleader_contact_ms=%" PRId64
	             "\ncommit_index=%" PRIu64 "\nwritten_ms=%" PRId64 "\n",
	             leader_word(f), f->leader_contact_ms, f->commit_index,
	             f->written_ms);
	if (n < 0 ||
	    (n = kvtext_seal(out, (size_t)n, SPOOL_FRESHNESS_TEXT_MAX)) < 0)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "freshness record too long");
	return n;
}

int spool_freshness_parse(const char *text, size_t len,
                          struct spool_freshness *f, char *errmsg)
{
	char leader[8] = "";
	uint64_t contact = 0, written = 0;
	const struct kvtext_field fields[] = {
	    {"leader", KVTEXT_STR, 0, 5, leader, 0, NULL},
	    {"leader_contact_ms", KVTEXT_U64, 0, INT64_MAX, &contact, 0, NULL},
	    {"commit_index", KVTEXT_U64, 0, 0, &f->commit_index, 0, NULL},
	    {"written_ms", KVTEXT_U64, 0, INT64_MAX, &written, 0, NULL},
	    {"crc32c", KVTEXT_CRC32C, 0, 0, NULL, 0, NULL},
	};
	const struct kvtext_format fmt = {"freshness record", NULL,
	                                  SPOOL_FRESHNESS_TEXT_MAX - 1, fields,
	                                  sizeof fields / sizeof fields[0]};
	int rc;

	memset(f, 0, sizeof *f);
	rc = kvtext_parse(&fmt, text, len, errmsg);
	if (rc == 0) {
		f->is_leader = strcmp(leader, "self") == 0;
		f->leader_known = f->is_leader || strcmp(leader, "known") == 0;
		f->leader_contact_ms = (int64_t)contact;
		f->written_ms = (int64_t)written;
		if (strcmp(leader, leader_word(f)) != 0)
			rc = ma_errorf(errmsg, MA_ERR_CORRUPT,
			               "freshness record line 1 (leader): "
			               "\"%s\" is none of self, known, none",
			               leader);
	}
	if (rc != 0)
		memset(f, 0, sizeof *f);
	return rc;
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

static int freshness_parse(const char *text, size_t len, void *f, char *errmsg)
{
	return spool_freshness_parse(text, len, f, errmsg);
}

int spool_freshness_read(const char *dir, struct spool_freshness *f,
                         char *errmsg)
{
	memset(f, 0, sizeof *f);
	return spool_record_read(dir, SPOOL_FRESHNESS_FILE,
	                         SPOOL_FRESHNESS_TEXT_MAX, "freshness record",
	                         "no freshness record", freshness_parse, f,
	                         errmsg);
}
