/* transport: HTTP/3 server — packet dispatch by connection ID, address
 * validation with Retry tokens, stateless resets, connection limit, and
 * the request side of the API. */
#include "transport/transport_int.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/event.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"

#define SCID_LEN 18
#define CID_BUCKETS 1024
#define RETRY_TOKEN_TIMEOUT (10 * NGTCP2_SECONDS)

struct cident {
	struct cident *next;
	ngtcp2_cid cid;
	struct tconn *c;
};

struct transport_server {
	struct event_base *base;
	struct transport_server_config cfg;
	struct transport_server_callbacks cb;
	void *user;
	WOLFSSL_CTX *ctx;
	int fd, gso;
	struct sockaddr_storage local;
	socklen_t locallen;
	struct event *rx_ev;
	struct udp_rx rx;
	uint8_t secret[32]; /* Retry tokens and stateless resets */
	struct cident *map[CID_BUCKETS];
	struct tconn *conns;
	unsigned nconns;         /* all, handshaking or established */
	unsigned nhandshakes;    /* of which handshaking */
	unsigned nestablished;   /* of which established (also closing) */
	uint64_t refused_log_ns; /* last per-address refusal logged */
	uint64_t gone_pkts, gone_sends; /* of connections already freed */
	int freeing;
	struct transport_server_refusals refusals;
	uint64_t tls_reloads;
};

/* The secret behind Retry tokens and stateless reset tokens. Derived from
 * the server's private key (SHA-256 with a domain label) so that it
 * survives a restart: a server restarted on the same port then answers
 * packets of connections it no longer knows with resets the clients accept,
 * and mirrors fail over at once instead of after their idle timeout. The
 * hash reveals nothing about the key. Random when the key cannot be read
 * here (the TLS context reports that properly). */
static void derive_secret(uint8_t out[32], const char *key_file)
{
	static const char label[] = "mirror-agent transport secret v1";
	wc_Sha256 sha;
	void *key = NULL;
	size_t len = 0;

	if (key_file == NULL ||
	    io_read_file(key_file, 1u << 16, &key, &len, NULL) != 0 ||
	    wc_InitSha256(&sha) != 0) {
		free(key);
		tconn_random(out, 32);
		return;
	}
	wc_Sha256Update(&sha, (const byte *)label, sizeof label);
	wc_Sha256Update(&sha, key, (word32)len);
	wc_Sha256Final(&sha, out);
	wc_Sha256Free(&sha);
	explicit_bzero(&sha, sizeof sha);
	explicit_bzero(key, len); /* memset before free may be elided */
	free(key);
}

/* ---- CID map ---- */

static unsigned cid_hash(const ngtcp2_cid *cid)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < cid->datalen; i++)
		h = (h ^ cid->data[i]) * 16777619u;
	return h % CID_BUCKETS;
}

static struct tconn *cid_find(struct transport_server *srv, const uint8_t *id,
                              size_t len)
{
	ngtcp2_cid cid;
	struct cident *e;

	if (len > NGTCP2_MAX_CIDLEN)
		return NULL;
	ngtcp2_cid_init(&cid, id, len);
	for (e = srv->map[cid_hash(&cid)]; e != NULL; e = e->next)
		if (ngtcp2_cid_eq(&e->cid, &cid))
			return e->c;
	return NULL;
}

static int cid_add(struct transport_server *srv, const ngtcp2_cid *cid,
                   struct tconn *c)
{
	struct cident *e = malloc(sizeof *e);
	unsigned h = cid_hash(cid);

	if (e == NULL)
		return MA_ERR_NOMEM;
	e->cid = *cid;
	e->c = c;
	e->next = srv->map[h];
	srv->map[h] = e;
	return 0;
}

static void cid_del(struct transport_server *srv, const ngtcp2_cid *cid)
{
	struct cident **pp = &srv->map[cid_hash(cid)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		if (ngtcp2_cid_eq(&(*pp)->cid, cid)) {
			struct cident *e = *pp;

			*pp = e->next;
			free(e);
			return;
		}
	}
}

static void cid_del_conn(struct transport_server *srv, struct tconn *c)
{
	for (unsigned i = 0; i < CID_BUCKETS; i++) {
		struct cident **pp = &srv->map[i];

		while (*pp != NULL) {
			if ((*pp)->c == c) {
				struct cident *e = *pp;

				*pp = e->next;
				free(e);
			} else {
				pp = &(*pp)->next;
			}
		}
	}
}

/* ---- connection hooks ---- */

/* "ADDR:PORT" of sa, for log lines. */
static const char *addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)sa;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
		snprintf(buf, len, "[%s]:%u", host, ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const void *)sa;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
		snprintf(buf, len, "%s:%u", host, ntohs(a->sin_port));
	}
	return buf;
}

static const char *peer_str(const struct tconn *c, char *buf, size_t len)
{
	return addr_str((const struct sockaddr *)&c->remote, buf, len);
}

static struct transport_server *srv_of(struct tconn *c)
{
	return c->owner;
}

/* TLS alerts (RFC 8446 6.2) the peer sees: certificate_required (no
 * certificate in a resumed session), access_denied (a valid certificate
 * whose identity we cannot use). */
#define ALERT_CERTIFICATE_REQUIRED 116
#define ALERT_ACCESS_DENIED 49

static int srv_handshake_completed(struct tconn *c)
{
	/* The context issues no tickets, so nothing can be resumed; should
	 * a session be resumed anyway it carries no client certificate, and
	 * the client is told so with an alert rather than INTERNAL_ERROR. */
	if (wolfSSL_session_reused(c->ssl)) {
		tconn_refuse(c, ALERT_CERTIFICATE_REQUIRED,
		             "client resumed a TLS session, which carries no "
		             "certificate; refused with certificate_required "
		             "(the client must make a full handshake)");
		return -1;
	}
	if (srv_of(c)->nestablished >= srv_of(c)->cfg.max_connections) {
		/* Others finished their handshake first. */
		ngtcp2_ccerr_set_transport_error(
		    &c->ccerr, NGTCP2_CONNECTION_REFUSED, NULL, 0);
		c->app_error = 1;
		/* A limit, not a TLS failure: counted and logged as the
		 * max_connections refusal it is (srv_closed). */
		c->refuse_error = MA_ERR_LIMIT;
		snprintf(c->refuse_msg, sizeof c->refuse_msg,
		         "at the limit of %u established connections "
		         "(max_connections); CONNECTION_REFUSED",
		         srv_of(c)->cfg.max_connections);
		return -1;
	}
	switch (tls_peer_identity(c->ssl, c->identity)) {
	case 0:
		break;
	case MA_ERR_LIMIT:
		tconn_refuse(c, ALERT_ACCESS_DENIED,
		             "client certificate identity is longer than 255 "
		             "bytes; refused (issue a certificate with a "
		             "shorter SAN URI/DNS or CN)");
		return -1;
	default:
		tconn_refuse(c, ALERT_ACCESS_DENIED,
		             "client certificate has no usable identity (need "
		             "a SAN URI, else a SAN DNS name, else a CN, of "
		             "printable ASCII; a DNS name or CN must not "
		             "contain ':'); refused");
		return -1;
	}
	c->established = 1;
	srv_of(c)->nhandshakes--;
	srv_of(c)->nestablished++;
	return tconn_setup_h3(c);
}

static int srv_new_cid(struct tconn *c, ngtcp2_cid *cid, uint8_t *token,
                       size_t cidlen)
{
	struct transport_server *srv = c->owner;

	tconn_random(cid->data, cidlen);
	cid->datalen = cidlen;
	if (ngtcp2_crypto_generate_stateless_reset_token(
	        token, srv->secret, sizeof srv->secret, cid) != 0)
		return -1;
	return cid_add(srv, cid, c);
}

static void srv_remove_cid(struct tconn *c, const ngtcp2_cid *cid)
{
	cid_del(c->owner, cid);
}

static void free_request(struct tconn *c, struct tstream *s, int error)
{
	struct transport_server *srv = c->owner;
	struct transport_request *req = (struct transport_request *)s;

	/* Inside nghttp3's stream_close (s->closed) the stream is going away
	 * anyway; elsewhere make sure nghttp3 stops pointing at s. */
	if (c->h3 != NULL && s->id >= 0 && !s->closed && c->state == TC_ACTIVE)
		nghttp3_conn_set_stream_user_data(c->h3, s->id, NULL);
	tstream_release(s);
	if (s->dispatched && srv->cb.on_request_closed != NULL)
		srv->cb.on_request_closed(req, error, srv->user);
	free(req);
}

static void srv_closed(struct tconn *c, int error, const char *msg)
{
	char peer[INET6_ADDRSTRLEN + 16];

	/* A handshake that stopped is no longer in progress, though the
	 * connection lingers for its closing or draining period: a client
	 * that retries at once must not find its address's share used up by
	 * its own failed attempts. */
	if (c->established == 0) {
		srv_of(c)->nhandshakes--;
		c->established = 2;
		if (error == MA_ERR_TLS)
			srv_of(c)->refusals.tls++;
		else if (error == MA_ERR_LIMIT)
			srv_of(c)->refusals.max_connections++;
		else if (error != 0)
			srv_of(c)->refusals.handshake_other++;
	}

	/* Every close says who and why: TLS refusals are the operator's to
	 * fix (warn); the rest is the ordinary life of connections. */
	peer_str(c, peer, sizeof peer);
	if (error == MA_ERR_TLS)
		log_warn("transport: connection from %s%s%s refused: %s", peer,
		         c->identity[0] ? " identity " : "", c->identity,
		         msg[0] ? msg : "TLS handshake failed");
	else if (error == MA_ERR_LIMIT)
		log_info("transport: connection from %s%s%s refused: %s", peer,
		         c->identity[0] ? " identity " : "", c->identity, msg);
	else if (error != 0)
		log_info("transport: connection from %s%s%s closed: %s", peer,
		         c->identity[0] ? " identity " : "", c->identity,
		         msg[0] ? msg : "connection error");
	else
		log_debug("transport: connection from %s%s%s closed: %s", peer,
		          c->identity[0] ? " identity " : "", c->identity,
		          msg[0] ? msg : "closed normally");
	while (c->streams != NULL)
		free_request(c, c->streams, MA_ERR_TRANSPORT);
}

static void srv_dead(struct tconn *c)
{
	struct transport_server *srv = c->owner;

	while (c->streams != NULL)
		free_request(c, c->streams, MA_ERR_TRANSPORT);
	cid_del_conn(srv, c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	srv->nconns--;
	srv->gone_pkts += c->st_pkts;
	srv->gone_sends += c->st_sends;
	if (c->established == 0)
		srv->nhandshakes--;
	else if (c->established == 1)
		srv->nestablished--;
	tconn_free(c);
	free(c);
}

static void srv_request(struct tconn *c, struct tstream *s)
{
	struct transport_server *srv = c->owner;

	if (s->method == NULL || s->path == NULL || s->aborted) {
		char peer[INET6_ADDRSTRLEN + 16];

		/* Malformed request: answer here; the app never sees it.
		 * 431: headers over the SETTINGS_MAX_FIELD_SECTION_SIZE we
		 * advertised (RFC 9114 4.2.2). */
		s->dispatched = 0;
		log_info("transport: request from %s identity %s refused: %s",
		         peer_str(c, peer, sizeof peer), c->identity,
		         s->too_large ? "header section over "
		                        "16384 bytes (431)"
		                      : "malformed (400)");
		if (transport_response_start((struct transport_request *)s,
		                             s->too_large ? 431 : 400,
		                             NULL) == 0)
			transport_response_end((struct transport_request *)s);
		return;
	}
	srv->cb.on_request((struct transport_request *)s, srv->user);
}

static void srv_writable(struct tconn *c, struct tstream *s)
{
	struct transport_server *srv = c->owner;

	if (srv->cb.on_writable != NULL)
		srv->cb.on_writable((struct transport_request *)s, srv->user);
}

static void srv_stream_closed(struct tconn *c, struct tstream *s, int error,
                              const char *msg)
{
	free_request(c, s, error);
}

static const struct tconn_ops srv_ops = {
    .handshake_completed = srv_handshake_completed,
    .new_cid = srv_new_cid,
    .remove_cid = srv_remove_cid,
    .closed = srv_closed,
    .dead = srv_dead,
    .request = srv_request,
    .writable = srv_writable,
    .stream_closed = srv_stream_closed,
};

/* ---- packet dispatch ---- */

static void send_raw(struct transport_server *srv, const struct sockaddr *to,
                     socklen_t tolen, const uint8_t *buf, ngtcp2_ssize n)
{
	size_t sent;

	if (n > 0)
		(void)udp_send(srv->fd, &srv->gso, to, tolen, buf, (size_t)n,
		               (size_t)n, &sent);
}

static void send_retry(struct transport_server *srv, const ngtcp2_pkt_hd *hd,
                       const struct sockaddr *from, socklen_t fromlen)
{
	uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN];
	uint8_t buf[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
	ngtcp2_cid scid;
	ngtcp2_ssize tlen, n;

	scid.datalen = SCID_LEN;
	tconn_random(scid.data, scid.datalen);
	tlen = ngtcp2_crypto_generate_retry_token(
	    token, srv->secret, sizeof srv->secret, hd->version,
	    (const ngtcp2_sockaddr *)from, fromlen, &scid, &hd->dcid,
	    clock_mono_ns());
	if (tlen < 0)
		return;
	n = ngtcp2_crypto_write_retry(buf, sizeof buf, hd->version, &hd->scid,
	                              &scid, &hd->dcid, token, (size_t)tlen);
	send_raw(srv, from, fromlen, buf, n);
}

static void send_refusal(struct transport_server *srv, const ngtcp2_pkt_hd *hd,
                         uint64_t code, const struct sockaddr *from,
                         socklen_t fromlen)
{
	uint8_t buf[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
	ngtcp2_ssize n;

	n = ngtcp2_crypto_write_connection_close(
	    buf, sizeof buf, hd->version, &hd->scid, &hd->dcid, code, NULL, 0);
	send_raw(srv, from, fromlen, buf, n);
}

static void send_reset(struct transport_server *srv, const uint8_t *dcid,
                       size_t dcidlen, size_t pktlen,
                       const struct sockaddr *from, socklen_t fromlen)
{
	uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN];
	uint8_t rnd[64], buf[128];
	ngtcp2_cid cid;
	size_t rlen;

	/* A reset must be shorter than what triggered it (no amplification
	 * and no reset loops between two endpoints). */
	if (pktlen < 1 + NGTCP2_STATELESS_RESET_TOKENLEN +
	                 NGTCP2_MIN_STATELESS_RESET_RANDLEN + 1 ||
	    dcidlen > NGTCP2_MAX_CIDLEN)
		return;
	rlen = pktlen - 1 - NGTCP2_STATELESS_RESET_TOKENLEN - 1;
	if (rlen > sizeof rnd)
		rlen = sizeof rnd;
	ngtcp2_cid_init(&cid, dcid, dcidlen);
	if (ngtcp2_crypto_generate_stateless_reset_token(
	        token, srv->secret, sizeof srv->secret, &cid) != 0)
		return;
	tconn_random(rnd, rlen);
	send_raw(srv, from, fromlen, buf,
	         ngtcp2_pkt_write_stateless_reset(buf, sizeof buf, token, rnd,
	                                          rlen));
}

/* Version Negotiation listing the only version we speak (QUIC v1). */
static void send_vn(struct transport_server *srv, const ngtcp2_version_cid *vc,
                    const struct sockaddr *from, socklen_t fromlen)
{
	/* Header, two CIDs of up to 255 bytes (RFC 8999) and one version. */
	uint8_t buf[7 + 255 + 255 + 4], r;
	uint32_t sv = NGTCP2_PROTO_VER_V1;

	tconn_random(&r, 1);
	send_raw(srv, from, fromlen, buf,
	         ngtcp2_pkt_write_version_negotiation(
	             buf, sizeof buf, r, vc->scid, vc->scidlen, vc->dcid,
	             vc->dcidlen, &sv, 1));
}

static struct tconn *accept_conn(struct transport_server *srv,
                                 const ngtcp2_pkt_hd *hd,
                                 const ngtcp2_cid *odcid,
                                 const struct sockaddr *from, socklen_t fromlen)
{
	struct tconn *c = calloc(1, sizeof *c);
	ngtcp2_callbacks cb;
	ngtcp2_settings st;
	ngtcp2_transport_params tp;
	ngtcp2_path path;
	ngtcp2_cid scid;
	char errmsg[MA_ERRMSG_SIZE];

	if (c == NULL)
		return NULL;
	c->server = 1;
	c->ops = &srv_ops;
	c->owner = srv;
	c->base = srv->base;
	c->fd = srv->fd;
	c->gso = &srv->gso;
	c->local = srv->local;
	c->locallen = srv->locallen;
	memcpy(&c->remote, from, fromlen);
	c->remotelen = fromlen;
	c->max_unacked = srv->cfg.max_unacked;
	ngtcp2_ccerr_default(&c->ccerr);
	if (tconn_init_events(c) != 0)
		goto err;
	tconn_callbacks(&cb, 1);
	tconn_settings(&st, &tp, &srv->cfg.tuning, from, clock_mono_ns());
	st.token = hd->token;
	st.tokenlen = hd->tokenlen;
	st.token_type = NGTCP2_TOKEN_TYPE_RETRY;
	st.handshake_timeout =
	    (uint64_t)srv->cfg.handshake_timeout_ms * NGTCP2_MILLISECONDS;
	tp.initial_max_streams_bidi = srv->cfg.max_streams;
	tp.original_dcid = *odcid;
	tp.original_dcid_present = 1;
	tp.retry_scid = hd->dcid;
	tp.retry_scid_present = 1;
	tp.stateless_reset_token_present = 1;
	scid.datalen = SCID_LEN;
	tconn_random(scid.data, scid.datalen);
	if (ngtcp2_crypto_generate_stateless_reset_token(
	        tp.stateless_reset_token, srv->secret, sizeof srv->secret,
	        &scid) != 0)
		goto err;
	path.local.addr = (ngtcp2_sockaddr *)&c->local;
	path.local.addrlen = c->locallen;
	path.remote.addr = (ngtcp2_sockaddr *)&c->remote;
	path.remote.addrlen = c->remotelen;
	path.user_data = NULL;
	tconn_qlog_open(c, &st, &scid);
	if (ngtcp2_conn_server_new(&c->conn, &hd->scid, &scid, &path,
	                           hd->version, &cb, &st, &tp, NULL, c) != 0)
		goto err;
	c->ref.user_data = c;
	c->ref.get_conn = tconn_get_conn;
	if (tls_session_new(&c->ssl, srv->ctx, &c->ref, NULL, errmsg) != 0) {
		log_warn("transport: %s", errmsg);
		goto err;
	}
	ngtcp2_conn_set_tls_native_handle(c->conn, c->ssl);
	if (cid_add(srv, &hd->dcid, c) != 0 || cid_add(srv, &scid, c) != 0)
		goto err;
	c->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	srv->nhandshakes++;
	return c;

err:
	cid_del_conn(srv, c);
	tconn_free(c);
	free(c);
	return NULL;
}

static int same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		              &((const struct sockaddr_in6 *)b)->sin6_addr,
		              sizeof(struct in6_addr)) == 0;
	return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
	       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
}

/* Handshakes in progress from from's IP address (bounded by
 * max_handshakes + max_connections connections). */
static unsigned handshakes_from(struct transport_server *srv,
                                const struct sockaddr *from)
{
	unsigned n = 0;

	for (struct tconn *c = srv->conns; c != NULL; c = c->next)
		if (c->established == 0 &&
		    same_ip((const struct sockaddr *)&c->remote, from))
			n++;
	return n;
}

/* Logs a refusal by a handshake limit at most once a second: a flood
 * must not become a flood of log lines. */
static void refused_log(struct transport_server *srv,
                        const struct sockaddr *from, int per_addr)
{
	uint64_t now = clock_mono_ns();
	char peer[INET6_ADDRSTRLEN + 16];

	if (srv->refused_log_ns != 0 && now - srv->refused_log_ns < 1000000000u)
		return;
	srv->refused_log_ns = now;
	if (per_addr)
		log_warn("transport: refusing new handshakes from %s: %u "
		         "already in progress from that address "
		         "(max_handshakes_per_addr); logged once a second",
		         addr_str(from, peer, sizeof peer),
		         srv->cfg.max_handshakes_per_addr);
	else
		log_warn("transport: refusing new handshakes (%s was one): "
		         "%u already in progress (max_handshakes); logged once "
		         "a second",
		         addr_str(from, peer, sizeof peer),
		         srv->cfg.max_handshakes);
}

static void handle_packet(struct transport_server *srv, const uint8_t *pkt,
                          size_t len, const struct sockaddr *from,
                          socklen_t fromlen)
{
	ngtcp2_version_cid vc;
	ngtcp2_pkt_hd hd;
	ngtcp2_cid odcid;
	struct tconn *c;
	int rv;

	rv = ngtcp2_pkt_decode_version_cid(&vc, pkt, len, SCID_LEN);
	if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
		send_vn(srv, &vc, from, fromlen);
		return;
	}
	if (rv != 0)
		return;
	c = cid_find(srv, vc.dcid, vc.dcidlen);
	if (c != NULL) {
		tconn_read(c, from, fromlen, pkt, len);
		return;
	}
	/* The library also takes draft-29 and the v2 draft, which we do not
	 * speak: a client offering them must learn so from a Version
	 * Negotiation packet (RFC 9000 6.1), not from silence or a Retry it
	 * cannot use. Only for datagrams of at least 1200 bytes, as an
	 * Initial must be: a VN packet must not amplify. */
	if (vc.version != 0 && vc.version != NGTCP2_PROTO_VER_V1) {
		if (len >= NGTCP2_MAX_UDP_PAYLOAD_SIZE)
			send_vn(srv, &vc, from, fromlen);
		return;
	}
	if (vc.version == 0) {
		/* Short header for a connection we do not know (e.g. we
		 * restarted): tell the peer with a stateless reset. */
		send_reset(srv, vc.dcid, vc.dcidlen, len, from, fromlen);
		return;
	}
	if (ngtcp2_accept(&hd, pkt, len) != 0)
		return;
	if (srv->nestablished >= srv->cfg.max_connections) {
		srv->refusals.max_connections++;
		send_refusal(srv, &hd, NGTCP2_CONNECTION_REFUSED, from,
		             fromlen);
		return;
	}
	if (srv->nhandshakes >= srv->cfg.max_handshakes) {
		refused_log(srv, from, 0);
		srv->refusals.max_handshakes++;
		send_refusal(srv, &hd, NGTCP2_CONNECTION_REFUSED, from,
		             fromlen);
		return;
	}
	if (hd.tokenlen == 0 ||
	    hd.token[0] != NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY) {
		send_retry(srv, &hd, from, fromlen);
		return;
	}
	if (ngtcp2_crypto_verify_retry_token(
	        &odcid, hd.token, hd.tokenlen, srv->secret, sizeof srv->secret,
	        hd.version, (const ngtcp2_sockaddr *)from, fromlen, &hd.dcid,
	        RETRY_TOKEN_TIMEOUT, clock_mono_ns()) != 0) {
		srv->refusals.invalid_token++;
		send_refusal(srv, &hd, NGTCP2_INVALID_TOKEN, from, fromlen);
		return;
	}
	/* Per address only once Retry proved it: a spoofed address cannot
	 * use up another's share. */
	if (handshakes_from(srv, from) >= srv->cfg.max_handshakes_per_addr) {
		refused_log(srv, from, 1);
		srv->refusals.max_handshakes_per_addr++;
		send_refusal(srv, &hd, NGTCP2_CONNECTION_REFUSED, from,
		             fromlen);
		return;
	}
	c = accept_conn(srv, &hd, &odcid, from, fromlen);
	if (c != NULL)
		tconn_read(c, from, fromlen, pkt, len);
}

static void on_rx(evutil_socket_t fd, short what, void *arg)
{
	struct transport_server *srv = arg;

	/* Bounded: at most 16 batches per wakeup so timers still run. */
	for (int round = 0; round < 16; round++) {
		int n = udp_recv(srv->fd, &srv->rx);
		const struct sockaddr *from;
		const uint8_t *pkt;
		socklen_t fromlen;
		size_t len;

		if (n <= 0)
			return;
		while (udp_rx_next(&srv->rx, &pkt, &len, &from, &fromlen))
			handle_packet(srv, pkt, len, from, fromlen);
	}
}

/* ---- API ---- */

int transport_server_new(struct event_base *base,
                         const struct transport_server_config *config,
                         const struct transport_server_callbacks *cb,
                         void *user, struct transport_server **out,
                         char *errmsg)
{
	struct transport_server *srv;
	int rv;

	*out = NULL;
	if (base == NULL || config == NULL || cb == NULL ||
	    cb->on_request == NULL)
		return ma_errorf(errmsg, MA_ERR_CONFIG,
		                 "transport server needs a base, a config "
		                 "and an on_request callback");
	srv = calloc(1, sizeof *srv);
	if (srv == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	srv->fd = -1;
	srv->base = base;
	srv->cfg = *config;
	srv->cb = *cb;
	srv->user = user;
	if (srv->cfg.bind_addr == NULL)
		srv->cfg.bind_addr = "127.0.0.1";
	if (srv->cfg.max_connections == 0)
		srv->cfg.max_connections = 64;
	if (srv->cfg.max_handshakes == 0)
		srv->cfg.max_handshakes = 16;
	if (srv->cfg.max_handshakes_per_addr == 0)
		srv->cfg.max_handshakes_per_addr = 4;
	if (srv->cfg.handshake_timeout_ms == 0)
		srv->cfg.handshake_timeout_ms = 5000;
	if (srv->cfg.max_streams == 0)
		srv->cfg.max_streams = 100;
	if (srv->cfg.max_unacked == 0)
		srv->cfg.max_unacked = 4u << 20;
	derive_secret(srv->secret, config->key_file);
	rv = tls_server_ctx_new(&srv->ctx, config->cert_file, config->key_file,
	                        config->client_ca_file, errmsg);
	if (rv != 0)
		goto err;
	rv = udp_rx_init(&srv->rx);
	if (rv != 0) {
		ma_errorf(errmsg, rv, "out of memory");
		goto err;
	}
	rv = udp_open(srv->cfg.bind_addr, srv->cfg.port, &srv->fd, &srv->gso,
	              &srv->local, &srv->locallen, errmsg);
	if (rv != 0)
		goto err;
	srv->rx_ev = event_new(base, srv->fd, EV_READ | EV_PERSIST, on_rx, srv);
	if (srv->rx_ev == NULL || event_add(srv->rx_ev, NULL) != 0) {
		rv = ma_errorf(errmsg, MA_ERR_NOMEM, "cannot add UDP event");
		goto err;
	}
	*out = srv;
	return 0;

err:
	transport_server_free(srv);
	return rv;
}

void transport_server_free(struct transport_server *srv)
{
	if (srv == NULL)
		return;
	srv->freeing = 1;
	while (srv->conns != NULL) {
		struct tconn *c = srv->conns;

		tconn_goaway(c);
		tconn_close(c, NULL, 0, "server shutting down");
		if (!c->close_notified) {
			c->close_notified = 1;
			srv_closed(c, 0, "server shutting down");
		}
		srv_dead(c);
	}
	if (srv->rx_ev != NULL)
		event_free(srv->rx_ev);
	if (srv->fd >= 0)
		close(srv->fd);
	udp_rx_free(&srv->rx);
	if (srv->ctx != NULL)
		wolfSSL_CTX_free(srv->ctx);
	free(srv);
}

uint16_t transport_server_port(const struct transport_server *srv)
{
	if (srv->local.ss_family == AF_INET6)
		return ntohs(
		    ((const struct sockaddr_in6 *)&srv->local)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&srv->local)->sin_port);
}

unsigned transport_server_connections(const struct transport_server *srv)
{
	return srv->nconns;
}

unsigned transport_server_handshakes(const struct transport_server *srv)
{
	return srv->nhandshakes;
}

void transport_server_tx_stats(const struct transport_server *srv,
                               uint64_t *datagrams, uint64_t *sends)
{
	*datagrams = srv->gone_pkts;
	*sends = srv->gone_sends;
	for (const struct tconn *c = srv->conns; c != NULL; c = c->next) {
		*datagrams += c->st_pkts;
		*sends += c->st_sends;
	}
}

int transport_server_reload_tls(struct transport_server *srv,
                                const char *cert_file, const char *key_file,
                                const char *client_ca_file, char *errmsg)
{
	WOLFSSL_CTX *ctx = NULL;
	int rv = tls_server_ctx_new(&ctx, cert_file, key_file, client_ca_file,
	                            errmsg);

	if (rv != 0)
		return rv;
	/* Sessions hold a reference to the context they were made from
	 * (wolfSSL counts them): established connections keep the old one
	 * until they end, new handshakes take this one. The Retry and
	 * reset secret stays the start-up one, so tokens and resets issued
	 * before the reload stay valid. */
	wolfSSL_CTX_free(srv->ctx);
	srv->ctx = ctx;
	srv->tls_reloads++;
	return 0;
}

uint64_t transport_server_tls_reloads(const struct transport_server *srv)
{
	return srv->tls_reloads;
}

void transport_server_refusal_stats(const struct transport_server *srv,
                                    struct transport_server_refusals *out)
{
	*out = srv->refusals;
}

const char *transport_request_method(const struct transport_request *req)
{
	return req->s.method;
}

const char *transport_request_path(const struct transport_request *req)
{
	return req->s.path;
}

const char *transport_request_peer(const struct transport_request *req)
{
	return req->s.c != NULL ? req->s.c->identity : "";
}

const struct sockaddr *
transport_request_peer_addr(const struct transport_request *req, socklen_t *len)
{
	if (req->s.c == NULL)
		return NULL;
	*len = req->s.c->remotelen;
	return (const struct sockaddr *)&req->s.c->remote;
}

void transport_request_set_user(struct transport_request *req, void *p)
{
	req->s.user = p;
}

void *transport_request_get_user(const struct transport_request *req)
{
	return req->s.user;
}
