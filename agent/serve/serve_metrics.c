/* serve_metrics: /metrics and /status of serve (see serve_metrics.h).
 * The renderings are pure over serve's accessors; the listener is evhttp
 * glue on serve's loop. */
#include "agent/serve/serve_metrics.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "agent/serve/serve.h"
#include "agent/status/status.h"
#include "agent/status/status_listen.h"
#include "agent/status/status_token.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "transport/transport.h"
#include "wal/wal.h"

struct serve_metrics {
	struct serve *sv;
	struct evhttp *http;
	uint16_t port;
	bool auth;
	char token_sha[65];
	/* The connection cap: every accepted connection counts from evhttp's
	 * bufferevent factory (make_bev) until its close callback; at
	 * SERVE_METRICS_MAX_CONNECTIONS the listener stops accepting (the
	 * excess waits in the kernel's backlog) until one closes (the guard's
	 * hold; it also pauses accepting after an accept() error). New
	 * bufferevents wait in pending[] until adopt_cb (run before any of
	 * their I/O) finds their evhttp connection to hook the close. */
	unsigned nconns;
	unsigned npending;
	struct bufferevent *pending[SERVE_METRICS_MAX_CONNECTIONS];
	struct event *adopt;
	struct status_listen_guard guard;
};

/* ---- renderings ---- */

static void addr_text(const struct serve_mirror_stat *m, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (m->addrlen >= sizeof(struct sockaddr_in) &&
	    m->addr.ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)&m->addr;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof a);
		port = ntohs(s->sin_port);
		snprintf(buf, len, "%s:%u", a, port);
		return;
	}
	if (m->addrlen >= sizeof(struct sockaddr_in6) &&
	    m->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)&m->addr;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof a);
		port = ntohs(s->sin6_port);
		snprintf(buf, len, "[%s]:%u", a, port);
		return;
	}
	snprintf(buf, len, "unknown");
}

/* A label value or JSON string body: identities and names are printable
 * ASCII, but '"' and '\\' must still be escaped in both formats. */
static void esc(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s < 0x20)
			fputc('?', f);
		else
			fputc(*s, f);
	}
}

/* The database of mirror m, or NULL. */
static const struct serve_database_stat *
db_of(const struct serve_metrics_model *md, const struct serve_mirror_stat *m)
{
	return m->database_index < md->ndbs ? &md->dbs[m->database_index]
	                                    : NULL;
}

static uint64_t lag_of(const struct serve_mirror_stat *m,
                       const struct serve_database_stat *d)
{
	return d != NULL && d->commit_index > m->sent_index
	           ? d->commit_index - m->sent_index
	           : 0;
}

/* Closes the memstream (which sets *buf only then). */
static char *finish(FILE *f, char **buf, size_t *len)
{
	if (fclose(f) != 0 || *buf == NULL) {
		free(*buf);
		return NULL;
	}
	if (len != NULL)
		*len = strlen(*buf);
	return *buf;
}

int serve_metrics_model_take(struct serve *sv, uint64_t now,
                             struct serve_metrics_model *md)
{
	struct serve_database_stat *dbs = NULL;
	struct serve_mirror_stat *ms = NULL, m;
	struct serve_mirror_iter it = {0};
	size_t ndbs = serve_database_count(sv), n = 0, cap = 0;

	memset(md, 0, sizeof *md);
	md->port = serve_port(sv);
	md->connections = serve_connections(sv);
	md->handshakes = serve_handshakes(sv);
	md->tls_reloads = serve_tls_reloads(sv);
	serve_refusals(sv, &md->req, &md->conn);
	if (ndbs > 0) {
		dbs = calloc(ndbs, sizeof *dbs);
		if (dbs == NULL)
			return MA_ERR_NOMEM;
		for (size_t i = 0; i < ndbs; i++)
			if (!serve_database_stat(sv, i, &dbs[i]))
				ndbs = i; /* cannot happen: the count said */
	}
	while (serve_mirror_stat_next(sv, &it, &m, now)) {
		if (n == cap) {
			size_t c = cap > 0 ? cap * 2 : 16;
			struct serve_mirror_stat *g =
			    realloc(ms, c * sizeof *ms);

			if (g == NULL) {
				free(ms);
				free(dbs);
				return MA_ERR_NOMEM;
			}
			ms = g;
			cap = c;
		}
		ms[n++] = m;
	}
	md->dbs = dbs;
	md->ndbs = ndbs;
	md->mirrors = ms;
	md->nmirrors = n;
	wal_reader_index_cache_stats(&md->index_hits, &md->index_misses);
	return 0;
}

void serve_metrics_model_free(struct serve_metrics_model *md)
{
	free((void *)md->dbs);
	free((void *)md->mirrors);
	memset(md, 0, sizeof *md);
}

/* One family of per-mirror gauges over the open log streams. */
enum field { F_FROM, F_SENT, F_LAG, F_CONTACT, F_RESV, F_UNACKED, F_AGE };

static void mirror_family(FILE *f, const struct serve_metrics_model *md,
                          enum field which, const char *name, const char *help)
{
	char addr[INET6_ADDRSTRLEN + 16];

	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	for (size_t i = 0; i < md->nmirrors; i++) {
		const struct serve_mirror_stat *m = &md->mirrors[i];

		if (m->snapshot)
			continue; /* log streams only */
		addr_text(m, addr, sizeof addr);
		fprintf(f, "%s{identity=\"", name);
		esc(f, m->identity);
		fprintf(f, "\",database=\"");
		esc(f, m->database);
		fprintf(f, "\",address=\"%s\"} ", addr);
		switch (which) {
		case F_FROM:
			fprintf(f, "%" PRIu64 "\n", m->requested_from);
			break;
		case F_SENT:
			fprintf(f, "%" PRIu64 "\n", m->sent_index);
			break;
		case F_LAG:
			fprintf(f, "%" PRIu64 "\n", lag_of(m, db_of(md, m)));
			break;
		case F_CONTACT:
			fprintf(f, "%.3f\n",
			        (double)m->contact_age_ms / 1000.0);
			break;
		case F_RESV:
			fprintf(f, "%" PRIu64 "\n", m->reservation_index);
			break;
		case F_UNACKED:
			fprintf(f, "%zu\n", m->unacked);
			break;
		case F_AGE:
			fprintf(f, "%.3f\n", (double)m->age_ms / 1000.0);
			break;
		}
	}
}

char *serve_metrics_model_prometheus(const struct serve_metrics_model *md,
                                     const struct status_process *proc,
                                     size_t *len)
{
	const struct transport_server_refusals *c = &md->conn;
	const struct serve_refused *r = &md->req;
	char *buf = NULL, addr[INET6_ADDRSTRLEN + 16];
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (f == NULL)
		return NULL;
	fprintf(f,
	        "# HELP mirror_serve_connections QUIC connections open "
	        "(handshaking or established).\n"
	        "# TYPE mirror_serve_connections gauge\n"
	        "mirror_serve_connections %u\n"
	        "# HELP mirror_serve_handshakes QUIC handshakes in progress.\n"
	        "# TYPE mirror_serve_handshakes gauge\n"
	        "mirror_serve_handshakes %u\n"
	        "# HELP mirror_serve_tls_reloads_total Certificate reloads "
	        "applied (SIGHUP).\n"
	        "# TYPE mirror_serve_tls_reloads_total counter\n"
	        "mirror_serve_tls_reloads_total %" PRIu64 "\n",
	        md->connections, md->handshakes, md->tls_reloads);
	fprintf(f,
	        "# HELP mirror_serve_refused_connections_total Connections "
	        "refused or failed before they were established, by reason.\n"
	        "# TYPE mirror_serve_refused_connections_total counter\n"
	        "mirror_serve_refused_connections_total{reason=\"max_"
	        "connections\"} %" PRIu64 "\n"
	        "mirror_serve_refused_connections_total{reason=\"max_"
	        "handshakes\"} %" PRIu64 "\n"
	        "mirror_serve_refused_connections_total{reason=\"max_"
	        "handshakes_per_address\"} %" PRIu64 "\n"
	        "mirror_serve_refused_connections_total{reason=\"invalid_"
	        "token\"} %" PRIu64 "\n"
	        "mirror_serve_refused_connections_total{reason=\"tls\"} "
	        "%" PRIu64 "\n"
	        "mirror_serve_refused_connections_total{reason=\"handshake_"
	        "failed\"} %" PRIu64 "\n",
	        c->max_connections, c->max_handshakes,
	        c->max_handshakes_per_addr, c->invalid_token, c->tls,
	        c->handshake_other);
	fprintf(f,
	        "# HELP mirror_serve_refused_requests_total Requests refused, "
	        "by reason.\n"
	        "# TYPE mirror_serve_refused_requests_total counter\n"
	        "mirror_serve_refused_requests_total{reason=\"bad_request\"} "
	        "%" PRIu64 "\n"
	        "mirror_serve_refused_requests_total{reason=\"forbidden\"} "
	        "%" PRIu64 "\n"
	        "mirror_serve_refused_requests_total{reason=\"not_found\"} "
	        "%" PRIu64 "\n"
	        "mirror_serve_refused_requests_total{reason=\"identity_"
	        "limit\"} %" PRIu64 "\n",
	        r->bad_request, r->forbidden, r->not_found, r->identity_limit);
	fprintf(f, "# HELP mirror_serve_commit_index Last index in the "
	           "spool's log.\n# TYPE mirror_serve_commit_index gauge\n");
	for (size_t i = 0; i < md->ndbs; i++) {
		fprintf(f, "mirror_serve_commit_index{database=\"");
		esc(f, md->dbs[i].name);
		fprintf(f, "\"} %" PRIu64 "\n", md->dbs[i].commit_index);
	}
	fprintf(f, "# HELP mirror_serve_first_index First index retained in "
	           "the spool's log.\n# TYPE mirror_serve_first_index "
	           "gauge\n");
	for (size_t i = 0; i < md->ndbs; i++) {
		fprintf(f, "mirror_serve_first_index{database=\"");
		esc(f, md->dbs[i].name);
		fprintf(f, "\"} %" PRIu64 "\n", md->dbs[i].first_index);
	}
	fprintf(f, "# HELP mirror_serve_log_streams Open log streams.\n"
	           "# TYPE mirror_serve_log_streams gauge\n");
	for (size_t i = 0; i < md->ndbs; i++) {
		fprintf(f, "mirror_serve_log_streams{database=\"");
		esc(f, md->dbs[i].name);
		fprintf(f, "\"} %u\n", md->dbs[i].log_streams);
	}
	mirror_family(f, md, F_FROM, "mirror_serve_mirror_requested_index",
	              "Index the mirror's log request started from.");
	mirror_family(f, md, F_SENT, "mirror_serve_mirror_sent_index",
	              "Last log index sent to the mirror.");
	mirror_family(f, md, F_LAG, "mirror_serve_mirror_lag_entries",
	              "Commit index minus the last index sent to the mirror.");
	mirror_family(f, md, F_CONTACT,
	              "mirror_serve_mirror_last_contact_seconds",
	              "Seconds since the mirror last acknowledged data of its "
	              "log stream.");
	mirror_family(f, md, F_RESV, "mirror_serve_mirror_reservation_index",
	              "Index the mirror's retention reservation holds.");
	mirror_family(f, md, F_UNACKED, "mirror_serve_mirror_unacked_bytes",
	              "Bytes of the log stream sent and not yet acknowledged.");
	mirror_family(f, md, F_AGE, "mirror_serve_mirror_stream_age_seconds",
	              "Seconds since the mirror's log request arrived.");
	fprintf(f, "# HELP mirror_serve_snapshot_stream_index Snapshot index "
	           "being sent to a mirror.\n# TYPE "
	           "mirror_serve_snapshot_stream_index gauge\n");
	for (size_t i = 0; i < md->nmirrors; i++) {
		const struct serve_mirror_stat *m = &md->mirrors[i];

		if (!m->snapshot)
			continue;
		addr_text(m, addr, sizeof addr);
		fprintf(f, "mirror_serve_snapshot_stream_index{identity=\"");
		esc(f, m->identity);
		fprintf(f, "\",database=\"");
		esc(f, m->database);
		fprintf(f, "\",address=\"%s\"} %" PRIu64 "\n", addr,
		        m->snapshot_index);
	}
	fprintf(f,
	        "# HELP mirror_serve_wal_index_loads_total Loads of "
	        "sealed wal segments by readers: from the index cache "
	        "(hit) or by reading the whole segment (miss).\n"
	        "# TYPE mirror_serve_wal_index_loads_total counter\n"
	        "mirror_serve_wal_index_loads_total{result=\"hit\"} "
	        "%" PRIu64 "\n"
	        "mirror_serve_wal_index_loads_total{result=\"miss\"} "
	        "%" PRIu64 "\n",
	        md->index_hits, md->index_misses);
	/* mirror_build_info and process_*: the follower's code
	 * (agent/status), so both exporters say the same. */
	if (proc != NULL) {
		size_t plen;
		char *p = status_prometheus_process_format(proc, &plen);

		if (p == NULL) {
			fclose(f);
			free(buf);
			return NULL;
		}
		fwrite(p, 1, plen, f);
		free(p);
	}
	return finish(f, &buf, len);
}

char *serve_metrics_model_json(const struct serve_metrics_model *md,
                               size_t *len)
{
	const struct transport_server_refusals *c = &md->conn;
	const struct serve_refused *r = &md->req;
	char *buf = NULL, addr[INET6_ADDRSTRLEN + 16];
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (f == NULL)
		return NULL;
	fprintf(f,
	        "{\"port\":%u,\"connections\":%u,\"handshakes\":%u,"
	        "\"tls_reloads\":%" PRIu64 ",\"databases\":[",
	        (unsigned)md->port, md->connections, md->handshakes,
	        md->tls_reloads);
	for (size_t i = 0; i < md->ndbs; i++) {
		const struct serve_database_stat *d = &md->dbs[i];

		fprintf(f, "%s{\"name\":\"", i ? "," : "");
		esc(f, d->name);
		fprintf(f,
		        "\",\"commit_index\":%" PRIu64
		        ",\"first_index\":%" PRIu64
		        ",\"log_streams\":%u,\"log_readable\":%s}",
		        d->commit_index, d->first_index, d->log_streams,
		        d->tail_ok ? "true" : "false");
	}
	fprintf(f, "],\"mirrors\":[");
	for (size_t i = 0; i < md->nmirrors; i++) {
		const struct serve_mirror_stat *m = &md->mirrors[i];
		const struct serve_database_stat *d = db_of(md, m);

		addr_text(m, addr, sizeof addr);
		fprintf(f, "%s{\"identity\":\"", i ? "," : "");
		esc(f, m->identity);
		fprintf(f, "\",\"database\":\"");
		esc(f, m->database);
		fprintf(
		    f,
		    "\",\"address\":\"%s\",\"stream\":\"%s\",\"age_s\":%.3f,"
		    "\"last_contact_s\":%.3f,\"bytes_sent\":%" PRIu64
		    ",\"unacked_bytes\":%zu",
		    addr, m->snapshot ? "snapshot" : "log",
		    (double)m->age_ms / 1000.0,
		    (double)m->contact_age_ms / 1000.0, m->bytes_sent,
		    m->unacked);
		if (m->snapshot)
			fprintf(f,
			        ",\"snapshot_index\":%" PRIu64
			        ",\"snapshot_size\":%" PRIu64 "}",
			        m->snapshot_index, m->snapshot_size);
		else {
			fprintf(f,
			        ",\"requested_from\":%" PRIu64
			        ",\"sent_index\":%" PRIu64
			        ",\"commit_index\":%" PRIu64
			        ",\"lag_entries\":%" PRIu64
			        ",\"reservation_index\":%" PRIu64
			        ",\"retention_headroom_s\":",
			        m->requested_from, m->sent_index,
			        d != NULL ? d->commit_index : 0, lag_of(m, d),
			        m->reservation_index);
			if (m->has_headroom)
				fprintf(f, "%" PRIu64 "}", m->headroom_s);
			else
				fprintf(f, "null}");
		}
	}
	fprintf(f,
	        "],\"refused_connections\":{\"max_connections\":%" PRIu64
	        ",\"max_handshakes\":%" PRIu64
	        ",\"max_handshakes_per_address\":%" PRIu64
	        ",\"invalid_token\":%" PRIu64 ",\"tls\":%" PRIu64
	        ",\"handshake_failed\":%" PRIu64 "},\"refused_requests\":{"
	        "\"bad_request\":%" PRIu64 ",\"forbidden\":%" PRIu64
	        ",\"not_found\":%" PRIu64 ",\"identity_limit\":%" PRIu64 "}}\n",
	        c->max_connections, c->max_handshakes,
	        c->max_handshakes_per_addr, c->invalid_token, c->tls,
	        c->handshake_other, r->bad_request, r->forbidden, r->not_found,
	        r->identity_limit);
	return finish(f, &buf, len);
}

char *serve_metrics_prometheus(struct serve *sv, uint64_t now,
                               const struct status_process *proc, size_t *len)
{
	struct serve_metrics_model md;
	char *text;

	if (serve_metrics_model_take(sv, now, &md) != 0)
		return NULL;
	text = serve_metrics_model_prometheus(&md, proc, len);
	serve_metrics_model_free(&md);
	return text;
}

char *serve_metrics_json(struct serve *sv, uint64_t now, size_t *len)
{
	struct serve_metrics_model md;
	char *text;

	if (serve_metrics_model_take(sv, now, &md) != 0)
		return NULL;
	text = serve_metrics_model_json(&md, len);
	serve_metrics_model_free(&md);
	return text;
}

/* ---- listener ---- */

static void send_text(struct evhttp_request *req, int code, const char *reason,
                      const char *type, const char *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Content-Type", type);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Cache-Control", "no-store");
	if (b != NULL)
		evbuffer_add(b, body, len);
	evhttp_send_reply(req, code, reason, b);
	if (b != NULL)
		evbuffer_free(b);
}

static void send_error(struct evhttp_request *req, int code, const char *reason,
                       const char *detail)
{
	char body[256];
	int n =
	    snprintf(body, sizeof body,
	             "{\"error\":\"%s\",\"detail\":\"%s\"}\n", reason, detail);

	send_text(req, code, reason, "application/json", body, (size_t)n);
}

static bool authorized(struct serve_metrics *m, struct evhttp_request *req)
{
	char got[STATUS_TOKEN_HEX_SIZE];

	if (!m->auth)
		return true;
	if (!status_token_from_request(req, "mirror-agent serve", send_error,
	                               got))
		return false;
	if (!status_token_equal(got, m->token_sha)) {
		send_error(req, 403, "forbidden", "this token is not accepted");
		return false;
	}
	return true;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct serve_metrics *m = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evhttp_uri *u = evhttp_uri_parse(uri);
	const char *path = u != NULL ? evhttp_uri_get_path(u) : NULL;
	char *body = NULL;
	size_t len = 0;

	if (path == NULL) {
		send_error(req, 400, "bad request", "cannot parse the URI");
		goto out;
	}
	if (!authorized(m, req))
		goto out;
	if (strcmp(path, "/metrics") == 0) {
		struct status_process proc;

		status_process_read(&proc);
		body = serve_metrics_prometheus(m->sv, clock_mono_ms(), &proc,
		                                &len);
		if (body != NULL)
			send_text(req, 200, "OK",
			          "text/plain; version=0.0.4; charset=utf-8",
			          body, len);
	} else if (strcmp(path, "/status") == 0) {
		body = serve_metrics_json(m->sv, clock_mono_ms(), &len);
		if (body != NULL)
			send_text(req, 200, "OK", "application/json", body,
			          len);
	} else {
		send_error(req, 404, "not found",
		           "serve answers /metrics and /status");
		goto out;
	}
	if (body == NULL)
		send_error(req, 500, "internal error", "out of memory");
	free(body);
out:
	if (u != NULL)
		evhttp_uri_free(u);
}

/* ---- the connection cap ---- */

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	struct serve_metrics *m = arg;

	(void)evcon;
	if (m->nconns > 0)
		m->nconns--;
	if (m->nconns < SERVE_METRICS_MAX_CONNECTIONS)
		status_listen_guard_hold(&m->guard, false);
}

/* Hooks the close of every connection accepted since the last run. evhttp
 * has made its connection (the bufferevent's callback argument) by now
 * and none of them has done I/O yet. */
static void adopt_cb(evutil_socket_t fd, short what, void *arg)
{
	struct serve_metrics *m = arg;

	(void)fd;
	(void)what;
	for (unsigned i = 0; i < m->npending; i++) {
		void *cbarg = NULL;

		bufferevent_getcb(m->pending[i], NULL, NULL, NULL, &cbarg);
		if (cbarg != NULL)
			evhttp_connection_set_closecb(cbarg, on_conn_close, m);
		else if (m->nconns > 0)
			m->nconns--; /* evhttp did not take it */
	}
	m->npending = 0;
}

/* evhttp's bufferevent factory: runs once per accepted connection. */
static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
	struct serve_metrics *m = arg;
	struct bufferevent *bev =
	    bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);

	if (bev == NULL)
		return NULL;
	if (m->npending < SERVE_METRICS_MAX_CONNECTIONS) {
		m->pending[m->npending++] = bev;
		m->nconns++;
		event_active(m->adopt, EV_TIMEOUT, 0);
	}
	/* libevent's listener accepts its whole backlog in one callback and
	 * looks at its enabled flag after each connection. */
	if (m->nconns >= SERVE_METRICS_MAX_CONNECTIONS)
		status_listen_guard_hold(&m->guard, true);
	return bev;
}

int serve_metrics_new(struct event_base *base, struct serve *sv,
                      const struct serve_metrics_options *o,
                      struct serve_metrics **out, char *errmsg)
{
	struct serve_metrics *m;
	struct evhttp_bound_socket *bs;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int rc;

	*out = NULL;
	if (!status_listen_host_is_loopback(o->host) &&
	    (o->token_sha256 == NULL || o->token_sha256[0] == '\0'))
		return ma_errorf(
		    errmsg, MA_ERR_CONFIG,
		    "[serve] metrics_listen %s is not a loopback "
		    "address and no [serve] metrics_token_sha256 "
		    "is set: anyone who reaches it would see every "
		    "mirror; set a token or listen on 127.0.0.1",
		    o->host);
	m = calloc(1, sizeof *m);
	if (m == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	m->sv = sv;
	if (o->token_sha256 != NULL && o->token_sha256[0] != '\0') {
		snprintf(m->token_sha, sizeof m->token_sha, "%s",
		         o->token_sha256);
		m->auth = true;
	}
	m->http = evhttp_new(base);
	if (m->http == NULL) {
		free(m);
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	}
	evhttp_set_timeout(m->http, SERVE_METRICS_TIMEOUT_S);
	evhttp_set_max_headers_size(m->http, SERVE_METRICS_HEADERS_MAX);
	evhttp_set_max_body_size(m->http, 0);
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(m->http, on_request, m);
	m->adopt = event_new(base, -1, 0, adopt_cb, m);
	if (m->adopt == NULL) {
		serve_metrics_free(m);
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	}
	evhttp_set_bevcb(m->http, make_bev, m);
	bs = evhttp_bind_socket_with_handle(m->http, o->host, o->port);
	if (bs == NULL) {
		serve_metrics_free(m);
		return ma_errorf(errmsg, MA_ERR_CONFIG,
		                 "[serve] metrics_listen: cannot listen on "
		                 "%s port %u (in use, or not an address of "
		                 "this host)",
		                 o->host, (unsigned)o->port);
	}
	rc = status_listen_guard_init(&m->guard, base,
	                              evhttp_bound_socket_get_listener(bs),
	                              "serve: metrics listener", errmsg);
	if (rc != 0) {
		serve_metrics_free(m);
		return rc;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss,
	                &sl) == 0)
		m->port = ntohs(ss.ss_family == AF_INET6
		                    ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                    : ((struct sockaddr_in *)&ss)->sin_port);
	log_info("serve: metrics on http://%s%s%s:%u/metrics and /status%s",
	         strchr(o->host, ':') ? "[" : "", o->host,
	         strchr(o->host, ':') ? "]" : "", (unsigned)m->port,
	         m->auth ? " (bearer token required)" : "");
	*out = m;
	return 0;
}

uint16_t serve_metrics_port(const struct serve_metrics *m)
{
	return m->port;
}

void serve_metrics_free(struct serve_metrics *m)
{
	if (m == NULL)
		return;
	status_listen_guard_free(&m->guard);
	if (m->http != NULL)
		evhttp_free(m->http);
	if (m->adopt != NULL)
		event_free(m->adopt);
	free(m);
}
