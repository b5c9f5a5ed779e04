/* `mirror-agent follow`: the mirror-side daemon. Glue only: options from
 * the config file and flags, the libevent loop, signals, and the progress
 * display (a bar on a terminal, a log line every N MiB otherwise, and the
 * optional hook command). The logic lives in agent/follow.c. */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/cli/commands.h"
#include "agent/config/config.h"
#include "agent/follow/follow.h"
#include "agent/readapi/read_api.h"
#include "common/errors.h"
#include "common/log.h"

struct follow_cli {
	struct event_base *base;
	struct follow *follow;
	struct read_api *api;
	const char *log_file;
	const char *hook;
	uint64_t log_every; /* bytes between progress log lines */
	uint64_t next_log[FOLLOW_MAX_DATABASES];
	const char *names[FOLLOW_MAX_DATABASES];
	size_t ndb;
	bool tty;
	bool exit_when_following;
	pid_t hook_pid; /* running hook, 0 when none */
	int exit_code;
};

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: mirror-agent follow [--config FILE] [options]\n"
	        "  --data-dir DIR           where mirrored databases are kept\n"
	        "  --source HOST:PORT       source endpoint (repeat: failover "
	        "order)\n"
	        "  --database NAME          database to mirror (repeatable)\n"
	        "  --ca FILE --cert FILE --key FILE   TLS: CA of the source, "
	        "our client cert\n"
	        "  --server-name NAME       name the source certificate must "
	        "carry\n"
	        "  --progress-hook PATH     executable run on progress "
	        "(environment MIRROR_AGENT_*)\n"
	        "  --set SECTION.KEY=VALUE  any configuration key\n"
	        "  --reseed                 forget stored data and identity, "
	        "start over\n"
	        "  --log-file FILE          log here (reopened on SIGHUP)\n"
	        "  --exit-when-following    exit 0 once every database is "
	        "Following\n"
	        "  --http-listen HOST:PORT  read API address ([agent] "
	        "http_listen;\n"
	        "                           port 0 here: any free port)\n"
	        "  --http-port-file PATH    write the read API's bound port "
	        "there\n");
}

static int set(struct agent_config *cfg, const char *key, const char *value)
{
	char errmsg[MA_ERRMSG_SIZE];

	if (config_set(cfg, key, value, errmsg) != 0) {
		fprintf(stderr, "mirror-agent follow: %s\n", errmsg);
		return -1;
	}
	return 0;
}

/* Resolves host (name or literal) to a numeric address for the transport. */
static int resolve(const char *host, char *out, size_t size)
{
	struct addrinfo hints = {0}, *res;
	int rc;

	hints.ai_socktype = SOCK_DGRAM;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0)
		return -1;
	rc = getnameinfo(res->ai_addr, res->ai_addrlen, out, (socklen_t)size,
	                 NULL, 0, NI_NUMERICHOST);
	freeaddrinfo(res);
	return rc == 0 ? 0 : -1;
}

static void run_hook(struct follow_cli *cli, const struct follow_progress *p)
{
	char buf[6][64];
	pid_t pid;

	if (cli->hook == NULL || cli->hook_pid != 0)
		return; /* one at a time: a slow hook never piles up */
	pid = fork();
	if (pid < 0) {
		log_warn("progress hook: fork failed: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		snprintf(buf[0], sizeof buf[0], "%" PRIu64, p->bytes_done);
		snprintf(buf[1], sizeof buf[1], "%" PRIu64, p->bytes_total);
		snprintf(buf[2], sizeof buf[2], "%" PRIu64,
		         p->rate_bytes_per_s);
		snprintf(buf[3], sizeof buf[3], "%" PRIu64, p->applied_index);
		snprintf(buf[4], sizeof buf[4], "%" PRIu64, p->lag_entries);
		snprintf(buf[5], sizeof buf[5], "%" PRIu64, p->lag_ms);
		setenv("MIRROR_AGENT_DATABASE", p->database, 1);
		setenv("MIRROR_AGENT_STATE", mirror_state_name(p->state), 1);
		setenv("MIRROR_AGENT_BYTES_DONE", buf[0], 1);
		setenv("MIRROR_AGENT_BYTES_TOTAL", buf[1], 1);
		setenv("MIRROR_AGENT_RATE_BYTES_PER_S", buf[2], 1);
		setenv("MIRROR_AGENT_APPLIED_INDEX", buf[3], 1);
		setenv("MIRROR_AGENT_LAG_ENTRIES", buf[4], 1);
		setenv("MIRROR_AGENT_LAG_MS", buf[5], 1);
		/* The configuration requires an absolute path to an
		 * executable: run it directly, no shell involved. */
		execl(cli->hook, cli->hook, (char *)NULL);
		_exit(127);
	}
	cli->hook_pid = pid;
}

static void on_progress(const struct follow_progress *p, void *arg)
{
	struct follow_cli *cli = arg;
	size_t i = 0;

	while (i < cli->ndb && strcmp(cli->names[i], p->database) != 0)
		i++;
	if (p->state == MIRROR_BOOTSTRAPPING && p->bytes_total > 0) {
		double pct =
		    100.0 * (double)p->bytes_done / (double)p->bytes_total;
		if (cli->tty) {
			char bar[31];
			int fill = (int)(pct * 30 / 100);
			for (int k = 0; k < 30; k++)
				bar[k] = k < fill ? '#' : '.';
			bar[30] = '\0';
			fprintf(stderr,
			        "\r%s [%s] %5.1f%% %7.1f/%.1f MiB %6.1f MB/s ",
			        p->database, bar, pct,
			        p->bytes_done / 1048576.0,
			        p->bytes_total / 1048576.0,
			        p->rate_bytes_per_s / 1e6);
			if (p->bytes_done == p->bytes_total)
				fputc('\n', stderr);
		} else if (i < cli->ndb && (p->bytes_done >= cli->next_log[i] ||
		                            p->bytes_done == p->bytes_total)) {
			log_info("%s: Bootstrapping %.1f%% (%" PRIu64
			         " of %" PRIu64 " bytes, %.1f MB/s)",
			         p->database, pct, p->bytes_done,
			         p->bytes_total, p->rate_bytes_per_s / 1e6);
			cli->next_log[i] = p->bytes_done + cli->log_every;
		}
	}
	run_hook(cli, p);
	if (cli->exit_when_following && cli->follow != NULL) {
		size_t following = 0;
		for (size_t k = 0; k < cli->ndb; k++) {
			const struct mirror_status *st =
			    follow_status(cli->follow, k);
			if (st != NULL && st->state == MIRROR_FOLLOWING)
				following++;
		}
		if (following == cli->ndb) {
			log_info(
			    "every database is Following; exiting as asked");
			event_base_loopexit(cli->base, NULL);
		}
	}
}

static void on_applied(void *arg, size_t db, uint64_t applied_index)
{
	struct follow_cli *cli = arg;

	read_api_applied(cli->api, db, applied_index);
}

/* HOST:PORT or [V6]:PORT, port 0..65535. */
static int parse_listen(const char *v, char *host, size_t size, uint16_t *port)
{
	const char *colon = strrchr(v, ':'), *h = v;
	size_t hlen;
	char *end;
	unsigned long p;

	if (colon == NULL || colon[1] == '\0')
		return -1;
	hlen = (size_t)(colon - v);
	if (hlen >= 2 && v[0] == '[' && v[hlen - 1] == ']') {
		h = v + 1;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= size)
		return -1;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || errno != 0 || p > 65535 || colon[1] == '-' ||
	    colon[1] == '+')
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (uint16_t)p;
	return 0;
}

/* Whether the configuration already has [database "name"]. */
static bool has_database(const struct agent_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_databases; i++)
		if (strcmp(cfg->databases[i].name, name) == 0)
			return true;
	return false;
}

static void on_all_failed(void *arg)
{
	struct follow_cli *cli = arg;

	log_error("every database is in Error; stopping");
	cli->exit_code = 1;
	event_base_loopexit(cli->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct follow_cli *cli = arg;
	char why[MA_ERRMSG_SIZE];

	(void)what;
	if (sig == SIGHUP) {
		if (cli->log_file != NULL && log_open(cli->log_file, why) != 0)
			fprintf(stderr, "%s\n", why);
		log_info("SIGHUP: log reopened");
		return;
	}
	if (sig == SIGCHLD) {
		pid_t pid;
		int status;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if (pid == cli->hook_pid)
				cli->hook_pid = 0;
			if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
				log_warn("progress hook exited with status %d",
				         WEXITSTATUS(status));
		}
		return;
	}
	log_info("signal %d: stopping (syncing the log, closing connections)",
	         (int)sig);
	event_base_loopexit(cli->base, NULL);
}

int cmd_follow(int argc, char **argv)
{
	struct follow_cli cli = {0};
	struct agent_config cfg;
	struct config_errors errs;
	struct follow_options o;
	char errmsg[MA_ERRMSG_SIZE], sources[4096] = "";
	const char *config_path = NULL, *http_port_file = NULL;
	char http_host[CONFIG_HOST_MAX + 1] = "";
	uint16_t http_port = 0;
	bool reseed = false, http_flag = false;
	struct event *sigs[5] = {0};
	int rc = 2;

	/* First pass: the config file, which flags then override. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config_path = argv[++i];
		else if (strcmp(argv[i], "-h") == 0 ||
		         strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
	}
	config_errors_init(&errs);
	if (config_path != NULL) {
		if (config_load(config_path, &cfg, 0, &errs) != 0) {
			config_errors_print(&errs, stderr);
			config_free(&cfg);
			return 2;
		}
	} else if (config_init(&cfg) != 0) {
		fprintf(stderr, "mirror-agent follow: out of memory\n");
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;
		if (strcmp(a, "--reseed") == 0) {
			reseed = true;
			continue;
		}
		if (strcmp(a, "--exit-when-following") == 0) {
			cli.exit_when_following = true;
			continue;
		}
		if (v == NULL) {
			fprintf(stderr,
			        "mirror-agent follow: %s needs a value or is "
			        "unknown\n",
			        a);
			usage(stderr);
			goto out;
		}
		i++;
		if (strcmp(a, "--config") == 0)
			continue;
		else if (strcmp(a, "--data-dir") == 0)
			bad = set(&cfg, "agent.data_dir", v);
		else if (strcmp(a, "--log-file") == 0)
			bad = set(&cfg, "agent.log_file", v);
		else if (strcmp(a, "--ca") == 0)
			bad = set(&cfg, "tls.ca_file", v);
		else if (strcmp(a, "--cert") == 0)
			bad = set(&cfg, "tls.cert_file", v);
		else if (strcmp(a, "--key") == 0)
			bad = set(&cfg, "tls.key_file", v);
		else if (strcmp(a, "--server-name") == 0)
			bad = set(&cfg, "tls.server_name", v);
		else if (strcmp(a, "--progress-hook") == 0)
			bad = set(&cfg, "follow.progress_hook", v);
		else if (strcmp(a, "--source") == 0) {
			size_t n = strlen(sources);
			snprintf(sources + n, sizeof sources - n, "%s%s",
			         n ? "," : "", v);
			bad = set(&cfg, "follow.sources", sources);
		} else if (strcmp(a, "--database") == 0) {
			char key[128];
			/* Adds the database; one the file already names keeps
			 * its settings (its applier in particular). */
			snprintf(key, sizeof key, "database.%s.applier", v);
			if (!has_database(&cfg, v))
				bad = set(&cfg, key, "none");
		} else if (strcmp(a, "--http-listen") == 0) {
			if (parse_listen(v, http_host, sizeof http_host,
			                 &http_port) != 0) {
				fprintf(stderr,
				        "mirror-agent follow: --http-listen "
				        "%s: expected HOST:PORT\n",
				        v);
				goto out;
			}
			http_flag = true;
		} else if (strcmp(a, "--http-port-file") == 0) {
			http_port_file = v;
		} else if (strcmp(a, "--set") == 0) {
			char key[256];
			const char *eq = strchr(v, '=');
			if (eq == NULL || (size_t)(eq - v) >= sizeof key) {
				fprintf(stderr,
				        "mirror-agent follow: --set %s: "
				        "expected SECTION.KEY=VALUE\n",
				        v);
				goto out;
			}
			memcpy(key, v, (size_t)(eq - v));
			key[eq - v] = '\0';
			bad = set(&cfg, key, eq + 1);
		} else {
			fprintf(stderr,
			        "mirror-agent follow: unknown option %s\n", a);
			usage(stderr);
			goto out;
		}
		if (bad)
			goto out;
	}
	if (config_validate_role(&cfg, CONFIG_ROLE_FOLLOW, &errs) != 0) {
		config_errors_print(&errs, stderr);
		goto out;
	}

	log_set_level((enum log_level)cfg.agent.log_level);
	if (cfg.agent.log_file != NULL &&
	    log_open(cfg.agent.log_file, errmsg) != 0) {
		fprintf(stderr, "mirror-agent follow: %s\n", errmsg);
		goto out;
	}
	cli.log_file = cfg.agent.log_file;
	follow_options_init(&o);
	o.data_dir = cfg.agent.data_dir;
	o.ca_file = cfg.tls.ca_file;
	o.cert_file = cfg.tls.cert_file;
	o.key_file = cfg.tls.key_file;
	if (cfg.tls.server_name != NULL)
		o.server_name = cfg.tls.server_name;
	else if (cfg.follow.sources.n > 0)
		o.server_name = cfg.follow.sources.v[0].host;
	for (size_t i = 0; i < cfg.follow.sources.n && i < FOLLOW_MAX_ENDPOINTS;
	     i++) {
		struct follow_endpoint *ep = &o.endpoints[i];
		if (resolve(cfg.follow.sources.v[i].host, ep->host,
		            sizeof ep->host) != 0) {
			fprintf(stderr,
			        "mirror-agent follow: cannot resolve source "
			        "host '%s'\n",
			        cfg.follow.sources.v[i].host);
			rc = 1;
			goto out;
		}
		ep->port = cfg.follow.sources.v[i].port;
		o.endpoint_count++;
	}
	if (cfg.n_databases > FOLLOW_MAX_DATABASES) {
		fprintf(stderr,
		        "mirror-agent follow: %zu databases configured; one "
		        "follower mirrors at most %d (run several)\n",
		        cfg.n_databases, FOLLOW_MAX_DATABASES);
		goto out;
	}
	for (size_t i = 0; i < cfg.n_databases; i++) {
		o.appliers[o.database_count] = cfg.databases[i].applier;
		o.directories[o.database_count] = cfg.databases[i].directory;
		o.databases[o.database_count++] = cfg.databases[i].name;
		cli.names[i] = cfg.databases[i].name;
	}
	cli.ndb = o.database_count;
	o.handshake_timeout_ms = (uint32_t)cfg.follow.connect_timeout_ms;
	o.keepalive_ms = (uint32_t)cfg.follow.keepalive_ms;
	o.tuning.idle_timeout_ms = (uint32_t)cfg.follow.idle_timeout_ms;
	o.tuning.max_data = cfg.follow.connection_window;
	o.tuning.max_stream_data = cfg.follow.stream_window;
	o.states.backoff_min_ms = (uint32_t)cfg.follow.backoff_min_ms;
	o.states.backoff_max_ms = (uint32_t)cfg.follow.backoff_max_ms;
	o.states.degraded_lag_entries = cfg.follow.degraded_lag_entries;
	o.states.degraded_lag_ms = (uint32_t)cfg.follow.degraded_lag_time_ms;
	o.states.degraded_silence_ms = (uint32_t)cfg.follow.degraded_silence_ms;
	o.wal_sync_interval_ms = cfg.follow.wal_sync_interval_ms;
	o.wal_sync_bytes = cfg.follow.wal_sync_bytes;
	o.snapshot_fsync_interval = cfg.follow.snapshot_sync_bytes;
	o.on_progress = on_progress;
	o.on_all_failed = on_all_failed;
	o.on_applied = on_applied;
	o.progress_arg = &cli;
	cli.hook = cfg.follow.progress_hook;
	cli.log_every = cfg.follow.progress_log_bytes
	                    ? cfg.follow.progress_log_bytes
	                    : (1u << 20);
	cli.tty = isatty(STDERR_FILENO) && cfg.agent.log_file == NULL;

	if (reseed) {
		for (size_t i = 0; i < o.database_count; i++) {
			const char *dir = o.directories[i];
			char path[4096];

			if (dir == NULL) {
				snprintf(path, sizeof path, "%s/%s", o.data_dir,
				         o.databases[i]);
				dir = path;
			}
			if (follow_reseed(dir, errmsg) != 0) {
				fprintf(stderr,
				        "mirror-agent follow: --reseed: %s\n",
				        errmsg);
				rc = 1;
				goto out;
			}
			log_warn(
			    "%s: --reseed: local copy removed, starting over",
			    o.databases[i]);
		}
	}

	signal(SIGPIPE, SIG_IGN);
	cli.base = event_base_new();
	if (cli.base == NULL) {
		rc = 1;
		goto out;
	}
	const int signals[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD};
	for (size_t i = 0; i < 4; i++) {
		sigs[i] = evsignal_new(cli.base, signals[i], on_signal, &cli);
		if (sigs[i] != NULL)
			event_add(sigs[i], NULL);
	}
	if (follow_new(cli.base, &o, &cli.follow, errmsg) != 0) {
		fprintf(stderr, "mirror-agent follow: %s\n", errmsg);
		rc = 1;
		goto out_loop;
	}
	if (!http_flag && cfg.agent.http_listen.port != 0) {
		snprintf(http_host, sizeof http_host, "%s",
		         cfg.agent.http_listen.host);
		http_port = cfg.agent.http_listen.port;
		http_flag = true;
	}
	if (http_flag) {
		struct read_api_options ro = {http_host, http_port,
		                              http_port_file};
		if (read_api_new(cli.base, cli.follow, &ro, &cli.api, errmsg) !=
		    0) {
			fprintf(stderr, "mirror-agent follow: %s\n", errmsg);
			follow_free(cli.follow);
			rc = 1;
			goto out_loop;
		}
	} else if (http_port_file != NULL) {
		fprintf(stderr, "mirror-agent follow: --http-port-file needs "
		                "--http-listen or [agent] http_listen\n");
		follow_free(cli.follow);
		goto out_loop;
	}
	event_base_dispatch(cli.base);
	/* Parked readers get their 503 before the appliers go away; a
	 * tenth of a second of loop writes the answers out. */
	if (read_api_release_waiters(cli.api) > 0) {
		struct timeval flush = {0, 100 * 1000};
		event_base_loopexit(cli.base, &flush);
		event_base_dispatch(cli.base);
	}
	read_api_free(cli.api);
	cli.api = NULL;
	follow_free(cli.follow);
	rc = cli.exit_code;
out_loop:
	for (size_t i = 0; i < 4; i++)
		if (sigs[i] != NULL)
			event_free(sigs[i]);
	event_base_free(cli.base);
out:
	config_free(&cfg);
	return rc;
}
