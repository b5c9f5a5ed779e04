/* The read API (agent/readapi/read_api.h): libevent evhttp glue. Requests are
 * parsed and checked here (path, database name, query parameters with
 * their limits), answered from the follower's appliers and status, and
 * rendered as JSON or Prometheus text. Values and keys are binary in the
 * store, so JSON carries them in base64. */
#include "agent/readapi/read_api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "agent/apply/applier.h"
#include "agent/follow/follow.h"
#include "agent/follow/mirror_state.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "kv/kv_command.h"

/* What one request asks for, decoded and checked. */
enum op { OP_GET, OP_SCAN, OP_FINGERPRINT };

struct query {
	enum op op;
	size_t db;
	char ns[KV_NAMESPACE_MAX + 1];
	size_t ns_len;
	uint8_t key[KV_KEY_MAX]; /* get: key; scan: prefix */
	size_t key_len;
	bool has_after; /* scan: start after this key */
	uint8_t after[KV_KEY_MAX];
	size_t after_len;
	uint64_t limit;
	uint64_t min_index;
	uint64_t timeout_ms;
};

/* A request parked until its database applied min_index. */
struct waiter {
	struct read_api *api;
	struct evhttp_request *req;
	struct event *timer;
	struct query q;
	struct waiter *prev, *next; /* per-database list */
};

struct read_api {
	struct event_base *base;
	struct follow *f;
	struct evhttp *http;
	uint16_t port;
	struct waiter *waiters[FOLLOW_MAX_DATABASES];
	size_t nwaiters;
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

	evbuffer_add_printf(
	    b,
	    ",\"applied_index\":%" PRIu64 ",\"source_commit_index\":%" PRIu64
	    ",\"lag_entries\":%" PRIu64 ",\"lag_ms\":%" PRIu64
	    ",\"state\":\"%s\"}",
	    applied, st->source_commit_index, lag_entries(st, applied),
	    st->lag_ms, mirror_state_name(st->state));
}

/* ---- answers ---- */

struct scan_out {
	struct evbuffer *b;
	const struct query *q;
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
                   const struct query *q)
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
	if (q->op == OP_FINGERPRINT) {
		aq.op = APPLIER_QUERY_FINGERPRINT;
		rc = applier_query(a, &aq, NULL, NULL, &res, errmsg);
		if (rc == 0)
			evbuffer_add_printf(
			    b,
			    ",\"fingerprint\":\"%08" PRIx32
			    "\",\"count\":%" PRIu64 ",\"revision\":%" PRIu64,
			    res.fingerprint, res.keys, res.revision);
	} else if (q->op == OP_GET) {
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
                 const struct query *q)
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

/* ---- request parsing ---- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes s[0..len) (form encoding: %XX, '+' is a space) into out[0..cap).
 * Returns the decoded length or -1 (bad escape, too long). */
static long pct_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= len)
				return -1;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (n == cap)
			return -1;
		out[n++] = (uint8_t)c;
	}
	return (long)n;
}

static bool parse_u64(const uint8_t *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

static bool name_valid(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

/* Parses the query string into q for op. Fills why and returns false on
 * anything unknown, repeated, empty where a value is needed, malformed or
 * beyond its limit. */
static bool parse_query(const char *qs, struct query *q, char *why,
                        size_t whylen)
{
	enum {
		P_NS = 1,
		P_KEY = 2,
		P_PREFIX = 4,
		P_LIMIT = 8,
		P_MIN = 16,
		P_TIMEOUT = 32,
		P_AFTER = 64
	};
	unsigned seen = 0, allowed = P_MIN | P_TIMEOUT;
	uint8_t val[KV_KEY_MAX];

	if (q->op == OP_GET)
		allowed |= P_NS | P_KEY;
	else if (q->op == OP_SCAN)
		allowed |= P_NS | P_PREFIX | P_LIMIT | P_AFTER;
	q->limit = READ_API_SCAN_LIMIT_DEFAULT;
	q->timeout_ms = READ_API_TIMEOUT_DEFAULT_MS;
	while (qs != NULL && *qs != '\0') {
		const char *amp = strchr(qs, '&');
		size_t plen = amp != NULL ? (size_t)(amp - qs) : strlen(qs);
		const char *eq = memchr(qs, '=', plen);
		size_t klen = eq != NULL ? (size_t)(eq - qs) : plen;
		const char *v = eq != NULL ? eq + 1 : qs + plen;
		size_t vlen = plen - klen - (eq != NULL);
		unsigned bit = 0;
		long n;

		if (plen == 0) {
			qs = amp != NULL ? amp + 1 : qs + plen;
			continue; /* "a=1&&b=2" */
		}
#define IS(name) (klen == sizeof name - 1 && memcmp(qs, name, klen) == 0)
		if (IS("ns"))
			bit = P_NS;
		else if (IS("key"))
			bit = P_KEY;
		else if (IS("prefix"))
			bit = P_PREFIX;
		else if (IS("limit"))
			bit = P_LIMIT;
		else if (IS("min_index"))
			bit = P_MIN;
		else if (IS("timeout_ms"))
			bit = P_TIMEOUT;
		else if (IS("after"))
			bit = P_AFTER;
#undef IS
		if (bit == 0 || !(allowed & bit)) {
			snprintf(why, whylen, "unknown parameter '%.*s'",
			         (int)(klen > 64 ? 64 : klen), qs);
			return false;
		}
		if (seen & bit) {
			snprintf(why, whylen, "parameter '%.*s' given twice",
			         (int)klen, qs);
			return false;
		}
		seen |= bit;
		n = pct_decode(v, vlen, val, sizeof val);
		if (n < 0) {
			snprintf(why, whylen,
			         "parameter '%.*s': bad %%-escape or longer "
			         "than %d bytes",
			         (int)klen, qs, KV_KEY_MAX);
			return false;
		}
		switch (bit) {
		case P_NS:
			if (!name_valid((const char *)val, (size_t)n,
			                KV_NAMESPACE_MAX)) {
				snprintf(why, whylen,
				         "ns must be [A-Za-z0-9._-]{1,%d}",
				         KV_NAMESPACE_MAX);
				return false;
			}
			memcpy(q->ns, val, (size_t)n);
			q->ns[n] = '\0';
			q->ns_len = (size_t)n;
			break;
		case P_KEY:
		case P_PREFIX:
			if (bit == P_KEY && n == 0) {
				snprintf(why, whylen, "key must be 1..%d bytes",
				         KV_KEY_MAX);
				return false;
			}
			memcpy(q->key, val, (size_t)n);
			q->key_len = (size_t)n;
			break;
		case P_AFTER:
			memcpy(q->after, val, (size_t)n);
			q->after_len = (size_t)n;
			q->has_after = true;
			break;
		case P_LIMIT:
			if (!parse_u64(val, (size_t)n, &q->limit) ||
			    q->limit == 0 ||
			    q->limit > READ_API_SCAN_LIMIT_MAX) {
				snprintf(why, whylen,
				         "limit must be an integer 1..%d",
				         READ_API_SCAN_LIMIT_MAX);
				return false;
			}
			break;
		case P_MIN:
			if (!parse_u64(val, (size_t)n, &q->min_index)) {
				snprintf(why, whylen,
				         "min_index must be a decimal integer");
				return false;
			}
			break;
		case P_TIMEOUT:
			if (!parse_u64(val, (size_t)n, &q->timeout_ms) ||
			    q->timeout_ms > READ_API_TIMEOUT_MAX_MS) {
				snprintf(why, whylen,
				         "timeout_ms must be an integer 0..%d",
				         READ_API_TIMEOUT_MAX_MS);
				return false;
			}
			break;
		}
		qs = amp != NULL ? amp + 1 : qs + plen;
	}
	if ((q->op == OP_GET || q->op == OP_SCAN) && !(seen & P_NS)) {
		snprintf(why, whylen, "ns is required");
		return false;
	}
	if (q->op == OP_GET && !(seen & P_KEY)) {
		snprintf(why, whylen, "key is required");
		return false;
	}
	return true;
}

/* ---- status and metrics ---- */

static void json_status(struct read_api *api, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();
	size_t n = follow_database_count(api->f);

	if (b == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add_printf(b, "{\"pid\":%ld,\"endpoint\":", (long)getpid());
	json_str(b, follow_endpoint(api->f));
	evbuffer_add_printf(b, ",\"databases\":[");
	for (size_t i = 0; i < n; i++) {
		const struct mirror_status *st = follow_status(api->f, i);
		struct applier *a = follow_applier(api->f, i);
		uint64_t applied = applier_applied_index(a);
		evbuffer_add_printf(
		    b,
		    "%s{\"database\":\"%s\",\"state\":\"%s\","
		    "\"bytes_done\":%" PRIu64 ",\"bytes_total\":%" PRIu64
		    ",\"applied_index\":%" PRIu64 ",\"log_index\":%" PRIu64
		    ",\"source_commit_index\":%" PRIu64
		    ",\"lag_entries\":%" PRIu64 ",\"lag_ms\":%" PRIu64
		    ",\"reconnects\":%" PRIu64 ",\"endpoint\":",
		    i ? "," : "", follow_database_name(api->f, i),
		    mirror_state_name(st->state), st->bytes_done,
		    st->bytes_total, applied, st->applied_index,
		    st->source_commit_index, lag_entries(st, applied),
		    st->lag_ms, st->reconnects);
		json_str(b, follow_endpoint(api->f));
		evbuffer_add_printf(b, ",\"error\":");
		json_str(b, st->error);
		evbuffer_add_printf(b, ",\"applier\":\"%s\",\"applier_error\":",
		                    applier_kind_name(applier_get_kind(a)));
		if (applier_error(a) != NULL)
			json_str(b, applier_error(a));
		else
			evbuffer_add_printf(b, "null");
		evbuffer_add_printf(b, ",\"skipped_commands\":%" PRIu64 "}",
		                    applier_skipped_commands(a));
	}
	evbuffer_add_printf(b, "]}");
	send_json(req, 200, b);
	evbuffer_free(b);
}

enum metric_field {
	M_BYTES_DONE,
	M_BYTES_TOTAL,
	M_APPLIED,
	M_LOG_INDEX,
	M_COMMIT,
	M_LAG_ENTRIES,
	M_LAG_MS,
	M_RECONNECTS,
	M_APPLIER_FAILED,
};

static const struct {
	const char *name, *type, *help;
} metrics[] = {
    [M_BYTES_DONE] = {"mirror_bytes_done", "gauge",
                      "Snapshot bytes durably received in the current or last "
                      "bootstrap."},
    [M_BYTES_TOTAL] = {"mirror_bytes_total", "gauge",
                       "Size of the snapshot being or last bootstrapped."},
    [M_APPLIED] = {"mirror_applied_index", "gauge",
                   "Last log index applied to the read-only state (readers "
                   "see this)."},
    [M_LOG_INDEX] = {"mirror_log_index", "gauge",
                     "Last log index held durably in the mirror's wal."},
    [M_COMMIT] = {"mirror_source_commit_index", "gauge",
                  "Commit index last announced by the source."},
    [M_LAG_ENTRIES] = {"mirror_lag_entries", "gauge",
                       "Source commit index minus the applied index."},
    [M_LAG_MS] = {"mirror_lag_ms", "gauge",
                  "Replication lag in milliseconds, on the source's clock."},
    [M_RECONNECTS] = {"mirror_reconnects_total", "counter",
                      "Connections to the source lost or failed."},
    [M_APPLIER_FAILED] = {"mirror_applier_failed", "gauge",
                          "1 when the applier stopped on an error."},
};

static uint64_t metric_value(struct read_api *api, size_t i,
                             enum metric_field m)
{
	const struct mirror_status *st = follow_status(api->f, i);
	struct applier *a = follow_applier(api->f, i);

	switch (m) {
	case M_BYTES_DONE:
		return st->bytes_done;
	case M_BYTES_TOTAL:
		return st->bytes_total;
	case M_APPLIED:
		return applier_applied_index(a);
	case M_LOG_INDEX:
		return st->applied_index;
	case M_COMMIT:
		return st->source_commit_index;
	case M_LAG_ENTRIES:
		return lag_entries(st, applier_applied_index(a));
	case M_LAG_MS:
		return st->lag_ms;
	case M_RECONNECTS:
		return st->reconnects;
	case M_APPLIER_FAILED:
		return applier_error(a) != NULL;
	}
	return 0;
}

static void prometheus(struct read_api *api, struct evhttp_request *req)
{
	static const enum mirror_state states[] = {
	    MIRROR_CONNECTING, MIRROR_BOOTSTRAPPING, MIRROR_CATCHING_UP,
	    MIRROR_FOLLOWING,  MIRROR_DEGRADED,      MIRROR_DISCONNECTED,
	    MIRROR_ERROR};
	struct evbuffer *b = evbuffer_new();
	size_t n = follow_database_count(api->f);

	if (b == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add_printf(b, "# HELP mirror_state Current state of each "
	                       "mirrored database (1: the current one).\n"
	                       "# TYPE mirror_state gauge\n");
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < sizeof states / sizeof states[0]; k++)
			evbuffer_add_printf(
			    b, "mirror_state{db=\"%s\",state=\"%s\"} %d\n",
			    follow_database_name(api->f, i),
			    mirror_state_name(states[k]),
			    follow_status(api->f, i)->state == states[k]);
	for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++) {
		evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n",
		                    metrics[m].name, metrics[m].help,
		                    metrics[m].name, metrics[m].type);
		for (size_t i = 0; i < n; i++)
			evbuffer_add_printf(
			    b, "%s{db=\"%s\"} %" PRIu64 "\n", metrics[m].name,
			    follow_database_name(api->f, i),
			    metric_value(api, i, (enum metric_field)m));
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Content-Type", "text/plain; version=0.0.4");
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
	struct query q;

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		refuse_write(req);
		return;
	}
	if (path == NULL || path[0] == '\0') {
		send_error(req, 400, "bad request", "no path");
		return;
	}
	if (strcmp(path, "/status") == 0) {
		json_status(api, req);
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		prometheus(api, req);
		return;
	}
	if (strncmp(path, "/v1/db/", 7) != 0) {
		send_error(req, 404, "not found",
		           "endpoints: /v1/db/<db>/{get,scan,fingerprint}, "
		           "/status, /metrics");
		return;
	}
	const char *name = path + 7, *slash = strchr(name, '/');
	size_t nlen = slash != NULL ? (size_t)(slash - name) : strlen(name);
	if (slash == NULL || !name_valid(name, nlen, 64) ||
	    (nlen == 1 && name[0] == '.') ||
	    (nlen == 2 && name[0] == '.' && name[1] == '.') ||
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
	memset(&q, 0, sizeof q);
	if (strcmp(opname, "get") == 0)
		q.op = OP_GET;
	else if (strcmp(opname, "scan") == 0)
		q.op = OP_SCAN;
	else if (strcmp(opname, "fingerprint") == 0)
		q.op = OP_FINGERPRINT;
	else {
		send_error(req, 404, "not found",
		           "operations: get, scan, fingerprint");
		return;
	}
	size_t n = follow_database_count(api->f);
	for (q.db = 0; q.db < n; q.db++)
		if (strcmp(follow_database_name(api->f, q.db), dbname) == 0)
			break;
	if (q.db == n) {
		snprintf(why, sizeof why, "this mirror does not follow '%s'",
		         dbname);
		send_error(req, 404, "unknown database", why);
		return;
	}
	if (!parse_query(evhttp_uri_get_query(uri), &q, why, sizeof why)) {
		send_error(req, 400, "bad request", why);
		return;
	}
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
	evhttp_free(api->http);
	free(api);
}
