/* Parsing of the small values every part of the tree reads from a user, a
 * file or the network: one home per rule, so that a flag, a config key and
 * a wire field that mean the same thing accept the same text.
 *
 * The value parsers return 0, or MA_ERR_INVAL and a reason in why
 * (PARSE_WHY_SIZE bytes, may be NULL) that reads well after "KEY: "
 * ("too large", "unknown size unit \"kb\": ..."). They take the whole
 * string: no sign, no surrounding blanks, no trailing text. */
#ifndef MIRROR_AGENT_PARSE_H
#define MIRROR_AGENT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/errors.h"

/* Longest name (database id, cluster id). */
#define PARSE_NAME_MAX 64

/* The one rule for names that become file or directory names and travel on
 * the wire (database ids, cluster ids): 1..PARSE_NAME_MAX characters of
 * [A-Za-z0-9._-], and neither "." nor "..". len is the length of s (s need
 * not be NUL-terminated); a NUL inside it makes it invalid. */
bool parse_name_valid(const char *s, size_t len);
/* The same for a NUL-terminated string. */
bool parse_name_valid_str(const char *s);
/* The character rule alone: 1..max characters of [A-Za-z0-9._-] ("." and
 * ".." pass), for names that never become file names (kv namespaces). */
bool parse_name_chars_valid(const char *s, size_t len, size_t max);

/* What the rule says, for error messages. */
#define PARSE_NAME_RULE "1-64 characters of [A-Za-z0-9._-], not \".\" or \"..\""

/* Size of the `why` buffers below. */
#define PARSE_WHY_SIZE 160

/* A decimal unsigned 64-bit number: one or more digits (leading zeros
 * allowed), nothing else. Errors: "empty", "must not be negative", "not a
 * whole number", "too large" (above UINT64_MAX). */
int parse_uint64(const char *s, uint64_t *out, char *why);
/* The same over s[0..len) (s need not be NUL-terminated). */
int parse_uint64_len(const char *s, size_t len, uint64_t *out, char *why);

/* A byte count: digits, optional blanks, then a binary unit, case
 * insensitive: none or B (bytes), K/KiB, M/MiB, G/GiB, T/TiB. "KB", "MB",
 * "GB" and "TB" are refused as ambiguous; fractions are refused (use a
 * smaller unit); a product above UINT64_MAX is "too large". */
int parse_size(const char *s, uint64_t *out, char *why);

/* A duration in milliseconds: digits, optional blanks, then a unit: none
 * or ms, s or sec, m or min, h. Same refusals as parse_size(). */
int parse_duration_ms(const char *s, uint64_t *out, char *why);

/* Longest host name (the DNS limit); also holds any IP literal. */
#define PARSE_HOST_MAX 253

/* A host: a DNS name (labels of letters, digits and '-', 1..63 each, not
 * starting or ending with '-'), an IPv4 literal or an IPv6 literal
 * without brackets. s[0..len); out receives it NUL-terminated
 * (PARSE_HOST_MAX + 1 bytes). */
int parse_host(const char *s, size_t len, char *out, char *why);

/* host:port. host as parse_host(), without brackets. */
struct parse_endpoint {
	char host[PARSE_HOST_MAX + 1];
	uint16_t port;
};

/* Flags for parse_endpoint(). */
enum {
	/* The host must be an IPv4 or IPv6 literal: an address to bind. */
	PARSE_ENDPOINT_NUMERIC = 1u << 0,
	/* Port 0 (let the kernel choose) is accepted. */
	PARSE_ENDPOINT_PORT0 = 1u << 1,
};

/* "host:port" or "[IPv6]:port"; port 1..65535 (0..65535 with
 * PARSE_ENDPOINT_PORT0). An IPv6 literal needs its brackets, and brackets
 * hold only IPv6 literals. */
int parse_endpoint(const char *s, unsigned flags, struct parse_endpoint *ep,
                   char *why);

/* Formats an endpoint back into the text parse_endpoint() reads
 * ("[::1]:4433" for IPv6). buf of `size` bytes; truncates silently. */
void parse_endpoint_format(const struct parse_endpoint *ep, char *buf,
                           size_t size);

/* Exactly 2 * n hexadecimal digits (either case) in s[0..len) into n
 * bytes of out. Errors: "expected N hex digits", "not a hex digit". */
int parse_hex(const char *s, size_t len, uint8_t *out, size_t n, char *why);

/* The value of one hex digit, or -1. */
int parse_hex_digit(int c);

/* Formats a byte count or a duration (ms) in the largest unit that
 * divides it exactly ("4MiB", "1536", "10min", "250ms"), so that the
 * text reads back through parse_size() / parse_duration_ms(). */
void parse_format_size(uint64_t v, char *buf, size_t size);
void parse_format_duration(uint64_t ms, char *buf, size_t size);

#endif
