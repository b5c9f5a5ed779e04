/* proto envelope codec (snapshot chunks on the wire) and framing: round
 * trip, every malformed case gives MA_ERR_PROTO naming the field, piecewise
 * framing equals whole. Hostile inputs are built with msgpack-c directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "proto/proto.h"
#include "snapshot/snapshot.h"

static uint8_t payload[3000];

static void make_env(struct snapshot_chunk *env, size_t len)
{
	memset(env, 0, sizeof *env);
	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	strcpy(env->id.cluster_id, "6f1c2a9e-0d1b-4a5e-9c1f-2b3c4d5e6f70");
	strcpy(env->id.database_id, "kv.main_1");
	env->id.index = 1234567890123ULL;
	env->id.term = 42;
	env->id.size = 1ULL << 40;
	env->id.crc32c = 0xdeadbeef;
	env->offset = 4096;
	env->data = len > 0 ? payload : NULL;
	env->data_len = len;
	env->crc32c = crc32c(payload, len);
	env->done = false;
}

static void assert_env_equal(const struct snapshot_chunk *a,
                             const struct snapshot_chunk *b)
{
	assert_true(snapshot_ident_equal(&a->id, &b->id));
	assert_int_equal(a->offset, b->offset);
	assert_int_equal(a->data_len, b->data_len);
	if (a->data_len > 0)
		assert_memory_equal(a->data, b->data, a->data_len);
	assert_int_equal(a->crc32c, b->crc32c);
	assert_int_equal(a->done, b->done);
}

/* Encodes one envelope into b (emptied first); returns the body length
 * after checking the frame header names it. */
static size_t encode_body(struct proto_buf *b, const struct snapshot_chunk *in)
{
	char errmsg[MA_ERRMSG_SIZE];
	size_t body;

	proto_buf_clear(b);
	if (proto_envelope_encode(b, in, errmsg) != 0)
		fail_msg("encode: %s", errmsg);
	assert_true(b->len > PROTO_FRAME_HEADER_SIZE);
	body = b->len - PROTO_FRAME_HEADER_SIZE;
	assert_int_equal((size_t)b->data[0] << 24 | (size_t)b->data[1] << 16 |
	                     (size_t)b->data[2] << 8 | b->data[3],
	                 body);
	return body;
}

static void test_round_trip(void **state)
{
	struct snapshot_chunk in, out;
	char errmsg[MA_ERRMSG_SIZE];
	struct proto_buf b;
	size_t lens[] = {0, 1, 100, sizeof payload};

	(void)state;
	proto_buf_init(&b);
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		size_t body;

		make_env(&in, lens[i]);
		in.done = i == 0;
		body = encode_body(&b, &in);
		assert_true(body <= proto_envelope_encoded_max(lens[i]));
		assert_int_equal(
		    proto_envelope_decode(b.data + 4, body, 0, &out, errmsg),
		    0);
		assert_env_equal(&in, &out);
	}
	proto_buf_free(&b);
}

/* Builds an envelope map with one deliberate defect. */
struct defect {
	const char *drop;        /* leave this field out */
	const char *as_str;      /* encode this field as the string "x" */
	const char *database_id; /* replaces the database id */
	const char *dup;         /* encode this field twice */
	bool nested;             /* add an unknown key whose value is a map */
	bool unknown;            /* add an unknown scalar key */
	size_t data_len;
};

static const char *const names[] = {
    "cluster_id",   "database_id", "index", "term",   "total_size",
    "total_crc32c", "offset",      "data",  "crc32c", "done",
};

static void pack_cstr(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void pack_field(msgpack_packer *pk, const char *name,
                       const struct defect *d)
{
	static uint8_t big[70000];

	pack_cstr(pk, name);
	if (d->as_str != NULL && strcmp(d->as_str, name) == 0) {
		pack_cstr(pk, "x");
	} else if (strcmp(name, "cluster_id") == 0) {
		pack_cstr(pk, "c1");
	} else if (strcmp(name, "database_id") == 0) {
		pack_cstr(pk, d->database_id != NULL ? d->database_id : "db");
	} else if (strcmp(name, "data") == 0) {
		msgpack_pack_bin_with_body(pk, big, d->data_len);
	} else if (strcmp(name, "done") == 0) {
		msgpack_pack_false(pk);
	} else if (strcmp(name, "total_size") == 0) {
		msgpack_pack_uint64(pk, 1u << 20);
	} else if (strcmp(name, "crc32c") == 0) {
		msgpack_pack_uint32(pk, crc32c(big, d->data_len));
	} else {
		msgpack_pack_uint64(pk, 7);
	}
}

static void build(msgpack_sbuffer *sb, const struct defect *d)
{
	msgpack_packer pk;
	size_t n = 10;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	n -= d->drop != NULL;
	n += d->dup != NULL;
	n += d->nested;
	n += d->unknown;
	msgpack_pack_map(&pk, n);
	if (d->unknown) {
		pack_cstr(&pk, "future_field");
		pack_cstr(&pk, "ignored");
	}
	for (size_t i = 0; i < 10; i++) {
		if (d->drop != NULL && strcmp(d->drop, names[i]) == 0)
			continue;
		pack_field(&pk, names[i], d);
		if (d->dup != NULL && strcmp(d->dup, names[i]) == 0)
			pack_field(&pk, names[i], d);
	}
	if (d->nested) {
		pack_cstr(&pk, "extra");
		msgpack_pack_map(&pk, 1);
		pack_cstr(&pk, "a");
		msgpack_pack_uint8(&pk, 1);
	}
}

/* Decodes the defective envelope and checks the error names `field`. */
static void expect_proto(const struct defect *d, size_t data_max,
                         const char *needle)
{
	struct snapshot_chunk env;
	char errmsg[MA_ERRMSG_SIZE] = "";
	msgpack_sbuffer sb;
	int rc;

	build(&sb, d);
	rc = proto_envelope_decode(sb.data, sb.size, data_max, &env, errmsg);
	msgpack_sbuffer_destroy(&sb);
	if (rc != MA_ERR_PROTO || strstr(errmsg, needle) == NULL)
		fail_msg("rc %d, errmsg '%s', expected MA_ERR_PROTO naming "
		         "'%s'",
		         rc, errmsg, needle);
}

static void test_valid_built_and_unknown_key_ignored(void **state)
{
	struct snapshot_chunk env;
	char errmsg[MA_ERRMSG_SIZE];
	struct defect d = {.unknown = true, .data_len = 10};
	msgpack_sbuffer sb;

	(void)state;
	build(&sb, &d);
	assert_int_equal(
	    proto_envelope_decode(sb.data, sb.size, 0, &env, errmsg), 0);
	assert_int_equal(env.data_len, 10);
	assert_string_equal(env.id.database_id, "db");
	msgpack_sbuffer_destroy(&sb);
}

static void test_wrong_type(void **state)
{
	(void)state;
	for (size_t i = 0; i < 10; i++) {
		char needle[64];
		struct defect d = {.as_str = names[i], .data_len = 1};

		if (strcmp(names[i], "cluster_id") == 0 ||
		    strcmp(names[i], "database_id") == 0)
			continue; /* "x" is a valid id */
		snprintf(needle, sizeof needle, "'%s'", names[i]);
		expect_proto(&d, 0, needle);
	}
}

static void test_missing_field(void **state)
{
	(void)state;
	for (size_t i = 0; i < 10; i++) {
		char needle[64];
		struct defect d = {.drop = names[i]};

		snprintf(needle, sizeof needle, "'%s' missing", names[i]);
		expect_proto(&d, 0, needle);
	}
}

static void test_duplicate_field(void **state)
{
	struct defect d = {.dup = "offset"};

	(void)state;
	expect_proto(&d, 0, "'offset' appears twice");
}

static void test_oversize_data(void **state)
{
	struct defect d = {.data_len = 65537};

	(void)state;
	expect_proto(&d, 65536, "'data'");
	d.data_len = 65536;
	{
		struct snapshot_chunk env;
		msgpack_sbuffer sb;

		build(&sb, &d);
		assert_int_equal(
		    proto_envelope_decode(sb.data, sb.size, 65536, &env, NULL),
		    0);
		msgpack_sbuffer_destroy(&sb);
	}
}

static void test_bad_database_id(void **state)
{
	char long_id[80];
	struct defect d = {.database_id = "bad/id"};

	(void)state;
	expect_proto(&d, 0, "'database_id'");
	d.database_id = "";
	expect_proto(&d, 0, "'database_id'");
	memset(long_id, 'a', 65);
	long_id[65] = '\0';
	d.database_id = long_id;
	expect_proto(&d, 0, "'database_id'");
	long_id[64] = '\0';
	d.database_id = long_id;
	{
		struct snapshot_chunk env;
		msgpack_sbuffer sb;

		build(&sb, &d);
		assert_int_equal(
		    proto_envelope_decode(sb.data, sb.size, 0, &env, NULL), 0);
		msgpack_sbuffer_destroy(&sb);
	}
}

static void test_nesting_rejected(void **state)
{
	struct defect d = {.nested = true};

	(void)state;
	expect_proto(&d, 0, "nested");
}

/* Every strict prefix is truncated; two extra bytes are trailing. */
static void test_truncated_and_trailing(void **state)
{
	struct snapshot_chunk in, out;
	char errmsg[MA_ERRMSG_SIZE];
	struct proto_buf b;
	size_t body;

	(void)state;
	proto_buf_init(&b);
	make_env(&in, 100);
	body = encode_body(&b, &in);
	for (size_t len = 0; len < body; len++) {
		errmsg[0] = '\0';
		assert_int_equal(
		    proto_envelope_decode(b.data + 4, len, 0, &out, errmsg),
		    MA_ERR_PROTO);
		if (strstr(errmsg, "truncated") == NULL)
			fail_msg("prefix %zu: '%s'", len, errmsg);
	}
	assert_int_equal(proto_buf_append(&b, "\xc0\x01", 2), 0);
	assert_int_equal(
	    proto_envelope_decode(b.data + 4, body + 2, 0, &out, errmsg),
	    MA_ERR_PROTO);
	assert_non_null(strstr(errmsg, "2 trailing bytes"));
	proto_buf_free(&b);
}

static void test_not_a_map_and_offset_beyond_size(void **state)
{
	struct snapshot_chunk in, out;
	char errmsg[MA_ERRMSG_SIZE];
	struct proto_buf b;
	size_t body;

	(void)state;
	assert_int_equal(
	    proto_envelope_decode("\x92\x01\x02", 3, 0, &out, errmsg),
	    MA_ERR_PROTO);
	assert_non_null(strstr(errmsg, "not a map"));
	/* A huge array header must not make msgpack-c allocate. */
	assert_int_equal(proto_envelope_decode("\x81\xa1x\xdd\xff\xff\xff\xff",
	                                       8, 0, &out, errmsg),
	                 MA_ERR_PROTO);
	proto_buf_init(&b);
	make_env(&in, 100);
	in.id.size = 4100; /* offset 4096 + 100 bytes > 4100 */
	body = encode_body(&b, &in);
	assert_int_equal(
	    proto_envelope_decode(b.data + 4, body, 0, &out, errmsg),
	    MA_ERR_PROTO);
	assert_non_null(strstr(errmsg, "'offset'"));
	proto_buf_free(&b);
}

/* Three frames fed whole, byte by byte and in odd pieces decode alike. */
static void test_framing_piecewise(void **state)
{
	struct snapshot_chunk in[3], got;
	char errmsg[MA_ERRMSG_SIZE];
	size_t pieces[] = {0, 1, 3, 7, 1000, 100000};
	struct proto_buf b;

	(void)state;
	proto_buf_init(&b);
	for (int i = 0; i < 3; i++) {
		make_env(&in[i], i == 1 ? 0 : (size_t)(1000 * (i + 1)));
		in[i].offset = (uint64_t)i * 5000;
		in[i].done = i == 2;
		assert_int_equal(proto_envelope_encode(&b, &in[i], errmsg), 0);
	}
	for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
		struct proto_framer f;
		size_t pos = 0;
		int n = 0;

		assert_int_equal(
		    proto_framer_init(&f, SNAPSHOT_DATA_MAX_DEFAULT +
		                              PROTO_ENVELOPE_OVERHEAD_MAX),
		    0);
		while (pos < b.len) {
			size_t piece = pieces[k] == 0 ? b.len : pieces[k];
			size_t avail =
			    b.len - pos < piece ? b.len - pos : piece;

			/* Feed one piece until it is all consumed. */
			while (avail > 0) {
				const void *body;
				size_t used, blen;
				int rc = proto_framer_feed(&f, b.data + pos,
				                           avail, &used, &body,
				                           &blen, errmsg);

				assert_true(rc >= 0);
				assert_true(used <= avail);
				pos += used;
				avail -= used;
				if (rc == 1) {
					assert_true(n < 3);
					assert_int_equal(
					    proto_envelope_decode(body, blen, 0,
					                          &got, errmsg),
					    0);
					assert_env_equal(&in[n], &got);
					n++;
				}
			}
		}
		assert_int_equal(n, 3);
		assert_int_equal(f.frames, 3);
		assert_int_equal(proto_framer_finish(&f, errmsg), 0);
		proto_framer_free(&f);
	}
	proto_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_valid_built_and_unknown_key_ignored),
	    cmocka_unit_test(test_wrong_type),
	    cmocka_unit_test(test_missing_field),
	    cmocka_unit_test(test_duplicate_field),
	    cmocka_unit_test(test_oversize_data),
	    cmocka_unit_test(test_bad_database_id),
	    cmocka_unit_test(test_nesting_rejected),
	    cmocka_unit_test(test_truncated_and_trailing),
	    cmocka_unit_test(test_not_a_map_and_offset_beyond_size),
	    cmocka_unit_test(test_framing_piecewise),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
