/* proto_check: the limits enforced before msgpack-c sees the bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "proto/proto.h"

static const struct proto_limits flat = {.max_depth = 1,
                                         .max_entries = 8,
                                         .max_key = 8,
                                         .max_str = 64,
                                         .max_bin = 1024};

/* {"i": UINT64_MAX, "d": bin "abc", "n": -5}, written out by hand so the
 * test does not depend on the encoder under test. */
static const uint8_t valid[] = {
    0x83, 0xa1, 'i', 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xa1, 'd', 0xc4, 0x03, 'a',  'b',  'c',  0xa1, 'n',  0xfb,
};

static void test_valid_flat_map(void **state)
{
	char errmsg[MA_ERRMSG_SIZE];

	(void)state;
	assert_int_equal(proto_check(valid, sizeof valid, &flat, errmsg), 0);
	/* Every strict prefix is truncated. */
	for (size_t i = 0; i < sizeof valid; i++) {
		assert_int_equal(proto_check(valid, i, &flat, errmsg),
		                 MA_ERR_PROTO);
		if (strstr(errmsg, "truncated") == NULL)
			fail_msg("prefix %zu: '%s'", i, errmsg);
	}
}

static void expect_proto(const void *buf, size_t len, const char *needle)
{
	char errmsg[MA_ERRMSG_SIZE] = "";

	assert_int_equal(proto_check(buf, len, &flat, errmsg), MA_ERR_PROTO);
	if (strstr(errmsg, needle) == NULL)
		fail_msg("'%s' not in '%s'", needle, errmsg);
}

static void test_rejections(void **state)
{
	(void)state;
	/* map32 claiming 2^32-1 pairs in 5 bytes */
	expect_proto(
	    "\xdf\xff\xff\xff\xff", 5,
	    "4294967295 entries exceeds the limit of 8 (msgpack map at "
	    "offset 0)");
	/* the top object is not a map */
	expect_proto("\x92\x01\x02", 3, "not a map (msgpack type byte 0x92)");
	/* a map in a map, named by its key */
	expect_proto("\x81\xa1k\x80", 4, "field 'k': nested map or array");
	expect_proto("\x81\xa1k\x80", 4, "nesting deeper than 1");
	/* str8 of 200 bytes */
	expect_proto("\x81\xa1k\xd9\xc8", 5,
	             "field 'k': 200 bytes exceeds the limit of 64 (msgpack "
	             "string at offset 3)");
	/* bin32 of 4 GiB */
	expect_proto("\x81\xa1k\xc6\xff\xff\xff\xff", 8,
	             "field 'k': 4294967295 bytes exceeds the limit of 1024 "
	             "(msgpack binary at offset 3)");
	/* ext and reserved types */
	expect_proto("\x81\xa1k\xd4\x01\x00", 6, "ext or reserved");
	expect_proto("\x81\xa1k\xc1", 4, "type 0xc1 (ext or reserved)");
	/* keys: strings of at most max_key bytes */
	expect_proto("\x81\x01\x01", 3, "map key at offset 1 is not a string");
	expect_proto(
	    "\x81\xa9kkkkkkkkk\x01", 12,
	    "9 bytes exceeds the limit of 8 (msgpack key at offset 1)");
	/* trailing garbage */
	expect_proto("\x80\x00", 2, "1 trailing bytes after the message");
	/* empty input */
	expect_proto("", 0, "truncated at offset 0");
	/* length within the limit but past the end of the buffer */
	expect_proto("\x81\xa1k\xc4\x10"
	             "abc",
	             8, "truncated");
}

/* Depth 2 admits one level of nesting and no more. */
static void test_depth_limit(void **state)
{
	struct proto_limits deep = flat;
	char errmsg[MA_ERRMSG_SIZE];

	(void)state;
	deep.max_depth = 2;
	assert_int_equal(proto_check("\x81\xa1k\x91\x01", 5, &deep, errmsg), 0);
	assert_int_equal(proto_check("\x81\xa1k\x91\x91\x01", 6, &deep, errmsg),
	                 MA_ERR_PROTO);
	assert_non_null(strstr(errmsg, "nesting deeper than 2"));
	deep.max_depth = 16;
	assert_int_equal(proto_check("\x80", 1, &deep, errmsg), MA_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_flat_map),
	    cmocka_unit_test(test_rejections),
	    cmocka_unit_test(test_depth_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
