/* status_listen: the HTTP listeners' loopback rule and accept guard (see
 * status_listen.h). Glue: a libevent timer. */
#include "agent/status/status_listen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

bool status_listen_host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

/* The guards of this process, to find one from its evconnlistener: the
 * listener's callback argument is evhttp's (evhttp registered its own
 * accept callback), so the error callback's argument is not ours. */
static struct status_listen_guard *guards[STATUS_LISTEN_GUARDS_MAX];

static void apply(struct status_listen_guard *g)
{
	if (g->held || g->paused)
		evconnlistener_disable(g->listener);
	else
		evconnlistener_enable(g->listener);
}

/* A quiet minute between accept() failures ends an episode. */
#define STATUS_LISTEN_EPISODE_MS 60000

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct status_listen_guard *g = arg;

	(void)fd;
	(void)what;
	g->paused = false;
	apply(g);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct status_listen_guard *g = NULL;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = clock_tv_from_ms(STATUS_LISTEN_PAUSE_MS);
	uint64_t now;

	(void)arg; /* evhttp's */
	for (size_t i = 0; i < STATUS_LISTEN_GUARDS_MAX && g == NULL; i++)
		if (guards[i] != NULL && guards[i]->listener == l)
			g = guards[i];
	if (g == NULL) {
		/* Not ours (cannot happen): stop it spinning the loop. */
		log_error("HTTP listener: accept: %s; listener stopped",
		          evutil_socket_error_to_string(err));
		evconnlistener_disable(l);
		return;
	}
	/* Said once per episode: a failure after a quiet minute (the pause
	 * retries every second while it lasts) starts a new one. */
	now = clock_mono_ms();
	if (g->errors++ == 0 ||
	    now - g->last_error_ms > STATUS_LISTEN_EPISODE_MS)
		log_warn("%s: accept: %s: cannot accept connections; pausing "
		         "it for %d ms at a time while this lasts (raise the "
		         "descriptor limit, LimitNOFILE= in the unit, if this "
		         "repeats)",
		         g->what, evutil_socket_error_to_string(err),
		         STATUS_LISTEN_PAUSE_MS);
	g->last_error_ms = now;
	g->paused = true;
	apply(g);
	if (evtimer_add(g->retry, &tv) != 0) {
		/* Better a busy listener than a dead one. */
		log_error("%s: cannot schedule accepting again; accepting "
		          "at once",
		          g->what);
		g->paused = false;
		apply(g);
	}
}

int status_listen_guard_init(struct status_listen_guard *g,
                             struct event_base *base, struct evconnlistener *l,
                             const char *what, char *errmsg)
{
	size_t slot = STATUS_LISTEN_GUARDS_MAX;

	memset(g, 0, sizeof *g);
	for (size_t i = 0; i < STATUS_LISTEN_GUARDS_MAX; i++)
		if (guards[i] == NULL) {
			slot = i;
			break;
		}
	if (slot == STATUS_LISTEN_GUARDS_MAX)
		return ma_errorf(
		    errmsg, MA_ERR_LIMIT,
		    "%s: more than %d HTTP listeners in one process", what,
		    STATUS_LISTEN_GUARDS_MAX);
	g->retry = evtimer_new(base, on_retry, g);
	if (g->retry == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "%s: out of memory",
		                 what);
	g->listener = l;
	g->what = what;
	guards[slot] = g;
	evconnlistener_set_error_cb(l, on_accept_error);
	return 0;
}

void status_listen_guard_hold(struct status_listen_guard *g, bool hold)
{
	if (g->held == hold)
		return;
	g->held = hold;
	apply(g);
}

void status_listen_guard_free(struct status_listen_guard *g)
{
	for (size_t i = 0; i < STATUS_LISTEN_GUARDS_MAX; i++)
		if (guards[i] == g)
			guards[i] = NULL;
	if (g->listener != NULL)
		evconnlistener_set_error_cb(g->listener, NULL);
	if (g->retry != NULL)
		event_free(g->retry);
	memset(g, 0, sizeof *g);
}
