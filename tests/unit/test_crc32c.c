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

static uint64_t xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* crc32c_combine over random splits (zero-length pieces included) of
 * random buffers equals one straight CRC, for 300 seeds. */
static void test_combine_random_splits(void **state)
{
	static unsigned char buf[200000];

	(void)state;
	for (uint64_t seed = 1; seed <= 300; seed++) {
		uint64_t s = seed * 0x9E3779B97F4A7C15ull;
		size_t len = (size_t)(xs(&s) % sizeof buf);
		size_t off = 0;
		uint32_t run = 0, whole;

		for (size_t i = 0; i < len; i++)
			buf[i] = (unsigned char)xs(&s);
		whole = crc32c(buf, len);
		while (off < len || (xs(&s) & 3) == 0) {
			size_t left = len - off;
			size_t n =
			    left == 0 ? 0 : (size_t)(xs(&s) % (left + 1));

			/* Mostly smaller pieces, as chunks are. */
			if (n > 65536 && (xs(&s) & 1))
				n = (size_t)(xs(&s) % 65537);
			run = crc32c_combine(run, crc32c(buf + off, n), n);
			off += n;
			if (off == len && (xs(&s) & 1))
				break;
		}
		assert_int_equal(run, whole);
		/* One split point chosen at random against append. */
		size_t cut = len == 0 ? 0 : (size_t)(xs(&s) % (len + 1));
		assert_int_equal(crc32c_combine(crc32c(buf, cut),
		                                crc32c(buf + cut, len - cut),
		                                len - cut),
		                 whole);
	}
}

/* Every byte length from 0 to 4100 (all bit patterns of short lengths,
 * each table entry up to x^(2^15)), and a chunk of zero bytes. */
static void test_combine_every_length(void **state)
{
	static unsigned char buf[4100 + 16];

	(void)state;
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)(i * 37 + 11);
	for (size_t n = 0; n <= 4100; n++) {
		uint32_t a = crc32c(buf, 16);

		assert_int_equal(crc32c_combine(a, crc32c(buf + 16, n), n),
		                 crc32c(buf, 16 + n));
	}
	memset(buf, 0, sizeof buf);
	assert_int_equal(
	    crc32c_combine(crc32c("123456789", 9), crc32c(buf, 1000), 1000),
	    crc32c_append(crc32c("123456789", 9), buf, 1000));
	/* Combining with nothing changes nothing. */
	assert_int_equal(crc32c_combine(0xE3069283, 0, 0), 0xE3069283);
	assert_int_equal(crc32c_combine(0, 0xE3069283, 9), 0xE3069283);
}

/* Lengths past 2^31 bits use the table's wrap (x^(2^31) = x): shifting
 * by n1 then n2 equals shifting by n1 + n2, and the wrap agrees with
 * shifts that do not need it. */
static void test_combine_huge_lengths(void **state)
{
	static const uint64_t lens[] = {(1ull << 28) + 3,     (1ull << 29) - 1,
	                                5ull << 30,           (1ull << 40) + 77,
	                                0xFFFFFFFFFFull,      1ull << 60,
	                                0x7FFFFFFFFFFFFFFFull};
	uint64_t s = 42;

	(void)state;
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
		for (int rep = 0; rep < 20; rep++) {
			uint64_t n = lens[i];
			uint64_t n1 = xs(&s) % (n + 1), n2 = n - n1;
			uint32_t c = (uint32_t)xs(&s) | 1;
			uint32_t b = (uint32_t)xs(&s);

			assert_int_equal(
			    crc32c_combine(c, b, n),
			    crc32c_combine(crc32c_combine(c, 0, n1), b, n2));
		}
	/* 2^28 bytes = 2^31 bits is the first length that needs the wrap:
	 * sixteen shifts of 2^24 bytes (no wrap) must give the same. */
	uint32_t c = 0x1234567, step = c;
	for (int i = 0; i < 16; i++)
		step = crc32c_combine(step, 0, 1ull << 24);
	assert_int_equal(crc32c_combine(c, 0, 1ull << 28), step);
	assert_true(step != c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc3720_vectors),
	    cmocka_unit_test(test_empty_is_zero),
	    cmocka_unit_test(test_append_over_every_split),
	    cmocka_unit_test(test_combine_random_splits),
	    cmocka_unit_test(test_combine_every_length),
	    cmocka_unit_test(test_combine_huge_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
