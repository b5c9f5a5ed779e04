/* raftkv command codec: the payload of every Raft command entry of the
 * reference key-value store, shared by the store's nodes and by a mirror's
 * read-only applier. No libraft here.
 *
 * Encoding (little-endian), docs/TAP.md has the table:
 *   0  u8  magic 0x4b ('K')
 *   1  u8  version 1
 *   2  u8  op (enum kv_op)
 *   3  u8  reserved, 0
 *   4  u32 total length of the encoded command (header + strings)
 *   8  u16 namespace length   10 u16 key length   12 u32 value length
 *   16 u64 expected version (cas, cad; 0 otherwise)
 *   24 namespace bytes, key bytes, value bytes
 * The command carries its own length because libraft 0.15 needs payloads
 * padded to a multiple of 8 (tap/tap.h): a decoder accepts up to 7 zero
 * padding bytes after `total length` and nothing else. */
#ifndef RAFTKV_KV_COMMAND_H
#define RAFTKV_KV_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#define KV_COMMAND_MAGIC 0x4b
#define KV_COMMAND_VERSION 1
#define KV_COMMAND_HEADER 24

/* Explicit limits, enforced by encode and decode. */
#define KV_NAMESPACE_MAX 64     /* bytes, [A-Za-z0-9._-]{1,64} */
#define KV_KEY_MAX 1024         /* bytes, 1..1024, any bytes */
#define KV_VALUE_MAX (1u << 20) /* bytes, 0..1 MiB, any bytes */
#define KV_COMMAND_MAX                                                         \
	(KV_COMMAND_HEADER + KV_NAMESPACE_MAX + KV_KEY_MAX + KV_VALUE_MAX)

enum kv_op {
	KV_OP_PUT = 1, /* set value; creates the key */
	KV_OP_CAS = 2, /* set value if the version equals expected (0: key
	                * must not exist) */
	KV_OP_DEL = 3, /* delete (no error when absent) */
	KV_OP_CAD = 4, /* delete if the version equals expected */
	KV_OP_GET = 5, /* read (never in the log: served from the store) */
	KV_OP_SCAN = 6 /* read keys starting with `key` (may be empty) */
};

/* A decoded command; strings point into the decoded buffer. */
struct kv_command {
	enum kv_op op;
	const char *ns;
	size_t ns_len;
	const uint8_t *key;
	size_t key_len;
	const uint8_t *value;
	size_t value_len;
	uint64_t expected; /* cas, cad */
};

/* True for the ops that change the store (go through the log). */
int kv_op_is_write(enum kv_op op);
/* "put", "cas", ... or "?". */
const char *kv_op_name(enum kv_op op);

/* Checks a command against the limits (op known, namespace
 * [A-Za-z0-9._-]{1,64}, key 1..KV_KEY_MAX bytes except for scan 0..,
 * value only for put/cas). 0 or MA_ERR_INVAL with the reason. */
int kv_command_check(const struct kv_command *cmd, char *errmsg);

/* Encoded length without padding. */
size_t kv_command_size(const struct kv_command *cmd);

/* Encodes cmd into out[0..cap) followed by zero padding up to pad_to (a
 * multiple of which the output length is rounded to; 1 for none, 8 for
 * libraft). Stores the written length (padded) in *len. 0 or
 * MA_ERR_INVAL (bad command), MA_ERR_LIMIT (cap too small). */
int kv_command_encode(const struct kv_command *cmd, void *out, size_t cap,
                      size_t pad_to, size_t *len, char *errmsg);

/* Decodes buf[0..len) (possibly padded). 0 or MA_ERR_PROTO naming what is
 * wrong (short, bad magic/version/op, lengths beyond the limits or the
 * buffer, non-zero or more than 7 bytes of padding). */
int kv_command_decode(const void *buf, size_t len, struct kv_command *cmd,
                      char *errmsg);

#endif
