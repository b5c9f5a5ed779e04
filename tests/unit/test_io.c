/* common/io: durable file writes and the fault-injection hooks. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "tests/lib/fixture.h"

static void test_write_file_durable_roundtrip(void **state)
{
	const char *dir = *state;
	char path[512], errmsg[MA_ERRMSG_SIZE];
	void *buf;
	size_t len;

	assert_int_equal(io_write_file_durable(dir, "meta", "hello", 5, NULL),
	                 0);
	snprintf(path, sizeof path, "%s/meta", dir);
	assert_int_equal(io_read_file(path, 100, &buf, &len, NULL), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "hello", 5);
	free(buf);
	/* Replacing keeps exactly one file and no temp. */
	assert_int_equal(io_write_file_durable(dir, "meta", "bye", 3, NULL), 0);
	assert_int_equal(io_read_file(path, 100, &buf, &len, NULL), 0);
	assert_int_equal(len, 3);
	free(buf);
	snprintf(path, sizeof path, "%s/meta.tmp", dir);
	assert_int_equal(access(path, F_OK), -1);
	/* Too large for the caller's limit: a limit, with both sizes named. */
	snprintf(path, sizeof path, "%s/meta", dir);
	assert_int_equal(io_read_file(path, 2, &buf, &len, errmsg),
	                 MA_ERR_LIMIT);
	assert_non_null(strstr(errmsg, path));
	assert_non_null(strstr(errmsg, "3 bytes"));
	/* A missing file is "not found", the one errno class callers test. */
	snprintf(path, sizeof path, "%s/absent", dir);
	assert_int_equal(io_read_file(path, 100, &buf, &len, errmsg),
	                 MA_ERR_NOTFOUND);
	assert_non_null(strstr(errmsg, path));
	assert_non_null(strstr(errmsg, strerror(ENOENT)));
}

static void test_fsync_fault_keeps_old_file(void **state)
{
	const char *dir = *state;
	char path[512], errmsg[MA_ERRMSG_SIZE];
	void *buf;
	size_t len;

	assert_int_equal(io_write_file_durable(dir, "meta", "old", 3, NULL), 0);
	io_fault_set(IO_FAULT_FSYNC, 1, 1, EIO);
	/* EIO is -5 as an errno, the value of MA_ERR_NOTFOUND: the caller
	 * must see MA_ERR_IO and a message naming the file being synced. */
	assert_int_equal(io_write_file_durable(dir, "meta", "new", 3, errmsg),
	                 MA_ERR_IO);
	io_fault_clear();
	snprintf(path, sizeof path, "%s/meta.tmp", dir);
	assert_non_null(strstr(errmsg, "fsync of"));
	assert_non_null(strstr(errmsg, path));
	assert_non_null(strstr(errmsg, strerror(EIO)));
	snprintf(path, sizeof path, "%s/meta", dir);
	assert_int_equal(io_read_file(path, 100, &buf, &len, NULL), 0);
	assert_memory_equal(buf, "old", 3);
	free(buf);
	snprintf(path, sizeof path, "%s/meta.tmp", dir);
	assert_int_equal(access(path, F_OK), -1);
}

static void test_write_fault_nth_call(void **state)
{
	const char *dir = *state;
	char path[512], errmsg[MA_ERRMSG_SIZE], expect[MA_ERRMSG_SIZE + 600];
	int fd;

	snprintf(path, sizeof path, "%s/f", dir);
	snprintf(expect, sizeof expect, "write to %s failed: %s", path,
	         strerror(ENOSPC));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	io_fault_set(IO_FAULT_WRITE, 2, 1, ENOSPC);
	assert_int_equal(io_write_all(fd, "a", 1, NULL), 0);
	assert_int_equal(io_write_all(fd, "b", 1, errmsg), MA_ERR_NOSPACE);
	assert_string_equal(errmsg, expect);
	assert_int_equal(io_write_all(fd, "c", 1, NULL), 0);
	io_fault_clear();
	close(fd);
	assert_int_equal(ma_error_from_errno(ENOSPC), MA_ERR_NOSPACE);
	assert_string_equal(ma_strerror(MA_ERR_CRC), "CRC32C mismatch");
}

static void test_mkdir_p(void **state)
{
	const char *dir = *state;
	char path[512];
	struct stat st;

	snprintf(path, sizeof path, "%s/a/b/c", dir);
	assert_int_equal(io_mkdir_p(path, 0755, NULL), 0);
	assert_int_equal(io_mkdir_p(path, 0755, NULL), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
}

/* Every injected errno comes back as the code of the one mapping, never as
 * -errno: -EIO would be MA_ERR_NOTFOUND, -ENOMEM MA_ERR_IDENTITY. */
static void test_fault_codes_are_table_codes(void **state)
{
	const char *dir = *state;
	static const struct {
		int err;
		int code;
	} cases[] = {
	    {EIO, MA_ERR_IO},         {ENOSPC, MA_ERR_NOSPACE},
	    {EDQUOT, MA_ERR_NOSPACE}, {ENOMEM, MA_ERR_NOMEM},
	    {EROFS, MA_ERR_IO},       {ENOENT, MA_ERR_NOTFOUND},
	};
	char path[512], errmsg[MA_ERRMSG_SIZE];
	int fd;

	snprintf(path, sizeof path, "%s/seg", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		io_fault_set(IO_FAULT_WRITE, 1, 1, cases[i].err);
		assert_int_equal(io_pwrite_all(fd, "x", 1, 0, errmsg),
		                 cases[i].code);
		assert_non_null(strstr(errmsg, path));
		assert_non_null(strstr(errmsg, strerror(cases[i].err)));
		io_fault_set(IO_FAULT_FSYNC, 1, 1, cases[i].err);
		assert_int_equal(io_fdatasync(fd, errmsg), cases[i].code);
		assert_non_null(strstr(errmsg, "fdatasync of"));
		assert_non_null(strstr(errmsg, path));
		io_fault_set(IO_FAULT_FSYNC, 1, 1, cases[i].err);
		assert_int_equal(io_fsync(fd, errmsg), cases[i].code);
		assert_non_null(strstr(errmsg, path));
		io_fault_clear();
	}
	/* The injected write did nothing: the file is still empty. */
	assert_int_equal(io_pread_full(fd, path, 1, 0, NULL), 0);
	close(fd);
	/* A directory fsync names the directory. */
	io_fault_set(IO_FAULT_FSYNC, 1, 1, EIO);
	assert_int_equal(io_fsync_dir(dir, errmsg), MA_ERR_IO);
	assert_non_null(strstr(errmsg, dir));
	io_fault_clear();
	/* Real (not injected) errors take the same path. */
	snprintf(path, sizeof path, "%s/no/such/dir", dir);
	assert_int_equal(io_fsync_dir(path, errmsg), MA_ERR_NOTFOUND);
	assert_non_null(strstr(errmsg, path));
	assert_int_equal(io_write_all(-1, "x", 1, errmsg), MA_ERR_IO);
	assert_non_null(strstr(errmsg, "fd -1"));
}

/* ENOSPC in the middle of a durable write surfaces as MA_ERR_NOSPACE with
 * the temp file named, and leaves neither the temp nor a new file. */
static void test_durable_write_enospc(void **state)
{
	const char *dir = *state;
	char path[512], errmsg[MA_ERRMSG_SIZE];

	io_fault_set(IO_FAULT_WRITE, 1, -1, ENOSPC);
	assert_int_equal(
	    io_write_file_durable(dir, "identity", "abc", 3, errmsg),
	    MA_ERR_NOSPACE);
	io_fault_clear();
	snprintf(path, sizeof path, "%s/identity.tmp", dir);
	assert_non_null(strstr(errmsg, path));
	assert_non_null(strstr(errmsg, strerror(ENOSPC)));
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof path, "%s/identity", dir);
	assert_int_equal(access(path, F_OK), -1);
	/* A rename that cannot happen (the target is a non-empty directory)
	 * is an I/O error naming both names. */
	snprintf(path, sizeof path, "%s/d/x", dir);
	assert_int_equal(io_mkdir_p(path, 0755, NULL), 0);
	assert_int_equal(io_write_file_durable(dir, "d", "abc", 3, errmsg),
	                 MA_ERR_IO);
	assert_non_null(strstr(errmsg, "rename of"));
	assert_non_null(strstr(errmsg, "d.tmp"));
}

static void test_errwrapf(void **state)
{
	char errmsg[MA_ERRMSG_SIZE];
	char longer[MA_ERRMSG_SIZE * 2];

	(void)state;
	ma_errorf(errmsg, MA_ERR_IO, "fsync of /x failed: %s", "boom");
	assert_int_equal(
	    ma_errwrapf(errmsg, MA_ERR_IO, "cannot create %s", "segment 7"),
	    MA_ERR_IO);
	assert_string_equal(
	    errmsg, "cannot create segment 7: fsync of /x failed: boom");
	assert_int_equal(ma_errwrapf(NULL, MA_ERR_CRC, "x"), MA_ERR_CRC);
	/* Truncates, never overflows, and stays terminated. */
	memset(longer, 'a', sizeof longer - 1);
	longer[sizeof longer - 1] = '\0';
	ma_errwrapf(errmsg, MA_ERR_IO, "%s", longer);
	assert_int_equal(strlen(errmsg), MA_ERRMSG_SIZE - 1);
	assert_int_equal(ma_error_from_errno(EXDEV), MA_ERR_INVAL);
	assert_int_equal(ma_error_from_errno(ENAMETOOLONG), MA_ERR_LIMIT);
	assert_int_equal(ma_error_from_errno(EEXIST), MA_ERR_EXISTS);
	assert_int_equal(ma_error_from_errno(EACCES), MA_ERR_IO);
}

/* log_open follows the same convention: a code from the table, never
 * -errno, and the file named. */
static void test_log_open_error(void **state)
{
	const char *dir = *state;
	char path[512], errmsg[MA_ERRMSG_SIZE];
	void *buf;
	size_t len;

	snprintf(path, sizeof path, "%s/no/such/dir/agent.log", dir);
	assert_int_equal(log_open(path, errmsg), MA_ERR_NOTFOUND);
	assert_non_null(strstr(errmsg, path));
	assert_non_null(strstr(errmsg, strerror(ENOENT)));
	snprintf(path, sizeof path, "%s/agent.log", dir);
	assert_int_equal(log_open(path, errmsg), 0);
	log_error("written to %s", "the file");
	assert_int_equal(log_open(NULL, errmsg), 0);
	assert_int_equal(io_read_file(path, 4096, &buf, &len, NULL), 0);
	assert_non_null(strstr(buf, " error written to the file\n"));
	free(buf);
}

/* Peer strings cannot forge log lines or reach the terminal as escape
 * sequences: one message is one line, control characters escaped. */
static void test_log_escapes_controls(void **state)
{
	const char *dir = *state;
	char path[256], errmsg[MA_ERRMSG_SIZE], *text;
	size_t len;
	int lines = 0;

	snprintf(path, sizeof path, "%s/x.log", dir);
	assert_int_equal(log_open(path, errmsg), 0);
	log_info("peer '%s' asked", "m1\n2026-11-29T00:00:00.000Z error "
	                            "forged\x1b[31m\tx\r\x7f");
	assert_int_equal(log_open(NULL, errmsg), 0);
	assert_int_equal(io_read_file(path, 4096, (void **)&text, &len, errmsg),
	                 0);
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	assert_int_equal(lines, 1);
	assert_non_null(strstr(text,
	                       " info peer 'm1\\n2026-11-29T00:00:00.000Z "
	                       "error forged\\x1b[31m\\tx\\r\\x7f' "
	                       "asked\n"));
	free(text);
}

/* io_write_file_replace makes the new content visible without waiting
 * for the disk: with every fsync failing it still succeeds (it calls
 * none), where io_write_file_durable fails. */
static void test_write_file_replace_no_fsync(void **state)
{
	const char *dir = *state;
	char path[256], errmsg[MA_ERRMSG_SIZE], *text;
	size_t len;

	io_fault_set(IO_FAULT_FSYNC, 1, -1, EIO);
	assert_int_equal(io_write_file_durable(dir, "s", "old", 3, errmsg),
	                 MA_ERR_IO);
	assert_int_equal(io_write_file_replace(dir, "s", "new", 3, errmsg), 0);
	assert_int_equal(io_write_file_replace(dir, "s", "newer", 5, errmsg),
	                 0);
	io_fault_clear();
	snprintf(path, sizeof path, "%s/s", dir);
	assert_int_equal(io_read_file(path, 64, (void **)&text, &len, errmsg),
	                 0);
	assert_int_equal(len, 5);
	assert_memory_equal(text, "newer", 5);
	free(text);
	snprintf(path, sizeof path, "%s/s.tmp", dir);
	assert_int_equal(access(path, F_OK), -1);
}

/* The agent's state files are 0640 whatever the umask (the units set
 * UMask=0027; a manual start may not). */
static void test_write_file_mode(void **state)
{
	const char *dir = *state;
	char path[256], errmsg[MA_ERRMSG_SIZE];
	struct stat st;
	mode_t old = umask(0);

	assert_int_equal(io_write_file_durable(dir, "f", "x", 1, errmsg), 0);
	umask(old);
	snprintf(path, sizeof path, "%s/f", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_write_file_durable_roundtrip,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_fsync_fault_keeps_old_file,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_write_fault_nth_call,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_mkdir_p, fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_fault_codes_are_table_codes,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_durable_write_enospc,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test(test_errwrapf),
	    cmocka_unit_test_setup_teardown(test_log_escapes_controls,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_write_file_mode, fx_scratch_setup, fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_write_file_replace_no_fsync,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_log_open_error, fx_scratch_setup, fx_scratch_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
