/* tcpblast: times one TCP transfer, for the link emulator's fidelity test.
 *
 *   tcpblast recv --listen ADDR:PORT [--port-file F] [--timeout S]
 *                 [--progress-file F]
 *   tcpblast send --connect ADDR:PORT --bytes N [--cc ALGORITHM]
 *                 [--timeout S]
 *
 * recv accepts one connection, reads to EOF, closes it and exits. send
 * connects, writes N bytes (with the congestion control ALGORITHM if given,
 * TCP_CONGESTION), shuts down its side, waits for the receiver's close (so
 * every byte was delivered) and prints one line:
 *   bytes N seconds S rate_bps R retrans T segs_out O rtt_us U mss M
 * from the start of connect to the receiver's close; the TCP_INFO counters
 * are read just before the close. Exits non-zero, saying why, on any error
 * or after --timeout seconds (default 120). IPv4 only. With --progress-file
 * recv writes "MS BYTES" lines there as data arrives (at most one per
 * 50 ms, and one at EOF): the bytes received so far at MS, milliseconds of
 * CLOCK_BOOTTIME (what /proc/uptime shows), so that a test can take the
 * flow's rate over a window of its own (tests/system/test_interop.sh,
 * crosstraffic). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "tests/lib/fixture.h"

static void die(const char *what)
{
	fprintf(stderr, "tcpblast: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Waits until FD is readable, or exits once DEADLINE (ms) has passed. */
static void wait_in(int fd, uint64_t deadline)
{
	for (;;) {
		uint64_t now = clock_mono_ms();
		if (now >= deadline) {
			fprintf(stderr, "tcpblast: timed out\n");
			exit(1);
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int n = poll(&p, 1, (int)(deadline - now));
		if (n > 0)
			return;
		if (n < 0 && errno != EINTR)
			die("poll");
	}
}

int main(int argc, char **argv)
{
	const char *listen_at = NULL, *connect_to = NULL, *port_file = NULL;
	const char *cc = NULL, *progress = NULL;
	uint64_t bytes = 0, timeout_s = 120;
	if (argc < 2 || (strcmp(argv[1], "recv") && strcmp(argv[1], "send")))
		goto usage;
	for (int i = 2; i + 1 < argc; i += 2) {
		const char *o = argv[i], *v = argv[i + 1];
		if (!strcmp(o, "--listen"))
			listen_at = v;
		else if (!strcmp(o, "--connect"))
			connect_to = v;
		else if (!strcmp(o, "--port-file"))
			port_file = v;
		else if (!strcmp(o, "--cc"))
			cc = v;
		else if (!strcmp(o, "--bytes"))
			bytes = strtoull(v, NULL, 10);
		else if (!strcmp(o, "--timeout"))
			timeout_s = strtoull(v, NULL, 10);
		else if (!strcmp(o, "--progress-file"))
			progress = v;
		else
			goto usage;
	}
	if (argc % 2)
		goto usage;
	uint64_t deadline = clock_mono_ms() + timeout_s * 1000;
	static char buf[1 << 16];
	struct sockaddr_in sa;

	if (!strcmp(argv[1], "recv")) {
		if (!listen_at)
			goto usage;
		fx_endpoint4_or_exit("tcpblast", listen_at, &sa);
		int l = socket(AF_INET, SOCK_STREAM, 0);
		int one = 1;
		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
		    listen(l, 1) != 0)
			die(listen_at);
		socklen_t sl = sizeof(sa);
		getsockname(l, (struct sockaddr *)&sa, &sl);
		if (port_file) {
			FILE *f = fopen(port_file, "w");
			if (!f || fprintf(f, "%u\n", ntohs(sa.sin_port)) < 0 ||
			    fclose(f) != 0)
				die(port_file);
		}
		wait_in(l, deadline);
		int c = accept(l, NULL, NULL);
		if (c < 0)
			die("accept");
		FILE *pf = progress ? fopen(progress, "w") : NULL;
		if (progress && !pf)
			die(progress);
		uint64_t got = 0, last_ms = 0;
		for (;;) {
			wait_in(c, deadline);
			ssize_t r = read(c, buf, sizeof(buf));
			if (r > 0)
				got += (uint64_t)r;
			if (pf) {
				struct timespec ts;
				clock_gettime(CLOCK_BOOTTIME, &ts);
				uint64_t ms = (uint64_t)ts.tv_sec * 1000 +
				              (uint64_t)ts.tv_nsec / 1000000;
				if (r == 0 || ms >= last_ms + 50) {
					fprintf(pf, "%" PRIu64 " %" PRIu64 "\n",
					        ms, got);
					fflush(pf); /* read while it runs */
					last_ms = ms;
				}
			}
			if (r == 0)
				break;
			if (r < 0 && errno != EINTR)
				die("read");
		}
		if (pf && fclose(pf) != 0)
			die(progress);
		close(c);
		return 0;
	}

	if (!connect_to || !bytes)
		goto usage;
	fx_endpoint4_or_exit("tcpblast", connect_to, &sa);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		die("socket");
	if (cc &&
	    setsockopt(s, IPPROTO_TCP, TCP_CONGESTION, cc, strlen(cc)) != 0)
		die(cc);
	uint64_t t0 = clock_mono_ns();
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die(connect_to);
	memset(buf, 0x5a, sizeof(buf));
	for (uint64_t left = bytes; left;) {
		if (clock_mono_ms() >= deadline) {
			fprintf(stderr,
			        "tcpblast: timed out with %" PRIu64
			        " bytes unsent\n",
			        left);
			return 1;
		}
		size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		ssize_t w = write(s, buf, n);
		if (w < 0 && errno != EINTR)
			die("write");
		if (w > 0)
			left -= (uint64_t)w;
	}
	shutdown(s, SHUT_WR);
	wait_in(s, deadline);
	if (read(s, buf, sizeof(buf)) != 0) {
		fprintf(stderr, "tcpblast: the receiver sent data or failed\n");
		return 1;
	}
	double secs = (double)(clock_mono_ns() - t0) / 1e9;
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &tl);
	printf("bytes %" PRIu64 " seconds %.3f rate_bps %.0f retrans %u "
	       "segs_out %u rtt_us %u mss %u\n",
	       bytes, secs, (double)bytes * 8 / secs, ti.tcpi_total_retrans,
	       ti.tcpi_segs_out, ti.tcpi_rtt, ti.tcpi_snd_mss);
	close(s);
	return 0;
usage:
	fputs("usage: tcpblast recv --listen ADDR:PORT [--port-file F] "
	      "[--timeout S] [--progress-file F]\n"
	      "       tcpblast send --connect ADDR:PORT --bytes N [--cc ALG] "
	      "[--timeout S]\n",
	      stderr);
	return 2;
}
