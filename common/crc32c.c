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

/* GF(2) polynomials mod the CRC32C polynomial in the reflected order of
 * the CRC register: bit 31 is x^0, bit 0 is x^31. */
#define CRC32C_POLY_REFLECTED 0x82f63b78u

/* a * b mod P. */
static uint32_t gf2_mulmod(uint32_t a, uint32_t b)
{
	uint32_t p = 0;

	for (int i = 0; i < 32 && a != 0; i++) {
		uint32_t bit = 0x80000000u >> i; /* x^i */

		if (a & bit) {
			p ^= b;
			a &= ~bit;
		}
		/* b *= x */
		b = (b & 1) ? (b >> 1) ^ CRC32C_POLY_REFLECTED : b >> 1;
	}
	return p;
}

/* x^(2^k) mod P for k = 0..30; x^(2^31) = x again (the multiplicative
 * order of x divides 2^31 - 1), so the table repeats with period 31.
 * Computed by squaring x; tests/unit/test_crc32c.c recomputes it. */
static const uint32_t x2k[31] = {
    0x40000000, 0x20000000, 0x08000000, 0x00800000, 0x00008000, 0x82f63b78,
    0x6ea2d55c, 0x18b8ea18, 0x510ac59a, 0xb82be955, 0xb8fdb1e7, 0x88e56f72,
    0x74c360a4, 0xe4172b16, 0x0d65762a, 0x35d73a62, 0x28461564, 0xbf455269,
    0xe2ea32dc, 0xfe7740e6, 0xf946610b, 0x3c204f8f, 0x538586e3, 0x59726915,
    0x734d5309, 0xbc1ac763, 0x7d0722cc, 0xd289cabe, 0xe94ca9bc, 0x05b74f3f,
    0xa51e1f42,
};

uint32_t crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
	/* With equal initial value and final xor (both ~0), running B's
	 * bytes through a register holding A's CRC gives
	 * crc(A || B) = crc_a * x^(8 |B|) + crc(B). x^(8 n) is the product
	 * of x^(2^(j+3)) over the set bits j of n. */
	uint32_t m = crc_a;
	unsigned k = 3;

	for (; len_b != 0 && m != 0; len_b >>= 1, k = (k + 1) % 31)
		if (len_b & 1)
			m = gf2_mulmod(m, x2k[k]);
	return m ^ crc_b;
}
