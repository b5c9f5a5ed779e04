/* transport: connection machinery shared by client and server — ngtcp2
 * callbacks, the nghttp3 glue, the read/write paths, timers and the
 * closing/draining periods. Role-specific parts go through tconn_ops. */
#include "transport/transport_int.h"

#include "build-config.h" /* MA_FAULT_INJECTION */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

#define MAX_HEADER_VALUE 8192

void tconn_random(uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n <= 0)
			abort(); /* no entropy: nothing safe to do */
		p += n;
		len -= (size_t)n;
	}
}

/* ---- streams ---- */

void tstream_link(struct tconn *c, struct tstream *s)
{
	s->c = c;
	s->prev = NULL;
	s->next = c->streams;
	if (c->streams != NULL)
		c->streams->prev = s;
	c->streams = s;
}

void tstream_release(struct tstream *s)
{
	struct tconn *c = s->c;
	struct chunk *ch, *next;

	if (c != NULL) {
		if (s->prev != NULL)
			s->prev->next = s->next;
		else
			c->streams = s->next;
		if (s->next != NULL)
			s->next->prev = s->prev;
	}
	s->c = NULL;
	for (ch = s->head; ch != NULL; ch = next) {
		next = ch->next;
		free(ch);
	}
	s->head = s->cur = s->tail = NULL;
	free(s->method);
	free(s->path);
	free(s->req_path);
	s->method = s->path = s->req_path = NULL;
}

static void app_error(struct tconn *c, int liberr)
{
	ngtcp2_ccerr_set_application_error(
	    &c->ccerr, nghttp3_err_infer_quic_app_error_code(liberr), NULL, 0);
	c->app_error = 1;
}

/* ---- nghttp3 callbacks ---- */

static int h3_acked_stream_data(nghttp3_conn *h3, int64_t id, uint64_t len,
                                void *user, void *suser)
{
	struct tstream *s = suser;

	if (s == NULL)
		return 0;
	s->unacked -= (size_t)len;
	while (len > 0 && s->head != NULL) {
		struct chunk *ch = s->head;
		size_t left = ch->len - s->head_acked;

		if (len < left) {
			s->head_acked += (size_t)len;
			break;
		}
		len -= left;
		s->head = ch->next;
		if (s->tail == ch)
			s->tail = NULL;
		s->head_acked = 0;
		free(ch);
	}
	if (s->want != 0 && s->unacked + s->want <= s->c->max_unacked) {
		s->writable_pending = 1;
		tconn_schedule_write(s->c);
	}
	return 0;
}

static int h3_stream_close(nghttp3_conn *h3, int64_t id, uint64_t code,
                           void *user, void *suser)
{
	struct tconn *c = user;
	struct tstream *s = suser;
	int ok;

	if (c->server && ngtcp2_is_bidi_stream(id))
		ngtcp2_conn_extend_max_streams_bidi(c->conn, 1);
	if (s == NULL)
		return 0;
	s->closed = 1;
	ok = code == NGHTTP3_H3_NO_ERROR &&
	     (c->server ? (s->ended && s->unacked == 0) : s->done);
	c->ops->stream_closed(c, s, ok ? 0 : MA_ERR_TRANSPORT,
	                      ok ? NULL : "stream reset by peer");
	return 0;
}

static void consume(struct tconn *c, struct tstream *s, size_t n)
{
	if (s != NULL && s->paused) {
		s->withheld += n;
		return;
	}
	ngtcp2_conn_extend_max_stream_offset(c->conn, s ? s->id : 0, n);
	ngtcp2_conn_extend_max_offset(c->conn, n);
}

static int h3_recv_data(nghttp3_conn *h3, int64_t id, const uint8_t *data,
                        size_t len, void *user, void *suser)
{
	struct tconn *c = user;
	struct tstream *s = suser;

	if (s != NULL && !c->server && !s->cancelled && s->cb->on_body)
		s->cb->on_body((struct transport_stream *)s, data, len,
		               s->user);
	if (s == NULL || s->cancelled) {
		ngtcp2_conn_extend_max_stream_offset(c->conn, id, len);
		ngtcp2_conn_extend_max_offset(c->conn, len);
		return 0;
	}
	consume(c, s, len);
	return 0;
}

static int h3_deferred_consume(nghttp3_conn *h3, int64_t id, size_t n,
                               void *user, void *suser)
{
	struct tconn *c = user;

	ngtcp2_conn_extend_max_stream_offset(c->conn, id, n);
	ngtcp2_conn_extend_max_offset(c->conn, n);
	return 0;
}

static int h3_begin_headers(nghttp3_conn *h3, int64_t id, void *user,
                            void *suser)
{
	struct tconn *c = user;
	struct transport_request *req;

	if (!c->server || suser != NULL)
		return 0;
	req = calloc(1, sizeof *req);
	if (req == NULL)
		return NGHTTP3_ERR_CALLBACK_FAILURE;
	req->s.id = id;
	tstream_link(c, &req->s);
	nghttp3_conn_set_stream_user_data(h3, id, &req->s);
	return 0;
}

static int h3_recv_header(nghttp3_conn *h3, int64_t id, int32_t token,
                          nghttp3_rcbuf *name, nghttp3_rcbuf *value,
                          uint8_t flags, void *user, void *suser)
{
	struct tconn *c = user;
	struct tstream *s = suser;
	nghttp3_vec v = nghttp3_rcbuf_get_buf(value);
	char **dst = NULL;

	if (s == NULL)
		return 0;
	if (c->server) {
		nghttp3_vec nm = nghttp3_rcbuf_get_buf(name);

		/* The limit we advertise is the limit we keep: nghttp3 does
		 * not enforce its own setting on what it receives. */
		s->field_bytes += nm.len + v.len + 32;
		if (s->field_bytes > TRANSPORT_MAX_FIELD_SECTION) {
			s->too_large = 1;
			s->aborted = 1;
			return 0;
		}
	}
	if (!c->server) {
		if (token == NGHTTP3_QPACK_TOKEN__STATUS) {
			int st = 0;

			for (size_t i = 0; i < v.len && i < 3; i++) {
				if (v.base[i] < '0' || v.base[i] > '9')
					return 0;
				st = st * 10 + (v.base[i] - '0');
			}
			s->status = st;
		}
		return 0;
	}
	if (token == NGHTTP3_QPACK_TOKEN__METHOD)
		dst = &s->method;
	else if (token == NGHTTP3_QPACK_TOKEN__PATH)
		dst = &s->path;
	if (dst == NULL)
		return 0;
	/* Repeated or oversized pseudo-headers make a malformed request;
	 * end_stream answers 400 when method/path are missing. */
	if (*dst != NULL || v.len == 0 || v.len > MAX_HEADER_VALUE ||
	    memchr(v.base, 0, v.len) != NULL) {
		free(*dst);
		*dst = NULL;
		s->aborted = 1;
		return 0;
	}
	*dst = strndup((const char *)v.base, v.len);
	return *dst == NULL ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
}

static int h3_end_headers(nghttp3_conn *h3, int64_t id, int fin, void *user,
                          void *suser)
{
	struct tconn *c = user;
	struct tstream *s = suser;

	if (!c->server && s != NULL && !s->cancelled && s->cb->on_response)
		s->cb->on_response((struct transport_stream *)s, s->status,
		                   s->user);
	return 0;
}

static int h3_end_stream(nghttp3_conn *h3, int64_t id, void *user, void *suser)
{
	struct tconn *c = user;
	struct tstream *s = suser;

	if (s == NULL)
		return 0;
	if (c->server) {
		if (!s->dispatched) {
			s->dispatched = 1;
			c->ops->request(c, s);
		}
		return 0;
	}
	s->done = 1;
	return 0;
}

static int h3_shutdown_write(nghttp3_conn *h3, int64_t id, uint64_t code,
                             void *user, void *suser)
{
	struct tconn *c = user;

	ngtcp2_conn_shutdown_stream_write(c->conn, 0, id, code);
	return 0;
}

static nghttp3_ssize h3_read_data(nghttp3_conn *h3, int64_t id,
                                  nghttp3_vec *vec, size_t veccnt,
                                  uint32_t *pflags, void *user, void *suser)
{
	struct tstream *s = suser;
	size_t n = 0;

	while (n < veccnt && s->cur != NULL) {
		vec[n].base = s->cur->data + s->cur_off;
		vec[n].len = s->cur->len - s->cur_off;
		n++;
		s->cur = s->cur->next;
		s->cur_off = 0;
	}
	if (s->cur == NULL && s->ended)
		*pflags |= NGHTTP3_DATA_FLAG_EOF;
	else if (n == 0)
		return NGHTTP3_ERR_WOULDBLOCK;
	return (nghttp3_ssize)n;
}

static int h3_goaway(nghttp3_conn *h3, int64_t id, void *user)
{
	struct tconn *c = user;

	c->goaway_received = 1;
	return 0;
}

int tconn_setup_h3(struct tconn *c)
{
	nghttp3_callbacks cb = {0};
	nghttp3_settings st;
	int64_t ctrl, enc, dec;
	int rv;

	if (ngtcp2_conn_get_streams_uni_left(c->conn) < 3)
		return MA_ERR_TRANSPORT;
	cb.acked_stream_data = h3_acked_stream_data;
	cb.stream_close = h3_stream_close;
	cb.recv_data = h3_recv_data;
	cb.deferred_consume = h3_deferred_consume;
	cb.begin_headers = h3_begin_headers;
	cb.recv_header = h3_recv_header;
	cb.end_headers = h3_end_headers;
	cb.end_stream = h3_end_stream;
	cb.stop_sending = h3_shutdown_write;
	cb.reset_stream = h3_shutdown_write;
	cb.shutdown = h3_goaway;
	nghttp3_settings_default(&st);
	st.max_field_section_size = TRANSPORT_MAX_FIELD_SECTION;
	st.qpack_max_dtable_capacity = 4096;
	st.qpack_blocked_streams = 100;
	if (c->server)
		rv = nghttp3_conn_server_new(&c->h3, &cb, &st, NULL, c);
	else
		rv = nghttp3_conn_client_new(&c->h3, &cb, &st, NULL, c);
	if (rv != 0)
		return MA_ERR_NOMEM;
	if (c->server) {
		const ngtcp2_transport_params *p =
		    ngtcp2_conn_get_local_transport_params(c->conn);

		nghttp3_conn_set_max_client_streams_bidi(
		    c->h3, p->initial_max_streams_bidi);
	}
	if (ngtcp2_conn_open_uni_stream(c->conn, &ctrl, NULL) != 0 ||
	    nghttp3_conn_bind_control_stream(c->h3, ctrl) != 0 ||
	    ngtcp2_conn_open_uni_stream(c->conn, &enc, NULL) != 0 ||
	    ngtcp2_conn_open_uni_stream(c->conn, &dec, NULL) != 0 ||
	    nghttp3_conn_bind_qpack_streams(c->h3, enc, dec) != 0)
		return MA_ERR_TRANSPORT;
	return 0;
}

/* ---- ngtcp2 callbacks ---- */

ngtcp2_conn *tconn_get_conn(ngtcp2_crypto_conn_ref *ref)
{
	return ((struct tconn *)ref->user_data)->conn;
}

static void rand_cb(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
	tconn_random(dest, len);
}

static int new_cid_cb(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token,
                      size_t cidlen, void *user)
{
	struct tconn *c = user;

	return c->ops->new_cid(c, cid, token, cidlen) == 0
	           ? 0
	           : NGTCP2_ERR_CALLBACK_FAILURE;
}

static int remove_cid_cb(ngtcp2_conn *conn, const ngtcp2_cid *cid, void *user)
{
	struct tconn *c = user;

	if (c->ops->remove_cid != NULL)
		c->ops->remove_cid(c, cid);
	return 0;
}

static int handshake_completed_cb(ngtcp2_conn *conn, void *user)
{
	struct tconn *c = user;

	c->handshake_completed = 1;
	if (!tls_alpn_is_h3(c->ssl))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return c->ops->handshake_completed(c) == 0
	           ? 0
	           : NGTCP2_ERR_CALLBACK_FAILURE;
}

static int handshake_confirmed_cb(ngtcp2_conn *conn, void *user)
{
	struct tconn *c = user;

	c->handshake_confirmed = 1;
	if (c->ops->handshake_confirmed == NULL)
		return 0;
	return c->ops->handshake_confirmed(c) == 0
	           ? 0
	           : NGTCP2_ERR_CALLBACK_FAILURE;
}

static int recv_stream_data_cb(ngtcp2_conn *conn, uint32_t flags, int64_t id,
                               uint64_t offset, const uint8_t *data, size_t len,
                               void *user, void *suser)
{
	struct tconn *c = user;
	nghttp3_ssize n;

	if (c->h3 == NULL)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	n = nghttp3_conn_read_stream(c->h3, id, data, len,
	                             flags & NGTCP2_STREAM_DATA_FLAG_FIN);
	if (n < 0) {
		app_error(c, (int)n);
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	ngtcp2_conn_extend_max_stream_offset(conn, id, (uint64_t)n);
	ngtcp2_conn_extend_max_offset(conn, (uint64_t)n);
	return 0;
}

static int acked_stream_data_cb(ngtcp2_conn *conn, int64_t id, uint64_t offset,
                                uint64_t len, void *user, void *suser)
{
	struct tconn *c = user;
	int rv;

	if (c->h3 == NULL)
		return 0;
	rv = nghttp3_conn_add_ack_offset(c->h3, id, len);
	if (rv != 0) {
		app_error(c, rv);
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

static int stream_close_cb(ngtcp2_conn *conn, uint32_t flags, int64_t id,
                           uint64_t code, void *user, void *suser)
{
	struct tconn *c = user;
	int rv;

	if (c->h3 == NULL)
		return 0;
	if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET))
		code = NGHTTP3_H3_NO_ERROR;
	rv = nghttp3_conn_close_stream(c->h3, id, code);
	if (rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND) {
		app_error(c, rv);
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

static int stream_reset_cb(ngtcp2_conn *conn, int64_t id, uint64_t final,
                           uint64_t code, void *user, void *suser)
{
	struct tconn *c = user;

	if (c->h3 != NULL && nghttp3_conn_shutdown_stream_read(c->h3, id) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int stop_sending_cb(ngtcp2_conn *conn, int64_t id, uint64_t code,
                           void *user, void *suser)
{
	return stream_reset_cb(conn, id, 0, code, user, suser);
}

static int extend_max_stream_data_cb(ngtcp2_conn *conn, int64_t id,
                                     uint64_t max, void *user, void *suser)
{
	struct tconn *c = user;

	if (c->h3 != NULL && nghttp3_conn_unblock_stream(c->h3, id) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int extend_max_streams_cb(ngtcp2_conn *conn, uint64_t max, void *user)
{
	tconn_schedule_write(user);
	return 0;
}

void tconn_callbacks(ngtcp2_callbacks *cb, int server)
{
	memset(cb, 0, sizeof *cb);
	if (server) {
		cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
	} else {
		cb->client_initial = ngtcp2_crypto_client_initial_cb;
		cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
		cb->extend_max_local_streams_bidi = extend_max_streams_cb;
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
	cb->remove_connection_id = remove_cid_cb;
	cb->handshake_completed = handshake_completed_cb;
	cb->handshake_confirmed = handshake_confirmed_cb;
	cb->recv_stream_data = recv_stream_data_cb;
	cb->acked_stream_data_offset = acked_stream_data_cb;
	cb->stream_close = stream_close_cb;
	cb->stream_reset = stream_reset_cb;
	cb->stream_stop_sending = stop_sending_cb;
	cb->extend_max_stream_data = extend_max_stream_data_cb;
}

void tconn_settings(ngtcp2_settings *st, ngtcp2_transport_params *tp,
                    const struct transport_tuning *t,
                    const struct sockaddr *remote, uint64_t now)
{
	/* ngtcp2 1.x has one BBR (v2 by its own account; the 0.x BBRv2
	 * module is gone): bbr2 names it too. */
	static const ngtcp2_cc_algo algos[] = {
	    NGTCP2_CC_ALGO_CUBIC, NGTCP2_CC_ALGO_RENO, NGTCP2_CC_ALGO_BBR,
	    NGTCP2_CC_ALGO_BBR};
	uint64_t win = t->max_data ? t->max_data : 16u << 20;
	uint64_t swin = t->max_stream_data ? t->max_stream_data : 16u << 20;
	size_t payload = t->max_udp_payload;

	if (payload == 0)
		payload = udp_is_loopback(remote) ? TRANSPORT_LOOPBACK_PAYLOAD
		                                  : TRANSPORT_DEFAULT_PAYLOAD;
	if (payload > UDP_BATCH_MAX)
		payload = UDP_BATCH_MAX;
	ngtcp2_settings_default(st);
	st->initial_ts = now;
	st->cc_algo = (unsigned)t->cc < 4 ? algos[t->cc] : NGTCP2_CC_ALGO_CUBIC;
	st->max_tx_udp_payload_size = payload;
	if (payload > TRANSPORT_DEFAULT_PAYLOAD) {
		/* ngtcp2 sends at most 1200 bytes until PMTUD, whose
		 * default probes (0.12 and 1.11 alike) go up to 1444 only: a
		 * larger size must be taken as given (bounded by the peer's
		 * max_udp_payload_size). */
		st->no_tx_udp_payload_size_shaping = 1;
		st->no_pmtud = 1;
	} else if (payload > 1444) {
		/* ngtcp2's default PMTUD probes (1406, 1342, 1232, 1444: the
		 * last a 1492-byte PPPoE MTU less IPv6 headers) stop short of
		 * our limit, so an Ethernet path stayed at 1444: probe our
		 * own limit last (above the path's or the peer's limit it is
		 * skipped or fails, and the size found stays). */
		static const uint16_t probes[] = {1406, 1444,
		                                  TRANSPORT_DEFAULT_PAYLOAD};

		st->pmtud_probes = probes;
		st->pmtud_probeslen = sizeof probes / sizeof probes[0];
	}
	st->max_window = win;
	st->max_stream_window = swin;
	ngtcp2_transport_params_default(tp);
	tp->initial_max_data = win;
	tp->initial_max_stream_data_bidi_local = swin;
	tp->initial_max_stream_data_bidi_remote = swin;
	tp->initial_max_stream_data_uni = swin;
	tp->initial_max_streams_uni = 3;
	tp->max_idle_timeout =
	    (t->idle_timeout_ms ? t->idle_timeout_ms : 30000) *
	    NGTCP2_MILLISECONDS;
	tp->active_connection_id_limit = 7;
	/* What we send is what the path carries, so it is also what we ask
	 * the peer to send (RFC 9000 18.2): a peer with a larger setting
	 * then sizes its packets, and its GSO batches, to ours. */
	tp->max_udp_payload_size = payload;
}

static void qlog_write_cb(void *user_data, uint32_t flags, const void *data,
                          size_t len)
{
	struct tconn *c = user_data;

	if (c->qlog == NULL)
		return;
	if (len > 0)
		(void)fwrite(data, 1, len, c->qlog);
	if (flags & NGTCP2_QLOG_WRITE_FLAG_FIN) {
		(void)fclose(c->qlog);
		c->qlog = NULL;
	}
}

void tconn_qlog_open(struct tconn *c, ngtcp2_settings *st,
                     const ngtcp2_cid *scid)
{
	const char *dir = getenv("MA_QLOG_DIR");
	char path[4096], hex[2 * NGTCP2_MAX_CIDLEN + 1];
	size_t i;

	if (dir == NULL || *dir == '\0')
		return;
	for (i = 0; i < scid->datalen && i < NGTCP2_MAX_CIDLEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", scid->data[i]);
	hex[2 * i] = '\0';
	snprintf(path, sizeof path, "%s/%s-%s.sqlog", dir,
	         c->server ? "server" : "client", hex);
	c->qlog = fopen(path, "we");
	if (c->qlog == NULL) {
		log_warn("transport: MA_QLOG_DIR: cannot create %s: %s (no "
		         "qlog for this connection)",
		         path, strerror(errno));
		return;
	}
	(void)setvbuf(c->qlog, NULL, _IOFBF, 1 << 20);
	st->qlog_write = qlog_write_cb;
}

/* ---- write path ---- */

static void conn_write(struct tconn *c);

static void rearm_timer(struct tconn *c)
{
	uint64_t exp = ngtcp2_conn_get_expiry(c->conn), now = clock_mono_ns();
	uint64_t d = exp > now ? exp - now : 0;
	struct timeval tv;

	if (exp == UINT64_MAX) {
		event_del(c->timer);
		return;
	}
	tv.tv_sec = (time_t)(d / NGTCP2_SECONDS);
	tv.tv_usec = (suseconds_t)((d % NGTCP2_SECONDS) / 1000);
	evtimer_add(c->timer, &tv);
}

static void enter_end(struct tconn *c, enum tconn_state st, int error,
                      const char *msg)
{
	uint64_t pto = ngtcp2_conn_get_pto(c->conn) * 3;
	struct timeval tv = {(time_t)(pto / NGTCP2_SECONDS),
	                     (suseconds_t)(pto % NGTCP2_SECONDS / 1000)};

	c->state = st;
	if (c->close_error == 0 && error != 0) {
		c->close_error = error;
		snprintf(c->close_msg, sizeof c->close_msg, "%s", msg);
	}
	event_del(c->write_ev);
	event_del(c->tx_ev);
	if (st == TC_DEAD) {
		tv.tv_sec = 0;
		tv.tv_usec = 0;
	}
	evtimer_add(c->timer, &tv);
	event_active(c->close_ev, 0, 0);
}

/* Same family, address and port (what names a path's end). */
static int addr_eq(const ngtcp2_sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a,
		                          *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr,
		              sizeof x->sin6_addr) == 0;
	}
	return ((const struct sockaddr_in *)(const void *)a)->sin_port ==
	           ((const struct sockaddr_in *)(const void *)b)->sin_port &&
	       ((const struct sockaddr_in *)(const void *)a)->sin_addr.s_addr ==
	           ((const struct sockaddr_in *)(const void *)b)
	               ->sin_addr.s_addr;
}

/* Follows the path ngtcp2 now uses: after the peer's address changed
 * (NAT rebinding, migration) replies go to the new one. */
static void track_path(struct tconn *c)
{
	const ngtcp2_path *p = ngtcp2_conn_get_path(c->conn);

	if (p->remote.addrlen > sizeof c->remote ||
	    addr_eq(p->remote.addr, (const struct sockaddr *)&c->remote))
		return;
	memcpy(&c->remote, p->remote.addr, p->remote.addrlen);
	c->remotelen = (socklen_t)p->remote.addrlen;
	c->st_path_changes++;
}

/* Returns 0, or -1 when the socket is full (the batch is kept). */
static int flush_tx(struct tconn *c, size_t len, size_t seg)
{
	size_t sent;
	int rv;

	if (len == 0)
		return 0;
	if (c->ops->before_send != NULL)
		c->ops->before_send(c);
	rv = udp_send(c->fd, c->gso, (struct sockaddr *)&c->tx_to, c->tx_tolen,
	              c->txbuf, len, seg, &sent);
	c->st_sends++;
	if (rv == -EAGAIN) {
		c->st_eagain++;
		c->tx_pending = len;
		c->tx_pending_off = sent;
		c->tx_seg = seg;
		return -1;
	}
	return 0;
}

static int retry_pending(struct tconn *c)
{
	size_t sent, len = c->tx_pending - c->tx_pending_off;
	int rv;

	if (c->tx_pending == 0)
		return 0;
	rv = udp_send(c->fd, c->gso, (struct sockaddr *)&c->tx_to, c->tx_tolen,
	              c->txbuf + c->tx_pending_off, len, c->tx_seg, &sent);
	if (rv == -EAGAIN) {
		c->tx_pending_off += sent;
		return -1;
	}
	c->tx_pending = 0;
	return 0;
}

static void on_tx_ev(evutil_socket_t fd, short what, void *arg)
{
	conn_write(arg);
}

/* The socket refused a batch (EAGAIN): come back when it drains. */
static void wait_writable(struct tconn *c)
{
	event_add(c->tx_ev, NULL);
}

static void fail_liberr(struct tconn *c, int rv)
{
	char buf[sizeof c->close_msg];

	if (!c->app_error) {
		if (rv == NGTCP2_ERR_CRYPTO)
			ngtcp2_ccerr_set_tls_alert(
			    &c->ccerr, ngtcp2_conn_get_tls_alert(c->conn), NULL,
			    0);
		else
			ngtcp2_ccerr_set_liberr(&c->ccerr, rv, NULL, 0);
	}
	if (c->refuse_msg[0] != '\0') {
		tconn_close(c, &c->ccerr,
		            c->refuse_error != 0 ? c->refuse_error : MA_ERR_TLS,
		            c->refuse_msg);
		return;
	}
	if (rv == NGTCP2_ERR_CRYPTO) {
		tls_describe_failure(c->ssl, c->expected_name, buf, sizeof buf);
		tconn_close(c, &c->ccerr, MA_ERR_TLS, buf);
		return;
	}
	snprintf(buf, sizeof buf, "QUIC error: %s", ngtcp2_strerror(rv));
	tconn_close(c, &c->ccerr, MA_ERR_TRANSPORT, buf);
}

/* Yields to the loop and comes back to write: a zero timeout runs after
 * the next poll, so packets (ACKs) that arrived meanwhile are read first.
 * event_active() would not do: libevent runs events activated from a
 * callback in the same round, before polling again. */
static void yield_write(struct tconn *c)
{
	struct timeval tv = {0, 0};

	c->st_yields++;
	evtimer_add(c->timer, &tv);
}

/* Writes what ngtcp2 lets us send now: packets of the path's size, packed
 * into GSO batches, a send quantum at a time with the pacing clock
 * advanced after each quantum. ngtcp2 (1.x) lets a packet go once its
 * pacing slot has come and keeps how late the sender was; once that
 * passes 1 ms (a loop cannot sleep more finely: libevent timers round up
 * to 1 ms) it shortens the following waits by it, so at high rates this
 * keeps sending quantum after quantum instead of sleeping between them;
 * after WRITE_BUDGET_QUANTA quanta it yields to the loop so the ACKs that
 * open the window are read. It stops when ngtcp2 has nothing to send (no
 * data, window full or the pacing slot still ahead) and arms the timer
 * for ngtcp2's next expiry. */
static void conn_write(struct tconn *c)
{
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi;
	uint64_t ts = clock_mono_ns();
	/* path: the size of ordinary full packets on this path; max: what
	 * a packet may take, larger during a PMTUD probe. */
	size_t path = ngtcp2_conn_get_path_max_tx_udp_payload_size(c->conn);
	size_t max = ngtcp2_conn_get_max_tx_udp_payload_size(c->conn);
	const ngtcp2_transport_params *rp =
	    ngtcp2_conn_get_remote_transport_params(c->conn);
	size_t quantum = ngtcp2_conn_get_send_quantum(c->conn);
	size_t off = 0, seg = 0, total = 0, paced = 0;
	size_t budget = quantum * WRITE_BUDGET_QUANTA;
	int more = 0;

	if (c->state != TC_ACTIVE)
		return;
	if (retry_pending(c) != 0) {
		wait_writable(c);
		return;
	}
	/* Large loopback payloads are taken as given (no PMTUD), and ngtcp2
	 * pads Initial packets to the whole buffer: keep the handshake at
	 * the usual size. */
	if (!c->handshake_completed && max > TRANSPORT_DEFAULT_PAYLOAD)
		max = TRANSPORT_DEFAULT_PAYLOAD;
	if (max > UDP_BATCH_MAX)
		max = UDP_BATCH_MAX;
	if (path > max)
		path = max;
	/* Without shaping (large payloads taken as given) ngtcp2 reports our
	 * own limit as the path's, yet sizes packets to the peer's
	 * max_udp_payload_size: a batch must be measured against the latter,
	 * or every packet (shorter than "full") is sent on its own. */
	if (rp != NULL && rp->max_udp_payload_size != 0 &&
	    path > rp->max_udp_payload_size)
		path = (size_t)rp->max_udp_payload_size;
	ngtcp2_path_storage_zero(&ps);
	for (;;) {
		int64_t sid = -1;
		int fin = 0;
		nghttp3_vec vec[16];
		nghttp3_ssize nvec = 0;
		ngtcp2_ssize n, ndata = -1;
		uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;

		if (c->h3 != NULL && ngtcp2_conn_get_max_data_left(c->conn)) {
			nvec = nghttp3_conn_writev_stream(c->h3, &sid, &fin,
			                                  vec, 16);
			if (nvec < 0) {
				app_error(c, (int)nvec);
				fail_liberr(c, NGTCP2_ERR_CALLBACK_FAILURE);
				return;
			}
		}
		if (fin)
			flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
		n = ngtcp2_conn_writev_stream(
		    c->conn, &ps.path, &pi, c->txbuf + off,
		    off == 0 ? max : seg, &ndata, flags, sid, (ngtcp2_vec *)vec,
		    (size_t)nvec, ts);
		if (n < 0) {
			if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
				nghttp3_conn_block_stream(c->h3, sid);
				continue;
			}
			if (n == NGTCP2_ERR_STREAM_SHUT_WR) {
				nghttp3_conn_shutdown_stream_write(c->h3, sid);
				continue;
			}
			if (n == NGTCP2_ERR_WRITE_MORE) {
				if (nghttp3_conn_add_write_offset(
				        c->h3, sid, (uint64_t)ndata) != 0) {
					fail_liberr(
					    c, NGTCP2_ERR_CALLBACK_FAILURE);
					return;
				}
				continue;
			}
			fail_liberr(c, (int)n);
			return;
		}
		if (ndata >= 0 && sid >= 0 &&
		    nghttp3_conn_add_write_offset(c->h3, sid,
		                                  (uint64_t)ndata) != 0) {
			fail_liberr(c, NGTCP2_ERR_CALLBACK_FAILURE);
			return;
		}
		if (n == 0) {
			if (ngtcp2_conn_get_cwnd_left(c->conn) < path)
				c->st_cwnd_limited++;
			else
				c->st_idle++;
			break;
		}
		/* One batch, one destination: a packet for another path
		 * (PATH_CHALLENGE to a new address, a probe of the old one)
		 * sends what is queued first. */
		if (off > 0 && !addr_eq(ps.path.remote.addr,
		                        (struct sockaddr *)&c->tx_to)) {
			size_t queued = off;
			int full = flush_tx(c, off, seg) != 0;

			off = 0;
			seg = 0;
			if (full) {
				/* txbuf holds the refused batch: this packet
				 * has nowhere to wait and is dropped; ngtcp2
				 * declares it lost and sends it again. */
				break;
			}
			memmove(c->txbuf, c->txbuf + queued, (size_t)n);
		}
		if (off == 0 && ps.path.remote.addrlen <= sizeof c->tx_to) {
			memcpy(&c->tx_to, ps.path.remote.addr,
			       ps.path.remote.addrlen);
			c->tx_tolen = (socklen_t)ps.path.remote.addrlen;
		}
		if (seg == 0)
			seg = (size_t)n;
		off += (size_t)n;
		total += (size_t)n;
		c->st_pkts++;
		/* GSO (or sendmmsg when the socket has none): all segments
		 * but the last have the batch's size, so a
		 * batch is started by a full-size packet (or a larger PMTUD
		 * probe), later packets get at most that size (a probe waits
		 * for the next batch) and a shorter one ends the batch. */
		if ((size_t)n < seg || seg < path ||
		    off + seg > UDP_BATCH_MAX ||
		    off / seg >= UDP_GSO_MAX_SEGS) {
			int full = flush_tx(c, off, seg) != 0;

			/* Sent, or kept as tx_pending when the socket is full:
			 * either way not to be flushed again below. */
			off = 0;
			seg = 0;
			if (full)
				break;
		}
		if (total - paced >= quantum) {
			ngtcp2_conn_update_pkt_tx_time(c->conn, ts);
			paced = total;
			if (total >= budget) {
				more = 1;
				break;
			}
			ts = clock_mono_ns();
		}
	}
	if (off > 0)
		(void)flush_tx(c, off, seg);
	ngtcp2_conn_update_pkt_tx_time(c->conn, ts);
	if (c->tx_pending != 0) {
		wait_writable(c);
		return;
	}
	if (more)
		yield_write(c);
	else
		rearm_timer(c);
}

static void on_write_ev(evutil_socket_t fd, short what, void *arg)
{
	struct tconn *c = arg;
	struct tstream *s, *next;

	if (c->state != TC_ACTIVE)
		return;
	if (c->close_requested) {
		tconn_close(c, NULL, 0, "closed by the application");
		return;
	}
	if (c->ops->pre_write != NULL)
		c->ops->pre_write(c);
	for (s = c->streams; s != NULL; s = next) {
		next = s->next;
		if (s->cancelled && s->id >= 0 && !s->closed) {
			ngtcp2_conn_shutdown_stream(
			    c->conn, 0, s->id, NGHTTP3_H3_REQUEST_CANCELLED);
			s->closed = 1;
		}
		if (s->writable_pending && !s->cancelled) {
			s->writable_pending = 0;
			s->want = 0;
			c->ops->writable(c, s);
		}
	}
	conn_write(c);
}

void tconn_schedule_write(struct tconn *c)
{
	if (c->state == TC_ACTIVE && c->write_ev != NULL)
		event_active(c->write_ev, 0, 0);
}

/* ---- read path, timers, closing ---- */

#ifdef MA_FAULT_INJECTION
/* Test-only (tests/system/test_interop.sh, keyupdate): with
 * MA_TEST_KEY_UPDATE_BYTES=N in its environment a client initiates a QUIC
 * key update each time the UDP bytes it read pass another multiple of N,
 * retrying on later packets while ngtcp2 refuses (the previous update not
 * yet confirmed by the peer, or less than 3 PTO ago). */
static void test_key_update(struct tconn *c, size_t len)
{
	static long long every = -1;
	uint64_t due;

	if (every < 0) {
		const char *e = getenv("MA_TEST_KEY_UPDATE_BYTES");
		every = e != NULL ? atoll(e) : 0;
	}
	if (c->server || every <= 0 || !c->handshake_confirmed)
		return;
	c->test_rx_bytes += len;
	due = (uint64_t)every * (c->test_key_updates + 1u);
	if (c->test_rx_bytes < due ||
	    ngtcp2_conn_initiate_key_update(c->conn, clock_mono_ns()) != 0)
		return;
	c->test_key_updates++;
	log_info("transport: key update %u initiated after %llu bytes read "
	         "(MA_TEST_KEY_UPDATE_BYTES)",
	         c->test_key_updates, (unsigned long long)c->test_rx_bytes);
}
#endif

void tconn_read(struct tconn *c, const struct sockaddr *from, socklen_t fromlen,
                const uint8_t *pkt, size_t len)
{
	ngtcp2_path path;
	ngtcp2_pkt_info pi = {0};
	int rv;

	if (c->state == TC_CLOSING) {
		size_t sent;

		/* Answer anything with the saved CONNECTION_CLOSE. */
		if (c->close_pkt != NULL)
			(void)udp_send(c->fd, c->gso, from, fromlen,
			               c->close_pkt, c->close_len, c->close_len,
			               &sent);
		return;
	}
	if (c->state != TC_ACTIVE)
		return;
	c->st_rx++;
	path.local.addr = (ngtcp2_sockaddr *)&c->local;
	path.local.addrlen = c->locallen;
	path.remote.addr = (ngtcp2_sockaddr *)from;
	path.remote.addrlen = fromlen;
	path.user_data = NULL;
	rv = ngtcp2_conn_read_pkt(c->conn, &path, &pi, pkt, len,
	                          clock_mono_ns());
	if (rv == 0) {
		track_path(c);
#ifdef MA_FAULT_INJECTION
		test_key_update(c, len);
#endif
		tconn_schedule_write(c);
		return;
	}
	if (rv == NGTCP2_ERR_DRAINING) {
		ngtcp2_ccerr peer = *ngtcp2_conn_get_ccerr(c->conn);

		/* A server at its connection limit refuses in Initial: not a
		 * TLS failure, whatever the handshake state. */
		if (!c->server && peer.type == NGTCP2_CCERR_TYPE_TRANSPORT &&
		    peer.error_code == NGTCP2_CONNECTION_REFUSED) {
			enter_end(c, TC_DRAINING, MA_ERR_TRANSPORT,
			          "peer refused the connection "
			          "(CONNECTION_REFUSED: it may be at its "
			          "connection limit; retry later)");
			return;
		}
		/* The peer's TLS alert says why it refused: name it. */
		if (peer.type == NGTCP2_CCERR_TYPE_TRANSPORT &&
		    (peer.error_code & ~(uint64_t)0xff) ==
		        NGTCP2_CRYPTO_ERROR) {
			unsigned alert = (unsigned)(peer.error_code & 0xff);
			const char *what = tls_alert_describe(alert);
			char buf[256];

			/* Our own certificate may say why the peer refused. */
			if (!c->server && tls_own_cert_is_v1(c->ssl) &&
			    (alert == 42 || alert == 43 || alert == 46))
				snprintf(
				    buf, sizeof buf,
				    "peer refused our certificate (alert %u): "
				    "it is X.509 version 1; version 3 is "
				    "required: reissue it as v3 with SAN and "
				    "EKU clientAuth (see OPERATIONS.md)",
				    alert);
			else
				snprintf(buf, sizeof buf,
				         "peer refused the TLS handshake with "
				         "alert %u%s%s",
				         alert, what != NULL ? " " : "",
				         what != NULL ? what : "");
			enter_end(c, TC_DRAINING, MA_ERR_TLS, buf);
			return;
		}
		if (c->goaway_received &&
		    peer.type == NGTCP2_CCERR_TYPE_APPLICATION &&
		    peer.error_code == NGHTTP3_H3_NO_ERROR) {
			enter_end(c, TC_DRAINING, MA_ERR_TRANSPORT,
			          "peer is shutting down (GOAWAY, then an "
			          "orderly close): reconnect once it is back "
			          "or to another source");
			return;
		}
		enter_end(c, TC_DRAINING,
		          c->handshake_confirmed || c->server ? MA_ERR_TRANSPORT
		                                              : MA_ERR_TLS,
		          c->handshake_confirmed || c->server
		              ? "peer closed the connection"
		              : "peer closed the connection during the "
		                "handshake (it may have refused our "
		                "certificate: check cert/key and that "
		                "the peer trusts their CA)");
		return;
	}
	if (rv == NGTCP2_ERR_DROP_CONN) {
		enter_end(c, TC_DEAD, MA_ERR_TRANSPORT, "connection dropped");
		return;
	}
	fail_liberr(c, rv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct tconn *c = arg;
	int rv;

	if (c->state != TC_ACTIVE) {
		c->state = TC_DEAD;
		if (!c->close_notified) {
			/* Let the close notification run first. */
			struct timeval tv = {0, 0};

			evtimer_add(c->timer, &tv);
			return;
		}
		c->ops->dead(c);
		return;
	}
	rv = ngtcp2_conn_handle_expiry(c->conn, clock_mono_ns());
	if (rv == NGTCP2_ERR_IDLE_CLOSE) {
		enter_end(c, TC_DEAD, MA_ERR_TRANSPORT,
		          "idle timeout: no packets from the peer");
		return;
	}
	if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
		enter_end(c, TC_DEAD, MA_ERR_TRANSPORT,
		          c->server
		              ? "handshake not completed in time; dropped"
		              : "handshake timed out: no answer from the peer "
		                "(check the address and that it is running)");
		return;
	}
	if (rv != 0) {
		fail_liberr(c, rv);
		return;
	}
	conn_write(c);
}

static void on_close_ev(evutil_socket_t fd, short what, void *arg)
{
	struct tconn *c = arg;

	if (c->close_notified)
		return;
	c->close_notified = 1;
	c->ops->closed(c, c->close_error, c->close_msg);
}

void tconn_goaway(struct tconn *c)
{
	if (c->state != TC_ACTIVE || c->h3 == NULL)
		return;
	if (nghttp3_conn_shutdown(c->h3) != 0)
		return;
	conn_write(c);
}

void tconn_refuse(struct tconn *c, uint8_t alert, const char *msg)
{
	ngtcp2_ccerr_set_tls_alert(&c->ccerr, alert, NULL, 0);
	c->app_error = 1;
	snprintf(c->refuse_msg, sizeof c->refuse_msg, "%s", msg);
}

void tconn_abort(struct tconn *c, int error, const char *msg)
{
	if (c->state == TC_ACTIVE)
		enter_end(c, TC_DEAD, error, msg);
}

void tconn_close(struct tconn *c, const ngtcp2_ccerr *ccerr, int error,
                 const char *msg)
{
	ngtcp2_ccerr def;
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi;
	ngtcp2_ssize n;

	if (c->state != TC_ACTIVE)
		return;
	if (ccerr == NULL) {
		ngtcp2_ccerr_default(&def);
		ngtcp2_ccerr_set_application_error(&def, NGHTTP3_H3_NO_ERROR,
		                                   NULL, 0);
		ccerr = &def;
	}
	ngtcp2_path_storage_zero(&ps);
	c->close_pkt = malloc(NGTCP2_MAX_UDP_PAYLOAD_SIZE);
	if (c->close_pkt != NULL) {
		n = ngtcp2_conn_write_connection_close(
		    c->conn, &ps.path, &pi, c->close_pkt,
		    NGTCP2_MAX_UDP_PAYLOAD_SIZE, ccerr, clock_mono_ns());
		if (n > 0) {
			size_t sent;

			c->close_len = (size_t)n;
			(void)udp_send(c->fd, c->gso,
			               (struct sockaddr *)ps.path.remote.addr,
			               (socklen_t)ps.path.remote.addrlen,
			               c->close_pkt, c->close_len, c->close_len,
			               &sent);
		} else {
			free(c->close_pkt);
			c->close_pkt = NULL;
		}
	}
	enter_end(c, c->close_pkt != NULL ? TC_CLOSING : TC_DEAD, error, msg);
}

int tconn_init_events(struct tconn *c)
{
	c->timer = evtimer_new(c->base, on_timer, c);
	c->write_ev = event_new(c->base, -1, 0, on_write_ev, c);
	c->close_ev = event_new(c->base, -1, 0, on_close_ev, c);
	c->tx_ev = event_new(c->base, c->fd, EV_WRITE, on_tx_ev, c);
	c->txbuf = malloc(UDP_BATCH_MAX + 2048);
	if (c->timer == NULL || c->write_ev == NULL || c->close_ev == NULL ||
	    c->tx_ev == NULL || c->txbuf == NULL)
		return MA_ERR_NOMEM;
	return 0;
}

int tconn_set_fd(struct tconn *c, int fd)
{
	struct event *ev = event_new(c->base, fd, EV_WRITE, on_tx_ev, c);
	int waiting;

	if (ev == NULL)
		return MA_ERR_NOMEM;
	waiting = c->tx_ev != NULL && event_pending(c->tx_ev, EV_WRITE, NULL);
	if (c->tx_ev != NULL)
		event_free(c->tx_ev);
	c->tx_ev = ev;
	c->fd = fd;
	if (waiting)
		event_add(c->tx_ev, NULL);
	return 0;
}

void tconn_free(struct tconn *c)
{
	if (c->conn != NULL) {
		ngtcp2_conn_info cs;

		ngtcp2_conn_get_conn_info(c->conn, &cs);
		log_debug(
		    "transport: %s connection stats: %llu packets in "
		    "%llu sends (%llu EAGAIN), %llu yields, %llu "
		    "cwnd-limited, %llu idle stops, %llu "
		    "datagrams received; cwnd %llu, ssthresh %lld, "
		    "srtt %llu us, min rtt %llu us, payload %zu, %llu "
		    "path changes",
		    c->server ? "server" : "client",
		    (unsigned long long)c->st_pkts,
		    (unsigned long long)c->st_sends,
		    (unsigned long long)c->st_eagain,
		    (unsigned long long)c->st_yields,
		    (unsigned long long)c->st_cwnd_limited,
		    (unsigned long long)c->st_idle,
		    (unsigned long long)c->st_rx, (unsigned long long)cs.cwnd,
		    cs.ssthresh == UINT64_MAX ? -1LL : (long long)cs.ssthresh,
		    (unsigned long long)(cs.smoothed_rtt / 1000),
		    (unsigned long long)(cs.min_rtt / 1000),
		    ngtcp2_conn_get_path_max_tx_udp_payload_size(c->conn),
		    (unsigned long long)c->st_path_changes);
	}
	if (c->tx_ev != NULL)
		event_free(c->tx_ev);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->write_ev != NULL)
		event_free(c->write_ev);
	if (c->close_ev != NULL)
		event_free(c->close_ev);
	if (c->h3 != NULL)
		nghttp3_conn_del(c->h3);
	if (c->conn != NULL)
		ngtcp2_conn_del(c->conn);
	if (c->qlog != NULL) /* no FIN came (freed before its end) */
		(void)fclose(c->qlog);
	if (c->ssl != NULL)
		wolfSSL_free(c->ssl);
	free(c->close_pkt);
	free(c->txbuf);
	c->timer = c->write_ev = c->close_ev = c->tx_ev = NULL;
	c->h3 = NULL;
	c->conn = NULL;
	c->ssl = NULL;
	c->close_pkt = NULL;
	c->txbuf = NULL;
}

/* Server response API lives here because it drives nghttp3 directly. */

static struct tstream *rs(struct transport_request *req)
{
	return &req->s;
}

int transport_response_start(struct transport_request *req, int status,
                             const char *content_type)
{
	struct tstream *s = rs(req);
	struct tconn *c = s->c;
	char st[4];
	nghttp3_nv nv[2];
	nghttp3_data_reader dr = {h3_read_data};
	size_t n = 1;

	if (c == NULL || s->started || s->closed || c->h3 == NULL ||
	    status < 100 || status > 999)
		return MA_ERR_INVAL;
	snprintf(st, sizeof st, "%d", status);
	nv[0] = (nghttp3_nv){(uint8_t *)":status", (uint8_t *)st, 7, 3,
	                     NGHTTP3_NV_FLAG_NONE};
	if (content_type != NULL)
		nv[n++] = (nghttp3_nv){
		    (uint8_t *)"content-type", (uint8_t *)content_type, 12,
		    strlen(content_type), NGHTTP3_NV_FLAG_NONE};
	if (nghttp3_conn_submit_response(c->h3, s->id, nv, n, &dr) != 0)
		return MA_ERR_TRANSPORT;
	s->started = 1;
	tconn_schedule_write(c);
	return 0;
}

int transport_response_write(struct transport_request *req, const void *buf,
                             size_t len)
{
	struct tstream *s = rs(req);
	struct tconn *c = s->c;
	struct chunk *ch;

	if (c == NULL || !s->started || s->ended || s->closed)
		return MA_ERR_INVAL;
	if (len == 0)
		return 0;
	if (len > c->max_unacked)
		return MA_ERR_LIMIT;
	if (s->unacked + len > c->max_unacked) {
		s->want = len;
		return MA_ERR_AGAIN;
	}
	ch = malloc(sizeof *ch + len);
	if (ch == NULL)
		return MA_ERR_NOMEM;
	ch->next = NULL;
	ch->len = len;
	memcpy(ch->data, buf, len);
	if (s->tail != NULL)
		s->tail->next = ch;
	else
		s->head = ch;
	s->tail = ch;
	if (s->cur == NULL) {
		s->cur = ch;
		s->cur_off = 0;
	}
	s->unacked += len;
	nghttp3_conn_resume_stream(c->h3, s->id);
	tconn_schedule_write(c);
	return 0;
}

int transport_response_end(struct transport_request *req)
{
	struct tstream *s = rs(req);

	if (s->c == NULL || !s->started || s->ended || s->closed)
		return MA_ERR_INVAL;
	s->ended = 1;
	nghttp3_conn_resume_stream(s->c->h3, s->id);
	tconn_schedule_write(s->c);
	return 0;
}

void transport_response_abort(struct transport_request *req)
{
	struct tstream *s = rs(req);

	if (s->c == NULL || s->closed)
		return;
	s->cancelled = 1;
	tconn_schedule_write(s->c);
}

size_t transport_response_unacked(const struct transport_request *req)
{
	return req->s.unacked;
}
