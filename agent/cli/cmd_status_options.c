/* Options of `mirror-agent status` (the rendering is in cmd_status.c):
 * the common pattern of agent/cli/cli.h, so that status finds the data
 * directory the way follow does: --data-dir, or [agent] data_dir of a
 * --config file, or a --set, else the schema's default. */
#include <stdio.h>
#include <string.h>

#include "agent/cli/cli.h"
#include "agent/cli/commands.h"
#include "agent/config/config.h"
#include "common/io.h"

enum { OPT_STATUS_FILE = CLI_OPT_CUSTOM, OPT_JSON };

static const struct cli_opt status_opts[] = {
    CLI_OPTS_CONFIG,
    {"data-dir", "DIR", CLI_OPT_KEY, "agent.data_dir",
     "the follower's data directory (its status file is DIR/status)"},
    {"status-file", "FILE", OPT_STATUS_FILE, NULL,
     "read this status file instead"},
    {"json", NULL, OPT_JSON, NULL, "print the status file as it is (JSON)"},
    {NULL, NULL, 0, NULL, NULL},
};

static const struct cli_command status_cmd = {
    "status",
    "status [--data-dir DIR | --config FILE | --status-file FILE] [--json]",
    "Prints what a running `mirror-agent follow` last wrote to its status "
    "file.\nThe --config file is read for [agent] data_dir only: its TLS "
    "files and\ndirectories need not be readable here.\n",
    status_opts,
    0,
    0,
    CONFIG_NO_FS_CHECKS,
};

struct status_flags {
	const char *status_file;
	bool json;
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
	return 0;
}

int cmd_status_options(int argc, char **argv, char *path, size_t size,
                       bool *json)
{
	struct status_flags fl = {NULL, false};
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
	*json = fl.json;
	config_free(&cfg);
	return rc;
}
