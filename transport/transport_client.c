/* transport: HTTP/3 client — one connection, many request streams. */
#include "transport/transport_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/errors.h"

struct transport_client {
	struct tconn c;
	struct transport_client_config cfg;
	char *server_name, *host;
	struct transport_client_callbacks cb;
	void *user;
	WOLFSSL_CTX *ctx;
	int gso;
	struct event *rx_ev;
	struct udp_rx rx;
	/* Requests waiting for the handshake or for stream credit. */
	struct tstream *queue, *queue_tail;
	int closed_reported;
	/* transport_client_rebind(): the socket to move to (-1 = none). */
	int rebind_fd, rebind_gso;
	struct sockaddr_storage rebind_local;
	socklen_t rebind_locallen;
};

static struct transport_client *cl(struct tconn *c)
{
	return c->owner;
}

static int cl_handshake_completed(struct tconn *c)
{
	return tconn_setup_h3(c);
}

static int cl_handshake_confirmed(struct tconn *c)
{
	struct transport_client *client = cl(c);

	if (client->cb.on_connected != NULL)
		client->cb.on_connected(client, client->user);
	tconn_schedule_write(c);
	return 0;
}

static int cl_new_cid(struct tconn *c, ngtcp2_cid *cid, uint8_t *token,
                      size_t cidlen)
{
	tconn_random(cid->data, cidlen);
	cid->datalen = cidlen;
	tconn_random(token, NGTCP2_STATELESS_RESET_TOKENLEN);
	return 0;
}

static void finish_stream(struct tstream *s, int error, const char *msg)
{
	struct transport_stream *ts = (struct transport_stream *)s;
	struct tconn *c = s->c;

	/* A stream that ends or is cancelled while paused can no longer be
	 * resumed: hand back the connection-level credit it withheld, or the
	 * shared connection window shrinks for good (and other streams
	 * stall). The stream-level credit dies with the stream. */
	if (s->withheld > 0 && c != NULL && c->state == TC_ACTIVE) {
		ngtcp2_conn_extend_max_offset(c->conn, s->withheld);
		s->withheld = 0;
		tconn_schedule_write(c);
	}
	tstream_release(s);
	if (!s->cancelled) {
		if (error == 0 && s->cb->on_end != NULL)
			s->cb->on_end(ts, s->user);
		else if (error != 0 && s->cb->on_error != NULL)
			s->cb->on_error(ts, error, msg, s->user);
	}
	free(ts);
}

static void cl_closed(struct tconn *c, int error, const char *msg)
{
	struct transport_client *client = cl(c);
	char buf[MA_ERRMSG_SIZE];

	snprintf(buf, sizeof buf, "%s:%u: %s", client->host, client->cfg.port,
	         msg);
	while (c->streams != NULL)
		finish_stream(c->streams, MA_ERR_TRANSPORT, buf);
	while (client->queue != NULL) {
		struct tstream *s = client->queue;

		client->queue = s->next;
		s->c = NULL;
		s->next = NULL;
		finish_stream(s, MA_ERR_TRANSPORT, buf);
	}
	client->queue_tail = NULL;
	client->closed_reported = 1;
	if (client->cb.on_closed != NULL)
		client->cb.on_closed(client, error, buf, client->user);
}

static void cl_dead(struct tconn *c)
{
	/* The client object owns c; it is freed by transport_client_free(). */
	event_del(c->timer);
}

static void cl_pre_write(struct tconn *c)
{
	struct transport_client *client = cl(c);

	while (client->queue != NULL && c->h3 != NULL) {
		struct tstream *s = client->queue;
		const char *auth = client->server_name;
		nghttp3_nv nv[4] = {
		    {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0},
		    {(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0},
		    {(uint8_t *)":authority", (uint8_t *)auth, 10, strlen(auth),
		     0},
		    {(uint8_t *)":path", (uint8_t *)s->req_path, 5,
		     strlen(s->req_path), 0},
		};
		int64_t id;

		if (!s->cancelled) {
			if (ngtcp2_conn_open_bidi_stream(c->conn, &id, s) != 0)
				return; /* no credit yet: extend_max_streams */
			s->id = id;
			if (nghttp3_conn_submit_request(c->h3, id, nv, 4, NULL,
			                                s) != 0) {
				ngtcp2_conn_shutdown_stream(
				    c->conn, 0, id, NGHTTP3_H3_INTERNAL_ERROR);
				s->cancelled = 1;
			}
		}
		client->queue = s->next;
		if (client->queue == NULL)
			client->queue_tail = NULL;
		s->next = NULL;
		if (s->cancelled && s->id < 0) {
			free(s->req_path);
			free(s);
			continue;
		}
		tstream_link(c, s);
	}
}

static void cl_stream_closed(struct tconn *c, struct tstream *s, int error,
                             const char *msg)
{
	finish_stream(s, error, msg);
}

static void cl_before_send(struct tconn *c);

static const struct tconn_ops cl_ops = {
    .handshake_completed = cl_handshake_completed,
    .handshake_confirmed = cl_handshake_confirmed,
    .new_cid = cl_new_cid,
    .closed = cl_closed,
    .dead = cl_dead,
    .pre_write = cl_pre_write,
    .before_send = cl_before_send,
    .stream_closed = cl_stream_closed,
};

/* recvmmsg batches per wakeup. One: the write event (our ACKs) runs after
 * each batch, so the sender's window reopens as soon as possible; a
 * client has one connection, so there is nobody else to be fair to. */
#define CLIENT_RX_ROUNDS 1

/* Feeds one recvmmsg batch. Returns what udp_recv() returned. */
static int rx_batch(struct transport_client *client)
{
	int n = udp_recv(client->c.fd, &client->rx);
	const struct sockaddr *from;
	const uint8_t *pkt;
	socklen_t fromlen;
	size_t len;

	while (udp_rx_next(&client->rx, &pkt, &len, &from, &fromlen))
		tconn_read(&client->c, from, fromlen, pkt, len);
	return n;
}

static void on_rx(evutil_socket_t fd, short what, void *arg)
{
	struct transport_client *client = arg;
	char msg[200];
	int n = 0;

	for (int round = 0; round < CLIENT_RX_ROUNDS; round++) {
		n = rx_batch(client);
		if (n <= 0)
			break;
	}
	if (n != -ECONNREFUSED)
		return;
	/* The kernel reports the ICMP error before datagrams still queued:
	 * a server that exited right after its GOAWAY and CONNECTION_CLOSE
	 * has its close behind the error. Read those first (bounded). */
	for (int round = 0; round < 4 && client->c.state == TC_ACTIVE; round++)
		if (rx_batch(client) <= 0)
			break;
	if (client->c.state != TC_ACTIVE)
		return;
	/* The socket is connected, so the kernel hands us the ICMP port
	 * unreachable: waiting for the handshake or idle timeout would only
	 * hide it. */
	if (client->c.goaway_received)
		snprintf(
		    msg, sizeof msg,
		    "peer is shutting down (GOAWAY, then its port closed): "
		    "reconnect once it is back or to another source");
	else
		snprintf(msg, sizeof msg,
		         "nothing listens on UDP %s:%u (ICMP port "
		         "unreachable): check the source's address and port "
		         "and that serve is running there",
		         client->host, client->cfg.port);
	tconn_abort(&client->c, MA_ERR_TRANSPORT, msg);
}

int transport_client_new(struct event_base *base,
                         const struct transport_client_config *config,
                         const struct transport_client_callbacks *cb,
                         void *user, struct transport_client **out,
                         char *errmsg)
{
	struct transport_client *client;
	struct tconn *c;
	ngtcp2_callbacks ncb;
	ngtcp2_settings st;
	ngtcp2_transport_params tp;
	ngtcp2_path path;
	ngtcp2_cid dcid, scid;
	int rv;

	*out = NULL;
	if (base == NULL || config == NULL || config->host == NULL ||
	    config->port == 0)
		return ma_errorf(errmsg, MA_ERR_CONFIG,
		                 "transport client needs host and port");
	client = calloc(1, sizeof *client);
	if (client == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	c = &client->c;
	c->fd = -1;
	client->rebind_fd = -1;
	client->cfg = *config;
	client->cb = *cb;
	client->user = user;
	client->host = strdup(config->host);
	client->server_name =
	    strdup(config->server_name ? config->server_name : "localhost");
	c->ops = &cl_ops;
	c->owner = client;
	c->base = base;
	c->gso = &client->gso;
	ngtcp2_ccerr_default(&c->ccerr);
	if (client->host == NULL || client->server_name == NULL) {
		rv = ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
		goto err;
	}
	rv = udp_addr(config->host, config->port, &c->remote, &c->remotelen,
	              errmsg);
	if (rv != 0)
		goto err;
	rv = tls_client_ctx_new(&client->ctx, config->ca_file,
	                        config->cert_file, config->key_file, errmsg);
	if (rv != 0)
		goto err;
	rv = udp_open(config->local_addr != NULL        ? config->local_addr
	              : c->remote.ss_family == AF_INET6 ? "::"
	                                                : "0.0.0.0",
	              0, &c->fd, &client->gso, &c->local, &c->locallen, errmsg);
	if (rv != 0)
		goto err;
	/* connect() fixes the local address the kernel picks, which the
	 * path must name. */
	if (connect(c->fd, (struct sockaddr *)&c->remote, c->remotelen) != 0 ||
	    getsockname(c->fd, (struct sockaddr *)&c->local, &c->locallen) !=
	        0) {
		rv = ma_errorf(errmsg, MA_ERR_IO, "cannot reach %s:%u",
		               config->host, config->port);
		goto err;
	}
	if (udp_rx_init(&client->rx) != 0 || tconn_init_events(c) != 0) {
		rv = ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
		goto err;
	}
	tconn_callbacks(&ncb, 0);
	tconn_settings(&st, &tp, &config->tuning, (struct sockaddr *)&c->remote,
	               clock_mono_ns());
	st.handshake_timeout =
	    (config->handshake_timeout_ms ? config->handshake_timeout_ms
	                                  : 10000) *
	    NGTCP2_MILLISECONDS;
	tp.initial_max_streams_bidi = 0;
	dcid.datalen = 18;
	scid.datalen = 18;
	tconn_random(dcid.data, dcid.datalen);
	tconn_random(scid.data, scid.datalen);
	path.local.addr = (ngtcp2_sockaddr *)&c->local;
	path.local.addrlen = c->locallen;
	path.remote.addr = (ngtcp2_sockaddr *)&c->remote;
	path.remote.addrlen = c->remotelen;
	path.user_data = NULL;
	tconn_qlog_open(c, &st, &scid);
	if (ngtcp2_conn_client_new(&c->conn, &dcid, &scid, &path,
	                           NGTCP2_PROTO_VER_V1, &ncb, &st, &tp, NULL,
	                           c) != 0) {
		rv = ma_errorf(errmsg, MA_ERR_NOMEM, "ngtcp2_conn_client_new");
		goto err;
	}
	ngtcp2_conn_set_keep_alive_timeout(
	    c->conn, (config->keepalive_ms ? config->keepalive_ms : 10000) *
	                 NGTCP2_MILLISECONDS);
	c->ref.get_conn = tconn_get_conn;
	c->ref.user_data = c;
	rv = tls_session_new(&c->ssl, client->ctx, &c->ref, client->server_name,
	                     errmsg);
	if (rv != 0)
		goto err;
	ngtcp2_conn_set_tls_native_handle(c->conn, c->ssl);
	c->expected_name = client->server_name;
	client->rx_ev =
	    event_new(base, c->fd, EV_READ | EV_PERSIST, on_rx, client);
	if (client->rx_ev == NULL || event_add(client->rx_ev, NULL) != 0) {
		rv = ma_errorf(errmsg, MA_ERR_NOMEM, "cannot add UDP event");
		goto err;
	}
	tconn_schedule_write(c);
	*out = client;
	return 0;

err:
	transport_client_free(client);
	return rv;
}

int transport_client_rebind(struct transport_client *client,
                            const char *local_addr, char *errmsg)
{
	struct tconn *c = &client->c;
	struct sockaddr_storage local;
	socklen_t locallen;
	char host[INET6_ADDRSTRLEN];
	int fd, gso, rv;

	if (c->state != TC_ACTIVE || !c->handshake_confirmed)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "rebind: the connection is not established");
	if (local_addr == NULL) {
		const void *ip =
		    c->local.ss_family == AF_INET6
		        ? (const void *)&((struct sockaddr_in6 *)&c->local)
		              ->sin6_addr
		        : (const void *)&((struct sockaddr_in *)&c->local)
		              ->sin_addr;

		if (inet_ntop(c->local.ss_family, ip, host, sizeof host) ==
		    NULL)
			return ma_errorf(errmsg, MA_ERR_IO,
			                 "rebind: cannot format the local "
			                 "address: %s",
			                 strerror(errno));
		local_addr = host;
	}
	rv = udp_open(local_addr, 0, &fd, &gso, &local, &locallen, errmsg);
	if (rv != 0)
		return rv;
	if (connect(fd, (struct sockaddr *)&c->remote, c->remotelen) != 0 ||
	    getsockname(fd, (struct sockaddr *)&local, &locallen) != 0) {
		rv = ma_errorf(errmsg, MA_ERR_IO,
		               "rebind: cannot reach %s:%u from %s: %s",
		               client->host, client->cfg.port, local_addr,
		               strerror(errno));
		close(fd);
		return rv;
	}
	if (client->rebind_fd >= 0)
		close(client->rebind_fd);
	client->rebind_fd = fd;
	client->rebind_gso = gso;
	client->rebind_local = local;
	client->rebind_locallen = locallen;
	tconn_schedule_write(c);
	return 0;
}

/* Moves to the socket transport_client_rebind() opened, as the next
 * packets go out: a NAT's new mapping shows with the client's next packet,
 * and what the server sends to the old one is lost. Runs from the write
 * path, outside the library's callbacks. */
static void cl_before_send(struct tconn *c)
{
	struct transport_client *client = cl(c);
	struct event *rx_ev;
	ngtcp2_addr addr;
	int fd = client->rebind_fd, old = c->fd;

	if (fd < 0)
		return;
	client->rebind_fd = -1;
	rx_ev = event_new(c->base, fd, EV_READ | EV_PERSIST, on_rx, client);
	if (rx_ev == NULL || event_add(rx_ev, NULL) != 0 ||
	    tconn_set_fd(c, fd) != 0) {
		if (rx_ev != NULL)
			event_free(rx_ev);
		close(fd);
		tconn_abort(c, MA_ERR_NOMEM, "rebind: cannot add UDP event");
		return;
	}
	event_free(client->rx_ev);
	client->rx_ev = rx_ev;
	/* Datagrams still queued on the old socket are lost, as behind a
	 * real NAT; QUIC recovers them. */
	close(old);
	client->gso = client->rebind_gso;
	c->local = client->rebind_local;
	c->locallen = client->rebind_locallen;
	/* ngtcp2 names the path by both ends: packets now arrive on the new
	 * local address and must match the current path. */
	addr.addr = (ngtcp2_sockaddr *)&c->local;
	addr.addrlen = c->locallen;
	ngtcp2_conn_set_local_addr(c->conn, &addr);
}

void transport_client_peer_cert(const struct transport_client *client,
                                char *buf, size_t len)
{
	tls_peer_cert_describe(client->c.ssl, buf, len);
}

const struct sockaddr *
transport_client_local_addr(const struct transport_client *client,
                            socklen_t *len)
{
	*len = client->c.locallen;
	return (const struct sockaddr *)&client->c.local;
}

uint64_t transport_client_min_rtt_us(const struct transport_client *client)
{
	ngtcp2_conn_info ci;

	if (client->c.conn == NULL)
		return 0;
	ngtcp2_conn_get_conn_info(client->c.conn, &ci);
	if (ci.min_rtt == UINT64_MAX) /* no sample yet */
		return 0;
	return ci.min_rtt / 1000;
}

void transport_client_close(struct transport_client *client)
{
	client->c.close_requested = 1;
	tconn_schedule_write(&client->c);
}

void transport_client_free(struct transport_client *client)
{
	struct tconn *c;

	if (client == NULL)
		return;
	c = &client->c;
	/* Tell the server now, or it holds the connection (and what it
	 * counts against its limits) until its idle timeout. */
	if (c->conn != NULL && c->state == TC_ACTIVE)
		tconn_close(c, NULL, 0, "client freed");
	while (c->streams != NULL) {
		struct tstream *s = c->streams;

		tstream_release(s);
		free(s);
	}
	while (client->queue != NULL) {
		struct tstream *s = client->queue;

		client->queue = s->next;
		free(s->req_path);
		free(s);
	}
	if (client->rx_ev != NULL)
		event_free(client->rx_ev);
	if (client->rebind_fd >= 0)
		close(client->rebind_fd);
	tconn_free(c);
	if (c->fd >= 0)
		close(c->fd);
	udp_rx_free(&client->rx);
	if (client->ctx != NULL)
		wolfSSL_CTX_free(client->ctx);
	free(client->host);
	free(client->server_name);
	free(client);
}

int transport_client_request(struct transport_client *client, const char *path,
                             const struct transport_stream_callbacks *cb,
                             void *user, struct transport_stream **out)
{
	struct transport_stream *ts;

	*out = NULL;
	if (client->c.state != TC_ACTIVE || client->c.close_requested)
		return MA_ERR_TRANSPORT;
	ts = calloc(1, sizeof *ts);
	if (ts == NULL)
		return MA_ERR_NOMEM;
	ts->s.req_path = strdup(path);
	if (ts->s.req_path == NULL) {
		free(ts);
		return MA_ERR_NOMEM;
	}
	ts->s.id = -1;
	ts->s.cb = cb;
	ts->s.user = user;
	if (client->queue_tail != NULL)
		client->queue_tail->next = &ts->s;
	else
		client->queue = &ts->s;
	client->queue_tail = &ts->s;
	tconn_schedule_write(&client->c);
	*out = ts;
	return 0;
}

void transport_stream_cancel(struct transport_stream *ts)
{
	ts->s.cancelled = 1;
	if (ts->s.c != NULL)
		tconn_schedule_write(ts->s.c);
}

void transport_stream_pause(struct transport_stream *ts, int paused)
{
	struct tstream *s = &ts->s;

	s->paused = paused != 0;
	if (!s->paused && s->withheld > 0 && s->c != NULL &&
	    s->c->state == TC_ACTIVE) {
		ngtcp2_conn_extend_max_stream_offset(s->c->conn, s->id,
		                                     s->withheld);
		ngtcp2_conn_extend_max_offset(s->c->conn, s->withheld);
		s->withheld = 0;
		tconn_schedule_write(s->c);
	}
}
