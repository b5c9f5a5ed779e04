/* snapshot store: filesystem glue. One directory of <index>-<term>.snapshot
 * data files, each with a <index>-<term>.meta metadata file, and the
 * store.lock file that serialises mutations across processes. See
 * snapshot.h for the visibility order and how pins work across processes. */
#include "snapshot/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"

#define LOCK_NAME "store.lock"
#define COPY_BUF_SIZE (1024 * 1024)

struct pin {
	uint64_t index;
	uint64_t term;
	unsigned refs;
	int fd; /* holds LOCK_SH on the .snapshot while refs > 0 */
};

struct snapshot_store {
	char *dir;   /* as given */
	char *real;  /* realpath(dir): base for cross-directory renames */
	int lock_fd; /* -1: opened read-only, mutations refused */
	bool readonly;
	struct pin *pins;
	size_t npins;
	size_t pins_cap;
};

static int name_of(char *out, size_t size, uint64_t index, uint64_t term,
                   const char *suffix)
{
	int n = snprintf(out, size, "%" PRIu64 "-%" PRIu64 "%s", index, term,
	                 suffix);

	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

/* Parses "<index>-<term><suffix>" in canonical decimal form only. */
static bool parse_name(const char *name, const char *suffix, uint64_t *index,
                       uint64_t *term)
{
	char canon[128];
	char *end;

	if (name[0] < '0' || name[0] > '9')
		return false;
	errno = 0;
	*index = strtoull(name, &end, 10);
	if (errno != 0 || *end != '-' || end[1] < '0' || end[1] > '9')
		return false;
	*term = strtoull(end + 1, &end, 10);
	if (errno != 0 || strcmp(end, suffix) != 0)
		return false;
	if (name_of(canon, sizeof canon, *index, *term, suffix) != 0)
		return false;
	return strcmp(canon, name) == 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int store_lock(struct snapshot_store *s, char *errmsg)
{
	if (s->readonly)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "%s: the snapshot store was opened read-only "
		                 "(serve): it changes nothing in a spool",
		                 s->dir);
	while (flock(s->lock_fd, LOCK_EX) != 0) {
		if (errno != EINTR)
			return ma_errorf(errmsg, MA_ERR_IO,
			                 "%s/" LOCK_NAME ": flock: %s", s->dir,
			                 strerror(errno));
	}
	return 0;
}

static void store_unlock(struct snapshot_store *s)
{
	if (s->lock_fd >= 0)
		flock(s->lock_fd, LOCK_UN);
}

static int path_of(const struct snapshot_store *s, char *out, size_t size,
                   uint64_t index, uint64_t term, const char *suffix)
{
	char name[128];

	if (name_of(name, sizeof name, index, term, suffix) != 0)
		return -1;
	return io_path_join(out, size, s->dir, name) == 0 ? 0 : -1;
}

/* Removes *.tmp files and .meta files whose .snapshot is missing (a commit
 * interrupted between its two steps, or a deletion between its two). */
static int sweep(struct snapshot_store *s, char *errmsg)
{
	struct dirent *de;
	size_t removed = 0;
	DIR *d;

	d = opendir(s->dir);
	if (d == NULL)
		return ma_errorf(errmsg, MA_ERR_IO, "%s: opendir: %s", s->dir,
		                 strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX], snap[PATH_MAX];
		uint64_t index, term;
		bool stale = false;

		if (has_suffix(de->d_name, ".tmp")) {
			stale = true;
		} else if (parse_name(de->d_name, ".meta", &index, &term)) {
			if (path_of(s, snap, sizeof snap, index, term,
			            ".snapshot") == 0 &&
			    access(snap, F_OK) != 0 && errno == ENOENT)
				stale = true;
		}
		if (!stale)
			continue;
		if (io_path_join(path, sizeof path, s->dir, de->d_name) != 0)
			continue;
		if (unlink(path) != 0 && errno != ENOENT) {
			int err = errno;
			closedir(d);
			return ma_errorf(errmsg, MA_ERR_IO,
			                 "%s: cannot remove leftover: %s", path,
			                 strerror(err));
		}
		log_info("snapshot store: removed leftover %s", path);
		removed++;
	}
	closedir(d);
	if (removed > 0) {
		int rc = io_fsync_dir(s->dir, errmsg);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int snapshot_store_open(const char *dir, struct snapshot_store **out,
                        char *errmsg)
{
	struct snapshot_store *s;
	char lock_path[PATH_MAX];
	int rc;

	rc = io_mkdir_p(dir, 0755, errmsg);
	if (rc != 0)
		return ma_errwrapf(errmsg, rc, "cannot create snapshot store");
	s = calloc(1, sizeof *s);
	if (s == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	s->lock_fd = -1;
	s->dir = strdup(dir);
	s->real = realpath(dir, NULL);
	if (s->dir == NULL || s->real == NULL) {
		rc =
		    ma_errorf(errmsg, s->dir == NULL ? MA_ERR_NOMEM : MA_ERR_IO,
		              "%s: %s", dir, strerror(errno));
		goto err_free;
	}
	if (io_path_join(lock_path, sizeof lock_path, dir, LOCK_NAME) != 0) {
		rc = ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long", dir);
		goto err_free;
	}
	s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lock_fd < 0) {
		rc = ma_errorf(errmsg, ma_error_from_errno(errno), "%s: %s",
		               lock_path, strerror(errno));
		goto err_free;
	}
	rc = store_lock(s, errmsg);
	if (rc != 0)
		goto err_close;
	rc = sweep(s, errmsg);
	store_unlock(s);
	if (rc != 0)
		goto err_close;
	*out = s;
	return 0;

err_close:
	close(s->lock_fd);
err_free:
	free(s->real);
	free(s->dir);
	free(s);
	return rc;
}

int snapshot_store_open_readonly(const char *dir, struct snapshot_store **out,
                                 char *errmsg)
{
	struct snapshot_store *s = calloc(1, sizeof *s);

	if (s == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	s->lock_fd = -1;
	s->readonly = true;
	s->dir = strdup(dir);
	s->real = s->dir != NULL ? realpath(dir, NULL) : NULL;
	if (s->real == NULL && s->dir != NULL && errno == ENOENT)
		s->real = strdup(dir);
	if (s->dir == NULL || s->real == NULL) {
		int rc =
		    ma_errorf(errmsg, s->dir == NULL ? MA_ERR_NOMEM : MA_ERR_IO,
		              "%s: %s", dir, strerror(errno));

		free(s->real);
		free(s->dir);
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void snapshot_store_close(struct snapshot_store *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->npins; i++)
		close(s->pins[i].fd);
	free(s->pins);
	close(s->lock_fd);
	free(s->real);
	free(s->dir);
	free(s);
}

const char *snapshot_store_dir(const struct snapshot_store *s)
{
	return s->dir;
}

int snapshot_store_path(const struct snapshot_store *s, uint64_t index,
                        uint64_t term, char *out, size_t out_size)
{
	if (path_of(s, out, out_size, index, term, ".snapshot") != 0)
		return MA_ERR_INVAL;
	return 0;
}

int snapshot_store_get(struct snapshot_store *s, uint64_t index, uint64_t term,
                       struct snapshot_meta *meta, char *errmsg)
{
	char snap[PATH_MAX], mpath[PATH_MAX];
	int rc;

	if (path_of(s, snap, sizeof snap, index, term, ".snapshot") != 0 ||
	    path_of(s, mpath, sizeof mpath, index, term, ".meta") != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 s->dir);
	if (access(snap, F_OK) != 0)
		return ma_errorf(errmsg,
		                 errno == ENOENT ? MA_ERR_NOTFOUND : MA_ERR_IO,
		                 "%s: %s", snap, strerror(errno));
	rc = snapshot_meta_read(mpath, meta, errmsg);
	if (rc == MA_ERR_NOTFOUND)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s: metadata file missing; delete the "
		                 "snapshot or re-create it",
		                 mpath);
	if (rc != 0)
		return rc;
	if (meta->id.index != index || meta->id.term != term)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s: metadata names index %" PRIu64
		                 " term %" PRIu64 "; file was renamed?",
		                 mpath, meta->id.index, meta->id.term);
	return 0;
}

static int cmp_meta(const void *a, const void *b)
{
	const struct snapshot_meta *x = a, *y = b;

	if (x->id.index != y->id.index)
		return x->id.index < y->id.index ? -1 : 1;
	if (x->id.term != y->id.term)
		return x->id.term < y->id.term ? -1 : 1;
	return 0;
}

int snapshot_store_list(struct snapshot_store *s, struct snapshot_meta **metas,
                        size_t *count, char *errmsg)
{
	struct snapshot_meta *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	d = opendir(s->dir);
	if (d == NULL && errno == ENOENT && s->readonly) {
		/* The writer has not created the store yet. */
		*metas = NULL;
		*count = 0;
		return 0;
	}
	if (d == NULL)
		return ma_errorf(errmsg, MA_ERR_IO, "%s: opendir: %s", s->dir,
		                 strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char why[MA_ERRMSG_SIZE];
		uint64_t index, term;
		int rc;

		if (!parse_name(de->d_name, ".snapshot", &index, &term))
			continue;
		if (n == cap) {
			size_t ncap = cap == 0 ? 16 : cap * 2;
			struct snapshot_meta *nv =
			    realloc(v, ncap * sizeof *nv);
			if (nv == NULL) {
				free(v);
				closedir(d);
				return ma_errorf(errmsg, MA_ERR_NOMEM,
				                 "out of memory");
			}
			v = nv;
			cap = ncap;
		}
		rc = snapshot_store_get(s, index, term, &v[n], why);
		if (rc == MA_ERR_NOTFOUND)
			continue; /* deleted while we looked */
		if (rc != 0) {
			log_warn("snapshot store: skipping %s: %s", de->d_name,
			         why);
			continue;
		}
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof *v, cmp_meta);
	*metas = v;
	*count = n;
	return 0;
}

int snapshot_store_latest(struct snapshot_store *s, struct snapshot_meta *meta,
                          char *errmsg)
{
	struct snapshot_meta *v;
	size_t n;
	int rc;

	rc = snapshot_store_list(s, &v, &n, errmsg);
	if (rc != 0)
		return rc;
	if (n == 0) {
		free(v);
		return ma_errorf(errmsg, MA_ERR_NOTFOUND,
		                 "%s: no snapshot in store", s->dir);
	}
	*meta = v[n - 1];
	free(v);
	return 0;
}

static struct pin *pin_find(struct snapshot_store *s, uint64_t index,
                            uint64_t term)
{
	for (size_t i = 0; i < s->npins; i++)
		if (s->pins[i].index == index && s->pins[i].term == term)
			return &s->pins[i];
	return NULL;
}

int snapshot_store_pin(struct snapshot_store *s, uint64_t index, uint64_t term,
                       char *errmsg)
{
	struct stat fst, pst;
	char path[PATH_MAX];
	struct pin *p;
	int fd;

	p = pin_find(s, index, term);
	if (p != NULL) {
		p->refs++;
		return 0;
	}
	if (path_of(s, path, sizeof path, index, term, ".snapshot") != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 s->dir);
	if (s->npins == s->pins_cap) {
		size_t ncap = s->pins_cap == 0 ? 4 : s->pins_cap * 2;
		struct pin *np = realloc(s->pins, ncap * sizeof *np);
		if (np == NULL)
			return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
		s->pins = np;
		s->pins_cap = ncap;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ma_errorf(errmsg,
		                 errno == ENOENT ? MA_ERR_NOTFOUND : MA_ERR_IO,
		                 "%s: cannot pin: %s", path, strerror(errno));
	/* Blocks only while a retention pass holds the exclusive lock. */
	while (flock(fd, LOCK_SH) != 0) {
		if (errno != EINTR) {
			int err = errno;
			close(fd);
			return ma_errorf(errmsg, MA_ERR_IO, "%s: flock: %s",
			                 path, strerror(err));
		}
	}
	/* Retention may have deleted the file while we waited for the lock. */
	if (fstat(fd, &fst) != 0 || stat(path, &pst) != 0 ||
	    fst.st_ino != pst.st_ino || fst.st_dev != pst.st_dev) {
		close(fd);
		return ma_errorf(errmsg, MA_ERR_NOTFOUND,
		                 "%s: deleted while pinning", path);
	}
	p = &s->pins[s->npins++];
	p->index = index;
	p->term = term;
	p->refs = 1;
	p->fd = fd;
	return 0;
}

int snapshot_store_unpin(struct snapshot_store *s, uint64_t index,
                         uint64_t term)
{
	struct pin *p = pin_find(s, index, term);

	if (p == NULL)
		return MA_ERR_NOTFOUND;
	if (--p->refs > 0)
		return 0;
	close(p->fd);
	*p = s->pins[--s->npins];
	return 0;
}

/* Deletes one snapshot unless some process pins it. Returns 1 deleted,
 * 0 pinned (skipped), or an error. */
static int try_delete(struct snapshot_store *s, const struct snapshot_meta *m,
                      char *errmsg)
{
	char snap[PATH_MAX], mpath[PATH_MAX];
	int fd;

	if (path_of(s, snap, sizeof snap, m->id.index, m->id.term,
	            ".snapshot") != 0 ||
	    path_of(s, mpath, sizeof mpath, m->id.index, m->id.term, ".meta") !=
	        0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 s->dir);
	fd = open(snap, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0
		                       : ma_errorf(errmsg, MA_ERR_IO, "%s: %s",
		                                   snap, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int err = errno;
		close(fd);
		if (err == EWOULDBLOCK || err == EINTR)
			return 0;
		return ma_errorf(errmsg, MA_ERR_IO, "%s: flock: %s", snap,
		                 strerror(err));
	}
	/* .snapshot first: a leftover .meta is swept at the next open. */
	if (unlink(snap) != 0 || (unlink(mpath) != 0 && errno != ENOENT)) {
		int err = errno;
		close(fd);
		return ma_errorf(errmsg, MA_ERR_IO, "%s: cannot delete: %s",
		                 snap, strerror(err));
	}
	close(fd);
	log_info("snapshot store: retention deleted %s", snap);
	return 1;
}

/* Returns 1 when a process (this one included) holds a pin on m. */
static int is_pinned(struct snapshot_store *s, const struct snapshot_meta *m)
{
	char snap[PATH_MAX];
	int fd, pinned;

	if (pin_find(s, m->id.index, m->id.term) != NULL)
		return 1;
	if (path_of(s, snap, sizeof snap, m->id.index, m->id.term,
	            ".snapshot") != 0)
		return 0;
	fd = open(snap, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	pinned = flock(fd, LOCK_EX | LOCK_NB) != 0;
	close(fd);
	return pinned;
}

int snapshot_store_retain(struct snapshot_store *s, size_t keep,
                          size_t *removed, char *errmsg)
{
	struct snapshot_meta *v = NULL;
	size_t n = 0, kept = 0, gone = 0;
	int rc;

	rc = store_lock(s, errmsg);
	if (rc != 0)
		return rc;
	rc = snapshot_store_list(s, &v, &n, errmsg);
	if (rc != 0)
		goto out;
	for (size_t i = n; i-- > 0;) {
		if (is_pinned(s, &v[i]))
			continue;
		if (kept < keep) {
			kept++;
			continue;
		}
		rc = try_delete(s, &v[i], errmsg);
		if (rc < 0)
			break;
		gone += (size_t)rc;
		rc = 0;
	}
	if (gone > 0) {
		int frc = io_fsync_dir(s->dir, rc == 0 ? errmsg : NULL);
		if (frc != 0 && rc == 0)
			rc = frc;
	}
out:
	store_unlock(s);
	free(v);
	if (removed != NULL)
		*removed = gone;
	return rc;
}

/* Builds a name for src_dir/src_name relative to s->real, so that
 * io_durable_replace(s->real, rel, final) renames across directories:
 * enough "../" to reach "/" from the store, then the real source path. */
static int relative_source(const struct snapshot_store *s, const char *src_dir,
                           const char *src_name, char *out, size_t size,
                           char *errmsg)
{
	char *real = realpath(src_dir, NULL);
	size_t used = 0;
	int n;

	if (real == NULL)
		return ma_errorf(errmsg,
		                 errno == ENOENT ? MA_ERR_NOTFOUND : MA_ERR_IO,
		                 "%s: %s", src_dir, strerror(errno));
	for (const char *p = s->real; *p != '\0'; p++) {
		if (*p != '/' || p[1] == '\0')
			continue;
		if (used + 3 >= size)
			goto too_long;
		memcpy(out + used, "../", 3);
		used += 3;
	}
	n = snprintf(out + used, size - used, "%s/%s", real + 1, src_name);
	if (n < 0 || (size_t)n >= size - used)
		goto too_long;
	free(real);
	return 0;

too_long:
	free(real);
	return ma_errorf(errmsg, MA_ERR_INVAL, "%s/%s: path too long", src_dir,
	                 src_name);
}

/* Whether rel (relative to s->real) still exists, i.e. was not renamed. */
static bool source_present(const struct snapshot_store *s, const char *rel)
{
	char path[PATH_MAX];

	if (io_path_join(path, sizeof path, s->real, rel) != 0)
		return true;
	return access(path, F_OK) == 0 || errno != ENOENT;
}

/* Commits with the store lock held: metadata, then the data file renamed
 * in from dir/rel (rel relative to s->real). */
static int commit_locked(struct snapshot_store *s, const char *rel,
                         const struct snapshot_meta *meta, char *errmsg)
{
	char snap_name[128], meta_name[128], mpath[PATH_MAX];
	uint8_t rec[SNAPSHOT_META_SIZE];
	int rc;

	if (name_of(snap_name, sizeof snap_name, meta->id.index, meta->id.term,
	            ".snapshot") != 0 ||
	    name_of(meta_name, sizeof meta_name, meta->id.index, meta->id.term,
	            ".meta") != 0 ||
	    io_path_join(mpath, sizeof mpath, s->dir, meta_name) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 s->dir);
	snapshot_meta_encode(meta, rec);
	rc = io_write_file_durable(s->real, meta_name, rec, sizeof rec, errmsg);
	if (rc != 0)
		return ma_errwrapf(errmsg, rc, "cannot write metadata %s",
		                   mpath);
	rc = io_durable_replace(s->real, rel, snap_name, errmsg);
	if (rc != 0 && source_present(s, rel)) {
		/* Not renamed: the metadata must not outlive the commit. A
		 * failed unlink leaves a .meta without .snapshot, which the
		 * next open's sweep removes. */
		if (unlink(mpath) != 0 && errno != ENOENT)
			log_warn("snapshot store: cannot remove %s after a "
			         "failed commit: %s (swept at the next start)",
			         mpath, strerror(errno));
	}
	if (rc != 0) {
		/* Renamed, only the directory fsync failed: the .snapshot
		 * is in place and keeps its .meta, so that a snapshot name
		 * never exists without its metadata; the caller fail-stops
		 * or retries, and a retry finds this exact snapshot held. */
		if (rc == MA_ERR_INVAL) /* EXDEV */
			return ma_errorf(errmsg, MA_ERR_INVAL,
			                 "%s/%s: cannot move into %s: the "
			                 "receive directory and the snapshot "
			                 "store must be on one filesystem",
			                 s->real, rel, s->dir);
		return ma_errwrapf(errmsg, rc, "%s/%s: cannot commit", s->dir,
		                   snap_name);
	}
	return 0;
}

/* With the lock held: 1 when the store already holds exactly this
 * snapshot, 0 when the slot is free, MA_ERR_EXISTS when it holds another. */
static int check_slot(struct snapshot_store *s, const struct snapshot_meta *m,
                      char *errmsg)
{
	struct snapshot_meta old;
	char why[MA_ERRMSG_SIZE];
	int rc;

	rc = snapshot_store_get(s, m->id.index, m->id.term, &old, why);
	if (rc == MA_ERR_NOTFOUND)
		return 0;
	if (rc == 0 && snapshot_ident_equal(&old.id, &m->id))
		return 1;
	return ma_errorf(errmsg, MA_ERR_EXISTS,
	                 "%s: snapshot %" PRIu64 "-%" PRIu64
	                 " already exists with different content%s%s",
	                 s->dir, m->id.index, m->id.term, rc != 0 ? ": " : "",
	                 rc != 0 ? why : "");
}

int snapshot_store_commit(struct snapshot_store *s, const char *src_dir,
                          const char *src_name,
                          const struct snapshot_meta *meta, char *errmsg)
{
	char rel[PATH_MAX], src[PATH_MAX];
	int rc;

	rc = snapshot_ident_check(&meta->id, errmsg);
	if (rc != 0)
		return rc;
	if (io_path_join(src, sizeof src, src_dir, src_name) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 src_dir);
	rc = relative_source(s, src_dir, src_name, rel, sizeof rel, errmsg);
	if (rc != 0)
		return rc;
	rc = store_lock(s, errmsg);
	if (rc != 0)
		return rc;
	rc = check_slot(s, meta, errmsg);
	if (rc == 1) {
		/* Held already: the received copy is redundant. If it
		 * cannot be removed the caller's next receive starts over
		 * it (offset 0 truncates). */
		if (unlink(src) != 0 && errno != ENOENT)
			log_warn("snapshot store: cannot remove %s, a copy of "
			         "a snapshot already held: %s",
			         src, strerror(errno));
		rc = 0;
	} else if (rc == 0) {
		rc = commit_locked(s, rel, meta, errmsg);
	}
	store_unlock(s);
	if (rc != 0)
		return rc;
	/* The name left src_dir: make that durable too. */
	rc = io_fsync_dir(src_dir, errmsg);
	if (rc != 0)
		return rc;
	return 0;
}

/* Writes the data of a new snapshot to <name>.snapshot.tmp in the store
 * (from buf, or copied from src_fd when buf is NULL), fsyncs it and
 * computes size and CRC32C. */
static int write_tmp(struct snapshot_store *s, const char *tmp_path,
                     const void *buf, size_t len, int src_fd, uint64_t *size,
                     uint32_t *crc, char *errmsg)
{
	char *copy = NULL;
	int fd, rc = 0;

	fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return ma_errorf(errmsg, ma_error_from_errno(errno), "%s: %s",
		                 tmp_path, strerror(errno));
	*size = 0;
	*crc = 0;
	if (buf != NULL || src_fd < 0) {
		rc = io_write_all(fd, buf, len, errmsg);
		*size = len;
		*crc = crc32c(buf, len);
	} else {
		copy = malloc(COPY_BUF_SIZE);
		if (copy == NULL) {
			close(fd);
			return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
		}
		for (;;) {
			ssize_t n = io_pread_full(src_fd, copy, COPY_BUF_SIZE,
			                          (off_t)*size, errmsg);
			if (n < 0) {
				free(copy);
				close(fd);
				return (int)n;
			}
			if (n == 0)
				break;
			rc = io_write_all(fd, copy, (size_t)n, errmsg);
			if (rc != 0)
				break;
			*crc = crc32c_append(*crc, copy, (size_t)n);
			*size += (uint64_t)n;
		}
		free(copy);
	}
	if (rc == 0)
		rc = io_fsync(fd, errmsg);
	close(fd);
	if (rc != 0)
		return rc;
	return 0;
}

static int create(struct snapshot_store *s, const struct snapshot_ident *ident,
                  const void *buf, size_t len, int src_fd, uint64_t created_ms,
                  struct snapshot_meta *out, char *errmsg)
{
	char tmp_name[160], tmp_path[PATH_MAX];
	struct snapshot_meta meta;
	int rc;

	rc = snapshot_ident_check(ident, errmsg);
	if (rc != 0)
		return rc;
	if (name_of(tmp_name, sizeof tmp_name, ident->index, ident->term,
	            ".snapshot.tmp") != 0 ||
	    io_path_join(tmp_path, sizeof tmp_path, s->real, tmp_name) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 s->dir);
	memset(&meta, 0, sizeof meta);
	meta.id = *ident;
	meta.created_ms = created_ms;
	rc = store_lock(s, errmsg);
	if (rc != 0)
		return rc;
	rc = write_tmp(s, tmp_path, buf, len, src_fd, &meta.id.size,
	               &meta.id.crc32c, errmsg);
	if (rc == 0) {
		rc = check_slot(s, &meta, errmsg);
		if (rc == 0)
			rc = commit_locked(s, tmp_name, &meta, errmsg);
		else if (rc == 1)
			rc = 0; /* identical content already stored */
	}
	if ((rc != 0 || access(tmp_path, F_OK) == 0) && unlink(tmp_path) != 0 &&
	    errno != ENOENT)
		log_warn("snapshot store: cannot remove %s: %s (swept at the "
		         "next start)",
		         tmp_path, strerror(errno));
	store_unlock(s);
	if (rc == 0 && out != NULL)
		*out = meta;
	return rc;
}

int snapshot_store_create_from_buf(struct snapshot_store *s,
                                   const struct snapshot_ident *ident,
                                   const void *buf, size_t len,
                                   uint64_t created_ms,
                                   struct snapshot_meta *meta, char *errmsg)
{
	if (buf == NULL && len > 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "NULL buffer");
	return create(s, ident, buf == NULL ? "" : buf, len, -1, created_ms,
	              meta, errmsg);
}

int snapshot_store_create_from_file(struct snapshot_store *s,
                                    const struct snapshot_ident *ident,
                                    const char *src_path, uint64_t created_ms,
                                    struct snapshot_meta *meta, char *errmsg)
{
	int fd, rc;

	fd = open(src_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ma_errorf(errmsg,
		                 errno == ENOENT ? MA_ERR_NOTFOUND : MA_ERR_IO,
		                 "%s: %s", src_path, strerror(errno));
	rc = create(s, ident, NULL, 0, fd, created_ms, meta, errmsg);
	close(fd);
	return rc;
}

int snapshot_file_verify(const char *path, struct snapshot_meta *meta,
                         char *errmsg)
{
	char mpath[PATH_MAX], *buf;
	struct snapshot_meta m;
	uint64_t size = 0;
	uint32_t crc = 0;
	size_t n = strlen(path);
	const char *base;
	uint64_t index, term;
	int fd, rc;

	if (has_suffix(path, ".snapshot"))
		n -= strlen(".snapshot");
	if (snprintf(mpath, sizeof mpath, "%.*s.meta", (int)n, path) >=
	    (int)sizeof mpath)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 path);
	rc = snapshot_meta_read(mpath, &m, errmsg);
	if (rc != 0)
		return rc;
	if (meta != NULL)
		*meta = m;
	base = strrchr(path, '/');
	base = base == NULL ? path : base + 1;
	if (parse_name(base, ".snapshot", &index, &term) &&
	    (index != m.id.index || term != m.id.term))
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s: metadata names index %" PRIu64
		                 " term %" PRIu64 ", file name says %" PRIu64
		                 "-%" PRIu64,
		                 path, m.id.index, m.id.term, index, term);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ma_errorf(errmsg,
		                 errno == ENOENT ? MA_ERR_NOTFOUND : MA_ERR_IO,
		                 "%s: %s", path, strerror(errno));
	buf = malloc(COPY_BUF_SIZE);
	if (buf == NULL) {
		close(fd);
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	}
	for (;;) {
		ssize_t got =
		    io_pread_full(fd, buf, COPY_BUF_SIZE, (off_t)size, errmsg);
		if (got < 0) {
			free(buf);
			close(fd);
			return (int)got;
		}
		if (got == 0)
			break;
		crc = crc32c_append(crc, buf, (size_t)got);
		size += (uint64_t)got;
	}
	free(buf);
	close(fd);
	if (size != m.id.size && crc != m.id.crc32c)
		return ma_errorf(
		    errmsg, MA_ERR_CORRUPT,
		    "%s: size %" PRIu64 " and CRC32C 0x%08x differ "
		    "from metadata (size %" PRIu64 ", CRC32C 0x%08x)",
		    path, size, crc, m.id.size, m.id.crc32c);
	if (size != m.id.size)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s: size %" PRIu64
		                 " differs from metadata size %" PRIu64,
		                 path, size, m.id.size);
	if (crc != m.id.crc32c)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s: CRC32C 0x%08x differs from metadata "
		                 "CRC32C 0x%08x",
		                 path, crc, m.id.crc32c);
	return 0;
}
