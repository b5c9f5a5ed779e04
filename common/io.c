#include "common/io.h"

#include "common/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct io_fault {
	atomic_long calls;
	long nth;
	long count;
	int err;
};

static struct io_fault faults[IO_FAULT_OP_COUNT];
static atomic_long crash_ops;
static long crash_nth;

void io_crash_set(long nth)
{
	crash_nth = nth;
	atomic_store(&crash_ops, 0);
}

long io_crash_ops(void)
{
	return atomic_load(&crash_ops);
}

/* Counts one durability operation and dies here if it is the crash point. */
static void crash_point(void)
{
	long n = atomic_fetch_add(&crash_ops, 1) + 1;

	if (crash_nth > 0 && n == crash_nth)
		_exit(IO_CRASH_EXIT_CODE);
}

void io_fault_set(enum io_fault_op op, long nth, long count, int err)
{
	faults[op].nth = nth;
	faults[op].count = count;
	faults[op].err = err;
	atomic_store(&faults[op].calls, 0);
}

void io_fault_clear(void)
{
	for (int i = 0; i < IO_FAULT_OP_COUNT; i++)
		io_fault_set((enum io_fault_op)i, 0, 0, 0);
	io_crash_set(0);
}

/* Returns the errno to inject for this call of `op`, or 0. */
static int fault_hit(enum io_fault_op op)
{
	struct io_fault *f = &faults[op];
	long n;

	if (f->nth <= 0)
		return 0;
	n = atomic_fetch_add(&f->calls, 1) + 1;
	if (n < f->nth)
		return 0;
	if (f->count >= 0 && n >= f->nth + f->count)
		return 0;
	return f->err;
}

/* Names the file behind fd for a message. Only called on an error path, so
 * the readlink cost does not matter; falls back to "fd N". */
static const char *fd_name(int fd, char *out, size_t size)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, out, size - 1);
	if (n <= 0) {
		snprintf(out, size, "fd %d", fd);
		return out;
	}
	out[n] = '\0';
	return out;
}

/* Fills errmsg with "<what> <file behind fd> failed: <strerror>" and
 * returns the mapped code. */
static int fd_error(char *errmsg, int err, const char *what, int fd)
{
	char name[PATH_MAX];

	return ma_errorf(errmsg, ma_error_from_errno(err), "%s %s failed: %s",
	                 what, fd_name(fd, name, sizeof name), strerror(err));
}

static int path_error(char *errmsg, int err, const char *what, const char *path)
{
	return ma_errorf(errmsg, ma_error_from_errno(err), "%s %s failed: %s",
	                 what, path, strerror(err));
}

int io_write_all(int fd, const void *buf, size_t len, char *errmsg)
{
	const char *p = buf;
	int err;

	crash_point();
	err = fault_hit(IO_FAULT_WRITE);

	if (err != 0)
		return fd_error(errmsg, err, "write to", fd);
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fd_error(errmsg, errno, "write to", fd);
		}
		/* POSIX allows 0 for len > 0 without an error; retrying it
		 * could loop forever. */
		if (n == 0)
			return fd_error(errmsg, EIO, "write (0 bytes taken) to",
			                fd);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int io_pwrite_all(int fd, const void *buf, size_t len, off_t off, char *errmsg)
{
	const char *p = buf;
	int err;

	crash_point();
	err = fault_hit(IO_FAULT_WRITE);

	if (err != 0)
		return fd_error(errmsg, err, "write to", fd);
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fd_error(errmsg, errno, "write to", fd);
		}
		if (n == 0)
			return fd_error(errmsg, EIO, "write (0 bytes taken) to",
			                fd);
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t io_pread_full(int fd, void *buf, size_t len, off_t off, char *errmsg)
{
	char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, p + done, len - done, off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fd_error(errmsg, errno, "read of", fd);
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int io_fsync(int fd, char *errmsg)
{
	int err;

	crash_point();
	err = fault_hit(IO_FAULT_FSYNC);

	if (err == 0 && fsync(fd) != 0)
		err = errno;
	return err == 0 ? 0 : fd_error(errmsg, err, "fsync of", fd);
}

int io_fdatasync(int fd, char *errmsg)
{
	int err;

	crash_point();
	err = fault_hit(IO_FAULT_FSYNC);

	if (err == 0 && fdatasync(fd) != 0)
		err = errno;
	return err == 0 ? 0 : fd_error(errmsg, err, "fdatasync of", fd);
}

int io_fsync_dir(const char *dir, char *errmsg)
{
	int fd, rc;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return path_error(errmsg, errno, "open of directory", dir);
	rc = io_fsync(fd, errmsg);
	close(fd);
	return rc;
}

int io_path_join(char *out, size_t out_size, const char *dir, const char *name)
{
	int n = snprintf(out, out_size, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= out_size)
		return MA_ERR_LIMIT;
	return 0;
}

/* The one rename() of the tree: durable (fsync the file, rename, fsync
 * the directory) or, for io_write_file_replace, only atomic. */
static int replace(const char *dir, const char *tmp_name,
                   const char *final_name, bool durable, char *errmsg)
{
	char tmp[PATH_MAX], final[PATH_MAX];
	int fd, rc;

	if (io_path_join(tmp, sizeof tmp, dir, tmp_name) != 0 ||
	    io_path_join(final, sizeof final, dir, final_name) != 0)
		return ma_errorf(errmsg, MA_ERR_LIMIT,
		                 "path %s/%s is longer than %d bytes", dir,
		                 final_name, PATH_MAX - 1);
	if (durable) {
		fd = open(tmp, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return path_error(errmsg, errno, "open of", tmp);
		rc = io_fsync(fd, errmsg);
		close(fd);
		if (rc != 0)
			return rc;
		crash_point();
	}
	if (rename(tmp, final) != 0) {
		int err = errno;
		return ma_errorf(errmsg, ma_error_from_errno(err),
		                 "rename of %s to %s failed: %s", tmp, final,
		                 strerror(err));
	}
	return durable ? io_fsync_dir(dir, errmsg) : 0;
}

int io_durable_replace(const char *dir, const char *tmp_name,
                       const char *final_name, char *errmsg)
{
	return replace(dir, tmp_name, final_name, true, errmsg);
}

/* Writes dir/name.tmp and makes it dir/name: durably (io_durable_replace)
 * or only atomically (rename alone: readers see the old or the new
 * content, a crash may leave either or an empty file). */
static int write_file(const char *dir, const char *name, const void *buf,
                      size_t len, bool durable, char *errmsg)
{
	char tmp_name[NAME_MAX + 1], tmp[PATH_MAX];
	int fd, rc;

	if (snprintf(tmp_name, sizeof tmp_name, "%s.tmp", name) >=
	        (int)sizeof tmp_name ||
	    io_path_join(tmp, sizeof tmp, dir, tmp_name) != 0)
		return ma_errorf(errmsg, MA_ERR_LIMIT,
		                 "path %s/%s.tmp is too long", dir, name);
	/* Not world-readable whatever the umask: these are the agent's own
	 * state files (identity, progress, status). */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return path_error(errmsg, errno, "creation of", tmp);
	rc = io_write_all(fd, buf, len, errmsg);
	/* A write error can surface only at close (NFS, quotas). */
	if (close(fd) != 0 && rc == 0)
		rc = path_error(errmsg, errno, "close after writing", tmp);
	/* io_durable_replace fsyncs the file before the rename. */
	if (rc == 0)
		rc = replace(dir, tmp_name, name, durable, errmsg);
	if (rc != 0)
		unlink(tmp);
	return rc;
}

int io_write_file_durable(const char *dir, const char *name, const void *buf,
                          size_t len, char *errmsg)
{
	return write_file(dir, name, buf, len, true, errmsg);
}

int io_write_file_replace(const char *dir, const char *name, const void *buf,
                          size_t len, char *errmsg)
{
	return write_file(dir, name, buf, len, false, errmsg);
}

int io_read_file(const char *path, size_t max_len, void **buf, size_t *len,
                 char *errmsg)
{
	struct stat st;
	ssize_t n;
	void *p;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return path_error(errmsg, errno, "open of", path);
	if (fstat(fd, &st) != 0) {
		int err = errno;
		close(fd);
		return path_error(errmsg, err, "stat of", path);
	}
	if ((size_t)st.st_size > max_len) {
		close(fd);
		return ma_errorf(errmsg, MA_ERR_LIMIT,
		                 "%s is %lld bytes, more than the %zu bytes "
		                 "such a file may have",
		                 path, (long long)st.st_size, max_len);
	}
	p = malloc((size_t)st.st_size + 1);
	if (p == NULL) {
		close(fd);
		return ma_errorf(errmsg, MA_ERR_NOMEM,
		                 "out of memory reading %s (%lld bytes)", path,
		                 (long long)st.st_size);
	}
	n = io_pread_full(fd, p, (size_t)st.st_size, 0, errmsg);
	close(fd);
	if (n < 0) {
		free(p);
		return (int)n;
	}
	((char *)p)[n] = '\0';
	*buf = p;
	*len = (size_t)n;
	return 0;
}

int io_mkdir_p(const char *path, mode_t mode, char *errmsg)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof buf)
		return ma_errorf(errmsg, MA_ERR_LIMIT,
		                 "cannot create directory '%s': the path is "
		                 "empty or longer than %d bytes",
		                 path, PATH_MAX - 1);
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return path_error(errmsg, errno,
			                  "creation of directory", buf);
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		return path_error(errmsg, errno, "creation of directory", buf);
	return 0;
}
