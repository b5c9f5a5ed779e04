/* proto info and log messages: round trips through the framer, limits,
 * and every malformed case answered with MA_ERR_PROTO naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "common/parse.h"
#include "proto/proto.h"
#include "wal/wal.h"

static const struct proto_identity ident = {
    .cluster_id = "6f1c9a54-1f0e-4c1e-9a55-2f7c3b8d9e01",
    .database_id = "kv.main",
    .epoch = 3,
};

/* Feeds sb through a frame reader in pieces of `step` bytes, decoding each
 * log frame into out[]; returns the number of frames. */
static int read_log_frames(const struct proto_buf *sb, size_t step,
                           struct proto_log_msg *out, int max)
{
	struct proto_framer r;
	char errmsg[MA_ERRMSG_SIZE];
	size_t off = 0;
	int n = 0;

	assert_int_equal(proto_framer_init(&r, 1 << 16), 0);
	while (off < sb->len) {
		size_t len = sb->len - off < step ? sb->len - off : step;
		size_t used = 0;
		while (used < len) {
			const void *body;
			size_t blen, c;
			int rc = proto_framer_feed(&r, sb->data + off + used,
			                           len - used, &c, &body, &blen,
			                           errmsg);
			assert_true(rc >= 0);
			used += c;
			if (rc == 1) {
				assert_true(n < max);
				/* Copy out: data must outlive the reader's
				 * buffer for the assertions below. */
				assert_int_equal(proto_log_decode(body, blen,
				                                  1024, &out[n],
				                                  errmsg),
				                 0);
				if (out[n].kind == PROTO_LOG_ENTRY)
					assert_memory_equal(out[n].data,
					                    "payload-7", 9);
				n++;
			}
		}
		off += len;
	}
	assert_int_equal(proto_framer_finish(&r, errmsg), 0);
	proto_framer_free(&r);
	return n;
}

static void test_log_stream_roundtrip_any_split(void **state)
{
	struct proto_buf sb;
	struct proto_log_msg m = {0}, got[4];

	(void)state;
	proto_buf_init(&sb);
	m.kind = PROTO_LOG_START;
	m.id = ident;
	m.from_index = 42;
	assert_int_equal(proto_log_encode(&sb, &m), 0);
	memset(&m, 0, sizeof m);
	m.kind = PROTO_LOG_ENTRY;
	m.index = 42;
	m.term = 7;
	m.type = 1;
	m.data = "payload-7";
	m.data_len = 9;
	assert_int_equal(proto_log_encode(&sb, &m), 0);
	memset(&m, 0, sizeof m);
	m.kind = PROTO_LOG_HEARTBEAT;
	m.commit_index = 50;
	m.first_index = 10;
	m.source_time_ms = -1; /* negative values survive */
	assert_int_equal(proto_log_encode(&sb, &m), 0);
	memset(&m, 0, sizeof m);
	m.kind = PROTO_LOG_ERROR;
	m.error = PROTO_ERROR_COMPACTED;
	m.first_index = 10;
	snprintf(m.message, sizeof m.message, "from 5 < first 10");
	assert_int_equal(proto_log_encode(&sb, &m), 0);

	for (size_t step = 1; step <= sb.len; step += (step < 16 ? 1 : 13)) {
		int n = read_log_frames(&sb, step, got, 4);
		assert_int_equal(n, 4);
		assert_int_equal(got[0].kind, PROTO_LOG_START);
		assert_string_equal(got[0].id.cluster_id, ident.cluster_id);
		assert_string_equal(got[0].id.database_id, "kv.main");
		assert_int_equal(got[0].id.epoch, 3);
		assert_int_equal(got[0].from_index, 42);
		assert_int_equal(got[1].kind, PROTO_LOG_ENTRY);
		assert_int_equal(got[1].index, 42);
		assert_int_equal(got[1].term, 7);
		assert_int_equal(got[1].data_len, 9);
		assert_int_equal(got[2].kind, PROTO_LOG_HEARTBEAT);
		assert_int_equal(got[2].commit_index, 50);
		assert_int_equal(got[2].source_time_ms, -1);
		assert_int_equal(got[3].kind, PROTO_LOG_ERROR);
		assert_int_equal(got[3].error, PROTO_ERROR_COMPACTED);
		assert_string_equal(got[3].message, "from 5 < first 10");
	}
	proto_buf_free(&sb);
}

/* The optional retention headroom of heartbeats: carried when set,
 * absent otherwise (old peers' heartbeats decode with has = false). */
static void test_heartbeat_headroom(void **state)
{
	struct proto_log_msg m = {0}, got;
	char errmsg[MA_ERRMSG_SIZE];
	struct proto_buf sb;

	(void)state;
	for (int with = 0; with < 2; with++) {
		proto_buf_init(&sb);
		memset(&m, 0, sizeof m);
		m.kind = PROTO_LOG_HEARTBEAT;
		m.commit_index = 9;
		m.has_retention_headroom = with;
		m.retention_headroom_s = 86399;
		assert_int_equal(proto_log_encode(&sb, &m), 0);
		assert_true(sb.len > PROTO_FRAME_HEADER_SIZE);
		assert_int_equal(
		    proto_log_decode(sb.data + PROTO_FRAME_HEADER_SIZE,
		                     sb.len - PROTO_FRAME_HEADER_SIZE, 0, &got,
		                     errmsg),
		    0);
		assert_int_equal(got.commit_index, 9);
		assert_int_equal(got.has_retention_headroom, with);
		assert_int_equal(got.retention_headroom_s, with ? 86399 : 0);
		proto_buf_free(&sb);
	}
}

/* The source node's freshness (optional, issue 8) in heartbeats and
 * info answers: carried when known, absent (unknown) otherwise; a leader
 * word other than self/known/none is refused. */
static void test_freshness_roundtrip(void **state)
{
	static const enum proto_leader leaders[] = {
	    PROTO_LEADER_NONE, PROTO_LEADER_KNOWN, PROTO_LEADER_SELF};
	struct proto_log_msg m, got;
	struct proto_info in = {0}, out;
	char errmsg[MA_ERRMSG_SIZE];
	struct proto_buf sb;

	(void)state;
	for (int k = 0; k < 4; k++) {
		struct proto_freshness fr = {0};

		if (k < 3) {
			fr.known = true;
			fr.leader = leaders[k];
			fr.node_commit_index = 1234 + (uint64_t)k;
			fr.has_contact = k != 0;
			fr.leader_contact_age_ms = fr.has_contact ? 7001 : 0;
		}
		memset(&m, 0, sizeof m);
		m.kind = PROTO_LOG_HEARTBEAT;
		m.commit_index = 9;
		m.fresh = fr;
		proto_buf_init(&sb);
		assert_int_equal(proto_log_encode(&sb, &m), 0);
		assert_int_equal(
		    proto_log_decode(sb.data + 4, sb.len - 4, 0, &got, errmsg),
		    0);
		assert_int_equal(got.fresh.known, fr.known);
		assert_int_equal(got.fresh.leader, fr.leader);
		assert_int_equal(got.fresh.has_contact, fr.has_contact);
		assert_int_equal(got.fresh.leader_contact_age_ms,
		                 fr.leader_contact_age_ms);
		assert_int_equal(got.fresh.node_commit_index,
		                 fr.node_commit_index);
		proto_buf_free(&sb);
		in.id = ident;
		in.commit_index = 99;
		in.fresh = fr;
		proto_buf_init(&sb);
		assert_int_equal(proto_info_encode(&sb, &in), 0);
		assert_int_equal(
		    proto_info_decode(sb.data + 4, sb.len - 4, &out, errmsg),
		    0);
		assert_int_equal(out.commit_index, 99);
		assert_int_equal(out.fresh.known, fr.known);
		assert_int_equal(out.fresh.leader, fr.leader);
		assert_int_equal(out.fresh.leader_contact_age_ms,
		                 fr.leader_contact_age_ms);
		assert_int_equal(out.fresh.node_commit_index,
		                 fr.node_commit_index);
		if (k == 1) {
			/* "known" -> "maybe": same length, refused. */
			uint8_t *p = memmem(sb.data, sb.len, "known", 5);
			assert_non_null(p);
			memcpy(p, "maybe", 5);
			assert_int_equal(proto_info_decode(sb.data + 4,
			                                   sb.len - 4, &out,
			                                   errmsg),
			                 MA_ERR_PROTO);
			assert_non_null(strstr(errmsg, "'leader'"));
		}
		proto_buf_free(&sb);
	}
}

static void test_info_roundtrip(void **state)
{
	struct proto_buf sb;
	struct proto_info in = {0}, out;
	char errmsg[MA_ERRMSG_SIZE];

	(void)state;
	in.id = ident;
	in.first_index = 1;
	in.commit_index = 99;
	in.commit_term = 4;
	in.source_time_ms = 1764000000000;
	for (int snap = 0; snap <= 1; snap++) {
		in.has_snapshot = snap;
		in.snapshot_index = 80;
		in.snapshot_term = 3;
		in.snapshot_size = 1 << 20;
		in.snapshot_crc32c = 0xdeadbeef;
		proto_buf_init(&sb);
		assert_int_equal(proto_info_encode(&sb, &in), 0);
		assert_int_equal(
		    proto_info_decode(sb.data + 4, sb.len - 4, &out, errmsg),
		    0);
		assert_int_equal(out.has_snapshot, snap);
		assert_int_equal(out.commit_index, 99);
		assert_int_equal(out.source_time_ms, 1764000000000);
		if (snap)
			assert_int_equal(out.snapshot_crc32c, 0xdeadbeef);
		proto_buf_free(&sb);
	}
}

/* The incarnation (issue 8) travels in info and log start frames; a
 * peer that sends none (an older source) decodes with an empty one, and
 * an older decoder's view (the same keys less one) is unchanged: the map
 * simply has one pair fewer. A cluster id or incarnation that is not a
 * UUID is refused before anyone can store it. */
static void test_incarnation_roundtrip(void **state)
{
	static const char inc[] = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
	struct proto_buf sb;
	struct proto_info in = {0}, out;
	struct proto_log_msg m = {0}, got;
	char errmsg[MA_ERRMSG_SIZE];
	size_t with_len;

	(void)state;
	in.id = ident;
	strcpy(in.id.incarnation, inc);
	in.commit_index = 5;
	proto_buf_init(&sb);
	assert_int_equal(proto_info_encode(&sb, &in), 0);
	with_len = sb.len;
	assert_int_equal(
	    proto_info_decode(sb.data + 4, sb.len - 4, &out, errmsg), 0);
	assert_string_equal(out.id.incarnation, inc);
	assert_string_equal(out.id.cluster_id, ident.cluster_id);
	assert_int_equal(out.commit_index, 5);
	proto_buf_free(&sb);

	/* Without one: absent from the wire, empty after decoding. */
	in.id.incarnation[0] = '\0';
	proto_buf_init(&sb);
	assert_int_equal(proto_info_encode(&sb, &in), 0);
	assert_int_equal(with_len - sb.len,
	                 1 + 11 + 1 + 1 + 36); /* key + str8 header + uuid */
	assert_int_equal(
	    proto_info_decode(sb.data + 4, sb.len - 4, &out, errmsg), 0);
	assert_string_equal(out.id.incarnation, "");
	proto_buf_free(&sb);

	m.kind = PROTO_LOG_START;
	m.id = ident;
	strcpy(m.id.incarnation, inc);
	m.from_index = 9;
	proto_buf_init(&sb);
	assert_int_equal(proto_log_encode(&sb, &m), 0);
	assert_int_equal(
	    proto_log_decode(sb.data + 4, sb.len - 4, 0, &got, errmsg), 0);
	assert_string_equal(got.id.incarnation, inc);
	assert_int_equal(got.from_index, 9);
	proto_buf_free(&sb);

	/* Not UUIDs: refused naming the field. */
	strcpy(m.id.incarnation, "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4g");
	proto_buf_init(&sb);
	assert_int_equal(proto_log_encode(&sb, &m), 0);
	assert_int_equal(
	    proto_log_decode(sb.data + 4, sb.len - 4, 0, &got, errmsg),
	    MA_ERR_PROTO);
	assert_non_null(strstr(errmsg, "'incarnation' is not a UUID"));
	proto_buf_free(&sb);
	strcpy(m.id.incarnation, inc);
	strcpy(m.id.cluster_id, "cluster\nid");
	proto_buf_init(&sb);
	assert_int_equal(proto_log_encode(&sb, &m), 0);
	assert_int_equal(
	    proto_log_decode(sb.data + 4, sb.len - 4, 0, &got, errmsg),
	    MA_ERR_PROTO);
	assert_non_null(strstr(errmsg, "'cluster_id' is not a UUID"));
	proto_buf_free(&sb);
}

/* One entry-size limit: an entry as large as the wal and the tap accept
 * (WAL_ENTRY_SIZE_MAX) crosses the protocol, through a framer sized for
 * log streams. Before, the protocol stopped at 8 MiB and one such
 * committed entry wedged every mirror. */
static void test_largest_wal_entry_crosses(void **state)
{
	struct proto_buf sb;
	struct proto_log_msg m = {0}, got;
	struct proto_framer r;
	char errmsg[MA_ERRMSG_SIZE];
	const void *body;
	size_t blen, used;
	uint8_t *data = malloc(WAL_ENTRY_SIZE_MAX);

	(void)state;
	assert_non_null(data);
	assert_int_equal(PROTO_ENTRY_DATA_MAX, WAL_ENTRY_SIZE_MAX);
	memset(data, 0x5a, WAL_ENTRY_SIZE_MAX);
	m.kind = PROTO_LOG_ENTRY;
	m.index = 7;
	m.term = 2;
	m.type = 1;
	m.data = data;
	m.data_len = WAL_ENTRY_SIZE_MAX;
	proto_buf_init(&sb);
	assert_int_equal(proto_log_encode(&sb, &m), 0);
	assert_int_equal(
	    proto_framer_init(&r, PROTO_ENTRY_DATA_MAX + PROTO_FRAME_OVERHEAD),
	    0);
	assert_int_equal(
	    proto_framer_feed(&r, sb.data, sb.len, &used, &body, &blen, errmsg),
	    1);
	assert_int_equal(used, sb.len);
	assert_int_equal(
	    proto_log_decode(body, blen, PROTO_ENTRY_DATA_MAX, &got, errmsg),
	    0);
	assert_int_equal(got.data_len, WAL_ENTRY_SIZE_MAX);
	assert_int_equal(got.index, 7);
	/* One byte more is refused, naming the limit. */
	assert_int_equal(proto_log_decode(body, blen, PROTO_ENTRY_DATA_MAX - 1,
	                                  &got, errmsg),
	                 MA_ERR_PROTO);
	proto_framer_free(&r);
	proto_buf_free(&sb);
	free(data);
}

static void expect_bad_max(const void *bytes, size_t len, size_t data_max,
                           const char *needle)
{
	struct proto_log_msg m;
	char errmsg[MA_ERRMSG_SIZE];

	assert_int_equal(proto_log_decode(bytes, len, data_max, &m, errmsg),
	                 MA_ERR_PROTO);
	if (strstr(errmsg, needle) == NULL)
		fail_msg("'%s' not in '%s'", needle, errmsg);
}

static void expect_bad(const void *bytes, size_t len, int code,
                       const char *needle)
{
	struct proto_log_msg m;
	char errmsg[MA_ERRMSG_SIZE];

	assert_int_equal(proto_log_decode(bytes, len, 16, &m, errmsg), code);
	if (strstr(errmsg, needle) == NULL)
		fail_msg("'%s' not in '%s'", needle, errmsg);
}

static void test_malformed_log_messages(void **state)
{
	struct proto_buf sb;
	struct proto_log_msg m = {0};

	(void)state;
	/* not a map */
	expect_bad("\x01", 1, MA_ERR_PROTO, "not a map");
	/* map without k */
	expect_bad("\x80", 1, MA_ERR_PROTO, "'k' missing");
	/* {k: "q"} */
	expect_bad("\x81\xa1k\xa1q", 5, MA_ERR_PROTO,
	           "unknown log message kind");
	/* {k: "h", commit_index: "x"} */
	expect_bad("\x82\xa1k\xa1h\xac"
	           "commit_index\xa1x",
	           20, MA_ERR_PROTO,
	           "'commit_index' is not an unsigned integer");
	/* nested map */
	expect_bad("\x81\xa1k\x81\xa1k\xa1h", 8, MA_ERR_PROTO, "nesting");

	/* entry with data over the decoder's limit (16) */
	proto_buf_init(&sb);
	m.kind = PROTO_LOG_ENTRY;
	m.index = 1;
	m.data = "0123456789abcdefXYZ";
	m.data_len = 19;
	assert_int_equal(proto_log_encode(&sb, &m), 0);
	expect_bad(sb.data + 4, sb.len - 4, MA_ERR_PROTO,
	           "field 'd': 19 bytes exceeds the limit of 16");
	proto_buf_free(&sb);

	/* entry whose data was changed in flight: CRC error names both */
	proto_buf_init(&sb);
	m.data = "hello";
	m.data_len = 5;
	assert_int_equal(proto_log_encode(&sb, &m), 0);
	uint8_t *p = memmem(sb.data, sb.len, "hello", 5);
	assert_non_null(p);
	p[0] = 'j';
	expect_bad(sb.data + 4, sb.len - 4, MA_ERR_CRC, "declared 0x");
	proto_buf_free(&sb);

	/* {k: "e", i: 1, i: 2}: a known key twice */
	expect_bad("\x83\xa1k\xa1"
	           "e\xa1i\x01\xa1i\x02",
	           11, MA_ERR_PROTO, "field 'i' appears twice");
	/* an entry where no data is accepted (data_max 0) */
	proto_buf_init(&sb);
	assert_int_equal(proto_log_encode(&sb, &m), 0);
	expect_bad_max(sb.data + 4, sb.len - 4, 0,
	               "field 'd': 5 bytes exceeds the limit of 0");
	proto_buf_free(&sb);

	/* start with an invalid database id */
	proto_buf_init(&sb);
	memset(&m, 0, sizeof m);
	m.kind = PROTO_LOG_START;
	m.id = ident;
	snprintf(m.id.database_id, sizeof m.id.database_id, "bad/name");
	assert_int_equal(proto_log_encode(&sb, &m), 0);
	expect_bad(sb.data + 4, sb.len - 4, MA_ERR_PROTO, "database_id");
	proto_buf_free(&sb);
}

static void test_database_id_rule(void **state)
{
	char longest[65];

	(void)state;
	memset(longest, 'a', 64);
	longest[64] = '\0';
	assert_true(parse_name_valid_str("kv.main-1_x"));
	assert_true(parse_name_valid_str(longest));
	longest[63] = '\0';
	assert_true(parse_name_valid_str(longest));
	assert_false(parse_name_valid_str(""));
	assert_false(parse_name_valid_str("a b"));
	assert_false(parse_name_valid_str("../etc"));
	assert_false(parse_name_valid_str("."));
	assert_false(parse_name_valid_str(".."));
	assert_true(parse_name_valid_str("..."));
	char toolong[66];
	memset(toolong, 'a', 65);
	toolong[65] = '\0';
	assert_false(parse_name_valid_str(toolong));
}

/* Every error code survives the wire under its own name ("corrupt" is
 * what a mirror tells apart from "internal" to try another endpoint). */
static void test_every_error_roundtrip(void **state)
{
	(void)state;
	for (int e = PROTO_ERROR_COMPACTED; e <= PROTO_ERROR_CORRUPT; e++) {
		struct proto_buf sb;
		struct proto_log_msg m = {0}, got;
		char errmsg[MA_ERRMSG_SIZE];
		size_t off;

		proto_buf_init(&sb);
		m.kind = PROTO_LOG_ERROR;
		m.error = (enum proto_error)e;
		snprintf(m.message, sizeof m.message, "code %d", e);
		assert_int_equal(proto_log_encode(&sb, &m), 0);
		off = PROTO_FRAME_HEADER_SIZE;
		assert_int_equal(proto_log_decode(sb.data + off, sb.len - off,
		                                  0, &got, errmsg),
		                 0);
		assert_int_equal(got.kind, PROTO_LOG_ERROR);
		assert_int_equal(got.error, e);
		assert_string_not_equal(proto_error_name(got.error), "unknown");
		assert_string_equal(got.message, m.message);
		proto_buf_free(&sb);
	}
	assert_string_equal(proto_error_name(PROTO_ERROR_CORRUPT), "corrupt");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_log_stream_roundtrip_any_split),
	    cmocka_unit_test(test_info_roundtrip),
	    cmocka_unit_test(test_heartbeat_headroom),
	    cmocka_unit_test(test_every_error_roundtrip),
	    cmocka_unit_test(test_freshness_roundtrip),
	    cmocka_unit_test(test_incarnation_roundtrip),
	    cmocka_unit_test(test_largest_wal_entry_crosses),
	    cmocka_unit_test(test_malformed_log_messages),
	    cmocka_unit_test(test_database_id_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
