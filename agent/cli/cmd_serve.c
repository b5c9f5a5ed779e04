/* mirror-agent serve: options (agent/cli/cli.h: every flag is a
 * configuration key), the libevent loop and signal handling around
 * agent/serve/serve.h. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "build-config.h" /* MA_FAULT_INJECTION */

#include "agent/cli/cli.h"
#include "agent/cli/commands.h"
#include "agent/cli/notify.h"
#include "agent/config/config.h"
#include "agent/serve/serve.h"
#include "agent/serve/serve_metrics.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "spool/spool.h"
#include "transport/transport_cert.h"
#include "wal/wal.h"

/* ---- warming the wal index cache off the loop ----
 *
 * A log request into a sealed segment that no reader of this process has
 * opened yet indexes it (reads and checks every record) on the event
 * loop. serve's tail reader indexes the segments written while it runs;
 * this thread indexes those already sealed at start-up, once, so that no
 * log request scans a whole segment on the loop (wal.h,
 * wal_reader_index_sealed). A request that comes first scans as before. */
struct warm {
	pthread_t thread;
	bool started;
	atomic_bool stop;
	size_t n;
	char **names, **dirs;
};

static void *warm_main(void *arg)
{
	struct warm *w = arg;

	for (size_t i = 0; i < w->n && !atomic_load(&w->stop); i++) {
		char errmsg[MA_ERRMSG_SIZE];
		struct wal_reader *r;
		size_t segs = 0;
		uint64_t t0 = clock_mono_ms();
		int rc = wal_reader_open(w->dirs[i], NULL, &r, errmsg);

		if (rc == 0) {
			rc =
			    wal_reader_index_sealed(r, &w->stop, &segs, errmsg);
			wal_reader_close(r);
		}
		if (rc != 0)
			log_warn("serve: %s: cannot index the sealed wal "
			         "segments ahead of the first log request "
			         "(each will be indexed by the request that "
			         "needs it): %s",
			         w->names[i], errmsg);
		else if (segs > 0)
			log_info("serve: %s: indexed %zu sealed wal segment(s) "
			         "off the event loop in %" PRIu64 " ms",
			         w->names[i], segs, clock_mono_ms() - t0);
	}
	return NULL;
}

static void warm_free(struct warm *w)
{
	if (w->started) {
		atomic_store(&w->stop, true);
		pthread_join(w->thread, NULL);
		w->started = false;
	}
	for (size_t i = 0; i < w->n; i++) {
		free(w->names != NULL ? w->names[i] : NULL);
		free(w->dirs != NULL ? w->dirs[i] : NULL);
	}
	free(w->names);
	free(w->dirs);
	w->names = w->dirs = NULL;
	w->n = 0;
}

/* Starts the thread over the configured spools; on any failure it logs
 * and carries on without (the requests then index as before). */
static void warm_start(struct warm *w, const struct agent_config *cfg)
{
	char path[PATH_MAX];

	atomic_init(&w->stop, false);
	w->names = calloc(cfg->n_databases + 1, sizeof *w->names);
	w->dirs = calloc(cfg->n_databases + 1, sizeof *w->dirs);
	if (w->names == NULL || w->dirs == NULL)
		goto fail;
	for (size_t i = 0; i < cfg->n_databases; i++) {
		if (spool_path(path, sizeof path, cfg->databases[i].spool,
		               SPOOL_WAL_DIR) != 0)
			goto fail;
		w->names[i] = strdup(cfg->databases[i].name);
		w->dirs[i] = strdup(path);
		w->n = i + 1;
		if (w->names[i] == NULL || w->dirs[i] == NULL)
			goto fail;
	}
	if (pthread_create(&w->thread, NULL, warm_main, w) != 0)
		goto fail;
	w->started = true;
	return;
fail:
	log_warn("serve: cannot start indexing the sealed wal segments "
	         "ahead of the first log request (out of memory or "
	         "threads); each will be indexed by the request that "
	         "needs it");
	warm_free(w);
}

enum {
	OPT_DATABASE = CLI_OPT_CUSTOM,
	OPT_ALLOW,
	OPT_PORT_FILE,
	OPT_ALLOW_ANY,
	OPT_INJECT_FAULT,
	OPT_METRICS_PORT_FILE,
};

static const struct cli_opt serve_opts[] = {
    CLI_OPTS_CONFIG,
    {"listen", "HOST:PORT", CLI_OPT_KEY, "serve.listen",
     "numeric address (IPv6 as [ADDR]:PORT); port 0: any free port"},
    {"cert", "FILE", CLI_OPT_KEY, "tls.cert_file",
     "server certificate chain (PEM)"},
    {"key", "FILE", CLI_OPT_KEY, "tls.key_file", "its private key (PEM)"},
    {"client-ca", "FILE", CLI_OPT_KEY, "tls.ca_file",
     "CA that client certificates must chain to"},
    {"database", "NAME=DIR", OPT_DATABASE, NULL,
     "serve spool DIR as database NAME (repeatable; [database \"NAME\"] "
     "spool)"},
    {"allow", "ID=DB,...", OPT_ALLOW, NULL,
     "client identity ID may read these databases, '*' = all "
     "([access \"ID\"] databases)"},
    {"chunk-size", "BYTES", CLI_OPT_KEY, "serve.chunk_size",
     "snapshot chunk size"},
    {"heartbeat-ms", "DURATION", CLI_OPT_KEY, "serve.heartbeat_interval",
     "log-stream heartbeat interval (a bare number is ms)"},
    {"log-batch", "BYTES", CLI_OPT_KEY, "serve.log_batch",
     "log bytes per transport write"},
    {"max-unacked", "BYTES", CLI_OPT_KEY, "serve.max_unacked_bytes",
     "unacknowledged bytes per stream"},
    {"max-connections", "N", CLI_OPT_KEY, "serve.max_connections",
     "concurrent connections"},
    {"max-streams", "N", CLI_OPT_KEY, "serve.max_streams_per_connection",
     "concurrent requests per connection"},
    {"max-handshakes", "N", CLI_OPT_KEY, "serve.max_handshakes",
     "TLS handshakes in progress at once"},
    {"max-handshakes-per-address", "N", CLI_OPT_KEY,
     "serve.max_handshakes_per_address",
     "TLS handshakes in progress from one client address"},
    {"handshake-timeout-ms", "DURATION", CLI_OPT_KEY, "serve.handshake_timeout",
     "drop a handshake not completed this soon (a bare number is ms)"},
    {"idle-timeout-ms", "DURATION", CLI_OPT_KEY, "serve.idle_timeout",
     "close a silent connection after this long (a bare number is ms)"},
    {"max-data", "BYTES", CLI_OPT_KEY, "serve.connection_window",
     "QUIC connection flow-control window"},
    {"max-stream-data", "BYTES", CLI_OPT_KEY, "serve.stream_window",
     "QUIC stream flow-control window"},
    {"cc", "ALGORITHM", CLI_OPT_KEY, "serve.congestion_control",
     "congestion control"},
    {"compression-level", "N", CLI_OPT_KEY, "serve.snapshot_compression_level",
     "zstd level of snapshot chunks for mirrors that ask (0: off)"},
    {"log-file", "PATH", CLI_OPT_KEY, "agent.log_file",
     "log here (reopened on SIGHUP) instead of stderr"},
    {"log-level", "LEVEL", CLI_OPT_KEY, "agent.log_level", "log level"},
    {"port-file", "PATH", OPT_PORT_FILE, NULL,
     "write the bound port to PATH (for tests and scripts)"},
    {"metrics-listen", "HOST:PORT", CLI_OPT_KEY, "serve.metrics_listen",
     "serve /metrics and /status over HTTP here (loopback unless "
     "[serve] metrics_token_sha256 is set); port 0: any free port"},
    {"metrics-port-file", "PATH", OPT_METRICS_PORT_FILE, NULL,
     "write the metrics listener's port to PATH (for tests and scripts)"},
    {"allow-any-identity", NULL, OPT_ALLOW_ANY, NULL,
     "accept --allow '*=...' (tests only)"},
#ifdef MA_FAULT_INJECTION
    {"inject-fault", "FAULT", OPT_INJECT_FAULT, NULL,
     "damage snapshot streams on purpose (test builds): chunk-crc, "
     "offset-gap, total-crc, oversize-frame, malformed, oversize-field, "
     "zstd-crc, zstd-frame (with compression)"},
#endif
    {NULL, NULL, 0, NULL, NULL},
};

const struct cli_command cmd_serve_cli = {
    "serve",
    "serve [--config FILE] [--set SECTION.KEY=VALUE]... [options]\n"
    "       mirror-agent serve --listen HOST:PORT --cert FILE --key FILE "
    "--client-ca FILE\n"
    "           --database NAME=SPOOLDIR ... --allow IDENTITY=DB,... "
    "[options]",
    "Serves the spools of a source node to mirrors over QUIC (mutual TLS).\n"
    "Every option sets the configuration key shown under it, with the "
    "same checks\nas the file (etc/mirror-agent-serve.conf.example); "
    "options override the file.\n",
    serve_opts,
    0,
    0,
};

struct serve_cli {
	struct serve_options opts;
	struct serve_database *dbs;
	struct serve_grant *grants;
	size_t ngrants;
	const char *port_file;
	const char *metrics_port_file;
	bool allow_any_identity; /* options of their own, not keys */
	enum serve_fault fault;
	struct agent_config cfg; /* owns every string opts points to */
};

/* The options that are not configuration keys, and the two that name a
 * section (NAME=VALUE). */
static int serve_custom(void *ctx, struct agent_config *cfg,
                        const struct cli_item *it)
{
	struct serve_cli *cli = ctx;
	const char *v = it->value, *eq;
	char key[CONFIG_IDENTITY_MAX + 32];

	switch (it->opt->id) {
	case OPT_DATABASE:
		/* Database names never hold '=': split at the first. */
		eq = strchr(v, '=');
		if (eq == NULL || eq == v || eq[1] == '\0' ||
		    (size_t)(eq - v) > CONFIG_DATABASE_NAME_MAX)
			return cli_usage_error(&cmd_serve_cli,
			                       "--database %s: expected "
			                       "NAME=SPOOLDIR",
			                       v);
		snprintf(key, sizeof key, "database.%.*s.spool", (int)(eq - v),
		         v);
		return cli_set(&cmd_serve_cli, cfg, "database", key, eq + 1);
	case OPT_ALLOW:
		/* An identity may hold '=' (URIs), database names never
		 * do: split at the last. */
		eq = strrchr(v, '=');
		if (eq == NULL || eq == v || eq[1] == '\0' ||
		    (size_t)(eq - v) > CONFIG_IDENTITY_MAX)
			return cli_usage_error(&cmd_serve_cli,
			                       "--allow %s: expected "
			                       "IDENTITY=DB1,DB2,...",
			                       v);
		snprintf(key, sizeof key, "access.%.*s.databases",
		         (int)(eq - v), v);
		return cli_set(&cmd_serve_cli, cfg, "allow", key, eq + 1);
	case OPT_PORT_FILE:
		cli->port_file = v;
		return 0;
	case OPT_ALLOW_ANY:
		cli->allow_any_identity = true;
		return 0;
	case OPT_METRICS_PORT_FILE:
		cli->metrics_port_file = v;
		return 0;
#ifdef MA_FAULT_INJECTION
	case OPT_INJECT_FAULT:
		if (serve_fault_parse(v, &cli->fault) != 0)
			return cli_usage_error(&cmd_serve_cli,
			                       "--inject-fault: unknown fault "
			                       "'%s'",
			                       v);
		return 0;
#endif
	default:
		return 0;
	}
}

static void cli_free(struct serve_cli *cli)
{
	for (size_t i = 0; i < cli->ngrants; i++)
		free((void *)cli->grants[i].databases);
	free(cli->grants);
	free(cli->dbs);
	config_free(&cli->cfg);
}

/* Points opts at the checked configuration: the listen address, TLS
 * files, databases and grants (the numbers come through
 * serve_options_init()). Returns 0 or CLI_EXIT_FAILURE (no memory). */
static int map_config(struct serve_cli *cli)
{
	const struct agent_config *cfg = &cli->cfg;

	serve_options_init(&cli->opts, &cfg->serve);
	cli->opts.listen_addr = cfg->serve.listen.host;
	cli->opts.port = cfg->serve.listen.port;
	cli->opts.cert_file = cfg->tls.cert_file;
	cli->opts.key_file = cfg->tls.key_file;
	cli->opts.client_ca_file = cfg->tls.ca_file;
	cli->dbs = calloc(cfg->n_databases, sizeof *cli->dbs);
	cli->grants = calloc(cfg->n_access, sizeof *cli->grants);
	if ((cli->dbs == NULL && cfg->n_databases > 0) ||
	    (cli->grants == NULL && cfg->n_access > 0))
		return CLI_EXIT_FAILURE;
	for (size_t i = 0; i < cfg->n_databases; i++) {
		cli->dbs[i].name = cfg->databases[i].name;
		cli->dbs[i].spool_dir = cfg->databases[i].spool;
	}
	for (size_t i = 0; i < cfg->n_access; i++) {
		const struct config_access *ac = &cfg->access[i];
		const char **dbs = calloc(ac->databases.n, sizeof *dbs);
		if (dbs == NULL)
			return CLI_EXIT_FAILURE;
		for (size_t k = 0; k < ac->databases.n; k++)
			dbs[k] = ac->databases.v[k];
		cli->grants[i].identity = ac->identity;
		cli->grants[i].databases = dbs;
		cli->grants[i].ndatabases = ac->databases.n;
		cli->ngrants = i + 1;
	}
	cli->opts.databases = cli->dbs;
	cli->opts.ndatabases = cfg->n_databases;
	cli->opts.grants = cli->grants;
	cli->opts.ngrants = cli->ngrants;
	return 0;
}

/* Parses the command line into cli. Returns 0, -1 (help printed) or an
 * exit status (errors printed). */
static int parse_args(struct serve_cli *cli, int argc, char **argv, FILE *errf)
{
	struct cli_args a;
	struct config_errors *errs;
	int rc;

	rc = cli_parse(&cmd_serve_cli, argc, argv, &a);
	if (rc != 0)
		return rc;
	rc = cli_config(&cmd_serve_cli, &a, &cli->cfg, serve_custom, cli);
	cli_args_free(&a);
	if (rc != 0)
		return rc;
	/* `serve` is the role: its flags make up a [serve] section. */
	cli->cfg.serve.present = true;
	errs = malloc(sizeof *errs);
	if (errs == NULL)
		return CLI_EXIT_FAILURE;
	config_errors_init(errs);
	if (config_validate_role(&cli->cfg, CONFIG_ROLE_SERVE, errs) != 0) {
		config_errors_print(errs, errf);
		fprintf(errf, "(mirror-agent serve --help for usage)\n");
		free(errs);
		return CLI_EXIT_USAGE;
	}
	free(errs);
	if (map_config(cli) != 0) {
		fprintf(errf, "mirror-agent serve: out of memory\n");
		return CLI_EXIT_FAILURE;
	}
	cli->opts.allow_any_identity = cli->allow_any_identity;
	cli->opts.fault = cli->fault;
	return 0;
}

struct loop_ctx {
	struct event_base *base;
	const char *log_file;
	int stop_signal;
	int argc;
	char **argv;
	struct serve *sv; /* also for systemd's STATUS= */
	size_t ndb;
	struct notify_timer *notify; /* STATUS= and the watchdog */
	/* The configuration running now: the start-up one (not ours to
	 * free) or the last one SIGHUP applied (heap). */
	struct serve_cli *cur;
	bool cur_heap;
};

/* systemd's STATUS= line. */
static void serve_status_line(void *arg, char *buf, size_t size)
{
	struct loop_ctx *ctx = arg;

	snprintf(buf, size,
	         "serving %zu database(s) on UDP port %u, %u open "
	         "request(s)",
	         ctx->ndb, (unsigned)serve_port(ctx->sv),
	         serve_streams(ctx->sv));
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct loop_ctx *ctx = arg;

	(void)what;
	ctx->stop_signal = (int)sig;
	event_base_loopbreak(ctx->base);
}

/* Logs what a reload cannot apply: every [serve], [tls] and [database]
 * setting the new configuration changes (they shape the listening socket,
 * the TLS context and the open spools). Returns how many. */
static unsigned report_unapplied(const struct serve_cli *a,
                                 const struct serve_cli *b)
{
	const struct serve_options *x = &a->opts, *y = &b->opts;
	unsigned n = 0;
#define NUM(field, key)                                                        \
	do {                                                                   \
		if (x->field != y->field) {                                    \
			log_warn(                                              \
			    "serve: SIGHUP: %s changed; restart serve to "     \
			    "apply it",                                        \
			    key);                                              \
			n++;                                                   \
		}                                                              \
	} while (0)
#define STR(sa, sb, key)                                                       \
	do {                                                                   \
		if (((sa) == NULL) != ((sb) == NULL) ||                        \
		    ((sa) != NULL && strcmp((sa), (sb)) != 0)) {               \
			log_warn(                                              \
			    "serve: SIGHUP: %s changed; restart serve to "     \
			    "apply it",                                        \
			    key);                                              \
			n++;                                                   \
		}                                                              \
	} while (0)

	STR(x->listen_addr, y->listen_addr, "[serve] listen");
	NUM(port, "[serve] listen (port)");
	NUM(chunk_size, "[serve] chunk_size");
	NUM(heartbeat_ms, "[serve] heartbeat_interval");
	NUM(log_batch_bytes, "[serve] log_batch");
	NUM(max_unacked, "[serve] max_unacked_bytes");
	NUM(max_connections, "[serve] max_connections");
	NUM(max_streams, "[serve] max_streams_per_connection");
	NUM(tuning.idle_timeout_ms, "[serve] idle_timeout");
	NUM(tuning.max_data, "[serve] connection_window");
	NUM(tuning.max_stream_data, "[serve] stream_window");
	NUM(tuning.cc, "[serve] congestion_control");
	NUM(max_streams_per_identity, "[serve] max_streams_per_identity");
	NUM(max_snapshot_streams_per_identity,
	    "[serve] max_snapshot_streams_per_identity");
	NUM(snapshot_lease_ms, "[serve] snapshot_lease");
	NUM(max_handshakes, "[serve] max_handshakes");
	NUM(max_handshakes_per_addr, "[serve] max_handshakes_per_address");
	NUM(handshake_timeout_ms, "[serve] handshake_timeout");
	NUM(compression_level, "[serve] snapshot_compression_level");
	STR(a->cfg.serve.metrics_listen.host, b->cfg.serve.metrics_listen.host,
	    "[serve] metrics_listen");
	if (a->cfg.serve.metrics_listen.port !=
	    b->cfg.serve.metrics_listen.port) {
		log_warn(
		    "serve: SIGHUP: [serve] metrics_listen (port) changed; "
		    "restart serve to apply it");
		n++;
	}
	STR(a->cfg.serve.metrics_token_sha256,
	    b->cfg.serve.metrics_token_sha256, "[serve] metrics_token_sha256");
	STR(a->cfg.agent.log_file, b->cfg.agent.log_file, "[agent] log_file");
	if (x->ndatabases != y->ndatabases) {
		log_warn("serve: SIGHUP: the [database] sections changed (%zu "
		         "then, %zu now); restart serve to apply them",
		         x->ndatabases, y->ndatabases);
		n++;
	} else {
		for (size_t i = 0; i < x->ndatabases; i++) {
			STR(x->databases[i].name, y->databases[i].name,
			    "a [database] section's name");
			STR(x->databases[i].spool_dir,
			    y->databases[i].spool_dir, "a [database] spool");
		}
	}
#undef NUM
#undef STR
	return n;
}

/* Checks the [tls] files of c as check-config does (X.509 v3, the key is
 * the certificate's, signed by the CA, within its dates, EKU serverAuth)
 * and, when they pass, makes serve use them for new handshakes. Logs each
 * problem; returns true when the new files are in use. */
static bool reload_tls(struct loop_ctx *ctx, const struct serve_cli *c)
{
	struct transport_cert_report *rep = calloc(1, sizeof *rep);
	char why[MA_ERRMSG_SIZE];
	int rc;

	if (rep == NULL) {
		log_error("serve: SIGHUP: out of memory; certificates not "
		          "reloaded (still serving the previous ones)");
		return false;
	}
	rc = transport_cert_check(c->opts.cert_file, c->opts.key_file,
	                          c->opts.client_ca_file, TRANSPORT_CERT_SERVER,
	                          rep, why);
	if (rc != 0 || rep->nproblems > 0) {
		if (rc != 0)
			log_error("serve: SIGHUP: certificate refused: %s",
			          why);
		for (unsigned i = 0; rc == 0 && i < rep->nproblems; i++)
			log_error("serve: SIGHUP: certificate refused: %s",
			          rep->problems[i]);
		log_error("serve: SIGHUP: the new certificate files were NOT "
		          "applied: still serving the previous certificate, "
		          "key and CA; fix the files (mirror-agent "
		          "check-config shows the same checks) and send "
		          "SIGHUP again");
		free(rep);
		return false;
	}
	rc = serve_reload_tls(ctx->sv, c->opts.cert_file, c->opts.key_file,
	                      c->opts.client_ca_file, why);
	if (rc != 0) {
		log_error("serve: SIGHUP: certificate refused: %s; still "
		          "serving the previous certificate, key and CA",
		          why);
		free(rep);
		return false;
	}
	log_info("serve: SIGHUP: certificates reloaded: %s (subject %s, "
	         "valid until %s), key %s, client CA %s: new handshakes use "
	         "them, established connections keep theirs",
	         c->opts.cert_file, rep->subject, rep->not_after,
	         c->opts.key_file, c->opts.client_ca_file);
	free(rep);
	return true;
}

/* SIGHUP: reopens the log file, then reads the configuration again (the
 * same command line, so the same file) and applies what can change
 * without dropping mirrors: [access] (serve_set_grants: connections stay,
 * withdrawn grants end their streams), [agent] log_level and the [tls]
 * files (reload_tls: checked first; new handshakes use them, established
 * connections keep theirs; refused files leave the previous ones in use).
 * Everything else is named in the log as needing a restart. A
 * configuration with errors is not applied at all. */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct loop_ctx *ctx = arg;
	struct serve_cli *next;
	char why[MA_ERRMSG_SIZE], *text = NULL;
	size_t text_len = 0;
	unsigned revoked = 0, unapplied;
	bool tls_ok;
	FILE *errf;
	int rc;

	(void)sig;
	(void)what;
	if (ctx->log_file != NULL) {
		rc = log_open(ctx->log_file, why);
		if (rc != 0)
			log_error("serve: %s", why);
		else
			log_info("serve: log file reopened");
	}
	next = calloc(1, sizeof *next);
	errf = open_memstream(&text, &text_len);
	if (next == NULL || errf == NULL) {
		log_error("serve: SIGHUP: out of memory; configuration not "
		          "reloaded");
		if (errf != NULL)
			fclose(errf);
		free(text);
		free(next);
		return;
	}
	rc = parse_args(next, ctx->argc, ctx->argv, errf);
	fclose(errf);
	if (rc != 0) {
		char *line, *save = NULL;

		for (line = strtok_r(text, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save))
			log_error("serve: SIGHUP: %s", line);
		log_error("serve: SIGHUP: the configuration has errors (above);"
		          " still running with the previous one");
		free(text);
		cli_free(next);
		free(next);
		return;
	}
	free(text);
	unapplied = report_unapplied(ctx->cur, next);
	rc = serve_set_grants(ctx->sv, next->opts.grants, next->opts.ngrants,
	                      next->opts.allow_any_identity, &revoked, why);
	if (rc != 0) {
		log_error("serve: SIGHUP: [access]: %s; still running with the "
		          "previous grants",
		          why);
		cli_free(next);
		free(next);
		return;
	}
	if (next->cfg.agent.log_level != ctx->cur->cfg.agent.log_level)
		log_set_level((enum log_level)next->cfg.agent.log_level);
	tls_ok = reload_tls(ctx, next);
	log_info("serve: SIGHUP: configuration reloaded: %zu [access] "
	         "grant(s) applied (%u stream(s) ended whose grant was "
	         "withdrawn), log level applied, certificates %s; %u "
	         "setting(s) need a restart",
	         next->opts.ngrants, revoked,
	         tls_ok ? "reloaded" : "NOT reloaded (see above)", unapplied);
	if (ctx->cur_heap) {
		cli_free(ctx->cur);
		free(ctx->cur);
	}
	ctx->cur = next;
	ctx->cur_heap = true;
}

int cmd_serve(int argc, char **argv)
{
	struct serve_cli cli;
	struct loop_ctx ctx;
	struct event *ev_term = NULL, *ev_int = NULL, *ev_hup = NULL;
	struct serve *sv = NULL;
	struct serve_metrics *metrics = NULL;
	struct warm warm = {0};
	char errmsg[MA_ERRMSG_SIZE], text[32];
	const char *log_file;
	bool pid_written = false;
	int rc, status = 1;

	memset(&cli, 0, sizeof cli);
	rc = parse_args(&cli, argc, argv, stderr);
	if (rc != 0) {
		cli_free(&cli);
		return rc < 0 ? CLI_EXIT_OK : rc;
	}
	log_file = cli.cfg.agent.log_file;
	log_set_level((enum log_level)cli.cfg.agent.log_level);
	log_set_format((enum log_format)cli.cfg.agent.log_format);
	if (log_file != NULL) {
		rc = log_open(log_file, errmsg);
		if (rc != 0) {
			fprintf(stderr,
			        "mirror-agent serve: [agent] log_file: %s\n",
			        errmsg);
			cli_free(&cli);
			return CLI_EXIT_USAGE;
		}
	}
	memset(&ctx, 0, sizeof ctx);
	ctx.log_file = log_file;
	ctx.argc = argc;
	ctx.argv = argv;
	ctx.cur = &cli;
	ctx.base = event_base_new();
	if (ctx.base == NULL) {
		log_error("serve: cannot create the event loop");
		goto out;
	}
	rc = serve_new(ctx.base, &cli.opts, &sv, errmsg);
	if (rc != 0) {
		/* Also on stderr when the log goes to a file, so that a
		 * start-up failure is seen by whoever started us. */
		log_error("serve: %s", errmsg);
		if (log_file != NULL)
			fprintf(stderr, "mirror-agent serve: %s\n", errmsg);
		status = rc == MA_ERR_CONFIG || rc == MA_ERR_IDENTITY ? 2 : 1;
		goto out;
	}
	if (cli.port_file != NULL) {
		snprintf(text, sizeof text, "%u\n", (unsigned)serve_port(sv));
		rc = cli_write_file(cli.port_file, text, errmsg);
		if (rc != 0) {
			log_error("serve: --port-file: %s", errmsg);
			goto out;
		}
	}
	if (cli.cfg.serve.metrics_listen.host[0] != '\0') {
		struct serve_metrics_options mo = {
		    .host = cli.cfg.serve.metrics_listen.host,
		    .port = cli.cfg.serve.metrics_listen.port,
		    .token_sha256 = cli.cfg.serve.metrics_token_sha256};

		rc = serve_metrics_new(ctx.base, sv, &mo, &metrics, errmsg);
		if (rc != 0) {
			log_error("serve: %s", errmsg);
			if (log_file != NULL)
				fprintf(stderr, "mirror-agent serve: %s\n",
				        errmsg);
			status = rc == MA_ERR_CONFIG ? 2 : 1;
			goto out;
		}
		if (cli.metrics_port_file != NULL) {
			snprintf(text, sizeof text, "%u\n",
			         (unsigned)serve_metrics_port(metrics));
			rc =
			    cli_write_file(cli.metrics_port_file, text, errmsg);
			if (rc != 0) {
				log_error("serve: --metrics-port-file: %s",
				          errmsg);
				goto out;
			}
		}
	} else if (cli.metrics_port_file != NULL) {
		log_error("serve: --metrics-port-file needs --metrics-listen "
		          "or [serve] metrics_listen");
		status = 2;
		goto out;
	}
	if (cli.cfg.agent.pid_file != NULL) {
		snprintf(text, sizeof text, "%ld\n", (long)getpid());
		rc = cli_write_file(cli.cfg.agent.pid_file, text, errmsg);
		if (rc != 0) {
			log_error("serve: [agent] pid_file: %s", errmsg);
			goto out;
		}
		pid_written = true;
	}
	ctx.sv = sv;
	ev_term = evsignal_new(ctx.base, SIGTERM, on_stop, &ctx);
	ev_int = evsignal_new(ctx.base, SIGINT, on_stop, &ctx);
	ev_hup = evsignal_new(ctx.base, SIGHUP, on_hup, &ctx);
	if (ev_term == NULL || ev_int == NULL || ev_hup == NULL ||
	    event_add(ev_term, NULL) != 0 || event_add(ev_int, NULL) != 0 ||
	    event_add(ev_hup, NULL) != 0) {
		log_error("serve: cannot install signal handlers");
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	warm_start(&warm, &cli.cfg);
	log_info("serve: ready on port %u", (unsigned)serve_port(sv));
	/* Listening: ready (Type=notify). */
	ctx.sv = sv;
	ctx.ndb = cli.cfg.n_databases;
	ctx.notify = notify_timer_new(ctx.base, serve_status_line, &ctx);
	if (notify_send("READY=1", errmsg) != 0)
		log_warn("%s", errmsg);
	if (event_base_dispatch(ctx.base) < 0) {
		log_error("serve: event loop failed");
		goto out;
	}
	log_info("serve: stopping on signal %d", ctx.stop_signal);
	status = 0;

out:
	if (ctx.notify != NULL)
		notify_send("STOPPING=1", NULL);
	notify_timer_free(ctx.notify);
	warm_free(&warm);
	serve_metrics_free(metrics);
	serve_free(sv);
	if (cli.port_file != NULL && sv != NULL)
		unlink(cli.port_file);
	if (cli.metrics_port_file != NULL && metrics != NULL)
		unlink(cli.metrics_port_file);
	if (pid_written)
		unlink(cli.cfg.agent.pid_file);
	if (ev_term != NULL)
		event_free(ev_term);
	if (ev_int != NULL)
		event_free(ev_int);
	if (ev_hup != NULL)
		event_free(ev_hup);
	if (ctx.base != NULL)
		event_base_free(ctx.base);
	if (ctx.cur_heap) {
		cli_free(ctx.cur);
		free(ctx.cur);
	}
	cli_free(&cli);
	return status;
}
