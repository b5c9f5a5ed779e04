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

#endif
