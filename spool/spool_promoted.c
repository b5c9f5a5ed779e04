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

int spool_promoted_format(const struct spool_promoted *p,
                          char out[SPOOL_PROMOTED_TEXT_MAX], char *errmsg)
{
	char body[SPOOL_PROMOTED_TEXT_MAX];
	int n;

	if (!parse_name_valid_str(p->from.cluster_id) ||
	    !parse_name_valid_str(p->from.database_id) ||
	    !token_valid(p->incarnation, sizeof p->incarnation) ||
	    !token_valid(p->fingerprint, sizeof p->fingerprint) ||
	    p->unix_ms < 0)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "invalid promoted record (cluster id '%s', "
		                 "database '%s')",
		                 p->from.cluster_id, p->from.database_id);
	n = snprintf(body, sizeof body,
	             "from_cluster_id=%s\nfrom_database_id=%s\n"
	             "from_epoch=%" PRIu64 "\nepoch=%" PRIu64
	             "\nincarnation=%s\nindex=%" PRIu64 "\nterm=%" PRIu64
	             "\nfingerprint=%s\nsource_commit_index=%" PRIu64
	             "\nunix_ms=%" PRId64 "\n",
	             p->from.cluster_id, p->from.database_id, p->from.epoch,
	             p->epoch, p->incarnation, p->index, p->term,
	             p->fingerprint, p->source_commit_index, p->unix_ms);
	if (n < 0 || (size_t)n >= sizeof body - 16)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "promoted record too long");
	n = snprintf(out, SPOOL_PROMOTED_TEXT_MAX, "%scrc32c=%08x\n", body,
	             crc32c(body, (size_t)n));
	if (n < 0 || (size_t)n >= SPOOL_PROMOTED_TEXT_MAX)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "promoted record too long");
	return n;
}

int spool_promoted_parse(const char *text, size_t len, struct spool_promoted *p,
                         char *errmsg)
{
	char copy[SPOOL_PROMOTED_TEXT_MAX], canon[SPOOL_PROMOTED_TEXT_MAX];
	const char *crcline;
	unsigned crc;
	int n;

	memset(p, 0, sizeof *p);
	if (len >= sizeof copy || memchr(text, '\0', len) != NULL)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "not a promoted record (%zu bytes%s)", len,
		                 len >= sizeof copy ? ", too long"
		                                    : ", has NULs");
	memcpy(copy, text, len);
	copy[len] = '\0';
	crcline = strstr(copy, "crc32c=");
	if (crcline == NULL || sscanf(crcline, "crc32c=%8x\n", &crc) != 1 ||
	    crc32c(copy, (size_t)(crcline - copy)) != crc)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "promoted record: missing or wrong crc32c "
		                 "line (file damaged or edited)");
	n = sscanf(copy,
	           "from_cluster_id=%36[^\n]\nfrom_database_id=%64[^\n]\n"
	           "from_epoch=%" SCNu64 "\nepoch=%" SCNu64
	           "\nincarnation=%36[^\n]\nindex=%" SCNu64 "\nterm=%" SCNu64
	           "\nfingerprint=%23[^\n]\nsource_commit_index=%" SCNu64
	           "\nunix_ms=%" SCNd64 "\n",
	           p->from.cluster_id, p->from.database_id, &p->from.epoch,
	           &p->epoch, p->incarnation, &p->index, &p->term,
	           p->fingerprint, &p->source_commit_index, &p->unix_ms);
	/* sscanf alone would take "-1", "+1" or " 1": only the canonical
	 * text counts. */
	if (n != 10 || spool_promoted_format(p, canon, NULL) != (int)len ||
	    memcmp(canon, copy, len) != 0) {
		memset(p, 0, sizeof *p);
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "malformed promoted record");
	}
	return 0;
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

int spool_promoted_read(const char *dir, struct spool_promoted *p, char *errmsg)
{
	char path[4096];
	size_t len;
	void *buf;
	int rc;

	memset(p, 0, sizeof *p);
	rc = spool_text_read(dir, SPOOL_PROMOTED_FILE, SPOOL_PROMOTED_TEXT_MAX,
	                     "promoted record", "not promoted", path, &buf,
	                     &len, errmsg);
	if (rc != 0)
		return rc;
	rc = spool_promoted_parse(buf, len, p, errmsg);
	free(buf);
	if (rc != 0)
		return ma_errwrapf(errmsg, rc, "%s", path);
	return 0;
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

int spool_source_commit_read(const char *dir, uint64_t *index, char *errmsg)
{
	static const char key[] = "source_commit_index=";
	char path[4096], why[PARSE_WHY_SIZE];
	size_t len, k = sizeof key - 1;
	void *buf;
	int rc;

	*index = 0;
	rc = spool_text_read(
	    dir, SPOOL_SOURCE_COMMIT_FILE, 64, "the last source commit index",
	    "no source commit index recorded", path, &buf, &len, errmsg);
	if (rc != 0)
		return rc;
	if (len <= k + 1 || memcmp(buf, key, k) != 0 ||
	    ((char *)buf)[len - 1] != '\n' ||
	    parse_uint64_len((char *)buf + k, len - k - 1, index, why) != 0)
		rc = ma_errorf(errmsg, MA_ERR_CORRUPT,
		               "%s: not one line source_commit_index=N; remove "
		               "it (it is only the RPO figure's hint)",
		               path);
	free(buf);
	return rc;
}
