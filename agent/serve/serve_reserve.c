/* serve's side of retention reservations (agent/serve/serve_reserve.h). */
#include "agent/serve/serve_reserve.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "spool/spool.h"

int serve_reserve_record(const char *spool_dir, const char *identity,
                         const char *database, uint64_t index, uint64_t now_ms,
                         char *errmsg)
{
	struct spool_reservation r;
	char rdir[4096];

	if (spool_reserve_dir(rdir, sizeof rdir, spool_dir) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "%s: reservation directory path too long",
		                 spool_dir);
	memset(&r, 0, sizeof r);
	if (strlen(identity) >= sizeof r.identity ||
	    strlen(database) >= sizeof r.database)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "%s: identity or database too long for a "
		                 "reservation",
		                 rdir);
	strcpy(r.identity, identity);
	strcpy(r.database, database);
	r.index = index;
	r.updated_ms = now_ms;
	int rc = spool_reserve_write(rdir, &r, errmsg);

	if (rc != 0)
		return ma_errwrapf(errmsg, rc, "reservation of %s", identity);
	return 0;
}

uint64_t serve_reserve_bytes_from(const struct spool_segment *segs,
                                  size_t nsegs, uint64_t index)
{
	if (nsegs == 0 || index + 1 < segs[0].first_index)
		return 0;
	return spool_reserve_held(segs, nsegs, index, UINT64_MAX) +
	       segs[nsegs - 1].bytes;
}

int serve_reserve_scan(const char *spool_dir, uint64_t now_ms,
                       uint64_t bytes_per_s, struct serve_reserve_line **out,
                       size_t *n, char *errmsg)
{
	struct spool_reservation *v = NULL;
	struct spool_segment *segs = NULL;
	struct serve_reserve_line *lines = NULL;
	struct spool_reserve_budget budget;
	char rdir[4096], wal_dir[4096];
	size_t nv = 0, nsegs = 0;
	bool has_budget;
	int rc;

	*out = NULL;
	*n = 0;
	if (spool_reserve_dir(rdir, sizeof rdir, spool_dir) != 0 ||
	    spool_path(wal_dir, sizeof wal_dir, spool_dir, SPOOL_WAL_DIR) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 spool_dir);
	rc = spool_reserve_list(rdir, &v, &nv, errmsg);
	if (rc != 0 || nv == 0)
		return rc;
	has_budget = spool_reserve_budget_read(rdir, &budget, NULL) == 0;
	rc = spool_wal_segments(wal_dir, &segs, &nsegs, errmsg);
	if (rc != 0)
		goto out;
	lines = calloc(nv, sizeof *lines);
	if (lines == NULL) {
		rc = ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nv; i++) {
		struct serve_reserve_line *l = &lines[i];

		snprintf(l->identity, sizeof l->identity, "%s", v[i].identity);
		snprintf(l->database, sizeof l->database, "%s", v[i].database);
		l->index = v[i].index;
		l->age_ms =
		    now_ms > v[i].updated_ms ? now_ms - v[i].updated_ms : 0;
		/* The wal from the segment holding index to the end: what
		 * this mirror still needs. */
		l->bytes_held = serve_reserve_bytes_from(segs, nsegs, l->index);
		l->has_headroom = has_budget;
		if (has_budget)
			l->headroom_s = spool_reserve_headroom_s(
			    &budget, l->age_ms, l->bytes_held, bytes_per_s);
	}
	*out = lines;
	*n = nv;
out:
	free(segs);
	free(v);
	return rc;
}

char *serve_reserve_format_status(const struct serve_reserve_line *lines,
                                  size_t n)
{
	size_t cap = 64 + n * 460, len = 0;
	char *s = malloc(cap);

	if (s == NULL)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char h[24] = "unknown";

		if (lines[i].has_headroom)
			snprintf(h, sizeof h, "%" PRIu64, lines[i].headroom_s);
		len += (size_t)snprintf(
		    s + len, cap - len,
		    "identity=%s database=%s index=%" PRIu64 " age_ms=%" PRIu64
		    " bytes_held=%" PRIu64 " headroom_s=%s\n",
		    lines[i].identity, lines[i].database, lines[i].index,
		    lines[i].age_ms, lines[i].bytes_held, h);
	}
	return s;
}

int serve_reserve_report(const char *spool_dir, uint64_t now_ms,
                         uint64_t bytes_per_s, char *errmsg)
{
	struct serve_reserve_line *lines = NULL;
	char rdir[4096];
	struct stat st;
	size_t n = 0;
	char *text;
	int rc;

	rc = serve_reserve_scan(spool_dir, now_ms, bytes_per_s, &lines, &n,
	                        errmsg);
	if (rc != 0)
		return rc;
	text = serve_reserve_format_status(lines, n);
	free(lines);
	if (text == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	/* One log line per reservation: the status file's lines. */
	for (char *line = text, *nl; (nl = strchr(line, '\n')) != NULL;
	     line = nl + 1)
		log_info("serve: reservation: %.*s", (int)(nl - line), line);
	if (spool_reserve_dir(rdir, sizeof rdir, spool_dir) == 0 &&
	    stat(rdir, &st) == 0 && S_ISDIR(st.st_mode))
		rc = io_write_file_replace(rdir, SERVE_RESERVE_STATUS_FILE,
		                           text, strlen(text), errmsg);
	free(text);
	return rc;
}

/* ---- the writer thread ---- */

struct wentry {
	char spool_dir[4096];
	char identity[256];
	char database[65];
	uint64_t index, now_ms;
	bool pending; /* a value not written yet */
	bool failed;  /* the last write failed (logged once) */
};

struct serve_reserve_writer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work, idle;
	struct wentry *v;
	size_t n, cap;
	bool stop, busy;
	struct serve_reserve_writer_stats stats;
};

static struct wentry *next_pending(struct serve_reserve_writer *w)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].pending)
			return &w->v[i];
	return NULL;
}

static void *writer_main(void *arg)
{
	struct serve_reserve_writer *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct wentry *e = next_pending(w), copy;
		char em[MA_ERRMSG_SIZE];
		bool was_failed;
		int rc;

		if (e == NULL) {
			w->busy = false;
			pthread_cond_broadcast(&w->idle);
			if (w->stop)
				break;
			pthread_cond_wait(&w->work, &w->mu);
			continue;
		}
		w->busy = true;
		e->pending = false;
		copy = *e;
		pthread_mutex_unlock(&w->mu);
		/* The disk, without the lock: the loop keeps posting. */
		rc = serve_reserve_record(copy.spool_dir, copy.identity,
		                          copy.database, copy.index,
		                          copy.now_ms, em);
		pthread_mutex_lock(&w->mu);
		/* The array may have grown (realloc) meanwhile: find
		 * the entry again (entries are never removed). */
		e = NULL;
		for (size_t i = 0; i < w->n; i++)
			if (strcmp(w->v[i].identity, copy.identity) == 0 &&
			    strcmp(w->v[i].spool_dir, copy.spool_dir) == 0)
				e = &w->v[i];
		was_failed = e != NULL && e->failed;
		if (e != NULL)
			e->failed = rc != 0;
		if (rc == 0)
			w->stats.written++;
		else
			w->stats.failed++;
		pthread_mutex_unlock(&w->mu);
		if (rc == 0 && was_failed)
			log_info("serve: %s: the reservation of %s is written "
			         "again",
			         copy.database, copy.identity);
		else if (rc != 0 && !was_failed)
			log_warn("serve: %s: cannot record the retention "
			         "reservation of %s (the source's retention "
			         "will not wait for it); give serve write "
			         "access to the directory beside the spool "
			         "(docs/TAP.md \"Reservations\"): %s",
			         copy.database, copy.identity, em);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int serve_reserve_writer_new(struct serve_reserve_writer **out, char *errmsg)
{
	struct serve_reserve_writer *w = calloc(1, sizeof *w);

	*out = NULL;
	if (w == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->idle, NULL);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		pthread_cond_destroy(&w->idle);
		pthread_cond_destroy(&w->work);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return ma_errorf(errmsg, MA_ERR_IO,
		                 "cannot start the reservation writer thread");
	}
	*out = w;
	return 0;
}

int serve_reserve_writer_post(struct serve_reserve_writer *w,
                              const char *spool_dir, const char *identity,
                              const char *database, uint64_t index,
                              uint64_t now_ms, char *errmsg)
{
	struct wentry *e = NULL;

	if (strlen(spool_dir) >= sizeof e->spool_dir ||
	    strlen(identity) >= sizeof e->identity ||
	    strlen(database) >= sizeof e->database)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "%s: identity, database or path too long for "
		                 "a reservation",
		                 spool_dir);
	pthread_mutex_lock(&w->mu);
	for (size_t i = 0; i < w->n; i++)
		if (strcmp(w->v[i].identity, identity) == 0 &&
		    strcmp(w->v[i].spool_dir, spool_dir) == 0)
			e = &w->v[i];
	if (e == NULL) {
		if (w->n == w->cap) {
			size_t cap = w->cap == 0 ? 8 : w->cap * 2;
			struct wentry *v = realloc(w->v, cap * sizeof *v);

			if (v == NULL) {
				pthread_mutex_unlock(&w->mu);
				return ma_errorf(errmsg, MA_ERR_NOMEM,
				                 "out of memory");
			}
			w->v = v;
			w->cap = cap;
		}
		e = &w->v[w->n++];
		memset(e, 0, sizeof *e);
		strcpy(e->spool_dir, spool_dir);
		strcpy(e->identity, identity);
	}
	if (e->pending)
		w->stats.coalesced++;
	strcpy(e->database, database);
	e->index = index;
	e->now_ms = now_ms;
	e->pending = true;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

void serve_reserve_writer_flush(struct serve_reserve_writer *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->busy || next_pending(w) != NULL)
		pthread_cond_wait(&w->idle, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

void serve_reserve_writer_stats(struct serve_reserve_writer *w,
                                struct serve_reserve_writer_stats *out)
{
	pthread_mutex_lock(&w->mu);
	*out = w->stats;
	pthread_mutex_unlock(&w->mu);
}

void serve_reserve_writer_free(struct serve_reserve_writer *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->idle);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->mu);
	free(w->v);
	free(w);
}
