/* Internal to agent/config/: the schema's types and the helpers that the
 * schema (config_schema.c), the file reader (config_file.c) and the role
 * checks (config_role.c) share. Nothing outside agent/config/ includes it. */
#ifndef MIRROR_AGENT_CONFIG_INT_H
#define MIRROR_AGENT_CONFIG_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/config/config.h"

enum sec {
	SEC_NONE, /* before the first section header */
	SEC_AGENT,
	SEC_TLS,
	SEC_SERVE,
	SEC_FOLLOW,
	SEC_DATABASE, /* [database "NAME"] */
	SEC_ACCESS,   /* [access "IDENTITY"] */
	SEC_IGNORE,   /* after a bad header: its keys are skipped */
};

enum type {
	T_HOST,      /* DNS name or IP literal */
	T_PATH,      /* absolute path */
	T_DIR,       /* absolute path; if it exists, a directory */
	T_DIR_EXIST, /* absolute path of an existing directory */
	T_FILE,      /* absolute path of a readable regular file */
	T_KEYFILE,   /* T_FILE that others cannot read */
	T_EXEC,      /* absolute path of an executable regular file */
	T_UINT,
	T_SIZE,     /* bytes, binary units */
	T_DURATION, /* milliseconds, ms/s/min/h */
	T_ENUM,
	T_ENDPOINT,
	T_ENDPOINTS,
	T_NAMES,  /* database names or "*" */
	T_SHA256, /* 64 hex digits into a char[65] ("": unset) */
};

enum {
	K_ZERO_OK = 1u << 0, /* 0 (off) allowed below min */
	K_NUMERIC = 1u << 1, /* endpoint to bind to: an IP literal */
	K_PORT0 = 1u << 2,   /* endpoint to bind to: port 0 = any free port */
};

struct key_def {
	enum sec sec;
	const char *name;
	const char *full; /* "section.key", for config_key_name() */
	enum type type;
	size_t off; /* into the section's struct */
	uint64_t min, max;
	unsigned flags;
	const char *const *enums;
	const char *defval; /* parsed by config_init(); NULL: none */
};

extern const char *const cfg_sec_names[];
extern const struct key_def cfg_keys[];
extern const size_t cfg_n_keys;

/* Where errors go: a list (config_load, config_validate_role) or a single
 * errmsg (config_set, first error wins). */
struct sink {
	struct config_errors *errs;
	char *errmsg;
	unsigned n;
	bool nomem;
};

enum mode {
	MODE_DEFAULT,  /* config_init(): no origin, no filesystem */
	MODE_FILE,     /* a line of the file */
	MODE_CONTINUE, /* an indented continuation line of a list */
	MODE_SET,      /* config_set(): replaces */
};

struct target {
	struct agent_config *cfg;
	enum sec sec;
	size_t idx;
	int line;
	struct sink *sink;
};

/* ---- reporting: "FILE:LINE: [section] key: what" ---- */

void cfg_sink_add(struct sink *s, const char *prefix, const char *fmt,
                  va_list ap) __attribute__((format(printf, 3, 0)));
void cfg_report(struct sink *s, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefix from line: > 0 "FILE:LINE: [section] key: ", 0 "FILE: [section]
 * key: ", -1 "--set section.key: "; key may be NULL. */
void cfg_report_at(struct sink *s, const struct agent_config *cfg, int line,
                   enum sec sec, size_t idx, const char *key, const char *fmt,
                   ...) __attribute__((format(printf, 7, 8)));
/* The file's path, or "(command line)" when no file was loaded. */
const char *cfg_path(const struct agent_config *cfg);

/* ---- the schema ---- */

const struct key_def *cfg_find_key(enum sec sec, const char *name);
/* Index of d among its section's keys: its slot in config_origin. */
int cfg_key_slot(const struct key_def *d);
/* Where the key was given (config_origin.key_line) and whether it was
 * accepted. */
int cfg_key_line(struct agent_config *cfg, enum sec sec, size_t idx,
                 const char *name);
bool cfg_key_good(struct agent_config *cfg, enum sec sec, size_t idx,
                  const char *name);
/* " (did you mean ...?)" or " (it belongs in [...])" or "". */
void cfg_key_hint(enum sec sec, const char *name, char *buf, size_t size);
size_t cfg_edit_distance(const char *a, const char *b);
/* Checks value for key d and stores it in t's section. 0, -1 (reported)
 * or -2 (out of memory). */
int cfg_apply(const struct target *t, const struct key_def *d,
              const char *value, enum mode mode);
struct config_origin *cfg_section_origin(struct agent_config *cfg, enum sec sec,
                                         size_t idx);
char *cfg_trim(char *s);

/* ---- named sections ---- */

bool cfg_is_database_name(const char *s);
extern const char cfg_database_name_rule[];
bool cfg_is_identity(const char *s);
/* Index, or -1 when absent / out of memory (add). */
long cfg_find_database(const struct agent_config *cfg, const char *name);
long cfg_find_access(const struct agent_config *cfg, const char *identity);
long cfg_add_database(struct agent_config *cfg, const char *name);
long cfg_add_access(struct agent_config *cfg, const char *identity);

#endif
