/* raftkv-cli: client of the raftkv reference cluster (kv_text.h protocol).
 *
 *   raftkv-cli [--connect HOST:PORT[,HOST:PORT...]] [--timeout SEC] CMD
 *     put NS KEY VALUE | get NS KEY | cas NS KEY EXPECTED VALUE
 *     del NS KEY | cad NS KEY EXPECTED | scan NS PREFIX [LIMIT]
 *     add ID HOST:PORT     (a node started with --join: learner, then voter)
 *     fingerprint | leader | applied-index     (first address only)
 *     load --count N --value-size B --namespace NS [--key-prefix P]
 *          [--ack-log FILE]   (appends "KEY INDEX VERSION VALUE" per
 *                              acknowledged put, flushed at once)
 *          [--value-source FILE] (values are the next B bytes of FILE,
 *                              read again from its start at its end; by
 *                              default a repeating alphabet)
 *     free-ports N                  (prints N free loopback TCP ports)
 *
 * Arguments are raw strings (the CLI percent-encodes them); answers are
 * printed as the node sent them. Requests that need the leader try the
 * addresses in turn and follow REDIRECT answers until --timeout (default
 * 30 s). Exit status: 0 OK, 3 NOTFOUND, 4 MISMATCH, 1 error, 2 usage.
 *
 * Blocking sockets and a clock: this file is I/O glue. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "examples/raftkv/kv_text.h"

#define ADDRS_MAX 16
#define EXIT_NOTFOUND 3
#define EXIT_MISMATCH 4

struct cli {
	char addrs[ADDRS_MAX][64];
	int n_addrs;
	int next; /* index of the next address to try */
	char target[64];
	int fd;
	char *buf; /* received bytes not yet returned */
	size_t len, cap;
	uint64_t deadline_ms;
	bool quiet;
};

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: raftkv-cli [--connect HOST:PORT[,...]] [--timeout SEC] "
	        "COMMAND\n"
	        "  put NS KEY VALUE | get NS KEY | cas NS KEY EXPECTED VALUE\n"
	        "  del NS KEY | cad NS KEY EXPECTED | scan NS PREFIX [LIMIT]\n"
	        "  add ID HOST:PORT\n"
	        "  fingerprint | leader | applied-index\n"
	        "  load --count N --value-size B --namespace NS "
	        "[--key-prefix P] [--ack-log FILE] [--value-source FILE]\n"
	        "  free-ports N\n");
}

static void disconnect(struct cli *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
}

static int connect_to(struct cli *c, const char *addr)
{
	struct sockaddr_in sa;
	struct timeval tv = {5, 0};
	char host[64];
	const char *colon = strrchr(addr, ':');
	int one = 1;

	disconnect(c);
	if (colon == NULL || (size_t)(colon - addr) >= sizeof host)
		return -1;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -1;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		disconnect(c);
		return -1;
	}
	snprintf(c->target, sizeof c->target, "%s", addr);
	return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one line (without the newline) into a malloc()ed string. */
static char *read_line(struct cli *c)
{
	for (;;) {
		char *nl = c->len > 0 ? memchr(c->buf, '\n', c->len) : NULL;
		ssize_t r;

		if (nl != NULL) {
			size_t n = (size_t)(nl - c->buf);
			char *line = malloc(n + 1);

			if (line == NULL)
				return NULL;
			memcpy(line, c->buf, n);
			line[n] = '\0';
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			return line;
		}
		if (c->cap - c->len < 65536) {
			size_t cap = c->cap == 0 ? 65536 : c->cap * 2;
			char *b;

			if (cap > 2 * KV_LINE_MAX)
				return NULL;
			b = realloc(c->buf, cap);
			if (b == NULL)
				return NULL;
			c->buf = b;
			c->cap = cap;
		}
		r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return NULL;
		c->len += (size_t)r;
	}
}

/* Sends line (newline-terminated) to the current connection and returns
 * the first answer line, or NULL on a connection failure. */
static char *exchange(struct cli *c, const char *line)
{
	if (c->fd < 0 || send_all(c->fd, line, strlen(line)) != 0)
		return NULL;
	return read_line(c);
}

/* Value of key=... in an answer line, copied into out. */
static int field(const char *answer, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);

	for (const char *p = answer; (p = strstr(p, key)) != NULL; p++) {
		size_t n;

		if ((p != answer && p[-1] != ' ') || p[klen] != '=')
			continue;
		p += klen + 1;
		n = strcspn(p, " ");
		if (n >= size)
			return -1;
		memcpy(out, p, n);
		out[n] = '\0';
		return 0;
	}
	return -1;
}

/* Sends line to the leader: tries the addresses in turn, follows
 * redirects, retries while there is no leader, until the deadline.
 * Returns the answer (malloc()ed) or NULL at the deadline. */
static char *to_leader(struct cli *c, const char *line)
{
	while (clock_mono_ms() < c->deadline_ms) {
		char *answer, client[64];

		if (c->fd < 0) {
			const char *addr = c->target[0] != '\0'
			                       ? c->target
			                       : c->addrs[c->next];

			if (c->target[0] == '\0')
				c->next = (c->next + 1) % c->n_addrs;
			if (connect_to(c, addr) != 0) {
				c->target[0] = '\0';
				pause_ms(50);
				continue;
			}
		}
		answer = exchange(c, line);
		if (answer == NULL) {
			disconnect(c);
			c->target[0] = '\0';
			pause_ms(50);
			continue;
		}
		if (strncmp(answer, "REDIRECT ", 9) == 0) {
			disconnect(c);
			if (field(answer, "client", client, sizeof client) ==
			        0 &&
			    strcmp(client, "-") != 0)
				snprintf(c->target, sizeof c->target, "%s",
				         client);
			else
				c->target[0] = '\0';
			free(answer);
			continue;
		}
		if (strncmp(answer, "ERR no-leader", 13) == 0) {
			disconnect(c);
			c->target[0] = '\0';
			free(answer);
			pause_ms(100);
			continue;
		}
		return answer;
	}
	fprintf(stderr, "raftkv-cli: no leader answered within the timeout\n");
	return NULL;
}

static int exit_code(const char *answer)
{
	if (strncmp(answer, "OK", 2) == 0)
		return 0;
	if (strncmp(answer, "NOTFOUND", 8) == 0)
		return EXIT_NOTFOUND;
	if (strncmp(answer, "MISMATCH", 8) == 0)
		return EXIT_MISMATCH;
	return 1;
}

/* Appends " " and the encoding of s to line. */
static char *add_token(char *line, const char *s)
{
	size_t n = strlen(line), elen;
	char *l;

	elen = kv_text_encoded_len((const uint8_t *)s, strlen(s));
	l = realloc(line, n + elen + 3);
	if (l == NULL) {
		free(line);
		return NULL;
	}
	l[n] = ' ';
	kv_text_encode((const uint8_t *)s, strlen(s), l + n + 1);
	return l;
}

static int cmd_kv(struct cli *c, int argc, char **argv)
{
	static const struct {
		const char *verb;
		int args;     /* after the verb */
		int raw_from; /* arguments from here are numbers, not encoded */
		int raw_count; /* how many */
	} verbs[] = {
	    {"put", 3, 0, 0}, {"get", 2, 0, 0}, {"cas", 4, 2, 1},
	    {"del", 2, 0, 0}, {"cad", 3, 2, 1}, {"scan", 2, 0, 0},
	    {"add", 2, 0, 2},
	};
	char *line, *answer;
	int v = -1, nargs = argc - 1, rc;

	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strcmp(argv[0], verbs[i].verb) == 0)
			v = (int)i;
	if (v < 0)
		return -1;
	if (!(nargs == verbs[v].args ||
	      (strcmp(argv[0], "scan") == 0 && nargs == 3))) {
		usage();
		return 2;
	}
	line = strdup(argv[0]);
	for (int i = 1; line != NULL && i < argc; i++) {
		int raw =
		    (verbs[v].raw_count > 0 && i - 1 == verbs[v].raw_from) ||
		    (strcmp(argv[0], "scan") == 0 && i == 3) ||
		    strcmp(argv[0], "add") == 0;

		if (raw) {
			size_t n = strlen(line);
			char *l = realloc(line, n + strlen(argv[i]) + 3);

			if (l == NULL) {
				free(line);
				line = NULL;
				break;
			}
			line = l;
			sprintf(line + n, " %s", argv[i]);
		} else {
			line = add_token(line, argv[i]);
		}
	}
	if (line == NULL) {
		fprintf(stderr, "raftkv-cli: out of memory\n");
		return 1;
	}
	strcat(line, "\n");
	answer = to_leader(c, line);
	free(line);
	if (answer == NULL)
		return 1;
	printf("%s\n", answer);
	rc = exit_code(answer);
	if (rc == 0 && strcmp(argv[0], "scan") == 0) {
		char count[32];
		unsigned long long n = 0;

		if (field(answer, "count", count, sizeof count) == 0)
			n = strtoull(count, NULL, 10);
		for (unsigned long long i = 0; i < n; i++) {
			char *l = read_line(c);

			if (l == NULL) {
				fprintf(stderr, "raftkv-cli: scan answer cut "
				                "short\n");
				free(answer);
				return 1;
			}
			printf("%s\n", l);
			free(l);
		}
	}
	free(answer);
	return rc;
}

/* fingerprint, leader, applied-index: this node's own view. */
static int cmd_local(struct cli *c, const char *verb)
{
	char line[64], *answer;
	int rc;

	snprintf(line, sizeof line, "%s\n", verb);
	if (connect_to(c, c->addrs[0]) != 0) {
		fprintf(stderr, "raftkv-cli: cannot connect to %s: %s\n",
		        c->addrs[0], strerror(errno));
		return 1;
	}
	answer = exchange(c, line);
	if (answer == NULL) {
		fprintf(stderr, "raftkv-cli: %s: no answer\n", c->addrs[0]);
		return 1;
	}
	printf("%s\n", answer);
	rc = exit_code(answer);
	free(answer);
	return rc;
}

/* The next len bytes of src into out, from the file's start again at its
 * end (so a small corpus gives any amount of data). */
static int read_value(FILE *src, const char *path, uint8_t *out, size_t len)
{
	size_t got = 0;
	bool rewound = false;

	while (got < len) {
		size_t n = fread(out + got, 1, len - got, src);

		got += n;
		if (n > 0) {
			rewound = false;
			continue;
		}
		if (ferror(src) || rewound) {
			fprintf(stderr,
			        "raftkv-cli: --value-source %s: %s (give a "
			        "non-empty readable file)\n",
			        path, ferror(src) ? strerror(errno) : "empty");
			return -1;
		}
		rewind(src);
		rewound = true;
	}
	return 0;
}

static int cmd_load(struct cli *c, int argc, char **argv)
{
	unsigned long long count = 0, size = 0;
	const char *ns = NULL, *prefix = "key-", *ack_path = NULL;
	const char *src_path = NULL;
	char *line, *answer = NULL, index[32] = "0", version[32];
	uint8_t *value = NULL;
	FILE *ack = NULL, *src = NULL;
	uint64_t start = clock_mono_ms();
	size_t cap;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--count") == 0)
			count = strtoull(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--value-size") == 0)
			size = strtoull(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--namespace") == 0)
			ns = argv[i + 1];
		else if (strcmp(argv[i], "--key-prefix") == 0)
			prefix = argv[i + 1];
		else if (strcmp(argv[i], "--ack-log") == 0)
			ack_path = argv[i + 1];
		else if (strcmp(argv[i], "--value-source") == 0)
			src_path = argv[i + 1];
		else
			ns = NULL, count = 0;
	}
	if (ns == NULL || count == 0 || count > 10000000 || size > (1u << 20) ||
	    argc % 2 == 0) {
		usage();
		return 2;
	}
	/* Percent-encoded values from a file take up to 3 bytes each. */
	cap = strlen(ns) * 3 + strlen(prefix) * 3 + (size_t)size * 3 + 64;
	if (src_path != NULL && (src = fopen(src_path, "rb")) == NULL) {
		fprintf(stderr,
		        "raftkv-cli: --value-source %s: %s (give a readable "
		        "file)\n",
		        src_path, strerror(errno));
		return 1;
	}
	if (ack_path != NULL && (ack = fopen(ack_path, "a")) == NULL) {
		fprintf(stderr, "raftkv-cli: --ack-log %s: %s\n", ack_path,
		        strerror(errno));
		if (src != NULL)
			fclose(src);
		return 1;
	}
	line = malloc(cap);
	value = malloc((size_t)size + 1);
	if (line == NULL || value == NULL) {
		free(line);
		free(value);
		if (ack != NULL)
			fclose(ack);
		if (src != NULL)
			fclose(src);
		return 1;
	}
	for (unsigned long long i = 0; i < count; i++) {
		char key[256];
		size_t n, value_at;

		snprintf(key, sizeof key, "%s%08llu", prefix, i);
		n = (size_t)sprintf(line, "put ");
		n += kv_text_encode((const uint8_t *)ns, strlen(ns), line + n);
		line[n++] = ' ';
		n +=
		    kv_text_encode((const uint8_t *)key, strlen(key), line + n);
		line[n++] = ' ';
		value_at = n;
		if (size == 0)
			line[n++] = '-';
		else if (src != NULL) {
			if (read_value(src, src_path, value, (size_t)size) !=
			    0) {
				free(answer);
				answer = NULL;
				break;
			}
			n += kv_text_encode(value, (size_t)size, line + n);
		} else
			for (unsigned long long b = 0; b < size; b++)
				line[n++] = (char)('a' + (i + b) % 26);
		line[n++] = '\n';
		line[n] = '\0';
		/* A put is safe to repeat (the value is the same), so any
		 * error is retried until the deadline. */
		for (;;) {
			free(answer);
			answer = to_leader(c, line);
			if (answer == NULL || strncmp(answer, "OK", 2) == 0)
				break;
			if (!c->quiet)
				fprintf(stderr,
				        "raftkv-cli: put %s: %s; "
				        "retrying\n",
				        key, answer);
			disconnect(c);
			pause_ms(50);
		}
		if (answer == NULL) {
			fprintf(stderr,
			        "raftkv-cli: load stopped after %llu of %llu "
			        "puts\n",
			        i, count);
			free(line);
			free(value);
			if (ack != NULL)
				fclose(ack);
			if (src != NULL)
				fclose(src);
			return 1;
		}
		field(answer, "index", index, sizeof index);
		if (ack != NULL) {
			/* Each acknowledgement is on disk before the next
			 * put: the DR drill counts what was lost from it. */
			field(answer, "version", version, sizeof version);
			fprintf(ack, "%s %s %s %.*s\n", key, index, version,
			        (int)(n - 1 - value_at), line + value_at);
			fflush(ack);
		}
	}
	if (ack != NULL)
		fclose(ack);
	if (src != NULL)
		fclose(src);
	printf("load count=%llu last_index=%s elapsed_ms=%" PRIu64 "\n", count,
	       index, clock_mono_ms() - start);
	free(answer);
	free(line);
	free(value);
	return 0;
}

static int cmd_free_ports(int argc, char **argv)
{
	int fds[64], n = argc == 2 ? atoi(argv[1]) : 0, rc = 0;

	if (n <= 0 || n > 64) {
		usage();
		return 2;
	}
	/* All sockets stay bound until every port is known, so the ports
	 * printed are distinct. */
	for (int i = 0; i < n; i++) {
		struct sockaddr_in sa;
		socklen_t len = sizeof sa;

		memset(&sa, 0, sizeof sa);
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 ||
		    bind(fds[i], (struct sockaddr *)&sa, sizeof sa) != 0 ||
		    getsockname(fds[i], (struct sockaddr *)&sa, &len) != 0) {
			fprintf(stderr, "raftkv-cli: %s\n", strerror(errno));
			n = i + 1;
			rc = 1;
			break;
		}
		printf("%s%u", i > 0 ? " " : "", ntohs(sa.sin_port));
	}
	printf("\n");
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc;
}

int main(int argc, char **argv)
{
	struct cli c;
	const char *connect_list = "127.0.0.1:7001";
	unsigned long long timeout = 30;
	int i = 1, rc;

	memset(&c, 0, sizeof c);
	c.fd = -1;
	while (i + 1 < argc && strncmp(argv[i], "--", 2) == 0) {
		if (strcmp(argv[i], "--connect") == 0)
			connect_list = argv[i + 1];
		else if (strcmp(argv[i], "--timeout") == 0)
			timeout = strtoull(argv[i + 1], NULL, 10);
		else {
			usage();
			return 2;
		}
		i += 2;
	}
	if (i >= argc || timeout == 0) {
		usage();
		return 2;
	}
	{
		char *copy = strdup(connect_list), *save = NULL, *a;

		for (a = strtok_r(copy, ",", &save);
		     a != NULL && c.n_addrs < ADDRS_MAX;
		     a = strtok_r(NULL, ",", &save))
			snprintf(c.addrs[c.n_addrs++], sizeof c.addrs[0], "%s",
			         a);
		free(copy);
	}
	if (c.n_addrs == 0) {
		usage();
		return 2;
	}
	c.deadline_ms = clock_mono_ms() + timeout * 1000;
	argc -= i;
	argv += i;
	if (strcmp(argv[0], "free-ports") == 0)
		rc = cmd_free_ports(argc, argv);
	else if (strcmp(argv[0], "fingerprint") == 0 ||
	         strcmp(argv[0], "leader") == 0 ||
	         strcmp(argv[0], "applied-index") == 0)
		rc = argc == 1 ? cmd_local(&c, argv[0]) : 2;
	else if (strcmp(argv[0], "load") == 0)
		rc = cmd_load(&c, argc, argv);
	else if ((rc = cmd_kv(&c, argc, argv)) < 0) {
		usage();
		rc = 2;
	}
	disconnect(&c);
	free(c.buf);
	return rc;
}
