/* agent/config: loading, value checks, error reports, overrides, role
 * checks, the example files in etc/ and `mirror-agent check-config`.
 *
 * Inputs live in tests/unit/data/config/ (found through abs_top_srcdir,
 * exported by the test harness); files that need real TLS files or odd
 * bytes are written at run time into a scratch directory. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/cli/cli.h"
#include "agent/cli/commands.h"
#include "agent/config/config.h"
#include "agent/follow/follow.h"
#include "agent/serve/serve.h"
#include "common/parse.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

static const char *top_srcdir(void)
{
	const char *s = getenv("abs_top_srcdir");

	return s != NULL ? s : TOP_SRCDIR;
}

static void data_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/tests/unit/data/config/%s", top_srcdir(), name);
}

/* Index of the first error containing `needle`, or -1. */
static int find_error(const struct config_errors *errs, const char *needle)
{
	for (unsigned i = 0; i < errs->count; i++)
		if (strstr(errs->msg[i], needle) != NULL)
			return (int)i;
	return -1;
}

static void dump_errors(const struct config_errors *errs)
{
	for (unsigned i = 0; i < errs->count; i++)
		print_message("# error %u: %s\n", i, errs->msg[i]);
}

/* Asserts an error whose text ends with `tail` (after the file's
 * directory), e.g. `bad_port.conf:7: [follow] sources: ...`. */
static void assert_has_error(const struct config_errors *errs, const char *tail)
{
	for (unsigned i = 0; i < errs->count; i++) {
		size_t len = strlen(errs->msg[i]), tlen = strlen(tail);
		if (len >= tlen &&
		    strcmp(errs->msg[i] + len - tlen, tail) == 0 &&
		    (len == tlen || errs->msg[i][len - tlen - 1] == '/' ||
		     errs->msg[i][len - tlen - 1] == ' '))
			return;
	}
	dump_errors(errs);
	fail_msg("no error ending with: %s", tail);
}

/* Loads a data file without filesystem checks; returns config_load()'s
 * result. */
static int load_data(const char *name, struct agent_config *cfg,
                     struct config_errors *errs)
{
	char path[1024];

	data_path(path, sizeof path, name);
	return config_load(path, cfg, CONFIG_NO_FS_CHECKS, errs);
}

struct scratch {
	char dir[64];
};

static int setup_scratch(void **state)
{
	struct scratch *s = calloc(1, sizeof *s);

	if (s == NULL)
		return -1;
	strcpy(s->dir, "/tmp/ma-test-XXXXXX");
	if (mkdtemp(s->dir) == NULL) {
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

static int teardown_scratch(void **state)
{
	struct scratch *s = *state;
	char cmd[128];
	int rc;

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
	rc = system(cmd);
	free(s);
	return rc == 0 ? 0 : -1;
}

static void write_file(const char *dir, const char *name, mode_t mode,
                       const char *text)
{
	char path[512];
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* ---- values ---- */

static void test_defaults(void **state)
{
	struct agent_config cfg;
	const char *defval;

	(void)state;
	assert_int_equal(config_init(&cfg), 0);
	assert_string_equal(cfg.agent.data_dir, "/var/lib/mirror-agent");
	assert_null(cfg.agent.log_file);
	assert_int_equal(cfg.agent.log_level, LOG_LEVEL_INFO);
	assert_int_equal(cfg.agent.http_listen.port, 0);
	assert_false(cfg.serve.present);
	assert_false(cfg.follow.present);
	assert_int_equal(cfg.serve.max_connections, 64);
	assert_int_equal(cfg.serve.chunk_size, 256 * 1024);
	assert_int_equal(cfg.serve.log_batch_bytes, 256 * 1024);
	assert_int_equal(cfg.serve.max_unacked_bytes, 4 << 20);
	assert_int_equal(cfg.serve.max_streams_per_connection, 100);
	assert_int_equal(cfg.serve.idle_timeout_ms, 30000);
	assert_int_equal(cfg.serve.congestion_control, CONFIG_CC_BBR);
	assert_int_equal(cfg.serve.max_streams_per_identity, 256);
	assert_int_equal(cfg.serve.max_snapshot_streams_per_identity, 8);
	assert_int_equal(cfg.serve.snapshot_lease_ms, 60000);
	assert_int_equal(cfg.follow.backoff_min_ms, 100);
	assert_int_equal(cfg.follow.backoff_max_ms, 30000);
	assert_int_equal(cfg.follow.snapshot_sync_bytes, 8 << 20);
	assert_int_equal(cfg.follow.progress_log_bytes, 1 << 20);
	assert_int_equal(cfg.follow.sources.n, 0);
	assert_int_equal(cfg.n_databases, 0);
	/* The schema is enumerable, with defaults as text. */
	assert_string_equal(config_key_name(0, &defval), "agent.data_dir");
	assert_string_equal(defval, "/var/lib/mirror-agent");
	config_free(&cfg);
}

static void test_full_config_loads(void **state)
{
	struct agent_config cfg;
	struct config_errors errs;
	struct config_database *kv, *users;
	int rc;

	(void)state;
	rc = load_data("full.conf", &cfg, &errs);
	dump_errors(&errs);
	assert_int_equal(rc, 0);
	rc = config_validate_role(&cfg, CONFIG_ROLE_SERVE | CONFIG_ROLE_FOLLOW,
	                          &errs);
	dump_errors(&errs);
	assert_int_equal(rc, 0);

	assert_string_equal(cfg.agent.data_dir, "/srv/mirror");
	assert_string_equal(cfg.agent.log_file,
	                    "/var/log/mirror-agent/agent.log");
	assert_int_equal(cfg.agent.log_level, LOG_LEVEL_DEBUG);
	assert_string_equal(cfg.agent.http_listen.host, "::1");
	assert_int_equal(cfg.agent.http_listen.port, 8080);
	assert_string_equal(cfg.agent.pid_file, "/run/mirror-agent.pid");

	assert_string_equal(cfg.tls.ca_file, "/etc/mirror-agent/tls/ca.pem");
	assert_string_equal(cfg.tls.key_file, "/etc/mirror-agent/tls/node.key");
	assert_string_equal(cfg.tls.server_name, "raft.example.net");

	assert_true(cfg.serve.present);
	assert_string_equal(cfg.serve.listen.host, "0.0.0.0");
	assert_int_equal(cfg.serve.listen.port, 4433);
	assert_int_equal(cfg.serve.max_connections, 100);
	assert_int_equal(cfg.serve.max_streams_per_connection, 8);
	assert_int_equal(cfg.serve.idle_timeout_ms, 60000);
	assert_int_equal(cfg.serve.chunk_size, 512 << 10);
	assert_int_equal(cfg.serve.heartbeat_interval_ms, 250);
	assert_int_equal(cfg.serve.log_batch_bytes, 1 << 20);
	assert_int_equal(cfg.serve.max_unacked_bytes, 128u << 20);
	assert_int_equal(cfg.serve.connection_window, 32u << 20);
	assert_int_equal(cfg.serve.stream_window, 8u << 20);
	assert_int_equal(cfg.serve.congestion_control, CONFIG_CC_CUBIC);

	assert_true(cfg.follow.present);
	assert_int_equal(cfg.follow.sources.n, 3);
	assert_string_equal(cfg.follow.sources.v[0].host, "raft-1.example.net");
	assert_int_equal(cfg.follow.sources.v[0].port, 4433);
	assert_string_equal(cfg.follow.sources.v[1].host, "2001:db8::2");
	assert_string_equal(cfg.follow.sources.v[2].host, "10.0.0.3");
	assert_int_equal(cfg.follow.connect_timeout_ms, 5000);
	assert_int_equal(cfg.follow.idle_timeout_ms, 120000);
	assert_int_equal(cfg.follow.keepalive_ms, 0);
	assert_int_equal(cfg.follow.backoff_min_ms, 50);
	assert_int_equal(cfg.follow.backoff_max_ms, 3600000);
	assert_int_equal(cfg.follow.degraded_lag_entries, 5000);
	assert_int_equal(cfg.follow.degraded_lag_time_ms, 0);
	assert_int_equal(cfg.follow.degraded_silence_ms, 5000);
	assert_int_equal(cfg.follow.wal_sync_interval_ms, 0);
	assert_int_equal(cfg.follow.wal_sync_bytes, 1 << 20);
	assert_int_equal(cfg.follow.snapshot_sync_bytes, 16 << 20);
	assert_int_equal(cfg.follow.connection_window, 64u << 20);
	assert_int_equal(cfg.follow.stream_window, 16u << 20);
	assert_string_equal(cfg.follow.progress_hook,
	                    "/usr/local/libexec/progress");
	assert_int_equal(cfg.follow.progress_log_bytes, 4 << 20);

	assert_int_equal(cfg.n_databases, 2);
	kv = config_database_find(&cfg, "kv");
	users = config_database_find(&cfg, "users");
	assert_non_null(kv);
	assert_non_null(users);
	assert_null(config_database_find(&cfg, "nope"));
	assert_string_equal(kv->spool, "/var/lib/raftkv/spool/kv");
	assert_string_equal(kv->directory, "/srv/mirror-kv");
	assert_int_equal(kv->applier, CONFIG_APPLIER_KV);
	/* Default directory: DATA_DIR/NAME, set by config_validate_role. */
	assert_string_equal(users->directory, "/srv/mirror/users");
	assert_int_equal(users->applier, CONFIG_APPLIER_NONE);

	assert_int_equal(cfg.n_access, 2);
	assert_true(config_access_allows(&cfg, "mirror-1", "kv"));
	assert_true(config_access_allows(&cfg, "mirror-1", "users"));
	assert_false(config_access_allows(&cfg, "mirror-1", "other"));
	assert_true(config_access_allows(&cfg, "dr site", "anything"));
	assert_false(config_access_allows(&cfg, "mirror-2", "kv"));
	config_free(&cfg);
}

/* ---- one class of error each, with file:line and key ---- */

static void expect_load_error(const char *file, const char *tail,
                              unsigned count)
{
	struct agent_config cfg;
	struct config_errors errs;

	assert_int_equal(load_data(file, &cfg, &errs), MA_ERR_CONFIG);
	assert_has_error(&errs, tail);
	if (errs.count != count)
		dump_errors(&errs);
	assert_int_equal(errs.count, count);
	config_free(&cfg);
}

static void test_bad_port(void **state)
{
	(void)state;
	expect_load_error("bad_port.conf",
	                  "bad_port.conf:7: [follow] sources: "
	                  "\"example:99999\": port out of range 1-65535",
	                  1);
}

static void test_unknown_key(void **state)
{
	(void)state;
	expect_load_error("unknown_key.conf",
	                  "unknown_key.conf:3: [follow] sorces: unknown key "
	                  "(did you mean \"sources\"?)",
	                  1);
}

static void test_unknown_section(void **state)
{
	(void)state;
	/* One error: the keys of the bad section are not reported too. */
	expect_load_error("unknown_section.conf",
	                  "unknown_section.conf:4: [folow]: unknown section "
	                  "(did you mean [follow]?); known: [agent], [tls], "
	                  "[serve], [follow], [database \"NAME\"], [access "
	                  "\"IDENTITY\"]",
	                  1);
}

static void test_bad_enum(void **state)
{
	(void)state;
	expect_load_error("bad_enum.conf",
	                  "bad_enum.conf:3: [serve] congestion_control: "
	                  "\"bbr3\": expected one of cubic, reno, bbr, bbr2",
	                  1);
}

static void test_bad_size_unit(void **state)
{
	(void)state;
	expect_load_error("bad_size_unit.conf",
	                  "bad_size_unit.conf:3: [serve] chunk_size: \"64MB\": "
	                  "ambiguous unit \"MB\": write MiB (units are binary)",
	                  1);
}

static void test_bad_database_name(void **state)
{
	(void)state;
	expect_load_error(
	    "bad_database_name.conf",
	    "bad_database_name.conf:1: [database "
	    "\"kv/../../etc\"]: bad name: a database name is "
	    "1-64 characters of [A-Za-z0-9._-], not \".\" or \"..\"",
	    1);
}

static void test_missing_required(void **state)
{
	struct agent_config cfg;
	struct config_errors errs;

	(void)state;
	/* Present keys are fine; what is missing is a role's business. */
	assert_int_equal(load_data("missing_required.conf", &cfg, &errs), 0);
	assert_int_equal(config_validate_role(&cfg, CONFIG_ROLE_FOLLOW, &errs),
	                 MA_ERR_CONFIG);
	assert_has_error(&errs, "missing_required.conf:1: [tls] cert_file: "
	                        "required key is missing");
	assert_has_error(&errs, "missing_required.conf:1: [tls] key_file: "
	                        "required key is missing");
	assert_has_error(&errs, "missing_required.conf:4: [follow] sources: "
	                        "required key is missing (host:port of one "
	                        "or more source nodes)");
	assert_int_equal(errs.count, 3);

	config_errors_init(&errs);
	assert_int_equal(config_validate_role(&cfg, CONFIG_ROLE_SERVE, &errs),
	                 MA_ERR_CONFIG);
	assert_has_error(&errs, "missing_required.conf: [serve]: section is "
	                        "missing; `mirror-agent serve` needs it");
	config_free(&cfg);
}

/* Key modes: 0600 and 0640 pass; group-writable or anything for others
 * is refused, naming the mode and the fix. */
static void test_key_modes(void **state)
{
	static const struct {
		mode_t mode;
		const char *want; /* NULL: accepted */
	} cases[] = {
	    {0600, NULL},
	    {0640, NULL},
	    {0660, "private key is writable by its group (mode 0660); chmod "
	           "g-w it (0600 or 0640)"},
	    {0604, "private key is accessible to other users (mode 0604); "
	           "chmod o-rwx it"},
	};
	struct scratch *s = *state;
	char path[256], errmsg[MA_ERRMSG_SIZE];

	snprintf(path, sizeof path, "%s/k.pem", s->dir);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct agent_config cfg;
		int rc;

		write_file(s->dir, "k.pem", cases[i].mode, "key\n");
		assert_int_equal(chmod(path, cases[i].mode), 0);
		assert_int_equal(config_init(&cfg), 0);
		rc = config_set(&cfg, "tls.key_file", path, errmsg);
		config_free(&cfg);
		if (cases[i].want == NULL) {
			assert_int_equal(rc, 0);
			continue;
		}
		assert_int_equal(rc, MA_ERR_CONFIG);
		assert_non_null(strstr(errmsg, cases[i].want));
	}
}

static void test_missing_tls_file(void **state)
{
	struct scratch *s = *state;
	struct agent_config cfg;
	struct config_errors errs;
	char text[2048], path[256], tail[512];

	write_file(s->dir, "ca.pem", 0644, "ca\n");
	write_file(s->dir, "key.pem", 0644, "key\n");
	mkdir(strcat(strcpy(path, s->dir), "/spool"), 0700);
	snprintf(text, sizeof text,
	         "[tls]\n"
	         "ca_file = %s/ca.pem\n"
	         "cert_file = %s/missing.pem\n"
	         "key_file = %s/key.pem\n"
	         "[database \"kv\"]\n"
	         "spool = %s/spool\n"
	         "directory = %s/ca.pem\n"
	         "[follow]\n"
	         "progress_hook = %s/ca.pem\n",
	         s->dir, s->dir, s->dir, s->dir, s->dir, s->dir);
	write_file(s->dir, "t.conf", 0644, text);
	snprintf(path, sizeof path, "%s/t.conf", s->dir);

	assert_int_equal(config_load(path, &cfg, 0, &errs), MA_ERR_CONFIG);
	snprintf(tail, sizeof tail,
	         "t.conf:3: [tls] cert_file: \"%s/missing.pem\": cannot "
	         "read: No such file or directory",
	         s->dir);
	assert_has_error(&errs, tail);
	snprintf(tail, sizeof tail,
	         "t.conf:4: [tls] key_file: \"%s/key.pem\": private key is "
	         "accessible to other users (mode 0644); chmod o-rwx it",
	         s->dir);
	assert_has_error(&errs, tail);
	snprintf(tail, sizeof tail,
	         "t.conf:7: [database \"kv\"] directory: \"%s/ca.pem\": exists "
	         "and is not a directory",
	         s->dir);
	assert_has_error(&errs, tail);
	snprintf(tail, sizeof tail,
	         "t.conf:9: [follow] progress_hook: \"%s/ca.pem\": not an "
	         "executable file",
	         s->dir);
	assert_has_error(&errs, tail);
	assert_int_equal(errs.count, 4);
	config_free(&cfg);

	/* The same file passes without filesystem checks. */
	assert_int_equal(config_load(path, &cfg, CONFIG_NO_FS_CHECKS, &errs),
	                 0);
	config_free(&cfg);
}

static void test_multiple_errors(void **state)
{
	struct agent_config cfg;
	struct config_errors errs;
	static const char *const want[] = {
	    "multiple_errors.conf:2: [agent] log_level: \"verbose\": "
	    "expected one of debug, info, warn, error",
	    "multiple_errors.conf:3: [agent] data_dir: \"relative/path\": "
	    "must be an absolute path",
	    "multiple_errors.conf:7: [tls] ca_file: given twice (first at "
	    "line 6); keep one",
	    "multiple_errors.conf:10: [follow] sources: empty item in list",
	    "multiple_errors.conf:10: [follow] sources: \"::1:4433\": an "
	    "IPv6 address needs brackets, e.g. [::1]:4433",
	    "multiple_errors.conf:11: [follow] backoff_min: \"1.5s\": "
	    "fractions are not supported; use a smaller unit",
	    "multiple_errors.conf:12: [follow] keepalive: \"10 parsecs\": "
	    "unknown duration unit \"parsecs\": use ms, s, min or h",
	    "multiple_errors.conf:13: expected \"key = value\" or "
	    "\"[section]\"",
	};

	(void)state;
	assert_int_equal(load_data("multiple_errors.conf", &cfg, &errs),
	                 MA_ERR_CONFIG);
	if (errs.count != 9)
		dump_errors(&errs);
	assert_int_equal(errs.count, 9);
	/* In file order. */
	for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++) {
		size_t len = strlen(errs.msg[i]), wlen = strlen(want[i]);
		assert_true(len >= wlen);
		assert_string_equal(errs.msg[i] + len - wlen, want[i]);
	}
	assert_non_null(strstr(errs.msg[8], "multiple_errors.conf:15: "
	                                    "[nonsense]: unknown section"));
	/* Rejected keys count as given: no "missing" on top. */
	config_errors_init(&errs);
	config_validate_role(&cfg, CONFIG_ROLE_FOLLOW, &errs);
	assert_int_equal(find_error(&errs, "sources: required"), -1);
	config_free(&cfg);
}

static void test_error_bound(void **state)
{
	struct scratch *s = *state;
	struct agent_config cfg;
	struct config_errors errs;
	char path[256], *text, *out = NULL;
	size_t len = 0, outlen = 0;
	FILE *mem;

	text = malloc(100 * 32 + 16);
	assert_non_null(text);
	len = (size_t)sprintf(text, "[agent]\n");
	for (int i = 0; i < 100; i++)
		len += (size_t)sprintf(text + len, "bogus_key_%d = 1\n", i);
	write_file(s->dir, "many.conf", 0644, text);
	free(text);
	snprintf(path, sizeof path, "%s/many.conf", s->dir);

	assert_int_equal(config_load(path, &cfg, 0, &errs), MA_ERR_CONFIG);
	assert_int_equal(errs.count, CONFIG_MAX_ERRORS);
	assert_int_equal(errs.dropped, 100 - CONFIG_MAX_ERRORS);
	assert_non_null(strstr(errs.msg[0], "many.conf:2: [agent] bogus_key_0"
	                                    ": unknown key"));
	mem = open_memstream(&out, &outlen);
	assert_non_null(mem);
	config_errors_print(&errs, mem);
	fclose(mem);
	assert_non_null(strstr(out, "\n... and 68 more errors\n"));
	free(out);
	config_free(&cfg);
}

/* ---- syntax: line numbers, long lines, continuations ---- */

static void test_syntax(void **state)
{
	struct scratch *s = *state;
	struct agent_config cfg;
	struct config_errors errs;
	char path[256], text[4096], longname[65];
	size_t len;

	memset(longname, 'd', 64);
	longname[64] = '\0';
	len = (size_t)snprintf(text, sizeof text,
	                       "\xEF\xBB\xBF"
	                       "stray = 1\r\n"                 /* 1 */
	                       "[agent]\r\n"                   /* 2 */
	                       "log_file = /var/log/%0300d\n", /* 3 */
	                       0);
	len += (size_t)snprintf(text + len, sizeof text - len,
	                        "log_level = loud\n"     /* 4 */
	                        "[serve\n"               /* 5 */
	                        "listen = ignored\n"     /* 6 */
	                        "[tls] junk\n"           /* 7 */
	                        "[agent]\n"              /* 8 */
	                        "[database \"%s\"]\n"    /* 9 */
	                        "applier = kv\n"         /* 10 */
	                        "[database kv]\n"        /* 11 */
	                        "[follow]\n"             /* 12 */
	                        "  idle_timeout = 20s\n" /* 13 */
	                        "  keepalive = 1s\n"     /* 14 */
	                        "    5s\n"               /* 15 */
	                        "sources = a:1,\n"       /* 16 */
	                        "\tb:2 ; comment\n"      /* 17 */
	                        "\tb:2\n"                /* 18 */
	                        "[access \"m\"]\n"       /* 19 */
	                        "databases = %s\n",      /* 20 */
	                        longname, longname);
	write_file(s->dir, "syntax.conf", 0644, text);
	snprintf(path, sizeof path, "%s/syntax.conf", s->dir);

	assert_int_equal(config_load(path, &cfg, 0, &errs), MA_ERR_CONFIG);
	assert_has_error(&errs,
	                 "syntax.conf:1: stray: key outside any section");
	assert_has_error(&errs, "syntax.conf:3: line longer than 198 "
	                        "characters; continue a list on indented "
	                        "lines");
	/* The line after an overlong one keeps its number. */
	assert_has_error(&errs, "syntax.conf:4: [agent] log_level: \"loud\": "
	                        "expected one of debug, info, warn, error");
	assert_has_error(&errs, "syntax.conf:5: section header without ']'");
	assert_has_error(&errs, "syntax.conf:7: unexpected text after ']'");
	assert_has_error(&errs, "syntax.conf:8: [agent]: section repeated "
	                        "(first at line 2); merge them");
	assert_has_error(&errs, "syntax.conf:11: [database kv]: write "
	                        "[database \"NAME\"]");
	assert_has_error(&errs, "syntax.conf:15: [follow] keepalive: indented "
	                        "line continues a value that takes one line "
	                        "(only lists do)");
	assert_has_error(&errs, "syntax.conf:18: [follow] sources: \"b:2\": "
	                        "listed twice");
	if (errs.count != 9)
		dump_errors(&errs);
	assert_int_equal(errs.count, 9);
	/* A 64-character database name is kept whole (inih would cut
	 * section names at 49 characters). */
	assert_int_equal(cfg.n_databases, 1);
	assert_string_equal(cfg.databases[0].name, longname);
	assert_int_equal(cfg.databases[0].applier, CONFIG_APPLIER_KV);
	/* Indented keys are keys; [serve] never opened (bad header). */
	assert_int_equal(cfg.follow.idle_timeout_ms, 20000);
	assert_false(cfg.serve.present);
	assert_true(config_access_allows(&cfg, "m", longname));
	config_free(&cfg);

	/* A missing file. */
	snprintf(path, sizeof path, "%s/absent.conf", s->dir);
	assert_int_equal(config_load(path, &cfg, 0, &errs), MA_ERR_IO);
	assert_int_equal(errs.count, 1);
	assert_non_null(strstr(errs.msg[0], "absent.conf: cannot open: No such "
	                                    "file or directory"));
	config_free(&cfg);
}

/* ---- overrides ---- */

static void test_set_override(void **state)
{
	struct agent_config cfg;
	struct config_errors errs;
	char errmsg[MA_ERRMSG_SIZE];

	(void)state;
	assert_int_equal(load_data("full.conf", &cfg, &errs), 0);

	/* Valid overrides replace (a list is replaced, not extended). */
	assert_int_equal(
	    config_set(&cfg, "follow.sources", "x.example:1, [::1]:2", errmsg),
	    0);
	assert_int_equal(cfg.follow.sources.n, 2);
	assert_string_equal(cfg.follow.sources.v[1].host, "::1");
	assert_int_equal(cfg.follow.sources.v[1].port, 2);
	assert_int_equal(config_set(&cfg, "serve.chunk_size", "64KiB", errmsg),
	                 0);
	assert_int_equal(cfg.serve.chunk_size, 64 * 1024);
	assert_int_equal(
	    config_set(&cfg, "database.kv.applier", "none", errmsg), 0);
	assert_int_equal(config_database_find(&cfg, "kv")->applier,
	                 CONFIG_APPLIER_NONE);
	/* Dots in a database name: the last dot separates the key. */
	assert_int_equal(
	    config_set(&cfg, "database.app.v2.spool", "/var/spool/app", errmsg),
	    0);
	assert_non_null(config_database_find(&cfg, "app.v2"));
	assert_int_equal(
	    config_set(&cfg, "access.mirror-9.databases", "kv", errmsg), 0);
	assert_true(config_access_allows(&cfg, "mirror-9", "kv"));

	/* Invalid overrides go through the same checks. */
	assert_int_equal(
	    config_set(&cfg, "follow.sources", "example:99999", errmsg),
	    MA_ERR_CONFIG);
	assert_string_equal(errmsg, "--set follow.sources: \"example:99999\": "
	                            "port out of range 1-65535");
	assert_int_equal(config_set(&cfg, "serve.chunk_size", "1GiB", errmsg),
	                 MA_ERR_CONFIG);
	assert_string_equal(errmsg, "--set serve.chunk_size: \"1GiB\": out of "
	                            "range 512-1MiB");
	assert_int_equal(
	    config_set(&cfg, "serve.listen", "localhost:4433", errmsg),
	    MA_ERR_CONFIG);
	assert_string_equal(errmsg, "--set serve.listen: \"localhost:4433\": a "
	                            "listen address is numeric: IPv4 or "
	                            "[IPv6], e.g. 0.0.0.0:4433 or [::]:4433");
	assert_int_equal(config_set(&cfg, "database.kv.applier", "sql", errmsg),
	                 MA_ERR_CONFIG);
	assert_string_equal(errmsg, "--set database.kv.applier: \"sql\": "
	                            "expected one of none, kv");
	assert_int_equal(config_set(&cfg, "follow.sorces", "a:1", errmsg),
	                 MA_ERR_CONFIG);
	assert_string_equal(errmsg, "--set follow.sorces: unknown key (did you "
	                            "mean \"sources\"?)");
	assert_int_equal(config_set(&cfg, "serve.spool", "/x", errmsg),
	                 MA_ERR_CONFIG);
	assert_string_equal(errmsg, "--set serve.spool: unknown key (it "
	                            "belongs in [database \"NAME\"])");
	assert_int_equal(config_set(&cfg, "follw.sources", "a:1", errmsg),
	                 MA_ERR_CONFIG);
	assert_int_equal(config_set(&cfg, "sources", "a:1", errmsg),
	                 MA_ERR_CONFIG);
	assert_int_equal(config_set(&cfg, "database.kv", "x", errmsg),
	                 MA_ERR_CONFIG);
	assert_int_equal(config_set(&cfg, "database.../x.spool", "/x", errmsg),
	                 MA_ERR_CONFIG);
	assert_int_equal(config_set(&cfg, "serve.x.listen", "a:1", errmsg),
	                 MA_ERR_CONFIG);
	assert_int_equal(config_set(&cfg, "agent.data_dir", "", errmsg),
	                 MA_ERR_CONFIG);

	/* The rejected override marks the key: the role check does not use
	 * the stale value, and reports nothing else. */
	config_errors_init(&errs);
	assert_int_equal(config_validate_role(&cfg, CONFIG_ROLE_FOLLOW, &errs),
	                 0);
	/* An override that breaks a relation is caught by the role check. */
	assert_int_equal(config_set(&cfg, "follow.backoff_min", "2h", errmsg),
	                 MA_ERR_CONFIG);
	assert_int_equal(config_set(&cfg, "follow.backoff_min", "1min", errmsg),
	                 0);
	assert_int_equal(config_set(&cfg, "follow.backoff_max", "1s", errmsg),
	                 0);
	assert_int_equal(config_validate_role(&cfg, CONFIG_ROLE_FOLLOW, &errs),
	                 MA_ERR_CONFIG);
	assert_has_error(&errs, "--set follow.backoff_max: 1s is smaller "
	                        "than backoff_min 1min");
	config_free(&cfg);

	/* A configuration built from overrides alone. */
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_set(&cfg, "follow.sources", "h:1", errmsg), 0);
	assert_true(cfg.follow.present);
	config_free(&cfg);
}

static void test_units(void **state)
{
	static const struct {
		const char *key, *value;
		uint64_t want; /* UINT64_MAX: must fail */
	} cases[] = {
	    {"serve.chunk_size", "64KiB", 64 << 10},
	    {"serve.chunk_size", "65536", 65536},
	    {"serve.chunk_size", "1 MiB", 1 << 20},
	    {"serve.chunk_size", "1m", 1 << 20},
	    {"serve.chunk_size", "1mib", 1 << 20},
	    {"serve.chunk_size", "4MiB", UINT64_MAX},
	    {"serve.chunk_size", "64kb", UINT64_MAX},
	    {"serve.chunk_size", "1.5MiB", UINT64_MAX},
	    {"serve.chunk_size", "-1", UINT64_MAX},
	    {"serve.chunk_size", "MiB", UINT64_MAX},
	    {"serve.chunk_size", "99999999999999999999", UINT64_MAX},
	    {"serve.chunk_size", "18446744073709551615TiB", UINT64_MAX},
	    {"serve.chunk_size", "\"64KiB\"", UINT64_MAX},
	    {"serve.max_unacked_bytes", "4GiB", 4ull << 30},
	    {"follow.progress_log_every", "1TiB", 1ull << 40},
	    {"serve.idle_timeout", "5s", 5000},
	    {"serve.idle_timeout", "2min", 120000},
	    {"serve.idle_timeout", "2m", 120000},
	    {"serve.idle_timeout", "1500", 1500},
	    {"serve.idle_timeout", "1500ms", 1500},
	    {"serve.idle_timeout", "10min", 600000},
	    {"serve.idle_timeout", "11min", UINT64_MAX},
	    {"serve.idle_timeout", "999ms", UINT64_MAX},
	    {"serve.idle_timeout", "5 fortnights", UINT64_MAX},
	    {"follow.backoff_max", "1h", 3600000},
	    {"follow.keepalive", "0", 0},
	    {"follow.keepalive", "50ms", UINT64_MAX},
	    {"serve.max_connections", "1000", 1000},
	    {"serve.max_connections", "0", UINT64_MAX},
	    {"serve.max_connections", "1k", UINT64_MAX},
	    {"follow.degraded_lag_entries", "0", 0},
	};
	struct agent_config cfg;
	char errmsg[MA_ERRMSG_SIZE];

	(void)state;
	assert_int_equal(config_init(&cfg), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = config_set(&cfg, cases[i].key, cases[i].value, errmsg);
		uint64_t got;
		if (cases[i].want == UINT64_MAX) {
			if (rc != MA_ERR_CONFIG)
				fail_msg("%s=%s accepted", cases[i].key,
				         cases[i].value);
			continue;
		}
		if (rc != 0)
			fail_msg("%s=%s: %s", cases[i].key, cases[i].value,
			         errmsg);
		if (strcmp(cases[i].key, "serve.chunk_size") == 0)
			got = cfg.serve.chunk_size;
		else if (strcmp(cases[i].key, "serve.max_unacked_bytes") == 0)
			got = cfg.serve.max_unacked_bytes;
		else if (strcmp(cases[i].key, "follow.progress_log_every") == 0)
			got = cfg.follow.progress_log_bytes;
		else if (strcmp(cases[i].key, "serve.idle_timeout") == 0)
			got = cfg.serve.idle_timeout_ms;
		else if (strcmp(cases[i].key, "follow.backoff_max") == 0)
			got = cfg.follow.backoff_max_ms;
		else if (strcmp(cases[i].key, "follow.keepalive") == 0)
			got = cfg.follow.keepalive_ms;
		else if (strcmp(cases[i].key, "serve.max_connections") == 0)
			got = cfg.serve.max_connections;
		else
			got = cfg.follow.degraded_lag_entries;
		if (got != cases[i].want)
			fail_msg("%s=%s gave %llu", cases[i].key,
			         cases[i].value, (unsigned long long)got);
	}
	config_free(&cfg);
}

static void test_endpoints(void **state)
{
	static const struct {
		const char *value, *host;
		unsigned port;
		const char *why; /* NULL: valid */
	} cases[] = {
	    {"127.0.0.1:80", "127.0.0.1", 80, NULL},
	    {"[::]:4433", "::", 4433, NULL},
	    {"[fe80::1%eth0]:1", NULL, 0, "invalid IPv6 address"},
	    {"node-1.example.net:65535", "node-1.example.net", 65535, NULL},
	    {"localhost:1", "localhost", 1, NULL},
	    {"host:0", NULL, 0, "port out of range 1-65535"},
	    {"host:65536", NULL, 0, "port out of range 1-65535"},
	    {"host:http", NULL, 0, "port is not a number"},
	    {"host", NULL, 0, "missing :port (expected host:port)"},
	    {"host:", NULL, 0, "missing port"},
	    {":80", NULL, 0, "missing host"},
	    {"::1:80", NULL, 0, "an IPv6 address needs brackets"},
	    {"[::1]80", NULL, 0, "missing :port after ']'"},
	    {"[::1:80", NULL, 0, "missing ']'"},
	    {"[host]:80", NULL, 0, "brackets are for IPv6 addresses only"},
	    {"256.1.1.1:80", NULL, 0, "invalid IPv4 address"},
	    {"-bad.example:80", NULL, 0, "invalid host name"},
	    {"under_score:80", NULL, 0, "invalid host name"},
	};
	struct agent_config cfg;
	char errmsg[MA_ERRMSG_SIZE];

	(void)state;
	assert_int_equal(config_init(&cfg), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc =
		    config_set(&cfg, "follow.sources", cases[i].value, errmsg);
		if (cases[i].why == NULL) {
			if (rc != 0)
				fail_msg("%s: %s", cases[i].value, errmsg);
			assert_int_equal(cfg.follow.sources.n, 1);
			assert_string_equal(cfg.follow.sources.v[0].host,
			                    cases[i].host);
			assert_int_equal(cfg.follow.sources.v[0].port,
			                 cases[i].port);
		} else {
			assert_int_equal(rc, MA_ERR_CONFIG);
			if (strstr(errmsg, cases[i].why) == NULL)
				fail_msg("%s: got \"%s\", want \"%s\"",
				         cases[i].value, errmsg, cases[i].why);
		}
	}
	/* Addresses to bind to are numeric. */
	assert_int_equal(
	    config_set(&cfg, "agent.http_listen", "[::1]:80", errmsg), 0);
	assert_int_equal(
	    config_set(&cfg, "agent.http_listen", "localhost:80", errmsg),
	    MA_ERR_CONFIG);
	assert_int_equal(
	    config_set(&cfg, "tls.server_name", "10.1.2.3", errmsg), 0);
	assert_int_equal(config_set(&cfg, "tls.server_name", "a b", errmsg),
	                 MA_ERR_CONFIG);
	config_free(&cfg);
}

/* ---- relations between keys (role checks) ---- */

static void test_relations(void **state)
{
	struct scratch *s = *state;
	struct agent_config cfg;
	struct config_errors errs;
	char path[256];

	write_file(s->dir, "rel.conf", 0644,
	           "[tls]\n"                      /* 1 */
	           "ca_file = /t/ca\n"            /* 2 */
	           "cert_file = /t/cert\n"        /* 3 */
	           "key_file = /t/key\n"          /* 4 */
	           "[serve]\n"                    /* 5 */
	           "listen = [::]:4433\n"         /* 6 */
	           "stream_window = 32MiB\n"      /* 7 */
	           "chunk_size = 1MiB\n"          /* 8 */
	           "max_unacked_bytes = 512KiB\n" /* 9 */
	           "heartbeat_interval = 20s\n"   /* 10 */
	           "[follow]\n"                   /* 11 */
	           "sources = a:1\n"              /* 12 */
	           "keepalive = 30s\n"            /* 13 */
	           "backoff_min = 1min\n"         /* 14 */
	           "[database \"a\"]\n"           /* 15 */
	           "spool = /s/x/\n"              /* 16 */
	           "directory = /d\n"             /* 17 */
	           "[database \"b\"]\n"           /* 18 */
	           "spool = /s/x\n"               /* 19 */
	           "directory = /d\n"             /* 20 */
	           "[database \"c\"]\n"           /* 21 */
	           "[access \"m\"]\n"             /* 22 */
	           "databases = a, zz\n"          /* 23 */
	           "[access \"n\"]\n");           /* 24 */
	snprintf(path, sizeof path, "%s/rel.conf", s->dir);
	assert_int_equal(config_load(path, &cfg, CONFIG_NO_FS_CHECKS, &errs),
	                 0);
	assert_int_equal(
	    config_validate_role(&cfg, CONFIG_ROLE_SERVE | CONFIG_ROLE_FOLLOW,
	                         &errs),
	    MA_ERR_CONFIG);
	assert_has_error(&errs, "rel.conf:7: [serve] stream_window: 32MiB is "
	                        "larger than connection_window 16MiB");
	assert_has_error(&errs, "rel.conf:8: [serve] chunk_size: 1MiB is "
	                        "larger than max_unacked_bytes 512KiB");
	assert_has_error(&errs, "rel.conf:10: [serve] heartbeat_interval: 20s "
	                        "is more than half of idle_timeout 30s: idle "
	                        "mirrors would time out between heartbeats");
	assert_has_error(&errs, "rel.conf:19: [database \"b\"] spool: /s/x is "
	                        "also used by [database \"a\"]");
	assert_has_error(&errs, "rel.conf:21: [database \"c\"] spool: required "
	                        "key is missing (`serve` reads the tap's spool "
	                        "directory)");
	assert_has_error(&errs,
	                 "rel.conf:23: [access \"m\"] databases: \"zz\": "
	                 "no [database \"zz\"] section");
	assert_has_error(&errs, "rel.conf:24: [access \"n\"] databases: "
	                        "required key is missing");
	assert_has_error(&errs, "rel.conf:14: [follow] backoff_max: 30s is "
	                        "smaller than backoff_min 1min");
	assert_has_error(&errs, "rel.conf:13: [follow] keepalive: 30s is not "
	                        "below idle_timeout 10s: the connection would "
	                        "time out before a keep-alive");
	assert_has_error(&errs,
	                 "rel.conf:20: [database \"b\"] directory: /d is "
	                 "also used by [database \"a\"]");
	if (errs.count != 10)
		dump_errors(&errs);
	assert_int_equal(errs.count, 10);
	config_free(&cfg);
}

/* Database directories are compared as directories, not strings: the
 * same one spelt differently, one inside another, "/", data_dir itself
 * or a directory holding data_dir are all refused (a --reseed of one
 * would remove the other). Before, only identical strings were. */
static void test_directory_overlap(void **state)
{
	struct scratch *s = *state;
	struct agent_config cfg;
	struct config_errors errs;
	char path[256];

	write_file(s->dir, "dirs.conf", 0644,
	           "[agent]\n"                   /* 1 */
	           "data_dir = /m/data\n"        /* 2 */
	           "[tls]\n"                     /* 3 */
	           "ca_file = /t/ca\n"           /* 4 */
	           "cert_file = /t/cert\n"       /* 5 */
	           "key_file = /t/key\n"         /* 6 */
	           "[follow]\n"                  /* 7 */
	           "sources = a:1\n"             /* 8 */
	           "[database \"a\"]\n"          /* 9 */
	           "directory = /m/data/\n"      /* 10 */
	           "[database \"b\"]\n"          /* 11 */
	           "directory = /d/b\n"          /* 12 */
	           "[database \"c\"]\n"          /* 13 */
	           "directory = /d/b/sub\n"      /* 14 */
	           "[database \"d\"]\n"          /* 15 */
	           "directory = /d/x/../..\n"    /* 16 */
	           "[database \"e\"]\n"          /* 17 */
	           "directory = /d/./e/../b//\n" /* 18 */
	           "[database \"f\"]\n"          /* 19 */
	           "directory = /m\n"            /* 20 */
	           "[database \"g\"]\n"          /* 21 */
	           "directory = /d\n"            /* 22 */
	           "[database \"h\"]\n");        /* 23: data_dir/h */
	snprintf(path, sizeof path, "%s/dirs.conf", s->dir);
	assert_int_equal(config_load(path, &cfg, CONFIG_NO_FS_CHECKS, &errs),
	                 0);
	assert_int_equal(config_validate_role(&cfg, CONFIG_ROLE_FOLLOW, &errs),
	                 MA_ERR_CONFIG);
	assert_has_error(&errs, "dirs.conf:10: [database \"a\"] directory: "
	                        "/m/data is data_dir /m/data: give the "
	                        "database a directory of its own (default "
	                        "data_dir/a)");
	assert_has_error(&errs, "dirs.conf:14: [database \"c\"] directory: "
	                        "/d/b/sub lies inside the directory of "
	                        "[database \"b\"]");
	assert_has_error(&errs, "dirs.conf:16: [database \"d\"] directory: "
	                        "/d/x/../.. is the root directory: give the "
	                        "database a directory of its own");
	assert_has_error(&errs, "dirs.conf:18: [database \"e\"] directory: "
	                        "/d/./e/../b is also used by [database "
	                        "\"b\"]");
	assert_has_error(&errs, "dirs.conf:20: [database \"f\"] directory: "
	                        "/m contains data_dir /m/data: give the "
	                        "database a directory of its own (default "
	                        "data_dir/f)");
	assert_has_error(&errs, "dirs.conf:22: [database \"g\"] directory: "
	                        "/d contains the directory of [database "
	                        "\"b\"]");
	if (errs.count != 6)
		dump_errors(&errs);
	assert_int_equal(errs.count, 6); /* h, data_dir/h, is fine */
	config_free(&cfg);
}

/* ---- the example files in etc/ ---- */

static bool is_example(const char *name)
{
	size_t len = strlen(name);

	return len > 13 && strcmp(name + len - 13, ".conf.example") == 0;
}

static void test_examples_load(void **state)
{
	char dir[1024], path[1400];
	struct dirent *de;
	DIR *d;
	int seen = 0;

	(void)state;
	snprintf(dir, sizeof dir, "%s/etc", top_srcdir());
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		struct agent_config cfg;
		struct config_errors errs;
		unsigned roles = 0;
		int rc;

		if (!is_example(de->d_name))
			continue;
		seen++;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		/* The TLS paths point into /etc/mirror-agent: values only. */
		rc = config_load(path, &cfg, CONFIG_NO_FS_CHECKS, &errs);
		if (rc == 0) {
			roles = (cfg.serve.present ? CONFIG_ROLE_SERVE : 0) |
			        (cfg.follow.present ? CONFIG_ROLE_FOLLOW : 0);
			assert_int_not_equal(roles, 0);
			rc = config_validate_role(&cfg, roles, &errs);
		}
		if (rc != 0) {
			dump_errors(&errs);
			fail_msg("%s does not load", de->d_name);
		}
		config_free(&cfg);
	}
	closedir(d);
	assert_true(seen >= 2); /* serve and follow */
}

/* Every key of the schema is documented in some example file. */
static void test_examples_document_every_key(void **state)
{
	char dir[1024], path[1400], *all = NULL;
	size_t all_len = 0;
	const char *name, *defval;
	struct dirent *de;
	DIR *d;
	FILE *mem;

	(void)state;
	snprintf(dir, sizeof dir, "%s/etc", top_srcdir());
	d = opendir(dir);
	assert_non_null(d);
	mem = open_memstream(&all, &all_len);
	assert_non_null(mem);
	while ((de = readdir(d)) != NULL) {
		char buf[4096];
		size_t n;
		FILE *f;
		if (!is_example(de->d_name))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		f = fopen(path, "r");
		assert_non_null(f);
		while ((n = fread(buf, 1, sizeof buf, f)) > 0)
			fwrite(buf, 1, n, mem);
		fclose(f);
	}
	closedir(d);
	fclose(mem);
	for (size_t i = 0; (name = config_key_name(i, &defval)) != NULL; i++) {
		char want[128];
		const char *key = strchr(name, '.') + 1;
		/* Shown as "key = default" where there is a default. */
		if (*defval != '\0')
			snprintf(want, sizeof want, "\n#%s = %s\n", key,
			         defval);
		else
			snprintf(want, sizeof want, "%s = ", key);
		if (strstr(all, want) == NULL)
			fail_msg("%s is not documented as \"%s\"", name,
			         want[0] == '\n' ? want + 1 : want);
	}
	free(all);
}

/* Every key of the schema is named in mirror-agent.conf(5), in bold as
 * roff writes it (`.B key` or `.BR key ...`). */
static void test_man_page_names_every_key(void **state)
{
	char path[1400], *text = NULL;
	size_t len = 0;
	const char *name, *defval;
	FILE *mem, *f;
	char buf[4096];
	size_t n;

	(void)state;
	snprintf(path, sizeof path, "%s/man/mirror-agent.conf.5", top_srcdir());
	f = fopen(path, "r");
	assert_non_null(f);
	mem = open_memstream(&text, &len);
	assert_non_null(mem);
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		fwrite(buf, 1, n, mem);
	fclose(f);
	fclose(mem);
	for (size_t i = 0; (name = config_key_name(i, &defval)) != NULL; i++) {
		const char *key = strchr(name, '.') + 1;
		char b1[128], b2[128], b3[128];

		snprintf(b1, sizeof b1, "\n.B %s\n", key);
		snprintf(b2, sizeof b2, "\n.BR %s ", key);
		snprintf(b3, sizeof b3, "\n.BR %s\n", key);
		if (strstr(text, b1) == NULL && strstr(text, b2) == NULL &&
		    strstr(text, b3) == NULL)
			fail_msg("%s is not in man/mirror-agent.conf.5", name);
	}
	free(text);
}

/* ---- mirror-agent check-config ---- */

/* Runs `check-config ARGS...` (NULL-terminated) with stdout and stderr
 * sent to /dev/null (the test's own stdout carries TAP); returns its exit
 * status. */
static int check_config(const char *arg, ...)
{
	char *argv[16];
	int argc = 0, saved_out, saved_err, null_fd, rc;
	va_list ap;

	argv[argc++] = strdup("check-config");
	va_start(ap, arg);
	for (; arg != NULL && argc < 15; arg = va_arg(ap, const char *))
		argv[argc++] = strdup(arg);
	va_end(ap);
	argv[argc] = NULL;

	fflush(stdout);
	fflush(stderr);
	saved_out = dup(1);
	saved_err = dup(2);
	null_fd = open("/dev/null", O_WRONLY);
	assert_true(saved_out >= 0 && saved_err >= 0 && null_fd >= 0);
	dup2(null_fd, 1);
	dup2(null_fd, 2);
	rc = cmd_check_config(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	close(null_fd);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return rc;
}

static void test_check_config_command(void **state)
{
	struct scratch *s = *state;
	char ok[256], bad[256], example[1024];
	char text[1024];

	write_file(s->dir, "ca.pem", 0644, "x\n");
	write_file(s->dir, "key.pem", 0600, "x\n");
	snprintf(text, sizeof text,
	         "[agent]\ndata_dir = %s/data\n"
	         "[tls]\nca_file = %s/ca.pem\ncert_file = %s/ca.pem\n"
	         "key_file = %s/key.pem\n"
	         "[follow]\nsources = 127.0.0.1:4433\n"
	         "[database \"kv\"]\n",
	         s->dir, s->dir, s->dir, s->dir);
	write_file(s->dir, "ok.conf", 0644, text);
	snprintf(ok, sizeof ok, "%s/ok.conf", s->dir);
	data_path(bad, sizeof bad, "bad_port.conf");
	snprintf(example, sizeof example,
	         "%s/etc/mirror-agent-serve.conf.example", top_srcdir());

	/* "x" is no certificate: check-config reads the certificate once
	 * the configuration is valid (tests/integration/
	 * test_check_config_certs.sh has real ones); --no-fs-checks skips
	 * that with the other file checks. */
	assert_int_equal(check_config(ok, NULL), 1);
	assert_int_equal(check_config("--no-fs-checks", ok, NULL), 0);
	assert_int_equal(check_config(bad, NULL), 1);
	/* Overrides are checked like the file. */
	assert_int_equal(check_config("--no-fs-checks", "--set",
	                              "follow.connect_timeout=5s", ok, NULL),
	                 0);
	assert_int_equal(
	    check_config("--set", "follow.sources=example:99999", ok, NULL), 1);
	/* The examples' TLS paths do not exist here. */
	assert_int_equal(check_config(example, NULL), 1);
	assert_int_equal(check_config("--no-fs-checks", example, NULL), 0);
	/* The file has no [serve]: asking for serve fails. */
	assert_int_equal(check_config("--role", "serve", ok, NULL), 1);
	/* Usage errors. */
	assert_int_equal(check_config(NULL), 2);
	assert_int_equal(check_config(ok, ok, NULL), 2);
	assert_int_equal(check_config("--role", "both", "--bogus", ok, NULL),
	                 2);
	assert_int_equal(check_config("--role", "mirror", ok, NULL), 2);
	assert_int_equal(check_config("--set", "noequals", ok, NULL), 2);
	assert_int_equal(check_config("--help", NULL), 0);
}

/* ---- one range per key, whichever way it is given ---- */

/* Runs a command in-process with stdout to /dev/null and stderr into
 * err (size bytes, NUL-terminated); returns its exit status. */
static int run_captured(int (*cmd)(int, char **), char *err, size_t size,
                        const char *arg, ...)
{
	char *argv[16];
	int argc = 0, saved_out, saved_err, null_fd, err_fd, rc;
	char path[] = "/tmp/ma-test-err-XXXXXX";
	ssize_t n;
	va_list ap;

	va_start(ap, arg);
	for (; arg != NULL && argc < 15; arg = va_arg(ap, const char *))
		argv[argc++] = strdup(arg);
	va_end(ap);
	argv[argc] = NULL;

	err_fd = mkstemp(path);
	assert_true(err_fd >= 0);
	unlink(path);
	fflush(stdout);
	fflush(stderr);
	saved_out = dup(1);
	saved_err = dup(2);
	null_fd = open("/dev/null", O_WRONLY);
	assert_true(saved_out >= 0 && saved_err >= 0 && null_fd >= 0);
	dup2(null_fd, 1);
	dup2(err_fd, 2);
	rc = cmd(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	close(null_fd);
	n = pread(err_fd, err, size - 1, 0);
	err[n > 0 ? n : 0] = '\0';
	close(err_fd);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return rc;
}

static void format_kind(enum config_kind kind, uint64_t v, char *buf,
                        size_t size)
{
	if (kind == CONFIG_KIND_SIZE)
		parse_format_size(v, buf, size);
	else if (kind == CONFIG_KIND_DURATION)
		parse_format_duration(v, buf, size);
	else
		snprintf(buf, size, "%llu", (unsigned long long)v);
}

static void assert_refused(int rc, const char *err, const char *want,
                           const char *how)
{
	if (rc != CLI_EXIT_USAGE || strstr(err, want) == NULL)
		fail_msg("%s: exit %d, stderr \"%s\"; want exit 2 and \"%s\"",
		         how, rc, err, want);
}

/* For every numeric key of [serve] and [follow]: min - 1 and max + 1
 * (where the type allows) as a config file line, as --set, and as each
 * flag of its own (--flag V and --flag=V) are all refused with exit 2
 * and the same words: the value and the table's range. */
static void test_flag_and_key_share_range(void **state)
{
	struct scratch *s = *state;
	struct config_key_info k;
	size_t tested = 0, flags_tested = 0;
	char err[4096];

	for (size_t i = 0; config_key_info_at(i, &k); i++) {
		bool serve = strncmp(k.name, "serve.", 6) == 0;
		int (*cmd)(int, char **) = serve ? cmd_serve : cmd_follow;
		const struct cli_command *cli =
		    serve ? &cmd_serve_cli : &cmd_follow_cli;
		const char *key = strchr(k.name, '.') + 1;
		uint64_t bad[2];
		size_t nbad = 0;
		char lo[32], hi[32];

		if (k.kind > CONFIG_KIND_DURATION)
			continue;
		assert_true(serve || strncmp(k.name, "follow.", 7) == 0);
		if (k.min > 0 && !(k.zero_ok && k.min == 1))
			bad[nbad++] = k.min - 1;
		if (k.max < UINT64_MAX)
			bad[nbad++] = k.max + 1;
		assert_true(nbad > 0);
		format_kind(k.kind, k.min, lo, sizeof lo);
		format_kind(k.kind, k.max, hi, sizeof hi);
		for (size_t b = 0; b < nbad; b++) {
			char v[32], want[160], set[128], flag[128], text[256];
			char conf[256];
			int rc;

			format_kind(k.kind, bad[b], v, sizeof v);
			snprintf(want, sizeof want,
			         "\"%s\": out of range %s%s-%s", v,
			         k.zero_ok ? "0 (off) or " : "", lo, hi);

			/* The file. */
			snprintf(text, sizeof text, "[%s]\n%s = %s\n",
			         serve ? "serve" : "follow", key, v);
			write_file(s->dir, "range.conf", 0644, text);
			snprintf(conf, sizeof conf, "%s/range.conf", s->dir);
			rc = run_captured(cmd, err, sizeof err, cli->name,
			                  "--config", conf, NULL);
			snprintf(text, sizeof text, "range.conf:2: [%s] %s: %s",
			         serve ? "serve" : "follow", key, want);
			assert_refused(rc, err, text, conf);

			/* --set. */
			snprintf(set, sizeof set, "%s=%s", k.name, v);
			rc = run_captured(cmd, err, sizeof err, cli->name,
			                  "--set", set, NULL);
			snprintf(text, sizeof text, "--set %s: %s", k.name,
			         want);
			assert_refused(rc, err, text, set);

			/* Each flag that stands for the key, both forms. */
			for (const struct cli_opt *o = cli->opts;
			     o->name != NULL; o++) {
				if (o->id != CLI_OPT_KEY ||
				    strcmp(o->key, k.name) != 0)
					continue;
				snprintf(text, sizeof text, "--%s (%s): %s",
				         o->name, k.name, want);
				snprintf(flag, sizeof flag, "--%s", o->name);
				rc = run_captured(cmd, err, sizeof err,
				                  cli->name, flag, v, NULL);
				assert_refused(rc, err, text, flag);
				snprintf(flag, sizeof flag, "--%s=%s", o->name,
				         v);
				rc = run_captured(cmd, err, sizeof err,
				                  cli->name, flag, NULL);
				assert_refused(rc, err, text, flag);
				flags_tested++;
			}
			tested++;
		}
	}
	/* [serve] has 9 numeric keys, [follow] 14; serve's own flags
	 * cover 9 of them. A shrinking count means keys or flags went
	 * missing from the table. */
	assert_true(tested >= 40);
	assert_true(flags_tested >= 16);
	print_message("# %zu out-of-range values, %zu through own flags\n",
	              tested, flags_tested);
}

/* Every flag of serve and follow that names a key names one the
 * schema has, and the usage text shows its range and default. */
static void test_flags_name_schema_keys(void **state)
{
	const struct cli_command *cmds[] = {&cmd_serve_cli, &cmd_follow_cli};
	struct config_key_info k;

	(void)state;
	for (size_t c = 0; c < 2; c++)
		for (const struct cli_opt *o = cmds[c]->opts; o->name != NULL;
		     o++)
			if (o->id == CLI_OPT_KEY &&
			    !config_key_info_find(o->key, &k))
				fail_msg("%s --%s: no key %s", cmds[c]->name,
				         o->name, o->key);
}

/* serve's and follow's library defaults are the table's. */
static void test_library_defaults_are_the_table(void **state)
{
	struct config_serve sv;
	struct config_follow fo;
	struct agent_config cfg;

	(void)state;
	assert_int_equal(config_init(&cfg), 0);
	config_serve_defaults(&sv);
	config_follow_defaults(&fo);
	assert_true(sv.chunk_size == 256 * 1024);
	assert_true(sv.chunk_size == cfg.serve.chunk_size);
	assert_true(sv.heartbeat_interval_ms == 1000);
	assert_true(sv.max_unacked_bytes == cfg.serve.max_unacked_bytes);
	assert_true(sv.idle_timeout_ms == cfg.serve.idle_timeout_ms);
	assert_true(fo.wal_sync_interval_ms == 100);
	assert_true(fo.keepalive_ms == 2000);
	assert_true(fo.backoff_min_ms == cfg.follow.backoff_min_ms);
	assert_true(fo.wal_sync_bytes == cfg.follow.wal_sync_bytes);
	assert_null(fo.sources.v);

	/* The libraries' option structs start from the same values (they
	 * once held their own: 5 ms wal sync, 5 s keep-alive). */
	{
		struct serve_options so;
		struct follow_options o;
		serve_options_init(&so, NULL);
		assert_true(so.chunk_size == cfg.serve.chunk_size);
		assert_true(so.heartbeat_ms == cfg.serve.heartbeat_interval_ms);
		assert_true(so.log_batch_bytes == cfg.serve.log_batch_bytes);
		assert_true(so.max_unacked == 4u << 20);
		assert_true(so.max_connections == 64);
		assert_true(so.max_streams == 100);
		assert_true(so.tuning.idle_timeout_ms == 30000);
		assert_true(so.tuning.max_data == 16u << 20);
		follow_options_init(&o, NULL);
		assert_true(o.wal_sync_interval_ms == 100);
		assert_true(o.keepalive_ms == 2000);
		assert_true(o.handshake_timeout_ms == 10000);
		assert_true(o.states.backoff_min_ms == 100);
		assert_true(o.states.backoff_max_ms == 30000);
		assert_true(o.wal_sync_bytes == cfg.follow.wal_sync_bytes);
		assert_true(o.snapshot_fsync_interval ==
		            cfg.follow.snapshot_sync_bytes);
		assert_true(o.tuning.idle_timeout_ms == 10000);
		/* A checked section goes through unchanged. */
		cfg.follow.keepalive_ms = 1234;
		follow_options_init(&o, &cfg.follow);
		assert_true(o.keepalive_ms == 1234);
	}
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_full_config_loads),
	    cmocka_unit_test(test_bad_port),
	    cmocka_unit_test(test_unknown_key),
	    cmocka_unit_test(test_unknown_section),
	    cmocka_unit_test(test_bad_enum),
	    cmocka_unit_test(test_bad_size_unit),
	    cmocka_unit_test(test_bad_database_name),
	    cmocka_unit_test(test_missing_required),
	    cmocka_unit_test_setup_teardown(test_key_modes, setup_scratch,
	                                    teardown_scratch),
	    cmocka_unit_test_setup_teardown(test_missing_tls_file,
	                                    setup_scratch, teardown_scratch),
	    cmocka_unit_test(test_multiple_errors),
	    cmocka_unit_test_setup_teardown(test_error_bound, setup_scratch,
	                                    teardown_scratch),
	    cmocka_unit_test_setup_teardown(test_syntax, setup_scratch,
	                                    teardown_scratch),
	    cmocka_unit_test(test_set_override),
	    cmocka_unit_test(test_units),
	    cmocka_unit_test(test_endpoints),
	    cmocka_unit_test_setup_teardown(test_directory_overlap,
	                                    setup_scratch, teardown_scratch),
	    cmocka_unit_test_setup_teardown(test_relations, setup_scratch,
	                                    teardown_scratch),
	    cmocka_unit_test(test_examples_load),
	    cmocka_unit_test(test_examples_document_every_key),
	    cmocka_unit_test(test_man_page_names_every_key),
	    cmocka_unit_test_setup_teardown(test_flag_and_key_share_range,
	                                    setup_scratch, teardown_scratch),
	    cmocka_unit_test(test_flags_name_schema_keys),
	    cmocka_unit_test(test_library_defaults_are_the_table),
	    cmocka_unit_test_setup_teardown(test_check_config_command,
	                                    setup_scratch, teardown_scratch),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
