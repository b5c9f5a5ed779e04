/* mirror-agent serve: command-line parsing, the libevent loop and signal
 * handling around agent/serve/serve.h. The options struct is filled here from
 * flags only; the configuration file maps onto the same struct. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "build-config.h" /* MA_FAULT_INJECTION */

#include "agent/cli/commands.h"
#include "agent/config/config.h"
#include "agent/serve/serve.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "snapshot/snapshot.h"

#define SERVE_USAGE                                                            \
	"usage: mirror-agent serve --config FILE [options]\n"                  \
	"       mirror-agent serve --listen HOST:PORT --cert FILE --key "      \
	"FILE\n"                                                               \
	"           --client-ca FILE --database NAME=SPOOLDIR ...\n"           \
	"           --allow IDENTITY=DB1,DB2 ... [options]\n"                  \
	"\n"                                                                   \
	"  --config FILE           configuration (etc/mirror-agent-serve."     \
	"conf.example);\n"                                                     \
	"                          the flags below override it\n"              \
	"  --listen HOST:PORT      numeric address (IPv6 as [ADDR]:PORT); "    \
	"port 0 = any\n"                                                       \
	"  --cert, --key FILE      server certificate chain and key (PEM)\n"   \
	"  --client-ca FILE        CA that client certificates must chain "    \
	"to\n"                                                                 \
	"  --database NAME=DIR     serve spool DIR as database NAME "          \
	"(repeatable)\n"                                                       \
	"  --allow ID=DB,...       client identity ID may read these "         \
	"databases\n"                                                          \
	"                          (repeatable; DB '*' = every database)\n"    \
	"  --chunk-size BYTES      snapshot chunk size [%uK] (suffix K, M)\n"  \
	"  --heartbeat-ms N        log-stream heartbeat interval [1000]\n"     \
	"  --log-batch BYTES       log bytes per transport write [256K]\n"     \
	"  --max-unacked BYTES     unacknowledged bytes per stream [4M]\n"     \
	"  --max-connections N     [64]    --max-streams N  per connection "   \
	"[100]\n"                                                              \
	"  --idle-timeout-ms N     [30000] --cc cubic|reno|bbr|bbr2 [cubic]\n" \
	"  --max-data BYTES        connection window [16M]\n"                  \
	"  --max-stream-data BYTES stream window [16M]\n"                      \
	"  --port-file PATH        write the bound port to PATH\n"             \
	"  --log-file PATH         log here (reopened on SIGHUP) instead of "  \
	"stderr\n"                                                             \
	"  --log-level LEVEL       debug, info, warn or error [info]\n"        \
	"  --allow-any-identity    accept --allow '*=...' (tests only)\n"

struct serve_cli {
	struct serve_options opts;
	char listen_host[INET6_ADDRSTRLEN + 1];
	struct serve_database *dbs;
	size_t ndbs;
	struct serve_grant *grants;
	size_t ngrants;
	const char *port_file;
	const char *log_file;
	enum log_level level;
	struct agent_config cfg; /* --config; owns strings opts points to */
	bool have_config;
};

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Prints "mirror-agent serve: <message>" and returns the usage status. */
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mirror-agent serve: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(mirror-agent serve --help for usage)\n");
	return 2;
}

/* Parses a decimal with an optional binary suffix (K, KiB, M, MiB, G,
 * GiB) into [min, max]. */
static int parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0, mult = 1;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (strcmp(p, "K") == 0 || strcmp(p, "k") == 0 || strcmp(p, "KiB") == 0)
		mult = 1024;
	else if (strcmp(p, "M") == 0 || strcmp(p, "MiB") == 0)
		mult = 1024 * 1024;
	else if (strcmp(p, "G") == 0 || strcmp(p, "GiB") == 0)
		mult = 1024 * 1024 * 1024;
	else if (*p != '\0')
		return -1;
	if (v > UINT64_MAX / mult)
		return -1;
	v *= mult;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_listen(struct serve_cli *cli, const char *v)
{
	const char *colon;
	size_t hlen;
	uint64_t port;
	unsigned char addr[sizeof(struct in6_addr)];

	if (v[0] == '[') {
		const char *close = strchr(v, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		hlen = (size_t)(close - v - 1);
		if (hlen == 0 || hlen >= sizeof cli->listen_host)
			return -1;
		memcpy(cli->listen_host, v + 1, hlen);
		cli->listen_host[hlen] = '\0';
		colon = close + 1;
		if (inet_pton(AF_INET6, cli->listen_host, addr) != 1)
			return -1;
	} else {
		colon = strrchr(v, ':');
		if (colon == NULL)
			return -1;
		hlen = (size_t)(colon - v);
		if (hlen == 0 || hlen >= sizeof cli->listen_host)
			return -1;
		memcpy(cli->listen_host, v, hlen);
		cli->listen_host[hlen] = '\0';
		if (inet_pton(AF_INET, cli->listen_host, addr) != 1)
			return -1;
	}
	if (parse_size(colon + 1, 0, 65535, &port) != 0 ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -1;
	cli->opts.listen_addr = cli->listen_host;
	cli->opts.port = (uint16_t)port;
	return 0;
}

static int add_database(struct serve_cli *cli, char *v)
{
	char *eq = strchr(v, '=');
	struct serve_database *n;

	if (eq == NULL || eq == v || eq[1] == '\0')
		return -1;
	*eq = '\0';
	n = realloc(cli->dbs, (cli->ndbs + 1) * sizeof *n);
	if (n == NULL)
		return -1;
	cli->dbs = n;
	n[cli->ndbs].name = v;
	n[cli->ndbs].spool_dir = eq + 1;
	cli->ndbs++;
	return 0;
}

/* IDENTITY=DB1,DB2: the identity may itself contain '=' (URIs), database
 * names never do, so split at the last one. */
static int add_grant(struct serve_cli *cli, char *v)
{
	char *eq = strrchr(v, '='), *tok, *save = NULL;
	struct serve_grant *n, *g;
	const char **dbs = NULL;
	size_t ndbs = 0;

	if (eq == NULL || eq == v || eq[1] == '\0')
		return -1;
	*eq = '\0';
	for (tok = strtok_r(eq + 1, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		const char **d = realloc(dbs, (ndbs + 1) * sizeof *d);

		if (d == NULL) {
			free(dbs);
			return -1;
		}
		dbs = d;
		dbs[ndbs++] = tok;
	}
	if (ndbs == 0) {
		free(dbs);
		return -1;
	}
	n = realloc(cli->grants, (cli->ngrants + 1) * sizeof *n);
	if (n == NULL) {
		free(dbs);
		return -1;
	}
	cli->grants = n;
	g = &n[cli->ngrants++];
	g->identity = v;
	g->databases = dbs;
	g->ndatabases = ndbs;
	return 0;
}

static void cli_free(struct serve_cli *cli)
{
	for (size_t i = 0; i < cli->ngrants; i++)
		free((void *)cli->grants[i].databases);
	free(cli->grants);
	free(cli->dbs);
	if (cli->have_config)
		config_free(&cli->cfg);
}

static enum transport_cc cc_from_config(int cc)
{
	switch (cc) {
	case CONFIG_CC_RENO:
		return TRANSPORT_CC_RENO;
	case CONFIG_CC_BBR:
		return TRANSPORT_CC_BBR;
	case CONFIG_CC_BBR2:
		return TRANSPORT_CC_BBR2;
	default:
		return TRANSPORT_CC_CUBIC;
	}
}

/* Loads --config FILE into cli: the same options the flags set, which
 * are parsed afterwards and override it. Returns 0 or 2 (errors printed:
 * every one, as FILE:LINE: [section] key: what). */
static int load_config(struct serve_cli *cli, const char *path)
{
	struct agent_config *cfg = &cli->cfg;
	struct config_errors errs;
	char listen[300];

	cli->have_config = true;
	if (config_load(path, cfg, 0, &errs) != 0 ||
	    config_validate_role(cfg, CONFIG_ROLE_SERVE, &errs) != 0) {
		config_errors_print(&errs, stderr);
		return 2;
	}
	snprintf(listen, sizeof listen,
	         strchr(cfg->serve.listen.host, ':') ? "[%s]:%u" : "%s:%u",
	         cfg->serve.listen.host, (unsigned)cfg->serve.listen.port);
	if (parse_listen(cli, listen) != 0)
		return usage_error("%s: [serve] listen: '%s' must be a numeric "
		                   "address",
		                   path, listen);
	cli->opts.cert_file = cfg->tls.cert_file;
	cli->opts.key_file = cfg->tls.key_file;
	cli->opts.client_ca_file = cfg->tls.ca_file;
	for (size_t i = 0; i < cfg->n_databases; i++) {
		struct serve_database *n =
		    realloc(cli->dbs, (cli->ndbs + 1) * sizeof *n);
		if (n == NULL)
			return usage_error("out of memory");
		cli->dbs = n;
		n[cli->ndbs].name = cfg->databases[i].name;
		n[cli->ndbs].spool_dir = cfg->databases[i].spool;
		cli->ndbs++;
	}
	for (size_t i = 0; i < cfg->n_access; i++) {
		const struct config_access *a = &cfg->access[i];
		const char **dbs = calloc(a->databases.n, sizeof *dbs);
		struct serve_grant *g =
		    realloc(cli->grants, (cli->ngrants + 1) * sizeof *g);
		if (dbs == NULL || g == NULL) {
			free(dbs);
			if (g != NULL)
				cli->grants = g;
			return usage_error("out of memory");
		}
		for (size_t k = 0; k < a->databases.n; k++)
			dbs[k] = a->databases.v[k];
		cli->grants = g;
		g[cli->ngrants].identity = a->identity;
		g[cli->ngrants].databases = dbs;
		g[cli->ngrants].ndatabases = a->databases.n;
		cli->ngrants++;
	}
	cli->opts.chunk_size = (size_t)cfg->serve.chunk_size;
	cli->opts.heartbeat_ms = (uint32_t)cfg->serve.heartbeat_interval_ms;
	cli->opts.log_batch_bytes = (size_t)cfg->serve.log_batch_bytes;
	cli->opts.max_unacked = (size_t)cfg->serve.max_unacked_bytes;
	cli->opts.max_connections = (uint32_t)cfg->serve.max_connections;
	cli->opts.max_streams = (uint32_t)cfg->serve.max_streams_per_connection;
	cli->opts.tuning.idle_timeout_ms = (uint32_t)cfg->serve.idle_timeout_ms;
	cli->opts.tuning.max_data = cfg->serve.connection_window;
	cli->opts.tuning.max_stream_data = cfg->serve.stream_window;
	cli->opts.tuning.cc = cc_from_config(cfg->serve.congestion_control);
	cli->log_file = cfg->agent.log_file;
	cli->level = (enum log_level)cfg->agent.log_level;
	return 0;
}

/* Returns 0, 1 (help printed) or 2 (usage error printed). */
static int parse_args(struct serve_cli *cli, int argc, char **argv)
{
	bool have_listen = false;

	/* The file first, whatever its place: flags override it. */
	for (int i = 1; i < argc; i++) {
		const char *path = NULL;

		if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9;
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			path = argv[++i];
		if (path == NULL)
			continue;
		if (cli->have_config)
			return usage_error("--config given twice");
		if (load_config(cli, path) != 0)
			return 2;
		have_listen = true;
	}
	for (int i = 1; i < argc; i++) {
		char *arg = argv[i], *value = NULL, *eq;
		char flag[64];
		uint64_t n;

		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			printf(SERVE_USAGE,
			       (unsigned)(SNAPSHOT_CHUNK_DEFAULT / 1024));
			return 1;
		}
		if (strcmp(arg, "--allow-any-identity") == 0) {
			cli->opts.allow_any_identity = true;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0)
			return usage_error("unexpected argument %s", arg);
		eq = strchr(arg, '=');
		if (eq != NULL) {
			snprintf(flag, sizeof flag, "%.*s", (int)(eq - arg),
			         arg);
			value = eq + 1;
		} else {
			snprintf(flag, sizeof flag, "%s", arg);
			if (i + 1 >= argc)
				return usage_error("%s needs a value", flag);
			value = argv[++i];
		}
		if (strcmp(flag, "--config") == 0) {
			continue; /* loaded above */
		} else if (strcmp(flag, "--listen") == 0) {
			if (parse_listen(cli, value) != 0)
				return usage_error(
				    "%s: bad value '%s' (want "
				    "IPV4:PORT or [IPV6]:PORT, numeric)",
				    flag, value);
			have_listen = true;
		} else if (strcmp(flag, "--cert") == 0) {
			cli->opts.cert_file = value;
		} else if (strcmp(flag, "--key") == 0) {
			cli->opts.key_file = value;
		} else if (strcmp(flag, "--client-ca") == 0) {
			cli->opts.client_ca_file = value;
		} else if (strcmp(flag, "--database") == 0) {
			if (add_database(cli, value) != 0)
				return usage_error(
				    "%s: bad value '%s' (want NAME=SPOOLDIR)",
				    flag, value);
		} else if (strcmp(flag, "--allow") == 0) {
			if (add_grant(cli, value) != 0)
				return usage_error("%s: bad value '%s' (want "
				                   "IDENTITY=DB1,DB2,...)",
				                   flag, value);
		} else if (strcmp(flag, "--chunk-size") == 0) {
			/* Mirrors refuse envelopes above
			 * SNAPSHOT_DATA_MAX_DEFAULT. */
			if (parse_size(value, SNAPSHOT_CHUNK_MIN,
			               SNAPSHOT_DATA_MAX_DEFAULT, &n) != 0)
				return usage_error("%s: bad value '%s' (512 .. "
				                   "1M bytes)",
				                   flag, value);
			cli->opts.chunk_size = (size_t)n;
		} else if (strcmp(flag, "--heartbeat-ms") == 0) {
			if (parse_size(value, SERVE_HEARTBEAT_MIN_MS,
			               SERVE_HEARTBEAT_MAX_MS, &n) != 0 ||
			    strspn(value, "0123456789") != strlen(value))
				return usage_error("%s: bad value '%s' (10 .. "
				                   "600000 ms)",
				                   flag, value);
			cli->opts.heartbeat_ms = (uint32_t)n;
		} else if (strcmp(flag, "--log-batch") == 0) {
			if (parse_size(value, 4096, 16u << 20, &n) != 0)
				return usage_error("%s: bad value '%s' (4K .. "
				                   "16M bytes)",
				                   flag, value);
			cli->opts.log_batch_bytes = (size_t)n;
		} else if (strcmp(flag, "--max-unacked") == 0) {
			if (parse_size(value, 16384, 1u << 30, &n) != 0)
				return usage_error("%s: bad value '%s' (16K .. "
				                   "1G bytes)",
				                   flag, value);
			cli->opts.max_unacked = (size_t)n;
		} else if (strcmp(flag, "--max-connections") == 0 ||
		           strcmp(flag, "--max-streams") == 0) {
			if (parse_size(value, 1, 100000, &n) != 0 ||
			    strspn(value, "0123456789") != strlen(value))
				return usage_error("%s: bad value '%s' (1 .. "
				                   "100000)",
				                   flag, value);
			if (flag[6] == 'c')
				cli->opts.max_connections = (uint32_t)n;
			else
				cli->opts.max_streams = (uint32_t)n;
		} else if (strcmp(flag, "--idle-timeout-ms") == 0) {
			if (parse_size(value, 100, 3600000, &n) != 0 ||
			    strspn(value, "0123456789") != strlen(value))
				return usage_error("%s: bad value '%s' (100 .. "
				                   "3600000 ms)",
				                   flag, value);
			cli->opts.tuning.idle_timeout_ms = (uint32_t)n;
		} else if (strcmp(flag, "--max-data") == 0 ||
		           strcmp(flag, "--max-stream-data") == 0) {
			if (parse_size(value, 65536, UINT64_C(1) << 32, &n) !=
			    0)
				return usage_error("%s: bad value '%s' (64K .. "
				                   "4G bytes)",
				                   flag, value);
			if (strcmp(flag, "--max-data") == 0)
				cli->opts.tuning.max_data = n;
			else
				cli->opts.tuning.max_stream_data = n;
		} else if (strcmp(flag, "--cc") == 0) {
			if (strcmp(value, "cubic") == 0)
				cli->opts.tuning.cc = TRANSPORT_CC_CUBIC;
			else if (strcmp(value, "reno") == 0)
				cli->opts.tuning.cc = TRANSPORT_CC_RENO;
			else if (strcmp(value, "bbr") == 0)
				cli->opts.tuning.cc = TRANSPORT_CC_BBR;
			else if (strcmp(value, "bbr2") == 0)
				cli->opts.tuning.cc = TRANSPORT_CC_BBR2;
			else
				return usage_error("%s: bad value '%s' (cubic, "
				                   "reno, bbr or bbr2)",
				                   flag, value);
#ifdef MA_FAULT_INJECTION
		} else if (strcmp(flag, "--inject-fault") == 0) {
			if (serve_fault_parse(value, &cli->opts.fault) != 0)
				return usage_error("%s: unknown fault '%s'",
				                   flag, value);
#endif
		} else if (strcmp(flag, "--port-file") == 0) {
			cli->port_file = value;
		} else if (strcmp(flag, "--log-file") == 0) {
			cli->log_file = value;
		} else if (strcmp(flag, "--log-level") == 0) {
			if (strcmp(value, "debug") == 0)
				cli->level = LOG_LEVEL_DEBUG;
			else if (strcmp(value, "info") == 0)
				cli->level = LOG_LEVEL_INFO;
			else if (strcmp(value, "warn") == 0)
				cli->level = LOG_LEVEL_WARN;
			else if (strcmp(value, "error") == 0)
				cli->level = LOG_LEVEL_ERROR;
			else
				return usage_error("%s: bad value '%s' (debug, "
				                   "info, warn or error)",
				                   flag, value);
		} else {
			return usage_error("unknown option %s", flag);
		}
		if (value[0] == '\0')
			return usage_error("%s: empty value", flag);
	}
	if (!have_listen)
		return usage_error("--listen is required");
	if (cli->opts.cert_file == NULL)
		return usage_error("--cert is required");
	if (cli->opts.key_file == NULL)
		return usage_error("--key is required");
	if (cli->opts.client_ca_file == NULL)
		return usage_error("--client-ca is required");
	if (cli->ndbs == 0)
		return usage_error("at least one --database NAME=SPOOLDIR is "
		                   "required");
	cli->opts.databases = cli->dbs;
	cli->opts.ndatabases = cli->ndbs;
	cli->opts.grants = cli->grants;
	cli->opts.ngrants = cli->ngrants;
	return 0;
}

static int write_port_file(const char *path, uint16_t port, char *errmsg)
{
	char *d = strdup(path), *b = strdup(path), text[16];
	int n = snprintf(text, sizeof text, "%u\n", (unsigned)port), rc;

	if (d == NULL || b == NULL) {
		free(d);
		free(b);
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	}
	rc = io_write_file_durable(dirname(d), basename(b), text, (size_t)n,
	                           errmsg);
	free(d);
	free(b);
	return rc;
}

struct loop_ctx {
	struct event_base *base;
	const char *log_file;
	int stop_signal;
};

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct loop_ctx *ctx = arg;

	(void)what;
	ctx->stop_signal = (int)sig;
	event_base_loopbreak(ctx->base);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct loop_ctx *ctx = arg;
	char why[MA_ERRMSG_SIZE];
	int rc;

	(void)sig;
	(void)what;
	if (ctx->log_file == NULL)
		return;
	rc = log_open(ctx->log_file, why);
	if (rc != 0)
		log_error("serve: %s", why);
	else
		log_info("serve: log file reopened");
}

int cmd_serve(int argc, char **argv)
{
	struct serve_cli cli;
	struct loop_ctx ctx;
	struct event *ev_term = NULL, *ev_int = NULL, *ev_hup = NULL;
	struct serve *sv = NULL;
	char errmsg[MA_ERRMSG_SIZE];
	int rc, status = 1;

	memset(&cli, 0, sizeof cli);
	serve_options_init(&cli.opts);
	cli.level = LOG_LEVEL_INFO;
	rc = parse_args(&cli, argc, argv);
	if (rc != 0) {
		cli_free(&cli);
		return rc == 1 ? 0 : 2;
	}
	log_set_level(cli.level);
	if (cli.log_file != NULL) {
		rc = log_open(cli.log_file, errmsg);
		if (rc != 0) {
			fprintf(stderr, "mirror-agent serve: --log-file: %s\n",
			        errmsg);
			cli_free(&cli);
			return 2;
		}
	}
	memset(&ctx, 0, sizeof ctx);
	ctx.log_file = cli.log_file;
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
		if (cli.log_file != NULL)
			fprintf(stderr, "mirror-agent serve: %s\n", errmsg);
		status = rc == MA_ERR_CONFIG || rc == MA_ERR_IDENTITY ? 2 : 1;
		goto out;
	}
	if (cli.port_file != NULL) {
		rc = write_port_file(cli.port_file, serve_port(sv), errmsg);
		if (rc != 0) {
			log_error("serve: --port-file: %s", errmsg);
			goto out;
		}
	}
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
	log_info("serve: ready on port %u", (unsigned)serve_port(sv));
	if (event_base_dispatch(ctx.base) < 0) {
		log_error("serve: event loop failed");
		goto out;
	}
	log_info("serve: stopping on signal %d", ctx.stop_signal);
	status = 0;

out:
	serve_free(sv);
	if (cli.port_file != NULL && sv != NULL)
		unlink(cli.port_file);
	if (ev_term != NULL)
		event_free(ev_term);
	if (ev_int != NULL)
		event_free(ev_int);
	if (ev_hup != NULL)
		event_free(ev_hup);
	if (ctx.base != NULL)
		event_base_free(ctx.base);
	cli_free(&cli);
	return status;
}
