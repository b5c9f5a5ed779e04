/* serve_snapshot: the refusals of GET /snapshot (status, error, message),
 * the frames of a whole stream decoded back to the file's bytes, the pin
 * that keeps the file, and what each injected fault puts on the wire. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/serve/serve_snapshot.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "proto/proto.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_codec.h"
#include "tests/lib/fixture.h"

#define CLUSTER "6b0f4c1e-2a3b-4c5d-8e9f-0a1b2c3d4e5f"
#define CHUNK 512
#define SIZE (3 * CHUNK + 100)

struct fx {
	char dir[256];
	struct fx_spool sp;
	struct snapshot_meta meta;
	uint8_t want[SIZE];
	char em[MA_ERRMSG_SIZE];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);

	if (f == NULL ||
	    fx_scratch_dir("serve-snap", f->dir, sizeof f->dir, f->em) != 0 ||
	    fx_spool_create(&f->sp, f->dir, "kv", CLUSTER, 1, 0, f->em) != 0 ||
	    fx_spool_snapshot(&f->sp, 10, 2, SIZE, 77, &f->meta, f->em) != 0)
		return -1;
	fx_fill(77, f->want, SIZE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	fx_spool_close(&f->sp);
	fx_remove_tree(f->dir);
	free(f);
	return 0;
}

static void test_refusals(void **state)
{
	struct fx *f = *state;
	struct serve_snapshot s;
	struct serve_refusal ref;
	struct proto_identity other = f->sp.id;
	struct snapshot_ident ident;
	uint8_t byte = 0;

	assert_int_equal(serve_snapshot_open(&s, f->sp.store, &f->sp.id, 10, 3,
	                                     0, CHUNK, SERVE_FAULT_NONE, &ref,
	                                     f->em),
	                 MA_ERR_NOTFOUND);
	assert_int_equal(ref.status, 404);
	assert_int_equal(ref.error, PROTO_ERROR_NOT_FOUND);
	assert_string_equal(ref.message, "snapshot 10-3 of kv is not held; "
	                                 "ask /info for the latest");
	assert_int_equal(serve_snapshot_open(&s, f->sp.store, &f->sp.id, 10, 2,
	                                     SIZE + 1, CHUNK, SERVE_FAULT_NONE,
	                                     &ref, f->em),
	                 MA_ERR_INVAL);
	assert_int_equal(ref.status, 400);
	assert_int_equal(ref.error, PROTO_ERROR_BAD_REQUEST);
	assert_string_equal(ref.message,
	                    "offset 1637 is beyond the snapshot size 1636");
	/* A snapshot whose metadata names another database is not served. */
	memset(&ident, 0, sizeof ident);
	strcpy(ident.cluster_id, CLUSTER);
	strcpy(ident.database_id, "other");
	ident.index = 20;
	ident.term = 2;
	assert_int_equal(snapshot_store_create_from_buf(
	                     f->sp.store, &ident, &byte, 1, 0, NULL, f->em),
	                 0);
	assert_int_equal(serve_snapshot_open(&s, f->sp.store, &f->sp.id, 20, 2,
	                                     0, CHUNK, SERVE_FAULT_NONE, &ref,
	                                     f->em),
	                 MA_ERR_IDENTITY);
	assert_int_equal(ref.status, 503);
	assert_int_equal(ref.error, PROTO_ERROR_INTERNAL);
	assert_string_equal(ref.message,
	                    "snapshot identity does not match the spool");
	assert_non_null(
	    strstr(f->em, "names cluster " CLUSTER " database other"));
	/* Another cluster id in the spool's identity: the same. */
	other.cluster_id[0] = other.cluster_id[0] == '0' ? '1' : '0';
	assert_int_equal(serve_snapshot_open(&s, f->sp.store, &other, 10, 2, 0,
	                                     CHUNK, SERVE_FAULT_NONE, &ref,
	                                     f->em),
	                 MA_ERR_IDENTITY);
	/* A failed open leaves no pin behind: retention may delete it. */
	assert_int_equal(snapshot_store_unpin(f->sp.store, 10, 2),
	                 MA_ERR_NOTFOUND);
}

/* Decodes every frame of b; returns the number of chunks. */
static size_t decode(const struct proto_buf *b, struct snapshot_chunk *cs,
                     size_t max, char *em)
{
	size_t off = 0, n = 0;

	while (off < b->len) {
		const uint8_t *p = b->data + off;
		uint32_t len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		               (uint32_t)p[2] << 8 | p[3];

		assert_true(n < max);
		assert_true(b->len - off - PROTO_FRAME_HEADER_SIZE >= len);
		if (proto_envelope_decode(p + PROTO_FRAME_HEADER_SIZE, len, 0,
		                          &cs[n], em) != 0)
			return n +
			       1000; /* marks a frame that does not decode */
		n++;
		off += PROTO_FRAME_HEADER_SIZE + len;
	}
	return n;
}

static void stream_all(struct fx *f, enum serve_fault fault, uint64_t offset,
                       struct proto_buf *out, int *injected_at)
{
	struct serve_snapshot s;
	struct serve_refusal ref;
	size_t produced = 0;
	int rc, i = 0;
	bool injected;

	*injected_at = -1;
	assert_int_equal(serve_snapshot_open(&s, f->sp.store, &f->sp.id, 10, 2,
	                                     offset, CHUNK, fault, &ref, f->em),
	                 0);
	assert_true(s.size == SIZE && s.pinned);
	/* Pinned: a second unpin would fail after close. */
	do {
		rc = serve_snapshot_next(&s, out, &produced, &injected, f->em);
		assert_true(rc >= 0);
		if (injected)
			*injected_at = i;
		i++;
	} while (rc == 1 && i < 100);
	assert_int_equal(rc, 0);
	serve_snapshot_close(&s);
	assert_int_equal(snapshot_store_unpin(f->sp.store, 10, 2),
	                 MA_ERR_NOTFOUND);
}

static void test_whole_stream(void **state)
{
	struct fx *f = *state;
	struct snapshot_chunk cs[16];
	struct proto_buf out;
	size_t n;
	int at;

	proto_buf_init(&out);
	stream_all(f, SERVE_FAULT_NONE, 0, &out, &at);
	assert_int_equal(at, -1);
	n = decode(&out, cs, 16, f->em);
	/* Four data chunks (3 x 512 + 100), then done. */
	assert_int_equal(n, 5);
	for (size_t i = 0; i < 4; i++) {
		assert_true(cs[i].offset == i * CHUNK);
		assert_int_equal(cs[i].data_len, i < 3 ? CHUNK : 100);
		assert_memory_equal(cs[i].data, f->want + i * CHUNK,
		                    cs[i].data_len);
		assert_int_equal(cs[i].crc32c,
		                 crc32c(cs[i].data, cs[i].data_len));
		assert_false(cs[i].done);
	}
	assert_true(cs[4].done && cs[4].offset == SIZE);
	assert_int_equal(cs[4].id.crc32c, f->meta.id.crc32c);
	/* From an offset: the rest only. */
	proto_buf_clear(&out);
	stream_all(f, SERVE_FAULT_NONE, 2 * CHUNK, &out, &at);
	n = decode(&out, cs, 16, f->em);
	assert_int_equal(n, 3);
	assert_true(cs[0].offset == 2 * CHUNK && cs[2].done);
	proto_buf_free(&out);
}

/* The per-identity caps: what is admitted at the edge of each, and the
 * refusal's status, error and message. */
static void test_limits_admit(void **state)
{
	const struct serve_limits l = {20, 8};
	const struct serve_limits none = {0, 0};
	struct serve_refusal ref;

	(void)state;
	assert_int_equal(serve_limits_admit(&l, "m", 19, 7, true, &ref), 0);
	assert_int_equal(serve_limits_admit(&l, "m", 19, 8, false, &ref), 0);
	assert_int_equal(serve_limits_admit(&l, "m", 19, 8, true, &ref),
	                 MA_ERR_LIMIT);
	assert_int_equal(ref.status, 503);
	assert_int_equal(ref.error, PROTO_ERROR_UNAVAILABLE);
	assert_string_equal(ref.message,
	                    "client 'm' already holds 8 snapshot streams, the "
	                    "limit ([serve] max_snapshot_streams_per_identity);"
	                    " retry once one has ended");
	assert_int_equal(serve_limits_admit(&l, "m", 20, 0, false, &ref),
	                 MA_ERR_LIMIT);
	assert_int_equal(ref.status, 503);
	assert_string_equal(ref.message,
	                    "client 'm' already holds 20 streams, the limit "
	                    "([serve] max_streams_per_identity); retry once "
	                    "some have ended");
	/* Zero: no cap. */
	assert_int_equal(
	    serve_limits_admit(&none, "m", 100000, 100000, true, &ref), 0);
}

/* The lease: it runs from the last progress, lapses at exactly lease_ms,
 * and a closed stream (pin dropped) never lapses. */
static void test_lease(void **state)
{
	struct fx *f = *state;
	struct serve_refusal ref;
	struct serve_snapshot s;

	assert_int_equal(serve_snapshot_open(&s, f->sp.store, &f->sp.id, 10, 2,
	                                     0, CHUNK, SERVE_FAULT_NONE, &ref,
	                                     f->em),
	                 0);
	serve_snapshot_progress(&s, 1000);
	assert_false(serve_snapshot_lease_lapsed(&s, 1000, 500));
	assert_false(serve_snapshot_lease_lapsed(&s, 1499, 500));
	assert_true(serve_snapshot_lease_lapsed(&s, 1500, 500));
	serve_snapshot_progress(&s, 1400);
	assert_false(serve_snapshot_lease_lapsed(&s, 1899, 500));
	assert_true(serve_snapshot_lease_lapsed(&s, 1900, 500));
	/* A clock reading before the last progress is no lapse. */
	assert_false(serve_snapshot_lease_lapsed(&s, 10, 500));
	serve_snapshot_close(&s);
	assert_false(serve_snapshot_lease_lapsed(&s, 100000, 500));
	/* The pin went with it. */
	assert_int_equal(snapshot_store_unpin(f->sp.store, 10, 2),
	                 MA_ERR_NOTFOUND);
}

static void test_faults(void **state)
{
	struct fx *f = *state;
	struct snapshot_chunk cs[16];
	struct proto_buf out;
	size_t n;
	int at;

	proto_buf_init(&out);
	/* Damaged second chunks decode, but carry the damage. */
	stream_all(f, SERVE_FAULT_CHUNK_CRC, 0, &out, &at);
	assert_int_equal(at, 1);
	assert_int_equal(decode(&out, cs, 16, f->em), 5);
	assert_int_equal(cs[1].crc32c, crc32c(cs[1].data, CHUNK) ^ 1);
	assert_int_equal(cs[2].crc32c, crc32c(cs[2].data, CHUNK));
	proto_buf_clear(&out);
	stream_all(f, SERVE_FAULT_OFFSET_GAP, 0, &out, &at);
	assert_int_equal(decode(&out, cs, 16, f->em), 5);
	assert_true(cs[1].offset == CHUNK + 1 && cs[2].offset == 2 * CHUNK);
	proto_buf_clear(&out);
	stream_all(f, SERVE_FAULT_TOTAL_CRC, 0, &out, &at);
	assert_int_equal(decode(&out, cs, 16, f->em), 5);
	assert_int_equal(cs[1].data[0], (uint8_t)(f->want[CHUNK] ^ 0xff));
	assert_int_equal(cs[1].crc32c, crc32c(cs[1].data, CHUNK));
	/* Framing faults: one good chunk, then the bad frame ends it. */
	for (int fault = SERVE_FAULT_OVERSIZE_FRAME;
	     fault <= SERVE_FAULT_OVERSIZE_FIELD; fault++) {
		proto_buf_clear(&out);
		stream_all(f, (enum serve_fault)fault, 0, &out, &at);
		assert_int_equal(at, 1);
		if (fault == SERVE_FAULT_OVERSIZE_FRAME) {
			/* After chunk 0's frame, a header claiming 64 MiB and
			 * one byte. */
			assert_true(out.len > 4 + 1);
			assert_int_equal(out.data[out.len - 5], 0x04);
			assert_int_equal(out.data[out.len - 4], 0);
			continue;
		}
		n = decode(&out, cs, 16, f->em);
		assert_int_equal(n, 1001); /* chunk 0, then garbage */
	}
	proto_buf_free(&out);
	assert_string_equal(serve_fault_name(SERVE_FAULT_TOTAL_CRC),
	                    "total-crc");
}

static void test_fault_names(void **state)
{
	enum serve_fault f;

	(void)state;
	for (int i = 1; i < SERVE_FAULT_COUNT; i++) {
		assert_int_equal(serve_fault_parse(
		                     serve_fault_name((enum serve_fault)i), &f),
		                 0);
		assert_int_equal(f, i);
	}
	assert_int_equal(serve_fault_parse("none", &f), MA_ERR_INVAL);
	assert_int_equal(serve_fault_parse("chunk", &f), MA_ERR_INVAL);
}

/* Compression on a stream (serve_snapshot_compress): text chunks go
 * zstd and decode back to the file; random chunks go raw, and after 16
 * of them in a row only every 4th is tried until one shrinks again. */
static void test_compress_probes(void **state)
{
	struct fx *f = *state;
	enum { N = 64 };
	static uint8_t buf[N * CHUNK];
	struct serve_snapshot s;
	struct serve_refusal ref;
	struct snapshot_ident ident;
	struct snapshot_meta meta;
	struct proto_buf out;
	size_t produced = 0;
	bool injected;
	int rc, i = 0;

	/* Chunks 0..47 random, 48..63 text. */
	fx_fill(5, buf, sizeof buf);
	for (size_t k = 48 * CHUNK; k < sizeof buf; k++)
		buf[k] = (uint8_t) "a line of text\n"[k % 15];
	memset(&ident, 0, sizeof ident);
	strcpy(ident.cluster_id, f->sp.id.cluster_id);
	strcpy(ident.database_id, f->sp.id.database_id);
	ident.index = 20;
	ident.term = 2;
	assert_int_equal(snapshot_store_create_from_buf(f->sp.store, &ident,
	                                                buf, sizeof buf, 0,
	                                                &meta, f->em),
	                 0);
	proto_buf_init(&out);
	assert_int_equal(serve_snapshot_open(&s, f->sp.store, &f->sp.id, 20, 2,
	                                     0, CHUNK, SERVE_FAULT_NONE, &ref,
	                                     f->em),
	                 0);
	assert_int_equal(serve_snapshot_compress(&s, 0, f->em), MA_ERR_INVAL);
	assert_int_equal(serve_snapshot_compress(&s, 3, f->em), 0);
	do {
		rc = serve_snapshot_next(&s, &out, &produced, &injected, f->em);
		assert_true(rc >= 0);
		i++;
	} while (rc == 1 && i < 2 * N);
	assert_int_equal(rc, 0);
	/* Random: chunks 0..15 tried, then 19, 23, ..., 47 (every 4th);
	 * text starts at 48: 48..50 go raw untried, 51 (the probe)
	 * shrinks, and every chunk after it is tried. */
	assert_true(s.attempts == 16 + 8 + 1 + 12);
	assert_true(s.raw_bytes == sizeof buf);
	assert_true(s.wire_bytes < sizeof buf - 8 * CHUNK);
	assert_true(s.wire_bytes > 48 * CHUNK);
	serve_snapshot_close(&s);
	/* The stream decodes back to the file. */
	{
		struct snapshot_codec *k;
		const uint8_t *p = out.data;
		size_t left = out.len, at = 0;

		assert_int_equal(snapshot_codec_new(&k, f->em), 0);
		while (left > PROTO_FRAME_HEADER_SIZE) {
			size_t len = (size_t)p[0] << 24 | (size_t)p[1] << 16 |
			             (size_t)p[2] << 8 | p[3];
			struct snapshot_chunk c;

			assert_int_equal(
			    proto_envelope_decode(p + PROTO_FRAME_HEADER_SIZE,
			                          len, 0, &c, f->em),
			    0);
			assert_int_equal(
			    snapshot_codec_decompress(
			        k, &c, SNAPSHOT_DATA_MAX_DEFAULT, f->em),
			    0);
			assert_true(c.offset == at);
			assert_memory_equal(c.data, buf + at, c.data_len);
			assert_int_equal(c.crc32c, crc32c(c.data, c.data_len));
			at += c.data_len;
			p += PROTO_FRAME_HEADER_SIZE + len;
			left -= PROTO_FRAME_HEADER_SIZE + len;
		}
		assert_true(at == sizeof buf);
		snapshot_codec_free(k);
	}
	proto_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_whole_stream, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_compress_probes, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
	    cmocka_unit_test(test_limits_admit),
	    cmocka_unit_test_setup_teardown(test_lease, setup, teardown),
	    cmocka_unit_test(test_fault_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
