/* proto_envelope: snapshot chunks on the wire (docs/SNAPSHOT-FORMAT.md), and
 * the frames -> receiver helper. An envelope is a flat msgpack map of ten
 * fields; every envelope repeats the snapshot's identity so the receiver
 * can refuse a chunk of another snapshot. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "proto/proto_internal.h"
#include "snapshot/snapshot_codec.h"

/* Limits beyond the data field (docs/SNAPSHOT-FORMAT.md). */
#define MAP_ENTRIES_MAX 16
#define OTHER_LEN_MAX 256 /* any str value */

int proto_envelope_encode(struct proto_buf *out, const struct snapshot_chunk *c,
                          char *errmsg)
{
	const struct snapshot_ident *id = &c->id;
	struct proto_packer p;
	int rc;

	rc = snapshot_ident_check(id, errmsg);
	if (rc != 0)
		return rc;
	if (c->encoding != SNAPSHOT_ENCODING_RAW &&
	    c->encoding != SNAPSHOT_ENCODING_ZSTD)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "chunk at offset %" PRIu64
		                 ": unknown encoding %u",
		                 c->offset, c->encoding);
	proto_pack_begin(&p, out);
	/* A raw chunk is the ten fields an older mirror knows; a compressed
	 * one (only sent to a mirror that asked) adds two. */
	proto_pack_map(&p, c->encoding == SNAPSHOT_ENCODING_RAW ? 10 : 12);
	proto_pack_kv_str(&p, "cluster_id", id->cluster_id);
	proto_pack_kv_str(&p, "database_id", id->database_id);
	proto_pack_kv_u64(&p, "index", id->index);
	proto_pack_kv_u64(&p, "term", id->term);
	proto_pack_kv_u64(&p, "total_size", id->size);
	proto_pack_kv_u64(&p, "total_crc32c", id->crc32c);
	proto_pack_kv_u64(&p, "offset", c->offset);
	proto_pack_kv_bin(&p, "data", c->data, c->data_len);
	proto_pack_kv_u64(&p, "crc32c", c->crc32c);
	proto_pack_kv_bool(&p, "done", c->done);
	if (c->encoding != SNAPSHOT_ENCODING_RAW) {
		proto_pack_kv_str(&p, "encoding",
		                  snapshot_encoding_name(c->encoding));
		proto_pack_kv_u64(&p, "raw_size", c->raw_len);
	}
	rc = proto_pack_end(&p);
	if (rc != 0)
		return ma_errorf(errmsg, rc,
		                 "out of memory encoding the envelope at "
		                 "offset %" PRIu64,
		                 c->offset);
	return 0;
}

size_t proto_envelope_encoded_max(size_t data_len)
{
	/* 12 keys (<= 13 bytes each), two ids (<= 66), seven integers
	 * (<= 9), two CRCs (<= 5), bin header (5), bool, the encoding's
	 * name (<= 5), map header: < 512. */
	return data_len + 512;
}

int proto_envelope_decode(const void *body, size_t len, size_t data_max,
                          struct snapshot_chunk *c, char *errmsg)
{
	struct proto_limits limits = {
	    .max_depth = 1,
	    .max_entries = MAP_ENTRIES_MAX,
	    .max_key = PROTO_KEY_MAX,
	    .max_str = OTHER_LEN_MAX,
	};
	struct snapshot_ident *id = &c->id;
	struct proto_fields f;
	const void *data;
	uint64_t crc = 0, total_crc = 0, raw_size = 0;
	char enc[8] = "raw";
	size_t span;
	int rc;

	if (data_max == 0)
		data_max = SNAPSHOT_DATA_MAX_DEFAULT;
	limits.max_bin =
	    data_max > UINT32_MAX ? UINT32_MAX : (uint32_t)data_max;
	memset(c, 0, sizeof *c);
	rc = proto_fields_open(&f, body, len, &limits, errmsg);
	if (rc == 0 &&
	    !(rc = proto_fields_name(&f, "cluster_id", SNAPSHOT_ID_MAX,
	                             id->cluster_id)) &&
	    !(rc = proto_fields_name(&f, "database_id", SNAPSHOT_ID_MAX,
	                             id->database_id)) &&
	    !(rc = proto_fields_u64(&f, "index", UINT64_MAX, &id->index)) &&
	    !(rc = proto_fields_u64(&f, "term", UINT64_MAX, &id->term)) &&
	    !(rc = proto_fields_u64(&f, "total_size", INT64_MAX, &id->size)) &&
	    !(rc = proto_fields_u64(&f, "total_crc32c", UINT32_MAX,
	                            &total_crc)) &&
	    !(rc = proto_fields_u64(&f, "offset", INT64_MAX, &c->offset)) &&
	    !(rc = proto_fields_bin(&f, "data", &data, &c->data_len)) &&
	    !(rc = proto_fields_u64(&f, "crc32c", UINT32_MAX, &crc)))
		rc = proto_fields_bool(&f, "done", &c->done);
	/* Optional: absent from raw chunks (and from every chunk of an
	 * older source). */
	if (rc == 0 && proto_fields_has(&f, "encoding"))
		rc = proto_fields_str(&f, "encoding", sizeof enc - 1, enc);
	if (rc == 0 && strcmp(enc, "raw") != 0) {
		if (strcmp(enc, "zstd") != 0)
			rc = ma_errorf(errmsg, MA_ERR_PROTO,
			               "field 'encoding' is '%s' (this mirror "
			               "knows raw and zstd)",
			               enc);
		else
			rc = proto_fields_u64(&f, "raw_size", data_max,
			                      &raw_size);
		if (rc == 0 && raw_size == 0)
			rc = ma_errorf(errmsg, MA_ERR_PROTO,
			               "field 'raw_size' is 0 in a zstd chunk");
		c->encoding = SNAPSHOT_ENCODING_ZSTD;
		c->raw_len = (size_t)raw_size;
	}
	proto_fields_close(&f);
	if (rc != 0)
		return rc;
	/* data points into body: msgpack-c references bin values. */
	c->data = data;
	id->crc32c = (uint32_t)total_crc;
	c->crc32c = (uint32_t)crc;
	/* The bytes the chunk fills in the file: its raw length. */
	span = c->encoding == SNAPSHOT_ENCODING_RAW ? c->data_len : c->raw_len;
	if (c->offset > id->size || span > id->size - c->offset)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "field 'offset': %" PRIu64 " + %zu data bytes "
		                 "is beyond total_size %" PRIu64,
		                 c->offset, span, id->size);
	return 0;
}

/* ---- frames -> receiver ------------------------------------------------ */

static void framer_release(void *state)
{
	proto_framer_free(state);
	free(state);
}

int snapshot_receiver_feed_bytes(struct snapshot_receiver *r, const void *buf,
                                 size_t len, uint64_t now, char *errmsg)
{
	struct proto_framer *fr = snapshot_receiver_stream(r);
	const uint8_t *p = buf;
	int rc;

	rc = snapshot_receiver_refused(r, errmsg);
	if (rc != 0)
		return rc;
	if (fr == NULL) {
		fr = malloc(sizeof *fr);
		if (fr == NULL)
			return ma_errorf(errmsg, MA_ERR_NOMEM,
			                 "out of memory for a snapshot stream");
		proto_framer_init(fr, SNAPSHOT_DATA_MAX_DEFAULT +
		                          PROTO_ENVELOPE_OVERHEAD_MAX);
		snapshot_receiver_stream_set(r, fr, framer_release);
	}
	while (len > 0) {
		struct snapshot_chunk c;
		const void *body;
		size_t used, body_len;
		char why[MA_ERRMSG_SIZE];

		rc = proto_framer_feed(fr, p, len, &used, &body, &body_len,
		                       errmsg);
		p += used;
		len -= used;
		if (rc < 0)
			return rc;
		if (rc == 0)
			continue;
		rc = proto_envelope_decode(body, body_len, 0, &c, why);
		if (rc != 0) {
			/* The stream cannot be resynchronised after a bad
			 * frame: refuse the rest of it. */
			fr->error = rc;
			return ma_errorf(errmsg, rc, "frame %" PRIu64 ": %s",
			                 fr->frames, why);
		}
		/* This path asks for no encoding: a compressed chunk is a
		 * source breaking the protocol. */
		if (c.encoding != SNAPSHOT_ENCODING_RAW) {
			fr->error = MA_ERR_PROTO;
			return ma_errorf(errmsg, MA_ERR_PROTO,
			                 "frame %" PRIu64 ": a %s chunk at "
			                 "offset %" PRIu64 " in a stream that "
			                 "asked for raw chunks",
			                 fr->frames,
			                 snapshot_encoding_name(c.encoding),
			                 c.offset);
		}
		rc = snapshot_receiver_feed(r, &c, now, errmsg);
		if (rc != 0)
			return rc;
	}
	return 0;
}
