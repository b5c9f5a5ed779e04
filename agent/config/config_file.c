/* The configuration file: a line reader and the inih handler, feeding
 * each value to the schema (config_schema.c).
 *
 * Line numbers. Debian's libinih (55-1) is built with INI_HANDLER_LINENO=1
 * (its handler calls load the line number into the fifth argument register,
 * checked by disassembly) although the installed <ini.h> defaults the macro
 * to 0, so we define it to 1 to declare the handler as the library calls
 * it. We do not trust that number, though: inih counts the tail of an
 * overlong line as a new line and truncates section names to 49
 * characters, too short for [database "<64 characters>"]. So the file is
 * fed to ini_parse_stream() through our own line reader, which counts
 * physical lines, keeps the full section header, rejects overlong lines and
 * syntax errors itself (so every one is reported, not just inih's first),
 * and strips the indentation of indented keys and section headers so that
 * only genuine continuation lines reach inih's multi-line handling. inih
 * still splits "key = value", strips comments and calls the handler, which
 * runs before the next line is read, so the reader's count is the line of
 * the value being handled. */
#define INI_HANDLER_LINENO 1
#include <ini.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config/config.h"
#include "agent/config/config_int.h"

/* ---- the file: line reader and inih handler ---- */

struct parser {
	struct agent_config *cfg;
	struct sink *sink;
	FILE *file;
	char *raw;
	size_t raw_cap;
	int lineno;
	bool continuation;  /* the line handed to inih continues a value */
	bool inih_has_name; /* inih remembers a name in this section */
	const struct key_def *cont_def; /* list a continuation extends */
	enum sec sec;
	size_t idx;
	bool nomem;
};

static void line_error(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void line_error(struct parser *p, const char *fmt, ...)
{
	char prefix[PATH_MAX / 8 + 32];
	va_list ap;

	snprintf(prefix, sizeof prefix, "%s:%d: ", cfg_path(p->cfg), p->lineno);
	va_start(ap, fmt);
	cfg_sink_add(p->sink, prefix, fmt, ap);
	va_end(ap);
}

/* Returns the end of a section header's name like inih does (at ']' or at
 * a ';' that follows white space), NULL when there is no ']'. */
static const char *header_end(const char *s)
{
	bool was_space = false;

	for (; *s != '\0'; s++) {
		if (*s == ']')
			return s;
		if (was_space && *s == ';')
			return NULL;
		was_space = isspace((unsigned char)*s);
	}
	return NULL;
}

/* True when s (after '[') is a whole header: "name]" then only a comment. */
static bool is_whole_header(const char *s)
{
	const char *end = header_end(s);

	if (end == NULL)
		return false;
	end++;
	while (isspace((unsigned char)*end))
		end++;
	return *end == '\0' || *end == ';' || *end == '#';
}

/* True when the line (comment-stripped like inih) has '=' (or ':' when
 * colon is true) before any inline comment. */
static bool has_separator(const char *s, bool colon)
{
	bool was_space = false;

	for (; *s != '\0'; s++) {
		if (*s == '=' || (colon && *s == ':'))
			return true;
		if (was_space && *s == ';')
			return false;
		was_space = isspace((unsigned char)*s);
	}
	return false;
}

/* Cuts s at an inline comment (a ';' after white space, as inih has it)
 * and strips the white space before it. */
static void strip_inline_comment(char *s)
{
	bool was_space = false;
	char *end;

	for (end = s; *end != '\0'; end++) {
		if (was_space && *end == ';')
			break;
		was_space = isspace((unsigned char)*end);
	}
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
}

/* Parses the text between '[' and ']' and opens that section. */
static void open_section(struct parser *p, const char *text, size_t len)
{
	struct agent_config *cfg = p->cfg;
	char buf[CONFIG_IDENTITY_MAX + 32], *s, *q;
	size_t wlen;
	enum sec sec = SEC_IGNORE;

	p->sec = SEC_IGNORE;
	if (len >= sizeof buf) {
		line_error(p, "section name too long");
		return;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	s = cfg_trim(buf);
	wlen = strcspn(s, " \t\"");
	for (enum sec i = SEC_AGENT; i <= SEC_ACCESS; i++)
		if (wlen == strlen(cfg_sec_names[i]) &&
		    strncmp(s, cfg_sec_names[i], wlen) == 0)
			sec = i;
	if (sec == SEC_IGNORE) {
		char hint[64] = "";
		for (enum sec i = SEC_AGENT; i <= SEC_ACCESS; i++) {
			char word[64];
			snprintf(word, sizeof word, "%.*s", (int)wlen, s);
			if (cfg_edit_distance(word, cfg_sec_names[i]) <= 2)
				snprintf(hint, sizeof hint,
				         " (did you mean [%s]?)",
				         cfg_sec_names[i]);
		}
		line_error(p,
		           "[%s]: unknown section%s; known: [agent], [tls], "
		           "[serve], [follow], [database \"NAME\"], "
		           "[access \"IDENTITY\"]",
		           s, hint);
		return;
	}

	if (sec == SEC_DATABASE || sec == SEC_ACCESS) {
		const char *what = sec == SEC_DATABASE ? "NAME" : "IDENTITY";
		char *name = cfg_trim(s + wlen);
		long idx;
		size_t nlen = strlen(name);
		if (nlen < 2 || name[0] != '"' || name[nlen - 1] != '"') {
			line_error(p, "[%s]: write [%s \"%s\"]", s,
			           cfg_sec_names[sec], what);
			return;
		}
		name[nlen - 1] = '\0';
		name++;
		q = strchr(name, '"');
		if (q != NULL) {
			line_error(p, "[%s]: stray '\"' in the name", s);
			return;
		}
		if (sec == SEC_DATABASE && !cfg_is_database_name(name)) {
			line_error(p, "[database \"%s\"]: bad name: %s", name,
			           cfg_database_name_rule);
			return;
		}
		if (sec == SEC_ACCESS && !cfg_is_identity(name)) {
			line_error(p,
			           "[access \"%s\"]: bad identity: 1-255 "
			           "printable characters without "
			           "\" \\ [ ] ; # or outer spaces",
			           name);
			return;
		}
		idx = sec == SEC_DATABASE ? cfg_find_database(cfg, name)
		                          : cfg_find_access(cfg, name);
		if (idx >= 0) {
			int first = cfg_section_origin(cfg, sec, (size_t)idx)
			                ->section_line;
			line_error(p,
			           "[%s \"%s\"]: section repeated (first at "
			           "line %d); merge them",
			           cfg_sec_names[sec], name, first);
			return;
		}
		if ((sec == SEC_DATABASE &&
		     cfg->n_databases >= CONFIG_MAX_DATABASES) ||
		    (sec == SEC_ACCESS && cfg->n_access >= CONFIG_MAX_ACCESS)) {
			line_error(p, "too many [%s] sections (at most %d)",
			           cfg_sec_names[sec],
			           sec == SEC_DATABASE ? CONFIG_MAX_DATABASES
			                               : CONFIG_MAX_ACCESS);
			return;
		}
		idx = sec == SEC_DATABASE ? cfg_add_database(cfg, name)
		                          : cfg_add_access(cfg, name);
		if (idx < 0) {
			p->nomem = true;
			return;
		}
		p->idx = (size_t)idx;
	} else {
		struct config_origin *o = cfg_section_origin(cfg, sec, 0);
		if (s[wlen] != '\0') {
			line_error(p,
			           "[%s]: unexpected text after the section "
			           "name",
			           s);
			return;
		}
		if (o->section_line != 0) {
			line_error(p,
			           "[%s]: section repeated (first at line "
			           "%d); merge them",
			           s, o->section_line);
			return;
		}
		p->idx = 0;
	}
	cfg_section_origin(cfg, sec, p->idx)->section_line = p->lineno;
	if (sec == SEC_SERVE)
		cfg->serve.present = true;
	if (sec == SEC_FOLLOW)
		cfg->follow.present = true;
	p->sec = sec;
}

/* ini_reader: hands inih one physical line at a time (see the top of this
 * file). Lines it rejects are reported here and replaced by an empty line. */
static char *read_line(char *buf, int num, void *stream)
{
	struct parser *p = stream;
	ssize_t n = getline(&p->raw, &p->raw_cap, p->file);
	char *line, *s;
	size_t len;

	if (n < 0)
		return NULL;
	p->lineno++;
	p->continuation = false;
	line = p->raw;
	len = (size_t)n;
	if (p->lineno == 1 && len >= 3 &&
	    memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
		line += 3;
		len -= 3;
	}
	if (strlen(line) != len) {
		line_error(p, "NUL byte in line");
		goto blank;
	}
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (num < 3 || len > (size_t)num - 2) {
		line_error(p,
		           "line longer than %d characters; continue a list "
		           "on indented lines",
		           num - 2);
		goto blank;
	}

	s = line;
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0' || *s == ';' || *s == '#')
		goto pass;
	if (*s == '[' && (s == line || is_whole_header(s + 1))) {
		const char *end = header_end(s + 1);
		p->cont_def = NULL; /* keys of the previous section end here */
		if (end == NULL) {
			line_error(p, "section header without ']'");
			p->sec = SEC_IGNORE;
			goto blank;
		}
		if (!is_whole_header(s + 1)) {
			line_error(p, "unexpected text after ']'");
			p->sec = SEC_IGNORE;
			goto blank;
		}
		open_section(p, s + 1, (size_t)(end - (s + 1)));
		p->inih_has_name = false;
		line = s; /* inih would read an indented header as a value */
		goto pass;
	}
	if (s > line && has_separator(s, false)) {
		line = s; /* an indented key is a key, not a continuation */
		goto pass;
	}
	if (s > line && p->inih_has_name) {
		/* inih 55 keeps inline comments in continuation lines (later
		 * versions strip them): strip them here for either. */
		strip_inline_comment(s);
		p->continuation = true;
		goto pass;
	}
	if (s == line && has_separator(s, true))
		goto pass;
	line_error(p, "expected \"key = value\" or \"[section]\"");
blank:
	buf[0] = '\n';
	buf[1] = '\0';
	return buf;
pass:
	len = strlen(line);
	memcpy(buf, line, len);
	buf[len] = '\n';
	buf[len + 1] = '\0';
	return buf;
}

/* ini_handler: the section name and line number from inih are not used
 * (truncated and unreliable respectively); the reader's are. */
static int on_value(void *user, const char *section, const char *name,
                    const char *value, int lineno)
{
	struct parser *p = user;
	struct target t = {p->cfg, p->sec, p->idx, p->lineno, p->sink};
	const struct key_def *d;
	char hint[80];
	int rc;

	(void)section;
	(void)lineno;
	/* Builds with INI_CALL_HANDLER_ON_NEW_SECTION or INI_ALLOW_NO_VALUE
	 * would call with NULLs; the reader has handled such lines. */
	if (name == NULL || value == NULL)
		return 1;
	if (p->continuation) {
		/* Only a list that was accepted so far is extended. */
		if (p->cont_def == NULL || p->sec == SEC_IGNORE ||
		    p->sec == SEC_NONE)
			return 1;
		if (p->cont_def->type != T_ENDPOINTS &&
		    p->cont_def->type != T_NAMES) {
			cfg_report_at(
			    p->sink, p->cfg, p->lineno, p->sec, p->idx,
			    p->cont_def->name,
			    "indented line continues a value that takes "
			    "one line (only lists do)");
			cfg_section_origin(p->cfg, p->sec, p->idx)
			    ->key_bad[cfg_key_slot(p->cont_def)] = 1;
			p->cont_def = NULL;
			return 1;
		}
		rc = cfg_apply(&t, p->cont_def, value, MODE_CONTINUE);
		if (rc == -2)
			p->nomem = true;
		if (rc != 0) {
			cfg_section_origin(p->cfg, p->sec, p->idx)
			    ->key_bad[cfg_key_slot(p->cont_def)] = 1;
			p->cont_def = NULL;
		}
		return 1;
	}
	p->inih_has_name = true;
	p->cont_def = NULL;
	if (p->sec == SEC_IGNORE)
		return 1;
	if (p->sec == SEC_NONE) {
		line_error(p, "%s: key outside any section", name);
		return 1;
	}
	d = cfg_find_key(p->sec, name);
	if (d == NULL) {
		cfg_key_hint(p->sec, name, hint, sizeof hint);
		cfg_report_at(p->sink, p->cfg, p->lineno, p->sec, p->idx, name,
		              "unknown key%s", hint);
		return 1;
	}
	rc = cfg_apply(&t, d, value, MODE_FILE);
	if (rc == -2)
		p->nomem = true;
	if (rc == 0 || (d->type != T_ENDPOINTS && d->type != T_NAMES))
		p->cont_def = d;
	return 1;
}

int config_load(const char *path, struct agent_config *cfg, unsigned flags,
                struct config_errors *errs)
{
	struct sink sink = {errs, NULL, 0, false};
	struct parser p = {0};
	int rc;

	config_errors_init(errs);
	rc = config_init(cfg);
	if (rc != 0) {
		cfg_report(&sink, "", "out of memory");
		return rc;
	}
	cfg->flags = flags;
	cfg->path = strdup(path);
	if (cfg->path == NULL) {
		cfg_report(&sink, "", "out of memory");
		return MA_ERR_NOMEM;
	}
	p.cfg = cfg;
	p.sink = &sink;
	p.sec = SEC_NONE;
	p.file = fopen(path, "re");
	if (p.file == NULL) {
		cfg_report(&sink, "", "%s: cannot open: %s", path,
		           strerror(errno));
		return MA_ERR_IO;
	}
	rc = ini_parse_stream(read_line, &p, on_value, &p);
	if (ferror(p.file)) {
		cfg_report(&sink, "", "%s: read error: %s", path,
		           strerror(errno));
		fclose(p.file);
		free(p.raw);
		return MA_ERR_IO;
	}
	fclose(p.file);
	free(p.raw);
	if (rc == -2 || p.nomem) {
		cfg_report(&sink, "", "%s: out of memory", path);
		return MA_ERR_NOMEM;
	}
	/* The reader hands inih only lines it has checked, so inih should
	 * find nothing; if it does, say so rather than drop it. */
	if (rc > 0 && sink.n == 0)
		cfg_report(&sink, "", "%s:%d: syntax error", path, rc);
	return sink.n > 0 ? MA_ERR_CONFIG : 0;
}
