/* The one status model of a running follower, and its renderings.
 *
 * Every figure a user or a monitor sees about a mirror comes from one
 * struct status_report, built once per rendering from the follower
 * (status_report_from_follow) and written by one JSON writer for both the
 * status file (<data_dir>/status, rewritten every second and on every
 * state change) and the read API's /status, and by one Prometheus writer
 * for /metrics. `mirror-agent status` reads the file back with a real JSON
 * parser (jansson). docs/OPERATIONS.md, "Status", documents every field.
 *
 * Two indexes are named apart because they differ while entries are in
 * flight:
 *   log_index      the last index durable in the mirror's wal (what a
 *                  restart keeps, what a downstream serve offers);
 *   applied_index  the last index the applier applied (what readers see;
 *                  with applier "none" it follows log_index).
 * lag_entries is source_commit_index - applied_index (0 when ahead).
 * Both lags describe the source as it is now only while a stream carries
 * its figures (lag_known); otherwise they are written as null (JSON) or
 * NaN (Prometheus), never as 0, and last_contact_ms -- the age of the
 * last word from the source -- says how old the last figures are.
 *
 * Pure: no I/O except status_file_write(), no clock (the caller passes
 * the pid and the time). */
#ifndef MIRROR_AGENT_STATUS_H
#define MIRROR_AGENT_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/follow/follow_refresh.h"
#include "agent/follow/mirror_state.h"

struct follow;

#define STATUS_MAX_DATABASES 64 /* FOLLOW_MAX_DATABASES */
#define STATUS_NAME_SIZE 72     /* database names are at most 64 bytes */
#define STATUS_ENDPOINT_SIZE 96 /* "host:port", IPv6 in brackets */
#define STATUS_TEXT_SIZE 256    /* error texts (mirror_status.error) */
#define STATUS_APPLIER_SIZE 16  /* "none", "kv", "stopped" */
/* Largest JSON document status_json_parse() accepts (the writer's output
 * for STATUS_MAX_DATABASES with every text full and escaped is ~190 KiB). */
#define STATUS_JSON_MAX (1u << 20)
#define STATUS_MAX_SOURCES 16 /* FOLLOW_MAX_ENDPOINTS */

struct status_database {
	char database[STATUS_NAME_SIZE];
	enum mirror_state state;
	uint64_t bytes_done, bytes_total; /* bootstrap */
	uint64_t rate_bytes_per_s;        /* bootstrap, over the last second */
	uint64_t log_index;               /* durable in the mirror's wal */
	uint64_t applied_index;           /* applied by the applier */
	uint64_t source_commit_index;
	uint64_t lag_entries; /* source_commit_index - applied_index, >= 0 */
	uint64_t lag_ms;      /* on the source's clock (mirror_state.h) */
	/* Both lags are current (JSON null / NaN when not). */
	bool lag_known;
	/* Age in ms of the last word from the source at updated_unix_ms;
	 * has_contact false (JSON null) before the first. */
	uint64_t last_contact_ms;
	bool has_contact;
	uint64_t reconnects;
	char endpoint[STATUS_ENDPOINT_SIZE];  /* the source it follows */
	char error[STATUS_TEXT_SIZE];         /* "" when none */
	char applier[STATUS_APPLIER_SIZE];    /* applier kind, or "stopped" */
	char applier_error[STATUS_TEXT_SIZE]; /* "" when healthy (JSON null) */
	uint64_t skipped_commands;            /* malformed commands skipped */
	/* Counters since start (mirror_status.h); /metrics only, not in
	 * the JSON. */
	uint64_t received_bytes, received_entries;
	uint64_t appended_entries, refetched_bytes;
	uint64_t wal_syncs, wal_sync_ms; /* the mirror's wal fdatasyncs */
	uint64_t snapshot_wire_bytes, snapshot_raw_bytes;
	/* Retention headroom (mirror_status): JSON retention_headroom_s
	 * (null when unknown), metric mirror_retention_headroom_seconds
	 * (only when known). */
	bool retention_headroom_known;
	uint64_t retention_headroom_s;
	/* MIRROR_PROMOTED: the promoted index and term (JSON promoted_index,
	 * promoted_term; null in every other state). */
	uint64_t promoted_index, promoted_term;
	/* Freshness of the sources (agent/follow/source_view.h): the age
	 * of the followed node's last contact with its leader (JSON
	 * source_last_leader_contact in seconds, null when unknown; metric
	 * mirror_source_last_leader_contact_seconds), the moves to a
	 * fresher endpoint since start and the reason of the last
	 * (mirror_source_switches_total), and each endpoint's position. */
	bool source_leader_contact_known;
	uint64_t source_leader_contact_ms;
	uint64_t source_switches;
	char source_switch_reason[STATUS_TEXT_SIZE]; /* "": none (null) */
	size_t nsources;
	struct status_source {
		char endpoint[STATUS_ENDPOINT_SIZE];
		bool observed;         /* commit_index, age: null when not */
		uint64_t commit_index; /* what it can serve */
		uint64_t observed_age_ms;
		char leader[8]; /* "self", "known", "none"; "": unknown */
		bool contact_known;
		uint64_t leader_contact_ms; /* age */
		char probe[8];              /* "ok", "failed", "foreign", "" */
	} sources[STATUS_MAX_SOURCES];
	/* Background snapshot refresh of a database with the none applier
	 * (agent/follow/follow_refresh.h; issue 10). refresh_on false when
	 * it is off (another applier, or refresh_distance 0): the JSON
	 * fields are then null and no refresh metric is written. Since
	 * start: snapshots installed (JSON refresh_installed, metric
	 * mirror_refresh_snapshots_installed_total), snapshot bytes
	 * received (refresh_received_bytes, ..._received_bytes_total),
	 * failed attempts (refresh_failures, ..._failures_total); the
	 * newest snapshot installed (refresh_last_index, null before the
	 * first) and the reason of the last failure (refresh_error, null
	 * when none so far; it stays after a later success: compare
	 * refresh_failures). refresh_state: "idle", "checking" (asked the
	 * source's info), "fetching", "paused" (pacing or backoff),
	 * "verifying" (reading a resumed prefix back). */
	bool refresh_on;
	char refresh_state[12];
	uint64_t refresh_installed, refresh_bytes, refresh_failures;
	uint64_t refresh_last_index; /* 0: none installed yet */
	char refresh_error[STATUS_TEXT_SIZE];
};

/* The process, for the Prometheus process_* metrics (read from /proc by
 * status_process_read; valid false when it could not be read). */
struct status_process {
	bool valid;
	double cpu_seconds;        /* user + system */
	uint64_t resident_bytes;   /* RSS */
	uint64_t virtual_bytes;    /* address space */
	uint64_t open_fds;         /* entries of /proc/self/fd */
	uint64_t max_fds;          /* RLIMIT_NOFILE soft limit */
	double start_time_seconds; /* Unix time the process started */
};

struct status_report {
	long pid;
	int64_t updated_unix_ms; /* wall clock of the rendering */
	/* The final report of a follower that stopped (cleanly or on a
	 * fatal error): the states are its last ones. JSON "stopped"; a
	 * file without it (an older writer) reads as false. */
	bool stopped;
	char endpoint[STATUS_ENDPOINT_SIZE];
	size_t count; /* databases[0 .. count-1] */
	struct status_database databases[STATUS_MAX_DATABASES];
	struct status_process process; /* /metrics only */
};

/* Fills d from the state machine's status plus the two indexes, with
 * lag_entries computed from applied_index. Texts are cut to their fields'
 * sizes; the applier fields are left "none"/""/0 for the caller. */
void status_database_set(struct status_database *d, const char *name,
                         const struct mirror_status *st, const char *endpoint,
                         uint64_t log_index, uint64_t applied_index);

/* Builds the report of a follower: every database's mirror_status, its
 * log_index (the state machine's index, which the follower moves to the
 * wal's durable index after every sync) and its applier's applied index.
 * Once the follower has closed a database (follow_free writes a last
 * status) the applier is gone: applied_index is then log_index, what a
 * restart replays to, and applier reads "stopped". */
void status_report_from_follow(const struct follow *f, long pid,
                               int64_t now_unix_ms, struct status_report *r);

/* Fills d for database i of a running follower exactly as
 * status_report_from_follow does for each (the read API's per-request
 * figures come from here too). */
void status_database_from_follow(const struct follow *f, size_t i,
                                 struct status_database *d);

/* The endpoint fresher than the followed one, as last heard: among the
 * endpoints observed (sources[]) other than the followed one
 * (d->endpoint), the one with the highest commit index, if it is above
 * the followed one's (its observed commit index, else
 * source_commit_index); the first such on a tie. Its position in
 * d->sources in *k; false when none is fresher (or nothing is known). */
bool status_database_fresher_source(const struct status_database *d, size_t *k);

/* The JSON text of r (one line, compact, ending in "\n"; docs/OPERATIONS.md
 * shows it), malloc()ed and NUL-terminated, its length (without the NUL)
 * in *len. Strings are escaped per RFC 8259: quote, backslash and every
 * control character; valid UTF-8 passes through, an invalid byte becomes
 * U+FFFD. NULL when out of memory. */
char *status_json_format(const struct status_report *r, size_t *len);

/* Parses what status_json_format() wrote (keys in any order; unknown keys
 * are ignored, so an older reader reads a newer file). Every documented
 * field must be present with its type; a state must be a known name.
 * 0, MA_ERR_CORRUPT (not JSON, a missing or mistyped field, too many
 * databases: errmsg names it and where) or MA_ERR_NOMEM. */
int status_json_parse(const char *text, size_t len, struct status_report *r,
                      char *errmsg);

/* The Prometheus text exposition (version 0.0.4) of r, malloc()ed and
 * NUL-terminated, length in *len; NULL when out of memory. Base units
 * (seconds, bytes), counters end in _total, and `promtool check metrics`
 * accepts it (test_metrics.sh). Metrics (docs/OPERATIONS.md, "Metrics"):
 * mirror_build_info{version,commit,ngtcp2,nghttp3,wolfssl,libevent,
 * msgpack} 1; per database (label db): mirror_state{state} (1 for the
 * current state), mirror_bootstrap_received_bytes,
 * mirror_bootstrap_size_bytes, mirror_applied_index, mirror_log_index,
 * mirror_source_commit_index, mirror_lag_entries, mirror_lag_seconds
 * (both NaN while not current), mirror_last_contact_seconds (NaN before
 * the first word from the source),
 * mirror_applier_failed (gauges), mirror_reconnects_total,
 * mirror_received_bytes_total, mirror_received_entries_total,
 * mirror_appended_entries_total, mirror_refetched_bytes_total,
 * mirror_wal_syncs_total, mirror_wal_sync_seconds_total (counters);
 * mirror_snapshot_wire_bytes_total, mirror_snapshot_raw_bytes_total
 * (counters);
 * for a database whose background refresh is on (refresh_on):
 * mirror_refresh_state{state} (1 for the current one),
 * mirror_refresh_last_snapshot_index (gauges),
 * mirror_refresh_snapshots_installed_total,
 * mirror_refresh_received_bytes_total, mirror_refresh_failures_total;
 * when r->process.valid: process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds. */
char *status_prometheus_format(const struct status_report *r, size_t *len);

/* mirror_build_info and, when p->valid, the process_* metrics: the same
 * lines status_prometheus_format() writes for them, for the other exporter
 * of this program (serve's /metrics, agent/serve/serve_metrics.c).
 * malloc()ed, NUL-terminated, length in *len; NULL when out of memory. */
char *status_prometheus_process_format(const struct status_process *p,
                                       size_t *len);

/* A lag sample taken while the lag was unknown (no current figures):
 * drawn as a gap, never as 0. */
#define STATUS_LAG_UNKNOWN UINT64_MAX

/* What the status page shows beyond the report: the configured source
 * endpoints (the followed one is marked) and each database's recent lag
 * samples, one per second, oldest first (up to lag_cap of them;
 * STATUS_LAG_UNKNOWN where the lag was unknown). The last contact comes
 * from the report (has_contact, last_contact_ms). */
struct status_html_extra {
	const char *const *sources;
	size_t nsources;
	const uint64_t *lag_ms[STATUS_MAX_DATABASES];
	size_t nlag[STATUS_MAX_DATABASES];
	size_t lag_cap;
	unsigned refresh_s; /* the page reloads itself; 0: 2 s */
};

/* The status page: one self-contained HTML document (no script, no
 * external asset; inline CSS and SVG sparklines: one <polyline> per run
 * of known samples, an unknown sample is a gap; the <svg> carries
 * data-samples, data-unknown and data-runs) with a row per database:
 * state, bootstrap progress, applied and source commit index, lag in
 * entries and time, last contact, the sources and which is followed, the
 * lag of the last minutes. Each row is <tr class="db" id="db-NAME"> with
 * data-state, data-applied, data-source-commit, data-lag-entries and
 * data-lag-ms attributes (both empty, and both lag cells "unknown", when
 * the lag is not known: null in the JSON). With the freshness view
 * (d->nsources > 0) the sources cell lists every endpoint's position as
 * <li class="src[ followed]" data-endpoint data-commit data-leader
 * data-leader-contact-ms data-probe> (an unknown figure is an empty
 * attribute and a dash), then <div class="leader-contact" data-ms> (the
 * followed node's last contact with its leader) and <div class="switch"
 * data-switches> with the last switch's reason; a database whose
 * background refresh is on shows <div class="refresh" data-state
 * data-installed> in its state cell. Texts are HTML-escaped. x may be
 * NULL.
 * malloc()ed, NUL-terminated, length in *len; NULL when out of memory. */
char *status_html_format(const struct status_report *r,
                         const struct status_html_extra *x, size_t *len);

/* The commit mirror_build_info names ("unknown" unless the program sets
 * it at start-up from its build-time git describe). */
extern const char *status_build_commit;

/* Reads this process's figures from /proc/self (glue, status_follow.c).
 * On any read or parse failure p->valid is false. */
void status_process_read(struct status_process *p);

/* Writes r durably (tmp, fsync, rename) to path. 0, or MA_ERR_NOMEM /
 * MA_ERR_IO with errmsg naming the file and the reason. */
int status_file_write(const char *path, const struct status_report *r,
                      char *errmsg);

/* The name of a background refresh phase in the status ("idle",
 * "checking", "fetching", "paused", "verifying"; follow_refresh.h). */
const char *status_refresh_phase_name(enum follow_refresh_phase p);

/* The state named name ("Following", ...): 0, or MA_ERR_NOTFOUND. */
int status_state_parse(const char *name, enum mirror_state *out);

/* True for the states a healthy mirror is in: Bootstrapping, CatchingUp,
 * Following. Connecting, Degraded, Disconnected and Error are not, nor is
 * Promoted (no longer a mirror: `mirror-agent status` has its own exit
 * code for it). */
bool status_state_healthy(enum mirror_state s);

/* How stale database d's data may be, in ms: the lag behind the source's
 * commit when it last said (lag_ms, on the source's clock) plus the age
 * of that word (last_contact_ms). False when it cannot say: no current
 * figures (disconnected, retrying, or not yet told). What a read's
 * max_staleness bounds. */
bool status_database_staleness(const struct status_database *d,
                               uint64_t *staleness_ms);
/* Ready to serve fresh reads: Following with current figures (/readyz
 * wants every database ready). */
bool status_database_ready(const struct status_database *d);

#endif
