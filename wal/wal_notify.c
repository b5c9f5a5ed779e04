/* wal: notification glue — the Linux eventfd the writer signals for
 * same-process followers, and the inotify watch (with a polling fallback)
 * for readers following a log another process writes. The only wal file
 * that sleeps or polls. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "common/errors.h"
#include "wal/wal_log.h"
#include "wal/wal_reader.h"

int wal_log_notify_fd(struct wal_log *log, char *errmsg)
{
	int err;

	if (log->event_fd >= 0)
		return log->event_fd;
	log->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (log->event_fd < 0) {
		err = errno;
		return ma_errorf(errmsg, ma_error_from_errno(err),
		                 "eventfd for WAL %s: %s", log->dir,
		                 strerror(err));
	}
	return log->event_fd;
}

void wal_log_set_notify(struct wal_log *log, wal_notify_cb cb, void *arg)
{
	log->cb = cb;
	log->cb_arg = arg;
}

void wal_notify_signal(struct wal_log *log)
{
	uint64_t one = 1;

	/* A full counter (EAGAIN) already means "readable": nothing lost. */
	if (log->event_fd >= 0 &&
	    write(log->event_fd, &one, sizeof one) != sizeof one)
		(void)0;
	if (log->cb != NULL)
		log->cb(log->cb_arg, wal_log_last_index(log),
		        log->durable_index);
}

void wal_notify_close(struct wal_log *log)
{
	if (log->event_fd >= 0)
		close(log->event_fd);
	log->event_fd = -1;
}

void wal_notify_drain(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof buf) > 0)
		;
}

int wal_reader_watch_fd(struct wal_reader *r, char *errmsg)
{
	int fd, err;

	if (r->watch_fd >= 0)
		return r->watch_fd;
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0) {
		err = errno;
		return ma_errorf(errmsg, -1,
		                 "inotify unavailable (%s): poll %s every "
		                 "%d ms instead",
		                 strerror(err), r->dir, WAL_READER_POLL_MS);
	}
	if (inotify_add_watch(fd, r->dir,
	                      IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_TO |
	                          IN_CLOSE_WRITE | IN_DELETE_SELF) < 0) {
		err = errno;
		close(fd);
		return ma_errorf(errmsg, -1,
		                 "cannot watch %s (%s): poll every %d ms "
		                 "instead",
		                 r->dir, strerror(err), WAL_READER_POLL_MS);
	}
	r->watch_fd = fd;
	return fd;
}

void wal_reader_watch_close(struct wal_reader *r)
{
	if (r->watch_fd >= 0)
		close(r->watch_fd);
	r->watch_fd = -1;
}

int wal_reader_wait(struct wal_reader *r, int timeout_ms, char *errmsg)
{
	int fd = r->watch_fd;

	if (fd < 0 && !r->watch_failed) {
		fd = wal_reader_watch_fd(r, NULL);
		r->watch_failed = fd < 0;
	}
	if (fd >= 0) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (poll(&p, 1, timeout_ms) > 0)
			wal_notify_drain(fd);
	} else if (timeout_ms > 0) {
		int ms = timeout_ms < WAL_READER_POLL_MS ? timeout_ms
		                                         : WAL_READER_POLL_MS;
		struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

		nanosleep(&ts, NULL);
	}
	return wal_reader_refresh(r, errmsg);
}
