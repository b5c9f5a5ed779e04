/* The configuration schema: the table of keys (the one home of their
 * defaults and ranges), checking and storing a value, error reports,
 * config_init/free/set and what the CLI and tests ask of the table. The
 * file reader is config_file.c, the role checks config_role.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/config/config.h"
#include "agent/config/config_int.h"

#include "common/parse.h"

const char *const cfg_sec_names[] = {
    [SEC_NONE] = "",         [SEC_AGENT] = "agent",
    [SEC_TLS] = "tls",       [SEC_SERVE] = "serve",
    [SEC_FOLLOW] = "follow", [SEC_DATABASE] = "database",
    [SEC_ACCESS] = "access", [SEC_IGNORE] = "",
};

static const char *const log_levels[] = {"debug", "info", "warn", "error",
                                         NULL};
static const char *const log_formats[] = {"text", "journal", "json", NULL};
_Static_assert(LOG_FORMAT_TEXT == 0 && LOG_FORMAT_JOURNAL == 1 &&
                   LOG_FORMAT_JSON == 2,
               "log_formats[] follows enum log_format");
static const char *const cc_names[] = {"cubic", "reno", "bbr", "bbr2", NULL};
static const char *const applier_names[] = {"none", "kv", NULL};
static const char *const compression_names[] = {"auto", "zstd", "none", NULL};

/* An enum key stores the index of its name in these lists. */
_Static_assert(LOG_LEVEL_DEBUG == 0 && LOG_LEVEL_INFO == 1 &&
                   LOG_LEVEL_WARN == 2 && LOG_LEVEL_ERROR == 3,
               "log_levels[] follows enum log_level");
_Static_assert(CONFIG_CC_CUBIC == 0 && CONFIG_CC_RENO == 1 &&
                   CONFIG_CC_BBR == 2 && CONFIG_CC_BBR2 == 3,
               "cc_names[] follows enum config_cc");
_Static_assert(CONFIG_APPLIER_NONE == 0 && CONFIG_APPLIER_KV == 1,
               "applier_names[] follows enum config_applier");
_Static_assert(CONFIG_COMPRESSION_AUTO == 0 && CONFIG_COMPRESSION_ZSTD == 1 &&
                   CONFIG_COMPRESSION_NONE == 2,
               "compression_names[] follows enum config_compression");

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)
#define TiB (1024ull * GiB)
#define SEC_MS 1000ull
#define MIN_MS (60 * SEC_MS)
#define HOUR_MS (60 * MIN_MS)

#define KEY(s, st, n, t, fld, lo, hi, fl, en, dv)                              \
	{                                                                      \
		SEC_##s, #n, #st "." #n, t, offsetof(struct config_##st, fld), \
		    lo, hi, fl, en, dv                                         \
	}

/* The schema. Defaults and ranges live here only; the example files in
 * etc/ document them (a unit test checks that each key appears there). */
const struct key_def cfg_keys[] = {
    KEY(AGENT, agent, data_dir, T_DIR, data_dir, 0, 0, 0, NULL,
        "/var/lib/mirror-agent"),
    KEY(AGENT, agent, log_file, T_PATH, log_file, 0, 0, 0, NULL, NULL),
    KEY(AGENT, agent, log_level, T_ENUM, log_level, 0, 0, 0, log_levels,
        "info"),
    KEY(AGENT, agent, log_format, T_ENUM, log_format, 0, 0, 0, log_formats,
        "text"),
    KEY(AGENT, agent, http_listen, T_ENDPOINT, http_listen, 0, 0,
        K_NUMERIC | K_PORT0, NULL, NULL),
    KEY(AGENT, agent, pid_file, T_PATH, pid_file, 0, 0, 0, NULL, NULL),
    KEY(TLS, tls, ca_file, T_FILE, ca_file, 0, 0, 0, NULL, NULL),
    KEY(TLS, tls, cert_file, T_FILE, cert_file, 0, 0, 0, NULL, NULL),
    KEY(TLS, tls, key_file, T_KEYFILE, key_file, 0, 0, 0, NULL, NULL),
    KEY(TLS, tls, server_name, T_HOST, server_name, 0, 0, 0, NULL, NULL),

    KEY(SERVE, serve, listen, T_ENDPOINT, listen, 0, 0, K_NUMERIC | K_PORT0,
        NULL, NULL),
    KEY(SERVE, serve, max_connections, T_UINT, max_connections, 1, 100000, 0,
        NULL, "64"),
    KEY(SERVE, serve, max_streams_per_connection, T_UINT,
        max_streams_per_connection, 1, 10000, 0, NULL, "100"),
    /* Handshakes count apart from max_connections (transport.h), so
     * clients that never finish one cannot starve the mirrors. */
    KEY(SERVE, serve, max_handshakes, T_UINT, max_handshakes, 1, 100000, 0,
        NULL, "16"),
    KEY(SERVE, serve, max_handshakes_per_address, T_UINT,
        max_handshakes_per_address, 1, 100000, 0, NULL, "4"),
    KEY(SERVE, serve, handshake_timeout, T_DURATION, handshake_timeout_ms, 100,
        10 * MIN_MS, 0, NULL, "5s"),
    KEY(SERVE, serve, idle_timeout, T_DURATION, idle_timeout_ms, SEC_MS,
        10 * MIN_MS, 0, NULL, "30s"),
    /* The minimum is snapshot.h's SNAPSHOT_CHUNK_MIN; the maximum is what
     * a mirror's decoder accepts (SNAPSHOT_DATA_MAX_DEFAULT). */
    KEY(SERVE, serve, chunk_size, T_SIZE, chunk_size, 512, 1 * MiB, 0, NULL,
        "256KiB"),
    KEY(SERVE, serve, heartbeat_interval, T_DURATION, heartbeat_interval_ms, 10,
        10 * MIN_MS, 0, NULL, "1s"),
    KEY(SERVE, serve, log_batch, T_SIZE, log_batch_bytes, 4 * KiB, 16 * MiB, 0,
        NULL, "256KiB"),
    KEY(SERVE, serve, max_unacked_bytes, T_SIZE, max_unacked_bytes, 64 * KiB,
        4 * GiB, 0, NULL, "4MiB"),
    KEY(SERVE, serve, connection_window, T_SIZE, connection_window, 64 * KiB,
        GiB, 0, NULL, "16MiB"),
    KEY(SERVE, serve, stream_window, T_SIZE, stream_window, 64 * KiB, GiB, 0,
        NULL, "16MiB"),
    KEY(SERVE, serve, congestion_control, T_ENUM, congestion_control, 0, 0, 0,
        cc_names, "bbr"),
    /* Source protection (issue 9). One mirror identity uses one log
     * stream and at most one snapshot stream per database plus short info
     * requests; the caps leave room for a reconnect overlapping the old
     * connection and stop one identity from taking every slot. */
    KEY(SERVE, serve, max_streams_per_identity, T_UINT,
        max_streams_per_identity, 1, 100000, 0, NULL, "256"),
    /* Each snapshot stream pins a snapshot file: a few per identity is
     * enough to bootstrap several databases at once. */
    KEY(SERVE, serve, max_snapshot_streams_per_identity, T_UINT,
        max_snapshot_streams_per_identity, 1, 10000, 0, NULL, "8"),
    /* A snapshot stream that hands the transport no byte for this long
     * (the mirror stopped reading) loses its pin and is reset, so that
     * retention proceeds; the mirror resumes from its durable offset. */
    KEY(SERVE, serve, snapshot_lease, T_DURATION, snapshot_lease_ms, 100,
        HOUR_MS, 0, NULL, "60s"),
    /* serve's own /metrics and /status (issue 13): off unless set;
     * loopback unless a token is set (serve_metrics_new refuses). */
    KEY(SERVE, serve, metrics_listen, T_ENDPOINT, metrics_listen, 0, 0,
        K_NUMERIC | K_PORT0, NULL, NULL),
    KEY(SERVE, serve, metrics_token_sha256, T_SHA256, metrics_token_sha256, 0,
        0, 0, NULL, NULL),
    /* zstd per snapshot chunk for mirrors that ask (issue 12 item 8;
     * bench/bench_compress.sh chose level 3); 0 turns it off. */
    KEY(SERVE, serve, snapshot_compression_level, T_UINT,
        snapshot_compression_level, 1, 19, K_ZERO_OK, NULL, "3"),

    /* The read API (issue 13; docs/OPERATIONS.md "Reading from the
     * mirror"). The connection caps stay below the descriptor limit (the
     * API uses at most half of RLIMIT_NOFILE), so that a flood of clients
     * cannot starve the follower of descriptors for its wal and TLS. */
    KEY(FOLLOW, follow, http_max_connections, T_UINT, http_max_connections, 1,
        100000, 0, NULL, "128"),
    KEY(FOLLOW, follow, http_max_connections_per_address, T_UINT,
        http_max_connections_per_address, 1, 100000, 0, NULL, "16"),
    /* A request's head must arrive whole within this from the connection
     * (or the previous answer): slow senders (slowloris) are cut. */
    KEY(FOLLOW, follow, http_header_timeout, T_DURATION, http_header_timeout_ms,
        100, 10 * MIN_MS, 0, NULL, "5s"),
    /* Inactivity while reading a body or writing an answer. */
    KEY(FOLLOW, follow, http_body_timeout, T_DURATION, http_body_timeout_ms,
        SEC_MS, 10 * MIN_MS, 0, NULL, "10s"),
    KEY(FOLLOW, follow, http_max_waiters, T_UINT, http_max_waiters, 1, 100000,
        0, NULL, "1024"),
    KEY(FOLLOW, follow, http_max_response, T_SIZE, http_max_response, 64 * KiB,
        256 * MiB, 0, NULL, "4MiB"),
    KEY(FOLLOW, follow, http_scan_max_items, T_UINT, http_scan_max_items, 1,
        100000, 0, NULL, "1000"),
    KEY(FOLLOW, follow, http_status_token_sha256, T_SHA256,
        http_status_token_sha256, 0, 0, 0, NULL, NULL),

    KEY(FOLLOW, follow, sources, T_ENDPOINTS, sources, 1, CONFIG_MAX_SOURCES, 0,
        NULL, NULL),
    KEY(FOLLOW, follow, connect_timeout, T_DURATION, connect_timeout_ms, 100,
        5 * MIN_MS, 0, NULL, "10s"),
    /* Short enough that a mirror notices a source killed without a
     * goodbye and fails over within seconds (docs/TRANSPORT.md). */
    KEY(FOLLOW, follow, idle_timeout, T_DURATION, idle_timeout_ms, SEC_MS,
        10 * MIN_MS, 0, NULL, "10s"),
    KEY(FOLLOW, follow, keepalive, T_DURATION, keepalive_ms, 100, 10 * MIN_MS,
        K_ZERO_OK, NULL, "2s"),
    KEY(FOLLOW, follow, backoff_min, T_DURATION, backoff_min_ms, 10, MIN_MS, 0,
        NULL, "100ms"),
    KEY(FOLLOW, follow, backoff_max, T_DURATION, backoff_max_ms, 100, HOUR_MS,
        0, NULL, "30s"),
    KEY(FOLLOW, follow, degraded_lag_entries, T_UINT, degraded_lag_entries, 1,
        UINT64_C(1) << 62, K_ZERO_OK, NULL, "100000"),
    KEY(FOLLOW, follow, degraded_lag_time, T_DURATION, degraded_lag_time_ms,
        100, 24 * HOUR_MS, K_ZERO_OK, NULL, "30s"),
    KEY(FOLLOW, follow, degraded_silence, T_DURATION, degraded_silence_ms, 100,
        HOUR_MS, K_ZERO_OK, NULL, "15s"),
    KEY(FOLLOW, follow, degraded_headroom, T_DURATION, degraded_headroom_ms,
        SEC_MS, 30 * 24 * HOUR_MS, K_ZERO_OK, NULL, "0"),
    /* Freshness of the sources (issue 8; docs/OPERATIONS.md "Freshness"):
     * probes of the endpoints not followed, and when to move off the
     * followed one. */
    KEY(FOLLOW, follow, source_probe_interval, T_DURATION,
        source_probe_interval_ms, SEC_MS, HOUR_MS, K_ZERO_OK, NULL, "5s"),
    KEY(FOLLOW, follow, source_probe_timeout, T_DURATION,
        source_probe_timeout_ms, 100, MIN_MS, 0, NULL, "3s"),
    KEY(FOLLOW, follow, source_lag_entries, T_UINT, source_lag_entries, 1,
        UINT64_C(1) << 62, K_ZERO_OK, NULL, "1000"),
    KEY(FOLLOW, follow, source_lag_grace, T_DURATION, source_lag_grace_ms, 0,
        HOUR_MS, K_ZERO_OK, NULL, "10s"),
    KEY(FOLLOW, follow, source_leader_silence, T_DURATION,
        source_leader_silence_ms, 100, HOUR_MS, K_ZERO_OK, NULL, "5s"),
    KEY(FOLLOW, follow, source_switch_hold, T_DURATION, source_switch_hold_ms,
        0, HOUR_MS, K_ZERO_OK, NULL, "30s"),
    KEY(FOLLOW, follow, wal_sync_interval, T_DURATION, wal_sync_interval_ms, 1,
        10 * SEC_MS, K_ZERO_OK, NULL, "100ms"),
    KEY(FOLLOW, follow, wal_sync_bytes, T_SIZE, wal_sync_bytes, 4 * KiB, GiB, 0,
        NULL, "4MiB"),
    KEY(FOLLOW, follow, wal_sync_budget, T_UINT, wal_sync_budget, 1, 100, 0,
        NULL, "25"),
    KEY(FOLLOW, follow, snapshot_sync_bytes, T_SIZE, snapshot_sync_bytes,
        64 * KiB, GiB, 0, NULL, "8MiB"),
    KEY(FOLLOW, follow, connection_window, T_SIZE, connection_window, 64 * KiB,
        GiB, 0, NULL, "16MiB"),
    KEY(FOLLOW, follow, stream_window, T_SIZE, stream_window, 64 * KiB, GiB, 0,
        NULL, "16MiB"),
    KEY(FOLLOW, follow, progress_hook, T_EXEC, progress_hook, 0, 0, 0, NULL,
        NULL),
    KEY(FOLLOW, follow, progress_log_every, T_SIZE, progress_log_bytes,
        64 * KiB, TiB, 0, NULL, "1MiB"),
    /* Local checkpoints (issue 10; docs/OPERATIONS.md "Disk"): with a kv
     * applier, a snapshot of the mirror's own state at whichever comes
     * first; the wal is then trimmed behind it. */
    KEY(FOLLOW, follow, checkpoint_entries, T_UINT, checkpoint_entries, 1000,
        UINT64_C(1) << 40, K_ZERO_OK, NULL, "100000"),
    KEY(FOLLOW, follow, checkpoint_bytes, T_SIZE, checkpoint_bytes, MiB, TiB,
        K_ZERO_OK, NULL, "64MiB"),
    KEY(FOLLOW, follow, checkpoint_interval, T_DURATION, checkpoint_interval_ms,
        SEC_MS, 7 * 24 * HOUR_MS, K_ZERO_OK, NULL, "10min"),
    KEY(FOLLOW, follow, checkpoint_keep, T_UINT, checkpoint_keep, 1, 100, 0,
        NULL, "2"),
    KEY(FOLLOW, follow, checkpoint_wal_keep, T_UINT, checkpoint_wal_keep, 0,
        UINT64_C(1) << 40, 0, NULL, "10000"),
    /* Cascade (docs/OPERATIONS.md "Disk planning"): what the trim behind
     * a checkpoint keeps for mirrors served from this mirror's
     * directories, like a tap's reserve_max_* (published beside each
     * directory, so serve there reports their headroom). */
    KEY(FOLLOW, follow, reserve_max_bytes, T_SIZE, reserve_max_bytes, 0,
        1024 * TiB, K_ZERO_OK, NULL, "1GiB"),
    KEY(FOLLOW, follow, reserve_max_age, T_DURATION, reserve_max_age_ms, SEC_MS,
        365 * 24 * HOUR_MS, 0, NULL, "24h"),
    /* Background snapshot refresh (databases with applier = none, which
     * cannot checkpoint): fetch the source's snapshot when it is
     * refresh_distance entries past the newest local one (0: off), at
     * most refresh_rate bytes/s on average (0: unbounded), the source's
     * info asked every refresh_check_interval; then trim the wal as
     * after a checkpoint (checkpoint_keep, checkpoint_wal_keep). */
    KEY(FOLLOW, follow, refresh_distance, T_UINT, refresh_distance, 1000,
        UINT64_C(1) << 40, K_ZERO_OK, NULL, "100000"),
    KEY(FOLLOW, follow, refresh_rate, T_SIZE, refresh_rate, 64 * KiB, TiB,
        K_ZERO_OK, NULL, "32MiB"),
    KEY(FOLLOW, follow, refresh_check_interval, T_DURATION, refresh_check_ms,
        SEC_MS, 24 * HOUR_MS, 0, NULL, "1min"),
    /* The trim behind a checkpoint removes whole segments: the wal holds
     * at most one segment more than the margin. */
    KEY(FOLLOW, follow, wal_segment_size, T_SIZE, wal_segment_size, 64 * KiB,
        GiB, 0, NULL, "16MiB"),
    /* Ask sources for zstd snapshot chunks: auto when the connection's
     * minimum RTT says WAN (FOLLOW_COMPRESSION_AUTO_RTT_MS), zstd
     * always, none never. */
    KEY(FOLLOW, follow, snapshot_compression, T_ENUM, snapshot_compression, 0,
        0, 0, compression_names, "auto"),

    KEY(DATABASE, database, spool, T_DIR_EXIST, spool, 0, 0, 0, NULL, NULL),
    KEY(DATABASE, database, directory, T_DIR, directory, 0, 0, 0, NULL, NULL),
    KEY(DATABASE, database, applier, T_ENUM, applier, 0, 0, 0, applier_names,
        "none"),
    KEY(DATABASE, database, read_token_sha256, T_SHA256, read_token_sha256, 0,
        0, 0, NULL, NULL),

    KEY(ACCESS, access, databases, T_NAMES, databases, 1, CONFIG_MAX_LIST, 0,
        NULL, NULL),
};

const size_t cfg_n_keys = sizeof cfg_keys / sizeof cfg_keys[0];

/* ---- error reporting ---- */

void cfg_sink_add(struct sink *s, const char *prefix, const char *fmt,
                  va_list ap)
{
	char *out;
	size_t len;

	s->n++;
	if (s->errs != NULL) {
		if (s->errs->count >= CONFIG_MAX_ERRORS) {
			s->errs->dropped++;
			return;
		}
		out = s->errs->msg[s->errs->count++];
	} else if (s->errmsg != NULL && s->n == 1) {
		out = s->errmsg;
	} else {
		return;
	}
	len = (size_t)snprintf(out, MA_ERRMSG_SIZE, "%s", prefix);
	if (len < MA_ERRMSG_SIZE)
		vsnprintf(out + len, MA_ERRMSG_SIZE - len, fmt, ap);
}

void cfg_report(struct sink *s, const char *prefix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_sink_add(s, prefix, fmt, ap);
	va_end(ap);
}

const char *cfg_path(const struct agent_config *cfg)
{
	return cfg->path != NULL ? cfg->path : "(command line)";
}

/* Section label for messages: `[follow]`, `[database "kv"]`. */
static void section_label(const struct agent_config *cfg, enum sec sec,
                          size_t idx, char *buf, size_t size)
{
	if (sec == SEC_DATABASE)
		snprintf(buf, size, "[database \"%s\"]",
		         cfg->databases[idx].name);
	else if (sec == SEC_ACCESS)
		snprintf(buf, size, "[access \"%s\"]",
		         cfg->access[idx].identity);
	else
		snprintf(buf, size, "[%s]", cfg_sec_names[sec]);
}

/* Message prefix "FILE:LINE: [section] key: " (line > 0), "FILE: [section]
 * key: " (line 0: not in the file) or "--set section.key: " (line -1). key
 * may be NULL for the section itself. */
static void where(const struct agent_config *cfg, int line, enum sec sec,
                  size_t idx, const char *key, char *buf, size_t size)
{
	char label[CONFIG_IDENTITY_MAX + 16];

	if (line < 0) {
		const char *name =
		    sec == SEC_DATABASE ? cfg->databases[idx].name
		    : sec == SEC_ACCESS ? cfg->access[idx].identity
		                        : NULL;
		snprintf(buf, size, "--set %s%s%s%s%s: ", cfg_sec_names[sec],
		         name != NULL ? "." : "", name != NULL ? name : "",
		         key != NULL ? "." : "", key != NULL ? key : "");
		return;
	}
	section_label(cfg, sec, idx, label, sizeof label);
	if (line > 0)
		snprintf(buf, size, "%s:%d: %s%s%s: ", cfg_path(cfg), line,
		         label, key != NULL ? " " : "", key != NULL ? key : "");
	else
		snprintf(buf, size, "%s: %s%s%s: ", cfg_path(cfg), label,
		         key != NULL ? " " : "", key != NULL ? key : "");
}

void cfg_report_at(struct sink *s, const struct agent_config *cfg, int line,
                   enum sec sec, size_t idx, const char *key, const char *fmt,
                   ...)
{
	char prefix[CONFIG_IDENTITY_MAX + PATH_MAX / 8 + 128];
	va_list ap;

	where(cfg, line, sec, idx, key, prefix, sizeof prefix);
	va_start(ap, fmt);
	cfg_sink_add(s, prefix, fmt, ap);
	va_end(ap);
}

void config_errors_init(struct config_errors *errs)
{
	errs->count = 0;
	errs->dropped = 0;
}

void config_errors_print(const struct config_errors *errs, FILE *out)
{
	for (unsigned i = 0; i < errs->count; i++)
		fprintf(out, "%s\n", errs->msg[i]);
	if (errs->dropped > 0)
		fprintf(out, "... and %u more error%s\n", errs->dropped,
		        errs->dropped == 1 ? "" : "s");
}

/* ---- value parsers: 0 and the value, or -1 and a reason in why ---- */

#define WHY_SIZE PARSE_WHY_SIZE

/* Writes the reason a value is rejected into why (WHY_SIZE bytes) and
 * returns -1, for `return reason(why, "...")`. */
static int reason(char *why, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int reason(char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, WHY_SIZE, fmt, ap);
	va_end(ap);
	return -1;
}

static void format_value(enum type t, uint64_t v, char *buf, size_t size)
{
	if (t == T_SIZE)
		parse_format_size(v, buf, size);
	else if (t == T_DURATION)
		parse_format_duration(v, buf, size);
	else
		snprintf(buf, size, "%llu", (unsigned long long)v);
}

static int parse_number(const struct key_def *d, const char *s, uint64_t *out,
                        char *why)
{
	char lo[32], hi[32];
	uint64_t v;
	int rc;

	if (d->type == T_SIZE)
		rc = parse_size(s, &v, why);
	else if (d->type == T_DURATION)
		rc = parse_duration_ms(s, &v, why);
	else
		rc = parse_uint64(s, &v, why);
	if (rc != 0)
		return -1;
	if ((v == 0 && (d->flags & K_ZERO_OK)) ||
	    (v >= d->min && v <= d->max)) {
		*out = v;
		return 0;
	}
	format_value(d->type, d->min, lo, sizeof lo);
	format_value(d->type, d->max, hi, sizeof hi);
	snprintf(why, WHY_SIZE, "out of range %s%s-%s",
	         (d->flags & K_ZERO_OK) ? "0 (off) or " : "", lo, hi);
	return -1;
}

static int parse_enum(const struct key_def *d, const char *s, int *out,
                      char *why)
{
	size_t len = 0;

	for (int i = 0; d->enums[i] != NULL; i++) {
		if (strcmp(s, d->enums[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	len = (size_t)snprintf(why, WHY_SIZE, "expected one of ");
	for (int i = 0; d->enums[i] != NULL && len < WHY_SIZE; i++)
		len += (size_t)snprintf(why + len, WHY_SIZE - len, "%s%s",
		                        i > 0 ? ", " : "", d->enums[i]);
	return -1;
}

/* An endpoint value (common/parse.h) into the config's own struct. */
static int get_endpoint(const char *s, unsigned kflags,
                        struct config_endpoint *out, char *why)
{
	struct parse_endpoint ep;
	unsigned flags = 0;

	_Static_assert(sizeof out->host == sizeof ep.host,
	               "config_endpoint holds any parse_endpoint host");
	if (kflags & K_NUMERIC)
		flags |= PARSE_ENDPOINT_NUMERIC;
	if (kflags & K_PORT0)
		flags |= PARSE_ENDPOINT_PORT0;
	if (parse_endpoint(s, flags, &ep, why) != 0)
		return -1;
	memcpy(out->host, ep.host, sizeof out->host);
	out->port = ep.port;
	return 0;
}

/* The one rule for database names (common/parse.h). */
bool cfg_is_database_name(const char *s)
{
	return parse_name_valid_str(s);
}

const char cfg_database_name_rule[] = "a database name is " PARSE_NAME_RULE;

bool cfg_is_identity(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > CONFIG_IDENTITY_MAX || s[0] == ' ' ||
	    s[len - 1] == ' ')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e || strchr("\"\\[];#", c) != NULL)
			return false;
	}
	return true;
}

/* Checks a path value, and the filesystem unless `fs` is false. */
static int check_path(enum type t, const char *s, bool fs, char *why)
{
	struct stat st;
	int fd;

	if (s[0] != '/')
		return reason(why, "must be an absolute path");
	if (strlen(s) >= PATH_MAX)
		return reason(why, "path too long");
	for (const char *p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return reason(why, "control character in path");
	if (!fs)
		return 0;
	switch (t) {
	case T_DIR:
		if (stat(s, &st) != 0) {
			if (errno == ENOENT)
				return 0; /* created at start-up */
			return reason(why, "%s", strerror(errno));
		}
		if (!S_ISDIR(st.st_mode))
			return reason(why, "exists and is not a directory");
		return 0;
	case T_DIR_EXIST:
		if (stat(s, &st) != 0)
			return reason(why, "%s", strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return reason(why, "not a directory");
		return 0;
	case T_FILE:
	case T_KEYFILE:
		/* O_NONBLOCK: a FIFO planted at the path must not hang us. */
		fd = open(s, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return reason(why, "cannot read: %s", strerror(errno));
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			return reason(why, "not a regular file");
		}
		close(fd);
		if (t == T_KEYFILE && (st.st_mode & (S_IROTH | S_IWOTH)))
			return reason(why,
			              "private key is accessible to other "
			              "users (mode %04o); chmod o-rwx it",
			              (unsigned)(st.st_mode & 07777));
		/* Group read stays allowed (root:mirror-agent 0640 is how
		 * keys are often installed); group write would let the
		 * group replace the key. */
		if (t == T_KEYFILE && (st.st_mode & S_IWGRP))
			return reason(
			    why,
			    "private key is writable by its group "
			    "(mode %04o); chmod g-w it (0600 or 0640)",
			    (unsigned)(st.st_mode & 07777));
		return 0;
	case T_EXEC:
		if (stat(s, &st) != 0)
			return reason(why, "%s", strerror(errno));
		if (!S_ISREG(st.st_mode) || access(s, X_OK) != 0)
			return reason(why, "not an executable file");
		return 0;
	default:
		return 0;
	}
}

/* ---- sections ---- */

static void *section_base(struct agent_config *cfg, enum sec sec, size_t idx)
{
	switch (sec) {
	case SEC_AGENT:
		return &cfg->agent;
	case SEC_TLS:
		return &cfg->tls;
	case SEC_SERVE:
		return &cfg->serve;
	case SEC_FOLLOW:
		return &cfg->follow;
	case SEC_DATABASE:
		return &cfg->databases[idx];
	case SEC_ACCESS:
		return &cfg->access[idx];
	default:
		return NULL;
	}
}

struct config_origin *cfg_section_origin(struct agent_config *cfg, enum sec sec,
                                         size_t idx)
{
	switch (sec) {
	case SEC_AGENT:
		return &cfg->agent.origin;
	case SEC_TLS:
		return &cfg->tls.origin;
	case SEC_SERVE:
		return &cfg->serve.origin;
	case SEC_FOLLOW:
		return &cfg->follow.origin;
	case SEC_DATABASE:
		return &cfg->databases[idx].origin;
	case SEC_ACCESS:
		return &cfg->access[idx].origin;
	default:
		return NULL;
	}
}

/* Index of d among its section's keys: its slot in config_origin. */
int cfg_key_slot(const struct key_def *d)
{
	int slot = 0;

	for (const struct key_def *k = cfg_keys; k < d; k++)
		if (k->sec == d->sec)
			slot++;
	/* A section with more keys than the origin arrays hold would write
	 * past them: a programming error every test would hit at once. */
	if (slot >= CONFIG_SECTION_MAX_KEYS) {
		fprintf(stderr,
		        "config: [%s] has more than %d keys; raise "
		        "CONFIG_SECTION_MAX_KEYS\n",
		        cfg_sec_names[d->sec], CONFIG_SECTION_MAX_KEYS);
		abort();
	}
	return slot;
}

const struct key_def *cfg_find_key(enum sec sec, const char *name)
{
	for (size_t i = 0; i < cfg_n_keys; i++)
		if (cfg_keys[i].sec == sec &&
		    strcmp(cfg_keys[i].name, name) == 0)
			return &cfg_keys[i];
	return NULL;
}

int cfg_key_line(struct agent_config *cfg, enum sec sec, size_t idx,
                 const char *name)
{
	return cfg_section_origin(cfg, sec, idx)
	    ->key_line[cfg_key_slot(cfg_find_key(sec, name))];
}

/* Given (in the file or by --set) and accepted. */
bool cfg_key_good(struct agent_config *cfg, enum sec sec, size_t idx,
                  const char *name)
{
	int slot = cfg_key_slot(cfg_find_key(sec, name));
	struct config_origin *o = cfg_section_origin(cfg, sec, idx);

	return !o->key_bad[slot];
}

static void free_names(struct config_name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void free_database(struct config_database *db)
{
	free(db->spool);
	free(db->directory);
}

static void free_access(struct config_access *a)
{
	free(a->identity);
	free_names(&a->databases);
}

/* ---- storing a value ---- */

static void value_error(const struct target *t, const struct key_def *d,
                        const char *item, const char *why)
{
	if (item != NULL)
		cfg_report_at(t->sink, t->cfg, t->line, t->sec, t->idx, d->name,
		              "\"%.100s\": %s", item, why);
	else
		cfg_report_at(t->sink, t->cfg, t->line, t->sec, t->idx, d->name,
		              "%s", why);
}

char *cfg_trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

/* Parses a comma-separated list value into ep_list or name_list (one of
 * them), appending to what is there. Reports each bad item. Returns 0, -1
 * on a bad item, or -2 on allocation failure. */
static int parse_list(const struct target *t, const struct key_def *d,
                      const char *value, struct config_endpoint_list *eps,
                      struct config_name_list *names)
{
	char *copy = strdup(value), *item, *next;
	char why[WHY_SIZE];
	int rc = 0;
	size_t count = eps != NULL ? eps->n : names->n;

	if (copy == NULL)
		return -2;
	for (item = copy; item != NULL; item = next) {
		next = strchr(item, ',');
		if (next != NULL)
			*next++ = '\0';
		item = cfg_trim(item);
		if (*item == '\0') {
			/* A trailing comma before a continuation line is
			 * fine; an empty item in the middle is a typo. */
			if (next == NULL && count > 0)
				break;
			value_error(t, d, NULL, "empty item in list");
			rc = -1;
			continue;
		}
		if (count >= d->max) {
			snprintf(why, WHY_SIZE, "more than %llu items",
			         (unsigned long long)d->max);
			value_error(t, d, NULL, why);
			rc = -1;
			break;
		}
		if (eps != NULL) {
			struct config_endpoint ep, *grown;
			bool dup = false;
			if (get_endpoint(item, 0, &ep, why) != 0) {
				value_error(t, d, item, why);
				rc = -1;
				continue;
			}
			for (size_t i = 0; i < eps->n; i++)
				dup = dup ||
				      (eps->v[i].port == ep.port &&
				       strcmp(eps->v[i].host, ep.host) == 0);
			if (dup) {
				value_error(t, d, item, "listed twice");
				rc = -1;
				continue;
			}
			grown = realloc(eps->v, (eps->n + 1) * sizeof *grown);
			if (grown == NULL) {
				rc = -2;
				break;
			}
			eps->v = grown;
			eps->v[eps->n++] = ep;
		} else {
			char **grown, *dupname;
			bool dup = false;
			if (strcmp(item, "*") != 0 &&
			    !cfg_is_database_name(item)) {
				value_error(t, d, item, cfg_database_name_rule);
				rc = -1;
				continue;
			}
			for (size_t i = 0; i < names->n; i++)
				dup = dup || strcmp(names->v[i], item) == 0;
			if (dup) {
				value_error(t, d, item, "listed twice");
				rc = -1;
				continue;
			}
			grown =
			    realloc(names->v, (names->n + 1) * sizeof *grown);
			if (grown == NULL) {
				rc = -2;
				break;
			}
			names->v = grown;
			dupname = strdup(item);
			if (dupname == NULL) {
				rc = -2;
				break;
			}
			names->v[names->n++] = dupname;
		}
		count++;
	}
	free(copy);
	return rc;
}

/* Checks `value` for key d and stores it in the target section. Returns 0,
 * -1 (reported) or -2 (out of memory). */
int cfg_apply(const struct target *t, const struct key_def *d,
              const char *value, enum mode mode)
{
	struct agent_config *cfg = t->cfg;
	unsigned char *base = section_base(cfg, t->sec, t->idx);
	void *field = base + d->off;
	struct config_origin *o = cfg_section_origin(cfg, t->sec, t->idx);
	int slot = cfg_key_slot(d);
	bool fs = mode != MODE_DEFAULT && !(cfg->flags & CONFIG_NO_FS_CHECKS);
	char why[WHY_SIZE];
	int rc = 0;

	if (mode == MODE_FILE && o->key_line[slot] > 0) {
		snprintf(why, WHY_SIZE,
		         "given twice (first at line %d); keep one",
		         o->key_line[slot]);
		value_error(t, d, NULL, why);
		return -1;
	}
	if (mode == MODE_FILE || mode == MODE_SET) {
		o->key_line[slot] = t->line;
		o->key_bad[slot] = 0;
	}
	if (*value == '\0') {
		value_error(t, d, NULL,
		            "empty value (comment the line out to use the "
		            "default)");
		goto bad;
	}
	if (value[0] == '"' || value[0] == '\'') {
		value_error(t, d, value,
		            "values are taken literally: remove the quotes");
		goto bad;
	}

	switch (d->type) {
	case T_HOST: {
		char host[CONFIG_HOST_MAX + 1], *dup;
		if (parse_host(value, strlen(value), host, why) != 0)
			goto bad_why;
		dup = strdup(host);
		if (dup == NULL)
			return -2;
		free(*(char **)field);
		*(char **)field = dup;
		break;
	}
	case T_SHA256: {
		char *out = field;
		size_t len = strlen(value);
		if (len != 64 ||
		    strspn(value, "0123456789abcdefABCDEF") != 64) {
			snprintf(
			    why, WHY_SIZE,
			    "expected the SHA-256 of the token in 64 hex "
			    "digits (printf %%s TOKEN | sha256sum), got %zu "
			    "characters",
			    len);
			goto bad_why;
		}
		for (size_t i = 0; i < 64; i++)
			out[i] = (char)(value[i] | 0x20); /* lower case */
		out[64] = '\0';
		break;
	}
	case T_PATH:
	case T_DIR:
	case T_DIR_EXIST:
	case T_FILE:
	case T_KEYFILE:
	case T_EXEC: {
		char *dup;
		size_t len;
		if (check_path(d->type, value, fs, why) != 0)
			goto bad_why;
		dup = strdup(value);
		if (dup == NULL)
			return -2;
		/* "/a/b/" and "/a/b" name the same directory; keep one form
		 * so that distinctness checks compare like with like. */
		len = strlen(dup);
		while (len > 1 && dup[len - 1] == '/')
			dup[--len] = '\0';
		free(*(char **)field);
		*(char **)field = dup;
		break;
	}
	case T_UINT:
	case T_SIZE:
	case T_DURATION:
		if (parse_number(d, value, (uint64_t *)field, why) != 0)
			goto bad_why;
		break;
	case T_ENUM:
		if (parse_enum(d, value, (int *)field, why) != 0)
			goto bad_why;
		break;
	case T_ENDPOINT:
		if (get_endpoint(value, d->flags, field, why) != 0)
			goto bad_why;
		break;
	case T_ENDPOINTS:
	case T_NAMES: {
		struct config_endpoint_list eps = {NULL, 0};
		struct config_name_list names = {NULL, 0};
		bool is_ep = d->type == T_ENDPOINTS;
		if (mode == MODE_CONTINUE) {
			/* Extend in place: the count limit covers all lines. */
			if (is_ep)
				eps = *(struct config_endpoint_list *)field;
			else
				names = *(struct config_name_list *)field;
		}
		rc = parse_list(t, d, value, is_ep ? &eps : NULL,
		                is_ep ? NULL : &names);
		if (rc == 0 && (is_ep ? eps.n : names.n) == 0) {
			value_error(t, d, NULL, "empty list");
			rc = -1;
		}
		if (mode == MODE_CONTINUE) {
			if (is_ep)
				*(struct config_endpoint_list *)field = eps;
			else
				*(struct config_name_list *)field = names;
		} else if (rc == 0) {
			if (is_ep) {
				struct config_endpoint_list *old = field;
				free(old->v);
				*old = eps;
			} else {
				free_names(field);
				*(struct config_name_list *)field = names;
			}
		} else {
			free(eps.v);
			free_names(&names);
		}
		if (rc == -2)
			return -2;
		if (rc != 0)
			goto bad;
		break;
	}
	}
	return 0;

bad_why:
	value_error(t, d, value, why);
bad:
	if (mode != MODE_DEFAULT)
		o->key_bad[slot] = 1;
	return -1;
}

/* Sets the defaults of every key of `sec` in instance idx. */
static int apply_defaults(struct agent_config *cfg, enum sec sec, size_t idx)
{
	struct sink sink = {0};
	struct target t = {cfg, sec, idx, 0, &sink};

	for (size_t i = 0; i < cfg_n_keys; i++) {
		int rc;
		if (cfg_keys[i].sec != sec || cfg_keys[i].defval == NULL)
			continue;
		rc = cfg_apply(&t, &cfg_keys[i], cfg_keys[i].defval,
		               MODE_DEFAULT);
		if (rc == -2)
			return MA_ERR_NOMEM;
		if (rc != 0)
			return MA_ERR_INVAL; /* a bad default: a bug here */
	}
	return 0;
}

/* Adds a named section; returns its index or -1 (NOMEM). */
long cfg_add_database(struct agent_config *cfg, const char *name)
{
	struct config_database *grown;

	grown = realloc(cfg->databases, (cfg->n_databases + 1) * sizeof *grown);
	if (grown == NULL)
		return -1;
	cfg->databases = grown;
	memset(&grown[cfg->n_databases], 0, sizeof *grown);
	snprintf(grown[cfg->n_databases].name,
	         sizeof grown[cfg->n_databases].name, "%s", name);
	cfg->n_databases++;
	if (apply_defaults(cfg, SEC_DATABASE, cfg->n_databases - 1) != 0)
		return -1;
	return (long)cfg->n_databases - 1;
}

long cfg_add_access(struct agent_config *cfg, const char *identity)
{
	struct config_access *grown;
	char *id = strdup(identity);

	if (id == NULL)
		return -1;
	grown = realloc(cfg->access, (cfg->n_access + 1) * sizeof *grown);
	if (grown == NULL) {
		free(id);
		return -1;
	}
	cfg->access = grown;
	memset(&grown[cfg->n_access], 0, sizeof *grown);
	grown[cfg->n_access].identity = id;
	cfg->n_access++;
	if (apply_defaults(cfg, SEC_ACCESS, cfg->n_access - 1) != 0)
		return -1;
	return (long)cfg->n_access - 1;
}

long cfg_find_access(const struct agent_config *cfg, const char *identity)
{
	for (size_t i = 0; i < cfg->n_access; i++)
		if (strcmp(cfg->access[i].identity, identity) == 0)
			return (long)i;
	return -1;
}

long cfg_find_database(const struct agent_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_databases; i++)
		if (strcmp(cfg->databases[i].name, name) == 0)
			return (long)i;
	return -1;
}

/* ---- suggestions for typos ---- */

size_t cfg_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[65];

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* " (did you mean \"x\"?)", " (it belongs in [follow])" or "". */
void cfg_key_hint(enum sec sec, const char *name, char *buf, size_t size)
{
	const struct key_def *best = NULL;
	size_t best_d = 3;

	buf[0] = '\0';
	for (size_t i = 0; i < cfg_n_keys; i++) {
		size_t dist;
		if (cfg_keys[i].sec != sec)
			continue;
		dist = cfg_edit_distance(name, cfg_keys[i].name);
		if (dist < best_d) {
			best_d = dist;
			best = &cfg_keys[i];
		}
	}
	if (best != NULL) {
		snprintf(buf, size, " (did you mean \"%s\"?)", best->name);
		return;
	}
	for (size_t i = 0; i < cfg_n_keys; i++) {
		if (strcmp(cfg_keys[i].name, name) == 0) {
			snprintf(buf, size, " (it belongs in [%s%s])",
			         cfg_sec_names[cfg_keys[i].sec],
			         cfg_keys[i].sec == SEC_DATABASE ? " \"NAME\""
			         : cfg_keys[i].sec == SEC_ACCESS
			             ? " \"IDENTITY\""
			             : "");
			return;
		}
	}
}

/* ---- public functions ---- */

int config_init(struct agent_config *cfg)
{
	int rc;

	memset(cfg, 0, sizeof *cfg);
	for (enum sec s = SEC_AGENT; s <= SEC_FOLLOW; s++) {
		rc = apply_defaults(cfg, s, 0);
		if (rc != 0)
			return rc;
	}
	return 0;
}

void config_free(struct agent_config *cfg)
{
	free(cfg->path);
	free(cfg->agent.data_dir);
	free(cfg->agent.log_file);
	free(cfg->agent.pid_file);
	free(cfg->tls.ca_file);
	free(cfg->tls.cert_file);
	free(cfg->tls.key_file);
	free(cfg->tls.server_name);
	free(cfg->follow.sources.v);
	free(cfg->follow.progress_hook);
	for (size_t i = 0; i < cfg->n_databases; i++)
		free_database(&cfg->databases[i]);
	free(cfg->databases);
	for (size_t i = 0; i < cfg->n_access; i++)
		free_access(&cfg->access[i]);
	free(cfg->access);
	memset(cfg, 0, sizeof *cfg);
}

int config_set(struct agent_config *cfg, const char *name, const char *value,
               char *errmsg)
{
	struct sink sink = {NULL, errmsg, 0, false};
	const char *dot = strchr(name, '.'), *last = strrchr(name, '.');
	enum sec sec = SEC_IGNORE;
	const struct key_def *d;
	char secname[16], inst[CONFIG_IDENTITY_MAX + 1] = "";
	size_t slen;
	long idx = 0;
	int rc;

	if (value == NULL)
		return ma_errorf(errmsg, MA_ERR_CONFIG, "--set %s: no value",
		                 name);
	if (dot == NULL || last[1] == '\0')
		return ma_errorf(errmsg, MA_ERR_CONFIG,
		                 "--set %s: expected section.key=value", name);
	slen = (size_t)(dot - name);
	if (slen < sizeof secname) {
		memcpy(secname, name, slen);
		secname[slen] = '\0';
		for (enum sec i = SEC_AGENT; i <= SEC_ACCESS; i++)
			if (strcmp(secname, cfg_sec_names[i]) == 0)
				sec = i;
	}
	if (sec == SEC_IGNORE)
		return ma_errorf(errmsg, MA_ERR_CONFIG,
		                 "--set %s: unknown section \"%.*s\"", name,
		                 (int)slen, name);
	if (sec == SEC_DATABASE || sec == SEC_ACCESS) {
		size_t ilen = (size_t)(last - dot - 1);
		if (last == dot || ilen == 0 || ilen > CONFIG_IDENTITY_MAX)
			return ma_errorf(errmsg, MA_ERR_CONFIG,
			                 "--set %s: expected %s.%s.key", name,
			                 cfg_sec_names[sec],
			                 sec == SEC_DATABASE ? "NAME"
			                                     : "IDENTITY");
		memcpy(inst, dot + 1, ilen);
		inst[ilen] = '\0';
		if (sec == SEC_DATABASE && !cfg_is_database_name(inst))
			return ma_errorf(errmsg, MA_ERR_CONFIG,
			                 "--set %s: bad name \"%s\": %s", name,
			                 inst, cfg_database_name_rule);
		if (sec == SEC_ACCESS && !cfg_is_identity(inst))
			return ma_errorf(errmsg, MA_ERR_CONFIG,
			                 "--set %s: bad identity \"%s\"", name,
			                 inst);
	} else if (last != dot) {
		return ma_errorf(errmsg, MA_ERR_CONFIG,
		                 "--set %s: [%s] has no named instances", name,
		                 cfg_sec_names[sec]);
	}
	d = cfg_find_key(sec, last + 1);
	if (d == NULL) {
		char hint[80];
		cfg_key_hint(sec, last + 1, hint, sizeof hint);
		return ma_errorf(errmsg, MA_ERR_CONFIG,
		                 "--set %s: unknown key%s", name, hint);
	}
	if (sec == SEC_DATABASE) {
		idx = cfg_find_database(cfg, inst);
		if (idx < 0 && cfg->n_databases >= CONFIG_MAX_DATABASES)
			return ma_errorf(errmsg, MA_ERR_CONFIG,
			                 "--set %s: too many databases", name);
		if (idx < 0 && (idx = cfg_add_database(cfg, inst)) < 0)
			return ma_errorf(errmsg, MA_ERR_NOMEM,
			                 "--set %s: out of memory", name);
	} else if (sec == SEC_ACCESS) {
		idx = cfg_find_access(cfg, inst);
		if (idx < 0 && cfg->n_access >= CONFIG_MAX_ACCESS)
			return ma_errorf(errmsg, MA_ERR_CONFIG,
			                 "--set %s: too many access sections",
			                 name);
		if (idx < 0 && (idx = cfg_add_access(cfg, inst)) < 0)
			return ma_errorf(errmsg, MA_ERR_NOMEM,
			                 "--set %s: out of memory", name);
	}
	{
		struct config_origin *o =
		    cfg_section_origin(cfg, sec, (size_t)idx);
		struct target t = {cfg, sec, (size_t)idx, -1, &sink};
		if (o->section_line == 0)
			o->section_line = -1;
		if (sec == SEC_SERVE)
			cfg->serve.present = true;
		if (sec == SEC_FOLLOW)
			cfg->follow.present = true;
		rc = cfg_apply(&t, d, value, MODE_SET);
	}
	if (rc == -2)
		return ma_errorf(errmsg, MA_ERR_NOMEM,
		                 "--set %s: out of memory", name);
	return rc == 0 ? 0 : MA_ERR_CONFIG;
}

struct config_database *config_database_find(const struct agent_config *cfg,
                                             const char *name)
{
	long i = cfg_find_database(cfg, name);

	return i >= 0 ? &cfg->databases[i] : NULL;
}

bool config_access_grant_allows(const char *grant_identity,
                                const char *const *dbs, size_t n,
                                const char *identity, const char *name)
{
	if (grant_identity == NULL || identity == NULL || name == NULL ||
	    identity[0] == '\0' || name[0] == '\0')
		return false;
	if (strcmp(grant_identity, "*") != 0 &&
	    strcmp(grant_identity, identity) != 0)
		return false;
	for (size_t j = 0; j < n; j++) {
		if (dbs[j] != NULL &&
		    (strcmp(dbs[j], "*") == 0 || strcmp(dbs[j], name) == 0))
			return true;
	}
	return false;
}

bool config_access_allows(const struct agent_config *cfg, const char *identity,
                          const char *name)
{
	for (size_t i = 0; i < cfg->n_access; i++) {
		const struct config_access *a = &cfg->access[i];

		if (config_access_grant_allows(
		        a->identity, (const char *const *)a->databases.v,
		        a->databases.n, identity, name))
			return true;
	}
	return false;
}

const char *config_key_name(size_t i, const char **defval)
{
	if (i >= cfg_n_keys)
		return NULL;
	if (defval != NULL)
		*defval = cfg_keys[i].defval != NULL ? cfg_keys[i].defval : "";
	return cfg_keys[i].full;
}

void config_serve_defaults(struct config_serve *out)
{
	struct agent_config tmp;
	int rc;

	memset(&tmp, 0, sizeof tmp);
	rc = apply_defaults(&tmp, SEC_SERVE, 0);
	/* Numbers and enums only: nothing to allocate, nothing to fail. */
	(void)rc;
	*out = tmp.serve;
}

void config_follow_defaults(struct config_follow *out)
{
	struct agent_config tmp;
	int rc;

	memset(&tmp, 0, sizeof tmp);
	rc = apply_defaults(&tmp, SEC_FOLLOW, 0);
	(void)rc;
	*out = tmp.follow;
}

static void key_info(const struct key_def *d, struct config_key_info *out)
{
	memset(out, 0, sizeof *out);
	out->name = d->full;
	switch (d->type) {
	case T_UINT:
		out->kind = CONFIG_KIND_NUMBER;
		break;
	case T_SIZE:
		out->kind = CONFIG_KIND_SIZE;
		break;
	case T_DURATION:
		out->kind = CONFIG_KIND_DURATION;
		break;
	case T_ENUM:
		out->kind = CONFIG_KIND_ENUM;
		break;
	default:
		out->kind = CONFIG_KIND_OTHER;
		break;
	}
	if (out->kind <= CONFIG_KIND_DURATION) {
		out->min = d->min;
		out->max = d->max;
		out->zero_ok = (d->flags & K_ZERO_OK) != 0;
	}
	out->enums = d->enums;
	out->defval = d->defval;
}

bool config_key_info_at(size_t i, struct config_key_info *out)
{
	if (i >= cfg_n_keys)
		return false;
	key_info(&cfg_keys[i], out);
	return true;
}

bool config_key_info_find(const char *name, struct config_key_info *out)
{
	for (size_t i = 0; i < cfg_n_keys; i++) {
		if (strcmp(cfg_keys[i].full, name) == 0) {
			key_info(&cfg_keys[i], out);
			return true;
		}
	}
	return false;
}
