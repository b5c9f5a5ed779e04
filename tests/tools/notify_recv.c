/* notify_recv SOCKET SECONDS: plays systemd's side of sd_notify for the
 * tests. Binds an AF_UNIX datagram socket at SOCKET (a path, or an
 * abstract name when it starts with '@'), then prints every datagram it
 * receives as one line (newlines inside a datagram become '|') on
 * standard output, flushed, for SECONDS seconds at most, then exits 0. */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timespec start, now;
	socklen_t salen;
	size_t len;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: notify_recv SOCKET SECONDS\n");
		return 2;
	}
	len = strlen(argv[1]);
	if (len == 0 || len >= sizeof sa.sun_path) {
		fprintf(stderr, "notify_recv: bad socket name\n");
		return 2;
	}
	memcpy(sa.sun_path, argv[1], len);
	if (argv[1][0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	                    (argv[1][0] == '@' ? 0 : 1));
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, salen) != 0) {
		fprintf(stderr, "notify_recv: %s: %s\n", argv[1],
		        strerror(errno));
		return 1;
	}
	long limit_ms = atol(argv[2]) * 1000;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long spent = (now.tv_sec - start.tv_sec) * 1000 +
		             (now.tv_nsec - start.tv_nsec) / 1000000;
		if (spent >= limit_ms)
			break;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, (int)(limit_ms - spent)) <= 0)
			continue;
		char buf[4096];
		ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
		if (n < 0)
			continue;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\n')
				buf[i] = '|';
		buf[n] = '\0';
		printf("%s\n", buf);
		fflush(stdout);
	}
	if (argv[1][0] != '@')
		unlink(argv[1]);
	return 0;
}
