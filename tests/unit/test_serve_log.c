/* serve_log: the exact verdict, first index, term and message of the log
 * check for each case (from 1, behind, diverged term, below the first
 * retained index, prev term only in a snapshot at from - 1, empty log),
 * the tail search, the info answer, and the entry/heartbeat frames. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/serve/serve_log.h"
#include "common/errors.h"
#include "snapshot/snapshot.h"
#include "tests/lib/fixture.h"
#include "wal/wal.h"

#define CLUSTER "6b0f4c1e-2a3b-4c5d-8e9f-0a1b2c3d4e5f"
#define ENTRY_SIZE 100

struct fx {
	char dir[256];
	struct fx_spool sp;
	struct wal_reader *r;
	char em[MA_ERRMSG_SIZE];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);

	if (f == NULL ||
	    fx_scratch_dir("serve-log", f->dir, sizeof f->dir, f->em) != 0)
		return -1;
	if (fx_spool_create(&f->sp, f->dir, "kv", CLUSTER, 1, 4096, f->em) !=
	    0) {
		fprintf(stderr, "setup: %s\n", f->em);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	wal_reader_close(f->r);
	fx_spool_close(&f->sp);
	fx_remove_tree(f->dir);
	free(f);
	return 0;
}

static void append(struct fx *f, uint64_t count, uint64_t term)
{
	if (fx_spool_append(&f->sp, count, term, ENTRY_SIZE, f->em) != 0)
		fail_msg("append: %s", f->em);
}

static void snapshot(struct fx *f, uint64_t index, uint64_t term,
                     struct snapshot_meta *meta)
{
	if (fx_spool_snapshot(&f->sp, index, term, 1000 + index, index, meta,
	                      f->em) != 0)
		fail_msg("snapshot: %s", f->em);
}

static struct wal_reader *reader(struct fx *f)
{
	if (f->r == NULL &&
	    wal_reader_open(f->sp.wal_dir, NULL, &f->r, f->em) != 0)
		fail_msg("reader: %s", f->em);
	return f->r;
}

static struct serve_log_check check(struct fx *f, uint64_t from,
                                    uint64_t prev_term)
{
	struct serve_log_check c;
	int rc =
	    serve_log_check(reader(f), f->sp.store, from, prev_term, &c, f->em);

	if (rc != 0)
		fail_msg("check(%" PRIu64 ", %" PRIu64 "): %s", from, prev_term,
		         f->em);
	return c;
}

static void test_empty_log(void **state)
{
	struct fx *f = *state;
	struct serve_log_check c;

	c = check(f, 1, 0);
	assert_int_equal(c.verdict, SERVE_LOG_OK);
	assert_true(c.first_index == 0 && c.term == 0);
	assert_string_equal(c.message, "");
	c = check(f, 5, 1);
	assert_int_equal(c.verdict, SERVE_LOG_BEHIND);
	assert_true(c.first_index == 0);
	assert_string_equal(
	    c.message, "index 5 is wanted but the source holds less; waiting");
	assert_int_equal(
	    serve_log_check(reader(f), f->sp.store, 0, 0, &c, f->em),
	    MA_ERR_INVAL);
}

static void test_ok_behind_diverged(void **state)
{
	struct fx *f = *state;
	struct serve_log_check c;

	append(f, 10, 1);
	append(f, 10, 2);
	c = check(f, 1, 0);
	assert_int_equal(c.verdict, SERVE_LOG_OK);
	assert_true(c.first_index == 1 && c.term == 0);
	/* From 1 there is no entry before: a mirror's prev_term must be 0. */
	c = check(f, 1, 3);
	assert_int_equal(c.verdict, SERVE_LOG_DIVERGED);
	c = check(f, 11, 1);
	assert_int_equal(c.verdict, SERVE_LOG_OK);
	assert_true(c.term == 1 && !c.term_from_snapshot);
	c = check(f, 21, 2);
	assert_int_equal(c.verdict, SERVE_LOG_OK);
	assert_true(c.term == 2);
	c = check(f, 22, 2);
	assert_int_equal(c.verdict, SERVE_LOG_BEHIND);
	assert_true(c.first_index == 1);
	assert_string_equal(
	    c.message, "index 22 is wanted but the source holds less; waiting");
	c = check(f, 16, 1);
	assert_int_equal(c.verdict, SERVE_LOG_DIVERGED);
	assert_true(c.first_index == 1 && c.term == 2);
	assert_string_equal(c.message,
	                    "term of index 15 is 2 here, 1 at the mirror: "
	                    "re-bootstrap from the latest snapshot");
	assert_int_equal(serve_log_verdict_error(c.verdict),
	                 PROTO_ERROR_DIVERGED);
	/* Once the source holds index 21, the waiting mirror may go on. */
	append(f, 1, 2);
	c = check(f, 22, 2);
	assert_int_equal(c.verdict, SERVE_LOG_OK);
}

static void test_compacted(void **state)
{
	struct fx *f = *state;
	struct serve_log_check c;
	uint64_t first;
	char want[PROTO_MESSAGE_MAX + 1];

	append(f, 200, 1);
	if (fx_spool_compact(&f->sp, 100, f->em) != 0)
		fail_msg("compact: %s", f->em);
	first = fx_spool_first_index(&f->sp);
	/* 4 KiB segments of ~130-byte records: compaction removed some. */
	assert_true(first > 2 && first <= 100);
	c = check(f, first - 1, 1);
	assert_int_equal(c.verdict, SERVE_LOG_COMPACTED);
	assert_true(c.first_index == first);
	snprintf(want, sizeof want,
	         "index %" PRIu64 " is no longer held (first retained index "
	         "%" PRIu64 "): re-bootstrap from the latest snapshot",
	         first - 1, first);
	assert_string_equal(c.message, want);
	assert_int_equal(serve_log_verdict_error(c.verdict),
	                 PROTO_ERROR_COMPACTED);
	/* from == first: the term at first - 1 is gone with its segment. */
	c = check(f, first, 1);
	assert_int_equal(c.verdict, SERVE_LOG_COMPACTED);
	assert_true(c.first_index == first);
	snprintf(want, sizeof want,
	         "the term of index %" PRIu64 " is no longer known (first "
	         "retained index %" PRIu64 ", no snapshot at %" PRIu64
	         "): re-bootstrap from the latest snapshot",
	         first - 1, first, first - 1);
	assert_string_equal(c.message, want);
	/* ... unless a snapshot at first - 1 names it. */
	snapshot(f, first - 1, 1, NULL);
	c = check(f, first, 1);
	assert_int_equal(c.verdict, SERVE_LOG_OK);
	assert_true(c.term == 1 && c.term_from_snapshot);
	c = check(f, first, 2);
	assert_int_equal(c.verdict, SERVE_LOG_DIVERGED);
	assert_true(c.term == 1 && c.first_index == first);
	/* Two snapshots at the same index: the one with the mirror's term
	 * wins. */
	snapshot(f, first - 1, 2, NULL);
	c = check(f, first, 2);
	assert_int_equal(c.verdict, SERVE_LOG_OK);
	assert_true(c.term == 2);
	c = check(f, first, 1);
	assert_int_equal(c.verdict, SERVE_LOG_OK);
	assert_true(c.term == 1);
	c = check(f, first, 3);
	assert_int_equal(c.verdict, SERVE_LOG_DIVERGED);
	/* The log itself still answers from first + 1 on. */
	c = check(f, first + 1, 1);
	assert_int_equal(c.verdict, SERVE_LOG_OK);
	assert_false(c.term_from_snapshot);
}

/* A source that holds only a snapshot (its log reset after it). */
static void test_snapshot_only(void **state)
{
	struct fx *f = *state;
	struct serve_log_check c;

	snapshot(f, 50, 3, NULL);
	if (wal_log_reset(f->sp.log, 51, f->em) != 0)
		fail_msg("reset: %s", f->em);
	c = check(f, 51, 3);
	assert_int_equal(c.verdict, SERVE_LOG_OK);
	assert_true(c.term == 3 && c.term_from_snapshot);
	c = check(f, 51, 2);
	assert_int_equal(c.verdict, SERVE_LOG_DIVERGED);
	assert_true(c.term == 3);
	c = check(f, 60, 3);
	assert_int_equal(c.verdict, SERVE_LOG_BEHIND);
	c = check(f, 50, 3);
	assert_int_equal(c.verdict, SERVE_LOG_COMPACTED);
	assert_true(c.first_index == 51);
}

static void test_tail_and_info(void **state)
{
	struct fx *f = *state;
	struct serve_log_tail t = {0, 0};
	struct proto_info info;
	struct proto_identity id = f->sp.id;
	struct snapshot_meta meta;

	assert_int_equal(serve_log_tail_locate(reader(f), &t, f->em), 0);
	assert_true(t.last_index == 0 && t.last_term == 0);
	assert_int_equal(serve_log_info_build(f->sp.store, reader(f), &t, &id,
	                                      1234, &info, f->em),
	                 0);
	assert_false(info.has_snapshot);
	assert_true(info.commit_index == 0 && info.first_index == 0);
	assert_true(info.source_time_ms == 1234);
	assert_string_equal(info.id.database_id, "kv");
	append(f, 10, 1);
	append(f, 15, 2);
	assert_int_equal(wal_reader_refresh(reader(f), f->em), 0);
	assert_int_equal(serve_log_tail_locate(reader(f), &t, f->em), 0);
	assert_true(t.last_index == 25 && t.last_term == 2);
	/* Grows past several segments: the gallop finds the end. */
	append(f, 300, 3);
	assert_int_equal(wal_reader_refresh(reader(f), f->em), 0);
	assert_int_equal(serve_log_tail_locate(reader(f), &t, f->em), 0);
	assert_true(t.last_index == 325 && t.last_term == 3);
	/* Shrinks (divergence on the source). */
	if (fx_spool_truncate(&f->sp, 12, f->em) != 0)
		fail_msg("truncate: %s", f->em);
	assert_int_equal(wal_reader_refresh(reader(f), f->em), 0);
	assert_int_equal(serve_log_tail_locate(reader(f), &t, f->em), 0);
	assert_true(t.last_index == 12 && t.last_term == 2);
	assert_int_equal(serve_log_info_build(f->sp.store, reader(f), &t, &id,
	                                      99, &info, f->em),
	                 0);
	assert_true(info.commit_index == 12 && info.commit_term == 2);
	assert_true(info.first_index == 1);
	/* A snapshot newer than the log raises the commit index. */
	snapshot(f, 40, 4, &meta);
	assert_int_equal(serve_log_info_build(f->sp.store, reader(f), &t, &id,
	                                      99, &info, f->em),
	                 0);
	assert_true(info.has_snapshot);
	assert_true(info.snapshot_index == 40 && info.snapshot_term == 4);
	assert_true(info.snapshot_size == meta.id.size &&
	            info.snapshot_size == 1040);
	assert_true(info.snapshot_crc32c == meta.id.crc32c);
	assert_true(info.commit_index == 40 && info.commit_term == 4);
}

/* Decodes every frame of sb into msgs (at most max); returns the count. */
static size_t decode_all(const struct proto_buf *sb, size_t off,
                         struct proto_log_msg *msgs, size_t max)
{
	size_t n = 0;
	char em[MA_ERRMSG_SIZE];

	while (off < sb->len) {
		const uint8_t *p = sb->data + off;
		uint32_t len;

		assert_true(sb->len - off >= PROTO_FRAME_HEADER_SIZE);
		len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		      (uint32_t)p[2] << 8 | p[3];
		assert_true(sb->len - off - PROTO_FRAME_HEADER_SIZE >= len);
		assert_true(n < max);
		if (proto_log_decode(p + PROTO_FRAME_HEADER_SIZE, len,
		                     PROTO_ENTRY_DATA_MAX, &msgs[n], em) != 0)
			fail_msg("decode: %s", em);
		n++;
		off += PROTO_FRAME_HEADER_SIZE + len;
	}
	return n;
}

static void assert_entry(const struct proto_log_msg *m, uint64_t index,
                         uint64_t term)
{
	char want[ENTRY_SIZE];
	size_t len = fx_payload(index, ENTRY_SIZE, want, sizeof want);

	assert_int_equal(m->kind, PROTO_LOG_ENTRY);
	assert_true(m->index == index && m->term == term);
	assert_int_equal(m->data_len, len);
	assert_memory_equal(m->data, want, len);
}

static void test_read(void **state)
{
	struct fx *f = *state;
	static struct proto_log_msg msgs[400];
	struct serve_log_end end;
	struct proto_buf sb;
	uint64_t next = 5;
	size_t produced, n;
	int rc;

	append(f, 30, 1);
	proto_buf_init(&sb);
	assert_int_equal(wal_reader_seek(reader(f), 5, f->em), 0);
	/* max_bytes 1: exactly one entry per call. */
	rc = serve_log_read(reader(f), &next, &sb, 1, &produced, &end, f->em);
	assert_int_equal(rc, SERVE_LOG_READ_MORE);
	assert_true(next == 6 && produced == ENTRY_SIZE);
	n = decode_all(&sb, 0, msgs, 400);
	assert_int_equal(n, 1);
	assert_entry(&msgs[0], 5, 1);
	proto_buf_clear(&sb);
	rc = serve_log_read(reader(f), &next, &sb, SIZE_MAX, &produced, &end,
	                    f->em);
	assert_int_equal(rc, SERVE_LOG_READ_AGAIN);
	assert_true(next == 31 && produced == 25 * ENTRY_SIZE);
	n = decode_all(&sb, 0, msgs, 400);
	assert_int_equal(n, 25);
	for (size_t i = 0; i < n; i++)
		assert_entry(&msgs[i], 6 + i, 1);
	/* The log grows: after a refresh the stream goes on. */
	proto_buf_clear(&sb);
	append(f, 5, 2);
	assert_int_equal(wal_reader_refresh(reader(f), f->em), 0);
	rc = serve_log_read(reader(f), &next, &sb, SIZE_MAX, NULL, &end, f->em);
	assert_int_equal(rc, SERVE_LOG_READ_AGAIN);
	assert_true(next == 36);
	n = decode_all(&sb, 0, msgs, 400);
	assert_int_equal(n, 5);
	assert_entry(&msgs[4], 35, 2);
	/* Truncated below the position: the stream ends diverged. */
	proto_buf_clear(&sb);
	if (fx_spool_truncate(&f->sp, 20, f->em) != 0)
		fail_msg("truncate: %s", f->em);
	assert_int_equal(wal_reader_refresh(reader(f), f->em), 0);
	rc = serve_log_read(reader(f), &next, &sb, SIZE_MAX, NULL, &end, f->em);
	assert_int_equal(rc, SERVE_LOG_READ_END);
	assert_int_equal(end.error, PROTO_ERROR_DIVERGED);
	assert_true(end.first_index == 1 && next == 36);
	assert_string_equal(end.message,
	                    "the source log was truncated or reset below "
	                    "index 36: re-bootstrap");
	assert_true(sb.len == 0);
	proto_buf_free(&sb);
}

static void test_read_compacted(void **state)
{
	struct fx *f = *state;
	struct serve_log_end end;
	struct proto_buf sb;
	uint64_t next = 2, first;
	int rc;

	append(f, 200, 1);
	proto_buf_init(&sb);
	assert_int_equal(wal_reader_seek(reader(f), 2, f->em), 0);
	if (fx_spool_compact(&f->sp, 150, f->em) != 0)
		fail_msg("compact: %s", f->em);
	first = fx_spool_first_index(&f->sp);
	assert_true(first > 2);
	assert_int_equal(wal_reader_refresh(reader(f), f->em), 0);
	rc = serve_log_read(reader(f), &next, &sb, SIZE_MAX, NULL, &end, f->em);
	assert_int_equal(rc, SERVE_LOG_READ_END);
	assert_int_equal(end.error, PROTO_ERROR_COMPACTED);
	assert_true(end.first_index == first);
	assert_string_equal(end.message,
	                    "index 2 was removed by log retention: "
	                    "re-bootstrap from the latest snapshot");
	proto_buf_free(&sb);
}

static void test_heartbeat(void **state)
{
	struct proto_log_msg m;
	struct proto_buf sb;

	(void)state;
	proto_buf_init(&sb);
	assert_int_equal(serve_log_heartbeat(&sb, 77, 3, 1700000000123), 0);
	assert_int_equal(decode_all(&sb, 0, &m, 1), 1);
	assert_int_equal(m.kind, PROTO_LOG_HEARTBEAT);
	assert_true(m.commit_index == 77 && m.first_index == 3);
	assert_true(m.source_time_ms == 1700000000123);
	proto_buf_free(&sb);
	assert_string_equal(serve_log_verdict_name(SERVE_LOG_BEHIND), "behind");
	assert_int_equal(serve_log_verdict_error(SERVE_LOG_OK), 0);
	assert_int_equal(serve_log_verdict_error(SERVE_LOG_BEHIND), 0);
}

/* A whole stream: start frame, waiting while behind, entries, heartbeat,
 * and the final frame when the log diverges under it. */
static void test_stream(void **state)
{
	struct fx *f = *state;
	static struct proto_log_msg msgs[64];
	struct serve_log_stream ls;
	struct serve_log_pump_note note;
	struct proto_buf b;
	size_t n, produced;

	append(f, 10, 1);
	proto_buf_init(&b);
	assert_int_equal(serve_log_stream_open(&ls, f->sp.wal_dir, NULL,
	                                       f->sp.store, &f->sp.id, 12, 1,
	                                       &b, f->em),
	                 0);
	n = decode_all(&b, 0, msgs, 64);
	assert_int_equal(n, 1);
	assert_int_equal(msgs[0].kind, PROTO_LOG_START);
	assert_true(msgs[0].from_index == 12);
	assert_string_equal(msgs[0].id.cluster_id, CLUSTER);
	proto_buf_clear(&b);
	/* The source holds 10: behind (said once), nothing sent. */
	assert_int_equal(serve_log_stream_pump(&ls, &b, SIZE_MAX, true,
	                                       &produced, &note, f->em),
	                 SERVE_LOG_PUMP_IDLE);
	assert_true(note.behind_first && b.len == 0);
	assert_string_equal(
	    note.message,
	    "index 12 is wanted but the source holds less; waiting");
	assert_int_equal(serve_log_stream_pump(&ls, &b, SIZE_MAX, true,
	                                       &produced, &note, f->em),
	                 SERVE_LOG_PUMP_IDLE);
	assert_false(note.behind_first);
	/* 11..15 appear: 12..15 are sent, then a heartbeat. */
	append(f, 5, 1);
	assert_int_equal(serve_log_stream_pump(&ls, &b, SIZE_MAX, true,
	                                       &produced, &note, f->em),
	                 SERVE_LOG_PUMP_IDLE);
	assert_true(produced == 4 * ENTRY_SIZE);
	assert_int_equal(serve_log_stream_heartbeat(&ls, &b, 3, 1, 42), 0);
	n = decode_all(&b, 0, msgs, 64);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < 4; i++)
		assert_entry(&msgs[i], 12 + i, 1);
	assert_int_equal(msgs[4].kind, PROTO_LOG_HEARTBEAT);
	/* The commit index is at least what was sent. */
	assert_true(msgs[4].commit_index == 15 && msgs[4].first_index == 1);
	/* Batches of one entry: MORE until the end of the log. */
	proto_buf_clear(&b);
	append(f, 2, 1);
	assert_int_equal(
	    serve_log_stream_pump(&ls, &b, 1, true, &produced, &note, f->em),
	    SERVE_LOG_PUMP_MORE);
	assert_int_equal(
	    serve_log_stream_pump(&ls, &b, 1, false, &produced, &note, f->em),
	    SERVE_LOG_PUMP_MORE);
	assert_int_equal(
	    serve_log_stream_pump(&ls, &b, 1, false, &produced, &note, f->em),
	    SERVE_LOG_PUMP_IDLE);
	assert_int_equal(decode_all(&b, 0, msgs, 64), 2);
	assert_entry(&msgs[1], 17, 1);
	/* Divergence under the stream: the x frame, then nothing more. */
	proto_buf_clear(&b);
	if (fx_spool_truncate(&f->sp, 13, f->em) != 0)
		fail_msg("truncate: %s", f->em);
	assert_int_equal(serve_log_stream_pump(&ls, &b, SIZE_MAX, true,
	                                       &produced, &note, f->em),
	                 SERVE_LOG_PUMP_ENDED);
	assert_int_equal(note.error, PROTO_ERROR_DIVERGED);
	assert_false(note.internal);
	assert_int_equal(decode_all(&b, 0, msgs, 64), 1);
	assert_int_equal(msgs[0].kind, PROTO_LOG_ERROR);
	assert_int_equal(msgs[0].error, PROTO_ERROR_DIVERGED);
	assert_string_equal(msgs[0].message,
	                    "the source log was truncated or reset below "
	                    "index 18: re-bootstrap");
	proto_buf_clear(&b);
	assert_int_equal(serve_log_stream_pump(&ls, &b, SIZE_MAX, true,
	                                       &produced, &note, f->em),
	                 SERVE_LOG_PUMP_ENDED);
	assert_int_equal(serve_log_stream_heartbeat(&ls, &b, 3, 1, 42), 0);
	assert_true(b.len == 0);
	serve_log_stream_close(&ls);
	proto_buf_free(&b);
}

/* A reader handed from an ended stream to the next (serve keeps them so
 * that reconnects cost no segment scan): the next stream reads its own
 * range exactly; serve_log_stream_end ends a stream with the caller's
 * error once; a stream ended by a read error of its log keeps its reader
 * to itself. */
static void test_stream_reuse_and_end(void **state)
{
	struct fx *f = *state;
	static struct proto_log_msg msgs[64];
	struct serve_log_stream a, b;
	struct serve_log_pump_note note;
	struct wal_reader *r;
	struct proto_buf out;
	size_t produced;

	append(f, 20, 1);
	proto_buf_init(&out);
	assert_int_equal(serve_log_stream_open(&a, f->sp.wal_dir, NULL,
	                                       f->sp.store, &f->sp.id, 5, 1,
	                                       &out, f->em),
	                 0);
	assert_int_equal(serve_log_stream_pump(&a, &out, SIZE_MAX, true,
	                                       &produced, &note, f->em),
	                 SERVE_LOG_PUMP_IDLE);
	assert_true(produced == 16 * ENTRY_SIZE);
	memset(&note, 0, sizeof note);
	assert_int_equal(serve_log_stream_end(&a, &out, PROTO_ERROR_FORBIDDEN,
	                                      "access withdrawn", &note),
	                 SERVE_LOG_PUMP_ENDED);
	assert_int_equal(note.error, PROTO_ERROR_FORBIDDEN);
	assert_false(note.internal);
	assert_int_equal(decode_all(&out, 0, msgs, 64), 18);
	assert_int_equal(msgs[17].kind, PROTO_LOG_ERROR);
	assert_int_equal(msgs[17].error, PROTO_ERROR_FORBIDDEN);
	assert_string_equal(msgs[17].message, "access withdrawn");
	/* Once only. */
	proto_buf_clear(&out);
	assert_int_equal(
	    serve_log_stream_end(&a, &out, PROTO_ERROR_INTERNAL, "again", NULL),
	    SERVE_LOG_PUMP_ENDED);
	assert_true(out.len == 0);
	r = serve_log_stream_take_reader(&a);
	assert_non_null(r);
	serve_log_stream_close(&a);

	/* The next stream, from an earlier index, on the same reader. */
	append(f, 3, 2);
	assert_int_equal(serve_log_stream_open_reader(
	                     &b, r, f->sp.store, &f->sp.id, 3, 1, &out, f->em),
	                 0);
	assert_int_equal(serve_log_stream_pump(&b, &out, SIZE_MAX, true,
	                                       &produced, &note, f->em),
	                 SERVE_LOG_PUMP_IDLE);
	assert_int_equal(decode_all(&out, 0, msgs, 64), 22);
	assert_int_equal(msgs[0].kind, PROTO_LOG_START);
	for (size_t i = 0; i < 21; i++)
		assert_entry(&msgs[1 + i], 3 + i, 3 + i <= 20 ? 1 : 2);
	/* Ended by its own read error: no reader to give. */
	b.failed = true;
	assert_null(serve_log_stream_take_reader(&b));
	serve_log_stream_close(&b);
	proto_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_empty_log, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ok_behind_diverged, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_compacted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_only, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_tail_and_info, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_compacted, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stream_reuse_and_end, setup,
	                                    teardown),
	    cmocka_unit_test(test_heartbeat),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
