/* transport: HTTP/3 client and server over loopback — small and 64 MiB
 * bodies, backpressure cap, concurrent streams, mutual TLS refusals, peer
 * identity, server shutdown, loopback (large) and Ethernet-sized UDP
 * payloads. Every test is bounded by a libevent timer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "common/clock.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "common/log.h"
#include "tests/integration/test_transport_util.h"
#include "tests/lib/fixture.h"
#include "transport/transport.h"

#define CHUNK (64 * 1024)
/* Per-stream unacked cap used by the tests; TRANSPORT_TEST_CAP (bytes) and
 * TRANSPORT_TEST_UDP (max UDP payload) override for measurements. */
static size_t CAP = 1024 * 1024;
static uint32_t udp_payload;
static const char *udp_env;

struct body_gen {
	struct transport_request *req;
	uint64_t size, off;
	int waiting;
};

struct t {
	struct test_pki *pki;
	struct event_base *base;
	struct event *deadline;
	struct transport_server *srv;
	struct transport_client *cli;
	int timed_out;
	/* server side */
	int requests;
	char identity[256];
	size_t max_unacked;
	int req_closed, req_closed_err;
	struct body_gen gens[4];
	int ngens;
	/* client side */
	int connected, closed, closed_err;
	char closed_msg[MA_ERRMSG_SIZE];
	int streams_done, streams_failed, stop_after;
	int free_server_on_connect;
};

struct rx {
	struct t *t;
	int status;
	uint64_t bytes;
	uint32_t crc;
	char small[64];
	int ended, failed;
};

/* ---- server app ---- */

static void pump(struct t *t, struct body_gen *g)
{
	static uint8_t buf[CHUNK];

	/* Bounded by the body size; stops at the first MA_ERR_AGAIN. */
	while (g->off < g->size) {
		size_t n = g->size - g->off < CHUNK ? (size_t)(g->size - g->off)
		                                    : CHUNK;
		size_t un;
		int rv;

		fx_body_fill(buf, g->off, n);
		rv = transport_response_write(g->req, buf, n);
		if (rv == MA_ERR_AGAIN) {
			g->waiting = 1;
			return;
		}
		assert_int_equal(rv, 0);
		g->off += n;
		un = transport_response_unacked(g->req);
		if (un > t->max_unacked)
			t->max_unacked = un;
	}
	assert_int_equal(transport_response_end(g->req), 0);
	g->req = NULL;
}

static void on_request(struct transport_request *req, void *user)
{
	struct t *t = user;
	const char *path = transport_request_path(req);
	unsigned long long size;

	t->requests++;
	snprintf(t->identity, sizeof t->identity, "%s",
	         transport_request_peer(req));
	assert_string_equal(transport_request_method(req), "GET");
	if (strcmp(path, "/small?x=1") == 0) {
		assert_int_equal(
		    transport_response_start(req, 200, "text/plain"), 0);
		assert_int_equal(
		    transport_response_write(req, "hello world", 11), 0);
		assert_int_equal(transport_response_end(req), 0);
		return;
	}
	if (sscanf(path, "/big?size=%llu", &size) == 1 && t->ngens < 4) {
		struct body_gen *g = &t->gens[t->ngens++];

		g->req = req;
		g->size = size;
		g->off = 0;
		transport_request_set_user(req, g);
		assert_int_equal(transport_response_start(
		                     req, 200, "application/octet-stream"),
		                 0);
		pump(t, g);
		return;
	}
	assert_int_equal(transport_response_start(req, 404, NULL), 0);
	assert_int_equal(transport_response_end(req), 0);
}

static void on_writable(struct transport_request *req, void *user)
{
	struct body_gen *g = transport_request_get_user(req);

	assert_non_null(g);
	g->waiting = 0;
	pump(user, g);
}

static void on_request_closed(struct transport_request *req, int error,
                              void *user)
{
	struct t *t = user;
	struct body_gen *g = transport_request_get_user(req);

	t->req_closed++;
	if (error != 0)
		t->req_closed_err++;
	if (g != NULL)
		g->req = NULL;
}

static const struct transport_server_callbacks srv_cb = {
    on_request, on_writable, on_request_closed};

/* ---- client app ---- */

static void on_response(struct transport_stream *s, int status, void *user)
{
	((struct rx *)user)->status = status;
}

static void on_body(struct transport_stream *s, const uint8_t *data, size_t len,
                    void *user)
{
	struct rx *rx = user;

	if (rx->bytes + len < sizeof rx->small)
		memcpy(rx->small + rx->bytes, data, len);
	rx->crc = crc32c_append(rx->crc, data, len);
	rx->bytes += len;
}

static void stream_done(struct t *t)
{
	if (t->streams_done + t->streams_failed >= t->stop_after)
		event_base_loopbreak(t->base);
}

static void on_end(struct transport_stream *s, void *user)
{
	struct rx *rx = user;

	rx->ended = 1;
	rx->t->streams_done++;
	stream_done(rx->t);
}

static void on_error(struct transport_stream *s, int code, const char *msg,
                     void *user)
{
	struct rx *rx = user;

	rx->failed = code;
	rx->t->streams_failed++;
	stream_done(rx->t);
}

static const struct transport_stream_callbacks st_cb = {on_response, on_body,
                                                        on_end, on_error};

static void on_connected(struct transport_client *c, void *user)
{
	struct t *t = user;

	t->connected = 1;
	if (t->free_server_on_connect) {
		transport_server_free(t->srv);
		t->srv = NULL;
	}
}

static void on_closed(struct transport_client *c, int error, const char *msg,
                      void *user)
{
	struct t *t = user;

	t->closed = 1;
	t->closed_err = error;
	snprintf(t->closed_msg, sizeof t->closed_msg, "%s", msg);
	event_base_loopbreak(t->base);
}

static const struct transport_client_callbacks cli_cb = {on_connected,
                                                         on_closed};

/* ---- fixtures ---- */

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct t *t = arg;

	t->timed_out = 1;
	event_base_loopbreak(t->base);
}

static void start(struct t *t, struct test_pki *pki, const char *server_cert,
                  const char *client_name, int seconds)
{
	struct transport_server_config sc = {0};
	struct timeval tv = {seconds, 0};
	char errmsg[MA_ERRMSG_SIZE], cert[32], key[32];
	struct transport_client_config cc = {0};
	int rv;

	memset(t, 0, sizeof *t);
	t->pki = pki;
	t->base = event_base_new();
	assert_non_null(t->base);
	t->deadline = evtimer_new(t->base, on_deadline, t);
	evtimer_add(t->deadline, &tv);
	snprintf(cert, sizeof cert, "%s.pem", server_cert);
	snprintf(key, sizeof key, "%s.key", server_cert);
	sc.cert_file = test_pki_file(pki, cert);
	sc.key_file = test_pki_file(pki, key);
	sc.client_ca_file = test_pki_file(pki, "ca.pem");
	sc.max_unacked = CAP;
	sc.tuning.max_udp_payload = udp_payload;
	rv = transport_server_new(t->base, &sc, &srv_cb, t, &t->srv, errmsg);
	if (rv != 0)
		fail_msg("server: %s", errmsg);
	cc.host = "127.0.0.1";
	cc.port = transport_server_port(t->srv);
	cc.server_name = "localhost";
	cc.ca_file = test_pki_file(pki, "ca.pem");
	if (client_name != NULL) {
		snprintf(cert, sizeof cert, "%s.pem", client_name);
		snprintf(key, sizeof key, "%s.key", client_name);
		cc.cert_file = test_pki_file(pki, cert);
		cc.key_file = test_pki_file(pki, key);
	}
	cc.handshake_timeout_ms = 3000;
	cc.tuning.max_udp_payload = udp_payload;
	rv = transport_client_new(t->base, &cc, &cli_cb, t, &t->cli, errmsg);
	if (rv != 0)
		fail_msg("client: %s", errmsg);
}

static void stop(struct t *t)
{
	transport_client_free(t->cli);
	transport_server_free(t->srv);
	event_free(t->deadline);
	event_base_free(t->base);
}

static void get(struct t *t, const char *path, struct rx *rx)
{
	struct transport_stream *s;

	memset(rx, 0, sizeof *rx);
	rx->t = t;
	assert_int_equal(transport_client_request(t->cli, path, &st_cb, rx, &s),
	                 0);
}

/* ---- tests ---- */

static void test_small_body_and_identity(void **state)
{
	struct t t;
	struct rx rx;

	start(&t, *state, "server", "mirror-1", 10);
	get(&t, "/small?x=1", &rx);
	t.stop_after = 1;
	event_base_dispatch(t.base);
	assert_false(t.timed_out);
	assert_true(t.connected);
	assert_true(rx.ended);
	assert_int_equal(rx.status, 200);
	assert_int_equal(rx.bytes, 11);
	assert_memory_equal(rx.small, "hello world", 11);
	assert_string_equal(t.identity, "mirror-1");
	stop(&t);
}

/* Reads the qlog file NAME in DIR into buf (NUL-terminated, at most
 * size - 1 bytes). */
static void read_qlog(const char *dir, const char *name, char *buf, size_t size)
{
	char path[1024];
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_int_equal(unlink(path), 0);
}

/* MA_QLOG_DIR: each end writes one qlog (JSON-SEQ) of its connection,
 * named by role and connection ID, closed when the connection is freed;
 * a directory that cannot be written leaves the transfer unharmed. */
static void test_qlog_dir(void **state)
{
	static char buf[1 << 16];
	char dir[] = "/tmp/ma-test-qlog-XXXXXX";
	const char *role[2] = {"server-", "client-"};
	char names[2][256] = {"", ""};
	struct dirent *de;
	struct t t;
	struct rx rx;
	DIR *d;
	int files = 0, i;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(setenv("MA_QLOG_DIR", dir, 1), 0);
	start(&t, *state, "server", "mirror-1", 10);
	get(&t, "/small?x=1", &rx);
	t.stop_after = 1;
	event_base_dispatch(t.base);
	stop(&t);
	assert_int_equal(unsetenv("MA_QLOG_DIR"), 0);
	assert_false(t.timed_out);
	assert_int_equal(rx.bytes, 11);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		files++;
		for (i = 0; i < 2; i++)
			if (strncmp(de->d_name, role[i], strlen(role[i])) == 0)
				snprintf(names[i], sizeof names[i], "%s",
				         de->d_name);
	}
	closedir(d);
	assert_int_equal(files, 2);
	for (i = 0; i < 2; i++) {
		/* role + 18-byte connection ID in hex + ".sqlog" */
		assert_int_equal(strlen(names[i]),
		                 strlen(role[i]) + 36 + strlen(".sqlog"));
		read_qlog(dir, names[i], buf, sizeof buf);
		assert_int_equal(buf[0], 0x1e);
		assert_non_null(strstr(buf, "\"qlog_format\":\"JSON-SEQ\""));
		assert_non_null(strstr(buf, i == 0 ? "\"type\":\"server\""
		                                   : "\"type\":\"client\""));
		assert_non_null(strstr(buf, "\"transport:packet_sent\""));
		assert_non_null(strstr(buf, "\"transport:packet_received\""));
	}
	assert_int_equal(rmdir(dir), 0);

	/* A directory that does not exist: no qlog, the same transfer. */
	assert_int_equal(setenv("MA_QLOG_DIR", "/nonexistent/ma-qlog", 1), 0);
	start(&t, *state, "server", "mirror-1", 10);
	get(&t, "/small?x=1", &rx);
	t.stop_after = 1;
	event_base_dispatch(t.base);
	stop(&t);
	assert_int_equal(unsetenv("MA_QLOG_DIR"), 0);
	assert_false(t.timed_out);
	assert_true(rx.ended);
	assert_int_equal(rx.status, 200);
	assert_int_equal(rx.bytes, 11);
}

static void test_identity_from_cn(void **state)
{
	struct t t;
	struct rx rx;

	start(&t, *state, "server", "mirror-2", 10);
	get(&t, "/small?x=1", &rx);
	t.stop_after = 1;
	event_base_dispatch(t.base);
	assert_false(t.timed_out);
	assert_true(rx.ended);
	assert_string_equal(t.identity, "mirror-2");
	stop(&t);
}

static void test_64mib_body_backpressure(void **state)
{
	const uint64_t size = 64u << 20;
	struct t t;
	struct rx rx;
	char path[64];
	double t0, dt;

	start(&t, *state, "server", "mirror-1", 60);
	snprintf(path, sizeof path, "/big?size=%llu", (unsigned long long)size);
	get(&t, path, &rx);
	t.stop_after = 1;
	t0 = clock_mono_s();
	event_base_dispatch(t.base);
	dt = clock_mono_s() - t0;
	assert_false(t.timed_out);
	assert_true(rx.ended);
	assert_int_equal(rx.status, 200);
	assert_int_equal(rx.bytes, size);
	assert_int_equal(rx.crc, fx_body_crc(size));
	assert_true(t.max_unacked <= CAP);
	assert_true(t.max_unacked > 0);
	printf("# 64 MiB over loopback in %.3f s: %.1f MB/s (max unacked %zu "
	       "bytes, cap %zu, max UDP payload %s)\n",
	       dt, (double)size / 1e6 / dt, t.max_unacked, CAP,
	       udp_payload ? udp_env : "auto");
	stop(&t);
}

/* The same transfer with Ethernet-sized datagrams (the default off
 * loopback: PMTUD, GSO batches of many segments) instead of the large
 * loopback default. */
static void test_64mib_body_ethernet_payload(void **state)
{
	uint32_t saved = udp_payload;
	const char *saved_env = udp_env;

	udp_payload = 1452;
	udp_env = "1452";
	test_64mib_body_backpressure(state);
	udp_payload = saved;
	udp_env = saved_env;
}

/* PMTUD reaches our 1452-byte limit on a path that carries it (ngtcp2's
 * own probes stop at 1444): the server's qlog shows the bulk of a 2 MiB
 * body in 1452-byte datagrams and none larger. */
static void test_pmtud_reaches_limit(void **state)
{
	const uint64_t size = 2u << 20;
	uint32_t saved = udp_payload;
	char dir[] = "/tmp/ma-test-pmtud-XXXXXX", path[1024], url[64];
	const char *key = "\"raw\":{\"length\":";
	unsigned long max = 0, full = 0;
	struct dirent *de;
	struct t t;
	struct rx rx;
	char *line = NULL;
	size_t cap = 0;
	DIR *d;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(setenv("MA_QLOG_DIR", dir, 1), 0);
	udp_payload = 1452;
	start(&t, *state, "server", "mirror-1", 30);
	snprintf(url, sizeof url, "/big?size=%llu", (unsigned long long)size);
	get(&t, url, &rx);
	t.stop_after = 1;
	event_base_dispatch(t.base);
	stop(&t);
	udp_payload = saved;
	assert_int_equal(unsetenv("MA_QLOG_DIR"), 0);
	assert_false(t.timed_out);
	assert_int_equal(rx.bytes, size);
	assert_int_equal(rx.crc, fx_body_crc(size));
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		int server = strncmp(de->d_name, "server-", 7) == 0;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		f = server ? fopen(path, "r") : NULL;
		while (f != NULL && getline(&line, &cap, f) > 0) {
			const char *p = strstr(line, key);
			unsigned long n;

			if (strstr(line, "\"transport:packet_sent\"") == NULL ||
			    p == NULL)
				continue;
			n = strtoul(p + strlen(key), NULL, 10);
			if (n > max)
				max = n;
			full += n == 1452;
		}
		if (f != NULL)
			fclose(f);
		assert_int_equal(unlink(path), 0);
	}
	closedir(d);
	free(line);
	assert_int_equal(rmdir(dir), 0);
	printf("# 2 MiB: largest datagram %lu bytes, %lu of 1452 bytes\n", max,
	       full);
	assert_int_equal(max, 1452);
	/* 2 MiB is about 1490 full datagrams; the first RTTs go at 1200
	 * bytes and at the earlier probes' sizes. */
	assert_true(full >= 1000);
}

static void test_two_streams_one_connection(void **state)
{
	const uint64_t size = 4u << 20;
	struct t t;
	struct rx a, b, small;
	char path[64];

	start(&t, *state, "server", "mirror-1", 30);
	snprintf(path, sizeof path, "/big?size=%llu", (unsigned long long)size);
	get(&t, path, &a);
	get(&t, path, &b);
	get(&t, "/small?x=1", &small);
	t.stop_after = 3;
	event_base_dispatch(t.base);
	assert_false(t.timed_out);
	assert_true(a.ended && b.ended && small.ended);
	assert_int_equal(a.crc, fx_body_crc(size));
	assert_int_equal(b.crc, fx_body_crc(size));
	assert_int_equal(transport_server_connections(t.srv), 1);
	assert_int_equal(t.requests, 3);
	stop(&t);
}

/* The server's log of one case, captured in a file (its refusals are
 * only logged). */
static char srv_log[4096];

static void log_capture(struct test_pki *pki)
{
	char errmsg[MA_ERRMSG_SIZE];

	assert_int_equal(log_open(test_pki_file(pki, "server.log"), errmsg), 0);
}

static void log_collect(struct test_pki *pki)
{
	const char *path = test_pki_file(pki, "server.log");
	FILE *f = fopen(path, "r");
	size_t n = 0;

	assert_int_equal(log_open(NULL, NULL), 0);
	assert_non_null(f);
	n = fread(srv_log, 1, sizeof srv_log - 1, f);
	srv_log[n] = '\0';
	fclose(f);
	assert_int_equal(remove(path), 0);
}

/* The handshake fails; the client's message names the cause (each of
 * cli_says) and so does the server's log line (srv_says; NULL: the client
 * refused, the server saw only its alert). */
static void expect_refused(void **state, const char *server_cert,
                           const char *client_name, const char *cli_says1,
                           const char *cli_says2, const char *srv_says)
{
	struct t t;
	struct rx rx;
	int srv_ok;

	log_capture(*state);
	start(&t, *state, server_cert, client_name, 10);
	get(&t, "/small?x=1", &rx);
	t.stop_after = 1;
	event_base_dispatch(t.base);
	if (!t.closed)
		event_base_dispatch(t.base); /* stream error came first */
	assert_false(t.timed_out);
	assert_true(t.closed);
	assert_false(t.connected);
	assert_int_equal(t.closed_err, MA_ERR_TLS);
	assert_true(rx.failed != 0);
	assert_int_equal(t.requests, 0);
	/* The server's close is logged before it frees the connection. */
	stop(&t);
	log_collect(*state);
	srv_ok = srv_says == NULL || strstr(srv_log, srv_says) != NULL;
	printf("# client: %s\n", t.closed_msg);
	/* One TAP comment per log line; none when the server logged none. */
	for (char *line = strtok(srv_log, "\n"); line != NULL;
	     line = strtok(NULL, "\n"))
		printf("# server: %s\n", line);
	if (!srv_ok)
		fail_msg("server log lacks \"%s\"", srv_says);
	if (strstr(t.closed_msg, cli_says1) == NULL ||
	    (cli_says2 != NULL && strstr(t.closed_msg, cli_says2) == NULL))
		fail_msg("client message lacks \"%s\"/\"%s\"", cli_says1,
		         cli_says2 != NULL ? cli_says2 : "");
}

static void test_refuse_client_without_cert(void **state)
{
	expect_refused(state, "server", NULL, "certificate_required",
	               "cert_file", "sent no certificate");
}

static void test_refuse_client_from_other_ca(void **state)
{
	expect_refused(state, "server", "other-client", "unknown_ca", NULL,
	               "not signed by a CA we trust");
}

static void test_refuse_server_wrong_name(void **state)
{
	/* Both names: the one asked for and the one presented. */
	expect_refused(state, "server-wrong", "mirror-1", "\"localhost\"",
	               "not-localhost.invalid", NULL);
}

static void test_refuse_client_v1(void **state)
{
	expect_refused(state, "server", "mirror-v1", "version 1", NULL,
	               "X.509 version 1");
}

/* wolfSSL clients would accept a version 1 server certificate (other
 * stacks refuse it): the server refuses to start with one. */
static void test_refuse_server_v1(void **state)
{
	struct test_pki *pki = *state;
	struct event_base *base = event_base_new();
	struct transport_server_config sc = {0};
	struct transport_server *srv = NULL;
	char errmsg[MA_ERRMSG_SIZE];

	assert_non_null(base);
	sc.cert_file = test_pki_file(pki, "server-v1.pem");
	sc.key_file = test_pki_file(pki, "server-v1.key");
	sc.client_ca_file = test_pki_file(pki, "ca.pem");
	assert_int_equal(
	    transport_server_new(base, &sc, &srv_cb, NULL, &srv, errmsg),
	    MA_ERR_TLS);
	printf("# server: %s\n", errmsg);
	assert_non_null(strstr(errmsg, "X.509 version 1"));
	assert_non_null(strstr(errmsg, "server-v1.pem"));
	assert_null(srv);
	event_base_free(base);
}

static void test_refuse_client_expired(void **state)
{
	expect_refused(state, "server", "mirror-expired", "expired", NULL,
	               "has expired");
}

static void test_refuse_server_expired(void **state)
{
	expect_refused(state, "server-expired", "mirror-1", "has expired",
	               "2020", NULL);
}

/* A key that is not the certificate's is named when the context is
 * made, on both sides, before anything reaches the network. */
static void test_key_mismatch(void **state)
{
	struct test_pki *pki = *state;
	struct event_base *base = event_base_new();
	struct transport_server_config sc = {0};
	struct transport_client_config cc = {0};
	struct transport_server *srv = NULL;
	struct transport_client *cli = NULL;
	char errmsg[MA_ERRMSG_SIZE];

	assert_non_null(base);
	sc.cert_file = test_pki_file(pki, "server.pem");
	sc.key_file = test_pki_file(pki, "mirror-2.key");
	sc.client_ca_file = test_pki_file(pki, "ca.pem");
	assert_int_equal(
	    transport_server_new(base, &sc, &srv_cb, NULL, &srv, errmsg),
	    MA_ERR_TLS);
	printf("# server: %s\n", errmsg);
	assert_non_null(strstr(errmsg, "does not match"));
	assert_non_null(strstr(errmsg, "mirror-2.key"));
	cc.host = "127.0.0.1";
	cc.port = 9;
	cc.ca_file = test_pki_file(pki, "ca.pem");
	cc.cert_file = test_pki_file(pki, "mirror-1.pem");
	cc.key_file = test_pki_file(pki, "mirror-2.key");
	assert_int_equal(
	    transport_client_new(base, &cc, &cli_cb, NULL, &cli, errmsg),
	    MA_ERR_TLS);
	printf("# client: %s\n", errmsg);
	assert_non_null(strstr(errmsg, "does not match"));
	assert_null(srv);
	assert_null(cli);
	event_base_free(base);
}

static void test_server_shutdown_closes_client(void **state)
{
	struct t t;

	start(&t, *state, "server", "mirror-1", 10);
	t.free_server_on_connect = 1;
	event_base_dispatch(t.base);
	assert_false(t.timed_out);
	assert_true(t.connected);
	assert_true(t.closed);
	assert_int_equal(t.closed_err, MA_ERR_TRANSPORT);
	printf("# client saw: %s\n", t.closed_msg);
	stop(&t);
}

int main(void)
{
	const char *cap = getenv("TRANSPORT_TEST_CAP");
	const char *udp = getenv("TRANSPORT_TEST_UDP");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_small_body_and_identity),
	    cmocka_unit_test(test_identity_from_cn),
	    cmocka_unit_test(test_qlog_dir),
	    cmocka_unit_test(test_64mib_body_backpressure),
	    cmocka_unit_test(test_64mib_body_ethernet_payload),
	    cmocka_unit_test(test_pmtud_reaches_limit),
	    cmocka_unit_test(test_two_streams_one_connection),
	    cmocka_unit_test(test_refuse_client_without_cert),
	    cmocka_unit_test(test_refuse_client_from_other_ca),
	    cmocka_unit_test(test_refuse_server_wrong_name),
	    cmocka_unit_test(test_refuse_client_v1),
	    cmocka_unit_test(test_refuse_server_v1),
	    cmocka_unit_test(test_refuse_client_expired),
	    cmocka_unit_test(test_refuse_server_expired),
	    cmocka_unit_test(test_key_mismatch),
	    cmocka_unit_test(test_server_shutdown_closes_client),
	};

	if (cap != NULL && atol(cap) > CHUNK)
		CAP = (size_t)atol(cap);
	if (udp != NULL && atol(udp) >= 1200 && atol(udp) <= 65527) {
		udp_payload = (uint32_t)atol(udp);
		udp_env = udp;
	}

	return cmocka_run_group_tests(tests, fx_pki_setup, fx_pki_teardown);
}
