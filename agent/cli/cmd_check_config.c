/* mirror-agent check-config [--role serve|follow|both] [--no-fs-checks]
 *                           [--set SECTION.KEY=VALUE]... FILE
 *
 * Loads FILE, applies the overrides and checks what the role needs, then
 * prints "configuration OK" (exit 0) or every error (exit 1). Without
 * --role the roles are those whose section ([serve], [follow]) the file
 * has. Usage errors exit 2. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cli/commands.h"
#include "agent/config/config.h"

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: mirror-agent check-config [--role serve|follow|both] "
	        "[--no-fs-checks]\n"
	        "                                 [--set SECTION.KEY=VALUE]... "
	        "FILE\n");
}

/* Appends one message to the list, as config_load() would. */
static void add_error(struct config_errors *errs, const char *msg)
{
	if (errs->count >= CONFIG_MAX_ERRORS) {
		errs->dropped++;
		return;
	}
	snprintf(errs->msg[errs->count++], MA_ERRMSG_SIZE, "%s", msg);
}

int cmd_check_config(int argc, char **argv)
{
	static const struct option options[] = {
	    {"role", required_argument, NULL, 'r'},
	    {"no-fs-checks", no_argument, NULL, 'n'},
	    {"set", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct agent_config cfg;
	struct config_errors *errs;
	char errmsg[MA_ERRMSG_SIZE];
	const char **sets;
	size_t n_sets = 0;
	unsigned roles = 0, flags = 0;
	int opt, rc, status = 1;

	/* At most one --set per argument. */
	sets = calloc((size_t)argc + 1, sizeof *sets);
	errs = malloc(sizeof *errs); /* ~16 KiB: keep it off the stack */
	if (sets == NULL || errs == NULL) {
		fprintf(stderr, "mirror-agent: out of memory\n");
		free(sets);
		free(errs);
		return 1;
	}
	/* 0, not 1: glibc then reinitialises getopt completely, which a
	 * second parse in the same process (the unit test) needs. */
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		switch (opt) {
		case 'r':
			if (strcmp(optarg, "serve") == 0)
				roles = CONFIG_ROLE_SERVE;
			else if (strcmp(optarg, "follow") == 0)
				roles = CONFIG_ROLE_FOLLOW;
			else if (strcmp(optarg, "both") == 0)
				roles = CONFIG_ROLE_SERVE | CONFIG_ROLE_FOLLOW;
			else
				goto bad_usage;
			break;
		case 'n':
			flags |= CONFIG_NO_FS_CHECKS;
			break;
		case 's':
			if (strchr(optarg, '=') == NULL)
				goto bad_usage;
			sets[n_sets++] = optarg;
			break;
		case 'h':
			usage(stdout);
			status = 0;
			goto out;
		default:
			goto bad_usage;
		}
	}
	if (argc - optind != 1)
		goto bad_usage;

	rc = config_load(argv[optind], &cfg, flags, errs);
	if (rc == MA_ERR_IO || rc == MA_ERR_NOMEM) {
		config_errors_print(errs, stderr);
		config_free(&cfg);
		goto out;
	}
	for (size_t i = 0; i < n_sets; i++) {
		char *name = strdup(sets[i]), *eq;
		if (name == NULL) {
			add_error(errs, "out of memory");
			break;
		}
		eq = strchr(name, '=');
		*eq = '\0';
		if (config_set(&cfg, name, eq + 1, errmsg) != 0)
			add_error(errs, errmsg);
		free(name);
	}
	if (roles == 0) {
		if (cfg.serve.present)
			roles |= CONFIG_ROLE_SERVE;
		if (cfg.follow.present)
			roles |= CONFIG_ROLE_FOLLOW;
	}
	if (roles == 0) {
		snprintf(errmsg, sizeof errmsg,
		         "%s: neither a [serve] nor a [follow] section; name "
		         "the role with --role",
		         argv[optind]);
		add_error(errs, errmsg);
	} else {
		config_validate_role(&cfg, roles, errs);
	}
	config_free(&cfg);
	if (errs->count > 0 || errs->dropped > 0) {
		config_errors_print(errs, stderr);
		goto out;
	}
	printf("configuration OK\n");
	status = 0;
	goto out;

bad_usage:
	usage(stderr);
	status = 2;
out:
	free(sets);
	free(errs);
	return status;
}
