/* agent/cli/notify.c against a socket this test binds: the exact datagrams
 * (path and abstract names), the refusal of a malformed NOTIFY_SOCKET,
 * WATCHDOG_USEC/WATCHDOG_PID parsing, and the timer's pace: WATCHDOG=1
 * every half interval and STATUS= only when the line changed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "agent/cli/notify.h"
#include "common/errors.h"

/* Binds a datagram socket named name (path or '@abstract'). */
static int listen_on(const char *name)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	memcpy(sa.sun_path, name, len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	assert_int_equal(
	    bind(fd, (struct sockaddr *)&sa,
	         (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	                     (name[0] == '@' ? 0 : 1))),
	    0);
	return fd;
}

/* The next datagram, NUL-terminated, or "" when none is queued. */
static void next(int fd, char *buf, size_t size)
{
	ssize_t n = recv(fd, buf, size - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
}

static void test_off_without_socket(void **state)
{
	char errmsg[MA_ERRMSG_SIZE];

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_false(notify_enabled());
	assert_int_equal(notify_send("READY=1", errmsg), 0);
	assert_null(notify_timer_new(NULL, NULL, NULL));
}

static void test_bad_socket_name(void **state)
{
	char errmsg[MA_ERRMSG_SIZE];

	(void)state;
	setenv("NOTIFY_SOCKET", "relative/sock", 1);
	assert_false(notify_enabled());
	assert_int_equal(notify_send("READY=1", errmsg), MA_ERR_INVAL);
	assert_non_null(strstr(errmsg, "NOTIFY_SOCKET=relative/sock"));
	/* A socket nobody listens on: the send fails and says where. */
	setenv("NOTIFY_SOCKET", "/nonexistent-dir/notify.sock", 1);
	assert_int_equal(notify_send("READY=1", errmsg), MA_ERR_IO);
	assert_non_null(strstr(errmsg, "/nonexistent-dir/notify.sock"));
	unsetenv("NOTIFY_SOCKET");
}

static void test_path_and_abstract(void **state)
{
	char dir[] = "/tmp/ma-test-XXXXXX", path[64], abs[64], buf[256];
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/notify", dir);
	fd = listen_on(path);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_true(notify_enabled());
	assert_int_equal(notify_send("READY=1\nSTATUS=kv Following", NULL), 0);
	next(fd, buf, sizeof buf);
	assert_string_equal(buf, "READY=1\nSTATUS=kv Following");
	close(fd);
	unlink(path);
	rmdir(dir);

	snprintf(abs, sizeof abs, "@ma-test-notify-%ld", (long)getpid());
	fd = listen_on(abs);
	setenv("NOTIFY_SOCKET", abs, 1);
	assert_int_equal(notify_send("STOPPING=1", NULL), 0);
	next(fd, buf, sizeof buf);
	assert_string_equal(buf, "STOPPING=1");
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog_env(void **state)
{
	char pid[32];

	(void)state;
	unsetenv("WATCHDOG_PID");
	unsetenv("WATCHDOG_USEC");
	assert_int_equal(notify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	assert_int_equal(notify_watchdog_usec(), 30000000);
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(notify_watchdog_usec(), 30000000);
	setenv("WATCHDOG_PID", "1", 1); /* meant for another process */
	assert_int_equal(notify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "30s", 1);
	assert_int_equal(notify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_USEC");
}

static int status_calls;

static void status_line(void *arg, char *buf, size_t size)
{
	(void)arg;
	status_calls++;
	snprintf(buf, size, "kv Following applied 7 lag 0");
}

static void test_timer_pace(void **state)
{
	char abs[64], buf[256];
	int fd, watchdogs = 0, statuses = 0, other = 0;
	struct event_base *base = event_base_new();
	struct timeval run = {0, 450 * 1000};

	(void)state;
	assert_non_null(base);
	snprintf(abs, sizeof abs, "@ma-test-timer-%ld", (long)getpid());
	fd = listen_on(abs);
	setenv("NOTIFY_SOCKET", abs, 1);
	setenv("WATCHDOG_USEC", "100000", 1); /* a ping every 50 ms */
	struct notify_timer *t = notify_timer_new(base, status_line, NULL);
	assert_non_null(t);
	event_base_loopexit(base, &run);
	event_base_dispatch(base);
	notify_timer_free(t);
	for (int i = 0; i < 100; i++) {
		next(fd, buf, sizeof buf);
		if (buf[0] == '\0')
			break;
		if (strcmp(buf, "WATCHDOG=1") == 0)
			watchdogs++;
		else if (strcmp(buf, "STATUS=kv Following applied 7 lag 0") ==
		         0)
			statuses++;
		else
			other++;
	}
	/* At once, then every 50 ms for 450 ms: 10, give or take a tick of
	 * a loaded machine. */
	assert_in_range(watchdogs, 6, 11);
	/* The status is asked once a second and sent once: the first tick
	 * (at once) only, in under a second. */
	assert_int_equal(status_calls, 1);
	assert_int_equal(statuses, 1);
	assert_int_equal(other, 0);
	close(fd);
	event_base_free(base);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_off_without_socket),
	    cmocka_unit_test(test_bad_socket_name),
	    cmocka_unit_test(test_path_and_abstract),
	    cmocka_unit_test(test_watchdog_env),
	    cmocka_unit_test(test_timer_pace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
