/* snapshot: identity helpers, the metadata file and the receiver's progress
 * record. Both records are fixed-size little-endian with a trailing CRC32C
 * over everything before it, so a torn or garbled file is detected
 * (layouts in docs/SNAPSHOT-FORMAT.md). */
#include "snapshot/snapshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/endian.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/parse.h"

#define META_MAGIC "MASM"
#define PROGRESS_MAGIC "MASP"
#define FORMAT_VERSION 1

int snapshot_ident_check(const struct snapshot_ident *ident, char *errmsg)
{
	if (memchr(ident->cluster_id, '\0', sizeof ident->cluster_id) == NULL ||
	    !parse_name_valid_str(ident->cluster_id))
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "cluster_id must be 1-64 characters of "
		                 "[A-Za-z0-9._-]");
	if (memchr(ident->database_id, '\0', sizeof ident->database_id) ==
	        NULL ||
	    !parse_name_valid_str(ident->database_id))
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "database_id must be 1-64 characters of "
		                 "[A-Za-z0-9._-]");
	return 0;
}

bool snapshot_ident_equal(const struct snapshot_ident *a,
                          const struct snapshot_ident *b)
{
	return strcmp(a->cluster_id, b->cluster_id) == 0 &&
	       strcmp(a->database_id, b->database_id) == 0 &&
	       a->index == b->index && a->term == b->term &&
	       a->size == b->size && a->crc32c == b->crc32c;
}

/* Writes a length byte and a zero-padded 64-byte id field. */
static void put_id(uint8_t *len_at, uint8_t *field, const char *id)
{
	size_t n = strlen(id);

	*len_at = (uint8_t)n;
	memset(field, 0, SNAPSHOT_ID_MAX);
	memcpy(field, id, n);
}

static int get_id(uint8_t len, const uint8_t *field, char *out,
                  const char *what, char *errmsg)
{
	if (len == 0 || len > SNAPSHOT_ID_MAX)
		return ma_errorf(errmsg, MA_ERR_CORRUPT, "%s length %u invalid",
		                 what, len);
	memcpy(out, field, len);
	out[len] = '\0';
	/* All len bytes: a NUL inside would cut the id short unnoticed. */
	if (!parse_name_valid(out, len))
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s has invalid characters", what);
	for (size_t i = len; i < SNAPSHOT_ID_MAX; i++)
		if (field[i] != 0)
			return ma_errorf(errmsg, MA_ERR_CORRUPT,
			                 "%s padding not zero", what);
	return 0;
}

/* Checks length, magic, version and trailing CRC of a fixed record. */
static int check_record(const uint8_t *p, size_t len, size_t want,
                        const char *magic, const char *what, char *errmsg)
{
	uint32_t stored, actual;

	if (len != want)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s is %zu bytes, expected %zu (torn write?)",
		                 what, len, want);
	if (memcmp(p, magic, 4) != 0)
		return ma_errorf(errmsg, MA_ERR_CORRUPT, "%s: bad magic", what);
	stored = le_get32(p + want - 4);
	actual = crc32c(p, want - 4);
	if (stored != actual)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s: CRC32C 0x%08x does not match stored "
		                 "0x%08x",
		                 what, actual, stored);
	if (le_get32(p + 4) != FORMAT_VERSION)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s: unsupported version %u", what,
		                 le_get32(p + 4));
	return 0;
}

/* Layout shared by both records from offset 8:
 * index u64, term u64, size u64, (record-specific u64), crc32c u32,
 * (record-specific u32), cluster_id_len u8, database_id_len u8,
 * reserved u16, cluster_id[64], database_id[64]. */
static void put_ident(uint8_t *p, const struct snapshot_ident *id,
                      uint64_t extra64, uint32_t extra32)
{
	le_put64(p + 8, id->index);
	le_put64(p + 16, id->term);
	le_put64(p + 24, id->size);
	le_put64(p + 32, extra64);
	le_put32(p + 40, id->crc32c);
	le_put32(p + 44, extra32);
	put_id(p + 48, p + 52, id->cluster_id);
	put_id(p + 49, p + 52 + SNAPSHOT_ID_MAX, id->database_id);
	p[50] = 0;
	p[51] = 0;
}

static int get_ident(const uint8_t *p, struct snapshot_ident *id,
                     uint64_t *extra64, uint32_t *extra32, char *errmsg)
{
	int rc;

	memset(id, 0, sizeof *id);
	if (p[50] != 0 || p[51] != 0)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "reserved bytes 50..51 not zero");
	id->index = le_get64(p + 8);
	id->term = le_get64(p + 16);
	id->size = le_get64(p + 24);
	*extra64 = le_get64(p + 32);
	id->crc32c = le_get32(p + 40);
	*extra32 = le_get32(p + 44);
	rc = get_id(p[48], p + 52, id->cluster_id, "cluster_id", errmsg);
	if (rc == 0)
		rc = get_id(p[49], p + 52 + SNAPSHOT_ID_MAX, id->database_id,
		            "database_id", errmsg);
	return rc;
}

void snapshot_meta_encode(const struct snapshot_meta *meta,
                          uint8_t out[SNAPSHOT_META_SIZE])
{
	memset(out, 0, SNAPSHOT_META_SIZE);
	memcpy(out, META_MAGIC, 4);
	le_put32(out + 4, FORMAT_VERSION);
	put_ident(out, &meta->id, meta->created_ms, 0);
	le_put32(out + SNAPSHOT_META_SIZE - 4,
	         crc32c(out, SNAPSHOT_META_SIZE - 4));
}

int snapshot_meta_decode(const void *buf, size_t len,
                         struct snapshot_meta *meta, char *errmsg)
{
	const uint8_t *p = buf;
	uint32_t reserved;
	int rc;

	rc = check_record(p, len, SNAPSHOT_META_SIZE, META_MAGIC, "metadata",
	                  errmsg);
	if (rc != 0)
		return rc;
	rc = get_ident(p, &meta->id, &meta->created_ms, &reserved, errmsg);
	if (rc == 0 && reserved != 0)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "metadata: reserved bytes 44..47 not zero");
	return rc;
}

int snapshot_meta_read(const char *path, struct snapshot_meta *meta,
                       char *errmsg)
{
	char why[MA_ERRMSG_SIZE];
	void *buf;
	size_t len;
	int rc;

	rc = io_read_file(path, SNAPSHOT_META_SIZE + 1, &buf, &len, errmsg);
	if (rc == MA_ERR_NOTFOUND)
		return ma_errorf(errmsg, MA_ERR_NOTFOUND,
		                 "%s: no such metadata file", path);
	if (rc == MA_ERR_LIMIT)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s: metadata file too large; it is not a "
		                 "snapshot metadata file",
		                 path);
	if (rc != 0)
		return rc;
	rc = snapshot_meta_decode(buf, len, meta, why);
	free(buf);
	if (rc != 0)
		return ma_errorf(errmsg, rc,
		                 "%s: %s; the metadata is damaged, delete the "
		                 "snapshot or re-create it",
		                 path, why);
	return 0;
}

void snapshot_progress_encode(const struct snapshot_progress *p,
                              uint8_t out[SNAPSHOT_PROGRESS_SIZE])
{
	memset(out, 0, SNAPSHOT_PROGRESS_SIZE);
	memcpy(out, PROGRESS_MAGIC, 4);
	le_put32(out + 4, FORMAT_VERSION);
	put_ident(out, &p->id, p->durable_offset, p->running_crc32c);
	le_put64(out + 180, p->seq);
	le_put32(out + SNAPSHOT_PROGRESS_SIZE - 4,
	         crc32c(out, SNAPSHOT_PROGRESS_SIZE - 4));
}

int snapshot_progress_decode(const void *buf, size_t len,
                             struct snapshot_progress *p, char *errmsg)
{
	const uint8_t *b = buf;
	int rc;

	rc = check_record(b, len, SNAPSHOT_PROGRESS_SIZE, PROGRESS_MAGIC,
	                  "progress record", errmsg);
	if (rc != 0)
		return rc;
	rc = get_ident(b, &p->id, &p->durable_offset, &p->running_crc32c,
	               errmsg);
	if (rc != 0)
		return rc;
	p->seq = le_get64(b + 180);
	if (p->durable_offset > p->id.size)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "progress record: durable offset %llu beyond "
		                 "size %llu",
		                 (unsigned long long)p->durable_offset,
		                 (unsigned long long)p->id.size);
	return 0;
}
