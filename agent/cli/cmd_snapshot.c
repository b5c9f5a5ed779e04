/* mirror-agent snapshot verify FILE: checks a snapshot file's size and
 * CRC32C against the metadata file beside it (<name>.meta). */
#include <stdio.h>
#include <string.h>

#include "agent/cli/commands.h"
#include "common/errors.h"
#include "snapshot/snapshot.h"

static int usage(void)
{
	fprintf(stderr, "usage: mirror-agent snapshot verify FILE\n");
	return 2;
}

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
	if (argc == 3 && strcmp(argv[1], "verify") == 0)
		return verify(argv[2]);
	if (argc == 2 &&
	    (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("usage: mirror-agent snapshot verify FILE\n");
		return 0;
	}
	return usage();
}
