#include "common/errors.h"

#include <errno.h>
#include <stdio.h>

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

int ma_error_from_errno(int err)
{
	switch (err) {
	case ENOSPC:
	case EDQUOT:
		return MA_ERR_NOSPACE;
	case ENOMEM:
		return MA_ERR_NOMEM;
	default:
		return MA_ERR_IO;
	}
}
