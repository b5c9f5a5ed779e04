/* What the transport tests share (tests/lib/fixture.h): the generated
 * response body (its bytes and their CRC32C) and the throw-away PKI of a
 * cmocka group (tests/integration/test_transport_util.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "tests/integration/test_transport_util.h"
#include "tests/lib/fixture.h"

uint8_t fx_body_byte(uint64_t i)
{
	return (uint8_t)(i * 31u + (i >> 11) + (i >> 19));
}

void fx_body_fill(uint8_t *p, uint64_t off, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = fx_body_byte(off + i);
}

uint32_t fx_body_crc(uint64_t size)
{
	enum { STEP = 64 * 1024 };
	static uint8_t buf[STEP];
	uint32_t crc = 0;

	for (uint64_t off = 0; off < size; off += STEP) {
		size_t n = size - off < STEP ? (size_t)(size - off) : STEP;

		fx_body_fill(buf, off, n);
		crc = crc32c_append(crc, buf, n);
	}
	return crc;
}

int fx_pki_setup(void **state)
{
	static struct test_pki pki;

	if (test_pki_make(&pki) != 0)
		return -1;
	*state = &pki;
	return 0;
}

int fx_pki_teardown(void **state)
{
	if (*state != NULL)
		test_pki_remove(*state);
	return 0;
}
