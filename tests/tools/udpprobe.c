/* udpprobe: numbered UDP datagrams and an echo server that reports what
 * arrived, for the link emulator's fidelity test (corruption, NAT
 * rebinding, drop by index, blackholes, ordering).
 *
 *   udpprobe echo --listen ADDR:PORT [--port-file F] [--timeout S]
 *   udpprobe send --connect ADDR:PORT --count N [--interval-ms MS]
 *                 [--size BYTES] [--timeout S]
 *
 * send sends N datagrams of BYTES (default 100, at least 60): the sequence
 * number (from 0, big-endian) in the first and the last 4 bytes, a fixed
 * pattern between. It then waits up to 1 s for the last echoes and prints
 *   sent N echoed E
 * echo prints one line per datagram and echoes it:
 *   seq S from ADDR:PORT len L diff D first F
 * where S is read from the last 4 bytes (outside the 51 a corruption may
 * touch), D counts the bytes that differ from what was sent and F is the
 * first of them (-1 when none). echo exits after --timeout seconds
 * (default 30) or on SIGTERM. IPv4 only. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "tests/lib/fixture.h"

#define DGRAM_MAX 2048

static void die(const char *what)
{
	fprintf(stderr, "udpprobe: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void fill(uint8_t *p, size_t len, uint32_t seq)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + 1);
	uint32_t n = htonl(seq);
	memcpy(p, &n, 4);
	memcpy(p + len - 4, &n, 4);
}

int main(int argc, char **argv)
{
	const char *listen_at = NULL, *connect_to = NULL, *port_file = NULL;
	unsigned long count = 0, interval_ms = 10, size = 100, timeout_s = 30;
	if (argc < 2 || (strcmp(argv[1], "echo") && strcmp(argv[1], "send")) ||
	    argc % 2)
		goto usage;
	for (int i = 2; i + 1 < argc; i += 2) {
		const char *o = argv[i], *v = argv[i + 1];
		if (!strcmp(o, "--listen"))
			listen_at = v;
		else if (!strcmp(o, "--connect"))
			connect_to = v;
		else if (!strcmp(o, "--port-file"))
			port_file = v;
		else if (!strcmp(o, "--count"))
			count = strtoul(v, NULL, 10);
		else if (!strcmp(o, "--interval-ms"))
			interval_ms = strtoul(v, NULL, 10);
		else if (!strcmp(o, "--size"))
			size = strtoul(v, NULL, 10);
		else if (!strcmp(o, "--timeout"))
			timeout_s = strtoul(v, NULL, 10);
		else
			goto usage;
	}
	if (size < 60 || size > DGRAM_MAX)
		goto usage;
	static uint8_t buf[DGRAM_MAX], want[DGRAM_MAX];
	struct sockaddr_in sa;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0)
		die("socket");
	uint64_t deadline = clock_mono_ms() + timeout_s * 1000;

	if (!strcmp(argv[1], "echo")) {
		if (!listen_at)
			goto usage;
		fx_endpoint4_or_exit("udpprobe", listen_at, &sa);
		if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0)
			die(listen_at);
		socklen_t sl = sizeof(sa);
		getsockname(s, (struct sockaddr *)&sa, &sl);
		if (port_file) {
			FILE *f = fopen(port_file, "w");
			if (!f || fprintf(f, "%u\n", ntohs(sa.sin_port)) < 0 ||
			    fclose(f) != 0)
				die(port_file);
		}
		setvbuf(stdout, NULL, _IOLBF, 0);
		for (;;) {
			uint64_t now = clock_mono_ms();
			if (now >= deadline)
				return 0;
			struct pollfd p = {.fd = s, .events = POLLIN};
			if (poll(&p, 1, (int)(deadline - now)) <= 0)
				continue;
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t r = recvfrom(s, buf, sizeof(buf), 0,
			                     (struct sockaddr *)&from, &fl);
			if (r < 8)
				continue;
			uint32_t seq;
			memcpy(&seq, buf + r - 4, 4);
			seq = ntohl(seq);
			fill(want, (size_t)r, seq);
			int diff = 0, first = -1;
			for (ssize_t i = 0; i < r; i++)
				if (buf[i] != want[i]) {
					diff++;
					if (first < 0)
						first = (int)i;
				}
			char a[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, &from.sin_addr, a, sizeof(a));
			printf("seq %u from %s:%u len %zd diff %d first %d\n",
			       seq, a, ntohs(from.sin_port), r, diff, first);
			sendto(s, buf, (size_t)r, 0, (struct sockaddr *)&from,
			       fl);
		}
	}

	if (!connect_to || !count)
		goto usage;
	fx_endpoint4_or_exit("udpprobe", connect_to, &sa);
	unsigned long echoed = 0;
	uint64_t next = clock_mono_ms(), end = 0;
	for (unsigned long sent = 0;;) {
		uint64_t now = clock_mono_ms();
		if (now >= deadline)
			break;
		if (sent < count && now >= next) {
			fill(buf, size, (uint32_t)sent);
			if (sendto(s, buf, size, 0, (struct sockaddr *)&sa,
			           sizeof(sa)) != (ssize_t)size)
				die("sendto");
			sent++;
			next += interval_ms;
			if (sent == count)
				end = now + 1000;
		}
		if (end && now >= end)
			break;
		uint64_t wake = sent < count ? next : end;
		struct pollfd p = {.fd = s, .events = POLLIN};
		if (poll(&p, 1, wake > now ? (int)(wake - now) : 0) > 0 &&
		    recv(s, buf, sizeof(buf), 0) > 0)
			echoed++;
	}
	printf("sent %lu echoed %lu\n", count, echoed);
	return 0;
usage:
	fputs("usage: udpprobe echo --listen ADDR:PORT [--port-file F] "
	      "[--timeout S]\n"
	      "       udpprobe send --connect ADDR:PORT --count N "
	      "[--interval-ms MS] [--size BYTES(60-2048)] [--timeout S]\n",
	      stderr);
	return 2;
}
