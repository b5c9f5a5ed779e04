/* `mirror-agent follow`: the mirror-side daemon. Glue only: options from
 * the config file and flags, the libevent loop, signals, and the progress
 * display (a bar on a terminal, a log line every N MiB otherwise, and the
 * optional hook command). Options as every command's (agent/cli/cli.h);
 * the logic lives in agent/follow/follow.c. */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/cli/cli.h"
#include "agent/cli/commands.h"
#include "agent/cli/notify.h"
#include "agent/config/config.h"
#include "agent/follow/follow.h"
#include "agent/promote/promote.h"
#include "agent/readapi/read_api.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "transport/transport_cert.h"

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
	/* The progress bar on a terminal: it owns the last line (log lines
	 * go above it, see bar_clear/bar_draw) until the bootstrap ends. */
	bool bar_on;
	size_t bar_db;
	char bar[160];
	uint64_t boot_start_ms[FOLLOW_MAX_DATABASES]; /* 0: not started */
	uint64_t boot_total[FOLLOW_MAX_DATABASES];
	bool exit_when_following;
	pid_t hook_pid; /* running hook, 0 when none */
	int exit_code;
	const char *data_dir;
	bool promote; /* SIGUSR1 with a promote request: stop, promote */
	struct notify_timer *notify; /* systemd: STATUS= and the watchdog */
	/* TLS files: the configured ones (read at start-up and on SIGHUP)
	 * and the in-memory copies connections read (tls_take). */
	const char *tls_src[3]; /* ca_file, cert_file, key_file */
	int tls_fd[3];          /* memfds; -1: none */
	char tls_use[3][4096];  /* "/proc/self/fd/N", or the configured path */
	bool tls_on;
};

/* The connections read copies of the [tls] files kept in memory (memfd,
 * opened as /proc/self/fd/N), taken at start-up and again on SIGHUP when
 * the configured files pass the checks of check-config: a certificate
 * renewed in place takes effect at the next connection after SIGHUP, and
 * a broken renewal leaves the last good set in use. Nothing is written
 * to disk (the key stays where the operator put it). */
static const char *const tls_names[3] = {"tls-ca", "tls-cert", "tls-key"};

/* Checks the configured [tls] files and copies them for the next
 * connections. At start-up (startup true) problems are warnings and the
 * files are taken anyway (the handshake then reports them as before); on
 * SIGHUP they refuse the new set. Returns true when the files were taken. */
static bool tls_take(struct follow_cli *cli, bool startup)
{
	struct transport_cert_report *rep = calloc(1, sizeof *rep);
	void *buf[3] = {NULL, NULL, NULL};
	int fd[3] = {-1, -1, -1};
	size_t len[3];
	char why[MA_ERRMSG_SIZE];
	const char *what = startup ? "" : "SIGHUP: ";
	bool ok = false;
	int rc;

	if (rep == NULL) {
		log_error("%sout of memory checking the certificates", what);
		return false;
	}
	rc = transport_cert_check(cli->tls_src[1], cli->tls_src[2],
	                          cli->tls_src[0], TRANSPORT_CERT_CLIENT, rep,
	                          why);
	if (startup && (rc != 0 || rep->nproblems > 0))
		goto out; /* used as they are: the handshake names them */
	if (rc != 0 || rep->nproblems > 0) {
		if (rc != 0)
			log_error("%scertificate refused: %s", what, why);
		for (unsigned i = 0; rc == 0 && i < rep->nproblems; i++)
			log_error("%scertificate refused: %s", what,
			          rep->problems[i]);
		log_error("SIGHUP: the new certificate files were NOT "
		          "applied: the next connections still present "
		          "the previous certificate; fix the files "
		          "(mirror-agent check-config shows the same "
		          "checks) and send SIGHUP again");
		goto out;
	}
	for (int i = 0; i < 3; i++) {
		rc = io_read_file(cli->tls_src[i], 1u << 20, &buf[i], &len[i],
		                  why);
		if (rc != 0) {
			log_error("%scannot read %s: %s%s", what,
			          cli->tls_src[i], why,
			          startup ? ""
			                  : "; still using the previous "
			                    "certificate files");
			goto out;
		}
	}
	for (int i = 0; i < 3; i++) {
		fd[i] = memfd_create(tls_names[i], MFD_CLOEXEC);
		if (fd[i] < 0 ||
		    io_write_all(fd[i], buf[i], len[i], why) != 0) {
			log_error("%scannot keep a copy of %s in memory: %s%s",
			          what, cli->tls_src[i],
			          fd[i] < 0 ? strerror(errno) : why,
			          startup ? ""
			                  : "; still using the previous "
			                    "certificate files");
			goto out;
		}
	}
	/* All three or none: swap, then close the previous copies. */
	for (int i = 0; i < 3; i++) {
		if (cli->tls_fd[i] >= 0)
			close(cli->tls_fd[i]);
		cli->tls_fd[i] = fd[i];
		fd[i] = -1;
		snprintf(cli->tls_use[i], sizeof cli->tls_use[i],
		         "/proc/self/fd/%d", cli->tls_fd[i]);
	}
	ok = true;
	if (!startup)
		log_info("SIGHUP: certificates reloaded: %s (identity %s, "
		         "valid until %s), key %s, CA %s: the next connections "
		         "use them, the current one carries on",
		         cli->tls_src[1], rep->identity, rep->not_after,
		         cli->tls_src[2], cli->tls_src[0]);
out:
	for (int i = 0; i < 3; i++) {
		free(buf[i]);
		if (fd[i] >= 0)
			close(fd[i]);
	}
	free(rep);
	return ok;
}

/* systemd's STATUS= line: each database's state and figures, e.g.
 * "kv Following applied 300 lag 0; db2 Bootstrapping 45%". */
static void follow_status_line(void *arg, char *buf, size_t size)
{
	struct follow_cli *cli = arg;
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < cli->ndb && o < size; i++) {
		const struct mirror_status *st = follow_status(cli->follow, i);
		if (st == NULL)
			continue;
		int n;
		if (st->state == MIRROR_BOOTSTRAPPING && st->bytes_total > 0)
			n = snprintf(
			    buf + o, size - o, "%s%s Bootstrapping %d%%",
			    o > 0 ? "; " : "", cli->names[i],
			    (int)(100 * st->bytes_done / st->bytes_total));
		else
			n = snprintf(buf + o, size - o,
			             "%s%s %s applied %" PRIu64 " lag %" PRIu64,
			             o > 0 ? "; " : "", cli->names[i],
			             mirror_state_name(st->state),
			             st->applied_index, st->lag_entries);
		if (n < 0)
			break;
		o += (size_t)n;
	}
}

enum {
	OPT_SOURCE = CLI_OPT_CUSTOM,
	OPT_DATABASE,
	OPT_RESEED,
	OPT_EXIT_WHEN_FOLLOWING,
	OPT_HTTP_PORT_FILE,
};

static const struct cli_opt follow_opts[] = {
    CLI_OPTS_CONFIG,
    {"data-dir", "DIR", CLI_OPT_KEY, "agent.data_dir",
     "where mirrored databases are kept"},
    {"source", "HOST:PORT", OPT_SOURCE, NULL,
     "source endpoint (repeat: failover order; [follow] sources)"},
    {"database", "NAME", OPT_DATABASE, NULL,
     "database to mirror (repeatable; [database \"NAME\"])"},
    {"ca", "FILE", CLI_OPT_KEY, "tls.ca_file",
     "CA the source's certificate must chain to"},
    {"cert", "FILE", CLI_OPT_KEY, "tls.cert_file",
     "our client certificate (PEM)"},
    {"key", "FILE", CLI_OPT_KEY, "tls.key_file", "its private key (PEM)"},
    {"server-name", "NAME", CLI_OPT_KEY, "tls.server_name",
     "name the source's certificate must carry"},
    {"progress-hook", "PATH", CLI_OPT_KEY, "follow.progress_hook",
     "executable run on progress (environment MIRROR_AGENT_*)"},
    {"log-file", "PATH", CLI_OPT_KEY, "agent.log_file",
     "log here (reopened on SIGHUP) instead of stderr"},
    {"log-level", "LEVEL", CLI_OPT_KEY, "agent.log_level", "log level"},
    {"http-listen", "HOST:PORT", CLI_OPT_KEY, "agent.http_listen",
     "read API address; port 0: any free port"},
    {"http-port-file", "PATH", OPT_HTTP_PORT_FILE, NULL,
     "write the read API's bound port there"},
    {"snapshot-compression", "MODE", CLI_OPT_KEY, "follow.snapshot_compression",
     "ask for zstd snapshot chunks: auto (on a WAN), zstd, none"},
    {"reseed", NULL, OPT_RESEED, NULL,
     "forget stored data and identity, start over"},
    {"exit-when-following", NULL, OPT_EXIT_WHEN_FOLLOWING, NULL,
     "exit 0 once every database is Following"},
    {NULL, NULL, 0, NULL, NULL},
};

const struct cli_command cmd_follow_cli = {
    "follow",
    "follow [--config FILE] [--set SECTION.KEY=VALUE]... [options]\n"
    "       mirror-agent follow --data-dir DIR --source HOST:PORT ... "
    "--database NAME ...\n"
    "           --ca FILE --cert FILE --key FILE [options]",
    "Mirrors databases from a source (`mirror-agent serve`). Every "
    "option sets the\nconfiguration key shown under it, with the same "
    "checks as the file\n(etc/mirror-agent.conf.example); options "
    "override the file. Exits 1 when every\ndatabase is in Error.\n",
    follow_opts,
    0,
    0,
};

/* What the command line holds besides configuration keys. */
struct follow_flags {
	char sources[4096]; /* --source values so far, comma separated */
	const char *http_port_file;
	bool reseed, exit_when_following;
};

/* Whether the configuration already has [database "name"]. */
static bool has_database(const struct agent_config *cfg, const char *name)
{
	return config_database_find(cfg, name) != NULL;
}

static int follow_custom(void *ctx, struct agent_config *cfg,
                         const struct cli_item *it)
{
	struct follow_flags *fl = ctx;
	char key[CONFIG_DATABASE_NAME_MAX + 32];
	size_t n;

	switch (it->opt->id) {
	case OPT_SOURCE:
		/* The flags' list replaces the file's; each --source adds
		 * one endpoint to it. */
		n = strlen(fl->sources);
		if (n + strlen(it->value) + 2 > sizeof fl->sources)
			return cli_usage_error(&cmd_follow_cli,
			                       "too many --source endpoints");
		snprintf(fl->sources + n, sizeof fl->sources - n, "%s%s",
		         n ? "," : "", it->value);
		return cli_set(&cmd_follow_cli, cfg, "source", "follow.sources",
		               fl->sources);
	case OPT_DATABASE:
		/* Adds the database; one the file already names keeps its
		 * settings (its applier in particular). */
		if (has_database(cfg, it->value))
			return 0;
		snprintf(key, sizeof key, "database.%.*s.applier",
		         CONFIG_DATABASE_NAME_MAX + 1, it->value);
		return cli_set(&cmd_follow_cli, cfg, "database", key, "none");
	case OPT_RESEED:
		fl->reseed = true;
		return 0;
	case OPT_EXIT_WHEN_FOLLOWING:
		fl->exit_when_following = true;
		return 0;
	case OPT_HTTP_PORT_FILE:
		fl->http_port_file = it->value;
		return 0;
	default:
		return 0;
	}
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
	sigset_t all, old;
	pid_t pid;

	if (cli->hook == NULL || cli->hook_pid != 0)
		return; /* one at a time: a slow hook never piles up */
	/* The child inherits libevent's signal handlers, which write to the
	 * parent's loop: a SIGTERM meant for the hook before its exec would
	 * stop the follower. Signals stay blocked across fork until the
	 * child has put every handler back to the default. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		log_warn("progress hook: fork failed: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		struct sigaction dfl;

		memset(&dfl, 0, sizeof dfl);
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		for (int sig = 1; sig < NSIG; sig++)
			(void)sigaction(sig, &dfl,
			                NULL); /* EINVAL: KILL, STOP */
		sigprocmask(SIG_SETMASK, &old, NULL);
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
	sigprocmask(SIG_SETMASK, &old, NULL);
	cli->hook_pid = pid;
}

/* log_set_display hooks: a log line replaces the bar's line, then the
 * bar is drawn again below it. */
static void bar_clear(void *arg)
{
	struct follow_cli *cli = arg;

	if (cli->bar_on)
		fputs("\r\033[K", stderr);
}

static void bar_draw(void *arg)
{
	struct follow_cli *cli = arg;

	if (cli->bar_on) {
		fputs(cli->bar, stderr);
		fflush(stderr);
	}
}

static void bar_render(struct follow_cli *cli, const char *db, uint64_t done,
                       uint64_t total, uint64_t rate)
{
	double pct = total > 0 ? 100.0 * (double)done / (double)total : 100.0;
	char fill[31];
	int n = (int)(pct * 30 / 100);

	for (int k = 0; k < 30; k++)
		fill[k] = k < n ? '#' : '.';
	fill[30] = '\0';
	snprintf(cli->bar, sizeof cli->bar,
	         "%s [%s] %5.1f%% %7.1f/%.1f MiB %6.1f MiB/s", db, fill, pct,
	         done / 1048576.0, total / 1048576.0, rate / 1048576.0);
}

/* The bootstrap of database i is over (its last chunk, or the state moved
 * on without a report at 100 %): the bar ends at 100 % and one summary
 * line says size, time and rate, on a terminal and in logs alike. */
static void boot_done(struct follow_cli *cli, size_t i, const char *db)
{
	uint64_t ms = clock_mono_ms() - cli->boot_start_ms[i];
	uint64_t total = cli->boot_total[i];
	double s = ms > 0 ? ms / 1000.0 : 0.001;

	if (cli->tty && cli->bar_on && cli->bar_db == i) {
		bar_render(cli, db, total, total, (uint64_t)(total / s));
		fprintf(stderr, "\r\033[K%s\n", cli->bar);
		cli->bar_on = false;
	}
	log_info("%s: bootstrapped %.1f MiB in %.1f s (%.1f MiB/s)", db,
	         total / 1048576.0, s, total / 1048576.0 / s);
	cli->boot_start_ms[i] = 0;
}

static void on_progress(const struct follow_progress *p, void *arg)
{
	struct follow_cli *cli = arg;
	size_t i = 0;

	while (i < cli->ndb && strcmp(cli->names[i], p->database) != 0)
		i++;
	if (p->state == MIRROR_BOOTSTRAPPING && p->bytes_total > 0 &&
	    i < cli->ndb) {
		double pct =
		    100.0 * (double)p->bytes_done / (double)p->bytes_total;
		if (cli->boot_start_ms[i] == 0)
			cli->boot_start_ms[i] = clock_mono_ms();
		cli->boot_total[i] = p->bytes_total;
		if (cli->tty) {
			/* Another database's bar ends its line first. */
			if (cli->bar_on && cli->bar_db != i)
				fputc('\n', stderr);
			bar_render(cli, p->database, p->bytes_done,
			           p->bytes_total, p->rate_bytes_per_s);
			cli->bar_on = true;
			cli->bar_db = i;
			fprintf(stderr, "\r\033[K%s", cli->bar);
			fflush(stderr);
		} else if (p->bytes_done >= cli->next_log[i] ||
		           p->bytes_done == p->bytes_total) {
			log_info("%s: Bootstrapping %.1f%% (%" PRIu64
			         " of %" PRIu64 " bytes, %.1f MiB/s)",
			         p->database, pct, p->bytes_done,
			         p->bytes_total,
			         p->rate_bytes_per_s / 1048576.0);
			cli->next_log[i] = p->bytes_done + cli->log_every;
		}
		if (p->bytes_done == p->bytes_total)
			boot_done(cli, i, p->database);
	} else if (i < cli->ndb && cli->boot_start_ms[i] != 0 &&
	           (p->state == MIRROR_CATCHING_UP ||
	            p->state == MIRROR_FOLLOWING)) {
		boot_done(cli, i, p->database);
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

static void on_all_failed(void *arg)
{
	struct follow_cli *cli = arg;

	log_error("every database is in Error or Promoted; stopping");
	cli->exit_code = 1;
	event_base_loopexit(cli->base, NULL);
}

/* Answers a promote request: DATA_DIR/promote.result, "status=N\n"
 * then text, and removes the request. */
static int promote_answer(const char *data_dir, int status, const char *text)
{
	char errmsg[MA_ERRMSG_SIZE], path[4096];
	size_t len = strlen(text) + 32;
	char *out = malloc(len);
	int rc;

	if (out == NULL)
		return MA_ERR_NOMEM;
	len = (size_t)snprintf(out, len, "status=%d\n%s", status, text);
	rc = io_write_file_durable(data_dir, PROMOTE_RESULT_FILE, out, len,
	                           errmsg);
	free(out);
	if (rc != 0)
		log_error("cannot write the promote result: %s", errmsg);
	if (io_path_join(path, sizeof path, data_dir, PROMOTE_REQUEST_FILE) ==
	    0)
		unlink(path);
	return rc;
}

/* Checks a promote request against what the running follower knows,
 * before it stops anything: every database is one of ours and holds a
 * complete state (a durable log position), and --at-index is not beyond
 * it. On a failure answers the request and returns false: bad input
 * stops nothing. */
static bool promote_precheck(struct follow_cli *cli, const char *path)
{
	char errmsg[MA_ERRMSG_SIZE], text[PROMOTE_REQUEST_MAX * 200];
	struct promote_request rq;
	size_t len = 0;
	void *buf;
	size_t blen;
	int rc;

	rc = io_read_file(path, 1 << 16, &buf, &blen, errmsg);
	if (rc == 0) {
		rc = promote_request_parse(buf, blen, &rq, errmsg);
		free(buf);
	}
	if (rc != 0) {
		snprintf(text, sizeof text, "mirror-agent promote: %s\n",
		         errmsg);
		promote_answer(cli->data_dir, CLI_EXIT_USAGE, text);
		return false;
	}
	text[0] = '\0';
	for (size_t k = 0; k < rq.n && len < sizeof text; k++) {
		size_t i = 0;
		uint64_t held;

		while (i < cli->ndb && strcmp(cli->names[i], rq.names[k]) != 0)
			i++;
		held = i < cli->ndb ? follow_log_index(cli->follow, i) : 0;
		if (i == cli->ndb)
			len += (size_t)snprintf(
			    text + len, sizeof text - len,
			    "mirror-agent promote: %s: not a database of "
			    "this follower\n",
			    rq.names[k]);
		else if (held == 0)
			len += (size_t)snprintf(
			    text + len, sizeof text - len,
			    "mirror-agent promote: %s: no complete state yet "
			    "(Bootstrapping); let the mirror finish its "
			    "bootstrap first\n",
			    rq.names[k]);
		else if (rq.at_index > held)
			len += (size_t)snprintf(
			    text + len, sizeof text - len,
			    "mirror-agent promote: %s: --at-index %" PRIu64
			    " is beyond the last durable, applied index "
			    "%" PRIu64 "; give at most %" PRIu64 "\n",
			    rq.names[k], rq.at_index, held, held);
	}
	if (text[0] == '\0')
		return true;
	log_warn("promote request refused; still following");
	promote_answer(cli->data_dir, CLI_EXIT_USAGE, text);
	return false;
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
		if (cli->tls_on)
			tls_take(cli, false);
		return;
	}
	if (sig == SIGUSR1) {
		char path[4096];
		if (io_path_join(path, sizeof path, cli->data_dir,
		                 PROMOTE_REQUEST_FILE) != 0 ||
		    access(path, F_OK) != 0) {
			log_warn("SIGUSR1 without %s: ignored", path);
			return;
		}
		if (!promote_precheck(cli, path))
			return; /* answered: nothing stops */
		log_info("SIGUSR1: promote requested (%s); stopping to "
		         "promote",
		         path);
		cli->promote = true;
		event_base_loopexit(cli->base, NULL);
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

/* After the loop stopped for SIGUSR1 (every wal synced and closed by
 * follow_free): promotes what DATA_DIR/promote.request names, writes
 * DATA_DIR/promote.result for `mirror-agent promote`, which waits for
 * it. sci[i] is database i's last source commit index. Returns the exit
 * status. */
static int promote_requested(const struct follow_options *o,
                             const uint64_t *sci)
{
	char path[4096], errmsg[MA_ERRMSG_SIZE], dir[4096], status_path[4096];
	struct promote_request rq;
	size_t cap = PROMOTE_REQUEST_MAX * (MA_ERRMSG_SIZE + 512) + 32, len = 0;
	char *out;
	void *buf;
	size_t blen;
	int rc, worst = CLI_EXIT_OK;

	if (io_path_join(path, sizeof path, o->data_dir,
	                 PROMOTE_REQUEST_FILE) != 0)
		return CLI_EXIT_FAILURE;
	/* The final report follow_free wrote: the promoted ones are marked
	 * there (cmd_promote_database). */
	if (o->status_file != NULL)
		snprintf(status_path, sizeof status_path, "%s", o->status_file);
	else if (io_path_join(status_path, sizeof status_path, o->data_dir,
	                      "status") != 0)
		return CLI_EXIT_FAILURE;
	out = malloc(cap);
	if (out == NULL)
		return CLI_EXIT_FAILURE;
	out[0] = '\0';
	rc = io_read_file(path, 1 << 16, &buf, &blen, errmsg);
	if (rc == 0) {
		rc = promote_request_parse(buf, blen, &rq, errmsg);
		free(buf);
	}
	if (rc != 0) {
		len += (size_t)snprintf(out, cap, "mirror-agent promote: %s\n",
		                        errmsg);
		worst = CLI_EXIT_USAGE;
		rq.n = 0;
	}
	for (size_t k = 0; k < rq.n; k++) {
		size_t i = 0;
		while (i < o->database_count &&
		       strcmp(o->databases[i], rq.names[k]) != 0)
			i++;
		if (i == o->database_count)
			continue; /* refused by promote_precheck() */
		if (o->directories[i] != NULL)
			snprintf(dir, sizeof dir, "%s", o->directories[i]);
		else
			snprintf(dir, sizeof dir, "%s/%s", o->data_dir,
			         o->databases[i]);
		rc = cmd_promote_database(o->databases[i], dir, o->appliers[i],
		                          rq.at_index, sci[i], status_path,
		                          out + len, cap - len);
		log_info("%.*s", (int)strcspn(out + len, "\n"), out + len);
		len += strlen(out + len);
		if (rc < 0)
			rc = CLI_EXIT_FAILURE; /* still locked: by whom? */
		if (rc > worst)
			worst = rc;
	}
	rc = promote_answer(o->data_dir, worst, out);
	free(out);
	return rc != 0 ? CLI_EXIT_FAILURE : worst;
}

int cmd_follow(int argc, char **argv)
{
	/* Each database's last source commit index, for a promote request. */
	uint64_t sci[FOLLOW_MAX_DATABASES] = {0};
	struct follow_cli cli = {0};
	struct agent_config cfg;
	struct config_errors *errs;
	struct follow_options o;
	struct follow_flags fl = {0};
	struct cli_args a;
	char errmsg[MA_ERRMSG_SIZE];
	const char *http_port_file;
	struct event *sigs[5] = {0};
	int rc, lock_fd = -1;

	rc = cli_parse(&cmd_follow_cli, argc, argv, &a);
	if (rc != 0)
		return rc < 0 ? CLI_EXIT_OK : rc;
	rc = cli_config(&cmd_follow_cli, &a, &cfg, follow_custom, &fl);
	cli_args_free(&a);
	if (rc != 0)
		goto out;
	rc = CLI_EXIT_USAGE;
	/* `follow` is the role: its flags make up a [follow] section. */
	cfg.follow.present = true;
	errs = malloc(sizeof *errs); /* ~16 KiB: off the stack */
	if (errs == NULL) {
		rc = CLI_EXIT_FAILURE;
		goto out;
	}
	config_errors_init(errs);
	if (config_validate_role(&cfg, CONFIG_ROLE_FOLLOW, errs) != 0) {
		config_errors_print(errs, stderr);
		fprintf(stderr, "(mirror-agent follow --help for usage)\n");
		free(errs);
		goto out;
	}
	free(errs);
	cli.exit_when_following = fl.exit_when_following;
	http_port_file = fl.http_port_file;

	log_set_level((enum log_level)cfg.agent.log_level);
	log_set_format((enum log_format)cfg.agent.log_format);
	if (cfg.agent.log_file != NULL &&
	    log_open(cfg.agent.log_file, errmsg) != 0) {
		fprintf(stderr, "mirror-agent follow: %s\n", errmsg);
		goto out;
	}
	cli.log_file = cfg.agent.log_file;
	follow_options_init(&o, &cfg.follow);
	o.data_dir = cfg.agent.data_dir;
	o.ca_file = cfg.tls.ca_file;
	o.cert_file = cfg.tls.cert_file;
	o.key_file = cfg.tls.key_file;
	if (cfg.tls.server_name != NULL)
		o.server_name = cfg.tls.server_name;
	for (size_t i = 0; i < cfg.follow.sources.n && i < FOLLOW_MAX_ENDPOINTS;
	     i++) {
		struct follow_endpoint *ep = &o.endpoints[i];

		/* Each source is verified against its own name, not the
		 * first one's. */
		ep->server_name = cfg.tls.server_name != NULL
		                      ? NULL
		                      : cfg.follow.sources.v[i].host;
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
		ep->name = cfg.follow.sources.v[i].host;
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
	o.on_progress = on_progress;
	o.on_all_failed = on_all_failed;
	o.on_applied = on_applied;
	o.progress_arg = &cli;
	cli.hook = cfg.follow.progress_hook;
	cli.log_every = cfg.follow.progress_log_bytes;
	cli.tty = isatty(STDERR_FILENO) && cfg.agent.log_file == NULL;
	if (cli.tty)
		log_set_display(bar_clear, bar_draw, &cli);

	/* Before anything is touched: one follower per data directory. */
	if (follow_lock_data_dir(o.data_dir, &lock_fd, errmsg) != 0) {
		fprintf(stderr, "mirror-agent follow: %s\n", errmsg);
		rc = 1;
		goto out;
	}
	if (fl.reseed) {
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

	/* The connections read in-memory copies of the [tls] files (see
	 * tls_take); when the files have problems at start-up they are used
	 * as they are, so that the handshake names them. */
	cli.tls_fd[0] = cli.tls_fd[1] = cli.tls_fd[2] = -1;
	if (o.ca_file != NULL && o.cert_file != NULL && o.key_file != NULL) {
		cli.tls_src[0] = o.ca_file;
		cli.tls_src[1] = o.cert_file;
		cli.tls_src[2] = o.key_file;
		cli.tls_on = true;
		if (!tls_take(&cli, true))
			for (int i = 0; i < 3; i++)
				snprintf(cli.tls_use[i], sizeof cli.tls_use[i],
				         "%s", cli.tls_src[i]);
		/* follow reads these at every connection: a reload changes
		 * what they say. */
		o.ca_file = cli.tls_use[0];
		o.cert_file = cli.tls_use[1];
		o.key_file = cli.tls_use[2];
	}

	signal(SIGPIPE, SIG_IGN);
	cli.base = event_base_new();
	if (cli.base == NULL) {
		rc = 1;
		goto out;
	}
	const int signals[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1};
	cli.data_dir = o.data_dir;
	for (size_t i = 0; i < 5; i++) {
		sigs[i] = evsignal_new(cli.base, signals[i], on_signal, &cli);
		if (sigs[i] != NULL)
			event_add(sigs[i], NULL);
	}
	if (follow_new(cli.base, &o, &cli.follow, errmsg) != 0) {
		fprintf(stderr, "mirror-agent follow: %s\n", errmsg);
		rc = 1;
		goto out_loop;
	}
	if (cfg.agent.http_listen.host[0] != '\0') {
		struct read_api_token toks[FOLLOW_MAX_DATABASES];
		struct read_api_options ro = {
		    .host = cfg.agent.http_listen.host,
		    .port = cfg.agent.http_listen.port,
		    .port_file = http_port_file,
		    .max_connections = cfg.follow.http_max_connections,
		    .max_per_address =
		        cfg.follow.http_max_connections_per_address,
		    .header_timeout_ms = cfg.follow.http_header_timeout_ms,
		    .body_timeout_ms = cfg.follow.http_body_timeout_ms,
		    .max_waiters = cfg.follow.http_max_waiters,
		    .max_response = cfg.follow.http_max_response,
		    .scan_max_items = cfg.follow.http_scan_max_items,
		    .status_token_sha256 = cfg.follow.http_status_token_sha256,
		    .tokens = toks};
		char srcs[CONFIG_MAX_SOURCES][CONFIG_HOST_MAX + 16];
		const char *srcp[CONFIG_MAX_SOURCES];
		for (size_t i = 0;
		     i < cfg.follow.sources.n && i < CONFIG_MAX_SOURCES; i++) {
			const struct config_endpoint *e =
			    &cfg.follow.sources.v[i];
			snprintf(srcs[i], sizeof srcs[i],
			         strchr(e->host, ':') ? "[%s]:%u" : "%s:%u",
			         e->host, (unsigned)e->port);
			srcp[ro.nsources++] = srcs[i];
		}
		ro.sources = srcp;
		for (size_t i = 0;
		     i < cfg.n_databases && i < FOLLOW_MAX_DATABASES; i++)
			toks[ro.ntokens++] = (struct read_api_token){
			    cfg.databases[i].name,
			    cfg.databases[i].read_token_sha256};
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
	if (cfg.agent.pid_file != NULL) {
		char text[32];
		snprintf(text, sizeof text, "%ld\n", (long)getpid());
		rc = cli_write_file(cfg.agent.pid_file, text, errmsg);
		if (rc != 0) {
			fprintf(stderr,
			        "mirror-agent follow: [agent] pid_file: %s\n",
			        errmsg);
			read_api_free(cli.api);
			follow_free(cli.follow);
			rc = CLI_EXIT_FAILURE;
			goto out_loop;
		}
	}
	/* Databases open, read API listening: ready (Type=notify). */
	cli.notify = notify_timer_new(cli.base, follow_status_line, &cli);
	if (notify_send("READY=1", errmsg) != 0)
		log_warn("%s", errmsg);
	event_base_dispatch(cli.base);
	notify_send("STOPPING=1", NULL);
	notify_timer_free(cli.notify);
	/* Parked readers get their 503 before the appliers go away; a
	 * tenth of a second of loop writes the answers out. */
	if (read_api_release_waiters(cli.api) > 0) {
		struct timeval flush = {0, 100 * 1000};
		event_base_loopexit(cli.base, &flush);
		event_base_dispatch(cli.base);
	}
	read_api_free(cli.api);
	cli.api = NULL;
	for (size_t i = 0; i < o.database_count; i++) {
		const struct mirror_status *st = follow_status(cli.follow, i);
		sci[i] = st != NULL ? st->source_commit_index : 0;
	}
	follow_free(cli.follow);
	rc = cli.exit_code;
	if (cli.promote)
		rc = promote_requested(&o, sci);
	if (cfg.agent.pid_file != NULL)
		unlink(cfg.agent.pid_file);
out_loop:
	for (size_t i = 0; i < 5; i++)
		if (sigs[i] != NULL)
			event_free(sigs[i]);
	event_base_free(cli.base);
out:
	if (cli.bar_on)
		fputc('\n', stderr);       /* a bar cut short keeps its line */
	log_set_display(NULL, NULL, NULL); /* cli ends here */
	if (lock_fd >= 0)
		close(lock_fd);
	for (int i = 0; cli.tls_on && i < 3; i++)
		if (cli.tls_fd[i] >= 0)
			close(cli.tls_fd[i]);
	config_free(&cfg);
	return rc;
}
