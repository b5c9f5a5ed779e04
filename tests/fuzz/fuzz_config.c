/* libFuzzer target for the configuration file reader (agent/config/):
 * config_load() on the input, served from a memfd through
 * /proc/self/fd/N (config_load() reads a path; no temp files, no disk),
 * with CONFIG_NO_FS_CHECKS so the result depends on the bytes only.
 *
 * Invariants (abort() on violation):
 * - the result is 0, MA_ERR_CONFIG or MA_ERR_NOMEM, and it is 0 exactly
 *   when no error was reported; every message is terminated, non-empty
 *   and names the file;
 * - a loaded configuration holds what the schema promises: database names
 *   pass the one name rule and are unique, lists within their bounds,
 *   endpoints with a host and a port, paths absolute, enums in range;
 * - loading the same bytes twice gives the same result (no hidden state);
 * - the role checks accept or refuse with messages, never crash, and a
 *   follow configuration they accept gives every database a directory. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/config/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void check_errors(const struct config_errors *errs, const char *path)
{
	check(errs->count <= CONFIG_MAX_ERRORS);
	for (unsigned i = 0; i < errs->count; i++) {
		const char *m = errs->msg[i];
		check(memchr(m, '\0', MA_ERRMSG_SIZE) != NULL && m[0] != '\0');
		/* "FILE:LINE: ..." or "FILE: ..." */
		check(strncmp(m, path, strlen(path)) == 0 &&
		      m[strlen(path)] == ':');
	}
}

static void check_path(const char *p)
{
	check(p == NULL || p[0] == '/');
}

static void check_endpoint(const struct config_endpoint *e, bool required)
{
	check(memchr(e->host, '\0', sizeof e->host) != NULL);
	if (required || e->port != 0)
		check(e->host[0] != '\0' && e->port != 0);
}

static void check_loaded(const struct agent_config *cfg)
{
	check_path(cfg->agent.data_dir);
	check_path(cfg->agent.log_file);
	check_path(cfg->agent.pid_file);
	check(cfg->agent.log_level >= LOG_LEVEL_DEBUG &&
	      cfg->agent.log_level <= LOG_LEVEL_ERROR);
	check_endpoint(&cfg->agent.http_listen, false);
	check_path(cfg->tls.ca_file);
	check_path(cfg->tls.cert_file);
	check_path(cfg->tls.key_file);
	check(cfg->serve.congestion_control >= CONFIG_CC_CUBIC &&
	      cfg->serve.congestion_control <= CONFIG_CC_BBR2);
	check_endpoint(&cfg->serve.listen, false);
	check(cfg->follow.sources.n <= CONFIG_MAX_SOURCES);
	for (size_t i = 0; i < cfg->follow.sources.n; i++)
		check_endpoint(&cfg->follow.sources.v[i], true);
	check_path(cfg->follow.progress_hook);
	check(cfg->n_databases <= CONFIG_MAX_DATABASES);
	for (size_t i = 0; i < cfg->n_databases; i++) {
		const struct config_database *db = &cfg->databases[i];
		check(parse_name_valid_str(db->name));
		check(config_database_find(cfg, db->name) == db);
		check_path(db->spool);
		check(db->applier == CONFIG_APPLIER_NONE ||
		      db->applier == CONFIG_APPLIER_KV);
	}
	check(cfg->n_access <= CONFIG_MAX_ACCESS);
	for (size_t i = 0; i < cfg->n_access; i++) {
		const struct config_access *a = &cfg->access[i];
		check(a->identity != NULL && a->identity[0] != '\0' &&
		      strlen(a->identity) <= CONFIG_IDENTITY_MAX);
		check(a->databases.n <= CONFIG_MAX_LIST);
		for (size_t j = 0; j < a->databases.n; j++)
			check(a->databases.v[j] != NULL);
		/* Exercise the ACL on what was loaded. */
		(void)config_access_allows(cfg, a->identity, "db");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config_errors errs, errs2;
	struct agent_config cfg, cfg2;
	char path[64];
	int fd, rc, rc2;

	log_set_level(LOG_LEVEL_ERROR);
	fd = memfd_create("fuzz-config", MFD_CLOEXEC);
	check(fd >= 0);
	check(write(fd, data, size) == (ssize_t)size);
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

	rc = config_load(path, &cfg, CONFIG_NO_FS_CHECKS, &errs);
	check(rc == 0 || rc == MA_ERR_CONFIG || rc == MA_ERR_NOMEM);
	check((rc == 0) == (errs.count == 0 && errs.dropped == 0));
	check_errors(&errs, path);
	rc2 = config_load(path, &cfg2, CONFIG_NO_FS_CHECKS, &errs2);
	check(rc2 == rc && errs2.count == errs.count &&
	      errs2.dropped == errs.dropped);
	for (unsigned i = 0; i < errs.count; i++)
		check(strcmp(errs.msg[i], errs2.msg[i]) == 0);
	config_free(&cfg2);
	if (rc == 0) {
		check(cfg.n_databases == 0 || cfg.databases != NULL);
		check_loaded(&cfg);
		config_errors_init(&errs);
		rc = config_validate_role(&cfg, CONFIG_ROLE_FOLLOW, &errs);
		check(rc == 0 || rc == MA_ERR_CONFIG || rc == MA_ERR_NOMEM);
		check((rc == 0) == (errs.count == 0));
		for (unsigned i = 0; i < errs.count; i++)
			check(errs.msg[i][0] != '\0');
		if (rc == 0)
			for (size_t i = 0; i < cfg.n_databases; i++)
				check(cfg.databases[i].directory != NULL &&
				      cfg.databases[i].directory[0] == '/');
		config_errors_init(&errs);
		rc = config_validate_role(&cfg, CONFIG_ROLE_SERVE, &errs);
		check(rc == 0 || rc == MA_ERR_CONFIG || rc == MA_ERR_NOMEM);
		check((rc == 0) == (errs.count == 0));
	}
	config_free(&cfg);
	close(fd);
	return 0;
}
