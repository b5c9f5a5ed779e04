/* snapshot store: latest/list, pins (in-process and across processes),
 * retention, leftover sweep, corrupted metadata, verify and the
 * `snapshot verify` command. */
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/cli/commands.h"
#include "common/errors.h"
#include "common/io.h"
#include "snapshot/snapshot.h"

struct fixture {
	char dir[64];
	char store_dir[128];
	struct snapshot_store *store;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char errmsg[MA_ERRMSG_SIZE];

	if (f == NULL)
		return -1;
	strcpy(f->dir, "/tmp/ma-test-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->store_dir, sizeof f->store_dir, "%s/snapshots", f->dir);
	if (snapshot_store_open(f->store_dir, &f->store, errmsg) != 0) {
		fprintf(stderr, "%s\n", errmsg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];

	io_fault_clear();
	snapshot_store_close(f->store);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static struct snapshot_ident ident(uint64_t index, uint64_t term)
{
	struct snapshot_ident id;

	memset(&id, 0, sizeof id);
	strcpy(id.cluster_id, "cluster-1");
	strcpy(id.database_id, "kv");
	id.index = index;
	id.term = term;
	return id;
}

static void create(struct fixture *f, uint64_t index, uint64_t term)
{
	struct snapshot_ident id = ident(index, term);
	char errmsg[MA_ERRMSG_SIZE];
	char data[64];
	int n = snprintf(data, sizeof data, "snapshot %llu-%llu",
	                 (unsigned long long)index, (unsigned long long)term);
	int rc = snapshot_store_create_from_buf(f->store, &id, data, (size_t)n,
	                                        1000 + index, NULL, errmsg);

	if (rc != 0)
		fail_msg("create %llu: %s", (unsigned long long)index, errmsg);
}

static bool exists(struct fixture *f, const char *name)
{
	char path[256];

	snprintf(path, sizeof path, "%s/%s", f->store_dir, name);
	return access(path, F_OK) == 0;
}

static void test_latest_and_list(void **state)
{
	struct fixture *f = *state;
	char errmsg[MA_ERRMSG_SIZE];
	struct snapshot_meta m, *v;
	size_t n;

	assert_int_equal(snapshot_store_latest(f->store, &m, errmsg),
	                 MA_ERR_NOTFOUND);
	create(f, 10, 1);
	create(f, 20, 1);
	create(f, 15, 2);
	assert_int_equal(snapshot_store_list(f->store, &v, &n, errmsg), 0);
	assert_int_equal(n, 3);
	assert_int_equal(v[0].id.index, 10);
	assert_int_equal(v[1].id.index, 15);
	assert_int_equal(v[2].id.index, 20);
	free(v);
	assert_int_equal(snapshot_store_latest(f->store, &m, errmsg), 0);
	assert_int_equal(m.id.index, 20);
	assert_int_equal(m.id.size, strlen("snapshot 20-1"));
	assert_int_equal(m.created_ms, 1020);
	assert_string_equal(m.id.database_id, "kv");
	assert_true(exists(f, "20-1.snapshot"));
	assert_true(exists(f, "20-1.meta"));
	/* Same index/term with other content is refused. */
	{
		struct snapshot_ident id = ident(20, 1);
		assert_int_equal(snapshot_store_create_from_buf(f->store, &id,
		                                                "other", 5, 0,
		                                                NULL, errmsg),
		                 MA_ERR_EXISTS);
	}
}

static void test_pin_prevents_retention(void **state)
{
	struct fixture *f = *state;
	char errmsg[MA_ERRMSG_SIZE];
	size_t removed;

	for (uint64_t i = 1; i <= 4; i++)
		create(f, i, 1);
	assert_int_equal(snapshot_store_pin(f->store, 1, 1, errmsg), 0);
	assert_int_equal(snapshot_store_pin(f->store, 1, 1, errmsg), 0);
	assert_int_equal(snapshot_store_retain(f->store, 1, &removed, errmsg),
	                 0);
	assert_int_equal(removed, 2);
	assert_true(exists(f, "1-1.snapshot"));
	assert_false(exists(f, "2-1.snapshot"));
	assert_false(exists(f, "3-1.snapshot"));
	assert_false(exists(f, "3-1.meta"));
	assert_true(exists(f, "4-1.snapshot"));
	/* Nested pins: one unpin is not enough. */
	assert_int_equal(snapshot_store_unpin(f->store, 1, 1), 0);
	assert_int_equal(snapshot_store_retain(f->store, 1, &removed, errmsg),
	                 0);
	assert_int_equal(removed, 0);
	assert_int_equal(snapshot_store_unpin(f->store, 1, 1), 0);
	assert_int_equal(snapshot_store_unpin(f->store, 1, 1), MA_ERR_NOTFOUND);
	assert_int_equal(snapshot_store_retain(f->store, 1, &removed, errmsg),
	                 0);
	assert_int_equal(removed, 1);
	assert_false(exists(f, "1-1.snapshot"));
	assert_int_equal(snapshot_store_pin(f->store, 1, 1, errmsg),
	                 MA_ERR_NOTFOUND);
}

static void test_retention_keeps_n_newest_unpinned(void **state)
{
	struct fixture *f = *state;
	char errmsg[MA_ERRMSG_SIZE];
	struct snapshot_meta *v;
	size_t removed, n;

	for (uint64_t i = 1; i <= 5; i++)
		create(f, i * 10, 1);
	assert_int_equal(snapshot_store_pin(f->store, 50, 1, errmsg), 0);
	assert_int_equal(snapshot_store_retain(f->store, 2, &removed, errmsg),
	                 0);
	assert_int_equal(removed, 2);
	assert_int_equal(snapshot_store_list(f->store, &v, &n, errmsg), 0);
	assert_int_equal(n, 3);
	assert_int_equal(v[0].id.index, 30);
	assert_int_equal(v[1].id.index, 40);
	assert_int_equal(v[2].id.index, 50);
	free(v);
	assert_int_equal(snapshot_store_unpin(f->store, 50, 1), 0);
}

/* A pin held by another process (a `serve` transfer) stops retention
 * here (the spool writer). */
static void test_pin_across_processes(void **state)
{
	struct fixture *f = *state;
	char errmsg[MA_ERRMSG_SIZE];
	int ready[2], go[2], status;
	size_t removed;
	pid_t pid;
	char c;

	create(f, 1, 1);
	create(f, 2, 1);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct snapshot_store *s;

		if (snapshot_store_open(f->store_dir, &s, errmsg) != 0 ||
		    snapshot_store_pin(s, 1, 1, errmsg) != 0)
			_exit(1);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		snapshot_store_close(s);
		_exit(0);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(snapshot_store_retain(f->store, 0, &removed, errmsg),
	                 0);
	assert_int_equal(removed, 1);
	assert_true(exists(f, "1-1.snapshot"));
	assert_false(exists(f, "2-1.snapshot"));
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(snapshot_store_retain(f->store, 0, &removed, errmsg),
	                 0);
	assert_int_equal(removed, 1);
	assert_false(exists(f, "1-1.snapshot"));
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
}

static void write_file(const char *path, const void *buf, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static void test_leftovers_swept(void **state)
{
	struct fixture *f = *state;
	char errmsg[MA_ERRMSG_SIZE], path[256], cmd[512];
	struct snapshot_meta m;

	create(f, 7, 1);
	create(f, 8, 1);
	snprintf(path, sizeof path, "%s/9-1.snapshot.tmp", f->store_dir);
	write_file(path, "half", 4);
	snprintf(path, sizeof path, "%s/8-1.meta.tmp", f->store_dir);
	write_file(path, "x", 1);
	/* A .meta whose .snapshot never arrived (crash mid-commit). */
	snprintf(cmd, sizeof cmd, "cp %s/8-1.meta %s/11-1.meta", f->store_dir,
	         f->store_dir);
	assert_int_equal(system(cmd), 0);
	snapshot_store_close(f->store);
	assert_int_equal(snapshot_store_open(f->store_dir, &f->store, errmsg),
	                 0);
	assert_false(exists(f, "9-1.snapshot.tmp"));
	assert_false(exists(f, "8-1.meta.tmp"));
	assert_false(exists(f, "11-1.meta"));
	assert_true(exists(f, "7-1.snapshot"));
	assert_true(exists(f, "8-1.meta"));
	assert_int_equal(snapshot_store_latest(f->store, &m, errmsg), 0);
	assert_int_equal(m.id.index, 8);
}

static void test_corrupted_meta_detected(void **state)
{
	struct fixture *f = *state;
	char errmsg[MA_ERRMSG_SIZE], path[256];
	struct snapshot_meta m;
	uint8_t byte;
	int fd;

	create(f, 1, 1);
	create(f, 2, 1);
	snprintf(path, sizeof path, "%s/2-1.meta", f->store_dir);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, 30), 1);
	byte ^= 0x10;
	assert_int_equal(pwrite(fd, &byte, 1, 30), 1);
	close(fd);
	assert_int_equal(snapshot_store_get(f->store, 2, 1, &m, errmsg),
	                 MA_ERR_CORRUPT);
	assert_non_null(strstr(errmsg, "CRC32C"));
	assert_non_null(strstr(errmsg, "2-1.meta"));
	/* Latest skips the damaged one. */
	assert_int_equal(snapshot_store_latest(f->store, &m, errmsg), 0);
	assert_int_equal(m.id.index, 1);
	snprintf(path, sizeof path, "%s/2-1.snapshot", f->store_dir);
	assert_int_equal(snapshot_file_verify(path, NULL, errmsg),
	                 MA_ERR_CORRUPT);
	/* A torn (short) metadata file. */
	snprintf(path, sizeof path, "%s/1-1.meta", f->store_dir);
	assert_int_equal(truncate(path, 100), 0);
	assert_int_equal(snapshot_store_get(f->store, 1, 1, &m, errmsg),
	                 MA_ERR_CORRUPT);
	assert_non_null(strstr(errmsg, "torn"));
	assert_int_equal(snapshot_store_latest(f->store, &m, errmsg),
	                 MA_ERR_NOTFOUND);
}

static void test_verify_and_command(void **state)
{
	struct fixture *f = *state;
	char errmsg[MA_ERRMSG_SIZE], path[256];
	char a0[] = "snapshot", a1[] = "verify";
	char *argv[4] = {a0, a1, path, NULL};
	struct snapshot_meta m;
	int fd;

	create(f, 3, 2);
	snprintf(path, sizeof path, "%s/3-2.snapshot", f->store_dir);
	assert_int_equal(snapshot_file_verify(path, &m, errmsg), 0);
	assert_int_equal(m.id.index, 3);
	assert_int_equal(cmd_snapshot(3, argv), 0);
	assert_int_equal(cmd_snapshot(2, argv), 2);
	/* Same size, different byte: CRC differs. */
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "S", 1, 0), 1);
	close(fd);
	assert_int_equal(snapshot_file_verify(path, NULL, errmsg),
	                 MA_ERR_CORRUPT);
	assert_non_null(strstr(errmsg, "CRC32C"));
	assert_null(strstr(errmsg, "size"));
	assert_int_equal(cmd_snapshot(3, argv), 1);
	/* Longer: size differs. */
	fd = open(path, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, "xx", 2), 2);
	close(fd);
	assert_int_equal(snapshot_file_verify(path, NULL, errmsg),
	                 MA_ERR_CORRUPT);
	assert_non_null(strstr(errmsg, "size"));
	snprintf(path, sizeof path, "%s/nope.snapshot", f->store_dir);
	assert_int_equal(cmd_snapshot(3, argv), 1);
}

static void test_commit_from_other_dir_and_create_from_file(void **state)
{
	struct fixture *f = *state;
	char errmsg[MA_ERRMSG_SIZE], recv[256], src[300], path[256];
	struct snapshot_ident id = ident(40, 3);
	struct snapshot_meta m, got;

	snprintf(recv, sizeof recv, "%s/recv", f->dir);
	assert_int_equal(mkdir(recv, 0755), 0);
	snprintf(src, sizeof src, "%s/kv.partial", recv);
	write_file(src, "0123456789", 10);
	memset(&m, 0, sizeof m);
	m.id = id;
	m.id.size = 10;
	m.id.crc32c = 0x280C069E; /* CRC32C("0123456789") */
	m.created_ms = 5;
	assert_int_equal(
	    snapshot_store_commit(f->store, recv, "kv.partial", &m, errmsg), 0);
	assert_int_equal(access(src, F_OK), -1);
	assert_int_equal(snapshot_store_get(f->store, 40, 3, &got, errmsg), 0);
	assert_true(snapshot_ident_equal(&got.id, &m.id));
	snprintf(path, sizeof path, "%s/40-3.snapshot", f->store_dir);
	assert_int_equal(snapshot_file_verify(path, NULL, errmsg), 0);
	/* Committing the same snapshot again is idempotent. */
	write_file(src, "0123456789", 10);
	assert_int_equal(
	    snapshot_store_commit(f->store, recv, "kv.partial", &m, errmsg), 0);
	assert_int_equal(access(src, F_OK), -1);

	id = ident(41, 3);
	assert_int_equal(snapshot_store_create_from_file(f->store, &id, path, 9,
	                                                 &got, errmsg),
	                 0);
	assert_int_equal(got.id.size, 10);
	assert_int_equal(got.id.crc32c, 0x280C069E);
	id = ident(42, 3);
	assert_int_equal(snapshot_store_create_from_file(
	                     f->store, &id, "/nonexistent", 9, NULL, errmsg),
	                 MA_ERR_NOTFOUND);
	strcpy(id.database_id, "bad/id");
	assert_int_equal(snapshot_store_create_from_buf(f->store, &id, "x", 1,
	                                                0, NULL, errmsg),
	                 MA_ERR_INVAL);
}

/* The directory fsync after the rename fails (the rename itself
 * happened): the commit reports the failure, but the .snapshot now in
 * place keeps its .meta (a .snapshot never exists without its metadata),
 * and committing the same snapshot again succeeds. */
static void test_commit_dir_fsync_fault_keeps_meta(void **state)
{
	struct fixture *f = *state;
	char errmsg[MA_ERRMSG_SIZE], recv[256], src[300];
	struct snapshot_meta m, got;

	snprintf(recv, sizeof recv, "%s/recv", f->dir);
	assert_int_equal(mkdir(recv, 0755), 0);
	snprintf(src, sizeof src, "%s/kv.partial", recv);
	write_file(src, "0123456789", 10);
	memset(&m, 0, sizeof m);
	m.id = ident(50, 3);
	m.id.size = 10;
	m.id.crc32c = 0x280C069E; /* CRC32C("0123456789") */
	/* fsyncs: metadata file, store dir, data file, store dir (4th). */
	io_fault_set(IO_FAULT_FSYNC, 4, 1, EIO);
	assert_int_equal(
	    snapshot_store_commit(f->store, recv, "kv.partial", &m, errmsg),
	    MA_ERR_IO);
	io_fault_clear();
	assert_true(exists(f, "50-3.snapshot"));
	assert_true(exists(f, "50-3.meta"));
	assert_int_equal(snapshot_store_get(f->store, 50, 3, &got, errmsg), 0);
	write_file(src, "0123456789", 10);
	assert_int_equal(
	    snapshot_store_commit(f->store, recv, "kv.partial", &m, errmsg), 0);
	assert_int_equal(access(src, F_OK), -1);
	assert_int_equal(snapshot_store_get(f->store, 50, 3, &got, errmsg), 0);
	assert_true(snapshot_ident_equal(&got.id, &m.id));
}

/* A failed commit whose rename did not happen leaves no .meta behind. */
static void test_commit_rename_fault_removes_meta(void **state)
{
	struct fixture *f = *state;
	char errmsg[MA_ERRMSG_SIZE], recv[256], src[300];
	struct snapshot_meta m;

	snprintf(recv, sizeof recv, "%s/recv", f->dir);
	assert_int_equal(mkdir(recv, 0755), 0);
	snprintf(src, sizeof src, "%s/kv.partial", recv);
	write_file(src, "0123456789", 10);
	memset(&m, 0, sizeof m);
	m.id = ident(51, 3);
	m.id.size = 10;
	m.id.crc32c = 0x280C069E;
	/* The data file's fsync (3rd) fails: no rename. */
	io_fault_set(IO_FAULT_FSYNC, 3, 1, EIO);
	assert_int_equal(
	    snapshot_store_commit(f->store, recv, "kv.partial", &m, errmsg),
	    MA_ERR_IO);
	io_fault_clear();
	assert_false(exists(f, "51-3.snapshot"));
	assert_false(exists(f, "51-3.meta"));
	assert_int_equal(access(src, F_OK), 0);
}

/* What serve opens: it creates and sweeps nothing, reads and pins like
 * the writer, and refuses to change the store. */
static void test_open_readonly(void **state)
{
	struct fixture *f = *state;
	char errmsg[MA_ERRMSG_SIZE], path[256], missing[256];
	struct snapshot_store *ro;
	struct snapshot_meta *metas, m;
	struct snapshot_ident id = ident(70, 4);
	size_t n = 99, removed = 99;

	create(f, 60, 4);
	snprintf(path, sizeof path, "%s/store.lock", f->store_dir);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof path, "%s/61-4.snapshot.tmp", f->store_dir);
	write_file(path, "left", 4);
	assert_int_equal(
	    snapshot_store_open_readonly(f->store_dir, &ro, errmsg), 0);
	assert_false(exists(f, "store.lock"));
	assert_true(exists(f, "61-4.snapshot.tmp"));
	assert_int_equal(snapshot_store_list(ro, &metas, &n, errmsg), 0);
	assert_int_equal(n, 1);
	assert_true(metas[0].id.index == 60);
	free(metas);
	assert_int_equal(snapshot_store_latest(ro, &m, errmsg), 0);
	assert_true(m.id.index == 60 && m.id.term == 4);
	assert_int_equal(snapshot_store_pin(ro, 60, 4, errmsg), 0);
	assert_int_equal(snapshot_store_retain(ro, 0, &removed, errmsg),
	                 MA_ERR_INVAL);
	assert_non_null(strstr(errmsg, "opened read-only"));
	assert_int_equal(
	    snapshot_store_create_from_buf(ro, &id, "x", 1, 0, NULL, errmsg),
	    MA_ERR_INVAL);
	assert_false(exists(f, "70-4.snapshot"));
	assert_false(exists(f, "store.lock"));
	/* Its pin holds against the writer's retention. */
	assert_int_equal(snapshot_store_retain(f->store, 0, &removed, errmsg),
	                 0);
	assert_int_equal(removed, 0);
	assert_true(exists(f, "60-4.snapshot"));
	snapshot_store_close(ro);

	/* A store the tap has not created yet: empty, and still absent. */
	snprintf(missing, sizeof missing, "%s/none/snapshots", f->dir);
	assert_int_equal(snapshot_store_open_readonly(missing, &ro, errmsg), 0);
	assert_int_equal(snapshot_store_list(ro, &metas, &n, errmsg), 0);
	assert_int_equal(n, 0);
	assert_int_equal(snapshot_store_latest(ro, &m, errmsg),
	                 MA_ERR_NOTFOUND);
	assert_int_equal(snapshot_store_get(ro, 1, 1, &m, errmsg),
	                 MA_ERR_NOTFOUND);
	snapshot_store_close(ro);
	snprintf(missing, sizeof missing, "%s/none", f->dir);
	assert_int_equal(access(missing, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_latest_and_list, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_pin_prevents_retention, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_retention_keeps_n_newest_unpinned, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pin_across_processes, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_leftovers_swept, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_corrupted_meta_detected, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_verify_and_command, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_commit_from_other_dir_and_create_from_file, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        test_commit_dir_fsync_fault_keeps_meta, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_commit_rename_fault_removes_meta, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_readonly, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
