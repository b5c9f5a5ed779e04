/* Configuration file: schema table, value parsers, inih glue, role checks.
 *
 * Line numbers. Debian's libinih (55-1) is built with INI_HANDLER_LINENO=1
 * (its handler calls load the line number into the fifth argument register,
 * checked by disassembly) although the installed <ini.h> defaults the macro
 * to 0, so we define it to 1 to declare the handler as the library calls
 * it. We do not trust that number, though: inih counts the tail of an
 * overlong line as a new line and truncates section names to 49
 * characters, too short for [database "<64 characters>"]. So the file is
 * fed to ini_parse_stream() through our own line reader, which counts
 * physical lines, keeps the full section header, rejects overlong lines and
 * syntax errors itself (so every one is reported, not just inih's first),
 * and strips the indentation of indented keys and section headers so that
 * only genuine continuation lines reach inih's multi-line handling. inih
 * still splits "key = value", strips comments and calls the handler, which
 * runs before the next line is read, so the reader's count is the line of
 * the value being handled. */
#define INI_HANDLER_LINENO 1
#include <ini.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/config/config.h"

#include "common/io.h"
#include "common/parse.h"

enum sec {
	SEC_NONE, /* before the first section header */
	SEC_AGENT,
	SEC_TLS,
	SEC_SERVE,
	SEC_FOLLOW,
	SEC_DATABASE, /* [database "NAME"] */
	SEC_ACCESS,   /* [access "IDENTITY"] */
	SEC_IGNORE,   /* after a bad header: its keys are skipped */
};

static const char *const sec_names[] = {
    [SEC_NONE] = "",         [SEC_AGENT] = "agent",
    [SEC_TLS] = "tls",       [SEC_SERVE] = "serve",
    [SEC_FOLLOW] = "follow", [SEC_DATABASE] = "database",
    [SEC_ACCESS] = "access", [SEC_IGNORE] = "",
};

enum type {
	T_HOST,      /* DNS name or IP literal */
	T_PATH,      /* absolute path */
	T_DIR,       /* absolute path; if it exists, a directory */
	T_DIR_EXIST, /* absolute path of an existing directory */
	T_FILE,      /* absolute path of a readable regular file */
	T_KEYFILE,   /* T_FILE that others cannot read */
	T_EXEC,      /* absolute path of an executable regular file */
	T_UINT,
	T_SIZE,     /* bytes, binary units */
	T_DURATION, /* milliseconds, ms/s/min/h */
	T_ENUM,
	T_ENDPOINT,
	T_ENDPOINTS,
	T_NAMES, /* database names or "*" */
};

enum {
	K_ZERO_OK = 1u << 0, /* 0 (off) allowed below min */
	K_NUMERIC = 1u << 1, /* endpoint to bind to: an IP literal */
};

struct key_def {
	enum sec sec;
	const char *name;
	const char *full; /* "section.key", for config_key_name() */
	enum type type;
	size_t off; /* into the section's struct */
	uint64_t min, max;
	unsigned flags;
	const char *const *enums;
	const char *defval; /* parsed by config_init(); NULL: none */
};

static const char *const log_levels[] = {"debug", "info", "warn", "error",
                                         NULL};
static const char *const cc_names[] = {"cubic", "reno", "bbr", "bbr2", NULL};
static const char *const applier_names[] = {"none", "kv", NULL};

/* An enum key stores the index of its name in these lists. */
_Static_assert(LOG_LEVEL_DEBUG == 0 && LOG_LEVEL_INFO == 1 &&
                   LOG_LEVEL_WARN == 2 && LOG_LEVEL_ERROR == 3,
               "log_levels[] follows enum log_level");
_Static_assert(CONFIG_CC_CUBIC == 0 && CONFIG_CC_RENO == 1 &&
                   CONFIG_CC_BBR == 2 && CONFIG_CC_BBR2 == 3,
               "cc_names[] follows enum config_cc");
_Static_assert(CONFIG_APPLIER_NONE == 0 && CONFIG_APPLIER_KV == 1,
               "applier_names[] follows enum config_applier");

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
static const struct key_def keys[] = {
    KEY(AGENT, agent, data_dir, T_DIR, data_dir, 0, 0, 0, NULL,
        "/var/lib/mirror-agent"),
    KEY(AGENT, agent, log_file, T_PATH, log_file, 0, 0, 0, NULL, NULL),
    KEY(AGENT, agent, log_level, T_ENUM, log_level, 0, 0, 0, log_levels,
        "info"),
    KEY(AGENT, agent, http_listen, T_ENDPOINT, http_listen, 0, 0, K_NUMERIC,
        NULL, NULL),
    KEY(AGENT, agent, pid_file, T_PATH, pid_file, 0, 0, 0, NULL, NULL),

    KEY(TLS, tls, ca_file, T_FILE, ca_file, 0, 0, 0, NULL, NULL),
    KEY(TLS, tls, cert_file, T_FILE, cert_file, 0, 0, 0, NULL, NULL),
    KEY(TLS, tls, key_file, T_KEYFILE, key_file, 0, 0, 0, NULL, NULL),
    KEY(TLS, tls, server_name, T_HOST, server_name, 0, 0, 0, NULL, NULL),

    KEY(SERVE, serve, listen, T_ENDPOINT, listen, 0, 0, K_NUMERIC, NULL, NULL),
    KEY(SERVE, serve, max_connections, T_UINT, max_connections, 1, 100000, 0,
        NULL, "64"),
    KEY(SERVE, serve, max_streams_per_connection, T_UINT,
        max_streams_per_connection, 1, 10000, 0, NULL, "100"),
    KEY(SERVE, serve, idle_timeout, T_DURATION, idle_timeout_ms, SEC_MS,
        10 * MIN_MS, 0, NULL, "30s"),
    /* snapshot.h: SNAPSHOT_CHUNK_MIN, _DEFAULT; the maximum is what a
     * mirror's decoder accepts (SNAPSHOT_DATA_MAX_DEFAULT). */
    KEY(SERVE, serve, chunk_size, T_SIZE, chunk_size, 512, 1 * MiB, 0, NULL,
        "256KiB"),
    /* serve.h: SERVE_HEARTBEAT_MIN_MS, _MAX_MS, _DEFAULT_MS */
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
        cc_names, "cubic"),

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
    KEY(FOLLOW, follow, wal_sync_interval, T_DURATION, wal_sync_interval_ms, 1,
        10 * SEC_MS, K_ZERO_OK, NULL, "100ms"),
    KEY(FOLLOW, follow, wal_sync_bytes, T_SIZE, wal_sync_bytes, 4 * KiB, GiB, 0,
        NULL, "4MiB"),
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

    KEY(DATABASE, database, spool, T_DIR_EXIST, spool, 0, 0, 0, NULL, NULL),
    KEY(DATABASE, database, directory, T_DIR, directory, 0, 0, 0, NULL, NULL),
    KEY(DATABASE, database, applier, T_ENUM, applier, 0, 0, 0, applier_names,
        "none"),

    KEY(ACCESS, access, databases, T_NAMES, databases, 1, CONFIG_MAX_LIST, 0,
        NULL, NULL),
};

#define N_KEYS (sizeof keys / sizeof keys[0])

/* ---- error reporting ---- */

/* Where errors go: a list (config_load, config_validate_role) or a single
 * errmsg (config_set, first error wins). */
struct sink {
	struct config_errors *errs;
	char *errmsg;
	unsigned n;
	bool nomem;
};

static void sink_add(struct sink *s, const char *prefix, const char *fmt,
                     va_list ap) __attribute__((format(printf, 3, 0)));

static void sink_add(struct sink *s, const char *prefix, const char *fmt,
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

static void report(struct sink *s, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(struct sink *s, const char *prefix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sink_add(s, prefix, fmt, ap);
	va_end(ap);
}

static const char *cfg_path(const struct agent_config *cfg)
{
	return cfg->path != NULL ? cfg->path : "(configuration)";
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
		snprintf(buf, size, "[%s]", sec_names[sec]);
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
		snprintf(buf, size, "--set %s%s%s%s%s: ", sec_names[sec],
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

static void report_at(struct sink *s, const struct agent_config *cfg, int line,
                      enum sec sec, size_t idx, const char *key,
                      const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static void report_at(struct sink *s, const struct agent_config *cfg, int line,
                      enum sec sec, size_t idx, const char *key,
                      const char *fmt, ...)
{
	char prefix[CONFIG_IDENTITY_MAX + PATH_MAX / 8 + 128];
	va_list ap;

	where(cfg, line, sec, idx, key, prefix, sizeof prefix);
	va_start(ap, fmt);
	sink_add(s, prefix, fmt, ap);
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

#define WHY_SIZE 160

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

static int parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -2;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

struct unit {
	const char *name;
	uint64_t mult;
};

static const struct unit size_units[] = {
    {"", 1},    {"b", 1},     {"k", KiB}, {"kib", KiB},
    {"m", MiB}, {"mib", MiB}, {"g", GiB}, {"gib", GiB},
    {"t", TiB}, {"tib", TiB}, {NULL, 0},
};

static const struct unit duration_units[] = {
    {"", 1},       {"ms", 1},       {"s", SEC_MS},  {"sec", SEC_MS},
    {"m", MIN_MS}, {"min", MIN_MS}, {"h", HOUR_MS}, {NULL, 0},
};

/* "<digits>[ ]<unit>" scaled by the unit's multiplier. */
static int parse_scaled(const char *s, const struct unit *units,
                        const char *what, uint64_t *out, char *why)
{
	size_t digits = strspn(s, "0123456789");
	const char *u = s + digits;
	uint64_t v = 0;
	int rc;

	if (*s == '-')
		return reason(why, "must not be negative");
	if (digits == 0)
		return reason(why, "not a %s", what);
	if (*u == '.' || *u == ',')
		return reason(why, "fractions are not supported; use a smaller "
		                   "unit");
	while (*u == ' ' || *u == '\t')
		u++;
	rc = parse_u64(s, digits, &v);
	if (rc == -2)
		return reason(why, "too large");
	for (const struct unit *it = units; it->name != NULL; it++) {
		if (strcasecmp(u, it->name) != 0)
			continue;
		if (it->mult != 0 && v > UINT64_MAX / it->mult)
			return reason(why, "too large");
		*out = v * it->mult;
		return 0;
	}
	if (units == size_units) {
		if (strcasecmp(u, "kb") == 0 || strcasecmp(u, "mb") == 0 ||
		    strcasecmp(u, "gb") == 0 || strcasecmp(u, "tb") == 0)
			return reason(why,
			              "ambiguous unit \"%s\": write %ciB "
			              "(units are binary)",
			              u, toupper((unsigned char)u[0]));
		return reason(why,
		              "unknown size unit \"%.20s\": use B, KiB, "
		              "MiB, GiB or TiB",
		              u);
	}
	return reason(
	    why, "unknown duration unit \"%.20s\": use ms, s, min or h", u);
}

static void format_size(uint64_t v, char *buf, size_t size)
{
	if (v >= TiB && v % TiB == 0)
		snprintf(buf, size, "%lluTiB", (unsigned long long)(v / TiB));
	else if (v >= GiB && v % GiB == 0)
		snprintf(buf, size, "%lluGiB", (unsigned long long)(v / GiB));
	else if (v >= MiB && v % MiB == 0)
		snprintf(buf, size, "%lluMiB", (unsigned long long)(v / MiB));
	else if (v >= KiB && v % KiB == 0)
		snprintf(buf, size, "%lluKiB", (unsigned long long)(v / KiB));
	else
		snprintf(buf, size, "%llu", (unsigned long long)v);
}

static void format_duration(uint64_t v, char *buf, size_t size)
{
	if (v >= HOUR_MS && v % HOUR_MS == 0)
		snprintf(buf, size, "%lluh", (unsigned long long)(v / HOUR_MS));
	else if (v >= MIN_MS && v % MIN_MS == 0)
		snprintf(buf, size, "%llumin",
		         (unsigned long long)(v / MIN_MS));
	else if (v >= SEC_MS && v % SEC_MS == 0)
		snprintf(buf, size, "%llus", (unsigned long long)(v / SEC_MS));
	else
		snprintf(buf, size, "%llums", (unsigned long long)v);
}

static void format_value(enum type t, uint64_t v, char *buf, size_t size)
{
	if (t == T_SIZE)
		format_size(v, buf, size);
	else if (t == T_DURATION)
		format_duration(v, buf, size);
	else
		snprintf(buf, size, "%llu", (unsigned long long)v);
}

static int parse_number(const struct key_def *d, const char *s, uint64_t *out,
                        char *why)
{
	char lo[32], hi[32];
	uint64_t v;
	int rc;

	if (d->type == T_SIZE) {
		rc = parse_scaled(s, size_units, "size", &v, why);
	} else if (d->type == T_DURATION) {
		rc = parse_scaled(s, duration_units, "duration", &v, why);
	} else {
		rc = parse_u64(s, strlen(s), &v);
		if (rc == -2)
			snprintf(why, WHY_SIZE, "too large");
		else if (rc < 0)
			snprintf(why, WHY_SIZE, "not a whole number");
	}
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

static bool is_dns_name(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > CONFIG_HOST_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)c) && c != '-')
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[len - 1] != '-';
}

/* A DNS name or an IPv4/IPv6 literal (without brackets). */
static int parse_host(const char *s, size_t len, char *out, char *why)
{
	char tmp[CONFIG_HOST_MAX + 1];
	unsigned char addr[16];

	if (len == 0)
		return reason(why, "missing host");
	if (len > CONFIG_HOST_MAX)
		return reason(why, "host name too long");
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (strchr(tmp, ':') != NULL) {
		if (inet_pton(AF_INET6, tmp, addr) != 1)
			return reason(why, "invalid IPv6 address");
	} else if (strspn(tmp, "0123456789.") == len) {
		if (inet_pton(AF_INET, tmp, addr) != 1)
			return reason(why, "invalid IPv4 address");
	} else if (!is_dns_name(tmp, len)) {
		return reason(why,
		              "invalid host name (letters, digits, '-' and "
		              "'.')");
	}
	memcpy(out, tmp, len + 1);
	return 0;
}

/* host:port, [v6]:port. */
static int parse_endpoint(const char *s, struct config_endpoint *ep, char *why)
{
	const char *host = s, *port;
	size_t host_len;
	uint64_t v;

	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL)
			return reason(why, "missing ']'");
		host = s + 1;
		host_len = (size_t)(close - host);
		if (memchr(host, ':', host_len) == NULL)
			return reason(why,
			              "brackets are for IPv6 addresses only");
		if (close[1] != ':')
			return reason(why, "missing :port after ']'");
		port = close + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (colon == NULL)
			return reason(why,
			              "missing :port (expected host:port)");
		if (strchr(s, ':') != colon)
			return reason(why,
			              "an IPv6 address needs brackets, e.g. "
			              "[::1]:4433");
		host_len = (size_t)(colon - s);
		port = colon + 1;
	}
	if (parse_host(host, host_len, ep->host, why) != 0)
		return -1;
	if (*port == '\0')
		return reason(why, "missing port");
	switch (parse_u64(port, strlen(port), &v)) {
	case 0:
		if (v >= 1 && v <= 65535)
			break;
		/* fall through */
	case -2:
		return reason(why, "port out of range 1-65535");
	default:
		return reason(why, "port is not a number");
	}
	ep->port = (uint16_t)v;
	return 0;
}

/* The one rule for database names (common/parse.h). */
static bool is_database_name(const char *s)
{
	return parse_name_valid_str(s);
}

static const char database_name_rule[] = "a database name is " PARSE_NAME_RULE;

static bool is_identity(const char *s)
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

static struct config_origin *section_origin(struct agent_config *cfg,
                                            enum sec sec, size_t idx)
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
static int key_slot(const struct key_def *d)
{
	int slot = 0;

	for (const struct key_def *k = keys; k < d; k++)
		if (k->sec == d->sec)
			slot++;
	return slot;
}

static const struct key_def *find_key(enum sec sec, const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (keys[i].sec == sec && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int key_line(struct agent_config *cfg, enum sec sec, size_t idx,
                    const char *name)
{
	return section_origin(cfg, sec, idx)
	    ->key_line[key_slot(find_key(sec, name))];
}

/* Given (in the file or by --set) and accepted. */
static bool key_good(struct agent_config *cfg, enum sec sec, size_t idx,
                     const char *name)
{
	int slot = key_slot(find_key(sec, name));
	struct config_origin *o = section_origin(cfg, sec, idx);

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

enum mode {
	MODE_DEFAULT,  /* config_init(): no origin, no filesystem */
	MODE_FILE,     /* a line of the file */
	MODE_CONTINUE, /* an indented continuation line of a list */
	MODE_SET,      /* config_set(): replaces */
};

struct target {
	struct agent_config *cfg;
	enum sec sec;
	size_t idx;
	int line;
	struct sink *sink;
};

static void value_error(const struct target *t, const struct key_def *d,
                        const char *item, const char *why)
{
	if (item != NULL)
		report_at(t->sink, t->cfg, t->line, t->sec, t->idx, d->name,
		          "\"%.100s\": %s", item, why);
	else
		report_at(t->sink, t->cfg, t->line, t->sec, t->idx, d->name,
		          "%s", why);
}

static char *trim(char *s)
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
		item = trim(item);
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
			if (parse_endpoint(item, &ep, why) != 0) {
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
			if (strcmp(item, "*") != 0 && !is_database_name(item)) {
				value_error(t, d, item, database_name_rule);
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
static int apply(const struct target *t, const struct key_def *d,
                 const char *value, enum mode mode)
{
	struct agent_config *cfg = t->cfg;
	unsigned char *base = section_base(cfg, t->sec, t->idx);
	void *field = base + d->off;
	struct config_origin *o = section_origin(cfg, t->sec, t->idx);
	int slot = key_slot(d);
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
	case T_ENDPOINT: {
		struct config_endpoint ep;
		unsigned char addr[16];
		if (parse_endpoint(value, &ep, why) != 0)
			goto bad_why;
		/* The transport binds to an address; it does not resolve. */
		if ((d->flags & K_NUMERIC) &&
		    inet_pton(AF_INET, ep.host, addr) != 1 &&
		    inet_pton(AF_INET6, ep.host, addr) != 1) {
			reason(why, "a listen address is numeric: IPv4 or "
			            "[IPv6], e.g. 0.0.0.0:4433 or [::]:4433");
			goto bad_why;
		}
		*(struct config_endpoint *)field = ep;
		break;
	}
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

	for (size_t i = 0; i < N_KEYS; i++) {
		int rc;
		if (keys[i].sec != sec || keys[i].defval == NULL)
			continue;
		rc = apply(&t, &keys[i], keys[i].defval, MODE_DEFAULT);
		if (rc == -2)
			return MA_ERR_NOMEM;
		if (rc != 0)
			return MA_ERR_INVAL; /* a bad default: a bug here */
	}
	return 0;
}

/* Adds a named section; returns its index or -1 (NOMEM). */
static long add_database(struct agent_config *cfg, const char *name)
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

static long add_access(struct agent_config *cfg, const char *identity)
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

static long find_access(const struct agent_config *cfg, const char *identity)
{
	for (size_t i = 0; i < cfg->n_access; i++)
		if (strcmp(cfg->access[i].identity, identity) == 0)
			return (long)i;
	return -1;
}

static long find_database(const struct agent_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_databases; i++)
		if (strcmp(cfg->databases[i].name, name) == 0)
			return (long)i;
	return -1;
}

/* ---- suggestions for typos ---- */

static size_t edit_distance(const char *a, const char *b)
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
static void key_hint(enum sec sec, const char *name, char *buf, size_t size)
{
	const struct key_def *best = NULL;
	size_t best_d = 3;

	buf[0] = '\0';
	for (size_t i = 0; i < N_KEYS; i++) {
		size_t dist;
		if (keys[i].sec != sec)
			continue;
		dist = edit_distance(name, keys[i].name);
		if (dist < best_d) {
			best_d = dist;
			best = &keys[i];
		}
	}
	if (best != NULL) {
		snprintf(buf, size, " (did you mean \"%s\"?)", best->name);
		return;
	}
	for (size_t i = 0; i < N_KEYS; i++) {
		if (strcmp(keys[i].name, name) == 0) {
			snprintf(buf, size, " (it belongs in [%s%s])",
			         sec_names[keys[i].sec],
			         keys[i].sec == SEC_DATABASE ? " \"NAME\""
			         : keys[i].sec == SEC_ACCESS ? " \"IDENTITY\""
			                                     : "");
			return;
		}
	}
}

/* ---- the file: line reader and inih handler ---- */

struct parser {
	struct agent_config *cfg;
	struct sink *sink;
	FILE *file;
	char *raw;
	size_t raw_cap;
	int lineno;
	bool continuation;  /* the line handed to inih continues a value */
	bool inih_has_name; /* inih remembers a name in this section */
	const struct key_def *cont_def; /* list a continuation extends */
	enum sec sec;
	size_t idx;
	bool nomem;
};

static void line_error(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void line_error(struct parser *p, const char *fmt, ...)
{
	char prefix[PATH_MAX / 8 + 32];
	va_list ap;

	snprintf(prefix, sizeof prefix, "%s:%d: ", cfg_path(p->cfg), p->lineno);
	va_start(ap, fmt);
	sink_add(p->sink, prefix, fmt, ap);
	va_end(ap);
}

/* Returns the end of a section header's name like inih does (at ']' or at
 * a ';' that follows white space), NULL when there is no ']'. */
static const char *header_end(const char *s)
{
	bool was_space = false;

	for (; *s != '\0'; s++) {
		if (*s == ']')
			return s;
		if (was_space && *s == ';')
			return NULL;
		was_space = isspace((unsigned char)*s);
	}
	return NULL;
}

/* True when s (after '[') is a whole header: "name]" then only a comment. */
static bool is_whole_header(const char *s)
{
	const char *end = header_end(s);

	if (end == NULL)
		return false;
	end++;
	while (isspace((unsigned char)*end))
		end++;
	return *end == '\0' || *end == ';' || *end == '#';
}

/* True when the line (comment-stripped like inih) has '=' (or ':' when
 * colon is true) before any inline comment. */
static bool has_separator(const char *s, bool colon)
{
	bool was_space = false;

	for (; *s != '\0'; s++) {
		if (*s == '=' || (colon && *s == ':'))
			return true;
		if (was_space && *s == ';')
			return false;
		was_space = isspace((unsigned char)*s);
	}
	return false;
}

/* Cuts s at an inline comment (a ';' after white space, as inih has it)
 * and strips the white space before it. */
static void strip_inline_comment(char *s)
{
	bool was_space = false;
	char *end;

	for (end = s; *end != '\0'; end++) {
		if (was_space && *end == ';')
			break;
		was_space = isspace((unsigned char)*end);
	}
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
}

/* Parses the text between '[' and ']' and opens that section. */
static void open_section(struct parser *p, const char *text, size_t len)
{
	struct agent_config *cfg = p->cfg;
	char buf[CONFIG_IDENTITY_MAX + 32], *s, *q;
	size_t wlen;
	enum sec sec = SEC_IGNORE;

	p->sec = SEC_IGNORE;
	if (len >= sizeof buf) {
		line_error(p, "section name too long");
		return;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	s = trim(buf);
	wlen = strcspn(s, " \t\"");
	for (enum sec i = SEC_AGENT; i <= SEC_ACCESS; i++)
		if (wlen == strlen(sec_names[i]) &&
		    strncmp(s, sec_names[i], wlen) == 0)
			sec = i;
	if (sec == SEC_IGNORE) {
		char hint[64] = "";
		for (enum sec i = SEC_AGENT; i <= SEC_ACCESS; i++) {
			char word[64];
			snprintf(word, sizeof word, "%.*s", (int)wlen, s);
			if (edit_distance(word, sec_names[i]) <= 2)
				snprintf(hint, sizeof hint,
				         " (did you mean [%s]?)", sec_names[i]);
		}
		line_error(p,
		           "[%s]: unknown section%s; known: [agent], [tls], "
		           "[serve], [follow], [database \"NAME\"], "
		           "[access \"IDENTITY\"]",
		           s, hint);
		return;
	}

	if (sec == SEC_DATABASE || sec == SEC_ACCESS) {
		const char *what = sec == SEC_DATABASE ? "NAME" : "IDENTITY";
		char *name = trim(s + wlen);
		long idx;
		size_t nlen = strlen(name);
		if (nlen < 2 || name[0] != '"' || name[nlen - 1] != '"') {
			line_error(p, "[%s]: write [%s \"%s\"]", s,
			           sec_names[sec], what);
			return;
		}
		name[nlen - 1] = '\0';
		name++;
		q = strchr(name, '"');
		if (q != NULL) {
			line_error(p, "[%s]: stray '\"' in the name", s);
			return;
		}
		if (sec == SEC_DATABASE && !is_database_name(name)) {
			line_error(p, "[database \"%s\"]: bad name: %s", name,
			           database_name_rule);
			return;
		}
		if (sec == SEC_ACCESS && !is_identity(name)) {
			line_error(p,
			           "[access \"%s\"]: bad identity: 1-255 "
			           "printable characters without "
			           "\" \\ [ ] ; # or outer spaces",
			           name);
			return;
		}
		idx = sec == SEC_DATABASE ? find_database(cfg, name)
		                          : find_access(cfg, name);
		if (idx >= 0) {
			int first =
			    section_origin(cfg, sec, (size_t)idx)->section_line;
			line_error(p,
			           "[%s \"%s\"]: section repeated (first at "
			           "line %d); merge them",
			           sec_names[sec], name, first);
			return;
		}
		if ((sec == SEC_DATABASE &&
		     cfg->n_databases >= CONFIG_MAX_DATABASES) ||
		    (sec == SEC_ACCESS && cfg->n_access >= CONFIG_MAX_ACCESS)) {
			line_error(p, "too many [%s] sections (at most %d)",
			           sec_names[sec],
			           sec == SEC_DATABASE ? CONFIG_MAX_DATABASES
			                               : CONFIG_MAX_ACCESS);
			return;
		}
		idx = sec == SEC_DATABASE ? add_database(cfg, name)
		                          : add_access(cfg, name);
		if (idx < 0) {
			p->nomem = true;
			return;
		}
		p->idx = (size_t)idx;
	} else {
		struct config_origin *o = section_origin(cfg, sec, 0);
		if (s[wlen] != '\0') {
			line_error(p,
			           "[%s]: unexpected text after the section "
			           "name",
			           s);
			return;
		}
		if (o->section_line != 0) {
			line_error(p,
			           "[%s]: section repeated (first at line "
			           "%d); merge them",
			           s, o->section_line);
			return;
		}
		p->idx = 0;
	}
	section_origin(cfg, sec, p->idx)->section_line = p->lineno;
	if (sec == SEC_SERVE)
		cfg->serve.present = true;
	if (sec == SEC_FOLLOW)
		cfg->follow.present = true;
	p->sec = sec;
}

/* ini_reader: hands inih one physical line at a time (see the top of this
 * file). Lines it rejects are reported here and replaced by an empty line. */
static char *read_line(char *buf, int num, void *stream)
{
	struct parser *p = stream;
	ssize_t n = getline(&p->raw, &p->raw_cap, p->file);
	char *line, *s;
	size_t len;

	if (n < 0)
		return NULL;
	p->lineno++;
	p->continuation = false;
	line = p->raw;
	len = (size_t)n;
	if (p->lineno == 1 && len >= 3 &&
	    memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
		line += 3;
		len -= 3;
	}
	if (strlen(line) != len) {
		line_error(p, "NUL byte in line");
		goto blank;
	}
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (num < 3 || len > (size_t)num - 2) {
		line_error(p,
		           "line longer than %d characters; continue a list "
		           "on indented lines",
		           num - 2);
		goto blank;
	}

	s = line;
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0' || *s == ';' || *s == '#')
		goto pass;
	if (*s == '[' && (s == line || is_whole_header(s + 1))) {
		const char *end = header_end(s + 1);
		p->cont_def = NULL; /* keys of the previous section end here */
		if (end == NULL) {
			line_error(p, "section header without ']'");
			p->sec = SEC_IGNORE;
			goto blank;
		}
		if (!is_whole_header(s + 1)) {
			line_error(p, "unexpected text after ']'");
			p->sec = SEC_IGNORE;
			goto blank;
		}
		open_section(p, s + 1, (size_t)(end - (s + 1)));
		p->inih_has_name = false;
		line = s; /* inih would read an indented header as a value */
		goto pass;
	}
	if (s > line && has_separator(s, false)) {
		line = s; /* an indented key is a key, not a continuation */
		goto pass;
	}
	if (s > line && p->inih_has_name) {
		/* inih 55 keeps inline comments in continuation lines (later
		 * versions strip them): strip them here for either. */
		strip_inline_comment(s);
		p->continuation = true;
		goto pass;
	}
	if (s == line && has_separator(s, true))
		goto pass;
	line_error(p, "expected \"key = value\" or \"[section]\"");
blank:
	buf[0] = '\n';
	buf[1] = '\0';
	return buf;
pass:
	len = strlen(line);
	memcpy(buf, line, len);
	buf[len] = '\n';
	buf[len + 1] = '\0';
	return buf;
}

/* ini_handler: the section name and line number from inih are not used
 * (truncated and unreliable respectively); the reader's are. */
static int on_value(void *user, const char *section, const char *name,
                    const char *value, int lineno)
{
	struct parser *p = user;
	struct target t = {p->cfg, p->sec, p->idx, p->lineno, p->sink};
	const struct key_def *d;
	char hint[80];
	int rc;

	(void)section;
	(void)lineno;
	/* Builds with INI_CALL_HANDLER_ON_NEW_SECTION or INI_ALLOW_NO_VALUE
	 * would call with NULLs; the reader has handled such lines. */
	if (name == NULL || value == NULL)
		return 1;
	if (p->continuation) {
		/* Only a list that was accepted so far is extended. */
		if (p->cont_def == NULL || p->sec == SEC_IGNORE ||
		    p->sec == SEC_NONE)
			return 1;
		if (p->cont_def->type != T_ENDPOINTS &&
		    p->cont_def->type != T_NAMES) {
			report_at(p->sink, p->cfg, p->lineno, p->sec, p->idx,
			          p->cont_def->name,
			          "indented line continues a value that takes "
			          "one line (only lists do)");
			section_origin(p->cfg, p->sec, p->idx)
			    ->key_bad[key_slot(p->cont_def)] = 1;
			p->cont_def = NULL;
			return 1;
		}
		rc = apply(&t, p->cont_def, value, MODE_CONTINUE);
		if (rc == -2)
			p->nomem = true;
		if (rc != 0) {
			section_origin(p->cfg, p->sec, p->idx)
			    ->key_bad[key_slot(p->cont_def)] = 1;
			p->cont_def = NULL;
		}
		return 1;
	}
	p->inih_has_name = true;
	p->cont_def = NULL;
	if (p->sec == SEC_IGNORE)
		return 1;
	if (p->sec == SEC_NONE) {
		line_error(p, "%s: key outside any section", name);
		return 1;
	}
	d = find_key(p->sec, name);
	if (d == NULL) {
		key_hint(p->sec, name, hint, sizeof hint);
		report_at(p->sink, p->cfg, p->lineno, p->sec, p->idx, name,
		          "unknown key%s", hint);
		return 1;
	}
	rc = apply(&t, d, value, MODE_FILE);
	if (rc == -2)
		p->nomem = true;
	if (rc == 0 || (d->type != T_ENDPOINTS && d->type != T_NAMES))
		p->cont_def = d;
	return 1;
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

int config_load(const char *path, struct agent_config *cfg, unsigned flags,
                struct config_errors *errs)
{
	struct sink sink = {errs, NULL, 0, false};
	struct parser p = {0};
	int rc;

	config_errors_init(errs);
	rc = config_init(cfg);
	if (rc != 0) {
		report(&sink, "", "out of memory");
		return rc;
	}
	cfg->flags = flags;
	cfg->path = strdup(path);
	if (cfg->path == NULL) {
		report(&sink, "", "out of memory");
		return MA_ERR_NOMEM;
	}
	p.cfg = cfg;
	p.sink = &sink;
	p.sec = SEC_NONE;
	p.file = fopen(path, "re");
	if (p.file == NULL) {
		report(&sink, "", "%s: cannot open: %s", path, strerror(errno));
		return MA_ERR_IO;
	}
	rc = ini_parse_stream(read_line, &p, on_value, &p);
	if (ferror(p.file)) {
		report(&sink, "", "%s: read error: %s", path, strerror(errno));
		fclose(p.file);
		free(p.raw);
		return MA_ERR_IO;
	}
	fclose(p.file);
	free(p.raw);
	if (rc == -2 || p.nomem) {
		report(&sink, "", "%s: out of memory", path);
		return MA_ERR_NOMEM;
	}
	/* The reader hands inih only lines it has checked, so inih should
	 * find nothing; if it does, say so rather than drop it. */
	if (rc > 0 && sink.n == 0)
		report(&sink, "", "%s:%d: syntax error", path, rc);
	return sink.n > 0 ? MA_ERR_CONFIG : 0;
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
			if (strcmp(secname, sec_names[i]) == 0)
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
			                 sec_names[sec],
			                 sec == SEC_DATABASE ? "NAME"
			                                     : "IDENTITY");
		memcpy(inst, dot + 1, ilen);
		inst[ilen] = '\0';
		if (sec == SEC_DATABASE && !is_database_name(inst))
			return ma_errorf(errmsg, MA_ERR_CONFIG,
			                 "--set %s: bad name \"%s\": %s", name,
			                 inst, database_name_rule);
		if (sec == SEC_ACCESS && !is_identity(inst))
			return ma_errorf(errmsg, MA_ERR_CONFIG,
			                 "--set %s: bad identity \"%s\"", name,
			                 inst);
	} else if (last != dot) {
		return ma_errorf(errmsg, MA_ERR_CONFIG,
		                 "--set %s: [%s] has no named instances", name,
		                 sec_names[sec]);
	}
	d = find_key(sec, last + 1);
	if (d == NULL) {
		char hint[80];
		key_hint(sec, last + 1, hint, sizeof hint);
		return ma_errorf(errmsg, MA_ERR_CONFIG,
		                 "--set %s: unknown key%s", name, hint);
	}
	if (sec == SEC_DATABASE) {
		idx = find_database(cfg, inst);
		if (idx < 0 && cfg->n_databases >= CONFIG_MAX_DATABASES)
			return ma_errorf(errmsg, MA_ERR_CONFIG,
			                 "--set %s: too many databases", name);
		if (idx < 0 && (idx = add_database(cfg, inst)) < 0)
			return ma_errorf(errmsg, MA_ERR_NOMEM,
			                 "--set %s: out of memory", name);
	} else if (sec == SEC_ACCESS) {
		idx = find_access(cfg, inst);
		if (idx < 0 && cfg->n_access >= CONFIG_MAX_ACCESS)
			return ma_errorf(errmsg, MA_ERR_CONFIG,
			                 "--set %s: too many access sections",
			                 name);
		if (idx < 0 && (idx = add_access(cfg, inst)) < 0)
			return ma_errorf(errmsg, MA_ERR_NOMEM,
			                 "--set %s: out of memory", name);
	}
	{
		struct config_origin *o = section_origin(cfg, sec, (size_t)idx);
		struct target t = {cfg, sec, (size_t)idx, -1, &sink};
		if (o->section_line == 0)
			o->section_line = -1;
		if (sec == SEC_SERVE)
			cfg->serve.present = true;
		if (sec == SEC_FOLLOW)
			cfg->follow.present = true;
		rc = apply(&t, d, value, MODE_SET);
	}
	if (rc == -2)
		return ma_errorf(errmsg, MA_ERR_NOMEM,
		                 "--set %s: out of memory", name);
	return rc == 0 ? 0 : MA_ERR_CONFIG;
}

/* Reports a required key that was not given. */
static void require(struct sink *s, struct agent_config *cfg, enum sec sec,
                    size_t idx, const char *key, const char *why)
{
	if (key_line(cfg, sec, idx, key) != 0)
		return; /* given: accepted, or rejected and reported */
	report_at(s, cfg, section_origin(cfg, sec, idx)->section_line, sec, idx,
	          key, "required key is missing%s", why);
}

/* Line for an error about a relation between keys a and b: b's line if
 * given, else a's, else the section's. */
static int pair_line(struct agent_config *cfg, enum sec sec, size_t idx,
                     const char *a, const char *b)
{
	int lb = key_line(cfg, sec, idx, b), la = key_line(cfg, sec, idx, a);

	if (lb != 0)
		return lb;
	if (la != 0)
		return la;
	return section_origin(cfg, sec, idx)->section_line;
}

/* Both keys usable for a relation check. */
static bool pair_good(struct agent_config *cfg, enum sec sec, const char *a,
                      const char *b)
{
	return key_good(cfg, sec, 0, a) && key_good(cfg, sec, 0, b);
}

static void check_windows(struct sink *s, struct agent_config *cfg,
                          enum sec sec, uint64_t conn, uint64_t stream)
{
	char a[32], b[32];

	if (!pair_good(cfg, sec, "connection_window", "stream_window") ||
	    stream <= conn)
		return;
	format_size(stream, a, sizeof a);
	format_size(conn, b, sizeof b);
	report_at(s, cfg,
	          pair_line(cfg, sec, 0, "connection_window", "stream_window"),
	          sec, 0, "stream_window",
	          "%s is larger than connection_window %s", a, b);
}

/* Same directory named twice in `field` of the database sections. */
static void check_distinct_dirs(struct sink *s, struct agent_config *cfg,
                                const char *key, bool spool)
{
	for (size_t i = 0; i < cfg->n_databases; i++) {
		const char *di = spool ? cfg->databases[i].spool
		                       : cfg->databases[i].directory;
		if (di == NULL)
			continue;
		for (size_t j = 0; j < i; j++) {
			const char *dj = spool ? cfg->databases[j].spool
			                       : cfg->databases[j].directory;
			if (dj == NULL || strcmp(di, dj) != 0)
				continue;
			report_at(s, cfg,
			          key_line(cfg, SEC_DATABASE, i, key) != 0
			              ? key_line(cfg, SEC_DATABASE, i, key)
			              : cfg->databases[i].origin.section_line,
			          SEC_DATABASE, i, key,
			          "%s is also used by [database \"%s\"]", di,
			          cfg->databases[j].name);
			break;
		}
	}
}

static void validate_serve(struct sink *s, struct agent_config *cfg)
{
	struct config_serve *sv = &cfg->serve;
	char a[32], b[32];

	if (!sv->present) {
		report(s, "",
		       "%s: [serve]: section is missing; `mirror-agent "
		       "serve` needs it",
		       cfg_path(cfg));
		return;
	}
	require(s, cfg, SEC_SERVE, 0, "listen", " (host:port to listen on)");
	check_windows(s, cfg, SEC_SERVE, sv->connection_window,
	              sv->stream_window);
	if (pair_good(cfg, SEC_SERVE, "max_unacked_bytes", "chunk_size") &&
	    sv->chunk_size > sv->max_unacked_bytes) {
		format_size(sv->chunk_size, a, sizeof a);
		format_size(sv->max_unacked_bytes, b, sizeof b);
		report_at(s, cfg,
		          pair_line(cfg, SEC_SERVE, 0, "max_unacked_bytes",
		                    "chunk_size"),
		          SEC_SERVE, 0, "chunk_size",
		          "%s is larger than max_unacked_bytes %s", a, b);
	}
	if (pair_good(cfg, SEC_SERVE, "idle_timeout", "heartbeat_interval") &&
	    sv->heartbeat_interval_ms * 2 > sv->idle_timeout_ms) {
		format_duration(sv->heartbeat_interval_ms, a, sizeof a);
		format_duration(sv->idle_timeout_ms, b, sizeof b);
		report_at(s, cfg,
		          pair_line(cfg, SEC_SERVE, 0, "idle_timeout",
		                    "heartbeat_interval"),
		          SEC_SERVE, 0, "heartbeat_interval",
		          "%s is more than half of idle_timeout %s: idle "
		          "mirrors would time out between heartbeats",
		          a, b);
	}
	for (size_t i = 0; i < cfg->n_databases; i++)
		require(s, cfg, SEC_DATABASE, i, "spool",
		        " (`serve` reads the tap's spool directory)");
	check_distinct_dirs(s, cfg, "spool", true);
	if (cfg->n_access == 0)
		report(s, "",
		       "%s: no [access \"IDENTITY\"] section: no mirror could "
		       "read anything",
		       cfg_path(cfg));
	for (size_t i = 0; i < cfg->n_access; i++) {
		struct config_access *ac = &cfg->access[i];
		require(s, cfg, SEC_ACCESS, i, "databases", "");
		for (size_t j = 0; j < ac->databases.n; j++) {
			const char *name = ac->databases.v[j];
			if (strcmp(name, "*") == 0 ||
			    find_database(cfg, name) >= 0)
				continue;
			report_at(
			    s, cfg, key_line(cfg, SEC_ACCESS, i, "databases"),
			    SEC_ACCESS, i, "databases",
			    "\"%s\": no [database \"%s\"] section", name, name);
		}
	}
}

static int validate_follow(struct sink *s, struct agent_config *cfg)
{
	struct config_follow *f = &cfg->follow;
	char a[32], b[32];

	if (!f->present) {
		report(s, "",
		       "%s: [follow]: section is missing; `mirror-agent "
		       "follow` needs it",
		       cfg_path(cfg));
		return 0;
	}
	require(s, cfg, SEC_FOLLOW, 0, "sources",
	        " (host:port of one or more source nodes)");
	if (pair_good(cfg, SEC_FOLLOW, "backoff_min", "backoff_max") &&
	    f->backoff_min_ms > f->backoff_max_ms) {
		format_duration(f->backoff_min_ms, a, sizeof a);
		format_duration(f->backoff_max_ms, b, sizeof b);
		report_at(
		    s, cfg,
		    pair_line(cfg, SEC_FOLLOW, 0, "backoff_min", "backoff_max"),
		    SEC_FOLLOW, 0, "backoff_max",
		    "%s is smaller than backoff_min %s", b, a);
	}
	if (pair_good(cfg, SEC_FOLLOW, "idle_timeout", "keepalive") &&
	    f->keepalive_ms != 0 && f->keepalive_ms >= f->idle_timeout_ms) {
		format_duration(f->keepalive_ms, a, sizeof a);
		format_duration(f->idle_timeout_ms, b, sizeof b);
		report_at(
		    s, cfg,
		    pair_line(cfg, SEC_FOLLOW, 0, "idle_timeout", "keepalive"),
		    SEC_FOLLOW, 0, "keepalive",
		    "%s is not below idle_timeout %s: the connection "
		    "would time out before a keep-alive",
		    a, b);
	}
	check_windows(s, cfg, SEC_FOLLOW, f->connection_window,
	              f->stream_window);
	for (size_t i = 0; i < cfg->n_databases; i++) {
		struct config_database *db = &cfg->databases[i];
		char path[PATH_MAX];
		if (db->directory != NULL ||
		    !key_good(cfg, SEC_DATABASE, i, "directory"))
			continue;
		if (cfg->agent.data_dir == NULL ||
		    io_path_join(path, sizeof path, cfg->agent.data_dir,
		                 db->name) != 0) {
			report_at(s, cfg, db->origin.section_line, SEC_DATABASE,
			          i, "directory",
			          "data_dir/%s is too long a path; set "
			          "directory",
			          db->name);
			continue;
		}
		db->directory = strdup(path);
		if (db->directory == NULL)
			return MA_ERR_NOMEM;
	}
	check_distinct_dirs(s, cfg, "directory", false);
	return 0;
}

int config_validate_role(struct agent_config *cfg, unsigned roles,
                         struct config_errors *errs)
{
	struct sink sink = {errs, NULL, 0, false};
	int rc = 0;

	require(&sink, cfg, SEC_TLS, 0, "ca_file",
	        roles & CONFIG_ROLE_SERVE
	            ? " (CA that signs the mirrors' client certificates)"
	            : " (CA that signs the source's certificate)");
	require(&sink, cfg, SEC_TLS, 0, "cert_file", "");
	require(&sink, cfg, SEC_TLS, 0, "key_file", "");
	if (cfg->n_databases == 0)
		report(&sink, "",
		       "%s: no [database \"NAME\"] section: nothing "
		       "to %s",
		       cfg_path(cfg),
		       roles & CONFIG_ROLE_SERVE ? "serve" : "mirror");
	if (roles & CONFIG_ROLE_SERVE)
		validate_serve(&sink, cfg);
	if (roles & CONFIG_ROLE_FOLLOW)
		rc = validate_follow(&sink, cfg);
	if (rc != 0)
		return rc;
	return sink.n > 0 ? MA_ERR_CONFIG : 0;
}

struct config_database *config_database_find(const struct agent_config *cfg,
                                             const char *name)
{
	long i = find_database(cfg, name);

	return i >= 0 ? &cfg->databases[i] : NULL;
}

bool config_access_allows(const struct agent_config *cfg, const char *identity,
                          const char *name)
{
	long i = find_access(cfg, identity);

	if (i < 0)
		return false;
	for (size_t j = 0; j < cfg->access[i].databases.n; j++) {
		const char *n = cfg->access[i].databases.v[j];
		if (strcmp(n, "*") == 0 || strcmp(n, name) == 0)
			return true;
	}
	return false;
}

const char *config_key_name(size_t i, const char **defval)
{
	if (i >= N_KEYS)
		return NULL;
	if (defval != NULL)
		*defval = keys[i].defval != NULL ? keys[i].defval : "";
	return keys[i].full;
}
