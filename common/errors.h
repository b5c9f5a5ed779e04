/* Error codes shared by every module: 0 is success, errors are negative
 * values from this one table. Functions that can fail also take a
 * caller-supplied `char errmsg[MA_ERRMSG_SIZE]` and fill it with a message
 * a user can act on (what, which file or peer, what to do). */
#ifndef MIRROR_COMMON_ERRORS_H
#define MIRROR_COMMON_ERRORS_H

#include <stdarg.h>

#define MA_ERRMSG_SIZE 512

#define MA_ERROR_TABLE(X)                                                      \
	X(MA_ERR_NOMEM, -1, "out of memory")                                   \
	X(MA_ERR_IO, -2, "I/O error")                                          \
	X(MA_ERR_CORRUPT, -3, "data corrupt")                                  \
	X(MA_ERR_INVAL, -4, "invalid argument")                                \
	X(MA_ERR_NOTFOUND, -5, "not found")                                    \
	X(MA_ERR_COMPACTED, -6, "index compacted away")                        \
	X(MA_ERR_PROTO, -7, "protocol error")                                  \
	X(MA_ERR_NOSPACE, -8, "no space left on device")                       \
	X(MA_ERR_FAILED, -9, "fail-stopped after an earlier I/O error")        \
	X(MA_ERR_CRC, -10, "CRC32C mismatch")                                  \
	X(MA_ERR_OFFSET, -11, "offset regression or gap")                      \
	X(MA_ERR_IDENTITY, -12, "identity mismatch")                           \
	X(MA_ERR_EXISTS, -13, "already exists")                                \
	X(MA_ERR_BUSY, -14, "busy")                                            \
	X(MA_ERR_LIMIT, -15, "limit exceeded")                                 \
	X(MA_ERR_DIVERGED, -16, "log diverged")                                \
	X(MA_ERR_TLS, -17, "TLS error")                                        \
	X(MA_ERR_TRANSPORT, -18, "transport error")                            \
	X(MA_ERR_AGAIN, -19, "try again")                                      \
	X(MA_ERR_CONFIG, -20, "configuration error")

enum ma_error {
#define MA_ERROR_ENUM(name, value, text) name = value,
	MA_ERROR_TABLE(MA_ERROR_ENUM)
#undef MA_ERROR_ENUM
};

/* Returns a static description of `code` (0 gives "success"). */
const char *ma_strerror(int code);

/* Formats into errmsg (MA_ERRMSG_SIZE bytes) and returns `code`, so that
 * call sites read `return ma_errorf(errmsg, MA_ERR_IO, "...", ...)`.
 * errmsg may be NULL. */
int ma_errorf(char *errmsg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in errmsg with the formatted context and
 * ": " (libraft's ErrMsgWrapf), and returns `code`, so that a caller adds
 * what it was doing to a callee's message:
 * `return ma_errwrapf(errmsg, rc, "cannot create WAL segment")`.
 * errmsg may be NULL. */
int ma_errwrapf(char *errmsg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Maps an errno value (positive, as in `errno`) to a table code. The one
 * place this mapping lives: ENOSPC/EDQUOT -> MA_ERR_NOSPACE, ENOENT ->
 * MA_ERR_NOTFOUND, ENOMEM -> MA_ERR_NOMEM, EEXIST -> MA_ERR_EXISTS,
 * EXDEV -> MA_ERR_INVAL, ENAMETOOLONG/EFBIG -> MA_ERR_LIMIT, anything else
 * -> MA_ERR_IO. */
int ma_error_from_errno(int err);

#endif
