/* Mirror checkpoints (follow_checkpoint.h): the cadence and trim rules,
 * and the process glue that writes the state in a forked child. */
#include "agent/follow/follow_checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/apply/applier.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "snapshot/snapshot.h"
#include "spool/spool.h"
#include "wal/wal.h"

/* ---- the rules ---- */

bool follow_checkpoint_due(const struct follow_checkpoint_config *cfg,
                           uint64_t last_index, uint64_t last_bytes,
                           uint64_t last_ms, uint64_t applied, uint64_t bytes,
                           uint64_t now)
{
	if (applied <= last_index)
		return false; /* nothing new to write */
	if (cfg->every_entries > 0 &&
	    applied - last_index >= cfg->every_entries)
		return true;
	if (cfg->every_bytes > 0 && bytes >= last_bytes &&
	    bytes - last_bytes >= cfg->every_bytes)
		return true;
	return cfg->every_ms > 0 && now >= last_ms &&
	       now - last_ms >= cfg->every_ms;
}

uint64_t follow_checkpoint_trim_point(uint64_t ckpt_index,
                                      uint64_t keep_entries, uint64_t reserved)
{
	uint64_t point =
	    ckpt_index >= keep_entries ? ckpt_index - keep_entries + 1 : 1;

	if (reserved < point)
		point = reserved;
	return point < 1 ? 1 : point;
}

/* ---- writing the state ---- */

/* What the writer reports; small enough for one atomic pipe write. */
struct result {
	int32_t rc;
	uint32_t crc;
	uint64_t size;
	char msg[256];
};

/* Serialises, writes and fsyncs the temp file. Runs in the child (or
 * inline): no logging, since the child shares the parent's log file. */
static void write_state(const struct follow_checkpoint *ck,
                        const struct applier *a, struct result *res)
{
	char path[4096 + 130];
	void *buf = NULL;
	size_t len = 0;
	int fd = -1, rc;

	memset(res, 0, sizeof *res);
	rc = applier_serialize(a, &buf, &len, res->msg);
	if (rc != 0)
		goto out;
	snprintf(path, sizeof path, "%s/%s", ck->tmp_dir, ck->tmp_name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = ma_errorf(res->msg, ma_error_from_errno(errno),
		               "cannot create %s: %s", path, strerror(errno));
		goto out;
	}
	rc = io_write_all(fd, buf, len, res->msg);
	if (rc == 0)
		rc = io_fsync(fd, res->msg);
	if (close(fd) != 0 && rc == 0)
		rc = ma_errorf(res->msg, MA_ERR_IO, "close %s: %s", path,
		               strerror(errno));
	res->size = len;
	res->crc = crc32c(buf, len);
out:
	free(buf);
	res->rc = rc;
}

static void remove_tmp(const struct follow_checkpoint *ck)
{
	char path[4096 + 130];

	snprintf(path, sizeof path, "%s/%s", ck->tmp_dir, ck->tmp_name);
	if (unlink(path) != 0 && errno != ENOENT)
		log_warn("%s: cannot remove %s: %s", ck->name, path,
		         strerror(errno));
}

/* The downstream budget from the config (0 max_age: the defaults). */
static void budget_of(const struct follow_checkpoint_config *cfg,
                      struct spool_reserve_budget *b)
{
	b->max_bytes = cfg->reserve_max_age_ms != 0
	                   ? cfg->reserve_max_bytes
	                   : FOLLOW_CHECKPOINT_RESERVE_MAX_BYTES;
	b->max_age_ms = cfg->reserve_max_age_ms != 0
	                    ? cfg->reserve_max_age_ms
	                    : FOLLOW_CHECKPOINT_RESERVE_MAX_AGE_MS;
}

int follow_checkpoint_trim(struct follow_checkpoint *ck,
                           struct snapshot_store *store, struct wal_log *wal,
                           uint64_t index, char *errmsg)
{
	uint64_t point, first_before = wal_log_first_index(wal);
	int rc;

	rc = snapshot_store_retain(store, ck->cfg.keep_snapshots, NULL, errmsg);
	if (rc != 0)
		log_warn("%s: snapshot retention: %s", ck->name, errmsg);
	/* The snapshot is durable (store commit): what is before it may
	 * go, except the margin and what downstream mirrors reserved. */
	point = follow_checkpoint_trim_point(index, ck->cfg.wal_keep_entries,
	                                     ck->reserved_index);
	/* Never past what the wal durably holds (a snapshot fetched from
	 * the source may be ahead of it). */
	if (point > wal_log_durable_index(wal) + 1)
		point = wal_log_durable_index(wal) + 1;
	/* Cascade: mirrors served from this directory reserve beside it
	 * (serve writes them); kept within the budget ([follow]
	 * reserve_max_*). */
	if (ck->dir != NULL) {
		struct spool_reserve_budget budget;

		budget_of(&ck->cfg, &budget);
		point = spool_reserve_apply(ck->dir, point, &budget,
		                            clock_wall_ms(), ck->name);
	}
	rc = point > first_before ? wal_log_truncate_prefix(wal, point, errmsg)
	                          : 0;
	if (rc != 0)
		return rc;
	ck->last_first_index = wal_log_first_index(wal);
	return 0;
}

/* Publishes the budget beside dir, as a tap does beside its spool
 * (tap.c publish_budget): serve on this directory reads it to tell the
 * mirrors it serves their headroom. */
static void publish_budget(const struct follow_checkpoint *ck)
{
	struct spool_reserve_budget b;
	char rdir[4096], em[MA_ERRMSG_SIZE];

	budget_of(&ck->cfg, &b);
	if (spool_reserve_dir(rdir, sizeof rdir, ck->dir) != 0)
		return;
	if (io_mkdir_p(rdir, 0775, em) != 0 ||
	    spool_reserve_budget_write(rdir, &b, em) != 0)
		log_warn("%s: reservation budget not published (serve on "
		         "this directory cannot report its mirrors' "
		         "headroom): %s",
		         ck->name, em);
}

int follow_checkpoint_init(struct follow_checkpoint *ck,
                           const struct follow_checkpoint_config *cfg,
                           const char *name, const char *dir,
                           uint64_t base_index, uint64_t base_bytes,
                           uint64_t now, char *errmsg)
{
	memset(ck, 0, sizeof *ck);
	ck->cfg = *cfg;
	if (ck->cfg.keep_snapshots < 1)
		ck->cfg.keep_snapshots = 2; /* unset: what a bootstrap kept */
	ck->name = name;
	ck->pid = -1;
	ck->pipe_fd = -1;
	ck->reserved_index = FOLLOW_CHECKPOINT_NO_RESERVATION;
	ck->dir = dir;
	if (io_path_join(ck->tmp_dir, sizeof ck->tmp_dir, dir, "recv") != 0 ||
	    snprintf(ck->tmp_name, sizeof ck->tmp_name, "%s.checkpoint.tmp",
	             name) >= (int)sizeof ck->tmp_name)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 dir);
	follow_checkpoint_rebase(ck, base_index, base_bytes, now);
	remove_tmp(ck); /* a crash in the middle of a write */
	return 0;
}

void follow_checkpoint_rebase(struct follow_checkpoint *ck, uint64_t index,
                              uint64_t bytes, uint64_t now)
{
	ck->last_index = index;
	ck->last_bytes = bytes;
	ck->last_ms = now;
}

bool follow_checkpoint_busy(const struct follow_checkpoint *ck)
{
	return ck->pid > 0;
}

/* Forks the writer (or writes inline). 0 with the child running (or
 * *res filled inline), or a code: the attempt failed. */
static int start(struct follow_checkpoint *ck,
                 const struct follow_checkpoint_env *env, struct result *res,
                 char *errmsg)
{
	uint64_t t0;
	int fds[2];
	pid_t pid;
	int rc;

	rc = io_mkdir_p(ck->tmp_dir, 0755, errmsg);
	if (rc != 0)
		return rc;
	t0 = clock_mono_us();
	if (ck->cfg.inline_write) {
		write_state(ck, env->applier, res);
		ck->last_stall_us = clock_mono_us() - t0;
		if (ck->last_stall_us > ck->longest_stall_us)
			ck->longest_stall_us = ck->last_stall_us;
		return 0;
	}
	if (pipe2(fds, O_CLOEXEC) != 0)
		return ma_errorf(errmsg, ma_error_from_errno(errno),
		                 "%s: pipe: %s", ck->name, strerror(errno));
	pid = fork();
	if (pid < 0) {
		rc = ma_errorf(errmsg, ma_error_from_errno(errno),
		               "%s: fork for a checkpoint: %s (memory or "
		               "process limits?)",
		               ck->name, strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return rc;
	}
	if (pid == 0) {
		struct result r;

		/* A signal for the daemon must not reach the parent's loop
		 * through libevent's socketpair from here. */
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGPIPE, SIG_IGN);
		/* Nor may it outlive a killed daemon: it holds the wal's
		 * lock descriptor, which a restart must be able to take. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[0]);
		write_state(ck, env->applier, &r);
		_exit(write(fds[1], &r, sizeof r) == (ssize_t)sizeof r ? 0 : 1);
	}
	close(fds[1]);
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0)
		log_warn("%s: checkpoint pipe: %s", ck->name, strerror(errno));
	ck->pid = pid;
	ck->pipe_fd = fds[0];
	ck->last_stall_us = clock_mono_us() - t0;
	if (ck->last_stall_us > ck->longest_stall_us)
		ck->longest_stall_us = ck->last_stall_us;
	return 0;
}

/* Reaps the child; res->rc says how it went (1: still running). */
static void collect(struct follow_checkpoint *ck, struct result *res)
{
	ssize_t n = read(ck->pipe_fd, res, sizeof *res);
	int status = 0;

	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		res->rc = 1;
		return;
	}
	if (n != (ssize_t)sizeof *res) {
		memset(res, 0, sizeof *res);
		res->rc = MA_ERR_FAILED;
		snprintf(res->msg, sizeof res->msg,
		         "the checkpoint writer (pid %d) ended without a "
		         "result (killed? out of memory?)",
		         (int)ck->pid);
	}
	close(ck->pipe_fd);
	ck->pipe_fd = -1;
	/* It exits right after its one write. */
	while (waitpid(ck->pid, &status, 0) < 0 && errno == EINTR)
		;
	ck->pid = -1;
}

/* Commits the written file, keeps the newest snapshots, trims the wal. */
static int finish(struct follow_checkpoint *ck,
                  const struct follow_checkpoint_env *env,
                  const struct result *res, uint64_t now, char *errmsg)
{
	struct snapshot_meta meta;
	uint64_t first_before;
	int rc;

	if (res->rc != 0) {
		ck->failed++;
		log_warn("%s: checkpoint at %" PRIu64 " failed: %s (retried "
		         "at the next due time)",
		         ck->name, ck->index, res->msg);
		remove_tmp(ck);
		return 0;
	}
	memset(&meta, 0, sizeof meta);
	snprintf(meta.id.cluster_id, sizeof meta.id.cluster_id, "%s",
	         env->cluster_id);
	snprintf(meta.id.database_id, sizeof meta.id.database_id, "%s",
	         ck->name);
	meta.id.index = ck->index;
	meta.id.term = ck->term;
	meta.id.size = res->size;
	meta.id.crc32c = res->crc;
	meta.created_ms = clock_wall_ms();
	rc = snapshot_store_commit(env->store, ck->tmp_dir, ck->tmp_name, &meta,
	                           errmsg);
	if (rc == MA_ERR_IO || rc == MA_ERR_NOSPACE) {
		remove_tmp(ck);
		return rc; /* a failed fsync: fail-stop */
	}
	if (rc != 0) {
		ck->failed++;
		log_warn("%s: checkpoint at %" PRIu64 " not stored: %s",
		         ck->name, ck->index, errmsg);
		remove_tmp(ck);
		return 0;
	}
	ck->taken++;
	ck->last_size = res->size;
	first_before = wal_log_first_index(env->wal);
	rc =
	    follow_checkpoint_trim(ck, env->store, env->wal, ck->index, errmsg);
	if (rc != 0)
		return rc;
	ck->last_first_index = wal_log_first_index(env->wal);
	log_info("%s: checkpoint %" PRIu64 "-%" PRIu64 " stored (%" PRIu64
	         " bytes, %" PRIu64 " ms, loop stall %" PRIu64
	         " us); wal now starts at %" PRIu64 " (was %" PRIu64 ")",
	         ck->name, ck->index, ck->term, res->size,
	         now >= ck->started_ms ? now - ck->started_ms : 0,
	         ck->last_stall_us, ck->last_first_index, first_before);
	return 0;
}

int follow_checkpoint_tick(struct follow_checkpoint *ck,
                           const struct follow_checkpoint_env *env,
                           uint64_t now, char *errmsg)
{
	struct result res;
	uint64_t applied;
	int rc;

	/* The first tick with a known source (the caller ticks only then:
	 * nothing is created for a source not yet accepted). */
	if (ck->cfg.trims && !ck->budget_published) {
		publish_budget(ck);
		ck->budget_published = true;
	}
	if (ck->pid > 0) {
		collect(ck, &res);
		if (res.rc == 1)
			return 0;
		return finish(ck, env, &res, now, errmsg);
	}
	if (env->applier == NULL || env->wal == NULL || env->store == NULL ||
	    !applier_can_serialize(env->applier) ||
	    applier_error(env->applier) != NULL)
		return 0;
	applied = applier_applied_index(env->applier);
	if (!follow_checkpoint_due(&ck->cfg, ck->last_index, ck->last_bytes,
	                           ck->last_ms, applied, env->applied_bytes,
	                           now))
		return 0;
	/* The cadence restarts now whatever happens: a failing attempt is
	 * retried at the next due time, not at every tick. */
	follow_checkpoint_rebase(ck, applied, env->applied_bytes, now);
	rc = wal_log_term_at(env->wal, applied, &ck->term, errmsg);
	if (rc != 0) {
		/* The applied index is the base of the wal (a snapshot the
		 * store holds already): nothing to write. */
		if (rc != MA_ERR_COMPACTED)
			log_warn("%s: no checkpoint at %" PRIu64 ": %s",
			         ck->name, applied, errmsg);
		return 0;
	}
	ck->index = applied;
	ck->started_ms = now;
	rc = start(ck, env, &res, errmsg);
	if (rc != 0) {
		ck->failed++;
		log_warn("%s: checkpoint at %" PRIu64 " not started: %s",
		         ck->name, applied, errmsg);
		return 0;
	}
	if (ck->cfg.inline_write)
		return finish(ck, env, &res, now, errmsg);
	return 0;
}

void follow_checkpoint_close(struct follow_checkpoint *ck)
{
	int status;

	if (ck->name == NULL)
		return; /* never initialised */
	if (ck->pid > 0) {
		/* Our own child, by its pid, and only while it is unreaped:
		 * the daemon's SIGCHLD handler may have reaped it already
		 * (waitpid(-1)), and then its pid may belong to anyone. */
		if (waitpid(ck->pid, &status, WNOHANG) == 0) {
			kill(ck->pid, SIGKILL);
			while (waitpid(ck->pid, &status, 0) < 0 &&
			       errno == EINTR)
				;
		}
		ck->pid = -1;
		remove_tmp(ck);
	}
	if (ck->pipe_fd >= 0) {
		close(ck->pipe_fd);
		ck->pipe_fd = -1;
	}
}
