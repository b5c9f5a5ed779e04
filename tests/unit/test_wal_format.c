/* wal_format: segment header and record encoding, identity parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "wal/wal_format.h"

static void test_identity_parse(void **state)
{
	struct wal_identity id, id2;
	char uuid[37], errmsg[MA_ERRMSG_SIZE];

	(void)state;
	assert_int_equal(
	    wal_identity_init(&id, "6F1C3A52-9d0e-4b7a-8c21-0a1b2c3d4e5f",
	                      "db_1.x-y", errmsg),
	    0);
	wal_identity_format_uuid(&id, uuid);
	assert_string_equal(uuid, "6f1c3a52-9d0e-4b7a-8c21-0a1b2c3d4e5f");
	assert_int_equal(id.cluster_id[0], 0x6f);
	assert_int_equal(wal_identity_init(&id2, uuid, "db_1.x-y", NULL), 0);
	assert_true(wal_identity_equal(&id, &id2));
	assert_int_equal(wal_identity_init(&id2, uuid, "other", NULL), 0);
	assert_false(wal_identity_equal(&id, &id2));
	assert_int_equal(
	    wal_identity_init(&id, "6f1c3a52-9d0e-4b7a-8c21", "db", errmsg),
	    MA_ERR_INVAL);
	assert_non_null(strstr(errmsg, "not a UUID"));
	assert_int_equal(wal_identity_init(&id, uuid, "bad/name", errmsg),
	                 MA_ERR_INVAL);
	assert_int_equal(wal_identity_init(&id, uuid, "", errmsg),
	                 MA_ERR_INVAL);
	char long_id[66];
	memset(long_id, 'a', 65);
	long_id[65] = '\0';
	assert_int_equal(wal_identity_init(&id, uuid, long_id, errmsg),
	                 MA_ERR_INVAL);
	long_id[64] = '\0';
	assert_int_equal(wal_identity_init(&id, uuid, long_id, errmsg), 0);
}

static void test_seg_header_roundtrip(void **state)
{
	uint8_t buf[WAL_SEG_HEADER_SIZE];
	struct wal_seg_header h, got;
	const char *reason = NULL;

	(void)state;
	memset(&h, 0, sizeof h);
	h.first_index = 0x0102030405060708ull;
	assert_int_equal(
	    wal_identity_init(&h.identity,
	                      "00112233-4455-6677-8899-aabbccddeeff", "kv",
	                      NULL),
	    0);
	wal_seg_header_encode(&h, buf);
	assert_memory_equal(buf, "MAWALSEG", 8);
	assert_int_equal(buf[8], 1);    /* version, little-endian */
	assert_int_equal(buf[12], 128); /* header size */
	assert_int_equal(buf[16], 0x08);
	assert_int_equal(buf[23], 0x01);
	assert_int_equal(buf[24], 0x00);
	assert_int_equal(buf[39], 0xff);
	assert_int_equal(buf[40], 2);
	assert_memory_equal(buf + 41, "kv", 2);
	assert_int_equal(wal_seg_header_decode(buf, sizeof buf, &got, &reason),
	                 0);
	assert_true(got.first_index == h.first_index);
	assert_true(wal_identity_equal(&got.identity, &h.identity));
	buf[50] ^= 1;
	assert_int_equal(wal_seg_header_decode(buf, sizeof buf, &got, &reason),
	                 MA_ERR_CORRUPT);
	assert_non_null(strstr(reason, "CRC"));
	assert_int_equal(wal_seg_header_decode(buf, 100, &got, &reason),
	                 MA_ERR_CORRUPT);
	buf[0] = 'X';
	assert_int_equal(wal_seg_header_decode(buf, sizeof buf, &got, &reason),
	                 MA_ERR_CORRUPT);
	assert_non_null(strstr(reason, "magic"));
}

static void test_record_roundtrip(void **state)
{
	uint8_t buf[256];
	struct wal_entry e = {.index = 42,
	                      .term = 7,
	                      .type = WAL_ENTRY_CONFIG,
	                      .data = "hello",
	                      .len = 5};
	struct wal_rec_header h;
	const char *reason;

	(void)state;
	assert_int_equal(wal_rec_size(0), 32);
	assert_int_equal(wal_rec_size(1), 40);
	assert_int_equal(wal_rec_size(8), 40);
	assert_int_equal(wal_rec_size(9), 48);
	memset(buf, 0xee, sizeof buf);
	wal_rec_encode(&e, buf);
	assert_int_equal(buf[0], 5);
	assert_int_equal(buf[4], WAL_ENTRY_CONFIG);
	assert_int_equal(buf[8], 42);
	assert_int_equal(buf[16], 7);
	assert_memory_equal(buf + 32, "hello", 5);
	assert_int_equal(buf[37], 0); /* padding */
	assert_int_equal(buf[39], 0);
	assert_int_equal(buf[40], 0xee); /* untouched past the record */
	assert_int_equal(wal_rec_header_decode(buf, &h, &reason), 0);
	assert_int_equal(h.len, 5);
	assert_int_equal(h.index, 42);
	assert_int_equal(h.term, 7);
	assert_true(wal_rec_crc_ok(buf, &h));
	for (int i = 0; i < 37; i++) {
		if (i >= 28 && i < 32)
			continue;
		buf[i] ^= 0x40;
		struct wal_rec_header h2;
		if (wal_rec_header_decode(buf, &h2, &reason) == 0 &&
		    h2.len <= sizeof buf - 32)
			assert_false(wal_rec_crc_ok(buf, &h2));
		buf[i] ^= 0x40;
	}
	buf[3] = 0x10; /* length above the limit */
	assert_int_equal(wal_rec_header_decode(buf, &h, &reason),
	                 MA_ERR_CORRUPT);
}

static void test_seg_names(void **state)
{
	char name[WAL_SEG_NAME_SIZE];
	uint64_t v;

	(void)state;
	wal_seg_name(name, 1);
	assert_string_equal(name, "wal-00000000000000000001.seg");
	assert_true(wal_seg_name_parse(name, &v));
	assert_true(v == 1);
	wal_seg_name(name, UINT64_MAX);
	assert_true(wal_seg_name_parse(name, &v));
	assert_true(v == UINT64_MAX);
	assert_false(wal_seg_name_parse("wal-00000000000000000000.seg", &v));
	assert_false(wal_seg_name_parse("wal-0000000000000000001.seg", &v));
	assert_false(
	    wal_seg_name_parse("wal-00000000000000000001.seg.tmp", &v));
	assert_false(wal_seg_name_parse("wal-9999999999999999999a.seg", &v));
	assert_false(wal_seg_name_parse("wal-99999999999999999999.seg", &v));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_identity_parse),
	    cmocka_unit_test(test_seg_header_roundtrip),
	    cmocka_unit_test(test_record_roundtrip),
	    cmocka_unit_test(test_seg_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
