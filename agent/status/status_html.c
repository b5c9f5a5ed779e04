/* The status page (agent/status/status.h, status_html_format): one
 * self-contained HTML document rendered from the one status model, in the
 * spirit of HAProxy's stats page. No script and no external asset: the
 * page refreshes itself, the sparklines are inline SVG. Every text from
 * the model is HTML-escaped (error texts come from peers). Each database
 * row carries its figures in data-* attributes as well, so that tests and
 * scripts read them without parsing the layout. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/status/status.h"

struct out {
	char *buf;
	size_t len, cap;
	int failed;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->failed)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 8192;
		while (cap < o->len + n + 1)
			cap *= 2;
		char *b = realloc(o->buf, cap);
		if (b == NULL) {
			o->failed = 1;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void printf_(struct out *o,
                                                          const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	put(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Text as HTML (element content and quoted attribute values alike). */
static void esc(struct out *o, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			puts_(o, "&amp;");
			break;
		case '<':
			puts_(o, "&lt;");
			break;
		case '>':
			puts_(o, "&gt;");
			break;
		case '"':
			puts_(o, "&quot;");
			break;
		case '\'':
			puts_(o, "&#39;");
			break;
		default:
			if ((unsigned char)*s < 0x20 || *s == 0x7f)
				puts_(o, " ");
			else
				put(o, s, 1);
		}
	}
}

/* "1.5 s", "2 min 3 s": a duration a reader takes in at a glance. */
static void duration(struct out *o, uint64_t ms)
{
	if (ms < 10000)
		printf_(o, "%" PRIu64 ".%" PRIu64 " s", ms / 1000,
		        ms % 1000 / 100);
	else if (ms < 3600000)
		printf_(o, "%" PRIu64 " min %" PRIu64 " s", ms / 60000,
		        ms / 1000 % 60);
	else
		printf_(o, "%" PRIu64 " h %" PRIu64 " min", ms / 3600000,
		        ms / 60000 % 60);
}

static const char *state_class(enum mirror_state s)
{
	switch (s) {
	case MIRROR_FOLLOWING:
		return "ok";
	case MIRROR_BOOTSTRAPPING:
	case MIRROR_CATCHING_UP:
	case MIRROR_CONNECTING:
		return "busy";
	case MIRROR_DEGRADED:
	case MIRROR_DISCONNECTED:
		return "warn";
	case MIRROR_PROMOTED:
		return "promoted";
	default:
		return "bad";
	}
}

/* The lag samples as polylines, newest at the right, scaled to the
 * largest known sample (at least 1 s, so that noise stays flat). A
 * sample taken while the lag was unknown (STATUS_LAG_UNKNOWN) is a gap:
 * each run of known samples is its own polyline (a lone known sample a
 * dot), so unknown is never drawn as 0. */
static void sparkline(struct out *o, const uint64_t *ms, size_t n, size_t cap)
{
	const unsigned w = 240, h = 36;
	uint64_t max = 1000, seen = 0;
	size_t unknown = 0, runs = 0;

	for (size_t i = 0; i < n; i++) {
		if (ms[i] == STATUS_LAG_UNKNOWN) {
			unknown++;
			continue;
		}
		if (i == 0 || ms[i - 1] == STATUS_LAG_UNKNOWN)
			runs++;
		if (ms[i] > max)
			max = ms[i];
		if (ms[i] > seen)
			seen = ms[i];
	}
	printf_(o,
	        "<svg class=\"spark\" width=\"%u\" height=\"%u\" viewBox=\"0 0 "
	        "%u %u\" role=\"img\" aria-label=\"lag, last %zu s\" "
	        "data-samples=\"%zu\" data-unknown=\"%zu\" data-runs=\"%zu\">"
	        "<rect width=\"%u\" height=\"%u\" fill=\"#f4f6f8\"/>",
	        w, h + 2, w, h + 2, cap, n, unknown, runs, w, h + 2);
	for (size_t i = 0; i < n; i++) {
		/* Right-aligned: a young ring fills from the right. */
		double x = (double)w * (double)(cap - n + i) /
		           (double)(cap > 1 ? cap - 1 : 1);
		double y;
		bool first = i == 0 || ms[i - 1] == STATUS_LAG_UNKNOWN;
		bool last = i + 1 == n || ms[i + 1] == STATUS_LAG_UNKNOWN;

		if (ms[i] == STATUS_LAG_UNKNOWN)
			continue;
		y = 1 + h - (double)h * (double)ms[i] / (double)max;
		if (first && last) {
			printf_(o,
			        "<circle class=\"lag\" cx=\"%.1f\" cy=\"%.1f\" "
			        "r=\"1.2\" fill=\"#2060c0\"/>",
			        x, y);
			continue;
		}
		if (first)
			puts_(o, "<polyline class=\"lag\" fill=\"none\" "
			         "stroke=\"#2060c0\" stroke-width=\"1.5\" "
			         "points=\"");
		printf_(o, "%s%.1f,%.1f", first ? "" : " ", x, y);
		if (last)
			puts_(o, "\"/>");
	}
	printf_(o, "</svg><div class=\"small\">%zu s, max ", n);
	duration(o, seen);
	if (unknown > 0)
		printf_(o, ", %zu s unknown (gaps)", unknown);
	puts_(o, "</div>");
}

/* Each endpoint's position as the mirror last heard it (status.h,
 * sources[]): the followed one marked; a figure not known is a dash. */
static void sources_list(struct out *o, const struct status_database *d)
{
	for (size_t k = 0; k < d->nsources && k < STATUS_MAX_SOURCES; k++) {
		const struct status_source *s = &d->sources[k];
		int on = strcmp(s->endpoint, d->endpoint) == 0;

		printf_(o, "<li class=\"%s\" data-endpoint=\"",
		        on ? "src followed" : "src");
		esc(o, s->endpoint);
		puts_(o, "\" data-commit=\"");
		if (s->observed)
			printf_(o, "%" PRIu64, s->commit_index);
		puts_(o, "\" data-leader=\"");
		esc(o, s->leader);
		puts_(o, "\" data-leader-contact-ms=\"");
		if (s->contact_known)
			printf_(o, "%" PRIu64, s->leader_contact_ms);
		puts_(o, "\" data-probe=\"");
		esc(o, s->probe[0] != '\0' ? s->probe : "none");
		puts_(o, "\"><span class=\"ep\">");
		esc(o, s->endpoint);
		puts_(o, "</span>");
		if (on)
			puts_(o, " &larr; followed");
		puts_(o, "<div class=\"small\">commit ");
		if (s->observed)
			printf_(o, "%" PRIu64, s->commit_index);
		else
			puts_(o, "&mdash;");
		puts_(o, " &middot; leader ");
		if (s->leader[0] != '\0')
			esc(o, s->leader);
		else
			puts_(o, "&mdash;");
		puts_(o, " &middot; leader contact ");
		if (s->contact_known) {
			duration(o, s->leader_contact_ms);
			puts_(o, " ago");
		} else {
			puts_(o, "&mdash;");
		}
		puts_(o, " &middot; probe ");
		esc(o, s->probe[0] != '\0' ? s->probe : "none");
		puts_(o, "</div></li>");
	}
}

/* The followed node's last contact with its leader and the last move to
 * a fresher endpoint (status.h). */
static void freshness(struct out *o, const struct status_database *d)
{
	puts_(o, "<div class=\"small leader-contact\" data-ms=\"");
	if (d->source_leader_contact_known)
		printf_(o, "%" PRIu64, d->source_leader_contact_ms);
	puts_(o, "\">source leader contact: ");
	if (d->source_leader_contact_known) {
		duration(o, d->source_leader_contact_ms);
		puts_(o, " ago");
	} else {
		puts_(o, "unknown");
	}
	printf_(o,
	        "</div><div class=\"small switch\" data-switches=\"%" PRIu64
	        "\">switches: %" PRIu64,
	        d->source_switches, d->source_switches);
	if (d->source_switch_reason[0] != '\0') {
		puts_(o, "; last: <span class=\"switch-reason\">");
		esc(o, d->source_switch_reason);
		puts_(o, "</span>");
	}
	puts_(o, "</div>");
}

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1b2733}"
    "h1{font-size:1.3em;margin:0 0 .2em}"
    ".small{font-size:11px;color:#5a6b7b}"
    "table{border-collapse:collapse;margin-top:1em}"
    "th,td{border:1px solid #cfd8e0;padding:4px 8px;text-align:right;"
    "vertical-align:top}"
    "th{background:#e8eef4}td.l,th.l{text-align:left}"
    ".ok{background:#d8f0d8}.busy{background:#dce8f8}"
    ".warn{background:#fbefc8}.bad{background:#f8d4d4}"
    ".promoted{background:#e4dcf4}"
    "ul{margin:0;padding-left:1.1em;text-align:left}"
    "li.followed{font-weight:bold}"
    ".bar{background:#e0e6ec;width:120px;height:8px}"
    ".bar div{background:#2060c0;height:8px}";

char *status_html_format(const struct status_report *r,
                         const struct status_html_extra *x, size_t *len)
{
	struct out o = {0};

	puts_(&o, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	          "<meta charset=\"utf-8\">");
	printf_(&o, "<meta http-equiv=\"refresh\" content=\"%u\">",
	        x != NULL && x->refresh_s > 0 ? x->refresh_s : 2);
	puts_(&o, "<title>mirror-agent status</title><style>");
	puts_(&o, css);
	puts_(&o, "</style></head><body><h1>mirror-agent</h1>");
	printf_(&o,
	        "<div class=\"small\">pid %ld &middot; rendered at "
	        "<span id=\"updated\" data-unix-ms=\"%" PRId64 "\">%" PRId64
	        "</span> (Unix ms) &middot; %zu database%s &middot; "
	        "<a href=\"/status\">/status</a> &middot; "
	        "<a href=\"/metrics\">/metrics</a></div>",
	        r->pid, r->updated_unix_ms, r->updated_unix_ms, r->count,
	        r->count == 1 ? "" : "s");
	puts_(&o, "<table id=\"databases\"><thead><tr>"
	          "<th class=\"l\">database</th><th class=\"l\">state</th>"
	          "<th>bootstrap</th><th>applied index</th>"
	          "<th>source commit</th><th>lag (entries)</th>"
	          "<th>lag (time)</th><th>last contact</th>"
	          "<th class=\"l\">sources</th><th>lag, recent</th>"
	          "</tr></thead><tbody>");
	for (size_t i = 0; i < r->count; i++) {
		const struct status_database *d = &r->databases[i];
		const char *st = mirror_state_name(d->state);

		puts_(&o, "<tr class=\"db\" id=\"db-");
		esc(&o, d->database);
		printf_(&o,
		        "\" data-state=\"%s\" data-applied=\"%" PRIu64
		        "\" data-source-commit=\"%" PRIu64 "\"",
		        st, d->applied_index, d->source_commit_index);
		/* Unknown lags (null in the JSON) are empty attributes, never
		 * 0: a script reading 0 would take the mirror for current. */
		if (d->lag_known)
			printf_(&o,
			        " data-lag-entries=\"%" PRIu64
			        "\" data-lag-ms=\"%" PRIu64 "\"",
			        d->lag_entries, d->lag_ms);
		else
			puts_(&o, " data-lag-entries=\"\" data-lag-ms=\"\"");
		puts_(&o, "><td class=\"l name\">");
		esc(&o, d->database);
		printf_(&o, "</td><td class=\"l state %s\">%s",
		        state_class(d->state), st);
		if (d->state == MIRROR_PROMOTED)
			printf_(
			    &o,
			    "<div class=\"promoted-at\" data-index=\"%" PRIu64
			    "\" data-term=\"%" PRIu64 "\">at index %" PRIu64
			    ", term %" PRIu64 "</div>",
			    d->promoted_index, d->promoted_term,
			    d->promoted_index, d->promoted_term);
		if (d->error[0] != '\0') {
			puts_(&o, "<div class=\"small\">");
			esc(&o, d->error);
			puts_(&o, "</div>");
		}
		if (d->applier_error[0] != '\0') {
			puts_(&o, "<div class=\"small\">applier: ");
			esc(&o, d->applier_error);
			puts_(&o, "</div>");
		}
		if (d->refresh_on) {
			printf_(
			    &o,
			    "<div class=\"small refresh\" data-state=\"%s\" "
			    "data-installed=\"%" PRIu64 "\">snapshot "
			    "refresh %s, %" PRIu64 " installed, %.1f MiB",
			    d->refresh_state, d->refresh_installed,
			    d->refresh_state, d->refresh_installed,
			    (double)d->refresh_bytes / 1048576.0);
			if (d->refresh_error[0] != '\0') {
				puts_(&o, "; last error: ");
				esc(&o, d->refresh_error);
			}
			puts_(&o, "</div>");
		}
		puts_(&o, "</td><td class=\"bootstrap\">");
		if (d->bytes_total > 0) {
			uint64_t pm =
			    d->bytes_done >= d->bytes_total
			        ? 1000
			        : d->bytes_done * 1000 / d->bytes_total;
			printf_(&o,
			        "%" PRIu64 ".%" PRIu64 " %%<div class=\"bar\">"
			        "<div style=\"width:%" PRIu64
			        "%%\"></div></div>"
			        "<div class=\"small\">%.1f of %.1f MiB</div>",
			        pm / 10, pm % 10, pm / 10,
			        (double)d->bytes_done / 1048576.0,
			        (double)d->bytes_total / 1048576.0);
		} else {
			puts_(&o, "&mdash;");
		}
		printf_(&o,
		        "</td><td class=\"applied\">%" PRIu64
		        "</td><td class=\"source-commit\">%" PRIu64
		        "</td><td class=\"lag-entries\">",
		        d->applied_index, d->source_commit_index);
		/* A lag without current figures is unknown, not 0. */
		if (d->lag_known) {
			printf_(&o, "%" PRIu64 "</td><td class=\"lag-time\">",
			        d->lag_entries);
			duration(&o, d->lag_ms);
		} else {
			puts_(&o, "unknown</td><td class=\"lag-time\">unknown");
		}
		puts_(&o, "</td><td class=\"last-contact\">");
		if (d->has_contact) {
			duration(&o, d->last_contact_ms);
			puts_(&o, " ago");
		} else {
			puts_(&o, "&mdash;");
		}
		puts_(&o, "</td><td class=\"l sources\"><ul>");
		if (d->nsources > 0) {
			sources_list(&o, d);
		} else if (x != NULL && x->nsources > 0) {
			for (size_t k = 0; k < x->nsources; k++) {
				int on =
				    strcmp(x->sources[k], d->endpoint) == 0;
				printf_(&o, "<li%s>",
				        on ? " class=\"followed\"" : "");
				esc(&o, x->sources[k]);
				puts_(&o,
				      on ? " &larr; followed</li>" : "</li>");
			}
		} else {
			puts_(&o, "<li class=\"followed\">");
			esc(&o, d->endpoint);
			puts_(&o, "</li>");
		}
		puts_(&o, "</ul>");
		freshness(&o, d);
		puts_(&o, "</td><td class=\"spark\">");
		if (x != NULL && x->lag_ms[i] != NULL)
			sparkline(&o, x->lag_ms[i], x->nlag[i], x->lag_cap);
		else
			sparkline(&o, NULL, 0, 1);
		puts_(&o, "</td></tr>");
	}
	puts_(&o, "</tbody></table><p class=\"small\">lag (time) is measured "
	          "on the source's clock; the sparklines sample it once a "
	          "second.</p></body></html>\n");
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}
