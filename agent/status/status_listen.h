/* status_listen: what the process's HTTP listeners (the read API,
 * agent/readapi/, and serve's metrics listener, agent/serve/
 * serve_metrics.c) share: the rule that a listener without a token stays
 * on loopback, and the accept guard that keeps an evhttp listener from
 * spinning when accept() fails.
 *
 * libevent glue: the guard owns a timer on the listener's loop. */
#ifndef MIRROR_AGENT_STATUS_LISTEN_H
#define MIRROR_AGENT_STATUS_LISTEN_H

#include <stdbool.h>
#include <stdint.h>

struct event;
struct event_base;
struct evconnlistener;

/* How long accepting pauses after accept() fails (descriptors or memory
 * exhausted). */
#define STATUS_LISTEN_PAUSE_MS 1000

/* True when host is a numeric loopback address: 127.0.0.0/8, ::1 or
 * ::ffff:127.0.0.0/104. Names (even "localhost") are not. */
bool status_listen_host_is_loopback(const char *host);

/* The accept guard of one evconnlistener (evhttp's, from
 * evhttp_bound_socket_get_listener). The listener accepts only while
 * neither its owner holds it (a connection cap, a batch being counted)
 * nor an accept() error paused it: libevent only logs a failed accept()
 * while the listening socket stays readable, so with descriptors
 * exhausted (EMFILE) the loop would spin at full CPU. The guard then
 * pauses accepting for STATUS_LISTEN_PAUSE_MS at a time, and says so
 * once (log_warn, prefixed with `what`). */
struct status_listen_guard {
	struct evconnlistener *listener;
	struct event *retry;
	const char *what; /* the log's prefix, e.g. "read API"; static */
	bool held;        /* by the owner: status_listen_guard_hold */
	bool paused;      /* by an accept() error, until the retry timer */
	uint64_t errors;  /* accept() failures so far */
	uint64_t last_error_ms; /* of the latest, to tell episodes apart */
};

/* Installs the guard on listener l of base (its error callback: a
 * listener has one). g must stay where it is until
 * status_listen_guard_free. Returns 0 or MA_ERR_NOMEM (errmsg). At most
 * STATUS_LISTEN_GUARDS_MAX guards exist at once in a process
 * (MA_ERR_LIMIT beyond). */
#define STATUS_LISTEN_GUARDS_MAX 8
int status_listen_guard_init(struct status_listen_guard *g,
                             struct event_base *base, struct evconnlistener *l,
                             const char *what, char *errmsg);
/* Holds (true) or releases (false) the listener for the owner; a release
 * resumes accepting unless an accept() error pause is running. */
void status_listen_guard_hold(struct status_listen_guard *g, bool hold);
/* Before the listener is freed. A guard never initialised (all zero) is
 * fine. */
void status_listen_guard_free(struct status_listen_guard *g);

#endif
