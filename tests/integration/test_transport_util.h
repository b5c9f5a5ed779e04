/* Helpers shared by the transport integration tests: a throw-away test PKI
 * made by tests/certs/gen-certs.sh. Header-only so each test program stays
 * one file. */
#ifndef MIRROR_TEST_TRANSPORT_UTIL_H
#define MIRROR_TEST_TRANSPORT_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MA_TOP_SRCDIR
#define MA_TOP_SRCDIR "."
#endif

struct test_pki {
	char dir[64];
	char path[16][128];
	int n;
};

/* Makes a scratch dir and the PKI in it. 0 or -1 (message on stderr). */
static inline int test_pki_make(struct test_pki *pki)
{
	const char *top = getenv("abs_top_srcdir");
	char cmd[512];

	memset(pki, 0, sizeof *pki);
	if (top == NULL || top[0] == '\0')
		top = MA_TOP_SRCDIR;
	snprintf(pki->dir, sizeof pki->dir, "/tmp/ma-test-XXXXXX");
	if (mkdtemp(pki->dir) == NULL) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(cmd, sizeof cmd, "sh '%s/tests/certs/gen-certs.sh' '%s'", top,
	         pki->dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "gen-certs.sh failed: %s\n", cmd);
		return -1;
	}
	return 0;
}

/* Returns "<dir>/<name>" (valid until the PKI is removed). */
static inline const char *test_pki_file(struct test_pki *pki, const char *name)
{
	char *p = pki->path[pki->n++ % 16];
	char dir[sizeof pki->dir];

	memcpy(dir, pki->dir, sizeof dir);
	snprintf(p, sizeof pki->path[0], "%s/%s", dir, name);
	return p;
}

static inline void test_pki_remove(struct test_pki *pki)
{
	char cmd[128];

	if (pki->dir[0] == '\0')
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", pki->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", pki->dir);
}

#endif
