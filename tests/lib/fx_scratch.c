/* Scratch directories of the tests (fixture.h). Only common/ below it, so
 * that a test of common/ alone (test_io) links it without the wal, spool
 * and snapshot libraries fixture.c needs. */
#include "tests/lib/fixture.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/io.h"

int fx_scratch_dir(const char *tag, char *out, size_t size, char *errmsg)
{
	const char *base = getenv("MA_TEST_TMPDIR");
	struct stat st;
	int n;

	if (base == NULL || base[0] == '\0') {
		base = "/tmp";
		if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
		    access("/dev/shm", W_OK) == 0)
			base = "/dev/shm";
	}
	n = snprintf(out, size, "%s/ma-%s-XXXXXX", base, tag);
	if (n < 0 || (size_t)n >= size)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "scratch path under %s too long", base);
	if (mkdtemp(out) == NULL)
		return ma_errorf(errmsg, MA_ERR_IO,
		                 "cannot create a scratch directory %s: %s "
		                 "(set MA_TEST_TMPDIR to a writable directory)",
		                 out, strerror(errno));
	return 0;
}

static int remove_one(const char *path, const struct stat *sb, int flag,
                      struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void fx_remove_tree(const char *dir)
{
	if (dir == NULL || dir[0] == '\0')
		return;
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int fx_scratch_setup(void **state)
{
	char dir[PATH_MAX], errmsg[MA_ERRMSG_SIZE];

	if (fx_scratch_dir(program_invocation_short_name, dir, sizeof dir,
	                   errmsg) != 0) {
		fprintf(stderr, "fx_scratch_setup: %s\n", errmsg);
		return -1;
	}
	*state = strdup(dir);
	if (*state == NULL) {
		fx_remove_tree(dir);
		return -1;
	}
	return 0;
}

int fx_scratch_teardown(void **state)
{
	char *dir = *state;
	int rc = 0;

	io_fault_clear();
	fx_remove_tree(dir);
	if (access(dir, F_OK) == 0) {
		fprintf(stderr, "fx_scratch_teardown: %s is still there\n",
		        dir);
		rc = -1;
	}
	free(dir);
	*state = NULL;
	return rc;
}
