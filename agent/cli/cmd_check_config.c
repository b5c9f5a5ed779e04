/* mirror-agent check-config [--role serve|follow|both] [--no-fs-checks]
 *                           [--set SECTION.KEY=VALUE]... FILE
 *
 * Loads FILE, applies the overrides and checks what the role needs, then
 * the [tls] certificate (transport/transport_cert.h: X.509 v3, key,
 * CA, dates, extendedKeyUsage for the role) and prints the identity a
 * mirror presents, then "configuration OK" (exit 0) or every error
 * (exit 1). Without
 * --role the roles are those whose section ([serve], [follow]) the file
 * has. Usage errors exit 2 (agent/cli/cli.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cli/cli.h"
#include "agent/cli/commands.h"
#include "agent/config/config.h"
#include "transport/transport_cert.h"

#include <jansson.h>

enum { OPT_ROLE = CLI_OPT_CUSTOM, OPT_NO_FS, OPT_SET, OPT_JSON };

static const struct cli_opt check_opts[] = {
    {"role", "serve|follow|both", OPT_ROLE, NULL,
     "check what this role needs [the roles whose section the file has]"},
    {"no-fs-checks", NULL, OPT_NO_FS, NULL,
     "check values only: TLS files, spools and hooks need not exist"},
    {"set", "SECTION.KEY=VALUE", OPT_SET, NULL,
     "override a key, checked like the file (repeatable)"},
    {"json", NULL, OPT_JSON, NULL,
     "print one JSON object: ok, file, roles, errors"},
    {NULL, NULL, 0, NULL, NULL},
};

static const struct cli_command check_cmd = {
    "check-config",
    "check-config [--role serve|follow|both] [--no-fs-checks] "
    "[--set SECTION.KEY=VALUE]... [--json] FILE",
    "Prints \"configuration OK\", or every error as FILE:LINE: [section] "
    "key: what,\nand exits 1.\n",
    check_opts,
    1,
    1,
};

/* Appends one message to the list, as config_load() would. */
static void add_error(struct config_errors *errs, const char *msg)
{
	if (errs->count >= CONFIG_MAX_ERRORS) {
		errs->dropped++;
		return;
	}
	snprintf(errs->msg[errs->count++], MA_ERRMSG_SIZE, "%s", msg);
}

/* --json: {"ok":..., "file":..., "roles":[...], "errors":[...],
 * "dropped":N} on standard output, whatever the result. */
static void print_json(const char *path, unsigned roles,
                       const struct config_errors *errs)
{
	json_t *o =
	    json_pack("{s:b, s:s, s:[], s:[], s:i}", "ok",
	              errs->count == 0 && errs->dropped == 0, "file", path,
	              "roles", "errors", "dropped", (int)errs->dropped);
	char *text;

	if (o == NULL) {
		fprintf(stderr, "mirror-agent: out of memory\n");
		return;
	}
	if (roles & CONFIG_ROLE_SERVE)
		json_array_append_new(json_object_get(o, "roles"),
		                      json_string("serve"));
	if (roles & CONFIG_ROLE_FOLLOW)
		json_array_append_new(json_object_get(o, "roles"),
		                      json_string("follow"));
	for (unsigned i = 0; i < errs->count; i++)
		json_array_append_new(json_object_get(o, "errors"),
		                      json_string(errs->msg[i]));
	text = json_dumps(o, JSON_COMPACT);
	if (text != NULL)
		printf("%s\n", text);
	free(text);
	json_decref(o);
}

/* The certificate checks a handshake would otherwise make, once the
 * configuration itself is valid (the files exist and are readable). What
 * it finds out goes to out (stderr with --json, so that standard output
 * stays one JSON document). */
static void check_certificate(const struct agent_config *cfg, unsigned roles,
                              struct config_errors *errs, FILE *out)
{
	struct transport_cert_report *r = malloc(sizeof *r);
	char errmsg[MA_ERRMSG_SIZE];
	unsigned uses = 0;

	if (cfg->tls.cert_file == NULL || cfg->tls.key_file == NULL ||
	    cfg->tls.ca_file == NULL) {
		free(r);
		return;
	}
	if (r == NULL) {
		add_error(errs, "out of memory");
		return;
	}
	if ((roles & CONFIG_ROLE_SERVE) != 0)
		uses |= TRANSPORT_CERT_SERVER;
	if ((roles & CONFIG_ROLE_FOLLOW) != 0)
		uses |= TRANSPORT_CERT_CLIENT;
	if (transport_cert_check(cfg->tls.cert_file, cfg->tls.key_file,
	                         cfg->tls.ca_file, uses, r, errmsg) != 0) {
		add_error(errs, errmsg);
		free(r);
		return;
	}
	for (unsigned i = 0; i < r->nproblems; i++)
		add_error(errs, r->problems[i]);
	for (unsigned i = 0; i < r->nnotes; i++)
		fprintf(out, "note: %s\n", r->notes[i]);
	fprintf(out, "certificate: %s (valid until %s)\n", r->subject,
	        r->not_after);
	if ((uses & TRANSPORT_CERT_CLIENT) != 0 && r->identity[0] != '\0')
		fprintf(out,
		        "identity this mirror presents to sources: %s (what "
		        "their [access \"%s\"] must name)\n",
		        r->identity, r->identity);
	free(r);
}

int cmd_check_config(int argc, char **argv)
{
	struct agent_config cfg;
	struct config_errors *errs;
	char errmsg[MA_ERRMSG_SIZE];
	struct cli_args a;
	const char *path;
	unsigned roles = 0, flags = 0;
	int rc, status = 1;
	bool json = false;

	rc = cli_parse(&check_cmd, argc, argv, &a);
	if (rc != 0)
		return rc < 0 ? CLI_EXIT_OK : rc;
	path = a.args[0];
	for (size_t i = 0; i < a.n; i++) {
		const char *v = a.items[i].value;
		switch (a.items[i].opt->id) {
		case OPT_ROLE:
			if (strcmp(v, "serve") == 0)
				roles = CONFIG_ROLE_SERVE;
			else if (strcmp(v, "follow") == 0)
				roles = CONFIG_ROLE_FOLLOW;
			else if (strcmp(v, "both") == 0)
				roles = CONFIG_ROLE_SERVE | CONFIG_ROLE_FOLLOW;
			else
				status = cli_usage_error(
				    &check_cmd,
				    "--role %s: expected serve, follow or both",
				    v);
			break;
		case OPT_NO_FS:
			flags |= CONFIG_NO_FS_CHECKS;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_SET:
			if (strchr(v, '=') == NULL)
				status = cli_usage_error(
				    &check_cmd,
				    "--set %s: expected SECTION.KEY=VALUE", v);
			break;
		}
		if (status == CLI_EXIT_USAGE) {
			cli_args_free(&a);
			return status;
		}
	}
	errs = malloc(sizeof *errs); /* ~16 KiB: keep it off the stack */
	if (errs == NULL) {
		fprintf(stderr, "mirror-agent: out of memory\n");
		cli_args_free(&a);
		return CLI_EXIT_FAILURE;
	}

	rc = config_load(path, &cfg, flags, errs);
	if (rc == MA_ERR_IO || rc == MA_ERR_NOMEM) {
		if (json)
			print_json(path, roles, errs);
		else
			config_errors_print(errs, stderr);
		config_free(&cfg);
		goto out;
	}
	for (size_t i = 0; i < a.n; i++) {
		char *name, *eq;
		if (a.items[i].opt->id != OPT_SET)
			continue;
		name = strdup(a.items[i].value);
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
		         path);
		add_error(errs, errmsg);
	} else {
		config_validate_role(&cfg, roles, errs);
	}
	if (errs->count == 0 && errs->dropped == 0 &&
	    (flags & CONFIG_NO_FS_CHECKS) == 0)
		check_certificate(&cfg, roles, errs, json ? stderr : stdout);
	config_free(&cfg);
	if (json) {
		print_json(path, roles, errs);
		status = errs->count > 0 || errs->dropped > 0;
		goto out;
	}
	if (errs->count > 0 || errs->dropped > 0) {
		config_errors_print(errs, stderr);
		goto out;
	}
	printf("configuration OK\n");
	status = 0;
out:
	cli_args_free(&a);
	free(errs);
	return status;
}
