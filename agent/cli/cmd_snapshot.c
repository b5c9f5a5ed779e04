/* mirror-agent snapshot verify FILE: checks a snapshot file's size and
 * CRC32C against the metadata file beside it (<name>.meta). */
#include <stdio.h>
#include <string.h>

#include "agent/cli/cli.h"
#include "agent/cli/commands.h"
#include "common/errors.h"
#include "snapshot/snapshot.h"

static const struct cli_opt no_opts[] = {{NULL, NULL, 0, NULL, NULL}};

static const struct cli_command snapshot_cmd = {
    "snapshot",
    "snapshot verify FILE",
    "verify: checks a snapshot file's size and CRC32C against the "
    "metadata beside\nit (FILE.meta); exits 1 on a mismatch.\n",
    no_opts,
    0,
    1,
};

static const struct cli_command verify_cmd = {
    "snapshot verify",
    "snapshot verify FILE",
    "Checks a snapshot file's size and CRC32C against the metadata beside "
    "it\n(FILE.meta); prints OK, or the mismatch and exits 1.\n",
    no_opts,
    1,
    1,
};

static int verify(const char *path)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct snapshot_meta meta;
	int rc;

	rc = snapshot_file_verify(path, &meta, errmsg);
	if (rc != 0) {
		fprintf(stderr, "mirror-agent: %s\n", errmsg);
		return 1;
	}
	printf("%s: OK (database %s, cluster %s, index %llu, term %llu, "
	       "%llu bytes, CRC32C 0x%08x)\n",
	       path, meta.id.database_id, meta.id.cluster_id,
	       (unsigned long long)meta.id.index,
	       (unsigned long long)meta.id.term,
	       (unsigned long long)meta.id.size, meta.id.crc32c);
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
		rc = verify(a.args[0]);
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
