/* Options of `mirror-agent status` (the rendering is in cmd_status.c):
 * the common pattern of agent/cli/cli.h, so that status finds the data
 * directory the way follow does: --data-dir, or [agent] data_dir of a
 * --config file, or a --set, else the schema's default. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "agent/cli/cli.h"
#include "agent/cli/commands.h"
#include "agent/config/config.h"
#include "common/io.h"
#include "common/parse.h"

enum { OPT_STATUS_FILE = CLI_OPT_CUSTOM, OPT_JSON, OPT_MAX_AGE };

/* The follower rewrites the file every second. */
#define MAX_AGE_DEFAULT_S 10
#define MAX_AGE_MAX_S 86400

static const struct cli_opt status_opts[] = {
    CLI_OPTS_CONFIG,
    {"data-dir", "DIR", CLI_OPT_KEY, "agent.data_dir",
     "the follower's data directory (its status file is DIR/status)"},
    {"status-file", "FILE", OPT_STATUS_FILE, NULL,
     "read this status file instead"},
    {"json", NULL, OPT_JSON, NULL, "print the status file as it is (JSON)"},
    {"max-age", "SECONDS", OPT_MAX_AGE, NULL,
     "a status older than this is stale (exit 1) [10], 1-86400"},
    {NULL, NULL, 0, NULL, NULL},
};

static const struct cli_command status_cmd = {
    "status",
    "status [--data-dir DIR | --config FILE | --status-file FILE] [--json]",
    "Prints what a running `mirror-agent follow` last wrote to its status "
    "file, and answers with an exit code a monitor can act on:\n"
    "  0  every database is Bootstrapping, CatchingUp or Following, and "
    "the status is fresh\n"
    "  1  some database is Connecting, Disconnected, Degraded or Error; or "
    "the status is\n"
    "     stale, its follower is not running, or the file is missing or "
    "unreadable\n"
    "  2  usage or configuration error\n"
    "  3  some database is Promoted (a source of its own now, no longer "
    "mirrored) and\n     nothing above is wrong; a file whose databases "
    "are all Promoted is final:\n     its age and its follower do not "
    "matter\n"
    "The --config file is read for [agent] data_dir only: its TLS "
    "files and\ndirectories need not be readable here.\n",
    status_opts,
    0,
    0,
    CONFIG_NO_FS_CHECKS,
};

struct status_flags {
	const char *status_file;
	bool json;
	uint64_t max_age_s;
};

static int status_custom(void *ctx, struct agent_config *cfg,
                         const struct cli_item *it)
{
	struct status_flags *fl = ctx;

	(void)cfg;
	if (it->opt->id == OPT_STATUS_FILE)
		fl->status_file = it->value;
	else if (it->opt->id == OPT_JSON)
		fl->json = true;
	else if (it->opt->id == OPT_MAX_AGE) {
		char why[128];
		if (parse_uint64(it->value, &fl->max_age_s, why) != 0 ||
		    fl->max_age_s < 1 || fl->max_age_s > MAX_AGE_MAX_S)
			return cli_usage_error(&status_cmd,
			                       "--max-age %s: expected whole "
			                       "seconds from 1 to %d",
			                       it->value, MAX_AGE_MAX_S);
	}
	return 0;
}

int cmd_status_options(int argc, char **argv, struct status_options *so)
{
	struct status_flags fl = {NULL, false, MAX_AGE_DEFAULT_S};
	char *path = so->path;
	size_t size = sizeof so->path;
	struct agent_config cfg;
	struct cli_args a;
	int rc;

	rc = cli_parse(&status_cmd, argc, argv, &a);
	if (rc != 0)
		return rc;
	rc = cli_config(&status_cmd, &a, &cfg, status_custom, &fl);
	cli_args_free(&a);
	if (rc == 0 && fl.status_file != NULL)
		snprintf(path, size, "%s", fl.status_file);
	else if (rc == 0 &&
	         io_path_join(path, size, cfg.agent.data_dir, "status") != 0)
		rc = cli_usage_error(&status_cmd,
		                     "data directory path too long");
	so->json = fl.json;
	so->max_age_ms = (int64_t)fl.max_age_s * 1000;
	config_free(&cfg);
	return rc;
}
