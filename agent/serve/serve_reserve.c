/* serve's side of retention reservations (agent/serve/serve_reserve.h). */
#include "agent/serve/serve_reserve.h"

#include <inttypes.h>
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
