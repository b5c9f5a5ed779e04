/* proto_buf: the byte buffer encoders append to, and the msgpack-c packer
 * that writes into it one whole frame at a time. */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "proto/proto_internal.h"

void proto_buf_init(struct proto_buf *b)
{
	memset(b, 0, sizeof *b);
}

void proto_buf_free(struct proto_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void proto_buf_clear(struct proto_buf *b)
{
	b->len = 0;
}

int proto_buf_append(struct proto_buf *b, const void *p, size_t n)
{
	if (n > SIZE_MAX - b->len || (b->limit != 0 && b->len + n > b->limit))
		return MA_ERR_NOMEM;
	if (b->len + n > b->cap) {
		size_t cap = b->cap < 256 ? 256 : b->cap;
		uint8_t *d;

		while (cap < b->len + n)
			cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
		d = realloc(b->data, cap);
		if (d == NULL)
			return MA_ERR_NOMEM;
		b->data = d;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

/* msgpack-c's write callback: 0 or -1, which every msgpack_pack_* call
 * returns to us. */
static int buf_write(void *data, const char *buf, size_t len)
{
	return proto_buf_append(data, buf, len) == 0 ? 0 : -1;
}

void proto_pack_begin(struct proto_packer *p, struct proto_buf *out)
{
	static const uint8_t zero[PROTO_FRAME_HEADER_SIZE];

	p->out = out;
	p->start = out->len;
	p->rc = proto_buf_append(out, zero, sizeof zero);
	msgpack_packer_init(&p->pk, out, buf_write);
}

int proto_pack_end(struct proto_packer *p)
{
	size_t body = p->out->len - p->start - PROTO_FRAME_HEADER_SIZE;

	if (p->rc != 0 || body > UINT32_MAX) {
		p->out->len = p->start;
		return MA_ERR_NOMEM;
	}
	proto_frame_header_put(p->out->data + p->start, (uint32_t)body);
	return 0;
}

/* After the first failure nothing more is written: the frame is undone
 * anyway, and a later small write must not land after a failed big one. */
#define PACK(p, call)                                                          \
	do {                                                                   \
		if ((p)->rc == 0 && (call) != 0)                               \
			(p)->rc = -1;                                          \
	} while (0)

void proto_pack_map(struct proto_packer *p, size_t n)
{
	PACK(p, msgpack_pack_map(&p->pk, n));
}

void proto_pack_str(struct proto_packer *p, const char *s, size_t len)
{
	PACK(p, msgpack_pack_str_with_body(&p->pk, s, len));
}

void proto_pack_key(struct proto_packer *p, const char *key)
{
	proto_pack_str(p, key, strlen(key));
}

void proto_pack_kv_str(struct proto_packer *p, const char *key, const char *v)
{
	proto_pack_key(p, key);
	proto_pack_str(p, v, strlen(v));
}

void proto_pack_kv_u64(struct proto_packer *p, const char *key, uint64_t v)
{
	proto_pack_key(p, key);
	PACK(p, msgpack_pack_uint64(&p->pk, v));
}

void proto_pack_kv_i64(struct proto_packer *p, const char *key, int64_t v)
{
	proto_pack_key(p, key);
	PACK(p, msgpack_pack_int64(&p->pk, v));
}

void proto_pack_kv_bin(struct proto_packer *p, const char *key, const void *v,
                       size_t n)
{
	proto_pack_key(p, key);
	PACK(p, msgpack_pack_bin(&p->pk, n));
	if (n > 0)
		PACK(p, msgpack_pack_bin_body(&p->pk, v, n));
}

void proto_pack_kv_bool(struct proto_packer *p, const char *key, bool v)
{
	proto_pack_key(p, key);
	PACK(p, v ? msgpack_pack_true(&p->pk) : msgpack_pack_false(&p->pk));
}

const char *proto_msgpack_version(void)
{
	return msgpack_version();
}
