/* CRC32C (Castagnoli, as in iSCSI, RFC 3720) over ISA-L's crc32_iscsi.
 *
 * ISA-L's crc32_iscsi() works on the raw (non-inverted) register; these
 * wrappers give the standard CRC32C value so that results match every
 * other implementation and chain with an append form:
 *   crc32c_append(crc32c_append(0, a), b) == crc32c(a || b). */
#ifndef MIRROR_COMMON_CRC32C_H
#define MIRROR_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Returns the CRC32C of buf[0..len). len 0 gives 0. */
uint32_t crc32c(const void *buf, size_t len);

/* Returns the CRC32C of (bytes whose CRC32C is prev) followed by buf.
 * Start a running value with prev = 0. */
uint32_t crc32c_append(uint32_t prev, const void *buf, size_t len);

/* Returns the CRC32C of A || B from crc_a = crc32c(A), crc_b = crc32c(B)
 * and len_b = |B|, without reading the bytes: crc_a is multiplied by
 * x^(8 len_b) modulo the CRC polynomial (at most 64 GF(2) products, a
 * few hundred nanoseconds) and xored with crc_b. What lets a receiver
 * check a chunk's CRC and extend the whole file's CRC with one pass over
 * the bytes. */
uint32_t crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

#endif
