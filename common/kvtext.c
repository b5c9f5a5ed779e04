/* Strict "key=value" line records (common/kvtext.h). Three passes over
 * the text: its shape (size, NULs, line ends), its seal (the CRC line, so
 * that a damaged file is called damaged rather than malformed), then its
 * fields in table order. */
#include "common/kvtext.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/parse.h"

/* Field tables are small: a record is a handful of lines. */
#define FIELDS_MAX 16
/* How much of a refused line a message quotes. */
#define QUOTE_MAX 40

static int lookup(const struct kvtext_field *fields, size_t n, const char *k,
                  size_t klen)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(fields[i].key) == klen &&
		    memcmp(fields[i].key, k, klen) == 0)
			return (int)i;
	return -1;
}

/* A field that may be left behind: optional, or a repeated one that has
 * at least one line. */
static bool satisfied(const struct kvtext_field *fd, size_t first_line)
{
	if (fd->flags & KVTEXT_OPTIONAL)
		return true;
	if (fd->flags & KVTEXT_REPEAT)
		return *fd->count > 0;
	return first_line != 0;
}

static int value_parse(const struct kvtext_format *fmt,
                       const struct kvtext_field *fd, size_t line,
                       const char *v, size_t vlen, char *errmsg)
{
	char why[PARSE_WHY_SIZE];
	uint64_t x;

	if (vlen == 0)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s line %zu (%s): empty value", fmt->what,
		                 line, fd->key);
	if (fd->kind == KVTEXT_STR) {
		char *out = fd->out;

		if (vlen > fd->max)
			return ma_errorf(errmsg, MA_ERR_CORRUPT,
			                 "%s line %zu (%s): %zu bytes, more "
			                 "than the %" PRIu64 " it can be",
			                 fmt->what, line, fd->key, vlen,
			                 fd->max);
		for (size_t i = 0; i < vlen; i++)
			if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
				return ma_errorf(errmsg, MA_ERR_CORRUPT,
				                 "%s line %zu (%s): a control "
				                 "character (0x%02x) in the "
				                 "value",
				                 fmt->what, line, fd->key,
				                 (unsigned char)v[i]);
		if (fd->flags & KVTEXT_REPEAT)
			out += *fd->count * (fd->max + 1);
		memcpy(out, v, vlen);
		out[vlen] = '\0';
		return 0;
	}
	if (!(fd->flags & KVTEXT_ZEROS) && vlen > 1 && v[0] == '0')
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s line %zu (%s): \"%.*s\" has a leading "
		                 "zero (not the text the writer makes)",
		                 fmt->what, line, fd->key,
		                 (int)(vlen < QUOTE_MAX ? vlen : QUOTE_MAX), v);
	if (parse_uint64_len(v, vlen, &x, why) != 0)
		return ma_errorf(
		    errmsg, MA_ERR_CORRUPT, "%s line %zu (%s): \"%.*s\": %s",
		    fmt->what, line, fd->key,
		    (int)(vlen < QUOTE_MAX ? vlen : QUOTE_MAX), v, why);
	if (fd->max != 0 && x > fd->max)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s line %zu (%s): %" PRIu64
		                 " is more than %" PRIu64,
		                 fmt->what, line, fd->key, x, fd->max);
	*(uint64_t *)fd->out = x;
	return 0;
}

/* The shape every record has: size, no NUL, '\n' line ends, no CR. */
static int shape_check(const struct kvtext_format *fmt, const char *text,
                       size_t len, char *errmsg)
{
	const char *nul;
	size_t line = 1;

	if (len > fmt->max_len)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s: %zu bytes, more than the %zu it can be "
		                 "(not a %s?)",
		                 fmt->what, len, fmt->max_len, fmt->what);
	if (len == 0)
		return ma_errorf(errmsg, MA_ERR_CORRUPT, "%s is empty",
		                 fmt->what);
	nul = memchr(text, '\0', len);
	if (nul != NULL)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s: a NUL byte at offset %zu (not a text "
		                 "file)",
		                 fmt->what, (size_t)(nul - text));
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\r')
			return ma_errorf(errmsg, MA_ERR_CORRUPT,
			                 "%s line %zu: a carriage return "
			                 "(CRLF line ends?): lines end in a "
			                 "bare newline",
			                 fmt->what, line);
		if (text[i] == '\n')
			line++;
	}
	if (text[len - 1] != '\n')
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s line %zu: no newline at its end (the "
		                 "file was cut short?)",
		                 fmt->what, line);
	return 0;
}

/* The seal: the last line, over every byte before it. Sets *body_end to
 * where that line starts. */
static int seal_check(const struct kvtext_format *fmt,
                      const struct kvtext_field *fd, const char *text,
                      size_t len, size_t lines, size_t *body_end, char *errmsg)
{
	size_t start = len - 1, klen = strlen(fd->key), vlen;
	const char *v;
	uint32_t want = 0, got;

	while (start > 0 && text[start - 1] != '\n')
		start--;
	if (len - 1 - start < klen + 1 ||
	    memcmp(text + start, fd->key, klen) != 0 ||
	    text[start + klen] != '=')
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s line %zu: not the %s=... line that ends "
		                 "every %s (the file was cut short or edited)",
		                 fmt->what, lines, fd->key, fmt->what);
	v = text + start + klen + 1;
	vlen = len - 1 - (size_t)(v - text);
	if (vlen != 8)
		goto bad;
	for (size_t i = 0; i < 8; i++) {
		int d = parse_hex_digit((unsigned char)v[i]);
		if (d < 0 || (v[i] >= 'A' && v[i] <= 'F'))
			goto bad;
		want = want << 4 | (uint32_t)d;
	}
	got = crc32c(text, start);
	if (got != want)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s line %zu (%s): %08" PRIx32
		                 " is not the CRC32C of the lines before it "
		                 "(%08" PRIx32 "): the file was damaged or "
		                 "edited",
		                 fmt->what, lines, fd->key, want, got);
	if (fd->out != NULL)
		*(uint32_t *)fd->out = want;
	*body_end = start;
	return 0;
bad:
	return ma_errorf(errmsg, MA_ERR_CORRUPT,
	                 "%s line %zu (%s): \"%.*s\" is not 8 lowercase hex "
	                 "digits",
	                 fmt->what, lines, fd->key,
	                 (int)(vlen < QUOTE_MAX ? vlen : QUOTE_MAX), v);
}

int kvtext_parse(const struct kvtext_format *fmt, const char *text, size_t len,
                 char *errmsg)
{
	size_t first_line[FIELDS_MAX] = {0};
	const struct kvtext_field *fields = fmt->fields;
	size_t nkeyed = fmt->nfields, pos = 0, body_end = len, line = 0;
	size_t lines = 0, f = 0;
	int rc;

	if (fmt->nfields > FIELDS_MAX)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "%s: %zu fields, more than kvtext takes",
		                 fmt->what, fmt->nfields);
	rc = shape_check(fmt, text, len, errmsg);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	if (fmt->magic != NULL) {
		size_t mlen = strlen(fmt->magic);

		if (len < mlen + 1 || memcmp(text, fmt->magic, mlen) != 0 ||
		    text[mlen] != '\n')
			return ma_errorf(errmsg, MA_ERR_CORRUPT,
			                 "%s line 1: not \"%s\" (not a %s, or "
			                 "another version of it)",
			                 fmt->what, fmt->magic, fmt->what);
		pos = mlen + 1;
		line = 1;
	}
	if (nkeyed > 0 && fields[nkeyed - 1].kind == KVTEXT_CRC32C) {
		nkeyed--;
		if (pos == len)
			return ma_errorf(errmsg, MA_ERR_CORRUPT,
			                 "%s: no %s line (the file was cut "
			                 "short)",
			                 fmt->what, fields[nkeyed].key);
		rc = seal_check(fmt, &fields[nkeyed], text, len, lines,
		                &body_end, errmsg);
		if (rc != 0)
			return rc;
	}
	for (size_t i = 0; i < nkeyed; i++)
		if (fields[i].flags & KVTEXT_REPEAT)
			*fields[i].count = 0;
	while (pos < body_end) {
		const char *s = text + pos, *eq;
		const char *nl = memchr(s, '\n', body_end - pos);
		size_t l = (size_t)(nl - s), klen;
		const struct kvtext_field *fd;
		int j;

		line++;
		pos += l + 1;
		eq = memchr(s, '=', l);
		if (eq == NULL || eq == s)
			return ma_errorf(errmsg, MA_ERR_CORRUPT,
			                 "%s line %zu: \"%.*s\" is not "
			                 "key=value",
			                 fmt->what, line,
			                 (int)(l < QUOTE_MAX ? l : QUOTE_MAX),
			                 s);
		klen = (size_t)(eq - s);
		j = lookup(fields, nkeyed, s, klen);
		if (j < 0)
			return ma_errorf(
			    errmsg, MA_ERR_CORRUPT,
			    "%s line %zu: unknown key \"%.*s\"", fmt->what,
			    line, (int)(klen < QUOTE_MAX ? klen : QUOTE_MAX),
			    s);
		while (f < nkeyed && (size_t)j != f &&
		       satisfied(&fields[f], first_line[f]))
			f++;
		if ((size_t)j != f) {
			if (first_line[j] != 0)
				return ma_errorf(errmsg, MA_ERR_CORRUPT,
				                 "%s line %zu: duplicate key "
				                 "\"%s\" (first on line %zu)",
				                 fmt->what, line, fields[j].key,
				                 first_line[j]);
			if ((size_t)j < f)
				return ma_errorf(
				    errmsg, MA_ERR_CORRUPT,
				    "%s line %zu: key \"%s\" out of "
				    "order (it comes before \"%s\")",
				    fmt->what, line, fields[j].key,
				    fields[f - 1].key);
			return ma_errorf(errmsg, MA_ERR_CORRUPT,
			                 "%s line %zu: missing key \"%s\" (it "
			                 "comes before \"%s\")",
			                 fmt->what, line, fields[f].key,
			                 fields[j].key);
		}
		fd = &fields[j];
		if (fd->flags & KVTEXT_REPEAT) {
			if (*fd->count == fd->count_max)
				return ma_errorf(errmsg, MA_ERR_CORRUPT,
				                 "%s line %zu (%s): more than "
				                 "%zu such lines",
				                 fmt->what, line, fd->key,
				                 fd->count_max);
		}
		rc = value_parse(fmt, fd, line, eq + 1, l - klen - 1, errmsg);
		if (rc != 0)
			return rc;
		if (first_line[j] == 0)
			first_line[j] = line;
		if (fd->flags & KVTEXT_REPEAT)
			(*fd->count)++;
		else
			f++;
	}
	for (; f < nkeyed; f++)
		if (!satisfied(&fields[f], first_line[f]))
			return ma_errorf(errmsg, MA_ERR_CORRUPT,
			                 "%s: missing key \"%s\" (after line "
			                 "%zu)",
			                 fmt->what, fields[f].key, line);
	return 0;
}

int kvtext_seal(char *out, size_t len, size_t size)
{
	int n;

	if (len >= size || size - len <= KVTEXT_CRC_LINE_LEN)
		return MA_ERR_LIMIT;
	n = snprintf(out + len, size - len, "crc32c=%08" PRIx32 "\n",
	             crc32c(out, len));
	if (n != KVTEXT_CRC_LINE_LEN)
		return MA_ERR_LIMIT;
	return (int)(len + (size_t)n);
}
