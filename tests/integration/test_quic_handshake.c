/* The QUIC handshake as transport/ does it: a transport server and a
 * transport client (transport/transport.h) in this process over loopback
 * UDP, with mutual TLS from the test PKI. Everything on the wire comes from
 * transport's own ngtcp2 callbacks, settings and TLS sessions, so a bug in
 * them fails here; the test looks through transport_int.h only to read
 * what each side negotiated (TLS 1.3, ALPN h3, the peer's identity, the
 * handshake confirmed) once a request has crossed. test_transport.c covers
 * bodies, refusals and limits. Every wait is bounded by a libevent timer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "common/errors.h"
#include "tests/integration/test_transport_util.h"
#include "transport/transport.h"
#include "transport/transport_int.h"
#include "transport/transport_tls.h"

/* What one side saw of its TLS session, read from transport's tconn. */
struct side {
	int seen;
	int tls13, alpn_h3, completed, confirmed, reused;
	char identity[TLS_IDENTITY_MAX]; /* tls_peer_identity() */
	char reported[TLS_IDENTITY_MAX]; /* server: transport_request_peer() */
	uint16_t peer_port;              /* server: the client's UDP port */
	uint16_t local_port;             /* this side's UDP port */
	int peer_loopback;
};

struct hs {
	struct event_base *base;
	struct event *deadline;
	struct transport_server *srv;
	struct transport_client *cli;
	int timed_out;
	int connected, closed, closed_err;
	unsigned conns_at_connect;
	char closed_msg[MA_ERRMSG_SIZE];
	struct side server, client;
	int status, ended, failed;
	char body[16];
	size_t body_len;
};

static uint16_t port_of(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

static void read_side(struct side *sd, struct tconn *c)
{
	sd->seen = 1;
	sd->tls13 = wolfSSL_version(c->ssl) == TLS1_3_VERSION;
	sd->alpn_h3 = tls_alpn_is_h3(c->ssl);
	sd->completed = c->handshake_completed;
	sd->confirmed = c->handshake_confirmed;
	sd->reused = wolfSSL_session_reused(c->ssl);
	if (tls_peer_identity(c->ssl, sd->identity) != 0)
		sd->identity[0] = '\0';
	sd->local_port = port_of((const struct sockaddr *)&c->local);
}

/* ---- server ---- */

static void on_request(struct transport_request *req, void *user)
{
	struct hs *h = user;
	socklen_t len = 0;
	const struct sockaddr *sa = transport_request_peer_addr(req, &len);

	read_side(&h->server, req->s.c);
	snprintf(h->server.reported, sizeof h->server.reported, "%s",
	         transport_request_peer(req));
	if (sa != NULL && len > 0) {
		h->server.peer_port = port_of(sa);
		h->server.peer_loopback = udp_is_loopback(sa);
	}
	assert_int_equal(transport_response_start(req, 200, "text/plain"), 0);
	assert_int_equal(transport_response_write(req, "hello", 5), 0);
	assert_int_equal(transport_response_end(req), 0);
}

static const struct transport_server_callbacks srv_cb = {on_request, NULL,
                                                         NULL};

/* ---- client ---- */

static void on_connected(struct transport_client *c, void *user)
{
	struct hs *h = user;

	(void)c;
	h->connected++;
	h->conns_at_connect = transport_server_connections(h->srv);
}

static void on_closed(struct transport_client *c, int error, const char *msg,
                      void *user)
{
	struct hs *h = user;

	(void)c;
	h->closed = 1;
	h->closed_err = error;
	snprintf(h->closed_msg, sizeof h->closed_msg, "%s",
	         msg != NULL ? msg : "");
	event_base_loopbreak(h->base);
}

static const struct transport_client_callbacks cli_cb = {on_connected,
                                                         on_closed};

static void on_response(struct transport_stream *s, int status, void *user)
{
	struct hs *h = user;

	h->status = status;
	read_side(&h->client, s->s.c);
}

static void on_body(struct transport_stream *s, const uint8_t *data, size_t len,
                    void *user)
{
	struct hs *h = user;

	(void)s;
	if (h->body_len + len <= sizeof h->body) {
		memcpy(h->body + h->body_len, data, len);
		h->body_len += len;
	} else {
		h->body_len = sizeof h->body + 1; /* too long: fails below */
	}
}

static void on_end(struct transport_stream *s, void *user)
{
	struct hs *h = user;

	(void)s;
	h->ended = 1;
	event_base_loopbreak(h->base);
}

static void on_error(struct transport_stream *s, int code, const char *msg,
                     void *user)
{
	struct hs *h = user;

	(void)s;
	h->failed = code != 0 ? code : -1;
	print_message("# stream failed: %s\n", msg != NULL ? msg : "");
	event_base_loopbreak(h->base);
}

static const struct transport_stream_callbacks st_cb = {on_response, on_body,
                                                        on_end, on_error};

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct hs *h = arg;

	(void)fd;
	(void)what;
	h->timed_out = 1;
	event_base_loopbreak(h->base);
}

/* Runs the loop until a callback breaks it or ms pass. */
static void run(struct hs *h, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(h->deadline, &tv);
	event_base_dispatch(h->base);
	evtimer_del(h->deadline);
}

/* The client certificate start() uses (tests/certs/gen-certs.sh), and
 * the name the client verifies. */
static const char *client_cert = "mirror-1";
static const char *server_name = "localhost";

/* Returns 0, or the transport_server_new() error (for a skip). */
static int start(struct hs *h, struct test_pki *pki, const char *addr)
{
	struct transport_server_config sc;
	struct transport_client_config cc;
	char errmsg[MA_ERRMSG_SIZE], cert[64], key[64];
	int rc;

	memset(h, 0, sizeof *h);
	h->base = event_base_new();
	assert_non_null(h->base);
	h->deadline = evtimer_new(h->base, on_deadline, h);
	assert_non_null(h->deadline);

	memset(&sc, 0, sizeof sc);
	sc.bind_addr = addr;
	sc.cert_file = test_pki_file(pki, "server.pem");
	sc.key_file = test_pki_file(pki, "server.key");
	sc.client_ca_file = test_pki_file(pki, "ca.pem");
	rc = transport_server_new(h->base, &sc, &srv_cb, h, &h->srv, errmsg);
	if (rc != 0) {
		print_message("# server on %s: %s\n", addr, errmsg);
		return rc;
	}
	assert_int_not_equal(transport_server_port(h->srv), 0);

	memset(&cc, 0, sizeof cc);
	cc.host = addr;
	cc.port = transport_server_port(h->srv);
	cc.server_name = server_name;
	cc.ca_file = test_pki_file(pki, "ca.pem");
	snprintf(cert, sizeof cert, "%s.pem", client_cert);
	snprintf(key, sizeof key, "%s.key", client_cert);
	cc.cert_file = test_pki_file(pki, cert);
	cc.key_file = test_pki_file(pki, key);
	cc.handshake_timeout_ms = 5000;
	if (transport_client_new(h->base, &cc, &cli_cb, h, &h->cli, errmsg) !=
	    0)
		fail_msg("client: %s", errmsg);
	return 0;
}

static void stop(struct hs *h)
{
	transport_client_free(h->cli);
	transport_server_free(h->srv);
	event_free(h->deadline);
	event_base_free(h->base);
}

static bool server_empty(struct hs *h)
{
	return transport_server_connections(h->srv) == 0;
}

/* One handshake and one request, then a graceful close, on addr. */
static void handshake(void **state, const char *addr)
{
	struct hs h;
	struct transport_stream *s;
	int rc = start(&h, *state, addr);

	if (rc != 0) {
		assert_int_equal(rc, MA_ERR_IO);
		stop(&h);
		skip(); /* no such loopback address here */
	}
	assert_int_equal(
	    transport_client_request(h.cli, "/hello", &st_cb, &h, &s), 0);
	while (!h.ended && !h.failed && !h.closed && !h.timed_out)
		run(&h, 5000);
	if (h.closed)
		fail_msg("connection closed (%d): %s", h.closed_err,
		         h.closed_msg);
	assert_false(h.timed_out);
	assert_int_equal(h.failed, 0);
	assert_true(h.ended);

	/* Confirmed once, with exactly this connection on the server. */
	assert_int_equal(h.connected, 1);
	assert_int_equal(h.conns_at_connect, 1);
	assert_int_equal(h.status, 200);
	assert_int_equal(h.body_len, 5);
	assert_memory_equal(h.body, "hello", 5);

	/* The server verified the client's certificate... */
	assert_true(h.server.seen);
	assert_true(h.server.tls13);
	assert_true(h.server.alpn_h3);
	assert_true(h.server.completed);
	assert_string_equal(h.server.identity, "mirror-1");
	assert_string_equal(h.server.reported, "mirror-1");
	assert_true(h.server.peer_loopback);
	assert_int_equal(h.server.peer_port, h.client.local_port);
	assert_int_equal(h.server.local_port, transport_server_port(h.srv));
	/* ...and the client the server's, against the name it asked for. */
	assert_true(h.client.seen);
	assert_true(h.client.tls13);
	assert_true(h.client.alpn_h3);
	assert_true(h.client.completed);
	assert_true(h.client.confirmed);
	assert_string_equal(h.client.identity, "localhost");

	/* A graceful close reaches the server: its connection goes away
	 * (bounded: 5 s). */
	transport_client_close(h.cli);
	while (!h.closed && !h.timed_out)
		run(&h, 5000);
	assert_true(h.closed);
	assert_int_equal(h.closed_err, 0);
	for (int i = 0; i < 100 && !server_empty(&h); i++)
		run(&h, 50);
	assert_int_equal(transport_server_connections(h.srv), 0);
	stop(&h);
}

static void test_handshake_mtls_h3(void **state)
{
	handshake(state, "127.0.0.1");
}

static void test_handshake_mtls_h3_ipv6(void **state)
{
	handshake(state, "::1");
}

/* Runs one request on h->cli to its end (bounded: 5 s). */
static void one_request(struct hs *h)
{
	struct transport_stream *s;

	h->ended = h->failed = 0;
	h->body_len = 0;
	assert_int_equal(
	    transport_client_request(h->cli, "/hello", &st_cb, h, &s), 0);
	while (!h->ended && !h->failed && !h->closed && !h->timed_out)
		run(h, 5000);
	if (h->closed)
		fail_msg("connection closed (%d): %s", h->closed_err,
		         h->closed_msg);
	assert_false(h->timed_out);
	assert_int_equal(h->failed, 0);
	assert_int_equal(h->status, 200);
}

/* A client that resumes a TLS session (quic-go does by default), and one
 * that also offers early data, get a full handshake in which the server
 * sees their certificate: the server issues no tickets, so there is
 * nothing to resume and never 0-RTT (replayable). Before, the second
 * connection was resumed without a certificate and refused with
 * INTERNAL_ERROR, and the tickets allowed early data. */
static void resume(void **state, int early)
{
	struct test_pki *pki = *state;
	struct transport_client_config cc;
	char errmsg[MA_ERRMSG_SIZE];
	WOLFSSL_SESSION *sess;
	struct tconn *cc2;
	struct hs hs;
	struct hs *h = &hs;

	assert_int_equal(start(h, pki, "127.0.0.1"), 0);
	one_request(h);
	/* What a resuming client keeps: the session with whatever ticket
	 * the server sent (it arrives with the handshake's end, before the
	 * response). */
	sess = wolfSSL_get1_session(((struct tconn *)h->cli)->ssl);
	assert_non_null(sess);
	/* A ticket that allowed early data would let a replayed request in
	 * before the server's HTTP/3 layer and identity exist. */
	assert_int_equal(wolfSSL_SESSION_get_max_early_data(sess), 0);
	transport_client_free(h->cli);
	h->cli = NULL;

	memset(&cc, 0, sizeof cc);
	cc.host = "127.0.0.1";
	cc.port = transport_server_port(h->srv);
	cc.server_name = "localhost";
	cc.ca_file = test_pki_file(pki, "ca.pem");
	cc.cert_file = test_pki_file(pki, "mirror-1.pem");
	cc.key_file = test_pki_file(pki, "mirror-1.key");
	cc.handshake_timeout_ms = 5000;
	assert_int_equal(
	    transport_client_new(h->base, &cc, &cli_cb, h, &h->cli, errmsg), 0);
	/* The handshake starts from the loop: offer the session first.
	 * wolfSSL refuses a session without a ticket: then the client has
	 * nothing to resume, which is what the server wants. */
	cc2 = (struct tconn *)h->cli;
	(void)wolfSSL_set_session(cc2->ssl, sess);
	if (early)
		wolfSSL_set_quic_early_data_enabled(cc2->ssl, 1);
	h->server.seen = 0;
	one_request(h);
	/* A full handshake that carried the client certificate. */
	assert_true(h->server.seen);
	assert_string_equal(h->server.reported, "mirror-1");
	assert_int_equal(h->server.reused, 0);
	assert_int_equal(wolfSSL_session_reused(cc2->ssl), 0);
	assert_int_not_equal(wolfSSL_get_early_data_status(cc2->ssl),
	                     WOLFSSL_EARLY_DATA_ACCEPTED);
	wolfSSL_SESSION_free(sess);
	stop(h);
}

/* Sends GET /hello with npad extra headers of 6000 bytes each, built with
 * nghttp3 directly on the client's connection (the API sends no headers
 * of its own), and runs it to its end. */
static void raw_request(struct hs *h, int npad)
{
	static char pad[6000];
	struct tconn *c = (struct tconn *)h->cli;
	struct transport_stream *ts = calloc(1, sizeof *ts);
	nghttp3_nv nv[8] = {
	    {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0},
	    {(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0},
	    {(uint8_t *)":authority", (uint8_t *)"localhost", 10, 9, 0},
	    {(uint8_t *)":path", (uint8_t *)"/hello", 5, 6, 0},
	};
	int64_t id;

	assert_non_null(ts);
	assert_true(npad <= 4);
	memset(pad, 'a', sizeof pad);
	for (int i = 0; i < npad; i++)
		nv[4 + i] = (nghttp3_nv){(uint8_t *)"x-pad", (uint8_t *)pad, 5,
		                         sizeof pad, 0};
	ts->s.cb = &st_cb;
	ts->s.user = h;
	assert_int_equal(ngtcp2_conn_open_bidi_stream(c->conn, &id, &ts->s), 0);
	ts->s.id = id;
	assert_int_equal(nghttp3_conn_submit_request(
	                     c->h3, id, nv, (size_t)(4 + npad), NULL, &ts->s),
	                 0);
	tstream_link(c, &ts->s);
	tconn_schedule_write(c);
	h->ended = h->failed = 0;
	h->status = 0;
	while (!h->ended && !h->failed && !h->closed && !h->timed_out)
		run(h, 5000);
	assert_false(h->closed);
	assert_false(h->timed_out);
	assert_int_equal(h->failed, 0);
}

/* The server advertises SETTINGS_MAX_FIELD_SECTION_SIZE 16384 and keeps
 * it: 12 KiB of headers pass, 18 KiB get 431 without reaching the app
 * (before, nghttp3 took them and the request was served). */
static void test_header_section_limit(void **state)
{
	struct hs h;

	assert_int_equal(start(&h, *state, "127.0.0.1"), 0);
	one_request(&h); /* connected, h3 up */
	raw_request(&h, 2);
	assert_int_equal(h.status, 200);
	h.server.seen = 0;
	raw_request(&h, 3);
	assert_int_equal(h.status, 431);
	assert_false(h.server.seen); /* on_request never ran */
	/* The connection is still good for the next request. */
	raw_request(&h, 0);
	assert_int_equal(h.status, 200);
	stop(&h);
}

static void test_resumption_full_handshake(void **state)
{
	resume(state, 0);
}

static void test_early_data_refused(void **state)
{
	resume(state, 1);
}

/* The longest identity an [access] grant can name (255 bytes) arrives
 * whole: serve authorizes on all of it, never on a prefix. */
static void test_identity_longest(void **state)
{
	char want[256];
	struct hs h;

	snprintf(want, sizeof want, "spiffe://mirror-agent.test/%0228d", 0);
	for (char *p = want + 27; *p != '\0'; p++)
		*p = 'a';
	client_cert = "mirror-long";
	assert_int_equal(start(&h, *state, "127.0.0.1"), 0);
	client_cert = "mirror-1";
	one_request(&h);
	assert_int_equal(strlen(h.server.reported), 255);
	assert_string_equal(h.server.reported, want);
	stop(&h);
}

/* A certificate whose identity cannot be used is refused in the handshake
 * with access_denied, and the client is told so. Before, a SAN URI of 256
 * bytes was skipped for the CN ("mirror-toolong": another identity), and
 * a CN with ':' could stand for a URI identity. */
static void refused_identity(void **state, const char *cert)
{
	struct hs h;
	struct transport_stream *s;

	client_cert = cert;
	assert_int_equal(start(&h, *state, "127.0.0.1"), 0);
	client_cert = "mirror-1";
	assert_int_equal(
	    transport_client_request(h.cli, "/hello", &st_cb, &h, &s), 0);
	while (!h.closed && !h.timed_out)
		run(&h, 5000);
	assert_false(h.timed_out);
	assert_true(h.closed);
	print_message("# %s: %s\n", cert, h.closed_msg);
	assert_int_equal(h.closed_err, MA_ERR_TLS);
	assert_non_null(strstr(h.closed_msg, "access_denied"));
	assert_false(h.ended);
	assert_false(h.server.seen); /* no request reached the app */
	stop(&h);
}

static void test_identity_too_long_refused(void **state)
{
	refused_identity(state, "mirror-toolong");
}

static void test_identity_cn_with_colon_refused(void **state)
{
	refused_identity(state, "mirror-colon");
}

/* A source given by IP address is verified against the certificate's IP
 * SANs (server.pem has IP:127.0.0.1; no SNI is sent for an address, RFC
 * 6066 3); an address the certificate does not name is refused, naming
 * both, the certificate's IP SAN included. */
/* The congestion_control names reach ngtcp2 1.x's algorithms (bbr2 is
 * an alias of its one BBR; the enum's values differ from 0.12's), and the
 * payload size follows the peer's address. */
static void test_settings_cc_and_payload(void **state)
{
	static const struct {
		enum transport_cc cc;
		ngtcp2_cc_algo want;
	} map[] = {
	    {TRANSPORT_CC_CUBIC, NGTCP2_CC_ALGO_CUBIC},
	    {TRANSPORT_CC_RENO, NGTCP2_CC_ALGO_RENO},
	    {TRANSPORT_CC_BBR, NGTCP2_CC_ALGO_BBR},
	    {TRANSPORT_CC_BBR2, NGTCP2_CC_ALGO_BBR},
	};
	struct sockaddr_in lo = {.sin_family = AF_INET}, wan = lo;
	ngtcp2_settings st;
	ngtcp2_transport_params tp;

	(void)state;
	lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	wan.sin_addr.s_addr = htonl(0x0a000001); /* 10.0.0.1 */
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		struct transport_tuning t = {.cc = map[i].cc};

		tconn_settings(&st, &tp, &t, (struct sockaddr *)&wan, 42);
		assert_int_equal(st.cc_algo, map[i].want);
		assert_int_equal(st.initial_ts, 42);
		assert_int_equal(st.max_tx_udp_payload_size,
		                 TRANSPORT_DEFAULT_PAYLOAD);
		assert_int_equal(st.no_pmtud, 0);
		assert_int_equal(tp.max_udp_payload_size,
		                 TRANSPORT_DEFAULT_PAYLOAD);
		assert_int_equal(tp.initial_max_data, 16u << 20);
		assert_int_equal(tp.max_idle_timeout, 30 * NGTCP2_SECONDS);
	}
	{
		struct transport_tuning t = {.cc = TRANSPORT_CC_CUBIC};

		tconn_settings(&st, &tp, &t, (struct sockaddr *)&lo, 1);
		assert_int_equal(st.max_tx_udp_payload_size,
		                 TRANSPORT_LOOPBACK_PAYLOAD);
		assert_int_equal(st.no_pmtud, 1);
		assert_int_equal(st.no_tx_udp_payload_size_shaping, 1);
		assert_int_equal(tp.max_udp_payload_size,
		                 TRANSPORT_LOOPBACK_PAYLOAD);
	}
}

static void test_server_name_ip_literal(void **state)
{
	struct hs h;
	struct transport_stream *s;

	server_name = "127.0.0.1";
	assert_int_equal(start(&h, *state, "127.0.0.1"), 0);
	server_name = "localhost";
	one_request(&h);
	assert_string_equal(h.server.reported, "mirror-1");
	stop(&h);

	server_name = "127.0.0.2";
	assert_int_equal(start(&h, *state, "127.0.0.1"), 0);
	server_name = "localhost";
	assert_int_equal(
	    transport_client_request(h.cli, "/hello", &st_cb, &h, &s), 0);
	while (!h.closed && !h.timed_out)
		run(&h, 5000);
	assert_true(h.closed);
	print_message("# 127.0.0.2: %s\n", h.closed_msg);
	assert_int_equal(h.closed_err, MA_ERR_TLS);
	assert_non_null(strstr(h.closed_msg, "\"127.0.0.2\""));
	assert_non_null(strstr(h.closed_msg, "IP:127.0.0.1"));
	assert_non_null(strstr(h.closed_msg, "SAN IP:127.0.0.2"));
	stop(&h);
}

static int setup(void **state)
{
	static struct test_pki pki;

	if (test_pki_make(&pki) != 0)
		return -1;
	*state = &pki;
	return 0;
}

static int teardown(void **state)
{
	test_pki_remove(*state);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handshake_mtls_h3),
	    cmocka_unit_test(test_handshake_mtls_h3_ipv6),
	    cmocka_unit_test(test_header_section_limit),
	    cmocka_unit_test(test_settings_cc_and_payload),
	    cmocka_unit_test(test_server_name_ip_literal),
	    cmocka_unit_test(test_identity_longest),
	    cmocka_unit_test(test_identity_too_long_refused),
	    cmocka_unit_test(test_identity_cn_with_colon_refused),
	    cmocka_unit_test(test_resumption_full_handshake),
	    cmocka_unit_test(test_early_data_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
