/* Glue between the status model and the follower: builds the report from
 * follow's public accessors, and writes the status file. The file and the
 * read API's /status both come from status_report_from_follow(), so they
 * cannot disagree on what a figure means. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/apply/applier.h"
#include "agent/follow/follow.h"
#include "agent/status/status.h"
#include "common/errors.h"
#include "common/io.h"

void status_report_from_follow(const struct follow *f, long pid,
                               int64_t now_unix_ms, struct status_report *r)
{
	size_t n = follow_database_count(f);
	const char *endpoint = follow_endpoint(f);

	memset(r, 0, sizeof *r);
	r->pid = pid;
	r->updated_unix_ms = now_unix_ms;
	r->stopped = follow_stopping(f);
	snprintf(r->endpoint, sizeof r->endpoint, "%s", endpoint);
	if (n > STATUS_MAX_DATABASES)
		n = STATUS_MAX_DATABASES;
	for (size_t i = 0; i < n; i++) {
		const struct mirror_status *st = follow_status(f, i);
		struct applier *a = follow_applier(f, i);
		struct status_database *d = &r->databases[i];
		/* The follower moves the state machine's index to the wal's
		 * durable index after every append and sync
		 * (mirror_sm_applied), and to the snapshot's index after a
		 * bootstrap: that is the log index. */
		uint64_t log_index = st->applied_index;
		uint64_t applied =
		    a != NULL ? applier_applied_index(a) : log_index;

		status_database_set(d, follow_database_name(f, i), st, endpoint,
		                    log_index, applied);
		if (a == NULL) {
			snprintf(d->applier, sizeof d->applier, "stopped");
			continue;
		}
		snprintf(d->applier, sizeof d->applier, "%s",
		         applier_kind_name(applier_get_kind(a)));
		if (applier_error(a) != NULL)
			snprintf(d->applier_error, sizeof d->applier_error,
			         "%s", applier_error(a));
		d->skipped_commands = applier_skipped_commands(a);
	}
	r->count = n;
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
	rc = io_write_file_durable(dir, name, text, len, errmsg);
	free(text);
	if (rc != 0)
		return ma_errwrapf(
		    errmsg, rc,
		    "cannot write status file %s (check that its "
		    "directory exists and is writable)",
		    path);
	return 0;
}
