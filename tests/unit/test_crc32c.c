/* CRC32C wrapper over ISA-L: RFC 3720 B.4 vectors and the append form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/crc32c.h"

static void test_rfc3720_vectors(void **state)
{
	unsigned char buf[32];

	(void)state;
	memset(buf, 0, sizeof buf);
	assert_int_equal(crc32c(buf, sizeof buf), 0x8A9136AA);
	memset(buf, 0xff, sizeof buf);
	assert_int_equal(crc32c(buf, sizeof buf), 0x62A8AB43);
	for (int i = 0; i < 32; i++)
		buf[i] = (unsigned char)i;
	assert_int_equal(crc32c(buf, sizeof buf), 0x46DD794E);
	assert_int_equal(crc32c("123456789", 9), 0xE3069283);
}

static void test_empty_is_zero(void **state)
{
	(void)state;
	assert_int_equal(crc32c("", 0), 0);
	assert_int_equal(crc32c_append(0x12345678, "", 0), 0x12345678);
}

static void test_append_over_every_split(void **state)
{
	unsigned char buf[1031];
	uint32_t whole;

	(void)state;
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	whole = crc32c(buf, sizeof buf);
	for (size_t split = 0; split <= sizeof buf; split++) {
		uint32_t c = crc32c_append(0, buf, split);
		c = crc32c_append(c, buf + split, sizeof buf - split);
		assert_int_equal(c, whole);
	}
	/* Three pieces, byte by byte. */
	uint32_t c = 0;
	for (size_t i = 0; i < sizeof buf; i++)
		c = crc32c_append(c, buf + i, 1);
	assert_int_equal(c, whole);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc3720_vectors),
	    cmocka_unit_test(test_empty_is_zero),
	    cmocka_unit_test(test_append_over_every_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
