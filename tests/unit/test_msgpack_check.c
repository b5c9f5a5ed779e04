/* common/msgpack_check: limits enforced before msgpack-c sees the bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "common/errors.h"
#include "common/msgpack_check.h"

static const struct msgpack_limits flat = {
    .max_depth = 1, .max_entries = 8, .max_str = 64, .max_bin = 1024};

static void test_valid_flat_map(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char errmsg[MA_ERRMSG_SIZE];

	(void)state;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str_with_body(&pk, "i", 1);
	msgpack_pack_uint64(&pk, UINT64_MAX);
	msgpack_pack_str_with_body(&pk, "d", 1);
	msgpack_pack_bin_with_body(&pk, "abc", 3);
	msgpack_pack_str_with_body(&pk, "n", 1);
	msgpack_pack_int64(&pk, -5);
	assert_int_equal(msgpack_check(sb.data, sb.size, &flat, errmsg), 0);
	/* Every strict prefix is truncated. */
	for (size_t i = 0; i < sb.size; i++)
		assert_int_equal(msgpack_check(sb.data, i, &flat, errmsg),
		                 MA_ERR_PROTO);
	msgpack_sbuffer_destroy(&sb);
}

static void expect_proto(const void *buf, size_t len, const char *needle)
{
	char errmsg[MA_ERRMSG_SIZE];

	assert_int_equal(msgpack_check(buf, len, &flat, errmsg), MA_ERR_PROTO);
	if (strstr(errmsg, needle) == NULL)
		fail_msg("'%s' not in '%s'", needle, errmsg);
}

static void test_rejections(void **state)
{
	(void)state;
	/* array32 claiming 2^32-1 elements in 5 bytes */
	expect_proto("\xdd\xff\xff\xff\xff", 5, "exceeds limit 8");
	/* map in a map */
	expect_proto("\x81\xa1k\x80", 4, "nesting deeper than 1");
	/* str8 of 200 bytes */
	expect_proto("\xd9\xc8", 2, "string of 200 bytes");
	/* bin32 of 4 GiB */
	expect_proto("\xc6\xff\xff\xff\xff", 5, "binary of");
	/* ext and reserved types */
	expect_proto("\xd4\x01\x00", 3, "ext or reserved");
	expect_proto("\xc1", 1, "ext or reserved");
	/* trailing garbage */
	expect_proto("\x80\x00", 2, "trailing garbage");
	/* empty input */
	expect_proto("", 0, "truncated");
	/* length within the limit but past the end of the buffer */
	expect_proto("\xc4\x10"
	             "abc",
	             5, "truncated");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_flat_map),
	    cmocka_unit_test(test_rejections),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
