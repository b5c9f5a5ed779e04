/* Option parsing and configuration building shared by every command
 * (agent/cli/cli.h). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cli/cli.h"
#include "agent/config/config.h"
#include "common/io.h"
#include "common/parse.h"

static const struct cli_opt help_opt = {"help", NULL, CLI_OPT_HELP, NULL,
                                        "print this text and exit"};

/* "512-1MiB, default 256KiB" for a keyed option, from the schema. */
static void describe_key(const char *key, char *buf, size_t size)
{
	struct config_key_info k;
	char lo[32], hi[32];
	size_t n = 0;

	buf[0] = '\0';
	if (!config_key_info_find(key, &k))
		return;
	if (k.kind == CONFIG_KIND_SIZE) {
		parse_format_size(k.min, lo, sizeof lo);
		parse_format_size(k.max, hi, sizeof hi);
	} else if (k.kind == CONFIG_KIND_DURATION) {
		parse_format_duration(k.min, lo, sizeof lo);
		parse_format_duration(k.max, hi, sizeof hi);
	} else {
		snprintf(lo, sizeof lo, "%" PRIu64, k.min);
		snprintf(hi, sizeof hi, "%" PRIu64, k.max);
	}
	n = (size_t)snprintf(buf, size, "[%.*s] %s", (int)strcspn(key, "."),
	                     key, strchr(key, '.') + 1);
	if (k.kind <= CONFIG_KIND_DURATION && n < size)
		n += (size_t)snprintf(buf + n, size - n, ", %s%s-%s",
		                      k.zero_ok ? "0 (off) or " : "", lo, hi);
	for (size_t i = 0; k.enums != NULL && k.enums[i] != NULL && n < size;
	     i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s",
		                      i == 0 ? ", " : "|", k.enums[i]);
	if (k.defval != NULL && n < size)
		snprintf(buf + n, size - n, ", default %s", k.defval);
}

static void print_opt(const struct cli_opt *o, FILE *out)
{
	char left[64], key[160];

	snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "",
	         o->arg ? o->arg : "");
	fprintf(out, "  %-26s %s\n", left, o->help);
	if (o->id == CLI_OPT_KEY) {
		describe_key(o->key, key, sizeof key);
		fprintf(out, "  %-26s (%s)\n", "", key);
	}
}

void cli_usage(const struct cli_command *cmd, FILE *out)
{
	fprintf(out, "usage: mirror-agent %s\n", cmd->synopsis);
	if (cmd->opts[0].name != NULL)
		fprintf(out, "\noptions (--opt VALUE or --opt=VALUE):\n");
	for (const struct cli_opt *o = cmd->opts; o->name != NULL; o++)
		print_opt(o, out);
	print_opt(&help_opt, out);
	if (cmd->about != NULL)
		fprintf(out, "\n%s", cmd->about);
	fprintf(out, "\n" CLI_EXIT_TEXT);
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mirror-agent %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(mirror-agent %s --help for usage)\n", cmd->name);
	return CLI_EXIT_USAGE;
}

void cli_args_free(struct cli_args *a)
{
	free(a->items);
	memset(a, 0, sizeof *a);
}

int cli_parse(const struct cli_command *cmd, int argc, char **argv,
              struct cli_args *a)
{
	struct option *lo;
	size_t nopts = 0;
	int c, rc = CLI_EXIT_OK;

	memset(a, 0, sizeof *a);
	while (cmd->opts[nopts].name != NULL)
		nopts++;
	lo = calloc(nopts + 2, sizeof *lo);
	a->items = calloc((size_t)argc + 1, sizeof *a->items);
	if (lo == NULL || a->items == NULL) {
		free(lo);
		cli_args_free(a);
		fprintf(stderr, "mirror-agent %s: out of memory\n", cmd->name);
		return CLI_EXIT_FAILURE;
	}
	for (size_t i = 0; i < nopts; i++) {
		lo[i].name = cmd->opts[i].name;
		lo[i].has_arg =
		    cmd->opts[i].arg != NULL ? required_argument : no_argument;
		lo[i].val = 1000 + (int)i;
	}
	lo[nopts].name = "help";
	lo[nopts].val = 'h';
	/* optind 0: glibc then reinitialises getopt completely, which a
	 * second parse in the same process (the unit tests) needs. A
	 * leading ':' tells a missing value (':') from an unknown
	 * option ('?'). */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		const struct cli_opt *o;

		if (c == 'h') {
			cli_usage(cmd, stdout);
			rc = -1;
			goto out;
		}
		if (c == ':') {
			rc = cli_usage_error(cmd, "%s needs a value",
			                     argv[optind - 1]);
			goto out;
		}
		if (c == '?') {
			/* A short option names itself in optopt; a long one
			 * is the argument just consumed. */
			if (optopt != 0)
				rc = cli_usage_error(cmd, "unknown option -%c",
				                     optopt);
			else
				rc = cli_usage_error(cmd, "unknown option %s",
				                     argv[optind - 1]);
			goto out;
		}
		o = &cmd->opts[c - 1000];
		if (o->id == CLI_OPT_CONFIG) {
			if (a->config_path != NULL) {
				rc = cli_usage_error(cmd,
				                     "--config given twice");
				goto out;
			}
			a->config_path = optarg;
			continue;
		}
		a->items[a->n].opt = o;
		a->items[a->n].value = optarg;
		a->n++;
	}
	a->args = argv + optind;
	a->nargs = argc - optind;
	if (a->nargs < cmd->min_args || a->nargs > cmd->max_args) {
		if (a->nargs > cmd->max_args)
			rc = cli_usage_error(cmd, "unexpected argument %s",
			                     a->args[cmd->max_args]);
		else
			rc = cli_usage_error(cmd,
			                     "missing argument; usage: "
			                     "mirror-agent %s",
			                     cmd->synopsis);
	}
out:
	free(lo);
	if (rc != CLI_EXIT_OK)
		cli_args_free(a);
	return rc;
}

int cli_set(const struct cli_command *cmd, struct agent_config *cfg,
            const char *flag, const char *key, const char *value)
{
	char errmsg[MA_ERRMSG_SIZE], prefix[300];
	size_t plen;

	if (config_set(cfg, key, value, errmsg) == 0)
		return CLI_EXIT_OK;
	/* config_set() says "--set KEY: why"; a flag of its own names
	 * itself and the key it stands for, with the same why. */
	plen = (size_t)snprintf(prefix, sizeof prefix, "--set %s: ", key);
	if (strcmp(flag, "set") != 0 && strncmp(errmsg, prefix, plen) == 0)
		fprintf(stderr, "mirror-agent %s: --%s (%s): %s\n", cmd->name,
		        flag, key, errmsg + plen);
	else
		fprintf(stderr, "mirror-agent %s: %s\n", cmd->name, errmsg);
	return CLI_EXIT_USAGE;
}

/* --set SECTION.KEY=VALUE */
static int set_pair(const struct cli_command *cmd, struct agent_config *cfg,
                    const char *pair)
{
	const char *eq = strchr(pair, '=');
	char key[300];

	if (eq == NULL || eq == pair || (size_t)(eq - pair) >= sizeof key)
		return cli_usage_error(
		    cmd, "--set %s: expected SECTION.KEY=VALUE", pair);
	memcpy(key, pair, (size_t)(eq - pair));
	key[eq - pair] = '\0';
	return cli_set(cmd, cfg, "set", key, eq + 1);
}

int cli_config(const struct cli_command *cmd, const struct cli_args *a,
               struct agent_config *cfg, cli_custom_fn custom, void *ctx)
{
	struct config_errors *errs;
	int rc = CLI_EXIT_OK;

	if (a->config_path == NULL) {
		if (config_init(cfg) != 0) {
			fprintf(stderr, "mirror-agent %s: out of memory\n",
			        cmd->name);
			return CLI_EXIT_FAILURE;
		}
		cfg->flags = cmd->config_flags;
	} else {
		errs = malloc(sizeof *errs); /* ~16 KiB: off the stack */
		if (errs == NULL) {
			memset(cfg, 0, sizeof *cfg);
			fprintf(stderr, "mirror-agent %s: out of memory\n",
			        cmd->name);
			return CLI_EXIT_FAILURE;
		}
		if (config_load(a->config_path, cfg, cmd->config_flags, errs) !=
		    0) {
			config_errors_print(errs, stderr);
			rc = CLI_EXIT_USAGE;
		}
		free(errs);
		if (rc != CLI_EXIT_OK)
			return rc;
	}
	for (size_t i = 0; i < a->n && rc == CLI_EXIT_OK; i++) {
		const struct cli_item *it = &a->items[i];
		switch (it->opt->id) {
		case CLI_OPT_KEY:
			rc = cli_set(cmd, cfg, it->opt->name, it->opt->key,
			             it->value);
			break;
		case CLI_OPT_SET:
			rc = set_pair(cmd, cfg, it->value);
			break;
		default:
			if (it->opt->id >= CLI_OPT_CUSTOM && custom != NULL)
				rc = custom(ctx, cfg, it);
			break;
		}
	}
	return rc;
}

int cli_write_file(const char *path, const char *text, char *errmsg)
{
	char *d = strdup(path), *b = strdup(path);
	int rc;

	if (d == NULL || b == NULL) {
		free(d);
		free(b);
		return ma_errorf(errmsg, MA_ERR_NOMEM, "%s: out of memory",
		                 path);
	}
	rc = io_write_file_durable(dirname(d), basename(b), text, strlen(text),
	                           errmsg);
	free(d);
	free(b);
	return rc;
}
