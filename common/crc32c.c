#include "common/crc32c.h"

#include <isa-l/crc.h>

uint32_t crc32c_append(uint32_t prev, const void *buf, size_t len)
{
	/* crc32_iscsi() takes and returns the register without the final
	 * inversion, and takes an int length: feed it in bounded pieces. */
	const unsigned char *p = buf;
	uint32_t reg = ~prev;

	while (len > 0) {
		size_t n = len > (1u << 30) ? (1u << 30) : len;
		reg = crc32_iscsi((unsigned char *)p, (int)n, reg);
		p += n;
		len -= n;
	}
	return ~reg;
}

uint32_t crc32c(const void *buf, size_t len)
{
	return crc32c_append(0, buf, len);
}
