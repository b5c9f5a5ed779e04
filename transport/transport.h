/* transport: HTTP/3 over QUIC (nghttp3 + ngtcp2 with wolfSSL) on a
 * caller-owned libevent loop. Requests and responses with streaming
 * bodies; nothing here knows about snapshots or logs.
 *
 * Threading: everything runs on the thread that runs the event_base.
 * Callbacks are called from that loop; unless stated otherwise a callback
 * may call any function of this API except freeing the object whose
 * callback is running (transport_client_free() is allowed from on_closed).
 *
 * TLS: TLS 1.3 only, ALPN "h3", 0-RTT off, mutual authentication always.
 * Peer identity (server side): from the verified client certificate, the
 * first SAN URI, else the first SAN DNS name, else the subject CN.
 *
 * Errors: functions return 0 or a negative code from common/errors.h and
 * fill errmsg (MA_ERRMSG_SIZE bytes) when they take one. */
#ifndef MIRROR_TRANSPORT_TRANSPORT_H
#define MIRROR_TRANSPORT_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;

struct transport_server;
struct transport_request;
struct transport_client;
struct transport_stream;

enum transport_cc {
	TRANSPORT_CC_CUBIC = 0,
	TRANSPORT_CC_RENO,
	TRANSPORT_CC_BBR,
	/* ngtcp2 1.x has one BBR (its 0.x BBRv2 module is gone, and its BBR
	 * follows the v2 draft): TRANSPORT_CC_BBR2 selects it too. */
	TRANSPORT_CC_BBR2
};

/* Shared tuning. Zero fields take the defaults in brackets. */
struct transport_tuning {
	uint64_t max_data;        /* connection window [16 MiB] */
	uint64_t max_stream_data; /* per-stream window [16 MiB] */
	uint32_t idle_timeout_ms; /* [30000] */
	enum transport_cc cc;     /* [cubic] */
	/* Largest UDP payload we send [1452, or 65000 when the peer's
	 * address is a loopback address]. Above 1452 the size is used as
	 * given, without path MTU discovery: set it only for paths known to
	 * carry such datagrams (loopback MTU is 65536). At most 65000. */
	uint32_t max_udp_payload;
};

/* ---- server ---- */

struct transport_server_config {
	const char *bind_addr; /* numeric IPv4/IPv6 address ["127.0.0.1"] */
	uint16_t port;         /* 0 = any; see transport_server_port() */
	const char *cert_file; /* PEM chain */
	const char *key_file;  /* PEM key */
	const char *client_ca_file; /* PEM CA(s) clients must chain to */
	/* Established connections [64]; more are refused at Initial
	 * (CONNECTION_REFUSED). Handshakes in progress count separately, so
	 * clients that never finish one cannot take these slots. */
	uint32_t max_connections;
	/* Handshakes in progress at once, in total [16] and from one IP
	 * address [4]; more are refused at Initial (after Retry has proved
	 * the address). */
	uint32_t max_handshakes;
	uint32_t max_handshakes_per_addr;
	/* A handshake not completed within this is dropped [5000]. */
	uint32_t handshake_timeout_ms;
	uint32_t max_streams; /* concurrent requests per conn [100] */
	/* Cap on response body bytes per stream that are accepted by
	 * transport_response_write() but not yet acknowledged by the peer
	 * [4 MiB]. */
	size_t max_unacked;
	struct transport_tuning tuning;
};

struct transport_server_callbacks {
	/* A complete request header block arrived. req stays valid until
	 * on_request_closed(req) returns. Respond with the functions below,
	 * now or later. */
	void (*on_request)(struct transport_request *req, void *user);
	/* After transport_response_write() returned MA_ERR_AGAIN: there is
	 * now room for that write. May be NULL (then poll by retrying). */
	void (*on_writable)(struct transport_request *req, void *user);
	/* The stream is gone: error 0 when the response was ended and
	 * acknowledged, else MA_ERR_TRANSPORT (reset, connection closed, server
	 * freed). The app must drop req when this returns. May be NULL. */
	void (*on_request_closed)(struct transport_request *req, int error,
	                          void *user);
};

/* Binds the UDP socket and starts serving on base. Returns 0,
 * MA_ERR_CONFIG/MA_ERR_TLS (bad config, unreadable cert/key/CA),
 * MA_ERR_IO (socket/bind) or MA_ERR_NOMEM. */
int transport_server_new(struct event_base *base,
                         const struct transport_server_config *config,
                         const struct transport_server_callbacks *cb,
                         void *user, struct transport_server **out,
                         char *errmsg);
/* Sends an H3 GOAWAY and CONNECTION_CLOSE (H3_NO_ERROR) to every client
 * (which reports "peer is shutting down"), calls
 * on_request_closed(MA_ERR_TRANSPORT) for open requests, closes the socket
 * and frees everything at once (no draining period: the socket is gone).
 * NULL is fine. */
void transport_server_free(struct transport_server *srv);
/* The bound UDP port (useful when port 0 was requested). */
uint16_t transport_server_port(const struct transport_server *srv);
/* Number of live connections, handshaking or not (tests, metrics). */
unsigned transport_server_connections(const struct transport_server *srv);
/* Number of connections whose handshake is in progress. */
unsigned transport_server_handshakes(const struct transport_server *srv);
/* UDP datagrams sent to clients and the send calls (sendmsg, one GSO
 * batch each) that carried them, over all connections so far, live or
 * gone (tests, metrics: datagrams per send is the batching achieved). */
void transport_server_tx_stats(const struct transport_server *srv,
                               uint64_t *datagrams, uint64_t *sends);

/* Replaces the TLS identity and client CA (SIGHUP): reads cert_file,
 * key_file and client_ca_file as transport_server_new does (same checks)
 * into a new context used by every handshake from now on; connections
 * already established keep the context they were made with until they
 * end. On an error (MA_ERR_TLS, errmsg names the file) nothing changes.
 * The strings need not outlive the call. */
int transport_server_reload_tls(struct transport_server *srv,
                                const char *cert_file, const char *key_file,
                                const char *client_ca_file, char *errmsg);
/* Successful transport_server_reload_tls() calls so far. */
uint64_t transport_server_tls_reloads(const struct transport_server *srv);

/* Connections refused or failed before they were established, by reason,
 * since the server started (metrics). */
struct transport_server_refusals {
	/* max_connections: at Initial, or when a handshake completes after
	 * others took the last slot */
	uint64_t max_connections;
	uint64_t max_handshakes;          /* at Initial: max_handshakes */
	uint64_t max_handshakes_per_addr; /* at Initial: per address */
	uint64_t invalid_token;           /* Initial with a bad Retry token */
	uint64_t tls;             /* handshake refused: certificate, identity */
	uint64_t handshake_other; /* handshake timed out or failed otherwise */
};
void transport_server_refusal_stats(const struct transport_server *srv,
                                    struct transport_server_refusals *out);

/* Request accessors; strings live as long as req. */
const char *transport_request_method(const struct transport_request *req);
/* Path with the query string, as sent (":path"). */
const char *transport_request_path(const struct transport_request *req);
/* Identity from the client certificate (see top of file). */
const char *transport_request_peer(const struct transport_request *req);
const struct sockaddr *
transport_request_peer_addr(const struct transport_request *req,
                            socklen_t *len);
void transport_request_set_user(struct transport_request *req, void *p);
void *transport_request_get_user(const struct transport_request *req);

/* Sends the response header block. content_type may be NULL. Call once,
 * before any write. 0, MA_ERR_INVAL (twice/after close) or
 * MA_ERR_TRANSPORT. */
int transport_response_start(struct transport_request *req, int status,
                             const char *content_type);
/* Queues len bytes of body (copied). 0 when all were accepted;
 * MA_ERR_AGAIN when they would push the stream's unacknowledged bytes over
 * max_unacked (nothing was accepted; on_writable follows once they fit);
 * MA_ERR_LIMIT when len alone exceeds max_unacked; MA_ERR_INVAL before
 * start or after end; MA_ERR_NOMEM. */
int transport_response_write(struct transport_request *req, const void *buf,
                             size_t len);
/* Ends the body (FIN). 0 or MA_ERR_INVAL. */
int transport_response_end(struct transport_request *req);
/* Aborts the response (resets the stream); on_request_closed follows. */
void transport_response_abort(struct transport_request *req);
/* Bytes accepted by write() and not yet acknowledged (for tests). */
size_t transport_response_unacked(const struct transport_request *req);

/* ---- client ---- */

struct transport_client_config {
	const char *host; /* numeric address to connect to */
	uint16_t port;
	const char *local_addr;  /* numeric source address [the kernel's] */
	const char *server_name; /* SNI and certificate name ["localhost"] */
	const char *ca_file;     /* PEM CA the server must chain to */
	const char *cert_file;   /* client certificate (PEM), NULL = none */
	const char *key_file;
	uint32_t handshake_timeout_ms; /* [10000] */
	uint32_t keepalive_ms;         /* PING when idle this long [10000] */
	struct transport_tuning tuning;
};

struct transport_client_callbacks {
	/* Handshake confirmed (server accepted our certificate too). */
	void (*on_connected)(struct transport_client *c, void *user);
	/* The connection is over: error 0 after transport_client_close(),
	 * MA_ERR_TLS for handshake/verification failures, MA_ERR_TRANSPORT
	 * for the rest (peer closed, idle timeout, stateless reset, ...).
	 * errmsg says what happened. Open streams got on_error before. */
	void (*on_closed)(struct transport_client *c, int error,
	                  const char *errmsg, void *user);
};

struct transport_stream_callbacks {
	void (*on_response)(struct transport_stream *s, int status, void *user);
	/* Body bytes; the window is extended when this returns unless the
	 * stream is paused. */
	void (*on_body)(struct transport_stream *s, const uint8_t *data,
	                size_t len, void *user);
	/* Complete response received. s is freed after this returns. */
	void (*on_end)(struct transport_stream *s, void *user);
	/* Stream failed (reset, connection gone). s is freed after this. */
	void (*on_error)(struct transport_stream *s, int code, const char *msg,
	                 void *user);
};

/* Starts connecting (handshake runs on base). 0, MA_ERR_CONFIG,
 * MA_ERR_TLS, MA_ERR_IO or MA_ERR_NOMEM; later failures arrive through
 * on_closed. */
int transport_client_new(struct event_base *base,
                         const struct transport_client_config *config,
                         const struct transport_client_callbacks *cb,
                         void *user, struct transport_client **out,
                         char *errmsg);
/* Closes gracefully (CONNECTION_CLOSE H3_NO_ERROR); on_closed(0) follows
 * from the loop. */
void transport_client_close(struct transport_client *c);
/* Frees at once, without callbacks; a connection still open is closed
 * with CONNECTION_CLOSE (H3_NO_ERROR) first, so the server releases it
 * at once instead of at its idle timeout. NULL is fine. */
void transport_client_free(struct transport_client *c);
/* Test hook for NAT rebinding: opens a new UDP socket bound to
 * local_addr (numeric; NULL = the current address) on a fresh port, and
 * moves the connection to it just before its next packet goes out (the
 * old socket is closed then), without telling the server, as a NAT whose
 * mapping changed would. The server sees the same connection IDs from a
 * new address and must validate it (PATH_CHALLENGE) and answer there.
 * May be called from stream callbacks. 0, MA_ERR_INVAL (not connected
 * yet or closed) or MA_ERR_IO (errmsg says why). */
int transport_client_rebind(struct transport_client *c, const char *local_addr,
                            char *errmsg);
/* The server certificate of the connection: "serial HEX, subject /.../"
 * (logs, tests; after on_connected), or "no certificate". */
void transport_client_peer_cert(const struct transport_client *c, char *buf,
                                size_t len);
/* The client's current local address and port (tests). */
const struct sockaddr *
transport_client_local_addr(const struct transport_client *c, socklen_t *len);
/* The connection's minimum RTT in microseconds as ngtcp2 keeps it (0
 * before the first sample): the path's delay without the queueing and
 * CPU waits that the smoothed RTT carries (8 ms seen on a busy machine's
 * loopback). */
uint64_t transport_client_min_rtt_us(const struct transport_client *c);
/* GET path (with query) on a new stream. Allowed before on_connected
 * (queued until the handshake and the peer's stream limit allow).
 * 0, MA_ERR_TRANSPORT (closed), MA_ERR_NOMEM. */
int transport_client_request(struct transport_client *c, const char *path,
                             const struct transport_stream_callbacks *cb,
                             void *user, struct transport_stream **out);
/* Cancels: resets the stream; no further callbacks; s is freed. */
void transport_stream_cancel(struct transport_stream *s);
/* Paused streams stop returning flow-control credit, so the server
 * stalls once the window is used up; resuming returns the withheld credit.
 */
void transport_stream_pause(struct transport_stream *s, int paused);

#endif
