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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "agent/apply/applier.h"
#include "agent/follow/follow.h"
#include "agent/follow/mirror_state.h"
#include "agent/readapi/read_api_query.h"
#include "agent/status/status.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "common/parse.h"
#include "kv/kv_command.h"

/* A request parked until its database applied min_index. */
struct waiter {
	struct read_api *api;
	struct evhttp_request *req;
	struct event *timer;
	struct read_api_query q;
	struct waiter *prev, *next; /* per-database list */
};

struct read_api {
	struct event_base *base;
	struct follow *f;
	struct evhttp *http;
	uint16_t port;
	struct waiter *waiters[FOLLOW_MAX_DATABASES];
	size_t nwaiters;
	/* Accepting paused after an accept() error (see on_accept_error). */
	struct evconnlistener *listener;
	struct event *accept_retry;
	bool accept_paused_logged;
};

/* How long accepting pauses after accept() fails for want of descriptors
 * or memory. */
#define ACCEPT_PAUSE_MS 1000

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
	struct evbuffer *b;
	const struct read_api_query *q;
	uint64_t count;
	bool truncated;
	bool first;
	const uint8_t *last_key; /* of the last item written */
	size_t last_len;
};

static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int scan_item(void *arg, const struct applier_item *it)
{
	struct scan_out *o = arg;

	if (o->q->has_after &&
	    key_cmp(it->key, it->key_len, o->q->after, o->q->after_len) <= 0)
		return 0;
	if (o->count == o->q->limit || evbuffer_get_length(o->b) +
	                                       it->value_len * 4 / 3 +
	                                       it->key_len * 4 / 3 >
	                                   READ_API_SCAN_BYTES_MAX) {
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
		struct scan_out o = {b, q, 0, false, true, NULL, 0};
		aq.op = APPLIER_QUERY_SCAN;
		aq.limit = 0; /* scan_item stops at q->limit */
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
	free(w);
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

	if (api->nwaiters >= READ_API_WAITERS_MAX) {
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
	w->next = api->waiters[q->db];
	if (w->next != NULL)
		w->next->prev = w;
	api->waiters[q->db] = w;
	api->nwaiters++;
	evtimer_add(w->timer, &tv);
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
	const struct mirror_status *st = follow_status(api->f, db);
	struct applier *a = follow_applier(api->f, db);

	status_database_set(d, follow_database_name(api->f, db), st,
	                    follow_endpoint(api->f), st->applied_index,
	                    a != NULL ? applier_applied_index(a)
	                              : st->applied_index);
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

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		refuse_write(req);
		return;
	}
	if (path == NULL || path[0] == '\0') {
		send_error(req, 400, "bad request", "no path");
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
	if (strcmp(path, "/healthz") == 0) {
		send_healthz(api, req);
		return;
	}
	if (strcmp(path, "/readyz") == 0) {
		send_readyz(api, req);
		return;
	}
	if (strncmp(path, "/v1/db/", 7) != 0) {
		send_error(req, 404, "not found",
		           "endpoints: /v1/db/<db>/{get,scan,fingerprint}, "
		           "/status, /metrics, /healthz, /readyz");
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

static void accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct read_api *api = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(api->listener);
}

/* libevent only logs a failed accept() and returns, while the listening
 * socket stays readable: with descriptors exhausted (EMFILE) the loop
 * would spin at full CPU and log each failure. Pause accepting instead,
 * say so once per episode, and try again later. */
/* The listener's callback argument is evhttp's, so its error callback
 * finds its read API here (a process runs one, tests a few). */
#define APIS_MAX 8
static struct read_api *apis[APIS_MAX];

static void apis_set(struct read_api *api, bool add)
{
	for (size_t i = 0; i < APIS_MAX; i++) {
		if (add && apis[i] == NULL) {
			apis[i] = api;
			return;
		}
		if (!add && apis[i] == api)
			apis[i] = NULL;
	}
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct read_api *api = NULL;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = {ACCEPT_PAUSE_MS / 1000,
	                     (ACCEPT_PAUSE_MS % 1000) * 1000};

	(void)arg;
	for (size_t i = 0; i < APIS_MAX && api == NULL; i++)
		if (apis[i] != NULL && apis[i]->listener == l)
			api = apis[i];
	if (api == NULL) {
		log_error("read API: accept() failed: %s", strerror(err));
		return;
	}
	evconnlistener_disable(l);
	if (!api->accept_paused_logged)
		log_warn("read API: cannot accept connections: %s; pausing "
		         "accepts for %d ms at a time until it can (raise "
		         "the descriptor limit, LimitNOFILE= in the unit, if "
		         "this repeats)",
		         strerror(err), ACCEPT_PAUSE_MS);
	api->accept_paused_logged = true;
	if (api->accept_retry == NULL ||
	    event_add(api->accept_retry, &tv) != 0) {
		log_error("read API: cannot schedule accepting again; the read "
		          "API stays closed");
	}
}

int read_api_new(struct event_base *base, struct follow *f,
                 const struct read_api_options *o, struct read_api **out,
                 char *errmsg)
{
	struct evhttp_bound_socket *sock;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	struct read_api *api;
	int rc;

	api = calloc(1, sizeof *api);
	if (api == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	api->base = base;
	api->f = f;
	api->http = evhttp_new(base);
	if (api->http == NULL) {
		free(api);
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	}
	/* Every method reaches on_request, so writes get the JSON 405. */
	evhttp_set_allowed_methods(
	    api->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	                   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                   EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_max_headers_size(api->http, 16384);
	evhttp_set_max_body_size(api->http, 65536);
	evhttp_set_timeout(api->http, READ_API_TIMEOUT_MAX_MS / 1000 + 5);
	evhttp_set_gencb(api->http, on_request, api);
	sock = evhttp_bind_socket_with_handle(api->http, o->host, o->port);
	if (sock == NULL) {
		rc = ma_errorf(errmsg, MA_ERR_CONFIG,
		               "read API: cannot listen on %s port %u (address "
		               "in use or not local?)",
		               o->host, (unsigned)o->port);
		goto fail;
	}
	api->listener = evhttp_bound_socket_get_listener(sock);
	api->accept_retry = evtimer_new(base, accept_resume, api);
	if (api->listener == NULL || api->accept_retry == NULL) {
		rc = ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
		goto fail;
	}
	evconnlistener_set_error_cb(api->listener, on_accept_error);
	apis_set(api, true);
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
	apis_set(api, false);
	if (api->accept_retry != NULL)
		event_free(api->accept_retry);
	evhttp_free(api->http);
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
	apis_set(api, false);
	if (api->accept_retry != NULL)
		event_free(api->accept_retry);
	evhttp_free(api->http);
	free(api);
}
