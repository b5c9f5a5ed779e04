/* Role checks: what `serve` and `follow` need beyond each value being
 * valid (required keys, at least one database, relations between keys),
 * after the file and the overrides are in. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/config/config.h"
#include "agent/config/config_int.h"
#include "common/io.h"

/* Reports a required key that was not given. */
static void require(struct sink *s, struct agent_config *cfg, enum sec sec,
                    size_t idx, const char *key, const char *why)
{
	if (cfg_key_line(cfg, sec, idx, key) != 0)
		return; /* given: accepted, or rejected and reported */
	cfg_report_at(s, cfg, cfg_section_origin(cfg, sec, idx)->section_line,
	              sec, idx, key, "required key is missing%s", why);
}

/* Line for an error about a relation between keys a and b: b's line if
 * given, else a's, else the section's. */
static int pair_line(struct agent_config *cfg, enum sec sec, size_t idx,
                     const char *a, const char *b)
{
	int lb = cfg_key_line(cfg, sec, idx, b),
	    la = cfg_key_line(cfg, sec, idx, a);

	if (lb != 0)
		return lb;
	if (la != 0)
		return la;
	return cfg_section_origin(cfg, sec, idx)->section_line;
}

/* Both keys usable for a relation check. */
static bool pair_good(struct agent_config *cfg, enum sec sec, const char *a,
                      const char *b)
{
	return cfg_key_good(cfg, sec, 0, a) && cfg_key_good(cfg, sec, 0, b);
}

static void check_windows(struct sink *s, struct agent_config *cfg,
                          enum sec sec, uint64_t conn, uint64_t stream)
{
	char a[32], b[32];

	if (!pair_good(cfg, sec, "connection_window", "stream_window") ||
	    stream <= conn)
		return;
	parse_format_size(stream, a, sizeof a);
	parse_format_size(conn, b, sizeof b);
	cfg_report_at(
	    s, cfg,
	    pair_line(cfg, sec, 0, "connection_window", "stream_window"), sec,
	    0, "stream_window", "%s is larger than connection_window %s", a, b);
}

/* An absolute, lexically normal form of path in out (symlinks resolved
 * when the directory exists): "." and ".." and repeated slashes are
 * folded, so "a/../b", "./b" and "b/" name the same directory. false when
 * it does not fit. */
static bool normal_dir(const char *path, char out[PATH_MAX])
{
	char buf[PATH_MAX], cwd[PATH_MAX];
	size_t n = 0;
	const char *p;

	if (realpath(path, out) != NULL)
		return true;
	if (path[0] == '/')
		snprintf(buf, sizeof buf, "%s", path);
	else if (getcwd(cwd, sizeof cwd) == NULL ||
	         (size_t)snprintf(buf, sizeof buf, "%s/%s", cwd, path) >=
	             sizeof buf)
		return false;
	p = buf;
	out[0] = '\0';
	while (*p != '\0') {
		const char *seg;
		size_t len;

		while (*p == '/')
			p++;
		seg = p;
		while (*p != '\0' && *p != '/')
			p++;
		len = (size_t)(p - seg);
		if (len == 0 || (len == 1 && seg[0] == '.'))
			continue;
		if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--; /* the slash before it */
			out[n] = '\0';
			continue;
		}
		if (n + 1 + len + 1 > PATH_MAX)
			return false;
		out[n++] = '/';
		memcpy(out + n, seg, len);
		n += len;
		out[n] = '\0';
	}
	if (n == 0)
		snprintf(out, PATH_MAX, "/");
	return true;
}

/* True when directory a is b or lies inside it (both normal_dir forms). */
static bool dir_within(const char *a, const char *b)
{
	size_t lb = strlen(b);

	if (strcmp(b, "/") == 0)
		return true;
	return strncmp(a, b, lb) == 0 && (a[lb] == '\0' || a[lb] == '/');
}

static void report_dir(struct sink *s, struct agent_config *cfg, size_t i,
                       const char *key, const char *what)
{
	int line = cfg_key_line(cfg, SEC_DATABASE, i, key);

	cfg_report_at(s, cfg,
	              line != 0 ? line : cfg->databases[i].origin.section_line,
	              SEC_DATABASE, i, key, "%s", what);
}

/* Database directories (`key`, spools for serve) must be apart: not the
 * same directory, not one inside another (a --reseed of one, or a wal
 * sweep, would remove the other), not "/", and for follow neither
 * data_dir itself nor a directory holding data_dir (its lock and status
 * file). Compared as normalised absolute paths, not strings. */
static void check_distinct_dirs(struct sink *s, struct agent_config *cfg,
                                const char *key, bool spool)
{
	char di[PATH_MAX], dj[PATH_MAX], data[PATH_MAX], msg[2 * PATH_MAX];
	bool have_data = !spool && cfg->agent.data_dir != NULL &&
	                 normal_dir(cfg->agent.data_dir, data);

	for (size_t i = 0; i < cfg->n_databases; i++) {
		const char *ri = spool ? cfg->databases[i].spool
		                       : cfg->databases[i].directory;
		if (ri == NULL || !normal_dir(ri, di))
			continue;
		if (strcmp(di, "/") == 0) {
			snprintf(msg, sizeof msg,
			         "%s is the root directory: give the database "
			         "a directory of its own",
			         ri);
			report_dir(s, cfg, i, key, msg);
			continue;
		}
		if (have_data && dir_within(data, di)) {
			snprintf(msg, sizeof msg,
			         "%s %s data_dir %s: give the database a "
			         "directory of its own (default data_dir/%s)",
			         ri, strcmp(di, data) == 0 ? "is" : "contains",
			         cfg->agent.data_dir, cfg->databases[i].name);
			report_dir(s, cfg, i, key, msg);
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			const char *rj = spool ? cfg->databases[j].spool
			                       : cfg->databases[j].directory;
			const char *how;

			/* One already refused for "/" or data_dir is not
			 * held against the others as well. */
			if (rj == NULL || !normal_dir(rj, dj) ||
			    strcmp(dj, "/") == 0 ||
			    (have_data && dir_within(data, dj)))
				continue;
			if (strcmp(di, dj) == 0)
				how = "is also used by";
			else if (dir_within(di, dj))
				how = "lies inside the directory of";
			else if (dir_within(dj, di))
				how = "contains the directory of";
			else
				continue;
			snprintf(msg, sizeof msg, "%s %s [database \"%s\"]", ri,
			         how, cfg->databases[j].name);
			report_dir(s, cfg, i, key, msg);
			break;
		}
	}
}

static void validate_serve(struct sink *s, struct agent_config *cfg)
{
	struct config_serve *sv = &cfg->serve;
	char a[32], b[32];

	if (!sv->present) {
		cfg_report(s, "",
		           "%s: [serve]: section is missing; `mirror-agent "
		           "serve` needs it",
		           cfg_path(cfg));
		return;
	}
	require(s, cfg, SEC_SERVE, 0, "listen", " (host:port to listen on)");
	check_windows(s, cfg, SEC_SERVE, sv->connection_window,
	              sv->stream_window);
	if (pair_good(cfg, SEC_SERVE, "max_unacked_bytes", "chunk_size") &&
	    sv->chunk_size > sv->max_unacked_bytes) {
		parse_format_size(sv->chunk_size, a, sizeof a);
		parse_format_size(sv->max_unacked_bytes, b, sizeof b);
		cfg_report_at(s, cfg,
		              pair_line(cfg, SEC_SERVE, 0, "max_unacked_bytes",
		                        "chunk_size"),
		              SEC_SERVE, 0, "chunk_size",
		              "%s is larger than max_unacked_bytes %s", a, b);
	}
	if (pair_good(cfg, SEC_SERVE, "idle_timeout", "heartbeat_interval") &&
	    sv->heartbeat_interval_ms * 2 > sv->idle_timeout_ms) {
		parse_format_duration(sv->heartbeat_interval_ms, a, sizeof a);
		parse_format_duration(sv->idle_timeout_ms, b, sizeof b);
		cfg_report_at(s, cfg,
		              pair_line(cfg, SEC_SERVE, 0, "idle_timeout",
		                        "heartbeat_interval"),
		              SEC_SERVE, 0, "heartbeat_interval",
		              "%s is more than half of idle_timeout %s: idle "
		              "mirrors would time out between heartbeats",
		              a, b);
	}
	for (size_t i = 0; i < cfg->n_databases; i++)
		require(s, cfg, SEC_DATABASE, i, "spool",
		        " (`serve` reads the tap's spool directory)");
	check_distinct_dirs(s, cfg, "spool", true);
	if (cfg->n_access == 0)
		cfg_report(
		    s, "",
		    "%s: no [access \"IDENTITY\"] section: no mirror could "
		    "read anything",
		    cfg_path(cfg));
	for (size_t i = 0; i < cfg->n_access; i++) {
		struct config_access *ac = &cfg->access[i];
		/* "*" would let every certificate of the CA read: serve
		 * takes it only in tests (config_access_grant_allows). */
		if (strcmp(ac->identity, "*") == 0)
			cfg_report_at(s, cfg, ac->origin.section_line,
			              SEC_ACCESS, i, NULL,
			              "identity \"*\" (any client) is only "
			              "accepted in tests: name each mirror's "
			              "certificate identity");
		require(s, cfg, SEC_ACCESS, i, "databases", "");
		for (size_t j = 0; j < ac->databases.n; j++) {
			const char *name = ac->databases.v[j];
			if (strcmp(name, "*") == 0 ||
			    cfg_find_database(cfg, name) >= 0)
				continue;
			cfg_report_at(
			    s, cfg,
			    cfg_key_line(cfg, SEC_ACCESS, i, "databases"),
			    SEC_ACCESS, i, "databases",
			    "\"%s\": no [database \"%s\"] section", name, name);
		}
	}
}

static int validate_follow(struct sink *s, struct agent_config *cfg)
{
	struct config_follow *f = &cfg->follow;
	char a[32], b[32];

	if (!f->present) {
		cfg_report(s, "",
		           "%s: [follow]: section is missing; `mirror-agent "
		           "follow` needs it",
		           cfg_path(cfg));
		return 0;
	}
	require(s, cfg, SEC_FOLLOW, 0, "sources",
	        " (host:port of one or more source nodes)");
	if (pair_good(cfg, SEC_FOLLOW, "backoff_min", "backoff_max") &&
	    f->backoff_min_ms > f->backoff_max_ms) {
		parse_format_duration(f->backoff_min_ms, a, sizeof a);
		parse_format_duration(f->backoff_max_ms, b, sizeof b);
		cfg_report_at(
		    s, cfg,
		    pair_line(cfg, SEC_FOLLOW, 0, "backoff_min", "backoff_max"),
		    SEC_FOLLOW, 0, "backoff_max",
		    "%s is smaller than backoff_min %s", b, a);
	}
	if (pair_good(cfg, SEC_FOLLOW, "idle_timeout", "keepalive") &&
	    f->keepalive_ms != 0 && f->keepalive_ms >= f->idle_timeout_ms) {
		parse_format_duration(f->keepalive_ms, a, sizeof a);
		parse_format_duration(f->idle_timeout_ms, b, sizeof b);
		cfg_report_at(
		    s, cfg,
		    pair_line(cfg, SEC_FOLLOW, 0, "idle_timeout", "keepalive"),
		    SEC_FOLLOW, 0, "keepalive",
		    "%s is not below idle_timeout %s: the connection "
		    "would time out before a keep-alive",
		    a, b);
	}
	check_windows(s, cfg, SEC_FOLLOW, f->connection_window,
	              f->stream_window);
	for (size_t i = 0; i < cfg->n_databases; i++) {
		struct config_database *db = &cfg->databases[i];
		char path[PATH_MAX];
		if (db->directory != NULL ||
		    !cfg_key_good(cfg, SEC_DATABASE, i, "directory"))
			continue;
		if (cfg->agent.data_dir == NULL ||
		    io_path_join(path, sizeof path, cfg->agent.data_dir,
		                 db->name) != 0) {
			cfg_report_at(s, cfg, db->origin.section_line,
			              SEC_DATABASE, i, "directory",
			              "data_dir/%s is too long a path; set "
			              "directory",
			              db->name);
			continue;
		}
		db->directory = strdup(path);
		if (db->directory == NULL)
			return MA_ERR_NOMEM;
	}
	check_distinct_dirs(s, cfg, "directory", false);
	return 0;
}

int config_validate_role(struct agent_config *cfg, unsigned roles,
                         struct config_errors *errs)
{
	struct sink sink = {errs, NULL, 0, false};
	int rc = 0;

	require(&sink, cfg, SEC_TLS, 0, "ca_file",
	        roles & CONFIG_ROLE_SERVE
	            ? " (CA that signs the mirrors' client certificates)"
	            : " (CA that signs the source's certificate)");
	require(&sink, cfg, SEC_TLS, 0, "cert_file", "");
	require(&sink, cfg, SEC_TLS, 0, "key_file", "");
	if (cfg->n_databases == 0)
		cfg_report(&sink, "",
		           "%s: no [database \"NAME\"] section: nothing "
		           "to %s",
		           cfg_path(cfg),
		           roles & CONFIG_ROLE_SERVE ? "serve" : "mirror");
	if (roles & CONFIG_ROLE_SERVE)
		validate_serve(&sink, cfg);
	if (roles & CONFIG_ROLE_FOLLOW)
		rc = validate_follow(&sink, cfg);
	if (rc != 0)
		return rc;
	return sink.n > 0 ? MA_ERR_CONFIG : 0;
}
