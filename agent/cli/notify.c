/* sd_notify protocol (agent/cli/notify.h). Glue: environment, sockets, a
 * libevent timer. */
#include "agent/cli/notify.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"

bool notify_enabled(void)
{
	const char *e = getenv("NOTIFY_SOCKET");
	return e != NULL && (e[0] == '/' || e[0] == '@');
}

int notify_send(const char *state, char *errmsg)
{
	const char *name = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len;
	socklen_t salen;
	ssize_t n;
	int fd;

	if (name == NULL || name[0] == '\0')
		return 0;
	len = strlen(name);
	if ((name[0] != '/' && name[0] != '@') || len >= sizeof sa.sun_path)
		return ma_errorf(
		    errmsg, MA_ERR_INVAL,
		    "NOTIFY_SOCKET=%s: neither an absolute path nor "
		    "an abstract '@name' of at most %zu bytes; "
		    "check the unit's Type= and the environment",
		    name, sizeof sa.sun_path - 1);
	memcpy(sa.sun_path, name, len);
	/* An abstract name has a NUL first and no terminator: its length is
	 * the address length. */
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	                    (name[0] == '/' ? 1 : 0));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int err = errno;
		return ma_errorf(errmsg, MA_ERR_IO, "notify %s: socket: %s",
		                 name, strerror(err));
	}
	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	           (const struct sockaddr *)&sa, salen);
	if (n < 0) {
		int err = errno;
		close(fd);
		return ma_errorf(errmsg, MA_ERR_IO,
		                 "notify %s: sendto: %s (is systemd's notify "
		                 "socket gone?)",
		                 name, strerror(err));
	}
	close(fd);
	return 0;
}

uint64_t notify_watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	char *end;
	unsigned long long v;

	if (usec == NULL)
		return 0;
	if (pid != NULL) {
		errno = 0;
		long p = strtol(pid, &end, 10);
		if (errno != 0 || *end != '\0' || p != (long)getpid())
			return 0;
	}
	errno = 0;
	v = strtoull(usec, &end, 10);
	if (errno != 0 || *end != '\0' || end == usec)
		return 0;
	return v;
}

struct notify_timer {
	struct event *ev;
	notify_status_fn *status_fn;
	void *arg;
	uint64_t tick_us;      /* timer period */
	uint64_t watchdog_us;  /* 0: no watchdog */
	uint64_t since_status; /* microseconds since the last status check */
	char last_status[512];
	bool warned;
};

static void send_or_warn(struct notify_timer *t, const char *state)
{
	char errmsg[MA_ERRMSG_SIZE];

	if (notify_send(state, errmsg) != 0 && !t->warned) {
		/* Once: a vanished socket would otherwise log every tick. */
		log_warn("%s", errmsg);
		t->warned = true;
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct notify_timer *t = arg;

	(void)fd;
	(void)what;
	if (t->watchdog_us != 0)
		send_or_warn(t, "WATCHDOG=1");
	t->since_status += t->tick_us;
	if (t->status_fn != NULL && t->since_status >= 1000000) {
		char line[sizeof t->last_status], msg[sizeof line + 8];
		t->since_status = 0;
		t->status_fn(t->arg, line, sizeof line);
		if (strcmp(line, t->last_status) != 0) {
			snprintf(msg, sizeof msg, "STATUS=%s", line);
			send_or_warn(t, msg);
			memcpy(t->last_status, line, sizeof line);
		}
	}
}

struct notify_timer *notify_timer_new(struct event_base *base,
                                      notify_status_fn *status_fn, void *arg)
{
	struct notify_timer *t;
	struct timeval tv;

	if (!notify_enabled())
		return NULL;
	t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	t->status_fn = status_fn;
	t->arg = arg;
	t->watchdog_us = notify_watchdog_usec();
	/* Half the watchdog interval (systemd's advice), at most a second
	 * so STATUS= stays current. */
	t->tick_us = 1000000;
	if (t->watchdog_us != 0 && t->watchdog_us / 2 < t->tick_us)
		t->tick_us = t->watchdog_us / 2 > 0 ? t->watchdog_us / 2 : 1;
	t->since_status = 1000000; /* the first tick sends STATUS= */
	t->ev = event_new(base, -1, EV_PERSIST, on_tick, t);
	tv.tv_sec = (time_t)(t->tick_us / 1000000);
	tv.tv_usec = (suseconds_t)(t->tick_us % 1000000);
	if (t->ev == NULL || event_add(t->ev, &tv) != 0) {
		if (t->ev != NULL)
			event_free(t->ev);
		free(t);
		return NULL;
	}
	/* At once, so that READY=1 is followed by a first status and ping
	 * without waiting a period. */
	event_active(t->ev, EV_TIMEOUT, 0);
	return t;
}

void notify_timer_free(struct notify_timer *t)
{
	if (t == NULL)
		return;
	event_free(t->ev);
	free(t);
}
