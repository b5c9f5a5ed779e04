#include "common/errors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char *ma_strerror(int code)
{
	switch (code) {
	case 0:
		return "success";
#define MA_ERROR_CASE(name, value, text)                                       \
	case value:                                                            \
		return text;
		MA_ERROR_TABLE(MA_ERROR_CASE)
#undef MA_ERROR_CASE
	default:
		return "unknown error";
	}
}

int ma_errorf(char *errmsg, int code, const char *fmt, ...)
{
	va_list ap;

	if (errmsg != NULL) {
		va_start(ap, fmt);
		vsnprintf(errmsg, MA_ERRMSG_SIZE, fmt, ap);
		va_end(ap);
	}
	return code;
}

int ma_errwrapf(char *errmsg, int code, const char *fmt, ...)
{
	char out[MA_ERRMSG_SIZE];
	va_list ap;
	int n;

	if (errmsg == NULL)
		return code;
	/* Builds in a copy: errmsg is both a source and the destination. */
	va_start(ap, fmt);
	n = vsnprintf(out, sizeof out, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof out)
		snprintf(out + n, sizeof out - (size_t)n, ": %s", errmsg);
	memcpy(errmsg, out, sizeof out);
	return code;
}

int ma_error_from_errno(int err)
{
	switch (err) {
	case ENOSPC:
	case EDQUOT:
		return MA_ERR_NOSPACE;
	case ENOENT:
		return MA_ERR_NOTFOUND;
	case ENOMEM:
		return MA_ERR_NOMEM;
	case EEXIST:
		return MA_ERR_EXISTS;
	case EXDEV:
		/* rename() across filesystems: a setup error, not a disk
		 * fault; callers say which two directories must share one. */
		return MA_ERR_INVAL;
	case ENAMETOOLONG:
	case EFBIG:
		return MA_ERR_LIMIT;
	default:
		return MA_ERR_IO;
	}
}
