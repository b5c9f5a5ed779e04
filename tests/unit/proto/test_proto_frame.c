/* proto framer and encoders: the framer's limits, in-place and split
 * frames; every encoder, failed at every byte of its output, returns
 * MA_ERR_NOMEM and leaves the buffer as it was (no short body under a
 * valid header); fault frames are refused by the decoders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "proto/proto.h"

/* ---- framer -------------------------------------------------------------- */

static void test_framer_limits(void **state)
{
	struct proto_framer f;
	char errmsg[MA_ERRMSG_SIZE];
	const void *body;
	size_t blen, used;

	(void)state;
	assert_int_equal(proto_framer_init(&f, 0), MA_ERR_INVAL);
	assert_int_equal(proto_framer_init(&f, PROTO_FRAME_MAX + 1),
	                 MA_ERR_INVAL);

	/* One past the limit: refused at the header, nothing buffered. */
	assert_int_equal(proto_framer_init(&f, 100), 0);
	assert_int_equal(proto_framer_feed(&f, "\0\0\0\x65xyz", 7, &used, &body,
	                                   &blen, errmsg),
	                 MA_ERR_PROTO);
	assert_non_null(strstr(errmsg, "frame length 101 outside 1..100"));
	assert_int_equal(used, 4); /* the header, not the body */
	assert_null(f.buf);
	/* and it stays failed */
	assert_int_equal(
	    proto_framer_feed(&f, "\0", 1, &used, &body, &blen, errmsg),
	    MA_ERR_PROTO);
	assert_int_equal(used, 0);
	proto_framer_free(&f);

	/* A zero length is refused too. */
	assert_int_equal(proto_framer_init(&f, 100), 0);
	assert_int_equal(
	    proto_framer_feed(&f, "\0\0\0\0", 4, &used, &body, &blen, errmsg),
	    MA_ERR_PROTO);
	assert_non_null(strstr(errmsg, "frame length 0 outside"));
	proto_framer_free(&f);

	/* Exactly the limit is accepted. */
	{
		uint8_t frame[104] = {0, 0, 0, 100};

		assert_int_equal(proto_framer_init(&f, 100), 0);
		assert_int_equal(proto_framer_feed(&f, frame, sizeof frame,
		                                   &used, &body, &blen, errmsg),
		                 1);
		assert_int_equal(used, 104);
		assert_int_equal(blen, 100);
		proto_framer_free(&f);
	}

	/* A stream cut inside a body or a header is reported at finish. */
	assert_int_equal(proto_framer_init(&f, 100), 0);
	assert_int_equal(proto_framer_feed(&f,
	                                   "\0\0\0\x03"
	                                   "ab",
	                                   6, &used, &body, &blen, errmsg),
	                 0);
	assert_int_equal(used, 6);
	assert_int_equal(proto_framer_finish(&f, errmsg), MA_ERR_PROTO);
	assert_non_null(strstr(errmsg, "ended inside a frame (2 of 3"));
	proto_framer_free(&f);
	assert_int_equal(proto_framer_init(&f, 100), 0);
	assert_int_equal(
	    proto_framer_feed(&f, "\0\0", 2, &used, &body, &blen, errmsg), 0);
	assert_int_equal(proto_framer_finish(&f, errmsg), MA_ERR_PROTO);
	assert_non_null(strstr(errmsg, "frame header (2 of 4"));
	proto_framer_free(&f);
}

/* A frame whole in the caller's piece comes back in place, without an
 * allocation; a split one is copied into a buffer of that frame's size. */
static void test_framer_in_place_and_split(void **state)
{
	static const uint8_t two[] = {0, 0, 0, 3, 'a', 'b', 'c',
	                              0, 0, 0, 2, 'd', 'e'};
	struct proto_framer f;
	char errmsg[MA_ERRMSG_SIZE];
	const void *body;
	size_t blen, used;

	(void)state;
	assert_int_equal(proto_framer_init(&f, 1 << 20), 0);
	assert_int_equal(
	    proto_framer_feed(&f, two, sizeof two, &used, &body, &blen, errmsg),
	    1);
	assert_int_equal(used, 7);
	assert_ptr_equal(body, two + 4);
	assert_int_equal(blen, 3);
	assert_int_equal(proto_framer_feed(&f, two + 7, sizeof two - 7, &used,
	                                   &body, &blen, errmsg),
	                 1);
	assert_ptr_equal(body, two + 11);
	assert_null(f.buf); /* lazy: a 1 MiB limit allocated nothing */

	/* Split after the first body byte: copied, buffer sized to fit. */
	assert_int_equal(
	    proto_framer_feed(&f, two, 5, &used, &body, &blen, errmsg), 0);
	assert_int_equal(used, 5);
	assert_int_equal(proto_framer_feed(&f, two + 5, sizeof two - 5, &used,
	                                   &body, &blen, errmsg),
	                 1);
	assert_int_equal(used, 2);
	assert_memory_equal(body, "abc", 3);
	assert_ptr_equal(body, f.buf);
	assert_int_equal(f.buf_cap, 3);
	assert_int_equal(f.frames, 3);
	assert_int_equal(proto_framer_finish(&f, errmsg), 0);
	proto_framer_free(&f);
}

/* ---- encoders fail cleanly ----------------------------------------------- */

typedef int (*encode_fn)(struct proto_buf *b, const void *arg);

static int enc_info(struct proto_buf *b, const void *arg)
{
	return proto_info_encode(b, arg);
}

static int enc_log(struct proto_buf *b, const void *arg)
{
	return proto_log_encode(b, arg);
}

static int enc_envelope(struct proto_buf *b, const void *arg)
{
	return proto_envelope_encode(b, arg, NULL);
}

static int enc_fault(struct proto_buf *b, const void *arg)
{
	return proto_fault_frame_encode(b,
	                                *(const enum proto_fault_frame *)arg);
}

/* Encodes once without a limit after a 5-byte prefix to learn the frame's
 * size, then again with the limit at every byte short of it: each attempt
 * must fail with MA_ERR_NOMEM and leave the prefix alone. At the full size
 * the same bytes come out. Returns the frame size. */
static size_t check_encoder(encode_fn fn, const void *arg)
{
	struct proto_buf full, b;
	size_t size;

	proto_buf_init(&full);
	assert_int_equal(proto_buf_append(&full, "PREFX", 5), 0);
	assert_int_equal(fn(&full, arg), 0);
	size = full.len - 5;
	assert_true(size > PROTO_FRAME_HEADER_SIZE);
	for (size_t limit = 5; limit < full.len; limit++) {
		proto_buf_init(&b);
		assert_int_equal(proto_buf_append(&b, "PREFX", 5), 0);
		b.limit = limit;
		if (fn(&b, arg) != MA_ERR_NOMEM)
			fail_msg("limit %zu of %zu: not MA_ERR_NOMEM", limit,
			         full.len);
		assert_int_equal(b.len, 5);
		assert_memory_equal(b.data, "PREFX", 5);
		/* The buffer still works: lift the limit, encode again. */
		b.limit = 0;
		assert_int_equal(fn(&b, arg), 0);
		assert_int_equal(b.len, full.len);
		assert_memory_equal(b.data, full.data, full.len);
		proto_buf_free(&b);
	}
	proto_buf_init(&b);
	b.limit = full.len;
	assert_int_equal(proto_buf_append(&b, "PREFX", 5), 0);
	assert_int_equal(fn(&b, arg), 0);
	assert_memory_equal(b.data, full.data, full.len);
	proto_buf_free(&b);
	proto_buf_free(&full);
	return size;
}

static void test_encoders_fail_at_every_byte(void **state)
{
	static const uint8_t data[700] = {1, 2, 3};
	struct proto_info info = {
	    .id = {"6f1c9a54-1f0e-4c1e-9a55-2f7c3b8d9e01", "kv.main", 3},
	    .has_snapshot = true,
	    .snapshot_index = 80,
	    .snapshot_term = 3,
	    .snapshot_size = 1 << 20,
	    .snapshot_crc32c = 0xdeadbeef,
	    .first_index = 1,
	    .commit_index = 99,
	    .commit_term = 4,
	    .source_time_ms = -17,
	};
	struct proto_log_msg m[4] = {
	    {.kind = PROTO_LOG_START, .id = info.id, .from_index = 42},
	    {.kind = PROTO_LOG_ENTRY,
	     .index = 1ull << 40,
	     .term = 7,
	     .type = 1,
	     .data = data,
	     .data_len = sizeof data},
	    {.kind = PROTO_LOG_HEARTBEAT,
	     .commit_index = 50,
	     .first_index = 10,
	     .source_time_ms = 1764000000000},
	    {.kind = PROTO_LOG_ERROR,
	     .error = PROTO_ERROR_DIVERGED,
	     .first_index = 10,
	     .message = "term at 41 is 6, the mirror holds 5"},
	};
	struct snapshot_chunk c = {
	    .id = {"cluster-1", "kv.main", 100, 3, 1 << 20, 0x12345678},
	    .offset = 4096,
	    .data = data,
	    .data_len = sizeof data,
	    .crc32c = crc32c(data, sizeof data),
	};
	enum proto_fault_frame field = PROTO_FAULT_OVERSIZE_FIELD;
	size_t n = 0;

	(void)state;
	n += check_encoder(enc_info, &info);
	info.has_snapshot = false;
	n += check_encoder(enc_info, &info);
	for (int i = 0; i < 4; i++)
		n += check_encoder(enc_log, &m[i]);
	n += check_encoder(enc_envelope, &c);
	c.data = NULL;
	c.data_len = 0;
	c.done = true;
	n += check_encoder(enc_envelope, &c);
	n += check_encoder(enc_fault, &field);
	/* Every byte of each frame was a failure point: about 2 KiB. */
	assert_true(n > 1800);
}

/* Rejected before anything is appended: unknown kind, bad id. */
static void test_encoders_refuse_bad_input(void **state)
{
	struct proto_log_msg m = {.kind = (enum proto_log_kind)'q'};
	struct snapshot_chunk c = {.id = {"cluster-1", "bad/name", 1, 1, 0, 0}};
	char errmsg[MA_ERRMSG_SIZE];
	struct proto_buf b;

	(void)state;
	proto_buf_init(&b);
	assert_int_equal(proto_buf_append(&b, "x", 1), 0);
	assert_int_equal(proto_log_encode(&b, &m), MA_ERR_INVAL);
	assert_int_equal(b.len, 1);
	assert_int_equal(proto_envelope_encode(&b, &c, errmsg), MA_ERR_INVAL);
	assert_non_null(strstr(errmsg, "database_id"));
	assert_int_equal(b.len, 1);
	proto_buf_free(&b);
}

/* ---- fault frames ----------------------------------------------------------
 */

/* Each broken frame serve can inject is refused by the framer or by the
 * envelope decoder behind it, with the reason named. */
static void test_fault_frames_refused(void **state)
{
	static const struct {
		enum proto_fault_frame kind;
		const char *needle;
	} cases[] = {
	    {PROTO_FAULT_OVERSIZE_FRAME, "frame length 67108864 outside"},
	    {PROTO_FAULT_MALFORMED, "type 0xc1 (ext or reserved)"},
	    {PROTO_FAULT_OVERSIZE_FIELD,
	     "field 'database_id': 300 bytes exceeds the limit of 256"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct proto_framer f;
		struct proto_buf b;
		struct snapshot_chunk c;
		char errmsg[MA_ERRMSG_SIZE] = "";
		const void *body;
		size_t blen, used;
		int rc;

		proto_buf_init(&b);
		assert_int_equal(proto_fault_frame_encode(&b, cases[i].kind),
		                 0);
		assert_int_equal(
		    proto_framer_init(&f, SNAPSHOT_DATA_MAX_DEFAULT +
		                              PROTO_ENVELOPE_OVERHEAD_MAX),
		    0);
		rc = proto_framer_feed(&f, b.data, b.len, &used, &body, &blen,
		                       errmsg);
		if (rc == 1)
			rc = proto_envelope_decode(body, blen, 0, &c, errmsg);
		assert_int_equal(rc, MA_ERR_PROTO);
		if (strstr(errmsg, cases[i].needle) == NULL)
			fail_msg("fault %d: '%s' not in '%s'",
			         (int)cases[i].kind, cases[i].needle, errmsg);
		proto_framer_free(&f);
		proto_buf_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_framer_limits),
	    cmocka_unit_test(test_framer_in_place_and_split),
	    cmocka_unit_test(test_encoders_fail_at_every_byte),
	    cmocka_unit_test(test_encoders_refuse_bad_input),
	    cmocka_unit_test(test_fault_frames_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
