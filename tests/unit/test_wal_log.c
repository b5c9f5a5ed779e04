/* wal_log: append, index continuity, group commit, fail-stop, truncation,
 * reset and same-process notification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <poll.h>

#include <cmocka.h>

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

static struct wal_entry entry(uint64_t index, uint64_t term, const char *s)
{
	struct wal_entry e = {.index = index,
	                      .term = term,
	                      .type = WAL_ENTRY_COMMAND,
	                      .data = s,
	                      .len = strlen(s)};
	return e;
}

static void test_append_read_term(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(1 << 20);
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_log *log = open_opts(dir, &o), *log2 = NULL;
	struct wal_entry e[3] = {entry(1, 1, "a"), entry(2, 1, ""),
	                         entry(3, 2, "ccc")},
	                 got;
	uint64_t term;

	assert_true(wal_log_first_index(log) == 0);
	assert_true(wal_log_last_index(log) == 0);
	assert_int_equal(wal_log_read(log, 1, &got, errmsg), MA_ERR_NOTFOUND);
	assert_int_equal(wal_log_append(log, e, 3, 0, errmsg), 0);
	assert_true(wal_log_last_index(log) == 3);
	assert_true(wal_log_durable_index(log) == 3);
	assert_int_equal(wal_log_read(log, 3, &got, errmsg), 0);
	assert_true(got.index == 3 && got.term == 2 && got.len == 3);
	assert_memory_equal(got.data, "ccc", 3);
	assert_int_equal(wal_log_read(log, 2, &got, errmsg), 0);
	assert_true(got.len == 0);
	assert_int_equal(wal_log_term_at(log, 1, &term, errmsg), 0);
	assert_true(term == 1);
	assert_int_equal(wal_log_term_at(log, 3, &term, errmsg), 0);
	assert_true(term == 2);
	assert_int_equal(wal_log_term_at(log, 4, &term, errmsg),
	                 MA_ERR_NOTFOUND);
	assert_int_equal(wal_log_term_at(log, 0, &term, errmsg),
	                 MA_ERR_NOTFOUND);
	/* One writer per directory. */
	assert_int_equal(wal_log_open(dir, &o, &log2, errmsg), MA_ERR_BUSY);
	wal_log_close(log);
	log = open_opts(dir, &o);
	assert_true(wal_log_last_index(log) == 3);
	assert_int_equal(wal_log_term_at(log, 2, &term, errmsg), 0);
	assert_true(term == 1);
	wal_log_close(log);
}

static void test_index_gap_refused(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(1 << 20);
	char errmsg[MA_ERRMSG_SIZE], big[64];
	struct wal_log *log = open_opts(dir, &o);
	struct wal_entry e[2];

	/* The first append of a fresh log may start anywhere. */
	e[0] = entry(1000, 3, "x");
	assert_int_equal(wal_log_append(log, e, 1, 0, errmsg), 0);
	assert_true(wal_log_first_index(log) == 1000);
	e[0] = entry(1002, 3, "gap");
	assert_int_equal(wal_log_append(log, e, 1, 0, errmsg), MA_ERR_OFFSET);
	assert_non_null(strstr(errmsg, "1002"));
	assert_non_null(strstr(errmsg, "expects 1001"));
	assert_non_null(strstr(errmsg, "gap"));
	e[0] = entry(1000, 3, "dup");
	assert_int_equal(wal_log_append(log, e, 1, 0, errmsg), MA_ERR_OFFSET);
	assert_non_null(strstr(errmsg, "overlap"));
	/* A gap inside a batch rejects the whole batch. */
	e[0] = entry(1001, 3, "ok");
	e[1] = entry(1003, 3, "gap");
	assert_int_equal(wal_log_append(log, e, 2, 0, errmsg), MA_ERR_OFFSET);
	assert_true(wal_log_last_index(log) == 1000);
	e[0] = entry(1001, 2, "old term");
	assert_int_equal(wal_log_append(log, e, 1, 0, errmsg), MA_ERR_INVAL);
	e[0] = entry(0, 3, "zero");
	assert_int_equal(wal_log_append(log, e, 1, 0, errmsg), MA_ERR_INVAL);
	assert_int_equal(wal_log_append(log, e, 0, 0, errmsg), MA_ERR_INVAL);
	wal_log_close(log);
	o.max_entry_size = 16;
	log = open_opts(dir, &o);
	memset(big, 'b', sizeof big);
	e[0] = entry(1001, 3, "x");
	e[0].data = big;
	e[0].len = sizeof big;
	assert_int_equal(wal_log_append(log, e, 1, 0, errmsg), MA_ERR_LIMIT);
	e[0].len = 16;
	assert_int_equal(wal_log_append(log, e, 1, 0, errmsg), 0);
	assert_true(wal_log_first_index(log) == 1000);
	assert_true(wal_log_last_index(log) == 1001);
	wal_log_close(log);
}

static void test_group_commit_bytes(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(1 << 20);
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_log *log;
	struct wal_entry e;

	o.sync_every_append = false;
	o.sync_bytes = 3 * wal_rec_size(8);
	log = open_opts(dir, &o);
	for (uint64_t i = 1; i <= 9; i++) {
		e = entry(i, 1, "12345678");
		assert_int_equal(wal_log_append(log, &e, 1, 0, errmsg), 0);
		assert_true(wal_log_durable_index(log) == i / 3 * 3);
		assert_false(wal_log_sync_due(log, 1000000));
		assert_true(wal_log_sync_deadline(log) == UINT64_MAX);
	}
	e = entry(10, 1, "1");
	assert_int_equal(wal_log_append(log, &e, 1, 0, errmsg), 0);
	assert_true(wal_log_durable_index(log) == 9);
	assert_int_equal(wal_log_sync(log, errmsg), 0);
	assert_true(wal_log_durable_index(log) == 10);
	wal_log_close(log);
}

static void test_group_commit_interval(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(1 << 20);
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_log *log;
	struct wal_entry e;

	o.sync_every_append = false;
	o.sync_interval_ms = 10;
	log = open_opts(dir, &o);
	assert_false(wal_log_sync_due(log, 0));
	e = entry(1, 1, "a");
	assert_int_equal(wal_log_append(log, &e, 1, 100, errmsg), 0);
	assert_true(wal_log_durable_index(log) == 0);
	assert_true(wal_log_sync_deadline(log) == 110);
	assert_false(wal_log_sync_due(log, 109));
	e = entry(2, 1, "b");
	assert_int_equal(wal_log_append(log, &e, 1, 105, errmsg), 0);
	assert_true(wal_log_durable_index(log) == 0);
	assert_true(wal_log_sync_deadline(log) == 110);
	e = entry(3, 1, "c");
	assert_int_equal(wal_log_append(log, &e, 1, 110, errmsg), 0);
	assert_true(wal_log_durable_index(log) == 3);
	assert_true(wal_log_sync_deadline(log) == UINT64_MAX);
	/* Idle log: the caller's timer syncs when due. */
	e = entry(4, 1, "d");
	assert_int_equal(wal_log_append(log, &e, 1, 200, errmsg), 0);
	assert_false(wal_log_sync_due(log, 209));
	assert_true(wal_log_durable_index(log) == 3);
	assert_true(wal_log_sync_due(log, 210));
	assert_int_equal(wal_log_sync(log, errmsg), 0);
	assert_true(wal_log_durable_index(log) == 4);
	assert_false(wal_log_sync_due(log, 1000));
	wal_log_close(log);
}

static struct wal_options budget_opts(struct fx_disk *d, unsigned pct,
                                      uint64_t interval_ms)
{
	struct wal_options o = test_opts(1 << 20);

	o.sync_every_append = false;
	o.sync_interval_ms = interval_ms;
	o.sync_budget_pct = pct;
	o.clock_us = fx_disk_clock;
	o.clock_arg = d;
	return o;
}

/* Drives a stream of one batch per ms for ms milliseconds, as follow.c
 * would: the batch is appended (synced on arrival when due), and the
 * timer syncs at the deadline; a sync blocks the loop for the disk's
 * time (nothing arrives meanwhile: it is queued for the next batch).
 * Returns the worst wait from an append to durable, in ms. */
static uint64_t drive(struct wal_log *log, struct fx_disk *d, uint64_t ms)
{
	char errmsg[MA_ERRMSG_SIZE];
	uint64_t worst = 0, waiting_since = UINT64_MAX;
	uint64_t end = d->now_ms + ms;

	while (d->now_ms < end) {
		uint64_t syncs = wal_log_syncs(log);
		uint64_t last = wal_log_last_index(log);
		struct wal_entry e = entry(last + 1, 1, "0123456789abcdef");

		assert_int_equal(wal_log_append(log, &e, 1, d->now_ms, errmsg),
		                 0);
		if (waiting_since == UINT64_MAX)
			waiting_since = d->now_ms;
		if (wal_log_sync_deadline(log) <= d->now_ms)
			assert_int_equal(wal_log_commit(log, d->now_ms, errmsg),
			                 1);
		if (wal_log_syncs(log) > syncs) {
			/* Durable when the sync ended. */
			uint64_t done = d->now_ms + d->sync_us / 1000;

			assert_true(wal_log_durable_index(log) == last + 1);
			if (done - waiting_since > worst)
				worst = done - waiting_since;
			waiting_since = UINT64_MAX;
			/* What queued meanwhile arrives when it ends. */
			d->now_ms = done > d->now_ms ? done : d->now_ms + 1;
			continue;
		}
		d->now_ms++;
	}
	return worst;
}

/* Fast disk (0.2 ms syncs): the gap is the 1 ms floor, so a batch a
 * millisecond is committed on arrival, every one; two in the same
 * millisecond are grouped. */
static void test_budget_fast_disk(void **state)
{
	const char *dir = *state;
	struct fx_disk d = {.now_ms = 5000, .sync_us = 200};
	struct wal_options o = budget_opts(&d, 25, 100);
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_log *log = open_opts(dir, &o);
	struct wal_entry e;

	assert_int_equal(drive(log, &d, 1000), 0);
	assert_true(wal_log_syncs(log) == 1000);
	assert_true(wal_log_durable_index(log) == 1000);
	assert_true(wal_log_sync_time_us(log) == 200);
	assert_true(wal_log_sync_total_us(log) == 200000);
	/* The last sync ended at 5999.2 ms: due again at 6000. */
	e = entry(1001, 1, "x");
	assert_int_equal(wal_log_append(log, &e, 1, 5999, errmsg), 0);
	assert_true(wal_log_durable_index(log) == 1000);
	assert_true(wal_log_sync_deadline(log) == 6000);
	assert_false(wal_log_sync_due(log, 5999));
	assert_int_equal(wal_log_commit(log, 5999, errmsg), 0);
	d.now_ms = 6000;
	assert_int_equal(wal_log_commit(log, 6000, errmsg), 1);
	assert_true(wal_log_durable_index(log) == 1001);
	wal_log_close(log);
}

/* Slow disk (20 ms syncs): after each sync the log waits 3 x 20 ms, so
 * it spends 20 of every 80 ms in fdatasync: 13 syncs in a second (the
 * first on arrival) instead of one per batch, and a batch waits at most
 * 80 ms. The interval stays the upper bound: with 50 ms a batch waits
 * at most 50 ms + the sync. */
static void test_budget_slow_disk(void **state)
{
	const char *dir = *state;
	struct fx_disk d = {.now_ms = 5000, .sync_us = 20000};
	struct wal_options o = budget_opts(&d, 25, 100);
	struct wal_log *log = open_opts(dir, &o);
	char sub[512];

	/* Syncs start at 5000, 5080, ..., 5960. */
	assert_int_equal(drive(log, &d, 1000), 80);
	assert_true(wal_log_syncs(log) == 13);
	assert_true(wal_log_sync_total_us(log) == 13 * 20000);
	assert_true(wal_log_sync_time_us(log) == 20000);
	wal_log_close(log);

	d = (struct fx_disk){.now_ms = 5000, .sync_us = 20000};
	o = budget_opts(&d, 25, 50);
	snprintf(sub, sizeof sub, "%s/capped", dir);
	log = open_opts(sub, &o);
	/* The first batch waiting after a sync arrives when it ends (t+20)
	 * and is due 50 ms later: syncs at 5000, 5070, ..., 5980. */
	assert_int_equal(drive(log, &d, 1000), 70);
	assert_true(wal_log_syncs(log) == 15);
	wal_log_close(log);
}

/* The average follows the disk: weight 1/8 for each new duration; the
 * budget's share sets the gap (100 %: the floor only); a budget above
 * 100 is refused. */
static void test_budget_moving_average(void **state)
{
	const char *dir = *state;
	struct fx_disk d = {.now_ms = 5000, .sync_us = 20000};
	struct wal_options o = budget_opts(&d, 50, 1000);
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_log *log = open_opts(dir, &o);
	struct wal_entry e = entry(1, 1, "a");
	char sub[512];

	assert_int_equal(wal_log_append(log, &e, 1, 5000, errmsg), 0);
	assert_true(wal_log_sync_time_us(log) == 20000);
	/* 50 %: a gap of one sync time after the end at 5020. */
	e = entry(2, 1, "b");
	assert_int_equal(wal_log_append(log, &e, 1, 5020, errmsg), 0);
	assert_true(wal_log_sync_deadline(log) == 5040);
	d.now_ms = 5040;
	d.sync_us = 200;
	assert_int_equal(wal_log_commit(log, 5040, errmsg), 1);
	/* 20000 - (20000 - 200) / 8 */
	assert_true(wal_log_sync_time_us(log) == 17525);
	e = entry(3, 1, "c");
	assert_int_equal(wal_log_append(log, &e, 1, 5041, errmsg), 0);
	/* Ended at 5040.2 ms, gap 17.525 ms: due at 5057.725, i.e. 5057. */
	assert_true(wal_log_sync_deadline(log) == 5057);
	wal_log_close(log);

	o = budget_opts(&d, 101, 1000);
	assert_int_equal(wal_log_open(dir, &o, &log, errmsg), MA_ERR_INVAL);
	assert_non_null(strstr(errmsg, "sync_budget_pct 101 outside 0..100"));
	o = budget_opts(&d, 100, 1000);
	d.sync_us = 20000;
	snprintf(sub, sizeof sub, "%s/full", dir);
	log = open_opts(sub, &o);
	e = entry(1, 1, "d");
	d.now_ms = 6000;
	assert_int_equal(wal_log_append(log, &e, 1, 6000, errmsg), 0);
	assert_true(wal_log_durable_index(log) == 1);
	/* Only the 1 ms floor after the end at 6020. */
	e = entry(2, 1, "e");
	assert_int_equal(wal_log_append(log, &e, 1, 6020, errmsg), 0);
	assert_true(wal_log_sync_deadline(log) == 6021);
	wal_log_close(log);
}

/* Without a clock durations count as 0 and a sync is stamped at the last
 * now_ms seen: the floor alone spaces syncs. */
static void test_budget_without_clock(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(1 << 20);
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_log *log;
	struct wal_entry e;

	o.sync_every_append = false;
	o.sync_interval_ms = 100;
	o.sync_budget_pct = 25;
	log = open_opts(dir, &o);
	e = entry(1, 1, "a");
	assert_int_equal(wal_log_append(log, &e, 1, 300, errmsg), 0);
	assert_true(wal_log_durable_index(log) == 1);
	e = entry(2, 1, "b");
	assert_int_equal(wal_log_append(log, &e, 1, 300, errmsg), 0);
	assert_true(wal_log_durable_index(log) == 1);
	assert_true(wal_log_sync_deadline(log) == 301);
	assert_int_equal(wal_log_commit(log, 301, errmsg), 1);
	assert_true(wal_log_durable_index(log) == 2);
	assert_true(wal_log_sync_time_us(log) == 0);
	assert_true(wal_log_syncs(log) == 2);
	wal_log_close(log);
}

static void test_write_failure_fail_stop(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(1 << 20);
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_log *log = open_opts(dir, &o);
	struct wal_entry e;

	assert_int_equal(test_append_range(log, 1, 5, 1, 0, errmsg), 0);
	io_fault_set(IO_FAULT_WRITE, 1, 1, ENOSPC);
	e = entry(6, 1, "x");
	assert_int_equal(wal_log_append(log, &e, 1, 0, errmsg), MA_ERR_NOSPACE);
	assert_non_null(strstr(errmsg, "wal-00000000000000000001.seg"));
	assert_true(wal_log_failed(log));
	assert_true(wal_log_durable_index(log) == 5);
	assert_true(wal_log_last_index(log) == 5);
	/* The fault is gone, but the log stays stopped. */
	assert_int_equal(wal_log_append(log, &e, 1, 0, errmsg), MA_ERR_FAILED);
	assert_int_equal(wal_log_sync(log, errmsg), MA_ERR_FAILED);
	assert_int_equal(wal_log_truncate_suffix(log, 3, errmsg),
	                 MA_ERR_FAILED);
	assert_int_equal(wal_log_truncate_prefix(log, 3, errmsg),
	                 MA_ERR_FAILED);
	assert_int_equal(wal_log_reset(log, 3, errmsg), MA_ERR_FAILED);
	assert_true(wal_log_durable_index(log) == 5);
	wal_log_close(log);
	log = open_opts(dir, &o);
	assert_true(wal_log_last_index(log) == 5);
	wal_log_close(log);
}

static void test_fsync_failure_fail_stop(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(1 << 20);
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_log *log;
	struct wal_entry e;

	o.sync_every_append = false;
	log = open_opts(dir, &o);
	assert_int_equal(test_append_range(log, 1, 5, 1, 0, errmsg), 0);
	assert_int_equal(wal_log_sync(log, errmsg), 0);
	assert_true(wal_log_durable_index(log) == 5);
	e = entry(6, 1, "x");
	assert_int_equal(wal_log_append(log, &e, 1, 0, errmsg), 0);
	io_fault_set(IO_FAULT_FSYNC, 1, 1, EIO);
	assert_int_equal(wal_log_sync(log, errmsg), MA_ERR_IO);
	assert_non_null(strstr(errmsg, "fail-stop"));
	assert_true(wal_log_durable_index(log) == 5);
	/* Never retried and trusted: the next sync refuses. */
	assert_int_equal(wal_log_sync(log, errmsg), MA_ERR_FAILED);
	assert_true(wal_log_durable_index(log) == 5);
	e = entry(7, 1, "y");
	assert_int_equal(wal_log_append(log, &e, 1, 0, errmsg), MA_ERR_FAILED);
	assert_false(wal_log_sync_due(log, UINT64_MAX));
	wal_log_close(log);
}

/* After a failed fdatasync the records past the durable index may only be
 * in the page cache (the kernel marks the failed pages clean): a restart
 * must not take them for durable because its own fsync, through a new
 * descriptor, succeeds. The fail-stop records the durable index
 * (wal.durable, failed) and the next open cuts the log back to it. Before,
 * the restart reported 8 entries durable. */
static void test_fsync_failure_survives_restart(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(1 << 20);
	char errmsg[MA_ERRMSG_SIZE], path[512];
	struct wal_log *log;
	struct wal_entry e[3] = {entry(6, 1, "x"), entry(7, 1, "y"),
	                         entry(8, 1, "z")};

	o.sync_every_append = false;
	log = open_opts(dir, &o);
	assert_int_equal(test_append_range(log, 1, 5, 1, 0, errmsg), 0);
	assert_int_equal(wal_log_sync(log, errmsg), 0);
	assert_int_equal(wal_log_append(log, e, 3, 0, errmsg), 0);
	io_fault_set(IO_FAULT_FSYNC, 1, 1, EIO);
	assert_int_equal(wal_log_sync(log, errmsg), MA_ERR_IO);
	io_fault_clear();
	/* The records are readable (page cache) but not durable. */
	assert_int_equal(wal_log_last_index(log), 8);
	assert_int_equal(wal_log_durable_index(log), 5);
	snprintf(path, sizeof path, "%s/wal.durable", dir);
	assert_int_equal(access(path, F_OK), 0);
	wal_log_close(log);

	log = open_opts(dir, &o);
	assert_int_equal(wal_log_last_index(log), 5);
	assert_int_equal(wal_log_durable_index(log), 5);
	/* The log goes on from there, and a later restart keeps it. */
	assert_int_equal(wal_log_append(log, e, 1, 0, errmsg), 0);
	assert_int_equal(wal_log_sync(log, errmsg), 0);
	wal_log_close(log);
	log = open_opts(dir, &o);
	assert_int_equal(wal_log_last_index(log), 6);
	wal_log_close(log);
}

/* A clean close records what is durable: a damaged last record is then
 * corruption, refused with nothing modified, not a torn tail dropped
 * silently (FORMAT.md 1.5/1.6). Truncations lower the mark first, so
 * what they remove is never held against the log. */
static void test_damaged_durable_tail_refused(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(1 << 20);
	char errmsg[MA_ERRMSG_SIZE], path[512];
	struct wal_log *log;
	off_t size;

	log = open_opts(dir, &o);
	assert_int_equal(test_append_range(log, 1, 10, 1, 0, errmsg), 0);
	assert_int_equal(wal_log_truncate_suffix(log, 8, errmsg), 0);
	wal_log_close(log);
	log = open_opts(dir, &o);
	assert_int_equal(wal_log_last_index(log), 8);
	assert_int_equal(wal_log_reset(log, 3, errmsg), 0);
	assert_int_equal(test_append_range(log, 3, 9, 1, 0, errmsg), 0);
	wal_log_close(log);
	test_seg_path(path, sizeof path, dir, 3);
	size = test_file_size(path);
	test_poke(path, size - 9, 1, 0, 1); /* last record's payload */
	assert_int_equal(wal_log_open(dir, &o, &log, errmsg), MA_ERR_CORRUPT);
	assert_non_null(strstr(errmsg, "entries up to 9 were durable"));
	assert_non_null(strstr(errmsg, "valid log ends at 8"));
	assert_non_null(strstr(errmsg, "CRC32C mismatch"));
	assert_true(test_file_size(path) == size); /* nothing cut */
	test_poke(path, size - 9, 1, 0, 1);        /* flip it back */
	log = open_opts(dir, &o);
	assert_int_equal(wal_log_last_index(log), 9);
	wal_log_close(log);
}

static void test_fsync_failure_on_roll(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(4096);
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_log *log;
	uint64_t durable;
	int rc = 0;
	uint64_t i;

	o.sync_every_append = false;
	log = open_opts(dir, &o);
	assert_int_equal(test_append_range(log, 1, 10, 1, 0, errmsg), 0);
	assert_int_equal(wal_log_sync(log, errmsg), 0);
	durable = wal_log_durable_index(log);
	io_fault_set(IO_FAULT_FSYNC, 1, -1, EIO);
	for (i = 11; i < 1000 && rc == 0; i++)
		rc = test_append_range(log, i, i, 1, 0, errmsg);
	assert_int_equal(rc, MA_ERR_IO);
	assert_true(wal_log_durable_index(log) == durable);
	assert_true(wal_log_failed(log));
	wal_log_close(log);
	io_fault_clear();
}

static void test_suffix_truncate_then_append(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(4096);
	char errmsg[MA_ERRMSG_SIZE], path[512];
	struct wal_log *log = open_opts(dir, &o);
	struct wal_entry e, got;
	uint64_t term, seg2 = 0;

	assert_int_equal(test_append_range(log, 1, 300, 7, 20, errmsg), 0);
	assert_int_equal(wal_log_truncate_suffix(log, 301, errmsg),
	                 MA_ERR_INVAL);
	assert_int_equal(wal_log_truncate_suffix(log, 150, errmsg), 0);
	assert_true(wal_log_last_index(log) == 150);
	assert_true(wal_log_durable_index(log) == 150);
	assert_int_equal(wal_log_read(log, 151, &got, errmsg), MA_ERR_NOTFOUND);
	assert_int_equal(wal_log_term_at(log, 150, &term, errmsg), 0);
	assert_true(term == test_term(150));
	e = entry(152, 9, "gap");
	assert_int_equal(wal_log_append(log, &e, 1, 0, errmsg), MA_ERR_OFFSET);
	e = entry(151, 9, "new-151");
	assert_int_equal(wal_log_append(log, &e, 1, 0, errmsg), 0);
	assert_int_equal(wal_log_read(log, 151, &got, errmsg), 0);
	assert_true(got.term == 9 && got.len == 7);
	for (uint64_t i = 1; i <= 150; i++) {
		assert_int_equal(wal_log_read(log, i, &got, errmsg), 0);
		assert_true(test_entry_ok(&got, 20));
	}
	wal_log_close(log);
	log = open_opts(dir, &o);
	assert_true(wal_log_last_index(log) == 151);
	assert_int_equal(wal_log_read(log, 151, &got, errmsg), 0);
	assert_memory_equal(got.data, "new-151", 7);
	/* Truncating exactly at a segment boundary removes that segment. */
	for (uint64_t i = 2; i <= 151 && seg2 == 0; i++) {
		test_seg_path(path, sizeof path, dir, i);
		if (access(path, F_OK) == 0)
			seg2 = i;
	}
	assert_true(seg2 > 1);
	assert_int_equal(wal_log_truncate_suffix(log, seg2 - 1, errmsg), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_true(wal_log_last_index(log) == seg2 - 1);
	assert_int_equal(test_append_range(log, seg2, seg2 + 50, 5, 20, errmsg),
	                 0);
	/* Everything: the log is empty but keeps its base index. */
	assert_int_equal(wal_log_truncate_suffix(log, 0, errmsg), 0);
	assert_true(wal_log_first_index(log) == 1);
	assert_true(wal_log_last_index(log) == 0);
	e = entry(2, 1, "x");
	assert_int_equal(wal_log_append(log, &e, 1, 0, errmsg), MA_ERR_OFFSET);
	e = entry(1, 1, "x");
	assert_int_equal(wal_log_append(log, &e, 1, 0, errmsg), 0);
	wal_log_close(log);
}

static void test_prefix_truncate(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(4096);
	char errmsg[MA_ERRMSG_SIZE], path[512];
	struct wal_log *log = open_opts(dir, &o);
	struct wal_entry got;
	uint64_t first, term;

	assert_int_equal(test_append_range(log, 1, 400, 9, 20, errmsg), 0);
	assert_int_equal(wal_log_truncate_prefix(log, 200, errmsg), 0);
	first = wal_log_first_index(log);
	assert_true(first > 1 && first <= 200);
	assert_int_equal(wal_log_read(log, first - 1, &got, errmsg),
	                 MA_ERR_COMPACTED);
	assert_non_null(strstr(errmsg, "first retained index"));
	assert_int_equal(wal_log_term_at(log, 1, &term, errmsg),
	                 MA_ERR_COMPACTED);
	test_seg_path(path, sizeof path, dir, 1);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(wal_log_read(log, first, &got, errmsg), 0);
	assert_true(test_entry_ok(&got, 20));
	assert_int_equal(wal_log_truncate_suffix(log, first - 2, errmsg),
	                 MA_ERR_COMPACTED);
	/* Far past the end: all sealed segments go, the last one stays. */
	assert_int_equal(wal_log_truncate_prefix(log, 10000, errmsg), 0);
	assert_true(wal_log_first_index(log) <= 400);
	assert_true(wal_log_last_index(log) == 400);
	first = wal_log_first_index(log);
	wal_log_close(log);
	log = open_opts(dir, &o);
	assert_true(wal_log_first_index(log) == first);
	assert_true(wal_log_last_index(log) == 400);
	wal_log_close(log);
}

static void test_reset(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(4096);
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_log *log = open_opts(dir, &o);
	struct wal_entry e;

	assert_int_equal(test_append_range(log, 1, 200, 9, 20, errmsg), 0);
	assert_int_equal(wal_log_reset(log, 5000, errmsg), 0);
	assert_true(wal_log_first_index(log) == 5000);
	assert_true(wal_log_last_index(log) == 4999);
	assert_true(wal_log_durable_index(log) == 4999);
	wal_log_close(log);
	log = open_opts(dir, &o);
	assert_true(wal_log_first_index(log) == 5000);
	assert_true(wal_log_last_index(log) == 4999);
	e = entry(5001, 1, "x");
	assert_int_equal(wal_log_append(log, &e, 1, 0, errmsg), MA_ERR_OFFSET);
	e = entry(5000, 1, "x");
	assert_int_equal(wal_log_append(log, &e, 1, 0, errmsg), 0);
	/* Reset onto an index whose segment name already exists. */
	assert_int_equal(wal_log_reset(log, 5000, errmsg), 0);
	assert_true(wal_log_last_index(log) == 4999);
	wal_log_close(log);
}

struct seen {
	int calls;
	uint64_t last, durable;
};

static void on_notify(void *arg, uint64_t last, uint64_t durable)
{
	struct seen *s = arg;

	s->calls++;
	s->last = last;
	s->durable = durable;
}

static void test_notify_eventfd_and_callback(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(1 << 20);
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_log *log;
	struct seen seen = {0};
	struct pollfd p;
	int fd;

	o.sync_every_append = false;
	log = open_opts(dir, &o);
	fd = wal_log_notify_fd(log, errmsg);
	assert_true(fd >= 0);
	assert_int_equal(wal_log_notify_fd(log, errmsg), fd);
	wal_log_set_notify(log, on_notify, &seen);
	p.fd = fd;
	p.events = POLLIN;
	assert_int_equal(poll(&p, 1, 0), 0);
	assert_int_equal(test_append_range(log, 1, 3, 3, 0, errmsg), 0);
	assert_int_equal(poll(&p, 1, 0), 1);
	assert_int_equal(seen.calls, 1);
	assert_true(seen.last == 3 && seen.durable == 0);
	wal_notify_drain(fd);
	assert_int_equal(poll(&p, 1, 0), 0);
	assert_int_equal(wal_log_sync(log, errmsg), 0);
	assert_int_equal(seen.calls, 2);
	assert_true(seen.durable == 3);
	assert_int_equal(poll(&p, 1, 0), 1);
	wal_log_close(log);
}

int main(void)
{
#define T(f)                                                                   \
	cmocka_unit_test_setup_teardown(f, fx_scratch_setup,                   \
	                                fx_scratch_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_append_read_term),
	    T(test_index_gap_refused),
	    T(test_group_commit_bytes),
	    T(test_group_commit_interval),
	    T(test_budget_fast_disk),
	    T(test_budget_slow_disk),
	    T(test_budget_moving_average),
	    T(test_budget_without_clock),
	    T(test_write_failure_fail_stop),
	    T(test_fsync_failure_fail_stop),
	    T(test_fsync_failure_survives_restart),
	    T(test_damaged_durable_tail_refused),
	    T(test_fsync_failure_on_roll),
	    T(test_suffix_truncate_then_append),
	    T(test_prefix_truncate),
	    T(test_reset),
	    T(test_notify_eventfd_and_callback),
	};
#undef T
	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
