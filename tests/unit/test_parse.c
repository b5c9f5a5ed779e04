/* common/parse: the one decimal, size, duration, host, endpoint and hex
 * parser, at their edges: empty, sign, overflow by one, trailing junk,
 * every unit, IPv6 forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/parse.h"

/* Asserts that f(s) fails with a reason containing `why`. */
#define ASSERT_REFUSED(f, s, why)                                              \
	do {                                                                   \
		uint64_t v_ = 12345;                                           \
		char w_[PARSE_WHY_SIZE] = "";                                  \
		assert_int_equal(f(s, &v_, w_), MA_ERR_INVAL);                 \
		if (strstr(w_, why) == NULL)                                   \
			fail_msg("%s(\"%s\"): got \"%s\", want \"%s\"", #f, s, \
			         w_, why);                                     \
		assert_true(v_ == 12345); /* untouched on error */             \
	} while (0)

#define ASSERT_PARSES(f, s, want)                                              \
	do {                                                                   \
		uint64_t v_ = 0;                                               \
		char w_[PARSE_WHY_SIZE] = "";                                  \
		if (f(s, &v_, w_) != 0)                                        \
			fail_msg("%s(\"%s\"): %s", #f, s, w_);                 \
		assert_true(v_ == (uint64_t)(want));                           \
	} while (0)

static void test_uint64(void **state)
{
	uint64_t v = 0;

	(void)state;
	ASSERT_PARSES(parse_uint64, "0", 0);
	ASSERT_PARSES(parse_uint64, "007", 7);
	ASSERT_PARSES(parse_uint64, "18446744073709551615", UINT64_MAX);
	ASSERT_REFUSED(parse_uint64, "18446744073709551616", "too large");
	ASSERT_REFUSED(parse_uint64, "99999999999999999999999", "too large");
	ASSERT_REFUSED(parse_uint64, "", "empty");
	ASSERT_REFUSED(parse_uint64, "-1", "must not be negative");
	ASSERT_REFUSED(parse_uint64, "+1", "not a whole number");
	ASSERT_REFUSED(parse_uint64, " 1", "not a whole number");
	ASSERT_REFUSED(parse_uint64, "1 ", "not a whole number");
	ASSERT_REFUSED(parse_uint64, "12abc", "not a whole number");
	ASSERT_REFUSED(parse_uint64, "0x10", "not a whole number");
	ASSERT_REFUSED(parse_uint64, "1.5", "not a whole number");
	/* Junk after an overflow is reported as junk. */
	ASSERT_REFUSED(parse_uint64, "99999999999999999999x",
	               "not a whole number");
	/* The length form stops where told, NUL or not. */
	assert_int_equal(parse_uint64_len("123456", 3, &v, NULL), 0);
	assert_true(v == 123);
	assert_int_equal(parse_uint64_len("12\0"
	                                  "3",
	                                  3, &v, NULL),
	                 MA_ERR_INVAL);
	assert_int_equal(parse_uint64_len("", 0, &v, NULL), MA_ERR_INVAL);
}

static void test_size(void **state)
{
	(void)state;
	ASSERT_PARSES(parse_size, "0", 0);
	ASSERT_PARSES(parse_size, "512", 512);
	ASSERT_PARSES(parse_size, "512B", 512);
	ASSERT_PARSES(parse_size, "512 b", 512);
	ASSERT_PARSES(parse_size, "4k", 4096);
	ASSERT_PARSES(parse_size, "4KiB", 4096);
	ASSERT_PARSES(parse_size, "4kib", 4096);
	ASSERT_PARSES(parse_size, "3M", 3ull << 20);
	ASSERT_PARSES(parse_size, "3 MiB", 3ull << 20);
	ASSERT_PARSES(parse_size, "2G", 2ull << 30);
	ASSERT_PARSES(parse_size, "2GiB", 2ull << 30);
	ASSERT_PARSES(parse_size, "5T", 5ull << 40);
	ASSERT_PARSES(parse_size, "5TiB", 5ull << 40);
	/* The largest multiple of 1 TiB that fits, and one more. */
	ASSERT_PARSES(parse_size, "16777215TiB", 16777215ull << 40);
	ASSERT_REFUSED(parse_size, "16777216TiB", "too large");
	ASSERT_REFUSED(parse_size, "18446744073709551616", "too large");
	ASSERT_REFUSED(parse_size, "", "empty");
	ASSERT_REFUSED(parse_size, "-1KiB", "must not be negative");
	ASSERT_REFUSED(parse_size, "KiB", "not a size");
	ASSERT_REFUSED(parse_size, "1.5MiB", "fractions are not supported");
	ASSERT_REFUSED(parse_size, "1,5MiB", "fractions are not supported");
	ASSERT_REFUSED(parse_size, "1KB", "ambiguous unit \"KB\": write KiB");
	ASSERT_REFUSED(parse_size, "1mb", "ambiguous unit \"mb\": write MiB");
	ASSERT_REFUSED(parse_size, "1GB", "ambiguous unit");
	ASSERT_REFUSED(parse_size, "1TB", "ambiguous unit");
	ASSERT_REFUSED(parse_size, "1PiB", "unknown size unit \"PiB\"");
	ASSERT_REFUSED(parse_size, "1MiB ", "unknown size unit");
	ASSERT_REFUSED(parse_size, "1 2", "unknown size unit");
}

static void test_duration(void **state)
{
	(void)state;
	ASSERT_PARSES(parse_duration_ms, "0", 0);
	ASSERT_PARSES(parse_duration_ms, "250", 250);
	ASSERT_PARSES(parse_duration_ms, "250ms", 250);
	ASSERT_PARSES(parse_duration_ms, "250 MS", 250);
	ASSERT_PARSES(parse_duration_ms, "2s", 2000);
	ASSERT_PARSES(parse_duration_ms, "2sec", 2000);
	ASSERT_PARSES(parse_duration_ms, "3m", 180000);
	ASSERT_PARSES(parse_duration_ms, "3min", 180000);
	ASSERT_PARSES(parse_duration_ms, "2h", 7200000);
	ASSERT_PARSES(parse_duration_ms, "5124095576030h",
	              5124095576030ull * 3600000);
	ASSERT_REFUSED(parse_duration_ms, "5124095576031h", "too large");
	ASSERT_REFUSED(parse_duration_ms, "", "empty");
	ASSERT_REFUSED(parse_duration_ms, "-5s", "must not be negative");
	ASSERT_REFUSED(parse_duration_ms, "s", "not a duration");
	ASSERT_REFUSED(parse_duration_ms, "1.5s", "fractions");
	ASSERT_REFUSED(parse_duration_ms, "1d",
	               "unknown duration unit \"d\": use ms, s, min or h");
	ASSERT_REFUSED(parse_duration_ms, "1us", "unknown duration unit");
	ASSERT_REFUSED(parse_duration_ms, "1s1", "unknown duration unit");
}

static void test_format_reads_back(void **state)
{
	static const uint64_t sizes[] = {0,          1,          1023,
	                                 1024,       1536,       4u << 20,
	                                 1ull << 30, 3ull << 40, UINT64_MAX};
	static const uint64_t durations[] = {
	    0,     1,       999,     1000,     1500,      60000,
	    90000, 3600000, 7200000, 86400000, UINT64_MAX};
	char buf[32];
	uint64_t v;

	(void)state;
	parse_format_size(4u << 20, buf, sizeof buf);
	assert_string_equal(buf, "4MiB");
	parse_format_size(1536, buf, sizeof buf);
	assert_string_equal(buf, "1536");
	parse_format_duration(600000, buf, sizeof buf);
	assert_string_equal(buf, "10min");
	parse_format_duration(1500, buf, sizeof buf);
	assert_string_equal(buf, "1500ms");
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		parse_format_size(sizes[i], buf, sizeof buf);
		assert_int_equal(parse_size(buf, &v, NULL), 0);
		assert_true(v == sizes[i]);
	}
	for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
		parse_format_duration(durations[i], buf, sizeof buf);
		assert_int_equal(parse_duration_ms(buf, &v, NULL), 0);
		assert_true(v == durations[i]);
	}
}

static void test_endpoint(void **state)
{
	static const struct {
		const char *text;
		unsigned flags;
		const char *host; /* NULL: refused */
		unsigned port;
		const char *why;
	} cases[] = {
	    {"127.0.0.1:4433", 0, "127.0.0.1", 4433, NULL},
	    {"localhost:1", 0, "localhost", 1, NULL},
	    {"node-1.example.net:65535", 0, "node-1.example.net", 65535, NULL},
	    {"[::1]:4433", 0, "::1", 4433, NULL},
	    {"[::]:80", 0, "::", 80, NULL},
	    {"[2001:db8::1]:443", 0, "2001:db8::1", 443, NULL},
	    {"[::ffff:192.0.2.1]:443", 0, "::ffff:192.0.2.1", 443, NULL},
	    {"[fe80::1%eth0]:1", 0, NULL, 0, "invalid IPv6 address"},
	    {"[::1]:0", PARSE_ENDPOINT_PORT0, "::1", 0, NULL},
	    {"127.0.0.1:0", PARSE_ENDPOINT_PORT0 | PARSE_ENDPOINT_NUMERIC,
	     "127.0.0.1", 0, NULL},
	    {"host:0", 0, NULL, 0, "port out of range 1-65535"},
	    {"host:65536", PARSE_ENDPOINT_PORT0, NULL, 0,
	     "port out of range 0-65535"},
	    {"host:99999999999999999999999", 0, NULL, 0, "port out of range"},
	    {"host:-1", 0, NULL, 0, "port is not a number"},
	    {"host:http", 0, NULL, 0, "port is not a number"},
	    {"host:80 ", 0, NULL, 0, "port is not a number"},
	    {"host", 0, NULL, 0, "missing :port"},
	    {"host:", 0, NULL, 0, "missing port"},
	    {":80", 0, NULL, 0, "missing host"},
	    {"", 0, NULL, 0, "empty"},
	    {"::1:80", 0, NULL, 0, "an IPv6 address needs brackets"},
	    {"[::1]80", 0, NULL, 0, "missing :port after ']'"},
	    {"[::1:80", 0, NULL, 0, "missing ']'"},
	    {"[host]:80", 0, NULL, 0, "brackets are for IPv6 addresses only"},
	    {"256.1.1.1:80", 0, NULL, 0, "invalid IPv4 address"},
	    {"1.2.3:80", 0, NULL, 0, "invalid IPv4 address"},
	    {"-bad.example:80", 0, NULL, 0, "invalid host name"},
	    {"bad-.example:80", 0, NULL, 0, "invalid host name"},
	    {"a..b:80", 0, NULL, 0, "invalid host name"},
	    {"under_score:80", 0, NULL, 0, "invalid host name"},
	    {"localhost:80", PARSE_ENDPOINT_NUMERIC, NULL, 0,
	     "a listen address is numeric"},
	};
	char label[80];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct parse_endpoint ep;
		char why[PARSE_WHY_SIZE] = "";
		int rc =
		    parse_endpoint(cases[i].text, cases[i].flags, &ep, why);
		if (cases[i].host != NULL) {
			if (rc != 0)
				fail_msg("\"%s\": %s", cases[i].text, why);
			assert_string_equal(ep.host, cases[i].host);
			assert_int_equal(ep.port, cases[i].port);
			/* The formatted form reads back the same. */
			parse_endpoint_format(&ep, label, sizeof label);
			if (cases[i].text[0] == '[' ||
			    strchr(cases[i].text, ':') ==
			        strrchr(cases[i].text, ':'))
				assert_string_equal(label, cases[i].text);
		} else {
			assert_int_equal(rc, MA_ERR_INVAL);
			if (strstr(why, cases[i].why) == NULL)
				fail_msg("\"%s\": got \"%s\", want \"%s\"",
				         cases[i].text, why, cases[i].why);
		}
	}
}

static void test_host_limits(void **state)
{
	char name[300], out[PARSE_HOST_MAX + 1], why[PARSE_WHY_SIZE];

	(void)state;
	/* A 63-character label is fine, 64 is not. */
	memset(name, 'a', 63);
	assert_int_equal(parse_host(name, 63, out, why), 0);
	memset(name, 'a', 64);
	assert_int_equal(parse_host(name, 64, out, why), MA_ERR_INVAL);
	/* 253 characters in labels of 63 and dots: the longest name. */
	for (size_t i = 0; i < 253; i++)
		name[i] = (i % 64 == 63) ? '.' : 'b';
	assert_int_equal(parse_host(name, 253, out, why), 0);
	assert_int_equal(strlen(out), 253);
	name[253] = 'c';
	assert_int_equal(parse_host(name, 254, out, why), MA_ERR_INVAL);
	assert_non_null(strstr(why, "too long"));
	assert_int_equal(parse_host("a\0b", 3, out, why), MA_ERR_INVAL);
}

static void test_hex(void **state)
{
	uint8_t out[4];
	char why[PARSE_WHY_SIZE];

	(void)state;
	assert_int_equal(parse_hex("00fFa9Z1", 6, out, 3, why), 0);
	assert_int_equal(out[0], 0x00);
	assert_int_equal(out[1], 0xff);
	assert_int_equal(out[2], 0xa9);
	assert_int_equal(parse_hex("deadbeef", 8, out, 4, why), 0);
	assert_memory_equal(out, "\xde\xad\xbe\xef", 4);
	assert_int_equal(parse_hex("dead", 4, out, 4, why), MA_ERR_INVAL);
	assert_string_equal(why, "expected 8 hex digits, got 4");
	assert_int_equal(parse_hex("deadbeeg", 8, out, 4, why), MA_ERR_INVAL);
	assert_string_equal(why, "not a hex digit at position 7");
	assert_int_equal(parse_hex("x0", 2, out, 1, why), MA_ERR_INVAL);
	assert_string_equal(why, "not a hex digit at position 0");
	assert_int_equal(parse_hex("", 0, out, 0, why), 0);
	assert_int_equal(parse_hex_digit('9'), 9);
	assert_int_equal(parse_hex_digit('a'), 10);
	assert_int_equal(parse_hex_digit('F'), 15);
	assert_int_equal(parse_hex_digit('g'), -1);
	assert_int_equal(parse_hex_digit('/'), -1);
}

static void test_no_why(void **state)
{
	uint64_t v;
	struct parse_endpoint ep;

	(void)state;
	/* why may be NULL: the result still says no. */
	assert_int_equal(parse_uint64("x", &v, NULL), MA_ERR_INVAL);
	assert_int_equal(parse_size("1KB", &v, NULL), MA_ERR_INVAL);
	assert_int_equal(parse_duration_ms("1d", &v, NULL), MA_ERR_INVAL);
	assert_int_equal(parse_endpoint("h", 0, &ep, NULL), MA_ERR_INVAL);
}

static void test_names(void **state)
{
	char long_name[66];

	(void)state;
	assert_true(parse_name_valid_str("kv"));
	assert_true(parse_name_valid_str("a.b_c-D9"));
	assert_true(parse_name_valid_str("..."));
	assert_false(parse_name_valid_str("."));
	assert_false(parse_name_valid_str(".."));
	assert_false(parse_name_valid_str(""));
	assert_false(parse_name_valid_str("a/b"));
	assert_false(parse_name_valid_str("a b"));
	memset(long_name, 'x', 64);
	long_name[64] = '\0';
	assert_true(parse_name_valid_str(long_name));
	long_name[64] = 'x';
	long_name[65] = '\0';
	assert_false(parse_name_valid_str(long_name));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uint64),
	    cmocka_unit_test(test_size),
	    cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_format_reads_back),
	    cmocka_unit_test(test_endpoint),
	    cmocka_unit_test(test_host_limits),
	    cmocka_unit_test(test_hex),
	    cmocka_unit_test(test_no_why),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
