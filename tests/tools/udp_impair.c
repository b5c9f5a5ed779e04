/* udp_impair: a userspace UDP relay that impairs the path like netem, for
 * system tests on kernels without sch_netem.
 *
 *   udp_impair --listen ADDR:PORT --forward ADDR:PORT [--delay-ms D]
 *              [--jitter-ms J] [--loss PCT] [--reorder PCT]
 *              [--duplicate PCT] [--rate-mbit R] [--seed S]
 *              [--port-file F] [--stats-file F]
 *
 * ADDR is an IPv4 address or a bracketed IPv6 one ("[::1]:4433"); PORT 0
 * on --listen picks one, written to --port-file. Each client address seen
 * on the listen socket gets its own upstream socket connected to the
 * forward address, so the server's replies go back to that client.
 *
 * Every datagram, in either direction and independently: is dropped with
 * probability --loss; otherwise is sent once more with probability
 * --duplicate; goes through a --rate-mbit bottleneck (a FIFO, drop-tail
 * beyond QUEUE_MAX_PACKETS or QUEUE_MAX_BYTES); then waits D ± J ms
 * (uniform) before it is sent on, or no time at all with probability
 * --reorder. Jitter alone reorders, as on a real path. Each direction draws
 * from its own splitmix64 stream seeded from --seed, so the same input
 * sequence gets the same decisions whatever the other direction does.
 *
 * Memory is bounded: at most MAX_FLOWS clients (the least recently active
 * one is evicted) and at most LINE_MAX_PACKETS / LINE_MAX_BYTES datagrams
 * in flight on the delay line (more are dropped and counted). SIGTERM or
 * SIGINT ends it cleanly; it then writes per-direction counters, one
 * "name value" line each, to --stats-file (c2s = client to server). */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"

#define MAX_FLOWS 64
#define QUEUE_MAX_PACKETS 1000
#define QUEUE_MAX_BYTES (4u << 20)
#define LINE_MAX_PACKETS 65536
#define LINE_MAX_BYTES (64u << 20)
#define DGRAM_MAX 65536
/* Datagrams read per socket per wakeup, so one busy direction cannot starve
 * the timer or the other direction. */
#define READ_BATCH 64
#define SOCK_BUF (8 << 20)

enum { C2S, S2C, NDIR };
static const char *const dir_name[NDIR] = {"c2s", "s2c"};

struct counters {
	uint64_t received;
	uint64_t forwarded; /* datagrams sent on, duplicates included */
	uint64_t bytes_forwarded;
	uint64_t dropped_loss;
	uint64_t dropped_queue; /* rate queue full (drop-tail) */
	uint64_t dropped_line;  /* delay line full */
	uint64_t dropped_stale; /* flow evicted while the datagram waited */
	uint64_t send_errors;
	uint64_t duplicated;
	uint64_t reordered;
	uint64_t delayed; /* released later than it arrived (> 0 ms) */
};

struct flow {
	bool used;
	uint32_t gen;
	struct sockaddr_storage client;
	socklen_t client_len;
	int up_fd;
	struct event *up_ev;
	uint64_t last_us;
};

struct packet {
	uint64_t release_us;
	uint64_t seq; /* ties keep arrival order */
	int dir;
	int flow;
	uint32_t gen;
	size_t len;
	unsigned char data[];
};

/* The bottleneck of one direction: departure times of the datagrams still
 * queued (a ring), and when the link is next free. */
struct rate_queue {
	uint64_t done_us[QUEUE_MAX_PACKETS];
	size_t len_of[QUEUE_MAX_PACKETS];
	size_t head, count, bytes;
	uint64_t free_us;
};

struct relay {
	struct event_base *base;
	int listen_fd;
	struct event *listen_ev;
	struct event *timer;
	struct event *sigterm, *sigint;
	struct sockaddr_storage fwd;
	socklen_t fwd_len;
	struct flow flows[MAX_FLOWS];
	struct packet **heap;
	size_t heap_n;
	size_t line_bytes;
	uint64_t seq;
	uint64_t rng[NDIR];
	struct rate_queue rq[NDIR];
	struct counters c[NDIR];
	uint64_t flows_evicted;
	/* options */
	double delay_ms, jitter_ms, loss, reorder, duplicate, rate_mbit;
	unsigned char buf[DGRAM_MAX];
};

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double uniform(struct relay *r, int dir)
{
	return (double)(splitmix64(&r->rng[dir]) >> 11) *
	       (1.0 / 9007199254740992.0);
}

static bool chance(struct relay *r, int dir, double pct)
{
	/* Always draw, so the stream position does not depend on the options
	 * that are zero. */
	double u = uniform(r, dir);

	return pct > 0 && u * 100.0 < pct;
}

/* heap of packets ordered by (release_us, seq) */
static bool pkt_before(const struct packet *a, const struct packet *b)
{
	return a->release_us < b->release_us ||
	       (a->release_us == b->release_us && a->seq < b->seq);
}

static void heap_push(struct relay *r, struct packet *p)
{
	size_t i = r->heap_n++;

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!pkt_before(p, r->heap[parent]))
			break;
		r->heap[i] = r->heap[parent];
		i = parent;
	}
	r->heap[i] = p;
}

static struct packet *heap_pop(struct relay *r)
{
	struct packet *top = r->heap[0];
	struct packet *last = r->heap[--r->heap_n];
	size_t i = 0;

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= r->heap_n)
			break;
		if (child + 1 < r->heap_n &&
		    pkt_before(r->heap[child + 1], r->heap[child]))
			child++;
		if (!pkt_before(r->heap[child], last))
			break;
		r->heap[i] = r->heap[child];
		i = child;
	}
	if (r->heap_n > 0)
		r->heap[i] = last;
	return top;
}

static void arm_timer(struct relay *r, uint64_t now)
{
	struct timeval tv = {0, 0};

	if (r->heap_n == 0) {
		evtimer_del(r->timer);
		return;
	}
	if (r->heap[0]->release_us > now) {
		uint64_t d = r->heap[0]->release_us - now;

		tv.tv_sec = (time_t)(d / 1000000u);
		tv.tv_usec = (suseconds_t)(d % 1000000u);
	}
	evtimer_add(r->timer, &tv);
}

/* Passes one copy of a datagram through the bottleneck and onto the delay
 * line. */
static void enqueue(struct relay *r, int dir, int fi, const unsigned char *data,
                    size_t len, uint64_t now)
{
	struct counters *c = &r->c[dir];
	uint64_t depart = now;
	struct packet *p;

	if (r->rate_mbit > 0) {
		struct rate_queue *q = &r->rq[dir];
		uint64_t tx_us;

		while (q->count > 0 && q->done_us[q->head] <= now) {
			q->bytes -= q->len_of[q->head];
			q->head = (q->head + 1) % QUEUE_MAX_PACKETS;
			q->count--;
		}
		if (q->count >= QUEUE_MAX_PACKETS ||
		    q->bytes + len > QUEUE_MAX_BYTES) {
			c->dropped_queue++;
			return;
		}
		tx_us = (uint64_t)((double)len * 8.0 / r->rate_mbit);
		if (q->free_us < now)
			q->free_us = now;
		q->free_us += tx_us;
		depart = q->free_us;
		size_t tail = (q->head + q->count) % QUEUE_MAX_PACKETS;
		q->done_us[tail] = depart;
		q->len_of[tail] = len;
		q->count++;
		q->bytes += len;
	}
	/* Draw both numbers every time (stream position stays independent of
	 * the outcome). */
	bool skip_delay = chance(r, dir, r->reorder);
	double j = (uniform(r, dir) * 2.0 - 1.0) * r->jitter_ms;
	double d = skip_delay ? 0 : r->delay_ms + j;
	if (d < 0)
		d = 0;
	if (skip_delay && r->delay_ms + r->jitter_ms > 0)
		c->reordered++;

	if (r->heap_n >= LINE_MAX_PACKETS ||
	    r->line_bytes + len > LINE_MAX_BYTES) {
		c->dropped_line++;
		return;
	}
	p = malloc(sizeof(*p) + len);
	if (p == NULL) {
		c->dropped_line++;
		return;
	}
	p->release_us = depart + (uint64_t)(d * 1000.0);
	p->seq = r->seq++;
	p->dir = dir;
	p->flow = fi;
	p->gen = r->flows[fi].gen;
	p->len = len;
	memcpy(p->data, data, len);
	r->line_bytes += len;
	if (p->release_us > now)
		c->delayed++;
	heap_push(r, p);
}

static void impair(struct relay *r, int dir, int fi, const unsigned char *data,
                   size_t len, uint64_t now)
{
	struct counters *c = &r->c[dir];
	bool drop = chance(r, dir, r->loss);
	bool dup = chance(r, dir, r->duplicate);

	c->received++;
	if (drop) {
		c->dropped_loss++;
		return;
	}
	enqueue(r, dir, fi, data, len, now);
	if (dup) {
		c->duplicated++;
		enqueue(r, dir, fi, data, len, now);
	}
}

static void send_packet(struct relay *r, struct packet *p)
{
	struct counters *c = &r->c[p->dir];
	struct flow *f = &r->flows[p->flow];
	ssize_t n;

	if (!f->used || f->gen != p->gen) {
		c->dropped_stale++;
		return;
	}
	if (p->dir == C2S)
		n = send(f->up_fd, p->data, p->len, MSG_DONTWAIT);
	else
		n = sendto(r->listen_fd, p->data, p->len, MSG_DONTWAIT,
		           (struct sockaddr *)&f->client, f->client_len);
	if (n != (ssize_t)p->len) {
		/* A full socket buffer or an ICMP error (server gone) is a
		 * lost datagram, as on a real path. */
		c->send_errors++;
		return;
	}
	c->forwarded++;
	c->bytes_forwarded += p->len;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct relay *r = arg;
	uint64_t now = clock_mono_us();

	while (r->heap_n > 0 && r->heap[0]->release_us <= now) {
		struct packet *p = heap_pop(r);

		send_packet(r, p);
		r->line_bytes -= p->len;
		free(p);
	}
	arm_timer(r, clock_mono_us());
}

static void on_upstream(evutil_socket_t fd, short what, void *arg);

static void flow_close(struct flow *f)
{
	if (!f->used)
		return;
	event_free(f->up_ev);
	close(f->up_fd);
	f->used = false;
	f->gen++;
}

static void set_bufs(int fd)
{
	int sz = SOCK_BUF;

	/* The FORCE variants pass rmem_max/wmem_max when root; otherwise the
	 * kernel caps the plain ones. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

/* Returns the flow index for a client, creating one (evicting the least
 * recently active flow when the table is full), or -1. */
static int flow_get(struct relay *r, const struct sockaddr_storage *from,
                    socklen_t from_len, uint64_t now)
{
	int free_i = -1, lru = 0;

	for (int i = 0; i < MAX_FLOWS; i++) {
		struct flow *f = &r->flows[i];

		if (!f->used) {
			if (free_i < 0)
				free_i = i;
			continue;
		}
		if (f->client_len == from_len &&
		    memcmp(&f->client, from, from_len) == 0) {
			f->last_us = now;
			return i;
		}
		if (f->last_us < r->flows[lru].last_us || !r->flows[lru].used)
			lru = i;
	}
	if (free_i < 0) {
		flow_close(&r->flows[lru]);
		r->flows_evicted++;
		free_i = lru;
	}
	struct flow *f = &r->flows[free_i];
	int fd = socket(r->fwd.ss_family,
	                SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "udp_impair: socket: %s\n", strerror(errno));
		return -1;
	}
	set_bufs(fd);
	if (connect(fd, (struct sockaddr *)&r->fwd, r->fwd_len) != 0) {
		fprintf(stderr, "udp_impair: connect to forward address: %s\n",
		        strerror(errno));
		close(fd);
		return -1;
	}
	f->up_ev = event_new(r->base, fd, EV_READ | EV_PERSIST, on_upstream, r);
	if (f->up_ev == NULL || event_add(f->up_ev, NULL) != 0) {
		if (f->up_ev != NULL)
			event_free(f->up_ev);
		close(fd);
		return -1;
	}
	f->up_fd = fd;
	f->used = true;
	memcpy(&f->client, from, from_len);
	f->client_len = from_len;
	f->last_us = now;
	return free_i;
}

static void on_listen(evutil_socket_t fd, short what, void *arg)
{
	struct relay *r = arg;

	for (int n = 0; n < READ_BATCH; n++) {
		struct sockaddr_storage from;
		socklen_t from_len = sizeof(from);
		ssize_t len = recvfrom(fd, r->buf, sizeof(r->buf), MSG_DONTWAIT,
		                       (struct sockaddr *)&from, &from_len);
		uint64_t now = clock_mono_us();

		if (len < 0)
			break;
		int fi = flow_get(r, &from, from_len, now);
		if (fi < 0)
			continue;
		impair(r, C2S, fi, r->buf, (size_t)len, now);
	}
	arm_timer(r, clock_mono_us());
}

static void on_upstream(evutil_socket_t fd, short what, void *arg)
{
	struct relay *r = arg;
	int fi = -1;

	for (int i = 0; i < MAX_FLOWS; i++)
		if (r->flows[i].used && r->flows[i].up_fd == fd)
			fi = i;
	if (fi < 0)
		return;
	for (int n = 0; n < READ_BATCH; n++) {
		ssize_t len = recv(fd, r->buf, sizeof(r->buf), MSG_DONTWAIT);
		uint64_t now = clock_mono_us();

		if (len < 0) {
			/* ECONNREFUSED from an earlier send: keep reading. */
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			continue;
		}
		r->flows[fi].last_us = now;
		impair(r, S2C, fi, r->buf, (size_t)len, now);
	}
	arm_timer(r, clock_mono_us());
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct relay *r = arg;

	event_base_loopbreak(r->base);
}

static int write_stats(struct relay *r, const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		fprintf(stderr, "udp_impair: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int d = 0; d < NDIR; d++) {
		const struct counters *c = &r->c[d];
		const char *n = dir_name[d];
		uint64_t dropped = c->dropped_loss + c->dropped_queue +
		                   c->dropped_line + c->dropped_stale +
		                   c->send_errors;

		fprintf(f, "%s_received %" PRIu64 "\n", n, c->received);
		fprintf(f, "%s_forwarded %" PRIu64 "\n", n, c->forwarded);
		fprintf(f, "%s_bytes_forwarded %" PRIu64 "\n", n,
		        c->bytes_forwarded);
		fprintf(f, "%s_dropped %" PRIu64 "\n", n, dropped);
		fprintf(f, "%s_dropped_loss %" PRIu64 "\n", n, c->dropped_loss);
		fprintf(f, "%s_dropped_queue %" PRIu64 "\n", n,
		        c->dropped_queue);
		fprintf(f, "%s_dropped_line %" PRIu64 "\n", n, c->dropped_line);
		fprintf(f, "%s_dropped_stale %" PRIu64 "\n", n,
		        c->dropped_stale);
		fprintf(f, "%s_send_errors %" PRIu64 "\n", n, c->send_errors);
		fprintf(f, "%s_duplicated %" PRIu64 "\n", n, c->duplicated);
		fprintf(f, "%s_reordered %" PRIu64 "\n", n, c->reordered);
		fprintf(f, "%s_delayed %" PRIu64 "\n", n, c->delayed);
	}
	fprintf(f, "flows_evicted %" PRIu64 "\n", r->flows_evicted);
	if (fclose(f) != 0) {
		fprintf(stderr, "udp_impair: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* "a.b.c.d:port" or "[v6]:port" -> sockaddr; 0 or -1. */
static int parse_addr(const char *s, struct sockaddr_storage *ss,
                      socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(s, ':');
	const char *h = s;
	size_t hlen;
	struct addrinfo hints, *res;

	if (colon == NULL)
		return -1;
	hlen = (size_t)(colon - s);
	if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
		h = s + 1;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		return -1;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int parse_num(const char *flag, const char *s, double max, double *out)
{
	char *end;

	errno = 0;
	*out = s != NULL ? strtod(s, &end) : 0;
	if (s == NULL || errno != 0 || end == s || *end != '\0' ||
	    !(*out >= 0) || *out > max) {
		fprintf(stderr, "udp_impair: %s wants a number in [0, %g]\n",
		        flag, max);
		return -1;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: udp_impair --listen ADDR:PORT --forward ADDR:PORT "
	        "[--delay-ms D] [--jitter-ms J] [--loss PCT] [--reorder PCT] "
	        "[--duplicate PCT] [--rate-mbit R] [--seed S] [--port-file F] "
	        "[--stats-file F]\n");
}

int main(int argc, char **argv)
{
	static struct relay relay;
	struct relay *r = &relay;
	const char *listen_s = NULL, *fwd_s = NULL, *port_file = NULL,
	           *stats_file = NULL;
	struct sockaddr_storage lss;
	socklen_t lss_len;
	double seed = 1;
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;

		if (strcmp(a, "--listen") == 0)
			listen_s = v;
		else if (strcmp(a, "--forward") == 0)
			fwd_s = v;
		else if (strcmp(a, "--port-file") == 0)
			port_file = v;
		else if (strcmp(a, "--stats-file") == 0)
			stats_file = v;
		else if (strcmp(a, "--delay-ms") == 0)
			bad = parse_num(a, v, 60000, &r->delay_ms);
		else if (strcmp(a, "--jitter-ms") == 0)
			bad = parse_num(a, v, 60000, &r->jitter_ms);
		else if (strcmp(a, "--loss") == 0)
			bad = parse_num(a, v, 100, &r->loss);
		else if (strcmp(a, "--reorder") == 0)
			bad = parse_num(a, v, 100, &r->reorder);
		else if (strcmp(a, "--duplicate") == 0)
			bad = parse_num(a, v, 100, &r->duplicate);
		else if (strcmp(a, "--rate-mbit") == 0)
			bad = parse_num(a, v, 1e6, &r->rate_mbit);
		else if (strcmp(a, "--seed") == 0)
			bad = parse_num(a, v, 1.8e19, &seed);
		else {
			usage();
			return 2;
		}
		if (bad || v == NULL) {
			usage();
			return 2;
		}
		i++;
	}
	if (listen_s == NULL || fwd_s == NULL) {
		usage();
		return 2;
	}
	if (parse_addr(listen_s, &lss, &lss_len) != 0 ||
	    parse_addr(fwd_s, &r->fwd, &r->fwd_len) != 0) {
		fprintf(stderr,
		        "udp_impair: addresses are IPv4:PORT or [IPv6]:PORT\n");
		return 2;
	}
	for (int d = 0; d < NDIR; d++)
		r->rng[d] = (uint64_t)seed * 2 + (uint64_t)d + 0x5eed;
	r->heap = calloc(LINE_MAX_PACKETS, sizeof(*r->heap));
	if (r->heap == NULL)
		return 1;

	r->listen_fd =
	    socket(lss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->listen_fd < 0 ||
	    bind(r->listen_fd, (struct sockaddr *)&lss, lss_len) != 0) {
		fprintf(stderr, "udp_impair: cannot listen on %s: %s\n",
		        listen_s, strerror(errno));
		return 1;
	}
	set_bufs(r->listen_fd);

	struct event_config *cfg = event_config_new();
	if (cfg != NULL)
		event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	r->base = cfg != NULL ? event_base_new_with_config(cfg) : NULL;
	if (cfg != NULL)
		event_config_free(cfg);
	if (r->base == NULL)
		r->base = event_base_new();
	if (r->base == NULL)
		return 1;
	r->listen_ev = event_new(r->base, r->listen_fd, EV_READ | EV_PERSIST,
	                         on_listen, r);
	r->timer = evtimer_new(r->base, on_timer, r);
	r->sigterm = evsignal_new(r->base, SIGTERM, on_signal, r);
	r->sigint = evsignal_new(r->base, SIGINT, on_signal, r);
	if (r->listen_ev == NULL || r->timer == NULL || r->sigterm == NULL ||
	    r->sigint == NULL || event_add(r->listen_ev, NULL) != 0 ||
	    event_add(r->sigterm, NULL) != 0 || event_add(r->sigint, NULL) != 0)
		goto out;

	if (port_file != NULL) {
		struct sockaddr_storage bound;
		socklen_t blen = sizeof(bound);
		unsigned port;
		FILE *f;

		if (getsockname(r->listen_fd, (struct sockaddr *)&bound,
		                &blen) != 0)
			goto out;
		port = bound.ss_family == AF_INET6
		           ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
		           : ntohs(((struct sockaddr_in *)&bound)->sin_port);
		f = fopen(port_file, "w");
		if (f == NULL || fprintf(f, "%u\n", port) < 0 ||
		    fclose(f) != 0) {
			fprintf(stderr, "udp_impair: %s: %s\n", port_file,
			        strerror(errno));
			goto out;
		}
	}

	if (event_base_dispatch(r->base) < 0)
		goto out;
	rc = 0;
	if (stats_file != NULL && write_stats(r, stats_file) != 0)
		rc = 1;
out:
	for (int i = 0; i < MAX_FLOWS; i++)
		flow_close(&r->flows[i]);
	while (r->heap_n > 0)
		free(heap_pop(r));
	free(r->heap);
	if (r->listen_ev != NULL)
		event_free(r->listen_ev);
	if (r->timer != NULL)
		event_free(r->timer);
	if (r->sigterm != NULL)
		event_free(r->sigterm);
	if (r->sigint != NULL)
		event_free(r->sigint);
	if (r->base != NULL)
		event_base_free(r->base);
	close(r->listen_fd);
	return rc;
}
