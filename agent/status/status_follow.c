/* Glue between the status model and the follower: builds the report from
 * follow's public accessors, and writes the status file. The file and the
 * read API's /status both come from status_report_from_follow(), so they
 * cannot disagree on what a figure means. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent/apply/applier.h"
#include "agent/follow/follow.h"
#include "agent/status/status.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/io.h"

/* The freshness view of database i (source_view.h) into d. */
static void freshness_set(struct status_database *d, const struct follow *f,
                          size_t i)
{
	const struct source_view *v = follow_source_view(f, i);
	uint64_t now = clock_mono_ms();

	d->source_switches = follow_switches(f);
	snprintf(d->source_switch_reason, sizeof d->source_switch_reason, "%s",
	         follow_last_switch(f));
	if (v == NULL)
		return;
	d->source_leader_contact_known = source_view_leader_contact_age(
	    v, v->current, now, &d->source_leader_contact_ms);
	for (uint32_t k = 0;
	     k < v->cfg.endpoint_count && k < STATUS_MAX_SOURCES; k++) {
		const struct source_endpoint_view *e = &v->ep[k];
		struct status_source *s = &d->sources[k];
		const char *name = follow_endpoint_name(f, k);

		snprintf(s->endpoint, sizeof s->endpoint, "%s",
		         name != NULL ? name : "");
		s->observed = e->observed;
		s->commit_index = e->commit_index;
		s->observed_age_ms = now - e->observed_at;
		if (e->observed && e->fresh.known)
			snprintf(s->leader, sizeof s->leader, "%s",
			         proto_leader_name(e->fresh.leader));
		s->contact_known = source_view_leader_contact_age(
		    v, k, now, &s->leader_contact_ms);
		snprintf(s->probe, sizeof s->probe, "%s",
		         e->probe == SOURCE_PROBE_OK        ? "ok"
		         : e->probe == SOURCE_PROBE_FAILED  ? "failed"
		         : e->probe == SOURCE_PROBE_FOREIGN ? "foreign"
		                                            : "");
		d->nsources = k + 1;
	}
}

/* The background snapshot refresh of database i (follow_refresh.h). */
static void refresh_set(struct status_database *d, const struct follow *f,
                        size_t i)
{
	const struct follow_refresh *rf = follow_refresh_of(f, i);

	if (rf == NULL || rf->cfg.distance == 0)
		return;
	d->refresh_on = true;
	snprintf(d->refresh_state, sizeof d->refresh_state, "%s",
	         status_refresh_phase_name(rf->phase));
	d->refresh_installed = rf->installed;
	d->refresh_bytes = rf->bytes;
	d->refresh_failures = rf->failures;
	d->refresh_last_index = rf->installed > 0 ? rf->last_index : 0;
	snprintf(d->refresh_error, sizeof d->refresh_error, "%s",
	         rf->last_error);
}

void status_database_from_follow(const struct follow *f, size_t i,
                                 struct status_database *d)
{
	const struct mirror_status *st = follow_status(f, i);
	struct applier *a = follow_applier(f, i);
	/* The follower moves the state machine's index to the wal's durable
	 * index after every append and sync (mirror_sm_applied), and to the
	 * snapshot's index after a bootstrap: that is the log index. */
	uint64_t log_index = st->applied_index;
	uint64_t applied = a != NULL ? applier_applied_index(a) : log_index;

	status_database_set(d, follow_database_name(f, i), st,
	                    follow_endpoint(f), log_index, applied);
	freshness_set(d, f, i);
	refresh_set(d, f, i);
	if (a == NULL) {
		snprintf(d->applier, sizeof d->applier, "stopped");
		return;
	}
	snprintf(d->applier, sizeof d->applier, "%s",
	         applier_kind_name(applier_get_kind(a)));
	if (applier_error(a) != NULL)
		snprintf(d->applier_error, sizeof d->applier_error, "%s",
		         applier_error(a));
	d->skipped_commands = applier_skipped_commands(a);
}

void status_report_from_follow(const struct follow *f, long pid,
                               int64_t now_unix_ms, struct status_report *r)
{
	size_t n = follow_database_count(f);

	memset(r, 0, sizeof *r);
	r->pid = pid;
	r->updated_unix_ms = now_unix_ms;
	r->stopped = follow_stopping(f);
	snprintf(r->endpoint, sizeof r->endpoint, "%s", follow_endpoint(f));
	if (n > STATUS_MAX_DATABASES)
		n = STATUS_MAX_DATABASES;
	for (size_t i = 0; i < n; i++)
		status_database_from_follow(f, i, &r->databases[i]);
	r->count = n;
	/* r->process stays invalid: only /metrics shows it, and reading
	 * /proc for the status file every second would be wasted. */
}

/* Unix time of the boot, from /proc/stat's btime; 0 when unknown. */
static uint64_t boot_time(void)
{
	FILE *f = fopen("/proc/stat", "re");
	char line[256];
	unsigned long long bt = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "btime %llu", &bt) == 1)
			break;
	fclose(f);
	return bt;
}

void status_process_read(struct status_process *p)
{
	char buf[1024];
	unsigned long long utime, stime, start, vsize;
	long long rss;
	long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	struct rlimit rl;
	struct dirent *de;
	uint64_t btime;
	size_t n;
	FILE *f;
	DIR *d;

	memset(p, 0, sizeof *p);
	f = fopen("/proc/self/stat", "re");
	if (f == NULL)
		return;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name is in parentheses and may hold anything: the
	 * fields are counted from the last ')'. Field 3 is the state. */
	char *rp = strrchr(buf, ')');
	if (rp == NULL ||
	    sscanf(rp + 1,
	           " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
	           "%*d %*d %*d %*d %*d %*d %llu %llu %lld",
	           &utime, &stime, &start, &vsize, &rss) != 5 ||
	    ticks <= 0 || page <= 0)
		return;
	btime = boot_time();
	if (btime == 0)
		return;
	p->cpu_seconds = (double)(utime + stime) / (double)ticks;
	p->start_time_seconds = (double)btime + (double)start / (double)ticks;
	p->virtual_bytes = vsize;
	p->resident_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
	d = opendir("/proc/self/fd");
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			p->open_fds++;
	closedir(d);
	if (p->open_fds > 0)
		p->open_fds--; /* the directory's own descriptor */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		p->max_fds = rl.rlim_cur == RLIM_INFINITY
		                 ? UINT64_MAX
		                 : (uint64_t)rl.rlim_cur;
	p->valid = true;
}

int status_file_write(const char *path, const struct status_report *r,
                      char *errmsg)
{
	char dir[4096];
	const char *name;
	char *slash, *text;
	size_t len;
	int rc;

	if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "status file %s: path too long", path);
	slash = strrchr(dir, '/');
	if (slash == NULL) {
		name = path;
		snprintf(dir, sizeof dir, ".");
	} else if (slash == dir) {
		name = path + 1;
		snprintf(dir, sizeof dir, "/");
	} else {
		*slash = '\0';
		name = slash + 1;
	}
	text = status_json_format(r, &len);
	if (text == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM,
		                 "status file %s: out of memory formatting it",
		                 path);
	/* Rewritten every second on the loop: atomic, not durable (three
	 * fsyncs a second for a file a crash makes stale anyway). */
	rc = io_write_file_replace(dir, name, text, len, errmsg);
	free(text);
	if (rc != 0)
		return ma_errwrapf(
		    errmsg, rc,
		    "cannot write status file %s (check that its "
		    "directory exists and is writable)",
		    path);
	return 0;
}
