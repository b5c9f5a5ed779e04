/* agent/cmd_wal.c: `wal verify` and `wal dump` output and exit codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "agent/cli/commands.h"
#include "common/io.h"
#include "common/log.h"
#include "wal/wal_format.h"
#include "wal_test_util.h"

/* Runs cmd_wal with args, capturing stdout and stderr into out/err. */
static int run(char *out, size_t out_size, char *err, size_t err_size, int argc,
               char **argv)
{
	char path[64];
	int saved_out, saved_err, fd_out, fd_err, rc;
	ssize_t n;

	fflush(stdout);
	fflush(stderr);
	snprintf(path, sizeof path, "/tmp/ma-test-wal-cmd-out.%d", getpid());
	fd_out = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	unlink(path);
	snprintf(path, sizeof path, "/tmp/ma-test-wal-cmd-err.%d", getpid());
	fd_err = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	unlink(path);
	assert_true(fd_out >= 0 && fd_err >= 0);
	saved_out = dup(1);
	saved_err = dup(2);
	dup2(fd_out, 1);
	dup2(fd_err, 2);
	rc = cmd_wal(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	n = pread(fd_out, out, out_size - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	n = pread(fd_err, err, err_size - 1, 0);
	err[n > 0 ? n : 0] = '\0';
	close(fd_out);
	close(fd_err);
	return rc;
}

static char out[1 << 16], err[4096];

/* cmd_wal takes char **; string literals are const here. */
static int run_args(int argc, const char *const *args)
{
	char *argv[16];
	int rc;

	assert_true(argc <= 16);
	for (int i = 0; i < argc; i++)
		argv[i] = strdup(args[i]);
	rc = run(out, sizeof out, err, sizeof err, argc, argv);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return rc;
}

static void make_log(const char *dir, uint64_t n)
{
	struct wal_options o = test_opts(4096);
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_log *log = NULL;

	assert_int_equal(wal_log_open(dir, &o, &log, errmsg), 0);
	assert_int_equal(test_append_range(log, 1, n, 5, 20, errmsg), 0);
	wal_log_close(log);
}

static void test_verify_ok_and_torn(void **state)
{
	char *dir = *state, path[512], mark[512];
	const char *argv[] = {"wal", "verify", dir};
	off_t size;

	make_log(dir, 200);
	assert_int_equal(run_args(3, argv), 0);
	assert_non_null(strstr(out, "segment wal-00000000000000000001.seg "
	                            "first_index=1 entries="));
	assert_non_null(strstr(out, "entries 200\n"));
	assert_non_null(strstr(out, "first_index 1\nlast_index 200\n"));
	assert_non_null(strstr(out, "database=" TEST_DB));
	assert_non_null(strstr(out, "\nOK\n"));
	/* Torn tail: reported, left alone, still OK. */
	for (uint64_t f = 200; f > 1; f--) {
		test_seg_path(path, sizeof path, dir, f);
		if (access(path, F_OK) == 0)
			break;
	}
	size = test_file_size(path);
	assert_int_equal(truncate(path, size - 3), 0);
	/* After a clean close the last record was durable: not a torn
	 * tail but a damaged record. */
	assert_int_equal(run_args(3, argv), 1);
	assert_non_null(strstr(err, "entries up to 200 were durable"));
	assert_non_null(strstr(out, "FAILED"));
	/* After a crash (no fresh mark) it may be torn. */
	snprintf(mark, sizeof mark, "%s/wal.durable", dir);
	assert_int_equal(unlink(mark), 0);
	assert_int_equal(run_args(3, argv), 0);
	assert_non_null(strstr(out, "torn tail"));
	assert_non_null(strstr(out, "entries 199\n"));
	assert_non_null(strstr(out, "\nOK\n"));
	assert_true(test_file_size(path) == size - 3);
}

static void test_verify_corrupt(void **state)
{
	char *dir = *state, path[512];
	const char *argv[] = {"wal", "verify", dir};

	make_log(dir, 20);
	test_seg_path(path, sizeof path, dir, 1);
	test_poke(path, WAL_SEG_HEADER_SIZE + 3 * 8 + 40, 1, 0, 1);
	assert_int_equal(run_args(3, argv), 1);
	assert_non_null(strstr(err, "wal-00000000000000000001.seg offset "));
	assert_null(strstr(out, "OK"));
	const char *dump[] = {"wal", "dump", dir};
	assert_int_equal(run_args(3, dump), 1);
	assert_non_null(strstr(err, "offset"));
}

static void test_write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Path of the n-th segment (1-based) of dir in index order. */
static void nth_seg(char *path, size_t size, const char *dir, int nth)
{
	for (uint64_t f = 1; f < 100000; f++) {
		test_seg_path(path, size, dir, f);
		if (access(path, F_OK) == 0 && --nth == 0)
			return;
	}
	fail_msg("no segment %d in %s", nth, dir);
}

/* A segment deleted from the middle: FAILED, naming the segment before
 * the hole and the one after it. */
static void test_verify_missing_middle_segment(void **state)
{
	char *dir = *state, second[512], third[512];
	const char *argv[] = {"wal", "verify", dir};

	make_log(dir, 300);
	nth_seg(second, sizeof second, dir, 2);
	nth_seg(third, sizeof third, dir, 3);
	assert_int_equal(unlink(second), 0);
	assert_int_equal(run_args(3, argv), 1);
	assert_non_null(strstr(err, "wal-00000000000000000001.seg offset "));
	assert_non_null(strstr(err, strrchr(third, '/') + 1));
	assert_non_null(strstr(err, "entries are missing"));
	assert_non_null(strstr(out, "FAILED"));
}

/* The wal of a spool or mirror (an identity file beside it) must start
 * where its latest snapshot ends: a deleted first segment leaves every
 * file well-formed and contiguous, and only this shows the hole. */
static void test_verify_hole_after_snapshot(void **state)
{
	char *dir = *state, wal[512], path[600], first[512], second[512];
	const char *argv[] = {"wal", "verify", wal};
	uint64_t second_index;

	snprintf(wal, sizeof wal, "%s/wal", dir);
	make_log(wal, 300);
	nth_seg(first, sizeof first, wal, 1);
	nth_seg(second, sizeof second, wal, 2);
	assert_true(sscanf(strrchr(second, '/') + 1, "wal-%" SCNu64 ".seg",
	                   &second_index) == 1);
	/* A bare wal directory: nothing to compare with. */
	assert_int_equal(unlink(first), 0);
	assert_int_equal(run_args(3, argv), 0);
	/* In a spool without snapshots: must start at 1. */
	snprintf(path, sizeof path, "%s/identity", dir);
	test_write_file(path, "x", 1);
	assert_int_equal(run_args(3, argv), 1);
	assert_non_null(strstr(err, strrchr(second, '/') + 1));
	assert_non_null(strstr(err, "no snapshot: entries 1.."));
	/* With snapshot 2-1 (committed: .snapshot and .meta). */
	snprintf(path, sizeof path, "%s/snapshots", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof path, "%s/snapshots/2-1.snapshot", dir);
	test_write_file(path, "x", 1);
	snprintf(path, sizeof path, "%s/snapshots/2-1.meta", dir);
	test_write_file(path, "x", 1);
	/* An uncommitted later one (no .meta) does not count. */
	snprintf(path, sizeof path, "%s/snapshots/%" PRIu64 "-1.snapshot", dir,
	         second_index);
	test_write_file(path, "x", 1);
	assert_int_equal(run_args(3, argv), 1);
	assert_non_null(strstr(err, strrchr(second, '/') + 1));
	assert_non_null(strstr(err, "the latest snapshot 2-1.snapshot ends at "
	                            "index 2: entries 3.."));
	assert_non_null(strstr(out, "FAILED"));
	/* Once the snapshot covers what is missing: OK. */
	snprintf(path, sizeof path, "%s/snapshots/%" PRIu64 "-1.meta", dir,
	         second_index - 1);
	test_write_file(path, "x", 1);
	snprintf(path, sizeof path, "%s/snapshots/%" PRIu64 "-1.snapshot", dir,
	         second_index - 1);
	test_write_file(path, "x", 1);
	assert_int_equal(run_args(3, argv), 0);
	assert_non_null(strstr(out, "\nOK\n"));
}

static void test_dump(void **state)
{
	char *dir = *state;
	const char *argv[] = {"wal", "dump",    dir, "--from",
	                      "7",   "--count", "2"};
	struct wal_options o = test_opts(4096);
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_log *log = NULL;
	struct wal_entry e = {
	    .index = 9, .term = 4, .type = 2, .data = "a\"b\\\x01", .len = 5};

	make_log(dir, 8);
	assert_int_equal(wal_log_open(dir, &o, &log, errmsg), 0);
	assert_int_equal(wal_log_append(log, &e, 1, 0, errmsg), 0);
	wal_log_close(log);
	assert_int_equal(run_args(7, argv), 0);
	assert_non_null(strstr(out, "index=7 term=1 type=1 len="));
	assert_non_null(strstr(out, "data=\"entry-7"));
	assert_non_null(strstr(out, "index=8 "));
	assert_null(strstr(out, "index=9 "));
	argv[4] = "9";
	assert_int_equal(run_args(5, argv), 0);
	assert_non_null(strstr(out, "index=9 term=4 type=2 len=5 crc32c="));
	assert_non_null(strstr(out, "data=\"a\\x22b\\x5c\\x01\"\n"));
	argv[4] = "11";
	assert_int_equal(run_args(5, argv), 1);
}

static void test_usage(void **state)
{
	char *dir = *state;
	const char *a1[] = {"wal"};
	const char *a2[] = {"wal", "frob", dir};
	const char *a3[] = {"wal", "dump", dir, "--from"};
	const char *a4[] = {"wal", "dump", dir, "--count", "x"};
	const char *a5[] = {"wal", "verify", dir, "extra"};

	assert_int_equal(run_args(1, a1), 2);
	assert_non_null(strstr(err, "usage:"));
	assert_int_equal(run_args(3, a2), 2);
	assert_int_equal(run_args(4, a3), 2);
	assert_int_equal(run_args(5, a4), 2);
	assert_int_equal(run_args(4, a5), 2);
}

int main(void)
{
#define T(f)                                                                   \
	cmocka_unit_test_setup_teardown(f, fx_scratch_setup,                   \
	                                fx_scratch_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_verify_ok_and_torn),
	    T(test_verify_corrupt),
	    T(test_verify_missing_middle_segment),
	    T(test_verify_hole_after_snapshot),
	    T(test_dump),
	    T(test_usage),
	};
#undef T
	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
