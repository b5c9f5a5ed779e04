/* snapshot envelope codec (msgpack-c) and the length-prefixed framing.
 *
 * msgpack-c's C unpacker has no limits of its own: an array or map header
 * from the network makes it allocate count * sizeof(msgpack_object) before
 * reading a single element. So every input is first walked by scan(),
 * which checks the schema's shape and every length against explicit limits
 * without allocating, and only then handed to msgpack_unpack_next(), which
 * builds the object (str/bin point into the input, no copy). */
#include "snapshot/snapshot.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/parse.h"

/* Limits beyond the data field (docs/SNAPSHOT-FORMAT.md). */
#define MAP_ENTRIES_MAX 16
#define KEY_LEN_MAX 32
#define OTHER_LEN_MAX 256 /* any str/bin value other than data */

enum field {
	F_CLUSTER_ID,
	F_DATABASE_ID,
	F_INDEX,
	F_TERM,
	F_TOTAL_SIZE,
	F_TOTAL_CRC32C,
	F_OFFSET,
	F_DATA,
	F_CRC32C,
	F_DONE,
	F_COUNT
};

static const char *const field_names[F_COUNT] = {
    "cluster_id",   "database_id", "index", "term",   "total_size",
    "total_crc32c", "offset",      "data",  "crc32c", "done",
};

static int field_lookup(const char *key, size_t len)
{
	for (int i = 0; i < F_COUNT; i++)
		if (strlen(field_names[i]) == len &&
		    memcmp(field_names[i], key, len) == 0)
			return i;
	return -1;
}

/* ---- encoding ---------------------------------------------------------- */

static void pack_key(msgpack_packer *pk, enum field f)
{
	size_t n = strlen(field_names[f]);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, field_names[f], n);
}

int snapshot_envelope_encode(const struct snapshot_envelope *env,
                             msgpack_sbuffer *sbuf, char *errmsg)
{
	const struct snapshot_ident *id = &env->id;
	msgpack_packer pk;
	size_t before = sbuf->size;
	int rc = 0;

	rc = snapshot_ident_check(id, errmsg);
	if (rc != 0)
		return rc;
	msgpack_packer_init(&pk, sbuf, msgpack_sbuffer_write);
	rc |= msgpack_pack_map(&pk, F_COUNT);
	pack_key(&pk, F_CLUSTER_ID);
	rc |= msgpack_pack_str_with_body(&pk, id->cluster_id,
	                                 strlen(id->cluster_id));
	pack_key(&pk, F_DATABASE_ID);
	rc |= msgpack_pack_str_with_body(&pk, id->database_id,
	                                 strlen(id->database_id));
	pack_key(&pk, F_INDEX);
	rc |= msgpack_pack_uint64(&pk, id->index);
	pack_key(&pk, F_TERM);
	rc |= msgpack_pack_uint64(&pk, id->term);
	pack_key(&pk, F_TOTAL_SIZE);
	rc |= msgpack_pack_uint64(&pk, id->size);
	pack_key(&pk, F_TOTAL_CRC32C);
	rc |= msgpack_pack_uint32(&pk, id->crc32c);
	pack_key(&pk, F_OFFSET);
	rc |= msgpack_pack_uint64(&pk, env->offset);
	pack_key(&pk, F_DATA);
	rc |= msgpack_pack_bin(&pk, env->data_len);
	if (env->data_len > 0)
		rc |= msgpack_pack_bin_body(&pk, env->data, env->data_len);
	pack_key(&pk, F_CRC32C);
	rc |= msgpack_pack_uint32(&pk, env->crc32c);
	pack_key(&pk, F_DONE);
	rc |= env->done ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
	if (rc != 0) {
		sbuf->size = before;
		return ma_errorf(errmsg, MA_ERR_NOMEM,
		                 "out of memory encoding envelope");
	}
	return 0;
}

size_t snapshot_envelope_encoded_max(size_t data_len)
{
	/* 10 keys (<= 13 bytes each), two ids (<= 66), six integers (<= 9),
	 * two CRCs (<= 5), bin header (5), bool, map header: < 512. */
	return data_len + 512;
}

int snapshot_envelope_encode_frame(const struct snapshot_envelope *env,
                                   msgpack_sbuffer *sbuf, char *errmsg)
{
	static const char zero[4];
	size_t start, len;
	int rc;

	if (msgpack_sbuffer_write(sbuf, zero, sizeof zero) != 0)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	start = sbuf->size;
	rc = snapshot_envelope_encode(env, sbuf, errmsg);
	if (rc != 0) {
		sbuf->size = start - 4;
		return rc;
	}
	len = sbuf->size - start;
	sbuf->data[start - 4] = (char)(len >> 24);
	sbuf->data[start - 3] = (char)(len >> 16);
	sbuf->data[start - 2] = (char)(len >> 8);
	sbuf->data[start - 1] = (char)len;
	return 0;
}

/* ---- limit-checking walk ------------------------------------------------ */

struct scan {
	const uint8_t *p;
	size_t len;
	size_t off;
	size_t data_max;
	char *errmsg;
};

static uint64_t be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Reads an n-byte big-endian length after the type byte. */
static int take_len(struct scan *s, size_t n, uint64_t *v, const char *field)
{
	if (s->len - s->off < n)
		return ma_errorf(s->errmsg, MA_ERR_PROTO,
		                 "envelope truncated in field '%s'", field);
	*v = be(s->p + s->off, n);
	s->off += n;
	return 0;
}

static int skip(struct scan *s, uint64_t n, const char *field)
{
	if (s->len - s->off < n)
		return ma_errorf(s->errmsg, MA_ERR_PROTO,
		                 "envelope truncated in field '%s'", field);
	s->off += (size_t)n;
	return 0;
}

/* Walks one scalar value of `field`; str/bin lengths capped by max. */
static int scan_value(struct scan *s, const char *field, size_t max)
{
	uint64_t n = 0;
	uint8_t t;
	int rc;

	if (s->off >= s->len)
		return ma_errorf(s->errmsg, MA_ERR_PROTO,
		                 "envelope truncated in field '%s'", field);
	t = s->p[s->off++];
	if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
		return 0;
	if ((t >= 0x80 && t <= 0x9f) || t == 0xdc || t == 0xdd || t == 0xde ||
	    t == 0xdf)
		return ma_errorf(s->errmsg, MA_ERR_PROTO,
		                 "field '%s': nested array or map not allowed",
		                 field);
	if (t >= 0xa0 && t <= 0xbf) {
		n = t & 0x1f;
	} else {
		switch (t) {
		case 0xcc:
		case 0xd0:
			return skip(s, 1, field);
		case 0xcd:
		case 0xd1:
			return skip(s, 2, field);
		case 0xce:
		case 0xd2:
		case 0xca:
			return skip(s, 4, field);
		case 0xcf:
		case 0xd3:
		case 0xcb:
			return skip(s, 8, field);
		case 0xd9:
		case 0xc4:
			rc = take_len(s, 1, &n, field);
			break;
		case 0xda:
		case 0xc5:
			rc = take_len(s, 2, &n, field);
			break;
		case 0xdb:
		case 0xc6:
			rc = take_len(s, 4, &n, field);
			break;
		default:
			return ma_errorf(s->errmsg, MA_ERR_PROTO,
			                 "field '%s': unsupported msgpack type "
			                 "0x%02x (ext or reserved)",
			                 field, t);
		}
		if (rc != 0)
			return rc;
	}
	if (n > max)
		return ma_errorf(s->errmsg, MA_ERR_PROTO,
		                 "field '%s': %" PRIu64
		                 " bytes exceeds the limit of %zu",
		                 field, n, max);
	return skip(s, n, field);
}

static int scan_envelope(struct scan *s)
{
	uint64_t entries = 0;
	uint8_t t;
	int rc;

	if (s->len == 0)
		return ma_errorf(s->errmsg, MA_ERR_PROTO,
		                 "envelope truncated: empty input");
	t = s->p[s->off++];
	if (t >= 0x80 && t <= 0x8f) {
		entries = t & 0x0f;
	} else if (t == 0xde || t == 0xdf) {
		rc = take_len(s, t == 0xde ? 2 : 4, &entries, "(map header)");
		if (rc != 0)
			return rc;
	} else {
		return ma_errorf(s->errmsg, MA_ERR_PROTO,
		                 "envelope is not a msgpack map (type byte "
		                 "0x%02x)",
		                 t);
	}
	if (entries > MAP_ENTRIES_MAX)
		return ma_errorf(s->errmsg, MA_ERR_PROTO,
		                 "envelope map has %" PRIu64
		                 " entries, limit %d",
		                 entries, MAP_ENTRIES_MAX);
	for (uint64_t i = 0; i < entries; i++) {
		char key[KEY_LEN_MAX + 1];
		uint64_t klen = 0;
		int f;

		if (s->off >= s->len)
			return ma_errorf(
			    s->errmsg, MA_ERR_PROTO,
			    "envelope truncated after %" PRIu64 " fields", i);
		t = s->p[s->off++];
		if (t >= 0xa0 && t <= 0xbf) {
			klen = t & 0x1f;
		} else if (t == 0xd9) {
			rc = take_len(s, 1, &klen, "(key)");
			if (rc != 0)
				return rc;
		} else {
			return ma_errorf(s->errmsg, MA_ERR_PROTO,
			                 "envelope key %" PRIu64
			                 " is not a short string",
			                 i);
		}
		if (klen > KEY_LEN_MAX)
			return ma_errorf(s->errmsg, MA_ERR_PROTO,
			                 "envelope key %" PRIu64
			                 " longer than %d bytes",
			                 i, KEY_LEN_MAX);
		if (s->len - s->off < klen)
			return ma_errorf(s->errmsg, MA_ERR_PROTO,
			                 "envelope truncated in key %" PRIu64,
			                 i);
		memcpy(key, s->p + s->off, (size_t)klen);
		key[klen] = '\0';
		s->off += (size_t)klen;
		f = field_lookup(key, (size_t)klen);
		rc = scan_value(s, f >= 0 ? field_names[f] : "(unknown)",
		                f == F_DATA ? s->data_max : OTHER_LEN_MAX);
		if (rc != 0)
			return rc;
	}
	if (s->off != s->len)
		return ma_errorf(s->errmsg, MA_ERR_PROTO,
		                 "%zu trailing bytes after the envelope",
		                 s->len - s->off);
	return 0;
}

/* ---- decoding ----------------------------------------------------------- */

static int want_uint(const msgpack_object *o, uint64_t max, uint64_t *out,
                     const char *field, char *errmsg)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "field '%s': expected unsigned integer",
		                 field);
	if (o->via.u64 > max)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "field '%s': %" PRIu64 " out of range", field,
		                 o->via.u64);
	*out = o->via.u64;
	return 0;
}

static int want_id(const msgpack_object *o, char *out, const char *field,
                   char *errmsg)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "field '%s': expected string", field);
	if (o->via.str.size == 0 || o->via.str.size > SNAPSHOT_ID_MAX)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "field '%s': length %u, must be 1-%d", field,
		                 o->via.str.size, SNAPSHOT_ID_MAX);
	memcpy(out, o->via.str.ptr, o->via.str.size);
	out[o->via.str.size] = '\0';
	if (strlen(out) != o->via.str.size || !parse_name_valid_str(out))
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "field '%s': characters outside "
		                 "[A-Za-z0-9._-]",
		                 field);
	return 0;
}

static int take_field(struct snapshot_envelope *env, enum field f,
                      const msgpack_object *o, char *errmsg)
{
	const char *name = field_names[f];
	uint64_t v = 0;
	int rc = 0;

	switch (f) {
	case F_CLUSTER_ID:
		return want_id(o, env->id.cluster_id, name, errmsg);
	case F_DATABASE_ID:
		return want_id(o, env->id.database_id, name, errmsg);
	case F_INDEX:
		return want_uint(o, UINT64_MAX, &env->id.index, name, errmsg);
	case F_TERM:
		return want_uint(o, UINT64_MAX, &env->id.term, name, errmsg);
	case F_TOTAL_SIZE:
		return want_uint(o, INT64_MAX, &env->id.size, name, errmsg);
	case F_OFFSET:
		return want_uint(o, INT64_MAX, &env->offset, name, errmsg);
	case F_TOTAL_CRC32C:
	case F_CRC32C:
		rc = want_uint(o, UINT32_MAX, &v, name, errmsg);
		if (f == F_CRC32C)
			env->crc32c = (uint32_t)v;
		else
			env->id.crc32c = (uint32_t)v;
		return rc;
	case F_DATA:
		if (o->type != MSGPACK_OBJECT_BIN)
			return ma_errorf(errmsg, MA_ERR_PROTO,
			                 "field 'data': expected binary");
		env->data_len = o->via.bin.size;
		env->data =
		    env->data_len > 0 ? (const uint8_t *)o->via.bin.ptr : NULL;
		return 0;
	case F_DONE:
		if (o->type != MSGPACK_OBJECT_BOOLEAN)
			return ma_errorf(errmsg, MA_ERR_PROTO,
			                 "field 'done': expected boolean");
		env->done = o->via.boolean;
		return 0;
	default:
		return 0;
	}
}

int snapshot_envelope_decode(const void *buf, size_t len, size_t data_max,
                             struct snapshot_envelope *env, char *errmsg)
{
	struct scan s = {buf, len, 0, data_max, errmsg};
	msgpack_unpacked result;
	const msgpack_object_map *map;
	unsigned seen = 0;
	size_t off = 0;
	int rc;

	if (s.data_max == 0)
		s.data_max = SNAPSHOT_DATA_MAX_DEFAULT;
	rc = scan_envelope(&s);
	if (rc != 0)
		return rc;
	msgpack_unpacked_init(&result);
	switch (msgpack_unpack_next(&result, buf, len, &off)) {
	case MSGPACK_UNPACK_SUCCESS:
		break;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		msgpack_unpacked_destroy(&result);
		return ma_errorf(errmsg, MA_ERR_NOMEM,
		                 "out of memory decoding envelope");
	default:
		msgpack_unpacked_destroy(&result);
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "envelope is not valid msgpack");
	}
	memset(env, 0, sizeof *env);
	map = &result.data.via.map;
	for (uint32_t i = 0; i < map->size && rc == 0; i++) {
		const msgpack_object *k = &map->ptr[i].key;
		int f = field_lookup(k->via.str.ptr, k->via.str.size);

		if (f < 0)
			continue; /* unknown keys are ignored (limits apply) */
		if (seen & (1u << f))
			rc = ma_errorf(errmsg, MA_ERR_PROTO,
			               "field '%s' appears twice",
			               field_names[f]);
		else
			rc = take_field(env, (enum field)f, &map->ptr[i].val,
			                errmsg);
		seen |= 1u << f;
	}
	msgpack_unpacked_destroy(&result);
	if (rc != 0)
		return rc;
	for (int f = 0; f < F_COUNT; f++)
		if (!(seen & (1u << f)))
			return ma_errorf(errmsg, MA_ERR_PROTO,
			                 "field '%s' missing", field_names[f]);
	if (env->offset > env->id.size ||
	    env->data_len > env->id.size - env->offset)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "field 'offset': %" PRIu64 " + %zu data bytes "
		                 "is beyond total_size %" PRIu64,
		                 env->offset, env->data_len, env->id.size);
	return 0;
}

/* ---- framing ------------------------------------------------------------ */

int snapshot_framer_init(struct snapshot_framer *f, size_t data_max)
{
	memset(f, 0, sizeof *f);
	if (data_max == 0)
		data_max = SNAPSHOT_DATA_MAX_DEFAULT;
	if (data_max > SNAPSHOT_CHUNK_MAX)
		return MA_ERR_INVAL;
	f->data_max = data_max;
	f->frame_max = data_max + SNAPSHOT_ENVELOPE_OVERHEAD_MAX;
	return 0;
}

void snapshot_framer_free(struct snapshot_framer *f)
{
	free(f->buf);
	f->buf = NULL;
	f->buf_cap = 0;
}

static int frame_fail(struct snapshot_framer *f, int rc, char *errmsg,
                      const char *why)
{
	f->error = rc;
	return ma_errorf(errmsg, rc, "frame %" PRIu64 ": %s", f->frames + 1,
	                 why);
}

static int frame_decode(struct snapshot_framer *f, const uint8_t *p,
                        struct snapshot_envelope *env, char *errmsg)
{
	char why[MA_ERRMSG_SIZE];
	int rc;

	rc = snapshot_envelope_decode(p, f->frame_len, f->data_max, env, why);
	if (rc != 0)
		return frame_fail(f, rc, errmsg, why);
	f->frames++;
	f->hdr_len = 0;
	f->buf_len = 0;
	return 1;
}

int snapshot_framer_feed(struct snapshot_framer *f, const void *buf, size_t len,
                         size_t *consumed, struct snapshot_envelope *env,
                         char *errmsg)
{
	const uint8_t *p = buf;
	size_t used = 0, need, take;

	*consumed = 0;
	if (f->error != 0)
		return ma_errorf(errmsg, f->error,
		                 "stream refused after an earlier protocol "
		                 "error");
	if (f->hdr_len < 4) {
		take = 4 - f->hdr_len;
		if (take > len)
			take = len;
		memcpy(f->hdr + f->hdr_len, p, take);
		f->hdr_len += take;
		used += take;
		if (f->hdr_len < 4) {
			*consumed = used;
			return 0;
		}
		f->frame_len = (size_t)be(f->hdr, 4);
		if (f->frame_len == 0 || f->frame_len > f->frame_max) {
			char why[128];
			snprintf(why, sizeof why,
			         "frame length %zu outside 1..%zu",
			         f->frame_len, f->frame_max);
			*consumed = used;
			return frame_fail(f, MA_ERR_PROTO, errmsg, why);
		}
	}
	/* Whole frame in the caller's buffer: decode in place, no copy. */
	if (f->buf_len == 0 && len - used >= f->frame_len) {
		*consumed = used + f->frame_len;
		return frame_decode(f, p + used, env, errmsg);
	}
	if (f->buf_cap < f->frame_len) {
		uint8_t *nb = realloc(f->buf, f->frame_len);
		if (nb == NULL) {
			*consumed = used;
			return frame_fail(f, MA_ERR_NOMEM, errmsg,
			                  "out of memory");
		}
		f->buf = nb;
		f->buf_cap = f->frame_len;
	}
	need = f->frame_len - f->buf_len;
	take = len - used < need ? len - used : need;
	memcpy(f->buf + f->buf_len, p + used, take);
	f->buf_len += take;
	used += take;
	*consumed = used;
	if (f->buf_len < f->frame_len)
		return 0;
	return frame_decode(f, f->buf, env, errmsg);
}

int snapshot_framer_finish(const struct snapshot_framer *f, char *errmsg)
{
	if (f->hdr_len == 0)
		return 0;
	if (f->hdr_len < 4)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "stream ends inside a frame header (%zu of 4 "
		                 "bytes)",
		                 f->hdr_len);
	return ma_errorf(errmsg, MA_ERR_PROTO,
	                 "stream ends inside a frame (%zu of %zu bytes)",
	                 f->buf_len, f->frame_len);
}
