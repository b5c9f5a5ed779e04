/* Private to proto/: the msgpack-c bridge the encoders and decoders share.
 * Not installed, not included outside proto/ (proto.h is the API). */
#ifndef MIRROR_PROTO_INTERNAL_H
#define MIRROR_PROTO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "proto/proto.h"

/* Longest map key any message uses is 15 bytes; keys past this are
 * refused by the pre-check. */
#define PROTO_KEY_MAX 32

/* ---- encoding (proto_buf.c) ----
 * A packer appending to a proto_buf inside one frame. Every msgpack-c
 * return code is collected in rc; proto_pack_end() either fills the frame
 * header or, if any call failed, cuts the buffer back to where the frame
 * began, so a failure never leaves a short body under a valid header. */
struct proto_packer {
	msgpack_packer pk;
	struct proto_buf *out;
	size_t start; /* out->len before the frame */
	int rc;       /* non-zero once any write failed */
};

void proto_pack_begin(struct proto_packer *p, struct proto_buf *out);
/* 0, or MA_ERR_NOMEM after undoing the frame. */
int proto_pack_end(struct proto_packer *p);
void proto_pack_map(struct proto_packer *p, size_t n);
void proto_pack_str(struct proto_packer *p, const char *s, size_t len);
void proto_pack_key(struct proto_packer *p,
                    const char *key); /* NUL-terminated */
void proto_pack_kv_str(struct proto_packer *p, const char *key, const char *v);
void proto_pack_kv_u64(struct proto_packer *p, const char *key, uint64_t v);
void proto_pack_kv_i64(struct proto_packer *p, const char *key, int64_t v);
void proto_pack_kv_bin(struct proto_packer *p, const char *key, const void *v,
                       size_t n);
void proto_pack_kv_bool(struct proto_packer *p, const char *key, bool v);

/* ---- decoding (proto_fields.c) ----
 * One message's fields: the body is pre-checked (proto_check), then
 * unpacked by msgpack-c (str and bin values point into the body). */
struct proto_fields {
	msgpack_unpacked up;
	const msgpack_object_map *map;
	char *errmsg;
};

/* 0, MA_ERR_PROTO, MA_ERR_NOMEM. proto_fields_close() is needed either
 * way. */
int proto_fields_open(struct proto_fields *f, const void *body, size_t len,
                      const struct proto_limits *limits, char *errmsg);
void proto_fields_close(struct proto_fields *f);
/* True when key is present (once or more). */
bool proto_fields_has(const struct proto_fields *f, const char *key);
/* Getters: 0 or MA_ERR_PROTO naming the key (missing, appears twice,
 * wrong type, out of range). */
int proto_fields_u64(const struct proto_fields *f, const char *key,
                     uint64_t max, uint64_t *out);
int proto_fields_i64(const struct proto_fields *f, const char *key,
                     int64_t *out);
int proto_fields_bool(const struct proto_fields *f, const char *key, bool *out);
/* A string of at most max bytes without NUL, copied NUL-terminated. */
int proto_fields_str(const struct proto_fields *f, const char *key, size_t max,
                     char *out);
/* A name under parse_name_valid (common/parse.h), at most max bytes. */
int proto_fields_name(const struct proto_fields *f, const char *key, size_t max,
                      char *out);
/* A bin value, borrowed from the body. */
int proto_fields_bin(const struct proto_fields *f, const char *key,
                     const void **data, size_t *len);

/* The identity fields every stream's first message carries
 * (proto_info.c). */
/* Pairs proto_pack_identity() writes (the incarnation only when known). */
size_t proto_identity_pairs(const struct proto_identity *id);
void proto_pack_identity(struct proto_packer *p,
                         const struct proto_identity *id);
int proto_fields_identity(const struct proto_fields *f,
                          struct proto_identity *id);

/* The optional freshness fields (proto_info.c): pairs written (0 when
 * unknown), the packer, and the decoder (nothing present: known false). */
size_t proto_freshness_pairs(const struct proto_freshness *fr);
void proto_pack_freshness(struct proto_packer *p,
                          const struct proto_freshness *fr);
int proto_fields_freshness(const struct proto_fields *f,
                           struct proto_freshness *fr);

#endif
