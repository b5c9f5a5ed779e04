/* File I/O helpers used by every module that touches disk.
 *
 * Like libraft's UvFs* functions, every function returns 0 (or a byte count
 * where stated) on success and a negative MA_ERR_* code of common/errors.h
 * on failure, never a raw -errno: -EIO would read as MA_ERR_NOTFOUND. On
 * failure they fill errmsg (MA_ERRMSG_SIZE bytes, may be NULL) with what
 * failed, which path and the system's reason, e.g. "fsync of
 * /var/lib/m/wal/0000000000000001.seg failed: Input/output error"; a caller
 * adding its own context uses ma_errwrapf(). The errno class is mapped in
 * one place, ma_error_from_errno(): ENOSPC/EDQUOT -> MA_ERR_NOSPACE, ENOENT
 * -> MA_ERR_NOTFOUND, ENOMEM -> MA_ERR_NOMEM, EEXIST -> MA_ERR_EXISTS, other
 * errors -> MA_ERR_IO. Functions taking an fd name the file through
 * /proc/self/fd, so callers need not pass the path.
 *
 * io_durable_replace() is the only place in the tree that calls rename()
 * (io_write_file_replace shares its code, without the fsyncs).
 *
 * Fault injection (tests only, always compiled, off by default):
 * io_fault_set() makes the n-th following write/fsync fail with a chosen
 * errno, so tests can check that errors surface and fail-stop. An injected
 * errno is reported exactly as the same errno from the kernel would be. */
#ifndef MIRROR_COMMON_IO_H
#define MIRROR_COMMON_IO_H

#include <stddef.h>
#include <sys/types.h>

enum io_fault_op {
	IO_FAULT_WRITE, /* io_write_all, io_pwrite_all */
	IO_FAULT_FSYNC, /* io_fsync, io_fdatasync, io_fsync_dir */
	IO_FAULT_OP_COUNT
};

/* From now on, calls number nth, nth+1, ..., nth+count-1 (1-based) of `op`
 * fail with errno `err` without doing anything. count < 0 means forever. */
void io_fault_set(enum io_fault_op op, long nth, long count, int err);
/* Disables all injected faults (and the crash point) and resets counters. */
void io_fault_clear(void);

/* Crash point for kill-and-restart tests: the nth following durability
 * operation (any write, fsync or rename through this file, 1-based) calls
 * _exit(IO_CRASH_EXIT_CODE) instead of running, as a power cut or kill -9
 * between two steps would. nth <= 0 disables. */
#define IO_CRASH_EXIT_CODE 86
void io_crash_set(long nth);
/* Number of durability operations seen since the last io_crash_set() or
 * io_fault_clear() (lets a test learn how many crash points there are). */
long io_crash_ops(void);

/* Writes all of buf (retrying short writes and EINTR). 0 or MA_ERR_*. */
int io_write_all(int fd, const void *buf, size_t len, char *errmsg);
/* pwrite()s all of buf at off. 0 or MA_ERR_*. */
int io_pwrite_all(int fd, const void *buf, size_t len, off_t off, char *errmsg);
/* pread()s up to len bytes at off, stopping early only at end of file.
 * Returns the byte count read (>= 0) or a negative MA_ERR_* code. */
ssize_t io_pread_full(int fd, void *buf, size_t len, off_t off, char *errmsg);

/* fsync/fdatasync with fault injection. 0 or MA_ERR_*. Callers must treat
 * any failure as permanent (fail-stop): never retry an fsync and trust it. */
int io_fsync(int fd, char *errmsg);
int io_fdatasync(int fd, char *errmsg);
/* Opens the directory `dir` and fsyncs it. 0 or MA_ERR_*. */
int io_fsync_dir(const char *dir, char *errmsg);

/* Makes dir/tmp_name visible as dir/final_name durably: fsync the file,
 * rename, fsync the directory. The file must be fully written. 0 or
 * MA_ERR_* (MA_ERR_LIMIT for a path longer than PATH_MAX). */
int io_durable_replace(const char *dir, const char *tmp_name,
                       const char *final_name, char *errmsg);

/* Writes buf as dir/name durably through dir/name.tmp (write, fsync,
 * io_durable_replace). On failure the temp file is removed. 0 or MA_ERR_*. */
int io_write_file_durable(const char *dir, const char *name, const void *buf,
                          size_t len, char *errmsg);

/* Replaces dir/name with buf atomically but not durably (write
 * dir/name.tmp, rename; no fsync): for files rewritten often whose loss
 * in a crash costs nothing, like the status file, so that the event loop
 * does not wait for the disk. Readers see the old or the new content. On
 * failure the temp file is removed. 0 or MA_ERR_*. */
int io_write_file_replace(const char *dir, const char *name, const void *buf,
                          size_t len, char *errmsg);

/* Reads a whole regular file of at most max_len bytes into a malloc()ed
 * buffer, NUL-terminated one byte past len. 0 or MA_ERR_*:
 * MA_ERR_NOTFOUND when it does not exist, MA_ERR_LIMIT when larger than
 * max_len. */
int io_read_file(const char *path, size_t max_len, void **buf, size_t *len,
                 char *errmsg);

/* mkdir -p with mode; existing directories are fine. 0 or MA_ERR_*. */
int io_mkdir_p(const char *path, mode_t mode, char *errmsg);

/* Joins dir and name into out (size out_size). 0 or MA_ERR_LIMIT when it
 * does not fit. No errmsg: it does no I/O, and every caller already names
 * the path it was building in its own message. */
int io_path_join(char *out, size_t out_size, const char *dir, const char *name);

#endif
