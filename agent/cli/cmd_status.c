/* `mirror-agent status`: reads the status file a running follower rewrites
 * every second (agent/status/status.h; <data_dir>/status), prints a block
 * per database or the JSON itself, and answers with an exit code a
 * monitor can act on (see usage() and docs/OPERATIONS.md, "Status"). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/cli/commands.h"
#include "agent/config/config.h"
#include "agent/status/status.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/io.h"

/* Exit codes. */
#define EXIT_HEALTHY 0
#define EXIT_UNHEALTHY 1
#define EXIT_USAGE 2
#define EXIT_PROMOTED 3

#define MAX_AGE_DEFAULT_S 10 /* the follower rewrites the file every 1 s */

static void print_human(const struct status_report *r, int64_t age_ms)
{
	printf("source endpoint: %s (pid %ld, updated %" PRId64 ".%01" PRId64
	       " s ago)\n",
	       r->endpoint[0] ? r->endpoint : "-", r->pid, age_ms / 1000,
	       (age_ms % 1000) / 100);
	if (r->count == 0)
		printf("no database\n");
	for (size_t i = 0; i < r->count; i++) {
		const struct status_database *d = &r->databases[i];
		printf("%s: %s\n", d->database, mirror_state_name(d->state));
		if (d->state == MIRROR_PROMOTED)
			printf("  promoted at index %" PRIu64 ", term %" PRIu64
			       ": a source of its own, no longer mirrored\n",
			       d->promoted_index, d->promoted_term);
		printf("  bootstrap: %" PRIu64 " / %" PRIu64 " bytes (%" PRIu64
		       " B/s)\n",
		       d->bytes_done, d->bytes_total, d->rate_bytes_per_s);
		printf("  log index %" PRIu64 ", applied index %" PRIu64
		       ", source commit index %" PRIu64,
		       d->log_index, d->applied_index, d->source_commit_index);
		/* Without current figures the lag is unknown, not 0. */
		if (d->lag_known)
			printf(", lag %" PRIu64 " entries / %" PRIu64 " ms\n",
			       d->lag_entries, d->lag_ms);
		else
			printf(", lag unknown (no current figures)\n");
		if (d->has_contact)
			printf("  last word from the source %" PRIu64
			       " ms before the update\n",
			       d->last_contact_ms);
		else
			printf("  no word from the source yet\n");
		printf("  reconnects %" PRIu64 ", applier %s", d->reconnects,
		       d->applier);
		if (d->skipped_commands > 0)
			printf(" (%" PRIu64 " malformed commands skipped)",
			       d->skipped_commands);
		printf("\n");
		if (d->error[0] != '\0')
			printf("  last error: %s\n", d->error);
		if (d->applier_error[0] != '\0')
			printf("  applier error: %s\n", d->applier_error);
	}
}

/* 0 when healthy, else EXIT_UNHEALTHY with the reason on stderr;
 * EXIT_PROMOTED when the only news is a promotion. */
static int verdict(const struct status_report *r, const char *path,
                   int64_t age_ms, int64_t max_age_ms)
{
	int rc = EXIT_HEALTHY;
	size_t promoted = 0;

	for (size_t i = 0; i < r->count; i++) {
		const struct status_database *d = &r->databases[i];
		if (d->state != MIRROR_PROMOTED)
			continue;
		promoted++;
		fprintf(stderr,
		        "mirror-agent status: %s is Promoted at index %" PRIu64
		        " (term %" PRIu64
		        "): a source of its own, no longer mirrored\n",
		        d->database, d->promoted_index, d->promoted_term);
	}
	/* Every database promoted: the file is final (the follower that
	 * promoted them has exited), its age says nothing. */
	if (r->count > 0 && promoted == r->count)
		return EXIT_PROMOTED;

	if (age_ms > max_age_ms) {
		fprintf(stderr,
		        "mirror-agent status: %s is %" PRId64
		        " s old (more than %" PRId64
		        " s): is `mirror-agent follow` running?\n",
		        path, age_ms / 1000, max_age_ms / 1000);
		rc = EXIT_UNHEALTHY;
	}
	/* EPERM: it exists under another user; only ESRCH says it is gone. */
	if (r->pid > 0 && kill((pid_t)r->pid, 0) != 0 && errno == ESRCH) {
		fprintf(stderr,
		        "mirror-agent status: the follower that wrote %s (pid "
		        "%ld) is not running\n",
		        path, r->pid);
		rc = EXIT_UNHEALTHY;
	}
	if (r->stopped) {
		fprintf(stderr,
		        "mirror-agent status: the follower stopped; %s holds "
		        "its final state\n",
		        path);
		rc = EXIT_UNHEALTHY;
	}
	if (r->count == 0) {
		fprintf(stderr, "mirror-agent status: %s lists no database\n",
		        path);
		rc = EXIT_UNHEALTHY;
	}
	for (size_t i = 0; i < r->count; i++)
		if (r->databases[i].state != MIRROR_PROMOTED &&
		    !status_state_healthy(r->databases[i].state)) {
			fprintf(stderr, "mirror-agent status: %s is %s%s%s\n",
			        r->databases[i].database,
			        mirror_state_name(r->databases[i].state),
			        r->databases[i].error[0] ? ": " : "",
			        r->databases[i].error);
			rc = EXIT_UNHEALTHY;
		}
	if (rc == EXIT_HEALTHY && promoted > 0)
		rc = EXIT_PROMOTED;
	return rc;
}

int cmd_status(int argc, char **argv)
{
	struct status_options so;
	char errmsg[MA_ERRMSG_SIZE];
	struct status_report *r = NULL;
	int64_t age_ms;
	void *buf = NULL;
	size_t len;
	int rc, status;

	rc = cmd_status_options(argc, argv, &so);
	if (rc != 0)
		return rc < 0 ? EXIT_HEALTHY : rc; /* -1: --help was printed */

	status = EXIT_UNHEALTHY;
	rc = io_read_file(so.path, STATUS_JSON_MAX, &buf, &len, errmsg);
	if (rc != 0) {
		fprintf(stderr,
		        "mirror-agent status: %s (is `mirror-agent follow` "
		        "running with this data dir?)\n",
		        errmsg);
		goto out;
	}
	r = malloc(sizeof *r);
	if (r == NULL) {
		fprintf(stderr, "mirror-agent status: out of memory\n");
		goto out;
	}
	if (status_json_parse(buf, len, r, errmsg) != 0) {
		fprintf(stderr,
		        "mirror-agent status: %s: %s (written by another "
		        "version of mirror-agent?)\n",
		        so.path, errmsg);
		goto out;
	}
	age_ms = (int64_t)clock_wall_ms() - r->updated_unix_ms;
	if (age_ms < 0)
		age_ms = 0; /* the wall clock stepped back */
	if (so.json)
		fwrite(buf, 1, len, stdout);
	else
		print_human(r, age_ms);
	fflush(stdout);
	status = verdict(r, so.path, age_ms, so.max_age_ms);
out:
	free(r);
	free(buf);
	return status;
}
