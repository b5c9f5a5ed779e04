#include "spool/spool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/kvtext.h"
#include "common/parse.h"

/* identity file: three or four "key=value" lines (cluster_id,
 * database_id, epoch, then incarnation when known) and a CRC line over
 * them, so a hand-edited or torn file is caught rather than trusted. */

int spool_path(char *out, size_t size, const char *dir, const char *sub)
{
	int n = snprintf(out, size, "%s/%s", dir, sub);

	return n < 0 || (size_t)n >= size ? MA_ERR_INVAL : 0;
}

bool spool_identity_equal(const struct proto_identity *a,
                          const struct proto_identity *b)
{
	return strcasecmp(a->cluster_id, b->cluster_id) == 0 &&
	       strcmp(a->database_id, b->database_id) == 0 &&
	       a->epoch == b->epoch &&
	       strcasecmp(a->incarnation, b->incarnation) == 0;
}

bool spool_identity_accepts(const struct proto_identity *stored,
                            const struct proto_identity *seen)
{
	if (strcasecmp(stored->cluster_id, seen->cluster_id) != 0 ||
	    strcmp(stored->database_id, seen->database_id) != 0 ||
	    stored->epoch != seen->epoch)
		return false;
	/* Stored before incarnations existed: nothing to compare, the
	 * caller records the one it now sees. Once one is stored, a source
	 * without one (or with another) cannot be shown to be the same. */
	if (stored->incarnation[0] == '\0')
		return true;
	return strcasecmp(stored->incarnation, seen->incarnation) == 0;
}

/* What spool_identity_format() refuses to write (and the parser to read):
 * ids that are not well formed. */
static int identity_check(const struct proto_identity *id, char *errmsg)
{
	/* Peer strings end up here (the mirror stores its source's
	 * identity): only well-formed ids are ever written. */
	if (!proto_uuid_valid(id->cluster_id) ||
	    !parse_name_valid_str(id->database_id) ||
	    (id->incarnation[0] != '\0' && !proto_uuid_valid(id->incarnation)))
		return ma_errorf(
		    errmsg, MA_ERR_INVAL,
		    "invalid identity (cluster id '%.36s' must be a "
		    "UUID, database id '%.64s'"
		    " must be %s, incarnation "
		    "'%.36s' a UUID or empty)",
		    id->cluster_id, id->database_id, PARSE_NAME_RULE,
		    id->incarnation);
	return 0;
}

int spool_identity_format(const struct proto_identity *id,
                          char out[SPOOL_IDENTITY_TEXT_MAX], char *errmsg)
{
	char inc[64] = "";
	int n, rc;

	rc = identity_check(id, errmsg);
	if (rc != 0)
		return rc;
	if (id->incarnation[0] != '\0')
		snprintf(inc, sizeof inc, "incarnation=%s\n", id->incarnation);
	n = snprintf(out, SPOOL_IDENTITY_TEXT_MAX,
	             "cluster_id=%s\ndatabase_id=%s\nepoch=%" PRIu64 "\n%s",
	             id->cluster_id, id->database_id, id->epoch, inc);
	if (n < 0 ||
	    (n = kvtext_seal(out, (size_t)n, SPOOL_IDENTITY_TEXT_MAX)) < 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "identity too long");
	return n;
}

int spool_identity_parse(const char *text, size_t len,
                         struct proto_identity *id, char *errmsg)
{
	/* The incarnation line is optional: files written before it
	 * existed have three lines. */
	const struct kvtext_field fields[] = {
	    {"cluster_id", KVTEXT_STR, 0, PROTO_CLUSTER_ID_LEN, id->cluster_id,
	     0, NULL},
	    {"database_id", KVTEXT_STR, 0, PROTO_DATABASE_ID_MAX,
	     id->database_id, 0, NULL},
	    {"epoch", KVTEXT_U64, 0, 0, &id->epoch, 0, NULL},
	    {"incarnation", KVTEXT_STR, KVTEXT_OPTIONAL, PROTO_INCARNATION_LEN,
	     id->incarnation, 0, NULL},
	    {"crc32c", KVTEXT_CRC32C, 0, 0, NULL, 0, NULL},
	};
	const struct kvtext_format fmt = {"identity file", NULL,
	                                  SPOOL_IDENTITY_TEXT_MAX - 1, fields,
	                                  sizeof fields / sizeof fields[0]};
	int rc;

	memset(id, 0, sizeof *id);
	rc = kvtext_parse(&fmt, text, len, errmsg);
	if (rc == 0 && identity_check(id, errmsg) != 0)
		rc = ma_errwrapf(errmsg, MA_ERR_CORRUPT, "identity file");
	if (rc != 0)
		memset(id, 0, sizeof *id);
	return rc;
}

int spool_identity_write(const char *dir, const struct proto_identity *id,
                         bool replace, char *errmsg)
{
	char text[SPOOL_IDENTITY_TEXT_MAX], path[4096];
	struct stat st;
	int n, rc;

	n = spool_identity_format(id, text, errmsg);
	if (n < 0)
		return n;
	rc = io_mkdir_p(dir, 0755, errmsg);
	if (rc != 0)
		return rc;
	if (spool_path(path, sizeof path, dir, SPOOL_IDENTITY_FILE) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 dir);
	if (!replace && stat(path, &st) == 0)
		return ma_errorf(errmsg, MA_ERR_EXISTS, "%s already exists",
		                 path);
	rc = io_write_file_durable(dir, SPOOL_IDENTITY_FILE, text, (size_t)n,
	                           errmsg);
	if (rc != 0)
		return ma_errwrapf(errmsg, rc, "cannot write identity file");
	return 0;
}

int spool_record_read(const char *dir, const char *name, size_t max,
                      const char *what, const char *absent,
                      int (*parse)(const char *text, size_t len, void *out,
                                   char *errmsg),
                      void *out, char *errmsg)
{
	char path[4096];
	size_t len;
	void *buf;
	int rc;

	if (spool_path(path, sizeof path, dir, name) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 dir);
	rc = io_read_file(path, max, &buf, &len, errmsg);
	if (rc == MA_ERR_NOTFOUND)
		return ma_errorf(errmsg, MA_ERR_NOTFOUND, "%s: %s", path,
		                 absent);
	if (rc != 0)
		return ma_errwrapf(errmsg,
		                   rc == MA_ERR_LIMIT ? MA_ERR_CORRUPT : rc,
		                   "cannot read %s", what);
	rc = parse(buf, len, out, errmsg);
	free(buf);
	if (rc != 0)
		return ma_errwrapf(errmsg, rc, "%s", path);
	return 0;
}

static int identity_parse(const char *text, size_t len, void *id, char *errmsg)
{
	return spool_identity_parse(text, len, id, errmsg);
}

int spool_identity_read(const char *dir, struct proto_identity *id,
                        char *errmsg)
{
	return spool_record_read(dir, SPOOL_IDENTITY_FILE,
	                         SPOOL_IDENTITY_TEXT_MAX, "identity file",
	                         "no identity yet", identity_parse, id, errmsg);
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

int spool_wal_base_check(const char *wal_dir, uint64_t wal_first,
                         bool has_snapshot, uint64_t snap_index,
                         uint64_t snap_term, char *errmsg)
{
	if (wal_first == 0)
		return 0;
	if (!has_snapshot && wal_first != 1)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s/wal-%020" PRIu64
		                 ".seg is the first WAL segment but there is "
		                 "no snapshot: entries 1..%" PRIu64
		                 " are missing (a segment was deleted?); "
		                 "restore the files or re-bootstrap "
		                 "(follow --reseed)",
		                 wal_dir, wal_first, wal_first - 1);
	if (has_snapshot && snap_index < UINT64_MAX &&
	    wal_first > snap_index + 1)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s/wal-%020" PRIu64
		                 ".seg is the first WAL segment but the latest "
		                 "snapshot %" PRIu64 "-%" PRIu64
		                 ".snapshot ends at index %" PRIu64
		                 ": entries %" PRIu64 "..%" PRIu64
		                 " are missing (a segment was deleted?); "
		                 "restore the files or re-bootstrap "
		                 "(follow --reseed)",
		                 wal_dir, wal_first, snap_index, snap_term,
		                 snap_index, snap_index + 1, wal_first - 1);
	return 0;
}

#define INCARNATIONS_TEXT_MAX                                                  \
	(SPOOL_INCARNATIONS_MAX * (SPOOL_SOURCE_MAX + 64) + 64)

static bool source_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SPOOL_SOURCE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr(".:[]-_", s[i])))
			return false;
	return true;
}

static int incarnations_format(const struct spool_incarnations *s, char *out,
                               size_t size)
{
	size_t n = 0;
	int k;

	for (size_t i = 0; i < s->n; i++) {
		if (!source_valid(s->v[i].source) ||
		    !proto_uuid_valid(s->v[i].incarnation))
			return MA_ERR_INVAL;
		k = snprintf(out + n, size - n, "%s=%s incarnation=%s\n",
		             s->v[i].by_address ? "source" : "node",
		             s->v[i].source, s->v[i].incarnation);
		if (k < 0 || (size_t)k >= size - n)
			return MA_ERR_INVAL;
		n += (size_t)k;
	}
	k = snprintf(out + n, size - n, "crc32c=%08x\n", crc32c(out, n));
	if (k < 0 || (size_t)k >= size - n)
		return MA_ERR_INVAL;
	return (int)(n + (size_t)k);
}

int spool_incarnations_read(const char *dir, struct spool_incarnations *s,
                            char *errmsg)
{
	char path[4096], canon[INCARNATIONS_TEXT_MAX];
	const char *p, *end;
	size_t len;
	void *buf;
	int rc;

	memset(s, 0, sizeof *s);
	if (spool_path(path, sizeof path, dir, SPOOL_INCARNATIONS_FILE) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 dir);
	rc = io_read_file(path, INCARNATIONS_TEXT_MAX - 1, &buf, &len, errmsg);
	if (rc == MA_ERR_NOTFOUND)
		return 0;
	if (rc != 0)
		return ma_errwrapf(errmsg,
		                   rc == MA_ERR_LIMIT ? MA_ERR_CORRUPT : rc,
		                   "cannot read %s", path);
	p = buf;
	end = p + len;
	/* "node=" lines, or "source=" lines of a file written before nodes
	 * were known by name (keyed by address). The bytes are then
	 * compared with what incarnations_format makes of what was read. */
	while (p < end && s->n < SPOOL_INCARNATIONS_MAX) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		bool old = strncmp(p, "source=", 7) == 0;

		if (nl == NULL || (!old && strncmp(p, "node=", 5) != 0) ||
		    sscanf(p,
		           old ? "source=%263s incarnation=%36s"
		               : "node=%263s incarnation=%36s",
		           s->v[s->n].source, s->v[s->n].incarnation) != 2)
			break;
		s->v[s->n].by_address = old;
		s->n++;
		p = nl + 1;
	}
	/* Exactly what incarnations_format writes, CRC line included. */
	rc = incarnations_format(s, canon, sizeof canon);
	if (rc < 0 || (size_t)rc != len || memcmp(canon, buf, len) != 0) {
		free(buf);
		memset(s, 0, sizeof *s);
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s is damaged (not the text the mirror "
		                 "writes, or a bad CRC): restore it, or "
		                 "--reseed",
		                 path);
	}
	free(buf);
	return 0;
}

int spool_incarnations_write(const char *dir,
                             const struct spool_incarnations *s, char *errmsg)
{
	char text[INCARNATIONS_TEXT_MAX];
	int n = incarnations_format(s, text, sizeof text), rc;

	if (n < 0)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "%s/" SPOOL_INCARNATIONS_FILE
		                 ": a source or incarnation is malformed",
		                 dir);
	rc = io_write_file_durable(dir, SPOOL_INCARNATIONS_FILE, text,
	                           (size_t)n, errmsg);
	if (rc != 0)
		return ma_errwrapf(errmsg, rc,
		                   "cannot record the source's incarnation");
	return 0;
}

/* The sscanf widths above are SPOOL_SOURCE_MAX. */
_Static_assert(SPOOL_SOURCE_MAX == 263, "update the %263s widths");

const char *spool_incarnation_of(const struct spool_incarnations *s,
                                 const char *source)
{
	for (size_t i = 0; i < s->n; i++)
		if (!s->v[i].by_address &&
		    strcasecmp(s->v[i].source, source) == 0)
			return s->v[i].incarnation;
	return NULL;
}

bool spool_incarnations_rekey(struct spool_incarnations *s, const char *addr,
                              const char *name)
{
	if (spool_incarnation_of(s, name) != NULL ||
	    strlen(name) > SPOOL_SOURCE_MAX)
		return false;
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].by_address && strcmp(s->v[i].source, addr) == 0) {
			snprintf(s->v[i].source, sizeof s->v[i].source, "%s",
			         name);
			s->v[i].by_address = false;
			return true;
		}
	return false;
}

size_t spool_incarnations_drop_by_address(struct spool_incarnations *s)
{
	size_t kept = 0, n = s->n;

	for (size_t i = 0; i < n; i++)
		if (!s->v[i].by_address)
			s->v[kept++] = s->v[i];
	s->n = kept;
	return n - kept;
}
