/* The read API (agent/readapi/read_api.h): libevent evhttp glue. The path
 * and database name are checked here, query strings by the pure parser in
 * read_api_query.c; requests are answered from the follower's appliers and
 * status, and rendered as JSON or Prometheus text. Values and keys are binary
 * in the store, so JSON carries them in base64. */
#include "agent/readapi/read_api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>

#include "agent/apply/applier.h"
#include "agent/follow/follow.h"
#include "agent/follow/mirror_state.h"
#include "agent/readapi/read_api_query.h"
#include "agent/status/status.h"
#include "agent/status/status_listen.h"
#include "agent/status/status_token.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "common/parse.h"
#include "kv/kv_command.h"

#define ADOPT_BATCH 16  /* connections accepted before counting them */
#define LAG_SAMPLES 300 /* status page: 5 min at one a second */

/* A request parked until its database applied min_index. */
struct waiter {
	struct read_api *api;
	struct evhttp_request *req;
	struct event *timer;
	struct read_api_query q;
	struct conn *conn;          /* its connection (NULL: not tracked) */
	struct event *watch;        /* EOF on the connection while parked */
	struct waiter *prev, *next; /* per-database list */
};

/* One accepted connection. evhttp (libevent 2.1) has no hook at accept
 * time but the bufferevent factory; the record made there is adopted
 * right after evhttp set up the connection (adopt_cb), which counts it
 * against the caps and arms its request deadline. */
struct conn {
	struct read_api *api;
	struct bufferevent *bev;
	struct evhttp_connection *evcon;
	struct evhttp_request *cur; /* being answered (deadline off) */
	struct sockaddr_storage peer;
	struct event *deadline;
	struct conn *prev, *next;
};

struct read_api {
	struct event_base *base;
	struct follow *f;
	struct evhttp *http;
	uint16_t port;
	struct waiter *waiters[FOLLOW_MAX_DATABASES];
	size_t nwaiters;
	struct read_api_options o; /* limits, with defaults filled in */
	bool auth;                 /* any token configured */
	char status_sha[65];
	char db_sha[FOLLOW_MAX_DATABASES][65]; /* "": no token */
	/* The options' source strings, copied: the caller's may not live
	 * as long as the API. */
	char src[READ_API_SOURCES_MAX][128];
	const char *srcp[READ_API_SOURCES_MAX];
	struct conn *conns, *pending;
	size_t nconns, npending;
	/* Accepting: held until adopt_cb ran, paused after an accept()
	 * error (status_listen.h). */
	struct status_listen_guard guard;
	uint64_t refused; /* connections refused by the caps */
	uint64_t evicted; /* idle connections closed to make room */
	struct event *adopt;
	/* Lag samples for the status page: one per second per database, the
	 * last LAG_SAMPLES of them. */
	struct event *sampler;
	uint64_t lag[FOLLOW_MAX_DATABASES][LAG_SAMPLES];
	size_t lag_next, lag_n;
};

/* ---- JSON and text output ---- */

static void json_str(struct evbuffer *b, const char *s)
{
	evbuffer_add(b, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			evbuffer_add_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			evbuffer_add_printf(b, "\\u%04x", c);
		else
			evbuffer_add(b, s, 1);
	}
	evbuffer_add(b, "\"", 1);
}

static void json_b64(struct evbuffer *b, const uint8_t *p, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char out[4 * 256];
	size_t n = 0;

	evbuffer_add(b, "\"", 1);
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[n++] = tab[(v >> 18) & 63];
		out[n++] = tab[(v >> 12) & 63];
		out[n++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		out[n++] = i + 2 < len ? tab[v & 63] : '=';
		if (n == sizeof out) {
			evbuffer_add(b, out, n);
			n = 0;
		}
	}
	evbuffer_add(b, out, n);
	evbuffer_add(b, "\"", 1);
}

static void send_json(struct evhttp_request *req, int code,
                      struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evbuffer_add(body, "\n", 1);
	evhttp_send_reply(req, code, NULL, body);
}

/* {"error": what, "message": msg}: every failure looks like this. */
static void send_error(struct evhttp_request *req, int code, const char *what,
                       const char *msg)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add_printf(b, "{\"error\":");
	json_str(b, what);
	if (msg != NULL) {
		evbuffer_add_printf(b, ",\"message\":");
		json_str(b, msg);
	}
	evbuffer_add_printf(b, "}");
	send_json(req, code, b);
	evbuffer_free(b);
}

/* ---- figures ---- */

static uint64_t lag_entries(const struct mirror_status *st, uint64_t applied)
{
	return st->source_commit_index > applied
	           ? st->source_commit_index - applied
	           : 0;
}

/* The fields every database answer ends with. */
static void add_position(struct read_api *api, struct evbuffer *b, size_t db)
{
	const struct mirror_status *st = follow_status(api->f, db);
	uint64_t applied = applier_applied_index(follow_applier(api->f, db));

	evbuffer_add_printf(b,
	                    ",\"applied_index\":%" PRIu64
	                    ",\"source_commit_index\":%" PRIu64,
	                    applied, st->source_commit_index);
	/* Without current figures the lag is unknown (null), never 0. */
	if (st->lag_known)
		evbuffer_add_printf(
		    b, ",\"lag_entries\":%" PRIu64 ",\"lag_ms\":%" PRIu64,
		    lag_entries(st, applied), st->lag_ms);
	else
		evbuffer_add_printf(b, ",\"lag_entries\":null,\"lag_ms\":null");
	if (st->has_contact)
		evbuffer_add_printf(b, ",\"last_contact_ms\":%" PRIu64,
		                    st->last_contact_age_ms);
	else
		evbuffer_add_printf(b, ",\"last_contact_ms\":null");
	evbuffer_add_printf(b, ",\"state\":\"%s\"}",
	                    mirror_state_name(st->state));
}

/* ---- answers ---- */

struct scan_out {
	uint64_t max_response;
	struct evbuffer *b;
	const struct read_api_query *q;
	uint64_t count;
	bool truncated;
	bool first;
	const uint8_t *last_key; /* of the last item written */
	size_t last_len;
};

static int scan_item(void *arg, const struct applier_item *it)
{
	struct scan_out *o = arg;

	if (o->count == o->q->limit || evbuffer_get_length(o->b) +
	                                       it->value_len * 4 / 3 +
	                                       it->key_len * 4 / 3 >
	                                   o->max_response) {
		o->truncated = true;
		return 1;
	}
	evbuffer_add_printf(o->b, "%s{\"key\":", o->first ? "" : ",");
	json_b64(o->b, it->key, it->key_len);
	evbuffer_add_printf(o->b, ",\"value\":");
	json_b64(o->b, it->value, it->value_len);
	evbuffer_add_printf(o->b, ",\"version\":%" PRIu64 "}", it->version);
	o->first = false;
	o->count++;
	o->last_key = it->key;
	o->last_len = it->key_len;
	return 0;
}

struct get_out {
	struct evbuffer *b;
};

static int get_item(void *arg, const struct applier_item *it)
{
	struct get_out *o = arg;

	evbuffer_add_printf(o->b, ",\"value\":");
	json_b64(o->b, it->value, it->value_len);
	evbuffer_add_printf(o->b, ",\"version\":%" PRIu64, it->version);
	return 0;
}

/* Answers q now (its min_index is satisfied or absent). */
static void answer(struct read_api *api, struct evhttp_request *req,
                   const struct read_api_query *q)
{
	struct applier *a = follow_applier(api->f, q->db);
	const char *name = follow_database_name(api->f, q->db);
	char errmsg[MA_ERRMSG_SIZE];
	struct applier_query aq = {0};
	struct applier_result res;
	struct evbuffer *b = evbuffer_new();
	int rc;

	if (b == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	aq.ns = q->ns;
	aq.ns_len = q->ns_len;
	aq.key = q->key;
	aq.key_len = q->key_len;
	evbuffer_add_printf(b, "{\"db\":\"%s\"", name);
	if (q->op == READ_API_OP_FINGERPRINT) {
		aq.op = APPLIER_QUERY_FINGERPRINT;
		rc = applier_query(a, &aq, NULL, NULL, &res, errmsg);
		if (rc == 0)
			evbuffer_add_printf(
			    b,
			    ",\"fingerprint\":\"%08" PRIx32
			    "\",\"count\":%" PRIu64 ",\"revision\":%" PRIu64,
			    res.fingerprint, res.keys, res.revision);
	} else if (q->op == READ_API_OP_GET) {
		struct get_out o = {b};
		aq.op = APPLIER_QUERY_GET;
		evbuffer_add_printf(b, ",\"ns\":\"%s\",\"key\":", q->ns);
		json_b64(b, q->key, q->key_len);
		evbuffer_add_printf(b, ",\"encoding\":\"base64\"");
		rc = applier_query(a, &aq, get_item, &o, &res, errmsg);
	} else {
		struct scan_out o = {
		    api->o.max_response, b, q, 0, false, true, NULL, 0};
		aq.op = APPLIER_QUERY_SCAN;
		aq.limit = 0; /* scan_item stops at q->limit */
		/* The store seeks to after instead of walking from the
		 * prefix: one seek per page. */
		if (q->has_after) {
			aq.after = q->after;
			aq.after_len = q->after_len;
		}
		evbuffer_add_printf(b, ",\"ns\":\"%s\",\"prefix\":", q->ns);
		json_b64(b, q->key, q->key_len);
		evbuffer_add_printf(b, ",\"encoding\":\"base64\",\"items\":[");
		rc = applier_query(a, &aq, scan_item, &o, &res, errmsg);
		if (rc == 0) {
			evbuffer_add_printf(
			    b, "],\"count\":%" PRIu64 ",\"truncated\":%s",
			    o.count, o.truncated ? "true" : "false");
			if (o.truncated && o.last_key != NULL) {
				evbuffer_add_printf(b, ",\"next_after\":");
				json_b64(b, o.last_key, o.last_len);
			}
		}
	}
	if (rc == 0) {
		add_position(api, b, q->db);
		send_json(req, 200, b);
	} else if (rc == MA_ERR_NOTFOUND) {
		evbuffer_add_printf(b, ",\"error\":\"not found\"");
		add_position(api, b, q->db);
		send_json(req, 404, b);
	} else if (rc == MA_ERR_INVAL) {
		send_error(req, 400, "bad request", errmsg);
	} else if (rc == MA_ERR_CONFIG) {
		send_error(req, 501, "no applier", errmsg);
	} else {
		send_error(req, 503, "applier unavailable", errmsg);
	}
	evbuffer_free(b);
}

/* ---- waiters ---- */

static struct conn *conn_of(struct read_api *api, struct evhttp_request *req);

static void waiter_unlink(struct waiter *w)
{
	struct read_api *api = w->api;

	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		api->waiters[w->q.db] = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	api->nwaiters--;
	event_free(w->timer);
	if (w->watch != NULL)
		event_free(w->watch);
	free(w);
}

static void conn_drop(struct conn *c);

/* The parked request's socket is readable: a client that hung up (EOF,
 * or a reset) ends its wait now, connection and all; anything else (a
 * pipelined request) is evhttp's business once the answer is out. */
static void on_client_gone(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;
	char b;
	ssize_t n;

	(void)what;
	n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		event_add(w->watch, NULL);
		return;
	}
	if (n > 0 || w->conn == NULL)
		return;
	/* conn_drop -> conn_unlink -> drop_waiters_of frees w. */
	conn_drop(w->conn);
}

static void on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;
	struct read_api *api = w->api;
	struct evbuffer *b = evbuffer_new();

	(void)fd;
	(void)what;
	if (b == NULL) {
		evhttp_send_error(w->req, 500, NULL);
	} else {
		evbuffer_add_printf(
		    b,
		    "{\"error\":\"timeout\",\"message\":\"index %" PRIu64
		    " not applied within %" PRIu64 " ms\",\"db\":\"%s\","
		    "\"min_index\":%" PRIu64,
		    w->q.min_index, w->q.timeout_ms,
		    follow_database_name(api->f, w->q.db), w->q.min_index);
		add_position(api, b, w->q.db);
		send_json(w->req, 504, b);
		evbuffer_free(b);
	}
	waiter_unlink(w);
}

static void park(struct read_api *api, struct evhttp_request *req,
                 const struct read_api_query *q)
{
	struct timeval tv = {(time_t)(q->timeout_ms / 1000),
	                     (suseconds_t)(q->timeout_ms % 1000) * 1000};
	struct waiter *w;

	if (api->nwaiters >= api->o.max_waiters) {
		send_error(
		    req, 503, "busy",
		    "too many requests waiting for min_index; retry later");
		return;
	}
	w = calloc(1, sizeof *w);
	if (w == NULL) {
		send_error(req, 503, "busy", "out of memory");
		return;
	}
	w->timer = evtimer_new(api->base, on_wait_timeout, w);
	if (w->timer == NULL) {
		free(w);
		send_error(req, 503, "busy", "out of memory");
		return;
	}
	w->api = api;
	w->req = req;
	w->q = *q;
	w->conn = conn_of(api, req);
	/* evhttp reads nothing while a request is being answered, so a
	 * client that gives up (its own deadline shorter than timeout_ms)
	 * would go unnoticed until the timeout: watch its socket. */
	if (w->conn != NULL && w->conn->bev != NULL) {
		evutil_socket_t fd = bufferevent_getfd(w->conn->bev);
		if (fd >= 0)
			w->watch = event_new(api->base, fd, EV_READ,
			                     on_client_gone, w);
		if (w->watch != NULL && event_add(w->watch, NULL) != 0) {
			event_free(w->watch);
			w->watch = NULL;
		}
	}
	w->next = api->waiters[q->db];
	if (w->next != NULL)
		w->next->prev = w;
	api->waiters[q->db] = w;
	api->nwaiters++;
	if (evtimer_add(w->timer, &tv) != 0)
		log_error("read API: cannot arm a min_index timer");
	/* The connection's inactivity timeout (body_timeout) must not cut
	 * a request that waits longer by design. */
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	if (evcon != NULL) {
		struct timeval ct =
		    clock_tv_from_ms(q->timeout_ms + api->o.body_timeout_ms);
		evhttp_connection_set_timeout_tv(evcon, &ct);
	}
}

void read_api_applied(struct read_api *api, size_t db, uint64_t applied_index)
{
	struct applier *a;
	struct waiter *w, *next;

	if (api == NULL || db >= FOLLOW_MAX_DATABASES)
		return;
	a = follow_applier(api->f, db);
	for (w = api->waiters[db]; w != NULL; w = next) {
		next = w->next;
		if (a != NULL && applier_error(a) != NULL)
			send_error(w->req, 503, "applier unavailable",
			           applier_error(a));
		else if (w->q.min_index <= applied_index)
			answer(api, w->req, &w->q);
		else
			continue;
		waiter_unlink(w);
	}
}

/* ---- status and metrics ---- */

/* Both render the one status model (agent/status/status.h), built the same
 * way as the status file. */
static void send_status(struct read_api *api, struct evhttp_request *req,
                        bool prometheus)
{
	struct status_report *r = malloc(sizeof *r);
	char *text = NULL;
	size_t len = 0;

	if (r != NULL) {
		status_report_from_follow(api->f, (long)getpid(),
		                          (int64_t)clock_wall_ms(), r);
		if (prometheus)
			status_process_read(&r->process);
		text = prometheus ? status_prometheus_format(r, &len)
		                  : status_json_format(r, &len);
		free(r);
	}
	if (text == NULL) {
		send_error(req, 500, "out of memory",
		           "cannot render the status");
		return;
	}
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evbuffer_new();
	if (b == NULL || evbuffer_add(b, text, len) != 0) {
		if (b != NULL)
			evbuffer_free(b);
		free(text);
		evhttp_send_error(req, 500, NULL);
		return;
	}
	free(text);
	evhttp_add_header(h, "Content-Type",
	                  prometheus ? "text/plain; version=0.0.4"
	                             : "application/json");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, 200, NULL, b);
	evbuffer_free(b);
}

/* ---- health ---- */

/* Database db in the status model's terms (the figures /status shows). */
static void database_status(struct read_api *api, size_t db,
                            struct status_database *d)
{
	/* The status model's own builder: the endpoints' positions too
	 * (fresher_source below). */
	status_database_from_follow(api->f, db, d);
}

static void add_u64_or_null(struct evbuffer *b, const char *key, bool known,
                            uint64_t v)
{
	if (known)
		evbuffer_add_printf(b, ",\"%s\":%" PRIu64, key, v);
	else
		evbuffer_add_printf(b, ",\"%s\":null", key);
}

/* /healthz: answered by the follower's own loop, so an answer proves the
 * loop turns; 503 when no database can do its job any more (every one
 * in Error: a restart or an operator is needed). */
static void send_healthz(struct read_api *api, struct evhttp_request *req)
{
	size_t n = follow_database_count(api->f), failed = 0;
	struct evbuffer *b = evbuffer_new();

	if (b == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	for (size_t i = 0; i < n; i++)
		failed += follow_status(api->f, i)->state == MIRROR_ERROR;
	if (n > 0 && failed == n) {
		evbuffer_add_printf(b, "{\"error\":\"unhealthy\","
		                       "\"message\":");
		json_str(b, "every database is in Error: see /status");
	} else {
		evbuffer_add_printf(b, "{\"status\":\"ok\"");
	}
	evbuffer_add_printf(b, ",\"databases\":%zu,\"in_error\":%zu}", n,
	                    failed);
	send_json(req, n > 0 && failed == n ? 503 : 200, b);
	evbuffer_free(b);
}

/* One database's freshness figures, for /readyz and a stale refusal. */
static void add_freshness(struct evbuffer *b, const struct status_database *d)
{
	uint64_t stale = 0;
	bool known = status_database_staleness(d, &stale);

	evbuffer_add_printf(b, "\"db\":");
	json_str(b, d->database);
	evbuffer_add_printf(b, ",\"state\":\"%s\"",
	                    mirror_state_name(d->state));
	add_u64_or_null(b, "staleness_ms", known, stale);
	add_u64_or_null(b, "lag_ms", d->lag_known, d->lag_ms);
	add_u64_or_null(b, "last_contact_ms", d->has_contact,
	                d->last_contact_ms);
	evbuffer_add_printf(b, ",\"reason\":");
	json_str(b, d->error);
	/* Issue 8: which source is fresher, when one is known to be. */
	size_t k;
	if (status_database_fresher_source(d, &k)) {
		evbuffer_add_printf(b, ",\"fresher_source\":{\"endpoint\":");
		json_str(b, d->sources[k].endpoint);
		evbuffer_add_printf(b, ",\"commit_index\":%" PRIu64 "}",
		                    d->sources[k].commit_index);
	} else {
		evbuffer_add_printf(b, ",\"fresher_source\":null");
	}
}

/* /readyz: 200 when every database is Following with current figures,
 * else 503 naming each database that is not. */
static void send_readyz(struct read_api *api, struct evhttp_request *req)
{
	size_t n = follow_database_count(api->f), bad = 0;
	struct evbuffer *b = evbuffer_new();
	struct status_database d;

	if (b == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add_printf(b, "{\"not_ready\":[");
	for (size_t i = 0; i < n; i++) {
		database_status(api, i, &d);
		if (status_database_ready(&d))
			continue;
		evbuffer_add_printf(b, bad ? ",{" : "{");
		add_freshness(b, &d);
		evbuffer_add_printf(b, "}");
		bad++;
	}
	evbuffer_add_printf(b, "],\"databases\":%zu", n);
	if (bad > 0)
		evbuffer_add_printf(b, ",\"error\":\"not ready\"}");
	else
		evbuffer_add_printf(b, ",\"status\":\"ready\"}");
	send_json(req, bad > 0 ? 503 : 200, b);
	evbuffer_free(b);
}

/* A read with max_staleness: true (and a 503 sent) when the database is
 * staler than asked or cannot say how stale it is. */
static bool refuse_stale(struct read_api *api, struct evhttp_request *req,
                         const struct read_api_query *q)
{
	struct status_database d;
	uint64_t stale = 0;
	char msg[200];
	struct evbuffer *b;

	if (!q->has_max_staleness)
		return false;
	database_status(api, q->db, &d);
	if (status_database_staleness(&d, &stale) &&
	    stale <= q->max_staleness_ms)
		return false;
	if (status_database_staleness(&d, &stale))
		snprintf(msg, sizeof msg,
		         "the mirror may be %" PRIu64
		         " ms behind the source, more than max_staleness "
		         "%" PRIu64 " ms",
		         stale, q->max_staleness_ms);
	else
		snprintf(msg, sizeof msg,
		         "the mirror has no current figures from the source "
		         "(state %s): it cannot bound its staleness",
		         mirror_state_name(d.state));
	b = evbuffer_new();
	if (b == NULL) {
		evhttp_send_error(req, 500, NULL);
		return true;
	}
	evbuffer_add_printf(b, "{\"error\":\"stale\",\"message\":");
	json_str(b, msg);
	evbuffer_add_printf(b, ",\"max_staleness\":%" PRIu64 ",",
	                    q->max_staleness_ms);
	add_freshness(b, &d);
	evbuffer_add_printf(b, "}");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
	                  "1");
	send_json(req, 503, b);
	evbuffer_free(b);
	return true;
}

/* ---- connections: caps and request deadlines ---- */

static bool same_address(const struct sockaddr_storage *a,
                         const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		              &((const struct sockaddr_in6 *)b)->sin6_addr,
		              sizeof(struct in6_addr)) == 0;
	return false;
}

/* The connection of c goes away: its parked requests go with it at once,
 * not at their timeout (a client that gave up -- its own deadline
 * shorter than timeout_ms -- would otherwise hold a waiter slot, up to
 * http_max_waiters of them, for as long as 60 s). A request evhttp
 * already detached from the closed connection (EOF while parked) is
 * ours to free; one still on it is freed by evhttp with the
 * connection. */
static void drop_waiters_of(struct conn *c)
{
	struct read_api *api = c->api;

	for (size_t db = 0; db < FOLLOW_MAX_DATABASES; db++) {
		struct waiter *w, *next;
		for (w = api->waiters[db]; w != NULL; w = next) {
			next = w->next;
			if (w->conn != c)
				continue;
			if (evhttp_request_get_connection(w->req) == NULL)
				evhttp_request_free(w->req);
			log_debug(
			    "read API: a client waiting for index %" PRIu64
			    " closed its connection; its wait ends",
			    w->q.min_index);
			waiter_unlink(w);
		}
	}
}

static void conn_unlink(struct conn *c)
{
	struct read_api *api = c->api;

	drop_waiters_of(c);

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		api->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	api->nconns--;
	if (c->deadline != NULL)
		event_free(c->deadline);
	free(c);
}

/* evhttp freed the connection. */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	conn_unlink(arg);
}

/* Closes c's connection ourselves: forget it first, so that evhttp's
 * close callback does not find it. */
static void conn_drop(struct conn *c)
{
	struct evhttp_connection *evcon = c->evcon;

	evhttp_connection_set_closecb(evcon, NULL, NULL);
	conn_unlink(c);
	evhttp_connection_free(evcon);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	log_debug("read API: a client sent no complete request within %" PRIu64
	          " ms; closing its connection",
	          c->api->o.header_timeout_ms);
	conn_drop(c);
}

static void conn_arm(struct conn *c)
{
	struct timeval tv = clock_tv_from_ms(c->api->o.header_timeout_ms);

	if (event_add(c->deadline, &tv) != 0)
		log_error("read API: cannot arm a request deadline");
}

/* The answer to an over-cap client, written straight to the socket
 * (best effort: the connection closes right after). */
static void refuse_conn(int fd, const char *why)
{
	char buf[512];
	char body[256];
	int blen = snprintf(body, sizeof body,
	                    "{\"error\":\"busy\",\"message\":\"%s\"}\n", why);
	int n = snprintf(buf, sizeof buf,
	                 "HTTP/1.1 503 Service Unavailable\r\n"
	                 "Content-Type: application/json\r\n"
	                 "Retry-After: 1\r\nConnection: close\r\n"
	                 "Content-Length: %d\r\n\r\n%s",
	                 blen, body);
	if (n > 0 && (size_t)n < sizeof buf &&
	    send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("read API: cannot tell a refused client: %s",
		          strerror(errno));
}

static void adopt_cb(evutil_socket_t unused, short what, void *arg)
{
	struct read_api *api = arg;
	struct conn *c;

	(void)unused;
	(void)what;
	while ((c = api->pending) != NULL) {
		void *cbarg = NULL;
		socklen_t sl = sizeof c->peer;
		int fd = bufferevent_getfd(c->bev);
		size_t same = 0;

		api->pending = c->next;
		api->npending--;
		bufferevent_getcb(c->bev, NULL, NULL, NULL, &cbarg);
		c->evcon = cbarg;
		if (fd < 0 || c->evcon == NULL ||
		    getpeername(fd, (struct sockaddr *)&c->peer, &sl) != 0) {
			free(c); /* not set up by evhttp: nothing to track */
			continue;
		}
		c->deadline = evtimer_new(api->base, on_deadline, c);
		for (struct conn *o = api->conns; o != NULL; o = o->next)
			if (same_address(&o->peer, &c->peer))
				same++;
		/* Link first: conn_drop() unlinks. */
		c->prev = NULL;
		c->next = api->conns;
		if (c->next != NULL)
			c->next->prev = c;
		api->conns = c;
		api->nconns++;
		/* At the total cap the oldest connection that has not sent
		 * a complete request makes room: many idle or slow clients
		 * (from many addresses) cannot lock everyone out, while
		 * requests being answered are never cut. */
		if (c->deadline != NULL && same < api->o.max_per_address &&
		    api->nconns > api->o.max_connections) {
			struct conn *old = NULL;
			for (struct conn *o = c->next; o != NULL; o = o->next)
				if (o->cur == NULL)
					old = o; /* the list is newest first */
			if (old != NULL) {
				api->evicted++;
				conn_drop(old);
			}
		}
		if (c->deadline == NULL ||
		    api->nconns > api->o.max_connections ||
		    same >= api->o.max_per_address) {
			api->refused++;
			refuse_conn(fd, c->deadline == NULL ? "out of memory"
			                : api->nconns > api->o.max_connections
			                    ? "too many connections; "
			                      "retry later"
			                    : "too many connections from "
			                      "your address; retry later");
			conn_drop(c);
			continue;
		}
		evhttp_connection_set_closecb(c->evcon, on_conn_close, c);
		conn_arm(c);
	}
	/* Accepting resumes once the batch is counted (see make_bev). */
	status_listen_guard_hold(&api->guard, false);
}

/* evhttp's bufferevent factory: runs for each accepted connection before
 * evhttp gives the bufferevent its socket. */
static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
	struct read_api *api = arg;
	struct bufferevent *bev =
	    bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	struct conn *c;

	if (bev == NULL)
		return NULL;
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return bev; /* served, untracked: better than refusing */
	c->api = api;
	c->bev = bev;
	c->next = api->pending;
	api->pending = c;
	api->npending++;
	event_active(api->adopt, EV_TIMEOUT, 0);
	/* libevent's listener accepts the whole backlog in one go, before
	 * adopt_cb can refuse anything: a flood would take every descriptor
	 * (the follower's wal and TLS files included). Stop accepting at a
	 * small batch or at the cap until adopt_cb has counted them; the
	 * listener checks for this after each connection. */
	if (api->npending >= ADOPT_BATCH ||
	    api->nconns + api->npending >= api->o.max_connections)
		status_listen_guard_hold(&api->guard, true);
	return bev;
}

static struct conn *conn_of(struct read_api *api, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);

	for (struct conn *c = api->conns; c != NULL; c = c->next)
		if (c->evcon == evcon)
			return c;
	return NULL;
}

/* An answer is written: the next request has header_timeout again. */
static void on_request_done(struct evhttp_request *req, void *arg)
{
	struct read_api *api = arg;

	for (struct conn *c = api->conns; c != NULL; c = c->next)
		if (c->cur == req) {
			c->cur = NULL;
			conn_arm(c);
			break;
		}
}

/* ---- authentication ---- */

/* The one answer to a token that may not read what it asked for: the
 * same for a database that does not exist, so that a prober learns
 * nothing. */
static void send_forbidden(struct evhttp_request *req)
{
	send_error(req, 403, "forbidden",
	           "this token may not read this resource");
}

/* Checks the request's bearer token for path; answers 401/403 itself and
 * returns false when the request may not proceed. */
static bool authorized(struct read_api *api, struct evhttp_request *req,
                       const char *path)
{
	char got[STATUS_TOKEN_HEX_SIZE];

	if (!api->auth)
		return true;
	if (!status_token_from_request(req, "mirror-agent", send_error, got))
		return false;
	if (strncmp(path, "/v1/db/", 7) == 0) {
		const char *name = path + 7, *slash = strchr(name, '/');
		size_t nlen =
		    slash != NULL ? (size_t)(slash - name) : strlen(name);
		size_t n = follow_database_count(api->f);
		for (size_t db = 0; db < n; db++) {
			const char *dn = follow_database_name(api->f, db);
			if (strlen(dn) == nlen && memcmp(dn, name, nlen) == 0 &&
			    status_token_equal(got, api->db_sha[db]))
				return true;
		}
		send_forbidden(req);
		return false;
	}
	if (status_token_equal(got, api->status_sha))
		return true;
	send_forbidden(req);
	return false;
}

static void on_sample(evutil_socket_t fd, short what, void *arg)
{
	struct read_api *api = arg;
	size_t n = follow_database_count(api->f);

	(void)fd;
	(void)what;
	for (size_t db = 0; db < n && db < FOLLOW_MAX_DATABASES; db++) {
		/* Unknown lag is a gap on the page, never 0. */
		const struct mirror_status *st = follow_status(api->f, db);
		api->lag[db][api->lag_next] =
		    st->lag_known ? st->lag_ms : STATUS_LAG_UNKNOWN;
	}
	api->lag_next = (api->lag_next + 1) % LAG_SAMPLES;
	if (api->lag_n < LAG_SAMPLES)
		api->lag_n++;
}

/* The status page, from the same report as /status plus the lag ring. */
static void send_page(struct read_api *api, struct evhttp_request *req)
{
	struct status_report *r = malloc(sizeof *r);
	struct status_html_extra *x = calloc(1, sizeof *x);
	uint64_t *flat =
	    calloc(FOLLOW_MAX_DATABASES * LAG_SAMPLES, sizeof *flat);
	char *text = NULL;
	size_t len = 0;

	if (r != NULL && x != NULL && flat != NULL) {
		status_report_from_follow(api->f, (long)getpid(),
		                          (int64_t)clock_wall_ms(), r);
		x->sources = api->o.sources;
		x->nsources = api->o.nsources;
		x->lag_cap = LAG_SAMPLES;
		for (size_t db = 0; db < r->count && db < FOLLOW_MAX_DATABASES;
		     db++) {
			uint64_t *out = flat + db * LAG_SAMPLES;
			/* Oldest first: the ring starts at lag_next once
			 * full. */
			size_t first =
			    (api->lag_next + LAG_SAMPLES - api->lag_n) %
			    LAG_SAMPLES;
			for (size_t i = 0; i < api->lag_n; i++)
				out[i] =
				    api->lag[db][(first + i) % LAG_SAMPLES];
			x->lag_ms[db] = out;
			x->nlag[db] = api->lag_n;
		}
		text = status_html_format(r, x, &len);
	}
	free(r);
	free(x);
	free(flat);
	struct evbuffer *b = text != NULL ? evbuffer_new() : NULL;
	if (b == NULL || evbuffer_add(b, text, len) != 0) {
		if (b != NULL)
			evbuffer_free(b);
		free(text);
		send_error(req, 500, "out of memory",
		           "cannot render the status page");
		return;
	}
	free(text);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	/* Self-contained by design: forbid anything external. */
	evhttp_add_header(h, "Content-Security-Policy",
	                  "default-src 'none'; style-src 'unsafe-inline'; "
	                  "img-src data:");
	evhttp_send_reply(req, 200, NULL, b);
	evbuffer_free(b);
}

/* ---- routing ---- */

static bool is_write_op(const char *op)
{
	static const char *const writes[] = {"put",   "cas", "del",   "delete",
	                                     "cad",   "set", "write", "txn",
	                                     "batch", NULL};

	for (size_t i = 0; writes[i] != NULL; i++)
		if (strcmp(op, writes[i]) == 0)
			return true;
	return false;
}

static void refuse_write(struct evhttp_request *req)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
	                  "GET, HEAD");
	send_error(req, 405, "read-only mirror",
	           "this is a read-only mirror: write to the source cluster");
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct read_api *api = arg;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	char why[256], dbname[80], opname[32];
	struct read_api_query q;
	enum read_api_op op;
	struct conn *c = conn_of(api, req);

	/* The request is complete: its deadline is over until the answer
	 * is written. */
	if (c != NULL) {
		event_del(c->deadline);
		c->cur = req;
		evhttp_request_set_on_complete_cb(req, on_request_done, api);
	}
	/* Liveness needs no token: it names no database and no position,
	 * and a probe (systemd, Kubernetes) should not need a secret. */
	if (path != NULL && strcmp(path, "/healthz") == 0 &&
	    (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD)) {
		send_healthz(api, req);
		return;
	}
	if (!authorized(api, req, path != NULL ? path : ""))
		return;
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		refuse_write(req);
		return;
	}
	if (path == NULL || path[0] == '\0') {
		send_error(req, 400, "bad request", "no path");
		return;
	}
	if (strcmp(path, "/") == 0) {
		send_page(api, req);
		return;
	}
	if (strcmp(path, "/status") == 0) {
		send_status(api, req, false);
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		send_status(api, req, true);
		return;
	}
	if (strcmp(path, "/readyz") == 0) {
		send_readyz(api, req);
		return;
	}
	if (strncmp(path, "/v1/db/", 7) != 0) {
		send_error(
		    req, 404, "not found",
		    "endpoints: /v1/db/<db>/{get,scan,fingerprint}, "
		    "/status, /metrics, /healthz, /readyz, / (status page)");
		return;
	}
	const char *name = path + 7, *slash = strchr(name, '/');
	size_t nlen = slash != NULL ? (size_t)(slash - name) : strlen(name);
	if (slash == NULL || !parse_name_valid(name, nlen) ||
	    strlen(slash + 1) >= sizeof opname || strchr(slash + 1, '/')) {
		send_error(req, 400, "bad request",
		           "expected /v1/db/<db>/<op> with <db> "
		           "[A-Za-z0-9._-]{1,64}");
		return;
	}
	memcpy(dbname, name, nlen);
	dbname[nlen] = '\0';
	snprintf(opname, sizeof opname, "%s", slash + 1);
	if (is_write_op(opname)) {
		refuse_write(req);
		return;
	}
	if (!read_api_op_parse(opname, &op)) {
		send_error(req, 404, "not found",
		           "operations: get, scan, fingerprint");
		return;
	}
	size_t db, n = follow_database_count(api->f);
	for (db = 0; db < n; db++)
		if (strcmp(follow_database_name(api->f, db), dbname) == 0)
			break;
	if (db == n) {
		snprintf(why, sizeof why, "this mirror does not follow '%s'",
		         dbname);
		send_error(req, 404, "unknown database", why);
		return;
	}
	if (read_api_query_parse(op, evhttp_uri_get_query(uri), &q, why,
	                         sizeof why) != 0) {
		send_error(req, 400, "bad request", why);
		return;
	}
	q.db = db;
	/* The page size: a larger limit gets a shorter page and next_after. */
	if (q.limit > api->o.scan_max_items)
		q.limit = api->o.scan_max_items;
	struct applier *a = follow_applier(api->f, q.db);
	if (applier_get_kind(a) == APPLIER_NONE) {
		send_error(req, 501, "no applier",
		           "this database is mirrored with applier = none "
		           "(snapshot and log only)");
		return;
	}
	if (applier_error(a) != NULL) {
		send_error(req, 503, "applier unavailable", applier_error(a));
		return;
	}
	if (refuse_stale(api, req, &q))
		return;
	if (q.min_index > applier_applied_index(a)) {
		if (q.timeout_ms == 0) {
			struct evbuffer *b = evbuffer_new();
			if (b == NULL) {
				evhttp_send_error(req, 500, NULL);
				return;
			}
			evbuffer_add_printf(
			    b,
			    "{\"error\":\"timeout\",\"message\":\"index "
			    "%" PRIu64 " not applied yet\",\"db\":\"%s\","
			    "\"min_index\":%" PRIu64,
			    q.min_index, dbname, q.min_index);
			add_position(api, b, q.db);
			send_json(req, 504, b);
			evbuffer_free(b);
			return;
		}
		park(api, req, &q);
		return;
	}
	answer(api, req, &q);
}

/* ---- public ---- */

static int write_port_file(const char *path, uint16_t port, char *errmsg)
{
	char dir[4096], buf[16];
	const char *slash = strrchr(path, '/');
	int n = snprintf(buf, sizeof buf, "%u\n", (unsigned)port);

	if (slash == NULL)
		return io_write_file_durable(".", path, buf, (size_t)n, errmsg);
	if ((size_t)(slash - path) >= sizeof dir)
		return ma_errorf(errmsg, MA_ERR_LIMIT, "path too long");
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	return io_write_file_durable(slash == path ? "/" : dir, slash + 1, buf,
	                             (size_t)n, errmsg);
}

/* Fills the limits left 0 with the schema's defaults, keeps the
 * connection cap under half the descriptor limit, and loads the tokens. */
static int setup_options(struct read_api *api, const struct read_api_options *o,
                         char *errmsg)
{
	struct read_api_options *d = &api->o;
	struct rlimit rl;

	*d = *o;
	d->status_token_sha256 = NULL; /* copied below */
	d->tokens = NULL;
	d->ntokens = 0;
	d->port_file = NULL; /* used only in read_api_new */
	d->nsources = 0;
	for (size_t i = 0; i < o->nsources && i < READ_API_SOURCES_MAX; i++) {
		snprintf(api->src[i], sizeof api->src[i], "%s", o->sources[i]);
		api->srcp[d->nsources++] = api->src[i];
	}
	d->sources = api->srcp;
#define DEFAULT(field, v)                                                      \
	if (d->field == 0)                                                     \
	d->field = (v)
	DEFAULT(max_connections, 128);
	DEFAULT(max_per_address, 16);
	DEFAULT(header_timeout_ms, 5000);
	DEFAULT(body_timeout_ms, 10000);
	DEFAULT(max_waiters, 1024);
	DEFAULT(max_response, 4u << 20);
	DEFAULT(scan_max_items, READ_API_SCAN_LIMIT_DEFAULT);
#undef DEFAULT
	/* The follower needs descriptors of its own (wal segments, the CA
	 * file on each reconnect, QUIC sockets): the read API takes at most
	 * half, so that a flood of clients cannot put databases in Error. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY &&
	    d->max_connections > rl.rlim_cur / 2) {
		uint64_t cap = rl.rlim_cur / 2 > 0 ? rl.rlim_cur / 2 : 1;
		log_warn("read API: http_max_connections %" PRIu64
		         " lowered to %" PRIu64 ", half the descriptor limit "
		         "(%llu; raise LimitNOFILE= to allow more)",
		         d->max_connections, cap,
		         (unsigned long long)rl.rlim_cur);
		d->max_connections = cap;
	}
	if (o->status_token_sha256 != NULL && o->status_token_sha256[0]) {
		snprintf(api->status_sha, sizeof api->status_sha, "%s",
		         o->status_token_sha256);
		api->auth = true;
	}
	for (size_t i = 0; i < o->ntokens; i++) {
		size_t db, n = follow_database_count(api->f);
		if (o->tokens[i].sha256 == NULL || !o->tokens[i].sha256[0])
			continue;
		for (db = 0; db < n; db++)
			if (strcmp(follow_database_name(api->f, db),
			           o->tokens[i].db) == 0)
				break;
		if (db == n)
			return ma_errorf(errmsg, MA_ERR_CONFIG,
			                 "read API: a token for database '%s', "
			                 "which this mirror does not follow",
			                 o->tokens[i].db);
		snprintf(api->db_sha[db], sizeof api->db_sha[db], "%s",
		         o->tokens[i].sha256);
		api->auth = true;
	}
	if (!api->auth && !status_listen_host_is_loopback(o->host))
		return ma_errorf(
		    errmsg, MA_ERR_CONFIG,
		    "read API: http_listen %s is not a loopback address and "
		    "no token is configured, so anyone who reaches it could "
		    "read every database; set [database] read_token_sha256 "
		    "(and [agent] http_status_token_sha256), or listen on "
		    "127.0.0.1 or [::1] behind a reverse proxy",
		    o->host);
	return 0;
}

int read_api_new(struct event_base *base, struct follow *f,
                 const struct read_api_options *o, struct read_api **out,
                 char *errmsg)
{
	struct evhttp_bound_socket *sock;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	struct read_api *api;
	struct timeval tv;
	int rc;

	api = calloc(1, sizeof *api);
	if (api == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	api->base = base;
	api->f = f;
	rc = setup_options(api, o, errmsg);
	if (rc != 0) {
		free(api);
		return rc;
	}
	api->adopt = event_new(base, -1, 0, adopt_cb, api);
	api->sampler = event_new(base, -1, EV_PERSIST, on_sample, api);
	api->http = evhttp_new(base);
	tv = clock_tv_from_ms(1000);
	if (api->http == NULL || api->adopt == NULL || api->sampler == NULL ||
	    event_add(api->sampler, &tv) != 0) {
		if (api->http != NULL)
			evhttp_free(api->http);
		if (api->adopt != NULL)
			event_free(api->adopt);
		if (api->sampler != NULL)
			event_free(api->sampler);
		free(api);
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	}
	evhttp_set_bevcb(api->http, make_bev, api);
	/* Every method reaches on_request, so writes get the JSON 405. */
	evhttp_set_allowed_methods(
	    api->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	                   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                   EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_max_headers_size(api->http, 16384);
	evhttp_set_max_body_size(api->http, 65536);
	tv = clock_tv_from_ms(api->o.body_timeout_ms);
	evhttp_set_timeout_tv(api->http, &tv);
	evhttp_set_gencb(api->http, on_request, api);
	sock = evhttp_bind_socket_with_handle(api->http, o->host, o->port);
	if (sock == NULL) {
		rc = ma_errorf(errmsg, MA_ERR_CONFIG,
		               "read API: cannot listen on %s port %u (address "
		               "in use or not local?)",
		               o->host, (unsigned)o->port);
		goto fail;
	}
	rc = status_listen_guard_init(&api->guard, base,
	                              evhttp_bound_socket_get_listener(sock),
	                              "read API", errmsg);
	if (rc != 0)
		goto fail;
	if (getsockname(evhttp_bound_socket_get_fd(sock),
	                (struct sockaddr *)&ss, &sl) != 0) {
		rc = ma_errorf(errmsg, MA_ERR_IO, "read API: getsockname: %s",
		               strerror(errno));
		goto fail;
	}
	api->port = ntohs(ss.ss_family == AF_INET6
	                      ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                      : ((struct sockaddr_in *)&ss)->sin_port);
	if (o->port_file != NULL) {
		rc = write_port_file(o->port_file, api->port, errmsg);
		if (rc != 0) {
			rc = ma_errwrapf(errmsg, rc,
			                 "read API: cannot write the port file "
			                 "%s",
			                 o->port_file);
			goto fail;
		}
	}
	log_info("read API listening on %s port %u", o->host,
	         (unsigned)api->port);
	*out = api;
	return 0;
fail:
	status_listen_guard_free(&api->guard);
	evhttp_free(api->http);
	event_free(api->adopt);
	event_free(api->sampler);
	free(api);
	return rc;
}

uint16_t read_api_port(const struct read_api *api)
{
	return api->port;
}

size_t read_api_release_waiters(struct read_api *api)
{
	size_t n = 0;

	if (api == NULL)
		return 0;
	for (size_t i = 0; i < FOLLOW_MAX_DATABASES; i++)
		while (api->waiters[i] != NULL) {
			send_error(api->waiters[i]->req, 503, "shutting down",
			           "the mirror is stopping; retry elsewhere");
			waiter_unlink(api->waiters[i]);
			n++;
		}
	return n;
}

void read_api_free(struct read_api *api)
{
	if (api == NULL)
		return;
	read_api_release_waiters(api);
	status_listen_guard_free(&api->guard);
	/* Frees every connection; their close callbacks unlink them. */
	evhttp_free(api->http);
	while (api->pending != NULL) {
		struct conn *c = api->pending;
		api->pending = c->next;
		free(c);
	}
	event_free(api->adopt);
	event_free(api->sampler);
	free(api);
}
