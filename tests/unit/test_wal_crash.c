/* wal crash safety: a forked child runs a workload (appends, a suffix
 * truncation, a prefix truncation) and dies at the n-th durability
 * operation (io_crash_set); the parent reopens the log and checks it holds
 * a valid prefix including everything the child saw durable. Every crash
 * point of the workload is tried. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/wait.h>

#include <cmocka.h>

#include "common/io.h"
#include "common/log.h"
#include "wal_test_util.h"

#define TRUNC_AT 40
#define PREFIX_AT 30
#define LAST 100

struct report {
	uint32_t phase; /* 1: before the suffix truncation, 2: after */
	uint64_t durable;
};

static void say(int fd, uint32_t phase, uint64_t durable)
{
	struct report r = {phase, durable};

	if (fd >= 0 && write(fd, &r, sizeof r) != sizeof r)
		_exit(3);
}

static int append_v(struct wal_log *log, uint64_t from, uint64_t to, int v)
{
	char buf[3][32], errmsg[MA_ERRMSG_SIZE];
	struct wal_entry e[3];
	size_t n = 0;

	for (uint64_t i = from; i <= to; i++, n++) {
		e[n].index = i;
		e[n].term = (uint64_t)v;
		e[n].type = WAL_ENTRY_COMMAND;
		e[n].len = (size_t)snprintf(buf[n], sizeof buf[n],
		                            "v%d-%" PRIu64, v, i);
		e[n].data = buf[n];
	}
	return wal_log_append(log, e, n, 0, errmsg);
}

/* Returns 0 when the whole workload ran. */
static int workload(const char *dir, int report_fd)
{
	struct wal_options o = test_opts(4096);
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_log *log = NULL;
	uint64_t i;

	if (wal_log_open(dir, &o, &log, errmsg) != 0)
		return 1;
	for (i = 1; i <= 60; i += 3) {
		if (append_v(log, i, i + 2, 1) != 0)
			return 1;
		say(report_fd, 1, wal_log_durable_index(log));
	}
	if (wal_log_truncate_suffix(log, TRUNC_AT, errmsg) != 0)
		return 1;
	say(report_fd, 2, wal_log_durable_index(log));
	for (i = TRUNC_AT + 1; i <= LAST; i += 3) {
		uint64_t to = i + 2 > LAST ? LAST : i + 2;

		if (append_v(log, i, to, 2) != 0)
			return 1;
		say(report_fd, 2, wal_log_durable_index(log));
		if (to == 80 &&
		    wal_log_truncate_prefix(log, PREFIX_AT, errmsg) != 0)
			return 1;
	}
	wal_log_close(log);
	return 0;
}

static void check_after_crash(const char *dir, const struct report *last_rep,
                              long k)
{
	struct wal_options o = test_opts(4096);
	char errmsg[MA_ERRMSG_SIZE], want[32];
	struct wal_log *log = NULL;
	struct wal_entry e;
	uint64_t first, last;
	int tail_v = 0;

	if (wal_log_open(dir, &o, &log, errmsg) != 0)
		fail_msg("crash point %ld: reopen failed: %s", k, errmsg);
	first = wal_log_first_index(log);
	last = wal_log_last_index(log);
	assert_true(first <= PREFIX_AT || last < first);
	if (last_rep->phase == 1)
		assert_true(last >= (last_rep->durable < TRUNC_AT
		                         ? last_rep->durable
		                         : TRUNC_AT));
	else if (last_rep->phase == 2)
		assert_true(last >= last_rep->durable);
	for (uint64_t i = first; i <= last && first > 0; i++) {
		int v;

		assert_int_equal(wal_log_read(log, i, &e, errmsg), 0);
		v = (int)e.term;
		if (i <= TRUNC_AT)
			assert_int_equal(v, 1);
		else if (tail_v == 0)
			tail_v = v;
		else
			assert_int_equal(v, tail_v);
		snprintf(want, sizeof want, "v%d-%" PRIu64, v, i);
		assert_int_equal(e.len, strlen(want));
		assert_memory_equal(e.data, want, e.len);
	}
	/* Once the truncation was reported done, the old tail is gone. */
	if (last_rep->phase == 2 && last > TRUNC_AT)
		assert_int_equal(tail_v, 2);
	wal_log_close(log);
}

static void test_crash_at_every_point(void **state)
{
	const char *dir = *state;
	char sub[512];
	long total, crashed = 0;

	snprintf(sub, sizeof sub, "%s/count", dir);
	io_crash_set(0);
	assert_int_equal(workload(sub, -1), 0);
	total = io_crash_ops();
	assert_true(total > 50 && total < 1000);
	for (long k = 1; k <= total + 1; k++) {
		struct report rep = {0, 0}, r;
		int pfd[2], status;
		pid_t pid;

		snprintf(sub, sizeof sub, "%s/k%ld", dir, k);
		assert_int_equal(pipe(pfd), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			io_crash_set(k);
			_exit(workload(sub, pfd[1]));
		}
		close(pfd[1]);
		while (read(pfd[0], &r, sizeof r) == sizeof r)
			rep = r;
		close(pfd[0]);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		if (WEXITSTATUS(status) == IO_CRASH_EXIT_CODE)
			crashed++;
		else
			assert_int_equal(WEXITSTATUS(status), 0);
		check_after_crash(sub, &rep, k);
	}
	assert_int_equal(crashed, total);
	print_message("# %ld crash points checked\n", total);
}

/* The durable mark across crashes: a clean close records 30, then a reset
 * to 50, appends, a close (72), a suffix truncation to 60 and a close; a crash
 * at any durability operation must reopen without a false "durable record
 * missing" (the mark is lowered before anything it covers is removed) and
 * hold either the old log's entries or the new one's. */
static int mark_workload(const char *dir)
{
	struct wal_options o = test_opts(4096);
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_log *log = NULL;

	if (wal_log_open(dir, &o, &log, errmsg) != 0)
		return 1;
	for (uint64_t i = 1; i <= 30; i += 3)
		if (append_v(log, i, i + 2, 1) != 0)
			return 1;
	wal_log_close(log);
	if (wal_log_open(dir, &o, &log, errmsg) != 0 ||
	    wal_log_reset(log, 50, errmsg) != 0)
		return 1;
	for (uint64_t i = 50; i <= 70; i += 3)
		if (append_v(log, i, i + 2, 2) != 0)
			return 1;
	wal_log_close(log); /* the mark now covers what is truncated next */
	if (wal_log_open(dir, &o, &log, errmsg) != 0 ||
	    wal_log_truncate_suffix(log, 60, errmsg) != 0)
		return 1;
	wal_log_close(log);
	return 0;
}

static void test_crash_around_the_mark(void **state)
{
	const char *dir = *state;
	struct wal_options o = test_opts(4096);
	char sub[512], errmsg[MA_ERRMSG_SIZE];
	long total;

	snprintf(sub, sizeof sub, "%s/count", dir);
	io_crash_set(0);
	assert_int_equal(mark_workload(sub), 0);
	total = io_crash_ops();
	assert_true(total > 20 && total < 1000);
	for (long k = 1; k <= total; k++) {
		struct wal_log *log = NULL;
		struct wal_entry e;
		int status;
		pid_t pid;

		snprintf(sub, sizeof sub, "%s/m%ld", dir, k);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			io_crash_set(k);
			_exit(mark_workload(sub));
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) &&
		            WEXITSTATUS(status) == IO_CRASH_EXIT_CODE);
		if (wal_log_open(sub, &o, &log, errmsg) != 0)
			fail_msg("crash point %ld: reopen failed: %s", k,
			         errmsg);
		for (uint64_t i = wal_log_first_index(log);
		     i <= wal_log_last_index(log) && i > 0; i++) {
			assert_int_equal(wal_log_read(log, i, &e, errmsg), 0);
			assert_int_equal(e.term, i <= 30 ? 1 : 2);
		}
		assert_true(wal_log_last_index(log) <= 30 ||
		            wal_log_first_index(log) >= 50);
		wal_log_close(log);
	}
	print_message("# %ld crash points checked around the mark\n", total);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_crash_at_every_point,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_crash_around_the_mark,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	};
	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
