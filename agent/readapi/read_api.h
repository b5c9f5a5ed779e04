/* The mirror's read API: HTTP/1.1 (libevent evhttp) on `[agent]
 * http_listen`, answering get/scan/fingerprint from each database's
 * applier (agent/apply/applier.h), plus /status (JSON) and /metrics
 * (Prometheus text), and / (the status page, status_html_format: the
 * API samples each database's lag once a second for its sparklines).
 * Writes are refused (405): the mirror is read-only.
 * docs/OPERATIONS.md, "Reading from the mirror", documents every endpoint,
 * parameter, limit and status code.
 *
 * Runs on the follower's libevent loop and never blocks it: a request
 * with min_index=N above the applied index is parked (evhttp deferred
 * reply) on its database's waiter list, answered when the follower
 * reports the index applied (read_api_applied) or with 504 when its
 * timeout_ms timer fires. */
#ifndef MIRROR_AGENT_READ_API_H
#define MIRROR_AGENT_READ_API_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct follow;
struct read_api; /* opaque */

/* Limits (see docs/OPERATIONS.md). */
#define READ_API_SCAN_LIMIT_DEFAULT 1000
#define READ_API_SCAN_LIMIT_MAX 10000
#define READ_API_SCAN_BYTES_MAX (32u << 20) /* JSON body of one scan */
#define READ_API_TIMEOUT_DEFAULT_MS 5000
#define READ_API_TIMEOUT_MAX_MS 60000

#define READ_API_SOURCES_MAX 16

/* A database's bearer token, as the SHA-256 of the token in hex. */
struct read_api_token {
	const char *db;     /* database name */
	const char *sha256; /* 64 lower-case hex digits */
};

/* Limits and access (agent/config/config_schema.c has their defaults and
 * ranges; zeros here take the defaults of the schema's table). */
struct read_api_options {
	const char *host; /* numeric IPv4/IPv6 address */
	uint16_t port;    /* 0: an ephemeral port (see port_file) */
	/* When set, the bound port is written there (decimal and a newline,
	 * durably replaced) once listening: for tests and supervisors. */
	const char *port_file;
	uint64_t max_connections;   /* in total (at most RLIMIT_NOFILE / 2) */
	uint64_t max_per_address;   /* per client address */
	uint64_t header_timeout_ms; /* whole request, from the connection or
	                               the previous answer */
	uint64_t body_timeout_ms;   /* inactivity writing an answer */
	uint64_t max_waiters;       /* parked min_index requests, all dbs */
	uint64_t max_response;      /* bytes of one answer (scan pages) */
	uint64_t scan_max_items;    /* items of one scan page */
	/* Authentication: with any token set every request needs
	 * "Authorization: Bearer TOKEN"; without, only a loopback host is
	 * accepted. */
	const char *status_token_sha256; /* /, /status, /metrics; NULL: none */
	const struct read_api_token *tokens;
	size_t ntokens;
	/* The configured source endpoints ("host:port"), for the status
	 * page at / (the followed one is marked); copied, at most
	 * READ_API_SOURCES_MAX. */
	const char *const *sources;
	size_t nsources;
};

/* Binds and starts serving on base; f (the follower, which must outlive
 * the API) provides the databases, their status and appliers. 0 or
 * MA_ERR_CONFIG (cannot bind: address and reason; a non-loopback host
 * without any token; a token for a database f does not follow),
 * MA_ERR_IO (port file), MA_ERR_NOMEM. */
int read_api_new(struct event_base *base, struct follow *f,
                 const struct read_api_options *o, struct read_api **out,
                 char *errmsg);
/* The bound port. */
uint16_t read_api_port(const struct read_api *api);
/* The follower moved database db's applier (to applied_index, or it
 * failed, or it was restored): answers the waiters it satisfies. */
void read_api_applied(struct read_api *api, size_t db, uint64_t applied_index);
/* Answers every parked request with 503 "shutting down" and returns how
 * many there were: the caller runs the loop briefly so the answers are
 * written before read_api_free(). NULL is fine (0). */
size_t read_api_release_waiters(struct read_api *api);
/* Releases remaining waiters (their connections close without an answer
 * when the loop no longer runs) and stops listening. NULL is fine. */
void read_api_free(struct read_api *api);

#endif
