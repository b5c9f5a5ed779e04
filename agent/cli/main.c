/* mirror-agent: keeps a read-only mirror of a Raft-replicated database.
 * This file only dispatches to the sub-commands (agent/cli/commands.h). */
#include <stdio.h>
#include <string.h>

#include "agent/cli/cli.h"
#include "agent/cli/commands.h"
#include "build-config.h" /* autoconf output, not agent/config/config.h */

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
};

static const struct command commands[] = {
    {"serve", cmd_serve,
     "serve [--config FILE] [--set SECTION.KEY=VALUE]... [options]"},
    {"follow", cmd_follow,
     "follow [--config FILE] [--set SECTION.KEY=VALUE]... [options]"},
    {"promote", cmd_promote,
     "promote [--config FILE] [--data-dir DIR] [--database NAME|all]... "
     "[--at-index N]"},
    {"status", cmd_status,
     "status [--data-dir DIR | --config FILE | --status-file FILE] "
     "[--json]"},
    {"check-config", cmd_check_config,
     "check-config [--role serve|follow|both] [--no-fs-checks] "
     "[--set ...] FILE"},
    {"wal", cmd_wal, "wal verify DIR | wal dump DIR [--from N] [--count K]"},
    {"snapshot", cmd_snapshot, "snapshot verify FILE"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: mirror-agent COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  %s\n", commands[i].usage);
	fprintf(out, "  version\n\n"
	             "mirror-agent COMMAND --help prints a command's options.\n"
	             "\n" CLI_EXIT_TEXT);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "version") == 0 ||
	    strcmp(argv[1], "--version") == 0) {
		printf("mirror-agent %s\n", PACKAGE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "mirror-agent: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
