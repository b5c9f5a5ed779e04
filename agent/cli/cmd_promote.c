/* `mirror-agent promote`: turns mirrored databases into sources of their
 * own (agent/promote/promote.h has the sequence; docs/OPERATIONS.md
 * "Promote" the runbook). Glue only: options, the status file (for the
 * RPO figure: the last source commit index the follower saw), and the
 * answer, one line per database:
 *
 *   promoted DB index=N term=T fingerprint=kv:XXXXXXXX epoch=E
 *     incarnation=UUID source_commit_index=S rpo_entries=K truncated=X
 *
 * (on one line; rpo_entries=unknown without a status file). With a
 * follower running on the directory the wal is locked: the command asks
 * the follower (SIGUSR1 and a request file, follow.h) to stop the
 * database and promote it, and prints the follower's answer. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/cli/cli.h"
#include "agent/cli/commands.h"
#include "agent/config/config.h"
#include "agent/follow/follow.h"
#include "agent/promote/promote.h"
#include "agent/status/status.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "common/parse.h"

enum {
	OPT_DATABASE = CLI_OPT_CUSTOM,
	OPT_AT_INDEX,
	OPT_STATUS_FILE,
	OPT_TIMEOUT,
};

static const struct cli_opt promote_opts[] = {
    CLI_OPTS_CONFIG,
    {"data-dir", "DIR", CLI_OPT_KEY, "agent.data_dir",
     "where mirrored databases are kept"},
    {"database", "NAME", OPT_DATABASE, NULL,
     "database to promote (repeatable); `all` or none given: every "
     "configured one"},
    {"at-index", "N", OPT_AT_INDEX, NULL,
     "promote at index N (one database; not beyond the last durable, "
     "applied index)"},
    {"status-file", "PATH", OPT_STATUS_FILE, NULL,
     "the follower's status file, for the RPO figure [DATA_DIR/status]"},
    {"timeout", "SECONDS", OPT_TIMEOUT, NULL,
     "wait this long for a running follower's answer [30]"},
    {NULL, NULL, 0, NULL, NULL},
};

const struct cli_command cmd_promote_cli = {
    "promote",
    "promote [--config FILE] [--set SECTION.KEY=VALUE]... "
    "[--data-dir DIR]\n"
    "           [--database NAME|all]... [--at-index N]",
    "Stops following and turns each database into a source of its own: "
    "the last\ndurable, applied index (or --at-index N) is kept, the wal "
    "after it removed, and\nthe identity becomes a new incarnation "
    "(epoch + 1) recorded in DIR/promoted.\n`follow` refuses a promoted "
    "directory; `serve` serves it. Running it again\nanswers the same "
    "figures. With a follower running on the directory, the\nfollower "
    "does it (SIGUSR1, DATA_DIR/promote.request). The fingerprint is "
    "kv:\nfor databases with applier kv (set it: --set "
    "database.NAME.applier=kv),\nlog: otherwise (docs/OPERATIONS.md).\n",
    promote_opts,
    0,
    0,
};

struct promote_flags {
	bool all;
	uint64_t at_index;
	const char *status_file;
	unsigned timeout_s;
};

static int promote_custom(void *ctx, struct agent_config *cfg,
                          const struct cli_item *it)
{
	struct promote_flags *fl = ctx;
	char key[CONFIG_DATABASE_NAME_MAX + 32], why[PARSE_WHY_SIZE];
	uint64_t v;

	switch (it->opt->id) {
	case OPT_DATABASE:
		if (strcmp(it->value, "all") == 0) {
			fl->all = true;
			return 0;
		}
		if (config_database_find(cfg, it->value) != NULL)
			return 0;
		snprintf(key, sizeof key, "database.%.*s.applier",
		         CONFIG_DATABASE_NAME_MAX + 1, it->value);
		return cli_set(&cmd_promote_cli, cfg, "database", key, "none");
	case OPT_AT_INDEX:
		if (parse_uint64(it->value, &v, why) != 0 || v == 0)
			return cli_usage_error(&cmd_promote_cli,
			                       "--at-index: '%s' is not an "
			                       "index (1..2^64-1)",
			                       it->value);
		fl->at_index = v;
		return 0;
	case OPT_STATUS_FILE:
		fl->status_file = it->value;
		return 0;
	case OPT_TIMEOUT:
		if (parse_uint64(it->value, &v, why) != 0 || v == 0 || v > 3600)
			return cli_usage_error(&cmd_promote_cli,
			                       "--timeout: '%s' is not 1..3600 "
			                       "seconds",
			                       it->value);
		fl->timeout_s = (unsigned)v;
		return 0;
	default:
		return 0;
	}
}

/* Reads the status file, if any: the follower's pid and each database's
 * source_commit_index. NULL when there is none or it cannot be read
 * (the RPO figure is then unknown; said on stderr). */
static struct status_report *read_status(const char *path)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct status_report *r;
	void *buf;
	size_t len;
	int rc;

	rc = io_read_file(path, STATUS_JSON_MAX, &buf, &len, errmsg);
	if (rc != 0) {
		fprintf(stderr,
		        "mirror-agent promote: no follower status (%s): the "
		        "RPO figure is unknown\n",
		        errmsg);
		return NULL;
	}
	r = malloc(sizeof *r);
	if (r != NULL && status_json_parse(buf, len, r, errmsg) != 0) {
		fprintf(stderr,
		        "mirror-agent promote: %s: %s: the RPO figure is "
		        "unknown\n",
		        path, errmsg);
		free(r);
		r = NULL;
	}
	free(buf);
	return r;
}

static uint64_t status_commit_index(const struct status_report *st,
                                    const char *name)
{
	if (st == NULL)
		return 0;
	for (size_t i = 0; i < st->count; i++)
		if (strcmp(st->databases[i].database, name) == 0)
			return st->databases[i].source_commit_index;
	return 0;
}

/* Asks the follower with pid to promote rq's databases: writes the
 * request, signals, waits for the answer file and prints it. */
static int through_follower(const char *data_dir, long pid,
                            const struct promote_request *rq,
                            unsigned timeout_s)
{
	char text[PROMOTE_REQUEST_MAX * 80 + 64], path[4096],
	    errmsg[MA_ERRMSG_SIZE];
	uint64_t deadline;
	void *buf;
	size_t blen;
	int len, rc;

	len = promote_request_format(rq, text, sizeof text);
	if (len < 0 ||
	    io_path_join(path, sizeof path, data_dir, PROMOTE_RESULT_FILE) !=
	        0 ||
	    (unlink(path) != 0 && errno != ENOENT)) {
		fprintf(stderr, "mirror-agent promote: cannot clear %s/%s\n",
		        data_dir, PROMOTE_RESULT_FILE);
		return CLI_EXIT_FAILURE;
	}
	rc = io_write_file_durable(data_dir, PROMOTE_REQUEST_FILE, text,
	                           (size_t)len, errmsg);
	if (rc != 0) {
		fprintf(stderr, "mirror-agent promote: %s\n", errmsg);
		return CLI_EXIT_FAILURE;
	}
	fprintf(stderr,
	        "mirror-agent promote: a follower (pid %ld) holds the "
	        "directory; asking it to stop and promote\n",
	        pid);
	if (kill((pid_t)pid, SIGUSR1) != 0) {
		fprintf(stderr,
		        "mirror-agent promote: cannot signal the follower "
		        "(pid %ld): %s\n",
		        pid, strerror(errno));
		return CLI_EXIT_FAILURE;
	}
	deadline = clock_mono_ms() + (uint64_t)timeout_s * 1000;
	while (io_read_file(path, 1 << 20, &buf, &blen, NULL) != 0) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		if (clock_mono_ms() > deadline) {
			fprintf(stderr,
			        "mirror-agent promote: the follower (pid %ld) "
			        "did not answer within %u s (no %s); stop it "
			        "and run promote again\n",
			        pid, timeout_s, path);
			return CLI_EXIT_FAILURE;
		}
		nanosleep(&ts, NULL);
	}
	/* "status=N\n", then the answer lines. */
	rc = CLI_EXIT_FAILURE;
	if (blen > 7 && strncmp(buf, "status=", 7) == 0) {
		char *nl = memchr(buf, '\n', blen);
		rc = atoi((char *)buf + 7);
		if (nl != NULL)
			fwrite(nl + 1, 1, blen - (size_t)(nl + 1 - (char *)buf),
			       rc == 0 ? stdout : stderr);
	}
	free(buf);
	unlink(path);
	return rc;
}

/* Marks database name Promoted in the status file at path (when there is
 * one that names it): the state the follower's last report could not
 * know. Failures are said on stderr only: the promotion stands. */
static void mark_status(const char *path, const char *name,
                        const struct promote_result *pr)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct status_report *r;
	void *buf;
	size_t len;

	if (path == NULL ||
	    io_read_file(path, STATUS_JSON_MAX, &buf, &len, NULL) != 0)
		return;
	r = malloc(sizeof *r);
	if (r == NULL || status_json_parse(buf, len, r, errmsg) != 0) {
		free(r);
		free(buf);
		return;
	}
	free(buf);
	for (size_t i = 0; i < r->count; i++) {
		struct status_database *d = &r->databases[i];
		if (strcmp(d->database, name) != 0)
			continue;
		d->state = MIRROR_PROMOTED;
		d->promoted_index = pr->rec.index;
		d->promoted_term = pr->rec.term;
		d->log_index = d->applied_index = pr->rec.index;
		if (pr->rec.source_commit_index > d->source_commit_index)
			d->source_commit_index = pr->rec.source_commit_index;
		d->lag_known = false;
		d->retention_headroom_known = false;
		snprintf(d->error, sizeof d->error,
		         "promoted at index %" PRIu64 " (term %" PRIu64
		         ", %s, epoch %" PRIu64
		         "): a source of its own, never followed again",
		         pr->rec.index, pr->rec.term, pr->rec.fingerprint,
		         pr->rec.epoch);
		r->updated_unix_ms = (int64_t)clock_wall_ms();
		if (status_file_write(path, r, errmsg) != 0)
			fprintf(stderr, "mirror-agent promote: %s\n", errmsg);
		break;
	}
	free(r);
}

int cmd_promote_database(const char *name, const char *dir, int applier,
                         uint64_t at_index, uint64_t source_commit_index,
                         const char *status_path, char *out, size_t size)
{
	struct promote_options o = {0};
	struct promote_result r;
	char errmsg[MA_ERRMSG_SIZE];
	int rc;

	o.dir = dir;
	o.name = name;
	o.applier_kind = applier;
	o.at_index = at_index;
	o.source_commit_index = source_commit_index;
	o.now_unix_ms = (int64_t)clock_wall_ms();
	rc = promote_database(&o, &r, errmsg);
	if (rc == MA_ERR_BUSY) {
		snprintf(out, size, "mirror-agent promote: %s: %s\n", name,
		         errmsg);
		return -1;
	}
	if (rc != 0) {
		snprintf(out, size, "mirror-agent promote: %s: %s\n", name,
		         errmsg);
		return rc == MA_ERR_NOTFOUND || rc == MA_ERR_INVAL
		           ? CLI_EXIT_USAGE
		           : CLI_EXIT_FAILURE;
	}
	promote_result_format(name, &r, out, size);
	mark_status(status_path, name, &r);
	return CLI_EXIT_OK;
}

int cmd_promote(int argc, char **argv)
{
	struct agent_config cfg;
	struct promote_flags fl = {0};
	struct status_report *st = NULL;
	struct cli_args a;
	const char *names[FOLLOW_MAX_DATABASES];
	char dirs[FOLLOW_MAX_DATABASES][4096], status_path[4096];
	struct promote_request rq;
	size_t n = 0;
	int rc, worst = CLI_EXIT_OK;

	fl.timeout_s = 30;
	memset(&rq, 0, sizeof rq);
	rc = cli_parse(&cmd_promote_cli, argc, argv, &a);
	if (rc != 0)
		return rc < 0 ? CLI_EXIT_OK : rc;
	rc = cli_config(&cmd_promote_cli, &a, &cfg, promote_custom, &fl);
	cli_args_free(&a);
	if (rc != 0)
		goto out;
	rc = CLI_EXIT_USAGE;
	if (cfg.agent.data_dir == NULL || cfg.agent.data_dir[0] == '\0') {
		cli_usage_error(&cmd_promote_cli, "no data directory given");
		goto out;
	}
	if (cfg.n_databases == 0) {
		cli_usage_error(&cmd_promote_cli,
		                "no database given (--database NAME or a "
		                "configuration naming them)");
		goto out;
	}
	if (cfg.n_databases > FOLLOW_MAX_DATABASES) {
		cli_usage_error(&cmd_promote_cli, "more than %d databases",
		                FOLLOW_MAX_DATABASES);
		goto out;
	}
	if (fl.at_index != 0 && cfg.n_databases != 1) {
		cli_usage_error(&cmd_promote_cli,
		                "--at-index needs exactly one database (%zu "
		                "given)",
		                cfg.n_databases);
		goto out;
	}
	for (size_t i = 0; i < cfg.n_databases; i++) {
		const struct config_database *d = &cfg.databases[i];
		if (d->directory != NULL)
			snprintf(dirs[n], sizeof dirs[n], "%s", d->directory);
		else if (snprintf(dirs[n], sizeof dirs[n], "%s/%s",
		                  cfg.agent.data_dir,
		                  d->name) >= (int)sizeof dirs[n]) {
			cli_usage_error(&cmd_promote_cli, "%s: path too long",
			                d->name);
			goto out;
		}
		names[n++] = d->name;
	}
	if (fl.status_file != NULL)
		snprintf(status_path, sizeof status_path, "%s", fl.status_file);
	else
		snprintf(status_path, sizeof status_path, "%s/status",
		         cfg.agent.data_dir);
	st = read_status(status_path);

	for (size_t i = 0; i < n; i++) {
		char line[MA_ERRMSG_SIZE + 512];

		rc = cmd_promote_database(names[i], dirs[i],
		                          cfg.databases[i].applier, fl.at_index,
		                          status_commit_index(st, names[i]),
		                          status_path, line, sizeof line);
		if (rc < 0) {
			/* Locked: through the follower. */
			snprintf(rq.names[rq.n++], sizeof rq.names[0], "%s",
			         names[i]);
			continue;
		}
		fputs(line, rc == 0 ? stdout : stderr);
		if (rc > worst)
			worst = rc;
	}
	if (rq.n > 0) {
		long pid = st != NULL ? st->pid : 0;

		if (pid <= 0 || kill((pid_t)pid, 0) != 0) {
			fprintf(stderr,
			        "mirror-agent promote: %zu database(s) are "
			        "locked by another process, but %s names no "
			        "running follower; stop whatever holds "
			        "DIR/wal/wal.lock and run promote again\n",
			        rq.n, status_path);
			worst = CLI_EXIT_FAILURE;
		} else {
			rq.at_index = fl.at_index;
			rc = through_follower(cfg.agent.data_dir, pid, &rq,
			                      fl.timeout_s);
			if (rc > worst)
				worst = rc;
		}
	}
	rc = worst;
out:
	free(st);
	config_free(&cfg);
	return rc;
}
