/* transport internals shared by the client, server and HTTP/3 glue. Not
 * part of the module API (see transport.h). */
#ifndef MIRROR_TRANSPORT_INT_H
#define MIRROR_TRANSPORT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "transport/transport.h"
#include "transport/transport_tls.h"

struct event;
struct event_base;

/* ---- UDP glue (transport_udp.c) ---- */

/* Largest datagram batch handed to the kernel at once (GSO); also the
 * largest single datagram we send (IPv4 allows 65507 bytes of payload). */
#define UDP_BATCH_MAX 65000
/* The kernel refuses GSO sends of more segments (UDP_MAX_SEGMENTS). */
#define UDP_GSO_MAX_SEGS 64
/* Default largest UDP payload: 1452 fits a 1500-byte Ethernet MTU with
 * IPv6; loopback (MTU 65536) takes far fewer, larger datagrams. */
#define TRANSPORT_DEFAULT_PAYLOAD 1452
#ifndef TRANSPORT_LOOPBACK_PAYLOAD
#define TRANSPORT_LOOPBACK_PAYLOAD 65000
#endif
/* Send quanta one write event may emit before yielding to the loop. */
#define WRITE_BUDGET_QUANTA 8
#define UDP_RX_BATCH 16
/* SETTINGS_MAX_FIELD_SECTION_SIZE we advertise and enforce on requests
 * (RFC 9114 4.2.2: names and values plus 32 bytes per field line). */
#define TRANSPORT_MAX_FIELD_SECTION 16384
#define UDP_RX_SIZE 65536

/* Opens a non-blocking UDP socket bound to addr:port (numeric; port 0 =
 * any). Returns 0 or MA_ERR_IO/MA_ERR_CONFIG. *gso tells whether the
 * kernel takes UDP_SEGMENT; UDP_GRO is turned on when the kernel has it
 * (udp_recv() splits what it coalesces). */
int udp_open(const char *addr, uint16_t port, int *fd, int *gso,
             struct sockaddr_storage *local, socklen_t *locallen, char *errmsg);
/* Resolves a numeric address into ss. 0 or MA_ERR_CONFIG. */
int udp_addr(const char *addr, uint16_t port, struct sockaddr_storage *ss,
             socklen_t *len, char *errmsg);
/* 1 when sa is a loopback address (127/8, ::1, ::ffff:127/104). */
int udp_is_loopback(const struct sockaddr *sa);
/* Sends len bytes as datagrams of seg bytes (the last may be shorter).
 * Uses one GSO send when *gso, else (or after the kernel refuses GSO with
 * EIO/EINVAL, which clears *gso) sendmmsg of up to UDP_GSO_MAX_SEGS
 * datagrams per call. Returns 0, -EAGAIN (nothing
 * more could be sent; *sent says how many bytes went), or -errno. */
int udp_send(int fd, int *gso, const struct sockaddr *to, socklen_t tolen,
             const uint8_t *buf, size_t len, size_t seg, size_t *sent);

/* Control space of one received message: the UDP_GRO segment size. */
#define UDP_RX_CTRL 64

struct udp_rx {
	uint8_t *buf; /* UDP_RX_BATCH * UDP_RX_SIZE */
	struct mmsghdr msgs[UDP_RX_BATCH];
	struct iovec iov[UDP_RX_BATCH];
	struct sockaddr_storage from[UDP_RX_BATCH];
	uint8_t ctrl[UDP_RX_BATCH][UDP_RX_CTRL];
	/* Filled by udp_recv(): messages received, each one's segment size
	 * (0: one datagram; with UDP_GRO, a buffer of datagrams of seg[i]
	 * bytes, the last possibly shorter); read by udp_rx_next(). */
	int n;
	size_t seg[UDP_RX_BATCH];
	int cur;
	size_t cur_off;
	/* Buffers that held more than one datagram (GRO), datagrams. */
	uint64_t st_gro_bufs, st_dgrams;
};
int udp_rx_init(struct udp_rx *rx);
void udp_rx_free(struct udp_rx *rx);
/* Receives up to UDP_RX_BATCH messages (recvmmsg; with UDP_GRO each may
 * hold many datagrams of one sender). Returns the count of messages, 0
 * when none is waiting, or -errno. Read the datagrams with
 * udp_rx_next(). */
int udp_recv(int fd, struct udp_rx *rx);
/* The next datagram of the last udp_recv(): 1 with *pkt, *len and its
 * sender, 0 when all are read. */
int udp_rx_next(struct udp_rx *rx, const uint8_t **pkt, size_t *len,
                const struct sockaddr **from, socklen_t *fromlen);
/* Length of the datagram at off in a GRO buffer of total bytes cut in
 * segments of seg bytes (seg 0: the buffer is one datagram). 0 at the
 * end. */
size_t udp_gro_next_len(size_t total, size_t off, size_t seg);
/* Offloads udp_open() asks the kernel for: MA_UDP_GSO=0 / MA_UDP_GRO=0
 * in the environment turn them off (to measure their effect with the
 * same binary, or to work around a driver). */
int udp_gso_wanted(void);
int udp_gro_wanted(void);

/* ---- connections and streams (transport_h3.c) ---- */

struct chunk {
	struct chunk *next;
	size_t len;
	uint8_t data[];
};

struct tconn;

struct tstream {
	struct tconn *c;
	struct tstream *next, *prev;
	int64_t id; /* -1 until opened (client) */
	int cancelled, closed;
	/* server: request and response */
	char *method, *path;
	int dispatched, started, ended, aborted, writable_pending;
	size_t field_bytes; /* request header section so far */
	int too_large;      /* over TRANSPORT_MAX_FIELD_SECTION: 431 */
	struct chunk *head, *cur, *tail;
	size_t head_acked, cur_off;
	size_t unacked, want;
	/* client */
	char *req_path;
	const struct transport_stream_callbacks *cb;
	int status, paused, done;
	uint64_t withheld;
	void *user;
};

struct transport_request {
	struct tstream s;
};
struct transport_stream {
	struct tstream s;
};

struct tconn_ops {
	int (*handshake_completed)(struct tconn *c);
	int (*handshake_confirmed)(struct tconn *c);
	/* Stores a fresh CID (and its stateless reset token). */
	int (*new_cid)(struct tconn *c, ngtcp2_cid *cid, uint8_t *token,
	               size_t cidlen);
	void (*remove_cid)(struct tconn *c, const ngtcp2_cid *cid);
	/* The connection stopped (closing, draining or dead): tell the app.
	 * Called from the loop, never from inside ngtcp2/nghttp3. */
	void (*closed)(struct tconn *c, int error, const char *msg);
	/* Closing/draining period over: free c (tconn_free()). */
	void (*dead)(struct tconn *c);
	/* Server: a request is complete. */
	void (*request)(struct tconn *c, struct tstream *s);
	/* Server: a write refused with MA_ERR_AGAIN now fits. */
	void (*writable)(struct tconn *c, struct tstream *s);
	/* Client: open queued requests, drop cancelled unopened ones. */
	void (*pre_write)(struct tconn *c);
	/* Client: a batch of packets is about to go out (may change c->fd:
	 * the rebind test hook). May be NULL. */
	void (*before_send)(struct tconn *c);
	/* A stream ended; free s's owner object. error 0 on success. */
	void (*stream_closed)(struct tconn *c, struct tstream *s, int error,
	                      const char *msg);
};

enum tconn_state { TC_ACTIVE, TC_CLOSING, TC_DRAINING, TC_DEAD };

struct tconn {
	int server;
	const struct tconn_ops *ops;
	void *owner;
	struct tconn *next, *prev; /* server's list */
	struct event_base *base;
	int fd;
	int *gso;
	struct sockaddr_storage local, remote;
	socklen_t locallen, remotelen;
	ngtcp2_conn *conn;
	nghttp3_conn *h3;
	WOLFSSL *ssl;
	ngtcp2_crypto_conn_ref ref;
	struct event *timer, *write_ev, *close_ev;
	struct event *tx_ev; /* socket writable again after EAGAIN */
	enum tconn_state state;
	ngtcp2_ccerr ccerr;
	int app_error; /* ccerr was set by us (h3/app), not the library */
	int close_error;
	char close_msg[480]; /* fits MA_ERRMSG_SIZE with "HOST:PORT: " */
	/* Set by tconn_refuse(): why we refuse, for when the library
	 * reports the callback failure that follows. */
	char refuse_msg[256];
	/* The close's error for refuse_msg: MA_ERR_TLS (0 here) for a
	 * certificate or identity refused, MA_ERR_LIMIT for a limit. */
	int refuse_error;
	int close_notified, close_requested;
	uint8_t *close_pkt;
	size_t close_len;
	uint8_t *txbuf;
	/* A batch the socket refused (EAGAIN), retried before new writes. */
	size_t tx_pending, tx_pending_off, tx_seg;
	/* Where the batch in txbuf goes: the remote of the path ngtcp2
	 * wrote its packets for, which is not c->remote while it validates a
	 * new path (migration, NAT rebinding). */
	struct sockaddr_storage tx_to;
	socklen_t tx_tolen;
	struct tstream *streams;
	size_t max_unacked;
	uint64_t max_data;
	char identity[TLS_IDENTITY_MAX];
	int handshake_completed, handshake_confirmed;
	int goaway_received; /* the peer's H3 GOAWAY arrived */
	/* server: 0 handshaking (counted in nhandshakes), 1 established,
	 * 2 stopped before its handshake completed (no longer counted). */
	int established;
	const char *expected_name; /* client: the server name we verify */
	/* Counters logged at debug level when the connection is freed. */
	uint64_t st_pkts, st_sends, st_eagain, st_yields, st_rx;
	uint64_t st_cwnd_limited, st_idle;
	/* Times the peer's address changed and ngtcp2 moved the connection
	 * to the new path (tests, logs). */
	uint64_t st_path_changes;
	/* Test-only key updates (MA_TEST_KEY_UPDATE_BYTES, transport_h3.c,
	 * builds with --enable-fault-injection). */
	uint64_t test_rx_bytes;
	unsigned test_key_updates;
	/* qlog of this connection (MA_QLOG_DIR), or NULL. */
	FILE *qlog;
};

/* Fills ngtcp2 callbacks shared by both roles. */
void tconn_callbacks(ngtcp2_callbacks *cb, int server);
/* Settings/params from tuning (defaults applied); remote picks the default
 * UDP payload (larger on loopback). */
void tconn_settings(ngtcp2_settings *st, ngtcp2_transport_params *tp,
                    const struct transport_tuning *t,
                    const struct sockaddr *remote, uint64_t now);
/* With MA_QLOG_DIR set in the environment: opens
 * MA_QLOG_DIR/{server,client}-SCID.sqlog for this connection and points
 * st's qlog_write at it (a diagnostic for congestion and loss; a file that
 * cannot be made is logged and skipped). Call before ngtcp2_conn_*_new. */
void tconn_qlog_open(struct tconn *c, ngtcp2_settings *st,
                     const ngtcp2_cid *scid);
/* Sets up the libevent events. 0 or MA_ERR_NOMEM. */
int tconn_init_events(struct tconn *c);
/* Moves c to socket fd (the caller closes the old one): the write-ready
 * event follows. 0 or MA_ERR_NOMEM (c keeps its old socket). */
int tconn_set_fd(struct tconn *c, int fd);
/* Creates the nghttp3 connection and its uni streams (after the
 * handshake). 0 or MA_ERR_TRANSPORT. */
int tconn_setup_h3(struct tconn *c);
/* Feeds one datagram. */
void tconn_read(struct tconn *c, const struct sockaddr *from, socklen_t fromlen,
                const uint8_t *pkt, size_t len);
/* Asks the loop to run the write path soon (safe anywhere). */
void tconn_schedule_write(struct tconn *c);
/* Sends an H3 GOAWAY (no new requests) now, when HTTP/3 is up: what a
 * server says before closing at shutdown, so the client knows the close
 * is an orderly one. */
void tconn_goaway(struct tconn *c);
/* Closes with ccerr (application NO_ERROR if NULL). */
void tconn_close(struct tconn *c, const ngtcp2_ccerr *ccerr, int error,
                 const char *msg);
/* From inside an ngtcp2 callback that is about to fail: close with the
 * TLS alert (sent as CRYPTO_ERROR 0x100+alert, not INTERNAL_ERROR), error
 * MA_ERR_TLS and msg, once the library returns. */
void tconn_refuse(struct tconn *c, uint8_t alert, const char *msg);
/* Ends the connection at once without a CONNECTION_CLOSE (the peer is
 * unreachable): closed(error, msg) follows from the loop. */
void tconn_abort(struct tconn *c, int error, const char *msg);
/* Frees streams (without callbacks), ngtcp2/nghttp3/TLS state, events. */
void tconn_free(struct tconn *c);
/* ngtcp2_crypto_conn_ref.get_conn for a tconn. */
ngtcp2_conn *tconn_get_conn(ngtcp2_crypto_conn_ref *ref);
/* Fills p with len bytes from getrandom(); aborts without entropy. */
void tconn_random(uint8_t *p, size_t len);
/* Unlinks s from c's list and frees its buffers (not s itself). */
void tstream_release(struct tstream *s);
void tstream_link(struct tconn *c, struct tstream *s);

#endif
