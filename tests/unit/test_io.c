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

static int setup_dir(void **state)
{
	char *dir = strdup("/tmp/ma-test-io.XXXXXX");

	if (dir == NULL || mkdtemp(dir) == NULL)
		return -1;
	*state = dir;
	return 0;
}

static int teardown_dir(void **state)
{
	char cmd[256];

	io_fault_clear();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", (char *)*state);
	if (system(cmd) != 0)
		return -1;
	free(*state);
	return 0;
}

static void test_write_file_durable_roundtrip(void **state)
{
	const char *dir = *state;
	char path[512];
	void *buf;
	size_t len;

	assert_int_equal(io_write_file_durable(dir, "meta", "hello", 5), 0);
	snprintf(path, sizeof path, "%s/meta", dir);
	assert_int_equal(io_read_file(path, 100, &buf, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "hello", 5);
	free(buf);
	/* Replacing keeps exactly one file and no temp. */
	assert_int_equal(io_write_file_durable(dir, "meta", "bye", 3), 0);
	assert_int_equal(io_read_file(path, 100, &buf, &len), 0);
	assert_int_equal(len, 3);
	free(buf);
	snprintf(path, sizeof path, "%s/meta.tmp", dir);
	assert_int_equal(access(path, F_OK), -1);
	/* Too large for the caller's limit. */
	snprintf(path, sizeof path, "%s/meta", dir);
	assert_int_equal(io_read_file(path, 2, &buf, &len), -EFBIG);
}

static void test_fsync_fault_keeps_old_file(void **state)
{
	const char *dir = *state;
	char path[512];
	void *buf;
	size_t len;

	assert_int_equal(io_write_file_durable(dir, "meta", "old", 3), 0);
	io_fault_set(IO_FAULT_FSYNC, 1, 1, EIO);
	assert_int_equal(io_write_file_durable(dir, "meta", "new", 3), -EIO);
	io_fault_clear();
	snprintf(path, sizeof path, "%s/meta", dir);
	assert_int_equal(io_read_file(path, 100, &buf, &len), 0);
	assert_memory_equal(buf, "old", 3);
	free(buf);
	snprintf(path, sizeof path, "%s/meta.tmp", dir);
	assert_int_equal(access(path, F_OK), -1);
}

static void test_write_fault_nth_call(void **state)
{
	const char *dir = *state;
	char path[512];
	int fd;

	snprintf(path, sizeof path, "%s/f", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	io_fault_set(IO_FAULT_WRITE, 2, 1, ENOSPC);
	assert_int_equal(io_write_all(fd, "a", 1), 0);
	assert_int_equal(io_write_all(fd, "b", 1), -ENOSPC);
	assert_int_equal(io_write_all(fd, "c", 1), 0);
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
	assert_int_equal(io_mkdir_p(path, 0755), 0);
	assert_int_equal(io_mkdir_p(path, 0755), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_write_file_durable_roundtrip,
	                                    setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_fsync_fault_keeps_old_file,
	                                    setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_write_fault_nth_call,
	                                    setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_mkdir_p, setup_dir,
	                                    teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
