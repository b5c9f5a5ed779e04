/* mirror-agent snapshot verify [--json] FILE: checks a snapshot file's
 * size and CRC32C against the metadata file beside it (<name>.meta);
 * FILE may name either of the two. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/cli/cli.h"
#include "agent/cli/commands.h"
#include "common/errors.h"
#include "snapshot/snapshot.h"

static const struct cli_opt no_opts[] = {{NULL, NULL, 0, NULL, NULL}};

static const struct cli_opt verify_opts[] = {
    {"json", NULL, CLI_OPT_CUSTOM, NULL, "print one JSON object"},
    {NULL, NULL, 0, NULL, NULL},
};

static const struct cli_command snapshot_cmd = {
    "snapshot",
    "snapshot verify [--json] FILE",
    "verify: checks a snapshot file's size and CRC32C against the "
    "metadata beside\nit (FILE.meta); exits 1 on a mismatch.\n",
    no_opts,
    0,
    1,
};

static const struct cli_command verify_cmd = {
    "snapshot verify",
    "snapshot verify [--json] FILE",
    "Checks a snapshot file's size and CRC32C against the metadata beside "
    "it\n(FILE.meta; FILE may also name the .meta file); prints OK, or the "
    "mismatch\nand exits 1.\n",
    verify_opts,
    1,
    1,
};

static void print_json(json_t *o)
{
	char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	printf("%s\n", text != NULL
	                   ? text
	                   : "{\"ok\":false,\"error\":\"out of memory\"}");
	free(text);
	json_decref(o);
}

static int verify(const char *arg, bool json)
{
	char errmsg[MA_ERRMSG_SIZE], crc[11];
	struct snapshot_meta meta;
	size_t n = strlen(arg);
	char *path;
	int rc;

	/* "X.snapshot.meta" names the snapshot X.snapshot: the metadata is
	 * found beside it either way. */
	path = strdup(arg);
	if (path == NULL) {
		fprintf(stderr, "mirror-agent: out of memory\n");
		return 1;
	}
	if (n > 5 && strcmp(path + n - 5, ".meta") == 0)
		path[n - 5] = '\0';
	rc = snapshot_file_verify(path, &meta, errmsg);
	if (rc != 0) {
		if (json)
			print_json(json_pack("{s:b, s:s, s:s, s:s}", "ok", 0,
			                     "file", path, "code",
			                     ma_strerror(rc), "error", errmsg));
		else
			fprintf(stderr, "mirror-agent: %s\n", errmsg);
		free(path);
		return 1;
	}
	snprintf(crc, sizeof crc, "0x%08x", meta.id.crc32c);
	if (json)
		print_json(json_pack(
		    "{s:b, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:I}", "ok", 1,
		    "file", path, "database", meta.id.database_id, "cluster",
		    meta.id.cluster_id, "index", (json_int_t)meta.id.index,
		    "term", (json_int_t)meta.id.term, "size",
		    (json_int_t)meta.id.size, "crc32c", crc, "created_ms",
		    (json_int_t)meta.created_ms));
	else
		printf("%s: OK (database %s, cluster %s, index %llu, term "
		       "%llu, %llu bytes, CRC32C %s)\n",
		       path, meta.id.database_id, meta.id.cluster_id,
		       (unsigned long long)meta.id.index,
		       (unsigned long long)meta.id.term,
		       (unsigned long long)meta.id.size, crc);
	free(path);
	return 0;
}

int cmd_snapshot(int argc, char **argv)
{
	struct cli_args a;
	int rc;

	if (argc >= 2 && strcmp(argv[1], "verify") == 0) {
		rc = cli_parse(&verify_cmd, argc - 1, argv + 1, &a);
		if (rc != 0)
			return rc < 0 ? CLI_EXIT_OK : rc;
		rc = verify(a.args[0], a.n > 0); /* --json is the only option */
		cli_args_free(&a);
		return rc;
	}
	rc = cli_parse(&snapshot_cmd, argc, argv, &a);
	if (rc < 0)
		return CLI_EXIT_OK;
	if (rc == CLI_EXIT_OK) {
		/* No sub-command to point at: the whole usage. */
		cli_args_free(&a);
		fprintf(stderr, "mirror-agent snapshot: %s sub-command\n\n",
		        argc < 2 ? "missing" : "unknown");
		cli_usage(&snapshot_cmd, stderr);
		rc = CLI_EXIT_USAGE;
	}
	return rc;
}
