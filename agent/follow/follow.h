/* The mirror side: follows one or more databases of a source over one
 * QUIC connection (transport/), bootstrapping each from the source's
 * snapshot (snapshot/ receiver) and then tailing its committed log into
 * the local wal, per docs/PROTOCOL.md and the states of
 * agent/follow/mirror_state.h.
 *
 * Local layout per database: <data_dir>/<database>/ in spool layout
 * (spool/spool.h), so a mirror's directory can itself be served.
 *
 * Runs on a caller-owned libevent loop. follow.c is the glue (loop,
 * timers, transport, endpoint rotation, status file); every protocol
 * decision is made per database by the sans-I/O core of
 * agent/follow/follow_core.h. */
#ifndef MIRROR_AGENT_FOLLOW_H
#define MIRROR_AGENT_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/config/config.h" /* struct config_follow */
#include "agent/follow/follow_checkpoint.h"
#include "agent/follow/follow_refresh.h"
#include "agent/follow/mirror_state.h"
#include "agent/follow/source_view.h"
#include "transport/transport.h"

struct applier;
struct event_base;
struct follow;

#define FOLLOW_MAX_ENDPOINTS 16
#define FOLLOW_MAX_DATABASES 64

struct follow_endpoint {
	char host[64]; /* numeric IPv4/IPv6 address */
	uint16_t port;
	/* The name its certificate must carry; NULL: options' server_name.
	 * Each source's own (as configured, before resolving) unless [tls]
	 * server_name says otherwise. */
	const char *server_name;
	/* The host as the operator wrote it (before resolving; NULL: host):
	 * the name the mirror knows the node by (its incarnation record). */
	const char *name;
};

/* What the progress callback receives: every MiB of a bootstrap (the
 * receiver's progress interval) and on every state change. */
struct follow_progress {
	const char *database;
	enum mirror_state state;
	uint64_t bytes_done, bytes_total;
	uint64_t rate_bytes_per_s;
	uint64_t applied_index, source_commit_index;
	uint64_t lag_entries, lag_ms;
};

typedef void (*follow_progress_cb)(const struct follow_progress *p, void *arg);

struct follow_options {
	const char *data_dir;
	struct follow_endpoint endpoints[FOLLOW_MAX_ENDPOINTS];
	size_t endpoint_count;
	const char *databases[FOLLOW_MAX_DATABASES];
	/* Where each database is kept; NULL means <data_dir>/<name>. */
	const char *directories[FOLLOW_MAX_DATABASES];
	size_t database_count;
	/* TLS: the server must chain to ca_file and carry server_name. */
	const char *server_name;
	const char *ca_file, *cert_file, *key_file;
	uint32_t handshake_timeout_ms, keepalive_ms;
	struct transport_tuning tuning;
	/* Backoff and Degraded thresholds (0 fields take defaults). */
	struct mirror_state_config states;
	/* Freshness of the sources (source_view.h; stale_ms derived from the
	 * probe interval when 0) and the probes of the endpoints not
	 * followed: one at a time, every probe_interval_ms (0: none), each
	 * given up after probe_timeout_ms. */
	struct source_view_config view;
	uint32_t probe_interval_ms, probe_timeout_ms;
	/* Snapshot receive: fsync every N bytes, progress every N bytes. */
	uint64_t snapshot_fsync_interval, progress_interval;
	/* Local wal group commit: sync when this old or this large. */
	uint64_t wal_sync_interval_ms, wal_sync_bytes;
	unsigned wal_sync_budget_pct; /* follow_core_config */
	/* Local checkpoints of kv databases (follow_checkpoint.h). */
	struct follow_checkpoint_config checkpoint;
	/* Background snapshot refresh of none databases (follow_refresh.h). */
	struct follow_refresh_config refresh;
	uint64_t wal_segment_size; /* 0: the wal's default */
	int snapshot_compression;  /* enum follow_compression */
	/* Where status is written every second [<data_dir>/status]. */
	const char *status_file;
	follow_progress_cb on_progress;
	void *progress_arg;
	/* Called once when every database has reached MIRROR_ERROR, so the
	 * caller can stop the loop. May be NULL. */
	void (*on_all_failed)(void *arg);
	/* Applier per database (enum applier_kind, agent/apply/applier.h;
	 * default none), same order as databases[]. */
	int appliers[FOLLOW_MAX_DATABASES];
	/* Called (with progress_arg) whenever database db's applier moved:
	 * entries applied, a restore, a failure. May be NULL. */
	void (*on_applied)(void *arg, size_t db, uint64_t applied_index);
};

/* Zeroes o, then sets the tuning fields (handshake timeout, keep-alive,
 * idle timeout, windows, backoff, Degraded thresholds, wal and snapshot
 * sync) from cf, a [follow] section already checked by agent/config, or
 * from the schema's defaults when cf is NULL: the table in
 * agent/config/config_schema.c is the one home of their defaults and ranges.
 * server_name starts as "localhost"; progress_interval as the
 * receiver's default. */
void follow_options_init(struct follow_options *o,
                         const struct config_follow *cf);

/* Checks options, opens each database's local state (identity, wal,
 * snapshot store, receiver) and starts connecting to the first endpoint.
 * Returns 0, MA_ERR_INVAL / MA_ERR_CONFIG (bad option, named), MA_ERR_IO,
 * MA_ERR_CORRUPT (local wal damaged: names file and offset), MA_ERR_BUSY
 * (another follower holds the data dir), MA_ERR_NOMEM. */
int follow_new(struct event_base *base, const struct follow_options *o,
               struct follow **out, char *errmsg);
/* Stops: syncs every wal (finishing the current fsync), closes the
 * connection gracefully, writes the final status, frees everything. */
void follow_free(struct follow *f);

/* Status of database i (0 .. database_count-1). */
const struct mirror_status *follow_status(const struct follow *f, size_t i);
/* Moves to a fresher endpoint since start, and the reason of the last
 * one ("" before any). */
uint64_t follow_switches(const struct follow *f);
const char *follow_last_switch(const struct follow *f);
/* The freshness view of database i's endpoints (NULL past the end or
 * once stopping). */
const struct source_view *follow_source_view(const struct follow *f, size_t i);
/* The background snapshot refresh of database i (follow_refresh.h; its
 * cfg.distance is 0 when off); NULL past the end or once stopping. */
const struct follow_refresh *follow_refresh_of(const struct follow *f,
                                               size_t i);
/* Configured endpoint i as "host:port" (NULL past the end). */
const char *follow_endpoint_name(const struct follow *f, size_t i);
/* Current endpoint "host:port". */
const char *follow_endpoint(const struct follow *f);
/* True once follow_free has begun: the status written then is the final
 * one (status_report.stopped). */
bool follow_stopping(const struct follow *f);
/* Databases followed, their names (NULL past the end) and appliers. The
 * applier holds the durable entries of the local wal (never more); the
 * caller may query it between loop callbacks, never keep item pointers. */
size_t follow_database_count(const struct follow *f);
const char *follow_database_name(const struct follow *f, size_t i);
struct applier *follow_applier(const struct follow *f, size_t i);
/* The durable end of database i's local wal (the snapshot's index right
 * after a bootstrap; 0 before anything is held or past the end). */
uint64_t follow_log_index(const struct follow *f, size_t i);

/* Removes a database's directory `dir` (identity, wal, snapshots, partial
 * receive) so that the next start bootstraps from scratch and accepts a
 * new source identity (`follow --reseed`). Refuses while a process holds
 * the directory's wal lock (a running follower). The caller holds the
 * data directory's lock (FOLLOW_LOCK_FILE). Returns 0, MA_ERR_BUSY or
 * MA_ERR_IO. */
int follow_reseed(const char *dir, char *errmsg);

/* One follower per data directory: `follow` holds an exclusive flock on
 * data_dir/FOLLOW_LOCK_FILE from before --reseed until it exits, so a
 * second follower (or a --reseed while one runs) is refused before it
 * touches anything (status file, database directories). */
#define FOLLOW_LOCK_FILE "follow.lock"
/* Creates data_dir if needed and takes the lock; *fd stays open (close it
 * to release). 0, MA_ERR_BUSY (held: errmsg says so), MA_ERR_IO. */
int follow_lock_data_dir(const char *data_dir, int *fd, char *errmsg);

#endif
