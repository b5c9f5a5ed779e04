#include "spool/spool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/parse.h"

/* identity file: three "key=value" lines and a CRC line over them, so a
 * hand-edited or torn file is caught rather than trusted. */

int spool_path(char *out, size_t size, const char *dir, const char *sub)
{
	int n = snprintf(out, size, "%s/%s", dir, sub);

	return n < 0 || (size_t)n >= size ? MA_ERR_INVAL : 0;
}

bool spool_identity_equal(const struct proto_identity *a,
                          const struct proto_identity *b)
{
	return strcmp(a->cluster_id, b->cluster_id) == 0 &&
	       strcmp(a->database_id, b->database_id) == 0 &&
	       a->epoch == b->epoch;
}

int spool_identity_write(const char *dir, const struct proto_identity *id,
                         bool replace, char *errmsg)
{
	char body[256], text[320], path[4096];
	struct stat st;
	int n, rc;

	if (strlen(id->cluster_id) == 0 ||
	    !parse_name_valid_str(id->database_id))
		return ma_errorf(
		    errmsg, MA_ERR_INVAL,
		    "invalid identity (cluster id '%s', database id '%s')",
		    id->cluster_id, id->database_id);
	rc = io_mkdir_p(dir, 0755, errmsg);
	if (rc != 0)
		return rc;
	if (spool_path(path, sizeof path, dir, SPOOL_IDENTITY_FILE) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 dir);
	if (!replace && stat(path, &st) == 0)
		return ma_errorf(errmsg, MA_ERR_EXISTS, "%s already exists",
		                 path);
	n = snprintf(body, sizeof body,
	             "cluster_id=%s\ndatabase_id=%s\nepoch=%" PRIu64 "\n",
	             id->cluster_id, id->database_id, id->epoch);
	if (n < 0 || (size_t)n >= sizeof body)
		return ma_errorf(errmsg, MA_ERR_INVAL, "identity too long");
	n = snprintf(text, sizeof text, "%scrc32c=%08x\n", body,
	             crc32c(body, (size_t)n));
	rc = io_write_file_durable(dir, SPOOL_IDENTITY_FILE, text, (size_t)n,
	                           errmsg);
	if (rc != 0)
		return ma_errwrapf(errmsg, rc, "cannot write identity file");
	return 0;
}

int spool_identity_read(const char *dir, struct proto_identity *id,
                        char *errmsg)
{
	char path[4096], *text, *crcline;
	unsigned crc;
	size_t len;
	void *buf;
	int rc, n = 0;

	if (spool_path(path, sizeof path, dir, SPOOL_IDENTITY_FILE) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 dir);
	rc = io_read_file(path, 1024, &buf, &len, errmsg);
	if (rc == MA_ERR_NOTFOUND)
		return ma_errorf(errmsg, MA_ERR_NOTFOUND, "%s: no identity yet",
		                 path);
	if (rc != 0)
		return ma_errwrapf(errmsg,
		                   rc == MA_ERR_LIMIT ? MA_ERR_CORRUPT : rc,
		                   "cannot read identity file");
	text = buf;
	memset(id, 0, sizeof *id);
	crcline = strstr(text, "crc32c=");
	if (crcline == NULL || sscanf(crcline, "crc32c=%8x\n", &crc) != 1 ||
	    crc32c(text, (size_t)(crcline - text)) != crc) {
		free(buf);
		return ma_errorf(
		    errmsg, MA_ERR_CORRUPT,
		    "%s: missing or wrong crc32c line (file damaged or edited)",
		    path);
	}
	*crcline = '\0';
	n = sscanf(text,
	           "cluster_id=%36[^\n]\ndatabase_id=%64[^\n]\nepoch=%" SCNu64
	           "\n",
	           id->cluster_id, id->database_id, &id->epoch);
	free(buf);
	if (n != 3 || !parse_name_valid_str(id->database_id))
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s: malformed identity", path);
	return 0;
}

int spool_uuid_generate(char out[PROTO_CLUSTER_ID_LEN + 1])
{
	unsigned char b[16];

	if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
		return MA_ERR_IO;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, PROTO_CLUSTER_ID_LEN + 1,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%"
	         "02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
	         b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}
