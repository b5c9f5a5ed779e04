/* The mirror's read-only state fed from its local wal (follow_apply.h). */
#include "agent/follow/follow_apply.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/apply/applier.h"
#include "common/errors.h"
#include "common/log.h"
#include "snapshot/snapshot.h"
#include "wal/wal.h"

bool follow_apply_durable(struct follow_apply *fa, struct wal_log *wal)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct applier *a = fa->applier;
	uint64_t durable, before;
	int rc = 0;

	if (a == NULL || wal == NULL || applier_error(a) != NULL ||
	    fa->job != NULL) /* a restore in flight replaces the state */
		return false;
	durable = wal_log_durable_index(wal);
	before = applier_applied_index(a);
	if (durable <= before)
		return false;
	if (!applier_needs_data(a)) {
		for (uint64_t i = before + 1; i <= durable && rc == 0; i++)
			rc = applier_apply(a, i, 0, WAL_ENTRY_BARRIER, NULL, 0,
			                   errmsg);
		return true;
	}
	if (fa->reader == NULL) {
		rc = wal_log_reader_open(wal, &fa->reader, errmsg);
		if (rc != 0) {
			applier_fail(a, rc, errmsg);
			return false;
		}
	}
	for (int tries = 0; applier_applied_index(a) < durable;) {
		uint64_t next = applier_applied_index(a) + 1;
		struct wal_entry e;

		if (wal_reader_position(fa->reader) != next)
			rc = wal_reader_seek(fa->reader, next, errmsg);
		if (rc == 0)
			rc = wal_reader_next(fa->reader, &e, errmsg);
		if (rc == 0 && e.index != next)
			rc = ma_errorf(errmsg, MA_ERR_CORRUPT,
			               "wal reader returned entry %" PRIu64
			               " instead of %" PRIu64,
			               e.index, next);
		if (rc == MA_ERR_AGAIN || rc == MA_ERR_NOTFOUND ||
		    rc == MA_ERR_DIVERGED) {
			/* A stale view (new segment, reset): refresh, and
			 * seek again. Bounded: the entry is durable. */
			if (++tries > 3)
				break;
			rc = wal_reader_refresh(fa->reader, errmsg);
			if (rc == 0)
				rc = wal_reader_seek(fa->reader, next, errmsg);
			continue;
		}
		if (rc == MA_ERR_COMPACTED) {
			rc = ma_errorf(
			    errmsg, MA_ERR_COMPACTED,
			    "the local wal starts at %" PRIu64
			    ", after the applied index %" PRIu64
			    " (no snapshot covers the entries between)",
			    wal_reader_first_index(fa->reader), next - 1);
			break;
		}
		if (rc != 0)
			break;
		tries = 0;
		rc = applier_apply(a, e.index, e.term, e.type, e.data, e.len,
		                   errmsg);
		if (rc != 0)
			break;
		fa->applied_bytes += e.len;
	}
	/* Whatever stopped it (an unreadable or compacted wal included),
	 * the applier is now behind for good: fail it, so reads answer the
	 * error rather than stale data and this is not retried per batch. */
	if (rc != 0 && rc != MA_ERR_AGAIN && rc != MA_ERR_NOTFOUND &&
	    rc != MA_ERR_DIVERGED && applier_error(a) == NULL)
		applier_fail(a, rc, errmsg);
	return applier_applied_index(a) != before;
}

/* A restore on a helper thread: it reads and checks the snapshot into a
 * private applier that nothing else sees; the loop adopts it when done.
 * The thread logs nothing (the log is the loop's). A newer snapshot
 * supersedes it without waiting for it: it is told to stop (`cancel`,
 * checked between records) and moved to fa->retired, where the loop
 * frees it once it has finished (reap). */
struct follow_apply_job {
	pthread_t thread;
	struct applier *fresh;
	enum applier_kind kind;
	char path[4096];
	uint64_t index;
	uint64_t started_ms;
	int rc;
	char errmsg[MA_ERRMSG_SIZE];
	atomic_bool done;
	atomic_bool cancel;
	struct follow_apply_job *next; /* in fa->retired */
};

static void *restore_thread(void *arg)
{
	struct follow_apply_job *job = arg;

	job->rc = applier_restore_file_cancel(job->fresh, job->path, job->index,
	                                      &job->cancel, job->errmsg);
	/* Superseded while it ran to the end: its whole store is freed here
	 * (O(keys)), not on the loop. */
	if (atomic_load(&job->cancel)) {
		applier_free(job->fresh);
		job->fresh = NULL;
	}
	atomic_store(&job->done, true);
	return NULL;
}

static void job_free(struct follow_apply_job *job)
{
	applier_free(job->fresh);
	free(job);
}

static void *free_thread(void *arg)
{
	job_free(arg);
	return NULL;
}

/* Frees a finished job off the loop when it still holds a restored store
 * (it had finished before it was superseded); inline when `wait` (at
 * shutdown) or when no thread can be started. */
static void job_free_later(struct follow_apply_job *job, bool wait)
{
	pthread_attr_t attr;
	pthread_t t;
	bool started = false;

	if (!wait && job->fresh != NULL && pthread_attr_init(&attr) == 0) {
		started = pthread_attr_setdetachstate(
		              &attr, PTHREAD_CREATE_DETACHED) == 0 &&
		          pthread_create(&t, &attr, free_thread, job) == 0;
		pthread_attr_destroy(&attr);
	}
	if (!started)
		job_free(job);
}

/* Frees the retired jobs whose thread has finished (their join returns at
 * once); with `wait`, every one, waiting for those still running (each was
 * told to stop, so not for long). */
static void reap(struct follow_apply *fa, bool wait)
{
	struct follow_apply_job **pp = &fa->retired;

	while (*pp != NULL) {
		struct follow_apply_job *job = *pp;

		if (!wait && !atomic_load(&job->done)) {
			pp = &job->next;
			continue;
		}
		pthread_join(job->thread, NULL);
		*pp = job->next;
		fa->retired_count--;
		if (job->rc == MA_ERR_AGAIN)
			fa->cancelled++;
		job_free_later(job, wait);
	}
}

/* Supersedes the restore in flight, if any, without waiting for it (the
 * loop goes on answering heartbeats, reads and status): what it restores
 * is older, so it is told to stop and left to wind down. Past
 * FOLLOW_APPLY_RETIRED_MAX of them still winding down, waits for them
 * (each stops at its next check). */
static void job_retire(struct follow_apply *fa)
{
	struct follow_apply_job *job = fa->job;

	reap(fa, false);
	if (job == NULL)
		return;
	atomic_store(&job->cancel, true);
	log_info("%s: restore of snapshot %" PRIu64
	         " superseded: stopping it in the background",
	         fa->name, job->index);
	job->next = fa->retired;
	fa->retired = job;
	fa->retired_count++;
	fa->job = NULL;
	if (fa->retired_count > FOLLOW_APPLY_RETIRED_MAX) {
		log_warn("%s: %zu superseded restores still running; waiting "
		         "for them to stop",
		         fa->name, fa->retired_count);
		reap(fa, true);
	}
}

size_t follow_apply_retired(const struct follow_apply *fa)
{
	return fa->retired_count;
}

uint64_t follow_apply_cancelled(const struct follow_apply *fa)
{
	return fa->cancelled;
}

bool follow_apply_restoring(const struct follow_apply *fa)
{
	return fa->job != NULL;
}

/* Starts the restore of path on a helper thread; the applier answers
 * "restoring" until follow_apply_poll adopts the result. 0 or a code
 * (then the caller restores inline). */
static int start_job(struct follow_apply *fa, const char *path, uint64_t index)
{
	char msg[MA_ERRMSG_SIZE];
	struct follow_apply_job *job;
	int rc;

	job_retire(fa); /* a newer snapshot supersedes one in flight */
	job = calloc(1, sizeof *job);
	if (job == NULL)
		return MA_ERR_NOMEM;
	job->kind = applier_get_kind(fa->applier);
	job->index = index;
	snprintf(job->path, sizeof job->path, "%s", path);
	atomic_init(&job->done, false);
	atomic_init(&job->cancel, false);
	rc = applier_new(job->kind, fa->name, &job->fresh, msg);
	if (rc == 0 &&
	    pthread_create(&job->thread, NULL, restore_thread, job) != 0)
		rc = MA_ERR_NOMEM;
	if (rc != 0) {
		applier_free(job->fresh);
		free(job);
		return rc;
	}
	fa->job = job;
	/* Reads answer 503 with this until the state is adopted; readers
	 * waiting for an index keep waiting. */
	snprintf(msg, sizeof msg,
	         "restoring snapshot %" PRIu64 " (reads resume when it is "
	         "loaded)",
	         index);
	applier_set_loading(fa->applier, msg);
	log_info("%s: restoring snapshot %" PRIu64 " on a helper thread",
	         fa->name, index);
	return 0;
}

static void log_restored(struct follow_apply *fa, uint64_t base)
{
	if (applier_error(fa->applier) == NULL)
		log_info(
		    "%s: %s applier at index %" PRIu64 " (snapshot %" PRIu64
		    ", %" PRIu64 " wal entries replayed)",
		    fa->name, applier_kind_name(applier_get_kind(fa->applier)),
		    applier_applied_index(fa->applier), base,
		    applier_applied_index(fa->applier) - base);
}

bool follow_apply_poll(struct follow_apply *fa, struct wal_log *wal)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct follow_apply_job *job = fa->job;
	uint64_t base;

	reap(fa, false);
	if (job == NULL || !atomic_load(&job->done))
		return false;
	pthread_join(job->thread, NULL);
	base = job->index;
	fa->restored_index = base;
	if (job->rc == 0) {
		applier_adopt(fa->applier, job->fresh, errmsg);
		job->fresh = NULL;
	} else {
		/* Replace the "restoring" error with the real one. */
		applier_reset(fa->applier, NULL);
		applier_fail(fa->applier, job->rc, job->errmsg);
	}
	applier_free(job->fresh);
	free(job);
	fa->job = NULL;
	if (applier_error(fa->applier) == NULL)
		follow_apply_durable(fa, wal);
	log_restored(fa, base);
	return true;
}

/* Restores the applier from the newest local snapshot (none: empty
 * state), then replays the durable wal after it. */
bool follow_apply_restore(struct follow_apply *fa, struct snapshot_store *store,
                          struct wal_log *wal)
{
	char errmsg[MA_ERRMSG_SIZE], path[4096];
	struct snapshot_meta meta;
	int rc;

	if (fa->applier == NULL)
		return false;
	job_retire(fa); /* superseded: what it restores is older */
	if (store == NULL) {
		applier_reset(fa->applier, errmsg);
		return true;
	}
	rc = snapshot_store_latest(store, &meta, errmsg);
	if (rc == MA_ERR_NOTFOUND) {
		applier_reset(fa->applier, errmsg);
		meta.id.index = 0;
	} else if (rc == 0) {
		rc = snapshot_store_path(store, meta.id.index, meta.id.term,
		                         path, sizeof path);
		if (rc == 0 && fa->restore_async &&
		    applier_needs_data(fa->applier) &&
		    start_job(fa, path, meta.id.index) == 0)
			return true;
		if (rc == 0)
			rc = applier_restore_file(fa->applier, path,
			                          meta.id.index, errmsg);
		else
			applier_fail(fa->applier, rc, "snapshot path too long");
	} else {
		applier_fail(fa->applier, rc, errmsg);
	}
	if (rc != 0 && rc != MA_ERR_NOTFOUND)
		return true;
	fa->restored_index = meta.id.index;
	follow_apply_durable(fa, wal);
	log_restored(fa, meta.id.index);
	return true;
}

void follow_apply_close(struct follow_apply *fa)
{
	job_retire(fa); /* its result would be dropped: stop it too */
	reap(fa, true);
	wal_reader_close(fa->reader);
	fa->reader = NULL;
	applier_free(fa->applier);
	fa->applier = NULL;
}
