/* Sub-commands of the mirror-agent program. Each takes the arguments after
 * its own name (argv[0] is the sub-command name) and returns the process
 * exit status: 0 success, 1 failure (corruption, I/O), 2 usage or
 * configuration error (agent/cli/cli.h). */
#ifndef MIRROR_AGENT_COMMANDS_H
#define MIRROR_AGENT_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* mirror-agent wal verify DIR | wal dump DIR [--from N] [--count K] */
int cmd_wal(int argc, char **argv);
/* mirror-agent snapshot verify FILE */
int cmd_snapshot(int argc, char **argv);
/* mirror-agent check-config FILE */
int cmd_check_config(int argc, char **argv);
/* mirror-agent follow [--config FILE] [flags] */
int cmd_follow(int argc, char **argv);
/* mirror-agent status [--data-dir DIR | --config FILE | --status-file FILE]
 * [--json] */
int cmd_status(int argc, char **argv);
/* The options of `status` (agent/cli/cmd_status_options.c). */
struct status_options {
	char path[4096];    /* the status file */
	bool json;          /* print the document as it is */
	int64_t max_age_ms; /* older than this is stale */
};
/* Returns 0, -1 (--help printed: exit 0) or an exit status (errors
 * printed). */
int cmd_status_options(int argc, char **argv, struct status_options *so);
/* mirror-agent promote [--config FILE] [--database NAME|all]...
 * [--at-index N] */
int cmd_promote(int argc, char **argv);
/* Promotes one database directory (agent/promote/promote.h) and puts the
 * answer line, or the error line, into out. Returns an exit status, or -1
 * when a running follower holds the directory (out has the error). Also
 * what a follower runs for a promote request (cmd_follow.c). On success,
 * when status_path names an existing status file, marks the database
 * there as Promoted with its index and term (so `mirror-agent status`
 * says so; a running follower rewrites the file with its own view). */
int cmd_promote_database(const char *name, const char *dir, int applier,
                         uint64_t at_index, uint64_t source_commit_index,
                         const char *status_path, char *out, size_t size);
/* mirror-agent serve [--config FILE] [flags] */
int cmd_serve(int argc, char **argv);

/* The option tables of serve and follow (agent/cli/cli.h), for tests that
 * drive every flag. */
struct cli_command;
extern const struct cli_command cmd_serve_cli;
extern const struct cli_command cmd_follow_cli;
extern const struct cli_command cmd_promote_cli;

#endif
