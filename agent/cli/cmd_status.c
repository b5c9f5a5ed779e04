/* `mirror-agent status`: reads the status file a running follower rewrites
 * every second (agent/status/status.h; <data_dir>/status), prints a block
 * per database or the JSON itself, and answers with an exit code a
 * monitor can act on (see usage() and docs/OPERATIONS.md, "Status"). */
#include <errno.h>
#include <getopt.h>
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
#include "common/errors.h"
#include "common/io.h"

/* Exit codes. */
#define EXIT_HEALTHY 0
#define EXIT_UNHEALTHY 1
#define EXIT_USAGE 2

#define MAX_AGE_DEFAULT_S 10 /* the follower rewrites the file every 1 s */

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: mirror-agent status [--data-dir DIR | --status-file "
	        "FILE] [--json]\n"
	        "                           [--max-age SECONDS] [--config "
	        "FILE] [--set SECTION.KEY=VALUE]...\n"
	        "\n"
	        "Reads the status file of `mirror-agent follow` (DIR/status; "
	        "DIR is [agent] data_dir,\n"
	        "default /var/lib/mirror-agent) and prints each database's "
	        "state and figures,\n"
	        "or with --json the file's JSON document (docs/OPERATIONS.md, "
	        "\"Status\").\n"
	        "\n"
	        "  --data-dir DIR       same as --set agent.data_dir=DIR\n"
	        "  --status-file FILE   read FILE instead of DIR/status\n"
	        "  --json               print the JSON document\n"
	        "  --max-age SECONDS    status older than this is stale "
	        "[%d]\n"
	        "  --config FILE        take [agent] data_dir from FILE\n"
	        "  --set S.K=V          override a configuration key\n"
	        "  --help               this text\n"
	        "\n"
	        "Exit status:\n"
	        "  0  every database is Bootstrapping, CatchingUp or "
	        "Following, and the status\n"
	        "     is fresh\n"
	        "  1  some database is Connecting, Disconnected, Degraded or "
	        "Error; or the status\n"
	        "     is stale, its follower is not running, or the file is "
	        "missing or unreadable\n"
	        "  2  usage or configuration error\n",
	        MAX_AGE_DEFAULT_S);
}

static int64_t now_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One override "section.key=value" through the configuration's checks. */
static bool apply_set(struct agent_config *cfg, const char *arg)
{
	char errmsg[MA_ERRMSG_SIZE], *name = strdup(arg), *eq;
	bool ok;

	if (name == NULL) {
		fprintf(stderr, "mirror-agent status: out of memory\n");
		return false;
	}
	eq = strchr(name, '=');
	if (eq == NULL) {
		fprintf(stderr,
		        "mirror-agent status: --set %s: expected "
		        "SECTION.KEY=VALUE\n",
		        arg);
		free(name);
		return false;
	}
	*eq = '\0';
	ok = config_set(cfg, name, eq + 1, errmsg) == 0;
	if (!ok)
		fprintf(stderr, "mirror-agent status: %s\n", errmsg);
	free(name);
	return ok;
}

/* --data-dir DIR as agent.data_dir=ABSOLUTE (the key takes absolute paths
 * only; a relative flag is relative to the working directory). */
static bool apply_data_dir(struct agent_config *cfg, const char *dir)
{
	char cwd[4096], *set;
	bool ok;
	int n;

	if (dir[0] == '/') {
		n = asprintf(&set, "agent.data_dir=%s", dir);
	} else {
		if (getcwd(cwd, sizeof cwd) == NULL) {
			fprintf(stderr,
			        "mirror-agent status: --data-dir %s: cannot "
			        "resolve a relative path: %s; give an absolute "
			        "one\n",
			        dir, strerror(errno));
			return false;
		}
		n = asprintf(&set, "agent.data_dir=%s/%s", cwd, dir);
	}
	if (n < 0) {
		fprintf(stderr, "mirror-agent status: out of memory\n");
		return false;
	}
	ok = apply_set(cfg, set);
	free(set);
	return ok;
}

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
		printf("  bootstrap: %" PRIu64 " / %" PRIu64 " bytes (%" PRIu64
		       " B/s)\n",
		       d->bytes_done, d->bytes_total, d->rate_bytes_per_s);
		printf("  log index %" PRIu64 ", applied index %" PRIu64
		       ", source commit index %" PRIu64 ", lag %" PRIu64
		       " entries / %" PRIu64 " ms\n",
		       d->log_index, d->applied_index, d->source_commit_index,
		       d->lag_entries, d->lag_ms);
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

/* 0 when healthy, else EXIT_UNHEALTHY with the reason on stderr. */
static int verdict(const struct status_report *r, const char *path,
                   int64_t age_ms, int64_t max_age_ms)
{
	int rc = EXIT_HEALTHY;

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
	if (r->count == 0) {
		fprintf(stderr, "mirror-agent status: %s lists no database\n",
		        path);
		rc = EXIT_UNHEALTHY;
	}
	for (size_t i = 0; i < r->count; i++)
		if (!status_state_healthy(r->databases[i].state)) {
			fprintf(stderr, "mirror-agent status: %s is %s%s%s\n",
			        r->databases[i].database,
			        mirror_state_name(r->databases[i].state),
			        r->databases[i].error[0] ? ": " : "",
			        r->databases[i].error);
			rc = EXIT_UNHEALTHY;
		}
	return rc;
}

int cmd_status(int argc, char **argv)
{
	static const struct option options[] = {
	    {"data-dir", required_argument, NULL, 'd'},
	    {"status-file", required_argument, NULL, 'f'},
	    {"json", no_argument, NULL, 'j'},
	    {"max-age", required_argument, NULL, 'm'},
	    {"config", required_argument, NULL, 'c'},
	    {"set", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *file = NULL, *max_age_arg = NULL;
	char errmsg[MA_ERRMSG_SIZE], path[4096];
	struct config_errors *errs = NULL;
	struct status_report *r = NULL;
	struct agent_config cfg;
	bool json = false, cfg_ready = false;
	int64_t max_age_ms = MAX_AGE_DEFAULT_S * 1000, age_ms;
	uint64_t max_age_s;
	void *buf = NULL;
	size_t len;
	int opt, rc, status = EXIT_USAGE;

	/* First pass: everything but the configuration overrides, which
	 * apply after --config is loaded, in command-line order. */
	optind = 0; /* glibc: full reinitialisation (tests parse twice) */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'm':
			max_age_arg = optarg;
			break;
		case 'd':
		case 's':
			break;
		case 'h':
			usage(stdout);
			return EXIT_HEALTHY;
		default:
			fprintf(stderr,
			        "mirror-agent status: %s: unknown option "
			        "or missing value\n",
			        argv[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr,
		        "mirror-agent status: unexpected argument '%s'\n",
		        argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (max_age_arg != NULL) {
		char *end;
		errno = 0;
		max_age_s = strtoull(max_age_arg, &end, 10);
		if (max_age_arg[0] < '0' || max_age_arg[0] > '9' || *end ||
		    errno != 0 || max_age_s < 1 || max_age_s > 86400) {
			fprintf(stderr,
			        "mirror-agent status: --max-age %s: expected "
			        "whole seconds from 1 to 86400\n",
			        max_age_arg);
			return EXIT_USAGE;
		}
		max_age_ms = (int64_t)max_age_s * 1000;
	}

	errs = malloc(sizeof *errs);
	if (errs == NULL) {
		fprintf(stderr, "mirror-agent status: out of memory\n");
		return EXIT_UNHEALTHY;
	}
	if (config != NULL) {
		/* Only [agent] data_dir matters here: the TLS files and
		 * spools the file names need not be readable by this user. */
		rc = config_load(config, &cfg, CONFIG_NO_FS_CHECKS, errs);
		cfg_ready = true;
		if (rc != 0) {
			config_errors_print(errs, stderr);
			goto out;
		}
	} else if (config_init(&cfg) != 0) {
		fprintf(stderr, "mirror-agent status: out of memory\n");
		goto out;
	}
	cfg_ready = true;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		if (opt == 'd' && !apply_data_dir(&cfg, optarg))
			goto out;
		if (opt == 's' && !apply_set(&cfg, optarg))
			goto out;
	}
	if (file == NULL) {
		if (snprintf(path, sizeof path, "%s/status",
		             cfg.agent.data_dir) >= (int)sizeof path) {
			fprintf(stderr,
			        "mirror-agent status: data_dir %s: path too "
			        "long\n",
			        cfg.agent.data_dir);
			goto out;
		}
		file = path;
	}

	status = EXIT_UNHEALTHY;
	rc = io_read_file(file, STATUS_JSON_MAX, &buf, &len);
	if (rc != 0) {
		fprintf(stderr,
		        "mirror-agent status: cannot read %s: %s (is "
		        "`mirror-agent follow` running with this data "
		        "dir?)\n",
		        file, strerror(-rc)); /* io.h: -errno */
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
		        file, errmsg);
		goto out;
	}
	age_ms = now_unix_ms() - r->updated_unix_ms;
	if (age_ms < 0)
		age_ms = 0; /* the wall clock stepped back */
	if (json)
		fwrite(buf, 1, len, stdout);
	else
		print_human(r, age_ms);
	fflush(stdout);
	status = verdict(r, file, age_ms, max_age_ms);
out:
	if (cfg_ready)
		config_free(&cfg);
	free(errs);
	free(r);
	free(buf);
	return status;
}
