/* The status model and its two writers (JSON, Prometheus text). Pure: the
 * follower glue is in status_follow.c, the reader in status_json_read.c. */
#include "agent/status/status.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-config.h" /* PACKAGE_VERSION, MA_*_VERSION */
#include "common/errors.h"

/* A growing output buffer; after an allocation failure every append is a
 * no-op and the result is NULL, so the writers check once at the end. */
struct out {
	char *p;
	size_t len, cap;
	bool failed;
};

static bool reserve(struct out *o, size_t more)
{
	size_t cap;
	char *p;

	if (o->failed)
		return false;
	if (o->len + more + 1 <= o->cap)
		return true;
	cap = o->cap ? o->cap : 1024;
	while (cap < o->len + more + 1)
		cap *= 2;
	p = realloc(o->p, cap);
	if (p == NULL) {
		o->failed = true;
		return false;
	}
	o->p = p;
	o->cap = cap;
	return true;
}

static void put(struct out *o, const char *s, size_t n)
{
	if (!reserve(o, n))
		return;
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void printf_(struct out *o,
                                                          const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0) {
		o->failed = true;
		return;
	}
	if ((size_t)n < sizeof small) {
		put(o, small, (size_t)n);
		return;
	}
	if (!reserve(o, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(o->p + o->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	o->len += (size_t)n;
}

static char *finish(struct out *o, size_t *len)
{
	if (o->failed || !reserve(o, 0)) {
		free(o->p);
		return NULL;
	}
	o->p[o->len] = '\0';
	*len = o->len;
	return o->p;
}

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0
 * when it is not one (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* A JSON string literal of s (RFC 8259 section 7). */
static void json_string(struct out *o, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	put(o, "\"", 1);
	while (n > 0) {
		size_t k;
		switch (*p) {
		case '"':
			put(o, "\\\"", 2);
			break;
		case '\\':
			put(o, "\\\\", 2);
			break;
		case '\b':
			put(o, "\\b", 2);
			break;
		case '\f':
			put(o, "\\f", 2);
			break;
		case '\n':
			put(o, "\\n", 2);
			break;
		case '\r':
			put(o, "\\r", 2);
			break;
		case '\t':
			put(o, "\\t", 2);
			break;
		default:
			if (*p < 0x20) {
				printf_(o, "\\u%04x", *p);
				break;
			}
			k = utf8_len(p, n);
			if (k == 0) {
				/* A path or peer message in a foreign
				 * encoding: keep the document valid. */
				put(o, "\xef\xbf\xbd", 3);
				break;
			}
			put(o, (const char *)p, k);
			p += k;
			n -= k;
			continue;
		}
		p++;
		n--;
	}
	put(o, "\"", 1);
}

static void copy_text(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src != NULL ? src : "");
}

void status_database_set(struct status_database *d, const char *name,
                         const struct mirror_status *st, const char *endpoint,
                         uint64_t log_index, uint64_t applied_index)
{
	memset(d, 0, sizeof *d);
	copy_text(d->database, sizeof d->database, name);
	d->state = st->state;
	d->bytes_done = st->bytes_done;
	d->bytes_total = st->bytes_total;
	d->rate_bytes_per_s = st->rate_bytes_per_s;
	d->log_index = log_index;
	d->applied_index = applied_index;
	d->source_commit_index = st->source_commit_index;
	d->lag_entries = st->source_commit_index > applied_index
	                     ? st->source_commit_index - applied_index
	                     : 0;
	d->lag_ms = st->lag_ms;
	d->lag_known = st->lag_known;
	d->has_contact = st->has_contact;
	d->last_contact_ms = st->last_contact_age_ms;
	d->reconnects = st->reconnects;
	copy_text(d->endpoint, sizeof d->endpoint, endpoint);
	copy_text(d->error, sizeof d->error, st->error);
	copy_text(d->applier, sizeof d->applier, "none");
	d->received_bytes = st->received_bytes;
	d->received_entries = st->received_entries;
	d->appended_entries = st->appended_entries;
	d->refetched_bytes = st->refetched_bytes;
	d->wal_syncs = st->wal_syncs;
	d->wal_sync_ms = st->wal_sync_ms;
	d->snapshot_wire_bytes = st->snapshot_wire_bytes;
	d->snapshot_raw_bytes = st->snapshot_raw_bytes;
	d->retention_headroom_known = st->retention_headroom_known;
	d->retention_headroom_s = st->retention_headroom_s;
	d->promoted_index = st->promoted_index;
	d->promoted_term = st->promoted_term;
}

/* Seconds with millisecond precision, or null. */
static void json_seconds(struct out *o, bool known, uint64_t ms)
{
	if (known)
		printf_(o, "%" PRIu64 ".%03u", ms / 1000,
		        (unsigned)(ms % 1000));
	else
		puts_(o, "null");
}

/* The freshness fields of a database (status.h). */
static void json_freshness(struct out *o, const struct status_database *d)
{
	puts_(o, ",\"source_last_leader_contact\":");
	json_seconds(o, d->source_leader_contact_known,
	             d->source_leader_contact_ms);
	printf_(o, ",\"source_switches\":%" PRIu64 ",\"source_switch_reason\":",
	        d->source_switches);
	if (d->source_switch_reason[0] != '\0')
		json_string(o, d->source_switch_reason);
	else
		puts_(o, "null");
	puts_(o, ",\"sources\":[");
	for (size_t k = 0; k < d->nsources && k < STATUS_MAX_SOURCES; k++) {
		const struct status_source *s = &d->sources[k];

		puts_(o, k ? ",{\"endpoint\":" : "{\"endpoint\":");
		json_string(o, s->endpoint);
		if (s->observed)
			printf_(o,
			        ",\"commit_index\":%" PRIu64
			        ",\"observed_age_ms\":%" PRIu64,
			        s->commit_index, s->observed_age_ms);
		else
			puts_(
			    o,
			    ",\"commit_index\":null,\"observed_age_ms\":null");
		puts_(o, ",\"leader\":");
		if (s->leader[0] != '\0')
			json_string(o, s->leader);
		else
			puts_(o, "null");
		puts_(o, ",\"leader_contact\":");
		json_seconds(o, s->contact_known, s->leader_contact_ms);
		puts_(o, ",\"probe\":");
		json_string(o, s->probe[0] != '\0' ? s->probe : "none");
		puts_(o, "}");
	}
	puts_(o, "]");
}

const char *status_refresh_phase_name(enum follow_refresh_phase p)
{
	switch (p) {
	case FOLLOW_REFRESH_IDLE:
		return "idle";
	case FOLLOW_REFRESH_INFO:
		return "checking";
	case FOLLOW_REFRESH_FETCH:
		return "fetching";
	case FOLLOW_REFRESH_PAUSED:
		return "paused";
	case FOLLOW_REFRESH_VERIFY:
		return "verifying";
	}
	return "unknown";
}

/* The background refresh's fields (status.h): null while it is off. */
static void json_refresh(struct out *o, const struct status_database *d)
{
	if (!d->refresh_on) {
		puts_(o, ",\"refresh_state\":null,\"refresh_installed\":null,"
		         "\"refresh_received_bytes\":null,"
		         "\"refresh_failures\":null,"
		         "\"refresh_last_index\":null,\"refresh_error\":null");
		return;
	}
	puts_(o, ",\"refresh_state\":");
	json_string(o, d->refresh_state);
	printf_(o,
	        ",\"refresh_installed\":%" PRIu64
	        ",\"refresh_received_bytes\":%" PRIu64
	        ",\"refresh_failures\":%" PRIu64,
	        d->refresh_installed, d->refresh_bytes, d->refresh_failures);
	if (d->refresh_installed > 0)
		printf_(o, ",\"refresh_last_index\":%" PRIu64,
		        d->refresh_last_index);
	else
		puts_(o, ",\"refresh_last_index\":null");
	puts_(o, ",\"refresh_error\":");
	if (d->refresh_error[0] != '\0')
		json_string(o, d->refresh_error);
	else
		puts_(o, "null");
}

char *status_json_format(const struct status_report *r, size_t *len)
{
	struct out o = {0};

	printf_(&o,
	        "{\"pid\":%ld,\"updated_unix_ms\":%" PRId64
	        ",\"stopped\":%s,\"endpoint\":",
	        r->pid, r->updated_unix_ms, r->stopped ? "true" : "false");
	json_string(&o, r->endpoint);
	puts_(&o, ",\"databases\":[");
	for (size_t i = 0; i < r->count && i < STATUS_MAX_DATABASES; i++) {
		const struct status_database *d = &r->databases[i];
		puts_(&o, i ? ",{\"database\":" : "{\"database\":");
		json_string(&o, d->database);
		puts_(&o, ",\"state\":");
		json_string(&o, mirror_state_name(d->state));
		printf_(&o,
		        ",\"bytes_done\":%" PRIu64 ",\"bytes_total\":%" PRIu64
		        ",\"rate_bytes_per_s\":%" PRIu64
		        ",\"log_index\":%" PRIu64 ",\"applied_index\":%" PRIu64
		        ",\"source_commit_index\":%" PRIu64,
		        d->bytes_done, d->bytes_total, d->rate_bytes_per_s,
		        d->log_index, d->applied_index, d->source_commit_index);
		/* Unknown is null, never 0 (status.h). */
		if (d->lag_known)
			printf_(&o,
			        ",\"lag_entries\":%" PRIu64
			        ",\"lag_ms\":%" PRIu64,
			        d->lag_entries, d->lag_ms);
		else
			puts_(&o, ",\"lag_entries\":null,\"lag_ms\":null");
		if (d->has_contact)
			printf_(&o, ",\"last_contact_ms\":%" PRIu64,
			        d->last_contact_ms);
		else
			puts_(&o, ",\"last_contact_ms\":null");
		printf_(&o, ",\"reconnects\":%" PRIu64, d->reconnects);
		puts_(&o, ",\"endpoint\":");
		json_string(&o, d->endpoint);
		puts_(&o, ",\"error\":");
		json_string(&o, d->error);
		puts_(&o, ",\"applier\":");
		json_string(&o, d->applier);
		puts_(&o, ",\"applier_error\":");
		if (d->applier_error[0] != '\0')
			json_string(&o, d->applier_error);
		else
			puts_(&o, "null");
		printf_(&o, ",\"skipped_commands\":%" PRIu64,
		        d->skipped_commands);
		if (d->retention_headroom_known)
			printf_(&o, ",\"retention_headroom_s\":%" PRIu64,
			        d->retention_headroom_s);
		else
			puts_(&o, ",\"retention_headroom_s\":null");
		/* Issue 11: where a Promoted database stopped. */
		if (d->state == MIRROR_PROMOTED)
			printf_(&o,
			        ",\"promoted_index\":%" PRIu64
			        ",\"promoted_term\":%" PRIu64,
			        d->promoted_index, d->promoted_term);
		else
			puts_(&o, ",\"promoted_index\":null,"
			          "\"promoted_term\":null");
		json_freshness(&o, d);
		json_refresh(&o, d);
		puts_(&o, "}");
	}
	puts_(&o, "]}\n");
	return finish(&o, len);
}

/* ---- Prometheus ---- */

enum metric_field {
	M_BYTES_DONE,
	M_BYTES_TOTAL,
	M_APPLIED,
	M_LOG_INDEX,
	M_COMMIT,
	M_LAG_ENTRIES,
	M_LAG_MS,
	M_APPLIER_FAILED,
	M_RECONNECTS,
	M_RX_BYTES,
	M_RX_ENTRIES,
	M_APPENDED,
	M_REFETCHED,
	M_WAL_SYNCS,
	M_WAL_SYNC_MS,
	M_SNAP_WIRE,
	M_SNAP_RAW,
};

/* Names follow Prometheus's conventions (base units, _total only on
 * counters); docs/OPERATIONS.md lists the renames of 0.1. `ms` marks a
 * value kept in milliseconds and exposed in seconds. */
static const struct {
	const char *name, *type, *help;
	bool ms;
} metrics[] = {
    [M_BYTES_DONE] = {"mirror_bootstrap_received_bytes", "gauge",
                      "Snapshot bytes durably received in the current or last "
                      "bootstrap."},
    [M_BYTES_TOTAL] = {"mirror_bootstrap_size_bytes", "gauge",
                       "Size of the snapshot being or last bootstrapped."},
    [M_APPLIED] = {"mirror_applied_index", "gauge",
                   "Last log index applied to the read-only state (readers "
                   "see this)."},
    [M_LOG_INDEX] = {"mirror_log_index", "gauge",
                     "Last log index held durably in the mirror's wal."},
    [M_COMMIT] = {"mirror_source_commit_index", "gauge",
                  "Commit index last announced by the source."},
    [M_LAG_ENTRIES] = {"mirror_lag_entries", "gauge",
                       "Source commit index minus the applied index."},
    [M_LAG_MS] = {"mirror_lag_seconds", "gauge",
                  "Replication lag in seconds, on the source's clock.", true},
    [M_APPLIER_FAILED] = {"mirror_applier_failed", "gauge",
                          "1 when the applier stopped on an error."},
    [M_RECONNECTS] = {"mirror_reconnects_total", "counter",
                      "Connections to the source lost or failed."},
    [M_RX_BYTES] = {"mirror_received_bytes_total", "counter",
                    "Response body bytes received from the source "
                    "(heartbeats included)."},
    [M_RX_ENTRIES] = {"mirror_received_entries_total", "counter",
                      "Log entries received from the source."},
    [M_APPENDED] = {"mirror_appended_entries_total", "counter",
                    "Log entries made durable in the mirror's wal."},
    [M_REFETCHED] = {"mirror_refetched_bytes_total", "counter",
                     "Snapshot bytes received again after an interrupted "
                     "bootstrap resumed from its durable offset."},
    [M_WAL_SYNCS] = {"mirror_wal_syncs_total", "counter",
                     "fdatasyncs of the mirror's wal (group commits)."},
    [M_WAL_SYNC_MS] = {"mirror_wal_sync_seconds_total", "counter",
                       "Time spent in fdatasync of the mirror's wal.", true},
    [M_SNAP_WIRE] = {"mirror_snapshot_wire_bytes_total", "counter",
                     "Snapshot chunk bytes received as sent (zstd "
                     "chunks compressed)."},
    [M_SNAP_RAW] = {"mirror_snapshot_raw_bytes_total", "counter",
                    "Snapshot chunk bytes received, once decompressed."},
};

static uint64_t metric_value(const struct status_database *d,
                             enum metric_field m)
{
	switch (m) {
	case M_BYTES_DONE:
		return d->bytes_done;
	case M_BYTES_TOTAL:
		return d->bytes_total;
	case M_APPLIED:
		return d->applied_index;
	case M_LOG_INDEX:
		return d->log_index;
	case M_COMMIT:
		return d->source_commit_index;
	case M_LAG_ENTRIES:
		return d->lag_entries;
	case M_LAG_MS:
		return d->lag_ms;
	case M_APPLIER_FAILED:
		return d->applier_error[0] != '\0';
	case M_RECONNECTS:
		return d->reconnects;
	case M_RX_BYTES:
		return d->received_bytes;
	case M_RX_ENTRIES:
		return d->received_entries;
	case M_APPENDED:
		return d->appended_entries;
	case M_REFETCHED:
		return d->refetched_bytes;
	case M_WAL_SYNCS:
		return d->wal_syncs;
	case M_WAL_SYNC_MS:
		return d->wal_sync_ms;
	case M_SNAP_WIRE:
		return d->snapshot_wire_bytes;
	case M_SNAP_RAW:
		return d->snapshot_raw_bytes;
	}
	return 0;
}

/* A label value (exposition format: backslash, quote and newline are
 * escaped). Database names cannot hold them today; the writer does not
 * rely on that. */
static void label(struct out *o, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			puts_(o, "\\\\");
		else if (*s == '"')
			puts_(o, "\\\"");
		else if (*s == '\n')
			puts_(o, "\\n");
		else
			put(o, s, 1);
	}
}

/* Set by main() from build-info.h: only the program's own object depends
 * on the generated header, so a new commit relinks one binary, not every
 * test. */
const char *status_build_commit = "unknown";

/* mirror_build_info: what is running, as labels of a constant 1. */
static void build_info(struct out *o)
{
	puts_(o,
	      "# HELP mirror_build_info Version, commit and library versions "
	      "of the running mirror-agent.\n"
	      "# TYPE mirror_build_info gauge\nmirror_build_info{version=\"");
	label(o, PACKAGE_VERSION);
	puts_(o, "\",commit=\"");
	label(o, status_build_commit);
	puts_(o, "\",ngtcp2=\"");
	label(o, MA_NGTCP2_VERSION);
	puts_(o, "\",nghttp3=\"");
	label(o, MA_NGHTTP3_VERSION);
	puts_(o, "\",wolfssl=\"");
	label(o, MA_WOLFSSL_VERSION);
	puts_(o, "\",libevent=\"");
	label(o, MA_LIBEVENT_VERSION);
	puts_(o, "\",msgpack=\"");
	label(o, MA_MSGPACK_VERSION);
	puts_(o, "\"} 1\n");
}

/* The process_* metrics every Prometheus client library exports, with
 * their standard names, types and units. */
static void process_metrics(struct out *o, const struct status_process *p)
{
	printf_(o,
	        "# HELP process_cpu_seconds_total Total user and system CPU "
	        "time spent in seconds.\n"
	        "# TYPE process_cpu_seconds_total counter\n"
	        "process_cpu_seconds_total %.2f\n"
	        "# HELP process_resident_memory_bytes Resident memory size in "
	        "bytes.\n"
	        "# TYPE process_resident_memory_bytes gauge\n"
	        "process_resident_memory_bytes %" PRIu64 "\n"
	        "# HELP process_virtual_memory_bytes Virtual memory size in "
	        "bytes.\n"
	        "# TYPE process_virtual_memory_bytes gauge\n"
	        "process_virtual_memory_bytes %" PRIu64 "\n"
	        "# HELP process_open_fds Number of open file descriptors.\n"
	        "# TYPE process_open_fds gauge\n"
	        "process_open_fds %" PRIu64 "\n"
	        "# HELP process_max_fds Maximum number of open file "
	        "descriptors.\n"
	        "# TYPE process_max_fds gauge\n"
	        "process_max_fds %" PRIu64 "\n"
	        "# HELP process_start_time_seconds Start time of the process "
	        "since unix epoch in seconds.\n"
	        "# TYPE process_start_time_seconds gauge\n"
	        "process_start_time_seconds %.2f\n",
	        p->cpu_seconds, p->resident_bytes, p->virtual_bytes,
	        p->open_fds, p->max_fds, p->start_time_seconds);
}

/* ---- freshness of the sources ---- */

static void freshness_metrics(struct out *o, const struct status_report *r,
                              size_t n)
{
	puts_(o, "# HELP mirror_source_last_leader_contact_seconds Age of the "
	         "followed source node's last contact with its cluster's "
	         "leader; NaN when unknown.\n"
	         "# TYPE mirror_source_last_leader_contact_seconds gauge\n");
	for (size_t i = 0; i < n; i++) {
		const struct status_database *d = &r->databases[i];

		puts_(o, "mirror_source_last_leader_contact_seconds{db=\"");
		label(o, d->database);
		if (d->source_leader_contact_known)
			printf_(o, "\"} %" PRIu64 ".%03u\n",
			        d->source_leader_contact_ms / 1000,
			        (unsigned)(d->source_leader_contact_ms % 1000));
		else
			puts_(o, "\"} NaN\n");
	}
	puts_(o, "# HELP mirror_source_switches_total Moves to a fresher "
	         "source endpoint (the reason is in the status).\n"
	         "# TYPE mirror_source_switches_total counter\n");
	for (size_t i = 0; i < n; i++) {
		puts_(o, "mirror_source_switches_total{db=\"");
		label(o, r->databases[i].database);
		printf_(o, "\"} %" PRIu64 "\n",
		        r->databases[i].source_switches);
	}
	puts_(o, "# HELP mirror_endpoint_commit_index Commit index each source "
	         "endpoint can serve, as last heard (answers or probes).\n"
	         "# TYPE mirror_endpoint_commit_index gauge\n");
	for (size_t i = 0; i < n; i++) {
		const struct status_database *d = &r->databases[i];

		for (size_t k = 0; k < d->nsources && k < STATUS_MAX_SOURCES;
		     k++) {
			if (!d->sources[k].observed)
				continue;
			puts_(o, "mirror_endpoint_commit_index{db=\"");
			label(o, d->database);
			puts_(o, "\",endpoint=\"");
			label(o, d->sources[k].endpoint);
			printf_(o, "\"} %" PRIu64 "\n",
			        d->sources[k].commit_index);
		}
	}
}

/* ---- background snapshot refresh (none applier) ---- */

/* One family over the databases whose refresh is on (status.h). */
static void refresh_family(struct out *o, const struct status_report *r,
                           size_t n, const char *name, const char *type,
                           const char *help, size_t field)
{
	printf_(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	for (size_t i = 0; i < n; i++) {
		const struct status_database *d = &r->databases[i];
		uint64_t v = field == 0   ? d->refresh_installed
		             : field == 1 ? d->refresh_bytes
		             : field == 2 ? d->refresh_failures
		                          : d->refresh_last_index;

		if (!d->refresh_on || (field == 3 && d->refresh_installed == 0))
			continue;
		printf_(o, "%s{db=\"", name);
		label(o, d->database);
		printf_(o, "\"} %" PRIu64 "\n", v);
	}
}

static void refresh_metrics(struct out *o, const struct status_report *r,
                            size_t n)
{
	static const enum follow_refresh_phase phases[] = {
	    FOLLOW_REFRESH_IDLE, FOLLOW_REFRESH_INFO, FOLLOW_REFRESH_FETCH,
	    FOLLOW_REFRESH_PAUSED, FOLLOW_REFRESH_VERIFY};
	bool any = false;

	for (size_t i = 0; i < n; i++)
		any = any || r->databases[i].refresh_on;
	if (!any)
		return;
	puts_(o, "# HELP mirror_refresh_state State of the background "
	         "snapshot refresh of a database with the none applier (1: "
	         "the current one).\n# TYPE mirror_refresh_state gauge\n");
	for (size_t i = 0; i < n; i++) {
		const struct status_database *d = &r->databases[i];

		if (!d->refresh_on)
			continue;
		for (size_t k = 0; k < sizeof phases / sizeof phases[0]; k++) {
			const char *name = status_refresh_phase_name(phases[k]);

			puts_(o, "mirror_refresh_state{db=\"");
			label(o, d->database);
			printf_(o, "\",state=\"%s\"} %d\n", name,
			        strcmp(name, d->refresh_state) == 0);
		}
	}
	refresh_family(o, r, n, "mirror_refresh_snapshots_installed_total",
	               "counter",
	               "Source snapshots installed by the background refresh "
	               "(each lets the wal be trimmed behind it).",
	               0);
	refresh_family(o, r, n, "mirror_refresh_received_bytes_total",
	               "counter",
	               "Snapshot bytes received by the background refresh.", 1);
	refresh_family(o, r, n, "mirror_refresh_failures_total", "counter",
	               "Background refresh attempts that failed (the reason "
	               "of the last is refresh_error in the status).",
	               2);
	refresh_family(o, r, n, "mirror_refresh_last_snapshot_index", "gauge",
	               "Index of the newest snapshot the background refresh "
	               "installed.",
	               3);
}

char *status_prometheus_format(const struct status_report *r, size_t *len)
{
	static const enum mirror_state states[] = {
	    MIRROR_CONNECTING, MIRROR_BOOTSTRAPPING, MIRROR_CATCHING_UP,
	    MIRROR_FOLLOWING,  MIRROR_DEGRADED,      MIRROR_DISCONNECTED,
	    MIRROR_ERROR,      MIRROR_PROMOTED};
	size_t n =
	    r->count < STATUS_MAX_DATABASES ? r->count : STATUS_MAX_DATABASES;
	struct out o = {0};

	build_info(&o);
	puts_(&o, "# HELP mirror_state Current state of each mirrored database "
	          "(1: the current one).\n# TYPE mirror_state gauge\n");
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < sizeof states / sizeof states[0]; k++) {
			puts_(&o, "mirror_state{db=\"");
			label(&o, r->databases[i].database);
			printf_(&o, "\",state=\"%s\"} %d\n",
			        mirror_state_name(states[k]),
			        r->databases[i].state == states[k]);
		}
	for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++) {
		printf_(&o, "# HELP %s %s\n# TYPE %s %s\n", metrics[m].name,
		        metrics[m].help, metrics[m].name, metrics[m].type);
		for (size_t i = 0; i < n; i++) {
			const struct status_database *d = &r->databases[i];

			printf_(&o, "%s{db=\"", metrics[m].name);
			label(&o, d->database);
			uint64_t v = metric_value(d, (enum metric_field)m);
			/* A lag without current figures is unknown, not 0. */
			if ((m == M_LAG_ENTRIES || m == M_LAG_MS) &&
			    !d->lag_known)
				puts_(&o, "\"} NaN\n");
			else if (metrics[m].ms)
				printf_(&o, "\"} %" PRIu64 ".%03u\n", v / 1000,
				        (unsigned)(v % 1000));
			else
				printf_(&o, "\"} %" PRIu64 "\n", v);
		}
	}
	/* Issue 8 (honest health): the age of the last word from the
	 * source, beside the lag; an alert on it fires while disconnected,
	 * when the lag is NaN. */
	puts_(&o, "# HELP mirror_last_contact_seconds Seconds since the last "
	          "word from the source (info, heartbeat, entry or snapshot "
	          "bytes); NaN before the first.\n"
	          "# TYPE mirror_last_contact_seconds gauge\n");
	for (size_t i = 0; i < n; i++) {
		const struct status_database *d = &r->databases[i];

		puts_(&o, "mirror_last_contact_seconds{db=\"");
		label(&o, d->database);
		if (d->has_contact)
			printf_(&o, "\"} %" PRIu64 ".%03u\n",
			        d->last_contact_ms / 1000,
			        (unsigned)(d->last_contact_ms % 1000));
		else
			puts_(&o, "\"} NaN\n");
	}
	/* Only where a source told it: an unknown headroom is no sample. */
	puts_(&o,
	      "# HELP mirror_retention_headroom_seconds Seconds this mirror "
	      "could stay away before the source's retention reservation "
	      "budget drops its position (it would then download a "
	      "snapshot again).\n# TYPE mirror_retention_headroom_seconds "
	      "gauge\n");
	for (size_t i = 0; i < n; i++) {
		if (!r->databases[i].retention_headroom_known)
			continue;
		puts_(&o, "mirror_retention_headroom_seconds{db=\"");
		label(&o, r->databases[i].database);
		printf_(&o, "\"} %" PRIu64 "\n",
		        r->databases[i].retention_headroom_s);
	}
	freshness_metrics(&o, r, n);
	refresh_metrics(&o, r, n);
	if (r->process.valid)
		process_metrics(&o, &r->process);
	return finish(&o, len);
}

char *status_prometheus_process_format(const struct status_process *p,
                                       size_t *len)
{
	struct out o = {0};

	build_info(&o);
	if (p->valid)
		process_metrics(&o, p);
	return finish(&o, len);
}

/* ---- states ---- */

int status_state_parse(const char *name, enum mirror_state *out)
{
	for (int s = MIRROR_CONNECTING; s <= MIRROR_STATE_LAST; s++)
		if (strcmp(name, mirror_state_name((enum mirror_state)s)) ==
		    0) {
			*out = (enum mirror_state)s;
			return 0;
		}
	return MA_ERR_NOTFOUND;
}

bool status_database_staleness(const struct status_database *d,
                               uint64_t *staleness_ms)
{
	if (!d->lag_known || !d->has_contact)
		return false;
	*staleness_ms = d->lag_ms > UINT64_MAX - d->last_contact_ms
	                    ? UINT64_MAX
	                    : d->lag_ms + d->last_contact_ms;
	return true;
}

bool status_database_fresher_source(const struct status_database *d, size_t *k)
{
	uint64_t followed = d->source_commit_index, best = 0;
	size_t n =
	    d->nsources < STATUS_MAX_SOURCES ? d->nsources : STATUS_MAX_SOURCES;
	bool found = false;

	for (size_t i = 0; i < n; i++)
		if (d->sources[i].observed &&
		    strcmp(d->sources[i].endpoint, d->endpoint) == 0)
			followed = d->sources[i].commit_index;
	for (size_t i = 0; i < n; i++) {
		const struct status_source *s = &d->sources[i];

		if (!s->observed || strcmp(s->endpoint, d->endpoint) == 0 ||
		    s->commit_index <= followed ||
		    (found && s->commit_index <= best))
			continue;
		best = s->commit_index;
		*k = i;
		found = true;
	}
	return found;
}

bool status_database_ready(const struct status_database *d)
{
	return d->state == MIRROR_FOLLOWING && d->lag_known && d->has_contact;
}

bool status_state_healthy(enum mirror_state s)
{
	return s == MIRROR_BOOTSTRAPPING || s == MIRROR_CATCHING_UP ||
	       s == MIRROR_FOLLOWING;
}
