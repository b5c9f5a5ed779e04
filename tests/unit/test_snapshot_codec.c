/* Per-chunk zstd of snapshot bytes (snapshot/snapshot_codec.h) and its
 * wire fields: the envelope's encoding/raw_size, the info answer's
 * snapshot_encodings and the snapshot request's encodings, in both
 * directions between old and new peers; a lying peer (wrong raw_size,
 * garbage, a truncated frame, a size beyond the bounds) gets MA_ERR_PROTO
 * naming the chunk, never an overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zstd.h>

#include "agent/serve/serve_request.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "proto/proto.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_codec.h"

#define RAW_LEN 65536
static uint8_t text[RAW_LEN], noise[RAW_LEN];

static void fill(void)
{
	uint64_t x = 88172645463325252ull;

	for (size_t i = 0; i < RAW_LEN; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		noise[i] = (uint8_t)x;
	}
	for (size_t at = 0; at < RAW_LEN;) {
		char line[80];
		int n = snprintf(line, sizeof line,
		                 "key-%06zu = value of %zu, seen %zu times\n",
		                 at, at * 13 % 1000, at % 7);

		for (int i = 0; i < n && at < RAW_LEN; i++)
			text[at++] = (uint8_t)line[i];
	}
}

static void chunk_of(struct snapshot_chunk *c, const uint8_t *data, size_t len)
{
	memset(c, 0, sizeof *c);
	strcpy(c->id.cluster_id, "6f1c2a9e-0d1b-4a5e-9c1f-2b3c4d5e6f70");
	strcpy(c->id.database_id, "kv");
	c->id.index = 100;
	c->id.term = 3;
	c->id.size = 10 * RAW_LEN;
	c->id.crc32c = 0x12345678;
	c->offset = 2 * RAW_LEN;
	c->data = data;
	c->data_len = len;
	c->crc32c = crc32c(data, len);
}

/* Encodes c and decodes it back into *out (its data points into b). */
static int wire(struct proto_buf *b, const struct snapshot_chunk *c,
                struct snapshot_chunk *out, char *errmsg)
{
	proto_buf_clear(b);
	if (proto_envelope_encode(b, c, errmsg) != 0)
		fail_msg("encode: %s", errmsg);
	return proto_envelope_decode(b->data + PROTO_FRAME_HEADER_SIZE,
	                             b->len - PROTO_FRAME_HEADER_SIZE, 0, out,
	                             errmsg);
}

/* Text shrinks and comes back byte for byte through the envelope; the
 * CRC32C travels over the raw bytes. */
static void test_round_trip(void **state)
{
	struct snapshot_codec *tx, *rx;
	struct snapshot_chunk c, got;
	char em[MA_ERRMSG_SIZE];
	struct proto_buf b;

	(void)state;
	proto_buf_init(&b);
	assert_int_equal(snapshot_codec_new(&tx, em), 0);
	assert_int_equal(snapshot_codec_new(&rx, em), 0);
	for (int level = 1; level <= 3; level += 2) {
		chunk_of(&c, text, RAW_LEN);
		assert_int_equal(snapshot_codec_compress(tx, level, &c, em), 1);
		assert_int_equal(c.encoding, SNAPSHOT_ENCODING_ZSTD);
		assert_int_equal(c.raw_len, RAW_LEN);
		assert_true(c.data_len < RAW_LEN / 4);
		assert_int_equal(c.crc32c, crc32c(text, RAW_LEN));
		assert_int_equal(wire(&b, &c, &got, em), 0);
		assert_int_equal(got.encoding, SNAPSHOT_ENCODING_ZSTD);
		assert_int_equal(got.raw_len, RAW_LEN);
		assert_int_equal(got.data_len, c.data_len);
		assert_int_equal(snapshot_codec_decompress(
		                     rx, &got, SNAPSHOT_DATA_MAX_DEFAULT, em),
		                 0);
		assert_int_equal(got.encoding, SNAPSHOT_ENCODING_RAW);
		assert_int_equal(got.data_len, RAW_LEN);
		assert_memory_equal(got.data, text, RAW_LEN);
		assert_int_equal(got.crc32c, crc32c(got.data, got.data_len));
		assert_int_equal(got.offset, 2 * RAW_LEN);
	}
	snapshot_codec_free(tx);
	snapshot_codec_free(rx);
	proto_buf_free(&b);
}

/* Random bytes do not shrink: the chunk stays raw and its envelope is
 * the ten fields an older mirror knows (a fixmap of 10), byte for byte
 * what an older serve sends; a raw chunk decodes as raw. */
static void test_incompressible_stays_raw(void **state)
{
	struct snapshot_codec *tx;
	struct snapshot_chunk c, got;
	char em[MA_ERRMSG_SIZE];
	struct proto_buf b;

	(void)state;
	proto_buf_init(&b);
	assert_int_equal(snapshot_codec_new(&tx, em), 0);
	chunk_of(&c, noise, RAW_LEN);
	assert_int_equal(snapshot_codec_compress(tx, 3, &c, em), 0);
	assert_int_equal(c.encoding, SNAPSHOT_ENCODING_RAW);
	assert_ptr_equal(c.data, noise);
	assert_int_equal(c.data_len, RAW_LEN);
	assert_int_equal(wire(&b, &c, &got, em), 0);
	assert_int_equal(b.data[PROTO_FRAME_HEADER_SIZE], 0x8a);
	assert_int_equal(got.encoding, SNAPSHOT_ENCODING_RAW);
	assert_memory_equal(got.data, noise, RAW_LEN);
	/* An empty chunk (the final {done} one) is never compressed. */
	chunk_of(&c, NULL, 0);
	assert_int_equal(snapshot_codec_compress(tx, 3, &c, em), 0);
	assert_int_equal(c.encoding, SNAPSHOT_ENCODING_RAW);
	/* Levels outside 1..19 are refused. */
	chunk_of(&c, text, RAW_LEN);
	assert_int_equal(snapshot_codec_compress(tx, 0, &c, em), MA_ERR_INVAL);
	assert_int_equal(snapshot_codec_compress(tx, 20, &c, em), MA_ERR_INVAL);
	snapshot_codec_free(tx);
	proto_buf_free(&b);
}

/* A compressed chunk with one field changed, decoded and decompressed:
 * the result code and the error's words. */
static void expect_refused(struct snapshot_chunk *c, size_t raw_max,
                           const char *words)
{
	struct snapshot_codec *rx;
	char em[MA_ERRMSG_SIZE] = "";
	int rc;

	assert_int_equal(snapshot_codec_new(&rx, em), 0);
	rc = snapshot_codec_decompress(rx, c, raw_max, em);
	if (rc != MA_ERR_PROTO || strstr(em, words) == NULL ||
	    strstr(em, "chunk at offset 131072") == NULL)
		fail_msg("rc %d, error '%s' (want '%s')", rc, em, words);
	snapshot_codec_free(rx);
}

/* A lying or broken peer: raw_size larger or smaller than the frame's
 * content, over the bound, beyond the snapshot; garbage; a truncated
 * frame; an unknown encoding. Each is MA_ERR_PROTO naming the chunk. */
static void test_lying_peer(void **state)
{
	struct snapshot_codec *tx;
	struct snapshot_chunk c, bad;
	char em[MA_ERRMSG_SIZE];
	static uint8_t junk[200];

	(void)state;
	assert_int_equal(snapshot_codec_new(&tx, em), 0);
	chunk_of(&c, text, RAW_LEN);
	assert_int_equal(snapshot_codec_compress(tx, 3, &c, em), 1);

	bad = c;
	bad.raw_len = RAW_LEN + 1; /* more than the frame holds */
	expect_refused(&bad, SNAPSHOT_DATA_MAX_DEFAULT,
	               "announce another size");
	bad = c;
	bad.raw_len = RAW_LEN - 1; /* less: would overflow a tight buffer */
	expect_refused(&bad, SNAPSHOT_DATA_MAX_DEFAULT,
	               "announce another size");
	bad = c;
	expect_refused(&bad, RAW_LEN - 1, "raw_size 65536 outside 1..65535");
	bad = c;
	bad.raw_len = 0;
	expect_refused(&bad, SNAPSHOT_DATA_MAX_DEFAULT, "raw_size 0 outside");
	bad = c;
	bad.offset = 10 * RAW_LEN - 100;
	{
		struct snapshot_codec *rx;

		assert_int_equal(snapshot_codec_new(&rx, em), 0);
		assert_int_equal(snapshot_codec_decompress(
		                     rx, &bad, SNAPSHOT_DATA_MAX_DEFAULT, em),
		                 MA_ERR_PROTO);
		assert_non_null(strstr(em, "beyond total_size 655360"));
		snapshot_codec_free(rx);
	}
	bad = c;
	memset(junk, 0x5a, sizeof junk);
	bad.data = junk;
	bad.data_len = sizeof junk;
	expect_refused(&bad, SNAPSHOT_DATA_MAX_DEFAULT, "are not a zstd frame");
	bad = c;
	bad.data_len = c.data_len / 2; /* truncated */
	expect_refused(&bad, SNAPSHOT_DATA_MAX_DEFAULT,
	               "does not decompress to its 65536 raw bytes");
	bad = c;
	bad.encoding = 7;
	expect_refused(&bad, SNAPSHOT_DATA_MAX_DEFAULT, "unknown encoding 7");
	snapshot_codec_free(tx);
}

/* The envelope's decoder: raw_size bounded by data_max and by the
 * snapshot's size (not the compressed length), an unknown encoding
 * named, raw_size required (and not 0) with zstd. */
static void test_envelope_fields(void **state)
{
	struct snapshot_codec *tx;
	struct snapshot_chunk c, got;
	char em[MA_ERRMSG_SIZE];
	struct proto_buf b;

	(void)state;
	proto_buf_init(&b);
	assert_int_equal(snapshot_codec_new(&tx, em), 0);
	chunk_of(&c, text, RAW_LEN);
	assert_int_equal(snapshot_codec_compress(tx, 3, &c, em), 1);
	/* raw_size over data_max: refused by the decoder. */
	proto_buf_clear(&b);
	assert_int_equal(proto_envelope_encode(&b, &c, em), 0);
	assert_int_equal(proto_envelope_decode(b.data + PROTO_FRAME_HEADER_SIZE,
	                                       b.len - PROTO_FRAME_HEADER_SIZE,
	                                       RAW_LEN - 1, &got, em),
	                 MA_ERR_PROTO);
	assert_non_null(strstr(em, "'raw_size'"));
	/* The raw bytes, not the compressed ones, must fit the file. */
	c.offset = 10 * RAW_LEN - c.data_len;
	assert_int_equal(wire(&b, &c, &got, em), MA_ERR_PROTO);
	assert_non_null(strstr(em, "65536 data bytes is beyond total_size"));
	c.offset = 9 * RAW_LEN;
	assert_int_equal(wire(&b, &c, &got, em), 0);
	/* The encoder refuses an encoding it does not know. */
	c.encoding = 9;
	proto_buf_clear(&b);
	assert_int_equal(proto_envelope_encode(&b, &c, em), MA_ERR_INVAL);
	/* What the decoder refuses by name: an encoding it does not know
	 * (the 4 bytes of "zstd" patched to "lz4x"), a zstd chunk without
	 * raw_size (the key patched to "raw_sizf", which is ignored as
	 * unknown) and one whose raw_size is 0. */
	{
		static const struct {
			const char *from, *to, *words;
		} patch[] = {
		    {"zstd", "lz4x", "field 'encoding' is 'lz4x'"},
		    {"raw_size", "raw_sizf", "raw_size"},
		};

		chunk_of(&c, text, RAW_LEN);
		assert_int_equal(snapshot_codec_compress(tx, 3, &c, em), 1);
		for (size_t i = 0; i < 2; i++) {
			uint8_t *p, *end;
			size_t n = strlen(patch[i].from);

			proto_buf_clear(&b);
			assert_int_equal(proto_envelope_encode(&b, &c, em), 0);
			end = b.data + b.len;
			p = memmem(b.data, b.len, patch[i].from, n);
			assert_non_null(p);
			assert_true(p + n <= end);
			memcpy(p, patch[i].to, n);
			em[0] = '\0';
			assert_int_equal(proto_envelope_decode(
			                     b.data + PROTO_FRAME_HEADER_SIZE,
			                     b.len - PROTO_FRAME_HEADER_SIZE, 0,
			                     &got, em),
			                 MA_ERR_PROTO);
			if (strstr(em, patch[i].words) == NULL)
				fail_msg("patch %zu: '%s'", i, em);
		}
		c.raw_len = 0;
		proto_buf_clear(&b);
		assert_int_equal(proto_envelope_encode(&b, &c, em), 0);
		assert_int_equal(
		    proto_envelope_decode(b.data + PROTO_FRAME_HEADER_SIZE,
		                          b.len - PROTO_FRAME_HEADER_SIZE, 0,
		                          &got, em),
		    MA_ERR_PROTO);
		assert_non_null(
		    strstr(em, "field 'raw_size' is 0 in a zstd chunk"));
	}
	snapshot_codec_free(tx);
	proto_buf_free(&b);
}

/* The info answer offers encodings only when it has some (an older
 * mirror, which ignores unknown keys, sees the same map otherwise), and
 * an older source's info decodes as offering none. */
static void test_info_encodings(void **state)
{
	struct proto_info in, out;
	char em[MA_ERRMSG_SIZE];
	struct proto_buf b, b0;

	(void)state;
	proto_buf_init(&b);
	proto_buf_init(&b0);
	memset(&in, 0, sizeof in);
	strcpy(in.id.cluster_id, "6f1c2a9e-0d1b-4a5e-9c1f-2b3c4d5e6f70");
	strcpy(in.id.database_id, "kv");
	in.id.epoch = 1;
	in.first_index = 1;
	in.commit_index = 10;
	in.commit_term = 1;
	in.has_snapshot = true;
	in.snapshot_index = 5;
	in.snapshot_term = 1;
	in.snapshot_size = 100;
	assert_int_equal(proto_info_encode(&b0, &in), 0);
	assert_int_equal(proto_info_decode(b0.data + PROTO_FRAME_HEADER_SIZE,
	                                   b0.len - PROTO_FRAME_HEADER_SIZE,
	                                   &out, em),
	                 0);
	assert_true(out.snapshot_encodings == 0);
	in.snapshot_encodings = SNAPSHOT_ENCODINGS_ZSTD | 0x40;
	assert_int_equal(proto_info_encode(&b, &in), 0);
	/* One field more than the answer without. */
	assert_int_equal(b.data[PROTO_FRAME_HEADER_SIZE],
	                 b0.data[PROTO_FRAME_HEADER_SIZE] + 1);
	assert_int_equal(proto_info_decode(b.data + PROTO_FRAME_HEADER_SIZE,
	                                   b.len - PROTO_FRAME_HEADER_SIZE,
	                                   &out, em),
	                 0);
	/* Unknown bits are kept; the mirror asks only for zstd. */
	assert_true(out.snapshot_encodings == (SNAPSHOT_ENCODINGS_ZSTD | 0x40));
	assert_true(out.commit_index == 10 && out.snapshot_size == 100);
	proto_buf_free(&b);
	proto_buf_free(&b0);
}

/* The snapshot request's encodings: optional (an older mirror sends
 * none: raw chunks), a decimal bit mask, once. */
static void test_request_encodings(void **state)
{
	struct serve_request rq;
	char em[MA_ERRMSG_SIZE];

	(void)state;
	assert_int_equal(serve_request_parse("GET",
	                                     "/v1/db/kv/snapshot?index=5&term=1"
	                                     "&offset=4096&encodings=1",
	                                     &rq, em),
	                 0);
	assert_true(rq.encodings == SNAPSHOT_ENCODINGS_ZSTD);
	assert_true(rq.offset == 4096);
	assert_int_equal(
	    serve_request_parse("GET", "/v1/db/kv/snapshot?index=5&term=1", &rq,
	                        em),
	    0);
	assert_true(rq.encodings == 0);
	assert_int_equal(serve_request_parse("GET",
	                                     "/v1/db/kv/snapshot?index=5&term=1"
	                                     "&encodings=zstd",
	                                     &rq, em),
	                 MA_ERR_INVAL);
	assert_non_null(strstr(em, "'encodings' must be a decimal"));
	assert_int_equal(serve_request_parse("GET",
	                                     "/v1/db/kv/snapshot?index=5&term=1"
	                                     "&encodings=1&encodings=1",
	                                     &rq, em),
	                 MA_ERR_INVAL);
	/* The log endpoint does not take it. */
	assert_int_equal(serve_request_parse("GET",
	                                     "/v1/db/kv/log?from=1&prev_term=0"
	                                     "&encodings=1",
	                                     &rq, em),
	                 MA_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_incompressible_stays_raw),
	    cmocka_unit_test(test_lying_peer),
	    cmocka_unit_test(test_envelope_fields),
	    cmocka_unit_test(test_info_encodings),
	    cmocka_unit_test(test_request_encodings),
	};

	fill();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
