/* Configuration of `mirror-agent serve` (source side) and `mirror-agent
 * follow` (mirror side): an INI file read with inih, every value checked,
 * command-line overrides applied through the same checks.
 *
 * The schema (sections, keys, defaults, ranges) is documented key by key in
 * etc/mirror-agent.conf.example (follow) and
 * etc/mirror-agent-serve.conf.example (serve); the table in
 * agent/config/config_schema.c is the single source of the defaults and
 * ranges. The file reader is config_file.c, the role checks
 * config_role.c.
 *
 * Sections: [agent], [tls], [serve], [follow], [database "NAME"] (NAME
 * matches [A-Za-z0-9._-]{1,64}, not "." or ".."), [access "IDENTITY"]
 * (serve: which client certificate may read which databases).
 *
 * Values: durations take a unit (ms, s, min, h; a bare number means
 * milliseconds), sizes take a binary unit (B, KiB, MiB, GiB, TiB; a bare
 * number means bytes), lists are comma separated and may continue on
 * indented lines, endpoints are host:port with IPv6 in brackets. Unknown
 * sections and keys, repeated keys and repeated sections are errors.
 *
 * Use:
 *	struct agent_config cfg;
 *	struct config_errors errs;
 *	config_load(path, &cfg, 0, &errs);          parse, check every value
 *	config_set(&cfg, "follow.sources", v, errmsg);   each --set override
 *	config_validate_role(&cfg, CONFIG_ROLE_FOLLOW, &errs);
 *	... on any error: config_errors_print(&errs, stderr);
 *	config_free(&cfg);
 *
 * Every error reads "FILE:LINE: [section] key: what is wrong", or
 * "--set section.key: ..." for an override. */
#ifndef MIRROR_AGENT_CONFIG_H
#define MIRROR_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/parse.h"

#define CONFIG_MAX_ERRORS 32           /* errors kept; later ones are counted */
#define CONFIG_HOST_MAX PARSE_HOST_MAX /* DNS name limit */
#define CONFIG_DATABASE_NAME_MAX 64    /* [A-Za-z0-9._-]{1,64} */
#define CONFIG_IDENTITY_MAX 255
#define CONFIG_MAX_DATABASES 256
#define CONFIG_MAX_ACCESS 256
#define CONFIG_MAX_SOURCES 16
#define CONFIG_MAX_LIST 256        /* items in one list value */
#define CONFIG_SECTION_MAX_KEYS 64 /* keys in the largest section */

/* Flags for config_load(). */
enum {
	/* Check values only, not the filesystem: paths must still be
	 * absolute, but TLS files, spool directories and the progress hook
	 * need not exist. For checking a file on another host, and for the
	 * examples in etc/ whose TLS paths live under /etc/mirror-agent. */
	CONFIG_NO_FS_CHECKS = 1u << 0,
};

/* Roles, as a bit set for config_validate_role(). */
enum config_role {
	CONFIG_ROLE_SERVE = 1u << 0,
	CONFIG_ROLE_FOLLOW = 1u << 1,
};

enum config_cc {
	CONFIG_CC_CUBIC,
	CONFIG_CC_RENO,
	CONFIG_CC_BBR,
	CONFIG_CC_BBR2, /* an alias of bbr since ngtcp2 1.x (one BBR) */
};

/* [follow] snapshot_compression: whether to ask sources for zstd chunks. */
enum config_compression {
	CONFIG_COMPRESSION_AUTO, /* when the connection's RTT says WAN */
	CONFIG_COMPRESSION_ZSTD, /* whenever the source offers it */
	CONFIG_COMPRESSION_NONE, /* never */
};

enum config_applier {
	CONFIG_APPLIER_NONE, /* keep the log and snapshots only */
	CONFIG_APPLIER_KV,   /* apply to the read-only key-value copy */
};

/* host:port. host holds a DNS name or an IP literal without brackets;
 * an empty host means "not set" (optional endpoints). Port 0 (listen
 * addresses only) asks the kernel for a free port. */
struct config_endpoint {
	char host[CONFIG_HOST_MAX + 1];
	uint16_t port;
};

struct config_endpoint_list {
	struct config_endpoint *v;
	size_t n;
};

struct config_name_list {
	char **v;
	size_t n;
};

/* Where a section and each of its keys came from, for error messages:
 * 0 not given (default), > 0 line in the file, -1 a config_set() override.
 * key_bad marks a key that was given but rejected (already reported), so
 * that later checks neither call it missing nor use its value. Internal to
 * agent/config/; other modules read the values only. */
struct config_origin {
	int section_line;
	int key_line[CONFIG_SECTION_MAX_KEYS];
	unsigned char key_bad[CONFIG_SECTION_MAX_KEYS];
};

/* [agent]: role-independent. */
struct config_agent {
	char *data_dir; /* default /var/lib/mirror-agent */
	char *log_file; /* NULL: stderr (the journal under systemd) */
	int log_level;  /* enum log_level, default info */
	int log_format; /* enum log_format, default text */
	struct config_endpoint http_listen; /* IP literal; host "": off */
	char *pid_file;                     /* NULL: none */
	struct config_origin origin;
};

/* [tls]: serve uses cert/key as its server certificate and ca_file to
 * verify client certificates (mutual TLS); follow uses cert/key as its
 * client certificate and ca_file to verify the source. */
struct config_tls {
	char *ca_file;
	char *cert_file;
	char *key_file;
	char *server_name; /* follow: expected name; NULL: the source's host */
	struct config_origin origin;
};

/* [serve] */
struct config_serve {
	bool present;
	struct config_endpoint listen; /* IP literal; port 0: any */
	uint64_t max_connections;
	uint64_t max_streams_per_connection;
	uint64_t max_handshakes;             /* in progress, in total */
	uint64_t max_handshakes_per_address; /* in progress, per client IP */
	uint64_t handshake_timeout_ms;
	uint64_t idle_timeout_ms;
	uint64_t chunk_size;
	uint64_t heartbeat_interval_ms;
	uint64_t log_batch_bytes;   /* log bytes per transport write */
	uint64_t max_unacked_bytes; /* per stream */
	uint64_t connection_window;
	uint64_t stream_window;
	int congestion_control;                     /* enum config_cc */
	uint64_t max_streams_per_identity;          /* all connections */
	uint64_t max_snapshot_streams_per_identity; /* pins per identity */
	uint64_t snapshot_lease_ms; /* no progress: unpin and reset */
	/* serve's /metrics and /status (agent/serve/serve_metrics.h). */
	struct config_endpoint metrics_listen; /* IP literal; host "": off */
	char metrics_token_sha256[65];         /* "": none */
	/* zstd level of snapshot chunks for mirrors that ask; 0: off. */
	uint64_t snapshot_compression_level;
	struct config_origin origin;
};

/* [follow] */
struct config_follow {
	bool present;
	/* The read API's limits and its status token (agent/readapi/). */
	uint64_t http_max_connections;
	uint64_t http_max_connections_per_address;
	uint64_t http_header_timeout_ms;
	uint64_t http_body_timeout_ms;
	uint64_t http_max_waiters;
	uint64_t http_max_response;
	uint64_t http_scan_max_items;
	char http_status_token_sha256[65];   /* "": none */
	struct config_endpoint_list sources; /* tried in order, then wrap */
	uint64_t connect_timeout_ms;         /* QUIC + TLS handshake */
	uint64_t idle_timeout_ms;
	uint64_t keepalive_ms; /* 0: off */
	uint64_t backoff_min_ms;
	uint64_t backoff_max_ms;
	uint64_t degraded_lag_entries; /* 0: off */
	uint64_t degraded_lag_time_ms; /* 0: off */
	uint64_t degraded_silence_ms;  /* 0: off */
	uint64_t degraded_headroom_ms; /* 0: off (retention headroom) */
	/* Freshness of the sources (agent/follow/source_view.h). */
	uint64_t source_probe_interval_ms; /* 0: no probes */
	uint64_t source_probe_timeout_ms;
	uint64_t source_lag_entries; /* 0: no lag rule */
	uint64_t source_lag_grace_ms;
	uint64_t source_leader_silence_ms; /* 0: no leader rule */
	uint64_t source_switch_hold_ms;
	uint64_t wal_sync_interval_ms; /* 0: fsync every batch */
	uint64_t wal_sync_bytes;
	uint64_t
	    wal_sync_budget; /* % of time in fdatasync (commit on arrival) */
	uint64_t snapshot_sync_bytes;
	uint64_t connection_window;
	uint64_t stream_window;
	char *progress_hook; /* NULL: none */
	uint64_t progress_log_bytes;
	/* Local checkpoints (agent/follow/follow_checkpoint.h); 0: off. */
	uint64_t checkpoint_entries;
	uint64_t checkpoint_bytes;
	uint64_t checkpoint_interval_ms;
	uint64_t checkpoint_keep;     /* local snapshots kept */
	uint64_t checkpoint_wal_keep; /* wal entries kept behind one */
	/* Budget of downstream mirrors' reservations in this mirror's
	 * directories (cascade; published beside them for serve). */
	uint64_t reserve_max_bytes;
	uint64_t reserve_max_age_ms;
	/* Background snapshot refresh (applier none). */
	uint64_t refresh_distance;
	uint64_t refresh_rate;
	uint64_t refresh_check_ms;
	uint64_t wal_segment_size;
	int snapshot_compression; /* enum config_compression */
	struct config_origin origin;
};

/* [database "NAME"] */
struct config_database {
	char name[CONFIG_DATABASE_NAME_MAX + 1];
	char *spool;     /* serve: the tap's spool directory (required) */
	char *directory; /* follow: NULL until config_validate_role() sets
	                    the default DATA_DIR/NAME */
	int applier;     /* enum config_applier */
	/* follow: SHA-256 (hex) of the bearer token that may read it through
	 * the read API; "": none (refused when the API is authenticated). */
	char read_token_sha256[65];
	struct config_origin origin;
};

/* [access "IDENTITY"]: the client whose certificate names IDENTITY may
 * read the listed databases ("*" in the list: every database). */
struct config_access {
	char *identity;
	struct config_name_list databases;
	struct config_origin origin;
};

struct agent_config {
	char *path;     /* file given to config_load(), for messages */
	unsigned flags; /* CONFIG_NO_FS_CHECKS, kept for config_set() */
	struct config_agent agent;
	struct config_tls tls;
	struct config_serve serve;
	struct config_follow follow;
	struct config_database *databases;
	size_t n_databases;
	struct config_access *access;
	size_t n_access;
};

/* Error list filled by config_load() and config_validate_role(). Up to
 * CONFIG_MAX_ERRORS messages are kept in order; `dropped` counts the rest. */
struct config_errors {
	unsigned count;
	unsigned dropped;
	char msg[CONFIG_MAX_ERRORS][MA_ERRMSG_SIZE];
};

/* Empties an error list. */
void config_errors_init(struct config_errors *errs);

/* Prints every kept message on its own line, then "... and N more errors"
 * when some were dropped. */
void config_errors_print(const struct config_errors *errs, FILE *out);

/* Fills cfg with the defaults (no file, no databases, no [serve] or
 * [follow] section). Returns 0 or MA_ERR_NOMEM; config_free() is safe
 * after either. */
int config_init(struct agent_config *cfg);

/* Releases everything cfg owns and leaves it zeroed. cfg may be zeroed or
 * half-loaded. */
void config_free(struct agent_config *cfg);

/* Initialises cfg (config_init(); so cfg must not hold a configuration:
 * config_free() it first) and reads the INI file at path into it,
 * checking every value: type, range, unit, enum, host:port, name syntax,
 * absolute paths and, unless flags has CONFIG_NO_FS_CHECKS, that TLS files
 * are readable regular files (a key file must not be readable by others),
 * spool directories exist and the progress hook is executable. Unknown
 * sections and keys, repeated keys and sections, and lines longer than
 * inih's line buffer are errors. Required keys and relations between keys
 * are left to config_validate_role().
 *
 * errs is emptied first and receives every error (up to the bound).
 * Returns 0, MA_ERR_CONFIG (errors in errs), MA_ERR_IO (cannot open or
 * read the file; also in errs) or MA_ERR_NOMEM. cfg must be released with
 * config_free() whatever the result. */
int config_load(const char *path, struct agent_config *cfg, unsigned flags,
                struct config_errors *errs);

/* Applies one override "section.key" = value (value not NULL; "" is
 * rejected like an empty value in the file) with the same checks as a
 * line of the file, replacing any earlier value (a list is replaced, not
 * extended). Named sections are addressed as "database.NAME.key" and
 * "access.IDENTITY.key" (the last dot separates the key) and are created
 * when missing; naming [serve] or [follow] makes that section present.
 * Returns 0 or MA_ERR_CONFIG / MA_ERR_NOMEM with errmsg
 * (MA_ERRMSG_SIZE bytes) reading "--set section.key: what is wrong". */
int config_set(struct agent_config *cfg, const char *name, const char *value,
               char *errmsg);

/* Checks what the roles in `roles` (CONFIG_ROLE_* bits) need: their
 * sections and required keys ([tls] ca_file/cert_file/key_file; serve:
 * [serve] listen, a spool per database, at least one [access] whose
 * databases exist; follow: [follow] sources), at least one database, and
 * the relations between keys (stream_window <= connection_window,
 * chunk_size <= max_unacked_bytes, backoff_min <= backoff_max, keepalive <
 * idle_timeout, distinct spool and database directories). For follow it
 * also sets each database's default directory (DATA_DIR/NAME).
 * Appends to errs (does not empty it). Returns 0, MA_ERR_CONFIG or
 * MA_ERR_NOMEM. */
int config_validate_role(struct agent_config *cfg, unsigned roles,
                         struct config_errors *errs);

/* Looks up a database section by name; NULL when absent. */
struct config_database *config_database_find(const struct agent_config *cfg,
                                             const char *name);

/* The access rule, the one function both serve (agent/serve/serve.c, for
 * every request) and config_access_allows() apply: the grant whose
 * identity is grant_identity and whose databases are dbs[0..n) lets the
 * client `identity` read database `name` when
 *   - grant_identity equals identity, or is "*" (any authenticated
 *     client: serve accepts such a grant only with allow_any_identity,
 *     for tests, and config_validate_role() refuses [access "*"]), and
 *   - dbs holds name, or "*" (every database configured; serve still
 *     answers 404 for a name it does not serve).
 * Comparisons are exact and case-sensitive; "*" is no pattern inside a
 * longer string. A NULL or empty identity or name is never allowed. */
bool config_access_grant_allows(const char *grant_identity,
                                const char *const *dbs, size_t n,
                                const char *identity, const char *name);

/* True when some [access] section lets the client `identity` read
 * database `name` (config_access_grant_allows()). */
bool config_access_allows(const struct agent_config *cfg, const char *identity,
                          const char *name);

/* The table's defaults of the [serve] and [follow] sections, for library
 * callers that have no configuration (serve_options_init(),
 * follow_options_init() with a NULL section). Neither section has a
 * default that needs memory, so these cannot fail; list and string
 * fields come out empty. */
void config_serve_defaults(struct config_serve *out);
void config_follow_defaults(struct config_follow *out);

/* What kind of value a key takes (config_key_info). */
enum config_kind {
	CONFIG_KIND_NUMBER,   /* whole number */
	CONFIG_KIND_SIZE,     /* bytes, binary units */
	CONFIG_KIND_DURATION, /* milliseconds, ms/s/min/h */
	CONFIG_KIND_ENUM,
	CONFIG_KIND_OTHER, /* path, host, endpoint(s), names */
};

/* One key of the schema, as the table holds it. */
struct config_key_info {
	const char *name; /* "serve.chunk_size"; named sections as
	                     "database.spool", "access.databases" */
	enum config_kind kind;
	uint64_t min, max; /* numeric kinds: the accepted range */
	bool zero_ok;      /* numeric kinds: 0 (off) accepted below min */
	const char *const *enums; /* CONFIG_KIND_ENUM: names, NULL-ended */
	const char *defval;       /* NULL: no default */
};

/* The i-th key of the schema into *out; false past the last key. */
bool config_key_info_at(size_t i, struct config_key_info *out);
/* The key named `name` ("serve.chunk_size", "database.spool"); false
 * when there is none. */
bool config_key_info_find(const char *name, struct config_key_info *out);

/* The schema, for documentation checks: the i-th key as "section.key"
 * (named sections as "database.key", "access.key"), with its default in
 * *defval ("" when it has none). Returns NULL past the last key. */
const char *config_key_name(size_t i, const char **defval);

#endif
