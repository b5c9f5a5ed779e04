/* Strict "key=value" line records: the small text files the tree writes
 * and reads back (the spool's identity file, the freshness, promoted and
 * reservation records, the reservation budget, the last source commit
 * index, the follower's promote request). One reader for all of them, so
 * that each accepts exactly the text its writer produces and says, when it
 * refuses a file, which line and which key is wrong and why.
 *
 * A record is, in this order:
 *   - an optional magic first line (struct kvtext_format.magic);
 *   - one "key=value\n" line per field, in the order of the field table:
 *     no key twice (but a KVTEXT_REPEAT field's lines), none missing (but
 *     a KVTEXT_OPTIONAL one), none unknown, no blank line;
 *   - when the table ends with a KVTEXT_CRC32C field, a last line
 *     "crc32c=xxxxxxxx\n": eight lowercase hex digits, the CRC32C of every
 *     byte before that line.
 * Every line ends in '\n' (the last one too); no NUL, no carriage return
 * (CRLF line ends are refused by name), no control character in a value.
 * Numbers are canonical decimal (no sign, blank or leading zero) unless a
 * field says KVTEXT_ZEROS. */
#ifndef MIRROR_AGENT_KVTEXT_H
#define MIRROR_AGENT_KVTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "common/errors.h"

enum kvtext_kind {
	/* 1..max bytes, no control character; out is char[max + 1]
	 * (KVTEXT_REPEAT: char[count_max][max + 1]), NUL-terminated. */
	KVTEXT_STR,
	/* A decimal number 0..max (max 0: UINT64_MAX); out is uint64_t. */
	KVTEXT_U64,
	/* The record's seal, its last line (see above); out is a uint32_t
	 * or NULL. */
	KVTEXT_CRC32C,
};

/* The field may be absent (its out is then left untouched). */
#define KVTEXT_OPTIONAL 0x1u
/* A KVTEXT_STR field whose line may stand 1..count_max times in a row. */
#define KVTEXT_REPEAT 0x2u
/* A KVTEXT_U64 field that also takes leading zeros ("007"). */
#define KVTEXT_ZEROS 0x4u

struct kvtext_field {
	const char *key;
	enum kvtext_kind kind;
	unsigned flags;
	uint64_t max;
	void *out;
	size_t count_max; /* KVTEXT_REPEAT: most lines taken */
	size_t *count;    /* KVTEXT_REPEAT: lines taken */
};

struct kvtext_format {
	/* What the record is ("identity file"): every message starts with
	 * it. The caller prefixes the file's path. */
	const char *what;
	/* The first line without its '\n', or NULL. */
	const char *magic;
	/* Longest text accepted, in bytes. */
	size_t max_len;
	const struct kvtext_field *fields;
	size_t nfields;
};

/* Longest key a field table may use. */
#define KVTEXT_KEY_MAX 32
/* The CRC line's length: "crc32c=" + 8 hex digits + '\n'. */
#define KVTEXT_CRC_LINE_LEN 16

/* Reads text[0..len) as the record fmt describes into the fields' outs.
 * Returns 0, or MA_ERR_CORRUPT with errmsg naming the record, the line,
 * the key and what is wrong ("identity file line 3 (epoch): not a whole
 * number"). On failure the outs may hold part of the record: callers
 * clear them. */
int kvtext_parse(const struct kvtext_format *fmt, const char *text, size_t len,
                 char *errmsg);

/* Appends the seal "crc32c=xxxxxxxx\n" (the CRC32C of out[0..len)) to out
 * (size bytes, NUL-terminated). Returns the record's new length, or
 * MA_ERR_LIMIT when it does not fit. */
int kvtext_seal(char *out, size_t len, size_t size);

#endif
