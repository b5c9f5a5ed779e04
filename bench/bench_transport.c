/* bench_transport: HTTP/3 transfer throughput of the transport module, with
 * the server and the client in two processes over loopback (as in
 * production), against TLS 1.3 over TCP (wolfSSL, same certificates, same
 * two-process layout) moving the same bytes. Not a test.
 *
 * Each run forks a server process; the client (this process) GETs N MiB of
 * deterministic bytes, checks their CRC32C and times the transfer from
 * transport_client_new() (handshake included) to the end of the body.
 * Prints every run, the medians, CPU time of each side and the ratio
 * QUIC / TLS-over-TCP.
 *
 * usage: bench_transport [-n MIB] [-r RUNS] [-c cubic|reno|bbr|bbr2]
 *                        [-u UDP_PAYLOAD] [-w WINDOW_MIB] [-a UNACKED_MIB]
 *                        [-U CLIENT_UDP_PAYLOAD] [-k WRITE_KIB]
 *                        [-S NETNS -A ADDR] [-B] [-q] [-v]
 *   -n bytes to move in MiB (default 1024)   -r runs (default 3)
 *   -c congestion control (default cubic)
 *   -u max UDP payload (default: the transport's, 0 = auto)
 *   -U the client's max UDP payload only (what it advertises as its
 *      max_udp_payload_size: 1452 is quic-go's limit), the server keeping
 *      -u's
 *   -w connection and stream window in MiB (default: the transport's)
 *   -a server max_unacked per stream in MiB (default: the transport's)
 *   -S NETNS -A ADDR: the server runs in network namespace NETNS (a name
 *      under /run/netns, as `ip netns add` makes) and listens on IPv4
 *      ADDR, which the client reaches from here (e.g. across a veth pair
 *      with MTU 1500); needs CAP_SYS_ADMIN
 *   -k size of each transport_response_write() in KiB (default 256, as
 *      serve's WRITE_PIECE_MAX)
 *   -B skip the TLS/TCP baseline           -q no per-run lines
 *   -v transport debug log (connection counters) on stderr
 *
 * The PKI comes from tests/certs/gen-certs.sh (MA_TOP_SRCDIR or
 * $abs_top_srcdir) in a scratch dir that is removed at exit. Every run is
 * bounded by a deadline (60 s + 1 s per 10 MiB). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <wolfssl/options.h>

#include <wolfssl/ssl.h>

#include "common/clock.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "common/log.h"
#include "tests/integration/test_transport_util.h"
#include "transport/transport.h"

#define MIB (1024.0 * 1024.0)
#define MAX_RUNS 25
/* The byte pattern repeats with a period that is no multiple of any
 * write or packet size, so reordered or repeated pieces change the CRC. */
#define PERIOD ((1u << 20) + 4099u)

struct opts {
	uint64_t size;
	int runs;
	enum transport_cc cc;
	uint32_t udp, cli_udp;
	const char *netns, *addr; /* -S, -A: NULL = same namespace, loopback */
	uint64_t window;
	size_t unacked;
	size_t write;
	int baseline, quiet, verbose;
};

static struct opts o = {1024ull << 20,
                        3,
                        TRANSPORT_CC_CUBIC,
                        0,
                        0,
                        NULL,
                        NULL,
                        0,
                        0,
                        256 * 1024,
                        1,
                        0,
                        0};
static uint8_t *pattern; /* 2 * PERIOD bytes: any window < PERIOD is flat */
static struct test_pki pki;

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static double cpu_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *in, int n)
{
	double v[MAX_RUNS];

	memcpy(v, in, (size_t)n * sizeof *v);
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_transport: %s: %s\n", what, msg);
	exit(1);
}

static const uint8_t *at(uint64_t off)
{
	return pattern + off % PERIOD;
}

static uint32_t expected_crc(uint64_t size)
{
	uint32_t crc = 0;

	for (uint64_t off = 0; off < size; off += 1u << 20) {
		size_t n =
		    size - off < (1u << 20) ? (size_t)(size - off) : (1u << 20);

		crc = crc32c_append(crc, at(off), n);
	}
	return crc;
}

static int deadline_s(void)
{
	return 60 + (int)(o.size / (10u << 20));
}

/* ---- QUIC server process ---- */

struct srv_app {
	struct event_base *base;
	struct transport_request *req;
	uint64_t size, off;
};

static void pump(struct srv_app *a)
{
	while (a->req != NULL && a->off < a->size) {
		size_t n = a->size - a->off < o.write
		               ? (size_t)(a->size - a->off)
		               : o.write;
		int rv = transport_response_write(a->req, at(a->off), n);

		if (rv == MA_ERR_AGAIN)
			return;
		if (rv != 0)
			die("server write", ma_strerror(rv));
		a->off += n;
	}
	if (a->req != NULL) {
		transport_response_end(a->req);
		a->req = NULL;
	}
}

static void srv_on_request(struct transport_request *req, void *user)
{
	struct srv_app *a = user;
	unsigned long long size;

	if (a->req != NULL || sscanf(transport_request_path(req),
	                             "/bench?size=%llu", &size) != 1) {
		transport_response_start(req, 404, NULL);
		transport_response_end(req);
		return;
	}
	a->req = req;
	a->size = size;
	a->off = 0;
	if (transport_response_start(req, 200, "application/octet-stream") != 0)
		die("server", "response_start failed");
	pump(a);
}

static void srv_on_writable(struct transport_request *req, void *user)
{
	pump(user);
}

static void srv_on_closed(struct transport_request *req, int error, void *user)
{
	struct srv_app *a = user;

	if (a->req == req)
		a->req = NULL;
}

static void srv_on_ctl(evutil_socket_t fd, short what, void *arg)
{
	/* The parent closed the control pipe (or the deadline passed). */
	event_base_loopbreak(arg);
}

static void fill_tuning(struct transport_tuning *t)
{
	t->cc = o.cc;
	t->max_udp_payload = o.udp;
	t->max_data = o.window;
	t->max_stream_data = o.window;
}

/* Runs in the child: serves until ctl is closed. Never returns. */
static void quic_server(int portfd, int ctl)
{
	static const struct transport_server_callbacks cb = {
	    srv_on_request, srv_on_writable, srv_on_closed};
	struct transport_server_config sc = {0};
	struct srv_app a = {0};
	struct transport_server *srv;
	struct event *ctl_ev, *dl;
	struct timeval tv = {deadline_s() + 5, 0};
	char errmsg[MA_ERRMSG_SIZE];
	uint16_t port;

	a.base = event_base_new();
	sc.bind_addr = o.addr;
	sc.cert_file = test_pki_file(&pki, "server.pem");
	sc.key_file = test_pki_file(&pki, "server.key");
	sc.client_ca_file = test_pki_file(&pki, "ca.pem");
	sc.max_unacked = o.unacked;
	fill_tuning(&sc.tuning);
	if (transport_server_new(a.base, &sc, &cb, &a, &srv, errmsg) != 0)
		die("server", errmsg);
	port = transport_server_port(srv);
	if (write(portfd, &port, sizeof port) != (ssize_t)sizeof port)
		die("server", "cannot report the port");
	close(portfd);
	ctl_ev = event_new(a.base, ctl, EV_READ, srv_on_ctl, a.base);
	dl = evtimer_new(a.base, srv_on_ctl, a.base);
	event_add(ctl_ev, NULL);
	evtimer_add(dl, &tv);
	event_base_dispatch(a.base);
	transport_server_free(srv);
	event_free(ctl_ev);
	event_free(dl);
	event_base_free(a.base);
	_exit(0);
}

/* ---- QUIC client (this process) ---- */

struct cli_app {
	struct event_base *base;
	uint64_t bytes;
	uint32_t crc;
	int status, ended, failed, closed, timed_out;
	double t_end;
	char msg[MA_ERRMSG_SIZE];
};

static void cl_on_response(struct transport_stream *s, int status, void *user)
{
	((struct cli_app *)user)->status = status;
}

static void cl_on_body(struct transport_stream *s, const uint8_t *data,
                       size_t len, void *user)
{
	struct cli_app *a = user;

	a->crc = crc32c_append(a->crc, data, len);
	a->bytes += len;
}

static void cl_on_end(struct transport_stream *s, void *user)
{
	struct cli_app *a = user;

	a->t_end = clock_mono_s();
	a->ended = 1;
	event_base_loopbreak(a->base);
}

static void cl_on_error(struct transport_stream *s, int code, const char *msg,
                        void *user)
{
	struct cli_app *a = user;

	a->failed = code;
	snprintf(a->msg, sizeof a->msg, "%s", msg);
	event_base_loopbreak(a->base);
}

static void cl_on_connected(struct transport_client *c, void *user)
{
}

static void cl_on_closed(struct transport_client *c, int error, const char *msg,
                         void *user)
{
	struct cli_app *a = user;

	a->closed = 1;
	if (!a->ended && a->msg[0] == '\0')
		snprintf(a->msg, sizeof a->msg, "%s", msg);
	event_base_loopbreak(a->base);
}

static void cl_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct cli_app *a = arg;

	a->timed_out = 1;
	event_base_loopbreak(a->base);
}

struct result {
	double mbps, cpu_srv, cpu_cli;
};

static pid_t fork_server(void (*fn)(int, int), int *port_out, int *ctl_out)
{
	int pp[2], cp[2];
	uint16_t port;
	pid_t pid;

	if (pipe(pp) != 0 || pipe(cp) != 0)
		die("pipe", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork", strerror(errno));
	if (pid == 0) {
		close(pp[0]);
		close(cp[1]);
		if (o.netns != NULL) {
			char path[256];
			int nfd;

			snprintf(path, sizeof path, "/run/netns/%s", o.netns);
			nfd = open(path, O_RDONLY | O_CLOEXEC);
			if (nfd < 0 || setns(nfd, CLONE_NEWNET) != 0)
				die(path, strerror(errno));
			close(nfd);
		}
		fn(pp[1], cp[0]);
		_exit(1);
	}
	close(pp[1]);
	close(cp[0]);
	if (read(pp[0], &port, sizeof port) != (ssize_t)sizeof port)
		die("server", "did not start");
	close(pp[0]);
	*port_out = port;
	*ctl_out = cp[1];
	return pid;
}

static double reap(pid_t pid, int ctl)
{
	struct rusage ru;
	int status;

	close(ctl);
	if (wait4(pid, &status, 0, &ru) != pid)
		die("wait", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("server", "exited abnormally");
	return tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
}

static struct result quic_run(uint32_t want_crc)
{
	static const struct transport_client_callbacks ccb = {cl_on_connected,
	                                                      cl_on_closed};
	static const struct transport_stream_callbacks scb = {
	    cl_on_response, cl_on_body, cl_on_end, cl_on_error};
	struct transport_client_config cc = {0};
	struct transport_client *cli;
	struct transport_stream *st;
	struct cli_app a = {0};
	struct timeval tv = {deadline_s(), 0};
	struct event *dl;
	char errmsg[MA_ERRMSG_SIZE], path[64];
	struct result r;
	double t0, c0;
	int port, ctl;
	pid_t pid;

	pid = fork_server(quic_server, &port, &ctl);
	a.base = event_base_new();
	dl = evtimer_new(a.base, cl_on_deadline, &a);
	evtimer_add(dl, &tv);
	cc.host = o.addr != NULL ? o.addr : "127.0.0.1";
	cc.port = (uint16_t)port;
	cc.server_name = "localhost";
	cc.ca_file = test_pki_file(&pki, "ca.pem");
	cc.cert_file = test_pki_file(&pki, "mirror-1.pem");
	cc.key_file = test_pki_file(&pki, "mirror-1.key");
	fill_tuning(&cc.tuning);
	if (o.cli_udp != 0)
		cc.tuning.max_udp_payload = o.cli_udp;
	c0 = cpu_self();
	t0 = clock_mono_s();
	if (transport_client_new(a.base, &cc, &ccb, &a, &cli, errmsg) != 0)
		die("client", errmsg);
	snprintf(path, sizeof path, "/bench?size=%llu",
	         (unsigned long long)o.size);
	if (transport_client_request(cli, path, &scb, &a, &st) != 0)
		die("client", "request failed");
	event_base_dispatch(a.base);
	r.cpu_cli = cpu_self() - c0;
	if (a.timed_out)
		die("quic run", "timed out");
	if (!a.ended)
		die("quic run", a.msg[0] ? a.msg : "stream failed");
	if (a.status != 200 || a.bytes != o.size || a.crc != want_crc)
		die("quic run", "wrong body (status, size or CRC32C)");
	r.mbps = (double)o.size / 1e6 / (a.t_end - t0);
	transport_client_close(cli);
	if (!a.closed)
		event_base_dispatch(a.base);
	transport_client_free(cli);
	event_free(dl);
	event_base_free(a.base);
	r.cpu_srv = reap(pid, ctl);
	return r;
}

/* ---- baseline: TLS 1.3 over TCP, wolfSSL, blocking ---- */

static WOLFSSL_CTX *tls_ctx(int server)
{
	WOLFSSL_CTX *ctx = wolfSSL_CTX_new(
	    server ? wolfTLSv1_3_server_method() : wolfTLSv1_3_client_method());
	const char *cert = server ? "server.pem" : "mirror-1.pem";
	const char *key = server ? "server.key" : "mirror-1.key";

	if (ctx == NULL ||
	    wolfSSL_CTX_use_certificate_chain_file(
	        ctx, test_pki_file(&pki, cert)) != WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_use_PrivateKey_file(ctx, test_pki_file(&pki, key),
	                                    WOLFSSL_FILETYPE_PEM) !=
	        WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_load_verify_locations(
	        ctx, test_pki_file(&pki, "ca.pem"), NULL) != WOLFSSL_SUCCESS)
		die("tls", "cannot set up the wolfSSL context");
	wolfSSL_CTX_set_verify(
	    ctx,
	    WOLFSSL_VERIFY_PEER |
	        (server ? WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
	    NULL);
	return ctx;
}

static void tls_server(int portfd, int ctl)
{
	struct sockaddr_in sin = {0};
	socklen_t sl = sizeof sin;
	WOLFSSL_CTX *ctx = tls_ctx(1);
	WOLFSSL *ssl;
	uint64_t off = 0;
	int ls, s, one = 1;
	uint16_t port;

	alarm((unsigned)deadline_s() + 5);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (o.addr != NULL && inet_pton(AF_INET, o.addr, &sin.sin_addr) != 1)
		die(o.addr, "not an IPv4 address");
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ls, (struct sockaddr *)&sin, sizeof sin) != 0 ||
	    listen(ls, 1) != 0 ||
	    getsockname(ls, (struct sockaddr *)&sin, &sl) != 0)
		die("tcp server", strerror(errno));
	port = ntohs(sin.sin_port);
	if (write(portfd, &port, sizeof port) != (ssize_t)sizeof port)
		die("tcp server", "cannot report the port");
	s = accept(ls, NULL, NULL);
	if (s < 0)
		die("accept", strerror(errno));
	ssl = wolfSSL_new(ctx);
	wolfSSL_set_fd(ssl, s);
	if (wolfSSL_accept(ssl) != WOLFSSL_SUCCESS)
		die("tls server", "handshake failed");
	while (off < o.size) {
		size_t n =
		    o.size - off < o.write ? (size_t)(o.size - off) : o.write;
		/* TLS records are at most 16 KiB; wolfSSL splits. */
		int w = wolfSSL_write(ssl, at(off), (int)n);

		if (w <= 0)
			die("tls server", "write failed");
		off += (uint64_t)w;
	}
	/* Wait for the client to finish (it closes the control pipe). */
	{
		char c;

		(void)read(ctl, &c, 1);
	}
	wolfSSL_shutdown(ssl);
	wolfSSL_free(ssl);
	close(s);
	close(ls);
	wolfSSL_CTX_free(ctx);
	_exit(0);
}

static struct result tls_run(uint32_t want_crc)
{
	static uint8_t buf[256 * 1024];
	struct sockaddr_in sin = {0};
	WOLFSSL_CTX *ctx = tls_ctx(0);
	WOLFSSL *ssl;
	uint64_t got = 0;
	uint32_t crc = 0;
	struct result r;
	double t0, c0;
	int port, ctl, s;
	pid_t pid;

	pid = fork_server(tls_server, &port, &ctl);
	c0 = cpu_self();
	t0 = clock_mono_s();
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (o.addr != NULL && inet_pton(AF_INET, o.addr, &sin.sin_addr) != 1)
		die(o.addr, "not an IPv4 address");
	sin.sin_port = htons((uint16_t)port);
	if (connect(s, (struct sockaddr *)&sin, sizeof sin) != 0)
		die("tcp connect", strerror(errno));
	ssl = wolfSSL_new(ctx);
	wolfSSL_set_fd(ssl, s);
	wolfSSL_check_domain_name(ssl, "localhost");
	if (wolfSSL_connect(ssl) != WOLFSSL_SUCCESS)
		die("tls client", "handshake failed");
	alarm((unsigned)deadline_s());
	while (got < o.size) {
		int n = wolfSSL_read(ssl, buf, sizeof buf);

		if (n <= 0)
			die("tls client", "read failed");
		crc = crc32c_append(crc, buf, (size_t)n);
		got += (uint64_t)n;
	}
	alarm(0);
	r.mbps = (double)o.size / 1e6 / (clock_mono_s() - t0);
	r.cpu_cli = cpu_self() - c0;
	if (crc != want_crc)
		die("tls run", "wrong body (CRC32C)");
	wolfSSL_free(ssl);
	close(s);
	wolfSSL_CTX_free(ctx);
	r.cpu_srv = reap(pid, ctl);
	return r;
}

/* ---- main ---- */

static const char *cc_name(enum transport_cc cc)
{
	static const char *names[] = {"cubic", "reno", "bbr", "bbr2"};

	return names[cc];
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: bench_transport [-n MIB] [-r RUNS] "
	        "[-c cubic|reno|bbr|bbr2] [-u UDP_PAYLOAD]\n"
	        "                       [-w WINDOW_MIB] [-a UNACKED_MIB] "
	        "[-k WRITE_KIB] [-B] [-q] [-v]\n");
	exit(2);
}

static void summary(const char *name, const struct result *r, int n)
{
	double m[MAX_RUNS], s[MAX_RUNS], c[MAX_RUNS];

	for (int i = 0; i < n; i++) {
		m[i] = r[i].mbps;
		s[i] = r[i].cpu_srv;
		c[i] = r[i].cpu_cli;
	}
	printf("%-16s median %8.1f MB/s   (cpu s: server %.2f, client %.2f; "
	       "per GiB: server %.2f, client %.2f)\n",
	       name, median(m, n), median(s, n), median(c, n),
	       median(s, n) * (double)(1u << 30) / (double)o.size,
	       median(c, n) * (double)(1u << 30) / (double)o.size);
}

int main(int argc, char **argv)
{
	struct result q[MAX_RUNS], t[MAX_RUNS];
	uint32_t crc;
	int opt;

	while ((opt = getopt(argc, argv, "n:r:c:u:U:w:a:k:S:A:Bqv")) != -1) {
		switch (opt) {
		case 'n':
			o.size = strtoull(optarg, NULL, 10) << 20;
			break;
		case 'r':
			o.runs = atoi(optarg);
			break;
		case 'c':
			if (strcmp(optarg, "cubic") == 0)
				o.cc = TRANSPORT_CC_CUBIC;
			else if (strcmp(optarg, "reno") == 0)
				o.cc = TRANSPORT_CC_RENO;
			else if (strcmp(optarg, "bbr") == 0)
				o.cc = TRANSPORT_CC_BBR;
			else if (strcmp(optarg, "bbr2") == 0)
				o.cc = TRANSPORT_CC_BBR2;
			else
				usage();
			break;
		case 'u':
			o.udp = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'U':
			o.cli_udp = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'S':
			o.netns = optarg;
			break;
		case 'A':
			o.addr = optarg;
			break;
		case 'w':
			o.window = strtoull(optarg, NULL, 10) << 20;
			break;
		case 'a':
			o.unacked = (size_t)strtoull(optarg, NULL, 10) << 20;
			break;
		case 'k':
			o.write = (size_t)strtoull(optarg, NULL, 10) << 10;
			break;
		case 'B':
			o.baseline = 0;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'v':
			o.verbose = 1;
			break;
		default:
			usage();
		}
	}
	if ((o.netns != NULL) != (o.addr != NULL))
		usage();
	if (o.size == 0 || o.runs < 1 || o.runs > MAX_RUNS || o.write == 0 ||
	    o.write >= PERIOD)
		usage();
	signal(SIGPIPE, SIG_IGN);
	log_set_level(o.verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	pattern = malloc(2 * (size_t)PERIOD);
	if (pattern == NULL)
		die("malloc", "out of memory");
	for (size_t i = 0; i < 2 * (size_t)PERIOD; i++) {
		uint64_t x = i % PERIOD;

		pattern[i] = (uint8_t)(x * 31u + (x >> 11) + (x >> 17));
	}
	crc = expected_crc(o.size);
	if (test_pki_make(&pki) != 0)
		die("pki", "cannot generate test certificates");
	wolfSSL_Init();
	printf("# %llu MiB over %s, server and client in two processes; "
	       "cc %s, UDP payload %s%u (client %u), window %s%llu MiB, "
	       "unacked %s%zu MiB, "
	       "writes %zu KiB, %d runs\n",
	       (unsigned long long)(o.size >> 20),
	       o.netns != NULL ? "another network namespace" : "loopback",
	       cc_name(o.cc), o.udp ? "" : "auto/", o.udp,
	       o.cli_udp ? o.cli_udp : o.udp, o.window ? "" : "default/",
	       (unsigned long long)(o.window >> 20),
	       o.unacked ? "" : "default/", o.unacked >> 20, o.write >> 10,
	       o.runs);
	for (int i = 0; i < o.runs; i++) {
		q[i] = quic_run(crc);
		if (!o.quiet)
			printf("run %d  quic/h3 %8.1f MB/s (cpu %.2f+%.2f s)",
			       i + 1, q[i].mbps, q[i].cpu_srv, q[i].cpu_cli);
		if (o.baseline) {
			t[i] = tls_run(crc);
			if (!o.quiet)
				printf(
				    "   tls/tcp %8.1f MB/s (cpu %.2f+%.2f s)",
				    t[i].mbps, t[i].cpu_srv, t[i].cpu_cli);
		}
		if (!o.quiet)
			printf("\n");
		fflush(stdout);
	}
	summary("quic/h3", q, o.runs);
	if (o.baseline) {
		double mq[MAX_RUNS], mt[MAX_RUNS];

		summary("tls1.3/tcp", t, o.runs);
		for (int i = 0; i < o.runs; i++) {
			mq[i] = q[i].mbps;
			mt[i] = t[i].mbps;
		}
		printf("ratio quic/tls-tcp %.2f\n",
		       median(mq, o.runs) / median(mt, o.runs));
	}
	test_pki_remove(&pki);
	wolfSSL_Cleanup();
	free(pattern);
	return 0;
}
