/* wal recovery on open: torn tails are cut back to the last valid record,
 * mid-log corruption is refused with the file and offset named. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/io.h"
#include "common/log.h"
#include "wal/wal_format.h"
#include "wal_test_util.h"

#define EXTRA 40

/* Offset of record index i in a segment starting at first, as written by
 * test_append_range with max_extra EXTRA. */
static off_t rec_off(uint64_t first, uint64_t i)
{
	uint8_t buf[128];
	off_t off = WAL_SEG_HEADER_SIZE;

	for (uint64_t k = first; k < i; k++)
		off += (off_t)wal_rec_size(test_payload(k, buf, EXTRA));
	return off;
}

/* Forgets the durable mark a clean close writes: what a crash after the
 * last fsync leaves, so that the tail below may be torn (FORMAT.md 1.6). */
static void crashed(const char *dir)
{
	char path[512];

	snprintf(path, sizeof path, "%s/wal.durable", dir);
	assert_true(unlink(path) == 0 || errno == ENOENT);
}

static struct wal_log *open_ok(const char *dir, uint64_t segsize)
{
	struct wal_options o = test_opts(segsize);
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_log *log = NULL;
	int rc = wal_log_open(dir, &o, &log, errmsg);

	if (rc != 0)
		fail_msg("open: %s", errmsg);
	return log;
}

static void make_log(const char *dir, uint64_t n, uint64_t segsize)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_log *log = open_ok(dir, segsize);

	assert_int_equal(test_append_range(log, 1, n, 3, EXTRA, errmsg), 0);
	wal_log_close(log);
	crashed(dir);
}

static void check_entries(struct wal_log *log, uint64_t first, uint64_t last)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_entry e;

	assert_true(wal_log_first_index(log) == first);
	assert_true(wal_log_last_index(log) == last);
	assert_true(wal_log_durable_index(log) == last);
	for (uint64_t i = first; i <= last; i++) {
		assert_int_equal(wal_log_read(log, i, &e, errmsg), 0);
		assert_true(test_entry_ok(&e, EXTRA));
	}
}

static void save_file(const char *path, void **buf, size_t *len)
{
	assert_int_equal(io_read_file(path, 1 << 20, buf, len, NULL), 0);
}

static void restore_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void test_torn_last_record_every_offset(void **state)
{
	const char *dir = *state;
	char path[512], errmsg[MA_ERRMSG_SIZE];
	off_t start, size;
	struct wal_log *log;
	size_t len;
	void *orig;

	make_log(dir, 6, 1 << 20);
	test_seg_path(path, sizeof path, dir, 1);
	size = test_file_size(path);
	start = rec_off(1, 6);
	assert_true(size == rec_off(1, 7));
	save_file(path, &orig, &len);
	for (off_t cut = start; cut <= size; cut++) {
		assert_int_equal(truncate(path, cut), 0);
		log = open_ok(dir, 1 << 20);
		check_entries(log, 1, cut == size ? 6 : 5);
		wal_log_close(log);
		crashed(dir);
		assert_true(test_file_size(path) ==
		            (cut == size ? size : start));
		restore_file(path, orig, len);
	}
	/* After repair the log takes the lost index again. */
	assert_int_equal(truncate(path, start + 5), 0);
	log = open_ok(dir, 1 << 20);
	assert_int_equal(test_append_range(log, 6, 8, 1, EXTRA, errmsg), 0);
	check_entries(log, 1, 8);
	wal_log_close(log);
	free(orig);
}

static void tail_sectors(const char *dir, int byte)
{
	char path[512];
	struct wal_log *log;
	off_t size, cut;
	uint64_t kept = 0;

	make_log(dir, 40, 1 << 20);
	test_seg_path(path, sizeof path, dir, 1);
	size = test_file_size(path);
	/* Extra sectors after the last record (preallocated, then lost). */
	{
		int fd = open(path, O_WRONLY | O_APPEND);
		uint8_t sec[1024];

		for (size_t i = 0; i < sizeof sec; i++)
			sec[i] = (uint8_t)(byte < 0 ? rand() : byte);
		assert_int_equal(write(fd, sec, sizeof sec), 1024);
		close(fd);
	}
	log = open_ok(dir, 1 << 20);
	check_entries(log, 1, 40);
	wal_log_close(log);
	crashed(dir);
	assert_true(test_file_size(path) == size);
	/* The last 512-byte sector holding records overwritten: everything
	 * wholly before it survives. */
	cut = (size - 1) / 512 * 512;
	test_poke(path, cut, (size_t)(size - cut), byte, 0);
	while (rec_off(1, kept + 2) <= cut)
		kept++;
	log = open_ok(dir, 1 << 20);
	check_entries(log, 1, kept);
	wal_log_close(log);
	assert_true(test_file_size(path) == rec_off(1, kept + 1));
}

static void test_zeroed_tail_sectors(void **state)
{
	tail_sectors(*state, 0);
}

static void test_garbage_tail_sectors(void **state)
{
	srand(7);
	tail_sectors(*state, -1);
}

/* Entry `index` whose payload carries, at an 8-aligned file offset, the
 * CRC-valid image of a record for index + 1 (any writer of payloads can
 * do this). Returns the payload length; img_at gets the image's offset
 * within the payload. */
static size_t payload_with_image(uint64_t index, uint64_t term, uint8_t *buf,
                                 size_t *img_at)
{
	struct wal_entry img = {.index = index + 1,
	                        .term = term,
	                        .type = 1,
	                        .data = "fake",
	                        .len = 4};

	memset(buf, 'q', 512);
	*img_at = 64; /* payload starts 8-aligned: so does the image */
	wal_rec_encode(&img, buf + *img_at);
	return 512;
}

/* A torn write of such an entry (the file ends inside its payload, after
 * the image) is a torn tail: the log opens, the entry is dropped, every
 * entry before it is kept. Before, the image was taken for valid data
 * after the bad spot and the log refused to open. */
static void test_payload_record_image_then_torn(void **state)
{
	const char *dir = *state;
	char path[512], errmsg[MA_ERRMSG_SIZE];
	uint8_t buf[512];
	struct wal_entry e = {.index = 11, .term = test_term(11), .type = 1};
	struct wal_log *log;
	size_t img_at;
	off_t start;

	make_log(dir, 10, 1 << 20);
	log = open_ok(dir, 1 << 20);
	e.len = payload_with_image(11, e.term, buf, &img_at);
	e.data = buf;
	assert_int_equal(wal_log_append(log, &e, 1, 0, errmsg), 0);
	wal_log_close(log);
	crashed(dir);
	test_seg_path(path, sizeof path, dir, 1);
	start = rec_off(1, 11);
	/* Cut just after the image and at every 8 bytes to the end of the
	 * payload. */
	for (off_t cut = start + WAL_REC_HEADER_SIZE + (off_t)img_at + 40;
	     cut < start + (off_t)wal_rec_size(512); cut += 8) {
		assert_int_equal(truncate(path, cut), 0);
		log = open_ok(dir, 1 << 20);
		check_entries(log, 1, 10);
		wal_log_close(log);
		assert_true(test_file_size(path) == start);
		/* Put entry 11 back for the next cut. */
		log = open_ok(dir, 1 << 20);
		assert_int_equal(wal_log_append(log, &e, 1, 0, errmsg), 0);
		wal_log_close(log);
		crashed(dir);
	}
	/* A complete record whose payload is damaged after the image is
	 * not torn: the image is inside it, and the next real record
	 * (appended after) shows it is corruption. */
	log = open_ok(dir, 1 << 20);
	assert_int_equal(test_append_range(log, 12, 13, 1, EXTRA, errmsg), 0);
	wal_log_close(log);
	test_poke(path, start + WAL_REC_HEADER_SIZE + 400, 1, 0, 1);
	assert_int_equal(
	    wal_log_open(dir, &(struct wal_options){0}, &log, errmsg),
	    MA_ERR_INVAL); /* options first */
	{
		struct wal_options o = test_opts(1 << 20);
		assert_int_equal(wal_log_open(dir, &o, &log, errmsg),
		                 MA_ERR_CORRUPT);
		assert_non_null(strstr(errmsg, "(index 12)"));
	}
}

/* Terms never decrease, also from one segment to the next: a segment
 * whose records go back to a lower term than the one before it is
 * refused (before, the term check started afresh in every segment). */
static void test_term_backwards_across_segments(void **state)
{
	const char *dir = *state;
	char errmsg[MA_ERRMSG_SIZE], path[512], sub[512], from[600];
	struct wal_options o = test_opts(4096);
	struct wal_log *log = NULL;
	struct wal_entry e = {.term = 7, .type = 1, .data = "x", .len = 1};
	uint64_t first2 = 0, first3 = 0;

	log = open_ok(dir, 4096);
	for (uint64_t i = 1; i <= 300; i++) {
		e.index = i;
		assert_int_equal(wal_log_append(log, &e, 1, 0, errmsg), 0);
	}
	wal_log_close(log);
	for (uint64_t k = 2; k <= 300 && first3 == 0; k++) {
		test_seg_path(path, sizeof path, dir, k);
		if (access(path, F_OK) != 0)
			continue;
		if (first2 == 0)
			first2 = k;
		else
			first3 = k;
	}
	assert_true(first2 > 1 && first3 > first2);
	/* The same entries of segment 2, written with term 3 by another log
	 * of the same identity. */
	snprintf(sub, sizeof sub, "%s/other", dir);
	assert_int_equal(wal_log_open(sub, &o, &log, errmsg), 0);
	assert_int_equal(wal_log_reset(log, first2, errmsg), 0);
	e.term = 3;
	for (uint64_t i = first2; i < first3; i++) {
		e.index = i;
		assert_int_equal(wal_log_append(log, &e, 1, 0, errmsg), 0);
	}
	wal_log_close(log);
	snprintf(from, sizeof from, "%s/other/wal-%020llu.seg", dir,
	         (unsigned long long)first2);
	test_seg_path(path, sizeof path, dir, first2);
	assert_int_equal(rename(from, path), 0);
	assert_int_equal(wal_log_open(dir, &o, &log, errmsg), MA_ERR_CORRUPT);
	assert_non_null(strstr(errmsg, "term 3 below previous term 7"));
	assert_non_null(strstr(errmsg, strrchr(path, '/') + 1));
}

static void test_bit_flip_mid_log_refused(void **state)
{
	const char *dir = *state;
	char path[512], errmsg[MA_ERRMSG_SIZE], want[64];
	struct wal_options o = test_opts(1 << 20);
	struct wal_verify_report rep;
	struct wal_log *log = NULL;
	off_t off, size;

	make_log(dir, 10, 1 << 20);
	test_seg_path(path, sizeof path, dir, 1);
	size = test_file_size(path);
	off = rec_off(1, 5);
	test_poke(path, off + WAL_REC_HEADER_SIZE + 2, 1, 0, 1);
	assert_int_equal(wal_log_open(dir, &o, &log, errmsg), MA_ERR_CORRUPT);
	assert_null(log);
	snprintf(want, sizeof want, "offset %lld:", (long long)off);
	assert_non_null(strstr(errmsg, want));
	assert_non_null(strstr(errmsg, "wal-00000000000000000001.seg"));
	assert_non_null(strstr(errmsg, "CRC32C"));
	assert_non_null(strstr(errmsg, "index 6"));
	/* Nothing was cut. */
	assert_true(test_file_size(path) == size);
	assert_int_equal(wal_verify(dir, &rep, NULL, NULL, errmsg),
	                 MA_ERR_CORRUPT);
	assert_non_null(strstr(errmsg, want));

	/* A flip in the length field is caught the same way. */
	test_poke(path, off + WAL_REC_HEADER_SIZE + 2, 1, 0, 1);
	test_poke(path, rec_off(1, 3), 1, 0, 1);
	assert_int_equal(wal_log_open(dir, &o, &log, errmsg), MA_ERR_CORRUPT);
	snprintf(want, sizeof want, "offset %lld:", (long long)rec_off(1, 3));
	assert_non_null(strstr(errmsg, want));
}

static void test_bad_record_in_sealed_segment_refused(void **state)
{
	const char *dir = *state;
	char path[512], errmsg[MA_ERRMSG_SIZE], want[64];
	struct wal_options o = test_opts(4096);
	struct wal_log *log = NULL;
	uint64_t second;
	off_t size;

	make_log(dir, 200, 4096);
	log = open_ok(dir, 4096);
	assert_true(log != NULL);
	wal_log_close(log);
	/* Find the second segment's first index: the first segment holds
	 * records until it reaches 4096 bytes. */
	second = 1;
	while (rec_off(1, second) < 4096)
		second++;
	test_seg_path(path, sizeof path, dir, second);
	assert_true(test_file_size(path) > 0);
	/* Cut the last record of the first (sealed) segment short. */
	test_seg_path(path, sizeof path, dir, 1);
	size = test_file_size(path);
	assert_int_equal(truncate(path, size - 3), 0);
	assert_int_equal(wal_log_open(dir, &o, &log, errmsg), MA_ERR_CORRUPT);
	snprintf(want, sizeof want,
	         "offset %lld:", (long long)rec_off(1, second - 1));
	assert_non_null(strstr(errmsg, want));
	assert_non_null(strstr(errmsg, "sealed"));
}

static void test_missing_segment_refused(void **state)
{
	const char *dir = *state;
	char path[512], errmsg[MA_ERRMSG_SIZE];
	struct wal_options o = test_opts(4096);
	struct wal_log *log = NULL;
	uint64_t firsts[3] = {1, 0, 0};
	int k = 1;

	make_log(dir, 300, 4096);
	for (uint64_t i = 2; i <= 300 && k < 3; i++) {
		test_seg_path(path, sizeof path, dir, i);
		if (access(path, F_OK) == 0)
			firsts[k++] = i;
	}
	assert_int_equal(k, 3);
	test_seg_path(path, sizeof path, dir, firsts[1]);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(wal_log_open(dir, &o, &log, errmsg), MA_ERR_CORRUPT);
	assert_non_null(strstr(errmsg, "entries are missing"));
}

static void test_identity_mismatch_refused(void **state)
{
	const char *dir = *state;
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_options o = test_opts(1 << 20);
	struct wal_log *log = NULL;

	make_log(dir, 3, 1 << 20);
	assert_int_equal(
	    wal_identity_init(&o.identity, TEST_UUID, "other.db", NULL), 0);
	assert_int_equal(wal_log_open(dir, &o, &log, errmsg), MA_ERR_IDENTITY);
	assert_non_null(strstr(errmsg, "other.db"));
	assert_non_null(strstr(errmsg, TEST_DB));
	assert_int_equal(
	    wal_identity_init(&o.identity,
	                      "00000000-0000-0000-0000-000000000001", TEST_DB,
	                      NULL),
	    0);
	assert_int_equal(wal_log_open(dir, &o, &log, errmsg), MA_ERR_IDENTITY);
	assert_null(log);
}

static void test_verify_does_not_repair(void **state)
{
	const char *dir = *state;
	char path[512], errmsg[MA_ERRMSG_SIZE];
	struct wal_verify_report rep;
	off_t size;

	make_log(dir, 10, 1 << 20);
	test_seg_path(path, sizeof path, dir, 1);
	size = test_file_size(path);
	assert_int_equal(truncate(path, size - 5), 0);
	assert_int_equal(wal_verify(dir, &rep, NULL, NULL, errmsg), 0);
	assert_true(rep.torn_tail);
	assert_true(rep.torn_offset == (uint64_t)rec_off(1, 10));
	assert_true(rep.last_index == 9);
	assert_true(rep.entries == 9);
	assert_true(test_file_size(path) == size - 5);
}

static void test_leftover_tmp_swept(void **state)
{
	const char *dir = *state;
	char path[512];
	struct wal_log *log;

	make_log(dir, 3, 1 << 20);
	snprintf(path, sizeof path, "%s/wal-00000000000000000004.seg.tmp", dir);
	close(open(path, O_CREAT | O_WRONLY, 0644));
	assert_int_equal(access(path, F_OK), 0);
	log = open_ok(dir, 1 << 20);
	check_entries(log, 1, 3);
	wal_log_close(log);
	assert_int_equal(access(path, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_torn_last_record_every_offset,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_zeroed_tail_sectors,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_tail_sectors,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_payload_record_image_then_torn,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_term_backwards_across_segments,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_bit_flip_mid_log_refused,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_bad_record_in_sealed_segment_refused, fx_scratch_setup,
	        fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_missing_segment_refused,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_identity_mismatch_refused,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_verify_does_not_repair,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_leftover_tmp_swept, fx_scratch_setup, fx_scratch_teardown),
	};
	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
