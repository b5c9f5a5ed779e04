/* transport: what happens to a connection when the client's address
 * changes (NAT rebinding of its port, of its address), and how
 * connections end: Version Negotiation for versions we do not speak,
 * GOAWAY before the server's close at shutdown, CONNECTION_CLOSE when a
 * client is freed; and GSO batches sized to the peer's
 * max_udp_payload_size. Loopback only; every test is bounded by a
 * libevent timer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "common/clock.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "tests/integration/test_transport_util.h"
#include "tests/lib/fixture.h"
#include "transport/transport.h"

#define CHUNK (64 * 1024)
#define CAP (1024 * 1024)

struct t {
	struct test_pki *pki;
	struct event_base *base;
	struct event *deadline;
	struct transport_server *srv;
	struct transport_client *cli;
	int timed_out;
	/* server side */
	int requests, req_closed, req_closed_err;
	struct transport_request *req;
	uint64_t size, off;
	/* the client's address as the server last saw it, and how often
	 * the server saw it change during the transfer */
	struct sockaddr_storage seen;
	socklen_t seenlen;
	int seen_changes;
	double req_closed_at;
	/* client side */
	int connected, closed, closed_err;
	char closed_msg[MA_ERRMSG_SIZE];
	double closed_at;
	/* rebinding */
	uint64_t rebind_every, next_rebind;
	const char *const *addrs; /* local addresses to cycle, NULL = same */
	int naddrs, rebinds;
	char rebind_err[MA_ERRMSG_SIZE];
	/* response */
	int status, ended, failed;
	uint64_t bytes;
	uint32_t crc;
	int break_on_connect;
};

static int same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
	const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

	return a->sa_family == AF_INET && b->sa_family == AF_INET &&
	       x->sin_port == y->sin_port &&
	       x->sin_addr.s_addr == y->sin_addr.s_addr;
}

/* ---- server app: a generated body of size bytes ---- */

static void note_peer(struct t *t, struct transport_request *req)
{
	socklen_t len = 0;
	const struct sockaddr *sa = transport_request_peer_addr(req, &len);

	assert_non_null(sa);
	if (t->seenlen != 0 &&
	    !same_addr(sa, (const struct sockaddr *)&t->seen))
		t->seen_changes++;
	memcpy(&t->seen, sa, len);
	t->seenlen = len;
}

static void pump(struct t *t)
{
	static uint8_t buf[CHUNK];

	note_peer(t, t->req);
	/* Bounded by the body size; stops at the first MA_ERR_AGAIN. */
	while (t->off < t->size) {
		size_t n = t->size - t->off < CHUNK ? (size_t)(t->size - t->off)
		                                    : CHUNK;
		int rv;

		fx_body_fill(buf, t->off, n);
		rv = transport_response_write(t->req, buf, n);
		if (rv == MA_ERR_AGAIN)
			return;
		assert_int_equal(rv, 0);
		t->off += n;
	}
	assert_int_equal(transport_response_end(t->req), 0);
	t->req = NULL;
}

static void on_request(struct transport_request *req, void *user)
{
	struct t *t = user;
	unsigned long long size;

	t->requests++;
	assert_int_equal(
	    sscanf(transport_request_path(req), "/big?size=%llu", &size), 1);
	t->req = req;
	t->size = size;
	t->off = 0;
	assert_int_equal(
	    transport_response_start(req, 200, "application/octet-stream"), 0);
	pump(t);
}

static void on_writable(struct transport_request *req, void *user)
{
	struct t *t = user;

	assert_ptr_equal(req, t->req);
	pump(t);
}

static void on_request_closed(struct transport_request *req, int error,
                              void *user)
{
	struct t *t = user;

	t->req_closed++;
	t->req_closed_at = clock_mono_s();
	if (error != 0)
		t->req_closed_err++;
	if (req == t->req)
		t->req = NULL;
}

static const struct transport_server_callbacks srv_cb = {
    on_request, on_writable, on_request_closed};

/* ---- client app ---- */

static void on_response(struct transport_stream *s, int status, void *user)
{
	((struct t *)user)->status = status;
}

/* The client's next packet (the ACK of what just arrived) leaves from a
 * new port or address. */
static void rebind(struct t *t)
{
	const char *addr = t->addrs ? t->addrs[t->rebinds % t->naddrs] : NULL;

	if (transport_client_rebind(t->cli, addr, t->rebind_err) != 0) {
		event_base_loopbreak(t->base);
		return;
	}
	t->rebinds++;
}

static void on_body(struct transport_stream *s, const uint8_t *data, size_t len,
                    void *user)
{
	struct t *t = user;
	t->crc = crc32c_append(t->crc, data, len);
	t->bytes += len;
	if (t->rebind_every != 0 && t->bytes >= t->next_rebind) {
		t->next_rebind += t->rebind_every;
		rebind(t);
	}
}

static void on_end(struct transport_stream *s, void *user)
{
	struct t *t = user;

	t->ended = 1;
	event_base_loopbreak(t->base);
}

static void on_error(struct transport_stream *s, int code, const char *msg,
                     void *user)
{
	struct t *t = user;

	t->failed = code;
	event_base_loopbreak(t->base);
}

static const struct transport_stream_callbacks st_cb = {on_response, on_body,
                                                        on_end, on_error};

static void on_connected(struct transport_client *c, void *user)
{
	struct t *t = user;

	t->connected = 1;
	if (t->break_on_connect)
		event_base_loopbreak(t->base);
}

static void on_closed(struct transport_client *c, int error, const char *msg,
                      void *user)
{
	struct t *t = user;

	t->closed = 1;
	t->closed_at = clock_mono_s();
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

/* srv_udp/cli_udp: each side's max_udp_payload (0 = default). */
static void start(struct t *t, struct test_pki *pki, int seconds,
                  uint32_t srv_udp, uint32_t cli_udp)
{
	struct transport_server_config sc = {0};
	struct transport_client_config cc = {0};
	struct timeval tv = {seconds, 0};
	char errmsg[MA_ERRMSG_SIZE];
	int rv;

	memset(t, 0, sizeof *t);
	t->pki = pki;
	t->base = event_base_new();
	assert_non_null(t->base);
	t->deadline = evtimer_new(t->base, on_deadline, t);
	assert_non_null(t->deadline);
	evtimer_add(t->deadline, &tv);
	sc.cert_file = test_pki_file(pki, "server.pem");
	sc.key_file = test_pki_file(pki, "server.key");
	sc.client_ca_file = test_pki_file(pki, "ca.pem");
	sc.max_unacked = CAP;
	sc.tuning.max_udp_payload = srv_udp;
	rv = transport_server_new(t->base, &sc, &srv_cb, t, &t->srv, errmsg);
	if (rv != 0)
		fail_msg("server: %s", errmsg);
	cc.host = "127.0.0.1";
	cc.port = transport_server_port(t->srv);
	cc.local_addr = "127.0.0.1";
	cc.server_name = "localhost";
	cc.ca_file = test_pki_file(pki, "ca.pem");
	cc.cert_file = test_pki_file(pki, "mirror-1.pem");
	cc.key_file = test_pki_file(pki, "mirror-1.key");
	cc.handshake_timeout_ms = 3000;
	cc.tuning.max_udp_payload = cli_udp;
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

static void get_big(struct t *t, uint64_t size)
{
	struct transport_stream *s;
	char path[64];

	snprintf(path, sizeof path, "/big?size=%llu", (unsigned long long)size);
	assert_int_equal(transport_client_request(t->cli, path, &st_cb, t, &s),
	                 0);
}

/* ---- migration ---- */

/* A transfer during which the client's address changes every
 * rebind_every bytes completes on the one connection, with the right
 * bytes, and the server follows the client to its last address. */
static void transfer_with_rebinds(struct test_pki *pki,
                                  const char *const *addrs, int naddrs)
{
	const uint64_t size = 24u << 20;
	const struct sockaddr *local;
	socklen_t locallen;
	struct t t;
	double t0;

	start(&t, pki, 30, 0, 0);
	t.addrs = addrs;
	t.naddrs = naddrs;
	t.rebind_every = 2u << 20;
	t.next_rebind = t.rebind_every;
	get_big(&t, size);
	t0 = clock_mono_s();
	event_base_dispatch(t.base);
	if (t.rebind_err[0] != '\0')
		fail_msg("rebind failed: %s", t.rebind_err);
	if (t.timed_out)
		fail_msg("timed out after %d rebinds, %llu of %llu bytes, the "
		         "server saw %d address changes%s%s",
		         t.rebinds, (unsigned long long)t.bytes,
		         (unsigned long long)size, t.seen_changes,
		         t.closed ? "; client closed: " : "", t.closed_msg);
	assert_int_equal(t.failed, 0);
	assert_true(t.ended);
	assert_int_equal(t.status, 200);
	assert_int_equal(t.bytes, size);
	assert_int_equal(t.crc, fx_body_crc(size));
	/* One request on one connection: nothing reconnected. */
	assert_int_equal(t.requests, 1);
	assert_int_equal(transport_server_connections(t.srv), 1);
	assert_false(t.closed);
	/* One rebind at each 2 MiB of the 24: 12, or 11 when the body
	 * ended in the same batch that crossed the last threshold. */
	assert_in_range(t.rebinds, 11, 12);
	/* The server saw the client move, and followed it to where it is
	 * now (its replies reach only the current socket). */
	assert_true(t.seen_changes >= 3);
	local = transport_client_local_addr(t.cli, &locallen);
	assert_true(same_addr(local, (const struct sockaddr *)&t.seen));
	printf("# 24 MiB with %d rebinds in %.3f s; the server saw %d "
	       "address changes\n",
	       t.rebinds, clock_mono_s() - t0, t.seen_changes);
	stop(&t);
}

static void test_rebind_port(void **state)
{
	transfer_with_rebinds(*state, NULL, 0);
}

static void test_rebind_addr(void **state)
{
	static const char *const addrs[] = {"127.0.0.2", "127.0.0.3",
	                                    "127.0.0.1"};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	/* All of 127/8 is loopback on Linux; elsewhere it may not be. */
	assert_true(fd >= 0);
	inet_pton(AF_INET, "127.0.0.3", &sa.sin_addr);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		skip();
	}
	close(fd);
	transfer_with_rebinds(*state, addrs, 3);
}

/* ---- Version Negotiation ---- */

/* Sends a 1200-byte (or len-byte) long-header packet of version to the
 * server and runs its loop until a reply or 300 ms. Returns the reply's
 * length (0 = none). */
static ssize_t probe_version(struct t *t, uint32_t version, size_t len,
                             uint8_t *reply, size_t replysz)
{
	uint8_t pkt[1200] = {0};
	struct sockaddr_in to = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	double end = clock_mono_s() + 0.3;
	ssize_t n = 0;

	assert_true(fd >= 0);
	assert_true(len <= sizeof pkt);
	to.sin_port = htons(transport_server_port(t->srv));
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	pkt[0] = 0xc0; /* long header, Initial */
	pkt[1] = (uint8_t)(version >> 24);
	pkt[2] = (uint8_t)(version >> 16);
	pkt[3] = (uint8_t)(version >> 8);
	pkt[4] = (uint8_t)version;
	pkt[5] = 8; /* DCID 0x11.. */
	memset(pkt + 6, 0x11, 8);
	pkt[14] = 4; /* SCID 0x22.. */
	memset(pkt + 15, 0x22, 4);
	assert_int_equal(
	    sendto(fd, pkt, len, 0, (struct sockaddr *)&to, sizeof to),
	    (ssize_t)len);
	/* Bounded by the 300 ms above. */
	while (clock_mono_s() < end) {
		struct pollfd p = {fd, POLLIN, 0};

		event_base_loop(t->base, EVLOOP_NONBLOCK);
		if (poll(&p, 1, 5) == 1) {
			n = recv(fd, reply, replysz, 0);
			break;
		}
	}
	close(fd);
	return n < 0 ? 0 : n;
}

static void test_version_negotiation(void **state)
{
	/* draft-29 and the v2 draft: ngtcp2 knows them, we do not speak
	 * them; QUIC v2 (RFC 9369, which ngtcp2 1.11 also speaks); a
	 * reserved version. */
	static const uint32_t versions[] = {0xff00001du, 0x709a50c4u,
	                                    0x6b3343cfu, 0x1a2a3a4au};
	uint8_t r[256];
	struct t t;

	start(&t, *state, 10, 0, 0);
	for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
		ssize_t n = probe_version(&t, versions[i], 1200, r, sizeof r);

		/* Header, version 0, CIDs swapped, then the one version we
		 * speak: 7 + 4 + 8 + 4 bytes. */
		if (n != 23)
			fail_msg("version 0x%08x: VN of %zd bytes, want 23",
			         versions[i], n);
		assert_true(r[0] & 0x80);
		assert_memory_equal(r + 1, "\0\0\0\0", 4);
		assert_int_equal(r[5], 4);
		assert_memory_equal(r + 6, "\x22\x22\x22\x22", 4);
		assert_int_equal(r[10], 8);
		assert_memory_equal(r + 11, "\x11\x11\x11\x11\x11\x11\x11\x11",
		                    8);
		assert_memory_equal(r + 19, "\0\0\0\1", 4);
	}
	/* Below 1200 bytes no VN: it would let a spoofed packet draw a
	 * reply larger than itself. */
	assert_int_equal(probe_version(&t, 0xff00001du, 600, r, sizeof r), 0);
	stop(&t);
}

/* ---- how connections end ---- */

/* At shutdown the server sends GOAWAY before its CONNECTION_CLOSE: the
 * client reports an orderly shutdown at once, not a bare close. */
static void test_server_shutdown_goaway(void **state)
{
	struct t t;
	double t0;

	start(&t, *state, 10, 0, 0);
	t.break_on_connect = 1;
	event_base_dispatch(t.base);
	assert_true(t.connected);
	t.break_on_connect = 0;
	t0 = clock_mono_s();
	transport_server_free(t.srv);
	t.srv = NULL;
	event_base_dispatch(t.base);
	assert_false(t.timed_out);
	assert_true(t.closed);
	assert_int_equal(t.closed_err, MA_ERR_TRANSPORT);
	if (strstr(t.closed_msg, "GOAWAY") == NULL)
		fail_msg("client saw \"%s\", not the GOAWAY", t.closed_msg);
	assert_true(t.closed_at - t0 < 1.0);
	printf("# client saw after %.1f ms: %s\n", (t.closed_at - t0) * 1e3,
	       t.closed_msg);
	stop(&t);
}

/* A client freed in the middle of a transfer (a follower exiting) tells
 * the server, which ends the request and frees the connection within
 * its draining period, not at its 30 s idle timeout. */
static void test_client_free_closes(void **state)
{
	struct t t;
	double t0, end;

	start(&t, *state, 10, 0, 0);
	get_big(&t, 1u << 30);
	t.rebind_every = 0;
	/* Run until the transfer is under way (bounded by the deadline). */
	while (t.bytes < (4u << 20) && !t.timed_out && !t.closed)
		event_base_loop(t.base, EVLOOP_ONCE);
	assert_false(t.timed_out);
	assert_int_equal(transport_server_connections(t.srv), 1);
	t0 = clock_mono_s();
	transport_client_free(t.cli);
	t.cli = NULL;
	end = t0 + 2.0;
	/* Bounded: 2 s, far below the idle timeout. */
	while (transport_server_connections(t.srv) != 0 &&
	       clock_mono_s() < end) {
		struct timeval tick = {0, 1000};

		event_base_loopexit(t.base, &tick);
		event_base_dispatch(t.base);
	}
	assert_int_equal(t.req_closed, 1);
	assert_int_equal(t.req_closed_err, 1);
	assert_int_equal(transport_server_connections(t.srv), 0);
	printf("# server ended the request %.1f ms and freed the connection "
	       "%.1f ms after the client was freed\n",
	       (t.req_closed_at - t0) * 1e3, (clock_mono_s() - t0) * 1e3);
	assert_true(t.req_closed_at - t0 < 0.5);
	stop(&t);
}

/* ---- batching ---- */

/* A server allowed large datagrams (loopback: 65000, no shaping) facing a
 * peer that accepts only 1452-byte ones (quic-go's limit) must still
 * batch: many datagrams per GSO send, not one sendmsg per datagram. */
static void test_batches_to_peer_limit(void **state)
{
	const uint64_t size = 16u << 20;
	uint64_t pkts, sends;
	struct t t;

	start(&t, *state, 30, 0, 1452);
	get_big(&t, size);
	event_base_dispatch(t.base);
	assert_false(t.timed_out);
	assert_true(t.ended);
	assert_int_equal(t.bytes, size);
	assert_int_equal(t.crc, fx_body_crc(size));
	transport_server_tx_stats(t.srv, &pkts, &sends);
	printf("# 16 MiB to a 1452-byte peer: %llu datagrams in %llu sends "
	       "(%.1f per send)\n",
	       (unsigned long long)pkts, (unsigned long long)sends,
	       (double)pkts / (double)(sends ? sends : 1));
	/* 16 MiB in datagrams of at most 1452 bytes. */
	assert_true(pkts >= size / 1452);
	/* Each datagram on its own would be 1 per send; GSO batches of up
	 * to 44 give far more. The kernel may refuse GSO: then say so. */
	if (pkts < 4 * sends)
		fail_msg("only %.2f datagrams per send (GSO batches ignore the "
		         "peer's max_udp_payload_size, or the kernel refused "
		         "UDP_SEGMENT)",
		         (double)pkts / (double)sends);
	stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rebind_port),
	    cmocka_unit_test(test_rebind_addr),
	    cmocka_unit_test(test_version_negotiation),
	    cmocka_unit_test(test_server_shutdown_goaway),
	    cmocka_unit_test(test_client_free_closes),
	    cmocka_unit_test(test_batches_to_peer_limit),
	};

	return cmocka_run_group_tests(tests, fx_pki_setup, fx_pki_teardown);
}
