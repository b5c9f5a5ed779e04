/* proto_fields: field lookup for the decoders. A body is pre-checked by
 * proto_check (a flat map with bounded string keys), then unpacked by
 * msgpack-c, which references str and bin values in the body rather than
 * copying them. Lookups are linear: a message has at most a few dozen
 * keys. */
#include <inttypes.h>
#include <string.h>

#include "common/errors.h"
#include "common/parse.h"
#include "proto/proto_internal.h"

int proto_fields_open(struct proto_fields *f, const void *body, size_t len,
                      const struct proto_limits *limits, char *errmsg)
{
	size_t off = 0;
	int rc;

	f->errmsg = errmsg;
	f->map = NULL;
	msgpack_unpacked_init(&f->up);
	rc = proto_check(body, len, limits, errmsg);
	if (rc != 0)
		return rc;
	switch (msgpack_unpack_next(&f->up, body, len, &off)) {
	case MSGPACK_UNPACK_SUCCESS:
		break;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		return ma_errorf(errmsg, MA_ERR_NOMEM,
		                 "out of memory unpacking a %zu-byte message",
		                 len);
	default:
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "malformed msgpack message");
	}
	/* proto_check() guarantees one map with string keys. */
	f->map = &f->up.data.via.map;
	return 0;
}

void proto_fields_close(struct proto_fields *f)
{
	msgpack_unpacked_destroy(&f->up);
}

static bool key_is(const msgpack_object *k, const char *key, size_t klen)
{
	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
	       memcmp(k->via.str.ptr, key, klen) == 0;
}

bool proto_fields_has(const struct proto_fields *f, const char *key)
{
	size_t klen = strlen(key);

	for (uint32_t i = 0; i < f->map->size; i++)
		if (key_is(&f->map->ptr[i].key, key, klen))
			return true;
	return false;
}

/* The value of key, present exactly once. */
static int find(const struct proto_fields *f, const char *key,
                const msgpack_object **out)
{
	size_t klen = strlen(key);

	*out = NULL;
	for (uint32_t i = 0; i < f->map->size; i++) {
		if (!key_is(&f->map->ptr[i].key, key, klen))
			continue;
		if (*out != NULL)
			return ma_errorf(f->errmsg, MA_ERR_PROTO,
			                 "field '%s' appears twice", key);
		*out = &f->map->ptr[i].val;
	}
	if (*out == NULL)
		return ma_errorf(f->errmsg, MA_ERR_PROTO, "field '%s' missing",
		                 key);
	return 0;
}

int proto_fields_u64(const struct proto_fields *f, const char *key,
                     uint64_t max, uint64_t *out)
{
	const msgpack_object *o;
	int rc = find(f, key, &o);

	if (rc != 0)
		return rc;
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return ma_errorf(f->errmsg, MA_ERR_PROTO,
		                 "field '%s' is not an unsigned integer", key);
	if (o->via.u64 > max)
		return ma_errorf(f->errmsg, MA_ERR_PROTO,
		                 "field '%s' value %" PRIu64
		                 " exceeds %" PRIu64,
		                 key, o->via.u64, max);
	*out = o->via.u64;
	return 0;
}

int proto_fields_i64(const struct proto_fields *f, const char *key,
                     int64_t *out)
{
	const msgpack_object *o;
	int rc = find(f, key, &o);

	if (rc != 0)
		return rc;
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

int proto_fields_bool(const struct proto_fields *f, const char *key, bool *out)
{
	const msgpack_object *o;
	int rc = find(f, key, &o);

	if (rc != 0)
		return rc;
	if (o->type != MSGPACK_OBJECT_BOOLEAN)
		return ma_errorf(f->errmsg, MA_ERR_PROTO,
		                 "field '%s' is not a boolean", key);
	*out = o->via.boolean;
	return 0;
}

int proto_fields_str(const struct proto_fields *f, const char *key, size_t max,
                     char *out)
{
	const msgpack_object *o;
	int rc = find(f, key, &o);

	if (rc != 0)
		return rc;
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

int proto_fields_name(const struct proto_fields *f, const char *key, size_t max,
                      char *out)
{
	int rc = proto_fields_str(f, key, max, out);

	if (rc != 0)
		return rc;
	if (!parse_name_valid_str(out))
		return ma_errorf(f->errmsg, MA_ERR_PROTO,
		                 "field '%s' is not [A-Za-z0-9._-]{1,64} (and "
		                 "not '.' or '..')",
		                 key);
	return 0;
}

int proto_fields_bin(const struct proto_fields *f, const char *key,
                     const void **data, size_t *len)
{
	const msgpack_object *o;
	int rc = find(f, key, &o);

	if (rc != 0)
		return rc;
	if (o->type != MSGPACK_OBJECT_BIN)
		return ma_errorf(f->errmsg, MA_ERR_PROTO,
		                 "field '%s' is not binary", key);
	*data = o->via.bin.size > 0 ? o->via.bin.ptr : NULL;
	*len = o->via.bin.size;
	return 0;
}
