/* A source node's smallest use of the installed tap library, built by
 * test_install.sh outside the tree through `pkg-config mirror-tap` only:
 * writes 300 committed entries (term 1 up to 150, term 2 after) and a
 * snapshot at 100 into the spool argv[1]. Only the installed headers are
 * reachable from here; nothing of the build tree is on the include path. */
#include <mirror-tap/errors.h>
#include <mirror-tap/tap.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	char err[MA_ERRMSG_SIZE] = "";
	struct tap_options opts;
	struct tap *tap;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SPOOL_DIR\n", argv[0]);
		return 2;
	}
	tap_options_init(&opts);
	rc = tap_open(argv[1], "6c3f2a10-8b1e-4c55-9d2e-0123456789ab", "kv",
	              &opts, &tap, err);
	if (rc != 0) {
		fprintf(stderr, "tap_open: %s: %s\n", ma_strerror(rc), err);
		return 1;
	}
	for (uint64_t i = 1; i <= 300; i++) {
		char data[32];
		int n = snprintf(data, sizeof(data), "set k%llu v%llu",
		                 (unsigned long long)i, (unsigned long long)i);
		rc = tap_append(tap, i, i <= 150 ? 1 : 2, TAP_ENTRY_COMMAND,
		                data, (size_t)n, i, err);
		if (rc == 0 && i == 100)
			rc = tap_snapshot_taken(tap, 100, 1, "state@100", 9,
			                        1700000000000ull, err);
		if (rc != 0) {
			fprintf(stderr, "at %llu: %s: %s\n",
			        (unsigned long long)i, ma_strerror(rc), err);
			tap_close(tap);
			return 1;
		}
	}
	printf("last %llu\n", (unsigned long long)tap_last_index(tap));
	tap_close(tap);
	return 0;
}
