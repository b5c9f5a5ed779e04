/* mirror-agent: keeps a read-only mirror of a Raft-replicated database.
 * This file only dispatches to the sub-commands (agent/cli/commands.h). */
#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "agent/cli/cli.h"
#include "agent/cli/commands.h"
#include "agent/status/status.h"
#include "build-config.h" /* autoconf output, not agent/config/config.h */
#include "build-info.h"   /* MA_BUILD_COMMIT, made at build time */
#include "proto/proto.h"

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
     "[--set ...] [--json] FILE"},
    {"wal", cmd_wal,
     "wal verify [--json] DIR | wal dump [--json] DIR [--from N] "
     "[--count K]"},
    {"snapshot", cmd_snapshot, "snapshot verify [--json] FILE"},
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
	status_build_commit = MA_BUILD_COMMIT;
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
		/* What a bug report needs: the commit and the versions of
		 * the libraries actually loaded (shared libraries can be
		 * newer than the ones the build was configured against). */
		printf("mirror-agent %s\ncommit %s\nngtcp2 %s, nghttp3 %s, "
		       "wolfSSL %s, libevent %s, msgpack-c %s\n",
		       PACKAGE_VERSION, MA_BUILD_COMMIT,
		       ngtcp2_version(0)->version_str,
		       nghttp3_version(0)->version_str, wolfSSL_lib_version(),
		       event_get_version(), proto_msgpack_version());
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
