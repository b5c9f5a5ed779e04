/* The promoted record (spool/spool.h): the commit point of a mirror's
 * promotion to a source of its own. The same text form as the identity
 * file (key=value lines and a CRC line over them), and the same strictness:
 * only the exact text the formatter writes is accepted, so a torn or
 * hand-edited record is refused rather than half trusted. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/kvtext.h"
#include "common/parse.h"
#include "spool/spool.h"

/* Fingerprints and incarnations are tokens: letters, digits, ':' and '-'. */
static bool token_valid(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (n == 0 || n == max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == ':' || ch == '-'))
			return false;
	}
	return true;
}

/* What spool_promoted_format() refuses to write (and the parser to read). */
static int promoted_check(const struct spool_promoted *p, char *errmsg)
{
	if (!parse_name_valid_str(p->from.cluster_id) ||
	    !parse_name_valid_str(p->from.database_id) ||
	    !token_valid(p->incarnation, sizeof p->incarnation) ||
	    !token_valid(p->fingerprint, sizeof p->fingerprint) ||
	    p->unix_ms < 0)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "invalid promoted record (cluster id '%s', "
		                 "database '%s')",
		                 p->from.cluster_id, p->from.database_id);
	return 0;
}

int spool_promoted_format(const struct spool_promoted *p,
                          char out[SPOOL_PROMOTED_TEXT_MAX], char *errmsg)
{
	int n, rc;

	rc = promoted_check(p, errmsg);
	if (rc != 0)
		return rc;
	n = snprintf(out, SPOOL_PROMOTED_TEXT_MAX,
	             "from_cluster_id=%s\nfrom_database_id=%s\n"
	             "from_epoch=%" PRIu64 "\nepoch=%" PRIu64
	             "\nincarnation=%s\nindex=%" PRIu64 "\nterm=%" PRIu64
	             "\nfingerprint=%s\nsource_commit_index=%" PRIu64
	             "\nunix_ms=%" PRId64 "\n",
	             p->from.cluster_id, p->from.database_id, p->from.epoch,
	             p->epoch, p->incarnation, p->index, p->term,
	             p->fingerprint, p->source_commit_index, p->unix_ms);
	if (n < 0 ||
	    (n = kvtext_seal(out, (size_t)n, SPOOL_PROMOTED_TEXT_MAX)) < 0)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "promoted record too long");
	return n;
}

int spool_promoted_parse(const char *text, size_t len, struct spool_promoted *p,
                         char *errmsg)
{
	uint64_t unix_ms = 0;
	const struct kvtext_field fields[] = {
	    {"from_cluster_id", KVTEXT_STR, 0, PROTO_CLUSTER_ID_LEN,
	     p->from.cluster_id, 0, NULL},
	    {"from_database_id", KVTEXT_STR, 0, PROTO_DATABASE_ID_MAX,
	     p->from.database_id, 0, NULL},
	    {"from_epoch", KVTEXT_U64, 0, 0, &p->from.epoch, 0, NULL},
	    {"epoch", KVTEXT_U64, 0, 0, &p->epoch, 0, NULL},
	    {"incarnation", KVTEXT_STR, 0, sizeof p->incarnation - 1,
	     p->incarnation, 0, NULL},
	    {"index", KVTEXT_U64, 0, 0, &p->index, 0, NULL},
	    {"term", KVTEXT_U64, 0, 0, &p->term, 0, NULL},
	    {"fingerprint", KVTEXT_STR, 0, sizeof p->fingerprint - 1,
	     p->fingerprint, 0, NULL},
	    {"source_commit_index", KVTEXT_U64, 0, 0, &p->source_commit_index,
	     0, NULL},
	    {"unix_ms", KVTEXT_U64, 0, INT64_MAX, &unix_ms, 0, NULL},
	    {"crc32c", KVTEXT_CRC32C, 0, 0, NULL, 0, NULL},
	};
	const struct kvtext_format fmt = {"promoted record", NULL,
	                                  SPOOL_PROMOTED_TEXT_MAX - 1, fields,
	                                  sizeof fields / sizeof fields[0]};
	int rc;

	memset(p, 0, sizeof *p);
	rc = kvtext_parse(&fmt, text, len, errmsg);
	p->unix_ms = (int64_t)unix_ms;
	if (rc == 0 && promoted_check(p, errmsg) != 0)
		rc = ma_errwrapf(errmsg, MA_ERR_CORRUPT, "promoted record");
	if (rc != 0)
		memset(p, 0, sizeof *p);
	return rc;
}

int spool_promoted_write(const char *dir, const struct spool_promoted *p,
                         char *errmsg)
{
	char text[SPOOL_PROMOTED_TEXT_MAX];
	int n, rc;

	n = spool_promoted_format(p, text, errmsg);
	if (n < 0)
		return n;
	rc = io_write_file_durable(dir, SPOOL_PROMOTED_FILE, text, (size_t)n,
	                           errmsg);
	if (rc != 0)
		return ma_errwrapf(errmsg, rc, "cannot write promoted record");
	return 0;
}

static int promoted_parse(const char *text, size_t len, void *p, char *errmsg)
{
	return spool_promoted_parse(text, len, p, errmsg);
}

int spool_promoted_read(const char *dir, struct spool_promoted *p, char *errmsg)
{
	memset(p, 0, sizeof *p);
	return spool_record_read(dir, SPOOL_PROMOTED_FILE,
	                         SPOOL_PROMOTED_TEXT_MAX, "promoted record",
	                         "not promoted", promoted_parse, p, errmsg);
}

bool spool_promoted_complete(const struct spool_promoted *p,
                             const struct proto_identity *id)
{
	return strcmp(id->cluster_id, p->from.cluster_id) == 0 &&
	       strcmp(id->database_id, p->from.database_id) == 0 &&
	       id->epoch == p->epoch &&
	       /* Complete once the identity carries the new incarnation. */
	       strcasecmp(id->incarnation, p->incarnation) == 0;
}

/* ---- the last source commit index seen (spool.h) ---- */

int spool_source_commit_write(const char *dir, uint64_t index, char *errmsg)
{
	char text[48];
	int n = snprintf(text, sizeof text, "source_commit_index=%" PRIu64 "\n",
	                 index);

	return io_write_file_replace(dir, SPOOL_SOURCE_COMMIT_FILE, text,
	                             (size_t)n, errmsg);
}

/* One line, leading zeros taken (as parse_uint64 always did). */
static int source_commit_parse(const char *text, size_t len, void *index,
                               char *errmsg)
{
	const struct kvtext_field fields[] = {
	    {"source_commit_index", KVTEXT_U64, KVTEXT_ZEROS, 0, index, 0,
	     NULL},
	};
	const struct kvtext_format fmt = {"the last source commit index", NULL,
	                                  64, fields, 1};
	int rc = kvtext_parse(&fmt, text, len, errmsg);

	if (rc != 0)
		*(uint64_t *)index = 0;
	return rc;
}

int spool_source_commit_read(const char *dir, uint64_t *index, char *errmsg)
{
	int rc;

	*index = 0;
	rc = spool_record_read(dir, SPOOL_SOURCE_COMMIT_FILE, 64,
	                       "the last source commit index",
	                       "no source commit index recorded",
	                       source_commit_parse, index, errmsg);
	if (rc == MA_ERR_CORRUPT && errmsg != NULL) {
		size_t l = strlen(errmsg);

		snprintf(errmsg + l, MA_ERRMSG_SIZE - l,
		         "; remove it (it is only the RPO figure's hint)");
	}
	return rc;
}
