/* Process-wide logging to stderr (or a file reopened on SIGHUP).
 * One line per message, in one of three formats (log_set_format):
 *  text:    "<ISO-8601 UTC time> <level> <message>";
 *  journal: "<N><message>", N the syslog priority (3 error, 4 warn,
 *           6 info, 7 debug) that journald reads from a service's stderr
 *           (sd-daemon(3)); no time, journald records it;
 *  json:    {"ts":"<ISO-8601 UTC>","level":"<level>","msg":"<message>"},
 *           the message escaped per RFC 8259. */
#ifndef MIRROR_COMMON_LOG_H
#define MIRROR_COMMON_LOG_H

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR
};

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JOURNAL, LOG_FORMAT_JSON };

/* Messages below `level` are dropped. Default LOG_LEVEL_INFO. */
void log_set_level(enum log_level level);
/* The line format described above. Default LOG_FORMAT_TEXT. */
void log_set_format(enum log_format format);
/* Sends output to `path` (append) instead of stderr; NULL means stderr.
 * Called again with the same path it reopens the file (log rotation).
 * Returns 0 or an MA_ERR_* code (common/errors.h) with errmsg (may be
 * NULL) naming the file and the reason; the old destination stays. */
int log_open(const char *path, char *errmsg);

/* A terminal display that owns the last line of stderr (the follower's
 * progress bar) registers here: before() runs before each message written
 * to stderr (clear the line), after() right after it (draw it again), so
 * that messages go above the display. NULLs unregister. */
void log_set_display(void (*before)(void *), void (*after)(void *), void *arg);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
