/* What every mirror-agent command shares: one option parser (getopt_long,
 * so `--opt=value` and `--opt value` both work), one way from a flag to a
 * configuration key (config_set(), so a flag and its key share one range
 * and one error text), `--config FILE` and `--set SECTION.KEY=VALUE`, and
 * usage text whose ranges and defaults come from the schema table in
 * agent/config/config_schema.c.
 *
 * Exit status of every command (also in docs/OPERATIONS.md):
 *	0  success (and --help)
 *	1  runtime failure: corruption found, I/O error, a failed check
 *	2  usage or configuration error (nothing was started) */
#ifndef MIRROR_AGENT_CLI_H
#define MIRROR_AGENT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct agent_config;

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE 2

/* The exit-status paragraph every usage text ends with. */
#define CLI_EXIT_TEXT                                                          \
	"exit status: 0 success, 1 runtime failure, 2 usage or "               \
	"configuration error\n"

/* Option ids with a meaning of their own; a command's own ids start at
 * CLI_OPT_CUSTOM. */
enum {
	CLI_OPT_KEY = 0, /* sets cli_opt.key to the value */
	CLI_OPT_CONFIG,  /* --config FILE */
	CLI_OPT_SET,     /* --set SECTION.KEY=VALUE */
	CLI_OPT_HELP,    /* --help, -h */
	CLI_OPT_CUSTOM = 100,
};

struct cli_opt {
	const char *name; /* long name without "--" */
	const char *arg;  /* value placeholder for usage; NULL: a switch */
	int id;           /* CLI_OPT_KEY, CLI_OPT_CONFIG, ... or own id */
	const char *key;  /* CLI_OPT_KEY: the configuration key it sets */
	const char *help; /* one line; the key's range and default follow */
};

/* Entries of every command that reads a configuration. */
#define CLI_OPTS_CONFIG                                                        \
	{"config", "FILE", CLI_OPT_CONFIG, NULL,                               \
	 "configuration file; the flags below override it"},                   \
	{                                                                      \
		"set", "SECTION.KEY=VALUE", CLI_OPT_SET, NULL,                 \
		    "any configuration key (repeatable)"                       \
	}

struct cli_command {
	const char *name;           /* "serve", "wal verify": for messages */
	const char *synopsis;       /* after "usage: mirror-agent " (lines) */
	const char *about;          /* printed after the options; may be NULL */
	const struct cli_opt *opts; /* ends with {NULL}; --help is implied */
	int min_args, max_args;     /* positional arguments */
	unsigned config_flags;      /* for config_load(): CONFIG_NO_FS_CHECKS */
};

/* One option as given, in command-line order. */
struct cli_item {
	const struct cli_opt *opt;
	const char *value; /* NULL for a switch */
};

struct cli_args {
	struct cli_item *items;
	size_t n;
	const char *config_path; /* --config, NULL when not given */
	char **args;             /* positional arguments */
	int nargs;
};

/* Prints the usage of cmd: synopsis, options (a keyed option with its
 * [section] key, range and default from the schema), about, exit codes. */
void cli_usage(const struct cli_command *cmd, FILE *out);

/* Prints "mirror-agent NAME: <message>" and a pointer to --help on
 * stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parses argv[1..argc) (argv[0] is the command's name) against cmd's
 * options. Options and positional arguments may be mixed; "--" ends the
 * options. Returns CLI_EXIT_OK with *a filled (release it with
 * cli_args_free()), -1 when --help printed the usage on stdout (exit 0),
 * or CLI_EXIT_USAGE with the error printed (unknown option, missing value,
 * wrong number of arguments, --config twice). */
int cli_parse(const struct cli_command *cmd, int argc, char **argv,
              struct cli_args *a);
void cli_args_free(struct cli_args *a);

/* A command's handler for its own options (id >= CLI_OPT_CUSTOM): 0, or
 * CLI_EXIT_USAGE after printing why. */
typedef int (*cli_custom_fn)(void *ctx, struct agent_config *cfg,
                             const struct cli_item *item);

/* Builds the configuration: the --config file (with cmd->config_flags)
 * or the defaults, then every option in command-line order:
 * keyed options and --set through cli_set(), own options through custom
 * (may be NULL when there are none). cfg must be released with
 * config_free() whatever the result. Returns CLI_EXIT_OK, or
 * CLI_EXIT_USAGE with every error printed. */
int cli_config(const struct cli_command *cmd, const struct cli_args *a,
               struct agent_config *cfg, cli_custom_fn custom, void *ctx);

/* config_set(cfg, key, value) on behalf of option `flag` ("chunk-size";
 * "set" for --set). On error prints "mirror-agent NAME: --FLAG (KEY):
 * <why>" (or "--set KEY: <why>") and returns CLI_EXIT_USAGE. */
int cli_set(const struct cli_command *cmd, struct agent_config *cfg,
            const char *flag, const char *key, const char *value);

/* Writes text into the file at path durably and atomically (a port file,
 * the pid file). Returns 0 or io_write_file_durable()'s MA_ERR_* code
 * with errmsg filled. */
int cli_write_file(const char *path, const char *text, char *errmsg);

#endif
