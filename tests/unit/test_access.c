/* The access rule (config_access_grant_allows), the one function serve and
 * the configuration's [access] sections both apply: exact identities,
 * "*" as any client or every database and nothing else, and how
 * config_access_allows and config_validate_role use it on a file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/config/config.h"

static bool grant(const char *gid, const char *csv, const char *identity,
                  const char *name)
{
	const char *dbs[8];
	char buf[256], *save = NULL;
	size_t n = 0;

	snprintf(buf, sizeof buf, "%s", csv);
	for (char *t = strtok_r(buf, ",", &save); t != NULL && n < 8;
	     t = strtok_r(NULL, ",", &save))
		dbs[n++] = t;
	return config_access_grant_allows(gid, dbs, n, identity, name);
}

static void test_exact_identity_and_database(void **state)
{
	(void)state;
	assert_true(grant("mirror-1", "kv", "mirror-1", "kv"));
	assert_true(grant("mirror-1", "users,kv", "mirror-1", "kv"));
	assert_false(grant("mirror-1", "kv", "mirror-2", "kv"));
	assert_false(grant("mirror-1", "kv", "mirror-1", "users"));
	/* Case-sensitive, no prefixes. */
	assert_false(grant("mirror-1", "kv", "Mirror-1", "kv"));
	assert_false(grant("mirror-1", "kv", "mirror-1", "KV"));
	assert_false(grant("mirror-1", "kv", "mirror-10", "kv"));
	assert_false(grant("mirror-10", "kv", "mirror-1", "kv"));
	assert_false(grant("mirror-1", "kv", "mirror-1", "kv2"));
	/* URI identities (the first SAN URI) compare whole. */
	assert_true(grant("spiffe://ex/m=1", "kv", "spiffe://ex/m=1", "kv"));
	assert_false(grant("spiffe://ex/m=1", "kv", "spiffe://ex/m", "kv"));
}

static void test_star(void **state)
{
	(void)state;
	/* "*" as a database: every database. */
	assert_true(grant("mirror-1", "*", "mirror-1", "kv"));
	assert_true(grant("mirror-1", "kv,*", "mirror-1", "other"));
	assert_false(grant("mirror-1", "*", "mirror-2", "kv"));
	/* "*" as an identity: any client (serve takes it only in tests). */
	assert_true(grant("*", "kv", "mirror-2", "kv"));
	assert_false(grant("*", "kv", "mirror-2", "users"));
	assert_true(grant("*", "*", "anyone", "anything"));
	/* "*" is no pattern inside a longer string, on either side. */
	assert_false(grant("mirror-*", "kv", "mirror-1", "kv"));
	assert_false(grant("mirror-1", "k*", "mirror-1", "kv"));
	assert_false(grant("mirror-1", "**", "mirror-1", "kv"));
	/* A client named "*" or a database "*" asked for is matched only as
	 * the literal string a grant names. */
	assert_false(grant("mirror-1", "kv", "*", "kv"));
	assert_true(grant("mirror-1", "*", "mirror-1", "*"));
}

static void test_empty_and_null(void **state)
{
	const char *dbs[] = {"kv", NULL, "*"};

	(void)state;
	assert_false(
	    config_access_grant_allows("mirror-1", dbs, 0, "mirror-1", "kv"));
	assert_false(config_access_grant_allows("*", dbs, 3, "", "kv"));
	assert_false(config_access_grant_allows("*", dbs, 3, "mirror-1", ""));
	assert_false(config_access_grant_allows("*", dbs, 3, NULL, "kv"));
	assert_false(config_access_grant_allows("*", dbs, 3, "mirror-1", NULL));
	assert_false(
	    config_access_grant_allows(NULL, dbs, 3, "mirror-1", "kv"));
	/* A NULL entry is skipped, not a match and not the end. */
	assert_true(
	    config_access_grant_allows("mirror-1", dbs, 3, "mirror-1", "x"));
	assert_true(
	    config_access_grant_allows("mirror-1", dbs, 2, "mirror-1", "kv"));
	assert_false(
	    config_access_grant_allows("mirror-1", dbs, 2, "mirror-1", "x"));
}

/* Writes text to a scratch file; path gets its name. */
static void write_conf(char *path, size_t size, const char *text)
{
	int fd;

	snprintf(path, size, "/tmp/ma-test-access-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
}

static const char serve_conf[] = "[tls]\n"
                                 "ca_file = /etc/ma/ca.pem\n"
                                 "cert_file = /etc/ma/node.pem\n"
                                 "key_file = /etc/ma/node.key\n"
                                 "[serve]\n"
                                 "listen = 127.0.0.1:4433\n"
                                 "[database \"kv\"]\n"
                                 "spool = /var/lib/raftkv/kv\n"
                                 "[database \"users\"]\n"
                                 "spool = /var/lib/raftkv/users\n"
                                 "[access \"mirror-1\"]\n"
                                 "databases = kv\n"
                                 "[access \"dr-region-b\"]\n"
                                 "databases = *\n";

static void test_config_sections(void **state)
{
	struct agent_config cfg;
	struct config_errors errs;
	char path[64], errmsg[MA_ERRMSG_SIZE];

	(void)state;
	write_conf(path, sizeof path, serve_conf);
	assert_int_equal(config_load(path, &cfg, CONFIG_NO_FS_CHECKS, &errs),
	                 0);
	assert_int_equal(config_validate_role(&cfg, CONFIG_ROLE_SERVE, &errs),
	                 0);
	assert_true(config_access_allows(&cfg, "mirror-1", "kv"));
	assert_false(config_access_allows(&cfg, "mirror-1", "users"));
	assert_true(config_access_allows(&cfg, "dr-region-b", "users"));
	assert_true(config_access_allows(&cfg, "dr-region-b", "kv"));
	/* No section: nothing (docs/OPERATIONS.md, 403). */
	assert_false(config_access_allows(&cfg, "mirror-2", "kv"));
	assert_false(config_access_allows(&cfg, "*", "kv"));
	/* A section added by --set counts like one from the file. */
	assert_int_equal(
	    config_set(&cfg, "access.mirror-2.databases", "users", errmsg), 0);
	assert_true(config_access_allows(&cfg, "mirror-2", "users"));
	assert_false(config_access_allows(&cfg, "mirror-2", "kv"));
	config_free(&cfg);
	unlink(path);
}

static void test_config_refuses_any_identity(void **state)
{
	struct agent_config cfg;
	struct config_errors errs;
	char path[64], text[1024], want[128];
	bool found = false;

	(void)state;
	snprintf(text, sizeof text, "%s[access \"*\"]\ndatabases = kv\n",
	         serve_conf);
	write_conf(path, sizeof path, text);
	assert_int_equal(config_load(path, &cfg, CONFIG_NO_FS_CHECKS, &errs),
	                 0);
	assert_int_equal(config_validate_role(&cfg, CONFIG_ROLE_SERVE, &errs),
	                 MA_ERR_CONFIG);
	/* The section header is line 15 of the file. */
	snprintf(want, sizeof want, "%s:15: [access \"*\"]: identity \"*\"",
	         path);
	for (unsigned i = 0; i < errs.count; i++) {
		if (strncmp(errs.msg[i], want, strlen(want)) == 0)
			found = true;
		else
			fprintf(stderr, "# other error: %s\n", errs.msg[i]);
	}
	if (!found)
		fail_msg("no error starting with '%s'", want);
	assert_int_equal(errs.count, 1);
	config_free(&cfg);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exact_identity_and_database),
	    cmocka_unit_test(test_star),
	    cmocka_unit_test(test_empty_and_null),
	    cmocka_unit_test(test_config_sections),
	    cmocka_unit_test(test_config_refuses_any_identity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
