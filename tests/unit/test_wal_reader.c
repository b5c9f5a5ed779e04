/* wal_reader: iteration, seeks around segment boundaries, compaction,
 * following a tail written in this process or another one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <poll.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/io.h"
#include "common/log.h"
#include "wal/wal_format.h"
#include "wal_test_util.h"

static struct wal_log *open_opts(const char *dir, const struct wal_options *o)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_log *log = NULL;

	if (wal_log_open(dir, o, &log, errmsg) != 0)
		fail_msg("open: %s", errmsg);
	return log;
}

static struct wal_reader *reader(const char *dir)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_reader *r = NULL;
	struct wal_identity id;

	assert_int_equal(wal_identity_init(&id, TEST_UUID, TEST_DB, NULL), 0);
	if (wal_reader_open(dir, &id, &r, errmsg) != 0)
		fail_msg("reader open: %s", errmsg);
	return r;
}

static void test_million_entries(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(8u << 20);
	char errmsg[MA_ERRMSG_SIZE];
	const uint64_t n = 1000000;
	struct wal_reader *r;
	struct wal_log *log;
	struct wal_entry e;
	uint64_t count = 0;
	double t0 = clock_mono_s(), t1, t2;

	o.sync_every_append = false;
	o.sync_bytes = 8u << 20;
	log = open_opts(dir, &o);
	assert_int_equal(test_append_range(log, 1, n, 64, 0, errmsg), 0);
	assert_int_equal(wal_log_sync(log, errmsg), 0);
	assert_true(wal_log_durable_index(log) == n);
	t1 = clock_mono_s();
	r = reader(dir);
	while (wal_reader_next(r, &e, errmsg) == 0) {
		count++;
		if (e.index != count || !test_entry_ok(&e, 0))
			fail_msg("entry %" PRIu64 " wrong", count);
	}
	assert_true(count == n);
	/* Random reads through the writer's offset index. */
	for (uint64_t i = 1; i <= n; i += 9973) {
		assert_int_equal(wal_log_read(log, i, &e, errmsg), 0);
		assert_true(e.index == i && test_entry_ok(&e, 0));
	}
	wal_reader_close(r);
	wal_log_close(log);
	t2 = clock_mono_s();
	log = open_opts(dir, &o);
	assert_true(wal_log_last_index(log) == n);
	wal_log_close(log);
	print_message("# 1M entries: append %.2fs, iterate+reads %.2fs, "
	              "reopen %.2fs\n",
	              t1 - t0, t2 - t1, clock_mono_s() - t2);
}

static void expect_next(struct wal_reader *r, uint64_t index)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_entry e;
	int rc = wal_reader_next(r, &e, errmsg);

	if (rc != 0)
		fail_msg("next (want %" PRIu64 "): %s", index, errmsg);
	assert_true(e.index == index);
	assert_true(test_entry_ok(&e, 20));
}

static void test_seek_segment_boundaries(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(4096);
	char errmsg[MA_ERRMSG_SIZE], path[512];
	struct wal_log *log = open_opts(dir, &o);
	struct wal_reader *r;
	struct wal_entry e;
	const uint64_t last = 500;
	int boundaries = 0;

	assert_int_equal(test_append_range(log, 1, last, 7, 20, errmsg), 0);
	r = reader(dir);
	assert_true(wal_reader_first_index(r) == 1);
	for (uint64_t f = 2; f <= last; f++) {
		test_seg_path(path, sizeof path, dir, f);
		if (access(path, F_OK) != 0)
			continue;
		boundaries++;
		assert_int_equal(wal_reader_seek(r, f, errmsg), 0);
		expect_next(r, f);
		assert_int_equal(wal_reader_seek(r, f - 1, errmsg), 0);
		expect_next(r, f - 1);
		expect_next(r, f); /* crosses into the next segment */
		assert_int_equal(wal_reader_seek(r, f + 1, errmsg), 0);
		expect_next(r, f + 1);
	}
	assert_true(boundaries >= 5);
	assert_int_equal(wal_reader_seek(r, 1, errmsg), 0);
	expect_next(r, 1);
	assert_int_equal(wal_reader_seek(r, last, errmsg), 0);
	expect_next(r, last);
	assert_int_equal(wal_reader_next(r, &e, errmsg), MA_ERR_AGAIN);
	assert_int_equal(wal_reader_seek(r, last + 1, errmsg), 0);
	assert_int_equal(wal_reader_next(r, &e, errmsg), MA_ERR_AGAIN);
	assert_int_equal(wal_reader_seek(r, last + 2, errmsg), MA_ERR_NOTFOUND);
	assert_int_equal(wal_reader_seek(r, 0, errmsg), 0);
	expect_next(r, 1);
	/* Before the first retained index. */
	assert_int_equal(wal_log_truncate_prefix(log, 250, errmsg), 0);
	assert_int_equal(wal_reader_refresh(r, errmsg), 0);
	uint64_t first = wal_log_first_index(log);
	assert_true(wal_reader_first_index(r) == first);
	assert_int_equal(wal_reader_seek(r, first - 1, errmsg),
	                 MA_ERR_COMPACTED);
	assert_non_null(strstr(errmsg, "first retained index"));
	assert_int_equal(wal_reader_seek(r, first, errmsg), 0);
	expect_next(r, first);
	wal_reader_close(r);
	wal_log_close(log);
}

static void test_prefix_truncation_compacts_reader(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(4096);
	char errmsg[MA_ERRMSG_SIZE], want[64];
	struct wal_log *log = open_opts(dir, &o);
	struct wal_reader *bound, *r;
	struct wal_entry e;
	uint64_t first;

	assert_int_equal(test_append_range(log, 1, 400, 7, 20, errmsg), 0);
	assert_int_equal(wal_log_reader_open(log, &bound, errmsg), 0);
	r = reader(dir);
	for (uint64_t i = 1; i <= 5; i++) {
		expect_next(bound, i);
		expect_next(r, i);
	}
	assert_int_equal(wal_log_truncate_prefix(log, 300, errmsg), 0);
	first = wal_log_first_index(log);
	assert_true(first > 6);
	/* The bound reader learns at once. */
	assert_int_equal(wal_reader_next(bound, &e, errmsg), MA_ERR_COMPACTED);
	snprintf(want, sizeof want, "first retained index is %" PRIu64, first);
	assert_non_null(strstr(errmsg, want));
	assert_true(wal_reader_first_index(bound) == first);
	/* Sticky until a seek. */
	assert_int_equal(wal_reader_next(bound, &e, errmsg), MA_ERR_COMPACTED);
	assert_int_equal(wal_reader_seek(bound, first, errmsg), 0);
	expect_next(bound, first);
	/* The other one at its refresh. */
	assert_int_equal(wal_reader_refresh(r, errmsg), 0);
	assert_int_equal(wal_reader_next(r, &e, errmsg), MA_ERR_COMPACTED);
	assert_non_null(strstr(errmsg, want));
	assert_true(wal_reader_first_index(r) == first);
	assert_int_equal(wal_reader_seek(r, 0, errmsg), 0);
	expect_next(r, first);
	wal_reader_close(r);
	wal_reader_close(bound);
	wal_log_close(log);
}

static void test_follow_in_process(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(4096);
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_reader *r = reader(dir); /* before anything exists */
	struct wal_log *log;
	struct wal_entry e;
	struct pollfd p;
	uint64_t next = 1;

	assert_int_equal(wal_reader_next(r, &e, errmsg), MA_ERR_AGAIN);
	log = open_opts(dir, &o);
	p.fd = wal_log_notify_fd(log, errmsg);
	p.events = POLLIN;
	for (uint64_t round = 0; round < 20; round++) {
		uint64_t to = next + 30;

		assert_int_equal(
		    test_append_range(log, (round * 31) + 1, to, 4, 20, errmsg),
		    0);
		assert_int_equal(poll(&p, 1, 1000), 1);
		wal_notify_drain(p.fd);
		assert_int_equal(wal_reader_refresh(r, errmsg), 0);
		while (wal_reader_next(r, &e, errmsg) == 0) {
			assert_true(e.index == next);
			assert_true(test_entry_ok(&e, 20));
			next++;
		}
		assert_true(next == to + 1);
	}
	wal_reader_close(r);
	wal_log_close(log);
}

static void test_partial_tail_is_not_corruption(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(1 << 20);
	char errmsg[MA_ERRMSG_SIZE], path[512];
	struct wal_log *log = open_opts(dir, &o);
	struct wal_reader *r;
	struct wal_entry e, ne = {.index = 11, .term = 5, .type = 1};
	uint8_t rec[256], payload[100];
	off_t size;
	int fd;

	assert_int_equal(test_append_range(log, 1, 10, 3, 20, errmsg), 0);
	wal_log_close(log);
	r = reader(dir);
	for (uint64_t i = 1; i <= 10; i++)
		expect_next(r, i);
	/* Another writer is midway through record 11. */
	memset(payload, 'p', sizeof payload);
	ne.data = payload;
	ne.len = sizeof payload;
	wal_rec_encode(&ne, rec);
	test_seg_path(path, sizeof path, dir, 1);
	size = test_file_size(path);
	fd = open(path, O_WRONLY);
	for (size_t cut = 1; cut < wal_rec_size(ne.len); cut += 13) {
		assert_int_equal(pwrite(fd, rec, cut, size), (ssize_t)cut);
		assert_int_equal(wal_reader_refresh(r, errmsg), 0);
		assert_int_equal(wal_reader_next(r, &e, errmsg), MA_ERR_AGAIN);
	}
	assert_int_equal(pwrite(fd, rec, wal_rec_size(ne.len), size),
	                 (ssize_t)wal_rec_size(ne.len));
	close(fd);
	assert_int_equal(wal_reader_refresh(r, errmsg), 0);
	assert_int_equal(wal_reader_next(r, &e, errmsg), 0);
	assert_true(e.index == 11 && e.term == 5 && e.len == 100);
	wal_reader_close(r);
}

/* A writer midway through an entry whose payload carries a CRC-valid
 * record image: the reader sees the header and part of the payload (the
 * image included) and must say "not yet" (MA_ERR_AGAIN), not corruption;
 * before, the image was taken for valid data after a bad spot. */
static void test_half_written_record_image_is_again(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(1 << 20);
	char errmsg[MA_ERRMSG_SIZE], path[512];
	struct wal_log *log = open_opts(dir, &o);
	struct wal_reader *r;
	struct wal_entry e, ne = {.index = 11, .term = 5, .type = 1};
	struct wal_entry img = {
	    .index = 12, .term = 5, .type = 1, .data = "fake", .len = 4};
	uint8_t rec[1024], payload[512];
	size_t full;
	off_t size;
	int fd;

	assert_int_equal(test_append_range(log, 1, 10, 3, 20, errmsg), 0);
	wal_log_close(log);
	r = reader(dir);
	for (uint64_t i = 1; i <= 10; i++)
		expect_next(r, i);
	memset(payload, 'p', sizeof payload);
	wal_rec_encode(&img, payload + 64);
	ne.data = payload;
	ne.len = sizeof payload;
	wal_rec_encode(&ne, rec);
	full = wal_rec_size(ne.len);
	test_seg_path(path, sizeof path, dir, 1);
	size = test_file_size(path);
	fd = open(path, O_WRONLY);
	for (size_t cut = WAL_REC_HEADER_SIZE + 64 + 40; cut < full; cut += 8) {
		assert_int_equal(pwrite(fd, rec, cut, size), (ssize_t)cut);
		assert_int_equal(wal_reader_refresh(r, errmsg), 0);
		assert_int_equal(wal_reader_next(r, &e, errmsg), MA_ERR_AGAIN);
	}
	assert_int_equal(pwrite(fd, rec, full, size), (ssize_t)full);
	close(fd);
	assert_int_equal(wal_reader_refresh(r, errmsg), 0);
	assert_int_equal(wal_reader_next(r, &e, errmsg), 0);
	assert_true(e.index == 11 && e.len == 512);
	assert_int_equal(wal_reader_next(r, &e, errmsg), MA_ERR_AGAIN);
	wal_reader_close(r);
	/* A fresh reader opening on the half-written state agrees. */
	fd = open(path, O_WRONLY);
	assert_int_equal(ftruncate(fd, size + (off_t)full - 16), 0);
	close(fd);
	assert_int_equal(wal_reader_open(dir, NULL, &r, errmsg), 0);
	assert_int_equal(wal_reader_seek(r, 11, errmsg), 0);
	assert_int_equal(wal_reader_next(r, &e, errmsg), MA_ERR_AGAIN);
	wal_reader_close(r);
}

static void test_reader_mid_log_corruption(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(1 << 20);
	char errmsg[MA_ERRMSG_SIZE], path[512];
	struct wal_log *log = open_opts(dir, &o);
	struct wal_reader *r = NULL;
	struct wal_identity other;

	assert_int_equal(test_append_range(log, 1, 10, 3, 20, errmsg), 0);
	wal_log_close(log);
	assert_int_equal(wal_identity_init(&other, TEST_UUID, "x", NULL), 0);
	assert_int_equal(wal_reader_open(dir, &other, &r, errmsg),
	                 MA_ERR_IDENTITY);
	test_seg_path(path, sizeof path, dir, 1);
	test_poke(path, WAL_SEG_HEADER_SIZE + 40, 1, 0, 1);
	assert_int_equal(wal_reader_open(dir, NULL, &r, errmsg),
	                 MA_ERR_CORRUPT);
	assert_non_null(strstr(errmsg, "offset 128:"));
}

static void test_reader_sees_suffix_truncation(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(4096);
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_log *log = open_opts(dir, &o);
	struct wal_reader *r = reader(dir);
	struct wal_entry e;

	assert_int_equal(test_append_range(log, 1, 300, 7, 20, errmsg), 0);
	assert_int_equal(wal_reader_refresh(r, errmsg), 0);
	for (uint64_t i = 1; i <= 290; i++)
		expect_next(r, i);
	assert_int_equal(wal_log_truncate_suffix(log, 100, errmsg), 0);
	assert_int_equal(wal_reader_refresh(r, errmsg), 0);
	assert_int_equal(wal_reader_next(r, &e, errmsg), MA_ERR_DIVERGED);
	assert_int_equal(wal_reader_seek(r, 100, errmsg), 0);
	expect_next(r, 100);
	assert_int_equal(wal_reader_next(r, &e, errmsg), MA_ERR_AGAIN);
	wal_reader_close(r);
	wal_log_close(log);
}

static void expect_entry(struct wal_reader *r, uint64_t index, size_t extra)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_entry e;
	int rc = wal_reader_next(r, &e, errmsg);

	if (rc != 0)
		fail_msg("next (want %" PRIu64 "): %s", index, errmsg);
	assert_true(e.index == index);
	assert_true(test_entry_ok(&e, extra));
}

/* The index cache of sealed segments (issue 9: a log request must not
 * rescan whole segments): a second reader seeking anywhere in sealed
 * segments reuses the first reader's index (hits, no new misses) and
 * reads the same entries; after a suffix truncation rewrote the segments
 * with other record sizes, no stale index is used (the entries read are
 * the new ones, every one checked). */
static void test_sealed_segment_index_cache(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(4096);
	char errmsg[MA_ERRMSG_SIZE], path[512];
	struct wal_log *log = open_opts(dir, &o);
	struct wal_reader *a, *b, *c;
	uint64_t h0, m0, h1, m1, firsts[64];
	size_t nseg = 0;
	const uint64_t last = 600;

	wal_reader_index_cache_clear();
	assert_int_equal(test_append_range(log, 1, last, 7, 20, errmsg), 0);
	for (uint64_t f = 1; f <= last && nseg < 64; f++) {
		test_seg_path(path, sizeof path, dir, f);
		if (access(path, F_OK) == 0)
			firsts[nseg++] = f;
	}
	assert_true(nseg >= 6);
	/* Reader a indexes every segment once: sealed ones are misses. */
	a = reader(dir);
	for (uint64_t i = 1; i <= last; i++)
		expect_entry(a, i, 20);
	wal_reader_index_cache_stats(&h0, &m0);
	assert_true(m0 == nseg - 1); /* every sealed segment, once */
	assert_true(h0 == 0);
	/* Reader b: its open, and a seek to the far end of every sealed
	 * segment, all from the cache. */
	b = reader(dir);
	for (size_t s = 0; s + 1 < nseg; s++) {
		uint64_t far = firsts[s + 1] - 1;

		assert_int_equal(wal_reader_seek(b, far, errmsg), 0);
		expect_entry(b, far, 20);
		expect_entry(b, far + 1, 20); /* into the next segment */
	}
	wal_reader_index_cache_stats(&h1, &m1);
	assert_true(m1 == m0);
	assert_true(h1 - h0 >= nseg - 1);
	wal_reader_close(b);
	/* Rewrite from 100 on with other record sizes: the sealed files of
	 * that range are truncated or replaced, so their cached indexes no
	 * longer match them. */
	assert_int_equal(wal_log_truncate_suffix(log, 99, errmsg), 0);
	assert_int_equal(test_append_range(log, 100, last, 5, 60, errmsg), 0);
	c = reader(dir);
	assert_int_equal(wal_reader_seek(c, 1, errmsg), 0);
	for (uint64_t i = 1; i < 100; i++)
		expect_entry(c, i, 20);
	for (uint64_t i = 100; i <= last; i++)
		expect_entry(c, i, 60);
	/* And at random places, by a fresh reader, from the cache now. */
	wal_reader_close(c);
	c = reader(dir);
	for (uint64_t i = last - 1; i >= 100; i -= 37) {
		assert_int_equal(wal_reader_seek(c, i, errmsg), 0);
		expect_entry(c, i, 60);
	}
	wal_reader_close(c);
	wal_reader_close(a);
	wal_log_close(log);
	wal_reader_index_cache_clear();
}

/* wal_reader_index_sealed (serve's start-up thread): it indexes every
 * sealed segment once (misses = sealed segments, the last one is not
 * cached), so that a fresh reader seeking to the far end of each sealed
 * segment scans none (hits only); a second run scans nothing; a stop
 * flag already set indexes nothing. */
static void test_index_sealed_warms_cache(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(4096);
	char errmsg[MA_ERRMSG_SIZE], path[512];
	struct wal_log *log = open_opts(dir, &o);
	struct wal_reader *w, *b;
	uint64_t h0, m0, h1, m1, firsts[64];
	size_t nseg = 0, segs = 99;
	const uint64_t last = 600;
	atomic_bool stop;

	assert_int_equal(test_append_range(log, 1, last, 7, 20, errmsg), 0);
	for (uint64_t f = 1; f <= last && nseg < 64; f++) {
		test_seg_path(path, sizeof path, dir, f);
		if (access(path, F_OK) == 0)
			firsts[nseg++] = f;
	}
	assert_true(nseg >= 6);
	atomic_init(&stop, true);
	w = reader(dir); /* its open indexes segment 1: counted from here */
	wal_reader_index_cache_clear();
	assert_int_equal(wal_reader_index_sealed(w, &stop, &segs, errmsg), 0);
	assert_int_equal(segs, 0);
	wal_reader_index_cache_stats(&h0, &m0);
	assert_int_equal(h0 + m0, 0);
	atomic_store(&stop, false);
	assert_int_equal(wal_reader_index_sealed(w, &stop, &segs, errmsg), 0);
	wal_reader_close(w);
	assert_int_equal(segs, nseg - 1);
	wal_reader_index_cache_stats(&h0, &m0);
	assert_int_equal(m0, nseg - 1);
	assert_int_equal(h0, 0);
	b = reader(dir);
	for (size_t s = 0; s + 1 < nseg; s++) {
		uint64_t far = firsts[s + 1] - 1;

		assert_int_equal(wal_reader_seek(b, far, errmsg), 0);
		expect_entry(b, far, 20);
	}
	wal_reader_close(b);
	wal_reader_index_cache_stats(&h1, &m1);
	assert_int_equal(m1, m0); /* no scan of a sealed segment */
	assert_true(h1 >= nseg - 1);
	w = reader(dir);
	assert_int_equal(wal_reader_index_sealed(w, NULL, &segs, errmsg), 0);
	wal_reader_close(w);
	assert_int_equal(segs, nseg - 1);
	wal_reader_index_cache_stats(&h0, &m0);
	assert_int_equal(m0, m1);
	assert_int_equal(h0 - h1, nseg); /* its open, then each sealed one */
	wal_log_close(log);
	wal_reader_index_cache_clear();
}

/* Child: writes n entries of ~1 KiB in batches, as a spool writer would. */
static int child_writer(const char *dir, uint64_t n)
{
	struct wal_options o = test_opts(256 * 1024);
	char errmsg[MA_ERRMSG_SIZE];
	static uint8_t big[50][1100];
	struct wal_entry e[50];
	struct wal_log *log = NULL;
	struct timespec ts = {0, 200000};

	if (wal_log_open(dir, &o, &log, errmsg) != 0)
		return 1;
	for (uint64_t i = 1; i <= n;) {
		size_t k = 0;

		for (; k < 50 && i <= n; k++, i++) {
			memset(big[k], (int)(i & 0xff), sizeof big[k]);
			snprintf((char *)big[k], 32, "entry-%" PRIu64, i);
			e[k].index = i;
			e[k].term = 1 + i / 1000;
			e[k].type = WAL_ENTRY_COMMAND;
			e[k].data = big[k];
			e[k].len = 1000 + i % 100;
		}
		if (wal_log_append(log, e, k, 0, errmsg) != 0)
			return 1;
		nanosleep(&ts, NULL);
	}
	wal_log_close(log);
	return 0;
}

static void test_cross_process_follow(void **state)
{
	const char *dir = *state;
	char errmsg[MA_ERRMSG_SIZE];
	const uint64_t n = 4000;
	struct wal_reader *r = reader(dir);
	struct wal_entry e;
	uint64_t next = 1;
	double deadline = clock_mono_s() + 20;
	int status, rc, waits = 0;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_writer(dir, n));
	while (next <= n && clock_mono_s() < deadline) {
		rc = wal_reader_next(r, &e, errmsg);
		if (rc == MA_ERR_AGAIN) {
			waits++;
			rc = wal_reader_wait(r, 100, errmsg);
			if (rc != 0)
				fail_msg("refresh: %s", errmsg);
			continue;
		}
		if (rc != 0)
			fail_msg("reader at %" PRIu64 ": %s", next, errmsg);
		assert_true(e.index == next);
		assert_true(e.len == 1000 + next % 100);
		assert_true(e.term == 1 + next / 1000);
		assert_true(((const uint8_t *)e.data)[999] ==
		            (uint8_t)(next & 0xff));
		next++;
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(next == n + 1);
	print_message("# cross-process follow: %d waits\n", waits);
	wal_reader_close(r);
}

int main(void)
{
#define T(f)                                                                   \
	cmocka_unit_test_setup_teardown(f, fx_scratch_setup,                   \
	                                fx_scratch_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_million_entries),
	    T(test_seek_segment_boundaries),
	    T(test_prefix_truncation_compacts_reader),
	    T(test_follow_in_process),
	    T(test_partial_tail_is_not_corruption),
	    T(test_half_written_record_image_is_again),
	    T(test_reader_mid_log_corruption),
	    T(test_reader_sees_suffix_truncation),
	    T(test_cross_process_follow),
	    T(test_sealed_segment_index_cache),
	    T(test_index_sealed_warms_cache),
	};
#undef T
	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
