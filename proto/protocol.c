#include "proto/protocol.h"

#include <string.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "common/frame.h"
#include "common/msgpack_check.h"
#include "common/parse.h"

const char *proto_error_name(enum proto_error e)
{
	switch (e) {
	case PROTO_ERROR_COMPACTED:
		return "compacted";
	case PROTO_ERROR_DIVERGED:
		return "diverged";
	case PROTO_ERROR_NOT_FOUND:
		return "not-found";
	case PROTO_ERROR_FORBIDDEN:
		return "forbidden";
	case PROTO_ERROR_BAD_REQUEST:
		return "bad-request";
	case PROTO_ERROR_INTERNAL:
		return "internal";
	case PROTO_ERROR_UNAVAILABLE:
		return "unavailable";
	}
	return "unknown";
}

/* --- encoding --- */

static void pack_key(msgpack_packer *pk, const char *k)
{
	msgpack_pack_str_with_body(pk, k, strlen(k));
}

static void pack_kv_u64(msgpack_packer *pk, const char *k, uint64_t v)
{
	pack_key(pk, k);
	msgpack_pack_uint64(pk, v);
}

static void pack_kv_i64(msgpack_packer *pk, const char *k, int64_t v)
{
	pack_key(pk, k);
	msgpack_pack_int64(pk, v);
}

static void pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
	pack_key(pk, k);
	msgpack_pack_str_with_body(pk, v, strlen(v));
}

/* Reserves the frame header, returns its offset; finish_frame fills it. */
static int begin_frame(msgpack_sbuffer *sb, size_t *at)
{
	static const char zero[FRAME_HEADER_SIZE];

	*at = sb->size;
	return msgpack_sbuffer_write(sb, zero, sizeof zero) == 0 ? 0
	                                                         : MA_ERR_NOMEM;
}

static int finish_frame(msgpack_sbuffer *sb, size_t at)
{
	size_t body = sb->size - at - FRAME_HEADER_SIZE;

	if (sb->data == NULL || body > UINT32_MAX)
		return MA_ERR_NOMEM;
	frame_header_put((unsigned char *)sb->data + at, (uint32_t)body);
	return 0;
}

static void pack_identity(msgpack_packer *pk, const struct proto_identity *id)
{
	pack_kv_str(pk, "cluster_id", id->cluster_id);
	pack_kv_str(pk, "database_id", id->database_id);
	pack_kv_u64(pk, "epoch", id->epoch);
}

int proto_info_encode(msgpack_sbuffer *sb, const struct proto_info *info)
{
	msgpack_packer pk;
	size_t at;

	if (begin_frame(sb, &at) != 0)
		return MA_ERR_NOMEM;
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, info->has_snapshot ? 12 : 8);
	pack_kv_str(&pk, "k", "info");
	pack_identity(&pk, &info->id);
	pack_kv_u64(&pk, "first_index", info->first_index);
	pack_kv_u64(&pk, "commit_index", info->commit_index);
	pack_kv_u64(&pk, "commit_term", info->commit_term);
	pack_kv_i64(&pk, "source_time", info->source_time_ms);
	if (info->has_snapshot) {
		pack_kv_u64(&pk, "snapshot_index", info->snapshot_index);
		pack_kv_u64(&pk, "snapshot_term", info->snapshot_term);
		pack_kv_u64(&pk, "snapshot_size", info->snapshot_size);
		pack_kv_u64(&pk, "snapshot_crc32c", info->snapshot_crc32c);
	}
	return finish_frame(sb, at);
}

int proto_log_encode(msgpack_sbuffer *sb, const struct proto_log_msg *m)
{
	msgpack_packer pk;
	char kind[2] = {(char)m->kind, '\0'};
	size_t at;

	if (begin_frame(sb, &at) != 0)
		return MA_ERR_NOMEM;
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	switch (m->kind) {
	case PROTO_LOG_START:
		msgpack_pack_map(&pk, 5);
		pack_kv_str(&pk, "k", kind);
		pack_identity(&pk, &m->id);
		pack_kv_u64(&pk, "from", m->from_index);
		break;
	case PROTO_LOG_ENTRY:
		/* Short keys: entries are the hot path and often small. */
		msgpack_pack_map(&pk, 6);
		pack_kv_str(&pk, "k", kind);
		pack_kv_u64(&pk, "i", m->index);
		pack_kv_u64(&pk, "t", m->term);
		pack_kv_u64(&pk, "y", m->type);
		pack_key(&pk, "d");
		msgpack_pack_bin_with_body(&pk, m->data, m->data_len);
		pack_kv_u64(&pk, "c", crc32c(m->data, m->data_len));
		break;
	case PROTO_LOG_HEARTBEAT:
		msgpack_pack_map(&pk, 4);
		pack_kv_str(&pk, "k", kind);
		pack_kv_u64(&pk, "commit_index", m->commit_index);
		pack_kv_u64(&pk, "first_index", m->first_index);
		pack_kv_i64(&pk, "source_time", m->source_time_ms);
		break;
	case PROTO_LOG_ERROR:
		msgpack_pack_map(&pk, 4);
		pack_kv_str(&pk, "k", kind);
		pack_kv_str(&pk, "error", proto_error_name(m->error));
		pack_kv_str(&pk, "message", m->message);
		pack_kv_u64(&pk, "first_index", m->first_index);
		break;
	default:
		return MA_ERR_INVAL;
	}
	return finish_frame(sb, at);
}

/* --- decoding --- */

struct fields {
	msgpack_unpacked up;
	const msgpack_object_map *map;
	char *errmsg;
};

static int fields_open(struct fields *f, const void *body, size_t len,
                       size_t bin_max, char *errmsg)
{
	const struct msgpack_limits limits = {
	    .max_depth = 1,
	    .max_entries = 32,
	    .max_str = PROTO_MESSAGE_MAX,
	    .max_bin = bin_max > UINT32_MAX ? UINT32_MAX : (uint32_t)bin_max,
	};
	size_t off = 0;
	int rc;

	f->errmsg = errmsg;
	f->map = NULL;
	msgpack_unpacked_init(&f->up);
	rc = msgpack_check(body, len, &limits, errmsg);
	if (rc != 0)
		return rc;
	if (msgpack_unpack_next(&f->up, body, len, &off) !=
	    MSGPACK_UNPACK_SUCCESS)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "malformed msgpack message");
	if (f->up.data.type != MSGPACK_OBJECT_MAP)
		return ma_errorf(errmsg, MA_ERR_PROTO, "message is not a map");
	f->map = &f->up.data.via.map;
	return 0;
}

static void fields_close(struct fields *f)
{
	msgpack_unpacked_destroy(&f->up);
}

static const msgpack_object *field(const struct fields *f, const char *key)
{
	size_t klen = strlen(key);

	for (uint32_t i = 0; i < f->map->size; i++) {
		const msgpack_object *k = &f->map->ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
		    memcmp(k->via.str.ptr, key, klen) == 0)
			return &f->map->ptr[i].val;
	}
	return NULL;
}

static int get_u64(const struct fields *f, const char *key, uint64_t max,
                   uint64_t *out)
{
	const msgpack_object *o = field(f, key);

	if (o == NULL)
		return ma_errorf(f->errmsg, MA_ERR_PROTO, "field '%s' missing",
		                 key);
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return ma_errorf(f->errmsg, MA_ERR_PROTO,
		                 "field '%s' is not an unsigned integer", key);
	if (o->via.u64 > max)
		return ma_errorf(f->errmsg, MA_ERR_PROTO,
		                 "field '%s' value %llu exceeds %llu", key,
		                 (unsigned long long)o->via.u64,
		                 (unsigned long long)max);
	*out = o->via.u64;
	return 0;
}

static int get_i64(const struct fields *f, const char *key, int64_t *out)
{
	const msgpack_object *o = field(f, key);

	if (o == NULL)
		return ma_errorf(f->errmsg, MA_ERR_PROTO, "field '%s' missing",
		                 key);
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    o->via.u64 <= INT64_MAX)
		*out = (int64_t)o->via.u64;
	else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		*out = o->via.i64;
	else
		return ma_errorf(f->errmsg, MA_ERR_PROTO,
		                 "field '%s' is not a 64-bit integer", key);
	return 0;
}

static int get_str(const struct fields *f, const char *key, size_t max,
                   char *out)
{
	const msgpack_object *o = field(f, key);

	if (o == NULL)
		return ma_errorf(f->errmsg, MA_ERR_PROTO, "field '%s' missing",
		                 key);
	if (o->type != MSGPACK_OBJECT_STR)
		return ma_errorf(f->errmsg, MA_ERR_PROTO,
		                 "field '%s' is not a string", key);
	if (o->via.str.size > max)
		return ma_errorf(f->errmsg, MA_ERR_PROTO,
		                 "field '%s' longer than %zu bytes", key, max);
	if (memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
		return ma_errorf(f->errmsg, MA_ERR_PROTO,
		                 "field '%s' contains a NUL byte", key);
	memcpy(out, o->via.str.ptr, o->via.str.size);
	out[o->via.str.size] = '\0';
	return 0;
}

static int get_kind(const struct fields *f, char *kind, size_t size)
{
	return get_str(f, "k", size - 1, kind);
}

static int get_identity(const struct fields *f, struct proto_identity *id)
{
	int rc;

	if ((rc = get_str(f, "cluster_id", PROTO_CLUSTER_ID_LEN,
	                  id->cluster_id)) ||
	    (rc = get_str(f, "database_id", PROTO_DATABASE_ID_MAX,
	                  id->database_id)) ||
	    (rc = get_u64(f, "epoch", UINT64_MAX, &id->epoch)))
		return rc;
	if (!parse_name_valid_str(id->database_id))
		return ma_errorf(
		    f->errmsg, MA_ERR_PROTO,
		    "field 'database_id' is not [A-Za-z0-9._-]{1,64}");
	return 0;
}

int proto_info_decode(const void *body, size_t len, struct proto_info *info,
                      char *errmsg)
{
	struct fields f;
	char kind[8];
	uint64_t crc;
	int rc;

	memset(info, 0, sizeof *info);
	rc = fields_open(&f, body, len, 0, errmsg);
	if (rc == 0)
		rc = get_kind(&f, kind, sizeof kind);
	if (rc == 0 && strcmp(kind, "info") != 0)
		rc = ma_errorf(errmsg, MA_ERR_PROTO,
		               "expected an info message, got '%s'", kind);
	if (rc == 0 &&
	    !((rc = get_identity(&f, &info->id)) ||
	      (rc = get_u64(&f, "first_index", UINT64_MAX,
	                    &info->first_index)) ||
	      (rc = get_u64(&f, "commit_index", UINT64_MAX,
	                    &info->commit_index)) ||
	      (rc = get_u64(&f, "commit_term", UINT64_MAX,
	                    &info->commit_term)) ||
	      (rc = get_i64(&f, "source_time", &info->source_time_ms))) &&
	    field(&f, "snapshot_index") != NULL) {
		info->has_snapshot = true;
		if (!((rc = get_u64(&f, "snapshot_index", UINT64_MAX,
		                    &info->snapshot_index)) ||
		      (rc = get_u64(&f, "snapshot_term", UINT64_MAX,
		                    &info->snapshot_term)) ||
		      (rc = get_u64(&f, "snapshot_size", INT64_MAX,
		                    &info->snapshot_size)) ||
		      (rc = get_u64(&f, "snapshot_crc32c", UINT32_MAX, &crc))))
			info->snapshot_crc32c = (uint32_t)crc;
	}
	fields_close(&f);
	return rc;
}

static int error_from_name(const char *name, enum proto_error *out)
{
	for (int e = PROTO_ERROR_COMPACTED; e <= PROTO_ERROR_UNAVAILABLE; e++) {
		if (strcmp(name, proto_error_name((enum proto_error)e)) == 0) {
			*out = (enum proto_error)e;
			return 0;
		}
	}
	return -1;
}

int proto_log_decode(const void *body, size_t len, size_t data_max,
                     struct proto_log_msg *m, char *errmsg)
{
	struct fields f;
	char kind[8], name[PROTO_MESSAGE_MAX + 1];
	const msgpack_object *d;
	uint64_t v;
	int rc;

	memset(m, 0, sizeof *m);
	rc = fields_open(&f, body, len, data_max, errmsg);
	if (rc == 0)
		rc = get_kind(&f, kind, sizeof kind);
	if (rc != 0)
		goto out;
	if (strlen(kind) != 1) {
		rc = ma_errorf(errmsg, MA_ERR_PROTO,
		               "unknown log message kind '%s'", kind);
		goto out;
	}
	m->kind = (enum proto_log_kind)kind[0];
	switch (m->kind) {
	case PROTO_LOG_START:
		if (!(rc = get_identity(&f, &m->id)))
			rc = get_u64(&f, "from", UINT64_MAX, &m->from_index);
		break;
	case PROTO_LOG_ENTRY:
		if ((rc = get_u64(&f, "i", UINT64_MAX, &m->index)) ||
		    (rc = get_u64(&f, "t", UINT64_MAX, &m->term)) ||
		    (rc = get_u64(&f, "y", UINT8_MAX, &v)))
			break;
		m->type = (uint8_t)v;
		if ((rc = get_u64(&f, "c", UINT32_MAX, &v)))
			break;
		m->crc32c = (uint32_t)v;
		d = field(&f, "d");
		if (d == NULL || d->type != MSGPACK_OBJECT_BIN) {
			rc = ma_errorf(errmsg, MA_ERR_PROTO,
			               "field 'd' missing or not binary");
			break;
		}
		/* msgpack_unpack_next() references binaries in the input
		 * rather than copying them, so data stays valid after
		 * fields_close() for as long as the caller's body does. */
		m->data = d->via.bin.ptr;
		m->data_len = d->via.bin.size;
		if (crc32c(m->data, m->data_len) != m->crc32c)
			rc = ma_errorf(
			    errmsg, MA_ERR_CRC,
			    "entry %llu: data CRC32C 0x%08x, declared 0x%08x",
			    (unsigned long long)m->index,
			    crc32c(m->data, m->data_len), m->crc32c);
		break;
	case PROTO_LOG_HEARTBEAT:
		if (!(rc = get_u64(&f, "commit_index", UINT64_MAX,
		                   &m->commit_index)) &&
		    !(rc = get_u64(&f, "first_index", UINT64_MAX,
		                   &m->first_index)))
			rc = get_i64(&f, "source_time", &m->source_time_ms);
		break;
	case PROTO_LOG_ERROR:
		if ((rc = get_str(&f, "error", PROTO_MESSAGE_MAX, name)) ||
		    (rc = get_str(&f, "message", PROTO_MESSAGE_MAX,
		                  m->message)) ||
		    (rc = get_u64(&f, "first_index", UINT64_MAX,
		                  &m->first_index)))
			break;
		if (error_from_name(name, &m->error) != 0)
			rc = ma_errorf(errmsg, MA_ERR_PROTO,
			               "unknown error code '%s'", name);
		break;
	default:
		rc = ma_errorf(errmsg, MA_ERR_PROTO,
		               "unknown log message kind '%s'", kind);
		break;
	}
out:
	fields_close(&f);
	return rc;
}
