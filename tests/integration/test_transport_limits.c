/* transport: the timers and limits, over loopback — idle timeout,
 * keep-alive, handshake timeout, connection and stream limits, server
 * restart (stateless reset / idle fallback), stream cancel and pause, and
 * Retry on every new connection (seen on the wire through a tiny UDP relay
 * in this file, since the API has no counter for it).
 *
 * Every case runs under a hard deadline (a libevent timer) and every wait
 * is bounded; timing assertions are at least ~3x the configured value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
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
#define MAXCLI 4
#define KIB 1024u

/* ---- fixture ---- */

struct fx;

struct cli {
	struct fx *f;
	struct transport_client *c;
	int connected, closed, closed_err;
	double connected_at, closed_at;
	char msg[MA_ERRMSG_SIZE];
};

/* Server-side state of one request; freed in on_request_closed. */
struct sreq {
	struct fx *f;
	struct transport_request *req;
	struct event *hold; /* "/hold": second chunk after a delay */
	uint64_t size, off; /* "/big" */
	int waiting;
};

struct fx {
	struct test_pki *pki;
	struct event_base *base;
	struct event *deadline;
	int timed_out;
	struct transport_server *srv;
	uint16_t port;
	struct cli cli[MAXCLI];
	/* server app */
	int requests, inflight, max_inflight, live;
	int req_closed, req_closed_err;
	unsigned writable_calls;
	size_t max_unacked;
	struct sreq *big; /* the current "/big" response */
	unsigned mark;    /* connections before a flood step */
};

struct rx {
	struct fx *f;
	struct transport_stream *s;
	int status, ended, failed;
	uint64_t bytes;
	uint32_t crc;
	char small[64];
	double ended_at;
	/* cancel or pause once this many body bytes arrived (0 = never) */
	uint64_t cancel_at, pause_at;
	int cancelled, paused;
	uint64_t paused_bytes;
	unsigned calls_after_cancel;
};

/* ---- bounded waiting ---- */

typedef int (*pred_fn)(struct fx *f, void *arg);

struct waiter {
	struct fx *f;
	pred_fn pred;
	void *arg;
	double until;
	int met;
};

static void on_poll(evutil_socket_t fd, short what, void *p)
{
	struct waiter *w = p;

	if (w->pred != NULL && w->pred(w->f, w->arg)) {
		w->met = 1;
		event_base_loopbreak(w->f->base);
	} else if (clock_mono_s() >= w->until) {
		event_base_loopbreak(w->f->base);
	}
}

/* Runs the loop until pred holds (1), max_s passed or the case's deadline
 * fired (0). pred NULL: just run for max_s. */
static int run_until(struct fx *f, pred_fn pred, void *arg, double max_s)
{
	struct waiter w = {f, pred, arg, clock_mono_s() + max_s, 0};
	struct timeval tv = {0, 5000};
	struct event *ev;

	if (pred != NULL && pred(f, arg))
		return 1;
	ev = event_new(f->base, -1, EV_PERSIST, on_poll, &w);
	assert_non_null(ev);
	event_add(ev, &tv);
	/* Bounded: each round ends by the poll timer or the deadline. */
	while (!w.met && !f->timed_out && clock_mono_s() < w.until)
		event_base_dispatch(f->base);
	event_free(ev);
	return w.met;
}

static void run_for(struct fx *f, double s)
{
	(void)run_until(f, NULL, NULL, s);
}

static int p_rx_done(struct fx *f, void *arg)
{
	struct rx *rx = arg;

	return rx->ended || rx->failed;
}

/* The client cancelled and the server saw its request closed. */
static int p_cancel_seen(struct fx *f, void *arg)
{
	struct rx *rx = arg;

	return (rx->cancelled && f->req_closed > 0) || rx->ended || rx->failed;
}

static int p_paused(struct fx *f, void *arg)
{
	struct rx *rx = arg;

	return rx->paused || rx->ended || rx->failed;
}

static int p_connected(struct fx *f, void *arg)
{
	struct cli *c = arg;

	return c->connected || c->closed;
}

static int p_closed(struct fx *f, void *arg)
{
	return ((struct cli *)arg)->closed;
}

static int p_srv_conns(struct fx *f, void *arg)
{
	return transport_server_connections(f->srv) == *(unsigned *)arg;
}

/* ---- server app ---- */

static void pump(struct sreq *r)
{
	static uint8_t buf[CHUNK];
	struct fx *f = r->f;

	/* Bounded by the body size; stops at the first MA_ERR_AGAIN. */
	while (r->off < r->size) {
		size_t n = r->size - r->off < CHUNK ? (size_t)(r->size - r->off)
		                                    : CHUNK;
		size_t un;
		int rv;

		fx_body_fill(buf, r->off, n);
		rv = transport_response_write(r->req, buf, n);
		if (rv == MA_ERR_AGAIN) {
			r->waiting = 1;
			return;
		}
		assert_int_equal(rv, 0);
		r->off += n;
		un = transport_response_unacked(r->req);
		if (un > f->max_unacked)
			f->max_unacked = un;
	}
	assert_int_equal(transport_response_end(r->req), 0);
}

static void on_hold(evutil_socket_t fd, short what, void *arg)
{
	struct sreq *r = arg;

	assert_int_equal(transport_response_write(r->req, "second", 6), 0);
	assert_int_equal(transport_response_end(r->req), 0);
}

static void on_request(struct transport_request *req, void *user)
{
	struct fx *f = user;
	const char *path = transport_request_path(req);
	struct sreq *r = calloc(1, sizeof *r);
	unsigned long long n;

	assert_non_null(r);
	r->f = f;
	r->req = req;
	transport_request_set_user(req, r);
	f->requests++;
	f->live++;
	if (++f->inflight > f->max_inflight)
		f->max_inflight = f->inflight;
	if (strcmp(path, "/small") == 0) {
		assert_int_equal(transport_response_start(req, 200, NULL), 0);
		assert_int_equal(transport_response_write(req, "hello", 5), 0);
		assert_int_equal(transport_response_end(req), 0);
		return;
	}
	if (sscanf(path, "/hold?ms=%llu", &n) == 1) {
		struct timeval tv = {(time_t)(n / 1000),
		                     (suseconds_t)(n % 1000 * 1000)};

		assert_int_equal(transport_response_start(req, 200, NULL), 0);
		assert_int_equal(transport_response_write(req, "first;", 6), 0);
		r->hold = evtimer_new(f->base, on_hold, r);
		assert_non_null(r->hold);
		evtimer_add(r->hold, &tv);
		return;
	}
	if (sscanf(path, "/big?size=%llu", &n) == 1) {
		r->size = n;
		f->big = r;
		assert_int_equal(transport_response_start(req, 200, NULL), 0);
		pump(r);
		return;
	}
	assert_int_equal(transport_response_start(req, 404, NULL), 0);
	assert_int_equal(transport_response_end(req), 0);
}

static void on_writable(struct transport_request *req, void *user)
{
	struct fx *f = user;
	struct sreq *r = transport_request_get_user(req);

	assert_non_null(r);
	f->writable_calls++;
	r->waiting = 0;
	pump(r);
}

static void on_request_closed(struct transport_request *req, int error,
                              void *user)
{
	struct fx *f = user;
	struct sreq *r = transport_request_get_user(req);

	f->req_closed++;
	if (error != 0)
		f->req_closed_err++;
	f->inflight--;
	if (r != NULL) {
		if (r->hold != NULL)
			event_free(r->hold);
		if (f->big == r)
			f->big = NULL;
		free(r);
		f->live--;
	}
}

static const struct transport_server_callbacks srv_cb = {
    on_request, on_writable, on_request_closed};

/* ---- client app ---- */

static void on_response(struct transport_stream *s, int status, void *user)
{
	struct rx *rx = user;

	if (rx->cancelled)
		rx->calls_after_cancel++;
	rx->status = status;
}

static void on_body(struct transport_stream *s, const uint8_t *data, size_t len,
                    void *user)
{
	struct rx *rx = user;

	if (rx->cancelled) {
		rx->calls_after_cancel++;
		return;
	}
	if (rx->bytes + len < sizeof rx->small)
		memcpy(rx->small + rx->bytes, data, len);
	rx->crc = crc32c_append(rx->crc, data, len);
	rx->bytes += len;
	if (rx->cancel_at != 0 && rx->bytes >= rx->cancel_at) {
		rx->cancelled = 1;
		transport_stream_cancel(s);
	} else if (rx->pause_at != 0 && !rx->paused &&
	           rx->bytes >= rx->pause_at) {
		rx->paused = 1;
		rx->paused_bytes = rx->bytes;
		transport_stream_pause(s, 1);
	}
}

static void on_end(struct transport_stream *s, void *user)
{
	struct rx *rx = user;

	if (rx->cancelled)
		rx->calls_after_cancel++;
	rx->ended = 1;
	rx->ended_at = clock_mono_s();
}

static void on_error(struct transport_stream *s, int code, const char *msg,
                     void *user)
{
	struct rx *rx = user;

	if (rx->cancelled)
		rx->calls_after_cancel++;
	rx->failed = code != 0 ? code : -1;
}

static const struct transport_stream_callbacks st_cb = {on_response, on_body,
                                                        on_end, on_error};

static void on_connected(struct transport_client *c, void *user)
{
	struct cli *cl = user;

	cl->connected = 1;
	cl->connected_at = clock_mono_s();
}

static void on_closed(struct transport_client *c, int error, const char *msg,
                      void *user)
{
	struct cli *cl = user;

	cl->closed = 1;
	cl->closed_err = error;
	cl->closed_at = clock_mono_s();
	snprintf(cl->msg, sizeof cl->msg, "%s", msg);
}

static const struct transport_client_callbacks cli_cb = {on_connected,
                                                         on_closed};

/* ---- setup helpers ---- */

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct fx *f = arg;

	f->timed_out = 1;
	event_base_loopbreak(f->base);
}

static void fx_init(struct fx *f, struct test_pki *pki, int seconds)
{
	struct timeval tv = {seconds, 0};

	memset(f, 0, sizeof *f);
	f->pki = pki;
	f->base = event_base_new();
	assert_non_null(f->base);
	f->deadline = evtimer_new(f->base, on_deadline, f);
	assert_non_null(f->deadline);
	evtimer_add(f->deadline, &tv);
	for (int i = 0; i < MAXCLI; i++)
		f->cli[i].f = f;
}

static void fx_free(struct fx *f)
{
	for (int i = 0; i < MAXCLI; i++)
		transport_client_free(f->cli[i].c);
	transport_server_free(f->srv);
	assert_int_equal(f->live, 0); /* every request's state was freed */
	event_free(f->deadline);
	event_base_free(f->base);
}

static void server_cfg(struct fx *f, struct transport_server_config *sc)
{
	memset(sc, 0, sizeof *sc);
	sc->cert_file = test_pki_file(f->pki, "server.pem");
	sc->key_file = test_pki_file(f->pki, "server.key");
	sc->client_ca_file = test_pki_file(f->pki, "ca.pem");
}

static void server_start(struct fx *f, const struct transport_server_config *sc)
{
	char errmsg[MA_ERRMSG_SIZE];

	if (transport_server_new(f->base, sc, &srv_cb, f, &f->srv, errmsg) != 0)
		fail_msg("server: %s", errmsg);
	f->port = transport_server_port(f->srv);
}

static void client_cfg(struct fx *f, struct transport_client_config *cc,
                       uint16_t port)
{
	memset(cc, 0, sizeof *cc);
	cc->host = "127.0.0.1";
	cc->port = port;
	cc->server_name = "localhost";
	cc->ca_file = test_pki_file(f->pki, "ca.pem");
	cc->cert_file = test_pki_file(f->pki, "mirror-1.pem");
	cc->key_file = test_pki_file(f->pki, "mirror-1.key");
	cc->handshake_timeout_ms = 3000;
}

static struct cli *client_start(struct fx *f, int i,
                                const struct transport_client_config *cc)
{
	struct cli *cl = &f->cli[i];
	char errmsg[MA_ERRMSG_SIZE];

	transport_client_free(cl->c);
	memset(cl, 0, sizeof *cl);
	cl->f = f;
	if (transport_client_new(f->base, cc, &cli_cb, cl, &cl->c, errmsg) != 0)
		fail_msg("client: %s", errmsg);
	return cl;
}

static void get(struct fx *f, struct cli *cl, const char *path, struct rx *rx)
{
	memset(rx, 0, sizeof *rx);
	rx->f = f;
	assert_int_equal(
	    transport_client_request(cl->c, path, &st_cb, rx, &rx->s), 0);
}

/* GET /small on cl and check the answer. */
static void get_small_ok(struct fx *f, struct cli *cl)
{
	struct rx rx;

	get(f, cl, "/small", &rx);
	assert_true(run_until(f, p_rx_done, &rx, 5));
	assert_true(rx.ended);
	assert_int_equal(rx.status, 200);
	assert_int_equal(rx.bytes, 5);
	assert_memory_equal(rx.small, "hello", 5);
}

/* ---- a UDP relay that counts what the server sends ----
 * One client at a time: replies go to the last address the front socket
 * heard from. */

struct proxy {
	int front, back;
	struct event *evf, *evb;
	struct sockaddr_storage cli;
	socklen_t clilen;
	int have_cli, drop_s2c;
	unsigned retries, shorts, dropped;
	uint16_t port;
};

static uint8_t pbuf[65536];

static void on_front(evutil_socket_t fd, short what, void *arg)
{
	struct proxy *p = arg;

	for (int i = 0; i < 64; i++) {
		p->clilen = sizeof p->cli;
		ssize_t n = recvfrom(p->front, pbuf, sizeof pbuf, 0,
		                     (struct sockaddr *)&p->cli, &p->clilen);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			continue;
		}
		p->have_cli = 1;
		(void)send(p->back, pbuf, (size_t)n, 0);
	}
}

static void on_back(evutil_socket_t fd, short what, void *arg)
{
	struct proxy *p = arg;

	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(p->back, pbuf, sizeof pbuf, 0);

		if (n < 0) {
			/* ECONNREFUSED: nobody on the server port (restart) */
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			continue;
		}
		if (n >= 5 && (pbuf[0] & 0x80) != 0) {
			uint32_t v = (uint32_t)pbuf[1] << 24 |
			             (uint32_t)pbuf[2] << 16 |
			             (uint32_t)pbuf[3] << 8 | pbuf[4];

			/* QUIC v1 long header, type 3 = Retry */
			if (v == 1 && ((pbuf[0] & 0x30) >> 4) == 3)
				p->retries++;
		} else if (n >= 1) {
			p->shorts++;
		}
		if (p->drop_s2c || !p->have_cli) {
			p->dropped++;
			continue;
		}
		(void)sendto(p->front, pbuf, (size_t)n, 0,
		             (struct sockaddr *)&p->cli, p->clilen);
	}
}

static void proxy_start(struct proxy *p, struct fx *f, uint16_t server_port)
{
	struct sockaddr_in a = {0};
	socklen_t alen = sizeof a;

	memset(p, 0, sizeof *p);
	p->front = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	p->back = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(p->front >= 0 && p->back >= 0);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(p->front, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(p->front, (struct sockaddr *)&a, &alen),
	                 0);
	p->port = ntohs(a.sin_port);
	a.sin_port = htons(server_port);
	assert_int_equal(connect(p->back, (struct sockaddr *)&a, sizeof a), 0);
	p->evf =
	    event_new(f->base, p->front, EV_READ | EV_PERSIST, on_front, p);
	p->evb = event_new(f->base, p->back, EV_READ | EV_PERSIST, on_back, p);
	assert_true(p->evf != NULL && p->evb != NULL);
	event_add(p->evf, NULL);
	event_add(p->evb, NULL);
}

static void proxy_stop(struct proxy *p)
{
	event_free(p->evf);
	event_free(p->evb);
	close(p->front);
	close(p->back);
}

/* ---- tests ---- */

static int p_flood_step(struct fx *f, void *arg)
{
	struct cli *a = arg;

	/* The server took the handshake (then it is left unfinished) or
	 * refused it. */
	return a->closed || transport_server_connections(f->srv) > f->mark;
}

/* 1. Idle timeout: nothing sent for longer than the idle timeout (and
 * keep-alive longer than it) closes both ends. */
static void test_idle_timeout(void **state)
{
	struct transport_server_config sc;
	struct transport_client_config cc;
	struct fx f;
	struct cli *a;
	unsigned zero = 0;
	double idle;

	fx_init(&f, *state, 10);
	server_cfg(&f, &sc);
	sc.tuning.idle_timeout_ms = 300;
	server_start(&f, &sc);
	client_cfg(&f, &cc, f.port);
	cc.tuning.idle_timeout_ms = 300;
	cc.keepalive_ms = 10000;
	a = client_start(&f, 0, &cc);
	get_small_ok(&f, a);
	assert_true(a->connected);
	assert_int_equal(transport_server_connections(f.srv), 1);
	{
		double t0 = clock_mono_s();

		assert_true(run_until(&f, p_closed, a, 4));
		idle = a->closed_at - t0;
	}
	assert_int_equal(a->closed_err, MA_ERR_TRANSPORT);
	assert_non_null(strstr(a->msg, "idle"));
	/* Not before the idle timeout; well within 3x it plus slack. */
	assert_true(idle >= 0.2);
	assert_true(idle < 2.0);
	assert_true(run_until(&f, p_srv_conns, &zero, 3));
	printf("# client closed %.0f ms after the last response: %s\n",
	       idle * 1000, a->msg);
	assert_false(f.timed_out);
	fx_free(&f);
}

/* 2. Keep-alive: PINGs every 100 ms keep a 500 ms idle timeout from
 * firing while a response is silent for 2 s. */
static void test_keepalive(void **state)
{
	struct transport_server_config sc;
	struct transport_client_config cc;
	struct fx f;
	struct cli *a;
	struct rx rx;
	double t0;

	fx_init(&f, *state, 10);
	server_cfg(&f, &sc);
	sc.tuning.idle_timeout_ms = 500;
	server_start(&f, &sc);
	client_cfg(&f, &cc, f.port);
	cc.tuning.idle_timeout_ms = 500;
	cc.keepalive_ms = 100;
	a = client_start(&f, 0, &cc);
	t0 = clock_mono_s();
	get(&f, a, "/hold?ms=2000", &rx);
	assert_true(run_until(&f, p_rx_done, &rx, 8));
	assert_false(a->closed);
	assert_true(rx.ended);
	assert_int_equal(rx.bytes, 12);
	assert_memory_equal(rx.small, "first;second", 12);
	assert_true(rx.ended_at - t0 >= 1.9);
	assert_int_equal(transport_server_connections(f.srv), 1);
	/* Still usable afterwards. */
	get_small_ok(&f, a);
	assert_false(a->closed);
	assert_false(f.timed_out);
	fx_free(&f);
}

/* 3. Handshake timeout: a UDP port that swallows everything. */
static void test_handshake_timeout(void **state)
{
	struct transport_client_config cc;
	struct sockaddr_in sa = {0};
	socklen_t salen = sizeof sa;
	struct fx f;
	struct cli *a;
	struct rx rx;
	double t0, dt;
	int fd;

	fx_init(&f, *state, 10);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &salen), 0);
	client_cfg(&f, &cc, ntohs(sa.sin_port));
	cc.handshake_timeout_ms = 500;
	t0 = clock_mono_s();
	a = client_start(&f, 0, &cc);
	get(&f, a, "/small", &rx);
	assert_true(run_until(&f, p_closed, a, 5));
	dt = a->closed_at - t0;
	printf("# closed after %.0f ms: %s\n", dt * 1000, a->msg);
	assert_false(a->connected);
	assert_int_equal(a->closed_err, MA_ERR_TRANSPORT);
	assert_non_null(strstr(a->msg, "handshake timed out"));
	assert_true(dt >= 0.45);
	assert_true(dt < 2.0);
	assert_int_equal(rx.failed, MA_ERR_TRANSPORT);
	assert_false(rx.ended);
	close(fd);
	assert_false(f.timed_out);
	fx_free(&f);
}

/* 4. Connection limit: the third client is refused while two work; once
 * one is gone (after the server's draining period) a new one gets in. */
static void test_connection_limit(void **state)
{
	struct transport_server_config sc;
	struct transport_client_config cc;
	struct fx f;
	struct cli *a, *b, *c, *d;
	unsigned one = 1;

	fx_init(&f, *state, 15);
	server_cfg(&f, &sc);
	sc.max_connections = 2;
	server_start(&f, &sc);
	client_cfg(&f, &cc, f.port);
	a = client_start(&f, 0, &cc);
	b = client_start(&f, 1, &cc);
	assert_true(run_until(&f, p_connected, a, 5));
	assert_true(run_until(&f, p_connected, b, 5));
	assert_true(a->connected && b->connected);
	assert_int_equal(transport_server_connections(f.srv), 2);

	c = client_start(&f, 2, &cc);
	assert_true(run_until(&f, p_closed, c, 5));
	assert_false(c->connected);
	printf("# third client refused (%s): %s\n", ma_strerror(c->closed_err),
	       c->msg);
	assert_int_equal(c->closed_err, MA_ERR_TRANSPORT);
	assert_non_null(strstr(c->msg, "refused"));
	assert_int_equal(transport_server_connections(f.srv), 2);

	/* The first two keep working. */
	get_small_ok(&f, a);
	get_small_ok(&f, b);
	assert_false(a->closed || b->closed);

	/* One leaves; its slot frees after the server's draining period. */
	transport_client_close(a->c);
	assert_true(run_until(&f, p_closed, a, 5));
	assert_int_equal(a->closed_err, 0);
	assert_true(run_until(&f, p_srv_conns, &one, 5));
	d = client_start(&f, 3, &cc);
	assert_true(run_until(&f, p_connected, d, 5));
	assert_true(d->connected);
	get_small_ok(&f, d);
	get_small_ok(&f, b);
	assert_int_equal(transport_server_connections(f.srv), 2);
	assert_false(f.timed_out);
	fx_free(&f);
}

/* 4b. Two handshakes pass Initial together with one slot left: the one
 * that completes second is refused at completion. That refusal is the
 * max_connections limit, not a TLS failure, in the counters. */
static int p_one_closed(struct fx *f, void *arg)
{
	struct cli **ab = arg;

	(void)f;
	return ab[0]->closed || ab[1]->closed;
}

static void test_connection_limit_at_completion(void **state)
{
	struct transport_server_config sc;
	struct transport_client_config cc;
	struct transport_server_refusals r;
	struct fx f;
	struct cli *ab[2], *won, *lost;

	fx_init(&f, *state, 15);
	server_cfg(&f, &sc);
	sc.max_connections = 1;
	server_start(&f, &sc);
	client_cfg(&f, &cc, f.port);
	/* Both Initials are sent before the loop runs, so both pass the
	 * Initial check (no connection established yet). */
	ab[0] = client_start(&f, 0, &cc);
	ab[1] = client_start(&f, 1, &cc);
	assert_true(run_until(&f, p_one_closed, ab, 5));
	won = ab[0]->closed ? ab[1] : ab[0];
	assert_true(run_until(&f, p_connected, won, 5));
	get_small_ok(&f, won);
	assert_false(won->closed);
	transport_server_refusal_stats(f.srv, &r);
	printf("# refusals: max_connections %" PRIu64 ", tls %" PRIu64
	       ", handshake_failed %" PRIu64 "\n",
	       r.max_connections, r.tls, r.handshake_other);
	assert_int_equal(r.max_connections, 1);
	assert_int_equal(r.tls, 0);
	assert_int_equal(r.handshake_other, 0);
	assert_int_equal(r.max_handshakes, 0);
	assert_int_equal(r.max_handshakes_per_addr, 0);
	/* The loser is told CONNECTION_REFUSED, a transport error. */
	lost = won == ab[0] ? ab[1] : ab[0];
	printf("# refused client (%s): %s\n", ma_strerror(lost->closed_err),
	       lost->msg);
	assert_int_equal(lost->closed_err, MA_ERR_TRANSPORT);
	assert_false(f.timed_out);
	fx_free(&f);
}

/* 5. Stream limit: max_streams 2 per connection; transport.h says
 * requests are queued until the peer's stream limit allows, so all five
 * complete, never more than two at once on the server. */
static void test_stream_limit_queues(void **state)
{
	struct transport_server_config sc;
	struct transport_client_config cc;
	struct fx f;
	struct cli *a;
	struct rx rx[5];
	int done;

	fx_init(&f, *state, 15);
	server_cfg(&f, &sc);
	sc.max_streams = 2;
	server_start(&f, &sc);
	client_cfg(&f, &cc, f.port);
	a = client_start(&f, 0, &cc);
	for (int i = 0; i < 5; i++)
		get(&f, a, "/hold?ms=150", &rx[i]);
	for (int i = 0; i < 5; i++)
		assert_true(run_until(&f, p_rx_done, &rx[i], 8));
	done = 0;
	for (int i = 0; i < 5; i++) {
		assert_true(rx[i].ended);
		assert_int_equal(rx[i].status, 200);
		assert_memory_equal(rx[i].small, "first;second", 12);
		done++;
	}
	printf("# %d responses, at most %d requests open at once\n", done,
	       f.max_inflight);
	assert_int_equal(f.requests, 5);
	assert_int_equal(f.max_inflight, 2);
	assert_false(a->closed);
	assert_int_equal(transport_server_connections(f.srv), 1);
	assert_false(f.timed_out);
	fx_free(&f);
}

/* 6. Server restart on the same port: the old client's packets reach a
 * server that does not know their connection. It answers with stateless
 * resets (counted on the wire) made with the same key-derived secret, so
 * the client accepts one and closes at once. A new client then works. The
 * old server's CONNECTION_CLOSE is dropped by the relay, as if it had
 * crashed. */
static void test_server_restart(void **state)
{
	struct transport_server_config sc;
	struct transport_client_config cc;
	struct proxy p;
	struct fx f;
	struct cli *a, *b;
	struct rx rx;
	unsigned zero = 0, resets;
	double t0, dt;

	fx_init(&f, *state, 15);
	server_cfg(&f, &sc);
	sc.tuning.idle_timeout_ms = 1000;
	server_start(&f, &sc);
	proxy_start(&p, &f, f.port);
	client_cfg(&f, &cc, p.port);
	cc.tuning.idle_timeout_ms = 1000;
	cc.keepalive_ms = 10000;
	a = client_start(&f, 0, &cc);
	get_small_ok(&f, a);

	/* "Crash": the CONNECTION_CLOSE never reaches the client. */
	p.drop_s2c = 1;
	sc.port = f.port;
	transport_server_free(f.srv);
	f.srv = NULL;
	run_for(&f, 0.1);
	assert_true(p.dropped >= 1);
	assert_false(a->closed);
	p.drop_s2c = 0;
	resets = p.shorts;
	server_start(&f, &sc);
	assert_int_equal(f.port, sc.port);

	t0 = clock_mono_s();
	get(&f, a, "/small", &rx);
	assert_true(run_until(&f, p_closed, a, 6));
	dt = a->closed_at - t0;
	resets = p.shorts - resets;
	printf("# old client closed after %.0f ms (%u short-header packets "
	       "from the new server): %s\n",
	       dt * 1000, resets, a->msg);
	assert_int_equal(a->closed_err, MA_ERR_TRANSPORT);
	assert_true(rx.failed != 0);
	assert_false(rx.ended);
	/* The restarted server derives the same reset secret from its key,
	 * so the client accepts its stateless reset at once: well before
	 * its own 1 s idle timeout, and not reported as an idle timeout. */
	assert_true(dt < 0.9);
	assert_null(strstr(a->msg, "idle"));
	/* The new server answered the unknown connection with resets and
	 * kept no state for it. */
	assert_true(resets >= 1);
	assert_true(run_until(&f, p_srv_conns, &zero, 1));
	assert_int_equal(f.requests, 1);

	/* A new client connects fine. */
	client_cfg(&f, &cc, f.port);
	b = client_start(&f, 1, &cc);
	get_small_ok(&f, b);
	assert_true(b->connected);
	assert_int_equal(f.requests, 2);
	proxy_stop(&p);
	assert_false(f.timed_out);
	fx_free(&f);
}

/* 7a. Cancel mid-body: the server sees the request closed with an error
 * and frees it; no more client callbacks; the connection stays usable. */
static void test_stream_cancel(void **state)
{
	struct transport_server_config sc;
	struct transport_client_config cc;
	struct fx f;
	struct cli *a;
	struct rx rx;
	unsigned one = 1;
	char path[64];

	fx_init(&f, *state, 15);
	server_cfg(&f, &sc);
	sc.max_unacked = 256 * KIB;
	server_start(&f, &sc);
	client_cfg(&f, &cc, f.port);
	a = client_start(&f, 0, &cc);
	snprintf(path, sizeof path, "/big?size=%u", 64u << 20);
	get(&f, a, path, &rx);
	rx.cancel_at = 512 * KIB;
	assert_true(run_until(&f, p_cancel_seen, &rx, 5));
	assert_true(rx.cancelled);
	assert_int_equal(f.req_closed, 1);
	assert_int_equal(f.req_closed_err, 1);
	assert_int_equal(f.live, 0);
	assert_null(f.big);
	/* Let anything still in flight arrive: no callbacks for it. */
	run_for(&f, 0.2);
	assert_int_equal(rx.calls_after_cancel, 0);
	assert_false(rx.ended);
	assert_false(rx.failed);
	printf("# cancelled after %llu bytes; server closed the request with "
	       "an error\n",
	       (unsigned long long)rx.bytes);
	get_small_ok(&f, a);
	assert_false(a->closed);
	assert_true(run_until(&f, p_srv_conns, &one, 1));
	assert_false(f.timed_out);
	fx_free(&f);
}

/* 7b. Pause for 1 s: the client withholds credit, the server fills its
 * unacked cap and stops (no on_writable while paused); after resuming the
 * whole body arrives intact. */
static void test_stream_pause(void **state)
{
	const uint64_t size = 4u << 20;
	const size_t cap = 256 * KIB;
	const uint64_t win = 256 * KIB;
	struct transport_server_config sc;
	struct transport_client_config cc;
	struct fx f;
	struct cli *a;
	struct rx rx;
	char path[64];
	uint64_t bytes1;
	unsigned wr1;
	size_t un;

	fx_init(&f, *state, 20);
	server_cfg(&f, &sc);
	sc.max_unacked = cap;
	server_start(&f, &sc);
	client_cfg(&f, &cc, f.port);
	cc.tuning.max_stream_data = win;
	cc.tuning.max_data = 4 * win;
	a = client_start(&f, 0, &cc);
	snprintf(path, sizeof path, "/big?size=%llu", (unsigned long long)size);
	get(&f, a, path, &rx);
	rx.pause_at = 512 * KIB;
	assert_true(run_until(&f, p_paused, &rx, 5));
	assert_true(rx.paused);
	/* Settle: what was in flight within the window arrives. */
	run_for(&f, 0.3);
	bytes1 = rx.bytes;
	wr1 = f.writable_calls;
	assert_non_null(f.big);
	run_for(&f, 0.7);
	un = transport_response_unacked(f.big->req);
	printf("# paused at %llu bytes; %llu received while paused; server "
	       "waiting with %zu unacked (cap %zu), %u on_writable calls\n",
	       (unsigned long long)rx.paused_bytes,
	       (unsigned long long)(rx.bytes - rx.paused_bytes), un, cap,
	       f.writable_calls);
	assert_int_equal(rx.bytes, bytes1);
	assert_true(rx.bytes - rx.paused_bytes <= win);
	assert_int_equal(f.writable_calls, wr1);
	assert_true(f.big->waiting);
	assert_true(un + CHUNK > cap);
	assert_true(un <= cap);
	assert_false(rx.ended);

	transport_stream_pause(rx.s, 0);
	assert_true(run_until(&f, p_rx_done, &rx, 10));
	assert_true(rx.ended);
	assert_int_equal(rx.bytes, size);
	assert_int_equal(rx.crc, fx_body_crc(size));
	assert_true(f.max_unacked <= cap);
	assert_false(a->closed);
	assert_false(f.timed_out);
	fx_free(&f);
}

/* 7c. Credit withheld by a paused stream must not be lost when the stream
 * goes away while paused (cancelled, or ended because the rest of the body
 * fit the window): the connection window is shared, so otherwise it
 * shrinks for good and later streams stall. Connection window = stream
 * window here, so one lost window stalls the connection. */
static void test_pause_then_gone_returns_credit(void **state)
{
	const uint64_t win = 256 * KIB;
	struct transport_server_config sc;
	struct transport_client_config cc;
	struct fx f;
	struct cli *a;
	struct rx rx;
	char path[64];

	fx_init(&f, *state, 20);
	server_cfg(&f, &sc);
	sc.max_unacked = 256 * KIB;
	server_start(&f, &sc);
	client_cfg(&f, &cc, f.port);
	cc.tuning.max_stream_data = win;
	cc.tuning.max_data = win;
	a = client_start(&f, 0, &cc);

	/* Paused with a window's worth withheld, then cancelled. */
	snprintf(path, sizeof path, "/big?size=%u", 4u << 20);
	get(&f, a, path, &rx);
	rx.pause_at = 64 * KIB;
	assert_true(run_until(&f, p_paused, &rx, 5));
	run_for(&f, 0.3);
	printf("# cancel while paused: %llu bytes withheld\n",
	       (unsigned long long)(rx.bytes - rx.paused_bytes));
	rx.cancelled = 1;
	transport_stream_cancel(rx.s);

	/* Paused 32 KiB before the end: the rest, plus the chunk that
	 * crossed the pause point (one datagram, < 64 KiB) which is withheld
	 * too, always fits the credit the server still has (ngtcp2
	 * re-advertises once half the window is consumed, so the peer keeps
	 * at least half of it). Each stream ends paused and is freed with
	 * over 32 KiB withheld; eight of them exceed the connection window
	 * if that credit were lost. */
	for (int i = 0; i < 8; i++) {
		snprintf(path, sizeof path, "/big?size=%u", 256 * KIB);
		get(&f, a, path, &rx);
		rx.pause_at = 256 * KIB - 32 * KIB;
		assert_true(run_until(&f, p_rx_done, &rx, 5));
		assert_true(rx.ended);
		assert_true(rx.paused);
		assert_int_equal(rx.bytes, 256 * KIB);
		assert_int_equal(rx.crc, fx_body_crc(256 * KIB));
	}

	/* The connection still moves data. */
	snprintf(path, sizeof path, "/big?size=%u", 1u << 20);
	get(&f, a, path, &rx);
	assert_true(run_until(&f, p_rx_done, &rx, 5));
	assert_true(rx.ended);
	assert_int_equal(rx.crc, fx_body_crc(1u << 20));
	assert_false(a->closed);
	assert_false(f.timed_out);
	fx_free(&f);
}

/* 8. Retry: every new connection is sent a Retry first (address
 * validation). The API has no counter; the relay sees them on the wire. */
static void test_retry_every_connection(void **state)
{
	struct transport_server_config sc;
	struct transport_client_config cc;
	struct proxy p;
	struct fx f;
	struct cli *a;
	unsigned before;

	fx_init(&f, *state, 15);
	server_cfg(&f, &sc);
	server_start(&f, &sc);
	proxy_start(&p, &f, f.port);
	client_cfg(&f, &cc, p.port);
	for (int i = 0; i < 3; i++) {
		before = p.retries;
		a = client_start(&f, 0, &cc);
		assert_true(run_until(&f, p_connected, a, 5));
		assert_true(a->connected);
		get_small_ok(&f, a);
		assert_true(p.retries >= before + 1);
		transport_client_close(a->c);
		assert_true(run_until(&f, p_closed, a, 5));
		assert_int_equal(a->closed_err, 0);
	}
	printf("# %u Retry packets for 3 connections\n", p.retries);
	assert_int_equal(f.requests, 3);
	proxy_stop(&p);
	assert_false(f.timed_out);
	fx_free(&f);
}

/* 11. Handshake flood: 1,000 clients without a certificate, from
 * 127.0.0.2, each left unfinished as soon as the server has taken its
 * handshake (the client vanishes without a word, so the server would hold
 * it until its handshake timeout), while a mirror on 127.0.0.1 connects
 * afresh and fetches 1 MiB after every 100 of them. Handshakes count
 * apart from established connections, at most 4 from one address and 16
 * in all, so the mirror always gets in. Before, every one of the 64
 * connection slots counted handshakes and the mirror was refused for the
 * server's 10 s handshake timeout. */
static void test_handshake_flood(void **state)
{
	struct transport_server_config sc;
	struct transport_client_config mc, ac;
	struct fx f;
	unsigned max_hs = 0, refused = 0;
	double t0 = clock_mono_s();
	int s;
	struct sockaddr_in a2 = {.sin_family = AF_INET};

	/* 127.0.0.2 is loopback on Linux; skip where it cannot be bound. */
	s = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(s >= 0);
	a2.sin_addr.s_addr = htonl(0x7f000002);
	if (bind(s, (struct sockaddr *)&a2, sizeof a2) != 0) {
		close(s);
		print_message("# cannot bind 127.0.0.2: skipped\n");
		skip();
	}
	close(s);

	fx_init(&f, *state, 120);
	server_cfg(&f, &sc);
	server_start(&f, &sc);
	client_cfg(&f, &mc, f.port);
	client_cfg(&f, &ac, f.port);
	ac.cert_file = ac.key_file = NULL;
	ac.local_addr = "127.0.0.2";
	for (int round = 0; round < 10; round++) {
		struct cli *m;
		struct rx rx;

		for (int i = 0; i < 100; i++) {
			struct cli *at;

			f.mark = transport_server_connections(f.srv);
			at = client_start(&f, 1, &ac);
			assert_true(run_until(&f, p_flood_step, at, 2));
			if (at->closed)
				refused++;
			assert_false(at->connected);
			transport_client_free(at->c);
			at->c = NULL;
			if (transport_server_handshakes(f.srv) > max_hs)
				max_hs = transport_server_handshakes(f.srv);
		}
		/* The mirror reconnects and bootstraps. */
		m = client_start(&f, 0, &mc);
		assert_true(run_until(&f, p_connected, m, 5));
		if (!m->connected)
			fail_msg("mirror refused after %d flood handshakes: %s",
			         (round + 1) * 100, m->msg);
		get(&f, m, "/big?size=1048576", &rx);
		assert_true(run_until(&f, p_rx_done, &rx, 10));
		assert_true(rx.ended);
		assert_int_equal(rx.bytes, 1048576);
		assert_int_equal(rx.crc, fx_body_crc(1048576));
		transport_client_close(m->c);
		assert_true(run_until(&f, p_closed, m, 5));
	}
	printf("# 1000 unfinished handshakes from 127.0.0.2 (%u refused at "
	       "once), at most %u in progress; the mirror got in 10 times "
	       "in %.1f s\n",
	       refused, max_hs, clock_mono_s() - t0);
	assert_true(max_hs <= 4); /* the per-address share */
	assert_false(f.timed_out);
	fx_free(&f);
}

/* 12. Nothing listens on the port: the kernel's ICMP port unreachable
 * ends the attempt at once with a message that says so, rather than the
 * handshake timeout's "no answer". */
static void test_nothing_listens(void **state)
{
	struct transport_client_config cc;
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof a;
	char want[64];
	struct fx f;
	struct cli *c;
	double t0;
	int s;

	/* A port nobody listens on: bind one, note it, close it. */
	s = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(s >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);
	close(s);

	fx_init(&f, *state, 15);
	client_cfg(&f, &cc, ntohs(a.sin_port));
	cc.handshake_timeout_ms = 5000;
	t0 = clock_mono_s();
	c = client_start(&f, 0, &cc);
	assert_true(run_until(&f, p_closed, c, 8));
	printf("# closed after %.0f ms: %s\n", (clock_mono_s() - t0) * 1000,
	       c->msg);
	snprintf(want, sizeof want, "nothing listens on UDP 127.0.0.1:%u",
	         ntohs(a.sin_port));
	assert_non_null(strstr(c->msg, want));
	assert_int_equal(c->closed_err, MA_ERR_TRANSPORT);
	assert_true(clock_mono_s() - t0 < 2.0); /* not the 5 s timeout */
	assert_false(c->connected);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_idle_timeout),
	    cmocka_unit_test(test_keepalive),
	    cmocka_unit_test(test_handshake_timeout),
	    cmocka_unit_test(test_connection_limit),
	    cmocka_unit_test(test_connection_limit_at_completion),
	    cmocka_unit_test(test_stream_limit_queues),
	    cmocka_unit_test(test_server_restart),
	    cmocka_unit_test(test_stream_cancel),
	    cmocka_unit_test(test_stream_pause),
	    cmocka_unit_test(test_pause_then_gone_returns_credit),
	    cmocka_unit_test(test_retry_every_connection),
	    cmocka_unit_test(test_handshake_flood),
	    cmocka_unit_test(test_nothing_listens),
	};

	return cmocka_run_group_tests(tests, fx_pki_setup, fx_pki_teardown);
}
