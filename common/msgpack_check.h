/* Structural pre-check of untrusted msgpack bytes, run before msgpack-c
 * unpacks them. msgpack-c allocates room for a container as soon as it
 * reads its header, so a 5-byte input claiming 2^32 elements would make it
 * try a huge allocation; and it accepts any nesting up to its own stack.
 * This walk bounds both without allocating. */
#ifndef MIRROR_COMMON_MSGPACK_CHECK_H
#define MIRROR_COMMON_MSGPACK_CHECK_H

#include <stddef.h>
#include <stdint.h>

struct msgpack_limits {
	unsigned max_depth;   /* 1: a flat map or array of scalars */
	uint32_t max_entries; /* per map (pairs) or array (elements) */
	uint32_t max_str;     /* bytes in one str */
	uint32_t max_bin;     /* bytes in one bin */
};

/* Checks that buf[0..len) holds exactly one msgpack object within limits:
 * no ext types, no reserved byte 0xc1, every length inside the buffer.
 * Returns 0 or MA_ERR_PROTO with errmsg naming the byte offset and the
 * limit or defect ("nesting deeper than 1 at offset 7"). */
int msgpack_check(const void *buf, size_t len,
                  const struct msgpack_limits *limits, char *errmsg);

#endif
