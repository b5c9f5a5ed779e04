/* serve: the source side of the mirror protocol (docs/PROTOCOL.md). Serves
 * one or more spool directories (spool/spool.h) read-only over HTTP/3:
 *
 *   GET /v1/db/<db>/info
 *   GET /v1/db/<db>/snapshot?index=I&term=T[&offset=O]
 *   GET /v1/db/<db>/log?from=N&prev_term=T
 *
 * Everything runs on the caller's libevent loop (one thread). The spools
 * are written by other processes (the tap); serve follows them through wal
 * readers (inotify, or polling every WAL_READER_POLL_MS without it) and
 * the snapshot store (snapshot_store_open_readonly), and writes nothing
 * into them: spools may be mounted read-only.
 *
 * Request checks, in this order:
 *   400 bad-request  method other than GET, malformed path or query (each
 *                    parameter digits only, no overflow, no duplicates, no
 *                    unknown keys; offset defaults to 0);
 *   403 forbidden    the client identity (transport_request_peer) is not
 *                    granted the database name; given before 404 so that a
 *                    client learns nothing about databases it may not read;
 *   404 not-found    the name is granted (by "*") but not configured, or
 *                    the snapshot (I, T) is no longer held;
 *   503 internal     the spool cannot be read.
 * Log-stream outcomes (compacted, diverged) are `x` frames inside a 200
 * stream that starts with an `s` frame. */
#ifndef MIRROR_AGENT_SERVE_H
#define MIRROR_AGENT_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/serve/serve_request.h"
#include "agent/serve/serve_snapshot.h"
#include "transport/transport.h"

struct event_base;

/* What serve_new() uses for a zero heartbeat interval (ms); the accepted
 * range is agent/config's ([serve] heartbeat_interval). */
#define SERVE_HEARTBEAT_DEFAULT_MS 1000
/* Bytes of encoded log entries gathered before one transport write. */
#define SERVE_LOG_BATCH_DEFAULT (256u * 1024)

/* One served database: its id and the spool directory holding it. The
 * spool's identity file must name the same database id. */
struct serve_database {
	const char *name;
	const char *spool_dir;
};

/* Which databases one client identity may read. identity is the string
 * transport_request_peer() gives (SAN URI, else SAN DNS, else CN); "*"
 * matches any authenticated client and is accepted only with
 * serve_options.allow_any_identity (tests). A database name "*" grants
 * every configured database. Names must otherwise be configured. */
struct serve_grant {
	const char *identity;
	const char *const *databases;
	size_t ndatabases;
};

/* Zero fields take the defaults in brackets (serve_options_init sets them
 * to zero/NULL). Strings and arrays are copied by serve_new. */
struct serve_options {
	const char *listen_addr;    /* numeric IPv4/IPv6 ["127.0.0.1"] */
	uint16_t port;              /* 0 = any; see serve_port() */
	const char *cert_file;      /* required */
	const char *key_file;       /* required */
	const char *client_ca_file; /* required */
	const struct serve_database *databases; /* at least one */
	size_t ndatabases;
	const struct serve_grant *grants;
	size_t ngrants;
	bool allow_any_identity; /* accept a grant for identity "*" */
	/* Snapshot chunk size [SNAPSHOT_CHUNK_DEFAULT]; SNAPSHOT_CHUNK_MIN ..
	 * SNAPSHOT_DATA_MAX_DEFAULT (what mirrors accept). */
	size_t chunk_size;
	/* Log-stream heartbeat interval [SERVE_HEARTBEAT_DEFAULT_MS]. */
	uint32_t heartbeat_ms;
	/* Log entries gathered per transport write [SERVE_LOG_BATCH_DEFAULT];
	 * 4 KiB .. 16 MiB. */
	size_t log_batch_bytes;
	/* Transport (see transport.h): unacknowledged response bytes per
	 * stream [4 MiB], connections [64], concurrent requests per
	 * connection [100], windows, congestion control, idle timeout. */
	size_t max_unacked;
	uint32_t max_connections;
	uint32_t max_streams;
	/* Handshakes in progress: in total, per client IP, time allowed. */
	uint32_t max_handshakes, max_handshakes_per_addr;
	uint32_t handshake_timeout_ms;
	struct transport_tuning tuning;
	/* Source protection (0: no limit / no lease; serve_options_init sets
	 * the schema's defaults): open streams and snapshot streams per
	 * client identity over all its connections, refused past the cap
	 * with 503 unavailable; and the snapshot lease, after which a
	 * snapshot stream that made no progress is reset and its pin
	 * dropped. */
	uint32_t max_streams_per_identity;
	uint32_t max_snapshot_streams_per_identity;
	uint32_t snapshot_lease_ms;
	/* zstd level of snapshot chunks for mirrors that ask for it (the
	 * request's encodings); 0: off, and info offers no encoding. */
	int compression_level;
	/* Test builds only (--enable-fault-injection): damage snapshot
	 * streams on purpose, so tests can check that mirrors reject each
	 * kind of bad input cleanly. SERVE_FAULT_NONE otherwise. */
	enum serve_fault fault;
};

struct serve; /* opaque */

struct config_serve;

/* Zeroes opts, then sets the tuning fields (chunk size, heartbeat, log
 * batch, unacked bytes, connection and stream limits, windows, idle
 * timeout, congestion control) from cs, a [serve] section already
 * checked by agent/config, or from the schema's defaults when cs is NULL:
 * the table in agent/config/config_schema.c is the one home of their
 * defaults and ranges, and serve_new() does not check them again. */
void serve_options_init(struct serve_options *opts,
                        const struct config_serve *cs);

/* Checks opts, opens every spool (identity, snapshot store, WAL reader)
 * and starts serving on base. Every spool must have a readable identity
 * whose database_id equals the configured name and whose cluster_id is a
 * UUID. Returns 0 or:
 *   MA_ERR_CONFIG   bad option (errmsg names it and the value);
 *   MA_ERR_IDENTITY a spool's identity names another database;
 *   MA_ERR_NOTFOUND a spool has no identity file;
 *   MA_ERR_CORRUPT  an identity file or the WAL is damaged;
 *   MA_ERR_TLS      unreadable certificate, key or CA;
 *   MA_ERR_IO, MA_ERR_NOMEM. */
int serve_new(struct event_base *base, const struct serve_options *opts,
              struct serve **out, char *errmsg);
/* Closes every connection (CONNECTION_CLOSE), ends open requests,
 * releases snapshot pins and readers, and frees sv. NULL is fine. Must not
 * be called from inside a transport callback. */
void serve_free(struct serve *sv);
/* Replaces the grants (SIGHUP reloading [access]), checked as
 * serve_new checks them; on an error nothing changes. Connections stay
 * up: requests are judged by the new grants from now on, and an open log
 * or snapshot stream whose identity may no longer read its database is
 * ended (a log stream with an `x` forbidden frame, a snapshot stream with
 * a reset). *revoked (may be NULL) gets how many were ended. 0,
 * MA_ERR_CONFIG (errmsg names the grant), MA_ERR_NOMEM. */
int serve_set_grants(struct serve *sv, const struct serve_grant *grants,
                     size_t ngrants, bool allow_any_identity, unsigned *revoked,
                     char *errmsg);
/* The bound UDP port (after binding port 0). */
uint16_t serve_port(const struct serve *sv);
/* WAL readers opened for log streams so far (tests, metrics): a log
 * stream reuses the reader of an ended one when it can. */
uint64_t serve_reader_opens(const struct serve *sv);
/* Open requests (tests, metrics). */
unsigned serve_streams(const struct serve *sv);

/* What one open request holds in memory for a slow reader. */
struct serve_stream_stat {
	const char *path; /* as requested; valid until the loop runs again */
	/* Encoded here but not yet accepted by the transport: bounded by
	 * one log batch (log_batch_bytes) plus one frame, or one chunk
	 * envelope, since serve encodes nothing more while a write waits
	 * for on_writable. */
	size_t pending;
	/* Accepted by the transport and not yet acknowledged by the client:
	 * at most max_unacked (transport_response_unacked). */
	size_t unacked;
};

/* The i-th open request (0 <= i < serve_streams(sv), in no particular
 * order) into *out (tests, metrics). false past the last. */
bool serve_stream_stat(const struct serve *sv, unsigned i,
                       struct serve_stream_stat *out);

/* ---- observability: serve_metrics.h formats these ---- */

/* Re-reads the certificate chain, key and client CA (SIGHUP) into a new
 * TLS context for the handshakes from now on; established connections
 * keep theirs. The caller checks the files first (transport_cert_check);
 * this repeats the handshake's own checks (v1, key mismatch, unreadable).
 * 0 or MA_ERR_TLS (nothing changed, errmsg says why). */
int serve_reload_tls(struct serve *sv, const char *cert_file,
                     const char *key_file, const char *client_ca_file,
                     char *errmsg);
/* Successful serve_reload_tls() calls. */
uint64_t serve_tls_reloads(const struct serve *sv);
/* Live QUIC connections (handshaking or established) and handshakes. */
unsigned serve_connections(const struct serve *sv);
unsigned serve_handshakes(const struct serve *sv);

/* Requests refused by serve itself since it started, by reason. */
struct serve_refused {
	uint64_t bad_request;    /* 400: not a request of the protocol */
	uint64_t forbidden;      /* 403: identity not granted the database */
	uint64_t not_found;      /* 404: database not served */
	uint64_t identity_limit; /* 503: per-identity stream caps */
};
struct transport_server_refusals;
void serve_refusals(const struct serve *sv, struct serve_refused *req,
                    struct transport_server_refusals *conn);

struct serve_database_stat {
	const char *name;
	bool tail_ok;          /* the log's end could be read just now */
	uint64_t commit_index; /* last index in the spool's log (0: empty) */
	uint64_t first_index;  /* first retained index (0: none) */
	unsigned log_streams;
};
size_t serve_database_count(const struct serve *sv);
/* Database i (refreshes its log's end, rate-limited). false past the
 * last. Strings live as long as sv. */
bool serve_database_stat(struct serve *sv, size_t i,
                         struct serve_database_stat *out);

/* One mirror's open log or snapshot stream. */
struct serve_mirror_stat {
	const char *identity; /* from its certificate */
	const char *database;
	size_t database_index; /* i of serve_database_stat(sv, i, ...) */
	bool snapshot;         /* a snapshot stream, else a log stream */
	struct sockaddr_storage addr;
	socklen_t addrlen;       /* 0: unknown */
	uint64_t age_ms;         /* since the request arrived */
	uint64_t contact_age_ms; /* since the mirror last acknowledged data
	                            (seen every heartbeat interval and at
	                            each call) */
	uint64_t bytes_sent;     /* body bytes handed to the transport */
	size_t unacked;          /* of which not acknowledged yet */
	/* log stream */
	uint64_t requested_from;    /* the request's from= */
	uint64_t sent_index;        /* last entry sent (0: none yet) */
	uint64_t reservation_index; /* written for it (serve_reserve.h) */
	bool has_headroom;          /* the mirror told its retention headroom */
	uint64_t headroom_s;
	/* snapshot stream */
	uint64_t snapshot_index, snapshot_size;
};
/* A walk over the open log and snapshot streams (info requests are not
 * listed), in no particular order: zero it, then call
 * serve_mirror_stat_next until it returns false (past the last). Each
 * call is O(1) (a scrape of N mirrors costs O(N), not the O(N^2) of
 * asking for the i-th). Valid, like the strings it gives, until the loop
 * runs again. */
struct serve_mirror_iter {
	void *next; /* the next stream to look at */
	bool started;
};
bool serve_mirror_stat_next(struct serve *sv, struct serve_mirror_iter *it,
                            struct serve_mirror_stat *out, uint64_t now_ms);

#endif
