/* systemd's service notification protocol (sd_notify(3)), spoken
 * directly: a datagram of "KEY=VALUE\n" lines to the AF_UNIX socket named
 * by $NOTIFY_SOCKET (a path, or an abstract name when it starts with '@').
 * No libsystemd: the protocol is small and documented, and outside
 * systemd (NOTIFY_SOCKET unset) every call here is a no-op.
 *
 * notify.c is glue: it reads the environment and the clock, owns sockets
 * and a libevent timer. */
#ifndef MIRROR_AGENT_CLI_NOTIFY_H
#define MIRROR_AGENT_CLI_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

/* True when $NOTIFY_SOCKET names a socket to notify. */
bool notify_enabled(void);

/* Sends `state` ("READY=1", "STATUS=...", several lines joined by '\n')
 * in one datagram. Returns 0 (also when notification is off) or
 * MA_ERR_INVAL (NOTIFY_SOCKET neither a path nor '@name', or too long) /
 * MA_ERR_IO (socket or sendto failed) with errmsg (may be NULL) naming the
 * socket and the reason. */
int notify_send(const char *state, char *errmsg);

/* The watchdog interval systemd asks for (WatchdogSec= gives
 * $WATCHDOG_USEC, for this process when $WATCHDOG_PID is unset or our
 * pid), in microseconds; 0 when there is none. */
uint64_t notify_watchdog_usec(void);

/* Fills buf (size bytes, NUL-terminated) with a one-line status. */
typedef void notify_status_fn(void *arg, char *buf, size_t size);

/* A timer on base that sends WATCHDOG=1 every half watchdog interval
 * (when there is one) and, once a second, STATUS=<status_fn's line> when
 * the line changed (when status_fn is not NULL). Keeping the watchdog in
 * the event loop means a loop that hangs stops the pings and systemd
 * restarts the service. Returns NULL when notification is off or on
 * allocation failure (the service then runs unwatched). */
struct notify_timer *notify_timer_new(struct event_base *base,
                                      notify_status_fn *status_fn, void *arg);
/* Stops and frees the timer. NULL is fine. */
void notify_timer_free(struct notify_timer *t);

#endif
