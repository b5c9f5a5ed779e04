/* serve_metrics: serve's own HTTP listener ([serve] metrics_listen), off
 * unless configured: GET /metrics (Prometheus text, promtool-clean) and
 * GET /status (JSON) describing the mirrors connected to this source, per
 * mirror and database (identity, address, position, lag against the
 * spool's commit index, last contact, reservation), the databases, and
 * the connections and requests refused by reason. docs/OPERATIONS.md
 * "Serve's metrics" lists every metric and field.
 *
 * evhttp glue on serve's loop: loopback only unless a bearer token is
 * configured (then every request needs "Authorization: Bearer TOKEN",
 * compared by SHA-256); a request's whole exchange must finish within
 * SERVE_METRICS_TIMEOUT_S; headers above SERVE_METRICS_HEADERS_MAX and
 * any body are refused; only GET and HEAD; at most
 * SERVE_METRICS_MAX_CONNECTIONS connections at once (further ones wait in
 * the listen backlog until one closes). /metrics ends with
 * mirror_build_info and the process_* metrics (agent/status). */
#ifndef MIRROR_AGENT_SERVE_METRICS_H
#define MIRROR_AGENT_SERVE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "agent/serve/serve.h"
#include "transport/transport.h"

struct event_base;
struct serve;
struct serve_metrics; /* opaque */
struct status_process;

#define SERVE_METRICS_TIMEOUT_S 5
#define SERVE_METRICS_HEADERS_MAX 8192
#define SERVE_METRICS_MAX_CONNECTIONS 16

struct serve_metrics_options {
	const char *host; /* numeric IPv4/IPv6 */
	uint16_t port;    /* 0: an ephemeral port (serve_metrics_port) */
	/* SHA-256 (64 lower-case hex digits) of the bearer token; NULL or
	 * "": none, and then host must be a loopback address. */
	const char *token_sha256;
};

/* Binds and serves on base; sv must outlive the listener. 0 or
 * MA_ERR_CONFIG (cannot bind: address and reason; a non-loopback host
 * without a token), MA_ERR_NOMEM. */
int serve_metrics_new(struct event_base *base, struct serve *sv,
                      const struct serve_metrics_options *o,
                      struct serve_metrics **out, char *errmsg);
uint16_t serve_metrics_port(const struct serve_metrics *m);
/* NULL is fine. */
void serve_metrics_free(struct serve_metrics *m);

/* The renderings, for tests and the listener: malloc'd, NUL-terminated
 * text (*len without the NUL), or NULL when out of memory. proc (NULL:
 * left out) gives mirror_build_info and the process_* metrics; the
 * listener reads it with status_process_read() for every scrape. Each
 * takes serve's figures in one pass (serve_metrics_model_take) and
 * renders them: O(databases + mirrors). */
char *serve_metrics_prometheus(struct serve *sv, uint64_t now_ms,
                               const struct status_process *proc, size_t *len);
char *serve_metrics_json(struct serve *sv, uint64_t now_ms, size_t *len);

/* What one scrape shows: serve's figures at one instant. The renderings
 * below are pure over it (tests and bench/bench_metrics build one by
 * hand). A mirror's database is dbs[its database_index] (none when out
 * of range: its commit index and lag then read 0). */
struct serve_metrics_model {
	uint16_t port;
	unsigned connections, handshakes;
	uint64_t tls_reloads;
	struct transport_server_refusals conn;
	struct serve_refused req;
	const struct serve_database_stat *dbs;
	size_t ndbs;
	const struct serve_mirror_stat *mirrors;
	size_t nmirrors;
	uint64_t index_hits, index_misses; /* wal_reader_index_cache_stats */
};
/* Fills *m from sv (the arrays malloc'd: serve_metrics_model_free).
 * 0 or MA_ERR_NOMEM. */
int serve_metrics_model_take(struct serve *sv, uint64_t now_ms,
                             struct serve_metrics_model *m);
void serve_metrics_model_free(struct serve_metrics_model *m);
char *serve_metrics_model_prometheus(const struct serve_metrics_model *m,
                                     const struct status_process *proc,
                                     size_t *len);
char *serve_metrics_model_json(const struct serve_metrics_model *m,
                               size_t *len);

#endif
