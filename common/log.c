#include "common/log.h"

#include "common/errors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum log_level min_level = LOG_LEVEL_INFO;
static FILE *log_file; /* NULL: stderr */
static enum log_format log_fmt = LOG_FORMAT_TEXT;

void log_set_level(enum log_level level)
{
	min_level = level;
}

void log_set_format(enum log_format format)
{
	log_fmt = format;
}

/* JSON string body of s (RFC 8259: quote, backslash and control
 * characters escaped; other bytes, UTF-8 included, as they are), cut to
 * fit out. */
static void json_escape(char *out, size_t size, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 7 < size; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, size - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

int log_open(const char *path, char *errmsg)
{
	FILE *f = NULL;

	if (path != NULL) {
		f = fopen(path, "ae");
		if (f == NULL) {
			int err = errno;
			return ma_errorf(errmsg, ma_error_from_errno(err),
			                 "cannot open log file %s: %s", path,
			                 strerror(err));
		}
		setvbuf(f, NULL, _IOLBF, 0);
	}
	if (log_file != NULL)
		fclose(log_file);
	log_file = f;
	return 0;
}

/* Copies in to out (out_size >= 5) with control characters written as
 * \n, \r, \t or \xHH: messages carry strings a peer chose (request
 * paths, client identities, `x` messages, cluster ids), and a newline or
 * a terminal escape sequence in one must not forge a log line or drive
 * the operator's terminal. Truncates whole escapes only. */
static void escape_controls(const char *in, char *out, size_t out_size)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (; *in != '\0'; in++) {
		unsigned char c = (unsigned char)*in;
		char esc[5];
		size_t n = 0;

		if (c >= 0x20 && c != 0x7f) {
			esc[n++] = (char)c;
		} else {
			esc[n++] = '\\';
			if (c == '\n') {
				esc[n++] = 'n';
			} else if (c == '\r') {
				esc[n++] = 'r';
			} else if (c == '\t') {
				esc[n++] = 't';
			} else {
				esc[n++] = 'x';
				esc[n++] = hex[c >> 4];
				esc[n++] = hex[c & 15];
			}
		}
		if (o + n >= out_size)
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o] = '\0';
}

static void (*display_before)(void *), (*display_after)(void *);
static void *display_arg;

void log_set_display(void (*before)(void *), void (*after)(void *), void *arg)
{
	display_before = before;
	display_after = after;
	display_arg = arg;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	FILE *out = log_file != NULL ? log_file : stderr;
	struct timeval tv;
	struct tm tm;
	char raw[2048], line[2048], ts[32];
	va_list ap;

	if (level < min_level)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	/* JSON escapes control characters itself (and decodes back to the
	 * message as it was); the text formats escape them here. */
	if (log_fmt != LOG_FORMAT_JSON)
		escape_controls(raw, line, sizeof line);
	if (out == stderr && display_before != NULL)
		display_before(display_arg);
	/* One fprintf per line keeps lines whole when several processes
	 * share a terminal. */
	if (log_fmt == LOG_FORMAT_JOURNAL) {
		static const int prio[] = {7, 6, 4, 3};
		fprintf(out, "<%d>%s\n", prio[level], line);
	} else if (log_fmt == LOG_FORMAT_JSON) {
		char esc[sizeof raw * 6 + 1];
		json_escape(esc, sizeof esc, raw);
		fprintf(
		    out,
		    "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"%s\"}\n",
		    ts, (long)(tv.tv_usec / 1000), names[level], esc);
	} else {
		fprintf(out, "%s.%03ldZ %s %s\n", ts, (long)(tv.tv_usec / 1000),
		        names[level], line);
	}
	if (out == stderr && display_after != NULL)
		display_after(display_arg);
}
