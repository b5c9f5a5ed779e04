/* wal: segment header and record encoding (pure; see wal_format.h). */
#include "wal/wal_format.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/endian.h"
#include "common/errors.h"
#include "common/parse.h"

int wal_identity_init(struct wal_identity *id, const char *cluster_uuid,
                      const char *database_id, char *errmsg)
{
	size_t n = 0, dlen;

	memset(id, 0, sizeof *id);
	if (cluster_uuid == NULL || strlen(cluster_uuid) != 36)
		goto bad_uuid;
	for (size_t i = 0; i < 36; i++) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (cluster_uuid[i] != '-')
				goto bad_uuid;
			continue;
		}
		hi = parse_hex_digit((unsigned char)cluster_uuid[i]);
		lo = parse_hex_digit((unsigned char)cluster_uuid[i + 1]);
		if (hi < 0 || lo < 0)
			goto bad_uuid;
		id->cluster_id[n++] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	dlen = database_id != NULL ? strlen(database_id) : 0;
	if (!parse_name_valid(database_id, dlen))
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "database id '%s' is invalid: use 1..%d "
		                 "characters from [A-Za-z0-9._-]",
		                 database_id != NULL ? database_id : "",
		                 WAL_DATABASE_ID_MAX);
	memcpy(id->database_id, database_id, dlen + 1);
	return 0;

bad_uuid:
	return ma_errorf(errmsg, MA_ERR_INVAL,
	                 "cluster id '%s' is not a UUID "
	                 "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
	                 cluster_uuid != NULL ? cluster_uuid : "");
}

void wal_identity_format_uuid(const struct wal_identity *id, char out[37])
{
	const uint8_t *u = id->cluster_id;

	snprintf(out, 37,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	         "%02x%02x%02x%02x%02x%02x",
	         u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
	         u[10], u[11], u[12], u[13], u[14], u[15]);
}

bool wal_identity_equal(const struct wal_identity *a,
                        const struct wal_identity *b)
{
	return memcmp(a->cluster_id, b->cluster_id, 16) == 0 &&
	       strcmp(a->database_id, b->database_id) == 0;
}

/* Segment header, little-endian:
 *   0  8  magic "MAWALSEG"
 *   8  4  format version
 *  12  4  header size (128)
 *  16  8  first index
 *  24 16  cluster id
 *  40  1  database id length
 *  41 64  database id, zero padded
 * 105 19  reserved, zero
 * 124  4  CRC32C of bytes 0..124 */
void wal_seg_header_encode(const struct wal_seg_header *h, uint8_t *out)
{
	size_t dlen = strlen(h->identity.database_id);

	memset(out, 0, WAL_SEG_HEADER_SIZE);
	memcpy(out, WAL_SEG_MAGIC, 8);
	le_put32(out + 8, WAL_FORMAT_VERSION);
	le_put32(out + 12, WAL_SEG_HEADER_SIZE);
	le_put64(out + 16, h->first_index);
	memcpy(out + 24, h->identity.cluster_id, 16);
	out[40] = (uint8_t)dlen;
	memcpy(out + 41, h->identity.database_id, dlen);
	le_put32(out + 124, crc32c(out, 124));
}

int wal_seg_header_decode(const uint8_t *buf, size_t len,
                          struct wal_seg_header *h, const char **reason)
{
	size_t dlen;

	memset(h, 0, sizeof *h);
	if (len < WAL_SEG_HEADER_SIZE) {
		*reason = "segment header is short";
		return MA_ERR_CORRUPT;
	}
	if (memcmp(buf, WAL_SEG_MAGIC, 8) != 0) {
		*reason = "bad segment magic (not a WAL segment)";
		return MA_ERR_CORRUPT;
	}
	if (le_get32(buf + 124) != crc32c(buf, 124)) {
		*reason = "segment header CRC32C mismatch";
		return MA_ERR_CORRUPT;
	}
	if (le_get32(buf + 8) != WAL_FORMAT_VERSION ||
	    le_get32(buf + 12) != WAL_SEG_HEADER_SIZE) {
		*reason = "unsupported segment format version";
		return MA_ERR_CORRUPT;
	}
	h->first_index = le_get64(buf + 16);
	if (h->first_index == 0) {
		*reason = "segment first index is 0";
		return MA_ERR_CORRUPT;
	}
	memcpy(h->identity.cluster_id, buf + 24, 16);
	dlen = buf[40];
	if (!parse_name_valid((const char *)buf + 41, dlen)) {
		*reason = "bad database id in segment header";
		return MA_ERR_CORRUPT;
	}
	/* Zero padding and reserved bytes, as the encoder writes them: a
	 * header using them comes from a format this version cannot read. */
	for (size_t i = 41 + dlen; i < 124; i++) {
		if (buf[i] != 0) {
			*reason = "non-zero padding or reserved bytes in "
			          "segment header";
			return MA_ERR_CORRUPT;
		}
	}
	memcpy(h->identity.database_id, buf + 41, dlen);
	h->identity.database_id[dlen] = '\0';
	return 0;
}

/* Record header, little-endian:
 *   0 4 payload length
 *   4 1 type
 *   5 3 reserved, zero
 *   8 8 index
 *  16 8 term
 *  24 4 reserved, zero
 *  28 4 CRC32C of header bytes 0..28 followed by the payload */
void wal_rec_encode(const struct wal_entry *e, uint8_t *out)
{
	uint64_t size = wal_rec_size(e->len);
	uint32_t crc;

	memset(out, 0, WAL_REC_HEADER_SIZE);
	le_put32(out, (uint32_t)e->len);
	out[4] = e->type;
	le_put64(out + 8, e->index);
	le_put64(out + 16, e->term);
	if (e->len > 0)
		memcpy(out + WAL_REC_HEADER_SIZE, e->data, e->len);
	memset(out + WAL_REC_HEADER_SIZE + e->len, 0,
	       size - WAL_REC_HEADER_SIZE - e->len);
	crc = crc32c_append(crc32c(out, 28), out + WAL_REC_HEADER_SIZE, e->len);
	le_put32(out + 28, crc);
}

int wal_rec_header_decode(const uint8_t *buf, struct wal_rec_header *h,
                          const char **reason)
{
	h->len = le_get32(buf);
	h->type = buf[4];
	h->index = le_get64(buf + 8);
	h->term = le_get64(buf + 16);
	h->crc = le_get32(buf + 28);
	if (h->len > WAL_ENTRY_SIZE_MAX) {
		*reason = "record length exceeds the format limit";
		return MA_ERR_CORRUPT;
	}
	if (buf[5] != 0 || buf[6] != 0 || buf[7] != 0 ||
	    le_get32(buf + 24) != 0) {
		*reason = "non-zero reserved bytes in record header";
		return MA_ERR_CORRUPT;
	}
	return 0;
}

bool wal_rec_crc_ok(const uint8_t *rec, const struct wal_rec_header *h)
{
	uint32_t crc =
	    crc32c_append(crc32c(rec, 28), rec + WAL_REC_HEADER_SIZE, h->len);

	return crc == h->crc;
}

void wal_seg_name(char out[WAL_SEG_NAME_SIZE], uint64_t first_index)
{
	snprintf(out, WAL_SEG_NAME_SIZE, "wal-%020" PRIu64 ".seg", first_index);
}

bool wal_seg_name_parse(const char *name, uint64_t *first_index)
{
	uint64_t v = 0;

	if (strlen(name) != WAL_SEG_NAME_SIZE - 1 ||
	    memcmp(name, "wal-", 4) != 0 || strcmp(name + 24, ".seg") != 0)
		return false;
	for (int i = 4; i < 24; i++) {
		unsigned d;

		if (name[i] < '0' || name[i] > '9')
			return false;
		d = (unsigned)(name[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*first_index = v;
	return v != 0;
}
