/* Day-one smoke test: one QUIC handshake over loopback UDP between a
 * wolfSSL/ngtcp2 client and server in this process, with mutual TLS from
 * the test PKI. Uses ngtcp2 directly (not the transport API) so that a
 * failure here points at the TLS/QUIC setup, not at our HTTP/3 layer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "common/errors.h"
#include "tests/integration/test_transport_util.h"
#include "transport/transport_tls.h"

struct peer {
	int fd;
	struct sockaddr_in addr;
	ngtcp2_conn *conn;
	WOLFSSL *ssl;
	ngtcp2_crypto_conn_ref ref;
	int handshake_done;
	int failed;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
	return ((struct peer *)ref->user_data)->conn;
}

static void rand_cb(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
	assert_int_equal(getrandom(dest, len, 0), (ssize_t)len);
}

static int new_cid_cb(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token,
                      size_t cidlen, void *user)
{
	assert_int_equal(getrandom(cid->data, cidlen, 0), (ssize_t)cidlen);
	cid->datalen = cidlen;
	assert_int_equal(getrandom(token, NGTCP2_STATELESS_RESET_TOKENLEN, 0),
	                 NGTCP2_STATELESS_RESET_TOKENLEN);
	return 0;
}

static int handshake_completed_cb(ngtcp2_conn *conn, void *user)
{
	((struct peer *)user)->handshake_done = 1;
	return 0;
}

static void fill_callbacks(ngtcp2_callbacks *cb, int server)
{
	memset(cb, 0, sizeof *cb);
	if (server) {
		cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
	} else {
		cb->client_initial = ngtcp2_crypto_client_initial_cb;
		cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
	}
	cb->recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
	cb->encrypt = ngtcp2_crypto_encrypt_cb;
	cb->decrypt = ngtcp2_crypto_decrypt_cb;
	cb->hp_mask = ngtcp2_crypto_hp_mask_cb;
	cb->update_key = ngtcp2_crypto_update_key_cb;
	cb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
	cb->delete_crypto_cipher_ctx =
	    ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
	cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
	cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
	cb->rand = rand_cb;
	cb->get_new_connection_id = new_cid_cb;
	cb->handshake_completed = handshake_completed_cb;
}

static void open_socket(struct peer *p)
{
	socklen_t len = sizeof p->addr;

	p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(p->fd >= 0);
	memset(&p->addr, 0, sizeof p->addr);
	p->addr.sin_family = AF_INET;
	p->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(p->fd, (struct sockaddr *)&p->addr, len), 0);
	assert_int_equal(getsockname(p->fd, (struct sockaddr *)&p->addr, &len),
	                 0);
}

static void make_path(ngtcp2_path *path, struct peer *local,
                      struct sockaddr_in *remote)
{
	path->local.addr = (ngtcp2_sockaddr *)&local->addr;
	path->local.addrlen = sizeof local->addr;
	path->remote.addr = (ngtcp2_sockaddr *)remote;
	path->remote.addrlen = sizeof *remote;
	path->user_data = NULL;
}

static void init_settings(ngtcp2_settings *s, ngtcp2_transport_params *tp)
{
	ngtcp2_settings_default(s);
	s->initial_ts = now_ns();
	ngtcp2_transport_params_default(tp);
	tp->initial_max_streams_bidi = 4;
	tp->initial_max_streams_uni = 4;
	tp->initial_max_data = 1 << 20;
	tp->initial_max_stream_data_bidi_local = 1 << 18;
	tp->initial_max_stream_data_bidi_remote = 1 << 18;
	tp->initial_max_stream_data_uni = 1 << 18;
	tp->max_idle_timeout = 5 * NGTCP2_SECONDS;
}

/* Sends everything the connection has to send to `to`. */
static void flush(struct peer *p, struct sockaddr_in *to)
{
	uint8_t buf[1500];
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi;

	ngtcp2_path_storage_zero(&ps);
	for (int i = 0; i < 64 && p->conn != NULL && !p->failed; i++) {
		ngtcp2_ssize n = ngtcp2_conn_write_pkt(
		    p->conn, &ps.path, &pi, buf, sizeof buf, now_ns());
		if (n < 0) {
			p->failed = 1;
			break;
		}
		if (n == 0)
			break;
		assert_int_equal(sendto(p->fd, buf, (size_t)n, 0,
		                        (struct sockaddr *)to, sizeof *to),
		                 n);
	}
}

static void server_accept(struct peer *s, struct sockaddr_in *from,
                          const uint8_t *pkt, size_t len, WOLFSSL_CTX *ctx)
{
	ngtcp2_pkt_hd hd;
	ngtcp2_callbacks cb;
	ngtcp2_settings st;
	ngtcp2_transport_params tp;
	ngtcp2_path path;
	ngtcp2_cid scid;
	char errmsg[MA_ERRMSG_SIZE];

	assert_int_equal(ngtcp2_accept(&hd, pkt, len), 0);
	fill_callbacks(&cb, 1);
	init_settings(&st, &tp);
	tp.original_dcid = hd.dcid;
	scid.datalen = 18;
	assert_int_equal(getrandom(scid.data, scid.datalen, 0), 18);
	make_path(&path, s, from);
	assert_int_equal(ngtcp2_conn_server_new(&s->conn, &hd.scid, &scid,
	                                        &path, hd.version, &cb, &st,
	                                        &tp, NULL, s),
	                 0);
	assert_int_equal(tls_session_new(&s->ssl, ctx, &s->ref, NULL, errmsg),
	                 0);
	ngtcp2_conn_set_tls_native_handle(s->conn, s->ssl);
}

static void receive(struct peer *p, struct peer *other, WOLFSSL_CTX *sctx)
{
	uint8_t buf[65536];
	struct sockaddr_in from;
	socklen_t fl = sizeof from;
	ngtcp2_path path;
	ngtcp2_pkt_info pi = {0};

	for (;;) {
		ssize_t n = recvfrom(p->fd, buf, sizeof buf, 0,
		                     (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;
		if (p->conn == NULL)
			server_accept(p, &from, buf, (size_t)n, sctx);
		make_path(&path, p, &from);
		if (ngtcp2_conn_read_pkt(p->conn, &path, &pi, buf, (size_t)n,
		                         now_ns()) != 0)
			p->failed = 1;
	}
}

static void test_handshake_mtls_h3(void **state)
{
	struct test_pki *pki = *state;
	struct peer c = {0}, s = {0};
	WOLFSSL_CTX *sctx, *cctx;
	ngtcp2_callbacks cb;
	ngtcp2_settings st;
	ngtcp2_transport_params tp;
	ngtcp2_path path;
	ngtcp2_cid dcid, scid;
	char errmsg[MA_ERRMSG_SIZE], id[TLS_IDENTITY_MAX];
	uint64_t deadline = now_ns() + 5 * NGTCP2_SECONDS;

	assert_int_equal(
	    tls_server_ctx_new(&sctx, test_pki_file(pki, "server.pem"),
	                       test_pki_file(pki, "server.key"),
	                       test_pki_file(pki, "ca.pem"), errmsg),
	    0);
	assert_int_equal(tls_client_ctx_new(&cctx, test_pki_file(pki, "ca.pem"),
	                                    test_pki_file(pki, "mirror-1.pem"),
	                                    test_pki_file(pki, "mirror-1.key"),
	                                    errmsg),
	                 0);
	open_socket(&s);
	open_socket(&c);
	s.ref.get_conn = get_conn;
	s.ref.user_data = &s;
	c.ref.get_conn = get_conn;
	c.ref.user_data = &c;

	fill_callbacks(&cb, 0);
	init_settings(&st, &tp);
	dcid.datalen = 18;
	scid.datalen = 18;
	assert_int_equal(getrandom(dcid.data, 18, 0), 18);
	assert_int_equal(getrandom(scid.data, 18, 0), 18);
	make_path(&path, &c, &s.addr);
	assert_int_equal(ngtcp2_conn_client_new(&c.conn, &dcid, &scid, &path,
	                                        NGTCP2_PROTO_VER_V1, &cb, &st,
	                                        &tp, NULL, &c),
	                 0);
	assert_int_equal(
	    tls_session_new(&c.ssl, cctx, &c.ref, "localhost", errmsg), 0);
	ngtcp2_conn_set_tls_native_handle(c.conn, c.ssl);

	/* Bounded: 5 s of wall time at most. */
	while (!(c.handshake_done && s.handshake_done) && !c.failed &&
	       !s.failed && now_ns() < deadline) {
		struct pollfd pfd[2] = {{c.fd, POLLIN, 0}, {s.fd, POLLIN, 0}};

		flush(&c, &s.addr);
		if (s.conn != NULL) {
			ngtcp2_path *sp =
			    (ngtcp2_path *)ngtcp2_conn_get_path(s.conn);
			flush(&s, (struct sockaddr_in *)sp->remote.addr);
		}
		assert_true(poll(pfd, 2, 50) >= 0);
		receive(&c, &s, NULL);
		receive(&s, &c, sctx);
		ngtcp2_conn_handle_expiry(c.conn, now_ns());
		if (s.conn != NULL)
			ngtcp2_conn_handle_expiry(s.conn, now_ns());
	}
	assert_false(c.failed);
	assert_false(s.failed);
	assert_true(c.handshake_done);
	assert_true(s.handshake_done);
	assert_true(tls_alpn_is_h3(c.ssl));
	assert_true(tls_alpn_is_h3(s.ssl));
	assert_int_equal(tls_peer_identity(s.ssl, id), 0);
	assert_string_equal(id, "mirror-1");
	assert_int_equal(tls_peer_identity(c.ssl, id), 0);
	assert_string_equal(id, "localhost");

	ngtcp2_conn_del(c.conn);
	ngtcp2_conn_del(s.conn);
	wolfSSL_free(c.ssl);
	wolfSSL_free(s.ssl);
	wolfSSL_CTX_free(cctx);
	wolfSSL_CTX_free(sctx);
	close(c.fd);
	close(s.fd);
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
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
